/* test_store: unit tests of core/store (the entries file: round trips, atomic save, refusals). */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/codec.h"
#include "common/log.h"
#include "core/store.h"

static const char *s_steps[] = {"provider.docker", "ipam.pool", "dns.bind", "lb.haproxy"};
#define NSTEPS ((int)(sizeof s_steps / sizeof s_steps[0]))

/* A scratch directory per test, removed afterwards. */
typedef struct {
    char dir[64];   /* the scratch directory */
    char path[128]; /* dir/entries.msgpack */
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_store.XXXXXX");
    if (!mkdtemp(fx->dir)) return -1;
    snprintf(fx->path, sizeof fx->path, "%s/entries.msgpack", fx->dir);
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

static void s_dispatch(void *arg, const entry_t *entry, const char *extension, ilp_action_t action)
{
    (void)arg, (void)entry, (void)extension, (void)action;
}
static void s_cancel(void *arg, const char *work_id)
{
    (void)arg, (void)work_id;
}
/* The store that changes are reported to, as the core's server does. */
static store_t *s_touch_store;

static void s_changed(void *arg, const entry_t *entry)
{
    (void)arg;
    if (s_touch_store) store_touch(s_touch_store, entry);
}
static void s_removed(void *arg, const entry_t *entry)
{
    (void)arg;
    if (s_touch_store) store_forget(s_touch_store, entry);
}
static void s_refresh(void *arg, const char *provider, const char *name)
{
    (void)arg, (void)provider, (void)name;
}

/* A workflow over steps (nothing is dispatched: adopt only). */
static workflow_t *s_workflow_of(const char *const *steps, int nsteps)
{
    static const workflow_timing_t timing = {60000, 600000, 3600000, 1000, 60000};
    static const workflow_effects_t effects = {s_dispatch, s_cancel, s_changed, s_removed,
                                               s_refresh};
    workflow_t *wf = workflow_new(steps, nsteps, &timing, "test", &effects, NULL);
    assert_non_null(wf);
    return wf;
}

static workflow_t *s_workflow(void)
{
    return s_workflow_of(s_steps, NSTEPS);
}

static store_t *s_store(const char *path)
{
    char err[512] = "";
    store_t *store = store_new(path, err, sizeof err);
    if (!store) fail_msg("store_new: %s", err);
    return store;
}

/* A service with a provider and as many targets and aliases as asked. */
static il_service_t *s_service(const char *name, int targets, int aliases)
{
    il_service_t *svc = il_service_new(name);
    assert_non_null(svc);
    assert_int_equal(il_service_set_string(&svc->provider, "provider.docker"), 0);
    for (int i = 0; i < targets; i++) {
        char host[32];
        snprintf(host, sizeof host, "10.0.%d.%d", i / 250, i % 250 + 1);
        assert_int_equal(il_service_add_target(svc, host, (uint16_t)(8000 + i), (uint32_t)i + 1),
                         0);
    }
    for (int i = 0; i < aliases; i++) {
        char alias[64];
        snprintf(alias, sizeof alias, "a%d.%s.example.org", i, name);
        assert_int_equal(il_service_add_alias(svc, alias), 0);
    }
    return svc;
}

/* Adds an entry to the workflow; returns it (owned by the workflow). */
static entry_t *s_add(workflow_t *wf, entry_t *entry)
{
    entry_t *kept = entry;
    assert_int_equal(workflow_adopt(wf, &entry), 0);
    assert_null(entry);
    return kept;
}

/* The four shapes of entry, varied by i. */
static entry_t *s_entry(const char *name, int shape, int64_t i)
{
    il_service_t *svc = s_service(name, 1 + (int)(i % 3), (int)(i % 2));
    int64_t t0 = 1764070000000 + i * 1000;
    entry_t *e = entry_new(&svc, t0);
    assert_non_null(e);
    e->last_update = t0 + 500;
    switch (shape % 4) {
    case 0: /* at ipam.pool, working on dns.bind, second attempt, back-off set */
        e->state = ENTRY_AT_STEP;
        e->pos = 1;
        e->wip = true;
        e->wip_step = 2;
        e->wip_action = ILP_ACTION_ADD;
        e->attempt = 2;
        e->wip_time = t0 + 900;
        e->next_try = t0 + 2000;
        e->restart = (i % 5) == 0;
        break;
    case 1: { /* deployed with a virtual IP (its own: two live entries never share one) */
        char ip[32];
        snprintf(ip, sizeof ip, "10.%d.%d.%d", (int)(i >> 16 & 255), (int)(i >> 8 & 255),
                 (int)(i & 255));
        e->state = ENTRY_DEPLOYED;
        e->service->tls = true;
        e->service->port = (uint16_t)(1 + i % 65535); /* the public port, 1..65535 */
        assert_int_equal(il_service_set_string(&e->service->public_ip, ip), 0);
        if (i % 3 == 0) { /* a health check of its own, kept too */
            char why[200];
            assert_int_equal(il_service_set_check(e->service, "http:/healthz 200", why, sizeof why),
                             0);
        }
        break;
    }
    case 2: /* undeployed since close_time */
        e->state = ENTRY_UNDEPLOYED;
        e->expect_deployed = false;
        e->close_time = t0 + 7000;
        break;
    default: /* going back (delete), failed at lb.haproxy */
        e->state = ENTRY_AT_STEP;
        e->pos = 3;
        e->expect_deployed = false;
        e->wip = true;
        e->wip_step = 3;
        e->wip_action = ILP_ACTION_DELETE;
        e->attempt = 7;
        e->wip_time = t0 + 10;
        e->next_try = t0 + 64000;
        entry_set_error(e, "lb.haproxy: backend refused: \"éàü\" (503)");
        break;
    }
    return e;
}

static void s_assert_str_eq(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void s_assert_service_eq(const il_service_t *a, const il_service_t *b)
{
    assert_string_equal(a->name, b->name);
    s_assert_str_eq(a->provider, b->provider);
    s_assert_str_eq(a->public_ip, b->public_ip);
    assert_int_equal(a->tls, b->tls);
    assert_int_equal(a->port, b->port);
    s_assert_str_eq(a->check, b->check);
    assert_int_equal(a->target_count, b->target_count);
    for (size_t i = 0; i < a->target_count; i++) {
        assert_string_equal(a->targets[i].host, b->targets[i].host);
        assert_int_equal(a->targets[i].port, b->targets[i].port);
        assert_int_equal(a->targets[i].weight, b->targets[i].weight);
    }
    assert_int_equal(a->alias_count, b->alias_count);
    for (size_t i = 0; i < a->alias_count; i++)
        assert_string_equal(a->dns_aliases[i], b->dns_aliases[i]);
}

/* Every saved field is equal (work_id is not saved). */
static void s_assert_entry_eq(const entry_t *a, const entry_t *b)
{
    assert_string_equal(a->name, b->name);
    s_assert_service_eq(a->service, b->service);
    assert_int_equal(a->state, b->state);
    if (a->state == ENTRY_AT_STEP) assert_int_equal(a->pos, b->pos);
    assert_int_equal(a->expect_deployed, b->expect_deployed);
    assert_int_equal(a->wip, b->wip);
    if (a->wip) {
        assert_int_equal(a->wip_step, b->wip_step);
        assert_int_equal(a->wip_action, b->wip_action);
    }
    assert_int_equal(a->restart, b->restart);
    assert_int_equal(a->attempt, b->attempt);
    s_assert_str_eq(a->error, b->error);
    assert_int_equal(a->wip_time, b->wip_time);
    assert_int_equal(a->time_detected, b->time_detected);
    assert_int_equal(a->last_update, b->last_update);
    assert_int_equal(a->close_time, b->close_time);
    assert_int_equal(a->next_try, b->next_try);
    assert_string_equal(b->work_id, "");
}

/* Every entry of a is in b, equal, and b has no other. */
static void s_assert_workflows_eq(workflow_t *a, workflow_t *b)
{
    assert_int_equal(workflow_size(a), workflow_size(b));
    size_t seen = 0;
    for (entry_t *e = workflow_first(a); e; e = workflow_next(a)) {
        entry_t *other = workflow_lookup(b, e->name);
        if (!other) fail_msg("entry '%s' not loaded", e->name);
        s_assert_entry_eq(e, other);
        seen++;
    }
    assert_int_equal(seen, workflow_size(b));
}

static void s_save(store_t *store, workflow_t *wf)
{
    char err[512] = "";
    if (store_save(store, wf, err, sizeof err) != 0) fail_msg("store_save: %s", err);
}

/* Loads path into a new workflow, which is returned; fails the test on error. */
static workflow_t *s_load(const char *path, size_t expect)
{
    store_t *store = s_store(path);
    workflow_t *wf = s_workflow();
    size_t loaded = 12345;
    char err[512] = "";
    if (store_load(store, wf, &loaded, err, sizeof err) != 0) fail_msg("store_load: %s", err);
    assert_int_equal(loaded, expect);
    assert_int_equal(workflow_size(wf), expect);
    store_destroy(&store);
    return wf;
}

/* Loads path, which must be refused with a message naming it; returns the message. */
static const char *s_refuse_with(const char *path, const char *const *steps, int nsteps, char *err,
                                 size_t errlen)
{
    store_t *store = s_store(path);
    workflow_t *wf = s_workflow_of(steps, nsteps);
    size_t loaded = 0;
    err[0] = '\0';
    if (store_load(store, wf, &loaded, err, errlen) == 0)
        fail_msg("%s loaded (%zu entries), but should be refused", path, loaded);
    assert_contains(err, path);
    assert_contains(err, ": record ");
    assert_int_equal(loaded, workflow_size(wf)); /* adopted before the error */
    workflow_destroy(&wf);
    store_destroy(&store);
    return err;
}

static const char *s_refuse(const char *path, char *err, size_t errlen)
{
    return s_refuse_with(path, s_steps, NSTEPS, err, errlen);
}

/* The file's bytes (*size of them), heap. */
static unsigned char *s_read(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    unsigned char *data = malloc((size_t)n + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return data;
}

static void s_write(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (size) assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

/* Offsets at which the records of a saved file start; returns how many.
 * The header's frame is its length; every later record's, its length and
 * its CRC-32C (4 bytes each). */
static size_t s_records(const unsigned char *data, size_t size, size_t *starts, size_t max)
{
    size_t n = 0, off = 0;
    while (off + 4 <= size && n < max) {
        size_t frame = n == 0 ? 4 : 8;
        starts[n++] = off;
        off += frame + ((size_t)data[off] << 24 | (size_t)data[off + 1] << 16 |
                        (size_t)data[off + 2] << 8 | data[off + 3]);
    }
    assert_int_equal(off, size);
    return n;
}

/* Hand-made files: records appended one by one. */
typedef struct {
    msgpack_sbuffer file; /* the whole file */
    msgpack_sbuffer rec;  /* the record being built */
    msgpack_packer pk;    /* packs into rec */
} maker_t;

static void s_make_begin(maker_t *m)
{
    msgpack_sbuffer_init(&m->file);
    msgpack_sbuffer_init(&m->rec);
    msgpack_packer_init(&m->pk, &m->rec, msgpack_sbuffer_write);
}

/* Appends the packed record with its length. */
static void s_make_record(maker_t *m)
{
    uint32_t n = (uint32_t)m->rec.size;
    unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    msgpack_sbuffer_write(&m->file, (const char *)len, 4);
    msgpack_sbuffer_write(&m->file, m->rec.data, m->rec.size);
    msgpack_sbuffer_clear(&m->rec);
}

static void s_make_header(maker_t *m, const char *format, uint64_t version)
{
    msgpack_pack_map(&m->pk, 3);
    il_codec_pack_key_str(&m->pk, "format", format);
    il_codec_pack_key_uint(&m->pk, "version", version);
    il_codec_pack_key_uint(&m->pk, "saved_at", 1764070000000);
    s_make_record(m);
}

static void s_make_entry(maker_t *m, const entry_t *e, const char *const *steps)
{
    entry_pack(e, steps, &m->pk);
    s_make_record(m);
}

static void s_make_trailer(maker_t *m, uint64_t count)
{
    msgpack_pack_map(&m->pk, 2);
    il_codec_pack_key_bool(&m->pk, "end", true);
    il_codec_pack_key_uint(&m->pk, "count", count);
    s_make_record(m);
}

static void s_make_end(maker_t *m, const char *path)
{
    s_write(path, m->file.data, m->file.size);
    msgpack_sbuffer_destroy(&m->file);
    msgpack_sbuffer_destroy(&m->rec);
}

/* A workflow with one entry of each shape and a few more. */
static workflow_t *s_sample(void)
{
    workflow_t *wf = s_workflow();
    const char *names[] = {"web", "api", "db", "cache", "queue", "search", "auth", "mail"};
    for (int i = 0; i < 8; i++)
        s_add(wf, s_entry(names[i], i, i));
    return wf;
}

static void test_round_trip(void **state)
{
    fixture_t *fx = *state;
    workflow_t *wf = s_sample();
    entry_t *lone = s_add(wf, s_entry("plain", 0, 3));
    lone->wip = false; /* at ipam.pool, nothing out, first attempt */
    lone->attempt = 1;
    lone->next_try = 0;
    lone->wip_time = 0;
    store_t *store = s_store(fx->path);
    assert_string_equal(store_path(store), fx->path);
    s_save(store, wf);

    workflow_t *back = s_load(fx->path, 9);
    s_assert_workflows_eq(wf, back);
    /* Saved again, the entries are the same. */
    s_save(store, back);
    workflow_t *again = s_load(fx->path, 9);
    s_assert_workflows_eq(wf, again);

    /* The header records the steps and the time. */
    size_t size = 0;
    unsigned char *data = s_read(fx->path, &size);
    size_t starts[16];
    assert_int_equal(s_records(data, size, starts, 16), 11);
    msgpack_unpacked msg;
    msgpack_unpacked_init(&msg);
    char err[256] = "";
    size_t len = starts[1] - 4;
    if (il_codec_unpack(data + 4, len, &msg, err, sizeof err) != 0) fail_msg("%s", err);
    const msgpack_object *steps = il_codec_map_get(&msg.data, "steps");
    assert_non_null(steps);
    assert_int_equal(steps->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(steps->via.array.size, NSTEPS);
    assert_int_equal(steps->via.array.ptr[2].via.str.size, strlen("dns.bind"));
    assert_memory_equal(steps->via.array.ptr[2].via.str.ptr, "dns.bind", strlen("dns.bind"));
    uint64_t saved_at = 0;
    assert_int_equal(il_codec_get_uint(&msg.data, "saved_at", 1, UINT64_MAX, true, 0, &saved_at,
                                       err, sizeof err),
                     0);
    msgpack_unpacked_destroy(&msg);
    free(data);

    workflow_destroy(&again);
    workflow_destroy(&back);
    workflow_destroy(&wf);
    store_destroy(&store);
    assert_null(store);
}

static void test_missing_file_is_empty(void **state)
{
    fixture_t *fx = *state;
    store_t *store = s_store(fx->path);
    workflow_t *wf = s_workflow();
    size_t loaded = 99;
    char err[256] = "";
    assert_int_equal(store_load(store, wf, &loaded, err, sizeof err), 0);
    assert_int_equal(loaded, 0);
    assert_int_equal(workflow_size(wf), 0);
    assert_int_equal(access(fx->path, F_OK), -1); /* a load creates nothing */
    workflow_destroy(&wf);
    store_destroy(&store);
}

static void test_empty_workflow(void **state)
{
    fixture_t *fx = *state;
    store_t *store = s_store(fx->path);
    workflow_t *wf = s_workflow();
    s_save(store, wf);
    size_t size = 0;
    unsigned char *data = s_read(fx->path, &size);
    size_t starts[4];
    assert_int_equal(s_records(data, size, starts, 4), 2); /* header and trailer */
    free(data);
    workflow_t *back = s_load(fx->path, 0);
    workflow_destroy(&back);

    /* Emptied after holding entries: the file follows. */
    workflow_t *full = s_sample();
    s_save(store, full);
    s_save(store, wf);
    back = s_load(fx->path, 0);
    workflow_destroy(&back);
    workflow_destroy(&full);
    workflow_destroy(&wf);
    store_destroy(&store);
}

static void test_new_creates_parents(void **state)
{
    fixture_t *fx = *state;
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/a/b//c/entries", fx->dir);
    store_t *store = s_store(path);
    struct stat st;
    char dir[256];
    snprintf(dir, sizeof dir, "%s/a/b/c", fx->dir);
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    workflow_t *wf = s_sample();
    s_save(store, wf);
    workflow_t *back = s_load(path, 8);
    workflow_destroy(&back);
    workflow_destroy(&wf);
    store_destroy(&store);
    store_destroy(&store); /* idempotent */

    /* A directory is not a file. */
    assert_null(store_new(dir, err, sizeof err));
    assert_contains(err, dir);
    assert_contains(err, "directory");
    snprintf(path, sizeof path, "%s/", dir);
    assert_null(store_new(path, err, sizeof err));
    assert_null(store_new("", err, sizeof err));

    /* A parent that is a regular file. */
    snprintf(path, sizeof path, "%s/plain", fx->dir);
    s_write(path, "x", 1);
    snprintf(path, sizeof path, "%s/plain/sub/entries", fx->dir);
    assert_null(store_new(path, err, sizeof err));
    assert_contains(err, path);
    assert_contains(err, strerror(ENOTDIR));

    /* A relative path: its parent is the current directory. */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(fx->dir), 0);
    store = s_store("relative.entries");
    wf = s_workflow();
    s_save(store, wf);
    workflow_destroy(&wf);
    store_destroy(&store);
    assert_int_equal(chdir(cwd), 0);
    snprintf(path, sizeof path, "%s/relative.entries", fx->dir);
    assert_int_equal(access(path, F_OK), 0);
}

/* No file but the entries file in the directory. */
static void s_assert_alone(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (strcmp(de->d_name, name)) fail_msg("%s/%s left behind", dir, de->d_name);
    }
    closedir(d);
}

static void test_no_temp_file_left(void **state)
{
    fixture_t *fx = *state;
    store_t *store = s_store(fx->path);
    workflow_t *wf = s_sample();
    s_save(store, wf);
    s_assert_alone(fx->dir, "entries.msgpack");
    s_save(store, wf); /* over an existing file */
    s_assert_alone(fx->dir, "entries.msgpack");
    struct stat st;
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    workflow_destroy(&wf);
    store_destroy(&store);
}

static void test_failed_save_keeps_old_file(void **state)
{
    fixture_t *fx = *state;
    char dir[128], path[192], tmp[256], err[512];
    snprintf(dir, sizeof dir, "%s/d", fx->dir);
    snprintf(path, sizeof path, "%s/entries", dir);
    store_t *store = s_store(path);
    workflow_t *old = s_sample();
    s_save(store, old);
    size_t before_size = 0;
    unsigned char *before = s_read(path, &before_size);
    workflow_t *wf = s_workflow();
    s_add(wf, s_entry("newcomer", 1, 1));

    /* The temporary file cannot be created (a directory is in the way). */
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(mkdir(tmp, 0755), 0);
    err[0] = '\0';
    assert_int_equal(store_save(store, wf, err, sizeof err), -1);
    assert_contains(err, path);
    assert_contains(err, strerror(EISDIR));
    assert_int_equal(rmdir(tmp), 0);
    size_t after_size = 0;
    unsigned char *after = s_read(path, &after_size);
    assert_int_equal(after_size, before_size);
    assert_memory_equal(after, before, before_size);
    free(after);
    s_assert_alone(dir, "entries");

    /* The directory was replaced by a regular file. */
    char moved[160];
    snprintf(moved, sizeof moved, "%s/moved", fx->dir);
    assert_int_equal(rename(dir, moved), 0);
    s_write(dir, "not a directory", 15);
    err[0] = '\0';
    assert_int_equal(store_save(store, wf, err, sizeof err), -1);
    assert_contains(err, path);
    assert_contains(err, strerror(ENOTDIR));
    char moved_file[192];
    snprintf(moved_file, sizeof moved_file, "%s/entries", moved);
    after = s_read(moved_file, &after_size);
    assert_int_equal(after_size, before_size);
    assert_memory_equal(after, before, before_size);
    free(after);
    s_assert_alone(moved, "entries");
    size_t junk_size = 0;
    unsigned char *junk = s_read(dir, &junk_size);
    assert_int_equal(junk_size, 15);
    free(junk);

    free(before);
    workflow_destroy(&wf);
    workflow_destroy(&old);
    store_destroy(&store);
}

/* path loads as wf, once `dropped` bytes of an interrupted save are dropped. */
static void s_assert_dropped(const char *path, workflow_t *wf, size_t dropped)
{
    store_t *store = s_store(path);
    workflow_t *back = s_workflow();
    size_t loaded = 0;
    char err[512] = "";
    if (store_load(store, back, &loaded, err, sizeof err) != 0) fail_msg("store_load: %s", err);
    assert_int_equal(loaded, workflow_size(wf));
    assert_int_equal(store_dropped(store), dropped);
    s_assert_workflows_eq(wf, back);
    workflow_destroy(&back);
    store_destroy(&store);
}

static void test_truncated_refused(void **state)
{
    fixture_t *fx = *state;
    store_t *store = s_store(fx->path);
    workflow_t *wf = s_sample();
    s_save(store, wf);
    size_t size = 0;
    unsigned char *data = s_read(fx->path, &size);
    size_t starts[16];
    size_t n = s_records(data, size, starts, 16);
    assert_int_equal(n, 10);
    size_t trailer = starts[n - 1];
    size_t cuts[] = {
        0,               /* empty file */
        2,               /* inside the first length */
        4,               /* a length and nothing */
        4 + 3,           /* inside the header */
        starts[1],       /* the header alone */
        starts[3] + 1,   /* inside the length of entry 3 */
        starts[3] + 4,   /* entry 3's length without its map */
        starts[3] + 20,  /* inside entry 3 */
        starts[4] - 1,   /* entry 3 but its last byte */
        trailer,         /* just before the trailer */
        trailer + 3,     /* inside the trailer's length */
        trailer + 4 + 5, /* inside the trailer */
        size - 1,        /* all but the last byte */
    };
    char err[512];
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        s_write(fx->path, data, cuts[i]);
        s_refuse(fx->path, err, sizeof err);
        assert_contains(err, "truncated or corrupt");
    }
    s_write(fx->path, data, 0);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 1: truncated or corrupt");
    s_write(fx->path, data, trailer);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 10: truncated or corrupt");
    s_write(fx->path, data, starts[3] + 20);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 4: truncated or corrupt");

    /* Bytes after the trailer, with no trailer after them (a whole record, one
     * zero byte): the cut end of a save that never completed, dropped. */
    unsigned char *longer = malloc(size * 2);
    assert_non_null(longer);
    memcpy(longer, data, size);
    memcpy(longer + size, data + starts[2], starts[3] - starts[2]);
    s_write(fx->path, longer, size + starts[3] - starts[2]);
    s_assert_dropped(fx->path, wf, starts[3] - starts[2]);
    longer[size] = 0;
    s_write(fx->path, longer, size + 1);
    s_assert_dropped(fx->path, wf, 1);
    /* Two files end to end. */
    memcpy(longer + size, data, size);
    s_write(fx->path, longer, size * 2);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 11: checksum mismatch");
    free(longer);

    /* The untouched file still loads. */
    s_write(fx->path, data, size);
    workflow_t *back = s_load(fx->path, 8);
    s_assert_workflows_eq(wf, back);
    workflow_destroy(&back);
    free(data);
    workflow_destroy(&wf);
    store_destroy(&store);
}

static void test_flipped_bytes_refused(void **state)
{
    fixture_t *fx = *state;
    store_t *store = s_store(fx->path);
    workflow_t *wf = s_workflow();
    s_add(wf, s_entry("web", 0, 1));
    s_add(wf, s_entry("db", 3, 2));
    s_save(store, wf);
    size_t size = 0;
    unsigned char *data = s_read(fx->path, &size);
    size_t starts[8];
    size_t n = s_records(data, size, starts, 8);
    assert_int_equal(n, 4);
    const unsigned char masks[] = {0xff, 0x01, 0x80, 0x20};
    size_t refused = 0, tries = 0;
    char err[512];
    for (size_t off = 0; off < size; off++) {
        bool in_length = false;
        for (size_t r = 0; r < n; r++)
            if (off >= starts[r] && off < starts[r] + 4) in_length = true;
        for (size_t m = 0; m < sizeof masks; m++) {
            data[off] ^= masks[m];
            s_write(fx->path, data, size);
            data[off] ^= masks[m];
            workflow_t *got = s_workflow();
            size_t loaded = 0;
            err[0] = '\0';
            int rc = store_load(store, got, &loaded, err, sizeof err);
            tries++;
            if (rc != 0) {
                assert_int_equal(rc, -1);
                assert_contains(err, fx->path);
                assert_contains(err, ": record ");
                refused++;
            } else if (in_length) {
                fail_msg("a flipped length byte at %zu was accepted", off);
            } else {
                assert_true(loaded <= 2);
            }
            workflow_destroy(&got);
        }
    }
    /* Most flips land in structure or validated values; a few change a string. */
    assert_true(refused > tries / 2);
    free(data);
    workflow_destroy(&wf);
    store_destroy(&store);
}

static void test_format_and_version_refused(void **state)
{
    fixture_t *fx = *state;
    char err[512];
    maker_t m;

    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 1);
    s_make_trailer(&m, 0);
    s_make_end(&m, fx->path);
    workflow_t *wf = s_load(fx->path, 0); /* the hand-made file is right */
    workflow_destroy(&wf);

    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 2); /* batches appended: read too */
    s_make_trailer(&m, 0);
    s_make_end(&m, fx->path);
    wf = s_load(fx->path, 0);
    workflow_destroy(&wf);

    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 4);
    s_make_trailer(&m, 0);
    s_make_end(&m, fx->path);
    assert_contains(s_refuse(fx->path, err, sizeof err),
                    "record 1: unsupported version 4 (this interlookd reads versions 1 to 3)");

    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 0);
    s_make_trailer(&m, 0);
    s_make_end(&m, fx->path);
    assert_contains(s_refuse(fx->path, err, sizeof err), "unsupported version 0");

    s_make_begin(&m);
    s_make_header(&m, "something-else", 1);
    s_make_trailer(&m, 0);
    s_make_end(&m, fx->path);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 1: not an interlook entries file");

    /* No version at all. */
    s_make_begin(&m);
    msgpack_pack_map(&m.pk, 1);
    il_codec_pack_key_str(&m.pk, "format", "interlook-entries");
    s_make_record(&m);
    s_make_trailer(&m, 0);
    s_make_end(&m, fx->path);
    assert_contains(s_refuse(fx->path, err, sizeof err), "version");

    /* A header that is not a map; a file that starts with an entry. */
    s_make_begin(&m);
    msgpack_pack_array(&m.pk, 0);
    s_make_record(&m);
    s_make_trailer(&m, 0);
    s_make_end(&m, fx->path);
    s_refuse(fx->path, err, sizeof err);
    entry_t *e = s_entry("web", 1, 1);
    s_make_begin(&m);
    s_make_entry(&m, e, s_steps);
    s_make_trailer(&m, 1);
    s_make_end(&m, fx->path);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 1: not an interlook entries file");

    /* Not msgpack records at all (say, a JSON file). */
    s_write(fx->path, "{\"entries\": []}\n", 16);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 1: truncated or corrupt");

    /* Record lengths: zero, over the bound. */
    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 1);
    msgpack_sbuffer_write(&m.file, "\0\0\0\0", 4);
    s_make_trailer(&m, 0);
    s_make_end(&m, fx->path);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 2: truncated or corrupt");
    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 1);
    msgpack_sbuffer_write(&m.file, "\x00\x10\x00\x01", 4); /* 1 MiB + 1 */
    s_make_end(&m, fx->path);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 2: truncated or corrupt");

    /* A trailer that miscounts, or says end: false. */
    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 1);
    s_make_entry(&m, e, s_steps);
    s_make_trailer(&m, 2);
    s_make_end(&m, fx->path);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 3: truncated or corrupt");
    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 1);
    msgpack_pack_map(&m.pk, 2);
    il_codec_pack_key_bool(&m.pk, "end", false);
    il_codec_pack_key_uint(&m.pk, "count", 0);
    s_make_record(&m);
    s_make_end(&m, fx->path);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 2: ");
    entry_destroy(&e);
}

static void test_unknown_step_refused(void **state)
{
    fixture_t *fx = *state;
    char err[512];
    /* Saved by a core whose workflow had a step "waf.modsec", since removed. */
    const char *old_steps[] = {"provider.docker", "ipam.pool", "waf.modsec", "dns.bind"};
    entry_t *ok = s_entry("web", 1, 1);
    entry_t *gone = s_entry("api", 2, 2);
    gone->state = ENTRY_AT_STEP;
    gone->pos = 2;
    maker_t m;
    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 1);
    s_make_entry(&m, ok, old_steps);
    s_make_entry(&m, gone, old_steps);
    s_make_trailer(&m, 2);
    s_make_end(&m, fx->path);
    s_refuse(fx->path, err, sizeof err);
    assert_contains(err, "record 3: ");
    assert_contains(err, "waf.modsec");

    /* Work in progress at a removed step. */
    gone->pos = 1;
    gone->wip = true;
    gone->wip_step = 2;
    gone->wip_action = ILP_ACTION_ADD;
    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 1);
    s_make_entry(&m, gone, old_steps);
    s_make_trailer(&m, 1);
    s_make_end(&m, fx->path);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 2: ");
    assert_contains(err, "waf.modsec");

    /* Only the latest record of an entry counts: an older one may name it. */
    entry_t *later = s_entry("api", 1, 2); /* deployed since */
    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 2);
    s_make_entry(&m, gone, old_steps);
    s_make_trailer(&m, 1);
    s_make_entry(&m, later, s_steps);
    s_make_trailer(&m, 1);
    s_make_end(&m, fx->path);
    workflow_t *now = s_load(fx->path, 1);
    assert_int_equal(workflow_lookup(now, "api")->state, ENTRY_DEPLOYED);
    workflow_destroy(&now);
    entry_destroy(&later);

    /* Steps reordered or added since: entries follow their step by name. */
    const char *new_steps[] = {"provider.docker", "waf.modsec", "ipam.pool", "cdn.edge",
                               "dns.bind"};
    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 1);
    s_make_entry(&m, gone, old_steps);
    s_make_trailer(&m, 1);
    s_make_end(&m, fx->path);
    store_t *store = s_store(fx->path);
    workflow_t *wf = s_workflow_of(new_steps, 5);
    size_t loaded = 0;
    assert_int_equal(store_load(store, wf, &loaded, err, sizeof err), 0);
    assert_int_equal(loaded, 1);
    entry_t *back = workflow_lookup(wf, "api");
    assert_non_null(back);
    assert_int_equal(back->pos, 2);      /* ipam.pool */
    assert_int_equal(back->wip_step, 1); /* waf.modsec */
    workflow_destroy(&wf);
    store_destroy(&store);
    entry_destroy(&ok);
    entry_destroy(&gone);
}

static void test_duplicate_refused(void **state)
{
    fixture_t *fx = *state;
    char err[512];
    entry_t *a = s_entry("web", 1, 1);
    entry_t *b = s_entry("api", 0, 2);
    entry_t *a2 = s_entry("web", 2, 3);
    maker_t m;
    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 1);
    s_make_entry(&m, a, s_steps);
    s_make_entry(&m, b, s_steps);
    s_make_entry(&m, a2, s_steps);
    s_make_trailer(&m, 3);
    s_make_end(&m, fx->path);
    s_refuse(fx->path, err, sizeof err);
    assert_contains(err, "record 4: duplicate entry 'web'");

    /* An entry that is not an entry. */
    s_make_begin(&m);
    s_make_header(&m, "interlook-entries", 1);
    msgpack_pack_map(&m.pk, 1);
    il_codec_pack_key_str(&m.pk, "state", "deployed");
    s_make_record(&m);
    s_make_trailer(&m, 1);
    s_make_end(&m, fx->path);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 2: ");
    entry_destroy(&a);
    entry_destroy(&b);
    entry_destroy(&a2);
}

static void test_unreadable(void **state)
{
    fixture_t *fx = *state;
    store_t *store = s_store(fx->path);
    assert_int_equal(mkdir(fx->path, 0755), 0); /* a directory appeared at the path */
    workflow_t *wf = s_workflow();
    char err[512] = "";
    size_t loaded = 7;
    assert_int_equal(store_load(store, wf, &loaded, err, sizeof err), -1);
    assert_int_equal(loaded, 0);
    assert_contains(err, fx->path);
    assert_contains(err, strerror(EISDIR));
    workflow_destroy(&wf);
    store_destroy(&store);
}

static void test_many_entries(void **state)
{
    fixture_t *fx = *state;
    enum { N = 10000 };
    workflow_t *wf = s_workflow();
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "svc-%05d.example", i);
        s_add(wf, s_entry(name, i, i));
    }
    store_t *store = s_store(fx->path);
    s_save(store, wf);
    s_assert_alone(fx->dir, "entries.msgpack");
    workflow_t *back = s_load(fx->path, N);
    s_assert_workflows_eq(wf, back);
    workflow_destroy(&back);
    workflow_destroy(&wf);
    store_destroy(&store);
}

static void s_save_changes(store_t *store, workflow_t *wf)
{
    char err[512] = "";
    if (store_save_changes(store, wf, err, sizeof err) != 0)
        fail_msg("store_save_changes: %s", err);
}

/* Between full saves only what changed is appended, as one batch with its
 * trailer; removals too; a later record replaces an earlier one. */
static void test_changes_appended(void **state)
{
    fixture_t *fx = *state;
    store_t *store = s_store(fx->path);
    s_touch_store = store;
    workflow_t *wf = s_sample();
    s_save_changes(store, wf); /* the first save is a full one */
    assert_int_equal(store_records(store), 8);
    size_t size1 = 0;
    unsigned char *data1 = s_read(fx->path, &size1);
    size_t starts[64];
    assert_int_equal(s_records(data1, size1, starts, 64), 10);
    s_save_changes(store, wf); /* nothing changed: nothing written */
    size_t size = 0;
    unsigned char *data = s_read(fx->path, &size);
    assert_int_equal(size, size1);
    free(data);

    /* Two entries change, one is new. */
    entry_t *web = workflow_lookup(wf, "web");
    web->attempt = 5;
    assert_int_equal(il_service_set_string(&web->service->public_ip, "198.51.100.7"), 0);
    store_touch(store, web);
    store_touch(store, web); /* once is enough */
    entry_t *api = workflow_lookup(wf, "api");
    entry_set_error(api, "dns.bind: refused");
    store_touch(store, api);
    store_touch(store, s_add(wf, s_entry("newcomer", 1, 11)));
    s_save_changes(store, wf);
    size_t size2 = 0;
    unsigned char *data2 = s_read(fx->path, &size2);
    assert_true(size2 > size1);
    assert_memory_equal(data2, data1, size1); /* appended, the rest untouched */
    assert_int_equal(s_records(data2, size2, starts, 64), 14);
    assert_int_equal(store_records(store), 11); /* 3 superseded or new: a clean stop compacts */
    workflow_t *back = s_load(fx->path, 9);
    s_assert_workflows_eq(wf, back);
    workflow_destroy(&back);
    /* A snapshot of this state, for the torn tails below. */
    workflow_t *state2 = s_load(fx->path, 9);

    /* The housekeeper forgets the undeployed entries and fails the work
     * that timed out: every change reaches the store through the effects. */
    workflow_housekeep(wf, 1764070000000LL + 10 * 3600000LL);
    assert_int_equal(workflow_size(wf), 7);
    assert_null(workflow_lookup(wf, "db"));
    entry_t *never = s_entry("never-saved", 1, 1); /* a removal of what the file never had */
    store_forget(store, never);
    entry_destroy(&never);
    s_save_changes(store, wf);
    size_t size3 = 0;
    unsigned char *data3 = s_read(fx->path, &size3);
    assert_memory_equal(data3, data2, size2);
    back = s_load(fx->path, 7);
    s_assert_workflows_eq(wf, back);
    workflow_destroy(&back);

    /* A crash in the middle of the last append: any cut of its batch loads
     * as the state before it, the cut part dropped. */
    for (size_t cut = size2 + 1; cut < size3; cut += 7) {
        s_write(fx->path, data3, cut);
        s_assert_dropped(fx->path, state2, cut - size2);
    }
    /* Damage inside an earlier batch (a trailer follows it) is corruption. */
    size_t n = s_records(data3, size3, starts, 64);
    size_t victim = starts[11]; /* a record of the second batch */
    data3[victim + 8] = 0xc1;   /* never-used msgpack byte: its checksum no longer matches */
    s_write(fx->path, data3, size3);
    char err[512];
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 12: checksum mismatch");
    /* So is a cut length in the middle of the file... */
    data3[victim + 8] = data2[victim + 8];
    data3[victim] = 0x7f;
    s_write(fx->path, data3, size3);
    assert_contains(s_refuse(fx->path, err, sizeof err), "record 12: truncated or corrupt");
    /* ...unless nothing whole follows it: then it is the cut end. */
    data3[victim] = data2[victim];
    data3[starts[n - 2]] = 0x7f; /* the last record before the last trailer */
    s_write(fx->path, data3, size3);
    char expect[64];
    snprintf(expect, sizeof expect, "record %zu: truncated or corrupt", n - 1);
    assert_contains(s_refuse(fx->path, err, sizeof err), expect);
    s_write(fx->path, data3, starts[n - 1]);
    s_assert_dropped(fx->path, state2, starts[n - 1] - size2);

    workflow_destroy(&state2);
    free(data1);
    free(data2);
    free(data3);
    s_touch_store = NULL;
    workflow_destroy(&wf);
    store_destroy(&store);
}

/* The log is rewritten (compacted) once it holds about twice as many records
 * as entries, and when the file was replaced behind the store's back. */
static void test_compaction(void **state)
{
    fixture_t *fx = *state;
    store_t *store = s_store(fx->path);
    workflow_t *wf = s_workflow();
    enum { N = 20 };
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "svc-%02d", i);
        s_add(wf, s_entry(name, i, i));
    }
    s_save_changes(store, wf);
    size_t full = 0;
    free(s_read(fx->path, &full));
    size_t largest = 0;
    bool compacted = false;
    for (int round = 0; round < 200 && !compacted; round++) {
        for (entry_t *e = workflow_first(wf); e; e = workflow_next(wf)) {
            e->attempt = (uint32_t)round + 1;
            store_touch(store, e);
        }
        s_save_changes(store, wf);
        size_t size = 0;
        free(s_read(fx->path, &size));
        if (size < largest) compacted = true;
        if (size > largest) largest = size;
    }
    assert_true(compacted);
    assert_true(largest > 2 * full); /* not before it was twice as large */
    workflow_t *back = s_load(fx->path, N);
    s_assert_workflows_eq(wf, back);
    workflow_destroy(&back);

    /* The file removed while the core runs: the next save writes it whole. */
    assert_int_equal(unlink(fx->path), 0);
    store_touch(store, workflow_lookup(wf, "svc-03"));
    s_save_changes(store, wf);
    back = s_load(fx->path, N);
    s_assert_workflows_eq(wf, back);
    workflow_destroy(&back);
    s_assert_alone(fx->dir, "entries.msgpack");
    workflow_destroy(&wf);
    store_destroy(&store);
}

/* The packed service an entry keeps (sent, published and saved with each
 * step) is il_service_pack's bytes, and made again once the service changed. */
static void s_assert_packed(entry_t *e)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    il_service_pack(e->service, &pk);
    size_t len = 0;
    const char *packed = entry_packed_service(e, &len);
    assert_non_null(packed);
    assert_int_equal(len, sb.size);
    assert_memory_equal(packed, sb.data, len);
    /* entry_pack writes the same record with the bytes kept or without. */
    msgpack_sbuffer with, without;
    msgpack_sbuffer_init(&with);
    msgpack_sbuffer_init(&without);
    msgpack_packer_init(&pk, &with, msgpack_sbuffer_write);
    entry_pack(e, s_steps, &pk);
    entry_service_changed(e);
    msgpack_packer_init(&pk, &without, msgpack_sbuffer_write);
    entry_pack(e, s_steps, &pk);
    assert_int_equal(with.size, without.size);
    assert_memory_equal(with.data, without.data, with.size);
    msgpack_sbuffer_destroy(&with);
    msgpack_sbuffer_destroy(&without);
    msgpack_sbuffer_destroy(&sb);
}

static void test_packed_service(void **state)
{
    (void)state;
    entry_t *e = s_entry("web", 1, 2);
    s_assert_packed(e);
    size_t len = 0;
    const char *first = entry_packed_service(e, &len);
    assert_ptr_equal(entry_packed_service(e, &len), first); /* kept */
    /* Changes the safety net sees without being told. */
    assert_int_equal(il_service_set_string(&e->service->public_ip, "198.51.100.1"), 0);
    s_assert_packed(e);
    assert_int_equal(il_service_set_string(&e->service->provider, "provider.other"), 0);
    s_assert_packed(e);
    assert_int_equal(il_service_add_target(e->service, "192.0.2.99", 443, 1), 0);
    s_assert_packed(e);
    assert_int_equal(il_service_add_alias(e->service, "zz.example.org"), 0);
    s_assert_packed(e);
    e->service->tls = !e->service->tls;
    s_assert_packed(e);
    /* The public port (s_assert_packed ends with the bytes dropped: made again first). */
    entry_packed_service(e, &len);
    e->service->port = 8443;
    s_assert_packed(e);
    entry_packed_service(e, &len);
    e->service->port = 0;
    s_assert_packed(e);
    /* The check (a new string each time it is set). */
    entry_packed_service(e, &len);
    char why[200];
    assert_int_equal(il_service_set_check(e->service, "http:/healthz", why, sizeof why), 0);
    s_assert_packed(e);
    entry_packed_service(e, &len);
    assert_int_equal(il_service_set_check(e->service, NULL, why, sizeof why), 0);
    s_assert_packed(e);
    /* A change it cannot see (a weight in place) is told. */
    entry_packed_service(e, &len);
    e->service->targets[0].weight += 5;
    entry_service_changed(e);
    s_assert_packed(e);
    entry_destroy(&e);
}

/* An entry changed then removed before the save: only its removal is
 * written (it is no longer in the list of changes); removed then back under
 * the same name: only its record (a batch names an entry once). */
static void test_changed_then_removed(void **state)
{
    fixture_t *fx = *state;
    store_t *store = s_store(fx->path);
    s_touch_store = store;
    workflow_t *wf = s_sample();
    s_save_changes(store, wf);
    store_touch(store, workflow_lookup(wf, "db")); /* undeployed: the housekeeper removes it */
    workflow_housekeep(wf, 1764070000000LL + 10 * 3600000LL);
    assert_null(workflow_lookup(wf, "db"));
    s_save_changes(store, wf);
    workflow_t *back = s_load(fx->path, workflow_size(wf));
    s_assert_workflows_eq(wf, back);
    workflow_destroy(&back);

    entry_t *gone = s_entry("gone", 1, 4);
    store_touch(store, gone);
    store_forget(store, gone); /* before any save: nothing of it stays in the list */
    entry_destroy(&gone);
    entry_t *again = s_entry("auth", 1, 5); /* removed above, back now */
    store_forget(store, again);
    store_touch(store, s_add(wf, again));
    s_save_changes(store, wf);
    back = s_load(fx->path, workflow_size(wf));
    s_assert_workflows_eq(wf, back);
    assert_int_equal(workflow_lookup(back, "auth")->state, ENTRY_DEPLOYED);
    workflow_destroy(&back);
    s_touch_store = NULL;
    workflow_destroy(&wf);
    store_destroy(&store);
}

/* A changed byte inside a value (one digit of an address) is refused by the
 * record's checksum, naming the path, the record and its offset. */
static void test_changed_value_refused(void **state)
{
    fixture_t *fx = *state;
    store_t *store = s_store(fx->path);
    workflow_t *wf = s_sample();
    entry_t *web = workflow_lookup(wf, "web");
    assert_int_equal(il_service_set_string(&web->service->public_ip, "198.51.100.7"), 0);
    s_save(store, wf);
    size_t size = 0;
    unsigned char *data = s_read(fx->path, &size);
    unsigned char *at = memmem(data, size, "198.51.100.7", 12);
    assert_non_null(at);
    size_t off = (size_t)(at - data) + 11;
    data[off] = '8'; /* 198.51.100.8: still a valid address */
    s_write(fx->path, data, size);
    char err[512], expect[256];
    s_refuse(fx->path, err, sizeof err);
    size_t starts[16];
    size_t n = s_records(data, size, starts, 16), k = 0;
    while (k + 1 < n && starts[k + 1] <= off)
        k++;
    snprintf(expect, sizeof expect, "%s: record %zu: checksum mismatch (the record at byte %zu",
             fx->path, k + 1, starts[k]);
    assert_contains(err, expect);
    free(data);
    workflow_destroy(&wf);
    store_destroy(&store);
}

/* A symbolic link to a missing file is refused; only a path that does not
 * exist at all is a first start. */
static void test_dangling_link_refused(void **state)
{
    fixture_t *fx = *state;
    char target[192];
    snprintf(target, sizeof target, "%s/gone/entries.db", fx->dir);
    assert_int_equal(symlink(target, fx->path), 0);
    char err[512] = "";
    store_t *linked = s_store(fx->path);
    workflow_t *none = s_workflow();
    size_t loaded = 0;
    assert_int_equal(store_load(linked, none, &loaded, err, sizeof err), -1);
    assert_int_equal(loaded, 0);
    workflow_destroy(&none);
    store_destroy(&linked);
    assert_contains(err, fx->path);
    assert_contains(err, "symbolic link");
    assert_contains(err, target);
    /* The link to a file that exists is followed. */
    char real[192];
    snprintf(real, sizeof real, "%s/real.db", fx->dir);
    store_t *store = s_store(real);
    workflow_t *wf = s_sample();
    s_save(store, wf);
    assert_int_equal(unlink(fx->path), 0);
    assert_int_equal(symlink(real, fx->path), 0);
    workflow_t *back = s_load(fx->path, 8);
    workflow_destroy(&back);
    workflow_destroy(&wf);
    store_destroy(&store);
}

/* A file cut exactly after a batch loads as that batch's state (nothing can
 * tell it from a file whose last save was that batch): the load says which
 * batch that is, and when it was saved. */
static void test_last_batch_logged(void **state)
{
    fixture_t *fx = *state;
    store_t *store = s_store(fx->path);
    s_touch_store = store;
    workflow_t *wf = s_sample();
    s_save_changes(store, wf); /* batch 1, a full save */
    size_t size1 = 0;
    unsigned char *data1 = s_read(fx->path, &size1);
    entry_t *web = workflow_lookup(wf, "web");
    web->attempt = 7;
    store_touch(store, web);
    s_save_changes(store, wf); /* batch 2, appended */
    store_touch(store, s_add(wf, s_entry("late", 1, 12)));
    s_save_changes(store, wf); /* batch 3 */
    size_t size3 = 0;
    unsigned char *data3 = s_read(fx->path, &size3);
    assert_true(size3 > size1);
    assert_memory_equal(data3, data1, size1);

    char logpath[192];
    snprintf(logpath, sizeof logpath, "%s/test.log", fx->dir);
    assert_int_equal(il_log_setup("test_store", IL_LOG_INFO, logpath), 0);
    workflow_t *back = s_load(fx->path, 9);
    workflow_destroy(&back);
    s_write(fx->path, data3, size1); /* cut after batch 1 */
    back = s_load(fx->path, 8);
    workflow_destroy(&back);
    il_log_close();
    il_log_setup("test_store", IL_LOG_INFO, "stderr");
    size_t loglen = 0;
    char *log = (char *)s_read(logpath, &loglen);
    log = realloc(log, loglen + 1);
    log[loglen] = '\0';
    char expect[256], day[16];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(day, sizeof day, "%Y-%m-%dT", &tm);
    snprintf(expect, sizeof expect,
             "%s: 9 entries as of the last complete save in the file: batch 3", fx->path);
    assert_contains(log, expect);
    snprintf(expect, sizeof expect,
             "%s: 8 entries as of the last complete save in the file: batch 1", fx->path);
    assert_contains(log, expect);
    assert_contains(log, day); /* the time the batch was saved */
    free(log);
    free(data1);
    free(data3);
    s_touch_store = NULL;
    workflow_destroy(&wf);
    store_destroy(&store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_missing_file_is_empty, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_empty_workflow, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_new_creates_parents, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_no_temp_file_left, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failed_save_keeps_old_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_truncated_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_flipped_bytes_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_format_and_version_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_step_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unreadable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_many_entries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_changes_appended, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_compaction, s_setup, s_teardown),
        cmocka_unit_test(test_packed_service),
        cmocka_unit_test_setup_teardown(test_changed_then_removed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_changed_value_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dangling_link_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_last_batch_logged, s_setup, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
