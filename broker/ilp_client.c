/* ilp_client: the extension side of the ILP/1 bus, see ilp_client.h. */
#include "broker/ilp_client.h"
#include "broker/bus_config.h"
#include "broker/ilp_batch.h"
#include "broker/ilp_cert.h"
#include "broker/ilp_frame.h"
#include "broker/ilp_pub.h"
#include "common/alloc.h"
#include "common/codec.h"
#include "common/log.h"
#include "common/version.h"

#include <string.h>
#include <unistd.h>

#define S_BACKOFF_MIN_MS 100

/* An item of the batch being built: what to keep it under if it cannot leave. */
typedef struct {
    char *key;   /* work id (RESULT) or service name (EVENT) */
    size_t off;  /* where its bytes start in the batch buffer */
    size_t size; /* its bytes */
} s_item_t;

struct _ilp_client_t {
    zloop_t *loop;
    zsock_t *dealer;
    zsock_t *sub;
    char *name;
    char *instance;
    char *version;
    const char *router_endpoint;  /* the core tried now: routers[core] */
    const char *publish_endpoint; /* publishers[core] */
    char **routers;               /* one pair per core (several: one leads) */
    char **publishers;
    size_t ncores;
    size_t core;           /* the index tried now */
    size_t hops;           /* moves to the next core since the last WELCOME */
    int64_t not_leader_at; /* when the core tried now said not-leader, 0: it did not */
    int move_timer;        /* a move to the next core, due, -1 when none */
    char *refresh_topic;   /* "refresh.<name>" */
    uint32_t credit;
    uint32_t heartbeat_ms; /* current: ours until WELCOME, then the core's */
    uint32_t liveness;
    uint32_t reconnect_max_ms;
    uint32_t linger_ms;
    ilp_client_handler_t handler;
    void *arg;
    bool connected; /* WELCOME received, registration not lost */
    bool stopping;
    char core_id[ILP_MAX_ID + 1];
    int64_t last_recv;   /* last message from the core */
    int64_t last_sent;   /* last message to the core */
    int64_t hello_at;    /* last HELLO sent */
    uint32_t backoff_ms; /* wait before the next new DEALER */
    int timer_id;
    uint32_t tick_ms;
    zhashx_t *in_progress; /* work id -> "" : delivered, not answered */
    uint32_t batch;        /* our HELLO batch: WORK items taken in one message */
    uint32_t core_batch;   /* the core's WELCOME batch: items it takes (1: no batches) */
    int batching;          /* ilp_client_batch_begin depth */
    ilp_batch_t out;       /* RESULTs or EVENTs waiting for the end of the batch */
    ilp_cmd_t out_cmd;
    s_item_t out_items[ILP_MAX_BATCH];
    msgpack_sbuffer scratch; /* reused for every body encoded */
    msgpack_zone zone;       /* reused to decode every message received */
    zhashx_t *results;       /* work id -> zframe_t* RESULT body, waiting for WELCOME */
    zhashx_t *events;        /* service name -> zframe_t* EVENT body, waiting for WELCOME */
    char last_denied[ILP_MAX_TEXT + 1];
    bool curve;          /* CURVE on both sockets: the three keys below */
    ilp_cert_t core_key; /* the core's public key */
    ilp_cert_t own_key;  /* our pair */
    zsock_t *monitor;    /* the DEALER's connections made and lost, refused keys */
    uint32_t monitor_seq;
    uint32_t connects; /* connections this DEALER made */
    bool told_refused; /* the refusal was logged since the last WELCOME */
};

static int s_on_tick(zloop_t *loop, int timer_id, void *arg);

/* Sending --------------------------------------------------------------------- */

static int s_send_data(ilp_client_t *self, ilp_cmd_t cmd, const void *body, size_t size)
{
    if (!self->dealer) return -1;
    int rc = ilp_send(zsock_resolve(self->dealer), NULL, 0, cmd, body, size);
    if (rc == 0) self->last_sent = zclock_mono();
    return rc;
}

static int s_send_body(ilp_client_t *self, ilp_cmd_t cmd, zframe_t *body)
{
    return s_send_data(self, cmd, zframe_data(body), zframe_size(body));
}

static int s_send(ilp_client_t *self, const ilp_msg_t *msg)
{
    if (ilp_msg_pack_body(msg, &self->scratch) != 0) return -1;
    return s_send_data(self, msg->cmd, self->scratch.data, self->scratch.size);
}

static void s_send_hello(ilp_client_t *self)
{
    ilp_msg_t hello = {.cmd = ILP_HELLO,
                       .name = self->name,
                       .instance = self->instance,
                       .version = self->version,
                       .credit = self->credit,
                       .batch = self->batch};
    s_send(self, &hello);
    self->hello_at = zclock_mono();
}

/* Keeps a body under key until the next WELCOME (replacing an older one). */
static int s_keep(zhashx_t *outbox, const char *key, const void *data, size_t size)
{
    zframe_t *body = zframe_new(data, size);
    if (!body) return -1;
    zhashx_update(outbox, key, body); /* replaces (and frees) an older body */
    return 0;
}

static zhashx_t *s_outbox(ilp_client_t *self, ilp_cmd_t cmd)
{
    return cmd == ILP_RESULT ? self->results : self->events;
}

/* Sends the batch being built as one message; when it cannot leave, each of
 * its items is kept as if it had been sent alone. */
static void s_out_flush(ilp_client_t *self)
{
    if (self->out.count == 0) return;
    size_t size = 0;
    const void *body = ilp_batch_body(&self->out, &size);
    bool sent = self->connected && s_send_data(self, self->out_cmd, body, size) == 0;
    for (size_t i = 0; i < self->out.count; i++) {
        s_item_t *item = &self->out_items[i];
        if (!sent && s_keep(s_outbox(self, self->out_cmd), item->key,
                            self->out.buf.data + item->off, item->size) != 0)
            il_log_error("bus: out of memory: %s %s lost", ilp_cmd_name(self->out_cmd), item->key);
        free(item->key);
        item->key = NULL;
    }
    ilp_batch_clear(&self->out);
}

/* Items in one message we send: what the core takes, and our own setting. */
static uint32_t s_out_max(const ilp_client_t *self)
{
    return self->core_batch < self->batch ? self->core_batch : self->batch;
}

/* Adds a body to the batch being built: 0, or 1 when it could not and kept
 * the body under key instead, -1 when out of memory. */
static int s_out_add(ilp_client_t *self, const char *key, ilp_cmd_t cmd, const void *data,
                     size_t size)
{
    if (self->out.count > 0 && (self->out_cmd != cmd || self->out.count >= s_out_max(self) ||
                                !ilp_batch_fits(&self->out, size)))
        s_out_flush(self);
    char *copy = il_strdup(key);
    if (ilp_batch_add(&self->out, data, size) != 0) {
        free(copy);
        return s_keep(s_outbox(self, cmd), key, data, size) == 0 ? 1 : -1;
    }
    s_item_t *item = &self->out_items[self->out.count - 1];
    item->key = copy;
    item->off = self->out.buf.size - size;
    item->size = size;
    self->out_cmd = cmd;
    return 0;
}

/* Sends the message encoded in self->scratch now (or with the batch being
 * built), or keeps a copy under key until the next WELCOME. Returns -1 when
 * out of memory. */
static int s_send_or_keep(ilp_client_t *self, zhashx_t *outbox, const char *key, ilp_cmd_t cmd)
{
    if (self->connected && zhashx_size(outbox) == 0) {
        if (self->batching > 0 && s_out_max(self) > 1)
            return s_out_add(self, key, cmd, self->scratch.data, self->scratch.size) < 0 ? -1 : 0;
        if (s_send_data(self, cmd, self->scratch.data, self->scratch.size) == 0) return 0;
    }
    return s_keep(outbox, key, self->scratch.data, self->scratch.size);
}

/* Sends what waited for a registration (in batches when the core takes
 * them); what the socket refuses waits on. */
static void s_flush(ilp_client_t *self, zhashx_t *outbox, ilp_cmd_t cmd)
{
    zlistx_t *keys = zhashx_keys(outbox);
    self->batching++;
    for (const char *key = zlistx_first(keys); key && self->connected; key = zlistx_next(keys)) {
        zframe_t *body = zhashx_lookup(outbox, key);
        if (s_out_max(self) > 1) {
            /* Copied into the batch; kept again if the batch cannot leave. */
            if (s_out_add(self, key, cmd, zframe_data(body), zframe_size(body)) != 0) break;
        } else if (s_send_body(self, cmd, body) != 0) {
            break;
        }
        zhashx_delete(outbox, key);
    }
    if (--self->batching == 0) s_out_flush(self);
    zlistx_destroy(&keys);
}

/* Connection ------------------------------------------------------------------ */

static void s_set_connected(ilp_client_t *self, bool connected)
{
    if (self->connected == connected) return;
    self->connected = connected;
    if (self->handler.connected) self->handler.connected(self, connected, self->arg);
}

static int s_on_dealer(zloop_t *loop, zsock_t *reader, void *arg);

/* CURVE, before connect: the core's key, and our pair to prove who we are. */
static void s_curve(ilp_client_t *self, zsock_t *sock)
{
    if (!self->curve) return;
    zsock_set_curve_serverkey(sock, self->core_key.public_key);
    zsock_set_curve_publickey(sock, self->own_key.public_key);
    zsock_set_curve_secretkey(sock, self->own_key.secret_key);
}

/* Loads the certificates when configured. -1 after logging why. */
static int s_load_certs(ilp_client_t *self, const ilp_client_config_t *config)
{
    bool core = config->core_cert && *config->core_cert, own = config->cert && *config->cert;
    if (!core && !own) return 0;
    char err[512];
    if (!core) {
        il_log_error("bus: a certificate of our own (%s) but no core.bus.curve.coreCert: give both "
                     "for CURVE, or neither",
                     config->cert);
        return -1;
    }
    if (!own) {
        il_log_error("bus: core.bus.curve.coreCert is set (the bus uses CURVE): %s needs a "
                     "certificate of its own (--cert FILE, or curveCert in its section; "
                     "interlookctl keygen makes one)",
                     config->name);
        return -1;
    }
    if (ilp_cert_load_public(&self->core_key, config->core_cert, err, sizeof err) != 0 ||
        ilp_cert_load_pair(&self->own_key, config->cert, err, sizeof err) != 0) {
        il_log_error("bus: CURVE certificate: %s", err);
        return -1;
    }
    self->curve = true;
    return 0;
}

static int s_sub_open(ilp_client_t *self);
static void s_reconnect(ilp_client_t *self);

/* Several cores: the next pair of endpoints, a new DEALER and SUB, HELLO. */
static void s_next_core(ilp_client_t *self)
{
    self->core = (self->core + 1) % self->ncores;
    self->router_endpoint = self->routers[self->core];
    self->publish_endpoint = self->publishers[self->core];
    self->hops++;
    self->not_leader_at = 0;
    il_log_debug("bus: %s trying core %s", self->name, self->router_endpoint);
    if (!self->curve && s_sub_open(self) != 0) /* s_reconnect opens it with CURVE */
        il_log_error("bus: cannot connect to %s", self->publish_endpoint);
    s_reconnect(self);
}

static int s_on_move(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    ilp_client_t *self = arg;
    self->move_timer = -1;
    if (!self->connected && !self->stopping) s_next_core(self);
    return 0;
}

/* Moves to the next core after delay_ms, from a timer: the DEALER is not
 * closed inside its own reader. After a whole round without WELCOME, a
 * heartbeat between moves at least, so that cores that all refuse (no
 * leader now) are not asked in a tight loop. */
static void s_move_soon(ilp_client_t *self, uint32_t delay_ms)
{
    if (self->ncores < 2 || self->move_timer >= 0 || !self->loop) return;
    if (self->hops + 1 >= self->ncores && delay_ms < self->heartbeat_ms)
        delay_ms = self->heartbeat_ms;
    self->move_timer = zloop_timer(self->loop, delay_ms ? delay_ms : 1, 1, s_on_move, self);
}

/* What happens to the DEALER's connection is not a message: a monitor sees
 * it. A connection lost means a core that dropped our registration (it died,
 * or it drops an instance whose connection closed); the one libzmq makes
 * next may reach a core that restarted: HELLO at once over it, rather than
 * when a heartbeat of ours gets ERROR unknown-peer back (a core that
 * restarted while we were idle). A refused key is a failed handshake. */
static int s_on_monitor(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    ilp_client_t *self = arg;
    zmsg_t *event = zmsg_recv(reader);
    zframe_t *head = event ? zmsg_first(event) : NULL;
    uint16_t type = 0;
    if (head && zframe_size(head) >= 2) memcpy(&type, zframe_data(head), 2);
    zmsg_destroy(&event);
    if (type == ZMQ_EVENT_CONNECTED) {
        if (self->connects++ > 0) {
            il_log_info("bus: connected again to %s: registering", self->router_endpoint);
            s_set_connected(self, false);
            s_send_hello(self);
        }
    } else if (type == ZMQ_EVENT_DISCONNECTED) {
        if (self->connected && self->ncores > 1) {
            il_log_info("bus: connection to %s lost: trying the next core", self->router_endpoint);
            s_set_connected(self, false);
            s_move_soon(self, 0);
        } else if (self->connected) {
            il_log_info("bus: connection to %s lost: registering again once it is back",
                        self->router_endpoint);
        }
        s_set_connected(self, false);
    } else if (type == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        if (!self->told_refused)
            il_log_error("bus: the core refused our CURVE key %s: is its public file in the "
                         "core's core.bus.curve.clientCerts? (retrying with back-off)",
                         self->own_key.public_key);
        self->told_refused = true;
    }
    return 0;
}

static void s_monitor_close(ilp_client_t *self)
{
    if (!self->monitor) return;
    zloop_reader_end(self->loop, self->monitor);
    if (self->dealer) zmq_socket_monitor(zsock_resolve(self->dealer), NULL, 0);
    zsock_destroy(&self->monitor);
}

static void s_monitor_open(ilp_client_t *self)
{
    if (!self->loop || !self->dealer) return;
    self->connects = 0;
    char endpoint[96];
    snprintf(endpoint, sizeof endpoint, "inproc://ilp-client-%p-%u", (void *)self,
             ++self->monitor_seq);
    int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED;
    if (self->curve) events |= ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor(zsock_resolve(self->dealer), endpoint, events) != 0) return;
    self->monitor = zsock_new(ZMQ_PAIR);
    if (!self->monitor || zsock_connect(self->monitor, "%s", endpoint) != 0) {
        zmq_socket_monitor(zsock_resolve(self->dealer), NULL, 0);
        zsock_destroy(&self->monitor);
        return;
    }
    zloop_reader(self->loop, self->monitor, s_on_monitor, self);
}

static int s_dealer_open(ilp_client_t *self)
{
    self->dealer = zsock_new(ZMQ_DEALER);
    if (!self->dealer) return -1;
    s_curve(self, self->dealer);
    zsock_set_sndtimeo(self->dealer, 0);
    zsock_set_rcvtimeo(self->dealer, 0);
    zsock_set_maxmsgsize(self->dealer, IL_CODEC_MAX_FRAME);
    zsock_set_linger(self->dealer, 0);
    zsock_set_sndhwm(self->dealer, 100000);
    zsock_set_rcvhwm(self->dealer, 100000);
    zsock_set_reconnect_ivl(self->dealer, 100);
    zsock_set_reconnect_ivl_max(self->dealer, 500); /* a restarted core is found soon */
    s_monitor_open(self); /* before connecting: it counts every connection */
    if (zsock_connect(self->dealer, "%s", self->router_endpoint) != 0) {
        il_log_error("bus: cannot connect to %s", self->router_endpoint);
        s_monitor_close(self);
        zsock_destroy(&self->dealer);
        return -1;
    }
    if (self->loop) zloop_reader(self->loop, self->dealer, s_on_dealer, self);
    return 0;
}

static int s_on_sub(zloop_t *loop, zsock_t *reader, void *arg);

/* The SUB socket, connected and read on the loop. -1 when it cannot connect. */
static int s_sub_open(ilp_client_t *self)
{
    if (self->sub) zloop_reader_end(self->loop, self->sub);
    zsock_destroy(&self->sub);
    self->sub = zsock_new(ZMQ_SUB);
    if (!self->sub) return -1;
    s_curve(self, self->sub);
    zsock_set_maxmsgsize(self->sub, IL_CODEC_MAX_FRAME);
    zsock_set_rcvtimeo(self->sub, 0);
    zsock_set_linger(self->sub, 0);
    zsock_set_subscribe(self->sub, self->refresh_topic);
    zsock_set_subscribe(self->sub, "core");
    if (zsock_connect(self->sub, "%s", self->publish_endpoint) != 0) return -1;
    zloop_reader(self->loop, self->sub, s_on_sub, self);
    return 0;
}

/* A new DEALER (the old one may hold a dead TCP session or stale messages) and a new HELLO.
 * With CURVE, a new SUB too: libzmq does not retry a connection whose key the
 * core refused (it may be allowed again since). */
static void s_reconnect(ilp_client_t *self)
{
    if (self->curve && s_sub_open(self) != 0)
        il_log_error("bus: cannot connect to %s", self->publish_endpoint);
    s_monitor_close(self);
    if (self->loop && self->dealer) zloop_reader_end(self->loop, self->dealer);
    zsock_destroy(&self->dealer);
    s_set_connected(self, false);
    if (s_dealer_open(self) == 0) s_send_hello(self);
    self->last_recv = zclock_mono();
}

static void s_set_tick(ilp_client_t *self)
{
    uint32_t tick = self->heartbeat_ms / 4;
    if (tick < 10) tick = 10;
    if (tick == self->tick_ms && self->timer_id >= 0) return;
    if (self->timer_id >= 0) zloop_timer_end(self->loop, self->timer_id);
    self->tick_ms = tick;
    self->timer_id = zloop_timer(self->loop, tick, 0, s_on_tick, self);
}

/* Incoming -------------------------------------------------------------------- */

static void s_on_welcome(ilp_client_t *self, ilp_msg_t *msg)
{
    self->hops = 0;
    self->not_leader_at = 0;
    if (self->move_timer >= 0) zloop_timer_end(self->loop, self->move_timer);
    self->move_timer = -1;
    bool new_core = strcmp(self->core_id, msg->core_id) != 0;
    snprintf(self->core_id, sizeof self->core_id, "%s", msg->core_id);
    self->heartbeat_ms = msg->heartbeat_ms;
    self->liveness = msg->liveness;
    self->core_batch = msg->batch ? msg->batch : 1;
    self->backoff_ms = S_BACKOFF_MIN_MS;
    self->last_denied[0] = 0;
    self->told_refused = false;
    s_set_tick(self);
    if (!self->connected || new_core)
        il_log_info("bus: %s registered with core %s at %s (heartbeat %u ms x %u)", self->name,
                    self->core_id, self->router_endpoint, self->heartbeat_ms, self->liveness);
    if (self->connected && self->handler.connected) /* re-registered: tell the extension again */
        self->handler.connected(self, true, self->arg);
    s_set_connected(self, true);
    s_flush(self, self->results, ILP_RESULT);
    s_flush(self, self->events, ILP_EVENT);
}

static void s_on_work(ilp_client_t *self, ilp_msg_t *msg)
{
    if (zhashx_lookup(self->in_progress, msg->id)) {
        il_log_debug("bus: WORK %s delivered again while in progress: ignored", msg->id);
        return;
    }
    zhashx_insert(self->in_progress, msg->id, "");
    if (self->handler.work)
        self->handler.work(self, msg, self->arg);
    else
        ilp_client_reply(self, msg->id, "extension has no work handler", NULL);
}

static void s_on_message(ilp_client_t *self, ilp_msg_t *msg)
{
    switch (msg->cmd) {
    case ILP_WELCOME:
        s_on_welcome(self, msg);
        break;
    case ILP_DENIED:
        if (strcmp(self->last_denied, msg->reason))
            il_log_error("bus: core denied %s: %s (retrying with back-off)", self->name,
                         msg->reason);
        snprintf(self->last_denied, sizeof self->last_denied, "%s", msg->reason);
        s_set_connected(self, false);
        break;
    case ILP_WORK:
        s_on_work(self, msg);
        break;
    case ILP_ERROR:
        if (msg->code && !strcmp(msg->code, ILP_CODE_NOT_LEADER)) {
            /* A standby core (docs/protocol.md): the leader is another. */
            if (self->connected || !self->not_leader_at)
                il_log_info("bus: %s at %s: %s%s", self->connected ? "core stepped down" : "core",
                            self->router_endpoint, msg->reason,
                            self->ncores > 1 ? "; trying the next core" : "; retrying");
            self->not_leader_at = zclock_mono();
            s_set_connected(self, false);
            s_move_soon(self, 0);
        } else if (msg->code && !strcmp(msg->code, ILP_CODE_UNKNOWN_PEER)) {
            /* The core no longer knows us (it restarted, or dropped us): register again. */
            il_log_info("bus: core says: %s; registering again", msg->reason);
            s_set_connected(self, false);
            s_send_hello(self);
        } else {
            il_log_warn("bus: core refused a message%s%s: %s", msg->id ? " about work " : "",
                        msg->id ? msg->id : "", msg->reason);
        }
        break;
    case ILP_HEARTBEAT:
        break;
    default:
        il_log_warn("bus: unexpected %s from the core: ignored", ilp_cmd_name(msg->cmd));
    }
}

static void s_on_item(void *arg, ilp_msg_t *msg, const char *why, const char *id)
{
    (void)id;
    if (msg)
        s_on_message(arg, msg);
    else
        il_log_warn("bus: malformed message from the core: %s", why);
}

static int s_on_dealer(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    ilp_client_t *self = arg;
    void *handle = zsock_resolve(reader);
    /* What the handlers answer while this drain lasts leaves together. */
    ilp_client_batch_begin(self);
    /* Read in place (zmq_msg_t); ilp_recv returns -1 once the socket is drained. */
    for (int n = 0; n < 1000 && !self->stopping; n++) {
        ilp_recv_t in;
        if (ilp_recv(handle, &in) != 0) break;
        self->last_recv = zclock_mono();
        char why[300];
        ilp_frame_t frames[ILP_RECV_PARTS];
        ilp_recv_frames(&in, 0, frames);
        if (ilp_msg_decode_batch(frames, in.count, &self->zone, 0, s_on_item, self, why,
                                 sizeof why) < 0)
            il_log_warn("bus: malformed message from the core: %s", why);
        ilp_recv_close(&in);
    }
    ilp_client_batch_end(self);
    return self->stopping ? -1 : 0;
}

static void s_on_core_event(ilp_client_t *self, const msgpack_object *body)
{
    char *event = NULL, *core_id = NULL;
    char why[128];
    if (il_codec_get_str(body, "event", 64, true, &event, why, sizeof why) == 0 &&
        il_codec_get_str(body, "core_id", ILP_MAX_ID, true, &core_id, why, sizeof why) == 0 &&
        !strcmp(event, "started") && strcmp(core_id, self->core_id) != 0) {
        /* A new core: our registration (if any) is gone; do not wait for a timeout. */
        il_log_info("bus: core %s started; registering", core_id);
        s_set_connected(self, false);
        s_send_hello(self);
    }
    free(event);
    free(core_id);
}

static int s_on_sub(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    ilp_client_t *self = arg;
    for (int n = 0; n < 1000; n++) { /* receive time-out 0: NULL once drained */
        zmsg_t *zmsg = zmsg_recv(reader);
        if (!zmsg) break;
        char *topic = NULL;
        char why[300];
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        zframe_t *body = ilp_pub_decode(zmsg, &topic, &up, why, sizeof why);
        if (!body) {
            il_log_warn("bus: malformed publication: %s", why);
        } else if (!strcmp(topic, self->refresh_topic)) { /* SUB matches prefixes */
            il_service_t *service =
                il_service_decode(il_codec_map_get(&up.data, "service"), why, sizeof why);
            if (!service)
                il_log_warn("bus: malformed refresh request: %s", why);
            else if (self->handler.refresh)
                self->handler.refresh(self, service->name, self->arg);
            il_service_destroy(&service);
        } else if (!strcmp(topic, "core")) {
            s_on_core_event(self, &up.data);
        }
        msgpack_unpacked_destroy(&up);
        zframe_destroy(&body);
        free(topic);
        zmsg_destroy(&zmsg);
        if (self->stopping) return -1;
    }
    return self->stopping ? -1 : 0;
}

/* Heartbeat and reconnection. */
static int s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    ilp_client_t *self = arg;
    if (self->stopping) return -1;
    int64_t now = zclock_mono();
    int64_t dead_after = (int64_t)self->heartbeat_ms * self->liveness;
    if (self->connected) {
        if (now - self->last_recv > dead_after) {
            il_log_warn("bus: core silent for %lld ms: reconnecting to %s",
                        (long long)(now - self->last_recv), self->router_endpoint);
            self->backoff_ms = S_BACKOFF_MIN_MS;
            if (self->ncores > 1) {
                s_set_connected(self, false);
                s_move_soon(self, 0);
            } else {
                s_reconnect(self);
            }
        } else if (now - self->last_sent >= self->heartbeat_ms) {
            ilp_msg_t hb = {.cmd = ILP_HEARTBEAT};
            s_send(self, &hb);
        }
        /* Whatever the socket refused earlier (HWM) goes now. */
        s_flush(self, self->results, ILP_RESULT);
        s_flush(self, self->events, ILP_EVENT);
        return 0;
    }
    /* Several cores: a core that never took the connection is left after a
     * heartbeat, one that took it and said nothing after a liveness period
     * (a foreign core that ignores not-leader is found so). */
    if (self->ncores > 1) {
        int64_t waited = now - self->hello_at;
        if (self->move_timer < 0 && !self->not_leader_at &&
            ((self->connects == 0 && waited >= (int64_t)self->heartbeat_ms) ||
             waited >= dead_after))
            s_move_soon(self, 0);
        return 0;
    }
    /* Not registered: a HELLO unanswered for a liveness period means a new
     * DEALER, spaced by a back-off that doubles up to its cap. */
    if (now - self->hello_at >= (int64_t)dead_after + self->backoff_ms) {
        il_log_debug("bus: no WELCOME from %s: new connection", self->router_endpoint);
        s_reconnect(self);
        self->backoff_ms *= 2;
        if (self->backoff_ms > self->reconnect_max_ms) self->backoff_ms = self->reconnect_max_ms;
    }
    return 0;
}

static int s_on_stop(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    (void)arg;
    return -1;
}

/* Public API -------------------------------------------------------------------- */

static char *s_default_instance(void)
{
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    host[64] = 0;
    char *id = zsys_sprintf("%s-%d-%04x", host, (int)getpid(), (unsigned)randof(0x10000));
    return id;
}

/* The pairs of endpoints, one per core ("a,b" lists, paired by index). -1
 * after logging why. */
static int s_endpoints(ilp_client_t *self, const ilp_client_config_t *config)
{
    const char *routers = config->router_endpoint ? config->router_endpoint : IL_BUS_DEFAULT_ROUTER;
    const char *publishers =
        config->publish_endpoint ? config->publish_endpoint : IL_BUS_DEFAULT_PUBLISH;
    size_t n = il_bus_config_endpoint_count(routers);
    if (n != il_bus_config_endpoint_count(publishers)) {
        il_log_error("bus: %zu router endpoints (%s) but %zu publish endpoints (%s): one pair "
                     "per core",
                     n, routers, il_bus_config_endpoint_count(publishers), publishers);
        return -1;
    }
    self->routers = il_calloc(n, sizeof *self->routers);
    self->publishers = il_calloc(n, sizeof *self->publishers);
    self->ncores = n;
    for (size_t i = 0; i < n; i++) {
        char one[1024];
        if (il_bus_config_endpoint_at(routers, i, one, sizeof one) != 0) {
            il_log_error("bus: router endpoint %zu of '%s' is empty", i + 1, routers);
            return -1;
        }
        self->routers[i] = il_strdup(one);
        if (il_bus_config_endpoint_at(publishers, i, one, sizeof one) != 0) {
            il_log_error("bus: publish endpoint %zu of '%s' is empty", i + 1, publishers);
            return -1;
        }
        self->publishers[i] = il_strdup(one);
    }
    self->router_endpoint = self->routers[0];
    self->publish_endpoint = self->publishers[0];
    return 0;
}

ilp_client_t *ilp_client_new(const ilp_client_config_t *config, const ilp_client_handler_t *handler,
                             void *arg)
{
    if (!config || !ilp_msg_ext_name_valid(config->name)) {
        il_log_error("bus: invalid extension name '%s' (expected type.name)",
                     config && config->name ? config->name : "");
        return NULL;
    }
    if (config->credit > ILP_MAX_CREDIT) {
        il_log_error("bus: credit %u exceeds %d", config->credit, ILP_MAX_CREDIT);
        return NULL;
    }
    ilp_client_t *self = il_calloc(1, sizeof *self);
    self->name = il_strdup(config->name);
    self->instance = config->instance ? il_strdup(config->instance) : s_default_instance();
    self->version = il_strdup(config->version ? config->version : INTERLOOK_VERSION);
    self->move_timer = -1;
    self->refresh_topic = zsys_sprintf("refresh.%s", self->name);
    self->credit = config->credit ? config->credit : 1;
    self->heartbeat_ms = config->heartbeat_ms ? config->heartbeat_ms : IL_BUS_DEFAULT_HEARTBEAT_MS;
    self->liveness = config->liveness ? config->liveness : IL_BUS_DEFAULT_LIVENESS;
    self->reconnect_max_ms = config->reconnect_max_ms ? config->reconnect_max_ms : 30000;
    self->linger_ms = config->linger_ms ? config->linger_ms : 500;
    self->batch = config->batch ? config->batch : IL_BUS_DEFAULT_BATCH;
    if (self->batch > ILP_MAX_BATCH) self->batch = ILP_MAX_BATCH;
    self->core_batch = 1;
    ilp_batch_init(&self->out);
    self->backoff_ms = S_BACKOFF_MIN_MS;
    self->timer_id = -1;
    if (handler) self->handler = *handler;
    self->arg = arg;
    self->in_progress = zhashx_new();
    zhashx_set_destructor(self->in_progress, NULL);
    zhashx_set_duplicator(self->in_progress, NULL);
    self->results = zhashx_new();
    zhashx_set_destructor(self->results, (zhashx_destructor_fn *)zframe_destroy);
    self->events = zhashx_new();
    zhashx_set_destructor(self->events, (zhashx_destructor_fn *)zframe_destroy);
    msgpack_sbuffer_init(&self->scratch);
    msgpack_zone_init(&self->zone, 4096);
    self->loop = zloop_new();
    if (!self->loop || strlen(self->instance) > ILP_MAX_INSTANCE) {
        il_log_error("bus: cannot create the client (instance id too long or out of memory)");
        ilp_client_destroy(&self);
        return NULL;
    }
    if (s_endpoints(self, config) != 0 || s_load_certs(self, config) != 0) {
        ilp_client_destroy(&self);
        return NULL;
    }
    if (s_sub_open(self) != 0) {
        il_log_error("bus: cannot connect to %s", self->publish_endpoint);
        ilp_client_destroy(&self);
        return NULL;
    }
    if (s_dealer_open(self) != 0) {
        ilp_client_destroy(&self);
        return NULL;
    }
    s_set_tick(self);
    s_send_hello(self);
    self->last_recv = zclock_mono();
    il_log_info("bus: %s instance %s connecting to %s and %s, credit %u%s%s", self->name,
                self->instance, self->router_endpoint, self->publish_endpoint, self->credit,
                self->curve ? ", CURVE key " : "", self->curve ? self->own_key.public_key : "");
    return self;
}

void ilp_client_destroy(ilp_client_t **self_p)
{
    if (!self_p || !*self_p) return;
    ilp_client_t *self = *self_p;
    self->batching = 0;
    s_out_flush(self); /* what a handler left in a batch */
    if (self->connected && self->dealer) {
        ilp_msg_t bye = {.cmd = ILP_BYE};
        zsock_set_linger(self->dealer, (int)self->linger_ms); /* let BYE leave */
        s_send(self, &bye);
    }
    s_monitor_close(self);
    zloop_destroy(&self->loop);
    zsock_destroy(&self->dealer);
    zsock_destroy(&self->sub);
    zhashx_destroy(&self->in_progress);
    zhashx_destroy(&self->results);
    zhashx_destroy(&self->events);
    msgpack_sbuffer_destroy(&self->scratch);
    msgpack_zone_destroy(&self->zone);
    ilp_batch_destroy(&self->out);
    free(self->name);
    free(self->instance);
    free(self->version);
    for (size_t i = 0; i < self->ncores; i++) {
        if (self->routers) free(self->routers[i]);
        if (self->publishers) free(self->publishers[i]);
    }
    free(self->routers);
    free(self->publishers);
    free(self->refresh_topic);
    ilp_cert_clear(&self->core_key);
    ilp_cert_clear(&self->own_key);
    free(self);
    *self_p = NULL;
}

zloop_t *ilp_client_loop(ilp_client_t *self)
{
    return self->loop;
}

int ilp_client_run(ilp_client_t *self)
{
    self->stopping = false;
    zloop_start(self->loop);
    return 0;
}

void ilp_client_stop(ilp_client_t *self)
{
    self->stopping = true;
    zloop_timer(self->loop, 1, 1, s_on_stop, self);
}

int ilp_client_reply(ilp_client_t *self, const char *work_id, const char *error,
                     const il_service_t *service)
{
    if (!work_id || !zhashx_lookup(self->in_progress, work_id)) return -1;
    ilp_msg_t msg = {.cmd = ILP_RESULT,
                     .id = (char *)work_id,
                     .error = (char *)error,
                     .service = (il_service_t *)service};
    if (!error && !service) msg.error = "extension answered without a service";
    if (ilp_msg_pack_body(&msg, &self->scratch) != 0) return -1;
    zhashx_delete(self->in_progress, work_id);
    return s_send_or_keep(self, self->results, work_id, ILP_RESULT);
}

int ilp_client_event(ilp_client_t *self, ilp_action_t action, const il_service_t *service)
{
    if (!service || action == ILP_ACTION_NONE) return -1;
    ilp_msg_t msg = {.cmd = ILP_EVENT, .action = action, .service = (il_service_t *)service};
    if (ilp_msg_pack_body(&msg, &self->scratch) != 0) return -1;
    return s_send_or_keep(self, self->events, service->name, ILP_EVENT);
}

size_t ilp_client_pending(ilp_client_t *self)
{
    return zhashx_size(self->results) + zhashx_size(self->events) + self->out.count;
}

void ilp_client_batch_begin(ilp_client_t *self)
{
    self->batching++;
}

void ilp_client_batch_end(ilp_client_t *self)
{
    if (self->batching > 0 && --self->batching == 0) s_out_flush(self);
}

bool ilp_client_connected(ilp_client_t *self)
{
    return self->connected;
}

const char *ilp_client_core_id(ilp_client_t *self)
{
    return self->core_id;
}

size_t ilp_client_in_flight(ilp_client_t *self)
{
    return zhashx_size(self->in_progress);
}

const char *ilp_client_name(ilp_client_t *self)
{
    return self->name;
}

const char *ilp_client_instance(ilp_client_t *self)
{
    return self->instance;
}
