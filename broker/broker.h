/* broker: the core's side of the ILP/1 bus. Binds a ROUTER (extensions' DEALERs
 * connect to it) and a PUB socket; registers extension instances (HELLO),
 * watches their heartbeats and connections, routes WORK by extension name to a live instance
 * with free credit (least loaded first), gives the work of a dead instance to
 * another one at once, and hands EVENTs and RESULTs to the core through
 * callbacks. It runs inside the core's zloop (broker_attach) and never blocks
 * it: sends use a zero timeout, a peer that cannot take a message is handled.
 *
 * Every piece of bad input (wrong signature, unknown command, malformed body,
 * unknown peer, name outside the workflow) is logged with the peer and the
 * reason, answered with ERROR or DENIED, and counted in broker_stats. */
#ifndef INTERLOOK_BROKER_H
#define INTERLOOK_BROKER_H

#include "broker/ilp_msg.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _broker_t broker_t;

typedef struct {
    const char *router_endpoint;   /* bound ROUTER, e.g. "tcp://127.0.0.1:5570" */
    const char *publish_endpoint;  /* bound PUB, e.g. "tcp://127.0.0.1:5571" */
    uint32_t heartbeat_ms;         /* sent in WELCOME (0: IL_BUS_DEFAULT_HEARTBEAT_MS) */
    uint32_t liveness;             /* dead after missing this many (0: IL_BUS_DEFAULT_LIVENESS) */
    const char *core_id;           /* NULL: a new random id */
    const char *const *extensions; /* NULL-terminated names allowed to say HELLO */
    uint32_t batch; /* items in one message at most, both ways (default, 0: ILP_MAX_BATCH) */
    /* Limits on what peers may claim (0: the IL_BUS_DEFAULT_* of bus_config.h):
     * credit honoured per instance (a larger one is cut to it), instances of
     * one extension, instances in all (a HELLO beyond either is DENIED). */
    uint32_t max_credit;
    uint32_t max_instances_ext;
    uint32_t max_instances;
    /* CURVE on both sockets when curve_cert is set (docs/protocol.md, Security):
     * the core's certificate (its FILE_secret is loaded) and the directory of
     * allowed public certificates (ilp_auth.h), whose "extensions" metadata
     * says which names each key may say HELLO as. */
    const char *curve_cert;
    const char *client_certs;
} broker_config_t;

/* Callbacks into the core. Each may take ownership of *service_p (set it to NULL). */
typedef struct {
    /* An EVENT from a registered instance. */
    void (*event)(void *arg, const char *extension, const char *instance, ilp_action_t action,
                  il_service_t **service_p);
    /* The first RESULT for an outstanding work id; error is NULL on success,
     * *service_p may be NULL when error is set. */
    void (*result)(void *arg, const char *work_id, const char *extension, const char *instance,
                   const char *error, il_service_t **service_p);
    /* An instance registered (alive) or was dropped (dead, BYE, replaced). May be NULL. */
    void (*instance)(void *arg, const char *extension, const char *instance, bool alive);
    /* The messages that arrived together were handled (the moment to publish
     * what they changed; the "changes" publication leaves after it). May be NULL. */
    void (*drained)(void *arg);
    /* Asked before every WORK leaves (queued work included): false keeps it
     * queued. A standby core's fencing (leader_is_leader). May be NULL. */
    bool (*may_dispatch)(void *arg);
} broker_handler_t;

typedef struct {
    uint64_t msgs_in;           /* messages received on the ROUTER */
    uint64_t msgs_out;          /* messages sent on the ROUTER */
    uint64_t malformed;         /* refused: framing, signature, command or body */
    uint64_t denied;            /* HELLO refused */
    uint64_t unknown_peer;      /* messages from peers that did not say HELLO */
    uint64_t events;            /* EVENTs passed to the core */
    uint64_t work_sent;         /* WORK messages sent (redispatches included) */
    uint64_t work_redispatched; /* work moved from a dead instance */
    uint64_t results;           /* RESULTs passed to the core */
    uint64_t results_stale;     /* RESULTs for unknown or already answered work */
    uint64_t send_failures;     /* sends refused by a peer (gone or full) */
    uint64_t instances_dead;    /* instances dropped for silence or a closed connection */
    uint64_t instances_closed;  /* of those, dropped at once as their connection closed */
    uint64_t published;         /* PUB messages */
    uint64_t batches_in;        /* messages received with more than one item */
    uint64_t batches_out;       /* WORK messages sent with more than one item */
    uint64_t work_expired;      /* work that got no answer in time (broker_expire) */
    uint64_t credit_cut;        /* HELLOs whose credit was cut to the maximum */
} broker_stats_t;

typedef struct {
    const char *extension;
    const char *instance;
    const char *version; /* may be NULL */
    const char *address; /* peer address as seen by the ROUTER, may be "" */
    uint32_t credit;
    uint32_t in_flight;
    uint64_t results;     /* RESULTs accepted from it */
    int64_t last_seen_ms; /* zclock_mono of the last message from it */
    int64_t since_ms;     /* zclock_mono of its HELLO */
} broker_instance_info_t;

/* Binds both sockets (with CURVE, the ZAP handler first). Returns NULL and
 * logs the reason (endpoint in use, invalid endpoint, no extension names, a
 * certificate or the clientCerts directory unreadable). */
broker_t *broker_new(const broker_config_t *config, const broker_handler_t *handler, void *arg);

/* Unbinds and frees everything; outstanding work is forgotten. */
void broker_destroy(broker_t **self_p);

/* Registers the ROUTER reader and the heartbeat timer on loop. Returns -1 on failure. */
int broker_attach(broker_t *self, zloop_t *loop);

/* Removes what broker_attach registered. */
void broker_detach(broker_t *self, zloop_t *loop);

/* Queues one WORK for an extension and sends it at once when an instance has
 * free credit; otherwise it goes out as soon as one does. A work id already
 * outstanding is replaced (its late RESULT is dropped). Returns -1 when the
 * extension is unknown or arguments are invalid. */
int broker_dispatch(broker_t *self, const char *work_id, const char *extension, ilp_action_t action,
                    uint32_t attempt, const il_service_t *service);

/* The same with the service already packed (il_service_pack's bytes). */
int broker_dispatch_packed(broker_t *self, const char *work_id, const char *extension,
                           ilp_action_t action, uint32_t attempt, const char *service,
                           size_t service_len);

/* Forgets an outstanding work id (a late RESULT is dropped). Returns -1 when unknown. */
int broker_cancel(broker_t *self, const char *work_id);

/* As broker_cancel for work that got no answer in time: the instance that
 * held it (its name into holder, "" when it was still queued) gets no new
 * work while another instance of its extension that has not let work time
 * out is alive, until it answers something. Returns -1 when unknown. */
int broker_expire(broker_t *self, const char *work_id, char *holder, size_t holder_len);

/* As broker_dispatch_packed, never to the instance named avoid (NULL: any)
 * while another instance of the extension is alive: for work given again
 * after that instance let it time out. */
int broker_dispatch_avoiding(broker_t *self, const char *work_id, const char *extension,
                             ilp_action_t action, uint32_t attempt, const char *service,
                             size_t service_len, const char *avoid);

/* True while the work id is outstanding (queued or in flight). */
bool broker_outstanding(broker_t *self, const char *work_id);

/* Publishes a message built with ilp_pub_*; takes ownership. Returns -1 on failure. */
int broker_publish(broker_t *self, zmsg_t **msg_p);

/* Publishes an entry's state without building a zmsg, the service given
 * packed (il_service_pack's bytes): on "state" at once when someone listens to
 * it, and into the next "changes" publication when someone listens to that
 * (see broker_publish_flush). Returns -1 on failure. */
int broker_publish_state(broker_t *self, const char *service, size_t service_len, const char *state,
                         const char *expected, const char *error);

/* Sends the "changes" publication being built, if any. The broker also does
 * it after each drain of the ROUTER and at each heartbeat tick. */
void broker_publish_flush(broker_t *self);

/* True when someone listens to states ("state" or "changes"). */
bool broker_wants_states(broker_t *self);

/* True when some subscriber would receive a publication on that topic (the
 * PUB socket is an XPUB that sees subscriptions). */
bool broker_has_subscriber(broker_t *self, const char *topic);

/* Live instances of an extension (all extensions when NULL). */
size_t broker_instance_count(broker_t *self, const char *extension);

/* Calls fn for every live instance. */
void broker_foreach_instance(broker_t *self,
                             void (*fn)(void *arg, const broker_instance_info_t *info), void *arg);

/* Counters since start. */
const broker_stats_t *broker_stats(broker_t *self);

/* Standby mode (several cores, issue 16): with a reason, every registered
 * instance is told ERROR not-leader (with the reason) and dropped, all work
 * is forgotten, HELLO is answered ERROR not-leader, and nothing is
 * published; NULL ends it (and announces the core as started, so that
 * extensions listening to it say HELLO at once). */
void broker_set_refusing(broker_t *self, const char *reason);

/* The reason given to broker_set_refusing, NULL when serving. */
const char *broker_refusing(broker_t *self);

/* The id announced in WELCOME and on the "core" topic. */
const char *broker_core_id(broker_t *self);

/* The endpoints actually bound (useful with tcp://127.0.0.1:* ephemeral ports). */
const char *broker_router_endpoint(broker_t *self);
const char *broker_publish_endpoint(broker_t *self);

#endif
