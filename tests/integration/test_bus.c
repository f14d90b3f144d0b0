/* Bus tests over real TCP loopback sockets: a broker in this process, real
 * interlook-echo processes and raw ZeroMQ sockets as extensions. */
#include "broker/broker.h"
#include "broker/ilp_frame.h"
#include "broker/ilp_pub.h"
#include "common/codec.h"
#include "common/log.h"
#include "tests/support/testutil.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define HB_MS   100
#define WAIT_MS 10000

typedef struct {
    zloop_t *loop;
    broker_t *broker;
    char router[64];
    char publish[64];
    zhashx_t *results; /* work id -> instance that answered */
    size_t result_errors;
    size_t events;
    char last_event[256];
    size_t want; /* for conditions */
    const char *ext;
    pid_t pids[4];
} ctx_t;

static void s_on_result(void *arg, const char *work_id, const char *extension, const char *instance,
                        const char *error, il_service_t **service_p)
{
    (void)extension;
    ctx_t *ctx = arg;
    if (error || !*service_p) ctx->result_errors++;
    zhashx_update(ctx->results, work_id, strdup(instance));
}

static void s_on_event(void *arg, const char *extension, const char *instance, ilp_action_t action,
                       il_service_t **service_p)
{
    (void)extension;
    (void)instance;
    ctx_t *ctx = arg;
    ctx->events++;
    snprintf(ctx->last_event, sizeof ctx->last_event, "%s %s", ilp_action_name(action),
             (*service_p)->name);
}

static const char *const s_exts[] = {"provisioner.echo", "provider.test", NULL};

static broker_t *s_broker(ctx_t *ctx, const char *router, const char *publish)
{
    broker_config_t cfg = {.router_endpoint = router,
                           .publish_endpoint = publish,
                           .heartbeat_ms = HB_MS,
                           .liveness = 3,
                           .extensions = s_exts};
    broker_handler_t handler = {.event = s_on_event, .result = s_on_result};
    broker_t *broker = broker_new(&cfg, &handler, ctx);
    if (broker) broker_attach(broker, ctx->loop);
    return broker;
}

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    ctx->loop = zloop_new();
    ctx->results = zhashx_new();
    zhashx_set_destructor(ctx->results, (zhashx_destructor_fn *)zstr_free);
    ctx->broker = s_broker(ctx, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
    assert_non_null(ctx->broker);
    snprintf(ctx->router, sizeof ctx->router, "%s", broker_router_endpoint(ctx->broker));
    snprintf(ctx->publish, sizeof ctx->publish, "%s", broker_publish_endpoint(ctx->broker));
    *state = ctx;
    return 0;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    for (int i = 0; i < 4; i++)
        if (ctx->pids[i] > 0) test_stop(ctx->pids[i], SIGKILL, 2000);
    broker_destroy(&ctx->broker);
    zloop_destroy(&ctx->loop);
    zhashx_destroy(&ctx->results);
    free(ctx);
    return 0;
}

static pid_t s_echo(ctx_t *ctx, const char *instance, const char *credit, const char *delay)
{
    const char *args[] = {"--router",    ctx->router, "--publish", ctx->publish, "--instance",
                          instance,      "--credit",  credit,      "--delay",    delay,
                          "--log-level", "debug",     NULL};
    pid_t pid = test_spawn("interlook-echo", args);
    assert_true(pid > 0);
    return pid;
}

static bool s_instances(void *arg)
{
    ctx_t *ctx = arg;
    return broker_instance_count(ctx->broker, ctx->ext) == ctx->want;
}

static bool s_results(void *arg)
{
    ctx_t *ctx = arg;
    return zhashx_size(ctx->results) >= ctx->want;
}

static bool s_events(void *arg)
{
    ctx_t *ctx = arg;
    return ctx->events >= ctx->want;
}

static void s_wait_instances(ctx_t *ctx, const char *ext, size_t n)
{
    ctx->ext = ext;
    ctx->want = n;
    assert_true(test_loop_until(ctx->loop, s_instances, ctx, WAIT_MS));
}

static void s_wait_results(ctx_t *ctx, size_t n)
{
    ctx->want = n;
    assert_true(test_loop_until(ctx->loop, s_results, ctx, WAIT_MS));
}

static void s_dispatch(ctx_t *ctx, const char *id, const char *name)
{
    il_service_t *svc = il_service_new(name);
    il_service_add_target(svc, "10.0.0.1", 80, 1);
    assert_int_equal(broker_dispatch(ctx->broker, id, "provisioner.echo", ILP_ACTION_ADD, 1, svc),
                     0);
    il_service_destroy(&svc);
}

/* A raw DEALER that speaks ILP/1 by hand, as a peer in another language would. */
static zsock_t *s_raw(ctx_t *ctx)
{
    zsock_t *sock = zsock_new_dealer(ctx->router);
    assert_non_null(sock);
    zsock_set_rcvtimeo(sock, 0);
    return sock;
}

static void s_raw_send(zsock_t *sock, const char *cmd, const void *body, size_t size)
{
    zmsg_t *zmsg = zmsg_new();
    zmsg_addstr(zmsg, ILP_SIGNATURE);
    zmsg_addstr(zmsg, cmd);
    zmsg_addmem(zmsg, body, size);
    assert_int_equal(zmsg_send(&zmsg, sock), 0);
}

typedef struct {
    zsock_t *sock;
    zmsg_t *msg;
} s_recv_t;

static bool s_raw_ready(void *arg)
{
    s_recv_t *recv = arg;
    if (!recv->msg && (zsock_events(recv->sock) & ZMQ_POLLIN)) recv->msg = zmsg_recv(recv->sock);
    return recv->msg != NULL;
}

/* Runs the broker until the raw socket gets a message, and decodes it. */
static ilp_msg_t *s_raw_recv(ctx_t *ctx, zsock_t *sock)
{
    s_recv_t recv = {sock, NULL};
    if (!test_loop_until(ctx->loop, s_raw_ready, &recv, WAIT_MS)) return NULL;
    char err[256];
    ilp_msg_t *msg = ilp_msg_decode(recv.msg, err, sizeof err);
    zmsg_destroy(&recv.msg);
    return msg;
}

static void s_pack_hello(msgpack_sbuffer *buf, const char *name, const char *instance)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    il_codec_pack_key_str(&pk, "name", name);
    il_codec_pack_key_str(&pk, "instance", instance);
    il_codec_pack_key_uint(&pk, "credit", 5);
}

/* Tests ------------------------------------------------------------------------ */

static void test_hello_welcome(void **state)
{
    ctx_t *ctx = *state;
    zsock_t *raw = s_raw(ctx);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    s_pack_hello(&buf, "provider.test", "raw-1");
    s_raw_send(raw, "HELLO", buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    ilp_msg_t *msg = s_raw_recv(ctx, raw);
    assert_non_null(msg);
    assert_int_equal(msg->cmd, ILP_WELCOME);
    assert_int_equal(msg->heartbeat_ms, HB_MS);
    assert_int_equal(msg->liveness, 3);
    assert_string_equal(msg->core_id, broker_core_id(ctx->broker));
    ilp_msg_destroy(&msg);
    assert_int_equal(broker_instance_count(ctx->broker, "provider.test"), 1);

    /* An EVENT from the registered provider reaches the core. */
    ilp_msg_t event = {.cmd = ILP_EVENT, .action = ILP_ACTION_ADD};
    event.service = il_service_new("web");
    assert_int_equal(ilp_msg_send(&event, raw, NULL), 0);
    il_service_destroy(&event.service);
    ctx->want = 1;
    assert_true(test_loop_until(ctx->loop, s_events, ctx, WAIT_MS));
    assert_string_equal(ctx->last_event, "add web");

    /* The echo binary registers too. */
    ctx->pids[0] = s_echo(ctx, "echo-a", "10", "0");
    s_wait_instances(ctx, "provisioner.echo", 1);
    zsock_destroy(&raw);
}

static void test_denied_unknown_name(void **state)
{
    ctx_t *ctx = *state;
    zsock_t *raw = s_raw(ctx);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    s_pack_hello(&buf, "dns.nowhere", "raw-2");
    s_raw_send(raw, "HELLO", buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    ilp_msg_t *msg = s_raw_recv(ctx, raw);
    assert_non_null(msg);
    assert_int_equal(msg->cmd, ILP_DENIED);
    assert_non_null(strstr(msg->reason, "dns.nowhere"));
    ilp_msg_destroy(&msg);
    assert_int_equal(broker_stats(ctx->broker)->denied, 1);
    assert_int_equal(broker_instance_count(ctx->broker, NULL), 0);

    /* Not registered: anything but HELLO gets ERROR, so the peer knows to say HELLO. */
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 0);
    s_raw_send(raw, "HEARTBEAT", buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    msg = s_raw_recv(ctx, raw);
    assert_non_null(msg);
    assert_int_equal(msg->cmd, ILP_ERROR);
    assert_non_null(strstr(msg->reason, "HELLO"));
    ilp_msg_destroy(&msg);
    zsock_destroy(&raw);
}

static void test_work_round_trip(void **state)
{
    ctx_t *ctx = *state;
    ctx->pids[0] = s_echo(ctx, "echo-a", "50", "0");
    s_wait_instances(ctx, "provisioner.echo", 1);
    /* Dispatched before and after registration alike: 200 items, credit 50. */
    char id[32], name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "w-%d", i);
        snprintf(name, sizeof name, "svc-%d", i);
        s_dispatch(ctx, id, name);
    }
    s_wait_results(ctx, 200);
    assert_int_equal(ctx->result_errors, 0);
    assert_int_equal(broker_stats(ctx->broker)->results, 200);
    assert_false(broker_outstanding(ctx->broker, "w-0"));
}

static void test_work_queued_until_instance(void **state)
{
    ctx_t *ctx = *state;
    s_dispatch(ctx, "early-1", "svc-early");
    assert_true(broker_outstanding(ctx->broker, "early-1"));
    ctx->pids[0] = s_echo(ctx, "echo-late", "1", "0");
    s_wait_results(ctx, 1);
    assert_string_equal(zhashx_lookup(ctx->results, "early-1"), "echo-late");
}

static void test_two_instances_share_load(void **state)
{
    ctx_t *ctx = *state;
    ctx->pids[0] = s_echo(ctx, "echo-a", "2", "50ms");
    ctx->pids[1] = s_echo(ctx, "echo-b", "2", "50ms");
    s_wait_instances(ctx, "provisioner.echo", 2);
    char id[32];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "share-%d", i);
        s_dispatch(ctx, id, id);
    }
    s_wait_results(ctx, 40);
    size_t by_a = 0, by_b = 0;
    for (char *inst = zhashx_first(ctx->results); inst; inst = zhashx_next(ctx->results)) {
        if (!strcmp(inst, "echo-a")) by_a++;
        if (!strcmp(inst, "echo-b")) by_b++;
    }
    assert_int_equal(by_a + by_b, 40);
    /* credit 2 each, 50 ms per item: each must have taken a real share */
    assert_true(by_a >= 10 && by_b >= 10);
}

static void test_instance_killed_mid_work(void **state)
{
    ctx_t *ctx = *state;
    ctx->pids[0] = s_echo(ctx, "echo-slow", "1", "60s");
    s_wait_instances(ctx, "provisioner.echo", 1);
    s_dispatch(ctx, "held", "svc-held");
    /* The slow instance holds it; a fast one joins, then the slow one dies. */
    ctx->pids[1] = s_echo(ctx, "echo-fast", "1", "0");
    s_wait_instances(ctx, "provisioner.echo", 2);
    assert_true(broker_outstanding(ctx->broker, "held"));
    assert_int_equal(zhashx_size(ctx->results), 0);
    test_stop(ctx->pids[0], SIGKILL, 2000);
    ctx->pids[0] = 0;
    s_wait_results(ctx, 1);
    assert_string_equal(zhashx_lookup(ctx->results, "held"), "echo-fast");
    assert_int_equal(broker_stats(ctx->broker)->work_redispatched, 1);
    assert_int_equal(broker_stats(ctx->broker)->instances_dead, 1);
}

static void test_core_restart(void **state)
{
    ctx_t *ctx = *state;
    /* The new broker binds the very endpoints the first one got. */
    char router[64], publish[64];
    snprintf(router, sizeof router, "%s", ctx->router);
    snprintf(publish, sizeof publish, "%s", ctx->publish);
    ctx->pids[0] = s_echo(ctx, "echo-a", "5", "0");
    s_wait_instances(ctx, "provisioner.echo", 1);
    char first_core[64];
    snprintf(first_core, sizeof first_core, "%s", broker_core_id(ctx->broker));

    broker_detach(ctx->broker, ctx->loop);
    broker_destroy(&ctx->broker);
    /* zmq closes the old listener asynchronously: retry the bind, bounded. */
    int64_t deadline = zclock_mono() + WAIT_MS;
    while (!(ctx->broker = s_broker(ctx, router, publish)) && zclock_mono() < deadline)
        zclock_sleep(10);
    assert_non_null(ctx->broker);
    assert_string_not_equal(first_core, broker_core_id(ctx->broker));
    /* The extension was not restarted: it registers again by itself. */
    s_wait_instances(ctx, "provisioner.echo", 1);
    s_dispatch(ctx, "after-restart", "svc");
    s_wait_results(ctx, 1);
    assert_int_equal(ctx->result_errors, 0);
}

typedef struct {
    const char *what;
    int frames; /* 3: signature, command, body as given */
    const char *sig;
    const char *cmd;
    const char *body; /* raw bytes */
    size_t body_len;
    bool answered; /* an ERROR comes back */
} s_garbage_t;

static void test_garbage_frames(void **state)
{
    ctx_t *ctx = *state;
    static const s_garbage_t cases[] = {
        {"one frame", 1, "ILP1", NULL, NULL, 0, true},
        {"wrong signature", 3, "ILP9", "HELLO", "\x80", 1, true},
        {"unknown command", 3, "ILP1", "FROB", "\x80", 1, true},
        {"body not a map", 3, "ILP1", "HELLO", "\x93\x01\x02\x03", 4, true},
        {"truncated body", 3, "ILP1", "HELLO", "\x82\xa4name", 6, true},
        {"huge array header", 3, "ILP1", "HELLO", "\xdd\xff\xff\xff\xff", 5, true},
        {"huge map header", 3, "ILP1", "HELLO", "\xdf\x01\x00\x00\x00", 5, true},
        {"trailing bytes", 3, "ILP1", "HEARTBEAT", "\x80\x80", 2, true},
        {"never-used byte", 3, "ILP1", "HELLO", "\xc1", 1, true},
        {"name not a string", 3, "ILP1", "HELLO", "\x82\xa4name\x05\xa8instance\xa1x", 18, true},
        {"empty body", 3, "ILP1", "HELLO", "", 0, true},
        {"core-side command", 3, "ILP1", "WORK", "\x80", 1, true},
    };
    size_t n = sizeof cases / sizeof cases[0];
    zsock_t *raw = s_raw(ctx);
    for (size_t i = 0; i < n; i++) {
        zmsg_t *zmsg = zmsg_new();
        zmsg_addstr(zmsg, cases[i].sig);
        if (cases[i].frames == 3) {
            zmsg_addstr(zmsg, cases[i].cmd);
            zmsg_addmem(zmsg, cases[i].body, cases[i].body_len);
        }
        assert_int_equal(zmsg_send(&zmsg, raw), 0);
        ilp_msg_t *msg = s_raw_recv(ctx, raw);
        if (!msg) fail_msg("no answer to: %s", cases[i].what);
        assert_int_equal(msg->cmd, ILP_ERROR);
        ilp_msg_destroy(&msg);
    }
    assert_int_equal(broker_stats(ctx->broker)->malformed, n);

    /* A frame above the size limit: the sender is disconnected, the broker serves on. */
    zsock_t *big = s_raw(ctx);
    size_t size = IL_CODEC_MAX_FRAME + 1000;
    char *blob = calloc(1, size);
    s_raw_send(big, "HELLO", blob, size);
    free(blob);

    ctx->pids[0] = s_echo(ctx, "echo-a", "5", "0");
    s_wait_instances(ctx, "provisioner.echo", 1);
    s_dispatch(ctx, "after-garbage", "svc");
    s_wait_results(ctx, 1);
    assert_int_equal(ctx->result_errors, 0);
    zsock_destroy(&big);
    zsock_destroy(&raw);
}

/* The extension side facing a core that sends garbage: it must keep working. */
static void test_client_survives_garbage(void **state)
{
    ctx_t *ctx = *state;
    broker_destroy(&ctx->broker);
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    int port = zsock_bind(router, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    zsock_t *pub = zsock_new(ZMQ_PUB);
    int pport = zsock_bind(pub, "tcp://127.0.0.1:*");
    snprintf(ctx->router, sizeof ctx->router, "tcp://127.0.0.1:%d", port);
    snprintf(ctx->publish, sizeof ctx->publish, "tcp://127.0.0.1:%d", pport);
    ctx->pids[0] = s_echo(ctx, "echo-a", "5", "0");
    zsock_set_rcvtimeo(router, WAIT_MS);
    zmsg_t *hello = zmsg_recv(router);
    assert_non_null(hello);
    zframe_t *rid = zmsg_pop(hello);
    char err[256];
    ilp_msg_t *msg = ilp_msg_decode(hello, err, sizeof err);
    assert_non_null(msg);
    assert_int_equal(msg->cmd, ILP_HELLO);
    assert_string_equal(msg->name, "provisioner.echo");
    ilp_msg_destroy(&msg);
    zmsg_destroy(&hello);

    static const char *bodies[] = {"\xdd\xff\xff\xff\xff", "\xc1", "\x80\x80", "\x91\x01"};
    for (size_t i = 0; i < 4; i++) {
        zmsg_t *bad = zmsg_new();
        zframe_t *copy = zframe_dup(rid);
        zmsg_append(bad, &copy);
        zmsg_addstr(bad, ILP_SIGNATURE);
        zmsg_addstr(bad, i % 2 ? "WORK" : "WELCOME");
        zmsg_addmem(bad, bodies[i], strlen(bodies[i]) ? strlen(bodies[i]) : 1);
        zmsg_send(&bad, router);
    }
    zmsg_t *junk = zmsg_new();
    zframe_t *copy = zframe_dup(rid);
    zmsg_append(junk, &copy);
    zmsg_addstr(junk, "garbage");
    zmsg_send(&junk, router);
    zmsg_t *pjunk = zmsg_new();
    zmsg_addstr(pjunk, "refresh.provisioner.echo");
    zmsg_addmem(pjunk, "\xdd\xff\xff\xff\xff", 5);
    zmsg_send(&pjunk, pub);

    ilp_msg_t welcome = {
        .cmd = ILP_WELCOME, .heartbeat_ms = 1000, .liveness = 3, .core_id = "fake"};
    assert_int_equal(ilp_msg_send(&welcome, router, rid), 0);
    ilp_msg_t work = {.cmd = ILP_WORK, .id = "w1", .action = ILP_ACTION_ADD, .attempt = 1};
    work.service = il_service_new("svc");
    assert_int_equal(ilp_msg_send(&work, router, rid), 0);
    il_service_destroy(&work.service);
    /* The echo is alive and answers the valid WORK. */
    ilp_msg_t *result = NULL;
    int64_t deadline = zclock_mono() + WAIT_MS;
    while (!result && zclock_mono() < deadline) {
        zmsg_t *in = zmsg_recv(router);
        if (!in) break;
        zframe_t *from = zmsg_pop(in);
        zframe_destroy(&from);
        ilp_msg_t *m = ilp_msg_decode(in, err, sizeof err);
        zmsg_destroy(&in);
        if (m && m->cmd == ILP_RESULT)
            result = m;
        else
            ilp_msg_destroy(&m);
    }
    assert_non_null(result);
    assert_string_equal(result->id, "w1");
    assert_null(result->error);
    assert_string_equal(result->service->name, "svc");
    ilp_msg_destroy(&result);
    zframe_destroy(&rid);
    zsock_destroy(&router);
    zsock_destroy(&pub);
}

static bool s_state_listened(void *arg)
{
    ctx_t *ctx = arg;
    return broker_has_subscriber(ctx->broker, "state") == (ctx->want != 0);
}

/* The broker knows whether anyone listens to a topic (XPUB), so that it can
 * skip building publications nobody would receive. */
static void test_knows_subscribers(void **state)
{
    ctx_t *ctx = *state;
    assert_false(broker_has_subscriber(ctx->broker, "state"));
    zsock_t *sub = zsock_new_sub(ctx->publish, "state");
    assert_non_null(sub);
    ctx->want = 1;
    assert_true(test_loop_until(ctx->loop, s_state_listened, ctx, WAIT_MS));
    assert_false(broker_has_subscriber(ctx->broker, "refresh.provider.test"));
    zsock_destroy(&sub);
    ctx->want = 0;
    assert_true(test_loop_until(ctx->loop, s_state_listened, ctx, WAIT_MS));
}

/* Runs the broker until sub gets a message; returns it (NULL: none came). */
static zmsg_t *s_sub_recv(ctx_t *ctx, zsock_t *sub)
{
    s_recv_t recv = {sub, NULL};
    return test_loop_until(ctx->loop, s_raw_ready, &recv, WAIT_MS) ? recv.msg : NULL;
}

static bool s_changes_listened(void *arg)
{
    ctx_t *ctx = arg;
    return broker_wants_states(ctx->broker) == (ctx->want > 0);
}

/* "changes": what was published between two flushes, in one message, only
 * while someone subscribes to it; "state" subscribers get one message each. */
static void test_changes_publication(void **state)
{
    ctx_t *ctx = *state;
    assert_false(broker_wants_states(ctx->broker));
    zsock_t *sub = zsock_new_sub(ctx->publish, ILP_TOPIC_CHANGES);
    assert_non_null(sub);
    zsock_set_rcvtimeo(sub, 0);
    ctx->want = 1;
    assert_true(test_loop_until(ctx->loop, s_changes_listened, ctx, WAIT_MS));
    assert_false(broker_has_subscriber(ctx->broker, "state"));
    const char *svc = "\x81\xa4name\xa3web"; /* {name: "web"} */
    assert_int_equal(broker_publish_state(ctx->broker, svc, 10, "noop.a", "deployed", NULL), 0);
    assert_int_equal(broker_publish_state(ctx->broker, svc, 10, "deployed", "deployed", NULL), 0);
    broker_publish_flush(ctx->broker);
    broker_publish_flush(ctx->broker); /* nothing more: no empty publication */
    zmsg_t *msg = s_sub_recv(ctx, sub);
    assert_non_null(msg);
    char *topic = NULL, err[256];
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    zframe_t *body = ilp_pub_decode(msg, &topic, &up, err, sizeof err);
    assert_non_null(body);
    assert_string_equal(topic, "changes");
    assert_int_equal(up.data.via.array.size, 2);
    const msgpack_object *second = il_codec_map_get(&up.data.via.array.ptr[1], "state");
    assert_non_null(second);
    assert_int_equal(second->via.str.size, 8);
    assert_memory_equal(second->via.str.ptr, "deployed", 8);
    msgpack_unpacked_destroy(&up);
    zframe_destroy(&body);
    free(topic);
    zmsg_destroy(&msg);
    assert_int_equal(broker_stats(ctx->broker)->published, 2); /* "core started" + this one */
    zsock_destroy(&sub);
    ctx->want = 0;
    assert_true(test_loop_until(ctx->loop, s_changes_listened, ctx, WAIT_MS));
}

/* Batches (ILP section 2.3): items of one message, handled one by one. */
typedef struct {
    char ids[64][ILP_MAX_ID + 1];
    int n;
    int bad;
} s_items_t;

static void s_collect(void *arg, ilp_msg_t *msg, const char *why, const char *id)
{
    (void)why;
    (void)id;
    s_items_t *items = arg;
    if (!msg || msg->cmd != ILP_WORK || items->n == 64) {
        items->bad++;
        return;
    }
    snprintf(items->ids[items->n++], ILP_MAX_ID + 1, "%s", msg->id);
}

/* Runs the broker until the raw socket gets a message; its items into items.
 * Returns how many items it had (-1: none came or it did not decode). */
static int s_raw_recv_items(ctx_t *ctx, zsock_t *sock, s_items_t *items)
{
    s_recv_t recv = {sock, NULL};
    if (!test_loop_until(ctx->loop, s_raw_ready, &recv, WAIT_MS)) return -1;
    ilp_frame_t frames[3];
    size_t n = 0;
    for (zframe_t *f = zmsg_first(recv.msg); f && n < 3; f = zmsg_next(recv.msg))
        frames[n++] = (ilp_frame_t){zframe_data(f), zframe_size(f)};
    char err[256];
    int before = items->n;
    int rc = ilp_msg_decode_batch(frames, zmsg_size(recv.msg), NULL, 0, s_collect, items, err,
                                  sizeof err);
    zmsg_destroy(&recv.msg);
    return rc < 0 ? -1 : items->n - before;
}

static void s_pack_result(msgpack_packer *pk, const char *id, const char *name)
{
    msgpack_pack_map(pk, 2);
    il_codec_pack_key_str(pk, "id", id);
    il_codec_pack_str(pk, "service");
    msgpack_pack_map(pk, 1);
    il_codec_pack_key_str(pk, "name", name);
}

static void test_batches(void **state)
{
    ctx_t *ctx = *state;
    char id[32];
    for (int i = 0; i < 40; i++) { /* queued: no instance yet */
        snprintf(id, sizeof id, "b-%d", i);
        s_dispatch(ctx, id, id);
    }
    /* An instance that takes batches of 10, 25 at once. */
    zsock_t *raw = s_raw(ctx);
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    il_codec_pack_key_str(&pk, "name", "provisioner.echo");
    il_codec_pack_key_str(&pk, "instance", "raw-batch");
    il_codec_pack_key_uint(&pk, "credit", 25);
    il_codec_pack_key_uint(&pk, "batch", 10);
    s_raw_send(raw, "HELLO", buf.data, buf.size);
    ilp_msg_t *msg = s_raw_recv(ctx, raw);
    assert_non_null(msg);
    assert_int_equal(msg->cmd, ILP_WELCOME);
    assert_int_equal(msg->batch, ILP_MAX_BATCH); /* the core takes batches too */
    ilp_msg_destroy(&msg);
    /* The queued work leaves in batches of 10 until the credit is used. */
    s_items_t items = {0};
    assert_int_equal(s_raw_recv_items(ctx, raw, &items), 10);
    assert_int_equal(s_raw_recv_items(ctx, raw, &items), 10);
    assert_int_equal(s_raw_recv_items(ctx, raw, &items), 5);
    assert_int_equal(items.bad, 0);
    for (int i = 0; i < 25; i++) { /* in order */
        snprintf(id, sizeof id, "b-%d", i);
        assert_string_equal(items.ids[i], id);
    }
    /* All 25 answered in one message; item 3's service has no name. */
    msgpack_sbuffer_clear(&buf);
    msgpack_pack_array(&pk, 25);
    for (int i = 0; i < 25; i++) {
        if (i == 3) {
            msgpack_pack_map(&pk, 2);
            il_codec_pack_key_str(&pk, "id", items.ids[i]);
            il_codec_pack_str(&pk, "service");
            msgpack_pack_map(&pk, 0);
        } else {
            s_pack_result(&pk, items.ids[i], items.ids[i]);
        }
    }
    s_raw_send(raw, "RESULT", buf.data, buf.size);
    s_wait_results(ctx, 24);
    msg = s_raw_recv(ctx, raw);
    assert_non_null(msg);
    assert_int_equal(msg->cmd, ILP_ERROR);
    assert_string_equal(msg->code, ILP_CODE_MALFORMED);
    assert_string_equal(msg->id, "b-3"); /* which item */
    assert_non_null(strstr(msg->reason, "RESULT[3]: service.name: missing"));
    ilp_msg_destroy(&msg);
    assert_int_equal(zhashx_size(ctx->results), 24);
    assert_null(zhashx_lookup(ctx->results, "b-3"));
    assert_int_equal(broker_stats(ctx->broker)->malformed, 1);
    assert_true(broker_outstanding(ctx->broker, "b-3"));
    /* The credit freed by the 24 answers takes the other 15, in batches. */
    assert_int_equal(s_raw_recv_items(ctx, raw, &items), 10);
    assert_int_equal(s_raw_recv_items(ctx, raw, &items), 5);
    assert_string_equal(items.ids[25], "b-25");
    assert_string_equal(items.ids[39], "b-39");

    /* Whole-message refusals: an empty batch, and one over the limit. */
    msgpack_sbuffer_clear(&buf);
    msgpack_pack_array(&pk, 0);
    s_raw_send(raw, "RESULT", buf.data, buf.size);
    msg = s_raw_recv(ctx, raw);
    assert_non_null(msg);
    assert_non_null(strstr(msg->reason, "a batch holds 1 to 256 items, not 0"));
    assert_null(msg->id);
    ilp_msg_destroy(&msg);
    msgpack_sbuffer_clear(&buf);
    msgpack_pack_array(&pk, ILP_MAX_BATCH + 1);
    for (int i = 0; i <= ILP_MAX_BATCH; i++)
        s_pack_result(&pk, "late", "x");
    s_raw_send(raw, "RESULT", buf.data, buf.size);
    msg = s_raw_recv(ctx, raw);
    assert_non_null(msg);
    assert_non_null(strstr(msg->reason, "not 257"));
    ilp_msg_destroy(&msg);
    assert_int_equal(zhashx_size(ctx->results), 24); /* nothing of them was taken */

    /* EVENTs in a batch: from a peer that did not say HELLO, one ERROR for
     * the whole message; once registered, each one is handled. */
    zsock_t *prov = s_raw(ctx);
    msgpack_sbuffer_clear(&buf);
    msgpack_pack_array(&pk, 3);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "ev-%d", i);
        msgpack_pack_map(&pk, 2);
        il_codec_pack_key_str(&pk, "action", "add");
        il_codec_pack_str(&pk, "service");
        msgpack_pack_map(&pk, 1);
        il_codec_pack_key_str(&pk, "name", name);
    }
    s_raw_send(prov, "EVENT", buf.data, buf.size);
    msg = s_raw_recv(ctx, prov);
    assert_non_null(msg);
    assert_string_equal(msg->code, ILP_CODE_UNKNOWN_PEER);
    ilp_msg_destroy(&msg);
    /* The whole message was handled before the test loop got the ERROR back:
     * one ERROR (counted when sent) for its three items. */
    assert_int_equal(broker_stats(ctx->broker)->unknown_peer, 1);
    msgpack_sbuffer batch_copy;
    msgpack_sbuffer_init(&batch_copy);
    msgpack_sbuffer_write(&batch_copy, buf.data, buf.size);
    msgpack_sbuffer_clear(&buf);
    s_pack_hello(&buf, "provider.test", "raw-prov");
    s_raw_send(prov, "HELLO", buf.data, buf.size);
    msg = s_raw_recv(ctx, prov);
    assert_non_null(msg);
    assert_int_equal(msg->cmd, ILP_WELCOME);
    ilp_msg_destroy(&msg);
    s_raw_send(prov, "EVENT", batch_copy.data, batch_copy.size);
    ctx->want = 3;
    assert_true(test_loop_until(ctx->loop, s_events, ctx, WAIT_MS));
    assert_int_equal(ctx->events, 3);
    assert_string_equal(ctx->last_event, "add ev-2"); /* in order */
    msgpack_sbuffer_destroy(&batch_copy);
    msgpack_sbuffer_destroy(&buf);
    zsock_destroy(&prov);
    zsock_destroy(&raw);
}

/* The SDK: an interlook-echo takes the queued work in one message and
 * answers it in one; with core.bus.batch: 1 it takes and answers one by one. */
static void s_sdk_batches(ctx_t *ctx, const char *config_text, uint64_t want_out, uint64_t want_in)
{
    char id[32];
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof id, "sdk-%d", i);
        s_dispatch(ctx, id, id);
    }
    char *dir = test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/echo.yml", dir);
    test_write_file(path, config_text);
    const char *args[] = {"-c",       path, "--router",    ctx->router, "--publish", ctx->publish,
                          "--credit", "30", "--log-level", "warn",      NULL};
    ctx->pids[0] = test_spawn("interlook-echo", args);
    assert_true(ctx->pids[0] > 0);
    s_wait_results(ctx, 30);
    assert_int_equal(ctx->result_errors, 0);
    const broker_stats_t *st = broker_stats(ctx->broker);
    assert_int_equal(st->work_sent, 30);
    assert_int_equal(st->batches_out, want_out);
    assert_int_equal(st->batches_in, want_in);
    free(dir);
}

static void test_sdk_batches(void **state)
{
    s_sdk_batches(*state, "# defaults: batches of up to 64\n", 1, 1);
}

static void test_sdk_batch_one(void **state)
{
    s_sdk_batches(*state, "core:\n  bus:\n    batch: 1\n", 0, 0);
}

int main(void)
{
    il_log_setup("test_bus", IL_LOG_WARN, "stderr");
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hello_welcome, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_denied_unknown_name, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_work_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_work_queued_until_instance, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_two_instances_share_load, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_instance_killed_mid_work, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_core_restart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_frames, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_client_survives_garbage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_knows_subscribers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_changes_publication, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batches, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sdk_batches, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sdk_batch_one, s_setup, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
