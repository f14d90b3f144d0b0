/* The load-balancer step across real networks: HAProxy and interlook-lb in
 * an "lb" network namespace, a client and two backends (small HTTP servers)
 * in namespaces of their own, all on a bridge in a "switch" namespace, on
 * the private subnet 198.18.79.0/24 (RFC 2544's benchmarking range). The
 * core, the scripted provider and the IP allocator run in the test's own
 * namespace and talk to interlook-lb over ipc:// sockets (a file system is
 * shared across network namespaces). interlook-lb puts each VIP on the lb
 * namespace's eth0 and announces it; the client reaches the backends
 * through it. Needs root and iproute2; it never skips. */
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

#define IP      "/sbin/ip"
#define SUBNET  "198.18.79"
#define WAIT_MS 20000

enum { CLIENT, LB, B1, B2, NHOSTS };
static const char *const s_host[NHOSTS] = {"cli", "lb", "b1", "b2"};
static const int s_octet[NHOSTS] = {1, 2, 11, 12};

typedef struct {
    fixture_t *stack; /* first: fixture_teardown */
    char sw[32];
    char ns[NHOSTS][32];
    char port[NHOSTS][16];
    char router[128], publish[128];
    haproxy_server_t *haproxy;
    pid_t backend[NHOSTS];
    pid_t lb;
    int prov_in;
    char vip[64]; /* the VIP of the service under test */
    char lb_mac[32];
    const char *name, *state; /* conditions */
} ctx_t;

static int s_ns_setup(ctx_t *ctx)
{
    unsigned id = (unsigned)getpid() % 100000u;
    snprintf(ctx->sw, sizeof ctx->sw, "il%u-lsw", id);
    if (test_sh("ip netns add %s && ip -n %s link add br0 type bridge && "
                "ip -n %s link set br0 up && ip -n %s link set lo up",
                ctx->sw, ctx->sw, ctx->sw, ctx->sw))
        return -1;
    for (int h = 0; h < NHOSTS; h++) {
        snprintf(ctx->ns[h], sizeof ctx->ns[h], "il%u-%s", id, s_host[h]);
        snprintf(ctx->port[h], sizeof ctx->port[h], "il%u%s", id, s_host[h]);
        if (test_sh("ip netns add %s && "
                    "ip -n %s link add eth0 type veth peer name %s netns %s && "
                    "ip -n %s addr add " SUBNET ".%d/24 dev eth0 && "
                    "ip -n %s link set eth0 up && ip -n %s link set lo up && "
                    "ip -n %s link set %s master br0 && ip -n %s link set %s up",
                    ctx->ns[h], ctx->ns[h], ctx->port[h], ctx->sw, ctx->ns[h], s_octet[h],
                    ctx->ns[h], ctx->ns[h], ctx->sw, ctx->port[h], ctx->sw, ctx->port[h]))
            return -1;
    }
    char *mac = test_sh_output("ip -n %s -br link show eth0 | awk '{print $3}'", ctx->ns[LB]);
    if (!mac) return -1;
    snprintf(ctx->lb_mac, sizeof ctx->lb_mac, "%s", mac);
    ctx->lb_mac[strcspn(ctx->lb_mac, "\n")] = '\0';
    free(mac);
    return 0;
}

static pid_t s_start_lb(ctx_t *ctx)
{
    const char *args[] = {
        "netns", "exec", ctx->ns[LB], test_bin("interlook-lb"), "-c", fixture_config(ctx->stack),
        NULL};
    return fixture_spawn(ctx->stack, IP, args, "lb.log", NULL);
}

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    ctx->prov_in = -1;
    if (s_ns_setup(ctx)) {
        fprintf(stderr, "test_lb_netns: cannot build the namespaces (root and iproute2 needed)\n");
        return -1;
    }
    snprintf(ctx->router, sizeof ctx->router, "ipc:///tmp/il-lbnetns-%d-router", (int)getpid());
    snprintf(ctx->publish, sizeof ctx->publish, "ipc:///tmp/il-lbnetns-%d-publish", (int)getpid());
    fixture_opts_t opts = {.name = "test_lb_netns",
                           .bus = "heartbeat: 200ms, liveness: 5",
                           .router = ctx->router,
                           .publish = ctx->publish};
    ctx->stack = fixture_new(&opts);
    if (!ctx->stack) return -1;
    const char *dir = fixture_dir(ctx->stack);
    char hdir[600], lbfile[600];
    snprintf(hdir, sizeof hdir, "%s/haproxy", dir);
    snprintf(lbfile, sizeof lbfile, "%s/interlook.cfg", dir);
    ctx->haproxy = haproxy_server_new(hdir, lbfile, ctx->ns[LB]);
    if (!ctx->haproxy || haproxy_server_start(ctx->haproxy, WAIT_MS)) return -1;
    char sections[4096];
    snprintf(sections, sizeof sections,
             "ipam:\n  ipalloc:\n    network_cidr: " SUBNET ".128/27\n"
             "    db_file: {dir}/ipalloc.db\n"
             "lb:\n  haproxy:\n%s    vipInterface: eth0\n    healthInterval: 200ms\n"
             "    drainTimeout: 10s\n    watchInterval: 200ms\n    logLevel: debug\n",
             haproxy_server_yaml(ctx->haproxy));
    if (fixture_config_write(ctx->stack,
                             "  workflowSteps: provider.inject,ipam.ipalloc,lb.haproxy\n"
                             "  checkFlowInterval: 100ms\n"
                             "  retryBackoffMin: 100ms\n"
                             "  retryBackoffMax: 1s\n",
                             sections))
        return -1;
    if (fixture_start_core(ctx->stack, WAIT_MS) <= 0) return -1;
    const char *alloc[] = {NULL};
    const char *prov[] = {"--name", "provider.inject", NULL};
    if (fixture_spawn_ext(ctx->stack, "interlook-ipalloc", alloc, NULL) <= 0 ||
        fixture_spawn_ext(ctx->stack, "interlook-inject", prov, &ctx->prov_in) <= 0)
        return -1;
    ctx->lb = s_start_lb(ctx);
    if (ctx->lb <= 0) return -1;
    for (int h = B1; h <= B2; h++) {
        char addr[32];
        snprintf(addr, sizeof addr, SUBNET ".%d", s_octet[h]);
        ctx->backend[h] = http_backend_start(ctx->ns[h], addr, 8080, s_host[h], NULL);
        if (ctx->backend[h] <= 0) return -1;
    }
    if (!fixture_wait_registered(ctx->stack, "lb.haproxy", 1, WAIT_MS) ||
        !fixture_wait_registered(ctx->stack, "ipam.ipalloc", 1, WAIT_MS) ||
        !fixture_wait_registered(ctx->stack, "provider.inject", 1, WAIT_MS))
        return -1;
    return 0;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    for (int h = B1; h <= B2; h++)
        if (ctx->backend[h] > 0) http_backend_stop(ctx->backend[h]);
    haproxy_server_destroy(&ctx->haproxy);
    fixture_destroy(&ctx->stack);
    for (int h = 0; h < NHOSTS; h++)
        if (*ctx->ns[h]) test_sh("ip netns del %s 2>/dev/null", ctx->ns[h]);
    if (*ctx->sw) test_sh("ip netns del %s 2>/dev/null", ctx->sw);
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

static bool s_state_is(void *arg)
{
    ctx_t *ctx = arg;
    json_t *all = fixture_api_get(ctx->stack, "/services");
    json_t *e = json_object_get(all, ctx->name);
    const char *st = json_string_value(json_object_get(e, "state"));
    bool ok = ctx->state ? st && !strcmp(st, ctx->state) && !json_is_true(json_object_get(e, "wip"))
                         : e == NULL;
    json_decref(all);
    return ok;
}

/* Waits until the service is in that state (NULL: gone); a deployed one's VIP is read. */
static void s_wait_state(ctx_t *ctx, const char *name, const char *st)
{
    ctx->name = name;
    ctx->state = st;
    if (!test_wait(s_state_is, ctx, WAIT_MS)) {
        test_sh("tail -30 %s/lb.log >&2", fixture_dir(ctx->stack));
        fail_msg("service %s is not %s", name, st ? st : "gone");
    }
    if (!st || strcmp(st, "deployed")) return;
    json_t *all = fixture_api_get(ctx->stack, "/services");
    const char *ip = json_string_value(
        json_object_get(json_object_get(json_object_get(all, name), "service"), "public_ip"));
    snprintf(ctx->vip, sizeof ctx->vip, "%s", ip ? ip : "");
    json_decref(all);
}

/* One request from the client to the VIP: the body, or NULL (refused, time-out). */
static char *s_get(ctx_t *ctx, int *curl_rc)
{
    char *out = test_sh_output("ip netns exec %s curl -s -m 3 http://%s/; echo \" rc=$?\"",
                               ctx->ns[CLIENT], ctx->vip);
    if (curl_rc) *curl_rc = out && strstr(out, "rc=") ? atoi(strstr(out, "rc=") + 3) : -1;
    if (out && strstr(out, " rc=0") == NULL) {
        free(out);
        return NULL;
    }
    if (out) *strstr(out, " rc=0") = '\0';
    return out;
}

static bool s_serves(void *arg)
{
    ctx_t *ctx = arg;
    char *body = s_get(ctx, NULL);
    bool ok = body && !strcmp(body, ctx->name);
    free(body);
    return ok;
}

static bool s_learnt(void *arg)
{
    ctx_t *ctx = arg;
    char *out = test_sh_output("ip -n %s neigh show %s", ctx->ns[CLIENT], ctx->vip);
    bool ok = out && strstr(out, ctx->lb_mac);
    free(out);
    return ok;
}

/* Counts the bodies of n requests: b1 and b2 (0 failures asserted). */
static void s_count(ctx_t *ctx, int n, int *b1, int *b2)
{
    char *out = test_sh_output("for i in $(seq %d); do ip netns exec %s curl -s -m 3 http://%s/ "
                               "|| echo FAIL; echo; done",
                               n, ctx->ns[CLIENT], ctx->vip);
    assert_non_null(out);
    *b1 = *b2 = 0;
    int fails = 0;
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        *b1 += !strcmp(l, "b1");
        *b2 += !strcmp(l, "b2");
        fails += !strcmp(l, "FAIL");
    }
    free(out);
    assert_int_equal(fails, 0);
    assert_int_equal(*b1 + *b2, n);
}

static bool s_both_seen(void *arg)
{
    ctx_t *ctx = arg;
    int b1, b2;
    s_count(ctx, 8, &b1, &b2);
    return b1 > 0 && b2 > 0;
}

/* HAProxy has a request in progress on b1 (scur > 0 in show stat). */
static bool s_b1_busy(void *arg)
{
    ctx_t *ctx = arg;
    char *stat = haproxy_server_command(haproxy_server_runtime_socket(ctx->haproxy), "show stat");
    bool busy = false;
    char *save = NULL;
    for (char *l = stat ? strtok_r(stat, "\n", &save) : NULL; l && !busy;
         l = strtok_r(NULL, "\n", &save)) {
        /* pxname,svname,qcur,qmax,scur,... */
        char px[128], sv[128];
        int qcur, qmax, scur;
        busy = sscanf(l, "%127[^,],%127[^,],%d,%d,%d", px, sv, &qcur, &qmax, &scur) == 5 &&
               !strcmp(px, "ilb-web") && !strcmp(sv, SUBNET ".11_8080") && scur > 0;
    }
    free(stat);
    return busy;
}

static bool s_vip_on_lb(ctx_t *ctx)
{
    return test_sh("ip -n %s -4 addr show dev eth0 | grep -q 'inet %s/32'", ctx->ns[LB],
                   ctx->vip) == 0;
}

/* The whole life of a service: deployed and announced, a second target with
 * a weight, a target removed under load, HAProxy restarted, deleted. */
static void test_service_life(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add web " SUBNET ".11:8080 port=80\n");
    s_wait_state(ctx, "web", "deployed");
    assert_true(s_vip_on_lb(ctx));
    ctx->name = "b1";
    assert_true(test_wait(s_serves, ctx, WAIT_MS));
    char *workers = haproxy_server_workers(ctx->haproxy); /* target changes: no reload */
    assert_non_null(workers);

    /* b2 three times (weight 3): both serve, 1:3 with round robin. */
    s_tell(ctx, "add web " SUBNET ".11:8080 " SUBNET ".12:8080 " SUBNET ".12:8080 " SUBNET
                ".12:8080 port=80\n");
    assert_true(test_wait(s_both_seen, ctx, WAIT_MS));
    int b1, b2;
    s_count(ctx, 40, &b1, &b2);
    assert_int_equal(b1, 10);
    assert_int_equal(b2, 30);

    /* b1 goes while slow requests are on it and a request loop runs: no
     * request fails, the slow ones on b1 end with its answer. */
    pid_t slow[4];
    for (int i = 0; i < 4; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "ip netns exec %s curl -s -m 20 http://%s/delay/1500 > %s/slow.%d || echo FAIL "
                 ">> %s/slow.%d",
                 ctx->ns[CLIENT], ctx->vip, fixture_dir(ctx->stack), i, fixture_dir(ctx->stack), i);
        const char *sargs[] = {"-c", cmd, NULL};
        slow[i] = fixture_spawn(ctx->stack, "/bin/sh", sargs, NULL, NULL);
        assert_true(slow[i] > 0);
    }
    assert_true(test_wait(s_b1_busy, ctx, WAIT_MS));
    char out[600];
    snprintf(out, sizeof out, "%s/loop.out", fixture_dir(ctx->stack));
    char script[1024];
    snprintf(script, sizeof script,
             "for i in $(seq 200); do ip netns exec %s curl -s -m 3 http://%s/ || echo FAIL; "
             "echo; done > %s",
             ctx->ns[CLIENT], ctx->vip, out);
    const char *args[] = {"-c", script, NULL};
    pid_t loop = fixture_spawn(ctx->stack, "/bin/sh", args, NULL, NULL);
    assert_true(loop > 0);
    s_tell(ctx, "add web " SUBNET ".12:8080 port=80\n");
    assert_int_equal(test_stop(loop, 0, 60000), 0); /* waits for its end */
    char *text = test_sh_output("grep -c FAIL %s; grep -c b1 %s; grep -c b2 %s", out, out, out);
    assert_non_null(text);
    int fails = -1, n1 = -1, n2 = -1;
    sscanf(text, "%d %d %d", &fails, &n1, &n2);
    free(text);
    assert_int_equal(fails, 0);
    assert_int_equal(n1 + n2, 200);
    int slow_b1 = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(test_stop(slow[i], 0, 30000), 0);
        char *body = test_sh_output("cat %s/slow.%d", fixture_dir(ctx->stack), i);
        assert_non_null(body);
        assert_true(!strcmp(body, "b1") || !strcmp(body, "b2"));
        slow_b1 += !strcmp(body, "b1");
        free(body);
    }
    assert_true(slow_b1 >= 1); /* at least one was on b1 when it went */
    s_count(ctx, 8, &b1, &b2);
    assert_int_equal(b1, 0);
    char *now = haproxy_server_workers(ctx->haproxy); /* the runtime API did all that */
    assert_string_equal(workers, now);
    free(workers);
    free(now);

    /* HAProxy killed, the VIP gone with it (a reboot): a new master gets it all back. */
    haproxy_server_kill(ctx->haproxy);
    assert_int_equal(test_sh("ip -n %s addr del %s/32 dev eth0", ctx->ns[LB], ctx->vip), 0);
    assert_int_equal(haproxy_server_start(ctx->haproxy, WAIT_MS), 0);
    ctx->name = "b2";
    assert_true(test_wait(s_serves, ctx, WAIT_MS));
    assert_true(s_vip_on_lb(ctx));

    /* Deleted: the frontend goes, then the VIP leaves the interface: the
     * client gets nothing. */
    s_tell(ctx, "delete web\n");
    s_wait_state(ctx, "web", "undeployed");
    char *stat = haproxy_server_command(haproxy_server_runtime_socket(ctx->haproxy), "show stat");
    assert_non_null(stat);
    assert_null(strstr(stat, "ilf-web"));
    assert_null(strstr(stat, "ilb-web"));
    free(stat);
    assert_false(s_vip_on_lb(ctx));
    int rc = 0;
    char *body = s_get(ctx, &rc);
    assert_null(body);
    assert_true(rc != 0);
}

/* The announcement: a client that had another host for the VIP learns the
 * lb's address without asking. */
static void test_announcement(void **state)
{
    ctx_t *ctx = *state;
    /* The next VIP the allocator gives is the one just released or the next:
     * put stale entries for the whole pool's first addresses. */
    for (int i = 128; i < 136; i++)
        assert_int_equal(test_sh("ip -n %s neigh replace " SUBNET ".%d lladdr 02:00:00:00:00:01 "
                                 "dev eth0 nud stale",
                                 ctx->ns[CLIENT], i),
                         0);
    s_tell(ctx, "add api " SUBNET ".11:8080 port=8000\n");
    s_wait_state(ctx, "api", "deployed");
    assert_true(test_wait(s_learnt, ctx, WAIT_MS));
    s_tell(ctx, "delete api\n");
    s_wait_state(ctx, "api", "undeployed");
}

/* interlook-lb restarted: it reads its file back, finds HAProxy running it,
 * and changes nothing (no reload: the same workers). */
static void test_restart_no_reload(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add db " SUBNET ".12:8080 port=80\n");
    s_wait_state(ctx, "db", "deployed");
    char *before = haproxy_server_workers(ctx->haproxy);
    assert_non_null(before);
    assert_true(test_stop(ctx->lb, SIGKILL, 5000) >= 0);
    ctx->lb = s_start_lb(ctx);
    assert_true(ctx->lb > 0);
    assert_true(fixture_wait_registered(ctx->stack, "lb.haproxy", 1, WAIT_MS));
    char log[600];
    snprintf(log, sizeof log, "%s/lb.log", fixture_dir(ctx->stack));
    assert_int_equal(test_sh("grep -q 'HAProxy runs the 1 service(s)' %s", log), 0);
    char *after = haproxy_server_workers(ctx->haproxy);
    assert_string_equal(before, after);
    free(before);
    free(after);
    ctx->name = "b2";
    assert_true(test_wait(s_serves, ctx, WAIT_MS));
    s_tell(ctx, "delete db\n");
    s_wait_state(ctx, "db", "undeployed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_life),
        cmocka_unit_test(test_announcement),
        cmocka_unit_test(test_restart_no_reload),
    };
    return test_run_group(tests, s_setup, s_teardown);
}
