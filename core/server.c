/* server: the core daemon's object, see server.h. Inputs enter through the
 * broker callbacks and the timers; the workflow decides; the effects section
 * below is the only place that sends, persists and publishes. */
#include "core/server.h"
#include "broker/broker.h"
#include "broker/ilp_pub.h"
#include "common/alloc.h"
#include "common/log.h"
#include "core/api.h"
#include "core/etcd_store.h"
#include "core/leader.h"
#include "core/listen_addr.h"
#include "core/metrics.h"
#include "core/store.h"
#include "core/views.h"
#include "core/workflow.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* What observers were last shown of an entry, so that each visible change
 * is published once; kept by entry id in server->published. */
typedef struct {
    const char *state; /* entry_state_name, NULL before the first publication */
    const char *error; /* the error string then (compared by address) */
    bool expected;
    bool queued; /* in server->pubs: changed by the input being handled */
} s_published_t;

struct _server_t {
    const core_config_t *config;
    zloop_t *loop;
    broker_t *broker;
    workflow_t *workflow;
    store_t *store;
    api_t *api;
    bool dirty; /* entries changed since the last save */
    /* The first WORK of an entry that was never saved waits until it is
     * (work ids): a core killed before the save would not know of the entry,
     * and what that WORK did (an address allocated) would never be undone. */
    zlistx_t *held;        /* waiting for the next save */
    zlistx_t *held_saving; /* in the etcd batch in flight */
    int save_timer;        /* pending coalesced save, -1 when none */
    bool save_failed;
    int64_t save_said;   /* zclock_mono of the last line saying a save failed, 0: none */
    bool save_down_said; /* that line was the last one said about saving */
    metrics_t *metrics;
    metrics_counts_t *counts;    /* the metrics' counters */
    int64_t started;             /* wall-clock ms */
    int resync_timer;            /* pending re-synchronisation with the provider, -1 when none */
    bool resynced;               /* done (after the start, or the provider's return) */
    int64_t resync_since;        /* wall-clock ms: entries not re-reported since are asked about */
    size_t provider_live;        /* live instances of the provider */
    int64_t provider_registered; /* zclock_mono of the provider's first registration */
    int64_t provider_heard;      /* of its last EVENT since, 0 before one */
    s_published_t *published;    /* entry id -> what observers were shown of it */
    size_t published_cap;
    const entry_t **pubs; /* entries changed by the input being handled, published after it */
    size_t npubs, pubs_cap;
    zhashx_t *avoid; /* entry name -> s_avoid_t: who let its last work time out */
    /* Several cores (core.store: etcd; NULL, false with the file store). */
    leader_t *leader;         /* election and fencing */
    etcd_store_t *estore;     /* the entries on etcd */
    bool leading;             /* entries loaded from etcd: dispatching and publishing */
    leader_role_t role;       /* as the leader thread last said */
    char role_reason[512];    /* why */
    char leader_id[256];      /* the leading core's id, "" when none is known */
    int takeover_timer;       /* retries a failed load of the entries, -1 when none */
    char takeover_error[512]; /* the last load's failure, "" when none */
    int64_t takeover_start;   /* zclock_mono when the load in flight was asked for */
    bool load_stale;          /* the role changed while the load was in flight: drop it */
    workflow_t *view;         /* a standby's read-only view, decoded from the mirror */
    int64_t peer_second;      /* rate limit of the lines bus input causes (s_peer_log) */
    int peer_count;
    uint64_t peer_suppressed;
};

/* The instance that let an entry's work time out: its retry goes elsewhere
 * while the extension has another instance (broker_dispatch_avoiding). */
typedef struct {
    char extension[ILP_MAX_EXT_NAME + 1];
    char instance[ILP_MAX_INSTANCE + 1];
} s_avoid_t;

static int64_t s_now(void)
{
    return zclock_time();
}

/* Effects ------------------------------------------------------------------ */

static int s_on_save(zloop_t *loop, int timer_id, void *arg);

#define S_SAVE_SAY_MS 60000

static void s_send(server_t *self, entry_t *entry, const char *extension, ilp_action_t action);

/* Sends the held WORK whose entries are saved now (those still in progress). */
static void s_release(server_t *self, zlistx_t *held)
{
    for (const char *id = zlistx_first(held); id; id = zlistx_next(held)) {
        entry_t *entry = workflow_work_entry(self->workflow, id);
        if (!entry || !entry->wip) continue; /* timed out or answered meanwhile */
        entry->saved = true;
        s_send(self, entry, workflow_steps(self->workflow)[entry->wip_step], entry->wip_action);
    }
    zlistx_purge(held);
}

/* The held WORK goes with the etcd batch that just left (its entries were
 * noted as changed before). */
static void s_held_in_batch(server_t *self)
{
    for (char *id = zlistx_first(self->held); id; id = zlistx_next(self->held))
        zlistx_add_end(self->held_saving, id);
    zlistx_purge(self->held);
}

static void s_save(server_t *self)
{
    if (self->estore) { /* the batch's outcome arrives on s_on_estore */
        if (self->leading && etcd_store_save_changes(self->estore, self->workflow) == 0)
            s_held_in_batch(self);
        self->dirty = false;
        return;
    }
    char err[512];
    int64_t start = zclock_usecs();
    if (store_save_changes(self->store, self->workflow, err, sizeof err) != 0) {
        self->counts->save_failures++;
        /* Said once, and at most once a minute while it lasts: a nearly full
         * disk lets small appends through between failures. */
        int64_t now = zclock_mono();
        if (!self->save_said || now - self->save_said >= S_SAVE_SAY_MS) {
            il_log_error("core: cannot save entries: %s (retrying)", err);
            self->save_said = now;
            self->save_down_said = true;
        } else {
            il_log_debug("core: cannot save entries: %s (retrying)", err);
        }
        self->save_failed = true;
        return;
    }
    if (self->save_failed)
        il_log_write(self->save_down_said ? IL_LOG_INFO : IL_LOG_DEBUG,
                     "core: entries saved again to %s", store_path(self->store));
    self->save_failed = false;
    self->save_down_said = false;
    self->dirty = false;
    self->counts->saves++;
    self->counts->last_save_seconds = (double)(zclock_usecs() - start) / 1e6;
    s_release(self, self->held);
}

/* Coalesces changes: the first change arms one save persistDelay later, or
 * later still when saves are slow (many entries), so that writing the file
 * takes no more than about a tenth of the loop's time. */
static void s_mark_dirty(server_t *self)
{
    self->dirty = true;
    if (self->save_timer >= 0) return;
    int64_t delay = self->config->persist_delay_ms;
    int64_t adaptive = (int64_t)(self->counts->last_save_seconds * 1000 * 10);
    if (adaptive > delay) delay = adaptive > 10000 ? 10000 : adaptive;
    self->save_timer = zloop_timer(self->loop, (size_t)delay, 1, s_on_save, self);
}

/* A WORK is held until its entry is saved: save at the next turn of the
 * loop (what arrived together is saved together), not persistDelay later.
 * While saves fail, the retry timer keeps its pace. */
static void s_save_soon(server_t *self)
{
    self->dirty = true;
    if (self->save_failed) {
        if (self->save_timer < 0)
            self->save_timer = zloop_timer(self->loop, 1000, 1, s_on_save, self);
        return;
    }
    if (self->save_timer >= 0) zloop_timer_end(self->loop, self->save_timer);
    self->save_timer = zloop_timer(self->loop, 0, 1, s_on_save, self);
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
    if (!entry->saved) {
        il_log_debug("core: %s -> WORK %s %s held until the entry is saved (%s)", entry->name,
                     ilp_action_name(action), extension, entry->work_id);
        zlistx_add_end(self->held, (void *)entry->work_id);
        s_save_soon(self);
        return;
    }
    s_send(self, (entry_t *)entry, extension, action);
}

static void s_send(server_t *self, entry_t *entry, const char *extension, ilp_action_t action)
{
    if (self->leader && (!self->leading || !leader_is_leader(self->leader))) {
        /* Fenced: the lease may lapse before this WORK is handled; the next
         * leader sends it again. The fence timer stands this core down. */
        il_log_debug("core: %s: WORK to %s not sent: this core does not lead", entry->name,
                     extension);
        return;
    }
    metrics_work_sent(self->metrics, entry);
    il_log_debug("core: %s -> WORK %s %s (attempt %u, %s)", entry->name, ilp_action_name(action),
                 extension, entry->attempt, entry->work_id);
    size_t len = 0;
    const char *service = entry_packed_service(entry, &len);
    s_avoid_t *avoid = zhashx_lookup(self->avoid, entry->name);
    if (avoid && strcmp(avoid->extension, extension)) avoid = NULL;
    if (broker_dispatch_avoiding(self->broker, entry->work_id, extension, action, entry->attempt,
                                 service, len, avoid ? avoid->instance : NULL) != 0)
        il_log_error("core: cannot dispatch %s to %s", entry->work_id, extension);
}

static void s_fx_cancel(void *arg, const char *work_id)
{
    server_t *self = arg;
    self->counts->work_failed++;
    entry_t *entry = workflow_work_entry(self->workflow, work_id);
    if (entry) metrics_work_forget(self->metrics, entry);
    s_avoid_t avoid = {.instance = ""};
    broker_expire(self->broker, work_id, avoid.instance, sizeof avoid.instance);
    if (entry && avoid.instance[0]) {
        snprintf(avoid.extension, sizeof avoid.extension, "%s",
                 workflow_steps(self->workflow)[entry->wip_step]);
        s_avoid_t *copy = il_malloc(sizeof *copy);
        *copy = avoid;
        zhashx_update(self->avoid, entry->name, copy);
    }
}

/* Publishes the entry's state when observers have not seen it yet. */
static void s_publish_state(server_t *self, const entry_t *e, s_published_t *pub)
{
    const char *state = entry_state_name(e, workflow_steps(self->workflow));
    if (pub->state == state && pub->expected == e->expect_deployed && pub->error == e->error)
        return; /* observers see each visible change once */
    pub->state = state;
    pub->expected = e->expect_deployed;
    pub->error = e->error;
    size_t len = 0;
    const char *service = entry_packed_service(e, &len);
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
        s_published_t *pub = &self->published[self->pubs[i]->id];
        pub->queued = false;
        s_publish_state(self, self->pubs[i], pub);
    }
    self->npubs = 0;
    broker_publish_flush(self->broker);
}

/* What observers were shown of the entry. NULL for an entry without an id
 * (outside a workflow). */
static s_published_t *s_published(server_t *self, const entry_t *entry)
{
    if (entry_slots_reserve((void **)&self->published, &self->published_cap,
                            sizeof *self->published, entry->id) != 0)
        return NULL;
    return &self->published[entry->id];
}

static void s_fx_changed(void *arg, const entry_t *entry)
{
    server_t *self = arg;
    if (!entry->wip && entry->state == ENTRY_DEPLOYED && entry->expect_deployed)
        il_log_info("core: %s deployed%s%s", entry->name,
                    entry->service->public_ip ? " with IP " : "",
                    entry->service->public_ip ? entry->service->public_ip : "");
    else if (!entry->wip && entry->state == ENTRY_UNDEPLOYED && !entry->expect_deployed)
        il_log_info("core: %s undeployed", entry->name);
    if (self->estore)
        etcd_store_touch(self->estore, entry->name);
    else
        store_touch(self->store, entry);
    s_mark_dirty(self);
    if (!broker_wants_states(self->broker)) return;
    s_published_t *pub = s_published(self, entry);
    if (!pub) { /* no id: nowhere to note it, publish now rather than never */
        s_publish_changes(self);
        size_t len = 0;
        const char *service = entry_packed_service(entry, &len);
        broker_publish_state(self->broker, service, len,
                             entry_state_name(entry, workflow_steps(self->workflow)),
                             entry->expect_deployed ? "deployed" : "undeployed", entry->error);
        return;
    }
    if (pub->queued) return;
    if (self->npubs == self->pubs_cap) {
        self->pubs_cap = self->pubs_cap ? self->pubs_cap * 2 : 64;
        self->pubs = il_realloc(self->pubs, self->pubs_cap * sizeof *self->pubs);
    }
    pub->queued = true;
    self->pubs[self->npubs++] = entry;
}

static void s_fx_removed(void *arg, const entry_t *entry)
{
    server_t *self = arg;
    s_publish_changes(self);             /* its last change (if pending) before its removal */
    if (entry->id < self->published_cap) /* its id goes to another entry */
        memset(&self->published[entry->id], 0, sizeof *self->published);
    metrics_work_forget(self->metrics, entry);
    zhashx_delete(self->avoid, entry->name);
    il_log_info("core: %s removed (undeployed since %lld s)", entry->name,
                (long long)((s_now() - entry->close_time) / 1000));
    size_t len = 0;
    const char *service = entry_packed_service(entry, &len);
    broker_publish_state(self->broker, service, len, "removed", "undeployed", NULL);
    if (self->estore)
        etcd_store_touch(self->estore, entry->name);
    else
        store_forget(self->store, entry);
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

/* A log line that bus input causes (a refused EVENT, a failed or unexpected
 * RESULT): at most 20 a second, then one line saying how many more were
 * suppressed, so that a peer cannot fill the disk. */
static void s_peer_log(server_t *self, il_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_peer_log(server_t *self, il_log_level_t level, const char *fmt, ...)
{
    if (!il_log_enabled(level)) return;
    int64_t second = zclock_mono() / 1000;
    if (second != self->peer_second) {
        if (self->peer_suppressed)
            il_log_warn("core: %llu more lines about bus input suppressed",
                        (unsigned long long)self->peer_suppressed);
        self->peer_second = second;
        self->peer_count = 0;
        self->peer_suppressed = 0;
    }
    if (++self->peer_count > 20) {
        self->peer_suppressed++;
        return;
    }
    char text[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    il_log_write(level, "%s", text);
}

static void s_on_event(void *arg, const char *extension, const char *instance, ilp_action_t action,
                       il_service_t **service_p)
{
    server_t *self = arg;
    const char *name = (*service_p)->name;
    entry_t *entry = workflow_lookup(self->workflow, name);
    const char *owner = entry ? entry->service->provider : NULL;
    if (workflow_event(self->workflow, extension, action, service_p, s_now()) != 0) {
        self->counts->events_refused++;
        if (owner && strcmp(extension, workflow_steps(self->workflow)[0]) == 0)
            s_peer_log(self, IL_LOG_WARN,
                       "core: EVENT %s %s from %s %s refused: %s reported it, only %s changes it",
                       ilp_action_name(action), name, extension, instance, owner, owner);
        else
            s_peer_log(self, IL_LOG_WARN,
                       "core: EVENT %s %s from %s %s refused: only %s reports services",
                       ilp_action_name(action), name, extension, instance,
                       workflow_steps(self->workflow)[0]);
        return;
    }
    self->counts->events++;
    if (!self->resynced && !strcmp(extension, self->config->steps[0]))
        self->provider_heard = zclock_mono();
}

static void s_on_result(void *arg, const char *work_id, const char *extension, const char *instance,
                        const char *error, il_service_t **service_p)
{
    server_t *self = arg;
    entry_t *entry = workflow_work_entry(self->workflow, work_id);
    int64_t since_us = entry ? metrics_work_started(self->metrics, entry) : 0;
    int rc =
        entry ? workflow_entry_result(self->workflow, entry, extension, error, service_p, s_now())
              : -1;
    if (rc < 0) {
        self->counts->results_stale++;
        s_peer_log(self, IL_LOG_DEBUG, "core: unexpected RESULT %s from %s %s: dropped", work_id,
                   extension, instance);
        return;
    }
    zhashx_delete(self->avoid, entry->name); /* answered: no instance to avoid */
    /* A WORK that the result led to has its own start time; otherwise none is due. */
    if (!entry->wip) metrics_work_forget(self->metrics, entry);
    metrics_work_answered(self->metrics, since_us);
    if (error || rc == 1) {
        self->counts->work_failed++;
        s_peer_log(self, IL_LOG_WARN, "core: %s %s failed: %s", extension, work_id,
                   error ? error : entry->error);
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

static workflow_t *s_workflow_new(server_t *self, bool effects);

/* A core that does not lead answers the reads of entries from its mirror of
 * etcd (etcd_store_mirror_*: a watch keeps it current, nothing here waits on
 * etcd), decoded into a read-only view when it changed since the last
 * request; NULL when it leads, or the mirror does not follow etcd now or
 * does not decode (the reason in err). */
static workflow_t *s_etcd_view(server_t *self, const char *path, char *err, size_t errlen)
{
    if (!self->leader || self->leading) return NULL;
    if (strcmp(path, "/services") && strncmp(path, "/services/", 10)) return NULL;
    char why[1024];
    if (!etcd_store_mirror_synced(self->estore, why, sizeof why)) {
        snprintf(err, errlen, "this core does not lead and its view of etcd is not current: %.900s",
                 *why ? why : "not following etcd");
        return NULL;
    }
    if (self->view && !etcd_store_mirror_changed(self->estore)) return self->view;
    workflow_destroy(&self->view);
    workflow_t *view = s_workflow_new(self, false);
    size_t count = 0;
    if (view && etcd_store_mirror_fill(self->estore, view, &count, err, errlen) != 0)
        workflow_destroy(&view);
    self->view = view;
    return view;
}

static int s_on_fence(zloop_t *loop, int timer_id, void *arg);

static void s_on_request(void *arg, const char *method, const char *path, api_reply_t *reply)
{
    server_t *self = arg;
    if (self->leader) s_on_fence(self->loop, -1, self); /* the role as of now */
    char err[1024] = "";
    workflow_t *view = s_etcd_view(self, path, err, sizeof err);
    if (*err && !view) {
        reply->status = 503;
        reply->content_type = "application/json";
        json_t *body = json_pack("{s:s}", "error", err);
        reply->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        return;
    }
    views_source_t source = {.workflow = view ? view : self->workflow,
                             .broker = self->broker,
                             .metrics = self->metrics,
                             .entries_saved = !self->dirty &&
                                              !(self->estore && etcd_store_pending(self->estore))};
    if (self->leader) {
        source.role = leader_role_name(self->role);
        if (self->role == LEADER_LEADER && !self->leading)
            source.role = "none"; /* elected, entries not loaded yet */
        if (self->role == LEADER_LEADER && !leader_is_leader(self->leader)) source.role = "none";
        source.role_reason =
            *self->takeover_error && !self->leading ? self->takeover_error : self->role_reason;
        source.leader_id = *self->leader_id ? self->leader_id : NULL;
        source.id = self->config->id;
    }
    views_answer(&source, method, path, reply);
}

/* Start-up re-synchronisation -------------------------------------------------
 * The entries file is written shortly after changes, not before the work they
 * cause is sent: after a kill -9, an entry can come back deployed although its
 * provider had reported it deleted (and its steps may have been undone).
 * Providers re-report what exists after each WELCOME; what they do not
 * re-report is asked about, once, with a refresh (answered add or delete).
 * The re-report is a burst right after the WELCOME: once the provider fell
 * quiet after one (S_RESYNC_QUIET_MS), or one heartbeat after its first
 * registration (a provider that has nothing to re-report, or a steady load
 * that is never quiet), whatever it did not re-report is asked about, as
 * soon as the provider subscribes to its refresh requests; three heartbeats
 * after the registration whatever happens. Asking too early costs only
 * answers the re-report repeats. */

#define S_RESYNC_TICK_MS  25
#define S_RESYNC_QUIET_MS 150

static int s_on_resync(zloop_t *loop, int timer_id, void *arg)
{
    server_t *self = arg;
    int64_t now = zclock_mono(), since = now - self->provider_registered;
    int64_t heartbeat = (int64_t)self->config->bus.heartbeat_ms;
    bool quiet = self->provider_heard && now - self->provider_heard >= S_RESYNC_QUIET_MS;
    /* A refresh request nobody subscribes to is lost: the provider's SUB
     * reconnects to a restarted core on its own schedule. */
    char topic[ILP_MAX_EXT_NAME + 16];
    snprintf(topic, sizeof topic, "refresh.%s", self->config->steps[0]);
    bool listens = broker_has_subscriber(self->broker, topic);
    if (since < 3 * heartbeat && !(listens && (quiet || since >= heartbeat))) return 0;
    zloop_timer_end(loop, timer_id);
    self->resync_timer = -1;
    self->resynced = true;
    size_t asked = workflow_resync(self->workflow, self->resync_since);
    if (asked > 0)
        il_log_info("core: asked %s about %zu entries it has not re-reported since %s",
                    self->config->steps[0], asked,
                    self->resync_since == self->started ? "the start" : "it registered again");
    return 0;
}

/* A provider that comes back after having had no live instance (killed and
 * started again, typically) may have lost a removal meanwhile: it lists
 * without the service and never reports a delete. Its return is a
 * re-synchronisation as after a start, for what it does not re-report since. */
static void s_on_instance(void *arg, const char *extension, const char *instance, bool alive)
{
    server_t *self = arg;
    (void)instance;
    if (strcmp(extension, self->config->steps[0])) return;
    if (!alive) {
        if (self->provider_live > 0) self->provider_live--;
        return;
    }
    bool none_before = self->provider_live == 0;
    self->provider_live++;
    if (!self->resynced && self->resync_timer < 0) { /* the first since the start */
        self->resync_since = self->started;
    } else if (none_before) {
        /* Back (perhaps before the first re-synchronisation ran): whatever
         * it does not re-report from now on is asked about. */
        self->resynced = false;
        self->resync_since = s_now();
    } else {
        return;
    }
    self->provider_registered = zclock_mono();
    self->provider_heard = 0;
    if (self->resync_timer < 0)
        self->resync_timer = zloop_timer(self->loop, S_RESYNC_TICK_MS, 0, s_on_resync, self);
}

/* Several cores: leading and standing by ----------------------------------- */

static void s_fx_none_dispatch(void *arg, const entry_t *e, const char *x, ilp_action_t a)
{
    (void)arg, (void)e, (void)x, (void)a;
}
static void s_fx_none_cancel(void *arg, const char *work_id)
{
    (void)arg, (void)work_id;
}
static void s_fx_none_entry(void *arg, const entry_t *e)
{
    (void)arg, (void)e;
}
static void s_fx_none_refresh(void *arg, const char *p, const char *n)
{
    (void)arg, (void)p, (void)n;
}

/* A new, empty workflow: the core's (effects) or a read-only view (none). */
static workflow_t *s_workflow_new(server_t *self, bool effects)
{
    const core_config_t *config = self->config;
    workflow_timing_t timing = {.wip_timeout_ms = config->wip_timeout_ms,
                                .max_last_updated_ms = config->max_last_updated_ms,
                                .clean_after_ms = config->clean_undeployed_ms,
                                .retry_min_ms = config->retry_min_ms,
                                .retry_max_ms = config->retry_max_ms};
    workflow_effects_t fx = {.dispatch = s_fx_dispatch,
                             .cancel = s_fx_cancel,
                             .changed = s_fx_changed,
                             .removed = s_fx_removed,
                             .refresh = s_fx_refresh};
    workflow_effects_t none = {.dispatch = s_fx_none_dispatch,
                               .cancel = s_fx_none_cancel,
                               .changed = s_fx_none_entry,
                               .removed = s_fx_none_entry,
                               .refresh = s_fx_none_refresh};
    /* Work ids carry a per-run prefix, so a RESULT from before a restart (or
     * a takeover) can never complete a newer WORK that reuses the counter. */
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%08x", (unsigned)(randof(0x7fffffff) ^ (unsigned)s_now()));
    return workflow_new(config->steps, config->nsteps, &timing, prefix, effects ? &fx : &none,
                        self);
}

/* Drops the entries and what is kept about them (a standby holds none: the
 * next leader's are in etcd). */
static void s_forget_entries(server_t *self)
{
    workflow_t *fresh = s_workflow_new(self, true);
    if (!fresh) return;
    workflow_destroy(&self->workflow);
    self->workflow = fresh;
    if (self->published) memset(self->published, 0, self->published_cap * sizeof *self->published);
    self->npubs = 0;
    zhashx_purge(self->avoid);
    metrics_work_forget_all(self->metrics);
    if (self->save_timer >= 0) zloop_timer_end(self->loop, self->save_timer);
    self->save_timer = -1;
    self->dirty = false;
    zlistx_purge(self->held);
    zlistx_purge(self->held_saving);
    if (self->resync_timer >= 0) zloop_timer_end(self->loop, self->resync_timer);
    self->resync_timer = -1;
    self->resynced = false;
}

/* Stops dispatching and publishing at once: the broker tells every
 * extension "not-leader" and forgets them and their work. */
static void s_stand_by(server_t *self, const char *why)
{
    broker_set_refusing(self->broker, why);
    if (etcd_store_loading(self->estore)) self->load_stale = true;
    etcd_store_mirror_start(self->estore);
    if (!self->leading) return;
    self->leading = false;
    il_log_warn("core: no longer leading: %s", why);
    etcd_store_reset(self->estore);
    s_forget_entries(self);
}

static int s_on_takeover(zloop_t *loop, int timer_id, void *arg);
static void s_refusal(server_t *self, char *out, size_t outlen);

/* Elected: asks the store's thread for the entries (s_on_loaded resumes
 * when they come back); HELLO is refused meanwhile ("taking over"). */
static void s_take_over(server_t *self)
{
    if (self->leading || self->takeover_timer >= 0 || etcd_store_loading(self->estore)) return;
    char why[ILP_MAX_TEXT];
    s_refusal(self, why, sizeof why);
    broker_set_refusing(self->broker, why);
    s_forget_entries(self);
    self->takeover_start = zclock_mono();
    etcd_store_load_start(self->estore);
}

/* A failed takeover is tried again 500 ms later; /health says why. */
static void s_take_over_failed(server_t *self, const char *err)
{
    char text[sizeof self->takeover_error];
    snprintf(text, sizeof text, "elected, but cannot load the entries: %.400s", err);
    if (strcmp(text, self->takeover_error)) il_log_error("core: %s (retrying)", text);
    snprintf(self->takeover_error, sizeof self->takeover_error, "%s", text);
    s_forget_entries(self);
    self->takeover_timer = zloop_timer(self->loop, 500, 1, s_on_takeover, self);
}

/* The load came back (or failed): when this core still leads, the loop
 * decodes the entries and resumes (the work in progress is sent again:
 * steps are idempotent). A load asked for before the role changed is
 * dropped (etcd may have changed since under another leader), and asked for
 * again when this core leads now. */
static void s_on_loaded(server_t *self, etcd_store_outcome_t outcome, const char *reason)
{
    bool stale = self->load_stale;
    self->load_stale = false;
    if (stale || self->leading || self->role != LEADER_LEADER) {
        size_t n = 0;
        char err[64];
        if (outcome == ETCD_STORE_LOADED) etcd_store_adopt(self->estore, NULL, &n, err, sizeof err);
        if (stale && !self->leading && self->role == LEADER_LEADER &&
            leader_is_leader(self->leader))
            s_take_over(self);
        return;
    }
    char err[1024];
    size_t loaded = 0;
    s_forget_entries(self);
    if (outcome != ETCD_STORE_LOADED) {
        s_take_over_failed(self, reason ? reason : "no answer");
        return;
    }
    if (etcd_store_adopt(self->estore, self->workflow, &loaded, err, sizeof err) != 0) {
        s_take_over_failed(self, err);
        return;
    }
    if (!leader_is_leader(self->leader)) { /* the load outlasted the lease */
        s_forget_entries(self);
        self->takeover_timer = zloop_timer(self->loop, 500, 1, s_on_takeover, self);
        return;
    }
    self->takeover_error[0] = 0;
    self->leading = true;
    self->started = s_now();
    self->resynced = false;
    etcd_store_mirror_stop(self->estore);
    workflow_destroy(&self->view);
    il_log_info("core: leading (%s): %zu entries loaded from etcd in %lld ms", self->config->id,
                loaded, (long long)(zclock_mono() - self->takeover_start));
    broker_set_refusing(self->broker, NULL);
    workflow_resume(self->workflow, s_now());
    s_publish_changes(self);
}

static int s_on_takeover(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    server_t *self = arg;
    self->takeover_timer = -1;
    if (self->role == LEADER_LEADER && leader_is_leader(self->leader)) s_take_over(self);
    return 0;
}

/* The refusal a standby gives to HELLO (docs/protocol.md, not-leader). */
static void s_refusal(server_t *self, char *out, size_t outlen)
{
    if (self->role == LEADER_STANDBY && *self->leader_id)
        snprintf(out, outlen, "standby; the leader is %s", self->leader_id);
    else if (self->role == LEADER_STANDBY)
        snprintf(out, outlen, "standby");
    else if (self->role == LEADER_LEADER)
        snprintf(out, outlen, "taking over; try again");
    else
        snprintf(out, outlen, "no leader: %.200s", self->role_reason);
}

static int s_on_leader(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    (void)reader;
    server_t *self = arg;
    leader_role_t role;
    char *reason = NULL, *id = NULL;
    if (leader_recv(self->leader, &role, &reason, &id) != 0) return 0;
    self->role = role;
    snprintf(self->role_reason, sizeof self->role_reason, "%s", reason ? reason : "");
    snprintf(self->leader_id, sizeof self->leader_id, "%s", id ? id : "");
    free(reason);
    free(id);
    char why[ILP_MAX_TEXT];
    s_refusal(self, why, sizeof why);
    if (role == LEADER_LEADER)
        s_take_over(self);
    else
        s_stand_by(self, why);
    return 0;
}

/* Fencing in the loop: the lease may lapse soon, stop before it does (the
 * leader thread says so too, but may be blocked in a call). */
static int s_on_fence(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    server_t *self = arg;
    if (self->leading && !leader_is_leader(self->leader)) {
        self->role = LEADER_NONE;
        int64_t renewed = 0, ttl = 0, deadline = 0;
        leader_fence(self->leader, &renewed, &ttl, &deadline);
        snprintf(self->role_reason, sizeof self->role_reason,
                 "stepped down: the lease was not renewed in time (TTL %lld s): etcd unreachable "
                 "or without quorum",
                 (long long)(ttl ? ttl : self->config->etcd.lease_ttl_s));
        char why[ILP_MAX_TEXT];
        s_refusal(self, why, sizeof why);
        s_stand_by(self, why);
    }
    return 0;
}

static int s_on_estore(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    (void)reader;
    server_t *self = arg;
    etcd_store_outcome_t outcome;
    char *reason = NULL;
    if (etcd_store_recv(self->estore, &outcome, &reason) != 0) return 0;
    if (outcome == ETCD_STORE_LOADED || outcome == ETCD_STORE_LOAD_FAILED) {
        s_on_loaded(self, outcome, reason);
    } else if (outcome == ETCD_STORE_SAVED) {
        if (self->save_failed)
            il_log_write(self->save_down_said ? IL_LOG_INFO : IL_LOG_DEBUG,
                         "core: entries saved to etcd again");
        self->save_failed = false;
        self->save_down_said = false;
        self->counts->saves++;
        if (self->leading) s_release(self, self->held_saving);
        /* What changed while the batch was out leaves now. */
        if (self->leading && etcd_store_pending(self->estore) &&
            etcd_store_save_changes(self->estore, self->workflow) == 0)
            s_held_in_batch(self);
    } else if (outcome == ETCD_STORE_FAILED) {
        self->counts->save_failures++;
        int64_t now = zclock_mono();
        if (!self->save_said || now - self->save_said >= S_SAVE_SAY_MS) {
            il_log_error("core: cannot save entries to etcd: %s (retrying)", reason);
            self->save_said = now;
            self->save_down_said = true;
        }
        self->save_failed = true;
        /* Its entries go in the next batch, their WORK with them. */
        for (char *id = zlistx_first(self->held_saving); id; id = zlistx_next(self->held_saving))
            zlistx_add_end(self->held, id);
        zlistx_purge(self->held_saving);
        if (self->leading) {
            self->dirty = true;
            if (self->save_timer < 0)
                self->save_timer = zloop_timer(self->loop, 1000, 1, s_on_save, self);
        }
    } else if (outcome == ETCD_STORE_DEPOSED && self->leading) {
        self->role = LEADER_NONE;
        snprintf(self->role_reason, sizeof self->role_reason, "%s", reason);
        char why[ILP_MAX_TEXT];
        s_refusal(self, why, sizeof why);
        s_stand_by(self, why);
    }
    free(reason);
    return 0;
}

static int s_on_mirror(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    (void)reader;
    server_t *self = arg;
    etcd_store_mirror_recv(self->estore);
    return 0;
}

static bool s_may_dispatch(void *arg)
{
    server_t *self = arg;
    return !self->leader || (self->leading && leader_is_leader(self->leader));
}

/* With core.store etcd: the store, then the election (the first role
 * arrives on the loop). The broker refuses until this core leads. */
static int s_etcd_start(server_t *self, char *err, size_t errlen)
{
    const core_config_t *config = self->config;
    char key[1024];
    snprintf(key, sizeof key, "%s/leader", config->etcd.prefix);
    leader_config_t lc = {.etcd = core_config_etcd(config),
                          .key = key,
                          .id = config->id,
                          .ttl_s = config->etcd.lease_ttl_s};
    self->leader = leader_new(&lc, err, errlen);
    if (!self->leader) return -1;
    il_etcd_config_t ec = core_config_etcd(config);
    self->estore = etcd_store_new(&ec, config->etcd.prefix, self->leader, err, errlen);
    if (!self->estore) return -1;
    int64_t tick = config->etcd.lease_ttl_s * 1000 / 20;
    if (tick < 20) tick = 20;
    if (zloop_reader(self->loop, leader_sock(self->leader), s_on_leader, self) != 0 ||
        zloop_reader(self->loop, etcd_store_sock(self->estore), s_on_estore, self) != 0 ||
        zloop_reader(self->loop, etcd_store_mirror_sock(self->estore), s_on_mirror, self) != 0 ||
        zloop_timer(self->loop, (size_t)tick, 0, s_on_fence, self) < 0) {
        snprintf(err, errlen, "cannot start the loop");
        return -1;
    }
    snprintf(self->role_reason, sizeof self->role_reason, "electing");
    etcd_store_mirror_start(self->estore); /* a standby's view until this core leads */
    return 0;
}

/* Lifecycle ------------------------------------------------------------------ */

server_t *server_new(const core_config_t *config, char *err, size_t errlen)
{
    server_t *self = il_calloc(1, sizeof *self);
    self->config = config;
    self->save_timer = -1;
    self->resync_timer = -1;
    self->takeover_timer = -1;
    self->started = s_now();
    self->loop = zloop_new();
    self->metrics = metrics_new();
    self->counts = metrics_counts(self->metrics);
    self->avoid = zhashx_new();
    zhashx_set_destructor(self->avoid, (zhashx_destructor_fn *)zstr_free);
    self->held = zlistx_new();
    self->held_saving = zlistx_new();
    zlistx_set_duplicator(self->held, (zlistx_duplicator_fn *)strdup);
    zlistx_set_destructor(self->held, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_duplicator(self->held_saving, (zlistx_duplicator_fn *)strdup);
    zlistx_set_destructor(self->held_saving, (zlistx_destructor_fn *)zstr_free);
    self->workflow = s_workflow_new(self, true);
    bool etcd = config->store == CORE_STORE_ETCD;
    self->store = self->workflow && !etcd ? store_new(config->entries_file, err, errlen) : NULL;
    if (!self->loop || !self->workflow || (!etcd && !self->store)) goto fail;
    size_t loaded = 0;
    if (!etcd && store_load(self->store, self->workflow, &loaded, err, errlen) != 0) goto fail;
    char flow[CORE_MAX_STEPS * (ILP_MAX_EXT_NAME + 4)] = "";
    for (int i = 0; i < config->nsteps; i++)
        snprintf(flow + strlen(flow), sizeof flow - strlen(flow), "%s%s", i ? " -> " : "",
                 config->steps[i]);
    if (etcd)
        il_log_info("core: workflow %s; entries on etcd under %s, this core is %s", flow,
                    config->etcd.prefix, config->id);
    else
        il_log_info("core: workflow %s; %zu entries loaded from %s", flow, loaded,
                    store_path(self->store));
    if (!etcd && store_steps_changed(self->store) && loaded > 0)
        il_log_info("core: the workflow changed since the entries were saved: %zu deployed "
                    "services run its steps again",
                    workflow_rerun_deployed(self->workflow));
    const char *bind_router = NULL, *bind_publish = NULL;
    if (il_bus_config_core_binds(&config->bus, &bind_router, &bind_publish, err, errlen) != 0)
        goto fail;
    broker_config_t bus = {.router_endpoint = bind_router,
                           .publish_endpoint = bind_publish,
                           .heartbeat_ms = config->bus.heartbeat_ms,
                           .liveness = config->bus.liveness,
                           .batch = config->bus.batch,
                           .max_credit = config->bus.max_credit,
                           .max_instances_ext = config->bus.max_instances_ext,
                           .max_instances = config->bus.max_instances,
                           .extensions = config->steps,
                           .curve_cert = config->bus.core_cert,
                           .client_certs = config->bus.client_certs};
    broker_handler_t handler = {.event = s_on_event,
                                .result = s_on_result,
                                .instance = s_on_instance,
                                .drained = s_on_drained,
                                .may_dispatch = s_may_dispatch};
    self->broker = broker_new(&bus, &handler, self);
    if (!self->broker) {
        snprintf(err, errlen, "cannot bind the bus on %s and %s (see the log)", bind_router,
                 bind_publish);
        goto fail;
    }
    if (etcd) broker_set_refusing(self->broker, "standby: no leader elected yet");
    if (!listen_addr_off(config->listen)) {
        self->api = api_new(config->listen, &config->api, s_on_request, self, err, errlen);
        if (!self->api || api_attach(self->api, self->loop) != 0) goto fail;
    }
    if (broker_attach(self->broker, self->loop) != 0 ||
        zloop_timer(self->loop, (size_t)config->check_flow_ms, 0, s_on_flow, self) < 0 ||
        zloop_timer(self->loop, (size_t)config->housekeeper_ms, 0, s_on_housekeep, self) < 0) {
        snprintf(err, errlen, "cannot start the loop");
        goto fail;
    }
    if (etcd && s_etcd_start(self, err, errlen) != 0) goto fail;
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
    etcd_store_destroy(&self->estore); /* before the leader: it guards the writes */
    leader_destroy(&self->leader);
    api_destroy(&self->api);
    broker_destroy(&self->broker);
    workflow_destroy(&self->workflow);
    workflow_destroy(&self->view);
    store_destroy(&self->store);
    zloop_destroy(&self->loop);
    free(self->published);
    metrics_destroy(&self->metrics);
    free(self->pubs);
    zhashx_destroy(&self->avoid);
    zlistx_destroy(&self->held);
    zlistx_destroy(&self->held_saving);
    free(self);
    *self_p = NULL;
}

/* A leader that stops saves what changed (bounded by the etcd client's
 * time-out) before it gives the lead up. */
static int s_etcd_flush(server_t *self)
{
    if (!self->leading) return 0;
    zsock_t *sock = etcd_store_sock(self->estore);
    int64_t until = zclock_mono() + 15000;
    while (etcd_store_pending(self->estore) && zclock_mono() < until && self->leading) {
        if (!etcd_store_busy(self->estore)) etcd_store_save_changes(self->estore, self->workflow);
        zpoller_t *poller = zpoller_new(sock, NULL);
        void *ready = zpoller_wait(poller, (int)(until - zclock_mono()));
        zpoller_destroy(&poller);
        if (ready) s_on_estore(self->loop, sock, self);
    }
    return etcd_store_pending(self->estore) ? -1 : 0;
}

int server_run(server_t *self)
{
    zloop_start(self->loop);
    if (self->leader) {
        il_log_info("core: stopping; %s", self->leading ? "saving the entries to etcd" : "standby");
        return s_etcd_flush(self);
    }
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
