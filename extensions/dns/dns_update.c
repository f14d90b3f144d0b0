/* dns_update: the messages of the dns.rfc2136 step, see dns_update.h. The
 * RRs with no data (prerequisite "name not in use", RRset deletions) are
 * built field by field: ldns_rr_new_frm_str cannot express them. */
#include "extensions/dns/dns_update.h"

#include <interlook.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dns_update_name_clear(dns_update_name_t *n)
{
    free(n->name);
    free(n->foreign);
    free(n->error);
    free(n->index_names);
    n->index_names = NULL;
    if (n->txt) ldns_rr_list_deep_free(n->txt);
    n->name = n->foreign = n->error = NULL;
    n->txt = NULL;
}

char *dns_update_txt(const char *owner_id, const char *service)
{
    size_t len = strlen(owner_id) + strlen(service) + 64;
    char *text = il_malloc(len);
    snprintf(text, len, "heritage=interlook,owner=%s,service=%s", owner_id, service);
    return text;
}

/* The absolute name (trailing dot) as an rdf, NULL when ldns refuses it. */
static ldns_rdf *s_dname(const char *name)
{
    size_t len = strlen(name);
    char *abs = il_malloc(len + 2);
    memcpy(abs, name, len);
    abs[len] = '.';
    abs[len + 1] = '\0';
    if (len > 0 && name[len - 1] == '.') abs[len] = '\0';
    ldns_rdf *rdf = ldns_dname_new_frm_str(abs);
    free(abs);
    return rdf;
}

ldns_pkt *dns_update_query(const char *name)
{
    ldns_rdf *dname = s_dname(name);
    if (!dname) return NULL;
    ldns_pkt *pkt = ldns_pkt_query_new(dname, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, 0);
    if (pkt) ldns_pkt_set_random_id(pkt);
    return pkt;
}

/* The TXT's character-strings joined, newly allocated. */
static char *s_txt_text(const ldns_rr *rr)
{
    size_t total = 1;
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++)
        total += ldns_rdf_size(ldns_rr_rdf(rr, i));
    char *text = il_malloc(total), *p = text;
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
        const ldns_rdf *rdf = ldns_rr_rdf(rr, i);
        const uint8_t *data = ldns_rdf_data(rdf);
        size_t size = ldns_rdf_size(rdf);
        if (size == 0) continue;
        size_t len = data[0] < size - 1 ? data[0] : size - 1;
        for (size_t j = 0; j < len; j++)
            *p++ = data[1 + j] ? (char)data[1 + j] : '?';
    }
    *p = '\0';
    return text;
}

/* What a TXT answer about n's name starts with, for both readers: n's
 * earlier reading forgotten; 0 when the name does not exist (n->owner is
 * DNS_OWNER_ABSENT: nothing more to read), -1 for an rcode other than
 * NOERROR, 1 to read the answer's records. */
static int s_read_begin(dns_update_name_t *n, const ldns_pkt *answer)
{
    free(n->foreign);
    n->foreign = NULL;
    if (n->txt) ldns_rr_list_deep_free(n->txt);
    n->txt = NULL;
    n->owner = DNS_OWNER_UNKNOWN;
    ldns_pkt_rcode rcode = ldns_pkt_get_rcode(answer);
    if (rcode == LDNS_RCODE_NXDOMAIN) {
        n->owner = DNS_OWNER_ABSENT;
        return 0;
    }
    return rcode == LDNS_RCODE_NOERROR ? 1 : -1;
}

int dns_update_read_owner(dns_update_name_t *n, const ldns_pkt *answer, const char *owner_id)
{
    int begun = s_read_begin(n, answer);
    if (begun <= 0) return begun;
    ldns_rdf *dname = s_dname(n->name);
    if (!dname) return -1;
    char *ours = dns_update_txt(owner_id, n->service);
    char *other = NULL;
    ldns_rr_list *txt = ldns_rr_list_new();
    bool mine = false;
    const ldns_rr_list *rrs = ldns_pkt_answer(answer);
    for (size_t i = 0; rrs && i < ldns_rr_list_rr_count(rrs); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(rrs, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT ||
            ldns_dname_compare(ldns_rr_owner(rr), dname) != 0)
            continue;
        ldns_rr_list_push_rr(txt, ldns_rr_clone(rr));
        char *text = s_txt_text(rr);
        if (strcmp(text, ours) == 0)
            mine = true;
        else if (!other || strncmp(text, "heritage=", 9) == 0) {
            free(other); /* an ownership TXT says more than any other */
            other = text;
            text = NULL;
        }
        free(text);
    }
    if (mine) {
        n->owner = DNS_OWNER_OURS;
        n->txt = txt;
        txt = NULL;
    } else {
        n->owner = DNS_OWNER_FOREIGN;
        if (other && strncmp(other, "heritage=", 9) == 0) {
            size_t len = strlen(other) + 16;
            n->foreign = il_malloc(len);
            snprintf(n->foreign, len, "owned by TXT \"%s\"", other);
        } else
            n->foreign = il_strdup("it has records and no ownership TXT");
    }
    if (txt) ldns_rr_list_deep_free(txt);
    free(other);
    free(ours);
    ldns_rdf_deep_free(dname);
    return 0;
}

static ldns_rr *s_empty_rr(const ldns_rdf *owner, ldns_rr_type type, ldns_rr_class klass);

char *dns_update_index_name(const char *owner_id, const char *service, const char *zone)
{
    uint64_t hash = 0xcbf29ce484222325ULL; /* FNV-1a 64 */
    for (const char *p = owner_id; *p; p++)
        hash = (hash ^ (uint8_t)*p) * 0x100000001b3ULL;
    hash = (hash ^ (uint8_t)'/') * 0x100000001b3ULL;
    for (const char *p = service; *p; p++)
        hash = (hash ^ (uint8_t)*p) * 0x100000001b3ULL;
    size_t len = strlen(zone) + 32;
    char *name = il_malloc(len);
    snprintf(name, len, "_il-%016llx.%s", (unsigned long long)hash, zone);
    return name;
}

/* The i-th character-string of a TXT RR, newly allocated. */
static char *s_txt_string(const ldns_rr *rr, size_t i)
{
    const ldns_rdf *rdf = ldns_rr_rdf(rr, i);
    const uint8_t *data = ldns_rdf_data(rdf);
    size_t size = ldns_rdf_size(rdf);
    size_t len = size == 0 ? 0 : data[0] < size - 1 ? data[0] : size - 1;
    char *text = il_malloc(len + 1);
    for (size_t j = 0; j < len; j++)
        text[j] = data[1 + j] ? (char)data[1 + j] : '?';
    text[len] = '\0';
    return text;
}

/* Appends "a,b" to *list ("x" becomes "x,a,b"). */
static void s_list_append(char **list, const char *names)
{
    if (!*names) return;
    size_t old = *list ? strlen(*list) : 0, len = strlen(names);
    *list = il_realloc(*list, old + len + 2);
    if (old) (*list)[old++] = ',';
    memcpy(*list + old, names, len + 1);
}

int dns_update_read_index(dns_update_name_t *n, const ldns_pkt *answer, const char *owner_id,
                          char **listed)
{
    int begun = s_read_begin(n, answer);
    if (begun <= 0) return begun;
    ldns_rdf *dname = s_dname(n->name);
    if (!dname) return -1;
    char *ours = dns_update_txt(owner_id, n->service);
    ldns_rr_list *txt = ldns_rr_list_new();
    bool mine = false;
    const ldns_rr_list *rrs = ldns_pkt_answer(answer);
    for (size_t i = 0; rrs && i < ldns_rr_list_rr_count(rrs); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(rrs, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT ||
            ldns_dname_compare(ldns_rr_owner(rr), dname) != 0)
            continue;
        ldns_rr_list_push_rr(txt, ldns_rr_clone(rr));
        char *first = ldns_rr_rd_count(rr) > 0 ? s_txt_string(rr, 0) : il_strdup("");
        if (strcmp(first, ours) == 0) {
            mine = true;
            /* "names=a,b" "c,d": the list goes on over the strings */
            for (size_t s = 1; s < ldns_rr_rd_count(rr); s++) {
                char *text = s_txt_string(rr, s);
                s_list_append(listed, strncmp(text, "names=", 6) == 0 ? text + 6 : text);
                free(text);
            }
        }
        free(first);
    }
    if (mine) {
        n->owner = DNS_OWNER_OURS;
        n->txt = txt;
        txt = NULL;
    } else {
        n->owner = DNS_OWNER_FOREIGN;
        n->foreign = il_strdup("it has records and no index TXT of this service");
    }
    if (txt) ldns_rr_list_deep_free(txt);
    free(ours);
    ldns_rdf_deep_free(dname);
    return 0;
}

/* A character-string rdf of text (at most 255 bytes). */
static ldns_rdf *s_string_rdf(const char *text, size_t len)
{
    uint8_t buf[256];
    buf[0] = (uint8_t)len;
    memcpy(buf + 1, text, len);
    return ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, len + 1, buf);
}

/* The index TXT RR for names ("a,b"): our ownership string, then "names=..."
 * and as many strings as the names need, whole names in each. NULL when the
 * ownership string or a name exceeds 255 bytes. */
static ldns_rr *s_index_rr(const ldns_rdf *owner, uint32_t ttl, const char *owner_id,
                           const char *service, const char *names)
{
    char *ours = dns_update_txt(owner_id, service);
    size_t ours_len = strlen(ours);
    ldns_rr *rr = NULL;
    if (ours_len > 255) goto done;
    rr = s_empty_rr(owner, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN);
    ldns_rr_set_ttl(rr, ttl);
    ldns_rr_push_rdf(rr, s_string_rdf(ours, ours_len));
    char buf[256];
    size_t used = 6;
    memcpy(buf, "names=", 6);
    for (const char *p = names; *p;) {
        size_t len = strcspn(p, ",");
        if (len > 255) {
            ldns_rr_free(rr);
            rr = NULL;
            goto done;
        }
        bool first =
            used == 0 || (used == 6 && memcmp(buf, "names=", 6) == 0 && ldns_rr_rd_count(rr) == 1);
        if (used + (first ? 0 : 1) + len > 255) {
            ldns_rr_push_rdf(rr, s_string_rdf(buf, used));
            used = 0;
            first = true;
        }
        if (!first) buf[used++] = ',';
        memcpy(buf + used, p, len);
        used += len;
        p += len;
        if (*p == ',') p++;
    }
    ldns_rr_push_rdf(rr, s_string_rdf(buf, used));
done:
    free(ours);
    return rr;
}

/* An RR with no data: owner, type, class, TTL 0 (RRset deletions, "name not
 * in use"). */
static ldns_rr *s_empty_rr(const ldns_rdf *owner, ldns_rr_type type, ldns_rr_class klass)
{
    ldns_rr *rr = ldns_rr_new();
    ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
    ldns_rr_set_type(rr, type);
    ldns_rr_set_class(rr, klass);
    ldns_rr_set_ttl(rr, 0);
    return rr;
}

/* An RR with one rdf. */
static ldns_rr *s_data_rr(const ldns_rdf *owner, ldns_rr_type type, ldns_rr_class klass,
                          uint32_t ttl, ldns_rdf *data)
{
    ldns_rr *rr = s_empty_rr(owner, type, klass);
    ldns_rr_set_ttl(rr, ttl);
    ldns_rr_push_rdf(rr, data);
    return rr;
}

/* n's prerequisite: "name not in use" when it was absent, else its TXT
 * RRset exactly as read. */
static void s_prerequisite(ldns_rr_list *pre, const dns_update_name_t *n, const ldns_rdf *owner)
{
    if (n->owner == DNS_OWNER_ABSENT)
        ldns_rr_list_push_rr(pre, s_empty_rr(owner, LDNS_RR_TYPE_ANY, LDNS_RR_CLASS_NONE));
    else
        for (size_t j = 0; n->txt && j < ldns_rr_list_rr_count(n->txt); j++) {
            ldns_rr *rr = ldns_rr_clone(ldns_rr_list_rr(n->txt, j));
            ldns_rr_set_ttl(rr, 0); /* RFC 2136 2.4.2: TTL 0, class of the zone */
            ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
            ldns_rr_list_push_rr(pre, rr);
        }
}

ldns_pkt *dns_update_build(const char *zone, dns_update_name_t *names, const bool *use,
                           size_t count, const char *owner_id, uint32_t ttl, size_t *written,
                           char *err, size_t errlen)
{
    ldns_rdf *zone_rdf = s_dname(zone);
    if (!zone_rdf) {
        il_err(err, errlen, "zone '%s': not a domain name", zone);
        return NULL;
    }
    ldns_rr_list *pre = ldns_rr_list_new(), *up = ldns_rr_list_new();
    ldns_pkt *pkt = NULL;
    *written = 0;
    for (size_t i = 0; i < count; i++) {
        dns_update_name_t *n = &names[i];
        if (use && !use[i]) continue;
        if (n->owner != DNS_OWNER_ABSENT && n->owner != DNS_OWNER_OURS) {
            il_err(err, errlen, "%s: owner not checked, or not ours", n->name);
            goto done;
        }
        if (n->kind == DNS_NAME_INDEX) {
            bool list = n->index_names && *n->index_names;
            if (n->owner == DNS_OWNER_ABSENT && !list) continue; /* no index, none needed */
            ldns_rdf *owner = s_dname(n->name);
            if (!owner) {
                il_err(err, errlen, "'%s': not a domain name", n->name);
                goto done;
            }
            ldns_rr *rr = NULL;
            if (list && !(rr = s_index_rr(owner, ttl, owner_id, n->service, n->index_names))) {
                ldns_rdf_deep_free(owner);
                il_err(err, errlen,
                       "the index %s of service %s cannot be encoded (a character-string "
                       "over 255 bytes)",
                       n->name, n->service);
                goto done;
            }
            s_prerequisite(pre, n, owner);
            if (n->owner == DNS_OWNER_OURS)
                ldns_rr_list_push_rr(up, s_empty_rr(owner, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_ANY));
            if (rr) ldns_rr_list_push_rr(up, rr);
            ldns_rdf_deep_free(owner);
            (*written)++;
            continue;
        }
        if (!n->ip && n->owner == DNS_OWNER_ABSENT) continue; /* a delete with nothing to do */
        ldns_rdf *owner = s_dname(n->name);
        if (!owner) {
            il_err(err, errlen, "'%s': not a domain name", n->name);
            goto done;
        }
        ldns_rdf *addr = NULL;
        ldns_rr_type addr_type = LDNS_RR_TYPE_A;
        if (n->ip) {
            unsigned char buf[16];
            if (inet_pton(AF_INET, n->ip, buf) == 1)
                addr = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, n->ip);
            else if (inet_pton(AF_INET6, n->ip, buf) == 1) {
                addr = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_AAAA, n->ip);
                addr_type = LDNS_RR_TYPE_AAAA;
            }
            if (!addr) {
                ldns_rdf_deep_free(owner);
                il_err(err, errlen, "%s: '%s' is not an IPv4 or IPv6 address", n->name, n->ip);
                goto done;
            }
        }
        char *txt = dns_update_txt(owner_id, n->service);
        ldns_rdf *txt_rdf = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_STR, txt);
        free(txt);
        if (!txt_rdf) {
            ldns_rdf_deep_free(owner);
            if (addr) ldns_rdf_deep_free(addr);
            il_err(err, errlen, "%s: the ownership TXT cannot be encoded", n->name);
            goto done;
        }
        s_prerequisite(pre, n, owner);
        ldns_rr_list_push_rr(up, s_empty_rr(owner, LDNS_RR_TYPE_A, LDNS_RR_CLASS_ANY));
        ldns_rr_list_push_rr(up, s_empty_rr(owner, LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_ANY));
        if (n->ip) {
            ldns_rr_list_push_rr(up, s_data_rr(owner, addr_type, LDNS_RR_CLASS_IN, ttl, addr));
            if (n->owner == DNS_OWNER_ABSENT)
                ldns_rr_list_push_rr(
                    up, s_data_rr(owner, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, ttl, txt_rdf));
            else
                ldns_rdf_deep_free(txt_rdf);
        } else /* delete: our TXT record only (class NONE: this one record) */
            ldns_rr_list_push_rr(
                up, s_data_rr(owner, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_NONE, 0, txt_rdf));
        ldns_rdf_deep_free(owner);
        (*written)++;
    }
    pkt = ldns_update_pkt_new(zone_rdf, LDNS_RR_CLASS_IN, pre, up, NULL);
    zone_rdf = NULL; /* taken by the packet */
    if (!pkt) {
        il_err(err, errlen, "zone %s: ldns could not build the UPDATE", zone);
        goto done;
    }
    ldns_pkt_set_rd(pkt, false);
    ldns_pkt_set_random_id(pkt);
done:
    if (zone_rdf) ldns_rdf_deep_free(zone_rdf);
    ldns_rr_list_deep_free(pre);
    ldns_rr_list_deep_free(up);
    return pkt;
}
