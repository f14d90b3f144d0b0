/* etcd_server: a real etcd cluster (1 or 3 members of /usr/bin/etcd) started
 * by a test on 127.0.0.1 ports, each member's data and log under a directory
 * of the test's own. Ports are picked at random and picked again when a
 * member cannot bind them (another test took one meanwhile), a bounded number
 * of times; start returns once every member answers /health. A member can be
 * killed (kill -9), stopped (SIGSTOP: it keeps its sockets but answers
 * nothing, a hung host), resumed and restarted on its data. Members die with
 * the test process (PR_SET_PDEATHSIG) and at destroy, which also removes the
 * directory: no etcd is left behind. Members can also run inside a network
 * namespace (ip netns) on an address of it, for tests that cut links. */
#ifndef INTERLOOK_ETCD_SERVER_H
#define INTERLOOK_ETCD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct _etcd_server_t etcd_server_t;

/* Starts a cluster of members (1..5) with its files under dir (made; NULL: a
 * new directory under /tmp) and waits (bounded by timeout_ms) until each
 * member answers /health. NULL, with the reason and the logs on stderr,
 * when it cannot. */
etcd_server_t *etcd_server_new(const char *dir, size_t members, int timeout_ms);

/* As etcd_server_new, the client URLs https with client certificates
 * required: certs is a directory made by tests/support/tls-certs.sh. Its CA
 * signs a server certificate for etcd (etcd.pem, etcd-key.pem, made there:
 * etcd's gateway needs clientAuth in it too); cert.pem and key.pem are a
 * client's. */
etcd_server_t *etcd_server_new_tls(const char *dir, size_t members, int timeout_ms,
                                   const char *certs);

/* As etcd_server_new, every member inside the network namespace netns (a
 * name under /var/run/netns, as `ip netns add` makes) listening on host (an
 * address of that namespace, its loopback up), on ports of its own. Health
 * is checked from there (ip netns exec ... curl), so this process may stay
 * in its namespace. NULL, with the reason on stderr, when the namespace does
 * not exist or the cluster does not become healthy. */
etcd_server_t *etcd_server_new_in(const char *dir, size_t members, int timeout_ms,
                                  const char *netns, const char *host);

/* Kills every member (kill -9, waited for), removes the directory, frees it. */
void etcd_server_destroy(etcd_server_t **self_p);

/* The members' client URLs, comma-separated ("http://127.0.0.1:P,..."). */
const char *etcd_server_endpoints(etcd_server_t *self);

/* Member i's client URL. */
const char *etcd_server_endpoint(etcd_server_t *self, size_t i);

/* The members' client URLs as an array of size etcd_server_size (for il_etcd_config_t). */
const char *const *etcd_server_endpoint_list(etcd_server_t *self);

size_t etcd_server_size(etcd_server_t *self);

/* kill -9 of member i, waited for. 0, or -1 when it was not running. */
int etcd_server_kill(etcd_server_t *self, size_t i);

/* SIGSTOP / SIGCONT of member i. 0, or -1 when it is not running. */
int etcd_server_pause(etcd_server_t *self, size_t i);
int etcd_server_resume(etcd_server_t *self, size_t i);

/* Starts member i again (killed first if running) on its data and ports, and
 * waits (bounded) until it answers /health. 0 or -1 (its log on stderr). */
int etcd_server_restart(etcd_server_t *self, size_t i, int timeout_ms);

/* Member i answers /health with "true" within timeout_ms. */
bool etcd_server_healthy(etcd_server_t *self, size_t i, int timeout_ms);

/* Member i's pid (0 when not running). */
pid_t etcd_server_pid(etcd_server_t *self, size_t i);

#endif
