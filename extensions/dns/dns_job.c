/* dns_job: one zone's share of a batch, see dns_job.h. */
#include "extensions/dns/dns_job.h"

#include <interlook.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_UPDATE_BYTES 32000 /* half of what TCP can carry: the TXT RRsets read can add */

dns_job_t *dns_job_new(const char *zone, const char *owner_id, uint32_t ttl)
{
    dns_job_t *self = il_calloc(1, sizeof *self);
    self->zone = zone;
    self->owner_id = owner_id;
    self->ttl = ttl;
    return self;
}

static dns_update_name_t *s_push(dns_job_t *self)
{
    if (self->count == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 8;
        self->names = il_realloc(self->names, self->capacity * sizeof *self->names);
    }
    dns_update_name_t *n = &self->names[self->count++];
    memset(n, 0, sizeof *n);
    return n;
}

void dns_job_add(dns_job_t *self, size_t item, const char *service, const char *name,
                 const char *ip)
{
    dns_update_name_t *n = s_push(self);
    n->name = il_strdup(name);
    n->service = service;
    n->ip = ip;
    n->item = item;
}

void dns_job_add_index(dns_job_t *self, size_t item, const char *service, bool add)
{
    dns_update_name_t *n = s_push(self);
    n->kind = DNS_NAME_INDEX; /* a marker: its name is set when the job runs */
    n->service = service;
    n->ip = add ? "" : NULL;
    n->item = item;
}

void dns_job_destroy(dns_job_t **self_p)
{
    dns_job_t *self = *self_p;
    if (!self) return;
    for (size_t i = 0; i < self->count; i++)
        dns_update_name_clear(&self->names[i]);
    free(self->names);
    free(self);
    *self_p = NULL;
}

static void s_fail(dns_update_name_t *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void s_fail(dns_update_name_t *n, const char *fmt, ...)
{
    if (n->error) return; /* the first reason is the one that matters */
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    n->error = il_strdup(text);
}

/* Reads who owns each name in use[] not failed yet; a foreign name fails on
 * add, and is left alone (success) on delete. */
static void s_check_owners(dns_job_t *self, dns_client_t *client, const char *server,
                           const bool *use)
{
    char err[768];
    for (size_t i = 0; i < self->count; i++) {
        dns_update_name_t *n = &self->names[i];
        if (!use[i] || n->error || n->kind == DNS_NAME_INDEX) continue; /* read once, first */
        ldns_pkt *query = dns_update_query(n->name), *reply = NULL;
        if (!query) {
            s_fail(n, "%s: not a valid DNS name", n->name);
            continue;
        }
        if (dns_client_exchange(client, query, &reply, err, sizeof err) != 0) {
            /* The server is down, slow or refuses the key: the next names would
             * only wait for the same answer (timeouts add up past the core's
             * work timeout). */
            for (size_t j = i; j < self->count; j++)
                if (use[j])
                    s_fail(&self->names[j], "%s (zone %s, reading the TXT of %s)", err, self->zone,
                           n->name);
        } else if (dns_update_read_owner(n, reply, self->owner_id) != 0)
            s_fail(n, "server %s: zone %s: %s answering the TXT query for %s", server, self->zone,
                   dns_client_rcode_name(ldns_pkt_get_rcode(reply)), n->name);
        else if (n->owner == DNS_OWNER_FOREIGN && n->ip)
            s_fail(n,
                   "server %s: zone %s: %s is not ours (%s; ours would be TXT "
                   "\"heritage=interlook,owner=%s,service=%s\"): left untouched",
                   server, self->zone, n->name, n->foreign, self->owner_id, n->service);
        else if (n->owner == DNS_OWNER_FOREIGN)
            il_log_info("dns: %s (service %s) is not ours (%s): left in place", n->name, n->service,
                        n->foreign);
        ldns_pkt_free(query);
        if (reply) ldns_pkt_free(reply);
    }
}

/* A service is written whole or not at all (in this zone): when one of its
 * names fails before the UPDATE, its other names wait for the retry. */
static void s_spread_errors(dns_job_t *self, const bool *use)
{
    for (size_t i = 0; i < self->count; i++) {
        dns_update_name_t *n = &self->names[i];
        if (!use[i] || !n->error || !n->ip) continue;
        for (size_t j = 0; j < self->count; j++)
            if (use[j] && j != i && self->names[j].item == n->item && !self->names[j].error)
                s_fail(&self->names[j], "%s", n->error); /* the cause, not "not written" */
    }
}

/* One UPDATE for the names in use[] still without error and not foreign.
 * Returns the rcode (0 also when there was nothing to send), or -1 after
 * failing them all with the transport's reason. */
static int s_update(dns_job_t *self, dns_client_t *client, const char *server, const bool *use)
{
    bool *send = il_calloc(self->count ? self->count : 1, sizeof *send);
    for (size_t i = 0; i < self->count; i++) {
        dns_update_name_t *n = &self->names[i];
        send[i] = use[i] && !n->error && n->owner != DNS_OWNER_FOREIGN;
    }
    char err[768];
    size_t written = 0;
    int rc = 0;
    ldns_pkt *pkt = dns_update_build(self->zone, self->names, send, self->count, self->owner_id,
                                     self->ttl, &written, err, sizeof err);
    if (!pkt) {
        for (size_t i = 0; i < self->count; i++)
            if (send[i]) s_fail(&self->names[i], "zone %s: %s", self->zone, err);
        free(send);
        return -1;
    }
    if (written > 0) {
        ldns_pkt *reply = NULL;
        self->updates++;
        if (dns_client_exchange(client, pkt, &reply, err, sizeof err) != 0) {
            for (size_t i = 0; i < self->count; i++)
                if (send[i]) s_fail(&self->names[i], "%s (zone %s, UPDATE)", err, self->zone);
            rc = -1;
        } else {
            rc = ldns_pkt_get_rcode(reply);
            ldns_pkt_free(reply);
        }
    }
    ldns_pkt_free(pkt);
    if (rc > 0 && rc != LDNS_RCODE_YXDOMAIN && rc != LDNS_RCODE_YXRRSET &&
        rc != LDNS_RCODE_NXRRSET) {
        for (size_t i = 0; i < self->count; i++)
            if (send[i])
                s_fail(&self->names[i], "server %s: zone %s: UPDATE answered %s%s", server,
                       self->zone, dns_client_rcode_name(rc),
                       rc == LDNS_RCODE_REFUSED ? " (the server does not allow this update)"
                       : rc == LDNS_RCODE_NOTAUTH
                           ? " (not authoritative for the zone, or the key is refused)"
                       : rc == LDNS_RCODE_NOTZONE ? " (a name outside the zone)"
                                                  : "");
    }
    free(send);
    return rc;
}

/* The names of the items of use[] that failed a prerequisite: said so. */
static void s_fail_prereq(dns_job_t *self, const char *server, const bool *use, int rc)
{
    for (size_t i = 0; i < self->count; i++) {
        dns_update_name_t *n = &self->names[i];
        if (use[i] && !n->error && n->owner != DNS_OWNER_FOREIGN)
            s_fail(n,
                   "server %s: zone %s: UPDATE answered %s: %s changed while being written (%s); "
                   "will retry",
                   server, self->zone, dns_client_rcode_name(rc), n->name,
                   n->owner == DNS_OWNER_ABSENT ? "it was absent, now in use" : "our TXT changed");
    }
}

/* The names [start, end) (whole items): read, one UPDATE, and after a failed
 * prerequisite each item again on its own. */
static void s_run_range(dns_job_t *self, dns_client_t *client, const char *server, bool *use,
                        size_t start, size_t end)
{
    for (size_t k = 0; k < self->count; k++)
        use[k] = k >= start && k < end;
    s_check_owners(self, client, server, use);
    s_spread_errors(self, use);
    int rc = s_update(self, client, server, use);
    if (rc != LDNS_RCODE_YXDOMAIN && rc != LDNS_RCODE_YXRRSET && rc != LDNS_RCODE_NXRRSET) return;
    /* One prerequisite failed the message: each item alone, read again. */
    for (size_t i = start; i < end;) {
        size_t item = self->names[i].item, j = i;
        for (size_t k = 0; k < self->count; k++)
            use[k] = false;
        for (; j < end && self->names[j].item == item; j++)
            use[j] = true;
        il_log_debug("dns: zone %s: %s again on its own after %s", self->zone,
                     self->names[i].service, dns_client_rcode_name(rc));
        s_check_owners(self, client, server, use);
        s_spread_errors(self, use);
        int one = s_update(self, client, server, use);
        if (one == LDNS_RCODE_YXDOMAIN || one == LDNS_RCODE_YXRRSET || one == LDNS_RCODE_NXRRSET)
            s_fail_prereq(self, server, use, one);
        i = j;
    }
}

/* A generous guess of a name's share of an UPDATE on the wire (its name in
 * five RRs without compression, the TXT twice, an address). */
static size_t s_wire_guess(const dns_update_name_t *n)
{
    return (strlen(n->name) + 2) * 5 + 2 * (strlen(n->service) + 64) + 120 +
           (n->index_names ? 2 * strlen(n->index_names) + 16 : 0);
}

/* Whether "a,b,c" holds name. */
static bool s_listed(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, len) == 0) return true;
        p += n;
        if (*p == ',') p++;
    }
    return false;
}

/* Reads the index of the item whose entries are group[0..count) (moved into
 * self); appends a delete for each name it lists that the item does not
 * have, then the index entry with what it is to list. *down: the reason the
 * server cannot be asked (then nothing more is asked). */
static void s_index_item(dns_job_t *self, dns_client_t *client, const char *server,
                         dns_update_name_t *group, size_t count, char **down)
{
    size_t first = self->count, item = group[0].item;
    const char *service = group[0].service;
    bool add = false;
    for (size_t k = 0; k < count; k++) {
        if (group[k].ip) add = true;
        if (group[k].kind == DNS_NAME_INDEX) {
            dns_update_name_clear(&group[k]); /* the marker */
            continue;
        }
        *s_push(self) = group[k];
    }
    const char *ip = NULL; /* an add's index entry carries an address: its errors spread */
    for (size_t k = 0; k < count && add; k++)
        if (group[k].ip) ip = group[k].ip;
    char *wanted = NULL; /* the names to list: the item's, once each */
    for (size_t k = first; add && k < self->count; k++)
        if (!s_listed(wanted, self->names[k].name)) {
            size_t old = wanted ? strlen(wanted) : 0, len = strlen(self->names[k].name);
            wanted = il_realloc(wanted, old + len + 2);
            if (old) wanted[old++] = ',';
            memcpy(wanted + old, self->names[k].name, len + 1);
        }
    dns_update_name_t idx;
    memset(&idx, 0, sizeof idx);
    idx.kind = DNS_NAME_INDEX;
    idx.name = dns_update_index_name(self->owner_id, service, self->zone);
    idx.service = service;
    idx.ip = ip;
    idx.item = item;
    idx.index_names = wanted;
    char err[768], *listed = NULL;
    if (*down) {
        s_fail(&idx, "%s", *down);
    } else {
        ldns_pkt *query = dns_update_query(idx.name), *reply = NULL;
        if (!query)
            s_fail(&idx, "%s: not a valid DNS name", idx.name);
        else if (dns_client_exchange(client, query, &reply, err, sizeof err) != 0) {
            size_t len = strlen(err) + strlen(self->zone) + strlen(idx.name) + 64;
            *down = il_malloc(len);
            snprintf(*down, len, "%s (zone %s, reading the index %s)", err, self->zone, idx.name);
            s_fail(&idx, "%s", *down);
        } else if (dns_update_read_index(&idx, reply, self->owner_id, &listed) != 0)
            s_fail(&idx, "server %s: zone %s: %s answering the TXT query for the index %s", server,
                   self->zone, dns_client_rcode_name(ldns_pkt_get_rcode(reply)), idx.name);
        else if (idx.owner == DNS_OWNER_FOREIGN && add)
            s_fail(&idx, "server %s: zone %s: the index %s of service %s is not ours (%s)", server,
                   self->zone, idx.name, service, idx.foreign);
        else if (idx.owner == DNS_OWNER_FOREIGN)
            il_log_info("dns: the index %s (service %s) is not ours (%s): left in place", idx.name,
                        service, idx.foreign);
        if (query) ldns_pkt_free(query);
        if (reply) ldns_pkt_free(reply);
    }
    /* The names it lists that the item no longer has: removed, when ours. */
    for (const char *p = listed; p && *p;) {
        size_t len = strcspn(p, ",");
        char *name = il_strndup(p, len);
        bool have = false;
        for (size_t k = first; k < self->count && !have; k++)
            have = strcmp(self->names[k].name, name) == 0;
        if (!have) {
            il_log_debug("dns: zone %s: %s was taken out of service %s: removed", self->zone, name,
                         service);
            dns_update_name_t *n = s_push(self);
            n->name = name;
            n->service = service;
            n->item = item;
        } else
            free(name);
        p += len;
        if (*p == ',') p++;
    }
    free(listed);
    *s_push(self) = idx;
    for (size_t k = first; *down && k < self->count; k++)
        s_fail(&self->names[k], "%s", *down);
}

/* Each item gets its index entry, and the names its index lists that it no
 * longer has (see dns_job.h); the entries of an item stay adjacent. */
static void s_read_indexes(dns_job_t *self, dns_client_t *client, const char *server)
{
    dns_update_name_t *old = self->names;
    size_t old_count = self->count;
    self->names = NULL;
    self->count = self->capacity = 0;
    char *down = NULL;
    for (size_t i = 0; i < old_count;) {
        size_t j = i;
        while (j < old_count && old[j].item == old[i].item)
            j++;
        s_index_item(self, client, server, old + i, j - i, &down);
        i = j;
    }
    free(down);
    free(old);
}

void dns_job_run(dns_job_t *self, dns_client_t *client, const char *server)
{
    if (self->count == 0) return;
    s_read_indexes(self, client, server);
    bool *use = il_malloc(self->count * sizeof *use);
    /* Two services of one batch claiming a name: the first one gets it. */
    for (size_t i = 0; i < self->count; i++)
        for (size_t j = 0; j < i; j++)
            if (self->names[j].item != self->names[i].item && self->names[j].ip &&
                self->names[i].kind == DNS_NAME_RECORD && self->names[j].kind == DNS_NAME_RECORD &&
                strcmp(self->names[j].name, self->names[i].name) == 0 && self->names[i].ip) {
                s_fail(&self->names[i], "zone %s: %s is also an alias of service %s in this batch",
                       self->zone, self->names[i].name, self->names[j].service);
                break;
            }
    /* A DNS message over TCP is at most 65535 bytes: whole items are sent
     * together while they surely fit. */
    for (size_t start = 0; start < self->count;) {
        size_t end = start, bytes = 0;
        while (end < self->count) {
            size_t item = self->names[end].item, j = end, item_bytes = 0;
            for (; j < self->count && self->names[j].item == item; j++)
                item_bytes += s_wire_guess(&self->names[j]);
            if (end > start && bytes + item_bytes > S_MAX_UPDATE_BYTES) break;
            bytes += item_bytes;
            end = j;
        }
        s_run_range(self, client, server, use, start, end);
        start = end;
    }
    free(use);
}
