/* chaos: the chaos drill (issue 15 §2, README "Chaos drills"). It runs real
 * stacks under a steady load of services added and removed, injects faults at
 * random moments (kill -9 of a random process, restarted at once; dockerd
 * restarts; a full disk), and after each fault stops changing anything and
 * waits (bounded) until the stack has converged again:
 *   - every service of its model deployed (state and expected_state), every
 *     removed one undeployed or gone;
 *   - no two deployed services with one IP (checked at every look, not only
 *     at the end: an IP held twice for a moment is already a failure);
 *   - `interlook-ipalloc --list` equal to the core's deployed name -> IP set.
 * Meanwhile it follows the core's "changes" publications (and every API
 * answer): a service its model holds that is seen expected "undeployed" is a
 * spurious deletion.
 *
 * Part "kills": interlookd (default bus timing: heartbeat 1000 ms, liveness 3),
 * workflow provider.inject,ipam.ipalloc,provisioner.echo, two allocators on
 * one db file, two echo instances, interlook-inject fed on its stdin; the
 * core's var dir and the db on a tmpfs of the drill's own, filled up by the
 * full-disk fault (part "disk"). Part "docker": the same with the real
 * interlook-docker, labelled containers (--restart always), dockerd restarts.
 * Part "link": as "kills", but one allocator and one echo run in a network
 * namespace of the drill's own, behind a veth pair whose link is cut under
 * load and restored (the drill then runs in the other namespace, with the
 * core). Part "steps": workflow provider.inject,ipam.ipalloc,dns.rfc2136,
 * lb.haproxy,provisioner.echo against a real BIND and HAProxy, VIPs on
 * loopback, targets a real http backend; kills of named, haproxy,
 * interlook-dns, interlook-lb, the core and an allocator; each service's name
 * must resolve at BIND to its IP and HAProxy answer the backend's page on it.
 *
 * It is a tool, not a timed test: it prints figures; it fails (exit 1) only on
 * a correctness failure (lost entry, duplicate IP, spurious deletion, failed
 * check, convergence bound hit), never on speed. Exit 2: bad usage or a stack
 * that could not be set up. Everything it starts (processes, the mount,
 * containers, the namespaces, the servers) is removed on every exit path,
 * SIGINT/SIGTERM included. */
#define _GNU_SOURCE /* setns */
#include "broker/ilp_pub.h"
#include "common/codec.h"
#include "tests/support/dns_server.h"
#include "tests/support/fixture.h"
#include "tests/support/haproxy_server.h"
#include "tests/support/http_backend.h"
#include "tests/support/testutil.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

#define S_MAX_PROCS  8
#define S_LOOK_MS    100   /* between two looks at the core while converging */
#define S_START_MS   30000 /* bound of a stack's first start */
#define S_DOCKERD_MS 60000 /* bound of dockerd going down, and of coming up */
#define S_TMPFS_SIZE "16m"
#define S_TARGET     "127.0.0.1:8080" /* a target of the injected services (never contacted) */
#define S_LIST_BYTES (4 << 20)
#define S_DETAIL     1536
#define S_DOCKER_LOG "/tmp/interlook-test-dockerd.log"
#define S_IP         "/usr/sbin/ip"
/* RFC 2544's benchmarking range, inside the drill's namespaces only */
#define S_LINK_NET "198.18.78"
#define S_ZONE     "chaos.test"
#define S_PAGE     "chaos-page" /* the http backend's answer, through HAProxy */

/* K_UP is no fault of its own: a dockerd restart's time from the daemon
 * answering again to converged (its start-up is Docker's, not ours). */
/* K_LINKUP likewise: a link cut's time from its restore to converged with the
 * cut instances back. */
typedef enum {
    K_CORE,
    K_ALLOC,
    K_ECHO,
    K_PROVIDER,
    K_DOCKERD,
    K_DISK,
    K_UP,
    K_LINK,
    K_LINKUP,
    K_NAMED,
    K_HAPROXY,
    K_DNS,
    K_LB,
    K_NKINDS
} s_kind_t;
static const char *const s_kind_name[K_NKINDS] = {
    "core", "allocator", "echo",  "provider", "dockerd", "disk", "dockerd-up",
    "link", "link-up",   "named", "haproxy",  "dns",     "lb"};

/* The kinds that are a second figure of another fault, not a fault. */
static bool s_kind_after(int k)
{
    return k == K_UP || k == K_LINKUP;
}

/* Settings (environment; --short changes the defaults). */
typedef struct {
    bool shrt;
    int kills, docker_kills, dockerd_restarts, containers, disk, services, bound_s, links;
    int step_kills, step_services;
    int gap_min_ms, gap_max_ms; /* load between two faults */
    bool part_kills, part_docker, part_disk, part_link, part_steps;
    uint64_t seed;
} s_settings_t;

typedef struct {
    s_kind_t kind;
    char bin[64];
    char argbuf[8][600];
    const char *argv[9];
    char log[700];
    pid_t pid;
    int in_fd; /* interlook-inject's standard input, else -1 */
    bool cut;  /* part link: in the namespace whose link is cut */
} s_proc_t;

typedef struct {
    char name[64];
    bool present; /* in the model: exists (a service injected, a container) */
    bool base;    /* a container of the docker part's fixed set: never removed by the load */
    char ip[64];  /* part steps: its IP when last seen deployed */
    bool gone_ok; /* part steps: removed, and seen gone from BIND and HAProxy */
} s_svc_t;

typedef struct {
    const char *name;
    int faults[K_NKINDS];
    int64_t *conv[K_NKINDS]; /* convergence times (ms) of the faults that converged */
    int nconv[K_NKINDS];
    int bound_hit, lost, dup_ips, spurious, checks_failed;
    long adds, deletes;
    long changes;       /* state changes read from the core's publications */
    int held[K_NKINDS]; /* kills of an instance that held work in flight */
} s_stats_t;

typedef struct {
    const char *name;
    bool docker;
    bool link;     /* part link: half the extensions behind a link that is cut */
    int want_inst; /* when not 0: the instances of each extension step to be registered */
    bool steps;    /* part steps: DNS (BIND) and LB (HAProxy) steps in the workflow */
    int nservices; /* the load keeps about this many services present */
    dns_server_t *dns;
    haproxy_server_t *haproxy;
    pid_t backend;
    uint16_t backend_port;
    fixture_t *fx;
    char config[700], api[200];
    s_proc_t procs[S_MAX_PROCS];
    int nprocs;
    zsock_t *sub;
    s_svc_t **svcs;
    size_t nsvcs, cap, npresent;
    zhashx_t *index;    /* name -> s_svc_t* */
    zhashx_t *spurious; /* names seen deleted while present (counted once) */
    zhashx_t *dups;     /* "ip name name" seen (counted once) */
    zhashx_t *lost;     /* names not deployed when a bound ran out (counted once) */
    zhashx_t *known;    /* names of the problems a bound ran out on (see s_known) */
    long counter;
    char mount[700];
    bool mounted;
    char label[64];        /* docker: the label key of this run's containers */
    char last_rites[1600]; /* shell command removing what is left (see s_last_rites) */
    s_stats_t st;
} s_part_t;

static s_settings_t s_set;
static uint64_t s_rng;
static s_part_t *s_parts[4];
/* Part link: the whole drill runs in a network namespace of its own (A: the
 * core, one allocator, one echo, the provider, the drill itself, so that it
 * reaches the core's ports); one allocator and one echo run in B, wired to A
 * by a veth pair: that link is cut. s_root_net is the namespace the drill
 * started in (dockerd is started there). */
static char s_ns_a[32], s_ns_b[32];
static int s_root_net = -1;
static char *s_listbuf;
static bool s_interrupted(void)
{
    return zsys_interrupted != 0;
}

/* Helpers ------------------------------------------------------------------ */

static uint64_t s_rand(void)
{
    /* xorshift64*: a sequence that CHAOS_SEED replays */
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 0x2545F4914F6CDD1DULL;
}

static int s_rand_in(int lo, int hi)
{
    return hi <= lo ? lo : lo + (int)(s_rand() % (uint64_t)(hi - lo + 1));
}

static int s_env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 0 || n > 1000000) {
        fprintf(stderr, "chaos: %s=%s: not a count (0..1000000)\n", name, v);
        exit(2);
    }
    return (int)n;
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank quantile of n sorted samples. */
static int64_t s_quantile(const int64_t *v, int n, double q)
{
    if (n <= 0) return -1;
    int rank = (int)(q * n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}

static void s_detail(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_detail(char *buf, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used >= S_DETAIL - 64) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(buf + used, S_DETAIL - used, fmt, args);
    va_end(args);
}

/* Processes ------------------------------------------------------------------ */

static s_proc_t *s_proc_add(s_part_t *p, s_kind_t kind, const char *bin, const char *log,
                            const char *const *args)
{
    s_proc_t *proc = &p->procs[p->nprocs++];
    memset(proc, 0, sizeof *proc);
    proc->kind = kind;
    proc->in_fd = -1;
    snprintf(proc->bin, sizeof proc->bin, "%s", bin);
    snprintf(proc->log, sizeof proc->log, "%s/%s", fixture_dir(p->fx), log);
    int n = 0;
    for (; args && args[n] && n < 8; n++) {
        snprintf(proc->argbuf[n], sizeof proc->argbuf[n], "%s", args[n]);
        proc->argv[n] = proc->argbuf[n];
    }
    proc->argv[n] = NULL;
    return proc;
}

static int s_proc_start(s_proc_t *proc)
{
    proc->pid = test_spawn_log(proc->bin, proc->argv, proc->log,
                               !strcmp(proc->bin, "interlook-inject") ? &proc->in_fd : NULL);
    if (proc->pid <= 0) fprintf(stderr, "chaos: cannot start %s: %s\n", proc->bin, strerror(errno));
    return proc->pid > 0 ? 0 : -1;
}

static void s_proc_kill9(s_proc_t *proc)
{
    if (proc->in_fd >= 0) close(proc->in_fd);
    proc->in_fd = -1;
    if (proc->pid <= 0) return;
    kill(proc->pid, SIGKILL);
    waitpid(proc->pid, NULL, 0);
    proc->pid = -1;
}

static void s_proc_stop(s_proc_t *proc)
{
    if (proc->in_fd >= 0) close(proc->in_fd);
    proc->in_fd = -1;
    if (proc->pid > 0 && waitpid(proc->pid, NULL, WNOHANG) == 0)
        test_stop(proc->pid, SIGTERM, 5000);
    if (proc->pid > 0 && waitpid(proc->pid, NULL, WNOHANG) == 0)
        test_stop(proc->pid, SIGKILL, 5000);
    proc->pid = -1;
}

static s_proc_t *s_proc_of(s_part_t *p, s_kind_t kind)
{
    for (int i = 0; i < p->nprocs; i++)
        if (p->procs[i].kind == kind) return &p->procs[i];
    return NULL;
}

/* The model ------------------------------------------------------------------ */

static s_svc_t *s_svc_new(s_part_t *p, const char *name, bool base)
{
    if (p->nsvcs == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->svcs = realloc(p->svcs, p->cap * sizeof *p->svcs);
        if (!p->svcs) abort();
    }
    s_svc_t *svc = calloc(1, sizeof *svc);
    if (!svc) abort();
    snprintf(svc->name, sizeof svc->name, "%s", name);
    svc->present = true;
    svc->base = base;
    p->svcs[p->nsvcs++] = svc;
    zhashx_insert(p->index, svc->name, svc);
    p->npresent++;
    return svc;
}

/* A random present service the load may remove, NULL when none. */
static s_svc_t *s_svc_pick(s_part_t *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nsvcs; i++)
        if (p->svcs[i]->present && !p->svcs[i]->base) n++;
    if (!n) return NULL;
    size_t k = (size_t)(s_rand() % n);
    for (size_t i = 0; i < p->nsvcs; i++)
        if (p->svcs[i]->present && !p->svcs[i]->base && k-- == 0) return p->svcs[i];
    return NULL;
}

static void s_spurious(s_part_t *p, const char *name, const char *how)
{
    if (zhashx_lookup(p->spurious, name)) return;
    zhashx_insert(p->spurious, name, (void *)1);
    p->st.spurious++;
    printf("chaos: [%s] SPURIOUS DELETION: %s (%s) while it exists\n", p->name, name, how);
    fflush(stdout);
}

/* The core's publications ------------------------------------------------------ */

static void s_on_change(s_part_t *p, const msgpack_object *map)
{
    const msgpack_object *svc = il_codec_map_get(map, "service");
    const msgpack_object *name = svc ? il_codec_map_get(svc, "name") : NULL;
    const msgpack_object *expected = il_codec_map_get(map, "expected_state");
    const msgpack_object *state = il_codec_map_get(map, "state");
    if (!name || name->type != MSGPACK_OBJECT_STR || !expected ||
        expected->type != MSGPACK_OBJECT_STR)
        return;
    char text[128], how[160];
    snprintf(text, sizeof text, "%.*s", (int)name->via.str.size, name->via.str.ptr);
    s_svc_t *s = zhashx_lookup(p->index, text);
    if (!s || !s->present) return;
    if (expected->via.str.size == 10 && !memcmp(expected->via.str.ptr, "undeployed", 10)) {
        snprintf(how, sizeof how, "published state %.*s, expected undeployed",
                 state && state->type == MSGPACK_OBJECT_STR ? (int)state->via.str.size : 1,
                 state && state->type == MSGPACK_OBJECT_STR ? state->via.str.ptr : "?");
        s_spurious(p, text, how);
    }
}

/* Reads what the SUB socket holds, waiting at most ms for it. */
static void s_pump(s_part_t *p, int ms)
{
    int64_t until = zclock_mono() + ms;
    for (;;) {
        int64_t left = until - zclock_mono();
        zmq_pollitem_t item = {zsock_resolve(p->sub), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, left > 0 ? (long)left : 0) > 0) {
            zmsg_t *msg;
            while ((msg = zmsg_recv(p->sub))) {
                char err[256], *topic = NULL;
                msgpack_unpacked body;
                msgpack_unpacked_init(&body);
                zframe_t *frame = ilp_pub_decode(msg, &topic, &body, err, sizeof err);
                if (frame && !strcmp(topic, ILP_TOPIC_CHANGES))
                    for (uint32_t i = 0; i < body.data.via.array.size; i++) {
                        p->st.changes++;
                        s_on_change(p, &body.data.via.array.ptr[i]);
                    }
                msgpack_unpacked_destroy(&body);
                zframe_destroy(&frame);
                free(topic);
                zmsg_destroy(&msg);
            }
        }
        if (zclock_mono() >= until || s_interrupted()) return;
    }
}

/* Checks ------------------------------------------------------------------------ */

typedef struct {
    int missing;   /* present in the model, not deployed */
    int lingering; /* removed from the model, not undeployed */
    int dups;      /* IPs held by two deployed services (this look) */
    bool list_ok;
    bool final; /* the last look of a bound: what is missing is lost */
    char detail[S_DETAIL];
} s_check_t;

static const char *s_str(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "-";
}

/* A problem a bound ran out on is reported once: later looks leave that
 * name aside, so that the faults after it are still measured. */
static bool s_known(s_part_t *p, const char *name)
{
    return zhashx_lookup(p->known, name) != NULL;
}

static void s_note(s_part_t *p, const s_check_t *c, const char *name)
{
    if (c->final && !s_known(p, name)) zhashx_insert(p->known, name, (void *)1);
}

/* The allocators' file, as interlook-ipalloc --list prints it, against the
 * core's deployed name -> IP set: equal, or (subset) holding at least every
 * deployed service with its IP (allocations on their way are listed too). */
static bool s_list_matches(s_part_t *p, json_t *deployed, s_check_t *c, bool subset)
{
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "'%s' -c '%s' --list 2>>'%s/list.log'", test_bin("interlook-ipalloc"),
             p->config, fixture_dir(p->fx));
    int rc = test_run(s_listbuf, S_LIST_BYTES, "%s", cmd);
    if (rc != 0) {
        s_detail(c->detail, " ipalloc --list exited %d;", rc);
        return false;
    }
    json_t *listed = json_object();
    int wrong = 0;
    char *save = NULL;
    for (char *line = strtok_r(s_listbuf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[256], ip[80];
        if (!strncmp(line, "SERVICE ", 8) || strstr(line, " allocations in ")) continue;
        if (sscanf(line, "%255s %79s", name, ip) != 2) continue;
        json_object_set_new(listed, name, json_string(ip));
        const char *want = json_string_value(json_object_get(deployed, name));
        if (s_known(p, name) || (subset && !want) || (want && !strcmp(want, ip))) continue;
        s_note(p, c, name);
        if (wrong++ < 5)
            s_detail(c->detail, " db holds %s -> %s, core: %s;", name, ip,
                     want ? want : "not deployed");
    }
    const char *name;
    json_t *ip;
    json_object_foreach(deployed, name, ip)
    {
        if (s_known(p, name) || json_object_get(listed, name)) continue;
        s_note(p, c, name);
        if (wrong++ < 5)
            s_detail(c->detail, " core deploys %s -> %s, not in the db;", name,
                     json_string_value(ip));
    }
    json_decref(listed);
    return wrong == 0;
}

/* Docker part: every container of the model runs, and the core's target
 * for it is the host port Docker publishes its port 80 on now (it changes
 * when dockerd restarts the container): the provider caught up. */
static bool s_ports_match(s_part_t *p, json_t *all, s_check_t *c)
{
    int rc = test_run(s_listbuf, S_LIST_BYTES,
                      "docker ps --filter label=%s --format '{{.Names}} {{.Ports}}' 2>/dev/null",
                      p->label);
    if (rc != 0) {
        s_detail(c->detail, " docker ps exited %d;", rc);
        return false;
    }
    json_t *ports = json_object();
    char *save = NULL;
    for (char *line = strtok_r(s_listbuf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        const char *at = sp ? strstr(sp, "127.0.0.1:") : NULL;
        if (!sp || !at) continue;
        *sp = 0;
        json_object_set_new(ports, line, json_integer(atoi(at + 10)));
    }
    int wrong = 0;
    for (size_t i = 0; i < p->nsvcs; i++) {
        s_svc_t *s = p->svcs[i];
        if (!s->present || s_known(p, s->name)) continue;
        json_t *svc = json_object_get(json_object_get(all, s->name), "service");
        json_int_t have = json_integer_value(
            json_object_get(json_array_get(json_object_get(svc, "targets"), 0), "port"));
        json_int_t want = json_integer_value(json_object_get(ports, s->name));
        if (want && have == want) continue;
        s_note(p, c, s->name);
        if (wrong++ < 5)
            s_detail(c->detail, " %s: core's target port %lld, Docker publishes %s%lld;", s->name,
                     (long long)have, want ? "" : "nothing (not running) ", (long long)want);
    }
    json_decref(ports);
    return wrong == 0;
}

/* Part link, after the restore: every instance registered again (the cut
 * ones re-HELLO once their link is back). */
static bool s_instances(s_part_t *p, s_check_t *c)
{
    json_t *ext = test_get_json(p->api, "/extensions");
    size_t alloc = json_array_size(json_object_get(ext, "ipam.ipalloc"));
    size_t echo = json_array_size(json_object_get(ext, "provisioner.echo"));
    json_decref(ext);
    if (alloc >= (size_t)p->want_inst && echo >= (size_t)p->want_inst) return true;
    s_detail(c->detail, " registered: %zu allocator(s), %zu echo(s), want %d each;", alloc, echo,
             p->want_inst);
    return false;
}

/* GET / from ip:80 (1 s bound): 1 when HAProxy answers the backend's page,
 * 0 when the connection is refused, -1 otherwise (another answer, none). */
static int s_http_page(const char *ip)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(80)};
    if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int rc = -1;
    int64_t until = zclock_mono() + 1000;
    struct pollfd pfd = {fd, POLLOUT, 0};
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (errno == ECONNREFUSED) rc = 0;
        if (errno != EINPROGRESS) goto done;
        if (poll(&pfd, 1, 1000) != 1) goto done;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == ECONNREFUSED) rc = 0;
        if (err) goto done;
    }
    static const char req[] = "GET / HTTP/1.0\r\nHost: chaos\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) goto done;
    char buf[2048];
    size_t used = 0;
    pfd.events = POLLIN;
    while (used < sizeof buf - 1) {
        int64_t left = until - zclock_mono();
        if (left <= 0 || poll(&pfd, 1, (int)left) != 1) break;
        ssize_t n = recv(fd, buf + used, sizeof buf - 1 - used, 0);
        if (n <= 0) break;
        used += (size_t)n;
    }
    buf[used] = 0;
    rc = strstr(buf, " 200 ") && strstr(buf, S_PAGE) ? 1 : -1;
done:
    close(fd);
    return rc;
}

/* Part steps: every deployed service's name resolves at BIND to its IP and
 * HAProxy answers the backend's page on its VIP:80; every removed one is
 * NXDOMAIN and refused on its last VIP (unless that VIP is another
 * deployed service's now). A removed one seen gone is not asked again. */
static bool s_steps_match(s_part_t *p, json_t *all, json_t *deployed, s_check_t *c)
{
    zhashx_t *vips = zhashx_new();
    const char *key;
    json_t *ipj;
    json_object_foreach(deployed, key, ipj)
    {
        zhashx_insert(vips, json_string_value(ipj), (void *)1);
    }
    int wrong = 0;
    for (size_t i = 0; i < p->nsvcs; i++) {
        s_svc_t *s = p->svcs[i];
        if (s_known(p, s->name) || (!s->present && (s->gone_ok || !s->ip[0]))) continue;
        char fqdn[128], answer[256];
        snprintf(fqdn, sizeof fqdn, "%s." S_ZONE, s->name);
        int rcode = dns_server_query(p->dns, fqdn, "A", answer, sizeof answer);
        answer[strcspn(answer, "\n")] = 0;
        if (s->present) {
            const char *ip = json_string_value(json_object_get(
                json_object_get(json_object_get(all, s->name), "service"), "public_ip"));
            if (!ip) continue; /* s_check said so already */
            snprintf(s->ip, sizeof s->ip, "%s", ip);
            int page = rcode == DNS_SERVER_NOERROR && !strcmp(answer, ip) ? s_http_page(ip) : 1;
            if (rcode == DNS_SERVER_NOERROR && !strcmp(answer, ip) && page == 1) continue;
            s_note(p, c, s->name);
            if (wrong++ < 5) {
                if (rcode != DNS_SERVER_NOERROR || strcmp(answer, ip))
                    s_detail(c->detail, " %s: BIND answers rcode %d '%s', not %s;", fqdn, rcode,
                             answer, ip);
                else
                    s_detail(c->detail, " %s:80: HAProxy %s;", ip,
                             page == 0 ? "refuses" : "does not answer the page");
            }
        } else {
            int page = zhashx_lookup(vips, s->ip) ? 0 : s_http_page(s->ip);
            if (rcode == DNS_SERVER_NXDOMAIN && page == 0) {
                s->gone_ok = true;
                continue;
            }
            s_note(p, c, s->name);
            if (wrong++ < 5)
                s_detail(c->detail, " removed %s: BIND rcode %d '%s', HAProxy on %s:80 %s;", fqdn,
                         rcode, answer, s->ip,
                         page == 0   ? "refuses"
                         : page == 1 ? "answers"
                                     : "no answer");
        }
    }
    zhashx_destroy(&vips);
    return wrong == 0;
}

/* One look at the core: true when everything checks. Spurious deletions and
 * duplicate IPs seen are counted in the stats whatever it returns. */
static bool s_check(s_part_t *p, s_check_t *c, bool final)
{
    memset(c, 0, sizeof *c);
    c->final = final;
    json_t *all = test_get_json(p->api, "/services");
    if (!all) {
        s_detail(c->detail, " the core's API does not answer;");
        c->missing = (int)p->npresent;
        for (size_t i = 0; final && i < p->nsvcs; i++)
            if (p->svcs[i]->present && !zhashx_lookup(p->lost, p->svcs[i]->name)) {
                zhashx_insert(p->lost, p->svcs[i]->name, (void *)1);
                p->st.lost++;
            }
        return false;
    }
    for (size_t i = 0; i < p->nsvcs; i++) {
        s_svc_t *s = p->svcs[i];
        json_t *e = json_object_get(all, s->name);
        if (s_known(p, s->name)) continue;
        const char *state = s_str(e, "state"), *expected = s_str(e, "expected_state");
        bool wip = json_is_true(json_object_get(e, "wip"));
        if (s->present) {
            if (e && !strcmp(expected, "undeployed"))
                s_spurious(p, s->name, "API: expected undeployed");
            const char *ip =
                json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
            if (!e || strcmp(state, "deployed") || strcmp(expected, "deployed") || wip || !ip) {
                if (c->final && !zhashx_lookup(p->lost, s->name)) {
                    zhashx_insert(p->lost, s->name, (void *)1);
                    p->st.lost++;
                }
                s_note(p, c, s->name);
                if (c->missing++ < 5)
                    s_detail(c->detail, " %s: %s%s (expected %s)%s%s;", s->name,
                             e ? state : "no entry", wip ? " in progress" : "", e ? expected : "-",
                             e ? " error: " : "", e ? s_str(e, "error") : "");
            }
        } else if (e && (strcmp(state, "undeployed") || wip)) {
            s_note(p, c, s->name);
            if (c->lingering++ < 5)
                s_detail(c->detail, " removed %s still %s%s (expected %s);", s->name, state,
                         wip ? " in progress" : "", expected);
        }
    }
    json_t *deployed = json_object(); /* name -> ip */
    zhashx_t *by_ip = zhashx_new();
    const char *key;
    json_t *e;
    json_object_foreach(all, key, e)
    {
        const char *ip =
            json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
        if (strcmp(s_str(e, "state"), "deployed") || !ip) continue;
        json_object_set_new(deployed, key, json_string(ip));
        const char *other = zhashx_lookup(by_ip, ip);
        if (other) {
            char dkey[400];
            snprintf(dkey, sizeof dkey, "%s %s %s", ip, strcmp(key, other) < 0 ? key : other,
                     strcmp(key, other) < 0 ? other : key);
            if (!zhashx_lookup(p->dups, dkey)) {
                zhashx_insert(p->dups, dkey, (void *)1);
                p->st.dup_ips++;
                printf("chaos: [%s] DUPLICATE IP %s: %s and %s both deployed\n", p->name, ip, key,
                       other);
            }
            if (!s_known(p, key) && !s_known(p, other)) {
                c->dups++;
                s_note(p, c, key);
                s_note(p, c, other);
                s_detail(c->detail, " DUPLICATE IP %s: %s and %s;", ip, key, other);
            }
        } else {
            zhashx_insert(by_ip, ip, (void *)key);
        }
    }
    bool ok = c->missing == 0 && c->lingering == 0 && c->dups == 0;
    if (ok) ok = c->list_ok = s_list_matches(p, deployed, c, false);
    if (ok && p->docker) ok = s_ports_match(p, all, c);
    if (ok && p->want_inst) ok = s_instances(p, c);
    if (ok && p->steps) ok = s_steps_match(p, all, deployed, c);
    zhashx_destroy(&by_ip);
    json_decref(deployed);
    json_decref(all);
    return ok;
}

/* A process of the stack that ended by itself (not killed by the drill) is a
 * failure: said, counted, and restarted so that the drill goes on. */
static void s_check_alive(s_part_t *p)
{
    if (s_interrupted()) return; /* a Ctrl-C reaches the children too */
    for (int i = 0; i < p->nprocs; i++) {
        s_proc_t *proc = &p->procs[i];
        int status;
        if (proc->pid <= 0 || waitpid(proc->pid, &status, WNOHANG) != proc->pid) continue;
        printf("chaos: [%s] FAILED: %s (pid %d) ended by itself (%s %d); see %s — restarted\n",
               p->name, proc->bin, (int)proc->pid, WIFEXITED(status) ? "exit" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), proc->log);
        p->st.checks_failed++;
        if (proc->in_fd >= 0) close(proc->in_fd);
        proc->in_fd = -1;
        proc->pid = -1;
        s_proc_start(proc);
    }
}

static void s_sample(s_stats_t *st, int kind, int64_t ms)
{
    st->conv[kind] = realloc(st->conv[kind], (size_t)(st->nconv[kind] + 1) * sizeof(int64_t));
    if (!st->conv[kind]) abort();
    st->conv[kind][st->nconv[kind]++] = ms;
}

/* Waits until a look finds everything in order, at most bound_ms from t0.
 * A converged fault's time is recorded; a bound hit is a failure with its
 * details, its missing services counted as lost. Returns true if converged. */
static bool s_converge(s_part_t *p, int kind, int64_t t0, int64_t bound_ms)
{
    s_check_t c;
    for (;;) {
        s_pump(p, 0);
        s_check_alive(p);
        if (s_check(p, &c, false)) {
            if (kind >= 0) {
                int64_t ms = zclock_mono() - t0;
                s_sample(&p->st, kind, ms);
                printf("chaos: [%s] %-9s converged in %5lld ms (%zu services)\n", p->name,
                       s_kind_name[kind], (long long)ms, p->npresent);
                fflush(stdout);
            }
            return true;
        }
        if (s_interrupted()) return false;
        if (zclock_mono() - t0 > bound_ms) break;
        s_pump(p, S_LOOK_MS);
    }
    s_check(p, &c, true);
    p->st.bound_hit++;
    p->st.checks_failed++;
    printf("chaos: [%s] FAILED: not converged %lld s after the %s fault: %d not deployed, %d "
           "removed not undeployed, %d duplicate IPs, db %s;%s\n",
           p->name, (long long)(bound_ms / 1000), kind >= 0 ? s_kind_name[kind] : "start",
           c.missing, c.lingering, c.dups, c.list_ok ? "ok" : "not checked or differs", c.detail);
    fflush(stdout);
    return false;
}

/* The load ------------------------------------------------------------------------ */

static int s_inject(s_part_t *p, const char *text)
{
    s_proc_t *inj = s_proc_of(p, K_PROVIDER);
    if (!inj || inj->in_fd < 0) return -1;
    return test_write_text(inj->in_fd, text);
}

/* A container of this run: running, restarted by dockerd, port 80 published
 * on loopback only. Returns 0 when docker started it. */
static int s_docker_run(s_part_t *p, const char *name)
{
    int rc = test_sh("docker run -d --restart always --name %s -l %s=1 -l interlook.name=%s "
                     "-l interlook.hosts=%s.chaos.test -l interlook.port=80 -p 127.0.0.1::80 "
                     "interlook-test:latest >/dev/null 2>>'%s/docker-cli.log'",
                     name, p->label, name, name, fixture_dir(p->fx));
    if (rc != 0)
        test_sh("docker rm -f %s >/dev/null 2>&1", name); /* half made: never in the model */
    return rc;
}

/* interlook-inject's line adding that service: in part steps its target is
 * the http backend, with public port 80 and its DNS name in the zone. */
static void s_add_line(s_part_t *p, const char *name, char *line, size_t len)
{
    if (p->steps)
        snprintf(line, len, "add %s 127.0.0.1:%u port=80 alias=%s." S_ZONE "\n", name,
                 (unsigned)p->backend_port, name);
    else
        snprintf(line, len, "add %s " S_TARGET "\n", name);
}

static void s_add(s_part_t *p, bool base)
{
    char name[64], line[256];
    snprintf(name, sizeof name, "%s%d-%ld", p->docker ? "cd" : "ck", (int)getpid(), p->counter++);
    if (p->docker) {
        if (s_docker_run(p, name) != 0) return;
    } else {
        s_add_line(p, name, line, sizeof line);
        if (s_inject(p, line) != 0) return;
    }
    s_svc_new(p, name, base);
    p->st.adds++;
}

static void s_remove(s_part_t *p, s_svc_t *s)
{
    /* out of the model first: from now on the core may undeploy it */
    s->present = false;
    p->npresent--;
    p->st.deletes++;
    if (p->docker) {
        for (int i = 0; i < 10 && test_sh("docker rm -f %s >/dev/null 2>>'%s/docker-cli.log'",
                                          s->name, fixture_dir(p->fx)) != 0;
             i++)
            zclock_sleep(500); /* dockerd busy: a few tries, the model already says gone */
    } else {
        char line[160];
        snprintf(line, sizeof line, "delete %s\n", s->name);
        s_inject(p, line);
    }
}

/* Adds and removes services for about ms, keeping the present set around
 * [lo, hi]. */
static void s_load(s_part_t *p, int ms, size_t lo, size_t hi)
{
    int64_t until = zclock_mono() + ms;
    while (zclock_mono() < until && !s_interrupted()) {
        bool add = p->npresent < lo ? true : p->npresent >= hi ? false : (s_rand() & 1);
        s_svc_t *victim = add ? NULL : s_svc_pick(p);
        if (victim)
            s_remove(p, victim);
        else
            s_add(p, false);
        s_pump(p, p->docker ? 0 : s_rand_in(10, 60));
    }
}

/* Faults ------------------------------------------------------------------------- */

/* A few changes at once, and a random moment later the fault: so that the
 * process killed is likely to hold work in flight. */
static void s_burst(s_part_t *p)
{
    if (p->docker) return; /* docker run takes long enough: the load is in flight */
    size_t lo = (size_t)p->nservices * 3 / 4, hi = (size_t)p->nservices * 5 / 4;
    int n = p->steps ? s_rand_in(p->nservices / 5, p->nservices / 2) : s_rand_in(20, 100);
    for (int i = 0; i < n; i++) {
        bool add = p->npresent < lo ? true : p->npresent >= hi ? false : (s_rand() & 1);
        s_svc_t *victim = add ? NULL : s_svc_pick(p);
        if (victim)
            s_remove(p, victim);
        else
            s_add(p, false);
    }
    s_pump(p, s_rand_in(0, 30));
}

/* A restarted provider is fed the current set first, as a real provider
 * re-lists, and nothing else: a removal that the killed process had not
 * sent yet is for the core to find out (its refresh of entries not
 * confirmed for core.serviceMaxLastUpdated). Said, for the record, when the
 * core holds such a removal at that moment. */
static void s_feed_inject(s_part_t *p)
{
    zchunk_t *text = zchunk_new(NULL, 0);
    json_t *all = test_get_json(p->api, "/services");
    int untold = 0;
    for (size_t i = 0; i < p->nsvcs; i++) {
        s_svc_t *s = p->svcs[i];
        json_t *e = json_object_get(all, s->name);
        if (!s->present) {
            if (e && strcmp(s_str(e, "expected_state"), "undeployed")) untold++;
            continue;
        }
        char line[256];
        s_add_line(p, s->name, line, sizeof line);
        zchunk_extend(text, line, strlen(line));
    }
    zchunk_extend(text, "", 1);
    s_inject(p, (const char *)zchunk_data(text));
    zchunk_destroy(&text);
    json_decref(all);
    if (untold)
        printf("chaos: [%s] the killed provider had not reported %d removal(s) to the core\n",
               p->name, untold);
}

/* The work the core has in flight with the instance of that process (its
 * default instance id is HOST-PID-XXXX), -1 when not listed. */
static int s_in_flight(s_part_t *p, const s_proc_t *proc)
{
    const char *ext = proc->kind == K_ALLOC ? "ipam.ipalloc" : "provisioner.echo";
    json_t *all = test_get_json(p->api, "/extensions");
    json_t *list = json_object_get(all, ext), *inst;
    size_t i;
    int n = -1;
    json_array_foreach(list, i, inst)
    {
        const char *id = json_string_value(json_object_get(inst, "instance"));
        const char *last = id ? strrchr(id, '-') : NULL;
        const char *prev = last;
        while (prev && prev > id && prev[-1] != '-')
            prev--;
        if (!last || !prev || prev == id || atoi(prev) != (int)proc->pid) continue;
        n = (int)json_integer_value(json_object_get(inst, "in_flight"));
    }
    json_decref(all);
    return n;
}

/* A few more changes at once, for the core to dispatch: together, so that
 * some go to a busy (or stopped) instance too, not all to the idle one. */
static void s_nudge(s_part_t *p)
{
    size_t hi = p->docker ? (size_t)s_set.containers + 10 : (size_t)p->nservices * 5 / 4;
    for (int i = 0; i < (p->docker ? 1 : 10); i++) {
        s_svc_t *victim = p->npresent >= hi || (s_rand() & 1) ? s_svc_pick(p) : NULL;
        if (victim)
            s_remove(p, victim);
        else
            s_add(p, false);
    }
}

/* kill -9 of a random process of that kind, restarted at once. An allocator
 * or an echo is killed once it holds work, so that its figure is the time the
 * core takes to give that work to another instance. */
static void s_kill_fault(s_part_t *p, s_kind_t kind)
{
    s_proc_t *pick[S_MAX_PROCS];
    int n = 0;
    for (int i = 0; i < p->nprocs; i++)
        if (p->procs[i].kind == kind) pick[n++] = &p->procs[i];
    if (!n) return;
    s_proc_t *proc = pick[s_rand() % (uint64_t)n];
    p->st.faults[kind]++;
    s_burst(p);
    if (kind == K_ALLOC || kind == K_ECHO) {
        /* Work lasts microseconds in these two: to kill one that holds some,
         * it is stopped first (SIGSTOP) and killed once the core has work in
         * flight with it, as a kill at that moment would find it. */
        kill(proc->pid, SIGSTOP);
        int64_t until = zclock_mono() + 3000;
        int held;
        while ((held = s_in_flight(p, proc)) <= 0 && zclock_mono() < until && !s_interrupted()) {
            s_nudge(p);
            s_pump(p, 20);
        }
        if (held > 0) p->st.held[kind]++;
    }
    int64_t t0 = zclock_mono();
    s_proc_kill9(proc);
    s_proc_start(proc);
    if (kind == K_PROVIDER && !p->docker) s_feed_inject(p);
    s_converge(p, kind, t0, (int64_t)s_set.bound_s * 1000);
}

static bool s_docker_up(void *arg)
{
    (void)arg;
    return test_sh("docker info >/dev/null 2>&1") == 0;
}

/* Waits for cond with the SUB socket and the API watched meanwhile (a
 * spurious deletion shows up there while dockerd is away). */
static bool s_watch_until(s_part_t *p, bool (*cond)(void *), bool want, int ms)
{
    int64_t until = zclock_mono() + ms;
    s_check_t c;
    while (zclock_mono() < until && !s_interrupted()) {
        if (cond(NULL) == want) return true;
        s_check(p, &c, false);
        s_pump(p, 200);
    }
    return cond(NULL) == want;
}

static bool s_no_dockerd(void *arg)
{
    (void)arg;
    return test_sh("pidof dockerd >/dev/null") != 0;
}

static void s_start_dockerd(void)
{
    if (s_root_net >= 0) /* the drill is in a namespace of its own: dockerd is not */
        test_sh("nsenter --net=/proc/%d/fd/%d setsid dockerd >>" S_DOCKER_LOG " 2>&1 </dev/null &",
                (int)getpid(), s_root_net);
    else
        test_sh("setsid dockerd >>" S_DOCKER_LOG " 2>&1 </dev/null &");
}

static void s_dockerd_fault(s_part_t *p)
{
    p->st.faults[K_DOCKERD]++;
    int64_t t0 = zclock_mono();
    if (test_sh("kill -TERM $(pidof dockerd)") != 0 ||
        !s_watch_until(p, s_docker_up, false, S_DOCKERD_MS) ||
        !s_watch_until(p, s_no_dockerd, true, S_DOCKERD_MS)) {
        printf("chaos: [%s] FAILED: dockerd did not stop within %d s\n", p->name,
               S_DOCKERD_MS / 1000);
        p->st.checks_failed++;
    }
    if (s_no_dockerd(NULL)) s_start_dockerd();
    if (!s_watch_until(p, s_docker_up, true, S_DOCKERD_MS)) {
        printf("chaos: [%s] FAILED: dockerd did not answer within %d s of its start (see %s)\n",
               p->name, S_DOCKERD_MS / 1000, S_DOCKER_LOG);
        p->st.checks_failed++;
        return;
    }
    /* the bound starts when the daemon is back: its own start-up is not ours */
    int64_t up_ms = zclock_mono() - t0;
    printf("chaos: [%s] dockerd answers again %lld ms after its TERM\n", p->name, (long long)up_ms);
    if (s_converge(p, K_DOCKERD, t0, up_ms + (int64_t)s_set.bound_s * 1000)) {
        int n = p->st.nconv[K_DOCKERD];
        s_sample(&p->st, K_UP, p->st.conv[K_DOCKERD][n - 1] - up_ms);
    }
}

/* Full disk: the tmpfs holding the core's var dir and the allocators' db is
 * filled while the load goes on; then the filler goes, and the stack must
 * converge by itself (no restart). */
static void s_disk_fault(s_part_t *p)
{
    p->st.faults[K_DISK]++;
    if (!p->mounted) {
        printf("chaos: [%s] FAILED: no filesystem of the drill's own to fill (mount failed)\n",
               p->name);
        p->st.checks_failed++;
        return;
    }
    test_sh("dd if=/dev/zero of='%s/filler' bs=64k >/dev/null 2>&1", p->mount);
    char *df = test_sh_output("df -k --output=avail '%s' | tail -1", p->mount);
    printf("chaos: [%s] disk full (%s: %s KiB free), load goes on\n", p->name, p->mount,
           df ? df : "?");
    free(df);
    fflush(stdout);
    s_load(p, s_set.shrt ? 2000 : 4000, (size_t)p->nservices * 3 / 4, (size_t)p->nservices * 5 / 4);
    s_pump(p, 500);
    /* Nothing acknowledged that was not written: every service the core
     * shows deployed has its IP in the file, read while the disk is full. */
    json_t *all = test_get_json(p->api, "/services");
    if (all) {
        json_t *deployed = json_object();
        const char *key;
        json_t *e;
        json_object_foreach(all, key, e)
        {
            const char *ip =
                json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
            if (!strcmp(s_str(e, "state"), "deployed") && ip)
                json_object_set_new(deployed, key, json_string(ip));
        }
        s_check_t c;
        memset(&c, 0, sizeof c);
        if (!s_list_matches(p, deployed, &c, true)) {
            printf("chaos: [%s] FAILED: disk full: the core deploys what the allocators' file does "
                   "not hold:%s\n",
                   p->name, c.detail);
            p->st.checks_failed++;
        }
        json_decref(deployed);
        json_decref(all);
    }
    char path[800];
    snprintf(path, sizeof path, "%s/filler", p->mount);
    unlink(path);
    s_converge(p, K_DISK, zclock_mono(), (int64_t)s_set.bound_s * 1000);
}

/* kill -9 of BIND's named or of HAProxy (master and workers), started again
 * by the drill (as a service manager would): their data stays (BIND's zone
 * and journal; the file interlook-lb owns). */
static void s_server_fault(s_part_t *p, s_kind_t kind)
{
    p->st.faults[kind]++;
    s_burst(p);
    int64_t t0 = zclock_mono();
    int rc;
    if (kind == K_NAMED) {
        kill(dns_server_pid(p->dns), SIGKILL);
        dns_server_stop(p->dns); /* reaps it */
        rc = dns_server_start(p->dns);
    } else {
        haproxy_server_kill(p->haproxy);
        rc = haproxy_server_start(p->haproxy, S_START_MS);
    }
    if (rc != 0) {
        printf("chaos: [%s] FAILED: %s did not start again (see above)\n", p->name,
               s_kind_name[kind]);
        p->st.checks_failed++;
        return;
    }
    s_converge(p, kind, t0, (int64_t)s_set.bound_s * 1000);
}

/* A link cut: the veth of namespace B (one allocator, one echo) goes down
 * under load: no FIN, no RST, the core notices by liveness alone. Work the
 * cut instances hold must be done by the others (figure "link": cut ->
 * converged without them); the cut lasts a while longer under load, then
 * the link is restored (figure "link-up": restore -> converged with every
 * instance registered again). */
static void s_link_fault(s_part_t *p)
{
    p->st.faults[K_LINK]++;
    s_burst(p);
    int64_t t0 = zclock_mono();
    if (test_sh(S_IP " -n %s link set eth0 down", s_ns_b) != 0) {
        printf("chaos: [%s] FAILED: cannot cut the link of %s\n", p->name, s_ns_b);
        p->st.checks_failed++;
        return;
    }
    int64_t until = t0 + 3000;
    int held = 0;
    while (held <= 0 && zclock_mono() < until && !s_interrupted()) {
        for (int i = 0; i < p->nprocs; i++)
            if (p->procs[i].cut && held <= 0) held = s_in_flight(p, &p->procs[i]);
        if (held > 0) break;
        s_nudge(p);
        s_pump(p, 20);
    }
    if (held > 0) p->st.held[K_LINK]++;
    s_converge(p, K_LINK, t0, (int64_t)s_set.bound_s * 1000);
    s_load(p, s_rand_in(1000, 2000), (size_t)p->nservices * 3 / 4, (size_t)p->nservices * 5 / 4);
    int64_t t1 = zclock_mono();
    if (test_sh(S_IP " -n %s link set eth0 up", s_ns_b) != 0) {
        printf("chaos: [%s] FAILED: cannot restore the link of %s\n", p->name, s_ns_b);
        p->st.checks_failed++;
        return;
    }
    printf("chaos: [%s] link cut for %lld ms, restored\n", p->name, (long long)(t1 - t0));
    p->want_inst = 2;
    s_converge(p, K_LINKUP, t1, (int64_t)s_set.bound_s * 1000);
    p->want_inst = 0;
}

/* The namespaces of part link: A and B, a veth pair between them. Returns 0
 * when made; on failure, what was made is removed. */
static void s_ns_destroy(void)
{
    if (*s_ns_b) test_sh(S_IP " netns del %s 2>/dev/null", s_ns_b);
    if (*s_ns_a) test_sh(S_IP " netns del %s 2>/dev/null", s_ns_a);
}

static int s_ns_setup(void)
{
    unsigned id = (unsigned)getpid() % 100000u;
    snprintf(s_ns_a, sizeof s_ns_a, "ilc%u-a", id);
    snprintf(s_ns_b, sizeof s_ns_b, "ilc%u-b", id);
    if (test_sh(S_IP " netns add %s && " S_IP " netns add %s && " S_IP
                     " -n %s link add eth0 type veth peer name eth0 netns %s && " S_IP
                     " -n %s addr add " S_LINK_NET ".1/24 dev eth0 && " S_IP
                     " -n %s addr add " S_LINK_NET ".2/24 dev eth0 && " S_IP
                     " -n %s link set lo up && " S_IP " -n %s link set lo up && " S_IP
                     " -n %s link set eth0 up && " S_IP " -n %s link set eth0 up",
                s_ns_a, s_ns_b, s_ns_a, s_ns_b, s_ns_a, s_ns_b, s_ns_a, s_ns_b, s_ns_a,
                s_ns_b) != 0) {
        fprintf(stderr, "chaos: cannot make the namespaces of part link (root and iproute2 "
                        "needed)\n");
        s_ns_destroy();
        return -1;
    }
    char path[80];
    snprintf(path, sizeof path, "/run/netns/%s", s_ns_a);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    s_root_net = open("/proc/self/ns/net", O_RDONLY); /* inherited: nsenter reads it */
    if (fd < 0 || s_root_net < 0 || setns(fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "chaos: cannot enter %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        s_ns_destroy();
        return -1;
    }
    close(fd);
    return 0;
}

/* Stacks --------------------------------------------------------------------------- */

/* When the drill itself dies (a crash, a sanitizer report), nothing of what
 * it started may stay: its processes are killed, the mount detached, the
 * containers and the directory removed by a command made in advance. */
static void s_last_rites(void)
{
    static volatile sig_atomic_t done;
    if (done) return;
    done = 1;
    for (int i = 0; i < 4; i++) {
        s_part_t *p = s_parts[i];
        if (!p) continue;
        if (p->haproxy) haproxy_server_kill(p->haproxy); /* named, the backend: PDEATHSIG */
        for (int k = 0; k < p->nprocs; k++)
            if (p->procs[k].pid > 0) kill(p->procs[k].pid, SIGKILL);
        if (p->mounted) umount2(p->mount, MNT_DETACH);
        if (!p->last_rites[0]) continue;
        pid_t child = fork();
        if (child == 0) {
            execl("/bin/sh", "sh", "-c", p->last_rites, (char *)NULL);
            _exit(127);
        }
        if (child > 0) waitpid(child, NULL, 0);
    }
    const char *ns[2] = {s_ns_b, s_ns_a};
    for (int i = 0; i < 2; i++) {
        if (!*ns[i]) continue;
        pid_t child = fork();
        if (child == 0) {
            execl(S_IP, "ip", "netns", "del", ns[i], (char *)NULL);
            _exit(127);
        }
        if (child > 0) waitpid(child, NULL, 0);
    }
}

static void s_on_crash(int sig)
{
    s_last_rites();
    signal(sig, SIG_DFL);
    raise(sig);
}

static s_part_t *s_part_new(const char *name, bool docker)
{
    s_part_t *p = calloc(1, sizeof *p);
    if (!p) abort();
    p->name = name;
    p->docker = docker;
    p->st.name = name;
    p->nservices = s_set.services;
    p->index = zhashx_new();
    p->spurious = zhashx_new();
    p->dups = zhashx_new();
    p->lost = zhashx_new();
    p->known = zhashx_new();
    snprintf(p->label, sizeof p->label, "interlook.chaos.%d", (int)getpid());
    return p;
}

static bool s_stats_ok(const s_stats_t *st)
{
    return st->lost == 0 && st->dup_ips == 0 && st->spurious == 0 && st->checks_failed == 0 &&
           st->bound_hit == 0;
}

static void s_part_destroy(s_part_t **p_p)
{
    s_part_t *p = *p_p;
    if (!p) return;
    for (int i = p->nprocs - 1; i >= 0; i--)
        s_proc_stop(&p->procs[i]);
    if (p->backend > 0) http_backend_stop(p->backend);
    haproxy_server_destroy(&p->haproxy);
    dns_server_destroy(&p->dns);
    /* tests/run.sh looks for sanitizer reports in the logs of that directory */
    const char *logdir = getenv("INTERLOOK_TEST_LOGDIR");
    if (p->fx && logdir && *logdir)
        test_sh("for f in '%s'/*.log '%s'/*.out; do [ -f \"$f\" ] && cp \"$f\" "
                "'%s'/chaos-%s-%d-$(basename "
                "\"$f\"); done",
                fixture_dir(p->fx), fixture_dir(p->fx), logdir, p->name, (int)getpid());
    const char *keep = getenv("CHAOS_KEEP");
    if (p->fx && (!s_stats_ok(&p->st) || (keep && !strcmp(keep, "1")))) {
        /* the logs and files outlive the fixture's directory, for a look */
        char kept[256];
        snprintf(kept, sizeof kept, "/tmp/interlook-chaos-%d-%s", (int)getpid(), p->name);
        if (test_sh("mkdir -p %s && cp -pr '%s'/. %s/ 2>/dev/null", kept, fixture_dir(p->fx),
                    kept) == 0)
            printf("chaos: [%s] logs and files kept in %s\n", p->name, kept);
    }
    zsock_destroy(&p->sub);
    if (p->mounted && umount(p->mount) != 0 && umount2(p->mount, MNT_DETACH) != 0)
        fprintf(stderr, "chaos: cannot unmount %s: %s\n", p->mount, strerror(errno));
    p->mounted = false;
    if (p->docker) {
        if (!s_docker_up(NULL)) { /* interrupted during a restart: the daemon comes back */
            if (s_no_dockerd(NULL)) s_start_dockerd();
            test_wait(s_docker_up, NULL, S_DOCKERD_MS);
        }
        test_sh("docker ps -aq --filter label=%s | xargs -r docker rm -f >/dev/null 2>&1",
                p->label);
    }
    fixture_destroy(&p->fx);
    for (size_t i = 0; i < p->nsvcs; i++)
        free(p->svcs[i]);
    free(p->svcs);
    for (int k = 0; k < K_NKINDS; k++)
        free(p->st.conv[k]);
    zhashx_destroy(&p->index);
    zhashx_destroy(&p->spurious);
    zhashx_destroy(&p->dups);
    zhashx_destroy(&p->lost);
    zhashx_destroy(&p->known);
    free(p);
    *p_p = NULL;
}

static int s_part_start(s_part_t *p, bool tmpfs)
{
    /* An operator's bus timing, the defaults, written out (the fixture's own
     * default is the tests' 100 ms heartbeat). */
    /* Fixed ports, outside the ranges of kernel-chosen ports and of ZeroMQ's
     * "*" (49152 and up): while the core is down, another process binding
     * "*" would otherwise take its port (seen: another test's core got it,
     * and this stack's allocators worked for it). */
    int ports[3];
    if (test_free_ports(ports, 3) != 0) return -1;
    char listen[64], router[64], publish[64];
    /* part link: the bus on A's side of the veth, which B reaches */
    const char *bus_ip = p->link ? S_LINK_NET ".1" : "127.0.0.1";
    snprintf(listen, sizeof listen, "127.0.0.1:%d", ports[0]);
    snprintf(router, sizeof router, "tcp://%s:%d", bus_ip, ports[1]);
    snprintf(publish, sizeof publish, "tcp://%s:%d", bus_ip, ports[2]);
    fixture_opts_t opts = {.name = "chaos",
                           /* part link: the bus is between two namespaces of the
                            * drill's own, nobody else on it */
                           .bus = p->link ? "heartbeat: 1000ms, liveness: 3, insecure: true"
                                          : "heartbeat: 1000ms, liveness: 3",
                           .core_log = "core.out",
                           .listen = listen,
                           .router = router,
                           .publish = publish};
    p->fx = fixture_new(&opts);
    if (!p->fx) return -1;
    const char *dir = fixture_dir(p->fx);
    if (p->docker)
        snprintf(p->last_rites, sizeof p->last_rites,
                 "docker ps -aq --filter label=%s | xargs -r docker rm -f >/dev/null 2>&1; "
                 "rm -rf '%s'",
                 p->label, dir);
    else
        snprintf(p->last_rites, sizeof p->last_rites, "rm -rf '%s'", dir);
    snprintf(p->mount, sizeof p->mount, "%s/var", dir);
    if (mkdir(p->mount, 0755) != 0) return -1;
    if (tmpfs) {
        if (mount("chaos", p->mount, "tmpfs", 0, "size=" S_TMPFS_SIZE ",mode=0755") == 0)
            p->mounted = true;
        else
            fprintf(stderr, "chaos: cannot mount a tmpfs on %s (%s): the disk fault will fail\n",
                    p->mount, strerror(errno));
    }
    char sections[4096];
    if (p->steps) {
        /* BIND, HAProxy and the backend first: the configuration names them */
        static const char *const zones[] = {S_ZONE, NULL};
        dns_server_opts_t dopts = {.zones = zones};
        p->dns = dns_server_new(DNS_SERVER_BIND, &dopts);
        if (!p->dns) return -1;
        char hdir[800], lbfile[800];
        snprintf(hdir, sizeof hdir, "%s/haproxy", dir);
        snprintf(lbfile, sizeof lbfile, "%s/interlook.cfg", dir);
        p->haproxy = haproxy_server_new(hdir, lbfile, NULL);
        if (!p->haproxy || haproxy_server_start(p->haproxy, S_START_MS) != 0) return -1;
        p->backend = http_backend_start(NULL, "127.0.0.1", 0, S_PAGE, &p->backend_port);
        if (p->backend <= 0) return -1;
        /* VIPs on loopback (a socket binds any 127.x.y.z): a /24 of 127.78/16 from the pid */
        snprintf(
            sections, sizeof sections,
            "ipam:\n  ipalloc: { network_cidr: 127.78.%u.0/24, db_file: {dir}/var/ipalloc.db }\n"
            "dns:\n  rfc2136:\n    server: %s\n    zones: [" S_ZONE "]\n"
            "    tsigKeyFile: %s\n    ttl: 30s\n    ownerId: chaos\n    timeout: 1s\n"
            "lb:\n  haproxy:\n%s    masterLog: %s/haproxy.log\n    timeout: 3s\n",
            (unsigned)getpid() % 250u + 1u, dns_server_endpoint(p->dns),
            dns_server_key_file(p->dns), haproxy_server_yaml(p->haproxy), hdir);
    } else if (p->docker)
        snprintf(sections, sizeof sections,
                 "ipam:\n  ipalloc: { network_cidr: 10.78.0.0/20, db_file: {dir}/var/ipalloc.db }\n"
                 "provider:\n  docker:\n    endpoint: unix:///var/run/docker.sock\n"
                 "    mode: containers\n    labelSelector: [%s]\n    hostIP: 127.0.0.1\n",
                 p->label);
    else
        snprintf(
            sections, sizeof sections,
            "ipam:\n  ipalloc: { network_cidr: 10.77.0.0/20, db_file: {dir}/var/ipalloc.db }\n");
    char keys[256];
    snprintf(keys, sizeof keys, "  workflowSteps: provider.%s,ipam.ipalloc,%sprovisioner.echo\n",
             p->docker ? "docker" : "inject", p->steps ? "dns.rfc2136,lb.haproxy," : "");
    if (fixture_config_write(p->fx, keys, sections) != 0) return -1;
    snprintf(p->config, sizeof p->config, "%s", fixture_config(p->fx));
    pid_t core = fixture_start_core(p->fx, S_START_MS);
    if (core <= 0) return -1;
    snprintf(p->api, sizeof p->api, "%s", fixture_api(p->fx));
    const char *core_args[] = {"-c", p->config, NULL};
    s_proc_add(p, K_CORE, "interlookd", "core.out", core_args)->pid = core;
    const char *ext[] = {"-c", p->config, NULL};
    const char *inject[] = {"-c", p->config, "--name", "provider.inject", NULL};
    s_proc_add(p, K_ALLOC, "interlook-ipalloc", "alloc-1.log", ext);
    s_proc_add(p, K_ECHO, "interlook-echo", "echo-1.log", ext);
    if (p->link) { /* the second instances in B, behind the link */
        char alloc_bin[600], echo_bin[600];
        snprintf(alloc_bin, sizeof alloc_bin, "%s", test_bin("interlook-ipalloc"));
        snprintf(echo_bin, sizeof echo_bin, "%s", test_bin("interlook-echo"));
        const char *alloc_b[] = {"netns", "exec", s_ns_b, alloc_bin, "-c", p->config, NULL};
        const char *echo_b[] = {"netns", "exec", s_ns_b, echo_bin, "-c", p->config, NULL};
        s_proc_add(p, K_ALLOC, S_IP, "alloc-2.log", alloc_b)->cut = true;
        s_proc_add(p, K_ECHO, S_IP, "echo-2.log", echo_b)->cut = true;
    } else {
        s_proc_add(p, K_ALLOC, "interlook-ipalloc", "alloc-2.log", ext);
        s_proc_add(p, K_ECHO, "interlook-echo", "echo-2.log", ext);
    }
    if (p->docker)
        s_proc_add(p, K_PROVIDER, "interlook-docker", "docker.log", ext);
    else
        s_proc_add(p, K_PROVIDER, "interlook-inject", "inject.log", inject);
    if (p->steps) {
        s_proc_add(p, K_DNS, "interlook-dns", "dns.log", ext);
        s_proc_add(p, K_LB, "interlook-lb", "lb.log", ext);
    }
    for (int i = 1; i < p->nprocs; i++)
        if (s_proc_start(&p->procs[i]) != 0) return -1;
    p->sub = zsock_new_sub(fixture_publish(p->fx), ILP_TOPIC_CHANGES);
    if (!p->sub) return -1;
    zsock_set_rcvtimeo(p->sub, 0);
    if (!fixture_wait_registered(p->fx, "ipam.ipalloc", 2, S_START_MS) ||
        !fixture_wait_registered(p->fx, "provisioner.echo", 2, S_START_MS) ||
        !fixture_wait_registered(p->fx, p->docker ? "provider.docker" : "provider.inject", 1,
                                 S_START_MS) ||
        (p->steps && (!fixture_wait_registered(p->fx, "dns.rfc2136", 1, S_START_MS) ||
                      !fixture_wait_registered(p->fx, "lb.haproxy", 1, S_START_MS))))
        return -1;
    return 0;
}

/* The faults of a part, in a random order. */
static void s_part_run(s_part_t *p, int kills, int dockerd, int disk, int links)
{
    size_t lo = p->docker ? (size_t)s_set.containers : (size_t)p->nservices * 3 / 4;
    size_t hi = p->docker ? (size_t)s_set.containers + 10 : (size_t)p->nservices * 5 / 4;
    int total = kills + dockerd + disk + links, ndeck = 0;
    s_kind_t deck[6];
    for (int i = 0; i < total && !s_interrupted(); i++) {
        s_load(p, s_rand_in(s_set.gap_min_ms, s_set.gap_max_ms), lo, hi);
        int r = s_rand_in(1, kills + dockerd + disk + links);
        if (r <= kills) {
            kills--;
            if (ndeck == 0) { /* each kind in turn, in a random order: as many of each */
                /* part steps: the servers first in each round (a short run has both) */
                s_kind_t all[6] = {K_CORE, K_ALLOC, K_ECHO, K_PROVIDER};
                s_kind_t steps[6] = {K_CORE, K_ALLOC, K_DNS, K_LB, K_NAMED, K_HAPROXY};
                ndeck = p->steps ? 6 : 4;
                memcpy(deck, p->steps ? steps : all, sizeof all);
                int first = p->steps ? 4 : ndeck; /* the servers shuffled apart */
                for (int k = ndeck - 1; k > 0; k--) {
                    int base = k >= first ? first : 0;
                    int j = base + (int)(s_rand() % (uint64_t)(k - base + 1));
                    s_kind_t t = deck[k];
                    deck[k] = deck[j];
                    deck[j] = t;
                }
            }
            s_kind_t kind = deck[--ndeck];
            if (kind == K_NAMED || kind == K_HAPROXY)
                s_server_fault(p, kind);
            else
                s_kill_fault(p, kind);
        } else if (r <= kills + dockerd) {
            dockerd--;
            s_dockerd_fault(p);
        } else if (r <= kills + dockerd + disk) {
            disk--;
            s_disk_fault(p);
        } else {
            links--;
            s_link_fault(p);
        }
    }
    /* the end: one more look, nothing lost */
    if (!s_interrupted()) s_converge(p, -1, zclock_mono(), (int64_t)s_set.bound_s * 1000);
}

static int s_part(s_part_t *p)
{
    bool docker = p->docker;
    if (docker) {
        if (!s_docker_up(NULL)) {
            printf("chaos: [docker] no Docker daemon answers: start dockerd\n");
            return -1;
        }
        if (test_sh("docker image inspect interlook-test:latest >/dev/null 2>&1") != 0 &&
            test_sh("tests/support/docker-image.sh") != 0) {
            printf("chaos: [docker] cannot build the image interlook-test:latest "
                   "(tests/support/docker-image.sh)\n");
            return -1;
        }
    }
    if (s_part_start(p, !docker && !p->link && !p->steps && s_set.part_disk) != 0) {
        printf("chaos: [%s] the stack could not be started (see above)\n", p->name);
        return -1;
    }
    printf("chaos: [%s] stack up in %s\n", p->name, fixture_dir(p->fx));
    fflush(stdout);
    if (docker) {
        for (int i = 0; i < s_set.containers && !s_interrupted(); i++)
            s_add(p, true);
    } else {
        for (int i = 0; i < p->nservices; i++)
            s_add(p, false);
    }
    if (!s_converge(p, -1, zclock_mono(), (int64_t)s_set.bound_s * 1000)) return 0;
    if (docker)
        s_part_run(p, s_set.docker_kills, s_set.dockerd_restarts, 0, 0);
    else if (p->link)
        s_part_run(p, 0, 0, 0, s_set.links);
    else if (p->steps)
        s_part_run(p, s_set.step_kills, 0, 0, 0);
    else
        s_part_run(p, s_set.part_kills ? s_set.kills : 0, 0, s_set.part_disk ? s_set.disk : 0, 0);
    return 0;
}

/* Figures ------------------------------------------------------------------------- */

static bool s_print_stats(const s_stats_t *st)
{
    int faults = 0, nall = 0;
    for (int k = 0; k < K_NKINDS; k++) {
        faults += st->faults[k];
        nall += s_kind_after(k) ? 0 : st->nconv[k];
    }
    printf("\n%s: %d faults, %ld adds, %ld removals, %ld state changes followed\n", st->name,
           faults, st->adds, st->deletes, st->changes);
    printf("  %-10s %7s %9s %9s %9s %9s\n", "fault", "injected", "converged", "p50 ms", "p99 ms",
           "max ms");
    int64_t *all = calloc((size_t)nall + 1, sizeof *all);
    int n = 0;
    for (int k = 0; k <= K_NKINDS; k++) {
        const int64_t *v;
        int cnt, inj;
        if (k < K_NKINDS) {
            if (s_kind_after(k) ? !st->nconv[k] : !st->faults[k]) continue;
            if (st->nconv[k]) qsort(st->conv[k], (size_t)st->nconv[k], sizeof(int64_t), s_cmp_i64);
            if (!s_kind_after(k) && st->nconv[k]) {
                memcpy(all + n, st->conv[k], (size_t)st->nconv[k] * sizeof(int64_t));
                n += st->nconv[k];
            }
            v = st->conv[k];
            cnt = st->nconv[k];
            inj = k == K_UP       ? st->faults[K_DOCKERD]
                  : k == K_LINKUP ? st->faults[K_LINK]
                                  : st->faults[k];
        } else {
            qsort(all, (size_t)n, sizeof(int64_t), s_cmp_i64);
            v = all;
            cnt = n;
            inj = faults;
        }
        printf("  %-10s %7d %9d %9lld %9lld %9lld\n", k < K_NKINDS ? s_kind_name[k] : "all", inj,
               cnt, (long long)s_quantile(v, cnt, 0.50), (long long)s_quantile(v, cnt, 0.99),
               (long long)(cnt ? v[cnt - 1] : -1));
    }
    free(all);
    if (st->faults[K_ALLOC] || st->faults[K_ECHO])
        printf("  kills of an instance holding work: allocator %d/%d, echo %d/%d\n",
               st->held[K_ALLOC], st->faults[K_ALLOC], st->held[K_ECHO], st->faults[K_ECHO]);
    if (st->faults[K_LINK])
        printf("  link cuts while a cut instance held work: %d/%d\n", st->held[K_LINK],
               st->faults[K_LINK]);
    printf("  lost entries %d, duplicate IPs %d, spurious deletions %d, checks failed %d "
           "(convergence bound hit %d)\n",
           st->lost, st->dup_ips, st->spurious, st->checks_failed, st->bound_hit);
    return s_stats_ok(st);
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: chaos [--short]\n"
            "The chaos drill (README \"Chaos drills\"): kill -9, dockerd restarts, a full disk,\n"
            "link cuts and kills of the DNS and LB steps' servers under a steady load; after\n"
            "each fault, convergence is waited for and checked.\n"
            "  --short   a few faults (make test): 6 kills, 2 in part docker, 1 dockerd restart,\n"
            "            the disk fault once, 1 link cut, named and haproxy killed once each\n"
            "Environment: CHAOS_PARTS (kills,docker,disk,link,steps), CHAOS_KILLS (50),\n"
            "CHAOS_DOCKER_KILLS (10), CHAOS_DOCKERD_RESTARTS (10), CHAOS_CONTAINERS (20),\n"
            "CHAOS_DISK (2), CHAOS_SERVICES (100), CHAOS_LINKS (5), CHAOS_STEP_KILLS (12),\n"
            "CHAOS_STEP_SERVICES (30), CHAOS_BOUND_S (30: convergence bound), CHAOS_SEED\n"
            "(replays a run's choices).\n"
            "Exit status: 0 all checks passed, 1 a check failed, 2 bad usage or no stack.\n");
}

int main(int argc, char *argv[])
{
    bool shrt = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--short")) {
            shrt = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            s_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "chaos: unknown argument %s\n", argv[i]);
            s_usage(stderr);
            return 2;
        }
    }
    s_set.shrt = shrt;
    s_set.kills = s_env_int("CHAOS_KILLS", shrt ? 6 : 50);
    s_set.docker_kills = s_env_int("CHAOS_DOCKER_KILLS", shrt ? 2 : 10);
    s_set.dockerd_restarts = s_env_int("CHAOS_DOCKERD_RESTARTS", shrt ? 1 : 10);
    s_set.containers = s_env_int("CHAOS_CONTAINERS", shrt ? 5 : 20);
    s_set.disk = s_env_int("CHAOS_DISK", shrt ? 1 : 2);
    s_set.services = s_env_int("CHAOS_SERVICES", shrt ? 30 : 100);
    s_set.bound_s = s_env_int("CHAOS_BOUND_S", 30);
    s_set.links = s_env_int("CHAOS_LINKS", shrt ? 1 : 5);
    s_set.step_kills = s_env_int("CHAOS_STEP_KILLS", shrt ? 2 : 12);
    s_set.step_services = s_env_int("CHAOS_STEP_SERVICES", shrt ? 20 : 30);
    s_set.gap_min_ms = shrt ? 300 : 500;
    s_set.gap_max_ms = shrt ? 1500 : 3000;
    const char *parts = getenv("CHAOS_PARTS");
    if (!parts || !*parts) parts = "kills,docker,disk,link,steps";
    char copy[256];
    snprintf(copy, sizeof copy, "%s", parts);
    for (char *save = NULL, *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (!strcmp(t, "kills"))
            s_set.part_kills = true;
        else if (!strcmp(t, "docker"))
            s_set.part_docker = true;
        else if (!strcmp(t, "disk"))
            s_set.part_disk = true;
        else if (!strcmp(t, "link"))
            s_set.part_link = true;
        else if (!strcmp(t, "steps"))
            s_set.part_steps = true;
        else {
            fprintf(stderr,
                    "chaos: CHAOS_PARTS: unknown part '%s' (kills, docker, disk, link, steps)\n",
                    t);
            return 2;
        }
    }
    const char *seed = getenv("CHAOS_SEED");
    s_set.seed = seed && *seed ? strtoull(seed, NULL, 10)
                               : (uint64_t)zclock_time() ^ (uint64_t)getpid() << 32;
    if (!s_set.seed) s_set.seed = 1;
    s_rng = s_set.seed;
    printf("chaos: seed %llu (CHAOS_SEED=%llu replays its choices), parts %s%s\n",
           (unsigned long long)s_set.seed, (unsigned long long)s_set.seed, parts,
           shrt ? ", short" : "");
    fflush(stdout);
    /* before any thread: a namespace entered is the calling thread's, and
     * ZeroMQ's I/O threads make the drill's connections */
    if (s_set.part_link && s_ns_setup() != 0) return 2;
    signal(SIGPIPE, SIG_IGN); /* a killed interlook-inject's pipe */
    zsys_init(); /* SIGINT/SIGTERM set zsys_interrupted: every loop ends, cleanup runs */
    signal(SIGABRT, s_on_crash);
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_set_death_callback(s_last_rites); /* ASan keeps its SIGSEGV handler */
#else
    signal(SIGSEGV, s_on_crash);
    signal(SIGBUS, s_on_crash);
    signal(SIGFPE, s_on_crash);
#endif
    s_listbuf = malloc(S_LIST_BYTES);
    if (!s_listbuf) {
        s_ns_destroy();
        return 2;
    }

    int rc = 0, np = 0;
    if (s_set.part_kills || s_set.part_disk) s_parts[np++] = s_part_new("kills", false);
    if (s_set.part_docker) s_parts[np++] = s_part_new("docker", true);
    if (s_set.part_link) {
        s_parts[np] = s_part_new("link", false);
        s_parts[np++]->link = true;
    }
    if (s_set.part_steps) {
        s_parts[np] = s_part_new("steps", false);
        s_parts[np]->steps = true;
        s_parts[np++]->nservices = s_set.step_services;
    }
    for (int i = 0; i < np && !s_interrupted(); i++)
        if (s_part(s_parts[i]) != 0) rc = 2;
    s_stats_t total = {.name = "total"};
    for (int i = 0; i < np; i++) {
        s_stats_t *st = &s_parts[i]->st;
        if (!s_print_stats(st) && rc == 0) rc = 1;
        for (int k = 0; k < K_NKINDS; k++) {
            total.faults[k] += st->faults[k];
            total.conv[k] = realloc(total.conv[k],
                                    (size_t)(total.nconv[k] + st->nconv[k] + 1) * sizeof(int64_t));
            if (st->nconv[k])
                memcpy(total.conv[k] + total.nconv[k], st->conv[k],
                       (size_t)st->nconv[k] * sizeof(int64_t));
            total.nconv[k] += st->nconv[k];
        }
        total.bound_hit += st->bound_hit;
        total.lost += st->lost;
        total.dup_ips += st->dup_ips;
        total.spurious += st->spurious;
        total.checks_failed += st->checks_failed;
        total.adds += st->adds;
        total.changes += st->changes;
        total.held[K_ALLOC] += st->held[K_ALLOC];
        total.held[K_ECHO] += st->held[K_ECHO];
        total.held[K_LINK] += st->held[K_LINK];
        total.deletes += st->deletes;
    }
    if (np > 1) s_print_stats(&total);
    for (int k = 0; k < K_NKINDS; k++)
        free(total.conv[k]);
    if (s_interrupted()) {
        printf("chaos: interrupted\n");
        rc = rc ? rc : 1;
    }
    for (int i = 0; i < np; i++)
        s_part_destroy(&s_parts[i]);
    s_ns_destroy();
    free(s_listbuf);
    printf("chaos: %s (seed %llu)\n",
           rc == 0   ? "PASSED"
           : rc == 1 ? "FAILED"
                     : "NOT RUN",
           (unsigned long long)s_set.seed);
    return rc;
}
