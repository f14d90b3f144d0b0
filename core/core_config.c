/* core_config: the core section of the configuration file, see core_config.h. */
#include "core/core_config.h"
#include "broker/ilp_cert.h"
#include "broker/ilp_msg.h"
#include "common/alloc.h"
#include "common/etcd.h"
#include "core/listen_addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const s_known[] = {"logLevel",
                                      "logFile",
                                      "listen",
                                      "workflowSteps",
                                      "workflowEntriesFile",
                                      "checkFlowInterval",
                                      "workflowHousekeeperInterval",
                                      "serviceWIPTimeout",
                                      "serviceMaxLastUpdated",
                                      "cleanUndeployedServiceAfter",
                                      "retryBackoffMin",
                                      "retryBackoffMax",
                                      "persistDelay",
                                      "bus",
                                      "apiTlsCert",
                                      "apiTlsKey",
                                      "apiTokenFile",
                                      "apiRequestTimeout",
                                      "apiMaxConnections",
                                      "apiMaxConnectionsPerIP",
                                      "store",
                                      "etcd",
                                      "id",
                                      NULL};

static int s_where(il_config_t *cfg, const char *key, char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s:%d: %s: %s", il_config_name(cfg), il_config_line(cfg, key), key, why);
    return -1;
}

/* The HTTP API's options: a path given must not be empty, and a
 * certificate needs its key. */
static int s_api(core_config_t *self, il_config_t *cfg, char *err, size_t errlen)
{
    api_options_t *api = &self->api;
    int64_t conns = 0, per_ip = 0;
    if (il_config_string(cfg, "core.apiTlsCert", NULL, &api->tls_cert) ||
        il_config_string(cfg, "core.apiTlsKey", NULL, &api->tls_key) ||
        il_config_string(cfg, "core.apiTokenFile", NULL, &api->token_file) ||
        il_config_duration(cfg, "core.apiRequestTimeout", API_DEFAULT_REQUEST_TIMEOUT_MS,
                           &api->request_timeout_ms) ||
        il_config_int(cfg, "core.apiMaxConnections", API_DEFAULT_MAX_CONNECTIONS, 1, 1000000,
                      &conns) ||
        il_config_int(cfg, "core.apiMaxConnectionsPerIP", API_DEFAULT_MAX_PER_IP, 1, 1000000,
                      &per_ip)) {
        snprintf(err, errlen, "%s", il_config_error(cfg));
        return -1;
    }
    api->max_connections = (unsigned)conns;
    api->max_per_ip = (unsigned)per_ip;
    const char *paths[] = {"core.apiTlsCert", api->tls_cert,       "core.apiTlsKey",
                           api->tls_key,      "core.apiTokenFile", api->token_file};
    for (int i = 0; i < 6; i += 2)
        if (paths[i + 1] && !*paths[i + 1])
            return s_where(cfg, paths[i], err, errlen, "empty path");
    if (!api->tls_cert != !api->tls_key)
        return s_where(cfg, api->tls_cert ? "core.apiTlsCert" : "core.apiTlsKey", err, errlen,
                       "core.apiTlsCert and core.apiTlsKey go together");
    if (api->request_timeout_ms < 100)
        return s_where(cfg, "core.apiRequestTimeout", err, errlen, "must be at least 100ms");
    return 0;
}

static int s_steps(core_config_t *self, il_config_t *cfg, char *err, size_t errlen)
{
    const char *key = "core.workflowSteps";
    if (il_config_list(cfg, key, &self->step_list)) {
        snprintf(err, errlen, "%s", il_config_error(cfg));
        return -1;
    }
    if (!il_config_has(cfg, key)) {
        zlistx_add_end(self->step_list, "provider.docker");
        zlistx_add_end(self->step_list, "ipam.ipalloc");
    }
    char why[256];
    self->nsteps = 0;
    for (const char *step = zlistx_first(self->step_list); step;
         step = zlistx_next(self->step_list)) {
        if (self->nsteps == CORE_MAX_STEPS)
            return s_where(cfg, key, err, errlen, "more than 32 steps");
        if (!ilp_msg_ext_name_valid(step)) {
            snprintf(why, sizeof why, "'%s' is not an extension name (type.name)", step);
            return s_where(cfg, key, err, errlen, why);
        }
        for (int i = 0; i < self->nsteps; i++)
            if (!strcmp(self->steps[i], step)) {
                snprintf(why, sizeof why, "'%s' appears twice", step);
                return s_where(cfg, key, err, errlen, why);
            }
        self->steps[self->nsteps++] = step;
    }
    self->steps[self->nsteps] = NULL;
    if (self->nsteps == 0) return s_where(cfg, key, err, errlen, "no steps");
    if (strncmp(self->steps[0], "provider.", 9)) {
        snprintf(why, sizeof why, "the first step must be a provider (provider.*), not '%s'",
                 self->steps[0]);
        return s_where(cfg, key, err, errlen, why);
    }
    return 0;
}

/* The bus's exposure and CURVE: refused beyond loopback without CURVE or the
 * explicit opt-out; with CURVE, the core's pair readable and clientCerts a
 * directory. */
static int s_curve(core_config_t *self, il_config_t *cfg, char *err, size_t errlen)
{
    char why[768];
    if (il_bus_config_check_exposure(&self->bus, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", il_config_name(cfg), why);
        return -1;
    }
    if (!self->bus.core_cert) return 0;
    ilp_cert_t cert;
    if (ilp_cert_load_pair(&cert, self->bus.core_cert, why, sizeof why) != 0)
        return s_where(cfg, "core.bus.curve.coreCert", err, errlen, why);
    ilp_cert_clear(&cert);
    struct stat st;
    if (!self->bus.client_certs || !*self->bus.client_certs)
        return s_where(cfg, "core.bus.curve", err, errlen,
                       "clientCerts missing (the directory of the public certificates allowed "
                       "to connect)");
    if (stat(self->bus.client_certs, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, sizeof why, "'%s': not a directory", self->bus.client_certs);
        return s_where(cfg, "core.bus.curve.clientCerts", err, errlen, why);
    }
    return 0;
}

/* core.store, core.id and core.etcd.*: with etcd, the endpoints are checked
 * (http:// or https://) and the TLS files read here, by the client that
 * --check-config builds and drops (nothing is connected). */
static int s_etcd(core_config_t *self, il_config_t *cfg, char *err, size_t errlen)
{
    static const char *const known[] = {"endpoints", "prefix",   "tlsCa", "tlsCert",
                                        "tlsKey",    "leaseTTL", NULL};
    core_etcd_config_t *etcd = &self->etcd;
    const char *store = NULL;
    int64_t ttl_ms = 0;
    if (il_config_string(cfg, "core.store", "file", &store) ||
        il_config_string(cfg, "core.id", NULL, &self->id) ||
        il_config_check_keys(cfg, "core.etcd", known) ||
        il_config_list(cfg, "core.etcd.endpoints", &etcd->list) ||
        il_config_string(cfg, "core.etcd.prefix", "/interlook", &etcd->prefix) ||
        il_config_string(cfg, "core.etcd.tlsCa", NULL, &etcd->tls_ca) ||
        il_config_string(cfg, "core.etcd.tlsCert", NULL, &etcd->tls_cert) ||
        il_config_string(cfg, "core.etcd.tlsKey", NULL, &etcd->tls_key) ||
        il_config_duration(cfg, "core.etcd.leaseTTL", 5000, &ttl_ms)) {
        snprintf(err, errlen, "%s", il_config_error(cfg));
        return -1;
    }
    const char *env = getenv("INTERLOOK_CORE_STORE");
    if (env && *env) store = env;
    env = getenv("INTERLOOK_CORE_ID");
    if (env && *env) self->id = env;
    env = getenv("INTERLOOK_ETCD_PREFIX");
    if (env && *env) etcd->prefix = env;
    env = getenv("INTERLOOK_ETCD_ENDPOINTS");
    if (env && *env) {
        zlistx_purge(etcd->list);
        char *copy = il_strdup(env), *save = NULL;
        for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
            zlistx_add_end(etcd->list, tok);
        free(copy);
    }
    if (!strcmp(store, "file"))
        self->store = CORE_STORE_FILE;
    else if (!strcmp(store, "etcd"))
        self->store = CORE_STORE_ETCD;
    else {
        char why[256];
        snprintf(why, sizeof why, "'%s': expected file or etcd", store);
        return s_where(cfg, "core.store", err, errlen, why);
    }
    if (self->id && (!*self->id || strlen(self->id) >= sizeof self->id_buf))
        return s_where(cfg, "core.id", err, errlen, "must be 1 to 127 characters");
    if (!self->id) {
        char host[64] = "core";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = 0;
        snprintf(self->id_buf, sizeof self->id_buf, "%s-%d", host, (int)getpid());
        self->id = self->id_buf;
    }
    if (self->store != CORE_STORE_ETCD) return 0;
    etcd->nendpoints = 0;
    for (const char *e = zlistx_first(etcd->list); e; e = zlistx_next(etcd->list)) {
        if (etcd->nendpoints == CORE_MAX_ETCD)
            return s_where(cfg, "core.etcd.endpoints", err, errlen, "more than 16 endpoints");
        etcd->endpoints[etcd->nendpoints++] = e;
    }
    if (etcd->nendpoints == 0)
        return s_where(cfg, "core.etcd.endpoints", err, errlen,
                       "missing: core.store is etcd (give the members' client URLs, or set "
                       "INTERLOOK_ETCD_ENDPOINTS)");
    if (!*etcd->prefix || etcd->prefix[0] != '/' || etcd->prefix[strlen(etcd->prefix) - 1] == '/')
        return s_where(cfg, "core.etcd.prefix", err, errlen,
                       "must start with '/' and not end with one (e.g. /interlook)");
    if (ttl_ms < 1000 || ttl_ms > 3600000)
        return s_where(cfg, "core.etcd.leaseTTL", err, errlen, "must be from 1s to 1h");
    etcd->lease_ttl_s = (ttl_ms + 999) / 1000;
    const char *paths[] = {"core.etcd.tlsCa", etcd->tls_ca,       "core.etcd.tlsCert",
                           etcd->tls_cert,    "core.etcd.tlsKey", etcd->tls_key};
    for (int i = 0; i < 6; i += 2)
        if (paths[i + 1] && !*paths[i + 1])
            return s_where(cfg, paths[i], err, errlen, "empty path");
    if (!etcd->tls_cert != !etcd->tls_key)
        return s_where(cfg, etcd->tls_cert ? "core.etcd.tlsCert" : "core.etcd.tlsKey", err, errlen,
                       "core.etcd.tlsCert and core.etcd.tlsKey go together");
    char why[768];
    il_etcd_config_t ec = core_config_etcd(self);
    il_etcd_t *client = il_etcd_new(&ec, why, sizeof why);
    if (!client) return s_where(cfg, "core.etcd", err, errlen, why);
    il_etcd_destroy(&client);
    return 0;
}

il_etcd_config_t core_config_etcd(const core_config_t *self)
{
    return (il_etcd_config_t){.endpoints = self->etcd.endpoints,
                              .endpoint_count = self->etcd.nendpoints,
                              .tls_ca = self->etcd.tls_ca,
                              .tls_cert = self->etcd.tls_cert,
                              .tls_key = self->etcd.tls_key};
}

int core_config_load(core_config_t *self, il_config_t *cfg, char *err, size_t errlen)
{
    memset(self, 0, sizeof *self);
    const char *level = NULL;
    if (il_config_check_keys(cfg, "core", s_known) ||
        il_config_string(cfg, "core.logLevel", "info", &level) ||
        il_config_string(cfg, "core.logFile", "stdout", &self->log_file) ||
        listen_addr_load(cfg, &self->listen, NULL, err, errlen) ||
        il_config_string(cfg, "core.workflowEntriesFile", "./var/entries.db",
                         &self->entries_file) ||
        il_config_duration(cfg, "core.checkFlowInterval", 1000, &self->check_flow_ms) ||
        il_config_duration(cfg, "core.workflowHousekeeperInterval", 60000, &self->housekeeper_ms) ||
        il_config_duration(cfg, "core.serviceWIPTimeout", 90000, &self->wip_timeout_ms) ||
        il_config_duration(cfg, "core.serviceMaxLastUpdated", 90000, &self->max_last_updated_ms) ||
        il_config_duration(cfg, "core.cleanUndeployedServiceAfter", 600000,
                           &self->clean_undeployed_ms) ||
        il_config_duration(cfg, "core.retryBackoffMin", 1000, &self->retry_min_ms) ||
        il_config_duration(cfg, "core.retryBackoffMax", 60000, &self->retry_max_ms) ||
        il_config_duration(cfg, "core.persistDelay", 100, &self->persist_delay_ms)) {
        snprintf(err, errlen, "%s", il_config_error(cfg));
        return -1;
    }
    if (il_log_level_parse(level, &self->log_level))
        return s_where(cfg, "core.logLevel", err, errlen, "expected debug, info, warn or error");
    if (self->check_flow_ms < 10)
        return s_where(cfg, "core.checkFlowInterval", err, errlen, "must be at least 10ms");
    if (self->housekeeper_ms < 10)
        return s_where(cfg, "core.workflowHousekeeperInterval", err, errlen,
                       "must be at least 10ms");
    if (self->retry_min_ms < 1)
        return s_where(cfg, "core.retryBackoffMin", err, errlen, "must be at least 1ms");
    if (self->retry_max_ms < self->retry_min_ms)
        return s_where(cfg, "core.retryBackoffMax", err, errlen,
                       "must not be less than core.retryBackoffMin");
    if (!*self->entries_file)
        return s_where(cfg, "core.workflowEntriesFile", err, errlen, "empty path");
    if (s_steps(self, cfg, err, errlen)) return -1;
    if (s_api(self, cfg, err, errlen)) return -1;
    if (s_etcd(self, cfg, err, errlen)) return -1;
    if (il_bus_config_load(&self->bus, cfg, err, errlen)) return -1;
    return s_curve(self, cfg, err, errlen);
}

void core_config_clear(core_config_t *self)
{
    zlistx_destroy(&self->step_list);
    zlistx_destroy(&self->etcd.list);
    self->etcd.nendpoints = 0;
    self->nsteps = 0;
    self->steps[0] = NULL;
}
