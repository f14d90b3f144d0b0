/* testrun: how every test binary runs its cmocka group. Each main() ends in
 * `return test_run_group(tests, setup, teardown);` instead of calling
 * cmocka_run_group_tests, so that one case can be run on its own:
 *   TEST_FILTER='test_restart*' build/release/tests/integration/test_core
 *   make test T=test_core F='test_restart*'
 * The Makefile includes this header into every test (-include): it includes
 * nothing that depends on feature macros, as a test may define _GNU_SOURCE. */
#ifndef INTERLOOK_TESTRUN_H
#define INTERLOOK_TESTRUN_H

#include <stddef.h>

/* A test binary's exit status when $TEST_FILTER matches none of its cases
 * (automake's "skipped"): not 0, so it never reads as a pass. */
#define TEST_SKIPPED 77

/* $TEST_FILTER, a glob (* and ?) over the case names as cmocka matches it,
 * or NULL when unset or empty. */
const char *test_filter(void);

/* How many of the n cases (the name of the first at first_name, the next
 * ones stride bytes apart) $TEST_FILTER matches: n when no filter is set.
 * When none matches, says so on standard output, naming the cases there are. */
size_t test_filter_count(const char *const *first_name, size_t stride, size_t n);

/* Runs the cmocka group tests (an array) with its setup and teardown, only
 * the cases $TEST_FILTER matches; returns cmocka's result (the number of
 * failed cases), or TEST_SKIPPED without running the group's setup when the
 * filter matches no case. */
#define test_run_group(tests, setup, teardown)                                                     \
    (test_filter_count(&(tests)[0].name, sizeof((tests)[0]), sizeof(tests) / sizeof((tests)[0]))   \
         ? (cmocka_set_test_filter(test_filter()), cmocka_run_group_tests(tests, setup, teardown)) \
         : TEST_SKIPPED)

#endif
