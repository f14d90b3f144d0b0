/* alloc_db: the IP allocator's durable, shared record of address holders (see alloc_db.h).
 *
 * File format (version 2), exactly (docs/ipalloc-db.md for operators):
 *   line 1:     "# interlook-ipalloc 2\n"
 *   lines 2, 3: the commit slots, "# commit <seq> <end> <hash>\n", 68 bytes
 *               each: seq and end 20 decimal digits, zero-padded; hash FNV-1a
 *               64 over "commit <seq> <end>" as written, 16 lowercase hex
 *   then groups, one per commit, each:
 *               "<op> <ip> <ms> <hash> <name>\n"   (one or more records)
 *               "C <seq> <n> <hash>\n"             (the group's trailer)
 * Records: fields separated by exactly one space; op is 'A' (allocation) or
 * 'R' (release); ip is 1..64 printable ASCII bytes other than space; ms is
 * 1..19 decimal digits (unix milliseconds, at most INT64_MAX); hash is 16
 * lowercase hex digits; name is the rest of the line, 1..255 bytes, none of
 * them a control character (< 0x20 or 0x7f), so it may contain spaces (even
 * leading or trailing ones). hash is FNV-1a 64 (offset basis
 * 0xcbf29ce484222325, prime 0x100000001b3) over the bytes "<op> <ip> <ms>
 * <name>": the line without its hash field, its separating space and its
 * newline, the fields exactly as they appear in the file.
 * Trailers: seq numbers the commits (each group seq + 1 of the one before it
 * in the file; the first group of a file any number), n is the number of
 * records in the group, hash is FNV-1a 64 with the previous trailer's hash as
 * the offset basis (the standard basis for the file's first group) over the
 * group's record lines, newlines included, then "C <seq> <n>".
 * Slots: the larger valid seq of the two says which group was committed last
 * and at which byte it ends. Group seq's slot is (seq % 2), rewritten in place
 * after the group's fdatasync, not synced itself (the next commit's fdatasync
 * carries it): a slot never claims a group that is not on disk, and a torn
 * slot write leaves the other slot's smaller claim.
 *
 * Why the slots: a trailer proves its group is whole, but a file that ends
 * after a whole group looks complete whatever was cut after it. Only
 * something before the cut can say how far the file went, and the start of
 * the file survives a shortened file; a side file would be a second file to
 * keep in step (and a restored backup would disagree with it), and a rename
 * per commit is too slow. What the slots cannot tell: a cut inside or just
 * before the last group when that group's slot had not reached the disk
 * (a power loss right after the commit) looks like a crash during that
 * commit, and is accepted with a warning.
 *
 * Replay rules: a group is applied once its trailer is read; A needs the name
 * to hold nothing and the address to be free; R needs the name to hold that
 * address. alloc_db_log_records counts the A and R lines.
 *
 * Version 1 files (the header "# interlook-ipalloc 1" and record lines, no
 * slots or trailers) are read as they were (a torn last line dropped) and
 * rewritten at once in version 2.
 *
 * Concurrency and durability: every read or write of the file happens under
 * an exclusive flock on "<path>.lock" (one open file description per handle,
 * so two handles in one process exclude each other too). A commit writes its
 * group at the end of the file and fdatasyncs it before the lock is released.
 * The file is only ever replaced by rename (creation, compaction, upgrade;
 * il_fileio_replace); the directory is also fsynced whenever a handle
 * (re)loads a file from scratch, since a renamer may have died before its own
 * directory fsync. A group without its trailer at the end of the file was
 * never acknowledged (commit returns after the whole group is written and
 * synced): when the slots do not claim it, it is dropped and truncated away
 * under the lock so that later commits start on a group of their own. */
#include "extensions/ipalloc/alloc_db.h"
#include "common/alloc.h"
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

#define ALLOC_DB_HEADER    "# interlook-ipalloc 2"
#define ALLOC_DB_HEADER_V1 "# interlook-ipalloc 1" /* read, then rewritten as version 2 */
#define ALLOC_DB_SLOT      68                      /* "# commit <20> <20> <16>\n" */
#define ALLOC_DB_PREAMBLE  (sizeof ALLOC_DB_HEADER + 2 * ALLOC_DB_SLOT) /* header, two slots */
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
    off_t offset;   /* bytes read and applied: at a group's end (version 1: a line's) */
    size_t lines;   /* complete lines read (the header is line 1) */
    size_t records; /* A and R lines read or appended */
    int version;    /* the file's format: 1 (read only) or 2 */
    uint64_t seq;   /* the last group read or written (0: none yet) */
    bool numbered;  /* a group was read from this file: the next is seq + 1 */
    uint64_t chain; /* the last group's checksum, which the next one extends */
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
    uint64_t syncs;      /* fsync / fdatasync calls made */
    bool compact_failed; /* the last compaction failed (said once until one works) */
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
    s_record_t *record = il_malloc(sizeof *record + namelen + iplen + 2);
    memcpy(record->text, name, namelen);
    record->text[namelen] = '\0';
    memcpy(record->text + namelen + 1, ip, iplen);
    record->text[namelen + 1 + iplen] = '\0';
    record->entry.name = record->text;
    record->entry.ip = record->text + namelen + 1;
    record->entry.time_ms = time_ms;
    return record;
}

/* Makes the two indexes; keys are the records' own strings. */
static void s_view_init(s_view_t *view)
{
    *view = (s_view_t){.fd = -1};
    view->by_name = zhashx_new();
    view->by_ip = zhashx_new();
    zhashx_set_key_duplicator(view->by_name, NULL);
    zhashx_set_key_destructor(view->by_name, NULL);
    zhashx_set_key_duplicator(view->by_ip, NULL);
    zhashx_set_key_destructor(view->by_ip, NULL);
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

/* Inserts record in both indexes. The caller has checked that neither its
 * name nor its address is held (zhashx_insert fails only on a key that is
 * there: czmq aborts when out of memory). */
static void s_view_insert(s_view_t *view, s_record_t *record)
{
    zhashx_insert(view->by_name, record->entry.name, record);
    zhashx_insert(view->by_ip, record->entry.ip, record);
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

/* A whole file's text, for s_write_text. */
typedef struct {
    const char *text;
    size_t len;
} s_text_t;

static int s_write_text(int fd, void *arg, char *err, size_t errlen)
{
    s_text_t *text = arg;
    if (il_fileio_write_all(fd, text->text, text->len) != 0)
        return il_err(err, errlen, "write: %s", strerror(errno));
    return 0;
}

/* Replaces the db file by text (il_fileio_replace). Under the lock. Returns
 * 0, -1 (the file is as it was) or -2 (in place, directory fsync failed),
 * with err; *fd_out gets the new file's descriptor on 0 and -2. */
static int s_replace_file(alloc_db_t *self, const char *text, size_t len, int *fd_out, char *err,
                          size_t errlen)
{
    s_text_t arg = {text, len};
    int rc = il_fileio_replace(self->path, s_write_text, &arg, fd_out, err, errlen);
    self->syncs += rc == 0 || rc == -2 ? 2 : 0; /* the file's fsync and the directory's */
    return rc;
}

/* Makes room for more bytes in *buf. */
static void s_reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return;
    size_t bigger = *cap ? *cap : 4096;
    while (bigger < need)
        bigger *= 2;
    *buf = il_realloc(*buf, bigger);
    *cap = bigger;
}

/* ---- staging --------------------------------------------------------------- */

/* Appends "<op> <ip> <ms> <hash> <name>\n" to *buf. */
static void s_format_line(char **buf, size_t *len, size_t *cap, char op, const char *ip,
                          int64_t time_ms, const char *name)
{
    char ms[24];
    int mslen = snprintf(ms, sizeof ms, "%" PRId64, time_ms);
    size_t iplen = strlen(ip), namelen = strlen(name);
    uint64_t hash = s_line_hash(op, ip, iplen, ms, (size_t)mslen, name, namelen);
    size_t need = *len + 2 + iplen + 1 + (size_t)mslen + 1 + 16 + 1 + namelen + 2;
    s_reserve(buf, cap, need);
    int n =
        snprintf(*buf + *len, need - *len, "%c %s %s %016" PRIx64 " %s\n", op, ip, ms, hash, name);
    *len += (size_t)n;
}

/* Records a staged change: its line in pending, its undo entry. */
static void s_stage(alloc_db_t *self, char op, s_record_t *record, int64_t now_ms)
{
    if (self->undo_len == self->undo_cap) {
        self->undo_cap = self->undo_cap ? self->undo_cap * 2 : 64;
        self->undo = il_realloc(self->undo, self->undo_cap * sizeof *self->undo);
    }
    s_format_line(&self->pending, &self->pending_len, &self->pending_cap, op, record->entry.ip,
                  now_ms, record->entry.name);
    self->pending_lines++;
    self->undo[self->undo_len++] = (s_undo_t){.op = op, .record = record};
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
            } else { /* newest first: its name and address are free again */
                s_view_insert(&self->view, record);
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

/* ---- commit records ---------------------------------------------------------- */

/* Formats the commit slot "# commit <seq> <end> <hash>\n" (ALLOC_DB_SLOT bytes
 * and a NUL) into buf: the last group committed and the byte it ends at. */
static void s_format_slot(char *buf, uint64_t seq, uint64_t end)
{
    char body[64];
    snprintf(body, sizeof body, "commit %020" PRIu64 " %020" PRIu64, seq, end);
    snprintf(buf, ALLOC_DB_SLOT + 1, "# %.48s %016" PRIx64 "\n", body,
             s_fnv(FNV_OFFSET, body, strlen(body)));
}

/* Parses one slot. -1 when it is not a valid one (never written whole). */
static int s_parse_slot(const char *slot, uint64_t *seq, uint64_t *end)
{
    char buf[ALLOC_DB_SLOT + 1];
    uint64_t s = 0, e = 0;
    if (memcmp(slot, "# commit ", 9) != 0 || slot[ALLOC_DB_SLOT - 1] != '\n') return -1;
    for (int i = 0; i < 20; i++) {
        if (slot[9 + i] < '0' || slot[9 + i] > '9' || slot[30 + i] < '0' || slot[30 + i] > '9')
            return -1;
        s = s * 10 + (uint64_t)(slot[9 + i] - '0');
        e = e * 10 + (uint64_t)(slot[30 + i] - '0');
    }
    s_format_slot(buf, s, e);
    if (memcmp(buf, slot, ALLOC_DB_SLOT) != 0) return -1;
    *seq = s;
    *end = e;
    return 0;
}

/* Reads the two slots: the latest valid one says which group was committed
 * last and where it ends (a slot is rewritten in place after each commit,
 * alternately, so that a torn write of one leaves the other). -1 with why. */
static int s_read_claim(s_view_t *view, uint64_t *seq, uint64_t *end, char *why, size_t whylen)
{
    char slots[2 * ALLOC_DB_SLOT];
    ssize_t n;
    do
        n = pread(view->fd, slots, sizeof slots, (off_t)sizeof ALLOC_DB_HEADER);
    while (n < 0 && errno == EINTR);
    if (n < 0) return il_err(why, whylen, "read: %s", strerror(errno));
    bool found = false;
    for (int i = 0; i < 2 && (size_t)n >= (size_t)(i + 1) * ALLOC_DB_SLOT; i++) {
        uint64_t s, e;
        if (s_parse_slot(slots + i * ALLOC_DB_SLOT, &s, &e) != 0) continue;
        if (!found || s > *seq) {
            *seq = s;
            *end = e;
        }
        found = true;
    }
    return found ? 0 : il_err(why, whylen, "no valid commit record (lines 2 and 3)");
}

/* Records in the file's slot for it that group seq ends at byte end. Not
 * synced: the next commit's fdatasync carries it (until then, a crash leaves
 * the previous slot, a smaller claim, which is safe). Failures are warned. */
static void s_write_claim(alloc_db_t *self, uint64_t seq, uint64_t end)
{
    char slot[ALLOC_DB_SLOT + 1];
    s_format_slot(slot, seq, end);
    off_t at = (off_t)(sizeof ALLOC_DB_HEADER + (seq % 2) * ALLOC_DB_SLOT);
    if (il_fileio_pwrite_all(self->view.fd, slot, ALLOC_DB_SLOT, at) != 0)
        il_log_warn("%s: cannot record commit %" PRIu64 " in the header: %s", self->path, seq,
                    strerror(errno));
}

/* The checksum of a group: FNV-1a 64 over the previous group's checksum (as
 * the basis), the group's record lines and its trailer without the hash. */
static uint64_t s_group_hash(uint64_t chain, const char *lines, size_t len, const char *trailer,
                             size_t tlen)
{
    return s_fnv(s_fnv(chain, lines, len), trailer, tlen);
}

/* Appends the trailer "C <seq> <n> <hash>\n" that closes the group whose
 * lines are buf[start, *len). Sets *hash to its hash, *len advanced. */
static void s_format_trailer(char **buf, size_t *len, size_t *cap, size_t start, uint64_t chain,
                             uint64_t seq, size_t lines, uint64_t *hash)
{
    char body[64];
    int blen = snprintf(body, sizeof body, "C %" PRIu64 " %zu", seq, lines);
    s_reserve(buf, cap, *len + (size_t)blen + 19);
    *hash = s_group_hash(chain, *buf + start, *len - start, body, (size_t)blen);
    *len += (size_t)snprintf(*buf + *len, (size_t)blen + 19, "%s %016" PRIx64 "\n", body, *hash);
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
        s_view_insert(view, s_record_new(name, namelen, ip, iplen, (int64_t)time));
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

/* Reads a version 1 file past view->offset and applies it line by line. A
 * last line without its newline is dropped with a warning and truncated away. */
static int s_catch_up_v1(alloc_db_t *self, s_view_t *view, const char *data, size_t size,
                         size_t pos, char *err, size_t errlen)
{
    char why[512];
    while (pos < size) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', size - pos);
        if (!nl) { /* torn tail: a write that never completed, never acknowledged */
            il_log_warn("%s:%zu: dropping a torn last line (%zu bytes without a newline)",
                        self->path, view->lines + 1, size - pos);
            if (ftruncate(view->fd, view->offset) != 0)
                return il_err(err, errlen, "%s:%zu: cannot truncate a torn last line: %s",
                              self->path, view->lines + 1, strerror(errno));
            break;
        }
        size_t len = (size_t)(nl - line);
        if (s_apply_line(view, line, len, why, sizeof why) != 0)
            return il_err(err, errlen, "%s:%zu: %s", self->path, view->lines + 1, why);
        pos += len + 1;
        view->offset += (off_t)(len + 1);
        view->lines++;
    }
    return 0;
}

/* Checks the trailer line of the group data[start, at) of glines lines. On
 * success the group's number and checksum go to *seq and *hash. */
static int s_check_trailer(s_view_t *view, const char *data, size_t start, size_t at, size_t len,
                           size_t glines, uint64_t *seq, uint64_t *hash, char *why, size_t whylen)
{
    const char *line = data + at;
    uint64_t nums[2] = {0, 0};
    size_t p = 1;
    for (int f = 0; f < 2; f++) {
        if (p >= len || line[p] != ' ')
            return il_err(why, whylen, "malformed group trailer (expected 'C <seq> <n> <hash>')");
        size_t digits = 0;
        for (p++; p < len && line[p] >= '0' && line[p] <= '9' && digits < 19; p++, digits++)
            nums[f] = nums[f] * 10 + (uint64_t)(line[p] - '0');
        if (digits == 0)
            return il_err(why, whylen, "malformed group trailer (expected 'C <seq> <n> <hash>')");
    }
    size_t body = p;
    uint64_t stored = 0;
    if (len != body + 17 || line[body] != ' ')
        return il_err(why, whylen, "malformed group trailer (bad checksum field)");
    for (size_t i = body + 1; i < len; i++) {
        char c = line[i];
        if (c >= '0' && c <= '9')
            stored = stored << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            stored = stored << 4 | (uint64_t)(c - 'a' + 10);
        else
            return il_err(why, whylen, "malformed group trailer (bad checksum field)");
    }
    if (nums[1] != glines)
        return il_err(why, whylen, "group %" PRIu64 " counts %" PRIu64 " records, %zu precede it",
                      nums[0], nums[1], glines);
    if (view->numbered && nums[0] != view->seq + 1)
        return il_err(why, whylen, "group %" PRIu64 " follows group %" PRIu64, nums[0], view->seq);
    if (s_group_hash(view->chain, data + start, at - start, line, body) != stored)
        return il_err(why, whylen,
                      "group %" PRIu64 " checksum mismatch (its records were changed, removed "
                      "or reordered)",
                      nums[0]);
    *seq = nums[0];
    *hash = stored;
    return 0;
}

/* Reads a version 2 file past view->offset (a group's end) and applies its
 * complete groups. Then checks the file against its commit slots: ending
 * before the last group they record is a file cut short, refused; an
 * incomplete group after the last complete one (a commit that never
 * returned, never acknowledged) is dropped with a warning and truncated away. */
static int s_catch_up_v2(alloc_db_t *self, s_view_t *view, const char *data, size_t size,
                         size_t pos, char *err, size_t errlen)
{
    char why[512];
    size_t start = pos, glines = 0;
    while (pos < size) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', size - pos);
        if (!nl) break; /* a torn last line */
        size_t len = (size_t)(nl - line);
        if (len == 0 || line[0] != 'C') {
            glines++;
            pos += len + 1;
            continue;
        }
        uint64_t seq = 0, hash = 0;
        /* The records first: a damaged one is named by its own line. */
        size_t at = start;
        for (size_t k = 0; k < glines; k++) {
            const char *rec = data + at;
            size_t rlen = (size_t)((const char *)memchr(rec, '\n', pos - at) - rec);
            if (s_apply_line(view, rec, rlen, why, sizeof why) != 0)
                return il_err(err, errlen, "%s:%zu: %s", self->path, view->lines + 1, why);
            view->lines++;
            at += rlen + 1;
        }
        if (s_check_trailer(view, data, start, pos, len, glines, &seq, &hash, why, sizeof why) != 0)
            return il_err(err, errlen, "%s:%zu: %s", self->path, view->lines + 1, why);
        pos += len + 1;
        view->lines++;
        view->offset += (off_t)(pos - start);
        view->seq = seq;
        view->chain = hash;
        view->numbered = true;
        start = pos;
        glines = 0;
    }
    uint64_t claim_seq = 0, claim_end = 0;
    if (s_read_claim(view, &claim_seq, &claim_end, why, sizeof why) != 0)
        return il_err(err, errlen, "%s:2: %s", self->path, why);
    size_t tail = size - start; /* bytes of an incomplete group */
    if ((uint64_t)view->offset < claim_end) {
        char after[64] = "its header";
        if (view->numbered) snprintf(after, sizeof after, "group %" PRIu64, view->seq);
        return il_err(err, errlen,
                      "%s: ends after %s at byte %lld%s, but the last commit was group %" PRIu64
                      ", which ends at byte %" PRIu64
                      ": the file was cut short (a full disk? an interrupted copy or restore?); "
                      "allocations are missing and would be handed out twice: restore the file "
                      "from a backup (docs/ipalloc-db.md)",
                      self->path, after, (long long)view->offset,
                      tail ? " (then an incomplete group)" : "", claim_seq, claim_end);
    }
    if (tail > 0) {
        il_log_warn(
            "%s:%zu: dropping an incomplete last group (%zu complete records, %zu bytes, no "
            "trailer): a commit that never completed, never acknowledged",
            self->path, view->lines + 1, glines, tail);
        if (ftruncate(view->fd, view->offset) != 0)
            return il_err(err, errlen, "%s:%zu: cannot truncate an incomplete last group: %s",
                          self->path, view->lines + 1, strerror(errno));
    }
    return 0;
}

/* Reads what view->fd holds past view->offset and applies it (offset and
 * lines advance with what is applied). Under the lock. -1 with
 * "PATH[:LINE]: reason" in err. */
static int s_catch_up(alloc_db_t *self, s_view_t *view, char *err, size_t errlen)
{
    char *data = NULL;
    size_t size = 0;
    if (il_fileio_read_from(view->fd, view->offset, &data, &size) != 0)
        return il_err(err, errlen, "%s: read: %s", self->path, strerror(errno));
    size_t pos = 0;
    if (view->offset == 0) {
        const char *nl = memchr(data, '\n', size);
        size_t hlen = strlen(ALLOC_DB_HEADER);
        size_t len = nl ? (size_t)(nl - data) : 0;
        if (nl && len == hlen && memcmp(data, ALLOC_DB_HEADER, hlen) == 0) {
            view->version = 2;
            pos = ALLOC_DB_PREAMBLE;
            view->lines = 3;
            if (size < pos) {
                free(data);
                return il_err(err, errlen, "%s: cut short inside its header (%zu bytes)",
                              self->path, size);
            }
        } else if (nl && len == hlen && memcmp(data, ALLOC_DB_HEADER_V1, hlen) == 0) {
            view->version = 1;
            pos = hlen + 1;
            view->lines = 1;
        } else {
            free(data);
            return il_err(err, errlen, "%s:1: not an interlook-ipalloc file (expected '%s')",
                          self->path, ALLOC_DB_HEADER);
        }
        view->offset = (off_t)pos;
        view->chain = FNV_OFFSET;
    }
    int rc = view->version == 1 ? s_catch_up_v1(self, view, data, size, pos, err, errlen)
                                : s_catch_up_v2(self, view, data, size, pos, err, errlen);
    free(data);
    return rc;
}

static int s_rewrite(alloc_db_t *self, char *err, size_t errlen);

/* Opens the db file afresh and loads it into a new view, which replaces the
 * current one on success (the current one stays on failure). Under the lock.
 * -1 with err. */
static int s_reload(alloc_db_t *self, char *err, size_t errlen)
{
    s_view_t fresh;
    s_view_init(&fresh);
    fresh.fd = open(self->path, O_RDWR | O_CLOEXEC);
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
    if (self->view.version == 1) { /* an older release's file: rewritten in this format */
        size_t live = zhashx_size(self->view.by_name);
        if (s_rewrite(self, err, errlen) != 0) {
            if (self->view.fd >= 0) close(self->view.fd);
            self->view.fd = -1; /* the next begin reads the file again */
            return -1;
        }
        il_log_info("%s: rewritten in format 2 (%zu allocations)", self->path, live);
    }
    if (self->view.observer) { /* a new view: start over, then every live allocation */
        self->view.observer(self->view.observer_arg, '0', NULL);
        for (s_record_t *r = zhashx_first(self->view.by_name); r;
             r = zhashx_next(self->view.by_name))
            self->view.observer(self->view.observer_arg, 'A', r->entry.ip);
    }
    return 0;
}

/* The text of a new file: header, both slots, and unless seq is 0 one group
 * seq holding an A line per live allocation of the view. Sets *hash to the
 * group's checksum. */
static void s_snapshot(s_view_t *view, uint64_t seq, char **buf, size_t *len, uint64_t *hash)
{
    size_t cap = 0;
    *buf = NULL;
    *len = 0;
    s_reserve(buf, &cap, ALLOC_DB_PREAMBLE + 1);
    *len = (size_t)snprintf(*buf, cap, "%s\n", ALLOC_DB_HEADER) + 2 * ALLOC_DB_SLOT;
    size_t live = 0;
    *hash = FNV_OFFSET;
    if (seq > 0) {
        for (s_record_t *r = zhashx_first(view->by_name); r; r = zhashx_next(view->by_name)) {
            s_format_line(buf, len, &cap, 'A', r->entry.ip, r->entry.time_ms, r->entry.name);
            live++;
        }
        s_format_trailer(buf, len, &cap, ALLOC_DB_PREAMBLE, FNV_OFFSET, seq, live, hash);
    }
    char slot[ALLOC_DB_SLOT + 1];
    s_format_slot(slot, seq, *len);
    memcpy(*buf + sizeof ALLOC_DB_HEADER, slot, ALLOC_DB_SLOT);
    memcpy(*buf + sizeof ALLOC_DB_HEADER + ALLOC_DB_SLOT, slot, ALLOC_DB_SLOT);
}

/* Creates the db file with its header (temporary file + rename, so that no
 * one ever sees a file without its header). Under the lock. -1 with err. */
static int s_create(alloc_db_t *self, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    uint64_t hash;
    s_snapshot(&self->view, 0, &buf, &len, &hash);
    int rc = s_replace_file(self, buf, len, NULL, err, errlen);
    free(buf);
    return rc == 0 ? 0 : -1;
}

/* Replaces the file by a snapshot of the live allocations (one group, the
 * next number) and makes the view that of the new file. Under the lock.
 * Returns 0; -1 when the file stays as it was; -2 when the new file is in
 * place but its rename may not be durable. err says why. */
static int s_rewrite(alloc_db_t *self, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    uint64_t hash, seq = self->view.seq + 1;
    s_snapshot(&self->view, seq, &buf, &len, &hash);
    int fd = -1;
    int rc = s_replace_file(self, buf, len, &fd, err, errlen);
    free(buf);
    if (rc == -1) return -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        /* In place, but not reopened: the next begin reloads it. */
        if (fd >= 0) close(fd);
        if (self->view.fd >= 0) close(self->view.fd);
        self->view.fd = -1;
        return rc;
    }
    if (self->view.fd >= 0) close(self->view.fd);
    size_t live = zhashx_size(self->view.by_name);
    self->view.fd = fd;
    self->view.dev = st.st_dev;
    self->view.ino = st.st_ino;
    self->view.offset = (off_t)len;
    self->view.lines = 3 + live + 1;
    self->view.records = live;
    self->view.version = 2;
    self->view.seq = seq;
    self->view.numbered = true;
    self->view.chain = hash;
    return rc;
}

/* ---- compaction ------------------------------------------------------------ */

/* Replaces the log by a snapshot of the live allocations. Under the lock,
 * after a successful commit: failures are only warned about (the log is
 * still valid; a new file not reopened makes the next begin reload). */
static void s_compact(alloc_db_t *self)
{
    size_t before = self->view.records, live = zhashx_size(self->view.by_name);
    char err[512];
    int rc = s_rewrite(self, err, sizeof err);
    bool told = self->compact_failed;
    self->compact_failed = rc == -1;
    if (rc == -1 && !told) /* a full disk: tried again after each commit, said once */
        il_log_warn("%s: compaction failed, the log stays as it was: %s (retried after each "
                    "commit)",
                    self->path, err);
    else if (rc == -1)
        il_log_debug("%s: compaction failed again: %s", self->path, err);
    else if (rc != 0)
        il_log_warn("%s: compaction: %s (the new file is in place)", self->path, err);
    else
        il_log_info("%s: compacted %zu records into %zu live allocations", self->path, before,
                    live);
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
    alloc_db_t *self = il_calloc(1, sizeof *self);
    self->lock_fd = -1;
    s_view_init(&self->view);
    self->path = il_strdup(path);
    const char *slash = strrchr(path, '/');
    if (!slash)
        self->dir = il_strdup(".");
    else if (slash == path)
        self->dir = il_strdup("/");
    else
        self->dir = il_strndup(path, (size_t)(slash - path));
    self->lock_path = il_malloc(len + 6);
    snprintf(self->lock_path, len + 6, "%s.lock", path);

    char *prefix = il_strdup(self->dir);
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
        struct stat link;
        if (errno == ENOENT && lstat(path, &link) == 0) /* not a first start: a lost file */
            rc = il_err(err, errlen, "%s: a symbolic link to a file that does not exist", path);
        else if (errno == ENOENT)
            rc = s_create(self, err, errlen);
        else
            rc = il_err(err, errlen, "%s: stat: %s", path, strerror(errno));
    }
    if (rc == 0) rc = s_reload(self, err, errlen);
    s_unlock(self);
    if (rc != 0) goto fail;
    return self;
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
        if (rc != 0) { /* part of a group may be applied: read the file afresh next time */
            close(self->view.fd);
            self->view.fd = -1;
        }
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
    s_view_insert(&self->view, record);
    s_stage(self, 'A', record, now_ms);
    return 0;
}

int alloc_db_stage_release(alloc_db_t *self, const char *name, int64_t now_ms)
{
    if (!self || !self->in_batch || !name || now_ms < 0) return -1;
    s_record_t *record = zhashx_lookup(self->view.by_name, name);
    if (!record) return -1;
    s_stage(self, 'R', record, now_ms);
    s_view_remove(&self->view, record);
    return 0;
}

int alloc_db_commit(alloc_db_t *self, char *err, size_t errlen)
{
    if (!self) return il_err(err, errlen, "ipalloc db: no db");
    if (!self->in_batch) return il_err(err, errlen, "%s: no batch open", self->path);
    if (self->pending_len > 0) {
        s_view_t *view = &self->view;
        uint64_t seq = view->seq + 1, hash = 0;
        s_format_trailer(&self->pending, &self->pending_len, &self->pending_cap, 0, view->chain,
                         seq, self->pending_lines, &hash);
        int rc = il_fileio_pwrite_all(view->fd, self->pending, self->pending_len, view->offset);
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
        view->lines += self->pending_lines + 1;
        view->records += self->pending_lines;
        view->seq = seq;
        view->chain = hash;
        view->numbered = true;
        s_end_staging(self, false);
        /* After the fdatasync: a slot never claims a group not on disk. */
        s_write_claim(self, seq, (uint64_t)view->offset);
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
    s_record_t **records = il_calloc(count, sizeof *records);
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
