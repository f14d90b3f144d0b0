/* bench_ipalloc_etcd: allocations per second of the IP allocator's two
 * stores in one run, through the allocator's own modules (what a batch of
 * work costs the allocator, without the core and the bus):
 *   file  alloc_db on a file in /tmp: begin, pool_take_lowest + stage per
 *         service, commit (one fdatasync per batch);
 *   etcd  alloc_etcd_apply on real etcd 3.4 members on 127.0.0.1 (1 and 3
 *         members): txns of up to 64 allocations, committed on a quorum;
 *         and two stores (two allocators) racing for the same pool on the
 *         3 members, both allocating different services.
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
    double rate, release_rate;
    uint64_t txns, conflicts;
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
    alloc_etcd_req_t *reqs = calloc(run->batch, sizeof *reqs);
    char(*names)[48] = calloc(run->batch, 48);
    for (int release = 0; release < 2; release++) {
        int64_t t0 = zclock_usecs();
        for (size_t i = 0; i < run->n; i += run->batch) {
            size_t m = 0;
            for (size_t k = i; k < run->n && k < i + run->batch; k++, m++) {
                snprintf(names[m], 48, "%s-%zu", run->tag, k);
                reqs[m] = (alloc_etcd_req_t){.name = names[m], .release = release};
            }
            run->errors += alloc_etcd_apply(store, reqs, m, zclock_mono() + 30000);
            alloc_etcd_sync(store, 0, err, sizeof err);
        }
        double rate = (double)run->n * 1e6 / (double)(zclock_usecs() - t0);
        if (release)
            run->release_rate = rate;
        else
            run->rate = rate;
    }
    run->txns = alloc_etcd_txns(store);
    run->conflicts = alloc_etcd_conflicts(store);
    free(reqs);
    free(names);
    alloc_etcd_destroy(&store);
    return NULL;
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
        if (members == 3) { /* two allocators, one pool */
            s_run_t two[2] = {
                {.cluster = cluster, .prefix = "/bench-two", .tag = "a", .n = n, .batch = 100},
                {.cluster = cluster, .prefix = "/bench-two", .tag = "b", .n = n, .batch = 100}};
            pthread_t t[2];
            int64_t t0 = zclock_usecs();
            for (int i = 0; i < 2; i++)
                pthread_create(&t[i], NULL, s_etcd, &two[i]);
            for (int i = 0; i < 2; i++)
                pthread_join(t[i], NULL);
            double secs = (double)(zclock_usecs() - t0) / 1e6;
            errors += two[0].errors + two[1].errors;
            printf("%-44s %18s %9.0f (both, allocations and releases: %.0f/s; txns failed "
                   "on a compare: %llu of %llu and %llu of %llu)\n",
                   "etcd, 3 members, two allocators racing", "-", two[0].rate + two[1].rate,
                   4.0 * (double)n / secs, (unsigned long long)two[0].conflicts,
                   (unsigned long long)two[0].txns, (unsigned long long)two[1].conflicts,
                   (unsigned long long)two[1].txns);
        }
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
