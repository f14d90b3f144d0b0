/* api: the core's HTTP server, see api.h. One server thread of ours runs
 * libmicrohttpd (external polling, epoll) and the listening socket: it
 * accepts connections itself, so that running out of descriptors makes it
 * pause accepting instead of spinning, and it cuts connections whose request
 * has taken too long in total (MHD's own time-out restarts with every byte a
 * slow client sends). Only that thread uses the "front" end of an inproc
 * PAIR; the core's loop reads the "back" end. Each request goes front -> back
 * as [id, deadline, method, path] and comes back as [id, status, content
 * type, body]. Ids only grow, so an answer that arrives after its request
 * gave up (503) is recognised and dropped, never given to a later request. */
#define _GNU_SOURCE /* accept4 */
#include "core/api.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "core/listen_addr.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define API_WAIT_MS        5000          /* how long a request waits for the loop */
#define API_IDLE_TIMEOUT_S 10            /* a silent connection is closed after this */
#define API_MAX_PATH       2048          /* longer URL paths get 414 */
#define API_MAX_BODY       (64 * 1024)   /* larger request bodies get 413 */
#define API_MAX_DRAIN      (1024 * 1024) /* a chunked body past this closes the connection */
#define API_MAX_FILE       (1024 * 1024) /* certificate, key and token files */
#define API_MAX_TOKEN      4096          /* bytes of a bearer token */
#define API_ACCEPT_BATCH   64            /* connections accepted per wake-up */
#define API_BACKOFF_MIN_MS 10            /* first pause of accept when out of descriptors */
#define API_BACKOFF_MAX_MS 250           /* longest pause */
#define API_LOG_WINDOW_MS  10000         /* log lines a client can cause: per window ... */
#define API_LOG_BURST      10            /* ... at most this many, then a count */
#define API_JSON           "application/json"
#define API_UNAUTHORIZED   "{\"error\":\"missing or wrong bearer token\"}"

/* An open connection, in the list of the server thread (oldest request
 * first), to cut it when its request has taken too long. */
typedef struct s_conn_t {
    struct s_conn_t *prev, *next;
    int fd;        /* its socket (valid until MHD's CLOSED notification) */
    int64_t since; /* when its current request began (monotonic ms) */
    bool cut;      /* shut down already; MHD closes it on its next turn */
} s_conn_t;

struct _api_t {
    struct MHD_Daemon *daemon; /* the server, run by our thread only */
    zsock_t *front;            /* PAIR end used by the server thread only */
    zsock_t *back;             /* PAIR end read by the loop (s_on_request) */
    zloop_t *loop;             /* loop attached to, or NULL */
    api_handler_fn *handler;   /* builds the answers, in the loop's thread */
    void *arg;                 /* the handler's argument */
    uint64_t last_id;          /* id of the last request sent (server thread only) */
    atomic_bool stopping;      /* set by api_destroy: answer 503 at once, end the thread */
    int port;                  /* port actually listened on */
    int listen_fd;             /* our listening socket, or -1 */
    int wake_fd;               /* eventfd: api_destroy wakes the thread, or -1 */
    pthread_t thread;          /* the server thread */
    bool running;              /* thread started */
    pthread_t starter;         /* thread inside MHD_start_daemon */
    char start_error[256];     /* MHD's first message to that thread during start */
    char *tls_cert, *tls_key;  /* PEM texts while the daemon runs, or NULL */
    char *token;               /* bearer token, or NULL */
    size_t token_len;
    int64_t request_timeout_ms;      /* total time of one request */
    s_conn_t *conn_head, *conn_tail; /* open connections, oldest request first */
    int64_t backoff_until;           /* no accept before this (out of descriptors) */
    int backoff_ms;                  /* the current pause, 0 when accept works */
    pthread_mutex_t log_lock;        /* guards the log limiter (MHD logs from two threads) */
    int64_t log_window;              /* start of the current window */
    unsigned log_count, log_suppressed;
};

/* Per-request state of the server thread, made by s_on_uri, freed by
 * s_on_completed. */
typedef struct {
    char *path;       /* the raw path (no query), decoded in place by the first call */
    bool too_long;    /* the raw path was cut: its decoded form is too long anyway */
    bool seen;        /* the headers were checked */
    size_t body_size; /* request body bytes seen (and dropped) */
} s_request_t;

/* The address as listen_addr parses it; the reason prefixed "api: ". */
static int s_parse(const char *address, struct sockaddr_storage *addr, char *err, size_t errlen)
{
    char why[512];
    if (listen_addr_parse(address, addr, why, sizeof why))
        return il_err(err, errlen, "api: %s", why);
    return 0;
}

/* Writes a line that a client can cause (a refused connection, accept
 * failing) at most API_LOG_BURST times per window, then counts them: a flood
 * of clients must not become a flood of log lines. */
static void s_log_limited(api_t *self, il_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Says how many lines were dropped once their window is over. */
static void s_log_flush(api_t *self, int64_t now)
{
    if (now - self->log_window < API_LOG_WINDOW_MS) return;
    if (self->log_suppressed)
        il_log_warn("api: %u more such messages in the last %d s", self->log_suppressed,
                    API_LOG_WINDOW_MS / 1000);
    self->log_window = now;
    self->log_count = self->log_suppressed = 0;
}

static void s_log_limited(api_t *self, il_log_level_t level, const char *fmt, ...)
{
    pthread_mutex_lock(&self->log_lock);
    s_log_flush(self, zclock_mono());
    if (self->log_count < API_LOG_BURST) {
        self->log_count++;
        char text[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        il_log_write(level, "%s", text);
    } else {
        self->log_suppressed++;
    }
    pthread_mutex_unlock(&self->log_lock);
}

/* MHD's messages go to the log (limited); the first written during
 * api_new's MHD_start_daemon is also kept, to explain a failed start. */
static void s_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    api_t *self = cls;
    char text[256];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t len = strlen(text);
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    /* The first says why ("the certificate and the given key do not
     * match"); those after, only that it failed. */
    if (pthread_equal(pthread_self(), self->starter) && !self->start_error[0])
        snprintf(self->start_error, sizeof self->start_error, "%s", text);
    s_log_limited(self, IL_LOG_WARN, "api: %s", text);
}

/* Queues an answer with our headers. body is copied. */
static enum MHD_Result s_respond(struct MHD_Connection *conn, unsigned status,
                                 const char *content_type, const char *body, size_t size)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(size, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!response) return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"interlook\"");
    enum MHD_Result rc = MHD_queue_response(conn, status, response);
    MHD_destroy_response(response);
    return rc;
}

/* Queues {"error": message}; message needs no JSON escaping. */
static enum MHD_Result s_respond_error(struct MHD_Connection *conn, unsigned status,
                                       const char *message)
{
    char body[128];
    int size = snprintf(body, sizeof body, "{\"error\":\"%s\"}", message);
    return s_respond(conn, status, API_JSON, body, (size_t)size);
}

/* Hands one request to the loop and waits (bounded) for its answer. Returns
 * -1 when the loop did not answer in time or the api is stopping. */
static int s_ask_loop(api_t *self, const char *method, const char *path, uint32_t *status,
                      char **content_type, char **body)
{
    if (atomic_load(&self->stopping)) return -1;
    uint64_t id = ++self->last_id;
    int64_t deadline = zclock_mono() + API_WAIT_MS;
    if (zsock_send(self->front, "88ss", id, (uint64_t)deadline, method, path) != 0)
        return -1; /* queue full: the loop has not read for a long time */
    while (!atomic_load(&self->stopping)) {
        int64_t left = deadline - zclock_mono();
        if (left <= 0) break;
        zsock_set_rcvtimeo(self->front, (int)left);
        uint64_t got = 0;
        uint32_t got_status = 0;
        char *got_type = NULL, *got_body = NULL;
        if (zsock_recv(self->front, "84ss", &got, &got_status, &got_type, &got_body) != 0)
            continue; /* timed out or interrupted: the loop condition decides */
        if (got == id) {
            *status = got_status;
            *content_type = got_type;
            *body = got_body;
            return 0;
        }
        /* The late answer of a request that already got its 503, or id 0
         * from api_destroy. */
        zstr_free(&got_type);
        zstr_free(&got_body);
    }
    return -1;
}

static int s_hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
}

/* True when text[0..len) is well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing past U+10FFFF). */
static bool s_utf8_valid(const unsigned char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = text[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= n) return false;
        for (size_t k = 1; k <= n; k++) {
            if ((text[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (text[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

/* Percent-decodes path in place (a '%' not followed by two hex digits stays
 * as it is, as MHD does). Returns NULL, or why the path is refused: a
 * decoded NUL would end the C string early (/services/web1%00 would name
 * web1), other control characters would reach log lines, and text that is
 * not UTF-8 cannot be shown in a JSON answer. */
static const char *s_decode(char *path)
{
    char *out = path;
    for (const char *in = path; *in;) {
        if (in[0] == '%' && isxdigit((unsigned char)in[1]) && isxdigit((unsigned char)in[2])) {
            *out++ = (char)(s_hex(in[1]) << 4 | s_hex(in[2]));
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    size_t len = (size_t)(out - path);
    *out = '\0';
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
            return "the path holds a control character (such as %00)";
    if (!s_utf8_valid((const unsigned char *)path, len)) return "the path is not UTF-8";
    return NULL;
}

/* True when the request carries the token (or none is needed). The
 * comparison takes the same time whatever the bytes given. */
static bool s_authorized(const api_t *self, struct MHD_Connection *conn)
{
    if (!self->token) return true;
    const char *value =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!value || strncasecmp(value, "Bearer ", 7) != 0) return false;
    const char *given = value + 7;
    while (*given == ' ')
        given++;
    size_t len = strlen(given);
    volatile unsigned char diff = len != self->token_len;
    for (size_t i = 0; i < self->token_len; i++)
        diff |= (unsigned char)(self->token[i] ^ (i < len ? given[i] : 0));
    return diff == 0;
}

/* MHD calls this with the raw request target, before it decodes it: the
 * request state starts here, with the path as the client sent it. */
static void *s_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    s_request_t *request = il_calloc(1, sizeof *request);
    size_t len = strcspn(uri, "?");
    /* Decoding shortens at most 3 to 1: past this, the decoded path is too long. */
    if (len > 3 * API_MAX_PATH + 3) {
        len = 3 * API_MAX_PATH + 3;
        request->too_long = true;
    }
    request->path = il_strndup(uri, len);
    return request;
}

/* The checks made once the headers are in. Returns MHD_YES to read on, or
 * the result of queueing the refusal. */
static enum MHD_Result s_check_request(api_t *self, struct MHD_Connection *conn,
                                       s_request_t *request)
{
    const char *why = request->too_long ? NULL : s_decode(request->path);
    bool health = !why && !request->too_long && !strcmp(request->path, "/health");
    /* Before anything that depends on the path: without the token, every
     * path gets the same answer. */
    if (!health && !s_authorized(self, conn))
        return s_respond(conn, MHD_HTTP_UNAUTHORIZED, API_JSON, API_UNAUTHORIZED,
                         strlen(API_UNAUTHORIZED));
    if (request->too_long || strnlen(request->path, API_MAX_PATH + 1) > API_MAX_PATH)
        return s_respond_error(conn, 414, "path too long");
    if (why) return s_respond_error(conn, 400, why);
    const char *length =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && strtoull(length, NULL, 10) > API_MAX_BODY)
        return s_respond_error(conn, 413, "request body too large");
    return MHD_YES;
}

/* The server thread's request callback: called once with the headers, then
 * once per piece of body, then once more when the request is complete. */
static enum MHD_Result s_on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    (void)url; /* decoded by MHD: a %00 in it would cut it short; ours is request->path */
    (void)version;
    (void)upload_data;
    api_t *self = cls;
    s_request_t *request = *con_cls;
    if (!request) { /* s_on_uri always makes one; a request without would be MHD's bug */
        return s_respond_error(conn, 500, "internal error");
    }
    if (!request->seen) {
        request->seen = true;
        return s_check_request(self, conn, request);
    }
    if (*upload_data_size) {
        /* No route takes a body: count it and drop it. */
        request->body_size += *upload_data_size;
        *upload_data_size = 0;
        return request->body_size > API_MAX_DRAIN ? MHD_NO : MHD_YES;
    }
    if (request->body_size > API_MAX_BODY)
        return s_respond_error(conn, 413, "request body too large");

    uint32_t status = 0;
    char *content_type = NULL, *body = NULL;
    const char *path = request->path;
    if (s_ask_loop(self, method, path, &status, &content_type, &body) != 0) {
        if (atomic_load(&self->stopping))
            il_log_debug("api: %s %s: shutting down", method, path);
        else
            s_log_limited(self, IL_LOG_WARN, "api: %s %s: no answer from the core within %d ms",
                          method, path, API_WAIT_MS);
        return s_respond_error(conn, 503, "core busy or not running");
    }
    enum MHD_Result rc = s_respond(conn, status, content_type ? content_type : API_JSON, body,
                                   body ? strlen(body) : 0);
    zstr_free(&content_type);
    zstr_free(&body);
    return rc;
}

static void s_conn_unlink(api_t *self, s_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        self->conn_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        self->conn_tail = c->prev;
    c->prev = c->next = NULL;
}

static void s_conn_append(api_t *self, s_conn_t *c)
{
    c->prev = self->conn_tail;
    c->next = NULL;
    if (self->conn_tail)
        self->conn_tail->next = c;
    else
        self->conn_head = c;
    self->conn_tail = c;
}

/* A request is over (answered or not): the connection's next request has
 * the whole time again. */
static void s_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    api_t *self = cls;
    s_request_t *request = *con_cls;
    if (request) free(request->path);
    free(request);
    *con_cls = NULL;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    s_conn_t *c = info ? info->socket_context : NULL;
    if (c && !c->cut) {
        s_conn_unlink(self, c);
        c->since = zclock_mono();
        s_conn_append(self, c);
    }
}

/* MHD tells of each connection opened and closed; CLOSED comes before it
 * closes the socket, so a listed fd is always still ours to shut down. */
static void s_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                            enum MHD_ConnectionNotificationCode code)
{
    api_t *self = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        s_conn_t *c = il_calloc(1, sizeof *c);
        c->fd = info ? info->connect_fd : -1;
        c->since = zclock_mono();
        s_conn_append(self, c);
        *socket_context = c;
    } else if (*socket_context) {
        s_conn_t *c = *socket_context;
        s_conn_unlink(self, c);
        free(c);
        *socket_context = NULL;
    }
}

/* Shuts down the connections whose request began more than the time limit
 * ago (MHD sees the end and closes them). Returns when the next one is due,
 * or 0 when none is open. */
static int64_t s_cut_overdue(api_t *self, int64_t now)
{
    for (s_conn_t *c = self->conn_head; c; c = c->next) {
        if (c->cut) continue;
        if (c->since + self->request_timeout_ms > now) return c->since + self->request_timeout_ms;
        if (c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
        c->cut = true;
        s_log_limited(self, IL_LOG_INFO, "api: a connection was cut: its request took over %lld ms",
                      (long long)self->request_timeout_ms);
    }
    return 0;
}

/* Accepts what waits and hands it to MHD (which refuses, closing it, a
 * connection past its limits). Out of descriptors, accept pauses a while
 * (growing up to API_BACKOFF_MAX_MS) instead of failing again at once. */
static void s_accept(api_t *self)
{
    for (int i = 0; i < API_ACCEPT_BATCH; i++) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd =
            accept4(self->listen_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPERM || errno == EPROTO)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            int code = errno;
            self->backoff_ms = self->backoff_ms ? self->backoff_ms * 2 : API_BACKOFF_MIN_MS;
            if (self->backoff_ms > API_BACKOFF_MAX_MS) self->backoff_ms = API_BACKOFF_MAX_MS;
            self->backoff_until = zclock_mono() + self->backoff_ms;
            s_log_limited(self, IL_LOG_WARN,
                          "api: cannot accept a connection: %s; accepting again in %d ms",
                          strerror(code), self->backoff_ms);
            return;
        }
        self->backoff_ms = 0;
        MHD_add_connection(self->daemon, fd, (struct sockaddr *)&addr, len);
    }
}

static void *s_server_main(void *arg)
{
    api_t *self = arg;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    int epoll_fd = info ? info->epoll_fd : -1;
    while (!atomic_load(&self->stopping)) {
        int64_t now = zclock_mono();
        int64_t wait = 1000;
        MHD_UNSIGNED_LONG_LONG mhd_ms = 0;
        if (MHD_get_timeout(self->daemon, &mhd_ms) == MHD_YES && (int64_t)mhd_ms < wait)
            wait = (int64_t)mhd_ms;
        int64_t due = s_cut_overdue(self, now);
        if (due && due - now < wait) wait = due - now;
        bool accepting = now >= self->backoff_until;
        if (!accepting && self->backoff_until - now < wait) wait = self->backoff_until - now;
        struct pollfd fds[3] = {{self->wake_fd, POLLIN, 0},
                                {epoll_fd, POLLIN, 0},
                                {accepting ? self->listen_fd : -1, POLLIN, 0}};
        if (poll(fds, 3, (int)(wait > 0 ? wait : 0)) < 0 && errno != EINTR) {
            s_log_limited(self, IL_LOG_ERROR, "api: poll: %s", strerror(errno));
            zclock_sleep(API_BACKOFF_MIN_MS);
        }
        if (atomic_load(&self->stopping)) break;
        if (fds[2].revents) s_accept(self);
        MHD_run(self->daemon);
        pthread_mutex_lock(&self->log_lock);
        s_log_flush(self, zclock_mono());
        pthread_mutex_unlock(&self->log_lock);
    }
    return NULL;
}

/* The loop's side: one request in, the handler's answer out. */
static int s_on_request(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    api_t *self = arg;
    uint64_t id = 0, deadline = 0;
    char *method = NULL, *path = NULL;
    if (zsock_recv(reader, "88ss", &id, &deadline, &method, &path) != 0) return 0;
    if (!id || !method || !path)
        il_log_warn("api: malformed request on the inproc pair");
    else if ((int64_t)deadline <= zclock_mono())
        il_log_debug("api: %s %s: dropped, the client already got 503", method, path);
    else {
        api_reply_t reply = {.status = 500, .body = NULL, .content_type = API_JSON};
        self->handler(self->arg, method, path, &reply);
        if (reply.status < 100 || reply.status > 599) {
            il_log_error("api: %s %s: handler gave status %d", method, path, reply.status);
            free(reply.body);
            reply.body = il_strdup("{\"error\":\"internal error\"}");
            reply.status = 500;
            reply.content_type = API_JSON;
        }
        il_log_debug("api: %s %s -> %d", method, path, reply.status);
        if (zsock_send(reader, "84ss", id, (uint32_t)reply.status,
                       reply.content_type ? reply.content_type : API_JSON,
                       reply.body ? reply.body : "") != 0)
            il_log_warn("api: %s %s: answer not delivered: %s", method, path, strerror(errno));
        free(reply.body);
    }
    zstr_free(&method);
    zstr_free(&path);
    return 0;
}

/* Reads a whole file named by the configuration key into *text (NUL-added).
 * A secret (key, token) must not be readable or writable by others. */
static int s_read_file(const char *key, const char *path, bool secret, char **text, size_t *len,
                       char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return il_err(err, errlen, "api: %s: cannot read '%s': %s", key, path, strerror(errno));
    struct stat st;
    const char *why = NULL;
    char mode[64] = "";
    if (fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_size > API_MAX_FILE)
        why = "larger than 1 MiB";
    else if (secret && (st.st_mode & (S_IROTH | S_IWOTH))) {
        snprintf(mode, sizeof mode, "readable or writable by others (mode %04o; chmod o-rwx it)",
                 (unsigned)(st.st_mode & 07777));
        why = mode;
    }
    if (why) {
        close(fd);
        return il_err(err, errlen, "api: %s: '%s': %s", key, path, why);
    }
    char *buf = il_malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int code = errno;
            close(fd);
            free(buf);
            return il_err(err, errlen, "api: %s: cannot read '%s': %s", key, path,
                          n < 0 ? strerror(code) : "it shrank while read");
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *text = buf;
    *len = got;
    return 0;
}

/* Frees a secret text, wiping it first. */
static void s_free_secret(char **text_p)
{
    if (!*text_p) return;
    explicit_bzero(*text_p, strlen(*text_p));
    free(*text_p);
    *text_p = NULL;
}

/* The token: the file's one line, without surrounding white space, visible
 * ASCII only (it travels in a header). */
static int s_load_token(api_t *self, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    if (s_read_file("core.apiTokenFile", path, true, &text, &len, err, errlen)) return -1;
    char *start = text;
    while (*start && strchr(" \t\r\n", *start))
        start++;
    len = strlen(start);
    while (len && strchr(" \t\r\n", start[len - 1]))
        start[--len] = '\0';
    const char *why = NULL;
    if (!len)
        why = "empty";
    else if (len > API_MAX_TOKEN)
        why = "the token is longer than 4096 bytes";
    for (size_t i = 0; i < len && !why; i++)
        if ((unsigned char)start[i] < 0x21 || (unsigned char)start[i] > 0x7e)
            why = "the token holds a character other than visible ASCII (one line, no spaces)";
    if (!why) {
        self->token = il_strdup(start);
        self->token_len = len;
    }
    s_free_secret(&text);
    if (why) return il_err(err, errlen, "api: core.apiTokenFile: '%s': %s", path, why);
    return 0;
}

/* Binds and listens on addr (dual stack for IPv6, as MHD did). */
static int s_listen(api_t *self, const struct sockaddr_storage *addr, const char *address,
                    char *err, size_t errlen)
{
    socklen_t addrlen =
        addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return il_err(err, errlen, "api: cannot listen on %s: %s", address, strerror(errno));
    int on = 1, off = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (addr->ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    struct sockaddr_storage bound;
    socklen_t boundlen = sizeof bound;
    if (bind(fd, (const struct sockaddr *)addr, addrlen) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &boundlen) != 0) {
        int code = errno;
        close(fd);
        return il_err(err, errlen, "api: cannot listen on %s: %s", address, strerror(code));
    }
    self->listen_fd = fd;
    self->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                   : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

/* Starts MHD without a listening socket of its own (we hand it connections),
 * polled by our thread. */
static int s_start_mhd(api_t *self, const api_options_t *opts, const char *address, char *err,
                       size_t errlen)
{
    unsigned int max_conns =
        opts->max_connections ? opts->max_connections : API_DEFAULT_MAX_CONNECTIONS;
    unsigned int per_ip = opts->max_per_ip ? opts->max_per_ip : API_DEFAULT_MAX_PER_IP;
    /* Each connection holds a descriptor: leave room for the rest of the core. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        nofile.rlim_cur / 2 < max_conns) {
        unsigned int fit = nofile.rlim_cur / 2 > 16 ? (unsigned int)(nofile.rlim_cur / 2) : 16;
        il_log_warn("api: at most %u connections (not %u): the descriptor limit is %llu", fit,
                    max_conns, (unsigned long long)nofile.rlim_cur);
        max_conns = fit;
    }
    unsigned int idle_s = API_IDLE_TIMEOUT_S;
    if (self->request_timeout_ms / 1000 < idle_s)
        idle_s =
            self->request_timeout_ms >= 1000 ? (unsigned int)(self->request_timeout_ms / 1000) : 1;
    bool tls = opts->tls_cert != NULL;
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
    if (tls) flags |= MHD_USE_TLS;
    self->starter = pthread_self();
    errno = 0;
    /* Without TLS the options end where the certificate's would begin. */
    self->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, s_on_access, self, MHD_OPTION_EXTERNAL_LOGGER, s_on_mhd_log, self,
        MHD_OPTION_CONNECTION_LIMIT, max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_s, MHD_OPTION_URI_LOG_CALLBACK, s_on_uri, self,
        MHD_OPTION_NOTIFY_COMPLETED, s_on_completed, self, MHD_OPTION_NOTIFY_CONNECTION,
        s_on_connection, self, tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, self->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, self->tls_key, MHD_OPTION_END);
    self->starter = (pthread_t)0;
    if (self->daemon) return 0;
    int code = errno;
    if (tls && self->start_error[0])
        return il_err(err, errlen,
                      "api: cannot listen on %s: the TLS certificate '%s' or key '%s' was "
                      "refused: %s",
                      address, opts->tls_cert, opts->tls_key, self->start_error);
    if (self->start_error[0])
        return il_err(err, errlen, "api: cannot listen on %s: %s", address, self->start_error);
    return il_err(err, errlen, "api: cannot listen on %s: %s", address,
                  code ? strerror(code) : "cannot start the HTTP server");
}

api_t *api_new(const char *address, const api_options_t *options, api_handler_fn *handler,
               void *arg, char *err, size_t errlen)
{
    il_err(err, errlen, "%s", "");
    if (!handler) {
        il_err(err, errlen, "api: no handler for '%s'", address ? address : "(null)");
        return NULL;
    }
    api_options_t opts = {0};
    if (options) opts = *options;
    if (!opts.tls_cert != !opts.tls_key) {
        il_err(err, errlen, "api: core.apiTlsCert and core.apiTlsKey go together (%s is missing)",
               opts.tls_cert ? "core.apiTlsKey" : "core.apiTlsCert");
        return NULL;
    }
    if (opts.tls_cert && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        il_err(err, errlen, "api: core.apiTlsCert: this libmicrohttpd is built without TLS");
        return NULL;
    }
    struct sockaddr_storage addr;
    if (s_parse(address, &addr, err, errlen) != 0) return NULL;

    api_t *self = il_calloc(1, sizeof *self);
    self->handler = handler;
    self->arg = arg;
    self->listen_fd = self->wake_fd = -1;
    self->request_timeout_ms =
        opts.request_timeout_ms > 0 ? opts.request_timeout_ms : API_DEFAULT_REQUEST_TIMEOUT_MS;
    pthread_mutex_init(&self->log_lock, NULL);
    self->log_window = zclock_mono();
    atomic_init(&self->stopping, false);

    size_t len = 0;
    if ((opts.tls_cert &&
         (s_read_file("core.apiTlsCert", opts.tls_cert, false, &self->tls_cert, &len, err,
                      errlen) ||
          s_read_file("core.apiTlsKey", opts.tls_key, true, &self->tls_key, &len, err, errlen))) ||
        (opts.token_file && s_load_token(self, opts.token_file, err, errlen))) {
        api_destroy(&self);
        return NULL;
    }

    /* The pair: unique per instance (the counter, as ZeroMQ may release the
     * name of a closed inproc socket late and a new api_t may get the address
     * of a freed one); neither end ever blocks on send. */
    static atomic_uint s_instances;
    char endpoint[96];
    snprintf(endpoint, sizeof endpoint, "inproc://interlook-api-%p-%u", (void *)self,
             atomic_fetch_add(&s_instances, 1));
    self->back = zsock_new(ZMQ_PAIR);
    self->front = zsock_new(ZMQ_PAIR);
    if (self->back) {
        zsock_set_sndtimeo(self->back, 0);
        zsock_set_linger(self->back, 0);
    }
    if (self->front) {
        zsock_set_sndtimeo(self->front, 0);
        zsock_set_linger(self->front, 0);
    }
    if (!self->back || !self->front || zsock_bind(self->back, "%s", endpoint) != 0 ||
        zsock_connect(self->front, "%s", endpoint) != 0) {
        il_err(err, errlen, "api: cannot listen on %s: inproc pair %s: %s", address, endpoint,
               strerror(errno));
        api_destroy(&self);
        return NULL;
    }
    self->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (self->wake_fd < 0) {
        il_err(err, errlen, "api: cannot listen on %s: eventfd: %s", address, strerror(errno));
        api_destroy(&self);
        return NULL;
    }
    if (s_listen(self, &addr, address, err, errlen) != 0 ||
        s_start_mhd(self, &opts, address, err, errlen) != 0) {
        api_destroy(&self);
        return NULL;
    }
    if (pthread_create(&self->thread, NULL, s_server_main, self) != 0) {
        il_err(err, errlen, "api: cannot listen on %s: cannot start a thread", address);
        api_destroy(&self);
        return NULL;
    }
    self->running = true;

    char host[INET6_ADDRSTRLEN + 16] = "?";
    socklen_t addrlen =
        addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    getnameinfo((struct sockaddr *)&addr, addrlen, host, sizeof host, NULL, 0, NI_NUMERICHOST);
    const char *scheme = opts.tls_cert ? "https" : "http";
    if (addr.ss_family == AF_INET6)
        il_log_info("api: listening on %s://[%s]:%d%s", scheme, host, self->port,
                    self->token ? " (bearer token required)" : "");
    else
        il_log_info("api: listening on %s://%s:%d%s", scheme, host, self->port,
                    self->token ? " (bearer token required)" : "");
    return self;
}

/* Safe whether or not the loop runs; an attached loop must still exist (its
 * reader is removed), so destroy the api before its loop. */
void api_destroy(api_t **self_p)
{
    if (!self_p || !*self_p) return;
    api_t *self = *self_p;
    atomic_store(&self->stopping, true);
    if (self->running) {
        /* Id 0 wakes a request that is waiting for the loop (never blocks:
         * send timeout 0); the eventfd wakes the poll. */
        zsock_send(self->back, "8", (uint64_t)0);
        uint64_t one = 1;
        if (write(self->wake_fd, &one, sizeof one) < 0) { /* full: awake already */
        }
        pthread_join(self->thread, NULL);
    }
    if (self->daemon) MHD_stop_daemon(self->daemon);
    while (self->conn_head) { /* MHD closed them all; CLOSED may not have come for each */
        s_conn_t *c = self->conn_head;
        s_conn_unlink(self, c);
        free(c);
    }
    if (self->listen_fd >= 0) close(self->listen_fd);
    if (self->wake_fd >= 0) close(self->wake_fd);
    if (self->loop) zloop_reader_end(self->loop, self->back);
    zsock_destroy(&self->front);
    zsock_destroy(&self->back);
    free(self->tls_cert);
    s_free_secret(&self->tls_key);
    s_free_secret(&self->token);
    pthread_mutex_destroy(&self->log_lock);
    free(self);
    *self_p = NULL;
}

int api_attach(api_t *self, zloop_t *loop)
{
    if (!self || !loop || self->loop) return -1;
    if (zloop_reader(loop, self->back, s_on_request, self) != 0) return -1;
    zloop_reader_set_tolerant(loop, self->back);
    self->loop = loop;
    return 0;
}

int api_port(api_t *self)
{
    return self ? self->port : 0;
}
