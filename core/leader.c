/* leader: leader election on etcd with fencing, see leader.h. */
#include "core/leader.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ERR 1024

/* What the owner's thread reads (role, reason, deadline), under the mutex. */
typedef struct {
    leader_role_t role;
    char reason[S_ERR];
    char leader_id[256];
    int64_t won_revision; /* KEY's create_revision while this core leads */
    int64_t renewed_at;   /* send time of the last successful renewal */
    int64_t ttl_s;        /* as granted */
    int64_t deadline;     /* fencing: renewed_at + ttl - margin */
} s_shared_t;

struct _leader_t {
    /* configuration (owned copies) */
    char **endpoints;
    il_etcd_config_t etcd_config;
    char *key, *id;
    int64_t ttl_s, margin_ms;
    bool keep_lease;
    /* the thread's */
    zactor_t *actor;
    il_etcd_t *etcd;        /* used by the thread only */
    il_etcd_watch_t *watch; /* of KEY while a standby */
    int64_t lease;          /* 0: none */
    int64_t lease_ttl_s;    /* as granted */
    int64_t lease_renewed;  /* send time of its last successful grant or keepalive */
    int64_t next_campaign;  /* a standby campaigns again then */
    char last_error[S_ERR]; /* of the last failed etcd call */
    bool term;
    bool reported; /* the owner has been told a role once */
    bool failed;   /* the last renewal failed: try again soon */
    /* both threads' */
    pthread_mutex_t mutex;
    s_shared_t shared;
};

const char *leader_role_name(leader_role_t role)
{
    switch (role) {
    case LEADER_LEADER:
        return "leader";
    case LEADER_STANDBY:
        return "standby";
    default:
        return "none";
    }
}

static int64_t s_ttl_ms(leader_t *self)
{
    return (self->lease_ttl_s ? self->lease_ttl_s : self->ttl_s) * 1000;
}

/* The margin: as configured, else a quarter of the TTL (so that a renewal
 * every TTL/3 can miss once and the leader still holds). */
static int64_t s_margin_ms(leader_t *self)
{
    return self->margin_ms > 0 ? self->margin_ms : s_ttl_ms(self) / 4;
}

/* Sets the role and tells the owner when it changed (role, leader or reason kind). */
static void s_set_role(leader_t *self, zsock_t *pipe, leader_role_t role, const char *leader_id,
                       int64_t won_revision, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void s_set_role(leader_t *self, zsock_t *pipe, leader_role_t role, const char *leader_id,
                       int64_t won_revision, const char *fmt, ...)
{
    char reason[S_ERR];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&self->mutex);
    s_shared_t *s = &self->shared;
    bool changed =
        !self->reported || s->role != role || strcmp(s->leader_id, leader_id ? leader_id : "");
    self->reported = true;
    s->role = role;
    snprintf(s->reason, sizeof s->reason, "%s", reason);
    snprintf(s->leader_id, sizeof s->leader_id, "%s", leader_id ? leader_id : "");
    s->won_revision = role == LEADER_LEADER ? won_revision : 0;
    if (role == LEADER_LEADER) {
        s->renewed_at = self->lease_renewed;
        s->ttl_s = self->lease_ttl_s;
        s->deadline = self->lease_renewed + s_ttl_ms(self) - s_margin_ms(self);
    } else {
        s->renewed_at = s->ttl_s = s->deadline = 0;
    }
    pthread_mutex_unlock(&self->mutex);
    if (!changed) return;
    if (role == LEADER_LEADER)
        il_log_info("leader: %s leads (%s)", self->id, reason);
    else
        il_log_warn("leader: %s is %s: %s", self->id, leader_role_name(role), reason);
    zsock_send(pipe, "ssss", "ROLE", leader_role_name(role), reason, leader_id ? leader_id : "");
}

/* A renewal sent at sent_at succeeded: the leader's deadline moves on. */
static void s_renewed(leader_t *self, int64_t sent_at)
{
    self->lease_renewed = sent_at;
    pthread_mutex_lock(&self->mutex);
    if (self->shared.role == LEADER_LEADER) {
        self->shared.renewed_at = sent_at;
        self->shared.ttl_s = self->lease_ttl_s;
        self->shared.deadline = sent_at + s_ttl_ms(self) - s_margin_ms(self);
    }
    pthread_mutex_unlock(&self->mutex);
}

static leader_role_t s_role(leader_t *self)
{
    pthread_mutex_lock(&self->mutex);
    leader_role_t role = self->shared.role;
    pthread_mutex_unlock(&self->mutex);
    return role;
}

/* Calls bounded so that the leader is never in one past its deadline. */
static void s_bound_call(leader_t *self)
{
    int64_t bound = s_ttl_ms(self) / 3;
    pthread_mutex_lock(&self->mutex);
    if (self->shared.role == LEADER_LEADER) {
        int64_t left = self->shared.deadline - zclock_mono();
        if (left < bound) bound = left;
    }
    pthread_mutex_unlock(&self->mutex);
    il_etcd_set_timeout(self->etcd, bound > 10 ? bound : 10);
}

/* Renews the lease (a new one when it is gone). 0, or -1 with last_error set. */
static int s_keepalive(leader_t *self)
{
    self->failed = true;
    s_bound_call(self);
    int64_t sent = zclock_mono();
    if (self->lease) {
        int64_t ttl = 0;
        if (il_etcd_lease_keepalive(self->etcd, self->lease, &ttl, self->last_error,
                                    sizeof self->last_error) == 0) {
            self->lease_ttl_s = ttl;
            s_renewed(self, sent);
            self->failed = false;
            return 0;
        }
        /* gone at etcd: only a new one will do (the leader steps down meanwhile) */
        if (!strstr(self->last_error, "not known any more")) return -1;
        self->lease = 0;
    }
    if (s_role(self) == LEADER_LEADER) return -1; /* a leader's lease cannot be replaced */
    int64_t id = 0, ttl = 0;
    if (il_etcd_lease_grant(self->etcd, self->ttl_s, &id, &ttl, self->last_error,
                            sizeof self->last_error))
        return -1;
    self->lease = id;
    self->lease_ttl_s = ttl;
    self->lease_renewed = sent;
    self->failed = false;
    return 0;
}

static void s_watch_key(leader_t *self, int64_t from)
{
    il_etcd_watch_destroy(&self->watch);
    char err[S_ERR];
    self->watch = il_etcd_watch_new(self->etcd, self->key, false, from, err, sizeof err);
    if (!self->watch)
        il_log_warn("leader: cannot watch %s: %s", self->key, err);
    else
        il_etcd_watch_set_idle(self->watch, s_ttl_ms(self)); /* finds a member hung since */
}

/* One campaign: the txn, and what it means. */
static void s_campaign(leader_t *self, zsock_t *pipe)
{
    self->next_campaign = zclock_mono() + s_ttl_ms(self);
    /* a leader (checking that it still holds KEY) steps down at its deadline only */
    bool leads = s_role(self) == LEADER_LEADER;
    if (s_keepalive(self)) {
        if (leads && !self->lease)
            s_set_role(self, pipe, LEADER_NONE, NULL, 0,
                       "stepped down: the lease expired at etcd (%s)", self->last_error);
        else if (!leads)
            s_set_role(self, pipe, LEADER_NONE, NULL, 0, "etcd unreachable: %s", self->last_error);
        return;
    }
    il_etcd_txn_t *txn = il_etcd_txn_new();
    il_etcd_txn_compare(txn, self->key, IL_ETCD_CREATE_REVISION, IL_ETCD_EQUAL, 0);
    il_etcd_txn_put(txn, true, self->key, self->id, strlen(self->id), self->lease);
    il_etcd_txn_get(txn, false, self->key, false);
    bool won = false;
    il_etcd_range_t got;
    s_bound_call(self);
    int rc =
        il_etcd_txn_commit(self->etcd, txn, &won, &got, self->last_error, sizeof self->last_error);
    il_etcd_txn_destroy(&txn);
    if (rc) {
        if (!leads)
            s_set_role(self, pipe, LEADER_NONE, NULL, 0, "etcd unreachable: %s", self->last_error);
        return;
    }
    int64_t won_revision = won ? got.revision : 0;
    char holder[256] = "";
    if (!won && got.count == 1) {
        il_etcd_kv_t *kv = &got.kvs[0];
        snprintf(holder, sizeof holder, "%s", kv->value);
        /* ours, with our live lease: a repeated campaign whose first answer was
         * lost, or etcd back after a step-down with the lease still alive.
         * KEY existed all along, so no other core led meanwhile. */
        if (kv->lease == self->lease && !strcmp(kv->value, self->id)) {
            won = true;
            won_revision = kv->create_revision;
        }
    }
    int64_t at = got.revision;
    il_etcd_range_free(&got);
    /* KEY is watched in every role: a standby campaigns when it goes, a
     * leader steps down (an operator deleted it, or its lease expired) */
    if (!self->watch) s_watch_key(self, at + 1);
    if (won) {
        s_set_role(self, pipe, LEADER_LEADER, self->id, won_revision,
                   "holds %s since revision %" PRId64 " (lease TTL %" PRId64 " s)", self->key,
                   won_revision, self->lease_ttl_s);
        return;
    }
    s_set_role(self, pipe, LEADER_STANDBY, holder, 0, "%s leads",
               *holder ? holder : "another core");
}

/* The leader's tick: renew. A lease etcd no longer knows ends the lead at
 * once; other failures are retried until the deadline (the actor's loop). */
static void s_lead(leader_t *self, zsock_t *pipe)
{
    if (s_keepalive(self) == 0 || self->lease) return;
    s_set_role(self, pipe, LEADER_NONE, NULL, 0, "stepped down: the lease expired at etcd (%s)",
               self->last_error);
}

static void s_on_pipe(leader_t *self, zsock_t *pipe)
{
    char *cmd = zstr_recv(pipe);
    if (!cmd || !strcmp(cmd, "$TERM")) self->term = true;
    zstr_free(&cmd);
}

static void s_actor(zsock_t *pipe, void *arg)
{
    leader_t *self = arg;
    zpoller_t *poller = zpoller_new(pipe, NULL);
    /* After SIGTERM (zsys_interrupted) a poller returns nothing: $TERM from
     * leader_destroy must still be read. */
    zpoller_set_nonstop(poller, true);
    zsock_signal(pipe, 0);
    int64_t next_tick = 0;
    while (!self->term) {
        int64_t now = zclock_mono();
        leader_role_t role = s_role(self);
        if (role == LEADER_LEADER) {
            pthread_mutex_lock(&self->mutex);
            int64_t deadline = self->shared.deadline;
            pthread_mutex_unlock(&self->mutex);
            if (now >= deadline) {
                s_set_role(self, pipe, LEADER_NONE, NULL, 0,
                           "stepped down: the lease was not renewed for %" PRId64
                           " ms (TTL %" PRId64 " s less a %" PRId64 " ms margin): %s",
                           now - self->lease_renewed, self->lease_ttl_s, s_margin_ms(self),
                           *self->last_error ? self->last_error : "no answer in time");
                /* campaign as soon as etcd answers: with the lease still alive the
                 * key is still its own, and it leads again on the same revision */
                self->next_campaign = next_tick = 0;
                continue;
            }
        }
        if (now >= next_tick) {
            if (role == LEADER_LEADER && !self->watch)
                s_campaign(self, pipe); /* renews, checks KEY is still its own, watches it */
            else if (role == LEADER_LEADER)
                s_lead(self, pipe);
            else if (now >= self->next_campaign)
                s_campaign(self, pipe);
            else if (s_keepalive(self))
                s_set_role(self, pipe, LEADER_NONE, NULL, 0, "etcd unreachable: %s",
                           self->last_error);
            /* a failed renewal is tried again soon: a leader has until its deadline */
            next_tick = zclock_mono() + s_ttl_ms(self) / (self->failed ? 10 : 3);
            continue;
        }
        int64_t wait = next_tick - now;
        if (role == LEADER_LEADER) {
            pthread_mutex_lock(&self->mutex);
            int64_t left = self->shared.deadline - now;
            pthread_mutex_unlock(&self->mutex);
            if (left < wait) wait = left;
        }
        if (wait < 1) wait = 1;
        if (self->watch) {
            il_etcd_events_t events;
            char err[S_ERR];
            int rc = il_etcd_watch_next(self->watch, (int)(wait < 100 ? wait : 100), &events, err,
                                        sizeof err);
            int64_t gone = 0, won = 0;
            pthread_mutex_lock(&self->mutex);
            won = self->shared.won_revision;
            pthread_mutex_unlock(&self->mutex);
            for (size_t i = 0; i < events.count; i++)
                if (events.events[i].type == IL_ETCD_DELETE &&
                    events.events[i].kv.mod_revision > won)
                    gone = events.events[i].kv.mod_revision;
            il_etcd_events_free(&events);
            /* a broken watch is made again by the next campaign; a leader runs
             * one at its next tick to check that it still holds KEY */
            if (rc) il_etcd_watch_destroy(&self->watch);
            if (gone && role == LEADER_LEADER)
                s_set_role(self, pipe, LEADER_NONE, NULL, 0,
                           "stepped down: %s was deleted at revision %" PRId64, self->key, gone);
            if (gone) self->next_campaign = next_tick = 0;
            if (zpoller_wait(poller, 0) == pipe) s_on_pipe(self, pipe);
        } else if (zpoller_wait(poller, (int)wait) == pipe) {
            s_on_pipe(self, pipe);
        }
    }
    il_etcd_watch_destroy(&self->watch);
    if (self->lease && !self->keep_lease) {
        /* the key goes with it: a standby need not wait for the TTL */
        il_etcd_set_timeout(self->etcd, 1000);
        char err[S_ERR];
        if (il_etcd_lease_revoke(self->etcd, self->lease, err, sizeof err))
            il_log_warn("leader: cannot revoke lease: %s", err);
    }
    zpoller_destroy(&poller);
}

leader_t *leader_new(const leader_config_t *config, char *err, size_t errlen)
{
    if (!config->key || !*config->key || !config->id || !*config->id) {
        il_err(err, errlen, "leader: the leader key and this core's id are required");
        return NULL;
    }
    leader_t *self = il_calloc(1, sizeof *self);
    pthread_mutex_init(&self->mutex, NULL);
    self->etcd_config = config->etcd;
    self->endpoints = il_calloc(config->etcd.endpoint_count + 1, sizeof *self->endpoints);
    for (size_t i = 0; i < config->etcd.endpoint_count; i++)
        self->endpoints[i] = il_strdup(config->etcd.endpoints[i]);
    self->etcd_config.endpoints = (const char *const *)self->endpoints;
    self->key = il_strdup(config->key);
    self->id = il_strdup(config->id);
    self->ttl_s = config->ttl_s > 0 ? config->ttl_s : 5;
    self->margin_ms = config->margin_ms;
    self->keep_lease = config->keep_lease;
    snprintf(self->shared.reason, sizeof self->shared.reason, "not yet in touch with etcd");
    /* one hung member must not eat a whole renewal: a call (TTL/3) can try two */
    if (!self->etcd_config.try_timeout_ms)
        self->etcd_config.try_timeout_ms = self->ttl_s * 1000 / 6;
    self->etcd = il_etcd_new(&self->etcd_config, err, errlen);
    if (self->etcd) self->actor = zactor_new(s_actor, self);
    if (!self->actor) {
        if (self->etcd) il_err(err, errlen, "leader: cannot start its thread");
        leader_destroy(&self);
    }
    return self;
}

void leader_destroy(leader_t **self_p)
{
    leader_t *self = *self_p;
    if (!self) return;
    zactor_destroy(&self->actor);
    il_etcd_watch_destroy(&self->watch);
    il_etcd_destroy(&self->etcd);
    for (size_t i = 0; self->endpoints && self->endpoints[i]; i++)
        free(self->endpoints[i]);
    free(self->endpoints);
    free(self->key);
    free(self->id);
    pthread_mutex_destroy(&self->mutex);
    free(self);
    *self_p = NULL;
}

zsock_t *leader_sock(leader_t *self)
{
    return zactor_sock(self->actor);
}

int leader_recv(leader_t *self, leader_role_t *role, char **reason, char **leader_id)
{
    char *cmd = NULL, *name = NULL, *why = NULL, *id = NULL;
    if (zsock_recv(self->actor, "ssss", &cmd, &name, &why, &id) != 0 || !cmd) return -1;
    *role = !strcmp(name, "leader")    ? LEADER_LEADER
            : !strcmp(name, "standby") ? LEADER_STANDBY
                                       : LEADER_NONE;
    if (reason)
        *reason = why;
    else
        free(why);
    if (leader_id && id && *id)
        *leader_id = id;
    else {
        if (leader_id) *leader_id = NULL;
        free(id);
    }
    free(cmd);
    free(name);
    return 0;
}

bool leader_is_leader(leader_t *self)
{
    return leader_role(self, NULL, 0, NULL, 0) == LEADER_LEADER;
}

leader_role_t leader_role(leader_t *self, char *reason, size_t reasonlen, char *leader_id,
                          size_t idlen)
{
    pthread_mutex_lock(&self->mutex);
    s_shared_t *s = &self->shared;
    leader_role_t role = s->role;
    bool late = role == LEADER_LEADER && zclock_mono() >= s->deadline;
    if (late) role = LEADER_NONE;
    if (reason && reasonlen) {
        if (late)
            snprintf(reason, reasonlen, "the lease was not renewed before the fencing deadline");
        else
            snprintf(reason, reasonlen, "%s", s->reason);
    }
    if (leader_id && idlen) snprintf(leader_id, idlen, "%s", late ? "" : s->leader_id);
    pthread_mutex_unlock(&self->mutex);
    return role;
}

int leader_guard(leader_t *self, il_etcd_txn_t *txn)
{
    pthread_mutex_lock(&self->mutex);
    int64_t rev = self->shared.role == LEADER_LEADER && zclock_mono() < self->shared.deadline
                      ? self->shared.won_revision
                      : 0;
    pthread_mutex_unlock(&self->mutex);
    if (!rev) return -1;
    il_etcd_txn_compare(txn, self->key, IL_ETCD_CREATE_REVISION, IL_ETCD_EQUAL, rev);
    return 0;
}

void leader_fence(leader_t *self, int64_t *renewed_at, int64_t *ttl_s, int64_t *deadline)
{
    pthread_mutex_lock(&self->mutex);
    bool leads = self->shared.role == LEADER_LEADER;
    if (renewed_at) *renewed_at = leads ? self->shared.renewed_at : 0;
    if (ttl_s) *ttl_s = leads ? self->shared.ttl_s : 0;
    if (deadline) *deadline = leads ? self->shared.deadline : 0;
    pthread_mutex_unlock(&self->mutex);
}
