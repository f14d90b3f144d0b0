/* lb_stack: the load-balancer step across real networks, for test_lb_netns
 * and test_lb_v6. Four network namespaces (a client, the "lb" one where
 * HAProxy and interlook-lb run, two backends: small HTTP servers) on a
 * bridge in a "switch" namespace, on a private IPv4 /24 and, when asked, an
 * IPv6 /64 too; the core, the scripted provider (interlook-inject) and the
 * IP allocator run in the test's own namespace and talk to interlook-lb over
 * ipc:// sockets (a file system is shared across network namespaces). The
 * tests differ in the addresses, the pool and what they ask of the stack;
 * the stack is the same, so it is built here once.
 *
 * No function aborts: each returns -1, NULL or false (and says why on
 * stderr where the cause is not plain), the test asserting on that. Needs
 * root and iproute2. */
#ifndef INTERLOOK_LB_STACK_H
#define INTERLOOK_LB_STACK_H

#include "tests/support/fixture.h"
#include "tests/support/haproxy_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct _lb_stack_t lb_stack_t;

/* The hosts: their number is the last part of their addresses (1, 2, 11, 12). */
enum { LB_STACK_CLIENT, LB_STACK_LB, LB_STACK_B1, LB_STACK_B2, LB_STACK_NHOSTS };

typedef struct {
    const char *name;       /* the test's (its fixture's, its ipc:// sockets') */
    const char *tag;        /* a short word in the namespaces' names: il<pid>-<tag><host> */
    const char *net4;       /* the hosts' IPv4 /24 as a prefix ("198.18.79."): host n is net4 n */
    const char *net6;       /* NULL, or an IPv6 /64 prefix ("fd00:77::1:"): host n is net6 n too */
    const char *pool;       /* the allocator's network_cidr */
    const char *drain;      /* lb.haproxy.drainTimeout */
    const char *backend[2]; /* the backends' names (the bodies they answer) */
    const char *listen[2];  /* the address each backend listens on (port 8080) */
} lb_stack_opts_t;

/* Builds the namespaces, starts HAProxy in the lb one, writes the
 * configuration (the pool, lb.haproxy with vipInterface eth0), starts the
 * core, the allocator, the provider, interlook-lb and the backends, and
 * waits (bounded) for the three steps to register. NULL on any failure,
 * all it had made undone. */
lb_stack_t *lb_stack_new(const lb_stack_opts_t *opts);

/* Stops all it started and deletes the namespaces; *self_p = NULL. */
void lb_stack_destroy(lb_stack_t **self_p);

/* The fixture (the core, its directory, its configuration, its REST API). */
fixture_t *lb_stack_fixture(lb_stack_t *self);

/* The HAProxy in the lb namespace. */
haproxy_server_t *lb_stack_haproxy(lb_stack_t *self);

/* A host's namespace name (LB_STACK_CLIENT...). */
const char *lb_stack_ns(lb_stack_t *self, int host);

/* The link-layer address of the lb namespace's eth0. */
const char *lb_stack_lb_mac(lb_stack_t *self);

/* Kills interlook-lb (SIGKILL) and starts it again in the lb namespace on
 * config (NULL: the stack's configuration); 0, or -1 when either fails. */
int lb_stack_restart_lb(lb_stack_t *self, const char *config);

/* Restarts interlook-lb as lb_stack_restart_lb does (the stack's
 * configuration) and checks it changed nothing: registered again, its log
 * says HAProxy runs the services (that many), HAProxy's workers are the same
 * (no reload). 0, or -1 saying on stderr which did not hold. */
int lb_stack_restart_no_reload(lb_stack_t *self, int services);

/* Writes one printf-made line to the provider's standard input: 0 or -1. */
int lb_stack_tell(lb_stack_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A cmocka group setup: state gets a zeroed struct of size bytes whose
 * first member is an lb_stack_t pointer, set to lb_stack_new(opts); -1 when
 * that fails (what the stack had made already undone). */
int lb_stack_setup(void **state, size_t size, const lb_stack_opts_t *opts);

/* A cmocka group teardown for lb_stack_setup's struct: destroys the stack,
 * frees the struct. */
int lb_stack_teardown(void **state);

/* Waits (bounded) until service name is in state (not work in progress;
 * NULL: gone from the core); a deployed one becomes the service under test
 * (its VIP, port and URL read). False on time-out, after the tail of lb.log
 * on stderr. */
bool lb_stack_wait_state(lb_stack_t *self, const char *name, const char *state, int timeout_ms);

/* The service under test's VIP ("" before any) and public port. */
const char *lb_stack_vip(lb_stack_t *self);
int lb_stack_port(lb_stack_t *self);

/* One curl from the client to the service under test (http://VIP:PORT/,
 * with -6 and the VIP in brackets for IPv6): the body, or NULL with curl's
 * exit status in *curl_rc (refused, unreachable, time-out). */
char *lb_stack_get(lb_stack_t *self, int *curl_rc);

/* Waits (bounded) until a request to the service under test answers exactly body. */
bool lb_stack_wait_body(lb_stack_t *self, const char *body, int timeout_ms);

/* Sends n requests to the service under test and counts the answers of
 * the first and second backend in *b1 and *b2; 0 when none failed and they
 * add up to n, else -1 (the figures on stderr). */
int lb_stack_count(lb_stack_t *self, int n, int *b1, int *b2);

/* Waits (bounded) until 8 requests all answer and reach both backends;
 * false at once when a request fails. */
bool lb_stack_wait_both(lb_stack_t *self, int timeout_ms);

/* Waits (bounded) until the client's neighbour table has the lb's eth0
 * address for the VIP (IPv4 or IPv6): the announcement reached it. */
bool lb_stack_wait_learnt(lb_stack_t *self, int timeout_ms);

#endif
