/* lb_config: the lb.haproxy section, see lb_config.h. It goes on after a
 * bad key, so that --check-config names every bad key at once. */
#include "extensions/lb/lb_config.h"

#include <interlook.h>

#include <net/if.h>
#include <stdio.h>
#include <string.h>

#define S_SECTION "lb.haproxy"

/* A path key: absolute, non-empty. */
static void s_path(il_config_t *cfg, const char *key, const char *dflt, const char **value,
                   char *err, size_t errlen)
{
    if (il_config_string(cfg, key, dflt, value)) {
        il_err_add(err, errlen, "%s", il_config_error(cfg));
        return;
    }
    if (!*value || (*value)[0] != '/')
        il_err_add(err, errlen, "%s:%d: %s: '%s': must be an absolute path", il_config_name(cfg),
                   il_config_line(cfg, key), key, *value ? *value : "");
}

/* A duration key within [min_ms, max_ms]. */
static void s_duration(il_config_t *cfg, const char *key, int64_t dflt, int64_t min_ms,
                       int64_t max_ms, int64_t *value, char *err, size_t errlen)
{
    if (il_config_duration(cfg, key, dflt, value)) {
        il_err_add(err, errlen, "%s", il_config_error(cfg));
        return;
    }
    if (*value < min_ms || *value > max_ms)
        il_err_add(err, errlen, "%s:%d: %s: must be %lldms..%llds", il_config_name(cfg),
                   il_config_line(cfg, key), key, (long long)min_ms, (long long)(max_ms / 1000));
}

/* healthCheck, healthCheckPath and healthCheckExpect (each checked even when
 * healthCheck is not http, so that a typo is found before it matters). */
static void s_check(lb_config_t *self, il_config_t *cfg, char *err, size_t errlen)
{
    const char *mode = NULL;
    if (il_config_string(cfg, S_SECTION ".healthCheck", "tcp", &mode))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    else if (!strcmp(mode, "tcp"))
        self->check = LB_CONFIG_CHECK_TCP;
    else if (!strcmp(mode, "http"))
        self->check = LB_CONFIG_CHECK_HTTP;
    else if (!strcmp(mode, "none"))
        self->check = LB_CONFIG_CHECK_NONE;
    else
        il_err_add(err, errlen, "%s:%d: " S_SECTION ".healthCheck: '%s': must be tcp, http or none",
                   il_config_name(cfg), il_config_line(cfg, S_SECTION ".healthCheck"), mode);
    const char *path = NULL;
    if (il_config_string(cfg, S_SECTION ".healthCheckPath", "/", &path))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    else {
        /* the rules of a service's own check (interlook.check), in one place */
        if (il_service_check_path_valid(path))
            self->check_path = path;
        else
            il_err_add(err, errlen,
                       "%s:%d: " S_SECTION ".healthCheckPath: '%s': must be a URI path "
                       "starting with '/' (at most %d bytes; no blank, quote, '#', '\\' or '$')",
                       il_config_name(cfg), il_config_line(cfg, S_SECTION ".healthCheckPath"), path,
                       LB_CONFIG_PATH_MAX);
    }
    const char *expect = NULL;
    if (il_config_string(cfg, S_SECTION ".healthCheckExpect", "200-399", &expect)) {
        il_err_add(err, errlen, "%s", il_config_error(cfg));
        return;
    }
    int lo = 0, hi = 0;
    if (il_service_check_expect_parse(expect, &lo, &hi))
        il_err_add(err, errlen,
                   "%s:%d: " S_SECTION ".healthCheckExpect: '%s': must be a status or a range "
                   "of statuses within 100..599 (e.g. 200 or 200-399)",
                   il_config_name(cfg), il_config_line(cfg, S_SECTION ".healthCheckExpect"),
                   expect);
    self->check_status_min = lo;
    self->check_status_max = hi;
}

int lb_config_load(lb_config_t *self, il_config_t *cfg, char *err, size_t errlen)
{
    static const char *const known[] = {
        "masterSocket",    "runtimeSocket",     "configFile",     "haproxy",
        "vipInterface",    "announce",          "healthInterval", "timeout",
        "drainTimeout",    "watchInterval",     "credit",         "name",
        "masterLog",       "curveCert",         "logLevel",       "healthCheck",
        "healthCheckPath", "healthCheckExpect", "timeouts",       NULL};
    static const char *const timeouts[] = {"connect",     "client", "server",
                                           "httpRequest", "tunnel", NULL};
    memset(self, 0, sizeof *self);
    err[0] = '\0';
    if (il_config_check_keys(cfg, S_SECTION, known))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    if (il_config_check_keys(cfg, S_SECTION ".timeouts", timeouts))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    s_path(cfg, S_SECTION ".masterSocket", "/run/haproxy-master.sock", &self->master_socket, err,
           errlen);
    s_path(cfg, S_SECTION ".runtimeSocket", "/run/haproxy/admin.sock", &self->runtime_socket, err,
           errlen);
    s_path(cfg, S_SECTION ".configFile", "/etc/haproxy/interlook.cfg", &self->config_file, err,
           errlen);
    s_path(cfg, S_SECTION ".haproxy", "/usr/sbin/haproxy", &self->haproxy, err, errlen);
    if (il_config_string(cfg, S_SECTION ".vipInterface", "", &self->vip_interface))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    else if (self->vip_interface && !*self->vip_interface)
        self->vip_interface = NULL;
    else if (self->vip_interface &&
             (strlen(self->vip_interface) >= IF_NAMESIZE || strpbrk(self->vip_interface, "/ \t")))
        il_err_add(err, errlen, "%s:%d: " S_SECTION ".vipInterface: '%s': not an interface name",
                   il_config_name(cfg), il_config_line(cfg, S_SECTION ".vipInterface"),
                   self->vip_interface);
    if (il_config_string(cfg, S_SECTION ".masterLog", "", &self->master_log))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    else if (!*self->master_log)
        self->master_log = NULL;
    else if (self->master_log[0] != '/')
        il_err_add(err, errlen, "%s:%d: " S_SECTION ".masterLog: '%s': must be an absolute path",
                   il_config_name(cfg), il_config_line(cfg, S_SECTION ".masterLog"),
                   self->master_log);
    if (il_config_bool(cfg, S_SECTION ".announce", true, &self->announce))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    s_duration(cfg, S_SECTION ".healthInterval", 2000, 100, 3600000, &self->health_ms, err, errlen);
    s_check(self, cfg, err, errlen);
    /* HAProxy's defaults section; the bounds keep a typo (1ms, 100d) out. */
    s_duration(cfg, S_SECTION ".timeouts.connect", 5000, 100, 600000, &self->timeout_connect_ms,
               err, errlen);
    s_duration(cfg, S_SECTION ".timeouts.client", 60000, 1000, 86400000, &self->timeout_client_ms,
               err, errlen);
    s_duration(cfg, S_SECTION ".timeouts.server", 60000, 1000, 86400000, &self->timeout_server_ms,
               err, errlen);
    s_duration(cfg, S_SECTION ".timeouts.httpRequest", 10000, 1000, 600000,
               &self->timeout_request_ms, err, errlen);
    s_duration(cfg, S_SECTION ".timeouts.tunnel", 3600000, 1000, 604800000,
               &self->timeout_tunnel_ms, err, errlen);
    s_duration(cfg, S_SECTION ".timeout", 5000, 100, 600000, &self->timeout_ms, err, errlen);
    s_duration(cfg, S_SECTION ".drainTimeout", 30000, 0, 86400000, &self->drain_ms, err, errlen);
    s_duration(cfg, S_SECTION ".watchInterval", 1000, 100, 3600000, &self->watch_ms, err, errlen);
    if (il_config_int(cfg, S_SECTION ".credit", 64, 1, ILP_MAX_CREDIT, &self->credit))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    if (il_config_string(cfg, S_SECTION ".name", S_SECTION, &self->name))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    if (il_config_string(cfg, S_SECTION ".logLevel", "info", &self->log_level))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    return err[0] ? -1 : 0;
}
