/* ha_cluster: the HA stack of issue 16 on loopback, for test_ha and
 * bench_takeover: a 3-member etcd (etcd_server), two interlookd on it
 * (core.store: etcd, one leads, the other stands by), interlook-inject as
 * the provider, two interlook-ipalloc on the etcd store (one pool, shared
 * keys) and one interlook-echo, the extensions given both cores' endpoints.
 * It feeds the provider (services named s0, s1, ... in the order added),
 * remembers which are live, and tells when a core has converged on them; it
 * runs the failover round the issue asks for (kill -9 of the leader under a
 * steady load of additions and removals, the standby's takeover timed, the
 * killed core back as the standby).
 *
 * No function aborts: each returns -1, NULL or false and says why (on
 * stderr, or in a why buffer), so that the benchmark, which has no cmocka,
 * uses it too. */
#ifndef INTERLOOK_HA_CLUSTER_H
#define INTERLOOK_HA_CLUSTER_H

#include "tests/support/etcd_server.h"
#include "tests/support/fixture.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct _ha_cluster_t ha_cluster_t;

typedef struct {
    const char *name; /* who runs it, the fixture's name; NULL: "ha_cluster" */
    int ttl_s;        /* core.etcd.leaseTTL in seconds; 0: 2 */
    bool one_each;    /* core i talks to etcd member i only (a partition is a member stopped) */
    const char *log_level; /* the cores' core.logLevel; NULL: debug (test_ha reads "-> WORK") */
    int timeout_ms;        /* bound of each start and wait inside; 0: 30 s */
} ha_cluster_opts_t;

/* What one failover round measured (ms). */
typedef struct {
    int64_t takeover_ms; /* kill -9 of the leader -> the standby's /health says leader */
    int64_t register_ms; /* that -> every extension registered with it */
    int64_t converge_ms; /* that -> every live service deployed on it, none twice */
} ha_takeover_t;

/* Starts the whole stack and waits until each process is up (the cores'
 * ports written, the extensions spawned). NULL, with the reason on stderr,
 * when any part does not start. */
ha_cluster_t *ha_cluster_new(const ha_cluster_opts_t *opts);

/* Stops every process (fixture_destroy), the etcd members, removes the
 * directory, frees it. */
void ha_cluster_destroy(ha_cluster_t **self_p);

/* The directory (logs: core0.log, core1.log, core0.out, inject.log, ...). */
const char *ha_cluster_dir(ha_cluster_t *self);
etcd_server_t *ha_cluster_etcd(ha_cluster_t *self);
/* Core i's API ("http://127.0.0.1:PORT") and ROUTER endpoint, as bound. */
const char *ha_cluster_api(ha_cluster_t *self, int i);
const char *ha_cluster_router(ha_cluster_t *self, int i);
const char *ha_cluster_publish(ha_cluster_t *self, int i);
/* The fixture that owns the processes (fixture_spawn: stopped at destroy). */
fixture_t *ha_cluster_fixture(ha_cluster_t *self);
/* Core i's pid; 0 while it is not running. */
pid_t ha_cluster_core_pid(ha_cluster_t *self, int i);
/* The lease TTL the cores run with, in ms. */
int ha_cluster_ttl_ms(ha_cluster_t *self);

/* Starts core i again on its ports and waits until it wrote them. 0 or -1. */
int ha_cluster_start_core(ha_cluster_t *self, int i);

/* kill -9 of core i, waited for. 0, or -1 when it was not running. */
int ha_cluster_kill_core(ha_cluster_t *self, int i);

/* Core i's role as its /health says it ("" when it does not answer) and the
 * reason given (reason may be NULL). */
void ha_cluster_role(ha_cluster_t *self, int i, char *role, size_t len, char *reason, size_t rlen);
bool ha_cluster_is_role(ha_cluster_t *self, int i, const char *role);

/* Core i says role within timeout_ms. */
bool ha_cluster_wait_role(ha_cluster_t *self, int i, const char *role, int timeout_ms);

/* The index of the core that leads, waited for; -1 when none does in time. */
int ha_cluster_leader(ha_cluster_t *self, int timeout_ms);

/* Reports n more services (s<added> ...). 0, or -1 when the provider's
 * input cannot be written. */
int ha_cluster_add(ha_cluster_t *self, int n);

/* Reports the removal of the n oldest live services (fewer when fewer are
 * live). 0 or -1 as ha_cluster_add. */
int ha_cluster_remove(ha_cluster_t *self, int n);

/* How many services were added (the next is s<added>), and how many of
 * them are live (added, not removed). */
int ha_cluster_added(ha_cluster_t *self);
int ha_cluster_live(ha_cluster_t *self);

/* Every extension (the provider, both allocators, echo) has its instances
 * registered with core i, within timeout_ms. */
bool ha_cluster_wait_registered(ha_cluster_t *self, int i, int timeout_ms);

/* Within timeout_ms, core i's /services shows every live service deployed
 * (not in progress) with an IP, no IP twice among them, every removed one
 * undeployed or gone, and nothing else. On false, why says what was wrong
 * at the last look. */
bool ha_cluster_wait_converged(ha_cluster_t *self, int i, int timeout_ms, char *why, size_t whylen);

/* The allocations in etcd are exactly the name -> IP set core i shows
 * deployed: the ip/ keys as interlook-ipalloc --list prints them, and the
 * svc/ keys read from etcd. 0, or -1 with why. */
int ha_cluster_check_allocations(ha_cluster_t *self, int i, char *why, size_t whylen);

/* One failover round, leader being the core that leads and the other
 * standing by: services added and removed (in flight), kill -9 of the
 * leader, more added and removed while no core leads, the standby's
 * takeover waited for (bounded by the cluster's timeout) and timed, every
 * extension registered with it, more changes, every service converged on
 * it; then the killed core started again and waited for as the standby.
 * Returns the new leader's index with *out filled, or -1 with why (what
 * did not happen; *out holds what was measured until then). */
int ha_cluster_failover(ha_cluster_t *self, int leader, ha_takeover_t *out, char *why,
                        size_t whylen);

/* The p-th percentile (0..100, nearest rank) of n values (sorted in place). */
int64_t ha_cluster_percentile(int64_t *values, size_t n, int p);

#endif
