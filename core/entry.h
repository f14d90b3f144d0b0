/* entry: one tracked service in the core — where it is in the workflow, where
 * it should go, the work in progress, the last error and the times that the
 * flow controller and the housekeeper act on. A plain data model with a
 * msgpack codec (for the entries file); its JSON view is in views.c. What
 * other modules keep per entry (the deadline heap's positions, the store's
 * changed entries, what was last published, when a WORK went out) they keep
 * in their own arrays, indexed by the entry's id (entry_slots_reserve).
 *
 * Positions: the workflow has steps[0..n-1], steps[0] being the provider.
 * While neither deployed nor undeployed, `pos` is the index of the last step
 * completed for the current direction (0: only the provider has it). */
#ifndef INTERLOOK_ENTRY_H
#define INTERLOOK_ENTRY_H

#include "broker/ilp_msg.h"
#include "common/service.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    ENTRY_AT_STEP = 0, /* state is steps[pos] */
    ENTRY_DEPLOYED = 1,
    ENTRY_UNDEPLOYED = 2,
} entry_state_t;

#define ENTRY_NO_ID UINT32_MAX /* the id of an entry outside a workflow */

/* The service as il_service_pack writes it: a cache (entry.c). */
typedef struct _entry_packed_t entry_packed_t;

typedef struct {
    char *name;  /* = service->name, key of the entry */
    uint32_t id; /* set by the workflow: unique among its entries, reused after a removal */
    il_service_t *service; /* the service as the core knows it */
    entry_state_t state;
    int pos;                 /* last completed step when state == ENTRY_AT_STEP */
    bool expect_deployed;    /* expected_state: deployed (true) or undeployed */
    bool wip;                /* a WORK is out */
    int wip_step;            /* step of that WORK (kept while a failed try waits to be retried) */
    ilp_action_t wip_action; /* add or delete */
    char work_id[ILP_MAX_ID + 1]; /* id of that WORK, "" when none */
    bool restart;           /* definition changed while a step ran: redo from step 1 after it */
    uint32_t attempt;       /* tries of the current step (1 = first) */
    char *error;            /* last error, NULL when none */
    int64_t wip_time;       /* wall-clock ms when the WORK went out */
    int64_t time_detected;  /* wall-clock ms of the first EVENT add */
    int64_t last_update;    /* wall-clock ms of the provider's last report */
    int64_t close_time;     /* wall-clock ms it became undeployed, 0 otherwise */
    int64_t next_try;       /* wall-clock ms before which no WORK is sent (back-off) */
    entry_packed_t *packed; /* not saved: see entry_packed_service */
    /* Read from a store, or saved since: its WORK may leave (not saved itself). */
    bool saved;
} entry_t;

/* A new entry for that service, at the provider step, expected deployed.
 * Takes ownership of *service_p. NULL when there is no service. */
entry_t *entry_new(il_service_t **service_p, int64_t now);

void entry_destroy(entry_t **self_p);

/* The entry's state as users see it: the step being worked on while wip,
 * else the last step completed, "deployed" or "undeployed". */
const char *entry_state_name(const entry_t *self, const char *const *steps);

/* Sets or clears (NULL) the error. */
void entry_set_error(entry_t *self, const char *error);

/* The entry's service as il_service_pack writes it (*len bytes), packed once and
 * kept while the service stays the same: each step of a service sends it in
 * a WORK, publishes it and saves it. The packed form is a cache that is not
 * part of the entry's value (it lives behind a pointer): filling it reads a
 * const entry. */
const char *entry_packed_service(const entry_t *self, size_t *len);

/* Drops the packed service: call after changing the service in place, or to
 * let an entry that will not be sent again soon hold no more than its service. */
void entry_service_changed(const entry_t *self);

/* Writes the entry as a msgpack map (the entries file format, see store.c). */
void entry_pack(const entry_t *self, const char *const *steps, msgpack_packer *pk);

/* Reads an entry written by entry_pack. Step names are mapped back to
 * positions in steps (nsteps of them): a step that is no longer in the
 * workflow is refused with an error naming it. NULL with the reason in err. */
entry_t *entry_unpack(const msgpack_object *obj, const char *const *steps, int nsteps, char *err,
                      size_t errlen);

/* What another module keeps per entry is an array indexed by entry->id (no
 * hashing, a few bytes per entry); the module clears an entry's item when the
 * entry is removed, as its id is then given to another. This grows *array
 * (*cap items of size bytes, the new ones zeroed) to have an item for id.
 * Returns -1 for ENTRY_NO_ID (nothing changes then). */
int entry_slots_reserve(void **array, size_t *cap, size_t size, uint32_t id);

#endif
