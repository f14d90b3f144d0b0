/* asserts: the assertions the tests add to cmocka's, in one place. Include it
 * instead of cmocka.h (it brings cmocka and what cmocka needs first). Each
 * failure message shows both sides. */
#ifndef INTERLOOK_ASSERTS_H
#define INTERLOOK_ASSERTS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

/* haystack (a string, may be NULL) contains needle. */
#define assert_contains(haystack, needle)                                                          \
    do {                                                                                           \
        const char *h_ = (haystack), *n_ = (needle);                                               \
        if (!h_ || !strstr(h_, n_))                                                                \
            fail_msg("'%s' does not contain '%s'", h_ ? h_ : "(null)", n_);                        \
    } while (0)

/* haystack (a string, not NULL) does not contain needle. */
#define assert_not_contains(haystack, needle)                                                      \
    do {                                                                                           \
        const char *h_ = (haystack), *n_ = (needle);                                               \
        if (!h_ || strstr(h_, n_)) fail_msg("'%s' contains '%s'", h_ ? h_ : "(null)", n_);         \
    } while (0)

#endif
