/* bench_lb: the figures of the load-balancer step (lb.haproxy, issue 13), on
 * a real HAProxy 2.6 (tests/support/haproxy_server.c, master-worker, in the
 * host's namespace) driven by interlook-lb, everything on loopback: the VIP
 * pool is a /20 inside 127.0.0.0/8 (from the pid), the backends are small
 * HTTP servers on 127.0.0.1 (tests/support/http_backend.c), no vipInterface.
 * Each part runs a stack of its own (interlookd, interlook-inject as
 * provider.inject fed on its standard input, interlook-ipalloc,
 * interlook-lb, a fresh HAProxy):
 *
 *  1. EVENT -> first HTTP 200 through the VIP, for N services added one at a
 *     time (workflow provider.inject,ipam.ipalloc,lb.haproxy): the bench
 *     polls the VIP with its own HTTP client (a non-blocking connect and a
 *     GET every millisecond, bounded) and the core's API (EVENT -> deployed)
 *     at once. Baselines of the same run: EVENT -> deployed of a stack
 *     without the LB step (provider.inject,ipam.ipalloc), one request
 *     straight to the backend against one through HAProxy, and HAProxy's
 *     own share of a new frontend timed apart with the extension's client
 *     (lb_haproxy): `haproxy -c` and a reload. Traefik's Swarm provider
 *     polls every 15 s: the aim here is p50 < 100 ms.
 *  2. Reloads per 1,000 services added in one burst (B `add` lines written
 *     at once): the HAProxy master's reload count (`show proc`) before and
 *     after, the time until all are deployed, every VIP's frontend answering
 *     (any HTTP status: the burst's target refuses connections, so that B
 *     health checks cost nothing), then the same for a burst of deletes;
 *     at lb.haproxy.credit's default (64: a round of the extension holds at
 *     most that many items) and again with the credit at B. Then a burst
 *     of 64 where one service's frontend cannot bind (its port taken on
 *     0.0.0.0: `haproxy -c` passes, the reload fails): the reloads and the
 *     time until the 63 others are deployed, at core.bus's default
 *     heartbeat (1 s x 3; with the tests' 100 ms x 3 they never are: see
 *     the report of this benchmark's branch).
 *  3. Requests failed during C target changes of one service with three
 *     backends (add/remove a backend, weights by repeating a HOST:PORT),
 *     each waited for (deployed with that target list, core API) and every
 *     other one held 250 ms (so that removed servers are drained, deleted
 *     and later added anew, not only drained and taken back), while two
 *     threads make sequential requests through the VIP for the whole phase
 *     (quick ones, and slow ones kept in flight 50 ms by the backend); the
 *     reloads during the phase (target changes go through the runtime API:
 *     0 expected).
 *  4. With --docker D: `docker run` (interlook-docker on the real dockerd,
 *     image interlook-test:latest, containers labelled with this pid and
 *     removed at the end) -> first HTTP 200 through the VIP, for D
 *     containers one at a time; next to it, how long `docker run -d` itself
 *     took.
 *
 * It is not a test: targets are reported as PASS/MISS, never as a failure.
 * usage: bench_lb [N] [--burst B] [--changes C] [--docker D]
 *        (N default 100, B default 1000, C default 100, D default 0: none)
 * Exit status: 0 figures printed (whatever the targets), 1 a part could not
 * be set up or did not complete, 2 bad usage. Needs root (HAProxy binds
 * port 80 on the VIPs). */
#include "extensions/lb/lb_haproxy.h"
#include "tests/support/fixture.h"
#include "tests/support/haproxy_server.h"
#include "tests/support/http_backend.h"
#include "tests/support/testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_WAIT_MS        30000 /* bound of each wait (a stack up, a service, a burst) */
#define S_HTTP_MS        1000  /* bound of one request of the poller */
#define S_LOAD_HTTP_MS   3000  /* bound of one request of the load thread */
#define S_TARGET_P50_MS  100.0 /* EVENT -> VIP answers, p50 (issue 13) */
#define S_TRAEFIK_MS     15000 /* Traefik's Swarm provider polls every 15 s */
#define S_DIRECT_SAMPLES 200   /* requests straight / through HAProxy, each */
#define S_MAX_COUNT      4000  /* the /20 pool holds 4094 */
#define S_CREDIT         64    /* lb.haproxy.credit's default */
#define S_COST_SAMPLES   10    /* haproxy -c and reloads timed by themselves */
#define S_HOLD_MS        250   /* every other target change held: drained servers get deleted */
#define S_BUS_DEFAULTS   "heartbeat: 1s, liveness: 3" /* core.bus's defaults */
#define S_SLOW_PATH      "/delay/50" /* the slow client's requests, kept in flight 50 ms */

/* Helpers ------------------------------------------------------------------ */

static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void s_sleep_until(int64_t when_us)
{
    int64_t left = when_us - s_now_us();
    if (left <= 0) return;
    struct timespec ts = {.tv_sec = left / 1000000, .tv_nsec = (left % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of n sorted values. */
static int64_t s_quantile(const int64_t *sorted, size_t n, double q)
{
    if (n == 0) return 0;
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

typedef struct {
    double p50, p99, max; /* ms */
} s_stats_t;

/* Sorts the n values (us) in place and gives p50/p99/max in ms. */
static s_stats_t s_stats(int64_t *us, size_t n)
{
    qsort(us, n, sizeof *us, s_cmp_i64);
    s_stats_t st = {s_quantile(us, n, 0.50) / 1000.0, s_quantile(us, n, 0.99) / 1000.0,
                    n ? us[n - 1] / 1000.0 : 0};
    return st;
}

static const char *s_mark(bool ok)
{
    return ok ? "PASS" : "MISS";
}

/* HTTP client ---------------------------------------------------------------
 * One GET of path on a new connection (HTTP/1.0, Connection: close), bounded by
 * timeout_ms; non-blocking so that the bound holds at every step. Returns
 * the status (200...) with the body in body, or -1 (refused, reset, time-out,
 * not HTTP). */
static int s_http_get(const char *ip, uint16_t port, const char *path, int timeout_ms, char *body,
                      size_t bodylen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int64_t deadline = s_now_us() + (int64_t)timeout_ms * 1000;
    int status = -1;
    char buf[4096];
    size_t len = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) && errno != EINPROGRESS) goto done;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int left = (int)((deadline - s_now_us()) / 1000);
    if (poll(&p, 1, left > 0 ? left : 0) != 1) goto done;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) goto done;
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     path, ip);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) goto done;
    for (;;) {
        left = (int)((deadline - s_now_us()) / 1000);
        p.events = POLLIN;
        if (left <= 0 || poll(&p, 1, left) != 1) goto done;
        ssize_t got = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (got < 0) goto done;
        len += (size_t)got;
        if (got == 0 || len == sizeof buf - 1) break;
    }
    buf[len] = '\0';
    int code;
    if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1) goto done;
    status = code;
    if (body && bodylen) {
        const char *b = strstr(buf, "\r\n\r\n");
        snprintf(body, bodylen, "%s", b ? b + 4 : "");
        body[strcspn(body, "\r\n")] = '\0';
    }
done:
    close(fd);
    return status;
}

/* A stack ------------------------------------------------------------------- */

typedef struct {
    fixture_t *fx;
    haproxy_server_t *haproxy; /* NULL without the LB step */
    int inject;                /* provider.inject's standard input; -1 with docker */
} s_stack_t;

static unsigned s_pool_octet(void)
{
    /* 127.96.16.0/20 .. 127.127.16.0/20: clear of test_lb_docker's 127.77.X */
    return 96u + (unsigned)getpid() % 32u;
}

static void s_stack_stop(s_stack_t *st)
{
    if (st->inject >= 0 && st->fx) fixture_close_input(st->fx, st->inject);
    st->inject = -1;
    haproxy_server_destroy(&st->haproxy);
    fixture_destroy(&st->fx);
}

/* What went wrong, from the stack's logs (its directory goes with it):
 * the ends of the core's, HAProxy's and the extensions' logs. */
static void s_show_logs(s_stack_t *st)
{
    if (!st->fx) return;
    test_sh("tail -n 8 %s/core.log %s/haproxy/haproxy.log >&2 2>/dev/null", fixture_dir(st->fx),
            fixture_dir(st->fx));
    static const char *const bins[] = {"interlook-lb", "interlook-ipalloc", "interlook-inject",
                                       "interlook-docker"};
    for (size_t i = 0; i < sizeof bins / sizeof bins[0]; i++)
        test_sh("tail -n 8 %s >&2 2>/dev/null", test_log_path(bins[i]));
}

typedef struct {
    bool lb, docker;      /* the LB step; provider.docker instead of provider.inject */
    int credit;           /* lb.haproxy.credit (0: its default) */
    const char *lb_level; /* lb.haproxy.logLevel (NULL: info) */
    const char *bus;      /* core.bus settings (NULL: the fixture's, heartbeat 100ms x 3) */
} s_stack_opts_t;

/* Starts interlookd, the provider (inject, or docker with docker), the
 * allocator and, with lb, HAProxy and interlook-lb. 0 or -1 (said why). */
static int s_stack_start(s_stack_t *st, const char *what, const s_stack_opts_t *o)
{
    memset(st, 0, sizeof *st);
    st->inject = -1;
    bool lb = o->lb, docker = o->docker;
    int credit = o->credit;
    const char *lb_level = o->lb_level;
    fixture_opts_t opts = {.name = "bench_lb", .bus = o->bus};
    st->fx = fixture_new(&opts);
    if (!st->fx) return -1;
    const char *dir = fixture_dir(st->fx);
    char sections[8192], lbpart[4096] = "", dockerpart[512] = "";
    if (lb) {
        char hdir[600], lbfile[600];
        snprintf(hdir, sizeof hdir, "%s/haproxy", dir);
        snprintf(lbfile, sizeof lbfile, "%s/interlook.cfg", dir);
        st->haproxy = haproxy_server_new(hdir, lbfile, NULL);
        if (!st->haproxy || haproxy_server_start(st->haproxy, S_WAIT_MS)) goto fail;
        snprintf(lbpart, sizeof lbpart,
                 "lb:\n  haproxy:\n%s    healthInterval: 2s\n    drainTimeout: 10s\n"
                 "    credit: %d\n    logLevel: %s\n",
                 haproxy_server_yaml(st->haproxy), credit > 0 ? credit : S_CREDIT,
                 lb_level ? lb_level : "info");
    }
    if (docker)
        snprintf(dockerpart, sizeof dockerpart,
                 "provider:\n  docker:\n    labelSelector: [interlook.bench%d]\n"
                 "    pollInterval: 15s\n    hostIP: 127.0.0.1\n",
                 (int)getpid());
    snprintf(sections, sizeof sections,
             "ipam:\n  ipalloc: { network_cidr: 127.%u.16.0/20, db_file: {dir}/ipalloc.db }\n%s%s",
             s_pool_octet(), dockerpart, lbpart);
    char core[512];
    snprintf(core, sizeof core,
             "  workflowSteps: %s,ipam.ipalloc%s\n"
             "  checkFlowInterval: 100ms\n  retryBackoffMin: 100ms\n  retryBackoffMax: 1s\n",
             docker ? "provider.docker" : "provider.inject", lb ? ",lb.haproxy" : "");
    if (fixture_config_write(st->fx, core, sections)) goto fail;
    if (fixture_start_core(st->fx, S_WAIT_MS) <= 0) goto fail;
    const char *none[] = {NULL};
    const char *prov[] = {"--name", "provider.inject", NULL};
    if (fixture_spawn_ext(st->fx, "interlook-ipalloc", none, NULL) <= 0) goto fail;
    if (docker ? fixture_spawn_ext(st->fx, "interlook-docker", none, NULL) <= 0
               : fixture_spawn_ext(st->fx, "interlook-inject", prov, &st->inject) <= 0)
        goto fail;
    if (lb && fixture_spawn_ext(st->fx, "interlook-lb", none, NULL) <= 0) goto fail;
    if (!fixture_wait_registered(st->fx, "ipam.ipalloc", 1, S_WAIT_MS) ||
        !fixture_wait_registered(st->fx, docker ? "provider.docker" : "provider.inject", 1,
                                 S_WAIT_MS) ||
        (lb && !fixture_wait_registered(st->fx, "lb.haproxy", 1, S_WAIT_MS)))
        goto fail;
    return 0;
fail:
    fprintf(stderr, "bench_lb: %s: the stack did not start; logs:\n", what);
    s_show_logs(st);
    s_stack_stop(st);
    return -1;
}

static int s_tell(s_stack_t *st, const char *line)
{
    return test_write_text(st->inject, line);
}

/* The master's reload count (`show proc`: "<pid> master <reloads> ..."); -1
 * when it does not answer. */
static long s_reloads(s_stack_t *st)
{
    char *out = haproxy_server_command(haproxy_server_master_socket(st->haproxy), "show proc");
    long reloads = -1;
    char *save = NULL;
    for (char *l = out ? strtok_r(out, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        long pid, r;
        char type[32];
        if (sscanf(l, "%ld %31s %ld", &pid, type, &r) == 3 && !strcmp(type, "master")) reloads = r;
    }
    free(out);
    return reloads;
}

/* An entry as the core's API has it: state "deployed", not in progress, and
 * its public_ip in ip (when not NULL). */
static bool s_deployed(s_stack_t *st, const char *name, char *ip, size_t iplen)
{
    char path[512];
    snprintf(path, sizeof path, "/services/%s", name);
    json_t *e = fixture_api_get(st->fx, path);
    const char *state = json_string_value(json_object_get(e, "state"));
    const char *vip =
        json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
    if (ip && vip && !*ip) snprintf(ip, iplen, "%s", vip);
    bool ok = state && !strcmp(state, "deployed") && !json_is_true(json_object_get(e, "wip"));
    json_decref(e);
    return ok;
}

/* HAProxy's own share of a change of frontends, timed apart with the
 * extension's own client (lb_haproxy): `haproxy -c` of the generated file and
 * a reload through the master until a new worker runs it. */
static void s_haproxy_costs(s_stack_t *st, int frontends)
{
    char file[600], err[2048];
    snprintf(file, sizeof file, "%s/interlook.cfg", fixture_dir(st->fx));
    lb_haproxy_t *h = lb_haproxy_new(haproxy_server_master_socket(st->haproxy),
                                     haproxy_server_runtime_socket(st->haproxy), 10000);
    int64_t check[S_COST_SAMPLES], reload[S_COST_SAMPLES];
    int bad = 0;
    for (int k = 0; k < S_COST_SAMPLES && h; k++) {
        int64_t t = s_now_us();
        bad += lb_haproxy_check("/usr/sbin/haproxy", file, err, sizeof err) != 0;
        check[k] = s_now_us() - t;
        t = s_now_us();
        bad += lb_haproxy_reload(h, err, sizeof err) != 0;
        reload[k] = s_now_us() - t;
    }
    lb_haproxy_destroy(&h);
    s_stats_t c = s_stats(check, S_COST_SAMPLES), r = s_stats(reload, S_COST_SAMPLES);
    printf("  HAProxy alone with %d frontends (%d each): `haproxy -c` p50 %.1f ms; reload (master "
           "CLI, until a new worker runs) p50 %.1f ms max %.1f ms; both %.1f ms%s\n",
           frontends, S_COST_SAMPLES, c.p50, r.p50, r.max, c.p50 + r.p50,
           bad ? " (some failed!)" : "");
}

/* Part 1: EVENT -> VIP answers ------------------------------------------------ */

typedef struct {
    int64_t *deployed; /* us from EVENT, per service */
    int64_t *http;     /* us from EVENT to the first 200 through the VIP; NULL: not polled */
    char vip0[64];     /* the first service's VIP */
} s_paced_t;

/* From t0 on, polls every millisecond: the API until the service is deployed
 * (its VIP learnt on the way) and, when http is wanted, the VIP until it
 * answers 200 with body. Returns 0, or -1 when not both within the bound. */
static int s_watch(s_stack_t *st, const char *name, const char *body, int64_t t0, int64_t *deployed,
                   int64_t *http, char *vip, size_t viplen)
{
    bool dep = false, ok = http == NULL;
    vip[0] = '\0';
    int64_t deadline = t0 + (int64_t)S_WAIT_MS * 1000;
    for (int64_t tick = t0; !(dep && ok) && s_now_us() < deadline; tick += 1000) {
        if (!dep && s_deployed(st, name, vip, viplen)) {
            dep = true;
            *deployed = s_now_us() - t0;
        }
        if (!ok && *vip) {
            char got[128];
            if (s_http_get(vip, 80, "/", S_HTTP_MS, got, sizeof got) == 200 && !strcmp(got, body)) {
                ok = true;
                *http = s_now_us() - t0;
            }
        }
        if (tick < s_now_us() - 1000) tick = s_now_us() - 1000; /* late: no catch-up burst */
        s_sleep_until(tick + 1000);
    }
    return dep && ok ? 0 : -1;
}

/* n services, one at a time, each to the backend at port; with the LB step
 * when res->http. */
static int s_paced(int n, bool lb, uint16_t port, const char *body, s_paced_t *res)
{
    s_stack_t st;
    if (s_stack_start(&st, lb ? "paced (lb)" : "paced (no lb)", &(s_stack_opts_t){.lb = lb}))
        return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char name[64], line[256], vip[64];
        snprintf(name, sizeof name, "lat-%04d", i);
        snprintf(line, sizeof line, "add %s 127.0.0.1:%u port=80\n", name, (unsigned)port);
        int64_t t0 = s_now_us();
        if (s_tell(&st, line) || s_watch(&st, name, body, t0, &res->deployed[i],
                                         lb ? &res->http[i] : NULL, vip, sizeof vip)) {
            fprintf(stderr, "bench_lb: %s not %s within %d ms; logs:\n", name,
                    lb ? "deployed and answering" : "deployed", S_WAIT_MS);
            s_show_logs(&st);
            rc = -1;
        }
        if (i == 0) snprintf(res->vip0, sizeof res->vip0, "%s", vip);
    }
    if (rc == 0 && lb) {
        /* Baseline: one request straight to the backend vs through HAProxy. */
        int64_t direct[S_DIRECT_SAMPLES], via[S_DIRECT_SAMPLES];
        int bad = 0;
        for (int k = 0; k < S_DIRECT_SAMPLES; k++) {
            int64_t t = s_now_us();
            bad += s_http_get("127.0.0.1", port, "/", S_HTTP_MS, NULL, 0) != 200;
            direct[k] = s_now_us() - t;
            t = s_now_us();
            bad += s_http_get(res->vip0, 80, "/", S_HTTP_MS, NULL, 0) != 200;
            via[k] = s_now_us() - t;
        }
        s_stats_t d = s_stats(direct, S_DIRECT_SAMPLES), v = s_stats(via, S_DIRECT_SAMPLES);
        long reloads = s_reloads(&st);
        printf("  one request (%d each, sequential): straight to the backend p50 %.3f ms p99 "
               "%.3f ms; through HAProxy (VIP %s) p50 %.3f ms p99 %.3f ms; ratio %.2fx%s\n",
               S_DIRECT_SAMPLES, d.p50, d.p99, res->vip0, v.p50, v.p99,
               d.p50 > 0 ? v.p50 / d.p50 : 0.0, bad ? " (some failed!)" : "");
        printf("  HAProxy reloads for the %d services added one at a time: %ld (one per new "
               "frontend expected)\n",
               n, reloads);
        s_haproxy_costs(&st, n);
    }
    s_stack_stop(&st);
    return rc;
}

static int s_part_paced(int n)
{
    uint16_t port = 0;
    pid_t backend = http_backend_start(NULL, "127.0.0.1", 0, "paced", &port);
    if (backend <= 0) return -1;
    s_paced_t lb = {.deployed = calloc((size_t)n, sizeof(int64_t)),
                    .http = calloc((size_t)n, sizeof(int64_t))};
    s_paced_t base = {.deployed = calloc((size_t)n, sizeof(int64_t))};
    printf("\n== 1. EVENT -> first HTTP 200 through the VIP, %d services added one at a time\n", n);
    int rc = s_paced(n, false, port, "paced", &base);
    if (rc == 0) rc = s_paced(n, true, port, "paced", &lb);
    if (rc == 0) {
        s_stats_t h = s_stats(lb.http, (size_t)n), d = s_stats(lb.deployed, (size_t)n),
                  b = s_stats(base.deployed, (size_t)n);
        printf("  EVENT -> VIP answers (200)  p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms   aim p50 < "
               "%.0f ms: %s (Traefik's Swarm provider polls every %d s)\n",
               h.p50, h.p99, h.max, S_TARGET_P50_MS, s_mark(h.p50 < S_TARGET_P50_MS),
               S_TRAEFIK_MS / 1000);
        printf("  EVENT -> deployed (core API) with lb.haproxy  p50 %7.1f ms  p99 %7.1f ms  max "
               "%7.1f ms\n",
               d.p50, d.p99, d.max);
        printf("  baseline: EVENT -> deployed without the LB step (provider.inject,ipam.ipalloc)  "
               "p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms\n",
               b.p50, b.p99, b.max);
        printf("  ratios (p50): VIP answers / deployed without LB %.1fx; deployed with LB / "
               "without %.1fx; the LB step adds %.1f ms\n",
               b.p50 > 0 ? h.p50 / b.p50 : 0.0, b.p50 > 0 ? d.p50 / b.p50 : 0.0, d.p50 - b.p50);
    }
    free(lb.deployed);
    free(lb.http);
    free(base.deployed);
    http_backend_stop(backend);
    return rc;
}

/* Lines of the file holding text; 0 when it cannot be read. */
static long s_log_count(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    char line[4096];
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, text) != NULL;
    if (f) fclose(f);
    return n;
}

/* Part 2: reloads per 1,000 services in a burst ------------------------------- */

typedef struct {
    s_stack_t *st;
    const char *prefix;
    int n;
    const char *state; /* "deployed" or "undeployed" */
    int have;
} s_count_t;

/* Every service of the burst is in that state (not in progress). */
static bool s_all_in(void *arg)
{
    s_count_t *c = arg;
    json_t *all = fixture_api_get(c->st->fx, "/services");
    int have = 0;
    const char *name;
    json_t *e;
    size_t plen = strlen(c->prefix);
    json_object_foreach(all, name, e)
    {
        const char *state = json_string_value(json_object_get(e, "state"));
        have += !strncmp(name, c->prefix, plen) && state && !strcmp(state, c->state) &&
                !json_is_true(json_object_get(e, "wip"));
    }
    json_decref(all);
    c->have = have;
    return have == c->n;
}

/* Sends lines (a burst, one write) and waits until all n are in state;
 * the master's reloads during it in *reloads, the time in *ms. */
static int s_burst(s_stack_t *st, const char *lines, const char *prefix, int n, const char *state,
                   long *reloads, double *ms)
{
    long r0 = s_reloads(st);
    s_count_t c = {.st = st, .prefix = prefix, .n = n, .state = state};
    int64_t t0 = s_now_us();
    if (s_tell(st, lines)) return -1;
    bool ok = test_wait(s_all_in, &c, S_WAIT_MS * 4);
    *ms = (double)(s_now_us() - t0) / 1000.0;
    *reloads = s_reloads(st) - r0;
    if (!ok) {
        fprintf(stderr, "bench_lb: burst: %d of %d %s within %d ms; logs:\n", c.have, n, state,
                S_WAIT_MS * 4);
        s_show_logs(st);
    }
    return ok ? 0 : -1;
}

/* One burst of n adds then n deletes on a stack whose lb.haproxy.credit is
 * credit (each round of the extension holds at most that many items). */
static int s_burst_run(int n, int credit, int port, bool costs)
{
    s_stack_t st;
    if (s_stack_start(&st, "burst", &(s_stack_opts_t){.lb = true, .credit = credit})) return -1;
    const char *prefix = "brs-";
    size_t cap = (size_t)n * 64 + 1;
    char *adds = malloc(cap), *dels = malloc(cap);
    size_t a = 0, d = 0;
    for (int i = 0; i < n; i++) {
        a += (size_t)snprintf(adds + a, cap - a, "add %s%04d 127.0.0.1:%d port=80\n", prefix, i,
                              port);
        d += (size_t)snprintf(dels + d, cap - d, "delete %s%04d\n", prefix, i);
    }
    long reloads = 0;
    double ms = 0;
    printf("  lb.haproxy.credit %d%s:\n", credit, credit == S_CREDIT ? " (the default)" : "");
    int rc = s_burst(&st, adds, prefix, n, "deployed", &reloads, &ms);
    if (rc == 0) {
        double per_k = (double)reloads * 1000.0 / n;
        /* At most `credit` items are in the extension's hands at once: a
         * round each, so ceil(n / credit) reloads at least. */
        int rounds = (n + credit - 1) / credit;
        printf("    %d services added: all deployed in %.0f ms (%.0f services/s); HAProxy reloads "
               "%ld = %.1f per 1,000 services (aim: far fewer than 1,000: %s; ceil(%d/credit) = "
               "%d)\n",
               n, ms, n / (ms / 1000.0), reloads, per_k, s_mark(reloads <= 1 || per_k < 100.0), n,
               rounds);
        /* Every frontend is there: each VIP answers HTTP (503: the target
         * refuses connections, on purpose). */
        json_t *all = fixture_api_get(st.fx, "/services");
        int answering = 0, asked = 0;
        const char *name;
        json_t *e;
        json_object_foreach(all, name, e)
        {
            const char *ip =
                json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
            if (!ip) continue;
            asked++;
            answering += s_http_get(ip, 80, "/", S_HTTP_MS, NULL, 0) > 0;
        }
        json_decref(all);
        printf("    frontends answering on their VIP afterwards: %d/%d%s\n", answering, asked,
               answering == n && asked == n ? "" : "  (MISS)");
        if (costs) {
            printf("  ");
            s_haproxy_costs(&st, n);
        }
        rc = s_burst(&st, dels, prefix, n, "undeployed", &reloads, &ms);
        if (rc == 0)
            printf("    %d services deleted in a burst: all undeployed in %.0f ms; HAProxy "
                   "reloads %ld = %.1f per 1,000\n",
                   n, ms, reloads, (double)reloads * 1000.0 / n);
    }
    free(adds);
    free(dels);
    s_stack_stop(&st);
    return rc;
}

/* A socket listening on 0.0.0.0 on a port the kernel chooses (without
 * SO_REUSEPORT): HAProxy cannot bind that port on any VIP while it is open,
 * which `haproxy -c` does not see (only the reload fails). -1 on failure. */
static int s_taken_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    socklen_t len = sizeof sa;
    if (*fd < 0 || bind(*fd, (struct sockaddr *)&sa, sizeof sa) || listen(*fd, 1) ||
        getsockname(*fd, (struct sockaddr *)&sa, &len)) {
        if (*fd >= 0) close(*fd);
        *fd = -1;
        return -1;
    }
    return ntohs(sa.sin_port);
}

/* One service whose frontend cannot bind in a burst of credit services: the
 * reloads until the others are deployed (one round fails, then the
 * extension applies the items of that round one by one). */
static int s_bad_burst(int target_port)
{
    int taken_fd = -1, taken = s_taken_port(&taken_fd);
    if (taken < 0) return -1;
    s_stack_t st;
    if (s_stack_start(&st, "burst with a bad service",
                      &(s_stack_opts_t){.lb = true, .bus = S_BUS_DEFAULTS})) {
        close(taken_fd);
        return -1;
    }
    const int n = S_CREDIT;
    size_t cap = (size_t)n * 64 + 1, a = 0;
    char *adds = malloc(cap);
    for (int i = 0; i < n - 1; i++)
        a += (size_t)snprintf(adds + a, cap - a, "add bad-%04d 127.0.0.1:%d port=80\n", i,
                              target_port);
    snprintf(adds + a, cap - a, "add bad-x 127.0.0.1:%d port=%d\n", target_port, taken);
    long reloads = 0;
    double ms = 0;
    const char *lblog = test_log_path("interlook-lb");
    long drops0 = s_log_count(lblog, "reconnecting");
    int rc = s_burst(&st, adds, "bad-0", n - 1, "deployed", &reloads, &ms);
    long drops = s_log_count(lblog, "reconnecting") - drops0;
    if (rc == 0)
        printf("  one service of a burst of %d cannot bind (port %d taken on 0.0.0.0; `haproxy -c` "
               "passes), core.bus %s: the %d others deployed in %.0f ms with %ld HAProxy "
               "reloads; interlook-lb lost the core %ld time(s) meanwhile (its loop busy past "
               "the bus liveness)\n",
               n, taken, S_BUS_DEFAULTS, n - 1, ms, reloads, drops);
    free(adds);
    s_stack_stop(&st);
    close(taken_fd);
    return rc;
}

static int s_part_burst(int n)
{
    printf("\n== 2. Reloads per 1,000 services added in a burst (%d `add` lines written at once, "
           "then %d `delete`)\n",
           n, n);
    int closed_fd = -1;
    int port = test_closed_port(&closed_fd);
    if (port < 0) return -1;
    int rc = s_burst_run(n, S_CREDIT, port, true);
    if (rc == 0 && n > S_CREDIT) rc = s_burst_run(n, n, port, false);
    if (rc == 0) rc = s_bad_burst(port);
    close(closed_fd);
    return rc;
}

/* Part 3: target changes under load ------------------------------------------ */

typedef struct {
    char vip[64];
    const char *path; /* "/" or "/delay/N": a request kept in flight */
    atomic_bool stop;
    long made, failed;
    char first_fail[256];
    int64_t *lat; /* us per request, up to cap */
    size_t lat_n, lat_cap;
} s_load_t;

static void *s_load_main(void *arg)
{
    s_load_t *l = arg;
    while (!atomic_load(&l->stop)) {
        char body[128] = "";
        int64_t t = s_now_us();
        int status = s_http_get(l->vip, 80, l->path, S_LOAD_HTTP_MS, body, sizeof body);
        int64_t took = s_now_us() - t;
        l->made++;
        bool ok =
            status == 200 && (!strcmp(body, "b1") || !strcmp(body, "b2") || !strcmp(body, "b3"));
        if (!ok) {
            if (l->failed == 0)
                snprintf(l->first_fail, sizeof l->first_fail,
                         "request %ld: status %d body '%s' after %.1f ms", l->made, status, body,
                         took / 1000.0);
            l->failed++;
        }
        if (l->lat_n < l->lat_cap) l->lat[l->lat_n++] = took;
    }
    return NULL;
}

typedef struct {
    s_stack_t *st;
    uint16_t port[3]; /* b1 b2 b3 */
    int weight[3];    /* wanted: 0 absent */
} s_change_t;

/* The service "chg" is deployed with exactly the wanted targets. */
static bool s_change_done(void *arg)
{
    s_change_t *c = arg;
    json_t *e = fixture_api_get(c->st->fx, "/services/chg");
    const char *state = json_string_value(json_object_get(e, "state"));
    bool ok = state && !strcmp(state, "deployed") && !json_is_true(json_object_get(e, "wip"));
    json_t *targets = json_object_get(json_object_get(e, "service"), "targets");
    int want = 0;
    for (int b = 0; b < 3; b++)
        want += c->weight[b] > 0;
    ok = ok && (int)json_array_size(targets) == want;
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t)
    {
        json_int_t port = json_integer_value(json_object_get(t, "port"));
        json_int_t weight = json_integer_value(json_object_get(t, "weight"));
        bool found = false;
        for (int b = 0; b < 3; b++)
            found = found || (port == c->port[b] && weight == c->weight[b]);
        ok = ok && found;
    }
    json_decref(e);
    return ok;
}

static int s_part_changes(int changes)
{
    printf("\n== 3. Requests failed during %d target changes under a bounded load (two clients "
           "of sequential requests: quick ones, and %s)\n",
           changes, S_SLOW_PATH);
    /* Each step: the weights of b1, b2, b3 (0: absent; 2, 3: the HOST:PORT repeated). */
    static const int plan[][3] = {{1, 1, 1}, {1, 2, 1}, {0, 1, 1}, {0, 1, 3},
                                  {1, 0, 1}, {1, 1, 0}, {2, 1, 0}, {1, 1, 1}};
    const int steps = (int)(sizeof plan / sizeof plan[0]);
    s_change_t c = {0};
    pid_t backend[3] = {0};
    static const char *const names[3] = {"b1", "b2", "b3"};
    int rc = 0;
    for (int b = 0; b < 3 && rc == 0; b++) {
        backend[b] = http_backend_start(NULL, "127.0.0.1", 0, names[b], &c.port[b]);
        if (backend[b] <= 0) rc = -1;
    }
    s_stack_t st;
    if (rc == 0 &&
        s_stack_start(&st, "changes", &(s_stack_opts_t){.lb = true, .lb_level = "debug"}))
        rc = -1;
    if (rc != 0) {
        for (int b = 0; b < 3; b++)
            if (backend[b] > 0) http_backend_stop(backend[b]);
        return -1;
    }
    c.st = &st;
    /* Two clients: quick requests, and slow ones (kept in flight, so that a
     * server drained away has requests on it). */
    s_load_t load[2] = {{.path = "/", .lat_cap = 1000000},
                        {.path = S_SLOW_PATH, .lat_cap = 100000}};
    for (int l = 0; l < 2; l++)
        load[l].lat = calloc(load[l].lat_cap, sizeof *load[l].lat);
    int64_t *change_us = calloc((size_t)changes, sizeof *change_us);
    char line[512], body[64];
    /* Start: b1 and b2. */
    c.weight[0] = c.weight[1] = 1;
    snprintf(line, sizeof line, "add chg 127.0.0.1:%u 127.0.0.1:%u port=80\n", c.port[0],
             c.port[1]);
    if (s_tell(&st, line) || !test_wait(s_change_done, &c, S_WAIT_MS) ||
        !s_deployed(&st, "chg", load[0].vip, sizeof load[0].vip) ||
        s_http_get(load[0].vip, 80, "/", S_HTTP_MS, body, sizeof body) != 200) {
        fprintf(stderr, "bench_lb: changes: the service never served; logs:\n");
        s_show_logs(&st);
        rc = -1;
    }
    snprintf(load[1].vip, sizeof load[1].vip, "%s", load[0].vip);
    char lblog[600];
    snprintf(lblog, sizeof lblog, "%s", test_log_path("interlook-lb"));
    long r0 = rc == 0 ? s_reloads(&st) : 0, deleted0 = s_log_count(lblog, "drained and deleted");
    pthread_t thread[2];
    int started = 0;
    for (int l = 0; l < 2 && rc == 0; l++) {
        if (pthread_create(&thread[l], NULL, s_load_main, &load[l]))
            rc = -1;
        else
            started++;
    }
    int64_t t0 = s_now_us();
    for (int k = 0; k < changes && rc == 0; k++) {
        const int *w = plan[k % steps];
        if (!memcmp(w, c.weight, sizeof c.weight)) w = plan[(k + 1) % steps];
        size_t len = (size_t)snprintf(line, sizeof line, "add chg");
        for (int b = 0; b < 3; b++) {
            c.weight[b] = w[b];
            for (int r = 0; r < w[b]; r++)
                len += (size_t)snprintf(line + len, sizeof line - len, " 127.0.0.1:%u", c.port[b]);
        }
        snprintf(line + len, sizeof line - len, " port=80\n");
        int64_t t = s_now_us();
        if (s_tell(&st, line) || !test_wait(s_change_done, &c, S_WAIT_MS)) {
            fprintf(stderr, "bench_lb: change %d (%s) not deployed within %d ms; logs:\n", k, line,
                    S_WAIT_MS);
            s_show_logs(&st);
            rc = -1;
        }
        change_us[k] = s_now_us() - t;
        /* Every other change is held a while: a server removed is then
         * deleted once drained (and added anew later), not only drained and
         * taken back. Pacing, not a wait for a condition. */
        if (k % 2) s_sleep_until(s_now_us() + S_HOLD_MS * 1000);
    }
    double phase_ms = (double)(s_now_us() - t0) / 1000.0;
    for (int l = 0; l < 2; l++)
        atomic_store(&load[l].stop, true);
    for (int l = 0; l < started; l++)
        pthread_join(thread[l], NULL);
    long reloads = s_reloads(&st) - r0;
    /* The log is written asynchronously: the deletes of the last hold may come late. */
    long deleted = s_log_count(lblog, "drained and deleted") - deleted0;
    if (rc == 0) {
        s_stats_t ch = s_stats(change_us, (size_t)changes),
                  rq = s_stats(load[0].lat, load[0].lat_n),
                  sl = s_stats(load[1].lat, load[1].lat_n);
        printf("  %d target changes in %.0f ms (every other one held %d ms), EVENT -> deployed "
               "p50 %.1f ms p99 %.1f ms; servers drained and then deleted: %ld\n",
               changes, phase_ms, S_HOLD_MS, ch.p50, ch.p99, deleted);
        long made = load[0].made + load[1].made, failed = load[0].failed + load[1].failed;
        printf("  requests made %ld (%ld quick, %ld of %s), failed %ld (target 0: %s)\n", made,
               load[0].made, load[1].made, S_SLOW_PATH, failed, s_mark(failed == 0));
        for (int l = 0; l < 2; l++)
            if (load[l].failed)
                printf("    first failure (%s): %s\n", load[l].path, load[l].first_fail);
        printf("  request time through HAProxy during the changes: quick p50 %.3f ms p99 %.3f ms "
               "max %.1f ms; slow p50 %.1f ms max %.1f ms\n",
               rq.p50, rq.p99, rq.max, sl.p50, sl.max);
        printf("  HAProxy reloads during the phase: %ld (target 0: the runtime API: %s)\n", reloads,
               s_mark(reloads == 0));
    }
    for (int l = 0; l < 2; l++)
        free(load[l].lat);
    free(change_us);
    s_stack_stop(&st);
    for (int b = 0; b < 3; b++)
        http_backend_stop(backend[b]);
    return rc;
}

/* Part 4: docker run -> VIP answers ------------------------------------------ */

static int s_part_docker(int n)
{
    printf("\n== 4. docker run -> first HTTP 200 through the VIP (interlook-docker, %d "
           "containers one at a time)\n",
           n);
    if (test_sh("docker info >/dev/null 2>&1") != 0 ||
        (test_sh("docker image inspect interlook-test:latest >/dev/null 2>&1") != 0 &&
         test_sh("tests/support/docker-image.sh >/dev/null") != 0)) {
        fprintf(stderr, "bench_lb: docker: no Docker daemon or no image interlook-test:latest\n");
        return -1;
    }
    s_stack_t st;
    if (s_stack_start(&st, "docker", &(s_stack_opts_t){.lb = true, .docker = true})) return -1;
    int64_t *run_us = calloc((size_t)n, sizeof *run_us), *http_us = calloc((size_t)n, 8),
            *dep_us = calloc((size_t)n, 8);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char name[64], body[64], vip[64];
        snprintf(name, sizeof name, "lbb%d-%02d", (int)getpid(), i);
        snprintf(body, sizeof body, "c%02d", i);
        int64_t t0 = s_now_us();
        if (test_sh("docker run -d --name %s -l interlook.test=%d -l interlook.bench%d=1 -l "
                    "interlook.name=%s "
                    "-l interlook.hosts=%s.example.test -l interlook.port=80 -p 127.0.0.1::80 "
                    "interlook-test:latest sh -c 'echo %s > /www/index.html; exec httpd -f -p "
                    "80 -h /www' >/dev/null",
                    name, (int)getpid(), (int)getpid(), name, name, body)) {
            rc = -1;
            break;
        }
        run_us[i] = s_now_us() - t0;
        if (s_watch(&st, name, body, t0, &dep_us[i], &http_us[i], vip, sizeof vip)) {
            fprintf(stderr, "bench_lb: container %s: the VIP did not answer within %d ms; logs:\n",
                    name, S_WAIT_MS);
            s_show_logs(&st);
            rc = -1;
        }
    }
    test_sh("docker ps -aq --filter label=interlook.test=%d | xargs -r docker rm -f >/dev/null "
            "2>&1",
            (int)getpid());
    if (rc == 0) {
        int64_t *share = calloc((size_t)n, sizeof *share);
        for (int i = 0; i < n; i++)
            share[i] = http_us[i] - run_us[i];
        s_stats_t h = s_stats(http_us, (size_t)n), r = s_stats(run_us, (size_t)n),
                  d = s_stats(dep_us, (size_t)n), a = s_stats(share, (size_t)n);
        printf("  docker run -> VIP answers (200)  p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms "
               "(Traefik's Swarm provider: up to %d s)\n",
               h.p50, h.p99, h.max, S_TRAEFIK_MS / 1000);
        printf("  docker run -> deployed (core API)  p50 %7.1f ms  p99 %7.1f ms\n", d.p50, d.p99);
        printf("  baseline: `docker run -d` itself returned after p50 %7.1f ms  p99 %7.1f ms\n",
               r.p50, r.p99);
        printf("  interlook's share (docker run returned -> VIP answers)  p50 %7.1f ms  p99 %7.1f "
               "ms   aim p50 < %.0f ms: %s\n",
               a.p50, a.p99, S_TARGET_P50_MS, s_mark(a.p50 < S_TARGET_P50_MS));
        free(share);
    }
    free(run_us);
    free(http_us);
    free(dep_us);
    s_stack_stop(&st);
    return rc;
}

/* main ------------------------------------------------------------------------ */

static int s_count_arg(const char *text, int min, int max, int *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < min || v > max) return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char *argv[])
{
    int n = 100, burst = 1000, changes = 100, docker = 0;
    for (int i = 1; i < argc; i++) {
        int bad = 0;
        if (!strcmp(argv[i], "--burst") && i + 1 < argc)
            bad = s_count_arg(argv[++i], 0, S_MAX_COUNT, &burst);
        else if (!strcmp(argv[i], "--changes") && i + 1 < argc)
            bad = s_count_arg(argv[++i], 0, 100000, &changes);
        else if (!strcmp(argv[i], "--docker") && i + 1 < argc)
            bad = s_count_arg(argv[++i], 0, 100, &docker);
        else
            bad = s_count_arg(argv[i], 0, S_MAX_COUNT, &n);
        if (bad) {
            fprintf(stderr,
                    "usage: bench_lb [N] [--burst B] [--changes C] [--docker D]\n"
                    "  N services one at a time 0..%d (default 100), B services in a burst "
                    "0..%d (default 1000),\n  C target changes (default 100), D containers "
                    "0..100 (default 0); 0 skips the part\n",
                    S_MAX_COUNT, S_MAX_COUNT);
            return 2;
        }
    }
    if (access("/usr/sbin/haproxy", X_OK)) {
        fprintf(stderr, "bench_lb: /usr/sbin/haproxy not found\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* haproxy_server_command write()s to a master socket that a reload may
     * have closed: an error to see, not a signal to die of. */
    signal(SIGPIPE, SIG_IGN);
    printf("bench_lb: HAProxy 2.6 master-worker + interlook-lb, VIP pool 127.%u.16.0/20 on "
           "loopback, backends on 127.0.0.1\n",
           s_pool_octet());
    int rc = 0;
    if (n > 0 && s_part_paced(n)) rc = 1;
    if (burst > 0 && s_part_burst(burst)) rc = 1;
    if (changes > 0 && s_part_changes(changes)) rc = 1;
    if (docker > 0 && s_part_docker(docker)) rc = 1;
    /* The processes' logs of this run (test_log_path) are kept when a part failed. */
    static const char *const bins[] = {"interlookd", "interlook-lb", "interlook-ipalloc",
                                       "interlook-inject", "interlook-docker"};
    for (size_t i = 0; rc == 0 && i < sizeof bins / sizeof bins[0]; i++)
        unlink(test_log_path(bins[i]));
    return rc;
}
