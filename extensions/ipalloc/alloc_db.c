/* alloc_db: the IP allocator's durable, shared record of address holders (see alloc_db.h).
 *
 * File format, exactly:
 *   line 1:  "# interlook-ipalloc 1\n"
 *   then:    "<op> <ip> <ms> <hash> <name>\n"
 * fields separated by exactly one space; op is 'A' (allocation) or 'R'
 * (release); ip is 1..64 printable ASCII bytes other than space; ms is 1..19
 * decimal digits (unix milliseconds, at most INT64_MAX); hash is 16 lowercase
 * hex digits; name is the rest of the line, 1..255 bytes, none of them a
 * control character (< 0x20 or 0x7f), so it may contain spaces (even leading
 * or trailing ones). hash is FNV-1a 64 (offset basis 0xcbf29ce484222325,
 * prime 0x100000001b3) over the bytes "<op> <ip> <ms> <name>": the line
 * without its hash field, its separating space and its newline, the fields
 * exactly as they appear in the file.
 *
 * Replay rules: A needs the name to hold nothing and the address to be free;
 * R needs the name to hold that address. alloc_db_log_records counts the A
 * and R lines (the header is not a record).
 *
 * Concurrency and durability: every read or write of the file happens under
 * an exclusive flock on "<path>.lock" (one open file description per handle,
 * so two handles in one process exclude each other too). A batch appends its
 * lines with O_APPEND and one fdatasync before the lock is released. The file
 * is only ever replaced by rename (creation and compaction), after fsyncing
 * the new file; the directory is fsynced after a rename and whenever a handle
 * (re)loads a file from scratch, since a renamer may have died before its own
 * directory fsync. A last line without its newline was never acknowledged
 * (commit returns after the whole batch is written and synced): it is dropped
 * and truncated away under the lock so that later appends start on a line of
 * their own. Complete lines of a batch that died mid-write are kept: they are
 * a prefix of a valid sequence of changes, so the file stays consistent. */
#include "extensions/ipalloc/alloc_db.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define ALLOC_DB_HEADER    "# interlook-ipalloc 1"
#define ALLOC_DB_MAX_NAME  255
#define ALLOC_DB_MAX_IP    64
#define ALLOC_DB_MAX_MS    19 /* digits of INT64_MAX */
#define ALLOC_DB_COMPACT_K 2  /* compact when records > K * live + SLACK */
#define ALLOC_DB_SLACK     1000
#define FNV_OFFSET         0xcbf29ce484222325ULL
#define FNV_PRIME          0x100000001b3ULL

/* One live allocation: the entry handed out by foreach, its strings stored
 * after it in the same block. Both indexes point to the same record. */
typedef struct {
    alloc_db_entry_t entry; /* name and ip point into text */
    char text[];            /* name '\0' ip '\0' */
} s_record_t;

/* What was read from the file: the view and where reading stands. */
typedef struct {
    zhashx_t *by_name; /* name -> s_record_t (owns the records) */
    zhashx_t *by_ip;   /* ip -> s_record_t (same records) */
    int fd;            /* the db file, O_RDWR | O_APPEND; -1: reload at next begin */
    dev_t dev;         /* identity of the file fd refers to */
    ino_t ino;
    off_t offset;                   /* bytes read and applied, always at a line boundary */
    size_t lines;                   /* complete lines read (the header is line 1) */
    size_t records;                 /* A and R lines read or appended */
    alloc_db_observer_fn *observer; /* told of every record read while catching up */
    void *observer_arg;
} s_view_t;

/* A staged change, to undo it. */
typedef struct {
    char op;            /* 'A': the record was inserted; 'R': it was removed */
    s_record_t *record; /* an 'R' record is freed on commit, reinserted on undo */
} s_undo_t;

struct _alloc_db_t {
    char *path;      /* the db file */
    char *dir;       /* its parent directory (fsynced after renames) */
    char *lock_path; /* path + ".lock" */
    int lock_fd;     /* the lock file (flock) */
    s_view_t view;   /* the in-memory view of the file */
    bool in_batch;   /* between a successful begin and commit/abort */
    char *pending;   /* staged lines, not yet written */
    size_t pending_len;
    size_t pending_cap;
    size_t pending_lines; /* lines in pending */
    s_undo_t *undo;       /* staged changes, oldest first */
    size_t undo_len;
    size_t undo_cap;
    uint64_t syncs; /* fsync / fdatasync calls made */
};

/* ---- records and the view ------------------------------------------------ */

static uint64_t s_fnv(uint64_t hash, const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < len; i++) {
        hash ^= p[i];
        hash *= FNV_PRIME;
    }
    return hash;
}

/* The checksum of a line: FNV-1a 64 over "<op> <ip> <ms> <name>". */
static uint64_t s_line_hash(char op, const char *ip, size_t iplen, const char *ms, size_t mslen,
                            const char *name, size_t namelen)
{
    char opsp[2] = {op, ' '};
    uint64_t hash = s_fnv(FNV_OFFSET, opsp, 2);
    hash = s_fnv(hash, ip, iplen);
    hash = s_fnv(hash, " ", 1);
    hash = s_fnv(hash, ms, mslen);
    hash = s_fnv(hash, " ", 1);
    return s_fnv(hash, name, namelen);
}

/* True when name is a valid service name: 1..255 bytes, no control character. */
static bool s_valid_name(const char *name, size_t len)
{
    if (len == 0 || len > ALLOC_DB_MAX_NAME) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

/* True when ip is a valid address field: 1..64 printable ASCII bytes, no space. */
static bool s_valid_ip(const char *ip, size_t len)
{
    if (len == 0 || len > ALLOC_DB_MAX_IP) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)ip[i];
        if (c <= 0x20 || c >= 0x7f) return false;
    }
    return true;
}

static s_record_t *s_record_new(const char *name, size_t namelen, const char *ip, size_t iplen,
                                int64_t time_ms)
{
    s_record_t *record = malloc(sizeof *record + namelen + iplen + 2);
    if (!record) return NULL;
    memcpy(record->text, name, namelen);
    record->text[namelen] = '\0';
    memcpy(record->text + namelen + 1, ip, iplen);
    record->text[namelen + 1 + iplen] = '\0';
    record->entry.name = record->text;
    record->entry.ip = record->text + namelen + 1;
    record->entry.time_ms = time_ms;
    return record;
}

/* Makes the two indexes; keys are the records' own strings. -1 when out of memory. */
static int s_view_init(s_view_t *view)
{
    *view = (s_view_t){.fd = -1};
    view->by_name = zhashx_new();
    view->by_ip = zhashx_new();
    if (!view->by_name || !view->by_ip) {
        zhashx_destroy(&view->by_name);
        zhashx_destroy(&view->by_ip);
        return -1;
    }
    zhashx_set_key_duplicator(view->by_name, NULL);
    zhashx_set_key_destructor(view->by_name, NULL);
    zhashx_set_key_duplicator(view->by_ip, NULL);
    zhashx_set_key_destructor(view->by_ip, NULL);
    return 0;
}

/* Frees the records and indexes, closes the fd. */
static void s_view_clear(s_view_t *view)
{
    if (view->by_name) {
        for (s_record_t *r = zhashx_first(view->by_name); r; r = zhashx_next(view->by_name))
            free(r);
    }
    zhashx_destroy(&view->by_name);
    zhashx_destroy(&view->by_ip);
    if (view->fd >= 0) close(view->fd);
    *view = (s_view_t){.fd = -1};
}

/* Inserts record in both indexes. -1 (nothing inserted) when out of memory. */
static int s_view_insert(s_view_t *view, s_record_t *record)
{
    if (zhashx_insert(view->by_name, record->entry.name, record) != 0) return -1;
    if (zhashx_insert(view->by_ip, record->entry.ip, record) != 0) {
        zhashx_delete(view->by_name, record->entry.name);
        return -1;
    }
    return 0;
}

static void s_view_remove(s_view_t *view, s_record_t *record)
{
    zhashx_delete(view->by_name, record->entry.name);
    zhashx_delete(view->by_ip, record->entry.ip);
}

/* ---- files ---------------------------------------------------------------- */

/* fsyncs the parent directory (makes a rename durable). -1 with errno set. */
static int s_sync_dir(alloc_db_t *self)
{
    self->syncs++;
    return il_fileio_sync_dir(self->dir);
}

/* Takes the exclusive lock, waiting for it. -1 with errno set. */
static int s_lock(alloc_db_t *self)
{
    while (flock(self->lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR) return -1;
    }
    return 0;
}

static void s_unlock(alloc_db_t *self)
{
    if (flock(self->lock_fd, LOCK_UN) != 0)
        il_log_warn("%s: cannot unlock %s: %s", self->path, self->lock_path, strerror(errno));
}

/* Writes text to "<path>.tmp.<pid>", fsyncs it, renames it over the db file
 * and fsyncs the directory. Under the lock. -1 with err; the temporary file
 * is removed unless the rename happened (then only the directory fsync failed). */
static int s_replace_file(alloc_db_t *self, const char *text, size_t len, char *err, size_t errlen)
{
    size_t tmplen = strlen(self->path) + 32;
    char *tmp = malloc(tmplen);
    if (!tmp) return il_err(err, errlen, "%s: out of memory", self->path);
    snprintf(tmp, tmplen, "%s.tmp.%ld", self->path, (long)getpid());
    int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        il_err(err, errlen, "%s: create %s: %s", self->path, tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    const char *what = "write";
    int rc = il_fileio_write_all(fd, text, len);
    if (rc == 0) {
        what = "fsync";
        rc = fsync(fd);
        self->syncs++;
    }
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        what = "close";
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && rename(tmp, self->path) != 0) {
        what = "rename";
        rc = -1;
        saved = errno;
    }
    if (rc != 0) {
        il_err(err, errlen, "%s: %s %s: %s", self->path, what, tmp, strerror(saved));
        if (unlink(tmp) != 0 && errno != ENOENT)
            il_log_warn("%s: cannot remove %s: %s", self->path, tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    free(tmp);
    if (s_sync_dir(self) != 0)
        return il_err(err, errlen, "%s: fsync directory %s: %s", self->path, self->dir,
                      strerror(errno));
    return 0;
}

/* ---- reading the log ------------------------------------------------------- */

/* Applies one complete line (without its '\n') to the view. -1 with the
 * reason (no "PATH:LINE: " prefix) in why. */
static int s_apply_line(s_view_t *view, const char *line, size_t len, char *why, size_t whylen)
{
    const char *end = line + len;
    const char *p = line;
    if (len < 2 || (line[0] != 'A' && line[0] != 'R') || line[1] != ' ')
        return il_err(why, whylen, "malformed record (expected 'A|R <ip> <ms> <hash> <name>')");
    char op = line[0];
    p += 2;
    const char *ip = p;
    while (p < end && *p != ' ')
        p++;
    size_t iplen = (size_t)(p - ip);
    if (p == end || !s_valid_ip(ip, iplen))
        return il_err(why, whylen, "malformed record (bad address field)");
    const char *ms = ++p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    size_t mslen = (size_t)(p - ms);
    if (p == end || *p != ' ' || mslen == 0 || mslen > ALLOC_DB_MAX_MS)
        return il_err(why, whylen, "malformed record (bad time field)");
    uint64_t time = 0;
    for (size_t i = 0; i < mslen; i++) {
        uint64_t digit = (uint64_t)(ms[i] - '0');
        if (time > ((uint64_t)INT64_MAX - digit) / 10)
            return il_err(why, whylen, "malformed record (time out of range)");
        time = time * 10 + digit;
    }
    const char *hash = ++p;
    if (end - hash < 18 || hash[16] != ' ')
        return il_err(why, whylen, "malformed record (bad checksum field)");
    uint64_t stored = 0;
    for (int i = 0; i < 16; i++) {
        char c = hash[i];
        unsigned v;
        if (c >= '0' && c <= '9')
            v = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = (unsigned)(c - 'a' + 10);
        else
            return il_err(why, whylen, "malformed record (bad checksum field)");
        stored = stored << 4 | v;
    }
    const char *name = hash + 17;
    size_t namelen = (size_t)(end - name);
    if (!s_valid_name(name, namelen))
        return il_err(why, whylen, "malformed record (bad service name)");
    if (s_line_hash(op, ip, iplen, ms, mslen, name, namelen) != stored)
        return il_err(why, whylen, "checksum mismatch");

    /* Look up with NUL-terminated copies (the line is not terminated). */
    char namez[ALLOC_DB_MAX_NAME + 1], ipz[ALLOC_DB_MAX_IP + 1];
    memcpy(namez, name, namelen);
    namez[namelen] = '\0';
    memcpy(ipz, ip, iplen);
    ipz[iplen] = '\0';
    s_record_t *held = zhashx_lookup(view->by_name, namez);
    if (op == 'A') {
        if (held)
            return il_err(why, whylen, "A for %s: it already holds %s", namez, held->entry.ip);
        s_record_t *holder = zhashx_lookup(view->by_ip, ipz);
        if (holder)
            return il_err(why, whylen, "A for %s: ip %s already held by %s", namez, ipz,
                          holder->entry.name);
        s_record_t *record = s_record_new(name, namelen, ip, iplen, (int64_t)time);
        if (!record || s_view_insert(view, record) != 0) {
            free(record);
            return il_err(why, whylen, "out of memory");
        }
    } else {
        if (!held) return il_err(why, whylen, "R for %s: it holds no address", namez);
        if (strcmp(held->entry.ip, ipz) != 0)
            return il_err(why, whylen, "R for %s: it holds %s, not %s", namez, held->entry.ip, ipz);
        s_view_remove(view, held);
        free(held);
    }
    view->records++;
    if (view->observer) view->observer(view->observer_arg, op, ipz);
    return 0;
}

/* Reads what view->fd holds past view->offset and applies it, line by line
 * (offset and lines advance with each line applied). A last line without its
 * newline is dropped with a warning and truncated away. Under the lock.
 * -1 with "PATH[:LINE]: reason" in err. */
static int s_catch_up(alloc_db_t *self, s_view_t *view, char *err, size_t errlen)
{
    char *data = NULL;
    size_t size = 0;
    if (il_fileio_read_from(view->fd, view->offset, &data, &size) != 0)
        return il_err(err, errlen, "%s: read: %s", self->path, strerror(errno));
    int rc = 0;
    size_t pos = 0;
    char why[512];
    if (view->offset == 0) {
        const char *nl = memchr(data, '\n', size);
        size_t hlen = strlen(ALLOC_DB_HEADER);
        if (!nl || (size_t)(nl - data) != hlen || memcmp(data, ALLOC_DB_HEADER, hlen) != 0) {
            free(data);
            return il_err(err, errlen, "%s:1: not an interlook-ipalloc file (expected '%s')",
                          self->path, ALLOC_DB_HEADER);
        }
        pos = hlen + 1;
        view->offset = (off_t)pos;
        view->lines = 1;
    }
    while (pos < size) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', size - pos);
        if (!nl) { /* torn tail: a write that never completed, never acknowledged */
            il_log_warn("%s:%zu: dropping a torn last line (%zu bytes without a newline)", self->path,
                     view->lines + 1, size - pos);
            if (ftruncate(view->fd, view->offset) != 0)
                rc = il_err(err, errlen, "%s:%zu: cannot truncate a torn last line: %s", self->path,
                            view->lines + 1, strerror(errno));
            break;
        }
        size_t len = (size_t)(nl - line);
        if (s_apply_line(view, line, len, why, sizeof why) != 0) {
            rc = il_err(err, errlen, "%s:%zu: %s", self->path, view->lines + 1, why);
            break;
        }
        pos += len + 1;
        view->offset += (off_t)(len + 1);
        view->lines++;
    }
    free(data);
    return rc;
}

/* Opens the db file afresh and loads it into a new view, which replaces the
 * current one on success (the current one stays on failure). Under the lock.
 * -1 with err. */
static int s_reload(alloc_db_t *self, char *err, size_t errlen)
{
    s_view_t fresh;
    if (s_view_init(&fresh) != 0) return il_err(err, errlen, "%s: out of memory", self->path);
    fresh.fd = open(self->path, O_RDWR | O_APPEND | O_CLOEXEC);
    struct stat st;
    memset(&st, 0, sizeof st);
    int rc = -1;
    if (fresh.fd < 0)
        il_err(err, errlen, "%s: open: %s", self->path, strerror(errno));
    else if (fstat(fresh.fd, &st) != 0)
        il_err(err, errlen, "%s: stat: %s", self->path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        il_err(err, errlen, "%s: not a regular file", self->path);
    else if (s_sync_dir(self) != 0) /* the file may have been renamed in by a process
                                       that died before syncing the directory */
        il_err(err, errlen, "%s: fsync directory %s: %s", self->path, self->dir, strerror(errno));
    else
        rc = s_catch_up(self, &fresh, err, errlen);
    if (rc != 0) {
        s_view_clear(&fresh);
        return -1;
    }
    fresh.dev = st.st_dev;
    fresh.ino = st.st_ino;
    fresh.observer = self->view.observer;
    fresh.observer_arg = self->view.observer_arg;
    s_view_clear(&self->view);
    self->view = fresh;
    if (self->view.observer) { /* a new view: start over, then every live allocation */
        self->view.observer(self->view.observer_arg, '0', NULL);
        for (s_record_t *r = zhashx_first(self->view.by_name); r;
             r = zhashx_next(self->view.by_name))
            self->view.observer(self->view.observer_arg, 'A', r->entry.ip);
    }
    return 0;
}

/* Creates the db file with its header (temporary file + rename, so that no
 * one ever sees a file without its header). Under the lock. -1 with err. */
static int s_create(alloc_db_t *self, char *err, size_t errlen)
{
    static const char header[] = ALLOC_DB_HEADER "\n";
    return s_replace_file(self, header, sizeof header - 1, err, errlen);
}

/* ---- staging --------------------------------------------------------------- */

/* Makes room for more bytes in *buf. -1 when out of memory. */
static int s_reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t bigger = *cap ? *cap : 4096;
    while (bigger < need)
        bigger *= 2;
    char *p = realloc(*buf, bigger);
    if (!p) return -1;
    *buf = p;
    *cap = bigger;
    return 0;
}

/* Appends "<op> <ip> <ms> <hash> <name>\n" to *buf. -1 when out of memory. */
static int s_format_line(char **buf, size_t *len, size_t *cap, char op, const char *ip,
                         int64_t time_ms, const char *name)
{
    char ms[24];
    int mslen = snprintf(ms, sizeof ms, "%" PRId64, time_ms);
    size_t iplen = strlen(ip), namelen = strlen(name);
    uint64_t hash = s_line_hash(op, ip, iplen, ms, (size_t)mslen, name, namelen);
    size_t need = *len + 2 + iplen + 1 + (size_t)mslen + 1 + 16 + 1 + namelen + 2;
    if (s_reserve(buf, cap, need) != 0) return -1;
    int n =
        snprintf(*buf + *len, need - *len, "%c %s %s %016" PRIx64 " %s\n", op, ip, ms, hash, name);
    *len += (size_t)n;
    return 0;
}

/* Records a staged change: its line in pending, its undo entry. -1 (nothing
 * recorded) when out of memory. */
static int s_stage(alloc_db_t *self, char op, s_record_t *record, int64_t now_ms)
{
    if (self->undo_len == self->undo_cap) {
        size_t cap = self->undo_cap ? self->undo_cap * 2 : 64;
        s_undo_t *undo = realloc(self->undo, cap * sizeof *undo);
        if (!undo) return -1;
        self->undo = undo;
        self->undo_cap = cap;
    }
    if (s_format_line(&self->pending, &self->pending_len, &self->pending_cap, op, record->entry.ip,
                      now_ms, record->entry.name) != 0)
        return -1;
    self->pending_lines++;
    self->undo[self->undo_len++] = (s_undo_t){.op = op, .record = record};
    return 0;
}

/* Ends the batch's staging: frees the released records (commit) or restores
 * the view (undo), clears pending. */
static void s_end_staging(alloc_db_t *self, bool undo)
{
    if (undo) {
        for (size_t i = self->undo_len; i-- > 0;) {
            s_record_t *record = self->undo[i].record;
            if (self->undo[i].op == 'A') {
                s_view_remove(&self->view, record);
                free(record);
            } else if (s_view_insert(&self->view, record) != 0) {
                /* Out of memory: the view is no longer the file's; read it afresh. */
                il_log_error("%s: out of memory undoing a batch; reloading at next begin", self->path);
                free(record);
                if (self->view.fd >= 0) close(self->view.fd);
                self->view.fd = -1;
            }
        }
    } else {
        for (size_t i = 0; i < self->undo_len; i++)
            if (self->undo[i].op == 'R') free(self->undo[i].record);
    }
    self->undo_len = 0;
    self->pending_len = 0;
    self->pending_lines = 0;
}

/* ---- compaction ------------------------------------------------------------ */

/* Replaces the log by a snapshot of the live allocations and reopens it.
 * Under the lock, after a successful commit: failures are only warned about
 * (the log is still valid; a failed reopen makes the next begin reload). */
static void s_compact(alloc_db_t *self)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    static const char header[] = ALLOC_DB_HEADER "\n";
    if (s_reserve(&buf, &cap, sizeof header) != 0) goto oom;
    memcpy(buf, header, sizeof header - 1);
    len = sizeof header - 1;
    size_t live = 0;
    for (s_record_t *r = zhashx_first(self->view.by_name); r; r = zhashx_next(self->view.by_name)) {
        if (s_format_line(&buf, &len, &cap, 'A', r->entry.ip, r->entry.time_ms, r->entry.name) != 0)
            goto oom;
        live++;
    }
    size_t before = self->view.records;
    char err[512];
    int rc = s_replace_file(self, buf, len, err, sizeof err);
    free(buf);
    if (rc != 0) {
        struct stat st;
        if (stat(self->path, &st) == 0 && st.st_ino != self->view.ino) {
            il_log_warn("%s: compaction: %s (the new file is in place)", self->path, err);
            goto reopen;
        }
        il_log_warn("%s: compaction failed, the log stays as it was: %s", self->path, err);
        return;
    }
    il_log_info("%s: compacted %zu records into %zu live allocations", self->path, before, live);
reopen:;
    int fd = open(self->path, O_RDWR | O_APPEND | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        il_log_warn("%s: cannot reopen after compaction: %s; reloading at next begin", self->path,
                 strerror(errno));
        if (fd >= 0) close(fd);
        close(self->view.fd);
        self->view.fd = -1;
        return;
    }
    close(self->view.fd);
    self->view.fd = fd;
    self->view.dev = st.st_dev;
    self->view.ino = st.st_ino;
    self->view.offset = st.st_size;
    self->view.lines = live + 1;
    self->view.records = live;
    return;
oom:
    free(buf);
    il_log_warn("%s: compaction: out of memory", self->path);
}

/* ---- public API ------------------------------------------------------------ */

alloc_db_t *alloc_db_open(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) {
        il_err(err, errlen, "ipalloc db file: empty path");
        return NULL;
    }
    size_t len = strlen(path);
    if (path[len - 1] == '/') {
        il_err(err, errlen, "%s: is a directory", path);
        return NULL;
    }
    alloc_db_t *self = calloc(1, sizeof *self);
    if (!self) goto oom;
    self->lock_fd = -1;
    if (s_view_init(&self->view) != 0) goto oom;
    if (!(self->path = strdup(path))) goto oom;
    const char *slash = strrchr(path, '/');
    if (!slash)
        self->dir = strdup(".");
    else if (slash == path)
        self->dir = strdup("/");
    else
        self->dir = strndup(path, (size_t)(slash - path));
    if (!self->dir) goto oom;
    if (!(self->lock_path = malloc(len + 6))) goto oom;
    snprintf(self->lock_path, len + 6, "%s.lock", path);

    char *prefix = strdup(self->dir);
    if (!prefix) goto oom;
    if (il_fileio_mkdirs(prefix) != 0) {
        il_err(err, errlen, "%s: cannot create directory %s: %s", path, prefix, strerror(errno));
        free(prefix);
        goto fail;
    }
    free(prefix);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) { /* before creating "<path>.lock" */
        il_err(err, errlen, "%s: is a directory", path);
        goto fail;
    }
    self->lock_fd = open(self->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (self->lock_fd < 0) {
        il_err(err, errlen, "%s: open %s: %s", path, self->lock_path, strerror(errno));
        goto fail;
    }
    if (s_lock(self) != 0) {
        il_err(err, errlen, "%s: lock %s: %s", path, self->lock_path, strerror(errno));
        goto fail;
    }
    int rc = 0;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            rc = s_create(self, err, errlen);
        else
            rc = il_err(err, errlen, "%s: stat: %s", path, strerror(errno));
    }
    if (rc == 0) rc = s_reload(self, err, errlen);
    s_unlock(self);
    if (rc != 0) goto fail;
    return self;
oom:
    il_err(err, errlen, "%s: out of memory", path);
fail:
    alloc_db_destroy(&self);
    return NULL;
}

void alloc_db_destroy(alloc_db_t **self_p)
{
    if (!self_p || !*self_p) return;
    alloc_db_t *self = *self_p;
    if (self->in_batch) alloc_db_abort(self);
    s_view_clear(&self->view);
    if (self->lock_fd >= 0) close(self->lock_fd);
    free(self->pending);
    free(self->undo);
    free(self->path);
    free(self->dir);
    free(self->lock_path);
    free(self);
    *self_p = NULL;
}

int alloc_db_begin(alloc_db_t *self, char *err, size_t errlen)
{
    if (!self) return il_err(err, errlen, "ipalloc db: no db");
    if (self->in_batch) return il_err(err, errlen, "%s: a batch is already open", self->path);
    if (s_lock(self) != 0)
        return il_err(err, errlen, "%s: lock %s: %s", self->path, self->lock_path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (stat(self->path, &st) != 0) {
        rc = il_err(err, errlen, "%s: stat: %s", self->path, strerror(errno));
    } else if (self->view.fd < 0 || st.st_dev != self->view.dev || st.st_ino != self->view.ino) {
        rc = s_reload(self, err, errlen); /* compacted by another instance (or never loaded) */
    } else if (st.st_size < self->view.offset) {
        il_log_warn("%s: the file shrank (%lld bytes, %lld read); reloading", self->path,
                 (long long)st.st_size, (long long)self->view.offset);
        rc = s_reload(self, err, errlen);
    } else if (st.st_size > self->view.offset) {
        rc = s_catch_up(self, &self->view, err, errlen);
    }
    if (rc != 0) {
        s_unlock(self);
        return -1;
    }
    self->in_batch = true;
    return 0;
}

void alloc_db_set_observer(alloc_db_t *self, alloc_db_observer_fn *fn, void *arg)
{
    self->view.observer = fn;
    self->view.observer_arg = arg;
}

const char *alloc_db_ip_of(alloc_db_t *self, const char *name)
{
    if (!self || !name) return NULL;
    s_record_t *record = zhashx_lookup(self->view.by_name, name);
    return record ? record->entry.ip : NULL;
}

const char *alloc_db_holder_of(alloc_db_t *self, const char *ip)
{
    if (!self || !ip) return NULL;
    s_record_t *record = zhashx_lookup(self->view.by_ip, ip);
    return record ? record->entry.name : NULL;
}

int alloc_db_stage_allocate(alloc_db_t *self, const char *name, const char *ip, int64_t now_ms)
{
    if (!self || !self->in_batch || !name || !ip || now_ms < 0) return -1;
    size_t namelen = strlen(name), iplen = strlen(ip);
    if (!s_valid_name(name, namelen) || !s_valid_ip(ip, iplen)) return -1;
    if (zhashx_lookup(self->view.by_name, name) || zhashx_lookup(self->view.by_ip, ip)) return -1;
    s_record_t *record = s_record_new(name, namelen, ip, iplen, now_ms);
    if (!record) return -1;
    if (s_view_insert(&self->view, record) != 0) {
        free(record);
        return -1;
    }
    if (s_stage(self, 'A', record, now_ms) != 0) {
        s_view_remove(&self->view, record);
        free(record);
        return -1;
    }
    return 0;
}

int alloc_db_stage_release(alloc_db_t *self, const char *name, int64_t now_ms)
{
    if (!self || !self->in_batch || !name || now_ms < 0) return -1;
    s_record_t *record = zhashx_lookup(self->view.by_name, name);
    if (!record) return -1;
    if (s_stage(self, 'R', record, now_ms) != 0) return -1;
    s_view_remove(&self->view, record);
    return 0;
}

int alloc_db_commit(alloc_db_t *self, char *err, size_t errlen)
{
    if (!self) return il_err(err, errlen, "ipalloc db: no db");
    if (!self->in_batch) return il_err(err, errlen, "%s: no batch open", self->path);
    if (self->pending_len > 0) {
        s_view_t *view = &self->view;
        int rc = il_fileio_write_all(view->fd, self->pending, self->pending_len);
        if (rc == 0) {
            rc = fdatasync(view->fd);
            self->syncs++;
        }
        if (rc != 0) {
            int saved = errno;
            /* Best effort: whatever stays is read back by the next begin (a
             * torn last line is dropped, complete lines are a valid prefix). */
            if (ftruncate(view->fd, view->offset) != 0)
                il_log_warn("%s: cannot truncate a failed batch away: %s", self->path,
                         strerror(errno));
            s_end_staging(self, true);
            self->in_batch = false;
            s_unlock(self);
            return il_err(err, errlen, "%s: write failed: %s", self->path, strerror(saved));
        }
        view->offset += (off_t)self->pending_len;
        view->lines += self->pending_lines;
        view->records += self->pending_lines;
        s_end_staging(self, false);
        size_t live = zhashx_size(view->by_name);
        if (view->records > ALLOC_DB_COMPACT_K * live + ALLOC_DB_SLACK) s_compact(self);
    }
    self->in_batch = false;
    s_unlock(self);
    return 0;
}

void alloc_db_abort(alloc_db_t *self)
{
    if (!self || !self->in_batch) return;
    s_end_staging(self, true);
    self->in_batch = false;
    s_unlock(self);
}

void alloc_db_foreach(alloc_db_t *self, void (*fn)(void *arg, const alloc_db_entry_t *entry),
                      void *arg)
{
    if (!self || !fn) return;
    /* A snapshot first: lookups made by fn move the index's cursor. */
    size_t count = zhashx_size(self->view.by_name);
    s_record_t **records = malloc((count ? count : 1) * sizeof *records);
    if (!records) {
        il_log_error("%s: out of memory listing allocations", self->path);
        return;
    }
    size_t n = 0;
    for (s_record_t *r = zhashx_first(self->view.by_name); r && n < count;
         r = zhashx_next(self->view.by_name))
        records[n++] = r;
    for (size_t i = 0; i < n; i++)
        fn(arg, &records[i]->entry);
    free(records);
}

size_t alloc_db_count(alloc_db_t *self)
{
    return self ? zhashx_size(self->view.by_name) : 0;
}

size_t alloc_db_log_records(alloc_db_t *self)
{
    return self ? self->view.records : 0;
}

uint64_t alloc_db_syncs(alloc_db_t *self)
{
    return self ? self->syncs : 0;
}

const char *alloc_db_path(alloc_db_t *self)
{
    return self ? self->path : NULL;
}
