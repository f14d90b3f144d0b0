/* The IP allocator on etcd (ipam.ipalloc.store: etcd) against real etcd 3.4
 * members on 127.0.0.1 ports (tests/support/etcd_server).
 *
 * The txns (alloc_etcd, two stores with views of their own on one member):
 * lowest first, idempotent (the same name gets the same address, also from a
 * store whose view is stale: the failure branch tells), a lost race takes the
 * next address, a wanted address is kept, release frees both keys and the
 * other store's watch sees it, exhaustion names the pool, a release and an
 * allocation of one name in one batch keep their order.
 * Two allocators in two network namespaces (their etcd endpoints are
 * loopback ports inside each namespace, relayed by this test to the members
 * on the host's loopback), 1,000 services raced at both in opposite orders
 * on a 3-member etcd: both get the same address for each service, 1,000
 * distinct addresses, etcd holds exactly those.
 * Two stores racing while the member they talk to is killed: no error, no
 * duplicate, every answer is what etcd holds.
 * The binary: a stack (core on the file store, two interlook-ipalloc on
 * etcd, interlook-inject) deploys and undeploys 50 services, --list reads
 * etcd; --import of a file db, twice (the second changes nothing), and a db
 * that conflicts with etcd (reported, not overwritten); configuration
 * errors named. */
#define _GNU_SOURCE
#include "common/etcd.h"
#include "extensions/ipalloc/alloc_db.h"
#include "extensions/ipalloc/alloc_etcd.h"
#include "extensions/ipalloc/pool.h"
#include "tests/support/asserts.h"
#include "tests/support/etcd_server.h"
#include "tests/support/fixture.h"
#include "tests/support/testutil.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define START_MS 30000
#define WAIT_MS  30000
#define RACE_N   1000

typedef struct {
    etcd_server_t *cluster;
    il_etcd_t *etcd;
    char prefix[64];
    fixture_t *stack;  /* a case's stacks, freed by the teardown */
    fixture_t *stack2; /* */
} ctx_t;

static void s_net_clear(void);

/* The services of this process ("w<pid>-..."): a core on a port another
 * test's core just left may hear that test's extensions reconnect; their
 * services are not counted. */
static char s_svc[32];

static il_etcd_config_t s_config_of(etcd_server_t *cluster)
{
    return (il_etcd_config_t){.endpoints = etcd_server_endpoint_list(cluster),
                              .endpoint_count = etcd_server_size(cluster),
                              .try_timeout_ms = 1000,
                              .timeout_ms = 4000};
}

static int s_setup(void **state, size_t members)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    ctx->cluster = etcd_server_new(NULL, members, START_MS);
    if (!ctx->cluster) return -1;
    il_etcd_config_t c = s_config_of(ctx->cluster);
    char err[512];
    ctx->etcd = il_etcd_new(&c, err, sizeof err);
    snprintf(ctx->prefix, sizeof ctx->prefix, "/it-%d", (int)getpid());
    return ctx->etcd ? 0 : -1;
}

static int s_setup1(void **state)
{
    return s_setup(state, 1);
}

static int s_setup3(void **state)
{
    return s_setup(state, 3);
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    if (!ctx) return 0;
    fixture_destroy(&ctx->stack);
    fixture_destroy(&ctx->stack2);
    s_net_clear();
    il_etcd_destroy(&ctx->etcd);
    etcd_server_destroy(&ctx->cluster);
    free(ctx);
    return 0;
}

static alloc_etcd_t *s_store(ctx_t *ctx, const char *cidr, const il_etcd_config_t *c)
{
    char err[1024], key[64];
    pool_t *pool = pool_new(cidr, NULL, NULL, NULL, err, sizeof err);
    assert_non_null(pool);
    il_etcd_config_t dflt = s_config_of(ctx->cluster);
    alloc_etcd_t *store =
        alloc_etcd_new(c ? c : &dflt, ctx->prefix, alloc_etcd_pool_key(cidr, key, sizeof key), pool,
                       err, sizeof err);
    if (!store) fail_msg("alloc_etcd_new: %s", err);
    if (alloc_etcd_load(store, err, sizeof err) != 0) fail_msg("alloc_etcd_load: %s", err);
    return store;
}

/* Settles one request; returns its address ("" for none), asserting no error. */
static const char *s_one(alloc_etcd_t *store, const char *name, bool release, const char *wanted,
                         alloc_etcd_req_t *req)
{
    *req = (alloc_etcd_req_t){.name = name, .release = release, .wanted = wanted};
    alloc_etcd_apply(store, req, 1, zclock_mono() + 10000);
    if (req->error[0]) fail_msg("%s %s: %s", release ? "release" : "allocate", name, req->error);
    return req->ip;
}

/* The value of key in etcd, "" when absent (static buffer). */
static const char *s_value(ctx_t *ctx, const char *fmt, ...)
{
    static char value[256];
    char key[256], err[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(key, sizeof key, fmt, args);
    va_end(args);
    il_etcd_range_t r;
    assert_int_equal(il_etcd_get(ctx->etcd, key, 0, &r, err, sizeof err), 0);
    snprintf(value, sizeof value, "%s", r.count ? r.kvs[0].value : "");
    il_etcd_range_free(&r);
    return value;
}

static size_t s_keys(ctx_t *ctx, const char *fmt, ...)
{
    char key[256], err[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(key, sizeof key, fmt, args);
    va_end(args);
    il_etcd_range_t r;
    assert_int_equal(il_etcd_get_prefix(ctx->etcd, key, 0, 0, &r, err, sizeof err), 0);
    size_t n = r.count;
    il_etcd_range_free(&r);
    return n;
}

typedef struct {
    alloc_etcd_t *store;
    size_t want;
} s_sync_t;

static bool s_synced(void *arg)
{
    s_sync_t *s = arg;
    char err[512];
    alloc_etcd_sync(s->store, 100, err, sizeof err);
    return alloc_etcd_count(s->store) == s->want;
}

static void test_txn_logic(void **state)
{
    ctx_t *ctx = *state;
    alloc_etcd_req_t r;
    /* 10.9.0.0/29: .1 .. .6 */
    alloc_etcd_t *a = s_store(ctx, "10.9.0.0/29", NULL);
    alloc_etcd_t *b = s_store(ctx, "10.9.0.0/29", NULL); /* its view: empty, soon stale */
    assert_string_equal(s_one(a, "a", false, NULL, &r), "10.9.0.1");
    assert_true(r.created);
    assert_string_equal(s_one(a, "b", false, NULL, &r), "10.9.0.2");
    assert_string_equal(s_value(ctx, "%s/ipalloc/10.9.0.0_29/ip/10.9.0.1", ctx->prefix), "a");
    assert_string_equal(s_value(ctx, "%s/ipalloc/10.9.0.0_29/svc/a", ctx->prefix), "10.9.0.1");
    /* idempotent */
    assert_string_equal(s_one(a, "a", false, NULL, &r), "10.9.0.1");
    assert_false(r.created);
    /* b's view is stale (no sync): it tries .1, .2, loses, takes .3 */
    uint64_t before = alloc_etcd_conflicts(b);
    assert_string_equal(s_one(b, "c", false, NULL, &r), "10.9.0.3");
    assert_true(alloc_etcd_conflicts(b) > before);
    /* and a name a holds: the same address from b too */
    assert_string_equal(s_one(b, "b", false, NULL, &r), "10.9.0.2");
    assert_false(r.created);
    /* a wanted address is kept when free */
    assert_string_equal(s_one(a, "d", false, "10.9.0.6", &r), "10.9.0.6");
    /* release from b: both keys go; a's watch sees it */
    assert_string_equal(s_one(b, "a", true, NULL, &r), "10.9.0.1");
    assert_string_equal(s_value(ctx, "%s/ipalloc/10.9.0.0_29/ip/10.9.0.1", ctx->prefix), "");
    assert_string_equal(s_value(ctx, "%s/ipalloc/10.9.0.0_29/svc/a", ctx->prefix), "");
    s_sync_t s = {a, 3}; /* b, c, d */
    assert_true(test_wait(s_synced, &s, 5000));
    assert_string_equal(s_one(a, "e", false, NULL, &r), "10.9.0.1");
    /* a release of a name holding nothing */
    assert_string_equal(s_one(a, "nothing", true, NULL, &r), "");
    /* the pool runs out: .4 .5, then an error naming it */
    assert_string_equal(s_one(a, "f", false, NULL, &r), "10.9.0.4");
    assert_string_equal(s_one(a, "g", false, NULL, &r), "10.9.0.5");
    r = (alloc_etcd_req_t){.name = "h"};
    assert_int_equal(alloc_etcd_apply(a, &r, 1, zclock_mono() + 5000), 1);
    if (!strstr(r.error, "no free address in 10.9.0.0-10.9.0.7")) fail_msg("%s", r.error);
    /* order kept in one batch: release g, allocate h (takes .5), allocate g (nothing left) */
    alloc_etcd_req_t batch[3] = {{.name = "g", .release = true}, {.name = "h"}, {.name = "g"}};
    assert_int_equal(alloc_etcd_apply(a, batch, 3, zclock_mono() + 5000), 1);
    assert_string_equal(batch[0].ip, "10.9.0.5");
    assert_string_equal(batch[1].ip, "10.9.0.5");
    assert_non_null(strstr(batch[2].error, "no free address"));
    assert_int_equal(s_keys(ctx, "%s/ipalloc/10.9.0.0_29/ip/", ctx->prefix), 6);
    assert_int_equal(s_keys(ctx, "%s/ipalloc/10.9.0.0_29/svc/", ctx->prefix), 6);
    alloc_etcd_destroy(&a);
    alloc_etcd_destroy(&b);
}

/* Two stores racing in lockstep, deterministically: each round both views
 * hold every allocation so far, then a allocates 64 new services and b 64
 * others from a view that misses a's (as when both pick at the same time).
 * Returns the txns b lost; checks that the 64 * 2 * rounds addresses are
 * distinct and, when lanes spread them, packed: none past the lowest
 * allocations + 4,096 (the widest lane window) + one txn. */
static uint64_t s_lockstep(ctx_t *ctx, const char *cidr, bool spread, int rounds)
{
    enum { PER = 64 };
    alloc_etcd_t *a = s_store(ctx, cidr, NULL);
    alloc_etcd_t *b = s_store(ctx, cidr, NULL);
    alloc_etcd_set_spread(a, spread);
    alloc_etcd_set_spread(b, spread);
    char names[PER][32];
    alloc_etcd_req_t reqs[PER];
    zhashx_t *seen = zhashx_new();
    pool_addr_t base, highest = 0;
    int family;
    assert_int_equal(pool_addr_parse(cidr, &base, &family), -1); /* "A/16" is not an address */
    char net[32];
    snprintf(net, sizeof net, "%.*s", (int)(strchr(cidr, '/') - cidr), cidr);
    assert_int_equal(pool_addr_parse(net, &base, &family), 0);
    uint64_t lost_before = alloc_etcd_conflicts(b);
    for (int round = 0; round < rounds; round++) {
        s_sync_t sa = {a, (size_t)round * 2 * PER}, sb = {b, (size_t)round * 2 * PER};
        assert_true(test_wait(s_synced, &sa, 5000));
        assert_true(test_wait(s_synced, &sb, 5000));
        for (int who = 0; who < 2; who++) {
            for (int k = 0; k < PER; k++) {
                snprintf(names[k], sizeof names[k], "%c-%d-%d", who ? 'b' : 'a', round, k);
                reqs[k] = (alloc_etcd_req_t){.name = names[k]};
            }
            assert_int_equal(alloc_etcd_apply(who ? b : a, reqs, PER, zclock_mono() + 10000), 0);
            for (int k = 0; k < PER; k++) {
                if (zhashx_insert(seen, reqs[k].ip, (void *)1) != 0)
                    fail_msg("%s handed out twice", reqs[k].ip);
                pool_addr_t addr;
                assert_int_equal(pool_addr_parse(reqs[k].ip, &addr, &family), 0);
                if (addr - base > highest) highest = addr - base;
            }
        }
    }
    uint64_t lost = alloc_etcd_conflicts(b) - lost_before;
    printf("# %s, %d rounds of 2 x %d: b lost %llu txns (a %llu), addresses lost %llu + %llu, "
           "highest host %llu\n",
           spread ? "lanes" : "lowest first", rounds, PER, (unsigned long long)lost,
           (unsigned long long)alloc_etcd_conflicts(a), (unsigned long long)alloc_etcd_lost(a),
           (unsigned long long)alloc_etcd_lost(b), (unsigned long long)highest);
    assert_int_equal(zhashx_size(seen), (size_t)rounds * 2 * PER);
    if (spread) assert_true(highest <= (pool_addr_t)rounds * 2 * PER + 4096 + PER);
    zhashx_destroy(&seen);
    alloc_etcd_destroy(&a);
    alloc_etcd_destroy(&b);
    return lost;
}

/* Lanes: the former policy (both stores try the lowest free addresses) loses
 * a txn every round; with lanes, b loses its first race, draws a lane, and
 * loses again only when the lane is drawn within a txn of the bottom (1 in 8,
 * then 1 in 16, 32...): more than 4 losses in 16 rounds is a few in a
 * million. */
static void test_lanes(void **state)
{
    ctx_t *ctx = *state;
    enum { ROUNDS = 16 };
    assert_true(s_lockstep(ctx, "10.70.0.0/16", false, ROUNDS) >= ROUNDS - 1);
    assert_true(s_lockstep(ctx, "10.71.0.0/16", true, ROUNDS) <= 4);
}

typedef struct {
    const char *name, *ip;
    bool found;
} s_find_t;

static void s_find(void *arg, const char *name, const char *ip)
{
    s_find_t *f = arg;
    if (!strcmp(name, f->name) && !strcmp(ip, f->ip)) f->found = true;
}

/* A store whose watch would resume from a compacted revision reads again. */
static void test_watch_compacted(void **state)
{
    ctx_t *ctx = *state;
    alloc_etcd_req_t r;
    alloc_etcd_t *a = s_store(ctx, "10.9.4.0/24", NULL); /* its watch not opened yet */
    alloc_etcd_t *b = s_store(ctx, "10.9.4.0/24", NULL);
    s_one(b, "x", false, NULL, &r);
    s_one(b, "y", false, NULL, &r);
    s_one(b, "x", true, NULL, &r);
    il_etcd_range_t got;
    char err[512];
    assert_int_equal(il_etcd_get(ctx->etcd, "/none", 0, &got, err, sizeof err), 0);
    int64_t rev = got.revision;
    il_etcd_range_free(&got);
    assert_int_equal(test_sh("curl -s -f -X POST %s/v3/kv/compaction -d '{\"revision\":\"%lld\"}' "
                             ">/dev/null",
                             etcd_server_endpoint(ctx->cluster, 0), (long long)rev),
                     0);
    s_sync_t s = {a, 1};
    assert_true(test_wait(s_synced, &s, 5000));
    s_find_t f = {"y", "10.9.4.2", false};
    alloc_etcd_foreach(a, s_find, &f);
    assert_true(f.found);
    pool_addr_t x_addr;
    int family;
    assert_int_equal(pool_addr_parse("10.9.4.1", &x_addr, &family), 0);
    assert_true(pool_is_free(alloc_etcd_pool(a), x_addr)); /* x's, released */
    assert_string_equal(s_one(a, "z", false, NULL, &r), "10.9.4.1");
    alloc_etcd_destroy(&a);
    alloc_etcd_destroy(&b);
}

/* 200 allocated in one batch at one store, released in one batch at another
 * that never synced (it reads each name's address first), and at the first
 * again (nothing left to release). */
static void test_batches(void **state)
{
    ctx_t *ctx = *state;
    alloc_etcd_t *a = s_store(ctx, "10.9.3.0/24", NULL);
    alloc_etcd_t *b = s_store(ctx, "10.9.3.0/24", NULL);
    alloc_etcd_req_t reqs[200];
    char names[200][16];
    for (int i = 0; i < 200; i++) {
        snprintf(names[i], sizeof names[i], "m-%d", i);
        reqs[i] = (alloc_etcd_req_t){.name = names[i]};
    }
    uint64_t txns = alloc_etcd_txns(a);
    assert_int_equal(alloc_etcd_apply(a, reqs, 200, zclock_mono() + 10000), 0);
    assert_int_equal(alloc_etcd_txns(a) - txns, 4); /* 64 a txn */
    char ips[200][64];
    for (int i = 0; i < 200; i++) {
        char want[32];
        snprintf(want, sizeof want, "10.9.3.%d", i + 1);
        assert_string_equal(reqs[i].ip, want);
        snprintf(ips[i], 64, "%s", reqs[i].ip);
        reqs[i] = (alloc_etcd_req_t){.name = names[i], .release = true};
    }
    assert_int_equal(alloc_etcd_apply(b, reqs, 200, zclock_mono() + 10000), 0);
    for (int i = 0; i < 200; i++)
        assert_string_equal(reqs[i].ip, ips[i]);
    assert_int_equal(s_keys(ctx, "%s/ipalloc/10.9.3.0_24/", ctx->prefix), 0);
    for (int i = 0; i < 200; i++)
        reqs[i] = (alloc_etcd_req_t){.name = names[i], .release = true};
    assert_int_equal(alloc_etcd_apply(a, reqs, 200, zclock_mono() + 10000), 0);
    for (int i = 0; i < 200; i++)
        assert_string_equal(reqs[i].ip, "");
    s_sync_t s = {a, 0};
    assert_true(test_wait(s_synced, &s, 5000));
    assert_int_equal(pool_free_count(alloc_etcd_pool(a)), 254);
    alloc_etcd_destroy(&a);
    alloc_etcd_destroy(&b);
}

/* Two stores racing, the member they use killed midway ------------------------------ */

typedef struct {
    ctx_t *ctx;
    bool down; /* names in reverse order */
    size_t n;
    char (*ips)[64];
    char errors[2048];
    atomic_size_t *done;
} s_racer_t;

static void *s_race(void *arg)
{
    s_racer_t *r = arg;
    char err[1024], key[64];
    pool_t *pool = pool_new("10.88.0.0/20", NULL, NULL, NULL, err, sizeof err);
    il_etcd_config_t c = s_config_of(r->ctx->cluster);
    c.try_timeout_ms = 1000;
    c.timeout_ms = 5000;
    alloc_etcd_t *store =
        alloc_etcd_new(&c, r->ctx->prefix, alloc_etcd_pool_key("10.88.0.0/20", key, sizeof key),
                       pool, err, sizeof err);
    if (!store || alloc_etcd_load(store, err, sizeof err) != 0) {
        snprintf(r->errors, sizeof r->errors, "start: %s", err);
        alloc_etcd_destroy(&store);
        return NULL;
    }
    char names[25][32];
    alloc_etcd_req_t reqs[25];
    for (size_t i = 0; i < r->n; i += 25) {
        size_t n = r->n - i < 25 ? r->n - i : 25;
        for (size_t k = 0; k < n; k++) {
            size_t idx = r->down ? r->n - 1 - (i + k) : i + k;
            snprintf(names[k], sizeof names[k], "k-%zu", idx);
            reqs[k] = (alloc_etcd_req_t){.name = names[k]};
        }
        alloc_etcd_apply(store, reqs, n, zclock_mono() + 30000);
        for (size_t k = 0; k < n; k++) {
            size_t idx = r->down ? r->n - 1 - (i + k) : i + k;
            if (reqs[k].error[0] && !r->errors[0])
                snprintf(r->errors, sizeof r->errors, "%s: %s", names[k], reqs[k].error);
            snprintf(r->ips[idx], 64, "%s", reqs[k].ip);
        }
        atomic_fetch_add(r->done, n);
        alloc_etcd_sync(store, 0, err, sizeof err);
    }
    alloc_etcd_destroy(&store);
    return NULL;
}

typedef struct {
    atomic_size_t *done;
    size_t want;
} s_progress_t;

static bool s_progressed(void *arg)
{
    s_progress_t *p = arg;
    return atomic_load(p->done) >= p->want;
}

/* Each name one address at both, all distinct, and etcd holds exactly those. */
static void s_check_race(ctx_t *ctx, const char *pool_key, const char *fmt, size_t n,
                         char (*ips0)[64], char (*ips1)[64])
{
    zhashx_t *seen = zhashx_new();
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, fmt, i);
        if (!ips0[i][0] || strcmp(ips0[i], ips1[i]))
            fail_msg("%s: %s at one, %s at the other", name, ips0[i], ips1[i]);
        if (zhashx_insert(seen, ips0[i], (void *)1) != 0)
            fail_msg("%s: %s handed out twice", name, ips0[i]);
        assert_string_equal(s_value(ctx, "%s/ipalloc/%s/svc/%s", ctx->prefix, pool_key, name),
                            ips0[i]);
        assert_string_equal(s_value(ctx, "%s/ipalloc/%s/ip/%s", ctx->prefix, pool_key, ips0[i]),
                            name);
    }
    assert_int_equal(zhashx_size(seen), n);
    assert_int_equal(s_keys(ctx, "%s/ipalloc/%s/ip/", ctx->prefix, pool_key), n);
    assert_int_equal(s_keys(ctx, "%s/ipalloc/%s/svc/", ctx->prefix, pool_key), n);
    zhashx_destroy(&seen);
}

static void test_race_member_killed(void **state)
{
    ctx_t *ctx = *state;
    size_t n = 1500;
    atomic_size_t done = 0;
    char(*ips[2])[64];
    s_racer_t racer[2];
    pthread_t thread[2];
    for (int t = 0; t < 2; t++) {
        ips[t] = calloc(n, 64);
        racer[t] = (s_racer_t){.ctx = ctx, .down = t == 1, .n = n, .ips = ips[t], .done = &done};
        assert_int_equal(pthread_create(&thread[t], NULL, s_race, &racer[t]), 0);
    }
    /* the member both talk to first dies a third of the way in */
    s_progress_t p = {&done, 2 * n / 3};
    assert_true(test_wait(s_progressed, &p, WAIT_MS));
    assert_int_equal(etcd_server_kill(ctx->cluster, 0), 0);
    size_t at_kill = atomic_load(&done);
    for (int t = 0; t < 2; t++)
        pthread_join(thread[t], NULL);
    printf("# member 0 killed after %zu of %zu answers\n", at_kill, 2 * n);
    assert_true(at_kill < 2 * n); /* it died during the allocations */
    for (int t = 0; t < 2; t++)
        if (racer[t].errors[0]) fail_msg("racer %d: %s", t, racer[t].errors);
    s_check_race(ctx, "10.88.0.0_20", "k-%zu", n, ips[0], ips[1]);
    free(ips[0]);
    free(ips[1]);
}

/* Two allocators in two network namespaces ------------------------------------------ */

/* A TCP relay: a listening socket made inside a namespace, whose
 * connections this process (on the host's loopback) carries to a member. */
typedef struct {
    int lfd, port, target;
    int stop[2];
    pthread_t thread;
} s_relay_t;

#define S_PAIRS 64

static void *s_relay_run(void *arg)
{
    s_relay_t *r = arg;
    int pair[S_PAIRS][2];
    size_t n = 0;
    char buf[65536];
    for (;;) {
        struct pollfd fds[2 + 2 * S_PAIRS];
        fds[0] = (struct pollfd){.fd = r->stop[0], .events = POLLIN};
        fds[1] = (struct pollfd){.fd = r->lfd, .events = POLLIN};
        for (size_t i = 0; i < n; i++) {
            fds[2 + 2 * i] = (struct pollfd){.fd = pair[i][0], .events = POLLIN};
            fds[3 + 2 * i] = (struct pollfd){.fd = pair[i][1], .events = POLLIN};
        }
        if (poll(fds, 2 + 2 * n, -1) < 0 && errno != EINTR) break;
        if (fds[0].revents) break;
        for (size_t i = n; i-- > 0;) {
            for (int side = 0; side < 2; side++) {
                if (!fds[2 + 2 * i + side].revents) continue;
                ssize_t got = read(pair[i][side], buf, sizeof buf);
                bool closed = got <= 0;
                for (ssize_t off = 0; !closed && off < got;) {
                    ssize_t w = write(pair[i][1 - side], buf + off, (size_t)(got - off));
                    if (w <= 0) closed = true;
                    off += w;
                }
                if (closed) {
                    close(pair[i][0]);
                    close(pair[i][1]);
                    pair[i][0] = pair[n - 1][0];
                    pair[i][1] = pair[n - 1][1];
                    n--;
                    break;
                }
            }
        }
        if (fds[1].revents & POLLIN) {
            int c = accept(r->lfd, NULL, NULL);
            if (c < 0) continue;
            int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->target)};
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (n == S_PAIRS || u < 0 || connect(u, (struct sockaddr *)&sa, sizeof sa) != 0) {
                close(c); /* as a dead member would */
                if (u >= 0) close(u);
                continue;
            }
            pair[n][0] = c;
            pair[n][1] = u;
            n++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        close(pair[i][0]);
        close(pair[i][1]);
    }
    return NULL;
}

/* A relay listening on 127.0.0.1 inside namespace ns, to target on the host. */
static int s_relay_start(s_relay_t *r, const char *ns, int target)
{
    char path[128];
    snprintf(path, sizeof path, "/var/run/netns/%s", ns);
    int here = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int there = open(path, O_RDONLY | O_CLOEXEC);
    if (here < 0 || there < 0 || setns(there, CLONE_NEWNET) != 0) return -1;
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int rc = bind(r->lfd, (struct sockaddr *)&sa, sizeof sa) || listen(r->lfd, 64) ||
             getsockname(r->lfd, (struct sockaddr *)&sa, &len);
    if (setns(here, CLONE_NEWNET) != 0) abort(); /* this thread must be back on the host */
    close(here);
    close(there);
    if (rc) return -1;
    r->port = ntohs(sa.sin_port);
    r->target = target;
    if (pipe2(r->stop, O_CLOEXEC) != 0) return -1;
    return pthread_create(&r->thread, NULL, s_relay_run, r);
}

static void s_relay_stop(s_relay_t *r)
{
    if (write(r->stop[1], "x", 1) != 1) return;
    pthread_join(r->thread, NULL);
    close(r->stop[0]);
    close(r->stop[1]);
    close(r->lfd);
}

/* The namespaces ("hosts") and relays of a case, removed by the teardown
 * also when the case fails. */
#define S_MAX_RELAYS 8
static char s_ns[2][32];
static s_relay_t s_relays[2][S_MAX_RELAYS];
static int s_nrelays[2];

static void s_net_clear(void)
{
    for (int h = 0; h < 2; h++) {
        for (int i = 0; i < s_nrelays[h]; i++)
            s_relay_stop(&s_relays[h][i]);
        s_nrelays[h] = 0;
        if (*s_ns[h]) test_sh("ip netns del %s 2>/dev/null", s_ns[h]);
        *s_ns[h] = '\0';
    }
}

/* Makes namespace h (lo up) and returns its name. */
static const char *s_net_host(int h)
{
    snprintf(s_ns[h], sizeof s_ns[h], "ipe%d-%d", (int)getpid() % 100000, h);
    assert_int_equal(test_sh("ip netns add %s && ip -n %s link set lo up", s_ns[h], s_ns[h]), 0);
    return s_ns[h];
}

/* A relay into namespace h to target (a port on the host's loopback); its port there. */
static int s_net_relay(int h, int target)
{
    assert_true(s_nrelays[h] < S_MAX_RELAYS);
    s_relay_t *r = &s_relays[h][s_nrelays[h]];
    assert_int_equal(s_relay_start(r, s_ns[h], target), 0);
    s_nrelays[h]++;
    return r->port;
}

static int s_port_of(const char *url)
{
    const char *colon = strrchr(url, ':');
    return colon ? atoi(colon + 1) : 0;
}

/* The child: allocates svc-0..svc-(n-1) (in that order, or reversed) through
 * its own store on endpoints, once the file go exists; prints "name ip". */
static int s_child(const char *endpoints, const char *prefix, const char *order, size_t n,
                   const char *go)
{
    const char *list[8];
    size_t count = 0;
    char *copy = strdup(endpoints), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && count < 8; tok = strtok_r(NULL, ",", &save))
        list[count++] = tok;
    il_etcd_config_t c = {
        .endpoints = list, .endpoint_count = count, .try_timeout_ms = 1000, .timeout_ms = 5000};
    char err[1024], key[64];
    pool_t *pool = pool_new("10.77.0.0/20", NULL, NULL, NULL, err, sizeof err);
    alloc_etcd_t *store = alloc_etcd_new(&c, prefix, alloc_etcd_pool_key("10.77.0.0/20", key, 64),
                                         pool, err, sizeof err);
    if (!store || alloc_etcd_load(store, err, sizeof err) != 0) {
        fprintf(stderr, "child: %s\n", err);
        return 1;
    }
    int64_t until = zclock_mono() + 20000;
    while (access(go, F_OK) != 0 && zclock_mono() < until)
        zclock_sleep(5);
    bool down = !strcmp(order, "down");
    char names[20][32];
    alloc_etcd_req_t reqs[20];
    int rc = 0;
    for (size_t i = 0; i < n; i += 20) {
        size_t m = n - i < 20 ? n - i : 20;
        for (size_t k = 0; k < m; k++) {
            snprintf(names[k], sizeof names[k], "svc-%zu", down ? n - 1 - (i + k) : i + k);
            reqs[k] = (alloc_etcd_req_t){.name = names[k]};
        }
        alloc_etcd_apply(store, reqs, m, zclock_mono() + 30000);
        for (size_t k = 0; k < m; k++) {
            if (reqs[k].error[0]) rc = 1;
            printf("%s %s\n", names[k], reqs[k].error[0] ? "ERROR" : reqs[k].ip);
            if (reqs[k].error[0]) fprintf(stderr, "child: %s: %s\n", names[k], reqs[k].error);
        }
        alloc_etcd_sync(store, 0, err, sizeof err);
    }
    printf("# txns %llu conflicts %llu, addresses lost %llu\n",
           (unsigned long long)alloc_etcd_txns(store),
           (unsigned long long)alloc_etcd_conflicts(store),
           (unsigned long long)alloc_etcd_lost(store));
    alloc_etcd_destroy(&store);
    free(copy);
    return rc;
}

static int s_port_of(const char *url);

/* The etcd endpoints inside namespace h (relays to the members). */
static void s_net_etcd(ctx_t *ctx, int h, char *endpoints, size_t size)
{
    *endpoints = '\0';
    for (size_t m = 0; m < etcd_server_size(ctx->cluster); m++) {
        int port = s_net_relay(h, s_port_of(etcd_server_endpoint(ctx->cluster, m)));
        snprintf(endpoints + strlen(endpoints), size - strlen(endpoints), "%shttp://127.0.0.1:%d",
                 m ? "," : "", port);
    }
}

static void test_two_namespaces_race(void **state)
{
    ctx_t *ctx = *state;
    char self[512], go[256];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = '\0';
    char *dir = test_tmpdir();
    snprintf(go, sizeof go, "%s/go", dir);
    FILE *child[2];
    for (int h = 0; h < 2; h++) {
        const char *ns = s_net_host(h);
        char endpoints[512];
        s_net_etcd(ctx, h, endpoints, sizeof endpoints);
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "ip netns exec %s '%s' --race-child %s %s %s %d '%s'", ns, self,
                 endpoints, ctx->prefix, h ? "down" : "up", RACE_N, go);
        child[h] = popen(cmd, "r");
        assert_non_null(child[h]);
    }
    assert_int_equal(test_write_file(go, "go\n"), 0);
    int64_t started = zclock_mono();
    char(*ips[2])[64];
    for (int h = 0; h < 2; h++) {
        ips[h] = calloc(RACE_N, 64);
        char line[256];
        while (fgets(line, sizeof line, child[h])) {
            size_t i;
            char ip[64];
            if (line[0] == '#') {
                printf("# allocator in %s: %s", s_ns[h], line + 2);
                continue;
            }
            if (sscanf(line, "svc-%zu %63s", &i, ip) == 2 && i < RACE_N)
                snprintf(ips[h][i], 64, "%s", ip);
        }
        assert_int_equal(pclose(child[h]), 0);
    }
    double secs = (double)(zclock_mono() - started) / 1000.0;
    printf("# %d services raced at 2 allocators in 2 namespaces: %.2f s (%.0f answers/s)\n", RACE_N,
           secs, 2 * RACE_N / secs);
    s_net_clear();
    s_check_race(ctx, "10.77.0.0_20", "svc-%zu", RACE_N, ips[0], ips[1]);
    free(ips[0]);
    free(ips[1]);
    test_rm_tree(dir);
    free(dir);
}

/* The binary ------------------------------------------------------------------------- */

static char *s_write_config(ctx_t *ctx, const char *dir, const char *extra)
{
    char *path = zsys_sprintf("%s/ipalloc.yaml", dir);
    char *text = zsys_sprintf("ipam:\n"
                              "  ipalloc:\n"
                              "    network_cidr: 10.9.1.0/24\n"
                              "    store: etcd\n"
                              "    etcd:\n"
                              "      endpoints: %s\n"
                              "      prefix: %s\n"
                              "%s",
                              etcd_server_endpoints(ctx->cluster), ctx->prefix, extra ? extra : "");
    assert_int_equal(test_write_file(path, text), 0);
    zstr_free(&text);
    return path;
}

/* A file db with those (name, ip) pairs. */
static void s_file_db(const char *path, const char *const *pairs)
{
    char err[512];
    alloc_db_t *db = alloc_db_open(path, err, sizeof err);
    if (!db) fail_msg("%s", err);
    assert_int_equal(alloc_db_begin(db, err, sizeof err), 0);
    for (size_t i = 0; pairs[i]; i += 2)
        assert_int_equal(alloc_db_stage_allocate(db, pairs[i], pairs[i + 1], 1700000000000), 0);
    assert_int_equal(alloc_db_commit(db, err, sizeof err), 0);
    alloc_db_destroy(&db);
}

static void test_import(void **state)
{
    ctx_t *ctx = *state;
    char *dir = test_tmpdir();
    char *config = s_write_config(ctx, dir, NULL);
    char db[300], db2[300];
    snprintf(db, sizeof db, "%s/old.db", dir);
    snprintf(db2, sizeof db2, "%s/other.db", dir);
    const char *pairs[2 * 100 + 1];
    char names[100][16], ips[100][16];
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof names[i], "imp-%d", i);
        snprintf(ips[i], sizeof ips[i], "10.9.1.%d", 101 - i); /* not the pool's order */
        pairs[2 * i] = names[i];
        pairs[2 * i + 1] = ips[i];
    }
    pairs[200] = NULL;
    s_file_db(db, pairs);
    const char *bin = test_bin("interlook-ipalloc");
    size_t size = 1 << 16;
    char *out = malloc(size);
    assert_int_equal(test_run(out, size, "%s -c %s --import %s 2>&1", bin, config, db), 0);
    assert_non_null(strstr(out, "100 allocations in"));
    assert_non_null(strstr(out, ": 100 imported into etcd"));
    assert_string_equal(s_value(ctx, "%s/ipalloc/10.9.1.0_24/svc/imp-7", ctx->prefix), "10.9.1.94");
    assert_string_equal(s_value(ctx, "%s/ipalloc/10.9.1.0_24/ip/10.9.1.94", ctx->prefix), "imp-7");
    /* again: nothing changes */
    assert_int_equal(test_run(out, size, "%s -c %s --import %s 2>&1", bin, config, db), 0);
    assert_non_null(strstr(out, ": 0 imported into etcd"));
    assert_non_null(strstr(out, "100 there already, 0 not imported"));
    assert_int_equal(s_keys(ctx, "%s/ipalloc/10.9.1.0_24/ip/", ctx->prefix), 100);
    /* --list reads etcd: 100 rows, sorted by address */
    assert_int_equal(test_run(out, size, "%s -c %s --list 2>&1", bin, config), 0);
    assert_non_null(strstr(out, "SERVICE"));
    assert_non_null(strstr(out, "100 allocations in etcd /it-"));
    char *first = strstr(out, "imp-99 "), *last = strstr(out, "imp-0 ");
    assert_non_null(first);
    assert_non_null(last);
    assert_true(first < last); /* 10.9.1.2 before 10.9.1.101 */
    /* a db that conflicts: imp-0 holds another address there, 10.9.1.2 is imp-99's */
    const char *other[] = {"imp-0", "10.9.1.200", "new-1", "10.9.1.2", "new-2", "10.9.1.201", NULL};
    s_file_db(db2, other);
    assert_int_equal(test_run(out, size, "%s -c %s --import %s 2>&1", bin, config, db2), 1);
    assert_non_null(strstr(out, "imp-0 holds 10.9.1.101 in etcd (not imported)"));
    assert_non_null(strstr(out, "10.9.1.2 is held by imp-99 in etcd (not imported)"));
    assert_non_null(strstr(out, ": 1 imported into etcd"));
    assert_string_equal(s_value(ctx, "%s/ipalloc/10.9.1.0_24/ip/10.9.1.2", ctx->prefix), "imp-99");
    assert_string_equal(s_value(ctx, "%s/ipalloc/10.9.1.0_24/svc/imp-0", ctx->prefix),
                        "10.9.1.101");
    assert_string_equal(s_value(ctx, "%s/ipalloc/10.9.1.0_24/svc/new-2", ctx->prefix),
                        "10.9.1.201");
    /* a missing file is named */
    assert_int_equal(test_run(out, size, "%s -c %s --import %s/none.db 2>&1", bin, config, dir), 1);
    assert_non_null(strstr(out, "none.db: No such file"));
    free(out);
    zstr_free(&config);
    test_rm_tree(dir);
    free(dir);
}

static void test_bad_configuration(void **state)
{
    ctx_t *ctx = *state;
    char *dir = test_tmpdir();
    const char *bin = test_bin("interlook-ipalloc");
    char out[4096], path[300];
    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    struct {
        const char *yaml, *want;
    } cases[] = {
        {"    store: etcd3\n", "ipam.ipalloc.store: etcd3 is neither file nor etcd"},
        {"    store: etcd\n", "ipam.ipalloc.etcd.endpoints or core.etcd.endpoints"},
        {"    store: etcd\n    etcd:\n      endpoints: ftp://127.0.0.1:1\n", "ipam.ipalloc.etcd: "},
        {"    store: etcd\n    etcd:\n      endpoint: http://127.0.0.1:1\n",
         "ipam.ipalloc.etcd.endpoint: unknown key"},
        {"    store: etcd\n    etcd:\n      endpoints: http://127.0.0.1:1\n      prefix: x\n",
         "prefix: x does not start with /"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text =
            zsys_sprintf("ipam:\n  ipalloc:\n    network_cidr: 10.9.1.0/24\n%s", cases[i].yaml);
        assert_int_equal(test_write_file(path, text), 0);
        zstr_free(&text);
        int rc = test_run(out, sizeof out, "%s -c %s --check-config 2>&1", bin, path);
        if (rc != 2 || !strstr(out, cases[i].want))
            fail_msg("case %zu: rc %d, wanted \"%s\" in: %s", i, rc, cases[i].want, out);
    }
    /* from core.etcd: accepted */
    char *text = zsys_sprintf("core:\n  etcd:\n    endpoints: [%s]\n"
                              "ipam:\n  ipalloc:\n    network_cidr: 10.9.1.0/24\n    store: etcd\n",
                              etcd_server_endpoints(ctx->cluster));
    assert_int_equal(test_write_file(path, text), 0);
    zstr_free(&text);
    assert_int_equal(test_run(out, sizeof out, "%s -c %s --check-config 2>&1", bin, path), 0);
    assert_int_equal(test_run(out, sizeof out, "%s -c %s --list 2>&1", bin, path), 0);
    assert_non_null(strstr(out, "0 allocations in etcd /interlook/ipalloc/10.9.1.0_24/"));
    /* an etcd that does not answer: named, exit 2 */
    int port[1];
    assert_int_equal(test_free_ports(port, 1), 0);
    text = zsys_sprintf("ipam:\n  ipalloc:\n    network_cidr: 10.9.1.0/24\n    store: etcd\n"
                        "    etcd: {endpoints: 'http://127.0.0.1:%d'}\n",
                        port[0]);
    assert_int_equal(test_write_file(path, text), 0);
    zstr_free(&text);
    assert_int_equal(test_run(out, sizeof out, "%s -c %s --list 2>&1", bin, path), 2);
    assert_non_null(strstr(out, "cannot read the allocations from etcd"));
    /* INTERLOOK_ETCD_ENDPOINTS overrides the endpoints */
    assert_int_equal(test_run(out, sizeof out, "INTERLOOK_ETCD_ENDPOINTS=%s %s -c %s --list 2>&1",
                              etcd_server_endpoints(ctx->cluster), bin, path),
                     0);
    assert_non_null(strstr(out, "0 allocations in etcd /interlook/ipalloc/10.9.1.0_24/"));
    test_rm_tree(dir);
    free(dir);
}

/* A stack: core (file store) + two allocators on etcd + inject ----------------------- */

static int s_count_state(fixture_t *stack, const char *state, zhashx_t *ips)
{
    json_t *all = fixture_api_get(stack, "/services");
    if (!all) return -1;
    int n = 0;
    const char *key;
    json_t *e;
    json_object_foreach(all, key, e)
    {
        const char *s = json_string_value(json_object_get(e, "state"));
        if (strncmp(key, s_svc, strlen(s_svc)) != 0) continue;
        if (s && !strcmp(s, state) && !json_is_true(json_object_get(e, "wip"))) {
            n++;
            const char *ip =
                json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
            if (ips && ip) zhashx_update(ips, key, strdup(ip));
        }
    }
    json_decref(all);
    return n;
}

typedef struct {
    fixture_t *stack;
    const char *state;
    int want, seen;
} s_wait_t;

static bool s_reached(void *arg)
{
    s_wait_t *w = arg;
    w->seen = s_count_state(w->stack, w->state, NULL);
    return w->seen >= w->want;
}

/* A stack deploys n services through two allocators on etcd (a member
 * killed once a quarter are deployed, when kill), checks them against etcd,
 * and undeploys them. */
/* Starts a stack's core and provider, its allocators reading etcd; returns
 * the provider's input. */
static int s_stack_core(ctx_t *ctx)
{
    fixture_opts_t opts = {.name = "test_ipalloc_etcd", .stop_signal = SIGKILL};
    fixture_t *stack = ctx->stack = fixture_new(&opts);
    assert_non_null(stack);
    char sections[2048];
    snprintf(sections, sizeof sections,
             "ipam:\n"
             "  ipalloc:\n"
             "    network_cidr: 10.9.0.0/22\n"
             "    store: etcd\n"
             "    etcd:\n"
             "      endpoints: %s\n"
             "      prefix: %s\n",
             etcd_server_endpoints(ctx->cluster), ctx->prefix);
    assert_int_equal(fixture_config_write(stack,
                                          "  logLevel: debug\n"
                                          "  workflowSteps: provider.test,ipam.ipalloc\n"
                                          "  checkFlowInterval: 50ms\n"
                                          "  workflowHousekeeperInterval: 200ms\n"
                                          "  serviceWIPTimeout: 15s\n"
                                          "  retryBackoffMin: 50ms\n"
                                          "  retryBackoffMax: 200ms\n"
                                          "  persistDelay: 20ms\n",
                                          sections),
                     0);
    assert_true(fixture_start_core(stack, WAIT_MS) > 0);
    int inject_in = -1;
    const char *iargs[] = {"--name", "provider.test", NULL};
    assert_true(fixture_spawn_ext(stack, "interlook-inject", iargs, &inject_in) > 0);
    return inject_in;
}

/* Starts a stack with two allocators on etcd; returns the provider's input. */
static int s_stack_start(ctx_t *ctx)
{
    int inject_in = s_stack_core(ctx);
    fixture_t *stack = ctx->stack;
    const char *a1[] = {"--instance", "ipe-1", NULL}, *a2[] = {"--instance", "ipe-2", NULL};
    assert_true(fixture_spawn_ext(stack, "interlook-ipalloc", a1, NULL) > 0);
    assert_true(fixture_spawn_ext(stack, "interlook-ipalloc", a2, NULL) > 0);
    assert_true(fixture_wait_registered(stack, "ipam.ipalloc", 2, WAIT_MS));
    return inject_in;
}

static void s_stack(ctx_t *ctx, int n, bool kill)
{
    int inject_in = s_stack_start(ctx);
    fixture_t *stack = ctx->stack;
    char line[64];
    snprintf(line, sizeof line, "add-many %s %d\n", s_svc, n);
    assert_int_equal(test_write_text(inject_in, line), 0);
    s_wait_t w = {stack, "deployed", n / 4, 0};
    if (kill) {
        if (!test_wait(s_reached, &w, WAIT_MS)) fail_msg("deployed: %d of %d", w.seen, n / 4);
        assert_int_equal(etcd_server_kill(ctx->cluster, 0), 0);
        printf("# member 0 killed with %d of %d services deployed\n", w.seen, n);
        assert_true(w.seen < n);
    }
    w.want = n;
    if (!test_wait(s_reached, &w, WAIT_MS)) fail_msg("deployed: %d of %d", w.seen, n);
    zhashx_t *ips = zhashx_new();
    zhashx_set_destructor(ips, (zhashx_destructor_fn *)zstr_free);
    assert_int_equal(s_count_state(stack, "deployed", ips), n);
    zhashx_t *distinct = zhashx_new();
    for (const char *ip = zhashx_first(ips); ip; ip = zhashx_next(ips)) {
        const char *name = zhashx_cursor(ips);
        if (zhashx_insert(distinct, ip, (void *)1) != 0) fail_msg("%s handed out twice", ip);
        assert_string_equal(s_value(ctx, "%s/ipalloc/10.9.0.0_22/svc/%s", ctx->prefix, name), ip);
        assert_string_equal(s_value(ctx, "%s/ipalloc/10.9.0.0_22/ip/%s", ctx->prefix, ip), name);
    }
    assert_int_equal(s_keys(ctx, "%s/ipalloc/10.9.0.0_22/svc/%s", ctx->prefix, s_svc), n);
    zhashx_destroy(&distinct);
    zhashx_destroy(&ips);
    snprintf(line, sizeof line, "delete-many %s %d\n", s_svc, n);
    assert_int_equal(test_write_text(inject_in, line), 0);
    w = (s_wait_t){stack, "undeployed", n, 0};
    if (!test_wait(s_reached, &w, WAIT_MS)) fail_msg("undeployed: %d of %d", w.seen, n);
    assert_int_equal(s_keys(ctx, "%s/ipalloc/10.9.0.0_22/svc/%s", ctx->prefix, s_svc), 0);
}

static void test_stack_on_etcd(void **state)
{
    s_stack(*state, 50, false);
}

/* One of 3 members killed while 600 services are being deployed: each is
 * answered (deployed), none twice. */
static void test_stack_member_killed(void **state)
{
    s_stack(*state, 600, true);
}

typedef struct {
    fixture_t *stack;
    char error[512];
} s_err_t;

/* Some entry carries an error naming etcd. */
static bool s_etcd_error(void *arg)
{
    s_err_t *e = arg;
    json_t *all = fixture_api_get(e->stack, "/services");
    const char *key;
    json_t *entry;
    json_object_foreach(all, key, entry)
    {
        const char *error = json_string_value(json_object_get(entry, "error"));
        if (error && strstr(error, "etcd")) snprintf(e->error, sizeof e->error, "%s", error);
    }
    json_decref(all);
    return e->error[0] != '\0';
}

/* Two of 3 members killed (no quorum): allocations are answered with etcd's
 * error (nothing committed, nothing announced), the allocators stay
 * registered; the members back: everything is deployed, none twice. */
static void test_stack_no_quorum(void **state)
{
    ctx_t *ctx = *state;
    int inject_in = s_stack_start(ctx);
    fixture_t *stack = ctx->stack;
    char line[64];
    snprintf(line, sizeof line, "add-many %sa 20\n", s_svc);
    assert_int_equal(test_write_text(inject_in, line), 0);
    s_wait_t w = {stack, "deployed", 20, 0};
    if (!test_wait(s_reached, &w, WAIT_MS)) fail_msg("deployed: %d of 20", w.seen);
    assert_int_equal(etcd_server_kill(ctx->cluster, 1), 0);
    assert_int_equal(etcd_server_kill(ctx->cluster, 2), 0);
    snprintf(line, sizeof line, "add-many %sb 20\n", s_svc);
    assert_int_equal(test_write_text(inject_in, line), 0);
    s_err_t e = {stack, ""};
    assert_true(test_wait(s_etcd_error, &e, WAIT_MS));
    printf("# without quorum: %s\n", e.error);
    assert_int_equal(s_count_state(stack, "deployed", NULL), 20);
    assert_true(fixture_wait_registered(stack, "ipam.ipalloc", 2, 1000));
    assert_int_equal(etcd_server_restart(ctx->cluster, 1, START_MS), 0);
    assert_int_equal(etcd_server_restart(ctx->cluster, 2, START_MS), 0);
    w.want = 40;
    if (!test_wait(s_reached, &w, 2 * WAIT_MS)) fail_msg("deployed: %d of 40", w.seen);
    zhashx_t *ips = zhashx_new();
    zhashx_set_destructor(ips, (zhashx_destructor_fn *)zstr_free);
    assert_int_equal(s_count_state(stack, "deployed", ips), 40);
    zhashx_t *distinct = zhashx_new();
    for (const char *ip = zhashx_first(ips); ip; ip = zhashx_next(ips)) {
        if (zhashx_insert(distinct, ip, (void *)1) != 0) fail_msg("%s handed out twice", ip);
        assert_string_equal(
            s_value(ctx, "%s/ipalloc/10.9.0.0_22/svc/%s", ctx->prefix, zhashx_cursor(ips)), ip);
    }
    assert_int_equal(s_keys(ctx, "%s/ipalloc/10.9.0.0_22/svc/%s", ctx->prefix, s_svc), 40);
    zhashx_destroy(&distinct);
    zhashx_destroy(&ips);
}

typedef struct {
    const char *path;
    const char *text;
} s_grep_t;

static bool s_log_has(void *arg)
{
    s_grep_t *g = arg;
    return test_sh("grep -q '%s' '%s'", g->text, g->path) == 0;
}

/* An allocator started while etcd has no quorum (a host booting before its
 * etcd) waits, says so once, and serves once etcd answers; --list, a
 * command, fails at once instead. */
static void test_starts_before_etcd(void **state)
{
    ctx_t *ctx = *state;
    assert_int_equal(etcd_server_kill(ctx->cluster, 1), 0);
    assert_int_equal(etcd_server_kill(ctx->cluster, 2), 0);
    int inject_in = s_stack_core(ctx);
    fixture_t *stack = ctx->stack;
    char out[4096];
    int64_t t0 = zclock_mono();
    assert_true(test_run(out, sizeof out, "'%s' -c '%s' --list 2>&1", test_bin("interlook-ipalloc"),
                         fixture_config(stack)) != 0);
    assert_contains(out, "cannot read the allocations from etcd");
    assert_true(zclock_mono() - t0 < WAIT_MS);
    const char *args[] = {"-c", fixture_config(stack), "--instance", "ipe-early", NULL};
    pid_t pid = fixture_spawn(stack, "interlook-ipalloc", args, "early.log", NULL);
    assert_true(pid > 0);
    char log[512];
    snprintf(log, sizeof log, "%s/early.log", fixture_dir(stack));
    s_grep_t g = {log, "waiting for etcd"};
    assert_true(test_wait(s_log_has, &g, WAIT_MS));
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* still running */
    assert_int_equal(test_sh("grep -c 'waiting for etcd' '%s' | grep -qx 1", log), 0); /* once */
    assert_int_equal(etcd_server_restart(ctx->cluster, 1, START_MS), 0);
    assert_int_equal(etcd_server_restart(ctx->cluster, 2, START_MS), 0);
    assert_true(fixture_wait_registered(stack, "ipam.ipalloc", 1, 2 * WAIT_MS));
    char line[64];
    snprintf(line, sizeof line, "add-many %s 5\n", s_svc);
    assert_int_equal(test_write_text(inject_in, line), 0);
    s_wait_t w = {stack, "deployed", 5, 0};
    if (!test_wait(s_reached, &w, WAIT_MS)) fail_msg("deployed: %d of 5", w.seen);
}

/* Two hosts (namespaces), each with a stack of its own (a core on the file
 * store in the host's namespace, its provider) and one interlook-ipalloc
 * inside the namespace reaching its core and the 3 etcd members through
 * loopback relays; the same 1,000 services reported to both cores at once,
 * so the two allocators race for each: both cores end with the same address
 * for each service, 1,000 distinct, and etcd holds exactly those. */
static void test_two_hosts_two_stacks(void **state)
{
    ctx_t *ctx = *state;
    enum { N = 1000 };
    fixture_t *stack[2];
    int inject_in[2];
    char ipalloc[1024];
    snprintf(ipalloc, sizeof ipalloc, "%s", test_bin("interlook-ipalloc"));
    for (int h = 0; h < 2; h++) {
        const char *ns = s_net_host(h);
        char endpoints[512];
        s_net_etcd(ctx, h, endpoints, sizeof endpoints);
        fixture_opts_t opts = {.name = "test_ipalloc_etcd", .stop_signal = SIGKILL};
        stack[h] = fixture_new(&opts);
        if (h == 0)
            ctx->stack = stack[h];
        else
            ctx->stack2 = stack[h];
        assert_non_null(stack[h]);
        char sections[2048];
        snprintf(sections, sizeof sections,
                 "ipam:\n  ipalloc:\n    network_cidr: 10.66.0.0/20\n    store: etcd\n"
                 "    etcd:\n      endpoints: %s\n      prefix: %s\n",
                 endpoints, ctx->prefix);
        assert_int_equal(fixture_config_write(stack[h],
                                              "  workflowSteps: provider.test,ipam.ipalloc\n"
                                              "  checkFlowInterval: 50ms\n"
                                              "  workflowHousekeeperInterval: 200ms\n"
                                              "  serviceWIPTimeout: 15s\n"
                                              "  retryBackoffMin: 50ms\n"
                                              "  retryBackoffMax: 200ms\n"
                                              "  persistDelay: 20ms\n",
                                              sections),
                         0);
        assert_true(fixture_start_core(stack[h], WAIT_MS) > 0);
        const char *iargs[] = {"--name", "provider.test", NULL};
        assert_true(fixture_spawn_ext(stack[h], "interlook-inject", iargs, &inject_in[h]) > 0);
        char router[64], publish[64], instance[32];
        snprintf(router, sizeof router, "tcp://127.0.0.1:%d",
                 s_net_relay(h, s_port_of(fixture_router(stack[h]))));
        snprintf(publish, sizeof publish, "tcp://127.0.0.1:%d",
                 s_net_relay(h, s_port_of(fixture_publish(stack[h]))));
        snprintf(instance, sizeof instance, "host-%d", h);
        const char *args[] = {
            "netns",    "exec", ns,          ipalloc, "-c",         fixture_config(stack[h]),
            "--router", router, "--publish", publish, "--instance", instance,
            NULL};
        assert_true(fixture_spawn(stack[h], "/usr/sbin/ip", args, "ipalloc.log", NULL) > 0);
        assert_true(fixture_wait_registered(stack[h], "ipam.ipalloc", 1, WAIT_MS));
    }
    int64_t started = zclock_mono();
    for (int h = 0; h < 2; h++) {
        char line[64];
        snprintf(line, sizeof line, "add-many %s %d\n", s_svc, N);
        assert_int_equal(test_write_text(inject_in[h], line), 0);
    }
    zhashx_t *ips[2];
    for (int h = 0; h < 2; h++) {
        s_wait_t w = {stack[h], "deployed", N, 0};
        if (!test_wait(s_reached, &w, 2 * WAIT_MS))
            fail_msg("host %d: deployed %d of %d", h, w.seen, N);
        ips[h] = zhashx_new();
        zhashx_set_destructor(ips[h], (zhashx_destructor_fn *)zstr_free);
        assert_int_equal(s_count_state(stack[h], "deployed", ips[h]), N);
    }
    printf("# %d services deployed at 2 stacks, their allocators racing from 2 namespaces: "
           "%.2f s\n",
           N, (double)(zclock_mono() - started) / 1000.0);
    zhashx_t *distinct = zhashx_new();
    for (const char *ip = zhashx_first(ips[0]); ip; ip = zhashx_next(ips[0])) {
        const char *name = zhashx_cursor(ips[0]);
        const char *other = zhashx_lookup(ips[1], name);
        if (!other || strcmp(ip, other))
            fail_msg("%s: %s at host 0, %s at host 1", name, ip, other ? other : "nothing");
        if (zhashx_insert(distinct, ip, (void *)1) != 0) fail_msg("%s handed out twice", ip);
        assert_string_equal(s_value(ctx, "%s/ipalloc/10.66.0.0_20/svc/%s", ctx->prefix, name), ip);
        assert_string_equal(s_value(ctx, "%s/ipalloc/10.66.0.0_20/ip/%s", ctx->prefix, ip), name);
    }
    assert_int_equal(zhashx_size(distinct), N);
    assert_int_equal(s_keys(ctx, "%s/ipalloc/10.66.0.0_20/svc/%s", ctx->prefix, s_svc), N);
    zhashx_destroy(&distinct);
    zhashx_destroy(&ips[0]);
    zhashx_destroy(&ips[1]);
}

int main(int argc, char *argv[])
{
    if (argc == 7 && !strcmp(argv[1], "--race-child"))
        return s_child(argv[2], argv[3], argv[4], (size_t)atoi(argv[5]), argv[6]);
    snprintf(s_svc, sizeof s_svc, "w%d-", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_txn_logic, s_setup1, s_teardown),
        cmocka_unit_test_setup_teardown(test_batches, s_setup1, s_teardown),
        cmocka_unit_test_setup_teardown(test_lanes, s_setup1, s_teardown),
        cmocka_unit_test_setup_teardown(test_watch_compacted, s_setup1, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_configuration, s_setup1, s_teardown),
        cmocka_unit_test_setup_teardown(test_import, s_setup1, s_teardown),
        cmocka_unit_test_setup_teardown(test_stack_on_etcd, s_setup1, s_teardown),
        cmocka_unit_test_setup_teardown(test_stack_member_killed, s_setup3, s_teardown),
        cmocka_unit_test_setup_teardown(test_stack_no_quorum, s_setup3, s_teardown),
        cmocka_unit_test_setup_teardown(test_starts_before_etcd, s_setup3, s_teardown),
        cmocka_unit_test_setup_teardown(test_race_member_killed, s_setup3, s_teardown),
        cmocka_unit_test_setup_teardown(test_two_namespaces_race, s_setup3, s_teardown),
        cmocka_unit_test_setup_teardown(test_two_hosts_two_stacks, s_setup3, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
