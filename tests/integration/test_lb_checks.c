/* interlook-lb's health checks and defaults' timeouts against a real
 * HAProxy: two real HTTP backends of one service, one of which answers 500
 * on the check path (its port open, "/" answered 200: a TCP check cannot
 * tell). With lb.haproxy.healthCheck http the bad one is taken out (also
 * when it comes through the runtime API, and when the setting changes
 * across a restart of interlook-lb); with tcp both get traffic. Real
 * interlookd, interlook-inject, interlook-ipalloc, interlook-lb and HAProxy;
 * VIPs from 127.81.X.0/24 (X from the pid), everything on loopback. */
#include "tests/support/asserts.h"
#include "tests/support/fixture.h"
#include "tests/support/haproxy_server.h"
#include "tests/support/http_backend.h"
#include "tests/support/testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define WAIT_MS  20000
#define REQUESTS 20

#define S_HTTP                                                                                     \
    "    healthCheck: http\n    healthCheckPath: /healthz\n    healthCheckExpect: 200-399\n"
#define S_TIMEOUTS                                                                                 \
    "    timeouts:\n      connect: 1500ms\n      client: 2m\n      server: 90s\n"                  \
    "      httpRequest: 7s\n      tunnel: 2h\n"

typedef struct {
    fixture_t *stack; /* first: fixture_teardown */
    haproxy_server_t *haproxy;
    pid_t good, bad, bad2;
    uint16_t good_port, bad_port, bad2_port;
    unsigned x; /* the third octet of this run's pool */
    int prov_in;
    pid_t lb;
    char hdir[600], lb_file[600], lb_log[600];
    char vip[64];
    /* the server s_status waits on, and the status wanted */
    uint16_t port;
    const char *status;
    const char *svc; /* the service the waits look at, NULL: web */
} ctx_t;

/* The configuration, with extra lines in lb.haproxy (4 spaces). */
static int s_write_config(ctx_t *ctx, const char *extra)
{
    char sections[4096];
    snprintf(sections, sizeof sections,
             "ipam:\n  ipalloc: { network_cidr: 127.81.%u.0/24, db_file: {dir}/ipalloc.db }\n"
             "lb:\n  haproxy:\n%s    masterLog: %s/haproxy.log\n    healthInterval: 200ms\n"
             "    watchInterval: 200ms\n    timeout: 3s\n%s",
             ctx->x, haproxy_server_yaml(ctx->haproxy), ctx->hdir, extra);
    return fixture_config_write(ctx->stack,
                                "  workflowSteps: provider.inject,ipam.ipalloc,lb.haproxy\n"
                                "  checkFlowInterval: 100ms\n  retryBackoffMin: 100ms\n"
                                "  retryBackoffMax: 500ms\n",
                                sections);
}

static pid_t s_start_lb(ctx_t *ctx)
{
    const char *lb[] = {"-c", fixture_config(ctx->stack), NULL};
    return fixture_spawn(ctx->stack, "interlook-lb", lb, "lb.log", NULL);
}

static int s_setup(void **state, const char *extra)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    ctx->prov_in = -1;
    ctx->x = (unsigned)getpid() % 250u + 1u;
    fixture_opts_t opts = {.name = "test_lb_checks", .bus = "heartbeat: 200ms, liveness: 5"};
    ctx->stack = fixture_new(&opts);
    if (!ctx->stack) return -1;
    const char *dir = fixture_dir(ctx->stack);
    snprintf(ctx->hdir, sizeof ctx->hdir, "%s/haproxy", dir);
    snprintf(ctx->lb_file, sizeof ctx->lb_file, "%s/interlook.cfg", dir);
    snprintf(ctx->lb_log, sizeof ctx->lb_log, "%s/lb.log", dir);
    ctx->haproxy = haproxy_server_new(ctx->hdir, ctx->lb_file, NULL);
    if (!ctx->haproxy || haproxy_server_start(ctx->haproxy, WAIT_MS)) return -1;
    if (s_write_config(ctx, extra)) return -1;
    if (fixture_start_core(ctx->stack, WAIT_MS) <= 0) return -1;
    const char *none[] = {NULL};
    const char *prov[] = {"--name", "provider.inject", NULL};
    if (fixture_spawn_ext(ctx->stack, "interlook-ipalloc", none, NULL) <= 0 ||
        fixture_spawn_ext(ctx->stack, "interlook-inject", prov, &ctx->prov_in) <= 0)
        return -1;
    ctx->lb = s_start_lb(ctx);
    if (ctx->lb <= 0) return -1;
    ctx->good = http_backend_start(NULL, "127.0.0.1", 0, "good", &ctx->good_port);
    ctx->bad =
        http_backend_start_status(NULL, "127.0.0.1", 0, "bad", "/healthz", 500, &ctx->bad_port);
    ctx->bad2 =
        http_backend_start_status(NULL, "127.0.0.1", 0, "bad", "/healthz", 503, &ctx->bad2_port);
    if (ctx->good <= 0 || ctx->bad <= 0 || ctx->bad2 <= 0) return -1;
    return fixture_wait_registered(ctx->stack, "lb.haproxy", 1, WAIT_MS) &&
                   fixture_wait_registered(ctx->stack, "ipam.ipalloc", 1, WAIT_MS) &&
                   fixture_wait_registered(ctx->stack, "provider.inject", 1, WAIT_MS)
               ? 0
               : -1;
}

static int s_setup_http(void **state)
{
    return s_setup(state, S_HTTP S_TIMEOUTS);
}

static int s_setup_tcp(void **state)
{
    return s_setup(state, "");
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    if (ctx->good > 0) http_backend_stop(ctx->good);
    if (ctx->bad > 0) http_backend_stop(ctx->bad);
    if (ctx->bad2 > 0) http_backend_stop(ctx->bad2);
    haproxy_server_destroy(&ctx->haproxy);
    fixture_destroy(&ctx->stack);
    free(ctx);
    return 0;
}

static void s_tell(ctx_t *ctx, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    assert_int_equal(test_write_text(ctx->prov_in, line), 0);
}

/* web is deployed (not in progress) with n targets; its VIP kept. */
static size_t s_targets_wanted;
static bool s_deployed(void *arg)
{
    ctx_t *ctx = arg;
    json_t *all = fixture_api_get(ctx->stack, "/services");
    json_t *e = json_object_get(all, ctx->svc ? ctx->svc : "web");
    const char *st = json_string_value(json_object_get(e, "state"));
    json_t *service = json_object_get(e, "service");
    const char *ip = json_string_value(json_object_get(service, "public_ip"));
    if (ip) snprintf(ctx->vip, sizeof ctx->vip, "%s", ip);
    bool ok = st && !strcmp(st, "deployed") && !json_is_true(json_object_get(e, "wip")) &&
              json_array_size(json_object_get(service, "targets")) == s_targets_wanted;
    json_decref(all);
    return ok;
}

static void s_wait_deployed(ctx_t *ctx, size_t targets)
{
    s_targets_wanted = targets;
    if (test_wait(s_deployed, ctx, WAIT_MS)) return;
    test_sh("tail -20 %s >&2", ctx->lb_log);
    fail_msg("%s: never deployed with %zu targets", ctx->svc ? ctx->svc : "web", targets);
}

/* The status (show stat's 18th field: UP, DOWN, no check...) of server
 * 127.0.0.1_PORT of backend ilb-web, in out; false when it is not there. */
static bool s_server_status(ctx_t *ctx, uint16_t port, char *out, size_t len)
{
    char *stat = haproxy_server_command(haproxy_server_runtime_socket(ctx->haproxy), "show stat");
    char prefix[64];
    snprintf(prefix, sizeof prefix, "ilb-%s,127.0.0.1_%u,", ctx->svc ? ctx->svc : "web",
             (unsigned)port);
    bool found = false;
    char *save = NULL;
    for (char *l = stat ? strtok_r(stat, "\n", &save) : NULL; l && !found;
         l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, prefix, strlen(prefix))) continue;
        char *field = l;
        for (int i = 0; i < 17 && field; i++) {
            field = strchr(field, ',');
            if (field) field++;
        }
        if (!field) break;
        size_t n = strcspn(field, ",");
        snprintf(out, len, "%.*s", (int)n, field);
        found = true;
    }
    free(stat);
    return found;
}

static bool s_status_is(void *arg)
{
    ctx_t *ctx = arg;
    char status[64];
    return s_server_status(ctx, ctx->port, status, sizeof status) && !strcmp(status, ctx->status);
}

static void s_wait_status(ctx_t *ctx, uint16_t port, const char *status)
{
    ctx->port = port;
    ctx->status = status;
    if (test_wait(s_status_is, ctx, WAIT_MS)) return;
    char now[64] = "(absent)";
    s_server_status(ctx, port, now, sizeof now);
    test_sh("cat %s >&2; tail -20 %s >&2", ctx->lb_file, ctx->lb_log);
    fail_msg("%s: server 127.0.0.1_%u: never %s (now %s)", ctx->svc ? ctx->svc : "web",
             (unsigned)port, status, now);
}

/* The master's reload counter (show proc: "PID master RELOADS ..."). */
static long s_reloads(ctx_t *ctx)
{
    char *out = haproxy_server_command(haproxy_server_master_socket(ctx->haproxy), "show proc");
    assert_non_null(out);
    long reloads = -1;
    char *save = NULL;
    for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        long pid, n;
        char type[32];
        if (sscanf(l, "%ld %31s %ld", &pid, type, &n) == 3 && !strcmp(type, "master")) reloads = n;
    }
    free(out);
    assert_true(reloads >= 0);
    return reloads;
}

/* REQUESTS requests through the VIP: how many each backend answered. */
static void s_requests(ctx_t *ctx, int *good, int *bad)
{
    *good = *bad = 0;
    char *out = test_sh_output("for i in $(seq %d); do curl -s -m 2 http://%s/; echo; done",
                               REQUESTS, ctx->vip);
    assert_non_null(out);
    char *save = NULL;
    for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        *good += !strcmp(l, "good");
        *bad += !strcmp(l, "bad");
    }
    free(out);
}

/* http checks: the backend whose check path answers 500 gets no request,
 * whether it came with a reload or through the runtime API (add server);
 * the defaults' timeouts are the settings', and HAProxy takes the file. */
static void test_http_checks(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add web 127.0.0.1:%u 127.0.0.1:%u port=80\n", ctx->good_port, ctx->bad_port);
    s_wait_deployed(ctx, 2);
    s_wait_status(ctx, ctx->bad_port, "DOWN");
    s_wait_status(ctx, ctx->good_port, "UP");
    int good, bad;
    s_requests(ctx, &good, &bad);
    assert_int_equal(bad, 0);
    assert_int_equal(good, REQUESTS);
    /* A target added later goes through the runtime API: checked the same. */
    long reloads = s_reloads(ctx);
    s_tell(ctx, "add web 127.0.0.1:%u 127.0.0.1:%u 127.0.0.1:%u port=80\n", ctx->good_port,
           ctx->bad_port, ctx->bad2_port);
    s_wait_deployed(ctx, 3);
    s_wait_status(ctx, ctx->bad2_port, "DOWN");
    assert_int_equal(s_reloads(ctx), reloads); /* added by `add server`, not a reload */
    s_requests(ctx, &good, &bad);
    assert_int_equal(bad, 0);
    assert_int_equal(good, REQUESTS);
    /* The file: the check and the timeouts; HAProxy (-c) accepts it. */
    char *text = test_sh_output("cat %s", ctx->lb_file);
    assert_non_null(text);
    assert_contains(text, "    option httpchk GET /healthz\n"
                          "    http-check expect status 200-399\n");
    assert_contains(text, "    timeout connect 1500ms\n    timeout client 120s\n"
                          "    timeout server 90s\n    timeout http-request 7s\n"
                          "    timeout tunnel 2h\n");
    free(text);
    assert_int_equal(
        test_sh("/usr/sbin/haproxy -c -q -f %s/base.cfg -f %s >&2", ctx->hdir, ctx->lb_file), 0);
}

/* tcp checks (the default): both ports are open, both get traffic. */
static void test_tcp_checks(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add web 127.0.0.1:%u 127.0.0.1:%u port=80\n", ctx->good_port, ctx->bad_port);
    s_wait_deployed(ctx, 2);
    s_wait_status(ctx, ctx->bad_port, "UP");
    s_wait_status(ctx, ctx->good_port, "UP");
    int good, bad;
    s_requests(ctx, &good, &bad);
    assert_int_equal(good + bad, REQUESTS);
    assert_true(good > 0);
    assert_true(bad > 0);
    char *text = test_sh_output("cat %s", ctx->lb_file);
    assert_non_null(text);
    assert_null(strstr(text, "httpchk"));
    assert_contains(text, "    timeout connect 5s\n"); /* the defaults' timeouts unchanged */
    free(text);
}

/* healthCheck changed from tcp to http while the service runs: interlook-lb
 * restarted with it rewrites its file and reloads HAProxy at start, and the
 * bad backend is taken out with no change of the service. */
static void test_setting_change(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add web 127.0.0.1:%u 127.0.0.1:%u port=80\n", ctx->good_port, ctx->bad_port);
    s_wait_deployed(ctx, 2);
    s_wait_status(ctx, ctx->bad_port, "UP");
    assert_true(test_stop(ctx->lb, SIGTERM, 5000) >= 0);
    assert_int_equal(s_write_config(ctx, S_HTTP), 0);
    ctx->lb = s_start_lb(ctx);
    assert_true(ctx->lb > 0);
    s_wait_status(ctx, ctx->bad_port, "DOWN");
    s_wait_status(ctx, ctx->good_port, "UP");
    int good, bad;
    s_requests(ctx, &good, &bad);
    assert_int_equal(bad, 0);
    assert_int_equal(good, REQUESTS);
    assert_int_equal(test_sh("grep -q 'rewritten with the current settings' %s", ctx->lb_log), 0);
}

/* The file's backend section of service name (up to the next service), malloc'd. */
static char *s_backend(ctx_t *ctx, const char *name)
{
    char *text = test_sh_output("cat %s", ctx->lb_file), head[64];
    assert_non_null(text);
    snprintf(head, sizeof head, "backend ilb-%s\n", name);
    char *at = strstr(text, head);
    if (!at) fail_msg("no '%s' in the file:\n%s", head, text);
    char *end = strstr(at, "\n# service");
    if (end) *end = '\0';
    char *out = strdup(at);
    free(text);
    return out;
}

/* A service's own check (the label interlook.check; here inject's check=)
 * overrides the global tcp: web (check=http:/healthz) takes its bad
 * backend out, api (no check: the global tcp) sends to both; a change of
 * web's check applies live (a reload); without it, the global tcp again. */
static void test_service_check(void **state)
{
    ctx_t *ctx = *state;
    char vip_web[64], vip_api[64];
    int good, bad;
    s_tell(ctx, "add web 127.0.0.1:%u 127.0.0.1:%u port=80 check=http:/healthz\n", ctx->good_port,
           ctx->bad_port);
    s_tell(ctx, "add api 127.0.0.1:%u 127.0.0.1:%u port=80\n", ctx->good_port, ctx->bad_port);
    ctx->svc = "api";
    s_wait_deployed(ctx, 2);
    snprintf(vip_api, sizeof vip_api, "%s", ctx->vip);
    s_wait_status(ctx, ctx->bad_port, "UP");
    s_wait_status(ctx, ctx->good_port, "UP");
    ctx->svc = "web";
    s_wait_deployed(ctx, 2);
    snprintf(vip_web, sizeof vip_web, "%s", ctx->vip);
    s_wait_status(ctx, ctx->bad_port, "DOWN");
    s_wait_status(ctx, ctx->good_port, "UP");
    s_requests(ctx, &good, &bad);
    assert_int_equal(bad, 0);
    assert_int_equal(good, REQUESTS);
    snprintf(ctx->vip, sizeof ctx->vip, "%s", vip_api);
    s_requests(ctx, &good, &bad);
    assert_int_equal(good + bad, REQUESTS);
    assert_true(good > 0);
    assert_true(bad > 0);
    /* The API shows the service's check (null: none). */
    json_t *all = fixture_api_get(ctx->stack, "/services");
    assert_non_null(all);
    const char *web_check = json_string_value(
        json_object_get(json_object_get(json_object_get(all, "web"), "service"), "check"));
    assert_non_null(web_check);
    assert_string_equal(web_check, "http:/healthz");
    json_t *api_check =
        json_object_get(json_object_get(json_object_get(all, "api"), "service"), "check");
    assert_true(json_is_null(api_check));
    json_decref(all);
    char *backend = s_backend(ctx, "web");
    assert_contains(backend, "    # check http:/healthz\n    option httpchk GET /healthz\n"
                             "    http-check expect status 200-399\n");
    free(backend);
    backend = s_backend(ctx, "api");
    assert_null(strstr(backend, "check http"));
    assert_null(strstr(backend, "httpchk"));
    assert_contains(backend, " check inter 200\n");
    free(backend);
    assert_int_equal(
        test_sh("/usr/sbin/haproxy -c -q -f %s/base.cfg -f %s >&2", ctx->hdir, ctx->lb_file), 0);

    /* The check changed: only 500 on /healthz passes; the good backend
     * (200 everywhere) goes out, the bad one comes in. By a reload. */
    long reloads = s_reloads(ctx);
    s_tell(ctx, "add web 127.0.0.1:%u 127.0.0.1:%u port=80 check=http:/healthz 500\n",
           ctx->good_port, ctx->bad_port);
    s_wait_status(ctx, ctx->good_port, "DOWN");
    s_wait_status(ctx, ctx->bad_port, "UP");
    assert_true(s_reloads(ctx) > reloads);
    snprintf(ctx->vip, sizeof ctx->vip, "%s", vip_web);
    s_requests(ctx, &good, &bad);
    assert_int_equal(good, 0);
    assert_int_equal(bad, REQUESTS);
    ctx->svc = "api"; /* api untouched: both still in */
    s_wait_status(ctx, ctx->good_port, "UP");
    s_wait_status(ctx, ctx->bad_port, "UP");

    /* No check any more: the global tcp, both in. */
    ctx->svc = "web";
    s_tell(ctx, "add web 127.0.0.1:%u 127.0.0.1:%u port=80\n", ctx->good_port, ctx->bad_port);
    s_wait_status(ctx, ctx->good_port, "UP"); /* DOWN until the change applies */
    s_wait_status(ctx, ctx->bad_port, "UP");
    backend = s_backend(ctx, "web");
    assert_null(strstr(backend, "# check"));
    assert_null(strstr(backend, "httpchk"));
    free(backend);
    s_requests(ctx, &good, &bad);
    assert_int_equal(good + bad, REQUESTS);
    assert_true(good > 0);
    assert_true(bad > 0);
}

/* A bad setting: interlook-lb refuses to start, naming the key. */
static void test_bad_setting(void **state)
{
    (void)state;
    char *dir = test_tmpdir(), cfg[700], text[256], out[4096];
    assert_non_null(dir);
    snprintf(cfg, sizeof cfg, "%s/bad.yml", dir);
    snprintf(text, sizeof text,
             "lb:\n  haproxy:\n    healthCheck: https\n    timeouts:\n      tunnel: 1ms\n");
    assert_int_equal(test_write_file(cfg, text), 0);
    int rc = test_run(out, sizeof out, "%s -c %s 2>&1", test_bin("interlook-lb"), cfg);
    assert_int_equal(rc, 2);
    assert_contains(out, "lb.haproxy.healthCheck: 'https': must be tcp, http or none");
    assert_contains(out, "lb.haproxy.timeouts.tunnel: must be");
    test_rm_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_checks, s_setup_http, s_teardown),
        cmocka_unit_test_setup_teardown(test_tcp_checks, s_setup_tcp, s_teardown),
        cmocka_unit_test_setup_teardown(test_setting_change, s_setup_tcp, s_teardown),
        cmocka_unit_test_setup_teardown(test_service_check, s_setup_tcp, s_teardown),
        cmocka_unit_test(test_bad_setting),
    };
    return test_run_group(tests, NULL, NULL);
}
