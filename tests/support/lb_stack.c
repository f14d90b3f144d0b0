/* lb_stack: the lb step's stack in network namespaces (see lb_stack.h). */
#include "tests/support/lb_stack.h"

#include "tests/support/http_backend.h"
#include "tests/support/testutil.h"

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 20000

static const char *const s_host[LB_STACK_NHOSTS] = {"cli", "lb", "b1", "b2"};
static const int s_num[LB_STACK_NHOSTS] = {1, 2, 11, 12};

struct _lb_stack_t {
    fixture_t *stack;
    char sw[32];
    char ns[LB_STACK_NHOSTS][32];
    char port[LB_STACK_NHOSTS][16];
    char router[128], publish[128];
    haproxy_server_t *haproxy;
    pid_t backend[2];
    char backend_name[2][32]; /* the bodies they answer */
    pid_t lb;
    int prov_in;
    char lb_mac[32];
    char vip[64]; /* the service last seen deployed: its VIP, port, URL */
    int vport;
    char url[160];
    /* the condition test_wait polls */
    const char *name, *state, *body;
    bool broken; /* a request failed where none may: stop waiting */
};

static int s_ns_setup(lb_stack_t *self, const lb_stack_opts_t *opts)
{
    unsigned id = (unsigned)getpid() % 100000u;
    snprintf(self->sw, sizeof self->sw, "il%u-%ssw", id, opts->tag);
    /* With IPv6, no snooping: the neighbour solicitations for a VIP reach
     * every port whatever MLD reports the bridge saw. */
    if (test_sh("ip netns add %s && ip -n %s link add br0 type bridge%s && "
                "ip -n %s link set br0 up && ip -n %s link set lo up",
                self->sw, self->sw, opts->net6 ? " mcast_snooping 0" : "", self->sw, self->sw))
        return -1;
    for (int h = 0; h < LB_STACK_NHOSTS; h++) {
        char v6[128] = "";
        snprintf(self->ns[h], sizeof self->ns[h], "il%u-%s%s", id, opts->tag, s_host[h]);
        snprintf(self->port[h], sizeof self->port[h], "il%u%s%s", id, opts->tag, s_host[h]);
        if (opts->net6)
            snprintf(v6, sizeof v6, "ip -n %s -6 addr add %s%d/64 dev eth0 nodad && ", self->ns[h],
                     opts->net6, s_num[h]);
        if (test_sh("ip netns add %s && "
                    "ip -n %s link add eth0 type veth peer name %s netns %s && "
                    "ip -n %s addr add %s%d/24 dev eth0 && %s"
                    "ip -n %s link set eth0 up && ip -n %s link set lo up && "
                    "ip -n %s link set %s master br0 && ip -n %s link set %s up",
                    self->ns[h], self->ns[h], self->port[h], self->sw, self->ns[h], opts->net4,
                    s_num[h], v6, self->ns[h], self->ns[h], self->sw, self->port[h], self->sw,
                    self->port[h]))
            return -1;
    }
    char *mac =
        test_sh_output("ip -n %s -br link show eth0 | awk '{print $3}'", self->ns[LB_STACK_LB]);
    if (!mac) return -1;
    snprintf(self->lb_mac, sizeof self->lb_mac, "%s", mac);
    self->lb_mac[strcspn(self->lb_mac, "\n")] = '\0';
    free(mac);
    return 0;
}

static pid_t s_start_lb(lb_stack_t *self, const char *config)
{
    const char *args[] = {"netns",
                          "exec",
                          self->ns[LB_STACK_LB],
                          test_bin("interlook-lb"),
                          "-c",
                          config ? config : fixture_config(self->stack),
                          NULL};
    return fixture_spawn(self->stack, "/sbin/ip", args, "lb.log", NULL);
}

/* The core with the configuration, HAProxy, the extensions and the backends. */
static int s_start(lb_stack_t *self, const lb_stack_opts_t *opts)
{
    snprintf(self->router, sizeof self->router, "ipc:///tmp/il-%s-%d-router", opts->name,
             (int)getpid());
    snprintf(self->publish, sizeof self->publish, "ipc:///tmp/il-%s-%d-publish", opts->name,
             (int)getpid());
    fixture_opts_t fopts = {.name = opts->name,
                            .bus = "heartbeat: 200ms, liveness: 5",
                            .router = self->router,
                            .publish = self->publish};
    self->stack = fixture_new(&fopts);
    if (!self->stack) return -1;
    const char *dir = fixture_dir(self->stack);
    char hdir[600], lbfile[600];
    snprintf(hdir, sizeof hdir, "%s/haproxy", dir);
    snprintf(lbfile, sizeof lbfile, "%s/interlook.cfg", dir);
    self->haproxy = haproxy_server_new(hdir, lbfile, self->ns[LB_STACK_LB]);
    if (!self->haproxy || haproxy_server_start(self->haproxy, WAIT_MS)) return -1;
    char sections[4096];
    snprintf(sections, sizeof sections,
             "ipam:\n  ipalloc:\n    network_cidr: %s\n"
             "    db_file: {dir}/ipalloc.db\n"
             "lb:\n  haproxy:\n%s    vipInterface: eth0\n    healthInterval: 200ms\n"
             "    drainTimeout: %s\n    watchInterval: 200ms\n    logLevel: debug\n",
             opts->pool, haproxy_server_yaml(self->haproxy), opts->drain);
    if (fixture_config_write(self->stack,
                             "  workflowSteps: provider.inject,ipam.ipalloc,lb.haproxy\n"
                             "  checkFlowInterval: 100ms\n"
                             "  retryBackoffMin: 100ms\n"
                             "  retryBackoffMax: 1s\n",
                             sections))
        return -1;
    if (fixture_start_core(self->stack, WAIT_MS) <= 0) return -1;
    const char *alloc[] = {NULL};
    const char *prov[] = {"--name", "provider.inject", NULL};
    if (fixture_spawn_ext(self->stack, "interlook-ipalloc", alloc, NULL) <= 0 ||
        fixture_spawn_ext(self->stack, "interlook-inject", prov, &self->prov_in) <= 0)
        return -1;
    self->lb = s_start_lb(self, NULL);
    if (self->lb <= 0) return -1;
    for (int i = 0; i < 2; i++) {
        snprintf(self->backend_name[i], sizeof self->backend_name[i], "%s", opts->backend[i]);
        self->backend[i] = http_backend_start(self->ns[LB_STACK_B1 + i], opts->listen[i], 8080,
                                              opts->backend[i], NULL);
        if (self->backend[i] <= 0) return -1;
    }
    if (!fixture_wait_registered(self->stack, "lb.haproxy", 1, WAIT_MS) ||
        !fixture_wait_registered(self->stack, "ipam.ipalloc", 1, WAIT_MS) ||
        !fixture_wait_registered(self->stack, "provider.inject", 1, WAIT_MS))
        return -1;
    return 0;
}

lb_stack_t *lb_stack_new(const lb_stack_opts_t *opts)
{
    lb_stack_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->prov_in = -1;
    if (s_ns_setup(self, opts)) {
        fprintf(stderr, "%s: cannot build the namespaces (root and iproute2 needed)\n", opts->name);
        lb_stack_destroy(&self);
        return NULL;
    }
    if (s_start(self, opts)) {
        fprintf(stderr, "%s: the stack did not start (see the logs in %s)\n", opts->name,
                self->stack ? fixture_dir(self->stack) : "the test log");
        lb_stack_destroy(&self);
        return NULL;
    }
    return self;
}

void lb_stack_destroy(lb_stack_t **self_p)
{
    lb_stack_t *self = *self_p;
    if (!self) return;
    for (int i = 0; i < 2; i++)
        if (self->backend[i] > 0) http_backend_stop(self->backend[i]);
    haproxy_server_destroy(&self->haproxy);
    fixture_destroy(&self->stack);
    for (int h = 0; h < LB_STACK_NHOSTS; h++)
        if (*self->ns[h]) test_sh("ip netns del %s 2>/dev/null", self->ns[h]);
    if (*self->sw) test_sh("ip netns del %s 2>/dev/null", self->sw);
    free(self);
    *self_p = NULL;
}

int lb_stack_setup(void **state, size_t size, const lb_stack_opts_t *opts)
{
    lb_stack_t **ctx = calloc(1, size);
    *state = ctx;
    if (!ctx) return -1;
    *ctx = lb_stack_new(opts);
    return *ctx ? 0 : -1;
}

int lb_stack_teardown(void **state)
{
    lb_stack_t **ctx = *state;
    if (ctx) lb_stack_destroy(ctx);
    free(ctx);
    *state = NULL;
    return 0;
}

fixture_t *lb_stack_fixture(lb_stack_t *self)
{
    return self->stack;
}

haproxy_server_t *lb_stack_haproxy(lb_stack_t *self)
{
    return self->haproxy;
}

const char *lb_stack_ns(lb_stack_t *self, int host)
{
    return self->ns[host];
}

const char *lb_stack_lb_mac(lb_stack_t *self)
{
    return self->lb_mac;
}

int lb_stack_restart_lb(lb_stack_t *self, const char *config)
{
    if (test_stop(self->lb, SIGKILL, 5000) < 0) return -1;
    self->lb = s_start_lb(self, config);
    return self->lb > 0 ? 0 : -1;
}

int lb_stack_restart_no_reload(lb_stack_t *self, int services)
{
    char *before = haproxy_server_workers(self->haproxy);
    int rc = 0;
    if (!before || lb_stack_restart_lb(self, NULL) ||
        !fixture_wait_registered(self->stack, "lb.haproxy", 1, WAIT_MS)) {
        fprintf(stderr, "lb_stack: %s\n",
                before ? "interlook-lb did not come back" : "no HAProxy workers to compare");
        rc = -1;
    }
    if (rc == 0 && test_sh("grep -q 'HAProxy runs the %d service(s)' %s/lb.log", services,
                           fixture_dir(self->stack))) {
        fprintf(stderr, "lb_stack: lb.log does not say HAProxy runs the %d service(s)\n", services);
        rc = -1;
    }
    char *after = rc == 0 ? haproxy_server_workers(self->haproxy) : NULL;
    if (rc == 0 && (!after || strcmp(before, after))) {
        fprintf(stderr, "lb_stack: HAProxy's workers were %s, are %s (a reload)\n", before,
                after ? after : "(none)");
        rc = -1;
    }
    free(before);
    free(after);
    return rc;
}

int lb_stack_tell(lb_stack_t *self, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return test_write_text(self->prov_in, line);
}

static bool s_state_is(void *arg)
{
    lb_stack_t *self = arg;
    json_t *all = fixture_api_get(self->stack, "/services");
    json_t *e = json_object_get(all, self->name);
    const char *st = json_string_value(json_object_get(e, "state"));
    bool ok = self->state
                  ? st && !strcmp(st, self->state) && !json_is_true(json_object_get(e, "wip"))
                  : e == NULL;
    json_decref(all);
    return ok;
}

bool lb_stack_wait_state(lb_stack_t *self, const char *name, const char *state, int timeout_ms)
{
    self->name = name;
    self->state = state;
    if (!test_wait(s_state_is, self, timeout_ms)) {
        test_sh("tail -30 %s/lb.log >&2", fixture_dir(self->stack));
        fprintf(stderr, "lb_stack: service %s is not %s\n", name, state ? state : "gone");
        return false;
    }
    if (!state || strcmp(state, "deployed")) return true;
    json_t *all = fixture_api_get(self->stack, "/services");
    json_t *svc = json_object_get(json_object_get(all, name), "service");
    const char *ip = json_string_value(json_object_get(svc, "public_ip"));
    snprintf(self->vip, sizeof self->vip, "%s", ip ? ip : "");
    self->vport = (int)json_integer_value(json_object_get(svc, "port"));
    json_decref(all);
    if (strchr(self->vip, ':'))
        snprintf(self->url, sizeof self->url, "-6 -g http://[%s]:%d/", self->vip, self->vport);
    else
        snprintf(self->url, sizeof self->url, "http://%s:%d/", self->vip, self->vport);
    return true;
}

const char *lb_stack_vip(lb_stack_t *self)
{
    return self->vip;
}

int lb_stack_port(lb_stack_t *self)
{
    return self->vport;
}

char *lb_stack_get(lb_stack_t *self, int *curl_rc)
{
    char *out = test_sh_output("ip netns exec %s curl -s -m 3 %s; echo \" rc=$?\"",
                               self->ns[LB_STACK_CLIENT], self->url);
    if (curl_rc) *curl_rc = out && strstr(out, "rc=") ? atoi(strstr(out, "rc=") + 3) : -1;
    if (out && strstr(out, " rc=0") == NULL) {
        free(out);
        return NULL;
    }
    if (out) *strstr(out, " rc=0") = '\0';
    return out;
}

static bool s_serves(void *arg)
{
    lb_stack_t *self = arg;
    char *body = lb_stack_get(self, NULL);
    bool ok = body && !strcmp(body, self->body);
    free(body);
    return ok;
}

bool lb_stack_wait_body(lb_stack_t *self, const char *body, int timeout_ms)
{
    self->body = body;
    return test_wait(s_serves, self, timeout_ms);
}

int lb_stack_count(lb_stack_t *self, int n, int *b1, int *b2)
{
    char *out = test_sh_output("for i in $(seq %d); do ip netns exec %s curl -s -m 3 %s "
                               "|| echo FAIL; echo; done",
                               n, self->ns[LB_STACK_CLIENT], self->url);
    if (!out) return -1;
    *b1 = *b2 = 0;
    int fails = 0;
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        *b1 += !strcmp(l, self->backend_name[0]);
        *b2 += !strcmp(l, self->backend_name[1]);
        fails += !strcmp(l, "FAIL");
    }
    free(out);
    if (fails == 0 && *b1 + *b2 == n) return 0;
    fprintf(stderr, "lb_stack: %d requests to %s: %d failed, %d %s, %d %s\n", n, self->url, fails,
            *b1, self->backend_name[0], *b2, self->backend_name[1]);
    return -1;
}

static bool s_both_seen(void *arg)
{
    lb_stack_t *self = arg;
    int b1, b2;
    if (lb_stack_count(self, 8, &b1, &b2)) {
        self->broken = true; /* a failed request is a failure, not something to wait out */
        return true;
    }
    return b1 > 0 && b2 > 0;
}

bool lb_stack_wait_both(lb_stack_t *self, int timeout_ms)
{
    self->broken = false;
    return test_wait(s_both_seen, self, timeout_ms) && !self->broken;
}

static bool s_learnt(void *arg)
{
    lb_stack_t *self = arg;
    char *out = test_sh_output("ip -n %s %s neigh show %s", self->ns[LB_STACK_CLIENT],
                               strchr(self->name, ':') ? "-6" : "-4", self->name);
    bool ok = out && strstr(out, self->lb_mac);
    free(out);
    return ok;
}

bool lb_stack_wait_learnt(lb_stack_t *self, int timeout_ms)
{
    self->name = self->vip;
    return test_wait(s_learnt, self, timeout_ms);
}
