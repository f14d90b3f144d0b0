/* dns_worker: the thread (a czmq actor) that runs dns_jobs, so that the
 * blocking exchanges with the DNS server never hold the ZeroMQ loop (and
 * its heartbeats). Jobs run one after the other, in the order given; each
 * comes back on the worker's socket when done. */
#ifndef INTERLOOK_DNS_WORKER_H
#define INTERLOOK_DNS_WORKER_H

#include "extensions/dns/dns_job.h"

#include <czmq.h>

typedef struct _dns_worker_t dns_worker_t;

/* Starts the thread; it uses client (which must outlive the worker). */
dns_worker_t *dns_worker_new(dns_client_t *client, const char *server);

/* Stops the thread after the job it is running; jobs not started are freed. */
void dns_worker_destroy(dns_worker_t **self_p);

/* Hands a job over (the worker owns it until it comes back). */
void dns_worker_submit(dns_worker_t *self, dns_job_t *job);

/* The socket a finished job arrives on (readable: call dns_worker_receive). */
zsock_t *dns_worker_sock(dns_worker_t *self);

/* A finished job (the caller owns it again), NULL when none could be read. */
dns_job_t *dns_worker_receive(dns_worker_t *self);

#endif
