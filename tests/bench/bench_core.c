/* bench_core: how fast and how lean the core is. It pushes N services through
 * a two-step workflow of no-op extensions (interlookd + two interlook-echo
 * processes, this process being the provider) and prints services per second,
 * step round trips per second, per-step and end-to-end latency, and the core's
 * memory per tracked entry; next to them, a raw ZeroMQ DEALER/ROUTER round
 * trip of the same message size measured in this same run, and the ratio.
 * It is not a test: targets are reported as PASS/MISS, never as a failure.
 *
 * With --ipalloc M ..., it then measures allocations per second through the
 * core with durability on: the same harness with the workflow
 * provider.bench -> ipam.ipalloc and one interlook-ipalloc (pool 10.40.0.0/16,
 * db_file in the run's temporary directory, credit 100), which fsyncs each
 * batch of allocations before answering. Next to it: the allocator's db file
 * size, the plain services/s of the same N when measured in this run, and a
 * check that every service ended deployed with a distinct public_ip. When
 * strace is installed, a second run of each M with the allocator under strace
 * counts its fsync/fdatasync calls (strace slows it: the allocations/s figure
 * comes from the run without it).
 *
 * With --dns D ..., the DNS step against BIND: per D, a BIND started by
 * tests/support/dns_server.c and the workflow provider.bench -> ipam.ipalloc
 * -> dns.rfc2136 (interlook-ipalloc and interlook-dns); services/s, next to
 * the plain services/s of the same count and the raw baseline, and the time
 * from EVENT to the name being answered by the server (queried with ldns by
 * a thread of this process) for names sampled in the burst and for services
 * sent one at a time; then every name is asked for and must answer its
 * service's public_ip (names answered: D/D OK).
 *
 * usage: bench_core [N ...] [--ipalloc [M ...]] [--dns [D ...]]
 *        (bench_core --raw-echo FILE is its own cross-process echo: it binds a
 *        port the kernel chooses and writes its endpoint to FILE)
 *        (N default: 1000 10000 100000; M default: 10000 50000, at most 65000;
 *        D default: 1000 10000, at most 65000)
 * Environment: BENCH_TIMEOUT_S bounds each core run (default 120);
 * BENCH_STRACE=0 skips the strace runs (no fsync count) even when installed;
 * BENCH_BATCH=N sets core.bus.batch of the whole stack (default 64; 1: no
 * ILP batches, one item per message as with an extension of an older release);
 * BENCH_CURVE=1 runs each plain N a second time with CURVE on the bus (keys
 * made for the run, every extension and this process with its own) and
 * prints its figures next to the plain ones.
 * BENCH_ETCD=1 runs each plain N a second time with the entries on etcd
 * (core.store: etcd, a 3-member etcd started for the bench on loopback, this
 * core elected leader first) and prints services/s and step round trips/s
 * next to the file store's, with the bytes each entry takes on etcd (the
 * value, and the key) read back after the run.
 * Exit status: 0 figures printed (whatever the targets), 1 a run could not be
 * set up or did not complete, 2 bad usage. */
#define _GNU_SOURCE /* memmem */
#include "broker/ilp_cert.h"
#include "broker/ilp_client.h"
#include "broker/ilp_frame.h"
#include "common/etcd.h"
#include "tests/support/dns_server.h"
#include "tests/support/etcd_server.h"
#include "tests/support/fixture.h"
#include "broker/ilp_msg.h"
#include "broker/ilp_pub.h"
#include "common/codec.h"
#include "common/log.h"
#include "tests/support/testutil.h"

#include <fcntl.h>
#include <ldns/ldns.h>
#include <poll.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_WINDOW         100    /* credit of the extensions = window of the baseline */
#define S_BASE_COUNT     200000 /* pipelined baseline round trips */
#define S_BASE_SYNC      20000  /* synchronous baseline round trips */
#define S_BASE_WARMUP    20000  /* untimed round trips before each baseline */
#define S_MAX_RUNS       8
#define S_STALL_MS       2000    /* SUB count unchanged this long: ask /metrics */
#define S_WAIT_MS        15000   /* bound of each start-up step (health, registration, warm-up) */
#define S_TARGET_RT      50000.0 /* step round trips per second */
#define S_TARGET_RATIO   0.5
#define S_TARGET_BYTES   2048.0 /* core memory per tracked entry at 100k entries */
#define S_TARGET_ENTRIES 100000
#define S_SVC_PREFIX     "svc-"
#define S_STEPS          2 /* steps after the provider: noop.a, noop.b */
#define S_IPALLOC_CIDR   "10.40.0.0/16"
#define S_IPALLOC_NET    0x0a280000u /* 10.40.0.0 */
#define S_IPALLOC_MASK   0xffff0000u
#define S_IPALLOC_MAX    65000 /* services per run: the /16 holds 65534, warm-up included */
#define S_TMPFS_MAGIC    0x01021994
#define S_DOMAIN         "bench.example" /* the aliases of the runs without DNS */
#define S_DNS_ZONE       "example.test"  /* dns_server.c's zone */
#define S_DNS_SAMPLES    200             /* names polled during a burst */
#define S_DNS_PACED      200             /* services sent one at a time after it */
#define S_DNS_TARGET_MS  50.0            /* EVENT -> answered, p50 */
#define S_DNS_WAIT_MS    10000           /* bound of one paced service / the sample wait */

static char s_bindir[4096];    /* BUILD/bin, next to BUILD/bench/bench_core */
static int s_batch = 64;       /* core.bus.batch of the stack (BENCH_BATCH) */
static bool s_curve;           /* the run being set up has CURVE on its bus (BENCH_CURVE) */
static etcd_server_t *s_etcd;  /* BENCH_ETCD: the cluster, started once */
static char s_etcd_prefix[64]; /* the run being set up keeps its entries there ("": file) */
static char s_strace[4096];    /* strace to count the allocator's fsyncs; "" when none */
static bool s_strace_seccomp;  /* it stops the allocator on the traced calls only */

/* Helpers ------------------------------------------------------------------ */

static int64_t s_now_us(void)
{
    return zclock_usecs();
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int s_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
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

/* True while the child runs; reaps it (and sets *pid_p to -1) once it ended. */
static bool s_alive(pid_t *pid_p, int *status)
{
    if (*pid_p <= 0) return false;
    if (waitpid(*pid_p, status, WNOHANG) == *pid_p) {
        *pid_p = -1;
        return false;
    }
    return true;
}

/* A "Vm...:" line of /proc/PID/status in KiB, -1 when unreadable. */
static long s_proc_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    size_t len = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, len) && line[len] == ':') {
            kb = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* User + system CPU seconds from a /proc stat file, -1 when unreadable. */
static double s_stat_cpu(const char *path)
{
    char text[1024];
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *p = strrchr(text, ')'); /* the command name may hold spaces */
    unsigned long long utime = 0, stime = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of a process (all threads). */
static double s_proc_cpu(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    return s_stat_cpu(path);
}

/* CPU seconds of a process's main thread (the core's loop). */
static double s_main_thread_cpu(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)pid);
    return s_stat_cpu(path);
}

/* Seconds the main thread of a process spent runnable but waiting for a CPU. */
static double s_main_thread_wait(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", (int)pid, (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    unsigned long long run_ns = 0, wait_ns = 0;
    int n = fscanf(f, "%llu %llu", &run_ns, &wait_ns);
    fclose(f);
    return n == 2 ? (double)wait_ns / 1e9 : -1;
}

/* Busy and total CPU time of the machine so far (jiffies, all CPUs). */
static void s_machine_cpu(double *busy, double *total)
{
    unsigned long long v[10] = {0};
    *busy = *total = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 8) return;
    for (int i = 0; i < 8; i++)
        *total += (double)v[i];
    *busy = *total - (double)v[3] - (double)v[4]; /* all but idle and iowait */
}

static double s_self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Counts the WARN and ERROR lines of a log file and prints the first few. */
static int s_log_problems(const char *path, const char *label, int show)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[1024];
    int count = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, " WARN: ") || strstr(line, " ERROR: ") || strstr(line, "exec ")) {
            if (count++ < show) printf("    %s: %s", label, line);
        }
    fclose(f);
    return count;
}

/* The child of pid running a program named name (strace also forks
 * short-lived probes of its own), -1 when there is none yet. */
static pid_t s_child_of(pid_t pid, const char *name)
{
    DIR *proc = opendir("/proc");
    if (!proc) return -1;
    pid_t child = -1;
    for (struct dirent *d; child < 0 && (d = readdir(proc));) {
        if (d->d_name[0] < '1' || d->d_name[0] > '9') continue;
        char path[300], text[512];
        snprintf(path, sizeof path, "/proc/%s/stat", d->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = 0;
        char *p = strrchr(text, ')');
        int ppid;
        if (!p || sscanf(p + 2, "%*c %d", &ppid) != 1 || ppid != pid) continue;
        char target[4200];
        snprintf(path, sizeof path, "/proc/%s/exe", d->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len <= 0) continue;
        target[len] = 0;
        char *base = strrchr(target, '/');
        if (base && !strncmp(base + 1, name, strlen(name)) &&
            (!base[1 + strlen(name)] || base[1 + strlen(name)] == ' ')) /* " (deleted)" */
            child = atoi(d->d_name);
    }
    closedir(proc);
    return child;
}

static long long s_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Lines of a file, -1 when unreadable. */
static long s_file_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long lines = 0;
    for (int c; (c = getc(f)) != EOF;)
        lines += c == '\n';
    fclose(f);
    return lines;
}

/* strace -f -T output from offset on: counts the fsync and fdatasync calls
 * and adds up the time spent in them (the "<seconds>" at the end of the line
 * that completes each call). Returns -1 when the file cannot be read. */
static long s_count_syncs(const char *path, long long offset, double *seconds)
{
    *seconds = 0;
    FILE *f = fopen(path, "r");
    if (!f || fseeko(f, (off_t)offset, SEEK_SET) != 0) {
        if (f) fclose(f);
        return -1;
    }
    long calls = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        bool call = strstr(line, " fsync(") || strstr(line, " fdatasync(");
        bool resumed =
            strstr(line, "<... fsync resumed>") || strstr(line, "<... fdatasync resumed>");
        calls += call;
        char *lt = strrchr(line, '<'), *end;
        if ((call || resumed) && lt) {
            double t = strtod(lt + 1, &end);
            if (end != lt + 1 && *end == '>') *seconds += t;
        }
    }
    fclose(f);
    return calls;
}

/* Finds strace on PATH and whether it can trace with seccomp-bpf (then only
 * the traced calls stop the allocator, not every system call it makes). */
static void s_find_strace(void)
{
    s_strace[0] = 0;
    const char *env = getenv("BENCH_STRACE");
    if (env && !strcmp(env, "0")) return;
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char candidate[4096];
        snprintf(candidate, sizeof candidate, "%s/strace", *dir ? dir : ".");
        if (access(candidate, X_OK) == 0) {
            snprintf(s_strace, sizeof s_strace, "%s", candidate);
            break;
        }
    }
    free(copy);
    if (!s_strace[0]) return;
    char cmd[4300];
    snprintf(cmd, sizeof cmd,
             "'%s' -f --seccomp-bpf -e trace=fsync,fdatasync -o /dev/null true >/dev/null 2>&1",
             s_strace);
    s_strace_seccomp = system(cmd) == 0;
}

/* The service of index i: one target and one alias, NAME.domain. */
static il_service_t *s_service(int i, const char *domain)
{
    char name[64], alias[160];
    snprintf(name, sizeof name, S_SVC_PREFIX "%07d", i);
    snprintf(alias, sizeof alias, "%s.%s", name, domain);
    il_service_t *svc = il_service_new(name);
    if (!svc || il_service_add_target(svc, "192.0.2.10", 8080, 1) ||
        il_service_add_alias(svc, alias))
        il_service_destroy(&svc);
    return svc;
}

/* A WORK body as the core sends it for service i (provider set, per-run id). */
static zframe_t *s_work_body(int i)
{
    il_service_t *svc = s_service(i, S_DOMAIN);
    if (!svc) return NULL;
    il_service_set_string(&svc->provider, "provider.bench");
    char id[32];
    snprintf(id, sizeof id, "%08x-%x", 0x5eed1234u, (unsigned)(2 * i + 1));
    ilp_msg_t msg = {
        .cmd = ILP_WORK, .id = id, .action = ILP_ACTION_ADD, .attempt = 1, .service = svc};
    zframe_t *body = ilp_msg_encode_body(&msg);
    il_service_destroy(&svc);
    return body;
}

/* DNS probes --------------------------------------------------------------- */

/* One name watched by the poller: from its EVENT (sent_us, set by the main
 * thread) until the server answers an A record for it (answered_us, ip). */
typedef struct {
    uint8_t *wire; /* the A query, its id the probe's index */
    size_t wire_len;
    int index;               /* service index; -1: a paced one */
    _Atomic int64_t sent_us; /* 0: EVENT not sent yet */
    _Atomic int64_t answered_us;
    uint32_t ip;
    int64_t asked_us; /* last query sent (poller thread) */
} s_probe_t;

typedef struct {
    s_probe_t *probes;
    int count;
    int fd; /* UDP, connected to the server */
    pthread_t thread;
    bool started;
    atomic_int stop;
    uint64_t queries, replies; /* poller thread, read after the join */
} s_poller_t;

/* A UDP socket connected to the server, non-blocking; -1 on failure. */
static int s_dns_socket(dns_server_t *server)
{
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)dns_server_port(server))};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (inet_pton(AF_INET, dns_server_address(server), &to.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The wire form of a non-recursive A query for name with that id. */
static uint8_t *s_dns_query_wire(const char *name, uint16_t id, size_t *len)
{
    ldns_rdf *dname = ldns_dname_new_frm_str(name);
    if (!dname) return NULL;
    ldns_pkt *q = ldns_pkt_query_new(dname, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
    if (!q) return NULL;
    ldns_pkt_set_id(q, id);
    uint8_t *wire = NULL;
    if (ldns_pkt2wire(&wire, q, len) != LDNS_STATUS_OK) wire = NULL;
    ldns_pkt_free(q);
    return wire;
}

/* Reads one reply: its id, its response code and the first A record of its
 * answer (0 when none). Returns 0, or -1 when nothing (more) is to be read
 * or the datagram is not a DNS message. */
static int s_dns_reply(int fd, uint16_t *id, int *rcode, uint32_t *ip)
{
    uint8_t buf[4096];
    ssize_t len = recv(fd, buf, sizeof buf, 0);
    if (len <= 0) return -1;
    ldns_pkt *pkt = NULL;
    if (ldns_wire2pkt(&pkt, buf, (size_t)len) != LDNS_STATUS_OK) return len > 0 ? -2 : -1;
    *id = ldns_pkt_id(pkt);
    *rcode = ldns_pkt_get_rcode(pkt);
    *ip = 0;
    ldns_rr_list *answer = ldns_pkt_answer(pkt);
    for (size_t i = 0; answer && i < ldns_rr_list_rr_count(answer) && !*ip; i++) {
        ldns_rr *rr = ldns_rr_list_rr(answer, i);
        ldns_rdf *rdf = ldns_rr_get_type(rr) == LDNS_RR_TYPE_A ? ldns_rr_rdf(rr, 0) : NULL;
        if (rdf && ldns_rdf_size(rdf) == 4) {
            uint32_t be;
            memcpy(&be, ldns_rdf_data(rdf), 4);
            *ip = ntohl(be);
        }
    }
    ldns_pkt_free(pkt);
    return 0;
}

/* The poller thread: every pending probe (EVENT sent, no answer yet) is
 * asked again once per period, at most S_POLL_BATCH of them a period, in
 * turn; the period is 1 ms while few are pending, 5 ms otherwise, so that
 * the queries do not take the server's CPU from the updates it measures. */
#define S_POLL_BATCH 50
static void *s_poller_main(void *arg)
{
    s_poller_t *p = arg;
    int next = 0;
    while (!atomic_load(&p->stop)) {
        int64_t start = s_now_us();
        int pending = 0, asked = 0;
        for (int k = 0; k < p->count; k++) {
            s_probe_t *probe = &p->probes[k];
            pending += atomic_load(&probe->sent_us) && !atomic_load(&probe->answered_us);
        }
        int64_t period = pending <= 10 ? 1000 : 5000;
        int first = next;
        for (int k = 0; k < p->count && asked < S_POLL_BATCH; k++) {
            s_probe_t *probe = &p->probes[(first + k) % p->count];
            if (!atomic_load(&probe->sent_us) || atomic_load(&probe->answered_us) ||
                start - probe->asked_us < period)
                continue;
            if (send(p->fd, probe->wire, probe->wire_len, 0) == (ssize_t)probe->wire_len) {
                p->queries++;
                probe->asked_us = start;
            }
            asked++;
            next = (first + k + 1) % p->count;
        }
        for (int64_t now = s_now_us(); now < start + period; now = s_now_us()) {
            struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
            if (poll(&pfd, 1, (int)((start + period - now + 999) / 1000)) <= 0) continue;
            uint16_t id;
            int rcode, got;
            uint32_t ip;
            while ((got = s_dns_reply(p->fd, &id, &rcode, &ip)) != -1) {
                if (got != 0) continue;
                p->replies++;
                if (id >= p->count || rcode != LDNS_RCODE_NOERROR || !ip) continue;
                s_probe_t *probe = &p->probes[id];
                if (atomic_load(&probe->answered_us)) continue;
                probe->ip = ip; /* written before answered_us, which publishes it */
                atomic_store(&probe->answered_us, s_now_us());
            }
        }
    }
    return NULL;
}

/* Probes for the sampled services of a burst of n (spread evenly over it)
 * and the paced ones; the thread is started by s_poller_start. */
static int s_poller_init(s_poller_t *p, dns_server_t *server, int n)
{
    memset(p, 0, sizeof *p);
    p->fd = -1;
    int samples = n < S_DNS_SAMPLES ? n : S_DNS_SAMPLES;
    p->count = samples + S_DNS_PACED;
    p->probes = calloc((size_t)p->count, sizeof *p->probes);
    if (!p->probes) return -1;
    for (int k = 0; k < p->count; k++) {
        char name[128];
        s_probe_t *probe = &p->probes[k];
        if (k < samples) {
            probe->index = (int)((int64_t)k * n / samples);
            snprintf(name, sizeof name, S_SVC_PREFIX "%07d." S_DNS_ZONE ".", probe->index);
        } else {
            probe->index = -1;
            snprintf(name, sizeof name, "lat-%03d." S_DNS_ZONE ".", k - samples);
        }
        probe->wire = s_dns_query_wire(name, (uint16_t)k, &probe->wire_len);
        if (!probe->wire) return -1;
    }
    p->fd = s_dns_socket(server);
    return p->fd < 0 ? -1 : 0;
}

static int s_poller_start(s_poller_t *p)
{
    if (pthread_create(&p->thread, NULL, s_poller_main, p) != 0) return -1;
    p->started = true;
    return 0;
}

static void s_poller_stop(s_poller_t *p)
{
    if (p->started) {
        atomic_store(&p->stop, 1);
        pthread_join(p->thread, NULL);
        p->started = false;
    }
}

static void s_poller_destroy(s_poller_t *p)
{
    s_poller_stop(p);
    for (int k = 0; p->probes && k < p->count; k++)
        free(p->probes[k].wire);
    free(p->probes);
    p->probes = NULL;
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
}

/* Asks the server for the A record of every name NAME.ZONE of the n
 * services (a window of 64 queries in flight, each retried up to 5 times
 * 300 ms apart) and compares the answers with want (the public IP of each,
 * 0: unknown). Counts into ok (answers want), wrong (another address),
 * absent (no A record) and silent (no reply). Returns 0, -1 on setup failure. */
static int s_dns_check_all(dns_server_t *server, int n, const uint32_t *want, int *ok, int *wrong,
                           int *absent, int *silent)
{
    *ok = *wrong = *absent = *silent = 0;
    int fd = s_dns_socket(server);
    int64_t *asked = calloc((size_t)n, sizeof *asked);
    uint8_t *tries = calloc((size_t)n, 1), *state = calloc((size_t)n, 1); /* 0 new 1 asked 2 done */
    if (fd < 0 || !asked || !tries || !state || n > 65536) {
        if (fd >= 0) close(fd);
        free(asked);
        free(tries);
        free(state);
        return -1;
    }
    int next = 0, inflight = 0, done = 0, low = 0; /* all below low are done */
    while (done < n) {
        int64_t now = s_now_us();
        while (low < next && state[low] == 2)
            low++;
        for (int i = low; i < next; i++) /* retries of the silent ones */
            if (state[i] == 1 && now - asked[i] > 300000) {
                if (tries[i] >= 5) {
                    state[i] = 2;
                    (*silent)++;
                    inflight--;
                    done++;
                    continue;
                }
                size_t len;
                char name[128];
                snprintf(name, sizeof name, S_SVC_PREFIX "%07d." S_DNS_ZONE ".", i);
                uint8_t *wire = s_dns_query_wire(name, (uint16_t)i, &len);
                if (wire && send(fd, wire, len, 0) > 0) tries[i]++;
                free(wire);
                asked[i] = now;
            }
        while (inflight < 64 && next < n) {
            size_t len;
            char name[128];
            snprintf(name, sizeof name, S_SVC_PREFIX "%07d." S_DNS_ZONE ".", next);
            uint8_t *wire = s_dns_query_wire(name, (uint16_t)next, &len);
            if (wire && send(fd, wire, len, 0) > 0) tries[next]++;
            free(wire);
            asked[next] = s_now_us();
            state[next++] = 1;
            inflight++;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0) continue;
        uint16_t id;
        int rcode, got;
        uint32_t ip;
        while ((got = s_dns_reply(fd, &id, &rcode, &ip)) != -1) {
            if (got != 0 || id >= n || state[id] != 1) continue;
            state[id] = 2;
            inflight--;
            done++;
            if (!ip)
                (*absent)++;
            else if (want[id] && ip == want[id])
                (*ok)++;
            else
                (*wrong)++;
        }
    }
    close(fd);
    free(asked);
    free(tries);
    free(state);
    return 0;
}

/* Raw ZeroMQ baseline ------------------------------------------------------ */

typedef struct {
    zsock_t *router; /* used by the server thread only once it runs */
    atomic_int stop; /* set by the main thread */
} s_echo_srv_t;

/* The ROUTER echo: every message goes back to its sender as it came. */
static void *s_echo_server(void *arg)
{
    s_echo_srv_t *srv = arg;
    while (!atomic_load(&srv->stop)) {
        zmsg_t *msg = zmsg_recv(srv->router); /* RCVTIMEO bounds the wait */
        if (!msg) continue;
        if (zmsg_send(&msg, srv->router) != 0) zmsg_destroy(&msg);
    }
    return NULL;
}

/* Sends ["ILP1", "WORK", body] as the core does (a new message per send). */
static int s_send_work(zsock_t *sock, zframe_t *body)
{
    zmsg_t *msg = zmsg_new();
    zframe_t *copy = zframe_dup(body);
    zmsg_addstr(msg, ILP_SIGNATURE);
    zmsg_addstr(msg, "WORK");
    zmsg_append(msg, &copy);
    int rc = zmsg_send(&msg, sock);
    if (rc != 0) zmsg_destroy(&msg);
    return rc;
}

typedef struct {
    int window;
    int count;
    double seconds;
    double per_s;
    int64_t p50_us, p99_us;
} s_base_t;

/* count round trips with at most window in flight; lat (count items) gets
 * each round trip's time (replies come back in order). Returns 0 or -1. */
static int s_pipeline(zsock_t *dealer, zframe_t *body, int window, int count, int64_t *lat,
                      double *seconds)
{
    int64_t *sent_at = calloc((size_t)count, sizeof *sent_at);
    if (!sent_at) return -1;
    int sent = 0, received = 0, rc = 0;
    int64_t start = s_now_us();
    while (sent < window && sent < count) {
        sent_at[sent] = s_now_us();
        if (s_send_work(dealer, body) != 0) break;
        sent++;
    }
    while (received < count) {
        zmsg_t *reply = zmsg_recv(dealer);
        if (!reply) {
            rc = -1;
            break;
        }
        int64_t now = s_now_us();
        if (lat) lat[received] = now - sent_at[received];
        received++;
        zmsg_destroy(&reply);
        if (sent < count) {
            sent_at[sent] = s_now_us();
            if (s_send_work(dealer, body) != 0) {
                rc = -1;
                break;
            }
            sent++;
        }
    }
    *seconds = (double)(s_now_us() - start) / 1e6;
    free(sent_at);
    return rc;
}

static int s_baseline(zframe_t *body, s_base_t *pipelined, s_base_t *sync)
{
    s_echo_srv_t srv = {.router = zsock_new(ZMQ_ROUTER)};
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    if (!srv.router || !dealer) return -1;
    zsock_set_rcvtimeo(srv.router, 100);
    zsock_set_sndhwm(srv.router, 100000);
    zsock_set_rcvhwm(srv.router, 100000);
    zsock_set_linger(srv.router, 0);
    int port = zsock_bind(srv.router, "tcp://127.0.0.1:*");
    zsock_set_rcvtimeo(dealer, 5000);
    zsock_set_sndhwm(dealer, 100000);
    zsock_set_rcvhwm(dealer, 100000);
    zsock_set_linger(dealer, 0);
    pthread_t thread;
    int rc = -1;
    if (port <= 0 || zsock_connect(dealer, "tcp://127.0.0.1:%d", port) != 0 ||
        pthread_create(&thread, NULL, s_echo_server, &srv) != 0) {
        zsock_destroy(&dealer);
        zsock_destroy(&srv.router);
        return -1;
    }
    s_base_t *runs[2] = {pipelined, sync};
    int windows[2] = {S_WINDOW, 1}, counts[2] = {S_BASE_COUNT, S_BASE_SYNC};
    for (int r = 0; r < 2; r++) {
        s_base_t *b = runs[r];
        double warm;
        int64_t *lat = calloc((size_t)counts[r], sizeof *lat);
        if (!lat || s_pipeline(dealer, body, windows[r], S_BASE_WARMUP, NULL, &warm) != 0 ||
            s_pipeline(dealer, body, windows[r], counts[r], lat, &b->seconds) != 0) {
            fprintf(stderr, "bench_core: baseline W=%d: no reply within 5 s\n", windows[r]);
            free(lat);
            goto done;
        }
        b->window = windows[r];
        b->count = counts[r];
        b->per_s = counts[r] / b->seconds;
        qsort(lat, (size_t)counts[r], sizeof *lat, s_cmp_i64);
        b->p50_us = s_quantile(lat, (size_t)counts[r], 0.50);
        b->p99_us = s_quantile(lat, (size_t)counts[r], 0.99);
        free(lat);
    }
    rc = 0;
done:
    atomic_store(&srv.stop, 1);
    pthread_join(thread, NULL);
    zsock_destroy(&dealer);
    zsock_destroy(&srv.router);
    return rc;
}

/* The same pipelined baseline with the ROUTER echo in another process (this
 * program run with --raw-echo), as the core and an extension are: each side
 * then has its own ZeroMQ I/O thread and every message crosses processes. */
static int s_raw_echo_main(const char *file)
{
    const char *endpoint = "tcp://127.0.0.1:*";
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    if (!router) return 1;
    zsock_set_sndhwm(router, 100000);
    zsock_set_rcvhwm(router, 100000);
    zsock_set_linger(router, 0);
    zsock_set_rcvtimeo(router, 100); /* to see a stop request or a gone parent */
    pid_t parent = getppid();
    if (zsock_bind(router, "%s", endpoint) < 0) {
        fprintf(stderr, "bench_core --raw-echo: cannot bind %s\n", endpoint);
        zsock_destroy(&router);
        return 1;
    }
    char tmp[4096]; /* written whole, then renamed: the parent reads all of it or nothing */
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    char *bound = zsock_last_endpoint(router);
    int written = bound && test_write_file(tmp, bound) == 0 && rename(tmp, file) == 0;
    free(bound);
    if (!written) {
        fprintf(stderr, "bench_core --raw-echo: cannot write %s\n", file);
        zsock_destroy(&router);
        return 1;
    }
    while (!zsys_interrupted && getppid() == parent) { /* SIGTERM from the parent ends it */
        zmsg_t *msg = zmsg_recv(router);
        if (!msg) continue;
        if (zmsg_send(&msg, router) != 0) zmsg_destroy(&msg);
    }
    zsock_destroy(&router);
    return 0;
}

static bool s_file_there(void *arg)
{
    return access(arg, R_OK) == 0;
}

static int s_baseline_xproc(zframe_t *body, s_base_t *out)
{
    char self[4096], file[600];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    char *dir = test_tmpdir();
    if (len < 0 || !dir) {
        free(dir);
        return -1;
    }
    self[len] = 0;
    snprintf(file, sizeof file, "%s/endpoint", dir);
    const char *args[] = {"--raw-echo", file, NULL};
    pid_t pid = test_spawn_log(self, args, "/dev/null", NULL);
    zsock_t *dealer = NULL;
    int rc = -1;
    char *endpoint = NULL;
    if (pid <= 0 || !test_wait(s_file_there, file, S_WAIT_MS) ||
        !(endpoint = test_sh_output("cat '%s'", file))) {
        fprintf(stderr, "bench_core: the cross-process echo wrote no endpoint\n");
        goto done;
    }
    dealer = zsock_new(ZMQ_DEALER);
    if (!dealer) goto done;
    zsock_set_rcvtimeo(dealer, 5000);
    zsock_set_sndhwm(dealer, 100000);
    zsock_set_rcvhwm(dealer, 100000);
    zsock_set_linger(dealer, 0);
    if (zsock_connect(dealer, "%s", endpoint) != 0) goto done; /* bound before it was written */
    double warm;
    int64_t *lat = calloc(S_BASE_COUNT, sizeof *lat);
    if (!lat || s_pipeline(dealer, body, S_WINDOW, S_BASE_WARMUP, NULL, &warm) != 0 ||
        s_pipeline(dealer, body, S_WINDOW, S_BASE_COUNT, lat, &out->seconds) != 0) {
        fprintf(stderr, "bench_core: cross-process baseline: no reply within 5 s\n");
        free(lat);
        goto done;
    }
    out->window = S_WINDOW;
    out->count = S_BASE_COUNT;
    out->per_s = S_BASE_COUNT / out->seconds;
    qsort(lat, S_BASE_COUNT, sizeof *lat, s_cmp_i64);
    out->p50_us = s_quantile(lat, S_BASE_COUNT, 0.50);
    out->p99_us = s_quantile(lat, S_BASE_COUNT, 0.99);
    free(lat);
    rc = 0;
done:
    zsock_destroy(&dealer);
    if (pid > 0) test_stop(pid, SIGTERM, 2000); /* SIGKILL after 2 s */
    free(endpoint);
    test_sh("rm -rf '%s'", dir);
    free(dir);
    return rc;
}

/* Core run ----------------------------------------------------------------- */

#define S_MAX_BUCKETS 32

typedef struct {
    int nb;                   /* finite buckets */
    double le[S_MAX_BUCKETS]; /* upper bounds, seconds */
    uint64_t cum[S_MAX_BUCKETS];
    uint64_t count; /* all observations (+Inf bucket) */
    double sum;
} s_hist_t;

typedef struct {
    bool ok;           /* parsed */
    uint64_t deployed; /* interlook_entries{state="deployed"} */
    uint64_t retried, failed, stale, saves, redispatched, dead;
    double save_seconds; /* duration of the last save of the entries file */
    s_hist_t hist;
} s_metrics_t;

typedef struct {
    int n;
    bool ipalloc;     /* workflow provider.bench -> ipam.ipalloc (else noop.a, noop.b) */
    int steps;        /* step round trips per service */
    bool complete;    /* all N deployed */
    bool via_metrics; /* completion confirmed by /metrics, not seen on SUB */
    int seen;         /* deployed seen on SUB */
    uint64_t pubs;    /* "changes" publications received */
    uint64_t changes; /* state changes in them */
    double elapsed;   /* first EVENT -> last service deployed, seconds */
    double svc_per_s, rt_per_s, ratio;
    double ratio_x;                       /* to the cross-process baseline */
    double step_p50, step_p99, step_mean; /* bucket bounds in s; < 0: beyond the last */
    int64_t e2e_p50_us, e2e_p99_us;
    long rss0_kb, hwm_kb, rss_end_kb;
    double per_entry, retained_per_entry;                  /* bytes */
    double cpu_core, cpu_core_main, cpu_echo[2], cpu_self; /* ipalloc: cpu_echo[0] */
    double core_wait;    /* the core's loop runnable, waiting for a CPU (s) */
    double machine_busy; /* share of all CPUs busy during the run */
    double others_cpu;   /* CPU s of processes outside the stack during the run */
    double save_seconds;
    uint64_t retried, failed, stale, saves, redispatched, dead;
    int log_problems;
    /* ipalloc runs */
    double plain_svc_per_s; /* plain services/s of the same N in this run; 0: none */
    long long db_bytes;     /* the allocator's db file at the end */
    long db_records;        /* its A/R lines */
    long fsyncs;            /* fsync + fdatasync calls during the run; -1: not counted */
    double fsync_seconds;   /* time spent in them */
    double cpu_strace;      /* CPU s of strace itself during the run */
    bool ips_checked;       /* GET /services was read */
    int ips_distinct;       /* services deployed with a distinct public_ip in the pool */
    int ips_missing;        /* not deployed, or deployed without a public_ip */
    int ips_dup;            /* services whose public_ip another one holds too */
    int ips_outside;        /* public_ip outside the pool */
    /* the strace run of the same N (fsyncs and fsync_seconds are its own) */
    bool traced;             /* it completed */
    double traced_elapsed;   /* its elapsed time */
    double traced_svc_per_s; /* its allocations/s */
    bool traced_ips_checked, traced_ips_ok;
    int traced_log_problems;
    /* dns runs (ipalloc is set too: the allocator is in the workflow) */
    bool dns;
    double cpu_named;                                 /* CPU s of named during the run */
    int burst_samples;                                /* names polled during the burst */
    int burst_answered;                               /* of them, answered */
    int64_t burst_p50_us, burst_p99_us, burst_max_us; /* EVENT -> answered */
    int paced;                                        /* services sent one at a time */
    int paced_answered;
    int64_t paced_p50_us, paced_p99_us, paced_max_us;
    int samples_ip_ok;     /* polled answers equal to the service's public_ip */
    int samples_ip_bad;    /* another address */
    uint64_t poll_queries; /* queries the poller sent */
    bool names_checked;
    int names_ok, names_wrong, names_absent, names_silent;
} s_result_t;

typedef struct {
    int n;
    fixture_t *stack; /* directory, configuration, processes */
    const char *dir;
    bool ipalloc;
    bool traced; /* the allocator runs under strace */
    int next;    /* extension processes: 2 (noop.a, noop.b) or 1 (ipam.ipalloc) */
    pid_t core;
    pid_t echo[2];        /* the extension children (the allocator's strace, when counting) */
    pid_t ext[2];         /* the extension processes themselves */
    char db[600];         /* the allocator's db_file */
    char strace_out[600]; /* strace's output, "" when not counting */
    ilp_client_t *client;
    zsock_t *sub;
    msgpack_zone zone; /* reused to decode the publications that matter */
    bool zone_ready;
    int64_t *sent_us; /* per service index: when its EVENT was sent */
    uint8_t *done;    /* per service index: deployed seen */
    int64_t *lat_us;  /* end-to-end latencies, seen of them */
    int seen;
    int64_t last_seen_us;
    uint64_t pubs;
    uint64_t changes;
    uint64_t pubs_bad;
    int warm_sent;
    int warm_deployed;
    /* dns runs */
    bool dns;
    dns_server_t *server;
    s_poller_t *poller;
    int *probe_of; /* per service index: its probe, -1 when not sampled */
} s_run_t;

static char *s_http(s_run_t *run, const char *path, long *status)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", fixture_api(run->stack), path);
    *status = 0;
    return test_http_get(url, status);
}

static uint64_t s_metric(const char *text, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = text; (p = strstr(p, name)); p += len)
        if ((p == text || p[-1] == '\n') && p[len] == ' ') return strtoull(p + len + 1, NULL, 10);
    return 0;
}

static int s_get_metrics(s_run_t *run, s_metrics_t *m)
{
    memset(m, 0, sizeof *m);
    long status;
    char *text = s_http(run, "/metrics", &status);
    if (!text || status != 200) {
        free(text);
        return -1;
    }
    m->deployed = s_metric(text, "interlook_entries{state=\"deployed\"}");
    m->retried = s_metric(text, "interlook_work_retried_total");
    m->failed = s_metric(text, "interlook_work_failed_total");
    m->stale = s_metric(text, "interlook_results_stale_total");
    m->saves = s_metric(text, "interlook_entries_saves_total");
    m->redispatched = s_metric(text, "interlook_work_redispatched_total");
    m->dead = s_metric(text, "interlook_instances_dead_total");
    const char *save = strstr(text, "\ninterlook_entries_save_seconds ");
    if (save) m->save_seconds = strtod(save + strlen("\ninterlook_entries_save_seconds "), NULL);
    static const char bucket[] = "interlook_dispatch_latency_seconds_bucket{le=\"";
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) next++;
        if (strncmp(line, bucket, sizeof bucket - 1)) continue;
        char *le = line + sizeof bucket - 1;
        char *close = strstr(le, "\"} ");
        if (!close) continue;
        uint64_t value = strtoull(close + 3, NULL, 10);
        if (!strncmp(le, "+Inf", 4))
            m->hist.count = value;
        else if (m->hist.nb < S_MAX_BUCKETS) {
            m->hist.le[m->hist.nb] = strtod(le, NULL);
            m->hist.cum[m->hist.nb++] = value;
        }
    }
    const char *sum = strstr(text, "\ninterlook_dispatch_latency_seconds_sum ");
    if (sum) m->hist.sum = strtod(sum + strlen("\ninterlook_dispatch_latency_seconds_sum "), NULL);
    m->ok = m->hist.nb > 0;
    free(text);
    return m->ok ? 0 : -1;
}

/* The bound of the first bucket holding the q-quantile of after - before;
 * -1 when beyond the last finite bucket. */
static double s_hist_quantile(const s_hist_t *after, const s_hist_t *before, double q)
{
    uint64_t count = after->count - before->count;
    if (count == 0) return 0;
    uint64_t rank = (uint64_t)(q * (double)count + 0.999999);
    if (rank < 1) rank = 1;
    for (int b = 0; b < after->nb; b++)
        if (after->cum[b] - (b < before->nb ? before->cum[b] : 0) >= rank) return after->le[b];
    return -1;
}

/* Entries saved: the core has settled after the run. */
static bool s_saved(void *arg)
{
    long status;
    char *body = s_http(arg, "/health", &status);
    json_t *json = body && status == 200 ? json_loads(body, 0, NULL) : NULL;
    free(body);
    bool saved = json && json_is_true(json_object_get(json, "entries_saved"));
    json_decref(json);
    return saved;
}

/* The core leads (core.store: etcd): extensions are welcome. */
static bool s_leads(void *arg)
{
    long status;
    char *body = s_http(arg, "/health", &status);
    json_t *json = body && status == 200 ? json_loads(body, 0, NULL) : NULL;
    free(body);
    const char *role = json_string_value(json_object_get(json, "role"));
    bool leads = role && !strcmp(role, "leader");
    json_decref(json);
    return leads;
}

/* Bytes of the entries under s_etcd_prefix: values and keys, and how many. */
static int s_etcd_bytes(long long *values, long long *keys, long *count)
{
    il_etcd_config_t config = {.endpoints = etcd_server_endpoint_list(s_etcd),
                               .endpoint_count = etcd_server_size(s_etcd)};
    char err[1024], prefix[128];
    il_etcd_t *client = il_etcd_new(&config, err, sizeof err);
    if (!client) return -1;
    snprintf(prefix, sizeof prefix, "%s/entries/", s_etcd_prefix);
    il_etcd_range_t range = {0};
    int rc = il_etcd_get_prefix(client, prefix, 0, 0, &range, err, sizeof err);
    *values = *keys = 0;
    *count = (long)range.count;
    for (size_t i = 0; rc == 0 && i < range.count; i++) {
        *values += (long long)range.kvs[i].value_len;
        *keys += (long long)strlen(range.kvs[i].key);
    }
    if (rc != 0) fprintf(stderr, "bench_core: reading etcd: %s\n", err);
    il_etcd_range_free(&range);
    il_etcd_destroy(&client);
    return rc;
}

/* The allocator runs under strace: its pid is known. */
static bool s_tracee_found(void *arg)
{
    s_run_t *run = arg;
    run->ext[0] = s_child_of(run->echo[0], "interlook-ipalloc");
    return run->ext[0] > 0;
}

static bool s_connected(void *arg)
{
    s_run_t *run = arg;
    return ilp_client_connected(run->client);
}

static bool s_warm(void *arg)
{
    return ((s_run_t *)arg)->warm_deployed > 0;
}

static bool s_all_seen(void *arg)
{
    s_run_t *run = arg;
    return run->seen >= run->n;
}

/* One state change (a map of a "changes" publication): counts services
 * whose state became "deployed". */
static void s_on_change(s_run_t *run, const msgpack_object *change)
{
    const msgpack_object *state = il_codec_map_get(change, "state");
    const msgpack_object *svc = il_codec_map_get(change, "service");
    const msgpack_object *name = svc ? il_codec_map_get(svc, "name") : NULL;
    if (!state || state->type != MSGPACK_OBJECT_STR || !name || name->type != MSGPACK_OBJECT_STR) {
        run->pubs_bad++;
        return;
    }
    if (state->via.str.size != 8 || memcmp(state->via.str.ptr, "deployed", 8)) return;
    char text[64];
    size_t len = name->via.str.size < sizeof text - 1 ? name->via.str.size : sizeof text - 1;
    memcpy(text, name->via.str.ptr, len);
    text[len] = 0;
    char *end;
    long i = strtol(text + strlen(S_SVC_PREFIX), &end, 10);
    if (!strncmp(text, "warmup-", 7)) {
        run->warm_deployed++;
    } else if (!strncmp(text, S_SVC_PREFIX, strlen(S_SVC_PREFIX)) && !*end && i >= 0 &&
               i < run->n && !run->done[i]) {
        int64_t now = s_now_us();
        run->done[i] = 1;
        run->lat_us[run->seen++] = now - run->sent_us[i];
        run->last_seen_us = now;
    }
}

/* One "changes" publication (topic and body frames, read in place). */
static void s_on_changes(s_run_t *run, const ilp_frame_t *topic, const ilp_frame_t *body)
{
    /* Only "state: deployed" matters: the encoded key and value
     * ("\xa5state\xa8deployed"; "expected_state" cannot match) let the
     * publications without one go undecoded, so that observing takes as
     * little CPU as possible from the core on this small machine. */
    static const char needle[] = "\xa5state\xa8"
                                 "deployed";
    run->pubs++;
    msgpack_object obj;
    char why[300];
    msgpack_zone_clear(&run->zone);
    if (topic->size != strlen(ILP_TOPIC_CHANGES) ||
        memcmp(topic->data, ILP_TOPIC_CHANGES, topic->size) ||
        il_codec_unpack_zone(body->data, body->size, &run->zone, &obj, why, sizeof why) ||
        obj.type != MSGPACK_OBJECT_ARRAY) {
        run->pubs_bad++;
        return;
    }
    run->changes += obj.via.array.size;
    if (!memmem(body->data, body->size, needle, sizeof needle - 1)) return;
    for (uint32_t i = 0; i < obj.via.array.size; i++)
        s_on_change(run, &obj.via.array.ptr[i]);
}

static int s_on_sub(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    s_run_t *run = arg;
    void *handle = zsock_resolve(reader);
    /* Frames read in place (no zmsg); ilp_recv returns -1 once drained. */
    for (int n = 0; n < 10000; n++) {
        ilp_recv_t in;
        if (ilp_recv(handle, &in) != 0) break;
        ilp_frame_t frames[ILP_RECV_PARTS];
        if (ilp_recv_frames(&in, 0, frames) == 2 && in.count == 2)
            s_on_changes(run, &frames[0], &frames[1]);
        else
            run->pubs_bad++;
        ilp_recv_close(&in);
    }
    return 0;
}

static int s_event(s_run_t *run, int i)
{
    il_service_t *svc = s_service(i, run->dns ? S_DNS_ZONE : S_DOMAIN);
    if (!svc) return -1;
    run->sent_us[i] = s_now_us();
    if (run->probe_of && run->probe_of[i] >= 0)
        atomic_store(&run->poller->probes[run->probe_of[i]].sent_us, run->sent_us[i]);
    int rc = ilp_client_event(run->client, ILP_ACTION_ADD, svc);
    il_service_destroy(&svc);
    return rc;
}

static int s_warm_event(s_run_t *run)
{
    char name[32];
    snprintf(name, sizeof name, "warmup-%d", ++run->warm_sent);
    il_service_t *svc = il_service_new(name);
    if (!svc) return -1;
    il_service_add_target(svc, "192.0.2.10", 8080, 1);
    int rc = ilp_client_event(run->client, ILP_ACTION_ADD, svc);
    il_service_destroy(&svc);
    return rc;
}

/* CURVE keys of a run: the core's, one for the extensions, one for this
 * process, the two public ones allowed. -1 after saying why. */
static int s_curve_keys(const char *dir)
{
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/clients", dir);
    if (mkdir(path, 0755) != 0) return -1;
    static const char *const names[] = {"core", "ext", "bench"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (ilp_cert_generate(path, NULL, false, err, sizeof err) != 0 ||
            (i > 0 && test_sh("cp '%s' '%s/clients/'", path, dir) != 0)) {
            fprintf(stderr, "bench_core: CURVE keys: %s\n", err);
            return -1;
        }
    }
    return 0;
}

/* CURVE on this process's SUB: the core's key and ours. */
static int s_curve_sub(s_run_t *run)
{
    char path[4200], err[512];
    ilp_cert_t core, own;
    snprintf(path, sizeof path, "%s/core", run->dir);
    if (ilp_cert_load_public(&core, path, err, sizeof err) != 0) return -1;
    snprintf(path, sizeof path, "%s/bench", run->dir);
    if (ilp_cert_load_pair(&own, path, err, sizeof err) != 0) {
        ilp_cert_clear(&core);
        return -1;
    }
    zsock_set_curve_serverkey(run->sub, core.public_key);
    zsock_set_curve_publickey(run->sub, own.public_key);
    zsock_set_curve_secretkey(run->sub, own.secret_key);
    ilp_cert_clear(&core);
    ilp_cert_clear(&own);
    return 0;
}

static int s_setup(s_run_t *run)
{
    char bus[256];
    snprintf(bus, sizeof bus, "batch: %d%s", s_batch,
             s_curve ? ", curve: { coreCert: \"{dir}/core\", clientCerts: \"{dir}/clients\" }"
                     : "");
    fixture_opts_t opts = {.name = "bench_core", .bus = bus, .core_log = "core.out"};
    run->stack = fixture_new(&opts);
    if (!run->stack) return -1;
    run->dir = fixture_dir(run->stack);
    snprintf(run->db, sizeof run->db, "%s/var/ipalloc.db", run->dir);
    char keys[1024], sections[2048] = "";
    snprintf(keys, sizeof keys, "  logLevel: warn\n  workflowSteps: %s\n",
             run->dns       ? "provider.bench,ipam.ipalloc,dns.rfc2136"
             : run->ipalloc ? "provider.bench,ipam.ipalloc"
                            : "provider.bench,noop.a,noop.b");
    if (s_etcd_prefix[0]) {
        size_t used = strlen(keys);
        snprintf(keys + used, sizeof keys - used,
                 "  store: etcd\n  id: bench\n  etcd:\n    endpoints: \"%s\"\n    prefix: %s\n",
                 etcd_server_endpoints(s_etcd), s_etcd_prefix);
    }
    if (run->ipalloc)
        snprintf(sections, sizeof sections,
                 "ipam:\n"
                 "  ipalloc:\n"
                 "    network_cidr: %s\n"
                 "    db_file: %s\n"
                 "    credit: %d\n"
                 "    logLevel: warn\n",
                 S_IPALLOC_CIDR, run->db, S_WINDOW);
    if (run->dns) {
        size_t used = strlen(sections);
        snprintf(sections + used, sizeof sections - used,
                 "dns:\n"
                 "  rfc2136:\n"
                 "    server: %s\n"
                 "    zones: [" S_DNS_ZONE "]\n"
                 "    tsigKeyFile: %s\n"
                 "    ttl: 60s\n"
                 "    ownerId: bench\n"
                 "    timeout: 2s\n"
                 "    credit: %d\n"
                 "    logLevel: warn\n",
                 dns_server_endpoint(run->server), dns_server_key_file(run->server), S_WINDOW);
    }
    char ext_cert[4200], bench_cert[4200], core_cert[4200];
    snprintf(ext_cert, sizeof ext_cert, "%s/ext", run->dir);
    snprintf(bench_cert, sizeof bench_cert, "%s/bench", run->dir);
    snprintf(core_cert, sizeof core_cert, "%s/core", run->dir);
    if (s_curve && s_curve_keys(run->dir) != 0) return -1;
    if (fixture_config_write(run->stack, keys, sections) != 0) return -1;
    run->core = fixture_start_core(run->stack, S_WAIT_MS);
    if (run->core <= 0) return -1;
    if (s_etcd_prefix[0] && !test_wait(s_leads, run, S_WAIT_MS)) {
        fprintf(stderr, "bench_core: the core was not elected within %d ms\n", S_WAIT_MS);
        return -1;
    }
    static const char *const names[2] = {"noop.a", "noop.b"};
    if (run->ipalloc) {
        const char *args[32] = {0};
        int argc = 0;
        char bin[4200];
        snprintf(bin, sizeof bin, "%s", test_bin("interlook-ipalloc"));
        if (run->traced) { /* the allocator under strace, counting its fsyncs */
            snprintf(run->strace_out, sizeof run->strace_out, "%s/ipalloc.strace", run->dir);
            args[argc++] = "-f";
            if (s_strace_seccomp) args[argc++] = "--seccomp-bpf";
            args[argc++] = "-T";
            args[argc++] = "-e";
            args[argc++] = "trace=fsync,fdatasync";
            args[argc++] = "-o";
            args[argc++] = run->strace_out;
            args[argc++] = bin;
        }
        const char *rest[] = {"-c",        fixture_config(run->stack), "--instance",
                              "ipalloc-1", s_curve ? "--cert" : NULL,  ext_cert,
                              NULL};
        for (int k = 0; rest[k]; k++)
            args[argc++] = rest[k];
        run->echo[0] =
            fixture_spawn(run->stack, run->traced ? s_strace : bin, args, "ipalloc.log", NULL);
        run->ext[0] = run->echo[0];
        if (run->echo[0] <= 0) return -1;
        if (run->traced && !test_wait(s_tracee_found, run, S_WAIT_MS)) {
            fprintf(stderr, "bench_core: strace started no allocator within %d ms\n", S_WAIT_MS);
            return -1;
        }
    }
    if (run->dns) {
        const char *args[] = {"-c",    fixture_config(run->stack), "--instance",
                              "dns-1", s_curve ? "--cert" : NULL,  ext_cert,
                              NULL};
        run->echo[1] = run->ext[1] =
            fixture_spawn(run->stack, "interlook-dns", args, "dns.log", NULL);
        if (run->echo[1] <= 0) return -1;
    }
    for (int i = 0; i < run->next && !run->ipalloc; i++) { /* noop.a, noop.b */
        char instance[32], credit[16], log[32];
        snprintf(instance, sizeof instance, "%s-1", names[i]);
        snprintf(credit, sizeof credit, "%d", S_WINDOW);
        snprintf(log, sizeof log, "%s.log", names[i]);
        const char *args[] = {"-c",
                              fixture_config(run->stack),
                              "--name",
                              names[i],
                              "--instance",
                              instance,
                              "--credit",
                              credit,
                              s_curve ? "--cert" : NULL,
                              ext_cert,
                              NULL};
        run->echo[i] = run->ext[i] = fixture_spawn(run->stack, "interlook-echo", args, log, NULL);
        if (run->echo[i] <= 0) return -1;
    }
    static const char *const steps[2] = {"ipam.ipalloc", "dns.rfc2136"};
    for (int i = 0; i < run->next; i++)
        if (!fixture_wait_registered(run->stack, run->ipalloc ? steps[i] : names[i], 1, S_WAIT_MS))
            return -1;
    /* The observer first, so that it is subscribed before anything happens. */
    if (!msgpack_zone_init(&run->zone, 4096)) return -1;
    run->zone_ready = true;
    run->sub = zsock_new(ZMQ_SUB);
    zsock_set_rcvhwm(run->sub, 4000000);
    zsock_set_rcvtimeo(run->sub, 0);
    zsock_set_subscribe(run->sub, ILP_TOPIC_CHANGES);
    if (s_curve && s_curve_sub(run) != 0) return -1;
    if (zsock_connect(run->sub, "%s", fixture_publish(run->stack)) != 0) return -1;
    ilp_client_config_t cc = {.name = "provider.bench",
                              .instance = "provider-bench-1",
                              .credit = 1,
                              .router_endpoint = fixture_router(run->stack),
                              .publish_endpoint = fixture_publish(run->stack),
                              .batch = (uint32_t)s_batch,
                              .core_cert = s_curve ? core_cert : NULL,
                              .cert = s_curve ? bench_cert : NULL};
    ilp_client_handler_t handler = {0};
    run->client = ilp_client_new(&cc, &handler, run);
    if (!run->client) return -1;
    zloop_t *loop = ilp_client_loop(run->client);
    zloop_reader(loop, run->sub, s_on_sub, run);
    if (!test_loop_until(loop, s_connected, run, S_WAIT_MS)) {
        fprintf(stderr, "bench_core: provider.bench not registered within %d ms\n", S_WAIT_MS);
        return -1;
    }
    /* Warm-up: until a service is seen deployed, which proves the whole path
     * (including the subscription, which ZeroMQ sets up asynchronously). */
    for (int k = 0; k < 20 && !run->warm_deployed; k++) {
        s_warm_event(run);
        test_loop_until(loop, s_warm, run, 500);
    }
    if (!run->warm_deployed) {
        fprintf(stderr, "bench_core: warm-up service never seen deployed\n");
        return -1;
    }
    return 0;
}

static void s_teardown(s_run_t *run)
{
    if (run->client && run->sub) zloop_reader_end(ilp_client_loop(run->client), run->sub);
    zsock_destroy(&run->sub);
    if (run->zone_ready) msgpack_zone_destroy(&run->zone);
    run->zone_ready = false;
    ilp_client_destroy(&run->client);
    for (int i = 0; i < 2; i++) {
        if (run->echo[i] > 0 && run->strace_out[0]) {
            /* strace blocks fatal signals: the allocator is stopped, strace then ends */
            pid_t tracee = s_child_of(run->echo[i], "interlook-ipalloc");
            if (tracee > 0) kill(tracee, SIGTERM);
            int status = test_stop(run->echo[i], 0, 5000); /* signal 0: only waits */
            if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                printf("    note: interlook-ipalloc did not stop cleanly on SIGTERM (status %d)\n",
                       status);
            if (status == -1 && tracee > 0) kill(tracee, SIGKILL); /* strace killed: detached */
        } else if (run->echo[i] > 0) {
            test_stop(run->echo[i], SIGTERM, 5000);
        }
    }
    if (run->core > 0) {
        int status = test_stop(run->core, SIGTERM, 30000);
        if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            printf("    note: interlookd did not stop cleanly on SIGTERM (status %d)\n", status);
    }
    fixture_destroy(&run->stack);     /* what is left, and the directory */
    dns_server_destroy(&run->server); /* after the stack: nothing writes to a stopped server */
    free(run->sent_us);
    free(run->done);
    free(run->lat_us);
}

static uint32_t s_ipv4(const char *text)
{
    struct in_addr a;
    return text && inet_pton(AF_INET, text, &a) == 1 ? ntohl(a.s_addr) : 0;
}

/* Reads GET /services once: every service of the run must be deployed with a
 * public_ip of the pool that no other service holds. When not NULL, by_index
 * (n) and lat (S_DNS_PACED) get the public_ip of each service svc-I and
 * lat-K (0: none). */
static void s_check_ips(s_run_t *run, s_result_t *res, uint32_t *by_index, uint32_t *lat)
{
    long status;
    char *body = s_http(run, "/services", &status);
    json_t *all = body && status == 200 ? json_loads(body, 0, NULL) : NULL;
    free(body);
    if (!json_is_object(all)) {
        json_decref(all);
        return;
    }
    uint32_t *ips = calloc((size_t)run->n, sizeof *ips);
    if (!ips) {
        json_decref(all);
        return;
    }
    int count = 0;
    const char *name;
    json_t *entry;
    json_object_foreach(all, name, entry)
    {
        char *end;
        const char *state = json_string_value(json_object_get(entry, "state"));
        uint32_t ip = s_ipv4(
            json_string_value(json_object_get(json_object_get(entry, "service"), "public_ip")));
        long k = !strncmp(name, "lat-", 4) ? strtol(name + 4, &end, 10) : -1;
        if (lat && k >= 0 && k < S_DNS_PACED && !*end) lat[k] = ip;
        if (strncmp(name, S_SVC_PREFIX, strlen(S_SVC_PREFIX))) continue; /* the warm-up ones */
        long i = strtol(name + strlen(S_SVC_PREFIX), &end, 10);
        if (*end || i < 0 || i >= run->n) continue;
        if (by_index) by_index[i] = ip;
        if (!state || strcmp(state, "deployed") || !ip) continue;
        if ((ip & S_IPALLOC_MASK) != S_IPALLOC_NET)
            res->ips_outside++;
        else
            ips[count++] = ip;
    }
    json_decref(all);
    qsort(ips, (size_t)count, sizeof *ips, s_cmp_u32);
    for (int i = 0; i < count; i++)
        if ((i > 0 && ips[i] == ips[i - 1]) || (i + 1 < count && ips[i] == ips[i + 1]))
            res->ips_dup++;
    res->ips_distinct = count - res->ips_dup;
    res->ips_missing = run->n - count - res->ips_outside;
    res->ips_checked = true;
    free(ips);
}

static bool s_probe_answered(void *arg)
{
    return atomic_load(&((s_probe_t *)arg)->answered_us) != 0;
}

static bool s_probes_answered(void *arg)
{
    s_poller_t *p = arg;
    for (int k = 0; k < p->count; k++)
        if (atomic_load(&p->probes[k].sent_us) && !atomic_load(&p->probes[k].answered_us))
            return false;
    return true;
}

/* EVENT -> answered of the probes first..first+count-1 that were sent:
 * quantiles, and how many answered. */
static int s_probe_latency(const s_poller_t *p, int first, int count, int64_t *p50, int64_t *p99,
                           int64_t *max)
{
    int64_t *lat = calloc((size_t)count + 1, sizeof *lat);
    int answered = 0;
    for (int k = first; lat && k < first + count; k++) {
        int64_t sent = atomic_load(&p->probes[k].sent_us);
        int64_t at = atomic_load(&p->probes[k].answered_us);
        if (sent && at) lat[answered++] = at - sent;
    }
    qsort(lat, (size_t)answered, sizeof *lat, s_cmp_i64);
    *p50 = s_quantile(lat, (size_t)answered, 0.50);
    *p99 = s_quantile(lat, (size_t)answered, 0.99);
    *max = answered ? lat[answered - 1] : 0;
    free(lat);
    return answered;
}

/* After a dns run's burst: waits for the polled names still unanswered,
 * sends S_DNS_PACED services one at a time (each once the previous one's
 * name answered: EVENT -> answered without queueing), then checks the
 * polled answers and every name against the public_ip the core has. */
static void s_dns_figures(s_run_t *run, s_result_t *res)
{
    s_poller_t *p = run->poller;
    zloop_t *loop = ilp_client_loop(run->client);
    int samples = p->count - S_DNS_PACED;
    test_loop_until(loop, s_probes_answered, p, S_DNS_WAIT_MS);
    for (int k = 0; k < S_DNS_PACED && !zsys_interrupted; k++) {
        char name[32], alias[64];
        snprintf(name, sizeof name, "lat-%03d", k);
        snprintf(alias, sizeof alias, "%s." S_DNS_ZONE, name);
        il_service_t *svc = il_service_new(name);
        if (!svc || il_service_add_target(svc, "192.0.2.10", 8080, 1) ||
            il_service_add_alias(svc, alias)) {
            il_service_destroy(&svc);
            break;
        }
        s_probe_t *probe = &p->probes[samples + k];
        atomic_store(&probe->sent_us, s_now_us());
        int rc = ilp_client_event(run->client, ILP_ACTION_ADD, svc);
        il_service_destroy(&svc);
        res->paced++;
        if (rc != 0 || !test_loop_until(loop, s_probe_answered, probe, S_DNS_WAIT_MS)) {
            fprintf(stderr, "bench_core: dns N=%d: %s not answered within %d ms\n", run->n, alias,
                    S_DNS_WAIT_MS);
            break;
        }
    }
    s_poller_stop(p);
    res->poll_queries = p->queries;
    res->burst_samples = samples;
    res->burst_answered =
        s_probe_latency(p, 0, samples, &res->burst_p50_us, &res->burst_p99_us, &res->burst_max_us);
    res->paced_answered = s_probe_latency(p, samples, S_DNS_PACED, &res->paced_p50_us,
                                          &res->paced_p99_us, &res->paced_max_us);
    uint32_t *ips = calloc((size_t)run->n, sizeof *ips), lat[S_DNS_PACED] = {0};
    if (!ips) return;
    s_check_ips(run, res, ips, lat);
    for (int k = 0; k < p->count; k++) {
        const s_probe_t *probe = &p->probes[k];
        if (!atomic_load(&probe->answered_us)) continue;
        uint32_t want = probe->index >= 0 ? ips[probe->index] : lat[k - samples];
        if (want && probe->ip == want)
            res->samples_ip_ok++;
        else
            res->samples_ip_bad++;
    }
    res->names_checked =
        s_dns_check_all(run->server, run->n, ips, &res->names_ok, &res->names_wrong,
                        &res->names_absent, &res->names_silent) == 0;
    free(ips);
}

/* Runs N services through the core (plain: two no-op steps; ipalloc: the
 * allocator, under strace when traced; dns: the allocator and interlook-dns
 * against a BIND started for the run). Returns 0 when all were deployed. */
static int s_core_run(int n, bool ipalloc, bool dns, bool traced, double base_per_s,
                      s_result_t *res)
{
    memset(res, 0, sizeof *res);
    ipalloc = ipalloc || dns;
    res->n = n;
    res->ipalloc = ipalloc;
    res->dns = dns;
    res->steps = dns ? 2 : ipalloc ? 1 : S_STEPS;
    res->fsyncs = -1;
    const char *label = dns ? "dns " : !ipalloc ? "" : traced ? "ipalloc strace " : "ipalloc ";
    s_poller_t poller = {.fd = -1};
    s_run_t run = {.n = n,
                   .ipalloc = ipalloc,
                   .dns = dns,
                   .traced = ipalloc && !dns && traced && s_strace[0],
                   .next = dns       ? 2
                           : ipalloc ? 1
                                     : 2,
                   .core = -1,
                   .echo = {-1, -1},
                   .ext = {-1, -1}};
    run.sent_us = calloc((size_t)n, sizeof *run.sent_us);
    run.done = calloc((size_t)n, 1);
    run.lat_us = calloc((size_t)n, sizeof *run.lat_us);
    int rc = -1;
    s_metrics_t before, after;
    if (dns) { /* BIND first: the configuration names its address and key */
        run.server = dns_server_new(DNS_SERVER_BIND, NULL);
        run.poller = &poller;
        run.probe_of = malloc((size_t)n * sizeof *run.probe_of);
        if (!run.server || !run.probe_of || s_poller_init(&poller, run.server, n) != 0) {
            fprintf(stderr, "bench_core: dns N=%d: BIND or the DNS poller did not start\n", n);
            goto report_logs;
        }
        for (int i = 0; i < n; i++)
            run.probe_of[i] = -1;
        for (int k = 0; k < poller.count; k++)
            if (poller.probes[k].index >= 0) run.probe_of[poller.probes[k].index] = k;
    }
    if (!run.sent_us || !run.done || !run.lat_us || s_setup(&run) != 0 ||
        s_get_metrics(&run, &before) != 0 || (dns && s_poller_start(&poller) != 0)) {
        fprintf(stderr, "bench_core: %sN=%d: setup failed (logs follow)\n", label, n);
        goto report_logs;
    }
    zloop_t *loop = ilp_client_loop(run.client);
    res->rss0_kb = s_proc_kb(run.core, "VmRSS");
    double cpu0_core = s_proc_cpu(run.core), cpu0_self = s_self_cpu();
    double cpu0_main = s_main_thread_cpu(run.core), wait0 = s_main_thread_wait(run.core);
    double busy0, total0, busy1, total1;
    s_machine_cpu(&busy0, &total0);
    double cpu0_echo[2] = {s_proc_cpu(run.ext[0]), s_proc_cpu(run.ext[1])};
    long long strace_off = run.strace_out[0] ? s_file_size(run.strace_out) : -1;
    double cpu0_strace = strace_off >= 0 ? s_proc_cpu(run.echo[0]) : 0;
    double cpu0_named = dns ? s_proc_cpu(dns_server_pid(run.server)) : 0;

    int64_t start = s_now_us();
    /* As a provider reporting many services at once: several EVENTs a message. */
    ilp_client_batch_begin(run.client);
    for (int i = 0; i < n; i++)
        if (s_event(&run, i) != 0) {
            ilp_client_batch_end(run.client);
            fprintf(stderr, "bench_core: %sN=%d: EVENT %d refused by the client\n", label, n, i);
            goto report_logs;
        }
    ilp_client_batch_end(run.client);
    const char *timeout_env = getenv("BENCH_TIMEOUT_S");
    int64_t timeout_ms = (timeout_env ? atoll(timeout_env) : 120) * 1000;
    int64_t deadline = start + timeout_ms * 1000;
    int last_seen = -1;
    int64_t last_progress = s_now_us(), end = 0;
    int status = 0;
    while (!zsys_interrupted) {
        test_loop_until(loop, s_all_seen, &run, 200);
        int64_t now = s_now_us();
        if (run.seen >= n) {
            end = run.last_seen_us;
            break;
        }
        if (!s_alive(&run.core, &status) || !s_alive(&run.echo[0], &status) ||
            (run.next > 1 && !s_alive(&run.echo[1], &status))) {
            fprintf(stderr, "bench_core: %sN=%d: a process of the stack ended (status %d)\n", label,
                    n, status);
            break;
        }
        if (run.seen != last_seen) {
            last_seen = run.seen;
            last_progress = now;
        } else if (now - last_progress >= S_STALL_MS * 1000) {
            /* PUB may drop: does the core itself say they are all deployed? */
            s_metrics_t m;
            if (s_get_metrics(&run, &m) == 0 && m.deployed >= (uint64_t)(n + run.warm_deployed)) {
                end = run.last_seen_us ? run.last_seen_us : now;
                res->via_metrics = true;
                break;
            }
            last_progress = now;
        }
        if (now >= deadline) {
            fprintf(stderr, "bench_core: %sN=%d: only %d deployed seen after %lld s\n", label, n,
                    run.seen, (long long)(timeout_ms / 1000));
            break;
        }
    }
    res->seen = run.seen;
    res->pubs = run.pubs;
    res->changes = run.changes;
    if (!end) goto report_logs;
    res->complete = true;
    res->elapsed = (double)(end - start) / 1e6;
    if (strace_off >= 0) /* every allocation was synced before its RESULT left */
        res->fsyncs = s_count_syncs(run.strace_out, strace_off, &res->fsync_seconds);
    res->cpu_core = s_proc_cpu(run.core) - cpu0_core;
    res->cpu_core_main = s_main_thread_cpu(run.core) - cpu0_main;
    res->core_wait = s_main_thread_wait(run.core) - wait0;
    s_machine_cpu(&busy1, &total1);
    res->machine_busy = total1 > total0 ? (busy1 - busy0) / (total1 - total0) : 0;
    res->cpu_echo[0] = s_proc_cpu(run.ext[0]) - cpu0_echo[0];
    res->cpu_echo[1] = run.next > 1 ? s_proc_cpu(run.ext[1]) - cpu0_echo[1] : 0;
    res->cpu_self = s_self_cpu() - cpu0_self;
    res->cpu_strace = strace_off >= 0 ? s_proc_cpu(run.echo[0]) - cpu0_strace : 0;
    res->cpu_named = dns ? s_proc_cpu(dns_server_pid(run.server)) - cpu0_named : 0;
    res->others_cpu = (busy1 - busy0) / (double)sysconf(_SC_CLK_TCK) - res->cpu_core -
                      res->cpu_echo[0] - res->cpu_echo[1] - res->cpu_self - res->cpu_strace -
                      res->cpu_named;
    res->svc_per_s = n / res->elapsed;
    res->rt_per_s = res->steps * n / res->elapsed;
    res->ratio = res->rt_per_s / base_per_s;
    qsort(run.lat_us, (size_t)run.seen, sizeof *run.lat_us, s_cmp_i64);
    res->e2e_p50_us = s_quantile(run.lat_us, (size_t)run.seen, 0.50);
    res->e2e_p99_us = s_quantile(run.lat_us, (size_t)run.seen, 0.99);
    /* The rest once the core has settled (its last save done); VmHWM is the
     * peak of the whole run. */
    test_wait(s_saved, &run, S_WAIT_MS);
    if (s_get_metrics(&run, &after) == 0) {
        res->step_p50 = s_hist_quantile(&after.hist, &before.hist, 0.50);
        res->step_p99 = s_hist_quantile(&after.hist, &before.hist, 0.99);
        uint64_t count = after.hist.count - before.hist.count;
        res->step_mean = count ? (after.hist.sum - before.hist.sum) / (double)count : 0;
        res->retried = after.retried - before.retried;
        res->failed = after.failed - before.failed;
        res->stale = after.stale - before.stale;
        res->saves = after.saves - before.saves;
        res->redispatched = after.redispatched - before.redispatched;
        res->dead = after.dead - before.dead;
        res->save_seconds = after.save_seconds;
    }
    res->hwm_kb = s_proc_kb(run.core, "VmHWM");
    res->rss_end_kb = s_proc_kb(run.core, "VmRSS");
    res->per_entry = (double)(res->hwm_kb - res->rss0_kb) * 1024.0 / n;
    res->retained_per_entry = (double)(res->rss_end_kb - res->rss0_kb) * 1024.0 / n;
    if (ipalloc) {
        res->db_bytes = s_file_size(run.db);
        long lines = s_file_lines(run.db);
        res->db_records = lines > 0 ? lines - 1 : lines; /* less the header */
        if (!dns) s_check_ips(&run, res, NULL, NULL);
    }
    if (dns) s_dns_figures(&run, res);
    rc = 0;
report_logs:
    if (run.dir) {
        char path[600];
        int show = rc == 0 ? 3 : 20;
        snprintf(path, sizeof path, "%s/core.log", run.dir);
        res->log_problems = s_log_problems(path, "core", show);
        snprintf(path, sizeof path, "%s/core.out", run.dir);
        res->log_problems += s_log_problems(path, "core", show);
        snprintf(path, sizeof path, "%s/noop.a.log", run.dir);
        res->log_problems += s_log_problems(path, "noop.a", show);
        snprintf(path, sizeof path, "%s/noop.b.log", run.dir);
        res->log_problems += s_log_problems(path, "noop.b", show);
        snprintf(path, sizeof path, "%s/ipalloc.log", run.dir);
        res->log_problems += s_log_problems(path, "ipam.ipalloc", show);
        snprintf(path, sizeof path, "%s/dns.log", run.dir);
        res->log_problems += s_log_problems(path, "dns.rfc2136", show);
    }
    s_teardown(&run);
    s_poller_destroy(&poller);
    free(run.probe_of);
    return rc;
}

/* Output ------------------------------------------------------------------- */

static const char *s_bound(double seconds, char *buf, size_t len)
{
    if (seconds < 0)
        snprintf(buf, len, "> 10 s");
    else if (seconds < 1)
        snprintf(buf, len, "<= %g ms", seconds * 1000);
    else
        snprintf(buf, len, "<= %g s", seconds);
    return buf;
}

#define S_LABEL 44
#define S_COL   15

static void s_row(const char *label, const s_result_t *res, int nres,
                  void (*cell)(const s_result_t *r, char *buf, size_t len))
{
    printf("  %-*s", S_LABEL, label);
    for (int i = 0; i < nres; i++) {
        char buf[64] = "-";
        if (res[i].complete) cell(&res[i], buf, sizeof buf);
        printf("%*s", S_COL, buf);
    }
    printf("\n");
}

#define S_CELL(fn, ...)                                                                            \
    static void fn(const s_result_t *r, char *buf, size_t len)                                     \
    {                                                                                              \
        snprintf(buf, len, __VA_ARGS__);                                                           \
    }
S_CELL(s_c_elapsed, "%.3f", r->elapsed)
S_CELL(s_c_via, "%s", r->via_metrics ? "metrics" : "SUB")
S_CELL(s_c_svc, "%.0f", r->svc_per_s)
S_CELL(s_c_rt, "%.0f", r->rt_per_s)
S_CELL(s_c_ratio, "%.3f", r->ratio)
S_CELL(s_c_ratio_x, "%.3f", r->ratio_x)
S_CELL(s_c_mean, "%.2f ms", r->step_mean * 1000)
S_CELL(s_c_e50, "%.2f ms", r->e2e_p50_us / 1000.0)
S_CELL(s_c_e99, "%.2f ms", r->e2e_p99_us / 1000.0)
S_CELL(s_c_rss0, "%.1f", r->rss0_kb / 1024.0)
S_CELL(s_c_hwm, "%.1f", r->hwm_kb / 1024.0)
S_CELL(s_c_rssend, "%.1f", r->rss_end_kb / 1024.0)
S_CELL(s_c_per, "%.0f", r->per_entry)
S_CELL(s_c_ret, "%.0f", r->retained_per_entry)
S_CELL(s_c_cpucore, "%.2f (%.0f%%)", r->cpu_core, 100 * r->cpu_core / r->elapsed)
S_CELL(s_c_cpumain, "%.2f (%.0f%%)", r->cpu_core_main, 100 * r->cpu_core_main / r->elapsed)
S_CELL(s_c_wait, "%.2f (%.0f%%)", r->core_wait, 100 * r->core_wait / r->elapsed)
S_CELL(s_c_busy, "%.0f%%", 100 * r->machine_busy)
S_CELL(s_c_others, "%.2f", r->others_cpu > 0 ? r->others_cpu : 0)
S_CELL(s_c_cpuecho, "%.2f / %.2f", r->cpu_echo[0], r->cpu_echo[1])
S_CELL(s_c_cpuself, "%.2f", r->cpu_self)
S_CELL(s_c_anom, "%llu/%llu/%llu/%llu", (unsigned long long)r->retried,
       (unsigned long long)r->failed, (unsigned long long)r->stale,
       (unsigned long long)r->redispatched)
S_CELL(s_c_saves, "%llu", (unsigned long long)r->saves)
S_CELL(s_c_savesec, "%.1f ms", r->save_seconds * 1000)
S_CELL(s_c_pubs, "%.2f", r->n ? (double)r->changes / r->n : 0)
S_CELL(s_c_perpub, "%.1f", r->pubs ? (double)r->changes / r->pubs : 0)
S_CELL(s_c_logs, "%d", r->log_problems)

S_CELL(s_c_alloc, "%.0f", r->svc_per_s)
S_CELL(s_c_cpualloc, "%.2f (%.0f%%)", r->cpu_echo[0], 100 * r->cpu_echo[0] / r->elapsed)
S_CELL(s_c_dbsize, "%lld", r->db_bytes)
S_CELL(s_c_dbrec, "%ld", r->db_records)

static void s_c_plain(const s_result_t *r, char *buf, size_t len)
{
    if (r->plain_svc_per_s > 0) snprintf(buf, len, "%.0f", r->plain_svc_per_s);
}

static void s_c_vsplain(const s_result_t *r, char *buf, size_t len)
{
    if (r->plain_svc_per_s > 0) snprintf(buf, len, "%.3f", r->svc_per_s / r->plain_svc_per_s);
}

static void s_c_tracedsvc(const s_result_t *r, char *buf, size_t len)
{
    if (r->traced)
        snprintf(buf, len, "%.0f", r->traced_svc_per_s);
    else
        snprintf(buf, len, "n/a");
}

static void s_c_tracedips(const s_result_t *r, char *buf, size_t len)
{
    if (r->traced)
        snprintf(buf, len, "%s",
                 !r->traced_ips_checked ? "not read"
                 : r->traced_ips_ok     ? "OK"
                                        : "FAIL");
    else
        snprintf(buf, len, "n/a");
}

static void s_c_tracedlogs(const s_result_t *r, char *buf, size_t len)
{
    if (r->traced)
        snprintf(buf, len, "%d", r->traced_log_problems);
    else
        snprintf(buf, len, "n/a");
}

static void s_c_fsyncs(const s_result_t *r, char *buf, size_t len)
{
    if (r->fsyncs >= 0)
        snprintf(buf, len, "%ld", r->fsyncs);
    else
        snprintf(buf, len, "n/a");
}

static void s_c_perfsync(const s_result_t *r, char *buf, size_t len)
{
    if (r->fsyncs > 0)
        snprintf(buf, len, "%.1f", r->n / (double)r->fsyncs);
    else
        snprintf(buf, len, "n/a");
}

static void s_c_fsyncmean(const s_result_t *r, char *buf, size_t len)
{
    if (r->fsyncs > 0)
        snprintf(buf, len, "%.2f ms", 1000 * r->fsync_seconds / (double)r->fsyncs);
    else
        snprintf(buf, len, "n/a");
}

static void s_c_fsynctime(const s_result_t *r, char *buf, size_t len)
{
    if (r->fsyncs >= 0)
        snprintf(buf, len, "%.2f (%.0f%%)", r->fsync_seconds,
                 100 * r->fsync_seconds / r->traced_elapsed);
    else
        snprintf(buf, len, "n/a");
}

static bool s_ips_ok(const s_result_t *r)
{
    return r->ips_checked && r->ips_distinct == r->n;
}

static void s_c_ips(const s_result_t *r, char *buf, size_t len)
{
    if (!r->ips_checked)
        snprintf(buf, len, "not read");
    else
        snprintf(buf, len, "%d %s", r->ips_distinct, s_ips_ok(r) ? "OK" : "FAIL");
}

static void s_c_ipsbad(const s_result_t *r, char *buf, size_t len)
{
    if (r->ips_checked) snprintf(buf, len, "%d/%d/%d", r->ips_missing, r->ips_dup, r->ips_outside);
}

static void s_c_p50(const s_result_t *r, char *buf, size_t len)
{
    s_bound(r->step_p50, buf, len);
}

static void s_c_p99(const s_result_t *r, char *buf, size_t len)
{
    s_bound(r->step_p99, buf, len);
}

static void s_c_n(const s_result_t *r, char *buf, size_t len)
{
    snprintf(buf, len, "N=%d", r->n);
}

static const char *s_verdict(bool pass)
{
    return pass ? "PASS" : "MISS";
}

/* Notes the runs during which the machine was busy with other work. */
static void s_print_noisy(const s_result_t *res, int nres)
{
    bool noted = false;
    for (int i = 0; i < nres; i++)
        if (res[i].complete && res[i].others_cpu > 0.25 * res[i].elapsed &&
            res[i].others_cpu > 0.2) {
            printf("%s  note: %sN=%d: processes outside the stack used %.2f CPU s during the run "
                   "(%.0f%% of one CPU): the machine was not quiet, figures are pessimistic\n",
                   noted ? "" : "\n",
                   res[i].dns       ? "dns "
                   : res[i].ipalloc ? "ipalloc "
                                    : "",
                   res[i].n, res[i].others_cpu, 100 * res[i].others_cpu / res[i].elapsed);
            noted = true;
        }
}

static void s_print(const s_base_t *pipelined, const s_base_t *sync, const s_base_t *xproc,
                    const s_result_t *res, int nres)
{
    printf("\nRaw ZeroMQ baseline (DEALER -> ROUTER echo, tcp loopback): \"pipelined\" and\n"
           "\"sync\" with the echo a thread of this process (one ZeroMQ I/O thread for both\n"
           "sockets); \"across procs\" with the echo in a process of its own, as the core\n"
           "and an extension are\n");
    const s_base_t *bases[3] = {pipelined, sync, xproc};
    const char *names[3] = {"pipelined", "sync", "across procs"};
    for (int b = 0; b < 3; b++)
        printf("  %-12s W=%-3d %7d round trips in %6.3f s = %8.0f rt/s   latency p50 %4lld us, "
               "p99 %5lld us\n",
               names[b], bases[b]->window, bases[b]->count, bases[b]->seconds, bases[b]->per_s,
               (long long)bases[b]->p50_us, (long long)bases[b]->p99_us);

    printf("\nCore: interlookd + interlook-echo noop.a and noop.b (credit %d each) + this\n"
           "process as provider.bench; workflow provider.bench -> noop.a -> noop.b\n"
           "(2 step round trips per service). Elapsed: first EVENT sent -> last service seen\n"
           "deployed on the core's PUB \"changes\" topic.\n\n",
           S_WINDOW);
    printf("  %-*s", S_LABEL, "");
    for (int i = 0; i < nres; i++) {
        char buf[32];
        s_c_n(&res[i], buf, sizeof buf);
        printf("%*s", S_COL, buf);
    }
    printf("\n");
    s_row("elapsed (s)", res, nres, s_c_elapsed);
    s_row("completion seen via", res, nres, s_c_via);
    s_row("services/s", res, nres, s_c_svc);
    s_row("step round trips/s (2N/elapsed)", res, nres, s_c_rt);
    s_row("ratio to raw pipelined W=100 (in-process)", res, nres, s_c_ratio);
    s_row("ratio to raw W=100 across processes", res, nres, s_c_ratio_x);
    s_row("step latency p50 (core histogram)", res, nres, s_c_p50);
    s_row("step latency p99 (core histogram)", res, nres, s_c_p99);
    s_row("step latency mean (core histogram)", res, nres, s_c_mean);
    s_row("end-to-end p50 (EVENT -> deployed)", res, nres, s_c_e50);
    s_row("end-to-end p99 (EVENT -> deployed)", res, nres, s_c_e99);
    s_row("core RSS after start (MiB)", res, nres, s_c_rss0);
    s_row("core peak RSS, VmHWM (MiB)", res, nres, s_c_hwm);
    s_row("core RSS at end, settled (MiB)", res, nres, s_c_rssend);
    s_row("core bytes/entry (VmHWM - start)/N", res, nres, s_c_per);
    s_row("core bytes/entry retained (end - start)/N", res, nres, s_c_ret);
    s_row("CPU s during run: core (% of elapsed)", res, nres, s_c_cpucore);
    s_row("  of which its main thread (the loop)", res, nres, s_c_cpumain);
    s_row("  its main thread waiting for a CPU, s", res, nres, s_c_wait);
    s_row("CPU s during run: noop.a / noop.b", res, nres, s_c_cpuecho);
    s_row("CPU s during run: bench (provider+SUB)", res, nres, s_c_cpuself);
    s_row("machine CPU busy during run (all CPUs)", res, nres, s_c_busy);
    s_row("CPU s of other processes during run", res, nres, s_c_others);
    s_row("retried/failed/stale/redispatched", res, nres, s_c_anom);
    s_row("entries file saves (until settled)", res, nres, s_c_saves);
    s_row("last save of the entries file took", res, nres, s_c_savesec);
    s_row("state changes seen per service", res, nres, s_c_pubs);
    s_row("state changes per \"changes\" publication", res, nres, s_c_perpub);
    s_row("WARN/ERROR lines in the logs", res, nres, s_c_logs);

    s_print_noisy(res, nres);
    printf("\nTargets (informational, 2-core machine)\n");
    for (int i = 0; i < nres; i++) {
        const s_result_t *r = &res[i];
        if (!r->complete) {
            printf("  N=%-7d INCOMPLETE: %d of %d seen deployed\n", r->n, r->seen, r->n);
            continue;
        }
        printf("  N=%-7d step round trips/s >= %.0f: %-4s (%.0f)   ratio >= %.1f: in-process "
               "%-4s (%.3f), across processes %-4s (%.3f)",
               r->n, S_TARGET_RT, s_verdict(r->rt_per_s >= S_TARGET_RT), r->rt_per_s,
               S_TARGET_RATIO, s_verdict(r->ratio >= S_TARGET_RATIO), r->ratio,
               s_verdict(r->ratio_x >= S_TARGET_RATIO), r->ratio_x);
        if (r->n >= S_TARGET_ENTRIES)
            printf("   memory < %.0f B/entry: %s (%.0f)", S_TARGET_BYTES,
                   s_verdict(r->per_entry < S_TARGET_BYTES), r->per_entry);
        printf("\n");
    }
}

static const char *s_fs_name(const char *path, char *buf, size_t len)
{
    struct statfs fs;
    if (statfs(path, &fs) != 0) return "unknown";
    switch ((unsigned long)fs.f_type) {
    case 0xef53:
        return "ext2/3/4";
    case 0x58465342:
        return "xfs";
    case 0x9123683e:
        return "btrfs";
    case 0x794c7630:
        return "overlayfs";
    case S_TMPFS_MAGIC:
        return "tmpfs (fsync does nothing there)";
    default:
        snprintf(buf, len, "type 0x%lx", (unsigned long)fs.f_type);
        return buf;
    }
}

/* A result's first summary line: "N=… RATE = x × plain services/s (…), y ×
 * raw pipelined rt/s (…)", or that it did not complete. Returns whether it
 * completed (the caller then adds its own lines). */
static bool s_rate_line(const s_result_t *r, const char *unit, const s_base_t *pipelined)
{
    if (!r->complete) {
        printf("  N=%-7d INCOMPLETE: %d of %d seen deployed\n", r->n, r->seen, r->n);
        return false;
    }
    printf("  N=%-7d %8.0f %s", r->n, r->svc_per_s, unit);
    if (r->plain_svc_per_s > 0)
        printf(" = %.3f x plain services/s (%.0f)", r->svc_per_s / r->plain_svc_per_s,
               r->plain_svc_per_s);
    printf("%s %.3f x raw pipelined rt/s (%.0f)\n", r->plain_svc_per_s > 0 ? "," : " =",
           r->rt_per_s / pipelined->per_s, pipelined->per_s);
    return true;
}

static void s_print_ipalloc(const s_base_t *pipelined, const s_result_t *res, int nres)
{
    char fs[64];
    printf(
        "\nIP allocator with durability on: interlookd + one interlook-ipalloc (ipam.ipalloc,\n"
        "pool %s, credit %d, db_file in the run's temporary directory on %s)\n"
        "+ this process as provider.bench; workflow provider.bench -> ipam.ipalloc (1 step\n"
        "round trip per service; the allocator appends each batch of allocations to its\n"
        "db file and fdatasyncs it before any RESULT of the batch leaves: group commit).\n"
        "Elapsed: first EVENT sent -> last service seen deployed on the core's PUB \"changes\".\n",
        S_IPALLOC_CIDR, S_WINDOW, s_fs_name("/tmp", fs, sizeof fs));
    if (!s_strace[0])
        printf("fsyncs: not counted (%s): those rows are skipped.\n",
               getenv("BENCH_STRACE") && !strcmp(getenv("BENCH_STRACE"), "0")
                   ? "BENCH_STRACE=0"
                   : "strace is not installed");
    else
        printf("fsyncs: counted in a second run of each N (\"strace run\"), the allocator\n"
               "started under\n  %s -f%s -T -e trace=fsync,fdatasync\n"
               "and its calls counted from the first EVENT to the last deployed.\n"
               "%s, so every other figure,\n"
               "allocations/s included, is from the run without strace.\n",
               s_strace, s_strace_seccomp ? " --seccomp-bpf" : "",
               s_strace_seccomp ? "Only those calls stop the allocator, but each stop costs"
                                : "Every system call stops the allocator (no seccomp-bpf here)");
    printf("public_ip check: GET /services once at the end; every service must be deployed with\n"
           "an address of the pool that no other service holds.\n\n");
    printf("  %-*s", S_LABEL, "");
    for (int i = 0; i < nres; i++) {
        char buf[32];
        s_c_n(&res[i], buf, sizeof buf);
        printf("%*s", S_COL, buf);
    }
    printf("\n");
    s_row("elapsed (s)", res, nres, s_c_elapsed);
    s_row("completion seen via", res, nres, s_c_via);
    s_row("allocations/s (N/elapsed)", res, nres, s_c_alloc);
    s_row("plain 2-no-op services/s, same N, this run", res, nres, s_c_plain);
    s_row("ratio allocations/s / plain services/s", res, nres, s_c_vsplain);
    s_row("ratio to raw pipelined W=100 (rt/s)", res, nres, s_c_ratio);
    s_row("step latency p50 (core histogram)", res, nres, s_c_p50);
    s_row("step latency p99 (core histogram)", res, nres, s_c_p99);
    s_row("step latency mean (core histogram)", res, nres, s_c_mean);
    s_row("end-to-end p50 (EVENT -> deployed)", res, nres, s_c_e50);
    s_row("end-to-end p99 (EVENT -> deployed)", res, nres, s_c_e99);
    s_row("allocator db file at end (bytes)", res, nres, s_c_dbsize);
    s_row("allocator db records (A/R lines)", res, nres, s_c_dbrec);
    s_row("CPU s during run: core (% of elapsed)", res, nres, s_c_cpucore);
    s_row("CPU s during run: allocator", res, nres, s_c_cpualloc);
    s_row("CPU s during run: bench (provider+SUB)", res, nres, s_c_cpuself);
    s_row("machine CPU busy during run (all CPUs)", res, nres, s_c_busy);
    s_row("CPU s of other processes during run", res, nres, s_c_others);
    s_row("retried/failed/stale/redispatched", res, nres, s_c_anom);
    s_row("distinct public_ip in the pool", res, nres, s_c_ips);
    s_row("  missing/duplicated/outside the pool", res, nres, s_c_ipsbad);
    s_row("WARN/ERROR lines in the logs", res, nres, s_c_logs);
    if (s_strace[0]) {
        s_row("strace run: allocations/s", res, nres, s_c_tracedsvc);
        s_row("strace run: fsync+fdatasync calls", res, nres, s_c_fsyncs);
        s_row("strace run: allocations per fsync", res, nres, s_c_perfsync);
        s_row("strace run: mean time of one fsync", res, nres, s_c_fsyncmean);
        s_row("strace run: time in fsync, s (% elapsed)", res, nres, s_c_fsynctime);
        s_row("strace run: distinct public_ip", res, nres, s_c_tracedips);
        s_row("strace run: WARN/ERROR lines in the logs", res, nres, s_c_tracedlogs);
    }
    s_print_noisy(res, nres);
    printf("\nAllocations per second through the core with durability on\n");
    for (int i = 0; i < nres; i++) {
        const s_result_t *r = &res[i];
        if (!s_rate_line(r, "allocations/s", pipelined)) continue;
        printf("%*s", 12, "");
        if (r->fsyncs > 0)
            printf("%ld fsyncs in the strace run (%.1f allocations each); ", r->fsyncs,
                   r->n / (double)r->fsyncs);
        bool ok = s_ips_ok(r) && (!r->traced || r->traced_ips_ok);
        printf("distinct public_ip: %s\n", ok ? "PASS" : r->ips_checked ? "FAIL" : "NOT CHECKED");
    }
}

S_CELL(s_c_cpudns, "%.2f / %.2f", r->cpu_echo[0], r->cpu_echo[1])
S_CELL(s_c_cpunamed, "%.2f (%.0f%%)", r->cpu_named, 100 * r->cpu_named / r->elapsed)
S_CELL(s_c_rtdns, "%.0f", r->rt_per_s)
S_CELL(s_c_polls, "%llu", (unsigned long long)r->poll_queries)

static void s_c_bsamples(const s_result_t *r, char *buf, size_t len)
{
    snprintf(buf, len, "%d/%d", r->burst_answered, r->burst_samples);
}

static void s_c_b50(const s_result_t *r, char *buf, size_t len)
{
    snprintf(buf, len, "%.1f ms", r->burst_p50_us / 1000.0);
}

static void s_c_b99(const s_result_t *r, char *buf, size_t len)
{
    snprintf(buf, len, "%.1f ms", r->burst_p99_us / 1000.0);
}

static void s_c_bmax(const s_result_t *r, char *buf, size_t len)
{
    snprintf(buf, len, "%.1f ms", r->burst_max_us / 1000.0);
}

static void s_c_psamples(const s_result_t *r, char *buf, size_t len)
{
    snprintf(buf, len, "%d/%d", r->paced_answered, S_DNS_PACED);
}

static void s_c_p50p(const s_result_t *r, char *buf, size_t len)
{
    snprintf(buf, len, "%.2f ms", r->paced_p50_us / 1000.0);
}

static void s_c_p99p(const s_result_t *r, char *buf, size_t len)
{
    snprintf(buf, len, "%.2f ms", r->paced_p99_us / 1000.0);
}

static void s_c_pmax(const s_result_t *r, char *buf, size_t len)
{
    snprintf(buf, len, "%.2f ms", r->paced_max_us / 1000.0);
}

static void s_c_sampleip(const s_result_t *r, char *buf, size_t len)
{
    snprintf(buf, len, "%d/%d", r->samples_ip_ok, r->samples_ip_ok + r->samples_ip_bad);
}

static bool s_names_ok(const s_result_t *r)
{
    return r->names_checked && r->names_ok == r->n;
}

static void s_c_names(const s_result_t *r, char *buf, size_t len)
{
    if (!r->names_checked)
        snprintf(buf, len, "not checked");
    else
        snprintf(buf, len, "%d/%d %s", r->names_ok, r->n, s_names_ok(r) ? "OK" : "FAIL");
}

static void s_c_namesbad(const s_result_t *r, char *buf, size_t len)
{
    if (r->names_checked)
        snprintf(buf, len, "%d/%d/%d", r->names_wrong, r->names_absent, r->names_silent);
}

static void s_print_dns(const s_base_t *pipelined, const s_result_t *res, int nres)
{
    printf("\nDNS step against BIND: interlookd + interlook-ipalloc (ipam.ipalloc, pool %s)\n"
           "+ interlook-dns (dns.rfc2136, credit %d, TSIG hmac-sha256) + named (BIND 9, -n 1,\n"
           "started for each run by tests/support/dns_server.c on a loopback address of its\n"
           "own, zone %s) + this process as provider.bench; workflow provider.bench\n"
           "-> ipam.ipalloc -> dns.rfc2136 (2 step round trips per service; a service is\n"
           "deployed once the server acknowledged its UPDATE). Elapsed: first EVENT sent\n"
           "-> last service seen deployed on the core's PUB \"changes\".\n"
           "EVENT -> answered: a thread of this process asks the server (UDP, ldns) for the A\n"
           "record of %d names spread over the burst of N (all N sent at once: their times\n"
           "include the queueing behind the others), each pending name once per 1 ms (5 ms\n"
           "when more than 10 are pending), until it answers; then %d services are sent one\n"
           "at a time, each once the previous one answered (no queueing). Answers are then\n"
           "compared with the public_ip the core has (GET /services), and every name of the\n"
           "run is asked once more: names answered.\n\n",
           S_IPALLOC_CIDR, S_WINDOW, S_DNS_ZONE, S_DNS_SAMPLES, S_DNS_PACED);
    printf("  %-*s", S_LABEL, "");
    for (int i = 0; i < nres; i++) {
        char buf[32];
        s_c_n(&res[i], buf, sizeof buf);
        printf("%*s", S_COL, buf);
    }
    printf("\n");
    s_row("elapsed (s)", res, nres, s_c_elapsed);
    s_row("completion seen via", res, nres, s_c_via);
    s_row("services/s (N/elapsed)", res, nres, s_c_svc);
    s_row("plain 2-no-op services/s, same N, this run", res, nres, s_c_plain);
    s_row("ratio services/s / plain services/s", res, nres, s_c_vsplain);
    s_row("step round trips/s (2N/elapsed)", res, nres, s_c_rtdns);
    s_row("ratio to raw pipelined W=100 (rt/s)", res, nres, s_c_ratio);
    s_row("step latency p50 (core histogram)", res, nres, s_c_p50);
    s_row("step latency p99 (core histogram)", res, nres, s_c_p99);
    s_row("end-to-end p50 (EVENT -> deployed)", res, nres, s_c_e50);
    s_row("end-to-end p99 (EVENT -> deployed)", res, nres, s_c_e99);
    s_row("burst: names polled, answered", res, nres, s_c_bsamples);
    s_row("burst: EVENT -> answered p50", res, nres, s_c_b50);
    s_row("burst: EVENT -> answered p99", res, nres, s_c_b99);
    s_row("burst: EVENT -> answered max", res, nres, s_c_bmax);
    s_row("one at a time: answered", res, nres, s_c_psamples);
    s_row("one at a time: EVENT -> answered p50", res, nres, s_c_p50p);
    s_row("one at a time: EVENT -> answered p99", res, nres, s_c_p99p);
    s_row("one at a time: EVENT -> answered max", res, nres, s_c_pmax);
    s_row("polled answers = public_ip", res, nres, s_c_sampleip);
    s_row("queries sent by the poller", res, nres, s_c_polls);
    s_row("names answered (all N, after the run)", res, nres, s_c_names);
    s_row("  other address/no A record/no reply", res, nres, s_c_namesbad);
    s_row("distinct public_ip in the pool", res, nres, s_c_ips);
    s_row("CPU s during run: core (% of elapsed)", res, nres, s_c_cpucore);
    s_row("CPU s during run: allocator / interlook-dns", res, nres, s_c_cpudns);
    s_row("CPU s during run: named (% of elapsed)", res, nres, s_c_cpunamed);
    s_row("CPU s during run: bench (provider+SUB+poll)", res, nres, s_c_cpuself);
    s_row("machine CPU busy during run (all CPUs)", res, nres, s_c_busy);
    s_row("CPU s of other processes during run", res, nres, s_c_others);
    s_row("retried/failed/stale/redispatched", res, nres, s_c_anom);
    s_row("WARN/ERROR lines in the logs", res, nres, s_c_logs);
    s_print_noisy(res, nres);
    printf("\nDNS names through ipam.ipalloc,dns.rfc2136 (BIND)\n");
    for (int i = 0; i < nres; i++) {
        const s_result_t *r = &res[i];
        if (!s_rate_line(r, "services/s", pipelined)) continue;
        printf(
            "%*sEVENT -> answered p50 < %.0f ms: one at a time %s (p50 %.2f ms, p99 %.2f ms, "
            "max %.2f ms);\n%*sin the burst of N %s (p50 %.1f ms, p99 %.1f ms, max %.1f ms)\n",
            12, "", S_DNS_TARGET_MS,
            s_verdict(r->paced_answered == S_DNS_PACED && r->paced_p50_us < S_DNS_TARGET_MS * 1000),
            r->paced_p50_us / 1000.0, r->paced_p99_us / 1000.0, r->paced_max_us / 1000.0, 12, "",
            s_verdict(r->burst_answered == r->burst_samples &&
                      r->burst_p50_us < S_DNS_TARGET_MS * 1000),
            r->burst_p50_us / 1000.0, r->burst_p99_us / 1000.0, r->burst_max_us / 1000.0);
        printf("%*snames answered: %d/%d %s\n", 12, "", r->names_ok, r->n,
               s_names_ok(r) && r->samples_ip_bad == 0 ? "OK" : "FAIL");
    }
}

/* Main --------------------------------------------------------------------- */

int main(int argc, char *argv[])
{
    int ns[S_MAX_RUNS], nruns = 0, ms[S_MAX_RUNS], nipalloc = 0, ds[S_MAX_RUNS], ndns = 0;
    bool ipalloc = false, dns = false;
    int *counts = ns, *count = &nruns; /* where the counts go */
    if (argc == 3 && !strcmp(argv[1], "--raw-echo")) return s_raw_echo_main(argv[2]);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ipalloc") && !ipalloc) {
            ipalloc = true;
            counts = ms;
            count = &nipalloc;
            continue;
        }
        if (!strcmp(argv[i], "--dns") && !dns) {
            dns = true;
            counts = ds;
            count = &ndns;
            continue;
        }
        char *end;
        long n = strtol(argv[i], &end, 10);
        if (*end || n < 1 || n > (counts != ns ? S_IPALLOC_MAX : 10000000) ||
            *count == S_MAX_RUNS) {
            fprintf(stderr,
                    "usage: bench_core [N ...] [--ipalloc [M ...]] [--dns [D ...]]\n"
                    "  up to %d counts each; N 1..10000000 (default 1000 10000 100000),\n"
                    "  M 1..%d (default 10000 50000), D 1..%d (default 1000 10000)\n",
                    S_MAX_RUNS, S_IPALLOC_MAX, S_IPALLOC_MAX);
            return 2;
        }
        counts[(*count)++] = (int)n;
    }
    if (nruns == 0) {
        ns[nruns++] = 1000;
        ns[nruns++] = 10000;
        ns[nruns++] = 100000;
    }
    if (ipalloc && nipalloc == 0) {
        ms[nipalloc++] = 10000;
        ms[nipalloc++] = 50000;
    }
    if (dns && ndns == 0) {
        ds[ndns++] = 1000;
        ds[ndns++] = 10000;
    }
    const char *batch_env = getenv("BENCH_BATCH");
    if (batch_env) {
        char *end;
        long b = strtol(batch_env, &end, 10);
        if (*end || b < 1 || b > ILP_MAX_BATCH) {
            fprintf(stderr, "bench_core: BENCH_BATCH: expected 1 to %d\n", ILP_MAX_BATCH);
            return 2;
        }
        s_batch = (int)b;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("command:");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");

    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len < 0) return 1;
    self[len] = 0;
    snprintf(s_bindir, sizeof s_bindir, "%s/bin", dirname(dirname(self))); /* BUILD/bench/x */
    char core_path[4200];
    snprintf(core_path, sizeof core_path, "%s/interlookd", s_bindir);
    if (access(core_path, X_OK) != 0) {
        fprintf(stderr, "bench_core: %s: not found (build first)\n", core_path);
        return 1;
    }
    struct utsname un;
    uname(&un);
    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    printf("machine: %ld CPUs online, %s %s; libzmq %d.%d.%d, czmq %d.%d.%d; binaries %s\n",
           sysconf(_SC_NPROCESSORS_ONLN), un.sysname, un.release, major, minor, patch,
           CZMQ_VERSION_MAJOR, CZMQ_VERSION_MINOR, CZMQ_VERSION_PATCH, s_bindir);

    il_log_setup("bench_core", IL_LOG_WARN, "stderr");
    zsys_init();
    zsys_set_linger(0);

    zframe_t *body = s_work_body(ns[nruns - 1] - 1);
    if (!body) return 1;
    printf("core.bus.batch: %d (BENCH_BATCH)\n", s_batch);
    printf("message: 3 frames \"ILP1\", \"WORK\", msgpack body of %zu bytes (service with one "
           "target and one alias)\n",
           zframe_size(body));
    s_base_t pipelined = {0}, sync = {0}, xproc = {0};
    int rc = s_baseline(body, &pipelined, &sync);
    if (rc == 0) rc = s_baseline_xproc(body, &xproc);
    zframe_destroy(&body);
    if (rc != 0) {
        fprintf(stderr, "bench_core: the raw baseline failed\n");
        return 1;
    }
    printf("baseline: pipelined W=%d %.0f rt/s, sync %.0f rt/s, across processes W=%d %.0f rt/s\n",
           S_WINDOW, pipelined.per_s, sync.per_s, S_WINDOW, xproc.per_s);

    s_result_t res[S_MAX_RUNS], ares[S_MAX_RUNS], dres[S_MAX_RUNS];
    s_result_t cres[S_MAX_RUNS], cplain[S_MAX_RUNS]; /* BENCH_CURVE: each with its plain run */
    s_result_t eres[S_MAX_RUNS], eplain[S_MAX_RUNS]; /* BENCH_ETCD: each with its plain run */
    long long ebytes[S_MAX_RUNS], ekeys[S_MAX_RUNS];
    long ecount[S_MAX_RUNS];
    int failed = 0, ncurve = 0, netcd = 0;
    const char *etcd_value = getenv("BENCH_ETCD");
    bool etcd_env = etcd_value && !strcmp(etcd_value, "1");
    printf("etcd store: %s (BENCH_ETCD)\n",
           etcd_env ? "each N also with core.store etcd, 3 members" : "off");
    if (etcd_env && !(s_etcd = etcd_server_new(NULL, 3, 30000))) {
        fprintf(stderr, "bench_core: BENCH_ETCD: etcd did not start\n");
        return 1;
    }
    const char *curve_value = getenv("BENCH_CURVE");
    bool curve_env = curve_value && !strcmp(curve_value, "1");
    printf("CURVE: %s (BENCH_CURVE)\n", curve_env ? "each N also with CURVE on the bus" : "off");
    for (int i = 0; i < nruns && !zsys_interrupted; i++) {
        printf("core run N=%d ...\n", ns[i]);
        if (s_core_run(ns[i], false, false, false, pipelined.per_s, &res[i]) != 0) {
            failed++;
            continue;
        }
        res[i].ratio_x = res[i].rt_per_s / xproc.per_s;
        printf("core run N=%d: %.3f s, %.0f services/s, %.0f step round trips/s\n", ns[i],
               res[i].elapsed, res[i].svc_per_s, res[i].rt_per_s);
        if (etcd_env && !zsys_interrupted) {
            s_result_t on_etcd;
            printf("core run N=%d with the entries on etcd ...\n", ns[i]);
            snprintf(s_etcd_prefix, sizeof s_etcd_prefix, "/bench-%d-%d", (int)getpid(), i);
            int erc = s_core_run(ns[i], false, false, false, pipelined.per_s, &on_etcd);
            if (erc == 0 && s_etcd_bytes(&ebytes[netcd], &ekeys[netcd], &ecount[netcd]) != 0)
                erc = -1;
            s_etcd_prefix[0] = 0;
            if (erc != 0) {
                failed++;
            } else {
                eres[netcd] = on_etcd;
                eplain[netcd++] = res[i];
                printf("core run N=%d on etcd: %.3f s, %.0f services/s, %.0f step round trips/s "
                       "(%.0f%% of the file store's)\n",
                       ns[i], on_etcd.elapsed, on_etcd.svc_per_s, on_etcd.rt_per_s,
                       100.0 * on_etcd.rt_per_s / res[i].rt_per_s);
            }
        }
        if (!curve_env || zsys_interrupted) continue;
        s_result_t curved;
        printf("core run N=%d with CURVE ...\n", ns[i]);
        s_curve = true;
        int crc = s_core_run(ns[i], false, false, false, pipelined.per_s, &curved);
        s_curve = false;
        if (crc != 0) {
            failed++;
            continue;
        }
        cres[ncurve] = curved;
        cplain[ncurve++] = res[i];
        printf("core run N=%d with CURVE: %.3f s, %.0f services/s, %.0f step round trips/s "
               "(%.0f%% of the plain run's)\n",
               ns[i], curved.elapsed, curved.svc_per_s, curved.rt_per_s,
               100.0 * curved.rt_per_s / res[i].rt_per_s);
    }
    if (nipalloc) s_find_strace();
    for (int i = 0; i < nipalloc && !zsys_interrupted; i++) {
        printf("ipalloc run N=%d ...\n", ms[i]);
        if (s_core_run(ms[i], true, false, false, pipelined.per_s, &ares[i]) != 0) {
            failed++;
            continue;
        }
        for (int k = 0; k < nruns; k++)
            if (res[k].complete && res[k].n == ms[i]) ares[i].plain_svc_per_s = res[k].svc_per_s;
        printf("ipalloc run N=%d: %.3f s, %.0f allocations/s\n", ms[i], ares[i].elapsed,
               ares[i].svc_per_s);
        if (!s_strace[0] || zsys_interrupted) continue;
        s_result_t traced;
        printf("ipalloc strace run N=%d ...\n", ms[i]);
        if (s_core_run(ms[i], true, false, true, pipelined.per_s, &traced) != 0) {
            failed++;
            continue;
        }
        ares[i].traced = true;
        ares[i].traced_elapsed = traced.elapsed;
        ares[i].traced_svc_per_s = traced.svc_per_s;
        ares[i].traced_ips_checked = traced.ips_checked;
        ares[i].traced_ips_ok = s_ips_ok(&traced);
        ares[i].traced_log_problems = traced.log_problems;
        ares[i].fsyncs = traced.fsyncs;
        ares[i].fsync_seconds = traced.fsync_seconds;
        printf("ipalloc strace run N=%d: %.3f s, %.0f allocations/s, %ld fsyncs\n", ms[i],
               traced.elapsed, traced.svc_per_s, traced.fsyncs);
    }
    for (int i = 0; i < ndns && !zsys_interrupted; i++) {
        printf("dns run N=%d ...\n", ds[i]);
        if (s_core_run(ds[i], true, true, false, pipelined.per_s, &dres[i]) != 0) {
            failed++;
            continue;
        }
        for (int k = 0; k < nruns; k++)
            if (res[k].complete && res[k].n == ds[i]) dres[i].plain_svc_per_s = res[k].svc_per_s;
        printf("dns run N=%d: %.3f s, %.0f services/s, EVENT -> answered p50 %.1f ms in the "
               "burst, %.2f ms one at a time\n",
               ds[i], dres[i].elapsed, dres[i].svc_per_s, dres[i].burst_p50_us / 1000.0,
               dres[i].paced_p50_us / 1000.0);
    }
    if (zsys_interrupted) return 1;
    s_print(&pipelined, &sync, &xproc, res, nruns);
    if (nipalloc) s_print_ipalloc(&pipelined, ares, nipalloc);
    if (ndns) s_print_dns(&pipelined, dres, ndns);
    if (ncurve) {
        printf("\nCURVE on the bus (BENCH_CURVE=1), same N, this run:\n");
        printf("  %10s %14s %14s %14s %14s %8s\n", "N", "plain svc/s", "CURVE svc/s", "plain rt/s",
               "CURVE rt/s", "cost");
        for (int i = 0; i < ncurve; i++)
            printf("  %10d %14.0f %14.0f %14.0f %14.0f %7.0f%%\n", cres[i].n, cplain[i].svc_per_s,
                   cres[i].svc_per_s, cplain[i].rt_per_s, cres[i].rt_per_s,
                   100.0 * (1.0 - cres[i].rt_per_s / cplain[i].rt_per_s));
    }
    if (netcd) {
        printf("\nEntries on etcd (BENCH_ETCD=1: 3 members on loopback, guarded txns of up to 128 "
               "entries), same N, this run:\n");
        printf("  %10s %12s %12s %12s %12s %8s %12s\n", "N", "file svc/s", "etcd svc/s",
               "file rt/s", "etcd rt/s", "cost", "bytes/entry");
        for (int i = 0; i < netcd; i++)
            printf("  %10d %12.0f %12.0f %12.0f %12.0f %7.0f%% %6.0f+%-5.0f\n", eres[i].n,
                   eplain[i].svc_per_s, eres[i].svc_per_s, eplain[i].rt_per_s, eres[i].rt_per_s,
                   100.0 * (1.0 - eres[i].rt_per_s / eplain[i].rt_per_s),
                   ecount[i] ? (double)ebytes[i] / (double)ecount[i] : 0,
                   ecount[i] ? (double)ekeys[i] / (double)ecount[i] : 0);
        printf("  (bytes/entry: the value, the entries file's record, + the key; %ld entries "
               "read back for the last N)\n",
               ecount[netcd - 1]);
    }
    etcd_server_destroy(&s_etcd);
    if (failed) printf("\n%d run(s) did not complete: see the messages above\n", failed);
    return failed ? 1 : 0;
}
