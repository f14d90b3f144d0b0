/* lb_worker: the thread (a czmq actor) that owns everything on HAProxy's
 * side: the state (the generated file, lb_render), HAProxy (lb_haproxy), the
 * VIPs (lb_vip), the servers being drained, and the watch that notices a new
 * HAProxy master. A reload or `haproxy -c` takes long enough to miss the
 * bus's heartbeats: here they never hold the bus's loop. The bus thread
 * hands it a round of work items at a time; the round comes back with each
 * item's error (or none), all applied together: the wanted state decided
 * whole, then one reload (frontends changed) or runtime commands (targets
 * only), and when that fails with several items, each on its own. */
#ifndef INTERLOOK_LB_WORKER_H
#define INTERLOOK_LB_WORKER_H

#include "common/interlook.h"
#include "extensions/lb/lb_config.h"

typedef struct {
    char *id;
    ilp_action_t action;
    il_service_t *service;
    char *error;  /* set by the worker: "service 'NAME': why", NULL when done */
    bool changes; /* it changed the wanted state (the worker's) */
} lb_item_t;

typedef struct {
    lb_item_t **items;
    size_t count;
} lb_round_t;

typedef struct _lb_worker_t lb_worker_t;

/* Reads the state from config's file (a missing file is an empty state, and
 * is written), then starts the thread, which first makes HAProxy run that
 * state. NULL with the reason in err when the file cannot be read or is not
 * one the extension wrote. */
lb_worker_t *lb_worker_new(const lb_config_t *config, char *err, size_t errlen);

/* Stops the thread after what it is doing; a round it still had is freed. */
void lb_worker_destroy(lb_worker_t **self_p);

/* Hands a round over (the worker owns it until it comes back). */
void lb_worker_submit(lb_worker_t *self, lb_round_t *round);

/* The socket a finished round arrives on (readable: call lb_worker_receive). */
zsock_t *lb_worker_sock(lb_worker_t *self);

/* A finished round (the caller owns it again), NULL when none could be read. */
lb_round_t *lb_worker_receive(lb_worker_t *self);

/* The services in the state at start (for the start-up line). */
size_t lb_worker_size_at_start(lb_worker_t *self);

void lb_item_free(lb_item_t **item_p);
void lb_round_free(lb_round_t **round_p);

#endif
