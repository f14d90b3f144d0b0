/* Two interlookd on one etcd cluster (core.store: etcd, issue 16), with real
 * processes on loopback (tests/support/ha_cluster): a 3-member etcd, two
 * cores, interlook-inject as the provider, two interlook-ipalloc on the etcd
 * store (ipam.ipalloc.store: etcd, one pool) and interlook-echo, the
 * extensions given both cores' endpoints. One core leads, the other stands
 * by:
 *   - kill -9 of the leader under a steady load (services added and
 *     removed), 10 times alternating: the standby leads within 2 x TTL, no
 *     entry is lost, every service converges, no IP twice, and etcd's
 *     allocations (interlook-ipalloc --list) are the leader's deployed
 *     name -> IP set; the takeover times and their p50/max are printed;
 *   - one etcd member killed: nothing changes; two: the leader stops
 *     dispatching and /health says why; quorum back: it converges again;
 *   - the leader cut from etcd: it stops dispatching before the other leads;
 *   - a standby answers a raw HELLO with ERROR not-leader, and /services
 *     from etcd. */
#include "broker/ilp_msg.h"
#include "tests/support/etcd_server.h"
#include "tests/support/ha_cluster.h"
#include "tests/support/testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define TTL_S       2
#define WAIT_MS     30000
#define KILLS       10
#define LIVENESS_MS 300 /* heartbeat 100 ms x liveness 3 */

typedef struct {
    ha_cluster_t *ha;
} ctx_t;

/* The test's shorthands over ha_cluster. */
#define S_API(ctx, i) ha_cluster_api((ctx)->ha, (i))

static bool s_is_role(ctx_t *ctx, int i, const char *want)
{
    return ha_cluster_is_role(ctx->ha, i, want);
}

static void s_add(ctx_t *ctx, int n)
{
    assert_int_equal(ha_cluster_add(ctx->ha, n), 0);
}

static void s_assert_converged(ctx_t *ctx, int i)
{
    char why[256];
    if (!ha_cluster_wait_converged(ctx->ha, i, WAIT_MS, why, sizeof why))
        fail_msg("core %d did not converge in %d ms: %s", i, WAIT_MS, why);
}

/* The allocations in etcd (interlook-ipalloc --list) are the name -> IP
 * set core i shows deployed. */
static void s_assert_allocations(ctx_t *ctx, int i)
{
    char why[512];
    if (ha_cluster_check_allocations(ctx->ha, i, why, sizeof why) != 0)
        fail_msg("etcd's allocations and core %d disagree: %s", i, why);
}

static int s_setup_ctx(void **state, bool one_each)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    ha_cluster_opts_t opts = {
        .name = "test_ha", .ttl_s = TTL_S, .one_each = one_each, .timeout_ms = WAIT_MS};
    ctx->ha = ha_cluster_new(&opts);
    return ctx->ha ? 0 : -1;
}

static int s_setup(void **state)
{
    return s_setup_ctx(state, false);
}

static int s_setup_one_each(void **state)
{
    return s_setup_ctx(state, true);
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    if (!ctx) return 0;
    ha_cluster_destroy(&ctx->ha);
    free(ctx);
    return 0;
}

/* kill -9 of the leader under a steady load (services added and removed:
 * allocations and releases race with the takeover), KILLS times
 * alternating: the standby leads within 2 x TTL, every extension registers
 * with it within one liveness, no entry is lost, every service converges
 * (each with its own IP), and the allocations in etcd are exactly the
 * leader's deployed name -> IP set. The takeover times are printed. */
static void test_failover_under_load(void **state)
{
    ctx_t *ctx = *state;
    int leader = ha_cluster_leader(ctx->ha, WAIT_MS);
    assert_true(leader >= 0);
    s_add(ctx, 20);
    s_assert_converged(ctx, leader);
    s_assert_allocations(ctx, leader);
    int64_t times[KILLS], regs[KILLS];
    for (int k = 0; k < KILLS; k++) {
        ha_takeover_t t;
        char why[512] = "";
        int now = ha_cluster_failover(ctx->ha, leader, &t, why, sizeof why);
        if (now < 0) fail_msg("kill %d of core %d: %s", k + 1, leader, why);
        times[k] = t.takeover_ms;
        regs[k] = t.register_ms;
        fprintf(stderr,
                "test: kill %d: core %d took over in %lld ms; every extension registered "
                "%lld ms later; converged %lld ms after the takeover (%d services live)\n",
                k + 1, now, (long long)t.takeover_ms, (long long)t.register_ms,
                (long long)t.converge_ms, ha_cluster_live(ctx->ha));
        assert_true(t.takeover_ms <= 2 * TTL_S * 1000);
        leader = now;
    }
    s_assert_allocations(ctx, leader);
    /* The standby shows the same entries, read from etcd. */
    s_assert_converged(ctx, 1 - leader);
    fprintf(stderr, "test: takeover times (ms):");
    for (int k = 0; k < KILLS; k++)
        fprintf(stderr, " %lld", (long long)times[k]);
    fprintf(stderr, "\n");
    int64_t max = ha_cluster_percentile(times, KILLS, 100);
    int64_t p50 = ha_cluster_percentile(times, KILLS, 50);
    fprintf(stderr,
            "test: takeover over %d kills: p50 %lld ms, max %lld ms (TTL %d s, bound %d ms)\n",
            KILLS, (long long)p50, (long long)max, TTL_S, 2 * TTL_S * 1000);
    /* Within one liveness (3 x 100 ms) of the takeover, with a margin for
     * this test's polling of the API (each GET costs a few ms). */
    for (int k = 0; k < KILLS; k++)
        assert_true(regs[k] <= LIVENESS_MS + 200);
}

/* A standby answers HELLO with ERROR not-leader naming the leader, and
 * serves /services from etcd. */
static void test_standby_refuses_hello(void **state)
{
    ctx_t *ctx = *state;
    int leader = ha_cluster_leader(ctx->ha, WAIT_MS);
    assert_true(leader >= 0);
    int standby = 1 - leader;
    assert_true(ha_cluster_wait_role(ctx->ha, standby, "standby", WAIT_MS));
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    assert_non_null(sock);
    zsock_set_linger(sock, 0);
    assert_int_equal(zsock_connect(sock, "%s", ha_cluster_router(ctx->ha, standby)), 0);
    ilp_msg_t *hello = ilp_msg_new(ILP_HELLO);
    hello->name = strdup("provisioner.echo");
    hello->instance = strdup("raw-1");
    hello->credit = 1;
    zmsg_t *zmsg = ilp_msg_encode(hello);
    ilp_msg_destroy(&hello);
    assert_int_equal(zmsg_send(&zmsg, sock), 0);
    zsock_set_rcvtimeo(sock, WAIT_MS);
    zmsg = zmsg_recv(sock);
    assert_non_null(zmsg);
    char err[256];
    ilp_msg_t *answer = ilp_msg_decode(zmsg, err, sizeof err);
    zmsg_destroy(&zmsg);
    assert_non_null(answer);
    assert_int_equal(answer->cmd, ILP_ERROR);
    assert_string_equal(answer->code, ILP_CODE_NOT_LEADER);
    char want[64];
    snprintf(want, sizeof want, "core-%d", leader);
    if (!strstr(answer->reason, want))
        fail_msg("not-leader reason '%s' does not name %s", answer->reason, want);
    /* /health on either core: its own core.id, and the leader's. */
    for (int i = 0; i < 2; i++) {
        json_t *health = test_get_json(ha_cluster_api(ctx->ha, i), "/health");
        char own[64];
        snprintf(own, sizeof own, "core-%d", i);
        assert_non_null(health);
        assert_string_equal(json_string_value(json_object_get(health, "id")), own);
        assert_string_equal(json_string_value(json_object_get(health, "leader")), want);
        json_decref(health);
    }
    ilp_msg_destroy(&answer);
    zsock_destroy(&sock);
    s_add(ctx, 3);
    s_assert_converged(ctx, leader);
    s_assert_converged(ctx, standby); /* from etcd */
    s_assert_allocations(ctx, leader);
    /* interlookctl works against either core. */
    for (int i = 0; i < 2; i++) {
        char out[8192];
        int rc = test_run(out, sizeof out, "%s --api %s services 2>&1", test_bin("interlookctl"),
                          S_API(ctx, i));
        if (rc != 0 || !strstr(out, "s2") || !strstr(out, "deployed"))
            fail_msg("interlookctl services against core %d (rc %d): %s", i, rc, out);
    }
}

/* One etcd member down: nothing changes. Two (no quorum): the leader stops
 * leading before its lease can expire and /health says why; nothing is
 * dispatched. Quorum back: a core leads and everything converges. */
static void test_etcd_quorum(void **state)
{
    ctx_t *ctx = *state;
    int leader = ha_cluster_leader(ctx->ha, WAIT_MS);
    assert_true(leader >= 0);
    s_add(ctx, 3);
    s_assert_converged(ctx, leader);
    assert_int_equal(etcd_server_kill(ha_cluster_etcd(ctx->ha), 0), 0);
    s_add(ctx, 3);
    s_assert_converged(ctx, leader);
    /* Still the same leader, three TTLs later. */
    int64_t end = zclock_mono() + 3 * TTL_S * 1000;
    while (zclock_mono() < end) {
        assert_true(s_is_role(ctx, leader, "leader"));
        zclock_sleep(100);
    }
    assert_int_equal(etcd_server_kill(ha_cluster_etcd(ctx->ha), 1), 0);
    int64_t lost = zclock_mono();
    assert_true(ha_cluster_wait_role(ctx->ha, leader, "none", 2 * TTL_S * 1000));
    fprintf(stderr, "test: no quorum: the leader stood down after %lld ms\n",
            (long long)(zclock_mono() - lost));
    char role[32], reason[512];
    ha_cluster_role(ctx->ha, leader, role, sizeof role, reason, sizeof reason);
    fprintf(stderr, "test: /health: role %s, reason: %s\n", role, reason);
    assert_non_null(strstr(reason, "etcd"));
    assert_false(s_is_role(ctx, 1 - leader, "leader"));
    /* Reported now: nothing dispatches it while no core leads. */
    s_add(ctx, 2);
    zclock_sleep(1000); /* a negative check: give a wrong dispatch time to show */
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%d", ha_cluster_added(ctx->ha) - 1);
        assert_false(test_entry_is(S_API(ctx, i), name, "deployed", 1));
    }
    assert_int_equal(etcd_server_restart(ha_cluster_etcd(ctx->ha), 0, WAIT_MS), 0);
    assert_int_equal(etcd_server_restart(ha_cluster_etcd(ctx->ha), 1, WAIT_MS), 0);
    int now = ha_cluster_leader(ctx->ha, WAIT_MS);
    assert_true(now >= 0);
    s_assert_converged(ctx, now);
    s_assert_allocations(ctx, now);
}

/* The time (ms since the epoch) of the last line of core i's log holding
 * text; -1 when none. */
static int64_t s_last_line_ms(ctx_t *ctx, int i, const char *text)
{
    char path[700], line[4096];
    snprintf(path, sizeof path, "%s/core%d.log", ha_cluster_dir(ctx->ha), i);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int64_t last = -1;
    while (fgets(line, sizeof line, f)) {
        int64_t t = strstr(line, text) ? test_log_line_ms(line) : -1;
        if (t >= 0) last = t;
    }
    fclose(f);
    return last;
}

/* The leader cut from etcd only (its one etcd member hangs: SIGSTOP, a
 * partition without RST) while it keeps its extensions, under a steady
 * load: it stops dispatching before the other core starts (the last WORK it
 * sent is logged before the other's takeover), the other leads, and
 * everything converges; with the member back, the old leader stands by. */
static void test_leader_cut_from_etcd(void **state)
{
    ctx_t *ctx = *state;
    int leader = ha_cluster_leader(ctx->ha, WAIT_MS);
    assert_true(leader >= 0);
    int other = 1 - leader;
    s_add(ctx, 10);
    s_assert_converged(ctx, leader);
    assert_int_equal(etcd_server_pause(ha_cluster_etcd(ctx->ha), (size_t)leader), 0);
    int64_t cut = zclock_mono();
    /* A steady load until the other core leads: WORK keeps being due. */
    int64_t end = cut + WAIT_MS;
    while (!s_is_role(ctx, other, "leader") && zclock_mono() < end) {
        s_add(ctx, 1);
        zclock_sleep(50);
    }
    assert_true(s_is_role(ctx, other, "leader"));
    fprintf(stderr, "test: leader cut from etcd: core %d led %lld ms after the cut\n", other,
            (long long)(zclock_mono() - cut));
    int64_t last_work = s_last_line_ms(ctx, leader, "-> WORK");
    int64_t took_over = s_last_line_ms(ctx, other, "core: leading");
    int64_t stood_down = s_last_line_ms(ctx, leader, "core: no longer leading");
    fprintf(stderr,
            "test: core %d sent its last WORK at %lld, stood down at %lld; core %d led at %lld "
            "(ms since the epoch)\n",
            leader, (long long)last_work, (long long)stood_down, other, (long long)took_over);
    assert_true(last_work > 0 && took_over > 0 && stood_down > 0);
    assert_true(stood_down < took_over);
    assert_true(last_work < took_over);
    s_add(ctx, 3);
    s_assert_converged(ctx, other);
    assert_int_equal(etcd_server_resume(ha_cluster_etcd(ctx->ha), (size_t)leader), 0);
    assert_true(ha_cluster_wait_role(ctx->ha, leader, "standby", WAIT_MS));
    s_assert_converged(ctx, other);
    s_assert_allocations(ctx, other);
}

/* How many WORK core i's log says it sent (not held) at or after since_ms
 * (ms since the epoch). */
static int s_work_since(ctx_t *ctx, int i, int64_t since_ms)
{
    char path[700], line[4096];
    snprintf(path, sizeof path, "%s/core%d.log", ha_cluster_dir(ctx->ha), i);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "-> WORK") && !strstr(line, "held until") &&
            test_log_line_ms(line) >= since_ms)
            n++;
    fclose(f);
    return n;
}

/* The leader hangs (SIGSTOP: a paused VM, a stuck host; its sockets stay
 * open, nothing answers, nothing closes) under a steady load. No core tells
 * the extensions anything: they find the new leader by the liveness
 * time-out alone, the path a peer that does not know `not-leader` takes
 * (docs/protocol.md 5.1). The other core leads within 2 x TTL; everything
 * converges there. Then the hung leader resumes long after its lease
 * expired, with the EVENTs the provider sent it before moving still in its
 * socket: it sends no WORK and stands by. (That its fence, not the absence
 * of registered instances, is what stops it is shown by test_ha_netns,
 * which fails with the fence broken; here the extensions have left it.) */
static void test_leader_hung(void **state)
{
    ctx_t *ctx = *state;
    int leader = ha_cluster_leader(ctx->ha, WAIT_MS);
    assert_true(leader >= 0);
    int other = 1 - leader;
    assert_true(ha_cluster_wait_role(ctx->ha, other, "standby", WAIT_MS));
    s_add(ctx, 10);
    s_assert_converged(ctx, leader);
    pid_t pid = ha_cluster_core_pid(ctx->ha, leader);
    assert_int_equal(kill(pid, SIGSTOP), 0);
    int64_t stopped = zclock_mono();
    int64_t end = stopped + WAIT_MS;
    while (!s_is_role(ctx, other, "leader") && zclock_mono() < end) {
        s_add(ctx, 1);
        zclock_sleep(50);
    }
    int64_t led = zclock_mono();
    if (!s_is_role(ctx, other, "leader")) {
        kill(pid, SIGCONT);
        fail_msg("core %d did not lead within %d ms of the leader's hang", other, WAIT_MS);
    }
    int64_t took = led - stopped;
    bool registered = ha_cluster_wait_registered(ctx->ha, other, WAIT_MS);
    int64_t reg = zclock_mono() - led;
    fprintf(stderr,
            "test: leader hung: core %d led %lld ms after the hang; every extension registered "
            "with it %lld ms later (by time-out: no one told them)\n",
            other, (long long)took, (long long)reg);
    if (!registered) kill(pid, SIGCONT);
    assert_true(registered);
    s_add(ctx, 3);
    s_assert_converged(ctx, other);
    int64_t resumed = test_wall_ms();
    assert_int_equal(kill(pid, SIGCONT), 0);
    assert_true(ha_cluster_wait_role(ctx->ha, leader, "standby", WAIT_MS));
    s_add(ctx, 3);
    s_assert_converged(ctx, other);
    int sent = s_work_since(ctx, leader, resumed);
    fprintf(stderr, "test: the hung leader, resumed: %d WORK sent since (the new leader %d)\n",
            sent, s_work_since(ctx, other, resumed));
    assert_int_equal(sent, 0);
    assert_true(took <= 2 * TTL_S * 1000);
    /* The extensions had been moving between the cores since the hang: once
     * one leads, at most one round (liveness x heartbeat per hung core, a
     * heartbeat's wait after a round refused) brings each to it. */
    assert_true(reg <= 2 * LIVENESS_MS + 500);
    s_assert_allocations(ctx, other);
}

typedef struct {
    ctx_t *ctx;
    int i;
} s_py_t;

/* Core i lists the Python peer (instance py-1) as an instance of the echo
 * step. */
static bool s_py_registered(void *arg)
{
    s_py_t *w = arg;
    json_t *exts = test_get_json(S_API(w->ctx, w->i), "/extensions");
    json_t *list = json_object_get(exts, "provisioner.echo");
    bool found = false;
    for (size_t k = 0; k < json_array_size(list) && !found; k++)
        found = !strcmp(
            json_string_value(json_object_get(json_array_get(list, k), "instance")) ?: "", "py-1");
    json_decref(exts);
    return found;
}

/* A foreign peer that does not know ERROR not-leader (tests/peers/ilp_echo.py,
 * written from docs/protocol.md) given both cores' endpoints, the standby's
 * first: it logs the standby's refusal as an unknown code, moves on by the
 * liveness time-out and registers with the leader (docs/protocol.md 5.1:
 * compatible within ILP/1); after a kill -9 of the leader it finds the new
 * one the same way, and does its share of the echo step throughout. */
static void test_foreign_peer_finds_leader(void **state)
{
    ctx_t *ctx = *state;
    int leader = ha_cluster_leader(ctx->ha, WAIT_MS);
    assert_true(leader >= 0);
    int standby = 1 - leader;
    assert_true(ha_cluster_wait_role(ctx->ha, standby, "standby", WAIT_MS));
    const char *peer = "tests/peers/ilp_echo.py";
    assert_int_equal(access(peer, R_OK), 0);
    char routers[300], publishes[300];
    snprintf(routers, sizeof routers, "%s,%s", ha_cluster_router(ctx->ha, standby),
             ha_cluster_router(ctx->ha, leader));
    snprintf(publishes, sizeof publishes, "%s,%s", ha_cluster_publish(ctx->ha, standby),
             ha_cluster_publish(ctx->ha, leader));
    const char *args[] = {
        peer,         "--router", routers,    "--publish", publishes, "--name", "provisioner.echo",
        "--instance", "py-1",     "--credit", "10",        NULL};
    int64_t start = zclock_mono();
    assert_true(
        fixture_spawn(ha_cluster_fixture(ctx->ha), "/usr/bin/python3", args, "py.log", NULL) > 0);
    s_py_t w = {ctx, leader};
    assert_true(test_wait(s_py_registered, &w, WAIT_MS));
    fprintf(stderr, "test: the foreign peer registered with the leader %lld ms after its start\n",
            (long long)(zclock_mono() - start));
    char out[4096] = "";
    test_run(out, sizeof out, "grep -c 'ERROR not-leader' '%s/py.log'", ha_cluster_dir(ctx->ha));
    if (atoi(out) < 1) fail_msg("the peer never met the standby's not-leader (log: %s)", out);
    s_add(ctx, 20);
    s_assert_converged(ctx, leader);
    assert_int_equal(ha_cluster_kill_core(ctx->ha, leader), 0);
    int64_t killed = zclock_mono();
    assert_true(ha_cluster_wait_role(ctx->ha, standby, "leader", WAIT_MS));
    s_py_t w2 = {ctx, standby};
    assert_true(test_wait(s_py_registered, &w2, WAIT_MS));
    fprintf(stderr,
            "test: after the leader's kill, the foreign peer registered with the new "
            "leader %lld ms after the kill\n",
            (long long)(zclock_mono() - killed));
    s_add(ctx, 20);
    s_assert_converged(ctx, standby);
    /* It did its share: RESULTs from py-1 (the two echo instances split the
     * step's WORK). */
    json_t *exts = test_get_json(S_API(ctx, standby), "/extensions");
    json_t *list = json_object_get(exts, "provisioner.echo");
    json_int_t results = -1;
    for (size_t k = 0; k < json_array_size(list); k++) {
        json_t *inst = json_array_get(list, k);
        if (!strcmp(json_string_value(json_object_get(inst, "instance")) ?: "", "py-1"))
            results = json_integer_value(json_object_get(inst, "results"));
    }
    json_decref(exts);
    fprintf(stderr, "test: the new leader counts %lld RESULTs from the foreign peer\n",
            (long long)results);
    assert_true(results > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_standby_refuses_hello, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failover_under_load, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_etcd_quorum, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_leader_cut_from_etcd, s_setup_one_each, s_teardown),
        cmocka_unit_test_setup_teardown(test_leader_hung, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_peer_finds_leader, s_setup, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
