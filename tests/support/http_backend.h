/* http_backend: a tiny HTTP server for tests, in a child process: it answers
 * every request with 200 and a given body (e.g. the backend's name) and
 * `Connection: close`, so that a test tells which backend answered and counts
 * requests per backend. Optionally inside a named network namespace (`ip
 * netns` name, /run/netns/NAME: setns in the child). A request for
 * "/delay/N" is answered after N ms (a request kept in flight); each
 * connection is served by a process of its own, so one slow request does not
 * hold the others. http_backend_start_status answers a status of the test's
 * choice (e.g. 500) to requests for one path (a health check's). */
#ifndef INTERLOOK_HTTP_BACKEND_H
#define INTERLOOK_HTTP_BACKEND_H

#include <stdint.h>
#include <sys/types.h>

/* Starts a server on addr (IPv4 or IPv6 literal) and port (0: chosen by the
 * kernel), in the network namespace netns (NULL: this one), answering body.
 * Returns its pid, with the port it listens on in *port_out once it listens;
 * -1 with the reason on stderr (no such namespace, bind refused...). It dies
 * with the thread that started it (PR_SET_PDEATHSIG), so that a test that
 * fails leaves no server behind: start it from the test's main thread. */
pid_t http_backend_start(const char *netns, const char *addr, uint16_t port, const char *body,
                         uint16_t *port_out);

/* As http_backend_start, but a request for exactly path (e.g. "/healthz")
 * is answered with status (100..599) instead of 200 (the same body). */
pid_t http_backend_start_status(const char *netns, const char *addr, uint16_t port,
                                const char *body, const char *path, int status, uint16_t *port_out);

/* Stops it (SIGTERM, then SIGKILL after 2 s) and reaps it. Returns 0 or -1. */
int http_backend_stop(pid_t pid);

#endif
