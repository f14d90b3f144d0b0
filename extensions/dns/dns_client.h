/* dns_client: exchanges with the DNS server: a message out over TCP
 * (updates can exceed 512 bytes; one transport keeps it simple), signed
 * with the TSIG key when there is one, its reply read within the timeout and
 * its signature verified. One connection is kept open and reused for the
 * exchanges that follow (RFC 7766), so that each does not pay a TCP
 * handshake. Blocking: it runs in dns_worker's thread, never on the ZeroMQ
 * loop; that thread is its only user, so it has no lock. Every error text
 * names the server and the cause. */
#ifndef INTERLOOK_DNS_CLIENT_H
#define INTERLOOK_DNS_CLIENT_H

#include "extensions/dns/tsig_key.h"

#include <ldns/ldns.h>
#include <sys/socket.h>

typedef struct _dns_client_t dns_client_t;

/* server names the server in messages; key may be NULL (unsigned). The
 * client keeps pointers to server and key: they must outlive it. */
dns_client_t *dns_client_new(const char *server, const struct sockaddr_storage *addr,
                             socklen_t addr_len, const tsig_key_t *key, int64_t timeout_ms);

/* Closes the connection, if one is open. */
void dns_client_destroy(dns_client_t **self_p);

/* Sends query (signed in place when there is a key) on the open connection,
 * or a new one when there is none, and returns its reply in *reply (the
 * caller frees it). When the server had closed the open connection (idle
 * servers do), the exchange is tried once more on a new one. The timeout
 * bounds the whole exchange. -1 with the reason in err, *reply NULL:
 * connection refused, timeout, the connection closed by the server before
 * the reply (on a new connection), an unparsable reply, a TSIG error in the
 * reply (BADKEY, BADSIG, BADTIME), a NOTAUTH without TSIG, or "reply
 * signature invalid". Any other rcode is the caller's to judge. */
int dns_client_exchange(dns_client_t *self, ldns_pkt *query, ldns_pkt **reply, char *err,
                        size_t errlen);

/* "NOERROR", "REFUSED", "NXRRSET"... for an rcode (RFC 2136 names included). */
const char *dns_client_rcode_name(int rcode);

#endif
