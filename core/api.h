/* api: the core's HTTP server (core.listen). libmicrohttpd serves connections
 * in a thread of the api's own; each request is handed over an inproc ZeroMQ
 * pair to the core's loop, which builds the answer, so that all core state is
 * read in one thread and no lock is needed. A loop that does not answer
 * within the time bound gets the client a 503. Optionally HTTPS and a bearer
 * token; always limits, so that no client can hold it: connections in all
 * and per address, a total time per request, request sizes. */
#ifndef INTERLOOK_API_H
#define INTERLOOK_API_H

#include <czmq.h>

typedef struct _api_t api_t;

typedef struct {
    int status;               /* HTTP status */
    char *body;               /* heap string, freed by the api */
    const char *content_type; /* static string, e.g. "application/json" */
} api_reply_t;

/* Builds the answer to one request, in the loop's thread. method is "GET",
 * "POST", ...; path is the URL path without the query string. */
typedef void(api_handler_fn)(void *arg, const char *method, const char *path, api_reply_t *reply);

/* What a daemon that faces untrusted clients needs; zero fields take the
 * defaults. */
typedef struct {
    const char *tls_cert;       /* PEM certificate (chain) file: HTTPS; NULL: plain HTTP */
    const char *tls_key;        /* its PEM private key file (with tls_cert) */
    const char *token_file;     /* file holding the bearer token; NULL: no token */
    int64_t request_timeout_ms; /* total time of one request, first byte to last (30 s) */
    unsigned max_connections;   /* connections open at once (API_DEFAULT_MAX_CONNECTIONS) */
    unsigned max_per_ip;        /* of them from one address (API_DEFAULT_MAX_PER_IP) */
} api_options_t;

#define API_DEFAULT_REQUEST_TIMEOUT_MS 30000
#define API_DEFAULT_MAX_CONNECTIONS    1024
#define API_DEFAULT_MAX_PER_IP         16

/* Listens on an address as listen_addr_parse reads it ("127.0.0.1:8080",
 * "*:8080", "[::1]:8080", port 0 = any free port), with options (NULL: plain
 * HTTP, no token, the default limits). With a token, every request but
 * /health needs "Authorization: Bearer TOKEN" (else 401, the same body for
 * every path). NULL with the reason in err (bad address, port in use, a
 * certificate, key or token file that is missing, unreadable or refused). */
api_t *api_new(const char *listen, const api_options_t *options, api_handler_fn *handler, void *arg,
               char *err, size_t errlen);

/* Stops the server thread and frees everything. */
void api_destroy(api_t **self_p);

/* Registers the inproc reader on the core's loop; requests are answered only
 * while the loop runs. Returns -1 on failure. */
int api_attach(api_t *self, zloop_t *loop);

/* The port actually listened on. */
int api_port(api_t *self);

#endif
