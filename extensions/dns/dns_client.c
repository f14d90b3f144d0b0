/* dns_client: exchanges with the server over one TCP connection kept open
 * between them (RFC 7766 6.2.1: several messages, each with its length
 * prefix), see dns_client.h. ldns' resolver would sign and verify too, but
 * it hides the TSIG error of a refused signature behind "bogus"; this keeps
 * the reply to say BADKEY. */
#include "extensions/dns/dns_client.h"

#include <interlook.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct _dns_client_t {
    const char *server;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    const tsig_key_t *key;
    int64_t timeout_ms;
    int fd; /* the open connection to the server, -1 when none */
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
    self->fd = -1;
    return self;
}

static void s_disconnect(dns_client_t *self)
{
    if (self->fd >= 0) close(self->fd);
    self->fd = -1;
}

void dns_client_destroy(dns_client_t **self_p)
{
    if (*self_p) s_disconnect(*self_p);
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

/* What one attempt of an exchange ended with. S_CLOSED: the server closed
 * the connection (or reset it) before any byte of the reply, which is how an
 * idle connection it dropped looks: worth one more try on a fresh one. */
typedef enum { S_OK, S_FAILED, S_TIMEOUT, S_REFUSED, S_CLOSED, S_CUT } s_io_t;

/* Waits until fd is ready for events or the deadline; 0, or -1 on timeout. */
static int s_wait(int fd, short events, int64_t deadline)
{
    while (true) {
        int64_t left = deadline - zclock_mono();
        if (left <= 0) return -1;
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (rc > 0) return 0;
        if (rc < 0 && errno != EINTR) return -1;
    }
}

static s_io_t s_connect(dns_client_t *self, int64_t deadline, int *saved)
{
    int fd = socket(self->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *saved = errno;
        return S_FAILED;
    }
    int one = 1; /* each message goes out whole: no waiting on Nagle */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&self->addr, self->addr_len) != 0) {
        if (errno != EINPROGRESS) {
            *saved = errno;
            close(fd);
            return *saved == ECONNREFUSED ? S_REFUSED : S_FAILED;
        }
        if (s_wait(fd, POLLOUT, deadline) != 0) {
            close(fd);
            return S_TIMEOUT;
        }
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) soerr = errno;
        if (soerr) {
            *saved = soerr;
            close(fd);
            return soerr == ECONNREFUSED ? S_REFUSED : S_FAILED;
        }
    }
    self->fd = fd;
    return S_OK;
}

static s_io_t s_send(dns_client_t *self, const uint8_t *data, size_t size, int64_t deadline,
                     int *saved)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = send(self->fd, data + done, size - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (s_wait(self->fd, POLLOUT, deadline) != 0) return S_TIMEOUT;
            continue;
        }
        *saved = errno;
        return errno == EPIPE || errno == ECONNRESET ? S_CLOSED : S_FAILED;
    }
    return S_OK;
}

/* Reads exactly size bytes; *got counts those read (0 lets the caller tell
 * a connection closed before the reply from one closed within it). */
static s_io_t s_recv(dns_client_t *self, uint8_t *data, size_t size, int64_t deadline, int *saved,
                     size_t *got)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = recv(self->fd, data + done, size - done, 0);
        if (n > 0) {
            done += (size_t)n;
            *got += (size_t)n;
            continue;
        }
        if (n == 0) return S_CLOSED;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (s_wait(self->fd, POLLIN, deadline) != 0) return S_TIMEOUT;
            continue;
        }
        *saved = errno;
        return errno == ECONNRESET ? S_CLOSED : S_FAILED;
    }
    return S_OK;
}

/* One attempt: message (with its length prefix) out on the connection, the
 * reply in; *answer is malloc'd. Any failure closes the connection, since
 * what is left on it is not known. */
static s_io_t s_attempt(dns_client_t *self, const uint8_t *msg, size_t size, int64_t deadline,
                        uint8_t **answer, size_t *answer_size, int *saved, bool *fresh)
{
    *fresh = self->fd < 0;
    s_io_t io = *fresh ? s_connect(self, deadline, saved) : S_OK;
    if (io != S_OK) return io;
    size_t got = 0;
    uint8_t len[2];
    io = s_send(self, msg, size, deadline, saved);
    if (io == S_OK) io = s_recv(self, len, 2, deadline, saved, &got);
    if (io == S_OK) {
        *answer_size = (size_t)(len[0] << 8 | len[1]);
        *answer = il_malloc(*answer_size ? *answer_size : 1);
        io = s_recv(self, *answer, *answer_size, deadline, saved, &got);
        if (io != S_OK) {
            free(*answer);
            *answer = NULL;
        }
    }
    if (io == S_CLOSED && got > 0) io = S_CUT; /* a reply cut short: no retry */
    if (io != S_OK) s_disconnect(self);
    return io;
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
    if (ldns_pkt2buffer_wire(wire, query) != LDNS_STATUS_OK ||
        ldns_buffer_position(wire) > 65535) { /* TCP's 16-bit length */
        ldns_buffer_free(wire);
        return il_err(err, errlen, "server %s: message too large to send (more than 65535 bytes)",
                      self->server);
    }
    size_t size = ldns_buffer_position(wire);
    uint8_t *msg = il_malloc(size + 2); /* RFC 7766 8: the length, then the message */
    msg[0] = (uint8_t)(size >> 8);
    msg[1] = (uint8_t)size;
    memcpy(msg + 2, ldns_buffer_begin(wire), size);
    ldns_buffer_free(wire);
    uint8_t *answer = NULL;
    size_t answer_size = 0;
    int saved = 0;
    bool fresh = false;
    int64_t deadline = zclock_mono() + self->timeout_ms;
    s_io_t io = s_attempt(self, msg, size + 2, deadline, &answer, &answer_size, &saved, &fresh);
    if (io == S_CLOSED && !fresh) { /* the server dropped the idle connection: once more */
        saved = 0;
        io = s_attempt(self, msg, size + 2, deadline, &answer, &answer_size, &saved, &fresh);
    }
    free(msg);
    if (io == S_REFUSED) return il_err(err, errlen, "server %s: connection refused", self->server);
    if (io == S_TIMEOUT)
        return il_err(err, errlen, "server %s: no answer within %lldms (timeout)", self->server,
                      (long long)self->timeout_ms);
    if (io == S_CLOSED)
        return il_err(err, errlen, "server %s: connection closed by the server before its reply",
                      self->server);
    if (io == S_CUT)
        return il_err(err, errlen, "server %s: connection closed by the server within its reply",
                      self->server);
    if (io != S_OK)
        return il_err(err, errlen, "server %s: network error%s%s", self->server, saved ? ": " : "",
                      saved ? strerror(saved) : "");
    ldns_pkt *pkt = NULL;
    ldns_status st = ldns_wire2pkt(&pkt, answer, answer_size);
    if (st != LDNS_STATUS_OK) {
        free(answer);
        s_disconnect(self); /* whatever else it sends is not to be trusted either */
        return il_err(err, errlen, "server %s: unreadable reply: %s", self->server,
                      ldns_get_errorstr_by_id(st));
    }
    if (ldns_pkt_id(pkt) != ldns_pkt_id(query)) {
        free(answer);
        ldns_pkt_free(pkt);
        s_disconnect(self);
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
