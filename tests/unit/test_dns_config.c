/* test_dns_config: unit tests of extensions/dns/dns_config (the dns.rfc2136
 * section): defaults, parsing of each key, and every bad key named at once. */
#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extensions/dns/dns_config.h"

#define SECRET "x8TbMM4UcrHRFvyR7PPDrxNYBgvqQ3vpNhmLxO/fVL8="

static il_config_t *s_cfg(const char *text)
{
    char err[512] = "";
    il_config_t *cfg = il_config_load_string(text, "t.yml", err, sizeof err);
    if (!cfg) fail_msg("YAML refused: %s", err);
    return cfg;
}

static void test_defaults(void **state)
{
    (void)state;
    il_config_t *cfg = s_cfg("dns:\n  rfc2136:\n    server: 127.0.0.1:5353\n    zones: "
                             "[Example.TEST., lab.example.test]\n");
    dns_config_t c;
    char err[2048];
    assert_int_equal(dns_config_load(&c, cfg, err, sizeof err), 0);
    assert_string_equal(c.server, "127.0.0.1:5353");
    assert_int_equal(c.addr.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&c.addr)->sin_port), 5353);
    assert_int_equal(c.zone_count, 2);
    assert_string_equal(c.zones[0], "example.test");
    assert_string_equal(c.zones[1], "lab.example.test");
    assert_null(c.key);
    assert_int_equal(c.ttl_s, 60);
    assert_string_equal(c.owner_id, "interlook");
    assert_int_equal(c.timeout_ms, 2000);
    assert_int_equal(c.credit, 64);
    assert_string_equal(c.name, "dns.rfc2136");
    assert_string_equal(c.log_level, "info");
    dns_config_clear(&c);
    il_config_destroy(&cfg);
}

static void test_all_keys(void **state)
{
    (void)state;
    char *dir = test_tmpdir(), path[512], text[2048];
    snprintf(path, sizeof path, "%s/k.key", dir);
    assert_int_equal(
        test_write_file(path, "key \"k1\" { algorithm hmac-sha256; secret \"" SECRET "\"; };\n"),
        0);
    snprintf(text, sizeof text,
             "dns:\n  rfc2136:\n    server: '[::1]:53'\n    zones: a.test, b.test, A.test\n"
             "    tsigKeyFile: %s\n    ttl: 5m\n    ownerId: blue\n    timeout: 300ms\n"
             "    credit: 5\n    name: dns.second\n    logLevel: debug\n",
             path);
    il_config_t *cfg = s_cfg(text);
    dns_config_t c;
    char err[2048];
    assert_int_equal(dns_config_load(&c, cfg, err, sizeof err), 0);
    assert_int_equal(c.addr.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&c.addr)->sin6_port), 53);
    assert_int_equal(c.zone_count, 2); /* A.test is a.test again */
    assert_non_null(c.key);
    assert_string_equal(c.key->name, "k1.");
    assert_int_equal(c.ttl_s, 300);
    assert_string_equal(c.owner_id, "blue");
    assert_int_equal(c.timeout_ms, 300);
    assert_int_equal(c.credit, 5);
    assert_string_equal(c.name, "dns.second");
    dns_config_clear(&c);
    il_config_destroy(&cfg);
    test_rm_tree(dir);
    free(dir);
}

static void test_every_bad_key_named(void **state)
{
    (void)state;
    il_config_t *cfg = s_cfg("dns:\n  rfc2136:\n    server: 127.0.0.1:99999\n    zones: "
                             "[ok.test, 'bad..zone']\n    tsigKeyFile: /nonexistent/k.key\n"
                             "    ttl: abc\n    ownerId: 'a,b'\n    timeout: 0\n    credit: 0\n"
                             "    serverr: typo\n");
    dns_config_t c;
    char err[4096];
    assert_int_equal(dns_config_load(&c, cfg, err, sizeof err), -1);
    assert_contains(err, "t.yml:10: dns.rfc2136.serverr");
    assert_contains(err, "t.yml:3: dns.rfc2136.server: '127.0.0.1:99999': the port must be");
    assert_contains(err, "dns.rfc2136.zones: 'bad..zone': an empty label");
    assert_contains(err, "dns.rfc2136.tsigKeyFile: /nonexistent/k.key: cannot read");
    assert_contains(err, "dns.rfc2136.ttl");
    assert_contains(err, "dns.rfc2136.ownerId: 'a,b'");
    assert_contains(err, "dns.rfc2136.timeout: must be at least 1ms");
    assert_contains(err, "dns.rfc2136.credit");
    dns_config_clear(&c);
    il_config_destroy(&cfg);
}

static void test_missing_required(void **state)
{
    (void)state;
    il_config_t *cfg = s_cfg("core:\n  logLevel: info\n");
    dns_config_t c;
    char err[2048];
    assert_int_equal(dns_config_load(&c, cfg, err, sizeof err), -1);
    assert_contains(err, "dns.rfc2136.server: missing");
    assert_contains(err, "dns.rfc2136.zones: missing");
    dns_config_clear(&c);
    il_config_destroy(&cfg);
}

static void test_bad_key_file_line(void **state)
{
    (void)state;
    char *dir = test_tmpdir(), path[512], text[1024];
    snprintf(path, sizeof path, "%s/k.key", dir);
    assert_int_equal(test_write_file(path, "key k {\n  algorithm hmac-sha256;\n  secret 42\n};\n"),
                     0);
    snprintf(text, sizeof text,
             "dns:\n  rfc2136:\n    server: 127.0.0.1\n    zones: a.test\n    tsigKeyFile: %s\n",
             path);
    il_config_t *cfg = s_cfg(text);
    dns_config_t c;
    char err[2048], want[700];
    assert_int_equal(dns_config_load(&c, cfg, err, sizeof err), -1);
    snprintf(want, sizeof want, "t.yml:5: dns.rfc2136.tsigKeyFile: %s:3: secret is not base64",
             path);
    assert_contains(err, want);
    dns_config_clear(&c);
    il_config_destroy(&cfg);
    test_rm_tree(dir);
    free(dir);
}

static void test_parse_server(void **state)
{
    (void)state;
    struct sockaddr_storage a;
    socklen_t len;
    char err[256];
    assert_int_equal(dns_config_parse_server("127.0.0.1", &a, &len, err, sizeof err), 0);
    assert_int_equal(ntohs(((struct sockaddr_in *)&a)->sin_port), 53);
    assert_int_equal(dns_config_parse_server("::1", &a, &len, err, sizeof err), 0);
    assert_int_equal(a.ss_family, AF_INET6);
    assert_int_equal(dns_config_parse_server("[::1]:5300", &a, &len, err, sizeof err), 0);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&a)->sin6_port), 5300);
    assert_int_equal(dns_config_parse_server("[::1", &a, &len, err, sizeof err), -1);
    assert_contains(err, "missing ']'");
    assert_int_equal(dns_config_parse_server("[::1]x", &a, &len, err, sizeof err), -1);
    assert_contains(err, "expected ':PORT'");
    assert_int_equal(dns_config_parse_server("127.0.0.1:", &a, &len, err, sizeof err), -1);
    assert_contains(err, "the port must be 1..65535");
    assert_int_equal(dns_config_parse_server(":53", &a, &len, err, sizeof err), -1);
    assert_contains(err, "no host");
    assert_int_equal(dns_config_parse_server("", &a, &len, err, sizeof err), -1);
    assert_contains(err, "empty");
    assert_int_equal(dns_config_parse_server("no-such-host.invalid:53", &a, &len, err, sizeof err),
                     -1);
    assert_contains(err, "cannot resolve 'no-such-host.invalid'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_keys),
        cmocka_unit_test(test_every_bad_key_named),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_bad_key_file_line),
        cmocka_unit_test(test_parse_server),
    };
    return test_run_group(tests, NULL, NULL);
}
