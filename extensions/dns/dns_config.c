/* dns_config: the dns.rfc2136 section, see dns_config.h. Unlike the other
 * extensions, it goes on after a bad key, so that --check-config names every
 * bad key at once. */
#include "extensions/dns/dns_config.h"
#include "extensions/dns/dns_zone.h"

#include <interlook.h>

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SECTION "dns.rfc2136"

/* HOST and PORT of the server's text, checked, nothing resolved. */
static int s_split_server(const char *text, char host[256], const char **port_p, char *err,
                          size_t errlen)
{
    const char *port = "53";
    if (!text || !*text) return il_err(err, errlen, "empty (expected HOST:PORT or [V6]:PORT)");
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || (size_t)(end - text - 1) >= 256)
            return il_err(err, errlen, "'%s': missing ']'", text);
        memcpy(host, text + 1, (size_t)(end - text - 1));
        host[end - text - 1] = '\0';
        if (end[1] == ':')
            port = end + 2;
        else if (end[1])
            return il_err(err, errlen, "'%s': expected ':PORT' after ']'", text);
    } else {
        const char *colon = strchr(text, ':');
        if (colon && strchr(colon + 1, ':')) { /* a bare IPv6 address */
            if (strlen(text) >= 256) return il_err(err, errlen, "'%s': host too long", text);
            snprintf(host, 256, "%s", text);
        } else {
            size_t n = colon ? (size_t)(colon - text) : strlen(text);
            if (n >= 256) return il_err(err, errlen, "'%s': host too long", text);
            memcpy(host, text, n);
            host[n] = '\0';
            if (colon) port = colon + 1;
        }
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 1 || p > 65535)
        return il_err(err, errlen, "'%s': the port must be 1..65535", text);
    if (!host[0]) return il_err(err, errlen, "'%s': no host", text);
    *port_p = port;
    return 0;
}

int dns_config_parse_server(const char *text, struct sockaddr_storage *addr, socklen_t *len,
                            char *err, size_t errlen)
{
    char host[256];
    const char *port;
    if (s_split_server(text, host, &port, err, errlen) != 0) return -1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res)
        return il_err(err, errlen, "'%s': cannot resolve '%s': %s", text, host, gai_strerror(rc));
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* The server's address (io) or only its text checked. */
static int s_server(dns_config_t *self, const char *text, bool io, char *why, size_t len)
{
    if (io) return dns_config_parse_server(text, &self->addr, &self->addr_len, why, len);
    char host[256];
    const char *port;
    return s_split_server(text, host, &port, why, len);
}

/* The section; with io, the server resolved and the key file read. */
static int s_load(dns_config_t *self, il_config_t *cfg, bool io, char *err, size_t errlen)
{
    static const char *const known[] = {"server",   "zones",     "tsigKeyFile", "ttl",
                                        "ownerId",  "timeout",   "credit",      "name",
                                        "logLevel", "curveCert", NULL};
    memset(self, 0, sizeof *self);
    err[0] = '\0';
    const char *file = il_config_name(cfg);
    if (il_config_check_keys(cfg, S_SECTION, known))
        il_err_add(err, errlen, "%s", il_config_error(cfg));

    const char *server = NULL;
    char why[512];
    if (il_config_string(cfg, S_SECTION ".server", NULL, &server))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    else if (!server)
        il_err_add(err, errlen,
                   "%s: " S_SECTION ".server: missing (the primary server, e.g. 127.0.0.1:53)",
                   file);
    else if (s_server(self, server, io, why, sizeof why))
        il_err_add(err, errlen, "%s:%d: " S_SECTION ".server: %s", file,
                   il_config_line(cfg, S_SECTION ".server"), why);
    else
        self->server = il_strdup(server);

    zlistx_t *zones = NULL;
    if (il_config_list(cfg, S_SECTION ".zones", &zones))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    else if (zlistx_size(zones) == 0)
        il_err_add(err, errlen,
                   "%s: " S_SECTION ".zones: missing (the zones it may write, e.g. [example.com])",
                   file);
    else {
        self->zones = il_calloc(zlistx_size(zones), sizeof *self->zones);
        for (const char *z = zlistx_first(zones); z; z = zlistx_next(zones)) {
            char *norm = dns_zone_normalize(z, why, sizeof why);
            if (!norm) {
                il_err_add(err, errlen, "%s:%d: " S_SECTION ".zones: %s", file,
                           il_config_line(cfg, S_SECTION ".zones"), why);
                continue;
            }
            bool dup = false;
            for (size_t i = 0; i < self->zone_count; i++)
                dup |= strcmp(self->zones[i], norm) == 0;
            if (dup)
                free(norm);
            else
                self->zones[self->zone_count++] = norm;
        }
    }
    zlistx_destroy(&zones);

    if (il_config_string(cfg, S_SECTION ".tsigKeyFile", NULL, &self->key_file))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    else if (self->key_file && io) {
        self->key = tsig_key_load(self->key_file, why, sizeof why);
        if (!self->key)
            il_err_add(err, errlen, "%s:%d: " S_SECTION ".tsigKeyFile: %s", file,
                       il_config_line(cfg, S_SECTION ".tsigKeyFile"), why);
    }
    int64_t ttl_ms = 0;
    if (il_config_duration(cfg, S_SECTION ".ttl", 60000, &ttl_ms))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    else if (ttl_ms < 1000 || ttl_ms > 2147483647000LL)
        il_err_add(err, errlen, "%s:%d: " S_SECTION ".ttl: must be 1s..68y (whole seconds)", file,
                   il_config_line(cfg, S_SECTION ".ttl"));
    self->ttl_s = ttl_ms / 1000;
    if (il_config_string(cfg, S_SECTION ".ownerId", "interlook", &self->owner_id))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    else if (!*self->owner_id || strpbrk(self->owner_id, ",=\"\\ \t\n"))
        il_err_add(err, errlen,
                   "%s:%d: " S_SECTION
                   ".ownerId: '%s': must be non-empty, without , = \" \\ or blanks",
                   file, il_config_line(cfg, S_SECTION ".ownerId"), self->owner_id);
    if (il_config_duration(cfg, S_SECTION ".timeout", 2000, &self->timeout_ms))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    else if (self->timeout_ms < 1)
        il_err_add(err, errlen, "%s:%d: " S_SECTION ".timeout: must be at least 1ms", file,
                   il_config_line(cfg, S_SECTION ".timeout"));
    if (il_config_int(cfg, S_SECTION ".credit", 64, 1, ILP_MAX_CREDIT, &self->credit))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    if (il_config_string(cfg, S_SECTION ".name", S_SECTION, &self->name))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    if (il_config_string(cfg, S_SECTION ".logLevel", "info", &self->log_level))
        il_err_add(err, errlen, "%s", il_config_error(cfg));
    return err[0] ? -1 : 0;
}

int dns_config_load(dns_config_t *self, il_config_t *cfg, char *err, size_t errlen)
{
    return s_load(self, cfg, true, err, errlen);
}

int dns_config_read(dns_config_t *self, il_config_t *cfg, char *err, size_t errlen)
{
    return s_load(self, cfg, false, err, errlen);
}

void dns_config_clear(dns_config_t *self)
{
    free(self->server);
    for (size_t i = 0; i < self->zone_count; i++)
        free(self->zones[i]);
    free(self->zones);
    tsig_key_destroy(&self->key);
    memset(self, 0, sizeof *self);
}
