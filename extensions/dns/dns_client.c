/* dns_client: one TCP exchange with the server, see dns_client.h. ldns'
 * resolver would sign and verify too, but it hides the TSIG error of a
 * refused signature behind "bogus"; this keeps the reply to say BADKEY. */
#include "extensions/dns/dns_client.h"

#include <interlook.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _dns_client_t {
    const char *server;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    const tsig_key_t *key;
    int64_t timeout_ms;
};

dns_client_t *dns_client_new(const char *server, const struct sockaddr_storage *addr,
                             socklen_t addr_len, const tsig_key_t *key, int64_t timeout_ms)
{
    dns_client_t *self = il_calloc(1, sizeof *self);
    self->server = server;
    memcpy(&self->addr, addr, addr_len);
    self->addr_len = addr_len;
    self->key = key;
    self->timeout_ms = timeout_ms;
    return self;
}

void dns_client_destroy(dns_client_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

const char *dns_client_rcode_name(int rcode)
{
    static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                        "NXRRSET", "NOTAUTH", "NOTZONE"};
    if (rcode >= 0 && rcode < (int)(sizeof names / sizeof names[0])) return names[rcode];
    switch (rcode) {
    case 16:
        return "BADSIG";
    case 17:
        return "BADKEY";
    case 18:
        return "BADTIME";
    default:
        return "unknown rcode";
    }
}

/* The TSIG error field (RFC 8945 4.2) of a reply's TSIG RR, 0 when none. */
static int s_tsig_error(const ldns_pkt *reply)
{
    const ldns_rr *tsig = ldns_pkt_tsig(reply);
    if (!tsig || ldns_rr_rd_count(tsig) < 7) return 0;
    return ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5));
}

int dns_client_exchange(dns_client_t *self, ldns_pkt *query, ldns_pkt **reply, char *err,
                        size_t errlen)
{
    *reply = NULL;
    if (self->key) {
        ldns_status st = ldns_pkt_tsig_sign(query, self->key->name, self->key->secret, 300,
                                            self->key->algorithm, NULL);
        if (st != LDNS_STATUS_OK)
            return il_err(err, errlen, "cannot sign with TSIG key %s: %s", self->key->name,
                          ldns_get_errorstr_by_id(st));
    }
    ldns_buffer *wire = ldns_buffer_new(LDNS_MAX_PACKETLEN);
    if (ldns_pkt2buffer_wire(wire, query) != LDNS_STATUS_OK) {
        ldns_buffer_free(wire);
        return il_err(err, errlen, "cannot encode the message (too large?)");
    }
    struct timeval timeout = {.tv_sec = self->timeout_ms / 1000,
                              .tv_usec = (self->timeout_ms % 1000) * 1000};
    uint8_t *answer = NULL;
    size_t answer_size = 0;
    errno = 0;
    int64_t start = zclock_mono();
    ldns_status st =
        ldns_tcp_send(&answer, wire, &self->addr, self->addr_len, timeout, &answer_size);
    int saved = errno;
    ldns_buffer_free(wire);
    if (st != LDNS_STATUS_OK || !answer) {
        free(answer);
        if (saved == ECONNREFUSED)
            return il_err(err, errlen, "server %s: connection refused", self->server);
        if (zclock_mono() - start >= self->timeout_ms || saved == ETIMEDOUT || saved == EAGAIN ||
            saved == EINPROGRESS)
            return il_err(err, errlen, "server %s: no answer within %lldms (timeout)", self->server,
                          (long long)self->timeout_ms);
        return il_err(err, errlen, "server %s: %s%s%s", self->server, ldns_get_errorstr_by_id(st),
                      saved ? ": " : "", saved ? strerror(saved) : "");
    }
    ldns_pkt *pkt = NULL;
    st = ldns_wire2pkt(&pkt, answer, answer_size);
    if (st != LDNS_STATUS_OK) {
        free(answer);
        return il_err(err, errlen, "server %s: unreadable reply: %s", self->server,
                      ldns_get_errorstr_by_id(st));
    }
    if (ldns_pkt_id(pkt) != ldns_pkt_id(query)) {
        free(answer);
        ldns_pkt_free(pkt);
        return il_err(err, errlen, "server %s: reply to another message (id mismatch)",
                      self->server);
    }
    int tsig_error = s_tsig_error(pkt);
    int rcode = ldns_pkt_get_rcode(pkt);
    if (tsig_error) {
        il_err(err, errlen, "server %s: %s (%s TSIG key %s)", self->server,
               dns_client_rcode_name(tsig_error),
               tsig_error == 18 ? "clock skew with" : "the server refused the",
               self->key ? self->key->name : "(none)");
    } else if (self->key && rcode == LDNS_RCODE_NOTAUTH && !ldns_pkt_tsig(pkt)) {
        il_err(err, errlen, "server %s: NOTAUTH (the server refused the TSIG key %s)", self->server,
               self->key->name);
        tsig_error = -1;
    } else if (self->key) {
        const ldns_rr *qtsig = ldns_pkt_tsig(query);
        ldns_rdf *mac = qtsig && ldns_rr_rd_count(qtsig) > 3 ? ldns_rr_rdf(qtsig, 3) : NULL;
        if (!ldns_pkt_tsig(pkt) || !ldns_pkt_tsig_verify(pkt, answer, answer_size, self->key->name,
                                                         self->key->secret, mac)) {
            il_err(err, errlen, "server %s: reply signature invalid (%s)", self->server,
                   ldns_pkt_tsig(pkt) ? "TSIG does not verify" : "reply not signed");
            tsig_error = -1;
        }
    }
    free(answer);
    if (tsig_error) {
        ldns_pkt_free(pkt);
        return -1;
    }
    *reply = pkt;
    return 0;
}
