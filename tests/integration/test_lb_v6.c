/* An IPv6 VIP end to end: the IP allocator's pool is IPv6 (fd00:77::/120),
 * interlook-lb adds each VIP as a /128 to the eth0 of an "lb" network
 * namespace where HAProxy runs, and a client in a namespace of its own
 * reaches backends (small HTTP servers, one on IPv6, one on IPv4) through
 * it with curl -6 http://[VIP]:PORT/. All hosts sit on a bridge in a
 * "switch" namespace, on fd00:77::/64 and 198.18.81.0/24 (private ranges;
 * the hosts' own addresses are outside the pool). The core, the scripted
 * provider and the allocator run in the test's own namespace and talk to
 * interlook-lb over ipc:// sockets (a file system is shared across network
 * namespaces). Duplicate address detection is left on in the lb namespace:
 * the VIP must be usable at once (lb_vip adds it "nodad"). Needs root and
 * iproute2; it never skips. */
#include "tests/support/asserts.h"
#include "tests/support/fixture.h"
#include "tests/support/haproxy_server.h"
#include "tests/support/http_backend.h"
#include "tests/support/testutil.h"

#include <arpa/inet.h>
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
#define NET6    "fd00:77::1:"   /* the hosts: NET6 + their number, /64 */
#define POOL6   "fd00:77::/120" /* the VIPs: inside that /64, apart from the hosts */
#define NET4    "198.18.81."
#define WAIT_MS 20000

enum { CLIENT, LB, B6, B4, NHOSTS };
static const char *const s_host[NHOSTS] = {"cli", "lb", "b6", "b4"};
static const int s_num[NHOSTS] = {1, 2, 11, 12};

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
    int vport;    /* its public port */
    char lb_mac[32];
    const char *name, *state; /* conditions */
} ctx_t;

static int s_ns_setup(ctx_t *ctx)
{
    unsigned id = (unsigned)getpid() % 100000u;
    snprintf(ctx->sw, sizeof ctx->sw, "il%u-6sw", id);
    /* No snooping: the neighbour solicitations for a VIP reach every port
     * whatever MLD reports the bridge saw. */
    if (test_sh("ip netns add %s && ip -n %s link add br0 type bridge mcast_snooping 0 && "
                "ip -n %s link set br0 up && ip -n %s link set lo up",
                ctx->sw, ctx->sw, ctx->sw, ctx->sw))
        return -1;
    for (int h = 0; h < NHOSTS; h++) {
        snprintf(ctx->ns[h], sizeof ctx->ns[h], "il%u-6%s", id, s_host[h]);
        snprintf(ctx->port[h], sizeof ctx->port[h], "il%u6%s", id, s_host[h]);
        if (test_sh("ip netns add %s && "
                    "ip -n %s link add eth0 type veth peer name %s netns %s && "
                    "ip -n %s addr add " NET4 "%d/24 dev eth0 && "
                    "ip -n %s -6 addr add " NET6 "%d/64 dev eth0 nodad && "
                    "ip -n %s link set eth0 up && ip -n %s link set lo up && "
                    "ip -n %s link set %s master br0 && ip -n %s link set %s up",
                    ctx->ns[h], ctx->ns[h], ctx->port[h], ctx->sw, ctx->ns[h], s_num[h], ctx->ns[h],
                    s_num[h], ctx->ns[h], ctx->ns[h], ctx->sw, ctx->port[h], ctx->sw, ctx->port[h]))
            return -1;
    }
    char *mac = test_sh_output("ip -n %s -br link show eth0 | awk '{print $3}'", ctx->ns[LB]);
    if (!mac) return -1;
    snprintf(ctx->lb_mac, sizeof ctx->lb_mac, "%s", mac);
    ctx->lb_mac[strcspn(ctx->lb_mac, "\n")] = '\0';
    free(mac);
    return 0;
}

/* interlook-lb in the lb namespace, with the stack's configuration or
 * another file (NULL: the stack's). */
static pid_t s_start_lb_with(ctx_t *ctx, const char *config)
{
    const char *args[] = {"netns",     "exec",
                          ctx->ns[LB], test_bin("interlook-lb"),
                          "-c",        config ? config : fixture_config(ctx->stack),
                          NULL};
    return fixture_spawn(ctx->stack, IP, args, "lb.log", NULL);
}

static pid_t s_start_lb(ctx_t *ctx)
{
    return s_start_lb_with(ctx, NULL);
}

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    ctx->prov_in = -1;
    if (s_ns_setup(ctx)) {
        fprintf(stderr, "test_lb_v6: cannot build the namespaces (root and iproute2 needed)\n");
        return -1;
    }
    snprintf(ctx->router, sizeof ctx->router, "ipc:///tmp/il-lbv6-%d-router", (int)getpid());
    snprintf(ctx->publish, sizeof ctx->publish, "ipc:///tmp/il-lbv6-%d-publish", (int)getpid());
    fixture_opts_t opts = {.name = "test_lb_v6",
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
             "ipam:\n  ipalloc:\n    network_cidr: " POOL6 "\n"
             "    db_file: {dir}/ipalloc.db\n"
             "lb:\n  haproxy:\n%s    vipInterface: eth0\n    healthInterval: 200ms\n"
             "    drainTimeout: 2s\n    watchInterval: 200ms\n    logLevel: debug\n",
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
    ctx->backend[B6] = http_backend_start(ctx->ns[B6], NET6 "11", 8080, "b6", NULL);
    ctx->backend[B4] = http_backend_start(ctx->ns[B4], NET4 "12", 8080, "b4", NULL);
    if (ctx->backend[B6] <= 0 || ctx->backend[B4] <= 0) return -1;
    if (!fixture_wait_registered(ctx->stack, "lb.haproxy", 1, WAIT_MS) ||
        !fixture_wait_registered(ctx->stack, "ipam.ipalloc", 1, WAIT_MS) ||
        !fixture_wait_registered(ctx->stack, "provider.inject", 1, WAIT_MS))
        return -1;
    return 0;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    for (int h = 0; h < NHOSTS; h++)
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

/* Waits until the service is in that state; a deployed one's VIP and port
 * are read, and the VIP asserted an IPv6 address of the pool. */
static void s_wait_state(ctx_t *ctx, const char *name, const char *st)
{
    ctx->name = name;
    ctx->state = st;
    if (!test_wait(s_state_is, ctx, WAIT_MS)) {
        test_sh("tail -30 %s/lb.log >&2", fixture_dir(ctx->stack));
        fail_msg("service %s is not %s", name, st);
    }
    if (strcmp(st, "deployed")) return;
    json_t *all = fixture_api_get(ctx->stack, "/services");
    json_t *svc = json_object_get(json_object_get(all, name), "service");
    const char *ip = json_string_value(json_object_get(svc, "public_ip"));
    snprintf(ctx->vip, sizeof ctx->vip, "%s", ip ? ip : "");
    ctx->vport = (int)json_integer_value(json_object_get(svc, "port"));
    json_decref(all);
    unsigned char a[16];
    assert_int_equal(inet_pton(AF_INET6, ctx->vip, a), 1);
    static const unsigned char pool[15] = {0xfd, 0x00, 0x00, 0x77};
    assert_memory_equal(a, pool, 15); /* fd00:77::/120 */
}

/* One request from the client to [VIP]:port over IPv6: the body, or NULL
 * with curl's exit status in *curl_rc (refused, unreachable, time-out). */
static char *s_get(ctx_t *ctx, int *curl_rc)
{
    char *out = test_sh_output("ip netns exec %s curl -6 -g -s -m 3 http://[%s]:%d/; "
                               "echo \" rc=$?\"",
                               ctx->ns[CLIENT], ctx->vip, ctx->vport);
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

/* Counts the bodies of n requests: b6 and b4 (0 failures asserted). */
static void s_count(ctx_t *ctx, int n, int *b6, int *b4)
{
    char *out = test_sh_output("for i in $(seq %d); do ip netns exec %s curl -6 -g -s -m 3 "
                               "http://[%s]:%d/ || echo FAIL; echo; done",
                               n, ctx->ns[CLIENT], ctx->vip, ctx->vport);
    assert_non_null(out);
    *b6 = *b4 = 0;
    int fails = 0;
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        *b6 += !strcmp(l, "b6");
        *b4 += !strcmp(l, "b4");
        fails += !strcmp(l, "FAIL");
    }
    free(out);
    assert_int_equal(fails, 0);
    assert_int_equal(*b6 + *b4, n);
}

static bool s_both_seen(void *arg)
{
    ctx_t *ctx = arg;
    int b6, b4;
    s_count(ctx, 8, &b6, &b4);
    return b6 > 0 && b4 > 0;
}

/* The VIP as a /128 on the lb's eth0, usable (not tentative nor failed DAD). */
static bool s_vip_on_lb(ctx_t *ctx)
{
    return test_sh("ip -n %s -6 addr show dev eth0 | grep 'inet6 %s/128' | "
                   "grep -vq 'tentative\\|dadfailed'",
                   ctx->ns[LB], ctx->vip) == 0;
}

static bool s_learnt(void *arg)
{
    ctx_t *ctx = arg;
    char *out = test_sh_output("ip -n %s -6 neigh show %s", ctx->ns[CLIENT], ctx->vip);
    bool ok = out && strstr(out, ctx->lb_mac);
    free(out);
    return ok;
}

/* HAProxy's file binds the VIP in brackets: [VIP]:port. */
static bool s_file_binds(ctx_t *ctx)
{
    return test_sh("grep -qF 'bind [%s]:%d' %s/interlook.cfg", ctx->vip, ctx->vport,
                   fixture_dir(ctx->stack)) == 0;
}

/* Whether the service's VIP and port answer nothing (after the delete). */
static bool s_refused(void *arg)
{
    ctx_t *ctx = arg;
    int rc = 0;
    char *body = s_get(ctx, &rc);
    bool gone = body == NULL && rc != 0;
    free(body);
    return gone;
}

/* The whole life of a service on an IPv6 VIP: deployed (the VIP on the
 * interface, bound, served from an IPv6 backend), an IPv4 backend added
 * beside it (runtime API, no reload), the IPv6 one removed, HAProxy
 * restarted with the VIP gone (a reboot), deleted (the VIP leaves the
 * interface, the client gets nothing). */
static void test_v6_service_life(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add web " NET6 "11:8080 port=80\n");
    s_wait_state(ctx, "web", "deployed");
    assert_int_equal(ctx->vport, 80);
    assert_true(s_vip_on_lb(ctx));
    assert_true(s_file_binds(ctx));
    ctx->name = "b6";
    assert_true(test_wait(s_serves, ctx, WAIT_MS));
    char *workers = haproxy_server_workers(ctx->haproxy);
    assert_non_null(workers);

    /* An IPv4 backend beside the IPv6 one behind the IPv6 VIP. */
    s_tell(ctx, "add web " NET6 "11:8080 " NET4 "12:8080 port=80\n");
    assert_true(test_wait(s_both_seen, ctx, WAIT_MS));
    int b6, b4;
    s_count(ctx, 10, &b6, &b4);
    assert_int_equal(b6, 5);
    assert_int_equal(b4, 5);

    /* The IPv6 backend goes: drained, then only b4 answers. */
    s_tell(ctx, "add web " NET4 "12:8080 port=80\n");
    ctx->name = "b4";
    assert_true(test_wait(s_serves, ctx, WAIT_MS));
    s_count(ctx, 6, &b6, &b4);
    assert_int_equal(b6, 0);

    /* The IPv6 one back, twice (weight 2), by the runtime API: 2:1. */
    s_tell(ctx, "add web " NET6 "11:8080 " NET6 "11:8080 " NET4 "12:8080 port=80\n");
    assert_true(test_wait(s_both_seen, ctx, WAIT_MS));
    s_count(ctx, 12, &b6, &b4);
    assert_int_equal(b6, 8);
    assert_int_equal(b4, 4);
    char *now = haproxy_server_workers(ctx->haproxy); /* targets only: no reload */
    assert_string_equal(workers, now);
    free(workers);
    free(now);

    /* HAProxy killed and the VIP gone with it: a new master gets it all back. */
    haproxy_server_kill(ctx->haproxy);
    assert_int_equal(test_sh("ip -n %s -6 addr del %s/128 dev eth0", ctx->ns[LB], ctx->vip), 0);
    assert_false(s_vip_on_lb(ctx));
    assert_int_equal(haproxy_server_start(ctx->haproxy, WAIT_MS), 0);
    assert_true(test_wait(s_serves, ctx, WAIT_MS));
    assert_true(s_vip_on_lb(ctx));

    /* Deleted: the frontend goes, the VIP leaves the interface, nothing answers. */
    s_tell(ctx, "delete web\n");
    s_wait_state(ctx, "web", "undeployed");
    char *stat = haproxy_server_command(haproxy_server_runtime_socket(ctx->haproxy), "show stat");
    assert_non_null(stat);
    assert_null(strstr(stat, "ilf-web"));
    free(stat);
    assert_false(s_vip_on_lb(ctx));
    assert_true(test_wait(s_refused, ctx, WAIT_MS));
}

/* Two services side by side on two IPv6 VIPs of the pool, one served from
 * the IPv6 backend (given to the provider as [V6]:PORT), one from the IPv4
 * backend, on different ports; each VIP reaches only its own. Deleting one
 * leaves the other serving. */
static void test_v6_side_by_side(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add six [" NET6 "11]:8080 port=8006\n"); /* the bracketed form too */
    s_tell(ctx, "add four " NET4 "12:8080 port=8004\n");
    s_wait_state(ctx, "six", "deployed");
    char vip6[64];
    snprintf(vip6, sizeof vip6, "%s", ctx->vip);
    assert_true(s_vip_on_lb(ctx));
    assert_true(s_file_binds(ctx));
    ctx->name = "b6";
    assert_true(test_wait(s_serves, ctx, WAIT_MS));
    s_wait_state(ctx, "four", "deployed");
    assert_string_not_equal(ctx->vip, vip6);
    assert_true(s_vip_on_lb(ctx));
    assert_true(s_file_binds(ctx));
    ctx->name = "b4";
    assert_true(test_wait(s_serves, ctx, WAIT_MS));
    int b6, b4;
    s_count(ctx, 4, &b6, &b4);
    assert_int_equal(b4, 4);

    s_tell(ctx, "delete four\n");
    s_wait_state(ctx, "four", "undeployed");
    assert_false(s_vip_on_lb(ctx));
    assert_true(test_wait(s_refused, ctx, WAIT_MS));
    s_wait_state(ctx, "six", "deployed");
    assert_string_equal(ctx->vip, vip6);
    assert_true(s_vip_on_lb(ctx));
    s_count(ctx, 4, &b6, &b4);
    assert_int_equal(b6, 4);
    s_tell(ctx, "delete six\n");
    s_wait_state(ctx, "six", "undeployed");
    assert_false(s_vip_on_lb(ctx));
}

/* The unsolicited neighbour advertisement: a client that had another
 * link-layer address for the VIP learns the lb's without asking. */
static void test_v6_announcement(void **state)
{
    ctx_t *ctx = *state;
    /* The next VIP is one of the pool's first: stale entries for them all. */
    for (int i = 1; i < 8; i++)
        assert_int_equal(test_sh("ip -n %s -6 neigh replace fd00:77::%x lladdr 02:00:00:00:00:01 "
                                 "dev eth0 nud stale",
                                 ctx->ns[CLIENT], i),
                         0);
    s_tell(ctx, "add api " NET6 "11:8080 port=8000\n");
    s_wait_state(ctx, "api", "deployed");
    assert_true(test_wait(s_learnt, ctx, WAIT_MS));
    ctx->name = "b6";
    assert_true(test_wait(s_serves, ctx, WAIT_MS));
    s_tell(ctx, "delete api\n");
    s_wait_state(ctx, "api", "undeployed");
    /* None of those entries left for the next cases' VIPs. */
    assert_int_equal(test_sh("ip -n %s -6 neigh flush to " POOL6 " dev eth0", ctx->ns[CLIENT]), 0);
}

/* interlook-lb restarted: it reads its file back ([v6]:port binds, IPv6
 * servers), finds the VIP on the interface and HAProxy running it all, and
 * changes nothing (the same workers). */
static void test_v6_restart_no_reload(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add db " NET6 "11:8080 " NET4 "12:8080 port=80\n");
    s_wait_state(ctx, "db", "deployed");
    assert_true(test_wait(s_both_seen, ctx, WAIT_MS));
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
    assert_true(s_vip_on_lb(ctx));
    int b6, b4;
    s_count(ctx, 4, &b6, &b4);
    assert_int_equal(b6, 2);
    s_tell(ctx, "delete db\n");
    s_wait_state(ctx, "db", "undeployed");
    assert_false(s_vip_on_lb(ctx));
}

static bool s_error_has(void *arg)
{
    ctx_t *ctx = arg;
    json_t *all = fixture_api_get(ctx->stack, "/services");
    const char *err = json_string_value(json_object_get(json_object_get(all, ctx->name), "error"));
    bool ok = err && strstr(err, ctx->state);
    json_decref(all);
    return ok;
}

/* Without vipInterface an IPv6 VIP the host does not hold is refused with
 * the IPv6 sysctl to set (not the IPv4 one). */
static void test_v6_not_here_named(void **state)
{
    ctx_t *ctx = *state;
    char novip[600];
    snprintf(novip, sizeof novip, "%s/novip.yaml", fixture_dir(ctx->stack));
    assert_int_equal(test_sh("sed '/vipInterface/d' %s > %s", fixture_config(ctx->stack), novip),
                     0);
    assert_true(test_stop(ctx->lb, SIGKILL, 5000) >= 0);
    ctx->lb = s_start_lb_with(ctx, novip);
    assert_true(ctx->lb > 0);
    assert_true(fixture_wait_registered(ctx->stack, "lb.haproxy", 1, WAIT_MS));
    s_tell(ctx, "add far " NET6 "11:8080 port=80\n");
    ctx->name = "far";
    ctx->state = "HAProxy could not listen on fd00:77::";
    assert_true(test_wait(s_error_has, ctx, WAIT_MS));
    ctx->state = "(not an address of this host: set lb.haproxy.vipInterface, or route it here "
                 "with net.ipv6.ip_nonlocal_bind=1)";
    assert_true(test_wait(s_error_has, ctx, WAIT_MS));
    s_tell(ctx, "delete far\n");
    s_wait_state(ctx, "far", "undeployed");
    assert_true(test_stop(ctx->lb, SIGKILL, 5000) >= 0);
    ctx->lb = s_start_lb(ctx);
    assert_true(ctx->lb > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v6_service_life),   cmocka_unit_test(test_v6_side_by_side),
        cmocka_unit_test(test_v6_announcement),   cmocka_unit_test(test_v6_restart_no_reload),
        cmocka_unit_test(test_v6_not_here_named),
    };
    return test_run_group(tests, s_setup, s_teardown);
}
