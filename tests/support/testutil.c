/* testutil: process and loop helpers for integration tests, see testutil.h. */
#define _GNU_SOURCE /* pipe2 */
#include "tests/support/testutil.h"
#include "common/fileio.h"

#include <curl/curl.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

const char *test_bin(const char *name)
{
    static char path[4096];
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) return name;
    self[n] = 0;
    /* BUILD/tests/<kind>/<test> or BUILD/bench/<bench> -> BUILD/bin/<name> */
    char *dir = dirname(dirname(self));
    snprintf(path, sizeof path, "%s/bin/%s", dir, name);
    if (access(path, X_OK) != 0) snprintf(path, sizeof path, "%s/bin/%s", dirname(dir), name);
    return path;
}

pid_t test_spawn(const char *name, const char *const *args)
{
    return test_spawn_log(name, args, NULL, NULL);
}

pid_t test_spawn_stdin(const char *name, const char *const *args, int *stdin_fd)
{
    return test_spawn_log(name, args, NULL, stdin_fd);
}

const char *test_log_path(const char *name)
{
    static char path[512];
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    const char *logdir = getenv("INTERLOOK_TEST_LOGDIR");
    snprintf(path, sizeof path, "%s/interlook-test-%s-%d.log", logdir ? logdir : "/tmp", base,
             (int)getpid());
    return path;
}

pid_t test_spawn_log(const char *name, const char *const *args, const char *log, int *stdin_fd)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", strchr(name, '/') ? name : test_bin(name));
    char *argv[64];
    int argc = 0;
    argv[argc++] = path;
    for (; args && *args && argc < 63; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    char logpath[600];
    snprintf(logpath, sizeof logpath, "%s", log ? log : test_log_path(name));
    int pipefd[2] = {-1, -1};
    if (stdin_fd && pipe2(pipefd, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (stdin_fd) {
            dup2(pipefd[0], 0);
            close(pipefd[0]);
            close(pipefd[1]);
        }
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(path, argv);
        fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    if (stdin_fd) {
        close(pipefd[0]);
        *stdin_fd = pipefd[1];
    }
    return pid;
}

int test_stop(pid_t pid, int sig, int timeout_ms)
{
    if (pid <= 0) return -1;
    kill(pid, sig);
    int64_t deadline = zclock_mono() + timeout_ms;
    int status;
    while (zclock_mono() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0) return -1;
        zclock_sleep(5); /* polling a child's exit: bounded by the deadline */
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

typedef struct {
    bool (*cond)(void *arg);
    void *arg;
    int64_t deadline;
    bool result;
} s_until_t;

static int s_check(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    s_until_t *until = arg;
    until->result = until->cond(until->arg);
    if (until->result || zclock_mono() >= until->deadline) return -1;
    return 0;
}

bool test_loop_until(zloop_t *loop, bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    s_until_t until = {cond, arg, zclock_mono() + timeout_ms, false};
    if ((until.result = cond(arg))) return true;
    int timer = zloop_timer(loop, 2, 0, s_check, &until);
    zloop_start(loop);
    zloop_timer_end(loop, timer);
    return until.result || cond(arg);
}

bool test_wait(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    while (!cond(arg)) {
        if (zclock_mono() >= deadline) return cond(arg);
        zclock_sleep(5); /* re-check interval, bounded by the deadline */
    }
    return true;
}

/* A port nobody listens on (any address) right now. */
static bool s_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    bool free_now = bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return free_now;
}

/* Random ports below the kernel's ephemeral range (32768-60999 by default),
 * so that no outgoing connection takes one meanwhile, and so that test
 * binaries running at the same time (another checkout, a helper) rarely pick
 * the same: binding port 0 would hand every one of them the same sequence. */
int test_free_ports(int *ports, int n)
{
    static unsigned seed;
    if (!seed) seed = (unsigned)getpid() ^ (unsigned)zclock_usecs();
    for (int i = 0; i < n; i++) {
        int tries = 0;
        bool ok = false;
        while (!ok && tries++ < 1000) {
            ports[i] = 20000 + (int)(rand_r(&seed) % 12000u);
            ok = s_port_free(ports[i]);
            for (int j = 0; ok && j < i; j++)
                ok = ports[j] != ports[i];
        }
        if (!ok) return -1;
    }
    return 0;
}

int test_closed_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0) return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(*fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(*fd, (struct sockaddr *)&addr, &len) != 0) {
        close(*fd);
        *fd = -1;
        return -1;
    }
    return ntohs(addr.sin_port);
}

static size_t s_curl_write(char *data, size_t size, size_t nmemb, void *arg)
{
    zchunk_extend((zchunk_t *)arg, data, size * nmemb);
    return size * nmemb;
}

char *test_http_get(const char *url, long *status)
{
    CURL *curl = curl_easy_init();
    if (!curl) return NULL;
    zchunk_t *body = zchunk_new(NULL, 4096);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_curl_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    char *text = NULL;
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
        text = malloc(zchunk_size(body) + 1);
        memcpy(text, zchunk_data(body), zchunk_size(body));
        text[zchunk_size(body)] = 0;
    }
    zchunk_destroy(&body);
    curl_easy_cleanup(curl);
    return text;
}

char *test_tmpdir(void)
{
    char *path = strdup("/tmp/interlook-test-XXXXXX");
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

int test_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) == 0 ? rc : -1;
}

int test_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof cmd) return -1;
    int status = system(cmd);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int test_run(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[4096];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, args);
    va_end(args);
    out[0] = 0;
    if (n < 0 || (size_t)n >= sizeof cmd) return -1;
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t len = fread(out, 1, outlen - 1, p);
    out[len] = 0;
    char rest[4096]; /* what did not fit: read, so that the command is not stopped by SIGPIPE */
    while (fread(rest, 1, sizeof rest, p) > 0)
        ;
    int status = pclose(p);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int test_write_text(int fd, const char *text)
{
    return il_fileio_write_all(fd, text, strlen(text));
}

char *test_sh_output(const char *fmt, ...)
{
    char cmd[4096];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof cmd) return NULL;
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    zchunk_t *out = zchunk_new(NULL, 256);
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0)
        zchunk_extend(out, buf, got);
    int status = pclose(p);
    char *text = NULL;
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        size_t len = zchunk_size(out);
        while (len > 0 && zchunk_data(out)[len - 1] == '\n')
            len--;
        text = malloc(len + 1);
        memcpy(text, zchunk_data(out), len);
        text[len] = 0;
    }
    zchunk_destroy(&out);
    return text;
}

json_t *test_get_json(const char *api, const char *path)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", api, path);
    long status = 0;
    char *body = test_http_get(url, &status);
    json_t *json = body && status == 200 ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return json;
}

bool test_entry_is(const char *api, const char *name, const char *state, size_t targets)
{
    char path[512];
    snprintf(path, sizeof path, "/services/%s", name);
    json_t *e = test_get_json(api, path);
    const char *now = json_string_value(json_object_get(e, "state"));
    json_t *svc = json_object_get(e, "service");
    bool ok = now && !strcmp(now, state) && !json_is_true(json_object_get(e, "wip")) &&
              (targets == SIZE_MAX || json_array_size(json_object_get(svc, "targets")) == targets);
    json_decref(e);
    return ok;
}

void test_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0755);
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            test_rm_tree(sub);
        }
        if (d) closedir(d);
    }
    remove(path);
}

int64_t test_log_line_ms(const char *line)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t * 1000 + ms;
}

int64_t test_wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}
