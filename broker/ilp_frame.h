/* ilp_frame: receiving and sending ILP/1 messages without zmsg/zframe. A
 * receive loop handles every message, so it reads the frames in place
 * (zmq_msg_t) and sends from the bytes it has, with no per-frame allocation
 * of its own; ilp_msg_decode_frames decodes what it reads. */
#ifndef INTERLOOK_ILP_FRAME_H
#define INTERLOOK_ILP_FRAME_H

#include "broker/ilp_msg.h"

#include <stddef.h>
#include <zmq.h>

/* The bytes of one received frame (a zmq_msg_t's), read in place. */
struct ilp_frame_t {
    const void *data;
    size_t size;
};

#define ILP_RECV_PARTS 4 /* frames kept: a ROUTER's routing id and the three of ILP/1 */

typedef struct {
    zmq_msg_t parts[ILP_RECV_PARTS]; /* the first frames of the message */
    size_t kept;                     /* frames held in parts */
    size_t count; /* frames the message had (those past the kept ones are dropped) */
} ilp_recv_t;

/* Receives one whole message without waiting. Returns -1 when none waits
 * (then there is nothing to close). */
int ilp_recv(void *handle, ilp_recv_t *self);

/* The kept frames from index first on, into out (ILP_RECV_PARTS items);
 * returns how many. */
size_t ilp_recv_frames(ilp_recv_t *self, size_t first, ilp_frame_t *out);

/* Releases the frames of a received message. */
void ilp_recv_close(ilp_recv_t *self);

/* Sends [prefix (when prefix_size > 0: a ROUTER's routing id), "ILP1", CMD,
 * body] without waiting. Returns -1 with errno set by ZeroMQ (EAGAIN: full,
 * EHOSTUNREACH: the routing id is unknown) when the socket refuses it. */
int ilp_send(void *handle, const void *prefix, size_t prefix_size, ilp_cmd_t cmd, const void *body,
             size_t size);

#endif
