/* interlook-inject: a scripted provider. It registers as a provider (by
 * default provider.docker) and reports the services it is told about, from
 * its command line and from standard input, one command per line:
 *
 *   add NAME [HOST:PORT ...] [alias=DNS.NAME ...] [port=PUBLIC_PORT] [tls]
 *       [check=tcp|none|http|http:PATH [STATUS[-STATUS]]]
 *   delete NAME
 *   add-many PREFIX COUNT [HOST:PORT]      (PREFIX0 .. PREFIX<COUNT-1>)
 *   delete-many PREFIX COUNT
 *   list
 *   quit
 *
 * Like a real provider it re-reports everything it holds after each WELCOME
 * and answers refresh requests (add if it holds the service, delete if not).
 * It is the test peer of the core and a tool to inject services by hand. */
#include "broker/ext_cli.h"
#include "broker/ilp_client.h"
#include "common/config.h"
#include "common/log.h"
#include "common/version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_DRAIN_MS 10000 /* bound of the wait for the last events to leave */

typedef struct {
    ilp_client_t *client;
    zhashx_t *services; /* name -> il_service_t*, what this provider reports as present */
    char line[8192];    /* partial input line */
    size_t line_len;
    bool once;           /* exit once the command line's work is sent */
    bool draining;       /* stopping once every event has left */
    int64_t drain_until; /* ... or at this time (monotonic ms) */
    bool undelivered;    /* stopped with events left: exit status 1 */
    bool stdin_open;
} inject_t;

/* HOST:PORT, a bare IPv6 address before the last ':' or [V6]:PORT; the
 * host is kept without brackets, as the Docker provider gives it. */
static int s_target(il_service_t *svc, const char *text)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text) return -1;
    const char *start = text;
    if (*text == '[') {
        if (colon[-1] != ']' || colon - text < 3) return -1;
        start = text + 1;
    }
    char host[256];
    size_t n = (size_t)(colon - start) - (start != text);
    if (n >= sizeof host) return -1;
    memcpy(host, start, n);
    host[n] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535) return -1;
    return il_service_add_target(svc, host, (uint16_t)port, 1);
}

/* port=N: the service's public port, ASCII digits, 1..65535. */
static int s_public_port(il_service_t *svc, const char *text)
{
    uint32_t n = 0;
    if (!*text) return -1;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        n = n * 10 + (uint32_t)(*p - '0');
        if (n > 65535) return -1;
    }
    if (n == 0) return -1;
    svc->port = (uint16_t)n;
    return 0;
}

static void s_report(inject_t *self, ilp_action_t action, const il_service_t *svc)
{
    ilp_client_event(self->client, action, svc);
}

static void s_add(inject_t *self, il_service_t **svc_p)
{
    il_service_t *svc = *svc_p;
    s_report(self, ILP_ACTION_ADD, svc);
    zhashx_update(self->services, svc->name, svc);
    *svc_p = NULL;
}

static void s_delete(inject_t *self, const char *name)
{
    il_service_t *svc = il_service_new(name);
    if (!svc) return;
    s_report(self, ILP_ACTION_DELETE, svc);
    il_service_destroy(&svc);
    zhashx_delete(self->services, name);
}

/* Runs one command (argv form). Returns -1 on a bad command, 1 for quit. */
static int s_command(inject_t *self, int argc, char **argv)
{
    if (argc == 0) return 0;
    const char *cmd = argv[0];
    if (!strcmp(cmd, "quit")) return 1;
    if (!strcmp(cmd, "list")) {
        for (il_service_t *s = zhashx_first(self->services); s; s = zhashx_next(self->services))
            printf("%s\n", s->name);
        fflush(stdout);
        return 0;
    }
    if (!strcmp(cmd, "add") && argc >= 2) {
        il_service_t *svc = il_service_new(argv[1]);
        if (!svc) return -1;
        for (int i = 2; i < argc; i++) {
            int rc = 0;
            char why[200] = "";
            if (!strcmp(argv[i], "tls"))
                svc->tls = true;
            else if (!strncmp(argv[i], "check=", 6)) {
                /* the label's blank before the statuses splits it here: the
                 * next item, when it is made of digits and '-', is part of it */
                char text[IL_SERVICE_MAX_CHECK + 2];
                const char *next = i + 1 < argc ? argv[i + 1] : "";
                bool statuses = *next && strspn(next, "0123456789-") == strlen(next);
                snprintf(text, sizeof text, "%s%s%s", argv[i] + 6, statuses ? " " : "",
                         statuses ? next : "");
                rc = il_service_set_check(svc, text, why, sizeof why);
                if (rc == 0 && statuses) i++;
            } else if (!strncmp(argv[i], "alias=", 6))
                rc = il_service_add_alias(svc, argv[i] + 6);
            else if (!strncmp(argv[i], "port=", 5))
                rc = s_public_port(svc, argv[i] + 5);
            else
                rc = s_target(svc, argv[i]);
            if (rc) {
                il_log_error("inject: bad item '%s' (HOST:PORT, alias=NAME, port=1..65535, tls or "
                             "check=CHECK)%s%s",
                             argv[i], *why ? ": " : "", why);
                il_service_destroy(&svc);
                return -1;
            }
        }
        s_add(self, &svc);
        return 0;
    }
    if (!strcmp(cmd, "delete") && argc == 2) {
        s_delete(self, argv[1]);
        return 0;
    }
    if ((!strcmp(cmd, "add-many") || !strcmp(cmd, "delete-many")) && argc >= 3) {
        char *end;
        long count = strtol(argv[2], &end, 10);
        if (*end || count < 0 || count > 10000000) return -1;
        bool add = cmd[0] == 'a';
        for (long i = 0; i < count; i++) {
            char name[300];
            snprintf(name, sizeof name, "%s%ld", argv[1], i);
            if (!add) {
                s_delete(self, name);
                continue;
            }
            il_service_t *svc = il_service_new(name);
            if (!svc) return -1;
            if (s_target(svc, argc >= 4 ? argv[3] : "192.0.2.1:8080")) {
                il_service_destroy(&svc);
                return -1;
            }
            s_add(self, &svc);
        }
        return 0;
    }
    il_log_error("inject: bad command '%s' (add, delete, add-many, delete-many, list, quit)", cmd);
    return -1;
}

static int s_line(inject_t *self, char *line)
{
    char *argv[64];
    int argc = 0;
    for (char *tok = strtok(line, " \t\r"); tok && argc < 64; tok = strtok(NULL, " \t\r"))
        argv[argc++] = tok;
    return s_command(self, argc, argv);
}

/* Stops once every event has left: with --once, at a quit or at the end of
 * the input, what the socket could not take yet would otherwise be lost. */
static int s_on_drain(zloop_t *loop, int timer_id, void *arg)
{
    inject_t *self = arg;
    /* With --once, also registered: events sent on a connection that was
     * then lost are re-reported after the next WELCOME. */
    bool done = ilp_client_pending(self->client) == 0 &&
                (ilp_client_connected(self->client) || !self->once);
    if (!done && zclock_mono() < self->drain_until) return 0;
    if (!done) {
        il_log_error("inject: %zu event(s) not delivered within %d ms (core unreachable?)",
                     ilp_client_pending(self->client), S_DRAIN_MS);
        self->undelivered = true;
    }
    zloop_timer_end(loop, timer_id);
    ilp_client_stop(self->client);
    return 0;
}

static void s_finish(inject_t *self)
{
    if (self->draining) return;
    self->draining = true;
    self->drain_until = zclock_mono() + S_DRAIN_MS;
    zloop_timer(ilp_client_loop(self->client), 10, 0, s_on_drain, self);
}

/* The end of the input is the same as quit. A last line without its newline
 * still counts: `printf 'add web 1.2.3.4:80' | interlook-inject` reports web. */
static void s_on_eof(inject_t *self, zloop_t *loop, zmq_pollitem_t *item)
{
    zloop_poller_end(loop, item);
    self->stdin_open = false;
    if (self->line_len > 0) {
        self->line[self->line_len] = 0;
        self->line_len = 0;
        s_line(self, self->line);
    }
    s_finish(self);
}

static int s_on_stdin(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    inject_t *self = arg;
    char buf[4096];
    ssize_t n = read(item->fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
    if (n <= 0) {
        if (n < 0) il_log_error("inject: reading standard input: %s", strerror(errno));
        s_on_eof(self, loop, item);
        return 0;
    }
    ilp_client_batch_begin(self->client); /* the events of these lines leave together */
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != '\n') {
            if (self->line_len < sizeof self->line - 1) self->line[self->line_len++] = buf[i];
            continue;
        }
        self->line[self->line_len] = 0;
        self->line_len = 0;
        if (s_line(self, self->line) == 1) s_finish(self);
    }
    ilp_client_batch_end(self->client);
    return 0;
}

static void s_on_connected(ilp_client_t *client, bool connected, void *arg)
{
    inject_t *self = arg;
    if (!connected) return;
    /* Re-report everything: events sent just before a core restart can be lost. */
    for (il_service_t *s = zhashx_first(self->services); s; s = zhashx_next(self->services))
        ilp_client_event(client, ILP_ACTION_ADD, s);
}

static void s_on_refresh(ilp_client_t *client, const char *name, void *arg)
{
    inject_t *self = arg;
    (void)client;
    il_service_t *svc = zhashx_lookup(self->services, name);
    if (svc) {
        s_report(self, ILP_ACTION_ADD, svc);
    } else {
        il_service_t *gone = il_service_new(name);
        s_report(self, ILP_ACTION_DELETE, gone);
        il_service_destroy(&gone);
    }
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: interlook-inject [options] [COMMAND ARGS...]\n"
            "A scripted provider: reports services to the core from the command line and from\n"
            "standard input (one command per line):\n"
            "  add NAME [HOST:PORT ...] [alias=DNS.NAME ...] [port=PUBLIC_PORT] [tls]\n"
            "      [check=tcp|none|http|http:PATH [STATUS[-STATUS]]]\n"
            "  delete NAME\n"
            "  add-many PREFIX COUNT [HOST:PORT]\n"
            "  delete-many PREFIX COUNT\n"
            "  list | quit\n\n"
            "  -c, --config FILE    configuration file (core.bus.*)\n"
            "  -n, --name NAME      provider name (default provider.docker)\n"
            "  -i, --instance ID    instance id\n"
            "      --router EP      core ROUTER endpoint (default %s)\n"
            "      --publish EP     core PUB endpoint (default %s)\n"
            "      --cert FILE      its CURVE certificate (FILE_secret beside it)\n"
            "      --once           exit once the command line's events have left for the core\n"
            "                       (default: keep running until stdin ends or quit)\n"
            "  -l, --log-level LVL  debug|info|warn|error (default info)\n"
            "  -h, --help, -V, --version\n\n"
            "Exit status: 0 done, 1 runtime failure (among them: events still not\n"
            "delivered 10 s after the end of the input), 2 bad usage or configuration.\n",
            IL_BUS_DEFAULT_ROUTER, IL_BUS_DEFAULT_PUBLISH);
}

int main(int argc, char *argv[])
{
    int once = 0;
    const struct option own[] = {{"once", no_argument, &once, 1}, {NULL, 0, NULL, 0}};
    const il_ext_cli_spec_t spec = {.prog = "interlook-inject",
                                    .name = "provider.docker",
                                    .usage = s_usage,
                                    .own = own,
                                    .commands = true};
    il_ext_cli_t cli;
    int rc = 2;
    il_log_level_t level;
    if (il_ext_cli_parse(&cli, &spec, argc, argv, &rc) != 0 ||
        il_ext_cli_log_level(&cli, spec.prog, NULL, &level) != 0) {
        il_ext_cli_clear(&cli);
        return rc;
    }
    il_log_setup("interlook-inject", level, "stderr");
    zsys_init();
    inject_t self = {.once = once, .stdin_open = !once};
    self.services = zhashx_new();
    zhashx_set_destructor(self.services, (zhashx_destructor_fn *)il_service_destroy);
    ilp_client_config_t cc = il_ext_cli_client(&cli, 1);
    cc.linger_ms = S_DRAIN_MS; /* the last events in the socket leave before the exit */
    ilp_client_handler_t handler = {.refresh = s_on_refresh, .connected = s_on_connected};
    self.client = ilp_client_new(&cc, &handler, &self);
    rc = 0;
    if (!self.client) {
        rc = 2;
    } else if (s_command(&self, argc - cli.first_command, argv + cli.first_command) < 0) {
        rc = 2;
    } else {
        if (once) {
            s_finish(&self); /* once registered and every event has left */
        } else {
            zmq_pollitem_t item = {NULL, STDIN_FILENO, ZMQ_POLLIN, 0};
            zloop_poller(ilp_client_loop(self.client), &item, s_on_stdin, &self);
            /* A closed pipe polls as POLLHUP alone, which zloop counts as an
             * error and would silently stop polling instead of calling
             * s_on_stdin, whose read() then sees the end of the input. */
            zloop_poller_set_tolerant(ilp_client_loop(self.client), &item);
        }
        ilp_client_run(self.client);
        if (self.undelivered) rc = 1;
    }
    ilp_client_destroy(&self.client);
    zhashx_destroy(&self.services);
    il_ext_cli_clear(&cli);
    return rc;
}
