/* alloc_etcd: the IP allocator's allocations kept in etcd
 * (ipam.ipalloc.store: etcd), so that any number of allocators on any hosts
 * share one pool without ever handing out one address twice, and no host's
 * loss loses an allocation.
 *
 * Under BASE = <prefix>/ipalloc/<pool>/ each allocation is two keys:
 *   BASE ip/<addr>  -> the service's name
 *   BASE svc/<name> -> the address
 * created together by one txn that holds only when neither exists
 * (create_revision == 0 on both) and deleted together by one txn that holds
 * only while ip/<addr> still names the service. A txn that fails reads both
 * keys in its failure branch (atomically with the compares): a service that
 * already has an address gets that one back (idempotent, also after a txn
 * whose outcome a time-out left unknown: it is sent again with the same
 * address), an address another allocator took is marked used and the next
 * free one is tried. Every failed txn shows at least one key that exists, so
 * each round settles a request or marks an address used in the view: the
 * loop ends when every request is settled, the view's pool is exhausted, or
 * at the deadline (an allocator that keeps losing races to a faster one may
 * answer some work with the time-out; the core retries it).
 *
 * Where new candidates come from (a wanted address, and the address a
 * service already holds, are tried first): the lowest free address, as long
 * as this store loses no race for one. Allocators sharing a pool all start
 * there, so the first lost race moves this store to a lane: the free address
 * of a random rank among the lowest 512 (the window doubling on each further
 * lost race up to 4,096, and never more than a quarter of the free
 * addresses), its candidates a run of the free addresses from there. Each
 * store thus leaves at most that many free addresses below its allocations:
 * the pool stays packed from its start, while two stores rarely try the same
 * address at once. After 64 txns without a lost race, the lowest again.
 *
 * The local view (which addresses are used, which service holds which) is a
 * read of BASE followed by a watch from the revision after it (read again
 * when etcd compacted that revision away); it only picks candidates, the
 * compares decide: a stale view costs a round, never a duplicate.
 *
 * Up to 64 requests go in one txn (4 operations each within etcd's 128 a
 * list), so a batch of work costs a few round trips, not one per service.
 * Every call blocks (bounded by the deadline given or the client's
 * time-out): the allocator runs them on a thread of its own. */
#ifndef INTERLOOK_ALLOC_ETCD_H
#define INTERLOOK_ALLOC_ETCD_H

#include "common/etcd.h"
#include "extensions/ipalloc/pool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _alloc_etcd_t alloc_etcd_t;

/* One request of alloc_etcd_apply. */
typedef struct {
    const char *name;   /* service name */
    bool release;       /* release the service's address (else: allocate) */
    const char *wanted; /* allocate: an address the service asks to keep, or NULL */
    bool fixed;         /* allocate exactly wanted (an import): a holder is a conflict */
    /* results */
    char ip[64];     /* the address allocated (or released; "" when it held none) */
    bool created;    /* this call created the allocation (else it existed) */
    char error[256]; /* "" on success */
    /* private to the module */
    pool_addr_t cand;
    bool has_cand, took, done, laned, known; /* known: held as the view says */
    int rounds;
} alloc_etcd_req_t;

/* The pool's key in etcd for a network without a configured name: its CIDR
 * with '/' replaced by '_' ("10.32.30.0_24"), written into buf. */
char *alloc_etcd_pool_key(const char *cidr, char *buf, size_t buflen);

/* A store on the etcd client config (copied: the strings must outlive it),
 * under "<prefix>/ipalloc/<pool_key>/"; takes pool (the free space it keeps
 * in step with etcd). Nothing is read yet. NULL with the reason in err. */
alloc_etcd_t *alloc_etcd_new(const il_etcd_config_t *config, const char *prefix,
                             const char *pool_key, pool_t *pool, char *err, size_t errlen);

/* Frees the store and its pool, sets *self_p to NULL. */
void alloc_etcd_destroy(alloc_etcd_t **self_p);

/* Reads every allocation of the pool and watches from there. Addresses
 * outside the pool are kept (never handed out). -1 with the reason (naming
 * the endpoints) in err. */
int alloc_etcd_load(alloc_etcd_t *self, char *err, size_t errlen);

/* Applies what the watch delivered (waiting up to timeout_ms for it); reads
 * everything again when the watch's revision was compacted. -1 with the
 * reason in err (the view stays as it was; the next call tries again). */
int alloc_etcd_sync(alloc_etcd_t *self, int timeout_ms, char *err, size_t errlen);

/* Settles each request, in order (a release and an allocation of one name
 * keep their order), committing each in etcd before it is counted done.
 * Requests etcd could not settle by deadline_ms (zclock_mono) get the error
 * with etcd's reason. Returns the number of requests with an error. */
size_t alloc_etcd_apply(alloc_etcd_t *self, alloc_etcd_req_t *reqs, size_t count,
                        int64_t deadline_ms);

/* The view's allocations, for listing: fn for each (any order). */
void alloc_etcd_foreach(alloc_etcd_t *self, void (*fn)(void *arg, const char *name, const char *ip),
                        void *arg);

/* Allocations in the view. */
size_t alloc_etcd_count(alloc_etcd_t *self);

/* The pool (owned by the store). */
pool_t *alloc_etcd_pool(alloc_etcd_t *self);

/* "BASE" (for messages). */
const char *alloc_etcd_base(alloc_etcd_t *self);

/* Txns committed, and those that failed a compare (lost races, retries). */
uint64_t alloc_etcd_txns(alloc_etcd_t *self);
uint64_t alloc_etcd_conflicts(alloc_etcd_t *self);

/* Candidate addresses found taken by another service (lost races for an
 * address: each costs the txn holding it a round). */
uint64_t alloc_etcd_lost(alloc_etcd_t *self);

/* spread (the default): a lost race moves the store's lane away from the
 * lowest free address (see above); false: always the lowest free address
 * (the former policy, kept for the benchmark's comparison). */
void alloc_etcd_set_spread(alloc_etcd_t *self, bool spread);

#endif
