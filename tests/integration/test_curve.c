/* CURVE on the bus with real processes: interlookd with core.bus.curve, keys
 * made by interlookctl keygen, extensions with --cert. An unknown key gets no
 * connection (the core logs it once, with the address), an allowed name
 * deploys end to end (inject -> ipalloc -> echo), a name the key may not use
 * is DENIED naming name and key, a key removed from clientCerts loses its
 * instance within the liveness and one added works without a restart, a SUB
 * without a key receives nothing, the Python peer (written from
 * docs/protocol.md) joins with --cert/--core-cert; and the safe default: a
 * bus beyond loopback without CURVE is refused (exit 2) unless
 * core.bus.insecure: true. */
#include "broker/ilp_cert.h"
#include "tests/support/fixture.h"
#include "tests/support/testutil.h"

#include <czmq.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define WAIT_MS      20000
#define HEARTBEAT_MS 100
#define LIVENESS     3

typedef struct {
    fixture_t *stack; /* first: fixture_teardown frees this */
    const char *dir, *config;
    char keys[600], clients[600];
    pid_t core, inject;
    int inject_in;
    const char *want; /* s_log_has */
    const char *log;  /* file name in dir */
} ctx_t;

static void s_keygen(ctx_t *ctx, const char *name, const char *extensions, bool allowed)
{
    char out[2048];
    int rc =
        test_run(out, sizeof out, "%s keygen '%s/%s' %s%s 2>&1", test_bin("interlookctl"),
                 ctx->keys, name, extensions ? "--extensions " : "", extensions ? extensions : "");
    if (rc != 0) fail_msg("keygen %s: %s", name, out);
    if (allowed)
        assert_int_equal(test_sh("cp '%s/%s' '%s/%s'", ctx->keys, name, ctx->clients, name), 0);
}

static const char *s_public_key(ctx_t *ctx, const char *name, char *key)
{
    char path[700], err[512];
    snprintf(path, sizeof path, "%s/%s", ctx->keys, name);
    ilp_cert_t cert;
    if (ilp_cert_load_public(&cert, path, err, sizeof err) != 0) fail_msg("%s", err);
    memcpy(key, cert.public_key, ILP_CERT_KEY_TXT + 1);
    ilp_cert_clear(&cert);
    return key;
}

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    fixture_opts_t opts = {.name = "test_curve",
                           .stop_signal = SIGKILL,
                           .bus = "heartbeat: 100ms, liveness: 3, curve: { coreCert: "
                                  "\"{dir}/keys/core\", clientCerts: \"{dir}/clients\" }"};
    ctx->stack = fixture_new(&opts);
    assert_non_null(ctx->stack);
    ctx->dir = fixture_dir(ctx->stack);
    ctx->config = fixture_config(ctx->stack);
    ctx->inject_in = -1;
    snprintf(ctx->keys, sizeof ctx->keys, "%s/keys", ctx->dir);
    snprintf(ctx->clients, sizeof ctx->clients, "%s/clients", ctx->dir);
    assert_int_equal(mkdir(ctx->keys, 0700), 0);
    assert_int_equal(mkdir(ctx->clients, 0755), 0);
    *state = ctx;
    s_keygen(ctx, "core", NULL, false);
    s_keygen(ctx, "inject", "provider.test", true);
    s_keygen(ctx, "ipalloc", "ipam.ipalloc", true);
    s_keygen(ctx, "echo", "provisioner.*", true);
    s_keygen(ctx, "watch", "none.none", true);
    s_keygen(ctx, "rogue", NULL, false);
    assert_int_equal(
        fixture_config_write(ctx->stack,
                             "  logLevel: debug\n"
                             "  workflowSteps: provider.test,ipam.ipalloc,provisioner.echo\n"
                             "  checkFlowInterval: 50ms\n"
                             "  workflowHousekeeperInterval: 200ms\n"
                             "  retryBackoffMin: 50ms\n"
                             "  retryBackoffMax: 200ms\n"
                             "  persistDelay: 20ms\n",
                             "ipam:\n"
                             "  ipalloc:\n"
                             "    db_file: {dir}/var/ipalloc.db\n"
                             "    network_cidr: 10.32.40.0/24\n"
                             "    curveCert: {dir}/keys/ipalloc\n"),
        0);
    return 0;
}

/* An extension of this build: -c CONFIG, then args, its output in log. */
static pid_t s_ext(ctx_t *ctx, const char *bin, const char *log, const char *const *args,
                   int *stdin_fd)
{
    const char *argv[16] = {"-c", ctx->config};
    int n = 2;
    for (int i = 0; args && args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fixture_spawn(ctx->stack, bin, argv, log, stdin_fd);
    assert_true(pid > 0);
    return pid;
}

static void s_start_core(ctx_t *ctx)
{
    ctx->core = fixture_start_core(ctx->stack, WAIT_MS);
    assert_true(ctx->core > 0);
}

static void s_start_inject(ctx_t *ctx)
{
    char cert[700];
    snprintf(cert, sizeof cert, "%s/inject", ctx->keys);
    const char *args[] = {"--name", "provider.test", "--cert", cert, NULL};
    ctx->inject = s_ext(ctx, "interlook-inject", "inject.log", args, &ctx->inject_in);
}

static pid_t s_start_echo(ctx_t *ctx, const char *key, const char *name, const char *log)
{
    char cert[700];
    snprintf(cert, sizeof cert, "%s/%s", ctx->keys, key);
    const char *args[] = {"--name", name, "--instance", log, "--cert", cert, NULL};
    return s_ext(ctx, "interlook-echo", log, args, NULL);
}

/* How many times text appears in the file name of the directory. */
static int s_count_in(ctx_t *ctx, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", ctx->dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0;
    char line[4096];
    while (fgets(line, sizeof line, f))
        if (strstr(line, text)) n++;
    fclose(f);
    return n;
}

static bool s_log_has(void *arg)
{
    ctx_t *ctx = arg;
    return s_count_in(ctx, ctx->log, ctx->want) > 0;
}

static void s_wait_log(ctx_t *ctx, const char *log, const char *text)
{
    ctx->log = log;
    ctx->want = text;
    if (!test_wait(s_log_has, ctx, WAIT_MS)) fail_msg("%s never said: %s", log, text);
}

static size_t s_instances(ctx_t *ctx, const char *name)
{
    json_t *exts = fixture_api_get(ctx->stack, "/extensions");
    size_t n = json_array_size(json_object_get(exts, name));
    json_decref(exts);
    return n;
}

typedef struct {
    ctx_t *ctx;
    const char *name;
    size_t n;
} s_count_t;

static bool s_instances_are(void *arg)
{
    s_count_t *c = arg;
    return s_instances(c->ctx, c->name) == c->n;
}

static bool s_wait_instances(ctx_t *ctx, const char *name, size_t n, int timeout_ms)
{
    s_count_t c = {ctx, name, n};
    return test_wait(s_instances_are, &c, timeout_ms);
}

static bool s_deployed(void *arg)
{
    ctx_t *ctx = arg;
    return test_entry_is(fixture_api(ctx->stack), "web1", "deployed", SIZE_MAX);
}

/* A socket (DEALER, or SUB subscribed to everything) with the key pair of
 * keys/NAME, and a monitor counting the events asked for (by default, the
 * handshakes the core refused). */
typedef struct {
    zsock_t *dealer;
    void *monitor;
    int refused; /* events seen */
    int type;    /* ZMQ_DEALER when 0 */
    int events;  /* ZMQ_EVENT_HANDSHAKE_FAILED_AUTH when 0 */
    int want;    /* s_raw_refused: events to wait for (1 when 0) */
} s_raw_t;

static void s_raw_open(ctx_t *ctx, s_raw_t *raw, const char *name, const char *endpoint)
{
    char path[700], err[512], core_key[ILP_CERT_KEY_TXT + 1];
    snprintf(path, sizeof path, "%s/%s", ctx->keys, name);
    ilp_cert_t own;
    if (ilp_cert_load_pair(&own, path, err, sizeof err) != 0) fail_msg("%s", err);
    raw->dealer = zsock_new(raw->type ? raw->type : ZMQ_DEALER);
    if (raw->type == ZMQ_SUB) zsock_set_subscribe(raw->dealer, "");
    zsock_set_curve_serverkey(raw->dealer, s_public_key(ctx, "core", core_key));
    zsock_set_curve_publickey(raw->dealer, own.public_key);
    zsock_set_curve_secretkey(raw->dealer, own.secret_key);
    zsock_set_reconnect_ivl(raw->dealer, 50);
    zsock_set_reconnect_ivl_max(raw->dealer, 50);
    static int made = 0;
    char monitor[64];
    snprintf(monitor, sizeof monitor, "inproc://monitor-%d", ++made);
    assert_int_equal(
        zmq_socket_monitor(zsock_resolve(raw->dealer), monitor,
                           raw->events ? raw->events : ZMQ_EVENT_HANDSHAKE_FAILED_AUTH),
        0);
    raw->monitor = zmq_socket(zsys_init(), ZMQ_PAIR);
    assert_int_equal(zmq_connect(raw->monitor, monitor), 0);
    assert_int_equal(zsock_connect(raw->dealer, "%s", endpoint), 0);
    ilp_cert_clear(&own);
}

static bool s_raw_refused(void *arg)
{
    s_raw_t *raw = arg;
    zmq_msg_t part;
    zmq_msg_init(&part);
    while (zmq_msg_recv(&part, raw->monitor, ZMQ_DONTWAIT) >= 0)
        if (!zmq_msg_more(&part)) raw->refused++; /* [event, endpoint] per event */
    zmq_msg_close(&part);
    return raw->refused >= (raw->want ? raw->want : 1);
}

static void s_raw_close(s_raw_t *raw)
{
    zmq_socket_monitor(zsock_resolve(raw->dealer), NULL, 0);
    zmq_close(raw->monitor);
    zsock_destroy(&raw->dealer);
}

/* A service deployed through CURVE end to end; interlookctl watch with a
 * key sees it; a SUB without a key sees nothing. */
static void test_curve_deploys(void **state)
{
    ctx_t *ctx = *state;
    s_start_core(ctx);
    /* A SUB without CURVE on the PUB endpoint, connected before anything is published. */
    zsock_t *plain = zsock_new_sub(fixture_publish(ctx->stack), "");
    assert_non_null(plain);
    zsock_set_rcvtimeo(plain, 0);
    char cert[700];
    snprintf(cert, sizeof cert, "%s/watch", ctx->keys);
    const char *watch_args[] = {"-c", ctx->config, "--cert", cert, "watch", NULL};
    assert_true(fixture_spawn(ctx->stack, "interlookctl", watch_args, "watch.log", NULL) > 0);
    /* The watcher's handshake done before anything is published (a SUB
     * subscribes right after it; what is published before is not its). */
    char wkey[ILP_CERT_KEY_TXT + 1], wline[256];
    snprintf(wline, sizeof wline, "CURVE key %s (watch) accepted",
             s_public_key(ctx, "watch", wkey));
    s_wait_log(ctx, "core.log", wline);
    s_start_inject(ctx);
    s_ext(ctx, "interlook-ipalloc", "ipalloc.log", NULL, NULL); /* ipam.ipalloc.curveCert */
    s_start_echo(ctx, "echo", "provisioner.echo", "echo.log");
    assert_true(fixture_wait_registered(ctx->stack, "provider.test", 1, WAIT_MS));
    assert_true(fixture_wait_registered(ctx->stack, "ipam.ipalloc", 1, WAIT_MS));
    assert_true(fixture_wait_registered(ctx->stack, "provisioner.echo", 1, WAIT_MS));
    assert_int_equal(test_write_text(ctx->inject_in, "add web1\n"), 0);
    if (!test_wait(s_deployed, ctx, WAIT_MS)) fail_msg("web1 not deployed over CURVE");
    s_wait_log(ctx, "watch.log", "web1 deployed");
    /* The core's publications reached the keyed watcher; not one reached the plain SUB. */
    zmsg_t *msg = zmsg_recv(plain);
    if (msg) fail_msg("a SUB without a key received a publication");
    zsock_destroy(&plain);
    /* Each accepted key logged once, with the peer's address. */
    char key[ILP_CERT_KEY_TXT + 1], line[256];
    snprintf(line, sizeof line, "CURVE key %s (ipalloc) accepted from 127.0.0.1",
             s_public_key(ctx, "ipalloc", key));
    assert_int_equal(s_count_in(ctx, "core.log", line), 1);
}

/* An unknown key gets no connection: nothing registers, the core logs the
 * refusal once with the address however often the peer tries. */
static void test_curve_unknown_key(void **state)
{
    ctx_t *ctx = *state;
    s_start_core(ctx);
    /* Three connections with that key (libzmq does not retry a refused
     * handshake by itself; a peer makes new sockets, as ilp_client does). */
    for (int i = 0; i < 3; i++) {
        s_raw_t raw = {0};
        s_raw_open(ctx, &raw, "rogue", fixture_router(ctx->stack));
        bool refused = test_wait(s_raw_refused, &raw, WAIT_MS);
        s_raw_close(&raw);
        if (!refused) fail_msg("the rogue key's handshake %d was not refused", i + 1);
    }
    char key[ILP_CERT_KEY_TXT + 1], line[256];
    snprintf(line, sizeof line, "CURVE key %s refused from 127.0.0.1",
             s_public_key(ctx, "rogue", key));
    assert_int_equal(s_count_in(ctx, "core.log", line), 1);

    /* An extension with that key never registers; the same line is all the core says. */
    s_start_echo(ctx, "rogue", "provisioner.echo", "rogue.log");
    s_start_echo(ctx, "echo", "provisioner.echo", "echo.log");
    assert_true(fixture_wait_registered(ctx->stack, "provisioner.echo", 1, WAIT_MS));
    json_t *exts = fixture_api_get(ctx->stack, "/extensions");
    json_t *list = json_object_get(exts, "provisioner.echo");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "instance")),
                        "echo.log");
    json_decref(exts);
    assert_int_equal(s_count_in(ctx, "core.log", line), 1);
    /* The refused side is told what happened: the extension logs it, watch exits 1. */
    s_wait_log(ctx, "rogue.log", "the core refused our CURVE key");
    char out[4096];
    int rc = test_run(out, sizeof out, "timeout 20 %s -c '%s' watch --cert '%s/rogue' 2>&1",
                      test_bin("interlookctl"), ctx->config, ctx->keys);
    assert_int_equal(rc, 1);
    if (!strstr(out, "the core refused our CURVE key")) fail_msg("watch: %s", out);
}

/* interlook_bus_denied_total of the core's /metrics reached 3. */
static bool s_denied_thrice(void *arg)
{
    ctx_t *ctx = arg;
    char url[256];
    snprintf(url, sizeof url, "%s/metrics", fixture_api(ctx->stack));
    long status = 0;
    char *text = test_http_get(url, &status);
    const char *at = text ? strstr(text, "\ninterlook_bus_denied_total ") : NULL;
    long long n = at ? atoll(at + strlen("\ninterlook_bus_denied_total ")) : 0;
    free(text);
    return n >= 3;
}

/* A known key saying HELLO as a name its certificate does not allow:
 * DENIED naming the name and the key; logged once. */
static void test_curve_wrong_name(void **state)
{
    ctx_t *ctx = *state;
    s_start_core(ctx);
    s_start_echo(ctx, "ipalloc", "provisioner.echo", "wrong.log");
    char key[ILP_CERT_KEY_TXT + 1], text[256];
    s_public_key(ctx, "ipalloc", key);
    snprintf(text, sizeof text,
             "denied provisioner.echo: key %s (ipalloc) may not register as "
             "'provisioner.echo'",
             key);
    s_wait_log(ctx, "wrong.log", text);
    assert_int_equal(s_instances(ctx, "provisioner.echo"), 0);
    snprintf(text, sizeof text, "HELLO as provisioner.echo from 127.0.0.1 denied: key %s", key);
    assert_int_equal(s_count_in(ctx, "core.log", text), 1);
    /* It retries with back-off; each HELLO is denied, the core says it once. */
    if (!test_wait(s_denied_thrice, ctx, WAIT_MS)) fail_msg("fewer than 3 HELLOs denied");
    assert_int_equal(s_count_in(ctx, "core.log", text), 1);
}

/* A key removed from clientCerts: its instance is gone within the
 * liveness; put back, the same process registers again, no restart. */
static void test_curve_key_removed_and_added(void **state)
{
    ctx_t *ctx = *state;
    s_start_core(ctx);
    pid_t echo = s_start_echo(ctx, "echo", "provisioner.echo", "echo.log");
    assert_true(fixture_wait_registered(ctx->stack, "provisioner.echo", 1, WAIT_MS));
    /* A subscriber with the watch key, its connection up (it receives). */
    s_raw_t sub = {.type = ZMQ_SUB,
                   .events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED,
                   .want = 1};
    s_raw_open(ctx, &sub, "watch", fixture_publish(ctx->stack));
    bool connected = test_wait(s_raw_refused, &sub, WAIT_MS);
    sub.want = 2; /* and then the end of that connection */
    char path[700], watch[700];
    snprintf(path, sizeof path, "%s/echo", ctx->clients);
    snprintf(watch, sizeof watch, "%s/watch", ctx->clients);
    int64_t removed = zclock_mono();
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(watch), 0);
    assert_true(s_wait_instances(ctx, "provisioner.echo", 0, WAIT_MS));
    int64_t took = zclock_mono() - removed;
    /* The broker re-reads the ring each heartbeat: within one liveness (and
     * the API poll's own time). */
    if (took > HEARTBEAT_MS * LIVENESS + 200)
        fail_msg("instance gone after %lld ms", (long long)took);
    /* The subscriber's connection is closed by the core, within the liveness too. */
    bool closed = test_wait(s_raw_refused, &sub, WAIT_MS);
    took = zclock_mono() - removed;
    s_raw_close(&sub);
    if (!connected) fail_msg("the keyed subscriber's handshake did not succeed");
    if (!closed) fail_msg("the subscriber of a removed key is still connected");
    if (took > HEARTBEAT_MS * LIVENESS + 200)
        fail_msg("subscriber closed after %lld ms", (long long)took);
    s_wait_log(ctx, "echo.log", "is not in core.bus.curve.clientCerts");
    /* Nothing comes back while the key is out. */
    s_wait_log(ctx, "core.log", "refused from 127.0.0.1: not in core.bus.curve.clientCerts");
    assert_int_equal(s_instances(ctx, "provisioner.echo"), 0);

    char from[700];
    snprintf(from, sizeof from, "%s/echo", ctx->keys);
    assert_int_equal(test_sh("cp '%s' '%s'", from, path), 0);
    assert_true(fixture_wait_registered(ctx->stack, "provisioner.echo", 1, WAIT_MS));
    assert_int_equal(kill(echo, 0), 0); /* the same process */
}

/* The Python peer, from docs/protocol.md: accepted with a good key,
 * refused (no connection) with an unknown one, DENIED with a wrong name. */
static void test_curve_python_peer(void **state)
{
    ctx_t *ctx = *state;
    s_start_core(ctx);
    const char *peer = "tests/peers/ilp_echo.py";
    assert_int_equal(access(peer, R_OK), 0);
    char core_cert[700], good[700], rogue[700], wrong[700];
    snprintf(core_cert, sizeof core_cert, "%s/core", ctx->keys);
    snprintf(good, sizeof good, "%s/echo", ctx->keys);
    snprintf(rogue, sizeof rogue, "%s/rogue", ctx->keys);
    snprintf(wrong, sizeof wrong, "%s/ipalloc", ctx->keys);
    const char *certs[] = {good, rogue, wrong};
    const char *logs[] = {"py-good.log", "py-rogue.log", "py-wrong.log"};
    for (int i = 0; i < 3; i++) {
        const char *args[] = {peer,
                              "--router",
                              fixture_router(ctx->stack),
                              "--publish",
                              fixture_publish(ctx->stack),
                              "--name",
                              "provisioner.echo",
                              "--instance",
                              logs[i],
                              "--core-cert",
                              core_cert,
                              "--cert",
                              certs[i],
                              NULL};
        assert_true(fixture_spawn(ctx->stack, "/usr/bin/python3", args, logs[i], NULL) > 0);
    }
    assert_true(fixture_wait_registered(ctx->stack, "provisioner.echo", 1, WAIT_MS));
    s_wait_log(ctx, "py-rogue.log", "CURVE handshake refused by the core");
    s_wait_log(ctx, "py-wrong.log", "DENIED: key");
    assert_true(s_count_in(ctx, "py-wrong.log", "may not register as 'provisioner.echo'") > 0);
    json_t *exts = fixture_api_get(ctx->stack, "/extensions");
    json_t *list = json_object_get(exts, "provisioner.echo");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "instance")),
                        "py-good.log");
    json_decref(exts);
    /* The good one does the work. */
    s_start_inject(ctx);
    s_ext(ctx, "interlook-ipalloc", "ipalloc.log", NULL, NULL);
    assert_int_equal(test_write_text(ctx->inject_in, "add web1\n"), 0);
    if (!test_wait(s_deployed, ctx, WAIT_MS)) fail_msg("web1 not deployed by the Python peer");
}

/* An extension configured without a key of its own on a CURVE bus: a clear
 * refusal at start (exit 2), as for a missing secret file. */
static void test_curve_extension_without_key(void **state)
{
    ctx_t *ctx = *state;
    char out[4096];
    int rc = test_run(out, sizeof out, "%s -c '%s' 2>&1", test_bin("interlook-echo"), ctx->config);
    assert_int_equal(rc, 2);
    if (!strstr(out, "--cert FILE") || !strstr(out, "provisioner.echo.curveCert"))
        fail_msg("no clear refusal: %s", out);
    rc = test_run(out, sizeof out, "%s -c '%s' --cert '%s/none' 2>&1", test_bin("interlook-echo"),
                  ctx->config, ctx->keys);
    assert_int_equal(rc, 2);
    if (!strstr(out, "none_secret")) fail_msg("the missing file not named: %s", out);
    rc = test_run(out, sizeof out, "%s -c '%s' watch 2>&1", test_bin("interlookctl"), ctx->config);
    assert_int_equal(rc, 2);
    if (!strstr(out, "--cert")) fail_msg("watch: no clear refusal: %s", out);
    /* A secret file in clientCerts is refused by name; the core starts without it. */
    assert_int_equal(test_sh("cp '%s/rogue_secret' '%s/'", ctx->keys, ctx->clients), 0);
    s_start_core(ctx);
    s_wait_log(ctx, "core.log", "rogue_secret: a secret key in core.bus.curve.clientCerts");
}

/* The safe default: a bus beyond loopback without CURVE does not start. */
static void test_insecure_refused(void **state)
{
    ctx_t *ctx = *state;
    char path[700], out[4096];
    snprintf(path, sizeof path, "%s/insecure.yml", ctx->dir);
    assert_int_equal(test_write_file(path, "core:\n"
                                           "  listen: 127.0.0.1:0\n"
                                           "  workflowSteps: provider.test\n"
                                           "  bus: { router: \"tcp://0.0.0.0:0\", publish: "
                                           "\"tcp://127.0.0.1:0\" }\n"),
                     0);
    int rc = test_run(out, sizeof out, "cd '%s' && %s -c '%s' 2>&1", ctx->dir,
                      test_bin("interlookd"), path);
    assert_int_equal(rc, 2);
    if (!strstr(out, "core.bus.router 'tcp://0.0.0.0:0'") || !strstr(out, "core.bus.curve") ||
        !strstr(out, "core.bus.insecure: true"))
        fail_msg("refusal without its reason: %s", out);
}

/* core.bus.insecure: true lets it start beyond loopback. */
static void test_insecure_opt_out(void **state)
{
    (void)state;
    fixture_opts_t opts = {.name = "test_curve",
                           .router = "tcp://0.0.0.0:*",
                           .publish = "tcp://127.0.0.1:*",
                           .bus = "heartbeat: 100ms, liveness: 3, insecure: true"};
    fixture_t *stack = fixture_new(&opts);
    assert_non_null(stack);
    assert_int_equal(fixture_config_write(stack, "  workflowSteps: provider.test\n", NULL), 0);
    pid_t core = fixture_start_core(stack, WAIT_MS);
    fixture_destroy(&stack);
    assert_true(core > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_curve_deploys, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_curve_unknown_key, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_curve_wrong_name, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_curve_key_removed_and_added, s_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_curve_python_peer, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_curve_extension_without_key, s_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_insecure_refused, s_setup, fixture_teardown),
        cmocka_unit_test(test_insecure_opt_out),
    };
    return test_run_group(tests, NULL, NULL);
}
