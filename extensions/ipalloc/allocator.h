/* allocator: the ipam.ipalloc extension's object. It answers WORK add with an
 * address from the pool (the one the service already holds, if any) and WORK
 * delete by releasing it. Work that arrives together is committed together:
 * one batch, one fsync, then all the RESULTs (group commit) — an address is on
 * disk before any RESULT announces it.
 *
 * With ipam.ipalloc.store: etcd the allocations live in etcd (alloc_etcd):
 * a batch is settled by a few txns (64 services each) that etcd commits on a
 * quorum before any RESULT leaves. Those round trips run on a thread of their
 * own (a zactor), not in the client's loop: a txn takes ~1-3 ms, but a member
 * that dies or hangs costs a call its try time-out (2 s) and a lost quorum
 * up to the batch's deadline (10 s), longer than a heartbeat interval, and
 * the loop must keep answering heartbeats meanwhile (the core would drop
 * the extension and send its work again). Work that arrives while a batch is
 * with etcd gathers into the next one; between batches the thread applies
 * the watch's events to its view of the pool. */
#ifndef INTERLOOK_ALLOCATOR_H
#define INTERLOOK_ALLOCATOR_H

#include "broker/ilp_client.h"
#include "common/config.h"

typedef struct _allocator_t allocator_t;

typedef struct {
    const char *cidr;      /* ipam.ipalloc.network_cidr (required) */
    const char *ip_start;  /* ipam.ipalloc.ip_start, NULL: start of the network */
    const char *ip_end;    /* ipam.ipalloc.ip_end, NULL: end of the network */
    const char *db_file;   /* ipam.ipalloc.db_file (./var/ipalloc.db) */
    zlistx_t *reserved;    /* ipam.ipalloc.reserved */
    int64_t credit;        /* ipam.ipalloc.credit (100) */
    const char *log_level; /* ipam.ipalloc.logLevel (info) */
    bool etcd;             /* ipam.ipalloc.store: etcd (else file) */
    const char *etcd_from; /* the section the etcd keys came from: ipam.ipalloc.etcd or core.etcd */
    zlistx_t *etcd_endpoints; /* <etcd_from>.endpoints (INTERLOOK_ETCD_ENDPOINTS overrides) */
    const char *etcd_prefix;  /* <etcd_from>.prefix (/interlook) */
    const char *etcd_tls_ca, *etcd_tls_cert, *etcd_tls_key;
    const char *etcd_pool; /* ipam.ipalloc.etcd.pool, NULL: the CIDR with '_' for '/' */
    bool etcd_wait; /* store etcd: wait for etcd at start (the daemon) rather than fail (--list) */
} allocator_config_t;

/* Reads the ipam.ipalloc section. Returns -1 with "FILE:LINE: key: reason" in err. */
int allocator_config_load(allocator_config_t *self, il_config_t *cfg, char *err, size_t errlen);
void allocator_config_clear(allocator_config_t *self);

/* Builds the pool of config (and, store etcd, an etcd client) and drops it
 * (for --check-config): 0, or -1 with the reason (naming the key and value)
 * in err. Neither the db nor etcd is opened. */
int allocator_config_check(const allocator_config_t *config, char *err, size_t errlen);

/* Builds the pool and opens the db, or (store etcd) reads the pool's
 * allocations from etcd (no bus yet; with etcd_wait, an etcd that does not
 * answer is waited for, said once, until it answers or SIGINT/SIGTERM: a
 * host that boots before etcd's quorum is back). NULL with the reason
 * (naming the key and value, the db path, or the etcd endpoints) in err. */
allocator_t *allocator_new(const allocator_config_t *config, char *err, size_t errlen);

void allocator_destroy(allocator_t **self_p);

/* Connects to the core and serves until SIGINT/SIGTERM. Returns 0, or -1 when
 * the client could not be created. */
int allocator_run(allocator_t *self, const ilp_client_config_t *client_config);

/* Prints the allocations (service, IP, time), sorted by address, to out
 * (store etcd: as read from etcd; the time is "-": etcd keeps none). */
void allocator_list(allocator_t *self, FILE *out);

/* Store etcd: loads the allocations of the file db at path into etcd, each
 * by the txn an allocation uses (so it is idempotent: what is there already
 * is counted, not written again). An address held there by another service,
 * or a service holding another address there, is a conflict: reported on
 * err_out, never overwritten. Prints a summary on out. 0, or -1 when
 * something was not imported (conflicts, etcd errors, an unreadable file). */
int allocator_import(allocator_t *self, const char *path, FILE *out, FILE *err_out);

#endif
