/* interlook-lb in the host's namespace, on loopback: the errors a user sees
 * (each a RESULT error naming the service and the reason, HAProxy's own words
 * for a failed reload, while the old configuration keeps serving), work
 * batched into one reload, HAProxy down then back, and the file it owns
 * guarded at start. Real interlookd, interlook-inject, interlook-ipalloc,
 * interlook-lb and HAProxy; VIPs from 127.79.X.0/24 (X from the pid), or from
 * 10.79.X.0/28 where the test needs addresses this host does not have
 * (numbers nothing connects to). */
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

#define WAIT_MS 20000

typedef struct {
    fixture_t *stack; /* first: fixture_teardown */
    haproxy_server_t *haproxy;
    pid_t backend, squat;
    uint16_t backend_port;
    unsigned x; /* the third octet of this run's pools */
    int prov_in;
    pid_t lb;
    char lb_log[600];
    /* conditions */
    const char *name, *state, *error;
    char vip[64];
} ctx_t;

/* A stack whose VIPs come from pool (a CIDR with %u for x). */
static int s_setup_pool(void **state, const char *pool)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    ctx->prov_in = -1;
    ctx->x = (unsigned)getpid() % 250u + 1u;
    fixture_opts_t opts = {.name = "test_lb", .bus = "heartbeat: 200ms, liveness: 5"};
    ctx->stack = fixture_new(&opts);
    if (!ctx->stack) return -1;
    const char *dir = fixture_dir(ctx->stack);
    char hdir[600], lbfile[600], cidr[64];
    snprintf(hdir, sizeof hdir, "%s/haproxy", dir);
    snprintf(lbfile, sizeof lbfile, "%s/interlook.cfg", dir);
    snprintf(ctx->lb_log, sizeof ctx->lb_log, "%s/lb.log", dir);
    snprintf(cidr, sizeof cidr, pool, ctx->x);
    ctx->haproxy = haproxy_server_new(hdir, lbfile, NULL);
    if (!ctx->haproxy || haproxy_server_start(ctx->haproxy, WAIT_MS)) return -1;
    char sections[4096];
    snprintf(sections, sizeof sections,
             "ipam:\n  ipalloc: { network_cidr: %s, db_file: {dir}/ipalloc.db }\n"
             "lb:\n  haproxy:\n%s    masterLog: %s/haproxy.log\n    healthInterval: 200ms\n"
             "    watchInterval: 200ms\n    timeout: 3s\n",
             cidr, haproxy_server_yaml(ctx->haproxy), hdir);
    if (fixture_config_write(ctx->stack,
                             "  workflowSteps: provider.inject,ipam.ipalloc,lb.haproxy\n"
                             "  checkFlowInterval: 100ms\n  retryBackoffMin: 100ms\n"
                             "  retryBackoffMax: 500ms\n",
                             sections))
        return -1;
    if (fixture_start_core(ctx->stack, WAIT_MS) <= 0) return -1;
    const char *none[] = {NULL};
    const char *prov[] = {"--name", "provider.inject", NULL};
    const char *lb[] = {"-c", fixture_config(ctx->stack), NULL};
    if (fixture_spawn_ext(ctx->stack, "interlook-ipalloc", none, NULL) <= 0 ||
        fixture_spawn_ext(ctx->stack, "interlook-inject", prov, &ctx->prov_in) <= 0)
        return -1;
    ctx->lb = fixture_spawn(ctx->stack, "interlook-lb", lb, "lb.log", NULL);
    if (ctx->lb <= 0) return -1;
    ctx->backend = http_backend_start(NULL, "127.0.0.1", 0, "page", &ctx->backend_port);
    if (ctx->backend <= 0) return -1;
    return fixture_wait_registered(ctx->stack, "lb.haproxy", 1, WAIT_MS) &&
                   fixture_wait_registered(ctx->stack, "ipam.ipalloc", 1, WAIT_MS) &&
                   fixture_wait_registered(ctx->stack, "provider.inject", 1, WAIT_MS)
               ? 0
               : -1;
}

static int s_setup_local(void **state)
{
    return s_setup_pool(state, "127.79.%u.0/24");
}

static int s_setup_foreign(void **state)
{
    return s_setup_pool(state, "10.79.%u.0/28");
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    if (ctx->backend > 0) http_backend_stop(ctx->backend);
    if (ctx->squat > 0) http_backend_stop(ctx->squat);
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

/* The entry ctx->name is in ctx->state (not in progress), or its error
 * contains ctx->error; its VIP is kept in ctx->vip. */
static bool s_entry(void *arg)
{
    ctx_t *ctx = arg;
    json_t *all = fixture_api_get(ctx->stack, "/services");
    json_t *e = json_object_get(all, ctx->name);
    const char *st = json_string_value(json_object_get(e, "state"));
    const char *err = json_string_value(json_object_get(e, "error"));
    const char *ip = json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
    if (ip) snprintf(ctx->vip, sizeof ctx->vip, "%s", ip);
    bool ok = ctx->error
                  ? err && strstr(err, ctx->error)
                  : st && !strcmp(st, ctx->state) && !json_is_true(json_object_get(e, "wip"));
    json_decref(all);
    return ok;
}

/* ctx->name is deployed, or refused because another process holds its port. */
static bool s_settled(void *arg)
{
    ctx_t *ctx = arg;
    ctx->state = "deployed";
    ctx->error = NULL;
    if (s_entry(ctx)) return true;
    ctx->error = "another process holds it";
    return s_entry(ctx);
}

static void s_wait(ctx_t *ctx, const char *name, const char *state, const char *error)
{
    ctx->name = name;
    ctx->state = state;
    ctx->error = error;
    if (test_wait(s_entry, ctx, WAIT_MS)) return;
    json_t *e = fixture_api_get(ctx->stack, "/services");
    char *text = json_dumps(json_object_get(e, name), JSON_INDENT(2));
    fprintf(stderr, "entry %s: %s\n", name, text ? text : "(none)");
    free(text);
    json_decref(e);
    test_sh("tail -20 %s >&2", ctx->lb_log);
    fail_msg("service %s: never %s%s", name, error ? "the error " : "", error ? error : state);
}

static bool s_answers(void *arg)
{
    ctx_t *ctx = arg;
    char *out = test_sh_output("curl -s -m 2 http://%s/", ctx->vip);
    bool ok = out && !strncmp(out, "page", 4);
    free(out);
    return ok;
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

/* No port, or a VIP this host does not have: each a RESULT error naming the
 * service and what to do. Nothing is left half done in HAProxy. */
static void test_errors_named(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add noport 127.0.0.1:%u\n", ctx->backend_port);
    s_wait(ctx, "noport", NULL, "service 'noport': no port (label interlook.publicPort or");
    s_tell(ctx, "add far 127.0.0.1:%u port=80\n", ctx->backend_port);
    s_wait(ctx, "far", NULL, "service 'far': HAProxy could not listen on 10.79.");
    s_wait(ctx, "far", NULL, "not an address of this host: set lb.haproxy.vipInterface");
    char *stat = haproxy_server_command(haproxy_server_runtime_socket(ctx->haproxy), "show stat");
    assert_non_null(stat);
    assert_null(strstr(stat, "ilf-far"));
    free(stat);
    char *file = test_sh_output("cat %s/interlook.cfg", fixture_dir(ctx->stack));
    assert_non_null(file);
    assert_null(strstr(file, "far"));
    free(file);
}

/* A frontend whose port another process holds, in a burst of three: that
 * service is refused alone (before any reload, naming the holder), the two
 * others deployed by one reload, the service already there serves on; once
 * the port is free, the core's retry deploys it. */
static void test_port_taken(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add first 127.0.0.1:%u port=80\n", ctx->backend_port);
    s_wait(ctx, "first", "deployed", NULL);
    assert_true(test_wait(s_answers, ctx, WAIT_MS));
    char first_vip[64];
    snprintf(first_vip, sizeof first_vip, "%s", ctx->vip);
    /* the pool's next address, its port 80 taken */
    unsigned a, b, c, d;
    assert_int_equal(sscanf(first_vip, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
    char squat_ip[64];
    snprintf(squat_ip, sizeof squat_ip, "%u.%u.%u.%u", a, b, c, d + 1);
    uint16_t port = 0;
    ctx->squat = http_backend_start(NULL, squat_ip, 80, "squatter", &port);
    assert_true(ctx->squat > 0);
    long before = s_reloads(ctx);
    char burst[512];
    snprintf(burst, sizeof burst,
             "add b1 127.0.0.1:%u port=80\nadd b2 127.0.0.1:%u port=80\n"
             "add b3 127.0.0.1:%u port=80\n",
             ctx->backend_port, ctx->backend_port, ctx->backend_port);
    assert_int_equal(test_write_text(ctx->prov_in, burst), 0);
    const char *refused = NULL;
    int deployed = 0;
    for (const char *const *n = (const char *const[]){"b1", "b2", "b3", NULL}; *n; n++) {
        ctx->name = *n; /* deployed, or refused for the port: whichever comes */
        assert_true(test_wait(s_settled, ctx, WAIT_MS));
        ctx->state = "deployed";
        ctx->error = NULL;
        if (!s_entry(ctx)) {
            assert_string_equal(ctx->vip, squat_ip);
            assert_null(refused);
            refused = *n;
            continue;
        }
        assert_true(test_wait(s_answers, ctx, WAIT_MS));
        deployed++;
    }
    assert_non_null(refused);
    assert_int_equal(deployed, 2);
    assert_int_equal(s_reloads(ctx) - before, 1);
    s_wait(ctx, refused, NULL, "service '");
    snprintf(ctx->vip, sizeof ctx->vip, "%s", first_vip);
    assert_true(s_answers(ctx)); /* served on throughout */
    assert_int_equal(http_backend_stop(ctx->squat), 0);
    ctx->squat = 0;
    s_wait(ctx, refused, "deployed", NULL);
    assert_string_equal(ctx->vip, squat_ip);
    assert_true(test_wait(s_answers, ctx, WAIT_MS));
}

/* 40 services at once: a handful of reloads, not 40; all answer. */
static void test_batched_reloads(void **state)
{
    ctx_t *ctx = *state;
    long before = s_reloads(ctx);
    char line[8192];
    /* each service on its own line, written at once */
    size_t used = 0;
    for (int i = 0; i < 40; i++)
        used += (size_t)snprintf(line + used, sizeof line - used,
                                 "add many%02d 127.0.0.1:%u port=80\n", i, ctx->backend_port);
    assert_int_equal(test_write_text(ctx->prov_in, line), 0);
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "many%02d", i);
        s_wait(ctx, name, "deployed", NULL);
        assert_true(test_wait(s_answers, ctx, WAIT_MS));
    }
    long reloads = s_reloads(ctx) - before;
    fprintf(stderr, "test_lb: 40 services added at once: %ld reload(s)\n", reloads);
    assert_true(reloads >= 1);
    assert_true(reloads <= 10);
    /* the file holds them all, in one piece */
    assert_int_equal(test_sh("test $(grep -c '^frontend ilf-many' %s/interlook.cfg) -eq 40",
                             fixture_dir(ctx->stack)),
                     0);
}

/* HAProxy down: the error names its socket; back: the core's retry deploys. */
static void test_haproxy_down(void **state)
{
    ctx_t *ctx = *state;
    haproxy_server_kill(ctx->haproxy);
    s_tell(ctx, "add late 127.0.0.1:%u port=80\n", ctx->backend_port);
    s_wait(ctx, "late", NULL, "master.sock");
    assert_int_equal(haproxy_server_start(ctx->haproxy, WAIT_MS), 0);
    s_wait(ctx, "late", "deployed", NULL);
    assert_true(test_wait(s_answers, ctx, WAIT_MS));
}

/* A file it did not write is refused at start (exit 1, the path and line
 * named), and left as it was. */
static void test_foreign_file(void **state)
{
    ctx_t *ctx = *state;
    const char *dir = fixture_dir(ctx->stack);
    char cfg[600], other[600];
    snprintf(other, sizeof other, "%s/other.cfg", dir);
    snprintf(cfg, sizeof cfg, "%s/other.yml", dir);
    assert_int_equal(test_write_file(other, "global\n    daemon\n"), 0);
    char text[1024];
    snprintf(text, sizeof text, "lb:\n  haproxy:\n    configFile: %s\n", other);
    assert_int_equal(test_write_file(cfg, text), 0);
    char out[4096];
    int rc = test_run(out, sizeof out, "%s -c %s 2>&1", test_bin("interlook-lb"), cfg);
    assert_int_equal(rc, 1);
    assert_contains(out, other);
    assert_contains(out, "line 1: not a file interlook-lb wrote");
    assert_int_equal(test_sh("grep -qx '    daemon' %s", other), 0);
    /* --check-config names every bad key */
    snprintf(text, sizeof text,
             "lb:\n  haproxy:\n    configFile: relative.cfg\n    healthInterval: 1ms\n");
    assert_int_equal(test_write_file(cfg, text), 0);
    rc = test_run(out, sizeof out, "%s -c %s --check-config 2>&1", test_bin("interlook-lb"), cfg);
    assert_int_equal(rc, 2);
    assert_contains(out, "lb.haproxy.configFile: 'relative.cfg': must be an absolute path");
    assert_contains(out, "lb.haproxy.healthInterval");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_errors_named, s_setup_foreign, s_teardown),
        cmocka_unit_test_setup_teardown(test_port_taken, s_setup_local, s_teardown),
        cmocka_unit_test_setup_teardown(test_batched_reloads, s_setup_local, s_teardown),
        cmocka_unit_test_setup_teardown(test_haproxy_down, s_setup_local, s_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_file, s_setup_local, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
