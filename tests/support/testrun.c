/* testrun: the $TEST_FILTER of the test binaries, see testrun.h. It does not
 * call cmocka itself (the macro does, in the test), so that the benchmarks,
 * which link the support objects without cmocka, need not link it. */
#include "tests/support/testrun.h"

#include <stdio.h>
#include <stdlib.h>

const char *test_filter(void)
{
    const char *pattern = getenv("TEST_FILTER");
    return pattern && *pattern ? pattern : NULL;
}

/* The glob of cmocka's own filter (c_strmatch): '*' any run, '?' one character. */
static int s_match(const char *str, const char *pattern)
{
    for (;; pattern++, str++) {
        if (*pattern == '\0') return *str == '\0';
        if (*pattern == '*') {
            while (*pattern == '*')
                pattern++;
            if (*pattern == '\0') return 1;
            for (; *str; str++)
                if (s_match(str, pattern)) return 1;
            return 0;
        }
        if (*str == '\0') return 0;
        if (*pattern != '?' && *str != *pattern) return 0;
    }
}

size_t test_filter_count(const char *const *first_name, size_t stride, size_t n)
{
    const char *pattern = test_filter();
    if (!pattern) return n;
    size_t matched = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = *(const char *const *)((const char *)first_name + i * stride);
        if (name && s_match(name, pattern)) matched++;
    }
    if (matched == 0) {
        printf("no test matches TEST_FILTER='%s'; the cases here:", pattern);
        for (size_t i = 0; i < n; i++) {
            const char *name = *(const char *const *)((const char *)first_name + i * stride);
            printf(" %s", name ? name : "(null)");
        }
        printf("\n");
    }
    return matched;
}
