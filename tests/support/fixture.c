/* fixture: a whole interlook stack for one test, see fixture.h. */
#include "tests/support/fixture.h"
#include "tests/support/testutil.h"
#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_MAX_PROCS     64
#define S_STOP_MS       5000
#define S_EPHEMERAL_API "127.0.0.1:0"
#define S_EPHEMERAL_BUS "tcp://127.0.0.1:*"
#define S_EP            128 /* an endpoint's bytes */
#define S_BIND_TRIES    5   /* first starts on fresh ports when one was taken */

struct _fixture_t {
    fixture_opts_t opts;
    char name[128], bus[256], core_log[128]; /* opts' strings */
    char *dir;
    char config[600];
    char ports_file[600];
    /* In the configuration: picked (see s_pick) or fixed by opts; opts' '*'
     * or 0 until a core bound them. */
    char listen[S_EP];
    char router[S_EP];
    char publish[S_EP];
    bool known;  /* the three above are the ones the core binds */
    bool chosen; /* the fixture picked those opts did not fix (test_free_ports) */
    /* What tests connect to: "" until known. */
    char api[160];
    char router_ep[128];
    char publish_ep[128];
    char *core_keys, *sections;
    pid_t pids[S_MAX_PROCS];
    int stdins[S_MAX_PROCS];
    int nprocs;
};

/* The endpoints in the configuration are the bound ones: tests get them. */
static void s_known(fixture_t *self)
{
    self->known = true;
    snprintf(self->api, sizeof self->api, "http://%s", self->listen);
    snprintf(self->router_ep, sizeof self->router_ep, "%s", self->router);
    snprintf(self->publish_ep, sizeof self->publish_ep, "%s", self->publish);
}

/* The endpoints with fresh ports (test_free_ports) for those opts did not
 * fix, into the three buffers of S_EP bytes: ports out of the kernel's
 * ephemeral range, so that while a test's core is down (the test killed it)
 * the kernel cannot hand them to another process, as a core of a test
 * running meanwhile, with which our extensions, reconnecting to the old
 * ports, would register. Returns 0 or -1 (none free). */
static int s_pick(fixture_t *self, char *listen, char *router, char *publish)
{
    int p[3];
    if (test_free_ports(p, 3) != 0) return -1;
    snprintf(listen, S_EP, "%s", self->listen);
    snprintf(router, S_EP, "%s", self->router);
    snprintf(publish, S_EP, "%s", self->publish);
    if (!self->opts.listen) snprintf(listen, S_EP, "127.0.0.1:%d", p[0]);
    if (!self->opts.router) snprintf(router, S_EP, "tcp://127.0.0.1:%d", p[1]);
    if (!self->opts.publish) snprintf(publish, S_EP, "tcp://127.0.0.1:%d", p[2]);
    self->chosen = true;
    return 0;
}

fixture_t *fixture_new(const fixture_opts_t *opts)
{
    fixture_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    if (opts) self->opts = *opts;
    /* the strings are kept: a caller's may be on its stack */
    snprintf(self->name, sizeof self->name, "%s", self->opts.name ? self->opts.name : "a test");
    snprintf(self->bus, sizeof self->bus, "%s",
             self->opts.bus ? self->opts.bus : "heartbeat: 100ms, liveness: 3");
    if (self->opts.core_log)
        snprintf(self->core_log, sizeof self->core_log, "%s", self->opts.core_log);
    self->opts.name = self->name;
    self->opts.bus = self->bus;
    self->opts.core_log = self->opts.core_log ? self->core_log : NULL;
    if (!self->opts.stop_signal) self->opts.stop_signal = SIGTERM;
    self->dir = test_tmpdir();
    if (!self->dir) {
        fprintf(stderr, "fixture: cannot make a directory under /tmp: %s\n", strerror(errno));
        free(self);
        return NULL;
    }
    snprintf(self->config, sizeof self->config, "%s/interlook.yml", self->dir);
    snprintf(self->ports_file, sizeof self->ports_file, "%s/core.ports", self->dir);
    self->known = self->opts.listen && self->opts.router && self->opts.publish;
    snprintf(self->listen, sizeof self->listen, "%s",
             self->opts.listen ? self->opts.listen : S_EPHEMERAL_API);
    snprintf(self->router, sizeof self->router, "%s",
             self->opts.router ? self->opts.router : S_EPHEMERAL_BUS);
    snprintf(self->publish, sizeof self->publish, "%s",
             self->opts.publish ? self->opts.publish : S_EPHEMERAL_BUS);
    char listen[S_EP], router[S_EP], publish[S_EP];
    if (self->known) {
        s_known(self);
    } else if (s_pick(self, listen, router, publish) == 0) {
        memcpy(self->listen, listen, S_EP);
        memcpy(self->router, router, S_EP);
        memcpy(self->publish, publish, S_EP);
    } else {
        fprintf(stderr, "fixture: no free port in 20000-31999: the kernel chooses them\n");
    }
    return self;
}

void fixture_destroy(fixture_t **self_p)
{
    if (!self_p || !*self_p) return;
    fixture_t *self = *self_p;
    for (int i = 0; i < self->nprocs; i++)
        if (self->stdins[i] >= 0) close(self->stdins[i]);
    /* The last started first: extensions before the core they talk to. Only
     * a child that is still ours is signalled: one a test already stopped
     * (and reaped) may have a pid that now belongs to someone else. */
    for (int i = self->nprocs - 1; i >= 0; i--)
        if (self->pids[i] > 0 && waitpid(self->pids[i], NULL, WNOHANG) == 0)
            test_stop(self->pids[i], self->opts.stop_signal, S_STOP_MS);
    if (test_sh("rm -rf '%s'", self->dir) != 0)
        fprintf(stderr, "fixture: could not remove %s\n", self->dir);
    free(self->dir);
    free(self->core_keys);
    free(self->sections);
    free(self);
    *self_p = NULL;
}

int fixture_teardown(void **state)
{
    fixture_t **first = *state;
    if (first) fixture_destroy(first);
    free(first);
    *state = NULL;
    return 0;
}

const char *fixture_dir(fixture_t *self)
{
    return self->dir;
}

const char *fixture_config(fixture_t *self)
{
    return self->config;
}

const char *fixture_api(fixture_t *self)
{
    return self->api;
}

const char *fixture_router(fixture_t *self)
{
    return self->router_ep;
}

const char *fixture_publish(fixture_t *self)
{
    return self->publish_ep;
}

/* text with every "{dir}" replaced, appended to out. */
static void s_expand(zchunk_t *out, const char *text, const char *dir)
{
    for (const char *p = text; p && *p;) {
        const char *at = strstr(p, "{dir}");
        size_t n = at ? (size_t)(at - p) : strlen(p);
        zchunk_extend(out, p, n);
        if (!at) break;
        zchunk_extend(out, dir, strlen(dir));
        p = at + 5;
    }
}

static char *s_strdup_or_null(const char *text)
{
    return text ? strdup(text) : NULL;
}

int fixture_config_write(fixture_t *self, const char *core_keys, const char *sections)
{
    if (core_keys != self->core_keys) {
        free(self->core_keys);
        self->core_keys = s_strdup_or_null(core_keys);
    }
    if (sections != self->sections) {
        free(self->sections);
        self->sections = s_strdup_or_null(sections);
    }
    char head[2048];
    snprintf(head, sizeof head,
             "# written by %s (tests/support/fixture.c)\n"
             "core:\n"
             "  logFile: %s/core.log\n"
             "  listen: \"%s\"\n"
             "  workflowEntriesFile: %s/var/entries.db\n"
             "  bus: { router: \"%s\", publish: \"%s\", %s }\n",
             self->opts.name, self->dir, self->listen, self->dir, self->router, self->publish,
             self->opts.bus);
    zchunk_t *text = zchunk_new(NULL, 0);
    s_expand(text, head, self->dir); /* opts.bus may name files in it */
    s_expand(text, self->core_keys, self->dir);
    s_expand(text, self->sections, self->dir);
    zchunk_extend(text, "", 1);
    int rc = test_write_file(self->config, (char *)zchunk_data(text));
    if (rc) fprintf(stderr, "fixture: cannot write %s: %s\n", self->config, strerror(errno));
    zchunk_destroy(&text);
    return rc;
}

/* Replaces the first "from" in the configuration file by "to"; a file a test
 * changed since it was written keeps its changes. */
static int s_patch(fixture_t *self, const char *from, const char *to)
{
    int fd = open(self->config, O_RDONLY | O_CLOEXEC);
    char *text = NULL;
    size_t size = 0;
    int rc = fd >= 0 ? il_fileio_read_from(fd, 0, &text, &size) : -1;
    if (fd >= 0) close(fd);
    char *at = rc == 0 ? strstr(text, from) : NULL;
    if (at) {
        zchunk_t *out = zchunk_new(text, (size_t)(at - text));
        zchunk_extend(out, to, strlen(to));
        zchunk_extend(out, at + strlen(from), strlen(at + strlen(from)) + 1);
        rc = test_write_file(self->config, (char *)zchunk_data(out));
        zchunk_destroy(&out);
    }
    free(text);
    return rc;
}

typedef struct {
    fixture_t *self;
    pid_t pid;
    bool ended;
} s_wait_t;

static bool s_ended(s_wait_t *w)
{
    int status;
    if (waitpid(w->pid, &status, WNOHANG) == w->pid) w->ended = true;
    return w->ended;
}

static bool s_ports_written(void *arg)
{
    s_wait_t *w = arg;
    return access(w->self->ports_file, R_OK) == 0 || s_ended(w);
}

static bool s_healthy(void *arg)
{
    s_wait_t *w = arg;
    if (s_ended(w)) return true;
    char url[256];
    snprintf(url, sizeof url, "%s/health", w->self->api);
    long status = 0;
    free(test_http_get(url, &status));
    return status == 200;
}

/* Puts these endpoints into the configuration, in place of the ones there. */
static int s_set_ports(fixture_t *self, const char *listen, const char *router, const char *publish)
{
    char from[256], to[256];
    snprintf(from, sizeof from, "listen: \"%s\"", self->listen);
    snprintf(to, sizeof to, "listen: \"%s\"", listen);
    int rc = s_patch(self, from, to);
    snprintf(from, sizeof from, "router: \"%s\"", self->router);
    snprintf(to, sizeof to, "router: \"%s\"", router);
    rc |= s_patch(self, from, to);
    snprintf(from, sizeof from, "publish: \"%s\"", self->publish);
    snprintf(to, sizeof to, "publish: \"%s\"", publish);
    rc |= s_patch(self, from, to);
    snprintf(self->listen, sizeof self->listen, "%s", listen);
    snprintf(self->router, sizeof self->router, "%s", router);
    snprintf(self->publish, sizeof self->publish, "%s", publish);
    if (rc) fprintf(stderr, "fixture: cannot write the ports into %s\n", self->config);
    return rc ? -1 : 0;
}

/* Reads the endpoints the core wrote and puts them into the configuration
 * (the same as there, but for those opts gave as '*' or 0). */
static int s_learn_ports(fixture_t *self)
{
    char listen[128] = "", router[128] = "", publish[128] = "";
    FILE *f = fopen(self->ports_file, "r");
    if (!f) return -1;
    int n = fscanf(f, "listen %127s router %127s publish %127s", listen, router, publish);
    fclose(f);
    if (n != 3) {
        fprintf(stderr, "fixture: %s: not what interlookd --ports-file writes\n", self->ports_file);
        return -1;
    }
    int rc = s_set_ports(self, listen, router, publish);
    s_known(self);
    return rc;
}

/* Fresh ports in place of the chosen ones, in the configuration too. */
static int s_pick_again(fixture_t *self)
{
    char listen[S_EP], router[S_EP], publish[S_EP];
    if (s_pick(self, listen, router, publish) != 0) return -1;
    return s_set_ports(self, listen, router, publish);
}

static off_t s_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* The log at path says, after offset, that an address was taken. */
static bool s_bind_refused(const char *path, off_t offset)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *text = NULL;
    size_t size = 0;
    bool refused = fd >= 0 && il_fileio_read_from(fd, offset, &text, &size) == 0 &&
                   strstr(text, "Address already in use") != NULL;
    if (fd >= 0) close(fd);
    free(text);
    return refused;
}

/* One start: spawns interlookd, learns its ports when they are not known,
 * waits for /health until deadline. Returns its pid, or -1 with *w set. */
static pid_t s_start(fixture_t *self, int64_t deadline, s_wait_t *w)
{
    unlink(self->ports_file);
    const char *args[] = {"-c", self->config, "--ports-file", self->ports_file, NULL};
    *w =
        (s_wait_t){self, fixture_spawn(self, "interlookd", args, self->opts.core_log, NULL), false};
    if (w->pid <= 0) return -1;
    int left = (int)(deadline - zclock_mono());
    bool ok = test_wait(s_ports_written, w, left > 0 ? left : 0) && !w->ended;
    if (ok && !self->known) ok = s_learn_ports(self) == 0;
    left = (int)(deadline - zclock_mono());
    ok = ok && test_wait(s_healthy, w, left > 0 ? left : 0) && !w->ended;
    if (ok) return w->pid;
    if (!w->ended) test_stop(w->pid, SIGKILL, S_STOP_MS);
    return -1;
}

pid_t fixture_start_core(fixture_t *self, int timeout_ms)
{
    if (access(self->config, R_OK) != 0 && fixture_config_write(self, NULL, NULL) != 0) return -1;
    int64_t deadline = zclock_mono() + timeout_ms;
    char log[700];
    snprintf(log, sizeof log, "%s/core.log", self->dir);
    for (int tries = 1;; tries++) {
        off_t log_at = s_size(log);
        s_wait_t w;
        pid_t pid = s_start(self, deadline, &w);
        if (pid > 0) return pid;
        /* Another process took a port we chose between test_free_ports and
         * the bind: a first start tries other ones (a restart keeps its
         * ports: its extensions know them). */
        bool again = w.pid > 0 && w.ended && !self->known && self->chosen && tries < S_BIND_TRIES &&
                     zclock_mono() < deadline && s_bind_refused(log, log_at);
        if (again && s_pick_again(self) == 0) {
            fprintf(stderr, "fixture: a port was taken; interlookd again on %s, %s, %s\n",
                    self->listen, self->router, self->publish);
            continue;
        }
        fprintf(stderr, "fixture: interlookd (%s) %s within %d ms; see %s/core.log\n", self->config,
                w.ended ? "ended" : "did not answer /health", timeout_ms, self->dir);
        return -1;
    }
}

pid_t fixture_spawn(fixture_t *self, const char *bin, const char *const *args, const char *log,
                    int *stdin_fd)
{
    if (self->nprocs == S_MAX_PROCS) {
        fprintf(stderr, "fixture: more than %d processes\n", S_MAX_PROCS);
        return -1;
    }
    char path[700];
    if (log) snprintf(path, sizeof path, "%s/%s", self->dir, log);
    int fd = -1;
    pid_t pid = test_spawn_log(bin, args, log ? path : NULL, stdin_fd ? &fd : NULL);
    if (pid <= 0) {
        fprintf(stderr, "fixture: cannot start %s: %s\n", bin, strerror(errno));
        return -1;
    }
    if (stdin_fd) *stdin_fd = fd;
    self->pids[self->nprocs] = pid;
    self->stdins[self->nprocs++] = fd;
    return pid;
}

pid_t fixture_spawn_ext(fixture_t *self, const char *bin, const char *const *args, int *stdin_fd)
{
    const char *argv[64] = {"-c", self->config};
    int n = 2;
    for (; args && *args && n < 63; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return fixture_spawn(self, bin, argv, NULL, stdin_fd);
}

void fixture_close_input(fixture_t *self, int fd)
{
    for (int i = 0; i < self->nprocs; i++)
        if (self->stdins[i] == fd && fd >= 0) {
            close(fd);
            self->stdins[i] = -1;
        }
}

json_t *fixture_api_get(fixture_t *self, const char *path)
{
    return test_get_json(self->api, path);
}

typedef struct {
    fixture_t *self;
    const char *name;
    size_t n;
} s_registered_t;

static bool s_registered(void *arg)
{
    s_registered_t *r = arg;
    json_t *exts = fixture_api_get(r->self, "/extensions");
    bool ok = json_array_size(json_object_get(exts, r->name)) >= r->n;
    json_decref(exts);
    return ok;
}

bool fixture_wait_registered(fixture_t *self, const char *name, size_t n, int timeout_ms)
{
    s_registered_t r = {self, name, n};
    if (test_wait(s_registered, &r, timeout_ms)) return true;
    fprintf(stderr, "fixture: fewer than %zu instances of %s registered within %d ms\n", n, name,
            timeout_ms);
    return false;
}
