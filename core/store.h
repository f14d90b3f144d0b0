/* store: the core's entries file (core.workflowEntriesFile). A save writes a
 * whole snapshot to a temporary file in the same directory, fsyncs it, renames
 * it over the file and fsyncs the directory, so that a crash at any moment
 * leaves either the old or the new snapshot, never a mix. A load refuses a
 * corrupt or truncated file with an error naming the path and the record;
 * it never starts from an empty set because of a bad file.
 *
 * Format (documented for operators in docs/entries-file.md): a sequence of
 * records, each a 4-byte big-endian length followed by that many bytes of
 * msgpack (one map, at most 1 MiB):
 *   1. header  {format: "interlook-entries", version: 1, steps: [...], saved_at: ms}
 *   2. one record per entry (entry_pack)
 *   3. trailer {end: true, count: N}   (N entries; a missing trailer = truncated file) */
#ifndef INTERLOOK_STORE_H
#define INTERLOOK_STORE_H

#include "core/workflow.h"

typedef struct _store_t store_t;

/* A store for that path (nothing is read or written yet). The parent
 * directory is created if missing. NULL with the reason in err. */
store_t *store_new(const char *path, char *err, size_t errlen);

void store_destroy(store_t **self_p);

/* Loads the file into the workflow (workflow_adopt). A missing file is an
 * empty store (returns 0, *loaded = 0). Returns -1 with "PATH: reason" in err
 * for an unreadable, corrupt or truncated file, or an entry at a step the
 * workflow no longer has. */
int store_load(store_t *self, workflow_t *workflow, size_t *loaded, char *err, size_t errlen);

/* Writes all entries of the workflow atomically and durably. Returns -1 with
 * the reason in err (the previous file is then untouched). */
int store_save(store_t *self, workflow_t *workflow, char *err, size_t errlen);

/* After a load: true when the file was saved with other workflow steps. */
bool store_steps_changed(store_t *self);

const char *store_path(store_t *self);

#endif
