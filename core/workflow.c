/* workflow: the core's state machine, see workflow.h. Every transition is
 * decided in s_advance (what to do next for one entry) and s_finish (what a
 * step's end means); the public functions only route inputs to them. */
#include "core/workflow.h"
#include "common/alloc.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _workflow_t {
    char **steps; /* copies, steps[0] is the provider */
    int nsteps;
    workflow_timing_t timing;
    workflow_effects_t effects;
    void *arg;
    char *id_prefix;
    size_t id_prefix_len; /* at most ILP_MAX_ID - 17: room for "-" and the counter */
    uint64_t next_id;
    zhashx_t *entries;    /* name -> entry_t*, owned */
    zhashx_t *works;      /* work id -> entry_t*, not owned */
    zhashx_t *ips;        /* public_ip -> the live entry that holds it, not owned */
    zhashx_t *ip_waiters; /* public_ip -> name of an entry refused it while another held it */
    entry_t **heap;       /* min-heap on next_try: entries in back-off */
    size_t heap_size;
    size_t heap_cap;
    uint32_t *heap_pos; /* entry id -> its index in heap + 1, 0 when not in it */
    size_t heap_pos_cap;
    uint32_t next_entry_id; /* ids never given yet start here */
    uint32_t *free_ids;     /* ids of removed entries, given again first */
    size_t nfree, free_cap;
};

/* Entry ids: small numbers, reused, so that other modules keep what they
 * keep per entry in arrays (entry_slots_reserve). */

static void s_id_take(workflow_t *self, entry_t *entry)
{
    entry->id = self->nfree ? self->free_ids[--self->nfree] : self->next_entry_id++;
}

/* After the entry's removal effect (other modules have cleared its items). */
static void s_id_give_back(workflow_t *self, entry_t *entry)
{
    if (self->nfree == self->free_cap) {
        self->free_cap = self->free_cap ? self->free_cap * 2 : 64;
        self->free_ids = il_realloc(self->free_ids, self->free_cap * sizeof *self->free_ids);
    }
    self->free_ids[self->nfree++] = entry->id;
    entry->id = ENTRY_NO_ID;
}

/* Deadline heap: entries waiting for their back-off to end ----------------- */

/* Notes where heap[i] is. */
static void s_heap_set(workflow_t *self, size_t i)
{
    self->heap_pos[self->heap[i]->id] = (uint32_t)(i + 1);
}

static void s_heap_swap(workflow_t *self, size_t a, size_t b)
{
    entry_t *t = self->heap[a];
    self->heap[a] = self->heap[b];
    self->heap[b] = t;
    s_heap_set(self, a);
    s_heap_set(self, b);
}

static void s_heap_up(workflow_t *self, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (self->heap[parent]->next_try <= self->heap[i]->next_try) return;
        s_heap_swap(self, i, parent);
        i = parent;
    }
}

static void s_heap_down(workflow_t *self, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, least = i;
        if (left < self->heap_size && self->heap[left]->next_try < self->heap[least]->next_try)
            least = left;
        if (right < self->heap_size && self->heap[right]->next_try < self->heap[least]->next_try)
            least = right;
        if (least == i) return;
        s_heap_swap(self, i, least);
        i = least;
    }
}

static void s_heap_remove(workflow_t *self, entry_t *entry)
{
    if (self->heap_size == 0 || entry->id >= self->heap_pos_cap) return;
    size_t i = self->heap_pos[entry->id];
    if (i-- == 0) return;
    self->heap_pos[entry->id] = 0;
    self->heap_size--;
    if (i == self->heap_size) return;
    self->heap[i] = self->heap[self->heap_size];
    s_heap_set(self, i);
    s_heap_up(self, i);
    s_heap_down(self, i);
}

static void s_heap_push(workflow_t *self, entry_t *entry)
{
    s_heap_remove(self, entry);
    if (self->heap_size == self->heap_cap) {
        self->heap_cap = self->heap_cap ? self->heap_cap * 2 : 64;
        self->heap = il_realloc(self->heap, self->heap_cap * sizeof *self->heap);
    }
    if (entry_slots_reserve((void **)&self->heap_pos, &self->heap_pos_cap, sizeof *self->heap_pos,
                            entry->id) != 0)
        return; /* no id: an entry outside the workflow */
    size_t i = self->heap_size++;
    self->heap[i] = entry;
    s_heap_set(self, i);
    s_heap_up(self, i);
}

/* Public addresses ---------------------------------------------------------
 * A public_ip is held by one live entry at most (live: not undeployed). ips
 * maps each address to its holder; it follows every change of an entry's
 * address and every entry that becomes live, undeployed, removed or loaded.
 * An IPAM answer that would give an entry an address that another holds is
 * refused as that step's error (workflow_entry_result). */

static bool s_live(const entry_t *entry)
{
    return entry->state != ENTRY_UNDEPLOYED;
}

static entry_t *s_ip_holder(workflow_t *self, const char *ip)
{
    return ip ? zhashx_lookup(self->ips, ip) : NULL;
}

/* The entry no longer holds its address (which stays on its service). An
 * entry refused that address while this one held it (typically a holder
 * whose release the core learnt late, after a restart) is retried now
 * rather than at the end of its back-off. */
static void s_ip_release(workflow_t *self, entry_t *entry)
{
    const char *ip = entry->service->public_ip;
    if (!ip || zhashx_lookup(self->ips, ip) != entry) return;
    const char *name = zhashx_lookup(self->ip_waiters, ip);
    entry_t *waiter = name ? zhashx_lookup(self->entries, name) : NULL;
    if (waiter && waiter != entry && !waiter->wip && waiter->next_try > 0) {
        waiter->next_try = 0;
        s_heap_push(self, waiter); /* the next workflow_tick moves it on */
    }
    if (name) zhashx_delete(self->ip_waiters, ip);
    zhashx_delete(self->ips, ip);
}

/* The entry, when live, holds its address. Returns -1 when another live entry
 * holds it already (nothing changes then). */
static int s_ip_claim(workflow_t *self, entry_t *entry)
{
    const char *ip = entry->service->public_ip;
    if (!ip || !s_live(entry)) return 0;
    entry_t *holder = zhashx_lookup(self->ips, ip);
    if (holder) return holder == entry ? 0 : -1;
    return zhashx_insert(self->ips, ip, entry) == 0 ? 0 : -1;
}

/* Transitions ------------------------------------------------------------- */

static bool s_is_ipam(const char *step)
{
    return strncmp(step, "ipam.", 5) == 0;
}

/* Who reported the entry: asked to refresh it (the workflow's provider for
 * an entry that does not say). */
static const char *s_provider(workflow_t *self, const entry_t *entry)
{
    const char *provider = entry->service->provider;
    return provider && *provider ? provider : self->steps[0];
}

static void s_changed(workflow_t *self, entry_t *entry)
{
    if (self->effects.changed) self->effects.changed(self->arg, entry);
}

/* The next work id, "<prefix>-<counter in hex>", into id (ILP_MAX_ID + 1
 * bytes); built by hand, as it is for every step of every service. */
static void s_work_id(workflow_t *self, char *id)
{
    char hex[17];
    size_t n = 0;
    for (uint64_t v = ++self->next_id; v; v >>= 4)
        hex[n++] = "0123456789abcdef"[v & 15];
    size_t len = self->id_prefix_len;
    memcpy(id, self->id_prefix, len);
    id[len++] = '-';
    while (n && len < ILP_MAX_ID)
        id[len++] = hex[--n];
    id[len] = 0;
}

static void s_send_work(workflow_t *self, entry_t *entry, int step, ilp_action_t action,
                        int64_t now)
{
    entry->wip = true;
    entry->wip_step = step;
    entry->wip_action = action;
    entry->wip_time = now;
    s_work_id(self, entry->work_id);
    zhashx_insert(self->works, entry->work_id, entry);
    s_changed(self, entry);
    if (self->effects.dispatch) self->effects.dispatch(self->arg, entry, self->steps[step], action);
}

/* Forgets the work in progress (answered, failed or timed out). */
static void s_clear_work(workflow_t *self, entry_t *entry)
{
    if (entry->work_id[0]) zhashx_delete(self->works, entry->work_id);
    entry->work_id[0] = 0;
    entry->wip = false;
}

/* Decides and starts the next move of an entry that has no work in progress:
 * one WORK towards its expected state, or the final state change. */
static void s_advance(workflow_t *self, entry_t *entry, int64_t now)
{
    if (entry->wip) return;
    if (entry->next_try > now) {
        s_heap_push(self, entry);
        return;
    }
    s_heap_remove(self, entry);
    int last = self->nsteps - 1;
    if (entry->expect_deployed) {
        if (entry->state == ENTRY_DEPLOYED) return;
        if (entry->state == ENTRY_UNDEPLOYED) {
            entry->state = ENTRY_AT_STEP;
            entry->pos = 0;
            entry->close_time = 0;
            /* Live again. An address it kept while undeployed that another
             * entry has taken since is no longer its own: its IPAM step gives
             * it one again. */
            if (s_ip_claim(self, entry) != 0) {
                il_service_set_string(&entry->service->public_ip, NULL);
                entry_service_changed(entry);
            }
        }
        if (entry->pos >= last) {
            entry->state = ENTRY_DEPLOYED;
            entry->attempt = 1;
            s_changed(self, entry);
            return;
        }
        s_send_work(self, entry, entry->pos + 1, ILP_ACTION_ADD, now);
        return;
    }
    if (entry->state == ENTRY_UNDEPLOYED) return;
    if (entry->state == ENTRY_DEPLOYED) {
        entry->state = ENTRY_AT_STEP;
        entry->pos = last;
    }
    if (entry->pos <= 0) {
        s_ip_release(self, entry);
        entry->state = ENTRY_UNDEPLOYED;
        entry->pos = 0;
        entry->attempt = 1;
        entry->close_time = now;
        s_changed(self, entry);
        return;
    }
    s_send_work(self, entry, entry->pos, ILP_ACTION_DELETE, now);
}

/* The step in progress ended without success (error or time-out): keep the
 * error, and retry after a capped exponential back-off. When the expected
 * direction flipped meanwhile, the step may have been half done: count it as
 * done for the new direction, so that it is undone (or redone) too. */
static void s_step_failed(workflow_t *self, entry_t *entry, const char *error, int64_t now)
{
    bool went_forward = entry->wip_action == ILP_ACTION_ADD;
    int step = entry->wip_step;
    s_clear_work(self, entry);
    entry_set_error(entry, error);
    if (went_forward != entry->expect_deployed) {
        entry->pos = went_forward ? step : step - 1;
        entry->attempt = 1;
        entry->next_try = 0;
    } else {
        int64_t delay = self->timing.retry_min_ms;
        for (uint32_t i = 1; i < entry->attempt && delay < self->timing.retry_max_ms; i++)
            delay *= 2;
        if (delay > self->timing.retry_max_ms) delay = self->timing.retry_max_ms;
        entry->attempt++;
        entry->next_try = now + delay;
    }
    s_changed(self, entry);
    s_advance(self, entry, now);
}

/* The step in progress succeeded: merge what it may change, move on. */
static void s_finish(workflow_t *self, entry_t *entry, il_service_t *result, int64_t now)
{
    int step = entry->wip_step;
    bool added = entry->wip_action == ILP_ACTION_ADD;
    s_clear_work(self, entry);
    if (result && s_is_ipam(self->steps[step])) {
        /* workflow_entry_result checked that no other live entry holds it. */
        s_ip_release(self, entry);
        il_service_set_string(&entry->service->public_ip, result->public_ip);
        entry_service_changed(entry);
        s_ip_claim(self, entry);
    }
    entry->pos = added ? step : step - 1;
    entry->attempt = 1;
    entry->next_try = 0;
    entry_set_error(entry, NULL);
    if (entry->restart && entry->expect_deployed) entry->pos = 0;
    entry->restart = false;
    s_changed(self, entry);
    s_advance(self, entry, now);
}

/* True when the last try of step wip_step failed and waits for its retry. */
static bool s_failed_pending(const entry_t *entry)
{
    return !entry->wip && entry->error && entry->attempt > 1 && entry->wip_step > 0;
}

/* The expected direction flips while a failed step waits for its retry: that
 * step may have been half done, so it counts as done for the new direction
 * (undone when going back, redone when going forward), as in s_fail. */
static void s_turn(entry_t *entry, bool expect_deployed)
{
    if (s_failed_pending(entry)) {
        bool went_forward = entry->wip_action == ILP_ACTION_ADD;
        if (went_forward != expect_deployed && entry->state == ENTRY_AT_STEP)
            entry->pos = went_forward ? entry->wip_step : entry->wip_step - 1;
    }
    entry->expect_deployed = expect_deployed;
    entry->attempt = 1;
    entry->next_try = 0;
}

/* Inputs ------------------------------------------------------------------ */

static void s_event_add(workflow_t *self, il_service_t **service_p, int64_t now)
{
    il_service_t *service = *service_p;
    entry_t *entry = zhashx_lookup(self->entries, service->name);
    il_service_set_string(&service->public_ip, NULL); /* only IPAM sets it */
    if (!entry) {
        entry = entry_new(service_p, now);
        s_id_take(self, entry);
        zhashx_insert(self->entries, entry->name, entry);
        s_changed(self, entry);
        s_advance(self, entry, now);
        return;
    }
    entry->last_update = now;
    bool same = il_service_same_definition(entry->service, service);
    bool turn = !entry->expect_deployed;
    if (same && !turn) return; /* a re-report: only last_update moves (not persisted at once) */
    if (!same) {
        /* The provider's definition wins; the public IP stays the core's. */
        il_service_set_string(&service->public_ip, entry->service->public_ip);
        il_service_destroy(&entry->service);
        entry->service = service;
        entry_service_changed(entry);
        *service_p = NULL;
        if (entry->wip)
            entry->restart = true;
        else if (entry->state != ENTRY_UNDEPLOYED) {
            entry->state = ENTRY_AT_STEP;
            entry->pos = 0;
        }
    }
    if (turn) s_turn(entry, true);
    s_changed(self, entry);
    s_advance(self, entry, now);
}

static void s_event_delete(workflow_t *self, const char *name, int64_t now)
{
    entry_t *entry = zhashx_lookup(self->entries, name);
    if (!entry) return;
    entry->last_update = now;
    if (!entry->expect_deployed) return;
    s_turn(entry, false);
    entry->restart = false;
    s_changed(self, entry);
    s_advance(self, entry, now);
}

int workflow_event(workflow_t *self, const char *extension, ilp_action_t action,
                   il_service_t **service_p, int64_t now)
{
    if (!extension || strcmp(extension, self->steps[0]) || !service_p || !*service_p) return -1;
    /* An entry another provider reported (the workflow's provider changed
     * since) is that provider's: this one neither changes nor deletes it,
     * unless it is gone already (undeployed and expected so). */
    entry_t *entry = zhashx_lookup(self->entries, (*service_p)->name);
    if (entry && entry->service->provider && strcmp(entry->service->provider, extension)) {
        if (entry->expect_deployed || entry->state != ENTRY_UNDEPLOYED) return -1;
        il_service_set_string(&entry->service->provider, extension); /* taken over */
        entry_service_changed(entry);
    }
    il_service_set_string(&(*service_p)->provider, extension);
    if (action == ILP_ACTION_ADD)
        s_event_add(self, service_p, now);
    else if (action == ILP_ACTION_DELETE)
        s_event_delete(self, (*service_p)->name, now);
    else
        return -1;
    return 0;
}

int workflow_result(workflow_t *self, const char *work_id, const char *extension, const char *error,
                    il_service_t **service_p, int64_t now)
{
    entry_t *entry = work_id ? zhashx_lookup(self->works, work_id) : NULL;
    return entry ? workflow_entry_result(self, entry, extension, error, service_p, now) : -1;
}

int workflow_entry_result(workflow_t *self, entry_t *entry, const char *extension,
                          const char *error, il_service_t **service_p, int64_t now)
{
    if (!entry->wip || !extension || strcmp(extension, self->steps[entry->wip_step])) return -1;
    /* At most ILP_MAX_TEXT bytes, as the entries file reads errors back. */
    char text[ILP_MAX_TEXT + 1];
    if (error) {
        snprintf(text, sizeof text, "%s: %s", extension, error);
        s_step_failed(self, entry, text, now);
        return 0;
    }
    il_service_t *result = service_p ? *service_p : NULL;
    const char *ip = result && s_is_ipam(extension) ? result->public_ip : NULL;
    entry_t *holder = s_ip_holder(self, ip);
    if (holder && holder != entry) {
        /* Two services with one address: an allocator that lost its state
         * or misbehaves. Refused, and retried with the usual back-off. */
        snprintf(text, sizeof text, "%s answered %s for %s, but %s holds it", extension, ip,
                 entry->name, holder->name);
        zhashx_update(self->ip_waiters, ip, il_strdup(entry->name));
        s_step_failed(self, entry, text, now);
        return 1;
    }
    s_finish(self, entry, result, now);
    return 0;
}

void workflow_tick(workflow_t *self, int64_t now)
{
    while (self->heap_size > 0 && self->heap[0]->next_try <= now) {
        entry_t *entry = self->heap[0];
        s_heap_remove(self, entry);
        s_advance(self, entry, now);
    }
}

void workflow_housekeep(workflow_t *self, int64_t now)
{
    zlistx_t *expired = zlistx_new();
    for (entry_t *entry = zhashx_first(self->entries); entry; entry = zhashx_next(self->entries)) {
        if (entry->wip && now - entry->wip_time > self->timing.wip_timeout_ms) {
            zlistx_add_end(expired, entry);
        } else if (entry->state == ENTRY_UNDEPLOYED && entry->close_time &&
                   now - entry->close_time > self->timing.clean_after_ms) {
            zlistx_add_end(expired, entry);
        } else if (entry->state == ENTRY_DEPLOYED && entry->expect_deployed &&
                   now - entry->last_update > self->timing.max_last_updated_ms &&
                   self->effects.refresh) {
            self->effects.refresh(self->arg, s_provider(self, entry), entry->name);
        }
    }
    for (entry_t *entry = zlistx_first(expired); entry; entry = zlistx_next(expired)) {
        if (entry->wip) {
            if (self->effects.cancel) self->effects.cancel(self->arg, entry->work_id);
            char text[ILP_MAX_EXT_NAME + 64];
            snprintf(text, sizeof text, "%s: no answer within %lld ms",
                     self->steps[entry->wip_step], (long long)self->timing.wip_timeout_ms);
            s_step_failed(self, entry, text, now);
            continue;
        }
        if (self->effects.removed) self->effects.removed(self->arg, entry);
        s_heap_remove(self, entry);
        s_ip_release(self, entry);
        s_id_give_back(self, entry);
        zhashx_delete(self->entries, entry->name); /* frees entry */
    }
    zlistx_destroy(&expired);
}

/* Which of two live entries loaded with the same address keeps it: a
 * deployed one before one that is not, then the one detected first, then
 * the first by name (whatever the order of the file). */
static bool s_ranks_before(const entry_t *a, const entry_t *b)
{
    bool a_deployed = a->state == ENTRY_DEPLOYED, b_deployed = b->state == ENTRY_DEPLOYED;
    if (a_deployed != b_deployed) return a_deployed;
    if (a->time_detected != b->time_detected) return a->time_detected < b->time_detected;
    return strcmp(a->name, b->name) < 0;
}

/* The loser of a loaded conflict keeps the address on its service (nothing
 * is dropped) but does not hold it: it shows the conflict as its error and,
 * when expected deployed, runs its steps again from the first, so that its
 * IPAM step answers again (and the answer is checked). */
static void s_ip_demote(workflow_t *self, entry_t *loser, const entry_t *holder)
{
    const char *ip = loser->service->public_ip;
    char text[ILP_MAX_TEXT + 1];
    snprintf(text, sizeof text, "public_ip %s is held by %s too (entries file): %s keeps it", ip,
             holder->name, holder->name);
    il_log_warn("core: %s and %s both hold public_ip %s in the entries file: %s keeps it, %s %s",
                holder->name, loser->name, ip, holder->name, loser->name,
                loser->expect_deployed ? "runs its steps again" : "is being undeployed");
    entry_set_error(loser, text);
    if (!loser->expect_deployed) return;
    if (loser->wip) {
        /* Its work is sent again at resume; then the steps run again,
         * unless that work is the IPAM add whose answer is checked anyway. */
        if (loser->wip_action != ILP_ACTION_ADD || !s_is_ipam(self->steps[loser->wip_step]))
            loser->restart = true;
        return;
    }
    loser->state = ENTRY_AT_STEP;
    loser->pos = 0;
}

int workflow_adopt(workflow_t *self, entry_t **entry_p)
{
    entry_t *entry = *entry_p;
    if (zhashx_lookup(self->entries, entry->name)) return -1;
    s_id_take(self, entry);
    zhashx_insert(self->entries, entry->name, entry);
    *entry_p = NULL;
    entry_t *holder = s_ip_holder(self, s_live(entry) ? entry->service->public_ip : NULL);
    if (!holder) {
        s_ip_claim(self, entry);
    } else if (s_ranks_before(entry, holder)) {
        zhashx_update(self->ips, entry->service->public_ip, entry);
        s_ip_demote(self, holder, entry);
    } else {
        s_ip_demote(self, entry, holder);
    }
    return 0;
}

size_t workflow_rerun_deployed(workflow_t *self)
{
    size_t n = 0;
    for (entry_t *entry = zhashx_first(self->entries); entry; entry = zhashx_next(self->entries)) {
        if (entry->state != ENTRY_DEPLOYED || !entry->expect_deployed) continue;
        entry->state = ENTRY_AT_STEP;
        entry->pos = 0;
        n++;
    }
    return n;
}

void workflow_resume(workflow_t *self, int64_t now)
{
    zlistx_t *all = zlistx_new();
    for (entry_t *entry = zhashx_first(self->entries); entry; entry = zhashx_next(self->entries))
        zlistx_add_end(all, entry);
    for (entry_t *entry = zlistx_first(all); entry; entry = zlistx_next(all)) {
        if (entry->wip) {
            /* The work of the previous run is lost with its broker: send it again. */
            entry->wip = false;
            entry->work_id[0] = 0;
            s_send_work(self, entry, entry->wip_step, entry->wip_action, now);
        } else {
            s_advance(self, entry, now);
        }
    }
    zlistx_destroy(&all);
}

size_t workflow_resync(workflow_t *self, int64_t since)
{
    size_t asked = 0;
    if (!self->effects.refresh) return 0;
    for (entry_t *entry = zhashx_first(self->entries); entry; entry = zhashx_next(self->entries))
        if (entry->expect_deployed && entry->last_update < since) {
            self->effects.refresh(self->arg, s_provider(self, entry), entry->name);
            asked++;
        }
    return asked;
}

/* Lifecycle and accessors ------------------------------------------------ */

workflow_t *workflow_new(const char *const *steps, int nsteps, const workflow_timing_t *timing,
                         const char *id_prefix, const workflow_effects_t *effects, void *arg)
{
    if (!steps || nsteps < 1 || !timing) return NULL;
    workflow_t *self = il_calloc(1, sizeof *self);
    self->steps = il_calloc((size_t)nsteps + 1, sizeof *self->steps);
    for (int i = 0; i < nsteps; i++)
        self->steps[i] = il_strdup(steps[i]);
    self->nsteps = nsteps;
    self->timing = *timing;
    if (self->timing.retry_min_ms <= 0) self->timing.retry_min_ms = 1000;
    if (self->timing.retry_max_ms < self->timing.retry_min_ms)
        self->timing.retry_max_ms = self->timing.retry_min_ms;
    if (effects) self->effects = *effects;
    self->arg = arg;
    self->id_prefix = il_strndup(id_prefix ? id_prefix : "w", ILP_MAX_ID - 17);
    self->id_prefix_len = strlen(self->id_prefix);
    self->entries = zhashx_new();
    zhashx_set_destructor(self->entries, (zhashx_destructor_fn *)entry_destroy);
    self->works = zhashx_new();
    self->ips = zhashx_new(); /* keys are copies: a changed address frees the service's string */
    self->ip_waiters = zhashx_new();
    zhashx_set_destructor(self->ip_waiters, (zhashx_destructor_fn *)zstr_free);
    /* Keyed by entry->name and entry->work_id, which live in the entry as long
     * as it is in the table (a work id is removed before it changes): no copies. */
    zhashx_set_key_duplicator(self->entries, NULL);
    zhashx_set_key_destructor(self->entries, NULL);
    zhashx_set_key_duplicator(self->works, NULL);
    zhashx_set_key_destructor(self->works, NULL);
    return self;
}

void workflow_destroy(workflow_t **self_p)
{
    if (!self_p || !*self_p) return;
    workflow_t *self = *self_p;
    zhashx_destroy(&self->works);
    zhashx_destroy(&self->ips);
    zhashx_destroy(&self->ip_waiters);
    zhashx_destroy(&self->entries);
    for (int i = 0; i < self->nsteps; i++)
        free(self->steps[i]);
    free(self->steps);
    free(self->heap);
    free(self->heap_pos);
    free(self->free_ids);
    free(self->id_prefix);
    free(self);
    *self_p = NULL;
}

entry_t *workflow_lookup(workflow_t *self, const char *name)
{
    return name ? zhashx_lookup(self->entries, name) : NULL;
}

entry_t *workflow_work_entry(workflow_t *self, const char *work_id)
{
    return work_id ? zhashx_lookup(self->works, work_id) : NULL;
}

entry_t *workflow_first(workflow_t *self)
{
    return zhashx_first(self->entries);
}

entry_t *workflow_next(workflow_t *self)
{
    return zhashx_next(self->entries);
}

size_t workflow_size(workflow_t *self)
{
    return zhashx_size(self->entries);
}

const char *const *workflow_steps(workflow_t *self)
{
    return (const char *const *)self->steps;
}

int workflow_nsteps(workflow_t *self)
{
    return self->nsteps;
}

size_t workflow_waiting(workflow_t *self)
{
    return self->heap_size;
}
