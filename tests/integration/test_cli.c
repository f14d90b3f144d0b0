/* The command lines of the extensions (interlook-echo, -ipalloc, -docker,
 * -inject): the options they share and their own, run as real processes.
 * Bad usage or configuration exits 2 with a message naming what was wrong;
 * --help and --version exit 0. No core is needed: nothing here registers. */
#include "tests/support/testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct {
    const char *bin;
    const char *args;   /* appended to the command line (shell words) */
    int status;         /* exit status expected */
    const char *expect; /* text the output (stdout + stderr) contains */
} cli_case_t;

static char *s_dir;

static int s_setup(void **state)
{
    (void)state;
    s_dir = test_tmpdir();
    if (!s_dir) return -1;
    char path[512];
    snprintf(path, sizeof path, "%s/bad.yml", s_dir);
    test_write_file(path, "core:\n  bus:\n    batch: 0\n");
    snprintf(path, sizeof path, "%s/typo.yml", s_dir);
    test_write_file(path, "provisioner:\n  echo:\n    credits: 3\n");
    snprintf(path, sizeof path, "%s/pool.yml", s_dir);
    test_write_file(path,
                    "ipam:\n  ipalloc:\n    network_cidr: 10.9.0.0/24\n    db_file: /nonexistent/"
                    "never-created.db\n");
    snprintf(path, sizeof path, "%s/level.yml", s_dir);
    test_write_file(path, "provider:\n  docker:\n    logLevel: loud\n");
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    test_sh("rm -rf '%s'", s_dir);
    free(s_dir);
    return 0;
}

/* Runs bin with args (in the test's directory for the files above). */
static void s_run(const cli_case_t *c)
{
    char *out = test_sh_output("cd '%s' && timeout 10 %s %s </dev/null 2>&1; echo \"status=$?\"",
                               s_dir, test_bin(c->bin), c->args);
    assert_non_null(out);
    char want[32];
    snprintf(want, sizeof want, "status=%d", c->status);
    if (!strstr(out, want) || !strstr(out, c->expect))
        fail_msg("%s %s: expected %s and '%s', got:\n%s", c->bin, c->args, want, c->expect, out);
    free(out);
}

static const cli_case_t s_cases[] = {
    /* What every extension takes. */
    {"interlook-echo", "--version", 0, "interlook-echo "},
    {"interlook-ipalloc", "--version", 0, "interlook-ipalloc "},
    {"interlook-docker", "-V", 0, "interlook-docker "},
    {"interlook-inject", "--version", 0, "interlook-inject "},
    {"interlook-echo", "--help", 0, "usage: interlook-echo"},
    {"interlook-ipalloc", "-h", 0, "usage: interlook-ipalloc"},
    {"interlook-docker", "--help", 0, "usage: interlook-docker"},
    {"interlook-inject", "--help", 0, "usage: interlook-inject"},
    {"interlook-echo", "--frobnicate", 2, "usage: interlook-echo"},
    {"interlook-docker", "--frobnicate", 2, "usage: interlook-docker"},
    {"interlook-ipalloc", "-c pool.yml --frobnicate", 2, "usage: interlook-ipalloc"},
    {"interlook-inject", "--frobnicate", 2, "usage: interlook-inject"},
    {"interlook-echo", "stray", 2, "interlook-echo: unexpected argument 'stray'"},
    {"interlook-docker", "stray", 2, "interlook-docker: unexpected argument 'stray'"},
    {"interlook-ipalloc", "-c pool.yml stray", 2, "interlook-ipalloc: unexpected argument 'stray'"},
    {"interlook-echo", "-c missing.yml", 2, "missing.yml"},
    {"interlook-docker", "-c missing.yml", 2, "missing.yml"},
    {"interlook-inject", "-c missing.yml add a", 2, "missing.yml"},
    {"interlook-echo", "-c bad.yml", 2, "core.bus.batch"},
    {"interlook-docker", "-c bad.yml --check-config", 2, "core.bus.batch"},
    {"interlook-inject", "-c bad.yml add a", 2, "core.bus.batch"},
    {"interlook-echo", "-l loud", 2, "interlook-echo: log level 'loud'"},
    {"interlook-docker", "-c level.yml --check-config", 2, "interlook-docker: log level 'loud'"},
    {"interlook-inject", "--log-level loud add a", 2, "interlook-inject: log level 'loud'"},
    /* Their own. */
    {"interlook-echo", "-c typo.yml", 2, "provisioner.echo.credits"},
    {"interlook-echo", "--credit 0", 2, "interlook-echo: --credit: expected 1..10000"},
    {"interlook-echo", "--delay soon", 2, "interlook-echo: --delay: 'soon' is not a duration"},
    {"interlook-ipalloc", "", 2, "interlook-ipalloc: -c FILE is required"},
    {"interlook-ipalloc", "-c pool.yml --check-config", 0, "pool.yml: configuration OK"},
    {"interlook-docker", "--check-config", 0, "(defaults): configuration OK"},
    {"interlook-inject", "frob", 2, "frob"},
    {"interlook-inject", "add a port=0", 2,
     "bad item 'port=0' (HOST:PORT, alias=NAME, port=1..65535"},
    {"interlook-inject", "add a port=65536", 2, "bad item 'port=65536'"},
    {"interlook-inject", "add a port=http", 2, "bad item 'port=http'"},
    {"interlook-inject", "add a port=", 2, "bad item 'port='"},
    {"interlook-inject", "add a port=-80", 2, "bad item 'port=-80'"},
};

static void test_command_lines(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++)
        s_run(&s_cases[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_lines),
    };
    return test_run_group(tests, s_setup, s_teardown);
}
