/* An IPv6 VIP end to end: the IP allocator's pool is IPv6 (fd00:77::/120),
 * interlook-lb adds each VIP as a /128 to the eth0 of an "lb" network
 * namespace where HAProxy runs, and a client in a namespace of its own
 * reaches backends (small HTTP servers, one on IPv6, one on IPv4) through
 * it with curl -6 http://[VIP]:PORT/. All hosts sit on a bridge in a
 * "switch" namespace, on fd00:77::/64 and 198.18.81.0/24 (private ranges;
 * the hosts' own addresses are outside the pool). The core, the scripted
 * provider and the allocator run in the test's own namespace and talk to
 * interlook-lb over ipc:// sockets (a file system is shared across network
 * namespaces); tests/support/lb_stack builds it all. Duplicate address
 * detection is left on in the lb namespace: the VIP must be usable at once
 * (lb_vip adds it "nodad"). Needs root and iproute2; it never skips. */
#include "tests/support/asserts.h"
#include "tests/support/fixture.h"
#include "tests/support/haproxy_server.h"
#include "tests/support/lb_stack.h"
#include "tests/support/testutil.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define NET6    "fd00:77::1:"   /* the hosts: NET6 + their number, /64 */
#define POOL6   "fd00:77::/120" /* the VIPs: inside that /64, apart from the hosts */
#define NET4    "198.18.81."
#define WAIT_MS 20000

typedef struct {
    lb_stack_t *lb;           /* first: lb_stack_teardown */
    const char *name, *state; /* conditions */
} ctx_t;

static int s_setup(void **state)
{
    lb_stack_opts_t opts = {.name = "test_lb_v6",
                            .tag = "6",
                            .net4 = NET4,
                            .net6 = NET6,
                            .pool = POOL6,
                            .drain = "2s",
                            .backend = {"b6", "b4"},
                            .listen = {NET6 "11", NET4 "12"}};
    return lb_stack_setup(state, sizeof(ctx_t), &opts);
}

#define s_tell(ctx, ...) assert_int_equal(lb_stack_tell((ctx)->lb, __VA_ARGS__), 0)

/* Waits until the service is in that state; a deployed one is the service
 * under test, its VIP asserted an IPv6 address of the pool. */
static void s_wait_state(ctx_t *ctx, const char *name, const char *st)
{
    if (!lb_stack_wait_state(ctx->lb, name, st, WAIT_MS))
        fail_msg("service %s is not %s", name, st);
    if (strcmp(st, "deployed")) return;
    unsigned char a[16];
    assert_int_equal(inet_pton(AF_INET6, lb_stack_vip(ctx->lb), a), 1);
    static const unsigned char pool[15] = {0xfd, 0x00, 0x00, 0x77};
    assert_memory_equal(a, pool, 15); /* fd00:77::/120 */
}

/* The VIP as a /128 on the lb's eth0, usable (not tentative nor failed DAD). */
static bool s_vip_on_lb(ctx_t *ctx)
{
    return test_sh("ip -n %s -6 addr show dev eth0 | grep 'inet6 %s/128' | "
                   "grep -vq 'tentative\\|dadfailed'",
                   lb_stack_ns(ctx->lb, LB_STACK_LB), lb_stack_vip(ctx->lb)) == 0;
}

/* HAProxy's file binds the VIP in brackets: [VIP]:port. */
static bool s_file_binds(ctx_t *ctx)
{
    return test_sh("grep -qF 'bind [%s]:%d' %s/interlook.cfg", lb_stack_vip(ctx->lb),
                   lb_stack_port(ctx->lb), fixture_dir(lb_stack_fixture(ctx->lb))) == 0;
}

/* Whether the service's VIP and port answer nothing (after the delete). */
static bool s_refused(void *arg)
{
    ctx_t *ctx = arg;
    int rc = 0;
    char *body = lb_stack_get(ctx->lb, &rc);
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
    assert_int_equal(lb_stack_port(ctx->lb), 80);
    assert_true(s_vip_on_lb(ctx));
    assert_true(s_file_binds(ctx));
    assert_true(lb_stack_wait_body(ctx->lb, "b6", WAIT_MS));
    char *workers = haproxy_server_workers(lb_stack_haproxy(ctx->lb));
    assert_non_null(workers);

    /* An IPv4 backend beside the IPv6 one behind the IPv6 VIP. */
    s_tell(ctx, "add web " NET6 "11:8080 " NET4 "12:8080 port=80\n");
    assert_true(lb_stack_wait_both(ctx->lb, WAIT_MS));
    int b6, b4;
    assert_int_equal(lb_stack_count(ctx->lb, 10, &b6, &b4), 0);
    assert_int_equal(b6, 5);
    assert_int_equal(b4, 5);

    /* The IPv6 backend goes: drained, then only b4 answers. */
    s_tell(ctx, "add web " NET4 "12:8080 port=80\n");
    assert_true(lb_stack_wait_body(ctx->lb, "b4", WAIT_MS));
    assert_int_equal(lb_stack_count(ctx->lb, 6, &b6, &b4), 0);
    assert_int_equal(b6, 0);

    /* The IPv6 one back, twice (weight 2), by the runtime API: 2:1. */
    s_tell(ctx, "add web " NET6 "11:8080 " NET6 "11:8080 " NET4 "12:8080 port=80\n");
    assert_true(lb_stack_wait_both(ctx->lb, WAIT_MS));
    assert_int_equal(lb_stack_count(ctx->lb, 12, &b6, &b4), 0);
    assert_int_equal(b6, 8);
    assert_int_equal(b4, 4);
    char *now = haproxy_server_workers(lb_stack_haproxy(ctx->lb)); /* targets only: no reload */
    assert_string_equal(workers, now);
    free(workers);
    free(now);

    /* HAProxy killed and the VIP gone with it: a new master gets it all back. */
    haproxy_server_kill(lb_stack_haproxy(ctx->lb));
    assert_int_equal(test_sh("ip -n %s -6 addr del %s/128 dev eth0",
                             lb_stack_ns(ctx->lb, LB_STACK_LB), lb_stack_vip(ctx->lb)),
                     0);
    assert_false(s_vip_on_lb(ctx));
    assert_int_equal(haproxy_server_start(lb_stack_haproxy(ctx->lb), WAIT_MS), 0);
    assert_true(lb_stack_wait_body(ctx->lb, "b4", WAIT_MS)); /* still b4 last asked */
    assert_true(s_vip_on_lb(ctx));

    /* Deleted: the frontend goes, the VIP leaves the interface, nothing answers. */
    s_tell(ctx, "delete web\n");
    s_wait_state(ctx, "web", "undeployed");
    char *stat = haproxy_server_command(haproxy_server_runtime_socket(lb_stack_haproxy(ctx->lb)),
                                        "show stat");
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
    snprintf(vip6, sizeof vip6, "%s", lb_stack_vip(ctx->lb));
    assert_true(s_vip_on_lb(ctx));
    assert_true(s_file_binds(ctx));
    assert_true(lb_stack_wait_body(ctx->lb, "b6", WAIT_MS));
    s_wait_state(ctx, "four", "deployed");
    assert_string_not_equal(lb_stack_vip(ctx->lb), vip6);
    assert_true(s_vip_on_lb(ctx));
    assert_true(s_file_binds(ctx));
    assert_true(lb_stack_wait_body(ctx->lb, "b4", WAIT_MS));
    int b6, b4;
    assert_int_equal(lb_stack_count(ctx->lb, 4, &b6, &b4), 0);
    assert_int_equal(b4, 4);

    s_tell(ctx, "delete four\n");
    s_wait_state(ctx, "four", "undeployed");
    assert_false(s_vip_on_lb(ctx));
    assert_true(test_wait(s_refused, ctx, WAIT_MS));
    s_wait_state(ctx, "six", "deployed");
    assert_string_equal(lb_stack_vip(ctx->lb), vip6);
    assert_true(s_vip_on_lb(ctx));
    assert_int_equal(lb_stack_count(ctx->lb, 4, &b6, &b4), 0);
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
                                 lb_stack_ns(ctx->lb, LB_STACK_CLIENT), i),
                         0);
    s_tell(ctx, "add api " NET6 "11:8080 port=8000\n");
    s_wait_state(ctx, "api", "deployed");
    assert_true(lb_stack_wait_learnt(ctx->lb, WAIT_MS));
    assert_true(lb_stack_wait_body(ctx->lb, "b6", WAIT_MS));
    s_tell(ctx, "delete api\n");
    s_wait_state(ctx, "api", "undeployed");
    /* None of those entries left for the next cases' VIPs. */
    assert_int_equal(test_sh("ip -n %s -6 neigh flush to " POOL6 " dev eth0",
                             lb_stack_ns(ctx->lb, LB_STACK_CLIENT)),
                     0);
}

/* interlook-lb restarted: it reads its file back ([v6]:port binds, IPv6
 * servers), finds the VIP on the interface and HAProxy running it all, and
 * changes nothing (the same workers). */
static void test_v6_restart_no_reload(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add db " NET6 "11:8080 " NET4 "12:8080 port=80\n");
    s_wait_state(ctx, "db", "deployed");
    assert_true(lb_stack_wait_both(ctx->lb, WAIT_MS));
    assert_int_equal(lb_stack_restart_no_reload(ctx->lb, 1), 0);
    assert_true(s_vip_on_lb(ctx));
    int b6, b4;
    assert_int_equal(lb_stack_count(ctx->lb, 4, &b6, &b4), 0);
    assert_int_equal(b6, 2);
    s_tell(ctx, "delete db\n");
    s_wait_state(ctx, "db", "undeployed");
    assert_false(s_vip_on_lb(ctx));
}

static bool s_error_has(void *arg)
{
    ctx_t *ctx = arg;
    json_t *all = fixture_api_get(lb_stack_fixture(ctx->lb), "/services");
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
    snprintf(novip, sizeof novip, "%s/novip.yaml", fixture_dir(lb_stack_fixture(ctx->lb)));
    assert_int_equal(
        test_sh("sed '/vipInterface/d' %s > %s", fixture_config(lb_stack_fixture(ctx->lb)), novip),
        0);
    assert_int_equal(lb_stack_restart_lb(ctx->lb, novip), 0);
    assert_true(fixture_wait_registered(lb_stack_fixture(ctx->lb), "lb.haproxy", 1, WAIT_MS));
    s_tell(ctx, "add far " NET6 "11:8080 port=80\n");
    ctx->name = "far";
    ctx->state = "HAProxy could not listen on fd00:77::";
    assert_true(test_wait(s_error_has, ctx, WAIT_MS));
    ctx->state = "(not an address of this host: set lb.haproxy.vipInterface, or route it here "
                 "with net.ipv6.ip_nonlocal_bind=1)";
    assert_true(test_wait(s_error_has, ctx, WAIT_MS));
    s_tell(ctx, "delete far\n");
    s_wait_state(ctx, "far", "undeployed");
    assert_int_equal(lb_stack_restart_lb(ctx->lb, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v6_service_life),   cmocka_unit_test(test_v6_side_by_side),
        cmocka_unit_test(test_v6_announcement),   cmocka_unit_test(test_v6_restart_no_reload),
        cmocka_unit_test(test_v6_not_here_named),
    };
    return test_run_group(tests, s_setup, lb_stack_teardown);
}
