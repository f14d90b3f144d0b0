/* interlook-dns: the dns.rfc2136 extension. Writes each service's DNS aliases
 * (A or AAAA to its public_ip, plus an ownership TXT) to the primary DNS
 * server with TSIG-signed RFC 2136 UPDATEs, and removes them when the
 * service goes away. Work arriving together is grouped per zone into one
 * UPDATE (dns_job); the exchanges run on a thread (dns_worker), the bus on
 * this one. */
#include <interlook.h>

#include "extensions/dns/dns_client.h"
#include "extensions/dns/dns_config.h"
#include "extensions/dns/dns_job.h"
#include "extensions/dns/dns_plan.h"
#include "extensions/dns/dns_worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_BATCH 1000 /* work items in one round at most */

typedef struct {
    char *id;
    ilp_action_t action;
    il_service_t *service;
    char *error;
} s_item_t;

/* The items handled together, and the jobs still out for them. */
typedef struct {
    s_item_t **items;
    size_t count;
    size_t jobs_out;
    void *handle; /* in the extension's list of rounds out */
} s_round_t;

typedef struct {
    dns_config_t *config;
    ilp_client_t *client;
    dns_worker_t *worker;
    s_item_t **batch; /* waiting for the next flush */
    size_t batch_count;
    bool flush_armed;
    zlistx_t *rounds; /* rounds with jobs out: freed unanswered at a stop */
} s_ext_t;

static void s_item_free(s_item_t *item)
{
    free(item->id);
    free(item->error);
    il_service_destroy(&item->service);
    free(item);
}

/* Frees a round's items and the round, unanswered. */
static void s_round_free(s_round_t *round)
{
    for (size_t i = 0; i < round->count; i++)
        s_item_free(round->items[i]);
    free(round->items);
    free(round);
}

static void s_item_error(s_item_t *item, const char *text)
{
    if (!item->error) item->error = il_strdup(text);
}

/* Answers all the round's items (together) and frees it. */
static void s_round_answer(s_ext_t *self, s_round_t *round)
{
    ilp_client_batch_begin(self->client);
    for (size_t i = 0; i < round->count; i++) {
        s_item_t *item = round->items[i];
        if (item->error)
            il_log_warn("dns: %s %s: %s", ilp_action_name(item->action), item->service->name,
                        item->error);
        else
            il_log_debug("dns: %s %s: done", ilp_action_name(item->action), item->service->name);
        ilp_client_reply(self->client, item->id, item->error, item->error ? NULL : item->service);
        s_item_free(item);
    }
    ilp_client_batch_end(self->client);
    if (round->handle) zlistx_delete(self->rounds, round->handle);
    free(round->items);
    free(round);
}

/* The configured zones for the start-up line: "a, b, c". */
static void s_zones_text(const dns_config_t *config, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < config->zone_count; i++) {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s", i ? ", " : "", config->zones[i]);
    }
}

static void s_flush(s_ext_t *self)
{
    const dns_config_t *config = self->config;
    s_round_t *round = il_calloc(1, sizeof *round);
    round->items = self->batch;
    round->count = self->batch_count;
    self->batch = NULL;
    self->batch_count = 0;
    dns_job_t **jobs = il_calloc(config->zone_count, sizeof *jobs);
    for (size_t i = 0; i < round->count; i++) {
        s_item_t *item = round->items[i];
        item->error = dns_plan_item(config, jobs, i, item->action == ILP_ACTION_ADD, item->service);
    }
    for (size_t z = 0; z < config->zone_count; z++)
        if (jobs[z]) {
            jobs[z]->arg = round;
            round->jobs_out++;
            dns_worker_submit(self->worker, jobs[z]);
        }
    free(jobs);
    if (round->jobs_out == 0)
        s_round_answer(self, round);
    else
        round->handle = zlistx_add_end(self->rounds, round);
}

static int s_on_flush(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    s_ext_t *self = arg;
    self->flush_armed = false;
    if (self->batch_count) s_flush(self);
    return 0;
}

/* A job is back: its names' errors go to their items; the round is
 * answered when its last job is back. */
static int s_on_job(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    (void)sock;
    s_ext_t *self = arg;
    dns_job_t *job = dns_worker_receive(self->worker);
    if (!job) return 0;
    s_round_t *round = job->arg;
    for (size_t i = 0; i < job->count; i++)
        if (job->names[i].error)
            s_item_error(round->items[job->names[i].item], job->names[i].error);
    il_log_debug("dns: zone %s: %zu names, %llu UPDATE(s)", job->zone, job->count,
                 (unsigned long long)job->updates);
    dns_job_destroy(&job);
    if (--round->jobs_out == 0) s_round_answer(self, round);
    return 0;
}

static void s_on_work(ilp_client_t *client, ilp_msg_t *work, void *arg)
{
    s_ext_t *self = arg;
    s_item_t *item = il_calloc(1, sizeof *item);
    item->id = il_strdup(work->id);
    item->action = work->action;
    item->service = work->service;
    work->service = NULL;
    self->batch = il_realloc(self->batch, (self->batch_count + 1) * sizeof *self->batch);
    self->batch[self->batch_count++] = item;
    /* Everything that arrives before the loop turns goes into the same round. */
    if (self->batch_count >= S_MAX_BATCH)
        s_flush(self);
    else if (!self->flush_armed) {
        self->flush_armed = true;
        zloop_timer(ilp_client_loop(client), 1, 1, s_on_flush, self);
    }
}

static void s_usage(FILE *out)
{
    fprintf(
        out,
        "usage: interlook-dns -c FILE [options]\n"
        "The DNS step (dns.rfc2136): each service's aliases as A/AAAA records on the\n"
        "primary DNS server, by TSIG-signed dynamic updates (RFC 2136).\n\n"
        "  -c, --config FILE    configuration file (dns.rfc2136.*, core.bus.*)\n"
        "  -n, --name NAME      extension name (default dns.rfc2136)\n"
        "  -i, --instance ID    instance id (default host-pid-random)\n"
        "      --router EP      core ROUTER endpoint (default %s)\n"
        "      --publish EP     core PUB endpoint (default %s)\n"
        "      --cert FILE      its CURVE certificate (FILE_secret beside it)\n"
        "      --check-config   validate the configuration (and the key file) and exit\n"
        "  -l, --log-level LVL  debug|info|warn|error (default: dns.rfc2136.logLevel)\n"
        "  -h, --help, -V, --version\n\n"
        "Exit status: 0 stopped by a signal, 1 runtime failure, 2 bad usage or configuration.\n",
        IL_BUS_DEFAULT_ROUTER, IL_BUS_DEFAULT_PUBLISH);
}

int main(int argc, char *argv[])
{
    const il_ext_cli_spec_t spec = {.prog = "interlook-dns",
                                    .usage = s_usage,
                                    .check_config = true,
                                    .needs_config = "dns.rfc2136.server and zones",
                                    .section = "dns.rfc2136"};
    il_ext_cli_t cli;
    dns_config_t config;
    memset(&config, 0, sizeof config);
    il_log_level_t level;
    char err[4096];
    int rc = 2;
    if (il_ext_cli_parse(&cli, &spec, argc, argv, &rc) != 0) goto done;
    rc = 2;
    if (dns_config_load(&config, cli.cfg, err, sizeof err) != 0) {
        /* every bad key, one per line */
        for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(stderr, "interlook-dns: %s\n", line);
        goto done;
    }
    if (il_ext_cli_log_level(&cli, spec.prog, config.log_level, &level) != 0) goto done;
    if (cli.check) {
        printf("%s: configuration OK\n", cli.path);
        rc = 0;
        goto done;
    }
    il_log_setup("interlook-dns", level, "stderr");
    if (!cli.name) cli.name = config.name;
    if (!config.key)
        il_log_warn("dns: no dns.rfc2136.tsigKeyFile: updates to %s are NOT signed", config.server);
    char zones[512];
    s_zones_text(&config, zones, sizeof zones);
    il_log_info("dns: server %s, zones %s, key %s, owner %s, ttl %llds", config.server, zones,
                config.key ? config.key->name : "(none)", config.owner_id, (long long)config.ttl_s);
    zsys_init();
    rc = 1;
    dns_client_t *dns =
        dns_client_new(config.server, &config.addr, config.addr_len, config.key, config.timeout_ms);
    s_ext_t ext = {.config = &config, .rounds = zlistx_new()};
    ext.worker = dns_worker_new(dns, config.server);
    ilp_client_config_t cc = il_ext_cli_client(&cli, (uint32_t)config.credit);
    ilp_client_handler_t handler = {.work = s_on_work};
    if (ext.worker) ext.client = ilp_client_new(&cc, &handler, &ext);
    if (ext.client) {
        zloop_reader(ilp_client_loop(ext.client), dns_worker_sock(ext.worker), s_on_job, &ext);
        ilp_client_run(ext.client);
        il_log_info("dns: stopping");
        zloop_reader_end(ilp_client_loop(ext.client), dns_worker_sock(ext.worker));
        rc = 0;
    }
    ilp_client_destroy(&ext.client);
    dns_worker_destroy(&ext.worker); /* frees the jobs still out */
    dns_client_destroy(&dns);
    for (s_round_t *round = zlistx_first(ext.rounds); round; round = zlistx_next(ext.rounds))
        s_round_free(round);
    zlistx_destroy(&ext.rounds);
    for (size_t i = 0; i < ext.batch_count; i++)
        s_item_free(ext.batch[i]);
    free(ext.batch);
done:
    dns_config_clear(&config);
    il_ext_cli_clear(&cli);
    return rc;
}
