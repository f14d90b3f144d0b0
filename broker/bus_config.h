/* bus_config: the bus settings shared by the core and every extension
 * (core.bus.* in the configuration file), with the environment overrides used
 * in containers: INTERLOOK_BUS_ROUTER, INTERLOOK_BUS_PUBLISH,
 * INTERLOOK_BUS_CORE_CERT (core.bus.curve.coreCert), INTERLOOK_BUS_CLIENT_CERTS
 * (core.bus.curve.clientCerts), INTERLOOK_BUS_INSECURE ("true":
 * core.bus.insecure). */
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

typedef struct {
    const char *router;         /* ROUTER endpoint (the core binds it, extensions connect) */
    const char *publish;        /* PUB endpoint */
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
} il_bus_config_t;

/* Reads core.bus from cfg (defaults for what is missing), then the
 * environment. Strings stay owned by cfg or the environment. Returns -1 with
 * "FILE:LINE: key: reason" in err. */
int il_bus_config_load(il_bus_config_t *bus, il_config_t *cfg, char *err, size_t errlen);

/* True when endpoint only reaches this host: tcp:// on 127.0.0.0/8, ::1 or
 * localhost, ipc://, inproc://. */
bool il_bus_config_endpoint_local(const char *endpoint);

/* The core's safe default: 0 when both endpoints are local, or CURVE is
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
