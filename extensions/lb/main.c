/* interlook-lb: the lb.haproxy extension. Gives each deployed service a
 * frontend on its public_ip:port and a backend of its targets in HAProxy,
 * kept in step with every change, live: the extension owns one generated
 * file (its durable state, lb_render), reloads HAProxy through the master
 * socket only when the frontends change (once per round of work), and
 * applies target changes through the runtime API (lb_plan), draining a
 * removed server before it goes. With vipInterface set, it also puts the
 * VIP on that interface and announces it (lb_vip).
 *
 * Data flow: WORK items (this thread, the bus) -> a round -> lb_worker (its
 * thread: the wanted state decided whole, then the effects) -> the round
 * back -> one RESULT batch. Work that arrives while a round is out waits
 * for the next one: the slower HAProxy is, the bigger the rounds. */
#include <interlook.h>

#include "extensions/lb/lb_config.h"
#include "extensions/lb/lb_worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_BATCH 1000 /* work items in one round at most */

typedef struct {
    lb_config_t *config;
    ilp_client_t *client;
    lb_worker_t *worker;
    lb_item_t **batch; /* waiting for the next round */
    size_t batch_count;
    bool flush_armed;
    lb_round_t *round_out; /* with the worker, NULL when none */
} s_ext_t;

/* Hands the waiting items to the worker, unless a round is out already
 * (they go when it is back). */
static void s_flush(s_ext_t *self)
{
    if (self->round_out || self->batch_count == 0) return;
    lb_round_t *round = il_calloc(1, sizeof *round);
    size_t n = self->batch_count < S_MAX_BATCH ? self->batch_count : S_MAX_BATCH;
    round->items = il_calloc(n, sizeof *round->items);
    memcpy(round->items, self->batch, n * sizeof *round->items);
    round->count = n;
    memmove(self->batch, self->batch + n, (self->batch_count - n) * sizeof *self->batch);
    self->batch_count -= n;
    self->round_out = round;
    lb_worker_submit(self->worker, round);
}

static int s_on_flush(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    s_ext_t *self = arg;
    self->flush_armed = false;
    s_flush(self);
    return 0;
}

/* A round is back: its items answered together; the next round goes. */
static int s_on_round(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    (void)sock;
    s_ext_t *self = arg;
    lb_round_t *round = lb_worker_receive(self->worker);
    if (!round) return 0;
    self->round_out = NULL;
    ilp_client_batch_begin(self->client);
    for (size_t i = 0; i < round->count; i++) {
        lb_item_t *item = round->items[i];
        if (item->error)
            il_log_warn("lb: %s: %s", ilp_action_name(item->action), item->error);
        else
            il_log_debug("lb: %s %s: done", ilp_action_name(item->action), item->service->name);
        ilp_client_reply(self->client, item->id, item->error, item->error ? NULL : item->service);
    }
    ilp_client_batch_end(self->client);
    lb_round_free(&round);
    s_flush(self);
    return 0;
}

static void s_on_work(ilp_client_t *client, ilp_msg_t *work, void *arg)
{
    s_ext_t *self = arg;
    lb_item_t *item = il_calloc(1, sizeof *item);
    item->id = il_strdup(work->id);
    item->action = work->action;
    item->service = work->service;
    work->service = NULL;
    self->batch = il_realloc(self->batch, (self->batch_count + 1) * sizeof *self->batch);
    self->batch[self->batch_count++] = item;
    /* Everything that arrives before the loop turns goes into the same round. */
    if (!self->flush_armed) {
        self->flush_armed = true;
        zloop_timer(ilp_client_loop(client), 1, 1, s_on_flush, self);
    }
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: interlook-lb [-c FILE] [options]\n"
            "The load-balancer step (lb.haproxy): a HAProxy frontend on each "
            "service's\n"
            "public_ip:port and a backend of its targets, changed live.\n\n"
            "  -c, --config FILE    configuration file (lb.haproxy.*, core.bus.*)\n"
            "  -n, --name NAME      extension name (default lb.haproxy)\n"
            "  -i, --instance ID    instance id (default host-pid-random)\n"
            "      --router EP      core ROUTER endpoint (default %s)\n"
            "      --publish EP     core PUB endpoint (default %s)\n"
            "      --cert FILE      its CURVE certificate (FILE_secret beside it)\n"
            "      --check-config   validate the configuration and exit\n"
            "  -l, --log-level LVL  debug|info|warn|error (default: "
            "lb.haproxy.logLevel)\n"
            "  -h, --help, -V, --version\n\n"
            "Exit status: 0 stopped by a signal, 1 runtime failure, 2 bad usage or "
            "configuration.\n",
            IL_BUS_DEFAULT_ROUTER, IL_BUS_DEFAULT_PUBLISH);
}

static int s_run(s_ext_t *ext, il_ext_cli_t *cli)
{
    char err[4096];
    ext->worker = lb_worker_new(ext->config, err, sizeof err);
    if (!ext->worker) {
        il_log_error("lb: %s", err);
        return 1;
    }
    il_log_info("lb: %zu service(s) in %s; HAProxy master %s, runtime %s%s%s",
                lb_worker_size_at_start(ext->worker), ext->config->config_file,
                ext->config->master_socket, ext->config->runtime_socket,
                ext->config->vip_interface ? ", VIPs on " : "",
                ext->config->vip_interface ? ext->config->vip_interface : "");
    ilp_client_config_t cc = il_ext_cli_client(cli, (uint32_t)ext->config->credit);
    ilp_client_handler_t handler = {.work = s_on_work};
    ext->client = ilp_client_new(&cc, &handler, ext);
    if (!ext->client) return 1;
    zloop_t *loop = ilp_client_loop(ext->client);
    zloop_reader(loop, lb_worker_sock(ext->worker), s_on_round, ext);
    ilp_client_run(ext->client);
    il_log_info("lb: stopping");
    zloop_reader_end(loop, lb_worker_sock(ext->worker));
    return 0;
}

int main(int argc, char *argv[])
{
    const il_ext_cli_spec_t spec = {
        .prog = "interlook-lb", .usage = s_usage, .check_config = true, .section = "lb.haproxy"};
    il_ext_cli_t cli;
    lb_config_t config;
    memset(&config, 0, sizeof config);
    il_log_level_t level;
    char err[4096];
    int rc = 2;
    if (il_ext_cli_parse(&cli, &spec, argc, argv, &rc) != 0) goto done;
    rc = 2;
    if (lb_config_load(&config, cli.cfg, err, sizeof err) != 0) {
        for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(stderr, "interlook-lb: %s\n", line);
        goto done;
    }
    if (il_ext_cli_log_level(&cli, spec.prog, config.log_level, &level) != 0) goto done;
    if (cli.check) {
        printf("%s: configuration OK\n", cli.path ? cli.path : "(defaults)");
        rc = 0;
        goto done;
    }
    il_log_setup("interlook-lb", level, "stderr");
    if (!cli.name) cli.name = config.name;
    zsys_init();
    s_ext_t ext = {.config = &config};
    rc = s_run(&ext, &cli);
    ilp_client_destroy(&ext.client);
    lb_worker_destroy(&ext.worker); /* a round still out is the worker's to free */
    for (size_t i = 0; i < ext.batch_count; i++)
        lb_item_free(&ext.batch[i]);
    free(ext.batch);
done:
    il_ext_cli_clear(&cli);
    return rc;
}
