/* bus_config: the bus settings shared by the core and every extension
 * (core.bus.* in the configuration file), with the environment overrides used
 * in containers: INTERLOOK_BUS_ROUTER, INTERLOOK_BUS_PUBLISH,
 * INTERLOOK_BUS_CORE_CERT (core.bus.curve.coreCert), INTERLOOK_BUS_CLIENT_CERTS
 * (core.bus.curve.clientCerts), INTERLOOK_BUS_INSECURE ("true":
 * core.bus.insecure), INTERLOOK_BUS_BIND_ROUTER and INTERLOOK_BUS_BIND_PUBLISH
 * (core.bus.bindRouter, core.bus.bindPublish).
 *
 * Several cores (one leads, the others stand by, issue 16): core.bus.router
 * and core.bus.publish then list one endpoint per core (a YAML list or one
 * comma-separated string), paired by index; extensions connect to one pair at
 * a time (ilp_client). A core binds bindRouter/bindPublish, or router/publish
 * when each is a single endpoint. */
#ifndef INTERLOOK_BUS_CONFIG_H
#define INTERLOOK_BUS_CONFIG_H

#include "broker/ilp_client.h"
#include "common/config.h"

#include <stdbool.h>
#include <stdint.h>

/* The bus defaults, decided here only: core.bus.* when absent, and what the
 * broker and ilp_client take for a setting left at 0 or NULL. */
#define IL_BUS_DEFAULT_ROUTER       "tcp://127.0.0.1:5570"
#define IL_BUS_DEFAULT_PUBLISH      "tcp://127.0.0.1:5571"
#define IL_BUS_DEFAULT_HEARTBEAT_MS 1000
#define IL_BUS_DEFAULT_LIVENESS     3
#define IL_BUS_DEFAULT_BATCH        64
/* What the core honours of untrusted peers (see docs/protocol.md §5). */
#define IL_BUS_DEFAULT_MAX_CREDIT        1000
#define IL_BUS_DEFAULT_MAX_INSTANCES_EXT 64
#define IL_BUS_DEFAULT_MAX_INSTANCES     512

/* Room for a list of endpoints given as a YAML list, joined with commas. */
#define IL_BUS_ENDPOINTS_MAX 2048

typedef struct {
    const char *router;         /* ROUTER endpoint(s), comma-separated: extensions connect */
    const char *publish;        /* PUB endpoint(s), paired with router by index */
    const char *bind_router;    /* what the core binds (core.bus.bindRouter; NULL: router) */
    const char *bind_publish;   /* core.bus.bindPublish (NULL: publish) */
    uint32_t heartbeat_ms;      /* core.bus.heartbeat */
    uint32_t liveness;          /* core.bus.liveness */
    uint32_t batch;             /* core.bus.batch: items in one message at most */
    uint32_t max_credit;        /* core.bus.maxCredit: credit honoured per instance */
    uint32_t max_instances_ext; /* core.bus.maxInstancesPerExtension */
    uint32_t max_instances;     /* core.bus.maxInstances: all extensions together */
    /* CURVE (docs/protocol.md, Security): the core's certificate, FILE with
     * FILE_secret beside it (the core loads the secret, the others the
     * public part); NULL when the bus has no CURVE. */
    const char *core_cert;    /* core.bus.curve.coreCert */
    const char *client_certs; /* core.bus.curve.clientCerts: allowed public certificates (core) */
    bool insecure;            /* core.bus.insecure: bind beyond loopback without CURVE */
    char router_list[IL_BUS_ENDPOINTS_MAX];  /* router, when given as a YAML list */
    char publish_list[IL_BUS_ENDPOINTS_MAX]; /* publish, likewise */
} il_bus_config_t;

/* Reads core.bus from cfg (defaults for what is missing), then the
 * environment. Strings stay owned by cfg or the environment. Returns -1 with
 * "FILE:LINE: key: reason" in err. */
int il_bus_config_load(il_bus_config_t *bus, il_config_t *cfg, char *err, size_t errlen);

/* The endpoints the core binds: bindRouter/bindPublish when given, else
 * router/publish when each is one endpoint. -1 with the reason (naming the
 * keys) in err when a list has no bind key to go with it. */
int il_bus_config_core_binds(const il_bus_config_t *bus, const char **router, const char **publish,
                             char *err, size_t errlen);

/* How many endpoints a comma-separated list holds (1 for a plain endpoint). */
size_t il_bus_config_endpoint_count(const char *list);

/* Copies the index-th endpoint of a comma-separated list (blanks trimmed)
 * into out. -1 when there is none or it does not fit. */
int il_bus_config_endpoint_at(const char *list, size_t index, char *out, size_t outlen);

/* True when endpoint only reaches this host: tcp:// on 127.0.0.0/8, ::1 or
 * localhost, ipc://, inproc://. */
bool il_bus_config_endpoint_local(const char *endpoint);

/* The core's safe default: 0 when the endpoints it binds are local, or CURVE is
 * configured, or core.bus.insecure is true; else -1 with the reason (naming
 * core.bus.curve and the opt-out) in err. */
int il_bus_config_check_exposure(const il_bus_config_t *bus, char *err, size_t errlen);

/* The SDK's settings for an extension: endpoints from the command line when
 * given (router, publish not NULL), else from bus; heartbeat, batch and the
 * core's certificate from bus (the extension's own certificate is left NULL). */
ilp_client_config_t il_bus_config_client(const il_bus_config_t *bus, const char *name,
                                         const char *instance, uint32_t credit, const char *router,
                                         const char *publish);

#endif
