/* interlook-docker: the provider.docker extension. Watches a Docker Engine
 * (containers, or Swarm services) for services labelled for publishing and
 * reports them to the core. Talks to the Engine API with GET requests only. */
#include "broker/bus_config.h"
#include "common/log.h"
#include "common/version.h"
#include "extensions/docker/provider.h"

#include <getopt.h>
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
            "      --check-config   validate the configuration and exit\n"
            "  -l, --log-level LVL  debug|info|warn|error (default: provider.docker.logLevel)\n"
            "  -h, --help, -V, --version\n\n"
            "Environment: DOCKER_HOST is the default endpoint when provider.docker.endpoint is\n"
            "not set. Exit status: 0 stopped by a signal, 1 runtime failure, 2 bad usage or\n"
            "configuration.\n",
            BUS_DEFAULT_ROUTER, BUS_DEFAULT_PUBLISH);
}

int main(int argc, char *argv[])
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},   {"name", required_argument, NULL, 'n'},
        {"instance", required_argument, NULL, 'i'}, {"router", required_argument, NULL, 'R'},
        {"publish", required_argument, NULL, 'P'},  {"log-level", required_argument, NULL, 'l'},
        {"check-config", no_argument, NULL, 'k'},   {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},        {NULL, 0, NULL, 0}};
    const char *path = NULL, *name = "provider.docker", *instance = NULL, *router = NULL;
    const char *publish = NULL, *level_arg = NULL;
    int check = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:n:i:l:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'i':
            instance = optarg;
            break;
        case 'R':
            router = optarg;
            break;
        case 'P':
            publish = optarg;
            break;
        case 'l':
            level_arg = optarg;
            break;
        case 'k':
            check = 1;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        case 'V':
            printf("interlook-docker %s\n", INTERLOOK_VERSION);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "interlook-docker: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    char err[1024];
    config_t *cfg = path ? config_load(path, err, sizeof err) : config_new_empty();
    provider_config_t pc = {0};
    bus_config_t bus;
    log_level_t level = LOG_LEVEL_INFO;
    int rc = 2;
    if (!cfg || provider_config_load(&pc, cfg, err, sizeof err) != 0 ||
        bus_config_load(&bus, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "interlook-docker: %s\n", err);
        goto done;
    }
    if (log_level_parse(level_arg ? level_arg : pc.log_level, &level) != 0) {
        fprintf(stderr, "interlook-docker: log level '%s' (use debug|info|warn|error)\n",
                level_arg ? level_arg : pc.log_level);
        goto done;
    }
    if (check) {
        printf("%s: configuration OK\n", path ? path : "(defaults)");
        rc = 0;
        goto done;
    }
    log_setup("interlook-docker", level, "stderr");
    zsys_init();
    ilp_client_config_t cc = bus_config_client(&bus, name, instance, 1, router, publish);
    provider_t *provider = provider_new(&pc, &cc, err, sizeof err);
    if (!provider) {
        fprintf(stderr, "interlook-docker: %s\n", err);
        goto done;
    }
    rc = provider_run(provider) == 0 ? 0 : 1;
    provider_destroy(&provider);
done:
    provider_config_clear(&pc);
    config_destroy(&cfg);
    return rc;
}
