/* dns_job: one zone's share of a batch, see dns_job.h. */
#include "extensions/dns/dns_job.h"

#include <interlook.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dns_job_t *dns_job_new(const char *zone, const char *owner_id, uint32_t ttl)
{
    dns_job_t *self = il_calloc(1, sizeof *self);
    self->zone = zone;
    self->owner_id = owner_id;
    self->ttl = ttl;
    return self;
}

void dns_job_add(dns_job_t *self, size_t item, const char *service, const char *name,
                 const char *ip)
{
    if (self->count == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 8;
        self->names = il_realloc(self->names, self->capacity * sizeof *self->names);
    }
    dns_update_name_t *n = &self->names[self->count++];
    memset(n, 0, sizeof *n);
    n->name = il_strdup(name);
    n->service = service;
    n->ip = ip;
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
        if (!use[i] || n->error) continue;
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

void dns_job_run(dns_job_t *self, dns_client_t *client, const char *server)
{
    if (self->count == 0) return;
    bool *use = il_malloc(self->count * sizeof *use);
    for (size_t i = 0; i < self->count; i++)
        use[i] = true;
    /* Two services of one batch claiming a name: the first one gets it. */
    for (size_t i = 0; i < self->count; i++)
        for (size_t j = 0; j < i; j++)
            if (self->names[j].item != self->names[i].item &&
                strcmp(self->names[j].name, self->names[i].name) == 0 && self->names[i].ip) {
                s_fail(&self->names[i], "zone %s: %s is also an alias of service %s in this batch",
                       self->zone, self->names[i].name, self->names[j].service);
                break;
            }
    s_check_owners(self, client, server, use);
    s_spread_errors(self, use);
    int rc = s_update(self, client, server, use);
    if (rc == LDNS_RCODE_YXDOMAIN || rc == LDNS_RCODE_YXRRSET || rc == LDNS_RCODE_NXRRSET) {
        /* One prerequisite failed the message: each item alone, read again. */
        for (size_t i = 0; i < self->count;) {
            size_t item = self->names[i].item, j = i;
            for (size_t k = 0; k < self->count; k++)
                use[k] = false;
            for (; j < self->count && self->names[j].item == item; j++)
                use[j] = true;
            il_log_debug("dns: zone %s: %s again on its own after %s", self->zone,
                         self->names[i].service, dns_client_rcode_name(rc));
            s_check_owners(self, client, server, use);
            s_spread_errors(self, use);
            int one = s_update(self, client, server, use);
            if (one == LDNS_RCODE_YXDOMAIN || one == LDNS_RCODE_YXRRSET ||
                one == LDNS_RCODE_NXRRSET)
                s_fail_prereq(self, server, use, one);
            i = j;
        }
    }
    free(use);
}
