/* leader: leader election of interlookd cores on etcd, on a thread of its own
 * (a czmq actor), so that etcd's round trips never hold the core's loop.
 *
 * Each core holds a lease (TTL from the configuration) and campaigns with a
 * txn "create_revision(KEY) == 0 -> put KEY = its id with its lease". The
 * winner keeps the lease alive (every TTL/3) and is the leader; the others
 * are standbys: they watch KEY, keep their own lease alive and campaign again
 * when KEY goes (deleted, or its lease expired), and every TTL anyway (a
 * watch on a hung member sees nothing).
 *
 * Fencing: the leader stops being one BEFORE its lease can expire at etcd.
 * etcd renews a lease when it handles the keepalive, which is after the core
 * sent it; so the lease lives at least until (send time of the last
 * successful keepalive) + granted TTL. The leader's deadline is that minus a
 * safety margin; when no renewal succeeded by then it steps down and says
 * why. leader_is_leader checks the deadline itself, in the caller's thread,
 * so a leader thread stuck in a call cannot make the core dispatch late.
 * Every write of the leader is in addition a txn conditioned on
 * leader_guard (KEY's create_revision is still the one it won with), so a
 * deposed leader cannot write even if its clock lied.
 *
 * Role changes arrive on leader_sock as ["ROLE", role, reason, leader id]. */
#ifndef INTERLOOK_LEADER_H
#define INTERLOOK_LEADER_H

#include "common/etcd.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    LEADER_NONE,    /* neither: etcd unreachable, or stepped down (reason says why) */
    LEADER_STANDBY, /* another core leads (leader id says which) */
    LEADER_LEADER,  /* this core leads */
} leader_role_t;

typedef struct {
    il_etcd_config_t etcd; /* endpoints, TLS, time-outs (copied) */
    const char *key;       /* the leader key, e.g. "/interlook/leader" */
    const char *id;        /* this core's id: the key's value while it leads */
    int64_t ttl_s;         /* the lease TTL asked for (default 5; etcd may grant more) */
    int64_t margin_ms;     /* fencing margin (default: a quarter of the TTL) */
    bool keep_lease;       /* at destroy, leave the lease to expire (tests: a kill -9) */
} leader_config_t;

typedef struct _leader_t leader_t;

/* Starts campaigning on a new thread. NULL with the reason in err when the
 * configuration is wrong (no key or id, bad endpoints, TLS files). etcd
 * being unreachable is not an error: the role is then LEADER_NONE, and it
 * keeps trying. */
leader_t *leader_new(const leader_config_t *config, char *err, size_t errlen);

/* Stops the thread; a leader revokes its lease first (bounded), so that a
 * standby takes over at once, unless keep_lease. Sets *self_p to NULL. */
void leader_destroy(leader_t **self_p);

/* The socket a role change arrives on (readable: call leader_recv). */
zsock_t *leader_sock(leader_t *self);

/* Reads one role change: the role, the reason (caller frees) and the
 * leader's id (caller frees; NULL when none is known). -1 when none could be read. */
int leader_recv(leader_t *self, leader_role_t *role, char **reason, char **leader_id);

/* This core leads and its fencing deadline has not passed (checked here,
 * in the caller's thread): it may dispatch and write. */
bool leader_is_leader(leader_t *self);

/* The current role (for /health), with the reason and the leader's id
 * copied into the buffers (either may be NULL). LEADER_NONE once the
 * fencing deadline has passed, even before the thread has said so. */
leader_role_t leader_role(leader_t *self, char *reason, size_t reasonlen, char *leader_id,
                          size_t idlen);

/* Adds to txn the compare "KEY's create_revision is the one this core won
 * with", for a write that must fail once this core is no longer the leader.
 * -1 (nothing added) when it does not lead. */
int leader_guard(leader_t *self, il_etcd_txn_t *txn);

/* The fencing figures: when (monotonic ms, zclock_mono) the last successful
 * renewal was sent, the TTL etcd granted (s) and the deadline (ms); zeroes
 * when it does not lead. */
void leader_fence(leader_t *self, int64_t *renewed_at, int64_t *ttl_s, int64_t *deadline);

/* The name of a role: "leader", "standby", "none". */
const char *leader_role_name(leader_role_t role);

#endif
