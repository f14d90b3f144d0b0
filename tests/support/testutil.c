/* testutil: process and loop helpers for integration tests, see testutil.h. */
#include "tests/support/testutil.h"

#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *test_bin(const char *name)
{
    static char path[4096];
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) return name;
    self[n] = 0;
    /* BUILD/tests/<kind>/<test> -> BUILD/bin/<name> */
    char *dir = dirname(dirname(dirname(self)));
    snprintf(path, sizeof path, "%s/bin/%s", dir, name);
    return path;
}

pid_t test_spawn(const char *name, const char *const *args)
{
    const char *path = test_bin(name);
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *) path;
    for (; args && *args && argc < 63; args++) argv[argc++] = (char *) *args;
    argv[argc] = NULL;
    char logpath[256];
    snprintf(logpath, sizeof logpath, "/tmp/interlook-test-%s-%d.log", name, (int) getpid());
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
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
    (void) loop;
    (void) timer_id;
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
