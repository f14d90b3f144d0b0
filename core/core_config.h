/* core_config: the core's settings (the `core:` section of the configuration
 * file), with defaults, validation and the environment overrides used in
 * containers (INTERLOOK_LISTEN, INTERLOOK_BUS_ROUTER, INTERLOOK_BUS_PUBLISH). */
#ifndef INTERLOOK_CORE_CONFIG_H
#define INTERLOOK_CORE_CONFIG_H

#include "broker/bus_config.h"
#include "core/api.h"
#include "common/config.h"
#include "common/log.h"

#define CORE_MAX_STEPS 32

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
    zlistx_t *step_list;         /* owns the step strings */
    /* core.apiTlsCert, apiTlsKey, apiTokenFile (paths, NULL when unset),
     * apiRequestTimeout (30s), apiMaxConnections (1024), apiMaxConnectionsPerIP (16) */
    api_options_t api;
} core_config_t;

/* Reads and validates the core section. Strings stay owned by cfg (or by
 * self->step_list, or the environment). Returns -1 with "FILE:LINE: key:
 * reason" in err. */
int core_config_load(core_config_t *self, il_config_t *cfg, char *err, size_t errlen);

/* Frees what core_config_load allocated. */
void core_config_clear(core_config_t *self);

#endif
