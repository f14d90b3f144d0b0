/* test_fileio: unit tests of common/fileio (whole writes and reads, mkdir -p
 * with the failing prefix, fsync of a directory), on real files, pipes and
 * directories in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"

#define BIG (1 << 20) /* far more than a pipe holds: writes come back short */

static int s_setup(void **state)
{
    *state = test_tmpdir();
    return *state ? 0 : -1;
}

static int s_teardown(void **state)
{
    test_sh("rm -rf '%s'", (char *)*state);
    free(*state);
    return 0;
}

/* Reads a pipe to its end, counting the bytes and checking their pattern. */
typedef struct {
    int fd;
    size_t got;
    bool pattern_ok;
} s_reader_t;

static void *s_read_pipe(void *arg)
{
    s_reader_t *r = arg;
    r->pattern_ok = true;
    char buf[4096];
    ssize_t n;
    while ((n = read(r->fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++, r->got++)
            if (buf[i] != (char)(r->got % 251)) r->pattern_ok = false;
    return NULL;
}

static void test_write_all(void **state)
{
    char path[600];
    snprintf(path, sizeof path, "%s/data", (char *)*state);
    char *data = malloc(BIG);
    assert_non_null(data);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (char)(i % 251);

    /* a file: every byte */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(il_fileio_write_all(fd, data, BIG), 0);
    assert_int_equal(il_fileio_write_all(fd, data, 0), 0); /* nothing: fine */
    close(fd);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, BIG);

    /* a pipe, read slowly by another thread: many short writes, all delivered in order */
    int p[2];
    assert_int_equal(pipe(p), 0);
    s_reader_t reader = {p[0], 0, false};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_read_pipe, &reader), 0);
    assert_int_equal(il_fileio_write_all(p[1], data, BIG), 0);
    close(p[1]);
    pthread_join(thread, NULL);
    close(p[0]);
    assert_int_equal(reader.got, BIG);
    assert_true(reader.pattern_ok);

    /* a descriptor that cannot be written: -1 with errno */
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    errno = 0;
    assert_int_equal(il_fileio_write_all(fd, data, 10), -1);
    assert_int_equal(errno, EBADF);
    close(fd);
    free(data);
}

static void test_read_from(void **state)
{
    char path[600];
    snprintf(path, sizeof path, "%s/text", (char *)*state);
    assert_int_equal(test_write_file(path, "0123456789"), 0);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    char *data = NULL;
    size_t size = 99;
    assert_int_equal(il_fileio_read_from(fd, 0, &data, &size), 0);
    assert_int_equal(size, 10);
    assert_string_equal(data, "0123456789"); /* NUL-terminated */
    free(data);
    assert_int_equal(il_fileio_read_from(fd, 4, &data, &size), 0);
    assert_int_equal(size, 6);
    assert_string_equal(data, "456789");
    free(data);
    /* at and past the end: empty, still a string */
    assert_int_equal(il_fileio_read_from(fd, 10, &data, &size), 0);
    assert_int_equal(size, 0);
    assert_string_equal(data, "");
    free(data);
    assert_int_equal(il_fileio_read_from(fd, 1000, &data, &size), 0);
    assert_int_equal(size, 0);
    free(data);
    close(fd);

    /* a file with NUL bytes inside: all of them, by size */
    assert_int_equal(test_sh("printf 'a\\000b' > '%s'", path), 0);
    fd = open(path, O_RDONLY);
    assert_int_equal(il_fileio_read_from(fd, 0, &data, &size), 0);
    assert_int_equal(size, 3);
    assert_memory_equal(data, "a\0b", 4);
    free(data);
    close(fd);

    /* not a regular file: refused with the errno the header promises, nothing returned */
    data = NULL;
    fd = open((char *)*state, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(il_fileio_read_from(fd, 0, &data, &size), -1);
    assert_int_equal(errno, EISDIR);
    assert_null(data);
    close(fd);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(il_fileio_read_from(p[0], 0, &data, &size), -1);
    assert_int_equal(errno, EINVAL);
    assert_null(data);
    close(p[0]);
    close(p[1]);
    fd = open("/dev/null", O_RDONLY);
    assert_int_equal(il_fileio_read_from(fd, 0, &data, &size), -1);
    assert_int_equal(errno, EINVAL);
    close(fd);
    /* a closed descriptor */
    assert_int_equal(il_fileio_read_from(fd, 0, &data, &size), -1);
    assert_int_equal(errno, EBADF);
    assert_null(data);
}

static void test_mkdirs(void **state)
{
    const char *tmp = *state;
    char dir[700];
    struct stat st;
    /* new, nested, with a doubled and a trailing slash */
    snprintf(dir, sizeof dir, "%s/a//b/c/", tmp);
    assert_int_equal(il_fileio_mkdirs(dir), 0);
    snprintf(dir, sizeof dir, "%s/a/b/c", tmp);
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0755 & ~(unsigned)umask(umask(0)));
    /* existing: fine, and the path is left whole */
    char same[700];
    snprintf(same, sizeof same, "%s", dir);
    assert_int_equal(il_fileio_mkdirs(dir), 0);
    assert_string_equal(dir, same);

    /* a prefix that is a file: -1, ENOTDIR, and dir cut to that prefix */
    char file[700];
    snprintf(file, sizeof file, "%s/plain", tmp);
    assert_int_equal(test_write_file(file, "x"), 0);
    snprintf(dir, sizeof dir, "%s/plain/sub/deeper", tmp);
    assert_int_equal(il_fileio_mkdirs(dir), -1);
    assert_int_equal(errno, ENOTDIR);
    assert_string_equal(dir, file);
    /* the last component a file */
    snprintf(dir, sizeof dir, "%s", file);
    assert_int_equal(il_fileio_mkdirs(dir), -1);
    assert_int_equal(errno, ENOTDIR);
    assert_string_equal(dir, file);
    /* below a directory that cannot be entered (EACCES, unless root, who can) */
    if (geteuid() != 0) {
        char closed[700];
        snprintf(closed, sizeof closed, "%s/closed", tmp);
        assert_int_equal(mkdir(closed, 0), 0);
        snprintf(dir, sizeof dir, "%s/closed/x/y", tmp);
        assert_int_equal(il_fileio_mkdirs(dir), -1);
        assert_int_equal(errno, EACCES);
        char failed[700];
        snprintf(failed, sizeof failed, "%s/closed/x", tmp);
        assert_string_equal(dir, failed);
        chmod(closed, 0755);
    }
}

static void test_sync_dir(void **state)
{
    const char *tmp = *state;
    assert_int_equal(il_fileio_sync_dir(tmp), 0);
    assert_int_equal(il_fileio_sync_dir("/"), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/missing", tmp);
    errno = 0;
    assert_int_equal(il_fileio_sync_dir(path), -1);
    assert_int_equal(errno, ENOENT);
    snprintf(path, sizeof path, "%s/file", tmp);
    assert_int_equal(test_write_file(path, "x"), 0);
    assert_int_equal(il_fileio_sync_dir(path), -1);
    assert_int_equal(errno, ENOTDIR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_all, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_read_from, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_mkdirs, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sync_dir, s_setup, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
