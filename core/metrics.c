/* metrics: the core's counters and histogram and their Prometheus text, see metrics.h. */
#include "core/metrics.h"
#include "common/alloc.h"
#include "core/core_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds (seconds) of the dispatch latency histogram. */
static const double s_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                   0.25,  0.5,    1,     2.5,  5,     10};
#define S_NBUCKETS (sizeof s_buckets / sizeof s_buckets[0])

struct _metrics_t {
    metrics_counts_t counts;          /* the plain counters */
    uint64_t latency[S_NBUCKETS + 1]; /* dispatch -> result, cumulative at export */
    double latency_sum;
    uint64_t latency_count;
    int64_t *started; /* entry id -> monotonic us its WORK went out, 0 when none */
    size_t started_cap;
};

metrics_t *metrics_new(void)
{
    return il_calloc(1, sizeof(metrics_t));
}

void metrics_destroy(metrics_t **self_p)
{
    if (!self_p || !*self_p) return;
    metrics_t *self = *self_p;
    free(self->started);
    free(self);
    *self_p = NULL;
}

metrics_counts_t *metrics_counts(metrics_t *self)
{
    return &self->counts;
}

void metrics_work_sent(metrics_t *self, const entry_t *entry)
{
    self->counts.work_sent++;
    if (entry->attempt > 1) self->counts.work_retried++;
    /* An entry without an id (outside a workflow) goes unmeasured. */
    if (entry_slots_reserve((void **)&self->started, &self->started_cap, sizeof *self->started,
                            entry->id) == 0)
        self->started[entry->id] = zclock_usecs();
}

void metrics_work_forget_all(metrics_t *self)
{
    if (self->started) memset(self->started, 0, self->started_cap * sizeof *self->started);
}

int64_t metrics_work_started(metrics_t *self, const entry_t *entry)
{
    return entry->id < self->started_cap ? self->started[entry->id] : 0;
}

void metrics_work_answered(metrics_t *self, int64_t since_us)
{
    self->counts.results++;
    if (since_us <= 0) return;
    double seconds = (double)(zclock_usecs() - since_us) / 1e6;
    size_t b = 0;
    while (b < S_NBUCKETS && seconds > s_buckets[b])
        b++;
    self->latency[b]++;
    self->latency_sum += seconds;
    self->latency_count++;
}

void metrics_work_forget(metrics_t *self, const entry_t *entry)
{
    if (entry->id < self->started_cap) self->started[entry->id] = 0;
}

char *metrics_text(metrics_t *self, workflow_t *workflow, broker_t *broker)
{
    const char *const *steps = workflow_steps(workflow);
    int nsteps = workflow_nsteps(workflow);
    size_t by_pos[CORE_MAX_STEPS] = {0};
    size_t deployed = 0, undeployed = 0, wip = 0, errors = 0;
    for (entry_t *e = workflow_first(workflow); e; e = workflow_next(workflow)) {
        if (e->wip) wip++;
        if (e->error) errors++;
        if (e->state == ENTRY_DEPLOYED)
            deployed++;
        else if (e->state == ENTRY_UNDEPLOYED)
            undeployed++;
        else if (e->pos >= 0 && e->pos < CORE_MAX_STEPS)
            by_pos[e->pos]++;
    }
    const broker_stats_t *bus = broker_stats(broker);
    const metrics_counts_t *m = &self->counts;
    zchunk_t *out = zchunk_new(NULL, 4096); /* czmq aborts when out of memory */
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
    for (int i = 0; i < nsteps && i < CORE_MAX_STEPS; i++)
        S_PUT("interlook_entries{state=\"%s\"} %zu\n", steps[i], by_pos[i]);
    S_PUT("# TYPE interlook_entries_wip gauge\ninterlook_entries_wip %zu\n", wip);
    S_PUT("# TYPE interlook_entries_error gauge\ninterlook_entries_error %zu\n", errors);
    S_PUT("# TYPE interlook_entries_backoff gauge\ninterlook_entries_backoff %zu\n",
          workflow_waiting(workflow));
    struct {
        const char *name, *help;
        uint64_t value;
    } counters[] = {
        {"interlook_events_total", "EVENTs accepted from the provider.", m->events},
        {"interlook_events_refused_total",
         "EVENTs refused (not from the provider, or about another provider's service).",
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
        {"interlook_instances_dead_total", "Instances dropped for silence or a closed connection.",
         bus->instances_dead},
        {"interlook_instances_disconnected_total",
         "Instances dropped at once because their connection closed.", bus->instances_closed},
        {"interlook_work_expired_total", "WORK items without an answer in time.",
         bus->work_expired},
        {"interlook_bus_credit_cut_total", "HELLOs whose credit was cut to core.bus.maxCredit.",
         bus->credit_cut},
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
              broker_instance_count(broker, steps[i]));
    S_PUT("# HELP interlook_dispatch_latency_seconds Time from WORK sent to its RESULT.\n"
          "# TYPE interlook_dispatch_latency_seconds histogram\n");
    uint64_t cumulative = 0;
    for (size_t b = 0; b < S_NBUCKETS; b++) {
        cumulative += self->latency[b];
        S_PUT("interlook_dispatch_latency_seconds_bucket{le=\"%g\"} %llu\n", s_buckets[b],
              (unsigned long long)cumulative);
    }
    S_PUT("interlook_dispatch_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
          (unsigned long long)self->latency_count);
    S_PUT("interlook_dispatch_latency_seconds_sum %.6f\n", self->latency_sum);
    S_PUT("interlook_dispatch_latency_seconds_count %llu\n",
          (unsigned long long)self->latency_count);
    S_PUT("# TYPE interlook_entries_save_seconds gauge\ninterlook_entries_save_seconds %.6f\n",
          m->last_save_seconds);
#undef S_PUT
    char *text = il_strndup((const char *)zchunk_data(out), zchunk_size(out));
    zchunk_destroy(&out);
    return text;
}
