/* End-to-end tests of the core with real processes over TCP loopback:
 * interlookd + interlook-echo instances + interlook-inject as the provider,
 * checked through the HTTP API; kill -9 of the core in the middle. */
#include "tests/support/fixture.h"
#include "tests/support/testutil.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define WAIT_MS 20000

typedef struct {
    fixture_t *stack;                                  /* first: fixture_teardown frees this */
    const char *dir, *config, *api, *router, *publish; /* the stack's */
    pid_t core;
    pid_t echo[2];
    pid_t inject;
    int inject_in; /* the injector's standard input */
    /* conditions */
    const char *want_state;
    int want_count;
} ctx_t;

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    fixture_opts_t opts = {.name = "test_core", .stop_signal = SIGKILL};
    ctx->stack = fixture_new(&opts);
    assert_non_null(ctx->stack);
    assert_int_equal(fixture_config_write(ctx->stack,
                                          "  logLevel: debug\n"
                                          "  workflowSteps: provider.test,provisioner.echo\n"
                                          "  checkFlowInterval: 100ms\n"
                                          "  workflowHousekeeperInterval: 500ms\n"
                                          "  serviceWIPTimeout: 10s\n"
                                          "  serviceMaxLastUpdated: 1h\n"
                                          "  cleanUndeployedServiceAfter: 1h\n"
                                          "  persistDelay: 20ms\n",
                                          NULL),
                     0);
    ctx->dir = fixture_dir(ctx->stack);
    ctx->config = fixture_config(ctx->stack);
    ctx->api = fixture_api(ctx->stack);
    ctx->router = fixture_router(ctx->stack);
    ctx->publish = fixture_publish(ctx->stack);
    ctx->inject_in = -1;
    *state = ctx;
    return 0;
}

static void s_start_core(ctx_t *ctx)
{
    ctx->core = fixture_start_core(ctx->stack, WAIT_MS);
    assert_true(ctx->core > 0);
}

static void s_start_echo(ctx_t *ctx, int i, const char *delay)
{
    char instance[32];
    snprintf(instance, sizeof instance, "echo-%d", i);
    const char *args[] = {"--name", "provisioner.echo", "--instance", instance, "--credit",
                          "5",      "--delay",          delay,        NULL};
    ctx->echo[i] = fixture_spawn_ext(ctx->stack, "interlook-echo", args, NULL);
    assert_true(ctx->echo[i] > 0);
}

static void s_start_inject(ctx_t *ctx)
{
    const char *args[] = {"--name", "provider.test", NULL};
    ctx->inject = fixture_spawn_ext(ctx->stack, "interlook-inject", args, &ctx->inject_in);
    assert_true(ctx->inject > 0);
}

static void s_say(ctx_t *ctx, const char *line)
{
    assert_int_equal(test_write_text(ctx->inject_in, line), 0);
}

/* GET path, parsed; NULL when unreachable. */
static json_t *s_get(ctx_t *ctx, const char *path, long *status)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", ctx->api, path);
    char *body = test_http_get(url, status);
    if (!body) return NULL;
    json_t *json = json_loads(body, 0, NULL);
    free(body);
    return json;
}

static int s_count_state(ctx_t *ctx, const char *state, int *total)
{
    long status = 0;
    json_t *all = s_get(ctx, "/services", &status);
    if (!all || status != 200) {
        json_decref(all);
        return -1;
    }
    int n = 0;
    const char *key;
    json_t *entry;
    json_object_foreach(all, key, entry)
    {
        const char *s = json_string_value(json_object_get(entry, "state"));
        bool wip = json_is_true(json_object_get(entry, "wip"));
        if (s && !strcmp(s, state) && !wip) n++;
    }
    if (total) *total = (int)json_object_size(all);
    json_decref(all);
    return n;
}

/* The public port of a service as GET /services/NAME shows it; 0 for JSON
 * null, -1 when the answer has no such member. */
static long s_public_port(ctx_t *ctx, const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "/services/%s", name);
    long status = 0;
    json_t *entry = s_get(ctx, path, &status);
    json_t *port = json_object_get(json_object_get(entry, "service"), "port");
    long value = json_is_integer(port) ? (long)json_integer_value(port)
                 : json_is_null(port)  ? 0
                                       : -1;
    json_decref(entry);
    return status == 200 ? value : -1;
}

/* Both echo instances are registered. */
static bool s_two_echoes(void *arg)
{
    long status = 0;
    json_t *exts = s_get(arg, "/extensions", &status);
    bool two = exts && json_array_size(json_object_get(exts, "provisioner.echo")) == 2;
    json_decref(exts);
    return two;
}

static bool s_reached(void *arg)
{
    ctx_t *ctx = arg;
    return s_count_state(ctx, ctx->want_state, NULL) >= ctx->want_count;
}

static void s_wait_state(ctx_t *ctx, const char *state, int count)
{
    ctx->want_state = state;
    ctx->want_count = count;
    if (!test_wait(s_reached, ctx, WAIT_MS))
        fail_msg("%d services %s: only %d after %d ms", count, state,
                 s_count_state(ctx, state, NULL), WAIT_MS);
}

static void test_deploy_and_undeploy_100(void **state)
{
    ctx_t *ctx = *state;
    s_start_core(ctx);
    s_start_echo(ctx, 0, "0");
    s_start_echo(ctx, 1, "0");
    /* Both registered before the work starts: 100 services can be deployed
     * before a second instance is even up. */
    assert_true(test_wait(s_two_echoes, ctx, WAIT_MS));
    s_start_inject(ctx);
    s_say(ctx, "add-many svc- 100 192.0.2.7:8080\n");
    s_wait_state(ctx, "deployed", 100);

    long status = 0;
    json_t *one = s_get(ctx, "/services/svc-42", &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(one, "expected_state")), "deployed");
    json_t *svc = json_object_get(one, "service");
    assert_string_equal(json_string_value(json_object_get(svc, "provider")), "provider.test");
    json_t *target = json_array_get(json_object_get(svc, "targets"), 0);
    assert_string_equal(json_string_value(json_object_get(target, "host")), "192.0.2.7");
    assert_int_equal(json_integer_value(json_object_get(target, "port")), 8080);
    json_decref(one);

    json_t *flow = s_get(ctx, "/workflow", &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_array_get(json_object_get(flow, "steps"), 1)),
                        "provisioner.echo");
    json_decref(flow);

    json_t *exts = s_get(ctx, "/extensions", &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(exts, "provisioner.echo")), 2);
    assert_int_equal(json_array_size(json_object_get(exts, "provider.test")), 1);
    json_decref(exts);

    s_say(ctx, "delete-many svc- 100\n");
    s_wait_state(ctx, "undeployed", 100);
    int total = 0;
    assert_int_equal(s_count_state(ctx, "undeployed", &total), 100);
    assert_int_equal(total, 100);

    char url[128];
    snprintf(url, sizeof url, "%s/metrics", ctx->api);
    char *metrics = test_http_get(url, &status);
    assert_non_null(metrics);
    assert_int_equal(status, 200);
    assert_non_null(strstr(metrics, "interlook_entries{state=\"undeployed\"} 100\n"));
    assert_non_null(strstr(metrics, "interlook_results_total 200\n"));
    assert_non_null(
        strstr(metrics, "interlook_instances_alive{extension=\"provisioner.echo\"} 2\n"));
    free(metrics);

    json_t *missing = s_get(ctx, "/services/nope", &status);
    assert_int_equal(status, 404);
    assert_non_null(json_object_get(missing, "error"));
    json_decref(missing);
    json_t *bad = s_get(ctx, "/nowhere", &status);
    assert_int_equal(status, 404);
    json_decref(bad);
}

static bool s_some_deployed(void *arg)
{
    ctx_t *ctx = arg;
    int n = s_count_state(ctx, ctx->want_state, NULL);
    return n >= ctx->want_count;
}

static void test_kill9_core_midway(void **state)
{
    ctx_t *ctx = *state;
    s_start_core(ctx);
    s_start_echo(ctx, 0, "20ms"); /* slow enough to be caught in the middle */
    s_start_inject(ctx);
    s_say(ctx, "add-many k- 100\n");
    ctx->want_state = "deployed";
    ctx->want_count = 10;
    assert_true(test_wait(s_some_deployed, ctx, WAIT_MS));
    test_stop(ctx->core, SIGKILL, 2000);
    s_start_core(ctx);
    /* Entries come back from the file; the provider re-reports at WELCOME. */
    s_wait_state(ctx, "deployed", 100);

    s_say(ctx, "delete-many k- 100\n");
    ctx->want_state = "undeployed";
    ctx->want_count = 10;
    assert_true(test_wait(s_some_deployed, ctx, WAIT_MS));
    test_stop(ctx->core, SIGKILL, 2000);
    s_start_core(ctx);
    s_wait_state(ctx, "undeployed", 100);
    int total = 0;
    assert_int_equal(s_count_state(ctx, "undeployed", &total), 100);
    assert_int_equal(total, 100); /* none lost, none duplicated */
}

/* Deletes that reach the core but not its entries file before a kill -9
 * (saves are held back 30 s here, so none can) are learnt again: after the
 * restart the core asks the provider about every entry it did not re-report,
 * and all are undeployed — without waiting for serviceMaxLastUpdated (1 h). */
static bool s_provider_registered(void *arg)
{
    long status = 0;
    json_t *exts = s_get(arg, "/extensions", &status);
    bool up = exts && json_array_size(json_object_get(exts, "provider.test")) == 1;
    json_decref(exts);
    return up;
}

static void test_deletes_lost_in_crash_learnt_again(void **state)
{
    ctx_t *ctx = *state;
    assert_int_equal(test_sh("sed -i 's/persistDelay: 20ms/persistDelay: 30s/' '%s'", ctx->config),
                     0);
    s_start_core(ctx);
    s_start_echo(ctx, 0, "0");
    s_start_inject(ctx);
    s_say(ctx, "add-many lost- 20\n");
    s_wait_state(ctx, "deployed", 20);
    int status = test_stop(ctx->core, SIGTERM, 5000); /* saved on the way out */
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    s_start_core(ctx);
    s_wait_state(ctx, "deployed", 20);
    /* Registered with this core: the deletes reach it (events sent while
     * a provider is not yet registered again are the other way to lose them). */
    assert_true(test_wait(s_provider_registered, ctx, WAIT_MS));

    s_say(ctx, "delete-many lost- 20\n");
    ctx->want_state = "undeployed";
    ctx->want_count = 1;
    assert_true(test_wait(s_some_deployed, ctx, WAIT_MS));
    test_stop(ctx->core, SIGKILL, 2000);
    s_start_core(ctx);
    s_wait_state(ctx, "undeployed", 20);
}

/* interlook-inject --once with no core at the other end: it does not wait
 * forever, and says what it could not deliver (exit status 1). */
static void test_inject_once_without_core(void **state)
{
    (void)state;
    int fds[2], ports[2] = {test_closed_port(&fds[0]), test_closed_port(&fds[1])};
    assert_true(ports[0] > 0 && ports[1] > 0);
    char *out = test_sh_output("%s --router tcp://127.0.0.1:%d --publish tcp://127.0.0.1:%d "
                               "--once add lone 2>&1; echo \"rc=$?\"",
                               test_bin("interlook-inject"), ports[0], ports[1]);
    close(fds[0]);
    close(fds[1]);
    assert_non_null(out);
    if (!strstr(out, "1 event(s) not delivered") || !strstr(out, "rc=1"))
        fail_msg("inject without a core: %s", out);
    free(out);
}

/* The Python peer as the echo step: its instance id, credit and batch size. */
static void s_start_python_peer(ctx_t *ctx, const char *instance, const char *credit,
                                const char *batch)
{
    const char *peer = "tests/peers/ilp_echo.py";
    assert_int_equal(access(peer, R_OK), 0);
    const char *args[] = {peer,     "--router",         ctx->router,  "--publish", ctx->publish,
                          "--name", "provisioner.echo", "--instance", instance,    "--credit",
                          credit,   "--batch",          batch,        NULL};
    ctx->echo[0] = fixture_spawn(ctx->stack, "/usr/bin/python3", args, NULL, NULL);
    assert_true(ctx->echo[0] > 0);
}

/* The Python peer, written from docs/protocol.md alone, does the echo step. */
static void test_python_peer_joins(void **state)
{
    ctx_t *ctx = *state;
    s_start_core(ctx);
    s_start_python_peer(ctx, "py-1", "20", "1");
    s_start_inject(ctx);
    s_say(ctx, "add-many py- 50\n");
    s_wait_state(ctx, "deployed", 50);

    /* A core restart: the Python peer registers again by itself. */
    test_stop(ctx->core, SIGKILL, 2000);
    s_start_core(ctx);
    s_say(ctx, "add-many pz- 20\n");
    s_wait_state(ctx, "deployed", 70);
    s_say(ctx, "delete-many py- 50\n");
    s_wait_state(ctx, "undeployed", 50);
    long status = 0;
    json_t *exts = s_get(ctx, "/extensions", &status);
    json_t *inst = json_array_get(json_object_get(exts, "provisioner.echo"), 0);
    assert_string_equal(json_string_value(json_object_get(inst, "instance")), "py-1");
    json_decref(exts);
}

/* The value of a counter in the core's /metrics, -1 when absent. */
static long long s_metric(ctx_t *ctx, const char *name)
{
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", ctx->api);
    long status = 0;
    char *text = test_http_get(url, &status);
    long long value = -1;
    size_t len = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, name, len) && p[len] == ' ') value = atoll(p + len + 1);
    free(text);
    return value;
}

/* The Python peer with --batch (docs/protocol.md section 2.3): it asks for
 * WORK batches, takes them, and answers with RESULT batches. */
static void test_python_peer_batches(void **state)
{
    ctx_t *ctx = *state;
    s_start_core(ctx);
    s_start_python_peer(ctx, "py-b", "40", "8");
    s_start_inject(ctx);
    s_say(ctx, "add-many pb- 200\n");
    s_wait_state(ctx, "deployed", 200);
    s_say(ctx, "delete-many pb- 200\n");
    s_wait_state(ctx, "undeployed", 200);
    /* The peer is the only one to get WORK: the batches sent went to it. Its
     * 400 RESULTs came in far fewer messages than 400 (everything the core
     * received, heartbeats and the injector's EVENTs included, is counted). */
    long long out = s_metric(ctx, "interlook_bus_batches_sent_total");
    long long results = s_metric(ctx, "interlook_results_total");
    long long msgs = s_metric(ctx, "interlook_bus_messages_received_total");
    if (out <= 0 || results != 400 || msgs <= 0 || msgs >= 200)
        fail_msg("WORK batches sent %lld, results %lld, messages received %lld", out, results,
                 msgs);
}

/* SIGTERM stops each process cleanly and quickly: exit status 0 (under the
 * sanitizers, a leak or an error would make it non-zero), state saved. */
static void test_clean_shutdown(void **state)
{
    ctx_t *ctx = *state;
    s_start_core(ctx);
    s_start_echo(ctx, 0, "0");
    s_start_inject(ctx);
    s_say(ctx, "add-many stop- 4\nadd stop-4 192.0.2.1:8080 port=8443\n");
    s_wait_state(ctx, "deployed", 5);
    assert_int_equal(s_public_port(ctx, "stop-4"), 8443);
    assert_int_equal(s_public_port(ctx, "stop-0"), 0);
    int64_t start = zclock_mono();
    int status = test_stop(ctx->core, SIGTERM, 5000);
    ctx->core = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(zclock_mono() - start < 5000);
    status = test_stop(ctx->echo[0], SIGTERM, 5000);
    ctx->echo[0] = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fixture_close_input(ctx->stack, ctx->inject_in); /* the injector ends with its input */
    ctx->inject_in = -1;
    status = test_stop(ctx->inject, 0, 5000);
    ctx->inject = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The entries were saved: a new core has all five, deployed, the public
     * port with them. */
    s_start_core(ctx);
    int total = 0;
    assert_int_equal(s_count_state(ctx, "deployed", &total), 5);
    assert_int_equal(total, 5);
    assert_int_equal(s_public_port(ctx, "stop-4"), 8443);
    assert_int_equal(s_public_port(ctx, "stop-0"), 0);
}

/* A step added to the workflow reaches the services already deployed: after
 * a restart with the new workflow, each runs the steps again. */
static void test_added_step_reaches_deployed(void **state)
{
    ctx_t *ctx = *state;
    s_start_core(ctx);
    s_start_echo(ctx, 0, "0");
    s_start_inject(ctx);
    s_say(ctx, "add-many grow- 5\n");
    s_wait_state(ctx, "deployed", 5);
    int status = test_stop(ctx->core, SIGTERM, 5000);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The same file with one more step. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "sed -i 's/workflowSteps: provider.test,provisioner.echo$/"
             "workflowSteps: provider.test,provisioner.echo,provisioner.more/' '%s'",
             ctx->config);
    assert_int_equal(system(cmd), 0);
    const char *args[] = {"--name", "provisioner.more", "--instance", "more-1", NULL};
    ctx->echo[1] = fixture_spawn_ext(ctx->stack, "interlook-echo", args, NULL);
    s_start_core(ctx);
    ctx->want_state = "deployed";
    ctx->want_count = 5;
    long status_code = 0;
    int64_t deadline = zclock_mono() + WAIT_MS;
    json_int_t results = 0;
    while (zclock_mono() < deadline) {
        json_t *exts = s_get(ctx, "/extensions", &status_code);
        json_t *more = json_array_get(json_object_get(exts, "provisioner.more"), 0);
        results = more ? json_integer_value(json_object_get(more, "results")) : 0;
        json_decref(exts);
        if (results == 5 && s_count_state(ctx, "deployed", NULL) == 5) break;
        zclock_sleep(20); /* re-check interval, bounded by the deadline */
    }
    assert_int_equal(results, 5);
    assert_int_equal(s_count_state(ctx, "deployed", NULL), 5);
}

/* Defence in depth ----------------------------------------------------------
 * An allocator that answers every service with one address (as one that lost
 * its state would) cannot give that address to two live services. */

/* The Python peer as an allocator (ipam.fixed) that answers every add with ip. */
static void s_start_fixed_ipam(ctx_t *ctx, const char *ip)
{
    const char *peer = "tests/peers/ilp_echo.py";
    assert_int_equal(access(peer, R_OK), 0);
    const char *args[] = {peer,         "--router",   ctx->router,  "--publish",
                          ctx->publish, "--name",     "ipam.fixed", "--instance",
                          "fixed-ipam", "--fixed-ip", ip,           NULL};
    ctx->echo[0] = fixture_spawn(ctx->stack, "/usr/bin/python3", args, NULL, NULL);
    assert_true(ctx->echo[0] > 0);
}

/* What a service should look like: each field given is checked (state: as
 * reached, no work in progress; error: contained; attempt: at least). */
typedef struct {
    ctx_t *ctx;
    const char *name;
    const char *state;
    const char *public_ip;
    const char *error;
    json_int_t attempt;
} s_want_t;

static bool s_service_is(void *arg)
{
    s_want_t *want = arg;
    char path[128];
    snprintf(path, sizeof path, "/services/%s", want->name);
    long status = 0;
    json_t *entry = s_get(want->ctx, path, &status);
    const char *st = json_string_value(json_object_get(entry, "state"));
    const char *ip =
        json_string_value(json_object_get(json_object_get(entry, "service"), "public_ip"));
    const char *error = json_string_value(json_object_get(entry, "error"));
    bool is = status == 200 && (!want->state || (st && !strcmp(st, want->state) &&
                                                 !json_is_true(json_object_get(entry, "wip"))));
    if (want->public_ip) is = is && ip && !strcmp(ip, want->public_ip);
    if (want->error) is = is && error && strstr(error, want->error);
    if (want->attempt)
        is = is && json_integer_value(json_object_get(entry, "attempt")) >= want->attempt;
    json_decref(entry);
    return is;
}

static void s_wait_service(s_want_t want)
{
    if (!test_wait(s_service_is, &want, WAIT_MS)) {
        char path[128];
        snprintf(path, sizeof path, "/services/%s", want.name);
        long status = 0;
        json_t *entry = s_get(want.ctx, path, &status);
        char *text = entry ? json_dumps(entry, JSON_COMPACT) : NULL;
        fail_msg("%s: not %s/%s/%s after %d ms: %s", want.name, want.state ? want.state : "-",
                 want.public_ip ? want.public_ip : "-", want.error ? want.error : "-", WAIT_MS,
                 text ? text : "(no entry)");
    }
}

static void test_public_ip_unique(void **state)
{
    ctx_t *ctx = *state;
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "sed -i 's/workflowSteps: provider.test,provisioner.echo$/"
             "workflowSteps: provider.test,ipam.fixed\\n  retryBackoffMin: 50ms\\n"
             "  retryBackoffMax: 200ms/' '%s'",
             ctx->config);
    assert_int_equal(system(cmd), 0);
    s_start_core(ctx);
    s_start_fixed_ipam(ctx, "10.0.0.5");
    s_start_inject(ctx);
    s_say(ctx, "add web 127.0.0.1:8080\n");
    s_wait_service((s_want_t){ctx, "web", "deployed", "10.0.0.5", NULL, 0});

    /* The second service is refused the address, the error names both, and
     * the step is retried (with the back-off) without ever deploying it. */
    s_say(ctx, "add api 127.0.0.1:8081\n");
    s_wait_service((s_want_t){ctx, "api", NULL, NULL,
                              "ipam.fixed answered 10.0.0.5 for api, but web holds it", 3});
    long status = 0;
    json_t *api = s_get(ctx, "/services/api", &status);
    assert_int_equal(status, 200);
    assert_string_not_equal(json_string_value(json_object_get(api, "state")), "deployed");
    assert_true(json_is_null(json_object_get(json_object_get(api, "service"), "public_ip")));
    json_decref(api);
    assert_true(s_service_is(&(s_want_t){ctx, "web", "deployed", "10.0.0.5", NULL, 0}));
    /* Counted and logged as failed steps, as errors are. */
    assert_true(s_metric(ctx, "interlook_work_failed_total") >= 2);
    assert_int_equal(test_sh("grep -q 'ipam.fixed answered 10.0.0.5 for api, but web holds it' "
                             "'%s/core.log'",
                             ctx->dir),
                     0);

    /* The allocator answers right again: it converges. */
    assert_true(test_stop(ctx->echo[0], SIGTERM, 5000) >= 0);
    s_start_fixed_ipam(ctx, "10.0.0.6");
    s_wait_service((s_want_t){ctx, "api", "deployed", "10.0.0.6", NULL, 0});
    api = s_get(ctx, "/services/api", &status);
    assert_true(json_is_null(json_object_get(api, "error")));
    json_decref(api);

    /* A third is refused what api holds, and gets it once api is deleted. */
    s_say(ctx, "add db 127.0.0.1:8082\n");
    s_wait_service((s_want_t){ctx, "db", NULL, NULL,
                              "ipam.fixed answered 10.0.0.6 for db, but api holds it", 2});
    s_say(ctx, "delete api\n");
    s_wait_service((s_want_t){ctx, "api", "undeployed", NULL, NULL, 0});
    s_wait_service((s_want_t){ctx, "db", "deployed", "10.0.0.6", NULL, 0});
    assert_true(s_service_is(&(s_want_t){ctx, "web", "deployed", "10.0.0.5", NULL, 0}));
}

/* Runs interlookd with args; returns its exit status and its output. */
static int s_run_core(const char *const *args, char *out, size_t outlen)
{
    char cmd[2048];
    int n = snprintf(cmd, sizeof cmd, "%s", test_bin("interlookd"));
    for (; *args; args++)
        n += snprintf(cmd + n, sizeof cmd - n, " '%s'", *args);
    return test_run(out, outlen, "%s 2>&1", cmd);
}

static void test_check_config(void **state)
{
    ctx_t *ctx = *state;
    char out[4096];
    const char *good[] = {"--check-config", "-c", ctx->config, NULL};
    assert_int_equal(s_run_core(good, out, sizeof out), 0);
    assert_non_null(strstr(out, "OK"));

    char bad[600];
    snprintf(bad, sizeof bad, "%s/bad.yml", ctx->dir);
    static const struct {
        const char *text, *expect;
    } cases[] = {
        {"core:\n  lisen: 1\n", "bad.yml:2: core.lisen: unknown key"},
        {"core:\n  checkFlowInterval: soon\n", "bad.yml:2: core.checkFlowInterval"},
        {"core:\n  workflowSteps: ipam.ipalloc\n", "core.workflowSteps"},
        {"core:\n  workflowSteps: provider.docker,provider.docker\n", "appears twice"},
        {"core:\n  logLevel: loud\n", "core.logLevel"},
        {"core:\n  bus: { heartbeat: 1ms }\n", "core.bus.heartbeat"},
        {"core: [1, 2\n", "bad.yml:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(test_write_file(bad, cases[i].text), 0);
        const char *args[] = {"--check-config", "-c", bad, NULL};
        assert_int_equal(s_run_core(args, out, sizeof out), 2);
        if (!strstr(out, cases[i].expect))
            fail_msg("case %zu: expected '%s' in: %s", i, cases[i].expect, out);
    }
    const char *missing[] = {"-c", "/nonexistent/interlook.yml", NULL};
    assert_int_equal(s_run_core(missing, out, sizeof out), 2);
    assert_non_null(strstr(out, "/nonexistent/interlook.yml"));
}

static void test_corrupt_entries_file_refused(void **state)
{
    ctx_t *ctx = *state;
    char var[600], db[700];
    snprintf(var, sizeof var, "%s/var", ctx->dir);
    snprintf(db, sizeof db, "%s/entries.db", var);
    assert_int_equal(mkdir(var, 0755), 0);
    assert_int_equal(test_write_file(db, "this is not an entries file"), 0);
    char out[4096];
    const char *args[] = {"-c", ctx->config, NULL};
    assert_int_equal(s_run_core(args, out, sizeof out), 1);
    /* The log goes to core.log; the file must be untouched. */
    char log[700];
    snprintf(log, sizeof log, "%s/core.log", ctx->dir);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    assert_non_null(strstr(text, db));
    f = fopen(db, "r");
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    assert_string_equal(text, "this is not an entries file");
}

/* interlookd --ports-file: the endpoints it wrote are the ones it bound (the
 * fixture's core answers on them); a file it cannot write stops it, named. */
static void test_ports_file(void **state)
{
    ctx_t *ctx = *state;
    s_start_core(ctx);
    char path[700], text[512];
    snprintf(path, sizeof path, "%s/core.ports", ctx->dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    char want[512];
    snprintf(want, sizeof want, "listen %s\nrouter %s\npublish %s\n", ctx->api + 7, ctx->router,
             ctx->publish);
    assert_string_equal(text, want);
    assert_null(strstr(text, ":0\n"));
    assert_null(strstr(text, ":*"));
    test_stop(ctx->core, SIGTERM, 5000);
    ctx->core = 0;
    char out[4096];
    const char *args[] = {"-c", ctx->config, "--ports-file", "/nonexistent/core.ports", NULL};
    assert_int_equal(s_run_core(args, out, sizeof out), 1);
    assert_int_equal(
        test_sh("grep -q 'cannot write --ports-file /nonexistent/core.ports' '%s/core.log'",
                ctx->dir),
        0);
}

/* The port after "KEY: \"...:" in the configuration file at path; -1 when
 * there is none. */
static int s_config_port(const char *path, const char *key)
{
    char *text = test_sh_output("cat '%s'", path);
    char pattern[64];
    snprintf(pattern, sizeof pattern, "%s: \"", key);
    const char *at = text ? strstr(text, pattern) : NULL;
    const char *end = at ? strchr(at + strlen(pattern), '"') : NULL;
    int port = -1;
    if (end) {
        const char *colon = at;
        for (const char *p = at; p < end; p++)
            if (*p == ':') colon = p;
        port = atoi(colon + 1);
    }
    free(text);
    return port;
}

/* The fixture picks the core's ports below the kernel's ephemeral range
 * (32768-) and writes them into the configuration before the core starts,
 * so that a killed core's ports cannot go to another process meanwhile; a
 * port taken between the pick and the bind is picked again; a restarted
 * core binds the same ones. */
static void test_ports_picked_up_front(void **state)
{
    ctx_t *ctx = *state;
    const char *keys[] = {"listen", "router", "publish"};
    int picked[3];
    for (int i = 0; i < 3; i++) {
        picked[i] = s_config_port(ctx->config, keys[i]);
        if (picked[i] < 20000 || picked[i] > 31999)
            fail_msg("%s port %d: not picked in 20000-31999", keys[i], picked[i]);
    }
    /* Someone takes the router port before the core binds it. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)picked[1])};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(fd, 1), 0);
    s_start_core(ctx);
    close(fd);
    int now[3];
    for (int i = 0; i < 3; i++) {
        now[i] = s_config_port(ctx->config, keys[i]);
        if (now[i] < 20000 || now[i] > 31999)
            fail_msg("%s port %d: not picked in 20000-31999", keys[i], now[i]);
    }
    assert_int_not_equal(now[1], picked[1]);
    char want[128];
    snprintf(want, sizeof want, "tcp://127.0.0.1:%d", now[1]);
    assert_string_equal(ctx->router, want);
    snprintf(want, sizeof want, "http://127.0.0.1:%d", now[0]);
    assert_string_equal(ctx->api, want);
    /* A restart binds the same ports. */
    test_stop(ctx->core, SIGKILL, 5000);
    s_start_core(ctx);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s_config_port(ctx->config, keys[i]), now[i]);
    assert_string_equal(ctx->api, want);
    json_t *health = fixture_api_get(ctx->stack, "/health");
    assert_non_null(health);
    json_decref(health);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_check_config, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_entries_file_refused, s_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_deploy_and_undeploy_100, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_kill9_core_midway, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_deletes_lost_in_crash_learnt_again, s_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_inject_once_without_core, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_python_peer_joins, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_python_peer_batches, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_clean_shutdown, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_added_step_reaches_deployed, s_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_ports_file, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_ports_picked_up_front, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_public_ip_unique, s_setup, fixture_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
