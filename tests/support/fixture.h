/* fixture: a whole interlook stack for one test, in a temporary directory of
 * its own: it writes the configuration, starts interlookd and extensions of
 * this build, waits (bounded) until the core answers or extensions are
 * registered, keeps each process's output in a log, and at the end stops
 * every process it started and removes the directory.
 *
 * Ports: the fixture picks the core's ports up front (test_free_ports: at
 * random in 20000-31999, below the kernel's ephemeral range) and writes them
 * into the configuration, so that extensions reading it, and a core
 * restarted later, use the same ones. Not kernel-chosen ones: while a test's
 * core is down, the kernel could hand its freed ports to another process (a
 * core of a test running meanwhile), and our extensions, reconnecting, would
 * register with it. When a first start finds a port taken between the pick
 * and the bind (the core ends, "Address already in use" in core.log), the
 * fixture picks again (a few times). A restarted core binds again the ports
 * it held a moment before. Endpoints opts give with '*' or port 0 are still
 * the kernel's: the first core says which it got (interlookd --ports-file)
 * and the fixture writes them into the configuration.
 *
 * No function aborts a test: each returns -1, NULL or false and says why on
 * stderr, so that the benchmark, which has no cmocka, uses it too. */
#ifndef INTERLOOK_FIXTURE_H
#define INTERLOOK_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct _fixture_t fixture_t;

typedef struct {
    const char *name;     /* who runs it ("test_core"), written in the configuration */
    const char *bus;      /* more core.bus settings ("{dir}": the directory); NULL: "heartbeat:
                             100ms, liveness: 3" */
    const char *core_log; /* the core's output: a file name in the directory; NULL: the test log */
    int stop_signal;      /* what fixture_destroy sends first (SIGTERM when 0) */
    /* Fixed endpoints, for a core in a network namespace of its own; NULL:
     * 127.0.0.1 on a port the fixture picks (see above). */
    const char *listen, *router, *publish;
} fixture_opts_t;

/* A new fixture with an empty directory (opts may be NULL). NULL when no
 * directory could be made. */
fixture_t *fixture_new(const fixture_opts_t *opts);

/* Closes the standard inputs it gave, stops every process it started that is
 * still running (opts.stop_signal, SIGKILL after 5 s), removes the directory. */
void fixture_destroy(fixture_t **self_p);

/* A cmocka teardown for a test whose state is a heap struct with the
 * fixture_t pointer as its first member: destroys the fixture, frees the
 * struct. Returns 0. */
int fixture_teardown(void **state);

/* The directory, and the configuration file in it. */
const char *fixture_dir(fixture_t *self);
const char *fixture_config(fixture_t *self);

/* The core's endpoints ("http://127.0.0.1:PORT", "tcp://127.0.0.1:PORT"):
 * "" until a core of this fixture has bound them. The strings stay where they
 * are for the fixture's life. */
const char *fixture_api(fixture_t *self);
const char *fixture_router(fixture_t *self);
const char *fixture_publish(fixture_t *self);

/* Writes the configuration: the core section with core.logFile (core.log),
 * core.listen, core.workflowEntriesFile (var/entries.db) and core.bus (the
 * endpoints and opts.bus), then core_keys (more lines of the core section,
 * indented by two spaces) and sections (more top-level sections); "{dir}" in
 * either stands for the directory. Either may be NULL. Returns 0 or -1. */
int fixture_config_write(fixture_t *self, const char *core_keys, const char *sections);

/* Starts interlookd -c CONFIG and waits until its /health answers 200,
 * learning its ports first when they are not known yet; a first start that
 * finds a picked port taken tries fresh ones. Returns its pid, or -1 when it
 * ended or did not answer within timeout_ms. */
pid_t fixture_start_core(fixture_t *self, int timeout_ms);

/* Starts a binary of this build (or a path) with the NULL-terminated args;
 * log is a file name in the directory for its output (NULL: the test log,
 * see test_spawn); when stdin_fd is not NULL, its standard input is a pipe
 * and *stdin_fd the write end. Returns the pid or -1. */
pid_t fixture_spawn(fixture_t *self, const char *bin, const char *const *args, const char *log,
                    int *stdin_fd);

/* As fixture_spawn with "-c CONFIG" before args: an extension reading the
 * bus endpoints from the configuration. */
pid_t fixture_spawn_ext(fixture_t *self, const char *bin, const char *const *args, int *stdin_fd);

/* Closes a standard input fixture_spawn gave (the process sees its end). */
void fixture_close_input(fixture_t *self, int fd);

/* The core lists at least n instances of the extension name, waited for
 * (bounded by timeout_ms). */
bool fixture_wait_registered(fixture_t *self, const char *name, size_t n, int timeout_ms);

/* GET path from the core's API and parse the 200 answer as JSON (caller
 * decrefs); NULL otherwise. */
json_t *fixture_api_get(fixture_t *self, const char *path);

#endif
