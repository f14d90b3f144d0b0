/* provider: the provider.docker extension's object, see provider.h. Inputs
 * (listings, events, timers, refresh requests) all lead to one place,
 * s_apply_listing, which compares what Docker publishes with what the core was
 * told and sends the difference. */
#include "extensions/docker/provider.h"
#include "common/alloc.h"
#include "common/log.h"
#include "extensions/docker/discovery.h"
#include "extensions/docker/docker_api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_DEBOUNCE_MS  20    /* events that come together cause one listing */
#define S_SETTLE_MS    100   /* first re-list for a container that died but still shows running */
#define S_SETTLE_MAX   10000 /* ...given up after this long (the poll remains) */
#define S_RETRY_MIN_MS 500   /* first retry after Docker failed to answer */
#define S_LIST_PARTS   3     /* swarm mode: services, tasks, nodes */

typedef struct {
    provider_t *self;
    int part; /* which of the listing's requests answered */
} s_part_t;

struct _provider_t {
    provider_config_t config;
    ilp_client_t *client;
    zloop_t *loop;
    docker_api_t *api;
    const char **selector; /* NULL-terminated, strings owned by config */
    zhashx_t *reported;    /* name -> il_service_t*: what the core was told exists */
    zhashx_t *refresh;     /* names the core asked about, answered after the next listing */
    zhashx_t *warned;      /* "id\treason" -> name: skips already logged */
    zhashx_t *vanished;    /* name -> (intptr_t) deadline: absent, delete due then */
    bool stream_failing;   /* the events stream's failure was logged */
    /* listing in progress */
    bool listing; /* requests are out */
    bool relist;  /* something changed during the listing: list again after it */
    int list_ids[S_LIST_PARTS];
    s_part_t part_args[S_LIST_PARTS];
    json_t *parts[S_LIST_PARTS];
    int parts_left;
    char *list_error;
    int list_timer;       /* the next listing's timer, -1 when none */
    int64_t list_due;     /* when it fires (zclock_mono) */
    int64_t list_started; /* when the listing in progress, or the last one, began */
    zhashx_t *dying;      /* container id -> (intptr_t) give-up time: died, still listed running */
    int64_t settle_ms;    /* current re-list delay while dying is not empty */
    /* Docker's state */
    bool docker_up;    /* the last listing succeeded */
    bool docker_known; /* at least one listing ended (for logging state changes) */
    int64_t retry_ms;  /* current retry delay after a failure */
    /* events stream */
    int stream_id;     /* -1 when not streaming */
    int stream_timer;  /* pending reconnection, -1 when none */
    int64_t since;     /* time (s) of the last event seen, for ?since= */
    uint64_t listings; /* successful listings (log) */
};

static void s_list_soon(provider_t *self, int64_t delay_ms);
static void s_stream_start(provider_t *self);

/* Configuration --------------------------------------------------------------- */

/* The address of the interface that routes to the outside (a UDP connect
 * sends nothing; it only selects the route). 127.0.0.1 when there is none. */
static char *s_primary_address(void)
{
    char text[INET_ADDRSTRLEN] = "127.0.0.1";
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
        inet_pton(AF_INET, "192.0.2.1", &to.sin_addr); /* TEST-NET-1: never contacted */
        struct sockaddr_in me;
        socklen_t len = sizeof me;
        if (connect(fd, (struct sockaddr *)&to, sizeof to) == 0 &&
            getsockname(fd, (struct sockaddr *)&me, &len) == 0)
            inet_ntop(AF_INET, &me.sin_addr, text, sizeof text);
        close(fd);
    }
    return il_strdup(text);
}

int provider_config_load(provider_config_t *self, il_config_t *cfg, char *err, size_t errlen)
{
    static const char *const known[] = {"endpoint", "tlsCa",         "tlsCert",      "tlsKey",
                                        "mode",     "labelSelector", "pollInterval", "deleteGrace",
                                        "hostIP",   "logLevel",      "curveCert",    NULL};
    memset(self, 0, sizeof *self);
    const char *env = getenv("DOCKER_HOST");
    const char *mode = NULL;
    if (il_config_check_keys(cfg, "provider.docker", known) ||
        il_config_string(cfg, "provider.docker.endpoint",
                         env && *env ? env : "unix:///var/run/docker.sock", &self->endpoint) ||
        il_config_string(cfg, "provider.docker.tlsCa", NULL, &self->tls_ca) ||
        il_config_string(cfg, "provider.docker.tlsCert", NULL, &self->tls_cert) ||
        il_config_string(cfg, "provider.docker.tlsKey", NULL, &self->tls_key) ||
        il_config_string(cfg, "provider.docker.mode", "containers", &mode) ||
        il_config_list(cfg, "provider.docker.labelSelector", &self->label_selector) ||
        il_config_duration(cfg, "provider.docker.pollInterval", 30000, &self->poll_ms) ||
        il_config_duration(cfg, "provider.docker.deleteGrace", 5000, &self->delete_grace_ms) ||
        il_config_string(cfg, "provider.docker.hostIP", NULL, &self->host_ip) ||
        il_config_string(cfg, "provider.docker.logLevel", "info", &self->log_level)) {
        snprintf(err, errlen, "%s", il_config_error(cfg));
        return -1;
    }
    if (strcmp(mode, "containers") && strcmp(mode, "swarm")) {
        snprintf(err, errlen, "%s:%d: provider.docker.mode: '%s' (use containers or swarm)",
                 il_config_name(cfg), il_config_line(cfg, "provider.docker.mode"), mode);
        return -1;
    }
    self->swarm = !strcmp(mode, "swarm");
    if (self->poll_ms < 1000) {
        snprintf(err, errlen, "%s:%d: provider.docker.pollInterval: must be at least 1s",
                 il_config_name(cfg), il_config_line(cfg, "provider.docker.pollInterval"));
        return -1;
    }
    if (self->host_ip && !il_service_ip_valid(self->host_ip)) {
        snprintf(err, errlen, "%s:%d: provider.docker.hostIP: '%s' is not an IP address",
                 il_config_name(cfg), il_config_line(cfg, "provider.docker.hostIP"), self->host_ip);
        return -1;
    }
    return 0;
}

void provider_config_clear(provider_config_t *self)
{
    zlistx_destroy(&self->label_selector);
}

/* The listing: one place that tells the core what changed --------------------- */

static void s_on_skip(void *arg, const char *id, const char *name, const char *reason)
{
    zhashx_t *seen = arg; /* this listing's skips (key id+reason, item a copy of the name) */
    char key[512];
    snprintf(key, sizeof key, "%s\t%s", id ? id : "", reason ? reason : "");
    if (!zhashx_lookup(seen, key)) zhashx_insert(seen, key, il_strdup(name ? name : ""));
}

/* Logs each skip once while it lasts (a skip that goes away and comes back is logged again). */
static void s_log_skips(provider_t *self, zhashx_t *seen)
{
    for (const char *name = zhashx_first(seen); name; name = zhashx_next(seen)) {
        const char *key = zhashx_cursor(seen);
        if (zhashx_lookup(self->warned, key)) continue;
        const char *reason = strchr(key, '\t') + 1;
        il_log_warn("docker: skipping %s (%.12s): %s", name, key, reason);
    }
    zhashx_destroy(&self->warned);
    self->warned = seen;
}

static void s_report(provider_t *self, ilp_action_t action, const il_service_t *service)
{
    ilp_client_event(self->client, action, service);
}

/* current: the services Docker publishes; held: those it still holds an
 * object for (see discovery_containers_held). */
static void s_apply_listing(provider_t *self, zhashx_t *current, zhashx_t *held)
{
    /* Added or changed. */
    for (il_service_t *svc = zhashx_first(current); svc; svc = zhashx_next(current)) {
        il_service_t *known = zhashx_lookup(self->reported, svc->name);
        bool answer = zhashx_lookup(self->refresh, svc->name) != NULL;
        if (known && il_service_same_definition(known, svc) && !answer) continue;
        il_log_debug("docker: %s %s (%zu targets)", known ? "changed" : "found", svc->name,
                     svc->target_count);
        s_report(self, ILP_ACTION_ADD, svc);
        zhashx_update(self->reported, svc->name, il_service_dup(svc));
    }
    /* Gone: only a successful listing can say so. Removed (Docker holds
     * nothing of it any more), it never comes back: at once. Stopped, it may
     * (a stopping daemon stops its containers before its API goes away):
     * after the grace. */
    int64_t now = zclock_mono(), next = 0;
    zlistx_t *gone = zlistx_new();
    for (il_service_t *svc = zhashx_first(self->reported); svc; svc = zhashx_next(self->reported)) {
        if (zhashx_lookup(current, svc->name)) {
            zhashx_delete(self->vanished, svc->name);
            continue;
        }
        if (!zhashx_lookup(held, svc->name)) {
            il_log_debug("docker: %s was removed", svc->name);
            zlistx_add_end(gone, svc);
            continue;
        }
        intptr_t due = (intptr_t)zhashx_lookup(self->vanished, svc->name);
        if (!due) {
            due = (intptr_t)(now + self->config.delete_grace_ms);
            zhashx_insert(self->vanished, svc->name, (void *)due);
            il_log_debug("docker: %s vanished but Docker still holds it (stopped); deleted if "
                         "still absent in %lld ms",
                         svc->name, (long long)self->config.delete_grace_ms);
        }
        if (now >= due)
            zlistx_add_end(gone, svc);
        else if (!next || due < next)
            next = due;
    }
    for (il_service_t *svc = zlistx_first(gone); svc; svc = zlistx_next(gone)) {
        il_log_debug("docker: %s is gone", svc->name);
        s_report(self, ILP_ACTION_DELETE, svc);
        zhashx_delete(self->vanished, svc->name);
        zhashx_delete(self->reported, svc->name);
    }
    zlistx_destroy(&gone);
    if (next) s_list_soon(self, next - now + 1); /* confirm the absence then */
    /* Refresh requests about services Docker does not publish (any more, or
     * that we never reported); a vanished one is answered when decided. */
    zlistx_t *answered = zlistx_new();
    for (void *v = zhashx_first(self->refresh); v; v = zhashx_next(self->refresh)) {
        const char *name = zhashx_cursor(self->refresh);
        if (zhashx_lookup(self->vanished, name)) continue;
        zlistx_add_end(answered, (void *)name);
        if (zhashx_lookup(current, name)) continue; /* answered with an add above */
        il_service_t *svc = il_service_new(name);
        if (svc) s_report(self, ILP_ACTION_DELETE, svc);
        il_service_destroy(&svc);
    }
    for (const char *name = zlistx_first(answered); name; name = zlistx_next(answered))
        zhashx_delete(self->refresh, name);
    zlistx_destroy(&answered);
}

static void s_docker_state(provider_t *self, bool up, const char *error)
{
    if (up && (!self->docker_up || !self->docker_known))
        il_log_info("docker: listing %s from %s",
                    self->config.swarm ? "Swarm services" : "containers", self->config.endpoint);
    if (!up && (self->docker_up || !self->docker_known))
        il_log_error(
            "docker: cannot list from %s: %s; retrying, and reporting no deletion until it "
            "answers",
            self->config.endpoint, error);
    self->docker_up = up;
    self->docker_known = true;
}

/* True when the listing shows container id running. */
static bool s_listed_running(const json_t *containers, const char *id)
{
    for (size_t i = 0; i < json_array_size(containers); i++) {
        const json_t *c = json_array_get(containers, i);
        const char *cid = json_string_value(json_object_get(c, "Id"));
        if (cid && !strcmp(cid, id)) {
            const char *state = json_string_value(json_object_get(c, "State"));
            return state && !strcmp(state, "running");
        }
    }
    return false;
}

/* dockerd sends "die" before it releases the container's resources, and
 * lists the container running until then (a few hundred milliseconds), with
 * no event afterwards when it was killed or crashed: list again, backing off,
 * until the listing shows what the event said, rather than leave it to the
 * next poll. Called after a successful listing (containers mode). */
static void s_settle(provider_t *self)
{
    int64_t now = zclock_mono();
    zlistx_t *done = zlistx_new();
    for (void *until = zhashx_first(self->dying); until; until = zhashx_next(self->dying)) {
        const char *id = zhashx_cursor(self->dying);
        if (now >= (intptr_t)until || !s_listed_running(self->parts[0], id))
            zlistx_add_end(done, (void *)id);
    }
    for (const char *id = zlistx_first(done); id; id = zlistx_next(done))
        zhashx_delete(self->dying, id);
    zlistx_destroy(&done);
    if (zhashx_size(self->dying) == 0) return;
    s_list_soon(self, self->settle_ms);
    self->settle_ms = self->settle_ms * 2 > 1000 ? 1000 : self->settle_ms * 2;
}

static void s_listing_done(provider_t *self)
{
    self->listing = false;
    zhashx_t *current = NULL, *held = NULL;
    zhashx_t *seen = zhashx_new();
    zhashx_set_destructor(seen, (zhashx_destructor_fn *)zstr_free);
    discovery_config_t dc = {.host_ip = self->config.host_ip,
                             .label_selector = self->selector,
                             .provider = ilp_client_name(self->client)};
    /* A listing that failed or was cut short reports nothing. */
    if (!self->list_error) {
        current = self->config.swarm ? discovery_swarm(self->parts[0], self->parts[1],
                                                       self->parts[2], &dc, s_on_skip, seen)
                                     : discovery_containers(self->parts[0], &dc, s_on_skip, seen);
        held = self->config.swarm ? discovery_swarm_held(self->parts[0], &dc)
                                  : discovery_containers_held(self->parts[0], &dc);
        if (!current || !held) {
            zhashx_destroy(&current);
            self->list_error = il_strdup("unexpected answer (not a JSON array)");
        }
    }
    il_log_debug("docker: listing done in %lld ms%s%s",
                 (long long)(zclock_mono() - self->list_started), self->list_error ? ": " : "",
                 self->list_error ? self->list_error : "");
    if (current) {
        s_docker_state(self, true, NULL);
        s_log_skips(self, seen);
        seen = NULL;
        ilp_client_batch_begin(self->client); /* what changed leaves together */
        s_apply_listing(self, current, held);
        ilp_client_batch_end(self->client);
        zhashx_destroy(&current);
        self->listings++;
        self->retry_ms = S_RETRY_MIN_MS;
        if (self->stream_id < 0 && self->stream_timer < 0) s_stream_start(self);
        if (self->relist) s_list_soon(self, S_DEBOUNCE_MS);
        self->relist = false;
        if (!self->config.swarm) s_settle(self);
    } else {
        s_docker_state(self, false, self->list_error);
        /* Vanished just before the daemon went away: most likely stopped by its
         * shutdown. Decide again, from scratch, once it answers. */
        if (zhashx_size(self->vanished))
            il_log_info("docker: %zu vanished services kept until the daemon answers again",
                        zhashx_size(self->vanished));
        zhashx_purge(self->vanished);
        s_list_soon(self, self->retry_ms);
        self->retry_ms =
            self->retry_ms * 2 > self->config.poll_ms ? self->config.poll_ms : self->retry_ms * 2;
    }
    for (int i = 0; i < S_LIST_PARTS; i++) {
        json_decref(self->parts[i]);
        self->parts[i] = NULL;
    }
    zhashx_destroy(&seen);
    zhashx_destroy(&held);
    free(self->list_error);
    self->list_error = NULL;
}

static void s_on_part(void *arg, long status, const char *body, size_t len, const char *error)
{
    (void)len;
    s_part_t *part = arg;
    provider_t *self = part->self;
    self->list_ids[part->part] = -1;
    if (!self->list_error) {
        char text[600];
        if (error) {
            snprintf(text, sizeof text, "%s", error);
            self->list_error = il_strdup(text);
        } else if (status != 200) {
            snprintf(text, sizeof text, "HTTP %ld: %.200s", status, body);
            self->list_error = il_strdup(text);
        } else {
            json_error_t jerr;
            self->parts[part->part] = json_loads(body, 0, &jerr);
            if (!self->parts[part->part]) {
                snprintf(text, sizeof text, "invalid JSON: %s", jerr.text);
                self->list_error = il_strdup(text);
            }
        }
    }
    if (--self->parts_left == 0) s_listing_done(self);
}

static void s_list_now(provider_t *self)
{
    if (self->listing) {
        self->relist = true;
        return;
    }
    /* all=1: a stopped container is told from a removed one */
    static const char *const container_paths[] = {"/containers/json?all=1"};
    static const char *const swarm_paths[] = {
        "/services", "/tasks?filters=%7B%22desired-state%22%3A%5B%22running%22%5D%7D", "/nodes"};
    const char *const *paths = self->config.swarm ? swarm_paths : container_paths;
    int n = self->config.swarm ? 3 : 1;
    self->listing = true;
    self->list_started = zclock_mono();
    self->parts_left = n;
    for (int i = 0; i < n; i++) {
        self->part_args[i] = (s_part_t){self, i};
        self->list_ids[i] = docker_api_get(self->api, paths[i], s_on_part, &self->part_args[i]);
        if (self->list_ids[i] >= 0) continue;
        /* Could not even start: give up this listing, retry as after a failure. */
        for (int j = 0; j < i; j++)
            docker_api_cancel(self->api, self->list_ids[j]);
        free(self->list_error);
        self->list_error = il_strdup("cannot start a request to the Docker API");
        s_listing_done(self);
        return;
    }
}

static int s_on_list_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    provider_t *self = arg;
    /* A timer replaced by a sooner one may still fire in the pass that ended
     * it (zloop removes ended timers after the pass). */
    if (timer_id != self->list_timer) return 0;
    self->list_timer = -1;
    s_list_now(self);
    return 0;
}

/* Lists after delay_ms, unless a listing is already due sooner. One timer
 * serves every purpose (debounced events, refresh requests, a vanished
 * service's grace, retries after a failure), so a sooner wish moves it
 * earlier: an event must never wait behind another service's grace. Moving
 * it loses no later wish, as every listing re-arms what is still pending
 * (the grace in s_apply_listing, the retry in s_listing_done). */
static void s_list_soon(provider_t *self, int64_t delay_ms)
{
    if (delay_ms < 1) delay_ms = 1;
    int64_t due = zclock_mono() + delay_ms;
    if (self->list_timer >= 0) {
        if (self->list_due <= due) return;
        zloop_timer_end(self->loop, self->list_timer);
    }
    self->list_timer = zloop_timer(self->loop, (size_t)delay_ms, 1, s_on_list_timer, self);
    self->list_due = due;
}

static int s_on_poll(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    s_list_now(arg); /* the safety net: events can be lost, a listing cannot lie */
    return 0;
}

/* The events stream ------------------------------------------------------------- */

static void s_on_event_line(void *arg, const char *line, size_t len)
{
    provider_t *self = arg;
    discovery_event_t event;
    char why[256];
    if (discovery_event_parse(line, len, &event, why, sizeof why) != 0) {
        il_log_warn("docker: unreadable event: %s", why);
        return;
    }
    if (self->stream_failing) il_log_info("docker: events stream connected again");
    self->stream_failing = false;
    if (event.time > self->since) self->since = event.time;
    il_log_debug("docker: event %s %s %.12s", event.type[0] ? event.type : "?",
                 event.action[0] ? event.action : "?", event.id);
    if (!self->config.swarm && !strcmp(event.action, "die") && event.id[0]) {
        zhashx_update(self->dying, event.id, (void *)(intptr_t)(zclock_mono() + S_SETTLE_MAX));
        self->settle_ms = S_SETTLE_MS;
    }
    s_list_soon(self, S_DEBOUNCE_MS);
}

static int s_on_stream_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    provider_t *self = arg;
    self->stream_timer = -1;
    s_stream_start(self);
    return 0;
}

static void s_on_event_end(void *arg, const char *error)
{
    provider_t *self = arg;
    self->stream_id = -1;
    if (!self->stream_failing)
        il_log_warn("docker: events stream ended (%s); reconnecting, then listing again",
                    error ? error : "closed by the daemon");
    else
        il_log_debug("docker: events stream: %s", error ? error : "closed by the daemon");
    self->stream_failing = true;
    /* Back-off shared with listings; the listing after reconnecting closes the gap. */
    self->stream_timer =
        zloop_timer(self->loop, (size_t)self->retry_ms, 1, s_on_stream_timer, self);
}

static void s_stream_start(provider_t *self)
{
    const char *filters = self->config.swarm
                              ? "{\"type\":[\"service\",\"node\",\"container\"]}"
                              : "{\"type\":[\"container\"],\"event\":[\"start\",\"die\",\"stop\","
                                "\"kill\",\"destroy\",\"pause\",\"unpause\",\"update\","
                                "\"rename\"]}";
    char *escaped = docker_api_escape(filters);
    char path[1024];
    if (self->since > 0)
        snprintf(path, sizeof path, "/events?since=%lld&filters=%s", (long long)self->since,
                 escaped);
    else
        snprintf(path, sizeof path, "/events?filters=%s", escaped);
    free(escaped);
    self->stream_id = docker_api_stream(self->api, path, s_on_event_line, s_on_event_end, self);
    if (self->stream_id < 0) {
        s_on_event_end(self, "cannot start the request");
        return;
    }
    s_list_soon(self, S_DEBOUNCE_MS); /* whatever happened while not streaming */
}

/* The core ---------------------------------------------------------------------- */

static void s_on_refresh(ilp_client_t *client, const char *name, void *arg)
{
    (void)client;
    provider_t *self = arg;
    zhashx_update(self->refresh, name, "");
    s_list_soon(self, S_DEBOUNCE_MS);
}

static void s_on_connected(ilp_client_t *client, bool connected, void *arg)
{
    provider_t *self = arg;
    if (!connected) return;
    /* A core that restarted may have missed events: tell it everything again. */
    for (il_service_t *svc = zhashx_first(self->reported); svc; svc = zhashx_next(self->reported))
        ilp_client_event(client, ILP_ACTION_ADD, svc);
    s_list_soon(self, S_DEBOUNCE_MS);
}

/* Lifecycle --------------------------------------------------------------------- */

provider_t *provider_new(const provider_config_t *config, const ilp_client_config_t *client,
                         char *err, size_t errlen)
{
    provider_t *self = il_calloc(1, sizeof *self);
    self->config = *config;
    if (!config->host_ip)
        self->config.host_ip = s_primary_address();
    else
        self->config.host_ip = il_strdup(config->host_ip);
    size_t n = 0, count = config->label_selector ? zlistx_size(config->label_selector) : 0;
    self->selector = il_calloc(count + 1, sizeof *self->selector);
    if (config->label_selector)
        for (const char *l = zlistx_first(config->label_selector); l;
             l = zlistx_next(config->label_selector))
            self->selector[n++] = l;
    self->reported = zhashx_new();
    zhashx_set_destructor(self->reported, (zhashx_destructor_fn *)il_service_destroy);
    self->refresh = zhashx_new();
    self->warned = zhashx_new();
    self->vanished = zhashx_new();
    self->dying = zhashx_new();
    self->settle_ms = S_SETTLE_MS;
    self->list_timer = -1;
    self->stream_id = -1;
    self->stream_timer = -1;
    self->retry_ms = S_RETRY_MIN_MS;
    for (int i = 0; i < S_LIST_PARTS; i++)
        self->list_ids[i] = -1;
    ilp_client_handler_t handler = {.refresh = s_on_refresh, .connected = s_on_connected};
    self->client = ilp_client_new(client, &handler, self);
    if (!self->client) {
        snprintf(err, errlen, "cannot create the bus client (see the log)");
        provider_destroy(&self);
        return NULL;
    }
    self->loop = ilp_client_loop(self->client);
    docker_api_config_t dc = {.endpoint = config->endpoint,
                              .tls_ca = config->tls_ca,
                              .tls_cert = config->tls_cert,
                              .tls_key = config->tls_key};
    self->api = docker_api_new(&dc, self->loop, err, errlen);
    if (!self->api) {
        provider_destroy(&self);
        return NULL;
    }
    zloop_timer(self->loop, (size_t)config->poll_ms, 0, s_on_poll, self);
    il_log_info("docker: %s mode, endpoint %s, published address for 0.0.0.0: %s, re-list every "
                "%lld ms",
                config->swarm ? "swarm" : "containers", config->endpoint, self->config.host_ip,
                (long long)config->poll_ms);
    s_list_soon(self, 1);
    return self;
}

void provider_destroy(provider_t **self_p)
{
    if (!self_p || !*self_p) return;
    provider_t *self = *self_p;
    docker_api_destroy(&self->api);
    ilp_client_destroy(&self->client);
    for (int i = 0; i < S_LIST_PARTS; i++)
        json_decref(self->parts[i]);
    zhashx_destroy(&self->reported);
    zhashx_destroy(&self->refresh);
    zhashx_destroy(&self->warned);
    zhashx_destroy(&self->vanished);
    zhashx_destroy(&self->dying);
    free(self->list_error);
    free(self->selector);
    free((char *)self->config.host_ip);
    free(self);
    *self_p = NULL;
}

int provider_run(provider_t *self)
{
    ilp_client_run(self->client);
    il_log_info("docker: stopping (%llu listings)", (unsigned long long)self->listings);
    return 0;
}
