/* etcd_store: the core's entries on etcd (core.store: etcd), one key per
 * entry, <prefix>/entries/<name>, holding the entry in the entries file's
 * codec (entry_pack). The counterpart of store.c for several cores, of which
 * only the leader writes.
 *
 * Writes leave on a thread of its own (a czmq actor with its own etcd
 * client), so the core's loop never waits on etcd: the loop packs the
 * entries that changed (etcd_store_touch) into a batch, the thread commits it
 * in txns of at most IL_ETCD_MAX_TXN_OPS puts and deletes, each guarded by
 * leader_guard (the leader key is still the one this core won), and the
 * batch comes back with its outcome. One batch is in flight at a time, so
 * batches reach etcd in order. A batch is saved when etcd has committed every
 * txn of it (a quorum of members wrote it to their logs); a failed batch
 * leaves its entries to the next save (puts and deletes of the current state,
 * safe to repeat); a failed guard means this core no longer leads.
 *
 * A batch of more than 128 changes is several txns, so it is not atomic as a
 * whole: each entry is, and a crash between two txns leaves each entry in
 * its old or its new state, as the file store's batches do entry by entry
 * once the next leader has resumed (it sends the work in progress again).
 *
 * Reads leave the loop too. A takeover asks the same thread for a load
 * (etcd_store_load_start): it reads the range under the prefix and hands the
 * raw key-values back; the loop decodes them into its workflow
 * (etcd_store_adopt), which only the loop touches. A standby keeps a mirror:
 * a second thread (its own client) reads the range, then watches the prefix
 * from that revision (compaction or a broken watch: it reads again) and
 * sends the key-values and the events to the loop, which keeps them raw and
 * decodes them into a read-only view when asked (etcd_store_mirror_fill).
 * The mirror follows etcd by a watch: eventually, typically within
 * milliseconds of the leader's write. */
#ifndef INTERLOOK_ETCD_STORE_H
#define INTERLOOK_ETCD_STORE_H

#include "common/etcd.h"
#include "core/leader.h"
#include "core/workflow.h"

#include <czmq.h>

typedef struct _etcd_store_t etcd_store_t;

/* What a batch came back with. */
typedef enum {
    ETCD_STORE_SAVED = 0,      /* every txn committed */
    ETCD_STORE_FAILED = 1,     /* etcd did not answer or refused: its entries go in the next save */
    ETCD_STORE_DEPOSED = 2,    /* a guard failed or was refused: this core no longer leads */
    ETCD_STORE_LOADED = 3,     /* a load came back with the entries: etcd_store_adopt */
    ETCD_STORE_LOAD_FAILED = 4 /* a load came back without: the reason says why */
} etcd_store_outcome_t;

/* A store under prefix (e.g. "/interlook") whose writes are guarded by
 * leader's key; starts the writing thread. NULL with the reason in err
 * (bad endpoints or TLS files). */
etcd_store_t *etcd_store_new(const il_etcd_config_t *config, const char *prefix, leader_t *leader,
                             char *err, size_t errlen);

/* Stops the threads after the batch or read they are doing (each bounded by
 * the client's time-out) and frees everything; sets *self_p to NULL. */
void etcd_store_destroy(etcd_store_t **self_p);

/* Asks the thread to read every entry under the prefix (a takeover); the
 * answer arrives on etcd_store_sock (etcd_store_recv: ETCD_STORE_LOADED or
 * ETCD_STORE_LOAD_FAILED). 0 when asked, 1 when a load is in flight. */
int etcd_store_load_start(etcd_store_t *self);

/* True while a load is in flight. */
bool etcd_store_loading(etcd_store_t *self);

/* After ETCD_STORE_LOADED: decodes what the load read into the workflow
 * (workflow_adopt; NULL: drops it) and frees it. -1 with "etcd KEY: reason" in err when an
 * entry does not decode or names a step the workflow does not have (nothing
 * is skipped), or when no load came back. */
int etcd_store_adopt(etcd_store_t *self, workflow_t *workflow, size_t *loaded, char *err,
                     size_t errlen);

/* Notes that the entry named so changed or is being removed: the next save
 * writes it (or deletes its key when the workflow no longer has it). */
void etcd_store_touch(etcd_store_t *self, const char *name);

/* Packs what changed into a batch and hands it to the thread. 0 when a batch
 * left, 1 when there was nothing to save or a batch is still in flight (call
 * again when it is back). */
int etcd_store_save_changes(etcd_store_t *self, workflow_t *workflow);

/* True while a batch is in flight or changes wait for the next save. */
bool etcd_store_pending(etcd_store_t *self);

/* True while a batch is in flight. */
bool etcd_store_busy(etcd_store_t *self);

/* Forgets what changed and was not saved (this core stopped leading). A
 * batch in flight still comes back and is dropped then. */
void etcd_store_reset(etcd_store_t *self);

/* The socket a finished batch arrives on (readable: call etcd_store_recv). */
zsock_t *etcd_store_sock(etcd_store_t *self);

/* Reads a finished batch's or load's outcome and reason (caller frees; NULL
 * when saved or loaded). A failed batch's entries are noted as changed
 * again. -1 when nothing could be read. */
int etcd_store_recv(etcd_store_t *self, etcd_store_outcome_t *outcome, char **reason);

/* Bytes of values and entries written by the batches saved, for the
 * bytes-per-entry figure. */
void etcd_store_counts(etcd_store_t *self, uint64_t *bytes, uint64_t *entries);

/* The mirror (a standby's view) ------------------------------------------- */

/* Starts following etcd (read, then watch) when not already; what the
 * mirror held is dropped. */
void etcd_store_mirror_start(etcd_store_t *self);

/* Stops following etcd and drops what the mirror held (this core leads). */
void etcd_store_mirror_stop(etcd_store_t *self);

/* The socket the mirror's news arrives on (readable: call
 * etcd_store_mirror_recv). */
zsock_t *etcd_store_mirror_sock(etcd_store_t *self);

/* Reads one piece of news (the entries read, events, or why etcd cannot be
 * followed) and applies it; news from before the last start or stop is
 * dropped. -1 when nothing could be read. */
int etcd_store_mirror_recv(etcd_store_t *self);

/* True when the mirror follows etcd (read, and watching); otherwise why in
 * reason ("" when not started). */
bool etcd_store_mirror_synced(etcd_store_t *self, char *reason, size_t reasonlen);

/* True when the mirror changed since the last etcd_store_mirror_fill. */
bool etcd_store_mirror_changed(etcd_store_t *self);

/* Decodes the mirror's entries into workflow (new, empty, read-only). -1
 * with "etcd KEY: reason" in err when an entry does not decode. */
int etcd_store_mirror_fill(etcd_store_t *self, workflow_t *workflow, size_t *count, char *err,
                           size_t errlen);

/* The etcd revision the mirror reflects (0 before its first read). */
int64_t etcd_store_mirror_revision(etcd_store_t *self);

#endif
