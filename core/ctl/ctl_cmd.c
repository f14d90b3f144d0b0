/* ctl_cmd: the API commands of interlookctl, see ctl_cmd.h. */
#include "core/ctl/ctl_cmd.h"
#include "common/alloc.h"
#include "core/ctl/ctl_api.h"
#include "core/ctl/ctl_format.h"
#include "core/ctl/ctl_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_TARGETS_WIDTH 40 /* characters of the TARGETS column */
#define S_ERROR_WIDTH   40 /* characters of the ERROR column */

/* GETs path. Returns 0 with *json set (status 200, or 404 when allow_404 and
 * the status is 404), else prints why and returns 1. */
static int s_fetch(const ctl_cmd_options_t *opt, const char *path, bool allow_404, long *status,
                   json_t **json)
{
    char err[512];
    ctl_api_auth_t auth = {.token = opt->token, .cacert = opt->cacert};
    switch (ctl_api_get(opt->api, &auth, path, status, json, err, sizeof err)) {
    case CTL_API_UNREACHABLE:
        fprintf(stderr, "interlookctl: cannot reach the core at %s: %s\n", opt->api, err);
        return 1;
    case CTL_API_INVALID:
        fprintf(stderr, "interlookctl: invalid JSON from the core at %s%s: %s\n", opt->api, path,
                err);
        return 1;
    case CTL_API_OK:
        break;
    }
    if (*status == 200 || (allow_404 && *status == 404)) return 0;
    const char *why = json_string_value(json_object_get(*json, "error"));
    fprintf(stderr, "interlookctl: the core at %s answered HTTP %ld to GET %s%s%s\n", opt->api,
            *status, path, why ? ": " : "", why ? why : "");
    json_decref(*json);
    *json = NULL;
    return 1;
}

/* Prints json as --json does. Returns 0, or 1 when stdout fails. */
static int s_print_json(const json_t *json)
{
    if (json_dumpf(json, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY) != 0 ||
        fputc('\n', stdout) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "interlookctl: cannot write the output\n");
        return 1;
    }
    return 0;
}

/* 1 with a message when an answer does not have the expected shape. */
static int s_unexpected(const ctl_cmd_options_t *opt, const char *path, const char *what)
{
    fprintf(stderr, "interlookctl: unexpected answer from the core at %s%s: %s\n", opt->api, path,
            what);
    return 1;
}

static int s_finish(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "interlookctl: cannot write the output\n");
        return 1;
    }
    return 0;
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An API time as its age ("5s"), "-" when absent or not a time. */
static void s_age(const json_t *time, int64_t now, char *buf, size_t len)
{
    int64_t ms;
    if (ctl_format_parse_time(json_string_value(time), &ms) != 0)
        snprintf(buf, len, "-");
    else
        ctl_format_age((now - ms) / 1000, buf, len);
}

static int s_by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ctl_cmd_services(const ctl_cmd_options_t *opt)
{
    long status;
    json_t *all;
    if (s_fetch(opt, "/services", false, &status, &all)) return 1;
    if (opt->json) {
        int rc = s_print_json(all);
        json_decref(all);
        return rc;
    }
    if (!json_is_object(all)) {
        json_decref(all);
        return s_unexpected(opt, "/services", "expected an object");
    }
    size_t count = json_object_size(all), n = 0;
    const char **names = il_calloc(count, sizeof *names);
    static const char *const headers[] = {"NAME",    "STATE", "EXPECTED", "PUBLIC IP", "PORT",
                                          "TARGETS", "ERROR", "AGE",      NULL};
    ctl_table_t *table = ctl_table_new(headers);
    const char *key;
    json_t *entry;
    json_object_foreach(all, key, entry) names[n++] = key;
    qsort(names, n, sizeof *names, s_by_name);
    int64_t now = s_now_ms();
    for (size_t i = 0; i < n; i++) {
        entry = json_object_get(all, names[i]);
        json_t *svc = json_object_get(entry, "service");
        char *targets = ctl_format_targets(json_object_get(svc, "targets"), S_TARGETS_WIDTH);
        char *error =
            ctl_format_clean(json_string_value(json_object_get(entry, "error")), S_ERROR_WIDTH);
        char age[32], port[16];
        s_age(json_object_get(entry, "time_detected"), now, age, sizeof age);
        json_t *jport = json_object_get(svc, "port");
        snprintf(port, sizeof port, "%lld", (long long)json_integer_value(jport));
        const char *cells[] = {names[i],
                               json_string_value(json_object_get(entry, "state")),
                               json_string_value(json_object_get(entry, "expected_state")),
                               json_string_value(json_object_get(svc, "public_ip")),
                               json_is_integer(jport) ? port : NULL,
                               targets,
                               error,
                               age};
        ctl_table_add(table, cells);
        free(targets);
        free(error);
    }
    ctl_table_print(table, stdout);
    int rc = s_finish();
    ctl_table_destroy(&table);
    free(names);
    json_decref(all);
    return rc;
}

/* One "label  value" line; value cleaned for the terminal, "-" when NULL. */
static void s_line(const char *label, const char *value)
{
    char *clean = ctl_format_clean(value, 0);
    printf("%-16s%s\n", label, clean);
    free(clean);
}

static void s_time_line(const char *label, const json_t *time, int64_t now)
{
    const char *text = json_string_value(time);
    int64_t ms;
    if (!text || ctl_format_parse_time(text, &ms) != 0) {
        s_line(label, text);
        return;
    }
    char age[32], value[128];
    ctl_format_age((now - ms) / 1000, age, sizeof age);
    snprintf(value, sizeof value, "%s (%s ago)", text, age);
    s_line(label, value);
}

/* Text of a scalar JSON value: strings as they are, booleans and integers
 * written out, null and anything else "-". */
static const char *s_scalar(const json_t *value, char *buf, size_t len)
{
    if (json_is_string(value)) return json_string_value(value);
    if (json_is_boolean(value)) return json_is_true(value) ? "true" : "false";
    if (json_is_integer(value)) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(value));
        return buf;
    }
    return NULL;
}

int ctl_cmd_service(const ctl_cmd_options_t *opt, const char *name)
{
    char *escaped = ctl_api_escape(name);
    char *path = il_malloc(strlen(escaped) + 11);
    sprintf(path, "/services/%s", escaped);
    free(escaped);
    long status;
    json_t *entry;
    int rc = s_fetch(opt, path, true, &status, &entry);
    const char *why = rc == 0 ? json_string_value(json_object_get(entry, "error")) : NULL;
    if (rc == 0 && status == 404 && why && !strncmp(why, "no such path", 12)) {
        /* not the core's API at that address, or not this version's */
        fprintf(stderr, "interlookctl: the core at %s answered HTTP 404 to GET %s: %s\n", opt->api,
                path, why);
        rc = 1;
    } else if (rc == 0 && status == 404) {
        char *clean = ctl_format_clean(name, 0);
        fprintf(stderr, "interlookctl: no service named '%s'\n", clean);
        free(clean);
        rc = 1;
    } else if (rc == 0 && opt->json) {
        rc = s_print_json(entry);
    } else if (rc == 0 && !json_is_object(entry)) {
        rc = s_unexpected(opt, path, "expected an object");
    } else if (rc == 0) {
        int64_t now = s_now_ms();
        char buf[32];
        json_t *svc = json_object_get(entry, "service");
        static const char *const scalars[] = {"name",     "state",   "expected_state", "wip",
                                              "wip_step", "attempt", "error",          NULL};
        for (const char *const *k = scalars; *k; k++)
            s_line(*k, s_scalar(json_object_get(entry, *k), buf, sizeof buf));
        static const char *const times[] = {"wip_time", "time_detected", "last_update",
                                            "close_time", NULL};
        for (const char *const *k = times; *k; k++)
            s_time_line(*k, json_object_get(entry, *k), now);
        s_line("provider", s_scalar(json_object_get(svc, "provider"), buf, sizeof buf));
        json_t *targets = json_object_get(svc, "targets");
        if (json_array_size(targets) == 0) s_line("targets", NULL);
        for (size_t i = 0; i < json_array_size(targets); i++) {
            json_t *item = json_array_get(targets, i);
            char one[600], value[700];
            if (ctl_format_target(item, false, one, sizeof one) != 0) continue;
            snprintf(value, sizeof value, "%s (weight %lld)", one,
                     (long long)json_integer_value(json_object_get(item, "weight")));
            s_line(i == 0 ? "targets" : "", value);
        }
        s_line("tls", s_scalar(json_object_get(svc, "tls"), buf, sizeof buf));
        s_line("port", s_scalar(json_object_get(svc, "port"), buf, sizeof buf));
        s_line("public_ip", s_scalar(json_object_get(svc, "public_ip"), buf, sizeof buf));
        json_t *aliases = json_object_get(svc, "dns_aliases");
        if (json_array_size(aliases) == 0) s_line("dns_aliases", NULL);
        for (size_t i = 0; i < json_array_size(aliases); i++)
            s_line(i == 0 ? "dns_aliases" : "", json_string_value(json_array_get(aliases, i)));
        rc = s_finish();
    }
    json_decref(entry);
    free(path);
    return rc;
}

static int s_by_instance(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "instance"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "instance"));
    return strcmp(x ? x : "", y ? y : "");
}

int ctl_cmd_extensions(const ctl_cmd_options_t *opt)
{
    long status;
    json_t *all;
    if (s_fetch(opt, "/extensions", false, &status, &all)) return 1;
    if (opt->json) {
        int rc = s_print_json(all);
        json_decref(all);
        return rc;
    }
    if (!json_is_object(all)) {
        json_decref(all);
        return s_unexpected(opt, "/extensions", "expected an object");
    }
    static const char *const headers[] = {"EXTENSION", "INSTANCE", "ADDRESS",        "CREDIT",
                                          "IN FLIGHT", "RESULTS",  "LAST HEARTBEAT", NULL};
    ctl_table_t *table = ctl_table_new(headers);
    for (size_t c = 3; c <= 5; c++)
        ctl_table_align_right(table, c);
    const char *ext;
    json_t *list;
    json_object_foreach(all, ext, list) /* in the workflow's order */
    {
        size_t n = json_array_size(list);
        if (n == 0) {
            const char *cells[] = {ext, NULL, NULL, NULL, NULL, NULL, NULL};
            ctl_table_add(table, cells);
            continue;
        }
        json_t **items = il_calloc(n, sizeof *items);
        for (size_t i = 0; i < n; i++)
            items[i] = json_array_get(list, i);
        qsort(items, n, sizeof *items, s_by_instance);
        for (size_t i = 0; i < n; i++) {
            char credit[32], in_flight[32], results[32], beat[48] = "-";
            json_t *ago = json_object_get(items[i], "last_heartbeat_ms_ago");
            if (json_is_integer(ago)) ctl_format_ago_ms(json_integer_value(ago), beat, sizeof beat);
            const char *cells[] = {
                ext,
                json_string_value(json_object_get(items[i], "instance")),
                json_string_value(json_object_get(items[i], "address")),
                s_scalar(json_object_get(items[i], "credit"), credit, sizeof credit),
                s_scalar(json_object_get(items[i], "in_flight"), in_flight, sizeof in_flight),
                s_scalar(json_object_get(items[i], "results"), results, sizeof results),
                beat};
            ctl_table_add(table, cells);
        }
        free(items);
    }
    ctl_table_print(table, stdout);
    int rc = s_finish();
    ctl_table_destroy(&table);
    json_decref(all);
    return rc;
}

int ctl_cmd_workflow(const ctl_cmd_options_t *opt)
{
    long status;
    json_t *flow;
    if (s_fetch(opt, "/workflow", false, &status, &flow)) return 1;
    if (opt->json) {
        int rc = s_print_json(flow);
        json_decref(flow);
        return rc;
    }
    json_t *steps = json_object_get(flow, "steps");
    if (!json_is_array(steps)) {
        json_decref(flow);
        return s_unexpected(opt, "/workflow", "expected {\"steps\": [...]}");
    }
    for (size_t i = 0; i < json_array_size(steps); i++) {
        char *step = ctl_format_clean(json_string_value(json_array_get(steps, i)), 0);
        printf("%s%s", i ? " -> " : "", step);
        free(step);
    }
    putchar('\n');
    json_decref(flow);
    return s_finish();
}
