/* testutil: helpers for tests that run real processes and real sockets:
 * spawn and kill binaries of this build, and run a zloop until a condition
 * holds, with a bound (never a fixed sleep). */
#ifndef INTERLOOK_TESTUTIL_H
#define INTERLOOK_TESTUTIL_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

/* Path of a binary of this build ("interlook-echo" -> BUILD/bin/interlook-echo),
 * for a test (BUILD/tests/KIND/TEST) or a benchmark (BUILD/bench/BENCH). */
const char *test_bin(const char *name);

/* Starts BUILD/bin/name (or name itself when it contains a '/') with the
 * NULL-terminated arguments; its output goes to a log file in
 * $INTERLOOK_TEST_LOGDIR (default /tmp), which tests/run.sh scans for
 * sanitizer reports. Returns the pid, or -1. */
pid_t test_spawn(const char *name, const char *const *args);

/* Sends sig and waits (bounded) for the process to end. Returns its wait status or -1. */
int test_stop(pid_t pid, int sig, int timeout_ms);

/* Runs loop until cond(arg) is true or timeout_ms passes; cond is checked
 * every few ms and after each loop wake-up. Returns the last value of cond. */
bool test_loop_until(zloop_t *loop, bool (*cond)(void *arg), void *arg, int timeout_ms);

/* As test_spawn, with the child's standard input a pipe: *stdin_fd is its write end. */
pid_t test_spawn_stdin(const char *name, const char *const *args, int *stdin_fd);

/* As test_spawn, the output appended to logpath (NULL: test_log_path(name)),
 * and, when stdin_fd is not NULL, the standard input a pipe as above. */
pid_t test_spawn_log(const char *name, const char *const *args, const char *logpath, int *stdin_fd);

/* The log test_spawn gives a binary of that name (a static buffer):
 * $INTERLOOK_TEST_LOGDIR (default /tmp)/interlook-test-NAME-PID.log. */
const char *test_log_path(const char *name);

/* Polls cond(arg) every few ms until true or timeout_ms passes. Returns the last value. */
bool test_wait(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* n distinct TCP ports (20000-31999, chosen at random) that nobody listened
 * on, on any address, a moment ago. Returns 0 or -1. */
int test_free_ports(int *ports, int n);

/* The time of a log line of ours ("2026-12-05T00:13:34.092Z name[pid] ..."),
 * in ms since the epoch (UTC); -1 when the line does not start so. */
int64_t test_log_line_ms(const char *line);

/* Now, in ms since the epoch (the clock of log lines). */
int64_t test_wall_ms(void);

/* A TCP port of 127.0.0.1 that refuses connections while *fd is open:
 * bound but not listening, so that no other process can take it meanwhile.
 * Returns the port, or -1. */
int test_closed_port(int *fd);

/* GET url with libcurl (5 s bound). Returns the body (caller frees) and sets
 * *status; NULL when no connection could be made. */
char *test_http_get(const char *url, long *status);

/* A new empty directory under /tmp (caller frees the path). */
char *test_tmpdir(void);

/* Writes text to path. Returns 0 or -1. */
int test_write_file(const char *path, const char *text);

/* Runs the printf-formatted command with sh (system()). Returns its exit
 * status, or -1 when it could not run or was killed. */
int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs the printf-formatted command with sh, its standard output in out
 * (cut to outlen - 1 bytes, NUL-terminated). Returns its exit status, or -1
 * when it could not run or was killed. */
int test_run(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes all of text to fd (a child's standard input). Returns 0 or -1. */
int test_write_text(int fd, const char *text);

/* Runs the command and returns its standard output without trailing
 * newlines (caller frees); NULL when it could not run or exited non-zero. */
char *test_sh_output(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* GET api+path and parse the 200 answer as JSON (caller decrefs); NULL otherwise. */
json_t *test_get_json(const char *api, const char *path);

/* The core at api has an entry name in that state, not in progress, with
 * that many targets (SIZE_MAX: any number). */
bool test_entry_is(const char *api, const char *name, const char *state, size_t targets);

/* Removes path and, for a directory, all it holds (rm -rf), making each
 * directory writable first (a test may have taken its permissions away).
 * Nothing when path does not exist. */
void test_rm_tree(const char *path);

#endif
