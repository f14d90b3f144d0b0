/* lb_render: the HAProxy configuration file the extension owns, generated
 * from its whole state (one frontend and one backend per service), and read
 * back at start, so that the file is the extension's durable state: what it
 * answered as done is in the file, and the file is what HAProxy loads.
 *
 * The state is a hash of services (il_service_t, keyed by name) whose
 * weights are already within HAProxy's 1..256 (lb_render_scale_weights).
 * Names in the file: frontend ilf-ID and backend ilb-ID, where ID is the
 * service's name when it is made of [A-Za-z0-9._-] only and at most 64
 * bytes, else a cleaned prefix, ':' and a hash of the name (Docker names
 * never hold ':'); servers are HOST_PORT. */
#ifndef INTERLOOK_LB_RENDER_H
#define INTERLOOK_LB_RENDER_H

#include "common/interlook.h"
#include "extensions/lb/lb_config.h"

#include <stddef.h>
#include <stdint.h>

#define LB_RENDER_ID_MAX     80  /* bytes of an ID, its NUL included */
#define LB_RENDER_SERVER_MAX 300 /* bytes of a server name, its NUL included */
#define LB_RENDER_MAX_WEIGHT 256 /* HAProxy's highest weight */

/* The proxy ID of a service name. */
void lb_render_id(const char *name, char out[LB_RENDER_ID_MAX]);

/* The server name of a target: HOST_PORT, HOST cleaned as an ID is. */
void lb_render_server_name(const char *host, uint16_t port, char out[LB_RENDER_SERVER_MAX]);

/* HOST:PORT as HAProxy reads it ([V6]:PORT for an IPv6 address). */
void lb_render_address(const char *host, uint16_t port, char *out, size_t len);

/* Brings the service's target weights within 1..256, in proportion to the
 * highest when that is above 256 (else unchanged). */
void lb_render_scale_weights(il_service_t *service);

/* The whole file for these services (in name order), malloc'd, with what
 * config says of it: the defaults' timeouts, the servers' health checks
 * (healthCheck, or the service's own check: a TCP connect, an HTTP request
 * whose status is expected in a range, or none; every healthInterval; the
 * service's check kept as a "# check" line that lb_render_parse reads
 * back) and, with a vipInterface, binds
 * that may take an address the host does not carry yet (HAProxy's
 * `transparent`, IP_FREEBIND at least), so that HAProxy starts before the
 * extension has put the VIPs back on their interface (after a reboot). */
char *lb_render_file(zhashx_t *services, const lb_config_t *config);

/* Reads a file written by lb_render_file back into a new hash of services
 * (name -> il_service_t, owned). NULL with the line and the reason in err
 * when it is not such a file. An empty text is an empty state. */
zhashx_t *lb_render_parse(const char *text, char *err, size_t errlen);

/* True when text (e.g. one of HAProxy's messages) names the service's
 * frontend or backend: ilf-ID or ilb-ID as a whole name. */
bool lb_render_names(const char *text, const char *name);

/* A new, empty hash of services that owns them (what lb_render_parse returns). */
zhashx_t *lb_render_state_new(void);

#endif
