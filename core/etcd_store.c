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

struct _etcd_store_t {
    char *prefix;        /* "<prefix>/entries/" */
    leader_t *leader;    /* guards every txn (not owned) */
    il_etcd_t *reader;   /* the caller's thread: etcd_store_load */
    il_etcd_t *writer;   /* the worker's thread */
    zactor_t *actor;     /* the worker */
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

/* ["BATCH", batch] in, ["DONE", batch] back; $TERM ends it. */
static void s_actor(zsock_t *pipe, void *arg)
{
    etcd_store_t *self = arg;
    /* SIGINT/SIGTERM go to the core's loop: interrupted here, this thread
     * would end early and its end would be read as a batch's answer. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    zsock_signal(pipe, 0);
    while (true) {
        char *cmd = NULL;
        void *ptr = NULL;
        if (zsock_recv(pipe, "sp", &cmd, &ptr) != 0) {
            if (errno == EINTR) continue;
            break;
        }
        bool term = !cmd || !strcmp(cmd, "$TERM");
        if (!term && ptr) {
            s_commit(self, ptr);
            zsock_send(pipe, "sp", "DONE", ptr);
        }
        free(cmd);
        if (term) break;
    }
}

/* Public API -------------------------------------------------------------------- */

etcd_store_t *etcd_store_new(const il_etcd_config_t *config, const char *prefix, leader_t *leader,
                             char *err, size_t errlen)
{
    etcd_store_t *self = il_calloc(1, sizeof *self);
    self->prefix = zsys_sprintf("%s/entries/", prefix);
    self->leader = leader;
    self->touched = zhashx_new();
    msgpack_sbuffer_init(&self->buf);
    self->reader = il_etcd_new(config, err, errlen);
    self->writer = self->reader ? il_etcd_new(config, err, errlen) : NULL;
    if (!self->writer) {
        etcd_store_destroy(&self);
        return NULL;
    }
    self->actor = zactor_new(s_actor, self);
    if (!self->actor) {
        snprintf(err, errlen, "cannot start the etcd writer thread");
        etcd_store_destroy(&self);
    }
    return self;
}

void etcd_store_destroy(etcd_store_t **self_p)
{
    etcd_store_t *self = *self_p;
    if (!self) return;
    zactor_destroy(&self->actor); /* after the batch it is writing, if any */
    s_batch_free(&self->flight);
    il_etcd_destroy(&self->reader);
    il_etcd_destroy(&self->writer);
    zhashx_destroy(&self->touched);
    msgpack_sbuffer_destroy(&self->buf);
    free(self->prefix);
    free(self);
    *self_p = NULL;
}

int etcd_store_load(etcd_store_t *self, workflow_t *workflow, size_t *loaded, char *err,
                    size_t errlen)
{
    *loaded = 0;
    il_etcd_range_t range = {0};
    char why[1024];
    if (il_etcd_get_prefix(self->reader, self->prefix, 0, 0, &range, why, sizeof why) != 0) {
        snprintf(err, errlen, "etcd %s: %s", self->prefix, why);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < range.count && rc == 0; i++) {
        il_etcd_kv_t *kv = &range.kvs[i];
        msgpack_unpacked msg;
        msgpack_unpacked_init(&msg);
        size_t off = 0;
        if (msgpack_unpack_next(&msg, kv->value, kv->value_len, &off) != MSGPACK_UNPACK_SUCCESS) {
            snprintf(err, errlen, "etcd %s: not an entry (msgpack)", kv->key);
            rc = -1;
        } else {
            entry_t *entry = entry_unpack(&msg.data, workflow_steps(workflow),
                                          workflow_nsteps(workflow), why, sizeof why);
            if (!entry) {
                snprintf(err, errlen, "etcd %s: %s", kv->key, why);
                rc = -1;
            } else if (workflow_adopt(workflow, &entry) != 0) {
                entry_destroy(&entry);
            } else {
                (*loaded)++;
            }
        }
        msgpack_unpacked_destroy(&msg);
    }
    il_etcd_range_free(&range);
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
    free(cmd);
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
