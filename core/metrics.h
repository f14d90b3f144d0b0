/* metrics: what the core counts (events, work, results, saves), its dispatch
 * latency histogram, and their Prometheus text for GET /metrics. The server
 * counts what it sees; the start time of each WORK, which the latency needs,
 * is kept here (by entry id), not on the entry. */
#ifndef INTERLOOK_METRICS_H
#define INTERLOOK_METRICS_H

#include "broker/broker.h"
#include "core/workflow.h"

typedef struct _metrics_t metrics_t;

/* The plain counters, incremented by the server. */
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
} metrics_counts_t;

/* Counters at zero, no latency observed. */
metrics_t *metrics_new(void);

void metrics_destroy(metrics_t **self_p);

/* The counters, for the server to increment. */
metrics_counts_t *metrics_counts(metrics_t *self);

/* A WORK for the entry went out now: counted (and as a retry when
 * attempt > 1); its RESULT's latency is measured from now. */
void metrics_work_sent(metrics_t *self, const entry_t *entry);

/* When the entry's WORK went out (monotonic microseconds), 0 when unknown. */
int64_t metrics_work_started(metrics_t *self, const entry_t *entry);

/* The entry's WORK was answered after it went out at since_us (from
 * metrics_work_started): observes the latency, counts the result. */
void metrics_work_answered(metrics_t *self, int64_t since_us);

/* Forgets the entry's start time: its WORK ended without an answer, or it
 * has none out any more, or it is being removed. */
void metrics_work_forget(metrics_t *self, const entry_t *entry);

/* Forgets every WORK start time (the entries were dropped: a core that
 * stopped leading). */
void metrics_work_forget_all(metrics_t *self);

/* The Prometheus text exposition of the entries (from the workflow), the
 * counters, the bus (from the broker) and the histogram. A heap string. */
char *metrics_text(metrics_t *self, workflow_t *workflow, broker_t *broker);

#endif
