/* test_etcd_decode: unit tests of common/etcd's pure parts: base64 both ways,
 * the range end of a prefix, and the decoding of the JSON gateway's answers
 * as etcd 3.4 writes them (numbers as strings, zero and false fields left out,
 * a DELETE event without a value, compaction, errors). */
#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "common/etcd.h"

static void test_b64(void **state)
{
    (void)state;
    const char *cases[][2] = {{"", ""},        {"f", "Zg=="},        {"fo", "Zm8="},
                              {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *enc = il_etcd_b64_encode(cases[i][0], strlen(cases[i][0]));
        assert_string_equal(enc, cases[i][1]);
        size_t len = 99;
        char *dec = il_etcd_b64_decode(enc, &len);
        assert_non_null(dec);
        assert_int_equal(len, strlen(cases[i][0]));
        assert_memory_equal(dec, cases[i][0], len);
        free(enc);
        free(dec);
    }
    /* binary bytes, NUL included, survive */
    const unsigned char bin[] = {0, 0xff, 0x80, 0x7f, 0};
    char *enc = il_etcd_b64_encode(bin, sizeof bin);
    size_t len;
    char *dec = il_etcd_b64_decode(enc, &len);
    assert_int_equal(len, sizeof bin);
    assert_memory_equal(dec, bin, sizeof bin);
    free(enc);
    free(dec);
    assert_null(il_etcd_b64_decode("Zm9v!", &len));
    assert_null(il_etcd_b64_decode("Z", &len));
}

static void test_prefix_end(void **state)
{
    (void)state;
    size_t len;
    char *end = il_etcd_prefix_end("/interlook/", &len);
    assert_int_equal(len, strlen("/interlook0"));
    assert_memory_equal(end, "/interlook0", len); /* '/' + 1 == '0' */
    free(end);
    end = il_etcd_prefix_end("a\xff", &len);
    assert_int_equal(len, 1);
    assert_int_equal(end[0], 'b');
    free(end);
    end = il_etcd_prefix_end("\xff\xff", &len);
    assert_int_equal(len, 1);
    assert_int_equal(end[0], 0); /* every key */
    free(end);
}

static void test_decode_range(void **state)
{
    (void)state;
    /* as measured: revision a string, kvs with base64, lease and version */
    const char *body =
        "{\"header\":{\"cluster_id\":\"15875391935852295136\",\"member_id\":"
        "\"7383792418829112008\","
        "\"revision\":\"42\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":"
        "\"2\",\"mod_revision\":\"40\",\"version\":\"3\",\"value\":\"YmFy\",\"lease\":"
        "\"1353510098165515786\"},{\"key\":\"Zm9w\",\"create_revision\":\"41\",\"mod_revision\":"
        "\"41\",\"version\":\"1\"}],\"count\":\"2\"}";
    il_etcd_range_t r;
    char err[256] = "";
    assert_int_equal(il_etcd_decode_range(body, &r, err, sizeof err), 0);
    assert_int_equal(r.revision, 42);
    assert_int_equal(r.count, 2);
    assert_false(r.more);
    assert_string_equal(r.kvs[0].key, "foo");
    assert_string_equal(r.kvs[0].value, "bar");
    assert_int_equal(r.kvs[0].value_len, 3);
    assert_int_equal(r.kvs[0].create_revision, 2);
    assert_int_equal(r.kvs[0].mod_revision, 40);
    assert_int_equal(r.kvs[0].version, 3);
    assert_true(r.kvs[0].lease == 1353510098165515786LL); /* beyond a double's 53 bits */
    assert_string_equal(r.kvs[1].key, "fop");
    assert_int_equal(r.kvs[1].value_len, 0); /* an empty value is left out */
    assert_string_equal(r.kvs[1].value, "");
    assert_int_equal(r.kvs[1].lease, 0);
    il_etcd_range_free(&r);
    /* a key that does not exist: no kvs, no count */
    assert_int_equal(il_etcd_decode_range("{\"header\":{\"revision\":\"2\"}}", &r, err, sizeof err),
                     0);
    assert_int_equal(r.count, 0);
    assert_int_equal(r.revision, 2);
    il_etcd_range_free(&r);
    /* bad answers name what is wrong */
    assert_int_equal(il_etcd_decode_range("{\"kvs\":[{\"key\":\"!!\"}]}", &r, err, sizeof err), -1);
    assert_contains(err, "not base64");
    assert_int_equal(il_etcd_decode_range("{\"kvs\":[{\"value\":\"YmFy\"}]}", &r, err, sizeof err),
                     -1);
    assert_contains(err, "without a key");
    assert_int_equal(il_etcd_decode_range("not json", &r, err, sizeof err), -1);
    assert_contains(err, "not JSON");
    assert_int_equal(il_etcd_decode_range("{\"kvs\":{}}", &r, err, sizeof err), -1);
    assert_contains(err, "not an array");
}

static void test_decode_watch(void **state)
{
    (void)state;
    il_etcd_events_t ev = {0};
    bool created, canceled;
    int64_t compact, header;
    char err[256] = "";
    assert_int_equal(
        il_etcd_decode_watch("{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":"
                             "true}}",
                             &ev, &created, &canceled, &compact, &header, err, sizeof err),
        0);
    assert_true(created);
    assert_false(canceled);
    assert_int_equal(header, 2);
    assert_int_equal(ev.count, 0);
    /* a PUT has no "type" (0 is left out); a DELETE carries no value */
    assert_int_equal(
        il_etcd_decode_watch(
            "{\"result\":{\"header\":{\"revision\":\"4\"},\"events\":[{\"kv\":{\"key\":"
            "\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":"
            "\"2\",\"value\":\"YmFy\"}},{\"type\":\"DELETE\",\"kv\":{\"key\":\"Zm9v\","
            "\"mod_revision\":\"4\"}}]}}",
            &ev, &created, &canceled, &compact, &header, err, sizeof err),
        0);
    assert_false(created);
    assert_int_equal(ev.count, 2);
    assert_int_equal(ev.events[0].type, IL_ETCD_PUT);
    assert_string_equal(ev.events[0].kv.value, "bar");
    assert_int_equal(ev.events[0].kv.mod_revision, 3);
    assert_int_equal(ev.events[1].type, IL_ETCD_DELETE);
    assert_string_equal(ev.events[1].kv.key, "foo");
    assert_int_equal(ev.events[1].kv.mod_revision, 4);
    il_etcd_events_free(&ev);
    /* compaction, as 3.4 says it: canceled with the oldest revision kept */
    assert_int_equal(il_etcd_decode_watch("{\"result\":{\"header\":{\"raft_term\":\"2\"},"
                                          "\"canceled\":true,\"compact_revision\":\"3\"}}",
                                          &ev, &created, &canceled, &compact, &header, err,
                                          sizeof err),
                     0);
    assert_true(canceled);
    assert_int_equal(compact, 3);
    /* an error on the stream */
    assert_int_equal(il_etcd_decode_watch("{\"error\":{\"grpc_code\":14,\"http_code\":503,"
                                          "\"message\":\"etcdserver: no leader\",\"code\":14}}",
                                          &ev, &created, &canceled, &compact, &header, err,
                                          sizeof err),
                     -1);
    assert_contains(err, "etcdserver: no leader (code 14)");
    assert_int_equal(
        il_etcd_decode_watch("{}", &ev, &created, &canceled, &compact, &header, err, sizeof err),
        -1);
    assert_contains(err, "without a \"result\"");
}

static void test_config_checked(void **state)
{
    (void)state;
    char err[256] = "";
    il_etcd_config_t c = {0};
    assert_null(il_etcd_new(&c, err, sizeof err));
    assert_contains(err, "no endpoint");
    const char *bad[] = {"127.0.0.1:2379"};
    c.endpoints = bad;
    c.endpoint_count = 1;
    assert_null(il_etcd_new(&c, err, sizeof err));
    assert_contains(err, "'127.0.0.1:2379': not an http:// or https:// URL");
    const char *good[] = {"https://127.0.0.1:2379"};
    c.endpoints = good;
    c.tls_cert = "/nonexistent/cert.pem";
    assert_null(il_etcd_new(&c, err, sizeof err));
    assert_contains(err, "tlsCert and tlsKey go together");
    c.tls_key = "/nonexistent/key.pem";
    assert_null(il_etcd_new(&c, err, sizeof err));
    assert_contains(err, "tlsCert '/nonexistent/cert.pem'");
    c.tls_cert = c.tls_key = NULL;
    il_etcd_t *etcd = il_etcd_new(&c, err, sizeof err);
    assert_non_null(etcd);
    il_etcd_destroy(&etcd);
    assert_null(etcd);
    il_etcd_destroy(&etcd);
}

static void test_txn_limit(void **state)
{
    (void)state;
    /* refused before any request: the endpoint does not even exist */
    const char *eps[] = {"http://127.0.0.1:1"};
    il_etcd_config_t c = {.endpoints = eps, .endpoint_count = 1};
    char err[512] = "";
    il_etcd_t *etcd = il_etcd_new(&c, err, sizeof err);
    assert_non_null(etcd);
    il_etcd_txn_t *txn = il_etcd_txn_new();
    for (int i = 0; i < IL_ETCD_MAX_TXN_OPS + 1; i++)
        il_etcd_txn_put(txn, true, "k", "v", 1, 0);
    assert_int_equal(il_etcd_txn_size(txn), IL_ETCD_MAX_TXN_OPS + 1);
    bool ok = true;
    assert_int_equal(il_etcd_txn_commit(etcd, txn, &ok, NULL, err, sizeof err), -1);
    assert_false(ok);
    assert_contains(err, "129 success");
    assert_contains(err, "at most 128");
    il_etcd_txn_destroy(&txn);
    /* and a refused connection names the endpoint */
    il_etcd_range_t r;
    assert_int_equal(il_etcd_get(etcd, "k", 0, &r, err, sizeof err), -1);
    assert_contains(err, "http://127.0.0.1:1");
    il_etcd_destroy(&etcd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_prefix_end),
        cmocka_unit_test(test_decode_range),
        cmocka_unit_test(test_decode_watch),
        cmocka_unit_test(test_config_checked),
        cmocka_unit_test(test_txn_limit),
    };
    return test_run_group(tests, NULL, NULL);
}
