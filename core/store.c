/* store: the core's entries file, saved atomically and durably, loaded strictly (see store.h). */
#define _GNU_SOURCE /* memmem */
#include "core/store.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/codec.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define STORE_FORMAT  "interlook-entries"
#define STORE_VERSION 3            /* written; versions 1 and 2 are read too */
#define STORE_FLUSH   (256 * 1024) /* bytes buffered before a write(2) */
#define STORE_SLACK   1000         /* records beyond 2x the entries before compacting */

struct _store_t {
    char *path;              /* the entries file */
    char *dir;               /* its parent directory (fsynced after a rename) */
    bool steps_changed;      /* the file was saved with another workflow */
    size_t dropped;          /* bytes of an incomplete last batch dropped at load */
    int fd;                  /* the file as last written in full, for appends; -1: none */
    bool need_full;          /* the next save must rewrite the file (after a failure) */
    size_t records;          /* entry and removal records in the file */
    const entry_t **changed; /* entries changed since the last save, each once */
    size_t nchanged, changed_cap;
    uint32_t *slot; /* entry id -> its index in changed + 1, 0 when not there */
    size_t slot_cap;
    zhashx_t *removed; /* names of the entries removed since the last save */
    uint64_t seq;      /* the last batch saved or loaded (0: none numbered) */
    int64_t saved_at;  /* when it was saved (unix ms; 0: unknown) */
};

/* The packer's output during a save: records accumulate in buf, which is
 * written out and cleared whenever it holds STORE_FLUSH bytes. */
typedef struct {
    msgpack_sbuffer buf; /* pending bytes, whole records only once a record is done */
    int fd;              /* the temporary file */
    bool oom;            /* a write into buf failed: the pending record is incomplete */
    bool sealed;         /* records carry a CRC-32C (all but the header) */
} s_out_t;

/* A record's frame: its length, then (sealed records) the CRC-32C of its bytes. */
#define S_FRAME        4
#define S_FRAME_SEALED 8

store_t *store_new(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) {
        il_err(err, errlen, "entries file: empty path");
        return NULL;
    }
    size_t len = strlen(path);
    if (path[len - 1] == '/') {
        il_err(err, errlen, "%s: is a directory", path);
        return NULL;
    }
    store_t *self = il_calloc(1, sizeof *self);
    self->fd = -1;
    self->path = il_strdup(path);
    self->removed = zhashx_new();
    const char *slash = strrchr(path, '/');
    if (!slash)
        self->dir = il_strdup(".");
    else if (slash == path)
        self->dir = il_strdup("/");
    else
        self->dir = il_strndup(path, (size_t)(slash - path));

    char *prefix = il_strdup(self->dir);
    if (il_fileio_mkdirs(prefix) != 0) {
        il_err(err, errlen, "%s: cannot create directory %s: %s", path, prefix, strerror(errno));
        free(prefix);
        store_destroy(&self);
        return NULL;
    }
    free(prefix);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        il_err(err, errlen, "%s: is a directory", path);
        store_destroy(&self);
        return NULL;
    }
    return self;
}

void store_destroy(store_t **self_p)
{
    if (!self_p || !*self_p) return;
    store_t *self = *self_p;
    if (self->fd >= 0) close(self->fd);
    free(self->changed);
    free(self->slot);
    zhashx_destroy(&self->removed);
    free(self->path);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

bool store_steps_changed(store_t *self)
{
    return self->steps_changed;
}

const char *store_path(store_t *self)
{
    return self->path;
}

size_t store_records(store_t *self)
{
    return self->records;
}

size_t store_dropped(store_t *self)
{
    return self->dropped;
}

/* Forgets what changed since the last save (which wrote it all). */
static void s_changes_clear(store_t *self)
{
    for (size_t i = 0; i < self->nchanged; i++)
        self->slot[self->changed[i]->id] = 0;
    self->nchanged = 0;
    zhashx_purge(self->removed);
}

/* True when the entry is in the list of changes. */
static bool s_listed(store_t *self, const entry_t *entry)
{
    uint32_t slot = entry->id < self->slot_cap ? self->slot[entry->id] : 0;
    return slot && self->changed[slot - 1] == entry;
}

void store_touch(store_t *self, const entry_t *entry)
{
    /* A list of entries, each once (the slots by entry id): an entry changes
     * several times between two saves. */
    if (s_listed(self, entry)) return;
    if (zhashx_size(self->removed)) zhashx_delete(self->removed, entry->name); /* back again */
    if (self->nchanged == self->changed_cap) {
        self->changed_cap = self->changed_cap ? self->changed_cap * 2 : 256;
        self->changed = il_realloc(self->changed, self->changed_cap * sizeof *self->changed);
    }
    if (entry_slots_reserve((void **)&self->slot, &self->slot_cap, sizeof *self->slot, entry->id) !=
        0) {
        self->need_full = true; /* no id: the next save writes everything */
        return;
    }
    self->changed[self->nchanged++] = entry;
    self->slot[entry->id] = (uint32_t)self->nchanged;
}

void store_forget(store_t *self, const entry_t *entry)
{
    if (s_listed(self, entry)) {
        uint32_t i = self->slot[entry->id] - 1;
        const entry_t *last = self->changed[--self->nchanged];
        self->changed[i] = last;
        self->slot[last->id] = i + 1;
        self->slot[entry->id] = 0;
    }
    zhashx_insert(self->removed, entry->name, (void *)""); /* -1: already there */
}

/* ---- save ---------------------------------------------------------------- */

/* The packer's write callback: appends to the pending buffer, notes a failure. */
static int s_out_write(void *data, const char *buf, size_t len)
{
    s_out_t *out = data;
    if (msgpack_sbuffer_write(&out->buf, buf, len) != 0) {
        out->oom = true;
        return -1;
    }
    return 0;
}

/* Begins a record: a placeholder for its frame. Returns its offset in the buffer. */
static size_t s_record_begin(s_out_t *out)
{
    size_t start = out->buf.size;
    s_out_write(out, "\0\0\0\0\0\0\0\0", out->sealed ? S_FRAME_SEALED : S_FRAME);
    return start;
}

static void s_put_be32(unsigned char *p, uint32_t value)
{
    p[0] = (unsigned char)(value >> 24);
    p[1] = (unsigned char)(value >> 16);
    p[2] = (unsigned char)(value >> 8);
    p[3] = (unsigned char)value;
}

static uint32_t s_get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Ends the record begun at start: fills in its length, writes the buffer out
 * when it is full enough. Returns -1 with err (what = the record, name = the
 * entry's) on failure. */
static int s_record_end(s_out_t *out, size_t start, const char *path, const char *what,
                        const char *name, char *err, size_t errlen)
{
    /* name: the entry's (formatted only when there is an error to report) */
    if (out->oom)
        return name ? il_err(err, errlen, "%s: entry '%s': out of memory", path, name)
                    : il_err(err, errlen, "%s: %s: out of memory", path, what);
    size_t frame = out->sealed ? S_FRAME_SEALED : S_FRAME;
    size_t len = out->buf.size - start - frame;
    if (len > IL_CODEC_MAX_FRAME)
        return name ? il_err(err, errlen, "%s: entry '%s': record of %zu bytes exceeds %d", path,
                             name, len, IL_CODEC_MAX_FRAME)
                    : il_err(err, errlen, "%s: %s: record of %zu bytes exceeds %d", path, what, len,
                             IL_CODEC_MAX_FRAME);
    unsigned char *p = (unsigned char *)out->buf.data + start;
    s_put_be32(p, (uint32_t)len);
    if (out->sealed) s_put_be32(p + 4, il_fileio_crc32c(0, p + frame, len));
    if (out->buf.size >= STORE_FLUSH) {
        if (il_fileio_write_all(out->fd, out->buf.data, out->buf.size) != 0)
            return il_err(err, errlen, "%s: write: %s", path, strerror(errno));
        msgpack_sbuffer_clear(&out->buf);
    }
    return 0;
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes one entry's record. An entry at rest (deployed or undeployed, no
 * work out) rarely changes again: the packed service it kept for its steps
 * is let go, so that resting entries cost no more memory than before. */
static int s_entry_record(s_out_t *out, msgpack_packer *pk, const entry_t *entry,
                          const char *const *steps, const char *path, char *err, size_t errlen)
{
    size_t start = s_record_begin(out);
    entry_pack(entry, steps, pk);
    if (!entry->wip && entry->state != ENTRY_AT_STEP) entry_service_changed(entry);
    return s_record_end(out, start, path, "entry", entry->name, err, errlen);
}

/* Writes the trailer that closes a batch (count: entries after it; seq: the
 * batch's number; saved_at: now), then whatever is still buffered. */
static int s_trailer(s_out_t *out, msgpack_packer *pk, uint64_t count, uint64_t seq,
                     int64_t saved_at, const char *path, char *err, size_t errlen)
{
    size_t start = s_record_begin(out);
    msgpack_pack_map(pk, 4);
    il_codec_pack_key_bool(pk, "end", true);
    il_codec_pack_key_uint(pk, "count", count);
    il_codec_pack_key_uint(pk, "saved_at", (uint64_t)saved_at);
    il_codec_pack_key_uint(pk, "seq", seq);
    if (s_record_end(out, start, path, "trailer", NULL, err, errlen) != 0) return -1;
    if (out->buf.size > 0 && il_fileio_write_all(out->fd, out->buf.data, out->buf.size) != 0)
        return il_err(err, errlen, "%s: write: %s", path, strerror(errno));
    msgpack_sbuffer_clear(&out->buf);
    return 0;
}

/* What a full save writes (the writer of il_fileio_replace). */
typedef struct {
    s_out_t *out;
    workflow_t *workflow;
    const char *path;
    uint64_t seq;     /* the batch's number */
    int64_t saved_at; /* its time */
} s_full_t;

/* Writes header, entries and trailer to out->fd, then flushes. */
static int s_save_records(s_out_t *out, workflow_t *workflow, const char *path, uint64_t seq,
                          int64_t saved_at, char *err, size_t errlen)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, s_out_write);
    const char *const *steps = workflow_steps(workflow);
    int nsteps = workflow_nsteps(workflow);

    size_t start = s_record_begin(out);
    msgpack_pack_map(&pk, 4);
    il_codec_pack_key_str(&pk, "format", STORE_FORMAT);
    il_codec_pack_key_uint(&pk, "version", STORE_VERSION);
    il_codec_pack_str(&pk, "steps");
    msgpack_pack_array(&pk, (size_t)nsteps);
    for (int i = 0; i < nsteps; i++)
        il_codec_pack_str(&pk, steps[i]);
    il_codec_pack_key_uint(&pk, "saved_at", (uint64_t)s_now_ms());
    if (s_record_end(out, start, path, "header", NULL, err, errlen) != 0) return -1;
    out->sealed = true;

    uint64_t count = 0;
    for (entry_t *entry = workflow_first(workflow); entry; entry = workflow_next(workflow)) {
        if (s_entry_record(out, &pk, entry, steps, path, err, errlen) != 0) return -1;
        count++;
    }
    return s_trailer(out, &pk, count, seq, saved_at, path, err, errlen);
}

static int s_full_write(int fd, void *arg, char *err, size_t errlen)
{
    s_full_t *full = arg;
    full->out->fd = fd;
    full->out->sealed = false;
    return s_save_records(full->out, full->workflow, full->path, full->seq, full->saved_at, err,
                          errlen);
}

int store_save(store_t *self, workflow_t *workflow, char *err, size_t errlen)
{
    assert(self && workflow);
    /* Until this save is through, no batch may be appended to what is there. */
    self->need_full = true;
    s_out_t out = {.fd = -1};
    msgpack_sbuffer_init(&out.buf);
    s_full_t full = {.out = &out,
                     .workflow = workflow,
                     .path = self->path,
                     .seq = self->seq + 1,
                     .saved_at = s_now_ms()};
    int fd = -1;
    int rc = il_fileio_replace(self->path, s_full_write, &full, &fd, err, errlen);
    msgpack_sbuffer_destroy(&out.buf);
    if (rc == -1) return -1;
    /* The new file is in place (even when the directory fsync failed: then
     * the failure is reported, and the next save is a full one again); its
     * descriptor stays open for the batches appended to it. */
    if (self->fd >= 0) close(self->fd);
    self->fd = fd;
    self->records = workflow_size(workflow);
    self->seq = full.seq;
    self->saved_at = full.saved_at;
    s_changes_clear(self);
    if (rc != 0) return -1;
    self->need_full = false;
    return 0;
}

/* True when the file at the path is no longer the one appended to (it was
 * replaced or removed behind the core's back). */
static bool s_replaced(store_t *self)
{
    struct stat mine, there;
    return fstat(self->fd, &mine) != 0 || stat(self->path, &there) != 0 ||
           mine.st_ino != there.st_ino || mine.st_dev != there.st_dev;
}

/* Appends one batch: the touched entries (or their removal) and a trailer. */
static int s_append(store_t *self, workflow_t *workflow, char *err, size_t errlen)
{
    const char *const *steps = workflow_steps(workflow);
    s_out_t out = {.fd = self->fd, .sealed = true};
    msgpack_sbuffer_init(&out.buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, s_out_write);
    size_t written = 0;
    int rc = -1;
    for (size_t i = 0; i < self->nchanged; i++) {
        if (s_entry_record(&out, &pk, self->changed[i], steps, self->path, err, errlen) != 0)
            goto done;
        written++;
    }
    for (void *item = zhashx_first(self->removed); item; item = zhashx_next(self->removed)) {
        size_t start = s_record_begin(&out);
        msgpack_pack_map(&pk, 1);
        il_codec_pack_key_str(&pk, "removed", zhashx_cursor(self->removed));
        if (s_record_end(&out, start, self->path, "removal", NULL, err, errlen) != 0) goto done;
        written++;
    }
    int64_t saved_at = s_now_ms();
    if (s_trailer(&out, &pk, workflow_size(workflow), self->seq + 1, saved_at, self->path, err,
                  errlen) != 0)
        goto done;
    /* Saved only once it is on disk. */
    if (fsync(self->fd) != 0) {
        il_err(err, errlen, "%s: fsync: %s", self->path, strerror(errno));
        goto done;
    }
    self->records += written;
    self->seq++;
    self->saved_at = saved_at;
    s_changes_clear(self);
    rc = 0;
done:
    msgpack_sbuffer_destroy(&out.buf);
    /* What was written may be a partial batch: never append after it, the
     * next save rewrites the file instead (until then it is a torn tail). */
    if (rc != 0) self->need_full = true;
    return rc;
}

int store_save_changes(store_t *self, workflow_t *workflow, char *err, size_t errlen)
{
    assert(self && workflow);
    if (self->fd < 0 || self->need_full ||
        self->records > 2 * workflow_size(workflow) + STORE_SLACK || s_replaced(self))
        return store_save(self, workflow, err, errlen);
    if (self->nchanged == 0 && zhashx_size(self->removed) == 0) return 0;
    return s_append(self, workflow, err, errlen);
}

/* ---- load ---------------------------------------------------------------- */

/* Checks the header record; its version into *version. */
static int s_check_header(const msgpack_object *obj, uint64_t *version, char *why, size_t whylen)
{
    if (obj->type != MSGPACK_OBJECT_MAP) return il_err(why, whylen, "header: expected a map");
    const msgpack_object *format = il_codec_map_get(obj, "format");
    if (!format || format->type != MSGPACK_OBJECT_STR ||
        format->via.str.size != strlen(STORE_FORMAT) ||
        memcmp(format->via.str.ptr, STORE_FORMAT, format->via.str.size) != 0)
        return il_err(why, whylen, "not an interlook entries file (no format \"%s\")",
                      STORE_FORMAT);
    if (il_codec_get_uint(obj, "version", 0, UINT64_MAX, true, 0, version, why, whylen) != 0)
        return -1;
    if (*version < 1 || *version > STORE_VERSION)
        return il_err(why, whylen,
                      "unsupported version %llu (this interlookd reads versions 1 to %d)",
                      (unsigned long long)*version, STORE_VERSION);
    return 0;
}

/* True when the header's steps differ from the workflow's. */
static bool s_steps_differ(const msgpack_object *header, const char *const *steps, int nsteps)
{
    const msgpack_object *list = il_codec_map_get(header, "steps");
    if (!list || list->type != MSGPACK_OBJECT_ARRAY || list->via.array.size != (uint32_t)nsteps)
        return true;
    for (int i = 0; i < nsteps; i++) {
        const msgpack_object *item = &list->via.array.ptr[i];
        if (item->type != MSGPACK_OBJECT_STR || item->via.str.size != strlen(steps[i]) ||
            memcmp(item->via.str.ptr, steps[i], item->via.str.size) != 0)
            return true;
    }
    return false;
}

typedef enum { S_ENTRY, S_REMOVAL, S_TRAILER, S_HEADER } s_kind_t;

/* What a record after the header is (a non-map is an entry that entry_unpack refuses). */
static s_kind_t s_kind(const msgpack_object *obj)
{
    if (obj->type != MSGPACK_OBJECT_MAP) return S_ENTRY;
    if (il_codec_map_get(obj, "end")) return S_TRAILER;
    if (il_codec_map_get(obj, "removed")) return S_REMOVAL;
    if (il_codec_map_get(obj, "format")) return S_HEADER;
    return S_ENTRY;
}

/* Where the latest record of an entry is, read in the first pass and decoded
 * in the second (so that only the records that count are checked against the
 * workflow: an older one may name a step that was removed since). */
typedef struct {
    size_t off, len; /* its msgpack bytes */
    size_t k;        /* its record number (for errors) */
    bool removed;    /* a removal record */
} s_loc_t;

/* Reads the record at off (its frame of frame bytes: the length, and in a
 * sealed frame the CRC-32C of the bytes, checked; then one msgpack object
 * into msg). *next is the offset after it when its length is plausible, else 0. */
static int s_read_record(const char *data, size_t size, size_t off, size_t frame, s_loc_t *loc,
                         size_t *next, msgpack_unpacked *msg, char *why, size_t whylen)
{
    const unsigned char *p = (const unsigned char *)data;
    *next = 0;
    if (size - off < frame)
        return il_err(why, whylen, "truncated or corrupt (record frame cut at byte %zu)", size);
    size_t len = s_get_be32(p + off);
    if (len == 0 || len > IL_CODEC_MAX_FRAME)
        return il_err(why, whylen, "truncated or corrupt (record length %zu at byte %zu)", len,
                      off);
    if (len > size - off - frame)
        return il_err(why, whylen,
                      "truncated or corrupt (record of %zu bytes, only %zu left in the file)", len,
                      size - off - frame);
    *next = off + frame + len;
    loc->off = off + frame;
    loc->len = len;
    if (frame == S_FRAME_SEALED &&
        il_fileio_crc32c(0, p + off + frame, len) != s_get_be32(p + off + 4))
        return il_err(why, whylen,
                      "checksum mismatch (the record at byte %zu was changed since it was written)",
                      off);
    char reason[256] = "";
    if (il_codec_unpack(data + off + frame, len, msg, reason, sizeof reason) != 0)
        return il_err(why, whylen, "truncated or corrupt (%s)", reason);
    return 0;
}

/* True when a whole trailer comes somewhere after off: then the damage at
 * off is not the cut end of an interrupted save (a save writes its trailer
 * last) but corruption. The damage may be in a length, so the trailers are
 * looked for by their bytes ({end: true, ...} as the writer packs it) and
 * each candidate is read as a record. */
static bool s_trailer_follows(const char *data, size_t size, size_t off, size_t frame)
{
    static const char mark[] = "\xa3"
                               "end\xc3";
    const size_t lead = frame + 1; /* the record's frame and the map's header */
    for (size_t from = off + 1; from + sizeof mark - 1 <= size;) {
        const char *hit = memmem(data + from, size - from, mark, sizeof mark - 1);
        if (!hit) return false;
        size_t at = (size_t)(hit - data);
        from = at + 1;
        if (at < off + lead) continue;
        s_loc_t loc;
        size_t next = 0;
        char why[8];
        msgpack_unpacked msg;
        msgpack_unpacked_init(&msg);
        bool trailer =
            s_read_record(data, size, at - lead, frame, &loc, &next, &msg, why, sizeof why) == 0 &&
            s_kind(&msg.data) == S_TRAILER;
        msgpack_unpacked_destroy(&msg);
        if (trailer) return true;
    }
    return false;
}

/* The name an entry or removal record is about, into name. */
static int s_record_name(const msgpack_object *obj, s_kind_t kind, char *name, size_t namelen,
                         char *why, size_t whylen)
{
    char *text = NULL;
    char reason[256] = "";
    if (kind == S_REMOVAL) {
        if (il_codec_get_str(obj, "removed", IL_SERVICE_MAX_NAME, true, &text, why, whylen) != 0)
            return -1;
    } else {
        const msgpack_object *service = il_codec_map_get(obj, "service");
        if (!service || service->type != MSGPACK_OBJECT_MAP)
            return il_err(why, whylen, "service: expected a map");
        if (il_codec_get_str(service, "name", IL_SERVICE_MAX_NAME, true, &text, reason,
                             sizeof reason) != 0)
            return il_err(why, whylen, "service.%s", reason);
    }
    int rc = *text ? 0
                   : il_err(why, whylen, "%s: empty name",
                            kind == S_REMOVAL ? "removed" : "service.name");
    snprintf(name, namelen, "%s", text);
    free(text);
    return rc;
}

/* Applies a batch (name -> s_loc_t) to the entries read so far, and checks
 * the trailer that closed it (its number and time into *seq, *saved_at:
 * unnumbered ones count on from *seq). */
static int s_apply_batch(zhashx_t *batch, zhashx_t *final, const msgpack_object *trailer,
                         uint64_t *seq, int64_t *saved_at, char *why, size_t whylen)
{
    for (s_loc_t *loc = zhashx_first(batch); loc; loc = zhashx_next(batch)) {
        const char *name = zhashx_cursor(batch);
        if (loc->removed) {
            zhashx_delete(final, name);
            continue;
        }
        s_loc_t *copy = il_malloc(sizeof *copy);
        *copy = *loc;
        zhashx_update(final, name, copy);
    }
    zhashx_purge(batch);
    const msgpack_object *end = il_codec_map_get(trailer, "end");
    if (end->type != MSGPACK_OBJECT_BOOLEAN || !end->via.boolean)
        return il_err(why, whylen, "trailer: end: expected true");
    uint64_t count = 0;
    if (il_codec_get_uint(trailer, "count", 0, UINT64_MAX, true, 0, &count, why, whylen) != 0)
        return -1;
    if (count != zhashx_size(final))
        return il_err(why, whylen, "truncated or corrupt (trailer counts %llu entries, read %zu)",
                      (unsigned long long)count, zhashx_size(final));
    uint64_t number = 0, ms = 0;
    if (il_codec_get_uint(trailer, "seq", 0, UINT64_MAX, false, *seq + 1, &number, why, whylen) !=
            0 ||
        il_codec_get_uint(trailer, "saved_at", 0, INT64_MAX, false, 0, &ms, why, whylen) != 0)
        return -1;
    *seq = number;
    *saved_at = (int64_t)ms;
    return 0;
}

/* First pass: the structure of the file, and where the latest record of
 * each entry is (into final). A batch that a crash cut short (no trailer
 * after the damage) is dropped: its save never completed. On failure, why
 * says what is wrong with record *k. */
static int s_scan(store_t *self, const char *data, size_t size, const char *const *steps,
                  int nsteps, zhashx_t *final, size_t *k, char *why, size_t whylen)
{
    zhashx_t *batch = zhashx_new();
    zhashx_set_destructor(batch, (zhashx_destructor_fn *)zstr_free);
    size_t off = 0, good_end = 0, good_k = 0, batches = 0;
    size_t frame = S_FRAME; /* until the header says the records are sealed */
    uint64_t version = 0;
    int rc = -1;
    *k = 0;
    while (off < size) {
        ++*k;
        s_loc_t loc = {.k = *k};
        size_t next = 0;
        msgpack_unpacked msg;
        msgpack_unpacked_init(&msg);
        bool fatal = false; /* an error that cannot be an interrupted save */
        int bad = s_read_record(data, size, off, frame, &loc, &next, &msg, why, whylen);
        if (!bad && *k == 1) {
            fatal = true;
            bad = s_check_header(&msg.data, &version, why, whylen);
            if (!bad) self->steps_changed = s_steps_differ(&msg.data, steps, nsteps);
            if (version >= 3) frame = S_FRAME_SEALED;
        } else if (!bad) {
            s_kind_t kind = s_kind(&msg.data);
            char name[IL_SERVICE_MAX_NAME + 1];
            if (kind == S_TRAILER) {
                fatal = true; /* whole: not cut by a crash */
                bad = s_apply_batch(batch, final, &msg.data, &self->seq, &self->saved_at, why,
                                    whylen);
                batches++;
                good_end = next;
                good_k = *k;
            } else if (kind == S_HEADER) {
                bad = il_err(why, whylen, "truncated or corrupt (a second header)");
            } else if (!(bad = s_record_name(&msg.data, kind, name, sizeof name, why, whylen))) {
                if (zhashx_lookup(batch, name))
                    bad = il_err(why, whylen, "duplicate entry '%s'", name);
                else {
                    loc.removed = kind == S_REMOVAL;
                    s_loc_t *copy = il_malloc(sizeof *copy);
                    *copy = loc;
                    bad = zhashx_insert(batch, name, copy);
                }
            }
        }
        msgpack_unpacked_destroy(&msg);
        if (bad) {
            if (fatal || batches == 0 || s_trailer_follows(data, size, off, frame)) goto done;
            break; /* the cut end of an interrupted save */
        }
        off = next;
    }
    if (batches == 0) {
        ++*k; /* where the trailer should be */
        il_err(why, whylen, "truncated or corrupt (%s)", size == 0 ? "empty file" : "no trailer");
        goto done;
    }
    if (good_end < size) {
        self->dropped = size - good_end;
        il_log_warn("%s: the last save was interrupted: its %zu bytes after record %zu are dropped",
                    self->path, self->dropped, good_k);
    }
    /* A file cut exactly after a trailer cannot be told from one whose last
     * save was that batch: say which state this is, so that a rollback shows. */
    char when[32] = "an unknown time";
    time_t secs = (time_t)(self->saved_at / 1000);
    struct tm tm;
    if (self->saved_at > 0 && gmtime_r(&secs, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    il_log_info(
        "%s: %zu entries as of the last complete save in the file: batch %llu (record %zu), "
        "saved at %s",
        self->path, zhashx_size(final), (unsigned long long)self->seq, good_k, when);
    rc = 0;
done:
    zhashx_destroy(&batch);
    return rc;
}

static int s_by_offset(const void *a, const void *b)
{
    const s_loc_t *x = *(s_loc_t *const *)a, *y = *(s_loc_t *const *)b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Decodes the records in data into the workflow. On failure, why says what
 * is wrong with record *k. */
static int s_load_records(store_t *self, const char *data, size_t size, workflow_t *workflow,
                          size_t *loaded, size_t *k, char *why, size_t whylen)
{
    const char *const *steps = workflow_steps(workflow);
    int nsteps = workflow_nsteps(workflow);
    zhashx_t *final = zhashx_new();
    zhashx_set_destructor(final, (zhashx_destructor_fn *)zstr_free);
    s_loc_t **order = NULL;
    int rc = s_scan(self, data, size, steps, nsteps, final, k, why, whylen);
    if (rc != 0) goto done;
    /* Second pass: the latest record of each entry, in file order. */
    size_t n = 0;
    order = il_malloc((zhashx_size(final) + 1) * sizeof *order);
    for (s_loc_t *loc = zhashx_first(final); loc; loc = zhashx_next(final))
        order[n++] = loc;
    qsort(order, n, sizeof *order, s_by_offset);
    for (size_t i = 0; i < n && rc == 0; i++) {
        *k = order[i]->k;
        msgpack_unpacked msg;
        msgpack_unpacked_init(&msg);
        char reason[256] = "";
        entry_t *entry = NULL;
        rc = -1;
        if (il_codec_unpack(data + order[i]->off, order[i]->len, &msg, reason, sizeof reason) != 0)
            il_err(why, whylen, "truncated or corrupt (%s)", reason);
        else if (!(entry = entry_unpack(&msg.data, steps, nsteps, reason, sizeof reason)))
            il_err(why, whylen, "%s", reason);
        else if (workflow_lookup(workflow, entry->name))
            il_err(why, whylen, "duplicate entry '%s'", entry->name);
        else if (workflow_adopt(workflow, &entry) != 0)
            il_err(why, whylen, "entry '%s' refused by the workflow", entry->name);
        else {
            ++*loaded;
            rc = 0;
        }
        entry_destroy(&entry); /* NULL once adopted */
        msgpack_unpacked_destroy(&msg);
    }
done:
    free(order);
    zhashx_destroy(&final);
    return rc;
}

int store_load(store_t *self, workflow_t *workflow, size_t *loaded, char *err, size_t errlen)
{
    assert(self && workflow);
    size_t dummy = 0;
    if (!loaded) loaded = &dummy;
    *loaded = 0;
    self->dropped = 0;
    self->seq = 0;
    self->saved_at = 0;
    int fd = open(self->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        struct stat st;
        if (errno == ENOENT && lstat(self->path, &st) != 0 && errno == ENOENT)
            return 0;          /* no file: a first start */
        if (errno == ENOENT) { /* the path is there: a link to a missing file */
            char target[256] = "?";
            ssize_t n = readlink(self->path, target, sizeof target - 1);
            if (n >= 0) target[n] = '\0';
            return il_err(err, errlen,
                          "%s: a symbolic link to %s, which does not exist (refusing to start "
                          "with no entries; restore the file or fix the link)",
                          self->path, target);
        }
        return il_err(err, errlen, "%s: open: %s", self->path, strerror(errno));
    }
    char *data = NULL;
    size_t size = 0;
    int rc = il_fileio_read_from(fd, 0, &data, &size);
    int saved = errno;
    close(fd);
    if (rc != 0) return il_err(err, errlen, "%s: read: %s", self->path, strerror(saved));

    char why[512] = "";
    size_t k = 0;
    rc = s_load_records(self, data, size, workflow, loaded, &k, why, sizeof why);
    if (rc != 0) il_err(err, errlen, "%s: record %zu: %s", self->path, k, why);
    free(data);
    return rc;
}
