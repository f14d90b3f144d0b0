/* test_dns_client: unit tests of extensions/dns/dns_client against a fake
 * server on 127.0.0.1 (a thread answering TCP exchanges as told): the
 * errors of the transport (refused, timeout), of TSIG (a TSIG error in the
 * reply, an unsigned or wrongly signed reply), a good signed exchange, and
 * the one connection kept across exchanges (reused, reopened once when the
 * server closed it). */
#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "extensions/dns/dns_client.h"
#include "extensions/dns/dns_update.h"

#define SECRET "x8TbMM4UcrHRFvyR7PPDrxNYBgvqQ3vpNhmLxO/fVL8="
#define OTHER  "AAAAMM4UcrHRFvyR7PPDrxNYBgvqQ3vpNhmLxO/fVL8="

typedef enum {
    FAKE_SIGNED,
    FAKE_UNSIGNED,
    FAKE_WRONG_SECRET,
    FAKE_BADKEY,
    FAKE_SILENT,
    FAKE_WRONG_ID
} s_mode_t;

typedef struct {
    int listen_fd;
    s_mode_t mode;
    int rcode;
    pthread_t thread;
} s_fake_t;

static tsig_key_t s_key = {.name = "k1.", .algorithm = "hmac-sha256.", .secret = SECRET};

static int s_read_all(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Answers the query in buf on fd as fake's mode says. */
static void s_answer(s_fake_t *fake, int fd, const uint8_t *buf, size_t n)
{
    ldns_pkt *query = NULL;
    if (ldns_wire2pkt(&query, buf, n) != LDNS_STATUS_OK) return;
    ldns_pkt *reply = ldns_pkt_clone(query);
    if (ldns_pkt_tsig(reply)) ldns_rr_free(ldns_pkt_tsig(reply)); /* the clone's copy */
    ldns_pkt_set_tsig(reply, NULL);
    ldns_pkt_set_qr(reply, true);
    ldns_pkt_set_rcode(reply, (uint8_t)fake->rcode);
    if (fake->mode == FAKE_WRONG_ID) ldns_pkt_set_id(reply, (uint16_t)(ldns_pkt_id(query) + 1));
    const ldns_rr *qtsig = ldns_pkt_tsig(query);
    ldns_rdf *mac = qtsig ? ldns_rr_rdf(qtsig, 3) : NULL;
    if (fake->mode == FAKE_SIGNED || fake->mode == FAKE_BADKEY || fake->mode == FAKE_WRONG_ID)
        ldns_pkt_tsig_sign(reply, "k1.", SECRET, 300, "hmac-sha256.", mac);
    else if (fake->mode == FAKE_WRONG_SECRET)
        ldns_pkt_tsig_sign(reply, "k1.", OTHER, 300, "hmac-sha256.", mac);
    if (fake->mode == FAKE_BADKEY) {
        ldns_rdf *old = ldns_rr_set_rdf(ldns_pkt_tsig(reply),
                                        ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 17), 5);
        ldns_rdf_deep_free(old);
    }
    uint8_t *wire = NULL;
    size_t size = 0;
    if (ldns_pkt2wire(&wire, reply, &size) == LDNS_STATUS_OK) {
        uint8_t out[2] = {(uint8_t)(size >> 8), (uint8_t)size};
        (void)!write(fd, out, 2);
        (void)!write(fd, wire, size);
        free(wire);
    }
    ldns_pkt_free(reply);
    ldns_pkt_free(query);
}

static void *s_fake_run(void *arg)
{
    s_fake_t *fake = arg;
    int fd = accept(fake->listen_fd, NULL, NULL);
    if (fd < 0) return NULL;
    uint8_t len[2], buf[65536];
    if (s_read_all(fd, len, 2) || s_read_all(fd, buf, (size_t)(len[0] << 8 | len[1]))) goto done;
    if (fake->mode == FAKE_SILENT) { /* holds the connection, answers nothing */
        char c;
        (void)read(fd, &c, 1);
        goto done;
    }
    s_answer(fake, fd, buf, (size_t)(len[0] << 8 | len[1]));
done:
    close(fd);
    return NULL;
}

/* A fake server on a kernel-chosen port of 127.0.0.1; addr gets its address. */
static void s_fake_start(s_fake_t *fake, s_mode_t mode, int rcode, struct sockaddr_storage *addr,
                         socklen_t *len)
{
    fake->mode = mode;
    fake->rcode = rcode;
    fake->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fake->listen_fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(fake->listen_fd, 4), 0);
    *len = sizeof sin;
    assert_int_equal(getsockname(fake->listen_fd, (struct sockaddr *)addr, len), 0);
    assert_int_equal(pthread_create(&fake->thread, NULL, s_fake_run, fake), 0);
}

static void s_fake_stop(s_fake_t *fake)
{
    shutdown(fake->listen_fd, SHUT_RDWR);
    pthread_join(fake->thread, NULL);
    close(fake->listen_fd);
}

/* A fake server that takes connection after connection (RFC 7766 reuse):
 * on its i-th connection it answers answers[i] queries (-1: all of them),
 * then, when mid[i], reads one more query and closes without an answer,
 * else closes at once. It counts the connections and queries it took. */
typedef struct {
    s_fake_t fake;
    int answers[4];
    bool mid[4];
    int accepts;
    int queries;
} s_multi_t;

/* Reads one length-prefixed message into buf; its size, or -1 at EOF. */
static int s_read_msg(int fd, uint8_t *buf)
{
    uint8_t len[2];
    if (s_read_all(fd, len, 2)) return -1;
    size_t n = (size_t)(len[0] << 8 | len[1]);
    return s_read_all(fd, buf, n) ? -1 : (int)n;
}

static void *s_multi_run(void *arg)
{
    s_multi_t *multi = arg;
    static uint8_t buf[65536];
    int fd;
    while ((fd = accept(multi->fake.listen_fd, NULL, NULL)) >= 0) {
        int i = multi->accepts < 4 ? multi->accepts : 3;
        multi->accepts++;
        int n;
        for (int done = 0; multi->answers[i] < 0 || done < multi->answers[i]; done++) {
            if ((n = s_read_msg(fd, buf)) < 0) break;
            multi->queries++;
            s_answer(&multi->fake, fd, buf, (size_t)n);
        }
        if (multi->mid[i] && s_read_msg(fd, buf) >= 0) multi->queries++;
        close(fd);
    }
    return NULL;
}

/* Starts multi (its script set by the caller) and a client to it; runs
 * count exchanges, each reply's rcode in rcodes (-1 with err of the last
 * failed one), then stops both and returns how many exchanges succeeded. */
static int s_multi_exchanges(s_multi_t *multi, int count, int *rcodes, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    socklen_t len;
    multi->fake.mode = FAKE_UNSIGNED;
    multi->fake.rcode = LDNS_RCODE_NXDOMAIN;
    multi->fake.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(multi->fake.listen_fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(multi->fake.listen_fd, 4), 0);
    len = sizeof addr;
    assert_int_equal(getsockname(multi->fake.listen_fd, (struct sockaddr *)&addr, &len), 0);
    assert_int_equal(pthread_create(&multi->fake.thread, NULL, s_multi_run, multi), 0);
    dns_client_t *client = dns_client_new("127.0.0.1:fake", &addr, len, NULL, 2000);
    int ok = 0;
    for (int i = 0; i < count; i++) {
        ldns_pkt *query = dns_update_query("web.example.test"), *reply = NULL;
        rcodes[i] = -1;
        if (dns_client_exchange(client, query, &reply, err, errlen) == 0) {
            rcodes[i] = ldns_pkt_get_rcode(reply);
            ok++;
        }
        ldns_pkt_free(reply);
        ldns_pkt_free(query);
    }
    dns_client_destroy(&client);
    s_fake_stop(&multi->fake);
    return ok;
}

/* One TXT query through a client with key (or none) to a fake server in mode. */
static int s_exchange(s_mode_t mode, int rcode, const tsig_key_t *key, int64_t timeout_ms,
                      ldns_pkt **reply, char *err, size_t errlen)
{
    s_fake_t fake;
    struct sockaddr_storage addr;
    socklen_t len;
    s_fake_start(&fake, mode, rcode, &addr, &len);
    dns_client_t *client = dns_client_new("127.0.0.1:fake", &addr, len, key, timeout_ms);
    ldns_pkt *query = dns_update_query("web.example.test");
    err[0] = '\0';
    int rc = dns_client_exchange(client, query, reply, err, errlen);
    ldns_pkt_free(query);
    dns_client_destroy(&client);
    assert_null(client);
    s_fake_stop(&fake);
    return rc;
}

static void test_signed_exchange(void **state)
{
    (void)state;
    ldns_pkt *reply = NULL;
    char err[512];
    assert_int_equal(
        s_exchange(FAKE_SIGNED, LDNS_RCODE_NXDOMAIN, &s_key, 2000, &reply, err, sizeof err), 0);
    assert_non_null(reply);
    assert_int_equal(ldns_pkt_get_rcode(reply), LDNS_RCODE_NXDOMAIN);
    ldns_pkt_free(reply);
    /* unsigned, without a key */
    assert_int_equal(
        s_exchange(FAKE_UNSIGNED, LDNS_RCODE_REFUSED, NULL, 2000, &reply, err, sizeof err), 0);
    assert_int_equal(ldns_pkt_get_rcode(reply), LDNS_RCODE_REFUSED);
    ldns_pkt_free(reply);
}

static void test_reply_signature(void **state)
{
    (void)state;
    ldns_pkt *reply = (ldns_pkt *)1;
    char err[512];
    assert_int_equal(s_exchange(FAKE_UNSIGNED, 0, &s_key, 2000, &reply, err, sizeof err), -1);
    assert_null(reply);
    assert_contains(err, "server 127.0.0.1:fake: reply signature invalid (reply not signed)");
    assert_int_equal(s_exchange(FAKE_WRONG_SECRET, 0, &s_key, 2000, &reply, err, sizeof err), -1);
    assert_contains(err, "reply signature invalid (TSIG does not verify)");
    assert_int_equal(
        s_exchange(FAKE_BADKEY, LDNS_RCODE_NOTAUTH, &s_key, 2000, &reply, err, sizeof err), -1);
    assert_contains(err, "server 127.0.0.1:fake: BADKEY (the server refused the TSIG key k1.)");
    assert_int_equal(s_exchange(FAKE_WRONG_ID, 0, &s_key, 2000, &reply, err, sizeof err), -1);
    assert_contains(err, "id mismatch");
}

static void test_transport_errors(void **state)
{
    (void)state;
    int hold = -1;
    int port = test_closed_port(&hold);
    assert_true(port > 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    dns_client_t *client =
        dns_client_new("127.0.0.1:closed", (struct sockaddr_storage *)&sin, sizeof sin, NULL, 1000);
    ldns_pkt *query = dns_update_query("web.example.test"), *reply = NULL;
    char err[512] = "";
    assert_int_equal(dns_client_exchange(client, query, &reply, err, sizeof err), -1);
    assert_contains(err, "server 127.0.0.1:closed: connection refused");
    ldns_pkt_free(query);
    dns_client_destroy(&client);
    close(hold);
    /* a server that takes the connection and never answers */
    int64_t start = zclock_mono();
    assert_int_equal(s_exchange(FAKE_SILENT, 0, NULL, 200, &reply, err, sizeof err), -1);
    int64_t took = zclock_mono() - start;
    assert_contains(err, "no answer within 200ms (timeout)");
    assert_true(took >= 150 && took < 2000);
}

/* (a) successive exchanges go over one connection */
static void test_reuses_connection(void **state)
{
    (void)state;
    s_multi_t multi = {.answers = {-1, -1, -1, -1}};
    int rcodes[3];
    char err[512] = "";
    assert_int_equal(s_multi_exchanges(&multi, 3, rcodes, err, sizeof err), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rcodes[i], LDNS_RCODE_NXDOMAIN);
    assert_int_equal(multi.accepts, 1);
    assert_int_equal(multi.queries, 3);
}

/* (b) the server closed the connection after an exchange (an idle close):
 * the next exchange is sent again on a new connection, which is then kept */
static void test_reconnects_after_close(void **state)
{
    (void)state;
    s_multi_t multi = {.answers = {1, -1, -1, -1}};
    int rcodes[3];
    char err[512] = "";
    assert_int_equal(s_multi_exchanges(&multi, 3, rcodes, err, sizeof err), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rcodes[i], LDNS_RCODE_NXDOMAIN);
    assert_int_equal(multi.accepts, 2);
    assert_int_equal(multi.queries, 3);
}

/* (c) the server closes in the middle of an exchange, on the kept connection
 * and again on the new one: one retry only, then the error */
static void test_closed_mid_exchange(void **state)
{
    (void)state;
    s_multi_t multi = {.answers = {1, 0, 0, 0}, .mid = {true, true, true, true}};
    int rcodes[2];
    char err[512] = "";
    assert_int_equal(s_multi_exchanges(&multi, 2, rcodes, err, sizeof err), 1);
    assert_int_equal(rcodes[0], LDNS_RCODE_NXDOMAIN);
    assert_int_equal(rcodes[1], -1);
    assert_contains(err, "server 127.0.0.1:fake: connection closed by the server before its reply");
    assert_int_equal(multi.accepts, 2);
    assert_int_equal(multi.queries, 3);
}

static void test_rcode_names(void **state)
{
    (void)state;
    assert_string_equal(dns_client_rcode_name(0), "NOERROR");
    assert_string_equal(dns_client_rcode_name(5), "REFUSED");
    assert_string_equal(dns_client_rcode_name(6), "YXDOMAIN");
    assert_string_equal(dns_client_rcode_name(8), "NXRRSET");
    assert_string_equal(dns_client_rcode_name(9), "NOTAUTH");
    assert_string_equal(dns_client_rcode_name(16), "BADSIG");
    assert_string_equal(dns_client_rcode_name(17), "BADKEY");
    assert_string_equal(dns_client_rcode_name(18), "BADTIME");
    assert_string_equal(dns_client_rcode_name(99), "unknown rcode");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_exchange),
        cmocka_unit_test(test_reply_signature),
        cmocka_unit_test(test_transport_errors),
        cmocka_unit_test(test_reuses_connection),
        cmocka_unit_test(test_reconnects_after_close),
        cmocka_unit_test(test_closed_mid_exchange),
        cmocka_unit_test(test_rcode_names),
    };
    return test_run_group(tests, NULL, NULL);
}
