/* test_tsig_key: unit tests of extensions/dns/tsig_key (the tsig-keygen key
 * file): what is accepted, and every refusal with its path and line. */
#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extensions/dns/tsig_key.h"

#define SECRET "x8TbMM4UcrHRFvyR7PPDrxNYBgvqQ3vpNhmLxO/fVL8="

static tsig_key_t *s_accept(const char *text)
{
    char err[512] = "";
    tsig_key_t *key = tsig_key_parse(text, "k.key", err, sizeof err);
    if (!key) fail_msg("refused: %s\n%s", err, text);
    return key;
}

/* Parses text that must be refused; the message must contain want. */
static void s_refuse(const char *text, const char *want)
{
    char err[512] = "";
    tsig_key_t *key = tsig_key_parse(text, "k.key", err, sizeof err);
    if (key) {
        tsig_key_destroy(&key);
        fail_msg("accepted, should be refused:\n%s", text);
    }
    assert_contains(err, want);
}

static void test_keygen_output(void **state)
{
    (void)state;
    tsig_key_t *key =
        s_accept("key \"K1\" {\n\talgorithm hmac-sha256;\n\tsecret \"" SECRET "\";\n};\n");
    assert_string_equal(key->name, "k1.");
    assert_string_equal(key->algorithm, "hmac-sha256.");
    assert_string_equal(key->secret, SECRET);
    tsig_key_destroy(&key);
    assert_null(key);
}

static void test_comments_layout_algorithms(void **state)
{
    (void)state;
    tsig_key_t *key = s_accept("# made by hand\n// another\n/* a\n block */ key dyn.example. "
                               "{secret \"" SECRET "\" ; algorithm HMAC-SHA512;}; # end\n");
    assert_string_equal(key->name, "dyn.example.");
    assert_string_equal(key->algorithm, "hmac-sha512.");
    tsig_key_destroy(&key);
    key = s_accept("key k { algorithm hmac-sha1; secret \"" SECRET "\"; };");
    assert_string_equal(key->algorithm, "hmac-sha1.");
    tsig_key_destroy(&key);
}

static void test_refusals(void **state)
{
    (void)state;
    s_refuse("", "k.key:1: no key in the file");
    s_refuse("# only a comment\n", "no key");
    s_refuse("server 1.2.3.4 { };", "k.key:1: expected 'key'");
    s_refuse("key {", "expected the key's name");
    s_refuse("key k algorithm", "expected '{'");
    s_refuse("key k {\n algorithm hmac-md5;\n secret \"" SECRET "\";\n};",
             "k.key:2: algorithm 'hmac-md5' is not supported");
    s_refuse("key k { algorithm hmac-sha384; secret \"" SECRET "\"; };", "not supported");
    s_refuse("key k {\n algorithm hmac-sha256;\n};", "the key has no secret");
    s_refuse("key k { secret \"" SECRET "\"; };", "the key has no algorithm");
    s_refuse("key k {\n algorithm hmac-sha256;\n secret \"not base64!\";\n};",
             "k.key:3: secret is not base64");
    s_refuse("key k { algorithm hmac-sha256; secret \"abc\"; };", "not base64");
    s_refuse("key k { algorithm hmac-sha256; secret \"" SECRET "\" };", "expected ';'");
    s_refuse("key k { algorithm hmac-sha256; secret \"" SECRET "\"; }", "expected ';' after '}'");
    s_refuse("key k { algorithm hmac-sha256; secret \"" SECRET "\";", "missing '}'");
    s_refuse("key k {\n\n owner x;\n};", "k.key:3: unknown statement 'owner'");
    s_refuse("key k { algorithm hmac-sha256; algorithm hmac-sha256; };", "algorithm given twice");
    s_refuse("key k { secret \"" SECRET "\"; secret \"" SECRET "\"; };", "secret given twice");
    s_refuse("key k { algorithm; };", "algorithm: missing value");
    s_refuse("key k { secret \"unterminated; };", "k.key:1: unterminated string");
    s_refuse("/* never closed\nkey k {};", "k.key:1: unterminated comment");
    s_refuse("key a { algorithm hmac-sha256; secret \"" SECRET "\"; };\n\nkey b { algorithm "
             "hmac-sha256; secret \"" SECRET "\"; };\n",
             "k.key:3: a second statement ('key'): the file must hold exactly one key");
}

static void test_load(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/missing.key", dir);
    assert_null(tsig_key_load(path, err, sizeof err));
    assert_contains(err, path);
    assert_contains(err, "cannot read");
    snprintf(path, sizeof path, "%s/bad.key", dir);
    assert_int_equal(test_write_file(path, "key k {\n algorithm rot13;\n};\n"), 0);
    assert_null(tsig_key_load(path, err, sizeof err));
    char want[600];
    snprintf(want, sizeof want, "%s:2: algorithm 'rot13'", path);
    assert_contains(err, want);
    snprintf(path, sizeof path, "%s/good.key", dir);
    assert_int_equal(test_sh("tsig-keygen -a hmac-sha512 made.by.keygen > %s", path), 0);
    tsig_key_t *key = tsig_key_load(path, err, sizeof err);
    if (!key) fail_msg("tsig-keygen's file refused: %s", err);
    assert_string_equal(key->name, "made.by.keygen.");
    assert_string_equal(key->algorithm, "hmac-sha512.");
    tsig_key_destroy(&key);
    test_rm_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_output),
        cmocka_unit_test(test_comments_layout_algorithms),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_load),
    };
    return test_run_group(tests, NULL, NULL);
}
