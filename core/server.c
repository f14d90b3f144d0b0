/* server: the core daemon's object, see server.h. Inputs enter through the
 * broker callbacks and the timers; the workflow decides; the effects section
 * below is the only place that sends, persists and publishes. */
#include "core/server.h"
#include "broker/broker.h"
#include "broker/ilp_pub.h"
#include "common/log.h"
#include "common/version.h"
#include "core/api.h"
#include "core/listen_addr.h"
#include "core/store.h"
#include "core/workflow.h"

#include <jansson.h>
#include <string.h>

/* Upper bounds (seconds) of the dispatch latency histogram. */
static const double s_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                   0.25,  0.5,    1,     2.5,  5,     10};
#define S_NBUCKETS (sizeof s_buckets / sizeof s_buckets[0])

typedef struct {
    uint64_t events;         /* EVENTs accepted */
    uint64_t events_refused; /* EVENTs from an extension that is not the provider */
    uint64_t work_sent;      /* WORK dispatched by the workflow */
    uint64_t work_retried;   /* of which retries (attempt > 1) */
    uint64_t work_failed;    /* error RESULTs and time-outs */
    uint64_t results;        /* RESULTs accepted */
    uint64_t results_stale;  /* RESULTs the workflow did not expect */
    uint64_t saves;          /* entries file writes */
    uint64_t save_failures;
    double last_save_seconds;
    uint64_t latency[S_NBUCKETS + 1]; /* dispatch -> result, cumulative at export */
    double latency_sum;
    uint64_t latency_count;
} s_metrics_t;

struct _server_t {
    const core_config_t *config;
    zloop_t *loop;
    broker_t *broker;
    workflow_t *workflow;
    store_t *store;
    api_t *api;
    bool dirty;     /* entries changed since the last save */
    int save_timer; /* pending coalesced save, -1 when none */
    bool save_failed;
    s_metrics_t metrics;
    int64_t started;  /* wall-clock ms */
    int resync_timer; /* pending start-up re-synchronisation with the provider, -1 when none */
    bool resynced;    /* done (once per start) */
    entry_t **pubs;   /* entries changed by the input being handled, published after it */
    size_t npubs, pubs_cap;
};

static int64_t s_now(void)
{
    return zclock_time();
}

/* Effects ------------------------------------------------------------------ */

static int s_on_save(zloop_t *loop, int timer_id, void *arg);

static void s_save(server_t *self)
{
    char err[512];
    int64_t start = zclock_usecs();
    if (store_save_changes(self->store, self->workflow, err, sizeof err) != 0) {
        self->metrics.save_failures++;
        if (!self->save_failed) il_log_error("core: cannot save entries: %s (retrying)", err);
        self->save_failed = true;
        return;
    }
    if (self->save_failed) il_log_info("core: entries saved again to %s", store_path(self->store));
    self->save_failed = false;
    self->dirty = false;
    self->metrics.saves++;
    self->metrics.last_save_seconds = (double)(zclock_usecs() - start) / 1e6;
}

/* Coalesces changes: the first change arms one save persistDelay later, or
 * later still when saves are slow (many entries), so that writing the file
 * takes no more than about a tenth of the loop's time. */
static void s_mark_dirty(server_t *self)
{
    self->dirty = true;
    if (self->save_timer >= 0) return;
    int64_t delay = self->config->persist_delay_ms;
    int64_t adaptive = (int64_t)(self->metrics.last_save_seconds * 1000 * 10);
    if (adaptive > delay) delay = adaptive > 10000 ? 10000 : adaptive;
    self->save_timer = zloop_timer(self->loop, (size_t)delay, 1, s_on_save, self);
}

static int s_on_save(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    server_t *self = arg;
    self->save_timer = -1;
    if (self->dirty) s_save(self);
    if (self->dirty) /* failed: try again, at most once a second */
        self->save_timer = zloop_timer(self->loop, 1000, 1, s_on_save, self);
    return 0;
}

static void s_fx_dispatch(void *arg, const entry_t *entry, const char *extension,
                          ilp_action_t action)
{
    server_t *self = arg;
    self->metrics.work_sent++;
    if (entry->attempt > 1) self->metrics.work_retried++;
    ((entry_t *)entry)->wip_mono_us = zclock_usecs();
    il_log_debug("core: %s -> WORK %s %s (attempt %u, %s)", entry->name, ilp_action_name(action),
              extension, entry->attempt, entry->work_id);
    size_t len = 0;
    const char *service = entry_packed_service((entry_t *)entry, &len);
    if (!service || broker_dispatch_packed(self->broker, entry->work_id, extension, action,
                                           entry->attempt, service, len) != 0)
        il_log_error("core: cannot dispatch %s to %s", entry->work_id, extension);
}

static void s_fx_cancel(void *arg, const char *work_id)
{
    server_t *self = arg;
    self->metrics.work_failed++;
    broker_cancel(self->broker, work_id);
}

/* Publishes the entry's state when observers have not seen it yet. */
static void s_publish_state(server_t *self, entry_t *e)
{
    const char *state = entry_state_name(e, workflow_steps(self->workflow));
    if (e->pub_state == state && e->pub_expected == e->expect_deployed && e->pub_error == e->error)
        return; /* observers see each visible change once */
    e->pub_state = state;
    e->pub_expected = e->expect_deployed;
    e->pub_error = e->error;
    size_t len = 0;
    const char *service = entry_packed_service(e, &len);
    if (service)
        broker_publish_state(self->broker, service, len, state,
                             e->expect_deployed ? "deployed" : "undeployed", e->error);
}

/* Publishes the state of the entries that what was just handled (the
 * messages that arrived together, a timer) changed, once each: an entry often
 * moves more than once meanwhile (an EVENT creates it and sends its first
 * WORK), and observers need where it ended up, not the steps it took without
 * waiting for anything. Then the "changes" publication leaves. */
static void s_publish_changes(server_t *self)
{
    for (size_t i = 0; i < self->npubs; i++) {
        self->pubs[i]->pub_queued = false;
        s_publish_state(self, self->pubs[i]);
    }
    self->npubs = 0;
    broker_publish_flush(self->broker);
}

static void s_fx_changed(void *arg, const entry_t *entry)
{
    server_t *self = arg;
    if (!entry->wip && entry->state == ENTRY_DEPLOYED && entry->expect_deployed)
        il_log_info("core: %s deployed%s%s", entry->name, entry->service->public_ip ? " with IP " : "",
                 entry->service->public_ip ? entry->service->public_ip : "");
    else if (!entry->wip && entry->state == ENTRY_UNDEPLOYED && !entry->expect_deployed)
        il_log_info("core: %s undeployed", entry->name);
    store_touch(self->store, (entry_t *)entry);
    s_mark_dirty(self);
    entry_t *e = (entry_t *)entry;
    if (e->pub_queued || !broker_wants_states(self->broker)) return;
    if (self->npubs == self->pubs_cap) {
        size_t cap = self->pubs_cap ? self->pubs_cap * 2 : 64;
        entry_t **pubs = realloc(self->pubs, cap * sizeof *pubs);
        if (!pubs) { /* out of memory: publish now rather than never */
            s_publish_changes(self);
            s_publish_state(self, e);
            return;
        }
        self->pubs = pubs;
        self->pubs_cap = cap;
    }
    e->pub_queued = true;
    self->pubs[self->npubs++] = e;
}

static void s_fx_removed(void *arg, const entry_t *entry)
{
    server_t *self = arg;
    s_publish_changes(self); /* its last change (if pending) before its removal */
    il_log_info("core: %s removed (undeployed since %lld s)", entry->name,
             (long long)((s_now() - entry->close_time) / 1000));
    size_t len = 0;
    const char *service = entry_packed_service((entry_t *)entry, &len);
    if (service) broker_publish_state(self->broker, service, len, "removed", "undeployed", NULL);
    store_forget(self->store, (entry_t *)entry);
    s_mark_dirty(self);
}

static void s_fx_refresh(void *arg, const char *provider, const char *name)
{
    server_t *self = arg;
    il_log_debug("core: asking %s to refresh %s", provider, name);
    zmsg_t *pub = ilp_pub_refresh(provider, name);
    broker_publish(self->broker, &pub);
}

/* Inputs: the bus ----------------------------------------------------------- */

static void s_on_event(void *arg, const char *extension, const char *instance, ilp_action_t action,
                       il_service_t **service_p)
{
    server_t *self = arg;
    const char *name = (*service_p)->name;
    if (workflow_event(self->workflow, extension, action, service_p, s_now()) != 0) {
        self->metrics.events_refused++;
        il_log_warn("core: EVENT %s %s from %s %s refused: only %s reports services",
                 ilp_action_name(action), name, extension, instance,
                 workflow_steps(self->workflow)[0]);
        return;
    }
    self->metrics.events++;
}

static void s_observe_latency(server_t *self, int64_t since_us)
{
    if (since_us <= 0) return;
    double seconds = (double)(zclock_usecs() - since_us) / 1e6;
    size_t b = 0;
    while (b < S_NBUCKETS && seconds > s_buckets[b])
        b++;
    self->metrics.latency[b]++;
    self->metrics.latency_sum += seconds;
    self->metrics.latency_count++;
}

static void s_on_result(void *arg, const char *work_id, const char *extension, const char *instance,
                        const char *error, il_service_t **service_p)
{
    server_t *self = arg;
    entry_t *entry = workflow_work_entry(self->workflow, work_id);
    int64_t since_us = entry ? entry->wip_mono_us : 0;
    if (!entry ||
        workflow_entry_result(self->workflow, entry, extension, error, service_p, s_now()) != 0) {
        self->metrics.results_stale++;
        il_log_debug("core: unexpected RESULT %s from %s %s: dropped", work_id, extension, instance);
        return;
    }
    s_observe_latency(self, since_us);
    self->metrics.results++;
    if (error) {
        self->metrics.work_failed++;
        il_log_warn("core: %s %s failed: %s", extension, work_id, error);
    }
}

/* What arrived together was handled: publish what it changed. */
static void s_on_drained(void *arg)
{
    s_publish_changes(arg);
}

/* Inputs: timers ------------------------------------------------------------ */

static int s_on_flow(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    server_t *self = arg;
    workflow_tick(self->workflow, s_now());
    s_publish_changes(self);
    return 0;
}

static int s_on_housekeep(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    server_t *self = arg;
    workflow_housekeep(self->workflow, s_now());
    s_publish_changes(self);
    return 0;
}

/* Inputs: the HTTP API (answered in the loop) -------------------------------- */

static void s_reply_json(api_reply_t *reply, int status, json_t *obj)
{
    reply->status = status;
    reply->content_type = "application/json";
    reply->body = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
}

/* {"error": text} with that status; fmt takes one string. */
static void s_reply_error(api_reply_t *reply, int status, const char *fmt, const char *arg)
{
    char text[512];
    snprintf(text, sizeof text, fmt, arg);
    s_reply_json(reply, status, json_pack("{s:s}", "error", text));
}

static json_t *s_services_json(server_t *self)
{
    const char *const *steps = workflow_steps(self->workflow);
    json_t *all = json_object();
    for (entry_t *e = workflow_first(self->workflow); e; e = workflow_next(self->workflow))
        json_object_set_new(all, e->name, entry_to_json(e, steps));
    return all;
}

typedef struct {
    json_t *by_ext;
    int64_t now;
} s_ext_walk_t;

static void s_ext_item(void *arg, const broker_instance_info_t *info)
{
    s_ext_walk_t *walk = arg;
    json_t *list = json_object_get(walk->by_ext, info->extension);
    if (!list) return;
    json_array_append_new(
        list, json_pack("{s:s, s:s?, s:s, s:I, s:I, s:I, s:I, s:I}", "instance", info->instance,
                        "version", info->version, "address", info->address, "credit",
                        (json_int_t)info->credit, "in_flight", (json_int_t)info->in_flight,
                        "results", (json_int_t)info->results, "last_heartbeat_ms_ago",
                        (json_int_t)(walk->now - info->last_seen_ms), "connected_for_ms",
                        (json_int_t)(walk->now - info->since_ms)));
}

static json_t *s_extensions_json(server_t *self)
{
    s_ext_walk_t walk = {json_object(), zclock_mono()};
    for (const char *const *step = workflow_steps(self->workflow); *step; step++)
        json_object_set_new(walk.by_ext, *step, json_array());
    broker_foreach_instance(self->broker, s_ext_item, &walk);
    return walk.by_ext;
}

static char *s_metrics_text(server_t *self)
{
    const char *const *steps = workflow_steps(self->workflow);
    int nsteps = workflow_nsteps(self->workflow);
    size_t by_pos[CORE_MAX_STEPS] = {0};
    size_t deployed = 0, undeployed = 0, wip = 0, errors = 0;
    for (entry_t *e = workflow_first(self->workflow); e; e = workflow_next(self->workflow)) {
        if (e->wip) wip++;
        if (e->error) errors++;
        if (e->state == ENTRY_DEPLOYED)
            deployed++;
        else if (e->state == ENTRY_UNDEPLOYED)
            undeployed++;
        else
            by_pos[e->pos]++;
    }
    const broker_stats_t *bus = broker_stats(self->broker);
    const s_metrics_t *m = &self->metrics;
    zchunk_t *out = zchunk_new(NULL, 4096);
    char line[512];
#define S_PUT(...)                                                                                 \
    do {                                                                                           \
        snprintf(line, sizeof line, __VA_ARGS__);                                                  \
        zchunk_extend(out, line, strlen(line));                                                    \
    } while (0)
    S_PUT("# HELP interlook_entries Tracked services by state reached.\n"
          "# TYPE interlook_entries gauge\n");
    S_PUT("interlook_entries{state=\"deployed\"} %zu\n", deployed);
    S_PUT("interlook_entries{state=\"undeployed\"} %zu\n", undeployed);
    for (int i = 0; i < nsteps; i++)
        S_PUT("interlook_entries{state=\"%s\"} %zu\n", steps[i], by_pos[i]);
    S_PUT("# TYPE interlook_entries_wip gauge\ninterlook_entries_wip %zu\n", wip);
    S_PUT("# TYPE interlook_entries_error gauge\ninterlook_entries_error %zu\n", errors);
    S_PUT("# TYPE interlook_entries_backoff gauge\ninterlook_entries_backoff %zu\n",
          workflow_waiting(self->workflow));
    struct {
        const char *name, *help;
        uint64_t value;
    } counters[] = {
        {"interlook_events_total", "EVENTs accepted from the provider.", m->events},
        {"interlook_events_refused_total", "EVENTs from extensions that are not the provider.",
         m->events_refused},
        {"interlook_work_sent_total", "WORK items dispatched.", m->work_sent},
        {"interlook_work_retried_total", "WORK items dispatched again after a failure.",
         m->work_retried},
        {"interlook_work_failed_total", "Steps that answered an error or timed out.",
         m->work_failed},
        {"interlook_results_total", "RESULTs accepted.", m->results},
        {"interlook_results_stale_total", "RESULTs for work no longer expected.",
         m->results_stale + bus->results_stale},
        {"interlook_work_redispatched_total", "WORK items moved from a dead instance.",
         bus->work_redispatched},
        {"interlook_bus_messages_received_total", "Messages received on the bus.", bus->msgs_in},
        {"interlook_bus_messages_sent_total", "Messages sent on the bus.", bus->msgs_out},
        {"interlook_bus_batches_received_total",
         "Messages received with more than one item (EVENT, RESULT).", bus->batches_in},
        {"interlook_bus_batches_sent_total", "WORK messages sent with more than one item.",
         bus->batches_out},
        {"interlook_bus_malformed_total", "Malformed messages refused.", bus->malformed},
        {"interlook_bus_denied_total", "HELLOs refused.", bus->denied},
        {"interlook_bus_unknown_peer_total", "Messages from peers that did not say HELLO.",
         bus->unknown_peer},
        {"interlook_bus_send_failures_total", "Sends refused by a gone or full peer.",
         bus->send_failures},
        {"interlook_instances_dead_total", "Instances dropped for silence.", bus->instances_dead},
        {"interlook_entries_saves_total", "Writes of the entries file.", m->saves},
        {"interlook_entries_save_failures_total", "Failed writes of the entries file.",
         m->save_failures},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        S_PUT("# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counters[i].name, counters[i].help,
              counters[i].name, counters[i].name, (unsigned long long)counters[i].value);
    S_PUT("# HELP interlook_instances_alive Live instances per extension.\n"
          "# TYPE interlook_instances_alive gauge\n");
    for (int i = 0; i < nsteps; i++)
        S_PUT("interlook_instances_alive{extension=\"%s\"} %zu\n", steps[i],
              broker_instance_count(self->broker, steps[i]));
    S_PUT("# HELP interlook_dispatch_latency_seconds Time from WORK sent to its RESULT.\n"
          "# TYPE interlook_dispatch_latency_seconds histogram\n");
    uint64_t cumulative = 0;
    for (size_t b = 0; b < S_NBUCKETS; b++) {
        cumulative += m->latency[b];
        S_PUT("interlook_dispatch_latency_seconds_bucket{le=\"%g\"} %llu\n", s_buckets[b],
              (unsigned long long)cumulative);
    }
    S_PUT("interlook_dispatch_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
          (unsigned long long)m->latency_count);
    S_PUT("interlook_dispatch_latency_seconds_sum %.6f\n", m->latency_sum);
    S_PUT("interlook_dispatch_latency_seconds_count %llu\n", (unsigned long long)m->latency_count);
    S_PUT("# TYPE interlook_entries_save_seconds gauge\ninterlook_entries_save_seconds %.6f\n",
          m->last_save_seconds);
#undef S_PUT
    char *text = malloc(zchunk_size(out) + 1);
    memcpy(text, zchunk_data(out), zchunk_size(out));
    text[zchunk_size(out)] = 0;
    zchunk_destroy(&out);
    return text;
}

static void s_on_request(void *arg, const char *method, const char *path, api_reply_t *reply)
{
    server_t *self = arg;
    static const char *const known[] = {"/health",  "/services", "/workflow", "/extensions",
                                        "/version", "/metrics",  NULL};
    bool is_known = strncmp(path, "/services/", 10) == 0 && path[10];
    for (const char *const *k = known; *k && !is_known; k++)
        is_known = !strcmp(path, *k);
    if (!is_known) {
        s_reply_error(reply, 404, "no such path: %s", path);
        return;
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        s_reply_error(reply, 405, "method %s not allowed (use GET)", method);
        return;
    }
    if (!strcmp(path, "/health")) {
        s_reply_json(reply, 200,
                     json_pack("{s:s, s:s, s:I, s:b}", "status", "ok", "core_id",
                               broker_core_id(self->broker), "entries",
                               (json_int_t)workflow_size(self->workflow), "entries_saved",
                               !self->dirty));
    } else if (!strcmp(path, "/services")) {
        s_reply_json(reply, 200, s_services_json(self));
    } else if (!strncmp(path, "/services/", 10)) {
        entry_t *entry = workflow_lookup(self->workflow, path + 10);
        if (!entry) {
            s_reply_error(reply, 404, "no service named '%s'", path + 10);
            return;
        }
        s_reply_json(reply, 200, entry_to_json(entry, workflow_steps(self->workflow)));
    } else if (!strcmp(path, "/workflow")) {
        json_t *steps = json_array();
        for (const char *const *s = workflow_steps(self->workflow); *s; s++)
            json_array_append_new(steps, json_string(*s));
        s_reply_json(reply, 200, json_pack("{s:o}", "steps", steps));
    } else if (!strcmp(path, "/extensions")) {
        s_reply_json(reply, 200, s_extensions_json(self));
    } else if (!strcmp(path, "/version")) {
        s_reply_json(reply, 200,
                     json_pack("{s:s, s:s, s:s}", "version", INTERLOOK_VERSION, "protocol",
                               ILP_SIGNATURE, "core_id", broker_core_id(self->broker)));
    } else {
        reply->status = 200;
        reply->content_type = "text/plain; version=0.0.4";
        reply->body = s_metrics_text(self);
    }
}

/* Start-up re-synchronisation -------------------------------------------------
 * The entries file is written shortly after changes, not before the work they
 * cause is sent: after a kill -9, an entry can come back deployed although its
 * provider had reported it deleted (and its steps may have been undone).
 * Providers re-report what exists after each WELCOME; what they do not
 * re-report within a few heartbeats of the first registration is asked
 * about, once, with a refresh (answered add or delete). */

static int s_on_resync(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    server_t *self = arg;
    self->resync_timer = -1;
    self->resynced = true;
    size_t asked = workflow_resync(self->workflow, self->started);
    if (asked > 0)
        il_log_info("core: asked %s about %zu entries it has not re-reported since the start",
                 self->config->steps[0], asked);
    return 0;
}

static void s_on_instance(void *arg, const char *extension, const char *instance, bool alive)
{
    server_t *self = arg;
    (void)instance;
    if (!alive || self->resynced || self->resync_timer >= 0 ||
        strcmp(extension, self->config->steps[0]))
        return;
    size_t delay = (size_t)self->config->bus.heartbeat_ms * 3;
    self->resync_timer = zloop_timer(self->loop, delay, 1, s_on_resync, self);
}

/* Lifecycle ------------------------------------------------------------------ */

server_t *server_new(const core_config_t *config, char *err, size_t errlen)
{
    server_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->config = config;
    self->save_timer = -1;
    self->resync_timer = -1;
    self->started = s_now();
    self->loop = zloop_new();
    workflow_timing_t timing = {.wip_timeout_ms = config->wip_timeout_ms,
                                .max_last_updated_ms = config->max_last_updated_ms,
                                .clean_after_ms = config->clean_undeployed_ms,
                                .retry_min_ms = config->retry_min_ms,
                                .retry_max_ms = config->retry_max_ms};
    workflow_effects_t effects = {.dispatch = s_fx_dispatch,
                                  .cancel = s_fx_cancel,
                                  .changed = s_fx_changed,
                                  .removed = s_fx_removed,
                                  .refresh = s_fx_refresh};
    /* Work ids carry a per-run prefix, so a RESULT from before a restart can
     * never complete a newer WORK that happens to reuse the counter. */
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%08x", (unsigned)(randof(0x7fffffff) ^ (unsigned)s_now()));
    self->workflow = workflow_new(config->steps, config->nsteps, &timing, prefix, &effects, self);
    self->store = self->workflow ? store_new(config->entries_file, err, errlen) : NULL;
    if (!self->loop || !self->store) goto fail;
    size_t loaded = 0;
    if (store_load(self->store, self->workflow, &loaded, err, errlen) != 0) goto fail;
    char flow[CORE_MAX_STEPS * (ILP_MAX_EXT_NAME + 4)] = "";
    for (int i = 0; i < config->nsteps; i++)
        snprintf(flow + strlen(flow), sizeof flow - strlen(flow), "%s%s", i ? " -> " : "",
                 config->steps[i]);
    il_log_info("core: workflow %s; %zu entries loaded from %s", flow, loaded,
             store_path(self->store));
    if (store_steps_changed(self->store) && loaded > 0)
        il_log_info("core: the workflow changed since the entries were saved: %zu deployed "
                 "services run its steps again",
                 workflow_rerun_deployed(self->workflow));
    broker_config_t bus = {.router_endpoint = config->bus.router,
                           .publish_endpoint = config->bus.publish,
                           .heartbeat_ms = config->bus.heartbeat_ms,
                           .liveness = config->bus.liveness,
                           .batch = config->bus.batch,
                           .extensions = config->steps};
    broker_handler_t handler = {.event = s_on_event,
                                .result = s_on_result,
                                .instance = s_on_instance,
                                .drained = s_on_drained};
    self->broker = broker_new(&bus, &handler, self);
    if (!self->broker) {
        snprintf(err, errlen, "cannot bind the bus on %s and %s (see the log)", config->bus.router,
                 config->bus.publish);
        goto fail;
    }
    if (!listen_addr_off(config->listen)) {
        self->api = api_new(config->listen, s_on_request, self, err, errlen);
        if (!self->api || api_attach(self->api, self->loop) != 0) goto fail;
    }
    if (broker_attach(self->broker, self->loop) != 0 ||
        zloop_timer(self->loop, (size_t)config->check_flow_ms, 0, s_on_flow, self) < 0 ||
        zloop_timer(self->loop, (size_t)config->housekeeper_ms, 0, s_on_housekeep, self) < 0) {
        snprintf(err, errlen, "cannot start the loop");
        goto fail;
    }
    workflow_resume(self->workflow, s_now());
    s_publish_changes(self);
    return self;
fail:
    server_destroy(&self);
    return NULL;
}

void server_destroy(server_t **self_p)
{
    if (!self_p || !*self_p) return;
    server_t *self = *self_p;
    if (self->dirty && self->store && self->workflow) s_save(self);
    api_destroy(&self->api);
    broker_destroy(&self->broker);
    workflow_destroy(&self->workflow);
    store_destroy(&self->store);
    zloop_destroy(&self->loop);
    free(self->pubs);
    free(self);
    *self_p = NULL;
}

int server_run(server_t *self)
{
    zloop_start(self->loop);
    il_log_info("core: stopping; saving %zu entries", workflow_size(self->workflow));
    if (self->dirty) s_save(self);
    if (self->dirty) return -1;
    /* Saved. A file that also holds superseded records is written whole, so
     * that the next start reads no more than it needs; should that fail, the
     * file as it is holds the same state. */
    if (store_records(self->store) > workflow_size(self->workflow)) {
        char err[512];
        if (store_save(self->store, self->workflow, err, sizeof err) != 0)
            il_log_warn("core: cannot compact the entries file: %s", err);
    }
    return 0;
}

int server_api_port(server_t *self)
{
    return api_port(self->api);
}

const char *server_router_endpoint(server_t *self)
{
    return broker_router_endpoint(self->broker);
}

const char *server_publish_endpoint(server_t *self)
{
    return broker_publish_endpoint(self->broker);
}
