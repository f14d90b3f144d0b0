/* bench_ipalloc_etcd: allocations per second of the IP allocator's two
 * stores in one run, through the allocator's own modules (what a batch of
 * work costs the allocator, without the core and the bus):
 *   file  alloc_db on a file in /tmp: begin, pool_take_lowest + stage per
 *         service, commit (one fdatasync per batch);
 *   etcd  alloc_etcd_apply on real etcd 3.4 members on 127.0.0.1 (1 and 3
 *         members): txns of up to 64 allocations, committed on a quorum;
 *         and two stores (two allocators) racing for the same pool on the
 *         3 members, batches of 100: both allocating different services,
 *         then both the same services in opposite orders (as two allocators
 *         given the same work do), each with the former policy (every store
 *         tries the lowest free addresses) and the current one (a lost race
 *         moves the store to a lane, alloc_etcd.h), printing allocations per
 *         second and the allocation txns that lost a race (failed a
 *         compare), and the ratios after/before.
 * Each at batches of 1 (one service a round: latency-bound) and of 100 (the
 * allocator's group commit under load). Then as many releases.
 *
 * usage: bench_ipalloc_etcd [N]   (N services per run, default 2000) */
#define _GNU_SOURCE
#include "common/etcd.h"
#include "extensions/ipalloc/alloc_db.h"
#include "extensions/ipalloc/alloc_etcd.h"
#include "extensions/ipalloc/pool.h"
#include "tests/support/etcd_server.h"
#include "tests/support/testutil.h"

#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CIDR "10.50.0.0/16"

static double s_file(const char *dir, size_t n, size_t batch, double *release_rate)
{
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/bench-%zu.db", dir, batch);
    alloc_db_t *db = alloc_db_open(path, err, sizeof err);
    pool_t *pool = pool_new(CIDR, NULL, NULL, NULL, err, sizeof err);
    if (!db || !pool) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    int64_t t0 = zclock_usecs();
    for (size_t i = 0; i < n; i += batch) {
        alloc_db_begin(db, err, sizeof err);
        for (size_t k = i; k < n && k < i + batch; k++) {
            char name[32], ip[64];
            pool_addr_t addr;
            snprintf(name, sizeof name, "svc-%zu", k);
            pool_take_lowest(pool, &addr);
            alloc_db_stage_allocate(db, name, pool_addr_format(addr, 4, ip, sizeof ip),
                                    zclock_time());
        }
        if (alloc_db_commit(db, err, sizeof err) != 0) fprintf(stderr, "bench: %s\n", err);
    }
    double rate = (double)n * 1e6 / (double)(zclock_usecs() - t0);
    t0 = zclock_usecs();
    for (size_t i = 0; i < n; i += batch) {
        alloc_db_begin(db, err, sizeof err);
        for (size_t k = i; k < n && k < i + batch; k++) {
            char name[32];
            snprintf(name, sizeof name, "svc-%zu", k);
            alloc_db_stage_release(db, name, zclock_time());
        }
        alloc_db_commit(db, err, sizeof err);
    }
    *release_rate = (double)n * 1e6 / (double)(zclock_usecs() - t0);
    alloc_db_destroy(&db);
    pool_destroy(&pool);
    return rate;
}

typedef struct {
    etcd_server_t *cluster;
    const char *prefix;
    const char *tag;
    size_t n, batch, errors;
    bool down;   /* names in reverse order */
    bool lowest; /* the former policy: always the lowest free address */
    double rate, release_rate, alloc_secs;
    uint64_t txns, conflicts;             /* over the run */
    uint64_t alloc_txns, alloc_conflicts; /* over the allocations */
    uint64_t lost;                        /* candidate addresses another service took */
} s_run_t;

static void *s_etcd(void *arg)
{
    s_run_t *run = arg;
    char err[1024], key[64];
    il_etcd_config_t c = {.endpoints = etcd_server_endpoint_list(run->cluster),
                          .endpoint_count = etcd_server_size(run->cluster)};
    pool_t *pool = pool_new(CIDR, NULL, NULL, NULL, err, sizeof err);
    alloc_etcd_t *store =
        alloc_etcd_new(&c, run->prefix, alloc_etcd_pool_key(CIDR, key, 64), pool, err, sizeof err);
    if (!store || alloc_etcd_load(store, err, sizeof err) != 0) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    alloc_etcd_set_spread(store, !run->lowest);
    alloc_etcd_req_t *reqs = calloc(run->batch, sizeof *reqs);
    char(*names)[48] = calloc(run->batch, 48);
    for (int release = 0; release < 2; release++) {
        int64_t t0 = zclock_usecs();
        for (size_t i = 0; i < run->n; i += run->batch) {
            size_t m = 0;
            for (size_t k = i; k < run->n && k < i + run->batch; k++, m++) {
                snprintf(names[m], 48, "%s-%zu", run->tag, run->down ? run->n - 1 - k : k);
                reqs[m] = (alloc_etcd_req_t){.name = names[m], .release = release};
            }
            run->errors += alloc_etcd_apply(store, reqs, m, zclock_mono() + 30000);
            alloc_etcd_sync(store, 0, err, sizeof err);
        }
        double secs = (double)(zclock_usecs() - t0) / 1e6;
        double rate = (double)run->n / secs;
        if (release)
            run->release_rate = rate;
        else {
            run->rate = rate;
            run->alloc_secs = secs;
            run->alloc_txns = alloc_etcd_txns(store);
            run->alloc_conflicts = alloc_etcd_conflicts(store);
            run->lost = alloc_etcd_lost(store);
        }
    }
    run->txns = alloc_etcd_txns(store);
    run->conflicts = alloc_etcd_conflicts(store);
    free(reqs);
    free(names);
    alloc_etcd_destroy(&store);
    return NULL;
}

/* Two stores racing for one pool, batches of 100: rate (allocations a
 * second over both, distinct services) and the share of allocation txns
 * that lost a race. same: both allocate the same services, in opposite
 * orders; else different ones. Returns the requests that failed. */
static size_t s_race_one(etcd_server_t *cluster, size_t n, bool same, bool lowest, double *rate,
                         double *lost)
{
    static int round;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "/bench-race-%d", round++);
    s_run_t two[2];
    for (int i = 0; i < 2; i++)
        two[i] = (s_run_t){.cluster = cluster,
                           .prefix = prefix,
                           .tag = same ? "s"
                                  : i  ? "b"
                                       : "a",
                           .n = n,
                           .batch = 100,
                           .down = same && i == 1,
                           .lowest = lowest};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, s_etcd, &two[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    double secs = two[0].alloc_secs > two[1].alloc_secs ? two[0].alloc_secs : two[1].alloc_secs;
    uint64_t txns = two[0].alloc_txns + two[1].alloc_txns;
    uint64_t failed = two[0].alloc_conflicts + two[1].alloc_conflicts;
    *rate = (double)(same ? n : 2 * n) / secs;
    *lost = txns ? (double)failed / (double)txns : 0;
    char label[96];
    snprintf(label, sizeof label, "  %s, %s", same ? "same services" : "different services",
             lowest ? "lowest first (before)" : "lanes (after)");
    printf("%-44s %18s %9.0f (allocation txns lost: %llu of %llu, %.0f%%, %llu + %llu; "
           "addresses lost to the other: %llu)\n",
           label, "-", *rate, (unsigned long long)failed, (unsigned long long)txns, 100.0 * *lost,
           (unsigned long long)two[0].alloc_conflicts, (unsigned long long)two[1].alloc_conflicts,
           (unsigned long long)(two[0].lost + two[1].lost));
    return two[0].errors + two[1].errors;
}

/* The races, the former policy and the current one in one run. */
static size_t s_race(etcd_server_t *cluster, size_t n)
{
    size_t errors = 0;
    printf("etcd, 3 members, two allocators racing (batches of 100):\n");
    for (int same = 0; same < 2; same++) {
        double rate[2], lost[2];
        for (int after = 0; after < 2; after++)
            errors += s_race_one(cluster, n, same, !after, &rate[after], &lost[after]);
        printf("  %-42s allocations/s x%.2f, share of txns lost x%.2f (%.0f%% -> %.0f%%)\n",
               "after/before", rate[1] / rate[0], lost[0] > 0 ? lost[1] / lost[0] : 0,
               100.0 * lost[0], 100.0 * lost[1]);
    }
    return errors;
}

int main(int argc, char *argv[])
{
    size_t n = argc > 1 ? (size_t)atoi(argv[1]) : 2000;
    if (n == 0) n = 2000;
    zsys_init();
    zsys_set_logstream(NULL);
    char *dir = test_tmpdir();
    printf("IP allocations per second, %zu services a run (releases after the slash)\n", n);
    printf("%-44s %18s %18s\n", "store", "batch 1", "batch 100");
    double a1, r1, a100, r100;
    a1 = s_file(dir, n, 1, &r1);
    a100 = s_file(dir, n, 100, &r100);
    printf("%-44s %9.0f/%-8.0f %9.0f/%-8.0f\n", "file (fdatasync per batch)", a1, r1, a100, r100);
    int rc = 0;
    for (size_t members = 1; members <= 3; members += 2) {
        etcd_server_t *cluster = etcd_server_new(NULL, members, 30000);
        if (!cluster) {
            fprintf(stderr, "bench: no etcd\n");
            return 1;
        }
        double rate[2], rel[2];
        size_t errors = 0;
        for (int b = 0; b < 2; b++) {
            char prefix[64];
            snprintf(prefix, sizeof prefix, "/bench-%d", b);
            s_run_t run = {
                .cluster = cluster, .prefix = prefix, .tag = "svc", .n = n, .batch = b ? 100 : 1};
            s_etcd(&run);
            rate[b] = run.rate;
            rel[b] = run.release_rate;
            errors += run.errors;
        }
        char label[64];
        snprintf(label, sizeof label, "etcd, %zu member%s (one allocator)", members,
                 members > 1 ? "s" : "");
        printf("%-44s %9.0f/%-8.0f %9.0f/%-8.0f\n", label, rate[0], rel[0], rate[1], rel[1]);
        if (members == 3) /* two allocators, one pool */
            errors += s_race(cluster, n);
        if (errors) {
            printf("  %zu requests failed\n", errors);
            rc = 1;
        }
        etcd_server_destroy(&cluster);
    }
    test_rm_tree(dir);
    free(dir);
    return rc;
}
