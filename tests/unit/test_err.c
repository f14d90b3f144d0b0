/* test_err: unit tests of common/err (il_err, il_err_add): the reason
 * written, lines appended in order, cut where the buffer ends. */
#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

#include <string.h>

#include "common/err.h"

static void test_err(void **state)
{
    (void)state;
    char err[8];
    assert_int_equal(il_err(err, sizeof err, "bad %s", "key"), -1);
    assert_string_equal(err, "bad key");
    assert_int_equal(il_err(err, sizeof err, "%s", "much too long"), -1);
    assert_string_equal(err, "much to");
    assert_int_equal(il_err(NULL, 0, "nothing"), -1);
}

static void test_err_add(void **state)
{
    (void)state;
    char err[24] = "";
    assert_int_equal(il_err_add(err, sizeof err, "a: %d", 1), -1);
    assert_string_equal(err, "a: 1");
    il_err_add(err, sizeof err, "b: %d", 2);
    assert_string_equal(err, "a: 1\nb: 2");
    il_err_add(err, sizeof err, "c: a longer line");
    assert_string_equal(err, "a: 1\nb: 2\nc: a longer l"); /* cut at the end */
    il_err_add(err, sizeof err, "d");                      /* full: nothing more */
    assert_string_equal(err, "a: 1\nb: 2\nc: a longer l");
    assert_int_equal(il_err_add(NULL, 0, "x"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_err), cmocka_unit_test(test_err_add)};
    return test_run_group(tests, NULL, NULL);
}
