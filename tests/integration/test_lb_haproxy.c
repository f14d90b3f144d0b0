/* lb_haproxy against a real HAProxy (/usr/sbin/haproxy, 2.6), started by each
 * case in master-worker mode (-W -S) in the host's namespace, its frontends
 * on 127.0.0.1 and its backends small HTTP servers (tests/support/
 * http_backend) on 127.0.0.1: runtime commands, servers added, weighted,
 * drained and deleted under traffic, reloads that work and one that fails (a
 * bind on 192.0.2.1, an address the host lacks: nothing is ever sent there),
 * `haproxy -c`, a restart, the read-back. Traffic goes to 127.0.0.1 only.
 *
 * Frontend ports: HAProxy needs them in its file, so the test binds
 * 127.0.0.1:0 with SO_REUSEPORT (not listening) and keeps that socket for the
 * case's life; HAProxy binds the same port beside it (HAProxy sets
 * SO_REUSEPORT too, same user), and nobody else can take the port meanwhile:
 * no probe-then-bind race. */
#define _GNU_SOURCE
#include "extensions/lb/lb_haproxy.h"
#include "tests/support/asserts.h"
#include "tests/support/fixture.h"
#include "tests/support/http_backend.h"
#include "tests/support/testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define HAPROXY  "/usr/sbin/haproxy"
#define WAIT_MS  10000
#define NBACK    3
#define NPORTS   3
#define BE       "ilb-t"
#define LOOPBACK "127.0.0.1"

typedef struct {
    fixture_t *fx; /* first: processes, directory */
    char dir[512];
    char master[600], admin[600], base[600], il[600], log[600];
    int hold[NPORTS]; /* the sockets keeping the frontend ports ours */
    uint16_t port[NPORTS];
    pid_t back[NBACK];
    uint16_t back_port[NBACK];
    pid_t haproxy;
    lb_haproxy_t *hp;
} ctx_t;

static const char *const s_names[NBACK] = {"b1", "b2", "b3"};

/* A port of 127.0.0.1 held by a bound, not listening SO_REUSEPORT socket. */
static int s_hold_port(int *fd, uint16_t *port)
{
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0) return -1;
    int one = 1;
    setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(*fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, LOOPBACK, &sa.sin_addr);
    socklen_t len = sizeof sa;
    if (bind(*fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(*fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    *port = ntohs(sa.sin_port);
    return 0;
}

/* The file this test owns, as the lead's generated one: defaults first.
 * extra: more sections appended. */
static int s_write_il(ctx_t *ctx, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text,
             "defaults\n"
             "    mode http\n"
             "    timeout connect 2s\n"
             "    timeout client 10s\n"
             "    timeout server 10s\n"
             "\n"
             "frontend ilf-t\n"
             "    bind " LOOPBACK ":%u\n"
             "    default_backend " BE "\n"
             "\n"
             "backend " BE "\n"
             "    balance roundrobin\n"
             "    server b1 " LOOPBACK ":%u check inter 200ms weight 1\n"
             "%s",
             ctx->port[0], ctx->back_port[0], extra ? extra : "");
    return test_write_file(ctx->il, text);
}

static char *s_get(ctx_t *ctx, int port_index, const char *path)
{
    char url[128];
    long status = 0;
    snprintf(url, sizeof url, "http://" LOOPBACK ":%u%s", ctx->port[port_index], path ? path : "/");
    char *body = test_http_get(url, &status);
    if (body && status != 200) {
        free(body);
        return NULL;
    }
    return body;
}

typedef struct {
    ctx_t *ctx;
    int port_index;
    const char *body; /* wanted answer */
} s_answer_t;

static bool s_answers(void *arg)
{
    s_answer_t *a = arg;
    char *body = s_get(a->ctx, a->port_index, "/");
    bool ok = body && (!a->body || strcmp(body, a->body) == 0);
    free(body);
    return ok;
}

static bool s_master_up(void *arg)
{
    ctx_t *ctx = arg;
    char *answer = NULL, err[256];
    bool up = lb_haproxy_master(ctx->hp, "show proc", &answer, err, sizeof err) == 0 &&
              strstr(answer, "worker");
    free(answer);
    return up;
}

/* Starts HAProxy on the files; waits until its master answers and the
 * frontend serves b1. */
static int s_start_haproxy(ctx_t *ctx)
{
    const char *args[] = {"-W", "-S", ctx->master, "-f", ctx->base, "-f", ctx->il, NULL};
    ctx->haproxy = fixture_spawn(ctx->fx, HAPROXY, args, "haproxy.log", NULL);
    if (ctx->haproxy <= 0) return -1;
    s_answer_t a = {ctx, 0, "b1"};
    if (!test_wait(s_master_up, ctx, WAIT_MS) || !test_wait(s_answers, &a, WAIT_MS)) {
        fprintf(stderr, "HAProxy did not start; see %s\n", ctx->log);
        return -1;
    }
    return 0;
}

static int s_teardown(void **state);

static int s_setup_ctx(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    for (int i = 0; i < NPORTS; i++)
        ctx->hold[i] = -1;
    ctx->fx = fixture_new(NULL);
    if (!ctx->fx) return -1;
    snprintf(ctx->dir, sizeof ctx->dir, "%s", fixture_dir(ctx->fx));
    snprintf(ctx->master, sizeof ctx->master, "%s/master.sock", ctx->dir);
    snprintf(ctx->admin, sizeof ctx->admin, "%s/admin.sock", ctx->dir);
    snprintf(ctx->base, sizeof ctx->base, "%s/base.cfg", ctx->dir);
    snprintf(ctx->il, sizeof ctx->il, "%s/interlook.cfg", ctx->dir);
    snprintf(ctx->log, sizeof ctx->log, "%s/haproxy.log", ctx->dir);
    for (int i = 0; i < NPORTS; i++)
        if (s_hold_port(&ctx->hold[i], &ctx->port[i]) != 0) return -1;
    for (int i = 0; i < NBACK; i++) {
        ctx->back[i] = http_backend_start(NULL, LOOPBACK, 0, s_names[i], &ctx->back_port[i]);
        if (ctx->back[i] <= 0) return -1;
    }
    char base[1024];
    snprintf(base, sizeof base,
             "global\n"
             "    stats socket %s level admin expose-fd listeners\n"
             "    stats timeout 10s\n",
             ctx->admin);
    if (test_write_file(ctx->base, base) != 0 || s_write_il(ctx, NULL) != 0) return -1;
    ctx->hp = lb_haproxy_new(ctx->master, ctx->admin, 5000);
    lb_haproxy_set_log(ctx->hp, ctx->log);
    return s_start_haproxy(ctx);
}

/* A setup that fails leaves nothing running (cmocka calls no teardown then). */
static int s_setup(void **state)
{
    if (s_setup_ctx(state) == 0) return 0;
    s_teardown(state);
    return -1;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    lb_haproxy_destroy(&ctx->hp);
    for (int i = 0; i < NBACK; i++)
        if (ctx->back[i] > 0) http_backend_stop(ctx->back[i]);
    for (int i = 0; i < NPORTS; i++)
        if (ctx->hold[i] >= 0) close(ctx->hold[i]);
    return fixture_teardown(state);
}

/* n requests to the first frontend; counts per backend in counts, the
 * failures returned. */
static int s_count(ctx_t *ctx, int n, int counts[NBACK])
{
    int failed = 0;
    memset(counts, 0, NBACK * sizeof *counts);
    for (int i = 0; i < n; i++) {
        char *body = s_get(ctx, 0, "/");
        int which = -1;
        for (int b = 0; body && b < NBACK; b++)
            if (strcmp(body, s_names[b]) == 0) which = b;
        if (which < 0)
            failed++;
        else
            counts[which]++;
        free(body);
    }
    return failed;
}

static void test_runtime_command(void **state)
{
    ctx_t *ctx = *state;
    char *answer = NULL, err[512] = "";
    assert_int_equal(lb_haproxy_runtime(ctx->hp, "show backend", &answer, err, sizeof err), 0);
    assert_contains(answer, "# name");
    assert_contains(answer, BE);
    free(answer);
    /* A command HAProxy refuses: 0, its words in the answer. */
    assert_int_equal(lb_haproxy_runtime(ctx->hp, "no such command", &answer, err, sizeof err), 0);
    assert_contains(answer, "Unknown command");
    free(answer);
    assert_int_equal(lb_haproxy_master(ctx->hp, "show proc", &answer, err, sizeof err), 0);
    assert_contains(answer, "master");
    assert_contains(answer, "# workers");
    free(answer);
    /* A newline would be a second command. */
    assert_int_equal(
        lb_haproxy_runtime(ctx->hp, "show info\nshutdown frontend ilf-t", &answer, err, sizeof err),
        -1);
    assert_null(answer);
    assert_contains(err, "newline");
}

typedef struct {
    ctx_t *ctx;
    const char *body;
} s_reach_t;

/* Some request of a few reaches the backend answering body. */
static bool s_reaches(void *arg)
{
    s_reach_t *r = arg;
    for (int i = 0; i < 4; i++) {
        char *body = s_get(r->ctx, 0, "/");
        bool hit = body && strcmp(body, r->body) == 0;
        free(body);
        if (hit) return true;
    }
    return false;
}

static void test_add_server(void **state)
{
    ctx_t *ctx = *state;
    char err[512] = "";
    int counts[NBACK];
    assert_int_equal(s_count(ctx, 10, counts), 0);
    assert_int_equal(counts[0], 10);
    assert_int_equal(lb_haproxy_server_add(ctx->hp, BE, "b2", LOOPBACK, ctx->back_port[1], 1, 200,
                                           err, sizeof err),
                     0);
    s_reach_t r = {ctx, "b2"};
    assert_true(test_wait(s_reaches, &r, WAIT_MS));
    assert_int_equal(s_count(ctx, 20, counts), 0);
    assert_int_equal(counts[0], 10);
    assert_int_equal(counts[1], 10);
    /* The same name again: HAProxy's words. */
    assert_int_equal(lb_haproxy_server_add(ctx->hp, BE, "b2", LOOPBACK, ctx->back_port[1], 1, 200,
                                           err, sizeof err),
                     -1);
    assert_contains(err, BE "/b2");
    assert_contains(err, "Already exists a server with the same name");
    /* An unknown backend. */
    assert_int_equal(
        lb_haproxy_server_add(ctx->hp, "ilb-none", "x", LOOPBACK, 80, 1, 0, err, sizeof err), -1);
    assert_contains(err, "No such backend");
    /* A name that would inject a command: refused before sending. */
    assert_int_equal(lb_haproxy_server_add(ctx->hp, BE, "b 9", LOOPBACK, 80, 1, 0, err, sizeof err),
                     -1);
    assert_contains(err, "white space");
}

static void test_weight_and_addr(void **state)
{
    ctx_t *ctx = *state;
    char err[512] = "";
    int counts[NBACK];
    assert_int_equal(lb_haproxy_server_add(ctx->hp, BE, "b2", LOOPBACK, ctx->back_port[1], 1, 200,
                                           err, sizeof err),
                     0);
    s_reach_t r = {ctx, "b2"};
    assert_true(test_wait(s_reaches, &r, WAIT_MS));
    assert_int_equal(
        lb_haproxy_server_set(ctx->hp, BE, "b2", LOOPBACK, ctx->back_port[1], 3, err, sizeof err),
        0);
    assert_int_equal(s_count(ctx, 40, counts), 0);
    assert_int_equal(counts[0], 10);
    assert_int_equal(counts[1], 30);
    /* The address moves: b2's slot now answers as b3. */
    assert_int_equal(
        lb_haproxy_server_set(ctx->hp, BE, "b2", LOOPBACK, ctx->back_port[2], 3, err, sizeof err),
        0);
    assert_int_equal(s_count(ctx, 40, counts), 0);
    assert_int_equal(counts[0], 10);
    assert_int_equal(counts[1], 0);
    assert_int_equal(counts[2], 30);
    /* Refused: a weight HAProxy does not take, a server it lacks. */
    assert_int_equal(
        lb_haproxy_server_set(ctx->hp, BE, "b2", LOOPBACK, ctx->back_port[2], 257, err, sizeof err),
        -1);
    assert_contains(err, "257");
    assert_int_equal(
        lb_haproxy_server_set(ctx->hp, BE, "b7", LOOPBACK, ctx->back_port[2], 1, err, sizeof err),
        -1);
    assert_contains(err, BE "/b7");
    assert_contains(err, "No such server");
}

/* A request kept in flight: a connection to the frontend asking b2 for
 * /delay/ms; the fd to read the answer from later. */
static int s_slow_request(ctx_t *ctx, int ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ctx->port[0])};
    inet_pton(AF_INET, LOOPBACK, &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return -1;
    char req[128];
    int n = snprintf(req, sizeof req, "GET /delay/%d HTTP/1.0\r\nHost: t\r\n\r\n", ms);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    return fd;
}

static char *s_read_all(int fd)
{
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char *buf = calloc(1, 4096);
    size_t len = 0;
    ssize_t n;
    while (len < 4095 && (n = read(fd, buf + len, 4095 - len)) > 0)
        len += (size_t)n;
    close(fd);
    return buf;
}

typedef struct {
    ctx_t *ctx;
    const char *server;
    int64_t want;
} s_sessions_t;

static bool s_sessions_are(void *arg)
{
    s_sessions_t *s = arg;
    int64_t count = -1;
    char err[256];
    return lb_haproxy_server_sessions(s->ctx->hp, BE, s->server, &count, err, sizeof err) == 0 &&
           count == s->want;
}

static void test_drain_then_del(void **state)
{
    ctx_t *ctx = *state;
    char err[512] = "";
    int counts[NBACK];
    assert_int_equal(lb_haproxy_server_add(ctx->hp, BE, "b2", LOOPBACK, ctx->back_port[1], 1, 200,
                                           err, sizeof err),
                     0);
    s_reach_t r = {ctx, "b2"};
    assert_true(test_wait(s_reaches, &r, WAIT_MS));
    /* A request in flight on b2: b1 weighted 0 for a moment so that it goes there. */
    assert_int_equal(
        lb_haproxy_server_set(ctx->hp, BE, "b1", LOOPBACK, ctx->back_port[0], 0, err, sizeof err),
        0);
    int slow = s_slow_request(ctx, 1500);
    assert_true(slow >= 0);
    s_sessions_t s = {ctx, "b2", 1};
    assert_true(test_wait(s_sessions_are, &s, WAIT_MS));
    assert_int_equal(
        lb_haproxy_server_set(ctx->hp, BE, "b1", LOOPBACK, ctx->back_port[0], 1, err, sizeof err),
        0);
    assert_int_equal(lb_haproxy_server_drain(ctx->hp, BE, "b2", err, sizeof err), 0);
    /* Drained: no new request reaches it, none fails, the one in flight goes on. */
    assert_int_equal(s_count(ctx, 10, counts), 0);
    assert_int_equal(counts[0], 10);
    assert_int_equal(counts[1], 0);
    int64_t count = -1;
    assert_int_equal(lb_haproxy_server_sessions(ctx->hp, BE, "b2", &count, err, sizeof err), 0);
    assert_int_equal(count, 1);
    char *answer = s_read_all(slow);
    assert_contains(answer, "200 OK");
    assert_contains(answer, "b2");
    free(answer);
    s.want = 0;
    assert_true(test_wait(s_sessions_are, &s, WAIT_MS));
    assert_int_equal(lb_haproxy_server_del(ctx->hp, BE, "b2", err, sizeof err), 0);
    assert_int_equal(s_count(ctx, 10, counts), 0);
    assert_int_equal(counts[0], 10);
    assert_int_equal(counts[1], 0);
    assert_int_equal(lb_haproxy_server_sessions(ctx->hp, BE, "b2", &count, err, sizeof err), -1);
    assert_contains(err, "no server " BE "/b2");
}

static void test_del_unknown(void **state)
{
    ctx_t *ctx = *state;
    char err[512] = "";
    assert_int_equal(lb_haproxy_server_del(ctx->hp, BE, "nobody", err, sizeof err), -1);
    assert_contains(err, BE "/nobody");
    assert_contains(err, "No such server");
    assert_int_equal(lb_haproxy_server_drain(ctx->hp, "ilb-none", "x", err, sizeof err), -1);
    assert_contains(err, "ilb-none/x");
}

static void test_reload_new_frontend(void **state)
{
    ctx_t *ctx = *state;
    char err[512] = "", id1[128], id2[128];
    assert_int_equal(lb_haproxy_master_id(ctx->hp, id1, sizeof id1, err, sizeof err), 0);
    assert_null(s_get(ctx, 1, "/")); /* nothing there yet */
    char extra[512];
    snprintf(extra, sizeof extra,
             "\nfrontend ilf-t2\n    bind " LOOPBACK ":%u\n    default_backend " BE "\n",
             ctx->port[1]);
    assert_int_equal(s_write_il(ctx, extra), 0);
    assert_int_equal(lb_haproxy_check_files(
                         HAPROXY, (const char *const[]){ctx->base, ctx->il, NULL}, err, sizeof err),
                     0);
    assert_int_equal(lb_haproxy_reload(ctx->hp, err, sizeof err), 0);
    /* Done means done: the new frontend answers at once. */
    char *body = s_get(ctx, 1, "/");
    assert_non_null(body);
    assert_string_equal(body, "b1");
    free(body);
    assert_int_equal(lb_haproxy_master_id(ctx->hp, id2, sizeof id2, err, sizeof err), 0);
    assert_string_equal(id1, id2);
    char **names = NULL;
    size_t n = 0;
    assert_int_equal(lb_haproxy_proxies(ctx->hp, "ilf-", &names, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "ilf-t");
    assert_string_equal(names[1], "ilf-t2");
    lb_haproxy_names_free(&names, n);
}

static void test_reload_bind_fails(void **state)
{
    ctx_t *ctx = *state;
    char err[1024] = "";
    char extra[512];
    /* 192.0.2.1 (TEST-NET-1) is not on this host: the bind fails, nothing is sent. */
    snprintf(extra, sizeof extra,
             "\nfrontend ilf-t2\n    bind " LOOPBACK ":%u\n    default_backend " BE "\n"
             "\nfrontend ilf-bad\n    bind 192.0.2.1:%u\n    default_backend " BE "\n",
             ctx->port[1], ctx->port[2]);
    assert_int_equal(s_write_il(ctx, extra), 0);
    /* haproxy -c does not see it. */
    assert_int_equal(lb_haproxy_check_files(
                         HAPROXY, (const char *const[]){ctx->base, ctx->il, NULL}, err, sizeof err),
                     0);
    assert_int_equal(lb_haproxy_reload(ctx->hp, err, sizeof err), -1);
    assert_contains(err, "reload failed");
    assert_contains(err, "cannot bind socket");
    assert_contains(err, "192.0.2.1");
    /* The old worker keeps serving, the new frontend is not there. */
    char *body = s_get(ctx, 0, "/");
    assert_non_null(body);
    assert_string_equal(body, "b1");
    free(body);
    assert_null(s_get(ctx, 1, "/"));
    /* Without the master's log: still -1, with show proc's word for it. */
    lb_haproxy_t *blind = lb_haproxy_new(ctx->master, ctx->admin, 5000);
    assert_int_equal(lb_haproxy_reload(blind, err, sizeof err), -1);
    assert_contains(err, "reload failed (show proc: reloads");
    lb_haproxy_destroy(&blind);
    /* Fixed, the next reload works. */
    assert_int_equal(s_write_il(ctx, NULL), 0);
    assert_int_equal(lb_haproxy_reload(ctx->hp, err, sizeof err), 0);
    s_answer_t a = {ctx, 0, "b1"};
    assert_true(s_answers(&a));
}

static void test_reload_syntax_error(void **state)
{
    ctx_t *ctx = *state;
    char err[1024] = "";
    /* A file haproxy -c would refuse, reloaded anyway: HAProxy's words, the old worker serves. */
    assert_int_equal(s_write_il(ctx, "\nfrontend ilf-x\n    bindd " LOOPBACK ":1\n"), 0);
    assert_int_equal(lb_haproxy_reload(ctx->hp, err, sizeof err), -1);
    assert_contains(err, "reload failed");
    assert_contains(err, "unknown keyword 'bindd'");
    char *body = s_get(ctx, 0, "/");
    assert_non_null(body);
    assert_string_equal(body, "b1");
    free(body);
    assert_int_equal(s_write_il(ctx, NULL), 0);
    assert_int_equal(lb_haproxy_reload(ctx->hp, err, sizeof err), 0);
}

static void test_check(void **state)
{
    ctx_t *ctx = *state;
    char err[2048] = "", path[700];
    assert_int_equal(lb_haproxy_check(HAPROXY, ctx->il, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/broken.cfg", ctx->dir);
    assert_int_equal(test_write_file(path, "frontend x\n    bindd 127.0.0.1:1\n"), 0);
    assert_int_equal(lb_haproxy_check(HAPROXY, path, err, sizeof err), -1);
    assert_contains(err, "unknown keyword 'bindd'");
    assert_contains(err, "broken.cfg:2");
    assert_not_contains(err, "[NOTICE]");
    snprintf(path, sizeof path, "%s/missing.cfg", ctx->dir);
    assert_int_equal(lb_haproxy_check(HAPROXY, path, err, sizeof err), -1);
    assert_contains(err, "missing.cfg");
    assert_int_equal(lb_haproxy_check("/nonexistent/haproxy", ctx->il, err, sizeof err), -1);
    assert_contains(err, "/nonexistent/haproxy");
}

static void test_restart_changes_master_id(void **state)
{
    ctx_t *ctx = *state;
    char err[512] = "", id1[128], id2[128];
    assert_int_equal(lb_haproxy_master_id(ctx->hp, id1, sizeof id1, err, sizeof err), 0);
    assert_true(test_stop(ctx->haproxy, SIGTERM, WAIT_MS) >= 0);
    /* Gone: the error names the socket. */
    assert_int_equal(lb_haproxy_master_id(ctx->hp, id2, sizeof id2, err, sizeof err), -1);
    assert_contains(err, ctx->master);
    assert_int_equal(s_start_haproxy(ctx), 0);
    assert_int_equal(lb_haproxy_master_id(ctx->hp, id2, sizeof id2, err, sizeof err), 0);
    assert_string_not_equal(id1, id2);
}

static void test_missing_socket(void **state)
{
    ctx_t *ctx = *state;
    char path[700], err[1024] = "", *answer = NULL;
    snprintf(path, sizeof path, "%s/nothing.sock", ctx->dir);
    lb_haproxy_t *hp = lb_haproxy_new(path, path, 1000);
    assert_int_equal(lb_haproxy_runtime(hp, "show info", &answer, err, sizeof err), -1);
    assert_null(answer);
    assert_contains(err, "cannot connect to ");
    assert_contains(err, path);
    assert_contains(err, "No such file or directory");
    assert_contains(err, "stats socket");
    assert_int_equal(lb_haproxy_reload(hp, err, sizeof err), -1);
    assert_contains(err, path);
    lb_haproxy_destroy(&hp);
}

static void test_read_back(void **state)
{
    ctx_t *ctx = *state;
    char err[512] = "";
    /* An IPv6 server too (::1, loopback): read back bare. */
    assert_int_equal(
        lb_haproxy_server_add(ctx->hp, BE, "::1_8080", "::1", 8080, 5, 0, err, sizeof err), 0);
    lb_haproxy_server_t *servers = NULL;
    size_t n = 0;
    assert_int_equal(lb_haproxy_servers(ctx->hp, "ilb-", &servers, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(servers[0].backend, BE);
    assert_string_equal(servers[0].server, "b1");
    assert_string_equal(servers[0].addr, LOOPBACK);
    assert_int_equal(servers[0].port, ctx->back_port[0]);
    assert_int_equal(servers[0].weight, 1);
    assert_string_equal(servers[1].server, "::1_8080");
    assert_string_equal(servers[1].addr, "::1");
    assert_int_equal(servers[1].port, 8080);
    assert_int_equal(servers[1].weight, 5);
    lb_haproxy_servers_free(&servers, n);
    assert_null(servers);
    assert_int_equal(lb_haproxy_servers(ctx->hp, "nomatch-", &servers, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    char **names = NULL;
    assert_int_equal(lb_haproxy_proxies(ctx->hp, "il", &names, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "ilf-t");
    assert_string_equal(names[1], BE);
    lb_haproxy_names_free(&names, n);
    assert_int_equal(lb_haproxy_proxies(ctx->hp, NULL, &names, &n, err, sizeof err), 0);
    assert_true(n >= 2);
    lb_haproxy_names_free(&names, n);
}

/* A fake CLI: a child on a unix socket answering each connection, after our
 * end of the command, with the next of answers (the last one repeated);
 * size > 0: that many bytes of 'x' instead; stall: never answers. */
static pid_t s_fake_cli(const char *path, const char *const *answers, size_t n, size_t size,
                        bool stall)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0)
        return -1;
    pid_t pid = fork();
    if (pid != 0) {
        close(fd);
        return pid;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assert leaves it behind otherwise */
    for (size_t i = 0;; i++) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) _exit(1);
        char buf[256];
        while (read(c, buf, sizeof buf) > 0) {
        }
        if (stall) {
            pause();
        } else if (size > 0) {
            char chunk[65536];
            memset(chunk, 'x', sizeof chunk);
            for (size_t sent = 0; sent < size;) {
                ssize_t w =
                    write(c, chunk, size - sent < sizeof chunk ? size - sent : sizeof chunk);
                if (w <= 0) break;
                sent += (size_t)w;
            }
        } else {
            const char *a = answers[i < n ? i : n - 1];
            (void)!write(c, a, strlen(a));
        }
        close(c);
    }
}

static void test_parse_robust(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/cli.sock", dir);
    const char *answers[] = {
        /* servers state: bad lines among good ones */
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
        "srv_iweight "
        "srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
        "srv_check_state "
        "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port\n"
        "3 ilb-a 1 s1 127.0.0.1 2 0 1 1 0 1 0 0 0 0 0 0 - 8080\n"
        "3 ilb-a 2 short\n"
        "garbage\n"
        "\n"
        "3 ilb-a 3 s3 127.0.0.1 2 0 notanumber 1 0 1 0 0 0 0 0 0 - 8080\n"
        "3 ilb-a 4 s4 127.0.0.1 2 0 1 1 0 1 0 0 0 0 0 0 - 99999\n"
        "3 ilb-a 5 s5 ::1 2 0 7 7 0 1 0 0 0 0 0 0 - 81\n",
        /* not a servers state at all */
        "Unknown command.\n",
        /* show stat without its header */
        "ilb-a,BACKEND,0,0,0\n",
        /* show proc without a master line */
        "#<PID> <type>\nnonsense\n",
    };
    pid_t pid = s_fake_cli(path, answers, 4, 0, false);
    assert_true(pid > 0);
    lb_haproxy_t *hp = lb_haproxy_new(path, path, 2000);
    lb_haproxy_server_t *servers = NULL;
    size_t n = 0;
    assert_int_equal(lb_haproxy_servers(hp, NULL, &servers, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(servers[0].server, "s1");
    assert_int_equal(servers[0].port, 8080);
    assert_string_equal(servers[1].server, "s5");
    assert_string_equal(servers[1].addr, "::1");
    assert_int_equal(servers[1].weight, 7);
    lb_haproxy_servers_free(&servers, n);
    assert_int_equal(lb_haproxy_servers(hp, NULL, &servers, &n, err, sizeof err), -1);
    assert_contains(err, "no header line");
    assert_contains(err, "Unknown command");
    char **names = NULL;
    assert_int_equal(lb_haproxy_proxies(hp, NULL, &names, &n, err, sizeof err), -1);
    assert_contains(err, "not CSV");
    char id[64];
    assert_int_equal(lb_haproxy_master_id(hp, id, sizeof id, err, sizeof err), -1);
    assert_contains(err, "no master line");
    lb_haproxy_destroy(&hp);
    test_stop(pid, SIGKILL, 5000);
    test_rm_tree(dir);
    free(dir);
}

static void test_answer_bounds(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[600], err[512], *answer = NULL;
    /* Past 16 MiB: an error, not an ever bigger buffer. */
    snprintf(path, sizeof path, "%s/big.sock", dir);
    pid_t big = s_fake_cli(path, NULL, 0, (16u << 20) + 65536, false);
    assert_true(big > 0);
    lb_haproxy_t *hp = lb_haproxy_new(NULL, path, 5000);
    assert_int_equal(lb_haproxy_runtime(hp, "show stat", &answer, err, sizeof err), -1);
    assert_null(answer);
    assert_contains(err, "larger than 16 MiB");
    lb_haproxy_destroy(&hp);
    /* A CLI that never answers: bounded by the timeout. */
    snprintf(path, sizeof path, "%s/stall.sock", dir);
    pid_t stall = s_fake_cli(path, NULL, 0, 0, true);
    assert_true(stall > 0);
    hp = lb_haproxy_new(path, NULL, 300);
    assert_int_equal(lb_haproxy_master(hp, "show proc", &answer, err, sizeof err), -1);
    assert_contains(err, "timed out");
    assert_contains(err, path);
    /* No runtime socket configured. */
    assert_int_equal(lb_haproxy_runtime(hp, "show info", &answer, err, sizeof err), -1);
    assert_contains(err, "no runtime socket");
    lb_haproxy_destroy(&hp);
    test_stop(big, SIGKILL, 5000);
    test_stop(stall, SIGKILL, 5000);
    test_rm_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runtime_command, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_add_server, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_weight_and_addr, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_drain_then_del, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_del_unknown, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reload_new_frontend, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reload_bind_fails, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reload_syntax_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_check, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_restart_changes_master_id, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_missing_socket, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_read_back, s_setup, s_teardown),
        cmocka_unit_test(test_parse_robust),
        cmocka_unit_test(test_answer_bounds),
    };
    signal(SIGPIPE, SIG_IGN);
    return test_run_group(tests, NULL, NULL);
}
