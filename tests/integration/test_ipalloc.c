/* The IP allocator with real processes: interlookd + interlook-ipalloc +
 * interlook-inject over TCP loopback, checked through the core's HTTP API and
 * the allocator's own --list; kill -9 of the allocator in a loop; two
 * allocators sharing one db file. */
#include "extensions/ipalloc/pool.h"
#include "tests/support/fixture.h"
#include "tests/support/testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define WAIT_MS 30000

typedef struct {
    fixture_t *stack;               /* first: fixture_teardown frees this */
    const char *dir, *config, *api; /* the stack's */
    pid_t core;
    pid_t alloc[2];
    pid_t inject;
    int inject_in;
    const char *want_state;
    int want_count;
    int seen;
} ctx_t;

/* Writes the stack's configuration with that ipam.ipalloc section. */
static void s_config(ctx_t *ctx, const char *ipalloc_yaml)
{
    char sections[2048];
    snprintf(sections, sizeof sections,
             "ipam:\n"
             "  ipalloc:\n"
             "    db_file: {dir}/var/ipalloc.db\n"
             "%s",
             ipalloc_yaml);
    assert_int_equal(fixture_config_write(ctx->stack,
                                          "  logLevel: debug\n"
                                          "  workflowSteps: provider.test,ipam.ipalloc\n"
                                          "  checkFlowInterval: 50ms\n"
                                          "  workflowHousekeeperInterval: 200ms\n"
                                          "  serviceWIPTimeout: 5s\n"
                                          "  retryBackoffMin: 50ms\n"
                                          "  retryBackoffMax: 200ms\n"
                                          "  persistDelay: 20ms\n",
                                          sections),
                     0);
}

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    fixture_opts_t opts = {.name = "test_ipalloc", .stop_signal = SIGKILL};
    ctx->stack = fixture_new(&opts);
    assert_non_null(ctx->stack);
    ctx->dir = fixture_dir(ctx->stack);
    ctx->config = fixture_config(ctx->stack);
    ctx->api = fixture_api(ctx->stack);
    s_config(ctx, "    network_cidr: 10.32.30.0/24\n"
                  "    ip_start: 10.32.30.10\n"
                  "    ip_end: 10.32.30.200\n"
                  "    reserved: [10.32.30.11]\n");
    ctx->inject_in = -1;
    *state = ctx;
    return 0;
}

static void s_start(ctx_t *ctx)
{
    ctx->core = fixture_start_core(ctx->stack, WAIT_MS);
    assert_true(ctx->core > 0);
    const char *args[] = {"--name", "provider.test", NULL};
    ctx->inject = fixture_spawn_ext(ctx->stack, "interlook-inject", args, &ctx->inject_in);
    assert_true(ctx->inject > 0);
}

static pid_t s_allocator(ctx_t *ctx, const char *instance)
{
    const char *args[] = {"--instance", instance, NULL};
    pid_t pid = fixture_spawn_ext(ctx->stack, "interlook-ipalloc", args, NULL);
    assert_true(pid > 0);
    return pid;
}

static void s_say(ctx_t *ctx, const char *line)
{
    assert_int_equal(test_write_text(ctx->inject_in, line), 0);
}

static json_t *s_services(ctx_t *ctx)
{
    return fixture_api_get(ctx->stack, "/services");
}

static int s_count(ctx_t *ctx, const char *state)
{
    json_t *all = s_services(ctx);
    if (!all) return -1;
    int n = 0;
    const char *key;
    json_t *e;
    json_object_foreach(all, key, e)
    {
        const char *s = json_string_value(json_object_get(e, "state"));
        if (s && !strcmp(s, state) && !json_is_true(json_object_get(e, "wip"))) n++;
    }
    json_decref(all);
    return n;
}

static bool s_reached(void *arg)
{
    ctx_t *ctx = arg;
    ctx->seen = s_count(ctx, ctx->want_state);
    return ctx->seen >= ctx->want_count;
}

static void s_wait_state(ctx_t *ctx, const char *state, int count)
{
    ctx->want_state = state;
    ctx->want_count = count;
    if (!test_wait(s_reached, ctx, WAIT_MS))
        fail_msg("wanted %d services %s, saw %d", count, state, ctx->seen);
}

/* Every deployed service has a distinct IP inside [first, last], never the
 * reserved one; returns how many. */
static int s_check_range(ctx_t *ctx, zhashx_t *by_name, const char *first, const char *last)
{
    json_t *all = s_services(ctx);
    assert_non_null(all);
    zhashx_t *ips = zhashx_new();
    int n = 0;
    const char *key;
    json_t *e;
    pool_addr_t lo, hi, reserved;
    int family;
    pool_addr_parse(first, &lo, &family);
    pool_addr_parse(last, &hi, &family);
    pool_addr_parse("10.32.30.11", &reserved, &family);
    json_object_foreach(all, key, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "state")), "deployed")) continue;
        const char *ip =
            json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
        if (!ip) fail_msg("%s deployed without an IP", key);
        if (zhashx_lookup(ips, ip))
            fail_msg("%s and %s share %s", key, (char *)zhashx_lookup(ips, ip), ip);
        pool_addr_t addr;
        assert_int_equal(pool_addr_parse(ip, &addr, &family), 0);
        assert_true(addr >= lo && addr <= hi && addr != reserved);
        zhashx_insert(ips, ip, (void *)key);
        if (by_name) zhashx_insert(by_name, key, strdup(ip));
        n++;
    }
    zhashx_destroy(&ips);
    json_decref(all);
    return n;
}

static int s_check_distinct(ctx_t *ctx, zhashx_t *by_name)
{
    return s_check_range(ctx, by_name, "10.32.30.10", "10.32.30.200");
}

/* Runs interlook-ipalloc -c CONFIG OPTION (--list, --check-config): its
 * exit status, its output (both streams) in out. */
static int s_run_option(ctx_t *ctx, const char *option, char *out, size_t outlen)
{
    return test_run(out, outlen, "%s -c '%s' %s 2>&1", test_bin("interlook-ipalloc"), ctx->config,
                    option);
}

static int s_list(ctx_t *ctx, char *out, size_t outlen)
{
    return s_run_option(ctx, "--list", out, outlen);
}

/* The allocator's file agrees with the core: same name -> IP for every deployed service. */
static void s_check_file_agrees(ctx_t *ctx, zhashx_t *by_name)
{
    size_t size = 1 << 20;
    char *out = malloc(size);
    assert_int_equal(s_list(ctx, out, size), 0);
    size_t rows = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char name[300], ip[64], when[40];
        if (sscanf(line, "%299s %63s %39s", name, ip, when) != 3 || !strcmp(name, "SERVICE") ||
            strstr(line, "allocations in"))
            continue;
        const char *core_ip = zhashx_lookup(by_name, name);
        if (!core_ip || strcmp(core_ip, ip))
            fail_msg("file says %s=%s, core says %s", name, ip, core_ip ? core_ip : "nothing");
        rows++;
    }
    assert_int_equal(rows, zhashx_size(by_name));
    free(out);
}

static void test_allocate_and_release(void **state)
{
    ctx_t *ctx = *state;
    s_start(ctx);
    ctx->alloc[0] = s_allocator(ctx, "ipa-1");
    s_say(ctx, "add-many web- 50\n");
    s_wait_state(ctx, "deployed", 50);
    zhashx_t *by_name = zhashx_new();
    zhashx_set_destructor(by_name, (zhashx_destructor_fn *)zstr_free);
    assert_int_equal(s_check_distinct(ctx, by_name), 50);
    /* Lowest first, the reserved address skipped: 50 services take .10, .12 .. .60. */
    bool low = false, high = false;
    for (char *ip = zhashx_first(by_name); ip; ip = zhashx_next(by_name)) {
        if (!strcmp(ip, "10.32.30.10")) low = true;
        if (!strcmp(ip, "10.32.30.60")) high = true;
        assert_string_not_equal(ip, "10.32.30.11");
    }
    assert_true(low && high);
    s_check_file_agrees(ctx, by_name);
    zhashx_destroy(&by_name);

    s_say(ctx, "delete-many web- 50\n");
    s_wait_state(ctx, "undeployed", 50);
    json_t *all = s_services(ctx);
    json_t *one = json_object_get(json_object_get(all, "web-7"), "service");
    assert_true(json_is_null(json_object_get(one, "public_ip")));
    json_decref(all);
    char out[4096];
    assert_int_equal(s_list(ctx, out, sizeof out), 0);
    assert_non_null(strstr(out, "0 allocations in"));
}

/* Exactly two entries carry the exhaustion error, and neither is deployed. */
static bool s_two_exhausted(void *arg)
{
    ctx_t *ctx = arg;
    json_t *all = s_services(ctx);
    int errors = 0, others = 0;
    const char *key;
    json_t *e;
    json_object_foreach(all, key, e)
    {
        const char *err = json_string_value(json_object_get(e, "error"));
        if (!err) continue;
        if (strstr(err, "no free address in 10.32.30.2-10.32.30.5") &&
            strcmp(json_string_value(json_object_get(e, "state")), "deployed"))
            errors++;
        else
            others++;
    }
    json_decref(all);
    return errors == 2 && others == 0;
}

static void test_exhaustion_names_the_pool(void **state)
{
    ctx_t *ctx = *state;
    s_config(ctx, "    network_cidr: 10.32.30.0/29\n"
                  "    ip_start: 10.32.30.2\n"
                  "    ip_end: 10.32.30.5\n");
    s_start(ctx);
    ctx->alloc[0] = s_allocator(ctx, "ipa-1");
    s_say(ctx, "add-many small- 6\n");
    s_wait_state(ctx, "deployed", 4);
    /* The other two wait at the provider step with the error, never deployed. */
    assert_true(test_wait(s_two_exhausted, ctx, WAIT_MS));
    /* One leaves: a waiting one gets its address on the next retry. */
    s_say(ctx, "delete small-0\n");
    s_wait_state(ctx, "undeployed", 1);
    s_wait_state(ctx, "deployed", 4);
    assert_int_equal(s_check_range(ctx, NULL, "10.32.30.2", "10.32.30.5"), 4);
}

static bool s_progress(void *arg)
{
    ctx_t *ctx = arg;
    ctx->seen = s_count(ctx, "deployed");
    return ctx->seen >= ctx->want_count;
}

static void test_kill9_allocator_in_a_loop(void **state)
{
    ctx_t *ctx = *state;
    s_start(ctx);
    s_say(ctx, "add-many crash- 150\n");
    int deployed = 0;
    for (int round = 0; round < 8 && deployed < 150; round++) {
        char instance[32];
        snprintf(instance, sizeof instance, "ipa-%d", round);
        ctx->alloc[0] = s_allocator(ctx, instance);
        /* Let it make some progress, then kill it without warning. */
        ctx->want_count = deployed + 10;
        test_wait(s_progress, ctx, WAIT_MS);
        deployed = ctx->seen;
        test_stop(ctx->alloc[0], SIGKILL, 2000);
        ctx->alloc[0] = 0;
    }
    ctx->alloc[0] = s_allocator(ctx, "ipa-last");
    s_wait_state(ctx, "deployed", 150);
    zhashx_t *by_name = zhashx_new();
    zhashx_set_destructor(by_name, (zhashx_destructor_fn *)zstr_free);
    assert_int_equal(s_check_distinct(ctx, by_name), 150);
    s_check_file_agrees(ctx, by_name);
    zhashx_destroy(&by_name);
}

static void test_two_instances_one_file(void **state)
{
    ctx_t *ctx = *state;
    s_config(ctx, "    network_cidr: 10.32.30.0/24\n"
                  "    ip_start: 10.32.30.10\n"
                  "    ip_end: 10.32.30.200\n"
                  "    reserved: [10.32.30.11]\n"
                  "    credit: 4\n");
    s_start(ctx);
    ctx->alloc[0] = s_allocator(ctx, "ipa-a");
    ctx->alloc[1] = s_allocator(ctx, "ipa-b");
    s_say(ctx, "add-many pair- 180\n");
    s_wait_state(ctx, "deployed", 180);
    zhashx_t *by_name = zhashx_new();
    zhashx_set_destructor(by_name, (zhashx_destructor_fn *)zstr_free);
    assert_int_equal(s_check_distinct(ctx, by_name), 180);
    s_check_file_agrees(ctx, by_name);
    zhashx_destroy(&by_name);
    /* Both really served: each answered some of the work. */
    char url[256];
    snprintf(url, sizeof url, "%s/extensions", ctx->api);
    long status = 0;
    char *body = test_http_get(url, &status);
    json_t *exts = json_loads(body, 0, NULL);
    free(body);
    json_t *list = json_object_get(exts, "ipam.ipalloc");
    assert_int_equal(json_array_size(list), 2);
    json_int_t total = 0;
    for (size_t i = 0; i < 2; i++) {
        json_int_t results =
            json_integer_value(json_object_get(json_array_get(list, i), "results"));
        assert_true(results > 0);
        total += results;
    }
    assert_int_equal(total, 180);
    json_decref(exts);
    s_say(ctx, "delete-many pair- 180\n");
    s_wait_state(ctx, "undeployed", 180);
    char out[4096];
    assert_int_equal(s_list(ctx, out, sizeof out), 0);
    assert_non_null(strstr(out, "0 allocations in"));
}

/* A pool narrowed in the configuration keeps the allocations that now fall
 * outside it (with a warning), and hands out only addresses of the new range. */
static void test_changed_pool_keeps_allocations(void **state)
{
    ctx_t *ctx = *state;
    s_start(ctx);
    ctx->alloc[0] = s_allocator(ctx, "ipa-1");
    s_say(ctx, "add-many old- 5\n");
    s_wait_state(ctx, "deployed", 5);
    int status = test_stop(ctx->alloc[0], SIGTERM, 5000);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    s_config(ctx, "    network_cidr: 10.32.30.0/24\n"
                  "    ip_start: 10.32.30.100\n"
                  "    ip_end: 10.32.30.200\n");
    char out[8192];
    assert_int_equal(s_list(ctx, out, sizeof out), 0);
    assert_non_null(strstr(out, "5 allocations in"));
    assert_non_null(strstr(out, "outside the pool"));
    assert_non_null(strstr(out, "10.32.30.10 "));
    ctx->alloc[0] = s_allocator(ctx, "ipa-2");
    s_say(ctx, "add new-0\n");
    s_wait_state(ctx, "deployed", 6);
    json_t *all = s_services(ctx);
    const char *ip = json_string_value(
        json_object_get(json_object_get(json_object_get(all, "new-0"), "service"), "public_ip"));
    assert_non_null(ip);
    assert_string_equal(ip, "10.32.30.100");
    json_decref(all);
    /* An old one leaves: its address is released even though outside the pool. */
    s_say(ctx, "delete old-0\n");
    s_wait_state(ctx, "undeployed", 1);
    assert_int_equal(s_list(ctx, out, sizeof out), 0);
    assert_non_null(strstr(out, "5 allocations in"));
}

static void test_bad_configuration_refused(void **state)
{
    ctx_t *ctx = *state;
    static const struct {
        const char *yaml, *expect;
    } cases[] = {
        {"    network_cidr: 10.32.300.0/24\n", "network_cidr"},
        {"    network_cidr: 10.32.30.0/33\n", "network_cidr"},
        {"    network_cidr: 10.32.30.0/24\n    ip_start: 10.32.30.200\n    ip_end: 10.32.30.10\n",
         "ip_start"},
        {"    network_cidr: 10.32.30.0/24\n    ip_start: 10.32.31.5\n", "10.32.31.5"},
        {"    network_cidr: 10.32.30.0/24\n    reserved: [nope]\n", "reserved"},
        {"    network_cidr: 10.32.30.0/24\n    colour: blue\n", "ipam.ipalloc.colour"},
        {"    ip_start: 10.32.30.1\n", "network_cidr"},
    };
    char out[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_config(ctx, cases[i].yaml);
        assert_int_equal(s_list(ctx, out, sizeof out), 2);
        if (!strstr(out, cases[i].expect))
            fail_msg("case %zu: '%s' not in: %s", i, cases[i].expect, out);
        /* --check-config finds the same, without touching the allocation file. */
        assert_int_equal(s_run_option(ctx, "--check-config", out, sizeof out), 2);
        if (!strstr(out, cases[i].expect) || !strstr(out, ctx->config))
            fail_msg("case %zu: --check-config: '%s' or the path not in: %s", i, cases[i].expect,
                     out);
    }
    s_config(ctx, "    network_cidr: 10.32.30.0/24\n");
    assert_int_equal(s_run_option(ctx, "--check-config", out, sizeof out), 0);
    assert_non_null(strstr(out, "configuration OK"));
    char never[700];
    snprintf(never, sizeof never, "%s/var", ctx->dir);
    assert_int_equal(access(never, F_OK), -1); /* no allocation file (nor its folder) made */
    /* A corrupt allocation file is refused with its path, and left as it is. */
    s_config(ctx, "    network_cidr: 10.32.30.0/24\n");
    char var[600], db[700];
    snprintf(var, sizeof var, "%s/var", ctx->dir);
    snprintf(db, sizeof db, "%s/ipalloc.db", var);
    assert_int_equal(mkdir(var, 0755), 0);
    assert_int_equal(test_write_file(db, "garbage\nmore garbage\n"), 0);
    assert_int_equal(s_list(ctx, out, sizeof out), 2);
    assert_non_null(strstr(out, db));
    char text[64] = "";
    FILE *f = fopen(db, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    assert_string_equal(text, "garbage\nmore garbage\n");
}

/* interlook-ipalloc started on its db file cut short (half of it gone at a
 * line boundary, or exactly after a commit's group) exits at once with
 * status 2 and a message naming the file and the cut, and leaves the file as
 * it is; the whole file starts. Without the check it would start with fewer
 * allocations and hand out addresses deployed services hold. */
static void test_truncated_db_refused(void **state)
{
    ctx_t *ctx = *state;
    s_start(ctx);
    ctx->alloc[0] = s_allocator(ctx, "ipa-cut");
    for (int round = 0; round < 4; round++) { /* several commits */
        char line[64];
        snprintf(line, sizeof line, "add-many r%d- 10\n", round);
        s_say(ctx, line);
        s_wait_state(ctx, "deployed", 10 * (round + 1));
    }
    assert_int_equal(WEXITSTATUS(test_stop(ctx->alloc[0], SIGTERM, 5000)), 0);
    ctx->alloc[0] = 0;
    char db[600], out[600], copy[600];
    snprintf(db, sizeof db, "%s/var/ipalloc.db", ctx->dir);
    snprintf(out, sizeof out, "%s/ipalloc-cut.out", ctx->dir);
    snprintf(copy, sizeof copy, "%s/ipalloc.db.full", ctx->dir);
    assert_int_equal(test_sh("cp '%s' '%s'", db, copy), 0);
    char *full = test_sh_output("cat '%s'", copy);
    assert_non_null(full);
    size_t size = strlen(full) + 1; /* test_sh_output took the last newline */
    size_t half = size / 2;
    while (full[half - 1] != '\n')
        half--;
    size_t cuts[] = {half, 0};
    for (size_t i = 0; i < 2; i++) {
        if (i == 1) { /* just after the first commit's group */
            const char *group = strstr(full, "\nC ");
            assert_non_null(group);
            cuts[1] = (size_t)(strchr(group + 1, '\n') + 1 - full);
        }
        assert_int_equal(test_sh("head -c %zu '%s' > '%s'", cuts[i], copy, db), 0);
        int status = test_sh("timeout 20 %s -c '%s' >'%s' 2>&1", test_bin("interlook-ipalloc"),
                             ctx->config, out);
        char *text = test_sh_output("cat '%s'", out);
        assert_non_null(text);
        if (status != 2 || !strstr(text, db) || !strstr(text, "the file was cut short") ||
            !strstr(text, "but the last commit was group"))
            fail_msg("cut at %zu of %zu: exit %d, output: %s", cuts[i], size, status, text);
        free(text);
        char *now = test_sh_output("wc -c < '%s'", db);
        assert_non_null(now);
        assert_int_equal(strtoull(now, NULL, 10), cuts[i]); /* left as it was */
        free(now);
    }
    /* The whole file starts, with every allocation. */
    assert_int_equal(test_sh("cp '%s' '%s'", copy, db), 0);
    char list[8192];
    assert_int_equal(s_list(ctx, list, sizeof list), 0);
    assert_non_null(strstr(list, "40 allocations in"));
    free(full);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_configuration_refused, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_allocate_and_release, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_exhaustion_names_the_pool, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_kill9_allocator_in_a_loop, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_two_instances_one_file, s_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_changed_pool_keeps_allocations, s_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_truncated_db_refused, s_setup, fixture_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
