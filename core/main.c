/* interlookd: the interlook core. Parses the command line, loads the
 * configuration, runs the server until SIGINT/SIGTERM. */
#include "common/config.h"
#include "common/log.h"
#include "common/version.h"
#include "core/core_config.h"
#include "core/server.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: interlookd [-c FILE] [--check-config]\n"
            "The interlook core: runs the workflow that provisions published services.\n\n"
            "  -c, --config FILE   configuration file (YAML; default: built-in defaults)\n"
            "      --check-config  validate the configuration and exit\n"
            "      --ports-file F  once bound, write the API's and the bus's endpoints to F\n"
            "  -l, --log-level L   override core.logLevel (debug|info|warn|error)\n"
            "  -h, --help          this text\n"
            "  -V, --version       the version\n\n"
            "Environment: INTERLOOK_LISTEN, INTERLOOK_BUS_ROUTER, INTERLOOK_BUS_PUBLISH,\n"
            "INTERLOOK_BUS_CORE_CERT, INTERLOOK_BUS_CLIENT_CERTS and INTERLOOK_BUS_INSECURE\n"
            "override core.listen, core.bus.router, core.bus.publish, core.bus.curve.coreCert,\n"
            "core.bus.curve.clientCerts and core.bus.insecure; INTERLOOK_BUS_BIND_ROUTER,\n"
            "INTERLOOK_BUS_BIND_PUBLISH, INTERLOOK_CORE_STORE, INTERLOOK_CORE_ID,\n"
            "INTERLOOK_ETCD_ENDPOINTS (comma-separated) and INTERLOOK_ETCD_PREFIX override\n"
            "core.bus.bindRouter, core.bus.bindPublish, core.store, core.id,\n"
            "core.etcd.endpoints and core.etcd.prefix.\n"
            "Exit status: 0 stopped by a signal (or valid configuration), 1 runtime failure,\n"
            "2 bad usage or configuration.\n");
}

/* Writes "listen HOST:PORT", "router ENDPOINT", "publish ENDPOINT" lines,
 * the endpoints as bound (port 0 or '*' resolved), to path through a
 * temporary file and a rename, so that a reader sees all of it or nothing:
 * a test binds ports nobody else can take and learns them here. */
static int s_write_ports(const char *path, const char *listen, server_t *server)
{
    char tmp[4096], host[512] = "";
    const char *colon = strrchr(listen, ':');
    if (server_api_port(server) > 0 && colon)
        snprintf(host, sizeof host, "%.*s:%d", (int)(colon - listen), listen,
                 server_api_port(server));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fprintf(f, "listen %s\nrouter %s\npublish %s\n", *host ? host : "off",
            server_router_endpoint(server), server_publish_endpoint(server));
    if (fclose(f) != 0 || rename(tmp, path) != 0) return -1;
    return 0;
}

/* Raises the soft limit on open descriptors to the hard one: each API
 * connection and bus peer holds one, and running out is how a crowd of idle
 * clients took the core down. Says so when it cannot. */
static void s_raise_nofile(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
    if (lim.rlim_cur == lim.rlim_max) return;
    rlim_t was = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
        il_log_warn("cannot raise the open files limit from %llu to %llu: %s",
                    (unsigned long long)was, (unsigned long long)lim.rlim_max, strerror(errno));
    else
        il_log_debug("open files limit raised from %llu to %llu", (unsigned long long)was,
                     (unsigned long long)lim.rlim_max);
}

int main(int argc, char *argv[])
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"check-config", no_argument, NULL, 'k'},
                                            {"log-level", required_argument, NULL, 'l'},
                                            {"help", no_argument, NULL, 'h'},
                                            {"version", no_argument, NULL, 'V'},
                                            {"ports-file", required_argument, NULL, 'p'},
                                            {NULL, 0, NULL, 0}};
    const char *path = NULL, *level_arg = NULL, *ports_file = NULL;
    int check = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:l:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            check = 1;
            break;
        case 'l':
            level_arg = optarg;
            break;
        case 'p':
            ports_file = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        case 'V':
            printf("interlookd %s (protocol ILP1)\n", INTERLOOK_VERSION);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "interlookd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    char err[1024];
    il_config_t *cfg = path ? il_config_load(path, err, sizeof err) : il_config_new_empty();
    if (!cfg) {
        fprintf(stderr, "interlookd: %s\n", err);
        return 2;
    }
    core_config_t core;
    if (core_config_load(&core, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "interlookd: %s\n", err);
        core_config_clear(&core);
        il_config_destroy(&cfg);
        return 2;
    }
    if (level_arg && il_log_level_parse(level_arg, &core.log_level) != 0) {
        fprintf(stderr, "interlookd: --log-level: '%s' (use debug|info|warn|error)\n", level_arg);
        core_config_clear(&core);
        il_config_destroy(&cfg);
        return 2;
    }
    if (check) {
        printf("%s: configuration OK\nworkflow: ", path ? path : "(defaults)");
        for (int i = 0; i < core.nsteps; i++)
            printf("%s%s", i ? "," : "", core.steps[i]);
        printf("\n");
        if (core.store == CORE_STORE_ETCD) {
            printf("store: etcd, prefix %s, lease TTL %llds, id %s, endpoints ", core.etcd.prefix,
                   (long long)core.etcd.lease_ttl_s, core.id);
            for (size_t i = 0; i < core.etcd.nendpoints; i++)
                printf("%s%s", i ? "," : "", core.etcd.endpoints[i]);
            printf("\n");
        } else {
            printf("store: file %s\n", core.entries_file);
        }
        core_config_clear(&core);
        il_config_destroy(&cfg);
        return 0;
    }
    if (il_log_setup("interlookd", core.log_level, core.log_file) != 0) {
        fprintf(stderr, "interlookd: core.logFile: cannot open '%s'\n", core.log_file);
        core_config_clear(&core);
        il_config_destroy(&cfg);
        return 2;
    }
    s_raise_nofile();
    zsys_init();
    il_log_info("interlookd %s starting (config %s)", INTERLOOK_VERSION, path ? path : "defaults");
    server_t *server = server_new(&core, err, sizeof err);
    int rc = 1;
    if (!server) {
        il_log_error("cannot start: %s", err);
    } else if (ports_file && s_write_ports(ports_file, core.listen, server) != 0) {
        il_log_error("cannot write --ports-file %s: %s", ports_file, strerror(errno));
        server_destroy(&server);
    } else {
        rc = server_run(server) == 0 ? 0 : 1;
        server_destroy(&server);
        il_log_info("interlookd stopped");
    }
    il_log_close();
    core_config_clear(&core);
    il_config_destroy(&cfg);
    return rc;
}
