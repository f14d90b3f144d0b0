/* The core's loop never waits on etcd (core.store: etcd, issue 16): two
 * interlookd on a real 3-member etcd (tests/support/etcd_server) on
 * loopback, interlook-inject as the provider and interlook-echo:
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
#include "tests/support/fixture.h"
#include "tests/support/testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define TTL_S     2
#define WAIT_MS   30000
#define ANSWER_MS 1000 /* the bound on one GET */
#define HUNG_MS   9000 /* how long requests are timed while etcd hangs */
#define MEMBERS   3

typedef struct {
    fixture_t *stack; /* first: see s_teardown */
    etcd_server_t *etcd;
    const char *dir;
    char cfg[2][600];
    char ports[2][600];
    char listen[2][128];
    char api[2][160];
    char router[2][128];
    char publish[2][128];
    pid_t core[2];
    char ext_cfg[600];
    pid_t inject, echo;
    int inject_in;
    int added;
    bool paused;
} ctx_t;

/* Writes core i's configuration on fresh ports of test_free_ports, out of
 * the kernel's ephemeral range, not '*': while a killed core is down, the
 * kernel could hand its ports to a core of another test running meanwhile,
 * and our extensions, trying every endpoint, would register with it. */
static void s_core_config(ctx_t *ctx, int i)
{
    int p[3];
    assert_int_equal(test_free_ports(p, 3), 0);
    snprintf(ctx->listen[i], sizeof ctx->listen[i], "127.0.0.1:%d", p[0]);
    snprintf(ctx->router[i], sizeof ctx->router[i], "tcp://127.0.0.1:%d", p[1]);
    snprintf(ctx->publish[i], sizeof ctx->publish[i], "tcp://127.0.0.1:%d", p[2]);
    char text[4096];
    snprintf(text, sizeof text,
             "core:\n"
             "  logLevel: debug\n"
             "  logFile: %s/core%d.log\n"
             "  listen: \"%s\"\n"
             "  workflowSteps: provider.test,provisioner.echo\n"
             "  checkFlowInterval: 50ms\n"
             "  workflowHousekeeperInterval: 200ms\n"
             "  serviceWIPTimeout: 3s\n"
             "  retryBackoffMin: 50ms\n"
             "  retryBackoffMax: 200ms\n"
             "  persistDelay: 20ms\n"
             "  store: etcd\n"
             "  id: core-%d\n"
             "  etcd:\n"
             "    endpoints: \"%s\"\n"
             "    prefix: /test-ha-loop\n"
             "    leaseTTL: %ds\n"
             "  bus:\n"
             "    heartbeat: 100ms\n"
             "    liveness: 3\n"
             "    router: \"%s\"\n"
             "    publish: \"%s\"\n",
             ctx->dir, i, ctx->listen[i], i, etcd_server_endpoints(ctx->etcd), TTL_S,
             ctx->router[i], ctx->publish[i]);
    snprintf(ctx->cfg[i], sizeof ctx->cfg[i], "%s/core%d.yaml", ctx->dir, i);
    assert_int_equal(test_write_file(ctx->cfg[i], text), 0);
}

typedef struct {
    ctx_t *ctx;
    int i;
    bool ended;
} s_core_ref_t;

static bool s_ports_written(void *arg)
{
    s_core_ref_t *ref = arg;
    if (waitpid(ref->ctx->core[ref->i], NULL, WNOHANG) == ref->ctx->core[ref->i]) ref->ended = true;
    return ref->ended || access(ref->ctx->ports[ref->i], R_OK) == 0;
}

/* Starts core i on fresh ports and waits until it wrote them; a core that
 * ended first (a port taken between the pick and the bind) is started again
 * on other ones, a few times. */
static void s_start_core(ctx_t *ctx, int i)
{
    snprintf(ctx->ports[i], sizeof ctx->ports[i], "%s/core%d.ports", ctx->dir, i);
    char log[64];
    snprintf(log, sizeof log, "core%d.out", i);
    s_core_ref_t ref = {ctx, i, true};
    for (int tries = 0; ref.ended && tries < 5; tries++) {
        s_core_config(ctx, i);
        unlink(ctx->ports[i]);
        const char *args[] = {"-c", ctx->cfg[i], "--ports-file", ctx->ports[i], NULL};
        ctx->core[i] = fixture_spawn(ctx->stack, "interlookd", args, log, NULL);
        assert_true(ctx->core[i] > 0);
        ref.ended = false;
        if (!test_wait(s_ports_written, &ref, WAIT_MS)) break;
        if (ref.ended) fprintf(stderr, "test: core %d ended: on other ports again\n", i);
    }
    if (ref.ended || access(ctx->ports[i], R_OK) != 0) {
        test_sh("cat '%s/%s' '%s/core%d.log' >&2", ctx->dir, log, ctx->dir, i);
        fail_msg("core %d did not start", i);
    }
    FILE *f = fopen(ctx->ports[i], "r");
    assert_non_null(f);
    char listen[128], router[128], publish[128];
    assert_int_equal(fscanf(f, "listen %127s router %127s publish %127s", listen, router, publish),
                     3);
    fclose(f);
    assert_string_equal(listen, ctx->listen[i]);
    assert_string_equal(router, ctx->router[i]);
    assert_string_equal(publish, ctx->publish[i]);
    snprintf(ctx->api[i], sizeof ctx->api[i], "http://%s", listen);
}

static bool s_is_role(ctx_t *ctx, int i, const char *want)
{
    json_t *h = test_get_json(ctx->api[i], "/health");
    const char *role = h ? json_string_value(json_object_get(h, "role")) : NULL;
    bool is = role && !strcmp(role, want);
    json_decref(h);
    return is;
}

typedef struct {
    ctx_t *ctx;
    int i;
    const char *role;
} s_role_wait_t;

static bool s_role_is(void *arg)
{
    s_role_wait_t *w = arg;
    return s_is_role(w->ctx, w->i, w->role);
}

/* The core that leads while the other stands by, waited for; -1 when none. */
static int s_pair(ctx_t *ctx, int timeout_ms)
{
    int64_t end = zclock_mono() + timeout_ms;
    do {
        for (int i = 0; i < 2; i++)
            if (ctx->core[i] > 0 && ctx->core[1 - i] > 0 && s_is_role(ctx, i, "leader") &&
                s_is_role(ctx, 1 - i, "standby"))
                return i;
        zclock_sleep(20);
    } while (zclock_mono() < end);
    return -1;
}

static void s_say(ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_say(ctx_t *ctx, const char *fmt, ...)
{
    char line[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    assert_int_equal(test_write_text(ctx->inject_in, line), 0);
}

static void s_add(ctx_t *ctx, int n)
{
    for (int k = 0; k < n; k++, ctx->added++)
        s_say(ctx, "add s%d 127.0.0.1:%d\n", ctx->added, 10000 + ctx->added);
}

typedef struct {
    ctx_t *ctx;
    int i;
    int deleted; /* s0..s(deleted-1) are expected undeployed */
    char why[256];
} s_converged_t;

/* Core i's /services holds every service reported, each deployed (or
 * undeployed when deleted), and no other. */
static bool s_converged(void *arg)
{
    s_converged_t *c = arg;
    json_t *all = test_get_json(c->ctx->api[c->i], "/services");
    if (!all) {
        snprintf(c->why, sizeof c->why, "no /services (200)");
        return false;
    }
    bool ok = json_object_size(all) == (size_t)c->ctx->added;
    if (!ok) {
        char *text = json_dumps(all, JSON_COMPACT);
        snprintf(c->why, sizeof c->why, "%zu services for %d reported: %.150s",
                 json_object_size(all), c->ctx->added, text ? text : "");
        free(text);
    }
    for (int k = 0; k < c->ctx->added && ok; k++) {
        char name[32];
        snprintf(name, sizeof name, "s%d", k);
        json_t *e = json_object_get(all, name);
        const char *state = json_string_value(json_object_get(e, "state"));
        const char *want = k < c->deleted ? "undeployed" : "deployed";
        if (!state || strcmp(state, want) || json_is_true(json_object_get(e, "wip"))) {
            snprintf(c->why, sizeof c->why, "%s: %s, not %s", name, state ? state : "missing",
                     want);
            ok = false;
        }
    }
    json_decref(all);
    return ok;
}

/* Core i converges within timeout_ms; the time it took. */
static int64_t s_assert_converged(ctx_t *ctx, int i, int deleted, int timeout_ms)
{
    int64_t start = zclock_mono();
    s_converged_t c = {ctx, i, deleted, ""};
    if (!test_wait(s_converged, &c, timeout_ms))
        fail_msg("core %d did not converge in %d ms: %s", i, timeout_ms, c.why);
    return zclock_mono() - start;
}

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    fixture_opts_t opts = {.name = "test_ha_loop"};
    ctx->stack = fixture_new(&opts);
    if (!ctx->stack) return -1;
    ctx->dir = fixture_dir(ctx->stack);
    char etcd_dir[700];
    snprintf(etcd_dir, sizeof etcd_dir, "%s/etcd", ctx->dir);
    ctx->etcd = etcd_server_new(etcd_dir, MEMBERS, WAIT_MS);
    if (!ctx->etcd) return -1;
    ctx->inject_in = -1;
    for (int i = 0; i < 2; i++)
        s_start_core(ctx, i);
    char text[4096];
    snprintf(text, sizeof text,
             "core:\n"
             "  bus:\n"
             "    heartbeat: 100ms\n"
             "    liveness: 3\n"
             "    router: \"%s,%s\"\n"
             "    publish: \"%s,%s\"\n",
             ctx->router[0], ctx->router[1], ctx->publish[0], ctx->publish[1]);
    snprintf(ctx->ext_cfg, sizeof ctx->ext_cfg, "%s/ext.yaml", ctx->dir);
    if (test_write_file(ctx->ext_cfg, text) != 0) return -1;
    const char *inject[] = {"-c", ctx->ext_cfg, "--name", "provider.test", NULL};
    ctx->inject =
        fixture_spawn(ctx->stack, "interlook-inject", inject, "inject.log", &ctx->inject_in);
    const char *echo[] = {"-c", ctx->ext_cfg, "--instance", "echo-1", NULL};
    ctx->echo = fixture_spawn(ctx->stack, "interlook-echo", echo, "echo.log", NULL);
    return ctx->inject > 0 && ctx->echo > 0 ? 0 : -1;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    if (!ctx) return 0;
    if (ctx->paused) /* a failed test left them hung: the cores' stop would wait on them */
        for (size_t m = 0; m < MEMBERS; m++)
            etcd_server_resume(ctx->etcd, m);
    fixture_destroy(&ctx->stack);
    etcd_server_destroy(&ctx->etcd);
    free(ctx);
    return 0;
}

/* One GET of core i's path, timed: its status (0: no answer within the
 * client's 5 s) and body (caller frees). */
static char *s_timed_get(ctx_t *ctx, int i, const char *path, long *status, int64_t *ms)
{
    char url[400];
    snprintf(url, sizeof url, "%s%s", ctx->api[i], path);
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
    s_add(ctx, 3);
    s_assert_converged(ctx, leader, 0, WAIT_MS);
    s_assert_converged(ctx, standby, 0, WAIT_MS);
    for (size_t m = 0; m < MEMBERS; m++)
        assert_int_equal(etcd_server_pause(ctx->etcd, m), 0);
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
        assert_int_equal(etcd_server_resume(ctx->etcd, m), 0);
    ctx->paused = false;
    leader = s_pair(ctx, WAIT_MS);
    assert_true(leader >= 0);
    s_add(ctx, 2);
    s_assert_converged(ctx, leader, 0, WAIT_MS);
    s_assert_converged(ctx, 1 - leader, 0, WAIT_MS);
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
        s_add(ctx, 4);
        s_assert_converged(ctx, leader, 0, WAIT_MS);
        int64_t lag = s_assert_converged(ctx, standby, 0, 5000);
        if (lag > lag_max) lag_max = lag;
    }
    s_say(ctx, "delete s0\n");
    s_assert_converged(ctx, leader, 1, WAIT_MS);
    int64_t lag = s_assert_converged(ctx, standby, 1, 5000);
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
    s_add(ctx, 40);
    s_assert_converged(ctx, leader, 0, WAIT_MS);
    kill(ctx->core[leader], SIGKILL);
    int64_t killed = zclock_mono();
    waitpid(ctx->core[leader], NULL, 0);
    ctx->core[leader] = 0;
    s_role_wait_t w = {ctx, other, "leader"};
    assert_true(test_wait(s_role_is, &w, WAIT_MS));
    fprintf(stderr, "test: core %d took over in %lld ms\n", other,
            (long long)(zclock_mono() - killed));
    assert_true(zclock_mono() - killed <= 2 * TTL_S * 1000 + 1000);
    char out[512] = "";
    test_run(out, sizeof out, "grep -o 'leading (core-%d): [0-9]* entries loaded' '%s/core%d.log'",
             other, ctx->dir, other);
    fprintf(stderr, "test: %s", out);
    assert_non_null(strstr(out, ": 40 entries loaded"));
    s_add(ctx, 2);
    s_assert_converged(ctx, other, 0, WAIT_MS);
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
