/* views: the HTTP API's routes and views, see views.h. */
#include "core/views.h"
#include "common/alloc.h"
#include "common/version.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* obj (taken) as the body; NULL (jansson refused a string that is not
 * UTF-8) gets a 500. */
static void s_reply_json(api_reply_t *reply, int status, json_t *obj)
{
    reply->content_type = "application/json";
    if (!obj) {
        reply->status = 500;
        reply->body = il_strdup("{\"error\":\"the answer holds text that is not UTF-8\"}");
        return;
    }
    reply->status = status;
    reply->body = json_dumps(obj, JSON_COMPACT);
    if (!reply->body) il_oom(0); /* an object always dumps: only memory fails */
    json_decref(obj);
}

/* {"error": text} with that status; fmt takes one string. */
static void s_reply_error(api_reply_t *reply, int status, const char *fmt, const char *arg)
{
    char text[512];
    snprintf(text, sizeof text, fmt, arg);
    s_reply_json(reply, status, json_pack("{s:s}", "error", text));
}

static json_t *s_service_json(const il_service_t *svc)
{
    json_t *targets = json_array();
    for (size_t i = 0; i < svc->target_count; i++)
        json_array_append_new(targets, json_pack("{s:s, s:I, s:I}", "host", svc->targets[i].host,
                                                 "port", (json_int_t)svc->targets[i].port, "weight",
                                                 (json_int_t)svc->targets[i].weight));
    json_t *aliases = json_array();
    for (size_t i = 0; i < svc->alias_count; i++)
        json_array_append_new(aliases, json_string(svc->dns_aliases[i]));
    /* port: null when none, as public_ip. */
    json_t *port = svc->port ? json_integer(svc->port) : json_null();
    return json_pack("{s:s, s:s?, s:o, s:b, s:o, s:s?, s:o, s:s?}", "name", svc->name, "provider",
                     svc->provider, "targets", targets, "tls", svc->tls, "port", port, "public_ip",
                     svc->public_ip, "dns_aliases", aliases, "check", svc->check);
}

/* Milliseconds since the epoch as RFC 3339 UTC text, or JSON null for 0. */
static json_t *s_time_json(int64_t ms)
{
    if (ms <= 0) return json_null();
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char text[40];
    size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(text + n, sizeof text - n, ".%03dZ", (int)(ms % 1000));
    return json_string(text);
}

json_t *views_entry(const entry_t *self, const char *const *steps)
{
    return json_pack(
        "{s:s, s:s, s:s, s:b, s:s?, s:I, s:s?, s:o, s:o, s:o, s:o, s:o}", "name", self->name,
        "state", entry_state_name(self, steps), "expected_state",
        self->expect_deployed ? "deployed" : "undeployed", "wip", self->wip, "wip_step",
        self->wip ? steps[self->wip_step] : NULL, "attempt", (json_int_t)self->attempt, "error",
        self->error, "wip_time", s_time_json(self->wip ? self->wip_time : 0), "time_detected",
        s_time_json(self->time_detected), "last_update", s_time_json(self->last_update),
        "close_time", s_time_json(self->close_time), "service", s_service_json(self->service));
}

static json_t *s_services_json(workflow_t *workflow)
{
    const char *const *steps = workflow_steps(workflow);
    json_t *all = json_object();
    for (entry_t *e = workflow_first(workflow); e; e = workflow_next(workflow))
        json_object_set_new(all, e->name, views_entry(e, steps));
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

static json_t *s_extensions_json(const views_source_t *source)
{
    s_ext_walk_t walk = {json_object(), zclock_mono()};
    for (const char *const *step = workflow_steps(source->workflow); *step; step++)
        json_object_set_new(walk.by_ext, *step, json_array());
    broker_foreach_instance(source->broker, s_ext_item, &walk);
    return walk.by_ext;
}

static json_t *s_workflow_json(workflow_t *workflow)
{
    json_t *steps = json_array();
    for (const char *const *s = workflow_steps(workflow); *s; s++)
        json_array_append_new(steps, json_string(*s));
    return json_pack("{s:o}", "steps", steps);
}

void views_answer(const views_source_t *source, const char *method, const char *path,
                  api_reply_t *reply)
{
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
    workflow_t *workflow = source->workflow;
    if (!strcmp(path, "/health")) {
        json_t *health = json_pack(
            "{s:s, s:s, s:I, s:b}", "status", "ok", "core_id", broker_core_id(source->broker),
            "entries", (json_int_t)workflow_size(workflow), "entries_saved", source->entries_saved);
        if (health && source->role) {
            json_object_set_new(health, "id", source->id ? json_string(source->id) : json_null());
            json_object_set_new(health, "role", json_string(source->role));
            json_object_set_new(health, "reason",
                                json_string(source->role_reason ? source->role_reason : ""));
            json_object_set_new(health, "leader",
                                source->leader_id ? json_string(source->leader_id) : json_null());
        }
        s_reply_json(reply, 200, health);
    } else if (!strcmp(path, "/services")) {
        s_reply_json(reply, 200, s_services_json(workflow));
    } else if (!strncmp(path, "/services/", 10)) {
        entry_t *entry = workflow_lookup(workflow, path + 10);
        if (!entry) {
            s_reply_error(reply, 404, "no service named '%s'", path + 10);
            return;
        }
        s_reply_json(reply, 200, views_entry(entry, workflow_steps(workflow)));
    } else if (!strcmp(path, "/workflow")) {
        s_reply_json(reply, 200, s_workflow_json(workflow));
    } else if (!strcmp(path, "/extensions")) {
        s_reply_json(reply, 200, s_extensions_json(source));
    } else if (!strcmp(path, "/version")) {
        s_reply_json(reply, 200,
                     json_pack("{s:s, s:s, s:s}", "version", INTERLOOK_VERSION, "protocol",
                               ILP_SIGNATURE, "core_id", broker_core_id(source->broker)));
    } else {
        reply->status = 200;
        reply->content_type = "text/plain; version=0.0.4";
        reply->body = metrics_text(source->metrics, workflow, source->broker);
    }
}
