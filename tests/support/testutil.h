/* testutil: helpers for tests that run real processes and real sockets:
 * spawn and kill binaries of this build, and run a zloop until a condition
 * holds, with a bound (never a fixed sleep). */
#ifndef INTERLOOK_TESTUTIL_H
#define INTERLOOK_TESTUTIL_H

#include <czmq.h>
#include <stdbool.h>
#include <sys/types.h>

/* Path of a binary of this build ("interlook-echo" -> BUILD/bin/interlook-echo). */
const char *test_bin(const char *name);

/* Starts BUILD/bin/name with the NULL-terminated arguments; its output goes
 * to a log file under /tmp (path logged on failure). Returns the pid, or -1. */
pid_t test_spawn(const char *name, const char *const *args);

/* Sends sig and waits (bounded) for the process to end. Returns its wait status or -1. */
int test_stop(pid_t pid, int sig, int timeout_ms);

/* Runs loop until cond(arg) is true or timeout_ms passes; cond is checked
 * every few ms and after each loop wake-up. Returns the last value of cond. */
bool test_loop_until(zloop_t *loop, bool (*cond)(void *arg), void *arg, int timeout_ms);


#endif
