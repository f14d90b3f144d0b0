/* test_pool: unit tests of extensions/ipalloc/pool (parsing, exclusions, allocation, the treap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extensions/ipalloc/pool.h"

#define V4(a, b, c, d) ((pool_addr_t)(((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d)))
#define FD00           ((pool_addr_t)0xFD00 << 112)

/* Compares two addresses, printing both in the pool's notation on failure. */
#define assert_addr_equal(family, actual, expected)                                                \
    do {                                                                                           \
        pool_addr_t a_ = (actual), e_ = (expected);                                                \
        if (a_ != e_) {                                                                            \
            char ab_[64], eb_[64];                                                                 \
            fail_msg("address %s != expected %s", pool_addr_format(a_, family, ab_, sizeof ab_),   \
                     pool_addr_format(e_, family, eb_, sizeof eb_));                               \
        }                                                                                          \
    } while (0)

/* Builds a pool that must be accepted. */
static pool_t *s_pool(const char *cidr, const char *start, const char *end,
                      const char *const *reserved)
{
    char err[256] = "";
    pool_t *pool = pool_new(cidr, start, end, reserved, err, sizeof err);
    if (!pool) fail_msg("pool_new(%s) refused: %s", cidr, err);
    assert_string_equal(err, "");
    return pool;
}

/* Builds a pool that must be refused; returns the message. */
static const char *s_refuse(const char *cidr, const char *start, const char *end,
                            const char *const *reserved, char *err, size_t errlen)
{
    err[0] = '\0';
    pool_t *pool = pool_new(cidr, start, end, reserved, err, errlen);
    if (pool) {
        pool_destroy(&pool);
        fail_msg("pool_new(%s, %s, %s) accepted, but should be refused", cidr ? cidr : "NULL",
                 start ? start : "NULL", end ? end : "NULL");
    }
    assert_true(err[0] != '\0');
    return err;
}

/* Small deterministic PRNG for the randomized tests (xorshift64). */
static uint64_t s_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* Parses an address that must be valid. */
static pool_addr_t s_addr(const char *text)
{
    pool_addr_t addr;
    int family;
    if (pool_addr_parse(text, &addr, &family) != 0) fail_msg("'%s' does not parse", text);
    return addr;
}

// --------------------------------------------------------------------------
// Addresses

static void test_addr_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int family; /* 0: refused */
        const char *canonical;
    } cases[] = {
        {"0.0.0.0", 4, "0.0.0.0"},
        {"10.32.30.7", 4, "10.32.30.7"},
        {"255.255.255.255", 4, "255.255.255.255"},
        {"224.0.0.1", 4, "224.0.0.1"},
        {"::", 6, "::"},
        {"::1", 6, "::1"},
        {"fd00::1", 6, "fd00::1"},
        {"FD00:0:0:0:0:0:0:1", 6, "fd00::1"},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
        {"::ffff:10.1.2.3", 6, "::ffff:10.1.2.3"}, /* IPv4-mapped is IPv6 */
        {"::10.1.2.3", 6, NULL},
        {"256.0.0.1", 0, NULL},
        {"1.2.3", 0, NULL},
        {"1.2.3.4.5", 0, NULL},
        {"01.2.3.4", 0, NULL},
        {"0x0a.0.0.1", 0, NULL},
        {" 1.2.3.4", 0, NULL},
        {"1.2.3.4 ", 0, NULL},
        {"1.2.3.4/32", 0, NULL},
        {"-1.2.3.4", 0, NULL},
        {"", 0, NULL},
        {"localhost", 0, NULL},
        {"fe80::1%eth0", 0, NULL},
        {"1:2:3:4:5:6:7:8:9", 0, NULL},
        {"1::2::3", 0, NULL},
        {"gggg::1", 0, NULL},
        {"12345::", 0, NULL},
        {"::ffff:256.1.2.3", 0, NULL},
        {":::", 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *text = cases[i].text;
        pool_addr_t addr = 12345;
        int family = 0;
        int rc = pool_addr_parse(text, &addr, &family);
        /* The reference: what inet_pton accepts. */
        unsigned char buf[16];
        bool pton = inet_pton(AF_INET, text, buf) == 1 || inet_pton(AF_INET6, text, buf) == 1;
        if ((rc == 0) != pton) fail_msg("'%s': parse %d, inet_pton %d", text, rc, pton);
        if (cases[i].family == 0) {
            if (rc != -1) fail_msg("'%s' should be refused", text);
            continue;
        }
        if (rc != 0) fail_msg("'%s' should parse", text);
        assert_int_equal(family, cases[i].family);
        char out[64];
        if (cases[i].canonical)
            assert_string_equal(pool_addr_format(addr, family, out, sizeof out),
                                cases[i].canonical);
        /* Round trip through the canonical form. */
        pool_addr_t again;
        int family2;
        assert_int_equal(
            pool_addr_parse(pool_addr_format(addr, family, out, sizeof out), &again, &family2), 0);
        assert_true(again == addr);
        assert_int_equal(family2, family);
    }
    assert_int_equal(pool_addr_parse(NULL, NULL, NULL), -1);

    /* Numeric values: IPv4 in the low 32 bits, IPv6 big-endian. */
    assert_addr_equal(4, s_addr("10.32.30.7"), 0x0A201E07);
    assert_addr_equal(4, s_addr("255.255.255.255"), 0xFFFFFFFFu);
    assert_addr_equal(6, s_addr("::1"), 1);
    assert_addr_equal(6, s_addr("fd00::1"), FD00 | 1);
    assert_addr_equal(6, s_addr("8000::"), (pool_addr_t)1 << 127);
    assert_addr_equal(6, s_addr("::ffff:10.1.2.3"), ((pool_addr_t)0xFFFF << 32) | 0x0A010203);
    assert_true(s_addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == ~(pool_addr_t)0);

    char out[64];
    assert_string_equal(pool_addr_format(V4(192, 168, 1, 254), 4, out, sizeof out),
                        "192.168.1.254");
    assert_string_equal(pool_addr_format(FD00 | 0xABCD0000, 6, out, sizeof out), "fd00::abcd:0");
    /* Too small a buffer gives an empty string, not an overflow. */
    char tiny[4] = "xyz";
    assert_string_equal(pool_addr_format(V4(10, 0, 0, 1), 4, tiny, sizeof tiny), "");
}

// --------------------------------------------------------------------------
// CIDR and range parsing

static void test_cidr_prefixes(void **state)
{
    (void)state;
    const uint64_t m4 = 1u << 28; /* size of 224.0.0.0/4 */
    static const char *const none[] = {NULL};
    const struct {
        const char *cidr;
        int family;
        uint64_t free;      /* UINT64_MAX: saturated */
        size_t ranges;      /* free ranges when new */
        const char *first;  /* the lowest free address */
        const char *range;  /* pool_describe */
        const char *inside; /* an address pool_contains, NULL for none other than first */
    } cases[] = {
        {"0.0.0.0/0", 4, (1ull << 32) - 2 - m4, 2, "0.0.0.1", "0.0.0.0-255.255.255.255",
         "240.0.0.1"},
        {"0.0.0.0/1", 4, (1ull << 31) - 2, 1, "0.0.0.1", "0.0.0.0-127.255.255.255",
         "127.255.255.254"},
        {"128.0.0.0/1", 4, (1ull << 31) - 2 - m4, 2, "128.0.0.1", "128.0.0.0-255.255.255.255",
         "255.255.255.254"},
        {"10.0.0.0/8", 4, (1u << 24) - 2, 1, "10.0.0.1", "10.0.0.0-10.255.255.255",
         "10.255.255.254"},
        {"10.32.30.0/24", 4, 254, 1, "10.32.30.1", "10.32.30.0-10.32.30.255", "10.32.30.254"},
        {"10.32.30.4/30", 4, 2, 1, "10.32.30.5", "10.32.30.4-10.32.30.7", "10.32.30.6"},
        {"10.32.30.4/31", 4, 2, 1, "10.32.30.4", "10.32.30.4-10.32.30.5", "10.32.30.5"},
        {"255.255.255.254/31", 4, 2, 1, "255.255.255.254", "255.255.255.254-255.255.255.255",
         "255.255.255.255"},
        {"10.32.30.9/32", 4, 1, 1, "10.32.30.9", "10.32.30.9-10.32.30.9", NULL},
        {"0.0.0.0/32", 4, 1, 1, "0.0.0.0", "0.0.0.0-0.0.0.0", NULL},
        {"::/0", 6, UINT64_MAX, 1, "::1", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
         "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
        {"fd00::/64", 6, UINT64_MAX, 1, "fd00::1", "fd00::-fd00::ffff:ffff:ffff:ffff",
         "fd00::ffff:ffff:ffff:ffff"},
        {"fd00::/65", 6, (1ull << 63) - 1, 1, "fd00::1", "fd00::-fd00::7fff:ffff:ffff:ffff",
         "fd00::7fff:ffff:ffff:ffff"},
        {"fd00::/126", 6, 3, 1, "fd00::1", "fd00::-fd00::3", "fd00::3"},
        {"fd00::/127", 6, 2, 1, "fd00::", "fd00::-fd00::1", "fd00::1"},
        {"fd00::5/128", 6, 1, 1, "fd00::5", "fd00::5-fd00::5", NULL},
        {"::/128", 6, 1, 1, "::", "::-::", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pool_t *pool = s_pool(cases[i].cidr, NULL, NULL, i % 2 ? none : NULL);
        int family = cases[i].family;
        assert_int_equal(pool_family(pool), family);
        assert_string_equal(pool_describe(pool), cases[i].range);
        if (pool_free_count(pool) != cases[i].free)
            fail_msg("%s: free %llu, expected %llu", cases[i].cidr,
                     (unsigned long long)pool_free_count(pool), (unsigned long long)cases[i].free);
        assert_int_equal(pool_free_ranges(pool), cases[i].ranges);
        pool_addr_t first = s_addr(cases[i].first);
        assert_true(pool_contains(pool, first));
        assert_true(pool_is_free(pool, first));
        if (cases[i].inside) {
            assert_true(pool_contains(pool, s_addr(cases[i].inside)));
            assert_true(pool_is_free(pool, s_addr(cases[i].inside)));
        }
        pool_addr_t addr = 0;
        assert_int_equal(pool_take_lowest(pool, &addr), 0);
        assert_addr_equal(family, addr, first);
        assert_false(pool_is_free(pool, first));
        assert_true(pool_contains(pool, first));
        if (cases[i].free != UINT64_MAX) assert_int_equal(pool_free_count(pool), cases[i].free - 1);
        pool_destroy(&pool);
        assert_null(pool);
    }

    /* /0 never hands out network, broadcast or multicast. */
    pool_t *pool = s_pool("0.0.0.0/0", NULL, NULL, NULL);
    assert_false(pool_contains(pool, V4(0, 0, 0, 0)));
    assert_false(pool_contains(pool, V4(255, 255, 255, 255)));
    assert_false(pool_contains(pool, V4(224, 0, 0, 0)));
    assert_false(pool_contains(pool, V4(239, 255, 255, 255)));
    assert_true(pool_contains(pool, V4(223, 255, 255, 255)));
    assert_true(pool_contains(pool, V4(240, 0, 0, 0)));
    assert_int_equal(pool_take(pool, V4(224, 1, 2, 3)), -1);
    assert_int_equal(pool_take(pool, V4(255, 255, 255, 255)), -1);
    assert_int_equal(pool_take(pool, V4(223, 255, 255, 255)), 0);
    assert_int_equal(pool_take(pool, V4(240, 0, 0, 0)), 0);
    assert_int_equal(pool_free_ranges(pool), 2);
    assert_int_equal(pool_take(pool, V4(100, 0, 0, 0)), 0);
    assert_int_equal(pool_free_ranges(pool), 3);
    assert_int_equal(pool_free_count(pool), (1ull << 32) - 2 - m4 - 3);
    assert_int_equal(pool_release(pool, V4(240, 0, 0, 0)), 0);
    assert_int_equal(pool_release(pool, V4(100, 0, 0, 0)), 0);
    assert_int_equal(pool_free_ranges(pool), 2);
    pool_destroy(&pool);

    /* ::/0 excludes :: and ff00::/8 only. */
    pool = s_pool("::/0", NULL, NULL, NULL);
    assert_false(pool_contains(pool, 0));
    assert_false(pool_contains(pool, s_addr("ff02::1")));
    assert_false(pool_contains(pool, ~(pool_addr_t)0));
    assert_true(pool_contains(pool, s_addr("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    assert_int_equal(pool_take(pool, s_addr("ffff::")), -1);
    assert_int_equal(pool_release(pool, s_addr("ffff::")), -1);
    assert_int_equal(pool_take(pool, s_addr("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), 0);
    assert_int_equal(pool_free_ranges(pool), 1);
    pool_destroy(&pool);
    pool_destroy(&pool); /* harmless twice */
}

static void test_cidr_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *cidr;
        const char *message; /* part of the error */
    } cases[] = {
        {"10.32.30.7/24", "network_cidr: 10.32.30.7/24 has host bits set (did you mean "
                          "10.32.30.0/24?)"},
        {"223.255.255.0/23", "did you mean 223.255.254.0/23?"},
        {"10.0.0.1/0", "did you mean 0.0.0.0/0?"},
        {"10.0.0.1/31", "did you mean 10.0.0.0/31?"},
        {"fd00::1/64", "network_cidr: fd00::1/64 has host bits set (did you mean fd00::/64?)"},
        {"fd00::1/127", "did you mean fd00::/127?"},
        {"::1/0", "did you mean ::/0?"},
        {"10.0.0.0/33", "out of range 0..32"},
        {"fd00::/129", "out of range 0..128"},
        {"10.0.0.0/999999999999", "not a decimal number"},
        {"10.0.0.0/-1", "not a decimal number"},
        {"10.0.0.0/+8", "not a decimal number"},
        {"10.0.0.0/ 8", "not a decimal number"},
        {"10.0.0.0/8 ", "not a decimal number"},
        {"10.0.0.0/0x8", "not a decimal number"},
        {"10.0.0.0/08", "not a decimal number"},
        {"10.0.0.0/", "not a decimal number"},
        {"10.0.0.0/8/8", "not a decimal number"},
        {"10.0.0.0 /8", "not an IP address"},
        {" 10.0.0.0/8", "not an IP address"},
        {"10.0.0/8", "not an IP address"},
        {"/8", "not an IP address"},
        {"fe80::%eth0/64", "not an IP address"},
        {"10.0.0.0", "not ADDR/PREFIX"},
        {"", "missing"},
        {NULL, "missing"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_refuse(cases[i].cidr, NULL, NULL, NULL, err, sizeof err);
        assert_contains(err, "network_cidr: ");
        assert_contains(err, cases[i].message);
    }
    /* No error buffer: still refused, no crash. */
    assert_null(pool_new("10.0.0.1/24", NULL, NULL, NULL, NULL, 0));
    /* A tiny buffer is truncated, not overflowed. */
    char small[8] = "";
    assert_null(pool_new("10.0.0.1/24", NULL, NULL, NULL, small, sizeof small));
    assert_string_equal(small, "network");
}

static void test_range_errors(void **state)
{
    (void)state;
    char err[256];
    s_refuse("10.32.30.0/24", "10.32.31.5", NULL, NULL, err, sizeof err);
    assert_string_equal(err, "ip_start: 10.32.31.5 is outside 10.32.30.0/24");
    s_refuse("10.32.30.0/24", NULL, "10.32.29.255", NULL, err, sizeof err);
    assert_string_equal(err, "ip_end: 10.32.29.255 is outside 10.32.30.0/24");
    s_refuse("10.32.30.0/24", "10.32.30.200", "10.32.30.10", NULL, err, sizeof err);
    assert_string_equal(err, "ip_start: 10.32.30.200 is after ip_end 10.32.30.10");
    s_refuse("10.32.30.0/24", "10.32.30.300", NULL, NULL, err, sizeof err);
    assert_contains(err, "ip_start: '10.32.30.300' is not an IP address");
    s_refuse("10.32.30.0/24", "10.32.30.1", "", NULL, err, sizeof err);
    assert_contains(err, "ip_end: '' is not an IP address");
    s_refuse("10.32.30.0/24", "fd00::1", NULL, NULL, err, sizeof err);
    assert_contains(err, "ip_start: fd00::1 is IPv6 but network_cidr 10.32.30.0/24 is IPv4");
    s_refuse("10.32.30.0/24", NULL, "::ffff:10.32.30.9", NULL, err, sizeof err);
    assert_contains(err, "ip_end: ::ffff:10.32.30.9 is IPv6");
    s_refuse("fd00::/64", "10.0.0.1", NULL, NULL, err, sizeof err);
    assert_contains(err, "ip_start: 10.0.0.1 is IPv4 but network_cidr fd00::/64 is IPv6");
    s_refuse("fd00::/64", "fd00::2", "fd00:0:0:1::", NULL, err, sizeof err);
    assert_string_equal(err, "ip_end: fd00:0:0:1:: is outside fd00::/64");
    s_refuse("fd00::/120", "fd00::20", "fd00::1f", NULL, err, sizeof err);
    assert_string_equal(err, "ip_start: fd00::20 is after ip_end fd00::1f");

    const char *bad[] = {"10.32.30.5", "ten", NULL};
    s_refuse("10.32.30.0/24", NULL, NULL, bad, err, sizeof err);
    assert_contains(err, "reserved: 'ten' is not an IP address");
    const char *mixed[] = {"10.32.30.5", "fd00::1", NULL};
    s_refuse("10.32.30.0/24", NULL, NULL, mixed, err, sizeof err);
    assert_contains(err, "reserved: fd00::1 is IPv6");
    assert_contains(err, "network_cidr 10.32.30.0/24");
    /* Even a reserved entry outside the range must be well-formed. */
    const char *far_bad[] = {"1.2.3", NULL};
    s_refuse("10.32.30.0/24", "10.32.30.10", "10.32.30.20", far_bad, err, sizeof err);
    assert_contains(err, "reserved: ");

    /* Reserved outside the range (or the network) is ignored. */
    const char *outside[] = {"10.32.30.9", "10.32.30.21", "192.168.0.1", NULL};
    pool_t *pool = s_pool("10.32.30.0/24", "10.32.30.10", "10.32.30.20", outside);
    assert_int_equal(pool_free_count(pool), 11);
    assert_int_equal(pool_free_ranges(pool), 1);
    assert_string_equal(pool_describe(pool), "10.32.30.10-10.32.30.20");
    assert_false(pool_contains(pool, V4(10, 32, 30, 9)));
    assert_false(pool_contains(pool, V4(10, 32, 30, 21)));
    assert_true(pool_contains(pool, V4(10, 32, 30, 10)));
    assert_true(pool_contains(pool, V4(10, 32, 30, 20)));
    pool_destroy(&pool);

    /* ip_start == ip_end, at the edges of the network. */
    pool = s_pool("10.32.30.0/24", "10.32.30.254", "10.32.30.254", NULL);
    assert_int_equal(pool_free_count(pool), 1);
    pool_destroy(&pool);
    pool = s_pool("10.32.30.0/24", "10.32.30.255", NULL, NULL); /* only the broadcast: empty */
    assert_int_equal(pool_free_count(pool), 0);
    assert_int_equal(pool_free_ranges(pool), 0);
    pool_destroy(&pool);
}

// --------------------------------------------------------------------------
// Allocation

static void test_allocation_order(void **state)
{
    (void)state;
    const char *reserved[] = {"10.32.30.1",   "10.32.30.3", "10.32.30.3",
                              "10.32.30.254", "10.99.0.1",  NULL};
    pool_t *pool = s_pool("10.32.30.0/24", NULL, NULL, reserved);
    assert_int_equal(pool_free_count(pool), 251);
    assert_int_equal(pool_free_ranges(pool), 2);
    assert_false(pool_contains(pool, V4(10, 32, 30, 1)));
    assert_false(pool_contains(pool, V4(10, 32, 30, 0)));
    assert_false(pool_contains(pool, V4(10, 32, 30, 255)));
    assert_false(pool_is_free(pool, V4(10, 32, 30, 3)));

    pool_addr_t addr;
    assert_int_equal(pool_take_lowest(pool, &addr), 0);
    assert_addr_equal(4, addr, V4(10, 32, 30, 2));
    assert_int_equal(pool_take_lowest(pool, &addr), 0);
    assert_addr_equal(4, addr, V4(10, 32, 30, 4));
    for (int host = 5; host <= 253; host++) {
        assert_int_equal(pool_take_lowest(pool, &addr), 0);
        assert_addr_equal(4, addr, V4(10, 32, 30, host));
    }
    assert_int_equal(pool_free_count(pool), 0);
    assert_int_equal(pool_free_ranges(pool), 0);
    addr = 77;
    assert_int_equal(pool_take_lowest(pool, &addr), -1);
    assert_addr_equal(4, addr, 77); /* untouched */
    assert_int_equal(pool_take_lowest(pool, NULL), -1);

    /* Release then re-take gives the lowest again. */
    assert_int_equal(pool_release(pool, V4(10, 32, 30, 100)), 0);
    assert_int_equal(pool_release(pool, V4(10, 32, 30, 50)), 0);
    assert_int_equal(pool_free_count(pool), 2);
    assert_int_equal(pool_take_lowest(pool, &addr), 0);
    assert_addr_equal(4, addr, V4(10, 32, 30, 50));
    assert_int_equal(pool_release(pool, V4(10, 32, 30, 2)), 0);
    assert_int_equal(pool_take_lowest(pool, &addr), 0);
    assert_addr_equal(4, addr, V4(10, 32, 30, 2));
    assert_int_equal(pool_take_lowest(pool, &addr), 0);
    assert_addr_equal(4, addr, V4(10, 32, 30, 100));
    assert_int_equal(pool_take_lowest(pool, &addr), -1);
    pool_destroy(&pool);

    /* A narrowed range. */
    pool = s_pool("10.32.30.0/24", "10.32.30.10", "10.32.30.12", NULL);
    for (int host = 10; host <= 12; host++) {
        assert_int_equal(pool_take_lowest(pool, &addr), 0);
        assert_addr_equal(4, addr, V4(10, 32, 30, host));
    }
    assert_int_equal(pool_take_lowest(pool, &addr), -1);
    pool_destroy(&pool);
}

static void test_small_prefixes(void **state)
{
    (void)state;
    static const struct {
        const char *cidr;
        const char *expect[3]; /* handed out in order, NULL-terminated */
    } cases[] = {
        {"10.0.0.0/31", {"10.0.0.0", "10.0.0.1", NULL}},
        {"10.0.0.7/32", {"10.0.0.7", NULL}},
        {"10.0.0.4/30", {"10.0.0.5", "10.0.0.6", NULL}},
        {"fd00::2/127", {"fd00::2", "fd00::3", NULL}},
        {"fd00::9/128", {"fd00::9", NULL}},
        {"fd00::4/126", {"fd00::5", "fd00::6", "fd00::7"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pool_t *pool = s_pool(cases[i].cidr, NULL, NULL, NULL);
        pool_addr_t addr;
        size_t n = 0;
        for (; n < 3 && cases[i].expect[n]; n++) {
            assert_int_equal(pool_take_lowest(pool, &addr), 0);
            assert_addr_equal(pool_family(pool), addr, s_addr(cases[i].expect[n]));
        }
        assert_int_equal(pool_take_lowest(pool, &addr), -1);
        assert_int_equal(pool_free_count(pool), 0);
        /* Give them all back, highest first: one range again. */
        while (n-- > 0)
            assert_int_equal(pool_release(pool, s_addr(cases[i].expect[n])), 0);
        assert_int_equal(pool_free_ranges(pool), 1);
        assert_int_equal(pool_take_lowest(pool, &addr), 0);
        assert_addr_equal(pool_family(pool), addr, s_addr(cases[i].expect[0]));
        pool_destroy(&pool);
    }
}

static void test_take_specific(void **state)
{
    (void)state;
    const char *reserved[] = {"192.168.1.10", NULL};
    pool_t *pool = s_pool("192.168.1.0/24", NULL, NULL, reserved);
    assert_int_equal(pool_free_count(pool), 253);
    assert_int_equal(pool_take(pool, V4(192, 168, 1, 50)), 0); /* free: splits */
    assert_int_equal(pool_free_ranges(pool), 3);
    assert_int_equal(pool_free_count(pool), 252);
    assert_false(pool_is_free(pool, V4(192, 168, 1, 50)));
    assert_int_equal(pool_take(pool, V4(192, 168, 1, 50)), -1);  /* taken */
    assert_int_equal(pool_take(pool, V4(192, 168, 1, 10)), -1);  /* reserved */
    assert_int_equal(pool_take(pool, V4(192, 168, 1, 0)), -1);   /* network */
    assert_int_equal(pool_take(pool, V4(192, 168, 1, 255)), -1); /* broadcast */
    assert_int_equal(pool_take(pool, V4(192, 168, 2, 1)), -1);   /* outside */
    assert_int_equal(pool_take(pool, 0), -1);
    assert_int_equal(pool_take(pool, ~(pool_addr_t)0), -1);
    assert_int_equal(pool_free_count(pool), 252);
    /* Edges of a range: shrink, no split. */
    assert_int_equal(pool_take(pool, V4(192, 168, 1, 1)), 0);
    assert_int_equal(pool_take(pool, V4(192, 168, 1, 254)), 0);
    assert_int_equal(pool_take(pool, V4(192, 168, 1, 49)), 0);
    assert_int_equal(pool_take(pool, V4(192, 168, 1, 51)), 0);
    assert_int_equal(pool_free_ranges(pool), 3);
    assert_int_equal(pool_free_count(pool), 248);
    /* A one-address range disappears. */
    assert_int_equal(pool_take(pool, V4(192, 168, 1, 11)), 0);
    assert_int_equal(pool_take(pool, V4(192, 168, 1, 12)), 0);
    assert_int_equal(pool_take(pool, V4(192, 168, 1, 13)), 0);
    assert_int_equal(pool_free_ranges(pool), 3);
    for (int host = 2; host <= 9; host++)
        assert_int_equal(pool_take(pool, V4(192, 168, 1, host)), 0);
    assert_int_equal(pool_free_ranges(pool), 2);
    /* take_lowest skips what was taken. */
    pool_addr_t addr;
    assert_int_equal(pool_take_lowest(pool, &addr), 0);
    assert_addr_equal(4, addr, V4(192, 168, 1, 14));

    /* Release: outside, excluded, already free are ignored. */
    size_t ranges = pool_free_ranges(pool);
    uint64_t count = pool_free_count(pool);
    assert_int_equal(pool_release(pool, V4(192, 168, 1, 10)), -1);
    assert_int_equal(pool_release(pool, V4(192, 168, 1, 0)), -1);
    assert_int_equal(pool_release(pool, V4(192, 168, 1, 255)), -1);
    assert_int_equal(pool_release(pool, V4(192, 168, 2, 0)), -1);
    assert_int_equal(pool_release(pool, V4(192, 168, 1, 100)), -1); /* already free */
    assert_int_equal(pool_release(pool, V4(192, 168, 1, 52)), -1);  /* first of a range */
    assert_int_equal(pool_release(pool, V4(192, 168, 1, 48)), -1);  /* last of a range */
    assert_int_equal(pool_free_ranges(pool), ranges);
    assert_int_equal(pool_free_count(pool), count);
    /* Releasing 49..51 joins 15..48 and 52..253. */
    assert_int_equal(pool_release(pool, V4(192, 168, 1, 50)), 0); /* alone */
    assert_int_equal(pool_free_ranges(pool), ranges + 1);
    assert_int_equal(pool_release(pool, V4(192, 168, 1, 49)), 0); /* both sides */
    assert_int_equal(pool_free_ranges(pool), ranges);
    assert_int_equal(pool_release(pool, V4(192, 168, 1, 51)), 0);
    assert_int_equal(pool_free_ranges(pool), ranges - 1);
    assert_int_equal(pool_release(pool, V4(192, 168, 1, 51)), -1);
    assert_int_equal(pool_free_count(pool), count + 3);
    pool_destroy(&pool);
}

static void test_release_merging(void **state)
{
    (void)state;
    /* Odd hosts first (127 separate ranges), then even ones: one range. */
    pool_t *pool = s_pool("172.16.5.0/24", NULL, NULL, NULL);
    pool_addr_t addr;
    for (int host = 1; host <= 254; host++)
        assert_int_equal(pool_take_lowest(pool, &addr), 0);
    assert_int_equal(pool_free_ranges(pool), 0);
    for (int host = 1; host <= 254; host += 2)
        assert_int_equal(pool_release(pool, V4(172, 16, 5, host)), 0);
    assert_int_equal(pool_free_ranges(pool), 127);
    assert_int_equal(pool_free_count(pool), 127);
    for (int host = 2; host <= 254; host += 2)
        assert_int_equal(pool_release(pool, V4(172, 16, 5, host)), 0);
    assert_int_equal(pool_free_ranges(pool), 1);
    assert_int_equal(pool_free_count(pool), 254);

    /* Shuffled order: the range count always equals the runs of the reference. */
    for (int host = 1; host <= 254; host++)
        assert_int_equal(pool_take_lowest(pool, &addr), 0);
    int order[254];
    bool free_host[256] = {false};
    for (int i = 0; i < 254; i++)
        order[i] = i + 1;
    uint64_t seed = 0x5EED;
    for (int i = 253; i > 0; i--) {
        int j = (int)(s_rand(&seed) % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < 254; i++) {
        assert_int_equal(pool_release(pool, V4(172, 16, 5, order[i])), 0);
        free_host[order[i]] = true;
        size_t runs = 0;
        for (int h = 1; h <= 254; h++)
            runs += free_host[h] && !free_host[h - 1];
        assert_int_equal(pool_free_ranges(pool), runs);
    }
    assert_int_equal(pool_free_ranges(pool), 1);
    assert_int_equal(pool_take_lowest(pool, &addr), 0);
    assert_addr_equal(4, addr, V4(172, 16, 5, 1));
    pool_destroy(&pool);
}

static void test_multicast(void **state)
{
    (void)state;
    char err[256];
    /* Ranges entirely multicast are refused. */
    s_refuse("224.0.0.0/24", NULL, NULL, NULL, err, sizeof err);
    assert_string_equal(err, "network_cidr: 224.0.0.0/24 is a multicast range");
    s_refuse("224.0.0.0/4", NULL, NULL, NULL, err, sizeof err);
    assert_contains(err, "network_cidr: 224.0.0.0/4 is a multicast range");
    s_refuse("239.255.255.255/32", NULL, NULL, NULL, err, sizeof err);
    assert_contains(err, "multicast");
    s_refuse("ff02::/16", NULL, NULL, NULL, err, sizeof err);
    assert_contains(err, "network_cidr: ff02::/16 is a multicast range");
    s_refuse("ff00::/8", NULL, NULL, NULL, err, sizeof err);
    assert_contains(err, "multicast");
    s_refuse("192.0.0.0/2", "224.0.0.1", "224.0.0.9", NULL, err, sizeof err);
    assert_contains(err, "multicast range");
    assert_contains(err, "network_cidr 192.0.0.0/2");
    assert_contains(err, "ip_start");

    /* A range crossing into 224.0.0.0: the multicast part is never handed out. */
    pool_t *pool = s_pool("192.0.0.0/2", "223.255.255.250", "224.0.0.5", NULL);
    assert_int_equal(pool_free_count(pool), 6);
    pool_addr_t addr;
    for (int host = 250; host <= 255; host++) {
        assert_int_equal(pool_take_lowest(pool, &addr), 0);
        assert_addr_equal(4, addr, V4(223, 255, 255, host));
    }
    assert_int_equal(pool_take_lowest(pool, &addr), -1);
    assert_int_equal(pool_take(pool, V4(224, 0, 0, 0)), -1);
    assert_int_equal(pool_release(pool, V4(224, 0, 0, 1)), -1);
    assert_false(pool_contains(pool, V4(224, 0, 0, 5)));
    pool_destroy(&pool);

    /* Across the whole block, with a reserved address inside it. */
    const char *in_block[] = {"230.0.0.1", "240.0.0.2", NULL};
    pool = s_pool("192.0.0.0/2", "223.255.255.254", "240.0.0.3", in_block);
    assert_int_equal(pool_free_count(pool), 5);
    assert_int_equal(pool_free_ranges(pool), 3);
    assert_false(pool_contains(pool, V4(230, 0, 0, 2)));
    static const int tail[][4] = {
        {223, 255, 255, 254}, {223, 255, 255, 255}, {240, 0, 0, 0}, {240, 0, 0, 1}, {240, 0, 0, 3}};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(pool_take_lowest(pool, &addr), 0);
        assert_addr_equal(4, addr, V4(tail[i][0], tail[i][1], tail[i][2], tail[i][3]));
    }
    assert_int_equal(pool_take_lowest(pool, &addr), -1);
    pool_destroy(&pool);

    /* Crossing out of it, and a network holding the whole block. */
    pool = s_pool("192.0.0.0/2", "239.255.255.254", "240.0.0.1", NULL);
    assert_int_equal(pool_take_lowest(pool, &addr), 0);
    assert_addr_equal(4, addr, V4(240, 0, 0, 0));
    pool_destroy(&pool);
    pool = s_pool("224.0.0.0/3", NULL, NULL, NULL); /* 224..255 */
    assert_int_equal(pool_free_count(pool), (1u << 28) - 1);
    assert_int_equal(pool_take_lowest(pool, &addr), 0);
    assert_addr_equal(4, addr, V4(240, 0, 0, 0));
    pool_destroy(&pool);

    /* IPv6: fe00::/7 holds ff00::/8. */
    pool = s_pool("fe00::/7", NULL, NULL, NULL);
    assert_false(pool_contains(pool, s_addr("ff00::")));
    assert_false(pool_contains(pool, s_addr("fe00::")));
    assert_true(pool_contains(pool, s_addr("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    assert_int_equal(pool_take_lowest(pool, &addr), 0);
    assert_addr_equal(6, addr, s_addr("fe00::1"));
    assert_int_equal(pool_free_count(pool), UINT64_MAX);
    pool_destroy(&pool);

    /* Empty but valid pools: everything reserved; only the network in range. */
    const char *all[] = {"10.0.0.1", "10.0.0.2", NULL};
    pool = s_pool("10.0.0.0/30", NULL, NULL, all);
    assert_int_equal(pool_free_count(pool), 0);
    assert_int_equal(pool_free_ranges(pool), 0);
    assert_int_equal(pool_take_lowest(pool, &addr), -1);
    assert_int_equal(pool_release(pool, V4(10, 0, 0, 1)), -1);
    pool_destroy(&pool);
    pool = s_pool("fd00::/64", "fd00::", "fd00::", NULL);
    assert_int_equal(pool_free_count(pool), 0);
    assert_int_equal(pool_take_lowest(pool, &addr), -1);
    pool_destroy(&pool);
}

// --------------------------------------------------------------------------
// Scale and randomized checks

static void test_v6_bulk(void **state)
{
    (void)state;
    enum { N = 100000 };
    pool_t *pool = s_pool("fd00::/64", NULL, NULL, NULL);
    pool_addr_t addr;
    for (uint64_t i = 1; i <= N; i++) {
        assert_int_equal(pool_take_lowest(pool, &addr), 0);
        if (addr != (FD00 | i)) assert_addr_equal(6, addr, FD00 | i);
    }
    assert_int_equal(pool_free_ranges(pool), 1);
    assert_true(pool_free_count(pool) == UINT64_MAX - N);
    /* Release every other one: fd00::1, ::3, ... ::99999 (::100000 stays taken). */
    for (uint64_t i = 1; i <= N; i += 2)
        assert_int_equal(pool_release(pool, FD00 | i), 0);
    assert_int_equal(pool_free_ranges(pool), N / 2 + 1);
    assert_true(pool_free_count(pool) == UINT64_MAX - N / 2);
    assert_true(pool_is_free(pool, FD00 | 99999));
    assert_false(pool_is_free(pool, FD00 | 100000));
    assert_true(pool_is_free(pool, FD00 | 100001));
    /* They come back lowest first, then the tail. */
    for (uint64_t i = 1; i <= N; i += 2) {
        assert_int_equal(pool_take_lowest(pool, &addr), 0);
        if (addr != (FD00 | i)) assert_addr_equal(6, addr, FD00 | i);
    }
    assert_int_equal(pool_free_ranges(pool), 1);
    assert_int_equal(pool_take_lowest(pool, &addr), 0);
    assert_addr_equal(6, addr, FD00 | (N + 1));
    pool_destroy(&pool);
}

/* Checks the pool against a reference of flags (true: free) over base..base+size-1. */
static void s_check_all(pool_t *pool, pool_addr_t base, const bool *ref, size_t size)
{
    size_t count = 0, runs = 0;
    for (size_t i = 0; i < size; i++) {
        if (pool_is_free(pool, base + i) != ref[i])
            fail_msg("offset %zu: pool says %s", i, ref[i] ? "taken" : "free");
        count += ref[i];
        runs += ref[i] && (i == 0 || !ref[i - 1]);
    }
    assert_int_equal(pool_free_count(pool), count);
    assert_int_equal(pool_free_ranges(pool), runs);
}

static void test_v4_16_stress(void **state)
{
    (void)state;
    enum { SIZE = 65536, TAKEN = 60000, OPS = 10000 };
    static bool ref[SIZE]; /* true: free */
    pool_addr_t base = V4(10, 1, 0, 0);
    const char *reserved[] = {"10.1.0.7", "10.1.200.0", NULL};
    pool_t *pool = s_pool("10.1.0.0/16", NULL, NULL, reserved);
    for (size_t i = 1; i < SIZE - 1; i++)
        ref[i] = true;
    ref[0] = ref[SIZE - 1] = false;
    ref[7] = false;
    ref[200 * 256] = false;
    s_check_all(pool, base, ref, SIZE);

    size_t lowest = 1; /* the lowest free offset in ref, SIZE when none */
    pool_addr_t addr;
    for (int i = 0; i < TAKEN; i++) {
        assert_int_equal(pool_take_lowest(pool, &addr), 0);
        assert_true(addr == base + lowest);
        ref[lowest] = false;
        while (lowest < SIZE && !ref[lowest])
            lowest++;
    }
    s_check_all(pool, base, ref, SIZE);

    uint64_t seed = 0xC0FFEE;
    for (int op = 0; op < OPS; op++) {
        uint64_t r = s_rand(&seed);
        size_t offset = (size_t)((r >> 8) % SIZE);
        bool usable = offset != 0 && offset != SIZE - 1 && offset != 7 && offset != 200 * 256;
        switch (r % 4) {
        case 0: /* release a random address */
        case 1: {
            int rc = pool_release(pool, base + offset);
            if (usable && !ref[offset]) {
                assert_int_equal(rc, 0);
                ref[offset] = true;
                if (offset < lowest) lowest = offset;
            } else
                assert_int_equal(rc, -1);
            break;
        }
        case 2: { /* take a random address */
            int rc = pool_take(pool, base + offset);
            assert_int_equal(rc, ref[offset] ? 0 : -1);
            ref[offset] = false;
            break;
        }
        default: { /* take the lowest */
            while (lowest < SIZE && !ref[lowest])
                lowest++;
            int rc = pool_take_lowest(pool, &addr);
            if (lowest == SIZE)
                assert_int_equal(rc, -1);
            else {
                assert_int_equal(rc, 0);
                assert_true(addr == base + lowest);
                ref[lowest] = false;
            }
        }
        }
        if (op % 2000 == 1999) s_check_all(pool, base, ref, SIZE);
    }
    s_check_all(pool, base, ref, SIZE);
    pool_destroy(&pool);
}

static void test_differential_24(void **state)
{
    (void)state;
    enum { OPS = 100000 };
    enum { EXCLUDED, FREE, TAKEN } ref[256];
    const char *reserved[] = {"192.168.7.1", "192.168.7.128", "192.168.7.129", NULL};
    pool_addr_t base = V4(192, 168, 7, 0);
    pool_t *pool = s_pool("192.168.7.0/24", NULL, NULL, reserved);
    for (int i = 0; i < 256; i++)
        ref[i] = FREE;
    ref[0] = ref[255] = ref[1] = ref[128] = ref[129] = EXCLUDED;

    uint64_t seed = 0xD1FF;
    for (int op = 0; op < OPS; op++) {
        uint64_t r = s_rand(&seed);
        /* Offsets -8..263: a few outside the network on both sides. */
        int offset = (int)((r >> 16) % 272) - 8;
        pool_addr_t addr = base + (pool_addr_t)(int64_t)offset;
        bool inside = offset >= 0 && offset < 256;
        int state_at = inside ? (int)ref[offset] : EXCLUDED;
        switch (r % 8) {
        case 0:
        case 1:
        case 2: { /* release */
            int rc = pool_release(pool, addr);
            assert_int_equal(rc, state_at == TAKEN ? 0 : -1);
            if (state_at == TAKEN) ref[offset] = FREE;
            break;
        }
        case 3:
        case 4: { /* take */
            int rc = pool_take(pool, addr);
            assert_int_equal(rc, state_at == FREE ? 0 : -1);
            if (state_at == FREE) ref[offset] = TAKEN;
            break;
        }
        case 5:
        case 6: { /* take the lowest */
            int lowest = 0;
            while (lowest < 256 && ref[lowest] != FREE)
                lowest++;
            pool_addr_t got = 0;
            int rc = pool_take_lowest(pool, &got);
            if (lowest == 256)
                assert_int_equal(rc, -1);
            else {
                assert_int_equal(rc, 0);
                assert_true(got == base + (pool_addr_t)lowest);
                ref[lowest] = TAKEN;
            }
            break;
        }
        default: /* queries */
            assert_int_equal(pool_is_free(pool, addr), state_at == FREE);
            assert_int_equal(pool_contains(pool, addr), state_at != EXCLUDED);
        }
        size_t count = 0, runs = 0;
        for (int i = 0; i < 256; i++) {
            count += ref[i] == FREE;
            runs += ref[i] == FREE && (i == 0 || ref[i - 1] != FREE);
        }
        assert_int_equal(pool_free_count(pool), count);
        assert_int_equal(pool_free_ranges(pool), runs);
    }
    for (int i = 0; i < 256; i++)
        assert_int_equal(pool_is_free(pool, base + (pool_addr_t)i), ref[i] == FREE);
    pool_destroy(&pool);
}

/* pool_take_nth: the n-th free address counting free ones only, across
 * ranges and exclusions; the highest when n is past the end; against a
 * reference array under random takes and releases. */
static void test_take_nth(void **state)
{
    (void)state;
    const char *reserved[] = {"10.32.30.3", "10.32.30.4", NULL};
    pool_t *pool = s_pool("10.32.30.0/24", NULL, NULL, reserved);
    pool_addr_t addr = 0;
    /* free: .1 .2 | .5 .. .254 */
    assert_int_equal(pool_take_nth(pool, 0, &addr), 0);
    assert_addr_equal(4, addr, V4(10, 32, 30, 1));
    assert_int_equal(pool_take_nth(pool, 1, &addr), 0); /* .2 .5: skips the reserved */
    assert_addr_equal(4, addr, V4(10, 32, 30, 5));
    assert_int_equal(pool_take_nth(pool, 10, &addr), 0); /* .2 .6 .. .14 below it */
    assert_addr_equal(4, addr, V4(10, 32, 30, 15));
    assert_false(pool_is_free(pool, V4(10, 32, 30, 15)));
    /* taking rank n again gives the next free one above: a compact run */
    for (int host = 16; host <= 19; host++) {
        assert_int_equal(pool_take_nth(pool, 10, &addr), 0);
        assert_addr_equal(4, addr, V4(10, 32, 30, host));
    }
    assert_int_equal(pool_take_nth(pool, 100000, &addr), 0); /* past the end: the highest */
    assert_addr_equal(4, addr, V4(10, 32, 30, 254));
    assert_int_equal(pool_free_count(pool), 252 - 8);
    pool_destroy(&pool);

    /* exhausted: -1, addr untouched */
    pool = s_pool("10.32.30.0/30", NULL, NULL, NULL); /* .1 .2 */
    assert_int_equal(pool_take_nth(pool, 5, &addr), 0);
    assert_addr_equal(4, addr, V4(10, 32, 30, 2));
    assert_int_equal(pool_take_nth(pool, 5, &addr), 0);
    assert_addr_equal(4, addr, V4(10, 32, 30, 1));
    addr = 77;
    assert_int_equal(pool_take_nth(pool, 0, &addr), -1);
    assert_int_equal(pool_take_nth(pool, 3, &addr), -1);
    assert_addr_equal(4, addr, 77);
    pool_destroy(&pool);

    /* IPv6: a rank inside a huge range, and past the end of a /64 (2^64 - 1 free) */
    pool = s_pool("fd00::/64", NULL, NULL, NULL);
    assert_int_equal(pool_take_nth(pool, (uint64_t)1 << 40, &addr), 0);
    assert_addr_equal(6, addr, FD00 + 1 + ((pool_addr_t)1 << 40));
    assert_int_equal(pool_take_nth(pool, UINT64_MAX, &addr), 0);
    assert_addr_equal(6, addr, FD00 + (pool_addr_t)UINT64_MAX);
    pool_destroy(&pool);

    /* differential: random take_nth / take / release on a /24 */
    pool_addr_t base = V4(192, 168, 9, 0);
    pool = s_pool("192.168.9.0/24", NULL, NULL, NULL);
    bool free_at[256];
    for (int i = 0; i < 256; i++)
        free_at[i] = i != 0 && i != 255;
    uint64_t seed = 0x7A4E;
    for (int op = 0; op < 50000; op++) {
        uint64_t r = s_rand(&seed);
        int offset = (int)((r >> 16) % 256);
        if (r % 3 == 0) {
            if (offset != 0 && offset != 255) {
                assert_int_equal(pool_release(pool, base + (pool_addr_t)offset),
                                 free_at[offset] ? -1 : 0);
                free_at[offset] = true;
            }
            continue;
        }
        uint64_t n = (r >> 32) % 300;
        int want = -1, last = -1;
        uint64_t seen = 0;
        for (int i = 0; i < 256; i++)
            if (free_at[i]) {
                last = i;
                if (seen++ == n) {
                    want = i;
                    break;
                }
            }
        if (want < 0) want = last;
        pool_addr_t got = 0;
        int rc = pool_take_nth(pool, n, &got);
        if (want < 0)
            assert_int_equal(rc, -1);
        else {
            assert_int_equal(rc, 0);
            assert_addr_equal(4, got, base + (pool_addr_t)want);
            free_at[want] = false;
        }
        size_t count = 0;
        for (int i = 0; i < 256; i++)
            count += free_at[i];
        assert_int_equal(pool_free_count(pool), count);
    }
    pool_destroy(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse),       cmocka_unit_test(test_cidr_prefixes),
        cmocka_unit_test(test_cidr_invalid),     cmocka_unit_test(test_range_errors),
        cmocka_unit_test(test_allocation_order), cmocka_unit_test(test_small_prefixes),
        cmocka_unit_test(test_take_specific),    cmocka_unit_test(test_release_merging),
        cmocka_unit_test(test_multicast),        cmocka_unit_test(test_v6_bulk),
        cmocka_unit_test(test_v4_16_stress),     cmocka_unit_test(test_differential_24),
        cmocka_unit_test(test_take_nth),
    };
    return test_run_group(tests, NULL, NULL);
}
