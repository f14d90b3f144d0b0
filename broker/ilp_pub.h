/* ilp_pub: the ILP/1 PUB messages (docs/protocol.md): a topic frame and a
 * msgpack body, built by the core and decoded by subscribers. */
#ifndef INTERLOOK_ILP_PUB_H
#define INTERLOOK_ILP_PUB_H

#include "broker/ilp_msg.h"

#include <czmq.h>
#include <msgpack.h>

/* refresh.<extension>: {service: {name}} */
zmsg_t *ilp_pub_refresh(const char *extension, const char *service_name);
/* state: {service, state, expected_state, error} (service is the full object). */
zmsg_t *ilp_pub_state(const il_service_t *service, const char *state, const char *expected,
                      const char *error);
/* The body of that publication into buf (cleared first), for reuse of one
 * buffer; the service given packed (il_service_pack's bytes). */
void ilp_pub_pack_state(msgpack_sbuffer *buf, const char *service, size_t service_len,
                        const char *state, const char *expected, const char *error);
/* changes: [{service, state, expected_state, error}, ...], 1..ILP_MAX_BATCH
 * state bodies in one publication (built with an ilp_batch_t). */
#define ILP_TOPIC_CHANGES "changes"
/* core: {event, core_id} */
zmsg_t *ilp_pub_core(const char *event, const char *core_id);

/* Decodes a PUB message: topic (new string) and body (msgpack map, or for
 * "changes" an array of 1..ILP_MAX_BATCH maps, decoded into out, whose
 * strings point into the returned frame: keep it while using out). Returns
 * the body frame, or NULL with the reason in err. */
zframe_t *ilp_pub_decode(zmsg_t *zmsg, char **topic, msgpack_unpacked *out, char *err,
                         size_t errlen);

#endif
