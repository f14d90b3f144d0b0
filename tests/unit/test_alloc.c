/* test_alloc: unit tests of common/alloc, the allocation policy: the wrappers
 * copy as their libc counterparts do, and a failed allocation aborts the
 * process after saying how many bytes it wanted (run in a child process). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"

#define S_HUGE (SIZE_MAX - 4096) /* more than any allocator gives */

/* Under AddressSanitizer (make asan), let malloc return NULL for sizes past
 * its limit, as the libc allocator does, rather than report them itself. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void test_copies(void **state)
{
    (void)state;
    char *copy = il_strdup("web.example.com");
    assert_string_equal(copy, "web.example.com");
    free(copy);
    assert_null(il_strdup(NULL));
    copy = il_strndup("abcdef", 3);
    assert_string_equal(copy, "abc");
    free(copy);
    copy = il_strndup("ab", 10);
    assert_string_equal(copy, "ab");
    free(copy);
    assert_null(il_strndup(NULL, 3));

    unsigned char *zeros = il_calloc(64, 4);
    for (size_t i = 0; i < 256; i++)
        assert_int_equal(zeros[i], 0);
    zeros = il_realloc(zeros, 4096);
    zeros[4095] = 7;
    free(zeros);
    /* size 0: a pointer that can be freed, never NULL */
    void *none = il_malloc(0);
    assert_non_null(none);
    free(none);
    none = il_calloc(0, 8);
    assert_non_null(none);
    none = il_realloc(none, 0);
    assert_non_null(none);
    free(none);
}

/* Runs fn in a child whose log goes to a pipe; returns the child's wait
 * status and what it logged. */
static int s_in_child(void (*fn)(void), char *out, size_t outlen)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        il_log_setup("test_alloc", IL_LOG_INFO, "stderr");
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < outlen && (n = read(fds[0], out + len, outlen - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = 0;
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* Sizes no allocator can give: each wrapper aborts instead of returning NULL. */
static void s_malloc_huge(void)
{
    volatile size_t huge = S_HUGE;
    void *p = il_malloc(huge);
    fprintf(stderr, "returned %p\n", p);
}

static void s_calloc_overflow(void)
{
    volatile size_t count = SIZE_MAX / 2;
    void *p = il_calloc(count, 16);
    fprintf(stderr, "returned %p\n", p);
}

static void s_realloc_huge(void)
{
    void *p = il_malloc(16);
    volatile size_t huge = S_HUGE;
    p = il_realloc(p, huge);
    fprintf(stderr, "returned %p\n", p);
}

static void s_oom(void)
{
    il_oom(123);
}

static void test_failure_aborts(void **state)
{
    (void)state;
    char huge[64], overflow[64];
    snprintf(huge, sizeof huge, "out of memory allocating %zu bytes", (size_t)S_HUGE);
    snprintf(overflow, sizeof overflow, "out of memory allocating %zu bytes", (size_t)SIZE_MAX);
    const struct {
        void (*fn)(void);
        const char *said;
    } cases[] = {
        {s_malloc_huge, huge},
        {s_calloc_overflow, overflow},
        {s_realloc_huge, huge},
        {s_oom, "out of memory allocating 123 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[1024];
        int status = s_in_child(cases[i].fn, out, sizeof out);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
            fail_msg("case %zu: not aborted (status %d): %s", i, status, out);
        if (!strstr(out, cases[i].said) || !strstr(out, "ERROR"))
            fail_msg("case %zu: logged \"%s\"", i, out);
        assert_null(strstr(out, "returned"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copies),
        cmocka_unit_test(test_failure_aborts),
    };
    return test_run_group(tests, NULL, NULL);
}
