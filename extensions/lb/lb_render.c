/* lb_render: the generated HAProxy file and its read-back, see lb_render.h. */
#include "extensions/lb/lb_render.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ID_NAME_MAX 64 /* a name used as its own ID, at most */
#define S_ID_PREFIX   48 /* the cleaned prefix of a hashed ID */
#define S_HEADER      "# interlook-lb: generated"

static bool s_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static uint32_t s_fnv1a(const char *text)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

void lb_render_id(const char *name, char out[LB_RENDER_ID_MAX])
{
    size_t n = strlen(name);
    bool clean = n > 0 && n <= S_ID_NAME_MAX;
    for (size_t i = 0; clean && i < n; i++)
        clean = s_id_char(name[i]);
    if (clean) {
        memcpy(out, name, n + 1);
        return;
    }
    size_t k = 0;
    for (; k < n && k < S_ID_PREFIX; k++)
        out[k] = s_id_char(name[k]) ? name[k] : '_';
    snprintf(out + k, LB_RENDER_ID_MAX - k, ":%08x", s_fnv1a(name));
}

void lb_render_server_name(const char *host, uint16_t port, char out[LB_RENDER_SERVER_MAX])
{
    size_t k = 0;
    for (; k < LB_RENDER_SERVER_MAX - 8 && host[k]; k++)
        out[k] = s_id_char(host[k]) || host[k] == ':' ? host[k] : '_';
    snprintf(out + k, LB_RENDER_SERVER_MAX - k, "_%u", (unsigned)port);
}

void lb_render_address(const char *host, uint16_t port, char *out, size_t len)
{
    if (strchr(host, ':'))
        snprintf(out, len, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(out, len, "%s:%u", host, (unsigned)port);
}

void lb_render_scale_weights(il_service_t *service)
{
    uint32_t top = 0;
    for (size_t i = 0; i < service->target_count; i++)
        if (service->targets[i].weight > top) top = service->targets[i].weight;
    if (top <= LB_RENDER_MAX_WEIGHT) return;
    for (size_t i = 0; i < service->target_count; i++) {
        uint64_t w = (uint64_t)service->targets[i].weight * LB_RENDER_MAX_WEIGHT / top;
        service->targets[i].weight = w ? (uint32_t)w : 1;
    }
}

/* The name as a comment can hold it: bytes outside '!'..'~' and '%' as %XX. */
static void s_escape(const char *name, char *out, size_t len)
{
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && k + 4 < len; p++) {
        if (*p > ' ' && *p < 0x7f && *p != '%')
            out[k++] = (char)*p;
        else
            k += (size_t)snprintf(out + k, len - k, "%%%02X", *p);
    }
    out[k] = '\0';
}

static int s_hex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The reverse of s_escape; -1 on a bad %XX or a NUL. */
static int s_unescape(const char *text, char *out, size_t len)
{
    size_t k = 0;
    for (const char *p = text; *p; p++) {
        if (k + 1 >= len) return -1;
        if (*p != '%') {
            out[k++] = *p;
            continue;
        }
        int hi = s_hex(p[1]), lo = hi < 0 ? -1 : s_hex(p[2]);
        if (lo < 0 || (hi == 0 && lo == 0)) return -1;
        out[k++] = (char)(hi * 16 + lo);
        p += 2;
    }
    out[k] = '\0';
    return 0;
}

/* A duration as HAProxy reads it: in hours, seconds or milliseconds, the
 * largest unit that holds it whole (the defaults read as they always did). */
static void s_duration(int64_t ms, char *out, size_t len)
{
    if (ms > 0 && ms % 3600000 == 0)
        snprintf(out, len, "%lldh", (long long)(ms / 3600000));
    else if (ms > 0 && ms % 1000 == 0)
        snprintf(out, len, "%llds", (long long)(ms / 1000));
    else
        snprintf(out, len, "%lldms", (long long)ms);
}

/* The backend's check lines and a server's check words: the service's own
 * check (its path and statuses defaulting to the config's), else the
 * config's healthCheck. A TLS service passes TLS through to its servers:
 * they answer no plain HTTP, so it keeps the TCP check (the worker logs it
 * when a service asks for http). Its own check is kept in the file, as the
 * comment line "# check CHECK", so that the file read back holds it. */
static void s_check(const il_service_t *s, const lb_config_t *config, char *lines, size_t llen,
                    char *words, size_t wlen)
{
    lines[0] = words[0] = '\0';
    il_service_check_t own;
    char why[200];
    bool has_own = s->check && il_service_check_parse(s->check, &own, why, sizeof why) == 0;
    size_t n = 0;
    if (has_own) n = (size_t)snprintf(lines, llen, "    # check %s\n", s->check);
    il_service_check_kind_t kind = has_own                                 ? own.kind
                                   : config->check == LB_CONFIG_CHECK_HTTP ? IL_SERVICE_CHECK_HTTP
                                   : config->check == LB_CONFIG_CHECK_NONE ? IL_SERVICE_CHECK_NONE
                                                                           : IL_SERVICE_CHECK_TCP;
    if (kind == IL_SERVICE_CHECK_NONE) return;
    snprintf(words, wlen, " check inter %lld", (long long)config->health_ms);
    if (kind != IL_SERVICE_CHECK_HTTP || s->tls) return;
    const char *path = has_own && own.path[0] ? own.path : config->check_path;
    int lo = has_own && own.status_min ? own.status_min : config->check_status_min;
    int hi = has_own && own.status_min ? own.status_max : config->check_status_max;
    snprintf(lines + n, llen - n, "    option httpchk GET %s\n    http-check expect status %d-%d\n",
             path, lo, hi);
}

static void s_render_service(zchunk_t *out, const il_service_t *s, const lb_config_t *config)
{
    char id[LB_RENDER_ID_MAX], escaped[4 * IL_SERVICE_MAX_NAME + 1], addr[320];
    char lines[LB_CONFIG_PATH_MAX + IL_SERVICE_MAX_CHECK + 160], words[64];
    lb_render_id(s->name, id);
    s_escape(s->name, escaped, sizeof escaped);
    s_check(s, config, lines, sizeof lines, words, sizeof words);
    const char *mode = s->tls ? "tcp" : "http";
    lb_render_address(s->public_ip ? s->public_ip : "", s->port, addr, sizeof addr);
    char head[8192];
    int n = snprintf(head, sizeof head,
                     "\n# service %s\nfrontend ilf-%s\n    bind %s%s\n    mode %s\n%s"
                     "    default_backend ilb-%s\n\nbackend ilb-%s\n    mode %s\n"
                     "    balance roundrobin\n%s",
                     escaped, id, addr, config->vip_interface ? " transparent" : "", mode,
                     s->tls ? "" : "    option forwardfor\n", id, id, mode, lines);
    zchunk_extend(out, head, (size_t)n);
    for (size_t i = 0; i < s->target_count; i++) {
        const il_service_target_t *t = &s->targets[i];
        char server[LB_RENDER_SERVER_MAX], taddr[320];
        lb_render_server_name(t->host, t->port, server);
        lb_render_address(t->host, t->port, taddr, sizeof taddr);
        n = snprintf(head, sizeof head, "    server %s %s weight %u%s\n", server, taddr,
                     (unsigned)t->weight, words);
        zchunk_extend(out, head, (size_t)n);
    }
}

static int s_by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *lb_render_file(zhashx_t *services, const lb_config_t *config)
{
    static const char header[] =
        S_HEADER " file, rewritten whole at each change of the services it\n"
                 "# routes. Do not edit: the extension reads it back at start as its state.\n"
                 "# format 1\n\n"
                 "defaults\n"
                 "    mode http\n";
    const struct {
        const char *name;
        int64_t ms;
    } timeouts[] = {{"connect", config->timeout_connect_ms},
                    {"client", config->timeout_client_ms},
                    {"server", config->timeout_server_ms},
                    {"http-request", config->timeout_request_ms},
                    {"tunnel", config->timeout_tunnel_ms}};
    zchunk_t *out = zchunk_new(header, sizeof header - 1);
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        char value[32], line[96];
        s_duration(timeouts[i].ms, value, sizeof value);
        int n = snprintf(line, sizeof line, "    timeout %s %s\n", timeouts[i].name, value);
        zchunk_extend(out, line, (size_t)n);
    }
    size_t count = zhashx_size(services), k = 0;
    const char **names = il_calloc(count ? count : 1, sizeof *names);
    for (il_service_t *s = zhashx_first(services); s; s = zhashx_next(services))
        names[k++] = s->name;
    qsort(names, count, sizeof *names, s_by_name);
    for (size_t i = 0; i < count; i++)
        s_render_service(out, zhashx_lookup(services, names[i]), config);
    free(names);
    char *text = il_malloc(zchunk_size(out) + 1);
    memcpy(text, zchunk_data(out), zchunk_size(out));
    text[zchunk_size(out)] = '\0';
    zchunk_destroy(&out);
    return text;
}

bool lb_render_names(const char *text, const char *name)
{
    static const char *const prefixes[] = {"ilf-", "ilb-"};
    char id[LB_RENDER_ID_MAX], proxy[LB_RENDER_ID_MAX + 8];
    lb_render_id(name, id);
    for (size_t k = 0; k < 2; k++) {
        snprintf(proxy, sizeof proxy, "%s%s", prefixes[k], id);
        size_t n = strlen(proxy);
        for (const char *p = strstr(text, proxy); p; p = strstr(p + 1, proxy)) {
            bool starts = p == text || !(s_id_char(p[-1]) || p[-1] == ':');
            char c = p[n]; /* an ID may hold ':', HAProxy follows a name with ": " */
            bool ends = c == '\0' || (!s_id_char(c) && c != ':') ||
                        (c == ':' && (p[n + 1] == ' ' || p[n + 1] == '\0'));
            if (starts && ends) return true;
        }
    }
    return false;
}

static void s_service_free(void **item)
{
    il_service_destroy((il_service_t **)item);
}

zhashx_t *lb_render_state_new(void)
{
    zhashx_t *state = zhashx_new();
    zhashx_set_destructor(state, s_service_free);
    return state;
}

/* Splits "HOST:PORT" or "[V6]:PORT" in place; -1 when it is neither. */
static int s_split_address(char *text, char **host, uint16_t *port)
{
    char *colon = strrchr(text, ':');
    if (!colon) return -1;
    *colon = '\0';
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (*end || errno || p < 1 || p > 65535) return -1;
    *port = (uint16_t)p;
    *host = text;
    if (text[0] == '[') {
        size_t n = strlen(text);
        if (n < 3 || text[n - 1] != ']') return -1;
        text[n - 1] = '\0';
        *host = text + 1;
    }
    return **host ? 0 : -1;
}

typedef struct {
    zhashx_t *state;
    il_service_t *current; /* the service of the section being read */
    char section;          /* 'f' in its frontend, 'b' in its backend, 0 before */
    int line;
} s_reader_t;

/* Reads one line (words split on blanks); -1 with the reason in err. */
static int s_read_line(s_reader_t *r, char **word, int words, char *err, size_t errlen)
{
    if (words == 0) return 0;
    if (!strcmp(word[0], "#") && !(words >= 2 && !strcmp(word[1], "check"))) {
        if (words < 3 || strcmp(word[1], "service")) return 0;
        char name[IL_SERVICE_MAX_NAME + 1];
        if (words != 3 || s_unescape(word[2], name, sizeof name) || !*name)
            return il_err(err, errlen, "line %d: a bad service name", r->line);
        if (zhashx_lookup(r->state, name))
            return il_err(err, errlen, "line %d: service '%s' twice", r->line, name);
        r->current = il_service_new(name);
        zhashx_insert(r->state, name, r->current);
        r->section = 0;
        return 0;
    }
    if (!strcmp(word[0], "frontend") || !strcmp(word[0], "backend")) {
        char id[LB_RENDER_ID_MAX], want[LB_RENDER_ID_MAX + 8];
        if (!r->current)
            return il_err(err, errlen, "line %d: %s without its '# service' line", r->line,
                          word[0]);
        lb_render_id(r->current->name, id);
        snprintf(want, sizeof want, "il%c-%s", word[0][0], id);
        if (words != 2 || strcmp(word[1], want))
            return il_err(err, errlen, "line %d: expected '%s %s'", r->line, word[0], want);
        r->section = word[0][0];
        return 0;
    }
    if (!r->current || !r->section) return 0;
    char *host;
    uint16_t port;
    if (r->section == 'f' && !strcmp(word[0], "bind")) {
        bool options = words == 2 || (words == 3 && !strcmp(word[2], "transparent"));
        if (!options || s_split_address(word[1], &host, &port) || !il_service_ip_valid(host))
            return il_err(err, errlen, "line %d: expected 'bind IP:PORT'", r->line);
        il_service_set_string(&r->current->public_ip, host);
        r->current->port = port;
    } else if (r->section == 'f' && !strcmp(word[0], "mode") && words == 2) {
        r->current->tls = !strcmp(word[1], "tcp");
    } else if (r->section == 'b' && !strcmp(word[0], "#") && words >= 3 &&
               !strcmp(word[1], "check")) {
        char text[IL_SERVICE_MAX_CHECK + 2], why[200];
        snprintf(text, sizeof text, "%s%s%s", word[2], words >= 4 ? " " : "",
                 words >= 4 ? word[3] : "");
        if (words > 4 || r->current->check ||
            il_service_set_check(r->current, text, why, sizeof why))
            return il_err(err, errlen, "line %d: expected '# check CHECK' once", r->line);
    } else if (r->section == 'b' && !strcmp(word[0], "server")) {
        char *end = "";
        long w = words >= 5 && !strcmp(word[3], "weight") ? strtol(word[4], &end, 10) : 0;
        if (w < 1 || w > LB_RENDER_MAX_WEIGHT || *end || s_split_address(word[2], &host, &port) ||
            il_service_add_target(r->current, host, port, (uint32_t)w))
            return il_err(err, errlen, "line %d: expected 'server NAME HOST:PORT weight W ...'",
                          r->line);
    }
    return 0;
}

zhashx_t *lb_render_parse(const char *text, char *err, size_t errlen)
{
    s_reader_t r = {.state = lb_render_state_new()};
    if (*text && strncmp(text, S_HEADER, strlen(S_HEADER))) {
        il_err(err, errlen, "line 1: not a file interlook-lb wrote (no '" S_HEADER "' header)");
        zhashx_destroy(&r.state);
        return NULL;
    }
    char *copy = il_strdup(text), *save = NULL;
    int rc = 0;
    for (char *line = copy, *next; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        r.line++;
        char *word[8];
        int words = 0;
        for (char *w = strtok_r(line, " \t\r", &save); w && words < 8;
             w = strtok_r(NULL, " \t\r", &save))
            word[words++] = w;
        rc = s_read_line(&r, word, words, err, errlen);
    }
    free(copy);
    for (il_service_t *s = zhashx_first(r.state); s && rc == 0; s = zhashx_next(r.state))
        if (!s->public_ip || !s->port)
            rc = il_err(err, errlen, "service '%s': no 'bind IP:PORT' line", s->name);
    if (rc) zhashx_destroy(&r.state);
    return r.state;
}
