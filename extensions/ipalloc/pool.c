/* pool: the IP allocator's address pool, free space kept as merged ranges in a treap. */
#include "extensions/ipalloc/pool.h"
#include "common/alloc.h"
#include "common/err.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_ADDR_MAX (~(pool_addr_t)0)

/* A set of addresses lo..hi, both included. */
typedef struct {
    pool_addr_t lo; /* first address */
    pool_addr_t hi; /* last address */
} range_t;

/* One free range in the treap: a search tree on lo, a max-heap on prio. */
typedef struct _node_t node_t;
struct _node_t {
    pool_addr_t lo; /* first free address */
    pool_addr_t hi; /* last free address */
    uint64_t prio;  /* random heap priority: the larger, the nearer the root */
    node_t *left;   /* ranges below lo */
    node_t *right;  /* ranges above hi */
};

struct _pool_t {
    int family;                              /* 4 or 6 */
    int prefix;                              /* prefix length of the network */
    pool_addr_t network;                     /* first address of the network */
    pool_addr_t last;                        /* last address of the network */
    pool_addr_t start;                       /* first address of the range */
    pool_addr_t end;                         /* last address of the range */
    range_t *excluded;                       /* sorted, merged exclusions inside the range */
    size_t excluded_count;                   /* entries in excluded */
    node_t *root;                            /* treap of the free ranges */
    size_t ranges;                           /* nodes in the treap */
    unsigned __int128 free_total;            /* free addresses: sum of the range sizes */
    uint64_t rng;                            /* xorshift64 state for priorities, never 0 */
    char describe[2 * INET6_ADDRSTRLEN + 2]; /* "START-END" */
};

// --------------------------------------------------------------------------
// Addresses

int pool_addr_parse(const char *text, pool_addr_t *addr, int *family)
{
    if (!text) return -1;
    struct in_addr v4;
    struct in6_addr v6;
    pool_addr_t value = 0;
    int kind;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        value = ntohl(v4.s_addr);
        kind = 4;
    } else if (inet_pton(AF_INET6, text, &v6) == 1) {
        for (int i = 0; i < 16; i++)
            value = (value << 8) | v6.s6_addr[i];
        kind = 6;
    } else
        return -1;
    if (addr) *addr = value;
    if (family) *family = kind;
    return 0;
}

char *pool_addr_format(pool_addr_t addr, int family, char *buf, size_t buflen)
{
    assert(buf);
    assert(family == 4 || family == 6);
    const char *done;
    if (family == 4) {
        struct in_addr v4 = {.s_addr = htonl((uint32_t)addr)};
        done = inet_ntop(AF_INET, &v4, buf, (socklen_t)buflen);
    } else {
        struct in6_addr v6;
        for (int i = 15; i >= 0; i--) {
            v6.s6_addr[i] = (uint8_t)addr;
            addr >>= 8;
        }
        done = inet_ntop(AF_INET6, &v6, buf, (socklen_t)buflen);
    }
    if (!done && buflen > 0) buf[0] = '\0';
    return buf;
}

/* The host part mask of a prefix: the low (bits - prefix) bits set. */
static pool_addr_t s_host_mask(int bits, int prefix)
{
    int host = bits - prefix;
    return host >= 128 ? POOL_ADDR_MAX : ((pool_addr_t)1 << host) - 1;
}

/* The multicast block of a family: 224.0.0.0/4 or ff00::/8. */
static range_t s_multicast(int family)
{
    if (family == 4) return (range_t){0xE0000000u, 0xEFFFFFFFu};
    return (range_t){(pool_addr_t)0xFF << 120, POOL_ADDR_MAX};
}

/* Parses the prefix length after the slash: decimal digits only, no sign, no
 * spaces, no leading zero. Returns -1 when it is not such a number. */
static int s_parse_prefix(const char *text)
{
    size_t length = strlen(text);
    if (length == 0 || length > 3 || (text[0] == '0' && length > 1)) return -1;
    int value = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9') return -1;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

/* Parses network_cidr into self (family, prefix, network, last). Returns -1
 * with a message naming the key otherwise. */
static int s_parse_cidr(pool_t *self, const char *cidr, char *err, size_t errlen)
{
    if (!cidr || !*cidr) {
        il_err(err, errlen, "network_cidr: missing (expected ADDR/PREFIX, e.g. 10.32.30.0/24)");
        return -1;
    }
    const char *slash = strchr(cidr, '/');
    if (!slash) {
        il_err(err, errlen, "network_cidr: '%s' is not ADDR/PREFIX (e.g. 10.32.30.0/24)", cidr);
        return -1;
    }
    char text[INET6_ADDRSTRLEN + 1];
    size_t length = (size_t)(slash - cidr);
    pool_addr_t addr;
    if (length == 0 || length >= sizeof text) {
        il_err(err, errlen, "network_cidr: '%s': '%.*s' is not an IP address", cidr, (int)length,
               cidr);
        return -1;
    }
    memcpy(text, cidr, length);
    text[length] = '\0';
    if (pool_addr_parse(text, &addr, &self->family) != 0) {
        il_err(err, errlen, "network_cidr: '%s': '%s' is not an IP address", cidr, text);
        return -1;
    }
    int bits = self->family == 4 ? 32 : 128;
    int prefix = s_parse_prefix(slash + 1);
    if (prefix < 0) {
        il_err(err, errlen,
               "network_cidr: '%s': the prefix '%s' is not a decimal number "
               "(digits only, no sign, spaces or leading zeros)",
               cidr, slash + 1);
        return -1;
    }
    if (prefix > bits) {
        il_err(err, errlen, "network_cidr: '%s': prefix /%d is out of range 0..%d for IPv%d", cidr,
               prefix, bits, self->family);
        return -1;
    }
    pool_addr_t host = s_host_mask(bits, prefix);
    if (addr & host) {
        char network[INET6_ADDRSTRLEN];
        pool_addr_format(addr & ~host, self->family, network, sizeof network);
        il_err(err, errlen, "network_cidr: %s has host bits set (did you mean %s/%d?)", cidr,
               network, prefix);
        return -1;
    }
    self->prefix = prefix;
    self->network = addr;
    self->last = addr | host;
    return 0;
}

/* Parses ip_start or ip_end (key): an address of the pool's family inside the
 * network. Returns -1 with a message naming the key otherwise. */
static int s_parse_bound(pool_t *self, const char *key, const char *text, const char *cidr,
                         pool_addr_t *addr, char *err, size_t errlen)
{
    int family;
    if (pool_addr_parse(text, addr, &family) != 0) {
        il_err(err, errlen, "%s: '%s' is not an IP address", key, text);
        return -1;
    }
    if (family != self->family) {
        il_err(err, errlen, "%s: %s is IPv%d but network_cidr %s is IPv%d", key, text, family, cidr,
               self->family);
        return -1;
    }
    if (*addr < self->network || *addr > self->last) {
        il_err(err, errlen, "%s: %s is outside %s", key, text, cidr);
        return -1;
    }
    return 0;
}

// --------------------------------------------------------------------------
// Treap of free ranges

/* xorshift64: the next heap priority. */
static uint64_t s_random(pool_t *self)
{
    uint64_t x = self->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    self->rng = x;
    return x;
}

/* The range with the lowest addresses, NULL when none is free. */
static node_t *s_min(pool_t *self)
{
    node_t *node = self->root;
    while (node && node->left)
        node = node->left;
    return node;
}

/* The range with the greatest lo <= addr, NULL when none. */
static node_t *s_floor(pool_t *self, pool_addr_t addr)
{
    node_t *best = NULL;
    node_t *node = self->root;
    while (node) {
        if (node->lo <= addr) {
            best = node;
            node = node->right;
        } else
            node = node->left;
    }
    return best;
}

/* In one descent: the range with the greatest lo <= addr (*below) and the
 * one with the least lo > addr (*above), each NULL when none. */
static void s_neighbours(pool_t *self, pool_addr_t addr, node_t **below, node_t **above)
{
    *below = *above = NULL;
    node_t *node = self->root;
    while (node) {
        if (node->lo <= addr) {
            *below = node;
            node = node->right;
        } else {
            *above = node;
            node = node->left;
        }
    }
}

/* The range with the least lo > addr, NULL when none. */
static node_t *s_above(pool_t *self, pool_addr_t addr)
{
    node_t *best = NULL;
    node_t *node = self->root;
    while (node) {
        if (node->lo > addr) {
            best = node;
            node = node->left;
        } else
            node = node->right;
    }
    return best;
}

/* Splits tree into the ranges below key (*below) and the others (*above). */
static void s_split(node_t *tree, pool_addr_t key, node_t **below, node_t **above)
{
    while (tree) {
        if (tree->lo < key) {
            *below = tree;
            below = &tree->right;
            tree = tree->right;
        } else {
            *above = tree;
            above = &tree->left;
            tree = tree->left;
        }
    }
    *below = NULL;
    *above = NULL;
}

/* Joins two treaps, every range of low below every range of high. */
static node_t *s_join(node_t *low, node_t *high)
{
    node_t *root = NULL;
    node_t **link = &root;
    while (low && high) {
        if (low->prio > high->prio) {
            *link = low;
            link = &low->right;
            low = low->right;
        } else {
            *link = high;
            link = &high->left;
            high = high->left;
        }
    }
    *link = low ? low : high;
    return root;
}

/* Adds the free range lo..hi, disjoint from and not adjacent to the others,
 * and counts it. */
static void s_insert(pool_t *self, pool_addr_t lo, pool_addr_t hi)
{
    node_t *node = il_malloc(sizeof *node);
    node->lo = lo;
    node->hi = hi;
    node->prio = s_random(self);
    node_t **link = &self->root;
    while (*link && (*link)->prio >= node->prio)
        link = lo < (*link)->lo ? &(*link)->left : &(*link)->right;
    s_split(*link, lo, &node->left, &node->right);
    *link = node;
    self->ranges++;
    self->free_total += hi - lo + 1;
}

/* Unlinks and frees the range starting at lo, which must exist; uncounts it. */
static void s_remove(pool_t *self, pool_addr_t lo)
{
    node_t **link = &self->root;
    while ((*link)->lo != lo)
        link = lo < (*link)->lo ? &(*link)->left : &(*link)->right;
    node_t *node = *link;
    *link = s_join(node->left, node->right);
    self->ranges--;
    self->free_total -= node->hi - node->lo + 1;
    free(node);
}

/* Frees every node without recursion: rotates left children up until the
 * root has none, then frees it and goes on with its right subtree. */
static void s_free_all(node_t *node)
{
    while (node) {
        if (node->left) {
            node_t *left = node->left;
            node->left = left->right;
            left->right = node;
            node = left;
        } else {
            node_t *right = node->right;
            free(node);
            node = right;
        }
    }
}

// --------------------------------------------------------------------------
// Exclusions

static int s_range_compare(const void *a, const void *b)
{
    pool_addr_t x = ((const range_t *)a)->lo, y = ((const range_t *)b)->lo;
    return x < y ? -1 : x > y;
}

/* Adds lo..hi clipped to the pool's range, if any of it is inside. */
static void s_exclude(pool_t *self, pool_addr_t lo, pool_addr_t hi)
{
    if (hi < self->start || lo > self->end) return;
    if (lo < self->start) lo = self->start;
    if (hi > self->end) hi = self->end;
    self->excluded[self->excluded_count++] = (range_t){lo, hi};
}

/* Sorts the exclusions and merges those overlapping or adjacent. */
static void s_merge_exclusions(pool_t *self)
{
    if (self->excluded_count == 0) return;
    qsort(self->excluded, self->excluded_count, sizeof *self->excluded, s_range_compare);
    size_t kept = 0;
    for (size_t i = 1; i < self->excluded_count; i++) {
        range_t *top = &self->excluded[kept];
        range_t next = self->excluded[i];
        if (top->hi == POOL_ADDR_MAX || next.lo <= top->hi + 1) {
            if (next.hi > top->hi) top->hi = next.hi;
        } else
            self->excluded[++kept] = next;
    }
    self->excluded_count = kept + 1;
}

/* True when addr is in one of the exclusions (binary search). */
static bool s_excluded(pool_t *self, pool_addr_t addr)
{
    size_t low = 0, high = self->excluded_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        const range_t *range = &self->excluded[middle];
        if (addr < range->lo)
            high = middle;
        else if (addr > range->hi)
            low = middle + 1;
        else
            return true;
    }
    return false;
}

/* Fills the treap with the range minus the exclusions. */
static void s_fill(pool_t *self)
{
    pool_addr_t cursor = self->start;
    for (size_t i = 0; i < self->excluded_count; i++) {
        const range_t *range = &self->excluded[i];
        if (range->lo > cursor) s_insert(self, cursor, range->lo - 1);
        if (range->hi >= self->end) return; /* also guards cursor overflow */
        cursor = range->hi + 1;
    }
    s_insert(self, cursor, self->end);
}

// --------------------------------------------------------------------------
// Pool

pool_t *pool_new(const char *cidr, const char *ip_start, const char *ip_end,
                 const char *const *reserved, char *err, size_t errlen)
{
    if (err && errlen > 0) err[0] = '\0';
    pool_t *self = il_calloc(1, sizeof *self);
    if (s_parse_cidr(self, cidr, err, errlen) != 0) goto failed;
    self->start = self->network;
    self->end = self->last;
    if (ip_start && s_parse_bound(self, "ip_start", ip_start, cidr, &self->start, err, errlen) != 0)
        goto failed;
    if (ip_end && s_parse_bound(self, "ip_end", ip_end, cidr, &self->end, err, errlen) != 0)
        goto failed;
    if (self->start > self->end) {
        il_err(err, errlen, "ip_start: %s is after ip_end %s", ip_start, ip_end);
        goto failed;
    }
    char start[INET6_ADDRSTRLEN], end[INET6_ADDRSTRLEN];
    pool_addr_format(self->start, self->family, start, sizeof start);
    pool_addr_format(self->end, self->family, end, sizeof end);
    snprintf(self->describe, sizeof self->describe, "%s-%s", start, end);

    range_t multicast = s_multicast(self->family);
    if (self->start >= multicast.lo && self->end <= multicast.hi) {
        if (self->start == self->network && self->end == self->last)
            il_err(err, errlen, "network_cidr: %s is a multicast range", cidr);
        else
            il_err(err, errlen,
                   "ip_start: %s is a multicast range (ip_start..ip_end in network_cidr %s)",
                   self->describe, cidr);
        goto failed;
    }

    size_t count = 0;
    while (reserved && reserved[count])
        count++;
    self->excluded = il_malloc((count + 3) * sizeof *self->excluded);
    for (size_t i = 0; i < count; i++) {
        pool_addr_t addr;
        int family;
        if (pool_addr_parse(reserved[i], &addr, &family) != 0) {
            il_err(err, errlen, "reserved: '%s' is not an IP address", reserved[i]);
            goto failed;
        }
        if (family != self->family) {
            il_err(err, errlen, "reserved: %s is IPv%d but network_cidr %s is IPv%d", reserved[i],
                   family, cidr, self->family);
            goto failed;
        }
        s_exclude(self, addr, addr);
    }
    if (self->family == 4 && self->prefix < 31) {
        s_exclude(self, self->network, self->network);
        s_exclude(self, self->last, self->last);
    }
    if (self->family == 6 && self->prefix < 127) s_exclude(self, self->network, self->network);
    s_exclude(self, multicast.lo, multicast.hi);
    s_merge_exclusions(self);

    /* splitmix64 of the range: a per-pool seed, reproducible run to run */
    uint64_t seed = (uint64_t)self->start ^ (uint64_t)(self->start >> 64) ^
                    ((uint64_t)self->end * 0x9E3779B97F4A7C15u) ^ (uint64_t)self->prefix;
    seed += 0x9E3779B97F4A7C15u;
    seed = (seed ^ (seed >> 30)) * 0xBF58476D1CE4E5B9u;
    seed = (seed ^ (seed >> 27)) * 0x94D049BB133111EBu;
    seed ^= seed >> 31;
    self->rng = seed ? seed : 0x2545F4914F6CDD1Du;

    s_fill(self);
    return self;

failed:
    pool_destroy(&self);
    return NULL;
}

void pool_destroy(pool_t **self_p)
{
    assert(self_p);
    pool_t *self = *self_p;
    if (!self) return;
    s_free_all(self->root);
    free(self->excluded);
    free(self);
    *self_p = NULL;
}

int pool_family(pool_t *self)
{
    assert(self);
    return self->family;
}

const char *pool_describe(pool_t *self)
{
    assert(self);
    return self->describe;
}

bool pool_contains(pool_t *self, pool_addr_t addr)
{
    assert(self);
    return addr >= self->start && addr <= self->end && !s_excluded(self, addr);
}

int pool_take_lowest(pool_t *self, pool_addr_t *addr)
{
    assert(self);
    node_t *node = s_min(self);
    if (!node) return -1;
    if (addr) *addr = node->lo;
    if (node->lo == node->hi)
        s_remove(self, node->lo);
    else {
        node->lo++; /* still above every range on its left */
        self->free_total--;
    }
    return 0;
}

int pool_take_nth(pool_t *self, uint64_t n, pool_addr_t *addr)
{
    assert(self);
    node_t *node = s_min(self);
    if (!node) return -1;
    if (n == 0) return pool_take_lowest(self, addr);
    pool_addr_t pick;
    pool_addr_t skip = n;
    for (;;) {
        pool_addr_t size_less_one = node->hi - node->lo; /* a whole ::/0 overflows size */
        if (skip <= size_less_one) {
            pick = node->lo + skip;
            break;
        }
        skip -= size_less_one + 1;
        node_t *next = s_above(self, node->hi);
        if (!next) { /* fewer than n + 1 free: the highest */
            pick = node->hi;
            break;
        }
        node = next;
    }
    if (addr) *addr = pick;
    return pool_take(self, pick);
}

int pool_take(pool_t *self, pool_addr_t addr)
{
    assert(self);
    node_t *node = s_floor(self, addr);
    if (!node || node->hi < addr) return -1;
    if (node->lo == node->hi) {
        s_remove(self, node->lo);
        return 0;
    }
    if (addr == node->lo)
        node->lo++;
    else if (addr == node->hi)
        node->hi--;
    else {
        /* Split: node keeps lo..addr-1, a new node holds addr+1..hi. */
        pool_addr_t hi = node->hi;
        node->hi = addr - 1;
        self->free_total -= hi - addr + 1;
        s_insert(self, addr + 1, hi);
        return 0;
    }
    self->free_total--;
    return 0;
}

int pool_release(pool_t *self, pool_addr_t addr)
{
    assert(self);
    if (!pool_contains(self, addr)) return -1;
    node_t *before, *after;
    s_neighbours(self, addr, &before, &after);
    if (before && before->hi >= addr) return -1; /* already free */
    if (before && before->hi + 1 != addr) before = NULL;
    if (after && after->lo - 1 != addr) after = NULL;
    if (before && after) {
        pool_addr_t hi = after->hi;
        s_remove(self, after->lo);
        self->free_total += hi - before->hi;
        before->hi = hi;
    } else if (before) {
        before->hi = addr;
        self->free_total++;
    } else if (after) {
        after->lo = addr; /* still above the range before it */
        self->free_total++;
    } else
        s_insert(self, addr, addr);
    return 0;
}

bool pool_is_free(pool_t *self, pool_addr_t addr)
{
    assert(self);
    node_t *node = s_floor(self, addr);
    return node && node->hi >= addr;
}

size_t pool_free_ranges(pool_t *self)
{
    assert(self);
    return self->ranges;
}

uint64_t pool_free_count(pool_t *self)
{
    assert(self);
    return self->free_total > UINT64_MAX ? UINT64_MAX : (uint64_t)self->free_total;
}
