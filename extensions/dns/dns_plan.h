/* dns_plan: what one work item asks of the DNS: its aliases checked (an add
 * needs a public_ip and every alias in a configured zone) and queued, each
 * into the job of its zone, so that the work of a batch becomes one job per
 * zone. A delete queues the names in the zones and ignores the others
 * (interlook never wrote them), so that it is never blocked. Every zone
 * also gets the item (dns_job_add_index in the zones it has no name in), so
 * that its index record there is read and the names taken out of it go. */
#ifndef INTERLOOK_DNS_PLAN_H
#define INTERLOOK_DNS_PLAN_H

#include "common/service.h"
#include "extensions/dns/dns_config.h"
#include "extensions/dns/dns_job.h"

#include <stdbool.h>

/* Queues the names of service (work item number item; add or delete) into
 * jobs[z] for config->zones[z], creating the job when NULL. Returns NULL
 * (queued), or the reason the item fails at
 * once, newly allocated; nothing of it is queued then. service must
 * outlive the jobs. */
char *dns_plan_item(const dns_config_t *config, dns_job_t **jobs, size_t item, bool add,
                    const il_service_t *service);

#endif
