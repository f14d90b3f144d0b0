/* listen_addr: the core's HTTP listen address, see listen_addr.h. */
#include "core/listen_addr.h"
#include "common/err.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int listen_addr_load(il_config_t *cfg, const char **address, bool *from_env, char *err,
                     size_t errlen)
{
    if (from_env) *from_env = false;
    if (il_config_string(cfg, "core.listen", LISTEN_ADDR_DEFAULT, address))
        return il_err(err, errlen, "%s", il_config_error(cfg));
    const char *env = getenv(LISTEN_ADDR_ENV);
    if (env && *env) {
        *address = env;
        if (from_env) *from_env = true;
    }
    return 0;
}

bool listen_addr_off(const char *address)
{
    return address && (!*address || !strcmp(address, "off"));
}

int listen_addr_parse(const char *address, struct sockaddr_storage *addr, char *err, size_t errlen)
{
    if (!address) return il_err(err, errlen, "no listen address given");
    char host[256] = "";
    const char *port = NULL;
    const char *what = NULL;
    bool bracketed = address[0] == '[';
    if (!*address)
        what = "empty";
    else if (strlen(address) >= sizeof host)
        what = "too long";
    else if (bracketed) {
        const char *close = strchr(address, ']');
        if (!close || close[1] != ':')
            what = "expected [IPV6]:PORT";
        else {
            memcpy(host, address + 1, (size_t)(close - address - 1));
            port = close + 2;
        }
    } else {
        const char *colon = strrchr(address, ':');
        if (!colon)
            what = "expected HOST:PORT";
        else if (strchr(address, ':') != colon)
            what = "an IPv6 address goes in brackets, as [::1]:PORT";
        else {
            memcpy(host, address, (size_t)(colon - address));
            port = colon + 1;
        }
    }
    if (!what) {
        size_t digits = strspn(port, "0123456789");
        if (digits == 0 || digits > 5 || port[digits] != '\0' || atoi(port) > 65535)
            what = "the port must be a number from 0 to 65535";
    }
    if (!what && !bracketed) {
        if (!*host || !strcmp(host, "*"))
            strcpy(host, "0.0.0.0");
        else if (!strcasecmp(host, "localhost"))
            strcpy(host, "127.0.0.1");
    }
    if (!what) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
        struct addrinfo *res = NULL;
        if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
            what = "the host must be a numeric IPv4 or IPv6 address, '*' or 'localhost'";
        else if (bracketed && res->ai_family != AF_INET6)
            what = "brackets are for IPv6 addresses only";
        else if (res->ai_addrlen > sizeof *addr)
            what = "unsupported address";
        else {
            memset(addr, 0, sizeof *addr);
            memcpy(addr, res->ai_addr, res->ai_addrlen);
        }
        if (res) freeaddrinfo(res);
    }
    if (what) return il_err(err, errlen, "invalid listen address '%s': %s", address, what);
    return 0;
}

int listen_addr_url(const char *address, char *url, size_t urllen, char *err, size_t errlen)
{
    if (listen_addr_off(address)) return il_err(err, errlen, "the core's HTTP API is off");
    struct sockaddr_storage addr;
    if (listen_addr_parse(address, &addr, err, errlen)) return -1;
    char host[INET6_ADDRSTRLEN + 16];
    int port;
    bool v6 = addr.ss_family == AF_INET6;
    if (v6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) in6->sin6_addr = in6addr_loopback;
        port = ntohs(in6->sin6_port);
    } else {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&addr;
        if (in4->sin_addr.s_addr == htonl(INADDR_ANY))
            in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        port = ntohs(in4->sin_port);
    }
    if (port == 0)
        return il_err(err, errlen, "'%s': the core listens on a port the system chooses", address);
    socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo((struct sockaddr *)&addr, len, host, sizeof host, NULL, 0, NI_NUMERICHOST))
        return il_err(err, errlen, "'%s': cannot write the host", address);
    int n = snprintf(url, urllen, "http://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    if (n < 0 || (size_t)n >= urllen) return il_err(err, errlen, "'%s': URL too long", address);
    return 0;
}
