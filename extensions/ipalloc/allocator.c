/* allocator: the ipam.ipalloc extension's object, see allocator.h. Work
 * enters through s_on_work into a batch; s_on_flush is the one place that
 * decides (pool + db), commits, and answers. */
#include "extensions/ipalloc/allocator.h"
#include "common/alloc.h"
#include "common/log.h"
#include "extensions/ipalloc/alloc_db.h"
#include "extensions/ipalloc/alloc_etcd.h"
#include "extensions/ipalloc/pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_MAX_BATCH 1000 /* work items committed with one fsync at most */
/* Store etcd: a batch not settled by then is answered with etcd's error (the
 * core sends the work again); each call is bounded by S_ETCD_CALL_MS. */
#define S_ETCD_BATCH_MS 10000
#define S_ETCD_CALL_MS  5000
#define S_ETCD_TRY_MS   2000
/* Store etcd: how long the thread waits for work before it reads the watch. */
#define S_ETCD_SYNC_MS 100

typedef struct {
    char *id;
    ilp_action_t action;
    il_service_t *service;
    char *error;      /* set when this item fails */
    bool took;        /* an address was taken from the pool for it */
    pool_addr_t addr; /* that address */
    bool released;    /* its address is released once the batch is committed */
} s_item_t;

struct _allocator_t {
    allocator_config_t config;
    pool_t *pool;
    alloc_db_t *db;
    ilp_client_t *client;
    zlistx_t *batch; /* s_item_t* waiting for the next flush */
    bool flush_armed;
    uint64_t allocated; /* counters for the log */
    uint64_t released;
    const char **reserved;  /* NULL-terminated, strings owned by config.reserved */
    uint64_t db_failures;   /* batches refused in a row as the db could not be read or written */
    int64_t db_said;        /* zclock_mono of the last line saying so, 0: none */
    bool db_down_said;      /* that line was the last one said about the db */
    alloc_etcd_t *etcd;     /* store etcd: the allocations (the thread's while it runs) */
    const char **endpoints; /* the etcd client's endpoints (strings: config's) */
    char where[512];        /* the db's path, or "etcd BASE" (for messages) */
    zactor_t *worker;       /* store etcd: runs the batches */
    bool busy;              /* a batch is with the worker */
    char etcd_error[1024];  /* of the last etcd batch with errors */
};

static void s_item_free(s_item_t **item_p)
{
    s_item_t *item = *item_p;
    if (!item) return;
    free(item->id);
    free(item->error);
    il_service_destroy(&item->service);
    free(item);
    *item_p = NULL;
}

/* Configuration -------------------------------------------------------------- */

/* ipam.ipalloc.store and the etcd keys: ipam.ipalloc.etcd when that section
 * is there, else core.etcd of the same file (one etcd for the core and the
 * allocators); INTERLOOK_ETCD_ENDPOINTS overrides the endpoints (containers). */
static int s_config_etcd(allocator_config_t *self, il_config_t *cfg, const char *const *known,
                         char *err, size_t errlen)
{
    const char *store = NULL;
    if (il_config_string(cfg, "ipam.ipalloc.store", "file", &store)) goto config_error;
    if (streq(store, "file")) {
        if (il_config_has(cfg, "ipam.ipalloc.etcd"))
            il_log_info("ipalloc: ipam.ipalloc.etcd is ignored with ipam.ipalloc.store: file");
        return 0;
    }
    if (!streq(store, "etcd")) {
        snprintf(err, errlen, "%s:%d: ipam.ipalloc.store: %s is neither file nor etcd",
                 il_config_name(cfg), il_config_line(cfg, "ipam.ipalloc.store"), store);
        return -1;
    }
    self->etcd = true;
    self->etcd_from = il_config_has(cfg, "ipam.ipalloc.etcd") ? "ipam.ipalloc.etcd" : "core.etcd";
    char key[64];
#define S_KEY(name) (snprintf(key, sizeof key, "%s.%s", self->etcd_from, name), key)
    if ((streq(self->etcd_from, "ipam.ipalloc.etcd") &&
         il_config_check_keys(cfg, "ipam.ipalloc.etcd", known)) ||
        il_config_list(cfg, S_KEY("endpoints"), &self->etcd_endpoints) ||
        il_config_string(cfg, S_KEY("prefix"), "/interlook", &self->etcd_prefix) ||
        il_config_string(cfg, S_KEY("tlsCa"), NULL, &self->etcd_tls_ca) ||
        il_config_string(cfg, S_KEY("tlsCert"), NULL, &self->etcd_tls_cert) ||
        il_config_string(cfg, S_KEY("tlsKey"), NULL, &self->etcd_tls_key) ||
        il_config_string(cfg, "ipam.ipalloc.etcd.pool", NULL, &self->etcd_pool))
        goto config_error;
#undef S_KEY
    const char *env = getenv("INTERLOOK_ETCD_ENDPOINTS");
    if (env && *env) {
        zlistx_purge(self->etcd_endpoints); /* the list copies what it is given */
        char *copy = il_strdup(env), *save = NULL;
        for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
            zlistx_add_end(self->etcd_endpoints, tok);
        free(copy);
    }
    if (zlistx_size(self->etcd_endpoints) == 0) {
        snprintf(err, errlen,
                 "%s: ipam.ipalloc.store: etcd needs etcd endpoints: ipam.ipalloc.etcd.endpoints "
                 "or core.etcd.endpoints (e.g. http://127.0.0.1:2379), or "
                 "INTERLOOK_ETCD_ENDPOINTS",
                 il_config_name(cfg));
        return -1;
    }
    if (*self->etcd_prefix != '/') {
        snprintf(err, errlen, "%s:%d: %s.prefix: %s does not start with /", il_config_name(cfg),
                 il_config_line(cfg, "ipam.ipalloc.etcd.prefix")
                     ?: il_config_line(cfg, "core.etcd.prefix"),
                 self->etcd_from, self->etcd_prefix);
        return -1;
    }
    if (self->etcd_pool && (!*self->etcd_pool || strchr(self->etcd_pool, '/'))) {
        snprintf(
            err, errlen, "%s:%d: ipam.ipalloc.etcd.pool: \"%s\" must be a non-empty name without /",
            il_config_name(cfg), il_config_line(cfg, "ipam.ipalloc.etcd.pool"), self->etcd_pool);
        return -1;
    }
    return 0;
config_error:
    snprintf(err, errlen, "%s", il_config_error(cfg));
    return -1;
}

int allocator_config_load(allocator_config_t *self, il_config_t *cfg, char *err, size_t errlen)
{
    static const char *const known[] = {"network_cidr", "ip_start", "ip_end",   "db_file",
                                        "reserved",     "credit",   "logLevel", "curveCert",
                                        "store",        "etcd",     NULL};
    static const char *const etcd_known[] = {"endpoints", "prefix", "tlsCa", "tlsCert",
                                             "tlsKey",    "pool",   NULL};
    memset(self, 0, sizeof *self);
    if (il_config_check_keys(cfg, "ipam.ipalloc", known) ||
        il_config_string(cfg, "ipam.ipalloc.network_cidr", NULL, &self->cidr) ||
        il_config_string(cfg, "ipam.ipalloc.ip_start", NULL, &self->ip_start) ||
        il_config_string(cfg, "ipam.ipalloc.ip_end", NULL, &self->ip_end) ||
        il_config_string(cfg, "ipam.ipalloc.db_file", "./var/ipalloc.db", &self->db_file) ||
        il_config_list(cfg, "ipam.ipalloc.reserved", &self->reserved) ||
        il_config_int(cfg, "ipam.ipalloc.credit", 100, 1, ILP_MAX_CREDIT, &self->credit) ||
        il_config_string(cfg, "ipam.ipalloc.logLevel", "info", &self->log_level)) {
        snprintf(err, errlen, "%s", il_config_error(cfg));
        return -1;
    }
    if (!self->cidr) {
        snprintf(err, errlen, "%s: ipam.ipalloc.network_cidr: missing (e.g. 10.32.30.0/24)",
                 il_config_name(cfg));
        return -1;
    }
    return s_config_etcd(self, cfg, etcd_known, err, errlen);
}

void allocator_config_clear(allocator_config_t *self)
{
    zlistx_destroy(&self->reserved);
    zlistx_destroy(&self->etcd_endpoints);
}

/* Keeping the pool in step with what other instances wrote to the db. */
static void s_on_db_change(void *arg, char op, const char *ip)
{
    allocator_t *self = arg;
    pool_addr_t addr;
    int family;
    if (op == '0') { /* the db is reloaded from scratch: so is the pool ('A's follow) */
        char err[256];
        pool_t *fresh = pool_new(self->config.cidr, self->config.ip_start, self->config.ip_end,
                                 self->reserved, err, sizeof err);
        if (!fresh) return; /* cannot happen: the same settings built the first one */
        pool_destroy(&self->pool);
        self->pool = fresh;
        return;
    }
    if (!ip || pool_addr_parse(ip, &addr, &family) != 0) return;
    if (op == 'A')
        pool_take(self->pool, addr);
    else if (op == 'R')
        pool_release(self->pool, addr);
}

typedef struct {
    allocator_t *self;
    size_t outside;
} s_load_t;

static void s_take_loaded(void *arg, const alloc_db_entry_t *entry)
{
    s_load_t *load = arg;
    pool_addr_t addr;
    int family;
    if (pool_addr_parse(entry->ip, &addr, &family) != 0 ||
        family != pool_family(load->self->pool) || pool_take(load->self->pool, addr) != 0) {
        il_log_warn("ipalloc: %s holds %s, outside the pool %s: kept, never handed out again",
                    entry->name, entry->ip, pool_describe(load->self->pool));
        load->outside++;
    }
}

/* config's reserved addresses as the NULL-terminated array pool_new takes
 * (the strings stay config's). */
static const char **s_reserved(const allocator_config_t *config)
{
    size_t n = 0, count = config->reserved ? zlistx_size(config->reserved) : 0;
    const char **reserved = il_calloc(count + 1, sizeof *reserved);
    if (config->reserved)
        for (const char *r = zlistx_first(config->reserved); r; r = zlistx_next(config->reserved))
            reserved[n++] = r;
    return reserved;
}

/* The etcd client's settings of config (endpoints: an array the caller frees). */
static il_etcd_config_t s_etcd_config(const allocator_config_t *config, const char ***endpoints)
{
    size_t n = 0, count = zlistx_size(config->etcd_endpoints);
    *endpoints = il_calloc(count + 1, sizeof **endpoints);
    for (const char *e = zlistx_first(config->etcd_endpoints); e;
         e = zlistx_next(config->etcd_endpoints))
        (*endpoints)[n++] = e;
    return (il_etcd_config_t){.endpoints = *endpoints,
                              .endpoint_count = n,
                              .tls_ca = config->etcd_tls_ca,
                              .tls_cert = config->etcd_tls_cert,
                              .tls_key = config->etcd_tls_key,
                              .timeout_ms = S_ETCD_CALL_MS,
                              .try_timeout_ms = S_ETCD_TRY_MS};
}

int allocator_config_check(const allocator_config_t *config, char *err, size_t errlen)
{
    char why[512];
    const char **reserved = s_reserved(config);
    pool_t *pool =
        pool_new(config->cidr, config->ip_start, config->ip_end, reserved, why, sizeof why);
    int rc = pool ? 0 : -1;
    if (!pool) snprintf(err, errlen, "ipam.ipalloc.%s", why);
    pool_destroy(&pool);
    free(reserved);
    if (rc == 0 && config->etcd) {
        const char **endpoints;
        il_etcd_config_t ec = s_etcd_config(config, &endpoints);
        il_etcd_t *etcd = il_etcd_new(&ec, why, sizeof why);
        if (!etcd) {
            snprintf(err, errlen, "%s: %s", config->etcd_from, why);
            rc = -1;
        }
        il_etcd_destroy(&etcd);
        free(endpoints);
    }
    return rc;
}

/* Reads the pool's allocations from etcd; with wait, an etcd that does not
 * answer (down, no quorum yet) is tried again with a back-off up to 5 s,
 * said when it starts and every minute, until it answers or a signal
 * (zsys_interrupted) ends the wait. */
static int s_etcd_load(allocator_t *self, bool wait, char *why, size_t whylen)
{
    int64_t backoff = 200, said = 0;
    while (alloc_etcd_load(self->etcd, why, whylen) != 0) {
        if (!wait || zsys_interrupted) return -1;
        int64_t now = zclock_mono();
        if (!said || now - said >= 60000) {
            il_log_warn("ipalloc: waiting for %s: %s", self->where, why);
            said = now;
        }
        for (int64_t slept = 0; slept < backoff && !zsys_interrupted; slept += 50)
            zclock_sleep(50);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    if (said) il_log_info("ipalloc: %s answers", self->where);
    return 0;
}

allocator_t *allocator_new(const allocator_config_t *config, char *err, size_t errlen)
{
    allocator_t *self = il_calloc(1, sizeof *self);
    self->config = *config;
    self->reserved = s_reserved(config);
    self->pool =
        pool_new(config->cidr, config->ip_start, config->ip_end, self->reserved, err, errlen);
    if (!self->pool) goto fail;
    if (config->etcd) {
        char pool_key[128], why[1024];
        if (!config->etcd_pool) alloc_etcd_pool_key(config->cidr, pool_key, sizeof pool_key);
        il_etcd_config_t ec = s_etcd_config(config, &self->endpoints);
        self->etcd = alloc_etcd_new(&ec, config->etcd_prefix,
                                    config->etcd_pool ? config->etcd_pool : pool_key, self->pool,
                                    why, sizeof why);
        self->pool = NULL; /* the store's now */
        if (!self->etcd) {
            snprintf(err, errlen, "%s: %s", config->etcd_from, why);
            goto fail;
        }
        snprintf(self->where, sizeof self->where, "etcd %s", alloc_etcd_base(self->etcd));
        if (s_etcd_load(self, config->etcd_wait, why, sizeof why) != 0) {
            snprintf(err, errlen, "cannot read the allocations from %s: %s", self->where, why);
            goto fail;
        }
        self->batch = zlistx_new();
        zlistx_set_destructor(self->batch, (zlistx_destructor_fn *)s_item_free);
        pool_t *pool = alloc_etcd_pool(self->etcd);
        il_log_info("ipalloc: pool %s (%llu free), %zu allocations in %s", pool_describe(pool),
                    (unsigned long long)pool_free_count(pool), alloc_etcd_count(self->etcd),
                    self->where);
        return self;
    }
    self->db = alloc_db_open(config->db_file, err, errlen);
    if (!self->db) goto fail;
    snprintf(self->where, sizeof self->where, "%s", alloc_db_path(self->db));
    s_load_t load = {self, 0};
    alloc_db_foreach(self->db, s_take_loaded, &load);
    alloc_db_set_observer(self->db, s_on_db_change, self);
    self->batch = zlistx_new();
    zlistx_set_destructor(self->batch, (zlistx_destructor_fn *)s_item_free);
    il_log_info("ipalloc: pool %s (%llu free), %zu allocations in %s", pool_describe(self->pool),
                (unsigned long long)pool_free_count(self->pool), alloc_db_count(self->db),
                self->where);
    return self;
fail:
    allocator_destroy(&self);
    return NULL;
}

void allocator_destroy(allocator_t **self_p)
{
    if (!self_p || !*self_p) return;
    allocator_t *self = *self_p;
    zactor_destroy(&self->worker); /* before the store it uses */
    ilp_client_destroy(&self->client);
    zlistx_destroy(&self->batch);
    alloc_db_destroy(&self->db);
    alloc_etcd_destroy(&self->etcd);
    free(self->endpoints);
    pool_destroy(&self->pool);
    free(self->reserved);
    free(self);
    *self_p = NULL;
}

/* Deciding one item (inside a db batch) ------------------------------------- */

static void s_item_error(s_item_t *item, const char *fmt, const char *arg)
{
    char text[ILP_MAX_TEXT];
    snprintf(text, sizeof text, fmt, arg);
    free(item->error);
    item->error = il_strdup(text);
}

static void s_decide_add(allocator_t *self, s_item_t *item, int64_t now)
{
    const char *name = item->service->name;
    const char *held = alloc_db_ip_of(self->db, name);
    if (held) { /* idempotent: the same service gets the same address */
        il_service_set_string(&item->service->public_ip, held);
        return;
    }
    pool_addr_t addr;
    int family;
    const char *wanted = item->service->public_ip;
    /* A service that comes with an address it still may hold keeps it. */
    bool reuse = wanted && pool_addr_parse(wanted, &addr, &family) == 0 &&
                 family == pool_family(self->pool) && !alloc_db_holder_of(self->db, wanted) &&
                 pool_take(self->pool, addr) == 0;
    if (!reuse && pool_take_lowest(self->pool, &addr) != 0) {
        s_item_error(item, "no free address in %s", pool_describe(self->pool));
        return;
    }
    char text[64];
    pool_addr_format(addr, pool_family(self->pool), text, sizeof text);
    if (alloc_db_stage_allocate(self->db, name, text, now) != 0) {
        pool_release(self->pool, addr);
        s_item_error(item, "cannot record an allocation for %s", name);
        return;
    }
    item->took = true;
    item->addr = addr;
    il_service_set_string(&item->service->public_ip, text);
}

static void s_decide_delete(allocator_t *self, s_item_t *item, int64_t now)
{
    const char *held = alloc_db_ip_of(self->db, item->service->name);
    if (held) {
        int family;
        if (pool_addr_parse(held, &item->addr, &family) == 0) item->released = true;
        alloc_db_stage_release(self->db, item->service->name, now);
    }
    /* A service without an address is released already: success. */
    il_service_set_string(&item->service->public_ip, NULL);
}

/* The batch: decide all, commit once, answer all -------------------------------- */

static void s_answer(allocator_t *self, s_item_t *item)
{
    if (item->error && self->db_failures > 0) /* said once for all (s_db_failed) */
        il_log_debug("ipalloc: %s %s: %s", ilp_action_name(item->action), item->service->name,
                     item->error);
    else if (item->error)
        il_log_warn("ipalloc: %s %s: %s", ilp_action_name(item->action), item->service->name,
                    item->error);
    else
        il_log_debug("ipalloc: %s %s -> %s", ilp_action_name(item->action), item->service->name,
                     item->service->public_ip ? item->service->public_ip : "(none)");
    ilp_client_reply(self->client, item->id, item->error, item->error ? NULL : item->service);
}

static void s_flush(allocator_t *self);

/* The db cannot be read or written (a full disk: ENOSPC, EDQUOT; an I/O
 * error): said once, with the path and the error, and again at most once a
 * minute while it lasts (a nearly full disk lets small commits through
 * between failures); every batch meanwhile is answered with the error,
 * nothing is acknowledged that is not on disk. */
#define S_DB_SAY_MS 60000

static void s_db_failed(allocator_t *self, const char *err)
{
    self->db_failures++;
    int64_t now = zclock_mono();
    if (self->db_said && now - self->db_said < S_DB_SAY_MS) {
        il_log_debug("ipalloc: %s", err);
        return;
    }
    il_log_error("ipalloc: %s; answering errors until it can be written again (retried with "
                 "each batch)",
                 err);
    self->db_said = now;
    self->db_down_said = true;
}

static void s_db_worked(allocator_t *self)
{
    if (self->db_failures == 0) return;
    il_log_write(self->db_down_said ? IL_LOG_INFO : IL_LOG_DEBUG,
                 "ipalloc: %s written again, after %llu batches refused", self->where,
                 (unsigned long long)self->db_failures);
    self->db_failures = 0;
    self->db_down_said = false;
}

/* Store etcd ------------------------------------------------------------------ */

/* On the worker: settles the batch's items in etcd (public_ip / error set). */
static void s_etcd_batch(allocator_t *self, zlistx_t *batch)
{
    size_t n = zlistx_size(batch), i = 0;
    alloc_etcd_req_t *reqs = il_calloc(n ? n : 1, sizeof *reqs);
    s_item_t **items = il_calloc(n ? n : 1, sizeof *items);
    for (s_item_t *item = zlistx_first(batch); item; item = zlistx_next(batch), i++) {
        items[i] = item;
        reqs[i].name = item->service->name;
        reqs[i].release = item->action != ILP_ACTION_ADD;
        reqs[i].wanted = item->service->public_ip;
    }
    alloc_etcd_apply(self->etcd, reqs, n, zclock_mono() + S_ETCD_BATCH_MS);
    self->etcd_error[0] = '\0';
    for (i = 0; i < n; i++) {
        s_item_t *item = items[i];
        if (reqs[i].error[0]) {
            s_item_error(item, "%s", reqs[i].error);
            if (!self->etcd_error[0] && strncmp(reqs[i].error, "etcd:", 5) == 0)
                snprintf(self->etcd_error, sizeof self->etcd_error, "%s: %s", self->where,
                         reqs[i].error);
        } else if (reqs[i].release) {
            item->released = reqs[i].ip[0] != '\0';
            il_service_set_string(&item->service->public_ip, NULL);
        } else {
            item->took = reqs[i].created;
            il_service_set_string(&item->service->public_ip, reqs[i].ip);
        }
    }
    free(items);
    free(reqs);
}

/* The worker thread: batches from the pipe, the watch in between. */
static void s_worker(zsock_t *pipe, void *arg)
{
    allocator_t *self = arg;
    zpoller_t *poller = zpoller_new(pipe, NULL);
    zpoller_set_nonstop(poller, true); /* SIGINT stops the loop; the thread waits for $TERM */
    zsock_signal(pipe, 0);
    char err[1024];
    int64_t said = 0;
    for (;;) {
        void *which = zpoller_wait(poller, S_ETCD_SYNC_MS);
        if (which != pipe) {
            if (alloc_etcd_sync(self->etcd, 0, err, sizeof err) != 0 &&
                zclock_mono() - said > S_DB_SAY_MS) {
                il_log_warn("ipalloc: watching %s: %s (retried)", self->where, err);
                said = zclock_mono();
            }
            continue;
        }
        char *command = NULL;
        void *batch = NULL;
        if (zsock_recv(pipe, "sp", &command, &batch) != 0) break;
        if (!command || streq(command, "$TERM")) {
            free(command);
            break;
        }
        alloc_etcd_sync(self->etcd, 0, err, sizeof err); /* fresher view, fewer lost races */
        s_etcd_batch(self, batch);
        zsock_send(pipe, "sp", "DONE", batch);
        free(command);
    }
    zpoller_destroy(&poller);
}

/* Hands the waiting work to the worker, unless it is busy with a batch. */
static void s_etcd_send(allocator_t *self)
{
    if (self->busy || zlistx_size(self->batch) == 0) return;
    zlistx_t *batch = self->batch;
    self->batch = zlistx_new();
    zlistx_set_destructor(self->batch, (zlistx_destructor_fn *)s_item_free);
    self->busy = true;
    zsock_send(self->worker, "sp", "BATCH", batch);
}

/* A batch back from the worker: committed in etcd (or failed): answered together. */
static int s_on_done(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    allocator_t *self = arg;
    char *command = NULL;
    void *ptr = NULL;
    if (zsock_recv(reader, "sp", &command, &ptr) != 0 || !ptr) {
        free(command);
        return 0;
    }
    free(command);
    zlistx_t *batch = ptr;
    self->busy = false;
    if (self->etcd_error[0])
        s_db_failed(self, self->etcd_error);
    else
        s_db_worked(self);
    ilp_client_batch_begin(self->client);
    for (s_item_t *item = zlistx_first(batch); item; item = zlistx_next(batch)) {
        if (item->released) self->released++;
        if (item->took) self->allocated++;
        s_answer(self, item);
    }
    ilp_client_batch_end(self->client);
    zlistx_destroy(&batch);
    s_etcd_send(self);
    return 0;
}

/* The answers of one batch leave together (several RESULTs a message). */
static int s_on_flush(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    allocator_t *self = arg;
    self->flush_armed = false;
    if (self->etcd) {
        s_etcd_send(self);
        return 0;
    }
    ilp_client_batch_begin(self->client);
    s_flush(self);
    ilp_client_batch_end(self->client);
    return 0;
}

static void s_flush(allocator_t *self)
{
    char err[512];
    int64_t now = zclock_time();
    if (alloc_db_begin(self->db, err, sizeof err) != 0) {
        s_db_failed(self, err);
        for (s_item_t *item = zlistx_first(self->batch); item; item = zlistx_next(self->batch)) {
            s_item_error(item, "allocation database unavailable: %s", err);
            s_answer(self, item);
        }
        zlistx_purge(self->batch);
        return;
    }
    for (s_item_t *item = zlistx_first(self->batch); item; item = zlistx_next(self->batch)) {
        if (item->action == ILP_ACTION_ADD)
            s_decide_add(self, item, now);
        else
            s_decide_delete(self, item, now);
    }
    if (alloc_db_commit(self->db, err, sizeof err) != 0) {
        s_db_failed(self, err);
        for (s_item_t *item = zlistx_first(self->batch); item; item = zlistx_next(self->batch)) {
            if (item->took) pool_release(self->pool, item->addr);
            if (!item->error) s_item_error(item, "cannot record the change: %s", err);
            s_answer(self, item);
        }
        zlistx_purge(self->batch);
        return;
    }
    s_db_worked(self);
    /* On disk: now the pool may reuse released addresses, and peers may hear. */
    for (s_item_t *item = zlistx_first(self->batch); item; item = zlistx_next(self->batch)) {
        if (item->released) {
            pool_release(self->pool, item->addr);
            self->released++;
        }
        if (item->took) self->allocated++;
        s_answer(self, item);
    }
    zlistx_purge(self->batch);
}

static void s_on_work(ilp_client_t *client, ilp_msg_t *work, void *arg)
{
    allocator_t *self = arg;
    s_item_t *item = il_calloc(1, sizeof *item);
    item->id = il_strdup(work->id);
    item->action = work->action;
    item->service = work->service;
    work->service = NULL;
    zlistx_add_end(self->batch, item);
    /* Everything that arrives before the loop turns goes into the same batch. */
    if (zlistx_size(self->batch) >= S_MAX_BATCH && !self->busy) {
        s_on_flush(NULL, 0, self);
    } else if (!self->flush_armed) {
        self->flush_armed = true;
        zloop_timer(ilp_client_loop(client), 1, 1, s_on_flush, self);
    }
}

int allocator_run(allocator_t *self, const ilp_client_config_t *client_config)
{
    ilp_client_handler_t handler = {.work = s_on_work};
    self->client = ilp_client_new(client_config, &handler, self);
    if (!self->client) return -1;
    if (self->etcd) {
        self->worker = zactor_new(s_worker, self);
        zloop_reader(ilp_client_loop(self->client), zactor_sock(self->worker), s_on_done, self);
    }
    ilp_client_run(self->client);
    il_log_info("ipalloc: stopping (%llu allocated, %llu released in this run)",
                (unsigned long long)self->allocated, (unsigned long long)self->released);
    return 0;
}

/* Listing ------------------------------------------------------------------------ */

typedef struct {
    pool_addr_t addr;
    const alloc_db_entry_t *entry;
    alloc_db_entry_t copy;
} s_row_t;

static void s_collect(void *arg, const alloc_db_entry_t *entry)
{
    zlistx_t *rows = arg;
    s_row_t *row = il_calloc(1, sizeof *row);
    int family;
    if (pool_addr_parse(entry->ip, &row->addr, &family) != 0) row->addr = 0;
    row->copy.name = il_strdup(entry->name);
    row->copy.ip = il_strdup(entry->ip);
    row->copy.time_ms = entry->time_ms;
    zlistx_add_end(rows, row);
}

static int s_row_cmp(const void *a, const void *b)
{
    const s_row_t *ra = a, *rb = b;
    return ra->addr < rb->addr ? -1 : ra->addr > rb->addr;
}

static void s_row_free(s_row_t **row_p)
{
    s_row_t *row = *row_p;
    if (!row) return;
    free((char *)row->copy.name);
    free((char *)row->copy.ip);
    free(row);
    *row_p = NULL;
}

static void s_collect_etcd(void *arg, const char *name, const char *ip)
{
    alloc_db_entry_t entry = {.name = name, .ip = ip, .time_ms = -1};
    s_collect(arg, &entry);
}

void allocator_list(allocator_t *self, FILE *out)
{
    zlistx_t *rows = zlistx_new();
    zlistx_set_destructor(rows, (zlistx_destructor_fn *)s_row_free);
    zlistx_set_comparator(rows, (zlistx_comparator_fn *)s_row_cmp);
    if (self->etcd)
        alloc_etcd_foreach(self->etcd, s_collect_etcd, rows);
    else
        alloc_db_foreach(self->db, s_collect, rows);
    zlistx_sort(rows);
    pool_t *pool = self->etcd ? alloc_etcd_pool(self->etcd) : self->pool;
    fprintf(out, "%-40s %-39s %s\n", "SERVICE", "IP", "ALLOCATED");
    for (s_row_t *row = zlistx_first(rows); row; row = zlistx_next(rows)) {
        time_t secs = (time_t)(row->copy.time_ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char when[32] = "-"; /* etcd keeps no time */
        if (row->copy.time_ms >= 0) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(out, "%-40s %-39s %s\n", row->copy.name, row->copy.ip, when);
    }
    fprintf(out, "%zu allocations in %s; pool %s, %llu free\n", zlistx_size(rows), self->where,
            pool_describe(pool), (unsigned long long)pool_free_count(pool));
    zlistx_destroy(&rows);
}

/* Import ------------------------------------------------------------------------ */

/* Entries of one import chunk (each a txn's worth at most 64; etcd settles
 * them 64 a txn; a chunk of 1024 keeps the deadline meaningful). */
#define S_IMPORT_CHUNK 1024

static void s_collect_entry(void *arg, const alloc_db_entry_t *entry)
{
    zlistx_t *list = arg;
    zlistx_add_end(list, il_strdup(entry->name));
    zlistx_add_end(list, il_strdup(entry->ip));
}

int allocator_import(allocator_t *self, const char *path, FILE *out, FILE *err_out)
{
    if (!self->etcd) {
        fprintf(err_out, "interlook-ipalloc: --import loads a file db into etcd: set "
                         "ipam.ipalloc.store: etcd\n");
        return -1;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(err_out, "interlook-ipalloc: --import %s: %s\n", path, strerror(errno));
        return -1;
    }
    char err[1024];
    alloc_db_t *db = alloc_db_open(path, err, sizeof err);
    if (!db) {
        fprintf(err_out, "interlook-ipalloc: --import: %s\n", err);
        return -1;
    }
    zlistx_t *pairs = zlistx_new(); /* name, ip, name, ip... */
    zlistx_set_destructor(pairs, (zlistx_destructor_fn *)zstr_free);
    alloc_db_foreach(db, s_collect_entry, pairs);
    alloc_db_destroy(&db);
    size_t total = zlistx_size(pairs) / 2, created = 0, present = 0, failed = 0;
    alloc_etcd_req_t *reqs = il_calloc(S_IMPORT_CHUNK, sizeof *reqs);
    const char *name = zlistx_first(pairs);
    while (name) {
        size_t n = 0;
        while (name && n < S_IMPORT_CHUNK) {
            const char *ip = zlistx_next(pairs);
            reqs[n++] = (alloc_etcd_req_t){.name = name, .wanted = ip, .fixed = true};
            name = zlistx_next(pairs);
        }
        alloc_etcd_apply(self->etcd, reqs, n, zclock_mono() + 3 * S_ETCD_BATCH_MS);
        for (size_t i = 0; i < n; i++) {
            if (reqs[i].error[0]) {
                fprintf(err_out, "interlook-ipalloc: --import: %s %s: %s\n", reqs[i].name,
                        reqs[i].wanted, reqs[i].error);
                failed++;
            } else if (reqs[i].created)
                created++;
            else
                present++;
        }
    }
    free(reqs);
    zlistx_destroy(&pairs);
    fprintf(out,
            "%zu allocations in %s: %zu imported into %s, %zu there already, %zu not imported\n",
            total, path, created, self->where, present, failed);
    return failed ? -1 : 0;
}
