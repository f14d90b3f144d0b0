/* fuzz_ilp_msg: libFuzzer target for the ILP/1 message decoder
 * (broker/ilp_msg.h), the bytes a peer on the bus controls. The first byte
 * picks how the message is decoded (lean or full, one body or a batch, from
 * frames or from a zmsg), the second the command frame; the rest is the body.
 * A message that decodes is encoded again, to run the encoder on what the
 * decoder let through. */
#include "broker/ilp_frame.h"
#include "broker/ilp_msg.h"

#include <stdint.h>
#include <string.h>

static const char *const s_cmds[] = {"HELLO",   "EVENT",  "RESULT", "HEARTBEAT", "BYE",
                                     "WELCOME", "DENIED", "WORK",   "ERROR",     "NOPE"};

static void s_reencode(ilp_msg_t *msg)
{
    zframe_t *body = ilp_msg_encode_body(msg);
    zframe_destroy(&body);
}

static void s_item(void *arg, ilp_msg_t *msg, const char *why, const char *id)
{
    (void)arg;
    (void)why;
    (void)id;
    if (msg) s_reencode(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    unsigned mode = data[0];
    const char *cmd = s_cmds[data[1] % (sizeof s_cmds / sizeof s_cmds[0])];
    ilp_frame_t frames[3] = {{ILP_SIGNATURE, 4}, {cmd, strlen(cmd)}, {data + 2, size - 2}};
    unsigned flags = (mode & 1) ? ILP_DECODE_LEAN : 0;
    char err[256];
    if (mode & 2) {
        ilp_msg_decode_batch(frames, 3, NULL, flags, s_item, NULL, err, sizeof err);
    } else if (mode & 4) {
        zmsg_t *zmsg = zmsg_new();
        zmsg_addmem(zmsg, ILP_SIGNATURE, 4);
        zmsg_addstr(zmsg, cmd);
        zmsg_addmem(zmsg, data + 2, size - 2);
        ilp_msg_t *msg = ilp_msg_decode(zmsg, err, sizeof err);
        zmsg_destroy(&zmsg);
        if (msg) s_reencode(msg);
        ilp_msg_destroy(&msg);
    } else {
        msgpack_zone zone;
        msgpack_zone_init(&zone, 1024);
        ilp_msg_t *msg = ilp_msg_decode_frames(frames, 3, &zone, flags, err, sizeof err);
        if (msg) s_reencode(msg);
        ilp_msg_destroy(&msg);
        msgpack_zone_destroy(&zone);
    }
    return 0;
}
