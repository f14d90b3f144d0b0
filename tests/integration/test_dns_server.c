/* The DNS server harness itself (tests/support/dns_server.h) against the
 * real BIND 9, Knot and PowerDNS: each starts on its own loopback address,
 * serves the fixed records, takes an update signed with its key, refuses
 * one with a wrong key or none, listens on nothing but that address, keeps
 * its data over a restart and leaves no process behind. */
#define _GNU_SOURCE
#include "tests/support/asserts.h"
#include "tests/support/dns_server.h"
#include "tests/support/testutil.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A case's state: the kind it runs against and the server it started, which
 * the teardown destroys when the case failed before doing so itself. */
typedef struct {
    dns_server_kind_t kind;
    dns_server_t *server;
} ctx_t;

#define KIND(state) (((ctx_t *)*(state))->kind)

static int s_teardown(void **state)
{
    dns_server_destroy(&((ctx_t *)*state)->server);
    return 0;
}

static dns_server_t *s_start_ctx(void **state, const dns_server_opts_t *opts)
{
    ctx_t *ctx = *state;
    dns_server_kind_t kind = ctx->kind;
    int64_t started = zclock_mono();
    dns_server_t *server = ctx->server = dns_server_new(kind, opts);
    assert_non_null(server);
    printf("# %s on %s answered its SOA %" PRId64 " ms after dns_server_new\n",
           dns_server_kind_name(kind), dns_server_endpoint(server), zclock_mono() - started);
    return server;
}

/* Destroys the server and checks that its process and directory are gone. */
static void s_destroy(void **state)
{
    dns_server_t **server = &((ctx_t *)*state)->server;
    pid_t pid = dns_server_pid(*server);
    char *dir = strdup(dns_server_dir(*server));
    assert_true(pid > 0);
    dns_server_destroy(server);
    assert_null(*server);
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    assert_int_equal(access(dir, F_OK), -1);
    free(dir);
}

static void serves_fixed_records(void **state)
{
    dns_server_t *server = s_start_ctx(state, NULL);
    char out[512];
    assert_int_equal(dns_server_query(server, "example.test", "SOA", out, sizeof out),
                     DNS_SERVER_NOERROR);
    assert_contains(out, "ns1.example.test. hostmaster.example.test.");
    assert_int_equal(dns_server_query(server, "foreign.example.test", "A", out, sizeof out),
                     DNS_SERVER_NOERROR);
    assert_string_equal(out, DNS_SERVER_FOREIGN_IP);
    assert_int_equal(dns_server_query(server, "foreign.example.test", "TXT", out, sizeof out),
                     DNS_SERVER_NOERROR);
    assert_string_equal(out, "");
    assert_int_equal(dns_server_query(server, "other.example.test", "TXT", out, sizeof out),
                     DNS_SERVER_NOERROR);
    assert_string_equal(out, "\"" DNS_SERVER_OTHER_TXT "\"");
    assert_int_equal(dns_server_query(server, "other.example.test", "A", out, sizeof out),
                     DNS_SERVER_NOERROR);
    assert_string_equal(out, DNS_SERVER_OTHER_IP);
    assert_int_equal(dns_server_rcode(server, "nobody.example.test", "A"), DNS_SERVER_NXDOMAIN);
    /* authoritative only: a name outside its zones is refused, never looked up */
    assert_int_equal(dns_server_rcode(server, "example.com", "A"), DNS_SERVER_REFUSED);

    /* the key file is tsig-keygen's format, the one the extension reads */
    char *key = test_sh_output("cat '%s'", dns_server_key_file(server));
    char want[256];
    snprintf(want, sizeof want, "key \"%s\" {", dns_server_key_name(server));
    assert_contains(key, want);
    assert_contains(key, "algorithm hmac-sha256;");
    snprintf(want, sizeof want, "secret \"%s\";", dns_server_secret(server));
    assert_contains(key, want);
    free(key);
    snprintf(want, sizeof want, "%s:%d", dns_server_address(server), dns_server_port(server));
    assert_string_equal(dns_server_endpoint(server), want);
    assert_true(strncmp(dns_server_address(server), "127.", 4) == 0);
    s_destroy(state);
}

/* Every socket the server's process has, UDP and TCP, is on its address
 * and port; it has at least one of each. */
static void listens_on_its_address_only(void **state)
{
    dns_server_t *server = s_start_ctx(state, NULL);
    char pidtag[32];
    snprintf(pidtag, sizeof pidtag, "pid=%d,", (int)dns_server_pid(server));
    const char *protos[] = {"-lnu", "-lnt", "-anu", "-ant"};
    for (size_t p = 0; p < 4; p++) {
        char *text = test_sh_output("ss -Hp %s", protos[p]);
        assert_non_null(text);
        int mine = 0;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (!strstr(line, pidtag)) continue;
            char state_[32], local[128];
            unsigned recvq, sendq;
            assert_int_equal(sscanf(line, "%31s %u %u %127s", state_, &recvq, &sendq, local), 4);
            if (strcmp(local, dns_server_endpoint(server)) != 0)
                fail_msg("%s listens on %s (ss %s): %s", dns_server_kind_name(KIND(state)), local,
                         protos[p], line);
            mine++;
        }
        if (mine == 0) fail_msg("ss %s shows no socket of %s", protos[p], pidtag);
        free(text);
    }
    s_destroy(state);
}

static void signed_update_and_wrong_keys(void **state)
{
    dns_server_kind_t kind = KIND(state);
    dns_server_t *server = s_start_ctx(state, NULL);
    char out[512], err[512];

    assert_int_equal(dns_server_rcode(server, "web.example.test", "A"), DNS_SERVER_NXDOMAIN);
    int rc = dns_server_update(server,
                               "update add web.example.test 60 A 192.0.2.10\n"
                               "update add web.example.test 60 TXT \"heritage=interlook\"\n",
                               err, sizeof err);
    if (rc != 0) fail_msg("signed update refused: %s", err);
    assert_int_equal(dns_server_query(server, "web.example.test", "A", out, sizeof out),
                     DNS_SERVER_NOERROR);
    assert_string_equal(out, "192.0.2.10");
    assert_int_equal(dns_server_query(server, "web.example.test", "TXT", out, sizeof out),
                     DNS_SERVER_NOERROR);
    assert_string_equal(out, "\"heritage=interlook\"");

    /* the same key name with another secret, an unknown key name, no key */
    char *path = NULL;
    assert_true(asprintf(&path, "%s/wrong.key", dns_server_dir(server)) > 0);
    char *text = test_sh_output("tsig-keygen -a hmac-sha256 '%s'", dns_server_key_name(server));
    assert_non_null(text);
    assert_int_equal(test_write_file(path, text), 0);
    free(text);
    char *unknown = dns_server_new_key_file(server, "unknown-key");
    assert_non_null(unknown);
    const char *script = "update add bad.example.test 60 A 192.0.2.11\n";
    const char *want[3][3] = {
        [DNS_SERVER_BIND] = {"NOTAUTH(BADSIG)", "NOTAUTH(BADKEY)", "REFUSED"},
        [DNS_SERVER_KNOT] = {"NOTAUTH(BADSIG)", "NOTAUTH(BADKEY)", "NOTAUTH"},
        [DNS_SERVER_PDNS] = {"REFUSED", "REFUSED", "REFUSED"},
    };
    const char *keys[3] = {path, unknown, NULL};
    const char *what[3] = {"other secret", "unknown key", "unsigned"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dns_server_update_with(server, keys[i], script, err, sizeof err), -1);
        printf("# %s, update with %s: %s\n", dns_server_kind_name(kind), what[i], err);
        assert_contains(err, want[kind][i]);
        assert_int_equal(dns_server_rcode(server, "bad.example.test", "A"), DNS_SERVER_NXDOMAIN);
    }
    free(path);
    free(unknown);

    /* a deletion goes through too, and the name is gone */
    assert_true(dns_server_wait_answer(server, "web.example.test", "A", "192.0.2.10", 2000));
    assert_false(dns_server_wait_answer(server, "web.example.test", "A", NULL, 200));
    rc = dns_server_update(server, "update delete web.example.test\n", err, sizeof err);
    if (rc != 0) fail_msg("signed delete refused: %s", err);
    assert_int_equal(dns_server_rcode(server, "web.example.test", "A"), DNS_SERVER_NXDOMAIN);
    assert_true(dns_server_wait_answer(server, "web.example.test", "A", NULL, 2000));
    assert_false(dns_server_wait_answer(server, "web.example.test", "A", "192.0.2.10", 200));
    s_destroy(state);
}

/* hmac-sha512, a key given by the test, two zones: the update goes to the
 * second one, named in the script. */
static void sha512_two_zones(void **state)
{
    const char *zones[] = {"example.test", "other.test", NULL};
    const char *secret = "1/oXurED0tUhTAELRwC31qINE/MFaxTC330p2ikAoPf+uc5XEaptl1NtoABiRNIOtEZ"
                         "SvBKusPmhmdeFtv8ndg==";
    dns_server_opts_t opts = {
        .zones = zones, .key_name = "k512", .algorithm = "hmac-sha512", .secret = secret};
    dns_server_t *server = s_start_ctx(state, &opts);
    char out[512], err[512];
    assert_string_equal(dns_server_algorithm(server), "hmac-sha512");
    assert_string_equal(dns_server_secret(server), secret);
    char *key = test_sh_output("cat '%s'", dns_server_key_file(server));
    assert_contains(key, "key \"k512\" {");
    assert_contains(key, "algorithm hmac-sha512;");
    free(key);
    assert_int_equal(dns_server_query(server, "foreign.other.test", "A", out, sizeof out),
                     DNS_SERVER_NOERROR);
    assert_string_equal(out, DNS_SERVER_FOREIGN_IP);
    int rc = dns_server_update(server,
                               "zone other.test\n"
                               "update add v6.other.test 60 AAAA 2001:db8::1\n"
                               "update add v6.other.test 60 AAAA 2001:db8::2\n",
                               err, sizeof err);
    if (rc != 0) fail_msg("signed update refused: %s", err);
    assert_int_equal(dns_server_query(server, "v6.other.test", "AAAA", out, sizeof out),
                     DNS_SERVER_NOERROR);
    assert_string_equal(out, "2001:db8::1\n2001:db8::2");
    s_destroy(state);
}

/* stop: no answer; start: the updated record is still served. */
static void stop_start_keeps_updates(void **state)
{
    dns_server_t *server = s_start_ctx(state, NULL);
    char out[512], err[512];
    int rc = dns_server_update(server, "update add kept.example.test 60 A 192.0.2.12\n", err,
                               sizeof err);
    if (rc != 0) fail_msg("signed update refused: %s", err);
    pid_t pid = dns_server_pid(server);
    assert_int_equal(dns_server_stop(server), 0);
    assert_int_equal(dns_server_pid(server), -1);
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(dns_server_rcode(server, "example.test", "SOA"), -1);
    assert_int_equal(dns_server_start(server), 0);
    assert_int_equal(dns_server_query(server, "kept.example.test", "A", out, sizeof out),
                     DNS_SERVER_NOERROR);
    assert_string_equal(out, "192.0.2.12");
    s_destroy(state);
}

/* Two servers of one kind at once: each its own endpoint and data; the
 * second one still answers once the first is gone (BIND's address on lo is
 * shared by the servers of a process). */
static void two_servers_at_once(void **state)
{
    dns_server_t *first = s_start_ctx(state, NULL);
    dns_server_t *second = dns_server_new(KIND(state), NULL);
    assert_non_null(second);
    assert_string_not_equal(dns_server_endpoint(first), dns_server_endpoint(second));
    char out[512], err[512];
    if (dns_server_update(first, "update add one.example.test 60 A 192.0.2.21\n", err, sizeof err))
        fail_msg("signed update refused: %s", err);
    assert_int_equal(dns_server_query(first, "one.example.test", "A", out, sizeof out),
                     DNS_SERVER_NOERROR);
    assert_string_equal(out, "192.0.2.21");
    assert_int_equal(dns_server_rcode(second, "one.example.test", "A"), DNS_SERVER_NXDOMAIN);
    s_destroy(state);
    int rcode = dns_server_query(second, "foreign.example.test", "A", out, sizeof out);
    dns_server_destroy(&second);
    assert_int_equal(rcode, DNS_SERVER_NOERROR);
    assert_string_equal(out, DNS_SERVER_FOREIGN_IP);
}

/* Each case once per server, named for it: TEST_FILTER='test_knot_*' runs Knot's. */
#define CASE(name, kind, fn)                                                                       \
    {                                                                                              \
        "test_" name "_" #fn, fn, NULL, s_teardown, &(kind)                                        \
    }
#define CASES(name, kind)                                                                          \
    CASE(name, kind, serves_fixed_records), CASE(name, kind, listens_on_its_address_only),         \
        CASE(name, kind, signed_update_and_wrong_keys), CASE(name, kind, sha512_two_zones),        \
        CASE(name, kind, stop_start_keeps_updates), CASE(name, kind, two_servers_at_once)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static ctx_t bind9 = {DNS_SERVER_BIND, NULL}, knot = {DNS_SERVER_KNOT, NULL},
                 pdns = {DNS_SERVER_PDNS, NULL};
    const struct CMUnitTest tests[] = {CASES("bind", bind9), CASES("knot", knot),
                                       CASES("pdns", pdns)};
    return test_run_group(tests, NULL, NULL);
}
