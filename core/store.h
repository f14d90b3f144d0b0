/* store: the core's entries file (core.workflowEntriesFile), an append-only
 * log that is compacted from time to time.
 *
 * A full save (compaction) writes a whole snapshot to a temporary file in the
 * same directory, fsyncs it, renames it over the file and fsyncs the
 * directory. Between full saves, a save appends only the entries that changed
 * (store_touch) as one batch ending with a trailer, and fsyncs the file
 * before it counts as saved; a batch cut by a crash (a torn tail) is dropped
 * at the next load with a warning, so that a crash at any moment leaves the
 * previous or the new state, never a mix. The file is compacted at the first
 * save after a start, when it holds more than about twice as many records as
 * there are entries, after a failed append, and when it was replaced.
 *
 * A load refuses a corrupt file with an error naming the path and the record;
 * it never starts from an empty set because of a bad file.
 *
 * Format (documented for operators in docs/entries-file.md): a sequence of
 * records, each a 4-byte big-endian length, then (all records but the
 * header) the 4-byte big-endian CRC-32C of the record's bytes, then that many
 * bytes of msgpack (one map, at most 1 MiB):
 *   1. header  {format: "interlook-entries", version: 3, steps: [...], saved_at: ms}
 *   then batches, each:
 *   2. one record per entry saved (entry_pack), or {removed: name}
 *   3. trailer {end: true, count: N, saved_at: ms, seq: S}
 *      (N entries after the batch; S its number, counting on across full saves)
 * A later record of an entry replaces the earlier ones. A record whose CRC
 * does not match is refused. Version 1 and 2 files (no CRC, no seq) are read
 * as they are. A file cut exactly after a trailer cannot be told from a file
 * whose last save was that batch: the load logs which batch it ends with and
 * when that was saved. */
#ifndef INTERLOOK_STORE_H
#define INTERLOOK_STORE_H

#include "core/workflow.h"

typedef struct _store_t store_t;

/* A store for that path (nothing is read or written yet). The parent
 * directory is created if missing. NULL with the reason in err. */
store_t *store_new(const char *path, char *err, size_t errlen);

void store_destroy(store_t **self_p);

/* Loads the file into the workflow (workflow_adopt). A missing file is an
 * empty store (returns 0, *loaded = 0), but not a symbolic link to a missing
 * file. Returns -1 with "PATH: reason" in err for an unreadable, corrupt or
 * truncated file, a record whose checksum does not match, or an entry at a
 * step the workflow no longer has. */
int store_load(store_t *self, workflow_t *workflow, size_t *loaded, char *err, size_t errlen);

/* Writes all entries of the workflow atomically and durably (a full save,
 * which also compacts the file). Returns -1 with the reason in err (the
 * previous file is then untouched). */
int store_save(store_t *self, workflow_t *workflow, char *err, size_t errlen);

/* Notes that the entry changed: the next store_save_changes writes it. */
void store_touch(store_t *self, const entry_t *entry);

/* Notes that the entry is being removed (call it before it is freed): the
 * next store_save_changes writes its removal. */
void store_forget(store_t *self, const entry_t *entry);

/* Saves what changed since the last save: appends the touched entries (and
 * the removal of those no longer in the workflow) and fsyncs, or makes a full
 * save when the file needs compacting. Returns -1 with the reason in err; the
 * next call then makes a full save. */
int store_save_changes(store_t *self, workflow_t *workflow, char *err, size_t errlen);

/* Entry and removal records in the file as last saved (superseded ones
 * included; the entries themselves after a full save). */
size_t store_records(store_t *self);

/* After a load: bytes of an incomplete last batch that were dropped (0 when none). */
size_t store_dropped(store_t *self);

/* After a load: true when the file was saved with other workflow steps. */
bool store_steps_changed(store_t *self);

const char *store_path(store_t *self);

#endif
