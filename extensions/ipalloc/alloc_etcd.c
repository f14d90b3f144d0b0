/* alloc_etcd: the IP allocator's allocations in etcd, see alloc_etcd.h. */
#include "extensions/ipalloc/alloc_etcd.h"
#include "common/alloc.h"
#include "common/log.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Requests in one txn: each adds 2 compares, 2 puts and 2 reads. */
#define S_PER_TXN (IL_ETCD_MAX_TXN_OPS / 2)
/* Pause before a txn is sent again after an error (etcd without a leader). */
#define S_RETRY_MS 200
/* The lane (see alloc_etcd.h): first drawn among the lowest S_LANE_MIN free
 * addresses, the window doubling on each lost race until S_LANE_MAX (and at
 * most a quarter of the free addresses, so that a small pool stays packed);
 * after S_LANE_CALM allocation txns without a lost race, the lowest again. */
#define S_LANE_MIN  512
#define S_LANE_MAX  4096
#define S_LANE_CALM 64

struct _alloc_etcd_t {
    il_etcd_t *etcd;
    char *base;    /* <prefix>/ipalloc/<pool>/ */
    char *ip_base; /* base + "ip/" */
    pool_t *pool;
    zhashx_t *by_name; /* name -> ip (strings owned) */
    zhashx_t *by_ip;   /* ip -> name */
    il_etcd_watch_t *watch;
    uint64_t txns, conflicts, lost;
    bool spread;    /* a lost race moves the lane (else: always the lowest, the former policy) */
    uint64_t lane;  /* rank among the free addresses new candidates are taken from (0: lowest) */
    uint64_t width; /* the window the lane was last drawn from (0: none yet) */
    unsigned calm;  /* allocation txns since the last lost race */
    uint64_t rng;   /* xorshift64 state, never 0 */
};

char *alloc_etcd_pool_key(const char *cidr, char *buf, size_t buflen)
{
    snprintf(buf, buflen, "%s", cidr);
    for (char *p = buf; *p; p++)
        if (*p == '/') *p = '_';
    return buf;
}

static zhashx_t *s_map(void)
{
    zhashx_t *map = zhashx_new();
    zhashx_set_destructor(map, (zhashx_destructor_fn *)zstr_free);
    return map;
}

alloc_etcd_t *alloc_etcd_new(const il_etcd_config_t *config, const char *prefix,
                             const char *pool_key, pool_t *pool, char *err, size_t errlen)
{
    il_etcd_t *etcd = il_etcd_new(config, err, errlen);
    if (!etcd) {
        pool_destroy(&pool);
        return NULL;
    }
    alloc_etcd_t *self = il_calloc(1, sizeof *self);
    self->etcd = etcd;
    size_t plen = strlen(prefix);
    while (plen > 0 && prefix[plen - 1] == '/')
        plen--;
    self->base = zsys_sprintf("%.*s/ipalloc/%s/", (int)plen, prefix, pool_key);
    self->ip_base = zsys_sprintf("%sip/", self->base);
    self->pool = pool;
    self->by_name = s_map();
    self->by_ip = s_map();
    self->spread = true;
    /* splitmix64 of time, pid and address: allocators started together draw apart */
    uint64_t seed = (uint64_t)zclock_usecs() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)self;
    seed += 0x9E3779B97F4A7C15u;
    seed = (seed ^ (seed >> 30)) * 0xBF58476D1CE4E5B9u;
    seed = (seed ^ (seed >> 27)) * 0x94D049BB133111EBu;
    seed ^= seed >> 31;
    self->rng = seed ? seed : 0x2545F4914F6CDD1Du;
    return self;
}

void alloc_etcd_destroy(alloc_etcd_t **self_p)
{
    if (!self_p || !*self_p) return;
    alloc_etcd_t *self = *self_p;
    il_etcd_watch_destroy(&self->watch);
    il_etcd_destroy(&self->etcd);
    zhashx_destroy(&self->by_name);
    zhashx_destroy(&self->by_ip);
    pool_destroy(&self->pool);
    zstr_free(&self->base);
    zstr_free(&self->ip_base);
    free(self);
    *self_p = NULL;
}

/* The view ----------------------------------------------------------------- */

static bool s_parse(alloc_etcd_t *self, const char *ip, pool_addr_t *addr)
{
    int family;
    return pool_addr_parse(ip, addr, &family) == 0 && family == pool_family(self->pool);
}

/* Forgets that ip is held (and frees it in the pool). */
static void s_view_del_ip(alloc_etcd_t *self, const char *ip)
{
    const char *holder = zhashx_lookup(self->by_ip, ip);
    if (!holder) return;
    const char *held = zhashx_lookup(self->by_name, holder);
    if (held && streq(held, ip)) zhashx_delete(self->by_name, holder);
    zhashx_delete(self->by_ip, ip);
    pool_addr_t addr;
    if (s_parse(self, ip, &addr)) pool_release(self->pool, addr);
}

/* Records that name holds ip (and that name holds nothing else). */
static void s_view_add(alloc_etcd_t *self, const char *name, const char *ip)
{
    const char *old = zhashx_lookup(self->by_name, name);
    if (old && !streq(old, ip)) {
        char *copy = il_strdup(old);
        s_view_del_ip(self, copy);
        free(copy);
    }
    const char *holder = zhashx_lookup(self->by_ip, ip);
    if (holder && !streq(holder, name)) {
        const char *held = zhashx_lookup(self->by_name, holder);
        if (held && streq(held, ip)) zhashx_delete(self->by_name, holder);
    }
    zhashx_update(self->by_name, name, il_strdup(ip));
    zhashx_update(self->by_ip, ip, il_strdup(name));
    pool_addr_t addr;
    if (s_parse(self, ip, &addr)) pool_take(self->pool, addr);
}

static void s_view_clear(alloc_etcd_t *self)
{
    for (const char *name = zhashx_first(self->by_ip); name; name = zhashx_next(self->by_ip)) {
        pool_addr_t addr;
        if (s_parse(self, zhashx_cursor(self->by_ip), &addr)) pool_release(self->pool, addr);
    }
    zhashx_purge(self->by_ip);
    zhashx_purge(self->by_name);
}

int alloc_etcd_load(alloc_etcd_t *self, char *err, size_t errlen)
{
    il_etcd_range_t r;
    if (il_etcd_get_prefix(self->etcd, self->ip_base, 0, 0, &r, err, errlen) != 0) return -1;
    s_view_clear(self);
    size_t skip = strlen(self->ip_base);
    for (size_t i = 0; i < r.count; i++) {
        const char *ip = r.kvs[i].key + skip;
        pool_addr_t addr;
        if (!s_parse(self, ip, &addr) || !pool_is_free(self->pool, addr))
            il_log_warn("ipalloc: %s holds %s, outside the pool %s or reserved: kept, never "
                        "handed out",
                        r.kvs[i].value, ip, pool_describe(self->pool));
        s_view_add(self, r.kvs[i].value, ip);
    }
    il_etcd_watch_destroy(&self->watch);
    self->watch = il_etcd_watch_new(self->etcd, self->ip_base, true, r.revision + 1, err, errlen);
    il_etcd_range_free(&r);
    return self->watch ? 0 : -1;
}

int alloc_etcd_sync(alloc_etcd_t *self, int timeout_ms, char *err, size_t errlen)
{
    if (!self->watch) return alloc_etcd_load(self, err, errlen);
    size_t skip = strlen(self->ip_base);
    for (;;) {
        il_etcd_events_t ev;
        int rc = il_etcd_watch_next(self->watch, timeout_ms, &ev, err, errlen);
        if (rc == IL_ETCD_COMPACTED) {
            il_log_info("ipalloc: %s; reading %s again", err, self->base);
            return alloc_etcd_load(self, err, errlen);
        }
        if (rc != 0) return -1;
        size_t n = ev.count;
        for (size_t i = 0; i < ev.count; i++) {
            const il_etcd_kv_t *kv = &ev.events[i].kv;
            if (strncmp(kv->key, self->ip_base, skip) != 0) continue;
            if (ev.events[i].type == IL_ETCD_PUT)
                s_view_add(self, kv->value, kv->key + skip);
            else
                s_view_del_ip(self, kv->key + skip);
        }
        il_etcd_events_free(&ev);
        if (n == 0) return 0;
        timeout_ms = 0; /* drain what is there, then return */
    }
}

/* Settling requests -------------------------------------------------------------- */

static char *s_key(alloc_etcd_t *self, const char *kind, const char *what)
{
    return zsys_sprintf("%s%s/%s", self->base, kind, what);
}

/* The reads of a failed txn, by key. */
static zhashx_t *s_found(const il_etcd_range_t *r)
{
    zhashx_t *found = s_map();
    for (size_t i = 0; i < r->count; i++)
        zhashx_update(found, r->kvs[i].key, il_strdup(r->kvs[i].value));
    return found;
}

static void __attribute__((format(printf, 2, 3)))
s_fail(alloc_etcd_req_t *req, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(req->error, sizeof req->error, fmt, args);
    va_end(args);
    req->done = true;
}

/* Copies text into a buffer of size bytes, cut if need be. */
static void s_copy(char *buf, size_t size, const char *text)
{
    size_t len = strnlen(text, size - 1);
    memcpy(buf, text, len);
    buf[len] = '\0';
}

/* Gives back a candidate taken from the pool that no one holds. */
static void s_drop_cand(alloc_etcd_t *self, alloc_etcd_req_t *req)
{
    if (req->has_cand && req->took) {
        char text[64];
        pool_addr_format(req->cand, pool_family(self->pool), text, sizeof text);
        if (!zhashx_lookup(self->by_ip, text)) pool_release(self->pool, req->cand);
    }
    req->has_cand = req->took = false;
}

/* After an allocation txn: one more without a lost race (lost: false), or a
 * lost race for a lane candidate: a new lane, drawn among the lowest free
 * addresses in a window twice the last (see S_LANE_*). */
static void s_lane_after(alloc_etcd_t *self, bool lost)
{
    if (!self->spread) return;
    if (!lost) {
        if (self->lane != 0 && ++self->calm >= S_LANE_CALM) {
            il_log_debug("ipalloc: %s: no race lost in %u txns: the lowest free address again",
                         self->base, self->calm);
            self->lane = self->width = 0;
        }
        return;
    }
    self->calm = 0;
    uint64_t width = self->width ? self->width * 2 : S_LANE_MIN;
    if (width > S_LANE_MAX) width = S_LANE_MAX;
    uint64_t quarter = pool_free_count(self->pool) / 4;
    if (width > quarter) width = quarter;
    uint64_t x = self->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    self->rng = x;
    self->width = width;
    self->lane = width ? x % width : 0;
    il_log_debug("ipalloc: %s: lost a race for an address: new candidates from the free address "
                 "of rank %llu (drawn among the lowest %llu)",
                 self->base, (unsigned long long)self->lane, (unsigned long long)width);
}

static void s_view_forget(alloc_etcd_t *self, const char *name);

/* Picks the address to try for req. false when settled (an error). */
static bool s_pick(alloc_etcd_t *self, alloc_etcd_req_t *req)
{
    if (req->has_cand) return true;
    req->laned = req->known = false;
    pool_addr_t addr;
    int family;
    if (req->fixed) {
        if (!req->wanted || pool_addr_parse(req->wanted, &addr, &family) != 0) {
            s_fail(req, "%s: not an address: %s", req->name, req->wanted ? req->wanted : "(none)");
            return false;
        }
        req->cand = addr;
        req->took = family == pool_family(self->pool) && pool_take(self->pool, addr) == 0;
        req->has_cand = true;
        return true;
    }
    const char *held = zhashx_lookup(self->by_name, req->name);
    if (held && s_parse(self, held, &addr)) { /* the same one again (the txn checks) */
        req->cand = addr;
        req->took = false;
        req->known = true;
    } else if (req->wanted && s_parse(self, req->wanted, &addr) &&
               !zhashx_lookup(self->by_ip, req->wanted) && pool_take(self->pool, addr) == 0) {
        req->cand = addr;
        req->took = true;
    } else if ((self->lane ? pool_take_nth(self->pool, self->lane, &addr)
                           : pool_take_lowest(self->pool, &addr)) == 0) {
        req->cand = addr;
        req->took = true;
        req->laned = true;
    } else {
        s_fail(req, "no free address in %s", pool_describe(self->pool));
        return false;
    }
    req->has_cand = true;
    return true;
}

/* Allocations, none of whose names repeats: txns of S_PER_TXN until each is settled. */
static void s_allocate(alloc_etcd_t *self, alloc_etcd_req_t *reqs, size_t count,
                       int64_t deadline_ms)
{
    char err[1024] = "";
    int family = pool_family(self->pool);
    for (;;) {
        alloc_etcd_req_t *chosen[S_PER_TXN];
        char cand_text[S_PER_TXN][64];
        size_t n = 0;
        for (size_t i = 0; i < count && n < S_PER_TXN; i++)
            if (!reqs[i].done && s_pick(self, &reqs[i])) chosen[n++] = &reqs[i];
        if (n == 0) return;
        if (zclock_mono() >= deadline_ms) {
            for (size_t i = 0; i < count; i++)
                if (!reqs[i].done) {
                    s_drop_cand(self, &reqs[i]);
                    s_fail(&reqs[i], "etcd: not committed in time: %s", *err ? err : "no answer");
                }
            return;
        }
        il_etcd_txn_t *txn = il_etcd_txn_new();
        for (size_t k = 0; k < n; k++) {
            int cand_family = family; /* an import may bring the other family */
            pool_addr_t unused;
            if (chosen[k]->fixed) pool_addr_parse(chosen[k]->wanted, &unused, &cand_family);
            pool_addr_format(chosen[k]->cand, cand_family, cand_text[k], sizeof cand_text[k]);
            char *ipk = s_key(self, "ip", cand_text[k]);
            char *svck = s_key(self, "svc", chosen[k]->name);
            if (chosen[k]->known) { /* held as the view says: checked, not created again */
                il_etcd_txn_compare_value(txn, ipk, IL_ETCD_EQUAL, chosen[k]->name,
                                          strlen(chosen[k]->name));
                il_etcd_txn_compare_value(txn, svck, IL_ETCD_EQUAL, cand_text[k],
                                          strlen(cand_text[k]));
            } else {
                il_etcd_txn_compare(txn, ipk, IL_ETCD_CREATE_REVISION, IL_ETCD_EQUAL, 0);
                il_etcd_txn_compare(txn, svck, IL_ETCD_CREATE_REVISION, IL_ETCD_EQUAL, 0);
                il_etcd_txn_put(txn, true, ipk, chosen[k]->name, strlen(chosen[k]->name), 0);
                il_etcd_txn_put(txn, true, svck, cand_text[k], strlen(cand_text[k]), 0);
            }
            il_etcd_txn_get(txn, false, ipk, false);
            il_etcd_txn_get(txn, false, svck, false);
            zstr_free(&ipk);
            zstr_free(&svck);
        }
        bool ok = false;
        il_etcd_range_t got = {0};
        int rc = il_etcd_txn_commit(self->etcd, txn, &ok, &got, err, sizeof err);
        il_etcd_txn_destroy(&txn);
        if (rc != 0) { /* unknown outcome: sent again with the same addresses */
            il_log_debug("ipalloc: %s (sent again)", err);
            int64_t left = deadline_ms - zclock_mono();
            if (left > 0) zclock_sleep((int)(left < S_RETRY_MS ? left : S_RETRY_MS));
            continue;
        }
        self->txns++;
        if (ok) {
            s_lane_after(self, false);
            for (size_t k = 0; k < n; k++) {
                s_view_add(self, chosen[k]->name, cand_text[k]);
                s_copy(chosen[k]->ip, sizeof chosen[k]->ip, cand_text[k]);
                chosen[k]->created = !chosen[k]->known;
                chosen[k]->done = true;
            }
            il_etcd_range_free(&got);
            continue;
        }
        self->conflicts++;
        zhashx_t *found = s_found(&got);
        il_etcd_range_free(&got);
        bool lane_lost = false;
        for (size_t k = 0; k < n; k++) {
            alloc_etcd_req_t *req = chosen[k];
            char *ipk = s_key(self, "ip", cand_text[k]);
            char *svck = s_key(self, "svc", req->name);
            const char *holder = zhashx_lookup(found, ipk);
            const char *held = zhashx_lookup(found, svck);
            req->rounds++;
            if (holder && !streq(holder, req->name)) {
                self->lost++;
                if (req->laned) lane_lost = true;
            }
            if (held) { /* it has one: that one (the same when our earlier try went through) */
                if (holder) s_view_add(self, holder, cand_text[k]);
                if (!holder || !streq(holder, req->name)) s_drop_cand(self, req);
                s_view_add(self, req->name, held);
                s_copy(req->ip, sizeof req->ip, held);
                req->done = true;
                if (req->fixed && !streq(held, cand_text[k]))
                    s_fail(req, "%s holds %s in etcd (not imported)", req->name, held);
            } else if (holder) { /* another service took it: the next one */
                s_view_add(self, holder, cand_text[k]);
                req->has_cand = req->took = false;
                if (req->fixed)
                    s_fail(req, "%s is held by %s in etcd (not imported)", cand_text[k], holder);
            } else if (req->known) { /* released meanwhile: the view was behind */
                s_view_forget(self, req->name);
                req->has_cand = req->took = req->known = false;
            } /* else: not the one that failed: again, same address */
            zstr_free(&ipk);
            zstr_free(&svck);
        }
        zhashx_destroy(&found);
        s_lane_after(self, lane_lost);
    }
}

/* Commits txn (taking it); on an error waits a little (bounded by the
 * deadline) and returns -1 with err set: the caller sends it again. */
static int s_commit(alloc_etcd_t *self, il_etcd_txn_t **txn, bool *ok, il_etcd_range_t *got,
                    int64_t deadline_ms, char *err, size_t errlen)
{
    int rc = il_etcd_txn_commit(self->etcd, *txn, ok, got, err, errlen);
    il_etcd_txn_destroy(txn);
    if (rc == 0) {
        self->txns++;
        return 0;
    }
    il_log_debug("ipalloc: %s (sent again)", err);
    int64_t left = deadline_ms - zclock_mono();
    if (left > 0) zclock_sleep((int)(left < S_RETRY_MS ? left : S_RETRY_MS));
    return -1;
}

/* Forgets what the view says name holds, if anything. */
static void s_view_forget(alloc_etcd_t *self, const char *name)
{
    const char *stale = zhashx_lookup(self->by_name, name);
    if (!stale) return;
    char *copy = il_strdup(stale);
    const char *holder = zhashx_lookup(self->by_ip, copy);
    if (holder && streq(holder, name))
        s_view_del_ip(self, copy);
    else
        zhashx_delete(self->by_name, name);
    free(copy);
}

/* Releases, none of whose names repeats: each address named by svc/<name>
 * freed with both keys, conditioned on ip/<addr> still naming the service;
 * up to 64 a txn. While a request is not done, req->ip is the address it is
 * believed to hold (has_cand: known). */
static void s_release(alloc_etcd_t *self, alloc_etcd_req_t *reqs, size_t count, int64_t deadline_ms)
{
    char err[1024] = "";
    for (size_t i = 0; i < count; i++) {
        const char *known = zhashx_lookup(self->by_name, reqs[i].name);
        if (known) {
            s_copy(reqs[i].ip, sizeof reqs[i].ip, known);
            reqs[i].has_cand = true;
        }
    }
    for (;;) {
        alloc_etcd_req_t *chosen[IL_ETCD_MAX_TXN_OPS];
        size_t n = 0;
        bool unknown = false;
        for (size_t i = 0; i < count; i++)
            if (!reqs[i].done && !reqs[i].has_cand) unknown = true;
        /* the addresses of those the view does not know: what etcd says */
        for (size_t i = 0; i < count && n < IL_ETCD_MAX_TXN_OPS; i++)
            if (!reqs[i].done && (unknown ? !reqs[i].has_cand : true)) chosen[n++] = &reqs[i];
        if (n == 0) return;
        if (zclock_mono() >= deadline_ms) {
            for (size_t i = 0; i < count; i++)
                if (!reqs[i].done)
                    s_fail(&reqs[i], "etcd: not committed in time: %s", *err ? err : "no answer");
            return;
        }
        il_etcd_txn_t *txn = il_etcd_txn_new();
        if (n > S_PER_TXN && !unknown) n = S_PER_TXN;
        for (size_t k = 0; k < n; k++) {
            char *svck = s_key(self, "svc", chosen[k]->name);
            if (unknown) {
                il_etcd_txn_get(txn, true, svck, false);
            } else {
                char *ipk = s_key(self, "ip", chosen[k]->ip);
                il_etcd_txn_compare_value(txn, ipk, IL_ETCD_EQUAL, chosen[k]->name,
                                          strlen(chosen[k]->name));
                il_etcd_txn_delete(txn, true, ipk, false);
                il_etcd_txn_delete(txn, true, svck, false);
                il_etcd_txn_get(txn, false, ipk, false);
                il_etcd_txn_get(txn, false, svck, false);
                zstr_free(&ipk);
            }
            zstr_free(&svck);
        }
        bool ok = false;
        il_etcd_range_t got = {0};
        if (s_commit(self, &txn, &ok, &got, deadline_ms, err, sizeof err) != 0) continue;
        zhashx_t *found = s_found(&got);
        il_etcd_range_free(&got);
        if (!ok) self->conflicts++;
        for (size_t k = 0; k < n; k++) {
            alloc_etcd_req_t *req = chosen[k];
            char *svck = s_key(self, "svc", req->name);
            char *ipk = s_key(self, "ip", req->ip);
            const char *held = zhashx_lookup(found, svck);
            const char *holder = zhashx_lookup(found, ipk);
            if (unknown || !ok) {
                if (!held) { /* it holds nothing (any more) */
                    s_view_forget(self, req->name);
                    req->ip[0] = '\0';
                    req->done = true;
                } else if (unknown || !streq(held, req->ip)) { /* that one, then */
                    s_copy(req->ip, sizeof req->ip, held);
                    req->has_cand = true;
                } else if (!holder || !streq(holder, req->name)) {
                    /* svc/<name> names an address that does not name it back:
                     * only a hand edit makes that; the service's own key goes */
                    il_log_warn("ipalloc: %s names %s, which does not name it back: removing %s",
                                svck, req->ip, svck);
                    il_etcd_txn_t *fix = il_etcd_txn_new();
                    il_etcd_txn_compare_value(fix, svck, IL_ETCD_EQUAL, req->ip, strlen(req->ip));
                    il_etcd_txn_delete(fix, true, svck, false);
                    bool fixed = false;
                    if (s_commit(self, &fix, &fixed, NULL, deadline_ms, err, sizeof err) == 0) {
                        s_view_forget(self, req->name);
                        req->ip[0] = '\0';
                        req->done = true;
                    }
                }    /* else: not the one that failed: again */
            } else { /* released */
                s_view_del_ip(self, req->ip);
                req->done = true;
            }
            if (!req->done && ++req->rounds > 100)
                s_fail(req, "%s: the release of %s did not settle", req->name, req->ip);
            zstr_free(&svck);
            zstr_free(&ipk);
        }
        zhashx_destroy(&found);
    }
}

size_t alloc_etcd_apply(alloc_etcd_t *self, alloc_etcd_req_t *reqs, size_t count,
                        int64_t deadline_ms)
{
    for (size_t i = 0; i < count; i++) {
        reqs[i].ip[0] = reqs[i].error[0] = '\0';
        reqs[i].has_cand = reqs[i].took = reqs[i].done = reqs[i].created = false;
        reqs[i].laned = false;
        reqs[i].rounds = 0;
    }
    zhashx_t *names = zhashx_new();
    size_t i = 0;
    while (i < count) {
        /* a run of allocations (or of releases) of distinct names */
        size_t j = i;
        zhashx_purge(names);
        while (j < count && reqs[j].release == reqs[i].release &&
               !zhashx_lookup(names, reqs[j].name)) {
            zhashx_insert(names, reqs[j].name, (void *)1);
            j++;
        }
        if (reqs[i].release)
            s_release(self, reqs + i, j - i, deadline_ms);
        else
            s_allocate(self, reqs + i, j - i, deadline_ms);
        i = j;
    }
    zhashx_destroy(&names);
    size_t errors = 0;
    for (i = 0; i < count; i++)
        if (reqs[i].error[0]) errors++;
    return errors;
}

void alloc_etcd_foreach(alloc_etcd_t *self, void (*fn)(void *arg, const char *name, const char *ip),
                        void *arg)
{
    for (const char *name = zhashx_first(self->by_ip); name; name = zhashx_next(self->by_ip))
        fn(arg, name, zhashx_cursor(self->by_ip));
}

size_t alloc_etcd_count(alloc_etcd_t *self)
{
    return zhashx_size(self->by_ip);
}

pool_t *alloc_etcd_pool(alloc_etcd_t *self)
{
    return self->pool;
}

const char *alloc_etcd_base(alloc_etcd_t *self)
{
    return self->base;
}

uint64_t alloc_etcd_txns(alloc_etcd_t *self)
{
    return self->txns;
}

uint64_t alloc_etcd_conflicts(alloc_etcd_t *self)
{
    return self->conflicts;
}

uint64_t alloc_etcd_lost(alloc_etcd_t *self)
{
    return self->lost;
}

void alloc_etcd_set_spread(alloc_etcd_t *self, bool spread)
{
    self->spread = spread;
    if (!spread) self->lane = self->width = 0;
}
