/* alloc_db: the IP allocator's durable record of which service holds which
 * address (ipam.ipalloc.db_file), shared safely by several allocator
 * instances on one host or volume.
 *
 * The file is an append-only log of text lines, each sealed with a checksum,
 * in groups (one per commit) that each end with a trailer carrying the
 * commit's number, its record count and a checksum chained over the groups:
 *   # interlook-ipalloc 2
 *   # commit <seq> <end> <hash>                 two slots: the last commit, and
 *   # commit <seq> <end> <hash>                 the byte its group ends at
 *   A <ip> <unix-ms> <hash> <service name>      an allocation
 *   R <ip> <unix-ms> <hash> <service name>      a release
 *   C <seq> <records> <hash>                    the end of a commit's group
 * (exact format in alloc_db.c and docs/ipalloc-db.md). Appends are made under
 * an exclusive flock on "<db_file>.lock", written and fdatasynced before
 * alloc_db_commit returns: what a RESULT announces is on disk first; the slot
 * is updated after. Before each batch the db reads what other instances
 * appended since (or reloads the whole file when it was compacted: new
 * inode). When the log holds much more dead than live records it is
 * compacted: a snapshot of the live allocations replaces the file atomically
 * (il_fileio_replace).
 *
 * A file that ends before the group its slots record as committed was cut
 * short (a full disk, an interrupted copy or restore): it is refused with
 * "PATH: ends after group N at byte B, but the last commit was group M...".
 * An incomplete last group that the slots do not claim (a crash during a
 * commit: it was never acknowledged) is dropped with a warning. Any other bad
 * line, an unknown header, a checksum or count mismatch refuses the load with
 * "PATH:LINE: reason". Version 1 files are read and rewritten in version 2. */
#ifndef INTERLOOK_ALLOC_DB_H
#define INTERLOOK_ALLOC_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _alloc_db_t alloc_db_t;

/* One live allocation. */
typedef struct {
    const char *name; /* service name */
    const char *ip;   /* textual address as recorded */
    int64_t time_ms;  /* when it was allocated */
} alloc_db_entry_t;

/* Opens (creating if missing, with parent directories; a symbolic link to a
 * missing file is not missing) and loads the db. NULL with "PATH[:LINE]:
 * reason" in err, e.g. for a file cut short. */
alloc_db_t *alloc_db_open(const char *path, char *err, size_t errlen);

void alloc_db_destroy(alloc_db_t **self_p);

/* Starts a batch: takes the exclusive lock and catches up with what other
 * instances wrote. The caller then reads and stages changes, and ends the
 * batch with alloc_db_commit (or alloc_db_abort). Returns -1 with the reason
 * in err (lock or read failure, or a file another instance corrupted). */
int alloc_db_begin(alloc_db_t *self, char *err, size_t errlen);

/* Told of changes other instances made, as alloc_db_begin reads them: op 'A'
 * (ip allocated) or 'R' (ip released); after a full reload (another instance
 * compacted the file) first '0' (forget everything, ip NULL), then an 'A' for
 * each live allocation. Not called for this handle's own staged changes. */
typedef void(alloc_db_observer_fn)(void *arg, char op, const char *ip);

/* Sets (or clears, fn NULL) the observer. */
void alloc_db_set_observer(alloc_db_t *self, alloc_db_observer_fn *fn, void *arg);

/* Within a batch: the address held by a service, NULL when none. */
const char *alloc_db_ip_of(alloc_db_t *self, const char *name);

/* Within a batch: the service holding an address, NULL when none. */
const char *alloc_db_holder_of(alloc_db_t *self, const char *ip);

/* Within a batch: stages an allocation / a release (applied to the in-memory
 * view at once). Returns -1 when the name already holds an address / holds
 * none, or the address is held by another service. */
int alloc_db_stage_allocate(alloc_db_t *self, const char *name, const char *ip, int64_t now_ms);
int alloc_db_stage_release(alloc_db_t *self, const char *name, int64_t now_ms);

/* Appends the staged records, fsyncs, compacts when worthwhile, releases the
 * lock. Returns -1 with the reason in err: then the staged changes are undone
 * in memory and nothing staged may be announced. */
int alloc_db_commit(alloc_db_t *self, char *err, size_t errlen);

/* Undoes the staged changes and releases the lock. */
void alloc_db_abort(alloc_db_t *self);

/* Live allocations, for listing; calls fn for each (any order). */
void alloc_db_foreach(alloc_db_t *self, void (*fn)(void *arg, const alloc_db_entry_t *entry),
                      void *arg);

size_t alloc_db_count(alloc_db_t *self);

/* Records (A and R lines) in the log and syncs made, for tests and metrics. */
size_t alloc_db_log_records(alloc_db_t *self);
uint64_t alloc_db_syncs(alloc_db_t *self);

const char *alloc_db_path(alloc_db_t *self);

#endif
