/* The core's loop never waits on etcd (core.store: etcd, issue 16), on the
 * HA stack of tests/support/ha_cluster (a real 3-member etcd on loopback, two
 * interlookd, interlook-inject as the provider, two interlook-ipalloc on
 * etcd, interlook-echo):
 *   - with every etcd member hung (SIGSTOP), each GET of /health and
 *     /services on either core answers within a second (a standby answers
 *     /services from its mirror, or 503 naming etcd once the mirror knows it
 *     lags); before, a standby read etcd for each request and its loop
 *     stalled for the client's time-out (5 s);
 *   - a standby's /services follows the leader's changes (a watch), within a
 *     bounded wait;
 *   - after a kill -9 of the leader, the standby loads every entry (on the
 *     store's thread) and leads. */
#include "tests/support/etcd_server.h"
#include "tests/support/ha_cluster.h"
#include "tests/support/testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define TTL_S     2
#define WAIT_MS   30000
#define ANSWER_MS 1000 /* the bound on one GET */
#define HUNG_MS   9000 /* how long requests are timed while etcd hangs */
#define MEMBERS   3

typedef struct {
    ha_cluster_t *ha;
    bool paused;
} ctx_t;

/* The core that leads while the other stands by, waited for; -1 when none. */
static int s_pair(ctx_t *ctx, int timeout_ms)
{
    int leader = ha_cluster_leader(ctx->ha, timeout_ms);
    if (leader < 0 || !ha_cluster_wait_role(ctx->ha, 1 - leader, "standby", timeout_ms)) return -1;
    return leader;
}

/* Core i converges within timeout_ms (every live service deployed, every
 * removed one undeployed or gone); the time it took. */
static int64_t s_assert_converged(ctx_t *ctx, int i, int timeout_ms)
{
    int64_t start = zclock_mono();
    char why[512] = "";
    if (!ha_cluster_wait_converged(ctx->ha, i, timeout_ms, why, sizeof why))
        fail_msg("core %d did not converge in %d ms: %s", i, timeout_ms, why);
    return zclock_mono() - start;
}

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    ha_cluster_opts_t opts = {.name = "test_ha_loop", .ttl_s = TTL_S, .timeout_ms = WAIT_MS};
    ctx->ha = ha_cluster_new(&opts);
    return ctx->ha ? 0 : -1;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    if (!ctx) return 0;
    if (ctx->paused) /* a failed test left them hung: the cores' stop would wait on them */
        for (size_t m = 0; m < MEMBERS; m++)
            etcd_server_resume(ha_cluster_etcd(ctx->ha), m);
    ha_cluster_destroy(&ctx->ha);
    free(ctx);
    return 0;
}

/* One GET of core i's path, timed: its status (0: no answer within the
 * client's 5 s) and body (caller frees). */
static char *s_timed_get(ctx_t *ctx, int i, const char *path, long *status, int64_t *ms)
{
    char url[400];
    snprintf(url, sizeof url, "%s%s", ha_cluster_api(ctx->ha, i), path);
    *status = 0;
    int64_t start = zclock_mono();
    char *body = test_http_get(url, status);
    *ms = zclock_mono() - start;
    return body;
}

typedef struct {
    ctx_t *ctx;
    int i;
    char error[1024];
} s_503_t;

/* Core i's /services answers 503 with a JSON error naming etcd. */
static bool s_services_503(void *arg)
{
    s_503_t *w = arg;
    long status = 0;
    int64_t ms = 0;
    char *body = s_timed_get(w->ctx, w->i, "/services", &status, &ms);
    json_t *j = body && status == 503 ? json_loads(body, 0, NULL) : NULL;
    const char *error = j ? json_string_value(json_object_get(j, "error")) : NULL;
    bool ok = error && strstr(error, "etcd");
    if (ok) snprintf(w->error, sizeof w->error, "%s", error);
    json_decref(j);
    free(body);
    return ok;
}

/* Every etcd member hung (SIGSTOP: sockets open, no answer): /health and
 * /services of both cores answer each GET within ANSWER_MS, for HUNG_MS
 * (longer than the etcd client's time-out, 5 s, and the mirror's idle
 * re-open); the standby's /services then says 503, naming etcd. With the
 * members back, a core leads and the other's view follows again. */
static void test_answers_while_etcd_hangs(void **state)
{
    ctx_t *ctx = *state;
    int leader = s_pair(ctx, WAIT_MS);
    assert_true(leader >= 0);
    int standby = 1 - leader;
    assert_int_equal(ha_cluster_add(ctx->ha, 3), 0);
    s_assert_converged(ctx, leader, WAIT_MS);
    s_assert_converged(ctx, standby, WAIT_MS);
    for (size_t m = 0; m < MEMBERS; m++)
        assert_int_equal(etcd_server_pause(ha_cluster_etcd(ctx->ha), m), 0);
    ctx->paused = true;
    int64_t end = zclock_mono() + HUNG_MS, worst[2] = {0, 0};
    int gets = 0, services_200 = 0, services_503 = 0;
    const char *paths[] = {"/health", "/services"};
    while (zclock_mono() < end) {
        for (int k = 0; k < 4; k++) {
            int i = k < 2 ? standby : leader;
            const char *path = paths[k % 2];
            long status = 0;
            int64_t ms = 0;
            char *body = s_timed_get(ctx, i, path, &status, &ms);
            gets++;
            if (ms > worst[i == standby ? 0 : 1]) worst[i == standby ? 0 : 1] = ms;
            if (!body || ms > ANSWER_MS)
                fail_msg("etcd hung: GET %s on the %s took %lld ms (status %ld; bound %d ms)", path,
                         i == standby ? "standby" : "leader", (long long)ms, status, ANSWER_MS);
            if (i == standby && k % 2 == 1) {
                if (status == 200) services_200++;
                if (status == 503) services_503++;
            }
            free(body);
        }
        zclock_sleep(20); /* pacing: some 150 GETs a second, not a flood */
    }
    fprintf(stderr,
            "test: etcd hung %d ms: %d GETs, slowest %lld ms on the standby, %lld ms on the "
            "leader; the standby's /services: %d x 200 (its mirror), %d x 503\n",
            HUNG_MS, gets, (long long)worst[0], (long long)worst[1], services_200, services_503);
    s_503_t w = {ctx, standby, ""};
    assert_true(test_wait(s_services_503, &w, WAIT_MS));
    fprintf(stderr, "test: the standby's /services: 503: %s\n", w.error);
    for (size_t m = 0; m < MEMBERS; m++)
        assert_int_equal(etcd_server_resume(ha_cluster_etcd(ctx->ha), m), 0);
    ctx->paused = false;
    leader = s_pair(ctx, WAIT_MS);
    assert_true(leader >= 0);
    assert_int_equal(ha_cluster_add(ctx->ha, 2), 0);
    s_assert_converged(ctx, leader, WAIT_MS);
    s_assert_converged(ctx, 1 - leader, WAIT_MS);
}

/* A standby's /services follows the leader's changes: added services, then
 * a deleted one, show within a bounded wait (printed). */
static void test_standby_view_follows(void **state)
{
    ctx_t *ctx = *state;
    int leader = s_pair(ctx, WAIT_MS);
    assert_true(leader >= 0);
    int standby = 1 - leader;
    int64_t lag_max = 0;
    for (int round = 0; round < 5; round++) {
        assert_int_equal(ha_cluster_add(ctx->ha, 4), 0);
        s_assert_converged(ctx, leader, WAIT_MS);
        int64_t lag = s_assert_converged(ctx, standby, 5000);
        if (lag > lag_max) lag_max = lag;
    }
    assert_int_equal(ha_cluster_remove(ctx->ha, 1), 0); /* s0 */
    s_assert_converged(ctx, leader, WAIT_MS);
    int64_t lag = s_assert_converged(ctx, standby, 5000);
    if (lag > lag_max) lag_max = lag;
    fprintf(stderr,
            "test: the standby's /services showed the leader's state at most %lld ms after the "
            "leader did (polled)\n",
            (long long)lag_max);
}

/* kill -9 of the leader: the standby loads every entry (on the store's
 * thread, the loop meanwhile refusing HELLO) and leads; all converge. */
static void test_takeover_loads_all(void **state)
{
    ctx_t *ctx = *state;
    int leader = s_pair(ctx, WAIT_MS);
    assert_true(leader >= 0);
    int other = 1 - leader;
    assert_int_equal(ha_cluster_add(ctx->ha, 40), 0);
    s_assert_converged(ctx, leader, WAIT_MS);
    int64_t killed = zclock_mono();
    assert_int_equal(ha_cluster_kill_core(ctx->ha, leader), 0);
    assert_true(ha_cluster_wait_role(ctx->ha, other, "leader", WAIT_MS));
    fprintf(stderr, "test: core %d took over in %lld ms\n", other,
            (long long)(zclock_mono() - killed));
    assert_true(zclock_mono() - killed <= 2 * TTL_S * 1000 + 1000);
    char out[512] = "";
    test_run(out, sizeof out, "grep -o 'leading (core-%d): [0-9]* entries loaded' '%s/core%d.log'",
             other, ha_cluster_dir(ctx->ha), other);
    fprintf(stderr, "test: %s", out);
    assert_non_null(strstr(out, ": 40 entries loaded"));
    assert_int_equal(ha_cluster_add(ctx->ha, 2), 0);
    s_assert_converged(ctx, other, WAIT_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_answers_while_etcd_hangs, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_standby_view_follows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_takeover_loads_all, s_setup, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
