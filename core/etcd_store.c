/* etcd_store: the core's entries on etcd, see etcd_store.h. */
#include "core/etcd_store.h"
#include "common/alloc.h"
#include "common/log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* One change of a batch: the entry's packed bytes, or a delete. */
typedef struct {
    char *name;
    char *key;
    char *value; /* NULL: delete the key */
    size_t len;
} s_op_t;

/* A batch, packed in the loop's thread and committed in the worker's. */
typedef struct {
    s_op_t *ops;
    size_t count;
    etcd_store_outcome_t outcome; /* set by the worker */
    char reason[1024];            /* set by the worker when not saved */
    uint64_t bytes;
} s_batch_t;

/* A load: filled by the worker, decoded by the loop. */
typedef struct {
    il_etcd_range_t range;
    bool failed;
    char reason[1024];
} s_load_t;

/* What the mirror's thread has (a standby's view). */
typedef struct {
    const char *prefix; /* the store's */
    il_etcd_t *client;  /* its own */
    il_etcd_watch_t *watch;
    int64_t heard; /* zclock_mono of the last sign that etcd answers */
} s_follower_t;

struct _etcd_store_t {
    char *prefix;      /* "<prefix>/entries/" */
    leader_t *leader;  /* guards every txn (not owned) */
    il_etcd_t *writer; /* the worker's thread */
    zactor_t *actor;   /* the worker */
    s_load_t *load;    /* the load asked for or come back, NULL when none */
    bool loading;      /* the worker has it */
    s_follower_t follower;
    zactor_t *mirror_actor; /* the follower's thread */
    zhashx_t *mirror;       /* entry name -> zchunk_t of its packed bytes */
    int mirror_gen;         /* of the last start or stop: older news is dropped */
    bool mirror_on;
    bool mirror_synced;
    bool mirror_changed;
    int64_t mirror_revision;
    char mirror_reason[1024];
    zhashx_t *touched;   /* names changed since the last batch left -> "" */
    s_batch_t *flight;   /* the batch the worker has, NULL when none */
    bool dropping;       /* reset while a batch was in flight: its outcome is ignored */
    uint64_t bytes;      /* of the values in saved batches */
    uint64_t entries;    /* puts in saved batches */
    msgpack_sbuffer buf; /* reused to pack entries */
};

static void s_batch_free(s_batch_t **batch_p)
{
    s_batch_t *batch = *batch_p;
    if (!batch) return;
    for (size_t i = 0; i < batch->count; i++) {
        free(batch->ops[i].name);
        free(batch->ops[i].key);
        free(batch->ops[i].value);
    }
    free(batch->ops);
    free(batch);
    *batch_p = NULL;
}

static void s_load_free(s_load_t **load_p)
{
    if (!*load_p) return;
    il_etcd_range_free(&(*load_p)->range);
    free(*load_p);
    *load_p = NULL;
}

/* The worker ------------------------------------------------------------------ */

/* Commits the batch in txns of at most IL_ETCD_MAX_TXN_OPS operations, each
 * guarded; stops at the first that fails. */
static void s_commit(etcd_store_t *self, s_batch_t *batch)
{
    batch->outcome = ETCD_STORE_SAVED;
    for (size_t start = 0; start < batch->count; start += IL_ETCD_MAX_TXN_OPS) {
        size_t end = start + IL_ETCD_MAX_TXN_OPS;
        if (end > batch->count) end = batch->count;
        il_etcd_txn_t *txn = il_etcd_txn_new();
        if (leader_guard(self->leader, txn) != 0) {
            il_etcd_txn_destroy(&txn);
            batch->outcome = ETCD_STORE_DEPOSED;
            snprintf(batch->reason, sizeof batch->reason, "this core no longer leads");
            return;
        }
        for (size_t i = start; i < end; i++) {
            s_op_t *op = &batch->ops[i];
            if (op->value)
                il_etcd_txn_put(txn, true, op->key, op->value, op->len, 0);
            else
                il_etcd_txn_delete(txn, true, op->key, false);
        }
        bool succeeded = false;
        char err[1024];
        int rc = il_etcd_txn_commit(self->writer, txn, &succeeded, NULL, err, sizeof err);
        il_etcd_txn_destroy(&txn);
        if (rc != 0) {
            batch->outcome = ETCD_STORE_FAILED;
            snprintf(batch->reason, sizeof batch->reason, "%s", err);
            return;
        }
        if (!succeeded) {
            batch->outcome = ETCD_STORE_DEPOSED;
            snprintf(batch->reason, sizeof batch->reason,
                     "a guarded write failed: the leader key is no longer this core's");
            return;
        }
    }
}

/* Reads the range under the prefix (in pages, at one revision: any size). */
static void s_load_run(etcd_store_t *self, s_load_t *load)
{
    char why[1024];
    if (il_etcd_get_prefix(self->writer, self->prefix, 0, 0, &load->range, why, sizeof why) != 0) {
        load->failed = true;
        snprintf(load->reason, sizeof load->reason, "etcd %s: %.900s", self->prefix, why);
    }
}

/* SIGINT/SIGTERM go to the core's loop: interrupted here, a thread would
 * end early and its end would be read as an answer. */
static void s_block_signals(void)
{
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
}

/* ["BATCH", batch] in, ["DONE", batch] back; ["LOAD", load] in, ["LOADED",
 * load] back; $TERM ends it. */
static void s_actor(zsock_t *pipe, void *arg)
{
    etcd_store_t *self = arg;
    s_block_signals();
    zsock_signal(pipe, 0);
    while (true) {
        char *cmd = NULL;
        void *ptr = NULL;
        if (zsock_recv(pipe, "sp", &cmd, &ptr) != 0) {
            if (errno == EINTR) continue;
            break;
        }
        bool term = !cmd || !strcmp(cmd, "$TERM");
        if (!term && ptr && !strcmp(cmd, "LOAD")) {
            s_load_run(self, ptr);
            zsock_send(pipe, "sp", "LOADED", ptr);
        } else if (!term && ptr) {
            s_commit(self, ptr);
            zsock_send(pipe, "sp", "DONE", ptr);
        }
        free(cmd);
        if (term) break;
    }
}

/* The follower (the mirror's thread) -------------------------------------------- */

/* A quiet watch stream is opened again after this long, so that a member that
 * hung after the stream was made is found (il_etcd_watch_set_idle). */
#define S_MIRROR_IDLE_MS  3000
#define S_MIRROR_RETRY_MS 500
#define S_MIRROR_WAIT_MS  200 /* one wait for events: how soon a command is read */
/* A watch that has been quiet this long is checked by a small read: a watch
 * on hung members moves on to the next endpoint without ever failing a wait
 * shorter than its try time-out, so its silence alone says nothing. */
#define S_MIRROR_CHECK_MS 3000

/* News to the loop, as frames (a message the loop never reads, at its end,
 * is freed with it): [kind, gen, text, frames...]. */
static void s_news(zsock_t *pipe, const char *kind, int gen, const char *text, zmsg_t *msg)
{
    zmsg_pushstr(msg, text);
    zmsg_pushstrf(msg, "%d", gen);
    zmsg_pushstr(msg, kind);
    zmsg_send(&msg, pipe);
}

/* Reads the range: ["SNAPSHOT", gen, revision, key, value, ...] to the loop
 * and a watch from the revision after it; ["ERROR", gen, reason]. 0 or -1. */
static int s_follow_read(s_follower_t *f, zsock_t *pipe, int gen)
{
    il_etcd_range_t range;
    char why[1024], err[1200];
    il_etcd_watch_destroy(&f->watch);
    if (il_etcd_get_prefix(f->client, f->prefix, 0, 0, &range, why, sizeof why) != 0) {
        snprintf(err, sizeof err, "etcd %s: %s", f->prefix, why);
        s_news(pipe, "ERROR", gen, err, zmsg_new());
        return -1;
    }
    f->watch = il_etcd_watch_new(f->client, f->prefix, true, range.revision + 1, why, sizeof why);
    if (!f->watch) {
        il_etcd_range_free(&range);
        snprintf(err, sizeof err, "etcd %s: %s", f->prefix, why);
        s_news(pipe, "ERROR", gen, err, zmsg_new());
        return -1;
    }
    il_etcd_watch_set_idle(f->watch, S_MIRROR_IDLE_MS);
    f->heard = zclock_mono();
    zmsg_t *msg = zmsg_new();
    for (size_t i = 0; i < range.count; i++) {
        zmsg_addstr(msg, range.kvs[i].key);
        zmsg_addmem(msg, range.kvs[i].value, range.kvs[i].value_len);
    }
    char rev[32];
    snprintf(rev, sizeof rev, "%lld", (long long)range.revision);
    il_etcd_range_free(&range);
    s_news(pipe, "SNAPSHOT", gen, rev, msg);
    return 0;
}

/* Waits for events: ["EVENTS", gen, revision, "P"|"D", key, value, ...].
 * Compacted: reads again. 0, or -1 (["ERROR", gen, reason] sent, the watch
 * dropped: read again later). */
static int s_follow_watch(s_follower_t *f, zsock_t *pipe, int gen)
{
    il_etcd_events_t ev;
    char why[1024], err[1200];
    int rc = il_etcd_watch_next(f->watch, S_MIRROR_WAIT_MS, &ev, why, sizeof why);
    if (rc == IL_ETCD_COMPACTED) {
        il_log_info("core: the standby's view of etcd: %s; reading again", why);
        return s_follow_read(f, pipe, gen);
    }
    if (rc == 0 && ev.count == 0 && zclock_mono() - f->heard >= S_MIRROR_CHECK_MS) {
        il_etcd_range_t probe;
        rc = il_etcd_get_prefix(f->client, f->prefix, 1, 0, &probe, why, sizeof why);
        if (rc == 0) f->heard = zclock_mono();
        il_etcd_range_free(&probe);
    }
    if (rc != 0) {
        il_etcd_watch_destroy(&f->watch);
        snprintf(err, sizeof err, "etcd %s: %.1000s", f->prefix, why);
        s_news(pipe, "ERROR", gen, err, zmsg_new());
        return -1;
    }
    if (ev.count == 0) return 0;
    f->heard = zclock_mono();
    zmsg_t *msg = zmsg_new();
    for (size_t i = 0; i < ev.count; i++) {
        il_etcd_kv_t *kv = &ev.events[i].kv;
        zmsg_addstr(msg, ev.events[i].type == IL_ETCD_PUT ? "P" : "D");
        zmsg_addstr(msg, kv->key);
        zmsg_addmem(msg, kv->value, ev.events[i].type == IL_ETCD_PUT ? kv->value_len : 0);
    }
    il_etcd_events_free(&ev);
    char rev[32];
    snprintf(rev, sizeof rev, "%lld", (long long)il_etcd_watch_revision(f->watch));
    s_news(pipe, "EVENTS", gen, rev, msg);
    return 0;
}

/* ["START", gen] follows etcd (read, then watch), ["STOP", gen] stops;
 * $TERM ends it. */
static void s_mirror_actor(zsock_t *pipe, void *arg)
{
    s_follower_t *f = arg;
    s_block_signals();
    zpoller_t *poller = zpoller_new(pipe, NULL);
    zpoller_set_nonstop(poller, true); /* a signal must not hide $TERM */
    zsock_signal(pipe, 0);
    bool on = false;
    int gen = 0;
    int64_t retry_at = 0;
    while (true) {
        int wait = -1;
        if (on)
            wait = f->watch ? 0 : (int)(retry_at > zclock_mono() ? retry_at - zclock_mono() : 0);
        if (zpoller_wait(poller, wait)) {
            zmsg_t *cmd = zmsg_recv(pipe);
            if (!cmd) break;
            char *what = zmsg_popstr(cmd), *num = zmsg_popstr(cmd);
            bool term = !what || !strcmp(what, "$TERM");
            if (what && !strcmp(what, "START")) {
                on = true;
                retry_at = 0;
                il_etcd_watch_destroy(&f->watch);
            } else if (what && !strcmp(what, "STOP")) {
                on = false;
                il_etcd_watch_destroy(&f->watch);
            }
            if (num) gen = atoi(num);
            free(what);
            free(num);
            zmsg_destroy(&cmd);
            if (term) break;
            continue;
        }
        if (!on) continue;
        int rc = f->watch ? s_follow_watch(f, pipe, gen) : s_follow_read(f, pipe, gen);
        if (rc != 0) retry_at = zclock_mono() + S_MIRROR_RETRY_MS;
    }
    il_etcd_watch_destroy(&f->watch);
    zpoller_destroy(&poller);
}

/* Public API -------------------------------------------------------------------- */

etcd_store_t *etcd_store_new(const il_etcd_config_t *config, const char *prefix, leader_t *leader,
                             char *err, size_t errlen)
{
    etcd_store_t *self = il_calloc(1, sizeof *self);
    self->prefix = zsys_sprintf("%s/entries/", prefix);
    self->leader = leader;
    self->touched = zhashx_new();
    self->mirror = zhashx_new();
    zhashx_set_destructor(self->mirror, (zhashx_destructor_fn *)zchunk_destroy);
    msgpack_sbuffer_init(&self->buf);
    self->writer = il_etcd_new(config, err, errlen);
    self->follower.prefix = self->prefix;
    self->follower.client = self->writer ? il_etcd_new(config, err, errlen) : NULL;
    if (!self->follower.client) {
        etcd_store_destroy(&self);
        return NULL;
    }
    self->actor = zactor_new(s_actor, self);
    self->mirror_actor = self->actor ? zactor_new(s_mirror_actor, &self->follower) : NULL;
    if (!self->mirror_actor) {
        snprintf(err, errlen, "cannot start the etcd store's threads");
        etcd_store_destroy(&self);
    }
    return self;
}

void etcd_store_destroy(etcd_store_t **self_p)
{
    etcd_store_t *self = *self_p;
    if (!self) return;
    zactor_destroy(&self->actor); /* after the batch it is writing, if any */
    zactor_destroy(&self->mirror_actor);
    s_batch_free(&self->flight);
    s_load_free(&self->load);
    il_etcd_destroy(&self->writer);
    il_etcd_destroy(&self->follower.client);
    zhashx_destroy(&self->touched);
    zhashx_destroy(&self->mirror);
    msgpack_sbuffer_destroy(&self->buf);
    free(self->prefix);
    free(self);
    *self_p = NULL;
}

/* Decodes one entry's packed bytes into the workflow; a name it already has
 * is not adopted again. 1 adopted, 0 not, -1 with the reason in err. */
static int s_adopt(workflow_t *workflow, const char *key, const char *value, size_t len, char *err,
                   size_t errlen)
{
    char why[1024];
    msgpack_unpacked msg;
    msgpack_unpacked_init(&msg);
    size_t off = 0;
    int rc = 0;
    if (msgpack_unpack_next(&msg, value, len, &off) != MSGPACK_UNPACK_SUCCESS) {
        snprintf(err, errlen, "etcd %s: not an entry (msgpack)", key);
        rc = -1;
    } else {
        entry_t *entry = entry_unpack(&msg.data, workflow_steps(workflow),
                                      workflow_nsteps(workflow), why, sizeof why);
        if (!entry) {
            snprintf(err, errlen, "etcd %s: %s", key, why);
            rc = -1;
        } else if (workflow_adopt(workflow, &entry) != 0) {
            entry_destroy(&entry);
        } else {
            rc = 1;
        }
    }
    msgpack_unpacked_destroy(&msg);
    return rc;
}

int etcd_store_load_start(etcd_store_t *self)
{
    if (self->loading) return 1;
    s_load_free(&self->load);
    self->load = il_calloc(1, sizeof *self->load);
    self->loading = true;
    zsock_send(self->actor, "sp", "LOAD", self->load);
    return 0;
}

bool etcd_store_loading(etcd_store_t *self)
{
    return self->loading;
}

int etcd_store_adopt(etcd_store_t *self, workflow_t *workflow, size_t *loaded, char *err,
                     size_t errlen)
{
    *loaded = 0;
    if (!self->load || self->loading || self->load->failed) {
        snprintf(err, errlen, "etcd %s: no load came back", self->prefix);
        return -1;
    }
    int rc = 0;
    il_etcd_range_t *range = &self->load->range;
    for (size_t i = 0; workflow && i < range->count && rc == 0; i++) {
        int one = s_adopt(workflow, range->kvs[i].key, range->kvs[i].value, range->kvs[i].value_len,
                          err, errlen);
        if (one < 0) rc = -1;
        if (one > 0) (*loaded)++;
    }
    s_load_free(&self->load);
    return rc;
}

void etcd_store_touch(etcd_store_t *self, const char *name)
{
    zhashx_update(self->touched, name, "");
}

int etcd_store_save_changes(etcd_store_t *self, workflow_t *workflow)
{
    if (self->flight || zhashx_size(self->touched) == 0) return 1;
    s_batch_t *batch = il_calloc(1, sizeof *batch);
    batch->ops = il_calloc(zhashx_size(self->touched), sizeof *batch->ops);
    for (void *it = zhashx_first(self->touched); it; it = zhashx_next(self->touched)) {
        const char *name = zhashx_cursor(self->touched);
        s_op_t *op = &batch->ops[batch->count++];
        op->name = il_strdup(name);
        op->key = zsys_sprintf("%s%s", self->prefix, name);
        entry_t *entry = workflow_lookup(workflow, name);
        if (!entry) continue; /* removed: delete the key */
        msgpack_sbuffer_clear(&self->buf);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &self->buf, msgpack_sbuffer_write);
        entry_pack(entry, workflow_steps(workflow), &pk);
        op->value = il_malloc(self->buf.size ? self->buf.size : 1);
        memcpy(op->value, self->buf.data, self->buf.size);
        op->len = self->buf.size;
        batch->bytes += self->buf.size;
    }
    zhashx_purge(self->touched);
    self->flight = batch;
    self->dropping = false;
    zsock_send(self->actor, "sp", "BATCH", batch);
    return 0;
}

bool etcd_store_pending(etcd_store_t *self)
{
    return self->flight || zhashx_size(self->touched) > 0;
}

bool etcd_store_busy(etcd_store_t *self)
{
    return self->flight != NULL;
}

void etcd_store_reset(etcd_store_t *self)
{
    zhashx_purge(self->touched);
    if (self->flight) self->dropping = true;
}

zsock_t *etcd_store_sock(etcd_store_t *self)
{
    return zactor_sock(self->actor);
}

int etcd_store_recv(etcd_store_t *self, etcd_store_outcome_t *outcome, char **reason)
{
    char *cmd = NULL;
    void *ptr = NULL;
    *reason = NULL;
    if (zsock_recv(self->actor, "sp", &cmd, &ptr) != 0) return -1;
    bool load = cmd && !strcmp(cmd, "LOADED");
    free(cmd);
    if (load) {
        if (!ptr || ptr != self->load || !self->loading) return -1;
        self->loading = false;
        *outcome = self->load->failed ? ETCD_STORE_LOAD_FAILED : ETCD_STORE_LOADED;
        if (self->load->failed) {
            *reason = il_strdup(self->load->reason);
            s_load_free(&self->load);
        }
        return 0;
    }
    s_batch_t *batch = ptr;
    if (!batch || batch != self->flight) return -1;
    self->flight = NULL;
    *outcome = batch->outcome;
    if (batch->outcome != ETCD_STORE_SAVED) *reason = il_strdup(batch->reason);
    if (batch->outcome == ETCD_STORE_SAVED) {
        self->bytes += batch->bytes;
        for (size_t i = 0; i < batch->count; i++)
            if (batch->ops[i].value) self->entries++;
    } else if (batch->outcome == ETCD_STORE_FAILED && !self->dropping) {
        for (size_t i = 0; i < batch->count; i++) /* saved again with the next batch */
            zhashx_update(self->touched, batch->ops[i].name, "");
    }
    if (self->dropping)
        *outcome = batch->outcome == ETCD_STORE_SAVED ? ETCD_STORE_SAVED : ETCD_STORE_FAILED;
    self->dropping = false;
    s_batch_free(&batch);
    return 0;
}

void etcd_store_counts(etcd_store_t *self, uint64_t *bytes, uint64_t *entries)
{
    *bytes = self->bytes;
    *entries = self->entries;
}

/* The mirror ------------------------------------------------------------------ */

/* Tells the follower what to do, as a new generation (news it sent before is
 * dropped), and drops what the mirror held. */
static void s_mirror_say(etcd_store_t *self, const char *what, const char *reason)
{
    self->mirror_gen++;
    zhashx_purge(self->mirror);
    self->mirror_synced = false;
    self->mirror_changed = true;
    self->mirror_revision = 0;
    snprintf(self->mirror_reason, sizeof self->mirror_reason, "%s", reason);
    char gen[16];
    snprintf(gen, sizeof gen, "%d", self->mirror_gen);
    zstr_sendx(self->mirror_actor, what, gen, NULL);
}

void etcd_store_mirror_start(etcd_store_t *self)
{
    if (self->mirror_on) return;
    self->mirror_on = true;
    s_mirror_say(self, "START", "the first read of etcd is pending");
}

void etcd_store_mirror_stop(etcd_store_t *self)
{
    if (!self->mirror_on) return;
    self->mirror_on = false;
    s_mirror_say(self, "STOP", "");
}

zsock_t *etcd_store_mirror_sock(etcd_store_t *self)
{
    return zactor_sock(self->mirror_actor);
}

/* The entry name a key under the prefix stands for, NULL for another key. */
static const char *s_name_of(etcd_store_t *self, const char *key)
{
    size_t n = strlen(self->prefix);
    return strncmp(key, self->prefix, n) == 0 && key[n] ? key + n : NULL;
}

int etcd_store_mirror_recv(etcd_store_t *self)
{
    zmsg_t *msg = zmsg_recv(zactor_sock(self->mirror_actor));
    if (!msg) return -1;
    char *kind = zmsg_popstr(msg), *gen = zmsg_popstr(msg), *text = zmsg_popstr(msg);
    int rc = kind && gen && text ? 0 : -1;
    if (rc == 0 && self->mirror_on && atoi(gen) == self->mirror_gen) {
        if (!strcmp(kind, "ERROR")) {
            /* said once per outage: the reason's wording changes with each try */
            il_log_write(self->mirror_synced ? IL_LOG_WARN : IL_LOG_DEBUG,
                         "core: the standby's view of etcd lags: %s (reading again)", text);
            snprintf(self->mirror_reason, sizeof self->mirror_reason, "%s", text);
            self->mirror_synced = false;
        } else if (!strcmp(kind, "SNAPSHOT")) {
            zhashx_purge(self->mirror);
            for (zframe_t *key = zmsg_pop(msg); key; key = zmsg_pop(msg)) {
                zframe_t *value = zmsg_pop(msg);
                char *k = zframe_strdup(key);
                const char *name = s_name_of(self, k);
                if (name && value)
                    zhashx_update(self->mirror, name,
                                  zchunk_new(zframe_data(value), zframe_size(value)));
                free(k);
                zframe_destroy(&key);
                zframe_destroy(&value);
            }
            if (!self->mirror_synced && *self->mirror_reason)
                il_log_debug("core: the standby's view of etcd follows it again (%zu entries)",
                             zhashx_size(self->mirror));
            self->mirror_synced = true;
            self->mirror_reason[0] = 0;
            self->mirror_changed = true;
            self->mirror_revision = atoll(text);
        } else if (!strcmp(kind, "EVENTS")) {
            for (char *type = zmsg_popstr(msg); type; type = zmsg_popstr(msg)) {
                char *k = zmsg_popstr(msg);
                zframe_t *value = zmsg_pop(msg);
                const char *name = k ? s_name_of(self, k) : NULL;
                if (name && value && !strcmp(type, "P"))
                    zhashx_update(self->mirror, name,
                                  zchunk_new(zframe_data(value), zframe_size(value)));
                else if (name)
                    zhashx_delete(self->mirror, name);
                free(type);
                free(k);
                zframe_destroy(&value);
            }
            self->mirror_changed = true;
            self->mirror_revision = atoll(text);
        }
    }
    free(kind);
    free(gen);
    free(text);
    zmsg_destroy(&msg);
    return rc;
}

bool etcd_store_mirror_synced(etcd_store_t *self, char *reason, size_t reasonlen)
{
    if (reason) snprintf(reason, reasonlen, "%s", self->mirror_synced ? "" : self->mirror_reason);
    return self->mirror_on && self->mirror_synced;
}

bool etcd_store_mirror_changed(etcd_store_t *self)
{
    return self->mirror_changed;
}

int etcd_store_mirror_fill(etcd_store_t *self, workflow_t *workflow, size_t *count, char *err,
                           size_t errlen)
{
    *count = 0;
    for (zchunk_t *value = zhashx_first(self->mirror); value; value = zhashx_next(self->mirror)) {
        char key[1024];
        snprintf(key, sizeof key, "%s%s", self->prefix, (const char *)zhashx_cursor(self->mirror));
        int one = s_adopt(workflow, key, (const char *)zchunk_data(value), zchunk_size(value), err,
                          errlen);
        if (one < 0) return -1;
        if (one > 0) (*count)++;
    }
    self->mirror_changed = false;
    return 0;
}

int64_t etcd_store_mirror_revision(etcd_store_t *self)
{
    return self->mirror_revision;
}
