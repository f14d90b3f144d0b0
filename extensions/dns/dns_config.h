/* dns_config: the dns.rfc2136 section of the stack's file, read and checked
 * once at start (and by --check-config), so that the rest of the extension
 * works with parsed values: the server's socket address, normalised zones,
 * the TSIG key, durations in milliseconds. */
#ifndef INTERLOOK_DNS_CONFIG_H
#define INTERLOOK_DNS_CONFIG_H

#include "extensions/dns/tsig_key.h"

#include "common/config.h"

#include <sys/socket.h>

typedef struct {
    char *server;                 /* as written (messages) */
    struct sockaddr_storage addr; /* its address and port (default port 53) */
    socklen_t addr_len;
    char **zones; /* zone_count normalised zones (lower-case, no trailing dot) */
    size_t zone_count;
    const char *key_file; /* tsigKeyFile, NULL: unsigned updates */
    tsig_key_t *key;      /* its key, NULL without a file */
    int64_t ttl_s;        /* ttl of the records, seconds (60) */
    const char *owner_id; /* ownerId (interlook) */
    int64_t timeout_ms;   /* timeout per exchange with the server (2000) */
    int64_t credit;       /* credit (64) */
    const char *name;     /* name (dns.rfc2136) */
    const char *log_level;
} dns_config_t;

/* Reads dns.rfc2136 from cfg (strings stay cfg's). Every problem found is
 * listed in err, one "FILE:LINE: dns.rfc2136.KEY: reason" per line, and -1
 * returned; the key file is loaded too (its errors name its path and line).
 * self must be given to dns_config_clear whatever the result. */
int dns_config_load(dns_config_t *self, il_config_t *cfg, char *err, size_t errlen);

/* As dns_config_load, touching nothing beyond the text: the server's
 * HOST:PORT is checked but not resolved (addr stays empty) and the key file
 * named but not read. What a fuzzer of the section runs. */
int dns_config_read(dns_config_t *self, il_config_t *cfg, char *err, size_t errlen);

/* Parses "HOST:PORT", "[V6]:PORT", "HOST" or "V6" (port 53) to an address;
 * HOST is an IP address or a name resolved now. -1 with the reason in err. */
int dns_config_parse_server(const char *text, struct sockaddr_storage *addr, socklen_t *len,
                            char *err, size_t errlen);

void dns_config_clear(dns_config_t *self);

#endif
