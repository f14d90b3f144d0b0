/* The load-balancer step across real networks: HAProxy and interlook-lb in
 * an "lb" network namespace, a client and two backends (small HTTP servers)
 * in namespaces of their own, all on a bridge in a "switch" namespace, on
 * the private subnet 198.18.79.0/24 (RFC 2544's benchmarking range). The
 * core, the scripted provider and the IP allocator run in the test's own
 * namespace and talk to interlook-lb over ipc:// sockets (a file system is
 * shared across network namespaces); tests/support/lb_stack builds it all.
 * interlook-lb puts each VIP on the lb namespace's eth0 and announces it;
 * the client reaches the backends through it. Needs root and iproute2; it
 * never skips. */
#include "tests/support/asserts.h"
#include "tests/support/fixture.h"
#include "tests/support/haproxy_server.h"
#include "tests/support/lb_stack.h"
#include "tests/support/testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define SUBNET  "198.18.79"
#define WAIT_MS 20000

typedef struct {
    lb_stack_t *lb; /* first: lb_stack_teardown */
} ctx_t;

/* A line to the provider. */
#define s_tell(ctx, ...) assert_int_equal(lb_stack_tell((ctx)->lb, __VA_ARGS__), 0)

static int s_setup(void **state)
{
    lb_stack_opts_t opts = {.name = "test_lb_netns",
                            .tag = "l",
                            .net4 = SUBNET ".",
                            .pool = SUBNET ".128/27",
                            .drain = "10s",
                            .backend = {"b1", "b2"},
                            .listen = {SUBNET ".11", SUBNET ".12"}};
    return lb_stack_setup(state, sizeof(ctx_t), &opts);
}

/* HAProxy has a request in progress on b1 (scur > 0 in show stat). */
static bool s_b1_busy(void *arg)
{
    ctx_t *ctx = arg;
    char *stat = haproxy_server_command(haproxy_server_runtime_socket(lb_stack_haproxy(ctx->lb)),
                                        "show stat");
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
    return test_sh("ip -n %s -4 addr show dev eth0 | grep -q 'inet %s/32'",
                   lb_stack_ns(ctx->lb, LB_STACK_LB), lb_stack_vip(ctx->lb)) == 0;
}

/* The whole life of a service: deployed and announced, a second target with
 * a weight, a target removed under load, HAProxy restarted, deleted. */
static void test_service_life(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add web " SUBNET ".11:8080 port=80\n");
    assert_true(lb_stack_wait_state(ctx->lb, "web", "deployed", WAIT_MS));
    assert_true(s_vip_on_lb(ctx));
    assert_true(lb_stack_wait_body(ctx->lb, "b1", WAIT_MS));
    char *workers =
        haproxy_server_workers(lb_stack_haproxy(ctx->lb)); /* target changes: no reload */
    assert_non_null(workers);

    /* b2 three times (weight 3): both serve, 1:3 with round robin. */
    s_tell(ctx, "add web " SUBNET ".11:8080 " SUBNET ".12:8080 " SUBNET ".12:8080 " SUBNET
                ".12:8080 port=80\n");
    assert_true(lb_stack_wait_both(ctx->lb, WAIT_MS));
    int b1, b2;
    assert_int_equal(lb_stack_count(ctx->lb, 40, &b1, &b2), 0);
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
                 lb_stack_ns(ctx->lb, LB_STACK_CLIENT), lb_stack_vip(ctx->lb),
                 fixture_dir(lb_stack_fixture(ctx->lb)), i, fixture_dir(lb_stack_fixture(ctx->lb)),
                 i);
        const char *sargs[] = {"-c", cmd, NULL};
        slow[i] = fixture_spawn(lb_stack_fixture(ctx->lb), "/bin/sh", sargs, NULL, NULL);
        assert_true(slow[i] > 0);
    }
    assert_true(test_wait(s_b1_busy, ctx, WAIT_MS));
    char out[600];
    snprintf(out, sizeof out, "%s/loop.out", fixture_dir(lb_stack_fixture(ctx->lb)));
    char script[1024];
    snprintf(script, sizeof script,
             "for i in $(seq 200); do ip netns exec %s curl -s -m 3 http://%s/ || echo FAIL; "
             "echo; done > %s",
             lb_stack_ns(ctx->lb, LB_STACK_CLIENT), lb_stack_vip(ctx->lb), out);
    const char *args[] = {"-c", script, NULL};
    pid_t loop = fixture_spawn(lb_stack_fixture(ctx->lb), "/bin/sh", args, NULL, NULL);
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
        char *body = test_sh_output("cat %s/slow.%d", fixture_dir(lb_stack_fixture(ctx->lb)), i);
        assert_non_null(body);
        assert_true(!strcmp(body, "b1") || !strcmp(body, "b2"));
        slow_b1 += !strcmp(body, "b1");
        free(body);
    }
    assert_true(slow_b1 >= 1); /* at least one was on b1 when it went */
    assert_int_equal(lb_stack_count(ctx->lb, 8, &b1, &b2), 0);
    assert_int_equal(b1, 0);
    char *now =
        haproxy_server_workers(lb_stack_haproxy(ctx->lb)); /* the runtime API did all that */
    assert_string_equal(workers, now);
    free(workers);
    free(now);

    /* HAProxy killed, the VIP gone with it (a reboot): a new master gets it all back. */
    haproxy_server_kill(lb_stack_haproxy(ctx->lb));
    assert_int_equal(test_sh("ip -n %s addr del %s/32 dev eth0", lb_stack_ns(ctx->lb, LB_STACK_LB),
                             lb_stack_vip(ctx->lb)),
                     0);
    assert_int_equal(haproxy_server_start(lb_stack_haproxy(ctx->lb), WAIT_MS), 0);
    assert_true(lb_stack_wait_body(ctx->lb, "b2", WAIT_MS));
    assert_true(s_vip_on_lb(ctx));

    /* Deleted: the frontend goes, then the VIP leaves the interface: the
     * client gets nothing. */
    s_tell(ctx, "delete web\n");
    assert_true(lb_stack_wait_state(ctx->lb, "web", "undeployed", WAIT_MS));
    char *stat = haproxy_server_command(haproxy_server_runtime_socket(lb_stack_haproxy(ctx->lb)),
                                        "show stat");
    assert_non_null(stat);
    assert_null(strstr(stat, "ilf-web"));
    assert_null(strstr(stat, "ilb-web"));
    free(stat);
    assert_false(s_vip_on_lb(ctx));
    int rc = 0;
    char *body = lb_stack_get(ctx->lb, &rc);
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
                                 lb_stack_ns(ctx->lb, LB_STACK_CLIENT), i),
                         0);
    s_tell(ctx, "add api " SUBNET ".11:8080 port=8000\n");
    assert_true(lb_stack_wait_state(ctx->lb, "api", "deployed", WAIT_MS));
    assert_true(lb_stack_wait_learnt(ctx->lb, WAIT_MS));
    s_tell(ctx, "delete api\n");
    assert_true(lb_stack_wait_state(ctx->lb, "api", "undeployed", WAIT_MS));
}

/* interlook-lb restarted: it reads its file back, finds HAProxy running it,
 * and changes nothing (no reload: the same workers). */
static void test_restart_no_reload(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add db " SUBNET ".12:8080 port=80\n");
    assert_true(lb_stack_wait_state(ctx->lb, "db", "deployed", WAIT_MS));
    assert_int_equal(lb_stack_restart_no_reload(ctx->lb, 1), 0);
    assert_true(lb_stack_wait_body(ctx->lb, "b2", WAIT_MS));
    s_tell(ctx, "delete db\n");
    assert_true(lb_stack_wait_state(ctx->lb, "db", "undeployed", WAIT_MS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_life),
        cmocka_unit_test(test_announcement),
        cmocka_unit_test(test_restart_no_reload),
    };
    return test_run_group(tests, s_setup, lb_stack_teardown);
}
