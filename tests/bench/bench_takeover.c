/* bench_takeover: how long a standby core takes to lead after a kill -9 of
 * the leader (issue 16's figure), on the stack of test_ha
 * (tests/support/ha_cluster: 3 etcd members on loopback ports, two
 * interlookd on core.store etcd, interlook-inject, two interlook-ipalloc on
 * the etcd store, interlook-echo), under the same steady load of services
 * added and removed. For each lease TTL, KILLS rounds alternating between
 * the cores: kill -9 of the leader -> the standby's /health says leader
 * (takeover), -> every extension registered with it, -> every service
 * deployed on it; the killed core is started again as the standby. Printed:
 * p50 / max of each, next to the anchors (Kubernetes' leader election, a
 * 15 s lease by default; keepalived's VRRP failover, ~3 s) as ratios.
 *
 * A tool, not a timed test: the exit status is non-zero only when something
 * is incorrect (a round that does not complete, a service lost or with an
 * IP twice, etcd's allocations not the leader's), never for speed; a
 * takeover above 2 x TTL (the bound) is printed as a MISS.
 *
 * usage: bench_takeover [KILLS] [--ttl S[,S...]]   (default 10 kills, TTL 2,5 s) */
#include "tests/support/ha_cluster.h"
#include "tests/support/testutil.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANCHOR_K8S_MS        15000 /* kube leader election: --leader-elect-lease-duration 15s */
#define ANCHOR_KEEPALIVED_MS 3000  /* VRRP: 3 x advert_int (1 s) + skew */
#define MAX_TTLS             8

typedef struct {
    int ttl_s, done;
    int64_t *takeover, *reg, *conv;
    bool ok;
} s_run_t;

/* Runs kills rounds at ttl_s; false when something was incorrect. */
static bool s_run(s_run_t *run, int kills)
{
    ha_cluster_opts_t opts = {.name = "bench_takeover",
                              .ttl_s = run->ttl_s,
                              .log_level = "info",
                              .timeout_ms = 30000 + 4000 * run->ttl_s};
    ha_cluster_t *ha = ha_cluster_new(&opts);
    if (!ha) {
        fprintf(stderr, "bench: the stack did not start (TTL %d s)\n", run->ttl_s);
        return false;
    }
    char why[512] = "";
    bool ok = false;
    int leader = ha_cluster_leader(ha, 30000);
    if (leader < 0) {
        snprintf(why, sizeof why, "no core leads");
        goto done;
    }
    ha_cluster_add(ha, 20);
    if (!ha_cluster_wait_converged(ha, leader, 30000, why, sizeof why)) goto done;
    for (int k = 0; k < kills; k++) {
        ha_takeover_t t;
        int now = ha_cluster_failover(ha, leader, &t, why, sizeof why);
        if (now < 0) goto done;
        run->takeover[k] = t.takeover_ms;
        run->reg[k] = t.register_ms;
        run->conv[k] = t.converge_ms;
        run->done++;
        fprintf(stderr,
                "bench: TTL %d s, kill %d: core %d led after %lld ms, every extension registered "
                "%lld ms later, converged %lld ms later%s\n",
                run->ttl_s, k + 1, now, (long long)t.takeover_ms, (long long)t.register_ms,
                (long long)t.converge_ms,
                t.takeover_ms > 2000LL * run->ttl_s ? " (MISS: above 2 x TTL)" : "");
        leader = now;
    }
    if (ha_cluster_check_allocations(ha, leader, why, sizeof why) != 0) goto done;
    if (!ha_cluster_wait_converged(ha, 1 - leader, 30000, why, sizeof why)) goto done;
    ok = true;
done:
    if (!ok)
        printf("  TTL %d s: INCORRECT after %d kills: %s (logs were in %s)\n", run->ttl_s,
               run->done, why, ha_cluster_dir(ha));
    ha_cluster_destroy(&ha);
    return ok;
}

static void s_ms(char *out, size_t len, int64_t *values, int n)
{
    if (n == 0) {
        snprintf(out, len, "-");
        return;
    }
    int64_t p50 = ha_cluster_percentile(values, (size_t)n, 50);
    int64_t max = ha_cluster_percentile(values, (size_t)n, 100);
    snprintf(out, len, "%lld / %lld ms", (long long)p50, (long long)max);
}

int main(int argc, char *argv[])
{
    int kills = 10;
    int ttls[MAX_TTLS] = {2, 5}, nttl = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ttl") && i + 1 < argc) {
            nttl = 0;
            char *save = NULL, *list = argv[++i];
            for (char *t = strtok_r(list, ",", &save); t && nttl < MAX_TTLS;
                 t = strtok_r(NULL, ",", &save)) {
                int v = atoi(t);
                if (v < 1 || v > 60) {
                    fprintf(stderr, "bench_takeover: --ttl: '%s' is not 1..60 seconds\n", t);
                    return 2;
                }
                ttls[nttl++] = v;
            }
        } else if (atoi(argv[i]) > 0) {
            kills = atoi(argv[i]);
        } else {
            fprintf(stderr, "usage: bench_takeover [KILLS] [--ttl S[,S...]]\n");
            return 2;
        }
    }
    zsys_init();
    zsys_set_logstream(NULL);
    s_run_t runs[MAX_TTLS];
    int rc = 0;
    for (int r = 0; r < nttl; r++) {
        runs[r] = (s_run_t){.ttl_s = ttls[r],
                            .takeover = calloc((size_t)kills, sizeof(int64_t)),
                            .reg = calloc((size_t)kills, sizeof(int64_t)),
                            .conv = calloc((size_t)kills, sizeof(int64_t))};
        runs[r].ok = s_run(&runs[r], kills);
        if (!runs[r].ok) rc = 1;
    }
    printf("Takeover after kill -9 of the leader: %d kills per TTL, alternating, under load "
           "(3 etcd members, 2 cores, 2 allocators on etcd)\n",
           kills);
    printf("%-8s %-22s %-10s %-14s %-14s %-24s %-24s\n", "TTL", "takeover p50 / max", "2 x TTL",
           "vs k8s 15 s", "vs VRRP ~3 s", "-> all registered p50/max", "-> all converged p50/max");
    for (int r = 0; r < nttl; r++) {
        s_run_t *run = &runs[r];
        char ttl[16], take[32], bound[32], k8s[32], vrrp[32], reg[32], conv[32];
        snprintf(ttl, sizeof ttl, "%d s", run->ttl_s);
        snprintf(bound, sizeof bound, "%d ms", 2000 * run->ttl_s);
        if (run->done) {
            int64_t p50 = ha_cluster_percentile(run->takeover, (size_t)run->done, 50);
            int64_t max = ha_cluster_percentile(run->takeover, (size_t)run->done, 100);
            snprintf(k8s, sizeof k8s, "%.2f / %.2f", (double)p50 / ANCHOR_K8S_MS,
                     (double)max / ANCHOR_K8S_MS);
            snprintf(vrrp, sizeof vrrp, "%.2f / %.2f", (double)p50 / ANCHOR_KEEPALIVED_MS,
                     (double)max / ANCHOR_KEEPALIVED_MS);
            if (max > 2000LL * run->ttl_s)
                strncat(bound, " MISS", sizeof bound - strlen(bound) - 1);
        } else {
            snprintf(k8s, sizeof k8s, "-");
            snprintf(vrrp, sizeof vrrp, "-");
        }
        s_ms(take, sizeof take, run->takeover, run->done);
        s_ms(reg, sizeof reg, run->reg, run->done);
        s_ms(conv, sizeof conv, run->conv, run->done);
        printf("%-8s %-22s %-10s %-14s %-14s %-24s %-24s%s\n", ttl, take, bound, k8s, vrrp, reg,
               conv, run->ok ? "" : " INCORRECT");
        free(run->takeover);
        free(run->reg);
        free(run->conv);
    }
    printf("(ratios: takeover p50 / max over the anchor; below 1 is faster)\n");
    return rc;
}
