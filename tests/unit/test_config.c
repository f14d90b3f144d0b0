/* test_config: unit tests of common/config (YAML loading, typed getters, error messages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

/* Loads text named "test.yml"; fails the test with the parser's message otherwise. */
static il_config_t *s_load(const char *text)
{
    char err[512] = "";
    il_config_t *config = il_config_load_string(text, "test.yml", err, sizeof err);
    if (!config) fail_msg("load failed: %s", err);
    return config;
}

/* Loads text that must be refused; returns the message. */
static const char *s_refuse(const char *text, char *err, size_t errlen)
{
    il_config_t *config = il_config_load_string(text, "test.yml", err, errlen);
    if (config) {
        il_config_destroy(&config);
        fail_msg("loaded, but should be refused:\n%s", text);
    }
    assert_true(err[0] != '\0');
    return err;
}

static const char *s_nested_yaml = "# interlook\n"                                            // 1
                                   "core:\n"                                                  // 2
                                   "  logLevel: debug\n"                                      // 3
                                   "  bus: { router: tcp://127.0.0.1:5570, heartbeat: 1s }\n" // 4
                                   "  port: 5570\n"                                           // 5
                                   "  verbose: yes\n"                                         // 6
                                   "  extensions:\n"                                          // 7
                                   "    - echo\n"                                             // 8
                                   "    - 'http gateway'\n"                                   // 9
                                   "  deep:\n"                                                // 10
                                   "    er:\n"                                                // 11
                                   "      est: bottom\n";                                     // 12

static void test_nested_and_flow(void **state)
{
    (void)state;
    il_config_t *config = s_load(s_nested_yaml);
    assert_string_equal(il_config_name(config), "test.yml");
    assert_string_equal(il_config_error(config), "");

    const char *text = NULL;
    assert_int_equal(il_config_string(config, "core.logLevel", "info", &text), 0);
    assert_string_equal(text, "debug");
    assert_int_equal(il_config_string(config, "core.bus.router", NULL, &text), 0);
    assert_string_equal(text, "tcp://127.0.0.1:5570");
    assert_int_equal(il_config_string(config, "core.deep.er.est", NULL, &text), 0);
    assert_string_equal(text, "bottom");

    int64_t ms = 0;
    assert_int_equal(il_config_duration(config, "core.bus.heartbeat", 5, &ms), 0);
    assert_int_equal(ms, 1000);
    int64_t port = 0;
    assert_int_equal(il_config_int(config, "core.port", 1, 1, 65535, &port), 0);
    assert_int_equal(port, 5570);
    bool verbose = false;
    assert_int_equal(il_config_bool(config, "core.verbose", false, &verbose), 0);
    assert_true(verbose);

    assert_true(il_config_has(config, "core"));
    assert_true(il_config_has(config, "core.bus"));
    assert_true(il_config_has(config, "core.bus.heartbeat"));
    assert_false(il_config_has(config, "core.bus.dealer"));
    assert_false(il_config_has(config, "core.port.sub")); /* under a scalar */
    assert_false(il_config_has(config, "nothing"));
    assert_int_equal(il_config_line(config, "core.logLevel"), 3);
    assert_int_equal(il_config_line(config, "core.bus.router"), 4);
    assert_int_equal(il_config_line(config, "core.port"), 5);
    assert_int_equal(il_config_line(config, "core.deep.er.est"), 12);
    assert_int_equal(il_config_line(config, "core.missing"), 0);
    assert_string_equal(il_config_error(config), ""); /* has/line never set errors */

    zlistx_t *list = NULL;
    assert_int_equal(il_config_list(config, "core.extensions", &list), 0);
    assert_int_equal(zlistx_size(list), 2);
    assert_string_equal(zlistx_first(list), "echo");
    assert_string_equal(zlistx_next(list), "http gateway");
    zlistx_destroy(&list);
    il_config_destroy(&config);
    assert_null(config);
}

static void test_defaults(void **state)
{
    (void)state;
    il_config_t *config = s_load("core:\n"
                                 "  a: ~\n"
                                 "  b: null\n"
                                 "  c:\n"
                                 "  quoted: '~'\n"
                                 "  dquoted: \"null\"\n"
                                 "  empty: ''\n"
                                 "nothing:\n");
    /* Missing keys, null values, and keys under a null or missing mapping. */
    const char *keys[] = {"core.missing", "core.a",        "core.b",           "core.c",
                          "nothing",      "nothing.below", "absent.below.too", "core.a.b"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *key = keys[i];
        const char *text = "unset";
        assert_int_equal(il_config_string(config, key, "dflt", &text), 0);
        assert_string_equal(text, "dflt");
        assert_int_equal(il_config_string(config, key, NULL, &text), 0);
        assert_null(text);
        int64_t n = 0;
        assert_int_equal(il_config_int(config, key, 42, 0, 100, &n), 0);
        assert_int_equal(n, 42);
        bool b = false;
        assert_int_equal(il_config_bool(config, key, true, &b), 0);
        assert_true(b);
        int64_t ms = 0;
        assert_int_equal(il_config_duration(config, key, 750, &ms), 0);
        assert_int_equal(ms, 750);
        zlistx_t *list = NULL;
        assert_int_equal(il_config_list(config, key, &list), 0);
        assert_non_null(list);
        assert_int_equal(zlistx_size(list), 0);
        zlistx_destroy(&list);
    }
    /* Present-but-null keys are present. */
    assert_true(il_config_has(config, "core.a"));
    assert_int_equal(il_config_line(config, "core.b"), 3);
    /* Quoted scalars are strings as they are. */
    const char *text = NULL;
    assert_int_equal(il_config_string(config, "core.quoted", "dflt", &text), 0);
    assert_string_equal(text, "~");
    assert_int_equal(il_config_string(config, "core.dquoted", "dflt", &text), 0);
    assert_string_equal(text, "null");
    assert_int_equal(il_config_string(config, "core.empty", "dflt", &text), 0);
    assert_string_equal(text, "");
    assert_string_equal(il_config_error(config), "");
    il_config_destroy(&config);
}

static void test_empty_configs(void **state)
{
    (void)state;
    const char *texts[] = {
        "", "# only a comment\n\n   # and another\n", "---\n", "---\n...\n", "~\n", "{}\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        il_config_t *config = s_load(texts[i]);
        assert_false(il_config_has(config, "core"));
        int64_t n = 0;
        assert_int_equal(il_config_int(config, "core.port", 7, 0, 10, &n), 0);
        assert_int_equal(n, 7);
        const char *const known[] = {"core", NULL};
        assert_int_equal(il_config_check_keys(config, "", known), 0);
        il_config_destroy(&config);
    }
    il_config_t *config = il_config_new_empty();
    assert_non_null(config);
    assert_string_equal(il_config_error(config), "");
    assert_false(il_config_has(config, "core"));
    assert_int_equal(il_config_line(config, "core"), 0);
    const char *text = NULL;
    assert_int_equal(il_config_string(config, "core.name", "x", &text), 0);
    assert_string_equal(text, "x");
    il_config_destroy(&config);
    assert_null(config);
    il_config_destroy(&config); /* harmless twice */
}

/* Getter errors: file, line, dotted key and reason. */
static const char *s_errors_yaml = "core:\n"                        // 1
                                   "  port: 70000\n"                // 2
                                   "  name: {a: 1}\n"               // 3
                                   "  debug: maybe\n"               // 4
                                   "  bus:\n"                       // 5
                                   "    heartbeat: abc\n"           // 6
                                   "    router: [x]\n"              // 7
                                   "  items: a,,b\n"                // 8
                                   "  count: 12abc\n"               // 9
                                   "  tail: 'a, b,'\n"              // 10
                                   "  nested: [a, {b: 1}]\n"        // 11
                                   "  holes:\n"                     // 12
                                   "    - a\n"                      // 13
                                   "    -\n"                        // 14
                                   "  negative: -5\n"               // 15
                                   "  hex: 0x10\n"                  // 16
                                   "  huge: 99999999999999999999\n" // 17
                                   "  section: {x: 1}\n";           // 18

typedef enum { GET_STRING, GET_INT, GET_BOOL, GET_DURATION, GET_LIST } getter_t;

static void test_getter_errors(void **state)
{
    (void)state;
    static const struct {
        getter_t getter;
        const char *key;
        const char *expect; /* after "test.yml:" */
    } cases[] = {
        {GET_INT, "core.port", "2: core.port: 70000 is out of range [1, 65535]"},
        {GET_STRING, "core.name", "3: core.name: expected a scalar, found a mapping"},
        {GET_INT, "core.name", "3: core.name: expected a scalar, found a mapping"},
        {GET_STRING, "core.bus", "5: core.bus: expected a scalar, found a mapping"},
        {GET_BOOL, "core.debug", "4: core.debug: 'maybe' is not a boolean"},
        {GET_DURATION, "core.bus.heartbeat",
         "6: core.bus.heartbeat: 'abc' is not a duration (use e.g. 500ms, 3s, 10m, 1h)"},
        {GET_STRING, "core.bus.router", "7: core.bus.router: expected a scalar, found a sequence"},
        {GET_DURATION, "core.bus.router", "7: core.bus.router: expected a scalar"},
        {GET_LIST, "core.items", "8: core.items: item 2 is empty in 'a,,b'"},
        {GET_INT, "core.count", "9: core.count: '12abc' is not an integer"},
        {GET_LIST, "core.tail", "10: core.tail: item 3 is empty"},
        {GET_LIST, "core.nested", "11: core.nested: item 2: expected a scalar, found a mapping"},
        {GET_LIST, "core.holes", "14: core.holes: item 2 is empty"},
        {GET_LIST, "core.bus", "5: core.bus: expected a list, found a mapping"},
        {GET_INT, "core.negative", "15: core.negative: -5 is out of range [1, 65535]"},
        {GET_INT, "core.hex", "16: core.hex: '0x10' is not an integer"},
        {GET_INT, "core.huge", "17: core.huge: 99999999999999999999 is out of range [1, 65535]"},
        /* A part of the key that is not a mapping. */
        {GET_STRING, "core.port.x", "2: core.port: expected a mapping, found a scalar"},
        {GET_INT, "core.bus.router.x", "7: core.bus.router: expected a mapping, found a sequence"},
    };
    il_config_t *config = s_load(s_errors_yaml);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *text = "unset";
        int64_t n = -77;
        bool b = true;
        zlistx_t *list = NULL;
        int rc = 0;
        switch (cases[i].getter) {
        case GET_STRING:
            rc = il_config_string(config, cases[i].key, "dflt", &text);
            break;
        case GET_INT:
            rc = il_config_int(config, cases[i].key, 1, 1, 65535, &n);
            break;
        case GET_BOOL:
            rc = il_config_bool(config, cases[i].key, false, &b);
            break;
        case GET_DURATION:
            rc = il_config_duration(config, cases[i].key, 1, &n);
            break;
        case GET_LIST:
            rc = il_config_list(config, cases[i].key, &list);
            break;
        }
        if (rc != -1) fail_msg("%s: accepted", cases[i].key);
        /* The value is only written on success. */
        assert_string_equal(text, "unset");
        assert_int_equal(n, -77);
        assert_true(b);
        assert_null(list);
        char expect[256];
        snprintf(expect, sizeof expect, "test.yml:%s", cases[i].expect);
        assert_contains(il_config_error(config), expect);
    }
    /* A range that allows negatives does. */
    int64_t n = 0;
    assert_int_equal(il_config_int(config, "core.negative", 0, -10, 10, &n), 0);
    assert_int_equal(n, -5);
    il_config_destroy(&config);
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
    } valid[] = {
        {"1m30s", 90000},
        {"500ms", 500},
        {"10", 10},
        {"0", 0},
        {"3s", 3000},
        {"10m", 600000},
        {"1h", 3600000},
        {"250ms", 250},
        {"0s", 0},
        {"007s", 7000},
        {"1h2m3s4ms", 3723004},
        {"2m500ms", 120500},
        {"876000h", 100LL * 365 * 24 * 3600 * 1000}, /* the largest: 100 years */
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        int64_t ms = -1;
        if (il_config_parse_duration(valid[i].text, &ms) != 0)
            fail_msg("'%s' refused", valid[i].text);
        if (ms != valid[i].ms)
            fail_msg("'%s' gave %lld, not %lld", valid[i].text, (long long)ms,
                     (long long)valid[i].ms);
    }
    static const char *const invalid[] = {
        "-1s",
        "1x",
        "",
        "s",
        "ms",
        "-5",
        "1.5s",
        " 3s",
        "3s ",
        "3 s",
        "1s1m",
        "1s1s",
        "1s500",
        "3S",
        "1d",
        "876001h",
        "99999999999999999999",
        "9223372036854775807ms",
        "100000000000000000000000000000h",
        "1h-1m",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        int64_t ms = 12345;
        if (il_config_parse_duration(invalid[i], &ms) != -1) fail_msg("'%s' accepted", invalid[i]);
        assert_int_equal(ms, 12345);
    }
    int64_t ms = 1;
    assert_int_equal(il_config_parse_duration(NULL, &ms), -1);

    /* Through the getter: quoted empty is a value (not null), so it is refused. */
    il_config_t *config = s_load("a: 1m30s\nb: ''\nc: -1s\n");
    assert_int_equal(il_config_duration(config, "a", 0, &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(il_config_duration(config, "b", 0, &ms), -1);
    assert_contains(il_config_error(config), "test.yml:2: b: '' is not a duration");
    assert_int_equal(il_config_duration(config, "c", 0, &ms), -1);
    assert_contains(il_config_error(config), "test.yml:3: c: '-1s' is not a duration (use e.g.");
    il_config_destroy(&config);
}

static void test_bools(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool value;
    } valid[] = {
        {"true", true},   {"TRUE", true},   {"True", true}, {"yes", true},
        {"Yes", true},    {"on", true},     {"ON", true},   {"1", true},
        {"false", false}, {"False", false}, {"no", false},  {"NO", false},
        {"off", false},   {"Off", false},   {"0", false},   {"'yes'", true},
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        char yaml[64];
        snprintf(yaml, sizeof yaml, "flag: %s\n", valid[i].text);
        il_config_t *config = s_load(yaml);
        bool value = !valid[i].value;
        if (il_config_bool(config, "flag", !valid[i].value, &value) != 0)
            fail_msg("'%s' refused: %s", valid[i].text, il_config_error(config));
        assert_int_equal(value, valid[i].value);
        il_config_destroy(&config);
    }
    static const char *const invalid[] = {"maybe", "2", "''", "y", "truee", "[true]", "-1"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        char yaml[64];
        snprintf(yaml, sizeof yaml, "\nflag: %s\n", invalid[i]);
        il_config_t *config = s_load(yaml);
        bool value = true;
        if (il_config_bool(config, "flag", true, &value) != -1)
            fail_msg("'%s' accepted", invalid[i]);
        assert_true(value);
        assert_contains(il_config_error(config), "test.yml:2: flag: ");
        il_config_destroy(&config);
    }
}

static void test_ints(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t min, max;
        bool ok;
        int64_t value;
    } cases[] = {
        {"1", 1, 65535, true, 1},
        {"65535", 1, 65535, true, 65535},
        {"0", 1, 65535, false, 0},
        {"65536", 1, 65535, false, 0},
        {"+12", 0, 100, true, 12},
        {"-3", -5, 5, true, -3},
        {"-6", -5, 5, false, 0},
        {"9223372036854775807", INT64_MIN, INT64_MAX, true, INT64_MAX},
        {"-9223372036854775808", INT64_MIN, INT64_MAX, true, INT64_MIN},
        {"9223372036854775808", INT64_MIN, INT64_MAX, false, 0},
        {"1e3", 0, 10000, false, 0},
        {"1_000", 0, 10000, false, 0},
        {"12.0", 0, 100, false, 0},
        {"'12'", 0, 100, true, 12},
        {"' 12'", 0, 100, false, 0},
        {"'-'", 0, 100, false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[64];
        snprintf(yaml, sizeof yaml, "n: %s\n", cases[i].text);
        il_config_t *config = s_load(yaml);
        int64_t value = 4242;
        int rc = il_config_int(config, "n", 0, cases[i].min, cases[i].max, &value);
        if (cases[i].ok) {
            if (rc != 0) fail_msg("'%s' refused: %s", cases[i].text, il_config_error(config));
            assert_true(value == cases[i].value);
        } else {
            if (rc != -1) fail_msg("'%s' accepted", cases[i].text);
            assert_int_equal(value, 4242);
            assert_contains(il_config_error(config), "test.yml:1: n: ");
        }
        il_config_destroy(&config);
    }
    il_config_t *config = s_load("n: 0\n");
    int64_t value = 0;
    assert_int_equal(il_config_int(config, "n", 5, 1, 10, &value), -1);
    assert_contains(il_config_error(config), "test.yml:1: n: 0 is out of range [1, 10]");
    il_config_destroy(&config);
}

/* Checks that list holds exactly the items of expect (NULL-terminated). */
static void s_assert_list(zlistx_t *list, const char *const *expect)
{
    size_t count = 0;
    while (expect[count])
        count++;
    assert_int_equal(zlistx_size(list), count);
    const char *item = zlistx_first(list);
    for (size_t i = 0; i < count; i++, item = zlistx_next(list))
        assert_string_equal(item, expect[i]);
}

static void test_lists(void **state)
{
    (void)state;
    il_config_t *config = s_load("block:\n"
                                 "  - a\n"
                                 "  - b c\n"
                                 "flow: [a, 'b,c', \"d\"]\n"
                                 "commas: ' a, b ,c '\n"
                                 "plain: a,b\n"
                                 "single: alone\n"
                                 "blank: '  '\n"
                                 "none: []\n"
                                 "number: 5\n");
    static const struct {
        const char *key;
        const char *items[4];
    } cases[] = {
        {"block", {"a", "b c", NULL}},
        {"flow", {"a", "b,c", "d", NULL}},
        {"commas", {"a", "b", "c", NULL}},
        {"plain", {"a", "b", NULL}},
        {"single", {"alone", NULL}},
        {"blank", {NULL}},
        {"none", {NULL}},
        {"number", {"5", NULL}},
        {"missing", {NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zlistx_t *list = NULL;
        if (il_config_list(config, cases[i].key, &list) != 0)
            fail_msg("%s: %s", cases[i].key, il_config_error(config));
        s_assert_list(list, cases[i].items);
        zlistx_destroy(&list);
        assert_null(list);
    }
    /* The list owns its items and copies the ones the caller adds. */
    zlistx_t *list = NULL;
    assert_int_equal(il_config_list(config, "block", &list), 0);
    char extra[] = "extra";
    assert_non_null(zlistx_add_end(list, extra));
    extra[0] = 'X';
    assert_string_equal(zlistx_last(list), "extra");
    zlistx_destroy(&list);

    il_config_t *bad = s_load("core:\n  ext: echo,,http\n");
    list = NULL;
    assert_int_equal(il_config_list(bad, "core.ext", &list), -1);
    assert_null(list);
    assert_contains(il_config_error(bad), "test.yml:2: core.ext: item 2 is empty in 'echo,,http'");
    il_config_destroy(&bad);
    il_config_destroy(&config);
}

/* Texts the loader refuses, with the expected message (after "test.yml:"). */
static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *expect;
    } cases[] = {
        {"core:\n  port: 1\n  port: 2\n", "3: core.port: duplicate key (first at line 2)"},
        {"a: 1\nb: 2\na: 3\n", "3: a: duplicate key (first at line 1)"},
        {"x: {k: 1, k: 2}\n", "1: x.k: duplicate key"},
        {"base: &b {x: 1}\nother: *b\n", "1: base: anchors (&b) are not allowed"},
        {"base: 1\nother: *b\n", "2: other: aliases (*b) are not allowed"},
        {"list:\n  - a\n  - &x b\n", "3: list[1]: anchors (&x) are not allowed"},
        {"- a\n- b\n", "1: the top level must be a mapping, found a sequence"},
        {"just text\n", "1: the top level must be a mapping, found a scalar"},
        {"'~'\n", "1: the top level must be a mapping, found a scalar"},
        {"a: 1\n---\nb: 2\n", "2: only one document is allowed"},
        {"a: 1\n...\n---\n", "3: only one document is allowed"},
        {"core:\n  port: 1\n bad: [\n", "3: "},
        {"a: 1\nb: 'unterminated\n", "3: found unexpected end of stream"},
        {"a: b: c\n", "1: mapping values are not allowed in this context"},
        {"a:\n\tb: 1\n", "2: found character that cannot start any token"},
        {"? [a, b]\n: 1\n", "1: a key must be a scalar, found a sequence"},
        {"core:\n  ? {a: 1}\n  : 1\n", "2: core: a key must be a scalar, found a mapping"},
        {"a: \"x\\0y\"\n", "1: a: a value must not contain a NUL character"},
        {"'': 1\n", "1: a key must not be empty"},
        {"a: \xff\n", "1: invalid"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        s_refuse(cases[i].text, err, sizeof err);
        char expect[256];
        snprintf(expect, sizeof expect, "test.yml:%s", cases[i].expect);
        if (strncmp(err, expect, strlen(expect)))
            fail_msg("for:\n%s\ngot:      %s\nexpected: %s", cases[i].text, err, expect);
    }
    /* err may be NULL, or too small: still refused, never overrun. */
    assert_null(il_config_load_string("- a\n", "test.yml", NULL, 0));
    char tiny[8];
    memset(tiny, 'z', sizeof tiny);
    assert_null(il_config_load_string("- a\n", "test.yml", tiny, 6));
    assert_string_equal(tiny, "test.");
    assert_int_equal(tiny[6], 'z');
}

/* "a: " followed by depth nested flow sequences (the top mapping is level 1). */
static char *s_nested(int depth)
{
    char *text = malloc(2 * (size_t)depth + 8);
    assert_non_null(text);
    char *p = text + sprintf(text, "a: ");
    for (int i = 0; i < depth; i++)
        *p++ = '[';
    for (int i = 0; i < depth; i++)
        *p++ = ']';
    strcpy(p, "\n");
    return text;
}

static void test_limits(void **state)
{
    (void)state;
    char *text = s_nested(31); /* 32 levels */
    il_config_t *config = s_load(text);
    assert_true(il_config_has(config, "a"));
    il_config_destroy(&config);
    free(text);

    char err[256] = "";
    text = s_nested(32); /* 33 levels */
    s_refuse(text, err, sizeof err);
    free(text);
    assert_contains(err, "test.yml:1: a");
    assert_contains(err, "nesting deeper than 32 levels");

    /* 1 MiB exactly is allowed, one byte more is not. */
    size_t size = 1024 * 1024;
    text = malloc(size + 2);
    assert_non_null(text);
    memset(text, '#', size);
    text[size - 1] = '\n';
    text[size] = '\0';
    config = s_load(text);
    il_config_destroy(&config);
    text[size - 1] = '#';
    text[size] = '\n';
    text[size + 1] = '\0';
    s_refuse(text, err, sizeof err);
    free(text);
    assert_contains(err, "test.yml: larger than 1 MiB");
}

static void test_check_keys(void **state)
{
    (void)state;
    il_config_t *config = s_load("core:\n"
                                 "  logLevel: info\n"
                                 "  lisen: tcp://*:1\n"
                                 "  bus: {router: x}\n"
                                 "extensions: {}\n"
                                 "scalar: 1\n");
    const char *const core_keys[] = {"logLevel", "logFile", "listen", "bus", NULL};
    assert_int_equal(il_config_check_keys(config, "core", core_keys), -1);
    assert_contains(il_config_error(config),
                    "test.yml:3: core.lisen: unknown key (known: logLevel, logFile, listen, bus)");

    const char *const top_keys[] = {"core", "extensions", "scalar", NULL};
    assert_int_equal(il_config_check_keys(config, "", top_keys), 0);
    assert_int_equal(il_config_check_keys(config, NULL, top_keys), 0);
    const char *const top_short[] = {"core", "scalar", NULL};
    assert_int_equal(il_config_check_keys(config, "", top_short), -1);
    assert_contains(il_config_error(config),
                    "test.yml:5: extensions: unknown key (known: core, scalar)");

    const char *const bus_keys[] = {"router", NULL};
    assert_int_equal(il_config_check_keys(config, "core.bus", bus_keys), 0);
    const char *const none[] = {NULL};
    assert_int_equal(il_config_check_keys(config, "core.bus", none), -1);
    assert_contains(il_config_error(config),
                    "test.yml:4: core.bus.router: unknown key (known: none)");
    assert_int_equal(il_config_check_keys(config, "extensions", none), 0); /* empty mapping */
    assert_int_equal(il_config_check_keys(config, "missing", none), 0);
    assert_int_equal(il_config_check_keys(config, "core.missing", none), 0);
    assert_int_equal(il_config_check_keys(config, "scalar", none), -1);
    assert_contains(il_config_error(config),
                    "test.yml:6: scalar: expected a mapping, found a scalar");
    il_config_destroy(&config);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *yaml = "core:\n  port: 5570\n  heartbeat: soon\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);

    char err[512] = "";
    il_config_t *config = il_config_load(path, err, sizeof err);
    if (!config) fail_msg("%s", err);
    assert_string_equal(err, "");
    assert_string_equal(il_config_name(config), path);
    int64_t port = 0;
    assert_int_equal(il_config_int(config, "core.port", 0, 1, 65535, &port), 0);
    assert_int_equal(port, 5570);
    int64_t ms = 0;
    assert_int_equal(il_config_duration(config, "core.heartbeat", 0, &ms), -1);
    char expect[128];
    snprintf(expect, sizeof expect, "%s:3: core.heartbeat: 'soon' is not a duration", path);
    assert_contains(il_config_error(config), expect);
    il_config_destroy(&config);

    /* A file over 1 MiB. */
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    for (int i = 0; i < 1024 * 1024 / 16 + 1; i++)
        fputs("# fifteen bytes\n", file);
    fclose(file);
    assert_null(il_config_load(path, err, sizeof err));
    snprintf(expect, sizeof expect, "%s: larger than 1 MiB", path);
    assert_contains(err, expect);

    /* A syntax error in a file names the file. */
    file = fopen(path, "w");
    assert_non_null(file);
    fputs("a: 1\nb: [\n", file);
    fclose(file);
    assert_null(il_config_load(path, err, sizeof err));
    snprintf(expect, sizeof expect, "%s:3: ", path);
    assert_contains(err, expect);

    unlink(path);
    assert_null(il_config_load(path, err, sizeof err));
    assert_contains(err, path);
    assert_contains(err, strerror(ENOENT));
    assert_null(il_config_load(path, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_and_flow),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_empty_configs),
        cmocka_unit_test(test_getter_errors),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_ints),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_check_keys),
        cmocka_unit_test(test_load_file),
    };
    return test_run_group(tests, NULL, NULL);
}
