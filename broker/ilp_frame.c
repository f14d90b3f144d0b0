/* ilp_frame: receiving and sending ILP/1 messages in place, see ilp_frame.h. */
#include "broker/ilp_frame.h"

#include <string.h>

int ilp_recv(void *handle, ilp_recv_t *self)
{
    self->kept = self->count = 0;
    zmq_msg_t extra;
    for (;;) {
        zmq_msg_t *part = self->kept < ILP_RECV_PARTS ? &self->parts[self->kept] : &extra;
        zmq_msg_init(part);
        if (zmq_msg_recv(part, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(part);
            /* The frames of a message arrive together: only the first can be missing. */
            return self->count ? 0 : -1;
        }
        self->count++;
        bool more = zmq_msg_more(part);
        if (part == &extra)
            zmq_msg_close(&extra);
        else
            self->kept++;
        if (!more) return 0;
    }
}

size_t ilp_recv_frames(ilp_recv_t *self, size_t first, ilp_frame_t *out)
{
    size_t n = 0;
    for (size_t i = first; i < self->kept; i++)
        out[n++] = (ilp_frame_t){zmq_msg_data(&self->parts[i]), zmq_msg_size(&self->parts[i])};
    return n;
}

void ilp_recv_close(ilp_recv_t *self)
{
    for (size_t i = 0; i < self->kept; i++)
        zmq_msg_close(&self->parts[i]);
    self->kept = self->count = 0;
}

int ilp_send(void *handle, const void *prefix, size_t prefix_size, ilp_cmd_t cmd, const void *body,
             size_t size)
{
    const char *name = ilp_cmd_name(cmd);
    /* Only the first frame can be refused (HWM, unknown peer): ZeroMQ takes
     * the rest of a message whose first frame it took. */
    if (prefix_size && zmq_send(handle, prefix, prefix_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if (zmq_send(handle, ILP_SIGNATURE, strlen(ILP_SIGNATURE), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(handle, name, strlen(name), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(handle, body, size, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}
