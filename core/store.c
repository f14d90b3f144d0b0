/* store: the core's entries file, saved atomically and durably, loaded strictly (see store.h). */
#include "core/store.h"
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
#define STORE_VERSION 1
#define STORE_FLUSH   (256 * 1024) /* bytes buffered before a write(2) */

struct _store_t {
    char *path; /* the entries file */
    char *dir;  /* its parent directory (fsynced after a rename) */
    bool steps_changed; /* the file was saved with another workflow */
};

/* The packer's output during a save: records accumulate in buf, which is
 * written out and cleared whenever it holds STORE_FLUSH bytes. */
typedef struct {
    msgpack_sbuffer buf; /* pending bytes, whole records only once a record is done */
    int fd;              /* the temporary file */
    bool oom;            /* a write into buf failed: the pending record is incomplete */
} s_out_t;

static int s_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, errlen, fmt, args);
        va_end(args);
    }
    return -1;
}

store_t *store_new(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) {
        s_fail(err, errlen, "entries file: empty path");
        return NULL;
    }
    size_t len = strlen(path);
    if (path[len - 1] == '/') {
        s_fail(err, errlen, "%s: is a directory", path);
        return NULL;
    }
    store_t *self = calloc(1, sizeof *self);
    if (!self || !(self->path = strdup(path))) goto oom;
    const char *slash = strrchr(path, '/');
    if (!slash)
        self->dir = strdup(".");
    else if (slash == path)
        self->dir = strdup("/");
    else
        self->dir = strndup(path, (size_t)(slash - path));
    if (!self->dir) goto oom;

    char *prefix = strdup(self->dir);
    if (!prefix) goto oom;
    if (fileio_mkdirs(prefix) != 0) {
        s_fail(err, errlen, "%s: cannot create directory %s: %s", path, prefix, strerror(errno));
        free(prefix);
        store_destroy(&self);
        return NULL;
    }
    free(prefix);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        s_fail(err, errlen, "%s: is a directory", path);
        store_destroy(&self);
        return NULL;
    }
    return self;
oom:
    s_fail(err, errlen, "%s: out of memory", path);
    store_destroy(&self);
    return NULL;
}

void store_destroy(store_t **self_p)
{
    if (!self_p || !*self_p) return;
    store_t *self = *self_p;
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

/* Begins a record: a 4-byte length placeholder. Returns its offset in the buffer. */
static size_t s_record_begin(s_out_t *out)
{
    size_t start = out->buf.size;
    s_out_write(out, "\0\0\0\0", 4);
    return start;
}

/* Ends the record begun at start: fills in its length, writes the buffer out
 * when it is full enough. Returns -1 with err (what = the record) on failure. */
static int s_record_end(s_out_t *out, size_t start, const char *path, const char *what, char *err,
                        size_t errlen)
{
    if (out->oom) return s_fail(err, errlen, "%s: %s: out of memory", path, what);
    size_t len = out->buf.size - start - 4;
    if (len > CODEC_MAX_FRAME)
        return s_fail(err, errlen, "%s: %s: record of %zu bytes exceeds %d", path, what, len,
                      CODEC_MAX_FRAME);
    unsigned char *p = (unsigned char *)out->buf.data + start;
    p[0] = (unsigned char)(len >> 24);
    p[1] = (unsigned char)(len >> 16);
    p[2] = (unsigned char)(len >> 8);
    p[3] = (unsigned char)len;
    if (out->buf.size >= STORE_FLUSH) {
        if (fileio_write_all(out->fd, out->buf.data, out->buf.size) != 0)
            return s_fail(err, errlen, "%s: write: %s", path, strerror(errno));
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

/* Writes header, entries and trailer to out->fd, then flushes. */
static int s_save_records(s_out_t *out, workflow_t *workflow, const char *path, char *err,
                          size_t errlen)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, s_out_write);
    const char *const *steps = workflow_steps(workflow);
    int nsteps = workflow_nsteps(workflow);

    size_t start = s_record_begin(out);
    msgpack_pack_map(&pk, 4);
    codec_pack_key_str(&pk, "format", STORE_FORMAT);
    codec_pack_key_uint(&pk, "version", STORE_VERSION);
    codec_pack_str(&pk, "steps");
    msgpack_pack_array(&pk, (size_t)nsteps);
    for (int i = 0; i < nsteps; i++)
        codec_pack_str(&pk, steps[i]);
    codec_pack_key_uint(&pk, "saved_at", (uint64_t)s_now_ms());
    if (s_record_end(out, start, path, "header", err, errlen) != 0) return -1;

    uint64_t count = 0;
    for (entry_t *entry = workflow_first(workflow); entry; entry = workflow_next(workflow)) {
        start = s_record_begin(out);
        entry_pack(entry, steps, &pk);
        if (out->oom || out->buf.size - start - 4 > CODEC_MAX_FRAME) {
            char what[SERVICE_MAX_NAME + 16];
            snprintf(what, sizeof what, "entry '%s'", entry->name);
            return s_record_end(out, start, path, what, err, errlen);
        }
        if (s_record_end(out, start, path, "entry", err, errlen) != 0) return -1;
        count++;
    }

    start = s_record_begin(out);
    msgpack_pack_map(&pk, 2);
    codec_pack_key_bool(&pk, "end", true);
    codec_pack_key_uint(&pk, "count", count);
    if (s_record_end(out, start, path, "trailer", err, errlen) != 0) return -1;
    if (out->buf.size > 0 && fileio_write_all(out->fd, out->buf.data, out->buf.size) != 0)
        return s_fail(err, errlen, "%s: write: %s", path, strerror(errno));
    msgpack_sbuffer_clear(&out->buf);
    return 0;
}

int store_save(store_t *self, workflow_t *workflow, char *err, size_t errlen)
{
    assert(self && workflow);
    const char *path = self->path;
    size_t tmplen = strlen(path) + 32;
    char *tmp = malloc(tmplen);
    if (!tmp) return s_fail(err, errlen, "%s: out of memory", path);
    snprintf(tmp, tmplen, "%s.tmp.%ld", path, (long)getpid());

    s_out_t out = {.fd = -1};
    msgpack_sbuffer_init(&out.buf);
    int rc = -1, fd = -1;
    out.fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (out.fd < 0) {
        s_fail(err, errlen, "%s: create %s: %s", path, tmp, strerror(errno));
        goto done; /* nothing to unlink: it is not ours */
    }
    if (s_save_records(&out, workflow, path, err, errlen) != 0) goto fail;
    if (fsync(out.fd) != 0) {
        s_fail(err, errlen, "%s: fsync %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    fd = out.fd;
    out.fd = -1;
    if (close(fd) != 0) {
        s_fail(err, errlen, "%s: close %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        s_fail(err, errlen, "%s: rename %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    /* The new file is in place; the directory fsync makes the rename durable.
     * Past this point nothing can be undone: a failure is reported as such. */
    if (fileio_sync_dir(self->dir) != 0) {
        s_fail(err, errlen, "%s: fsync directory %s: %s", path, self->dir, strerror(errno));
        goto done;
    }
    rc = 0;
    goto done;
fail:
    if (out.fd >= 0) close(out.fd);
    out.fd = -1;
    if (unlink(tmp) != 0 && errno != ENOENT)
        log_warn("%s: cannot remove %s: %s", path, tmp, strerror(errno));
done:
    msgpack_sbuffer_destroy(&out.buf);
    free(tmp);
    return rc;
}

/* ---- load ---------------------------------------------------------------- */

/* Checks the header record. */
static int s_check_header(const msgpack_object *obj, char *why, size_t whylen)
{
    if (obj->type != MSGPACK_OBJECT_MAP) return s_fail(why, whylen, "header: expected a map");
    const msgpack_object *format = codec_map_get(obj, "format");
    if (!format || format->type != MSGPACK_OBJECT_STR ||
        format->via.str.size != strlen(STORE_FORMAT) ||
        memcmp(format->via.str.ptr, STORE_FORMAT, format->via.str.size) != 0)
        return s_fail(why, whylen, "not an interlook entries file (no format \"%s\")",
                      STORE_FORMAT);
    uint64_t version = 0;
    if (codec_get_uint(obj, "version", 0, UINT64_MAX, true, 0, &version, why, whylen) != 0)
        return -1;
    if (version != STORE_VERSION)
        return s_fail(why, whylen, "unsupported version %llu (this interlookd reads version %d)",
                      (unsigned long long)version, STORE_VERSION);
    return 0;
}

/* Checks the trailer record against the count of entries read. */
static int s_check_trailer(const msgpack_object *obj, uint64_t entries, char *why, size_t whylen)
{
    const msgpack_object *end = codec_map_get(obj, "end");
    if (end->type != MSGPACK_OBJECT_BOOLEAN || !end->via.boolean)
        return s_fail(why, whylen, "trailer: end: expected true");
    uint64_t count = 0;
    if (codec_get_uint(obj, "count", 0, UINT64_MAX, true, 0, &count, why, whylen) != 0) return -1;
    if (count != entries)
        return s_fail(why, whylen, "truncated or corrupt (trailer counts %llu entries, read %llu)",
                      (unsigned long long)count, (unsigned long long)entries);
    return 0;
}

/* Decodes the records in data into the workflow. On failure, why says what
 * is wrong with record *k. */
/* True when the header's steps differ from the workflow's. */
static bool s_steps_differ(const msgpack_object *header, const char *const *steps, int nsteps)
{
    const msgpack_object *list = codec_map_get(header, "steps");
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

static int s_load_records(const char *data, size_t size, workflow_t *workflow, size_t *loaded,
                          size_t *k, bool *changed, char *why, size_t whylen)
{
    const char *const *steps = workflow_steps(workflow);
    int nsteps = workflow_nsteps(workflow);
    const unsigned char *p = (const unsigned char *)data;
    size_t off = 0;
    uint64_t entries = 0;
    bool ended = false;
    *k = 0;
    while (off < size) {
        ++*k;
        if (ended) return s_fail(why, whylen, "truncated or corrupt (data after the trailer)");
        if (size - off < 4)
            return s_fail(why, whylen, "truncated or corrupt (record length cut at byte %zu)",
                          size);
        size_t len = (size_t)p[off] << 24 | (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 |
                     (size_t)p[off + 3];
        off += 4;
        if (len == 0 || len > CODEC_MAX_FRAME)
            return s_fail(why, whylen, "truncated or corrupt (record length %zu at byte %zu)", len,
                          off - 4);
        if (len > size - off)
            return s_fail(why, whylen,
                          "truncated or corrupt (record of %zu bytes, only %zu left in the file)",
                          len, size - off);
        msgpack_unpacked msg;
        msgpack_unpacked_init(&msg);
        char reason[256] = "";
        int rc = -1;
        if (codec_unpack(data + off, len, &msg, reason, sizeof reason) != 0) {
            s_fail(why, whylen, "truncated or corrupt (%s)", reason);
        } else if (*k == 1) {
            rc = s_check_header(&msg.data, why, whylen);
            if (rc == 0) *changed = s_steps_differ(&msg.data, steps, nsteps);
        } else if (msg.data.type != MSGPACK_OBJECT_MAP) {
            s_fail(why, whylen, "expected a map");
        } else if (codec_map_get(&msg.data, "end")) {
            rc = s_check_trailer(&msg.data, entries, why, whylen);
            ended = true;
        } else {
            entry_t *entry = entry_unpack(&msg.data, steps, nsteps, reason, sizeof reason);
            if (!entry)
                s_fail(why, whylen, "%s", reason);
            else if (workflow_lookup(workflow, entry->name))
                s_fail(why, whylen, "duplicate entry '%s'", entry->name);
            else if (workflow_adopt(workflow, &entry) != 0)
                s_fail(why, whylen, "entry '%s' refused by the workflow", entry->name);
            else {
                entries++;
                ++*loaded;
                rc = 0;
            }
            entry_destroy(&entry); /* NULL once adopted */
        }
        msgpack_unpacked_destroy(&msg);
        if (rc != 0) return -1;
        off += len;
    }
    if (!ended) {
        ++*k;
        return s_fail(why, whylen, "truncated or corrupt (%s)",
                      size == 0 ? "empty file" : "no trailer");
    }
    return 0;
}

int store_load(store_t *self, workflow_t *workflow, size_t *loaded, char *err, size_t errlen)
{
    assert(self && workflow);
    size_t dummy = 0;
    if (!loaded) loaded = &dummy;
    *loaded = 0;
    int fd = open(self->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        return s_fail(err, errlen, "%s: open: %s", self->path, strerror(errno));
    }
    char *data = NULL;
    size_t size = 0;
    int rc = fileio_read_from(fd, 0, &data, &size);
    int saved = errno;
    close(fd);
    if (rc != 0) return s_fail(err, errlen, "%s: read: %s", self->path, strerror(saved));

    char why[512] = "";
    size_t k = 0;
    rc = s_load_records(data, size, workflow, loaded, &k, &self->steps_changed, why, sizeof why);
    if (rc != 0) s_fail(err, errlen, "%s: record %zu: %s", self->path, k, why);
    free(data);
    return rc;
}
