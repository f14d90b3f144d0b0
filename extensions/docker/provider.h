/* provider: the provider.docker extension's object. It lists what Docker
 * publishes (containers, or Swarm services), reports the differences to the
 * core as EVENTs, and keeps the list fresh: the Engine's /events stream
 * triggers a re-list within milliseconds of a change (and, after a "die",
 * more until the listing shows the container stopped), a full re-list runs
 * every pollInterval and after every reconnection, and refresh requests are
 * answered from a fresh listing. An unreachable daemon is never taken for an
 * empty one: nothing is reported deleted until a listing succeeds again.
 * A service whose last container was removed (Docker lists it no more, not
 * even among stopped containers; in swarm mode: removed from /services) is
 * reported deleted at once: it never comes back. One whose containers are
 * only stopped is reported deleted once it has been absent from listings for
 * deleteGrace, and the wait starts over when the daemon becomes unreachable
 * meanwhile: a stopping dockerd stops its containers (which come back with
 * it, with a restart policy) before its API goes away. No report waits
 * behind another's grace. */
#ifndef INTERLOOK_PROVIDER_H
#define INTERLOOK_PROVIDER_H

#include "broker/ilp_client.h"
#include "common/config.h"

typedef struct _provider_t provider_t;

typedef struct {
    const char
        *endpoint; /* provider.docker.endpoint (DOCKER_HOST, else unix:///var/run/docker.sock) */
    const char *tls_ca; /* provider.docker.tlsCa / tlsCert / tlsKey */
    const char *tls_cert;
    const char *tls_key;
    bool swarm;               /* provider.docker.mode: containers (false) | swarm (true) */
    zlistx_t *label_selector; /* provider.docker.labelSelector */
    int64_t poll_ms;          /* provider.docker.pollInterval (30s) */
    int64_t delete_grace_ms;  /* provider.docker.deleteGrace (5s): a service whose containers
                                 stopped (not removed) is deleted if absent this long */
    const char *host_ip;      /* provider.docker.hostIP (default: the host's primary address) */
    const char *log_level;    /* provider.docker.logLevel (info) */
} provider_config_t;

/* Reads provider.docker. Returns -1 with "FILE:LINE: key: reason" in err. */
int provider_config_load(provider_config_t *self, il_config_t *cfg, char *err, size_t errlen);
void provider_config_clear(provider_config_t *self);

/* Connects to the core (client) and prepares the Docker client. NULL with the reason in err. */
provider_t *provider_new(const provider_config_t *config, const ilp_client_config_t *client,
                         char *err, size_t errlen);

void provider_destroy(provider_t **self_p);

/* Serves until SIGINT/SIGTERM. Returns 0. */
int provider_run(provider_t *self);

#endif
