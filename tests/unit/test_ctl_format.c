/* test_ctl_format: unit tests of core/ctl/ctl_format (interlookctl's text
 * helpers: ages, delays, API times, targets, text cleaned for a terminal). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctl/ctl_format.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void test_age(void **state)
{
    (void)state;
    static const struct {
        int64_t seconds;
        const char *text;
    } ages[] = {{-3, "0s"},           {0, "0s"},      {5, "5s"},     {59, "59s"},
                {60, "1m"},           {180, "3m"},    {3599, "59m"}, {3600, "1h"},
                {7200, "2h"},         {86399, "23h"}, {86400, "1d"}, {4 * 86400, "4d"},
                {INT64_MAX / 2, NULL}};
    char buf[64];
    for (size_t i = 0; i < COUNT(ages); i++) {
        ctl_format_age(ages[i].seconds, buf, sizeof buf);
        if (ages[i].text)
            assert_string_equal(buf, ages[i].text);
        else /* huge: still days, a number and the unit */
            assert_int_equal(buf[strlen(buf) - 1], 'd');
    }
    /* a short buffer: cut, always terminated */
    char small[3];
    ctl_format_age(4 * 86400 * 100, small, sizeof small);
    assert_string_equal(small, "40");
}

static void test_ago_ms(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *text;
    } cases[] = {{-5, "0ms ago"},    {0, "0ms ago"},     {120, "120ms ago"}, {999, "999ms ago"},
                 {1000, "1.0s ago"}, {2500, "2.5s ago"}, {2599, "2.5s ago"}, {59999, "59.9s ago"},
                 {60000, "1m ago"},  {180000, "3m ago"}, {7200000, "2h ago"}};
    char buf[64];
    for (size_t i = 0; i < COUNT(cases); i++) {
        ctl_format_ago_ms(cases[i].ms, buf, sizeof buf);
        assert_string_equal(buf, cases[i].text);
    }
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(ctl_format_parse_time("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(ctl_format_parse_time("1970-01-01T00:01:00.250Z", &ms), 0);
    assert_int_equal(ms, 60250);
    assert_int_equal(ctl_format_parse_time("1970-01-01T00:00:01.5Z", &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(ctl_format_parse_time("1970-01-01T00:00:01.123456Z", &ms), 0);
    assert_int_equal(ms, 1123); /* beyond milliseconds: dropped */
    assert_int_equal(ctl_format_parse_time("2026-11-25T10:00:00Z", &ms), 0);
    assert_int_equal(ms, INT64_C(1795600800000));
    /* refused, and *ms left alone */
    static const char *const bad[] = {"2026-11-25 10:00:00",   "yesterday",
                                      "2026-11-25T10:00:00",   "2026-11-25T10:00:00z",
                                      "2026-13-01T00:00:00Z",  "2026-00-01T00:00:00Z",
                                      "2026-01-32T00:00:00Z",  "2026-01-01T24:00:00Z",
                                      "2026-01-01T00:60:00Z",  "1969-12-31T23:59:59Z",
                                      "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00ZZ",
                                      "26-01-01T00:00:00Z",    ""};
    for (size_t i = 0; i < COUNT(bad); i++) {
        ms = 42;
        if (ctl_format_parse_time(bad[i], &ms) != -1) fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(ms, 42);
    }
    assert_int_equal(ctl_format_parse_time(NULL, &ms), -1);
}

static void test_now(void **state)
{
    (void)state;
    char buf[64];
    ctl_format_now(buf, sizeof buf);
    assert_int_equal(strlen(buf), strlen("2026-11-25T10:00:00.123Z"));
    int64_t ms = 0;
    assert_int_equal(ctl_format_parse_time(buf, &ms), 0);
    int64_t real = (int64_t)time(NULL) * 1000;
    assert_true(ms > real - 5000 && ms < real + 5000);
}

static void test_clean(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t max;
        const char *clean;
    } cases[] = {
        {"abcdefgh", 6, "abc..."},
        {"abcdef", 6, "abcdef"},
        {"abcdefg", 0, "abcdefg"},
        {"abcdef", 2, ".."},
        {"tab\there\x1b[2J", 0, "tab?here?[2J"},
        {"del\x7f", 0, "del?"},
        {"c1\xc2\x85!", 0, "c1?!"},                         /* NEL, a C1 control character */
        {"bad\xff\xfe", 0, "bad??"},                        /* not UTF-8 */
        {"cut\xc3", 0, "cut?"},                             /* a character cut short */
        {"h\xc3\xa9h\xc3\xa9h\xc3\xa9", 5, "h\xc3\xa9..."}, /* cut between characters */
        {"\xe2\x82\xac\xe2\x82\xac", 0, "\xe2\x82\xac\xe2\x82\xac"},
        {NULL, 0, "-"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char *text = ctl_format_clean(cases[i].text, cases[i].max);
        assert_non_null(text);
        if (strcmp(text, cases[i].clean))
            fail_msg("case %zu: '%s' (max %zu) gave '%s', not '%s'", i,
                     cases[i].text ? cases[i].text : "(null)", cases[i].max, text, cases[i].clean);
        if (cases[i].max) assert_true(ctl_format_width(text) <= cases[i].max);
        free(text);
    }
}

static void test_width(void **state)
{
    (void)state;
    assert_int_equal(ctl_format_width(""), 0);
    assert_int_equal(ctl_format_width("abc"), 3);
    assert_int_equal(ctl_format_width("h\xc3\xa9"), 2);
    assert_int_equal(ctl_format_width("\xe2\x82\xac\xf0\x9f\x98\x80"), 2);
}

static void test_target(void **state)
{
    (void)state;
    char buf[128];
    static const struct {
        const char *json;
        bool with_weight;
        int rc;
        const char *text;
    } cases[] = {
        {"{\"host\":\"10.0.0.1\",\"port\":80,\"weight\":1}", true, 0, "10.0.0.1:80"},
        {"{\"host\":\"10.0.0.1\",\"port\":80,\"weight\":3}", true, 0, "10.0.0.1:80x3"},
        {"{\"host\":\"10.0.0.1\",\"port\":80,\"weight\":3}", false, 0, "10.0.0.1:80"},
        {"{\"host\":\"10.0.0.1\",\"port\":80}", true, 0, "10.0.0.1:80"},
        {"{\"host\":\"fd00::1\",\"port\":443,\"weight\":2}", true, 0, "[fd00::1]:443x2"},
        {"{\"host\":\"evil\\u001b[2J\",\"port\":1}", true, 0, "evil?[2J:1"},
        {"{\"host\":\"10.0.0.1\"}", true, -1, NULL},
        {"{\"host\":\"10.0.0.1\",\"port\":\"80\"}", true, -1, NULL},
        {"{\"port\":80}", true, -1, NULL},
        {"[1]", true, -1, NULL},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        json_t *item = json_loads(cases[i].json, 0, NULL);
        assert_non_null(item);
        strcpy(buf, "untouched");
        int rc = ctl_format_target(item, cases[i].with_weight, buf, sizeof buf);
        json_decref(item);
        if (rc != cases[i].rc) fail_msg("case %zu (%s): %d", i, cases[i].json, rc);
        if (cases[i].text) assert_string_equal(buf, cases[i].text);
    }
}

static void test_targets(void **state)
{
    (void)state;
    json_t *targets = json_loads("[{\"host\":\"10.0.0.1\",\"port\":80,\"weight\":1},"
                                 "{\"host\":\"10.0.0.2\",\"port\":80,\"weight\":3},"
                                 "\"not a target\","
                                 "{\"host\":\"fd00::1\",\"port\":443,\"weight\":1}]",
                                 0, NULL);
    assert_non_null(targets);
    char *text = ctl_format_targets(targets, 0);
    assert_string_equal(text, "10.0.0.1:80,10.0.0.2:80x3,[fd00::1]:443");
    free(text);
    text = ctl_format_targets(targets, 39); /* exactly wide enough */
    assert_string_equal(text, "10.0.0.1:80,10.0.0.2:80x3,[fd00::1]:443");
    free(text);
    text = ctl_format_targets(targets, 38);
    assert_string_equal(text, "10.0.0.1:80,10.0.0.2:80x3 (+1 more)");
    free(text);
    text = ctl_format_targets(targets, 30);
    assert_string_equal(text, "10.0.0.1:80 (+2 more)");
    free(text);
    text = ctl_format_targets(targets, 12); /* the first alone does not fit: cut */
    assert_true(ctl_format_width(text) <= 12 + strlen(" (+2 more)"));
    assert_contains(text, "...");
    assert_contains(text, "(+2 more)");
    free(text);
    json_decref(targets);
    text = ctl_format_targets(NULL, 40);
    assert_string_equal(text, "-");
    free(text);
    json_t *none = json_loads("[\"x\", {\"port\": 1}]", 0, NULL);
    text = ctl_format_targets(none, 40);
    assert_string_equal(text, "-");
    free(text);
    json_decref(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_age),        cmocka_unit_test(test_ago_ms),
        cmocka_unit_test(test_parse_time), cmocka_unit_test(test_now),
        cmocka_unit_test(test_clean),      cmocka_unit_test(test_width),
        cmocka_unit_test(test_target),     cmocka_unit_test(test_targets),
    };
    return test_run_group(tests, NULL, NULL);
}
