/* interlook-inject fed by a pipe, as a newcomer types it without Docker
 * (`echo 'add web ...' | interlook-inject`): the end of the input is the same
 * as `quit`, so the process exits 0 once its events have left, and the core
 * (a real interlookd over TCP loopback) has the service. */
#include "tests/support/fixture.h"
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

/* One core per test binary (group setup): the cases report distinct names. */
static fixture_t *s_stack;

static int s_setup(void **state)
{
    (void)state;
    fixture_opts_t opts = {.name = "test_inject"};
    s_stack = fixture_new(&opts);
    if (!s_stack || fixture_config_write(s_stack, "  workflowSteps: provider.test\n", NULL) != 0)
        return -1;
    return fixture_start_core(s_stack, WAIT_MS) > 0 ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    fixture_destroy(&s_stack);
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
    const char *args[] = {"--name", "provider.test", NULL};
    int in = -1;
    child_t child = {.pid = fixture_spawn_ext(s_stack, "interlook-inject", args, &in)};
    assert_true(child.pid > 0);
    size_t n = strlen(text);
    assert_int_equal(write(in, text, n), (ssize_t)n);
    fixture_close_input(s_stack, in);
    if (!test_wait(s_exited, &child, EXIT_MS)) {
        test_stop(child.pid, SIGKILL, 2000);
        fail_msg("interlook-inject still running %d ms after the end of its input", EXIT_MS);
    }
    assert_true(WIFEXITED(child.status));
    assert_int_equal(WEXITSTATUS(child.status), 0);
}

static bool s_deployed(void *name)
{
    return test_entry_is(fixture_api(s_stack), name, "deployed", 1);
}

static void test_pipe_end_is_quit(void **state)
{
    (void)state;
    s_inject_pipe("add web 127.0.0.1:8080 alias=web.example.com port=8443\n");
    assert_true(test_wait(s_deployed, "web", WAIT_MS));
    json_t *entry = fixture_api_get(s_stack, "/services/web");
    assert_non_null(entry);
    json_t *aliases = json_object_get(json_object_get(entry, "service"), "dns_aliases");
    assert_int_equal(json_array_size(aliases), 1);
    assert_string_equal(json_string_value(json_array_get(aliases, 0)), "web.example.com");
    json_t *port = json_object_get(json_object_get(entry, "service"), "port");
    assert_true(json_is_integer(port));
    assert_int_equal(json_integer_value(port), 8443);
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
