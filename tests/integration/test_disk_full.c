/* A full disk under the core's entries file and the IP allocator's db
 * (ENOSPC): a small tmpfs of the test's own holds both, filled up by a
 * filler file. Nothing is acknowledged that was not written (the allocator
 * answers an error, not an address; what it announced is in its db), each
 * daemon says so once with the path and the error, keeps running, and both
 * recover by themselves once the filler is removed: services added and
 * deleted while the disk was full end as asked, and a restart finds the
 * same state on disk. Needs root (mount); unmounted on every exit path. */
#include "tests/support/fixture.h"
#include "tests/support/testutil.h"

#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <cmocka.h>

#define WAIT_MS 30000

typedef struct {
    fixture_t *stack; /* first */
    char var[512];    /* the tmpfs mount point: the fixture's var directory */
    bool mounted;
    pid_t core, alloc, inject;
    int inject_in;
    /* conditions */
    const char *prefix;
    int count;
    const char *state;
    int seen;
} ctx_t;

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    if (!ctx) return 0;
    /* The processes hold files on it: stop them first, then detach it (lazily,
     * so that the unmount happens whatever still holds it). */
    if (ctx->core > 0) test_stop(ctx->core, SIGKILL, 2000);
    if (ctx->alloc > 0) test_stop(ctx->alloc, SIGKILL, 2000);
    if (ctx->mounted && umount2(ctx->var, MNT_DETACH) != 0)
        fprintf(stderr, "test_disk_full: cannot unmount %s: %s\n", ctx->var, strerror(errno));
    ctx->mounted = false;
    fixture_destroy(&ctx->stack);
    free(ctx);
    return 0;
}

/* The allocator's db at db (under {dir}), the core's entries on the tmpfs. */
static int s_setup_db(void **state, const char *db)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    ctx->inject_in = -1;
    fixture_opts_t opts = {.name = "test_disk_full", .stop_signal = SIGKILL};
    ctx->stack = fixture_new(&opts);
    if (!ctx->stack) return -1;
    snprintf(ctx->var, sizeof ctx->var, "%s/var", fixture_dir(ctx->stack));
    if (mkdir(ctx->var, 0755) != 0) return -1;
    if (mount("tmpfs", ctx->var, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") != 0) {
        fprintf(stderr, "test_disk_full: mount tmpfs on %s: %s (needs root)\n", ctx->var,
                strerror(errno));
        return -1;
    }
    ctx->mounted = true;
    char sections[512];
    snprintf(sections, sizeof sections,
             "ipam:\n"
             "  ipalloc:\n"
             "    db_file: {dir}/%s\n"
             "    network_cidr: 10.40.0.0/16\n"
             "    ip_start: 10.40.0.10\n"
             "    ip_end: 10.40.250.250\n",
             db);
    return fixture_config_write(ctx->stack,
                                "  logLevel: debug\n"
                                "  workflowSteps: provider.test,ipam.ipalloc\n"
                                "  checkFlowInterval: 50ms\n"
                                "  workflowHousekeeperInterval: 200ms\n"
                                "  serviceWIPTimeout: 5s\n"
                                "  retryBackoffMin: 100ms\n"
                                "  retryBackoffMax: 500ms\n"
                                "  persistDelay: 20ms\n",
                                sections);
}

static int s_setup(void **state)
{
    return s_setup_db(state, "var/ipalloc.db");
}

/* The allocator's db apart, on a disk with room. */
static int s_setup_db_apart(void **state)
{
    return s_setup_db(state, "ipalloc.db");
}

static void s_say(ctx_t *ctx, const char *line)
{
    assert_int_equal(test_write_text(ctx->inject_in, line), 0);
}

static void s_start_alloc(ctx_t *ctx)
{
    const char *args[] = {"-c", fixture_config(ctx->stack), "--instance", "alloc-0", NULL};
    ctx->alloc = fixture_spawn(ctx->stack, "interlook-ipalloc", args, "ipalloc.log", NULL);
    assert_true(ctx->alloc > 0);
    assert_true(fixture_wait_registered(ctx->stack, "ipam.ipalloc", 1, WAIT_MS));
}

static void s_start(ctx_t *ctx)
{
    ctx->core = fixture_start_core(ctx->stack, WAIT_MS);
    assert_true(ctx->core > 0);
    s_start_alloc(ctx);
    const char *args[] = {"--name", "provider.test", NULL};
    ctx->inject = fixture_spawn_ext(ctx->stack, "interlook-inject", args, &ctx->inject_in);
    assert_true(ctx->inject > 0);
    assert_true(fixture_wait_registered(ctx->stack, "provider.test", 1, WAIT_MS));
}

/* Services whose name starts with prefix in state (not in progress). */
static int s_count(ctx_t *ctx, const char *prefix, const char *state)
{
    json_t *all = fixture_api_get(ctx->stack, "/services");
    if (!all) return -1;
    int n = 0;
    const char *key;
    json_t *e;
    json_object_foreach(all, key, e)
    {
        const char *s = json_string_value(json_object_get(e, "state"));
        if (!strncmp(key, prefix, strlen(prefix)) && s && !strcmp(s, state) &&
            !json_is_true(json_object_get(e, "wip")))
            n++;
    }
    json_decref(all);
    return n;
}

static bool s_reached(void *arg)
{
    ctx_t *ctx = arg;
    ctx->seen = s_count(ctx, ctx->prefix, ctx->state);
    return ctx->seen == ctx->count;
}

static void s_wait(ctx_t *ctx, const char *prefix, const char *state, int count)
{
    ctx->prefix = prefix;
    ctx->state = state;
    ctx->count = count;
    if (!test_wait(s_reached, ctx, WAIT_MS))
        fail_msg("wanted %d services %s* %s, saw %d", count, prefix, state, ctx->seen);
}

/* The lines of a log in the fixture's directory that contain every one of
 * the NULL-terminated needles. */
static int s_log_lines(ctx_t *ctx, const char *log, ...)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", fixture_dir(ctx->stack), log);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        va_list args;
        va_start(args, log);
        bool all = true;
        for (const char *needle = va_arg(args, const char *); needle && all;
             needle = va_arg(args, const char *))
            all = strstr(line, needle) != NULL;
        va_end(args);
        n += all;
    }
    fclose(f);
    return n;
}

static bool s_core_save_failed(void *arg)
{
    return s_log_lines(arg, "core.log", "ERROR", "cannot save entries", "entries.db",
                       "No space left on device", NULL) >= 1;
}

static bool s_saved_again(void *arg)
{
    return s_log_lines(arg, "core.log", "INFO", "entries saved again", NULL) >= 1 &&
           s_log_lines(arg, "ipalloc.log", "INFO", "written again", NULL) >= 1;
}

/* The core's count of entries-file writes, -1 when unknown. */
static long s_saves(ctx_t *ctx)
{
    char url[300];
    snprintf(url, sizeof url, "%s/metrics", fixture_api(ctx->stack));
    long status = 0;
    char *text = test_http_get(url, &status);
    const char *at = text ? strstr(text, "\ninterlook_entries_saves_total ") : NULL;
    long saves = at ? strtol(at + strlen("\ninterlook_entries_saves_total "), NULL, 10) : -1;
    free(text);
    return saves;
}

/* The core saved what it holds: a save, then none for a while (saves follow
 * changes within persistDelay, 20 ms here). */
static void s_wait_saved(ctx_t *ctx)
{
    int64_t deadline = zclock_mono() + WAIT_MS, since = zclock_mono();
    long last = s_saves(ctx);
    while (zclock_mono() < deadline) {
        usleep(20 * 1000);
        long now = s_saves(ctx);
        if (now != last) since = zclock_mono();
        last = now;
        if (last > 0 && zclock_mono() - since >= 300) return;
    }
    fail_msg("the core did not save its entries");
}

/* Fills the file system up: the filler takes every block left. */
static void s_fill(ctx_t *ctx)
{
    test_sh("dd if=/dev/zero of='%s/filler' bs=4k >/dev/null 2>&1", ctx->var);
    struct statvfs fs;
    assert_int_equal(statvfs(ctx->var, &fs), 0);
    assert_true(fs.f_bavail == 0);
}

/* Every deployed service has an address of its own, and the allocator's db
 * (its --list, read from the file) holds exactly those (deployed < 0: holds
 * them, and what is being undeployed too). */
static void s_check_consistent(ctx_t *ctx, int deployed)
{
    json_t *all = fixture_api_get(ctx->stack, "/services");
    assert_non_null(all);
    zhashx_t *ips = zhashx_new();
    int n = 0;
    const char *key;
    json_t *e;
    char *list = test_sh_output("'%s' -c '%s' --list", test_bin("interlook-ipalloc"),
                                fixture_config(ctx->stack));
    assert_non_null(list);
    json_object_foreach(all, key, e)
    {
        const char *s = json_string_value(json_object_get(e, "state"));
        if (!s || strcmp(s, "deployed")) continue;
        const char *ip =
            json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
        assert_non_null(ip);
        assert_null(zhashx_lookup(ips, ip)); /* no address twice */
        zhashx_insert(ips, ip, (void *)key);
        char row[256];
        snprintf(row, sizeof row, "\n%-40s %-39s ", key, ip);
        if (!strstr(list, row))
            fail_msg("%s %s is deployed but not in the allocator's db", key, ip);
        n++;
    }
    if (deployed < 0) goto done;
    assert_int_equal(n, deployed);
    char tail[64];
    snprintf(tail, sizeof tail, "\n%d allocations in ", deployed);
    if (!strstr(list, tail))
        fail_msg("the allocator's db does not hold %d allocations:\n%s", deployed, list);
done:
    free(list);
    zhashx_destroy(&ips);
    json_decref(all);
}

/* Started, 220 services deployed and saved, then the disk filled, 100 adds
 * and 205 deletes: the allocator refuses some deletes for the full disk. */
static void s_fill_under_load(ctx_t *ctx)
{
    s_start(ctx);
    s_say(ctx, "add-many a- 20 10.0.0.1:80\nadd-many c- 200 10.0.0.1:80\n");
    s_wait(ctx, "a-", "deployed", 20);
    s_wait(ctx, "c-", "deployed", 200);
    s_check_consistent(ctx, 220);
    s_wait_saved(ctx);

    s_fill(ctx);
    /* Enough records that no write fits in the blocks the files have left. */
    s_say(ctx, "add-many b- 100 10.0.0.1:80\n");
    s_say(ctx, "delete-many a- 5\n");
    /* Removals of saved services reach the allocator: more than its db's
     * last block holds. */
    s_say(ctx, "delete-many c- 200\n");
    /* The new services' first WORK waits for their entries' save: the
     * allocator sees only those whose records still fitted in the file's
     * last block (and refuses them for its own full disk), often none. */
    assert_true(test_wait(s_core_save_failed, ctx, WAIT_MS));
}

/* Space returns: everything converges, the db holds what is deployed. */
static void s_space_back(ctx_t *ctx)
{
    char filler[600];
    snprintf(filler, sizeof filler, "%s/filler", ctx->var);
    assert_int_equal(unlink(filler), 0);
    s_wait(ctx, "b-", "deployed", 100);
    s_wait(ctx, "a-", "deployed", 15);
    s_wait(ctx, "a-", "undeployed", 5);
    s_wait(ctx, "c-", "undeployed", 200);
    s_check_consistent(ctx, 115);
}

/* What is on disk is the state reached: killed and started again, the same. */
static void s_restart_same(ctx_t *ctx)
{
    s_wait_saved(ctx);
    test_stop(ctx->alloc, SIGKILL, 2000);
    test_stop(ctx->core, SIGKILL, 2000);
    ctx->core = fixture_start_core(ctx->stack, WAIT_MS);
    assert_true(ctx->core > 0);
    s_start_alloc(ctx);
    s_wait(ctx, "b-", "deployed", 100);
    s_wait(ctx, "a-", "deployed", 15);
    s_check_consistent(ctx, 115);
}

static void test_full_disk_then_space_back(void **state)
{
    ctx_t *ctx = *state;
    s_fill_under_load(ctx);
    /* Retried meanwhile (back-off up to 500 ms): still said once each. */
    usleep(1500 * 1000);
    assert_int_equal(s_log_lines(ctx, "core.log", "ERROR", "cannot save entries", "entries.db",
                                 "No space left on device", NULL),
                     1);
    assert_int_equal(
        s_log_lines(ctx, "ipalloc.log", "ERROR", "ipalloc.db", "No space left on device", NULL), 1);
    /* Whatever was deployed holds an address in the db, none twice (the
     * removals the allocator could not write are retried: in both). */
    s_check_consistent(ctx, -1);
    assert_true(s_count(ctx, "b-", "deployed") < 100);
    assert_true(kill(ctx->core, 0) == 0 && kill(ctx->alloc, 0) == 0); /* still running */

    /* Space returns: both recover by themselves, and say so once. */
    s_space_back(ctx);
    assert_true(test_wait(s_saved_again, ctx, WAIT_MS));
    s_restart_same(ctx);
}

/* Both killed while the disk is full (a torn tail may end either file):
 * they start again from what is on disk (the core's file may lag behind
 * the db: the start-up refresh and the allocator's idempotence reconcile
 * them), and converge once space returns. */
static void test_killed_while_disk_full(void **state)
{
    ctx_t *ctx = *state;
    s_fill_under_load(ctx);
    test_stop(ctx->alloc, SIGKILL, 2000);
    test_stop(ctx->core, SIGKILL, 2000);
    ctx->core = fixture_start_core(ctx->stack, WAIT_MS);
    assert_true(ctx->core > 0);
    s_start_alloc(ctx);
    assert_true(fixture_wait_registered(ctx->stack, "provider.test", 1, WAIT_MS));
    /* The entries saved before the disk filled are back. */
    assert_true(s_log_lines(ctx, "core.log", "220 entries loaded", NULL) == 1);
    s_space_back(ctx);
    s_restart_same(ctx);
}

/* Every b- entry settled undeployed (or forgotten): none in progress or live. */
static bool s_b_gone(void *arg)
{
    ctx_t *ctx = arg;
    json_t *all = fixture_api_get(ctx->stack, "/services");
    if (!all) return false;
    int busy = 0;
    const char *key;
    json_t *e;
    json_object_foreach(all, key, e)
    {
        const char *s = json_string_value(json_object_get(e, "state"));
        if (!strncmp(key, "b-", 2) &&
            (json_is_true(json_object_get(e, "wip")) || !s || strcmp(s, "undeployed")))
            busy++;
    }
    json_decref(all);
    return busy == 0;
}

static bool s_b_all_deployed(void *arg)
{
    return s_count(arg, "b-", "deployed") == 50;
}

/* The core cannot save (its disk is full), the allocator can: the first
 * WORK of a new service waits for its entry's save, so that no address is
 * allocated for a service a killed core would not know of. Killed then, the
 * services removed while it is down, started again: the allocator holds
 * addresses for what the core deploys, and nothing else (before, each new
 * service's address leaked: the db held it, the core had no entry). */
static void test_new_services_wait_for_their_save(void **state)
{
    ctx_t *ctx = *state;
    s_start(ctx);
    s_say(ctx, "add-many a- 5 10.0.0.1:80\n");
    s_wait(ctx, "a-", "deployed", 5);
    s_wait_saved(ctx);
    s_fill(ctx);
    s_say(ctx, "add-many b- 50 10.0.0.1:80\n");
    assert_true(test_wait(s_core_save_failed, ctx, WAIT_MS));
    /* Before the fix all were deployed within milliseconds; now at most
     * those whose records fitted in the file's last block. */
    test_wait(s_b_all_deployed, ctx, 2000);
    assert_true(s_count(ctx, "b-", "deployed") < 50);
    test_stop(ctx->core, SIGKILL, 2000);
    s_say(ctx, "delete-many b- 50\n");
    char filler[600];
    snprintf(filler, sizeof filler, "%s/filler", ctx->var);
    assert_int_equal(unlink(filler), 0);
    ctx->core = fixture_start_core(ctx->stack, WAIT_MS);
    assert_true(ctx->core > 0);
    s_wait(ctx, "a-", "deployed", 5);
    assert_true(test_wait(s_b_gone, ctx, WAIT_MS));
    s_check_consistent(ctx, 5);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_disk_then_space_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_killed_while_disk_full, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_new_services_wait_for_their_save, s_setup_db_apart,
                                        s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
