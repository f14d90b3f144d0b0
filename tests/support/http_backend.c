/* http_backend: a tiny HTTP server in a child process for tests, see
 * http_backend.h. The child uses system calls only after the fork (the test
 * may have threads). */
#define _GNU_SOURCE
#include "tests/support/http_backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_HEAD_MAX  8192 /* a request head past this is answered as it is */
#define S_READ_MS   5000 /* a client that sends nothing is dropped after this */
#define S_DELAY_MAX 60000

/* Writes all of buf; -1 when the peer went. */
static int s_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A request for path (NULL: none) is answered with status instead of 200. */
typedef struct {
    const char *body;
    const char *path;
    int status;
} s_answer_t;

/* True when the request line's target is exactly path. */
static bool s_asks(const char *head, const char *path)
{
    const char *sp = path ? strchr(head, ' ') : NULL;
    size_t n = path ? strlen(path) : 0;
    return sp && !strncmp(sp + 1, path, n) && sp[1 + n] == ' ';
}

/* Serves one connection: reads the head, waits when asked, answers, closes. */
static void s_serve(int fd, const s_answer_t *what)
{
    const char *body = what->body;
    char head[S_HEAD_MAX + 1];
    size_t len = 0;
    while (len < S_HEAD_MAX) {
        struct pollfd p = {fd, POLLIN, 0};
        int rc = poll(&p, 1, S_READ_MS);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return;
        ssize_t n = recv(fd, head + len, S_HEAD_MAX - len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        len += (size_t)n;
        head[len] = '\0';
        if (strstr(head, "\r\n\r\n") || strstr(head, "\n\n")) break;
    }
    head[len] = '\0';
    const char *delay = strstr(head, " /delay/");
    if (delay && delay < strchr(head, '\n')) {
        long ms = strtol(delay + 8, NULL, 10);
        if (ms > 0 && ms <= S_DELAY_MAX) {
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
            }
        }
    }
    char answer[512];
    size_t blen = strlen(body);
    int status = s_asks(head, what->path) ? what->status : 200;
    int n = snprintf(answer, sizeof answer,
                     "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nContent-Length: "
                     "%zu\r\nConnection: close\r\n\r\n",
                     status, status == 200 ? "OK" : "Test", blen);
    if (s_write_all(fd, answer, (size_t)n) == 0) s_write_all(fd, body, blen);
    shutdown(fd, SHUT_WR);
    /* Let the client read it all before the close (no reset on unread input). */
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 1000) > 0) {
        char sink[1024];
        while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
        }
    }
}

/* The child: namespace, bind, report the port (0 on failure, with the reason
 * on stderr), serve until SIGTERM. */
static void s_child(int report, const char *netns, const char *addr, uint16_t port,
                    const s_answer_t *what)
{
    uint16_t got = 0;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* not left serving when the test dies */
    if (netns) {
        char path[300];
        snprintf(path, sizeof path, "/run/netns/%s", netns);
        int nsfd = open(path, O_RDONLY | O_CLOEXEC);
        if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
            fprintf(stderr, "http_backend: cannot enter network namespace %s: %s\n", netns,
                    strerror(errno));
            (void)!write(report, &got, sizeof got);
            _exit(1);
        }
        close(nsfd);
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sslen;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        sslen = sizeof *in4;
    } else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        sslen = sizeof *in6;
    } else {
        fprintf(stderr, "http_backend: bad address %s (an IPv4 or IPv6 literal)\n", addr);
        (void)!write(report, &got, sizeof got);
        _exit(1);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, 128) != 0) {
        fprintf(stderr, "http_backend: cannot listen on %s port %u: %s\n", addr, port,
                strerror(errno));
        (void)!write(report, &got, sizeof got);
        _exit(1);
    }
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    got = ntohs(ss.ss_family == AF_INET ? in4->sin_port : in6->sin6_port);
    (void)!write(report, &got, sizeof got);
    close(report);
    signal(SIGCHLD, SIG_IGN); /* connection children reap themselves */
    for (;;) {
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
                continue;
            _exit(1);
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(fd);
            signal(SIGTERM, SIG_DFL);
            s_serve(c, what);
            close(c);
            _exit(0);
        }
        if (pid < 0) s_serve(c, what); /* no process to spare: serve it here */
        close(c);
    }
}

pid_t http_backend_start(const char *netns, const char *addr, uint16_t port, const char *body,
                         uint16_t *port_out)
{
    return http_backend_start_status(netns, addr, port, body, NULL, 200, port_out);
}

pid_t http_backend_start_status(const char *netns, const char *addr, uint16_t port,
                                const char *body, const char *path, int status, uint16_t *port_out)
{
    if (status < 100 || status > 599) {
        fprintf(stderr, "http_backend: bad status %d\n", status);
        return -1;
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        fprintf(stderr, "http_backend: pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "http_backend: fork: %s\n", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pipefd[0]);
        s_answer_t what = {body ? body : "", path, status};
        s_child(pipefd[1], netns, addr, port, &what);
        _exit(0);
    }
    close(pipefd[1]);
    uint16_t got = 0;
    ssize_t n;
    do {
        struct pollfd p = {pipefd[0], POLLIN, 0};
        n = poll(&p, 1, 5000) > 0 ? read(pipefd[0], &got, sizeof got) : 0;
    } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n != (ssize_t)sizeof got || got == 0) {
        if (n != (ssize_t)sizeof got)
            fprintf(stderr, "http_backend: the server did not say its port\n");
        http_backend_stop(pid);
        return -1;
    }
    if (port_out) *port_out = got;
    return pid;
}

int http_backend_stop(pid_t pid)
{
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    for (int i = 0; i < 400; i++) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) return 0;
        struct timespec ts = {0, 5000000L};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    return waitpid(pid, NULL, 0) == pid ? 0 : -1;
}
