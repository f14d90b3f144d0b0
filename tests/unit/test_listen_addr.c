/* test_listen_addr: unit tests of core/listen_addr, the one place that reads
 * core.listen for the core and interlookctl: every accepted and refused form,
 * the URL a client derives from it, "off", the default and the
 * INTERLOOK_LISTEN override. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/listen_addr.h"

/* The numeric host and the port of a parsed address. */
static void s_host_port(const struct sockaddr_storage *addr, char *host, size_t hostlen, int *port)
{
    if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        assert_non_null(inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)hostlen));
        *port = ntohs(in6->sin6_port);
    } else {
        assert_int_equal(addr->ss_family, AF_INET);
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)addr;
        assert_non_null(inet_ntop(AF_INET, &in4->sin_addr, host, (socklen_t)hostlen));
        *port = ntohs(in4->sin_port);
    }
}

static void test_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *address;
        int family;
        const char *host; /* bound */
        int port;
        const char *url; /* what a client on this host connects to; NULL: none (port 0) */
    } cases[] = {
        {"127.0.0.1:8080", AF_INET, "127.0.0.1", 8080, "http://127.0.0.1:8080"},
        {LISTEN_ADDR_DEFAULT, AF_INET, "127.0.0.1", 8080, "http://127.0.0.1:8080"},
        {"10.1.2.3:65535", AF_INET, "10.1.2.3", 65535, "http://10.1.2.3:65535"},
        {"127.0.0.1:00080", AF_INET, "127.0.0.1", 80, "http://127.0.0.1:80"},
        {"localhost:8080", AF_INET, "127.0.0.1", 8080, "http://127.0.0.1:8080"},
        {"LocalHost:1", AF_INET, "127.0.0.1", 1, "http://127.0.0.1:1"},
        {"*:8080", AF_INET, "0.0.0.0", 8080, "http://127.0.0.1:8080"},
        {":8080", AF_INET, "0.0.0.0", 8080, "http://127.0.0.1:8080"},
        {"0.0.0.0:8081", AF_INET, "0.0.0.0", 8081, "http://127.0.0.1:8081"},
        {"[::1]:8080", AF_INET6, "::1", 8080, "http://[::1]:8080"},
        {"[::]:8080", AF_INET6, "::", 8080, "http://[::1]:8080"},
        {"[2001:db8::5]:443", AF_INET6, "2001:db8::5", 443, "http://[2001:db8::5]:443"},
        {"[::ffff:127.0.0.1]:9", AF_INET6, "::ffff:127.0.0.1", 9, "http://[::ffff:127.0.0.1]:9"},
        {"127.0.0.1:0", AF_INET, "127.0.0.1", 0, NULL},
        {"*:0", AF_INET, "0.0.0.0", 0, NULL},
        {"[::1]:0", AF_INET6, "::1", 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *address = cases[i].address;
        struct sockaddr_storage addr;
        char err[512] = "", host[64], url[128] = "";
        int port = -1;
        if (listen_addr_parse(address, &addr, err, sizeof err) != 0)
            fail_msg("'%s' refused: %s", address, err);
        assert_int_equal(addr.ss_family, cases[i].family);
        s_host_port(&addr, host, sizeof host, &port);
        if (strcmp(host, cases[i].host) || port != cases[i].port)
            fail_msg("'%s': got %s port %d, want %s port %d", address, host, port, cases[i].host,
                     cases[i].port);
        assert_false(listen_addr_off(address));
        int rc = listen_addr_url(address, url, sizeof url, err, sizeof err);
        if (cases[i].url) {
            if (rc != 0) fail_msg("'%s': no URL: %s", address, err);
            assert_string_equal(url, cases[i].url);
        } else {
            assert_int_equal(rc, -1);
            if (!strstr(err, "a port the system chooses") || !strstr(err, address))
                fail_msg("'%s': port 0 not explained: %s", address, err);
        }
    }
}

static void test_refused(void **state)
{
    (void)state;
    char long_address[300];
    memset(long_address, '1', sizeof long_address - 1);
    long_address[sizeof long_address - 1] = 0;
    static const struct {
        const char *address;
        const char *why;
    } cases[] = {
        {"", "empty"},
        {"nonsense", "expected HOST:PORT"},
        {"127.0.0.1", "expected HOST:PORT"},
        {"off", "expected HOST:PORT"}, /* not an address: see listen_addr_off */
        {"127.0.0.1:", "the port must be a number from 0 to 65535"},
        {"127.0.0.1:65536", "the port must be a number from 0 to 65535"},
        {"127.0.0.1:99999", "the port must be a number from 0 to 65535"},
        {"127.0.0.1:123456", "the port must be a number from 0 to 65535"},
        {"127.0.0.1:80x", "the port must be a number from 0 to 65535"},
        {"127.0.0.1:-1", "the port must be a number from 0 to 65535"},
        {"127.0.0.1: 80", "the port must be a number from 0 to 65535"},
        {"::1:8080", "an IPv6 address goes in brackets"},
        {"::8080", "an IPv6 address goes in brackets"},
        {"[::1:8080", "expected [IPV6]:PORT"},
        {"[::1]8080", "expected [IPV6]:PORT"},
        {"[::1]", "expected [IPV6]:PORT"},
        {"[127.0.0.1]:8080", "brackets are for IPv6 addresses only"},
        {"[]:8080", "the host must be a numeric IPv4 or IPv6 address"},
        {"[*]:8080", "brackets are for IPv6 addresses only"}, /* glibc: "*" is any address */
        {"[localhost]:8080", "the host must be a numeric IPv4 or IPv6 address"},
        {"example.com:8080", "the host must be a numeric IPv4 or IPv6 address"},
        {"300.1.2.3:8080", "the host must be a numeric IPv4 or IPv6 address"},
        {"127.0.0.1 :8080", "the host must be a numeric IPv4 or IPv6 address"},
    };
    for (size_t i = 0; i <= sizeof cases / sizeof cases[0]; i++) {
        bool last = i == sizeof cases / sizeof cases[0];
        const char *address = last ? long_address : cases[i].address;
        const char *why = last ? "too long" : cases[i].why;
        struct sockaddr_storage addr;
        char err[512] = "", want[400];
        if (listen_addr_parse(address, &addr, err, sizeof err) == 0)
            fail_msg("'%s' accepted", address);
        snprintf(want, sizeof want, "invalid listen address '%s': %s", address, why);
        if (strncmp(err, want, strlen(want))) fail_msg("'%s': got \"%s\"", address, err);
        /* interlookctl refuses it too, with the reason the core gives */
        char url[128], err2[512] = "";
        assert_int_equal(listen_addr_url(address, url, sizeof url, err2, sizeof err2), -1);
        if (*address && strcmp(address, "off")) assert_string_equal(err2, err);
    }
    char err[64] = "";
    struct sockaddr_storage addr;
    assert_int_equal(listen_addr_parse(NULL, &addr, err, sizeof err), -1);
    assert_string_equal(err, "no listen address given");
    /* a short buffer gets what fits, no more */
    char small[8];
    assert_int_equal(listen_addr_parse("nonsense", &addr, small, sizeof small), -1);
    assert_string_equal(small, "invalid");
    assert_int_equal(listen_addr_parse("nonsense", &addr, NULL, 0), -1);
}

/* "off" and "" turn the API off: the core does not listen, a client is told so. */
static void test_off(void **state)
{
    (void)state;
    assert_true(listen_addr_off("off"));
    assert_true(listen_addr_off(""));
    assert_false(listen_addr_off("OFF"));
    assert_false(listen_addr_off("off:80"));
    assert_false(listen_addr_off(NULL));
    const char *offs[] = {"off", ""};
    for (size_t i = 0; i < 2; i++) {
        char url[128], err[256] = "";
        assert_int_equal(listen_addr_url(offs[i], url, sizeof url, err, sizeof err), -1);
        assert_string_equal(err, "the core's HTTP API is off");
    }
    /* a URL that does not fit is refused, not cut */
    char url[16], err[256] = "";
    assert_int_equal(listen_addr_url("[2001:db8::5]:443", url, sizeof url, err, sizeof err), -1);
    assert_non_null(strstr(err, "too long"));
}

static il_config_t *s_load(const char *text)
{
    char err[512] = "";
    il_config_t *cfg = il_config_load_string(text, "test.yml", err, sizeof err);
    if (!cfg) fail_msg("load failed: %s", err);
    return cfg;
}

/* core.listen, its default and $INTERLOOK_LISTEN (not empty) over both. */
static void test_load(void **state)
{
    (void)state;
    unsetenv(LISTEN_ADDR_ENV);
    il_config_t *none = il_config_new_empty();
    il_config_t *other = s_load("core:\n  logLevel: info\n");
    il_config_t *file = s_load("core:\n  listen: \"[::1]:9000\"\n");
    il_config_t *off = s_load("core:\n  listen: \"off\"\n");
    il_config_t *bad = s_load("core:\n  logLevel: info\n  listen: [1, 2]\n");
    const char *address = NULL;
    bool from_env = true;
    char err[512] = "";

    assert_int_equal(listen_addr_load(none, &address, &from_env, err, sizeof err), 0);
    assert_string_equal(address, LISTEN_ADDR_DEFAULT);
    assert_string_equal(address, "127.0.0.1:8080");
    assert_false(from_env);
    assert_int_equal(listen_addr_load(other, &address, NULL, err, sizeof err), 0);
    assert_string_equal(address, "127.0.0.1:8080");
    assert_int_equal(listen_addr_load(file, &address, &from_env, err, sizeof err), 0);
    assert_string_equal(address, "[::1]:9000");
    assert_false(from_env);
    assert_int_equal(listen_addr_load(off, &address, &from_env, err, sizeof err), 0);
    assert_true(listen_addr_off(address));

    /* the environment wins over the file and the default; empty means unset */
    setenv(LISTEN_ADDR_ENV, "*:7000", 1);
    assert_int_equal(listen_addr_load(file, &address, &from_env, err, sizeof err), 0);
    assert_string_equal(address, "*:7000");
    assert_true(from_env);
    assert_int_equal(listen_addr_load(none, &address, &from_env, err, sizeof err), 0);
    assert_string_equal(address, "*:7000");
    assert_true(from_env);
    assert_int_equal(listen_addr_load(off, &address, NULL, err, sizeof err), 0);
    assert_string_equal(address, "*:7000");
    setenv(LISTEN_ADDR_ENV, "", 1);
    assert_int_equal(listen_addr_load(file, &address, &from_env, err, sizeof err), 0);
    assert_string_equal(address, "[::1]:9000");
    assert_false(from_env);
    unsetenv(LISTEN_ADDR_ENV);

    /* core.listen that is not a string: the file and line */
    err[0] = 0;
    assert_int_equal(listen_addr_load(bad, &address, &from_env, err, sizeof err), -1);
    if (!strstr(err, "test.yml:3") || !strstr(err, "core.listen")) fail_msg("not located: %s", err);

    il_config_destroy(&none);
    il_config_destroy(&other);
    il_config_destroy(&file);
    il_config_destroy(&off);
    il_config_destroy(&bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_load),
    };
    return test_run_group(tests, NULL, NULL);
}
