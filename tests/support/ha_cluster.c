/* ha_cluster: the HA stack of issue 16 (3 etcd members, two cores, a
 * provider, two allocators on etcd, echo) shared by test_ha and
 * bench_takeover, so that the test and the figures run one scenario. */
#include "tests/support/ha_cluster.h"

#include "common/etcd.h"
#include "tests/support/testutil.h"

#include <czmq.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_PREFIX "/test-ha"
#define S_CIDR   "10.40.0.0/16"
#define S_POOL   "10.40.0.0_16"

struct _ha_cluster_t {
    fixture_t *stack;
    etcd_server_t *etcd;
    const char *dir;
    ha_cluster_opts_t opts;
    int timeout_ms;
    char cfg[2][600];     /* each core's configuration */
    char ports[2][600];   /* its --ports-file */
    char listen[2][128];  /* "127.0.0.1:PORT" */
    char api[2][160];     /* "http://127.0.0.1:PORT" */
    char router[2][128];  /* as bound */
    char publish[2][128]; /* as bound */
    pid_t core[2];
    char ext_cfg[600];
    int inject_in;
    int added;  /* services s0..s(added-1) reported */
    bool *live; /* live[k]: s<k> added and not removed */
    size_t live_cap;
    int oldest; /* every s<k> with k < oldest is removed */
};

/* Writes core i's configuration with its fixed ports. A core needs only
 * its own endpoints; the extensions get both cores'. */
static int s_core_config(ha_cluster_t *self, int i)
{
    char bus[600];
    snprintf(bus, sizeof bus, "    router: \"%s\"\n    publish: \"%s\"\n", self->router[i],
             self->publish[i]);
    char text[4096];
    snprintf(text, sizeof text,
             "core:\n"
             "  logLevel: %s\n"
             "  logFile: %s/core%d.log\n"
             "  listen: \"%s\"\n"
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
             "    prefix: " S_PREFIX "\n"
             "    leaseTTL: %ds\n"
             "  bus:\n"
             "    heartbeat: 100ms\n"
             "    liveness: 3\n"
             "%s",
             self->opts.log_level ? self->opts.log_level : "debug", self->dir, i, self->listen[i],
             i,
             self->opts.one_each ? etcd_server_endpoint(self->etcd, (size_t)i)
                                 : etcd_server_endpoints(self->etcd),
             self->opts.ttl_s, bus);
    snprintf(self->cfg[i], sizeof self->cfg[i], "%s/core%d.yaml", self->dir, i);
    return test_write_file(self->cfg[i], text);
}

typedef struct {
    ha_cluster_t *self;
    int i;
} s_ref_t;

static bool s_ports_written(void *arg)
{
    s_ref_t *ref = arg;
    return access(ref->self->ports[ref->i], R_OK) == 0;
}

int ha_cluster_start_core(ha_cluster_t *self, int i)
{
    snprintf(self->ports[i], sizeof self->ports[i], "%s/core%d.ports", self->dir, i);
    unlink(self->ports[i]);
    self->core[i] = 0;
    const char *args[] = {"-c", self->cfg[i], "--ports-file", self->ports[i], NULL};
    char log[64];
    snprintf(log, sizeof log, "core%d.out", i);
    pid_t pid = fixture_spawn(self->stack, "interlookd", args, log, NULL);
    if (pid <= 0) return -1;
    self->core[i] = pid;
    s_ref_t ref = {self, i};
    if (!test_wait(s_ports_written, &ref, self->timeout_ms)) {
        fprintf(stderr, "ha_cluster: core %d did not start; its output:\n", i);
        test_sh("cat '%s/%s' >&2", self->dir, log);
        return -1;
    }
    FILE *f = fopen(self->ports[i], "r");
    if (!f) return -1;
    int n = fscanf(f, "listen %127s router %127s publish %127s", self->listen[i], self->router[i],
                   self->publish[i]);
    fclose(f);
    if (n != 3) {
        fprintf(stderr, "ha_cluster: core %d's ports file unreadable\n", i);
        return -1;
    }
    char listen[128];
    memcpy(listen, self->listen[i], sizeof listen);
    snprintf(self->api[i], sizeof self->api[i], "http://%s", listen);
    return 0;
}

int ha_cluster_kill_core(ha_cluster_t *self, int i)
{
    if (self->core[i] <= 0) return -1;
    kill(self->core[i], SIGKILL);
    waitpid(self->core[i], NULL, 0);
    self->core[i] = 0;
    return 0;
}

ha_cluster_t *ha_cluster_new(const ha_cluster_opts_t *opts)
{
    ha_cluster_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    if (opts) self->opts = *opts;
    if (self->opts.ttl_s <= 0) self->opts.ttl_s = 2;
    self->timeout_ms = self->opts.timeout_ms > 0 ? self->opts.timeout_ms : 30000;
    self->inject_in = -1;
    fixture_opts_t fopts = {.name = self->opts.name ? self->opts.name : "ha_cluster"};
    self->stack = fixture_new(&fopts);
    if (!self->stack) goto fail;
    self->dir = fixture_dir(self->stack);
    char etcd_dir[700];
    snprintf(etcd_dir, sizeof etcd_dir, "%s/etcd", self->dir);
    self->etcd = etcd_server_new(etcd_dir, 3, self->timeout_ms);
    if (!self->etcd) goto fail;
    /* Fixed ports out of the kernel's ephemeral range, not "*": while a
     * killed core is down, its ephemeral ports could go to a core of another
     * test running meanwhile, and our extensions, trying every endpoint,
     * would register with it (seen: our allocators took that core's work
     * and wrote its services into our pool). test_free_ports picks at
     * random in 20000-31999, where the kernel hands out nothing. */
    for (int i = 0; i < 2; i++) {
        int p[3];
        if (test_free_ports(p, 3) != 0) {
            fprintf(stderr, "ha_cluster: no free ports\n");
            goto fail;
        }
        snprintf(self->listen[i], sizeof self->listen[i], "127.0.0.1:%d", p[0]);
        snprintf(self->router[i], sizeof self->router[i], "tcp://127.0.0.1:%d", p[1]);
        snprintf(self->publish[i], sizeof self->publish[i], "tcp://127.0.0.1:%d", p[2]);
        if (s_core_config(self, i) || ha_cluster_start_core(self, i)) goto fail;
    }
    /* The allocators share one pool in etcd, under the cores' prefix. */
    char text[4096];
    snprintf(text, sizeof text,
             "core:\n"
             "  bus:\n"
             "    heartbeat: 100ms\n"
             "    liveness: 3\n"
             "    router: \"%s,%s\"\n"
             "    publish: \"%s,%s\"\n"
             "ipam:\n"
             "  ipalloc:\n"
             "    network_cidr: " S_CIDR "\n"
             "    store: etcd\n"
             "    etcd:\n"
             "      endpoints: \"%s\"\n"
             "      prefix: " S_PREFIX "\n",
             self->router[0], self->router[1], self->publish[0], self->publish[1],
             etcd_server_endpoints(self->etcd));
    snprintf(self->ext_cfg, sizeof self->ext_cfg, "%s/ext.yaml", self->dir);
    if (test_write_file(self->ext_cfg, text) != 0) goto fail;
    const char *inject[] = {"-c", self->ext_cfg, "--name", "provider.test", NULL};
    const char *ipalloc1[] = {"-c", self->ext_cfg, "--instance", "ipalloc-1", NULL};
    const char *ipalloc2[] = {"-c", self->ext_cfg, "--instance", "ipalloc-2", NULL};
    const char *echo[] = {"-c", self->ext_cfg, "--instance", "echo-1", NULL};
    if (fixture_spawn(self->stack, "interlook-inject", inject, "inject.log", &self->inject_in) <=
            0 ||
        fixture_spawn(self->stack, "interlook-ipalloc", ipalloc1, "ipalloc-1.log", NULL) <= 0 ||
        fixture_spawn(self->stack, "interlook-ipalloc", ipalloc2, "ipalloc-2.log", NULL) <= 0 ||
        fixture_spawn(self->stack, "interlook-echo", echo, "echo.log", NULL) <= 0) {
        fprintf(stderr, "ha_cluster: an extension did not start\n");
        goto fail;
    }
    return self;
fail:
    ha_cluster_destroy(&self);
    return NULL;
}

void ha_cluster_destroy(ha_cluster_t **self_p)
{
    ha_cluster_t *self = *self_p;
    if (!self) return;
    /* HA_CLUSTER_KEEP=1: the logs stay (a copy beside the directory), to
     * look at a slow or failed round afterwards. */
    const char *keep = getenv("HA_CLUSTER_KEEP");
    if (keep && !strcmp(keep, "1") && self->dir) {
        test_sh("mkdir -p '%s.kept' && cp '%s'/*.log '%s'/*.out '%s'/*.yaml '%s.kept/' 2>/dev/null",
                self->dir, self->dir, self->dir, self->dir, self->dir);
        fprintf(stderr, "ha_cluster: logs kept in %s.kept\n", self->dir);
    }
    fixture_destroy(&self->stack);
    etcd_server_destroy(&self->etcd);
    free(self->live);
    free(self);
    *self_p = NULL;
}

const char *ha_cluster_dir(ha_cluster_t *self)
{
    return self->dir;
}

etcd_server_t *ha_cluster_etcd(ha_cluster_t *self)
{
    return self->etcd;
}

const char *ha_cluster_api(ha_cluster_t *self, int i)
{
    return self->api[i];
}

const char *ha_cluster_router(ha_cluster_t *self, int i)
{
    return self->router[i];
}

const char *ha_cluster_publish(ha_cluster_t *self, int i)
{
    return self->publish[i];
}

fixture_t *ha_cluster_fixture(ha_cluster_t *self)
{
    return self->stack;
}

pid_t ha_cluster_core_pid(ha_cluster_t *self, int i)
{
    return self->core[i];
}

int ha_cluster_ttl_ms(ha_cluster_t *self)
{
    return self->opts.ttl_s * 1000;
}

void ha_cluster_role(ha_cluster_t *self, int i, char *role, size_t len, char *reason, size_t rlen)
{
    json_t *h = test_get_json(self->api[i], "/health");
    const char *r = h ? json_string_value(json_object_get(h, "role")) : NULL;
    snprintf(role, len, "%s", r ? r : "");
    if (reason) {
        const char *why = h ? json_string_value(json_object_get(h, "reason")) : NULL;
        snprintf(reason, rlen, "%s", why ? why : "");
    }
    json_decref(h);
}

bool ha_cluster_is_role(ha_cluster_t *self, int i, const char *want)
{
    char role[32];
    ha_cluster_role(self, i, role, sizeof role, NULL, 0);
    return !strcmp(role, want);
}

typedef struct {
    ha_cluster_t *self;
    int i;
    const char *role;
} s_role_wait_t;

static bool s_role_is(void *arg)
{
    s_role_wait_t *w = arg;
    return ha_cluster_is_role(w->self, w->i, w->role);
}

bool ha_cluster_wait_role(ha_cluster_t *self, int i, const char *role, int timeout_ms)
{
    s_role_wait_t w = {self, i, role};
    return test_wait(s_role_is, &w, timeout_ms);
}

int ha_cluster_leader(ha_cluster_t *self, int timeout_ms)
{
    int64_t end = zclock_mono() + timeout_ms;
    do {
        for (int i = 0; i < 2; i++)
            if (self->core[i] > 0 && ha_cluster_is_role(self, i, "leader")) return i;
        zclock_sleep(20);
    } while (zclock_mono() < end);
    return -1;
}

static int s_say(ha_cluster_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int s_say(ha_cluster_t *self, const char *fmt, ...)
{
    char line[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    if (test_write_text(self->inject_in, line) != 0) {
        fprintf(stderr, "ha_cluster: the provider's input is closed\n");
        return -1;
    }
    return 0;
}

int ha_cluster_add(ha_cluster_t *self, int n)
{
    for (int k = 0; k < n; k++) {
        if ((size_t)self->added >= self->live_cap) {
            size_t cap = self->live_cap ? 2 * self->live_cap : 256;
            bool *live = realloc(self->live, cap * sizeof *live);
            if (!live) return -1;
            memset(live + self->live_cap, 0, (cap - self->live_cap) * sizeof *live);
            self->live = live;
            self->live_cap = cap;
        }
        if (s_say(self, "add s%d 127.0.0.1:%d\n", self->added, 10000 + self->added % 50000))
            return -1;
        self->live[self->added++] = true;
    }
    return 0;
}

int ha_cluster_remove(ha_cluster_t *self, int n)
{
    for (int done = 0; done < n && self->oldest < self->added; self->oldest++) {
        if (!self->live[self->oldest]) continue;
        if (s_say(self, "delete s%d\n", self->oldest)) return -1;
        self->live[self->oldest] = false;
        done++;
    }
    return 0;
}

int ha_cluster_added(ha_cluster_t *self)
{
    return self->added;
}

int ha_cluster_live(ha_cluster_t *self)
{
    int n = 0;
    for (int k = 0; k < self->added; k++)
        n += self->live[k];
    return n;
}

static bool s_all_registered(void *arg)
{
    s_ref_t *ref = arg;
    json_t *exts = test_get_json(ref->self->api[ref->i], "/extensions");
    bool ok = exts != NULL;
    const char *names[] = {"provider.test", "ipam.ipalloc", "provisioner.echo"};
    const size_t want[] = {1, 2, 1};
    for (int k = 0; k < 3 && ok; k++)
        ok = json_array_size(json_object_get(exts, names[k])) >= want[k];
    json_decref(exts);
    return ok;
}

bool ha_cluster_wait_registered(ha_cluster_t *self, int i, int timeout_ms)
{
    s_ref_t ref = {self, i};
    return test_wait(s_all_registered, &ref, timeout_ms);
}

/* The index k of a name "s<k>" this cluster reported, or -1. */
static int s_index(ha_cluster_t *self, const char *name)
{
    if (name[0] != 's' || name[1] < '0' || name[1] > '9') return -1;
    char *end;
    long k = strtol(name + 1, &end, 10);
    if (*end || k < 0 || k >= self->added) return -1;
    return (int)k;
}

typedef struct {
    ha_cluster_t *self;
    int i;
    char *why;
    size_t whylen;
} s_converged_t;

static bool s_converged(void *arg)
{
    s_converged_t *c = arg;
    ha_cluster_t *self = c->self;
    json_t *all = test_get_json(self->api[c->i], "/services");
    if (!all) {
        snprintf(c->why, c->whylen, "no /services from core %d", c->i);
        return false;
    }
    bool ok = true;
    int deployed = 0;
    zhashx_t *ips = zhashx_new(); /* ip -> name, of the live services */
    const char *name;
    json_t *e;
    json_object_foreach(all, name, e)
    {
        int k = s_index(self, name);
        const char *state = json_string_value(json_object_get(e, "state"));
        bool wip = json_is_true(json_object_get(e, "wip"));
        const char *ip =
            json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
        if (k < 0) {
            snprintf(c->why, c->whylen, "%s is not a service reported", name);
            ok = false;
        } else if (!self->live[k]) {
            if (!state || strcmp(state, "undeployed") || wip) {
                snprintf(c->why, c->whylen, "%s (removed): %s%s", name, state ? state : "?",
                         wip ? ", in progress" : "");
                ok = false;
            }
        } else if (!state || strcmp(state, "deployed") || wip || !ip) {
            snprintf(c->why, c->whylen, "%s: %s%s%s", name, state ? state : "?",
                     wip ? ", in progress" : "", ip ? "" : ", no IP");
            ok = false;
        } else if (zhashx_lookup(ips, ip)) {
            snprintf(c->why, c->whylen, "%s and %s both have %s", name,
                     (const char *)zhashx_lookup(ips, ip), ip);
            ok = false;
        } else {
            zhashx_insert(ips, ip, (void *)name);
            deployed++;
        }
        if (!ok) break;
    }
    if (ok && deployed != ha_cluster_live(self)) {
        snprintf(c->why, c->whylen, "%d services deployed for %d live", deployed,
                 ha_cluster_live(self));
        ok = false;
    }
    zhashx_destroy(&ips);
    json_decref(all);
    return ok;
}

bool ha_cluster_wait_converged(ha_cluster_t *self, int i, int timeout_ms, char *why, size_t whylen)
{
    char scratch[8];
    s_converged_t c = {self, i, why ? why : scratch, why ? whylen : sizeof scratch};
    c.why[0] = '\0';
    return test_wait(s_converged, &c, timeout_ms);
}

/* The svc/ keys (name -> address) are the other half of each allocation:
 * exactly core's deployed set too. 0, or -1 with why. */
static int s_check_svc_keys(ha_cluster_t *self, zhashx_t *core, int i, char *why, size_t whylen)
{
    char err[1024];
    il_etcd_config_t c = {.endpoints = etcd_server_endpoint_list(self->etcd),
                          .endpoint_count = etcd_server_size(self->etcd)};
    il_etcd_t *etcd = il_etcd_new(&c, err, sizeof err);
    il_etcd_range_t r = {0};
    const char *prefix = S_PREFIX "/ipalloc/" S_POOL "/svc/";
    if (!etcd || il_etcd_get_prefix(etcd, prefix, 0, 0, &r, err, sizeof err) != 0) {
        snprintf(why, whylen, "reading %s: %s", prefix, err);
        il_etcd_destroy(&etcd);
        return -1;
    }
    int rc = 0;
    for (size_t k = 0; k < r.count && rc == 0; k++) {
        const char *name = r.kvs[k].key + strlen(prefix);
        const char *want = zhashx_lookup(core, name);
        if (!want || strcmp(want, r.kvs[k].value)) {
            snprintf(why, whylen, "etcd's %s%s = %s, core %d shows %s", prefix, name,
                     r.kvs[k].value, i, want ? want : "it not deployed");
            rc = -1;
        }
    }
    if (rc == 0 && r.count != zhashx_size(core)) {
        snprintf(why, whylen, "%zu svc/ keys in etcd, %zu services deployed on core %d", r.count,
                 zhashx_size(core), i);
        rc = -1;
    }
    il_etcd_range_free(&r);
    il_etcd_destroy(&etcd);
    return rc;
}

int ha_cluster_check_allocations(ha_cluster_t *self, int i, char *why, size_t whylen)
{
    json_t *all = test_get_json(self->api[i], "/services");
    if (!all) {
        snprintf(why, whylen, "no /services from core %d", i);
        return -1;
    }
    zhashx_t *core = zhashx_new(); /* name -> ip, deployed on core i */
    zhashx_set_destructor(core, (zhashx_destructor_fn *)zstr_free);
    const char *name;
    json_t *e;
    json_object_foreach(all, name, e)
    {
        const char *state = json_string_value(json_object_get(e, "state"));
        const char *ip =
            json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
        if (state && !strcmp(state, "deployed") && ip) zhashx_insert(core, name, strdup(ip));
    }
    json_decref(all);
    size_t size = 64 + 128 * (size_t)(self->added + 16);
    char *out = malloc(size);
    int rc =
        test_run(out, size, "%s -c %s --list 2>&1", test_bin("interlook-ipalloc"), self->ext_cfg);
    if (rc != 0) {
        snprintf(why, whylen, "interlook-ipalloc --list: exit %d: %.200s", rc, out);
        free(out);
        zhashx_destroy(&core);
        return -1;
    }
    /* SERVICE IP ALLOCATED header, one row each, then "N allocations in ..." */
    int rows = 0;
    rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char svc[256], ip[64], when[64];
        if (strncmp(line, "SERVICE", 7) == 0 || strstr(line, " allocations in ")) continue;
        if (sscanf(line, "%255s %63s %63s", svc, ip, when) != 3) {
            snprintf(why, whylen, "--list: unexpected line '%.200s'", line);
            rc = -1;
            break;
        }
        rows++;
        const char *want = zhashx_lookup(core, svc);
        if (!want) {
            snprintf(why, whylen, "etcd holds %s for %s, which core %d does not show deployed", ip,
                     svc, i);
            rc = -1;
        } else if (strcmp(want, ip)) {
            snprintf(why, whylen, "etcd holds %s for %s, core %d shows %s", ip, svc, i, want);
            rc = -1;
        }
    }
    if (rc == 0 && (size_t)rows != zhashx_size(core)) {
        snprintf(why, whylen, "%d allocations in etcd, %zu services deployed on core %d", rows,
                 zhashx_size(core), i);
        rc = -1;
    }
    if (rc == 0) rc = s_check_svc_keys(self, core, i, why, whylen);
    free(out);
    zhashx_destroy(&core);
    return rc;
}

int ha_cluster_failover(ha_cluster_t *self, int leader, ha_takeover_t *out, char *why,
                        size_t whylen)
{
    *out = (ha_takeover_t){-1, -1, -1};
    int other = 1 - leader;
    if (!ha_cluster_is_role(self, other, "standby")) {
        snprintf(why, whylen, "core %d is not standing by", other);
        return -1;
    }
    /* In flight when the leader dies: additions, and removals whose
     * releases race with the takeover. */
    if (ha_cluster_add(self, 10) || ha_cluster_remove(self, 3)) goto input;
    if (ha_cluster_kill_core(self, leader)) {
        snprintf(why, whylen, "core %d was not running", leader);
        return -1;
    }
    int64_t killed = zclock_mono();
    /* While no core leads: held by the provider. */
    if (ha_cluster_add(self, 5) || ha_cluster_remove(self, 2)) goto input;
    if (!ha_cluster_wait_role(self, other, "leader", self->timeout_ms)) {
        snprintf(why, whylen, "core %d did not lead within %d ms of the kill", other,
                 self->timeout_ms);
        return -1;
    }
    int64_t led = zclock_mono();
    out->takeover_ms = led - killed;
    if (!ha_cluster_wait_registered(self, other, self->timeout_ms)) {
        snprintf(why, whylen, "the extensions did not all register with core %d", other);
        return -1;
    }
    out->register_ms = zclock_mono() - led;
    if (ha_cluster_add(self, 5) || ha_cluster_remove(self, 1)) goto input;
    char conv[256];
    if (!ha_cluster_wait_converged(self, other, self->timeout_ms, conv, sizeof conv)) {
        snprintf(why, whylen, "core %d did not converge in %d ms: %s", other, self->timeout_ms,
                 conv);
        return -1;
    }
    out->converge_ms = zclock_mono() - led;
    if (ha_cluster_start_core(self, leader)) {
        snprintf(why, whylen, "core %d did not start again", leader);
        return -1;
    }
    if (!ha_cluster_wait_role(self, leader, "standby", self->timeout_ms)) {
        snprintf(why, whylen, "core %d, started again, does not stand by", leader);
        return -1;
    }
    return other;
input:
    snprintf(why, whylen, "the provider's input could not be written");
    return -1;
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t ha_cluster_percentile(int64_t *values, size_t n, int p)
{
    if (n == 0) return -1;
    qsort(values, n, sizeof *values, s_cmp_i64);
    size_t rank = ((size_t)p * n + 99) / 100; /* nearest rank, 1-based */
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return values[rank - 1];
}
