/* lb_haproxy: the client of a running HAProxy (runtime and master CLIs,
 * reload with its result, `haproxy -c`, read-back), see lb_haproxy.h for what
 * HAProxy 2.6 answers, as measured. */
#define _GNU_SOURCE /* pipe2 */
#include "extensions/lb/lb_haproxy.h"

#include <interlook.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define S_MAX_ANSWER   (16u << 20) /* an answer past this is an error, not a bigger buffer */
#define S_CHECK_MS     10000       /* bound of `haproxy -c` */
#define S_RETRY_MS     20          /* between attempts while a reload is under way */
#define S_MAX_WORKERS  64          /* worker pids remembered from `show proc` */
#define S_ALERTS_BYTES (64u << 10) /* of the log read for a failed reload's reason */

struct _lb_haproxy_t {
    char *master;    /* path of the master CLI socket, or NULL */
    char *runtime;   /* path of the runtime CLI socket (stats socket), or NULL */
    char *log;       /* file the master's standard error goes to, or NULL */
    int64_t timeout; /* ms, each exchange and a reload's wait */
};

/* What `show proc` says. */
typedef struct {
    long master;                 /* its pid, 0 when not found */
    long reloads, failed;        /* the master's counters */
    long workers[S_MAX_WORKERS]; /* worker pids */
    size_t nworkers;
} s_proc_t;

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

lb_haproxy_t *lb_haproxy_new(const char *master_socket, const char *runtime_socket,
                             int64_t timeout_ms)
{
    lb_haproxy_t *self = il_calloc(1, sizeof *self);
    self->master = il_strdup(master_socket);
    self->runtime = il_strdup(runtime_socket);
    self->timeout = timeout_ms > 0 ? timeout_ms : 5000;
    return self;
}

void lb_haproxy_destroy(lb_haproxy_t **self_p)
{
    if (!self_p || !*self_p) return;
    lb_haproxy_t *self = *self_p;
    free(self->master);
    free(self->runtime);
    free(self->log);
    free(self);
    *self_p = NULL;
}

void lb_haproxy_set_log(lb_haproxy_t *self, const char *path)
{
    free(self->log);
    self->log = il_strdup(path);
}

/* Waits for events on fd until deadline. 1 ready, 0 timed out, -1 error. */
static int s_poll(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - s_now_ms();
        if (left <= 0) return 0;
        struct pollfd p = {fd, events, 0};
        int rc = poll(&p, 1, left > 1000 ? 1000 : (int)left);
        if (rc > 0) return 1;
        if (rc < 0 && errno != EINTR) return -1;
    }
}

/* Connects to the unix socket at path before deadline; the fd or -1 with err. */
static int s_connect(const char *path, const char *what, const char *hint, int64_t deadline,
                     char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return il_err(err, errlen, "%s socket path too long (%zu bytes, at most %zu): %s", what,
                      strlen(path), sizeof sa.sun_path - 1, path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return il_err(err, errlen, "cannot open a socket for %s: %s", path, strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
        int e = errno;
        close(fd);
        /* A unix socket's full backlog is EAGAIN: try again until the deadline. */
        if (e == EAGAIN && s_now_ms() < deadline) {
            s_sleep_ms(5);
            continue;
        }
        return il_err(err, errlen, "cannot connect to %s: %s (is HAProxy running with %s?)", path,
                      e == EAGAIN ? "busy until the timeout" : strerror(e), hint);
    }
}

/* One exchange: command to the socket at path, the whole answer until EOF. */
static int s_exchange(const char *path, const char *what, const char *hint, int64_t timeout,
                      bool reset_ends, const char *command, char **answer, char *err, size_t errlen)
{
    *answer = NULL;
    if (!path) return il_err(err, errlen, "no %s socket configured", what);
    if (!command || strchr(command, '\n'))
        return il_err(err, errlen, "bad HAProxy command (empty or with a newline): %s",
                      command ? command : "(null)");
    int64_t deadline = s_now_ms() + timeout;
    int fd = s_connect(path, what, hint, deadline, err, errlen);
    if (fd < 0) return -1;
    size_t clen = strlen(command);
    char *line = il_malloc(clen + 2);
    memcpy(line, command, clen);
    memcpy(line + clen, "\n", 2);
    size_t done = 0, total = clen + 1;
    int rc = 0;
    while (done < total) {
        int ready = s_poll(fd, POLLOUT, deadline);
        if (ready <= 0) {
            rc = il_err(err, errlen, "%s: %s while sending \"%s\"", path,
                        ready == 0 ? "timed out" : strerror(errno), command);
            break;
        }
        ssize_t n = send(fd, line + done, total - done, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n < 0) {
            rc = il_err(err, errlen, "%s: cannot send \"%s\": %s", path, command, strerror(errno));
            break;
        }
        done += (size_t)n;
    }
    free(line);
    /* The master CLI keeps the connection for more commands until our side ends. */
    if (rc == 0) shutdown(fd, SHUT_WR);
    size_t cap = 4096, len = 0;
    char *buf = il_malloc(cap);
    while (rc == 0) {
        int ready = s_poll(fd, POLLIN, deadline);
        if (ready <= 0) {
            rc = il_err(err, errlen, "%s: %s waiting for the answer to \"%s\" (%" PRId64 " ms)",
                        path, ready == 0 ? "timed out" : strerror(errno), command, timeout);
            break;
        }
        if (cap - len < 4096) {
            cap *= 2;
            buf = il_realloc(buf, cap);
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        /* The master re-executing itself at a reload may reset the connection. */
        if (n < 0 && errno == ECONNRESET && reset_ends) break;
        if (n < 0) {
            rc = il_err(err, errlen, "%s: answer to \"%s\" cut short: %s", path, command,
                        strerror(errno));
            break;
        }
        if (n == 0) break;
        len += (size_t)n;
        if (len > S_MAX_ANSWER)
            rc = il_err(err, errlen, "%s: answer to \"%s\" larger than %u MiB", path, command,
                        S_MAX_ANSWER >> 20);
    }
    close(fd);
    if (rc != 0) {
        free(buf);
        return -1;
    }
    buf[len] = '\0';
    *answer = buf;
    return 0;
}

int lb_haproxy_runtime(lb_haproxy_t *self, const char *command, char **answer, char *err,
                       size_t errlen)
{
    return s_exchange(self->runtime, "runtime", "`stats socket ... level admin`", self->timeout,
                      false, command, answer, err, errlen);
}

int lb_haproxy_master(lb_haproxy_t *self, const char *command, char **answer, char *err,
                      size_t errlen)
{
    return s_exchange(self->master, "master", "`-W -S <master socket>`", self->timeout, false,
                      command, answer, err, errlen);
}

/* The answer without leading and trailing white space, in place. */
static char *s_trim(char *text)
{
    while (isspace((unsigned char)*text))
        text++;
    size_t n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        text[--n] = '\0';
    return text;
}

/* Reads `show proc` into proc. 0, or -1 with err. */
static int s_show_proc(lb_haproxy_t *self, s_proc_t *proc, char *err, size_t errlen)
{
    memset(proc, 0, sizeof *proc);
    char *answer;
    if (lb_haproxy_master(self, "show proc", &answer, err, errlen) != 0) return -1;
    char *save = NULL;
    for (char *line = strtok_r(answer, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char type[32];
        long pid, reloads, failed;
        int n = sscanf(line, "%ld %31s %ld [failed: %ld]", &pid, type, &reloads, &failed);
        if (n < 3 || pid <= 0) continue;
        if (strcmp(type, "master") == 0) {
            proc->master = pid;
            proc->reloads = reloads;
            proc->failed = n == 4 ? failed : 0;
        } else if (strcmp(type, "worker") == 0 && proc->nworkers < S_MAX_WORKERS) {
            proc->workers[proc->nworkers++] = pid;
        }
    }
    if (proc->master == 0) {
        il_err(err, errlen, "%s: no master line in the answer to \"show proc\": %.200s",
               self->master, s_trim(answer));
        free(answer);
        return -1;
    }
    free(answer);
    return 0;
}

/* Size of the log now (where a reload's messages will start), 0 when none. */
static off_t s_log_size(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 ? st.st_size : 0;
}

/* The [ALERT] lines of text joined by "; " without their "[ALERT]    (pid) : "
 * prefix, into out. True when there were any. */
static bool s_alerts_in(const char *text, char *out, size_t outlen)
{
    if (outlen == 0) return false;
    out[0] = '\0';
    size_t used = 0;
    char *copy = il_strdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "[ALERT]", 7) != 0) continue;
        char *said = strstr(line, ") : ");
        said = said ? said + 4 : line;
        int w = snprintf(out + used, outlen - used, "%s%s", used ? "; " : "", said);
        if (w < 0 || (size_t)w >= outlen - used) {
            used = outlen - 1;
            break;
        }
        used += (size_t)w;
    }
    free(copy);
    return used > 0;
}

/* The [ALERT] lines written to path after offset, joined by "; " without
 * their "[ALERT]    (pid) : " prefix, into out. True when there were any. */
static bool s_log_alerts(const char *path, off_t offset, char *out, size_t outlen)
{
    if (!path || outlen == 0) return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < offset) offset = 0; /* truncated or rotated meanwhile */
    if (fstat(fd, &st) == 0 && st.st_size - offset > (off_t)S_ALERTS_BYTES)
        offset = st.st_size - S_ALERTS_BYTES;
    char *buf = il_malloc(S_ALERTS_BYTES + 1);
    ssize_t n = pread(fd, buf, S_ALERTS_BYTES, offset);
    close(fd);
    if (n <= 0) {
        free(buf);
        return false;
    }
    buf[n] = '\0';
    bool any = s_alerts_in(buf, out, outlen);
    free(buf);
    return any;
}

static bool s_had_worker(const s_proc_t *before, long pid)
{
    for (size_t i = 0; i < before->nworkers; i++)
        if (before->workers[i] == pid) return true;
    return false;
}

int lb_haproxy_reload(lb_haproxy_t *self, char *err, size_t errlen)
{
    s_proc_t before, now;
    if (s_show_proc(self, &before, err, errlen) != 0) return -1;
    off_t log_at = s_log_size(self->log);
    char *answer;
    if (s_exchange(self->master, "master", "`-W -S <master socket>`", self->timeout, true, "reload",
                   &answer, err, errlen) != 0)
        return -1;
    /* 2.6 answers nothing at once; 2.7 and later answer when done, "Success=0"
     * or "Success=1" then the startup messages; a lower CLI level refuses. */
    char *said = s_trim(answer);
    if (strstr(said, "Unknown command") || strstr(said, "Permission denied")) {
        il_err(err, errlen, "%s refused \"reload\": %.300s", self->master, said);
        free(answer);
        return -1;
    }
    if (strncmp(said, "Success=0", 9) == 0) {
        char alerts[1024];
        il_err(err, errlen, "HAProxy reload failed, the old worker keeps serving: %s",
               s_alerts_in(said, alerts, sizeof alerts) ? alerts : said);
        free(answer);
        return -1;
    }
    free(answer);
    int64_t deadline = s_now_ms() + self->timeout;
    char last[256] = "";
    for (;;) {
        /* While the master re-executes itself, its socket refuses or resets. */
        if (s_show_proc(self, &now, last, sizeof last) == 0) {
            if (now.master != before.master)
                return il_err(err, errlen,
                              "HAProxy reload: the master changed (pid %ld, was %ld): HAProxy was "
                              "restarted meanwhile",
                              now.master, before.master);
            if (now.reloads > before.reloads) {
                if (now.failed > 0) {
                    char alerts[1024];
                    if (s_log_alerts(self->log, log_at, alerts, sizeof alerts))
                        return il_err(err, errlen,
                                      "HAProxy reload failed, the old worker keeps serving: %s",
                                      alerts);
                    return il_err(err, errlen,
                                  "HAProxy reload failed (show proc: reloads %ld, failed %ld), the "
                                  "old worker keeps serving; HAProxy's reason is on its master's "
                                  "standard error%s%s",
                                  now.reloads, now.failed, self->log ? ": " : " (its journal)",
                                  self->log ? self->log : "");
                }
                for (size_t i = 0; i < now.nworkers; i++)
                    if (!s_had_worker(&before, now.workers[i])) return 0;
            }
        }
        if (s_now_ms() >= deadline)
            return il_err(err, errlen, "HAProxy reload not finished within %" PRId64 " ms (%s)",
                          self->timeout, *last ? last : "no new worker yet");
        s_sleep_ms(S_RETRY_MS);
    }
}

int lb_haproxy_master_id(lb_haproxy_t *self, char *id, size_t len, char *err, size_t errlen)
{
    s_proc_t proc;
    if (s_show_proc(self, &proc, err, errlen) != 0) return -1;
    struct stat st;
    if (stat(self->master, &st) != 0)
        return il_err(err, errlen, "cannot stat %s: %s", self->master, strerror(errno));
    int n =
        snprintf(id, len, "%ld@%ju:%ju", proc.master, (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
    if (n < 0 || (size_t)n >= len)
        return il_err(err, errlen, "master id longer than %zu bytes", len);
    return 0;
}

int lb_haproxy_check(const char *haproxy_bin, const char *file, char *err, size_t errlen)
{
    const char *files[] = {file, NULL};
    return lb_haproxy_check_files(haproxy_bin, files, err, errlen);
}

int lb_haproxy_check_files(const char *haproxy_bin, const char *const *files, char *err,
                           size_t errlen)
{
    if (!haproxy_bin || !*haproxy_bin) return il_err(err, errlen, "haproxy -c: no binary given");
    const char *argv[64] = {haproxy_bin, "-c"};
    int argc = 2;
    for (; files && *files; files++) {
        if (argc > 61) return il_err(err, errlen, "haproxy -c: too many files");
        argv[argc++] = "-f";
        argv[argc++] = *files;
    }
    argv[argc] = NULL;
    if (argc == 2) return il_err(err, errlen, "haproxy -c: no file to check");
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return il_err(err, errlen, "haproxy -c: pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    pid_t pid;
    int rc = posix_spawn(&pid, haproxy_bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        return il_err(err, errlen, "cannot run %s: %s", haproxy_bin, strerror(rc));
    }
    /* posix_spawn reports a failed exec as exit 127 on glibc: said below. */
    int64_t deadline = s_now_ms() + S_CHECK_MS;
    size_t cap = 8192, len = 0;
    char *out = il_malloc(cap);
    bool timed_out = false;
    for (;;) {
        int ready = s_poll(pipefd[0], POLLIN, deadline);
        if (ready == 0) {
            timed_out = true;
            break;
        }
        if (ready < 0) break;
        if (cap - len < 1024 && cap < (1u << 20)) {
            cap *= 2;
            out = il_realloc(out, cap);
        }
        char scratch[1024];
        bool room = cap - len > 1;
        ssize_t n =
            read(pipefd[0], room ? out + len : scratch, room ? cap - len - 1 : sizeof scratch);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (room) len += (size_t)n; /* past 1 MiB the rest is read and dropped */
    }
    out[len] = '\0';
    close(pipefd[0]);
    if (timed_out) kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) {
        free(out);
        return il_err(err, errlen, "%s -c -f %s: no answer within %d ms (killed)", haproxy_bin,
                      argv[argc - 1], S_CHECK_MS);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        free(out);
        return 0;
    }
    char alerts[2048];
    bool any = s_alerts_in(out, alerts, sizeof alerts);
    char how[64];
    if (WIFEXITED(status))
        snprintf(how, sizeof how, "exit %d", WEXITSTATUS(status));
    else
        snprintf(how, sizeof how, "signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    il_err(err, errlen, "%s -c -f %s (%s): %s", haproxy_bin, argv[argc - 1], how,
           any ? alerts : (*s_trim(out) ? s_trim(out) : "no message"));
    free(out);
    return -1;
}

/* A name or address put into a command: no white space (a newline would be a
 * second command), not empty. */
static int s_word(const char *what, const char *value, char *err, size_t errlen)
{
    if (!value || !*value) return il_err(err, errlen, "empty %s", what);
    for (const char *p = value; *p; p++)
        if (isspace((unsigned char)*p) || !isprint((unsigned char)*p))
            return il_err(err, errlen, "bad %s \"%s\": white space or control characters", what,
                          value);
    return 0;
}

/* Runs command; ok tells whether the answer means success. -1 with the
 * backend/server and HAProxy's words otherwise. */
static int s_server_cmd(lb_haproxy_t *self, const char *backend, const char *server,
                        const char *command, bool (*ok)(const char *answer), char *err,
                        size_t errlen)
{
    char *answer;
    if (lb_haproxy_runtime(self, command, &answer, err, errlen) != 0) return -1;
    char *said = s_trim(answer);
    int rc = 0;
    if (!ok(said))
        rc = il_err(err, errlen, "HAProxy refused \"%s\" (server %s/%s): %s", command, backend,
                    server, *said ? said : "(no answer)");
    free(answer);
    return rc;
}

static bool s_ok_empty(const char *answer)
{
    return *answer == '\0';
}

static bool s_ok_added(const char *answer)
{
    return strncmp(answer, "New server registered.", 22) == 0;
}

static bool s_ok_addr(const char *answer)
{
    return strstr(answer, "changed from") || strstr(answer, "no need to change");
}

static bool s_ok_deleted(const char *answer)
{
    return strncmp(answer, "Server deleted.", 15) == 0;
}

/* Checks the names; 0 or -1 with err. */
static int s_names(const char *backend, const char *server, char *err, size_t errlen)
{
    if (s_word("backend name", backend, err, errlen) != 0) return -1;
    if (s_word("server name", server, err, errlen) != 0) return -1;
    if (strchr(backend, '/') || strchr(server, '/'))
        return il_err(err, errlen, "bad server %s/%s: '/' in a name", backend, server);
    return 0;
}

int lb_haproxy_server_add(lb_haproxy_t *self, const char *backend, const char *server,
                          const char *addr, uint16_t port, uint32_t weight, int64_t check_inter_ms,
                          char *err, size_t errlen)
{
    if (s_names(backend, server, err, errlen) != 0 || s_word("address", addr, err, errlen) != 0)
        return -1;
    if (weight > 256)
        return il_err(err, errlen, "server %s/%s: weight %u above 256", backend, server, weight);
    char hostport[300];
    bool v6 = strchr(addr, ':') && addr[0] != '[';
    snprintf(hostport, sizeof hostport, v6 ? "[%s]:%u" : "%s:%u", addr, port);
    char check[64] = "";
    if (check_inter_ms > 0)
        snprintf(check, sizeof check, " check inter %" PRId64 "ms", check_inter_ms);
    char *cmd = il_malloc(strlen(backend) + strlen(server) + strlen(hostport) + 128);
    sprintf(cmd, "add server %s/%s %s%s weight %u", backend, server, hostport, check, weight);
    int rc = s_server_cmd(self, backend, server, cmd, s_ok_added, err, errlen);
    if (rc == 0) {
        sprintf(cmd, "set server %s/%s state ready", backend, server);
        rc = s_server_cmd(self, backend, server, cmd, s_ok_empty, err, errlen);
        if (rc == 0 && check_inter_ms > 0) {
            sprintf(cmd, "enable health %s/%s", backend, server);
            rc = s_server_cmd(self, backend, server, cmd, s_ok_empty, err, errlen);
        }
        if (rc != 0) {
            /* Not left half made: a later add of the same name would be refused. */
            char ignored[8];
            lb_haproxy_server_del(self, backend, server, ignored, sizeof ignored);
        }
    }
    free(cmd);
    return rc;
}

int lb_haproxy_server_set(lb_haproxy_t *self, const char *backend, const char *server,
                          const char *addr, uint16_t port, uint32_t weight, char *err,
                          size_t errlen)
{
    if (s_names(backend, server, err, errlen) != 0 || s_word("address", addr, err, errlen) != 0)
        return -1;
    if (weight > 256)
        return il_err(err, errlen, "server %s/%s: weight %u above 256", backend, server, weight);
    /* `set server ... addr` takes IPv6 bare. */
    char bare[256];
    size_t alen = strlen(addr);
    if (addr[0] == '[' && alen > 2 && addr[alen - 1] == ']')
        snprintf(bare, sizeof bare, "%.*s", (int)(alen - 2), addr + 1);
    else
        snprintf(bare, sizeof bare, "%s", addr);
    char *cmd = il_malloc(strlen(backend) + strlen(server) + strlen(bare) + 128);
    sprintf(cmd, "set server %s/%s addr %s port %u", backend, server, bare, port);
    int rc = s_server_cmd(self, backend, server, cmd, s_ok_addr, err, errlen);
    if (rc == 0) {
        sprintf(cmd, "set server %s/%s weight %u", backend, server, weight);
        rc = s_server_cmd(self, backend, server, cmd, s_ok_empty, err, errlen);
    }
    free(cmd);
    return rc;
}

int lb_haproxy_server_drain(lb_haproxy_t *self, const char *backend, const char *server, char *err,
                            size_t errlen)
{
    if (s_names(backend, server, err, errlen) != 0) return -1;
    char *cmd = il_malloc(strlen(backend) + strlen(server) + 64);
    sprintf(cmd, "set server %s/%s state drain", backend, server);
    int rc = s_server_cmd(self, backend, server, cmd, s_ok_empty, err, errlen);
    free(cmd);
    return rc;
}

int lb_haproxy_server_del(lb_haproxy_t *self, const char *backend, const char *server, char *err,
                          size_t errlen)
{
    if (s_names(backend, server, err, errlen) != 0) return -1;
    char *cmd = il_malloc(strlen(backend) + strlen(server) + 64);
    sprintf(cmd, "set server %s/%s state maint", backend, server);
    int rc = s_server_cmd(self, backend, server, cmd, s_ok_empty, err, errlen);
    if (rc == 0) {
        sprintf(cmd, "del server %s/%s", backend, server);
        rc = s_server_cmd(self, backend, server, cmd, s_ok_deleted, err, errlen);
    }
    free(cmd);
    return rc;
}

/* Splits line at sep into at most max fields (in place); the count. */
static size_t s_split(char *line, char sep, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *next = strchr(p, sep);
        if (!next) break;
        *next = '\0';
        p = next + 1;
    }
    return n;
}

/* The index of name among the fields, or -1. */
static int s_column(char **fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i], name) == 0) return (int)i;
    return -1;
}

#define S_MAX_FIELDS 256

/* `show stat` as lines; calls row(fields, n, arg) for each data row, with the
 * columns of pxname, svname and scur in cols. 0, or -1 with err. */
static int s_show_stat(lb_haproxy_t *self,
                       void (*row)(char **fields, size_t n, const int *cols, void *arg), void *arg,
                       char *err, size_t errlen)
{
    char *answer;
    if (lb_haproxy_runtime(self, "show stat", &answer, err, errlen) != 0) return -1;
    char **fields = il_malloc(S_MAX_FIELDS * sizeof *fields);
    int cols[3] = {-1, -1, -1};
    bool header = false;
    char *save = NULL;
    for (char *line = strtok_r(answer, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!header) {
            if (strncmp(line, "# ", 2) != 0) continue;
            size_t n = s_split(line + 2, ',', fields, S_MAX_FIELDS);
            cols[0] = s_column(fields, n, "pxname");
            cols[1] = s_column(fields, n, "svname");
            cols[2] = s_column(fields, n, "scur");
            header = cols[0] >= 0 && cols[1] >= 0 && cols[2] >= 0;
            continue;
        }
        size_t n = s_split(line, ',', fields, S_MAX_FIELDS);
        if ((int)n <= cols[2] || (int)n <= cols[1] || (int)n <= cols[0]) continue;
        row(fields, n, cols, arg);
    }
    free(fields);
    if (!header) {
        il_err(err, errlen,
               "%s: the answer to \"show stat\" is not CSV with pxname, svname, scur: %.200s",
               self->runtime, answer);
        free(answer);
        return -1;
    }
    free(answer);
    return 0;
}

typedef struct {
    const char *backend, *server;
    int64_t count;
    bool found;
} s_sessions_t;

static void s_sessions_row(char **fields, size_t n, const int *cols, void *arg)
{
    (void)n;
    s_sessions_t *s = arg;
    if (strcmp(fields[cols[0]], s->backend) != 0 || strcmp(fields[cols[1]], s->server) != 0) return;
    char *end;
    long long v = strtoll(fields[cols[2]], &end, 10);
    if (end == fields[cols[2]] || *end || v < 0) return;
    s->count = v;
    s->found = true;
}

int lb_haproxy_server_sessions(lb_haproxy_t *self, const char *backend, const char *server,
                               int64_t *count, char *err, size_t errlen)
{
    if (s_names(backend, server, err, errlen) != 0) return -1;
    s_sessions_t s = {backend, server, 0, false};
    if (s_show_stat(self, s_sessions_row, &s, err, errlen) != 0) return -1;
    if (!s.found)
        return il_err(err, errlen, "no server %s/%s in HAProxy's `show stat`", backend, server);
    *count = s.count;
    return 0;
}

int lb_haproxy_servers(lb_haproxy_t *self, const char *prefix, lb_haproxy_server_t **servers,
                       size_t *count, char *err, size_t errlen)
{
    *servers = NULL;
    *count = 0;
    char *answer;
    if (lb_haproxy_runtime(self, "show servers state", &answer, err, errlen) != 0) return -1;
    char **fields = il_malloc(S_MAX_FIELDS * sizeof *fields);
    int be = -1, sv = -1, ad = -1, wt = -1, pt = -1;
    bool header = false;
    size_t cap = 0, n = 0;
    lb_haproxy_server_t *list = NULL;
    size_t plen = prefix ? strlen(prefix) : 0;
    char *save = NULL;
    for (char *line = strtok_r(answer, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!header) {
            if (strncmp(line, "# ", 2) != 0) continue;
            size_t nf = s_split(line + 2, ' ', fields, S_MAX_FIELDS);
            be = s_column(fields, nf, "be_name");
            sv = s_column(fields, nf, "srv_name");
            ad = s_column(fields, nf, "srv_addr");
            wt = s_column(fields, nf, "srv_uweight");
            pt = s_column(fields, nf, "srv_port");
            header = be >= 0 && sv >= 0 && ad >= 0 && wt >= 0 && pt >= 0;
            continue;
        }
        if (line[0] == '#') continue;
        size_t nf = s_split(line, ' ', fields, S_MAX_FIELDS);
        int need = be;
        if (sv > need) need = sv;
        if (ad > need) need = ad;
        if (wt > need) need = wt;
        if (pt > need) need = pt;
        if ((int)nf <= need) continue;
        if (prefix && strncmp(fields[be], prefix, plen) != 0) continue;
        char *end;
        unsigned long port = strtoul(fields[pt], &end, 10);
        if (end == fields[pt] || *end || port > 65535) continue;
        unsigned long weight = strtoul(fields[wt], &end, 10);
        if (end == fields[wt] || *end || weight > 256) continue;
        if (!*fields[be] || !*fields[sv] || !*fields[ad]) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            list = il_realloc(list, cap * sizeof *list);
        }
        list[n].backend = il_strdup(fields[be]);
        list[n].server = il_strdup(fields[sv]);
        list[n].addr = il_strdup(fields[ad]);
        list[n].port = (uint16_t)port;
        list[n].weight = (uint32_t)weight;
        n++;
    }
    free(fields);
    if (!header) {
        il_err(err, errlen, "%s: the answer to \"show servers state\" has no header line: %.200s",
               self->runtime, s_trim(answer));
        free(answer);
        lb_haproxy_servers_free(&list, n);
        return -1;
    }
    free(answer);
    *servers = list;
    *count = n;
    return 0;
}

void lb_haproxy_servers_free(lb_haproxy_server_t **servers, size_t count)
{
    if (!servers || !*servers) return;
    for (size_t i = 0; i < count; i++) {
        free((*servers)[i].backend);
        free((*servers)[i].server);
        free((*servers)[i].addr);
    }
    free(*servers);
    *servers = NULL;
}

typedef struct {
    const char *prefix;
    char **names;
    size_t n, cap;
} s_proxies_t;

static void s_proxies_row(char **fields, size_t n, const int *cols, void *arg)
{
    (void)n;
    s_proxies_t *p = arg;
    const char *px = fields[cols[0]], *sv = fields[cols[1]];
    if (strcmp(sv, "FRONTEND") != 0 && strcmp(sv, "BACKEND") != 0) return;
    if (!*px || (p->prefix && strncmp(px, p->prefix, strlen(p->prefix)) != 0)) return;
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->names[i], px) == 0) return;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->names = il_realloc(p->names, p->cap * sizeof *p->names);
    }
    p->names[p->n++] = il_strdup(px);
}

int lb_haproxy_proxies(lb_haproxy_t *self, const char *prefix, char ***names, size_t *count,
                       char *err, size_t errlen)
{
    *names = NULL;
    *count = 0;
    s_proxies_t p = {prefix, NULL, 0, 0};
    if (s_show_stat(self, s_proxies_row, &p, err, errlen) != 0) {
        lb_haproxy_names_free(&p.names, p.n);
        return -1;
    }
    *names = p.names;
    *count = p.n;
    return 0;
}

void lb_haproxy_names_free(char ***names, size_t count)
{
    if (!names || !*names) return;
    for (size_t i = 0; i < count; i++)
        free((*names)[i]);
    free(*names);
    *names = NULL;
}
