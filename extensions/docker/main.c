/* interlook-docker: the provider.docker extension. Watches a Docker Engine
 * (containers, or Swarm services) for services labelled for publishing and
 * reports them to the core. Talks to the Engine API with GET requests only. */
#include "broker/ext_cli.h"
#include "common/log.h"
#include "common/version.h"
#include "extensions/docker/provider.h"

#include <stdio.h>

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: interlook-docker [-c FILE] [options]\n"
            "The Docker provider (provider.docker): reports labelled containers or Swarm\n"
            "services to the interlook core.\n\n"
            "  -c, --config FILE    configuration file (provider.docker.*, core.bus.*)\n"
            "  -n, --name NAME      extension name (default provider.docker)\n"
            "  -i, --instance ID    instance id (default host-pid-random)\n"
            "      --router EP      core ROUTER endpoint (default %s)\n"
            "      --publish EP     core PUB endpoint (default %s)\n"
            "      --cert FILE      its CURVE certificate (FILE_secret beside it)\n"
            "      --check-config   validate the configuration and exit\n"
            "  -l, --log-level LVL  debug|info|warn|error (default: provider.docker.logLevel)\n"
            "  -h, --help, -V, --version\n\n"
            "Environment: DOCKER_HOST is the default endpoint when provider.docker.endpoint is\n"
            "not set. Exit status: 0 stopped by a signal, 1 runtime failure, 2 bad usage or\n"
            "configuration.\n",
            IL_BUS_DEFAULT_ROUTER, IL_BUS_DEFAULT_PUBLISH);
}

int main(int argc, char *argv[])
{
    const il_ext_cli_spec_t spec = {.prog = "interlook-docker",
                                    .name = "provider.docker",
                                    .usage = s_usage,
                                    .check_config = true};
    il_ext_cli_t cli;
    provider_config_t pc = {0};
    il_log_level_t level;
    char err[1024];
    int rc = 2;
    if (il_ext_cli_parse(&cli, &spec, argc, argv, &rc) != 0) goto done;
    rc = 2;
    if (provider_config_load(&pc, cli.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "interlook-docker: %s\n", err);
        goto done;
    }
    if (il_ext_cli_log_level(&cli, spec.prog, pc.log_level, &level) != 0) goto done;
    if (cli.check) {
        printf("%s: configuration OK\n", cli.path ? cli.path : "(defaults)");
        rc = 0;
        goto done;
    }
    il_log_setup("interlook-docker", level, "stderr");
    zsys_init();
    ilp_client_config_t cc = il_ext_cli_client(&cli, 1);
    provider_t *provider = provider_new(&pc, &cc, err, sizeof err);
    if (!provider) {
        fprintf(stderr, "interlook-docker: %s\n", err);
        goto done;
    }
    rc = provider_run(provider) == 0 ? 0 : 1;
    provider_destroy(&provider);
done:
    provider_config_clear(&pc);
    il_ext_cli_clear(&cli);
    return rc;
}
