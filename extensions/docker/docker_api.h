/* docker_api: a small asynchronous client of the Docker Engine API, on
 * libcurl's multi interface driven by the extension's zloop (curl's sockets
 * become zloop pollers, and so does its timer, through a timerfd: czmq 4.2's
 * zloop_timer_end only takes effect once the loop has run, which made an ended
 * timer fire on a freed client), so that nothing blocks the loop. One-shot GETs and the /events
 * stream, over the unix socket or over TCP (with TLS client certificates when configured). It only
 * ever issues GET requests, so a read-only socket proxy is enough. */
#ifndef INTERLOOK_DOCKER_API_H
#define INTERLOOK_DOCKER_API_H

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _docker_api_t docker_api_t;

typedef struct {
    const char *endpoint;       /* "unix:///var/run/docker.sock", "tcp://host:2376" */
    const char *tls_ca;         /* tcp only: CA, client certificate and key (PEM files); */
    const char *tls_cert;       /* with all three set the connection is https and the */
    const char *tls_key;        /* server is verified; with none it is plain http */
    int64_t timeout_ms;         /* one-shot requests: whole-transfer bound (default 10000) */
    int64_t connect_timeout_ms; /* default 3000 */
} docker_api_config_t;

/* A one-shot GET ended. error is NULL when an HTTP answer came (status is
 * then its code, body its bytes, NUL-terminated) and a text otherwise
 * (connection refused, socket missing, permission denied, time-out...). */
typedef void(docker_api_done_fn)(void *arg, long status, const char *body, size_t len,
                                 const char *error);

/* One line of a stream (the /events stream sends one JSON object per line),
 * without its newline, NUL-terminated. */
typedef void(docker_api_line_fn)(void *arg, const char *line, size_t len);

/* A stream ended: error NULL when the server closed it after a 200, else why
 * (including an HTTP status other than 200, with its body). */
typedef void(docker_api_end_fn)(void *arg, const char *error);

/* Validates the configuration and prepares the client on loop. NULL with the
 * reason in err (bad endpoint scheme, only part of the TLS files given, a TLS
 * file that cannot be read). Nothing is connected yet. */
docker_api_t *docker_api_new(const docker_api_config_t *config, zloop_t *loop, char *err,
                             size_t errlen);

/* Aborts every request (no callback is called) and frees everything. */
void docker_api_destroy(docker_api_t **self_p);

/* Starts GET path ("/containers/json?all=0", query included, already
 * URL-encoded). done is called exactly once, from the loop, unless the request
 * is cancelled. Returns a request id (> 0), or -1 when it cannot start. */
int docker_api_get(docker_api_t *self, const char *path, docker_api_done_fn *done, void *arg);

/* Starts a streaming GET (no overall time bound); on_line for every complete
 * line, then on_end exactly once unless cancelled. Returns an id or -1. */
int docker_api_stream(docker_api_t *self, const char *path, docker_api_line_fn *on_line,
                      docker_api_end_fn *on_end, void *arg);

/* Stops a request; none of its callbacks is called afterwards. Unknown ids are ignored. */
void docker_api_cancel(docker_api_t *self, int id);

/* Requests in progress. */
size_t docker_api_pending(docker_api_t *self);

/* Percent-encodes text for a query string into a new string (caller frees).
 * NULL for a NULL text, a text over 1 MiB, or when libcurl cannot be
 * initialised. */
char *docker_api_escape(const char *text);

#endif
