/* interlook-ipalloc: the ipam.ipalloc extension. Gives each service a virtual
 * IP from the configured pool and keeps the allocations in a local file. */
#include "broker/bus_config.h"
#include "common/log.h"
#include "common/version.h"
#include "extensions/ipalloc/allocator.h"

#include <getopt.h>
#include <stdio.h>

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: interlook-ipalloc -c FILE [--list] [options]\n"
            "The IP allocator (ipam.ipalloc): a virtual IP per service from a pool.\n\n"
            "  -c, --config FILE    configuration file (ipam.ipalloc.*, core.bus.*)\n"
            "      --list           print the allocations (service, IP, time) and exit\n"
            "  -n, --name NAME      extension name (default ipam.ipalloc)\n"
            "  -i, --instance ID    instance id (default host-pid-random)\n"
            "      --router EP      core ROUTER endpoint (default %s)\n"
            "      --publish EP     core PUB endpoint (default %s)\n"
            "      --check-config   validate the configuration and exit\n"
            "  -l, --log-level LVL  debug|info|warn|error (default: ipam.ipalloc.logLevel)\n"
            "  -h, --help, -V, --version\n\n"
            "Exit status: 0 stopped by a signal (or listed), 1 runtime failure,\n"
            "2 bad usage, configuration or allocation file.\n",
            BUS_DEFAULT_ROUTER, BUS_DEFAULT_PUBLISH);
}

int main(int argc, char *argv[])
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"list", no_argument, NULL, 'L'},
                                            {"name", required_argument, NULL, 'n'},
                                            {"instance", required_argument, NULL, 'i'},
                                            {"router", required_argument, NULL, 'R'},
                                            {"publish", required_argument, NULL, 'P'},
                                            {"log-level", required_argument, NULL, 'l'},
                                            {"check-config", no_argument, NULL, 'k'},
                                            {"help", no_argument, NULL, 'h'},
                                            {"version", no_argument, NULL, 'V'},
                                            {NULL, 0, NULL, 0}};
    const char *path = NULL, *name = "ipam.ipalloc", *instance = NULL, *router = NULL;
    const char *publish = NULL, *level_arg = NULL;
    int list = 0, check = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:n:i:l:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'L':
            list = 1;
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
            printf("interlook-ipalloc %s\n", INTERLOOK_VERSION);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !path) {
        fprintf(stderr, "interlook-ipalloc: %s\n",
                path ? "unexpected argument" : "-c FILE is required (ipam.ipalloc.network_cidr)");
        return 2;
    }
    char err[1024];
    config_t *cfg = config_load(path, err, sizeof err);
    allocator_config_t ac = {0};
    bus_config_t bus;
    log_level_t level = LOG_LEVEL_INFO;
    int rc = 2;
    if (!cfg || allocator_config_load(&ac, cfg, err, sizeof err) != 0 ||
        bus_config_load(&bus, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "interlook-ipalloc: %s\n", err);
        goto done;
    }
    if (log_level_parse(level_arg ? level_arg : ac.log_level, &level) != 0) {
        fprintf(stderr, "interlook-ipalloc: log level '%s' (use debug|info|warn|error)\n",
                level_arg ? level_arg : ac.log_level);
        goto done;
    }
    if (check) {
        if (allocator_config_check(&ac, err, sizeof err) != 0) {
            fprintf(stderr, "interlook-ipalloc: %s: ipam.ipalloc.%s\n", path, err);
            goto done;
        }
        printf("%s: configuration OK\n", path ? path : "(defaults)");
        rc = 0;
        goto done;
    }
    log_setup("interlook-ipalloc", list ? LOG_LEVEL_WARN : level, "stderr");
    zsys_init();
    allocator_t *allocator = allocator_new(&ac, err, sizeof err);
    if (!allocator) {
        fprintf(stderr, "interlook-ipalloc: %s\n", err);
        goto done;
    }
    if (list) {
        allocator_list(allocator, stdout);
        rc = 0;
    } else {
        ilp_client_config_t cc =
            bus_config_client(&bus, name, instance, (uint32_t)ac.credit, router, publish);
        rc = allocator_run(allocator, &cc) == 0 ? 0 : 1;
    }
    allocator_destroy(&allocator);
done:
    allocator_config_clear(&ac);
    config_destroy(&cfg);
    return rc;
}
