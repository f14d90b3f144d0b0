/* bus_config: core.bus.* settings and their environment overrides. */
#include "broker/bus_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* key as one string: a scalar as it is (owned by cfg), a YAML list joined
 * with commas into buf. -1 with the reason left in cfg's error. */
static int s_endpoints(il_config_t *cfg, const char *key, const char *dflt, const char **value,
                       char *buf, size_t buflen)
{
    if (il_config_string(cfg, key, dflt, value) == 0) return 0;
    zlistx_t *list = NULL;
    if (il_config_list(cfg, key, &list) != 0) return -1;
    buf[0] = 0;
    size_t used = 0;
    int rc = 0;
    for (const char *item = zlistx_first(list); item; item = zlistx_next(list)) {
        int n = snprintf(buf + used, buflen - used, "%s%s", used ? "," : "", item);
        if (n < 0 || (size_t)n >= buflen - used) {
            rc = -1;
            break;
        }
        used += (size_t)n;
    }
    zlistx_destroy(&list);
    if (rc != 0 || !used) return -1;
    *value = buf;
    return 0;
}

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
                                        "bindRouter",
                                        "bindPublish",
                                        NULL};
    static const char *const curve[] = {"coreCert", "clientCerts", NULL};
    int64_t heartbeat, liveness, batch, max_credit, max_ext, max_all;
    if (il_config_check_keys(cfg, "core.bus", known) ||
        s_endpoints(cfg, "core.bus.router", IL_BUS_DEFAULT_ROUTER, &bus->router, bus->router_list,
                    sizeof bus->router_list) ||
        s_endpoints(cfg, "core.bus.publish", IL_BUS_DEFAULT_PUBLISH, &bus->publish,
                    bus->publish_list, sizeof bus->publish_list) ||
        il_config_string(cfg, "core.bus.bindRouter", NULL, &bus->bind_router) ||
        il_config_string(cfg, "core.bus.bindPublish", NULL, &bus->bind_publish) ||
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
    env = getenv("INTERLOOK_BUS_BIND_ROUTER");
    if (env && *env) bus->bind_router = env;
    env = getenv("INTERLOOK_BUS_BIND_PUBLISH");
    if (env && *env) bus->bind_publish = env;
    if (bus->bind_router && !*bus->bind_router) bus->bind_router = NULL;
    if (bus->bind_publish && !*bus->bind_publish) bus->bind_publish = NULL;
    size_t routers = il_bus_config_endpoint_count(bus->router);
    size_t publishers = il_bus_config_endpoint_count(bus->publish);
    if (routers != publishers) {
        snprintf(err, errlen,
                 "%s:%d: core.bus.publish: %zu endpoint%s for %zu in core.bus.router (one pair "
                 "per core, paired by index)",
                 il_config_name(cfg), il_config_line(cfg, "core.bus.publish"), publishers,
                 publishers == 1 ? "" : "s", routers);
        return -1;
    }
    for (size_t i = 0; i < routers; i++) {
        char one[512];
        if (il_bus_config_endpoint_at(bus->router, i, one, sizeof one) != 0 ||
            il_bus_config_endpoint_at(bus->publish, i, one, sizeof one) != 0) {
            snprintf(err, errlen, "%s:%d: core.bus.router: endpoint %zu is empty or too long",
                     il_config_name(cfg), il_config_line(cfg, "core.bus.router"), i + 1);
            return -1;
        }
    }
    env = getenv("INTERLOOK_BUS_CORE_CERT");
    if (env && *env) bus->core_cert = env;
    env = getenv("INTERLOOK_BUS_CLIENT_CERTS");
    if (env && *env) bus->client_certs = env;
    env = getenv("INTERLOOK_BUS_INSECURE");
    if (env && *env) bus->insecure = !strcmp(env, "true") || !strcmp(env, "1");
    if (bus->core_cert && !*bus->core_cert) bus->core_cert = NULL;
    return 0;
}

size_t il_bus_config_endpoint_count(const char *list)
{
    if (!list) return 0;
    size_t n = 1;
    for (const char *c = list; *c; c++)
        if (*c == ',') n++;
    return n;
}

int il_bus_config_endpoint_at(const char *list, size_t index, char *out, size_t outlen)
{
    if (!list || !outlen) return -1;
    const char *start = list;
    for (size_t i = 0; i < index; i++) {
        start = strchr(start, ',');
        if (!start) return -1;
        start++;
    }
    const char *end = strchr(start, ',');
    if (!end) end = start + strlen(start);
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t len = (size_t)(end - start);
    if (len == 0 || len >= outlen) return -1;
    memcpy(out, start, len);
    out[len] = 0;
    return 0;
}

int il_bus_config_core_binds(const il_bus_config_t *bus, const char **router, const char **publish,
                             char *err, size_t errlen)
{
    const char *lists[] = {bus->router, bus->publish};
    const char *binds[] = {bus->bind_router, bus->bind_publish};
    const char *keys[] = {"core.bus.router", "core.bus.publish"};
    const char *bind_keys[] = {"core.bus.bindRouter", "core.bus.bindPublish"};
    const char **out[] = {router, publish};
    for (int i = 0; i < 2; i++) {
        if (binds[i]) {
            *out[i] = binds[i];
        } else if (il_bus_config_endpoint_count(lists[i]) == 1) {
            *out[i] = lists[i];
        } else {
            snprintf(err, errlen,
                     "%s lists several endpoints (one per core): give %s, the endpoint this "
                     "core binds",
                     keys[i], bind_keys[i]);
            return -1;
        }
    }
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
    if (il_bus_config_core_binds(bus, &endpoints[0], &endpoints[1], err, errlen) != 0) return -1;
    if (bus->bind_router) keys[0] = "core.bus.bindRouter";
    if (bus->bind_publish) keys[1] = "core.bus.bindPublish";
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
