/* ilp_client: the extension side of the ILP/1 bus, the SDK every extension is
 * written on. It connects a DEALER and a SUB socket to the core, says HELLO,
 * keeps the session alive with heartbeats, hands each WORK to a callback and
 * sends the RESULT the extension gives back (at once or later), sends EVENTs,
 * passes refresh requests on, and re-registers by itself when the core
 * restarts or goes silent (new DEALER, capped exponential back-off). A
 * connection to the core that closes ends the registration at once (the core
 * drops an instance whose connection closed); a HELLO leaves as soon as the
 * connection is back, so that a core restarted while the extension was idle
 * gets it back at once.
 *
 * Several cores (one leads, the others stand by: docs/protocol.md §5.1): the
 * endpoints are lists, one pair per core, and the client talks to one core at
 * a time, moving to the next at once on ERROR not-leader or a closed
 * connection, after a heartbeat when the core never took the connection, and
 * after a liveness period without answer.
 *
 * What is sent while the core is not reachable is kept and sent after the next
 * WELCOME: results by work id, events by service name (the latest wins). A
 * provider should also re-report all its services in the connected callback,
 * since events sent just before a core restart can be lost. */
#ifndef INTERLOOK_ILP_CLIENT_H
#define INTERLOOK_ILP_CLIENT_H

#include "broker/ilp_msg.h"

#include <czmq.h>
#include <stdbool.h>

typedef struct _ilp_client_t ilp_client_t;

typedef struct {
    const char *name;             /* extension name, "type.name" (required) */
    const char *instance;         /* NULL: "<hostname>-<pid>-<random>" */
    const char *version;          /* NULL: the interlook version */
    uint32_t credit;              /* work items handled at once (default 1) */
    const char *router_endpoint;  /* default IL_BUS_DEFAULT_ROUTER; "a,b": one per core */
    const char *publish_endpoint; /* default IL_BUS_DEFAULT_PUBLISH; paired with router */
    uint32_t heartbeat_ms;        /* used until the core's WELCOME says otherwise
                                     (IL_BUS_DEFAULT_HEARTBEAT_MS) */
    uint32_t liveness;            /* likewise (IL_BUS_DEFAULT_LIVENESS) */
    uint32_t reconnect_max_ms;    /* cap of the reconnect back-off (default 30000) */
    uint32_t linger_ms;           /* at destroy, how long what was sent may take to
                                     leave (BYE, and the last events; default 500) */
    uint32_t batch;               /* WORK items taken in one message, and RESULTs/EVENTs
                                     sent together (IL_BUS_DEFAULT_BATCH; 1: one per message) */
    /* CURVE (docs/protocol.md, Security): both or neither. */
    const char *core_cert; /* the core's public certificate (core.bus.curve.coreCert) */
    const char *cert;      /* our own: FILE, with FILE_secret beside it (ilp_cert.h) */
} ilp_client_config_t;

typedef struct {
    /* A WORK item. The extension must answer it once with ilp_client_reply,
     * now or later; it may take work->service (set it to NULL). A work id
     * that is already being handled is not delivered twice. */
    void (*work)(ilp_client_t *client, ilp_msg_t *work, void *arg);
    /* The core asks a provider to re-report one service (EVENT add or delete). */
    void (*refresh)(ilp_client_t *client, const char *service_name, void *arg);
    /* Registered with a core (WELCOME), or the registration was lost (also
     * when the connection closed). */
    void (*connected)(ilp_client_t *client, bool connected, void *arg);
} ilp_client_handler_t;

/* Creates the sockets, connects and sends HELLO. Returns NULL and logs why
 * (invalid name, bad endpoint, a certificate missing or unreadable, or only
 * one of core_cert and cert given). */
ilp_client_t *ilp_client_new(const ilp_client_config_t *config, const ilp_client_handler_t *handler,
                             void *arg);

/* Sends BYE when registered and closes everything. */
void ilp_client_destroy(ilp_client_t **self_p);

/* The loop the client runs on, for the extension's own readers and timers. */
zloop_t *ilp_client_loop(ilp_client_t *self);

/* Runs the loop until SIGINT/SIGTERM or ilp_client_stop. Returns 0. */
int ilp_client_run(ilp_client_t *self);

/* Makes ilp_client_run return (call it from a callback of the loop). */
void ilp_client_stop(ilp_client_t *self);

/* Answers a work item: error NULL and the resulting service on success, or an
 * error text (service may then be NULL). Returns -1 when the id is not a work
 * item in progress (already answered, unknown) or encoding fails. */
int ilp_client_reply(ilp_client_t *self, const char *work_id, const char *error,
                     const il_service_t *service);

/* Reports a service (providers). Returns -1 on invalid arguments. */
int ilp_client_event(ilp_client_t *self, ilp_action_t action, const il_service_t *service);

/* Between these two calls, RESULTs and EVENTs are sent together, several in
 * one message (when the core takes batches), instead of one message each:
 * for a burst of events or answers. The client does it by itself around the
 * handling of what it receives. Calls nest; the last end sends. End a batch
 * in the callback that began it: nothing leaves while one is open. */
void ilp_client_batch_begin(ilp_client_t *self);
void ilp_client_batch_end(ilp_client_t *self);

/* RESULTs and EVENTs kept for later (not registered, or the socket was
 * full): what stopping now would lose. They leave on the next tick. */
size_t ilp_client_pending(ilp_client_t *self);

/* True between a WELCOME and the loss of the registration. */
bool ilp_client_connected(ilp_client_t *self);

/* The id of the core we are registered with ("" before the first WELCOME). */
const char *ilp_client_core_id(ilp_client_t *self);

/* Work items delivered and not yet answered. */
size_t ilp_client_in_flight(ilp_client_t *self);

/* The extension name as sent in HELLO. */
const char *ilp_client_name(ilp_client_t *self);

/* This instance's id as sent in HELLO. */
const char *ilp_client_instance(ilp_client_t *self);

#endif
