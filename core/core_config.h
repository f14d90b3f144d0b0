/* core_config: the core's settings (the `core:` section of the configuration
 * file), with defaults, validation and the environment overrides used in
 * containers (INTERLOOK_LISTEN, INTERLOOK_BUS_ROUTER, INTERLOOK_BUS_PUBLISH,
 * INTERLOOK_CORE_STORE, INTERLOOK_CORE_ID, INTERLOOK_ETCD_ENDPOINTS,
 * INTERLOOK_ETCD_PREFIX). */
#ifndef INTERLOOK_CORE_CONFIG_H
#define INTERLOOK_CORE_CONFIG_H

#include "broker/bus_config.h"
#include "core/api.h"
#include "common/config.h"
#include "common/etcd.h"
#include "common/log.h"

#define CORE_MAX_STEPS 32
#define CORE_MAX_ETCD  16 /* etcd endpoints */

/* Where the entries live (core.store). */
typedef enum {
    CORE_STORE_FILE = 0, /* core.workflowEntriesFile: one core (the default) */
    CORE_STORE_ETCD,     /* etcd: several cores, one leads (docs/etcd.md) */
} core_store_t;

/* core.etcd.* (with core.store: etcd). */
typedef struct {
    const char *endpoints[CORE_MAX_ETCD]; /* http:// or https:// URLs */
    size_t nendpoints;
    const char *prefix;   /* core.etcd.prefix (/interlook): keys start with it */
    const char *tls_ca;   /* core.etcd.tlsCa, NULL when unset */
    const char *tls_cert; /* core.etcd.tlsCert and tlsKey: both or neither */
    const char *tls_key;
    int64_t lease_ttl_s; /* core.etcd.leaseTTL (5s), whole seconds */
    zlistx_t *list;      /* owns the endpoint strings */
} core_etcd_config_t;

typedef struct {
    il_log_level_t log_level; /* core.logLevel (info) */
    const char *log_file;     /* core.logFile (stdout) */
    const char *listen;       /* core.listen or $INTERLOOK_LISTEN (core/listen_addr.h) */
    const char *steps[CORE_MAX_STEPS + 1]; /* core.workflowSteps, NULL-terminated */
    int nsteps;
    const char *entries_file;    /* core.workflowEntriesFile (./var/entries.db) */
    int64_t check_flow_ms;       /* core.checkFlowInterval (1s) */
    int64_t housekeeper_ms;      /* core.workflowHousekeeperInterval (60s) */
    int64_t wip_timeout_ms;      /* core.serviceWIPTimeout (90s) */
    int64_t max_last_updated_ms; /* core.serviceMaxLastUpdated (90s) */
    int64_t clean_undeployed_ms; /* core.cleanUndeployedServiceAfter (10m) */
    int64_t retry_min_ms;        /* core.retryBackoffMin (1s) */
    int64_t retry_max_ms;        /* core.retryBackoffMax (60s) */
    int64_t persist_delay_ms;    /* core.persistDelay (100ms): coalescing window of saves */
    il_bus_config_t bus;         /* core.bus.* */
    core_store_t store;          /* core.store (file) or $INTERLOOK_CORE_STORE */
    core_etcd_config_t etcd;     /* core.etcd.*; INTERLOOK_ETCD_ENDPOINTS, INTERLOOK_ETCD_PREFIX */
    const char *id; /* core.id or $INTERLOOK_CORE_ID: this core's name as leader (hostname-pid) */
    char id_buf[128];
    zlistx_t *step_list; /* owns the step strings */
    /* core.apiTlsCert, apiTlsKey, apiTokenFile (paths, NULL when unset),
     * apiRequestTimeout (30s), apiMaxConnections (1024), apiMaxConnectionsPerIP (16) */
    api_options_t api;
} core_config_t;

/* Reads and validates the core section. Strings stay owned by cfg (or by
 * self->step_list, or the environment). Returns -1 with "FILE:LINE: key:
 * reason" in err. */
int core_config_load(core_config_t *self, il_config_t *cfg, char *err, size_t errlen);

/* The etcd client settings of core.etcd (pointers into self). */
il_etcd_config_t core_config_etcd(const core_config_t *self);

/* Frees what core_config_load allocated. */
void core_config_clear(core_config_t *self);

#endif
