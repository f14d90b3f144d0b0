/* service: the service data model and its msgpack codec, see service.h. */
#include "common/service.h"
#include "common/alloc.h"
#include "common/codec.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

il_service_t *il_service_new(const char *name)
{
    if (!name || !*name) return NULL;
    il_service_t *self = il_calloc(1, sizeof *self);
    self->name = il_strdup(name);
    return self;
}

void il_service_destroy(il_service_t **self_p)
{
    if (!self_p || !*self_p) return;
    il_service_t *self = *self_p;
    for (size_t i = 0; i < self->target_count; i++)
        free(self->targets[i].host);
    for (size_t i = 0; i < self->alias_count; i++)
        free(self->dns_aliases[i]);
    free(self->targets);
    free(self->dns_aliases);
    free(self->name);
    free(self->provider);
    free(self->public_ip);
    free(self->check);
    free(self);
    *self_p = NULL;
}

int il_service_set_string(char **field, const char *value)
{
    char *copy = il_strdup(value);
    free(*field);
    *field = copy;
    return 0;
}

/* Bytes a check's path may hold: a URL's, without what HAProxy's
 * configuration reads as a comment, a quote, an escape or a variable. */
static bool s_uri_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~/?&=%:@!*+,;()[]", c));
}

bool il_service_check_path_valid(const char *path)
{
    if (!path || path[0] != '/' || strlen(path) > IL_SERVICE_MAX_CHECK_PATH) return false;
    for (const char *p = path; *p; p++)
        if (!s_uri_char(*p)) return false;
    return true;
}

int il_service_check_expect_parse(const char *text, int *lo, int *hi)
{
    int a = 0, b = 0, used = 0;
    if (!text || !*text || strspn(text, "0123456789-") != strlen(text)) return -1;
    if (sscanf(text, "%3d%n", &a, &used) == 1 && text[used] == '\0')
        b = a;
    else if (!(sscanf(text, "%3d-%3d%n", &a, &b, &used) == 2 && text[used] == '\0'))
        return -1;
    if (a < 100 || b > 599 || a > b) return -1;
    *lo = a;
    *hi = b;
    return 0;
}

int il_service_check_parse(const char *text, il_service_check_t *check, char *err, size_t errlen)
{
    memset(check, 0, sizeof *check);
    if (!text) text = "";
    if (!strcmp(text, "tcp")) {
        check->kind = IL_SERVICE_CHECK_TCP;
        return 0;
    }
    if (!strcmp(text, "none")) {
        check->kind = IL_SERVICE_CHECK_NONE;
        return 0;
    }
    check->kind = IL_SERVICE_CHECK_HTTP;
    if (!strcmp(text, "http")) return 0;
    if (strncmp(text, "http:", 5)) {
        snprintf(err, errlen, "'%.64s%s': must be tcp, none, http or http:PATH[ STATUS[-STATUS]]",
                 text, strlen(text) > 64 ? "..." : "");
        return -1;
    }
    const char *path = text + 5, *blank = strchr(path, ' ');
    size_t n = blank ? (size_t)(blank - path) : strlen(path);
    if (n > IL_SERVICE_MAX_CHECK_PATH) {
        snprintf(err, errlen, "the path is longer than %d bytes", IL_SERVICE_MAX_CHECK_PATH);
        return -1;
    }
    memcpy(check->path, path, n);
    check->path[n] = '\0';
    if (!il_service_check_path_valid(check->path)) {
        snprintf(err, errlen,
                 "'%.64s%s': not a URI path starting with '/' (no blank, quote, '#', '\\' or '$')",
                 check->path, n > 64 ? "..." : "");
        return -1;
    }
    if (blank && il_service_check_expect_parse(blank + 1, &check->status_min, &check->status_max)) {
        snprintf(err, errlen,
                 "'%.16s%s': not a status or a range of statuses within 100..599 (e.g. 200 or "
                 "200-399)",
                 blank + 1, strlen(blank + 1) > 16 ? "..." : "");
        return -1;
    }
    return 0;
}

void il_service_check_format(const il_service_check_t *check, char *out, size_t len)
{
    if (check->kind != IL_SERVICE_CHECK_HTTP)
        snprintf(out, len, "%s", check->kind == IL_SERVICE_CHECK_TCP ? "tcp" : "none");
    else if (!check->path[0])
        snprintf(out, len, "http");
    else if (!check->status_min)
        snprintf(out, len, "http:%s", check->path);
    else if (check->status_min == check->status_max)
        snprintf(out, len, "http:%s %d", check->path, check->status_min);
    else
        snprintf(out, len, "http:%s %d-%d", check->path, check->status_min, check->status_max);
}

int il_service_set_check(il_service_t *self, const char *text, char *err, size_t errlen)
{
    if (!text || !*text) return il_service_set_string(&self->check, NULL);
    il_service_check_t check;
    if (il_service_check_parse(text, &check, err, errlen)) return -1;
    char normal[IL_SERVICE_MAX_CHECK + 1];
    il_service_check_format(&check, normal, sizeof normal);
    return il_service_set_string(&self->check, normal);
}

static int s_target_cmp(const char *host_a, uint16_t port_a, const il_service_target_t *b)
{
    int c = strcmp(host_a, b->host);
    if (c) return c;
    return (int)port_a - (int)b->port;
}

/* Index where host:port is or would be inserted; *found tells which. */
static size_t s_target_find(const il_service_t *self, const char *host, uint16_t port, bool *found)
{
    size_t lo = 0, hi = self->target_count;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = s_target_cmp(host, port, &self->targets[mid]);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int il_service_add_target(il_service_t *self, const char *host, uint16_t port, uint32_t weight)
{
    if (!host || !*host || strlen(host) > IL_SERVICE_MAX_HOST || port == 0 || weight == 0)
        return -1;
    bool found;
    size_t at = s_target_find(self, host, port, &found);
    if (found) {
        uint64_t sum = (uint64_t)self->targets[at].weight + weight;
        self->targets[at].weight =
            sum > IL_SERVICE_MAX_WEIGHT ? IL_SERVICE_MAX_WEIGHT : (uint32_t)sum;
        return 0;
    }
    if (self->target_count >= IL_SERVICE_MAX_TARGETS) return -1;
    il_service_target_t *grown =
        il_realloc(self->targets, (self->target_count + 1) * sizeof *self->targets);
    self->targets = grown;
    char *copy = il_strdup(host);
    memmove(&grown[at + 1], &grown[at], (self->target_count - at) * sizeof *grown);
    grown[at].host = copy;
    grown[at].port = port;
    grown[at].weight = weight > IL_SERVICE_MAX_WEIGHT ? IL_SERVICE_MAX_WEIGHT : weight;
    self->target_count++;
    return 0;
}

int il_service_add_alias(il_service_t *self, const char *alias)
{
    if (!alias || !*alias || strlen(alias) > IL_SERVICE_MAX_ALIAS) return -1;
    size_t lo = 0, hi = self->alias_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(alias, self->dns_aliases[mid]);
        if (c == 0) return 0;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (self->alias_count >= IL_SERVICE_MAX_ALIASES) return -1;
    char **grown = il_realloc(self->dns_aliases, (self->alias_count + 1) * sizeof *grown);
    self->dns_aliases = grown;
    char *copy = il_strdup(alias);
    memmove(&grown[lo + 1], &grown[lo], (self->alias_count - lo) * sizeof *grown);
    grown[lo] = copy;
    self->alias_count++;
    return 0;
}

static int s_target_qsort(const void *a, const void *b)
{
    const il_service_target_t *ta = a;
    return s_target_cmp(ta->host, ta->port, b);
}

static int s_alias_qsort(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void il_service_normalize(il_service_t *self)
{
    if (self->target_count > 1)
        qsort(self->targets, self->target_count, sizeof *self->targets, s_target_qsort);
    if (self->alias_count > 1)
        qsort(self->dns_aliases, self->alias_count, sizeof *self->dns_aliases, s_alias_qsort);
}

il_service_t *il_service_dup(const il_service_t *self)
{
    if (!self) return NULL;
    il_service_t *copy = il_service_new(self->name);
    if (!copy) return NULL;
    copy->tls = self->tls;
    copy->port = self->port;
    int rc = il_service_set_string(&copy->provider, self->provider);
    rc |= il_service_set_string(&copy->public_ip, self->public_ip);
    rc |= il_service_set_string(&copy->check, self->check);
    for (size_t i = 0; i < self->target_count && rc == 0; i++)
        rc = il_service_add_target(copy, self->targets[i].host, self->targets[i].port,
                                   self->targets[i].weight);
    for (size_t i = 0; i < self->alias_count && rc == 0; i++)
        rc = il_service_add_alias(copy, self->dns_aliases[i]);
    if (rc) il_service_destroy(&copy);
    return copy;
}

bool il_service_same_definition(const il_service_t *a, const il_service_t *b)
{
    if (a->tls != b->tls || a->port != b->port || a->target_count != b->target_count ||
        a->alias_count != b->alias_count)
        return false;
    if (a->check != b->check && (!a->check || !b->check || strcmp(a->check, b->check)))
        return false;
    for (size_t i = 0; i < a->target_count; i++) {
        if (strcmp(a->targets[i].host, b->targets[i].host) ||
            a->targets[i].port != b->targets[i].port ||
            a->targets[i].weight != b->targets[i].weight)
            return false;
    }
    for (size_t i = 0; i < a->alias_count; i++)
        if (strcmp(a->dns_aliases[i], b->dns_aliases[i])) return false;
    return true;
}

void il_service_pack(const il_service_t *self, msgpack_packer *pk)
{
    msgpack_pack_map(pk, 6 + (self->port != 0) + (self->check != NULL));
    il_codec_pack_key_str(pk, "name", self->name);
    il_codec_pack_key_str(pk, "provider", self->provider);
    il_codec_pack_str(pk, "targets");
    msgpack_pack_array(pk, self->target_count);
    for (size_t i = 0; i < self->target_count; i++) {
        msgpack_pack_map(pk, 3);
        il_codec_pack_key_str(pk, "host", self->targets[i].host);
        il_codec_pack_key_uint(pk, "port", self->targets[i].port);
        il_codec_pack_key_uint(pk, "weight", self->targets[i].weight);
    }
    il_codec_pack_key_bool(pk, "tls", self->tls);
    il_codec_pack_key_str(pk, "public_ip", self->public_ip);
    il_codec_pack_str(pk, "dns_aliases");
    msgpack_pack_array(pk, self->alias_count);
    for (size_t i = 0; i < self->alias_count; i++)
        il_codec_pack_str(pk, self->dns_aliases[i]);
    if (self->port) il_codec_pack_key_uint(pk, "port", self->port);
    if (self->check) il_codec_pack_key_str(pk, "check", self->check);
}

bool il_service_ip_valid(const char *text)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return text && (inet_pton(AF_INET, text, buf) == 1 || inet_pton(AF_INET6, text, buf) == 1);
}

/* Sorts the decoded targets and merges a host:port listed twice (weights
 * added, capped), as il_service_add_target would have, without its copies. */
static void s_merge_targets(il_service_t *self)
{
    if (self->target_count < 2) return;
    qsort(self->targets, self->target_count, sizeof *self->targets, s_target_qsort);
    size_t out = 0;
    for (size_t i = 1; i < self->target_count; i++) {
        il_service_target_t *last = &self->targets[out], *t = &self->targets[i];
        if (s_target_cmp(t->host, t->port, last) == 0) {
            uint64_t sum = (uint64_t)last->weight + t->weight;
            last->weight = sum > IL_SERVICE_MAX_WEIGHT ? IL_SERVICE_MAX_WEIGHT : (uint32_t)sum;
            free(t->host);
        } else {
            self->targets[++out] = *t;
        }
    }
    self->target_count = out + 1;
}

/* The decoder fills the arrays in one go (hosts and aliases as copied from
 * the frame, each once), then sorts and merges: the same result as adding
 * them one by one, at a fraction of the allocations. */
static int s_decode_targets(il_service_t *self, const msgpack_object *list, char *err,
                            size_t errlen)
{
    if (list->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(err, errlen, "service.targets: expected an array");
        return -1;
    }
    if (list->via.array.size > IL_SERVICE_MAX_TARGETS) {
        snprintf(err, errlen, "service.targets: more than %d targets", IL_SERVICE_MAX_TARGETS);
        return -1;
    }
    if (list->via.array.size == 0) return 0;
    self->targets = il_calloc(list->via.array.size, sizeof *self->targets);
    static const char *const keys[] = {"host", "port", "weight"};
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *t = &list->via.array.ptr[i];
        const msgpack_object *v[3];
        char why[160] = "";
        char *host = NULL;
        uint64_t port = 0, weight = 1;
        if (t->type != MSGPACK_OBJECT_MAP) {
            snprintf(why, sizeof why, "expected a map");
        } else {
            il_codec_map_find(t, keys, 3, v);
            if (il_codec_value_str(v[0], "host", IL_SERVICE_MAX_HOST, true, &host, why,
                                   sizeof why) == 0 &&
                il_codec_value_uint(v[1], "port", 1, 65535, true, 0, &port, why, sizeof why) == 0 &&
                il_codec_value_uint(v[2], "weight", 1, IL_SERVICE_MAX_WEIGHT, false, 1, &weight,
                                    why, sizeof why) == 0 &&
                !*host)
                snprintf(why, sizeof why, "host: empty");
        }
        if (*why) {
            free(host);
            snprintf(err, errlen, "service.targets[%u]: %s", i, why);
            return -1;
        }
        self->targets[self->target_count++] =
            (il_service_target_t){.host = host, .port = (uint16_t)port, .weight = (uint32_t)weight};
    }
    s_merge_targets(self);
    return 0;
}

static int s_decode_aliases(il_service_t *self, const msgpack_object *list, char *err,
                            size_t errlen)
{
    if (list->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(err, errlen, "service.dns_aliases: expected an array");
        return -1;
    }
    if (list->via.array.size > IL_SERVICE_MAX_ALIASES) {
        snprintf(err, errlen, "service.dns_aliases: more than %d names", IL_SERVICE_MAX_ALIASES);
        return -1;
    }
    if (list->via.array.size == 0) return 0;
    self->dns_aliases = il_calloc(list->via.array.size, sizeof *self->dns_aliases);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        char why[160];
        char *alias = NULL;
        char label[32];
        snprintf(label, sizeof label, "dns_aliases[%u]", i);
        if (il_codec_str_copy(&list->via.array.ptr[i], label, IL_SERVICE_MAX_ALIAS, &alias, why,
                              sizeof why)) {
            snprintf(err, errlen, "service.%s", why);
            return -1;
        }
        if (!*alias) {
            free(alias);
            snprintf(err, errlen, "service.%s: empty name", label);
            return -1;
        }
        self->dns_aliases[self->alias_count++] = alias;
    }
    if (self->alias_count > 1) {
        qsort(self->dns_aliases, self->alias_count, sizeof *self->dns_aliases, s_alias_qsort);
        size_t out = 0;
        for (size_t i = 1; i < self->alias_count; i++) {
            if (strcmp(self->dns_aliases[i], self->dns_aliases[out]) == 0)
                free(self->dns_aliases[i]);
            else
                self->dns_aliases[++out] = self->dns_aliases[i];
        }
        self->alias_count = out + 1;
    }
    return 0;
}

/* The name (required, not empty) and public_ip (an address, "" = none) of a
 * service map, as found by il_codec_map_find. 0, or -1 with the reason in why. */
static int s_decode_head(const msgpack_object *fname, const msgpack_object *fip, char **name,
                         char **ip, char *why, size_t whylen)
{
    if (il_codec_value_str(fname, "name", IL_SERVICE_MAX_NAME, true, name, why, whylen) ||
        il_codec_value_str(fip, "public_ip", IL_SERVICE_MAX_IP, false, ip, why, whylen))
        return -1;
    if (!**name) {
        snprintf(why, whylen, "name: empty");
        return -1;
    }
    if (*ip && **ip && !il_service_ip_valid(*ip)) {
        snprintf(why, whylen, "public_ip: '%s' is not an IP address", *ip);
        return -1;
    }
    return 0;
}

il_service_t *il_service_decode_result(const msgpack_object *obj, char *err, size_t errlen)
{
    char why[200] = "";
    char *name = NULL, *ip = NULL;
    if (!obj || obj->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "service: expected a map");
        return NULL;
    }
    static const char *const keys[] = {"name", "public_ip"};
    const msgpack_object *f[2];
    il_codec_map_find(obj, keys, 2, f);
    if (s_decode_head(f[0], f[1], &name, &ip, why, sizeof why)) goto fail;
    il_service_t *self = il_calloc(1, sizeof *self);
    self->name = name;
    self->public_ip = ip && *ip ? ip : NULL;
    if (!self->public_ip) free(ip);
    return self;
fail:
    snprintf(err, errlen, "service.%s", why);
    free(name);
    free(ip);
    return NULL;
}

il_service_t *il_service_decode(const msgpack_object *obj, char *err, size_t errlen)
{
    char why[200] = "";
    char *name = NULL, *provider = NULL, *ip = NULL;
    il_service_t *self = NULL;
    if (!obj || obj->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "service: expected a map");
        return NULL;
    }
    /* The keys in one scan of the map; then checked in this order. */
    static const char *const keys[] = {"name",    "provider",    "public_ip", "tls",
                                       "targets", "dns_aliases", "port",      "check"};
    const msgpack_object *f[8];
    il_codec_map_find(obj, keys, 8, f);
    if (s_decode_head(f[0], f[2], &name, &ip, why, sizeof why) ||
        il_codec_value_str(f[1], "provider", IL_SERVICE_MAX_PROVIDER, false, &provider, why,
                           sizeof why))
        goto fail;
    self = il_calloc(1, sizeof *self);
    self->name = name; /* the decoded copy, not another one */
    name = NULL;
    uint64_t port = 0;
    if (il_codec_value_bool(f[3], "tls", false, &self->tls, why, sizeof why) ||
        il_codec_value_uint(f[6], "port", 1, 65535, false, 0, &port, why, sizeof why))
        goto fail;
    self->port = (uint16_t)port;
    char *check = NULL, cwhy[160];
    if (il_codec_value_str(f[7], "check", IL_SERVICE_MAX_CHECK, false, &check, why, sizeof why))
        goto fail;
    int crc = il_service_set_check(self, check, cwhy, sizeof cwhy);
    free(check);
    if (crc) {
        snprintf(why, sizeof why, "check: %s", cwhy);
        goto fail;
    }
    self->provider = provider && *provider ? provider : NULL;
    if (!self->provider) free(provider);
    provider = NULL;
    self->public_ip = ip && *ip ? ip : NULL;
    if (!self->public_ip) free(ip);
    ip = NULL;
    const msgpack_object *v = f[4];
    if (v && v->type != MSGPACK_OBJECT_NIL && s_decode_targets(self, v, err, errlen)) goto fail_set;
    v = f[5];
    if (v && v->type != MSGPACK_OBJECT_NIL && s_decode_aliases(self, v, err, errlen)) goto fail_set;
    free(name);
    return self;

fail:
    snprintf(err, errlen, "service.%s", why);
fail_set:
    free(name);
    free(provider);
    free(ip);
    il_service_destroy(&self);
    return NULL;
}
