/* interlook-echo: a no-op provisioner. It answers every WORK with the service
 * it was given, optionally after a delay; it is the example extension of the
 * SDK and the peer of the bus tests.
 *
 * Configuration (all optional), in the stack's YAML file:
 *   provisioner:
 *     echo: { name: provisioner.echo, credit: 10, delay: 0ms }
 * Command-line options override the file. */
#include "broker/bus_config.h"
#include "broker/ilp_client.h"
#include "common/config.h"
#include "common/log.h"
#include "common/version.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ilp_client_t *client;
    int64_t delay_ms;
    zlistx_t *held; /* s_held_t* answered when their timer fires */
} echo_t;

typedef struct {
    echo_t *echo;
    char *id;
    service_t *service;
    void *handle; /* in echo->held */
} s_held_t;

static void s_held_free(s_held_t **held_p)
{
    s_held_t *held = *held_p;
    if (!held) return;
    free(held->id);
    service_destroy(&held->service);
    free(held);
    *held_p = NULL;
}

static int s_on_delay(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    s_held_t *held = arg;
    echo_t *echo = held->echo;
    ilp_client_reply(echo->client, held->id, NULL, held->service);
    zlistx_delete(echo->held, held->handle); /* frees held */
    return 0;
}

static void s_on_work(ilp_client_t *client, ilp_msg_t *work, void *arg)
{
    echo_t *echo = arg;
    log_debug("echo: WORK %s %s %s (attempt %u)", work->id, ilp_action_name(work->action),
              work->service->name, work->attempt);
    if (echo->delay_ms <= 0) {
        ilp_client_reply(client, work->id, NULL, work->service);
        return;
    }
    s_held_t *held = calloc(1, sizeof *held);
    held->echo = echo;
    held->id = strdup(work->id);
    held->service = work->service;
    work->service = NULL;
    held->handle = zlistx_add_end(echo->held, held);
    zloop_timer(ilp_client_loop(client), (size_t)echo->delay_ms, 1, s_on_delay, held);
}

static void s_usage(FILE *out)
{
    fprintf(
        out,
        "usage: interlook-echo [-c FILE] [options]\n"
        "A no-op provisioner: answers every WORK with the service it got.\n\n"
        "  -c, --config FILE     configuration file (core.bus.*, provisioner.echo.*)\n"
        "  -n, --name NAME       extension name (default provisioner.echo)\n"
        "  -i, --instance ID     instance id (default host-pid-random)\n"
        "      --credit N        work items at once (default 10)\n"
        "      --delay DURATION  hold each item this long before answering (default 0)\n"
        "      --router EP       core ROUTER endpoint (default %s)\n"
        "      --publish EP      core PUB endpoint (default %s)\n"
        "  -l, --log-level LVL   debug|info|warn|error (default info)\n"
        "  -h, --help            this text\n"
        "  -V, --version         the version\n\n"
        "Exit status: 0 stopped by a signal, 1 runtime failure, 2 bad usage or configuration.\n",
        BUS_DEFAULT_ROUTER, BUS_DEFAULT_PUBLISH);
}

int main(int argc, char *argv[])
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"name", required_argument, NULL, 'n'},
                                            {"instance", required_argument, NULL, 'i'},
                                            {"credit", required_argument, NULL, 'C'},
                                            {"delay", required_argument, NULL, 'D'},
                                            {"router", required_argument, NULL, 'R'},
                                            {"publish", required_argument, NULL, 'P'},
                                            {"log-level", required_argument, NULL, 'l'},
                                            {"help", no_argument, NULL, 'h'},
                                            {"version", no_argument, NULL, 'V'},
                                            {NULL, 0, NULL, 0}};
    const char *path = NULL, *name = NULL, *instance = NULL, *router = NULL, *publish = NULL;
    const char *credit_arg = NULL, *delay_arg = NULL, *level_arg = NULL;
    int opt;
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
        case 'C':
            credit_arg = optarg;
            break;
        case 'D':
            delay_arg = optarg;
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
        case 'h':
            s_usage(stdout);
            return 0;
        case 'V':
            printf("interlook-echo %s\n", INTERLOOK_VERSION);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "interlook-echo: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    char err[512];
    config_t *cfg = path ? config_load(path, err, sizeof err) : config_new_empty();
    if (!cfg) {
        fprintf(stderr, "interlook-echo: %s\n", err);
        return 2;
    }
    static const char *const known[] = {"name", "credit", "delay", "logLevel", NULL};
    bus_config_t bus;
    const char *level_text = NULL, *cfg_name = NULL;
    int64_t credit = 10, delay = 0;
    log_level_t level = LOG_LEVEL_INFO;
    if (bus_config_load(&bus, cfg, err, sizeof err) != 0 ||
        ((config_check_keys(cfg, "provisioner.echo", known) ||
          config_string(cfg, "provisioner.echo.name", "provisioner.echo", &cfg_name) ||
          config_int(cfg, "provisioner.echo.credit", 10, 1, ILP_MAX_CREDIT, &credit) ||
          config_duration(cfg, "provisioner.echo.delay", 0, &delay) ||
          config_string(cfg, "provisioner.echo.logLevel", "info", &level_text)) &&
         snprintf(err, sizeof err, "%s", config_error(cfg)))) {
        fprintf(stderr, "interlook-echo: %s\n", err);
        config_destroy(&cfg);
        return 2;
    }
    if (credit_arg) {
        char *end;
        credit = strtol(credit_arg, &end, 10);
        if (*end || credit < 1 || credit > ILP_MAX_CREDIT) {
            fprintf(stderr, "interlook-echo: --credit: expected 1..%d\n", ILP_MAX_CREDIT);
            config_destroy(&cfg);
            return 2;
        }
    }
    if (delay_arg && config_parse_duration(delay_arg, &delay) != 0) {
        fprintf(stderr, "interlook-echo: --delay: '%s' is not a duration (e.g. 500ms)\n",
                delay_arg);
        config_destroy(&cfg);
        return 2;
    }
    if (level_arg) level_text = level_arg;
    if (log_level_parse(level_text, &level) != 0) {
        fprintf(stderr, "interlook-echo: log level '%s' (use debug|info|warn|error)\n", level_text);
        config_destroy(&cfg);
        return 2;
    }
    log_setup("interlook-echo", level, "stderr");

    ilp_client_config_t cc = bus_config_client(&bus, name ? name : cfg_name, instance,
                                               (uint32_t)credit, router, publish);
    echo_t echo = {.delay_ms = delay};
    echo.held = zlistx_new();
    zlistx_set_destructor(echo.held, (zlistx_destructor_fn *)s_held_free);
    ilp_client_handler_t handler = {.work = s_on_work};
    zsys_init();
    echo.client = ilp_client_new(&cc, &handler, &echo);
    config_destroy(&cfg);
    if (!echo.client) {
        zlistx_destroy(&echo.held);
        return 2;
    }
    ilp_client_run(echo.client);
    log_info("echo: stopping");
    ilp_client_destroy(&echo.client);
    zlistx_destroy(&echo.held);
    return 0;
}
