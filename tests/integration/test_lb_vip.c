/* lb_vip (extensions/lb) against the real kernel: two network namespaces of
 * the test's own, A and B, joined by a veth pair (eth0 on both sides) on
 * 198.18.78.0/24 and fd00:78::/64. The module's calls run in a child that
 * has entered A (setns); `ip` checks what the kernel holds; B's neighbour
 * table shows what the announcements taught it. Needs root and iproute2;
 * it never skips. Nothing leaves the two namespaces. */
#define _GNU_SOURCE
#include "extensions/lb/lb_vip.h"
#include "tests/support/testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define SUBNET    "198.18.78"
#define SUBNET6   "fd00:78::"
#define VIP4      SUBNET ".100"
#define VIP6      SUBNET6 "100"
#define WRONG_MAC "02:00:00:00:00:01"
#define WAIT_MS   5000

typedef struct {
    char a[32], b[32];              /* the namespaces */
    char mac_a[32];                 /* A's eth0 */
    const char *want_ip, *want_mac; /* s_neigh_has */
} ctx_t;

/* What can run inside A. */
typedef enum { OP_ADD, OP_REMOVE, OP_PRESENT, OP_ANNOUNCE, OP_BIND } s_op_t;
static const char *const s_op_name[] = {"add", "remove", "present", "announce", "bind"};

typedef struct {
    int rc;        /* the call's return; OP_BIND: 0 or -errno */
    char err[512]; /* the call's err */
} s_result_t;

/* OP_BIND: can a TCP socket bind ip (as HAProxy's frontend will)? */
static int s_bind(const char *ip)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    int v6p = inet_pton(AF_INET6, ip, &v6.sin6_addr) == 1;
    if (!v6p && inet_pton(AF_INET, ip, &v4.sin_addr) != 1) return -EINVAL;
    int fd = socket(v6p ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -errno;
    int rc = v6p ? bind(fd, (struct sockaddr *)&v6, sizeof v6)
                 : bind(fd, (struct sockaddr *)&v4, sizeof v4);
    rc = rc ? -errno : 0;
    close(fd);
    return rc;
}

/* Runs op in a child that enters namespace A (and, with nobody, drops root
 * and so every capability); its result comes back through a pipe. */
static s_result_t s_in_ns(const char *ns, s_op_t op, const char *ifname, const char *ip,
                          bool nobody)
{
    s_result_t res = {.rc = -100};
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        char path[64];
        snprintf(path, sizeof path, "/run/netns/%s", ns);
        int nsfd = open(path, O_RDONLY | O_CLOEXEC);
        if (nsfd < 0 || setns(nsfd, CLONE_NEWNET)) {
            snprintf(res.err, sizeof res.err, "cannot enter %s: %s", path, strerror(errno));
            res.rc = -101;
        } else if (nobody && (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
                              setresuid(65534, 65534, 65534))) {
            snprintf(res.err, sizeof res.err, "cannot become nobody: %s", strerror(errno));
            res.rc = -102;
        } else {
            switch (op) {
            case OP_ADD:
                res.rc = lb_vip_add(ifname, ip, res.err, sizeof res.err);
                break;
            case OP_REMOVE:
                res.rc = lb_vip_remove(ifname, ip, res.err, sizeof res.err);
                break;
            case OP_PRESENT:
                res.rc = lb_vip_present(ifname, ip, res.err, sizeof res.err);
                break;
            case OP_ANNOUNCE:
                res.rc = lb_vip_announce(ifname, ip, res.err, sizeof res.err);
                break;
            case OP_BIND:
                res.rc = s_bind(ip);
                break;
            }
        }
        ssize_t w = write(fds[1], &res, sizeof res);
        _exit(w == (ssize_t)sizeof res ? 0 : 1);
    }
    close(fds[1]);
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    /* Each call is a few system calls; the bound is for a hung call. */
    if (poll(&pfd, 1, WAIT_MS) != 1) kill(pid, SIGKILL);
    ssize_t got = read(fds[0], &res, sizeof res);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof res)
        fail_msg("the child in %s gave no result (status %d)", ns, status);
    if (res.rc <= -100) fail_msg("%s", res.err);
    return res;
}

static s_result_t s_in_a(ctx_t *ctx, s_op_t op, const char *ifname, const char *ip)
{
    return s_in_ns(ctx->a, op, ifname, ip, false);
}

/* The call in A succeeds with that return value. */
static void s_ok(ctx_t *ctx, s_op_t op, const char *ifname, const char *ip, int want)
{
    s_result_t r = s_in_a(ctx, op, ifname, ip);
    if (r.rc != want)
        fail_msg("%s %s %s: %d, not %d (err: %s)", s_op_name[op], ifname, ip, r.rc, want, r.err);
}

/* The call fails (-1) with an error naming each of the words. */
static void s_fails(s_result_t r, const char *word1, const char *word2)
{
    if (r.rc != -1) fail_msg("expected -1, got %d (err: %s)", r.rc, r.err);
    if (word1 && !strstr(r.err, word1)) fail_msg("'%s' does not name %s", r.err, word1);
    if (word2 && !strstr(r.err, word2)) fail_msg("'%s' does not name %s", r.err, word2);
}

/* What `ip -o addr show dev ifname` says in namespace A. */
static char *s_addrs(ctx_t *ctx, const char *ifname)
{
    char *out = test_sh_output("ip -n %s -o addr show dev %s", ctx->a, ifname);
    assert_non_null(out);
    return out;
}

static bool s_has(ctx_t *ctx, const char *ifname, const char *needle)
{
    char *out = s_addrs(ctx, ifname);
    bool has = strstr(out, needle) != NULL;
    free(out);
    return has;
}

/* The line of `ip -o addr` that shows needle also says word. */
static bool s_line_says(ctx_t *ctx, const char *ifname, const char *needle, const char *word)
{
    char *out = s_addrs(ctx, ifname);
    char *line = strstr(out, needle);
    assert_non_null(line);
    char *end = strchr(line, '\n');
    if (end) *end = 0;
    bool says = strstr(line, word) != NULL;
    free(out);
    return says;
}

/* Both ends of the veth are up (operstate): until the kernel's link watch
 * has run (within a second of `link set up`), B drops the neighbour
 * advertisements it receives. */
static bool s_links_up(void *arg)
{
    ctx_t *ctx = arg;
    char *a = test_sh_output("ip -n %s -o link show dev eth0", ctx->a);
    char *b = test_sh_output("ip -n %s -o link show dev eth0", ctx->b);
    bool up = a && b && strstr(a, "state UP") && strstr(b, "state UP");
    free(a);
    free(b);
    return up;
}

static bool s_neigh_has(void *arg)
{
    ctx_t *ctx = arg;
    char *out = test_sh_output("ip -n %s neigh show %s dev eth0", ctx->b, ctx->want_ip);
    bool has = out && strstr(out, ctx->want_mac);
    free(out);
    return has;
}

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    unsigned id = (unsigned)getpid();
    snprintf(ctx->a, sizeof ctx->a, "il%u-a", id);
    snprintf(ctx->b, sizeof ctx->b, "il%u-b", id);
    /* nodad on the test's own addresses: usable at once, whatever the test does */
    if (test_sh("ip netns add %s && ip netns add %s && "
                "ip -n %s link add eth0 type veth peer name eth0 netns %s && "
                "ip -n %s addr add " SUBNET ".1/24 dev eth0 && "
                "ip -n %s addr add " SUBNET ".2/24 dev eth0 && "
                "ip -n %s addr add " SUBNET6 "1/64 dev eth0 nodad && "
                "ip -n %s addr add " SUBNET6 "2/64 dev eth0 nodad && "
                "ip -n %s link set eth0 up && ip -n %s link set eth0 up && "
                "ip -n %s link set lo up && ip -n %s link set lo up",
                ctx->a, ctx->b, ctx->a, ctx->b, ctx->a, ctx->b, ctx->a, ctx->b, ctx->a, ctx->b,
                ctx->a, ctx->b)) {
        fprintf(stderr, "test_lb_vip: cannot build the namespaces (root and iproute2 needed)\n");
        return -1;
    }
    if (!test_wait(s_links_up, ctx, WAIT_MS)) {
        fprintf(stderr, "test_lb_vip: the veth pair is not up after %d ms\n", WAIT_MS);
        return -1;
    }
    char *mac = test_sh_output("ip netns exec %s cat /sys/class/net/eth0/address", ctx->a);
    if (!mac || strlen(mac) != 17) {
        free(mac);
        return -1;
    }
    snprintf(ctx->mac_a, sizeof ctx->mac_a, "%s", mac);
    free(mac);
    return 0;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    if (*ctx->a) test_sh("ip netns del %s 2>/dev/null", ctx->a);
    if (*ctx->b) test_sh("ip netns del %s 2>/dev/null", ctx->b);
    free(ctx);
    return 0;
}

/* add, add again, present, bind; remove, remove again: each as the kernel
 * shows it. */
static void s_add_remove(ctx_t *ctx, const char *ifname, const char *vip, const char *shown)
{
    s_ok(ctx, OP_PRESENT, ifname, vip, 0);
    assert_int_equal(s_in_a(ctx, OP_BIND, ifname, vip).rc, -EADDRNOTAVAIL);
    s_ok(ctx, OP_ADD, ifname, vip, 0);
    /* at once: HAProxy binds right after the add (IPv6: no DAD, never tentative) */
    s_ok(ctx, OP_BIND, ifname, vip, 0);
    assert_true(s_has(ctx, ifname, shown));
    s_ok(ctx, OP_ADD, ifname, vip, 0); /* already there: success */
    s_ok(ctx, OP_PRESENT, ifname, vip, 1);
    assert_false(s_line_says(ctx, ifname, shown, "tentative"));
    s_ok(ctx, OP_REMOVE, ifname, vip, 0);
    assert_false(s_has(ctx, ifname, shown));
    s_ok(ctx, OP_PRESENT, ifname, vip, 0);
    s_ok(ctx, OP_REMOVE, ifname, vip, 0); /* not there: success */
    assert_int_equal(s_in_a(ctx, OP_BIND, ifname, vip).rc, -EADDRNOTAVAIL);
}

static void test_ipv4_add_present_remove(void **state)
{
    ctx_t *ctx = *state;
    s_add_remove(ctx, "eth0", VIP4, "inet " VIP4 "/32 scope global");
}

static void test_ipv6_add_present_remove_bindable_at_once(void **state)
{
    ctx_t *ctx = *state;
    s_add_remove(ctx, "eth0", VIP6, "inet6 " VIP6 "/128 scope global nodad");
}

/* The host's own address of the subnet is another prefix length: removing the
 * same address as a VIP leaves it alone; present sees it. */
static void test_remove_leaves_the_interface_address(void **state)
{
    ctx_t *ctx = *state;
    s_ok(ctx, OP_PRESENT, "eth0", SUBNET ".1", 1);
    s_ok(ctx, OP_REMOVE, "eth0", SUBNET ".1", 0);
    assert_true(s_has(ctx, "eth0", "inet " SUBNET ".1/24"));
    s_ok(ctx, OP_REMOVE, "eth0", SUBNET6 "1", 0);
    assert_true(s_has(ctx, "eth0", "inet6 " SUBNET6 "1/64"));
}

/* B holds a stale entry for the VIP with another MAC (the VIP's previous
 * owner); after the announcement it holds A's. */
static void s_announce_teaches(ctx_t *ctx, const char *vip)
{
    s_ok(ctx, OP_ADD, "eth0", vip, 0);
    assert_int_equal(
        test_sh("ip -n %s neigh replace %s lladdr " WRONG_MAC " dev eth0 nud stale", ctx->b, vip),
        0);
    ctx->want_ip = vip;
    ctx->want_mac = WRONG_MAC;
    assert_true(s_neigh_has(ctx));
    s_ok(ctx, OP_ANNOUNCE, "eth0", vip, 0);
    ctx->want_mac = ctx->mac_a;
    if (!test_wait(s_neigh_has, ctx, WAIT_MS)) {
        char *out = test_sh_output("ip -n %s neigh show %s dev eth0", ctx->b, vip);
        fail_msg("B's entry for %s is still '%s' %d ms after the announcement, not %s", vip,
                 out ? out : "?", WAIT_MS, ctx->mac_a);
    }
    s_ok(ctx, OP_REMOVE, "eth0", vip, 0);
    test_sh("ip -n %s neigh del %s dev eth0 2>/dev/null", ctx->b, vip);
}

static void test_ipv4_gratuitous_arp_updates_neighbour(void **state)
{
    s_announce_teaches(*state, VIP4);
}

static void test_ipv6_unsolicited_na_updates_neighbour(void **state)
{
    s_announce_teaches(*state, VIP6);
}

/* lo: the address is added and can be bound (the "VIP routed to the host"
 * layout); there is no link layer, so the announcement sends nothing and
 * succeeds. */
static void test_loopback(void **state)
{
    ctx_t *ctx = *state;
    s_add_remove(ctx, "lo", "198.18.79.1", "inet 198.18.79.1/32 scope global");
    s_add_remove(ctx, "lo", "fd00:79::1", "inet6 fd00:79::1/128");
    /* 127.0.0.0/8 is local already (bindable before the add): host scope, as `ip` gives it */
    s_ok(ctx, OP_ADD, "lo", "127.77.0.5", 0);
    assert_true(s_has(ctx, "lo", "inet 127.77.0.5/32 scope host"));
    s_ok(ctx, OP_REMOVE, "lo", "127.77.0.5", 0);
    assert_false(s_has(ctx, "lo", "127.77.0.5"));
    s_ok(ctx, OP_ADD, "lo", "198.18.79.1", 0);
    s_ok(ctx, OP_ANNOUNCE, "lo", "198.18.79.1", 0);
    s_ok(ctx, OP_ANNOUNCE, "lo", "fd00:79::1", 0);
    s_ok(ctx, OP_REMOVE, "lo", "198.18.79.1", 0);
}

static void test_bad_input(void **state)
{
    ctx_t *ctx = *state;
    for (s_op_t op = OP_ADD; op <= OP_ANNOUNCE; op++) {
        s_fails(s_in_a(ctx, op, "nosuch0", VIP4), "nosuch0", VIP4);
        s_fails(s_in_a(ctx, op, "eth0", "not-an-ip"), "not-an-ip", NULL);
        s_fails(s_in_a(ctx, op, "", VIP4), "no interface", VIP4);
        s_fails(s_in_a(ctx, op, "eth0", ""), "no address", NULL);
        s_fails(s_in_a(ctx, op, "eth0", VIP4 "/32"), VIP4 "/32", NULL);
        s_fails(s_in_a(ctx, op, "averyveryverylongname0", VIP6), "averyveryverylongname0", NULL);
    }
    /* NULLs and no err buffer: no crash */
    assert_int_equal(lb_vip_add(NULL, VIP4, NULL, 0), -1);
    assert_int_equal(lb_vip_remove("eth0", NULL, NULL, 0), -1);
    char err[8];
    assert_int_equal(lb_vip_present("nosuch0", VIP4, err, sizeof err), -1);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_false(s_has(ctx, "eth0", VIP4));
}

/* Without the capabilities the kernel refuses: its reason (from the netlink
 * ACK, or the socket) names the interface and the address. */
static void test_not_permitted(void **state)
{
    ctx_t *ctx = *state;
    s_fails(s_in_ns(ctx->a, OP_ADD, "eth0", VIP4, true), "eth0", VIP4);
    s_result_t r = s_in_ns(ctx->a, OP_ADD, "eth0", VIP6, true);
    s_fails(r, "eth0", VIP6);
    if (!strstr(r.err, strerror(EPERM))) fail_msg("'%s' does not say %s", r.err, strerror(EPERM));
    assert_false(s_has(ctx, "eth0", VIP4));
    s_ok(ctx, OP_ADD, "eth0", VIP4, 0);
    s_fails(s_in_ns(ctx->a, OP_REMOVE, "eth0", VIP4, true), "eth0", VIP4);
    assert_true(s_has(ctx, "eth0", VIP4 "/32"));
    s_fails(s_in_ns(ctx->a, OP_ANNOUNCE, "eth0", VIP4, true), "eth0", VIP4);
    s_fails(s_in_ns(ctx->a, OP_ANNOUNCE, "eth0", VIP6, true), "eth0", VIP6);
    s_ok(ctx, OP_REMOVE, "eth0", VIP4, 0);
}

/* In the test's own process (and network namespace, the host's), read only:
 * the calls see the caller's namespace, and leave nothing behind (the
 * sanitizer build checks for leaks in this process, not in the children). */
static void test_present_in_callers_namespace(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(lb_vip_present("lo", "127.0.0.1", err, sizeof err), 1);
    assert_int_equal(lb_vip_present("lo", "127.0.0.2", err, sizeof err), 0);
    assert_int_equal(lb_vip_present("lo", "198.18.78.100", err, sizeof err), 0);
    assert_int_equal(lb_vip_present("lo", VIP6, err, sizeof err), 0);
    assert_string_equal(err, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_add_present_remove),
        cmocka_unit_test(test_ipv6_add_present_remove_bindable_at_once),
        cmocka_unit_test(test_remove_leaves_the_interface_address),
        cmocka_unit_test(test_ipv4_gratuitous_arp_updates_neighbour),
        cmocka_unit_test(test_ipv6_unsolicited_na_updates_neighbour),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_not_permitted),
        cmocka_unit_test(test_present_in_callers_namespace),
    };
    return test_run_group(tests, s_setup, s_teardown);
}
