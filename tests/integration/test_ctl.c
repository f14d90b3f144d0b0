/* Tests of interlookctl against real processes over TCP loopback: interlookd
 * + interlook-echo + interlook-inject as the provider, then interlookctl run
 * as a child process (output through pipes, every wait bounded): the tables,
 * --json, errors and exit statuses, how it finds the core, and watch. The
 * text helpers (core/ctl/ctl_format.c) have their unit test, test_ctl_format. */
#define _GNU_SOURCE /* pipe2 */
#include "tests/support/fixture.h"
#include "tests/support/testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/ctl/ctl_format.h"

#define WAIT_MS 20000
#define RUN_MS  15000 /* bound on one interlookctl run */
#define OUT_MAX 65536

/* An interlookd of a test, in a stack of its own. */
typedef struct {
    fixture_t *stack;
    const char *config; /* its configuration file */
    int api_port;
    pid_t pid;
    bool exited; /* it ended (reaped) */
} s_core_t;

typedef struct {
    const char *dir;
    s_core_t core;       /* the core of every test */
    s_core_t lonely;     /* a core without extensions (one test) */
    const char *config;  /* core.config */
    const char *api;     /* the core's http://127.0.0.1:PORT */
    const char *router;  /* tcp://127.0.0.1:PORT */
    const char *publish; /* tcp://127.0.0.1:PORT */
    pid_t echo;
    pid_t inject;
    int inject_in; /* the injector's standard input */
    int watch_seq; /* services added by the watch tests */
} ctx_t;

/* What one run of interlookctl gave. */
typedef struct {
    int status; /* exit status; -1 when killed by a signal or over time */
    char out[OUT_MAX];
    char err[OUT_MAX];
} run_t;

/* Helpers: processes --------------------------------------------------------- */

/* The output of the last run (static: a failed assertion leaves the test at once). */
static run_t s_run_buf;

/* Appends text to this test's interlookctl log, which tests/run.sh scans for
 * sanitizer reports. */
static void s_log(const char *fmt, ...)
{
    char path[512];
    const char *dir = getenv("INTERLOOK_TEST_LOGDIR");
    snprintf(path, sizeof path, "%s/interlook-test-interlookctl-%d.log", dir ? dir : "/tmp",
             (int)getpid());
    FILE *f = fopen(path, "a");
    if (!f) return;
    va_list args;
    va_start(args, fmt);
    vfprintf(f, fmt, args);
    va_end(args);
    fclose(f);
}

/* Starts interlookctl with args (NULL-terminated) and env ("NAME=VALUE" or
 * NULL) added to its environment. Its standard output is *out_fd (a pipe),
 * its standard error *err_fd, or the log file when err_fd is NULL. */
static pid_t s_start_ctl(const char *env, const char *const *args, int *out_fd, int *err_fd)
{
    const char *path = test_bin("interlookctl");
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)path;
    for (; *args && argc < 31; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    int pout[2], perr[2] = {-1, -1};
    assert_int_equal(pipe2(pout, O_CLOEXEC), 0);
    if (err_fd) assert_int_equal(pipe2(perr, O_CLOEXEC), 0);
    char logpath[512];
    const char *dir = getenv("INTERLOOK_TEST_LOGDIR");
    snprintf(logpath, sizeof logpath, "%s/interlook-test-interlookctl-%d.log", dir ? dir : "/tmp",
             (int)getpid());
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pout[1], 1);
        if (err_fd) {
            dup2(perr[1], 2);
        } else {
            int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) dup2(fd, 2);
        }
        if (env) putenv((char *)env);
        execv(path, argv);
        fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(pout[1]);
    *out_fd = pout[0];
    if (err_fd) {
        close(perr[1]);
        *err_fd = perr[0];
    }
    return pid;
}

/* Reads what fd has into buf (keeping it NUL-terminated, dropping what does
 * not fit). Returns false at end of file. */
static bool s_drain(int fd, char *buf, size_t cap, size_t *len)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) return n < 0 && errno == EINTR;
    size_t keep = (size_t)n < cap - 1 - *len ? (size_t)n : cap - 1 - *len;
    memcpy(buf + *len, chunk, keep);
    *len += keep;
    buf[*len] = 0;
    return true;
}

/* Runs interlookctl to its end (bounded by RUN_MS) and collects its output. */
static void s_run_env(run_t *run, const char *env, const char *const *args)
{
    int fds[2];
    pid_t pid = s_start_ctl(env, args, &fds[0], &fds[1]);
    char *bufs[2] = {run->out, run->err};
    size_t lens[2] = {0, 0};
    bool open_[2] = {true, true};
    run->out[0] = run->err[0] = 0;
    int64_t deadline = zclock_mono() + RUN_MS;
    while ((open_[0] || open_[1]) && zclock_mono() < deadline) {
        struct pollfd pfd[2] = {{open_[0] ? fds[0] : -1, POLLIN, 0},
                                {open_[1] ? fds[1] : -1, POLLIN, 0}};
        if (poll(pfd, 2, (int)(deadline - zclock_mono())) <= 0) continue;
        for (int i = 0; i < 2; i++)
            if (pfd[i].revents && !s_drain(fds[i], bufs[i], OUT_MAX, &lens[i])) open_[i] = false;
    }
    close(fds[0]);
    close(fds[1]);
    int status = test_stop(pid, open_[0] || open_[1] ? SIGKILL : 0, 5000);
    run->status = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    s_log("$ interlookctl");
    for (const char *const *a = args; *a; a++)
        s_log(" %s", *a);
    s_log("\n%s%s[exit %d]\n", run->out, run->err, run->status);
}

static void s_run(run_t *run, const char *const *args)
{
    s_run_env(run, NULL, args);
}

/* Fails with the run's output when cond does not hold. */
#define assert_run(run, cond)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg("%s: exit %d\n--- stdout\n%s--- stderr\n%s", #cond, (run)->status,            \
                     (run)->out, (run)->err);                                                      \
    } while (0)

static void s_say(ctx_t *ctx, const char *line)
{
    assert_int_equal(test_write_text(ctx->inject_in, line), 0);
}

/* Starts interlookd as name in a stack of its own with the workflow steps and
 * more core settings (YAML lines, indented by two). */
static void s_core_start(s_core_t *core, const char *name, const char *steps, const char *more)
{
    fixture_opts_t opts = {.name = name};
    core->stack = fixture_new(&opts);
    assert_non_null(core->stack);
    char keys[2048];
    snprintf(keys, sizeof keys, "  workflowSteps: %s\n%s", steps, more);
    assert_int_equal(fixture_config_write(core->stack, keys, NULL), 0);
    core->config = fixture_config(core->stack);
    core->pid = fixture_start_core(core->stack, WAIT_MS);
    core->exited = core->pid <= 0;
    if (core->exited) fail_msg("interlookd %s did not start: see %s", name, core->config);
    core->api_port = atoi(strrchr(fixture_api(core->stack), ':') + 1);
}

/* Stops the core with SIGTERM. Returns its wait status (-1 when it had ended). */
static int s_core_stop(s_core_t *core)
{
    if (core->exited || core->pid <= 0) return -1;
    core->exited = true;
    return test_stop(core->pid, SIGTERM, 5000);
}

/* True when the service is deployed and nothing is in progress. */
static bool s_deployed(ctx_t *ctx, const char *name)
{
    return test_entry_is(ctx->api, name, "deployed", SIZE_MAX);
}

static bool s_both_deployed(void *arg)
{
    return s_deployed(arg, "web") && s_deployed(arg, "db");
}

/* A core with an echo and an injector that reported web and db, both deployed. */
static int s_group_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    s_core_start(&ctx->core, "test_ctl", "provider.test,provisioner.echo",
                 "  logLevel: debug\n"
                 "  checkFlowInterval: 100ms\n"
                 "  workflowHousekeeperInterval: 500ms\n"
                 "  serviceMaxLastUpdated: 1h\n"
                 "  persistDelay: 20ms\n");
    fixture_t *stack = ctx->core.stack;
    ctx->dir = fixture_dir(stack);
    ctx->config = fixture_config(stack);
    ctx->api = fixture_api(stack);
    ctx->router = fixture_router(stack);
    ctx->publish = fixture_publish(stack);
    const char *echo_args[] = {"--name", "provisioner.echo", "--instance", "echo-0", NULL};
    ctx->echo = fixture_spawn_ext(stack, "interlook-echo", echo_args, NULL);
    assert_true(ctx->echo > 0);
    const char *inject_args[] = {"--name", "provider.test", NULL};
    ctx->inject = fixture_spawn_ext(stack, "interlook-inject", inject_args, &ctx->inject_in);
    assert_true(ctx->inject > 0);
    s_say(ctx, "add web 192.0.2.10:8080 192.0.2.11:8080 alias=web.example.com port=8443\n");
    s_say(ctx, "add db 192.0.2.20:5432\n");
    assert_true(test_wait(s_both_deployed, ctx, WAIT_MS));
    return 0;
}

static int s_group_teardown(void **state)
{
    ctx_t *ctx = *state;
    fixture_destroy(&ctx->lonely.stack);
    fixture_destroy(&ctx->core.stack);
    free(ctx);
    return 0;
}

/* The line of out that starts with prefix, copied into line; false when none. */
static bool s_line_starting(const char *out, const char *prefix, char *line, size_t len)
{
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, prefix, strlen(prefix))) continue;
        size_t n = strcspn(p, "\n");
        snprintf(line, len, "%.*s", (int)n, p);
        return true;
    }
    return false;
}

/* The commands that read the API --------------------------------------------- */

static void test_services_table(void **state)
{
    ctx_t *ctx = *state;
    run_t *run = &s_run_buf;
    const char *args[] = {"--api", ctx->api, "services", NULL};
    s_run(run, args);
    assert_run(run, run->status == 0);
    assert_run(run, !strncmp(run->out, "NAME ", 5));
    assert_run(run, strstr(run->out, "STATE") && strstr(run->out, "EXPECTED") &&
                        strstr(run->out, "PUBLIC IP") && strstr(run->out, "PORT") &&
                        strstr(run->out, "TARGETS") && strstr(run->out, "ERROR") &&
                        strstr(run->out, "AGE"));
    char web[512], db[512];
    assert_run(run, s_line_starting(run->out, "web ", web, sizeof web));
    assert_run(run, s_line_starting(run->out, "db ", db, sizeof db));
    assert_run(run, strstr(run->out, "\ndb ") < strstr(run->out, "\nweb ")); /* sorted */
    assert_non_null(strstr(web, " deployed "));
    assert_non_null(strstr(web, "192.0.2.10:8080,192.0.2.11:8080"));
    assert_non_null(strstr(web, " 8443 ")); /* the public port, before the targets */
    assert_true(strstr(web, " 8443 ") < strstr(web, "192.0.2.10:8080"));
    assert_non_null(strstr(db, "192.0.2.20:5432"));
    /* AGE, the last column: a number and a unit */
    const char *age = strrchr(web, ' ') + 1;
    assert_true(strspn(age, "0123456789") > 0);
    assert_non_null(strchr("smhd", age[strspn(age, "0123456789")]));
    assert_string_equal(run->err, "");
}

static void test_services_json(void **state)
{
    ctx_t *ctx = *state;
    run_t *run = &s_run_buf;
    const char *args[] = {"services", "--json", "--api", ctx->api, NULL};
    s_run(run, args);
    assert_run(run, run->status == 0);
    assert_run(run, strstr(run->out, "{\n  \"")); /* indented by 2 */
    json_error_t jerr;
    json_t *all = json_loads(run->out, 0, &jerr);
    if (!all) fail_msg("not JSON: %s\n%s", jerr.text, run->out);
    json_t *web = json_object_get(all, "web");
    assert_string_equal(json_string_value(json_object_get(web, "state")), "deployed");
    assert_string_equal(json_string_value(json_object_get(json_object_get(all, "db"), "name")),
                        "db");
    json_t *target = json_array_get(json_object_get(json_object_get(web, "service"), "targets"), 0);
    assert_string_equal(json_string_value(json_object_get(target, "host")), "192.0.2.10");
    json_t *port = json_object_get(json_object_get(web, "service"), "port");
    assert_true(json_is_integer(port) && json_integer_value(port) == 8443);
    port = json_object_get(json_object_get(json_object_get(all, "db"), "service"), "port");
    assert_true(port && json_is_null(port)); /* none: null, as public_ip */
    json_decref(all);
}

static void test_service_details(void **state)
{
    ctx_t *ctx = *state;
    run_t *run = &s_run_buf;
    const char *args[] = {"--api", ctx->api, "service", "web", NULL};
    s_run(run, args);
    assert_run(run, run->status == 0);
    char line[512];
    assert_run(run, s_line_starting(run->out, "name ", line, sizeof line));
    assert_non_null(strstr(line, "web"));
    assert_run(run, s_line_starting(run->out, "state ", line, sizeof line));
    assert_non_null(strstr(line, "deployed"));
    assert_run(run, s_line_starting(run->out, "expected_state ", line, sizeof line));
    assert_run(run, s_line_starting(run->out, "provider ", line, sizeof line));
    assert_non_null(strstr(line, "provider.test"));
    assert_run(run, s_line_starting(run->out, "targets ", line, sizeof line));
    assert_non_null(strstr(line, "192.0.2.10:8080 (weight 1)"));
    assert_run(run, strstr(run->out, "192.0.2.11:8080 (weight 1)"));
    assert_run(run, s_line_starting(run->out, "dns_aliases ", line, sizeof line));
    assert_non_null(strstr(line, "web.example.com"));
    assert_run(run, s_line_starting(run->out, "port ", line, sizeof line));
    assert_non_null(strstr(line, "8443"));
    assert_run(run, s_line_starting(run->out, "time_detected ", line, sizeof line));
    assert_non_null(strstr(line, " ago)"));
    static const char *const fields[] = {
        "wip ",         "wip_step ",   "attempt ", "error ",     "wip_time ",
        "last_update ", "close_time ", "tls ",     "public_ip ", NULL};
    for (const char *const *f = fields; *f; f++)
        if (!s_line_starting(run->out, *f, line, sizeof line))
            fail_msg("no line '%s' in:\n%s", *f, run->out);

    const char *json_args[] = {"--api", ctx->api, "--json", "service", "db", NULL};
    s_run(run, json_args);
    assert_run(run, run->status == 0);
    json_t *entry = json_loads(run->out, 0, NULL);
    assert_non_null(entry);
    assert_string_equal(json_string_value(json_object_get(entry, "name")), "db");
    json_decref(entry);
}

static void test_service_not_found(void **state)
{
    ctx_t *ctx = *state;
    run_t *run = &s_run_buf;
    const char *args[] = {"--api", ctx->api, "service", "nope", NULL};
    s_run(run, args);
    assert_run(run, run->status == 1);
    assert_run(run, !strcmp(run->err, "interlookctl: no service named 'nope'\n"));
    assert_run(run, run->out[0] == 0);
    /* A name that needs escaping in the URL reaches the core intact. */
    const char *odd[] = {"--api", ctx->api, "service", "a b/c?d", NULL};
    s_run(run, odd);
    assert_run(run, run->status == 1);
    assert_run(run, strstr(run->err, "no service named 'a b/c?d'"));
}

static void test_extensions(void **state)
{
    ctx_t *ctx = *state;
    run_t *run = &s_run_buf;
    const char *args[] = {"--api", ctx->api, "extensions", NULL};
    s_run(run, args);
    assert_run(run, run->status == 0);
    assert_run(run, !strncmp(run->out, "EXTENSION ", 10));
    assert_run(run, strstr(run->out, "INSTANCE") && strstr(run->out, "ADDRESS") &&
                        strstr(run->out, "CREDIT") && strstr(run->out, "IN FLIGHT") &&
                        strstr(run->out, "RESULTS") && strstr(run->out, "LAST HEARTBEAT"));
    char line[512];
    assert_run(run, s_line_starting(run->out, "provisioner.echo ", line, sizeof line));
    assert_non_null(strstr(line, " echo-0 "));
    assert_non_null(strstr(line, "127.0.0.1"));
    assert_non_null(strstr(line, " ago"));
    assert_run(run, s_line_starting(run->out, "provider.test ", line, sizeof line));
    /* in the workflow's order */
    assert_run(run, strstr(run->out, "\nprovider.test ") < strstr(run->out, "\nprovisioner.echo "));

    const char *json_args[] = {"--api", ctx->api, "extensions", "--json", NULL};
    s_run(run, json_args);
    assert_run(run, run->status == 0);
    json_t *exts = json_loads(run->out, 0, NULL);
    assert_non_null(exts);
    json_t *inst = json_array_get(json_object_get(exts, "provisioner.echo"), 0);
    assert_string_equal(json_string_value(json_object_get(inst, "instance")), "echo-0");
    json_decref(exts);
}

static void test_workflow(void **state)
{
    ctx_t *ctx = *state;
    run_t *run = &s_run_buf;
    const char *args[] = {"--api", ctx->api, "workflow", NULL};
    s_run(run, args);
    assert_run(run, run->status == 0);
    assert_run(run, !strcmp(run->out, "provider.test -> provisioner.echo\n"));
    const char *json_args[] = {"--api", ctx->api, "--json", "workflow", NULL};
    s_run(run, json_args);
    assert_run(run, run->status == 0);
    json_t *flow = json_loads(run->out, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(flow, "steps")), 2);
    json_decref(flow);
}

/* Errors and exit statuses --------------------------------------------------- */

static void test_core_unreachable(void **state)
{
    (void)state;
    int closed;
    int port = test_closed_port(&closed);
    char api[64], expect[128];
    snprintf(api, sizeof api, "http://127.0.0.1:%d", port);
    snprintf(expect, sizeof expect, "interlookctl: cannot reach the core at %s: ", api);
    run_t *run = &s_run_buf;
    static const char *const commands[] = {"services", "extensions", "workflow", NULL};
    for (const char *const *c = commands; *c; c++) {
        const char *args[] = {"--api", api, *c, NULL};
        s_run(run, args);
        assert_run(run, run->status == 1);
        assert_run(run, !strncmp(run->err, expect, strlen(expect)));
        assert_run(run, run->out[0] == 0);
    }
    const char *one[] = {"--api", api, "service", "web", NULL};
    s_run(run, one);
    assert_run(run, run->status == 1);
    assert_run(run, strstr(run->err, "cannot reach"));
    close(closed);
}

static void test_bad_usage(void **state)
{
    ctx_t *ctx = *state;
    run_t *run = &s_run_buf;
    static const char *const cases[][5] = {
        {"frobnicate", NULL},
        {NULL},
        {"service", NULL},
        {"service", "a", "b", NULL},
        {"services", "extra", NULL},
        {"--no-such-option", "services", NULL},
        {"--api", "ftp://example.com", "services", NULL},
        {"--api", "127.0.0.1:8080", "services", NULL},
        {"-c", "/nonexistent/interlook.yml", "services", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[8];
        size_t n = 0;
        for (; cases[i][n]; n++)
            args[n] = cases[i][n];
        args[n] = NULL;
        s_run(run, args);
        if (run->status != 2 || run->out[0])
            fail_msg("case %zu: exit %d, stdout '%s', stderr '%s'", i, run->status, run->out,
                     run->err);
        if (i < 6) assert_run(run, strstr(run->err, "usage: interlookctl"));
    }
    const char *unknown[] = {"--api", ctx->api, "frobnicate", NULL};
    s_run(run, unknown);
    assert_run(run, run->status == 2 && strstr(run->err, "unknown command 'frobnicate'"));

    const char *help[] = {"--help", NULL};
    s_run(run, help);
    assert_run(run, run->status == 0);
    assert_run(run, strstr(run->out, "usage: interlookctl") && strstr(run->out, "Exit status"));
    assert_run(run, strstr(run->out, "watch") && strstr(run->out, "--json"));
    const char *version[] = {"--version", NULL};
    s_run(run, version);
    assert_run(run, run->status == 0 && !strncmp(run->out, "interlookctl ", 13));
}

/* A one-shot HTTP server that answers one request with a fixed reply. */
typedef struct {
    int fd;            /* listening socket */
    const char *reply; /* the whole answer, status line included */
} s_fake_t;

static void *s_fake_serve(void *arg)
{
    s_fake_t *fake = arg;
    struct pollfd pfd = {fake->fd, POLLIN, 0};
    if (poll(&pfd, 1, RUN_MS) != 1) return NULL;
    int conn = accept(fake->fd, NULL, NULL);
    if (conn < 0) return NULL;
    char request[8192];
    size_t len = 0;
    int64_t deadline = zclock_mono() + RUN_MS;
    while (len < sizeof request - 1 && zclock_mono() < deadline) {
        struct pollfd in = {conn, POLLIN, 0};
        if (poll(&in, 1, 100) != 1) continue;
        ssize_t n = read(conn, request + len, sizeof request - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        request[len] = 0;
        if (strstr(request, "\r\n\r\n")) break;
    }
    if (write(conn, fake->reply, strlen(fake->reply)) < 0) perror("fake server");
    close(conn);
    return NULL;
}

/* Runs interlookctl COMMAND against a server answering reply. */
static void s_run_fake(run_t *run, const char *reply, const char *command)
{
    s_fake_t fake = {socket(AF_INET, SOCK_STREAM, 0), reply};
    assert_true(fake.fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fake.fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(fake.fd, 4), 0);
    socklen_t alen = sizeof addr;
    assert_int_equal(getsockname(fake.fd, (struct sockaddr *)&addr, &alen), 0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_fake_serve, &fake), 0);
    char api[64];
    snprintf(api, sizeof api, "http://127.0.0.1:%d", ntohs(addr.sin_port));
    const char *args[] = {"--api", api, command, NULL};
    s_run(run, args);
    pthread_join(thread, NULL);
    close(fake.fd);
}

static void test_invalid_answers(void **state)
{
    (void)state;
    run_t *run = &s_run_buf;
    s_run_fake(run,
               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n"
               "Connection: close\r\n\r\nnot json",
               "services");
    assert_run(run, run->status == 1);
    assert_run(run, strstr(run->err, "interlookctl: invalid JSON from the core at http://"));
    assert_run(run, run->out[0] == 0);
    s_run_fake(run,
               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
               "Connection: close\r\n\r\n[1,2]",
               "extensions");
    assert_run(run, run->status == 1);
    assert_run(run,
               strstr(run->err, "unexpected answer") && strstr(run->err, "expected an object"));
    s_run_fake(run,
               "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
               "Content-Length: 17\r\nConnection: close\r\n\r\n{\"error\":\"busy\"}\n",
               "workflow");
    assert_run(run, run->status == 1);
    assert_run(run, strstr(run->err, "HTTP 503") && strstr(run->err, "busy"));
}

/* Where the core is: -c FILE, the environment ---------------------------------- */

static void test_finds_the_core(void **state)
{
    ctx_t *ctx = *state;
    run_t *run = &s_run_buf;
    /* core.listen of the core's own file */
    const char *from_file[] = {"-c", ctx->config, "workflow", NULL};
    s_run(run, from_file);
    assert_run(run, run->status == 0 && !strcmp(run->out, "provider.test -> provisioner.echo\n"));

    /* a wildcard listen address means the loopback address */
    char path[600], text[512];
    snprintf(path, sizeof path, "%s/ctl.yml", ctx->dir);
    snprintf(text, sizeof text, "core:\n  listen: \"*:%d\"\n", ctx->core.api_port);
    assert_int_equal(test_write_file(path, text), 0);
    const char *wildcard[] = {"-c", path, "workflow", NULL};
    s_run(run, wildcard);
    assert_run(run, run->status == 0);

    /* INTERLOOK_API; --api wins over it */
    char env[128];
    snprintf(env, sizeof env, "INTERLOOK_API=%s/", ctx->api);
    const char *plain[] = {"workflow", NULL};
    s_run_env(run, env, plain);
    assert_run(run, run->status == 0);
    int closed;
    snprintf(env, sizeof env, "INTERLOOK_API=http://127.0.0.1:%d", test_closed_port(&closed));
    const char *over[] = {"--api", ctx->api, "workflow", NULL};
    s_run_env(run, env, over);
    assert_run(run, run->status == 0);
    s_run_env(run, env, plain);
    assert_run(run, run->status == 1 && strstr(run->err, "cannot reach"));
    close(closed);

    /* an API that is off, a file that is not valid */
    assert_int_equal(test_write_file(path, "core:\n  listen: \"off\"\n"), 0);
    s_run(run, wildcard);
    assert_run(run, run->status == 2 && strstr(run->err, "off"));
    assert_int_equal(test_write_file(path, "core:\n  bus: { nope: 1 }\n"), 0);
    s_run(run, wildcard);
    assert_run(run, run->status == 2 && strstr(run->err, "ctl.yml:2"));
}

/* An extension of the workflow without an instance shows as "-": a second
 * core, on its own. */
static void test_extension_without_instance(void **state)
{
    ctx_t *ctx = *state;
    s_core_start(&ctx->lonely, "lonely", "provider.none,ipam.none", "");
    const char *path = ctx->lonely.config;
    run_t *run = &s_run_buf;
    const char *args[] = {"-c", path, "extensions", NULL};
    s_run(run, args);
    assert_run(run, run->status == 0);
    char line[512];
    assert_run(run, s_line_starting(run->out, "provider.none ", line, sizeof line));
    assert_non_null(strstr(line, " - "));
    assert_run(run, s_line_starting(run->out, "ipam.none ", line, sizeof line));
    assert_non_null(strstr(line, " - "));
    /* no services: the header alone */
    const char *services[] = {"-c", path, "services", NULL};
    s_run(run, services);
    assert_run(run, run->status == 0);
    assert_run(run, !strncmp(run->out, "NAME ", 5) && !strchr(strchr(run->out, '\n') + 1, '\n'));
    int status = s_core_stop(&ctx->lonely);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* watch: until SIGINT or SIGTERM -------------------------------------------- */

/* Reads the watcher's lines (bounded by timeout_ms) until match(line, arg) is
 * true for one. Returns that line's copy in found. */
static bool s_read_until(int fd, char *buf, size_t *len, bool (*match)(const char *, void *),
                         void *arg, int timeout_ms, char *found, size_t found_len)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    for (;;) {
        char *nl;
        while ((nl = memchr(buf, '\n', *len))) { /* complete lines first */
            *nl = 0;
            bool hit = match(buf, arg);
            if (hit) snprintf(found, found_len, "%s", buf);
            size_t used = (size_t)(nl - buf) + 1;
            memmove(buf, nl + 1, *len - used);
            *len -= used;
            if (hit) return true;
        }
        int64_t left = deadline - zclock_mono();
        if (left <= 0) return false;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)left) != 1) continue;
        ssize_t n = read(fd, buf + *len, OUT_MAX - 1 - *len);
        if (n <= 0) return false; /* the watcher ended */
        *len += (size_t)n;
    }
}

typedef struct {
    const char *prefix; /* service names of this test */
    bool json;
} s_want_t;

/* A line saying a service of this test is deployed. */
static bool s_deployed_line(const char *line, void *arg)
{
    s_want_t *want = arg;
    if (!want->json) {
        char name[64];
        snprintf(name, sizeof name, " %s", want->prefix);
        return strstr(line, name) && strstr(line, " deployed (expected deployed)");
    }
    json_t *obj = json_loads(line, 0, NULL);
    const char *name = json_string_value(json_object_get(obj, "name"));
    const char *state = json_string_value(json_object_get(obj, "state"));
    const char *host = json_string_value(
        json_object_get(json_array_get(json_object_get(obj, "targets"), 0), "host"));
    bool hit = name && !strncmp(name, want->prefix, strlen(want->prefix)) && state &&
               !strcmp(state, "deployed") && host && !strcmp(host, "192.0.2.40") &&
               json_is_null(json_object_get(obj, "error")) && json_object_get(obj, "public_ip") &&
               json_object_get(obj, "time") &&
               json_integer_value(json_object_get(obj, "port")) == 8080 &&
               !strcmp(json_string_value(json_object_get(obj, "expected_state")), "deployed");
    json_decref(obj);
    return hit;
}

static void s_watch(ctx_t *ctx, bool json)
{
    const char *args[] = {"--publish", ctx->publish, json ? "--json" : "watch",
                          json ? "watch" : NULL, NULL};
    int fd;
    pid_t pid = s_start_ctl(NULL, args, &fd, NULL);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "watch%s-", json ? "json" : "text");
    s_want_t want = {prefix, json};
    char *buf = malloc(OUT_MAX), found[4096] = "";
    size_t len = 0;
    bool seen = false;
    /* A SUB socket misses what is published before its subscription reaches
     * the core: add services until the watcher reports one deployed. */
    int64_t deadline = zclock_mono() + WAIT_MS;
    while (!seen && zclock_mono() < deadline) {
        char line[128];
        snprintf(line, sizeof line, "add %s%d 192.0.2.40:80 port=8080\n", prefix, ctx->watch_seq++);
        s_say(ctx, line);
        seen = s_read_until(fd, buf, &len, s_deployed_line, &want, 1000, found, sizeof found);
    }
    free(buf);
    close(fd);
    /* Either signal ends it with status 0 (the line shows its handler is set). */
    int status = test_stop(pid, json ? SIGTERM : SIGINT, 5000);
    if (!seen) fail_msg("watch%s: no line saying %s* is deployed", json ? " --json" : "", prefix);
    if (!json) { /* TIME NAME STATE (expected EXPECTED) */
        int64_t ms;
        char time[64];
        assert_int_equal(sscanf(found, "%63s", time), 1);
        assert_int_equal(ctl_format_parse_time(time, &ms), 0);
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_watch(void **state)
{
    s_watch(*state, false);
}

static void test_watch_json(void **state)
{
    s_watch(*state, true);
}

/* A publish endpoint ZeroMQ refuses is a configuration error. */
static void test_watch_bad_endpoint(void **state)
{
    (void)state;
    run_t *run = &s_run_buf;
    const char *bad[] = {"--publish", "nowhere", "watch", NULL};
    s_run(run, bad);
    assert_run(run, run->status == 2 && strstr(run->err, "nowhere"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* Only what each test gives: none of the caller's settings. */
    unsetenv("INTERLOOK_API");
    unsetenv("INTERLOOK_LISTEN");
    unsetenv("INTERLOOK_BUS_PUBLISH");
    unsetenv("INTERLOOK_BUS_ROUTER");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_services_table),
        cmocka_unit_test(test_services_json),
        cmocka_unit_test(test_service_details),
        cmocka_unit_test(test_service_not_found),
        cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_workflow),
        cmocka_unit_test(test_core_unreachable),
        cmocka_unit_test(test_bad_usage),
        cmocka_unit_test(test_invalid_answers),
        cmocka_unit_test(test_finds_the_core),
        cmocka_unit_test(test_extension_without_instance),
        cmocka_unit_test(test_watch),
        cmocka_unit_test(test_watch_json),
        cmocka_unit_test(test_watch_bad_endpoint),
    };
    return test_run_group(tests, s_group_setup, s_group_teardown);
}
