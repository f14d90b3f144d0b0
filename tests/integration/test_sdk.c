/* The SDK as an extension author gets it: `make install-sdk` into a staging
 * directory (DESTDIR), then interlook-echo's source, copied out of the tree,
 * built with nothing but the installed header, library and interlook.pc, and
 * run against a real interlookd: it registers and deploys a service. Also:
 * the library exports only il_/ilp_ names, and a build that lacks an
 * installed piece fails (so the first build cannot have used the tree). */
#include "common/version.h"
#include "tests/support/fixture.h"
#include "tests/support/testutil.h"

#include <jansson.h>
#include <libgen.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define WAIT_MS 20000
/* The final prefix; files land under DESTDIR. Not /usr/local, which the
 * compiler searches by default: only the -I and -L of interlook.pc can help. */
#define PREFIX "/opt/interlook-sdk"

/* A build under sanitizers has an instrumented libinterlook.a: the extension
 * is then built (and linked) the same way. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZE  "1"
#define SAN_FLAGS "-fsanitize=address,undefined"
#else
#define SANITIZE  ""
#define SAN_FLAGS ""
#endif

static char s_root[4096];  /* the source tree */
static char s_build[4096]; /* this build's directory, as the Makefile's BUILD */
static char *s_dir;        /* DESTDIR = s_dir/stage, the extension in s_dir/src */

/* The source tree: the nearest directory above this binary with the Makefile
 * and the SDK header. Returns 0 or -1. */
static int s_find_tree(void)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) return -1;
    self[n] = 0;
    /* BUILD/tests/integration/test_sdk -> BUILD */
    snprintf(s_build, sizeof s_build, "%s", dirname(dirname(dirname(self))));
    snprintf(s_root, sizeof s_root, "%s", s_build);
    while (strcmp(s_root, "/") != 0) {
        char probe[4200];
        snprintf(probe, sizeof probe, "%s/common/interlook.h", s_root);
        if (access(probe, R_OK) == 0) {
            snprintf(probe, sizeof probe, "%s/Makefile", s_root);
            if (access(probe, R_OK) == 0) break;
        }
        char up[4096];
        snprintf(up, sizeof up, "%s", s_root);
        snprintf(s_root, sizeof s_root, "%s", dirname(up));
    }
    if (!strcmp(s_root, "/")) return -1;
    size_t len = strlen(s_root);
    if (!strncmp(s_build, s_root, len) && s_build[len] == '/')
        memmove(s_build, s_build + len + 1, strlen(s_build + len + 1) + 1);
    return 0;
}

static int s_setup(void **state)
{
    (void)state;
    if (s_find_tree() != 0) {
        fprintf(stderr, "test_sdk: no source tree above this binary\n");
        return -1;
    }
    s_dir = test_tmpdir();
    if (!s_dir) return -1;
    /* The outer make's job server is not ours to use. */
    char *out = test_sh_output(
        "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C '%s' install-sdk "
        "BUILD='%s' SANITIZE='%s' DESTDIR='%s/stage' PREFIX=" PREFIX " 2>&1; echo \"status=$?\"",
        s_root, s_build, SANITIZE, s_dir);
    bool ok = out && strstr(out, "status=0");
    if (!ok) fprintf(stderr, "make install-sdk failed:\n%s\n", out ? out : "(no output)");
    free(out);
    return ok ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    test_sh("rm -rf '%s'", s_dir);
    free(s_dir);
    return 0;
}

/* Builds the echo source copied into stage_dir/../src with the SDK under
 * stage_dir; returns the compiler's output and "status=N". */
static char *s_build_echo(const char *stage)
{
    /* PKG_CONFIG_SYSROOT_DIR: how pkg-config reads a staged install (the .pc
     * names the final PREFIX, as it must). */
    return test_sh_output(
        "mkdir -p '%s/src' && cp '%s/extensions/echo/main.c' '%s/src/echo.c' && cd '%s/src' && "
        "flags=$(PKG_CONFIG_SYSROOT_DIR='%s' PKG_CONFIG_PATH='%s" PREFIX "/lib/pkgconfig' "
        "pkg-config --cflags --libs interlook) && echo \"flags: $flags\" && "
        "cc -Wall -Wextra -Werror " SAN_FLAGS " -o interlook-echo echo.c $flags 2>&1; "
        "echo \"status=$?\"",
        s_dir, s_root, s_dir, s_dir, stage, stage);
}

/* An extension cannot collide with a name of the SDK unless it uses the
 * prefix: every symbol the installed library defines starts il_ or ilp_. */
static void test_exports_only_prefixed_names(void **state)
{
    (void)state;
    char *names = test_sh_output("nm -g --defined-only '%s/stage" PREFIX "/lib/libinterlook.a' | "
                                 "awk 'NF == 3 { print $3 }' | sort -u",
                                 s_dir);
    assert_non_null(names);
    assert_non_null(strstr(names, "ilp_client_new")); /* nm read the library */
    char *save = NULL;
    for (char *name = strtok_r(names, "\n", &save); name; name = strtok_r(NULL, "\n", &save))
        if (strncmp(name, "il_", 3) != 0 && strncmp(name, "ilp_", 4) != 0)
            fail_msg("libinterlook.a exports '%s', without the il_/ilp_ prefix", name);
    free(names);
}

typedef struct {
    const char *api;
    const char *instance;
    long results; /* WORK answered by that instance */
} s_instance_t;

/* The instance is registered as provisioner.echo; sets its results. */
static bool s_registered(void *arg)
{
    s_instance_t *want = arg;
    json_t *exts = test_get_json(want->api, "/extensions");
    json_t *list = json_object_get(exts, "provisioner.echo");
    bool found = false;
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "instance"));
        if (id && !strcmp(id, want->instance)) {
            found = true;
            want->results = (long)json_integer_value(json_object_get(item, "results"));
        }
    }
    json_decref(exts);
    return found;
}

static bool s_deployed(void *arg)
{
    return test_entry_is(arg, "sdk-web", "deployed", 1);
}

/* The echo built against the installed SDK only says its version, registers
 * with a real core and answers its work: a service goes through
 * provider.test,provisioner.echo to deployed. */
static void test_echo_built_against_installed_sdk(void **state)
{
    (void)state;
    char stage[4200];
    snprintf(stage, sizeof stage, "%s/stage", s_dir);
    char *out = s_build_echo(stage);
    assert_non_null(out);
    if (!strstr(out, "status=0")) fail_msg("building echo against the SDK failed:\n%s", out);
    /* Nothing of the source tree was on the command line. */
    if (strstr(out, s_root)) fail_msg("the build used the source tree %s:\n%s", s_root, out);
    free(out);

    char echo[4200];
    snprintf(echo, sizeof echo, "%s/src/interlook-echo", s_dir);
    out = test_sh_output("'%s' --version 2>&1", echo);
    assert_non_null(out);
    char want[64];
    snprintf(want, sizeof want, "interlook-echo %s", INTERLOOK_VERSION);
    if (!strstr(out, want)) fail_msg("--version: expected '%s', got '%s'", want, out);
    free(out);

    fixture_opts_t opts = {.name = "test_sdk"};
    fixture_t *stack = fixture_new(&opts);
    assert_non_null(stack);
    assert_int_equal(fixture_config_write(stack,
                                          "  workflowSteps: provider.test,provisioner.echo\n"
                                          "  checkFlowInterval: 100ms\n"
                                          "  persistDelay: 20ms\n",
                                          NULL),
                     0);
    bool healthy = fixture_start_core(stack, WAIT_MS) > 0;
    const char *api = fixture_api(stack);

    char instance[64];
    snprintf(instance, sizeof instance, "sdk-echo-%d", (int)getpid());
    const char *echo_args[] = {"--instance", instance, NULL};
    pid_t ext = healthy ? fixture_spawn_ext(stack, echo, echo_args, NULL) : -1;
    s_instance_t inst = {api, instance, 0};
    bool registered = ext > 0 && test_wait(s_registered, &inst, WAIT_MS);

    const char *inject_args[] = {"--name", "provider.test", NULL};
    int inject_in = -1;
    pid_t inject =
        registered ? fixture_spawn_ext(stack, "interlook-inject", inject_args, &inject_in) : -1;
    const char *line = "add sdk-web 192.0.2.7:8080\n";
    bool said = inject > 0 && write(inject_in, line, strlen(line)) == (ssize_t)strlen(line);
    bool deployed = said && test_wait(s_deployed, (void *)api, WAIT_MS);
    bool answered = deployed && s_registered(&inst) && inst.results >= 1;

    char dir[4200];
    snprintf(dir, sizeof dir, "%s", fixture_dir(stack));
    if (!healthy || !registered || !deployed || !answered)
        test_sh("cp -a '%s' '%s/stack' 2>/dev/null", dir, s_dir); /* its logs, for the message */
    fixture_destroy(&stack);
    if (!healthy) fail_msg("interlookd did not answer /health (see %s/stack/core.log)", s_dir);
    if (!registered) fail_msg("the SDK-built echo %s never appeared in /extensions", instance);
    if (!deployed) fail_msg("sdk-web was not deployed through the SDK-built echo");
    if (!answered) fail_msg("sdk-web deployed, but %s answered no work", instance);
}

/* The same build with one installed piece removed fails: a header the
 * umbrella includes, then the library. */
static void test_build_needs_every_installed_piece(void **state)
{
    (void)state;
    static const char *const removed[] = {"include/interlook/broker/ilp_client.h",
                                          "lib/libinterlook.a"};
    static const char *const said[] = {"ilp_client.h", "-linterlook"};
    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
        char stage[4200];
        snprintf(stage, sizeof stage, "%s/stage-%zu", s_dir, i);
        assert_int_equal(test_sh("rm -rf '%s' && cp -a '%s/stage' '%s' && rm '%s" PREFIX "/%s'",
                                 stage, s_dir, stage, stage, removed[i]),
                         0);
        char *out = s_build_echo(stage);
        assert_non_null(out);
        if (strstr(out, "status=0") || !strstr(out, said[i]))
            fail_msg("without %s: expected a failure naming %s, got:\n%s", removed[i], said[i],
                     out);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exports_only_prefixed_names),
        cmocka_unit_test(test_echo_built_against_installed_sdk),
        cmocka_unit_test(test_build_needs_every_installed_piece),
    };
    return test_run_group(tests, s_setup, s_teardown);
}
