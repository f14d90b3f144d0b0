/* test_alloc_db: unit tests of extensions/ipalloc/alloc_db (log format, replay,
 * torn tails, corruption, locking between handles and processes, compaction). */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "extensions/ipalloc/alloc_db.h"

#define HEADER    "# interlook-ipalloc 1\n" /* the older format, which hand-made files use */
#define HEADER_V2 "# interlook-ipalloc 2\n"

typedef struct {
    char dir[64];   /* the test's own directory under /tmp */
    char path[128]; /* the db file, two directories below (created by open) */
    char err[512];
} fixture_t;

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_alloc_db.XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof fx->path, "%s/var/ipalloc/alloc.db", fx->dir);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *fx = *state;
    nftw(fx->dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* ---- helpers ----------------------------------------------------------------- */

static alloc_db_t *s_open(const char *path)
{
    char err[512] = "";
    alloc_db_t *db = alloc_db_open(path, err, sizeof err);
    if (!db) fail_msg("open failed: %s", err);
    return db;
}

/* Opens a db that must be refused; returns the message in err. */
static void s_refuse(const char *path, char *err, size_t errlen)
{
    err[0] = '\0';
    alloc_db_t *db = alloc_db_open(path, err, errlen);
    if (db) {
        alloc_db_destroy(&db);
        fail_msg("%s opened, but should be refused", path);
    }
    assert_true(err[0] != '\0');
}

/* The whole file as a string (caller frees); NULL when it cannot be read. */
static char *s_slurp(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file) return NULL;
    zchunk_t *chunk = zchunk_read(file, 64 * 1024 * 1024);
    fclose(file);
    if (!chunk) return NULL;
    char *text = malloc(zchunk_size(chunk) + 1);
    memcpy(text, zchunk_data(chunk), zchunk_size(chunk));
    text[zchunk_size(chunk)] = '\0';
    zchunk_destroy(&chunk);
    return text;
}

static size_t s_count_lines(const char *path)
{
    char *text = s_slurp(path);
    assert_non_null(text);
    size_t n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    free(text);
    return n;
}

static void s_write(const char *path, const char *text, const char *mode)
{
    FILE *file = fopen(path, mode);
    assert_non_null(file);
    assert_int_equal(fwrite(text, 1, strlen(text), file), strlen(text));
    assert_int_equal(fclose(file), 0);
}

static off_t s_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static ino_t s_inode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

/* A record line as the format defines it, hashed by the test's own FNV-1a 64
 * over "<op> <ip> <ms> <name>". */
static char *s_line(char *buf, size_t len, char op, const char *ip, const char *ms,
                    const char *name)
{
    char body[512];
    snprintf(body, sizeof body, "%c %s %s %s", op, ip, ms, name);
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)body; *p; p++) {
        hash ^= *p;
        hash *= 0x100000001b3ULL;
    }
    snprintf(buf, len, "%c %s %s %016" PRIx64 " %s\n", op, ip, ms, hash, name);
    return buf;
}

static uint64_t s_fnv(uint64_t hash, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        hash ^= *p;
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

/* A commit slot line as the format defines it. */
static char *s_slot(char *buf, size_t len, uint64_t seq, uint64_t end)
{
    char body[64];
    snprintf(body, sizeof body, "commit %020" PRIu64 " %020" PRIu64, seq, end);
    snprintf(buf, len, "# %s %016" PRIx64 "\n", body, s_fnv(0xcbf29ce484222325ULL, body));
    return buf;
}

/* Appends to text the trailer of the group that begins at text + start:
 * "C <seq> <n> <hash>", hash the FNV-1a 64 chained from *chain over the
 * group's lines and "C <seq> <n>"; *chain becomes it. */
static void s_trailer(char *text, size_t cap, size_t start, uint64_t seq, size_t n, uint64_t *chain)
{
    char body[64];
    snprintf(body, sizeof body, "C %" PRIu64 " %zu", seq, n);
    *chain = s_fnv(s_fnv(*chain, text + start), body);
    snprintf(text + strlen(text), cap - strlen(text), "%s %016" PRIx64 "\n", body, *chain);
}

#define PREAMBLE (sizeof HEADER_V2 - 1 + 2 * 68) /* header and two slots */

/* Allocates in a batch of its own; fails the test otherwise. */
static void s_allocate(alloc_db_t *db, const char *name, const char *ip, int64_t ms)
{
    char err[512] = "";
    if (alloc_db_begin(db, err, sizeof err) != 0) fail_msg("begin: %s", err);
    assert_int_equal(alloc_db_stage_allocate(db, name, ip, ms), 0);
    if (alloc_db_commit(db, err, sizeof err) != 0) fail_msg("commit: %s", err);
}

static void s_begin(alloc_db_t *db)
{
    char err[512] = "";
    if (alloc_db_begin(db, err, sizeof err) != 0) fail_msg("begin: %s", err);
}

static void s_commit(alloc_db_t *db)
{
    char err[512] = "";
    if (alloc_db_commit(db, err, sizeof err) != 0) fail_msg("commit: %s", err);
}

/* True when the lock file can be taken right now (nobody holds it). */
static bool s_lock_free(const char *path)
{
    char lock[256];
    snprintf(lock, sizeof lock, "%s.lock", path);
    int fd = open(lock, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    bool free_now = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd); /* releases it if taken */
    return free_now;
}

/* Sends warnings to a file of the test's directory. */
static void s_log_to(const fixture_t *fx, char *logpath, size_t len)
{
    snprintf(logpath, len, "%s/test.log", fx->dir);
    assert_int_equal(il_log_setup("test_alloc_db", IL_LOG_WARN, logpath), 0);
}

static void s_log_restore(void)
{
    il_log_setup(NULL, IL_LOG_WARN, "stderr");
}

typedef struct {
    size_t n;
    int64_t sum_ms;
    bool found_b;
} s_tally_t;

static void s_tally(void *arg, const alloc_db_entry_t *entry)
{
    s_tally_t *tally = arg;
    tally->n++;
    tally->sum_ms += entry->time_ms;
    if (!strcmp(entry->name, "svc b") && !strcmp(entry->ip, "10.0.0.2")) tally->found_b = true;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_create(void **state)
{
    fixture_t *fx = *state;
    alloc_db_t *db = s_open(fx->path);
    assert_string_equal(alloc_db_path(db), fx->path);
    assert_int_equal(alloc_db_count(db), 0);
    assert_int_equal(alloc_db_log_records(db), 0);
    char *text = s_slurp(fx->path);
    assert_non_null(text);
    char empty[512], slot[128];
    snprintf(empty, sizeof empty, "%s", HEADER_V2);
    strcat(empty, s_slot(slot, sizeof slot, 0, PREAMBLE));
    strcat(empty, s_slot(slot, sizeof slot, 0, PREAMBLE));
    assert_int_equal(strlen(empty), PREAMBLE);
    assert_string_equal(text, empty);
    free(text);
    char lock[256];
    snprintf(lock, sizeof lock, "%s.lock", fx->path);
    assert_int_equal(access(lock, F_OK), 0);
    assert_true(s_lock_free(fx->path)); /* open does not keep the lock */
    alloc_db_destroy(&db);
    assert_null(db);
    alloc_db_destroy(&db); /* idempotent */

    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 0);
    alloc_db_destroy(&db);
    text = s_slurp(fx->path);
    assert_string_equal(text, empty); /* reopening writes nothing */
    free(text);

    /* A parent that is a file, an empty path, a directory. */
    char bad[256];
    snprintf(bad, sizeof bad, "%s/alloc.db", fx->path);
    s_refuse(bad, fx->err, sizeof fx->err);
    assert_contains(fx->err, "cannot create directory");
    s_refuse("", fx->err, sizeof fx->err);
    s_refuse(fx->dir, fx->err, sizeof fx->err);
    assert_contains(fx->err, "is a directory");
    char dirlock[128];
    snprintf(dirlock, sizeof dirlock, "%s.lock", fx->dir);
    assert_int_equal(access(dirlock, F_OK), -1); /* refused before creating anything */
}

static void test_allocate_release(void **state)
{
    fixture_t *fx = *state;
    alloc_db_t *db = s_open(fx->path);
    char err[512] = "";

    /* Outside a batch: staging and commit are refused, lookups answer. */
    assert_int_equal(alloc_db_stage_allocate(db, "svc-a", "10.0.0.1", 1000), -1);
    assert_int_equal(alloc_db_stage_release(db, "svc-a", 1000), -1);
    assert_int_equal(alloc_db_commit(db, err, sizeof err), -1);
    assert_contains(err, "no batch open");
    alloc_db_abort(db); /* no-op */
    assert_null(alloc_db_ip_of(db, "svc-a"));
    assert_int_equal(alloc_db_count(db), 0);

    s_begin(db);
    assert_int_equal(alloc_db_begin(db, err, sizeof err), -1);
    assert_contains(err, "already open");
    assert_false(s_lock_free(fx->path));
    assert_int_equal(alloc_db_stage_allocate(db, "svc-a", "10.0.0.1", 1000), 0);
    assert_int_equal(alloc_db_stage_allocate(db, "svc b", "10.0.0.2", 2000), 0);
    assert_int_equal(alloc_db_stage_allocate(db, "svc-a", "10.0.0.3", 1000), -1); /* name */
    assert_int_equal(alloc_db_stage_allocate(db, "svc-c", "10.0.0.1", 1000), -1); /* ip */
    assert_int_equal(alloc_db_stage_release(db, "nobody", 1000), -1);
    /* Bad input. */
    char longname[300];
    memset(longname, 'x', 256);
    longname[256] = '\0';
    assert_int_equal(alloc_db_stage_allocate(db, longname, "10.0.0.5", 1), -1);
    assert_int_equal(alloc_db_stage_allocate(db, "new\nline", "10.0.0.5", 1), -1);
    assert_int_equal(alloc_db_stage_allocate(db, "tab\there", "10.0.0.5", 1), -1);
    assert_int_equal(alloc_db_stage_allocate(db, "del\x7f", "10.0.0.5", 1), -1);
    assert_int_equal(alloc_db_stage_allocate(db, "", "10.0.0.5", 1), -1);
    assert_int_equal(alloc_db_stage_allocate(db, "svc-e", "", 1), -1);
    assert_int_equal(alloc_db_stage_allocate(db, "svc-e", "10.0.0.5 x", 1), -1);
    assert_int_equal(alloc_db_stage_allocate(db, "svc-e", "10.0.0.5", -1), -1);
    longname[255] = '\0'; /* 255 bytes: the longest name */
    assert_int_equal(alloc_db_stage_allocate(db, longname, "10.0.0.6", 3000), 0);
    /* Staged changes show at once. */
    assert_string_equal(alloc_db_ip_of(db, "svc-a"), "10.0.0.1");
    assert_string_equal(alloc_db_holder_of(db, "10.0.0.2"), "svc b");
    s_commit(db);
    assert_true(s_lock_free(fx->path));
    assert_int_equal(alloc_db_log_records(db), 3);

    /* The file holds exactly the documented lines: the header, the slots
     * (group 1 in slot 1, the empty file's claim still in slot 0), the
     * group's records and its trailer. */
    char body[2048], expect[2048], line[512], slot[128];
    snprintf(body, sizeof body, "%s", "");
    strcat(body, s_line(line, sizeof line, 'A', "10.0.0.1", "1000", "svc-a"));
    strcat(body, s_line(line, sizeof line, 'A', "10.0.0.2", "2000", "svc b"));
    strcat(body, s_line(line, sizeof line, 'A', "10.0.0.6", "3000", longname));
    uint64_t chain = 0xcbf29ce484222325ULL;
    s_trailer(body, sizeof body, 0, 1, 3, &chain);
    snprintf(expect, sizeof expect, "%s", HEADER_V2);
    strcat(expect, s_slot(slot, sizeof slot, 0, PREAMBLE));
    strcat(expect, s_slot(slot, sizeof slot, 1, PREAMBLE + strlen(body)));
    strcat(expect, body);
    char *text = s_slurp(fx->path);
    assert_string_equal(text, expect);
    free(text);
    alloc_db_destroy(&db);

    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 3);
    assert_string_equal(alloc_db_ip_of(db, "svc-a"), "10.0.0.1");
    assert_string_equal(alloc_db_ip_of(db, "svc b"), "10.0.0.2");
    assert_string_equal(alloc_db_holder_of(db, "10.0.0.6"), longname);
    assert_null(alloc_db_holder_of(db, "10.0.0.3"));
    s_tally_t tally = {0};
    alloc_db_foreach(db, s_tally, &tally);
    assert_int_equal(tally.n, 3);
    assert_int_equal(tally.sum_ms, 6000);
    assert_true(tally.found_b);

    s_begin(db);
    assert_int_equal(alloc_db_stage_release(db, "svc-a", 4000), 0);
    assert_int_equal(alloc_db_stage_release(db, "svc-a", 4000), -1); /* holds nothing now */
    assert_null(alloc_db_holder_of(db, "10.0.0.1"));
    s_commit(db);
    alloc_db_destroy(&db);

    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 2);
    assert_int_equal(alloc_db_log_records(db), 4);
    assert_null(alloc_db_ip_of(db, "svc-a"));
    assert_null(alloc_db_holder_of(db, "10.0.0.1"));
    s_allocate(db, "svc-c", "10.0.0.1", 5000); /* a released address is free again */
    alloc_db_destroy(&db);
    db = s_open(fx->path);
    assert_string_equal(alloc_db_holder_of(db, "10.0.0.1"), "svc-c");
    alloc_db_destroy(&db);
}

static void test_abort(void **state)
{
    fixture_t *fx = *state;
    alloc_db_t *db = s_open(fx->path);
    s_allocate(db, "keep", "10.0.0.1", 1);
    char *before = s_slurp(fx->path);
    uint64_t syncs = alloc_db_syncs(db);

    s_begin(db);
    assert_int_equal(alloc_db_stage_allocate(db, "new", "10.0.0.2", 2), 0);
    assert_int_equal(alloc_db_stage_release(db, "keep", 3), 0);
    assert_int_equal(alloc_db_stage_allocate(db, "keep", "10.0.0.3", 4), 0);
    assert_int_equal(alloc_db_stage_allocate(db, "other", "10.0.0.1", 5), 0);
    assert_int_equal(alloc_db_stage_release(db, "new", 6), 0);
    assert_int_equal(alloc_db_count(db), 2);
    alloc_db_abort(db);
    assert_true(s_lock_free(fx->path));
    assert_int_equal(alloc_db_count(db), 1);
    assert_string_equal(alloc_db_ip_of(db, "keep"), "10.0.0.1");
    assert_string_equal(alloc_db_holder_of(db, "10.0.0.1"), "keep");
    assert_null(alloc_db_ip_of(db, "new"));
    assert_null(alloc_db_ip_of(db, "other"));
    assert_null(alloc_db_holder_of(db, "10.0.0.3"));
    assert_int_equal(alloc_db_syncs(db), syncs);

    /* An empty batch commits without writing or syncing. */
    s_begin(db);
    s_commit(db);
    assert_int_equal(alloc_db_syncs(db), syncs);
    char *after = s_slurp(fx->path);
    assert_string_equal(after, before);
    free(after);
    free(before);

    /* Destroy aborts an open batch. */
    s_begin(db);
    assert_int_equal(alloc_db_stage_allocate(db, "lost", "10.0.0.9", 7), 0);
    alloc_db_destroy(&db);
    assert_true(s_lock_free(fx->path));
    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 1);
    assert_null(alloc_db_ip_of(db, "lost"));
    alloc_db_destroy(&db);
}

static void test_group_commit(void **state)
{
    fixture_t *fx = *state;
    alloc_db_t *db = s_open(fx->path);
    uint64_t syncs = alloc_db_syncs(db);
    s_begin(db);
    for (int i = 0; i < 1000; i++) {
        char name[32], ip[32];
        snprintf(name, sizeof name, "svc-%d", i);
        snprintf(ip, sizeof ip, "10.1.%d.%d", i / 250, i % 250 + 1);
        assert_int_equal(alloc_db_stage_allocate(db, name, ip, 1000 + i), 0);
    }
    s_commit(db);
    assert_int_equal(alloc_db_syncs(db) - syncs, 1);
    assert_int_equal(alloc_db_log_records(db), 1000);
    assert_int_equal(s_count_lines(fx->path), 3 + 1000 + 1); /* header, slots, group, trailer */
    alloc_db_destroy(&db);
    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 1000);
    assert_string_equal(alloc_db_holder_of(db, "10.1.3.250"), "svc-999");
    alloc_db_destroy(&db);
}

static void test_torn_tail(void **state)
{
    fixture_t *fx = *state;
    alloc_db_t *db = s_open(fx->path);
    s_allocate(db, "a", "10.0.0.1", 1);
    alloc_db_destroy(&db);
    char *good = s_slurp(fx->path);

    char logpath[128];
    s_log_to(fx, logpath, sizeof logpath);
    s_write(fx->path, "A 10.0.0.9 123 abc", "ab");
    db = s_open(fx->path);
    s_log_restore();
    char *log = s_slurp(logpath);
    assert_contains(log, "WARN");
    assert_contains(log, "incomplete last group");
    char where[256];
    snprintf(where, sizeof where, "%s:6:", fx->path); /* header, 2 slots, A, C, then it */
    assert_contains(log, where);
    free(log);
    assert_int_equal(alloc_db_count(db), 1);
    char *text = s_slurp(fx->path);
    assert_string_equal(text, good); /* the partial line is gone */
    free(text);
    s_allocate(db, "b", "10.0.0.2", 2);
    alloc_db_destroy(&db);
    assert_int_equal(s_count_lines(fx->path), 3 + 2 + 2);
    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 2);
    alloc_db_destroy(&db);
    free(good);

    /* A whole, valid record without its newline was never acknowledged: dropped;
     * so are whole records without their group's trailer. */
    good = s_slurp(fx->path);
    char line[512];
    s_line(line, sizeof line, 'A', "10.0.0.3", "3", "c");
    line[strlen(line) - 1] = '\0';
    s_write(fx->path, line, "ab");
    s_log_to(fx, logpath, sizeof logpath);
    db = s_open(fx->path);
    s_log_restore();
    assert_null(alloc_db_ip_of(db, "c"));
    text = s_slurp(fx->path);
    assert_string_equal(text, good);
    free(text);
    alloc_db_destroy(&db);
    line[strlen(line)] = '\n';
    s_write(fx->path, line, "ab");
    s_write(fx->path, line, "ab");
    db = s_open(fx->path);
    assert_null(alloc_db_ip_of(db, "c"));
    text = s_slurp(fx->path);
    assert_string_equal(text, good);
    free(text);

    /* A torn tail left by another instance is dropped at begin too. */
    s_write(fx->path, "R 10.0", "ab");
    s_log_to(fx, logpath, sizeof logpath);
    s_begin(db);
    s_log_restore();
    assert_int_equal(alloc_db_stage_allocate(db, "c", "10.0.0.3", 4), 0);
    s_commit(db);
    alloc_db_destroy(&db);
    db = s_open(fx->path);
    assert_string_equal(alloc_db_holder_of(db, "10.0.0.3"), "c");
    assert_int_equal(alloc_db_count(db), 3);
    alloc_db_destroy(&db);
    assert_int_equal(s_count_lines(fx->path), 3 + 3 * 2);
    free(good);
}

/* Writes body as the db file (its directory exists), expects the open to be
 * refused with "PATH:LINE: reason". */
static void s_expect_refused(fixture_t *fx, const char *body, int line, const char *reason)
{
    s_write(fx->path, body, "wb");
    s_refuse(fx->path, fx->err, sizeof fx->err);
    char expect[256];
    snprintf(expect, sizeof expect, "%s:%d: %s", fx->path, line, reason);
    assert_contains(fx->err, expect);
}

static void test_corruption(void **state)
{
    fixture_t *fx = *state;
    char l1[256], l2[256], l3[256], body[1024];
    s_line(l1, sizeof l1, 'A', "10.0.0.1", "1", "x");
    s_line(l2, sizeof l2, 'A', "10.0.0.2", "2", "y");
    s_line(l3, sizeof l3, 'A', "10.0.0.3", "3", "z");

    /* Sanity: the three lines load. */
    snprintf(body, sizeof body, "%s%s%s%s", HEADER, l1, l2, l3);
    alloc_db_t *db = s_open(fx->path);
    alloc_db_destroy(&db);
    s_write(fx->path, body, "wb");
    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 3);
    alloc_db_destroy(&db);

    /* A flipped byte in a middle line (its name). */
    char flipped[256];
    snprintf(flipped, sizeof flipped, "%s", l2);
    flipped[strlen(flipped) - 2] ^= 0x01;
    snprintf(body, sizeof body, "%s%s%s%s", HEADER, l1, flipped, l3);
    s_expect_refused(fx, body, 3, "checksum mismatch");
    /* A flipped byte in the address. */
    snprintf(flipped, sizeof flipped, "%s", l2);
    flipped[4] ^= 0x02;
    snprintf(body, sizeof body, "%s%s%s%s", HEADER, l1, flipped, l3);
    s_expect_refused(fx, body, 3, "checksum mismatch");
    /* A bad checksum in the first record. */
    snprintf(flipped, sizeof flipped, "%s", l1);
    char *hash = flipped + strlen("A 10.0.0.1 1 ");
    hash[0] = hash[0] == '0' ? '1' : '0';
    snprintf(body, sizeof body, "%s%s%s", HEADER, flipped, l2);
    s_expect_refused(fx, body, 2, "checksum mismatch");
    /* A bad checksum on a complete last line is corruption, not a torn tail. */
    snprintf(body, sizeof body, "%s%s%s", HEADER, l2, flipped);
    s_expect_refused(fx, body, 3, "checksum mismatch");
    /* Upper-case hex. */
    snprintf(flipped, sizeof flipped, "%s", l1);
    for (char *p = flipped + strlen("A 10.0.0.1 1 "); *p != ' '; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    assert_string_not_equal(flipped, l1); /* its hash has letters */
    snprintf(body, sizeof body, "%s%s%s", HEADER, flipped, l2);
    s_expect_refused(fx, body, 2, "malformed record");
    /* Two A for one address. */
    char dup[256];
    s_line(dup, sizeof dup, 'A', "10.0.0.1", "5", "y");
    snprintf(body, sizeof body, "%s%s%s%s", HEADER, l1, dup, l3);
    s_expect_refused(fx, body, 3, "A for y: ip 10.0.0.1 already held by x");
    /* Two A for one name. */
    s_line(dup, sizeof dup, 'A', "10.0.0.7", "5", "x");
    snprintf(body, sizeof body, "%s%s%s", HEADER, l1, dup);
    s_expect_refused(fx, body, 3, "A for x: it already holds 10.0.0.1");
    /* R by a name not holding that address. */
    s_line(dup, sizeof dup, 'R', "10.0.0.1", "5", "y");
    snprintf(body, sizeof body, "%s%s%s%s", HEADER, l1, l2, dup);
    s_expect_refused(fx, body, 4, "R for y: it holds 10.0.0.2, not 10.0.0.1");
    s_line(dup, sizeof dup, 'R', "10.0.0.1", "5", "w");
    snprintf(body, sizeof body, "%s%s%s", HEADER, l1, dup);
    s_expect_refused(fx, body, 3, "R for w: it holds no address");
    /* Malformed lines. */
    snprintf(body, sizeof body, "%s%s\n%s", HEADER, l1, l2);
    s_expect_refused(fx, body, 3, "malformed record");
    snprintf(body, sizeof body, "%sX 10.0.0.1 1 0000000000000000 x\n%s", HEADER, l2);
    s_expect_refused(fx, body, 2, "malformed record");
    snprintf(body, sizeof body, "%sA 10.0.0.1 1x 0000000000000000 x\n%s", HEADER, l2);
    s_expect_refused(fx, body, 2, "malformed record");
    snprintf(body, sizeof body, "%sA 10.0.0.1 1 0000000000000000 \n%s", HEADER, l2);
    s_expect_refused(fx, body, 2, "malformed record");
    snprintf(body, sizeof body, "%sA 10.0.0.1 99999999999999999999 0000000000000000 x\n%s", HEADER,
             l2);
    s_expect_refused(fx, body, 2, "malformed record");
    /* Headers. */
    snprintf(body, sizeof body, "# something else\n%s", l1);
    s_expect_refused(fx, body, 1, "not an interlook-ipalloc file");
    snprintf(body, sizeof body, "# interlook-ipalloc 3\n%s", l1);
    s_expect_refused(fx, body, 1,
                     "not an interlook-ipalloc file (expected '# interlook-ipalloc 2')");
    snprintf(body, sizeof body, "%s", l1);
    s_expect_refused(fx, body, 1, "not an interlook-ipalloc file");
    s_expect_refused(fx, "", 1, "not an interlook-ipalloc file");
    /* A version 2 file cut inside its slots; slots that are both damaged. */
    snprintf(body, sizeof body, "%s# commit 000", HEADER_V2);
    s_write(fx->path, body, "wb");
    s_refuse(fx->path, fx->err, sizeof fx->err);
    assert_contains(fx->err, "cut short inside its header");
    char slot[128];
    snprintf(body, sizeof body, "%s", HEADER_V2);
    strcat(body, s_slot(slot, sizeof slot, 0, PREAMBLE));
    strcat(body, s_slot(slot, sizeof slot, 0, PREAMBLE));
    body[strlen(HEADER_V2) + 20] ^= 1;
    body[strlen(HEADER_V2) + 68 + 40] ^= 1;
    s_expect_refused(fx, body, 2, "no valid commit record");

    /* Corruption appended by another instance: begin refuses, naming the line,
     * and leaves the lock free. (The open rewrites the file in format 2:
     * header, 2 slots, x, trailer; then the appended lines 6 and 7.) */
    snprintf(body, sizeof body, "%s%s", HEADER, l1);
    s_write(fx->path, body, "wb");
    db = s_open(fx->path);
    snprintf(flipped, sizeof flipped, "%s", l2);
    flipped[strlen(flipped) - 2] ^= 0x01;
    snprintf(body, sizeof body, "%s%sC 3 2 0000000000000000\n", l3, flipped);
    s_write(fx->path, body, "ab");
    char err[512] = "", expect[256];
    assert_int_equal(alloc_db_begin(db, err, sizeof err), -1);
    snprintf(expect, sizeof expect, "%s:7: checksum mismatch", fx->path);
    assert_contains(err, expect);
    assert_true(s_lock_free(fx->path));
    assert_int_equal(alloc_db_stage_allocate(db, "q", "10.0.0.9", 1), -1); /* no batch */
    assert_int_equal(alloc_db_begin(db, err, sizeof err), -1);             /* still refused */
    assert_contains(err, expect);
    alloc_db_destroy(&db);
}

static void test_two_handles(void **state)
{
    fixture_t *fx = *state;
    alloc_db_t *h1 = s_open(fx->path);
    alloc_db_t *h2 = s_open(fx->path);
    char err[512] = "";

    s_begin(h1);
    assert_false(s_lock_free(fx->path));
    assert_int_equal(alloc_db_stage_allocate(h1, "x", "10.0.0.1", 1), 0);
    s_commit(h1);

    assert_null(alloc_db_holder_of(h2, "10.0.0.1")); /* h2 has not caught up yet */
    s_begin(h2);
    assert_string_equal(alloc_db_holder_of(h2, "10.0.0.1"), "x");
    assert_int_equal(alloc_db_stage_allocate(h2, "y", "10.0.0.1", 2), -1);
    assert_int_equal(alloc_db_stage_allocate(h2, "x", "10.0.0.2", 2), -1);
    assert_int_equal(alloc_db_stage_allocate(h2, "y", "10.0.0.2", 2), 0);
    s_commit(h2);

    /* Interleaved batches, each handle picking the lowest free address. */
    for (int i = 0; i < 50; i++) {
        alloc_db_t *h = i % 2 ? h2 : h1;
        if (alloc_db_begin(h, err, sizeof err) != 0) fail_msg("begin: %s", err);
        char name[32], ip[32];
        snprintf(name, sizeof name, "n-%d", i);
        int k = 1;
        do
            snprintf(ip, sizeof ip, "10.0.0.%d", k++);
        while (alloc_db_holder_of(h, ip));
        assert_int_equal(alloc_db_stage_allocate(h, name, ip, i), 0);
        s_commit(h);
    }
    s_begin(h1);
    alloc_db_abort(h1);
    s_begin(h2);
    alloc_db_abort(h2);
    assert_int_equal(alloc_db_count(h1), 52);
    assert_int_equal(alloc_db_count(h2), 52);
    for (int k = 1; k <= 52; k++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.0.0.%d", k);
        const char *holder = alloc_db_holder_of(h1, ip);
        assert_non_null(holder);
        assert_string_equal(holder, alloc_db_holder_of(h2, ip));
    }
    alloc_db_destroy(&h1);
    alloc_db_destroy(&h2);
    alloc_db_t *h3 = s_open(fx->path);
    assert_int_equal(alloc_db_count(h3), 52);
    alloc_db_destroy(&h3);
}

#define CANDIDATES 5000
#define ROUNDS     2000

/* One instance's work: ROUNDS batches of one allocation "<prefix>-N" of the
 * lowest candidate not held. Returns 0, or -1 with a message on stderr (no
 * cmocka asserts: this also runs in a forked child). */
static int s_worker(const char *path, const char *prefix, char candidates[][20])
{
    char err[512] = "";
    alloc_db_t *db = alloc_db_open(path, err, sizeof err);
    if (!db) {
        fprintf(stderr, "%s: open: %s\n", prefix, err);
        return -1;
    }
    int rc = 0;
    for (int n = 0; n < ROUNDS && rc == 0; n++) {
        if (alloc_db_begin(db, err, sizeof err) != 0) {
            fprintf(stderr, "%s: begin: %s\n", prefix, err);
            rc = -1;
            break;
        }
        int k = 0;
        while (k < CANDIDATES && alloc_db_holder_of(db, candidates[k]))
            k++;
        char name[32];
        snprintf(name, sizeof name, "%s-%d", prefix, n);
        if (k == CANDIDATES || alloc_db_stage_allocate(db, name, candidates[k], n) != 0) {
            fprintf(stderr, "%s: cannot stage %s\n", prefix, name);
            alloc_db_abort(db);
            rc = -1;
        } else if (alloc_db_commit(db, err, sizeof err) != 0) {
            fprintf(stderr, "%s: commit: %s\n", prefix, err);
            rc = -1;
        }
    }
    alloc_db_destroy(&db);
    return rc;
}

static void test_two_processes(void **state)
{
    fixture_t *fx = *state;
    static char candidates[CANDIDATES][20];
    for (int i = 0; i < CANDIDATES; i++)
        snprintf(candidates[i], sizeof candidates[i], "10.2.%d.%d", i / 250, i % 250 + 1);
    alloc_db_t *db = s_open(fx->path); /* created before either starts */
    alloc_db_destroy(&db);

    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) _exit(s_worker(fx->path, "c", candidates) == 0 ? 0 : 1);
    int prc = s_worker(fx->path, "p", candidates);
    int status = 0;
    pid_t waited;
    do
        waited = waitpid(child, &status, 0);
    while (waited < 0 && errno == EINTR);
    assert_int_equal(waited, child);
    assert_int_equal(prc, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* The db's own view: every name present, distinct addresses, and with the
     * lowest-free policy exactly the first 2 * ROUNDS candidates held. */
    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 2 * ROUNDS);
    zhashx_t *seen = zhashx_new();
    for (int n = 0; n < ROUNDS; n++) {
        for (int side = 0; side < 2; side++) {
            char name[32];
            snprintf(name, sizeof name, "%s-%d", side ? "p" : "c", n);
            const char *ip = alloc_db_ip_of(db, name);
            if (!ip) fail_msg("%s holds nothing", name);
            if (zhashx_insert(seen, ip, (void *)1) != 0) fail_msg("%s held twice", ip);
            assert_string_equal(alloc_db_holder_of(db, ip), name);
        }
    }
    for (int k = 0; k < 2 * ROUNDS; k++)
        assert_non_null(alloc_db_holder_of(db, candidates[k]));
    assert_null(alloc_db_holder_of(db, candidates[2 * ROUNDS]));
    alloc_db_destroy(&db);
    zhashx_destroy(&seen);

    /* The file read independently: 2 * ROUNDS A lines, no address twice. */
    char *text = s_slurp(fx->path);
    assert_non_null(text);
    seen = zhashx_new();
    size_t alines = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || line[0] == 'C') continue;
        char op, ip[64];
        assert_int_equal(sscanf(line, "%c %63s", &op, ip), 2);
        assert_int_equal(op, 'A');
        if (zhashx_insert(seen, ip, (void *)1) != 0) fail_msg("%s allocated twice", ip);
        alines++;
    }
    assert_int_equal(alines, 2 * ROUNDS);
    zhashx_destroy(&seen);
    free(text);
}

static bool s_tmp_left(const fixture_t *fx)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/var/ipalloc", fx->dir);
    zdir_t *zdir = zdir_new(dir, NULL);
    assert_non_null(zdir);
    bool found = false;
    zlist_t *files = zdir_list(zdir);
    for (zfile_t *f = zlist_first(files); f; f = zlist_next(files))
        if (strstr(zfile_filename(f, NULL), ".tmp.")) found = true;
    zlist_destroy(&files);
    zdir_destroy(&zdir);
    return found;
}

static void test_compaction(void **state)
{
    fixture_t *fx = *state;
    alloc_db_t *h1 = s_open(fx->path);
    alloc_db_t *h2 = s_open(fx->path);
    s_begin(h1);
    for (int i = 0; i < 10; i++) {
        char name[32], ip[32];
        snprintf(name, sizeof name, "live %d", i);
        snprintf(ip, sizeof ip, "10.3.0.%d", i + 1);
        assert_int_equal(alloc_db_stage_allocate(h1, name, ip, 100 + i), 0);
    }
    s_commit(h1);
    s_begin(h2); /* h2 has read the first file */
    alloc_db_abort(h2);
    assert_int_equal(alloc_db_count(h2), 10);

    ino_t inode = s_inode(fx->path);
    size_t lines_before = 0;
    uint64_t delta = 0;
    int batches = 0;
    size_t previous = alloc_db_log_records(h1);
    for (; batches < 2000; batches++) {
        lines_before = s_count_lines(fx->path);
        uint64_t syncs = alloc_db_syncs(h1);
        s_begin(h1);
        char name[32];
        snprintf(name, sizeof name, "tmp-%d", batches);
        assert_int_equal(alloc_db_stage_allocate(h1, name, "10.3.1.1", batches), 0);
        assert_int_equal(alloc_db_stage_release(h1, name, batches), 0);
        s_commit(h1);
        delta = alloc_db_syncs(h1) - syncs;
        if (alloc_db_log_records(h1) < previous) break;
        previous = alloc_db_log_records(h1);
    }
    assert_true(batches < 2000);                           /* compaction happened */
    assert_true(lines_before > 1000);                      /* it waited for enough dead records */
    assert_int_equal(delta, 3);                            /* commit, snapshot, directory */
    assert_int_equal(s_count_lines(fx->path), 3 + 10 + 1); /* header, slots, 10 live, trailer */
    assert_int_equal(alloc_db_log_records(h1), 10);
    assert_true(s_inode(fx->path) != inode);
    assert_false(s_tmp_left(fx));
    assert_int_equal(alloc_db_count(h1), 10);

    /* h1 keeps appending to the new file; h2 notices the new inode and reloads. */
    s_allocate(h1, "after", "10.3.0.100", 7);
    assert_null(alloc_db_ip_of(h2, "after"));
    s_begin(h2);
    assert_string_equal(alloc_db_ip_of(h2, "after"), "10.3.0.100");
    assert_int_equal(alloc_db_count(h2), 11);
    assert_int_equal(alloc_db_log_records(h2), 11);
    assert_null(alloc_db_ip_of(h2, "tmp-0"));
    assert_string_equal(alloc_db_holder_of(h2, "10.3.0.5"), "live 4");
    assert_int_equal(alloc_db_stage_allocate(h2, "from h2", "10.3.0.101", 8), 0);
    s_commit(h2);
    s_begin(h1);
    assert_string_equal(alloc_db_holder_of(h1, "10.3.0.101"), "from h2");
    alloc_db_abort(h1);

    alloc_db_destroy(&h1);
    alloc_db_destroy(&h2);
    alloc_db_t *h3 = s_open(fx->path);
    assert_int_equal(alloc_db_count(h3), 12);
    assert_string_equal(alloc_db_holder_of(h3, "10.3.0.1"), "live 0");
    assert_string_equal(alloc_db_holder_of(h3, "10.3.0.10"), "live 9");
    s_tally_t tally = {0};
    alloc_db_foreach(h3, s_tally, &tally);
    assert_int_equal(tally.sum_ms, (100 + 109) * 10 / 2 + 7 + 8); /* times survive compaction */
    alloc_db_destroy(&h3);
}

/* A write that fails half-way (RLIMIT_FSIZE: the kernel accepts a part, then
 * EFBIG): the batch is truncated away and undone in memory. */
static void test_write_failure(void **state)
{
    fixture_t *fx = *state;
    alloc_db_t *db = s_open(fx->path);
    s_allocate(db, "keep", "10.0.0.1", 1);
    char *before = s_slurp(fx->path);
    off_t size = s_size(fx->path);

    struct rlimit saved, limit;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
    s_begin(db);
    assert_int_equal(alloc_db_stage_allocate(db, "a", "10.0.0.2", 2), 0);
    assert_int_equal(alloc_db_stage_release(db, "keep", 3), 0);
    assert_int_equal(alloc_db_stage_allocate(db, "b", "10.0.0.1", 4), 0);
    limit = saved;
    limit.rlim_cur = (rlim_t)size + 30; /* part of the first line fits */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);
    char err[512] = "";
    int rc = alloc_db_commit(db, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old);
    assert_int_equal(rc, -1);
    char expect[256];
    snprintf(expect, sizeof expect, "%s: write failed: %s", fx->path, strerror(EFBIG));
    assert_contains(err, expect);
    assert_true(s_lock_free(fx->path));
    assert_int_equal(s_size(fx->path), size);
    char *after = s_slurp(fx->path);
    assert_string_equal(after, before);
    free(after);
    free(before);
    assert_int_equal(alloc_db_count(db), 1);
    assert_string_equal(alloc_db_holder_of(db, "10.0.0.1"), "keep");
    assert_null(alloc_db_ip_of(db, "a"));
    assert_null(alloc_db_ip_of(db, "b"));

    /* The next batch appends cleanly. */
    s_allocate(db, "a", "10.0.0.2", 5);
    alloc_db_destroy(&db);
    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 2);
    assert_string_equal(alloc_db_holder_of(db, "10.0.0.1"), "keep");
    assert_string_equal(alloc_db_holder_of(db, "10.0.0.2"), "a");
    alloc_db_destroy(&db);
}

/* Commits groups 1..n of 5 allocations each ("g<k>-<i>" -> 10.<k>.0.<i>). */
static void s_commit_groups(alloc_db_t *db, int from, int to)
{
    for (int k = from; k <= to; k++) {
        s_begin(db);
        for (int i = 1; i <= 5; i++) {
            char name[32], ip[32];
            snprintf(name, sizeof name, "g%d-%d", k, i);
            snprintf(ip, sizeof ip, "10.%d.0.%d", k, i);
            assert_int_equal(alloc_db_stage_allocate(db, name, ip, k * 10 + i), 0);
        }
        s_commit(db);
    }
}

/* Writes the first len bytes of text as the db file. */
static void s_write_n(const char *path, const char *text, size_t len)
{
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(text, 1, len, file), len);
    assert_int_equal(fclose(file), 0);
}

/* The offset just after the trailer of group seq ("C <seq> "). */
static size_t s_group_end(const char *text, int seq)
{
    char mark[32];
    snprintf(mark, sizeof mark, "\nC %d ", seq);
    const char *at = strstr(text, mark);
    assert_non_null(at);
    return (size_t)(strchr(at + 1, '\n') + 1 - text);
}

/* A file cut short (half of it gone, at a line boundary, exactly at a group
 * boundary, or mid-line) is refused, naming the path, where it ends and the
 * last commit; the file is left as it was. */
static void test_cut_refused(void **state)
{
    fixture_t *fx = *state;
    alloc_db_t *db = s_open(fx->path);
    s_commit_groups(db, 1, 20);
    alloc_db_destroy(&db);
    char *full = s_slurp(fx->path);
    size_t size = strlen(full);

    size_t half = size / 2;
    while (full[half - 1] != '\n')
        half--;                      /* a line boundary */
    s_write_n(fx->path, full, half); /* half of it gone: refused before anything else */
    s_refuse(fx->path, fx->err, sizeof fx->err);
    size_t cuts[] = {half,
                     s_group_end(full, 10),
                     s_group_end(full, 19),
                     s_group_end(full, 19) + 3,
                     s_group_end(full, 19) + 80,
                     size - 1,
                     PREAMBLE};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        s_write_n(fx->path, full, cuts[i]);
        s_refuse(fx->path, fx->err, sizeof fx->err);
        assert_contains(fx->err, fx->path);
        assert_contains(fx->err, "but the last commit was group 20, which ends at byte");
        assert_contains(fx->err, "the file was cut short");
        assert_int_equal(s_size(fx->path), (off_t)cuts[i]); /* nothing truncated */
    }
    s_write_n(fx->path, full, s_group_end(full, 10));
    s_refuse(fx->path, fx->err, sizeof fx->err);
    char expect[256];
    snprintf(expect, sizeof expect,
             "%s: ends after group 10 at byte %zu, but the last commit was group 20", fx->path,
             s_group_end(full, 10));
    assert_contains(fx->err, expect);
    s_write_n(fx->path, full, PREAMBLE);
    s_refuse(fx->path, fx->err, sizeof fx->err);
    assert_contains(fx->err, "ends after its header");

    /* A cut while another instance has it open: its next begin refuses too. */
    s_write_n(fx->path, full, size);
    db = s_open(fx->path);
    assert_int_equal(truncate(fx->path, (off_t)s_group_end(full, 10)), 0);
    assert_int_equal(alloc_db_begin(db, fx->err, sizeof fx->err), -1);
    assert_contains(fx->err, "the file was cut short");
    assert_true(s_lock_free(fx->path));
    assert_int_equal(s_size(fx->path), (off_t)s_group_end(full, 10));
    alloc_db_destroy(&db);

    /* The whole file still loads. */
    s_write_n(fx->path, full, size);
    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 100);
    alloc_db_destroy(&db);
    free(full);
}

/* A commit cut by a crash (kill -9 or power loss during its write, before it
 * returned: never acknowledged) is dropped with a warning; the slots never
 * claim it because they are written after the commit's fdatasync. */
static void test_torn_commit_accepted(void **state)
{
    fixture_t *fx = *state;
    alloc_db_t *db = s_open(fx->path);
    s_commit_groups(db, 1, 19);
    char *before = s_slurp(fx->path); /* the file as group 20's write begins */
    s_commit_groups(db, 20, 20);
    alloc_db_destroy(&db);
    char *after = s_slurp(fx->path);
    size_t size19 = strlen(before), size20 = strlen(after);
    char logpath[128];
    for (size_t cut = size19 + 1; cut < size20; cut += 13) {
        /* before's slots, then part of group 20's lines */
        char *torn = malloc(cut + 1);
        memcpy(torn, before, size19);
        memcpy(torn + size19, after + size19, cut - size19);
        s_write_n(fx->path, torn, cut);
        s_log_to(fx, logpath, sizeof logpath);
        db = s_open(fx->path);
        s_log_restore();
        assert_int_equal(alloc_db_count(db), 95);
        assert_null(alloc_db_ip_of(db, "g20-1"));
        alloc_db_destroy(&db);
        char *log = s_slurp(logpath);
        assert_contains(log, "dropping an incomplete last group");
        free(log);
        unlink(logpath);
        char *text = s_slurp(fx->path);
        assert_string_equal(text, before); /* truncated back to group 19 */
        free(text);
        free(torn);
    }
    /* The same cut once the commit returned (its slot written) is refused. */
    s_write_n(fx->path, after, size20 - 1);
    s_refuse(fx->path, fx->err, sizeof fx->err);
    assert_contains(fx->err, "cut short");
    free(before);
    free(after);
}

/* A torn write of one slot (power loss) leaves the other: the file loads. */
static void test_slot_damaged(void **state)
{
    fixture_t *fx = *state;
    alloc_db_t *db = s_open(fx->path);
    s_commit_groups(db, 1, 3);
    alloc_db_destroy(&db);
    char *text = s_slurp(fx->path);
    text[strlen(HEADER_V2) + 68 + 20] = 'x'; /* slot 1: group 3's claim */
    s_write_n(fx->path, text, strlen(text));
    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 15);
    s_commit_groups(db, 4, 4); /* group 4 goes to slot 0 */
    alloc_db_destroy(&db);
    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 20);
    alloc_db_destroy(&db);
    free(text);
}

/* A file of the older format (no groups) loads as before, its torn last line
 * dropped, and is rewritten in the new one. */
static void test_upgrade(void **state)
{
    fixture_t *fx = *state;
    char body[2048], line[256];
    snprintf(body, sizeof body, "%s", HEADER);
    strcat(body, s_line(line, sizeof line, 'A', "10.0.0.1", "1", "x"));
    strcat(body, s_line(line, sizeof line, 'A', "10.0.0.2", "2", "y"));
    strcat(body, s_line(line, sizeof line, 'R', "10.0.0.1", "3", "x"));
    strcat(body, "A 10.0.0.9 4 torn");
    alloc_db_t *db = s_open(fx->path); /* creates the directory */
    alloc_db_destroy(&db);
    s_write(fx->path, body, "wb");
    char logpath[128];
    s_log_to(fx, logpath, sizeof logpath);
    db = s_open(fx->path);
    s_log_restore();
    assert_int_equal(alloc_db_count(db), 1);
    assert_string_equal(alloc_db_holder_of(db, "10.0.0.2"), "y");
    alloc_db_destroy(&db);
    char *text = s_slurp(fx->path);
    assert_true(strncmp(text, HEADER_V2, strlen(HEADER_V2)) == 0);
    char expect[1024], slot[128];
    snprintf(body, sizeof body, "%s", s_line(line, sizeof line, 'A', "10.0.0.2", "2", "y"));
    uint64_t chain = 0xcbf29ce484222325ULL;
    s_trailer(body, sizeof body, 0, 1, 1, &chain);
    snprintf(expect, sizeof expect, "%s", HEADER_V2);
    strcat(expect, s_slot(slot, sizeof slot, 1, PREAMBLE + strlen(body)));
    strcat(expect, s_slot(slot, sizeof slot, 1, PREAMBLE + strlen(body)));
    strcat(expect, body);
    assert_string_equal(text, expect);
    free(text);
    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 1);
    s_allocate(db, "z", "10.0.0.1", 5);
    alloc_db_destroy(&db);
    db = s_open(fx->path);
    assert_int_equal(alloc_db_count(db), 2);
    alloc_db_destroy(&db);
}

/* A symbolic link to a missing file is refused (not created afresh, empty). */
static void test_dangling_link(void **state)
{
    fixture_t *fx = *state;
    alloc_db_t *db = s_open(fx->path); /* creates the directories */
    alloc_db_destroy(&db);
    assert_int_equal(unlink(fx->path), 0);
    char target[192];
    snprintf(target, sizeof target, "%s/elsewhere.db", fx->dir);
    assert_int_equal(symlink(target, fx->path), 0);
    s_refuse(fx->path, fx->err, sizeof fx->err);
    assert_contains(fx->err, fx->path);
    assert_contains(fx->err, "symbolic link");
    assert_int_equal(access(target, F_OK), -1); /* nothing created */
}

int main(void)
{
    il_log_setup("test_alloc_db", IL_LOG_WARN, "stderr");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_allocate_release, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_abort, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_corruption, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_two_handles, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_two_processes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_compaction, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_write_failure, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cut_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_torn_commit_accepted, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_slot_damaged, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dangling_link, s_setup, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
