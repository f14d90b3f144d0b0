/* allocator: the ipam.ipalloc extension's object. It answers WORK add with an
 * address from the pool (the one the service already holds, if any) and WORK
 * delete by releasing it. Work that arrives together is committed together:
 * one batch, one fsync, then all the RESULTs (group commit) — an address is on
 * disk before any RESULT announces it. */
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
} allocator_config_t;

/* Reads the ipam.ipalloc section. Returns -1 with "FILE:LINE: key: reason" in err. */
int allocator_config_load(allocator_config_t *self, il_config_t *cfg, char *err, size_t errlen);
void allocator_config_clear(allocator_config_t *self);

/* Builds the pool of config and drops it (for --check-config): 0, or -1 with
 * the reason (naming the key and value) in err. The db is not opened. */
int allocator_config_check(const allocator_config_t *config, char *err, size_t errlen);

/* Builds the pool and opens the db (no bus yet). NULL with the reason (naming
 * the key and value, or the db path) in err. */
allocator_t *allocator_new(const allocator_config_t *config, char *err, size_t errlen);

void allocator_destroy(allocator_t **self_p);

/* Connects to the core and serves until SIGINT/SIGTERM. Returns 0, or -1 when
 * the client could not be created. */
int allocator_run(allocator_t *self, const ilp_client_config_t *client_config);

/* Prints the allocations (service, IP, time), sorted by address, to out. */
void allocator_list(allocator_t *self, FILE *out);

#endif
