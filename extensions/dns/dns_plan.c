/* dns_plan: from a work item to the names of each zone's job, see
 * dns_plan.h. */
#include "extensions/dns/dns_plan.h"
#include "extensions/dns/dns_zone.h"

#include <interlook.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "a, b, c": the configured zones, for messages. */
static void s_zones_text(const dns_config_t *config, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < config->zone_count; i++) {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s", i ? ", " : "", config->zones[i]);
    }
}

/* The index of the zone name belongs to, or -1. */
static int s_zone_of(const dns_config_t *config, const char *name)
{
    const char *zone = dns_zone_match((const char *const *)config->zones, config->zone_count, name);
    for (size_t z = 0; zone && z < config->zone_count; z++)
        if (config->zones[z] == zone) return (int)z;
    return -1;
}

char *dns_plan_item(const dns_config_t *config, dns_job_t **jobs, size_t item, bool add,
                    const il_service_t *service)
{
    char text[1024], why[512];
    if (add && service->alias_count > 0 && (!service->public_ip || !*service->public_ip))
        return il_strdup("no public_ip: put an ipam step before dns");
    /* An add checks every alias before queuing any: a bad one fails the item
     * without half of its names written. */
    for (size_t a = 0; add && a < service->alias_count; a++) {
        char *name = dns_zone_normalize(service->dns_aliases[a], why, sizeof why);
        int z = name ? s_zone_of(config, name) : -1;
        if (!name)
            snprintf(text, sizeof text, "alias %s", why);
        else if (z < 0) {
            char zones[512];
            s_zones_text(config, zones, sizeof zones);
            snprintf(text, sizeof text, "alias %s is in no configured zone (zones: %s)", name,
                     zones);
        }
        free(name);
        if (!name || z < 0) return il_strdup(text);
    }
    bool *has = il_calloc(config->zone_count ? config->zone_count : 1, sizeof *has);
    for (size_t a = 0; a < service->alias_count; a++) {
        char *name = dns_zone_normalize(service->dns_aliases[a], why, sizeof why);
        int z = name ? s_zone_of(config, name) : -1;
        if (z >= 0) {
            if (!jobs[z])
                jobs[z] = dns_job_new(config->zones[z], config->owner_id, (uint32_t)config->ttl_s);
            dns_job_add(jobs[z], item, service->name, name, add ? service->public_ip : NULL);
            has[z] = true;
        }
        free(name);
    }
    /* A zone with none of its names (any more): its index there says which
     * names it had, to be removed. */
    for (size_t z = 0; z < config->zone_count; z++) {
        if (has[z]) continue;
        if (!jobs[z])
            jobs[z] = dns_job_new(config->zones[z], config->owner_id, (uint32_t)config->ttl_s);
        dns_job_add_index(jobs[z], item, service->name, add);
    }
    free(has);
    return NULL;
}
