/* dns_job: the work on one zone for one batch: the names of its work items,
 * whose ownership is read (a TXT query each), then written in one UPDATE
 * message; when that UPDATE fails on a prerequisite (a name changed hands
 * between query and update), each service's names are checked and sent again
 * on their own, so that only the culprit fails. Runs blocking, in
 * dns_worker's thread; the main loop only reads a job when it comes back. */
#ifndef INTERLOOK_DNS_JOB_H
#define INTERLOOK_DNS_JOB_H

#include "extensions/dns/dns_client.h"
#include "extensions/dns/dns_update.h"

#include <stdbool.h>

typedef struct {
    const char *zone;
    dns_update_name_t *names; /* count names; names of one item are adjacent */
    size_t count;
    size_t capacity;
    const char *owner_id;
    uint32_t ttl;
    uint64_t updates; /* UPDATE messages sent (figures, tests) */
    void *arg;        /* the caller's, for when the job comes back */
} dns_job_t;

dns_job_t *dns_job_new(const char *zone, const char *owner_id, uint32_t ttl);

/* Adds a name (copied) of item (its service name and address stay the
 * caller's and must outlive the job; ip NULL: delete). */
void dns_job_add(dns_job_t *self, size_t item, const char *service, const char *name,
                 const char *ip);

/* Marks item (its service name stays the caller's) as having no name in
 * this zone (add: true for an add), so that the job still reads the
 * service's index there and removes the names it lists. */
void dns_job_add_index(dns_job_t *self, size_t item, const char *service, bool add);

/* Does the work: first each item's index record in the zone is read (see
 * dns_update_index_name): the names it lists that the item no longer has
 * are removed (when still ours), and the index is rewritten with the
 * item's names (add) or removed (delete), all in the item's UPDATE. On
 * return each name has error NULL (done, or nothing to do) or the reason,
 * naming the server, the zone and the rcode or cause. */
void dns_job_run(dns_job_t *self, dns_client_t *client, const char *server);

void dns_job_destroy(dns_job_t **self_p);

#endif
