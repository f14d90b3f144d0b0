/* broker: the core side of the ILP/1 bus, see broker.h. Data: extensions by
 * name, each with its live instances and a FIFO of work waiting for credit;
 * instances by routing id, each with the work it holds; work by id. */
#include "broker/broker.h"
#include "broker/bus_config.h"
#include "broker/ilp_auth.h"
#include "broker/ilp_batch.h"
#include "broker/ilp_cert.h"
#include "broker/ilp_frame.h"
#include "broker/ilp_pub.h"
#include "common/alloc.h"
#include "common/codec.h"
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#define S_RECV_BATCH   1000 /* messages handled per reader wake-up, to let timers run */
#define S_WARN_PER_SEC 20   /* log lines for bad input per second; the rest are counted */
#define S_NOTE_PER_SEC 20   /* the same for lines peers cause (registration, drop) */

typedef struct _s_ext_t s_ext_t;
typedef struct _s_inst_t s_inst_t;

#define S_MAX_RID 255 /* bytes of a ZeroMQ routing id */

/* A routing id as received: read in place, copied only by a new instance. */
typedef struct {
    const void *data;
    size_t size;
} s_rid_t;

typedef struct {
    char id[ILP_MAX_ID + 1]; /* work id, key in self->works and inst->works (not copied) */
    s_ext_t *ext;            /* extension it goes to */
    s_inst_t *inst;          /* instance holding it, NULL while queued */
    void *queue_handle;      /* handle in ext->queue while queued */
    char *body;              /* encoded WORK body, resent as is */
    size_t body_size;
    char *avoid; /* instance that let it time out before (broker_dispatch_avoiding), or NULL */
} s_work_t;

struct _s_ext_t {
    char *name;
    zlistx_t *instances; /* s_inst_t*, not owned */
    zlistx_t *queue;     /* s_work_t* waiting for credit, not owned */
    bool pump_due;       /* work was queued while the ROUTER was being drained */
};

struct _s_inst_t {
    char *key; /* hex routing id, key in self->peers */
    uint8_t rid[S_MAX_RID];
    size_t rid_size;
    s_ext_t *ext;
    char *instance;
    char *version;
    char *address;
    uint32_t credit;
    uint32_t batch;   /* WORK items it takes in one message (HELLO batch, 1 when absent) */
    zhashx_t *works;  /* id -> s_work_t*, not owned */
    uint64_t results; /* RESULTs accepted from it */
    bool stalled;     /* let work time out and answered nothing since */
    int64_t last_recv;
    int64_t last_sent;
    int64_t since;
    char *curve_key; /* its CURVE public key (Z85), NULL without CURVE */
    int fd;          /* its connection's descriptor (ZMQ_SRCFD), -1 when unknown */
    uint32_t epoch;  /* which connection on fd (s_conn_t.epoch) */
};

/* What the ROUTER's monitor said about one descriptor number: how many
 * connections it has carried (the number is reused once one closes), whether
 * the last one is open, and the instance registered over it. */
typedef struct {
    uint32_t epoch;
    bool open;
    s_inst_t *inst;
} s_conn_t;

struct _broker_t {
    zsock_t *router;
    zsock_t *pub;
    char *router_endpoint;
    char *publish_endpoint;
    char *core_id;
    uint32_t heartbeat_ms;
    uint32_t liveness;
    int timer_id;
    broker_handler_t handler;
    void *arg;
    zhashx_t *exts;          /* name -> s_ext_t*, owned */
    zhashx_t *peers;         /* hex routing id -> s_inst_t*, owned */
    zhashx_t *works;         /* id -> s_work_t*, owned */
    zhashx_t *subscriptions; /* topic prefixes subscribers asked for (XPUB) -> "" */
    void *router_handle;     /* the ROUTER's libzmq socket, for the hot path */
    msgpack_sbuffer scratch; /* reused for every body encoded, a WORK's is then copied */
    ilp_batch_t out;         /* reused to send WORK, one item or a batch */
    ilp_batch_t changes;     /* the "changes" publication being built */
    bool sub_state;          /* someone listens to "state" */
    bool sub_changes;        /* someone listens to "changes" */
    bool draining;           /* in the ROUTER's reader: work is sent once it is drained */
    msgpack_zone zone;       /* reused to decode every message received */
    broker_stats_t stats;
    uint32_t batch;      /* items in one message at most (WELCOME, WORK) */
    int64_t warn_second; /* rate limit of bad-input log lines */
    int warn_count;
    uint64_t warn_suppressed;
    int64_t note_second; /* rate limit of the log lines peers cause (s_note) */
    int note_count;
    uint64_t note_suppressed;
    uint32_t max_credit;        /* credit honoured per instance */
    uint32_t max_instances_ext; /* instances of one extension */
    uint32_t max_instances;     /* instances in all */
    ilp_auth_t *auth;           /* CURVE: the ZAP handler and the allowed keys; NULL without */
    uint64_t auth_generation;   /* of the key ring the instances were last checked against */
    char *refusing;             /* standby: why HELLO is answered not-leader, NULL when serving */
    zsock_t *monitor;           /* the ROUTER's connections accepted and closed (PAIR) */
    s_conn_t *conns;            /* by descriptor number */
    size_t conns_size;
};

/* Lifecycle of the internal objects ---------------------------------------- */

static void s_work_free(s_work_t **work_p)
{
    s_work_t *work = *work_p;
    if (!work) return;
    free(work->body);
    free(work->avoid);
    free(work);
    *work_p = NULL;
}

static void s_ext_free(s_ext_t **ext_p)
{
    s_ext_t *ext = *ext_p;
    if (!ext) return;
    zlistx_destroy(&ext->instances);
    zlistx_destroy(&ext->queue);
    free(ext->name);
    free(ext);
    *ext_p = NULL;
}

static void s_inst_free(s_inst_t **inst_p)
{
    s_inst_t *inst = *inst_p;
    if (!inst) return;
    zhashx_destroy(&inst->works);
    free(inst->key);
    free(inst->instance);
    free(inst->version);
    free(inst->address);
    free(inst->curve_key);
    free(inst);
    *inst_p = NULL;
}

/* Rate-limited warning for bad input, so that a flood cannot fill the disk. */
static void s_warn(broker_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_warn(broker_t *self, const char *fmt, ...)
{
    int64_t second = zclock_mono() / 1000;
    if (second != self->warn_second) {
        if (self->warn_suppressed)
            il_log_warn("bus: %llu more bad-input lines suppressed",
                        (unsigned long long)self->warn_suppressed);
        self->warn_second = second;
        self->warn_count = 0;
        self->warn_suppressed = 0;
    }
    if (++self->warn_count > S_WARN_PER_SEC) {
        self->warn_suppressed++;
        return;
    }
    char text[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    il_log_warn("%s", text);
}

/* Says how many s_note lines were suppressed in the second that ended. */
static void s_note_flush(broker_t *self, int64_t second)
{
    if (second == self->note_second) return;
    if (self->note_suppressed)
        il_log_info("bus: %llu more registration lines suppressed",
                    (unsigned long long)self->note_suppressed);
    self->note_second = second;
    self->note_count = 0;
    self->note_suppressed = 0;
}

/* Rate-limited log line caused by a peer (registered, dropped, unknown...):
 * a HELLO or connection storm cannot fill the disk. A budget of its own, so
 * that such a storm does not hide bad-input warnings, nor they these. */
static void s_note(broker_t *self, il_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_note(broker_t *self, il_log_level_t level, const char *fmt, ...)
{
    if (!il_log_enabled(level)) return;
    s_note_flush(self, zclock_mono() / 1000);
    if (++self->note_count > S_NOTE_PER_SEC) {
        self->note_suppressed++;
        return;
    }
    char text[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    il_log_write(level, "%s", text);
}

/* Sending ------------------------------------------------------------------- */

/* Sends [routing id, "ILP1", cmd, body]. Returns -1 when the peer is gone
 * (EHOSTUNREACH) or cannot take more (EAGAIN). */
static int s_send_raw(broker_t *self, s_rid_t rid, ilp_cmd_t cmd, const void *body, size_t size)
{
    if (ilp_send(self->router_handle, rid.data, rid.size, cmd, body, size) != 0) {
        self->stats.send_failures++;
        return -1;
    }
    self->stats.msgs_out++;
    return 0;
}

static int s_send(broker_t *self, s_rid_t rid, const ilp_msg_t *msg)
{
    if (ilp_msg_pack_body(msg, &self->scratch) != 0) return -1;
    return s_send_raw(self, rid, msg->cmd, self->scratch.data, self->scratch.size);
}

static s_rid_t s_inst_rid(const s_inst_t *inst)
{
    return (s_rid_t){inst->rid, inst->rid_size};
}

/* The routing id in hex (the peers' key and how logs name a peer); key
 * holds 2 * S_MAX_RID + 1 bytes. */
static char *s_hex(s_rid_t rid, char *key)
{
    static const char digits[] = "0123456789ABCDEF";
    const uint8_t *p = rid.data;
    size_t n = rid.size > S_MAX_RID ? S_MAX_RID : rid.size;
    for (size_t i = 0; i < n; i++) {
        key[2 * i] = digits[p[i] >> 4];
        key[2 * i + 1] = digits[p[i] & 15];
    }
    key[2 * n] = 0;
    return key;
}

static void s_send_error(broker_t *self, s_rid_t rid, const char *code, const char *reason,
                         const char *id)
{
    ilp_msg_t msg = {
        .cmd = ILP_ERROR, .code = (char *)code, .reason = (char *)reason, .id = (char *)id};
    s_send(self, rid, &msg);
}

/* Work routing -------------------------------------------------------------- */

/* True when work must not go to inst: the instance it avoids, while the
 * extension has another one. */
static bool s_avoids(const s_work_t *work, const s_inst_t *inst)
{
    return work->avoid && !strcmp(work->avoid, inst->instance) &&
           zlistx_size(work->ext->instances) > 1;
}

/* The live instance of ext with free credit and the fewest items in flight
 * that work may go to. A stalled instance (it let work time out) gets work
 * only when every other one it may go to is stalled too, so that a peer that
 * takes work and never answers holds at most its credit once. */
static s_inst_t *s_pick(s_ext_t *ext, const s_work_t *work)
{
    bool healthy = false;
    for (s_inst_t *inst = zlistx_first(ext->instances); inst && !healthy;
         inst = zlistx_next(ext->instances))
        healthy = !inst->stalled && !s_avoids(work, inst);
    s_inst_t *best = NULL;
    for (s_inst_t *inst = zlistx_first(ext->instances); inst; inst = zlistx_next(ext->instances)) {
        size_t load = zhashx_size(inst->works);
        if (load >= inst->credit || s_avoids(work, inst) || (healthy && inst->stalled)) continue;
        if (!best || load < zhashx_size(best->works) ||
            (load == zhashx_size(best->works) && inst->last_sent < best->last_sent))
            best = inst;
    }
    return best;
}

static void s_inst_drop(broker_t *self, s_inst_t *inst, const char *why);

/* Sends queued work of ext while some instance has credit: to an instance
 * that announced a batch size, as many items in one message as it takes and
 * has credit for. While the ROUTER is drained (RESULTs arriving together make
 * work together) it only notes that the extension has work, which is sent
 * once the drain ends, in batches. */
static void s_pump(broker_t *self, s_ext_t *ext)
{
    if (self->draining) {
        ext->pump_due = true;
        return;
    }
    ext->pump_due = false;
    if (self->refusing) return;
    if (zlistx_size(ext->queue) > 0 && self->handler.may_dispatch &&
        !self->handler.may_dispatch(self->arg))
        return; /* fenced: the core is not (or no longer) sure it leads */
    while (zlistx_size(ext->queue) > 0) {
        s_inst_t *inst = s_pick(ext, zlistx_first(ext->queue));
        if (!inst) return;
        size_t room = inst->credit - zhashx_size(inst->works);
        if (room > inst->batch) room = inst->batch;
        if (room > self->batch) room = self->batch;
        ilp_batch_clear(&self->out);
        for (s_work_t *work = zlistx_first(ext->queue);
             work && self->out.count < room && ilp_batch_fits(&self->out, work->body_size) &&
             !s_avoids(work, inst);
             work = zlistx_next(ext->queue))
            if (ilp_batch_add(&self->out, work->body, work->body_size) != 0) break;
        size_t size = 0;
        const void *body = ilp_batch_body(&self->out, &size);
        if (!body) return; /* out of memory: the heartbeat tick pumps again */
        if (s_send_raw(self, s_inst_rid(inst), ILP_WORK, body, size) != 0) {
            if (errno == EHOSTUNREACH) {
                s_inst_drop(self, inst, "unreachable");
                continue;
            }
            return; /* full: the heartbeat tick pumps again */
        }
        if (self->out.count > 1) self->stats.batches_out++;
        for (size_t i = 0; i < self->out.count; i++) {
            s_work_t *work = zlistx_first(ext->queue);
            zlistx_delete(ext->queue, work->queue_handle);
            work->queue_handle = NULL;
            work->inst = inst;
            zhashx_insert(inst->works, work->id, work);
            self->stats.work_sent++;
        }
        inst->last_sent = zclock_mono();
    }
}

/* Detaches a work item from its instance or queue, without freeing it. */
static void s_work_detach(s_work_t *work)
{
    if (work->inst) {
        zhashx_delete(work->inst->works, work->id);
        work->inst = NULL;
    }
    if (work->queue_handle) {
        zlistx_delete(work->ext->queue, work->queue_handle);
        work->queue_handle = NULL;
    }
}

/* Removes an instance: its work goes back to the front of its extension's
 * queue (oldest first) and is pumped to the others at once. */
static void s_inst_drop(broker_t *self, s_inst_t *inst, const char *why)
{
    s_ext_t *ext = inst->ext;
    size_t moved = zhashx_size(inst->works);
    s_note(self, IL_LOG_INFO, "bus: %s instance %s (%s) dropped: %s%s", ext->name, inst->instance,
           inst->address, why, moved ? ", its work goes to another instance" : "");
    for (s_work_t *work = zhashx_first(inst->works); work; work = zhashx_next(inst->works)) {
        work->inst = NULL;
        work->queue_handle = zlistx_add_start(ext->queue, work);
        self->stats.work_redispatched++;
    }
    zhashx_purge(inst->works);
    void *handle = zlistx_find(ext->instances, inst);
    if (handle) zlistx_delete(ext->instances, handle);
    if (inst->fd >= 0 && (size_t)inst->fd < self->conns_size && self->conns[inst->fd].inst == inst)
        self->conns[inst->fd].inst = NULL;
    char *instance = il_strdup(inst->instance);
    zhashx_delete(self->peers, inst->key); /* frees inst */
    if (self->handler.instance) self->handler.instance(self->arg, ext->name, instance, false);
    free(instance);
    s_pump(self, ext);
}

/* Connections ---------------------------------------------------------------
 * A monitor on the ROUTER reports each connection accepted and closed, with
 * its descriptor; each message carries its connection's descriptor too
 * (ZMQ_SRCFD). An instance whose connection closed is dead at once: a killed
 * process's kernel closes its sockets, so its work need not wait for the
 * liveness time-out, which remains for a peer behind a dead link (no FIN).
 * A descriptor number is reused once its connection closed, so a connection
 * is a number and an epoch, counted in the monitor's order. libzmq reports a
 * close before the descriptor is closed, and an accept before the connection
 * is read, so once the monitor is drained, a HELLO's descriptor names the
 * connection the HELLO came over: the monitor is drained before each one. */

static s_conn_t *s_conn(broker_t *self, int fd)
{
    if (fd < 0 || fd > 16 * 1024 * 1024) return NULL;
    if ((size_t)fd >= self->conns_size) {
        size_t size = self->conns_size ? self->conns_size : 64;
        while (size <= (size_t)fd)
            size *= 2;
        self->conns = il_realloc(self->conns, size * sizeof *self->conns);
        memset(self->conns + self->conns_size, 0, (size - self->conns_size) * sizeof *self->conns);
        self->conns_size = size;
    }
    return &self->conns[fd];
}

/* The connection on fd closed: its instance, if any, is dropped. */
static void s_conn_closed(broker_t *self, s_conn_t *conn)
{
    s_inst_t *inst = conn->inst;
    conn->open = false;
    conn->inst = NULL;
    if (!inst) return;
    self->stats.instances_dead++;
    self->stats.instances_closed++;
    s_inst_drop(self, inst, "its connection closed");
}

static void s_on_conn_event(broker_t *self, uint16_t event, int fd)
{
    s_conn_t *conn = s_conn(self, fd);
    if (!conn) return;
    if (event == ZMQ_EVENT_ACCEPTED) {
        /* Open still: its close was not reported (the monitor drops events
         * when its queue is full), yet the number was reused, so it closed. */
        if (conn->open) s_conn_closed(self, conn);
        conn->epoch++;
        conn->open = true;
    } else if (event == ZMQ_EVENT_DISCONNECTED) {
        if (!conn->open) conn->epoch++; /* its accept was not reported */
        s_conn_closed(self, conn);
    }
}

/* Handles every event the monitor holds. */
static void s_monitor_drain(broker_t *self)
{
    if (!self->monitor) return;
    void *handle = zsock_resolve(self->monitor);
    for (int n = 0; n < S_RECV_BATCH; n++) {
        zmq_msg_t head, address;
        zmq_msg_init(&head);
        if (zmq_msg_recv(&head, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&head);
            break;
        }
        /* [event u16 + value u32][endpoint] */
        if (zmq_msg_more(&head)) {
            zmq_msg_init(&address);
            zmq_msg_recv(&address, handle, 0);
            zmq_msg_close(&address);
        }
        if (zmq_msg_size(&head) == 6) {
            uint16_t event;
            uint32_t value;
            memcpy(&event, zmq_msg_data(&head), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&head) + 2, 4);
            s_on_conn_event(self, event, (int)value);
        }
        zmq_msg_close(&head);
    }
}

static int s_on_monitor(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    (void)reader;
    s_monitor_drain(arg);
    return 0;
}

/* The instance registered over the connection fd (the monitor drained). */
static void s_conn_track(broker_t *self, s_inst_t *inst, int fd)
{
    s_conn_t *conn = s_conn(self, fd);
    if (!conn) return;
    if (inst->fd >= 0 && (size_t)inst->fd < self->conns_size && self->conns[inst->fd].inst == inst)
        self->conns[inst->fd].inst = NULL;
    inst->fd = fd;
    /* Not open: the HELLO was read from a connection that closed since; its
     * instance is dropped when the next connection on fd closes, if the
     * liveness time-out did not drop it first. */
    inst->epoch = conn->open ? conn->epoch : conn->epoch + 1;
    if (conn->open) conn->inst = inst;
}

/* A monitor on the ROUTER, before it binds. -1 on failure. */
static int s_monitor_open(broker_t *self)
{
    /* A name never used before: the previous monitor's is released asynchronously. */
    static unsigned seq;
    char endpoint[96];
    snprintf(endpoint, sizeof endpoint, "inproc://il-broker-monitor-%p-%u", (void *)self,
             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    if (zmq_socket_monitor(self->router_handle, endpoint,
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0)
        return -1;
    self->monitor = zsock_new(ZMQ_PAIR);
    if (!self->monitor) return -1;
    zsock_set_rcvhwm(self->monitor, 100000);
    return zsock_connect(self->monitor, "%s", endpoint);
}

/* Incoming commands --------------------------------------------------------- */

static s_inst_t *s_find_instance(s_ext_t *ext, const char *instance)
{
    for (s_inst_t *inst = zlistx_first(ext->instances); inst; inst = zlistx_next(ext->instances))
        if (!strcmp(inst->instance, instance)) return inst;
    return NULL;
}

/* A new instance beyond core.bus.maxInstancesPerExtension or maxInstances:
 * DENIED naming the limit (true), so that connections cannot grow the core
 * without bound. */
static bool s_over_limit(broker_t *self, s_rid_t rid, const char *key, const char *address,
                         s_ext_t *ext, ilp_msg_t *msg)
{
    char reason[256];
    if (zlistx_size(ext->instances) >= self->max_instances_ext)
        snprintf(reason, sizeof reason,
                 "extension '%s' has %zu instances, the most core.bus.maxInstancesPerExtension "
                 "allows",
                 ext->name, zlistx_size(ext->instances));
    else if (zhashx_size(self->peers) >= self->max_instances)
        snprintf(reason, sizeof reason,
                 "the core has %zu instances, the most core.bus.maxInstances allows",
                 zhashx_size(self->peers));
    else
        return false;
    s_warn(self, "bus: HELLO from %s %s (%s, %s): %s", ext->name, msg->instance, key, address,
           reason);
    self->stats.denied++;
    ilp_msg_t denied = {.cmd = ILP_DENIED, .reason = reason};
    s_send(self, rid, &denied);
    return true;
}

static void s_on_hello(broker_t *self, s_rid_t rid, const char *key, const char *address,
                       s_inst_t *known, ilp_msg_t *msg)
{
    s_ext_t *ext = zhashx_lookup(self->exts, msg->name);
    if (!ext) {
        char reason[256];
        snprintf(reason, sizeof reason, "extension '%s' is not in the workflow", msg->name);
        s_warn(self, "bus: HELLO from %s (%s): %s", msg->instance, key, reason);
        self->stats.denied++;
        ilp_msg_t denied = {.cmd = ILP_DENIED, .reason = reason};
        s_send(self, rid, &denied);
        if (known) s_inst_drop(self, known, "said HELLO for another extension");
        return;
    }
    if (known && (known->ext != ext || strcmp(known->instance, msg->instance))) {
        s_inst_drop(self, known, "said HELLO as another instance");
        known = NULL;
    }
    if (!known) {
        s_inst_t *twin = s_find_instance(ext, msg->instance);
        if (twin) s_inst_drop(self, twin, "reconnected");
        if (s_over_limit(self, rid, key, address, ext, msg)) return;
        s_inst_t *inst = il_calloc(1, sizeof *inst);
        inst->key = il_strdup(key);
        memcpy(inst->rid, rid.data, rid.size);
        inst->rid_size = rid.size;
        inst->ext = ext;
        inst->instance = il_strdup(msg->instance);
        inst->address = il_strdup(address);
        inst->fd = -1;
        inst->works = zhashx_new();
        /* keyed by work->id, which lives as long as the work */
        zhashx_set_key_duplicator(inst->works, NULL);
        zhashx_set_key_destructor(inst->works, NULL);
        inst->since = zclock_mono();
        zhashx_insert(self->peers, key, inst);
        zlistx_add_end(ext->instances, inst);
        known = inst;
        s_note(self, IL_LOG_INFO, "bus: %s instance %s registered from %s, credit %u", ext->name,
               msg->instance, known->address, msg->credit);
    }
    free(known->version);
    known->version = msg->version ? il_strdup(msg->version) : NULL;
    known->credit = msg->credit;
    if (known->credit > self->max_credit) {
        /* A peer cannot hold more work than the core honours (core.bus.maxCredit). */
        self->stats.credit_cut++;
        s_note(self, IL_LOG_INFO, "bus: %s instance %s: credit %u cut to %u (core.bus.maxCredit)",
               ext->name, msg->instance, msg->credit, self->max_credit);
        known->credit = self->max_credit;
    }
    known->batch = msg->batch ? msg->batch : 1;
    ilp_msg_t welcome = {.cmd = ILP_WELCOME,
                         .batch = self->batch,
                         .heartbeat_ms = self->heartbeat_ms,
                         .liveness = self->liveness,
                         .core_id = self->core_id};
    if (s_send(self, rid, &welcome) == 0) known->last_sent = zclock_mono();
    if (self->handler.instance) self->handler.instance(self->arg, ext->name, msg->instance, true);
    s_pump(self, ext);
}

static void s_on_result(broker_t *self, s_inst_t *inst, ilp_msg_t *msg)
{
    s_work_t *work = zhashx_lookup(self->works, msg->id);
    if (!work || work->ext != inst->ext) {
        self->stats.results_stale++;
        s_note(self, IL_LOG_DEBUG, "bus: stale RESULT %s from %s %s", msg->id, inst->ext->name,
               inst->instance);
        return;
    }
    inst->stalled = false; /* it answers */
    s_work_detach(work);
    zhashx_delete(self->works, msg->id); /* frees work */
    self->stats.results++;
    inst->results++;
    if (self->handler.result)
        self->handler.result(self->arg, msg->id, inst->ext->name, inst->instance, msg->error,
                             &msg->service);
    s_pump(self, inst->ext);
}

/* The peer's address, as its frames carry it (the routing id is the ROUTER's own). */
static const char *s_peer_address(ilp_recv_t *in)
{
    const char *address = in->kept > 1 ? zmq_msg_gets(&in->parts[1], "Peer-Address") : NULL;
    return address ? address : "";
}

/* The peer's CURVE key as the ZAP handler gave it (User-Id), "" without CURVE. */
static const char *s_peer_key(ilp_recv_t *in)
{
    const char *key = in->kept > 1 ? zmq_msg_gets(&in->parts[1], "User-Id") : NULL;
    return key ? key : "";
}

/* With CURVE, may the peer's key say HELLO as name? When not, DENIED naming
 * the name and the key, logged once for the peer, and its instance (if any)
 * forgotten. */
static bool s_curve_allows(broker_t *self, s_rid_t rid, const char *address, const char *key,
                           const char *name, s_inst_t *known)
{
    char reason[ILP_MAX_TEXT];
    if (!self->auth || ilp_auth_allows(self->auth, key, name, reason, sizeof reason)) return true;
    char line[ILP_MAX_TEXT + 128];
    snprintf(line, sizeof line, "HELLO as %s from %s denied: %s", name, address, reason);
    char who[ILP_MAX_EXT_NAME + 160];
    snprintf(who, sizeof who, "denied %s %s %s", address, key, name);
    ilp_auth_log_once(self->auth, IL_LOG_WARN, who, line);
    self->stats.denied++;
    ilp_msg_t denied = {.cmd = ILP_DENIED, .reason = reason};
    s_send(self, rid, &denied);
    if (known) s_inst_drop(self, known, "its key may not register so");
    return false;
}

/* With CURVE, after the key ring changed: an instance whose key is no longer
 * allowed (removed from clientCerts, or its names changed) is told DENIED
 * and forgotten; what it sends next is refused (ERROR unknown-peer, then
 * DENIED on its HELLO). */
static void s_curve_recheck(broker_t *self)
{
    if (!self->auth) return;
    ilp_auth_refresh(self->auth);
    ilp_auth_close_revoked(self->auth); /* those told DENIED at the previous tick */
    if (ilp_auth_generation(self->auth) == self->auth_generation) return;
    self->auth_generation = ilp_auth_generation(self->auth);
    zlistx_t *gone = zlistx_new();
    for (s_inst_t *inst = zhashx_first(self->peers); inst; inst = zhashx_next(self->peers))
        if (!ilp_auth_allows(self->auth, inst->curve_key, inst->ext->name, NULL, 0))
            zlistx_add_end(gone, inst);
    for (s_inst_t *inst = zlistx_first(gone); inst; inst = zlistx_next(gone)) {
        char reason[ILP_MAX_TEXT];
        ilp_auth_allows(self->auth, inst->curve_key, inst->ext->name, reason, sizeof reason);
        ilp_msg_t denied = {.cmd = ILP_DENIED, .reason = reason};
        s_send(self, s_inst_rid(inst), &denied);
        self->stats.denied++;
        s_inst_drop(self, inst, reason);
    }
    zlistx_destroy(&gone);
}

/* One received message, whose items (one, or a batch) are handled in turn. */
typedef struct {
    broker_t *self;
    s_rid_t rid;
    ilp_recv_t *in;
    char key[2 * S_MAX_RID + 1]; /* the routing id in hex */
    bool told_unknown;           /* ERROR unknown-peer sent for this message */
} s_input_t;

static void s_on_message(s_input_t *input, ilp_msg_t *msg)
{
    broker_t *self = input->self;
    s_rid_t rid = input->rid;
    ilp_recv_t *in = input->in;
    const char *key = input->key;
    /* Before the look-up: what the monitor holds may drop an instance. */
    if (msg->cmd == ILP_HELLO) s_monitor_drain(self);
    s_inst_t *inst = zhashx_lookup(self->peers, key);
    if (inst) inst->last_recv = zclock_mono();
    if (msg->cmd == ILP_HELLO) {
        if (!s_curve_allows(self, rid, s_peer_address(in), s_peer_key(in), msg->name, inst)) return;
        if (self->refusing) {
            s_send_error(self, rid, ILP_CODE_NOT_LEADER, self->refusing, NULL);
            return;
        }
        s_on_hello(self, rid, key, s_peer_address(in), inst, msg);
        if ((inst = zhashx_lookup(self->peers, key))) {
            inst->last_recv = zclock_mono();
            s_conn_track(self, inst, zmq_msg_get(&in->parts[1], ZMQ_SRCFD));
        }
        if (inst && self->auth && !inst->curve_key) {
            inst->curve_key = il_strdup(s_peer_key(in));
            ilp_auth_track(self->auth, zmq_msg_get(&in->parts[1], ZMQ_SRCFD), inst->curve_key);
        }
    } else if (msg->cmd >= ILP_WELCOME) {
        self->stats.malformed++;
        s_warn(self, "bus: peer %s sent %s, a core-to-extension command", key,
               ilp_cmd_name(msg->cmd));
        s_send_error(self, rid, ILP_CODE_UNEXPECTED,
                     "unexpected command: extensions do not send this", NULL);
    } else if (!inst) {
        if (msg->cmd != ILP_BYE && !input->told_unknown) { /* once for a whole batch */
            self->stats.unknown_peer++;
            s_note(self, IL_LOG_DEBUG, "bus: %s from unregistered peer %s", ilp_cmd_name(msg->cmd),
                   key);
            s_send_error(self, rid, ILP_CODE_UNKNOWN_PEER, "unknown peer: send HELLO", NULL);
            input->told_unknown = true;
        }
    } else if (msg->cmd == ILP_EVENT) {
        self->stats.events++;
        if (self->handler.event)
            self->handler.event(self->arg, inst->ext->name, inst->instance, msg->action,
                                &msg->service);
    } else if (msg->cmd == ILP_RESULT) {
        s_on_result(self, inst, msg);
    } else if (msg->cmd == ILP_BYE) {
        s_inst_drop(self, inst, "said BYE");
    }
    /* HEARTBEAT: last_recv above is all it does */
}

/* A message, or one item of a batch, that does not decode: id is the
 * item's when it could be read, so that the extension knows which. */
static void s_on_malformed(s_input_t *input, const char *why, const char *id)
{
    broker_t *self = input->self;
    self->stats.malformed++;
    s_warn(self, "bus: malformed message from peer %s (%s): %s", input->key,
           s_peer_address(input->in), why);
    s_send_error(self, input->rid, ILP_CODE_MALFORMED, why, id);
}

static void s_on_item(void *arg, ilp_msg_t *msg, const char *why, const char *id)
{
    if (msg)
        s_on_message(arg, msg);
    else
        s_on_malformed(arg, why, id);
}

static int s_on_router(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    (void)reader;
    broker_t *self = arg;
    /* Every message is read in place (zmq_msg_t), without a zmsg and its
     * frames; ilp_recv returns -1 once the socket is drained. */
    self->draining = true;
    for (int n = 0; n < S_RECV_BATCH; n++) {
        ilp_recv_t in;
        if (ilp_recv(self->router_handle, &in) != 0) break;
        self->stats.msgs_in++;
        s_input_t input = {.self = self, .in = &in};
        input.rid = (s_rid_t){zmq_msg_data(&in.parts[0]), zmq_msg_size(&in.parts[0])};
        s_hex(input.rid, input.key);
        ilp_frame_t frames[ILP_RECV_PARTS];
        ilp_recv_frames(&in, 1, frames);
        char why[300];
        int items = ilp_msg_decode_batch(frames, in.count - 1, &self->zone, ILP_DECODE_LEAN,
                                         s_on_item, &input, why, sizeof why);
        if (items < 0) s_on_malformed(&input, why, NULL);
        if (items > 1) self->stats.batches_in++;
        ilp_recv_close(&in);
    }
    self->draining = false;
    for (s_ext_t *ext = zhashx_first(self->exts); ext; ext = zhashx_next(self->exts))
        if (ext->pump_due) s_pump(self, ext);
    if (self->handler.drained) self->handler.drained(self->arg);
    broker_publish_flush(self);
    return 0;
}

/* Subscriptions arriving on the XPUB socket: 1 + prefix subscribes, 0 +
 * prefix unsubscribes (XPUB passes the first and the last of each; with
 * CURVE, every subscribe, and the subscriber's connection is tracked). */
static int s_on_xpub(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    broker_t *self = arg;
    for (int n = 0; n < S_RECV_BATCH; n++) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, zsock_resolve(reader), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frame);
            break;
        }
        size_t size = zmq_msg_size(&frame);
        const byte *data = zmq_msg_data(&frame);
        if (self->auth && size >= 1 && data[0] == 1) /* a subscriber: its connection's key */
            ilp_auth_track(self->auth, zmq_msg_get(&frame, ZMQ_SRCFD),
                           zmq_msg_gets(&frame, "User-Id"));
        if (size >= 1 && (data[0] == 0 || data[0] == 1) && size - 1 <= ILP_MAX_EXT_NAME + 16) {
            char topic[ILP_MAX_EXT_NAME + 17];
            memcpy(topic, data + 1, size - 1);
            topic[size - 1] = 0;
            if (data[0] == 1)
                zhashx_update(self->subscriptions, topic, "");
            else
                zhashx_delete(self->subscriptions, topic);
        }
        zmq_msg_close(&frame);
    }
    self->sub_state = broker_has_subscriber(self, "state");
    self->sub_changes = broker_has_subscriber(self, ILP_TOPIC_CHANGES);
    return 0;
}

/* Heartbeats: drop the silent, ping the idle, pump what waits. */
static int s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    broker_t *self = arg;
    int64_t now = zclock_mono();
    int64_t dead_after = (int64_t)self->heartbeat_ms * self->liveness;
    s_curve_recheck(self);
    zlistx_t *dead = zlistx_new();
    for (s_inst_t *inst = zhashx_first(self->peers); inst; inst = zhashx_next(self->peers)) {
        if (now - inst->last_recv > dead_after) {
            zlistx_add_end(dead, inst);
            continue;
        }
        if (now - inst->last_sent >= self->heartbeat_ms) {
            ilp_msg_t hb = {.cmd = ILP_HEARTBEAT};
            if (s_send(self, s_inst_rid(inst), &hb) == 0) inst->last_sent = now;
        }
    }
    for (s_inst_t *inst = zlistx_first(dead); inst; inst = zlistx_next(dead)) {
        self->stats.instances_dead++;
        char why[64];
        snprintf(why, sizeof why, "silent for %lld ms", (long long)(now - inst->last_recv));
        s_inst_drop(self, inst, why);
    }
    zlistx_destroy(&dead);
    s_note_flush(self, now / 1000);
    for (s_ext_t *ext = zhashx_first(self->exts); ext; ext = zhashx_next(self->exts))
        s_pump(self, ext);
    broker_publish_flush(self);
    return 0;
}

/* Public API ---------------------------------------------------------------- */

static char *s_bind(zsock_t *sock, const char *endpoint, const char *what)
{
    if (zsock_bind(sock, "%s", endpoint) < 0) {
        il_log_error("bus: cannot bind %s socket to %s: %s", what, endpoint,
                     zmq_strerror(zmq_errno()));
        return NULL;
    }
    return zsock_last_endpoint(sock);
}

/* CURVE on both sockets, the ZAP handler bound first: without one, libzmq
 * would accept every key. */
static int s_curve_setup(broker_t *self, const broker_config_t *config)
{
    char err[1024];
    ilp_cert_t cert;
    if (ilp_cert_load_pair(&cert, config->curve_cert, err, sizeof err) != 0) {
        il_log_error("bus: core.bus.curve.coreCert: %s", err);
        return -1;
    }
    self->auth = ilp_auth_new(config->client_certs, err, sizeof err);
    if (!self->auth) {
        il_log_error("bus: %s", err);
        ilp_cert_clear(&cert);
        return -1;
    }
    zsock_t *socks[] = {self->router, self->pub};
    for (int i = 0; i < 2; i++) {
        zsock_set_zap_domain(socks[i], "interlook");
        zsock_set_curve_server(socks[i], 1);
        zsock_set_curve_secretkey(socks[i], cert.secret_key);
    }
    /* Every subscriber's first subscription, so that each SUB connection
     * (and its key) is seen: the last unsubscription still comes alone. */
    zsock_set_xpub_verbose(self->pub, 1);
    il_log_info("bus: CURVE on, core key %s, %zu client key(s) in %s", cert.public_key,
                ilp_auth_size(self->auth), config->client_certs);
    ilp_cert_clear(&cert);
    return 0;
}

broker_t *broker_new(const broker_config_t *config, const broker_handler_t *handler, void *arg)
{
    if (!config || !config->router_endpoint || !config->publish_endpoint || !config->extensions ||
        !config->extensions[0]) {
        il_log_error("bus: broker needs both endpoints and at least one extension name");
        return NULL;
    }
    broker_t *self = il_calloc(1, sizeof *self);
    self->heartbeat_ms = config->heartbeat_ms ? config->heartbeat_ms : IL_BUS_DEFAULT_HEARTBEAT_MS;
    self->liveness = config->liveness ? config->liveness : IL_BUS_DEFAULT_LIVENESS;
    self->batch = config->batch && config->batch <= ILP_MAX_BATCH ? config->batch : ILP_MAX_BATCH;
    self->max_credit = config->max_credit ? config->max_credit : IL_BUS_DEFAULT_MAX_CREDIT;
    self->max_instances_ext =
        config->max_instances_ext ? config->max_instances_ext : IL_BUS_DEFAULT_MAX_INSTANCES_EXT;
    self->max_instances =
        config->max_instances ? config->max_instances : IL_BUS_DEFAULT_MAX_INSTANCES;
    if (handler) self->handler = *handler;
    self->arg = arg;
    self->timer_id = -1;
    if (config->core_id)
        self->core_id = il_strdup(config->core_id);
    else {
        zuuid_t *uuid = zuuid_new();
        self->core_id = il_strdup(zuuid_str_canonical(uuid));
        zuuid_destroy(&uuid);
    }
    self->exts = zhashx_new();
    zhashx_set_destructor(self->exts, (zhashx_destructor_fn *)s_ext_free);
    self->peers = zhashx_new();
    zhashx_set_destructor(self->peers, (zhashx_destructor_fn *)s_inst_free);
    self->works = zhashx_new();
    zhashx_set_destructor(self->works, (zhashx_destructor_fn *)s_work_free);
    /* keyed by work->id, which lives as long as the work */
    zhashx_set_key_duplicator(self->works, NULL);
    zhashx_set_key_destructor(self->works, NULL);
    msgpack_sbuffer_init(&self->scratch);
    ilp_batch_init(&self->out);
    ilp_batch_init(&self->changes);
    msgpack_zone_init(&self->zone, 4096);
    for (const char *const *name = config->extensions; *name; name++) {
        if (zhashx_lookup(self->exts, *name)) continue;
        s_ext_t *ext = il_calloc(1, sizeof *ext);
        ext->name = il_strdup(*name);
        ext->instances = zlistx_new();
        ext->queue = zlistx_new();
        zhashx_insert(self->exts, *name, ext);
    }
    self->subscriptions = zhashx_new();
    self->router = zsock_new(ZMQ_ROUTER);
    /* XPUB: a PUB that also tells which topics someone listens to, so that
     * publications nobody would receive are not even built. */
    self->pub = zsock_new(ZMQ_XPUB);
    if (!self->router || !self->pub) {
        broker_destroy(&self);
        return NULL;
    }
    /* Options before bind: a dead or slow peer must be an error, not a silent
     * drop or a blocked loop; oversized frames disconnect the sender. */
    self->router_handle = zsock_resolve(self->router);
    zsock_set_router_mandatory(self->router, 1);
    zsock_set_sndtimeo(self->router, 0);
    zsock_set_rcvtimeo(self->router, 0);
    zsock_set_maxmsgsize(self->router, IL_CODEC_MAX_FRAME);
    zsock_set_linger(self->router, 200);
    zsock_set_sndhwm(self->router, 100000);
    zsock_set_rcvhwm(self->router, 100000);
    zsock_set_sndhwm(self->pub, 100000);
    zsock_set_linger(self->pub, 200);
    zsock_set_rcvtimeo(self->pub, 0);
    if (s_monitor_open(self) != 0) {
        il_log_error("bus: cannot monitor the ROUTER's connections: %s", zmq_strerror(zmq_errno()));
        broker_destroy(&self);
        return NULL;
    }
    if (config->curve_cert && s_curve_setup(self, config) != 0) {
        broker_destroy(&self);
        return NULL;
    }
    self->router_endpoint = s_bind(self->router, config->router_endpoint, "ROUTER");
    self->publish_endpoint =
        self->router_endpoint ? s_bind(self->pub, config->publish_endpoint, "PUB") : NULL;
    if (!self->router_endpoint || !self->publish_endpoint) {
        broker_destroy(&self);
        return NULL;
    }
    il_log_info("bus: core %s, ROUTER bound to %s, PUB bound to %s, heartbeat %u ms x %u",
                self->core_id, self->router_endpoint, self->publish_endpoint, self->heartbeat_ms,
                self->liveness);
    return self;
}

void broker_destroy(broker_t **self_p)
{
    if (!self_p || !*self_p) return;
    broker_t *self = *self_p;
    if (self->monitor) zmq_socket_monitor(self->router_handle, NULL, 0);
    zsock_destroy(&self->monitor);
    zsock_destroy(&self->router);
    zsock_destroy(&self->pub);
    ilp_auth_destroy(&self->auth); /* after the sockets it guards */
    zhashx_destroy(&self->peers);  /* before works: instances index them */
    zhashx_destroy(&self->exts);
    zhashx_destroy(&self->works);
    zhashx_destroy(&self->subscriptions);
    msgpack_sbuffer_destroy(&self->scratch);
    ilp_batch_destroy(&self->out);
    ilp_batch_destroy(&self->changes);
    msgpack_zone_destroy(&self->zone);
    free(self->router_endpoint);
    free(self->publish_endpoint);
    free(self->core_id);
    free(self->refusing);
    free(self->conns);
    free(self);
    *self_p = NULL;
}

int broker_attach(broker_t *self, zloop_t *loop)
{
    if (zloop_reader(loop, self->router, s_on_router, self) != 0) return -1;
    if (zloop_reader(loop, self->pub, s_on_xpub, self) != 0 ||
        zloop_reader(loop, self->monitor, s_on_monitor, self) != 0) {
        zloop_reader_end(loop, self->router);
        zloop_reader_end(loop, self->pub);
        return -1;
    }
    self->timer_id = zloop_timer(loop, self->heartbeat_ms, 0, s_on_tick, self);
    if (self->timer_id < 0 || (self->auth && ilp_auth_attach(self->auth, loop) != 0)) {
        zloop_reader_end(loop, self->router);
        zloop_reader_end(loop, self->pub);
        zloop_reader_end(loop, self->monitor);
        return -1;
    }
    zmsg_t *started = ilp_pub_core("started", self->core_id);
    broker_publish(self, &started);
    return 0;
}

void broker_detach(broker_t *self, zloop_t *loop)
{
    zloop_reader_end(loop, self->router);
    zloop_reader_end(loop, self->pub);
    zloop_reader_end(loop, self->monitor);
    if (self->timer_id >= 0) zloop_timer_end(loop, self->timer_id);
    self->timer_id = -1;
    if (self->auth) ilp_auth_detach(self->auth, loop);
}

int broker_dispatch(broker_t *self, const char *work_id, const char *extension, ilp_action_t action,
                    uint32_t attempt, const il_service_t *service)
{
    if (!service) return -1;
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    il_service_pack(service, &pk);
    int rc = broker_dispatch_packed(self, work_id, extension, action, attempt, buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

int broker_dispatch_packed(broker_t *self, const char *work_id, const char *extension,
                           ilp_action_t action, uint32_t attempt, const char *service,
                           size_t service_len)
{
    return broker_dispatch_avoiding(self, work_id, extension, action, attempt, service, service_len,
                                    NULL);
}

int broker_dispatch_avoiding(broker_t *self, const char *work_id, const char *extension,
                             ilp_action_t action, uint32_t attempt, const char *service,
                             size_t service_len, const char *avoid)
{
    s_ext_t *ext = extension ? zhashx_lookup(self->exts, extension) : NULL;
    if (!ext || !work_id || !*work_id || strlen(work_id) > ILP_MAX_ID || !service || !service_len ||
        action == ILP_ACTION_NONE)
        return -1;
    ilp_msg_pack_work(&self->scratch, work_id, action, attempt, service, service_len);
    s_work_t *work = il_calloc(1, sizeof *work);
    char *body = il_malloc(self->scratch.size);
    memcpy(body, self->scratch.data, self->scratch.size);
    broker_cancel(self, work_id);
    memcpy(work->id, work_id, strlen(work_id) + 1); /* at most ILP_MAX_ID, checked above */
    work->ext = ext;
    work->body = body;
    work->body_size = self->scratch.size;
    work->avoid = avoid && *avoid ? il_strdup(avoid) : NULL;
    zhashx_insert(self->works, work->id, work);
    work->queue_handle = zlistx_add_end(ext->queue, work);
    s_pump(self, ext);
    return 0;
}

int broker_cancel(broker_t *self, const char *work_id)
{
    s_work_t *work = work_id ? zhashx_lookup(self->works, work_id) : NULL;
    if (!work) return -1;
    s_work_detach(work);
    zhashx_delete(self->works, work_id);
    return 0;
}

int broker_expire(broker_t *self, const char *work_id, char *holder, size_t holder_len)
{
    s_work_t *work = work_id ? zhashx_lookup(self->works, work_id) : NULL;
    if (holder_len) *holder = 0;
    if (!work) return -1;
    self->stats.work_expired++;
    if (work->inst) {
        work->inst->stalled = true;
        if (holder_len) snprintf(holder, holder_len, "%s", work->inst->instance);
    }
    return broker_cancel(self, work_id);
}

bool broker_outstanding(broker_t *self, const char *work_id)
{
    return work_id && zhashx_lookup(self->works, work_id) != NULL;
}

int broker_publish(broker_t *self, zmsg_t **msg_p)
{
    if (!msg_p || !*msg_p) return -1;
    if (self->refusing) {
        zmsg_destroy(msg_p);
        return 0;
    }
    int rc = zmsg_send(msg_p, self->pub);
    if (rc == 0)
        self->stats.published++;
    else
        zmsg_destroy(msg_p);
    return rc;
}

int broker_publish_state(broker_t *self, const char *service, size_t service_len, const char *state,
                         const char *expected, const char *error)
{
    if (self->refusing) return 0;
    ilp_pub_pack_state(&self->scratch, service, service_len, state, expected, error);
    int rc = 0;
    if (self->sub_state) {
        void *pub = zsock_resolve(self->pub);
        /* PUB never blocks: past its high-water mark it drops, as documented. */
        if (zmq_send(pub, "state", 5, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_send(pub, self->scratch.data, self->scratch.size, ZMQ_DONTWAIT) < 0)
            rc = -1;
        else
            self->stats.published++;
    }
    if (self->sub_changes) {
        if (!ilp_batch_fits(&self->changes, self->scratch.size)) broker_publish_flush(self);
        if (ilp_batch_add(&self->changes, self->scratch.data, self->scratch.size) != 0) rc = -1;
    }
    return rc;
}

void broker_publish_flush(broker_t *self)
{
    size_t size = 0;
    const void *body = ilp_batch_array(&self->changes, &size);
    if (!body) return;
    void *pub = zsock_resolve(self->pub);
    /* PUB never blocks: past its high-water mark it drops, as documented. */
    if (zmq_send(pub, ILP_TOPIC_CHANGES, strlen(ILP_TOPIC_CHANGES), ZMQ_SNDMORE | ZMQ_DONTWAIT) >=
            0 &&
        zmq_send(pub, body, size, ZMQ_DONTWAIT) >= 0)
        self->stats.published++;
    ilp_batch_clear(&self->changes);
}

bool broker_wants_states(broker_t *self)
{
    return self->sub_state || self->sub_changes;
}

bool broker_has_subscriber(broker_t *self, const char *topic)
{
    for (void *v = zhashx_first(self->subscriptions); v; v = zhashx_next(self->subscriptions)) {
        const char *prefix = zhashx_cursor(self->subscriptions);
        if (strncmp(topic, prefix, strlen(prefix)) == 0) return true;
    }
    return false;
}

size_t broker_instance_count(broker_t *self, const char *extension)
{
    if (!extension) return zhashx_size(self->peers);
    s_ext_t *ext = zhashx_lookup(self->exts, extension);
    return ext ? zlistx_size(ext->instances) : 0;
}

void broker_foreach_instance(broker_t *self,
                             void (*fn)(void *arg, const broker_instance_info_t *info), void *arg)
{
    for (s_inst_t *inst = zhashx_first(self->peers); inst; inst = zhashx_next(self->peers)) {
        broker_instance_info_t info = {.extension = inst->ext->name,
                                       .instance = inst->instance,
                                       .version = inst->version,
                                       .address = inst->address,
                                       .credit = inst->credit,
                                       .in_flight = (uint32_t)zhashx_size(inst->works),
                                       .results = inst->results,
                                       .last_seen_ms = inst->last_recv,
                                       .since_ms = inst->since};
        fn(arg, &info);
    }
}

const broker_stats_t *broker_stats(broker_t *self)
{
    return &self->stats;
}

void broker_set_refusing(broker_t *self, const char *reason)
{
    if (!reason) {
        if (!self->refusing) return;
        zstr_free(&self->refusing);
        zmsg_t *started = ilp_pub_core("started", self->core_id);
        broker_publish(self, &started);
        return;
    }
    char *was = self->refusing;
    self->refusing = il_strdup(reason);
    free(was);
    zlistx_t *all = zlistx_new();
    for (s_inst_t *inst = zhashx_first(self->peers); inst; inst = zhashx_next(self->peers))
        zlistx_add_end(all, inst);
    for (s_inst_t *inst = zlistx_first(all); inst; inst = zlistx_next(all)) {
        s_send_error(self, s_inst_rid(inst), ILP_CODE_NOT_LEADER, reason, NULL);
        s_inst_drop(self, inst, "this core no longer leads");
    }
    zlistx_destroy(&all);
    for (s_ext_t *ext = zhashx_first(self->exts); ext; ext = zhashx_next(self->exts))
        zlistx_purge(ext->queue);
    zhashx_purge(self->works);
    ilp_batch_clear(&self->changes);
}

const char *broker_refusing(broker_t *self)
{
    return self->refusing;
}

const char *broker_core_id(broker_t *self)
{
    return self->core_id;
}

const char *broker_router_endpoint(broker_t *self)
{
    return self->router_endpoint;
}

const char *broker_publish_endpoint(broker_t *self)
{
    return self->publish_endpoint;
}
