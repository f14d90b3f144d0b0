/* test_fileio_replace: unit tests of common/fileio's atomic replace of a file
 * (il_fileio_replace), positioned writes and the CRC-32C that seals records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

typedef struct {
    char dir[64];   /* the test's own directory */
    char path[128]; /* dir/state.db */
    char err[512];
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_fileio_replace.XXXXXX");
    if (!mkdtemp(fx->dir)) return -1;
    snprintf(fx->path, sizeof fx->path, "%s/state.db", fx->dir);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *fx = *state;
    test_rm_tree(fx->dir);
    free(fx);
    return 0;
}

/* The writer: writes the text it is given, or fails when it is NULL. */
static int s_writer(int fd, void *arg, char *err, size_t errlen)
{
    const char *text = arg;
    if (!text) {
        snprintf(err, errlen, "the writer gave up");
        return -1;
    }
    return il_fileio_write_all(fd, text, strlen(text));
}

static char *s_slurp(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    char *data = NULL;
    size_t size = 0;
    int rc = il_fileio_read_from(fd, 0, &data, &size);
    close(fd);
    return rc == 0 ? data : NULL;
}

/* Files in the directory whose name holds ".tmp.". */
static int s_temps(const fixture_t *fx)
{
    DIR *d = opendir(fx->dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strstr(de->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static void test_replace_creates_and_replaces(void **state)
{
    fixture_t *fx = *state;
    int fd = -1;
    assert_int_equal(il_fileio_replace(fx->path, s_writer, "first\n", &fd, fx->err, sizeof fx->err),
                     0);
    assert_true(fd >= 0);
    char *text = s_slurp(fx->path);
    assert_string_equal(text, "first\n");
    free(text);
    /* The descriptor is the new file's, open for writing at its end and for reading. */
    assert_int_equal(il_fileio_write_all(fd, "more\n", 5), 0);
    char buf[16] = "";
    assert_int_equal(pread(fd, buf, sizeof buf - 1, 0), 11);
    assert_string_equal(buf, "first\nmore\n");
    struct stat mine, there;
    assert_int_equal(fstat(fd, &mine), 0);
    assert_int_equal(stat(fx->path, &there), 0);
    assert_int_equal(mine.st_ino, there.st_ino);
    close(fd);
    assert_int_equal(s_temps(fx), 0);
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(there.st_mode & 0777, 0644 & ~mask);

    /* A replace is a rename: a hard link to the old file keeps the old bytes. */
    char old[192];
    snprintf(old, sizeof old, "%s/old", fx->dir);
    assert_int_equal(link(fx->path, old), 0);
    assert_int_equal(
        il_fileio_replace(fx->path, s_writer, "second\n", NULL, fx->err, sizeof fx->err), 0);
    text = s_slurp(fx->path);
    assert_string_equal(text, "second\n");
    free(text);
    text = s_slurp(old);
    assert_string_equal(text, "first\nmore\n");
    free(text);
    assert_int_equal(s_temps(fx), 0);
}

static void test_replace_failures_keep_the_file(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(il_fileio_replace(fx->path, s_writer, "kept\n", NULL, fx->err, sizeof fx->err),
                     0);
    struct stat before, after;
    assert_int_equal(stat(fx->path, &before), 0);

    /* The writer fails: its reason, the file untouched, no temporary left. */
    int fd = 7;
    assert_int_equal(il_fileio_replace(fx->path, s_writer, NULL, &fd, fx->err, sizeof fx->err), -1);
    assert_int_equal(fd, -1);
    assert_contains(fx->err, "the writer gave up");
    assert_int_equal(stat(fx->path, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(s_temps(fx), 0);
    char *text = s_slurp(fx->path);
    assert_string_equal(text, "kept\n");
    free(text);

    /* The rename fails (the path is a non-empty directory). */
    char dir[192], inside[256];
    snprintf(dir, sizeof dir, "%s/taken", fx->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(inside, sizeof inside, "%s/x", dir);
    assert_int_equal(il_fileio_replace(inside, s_writer, "x\n", NULL, fx->err, sizeof fx->err), 0);
    assert_int_equal(il_fileio_replace(dir, s_writer, "y\n", NULL, fx->err, sizeof fx->err), -1);
    assert_contains(fx->err, dir);
    assert_contains(fx->err, ": rename ");
    assert_int_equal(s_temps(fx), 0);

    /* The temporary file cannot be created (no such directory). */
    char nowhere[192];
    snprintf(nowhere, sizeof nowhere, "%s/missing/state.db", fx->dir);
    assert_int_equal(il_fileio_replace(nowhere, s_writer, "z\n", NULL, fx->err, sizeof fx->err),
                     -1);
    assert_contains(fx->err, nowhere);
    assert_contains(fx->err, ": create ");
    assert_contains(fx->err, strerror(ENOENT));

    /* A path without a directory part is in the current one. */
    char cwd[256];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(fx->dir), 0);
    assert_int_equal(il_fileio_replace("here.db", s_writer, "h\n", NULL, fx->err, sizeof fx->err),
                     0);
    assert_int_equal(chdir(cwd), 0);
    char here[192];
    snprintf(here, sizeof here, "%s/here.db", fx->dir);
    text = s_slurp(here);
    assert_string_equal(text, "h\n");
    free(text);
}

static void test_pwrite_all(void **state)
{
    fixture_t *fx = *state;
    int fd = -1;
    assert_int_equal(
        il_fileio_replace(fx->path, s_writer, "0123456789", &fd, fx->err, sizeof fx->err), 0);
    assert_int_equal(il_fileio_pwrite_all(fd, "ab", 2, 3), 0);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 10); /* the position did not move */
    assert_int_equal(il_fileio_pwrite_all(fd, "XY", 2, 12), 0);
    close(fd);
    char *text = s_slurp(fx->path);
    assert_memory_equal(text, "012ab56789\0\0XY", 14);
    free(text);
    assert_int_equal(il_fileio_pwrite_all(-1, "a", 1, 0), -1);
    assert_int_equal(errno, EBADF);
}

/* CRC-32C, bit by bit, as the reference. */
static uint32_t s_crc_ref(const unsigned char *p, size_t len)
{
    uint32_t crc = 0xffffffff;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78 : crc >> 1;
    }
    return ~crc;
}

static void test_crc32c(void **state)
{
    (void)state;
    /* The standard check value, and the empty input. */
    assert_int_equal(il_fileio_crc32c(0, "123456789", 9), 0xe3069283);
    assert_int_equal(il_fileio_crc32c(0, "", 0), 0);
    /* Every length and alignment up to a few words, in one piece and in two. */
    unsigned char data[80];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37 + 11);
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; off + len <= sizeof data; len++) {
            uint32_t want = s_crc_ref(data + off, len);
            assert_int_equal(il_fileio_crc32c(0, data + off, len), want);
            size_t half = len / 3;
            uint32_t part = il_fileio_crc32c(0, data + off, half);
            assert_int_equal(il_fileio_crc32c(part, data + off + half, len - half), want);
        }
    }
    /* One changed bit changes it. */
    uint32_t crc = il_fileio_crc32c(0, data, sizeof data);
    data[40] ^= 0x10;
    assert_true(il_fileio_crc32c(0, data, sizeof data) != crc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replace_creates_and_replaces, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_replace_failures_keep_the_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_pwrite_all, s_setup, s_teardown),
        cmocka_unit_test(test_crc32c),
    };
    return test_run_group(tests, NULL, NULL);
}
