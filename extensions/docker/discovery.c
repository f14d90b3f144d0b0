/* discovery: Docker containers and swarm services to interlook services, see discovery.h.
 *
 * Rules this file had to choose where discovery.h leaves room:
 *  - Participation: a label key starting with "interlook.", or a key equal to
 *    one of the selector's entries (the entries are label keys; empty entries
 *    are ignored). Unknown "interlook.*" keys make an object take part but are
 *    otherwise ignored. Labels that are null or not an object mean no labels.
 *  - The first problem is reported, checked in this order: interlook.hosts,
 *    interlook.port, interlook.publicPort, interlook.ssl, interlook.name,
 *    interlook.check, the selector's labels.
 *    A label whose value is not a JSON string is invalid.
 *  - interlook.hosts: split on ',', each entry trimmed of ASCII white space;
 *    an empty entry (blank value, "a,,b", a trailing comma) is invalid. Names
 *    are lower-cased (DNS is case-insensitive), so aliases compare equal. A
 *    trailing dot (an absolute name) is an empty label, hence invalid. The
 *    253 bound counts the whole entry, "*." included. At most
 *    IL_SERVICE_MAX_ALIASES distinct names.
 *  - interlook.port and interlook.publicPort: ASCII digits only (no sign, no
 *    white space); leading zeros are accepted ("080" is 80).
 *  - interlook.name is taken as it is (not trimmed); control characters are
 *    bytes below 0x20 and 0x7f.
 *  - Containers: the container's name is the first entry of Names that has
 *    no '/' after its leading one (Names also lists legacy link aliases such
 *    as "/web/db"), else the first entry without its leading '/'. The compose
 *    name is used when both compose labels are non-empty strings. A port
 *    entry counts when Type is "tcp", PrivatePort is interlook.port and
 *    PublicPort is 1..65535; IP "0.0.0.0", "::", "" or absent give host_ip
 *    (such bindings give no target when host_ip is NULL or empty), another
 *    valid IP address gives itself, an invalid one is ignored. Publishing the
 *    port several times on different host ports gives one target each.
 *  - Containers merged into one service: aliases are the union; a container
 *    whose interlook.ssl, interlook.check, or public port (interlook.publicPort, else
 *    interlook.port), disagrees with the service built so far (from the
 *    containers listed before it) is skipped, naming the label.
 *  - Swarm: an endpoint port counts when its Protocol is "tcp" or absent
 *    (the API's default), TargetPort is interlook.port and PublishedPort is
 *    1..65535; several such ports (up to S_MAX_PUBLISHED distinct ones) give
 *    one target each per node. A task is running when Status.State is
 *    "running" (DesiredState is not read: a task being shut down still
 *    serves until it stops); it needs string ServiceID and NodeID. Tasks on
 *    a node missing from /nodes (the first entry of a duplicated node ID
 *    counts), or whose node has no address, give no target; a service
 *    without an ID matches no task. A node's Status.Addr of "0.0.0.0", "::"
 *    or "" is unspecified, and so is the host of ManagerStatus.Addr; a
 *    ManagerStatus.Addr with several ':' and no brackets is a bare IPv6
 *    address. Weights are capped to IL_SERVICE_MAX_WEIGHT.
 *  - Swarm name clashes: services are taken in the order of the array; a
 *    service that fails validation, or is not published, claims no name.
 *  - Bounds: a service that would exceed IL_SERVICE_MAX_TARGETS is skipped (in
 *    containers mode, the container that would exceed it); so is an object
 *    whose name (compose or container) would exceed IL_SERVICE_MAX_NAME.
 *  - Reasons quote at most S_SHOW characters of a bad value, control
 *    characters shown as '?'. The callback gets "" for a missing Id/ID or
 *    name (container name, or Spec.Name in swarm mode); skip may be NULL.
 *  - Held (discovery_*_held): a container in any State but "removing", or a
 *    swarm service, that takes part, whether its labels are valid or not
 *    (one held too many only delays a deletion by the grace); named with a
 *    non-empty string interlook.name, else as when publishing (a compose or
 *    container name too long to publish holds nothing).
 *  - Malformed entries (not an object, fields of the wrong type) are ignored
 *    silently, or skipped when they carry interlook labels and the problem
 *    prevents publishing. tasks and nodes must be arrays too, else NULL. */
#include "extensions/docker/discovery.h"
#include "common/alloc.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_REASON        512 /* size of a skip reason */
#define S_SHOW          64  /* characters of a bad value quoted in a reason */
#define S_MAX_ID        128 /* longer swarm IDs are ignored (real ones have 25 characters) */
#define S_MAX_PUBLISHED 16  /* swarm: published ports of one target port taken into account */
#define S_PREFIX        "interlook."
#define S_L_HOSTS       "interlook.hosts"
#define S_L_PORT        "interlook.port"
#define S_L_PUBLIC_PORT "interlook.publicPort"
#define S_L_SSL         "interlook.ssl"
#define S_L_NAME        "interlook.name"
#define S_L_CHECK       "interlook.check"
#define S_L_CPROJ       "com.docker.compose.project"
#define S_L_CSERV       "com.docker.compose.service"

/* What a step ended with. */
enum { S_OK = 0, S_IGNORE = 1, S_SKIP = 2 };

/* The interlook labels of one object, validated. */
typedef struct {
    const char *hosts;                    /* interlook.hosts, valid */
    uint16_t port;                        /* interlook.port */
    uint16_t public_port;                 /* interlook.publicPort, else interlook.port */
    bool tls;                             /* interlook.ssl, false when absent */
    const char *name;                     /* interlook.name, NULL when absent */
    char check[IL_SERVICE_MAX_CHECK + 1]; /* interlook.check normalised, "" when absent */
} s_spec_t;

/* Helpers ------------------------------------------------------------------- */

/* A string member of object, "" when absent or not a string. */
static const char *s_str(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "";
}

/* An integer member of object within 1..65535, 0 otherwise. */
static uint16_t s_port(const json_t *object, const char *key)
{
    const json_t *value = json_object_get(object, key);
    if (!json_is_integer(value)) return 0;
    json_int_t n = json_integer_value(value);
    return n >= 1 && n <= 65535 ? (uint16_t)n : 0;
}

/* Copies a value for a reason: at most S_SHOW characters, control characters as '?'. */
static const char *s_show(const char *value, char *out, size_t outlen)
{
    size_t n = 0;
    for (; n < S_SHOW && n + 4 < outlen && value[n]; n++) {
        unsigned char c = (unsigned char)value[n];
        out[n] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (value[n]) {
        if (n + 4 > outlen) n = outlen - 4;
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

static bool s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool s_is_ldh(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* True for a DNS name: labels of 1..63 letters, digits and '-' (not at either
 * end of a label), 253 characters at most, optionally after a "*." wildcard. */
static bool s_dns_name_valid(const char *name, size_t len)
{
    if (len > IL_SERVICE_MAX_ALIAS) return false;
    if (len >= 2 && name[0] == '*' && name[1] == '.') {
        name += 2;
        len -= 2;
    }
    if (len == 0) return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && name[i] != '.') {
            if (!s_is_ldh(name[i])) return false;
            continue;
        }
        size_t label = i - start;
        if (label == 0 || label > 63 || name[start] == '-' || name[i - 1] == '-') return false;
        start = i + 1;
    }
    return true;
}

/* Checks interlook.hosts, and adds its names (lower-cased) to service when
 * not NULL. S_OK, or S_SKIP with the reason. */
static int s_hosts_apply(const char *value, il_service_t *service, char *reason, size_t len)
{
    char show[S_SHOW + 4];
    const char *p = value;
    while (s_is_space(*p))
        p++;
    if (!*p) {
        snprintf(reason, len, "label " S_L_HOSTS ": empty");
        return S_SKIP;
    }
    p = value;
    for (;;) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && s_is_space(*a))
            a++;
        while (b > a && s_is_space(b[-1]))
            b--;
        size_t n = (size_t)(b - a);
        if (n == 0) {
            snprintf(reason, len, "label " S_L_HOSTS ": '%s' has an empty entry",
                     s_show(value, show, sizeof show));
            return S_SKIP;
        }
        char name[IL_SERVICE_MAX_ALIAS + 1];
        if (!s_dns_name_valid(a, n)) {
            size_t shown = n < sizeof name ? n : sizeof name - 1;
            memcpy(name, a, shown);
            name[shown] = '\0';
            snprintf(reason, len, "label " S_L_HOSTS ": '%s' is not a DNS name",
                     s_show(name, show, sizeof show));
            return S_SKIP;
        }
        for (size_t i = 0; i < n; i++)
            name[i] = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] - 'A' + 'a') : a[i];
        name[n] = '\0';
        if (service && il_service_add_alias(service, name)) { /* valid: only the count */
            snprintf(reason, len, "label " S_L_HOSTS ": more than %d names",
                     IL_SERVICE_MAX_ALIASES);
            return S_SKIP;
        }
        if (!*end) return S_OK;
        p = end + 1;
    }
}

/* Parses a port number: ASCII digits, 1..65535. 0 when invalid. */
static uint16_t s_port_parse(const char *text)
{
    uint32_t n = 0;
    if (!*text) return 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        n = n * 10 + (uint32_t)(*p - '0');
        if (n > 65535) return 0;
    }
    return (uint16_t)n;
}

/* Parses true/false/yes/no/1/0 (any case). -1 when invalid. */
static int s_bool_parse(const char *text)
{
    if (!strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcmp(text, "1")) return 1;
    if (!strcasecmp(text, "false") || !strcasecmp(text, "no") || !strcmp(text, "0")) return 0;
    return -1;
}

/* Finds label key: 1 with its value, 0 when absent, S_SKIP when not a string. */
static int s_label(const json_t *labels, const char *key, const char **value, char *reason,
                   size_t len)
{
    const json_t *v = json_object_get(labels, key);
    *value = NULL;
    if (!v) return 0;
    if (!json_is_string(v)) {
        snprintf(reason, len, "label %s: not a string", key);
        return S_SKIP;
    }
    *value = json_string_value(v);
    return 1;
}

static bool s_selected(const char *key, const discovery_config_t *config)
{
    if (!strncmp(key, S_PREFIX, strlen(S_PREFIX))) return true;
    for (const char *const *sel = config->label_selector; sel && *sel; sel++)
        if (**sel && !strcmp(key, *sel)) return true;
    return false;
}

/* True when labels (an object, or anything else for none) make an object take part. */
static bool s_takes_part(const json_t *labels, const discovery_config_t *config)
{
    if (!json_is_object(labels)) return false;
    for (void *it = json_object_iter((json_t *)labels); it;
         it = json_object_iter_next((json_t *)labels, it))
        if (s_selected(json_object_iter_key(it), config)) return true;
    return false;
}

/* Reads and checks an object's labels (an object, or anything else for
 * none). S_IGNORE when the object takes no part, S_SKIP with the reason, or
 * S_OK with spec filled in. */
static int s_spec_read(const json_t *labels, const discovery_config_t *config, s_spec_t *spec,
                       char *reason, size_t len)
{
    char show[S_SHOW + 4];
    memset(spec, 0, sizeof *spec);
    if (!s_takes_part(labels, config)) return S_IGNORE;

    const char *text;
    int rc = s_label(labels, S_L_HOSTS, &text, reason, len);
    if (rc == S_SKIP) return S_SKIP;
    if (rc == 0) {
        snprintf(reason, len, "missing label " S_L_HOSTS);
        return S_SKIP;
    }
    if (s_hosts_apply(text, NULL, reason, len) != S_OK) return S_SKIP;
    spec->hosts = text;

    rc = s_label(labels, S_L_PORT, &text, reason, len);
    if (rc == S_SKIP) return S_SKIP;
    if (rc == 0) {
        snprintf(reason, len, "missing label " S_L_PORT);
        return S_SKIP;
    }
    spec->port = s_port_parse(text);
    if (!spec->port) {
        snprintf(reason, len, "label " S_L_PORT ": '%s' is not a port number (1..65535)",
                 s_show(text, show, sizeof show));
        return S_SKIP;
    }

    rc = s_label(labels, S_L_PUBLIC_PORT, &text, reason, len);
    if (rc == S_SKIP) return S_SKIP;
    spec->public_port = rc == 1 ? s_port_parse(text) : spec->port;
    if (!spec->public_port) {
        snprintf(reason, len, "label " S_L_PUBLIC_PORT ": '%s' is not a port number (1..65535)",
                 s_show(text, show, sizeof show));
        return S_SKIP;
    }

    rc = s_label(labels, S_L_SSL, &text, reason, len);
    if (rc == S_SKIP) return S_SKIP;
    if (rc == 1) {
        int b = s_bool_parse(text);
        if (b < 0) {
            snprintf(reason, len,
                     "label " S_L_SSL ": '%s' is not a boolean (true/false/yes/no/1/0)",
                     s_show(text, show, sizeof show));
            return S_SKIP;
        }
        spec->tls = b == 1;
    }

    rc = s_label(labels, S_L_NAME, &text, reason, len);
    if (rc == S_SKIP) return S_SKIP;
    if (rc == 1) {
        size_t n = strlen(text);
        if (n == 0) {
            snprintf(reason, len, "label " S_L_NAME ": empty");
            return S_SKIP;
        }
        if (n > IL_SERVICE_MAX_NAME) {
            snprintf(reason, len, "label " S_L_NAME ": '%s' is longer than %d characters",
                     s_show(text, show, sizeof show), IL_SERVICE_MAX_NAME);
            return S_SKIP;
        }
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) {
                snprintf(reason, len, "label " S_L_NAME ": '%s' contains a control character",
                         s_show(text, show, sizeof show));
                return S_SKIP;
            }
        }
        spec->name = text;
    }

    rc = s_label(labels, S_L_CHECK, &text, reason, len);
    if (rc == S_SKIP) return S_SKIP;
    if (rc == 1) {
        il_service_check_t check;
        char why[200];
        if (il_service_check_parse(text, &check, why, sizeof why)) {
            snprintf(reason, len, "label " S_L_CHECK ": %s", why);
            return S_SKIP;
        }
        il_service_check_format(&check, spec->check, sizeof spec->check);
    }

    for (const char *const *sel = config->label_selector; sel && *sel; sel++) {
        if (!**sel) continue;
        if (!json_object_get(labels, *sel)) {
            snprintf(reason, len, "missing label %s (label selector)", *sel);
            return S_SKIP;
        }
    }
    return S_OK;
}

/* A new service named name from spec: provider, tls, public port and aliases. S_OK or S_SKIP. */
static int s_candidate_new(const char *name, const s_spec_t *spec, const discovery_config_t *config,
                           il_service_t **service_p, char *reason, size_t len)
{
    il_service_t *service = il_service_new(name);
    *service_p = NULL;
    if (!service) { /* an empty name: the callers refuse it first */
        snprintf(reason, len, "the service has no name");
        return S_SKIP;
    }
    il_service_set_string(&service->provider, config->provider);
    service->tls = spec->tls;
    service->port = spec->public_port;
    if (spec->check[0]) il_service_set_string(&service->check, spec->check);
    int rc = s_hosts_apply(spec->hosts, service, reason, len);
    if (rc != S_OK) {
        il_service_destroy(&service);
        return rc;
    }
    *service_p = service;
    return S_OK;
}

static bool s_has_target(const il_service_t *service, const char *host, uint16_t port)
{
    for (size_t i = 0; i < service->target_count; i++)
        if (service->targets[i].port == port && !strcmp(service->targets[i].host, host))
            return true;
    return false;
}

static bool s_has_alias(const il_service_t *service, const char *alias)
{
    for (size_t i = 0; i < service->alias_count; i++)
        if (!strcmp(service->dns_aliases[i], alias)) return true;
    return false;
}

/* Adds a target whose host and port are valid. S_OK, or S_SKIP (too many targets). */
static int s_add_target(il_service_t *service, const char *host, uint16_t port, uint32_t weight,
                        char *reason, size_t len)
{
    if (il_service_add_target(service, host, port, weight) == 0) return S_OK;
    snprintf(reason, len, "service '%s' would have more than %d targets", service->name,
             IL_SERVICE_MAX_TARGETS);
    return S_SKIP;
}

static void s_item_destroy(void **item)
{
    il_service_destroy((il_service_t **)item);
}

static zhashx_t *s_hash_new(void)
{
    zhashx_t *hash = zhashx_new();
    zhashx_set_destructor(hash, s_item_destroy);
    return hash;
}

static void s_report(discovery_skip_fn *skip, void *arg, const char *id, const char *name,
                     const char *reason)
{
    if (skip) skip(arg, id, name, reason);
}

/* Containers ---------------------------------------------------------------- */

/* The container's own name without its '/', "" when none. */
static const char *s_container_name(const json_t *container)
{
    const json_t *names = json_object_get(container, "Names");
    const char *first = NULL;
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *text = json_string_value(json_array_get(names, i));
        if (!text) continue;
        if (*text == '/') text++;
        if (!first) first = text;
        if (!strchr(text, '/')) return text;
    }
    return first ? first : "";
}

/* True when ip is the wildcard address of the other family than host's. */
static bool s_other_family_wildcard(const char *ip, const char *host)
{
    bool v6_host = strchr(host, ':') != NULL;
    return !strcmp(ip, v6_host ? "0.0.0.0" : "::");
}

/* True when a tcp binding of private port on the wildcard address of host's
 * family is in ports. */
static bool s_has_family_wildcard(const json_t *ports, uint16_t private_port, const char *host)
{
    const char *wildcard = strchr(host, ':') ? "::" : "0.0.0.0";
    for (size_t i = 0; i < json_array_size(ports); i++) {
        const json_t *entry = json_array_get(ports, i);
        const char *type = json_string_value(json_object_get(entry, "Type"));
        const char *ip = json_string_value(json_object_get(entry, "IP"));
        if (type && !strcmp(type, "tcp") && ip && !strcmp(ip, wildcard) &&
            s_port(entry, "PrivatePort") == private_port && s_port(entry, "PublicPort"))
            return true;
    }
    return false;
}

/* Adds the container's published targets for spec->port to service (which
 * holds only this container's targets so far). S_OK or S_SKIP. */
static int s_container_targets(il_service_t *service, const json_t *container, const s_spec_t *spec,
                               const discovery_config_t *config, char *reason, size_t len)
{
    bool wildcard_unusable = false;
    const json_t *ports = json_object_get(container, "Ports");
    for (size_t i = 0; i < json_array_size(ports); i++) {
        const json_t *entry = json_array_get(ports, i);
        const char *type = json_string_value(json_object_get(entry, "Type"));
        if (!type || strcmp(type, "tcp") || s_port(entry, "PrivatePort") != spec->port) continue;
        uint16_t public_port = s_port(entry, "PublicPort");
        if (!public_port) continue;
        const json_t *ip_json = json_object_get(entry, "IP");
        if (ip_json && !json_is_string(ip_json)) continue;
        const char *ip = json_string_value(ip_json);
        const char *host = ip;
        if (!ip || !*ip || !strcmp(ip, "0.0.0.0") || !strcmp(ip, "::")) {
            host = config->host_ip;
            if (!host || !*host || strlen(host) > IL_SERVICE_MAX_HOST) {
                wildcard_unusable = true;
                continue;
            }
            /* Docker publishes a port on 0.0.0.0 and on ::, and may give
             * them different host ports: when host_ip's family has its
             * binding, the other one's is not what host_ip reaches. */
            if (ip && s_other_family_wildcard(ip, host) &&
                s_has_family_wildcard(ports, spec->port, host))
                continue;
        } else if (!il_service_ip_valid(ip)) {
            continue;
        }
        if (s_has_target(service, host, public_port)) continue; /* 0.0.0.0 and :: */
        int rc = s_add_target(service, host, public_port, 1, reason, len);
        if (rc != S_OK) return rc;
    }
    if (service->target_count == 0) {
        if (wildcard_unusable)
            snprintf(reason, len,
                     S_L_PORT " %u is published on all interfaces but no host_ip is configured",
                     spec->port);

        else
            snprintf(reason, len, S_L_PORT " %u is not published (docker run -p ...:%u)",
                     spec->port, spec->port);
        return S_SKIP;
    }
    return S_OK;
}

/* Adds candidate's targets and aliases to service, checking first that it fits. */
static int s_merge(il_service_t *service, const il_service_t *candidate, char *reason, size_t len)
{
    if (service->tls != candidate->tls) {
        snprintf(reason, len,
                 "label " S_L_SSL ": %s here, but %s on another container of service '%s'",
                 candidate->tls ? "true" : "false", service->tls ? "true" : "false", service->name);
        return S_SKIP;
    }
    if (service->port != candidate->port) {
        snprintf(reason, len,
                 "label " S_L_PUBLIC_PORT " (else " S_L_PORT
                 "): public port %u here, but %u on another container of service '%s'",
                 candidate->port, service->port, service->name);
        return S_SKIP;
    }
    if (!!service->check != !!candidate->check ||
        (service->check && strcmp(service->check, candidate->check))) {
        snprintf(reason, len,
                 "label " S_L_CHECK ": '%s' here, but '%s' on another container of service '%s'",
                 candidate->check ? candidate->check : "", service->check ? service->check : "",
                 service->name);
        return S_SKIP;
    }
    size_t new_targets = 0, new_aliases = 0;
    for (size_t i = 0; i < candidate->target_count; i++)
        if (!s_has_target(service, candidate->targets[i].host, candidate->targets[i].port))
            new_targets++;
    for (size_t i = 0; i < candidate->alias_count; i++)
        if (!s_has_alias(service, candidate->dns_aliases[i])) new_aliases++;
    if (service->target_count + new_targets > IL_SERVICE_MAX_TARGETS) {
        snprintf(reason, len, "service '%s' would have more than %d targets", service->name,
                 IL_SERVICE_MAX_TARGETS);
        return S_SKIP;
    }
    if (service->alias_count + new_aliases > IL_SERVICE_MAX_ALIASES) {
        snprintf(reason, len, "label " S_L_HOSTS ": service '%s' would have more than %d names",
                 service->name, IL_SERVICE_MAX_ALIASES);
        return S_SKIP;
    }
    /* valid, and within the bounds checked above: these cannot fail */
    for (size_t i = 0; i < candidate->target_count; i++)
        il_service_add_target(service, candidate->targets[i].host, candidate->targets[i].port,
                              candidate->targets[i].weight);
    for (size_t i = 0; i < candidate->alias_count; i++)
        il_service_add_alias(service, candidate->dns_aliases[i]);
    return S_OK;
}

/* The container's service name into buf: interlook.name, the compose name or
 * the container's name. S_OK or S_SKIP. */
static int s_container_service_name(const json_t *container, const s_spec_t *spec, char *buf,
                                    size_t buflen, char *reason, size_t len)
{
    if (spec->name) {
        snprintf(buf, buflen, "%s", spec->name);
        return S_OK;
    }
    const json_t *labels = json_object_get(container, "Labels");
    const char *project = json_string_value(json_object_get(labels, S_L_CPROJ));
    const char *cservice = json_string_value(json_object_get(labels, S_L_CSERV));
    if (project && *project && cservice && *cservice) {
        size_t np = strlen(project), ns = strlen(cservice);
        if (np + 1 + ns > IL_SERVICE_MAX_NAME || np + 1 + ns >= buflen) {
            snprintf(reason, len,
                     "labels " S_L_CPROJ " and " S_L_CSERV
                     ": the name '<project>_<service>' would be longer than %d characters (set "
                     "label " S_L_NAME ")",
                     IL_SERVICE_MAX_NAME);
            return S_SKIP;
        }
        memcpy(buf, project, np);
        buf[np] = '_';
        memcpy(buf + np + 1, cservice, ns + 1);
        return S_OK;
    }
    const char *cname = s_container_name(container);
    if (!*cname || strlen(cname) > IL_SERVICE_MAX_NAME) {
        snprintf(reason, len, "the container has no usable name (set label " S_L_NAME ")");
        return S_SKIP;
    }
    snprintf(buf, buflen, "%s", cname);
    return S_OK;
}

/* One container into services. S_OK, S_IGNORE or S_SKIP (the reason is set
 * for S_SKIP). */
static int s_container(zhashx_t *services, const json_t *container,
                       const discovery_config_t *config, char *reason, size_t len)
{
    if (!json_is_object(container)) return S_IGNORE;
    const char *state = json_string_value(json_object_get(container, "State"));
    if (!state || strcmp(state, "running")) return S_IGNORE;
    s_spec_t spec;
    int rc = s_spec_read(json_object_get(container, "Labels"), config, &spec, reason, len);
    if (rc != S_OK) return rc;
    char name[IL_SERVICE_MAX_NAME + 1];
    rc = s_container_service_name(container, &spec, name, sizeof name, reason, len);
    if (rc != S_OK) return rc;

    il_service_t *candidate = NULL;
    rc = s_candidate_new(name, &spec, config, &candidate, reason, len);
    if (rc == S_OK) rc = s_container_targets(candidate, container, &spec, config, reason, len);
    if (rc == S_OK) {
        il_service_t *service = zhashx_lookup(services, name);
        if (service) {
            rc = s_merge(service, candidate, reason, len);
        } else {
            zhashx_insert(services, name, candidate); /* a new key: cannot fail */
            candidate = NULL;                         /* the hash owns it */
        }
    }
    il_service_destroy(&candidate);
    return rc;
}

zhashx_t *discovery_containers(const json_t *containers, const discovery_config_t *config,
                               discovery_skip_fn *skip, void *arg)
{
    assert(config);
    if (!json_is_array(containers)) return NULL;
    zhashx_t *services = s_hash_new();
    for (size_t i = 0; i < json_array_size(containers); i++) {
        const json_t *container = json_array_get(containers, i);
        char reason[S_REASON] = "";
        int rc = s_container(services, container, config, reason, sizeof reason);
        if (rc == S_SKIP)
            s_report(skip, arg, s_str(container, "Id"), s_container_name(container), reason);
    }
    return services;
}

/* Adds name to the set held. */
static void s_hold(zhashx_t *held, const char *name)
{
    if (!zhashx_lookup(held, name)) zhashx_insert(held, name, (void *)"");
}

/* interlook.name when it is a non-empty string, else NULL. */
static const char *s_label_name(const json_t *labels)
{
    const char *name = json_string_value(json_object_get(labels, S_L_NAME));
    return name && *name ? name : NULL;
}

zhashx_t *discovery_containers_held(const json_t *containers, const discovery_config_t *config)
{
    assert(config);
    if (!json_is_array(containers)) return NULL;
    zhashx_t *held = zhashx_new();
    for (size_t i = 0; i < json_array_size(containers); i++) {
        const json_t *container = json_array_get(containers, i);
        const json_t *labels = json_object_get(container, "Labels");
        const char *state = json_string_value(json_object_get(container, "State"));
        if (!json_is_object(container) || (state && !strcmp(state, "removing")) ||
            !s_takes_part(labels, config))
            continue;
        /* Named as s_container names it, without validating the labels: one
         * held too many only keeps the grace. */
        s_spec_t spec = {.name = s_label_name(labels)};
        char name[IL_SERVICE_MAX_NAME + 1], reason[S_REASON];
        if (s_container_service_name(container, &spec, name, sizeof name, reason, sizeof reason) !=
            S_OK)
            continue;
        s_hold(held, name);
    }
    return held;
}

/* Swarm --------------------------------------------------------------------- */

static bool s_unspecified(const char *addr)
{
    return !*addr || !strcmp(addr, "0.0.0.0") || !strcmp(addr, "::");
}

/* The host part of "ip:port" or "[v6]:port" into out; "" when there is none. */
static void s_host_part(const char *addr, char *out, size_t outlen)
{
    const char *start = addr, *end;
    if (*addr == '[') {
        start = addr + 1;
        end = strchr(start, ']');
        if (!end) end = start; /* malformed: no host */
    } else {
        end = strrchr(addr, ':');
        if (!end || strchr(addr, ':') != end) end = addr + strlen(addr); /* no port, or bare v6 */
    }
    size_t n = (size_t)(end - start);
    if (n >= outlen) n = 0; /* too long for a host: none */
    memcpy(out, start, n);
    out[n] = '\0';
}

/* The node's address into out (IL_SERVICE_MAX_HOST + 1 bytes): Status.Addr,
 * else ManagerStatus.Addr's host, else host_ip. "" when it has none. */
static void s_node_addr(const json_t *node, const char *host_ip, char *out, size_t outlen)
{
    const char *addr = s_str(json_object_get(node, "Status"), "Addr");
    char manager[IL_SERVICE_MAX_HOST + 1] = "";
    if (s_unspecified(addr)) {
        s_host_part(s_str(json_object_get(node, "ManagerStatus"), "Addr"), manager, sizeof manager);
        addr = manager;
    }
    if (s_unspecified(addr)) addr = host_ip ? host_ip : "";
    if (strlen(addr) >= outlen) addr = "";
    snprintf(out, outlen, "%s", addr);
}

static void s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

/* Node ID -> address (a string the hash owns), for nodes that have one. */
static zhashx_t *s_nodes_index(const json_t *nodes, const discovery_config_t *config)
{
    zhashx_t *index = zhashx_new();
    zhashx_set_destructor(index, s_free_item);
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        const json_t *node = json_array_get(nodes, i);
        const char *id = s_str(node, "ID");
        if (!*id || strlen(id) > S_MAX_ID || zhashx_lookup(index, id)) continue;
        char addr[IL_SERVICE_MAX_HOST + 1];
        s_node_addr(node, config->host_ip, addr, sizeof addr);
        if (!*addr) continue;
        zhashx_insert(index, id, il_strdup(addr)); /* a new key: cannot fail */
    }
    return index;
}

/* Running tasks counted by "<ServiceID> <NodeID>" (the counts stored as
 * pointers). */
static zhashx_t *s_tasks_index(const json_t *tasks)
{
    zhashx_t *index = zhashx_new();
    for (size_t i = 0; i < json_array_size(tasks); i++) {
        const json_t *task = json_array_get(tasks, i);
        const char *state = s_str(json_object_get(task, "Status"), "State");
        const char *service = s_str(task, "ServiceID");
        const char *node = s_str(task, "NodeID");
        if (strcmp(state, "running") || !*service || !*node || strlen(service) > S_MAX_ID ||
            strlen(node) > S_MAX_ID)
            continue;
        char key[2 * S_MAX_ID + 2];
        snprintf(key, sizeof key, "%s %s", service, node);
        uintptr_t count = (uintptr_t)zhashx_lookup(index, key);
        zhashx_update(index, key, (void *)(count + 1));
    }
    return index;
}

/* The distinct PublishedPorts of the service's tcp endpoint ports whose
 * TargetPort is port, into published (up to max). Returns how many. */
static size_t s_published_ports(const json_t *service, uint16_t port, uint16_t *published,
                                size_t max)
{
    size_t count = 0;
    const json_t *ports = json_object_get(json_object_get(service, "Endpoint"), "Ports");
    for (size_t i = 0; i < json_array_size(ports); i++) {
        const json_t *entry = json_array_get(ports, i);
        const json_t *protocol = json_object_get(entry, "Protocol");
        if (protocol && (!json_is_string(protocol) || strcmp(json_string_value(protocol), "tcp")))
            continue;
        if (s_port(entry, "TargetPort") != port) continue;
        uint16_t p = s_port(entry, "PublishedPort");
        bool seen = p == 0;
        for (size_t k = 0; k < count && !seen; k++)
            seen = published[k] == p;
        if (!seen && count < max) published[count++] = p;
    }
    return count;
}

/* The swarm indexes and the names claimed so far. */
typedef struct {
    zhashx_t *nodes;   /* node ID -> address */
    zhashx_t *tasks;   /* "<service ID> <node ID>" -> running task count */
    zhashx_t *claimed; /* service name -> the json_t service that claimed it (borrowed) */
} s_swarm_t;

/* One swarm service into services. S_OK, S_IGNORE or S_SKIP (the reason is
 * set for S_SKIP). */
static int s_swarm_service(zhashx_t *services, s_swarm_t *swarm, const json_t *object,
                           const discovery_config_t *config, char *reason, size_t len)
{
    if (!json_is_object(object)) return S_IGNORE;
    const json_t *spec_json = json_object_get(object, "Spec");
    s_spec_t spec;
    int rc = s_spec_read(json_object_get(spec_json, "Labels"), config, &spec, reason, len);
    if (rc != S_OK) return rc;
    const char *id = s_str(object, "ID");
    const char *name = spec.name ? spec.name : s_str(spec_json, "Name");
    if (!*name || strlen(name) > IL_SERVICE_MAX_NAME) {
        snprintf(reason, len, "the service has no usable name (set label " S_L_NAME ")");
        return S_SKIP;
    }
    uint16_t published[S_MAX_PUBLISHED];
    size_t port_count = s_published_ports(object, spec.port, published, S_MAX_PUBLISHED);
    if (port_count == 0) {
        snprintf(reason, len,
                 S_L_PORT " %u is not published (docker service create --publish ...:%u)",
                 spec.port, spec.port);
        return S_SKIP;
    }
    const json_t *other = zhashx_lookup(swarm->claimed, name);
    if (other) {
        const json_t *other_spec = json_object_get(other, "Spec");
        snprintf(reason, len, "service name '%s' of %s (%s) is already used by %s (%s)", name,
                 s_str(spec_json, "Name"), id, s_str(other_spec, "Name"), s_str(other, "ID"));
        return S_SKIP;
    }

    il_service_t *candidate = NULL;
    rc = s_candidate_new(name, &spec, config, &candidate, reason, len);
    if (rc != S_OK) return rc;
    if (*id && strlen(id) <= S_MAX_ID) {
        for (const char *addr = zhashx_first(swarm->nodes); addr && rc == S_OK;
             addr = zhashx_next(swarm->nodes)) {
            char key[2 * S_MAX_ID + 2];
            snprintf(key, sizeof key, "%s %s", id, (const char *)zhashx_cursor(swarm->nodes));
            uintptr_t count = (uintptr_t)zhashx_lookup(swarm->tasks, key);
            if (count > IL_SERVICE_MAX_WEIGHT) count = IL_SERVICE_MAX_WEIGHT;
            for (size_t k = 0; k < port_count && count && rc == S_OK; k++)
                rc = s_add_target(candidate, addr, published[k], (uint32_t)count, reason, len);
        }
    }
    if (rc != S_OK) {
        il_service_destroy(&candidate);
        return rc;
    }
    /* new keys (claimed holds every name in services): cannot fail */
    zhashx_insert(services, name, candidate); /* services owns candidate now */
    zhashx_insert(swarm->claimed, name, (void *)object);
    return S_OK;
}

zhashx_t *discovery_swarm_held(const json_t *services, const discovery_config_t *config)
{
    assert(config);
    if (!json_is_array(services)) return NULL;
    zhashx_t *held = zhashx_new();
    for (size_t i = 0; i < json_array_size(services); i++) {
        const json_t *spec = json_object_get(json_array_get(services, i), "Spec");
        const json_t *labels = json_object_get(spec, "Labels");
        if (!s_takes_part(labels, config)) continue;
        const char *name = s_label_name(labels);
        if (!name) name = s_str(spec, "Name");
        if (*name) s_hold(held, name);
    }
    return held;
}

zhashx_t *discovery_swarm(const json_t *services, const json_t *tasks, const json_t *nodes,
                          const discovery_config_t *config, discovery_skip_fn *skip, void *arg)
{
    assert(config);
    if (!json_is_array(services) || !json_is_array(tasks) || !json_is_array(nodes)) return NULL;
    zhashx_t *result = s_hash_new();
    s_swarm_t swarm = {s_nodes_index(nodes, config), s_tasks_index(tasks), zhashx_new()};
    for (size_t i = 0; i < json_array_size(services); i++) {
        const json_t *object = json_array_get(services, i);
        char reason[S_REASON] = "";
        int rc = s_swarm_service(result, &swarm, object, config, reason, sizeof reason);
        if (rc == S_SKIP)
            s_report(skip, arg, s_str(object, "ID"), s_str(json_object_get(object, "Spec"), "Name"),
                     reason);
    }
    zhashx_destroy(&swarm.nodes);
    zhashx_destroy(&swarm.tasks);
    zhashx_destroy(&swarm.claimed);
    return result;
}

/* Events --------------------------------------------------------------------- */

/* The string at key into buf, "" when absent, not a string or too long. */
static void s_event_field(const json_t *obj, const char *key, char *buf, size_t size)
{
    const char *text = json_string_value(json_object_get(obj, key));
    buf[0] = '\0';
    if (text && strlen(text) < size) memcpy(buf, text, strlen(text) + 1);
}

int discovery_event_parse(const char *line, size_t len, discovery_event_t *event, char *err,
                          size_t errlen)
{
    memset(event, 0, sizeof *event);
    json_error_t jerr;
    json_t *root = json_loadb(line, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        snprintf(err, errlen, "%s", root ? "not a JSON object" : jerr.text);
        json_decref(root);
        return -1;
    }
    s_event_field(root, "Type", event->type, sizeof event->type);
    s_event_field(root, "Action", event->action, sizeof event->action);
    s_event_field(json_object_get(root, "Actor"), "ID", event->id, sizeof event->id);
    json_t *when = json_object_get(root, "time");
    if (json_is_integer(when)) event->time = json_integer_value(when);
    json_decref(root);
    return 0;
}
