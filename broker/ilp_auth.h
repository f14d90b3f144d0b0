/* ilp_auth: the core's side of CURVE on the bus. It keeps the directory of
 * allowed public certificates (core.bus.curve.clientCerts) as a key ring,
 * read again whenever the directory or one of its files changes, and answers
 * libzmq's ZAP requests on the core's loop from it: an unknown key gets no
 * connection. Each decision is logged once per peer address and key, not once
 * per reconnection attempt. The certificate's "extensions" metadata (which
 * names the key may register as) is looked up here by the broker at HELLO.
 *
 * libzmq accepts every key when no ZAP handler is bound: ilp_auth_new binds
 * it, and must come before the CURVE sockets bind. One per process (the ZAP
 * endpoint is one per ZeroMQ context). */
#ifndef INTERLOOK_ILP_AUTH_H
#define INTERLOOK_ILP_AUTH_H

#include "common/log.h"

#include <czmq.h>
#include <stdbool.h>

typedef struct _ilp_auth_t ilp_auth_t;

/* Binds the ZAP handler and reads dir. Returns NULL with the reason in err
 * (dir not a readable directory, another ZAP handler in this process). */
ilp_auth_t *ilp_auth_new(const char *dir, char *err, size_t errlen);

/* Unbinds the handler (libzmq then accepts any key: destroy the CURVE
 * sockets first) and frees the key ring. */
void ilp_auth_destroy(ilp_auth_t **self_p);

/* Answers ZAP requests on loop (until then, handshakes wait). -1 on failure. */
int ilp_auth_attach(ilp_auth_t *self, zloop_t *loop);

/* Removes what ilp_auth_attach registered. */
void ilp_auth_detach(ilp_auth_t *self, zloop_t *loop);

/* Reads the directory again when it changed (each file's name, inode, size
 * and modification time). Returns true when the key ring was read again. A
 * file that is not a public certificate (a secret key, bad syntax) is left out
 * with an error in the log, once per change. */
bool ilp_auth_refresh(ilp_auth_t *self);

/* How many times the key ring was read (a change seen by any caller of
 * ilp_auth_refresh, the ZAP handler's own included, moves it on). */
uint64_t ilp_auth_generation(ilp_auth_t *self);

/* True when the key (Z85 text, as ZAP's User-Id gives it) is in the ring and
 * its metadata allows name; otherwise false with the reason in why, which
 * names the key and its file. */
bool ilp_auth_allows(ilp_auth_t *self, const char *key, const char *name, char *why, size_t whylen);

/* Remembers that the connection on fd (a socket libzmq owns, as
 * zmq_msg_get ZMQ_SRCFD gives it) carries key, with its two addresses, so
 * that ilp_auth_close_revoked can end it once key is no longer allowed.
 * Nothing is remembered for fd < 0. */
void ilp_auth_track(ilp_auth_t *self, int fd, const char *key);

/* Ends the connections whose key left the ring (ZeroMQ cannot close one
 * peer's connection on a bound socket): a connection found so is marked, and
 * shut down (shutdown(2); libzmq then closes it, and the peer's next attempt
 * meets the handshake) at the next call, so that what was sent to it
 * meanwhile (DENIED) can leave. A descriptor whose addresses changed (closed
 * and reused) is forgotten, never touched. Returns how many were shut down. */
size_t ilp_auth_close_revoked(ilp_auth_t *self);

/* Logs "bus: TEXT" at level, once for who (what identifies the peer and the
 * decision, e.g. its address and key); the memory of what was said is
 * bounded and forgotten when the ring changes, and at most 20 such lines a
 * second are written (the others counted, then said in one line), since
 * anyone who can reach the port can make up keys. */
void ilp_auth_log_once(ilp_auth_t *self, il_log_level_t level, const char *who, const char *text);

/* Keys in the ring. */
size_t ilp_auth_size(ilp_auth_t *self);

#endif
