/* ilp_msg: the ILP/1 message codec (docs/protocol.md). A DEALER<->ROUTER
 * message is three frames as the DEALER sees it: the signature "ILP1", a
 * command name in ASCII, and one msgpack map (the body). The ROUTER side sees
 * one more frame in front, the peer's routing id, which the broker handles.
 *
 * ilp_msg_t is one struct for every command (as zproto codecs do): fields a
 * command does not use stay zero/NULL. The decoder is strict and safe on
 * untrusted input; every failure says why. Beside it: ilp_frame (receive and
 * send in place), ilp_batch (batched bodies), ilp_pub (the PUB messages). */
#ifndef INTERLOOK_ILP_MSG_H
#define INTERLOOK_ILP_MSG_H

#include "common/service.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define ILP_SIGNATURE    "ILP1"
#define ILP_MAX_EXT_NAME 64 /* "type.name" */
#define ILP_MAX_INSTANCE 128
#define ILP_MAX_VERSION  64
#define ILP_MAX_ID       64   /* work ids and core ids */
#define ILP_MAX_TEXT     1024 /* error and reason strings */
#define ILP_MAX_CREDIT   10000
#define ILP_MAX_ATTEMPT  1000000
#define ILP_MAX_CODE     32
#define ILP_MAX_BATCH    256 /* items of one batched message (an array body) */

/* ERROR codes. */
#define ILP_CODE_UNKNOWN_PEER "unknown-peer" /* the core does not know this peer: say HELLO */
#define ILP_CODE_MALFORMED    "malformed"    /* the message could not be decoded */
#define ILP_CODE_UNEXPECTED   "unexpected"   /* a valid message the core does not accept */
#define ILP_CODE_NOT_LEADER   "not-leader"   /* a standby core: say HELLO to the leader */

typedef enum {
    ILP_INVALID = 0,
    /* extension -> core */
    ILP_HELLO,
    ILP_EVENT,
    ILP_RESULT,
    ILP_HEARTBEAT, /* both ways */
    ILP_BYE,
    /* core -> extension */
    ILP_WELCOME,
    ILP_DENIED,
    ILP_WORK,
    ILP_ERROR,
} ilp_cmd_t;

typedef enum { ILP_ACTION_NONE = 0, ILP_ACTION_ADD, ILP_ACTION_DELETE } ilp_action_t;

typedef struct {
    ilp_cmd_t cmd;
    /* HELLO */
    char *name;      /* extension name, "type.name" */
    char *instance;  /* unique id of this process of the extension */
    char *version;   /* free text, may be NULL */
    uint32_t credit; /* work items accepted at once, 1..ILP_MAX_CREDIT */
    uint32_t batch;  /* HELLO: WORK items it takes in one message; WELCOME: EVENT/RESULT
                        items the core takes in one message; 1..ILP_MAX_BATCH (0 = 1) */
    /* EVENT, WORK, RESULT */
    ilp_action_t action;   /* EVENT, WORK */
    il_service_t *service; /* EVENT, WORK; RESULT (may be NULL when error is set) */
    char *id;              /* WORK, RESULT; ERROR (optional) */
    char *error;           /* RESULT: NULL on success */
    uint32_t attempt;      /* WORK: 1 for the first try */
    /* WELCOME */
    uint32_t heartbeat_ms;
    uint32_t liveness;
    char *core_id;
    /* DENIED, ERROR */
    char *reason;
    char *code; /* ERROR: "unknown-peer", "malformed" or "unexpected" */
} ilp_msg_t;

/* One frame's bytes, read in place (broker/ilp_frame.h). */
typedef struct ilp_frame_t ilp_frame_t;

/* A new, empty message of that command. Never NULL. */
ilp_msg_t *ilp_msg_new(ilp_cmd_t cmd);

void ilp_msg_destroy(ilp_msg_t **self_p);

/* "HELLO", "WORK", ...; "?" for ILP_INVALID. */
const char *ilp_cmd_name(ilp_cmd_t cmd);

/* "add" / "delete" / "none". */
const char *ilp_action_name(ilp_action_t action);

/* True when name is a valid extension name: two or more dot-separated
 * segments of [A-Za-z0-9_-], at most ILP_MAX_EXT_NAME bytes. */
bool ilp_msg_ext_name_valid(const char *name);

/* Encodes the message as the three frames ["ILP1", CMD, body]. NULL when a
 * field the command requires is missing (API misuse) or out of memory. */
zmsg_t *ilp_msg_encode(const ilp_msg_t *self);

/* Encodes only the body frame (to keep and resend). NULL as above. */
zframe_t *ilp_msg_encode_body(const ilp_msg_t *self);

/* The three frames ["ILP1", CMD, body] around an encoded body (copied). */
zmsg_t *ilp_msg_frames(ilp_cmd_t cmd, zframe_t *body);

/* Decodes the three frames ["ILP1", CMD, body]. Returns NULL with the reason in
 * err for a wrong frame count, signature, unknown command, a body that is not a
 * map, or a field of the wrong type or outside its bounds. */
ilp_msg_t *ilp_msg_decode(zmsg_t *zmsg, char *err, size_t errlen);

/* Called by ilp_msg_decode_batch for each item of a message, in order: msg
 * is the item decoded (the callee may take fields from it; it is destroyed
 * after the call), or NULL when the item does not decode: why then says which
 * item and why ("RESULT[2]: service.name: missing") and id is the item's "id"
 * when it could be read (else NULL). */
typedef void(ilp_msg_item_fn)(void *arg, ilp_msg_t *msg, const char *why, const char *id);

/* Decodes a message whose body is one map, or for EVENT, RESULT and WORK an
 * array of 1..ILP_MAX_BATCH maps (a batch: each map is handled as the body of
 * a message of its own, in order), and calls fn for each item. Returns the
 * number of items, or -1 with the reason in err when the message as a whole
 * cannot be decoded (frames, signature, command, body; fn is then not called).
 * zone and flags as for ilp_msg_decode_frames. */
int ilp_msg_decode_batch(const ilp_frame_t *frames, size_t count, msgpack_zone *zone,
                         unsigned flags, ilp_msg_item_fn *fn, void *arg, char *err, size_t errlen);

/* Flags of ilp_msg_decode_frames. */
#define ILP_DECODE_LEAN                                                                            \
    1u /* a RESULT's service: name and public_ip only (il_service_decode_result)                   \
        */

/* Decodes count frames as ilp_msg_decode does, without copying them into a
 * zmsg first. zone, when not NULL, is a msgpack zone the caller keeps for its
 * receive loop (it is cleared here, so nothing is allocated to decode the
 * body); NULL uses a temporary one. flags: 0 or ILP_DECODE_LEAN. */
ilp_msg_t *ilp_msg_decode_frames(const ilp_frame_t *frames, size_t count, msgpack_zone *zone,
                                 unsigned flags, char *err, size_t errlen);

/* Encodes the body into buf (cleared first), for senders that reuse one
 * buffer. Returns -1 where ilp_msg_encode_body returns NULL. */
int ilp_msg_pack_body(const ilp_msg_t *self, msgpack_sbuffer *buf);

/* A WORK body into buf (cleared first) with the service already packed
 * (il_service_pack's bytes): the same bytes as ilp_msg_pack_body. */
void ilp_msg_pack_work(msgpack_sbuffer *buf, const char *id, ilp_action_t action, uint32_t attempt,
                       const char *service, size_t service_len);

/* Sends the message on a socket (DEALER), or to a routing id first when
 * routing_id is not NULL (ROUTER). Does not take ownership. Returns -1 when
 * encoding or sending fails (errno from zmq). */
int ilp_msg_send(const ilp_msg_t *self, zsock_t *sock, zframe_t *routing_id);

#endif
