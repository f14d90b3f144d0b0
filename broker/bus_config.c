/* bus_config: core.bus.* settings and their environment overrides. */
#include "broker/bus_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int il_bus_config_load(il_bus_config_t *bus, il_config_t *cfg, char *err, size_t errlen)
{
    static const char *const known[] = {"router",
                                        "publish",
                                        "heartbeat",
                                        "liveness",
                                        "batch",
                                        "maxCredit",
                                        "maxInstancesPerExtension",
                                        "maxInstances",
                                        "curve",
                                        "insecure",
                                        NULL};
    static const char *const curve[] = {"coreCert", "clientCerts", NULL};
    int64_t heartbeat, liveness, batch, max_credit, max_ext, max_all;
    if (il_config_check_keys(cfg, "core.bus", known) ||
        il_config_string(cfg, "core.bus.router", IL_BUS_DEFAULT_ROUTER, &bus->router) ||
        il_config_string(cfg, "core.bus.publish", IL_BUS_DEFAULT_PUBLISH, &bus->publish) ||
        il_config_duration(cfg, "core.bus.heartbeat", IL_BUS_DEFAULT_HEARTBEAT_MS, &heartbeat) ||
        il_config_int(cfg, "core.bus.liveness", IL_BUS_DEFAULT_LIVENESS, 1, 100, &liveness) ||
        il_config_int(cfg, "core.bus.batch", IL_BUS_DEFAULT_BATCH, 1, ILP_MAX_BATCH, &batch) ||
        il_config_int(cfg, "core.bus.maxCredit", IL_BUS_DEFAULT_MAX_CREDIT, 1, ILP_MAX_CREDIT,
                      &max_credit) ||
        il_config_int(cfg, "core.bus.maxInstancesPerExtension", IL_BUS_DEFAULT_MAX_INSTANCES_EXT, 1,
                      100000, &max_ext) ||
        il_config_int(cfg, "core.bus.maxInstances", IL_BUS_DEFAULT_MAX_INSTANCES, 1, 100000,
                      &max_all) ||
        il_config_check_keys(cfg, "core.bus.curve", curve) ||
        il_config_string(cfg, "core.bus.curve.coreCert", NULL, &bus->core_cert) ||
        il_config_string(cfg, "core.bus.curve.clientCerts", NULL, &bus->client_certs) ||
        il_config_bool(cfg, "core.bus.insecure", false, &bus->insecure)) {
        snprintf(err, errlen, "%s", il_config_error(cfg));
        return -1;
    }
    if (heartbeat < 10 || heartbeat > 3600000) {
        snprintf(err, errlen, "%s:%d: core.bus.heartbeat: must be from 10ms to 1h",
                 il_config_name(cfg), il_config_line(cfg, "core.bus.heartbeat"));
        return -1;
    }
    bus->heartbeat_ms = (uint32_t)heartbeat;
    bus->liveness = (uint32_t)liveness;
    bus->batch = (uint32_t)batch;
    bus->max_credit = (uint32_t)max_credit;
    bus->max_instances_ext = (uint32_t)max_ext;
    bus->max_instances = (uint32_t)max_all;
    if (il_config_has(cfg, "core.bus.curve") && (!bus->core_cert || !*bus->core_cert)) {
        snprintf(err, errlen,
                 "%s:%d: core.bus.curve.coreCert: missing (the core's certificate, "
                 "made by interlookctl keygen)",
                 il_config_name(cfg), il_config_line(cfg, "core.bus.curve"));
        return -1;
    }
    const char *env = getenv("INTERLOOK_BUS_ROUTER");
    if (env && *env) bus->router = env;
    env = getenv("INTERLOOK_BUS_PUBLISH");
    if (env && *env) bus->publish = env;
    env = getenv("INTERLOOK_BUS_CORE_CERT");
    if (env && *env) bus->core_cert = env;
    env = getenv("INTERLOOK_BUS_CLIENT_CERTS");
    if (env && *env) bus->client_certs = env;
    env = getenv("INTERLOOK_BUS_INSECURE");
    if (env && *env) bus->insecure = !strcmp(env, "true") || !strcmp(env, "1");
    if (bus->core_cert && !*bus->core_cert) bus->core_cert = NULL;
    return 0;
}

bool il_bus_config_endpoint_local(const char *endpoint)
{
    if (!endpoint) return false;
    if (!strncmp(endpoint, "ipc://", 6) || !strncmp(endpoint, "inproc://", 9)) return true;
    if (strncmp(endpoint, "tcp://", 6)) return false;
    const char *host = endpoint + 6;
    /* "tcp://SOURCE;HOST:PORT" (a connect form): the host is after the ';'. */
    const char *semi = strchr(host, ';');
    if (semi) host = semi + 1;
    const char *colon = strrchr(host, ':');
    if (!colon) return false;
    size_t len = (size_t)(colon - host);
    if (len == 5 && !strncmp(host, "[::1]", 5)) return true;
    if (len == 9 && !strncmp(host, "localhost", 9)) return true;
    if (len < 4 || len > 15 || strncmp(host, "127.", 4)) return false;
    for (size_t i = 4; i < len; i++) /* 127.a.b.c, numeric: not a name beginning "127." */
        if (!((host[i] >= '0' && host[i] <= '9') || host[i] == '.')) return false;
    return true;
}

int il_bus_config_check_exposure(const il_bus_config_t *bus, char *err, size_t errlen)
{
    if (bus->core_cert || bus->insecure) return 0;
    const char *endpoints[] = {bus->router, bus->publish};
    const char *keys[] = {"core.bus.router", "core.bus.publish"};
    for (int i = 0; i < 2; i++) {
        if (il_bus_config_endpoint_local(endpoints[i])) continue;
        snprintf(err, errlen,
                 "%s '%s' is reachable from other hosts and the bus has no CURVE: anyone could "
                 "register as any extension and read every change. Configure core.bus.curve "
                 "(coreCert, clientCerts; keys from interlookctl keygen), or opt out explicitly "
                 "with core.bus.insecure: true",
                 keys[i], endpoints[i]);
        return -1;
    }
    return 0;
}

ilp_client_config_t il_bus_config_client(const il_bus_config_t *bus, const char *name,
                                         const char *instance, uint32_t credit, const char *router,
                                         const char *publish)
{
    return (ilp_client_config_t){.name = name,
                                 .instance = instance,
                                 .credit = credit,
                                 .router_endpoint = router ? router : bus->router,
                                 .publish_endpoint = publish ? publish : bus->publish,
                                 .heartbeat_ms = bus->heartbeat_ms,
                                 .liveness = bus->liveness,
                                 .batch = bus->batch,
                                 .core_cert = bus->core_cert};
}
