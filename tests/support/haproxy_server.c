/* haproxy_server: a real HAProxy for tests, see haproxy_server.h. */
#include "tests/support/haproxy_server.h"
#include "tests/support/testutil.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

struct _haproxy_server_t {
    char dir[512];
    char lb_file[600];
    char netns[64];
    char base[600], master[600], runtime[600], log[600];
    char yaml[2600];
    pid_t pid;
};

haproxy_server_t *haproxy_server_new(const char *dir, const char *lb_file, const char *netns)
{
    haproxy_server_t *self = calloc(1, sizeof *self);
    snprintf(self->dir, sizeof self->dir, "%s", dir);
    snprintf(self->lb_file, sizeof self->lb_file, "%s", lb_file);
    snprintf(self->netns, sizeof self->netns, "%s", netns ? netns : "");
    snprintf(self->base, sizeof self->base, "%s/base.cfg", dir);
    snprintf(self->master, sizeof self->master, "%s/master.sock", dir);
    snprintf(self->runtime, sizeof self->runtime, "%s/admin.sock", dir);
    snprintf(self->log, sizeof self->log, "%s/haproxy.log", dir);
    snprintf(self->yaml, sizeof self->yaml,
             "    masterSocket: %s\n    runtimeSocket: %s\n    configFile: %s\n", self->master,
             self->runtime, self->lb_file);
    mkdir(dir, 0755);
    char text[2048];
    snprintf(text, sizeof text,
             "# the base file (haproxy_server.c): what interlook-lb needs of it\n"
             "global\n"
             "    stats socket %s mode 600 level admin expose-fd listeners\n"
             "    stats timeout 10s\n",
             self->runtime);
    if (test_write_file(self->base, text)) {
        free(self);
        return NULL;
    }
    return self;
}

char *haproxy_server_command(const char *socket_path, const char *command)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", socket_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        if (fd >= 0) close(fd);
        return NULL;
    }
    char line[1024];
    int n = snprintf(line, sizeof line, "%s\n", command);
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) !=
        n) { /* a socket closed by a reload: no SIGPIPE */
        close(fd);
        return NULL;
    }
    size_t size = 0, cap = 4096;
    char *out = malloc(cap);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0) break;
        if (size + 1024 >= cap) out = realloc(out, cap *= 2);
        ssize_t got = read(fd, out + size, cap - size - 1);
        if (got <= 0) break;
        size += (size_t)got;
    }
    out[size] = '\0';
    close(fd);
    return out;
}

static bool s_answers(void *arg)
{
    haproxy_server_t *self = arg;
    char *out = haproxy_server_command(self->master, "show proc");
    bool ok = out && strstr(out, "worker");
    free(out);
    out = ok ? haproxy_server_command(self->runtime, "show info") : NULL;
    ok = out && strstr(out, "Pid:");
    free(out);
    return ok;
}

int haproxy_server_start(haproxy_server_t *self, int timeout_ms)
{
    if (access(self->lb_file, F_OK) && test_write_file(self->lb_file, "")) return -1;
    const char *args[16];
    int n = 0;
    const char *bin = "/usr/sbin/haproxy";
    if (*self->netns) {
        bin = "/sbin/ip";
        args[n++] = "netns";
        args[n++] = "exec";
        args[n++] = self->netns;
        args[n++] = "/usr/sbin/haproxy";
    }
    args[n++] = "-W";
    args[n++] = "-S";
    args[n++] = self->master;
    args[n++] = "-f";
    args[n++] = self->base;
    args[n++] = "-f";
    args[n++] = self->lb_file;
    args[n] = NULL;
    unlink(self->master);
    unlink(self->runtime);
    self->pid = test_spawn_log(bin, args, self->log, NULL);
    if (self->pid <= 0) return -1;
    if (test_wait(s_answers, self, timeout_ms)) return 0;
    fprintf(stderr, "haproxy_server: HAProxy did not answer on %s; its log:\n", self->master);
    test_sh("cat '%s' >&2", self->log);
    return -1;
}

static bool s_gone(void *arg)
{
    haproxy_server_t *self = arg;
    return test_sh("pgrep -f -- '[-]f %s' >/dev/null", self->base) != 0;
}

void haproxy_server_kill(haproxy_server_t *self)
{
    if (self->pid <= 0) return;
    /* the workers carry the same command line: the base file's path */
    test_sh("pkill -9 -f -- '[-]f %s' 2>/dev/null", self->base);
    test_stop(self->pid, SIGKILL, 5000);
    if (!test_wait(s_gone, self, 5000))
        fprintf(stderr, "haproxy_server: HAProxy processes of %s are still there\n", self->base);
    self->pid = 0;
}

void haproxy_server_destroy(haproxy_server_t **self_p)
{
    if (!*self_p) return;
    haproxy_server_kill(*self_p);
    free(*self_p);
    *self_p = NULL;
}

const char *haproxy_server_master_socket(haproxy_server_t *self)
{
    return self->master;
}

const char *haproxy_server_runtime_socket(haproxy_server_t *self)
{
    return self->runtime;
}

const char *haproxy_server_yaml(haproxy_server_t *self)
{
    return self->yaml;
}

char *haproxy_server_workers(haproxy_server_t *self)
{
    char *out = haproxy_server_command(self->master, "show proc");
    if (!out) return NULL;
    /* lines: "<PID> <type> <reloads> <uptime> <version>"; type worker */
    char *pids = calloc(1, strlen(out) + 1);
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char pid[32], type[32];
        if (sscanf(line, "%31s %31s", pid, type) == 2 && !strcmp(type, "worker")) {
            if (*pids) strcat(pids, " ");
            strcat(pids, pid);
        }
    }
    free(out);
    return pids;
}
