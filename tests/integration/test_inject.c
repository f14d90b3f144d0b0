/* interlook-inject fed by a pipe, as a newcomer types it without Docker
 * (`echo 'add web ...' | interlook-inject`): the end of the input is the same
 * as `quit`, so the process exits 0 once its events have left, and the core
 * (a real interlookd over TCP loopback) has the service. */
#include "tests/support/testutil.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define WAIT_MS 20000
#define EXIT_MS 5000 /* far below inject's own 10 s drain bound */

static char *s_dir;
static char s_api[64];
static char s_router[64];
static char s_publish[64];
static pid_t s_core = -1;

static bool s_healthy(void *arg)
{
    (void)arg;
    char url[128];
    snprintf(url, sizeof url, "%s/health", s_api);
    long status = 0;
    free(test_http_get(url, &status));
    return status == 200;
}

static int s_setup(void **state)
{
    (void)state;
    s_dir = test_tmpdir();
    int ports[3];
    if (!s_dir || test_free_ports(ports, 3) != 0) return -1;
    snprintf(s_api, sizeof s_api, "http://127.0.0.1:%d", ports[0]);
    snprintf(s_router, sizeof s_router, "tcp://127.0.0.1:%d", ports[1]);
    snprintf(s_publish, sizeof s_publish, "tcp://127.0.0.1:%d", ports[2]);
    char config[512], text[1024];
    snprintf(config, sizeof config, "%s/interlook.yml", s_dir);
    snprintf(text, sizeof text,
             "core:\n"
             "  logFile: %s/core.log\n"
             "  listen: 127.0.0.1:%d\n"
             "  workflowSteps: provider.test\n"
             "  workflowEntriesFile: %s/entries.db\n"
             "  bus: { router: %s, publish: %s, heartbeat: 100ms, liveness: 3 }\n",
             s_dir, ports[0], s_dir, s_router, s_publish);
    if (test_write_file(config, text) != 0) return -1;
    const char *args[] = {"-c", config, NULL};
    s_core = test_spawn("interlookd", args);
    return s_core > 0 && test_wait(s_healthy, NULL, WAIT_MS) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    test_stop(s_core, SIGTERM, 5000);
    test_sh("rm -rf '%s'", s_dir);
    free(s_dir);
    return 0;
}

typedef struct {
    pid_t pid;
    int status;
    bool exited;
} child_t;

static bool s_exited(void *arg)
{
    child_t *child = arg;
    if (!child->exited && waitpid(child->pid, &child->status, WNOHANG) == child->pid)
        child->exited = true;
    return child->exited;
}

/* Starts inject with a pipe as its standard input, writes text, closes the
 * pipe, and asserts that inject exits 0 within EXIT_MS. */
static void s_inject_pipe(const char *text)
{
    const char *args[] = {"--router", s_router,        "--publish", s_publish,
                          "--name",   "provider.test", NULL};
    int in = -1;
    child_t child = {.pid = test_spawn_stdin("interlook-inject", args, &in)};
    assert_true(child.pid > 0);
    size_t n = strlen(text);
    assert_int_equal(write(in, text, n), (ssize_t)n);
    close(in);
    if (!test_wait(s_exited, &child, EXIT_MS)) {
        test_stop(child.pid, SIGKILL, 2000);
        fail_msg("interlook-inject still running %d ms after the end of its input", EXIT_MS);
    }
    assert_true(WIFEXITED(child.status));
    assert_int_equal(WEXITSTATUS(child.status), 0);
}

static bool s_deployed(void *name)
{
    return test_entry_is(s_api, name, "deployed", 1);
}

static void test_pipe_end_is_quit(void **state)
{
    (void)state;
    s_inject_pipe("add web 127.0.0.1:8080 alias=web.example.com\n");
    assert_true(test_wait(s_deployed, "web", WAIT_MS));
    json_t *entry = test_get_json(s_api, "/services/web");
    assert_non_null(entry);
    json_t *aliases = json_object_get(json_object_get(entry, "service"), "dns_aliases");
    assert_int_equal(json_array_size(aliases), 1);
    assert_string_equal(json_string_value(json_array_get(aliases, 0)), "web.example.com");
    json_decref(entry);
}

static void test_pipe_last_line_without_newline(void **state)
{
    (void)state;
    s_inject_pipe("add api 127.0.0.1:8081\nadd last 127.0.0.1:8082");
    assert_true(test_wait(s_deployed, "api", WAIT_MS));
    assert_true(test_wait(s_deployed, "last", WAIT_MS));
}

static void test_pipe_empty(void **state)
{
    (void)state;
    s_inject_pipe("");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipe_end_is_quit),
        cmocka_unit_test(test_pipe_last_line_without_newline),
        cmocka_unit_test(test_pipe_empty),
    };
    return test_run_group(tests, s_setup, s_teardown);
}
