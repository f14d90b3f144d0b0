/* interlookctl: the command-line client of interlookd. It reads the core's
 * HTTP API (services, one service, extensions, workflow) and prints tables or
 * the API's JSON, and follows the core's "changes" publications (watch).
 *
 *   interlookctl [-c FILE] [--api URL] [--token-file F] [--cacert F] [--json]
 *                services | service NAME |
 *                extensions | workflow
 *   interlookctl [-c FILE] [--publish EP] [--json] watch
 *
 * The API address is --api, else $INTERLOOK_API, else core.listen as the core
 * reads it (core/listen_addr.h: -c FILE, then $INTERLOOK_LISTEN, else its
 * default), https:// when the file sets core.apiTlsCert; the token is
 * --token-file, else core.apiTokenFile of the file; the publish endpoint is --publish, else
 * core.bus.publish as the extensions read it (-c FILE, then $INTERLOOK_BUS_PUBLISH, else its
 * default). */
#include "broker/bus_config.h"
#include "common/config.h"
#include "common/version.h"
#include "core/ctl/ctl_api.h"
#include "core/ctl/ctl_cmd.h"
#include "core/ctl/ctl_keygen.h"
#include "core/ctl/ctl_watch.h"
#include "core/listen_addr.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: interlookctl [options] COMMAND\n"
            "The command-line client of interlookd.\n\n"
            "Commands:\n"
            "  services            every service: state, expected state, public IP, targets,\n"
            "                      error, age (since detected), sorted by name\n"
            "  service NAME        every field of one service\n"
            "  extensions          the live instances of each extension of the workflow\n"
            "  workflow            the workflow's steps\n"
            "  watch               one line per change of a service, until SIGINT/SIGTERM\n"
            "  keygen FILE [--extensions LIST] [--force]\n"
            "                      a CURVE key pair for the bus: FILE (public) and FILE_secret\n"
            "                      (0600); LIST: the names it may register as (a,dns.*)\n\n"
            "Options:\n"
            "  -c, --config FILE   the stack's configuration file (core.listen,\n"
            "                      core.bus.publish)\n"
            "  -a, --api URL       the core's HTTP API (default %s;\n"
            "                      else $INTERLOOK_API, else core.listen of FILE or\n"
            "                      $INTERLOOK_LISTEN, '*' and 0.0.0.0 meaning 127.0.0.1;\n"
            "                      https:// when FILE sets core.apiTlsCert)\n"
            "  -t, --token-file F  a file holding the API's bearer token (default:\n"
            "                      core.apiTokenFile of FILE, when set)\n"
            "      --cacert F      trust the CA certificate(s) in F (PEM) for an https API,\n"
            "                      e.g. the core's self-signed core.apiTlsCert\n"
            "  -p, --publish EP    the core's PUB endpoint, for watch (default\n"
            "                      %s; else core.bus.publish of FILE or\n"
            "                      $INTERLOOK_BUS_PUBLISH)\n"
            "  -C, --cert FILE     watch: our CURVE certificate (FILE_secret beside it), when\n"
            "                      core.bus.curve is set\n"
            "  -j, --json          print the API's JSON (indented); watch: one compact object\n"
            "                      per change {time, name, state, expected_state, error,\n"
            "                      public_ip, port, targets}\n"
            "  -h, --help          this text\n"
            "  -V, --version       the version\n\n"
            "Exit status: 0 success (watch: stopped by SIGINT/SIGTERM), 1 runtime failure\n"
            "(core unreachable, no such service, an invalid answer), 2 bad usage or\n"
            "configuration.\n",
            "http://" LISTEN_ADDR_DEFAULT, IL_BUS_DEFAULT_PUBLISH);
}

static void s_short_usage(void)
{
    fprintf(stderr, "usage: interlookctl [-c FILE] [--api URL] [--token-file F] [--cacert F]\n"
                    "                    [--publish EP] [--json]\n"
                    "                    services | service NAME | extensions | workflow | watch\n"
                    "(interlookctl --help tells more)\n");
}

/* Checks an --api / $INTERLOOK_API URL and copies it without trailing '/'.
 * Returns -1 when it is not an http:// or https:// URL. */
static int s_api_url(const char *url, char *out, size_t outlen)
{
    const char *rest = !strncmp(url, "http://", 7)    ? url + 7
                       : !strncmp(url, "https://", 8) ? url + 8
                                                      : NULL;
    if (!rest || !*rest || *rest == '/' || strlen(url) >= outlen) return -1;
    snprintf(out, outlen, "%s", url);
    size_t n = strlen(out);
    while (n > (size_t)(rest - url) && out[n - 1] == '/')
        out[--n] = 0;
    return 0;
}

/* A wildcard endpoint where a core binds ("tcp://" then "*:PORT" or "0.0.0.0:PORT") as one
 * to connect to. */
static void s_publish_endpoint(const char *endpoint, char *out, size_t outlen)
{
    if (!strncmp(endpoint, "tcp://*:", 8))
        snprintf(out, outlen, "tcp://127.0.0.1:%s", endpoint + 8);
    else if (!strncmp(endpoint, "tcp://0.0.0.0:", 14))
        snprintf(out, outlen, "tcp://127.0.0.1:%s", endpoint + 14);
    else
        snprintf(out, outlen, "%s", endpoint);
}

/* Says what is wrong with the command line, then the usage; returns 2. */
static int s_bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, "interlookctl: %s%s%s%s\n", what, arg ? " '" : "", arg ? arg : "",
            arg ? "'" : "");
    s_short_usage();
    return 2;
}

int main(int argc, char *argv[])
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},  {"api", required_argument, NULL, 'a'},
        {"publish", required_argument, NULL, 'p'}, {"token-file", required_argument, NULL, 't'},
        {"cacert", required_argument, NULL, 'A'},  {"json", no_argument, NULL, 'j'},
        {"cert", required_argument, NULL, 'C'},    {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0}};
    const char *path = NULL, *api_arg = NULL, *publish_arg = NULL, *token_arg = NULL,
               *cacert = NULL, *cert = NULL;
    bool json = false;
    int opt;
    /* keygen takes options of its own and no global one. */
    if (argc > 1 && !strcmp(argv[1], "keygen")) return ctl_keygen_run(argc - 1, argv + 1);
    while ((opt = getopt_long(argc, argv, "c:a:p:t:C:jhV", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'a':
            api_arg = optarg;
            break;
        case 'p':
            publish_arg = optarg;
            break;
        case 't':
            token_arg = optarg;
            break;
        case 'A': /* --cacert: long only (-C is --cert) */
            cacert = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'C':
            cert = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        case 'V':
            printf("interlookctl %s\n", INTERLOOK_VERSION);
            return 0;
        default:
            s_short_usage();
            return 2;
        }
    }
    if (optind >= argc) return s_bad_usage("no command given", NULL);
    const char *command = argv[optind];
    if (!strcmp(command, "keygen")) return ctl_keygen_run(argc - optind, argv + optind);
    int nargs = argc - optind - 1;
    static const char *const commands[] = {"services", "service", "extensions", "workflow",
                                           "watch",    "keygen",  NULL};
    const char *const *known = commands;
    while (*known && strcmp(*known, command))
        known++;
    if (!*known) return s_bad_usage("unknown command", command);
    bool is_service = !strcmp(command, "service");
    if (is_service && (nargs != 1 || !*argv[optind + 1]))
        return s_bad_usage("service: give one service name", NULL);
    if (!is_service && nargs > 0) return s_bad_usage("unexpected argument", argv[optind + 1]);

    /* Where the core is: options, environment, configuration file. */
    char err[512], api[1024], publish[1024];
    il_config_t *cfg = path ? il_config_load(path, err, sizeof err) : il_config_new_empty();
    if (!cfg) {
        fprintf(stderr, "interlookctl: %s\n", err);
        return 2;
    }
    il_bus_config_t bus;
    const char *listen = NULL, *token_file = NULL, *tls_cert = NULL;
    bool listen_env = false;
    int bad = il_bus_config_load(&bus, cfg, err, sizeof err) != 0 ||
              listen_addr_load(cfg, &listen, &listen_env, err, sizeof err) != 0;
    if (!bad && (il_config_string(cfg, "core.apiTokenFile", NULL, &token_file) != 0 ||
                 il_config_string(cfg, "core.apiTlsCert", NULL, &tls_cert) != 0)) {
        snprintf(err, sizeof err, "%s", il_config_error(cfg));
        bad = 1;
    }
    if (bad) {
        fprintf(stderr, "interlookctl: %s\n", err);
        il_config_destroy(&cfg);
        return 2;
    }
    const char *env_api = getenv("INTERLOOK_API");
    bool watch = !strcmp(command, "watch");
    int rc = 0;
    if (watch) {
        s_publish_endpoint(publish_arg ? publish_arg : bus.publish, publish, sizeof publish);
    } else if (api_arg || (env_api && *env_api)) {
        const char *url = api_arg ? api_arg : env_api;
        if (s_api_url(url, api, sizeof api) != 0) {
            fprintf(stderr, "interlookctl: %s: '%s' is not an http:// or https:// URL\n",
                    api_arg ? "--api" : "INTERLOOK_API", url);
            rc = 2;
        }
    } else if (listen_addr_url(listen, api, sizeof api, err, sizeof err) != 0) {
        if (listen_env)
            fprintf(stderr, "interlookctl: %s: %s; give --api\n", LISTEN_ADDR_ENV, err);
        else if (path)
            fprintf(stderr, "interlookctl: %s:%d: core.listen: %s; give --api\n", path,
                    il_config_line(cfg, "core.listen"), err);
        else
            fprintf(stderr, "interlookctl: core.listen: %s; give --api\n", err);
        rc = 2;
    } else if (tls_cert && *tls_cert && !strncmp(api, "http://", 7)) {
        size_t n = strlen(api);
        if (n + 1 < sizeof api) { /* "http://x" -> "https://x" */
            memmove(api + 5, api + 4, n - 3);
            api[4] = 's';
        }
    }
    char *token = NULL;
    if (!rc && !watch && (token_arg || (token_file && *token_file))) {
        token = ctl_api_read_token(token_arg ? token_arg : token_file, err, sizeof err);
        if (!token) {
            fprintf(stderr, "interlookctl: %s: %s\n",
                    token_arg ? "--token-file" : "core.apiTokenFile", err);
            rc = 2;
        }
    }
    char core_cert[4096] = "";
    if (bus.core_cert) snprintf(core_cert, sizeof core_cert, "%s", bus.core_cert);
    il_config_destroy(&cfg);
    if (rc) return rc;

    if (watch) return ctl_watch_run(publish, json, *core_cert ? core_cert : NULL, cert);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "interlookctl: cannot initialise libcurl\n");
        return 1;
    }
    ctl_cmd_options_t cmd = {.api = api, .json = json, .token = token, .cacert = cacert};
    if (!strcmp(command, "services"))
        rc = ctl_cmd_services(&cmd);
    else if (is_service)
        rc = ctl_cmd_service(&cmd, argv[optind + 1]);
    else if (!strcmp(command, "extensions"))
        rc = ctl_cmd_extensions(&cmd);
    else
        rc = ctl_cmd_workflow(&cmd);
    curl_global_cleanup();
    if (token) explicit_bzero(token, strlen(token));
    free(token);
    return rc;
}
