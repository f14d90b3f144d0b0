/* server: the core daemon's one object. It owns the loop and wires the parts:
 * bus events and results go into the workflow; the workflow's effects go out
 * here, in one place (send or cancel WORK on the bus, persist the entries
 * with coalescing, publish state, ask providers to refresh); timers drive the
 * flow controller and the housekeeper; the HTTP API is answered in the loop
 * by views.c (what each route shows) from the state the server holds. */
#ifndef INTERLOOK_SERVER_H
#define INTERLOOK_SERVER_H

#include "core/core_config.h"

typedef struct _server_t server_t;

/* Loads the entries file, binds the bus and the API. NULL with the reason in
 * err (bad entries file, endpoint in use, ...). */
server_t *server_new(const core_config_t *config, char *err, size_t errlen);

/* Saves the entries (when changed) and frees everything. */
void server_destroy(server_t **self_p);

/* Runs until SIGINT/SIGTERM. Returns 0, or -1 when the last save failed. */
int server_run(server_t *self);

/* The endpoints as bound (port 0 or '*' resolved): the API's port (0 when
 * the API is off), the bus ROUTER's and PUB's ("tcp://127.0.0.1:5570"). */
int server_api_port(server_t *self);
const char *server_router_endpoint(server_t *self);
const char *server_publish_endpoint(server_t *self);

#endif
