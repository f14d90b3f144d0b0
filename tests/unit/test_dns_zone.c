/* test_dns_zone: unit tests of extensions/dns/dns_zone (normal form of names,
 * the longest matching zone, label boundaries). */
#include "tests/support/asserts.h"

#include <stdlib.h>
#include <string.h>

#include "extensions/dns/dns_zone.h"

static void s_norm(const char *in, const char *want)
{
    char err[256] = "";
    char *out = dns_zone_normalize(in, err, sizeof err);
    if (!out) fail_msg("'%s' refused: %s", in, err);
    assert_string_equal(out, want);
    free(out);
}

static void s_norm_refused(const char *in, const char *want)
{
    char err[256] = "";
    char *out = dns_zone_normalize(in, err, sizeof err);
    if (out) fail_msg("'%s' accepted as '%s'", in ? in : "NULL", out);
    assert_contains(err, want);
}

static void test_normalize(void **state)
{
    (void)state;
    s_norm("Example.COM", "example.com");
    s_norm("www.example.com.", "www.example.com");
    s_norm("a", "a");
    s_norm_refused("", "empty name");
    s_norm_refused(".", "empty name");
    s_norm_refused(NULL, "empty name");
    s_norm_refused("a..b", "an empty label");
    s_norm_refused(".a", "an empty label");
    s_norm_refused("a b.com", "blank");
    s_norm_refused("a\\.b", "backslash");
    char label[80];
    memset(label, 'x', 64);
    strcpy(label + 64, ".com");
    s_norm_refused(label, "longer than 63");
    char name[300];
    memset(name, 0, sizeof name);
    for (int i = 0; i < 64; i++)
        strcat(name, "abc.");
    s_norm_refused(name, "longer than 253");
}

static void test_match(void **state)
{
    (void)state;
    const char *zones[] = {"example.com", "lab.example.com", "example.org"};
    assert_string_equal(dns_zone_match(zones, 3, "www.example.com"), "example.com");
    assert_string_equal(dns_zone_match(zones, 3, "WWW.Example.Com."), "example.com");
    assert_string_equal(dns_zone_match(zones, 3, "example.com"), "example.com");
    assert_string_equal(dns_zone_match(zones, 3, "db.lab.example.com"), "lab.example.com");
    assert_string_equal(dns_zone_match(zones, 3, "lab.example.com"), "lab.example.com");
    assert_string_equal(dns_zone_match(zones, 3, "x.y.example.org"), "example.org");
    assert_null(dns_zone_match(zones, 3, "badexample.com"));
    assert_null(dns_zone_match(zones, 3, "www.badexample.com"));
    assert_string_equal(dns_zone_match(zones, 3, "xlab.example.com"), "example.com");
    assert_null(dns_zone_match(zones, 3, "com"));
    assert_null(dns_zone_match(zones, 3, "example.net"));
    assert_null(dns_zone_match(zones, 0, "www.example.com"));
    assert_null(dns_zone_match(zones, 3, NULL));
    /* the order of the list does not matter: the longest wins */
    const char *reversed[] = {"lab.example.com", "example.com"};
    assert_string_equal(dns_zone_match(reversed, 2, "db.lab.example.com"), "lab.example.com");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_match),
    };
    return test_run_group(tests, NULL, NULL);
}
