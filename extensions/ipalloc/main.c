/* interlook-ipalloc: the ipam.ipalloc extension. Gives each service a virtual
 * IP from the configured pool and keeps the allocations in a local file, or
 * in etcd (ipam.ipalloc.store: etcd) where --import loads a file db. */
#include "broker/ext_cli.h"
#include "common/log.h"
#include "common/version.h"
#include "extensions/ipalloc/allocator.h"

#include <stdio.h>

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: interlook-ipalloc -c FILE [--list | --import DB] [options]\n"
            "The IP allocator (ipam.ipalloc): a virtual IP per service from a pool.\n\n"
            "  -c, --config FILE    configuration file (ipam.ipalloc.*, core.bus.*)\n"
            "      --list           print the allocations (service, IP, time) and exit\n"
            "      --import DB      load the file db DB into etcd (store etcd) and exit;\n"
            "                       idempotent; conflicts are reported, not overwritten\n"
            "  -n, --name NAME      extension name (default ipam.ipalloc)\n"
            "  -i, --instance ID    instance id (default host-pid-random)\n"
            "      --router EP      core ROUTER endpoint (default %s)\n"
            "      --publish EP     core PUB endpoint (default %s)\n"
            "      --cert FILE      its CURVE certificate (FILE_secret beside it)\n"
            "      --check-config   validate the configuration and exit\n"
            "  -l, --log-level LVL  debug|info|warn|error (default: ipam.ipalloc.logLevel)\n"
            "  -h, --help, -V, --version\n\n"
            "Exit status: 0 stopped by a signal (or listed, imported), 1 runtime failure\n"
            "(or entries not imported),\n"
            "2 bad usage, configuration or allocation file.\n",
            IL_BUS_DEFAULT_ROUTER, IL_BUS_DEFAULT_PUBLISH);
}

static int s_on_own(void *arg, int value, const char *optarg)
{
    (void)value;
    *(const char **)arg = optarg;
    return 0;
}

int main(int argc, char *argv[])
{
    int list = 0;
    const char *import = NULL;
    const struct option own[] = {{"list", no_argument, &list, 1},
                                 {"import", required_argument, NULL, IL_EXT_CLI_OWN},
                                 {NULL, 0, NULL, 0}};
    const il_ext_cli_spec_t spec = {.prog = "interlook-ipalloc",
                                    .name = "ipam.ipalloc",
                                    .usage = s_usage,
                                    .own = own,
                                    .on_own = s_on_own,
                                    .arg = &import,
                                    .check_config = true,
                                    .needs_config = "ipam.ipalloc.network_cidr"};
    il_ext_cli_t cli;
    allocator_config_t ac = {0};
    il_log_level_t level;
    char err[1024];
    int rc = 2;
    if (il_ext_cli_parse(&cli, &spec, argc, argv, &rc) != 0) goto done;
    rc = 2;
    if (allocator_config_load(&ac, cli.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "interlook-ipalloc: %s\n", err);
        goto done;
    }
    if (il_ext_cli_log_level(&cli, spec.prog, ac.log_level, &level) != 0) goto done;
    if (cli.check) {
        if (allocator_config_check(&ac, err, sizeof err) != 0) {
            fprintf(stderr, "interlook-ipalloc: %s: %s\n", cli.path, err);
            goto done;
        }
        printf("%s: configuration OK\n", cli.path);
        rc = 0;
        goto done;
    }
    if (list && import) {
        fprintf(stderr, "interlook-ipalloc: --list and --import: one at a time\n");
        goto done;
    }
    il_log_setup("interlook-ipalloc", list || import ? IL_LOG_WARN : level, "stderr");
    zsys_init();
    ac.etcd_wait = !list && !import; /* a command fails at once; the daemon waits */
    allocator_t *allocator = allocator_new(&ac, err, sizeof err);
    if (!allocator) {
        fprintf(stderr, "interlook-ipalloc: %s\n", err);
        goto done;
    }
    if (list) {
        allocator_list(allocator, stdout);
        rc = 0;
    } else if (import) {
        rc = allocator_import(allocator, import, stdout, stderr) == 0 ? 0 : 1;
    } else {
        ilp_client_config_t cc = il_ext_cli_client(&cli, (uint32_t)ac.credit);
        rc = allocator_run(allocator, &cc) == 0 ? 0 : 1;
    }
    allocator_destroy(&allocator);
done:
    allocator_config_clear(&ac);
    il_ext_cli_clear(&cli);
    return rc;
}
