/* views: the HTTP API's routes and what each shows — the health, the
 * entries, the workflow, the extensions, the version as JSON, and the
 * metrics as Prometheus text (metrics_text). It only reads: the server
 * calls it in the loop's thread with the state to show. */
#ifndef INTERLOOK_VIEWS_H
#define INTERLOOK_VIEWS_H

#include "broker/broker.h"
#include "core/api.h"
#include "core/metrics.h"
#include "core/workflow.h"

#include <jansson.h>

/* What the views read. */
typedef struct {
    workflow_t *workflow;
    broker_t *broker;
    metrics_t *metrics;
    bool entries_saved; /* no change waits to be written to the entries file */
    /* Several cores (core.store: etcd): this core's role for /health
     * ("leader", "standby", "none"; NULL with the file store), why, and
     * the leading core's id (NULL when none is known). */
    const char *role;
    const char *role_reason;
    const char *leader_id;
    const char *id; /* this core's core.id, compared with leader_id */
} views_source_t;

/* The answer to METHOD PATH: 200 with the view, 404 for an unknown path or
 * service, 405 for a method other than GET and HEAD, 500 when a text shown
 * is not UTF-8. */
void views_answer(const views_source_t *source, const char *method, const char *path,
                  api_reply_t *reply);

/* The JSON object shown for an entry (new reference; NULL when one of its
 * texts is not UTF-8). */
json_t *views_entry(const entry_t *entry, const char *const *steps);

#endif
