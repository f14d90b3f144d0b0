/* dns_server: a real primary DNS server (BIND 9, Knot or PowerDNS) started
 * by a test, so that the same RFC 2136 scenarios run against all three.
 *
 * Each server gets a temporary directory (config, zone files, TSIG key file,
 * database, log), its own loopback address 127.A.B.C derived from the test's
 * pid (A = 64 + pid bits 16-21, B.C = pid bits 0-15: no other process uses
 * it) and the port 5300 + n (n counts the servers this process made), so
 * two tests never race for a port and nothing probes for a free one. It
 * listens on that address only, with recursion off and no notify, zone
 * transfer, root priming or update polling: no traffic leaves 127.0.0.0/8.
 * Each zone holds SOA, NS ns1.ZONE (A = the server's address) and the fixed
 * records below; dynamic updates signed with the key are allowed for the
 * whole zone.
 *
 * What each server needs (pitfalls found while writing this):
 * - BIND (named -g -c DIR/named.conf): named only listens on addresses an
 *   interface carries, and lo carries 127.0.0.1/8 only: a socket can bind
 *   any 127.x.y.z, named does not ("listen-on" of 127.64.1.2 silently
 *   listens nowhere). So the address is added to lo (ip addr replace
 *   A/32 dev lo, as root) for BIND and removed at destroy (by the last
 *   BIND server of the process: they share it). Debian's AppArmor profile
 *   for /usr/sbin/named (enforced when AppArmor is on, the default on
 *   Debian 12) lets named read and write only /etc/bind, /var/lib/bind,
 *   /var/cache/bind...: its directory, log included, is made under
 *   /var/cache/bind, not /tmp. Its options must
 *   move everything out of /var/cache/bind and /run/named (directory,
 *   pid-file, session-keyfile, managed-keys-directory); "controls { };"
 *   keeps it off rndc's port 953; dnssec-validation no keeps it from
 *   refreshing trust anchors. Wrong key: NOTAUTH with TSIG error BADSIG
 *   (same name, other secret) or BADKEY (unknown name); unsigned: REFUSED.
 * - Knot (knotd -c DIR/knot.conf): binds the address directly. A relative
 *   zone "file" is resolved against "storage", not the config's directory;
 *   "rundir" must be set (control socket), and a "database: storage" so the
 *   journal/timer LMDBs (500 MiB mapsize, sparse) stay in DIR. Wrong key:
 *   NOTAUTH/BADSIG or NOTAUTH/BADKEY as BIND; unsigned: NOTAUTH.
 * - PowerDNS (pdns_server --config-dir=DIR, pdns.conf there): the sqlite3
 *   schema is /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql (the
 *   copy under /usr/share/doc vanishes on images that exclude docs); zones
 *   are loaded with pdnsutil load-zone, the key with import-tsig-key and
 *   allowed per zone with set-meta TSIG-ALLOW-DNSUPDATE; dnsupdate=yes and
 *   allow-dnsupdate-from=127.0.0.0/8 are both needed; security-poll-suffix=
 *   (empty) stops its DNS query to secpoll.powerdns.com at start. It bumps
 *   the SOA serial to a date on the first update. Wrong key (either kind)
 *   and unsigned: REFUSED, with an unsigned reply.
 * Not port 53: after a reboot Debian starts the packaged named, pdns and
 * knot services, which listen on port 53 of every address (the wildcard, or
 * each address of lo at its rescan, ours included).
 * A server is killed with its test process (PR_SET_PDEATHSIG), so a crashed
 * test leaves at most its directory and, for BIND, a /32 on lo.
 * Queries and updates go through dig and nsupdate (bind9-dnsutils); the
 * zone is always named to nsupdate, which would otherwise ask the system's
 * resolver for the SOA. */
#ifndef INTERLOOK_DNS_SERVER_H
#define INTERLOOK_DNS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef enum { DNS_SERVER_BIND, DNS_SERVER_KNOT, DNS_SERVER_PDNS } dns_server_kind_t;

/* The fixed records of every zone Z: foreign.Z A (no TXT: owned by nobody
 * this extension knows), other.Z A + TXT of another interlook owner. */
#define DNS_SERVER_FOREIGN_IP "192.0.2.99"
#define DNS_SERVER_OTHER_IP   "192.0.2.98"
#define DNS_SERVER_OTHER_TXT  "heritage=interlook,owner=other,service=x"

/* DNS response codes as dns_server_rcode returns them (RFC 1035, 2136). */
#define DNS_SERVER_NOERROR  0
#define DNS_SERVER_SERVFAIL 2
#define DNS_SERVER_NXDOMAIN 3
#define DNS_SERVER_REFUSED  5
#define DNS_SERVER_NOTAUTH  9

typedef struct {
    const char *const *zones; /* NULL-terminated; NULL: { "example.test", NULL } */
    const char *key_name;     /* NULL: "interlook-test" */
    const char *algorithm;    /* "hmac-sha256" (NULL) or "hmac-sha512" */
    const char *secret;       /* base64; NULL: a new one from tsig-keygen */
} dns_server_opts_t;

typedef struct _dns_server_t dns_server_t;

/* Writes a server of that kind in a new temporary directory, starts it and
 * waits (10 s bound) until it answers the SOA of every zone; opts may be
 * NULL. Returns NULL on failure, having printed why, the directory and the
 * last lines of the server's log, and removed all it made. */
dns_server_t *dns_server_new(dns_server_kind_t kind, const dns_server_opts_t *opts);

/* Stops the server (SIGTERM, SIGKILL after 5 s) and removes its directory
 * (kept when $DNS_SERVER_KEEP is set) and, for BIND, its loopback address;
 * its log is first copied to $INTERLOOK_TEST_LOGDIR (tests/run.sh sets it)
 * as dns-KIND-PID-PORT.log. Nothing when *self_p is NULL. */
void dns_server_destroy(dns_server_t **self_p);

/* Stops the server process, keeping its directory and zones. Returns 0, or
 * -1 when it was not running or had already died. */
int dns_server_stop(dns_server_t *self);

/* Starts the stopped server again with the same data and waits until it
 * answers (10 s bound). Returns 0 or -1 (log tail printed). */
int dns_server_start(dns_server_t *self);

/* "bind", "knot" or "pdns". */
const char *dns_server_kind_name(dns_server_kind_t kind);

dns_server_kind_t dns_server_kind(dns_server_t *self);

/* The server's loopback address, "127.A.B.C". */
const char *dns_server_address(dns_server_t *self);

int dns_server_port(dns_server_t *self);

/* "127.A.B.C:PORT", the extension's `server` key. */
const char *dns_server_endpoint(dns_server_t *self);

/* The key file, in tsig-keygen's format (the extension's tsigKeyFile). */
const char *dns_server_key_file(dns_server_t *self);

const char *dns_server_key_name(dns_server_t *self);

const char *dns_server_algorithm(dns_server_t *self);

/* The key's secret, base64. */
const char *dns_server_secret(dns_server_t *self);

/* The server's temporary directory. */
const char *dns_server_dir(dns_server_t *self);

/* The server's log (standard output and error), in its directory. */
const char *dns_server_log(dns_server_t *self);

/* The server's pid, or -1 while stopped. */
pid_t dns_server_pid(dns_server_t *self);

/* Queries name/type (e.g. "A", "TXT") and writes the answer's data, one
 * record a line as dig +short prints them, sorted, into out (cut to
 * outlen - 1 bytes; empty when there is none). Returns the response code
 * (DNS_SERVER_NOERROR, DNS_SERVER_NXDOMAIN...), or -1 when no answer came
 * (2 tries of 1 s). */
int dns_server_query(dns_server_t *self, const char *name, const char *type, char *out,
                     size_t outlen);

/* The response code of the query name/type, or -1 when no answer came. */
int dns_server_rcode(dns_server_t *self, const char *name, const char *type);

/* Waits (timeout_ms bound) until the query name/type answers want (the
 * data as dns_server_query writes it), or, when want is NULL, until the
 * name does not exist (NXDOMAIN). Returns whether it did. */
bool dns_server_wait_answer(dns_server_t *self, const char *name, const char *type,
                            const char *want, int timeout_ms);

/* Sends the nsupdate commands in script ("update add NAME TTL A IP\n"...,
 * a "zone Z" line first when not the first zone; "send" is added) signed
 * with the server's key. Returns 0; -1 when refused or unanswered, with
 * nsupdate's message (e.g. "update failed: NOTAUTH(BADSIG)") in err when
 * not NULL. */
int dns_server_update(dns_server_t *self, const char *script, char *err, size_t errlen);

/* As dns_server_update, signed with the key in keyfile (tsig-keygen's
 * format), or unsigned when keyfile is NULL. */
int dns_server_update_with(dns_server_t *self, const char *keyfile, const char *script, char *err,
                           size_t errlen);

/* Writes a new key file DIR/name.key (same algorithm as the server's; a
 * new secret from tsig-keygen) for tests of a wrong key; returns its path
 * (caller frees) or NULL. */
char *dns_server_new_key_file(dns_server_t *self, const char *name);

#endif
