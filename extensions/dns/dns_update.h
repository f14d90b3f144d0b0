/* dns_update: the DNS messages of the dns.rfc2136 step, built with ldns: the
 * TXT query that tells who owns a name, the reading of its answer, and the
 * RFC 2136 UPDATE for a set of names of one zone.
 *
 * Ownership, in the style of external-dns: a name written by interlook
 * carries a TXT "heritage=interlook,owner=OWNER,service=SERVICE". A name is
 *   absent   when the TXT query answers NXDOMAIN: the UPDATE then requires
 *            "name not in use" (RFC 2136 2.4.5), so that a record created
 *            between the query and the UPDATE is not overwritten;
 *   ours     when it has our exact TXT: the UPDATE requires that TXT
 *            (value-dependent, 2.4.2), so that a change of owner in between
 *            fails the UPDATE;
 *   foreign  otherwise (records and no TXT of ours, another owner, or another
 *            service of this owner): never written. */
#ifndef INTERLOOK_DNS_UPDATE_H
#define INTERLOOK_DNS_UPDATE_H

#include <ldns/ldns.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    DNS_OWNER_UNKNOWN = 0,
    DNS_OWNER_ABSENT,
    DNS_OWNER_OURS,
    DNS_OWNER_FOREIGN
} dns_owner_t;

/* What an entry of a job is: a name of the service, or the service's index
 * record in the zone. */
typedef enum { DNS_NAME_RECORD = 0, DNS_NAME_INDEX } dns_name_kind_t;

/* One name to write (add: ip set) or to remove (delete: ip NULL). */
typedef struct {
    char *name;           /* normal form (dns_zone_normalize) */
    const char *service;  /* the service it belongs to */
    const char *ip;       /* add: IPv4 (A) or IPv6 (AAAA) address; delete: NULL */
    dns_owner_t owner;    /* what the TXT query found */
    char *foreign;        /* when foreign: who owns it, for messages */
    ldns_rr_list *txt;    /* when ours: the name's TXT RRset as read (ours and
                             any other TXT: the prerequisite must match it all) */
    size_t item;          /* the caller's index of its work item */
    char *error;          /* set when this name failed */
    dns_name_kind_t kind; /* INDEX: name is the index record's owner name */
    char *index_names;    /* INDEX: the names to list, comma-separated; NULL or "":
                             the index is removed */
} dns_update_name_t;

/* Frees what dns_update_read_owner and the caller set in n (name, foreign,
 * txt, error). */
void dns_update_name_clear(dns_update_name_t *n);

/* "heritage=interlook,owner=OWNER,service=SERVICE", newly allocated. */
char *dns_update_txt(const char *owner_id, const char *service);

/* A TXT query for name (RD off). NULL when name is not a valid domain name. */
ldns_pkt *dns_update_query(const char *name);

/* Reads the answer to dns_update_query for n: sets n->owner (and n->foreign:
 * "owned by TXT \"...\"" for another owner's TXT, or "it has records and no
 * ownership TXT").
 * Returns 0, or -1 for an answer that says nothing about the name (an rcode
 * other than NOERROR or NXDOMAIN: the caller reports it). */
int dns_update_read_owner(dns_update_name_t *n, const ldns_pkt *answer, const char *owner_id);

/* The index record of a service in a zone: a TXT RRset at
 * "_il-HASH.ZONE" (HASH: 16 hex digits of FNV-1a 64 of "OWNER/SERVICE": a
 * service name need not be a valid label) whose RR reads
 * "heritage=interlook,owner=OWNER,service=SERVICE" "names=a.zone,b.zone" ...:
 * the names the service has in the zone, in character-strings of at most 255
 * bytes (one name each at least), so that a name taken out of the service's
 * aliases is still known and removed. Its owner name, newly allocated. */
char *dns_update_index_name(const char *owner_id, const char *service, const char *zone);

/* Reads the answer to the TXT query of an index entry n: owner ABSENT
 * (NXDOMAIN), OURS (a TXT RR starting with our ownership string; n->txt
 * gets the whole TXT RRset, the names it lists are appended to *listed,
 * comma-separated, newly allocated) or FOREIGN (anything else, n->foreign
 * says what). Returns 0, or -1 for an rcode other than NOERROR or NXDOMAIN. */
int dns_update_read_index(dns_update_name_t *n, const ldns_pkt *answer, const char *owner_id,
                          char **listed);

/* The UPDATE for zone with the names[i] for which use[i] is true (use NULL:
 * all); each must have owner ABSENT or OURS (a delete of an ABSENT name is
 * skipped). For an add: prerequisite, then delete the A, AAAA and TXT
 * RRsets, add the address (and our TXT when absent) with ttl. For a delete:
 * the TXT RRset as prerequisite, delete the A and AAAA RRsets and our TXT
 * record (only ours: a TXT someone else added at the name stays). An INDEX
 * entry: prerequisite "name not in use" (ABSENT) or its TXT RRset as read
 * (OURS), then its TXT RRset replaced by index_names (removed when empty;
 * an ABSENT index with nothing to list is skipped). Returns NULL with the
 * reason in err (a name or address ldns refuses); *count gets the number of
 * names it writes (0: nothing to send, the packet is still returned). */
ldns_pkt *dns_update_build(const char *zone, dns_update_name_t *names, const bool *use,
                           size_t count, const char *owner_id, uint32_t ttl, size_t *written,
                           char *err, size_t errlen);

#endif
