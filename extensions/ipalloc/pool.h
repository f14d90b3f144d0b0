/* pool: the address pool of the IP allocator. An IPv4 or IPv6 network
 * (CIDR), optionally narrowed to [ip_start, ip_end], minus the addresses never
 * handed out (network and broadcast address, multicast, the reserved list).
 * The free space is a set of disjoint, merged address ranges kept in a
 * balanced search tree (a treap), so that taking the lowest free address,
 * taking one given address and releasing one are O(log n) in the number of
 * free ranges, whatever the size of the pool: a /64 is never materialised.
 *
 * The pool only knows addresses; which service holds which address is the
 * allocator's business (alloc_db). */
#ifndef INTERLOOK_POOL_H
#define INTERLOOK_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef unsigned __int128 pool_addr_t;

typedef struct _pool_t pool_t;

/* Parses a textual IPv4 or IPv6 address. *family is 4 or 6. Returns -1 when
 * text is not an address. */
int pool_addr_parse(const char *text, pool_addr_t *addr, int *family);

/* Formats an address of that family into buf (at least 46 bytes). Returns buf. */
char *pool_addr_format(pool_addr_t addr, int family, char *buf, size_t buflen);

/* Builds a pool. cidr: "10.32.30.0/24" or "fd00::/64" (the address is
 * normalised to the network: "10.32.30.7/24" is refused as ambiguous);
 * ip_start / ip_end: NULL for the whole network, else addresses inside it
 * with start <= end; reserved: NULL-terminated list (NULL for none), each an
 * address of the same family (outside the range is allowed and ignored).
 * Excluded always: for IPv4 prefixes shorter than /31 the network and
 * broadcast addresses; for IPv6 prefixes shorter than /127 the network
 * (subnet-router anycast) address; multicast (224.0.0.0/4, ff00::/8).
 * Returns NULL with a reason naming the offending key and value in err, e.g.
 * "ip_start: 10.32.31.5 is outside 10.32.30.0/24". */
pool_t *pool_new(const char *cidr, const char *ip_start, const char *ip_end,
                 const char *const *reserved, char *err, size_t errlen);

void pool_destroy(pool_t **self_p);

/* 4 or 6. */
int pool_family(pool_t *self);

/* "10.32.30.10-10.32.30.200": the range, for messages. */
const char *pool_describe(pool_t *self);

/* True when addr is an address the pool may hand out (in range, not excluded). */
bool pool_contains(pool_t *self, pool_addr_t addr);

/* Takes the lowest free address. Returns -1 when the pool is exhausted. */
int pool_take_lowest(pool_t *self, pool_addr_t *addr);

/* Takes the free address with n free addresses below it (0: the lowest, as
 * pool_take_lowest), or the highest free one when fewer than n + 1 are free.
 * Costs O(k log r) for the k free ranges below it (r: all free ranges), so n
 * should stay small. Returns -1 when the pool is exhausted. */
int pool_take_nth(pool_t *self, uint64_t n, pool_addr_t *addr);

/* Takes that address. Returns -1 when it is not free (taken, excluded or outside). */
int pool_take(pool_t *self, pool_addr_t addr);

/* Gives an address back. An address outside the pool, excluded, or already
 * free is ignored (returns -1); adjacent free ranges are merged. */
int pool_release(pool_t *self, pool_addr_t addr);

/* True when addr is free. */
bool pool_is_free(pool_t *self, pool_addr_t addr);

/* Number of free ranges (for tests: fragmentation). */
size_t pool_free_ranges(pool_t *self);

/* Free addresses, saturated at UINT64_MAX (for metrics and messages). */
uint64_t pool_free_count(pool_t *self);

#endif
