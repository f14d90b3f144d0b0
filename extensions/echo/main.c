/* interlook-echo: a no-op provisioner. It answers every WORK with the service
 * it was given, optionally after a delay; it is the example extension of the
 * SDK and the peer of the bus tests.
 *
 * Configuration (all optional), in the stack's YAML file:
 *   provisioner:
 *     echo: { name: provisioner.echo, credit: 10, delay: 0ms }
 * Command-line options override the file. */
#include <interlook.h>

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
    il_service_t *service;
    void *handle; /* in echo->held */
} s_held_t;

static void s_held_free(s_held_t **held_p)
{
    s_held_t *held = *held_p;
    if (!held) return;
    free(held->id);
    il_service_destroy(&held->service);
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
    il_log_debug("echo: WORK %s %s %s (attempt %u)", work->id, ilp_action_name(work->action),
                 work->service->name, work->attempt);
    if (echo->delay_ms <= 0) {
        ilp_client_reply(client, work->id, NULL, work->service);
        return;
    }
    s_held_t *held = il_calloc(1, sizeof *held); /* out of memory aborts (common/alloc.h) */
    held->echo = echo;
    held->id = il_strdup(work->id);
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
        "      --cert FILE       its CURVE certificate (FILE_secret beside it)\n"
        "  -l, --log-level LVL   debug|info|warn|error (default info)\n"
        "  -h, --help            this text\n"
        "  -V, --version         the version\n\n"
        "Exit status: 0 stopped by a signal, 1 runtime failure, 2 bad usage or configuration.\n",
        IL_BUS_DEFAULT_ROUTER, IL_BUS_DEFAULT_PUBLISH);
}

/* --credit and --delay, read once the file is (the command line wins). */
typedef struct {
    const char *credit;
    const char *delay;
} s_own_t;

static int s_on_own(void *arg, int value, const char *optarg)
{
    s_own_t *own = arg;
    if (value == IL_EXT_CLI_OWN)
        own->credit = optarg;
    else
        own->delay = optarg;
    return 0;
}

/* provisioner.echo from the file, then --credit and --delay. 0, or -1 after
 * saying why on stderr. */
static int s_settings(il_config_t *cfg, const s_own_t *own, const char **name, int64_t *credit,
                      int64_t *delay, const char **level)
{
    static const char *const known[] = {"name", "credit", "delay", "logLevel", "curveCert", NULL};
    if (il_config_check_keys(cfg, "provisioner.echo", known) ||
        il_config_string(cfg, "provisioner.echo.name", "provisioner.echo", name) ||
        il_config_int(cfg, "provisioner.echo.credit", 10, 1, ILP_MAX_CREDIT, credit) ||
        il_config_duration(cfg, "provisioner.echo.delay", 0, delay) ||
        il_config_string(cfg, "provisioner.echo.logLevel", "info", level)) {
        fprintf(stderr, "interlook-echo: %s\n", il_config_error(cfg));
        return -1;
    }
    if (own->credit) {
        char *end;
        *credit = strtol(own->credit, &end, 10);
        if (*end || *credit < 1 || *credit > ILP_MAX_CREDIT) {
            fprintf(stderr, "interlook-echo: --credit: expected 1..%d\n", ILP_MAX_CREDIT);
            return -1;
        }
    }
    if (own->delay && il_config_parse_duration(own->delay, delay) != 0) {
        fprintf(stderr, "interlook-echo: --delay: '%s' is not a duration (e.g. 500ms)\n",
                own->delay);
        return -1;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    static const struct option own_options[] = {
        {"credit", required_argument, NULL, IL_EXT_CLI_OWN},
        {"delay", required_argument, NULL, IL_EXT_CLI_OWN + 1},
        {NULL, 0, NULL, 0}};
    s_own_t own = {0};
    const il_ext_cli_spec_t spec = {.prog = "interlook-echo",
                                    .usage = s_usage,
                                    .own = own_options,
                                    .on_own = s_on_own,
                                    .arg = &own,
                                    .section = "provisioner.echo"};
    il_ext_cli_t cli;
    int status = 2;
    const char *cfg_name = NULL, *level_text = NULL;
    int64_t credit = 10, delay = 0;
    il_log_level_t level;
    if (il_ext_cli_parse(&cli, &spec, argc, argv, &status) != 0 ||
        s_settings(cli.cfg, &own, &cfg_name, &credit, &delay, &level_text) != 0 ||
        il_ext_cli_log_level(&cli, spec.prog, level_text, &level) != 0) {
        il_ext_cli_clear(&cli);
        return status;
    }
    il_log_setup("interlook-echo", level, "stderr");
    if (!cli.name) cli.name = cfg_name;
    ilp_client_config_t cc = il_ext_cli_client(&cli, (uint32_t)credit);
    echo_t echo = {.delay_ms = delay};
    echo.held = zlistx_new();
    zlistx_set_destructor(echo.held, (zlistx_destructor_fn *)s_held_free);
    ilp_client_handler_t handler = {.work = s_on_work};
    zsys_init();
    echo.client = ilp_client_new(&cc, &handler, &echo);
    if (!echo.client) {
        zlistx_destroy(&echo.held);
        il_ext_cli_clear(&cli);
        return 2;
    }
    ilp_client_run(echo.client);
    il_log_info("echo: stopping");
    ilp_client_destroy(&echo.client);
    zlistx_destroy(&echo.held);
    il_ext_cli_clear(&cli);
    return 0;
}
