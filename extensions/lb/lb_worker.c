/* lb_worker: HAProxy's side of the extension, on a thread of its own, see
 * lb_worker.h. The pipe carries pointers: a round is the thread's alone
 * between submit and receive. */
#include "extensions/lb/lb_worker.h"
#include "extensions/lb/lb_haproxy.h"
#include "extensions/lb/lb_plan.h"
#include "extensions/lb/lb_render.h"
#include "extensions/lb/lb_vip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_ERR      2048
#define S_DRAIN_MS 100 /* how often drained servers are looked at */

/* A server drained, deleted once its sessions are gone (or at its deadline). */
typedef struct {
    char backend[LB_RENDER_ID_MAX + 4];
    char server[LB_RENDER_SERVER_MAX];
    int64_t deadline;
} s_drain_t;

struct _lb_worker_t {
    const lb_config_t *config;
    zactor_t *actor;
    zloop_t *loop; /* the thread's */
    lb_haproxy_t *haproxy;
    zhashx_t *state;     /* what the file holds (and HAProxy runs when synced) */
    size_t at_start;     /* services in the file at start */
    zlistx_t *drains;    /* s_drain_t: drained servers to delete */
    int drain_timer;     /* -1 when none */
    char master_id[128]; /* the HAProxy master seen last ("" unknown) */
    bool synced;         /* HAProxy was seen running the state */
    bool restyled;       /* the file was rewritten at start: settings changed */
    bool unreachable;    /* said once until it answers again */
    uint64_t reloads;    /* reloads made (logged) */
};

void lb_item_free(lb_item_t **item_p)
{
    lb_item_t *item = *item_p;
    if (!item) return;
    free(item->id);
    free(item->error);
    il_service_destroy(&item->service);
    free(item);
    *item_p = NULL;
}

void lb_round_free(lb_round_t **round_p)
{
    lb_round_t *round = *round_p;
    if (!round) return;
    for (size_t i = 0; i < round->count; i++)
        lb_item_free(&round->items[i]);
    free(round->items);
    free(round);
    *round_p = NULL;
}

static void s_item_error(lb_item_t *item, const char *text)
{
    char line[4096];
    snprintf(line, sizeof line, "service '%s': %s", item->service->name, text);
    free(item->error);
    item->error = il_strdup(line);
}

/* ---- the file ---------------------------------------------------------- */

static int s_fill(int fd, void *arg, char *err, size_t errlen)
{
    const char *text = arg;
    if (il_fileio_write_all(fd, text, strlen(text)))
        return il_err(err, errlen, "write: %s", strerror(errno));
    return 0;
}

/* Writes the file for state, durably; -1 with the reason. */
static int s_write_file(lb_worker_t *self, zhashx_t *state, char *err, size_t errlen)
{
    char *text = lb_render_file(state, self->config);
    int rc = il_fileio_replace(self->config->config_file, s_fill, text, NULL, err, errlen);
    free(text);
    return rc == 0 ? 0 : -1;
}

/* Checks the file state would be with `haproxy -c`, on a copy beside it. */
static int s_check_file(lb_worker_t *self, zhashx_t *state, char *err, size_t errlen)
{
    if (zhashx_size(state) == 0) return 0; /* -c says "no listener": nothing to check */
    char path[4096];
    snprintf(path, sizeof path, "%s.check", self->config->config_file);
    char *text = lb_render_file(state, self->config);
    int rc = il_fileio_replace(path, s_fill, text, NULL, err, errlen) == 0 ? 0 : -1;
    free(text);
    if (rc == 0) rc = lb_haproxy_check(self->config->haproxy, path, err, errlen);
    unlink(path);
    return rc;
}

/* ---- the VIPs ---------------------------------------------------------- */

static bool s_ip_used(zhashx_t *state, const char *ip)
{
    for (il_service_t *s = zhashx_first(state); s; s = zhashx_next(state))
        if (s->public_ip && !strcmp(s->public_ip, ip)) return true;
    return false;
}

/* True when HAProxy listens on ip:port for a service of the state already. */
static bool s_listening(zhashx_t *state, const char *ip, uint16_t port)
{
    for (il_service_t *s = zhashx_first(state); s; s = zhashx_next(state))
        if (s->port == port && !strcmp(s->public_ip, ip)) return true;
    return false;
}

/* Whether HAProxy will be able to listen on ip:port, tried with a socket of
 * our own (same namespace): the address is this host's (or non-local binds
 * are on, or the VIP is ours to add: a free bind, as HAProxy's transparent
 * binds), and no other process holds the port. So that a service that
 * cannot get its frontend is refused alone, before a reload. */
static int s_can_listen(const lb_config_t *config, const char *ip, uint16_t port, char *err,
                        size_t errlen)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof *v6;
    } else
        return il_err(err, errlen, "'%s' is not an IP address", ip);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return il_err(err, errlen, "socket: %s", strerror(errno));
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
               sizeof on); /* as HAProxy: TIME_WAIT is no owner */
    if (config->vip_interface) setsockopt(fd, SOL_IP, IP_FREEBIND, &on, sizeof on);
    int rc = bind(fd, (struct sockaddr *)&ss, len);
    int e = errno;
    close(fd);
    if (rc == 0) return 0;
    if (e == EADDRINUSE)
        return il_err(err, errlen,
                      "HAProxy could not listen on %s port %u: another process holds it "
                      "(%s)",
                      ip, (unsigned)port, strerror(e));
    if (e == EADDRNOTAVAIL)
        return il_err(err, errlen,
                      "HAProxy could not listen on %s: %s (not an address of this host: set "
                      "lb.haproxy.vipInterface, or route it here with "
                      "net.%s.ip_nonlocal_bind=1)",
                      ip, strerror(e), ss.ss_family == AF_INET6 ? "ipv6" : "ipv4");
    return 0; /* e.g. EACCES: a port HAProxy (root) may bind and we may not: it will tell */
}

static int s_ip_compare(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* A list of addresses (not owned) that zlistx_find compares by value. */
static zlistx_t *s_ip_list_new(void)
{
    zlistx_t *list = zlistx_new();
    zlistx_set_comparator(list, s_ip_compare);
    return list;
}

/* Adds (on the interface) the VIPs of `to` not in `from`, listed in added. */
static int s_vips_up(lb_worker_t *self, zhashx_t *from, zhashx_t *to, zlistx_t *added, char *err,
                     size_t errlen)
{
    for (il_service_t *s = zhashx_first(to); s; s = zhashx_next(to)) {
        if (!lb_plan_frontend_differs(zhashx_lookup(from, s->name), s)) continue;
        if (self->config->vip_interface && !s_ip_used(from, s->public_ip) &&
            !zlistx_find(added, s->public_ip)) {
            if (lb_vip_add(self->config->vip_interface, s->public_ip, err, errlen)) return -1;
            zlistx_add_end(added, s->public_ip);
        }
    }
    return 0;
}

static void s_vips_remove(lb_worker_t *self, zlistx_t *ips)
{
    char err[S_ERR];
    for (const char *ip = zlistx_first(ips); ip; ip = zlistx_next(ips))
        if (lb_vip_remove(self->config->vip_interface, ip, err, sizeof err))
            il_log_warn("lb: cannot remove the VIP %s: %s", ip, err);
}

static void s_vip_announce(lb_worker_t *self, const char *ip)
{
    char err[S_ERR];
    if (!self->config->vip_interface || !self->config->announce) return;
    if (lb_vip_announce(self->config->vip_interface, ip, err, sizeof err))
        il_log_warn("lb: cannot announce the VIP %s: %s", ip, err);
}

/* ---- drained servers --------------------------------------------------- */

static int s_on_drain_timer(zloop_t *loop, int timer_id, void *arg);

static void s_drain_add(lb_worker_t *self, const char *backend, const char *server)
{
    s_drain_t *d = il_calloc(1, sizeof *d);
    snprintf(d->backend, sizeof d->backend, "%s", backend);
    snprintf(d->server, sizeof d->server, "%s", server);
    d->deadline = zclock_mono() + self->config->drain_ms;
    zlistx_add_end(self->drains, d);
    if (self->drain_timer < 0)
        self->drain_timer = zloop_timer(self->loop, S_DRAIN_MS, 0, s_on_drain_timer, self);
}

/* Takes a drained server back from the list; true when it was there. */
static bool s_drain_cancel(lb_worker_t *self, const char *backend, const char *server)
{
    for (s_drain_t *d = zlistx_first(self->drains); d; d = zlistx_next(self->drains))
        if (!strcmp(d->backend, backend) && !strcmp(d->server, server)) {
            zlistx_delete(self->drains, zlistx_cursor(self->drains));
            return true;
        }
    return false;
}

static void s_drains_clear(lb_worker_t *self)
{
    zlistx_purge(self->drains);
}

/* Deletes the drained servers whose sessions are gone or whose time is up. */
static int s_on_drain_timer(zloop_t *loop, int timer_id, void *arg)
{
    lb_worker_t *self = arg;
    char err[S_ERR];
    int64_t now = zclock_mono();
    s_drain_t *d = zlistx_first(self->drains);
    while (d) {
        int64_t sessions = 0;
        bool due = now >= d->deadline;
        if (!due &&
            lb_haproxy_server_sessions(self->haproxy, d->backend, d->server, &sessions, err,
                                       sizeof err) == 0 &&
            sessions > 0) {
            d = zlistx_next(self->drains);
            continue;
        }
        if (due) {
            char command[512], *answer = NULL;
            snprintf(command, sizeof command, "shutdown sessions server %s/%s", d->backend,
                     d->server);
            lb_haproxy_runtime(self->haproxy, command, &answer, err, sizeof err);
            free(answer);
            il_log_warn("lb: %s/%s still had sessions after lb.haproxy.drainTimeout: closed",
                        d->backend, d->server);
        }
        if (lb_haproxy_server_del(self->haproxy, d->backend, d->server, err, sizeof err))
            il_log_warn("lb: cannot delete the drained server: %s", err);
        else
            il_log_debug("lb: %s/%s drained and deleted", d->backend, d->server);
        zlistx_delete(self->drains, zlistx_cursor(self->drains));
        d = zlistx_first(self->drains);
    }
    if (zlistx_size(self->drains) == 0) {
        zloop_timer_end(loop, timer_id);
        self->drain_timer = -1;
    }
    return 0;
}

/* ---- effects ----------------------------------------------------------- */

static void s_state_replace(lb_worker_t *self, zhashx_t **state_p)
{
    zhashx_destroy(&self->state);
    self->state = *state_p;
    *state_p = NULL;
}

/* Frontends change: new VIPs up, the file checked, written and reloaded;
 * then old VIPs down. On failure everything is as before (the old worker
 * serves on), and -1 with the reason. */
static int s_apply_reload(lb_worker_t *self, zhashx_t **want_p, char *err, size_t errlen)
{
    zhashx_t *want = *want_p;
    zlistx_t *added = s_ip_list_new();
    char why[S_ERR];
    int rc = s_vips_up(self, self->state, want, added, err, errlen);
    if (rc == 0) rc = s_check_file(self, want, err, errlen);
    if (rc == 0) rc = s_write_file(self, want, err, errlen);
    if (rc == 0) {
        rc = lb_haproxy_reload(self->haproxy, err, errlen);
        if (rc != 0 && s_write_file(self, self->state, why, sizeof why))
            il_log_error("lb: cannot put the previous file back: %s", why);
    }
    if (rc != 0) {
        s_vips_remove(self, added);
        zlistx_destroy(&added);
        return -1;
    }
    self->reloads++;
    s_drains_clear(self); /* the new worker has only the file's servers */
    zlistx_t *gone = s_ip_list_new();
    for (il_service_t *s = zhashx_first(self->state); s; s = zhashx_next(self->state))
        if (!s_ip_used(want, s->public_ip) && !zlistx_find(gone, s->public_ip))
            zlistx_add_end(gone, s->public_ip);
    if (self->config->vip_interface) s_vips_remove(self, gone);
    for (const char *ip = zlistx_first(added); ip; ip = zlistx_next(added))
        s_vip_announce(self, ip);
    zlistx_destroy(&gone);
    zlistx_destroy(&added);
    s_state_replace(self, want_p);
    return 0;
}

/* One server operation on the runtime API. */
static int s_server_op(lb_worker_t *self, const lb_plan_op_t *op, char *err, size_t errlen)
{
    char id[LB_RENDER_ID_MAX], backend[LB_RENDER_ID_MAX + 4], server[LB_RENDER_SERVER_MAX];
    lb_render_id(op->service->name, id);
    snprintf(backend, sizeof backend, "ilb-%s", id);
    lb_render_server_name(op->target->host, op->target->port, server);
    const il_service_target_t *t = op->target;
    switch (op->kind) {
    case LB_PLAN_ADD:
        if (s_drain_cancel(self, backend, server)) {
            char command[600], *answer = NULL;
            if (lb_haproxy_server_set(self->haproxy, backend, server, t->host, t->port, t->weight,
                                      err, errlen))
                return -1;
            snprintf(command, sizeof command, "set server %s/%s state ready", backend, server);
            int rc = lb_haproxy_runtime(self->haproxy, command, &answer, err, errlen);
            bool ok = rc == 0 && answer && (answer[0] == '\0' || answer[0] == '\n');
            if (rc == 0 && !ok) il_err(err, errlen, "%s: %s", command, answer ? answer : "");
            free(answer);
            return ok ? 0 : -1;
        }
        return lb_haproxy_server_add(
            self->haproxy, backend, server, t->host, t->port, t->weight,
            self->config->check == LB_CONFIG_CHECK_NONE ? 0 : self->config->health_ms, err, errlen);
    case LB_PLAN_WEIGHT:
        return lb_haproxy_server_set(self->haproxy, backend, server, t->host, t->port, t->weight,
                                     err, errlen);
    case LB_PLAN_REMOVE:
        if (lb_haproxy_server_drain(self->haproxy, backend, server, err, errlen)) return -1;
        s_drain_add(self, backend, server);
        return 0;
    }
    return 0;
}

/* Targets change only: the file first (durable, and what the next reload
 * keeps), then the runtime API. When HAProxy refuses a command, a reload of
 * the file applies the whole state instead. */
static int s_apply_runtime(lb_worker_t *self, zhashx_t **want_p, char *err, size_t errlen)
{
    zhashx_t *want = *want_p;
    if (s_write_file(self, want, err, errlen)) return -1;
    lb_plan_op_t *ops = NULL;
    size_t count = 0;
    lb_plan_all(self->state, want, &ops, &count);
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = s_server_op(self, &ops[i], err, errlen);
    free(ops);
    if (rc != 0) {
        il_log_warn("lb: the runtime API refused a change (%s): reloading instead", err);
        rc = lb_haproxy_reload(self->haproxy, err, errlen);
        if (rc == 0) {
            self->reloads++;
            s_drains_clear(self);
        } else {
            char why[S_ERR];
            self->synced = false; /* part may be applied: the watch converges */
            if (s_write_file(self, self->state, why, sizeof why))
                il_log_error("lb: cannot put the previous file back: %s", why);
            return -1;
        }
    }
    s_state_replace(self, want_p);
    return 0;
}

/* ---- rounds ------------------------------------------------------------ */

/* What an item asks, checked, applied to want; the reason when refused. */
static const char *s_take(lb_worker_t *self, lb_item_t *item, zhashx_t *want, char *err,
                          size_t errlen)
{
    il_service_t *s = item->service;
    if (item->action == ILP_ACTION_DELETE) {
        item->changes = zhashx_lookup(want, s->name) != NULL;
        zhashx_delete(want, s->name);
        return NULL;
    }
    if (!s->public_ip || !*s->public_ip) {
        il_err(err, errlen, "no public_ip (the lb step must come after the IPAM step)");
        return err;
    }
    if (!s->port) {
        il_err(err, errlen,
               "no port (label interlook.publicPort or interlook.port; the "
               "provider sets it)");
        return err;
    }
    for (il_service_t *o = zhashx_first(want); o; o = zhashx_next(want))
        if (strcmp(o->name, s->name) && o->port == s->port && !strcmp(o->public_ip, s->public_ip)) {
            il_err(err, errlen, "%s:%u is already the frontend of service '%s'", s->public_ip,
                   (unsigned)s->port, o->name);
            return err;
        }
    if (!s_listening(self->state, s->public_ip, s->port) &&
        s_can_listen(self->config, s->public_ip, s->port, err, errlen))
        return err;
    il_service_t *copy = il_service_dup(s);
    lb_render_scale_weights(copy);
    il_service_t *old = zhashx_lookup(want, s->name);
    item->changes =
        !old || lb_plan_frontend_differs(old, copy) || !il_service_same_definition(old, copy);
    if (item->changes && copy->tls && copy->check && !strncmp(copy->check, "http", 4) &&
        (!old || !old->tls || !old->check || strcmp(old->check, copy->check)))
        il_log_warn("lb: service %s: check '%s' is not possible on a TLS service (passed through "
                    "in tcp mode): its servers get a tcp check",
                    s->name, copy->check);
    zhashx_update(want, s->name, copy);
    return NULL;
}

static zhashx_t *s_state_dup(zhashx_t *state)
{
    zhashx_t *copy = lb_render_state_new();
    for (il_service_t *s = zhashx_first(state); s; s = zhashx_next(state))
        zhashx_insert(copy, s->name, il_service_dup(s));
    return copy;
}

/* Applies the items (those without an error yet) together; when that fails
 * and there were several, each on its own, so that one bad service does not
 * hold the others back. */
/* The item HAProxy's message names (its frontend or backend), NULL when it
 * names none of them. */
static lb_item_t *s_named_in(const char *err, lb_item_t **items, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!items[i]->error && items[i]->changes && lb_render_names(err, items[i]->service->name))
            return items[i];
    return NULL;
}

static void s_round(lb_worker_t *self, lb_item_t **items, size_t count)
{
    char err[S_ERR];
    zhashx_t *want = s_state_dup(self->state);
    size_t changes = 0;
    for (size_t i = 0; i < count; i++) {
        if (items[i]->error) continue;
        const char *why = s_take(self, items[i], want, err, sizeof err);
        if (why) s_item_error(items[i], why);
        changes += items[i]->changes;
    }
    if (changes == 0) {
        zhashx_destroy(&want);
        return;
    }
    bool reload = lb_plan_needs_reload(self->state, want);
    int rc = reload ? s_apply_reload(self, &want, err, sizeof err)
                    : s_apply_runtime(self, &want, err, sizeof err);
    zhashx_destroy(&want);
    if (rc == 0) {
        il_log_debug("lb: %zu change(s) applied by %s", changes,
                     reload ? "a reload" : "the runtime API");
        return;
    }
    lb_item_t *culprit = changes > 1 ? s_named_in(err, items, count) : NULL;
    if (culprit) { /* HAProxy named its frontend: the others go on together */
        s_item_error(culprit, err);
        s_round(self, items, count);
        return;
    }
    if (changes > 1) {
        for (size_t i = 0; i < count; i++)
            if (!items[i]->error && items[i]->changes) s_round(self, &items[i], 1);
        return;
    }
    for (size_t i = 0; i < count; i++)
        if (!items[i]->error && items[i]->changes) s_item_error(items[i], err);
}

/* ---- HAProxy's side: what it runs -------------------------------------- */

/* True when HAProxy runs exactly the state's frontends, backends and servers.
 */
static bool s_runs_state(lb_worker_t *self, char *err, size_t errlen)
{
    char **names = NULL;
    size_t count = 0;
    if (lb_haproxy_proxies(self->haproxy, "il", &names, &count, err, errlen)) return false;
    zhashx_t *want = zhashx_new(); /* proxy or backend/server -> "" */
    for (il_service_t *s = zhashx_first(self->state); s; s = zhashx_next(self->state)) {
        char id[LB_RENDER_ID_MAX], key[LB_RENDER_ID_MAX + LB_RENDER_SERVER_MAX + 40];
        lb_render_id(s->name, id);
        snprintf(key, sizeof key, "ilf-%s", id);
        zhashx_insert(want, key, "");
        snprintf(key, sizeof key, "ilb-%s", id);
        zhashx_insert(want, key, "");
    }
    bool same = zhashx_size(want) == count;
    for (size_t i = 0; i < count; i++) {
        same = same && zhashx_lookup(want, names[i]);
        free(names[i]);
    }
    free(names);
    zhashx_destroy(&want);
    if (!same) return false;
    lb_haproxy_server_t *servers = NULL;
    if (lb_haproxy_servers(self->haproxy, "ilb-", &servers, &count, err, errlen)) return false;
    size_t expected = 0;
    for (il_service_t *s = zhashx_first(self->state); s && same; s = zhashx_next(self->state)) {
        char id[LB_RENDER_ID_MAX], backend[LB_RENDER_ID_MAX + 4];
        lb_render_id(s->name, id);
        snprintf(backend, sizeof backend, "ilb-%s", id);
        expected += s->target_count;
        for (size_t t = 0; t < s->target_count && same; t++) {
            char server[LB_RENDER_SERVER_MAX];
            lb_render_server_name(s->targets[t].host, s->targets[t].port, server);
            bool found = false;
            for (size_t i = 0; i < count && !found; i++)
                found = !strcmp(servers[i].backend, backend) &&
                        !strcmp(servers[i].server, server) &&
                        servers[i].port == s->targets[t].port &&
                        servers[i].weight == s->targets[t].weight;
            same = found;
        }
    }
    same = same && expected == count;
    lb_haproxy_servers_free(&servers, count);
    return same;
}

/* HAProxy (re)appeared: it must run the state; VIPs up and announced. */
static void s_converge(lb_worker_t *self)
{
    char err[S_ERR];
    for (il_service_t *s = zhashx_first(self->state); s; s = zhashx_next(self->state))
        if (self->config->vip_interface &&
            lb_vip_add(self->config->vip_interface, s->public_ip, err, sizeof err))
            il_log_warn("lb: service %s: %s", s->name, err);
    if (!self->restyled && s_runs_state(self, err, sizeof err)) {
        il_log_info("lb: HAProxy runs the %zu service(s) of %s: nothing to do",
                    zhashx_size(self->state), self->config->config_file);
        self->synced = true;
    } else if (lb_haproxy_reload(self->haproxy, err, sizeof err)) {
        il_log_error("lb: HAProxy does not run %s and its reload failed: %s",
                     self->config->config_file, err);
        return;
    } else {
        il_log_info("lb: HAProxy reloaded with the %zu service(s) of %s", zhashx_size(self->state),
                    self->config->config_file);
        self->restyled = false;
        self->reloads++;
        s_drains_clear(self);
        self->synced = true;
    }
    for (il_service_t *s = zhashx_first(self->state); s; s = zhashx_next(self->state))
        s_vip_announce(self, s->public_ip);
}

/* Notices a new HAProxy master (a restart) or its return, and converges. */
static int s_on_watch(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    lb_worker_t *self = arg;
    char id[sizeof self->master_id], err[S_ERR];
    if (lb_haproxy_master_id(self->haproxy, id, sizeof id, err, sizeof err)) {
        if (!self->unreachable) il_log_warn("lb: HAProxy does not answer: %s", err);
        self->unreachable = true;
        self->master_id[0] = '\0';
        return 0;
    }
    if (self->unreachable) il_log_info("lb: HAProxy answers again");
    self->unreachable = false;
    if (strcmp(id, self->master_id)) {
        if (self->master_id[0]) il_log_info("lb: a new HAProxy master (%s)", id);
        self->synced = false;
        snprintf(self->master_id, sizeof self->master_id, "%s", id);
    }
    if (!self->synced) s_converge(self);
    return 0;
}

/* ---- start ------------------------------------------------------------- */

/* The state in the file it owns; a missing file is an empty state (and is
 * written, so that HAProxy can be started with it). -1 when the file cannot
 * be read or is not one it wrote. */
static int s_load_state(lb_worker_t *self, char *err, size_t errlen)
{
    const char *path = self->config->config_file;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        self->state = lb_render_state_new();
        if (s_write_file(self, self->state, err, errlen)) return -1;
        il_log_info("lb: %s created (empty)", path);
        return 0;
    }
    if (fd < 0) return il_err(err, errlen, "%s: %s", path, strerror(errno));
    char *data = NULL;
    size_t size = 0;
    int rc = il_fileio_read_from(fd, 0, &data, &size);
    close(fd);
    if (rc) return il_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    char why[S_ERR];
    self->state = lb_render_parse(data ? data : "", why, sizeof why);
    if (!self->state) {
        free(data);
        return il_err(err, errlen, "%s: %s", path, why);
    }
    /* Settings that shape the file (health checks, timeouts) changed since it
     * was written: rewritten now, and HAProxy reloaded once it answers. */
    char *text = lb_render_file(self->state, self->config);
    bool same = data && !strcmp(data, text);
    free(text);
    free(data);
    if (!same) {
        if (s_check_file(self, self->state, err, errlen) ||
            s_write_file(self, self->state, err, errlen))
            return -1;
        il_log_info("lb: %s rewritten with the current settings", path);
        self->restyled = zhashx_size(self->state) > 0;
    }
    return 0;
}

static void s_drain_free(void **item)
{
    free(*item);
    *item = NULL;
}

/* ["ROUND", round] in, ["DONE", round] back; $TERM ends the loop. */
static int s_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void)loop;
    lb_worker_t *self = arg;
    char *cmd = NULL;
    void *ptr = NULL;
    if (zsock_recv(pipe, "sp", &cmd, &ptr) != 0) return -1;
    bool term = !cmd || !strcmp(cmd, "$TERM");
    if (!term && ptr) {
        lb_round_t *round = ptr;
        s_round(self, round->items, round->count);
        zsock_send(pipe, "sp", "DONE", round);
    }
    free(cmd);
    return term ? -1 : 0;
}

static void s_actor(zsock_t *pipe, void *arg)
{
    lb_worker_t *self = arg;
    self->loop = zloop_new();
    zsock_signal(pipe, 0);
    zloop_reader(self->loop, pipe, s_on_pipe, self);
    s_on_watch(self->loop, 0, self);
    zloop_timer(self->loop, (size_t)self->config->watch_ms, 0, s_on_watch, self);
    zloop_start(self->loop);
    il_log_info("lb: %llu reload(s) made", (unsigned long long)self->reloads);
    zloop_destroy(&self->loop);
}

lb_worker_t *lb_worker_new(const lb_config_t *config, char *err, size_t errlen)
{
    lb_worker_t *self = il_calloc(1, sizeof *self);
    self->config = config;
    self->drain_timer = -1;
    self->drains = zlistx_new();
    zlistx_set_destructor(self->drains, s_drain_free);
    if (s_load_state(self, err, errlen)) {
        lb_worker_destroy(&self);
        return NULL;
    }
    self->at_start = zhashx_size(self->state);
    self->haproxy =
        lb_haproxy_new(config->master_socket, config->runtime_socket, config->timeout_ms);
    if (config->master_log) lb_haproxy_set_log(self->haproxy, config->master_log);
    self->actor = zactor_new(s_actor, self);
    if (!self->actor) {
        il_err(err, errlen, "cannot start the worker thread");
        lb_worker_destroy(&self);
    }
    return self;
}

void lb_worker_destroy(lb_worker_t **self_p)
{
    lb_worker_t *self = *self_p;
    if (!self) return;
    zactor_destroy(&self->actor); /* after the round it is applying, if any */
    lb_haproxy_destroy(&self->haproxy);
    zhashx_destroy(&self->state);
    zlistx_destroy(&self->drains);
    free(self);
    *self_p = NULL;
}

void lb_worker_submit(lb_worker_t *self, lb_round_t *round)
{
    zsock_send(self->actor, "sp", "ROUND", round);
}

zsock_t *lb_worker_sock(lb_worker_t *self)
{
    return zactor_sock(self->actor);
}

lb_round_t *lb_worker_receive(lb_worker_t *self)
{
    char *cmd = NULL;
    void *round = NULL;
    if (zsock_recv(self->actor, "sp", &cmd, &round) != 0) return NULL;
    free(cmd);
    return round;
}

size_t lb_worker_size_at_start(lb_worker_t *self)
{
    return self->at_start;
}
