/* discovery: what Docker objects mean to interlook, free of I/O so that it is
 * unit-tested on JSON fixtures. From the Engine's answers it builds the
 * published services (il_service_t, keyed by name) and reports, through a
 * callback, the objects it skips and why (a missing or invalid label).
 *
 * A Docker object takes part when it carries at least one label starting with
 * "interlook." (or one of the label selector's); it is published when it has
 * every required label and they are valid:
 *   interlook.hosts  comma-separated DNS names -> dns_aliases (required)
 *   interlook.port   the container/target port, 1..65535 (required)
 *   interlook.publicPort  the service's public port (what a load balancer
 *                    listens on), 1..65535 (optional, default interlook.port)
 *   interlook.ssl    true/false/yes/no/1/0 -> tls (optional, default false)
 *   interlook.name   the service name (optional)
 *   interlook.check  the service's health check: tcp, none, http or
 *                    http:PATH[ STATUS[-STATUS]] -> check (optional, default
 *                    the load balancer's own)
 *   every label of the label selector (required, any value)
 * Objects without any such label are ignored silently. */
#ifndef INTERLOOK_DISCOVERY_H
#define INTERLOOK_DISCOVERY_H

#include "common/service.h"

#include <czmq.h>
#include <jansson.h>

typedef struct {
    const char *host_ip;               /* published for ports bound to 0.0.0.0 or :: */
    const char *const *label_selector; /* NULL-terminated extra labels, or NULL */
    const char *provider;              /* set as service->provider, e.g. "provider.docker" */
} discovery_config_t;

/* An object is skipped: its id and name, and why (naming the label). */
typedef void(discovery_skip_fn)(void *arg, const char *id, const char *name, const char *reason);

/* Containers mode, from GET /containers/json (a JSON array; only running
 * containers count). The service name is interlook.name, else
 * "<com.docker.compose.project>_<com.docker.compose.service>", else the
 * container's name. Containers sharing a name are one service; its targets
 * are their published host:port for interlook.port (tcp), a port bound to
 * 0.0.0.0 or :: giving host_ip; a container publishing it on both 0.0.0.0 and
 * :: counts once; weight = number of containers with the same target. A
 * labelled container that does not publish interlook.port is skipped.
 * Returns a new hash name -> il_service_t* (owned by the hash). NULL only when
 * containers is not an array. */
zhashx_t *discovery_containers(const json_t *containers, const discovery_config_t *config,
                               discovery_skip_fn *skip, void *arg);

/* Swarm mode, from GET /services, GET /tasks and GET /nodes (JSON arrays).
 * Labels are the service's (Spec.Labels); the name is interlook.name, else
 * Spec.Name. interlook.port must be the TargetPort of one of the service's
 * published ports (Endpoint.Ports, tcp); targets are, for each running task
 * (Status.State "running") of the service, its node's address (Status.Addr,
 * or ManagerStatus.Addr's host when Status.Addr is 0.0.0.0) with the
 * PublishedPort — for ingress and host publish modes alike; weight = number
 * of running tasks on that node. A published service with no running task
 * yet has no targets (it is still reported). NULL as above. */
zhashx_t *discovery_swarm(const json_t *services, const json_t *tasks, const json_t *nodes,
                          const discovery_config_t *config, discovery_skip_fn *skip, void *arg);

/* What may come back. The names of the services for which Docker still
 * holds an object that takes part, published or not. Containers mode, from
 * GET /containers/json?all=1: every container whatever its state (stopped,
 * created, paused, restarting...) but "removing", named as
 * discovery_containers names it (its labels are not validated). Swarm mode,
 * from GET /services: every service, named interlook.name, else Spec.Name.
 * A published service that vanished but is still held may come back (its
 * container was stopped, by a stopping daemon perhaps); one that is not held
 * any more was removed and never comes back. Returns a new hash name -> ""
 * (static); NULL only when the argument is not an array. */
zhashx_t *discovery_containers_held(const json_t *containers, const discovery_config_t *config);
zhashx_t *discovery_swarm_held(const json_t *services, const discovery_config_t *config);

/* One line of the Engine's /events stream: the fields the provider acts on
 * (an event only makes it list again sooner; a "die" starts a settle). */
typedef struct {
    char type[16];   /* Type ("container", "service"...); "" when absent or longer */
    char action[32]; /* Action ("start", "die"...); "" when absent or longer */
    char id[72];     /* Actor.ID; "" when absent or longer than an id */
    int64_t time;    /* time, seconds since the epoch; 0 when absent or not a number */
} discovery_event_t;

/* Decodes one stream line (len bytes, no newline needed). -1 with the reason
 * in err when it is not a JSON object. */
int discovery_event_parse(const char *line, size_t len, discovery_event_t *event, char *err,
                          size_t errlen);

#endif
