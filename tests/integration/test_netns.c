/* Multi-host proof: the core and each extension in a network namespace of
 * its own ("hosts" core, alloc, echo, prov), wired by veth pairs to a bridge
 * in a fifth namespace (the "switch"), on the private subnet 198.18.77.0/24
 * (RFC 2544's benchmarking range: nothing else uses it). Every message
 * crosses a real network stack. The switch port of one host is cut
 * (ip link set ... down) while services flow, then restored; the system must
 * converge with nothing lost and nothing done twice: every service deployed
 * exactly once with its own address, removed ones released.
 * The bus runs with CURVE, as it must beyond loopback: each host has a key
 * of its own (interlookctl keygen), allowed to register as its extension
 * only; the allocator's key comes from ipam.ipalloc.curveCert, the others'
 * from --cert.
 * Needs root and iproute2 (.ci/run runs as root); it never skips. */
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
#include <unistd.h>
#include <cmocka.h>

#define IP        "/sbin/ip"
#define SUBNET    "198.18.77"
#define API_PORT  8080
#define S_STR(x)  #x
#define S_XSTR(x) S_STR(x) /* API_PORT as text */
#define WAIT_MS   30000
#define NHOSTS    4

enum { CORE, ALLOC, ECHO, PROV };
static const char *const s_host[NHOSTS] = {"core", "alloc", "echo", "prov"};

typedef struct {
    char sw[32];           /* the switch namespace */
    char ns[NHOSTS][32];   /* each host's namespace */
    char port[NHOSTS][16]; /* each host's port on the switch */
    fixture_t *stack;      /* configuration, state, processes */
    const char *dir;
    const char *config;
    pid_t pid[NHOSTS];
    int prov_in; /* the provider's standard input (commands) */
    /* conditions */
    size_t deployed, undeployed; /* expected counts */
    const char *ext;             /* extension expected absent */
} ctx_t;

/* GET path from the core's API, inside the core's namespace. */
static json_t *s_get(ctx_t *ctx, const char *path)
{
    char *body = test_sh_output("ip netns exec %s curl -sf -m 5 http://127.0.0.1:%d%s",
                                ctx->ns[CORE], API_PORT, path);
    json_t *json = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return json;
}

static int s_ns_setup(ctx_t *ctx)
{
    unsigned id = (unsigned)getpid() % 100000u; /* interface names: 15 bytes at most */
    snprintf(ctx->sw, sizeof ctx->sw, "il%u-sw", id);
    if (test_sh("ip netns add %s && ip -n %s link add br0 type bridge && "
                "ip -n %s link set br0 up && ip -n %s link set lo up",
                ctx->sw, ctx->sw, ctx->sw, ctx->sw))
        return -1;
    for (int h = 0; h < NHOSTS; h++) {
        snprintf(ctx->ns[h], sizeof ctx->ns[h], "il%u-%s", id, s_host[h]);
        snprintf(ctx->port[h], sizeof ctx->port[h], "il%u%c", id, s_host[h][0]);
        if (test_sh("ip netns add %s && "
                    "ip -n %s link add eth0 type veth peer name %s netns %s && "
                    "ip -n %s addr add " SUBNET ".%d/24 dev eth0 && "
                    "ip -n %s link set eth0 up && ip -n %s link set lo up && "
                    "ip -n %s link set %s master br0 && ip -n %s link set %s up",
                    ctx->ns[h], ctx->ns[h], ctx->port[h], ctx->sw, ctx->ns[h], h + 1, ctx->ns[h],
                    ctx->ns[h], ctx->sw, ctx->port[h], ctx->sw, ctx->port[h]))
            return -1;
    }
    return 0;
}

static pid_t s_start(ctx_t *ctx, int h, const char *bin, const char *const *extra, int *stdin_fd)
{
    const char *args[16] = {"netns", "exec", ctx->ns[h], test_bin(bin), "-c", ctx->config};
    size_t n = 6;
    for (; extra && *extra && n < 15; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    return fixture_spawn(ctx->stack, IP, args, NULL, stdin_fd);
}

static bool s_registered(void *arg)
{
    ctx_t *ctx = arg;
    json_t *ext = s_get(ctx, "/extensions");
    bool all = json_array_size(json_object_get(ext, "provider.inject")) == 1 &&
               json_array_size(json_object_get(ext, "ipam.ipalloc")) == 1 &&
               json_array_size(json_object_get(ext, "provisioner.echo")) == 1;
    json_decref(ext);
    return all;
}

static bool s_gone(void *arg)
{
    ctx_t *ctx = arg;
    json_t *ext = s_get(ctx, "/extensions");
    bool gone = ext && json_array_size(json_object_get(ext, ctx->ext)) == 0;
    json_decref(ext);
    return gone;
}

/* A key per host, each allowed as its own extension only; the public
 * files of the extensions' keys in clientCerts. */
static int s_keys(ctx_t *ctx)
{
    static const char *const names[NHOSTS] = {NULL, "ipam.ipalloc", "provisioner.echo",
                                              "provider.inject"};
    if (test_sh("mkdir -m 700 %s/keys && mkdir %s/clients", ctx->dir, ctx->dir)) return -1;
    for (int h = 0; h < NHOSTS; h++) {
        if (test_sh("%s keygen %s/keys/%s%s%s >/dev/null", test_bin("interlookctl"), ctx->dir,
                    s_host[h], names[h] ? " --extensions " : "", names[h] ? names[h] : ""))
            return -1;
        if (names[h] && test_sh("cp %s/keys/%s %s/clients/", ctx->dir, s_host[h], ctx->dir))
            return -1;
    }
    return 0;
}

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    ctx->prov_in = -1;
    if (s_ns_setup(ctx)) {
        fprintf(stderr, "test_netns: cannot build the namespaces (root and iproute2 needed)\n");
        return -1;
    }
    /* Each host has a network of its own: fixed ports cannot be taken by anyone. */
    fixture_opts_t opts = {.name = "test_netns",
                           .bus = "heartbeat: 200ms, liveness: 3, curve: { coreCert: "
                                  "\"{dir}/keys/core\", clientCerts: \"{dir}/clients\" }",
                           .listen = "127.0.0.1:" S_XSTR(API_PORT),
                           .router = "tcp://" SUBNET ".1:5570",
                           .publish = "tcp://" SUBNET ".1:5571"};
    ctx->stack = fixture_new(&opts);
    if (!ctx->stack) return -1;
    ctx->dir = fixture_dir(ctx->stack);
    ctx->config = fixture_config(ctx->stack);
    if (s_keys(ctx)) return -1;
    if (fixture_config_write(ctx->stack,
                             "  workflowSteps: provider.inject,ipam.ipalloc,provisioner.echo\n"
                             "  checkFlowInterval: 100ms\n"
                             "  retryBackoffMin: 100ms\n"
                             "  retryBackoffMax: 1s\n"
                             "  persistDelay: 20ms\n",
                             "ipam:\n"
                             "  ipalloc:\n"
                             "    network_cidr: 10.77.0.0/24\n"
                             "    db_file: {dir}/ipalloc.db\n"
                             "    curveCert: {dir}/keys/alloc\n"
                             "provisioner:\n"
                             "  echo:\n"
                             "    credit: 10\n"))
        return -1;
    ctx->pid[CORE] = s_start(ctx, CORE, "interlookd", NULL, NULL);
    ctx->pid[ALLOC] = s_start(ctx, ALLOC, "interlook-ipalloc", NULL, NULL);
    char echo_cert[600], prov_cert[600];
    snprintf(echo_cert, sizeof echo_cert, "%s/keys/echo", ctx->dir);
    snprintf(prov_cert, sizeof prov_cert, "%s/keys/prov", ctx->dir);
    const char *const echo[] = {"--cert", echo_cert, NULL};
    ctx->pid[ECHO] = s_start(ctx, ECHO, "interlook-echo", echo, NULL);
    const char *const prov[] = {"--name", "provider.inject", "--cert", prov_cert, NULL};
    ctx->pid[PROV] = s_start(ctx, PROV, "interlook-inject", prov, &ctx->prov_in);
    for (int h = 0; h < NHOSTS; h++)
        if (ctx->pid[h] <= 0) return -1;
    if (!test_wait(s_registered, ctx, WAIT_MS)) {
        fprintf(stderr, "test_netns: the extensions did not register across the namespaces\n");
        return -1;
    }
    return 0;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    fixture_destroy(&ctx->stack); /* the processes first, then their networks */
    for (int h = 0; h < NHOSTS; h++)
        if (*ctx->ns[h]) test_sh("ip netns del %s 2>/dev/null", ctx->ns[h]);
    if (*ctx->sw) test_sh("ip netns del %s 2>/dev/null", ctx->sw);
    free(ctx);
    return 0;
}

static void s_tell(ctx_t *ctx, const char *command)
{
    assert_int_equal(test_write_text(ctx->prov_in, command), 0);
}

static void s_link(ctx_t *ctx, int h, const char *updown)
{
    assert_int_equal(test_sh("ip -n %s link set %s %s", ctx->sw, ctx->port[h], updown), 0);
}

typedef struct {
    bool ok; /* the API answered */
    size_t entries, deployed, undeployed, other;
} s_count_t;

/* The entries (those whose name starts with prefix, or all) by state; one
 * in progress counts as other. */
static s_count_t s_count(ctx_t *ctx, const char *prefix)
{
    s_count_t n = {0};
    json_t *all = s_get(ctx, "/services");
    const char *name;
    json_t *e;
    json_object_foreach(all, name, e)
    {
        const char *st = json_string_value(json_object_get(e, "state"));
        if (prefix && strncmp(name, prefix, strlen(prefix))) continue;
        n.entries++;
        if (json_is_true(json_object_get(e, "wip")) || !st)
            n.other++;
        else if (!strcmp(st, "deployed"))
            n.deployed++;
        else if (!strcmp(st, "undeployed"))
            n.undeployed++;
        else
            n.other++;
    }
    n.ok = all != NULL;
    json_decref(all);
    return n;
}

/* All entries settled: the expected numbers deployed and undeployed, none in
 * progress, no other state. */
static bool s_converged(void *arg)
{
    ctx_t *ctx = arg;
    s_count_t n = s_count(ctx, NULL);
    return n.ok && n.deployed == ctx->deployed && n.undeployed == ctx->undeployed && n.other == 0;
}

/* The core tracks ctx->deployed entries (whatever their states). */
static bool s_entries(void *arg)
{
    ctx_t *ctx = arg;
    return s_count(ctx, NULL).entries == ctx->deployed;
}

static void s_wait_converged(ctx_t *ctx, size_t deployed, size_t undeployed)
{
    ctx->deployed = deployed;
    ctx->undeployed = undeployed;
    if (!test_wait(s_converged, ctx, WAIT_MS))
        fail_msg("not converged to %zu deployed and %zu undeployed within %d ms", deployed,
                 undeployed, WAIT_MS);
}

static void s_wait_gone(ctx_t *ctx, const char *ext)
{
    ctx->ext = ext;
    if (!test_wait(s_gone, ctx, WAIT_MS))
        fail_msg("the core still lists %s %d ms after its link was cut", ext, WAIT_MS);
}

/* Lines of the allocator's log that start with op ('A' allocation, 'R' release). */
static long s_db_records(ctx_t *ctx, char op)
{
    char *n = test_sh_output("test -f %s/ipalloc.db && { grep -c '^%c ' %s/ipalloc.db || true; }",
                             ctx->dir, op, ctx->dir);
    long count = n ? atol(n) : -1;
    free(n);
    return count;
}

/* Nothing lost, nothing twice: each deployed service has its own address,
 * the allocator holds exactly those (removed ones released), and its log
 * (append-only, far below its compaction threshold) shows one allocation per
 * service ever added and one release per service removed: the work that was
 * re-sent after the cut was answered without being done again. */
static void s_check_allocations(ctx_t *ctx, long added, long removed)
{
    assert_int_equal(s_db_records(ctx, 'A'), added);
    assert_int_equal(s_db_records(ctx, 'R'), removed);
    json_t *all = s_get(ctx, "/services");
    assert_non_null(all);
    zhashx_t *by_ip = zhashx_new();
    size_t deployed = 0;
    const char *name;
    json_t *e;
    json_object_foreach(all, name, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "state")), "deployed")) continue;
        const char *ip =
            json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
        assert_non_null(ip);
        if (zhashx_lookup(by_ip, ip))
            fail_msg("%s and %s share %s", name, (char *)zhashx_lookup(by_ip, ip), ip);
        zhashx_insert(by_ip, ip, (void *)name);
        deployed++;
    }
    char *list = test_sh_output("%s -c %s --list", test_bin("interlook-ipalloc"), ctx->config);
    assert_non_null(list);
    size_t lines = 0;
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        char svc[256], ip[64];
        if (sscanf(line, "%255s %63s", svc, ip) != 2) continue;
        if (!strchr(ip, '.')) continue; /* a header line */
        const char *owner = zhashx_lookup(by_ip, ip);
        if (!owner || strcmp(owner, svc))
            fail_msg("the allocator holds %s for %s, the core says %s", ip, svc,
                     owner ? owner : "nobody");
        lines++;
    }
    assert_int_equal(lines, deployed);
    free(list);
    zhashx_destroy(&by_ip);
    json_decref(all);
}

static void test_services_deploy_across_hosts(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add-many a 50\n");
    s_wait_converged(ctx, 50, 0);
    s_check_allocations(ctx, 50, 0);
    /* Over CURVE: each host's key accepted, from its own address. */
    for (int h = ALLOC; h < NHOSTS; h++)
        if (test_sh("grep -q 'CURVE key .* (%s) accepted from " SUBNET ".%d' %s/core.log",
                    s_host[h], h + 1, ctx->dir))
            fail_msg("the core did not log %s's key accepted from " SUBNET ".%d", s_host[h], h + 1);
}

/* The allocator's host is cut off while services are added and removed:
 * nothing can pass its step; once the link is back, all converge. */
static void test_extension_link_cut_and_restored(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add-many a 50\n");
    s_wait_converged(ctx, 50, 0);
    /* Cut while work is on its way: some WORK or RESULT is lost on the wire. */
    s_tell(ctx, "add-many b 40\ndelete-many a 10\n");
    s_link(ctx, ALLOC, "down");
    s_wait_gone(ctx, "ipam.ipalloc");
    /* Added while the allocator is away: once the core has them, none can
     * pass the allocator's step. */
    s_tell(ctx, "add-many c 10\n");
    ctx->deployed = 100;
    assert_true(test_wait(s_entries, ctx, WAIT_MS));
    assert_int_equal(s_count(ctx, "c").deployed, 0);
    s_link(ctx, ALLOC, "up");
    s_wait_converged(ctx, 90, 10);
    s_check_allocations(ctx, 100, 10);
}

/* The core's host is cut off: every extension loses it at once, while
 * events and work are on their way; the provider keeps (and re-reports) its
 * services, and once the link is back all converge. */
static void test_core_link_cut_and_restored(void **state)
{
    ctx_t *ctx = *state;
    s_tell(ctx, "add-many c 30\n");
    s_wait_converged(ctx, 30, 0);
    s_tell(ctx, "add-many d 30\ndelete-many c 5\n");
    s_link(ctx, CORE, "down");
    s_wait_gone(ctx, "provider.inject");
    s_tell(ctx, "add-many e 10\n");
    s_link(ctx, CORE, "up");
    s_wait_converged(ctx, 65, 5);
    s_check_allocations(ctx, 70, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_services_deploy_across_hosts, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_extension_link_cut_and_restored, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_core_link_cut_and_restored, s_setup, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
