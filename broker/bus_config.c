/* bus_config: core.bus.* settings and their environment overrides. */
#include "broker/bus_config.h"

#include <stdio.h>
#include <stdlib.h>

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
                                        NULL};
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
                      &max_all)) {
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
    const char *env = getenv("INTERLOOK_BUS_ROUTER");
    if (env && *env) bus->router = env;
    env = getenv("INTERLOOK_BUS_PUBLISH");
    if (env && *env) bus->publish = env;
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
                                 .batch = bus->batch};
}
