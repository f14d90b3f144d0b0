/* workflow: the core's state machine. It tracks one entry per service and
 * moves each, one step at a time, towards its expected state: forward through
 * the workflow's steps with WORK add until `deployed`, backward with WORK
 * delete until `undeployed`. It is pure: time comes in as an argument and
 * every side effect (send a WORK, cancel one, persist and publish a change,
 * ask a provider to refresh) goes out through the effects callbacks, so that
 * the whole machine is unit-tested with an injected clock.
 *
 * A public_ip is held by one live (not undeployed) entry at most: an IPAM
 * RESULT that would give an entry an address another live entry holds is
 * refused as an error of that step (naming both) and retried with the
 * back-off.
 *
 * Cost: events and results are O(1) (hash look-ups); the flow controller tick
 * is O(k log n) in the k entries whose back-off ended; the housekeeper scans
 * all entries, once per housekeeping interval. */
#ifndef INTERLOOK_WORKFLOW_H
#define INTERLOOK_WORKFLOW_H

#include "core/entry.h"

#include <czmq.h>

typedef struct _workflow_t workflow_t;

typedef struct {
    int64_t wip_timeout_ms;      /* serviceWIPTimeout: a step without answer this long fails */
    int64_t max_last_updated_ms; /* serviceMaxLastUpdated: refresh deployed entries this old */
    int64_t clean_after_ms;      /* cleanUndeployedServiceAfter: forget undeployed entries */
    int64_t retry_min_ms;        /* first back-off after a step error */
    int64_t retry_max_ms;        /* cap of the back-off */
} workflow_timing_t;

typedef struct {
    /* Send WORK entry->work_id (action) for entry->service to extension. */
    void (*dispatch)(void *arg, const entry_t *entry, const char *extension, ilp_action_t action);
    /* Forget an outstanding WORK (it timed out); its late RESULT must be dropped. */
    void (*cancel)(void *arg, const char *work_id);
    /* The entry changed: persist it, publish its state. */
    void (*changed)(void *arg, const entry_t *entry);
    /* The entry is about to be removed (entry is still valid during the call). */
    void (*removed)(void *arg, const entry_t *entry);
    /* Ask a provider to report a service again. */
    void (*refresh)(void *arg, const char *provider, const char *name);
} workflow_effects_t;

/* A workflow over steps[0..nsteps-1] (steps[0] is the provider). The steps
 * are copied. Work ids start with id_prefix (unique per core run). NULL when
 * nsteps < 1 or timing is NULL (out of memory aborts, common/alloc.h). */
workflow_t *workflow_new(const char *const *steps, int nsteps, const workflow_timing_t *timing,
                         const char *id_prefix, const workflow_effects_t *effects, void *arg);

void workflow_destroy(workflow_t **self_p);

/* An EVENT from extension. Only the provider (steps[0]) may send them, and
 * only about services it reported itself (an entry's service.provider) or
 * new ones: returns -1 for any other sender, or for an entry another
 * provider reported that is not undeployed, and does nothing. Takes *service_p. */
int workflow_event(workflow_t *self, const char *extension, ilp_action_t action,
                   il_service_t **service_p, int64_t now);

/* A RESULT. Returns 0 when taken, 1 when taken as a failure of the step
 * although it carries no error (an address another live entry holds: see the
 * entry's error), -1 when work_id is not the work in progress of an entry or
 * comes from another extension than it was sent to (stale). May take *service_p. */
int workflow_result(workflow_t *self, const char *work_id, const char *extension, const char *error,
                    il_service_t **service_p, int64_t now);

/* The same for the entry workflow_work_entry found (one lookup less). */
int workflow_entry_result(workflow_t *self, entry_t *entry, const char *extension,
                          const char *error, il_service_t **service_p, int64_t now);

/* Flow controller: dispatches entries whose back-off has ended. */
void workflow_tick(workflow_t *self, int64_t now);

/* Housekeeper: WIP time-outs, refresh of stale deployed entries, removal of old undeployed ones. */
void workflow_housekeep(workflow_t *self, int64_t now);

/* Adds an entry loaded from disk (not dispatched until workflow_resume).
 * Takes *entry_p. Returns -1 when an entry of that name exists. A live entry
 * whose public_ip another live entry holds is adopted too: the deployed one
 * (else the one detected first, else the first by name) keeps the address,
 * the other shows the conflict as its error and, when expected deployed, runs
 * its steps again from the first (logged, naming both). */
int workflow_adopt(workflow_t *self, entry_t **entry_p);

/* The workflow's steps changed since the entries were saved: every entry that
 * is deployed runs the steps again from the first (steps are idempotent), so
 * that a step added to the workflow reaches the services already deployed.
 * Call before workflow_resume. Returns how many entries will run again. */
size_t workflow_rerun_deployed(workflow_t *self);

/* After loading: re-dispatches work that was in progress and whatever is due. */
void workflow_resume(workflow_t *self, int64_t now);

/* Re-synchronisation with the provider after a start: asks it to refresh
 * every entry expected deployed that it has not reported since `since` (wall
 * clock ms), whatever its state. The provider answers add (still there) or
 * delete (gone): an intent lost in a crash before it reached the entries file
 * (a delete, typically) is learnt again. Returns how many were asked about. */
size_t workflow_resync(workflow_t *self, int64_t since);

/* The entry of that service, NULL when none. */
entry_t *workflow_lookup(workflow_t *self, const char *name);

/* The entry whose work in progress has that id, NULL when none. */
entry_t *workflow_work_entry(workflow_t *self, const char *work_id);

/* Iteration over all entries (no changes to the workflow while iterating). */
entry_t *workflow_first(workflow_t *self);
entry_t *workflow_next(workflow_t *self);

size_t workflow_size(workflow_t *self);
const char *const *workflow_steps(workflow_t *self);
int workflow_nsteps(workflow_t *self);

/* Entries waiting for their back-off to end (the flow controller's queue). */
size_t workflow_waiting(workflow_t *self);

#endif
