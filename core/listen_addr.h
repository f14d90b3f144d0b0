/* listen_addr: where the core's HTTP API listens (core.listen), decided in
 * one place for the core, which binds it, and interlookctl, which connects to
 * it: the grammar (HOST:PORT, [IPV6]:PORT, *:PORT, :PORT, localhost:PORT; "off"
 * or "" for no API), the default and the INTERLOOK_LISTEN override. */
#ifndef INTERLOOK_LISTEN_ADDR_H
#define INTERLOOK_LISTEN_ADDR_H

#include "common/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define LISTEN_ADDR_DEFAULT "127.0.0.1:8080"
#define LISTEN_ADDR_ENV     "INTERLOOK_LISTEN" /* overrides core.listen when not empty */

/* The address: $INTERLOOK_LISTEN when set and not empty (then *from_env is
 * true), else core.listen of cfg, else LISTEN_ADDR_DEFAULT. It stays owned by
 * cfg or the environment. Returns -1 with "FILE:LINE: core.listen: reason" in
 * err when core.listen is not a string. from_env may be NULL. */
int listen_addr_load(il_config_t *cfg, const char **address, bool *from_env, char *err,
                     size_t errlen);

/* True when address turns the API off: "off" or "". */
bool listen_addr_off(const char *address);

/* Parses address into addr: a numeric IPv4 host, '*' or nothing (any
 * address), localhost (127.0.0.1), or a numeric IPv6 host in brackets; a port
 * of 0 to 65535 (0: one the system chooses). Returns -1 with "invalid listen
 * address 'ADDRESS': reason" in err (or "no listen address given" for NULL). */
int listen_addr_parse(const char *address, struct sockaddr_storage *addr, char *err, size_t errlen);

/* The http:// URL that reaches, from this host, an API listening on address:
 * a wildcard host ('*', nothing, 0.0.0.0, [::]) means the loopback address.
 * Returns -1 with the reason in err when the API is off, its port is chosen
 * by the system (0), or the address does not parse. */
int listen_addr_url(const char *address, char *url, size_t urllen, char *err, size_t errlen);

#endif
