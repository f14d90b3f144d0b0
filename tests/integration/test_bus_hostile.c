/* A hostile peer on the bus (issue 14 §3), against a real interlookd over TCP
 * loopback: raw ZeroMQ DEALERs that speak ILP/1 by hand beside real
 * extensions. A provider changes only what it reported; a peer that takes
 * work and never answers holds at most core.bus.maxCredit items, once; the
 * instances are capped (DENIED naming the limit); a HELLO storm writes a
 * bounded number of log lines and the core works on. */
#include "broker/ilp_msg.h"
#include "tests/support/fixture.h"
#include "tests/support/testutil.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define WAIT_MS 20000

typedef struct {
    fixture_t *stack; /* first: fixture_teardown frees it */
    pid_t core;
} ctx_t;

static int s_setup(void **state)
{
    *state = calloc(1, sizeof(ctx_t));
    return *state ? 0 : -1;
}

/* A stack with the core started; bus NULL: the fixture's default. */
static ctx_t *s_stack(void **state, const char *bus, const char *core_keys)
{
    ctx_t *ctx = *state;
    fixture_opts_t opts = {.name = "test_bus_hostile", .bus = bus, .stop_signal = SIGKILL};
    ctx->stack = fixture_new(&opts);
    assert_non_null(ctx->stack);
    assert_int_equal(fixture_config_write(ctx->stack, core_keys, NULL), 0);
    ctx->core = fixture_start_core(ctx->stack, WAIT_MS);
    assert_true(ctx->core > 0);
    return ctx;
}

/* Raw peers -------------------------------------------------------------------- */

static zsock_t *s_peer(ctx_t *ctx)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    assert_non_null(sock);
    zsock_set_sndhwm(sock, 0);
    zsock_set_rcvhwm(sock, 0);
    zsock_set_linger(sock, 0);
    assert_int_equal(zsock_connect(sock, "%s", fixture_router(ctx->stack)), 0);
    return sock;
}

static void s_send(zsock_t *sock, ilp_msg_t *msg)
{
    zmsg_t *zmsg = ilp_msg_encode(msg);
    assert_non_null(zmsg);
    assert_int_equal(zmsg_send(&zmsg, sock), 0);
}

static void s_hello(zsock_t *sock, const char *name, const char *instance, uint32_t credit)
{
    ilp_msg_t *msg = ilp_msg_new(ILP_HELLO);
    msg->name = strdup(name);
    msg->instance = strdup(instance);
    msg->credit = credit;
    s_send(sock, msg);
    ilp_msg_destroy(&msg);
}

static void s_cmd(zsock_t *sock, ilp_cmd_t cmd)
{
    ilp_msg_t *msg = ilp_msg_new(cmd);
    s_send(sock, msg);
    ilp_msg_destroy(&msg);
}

/* The next message within timeout_ms, decoded; NULL when none. */
static ilp_msg_t *s_recv(zsock_t *sock, int timeout_ms)
{
    zsock_set_rcvtimeo(sock, timeout_ms);
    zmsg_t *zmsg = zmsg_recv(sock);
    if (!zmsg) return NULL;
    char err[256];
    ilp_msg_t *msg = ilp_msg_decode(zmsg, err, sizeof err);
    if (!msg) fprintf(stderr, "test: undecodable message from the core: %s\n", err);
    zmsg_destroy(&zmsg);
    return msg;
}

/* The answer to a HELLO (heartbeats skipped): WELCOME or DENIED. */
static ilp_msg_t *s_answer(zsock_t *sock)
{
    int64_t end = zclock_mono() + WAIT_MS;
    while (zclock_mono() < end) {
        ilp_msg_t *msg = s_recv(sock, (int)(end - zclock_mono()));
        if (msg && (msg->cmd == ILP_WELCOME || msg->cmd == ILP_DENIED)) return msg;
        ilp_msg_destroy(&msg);
    }
    return NULL;
}

static void s_expect_welcome(zsock_t *sock, const char *name, const char *instance, uint32_t credit)
{
    s_hello(sock, name, instance, credit);
    ilp_msg_t *msg = s_answer(sock);
    assert_non_null(msg);
    if (msg->cmd != ILP_WELCOME)
        fail_msg("HELLO %s %s: %s (%s)", name, instance, ilp_cmd_name(msg->cmd),
                 msg->reason ? msg->reason : "");
    ilp_msg_destroy(&msg);
}

/* DENIED, its reason holding want. */
static void s_expect_denied(zsock_t *sock, const char *name, const char *instance, const char *want)
{
    s_hello(sock, name, instance, 5);
    ilp_msg_t *msg = s_answer(sock);
    assert_non_null(msg);
    if (msg->cmd != ILP_DENIED)
        fail_msg("HELLO %s %s: %s, expected DENIED (%s)", name, instance, ilp_cmd_name(msg->cmd),
                 want);
    assert_non_null(msg->reason);
    if (!strstr(msg->reason, want)) fail_msg("DENIED '%s' does not say '%s'", msg->reason, want);
    ilp_msg_destroy(&msg);
}

/* The core's API ------------------------------------------------------------------ */

static size_t s_instances(ctx_t *ctx, const char *ext)
{
    json_t *all = fixture_api_get(ctx->stack, "/extensions");
    size_t n = all ? json_array_size(json_object_get(all, ext)) : 0;
    json_decref(all);
    return n;
}

/* Entries deployed (not in progress). */
static size_t s_deployed(ctx_t *ctx)
{
    json_t *all = fixture_api_get(ctx->stack, "/services");
    size_t n = 0;
    const char *name;
    json_t *entry;
    json_object_foreach(all, name, entry)
    {
        const char *state = json_string_value(json_object_get(entry, "state"));
        if (state && !strcmp(state, "deployed") && !json_is_true(json_object_get(entry, "wip")))
            n++;
    }
    json_decref(all);
    return n;
}

/* A counter of /metrics (0 when absent). */
static double s_metric(ctx_t *ctx, const char *name)
{
    char url[256];
    snprintf(url, sizeof url, "%s/metrics", fixture_api(ctx->stack));
    long status = 0;
    char *text = test_http_get(url, &status);
    double value = 0;
    for (char *line = text ? strstr(text, name) : NULL; line; line = strstr(line + 1, name))
        if ((line == text || line[-1] == '\n') && line[strlen(name)] == ' ') {
            value = atof(line + strlen(name) + 1);
            break;
        }
    free(text);
    return value;
}

static json_t *s_entry(ctx_t *ctx, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/services/%s", name);
    return fixture_api_get(ctx->stack, path);
}

static const char *s_field(json_t *entry, const char *key)
{
    return json_string_value(json_object_get(entry, key));
}

/* Rogue providers ---------------------------------------------------------------- */

typedef struct {
    ctx_t *ctx;
    const char *name;
    size_t n;
} s_wait_t;

static bool s_entry_deployed(void *arg)
{
    s_wait_t *w = arg;
    return test_entry_is(fixture_api(w->ctx->stack), w->name, "deployed", SIZE_MAX);
}

/* provider.two's EVENTs about provider.one's entries were handled: refused
 * (counted) or, without the check, taken (a1 no longer expected deployed). */
static bool s_two_handled(void *arg)
{
    s_wait_t *w = arg;
    if (s_metric(w->ctx, "interlook_events_refused_total") >= 2) return true;
    json_t *a1 = s_entry(w->ctx, "a1");
    bool taken = a1 && strcmp(s_field(a1, "expected_state"), "deployed") != 0;
    json_decref(a1);
    return taken;
}

/* Two real providers of different names (interlook-inject as provider.one,
 * then provider.two once the workflow's provider changed): the second neither
 * deletes nor changes what the first reported; peers under a name outside
 * the workflow are DENIED. */
static void test_provider_touches_only_its_own(void **state)
{
    static const char *keys_one = "  workflowSteps: provider.one,provisioner.echo\n"
                                  "  checkFlowInterval: 50ms\n"
                                  "  workflowHousekeeperInterval: 200ms\n"
                                  "  persistDelay: 20ms\n";
    ctx_t *ctx = s_stack(state, NULL, keys_one);
    const char *echo_args[] = {"--name", "provisioner.echo", NULL};
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-echo", echo_args, NULL) > 0);
    const char *one_args[] = {"--name", "provider.one", NULL};
    int one_in = -1;
    pid_t one = fixture_spawn_ext(ctx->stack, "interlook-inject", one_args, &one_in);
    assert_true(one > 0);
    assert_int_equal(test_write_text(one_in, "add a1 127.0.0.1:1001\nadd a2 127.0.0.1:1002\n"), 0);
    s_wait_t w = {ctx, "a1", 0};
    assert_true(test_wait(s_entry_deployed, &w, WAIT_MS));
    w.name = "a2";
    assert_true(test_wait(s_entry_deployed, &w, WAIT_MS));

    /* A raw peer under another provider's name: not in the workflow. */
    zsock_t *raw = s_peer(ctx);
    s_expect_denied(raw, "provider.two", "rogue", "not in the workflow");

    /* The workflow's provider changes; provider.one's entries stay its own. */
    assert_true(test_stop(one, SIGTERM, 5000) >= 0);
    assert_true(test_stop(ctx->core, SIGTERM, 5000) >= 0);
    assert_int_equal(fixture_config_write(ctx->stack,
                                          "  workflowSteps: provider.two,provisioner.echo\n"
                                          "  checkFlowInterval: 50ms\n"
                                          "  workflowHousekeeperInterval: 200ms\n"
                                          "  persistDelay: 20ms\n",
                                          NULL),
                     0);
    ctx->core = fixture_start_core(ctx->stack, WAIT_MS);
    assert_true(ctx->core > 0);
    const char *two_args[] = {"--name", "provider.two", NULL};
    int two_in = -1;
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-inject", two_args, &two_in) > 0);
    assert_true(fixture_wait_registered(ctx->stack, "provider.two", 1, WAIT_MS));
    assert_int_equal(test_write_text(two_in, "delete a1\nadd a2 127.0.0.9:9 alias=evil.example\n"
                                             "add b1 127.0.0.1:2001\n"),
                     0);
    w.name = "b1";
    assert_true(test_wait(s_entry_deployed, &w, WAIT_MS));
    assert_true(test_wait(s_two_handled, &w, WAIT_MS));

    json_t *a1 = s_entry(ctx, "a1");
    assert_non_null(a1);
    assert_string_equal(s_field(a1, "expected_state"), "deployed");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(a1, "service"), "provider")),
        "provider.one");
    json_decref(a1);
    json_t *a2 = s_entry(ctx, "a2");
    assert_non_null(a2);
    json_t *svc = json_object_get(a2, "service");
    json_t *target = json_array_get(json_object_get(svc, "targets"), 0);
    assert_string_equal(json_string_value(json_object_get(target, "host")), "127.0.0.1");
    assert_int_equal(json_integer_value(json_object_get(target, "port")), 1002);
    assert_int_equal(json_array_size(json_object_get(svc, "dns_aliases")), 0);
    assert_string_equal(json_string_value(json_object_get(svc, "provider")), "provider.one");
    json_decref(a2);
    json_t *b1 = s_entry(ctx, "b1");
    assert_non_null(b1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(b1, "service"), "provider")),
        "provider.two");
    json_decref(b1);

    /* provider.one, out of the workflow now, cannot register any more. */
    zsock_destroy(&raw);
    raw = s_peer(ctx);
    s_expect_denied(raw, "provider.one", "rogue", "not in the workflow");
    zsock_destroy(&raw);
}

/* A black hole ------------------------------------------------------------------- */

#define HOLE_SERVICES 200
#define HOLE_CAP      20
#define HOLE_WIP_MS   2000

/* A peer registered with credit 10,000 that takes work and never answers
 * (it only heartbeats), beside a real interlook-echo: it is given at most
 * core.bus.maxCredit items, once each; what times out there goes to the echo,
 * and every service is deployed long before it would be after a few
 * time-outs. */
static void test_black_hole(void **state)
{
    char keys[512];
    snprintf(keys, sizeof keys,
             "  workflowSteps: provider.test,provisioner.echo\n"
             "  checkFlowInterval: 50ms\n"
             "  workflowHousekeeperInterval: 100ms\n"
             "  serviceWIPTimeout: %dms\n"
             "  retryBackoffMin: 50ms\n"
             "  retryBackoffMax: 200ms\n"
             "  persistDelay: 20ms\n",
             HOLE_WIP_MS);
    char bus[128];
    snprintf(bus, sizeof bus, "heartbeat: 100ms, liveness: 5, maxCredit: %d", HOLE_CAP);
    ctx_t *ctx = s_stack(state, bus, keys);
    zsock_t *hole = s_peer(ctx);
    s_expect_welcome(hole, "provisioner.echo", "black-hole", 10000);
    const char *echo_args[] = {"--name", "provisioner.echo", "--instance", "live", "--credit", "5",
                               NULL};
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-echo", echo_args, NULL) > 0);
    assert_true(fixture_wait_registered(ctx->stack, "provisioner.echo", 2, WAIT_MS));
    json_t *exts = fixture_api_get(ctx->stack, "/extensions");
    json_t *list = json_object_get(exts, "provisioner.echo");
    size_t i;
    json_t *inst;
    json_array_foreach(list, i, inst) if (!strcmp(s_field(inst, "instance"), "black-hole"))
        assert_int_equal(json_integer_value(json_object_get(inst, "credit")), HOLE_CAP);
    json_decref(exts);

    const char *inject_args[] = {"--name", "provider.test", NULL};
    int in = -1;
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-inject", inject_args, &in) > 0);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "add-many svc %d\n", HOLE_SERVICES);
    assert_int_equal(test_write_text(in, cmd), 0);

    /* The hole: heartbeats, counts what it is given, answers nothing. */
    zhashx_t *given = zhashx_new(); /* service name -> "" */
    size_t items = 0, twice = 0, deployed = 0;
    int64_t start = zclock_mono(), deadline = start + 3 * HOLE_WIP_MS, beat = 0, check = 0;
    while (zclock_mono() < deadline) {
        int64_t now = zclock_mono();
        if (now - beat >= 50) {
            s_cmd(hole, ILP_HEARTBEAT);
            beat = now;
        }
        if (now - check >= 200) {
            check = now;
            if ((deployed = s_deployed(ctx)) == HOLE_SERVICES) break;
        }
        ilp_msg_t *msg = s_recv(hole, 20);
        if (msg && msg->cmd == ILP_WORK) {
            items++;
            if (zhashx_lookup(given, msg->service->name))
                twice++;
            else
                zhashx_insert(given, msg->service->name, "");
        }
        ilp_msg_destroy(&msg);
    }
    fprintf(stderr, "test: %zu of %d deployed after %lld ms; the hole was given %zu items\n",
            deployed, HOLE_SERVICES, (long long)(zclock_mono() - start), items);
    zhashx_destroy(&given);
    zsock_destroy(&hole);
    assert_true(items <= HOLE_CAP);
    assert_int_equal(twice, 0);
    assert_int_equal(deployed, HOLE_SERVICES);
    assert_true(s_metric(ctx, "interlook_work_expired_total") >= (double)items);
    assert_true(s_metric(ctx, "interlook_bus_credit_cut_total") == 1);
}

/* No cap on instances ------------------------------------------------------------ */

#define CAP_EXT   3
#define CAP_ALL   5
#define CAP_STORM 200

/* More instances than core.bus.maxInstancesPerExtension or maxInstances: the
 * last is DENIED with the limit named, whatever the number of peers; an
 * instance that leaves frees its place; a known instance's HELLO again
 * (credit update) is not a new one. */
static void test_instance_caps(void **state)
{
    char bus[160];
    snprintf(bus, sizeof bus,
             "heartbeat: 1s, liveness: 30, maxInstancesPerExtension: %d, maxInstances: %d", CAP_EXT,
             CAP_ALL);
    ctx_t *ctx = s_stack(state, bus, "  workflowSteps: provider.test,provisioner.echo\n");
    zsock_t *echo[CAP_EXT + 1], *prov[CAP_ALL - CAP_EXT + 1];
    char instance[32];
    for (int i = 0; i <= CAP_EXT; i++) {
        echo[i] = s_peer(ctx);
        snprintf(instance, sizeof instance, "echo-%d", i);
        if (i < CAP_EXT)
            s_expect_welcome(echo[i], "provisioner.echo", instance, 5);
        else
            s_expect_denied(echo[i], "provisioner.echo", instance,
                            "core.bus.maxInstancesPerExtension");
    }
    for (int i = 0; i <= CAP_ALL - CAP_EXT; i++) {
        prov[i] = s_peer(ctx);
        snprintf(instance, sizeof instance, "prov-%d", i);
        if (i < CAP_ALL - CAP_EXT)
            s_expect_welcome(prov[i], "provider.test", instance, 5);
        else
            s_expect_denied(prov[i], "provider.test", instance, "core.bus.maxInstances ");
    }
    s_expect_welcome(echo[0], "provisioner.echo", "echo-0", 7); /* known: not a new one */

    for (int i = 0; i < CAP_STORM; i++) {
        zsock_t *peer = s_peer(ctx);
        snprintf(instance, sizeof instance, "storm-%d", i);
        s_expect_denied(peer, i % 2 ? "provider.test" : "provisioner.echo", instance,
                        "core.bus.max");
        zsock_destroy(&peer);
    }
    assert_int_equal(s_instances(ctx, "provisioner.echo"), CAP_EXT);
    assert_int_equal(s_instances(ctx, "provider.test"), CAP_ALL - CAP_EXT);
    json_t *all = fixture_api_get(ctx->stack, "/extensions");
    char *text = json_dumps(all, 0);
    assert_true(strlen(text) < 4096); /* 5 instances, not 205 */
    free(text);
    json_decref(all);

    /* One leaves: its place is free again. */
    s_cmd(echo[1], ILP_BYE);
    s_expect_welcome(echo[CAP_EXT], "provisioner.echo", "echo-late", 5);
    assert_int_equal(s_instances(ctx, "provisioner.echo"), CAP_EXT);
    for (int i = 0; i <= CAP_EXT; i++)
        zsock_destroy(&echo[i]);
    for (int i = 0; i <= CAP_ALL - CAP_EXT; i++)
        zsock_destroy(&prov[i]);
}

/* Log floods --------------------------------------------------------------------- */

#define STORM_HELLOS 20000
#define STORM_EVENTS 5000

static bool s_refused(void *arg)
{
    s_wait_t *w = arg;
    return s_metric(w->ctx, "interlook_events_refused_total") >= (double)w->n;
}

static size_t s_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* 20,000 HELLOs from one peer, each as another instance (each one drops the
 * last and registers a new one: two log lines apiece, unthrottled, before),
 * then 5,000 EVENTs from that step (each refused with a warning, before):
 * the core's log grows by a bounded number of lines, every HELLO is
 * answered, every EVENT counted, and the core deploys a service afterwards. */
static void test_hello_storm(void **state)
{
    ctx_t *ctx = s_stack(state, "heartbeat: 1s, liveness: 10",
                         "  workflowSteps: provider.test,provisioner.echo\n"
                         "  checkFlowInterval: 50ms\n");
    char log[512];
    snprintf(log, sizeof log, "%s/core.log", fixture_dir(ctx->stack));
    zsock_t *peer = s_peer(ctx);
    s_expect_welcome(peer, "provisioner.echo", "warm-up", 5);
    size_t before = s_lines(log);
    int64_t start = zclock_mono();
    size_t answers = 0;
    char instance[32];
    for (int i = 0; i < STORM_HELLOS; i++) {
        snprintf(instance, sizeof instance, "storm-%d", i);
        s_hello(peer, "provisioner.echo", instance, 5);
        if (i % 200 == 199) /* read what came back, so that nothing piles up */
            for (ilp_msg_t *msg; (msg = s_recv(peer, 0)); ilp_msg_destroy(&msg))
                answers += msg->cmd == ILP_WELCOME;
    }
    int64_t end = zclock_mono() + WAIT_MS;
    while (answers < STORM_HELLOS && zclock_mono() < end) {
        ilp_msg_t *msg = s_recv(peer, 1000);
        if (msg) answers += msg->cmd == ILP_WELCOME;
        ilp_msg_destroy(&msg);
    }
    double seconds = (double)(zclock_mono() - start) / 1000;
    assert_int_equal(answers, STORM_HELLOS);
    size_t added = s_lines(log) - before;
    /* 20 lines a second and one saying how many more were suppressed, for
     * each of the broker's two budgets, over the storm and a second more. */
    size_t bound = (size_t)(2 * 21 * (seconds + 2));
    fprintf(stderr, "test: %d HELLOs in %.1f s added %zu log lines (bound %zu)\n", STORM_HELLOS,
            seconds, added, bound);
    assert_true(added <= bound);
    assert_true(added < 2000);

    /* EVENTs from a step, which only the provider sends: each is refused. */
    before = s_lines(log);
    start = zclock_mono();
    for (int i = 0; i < STORM_EVENTS; i++) {
        ilp_msg_t *msg = ilp_msg_new(ILP_EVENT);
        msg->action = ILP_ACTION_ADD;
        snprintf(instance, sizeof instance, "fake-%d", i);
        msg->service = il_service_new(instance);
        s_send(peer, msg);
        ilp_msg_destroy(&msg);
    }
    s_wait_t w = {ctx, NULL, STORM_EVENTS};
    assert_true(test_wait(s_refused, &w, WAIT_MS));
    seconds = (double)(zclock_mono() - start) / 1000;
    added = s_lines(log) - before;
    bound = (size_t)(21 * (seconds + 2));
    fprintf(stderr, "test: %d refused EVENTs in %.1f s added %zu log lines (bound %zu)\n",
            STORM_EVENTS, seconds, added, bound);
    assert_true(added <= bound);
    s_cmd(peer, ILP_BYE);
    zsock_destroy(&peer);

    /* The core works on. */
    const char *echo_args[] = {"--name", "provisioner.echo", NULL};
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-echo", echo_args, NULL) > 0);
    const char *inject_args[] = {"--name", "provider.test", NULL};
    int in = -1;
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-inject", inject_args, &in) > 0);
    assert_int_equal(test_write_text(in, "add after-storm 127.0.0.1:3001\n"), 0);
    w.name = "after-storm";
    assert_true(test_wait(s_entry_deployed, &w, WAIT_MS));
}

#define ERROR_RESULTS 3000

/* A step that answers every WORK with an error, as fast as the retries come
 * back (a short back-off): each failed step was a warning line before; now
 * the log grows by a bounded number of lines. */
static void test_error_flood(void **state)
{
    ctx_t *ctx = s_stack(state, "heartbeat: 1s, liveness: 10",
                         "  workflowSteps: provider.test,provisioner.echo\n"
                         "  checkFlowInterval: 10ms\n"
                         "  retryBackoffMin: 1ms\n"
                         "  retryBackoffMax: 2ms\n");
    char log[512];
    snprintf(log, sizeof log, "%s/core.log", fixture_dir(ctx->stack));
    zsock_t *step = s_peer(ctx);
    s_expect_welcome(step, "provisioner.echo", "erring", 100);
    size_t before = s_lines(log);
    const char *inject_args[] = {"--name", "provider.test", NULL};
    int in = -1;
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-inject", inject_args, &in) > 0);
    assert_int_equal(test_write_text(in, "add-many err 100\n"), 0);
    int64_t start = zclock_mono(), end = start + WAIT_MS;
    size_t answered = 0;
    while (answered < ERROR_RESULTS && zclock_mono() < end) {
        ilp_msg_t *msg = s_recv(step, 200);
        if (msg && msg->cmd == ILP_WORK) {
            ilp_msg_t *result = ilp_msg_new(ILP_RESULT);
            result->id = strdup(msg->id);
            result->error = strdup("no such thing");
            s_send(step, result);
            ilp_msg_destroy(&result);
            answered++;
        }
        ilp_msg_destroy(&msg);
    }
    double seconds = (double)(zclock_mono() - start) / 1000;
    assert_int_equal(answered, ERROR_RESULTS);
    s_cmd(step, ILP_BYE);
    zsock_destroy(&step);
    size_t added = s_lines(log) - before;
    /* The core's budget for lines bus input causes and the broker's two
     * (none of the 100 services is deployed: no line of that kind). */
    size_t bound = (size_t)(3 * 21 * (seconds + 2));
    fprintf(stderr, "test: %d error RESULTs in %.1f s added %zu log lines (bound %zu)\n",
            ERROR_RESULTS, seconds, added, bound);
    assert_true(added <= bound);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_provider_touches_only_its_own, s_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_black_hole, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_instance_caps, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_hello_storm, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_error_flood, s_setup, fixture_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
