/* api: the core's HTTP server (core.listen). libmicrohttpd serves connections
 * in its own thread; each request is handed over an inproc ZeroMQ pair to the
 * core's loop, which builds the answer, so that all core state is read in one
 * thread and no lock is needed. A loop that does not answer within the time
 * bound gets the client a 503. */
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

/* Listens on an address as listen_addr_parse reads it ("127.0.0.1:8080",
 * "*:8080", "[::1]:8080", port 0 = any free port). NULL with the reason in
 * err (bad address, port in use). */
api_t *api_new(const char *listen, api_handler_fn *handler, void *arg, char *err, size_t errlen);

/* Stops the server thread and frees everything. */
void api_destroy(api_t **self_p);

/* Registers the inproc reader on the core's loop; requests are answered only
 * while the loop runs. Returns -1 on failure. */
int api_attach(api_t *self, zloop_t *loop);

/* The port actually listened on. */
int api_port(api_t *self);

#endif
