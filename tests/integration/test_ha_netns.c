/* Two interlookd on one etcd cluster (issue 16), each core on a "host" of its
 * own (a network namespace) with two links: one to the etcd members, one to
 * the extensions. Cutting only the etcd link of a core is a partition the
 * loopback test (test_ha) can only imitate:
 *
 *   switch namespace: bridges br-etcd and br-bus
 *   E (etcd, 3 members)  10.231.1.10            on br-etcd
 *   A (core 0)           10.231.1.1, 10.231.2.1 on br-etcd, br-bus
 *   B (core 1)           10.231.1.2, 10.231.2.2 on br-etcd, br-bus
 *   X (extensions)       10.231.2.10            on br-bus
 *
 * A cut is the core's port on br-etcd set down in the switch namespace (its
 * packets to etcd dropped on the wire; its bus link untouched):
 *   - the leader cut, under a steady load: it stops dispatching before the
 *     other core leads, proved from both cores' logs (every WORK the old
 *     leader sent is logged before the new leader's "core: leading", and its
 *     "core: no longer leading" too); the other leads within 2 x TTL of the
 *     cut, everything converges there; with the link back, the old leader
 *     stands by. (Most WORK due at the old leader after the cut is held
 *     until its entry is saved in etcd, which it no longer reaches: the
 *     test counts those apart, they are never sent.)
 *   - a standby cut: the leader goes on; the standby says role none and why
 *     (etcd); with the link back, it stands by again.
 * Every address is inside namespaces the test makes (no traffic leaves
 * them); all of them are deleted at teardown. Needs root and iproute2. */
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
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define IP        "/sbin/ip"
#define NET_ETCD  "10.231.1"
#define NET_BUS   "10.231.2"
#define ETCD_HOST NET_ETCD ".10"
#define API       "http://127.0.0.1:8080" /* each core's, inside its namespace */
#define TTL_S     2
#define WAIT_MS   30000

enum { HOST_A, HOST_B, HOST_E, HOST_X, NHOSTS };
static const char *const s_host[NHOSTS] = {"a", "b", "e", "x"};

typedef struct {
    fixture_t *stack; /* first: see s_teardown */
    etcd_server_t *etcd;
    const char *dir;
    char sw[32];                /* the switch namespace */
    char ns[NHOSTS][32];        /* each host's namespace */
    char etcd_port[NHOSTS][16]; /* its port on br-etcd ("" for X) */
    char bus_port[NHOSTS][16];  /* its port on br-bus ("" for E) */
    char cfg[2][600];
    pid_t core[2];
    char ext_cfg[600];
    pid_t inject, ipalloc, echo;
    int inject_in;
    int added; /* services s0..s(added-1) reported */
} ctx_t;

/* GET path from core i's API, inside its namespace; NULL when it does not answer JSON. */
static json_t *s_get(ctx_t *ctx, int i, const char *path)
{
    char *body = test_sh_output("ip netns exec %s curl -s -m 5 " API "%s", ctx->ns[i], path);
    json_t *json = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return json;
}

/* One veth from host h (interface ifname, address addr/24) to bridge br of the switch. */
static int s_wire(ctx_t *ctx, int h, const char *ifname, const char *port, const char *br,
                  const char *addr)
{
    return test_sh("ip -n %s link add %s type veth peer name %s netns %s && "
                   "ip -n %s addr add %s/24 dev %s && ip -n %s link set %s up && "
                   "ip -n %s link set %s master %s && ip -n %s link set %s up",
                   ctx->ns[h], ifname, port, ctx->sw, ctx->ns[h], addr, ifname, ctx->ns[h], ifname,
                   ctx->sw, port, br, ctx->sw, port);
}

static int s_ns_setup(ctx_t *ctx)
{
    unsigned id = (unsigned)getpid() % 100000u; /* interface names: 15 bytes at most */
    snprintf(ctx->sw, sizeof ctx->sw, "ih%u-sw", id);
    for (int h = 0; h < NHOSTS; h++)
        snprintf(ctx->ns[h], sizeof ctx->ns[h], "ih%u-%s", id, s_host[h]);
    /* Left over by an earlier run with the same pid: start clean. */
    for (int h = 0; h < NHOSTS; h++)
        test_sh("ip netns del %s 2>/dev/null", ctx->ns[h]);
    test_sh("ip netns del %s 2>/dev/null", ctx->sw);
    if (test_sh("ip netns add %s && ip -n %s link set lo up && "
                "ip -n %s link add br-etcd type bridge && ip -n %s link set br-etcd up && "
                "ip -n %s link add br-bus type bridge && ip -n %s link set br-bus up",
                ctx->sw, ctx->sw, ctx->sw, ctx->sw, ctx->sw, ctx->sw))
        return -1;
    for (int h = 0; h < NHOSTS; h++)
        if (test_sh("ip netns add %s && ip -n %s link set lo up", ctx->ns[h], ctx->ns[h]))
            return -1;
    for (int h = 0; h < NHOSTS; h++) {
        char addr[32];
        if (h != HOST_X) {
            snprintf(ctx->etcd_port[h], sizeof ctx->etcd_port[h], "ih%u%se", id, s_host[h]);
            if (h == HOST_E)
                snprintf(addr, sizeof addr, "%s", ETCD_HOST);
            else
                snprintf(addr, sizeof addr, NET_ETCD ".%d", h + 1);
            if (s_wire(ctx, h, "etcd0", ctx->etcd_port[h], "br-etcd", addr)) return -1;
        }
        if (h != HOST_E) {
            snprintf(ctx->bus_port[h], sizeof ctx->bus_port[h], "ih%u%sb", id, s_host[h]);
            if (h == HOST_X)
                snprintf(addr, sizeof addr, NET_BUS ".10");
            else
                snprintf(addr, sizeof addr, NET_BUS ".%d", h + 1);
            if (s_wire(ctx, h, "bus0", ctx->bus_port[h], "br-bus", addr)) return -1;
        }
    }
    return 0;
}

static void s_ns_teardown(ctx_t *ctx)
{
    for (int h = 0; h < NHOSTS; h++)
        if (*ctx->ns[h]) test_sh("ip netns del %s 2>/dev/null", ctx->ns[h]);
    if (*ctx->sw) test_sh("ip netns del %s 2>/dev/null", ctx->sw);
}

/* Core i (0 on host A, 1 on B): etcd on br-etcd, its bus on br-bus; a
 * configuration of test_ha's shape. */
static int s_core_config(ctx_t *ctx, int i)
{
    char endpoints[512] = "";
    for (size_t m = 0; m < etcd_server_size(ctx->etcd); m++) {
        size_t len = strlen(endpoints);
        snprintf(endpoints + len, sizeof endpoints - len, "%s%s", m ? "," : "",
                 etcd_server_endpoint(ctx->etcd, m));
    }
    char text[4096];
    snprintf(text, sizeof text,
             "core:\n"
             "  logLevel: debug\n"
             "  logFile: %s/core%d.log\n"
             "  listen: \"127.0.0.1:8080\"\n"
             "  workflowSteps: provider.test,ipam.ipalloc,provisioner.echo\n"
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
             "    prefix: /test-ha-netns\n"
             "    leaseTTL: %ds\n"
             "  bus:\n"
             "    heartbeat: 100ms\n"
             "    liveness: 3\n"
             /* a bus between namespaces of this test only (test_netns covers CURVE) */
             "    insecure: true\n"
             "    router: \"tcp://" NET_BUS ".%d:5570\"\n"
             "    publish: \"tcp://" NET_BUS ".%d:5571\"\n",
             ctx->dir, i, i, endpoints, TTL_S, i + 1, i + 1);
    snprintf(ctx->cfg[i], sizeof ctx->cfg[i], "%s/core%d.yaml", ctx->dir, i);
    return test_write_file(ctx->cfg[i], text);
}

/* Starts binary bin of this build in host h's namespace with -c config and extra args. */
static pid_t s_start(ctx_t *ctx, int h, const char *bin, const char *config,
                     const char *const *extra, const char *log, int *stdin_fd)
{
    const char *args[16] = {"netns", "exec", ctx->ns[h], test_bin(bin), "-c", config};
    size_t n = 6;
    for (; extra && *extra && n < 15; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    return fixture_spawn(ctx->stack, IP, args, log, stdin_fd);
}

typedef struct {
    ctx_t *ctx;
    int i;
} s_core_ref_t;

static bool s_answers(void *arg)
{
    s_core_ref_t *ref = arg;
    json_t *h = s_get(ref->ctx, ref->i, "/health");
    json_decref(h);
    return h != NULL;
}

/* core i's role and reason as /health says them ("" when it does not answer). */
static void s_role(ctx_t *ctx, int i, char *role, size_t len, char *reason, size_t rlen)
{
    json_t *h = s_get(ctx, i, "/health");
    const char *r = json_string_value(json_object_get(h, "role"));
    const char *why = json_string_value(json_object_get(h, "reason"));
    snprintf(role, len, "%s", r ? r : "");
    if (reason) snprintf(reason, rlen, "%s", why ? why : "");
    json_decref(h);
}

static bool s_is_role(ctx_t *ctx, int i, const char *want)
{
    char role[32];
    s_role(ctx, i, role, sizeof role, NULL, 0);
    return !strcmp(role, want);
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

/* The index of the core that leads while the other stands by, waited for; -1 when none. */
static int s_leader(ctx_t *ctx, int timeout_ms)
{
    int64_t end = zclock_mono() + timeout_ms;
    do {
        for (int i = 0; i < 2; i++)
            if (s_is_role(ctx, i, "leader") && s_is_role(ctx, 1 - i, "standby")) return i;
        zclock_sleep(20);
    } while (zclock_mono() < end);
    return -1;
}

/* Reports n more services to the provider. */
static void s_add(ctx_t *ctx, int n)
{
    for (int k = 0; k < n; k++, ctx->added++) {
        char line[128];
        /* data only: nothing connects to these */
        snprintf(line, sizeof line, "add s%d 10.231.9.1:%d\n", ctx->added, 10000 + ctx->added);
        assert_int_equal(test_write_text(ctx->inject_in, line), 0);
    }
}

typedef struct {
    ctx_t *ctx;
    int i;
    char why[256];
} s_converged_t;

/* Every service reported is deployed on core i with an IP, each IP once, and
 * no other service is there (test_ha's check, read inside the namespace). */
static bool s_converged(void *arg)
{
    s_converged_t *c = arg;
    ctx_t *ctx = c->ctx;
    json_t *all = s_get(ctx, c->i, "/services");
    if (!json_is_object(all)) {
        snprintf(c->why, sizeof c->why, "no /services");
        json_decref(all);
        return false;
    }
    bool ok = json_object_size(all) == (size_t)ctx->added;
    if (!ok)
        snprintf(c->why, sizeof c->why, "%zu services for %d reported", json_object_size(all),
                 ctx->added);
    zhashx_t *ips = zhashx_new();
    for (int k = 0; k < ctx->added && ok; k++) {
        char name[32];
        snprintf(name, sizeof name, "s%d", k);
        json_t *e = json_object_get(all, name);
        const char *state = json_string_value(json_object_get(e, "state"));
        const char *ip =
            json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
        if (!state || strcmp(state, "deployed") || json_is_true(json_object_get(e, "wip")) || !ip) {
            snprintf(c->why, sizeof c->why, "%s: %s%s", name, state ? state : "missing",
                     ip ? "" : ", no IP");
            ok = false;
        } else if (zhashx_lookup(ips, ip)) {
            snprintf(c->why, sizeof c->why, "%s and %s both have %s", name,
                     (char *)zhashx_lookup(ips, ip), ip);
            ok = false;
        } else {
            zhashx_insert(ips, ip, strdup(name));
        }
    }
    for (char *v = zhashx_first(ips); v; v = zhashx_next(ips))
        free(v);
    zhashx_destroy(&ips);
    json_decref(all);
    return ok;
}

static void s_assert_converged(ctx_t *ctx, int i)
{
    s_converged_t c = {ctx, i, ""};
    if (!test_wait(s_converged, &c, WAIT_MS))
        fail_msg("core %d did not converge in %d ms: %s", i, WAIT_MS, c.why);
}

/* The last lines of both cores' logs, on stderr: what a failure needs. */
static void s_dump(ctx_t *ctx)
{
    for (int i = 0; i < 2; i++) {
        fprintf(stderr, "test: core %d's log, last lines:\n", i);
        test_sh("grep -v -e '-> WORK' -e '<- RESULT' '%s/core%d.log' | tail -n 25 >&2", ctx->dir,
                i);
    }
    /* etcd extends every lease when its raft leader changes: elections count */
    test_sh("for f in '%s'/etcd/m*.log; do echo \"test: $f: $(grep -c 'elected leader' $f) "
            "raft elections\"; tail -n 5 $f; done >&2",
            ctx->dir);
}

/* Core i's etcd link (its port on br-etcd) up or down. */
static void s_etcd_link(ctx_t *ctx, int i, const char *updown)
{
    assert_int_equal(test_sh("ip -n %s link set %s %s", ctx->sw, ctx->etcd_port[i], updown), 0);
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    if (!ctx) return 0;
    const char *keep = getenv("TEST_HA_NETNS_KEEP"); /* a directory for the logs, to debug */
    if (keep && *keep && ctx->dir)
        test_sh("mkdir -p '%s' && cp -r '%s' '%s/' 2>/dev/null", keep, ctx->dir, keep);
    /* the processes first (the cores and extensions, then etcd), then their networks */
    fixture_destroy(&ctx->stack);
    etcd_server_destroy(&ctx->etcd);
    s_ns_teardown(ctx);
    free(ctx);
    *state = NULL;
    return 0;
}

static int s_setup_steps(ctx_t *ctx)
{
    if (s_ns_setup(ctx)) {
        fprintf(stderr, "test_ha_netns: cannot build the namespaces (root and iproute2 needed)\n");
        return -1;
    }
    fixture_opts_t opts = {.name = "test_ha_netns"};
    ctx->stack = fixture_new(&opts);
    if (!ctx->stack) return -1;
    ctx->dir = fixture_dir(ctx->stack);
    char etcd_dir[700];
    snprintf(etcd_dir, sizeof etcd_dir, "%s/etcd", ctx->dir);
    ctx->etcd = etcd_server_new_in(etcd_dir, 3, WAIT_MS, ctx->ns[HOST_E], ETCD_HOST);
    if (!ctx->etcd) return -1;
    for (int i = 0; i < 2; i++) {
        if (s_core_config(ctx, i)) return -1;
        ctx->core[i] =
            s_start(ctx, i, "interlookd", ctx->cfg[i], NULL, i ? "core1.out" : "core0.out", NULL);
        if (ctx->core[i] <= 0) return -1;
    }
    for (int i = 0; i < 2; i++) {
        s_core_ref_t ref = {ctx, i};
        if (!test_wait(s_answers, &ref, WAIT_MS)) {
            fprintf(stderr, "test_ha_netns: core %d does not answer /health\n", i);
            test_sh("tail -n 20 '%s/core%d.out' >&2", ctx->dir, i);
            return -1;
        }
    }
    char text[2048];
    snprintf(text, sizeof text,
             "core:\n"
             "  bus:\n"
             "    heartbeat: 100ms\n"
             "    liveness: 3\n"
             "    insecure: true\n"
             "    router: \"tcp://" NET_BUS ".1:5570,tcp://" NET_BUS ".2:5570\"\n"
             "    publish: \"tcp://" NET_BUS ".1:5571,tcp://" NET_BUS ".2:5571\"\n"
             "ipam:\n"
             "  ipalloc:\n"
             "    db_file: %s/ipalloc.db\n"
             "    network_cidr: 10.40.0.0/16\n",
             ctx->dir);
    snprintf(ctx->ext_cfg, sizeof ctx->ext_cfg, "%s/ext.yaml", ctx->dir);
    if (test_write_file(ctx->ext_cfg, text)) return -1;
    const char *inject[] = {"--name", "provider.test", NULL};
    ctx->inject = s_start(ctx, HOST_X, "interlook-inject", ctx->ext_cfg, inject, "inject.log",
                          &ctx->inject_in);
    const char *ipalloc[] = {"--instance", "ipalloc-1", NULL};
    ctx->ipalloc =
        s_start(ctx, HOST_X, "interlook-ipalloc", ctx->ext_cfg, ipalloc, "ipalloc.log", NULL);
    const char *echo[] = {"--instance", "echo-1", NULL};
    ctx->echo = s_start(ctx, HOST_X, "interlook-echo", ctx->ext_cfg, echo, "echo.log", NULL);
    return ctx->inject > 0 && ctx->ipalloc > 0 && ctx->echo > 0 ? 0 : -1;
}

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    ctx->inject_in = -1;
    *state = ctx;
    if (s_setup_steps(ctx) == 0) return 0;
    s_teardown(
        state); /* nothing left behind, whether cmocka tears down after a failed setup or not */
    return -1;
}

typedef struct {
    long work_before, work_after; /* WORK sent before / from the cut on */
    long held_after;              /* WORK due from the cut on but held until its entry is saved */
    int64_t last_work;            /* the last WORK sent (ms since the epoch), -1: none */
    int64_t led;                  /* its first "core: leading" from the cut on, -1: none */
    int64_t stood_down;           /* its first "core: no longer leading" from the cut on, -1 */
} s_log_t;

/* Reads core i's log (logLevel debug: one "-> WORK" line per WORK sent; a
 * WORK held until its entry is saved is not sent and not counted). */
static s_log_t s_scan(ctx_t *ctx, int i, int64_t cut)
{
    s_log_t out = {0, 0, 0, -1, -1, -1};
    char path[700], line[4096];
    snprintf(path, sizeof path, "%s/core%d.log", ctx->dir, i);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        int64_t t = test_log_line_ms(line);
        if (t < 0) continue;
        if (strstr(line, "-> WORK") && strstr(line, "held until")) {
            if (t >= cut) out.held_after++;
        } else if (strstr(line, "-> WORK")) {
            if (t < cut)
                out.work_before++;
            else
                out.work_after++;
            out.last_work = t;
        } else if (t >= cut && out.led < 0 && strstr(line, "core: leading")) {
            out.led = t;
        } else if (t >= cut && out.stood_down < 0 && strstr(line, "core: no longer leading")) {
            out.stood_down = t;
        }
    }
    fclose(f);
    return out;
}

/* The leader loses its link to etcd (not to its extensions) under a steady
 * load: it stands down before the other core leads, and sends no WORK after
 * that; the other takes over, everything converges there; with the link
 * back, the old leader stands by and the new one keeps leading. */
static void test_leader_cut_from_etcd(void **state)
{
    ctx_t *ctx = *state;
    int leader = s_leader(ctx, WAIT_MS);
    assert_true(leader >= 0);
    int other = 1 - leader;
    s_add(ctx, 20);
    s_assert_converged(ctx, leader);
    s_add(ctx, 5); /* in flight at the cut */
    int64_t cut = test_wall_ms();
    s_etcd_link(ctx, leader, "down");
    int64_t cut_mono = zclock_mono();
    /* A steady load until the other core leads: WORK keeps being due. */
    int64_t end = cut_mono + WAIT_MS;
    bool led = false;
    while (!(led = s_is_role(ctx, other, "leader")) && zclock_mono() < end) {
        s_add(ctx, 1);
        zclock_sleep(50);
    }
    int64_t seen = zclock_mono() - cut_mono;
    if (!led) {
        s_dump(ctx);
        fail_msg("core %d did not lead within %d ms of the cut", other, WAIT_MS);
    }
    char role[32], reason[512];
    s_role(ctx, leader, role, sizeof role, reason, sizeof reason);
    fprintf(stderr, "test: cut core %d: /health role '%s', reason: %s\n", leader, role, reason);
    assert_string_equal(role, "none");
    assert_non_null(strstr(reason, "etcd"));
    s_add(ctx, 5); /* after the takeover */
    s_assert_converged(ctx, other);
    s_log_t old = s_scan(ctx, leader, cut);
    s_log_t new = s_scan(ctx, other, cut);
    fprintf(stderr,
            "test: leader cut from etcd: core %d stood down %lld ms after the cut, core %d led "
            "%lld ms after it (seen by the test after %lld ms)\n",
            leader, (long long)(old.stood_down >= 0 ? old.stood_down - cut : -1), other,
            (long long)(new.led >= 0 ? new.led - cut : -1), (long long)seen);
    fprintf(stderr,
            "test: WORK sent: core %d (old leader) %ld before the cut, %ld after (its last %lld "
            "ms after the cut; %ld more due after it held until saved, never sent); core %d "
            "(new leader) %ld before, %ld after\n",
            leader, old.work_before, old.work_after,
            (long long)(old.last_work >= 0 ? old.last_work - cut : 0), old.held_after, other,
            new.work_before, new.work_after);
    assert_true(old.work_before > 0);
    assert_true(new.led >= 0);
    assert_true(new.led - cut <= 2 * TTL_S * 1000);
    assert_true(old.stood_down >= 0);
    /* No two leaders at once: the old one stood down, and sent its last
     * WORK, before the new one led; a standby sends none. */
    assert_true(old.stood_down < new.led);
    assert_true(old.last_work < new.led);
    assert_int_equal(new.work_before, 0);
    assert_true(new.work_after > 0);
    /* The link back: the old leader stands by, the new one keeps leading. */
    s_etcd_link(ctx, leader, "up");
    s_role_wait_t back = {ctx, leader, "standby"};
    if (!test_wait(s_role_is, &back, WAIT_MS)) fail_msg("core %d did not stand by", leader);
    assert_true(s_is_role(ctx, other, "leader"));
    s_add(ctx, 3);
    s_assert_converged(ctx, other);
    s_assert_converged(ctx, leader); /* the standby's view, from etcd */
    /* Nothing the old leader sent since the cut came after the takeover. */
    s_log_t after = s_scan(ctx, leader, cut);
    assert_true(after.last_work < new.led);
}

/* A standby loses its link to etcd: the leader goes on undisturbed; the
 * standby says it has no role and why; with the link back, it stands by. */
static void test_standby_cut_from_etcd(void **state)
{
    ctx_t *ctx = *state;
    int leader = s_leader(ctx, WAIT_MS);
    assert_true(leader >= 0);
    int standby = 1 - leader;
    s_add(ctx, 10);
    s_assert_converged(ctx, leader);
    int64_t cut = test_wall_ms();
    s_etcd_link(ctx, standby, "down");
    int64_t cut_mono = zclock_mono();
    s_role_wait_t none = {ctx, standby, "none"};
    /* Meanwhile the leader keeps leading and dispatching. */
    while (!s_role_is(&none) && zclock_mono() < cut_mono + WAIT_MS) {
        assert_true(s_is_role(ctx, leader, "leader"));
        s_add(ctx, 1);
        zclock_sleep(50);
    }
    char role[32], reason[512];
    s_role(ctx, standby, role, sizeof role, reason, sizeof reason);
    fprintf(stderr, "test: standby cut: core %d says role '%s' after %lld ms, reason: %s\n",
            standby, role, (long long)(zclock_mono() - cut_mono), reason);
    assert_string_equal(role, "none");
    assert_non_null(strstr(reason, "etcd"));
    s_assert_converged(ctx, leader);
    assert_true(s_is_role(ctx, leader, "leader"));
    s_etcd_link(ctx, standby, "up");
    s_role_wait_t back = {ctx, standby, "standby"};
    if (!test_wait(s_role_is, &back, WAIT_MS)) fail_msg("core %d did not stand by", standby);
    assert_true(s_is_role(ctx, leader, "leader"));
    s_add(ctx, 3);
    s_assert_converged(ctx, leader);
    s_assert_converged(ctx, standby);
    /* The leader never stood down; the standby never sent WORK. */
    s_log_t l = s_scan(ctx, leader, cut);
    s_log_t s = s_scan(ctx, standby, cut);
    fprintf(stderr, "test: WORK sent since the cut: leader %ld, standby %ld\n", l.work_after,
            s.work_before + s.work_after);
    assert_int_equal(l.stood_down, -1);
    assert_true(l.work_after > 0);
    assert_int_equal(s.work_before + s.work_after, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_leader_cut_from_etcd, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_standby_cut_from_etcd, s_setup, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
