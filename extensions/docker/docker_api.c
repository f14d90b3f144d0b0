/* docker_api: asynchronous GETs and streams to the Docker Engine API on
 * libcurl's multi "socket" interface, driven by a czmq zloop (see docker_api.h).
 *
 * Loop integration. curl tells us, per socket, which readiness it waits for
 * (CURLMOPT_SOCKETFUNCTION): each socket becomes one zloop poller on its fd,
 * with a per-fd record of the events registered, so that a change from IN to
 * OUT ends the old poller and registers a new one. curl's single timeout
 * (CURLMOPT_TIMERFUNCTION) is a one-shot timer: -1 disarms it, 0 ("as soon as
 * possible") makes it expire at once (1 us), n arms it for n ms. That timer is
 * a timerfd watched by one more zloop poller, not a zloop timer: with czmq 4.2
 * zloop_timer_end only queues the removal while zloop_start has not yet
 * returned once (before the loop first runs, and during its first run), and
 * the ended timer can still fire in that pass, with its argument, a client
 * destroyed meanwhile, freed (ASan caught exactly this when a client with a
 * request in flight was destroyed before the loop ever ran). zloop_poller_end
 * removes a poller at once and zloop skips the rest of a pass whose pollers
 * changed, so pollers alone make destroy safe at any time. The handlers call
 * curl_multi_socket_action, then read curl's finished transfers
 * (curl_multi_info_read), then call the users' callbacks. They always return
 * 0, so zloop never drops a poller or stops because of us.
 *
 * Re-entrancy. User callbacks are never called from inside a libcurl callback
 * (curl refuses multi calls from there, and a callback may start or cancel
 * requests): the write callbacks only store bytes and put the request's id on
 * a ready list. Dispatch then takes ids off that list and looks each request
 * up again by id before and after every user callback, so a request cancelled
 * meanwhile (including the one being delivered) is simply not found. Before a
 * done or on_end callback the request is unlinked and freed; the callback gets
 * buffers the dispatcher owns and frees afterwards. Lines given to on_line live
 * in a batch the dispatcher owns too, so cancelling from on_line is safe. A
 * client destroyed from a callback releases everything at once (requests,
 * curl, pollers) but its struct lives on, marked destroyed, until the
 * outermost dispatcher returns: dispatchers check the mark after every
 * callback and the last one out frees the struct. A socket poller whose fd is
 * no longer registered (an entry zloop may still hold for the current pass) is
 * ignored.
 *
 * Results. A one-shot that fails (error != NULL) gets status 0 and an empty
 * body. Errors name curl's reason, its detail, the endpoint and the system's
 * errno text when curl has one: "Couldn't connect to server: Failed to connect
 * to localhost port 80 after 0 ms: Couldn't connect to server
 * (unix:///var/run/docker.sock: Permission denied)". A stream ends with NULL
 * when the server closes it after a 200 (also in the middle of a chunk: the
 * partial line is dropped), with "HTTP <status>: <first 200 body bytes>" for
 * another status, and with the error text otherwise.
 *
 * Global state: curl_global_init is called once per process, under
 * pthread_once, by the first docker_api_new or docker_api_escape.
 * curl_global_init is not thread-safe against other threads using libcurl at
 * the same moment, so create the first client before starting threads that
 * use curl. curl_global_cleanup is never called (libcurl keeps its global
 * state until exit). */
#define _GNU_SOURCE /* memrchr */
#include "extensions/docker/docker_api.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/version.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#define DOCKER_API_MAX_BODY      (64u * 1024 * 1024) /* one-shot answers */
#define DOCKER_API_MAX_LINE      (1024u * 1024)      /* one stream line */
#define DOCKER_API_ERROR_BODY    200                 /* body bytes quoted in stream errors */
#define DOCKER_API_TIMEOUT_MS    10000
#define DOCKER_API_CONNECT_MS    3000
#define DOCKER_API_MAX_HOST_CONN 64 /* more requests wait in curl for a free connection */
#define DOCKER_API_USER_AGENT    "interlook-docker/" INTERLOOK_VERSION
#define DOCKER_API_ESCAPE_MAX    (1024u * 1024) /* bytes escaped: within curl's bound */

/* A growable byte buffer, always NUL-terminated when data is set. */
typedef struct {
    char *data; /* malloc'd, or NULL while empty */
    size_t len; /* bytes stored */
    size_t cap; /* bytes allocated (> len when data is set) */
} s_buf_t;

/* One GET in progress (or finished, waiting for its callback). */
typedef struct {
    int id;                      /* key in the client's table, > 0 */
    docker_api_t *api;           /* the client, to queue the request */
    CURL *easy;                  /* the transfer; NULL once it ended */
    bool stream;                 /* on_line/on_end rather than done */
    docker_api_done_fn *done;    /* one-shot callback */
    docker_api_line_fn *on_line; /* stream callbacks */
    docker_api_end_fn *on_end;
    void *arg;                    /* for the callbacks */
    s_buf_t buf;                  /* body; stream: bytes not delivered yet (or the error body) */
    size_t tail;                  /* stream: offset just past the last '\n' in buf, 0 if none */
    long status;                  /* HTTP status once known, else 0 */
    char *error;                  /* why the request failed, once known */
    bool finished;                /* the transfer ended: status and error are final */
    bool complete;                /* it ended without any error (CURLE_OK) */
    bool queued;                  /* its id is on the ready list */
    char errbuf[CURL_ERROR_SIZE]; /* curl's detailed error text */
} s_request_t;

struct _docker_api_t {
    zloop_t *loop;   /* drives everything, not owned */
    CURLM *multi;    /* all transfers */
    char *endpoint;  /* as configured, for error texts */
    char *base_url;  /* "http://localhost", "https://host:port" */
    char *unix_path; /* socket path for unix:// endpoints, else NULL */
    char *tls_ca;    /* all three set: https with client certificate */
    char *tls_cert;
    char *tls_key;
    long timeout_ms;            /* one-shot bound */
    long connect_timeout_ms;    /* connection bound */
    struct curl_slist *headers; /* "Accept: application/json", shared by all requests */
    zhashx_t *requests;         /* id -> s_request_t, owned */
    zlistx_t *ready;            /* ids with something to deliver, in order */
    int last_id;                /* last id handed out */
    int *sock_events;           /* per fd: ZMQ_POLLIN/OUT registered with zloop, 0: none */
    size_t sock_cap;            /* entries in sock_events */
    int timer_fd;               /* timerfd for curl's timeout, polled by the loop */
    bool closing;               /* in destroy: curl's timer requests are ignored */
    int dispatching;            /* dispatchers running (nested when a callback runs the loop) */
    bool destroyed;             /* destroyed by a callback: freed when dispatching ends */
};

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s_curl_rc = CURLE_FAILED_INIT;

static void s_curl_global_init(void)
{
    s_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool s_curl_ready(void)
{
    return pthread_once(&s_curl_once, s_curl_global_init) == 0 && s_curl_rc == CURLE_OK;
}

static char *s_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *s_printf(const char *fmt, ...)
{
    va_list args, again;
    va_start(args, fmt);
    va_copy(again, args);
    int n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    size_t size = n > 0 ? (size_t)n + 1 : 1;
    char *text = il_malloc(size);
    if (n < 0)
        *text = 0;
    else
        vsnprintf(text, size, fmt, again);
    va_end(again);
    return text;
}

/* Appends n bytes and keeps the buffer NUL-terminated. */
static void s_buf_append(s_buf_t *buf, const char *data, size_t n)
{
    if (buf->len + n + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 4096;
        while (cap < buf->len + n + 1)
            cap *= 2;
        buf->data = il_realloc(buf->data, cap);
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, data, n);
    buf->len += n;
    buf->data[buf->len] = 0;
}

/* Request table: integer ids as zhashx keys. */
#define S_KEY(id) ((void *)(intptr_t)(id))

static size_t s_id_hash(const void *key)
{
    return (size_t)(intptr_t)key;
}

static int s_id_compare(const void *a, const void *b)
{
    intptr_t x = (intptr_t)a, y = (intptr_t)b;
    return x < y ? -1 : x > y;
}

static s_request_t *s_lookup(docker_api_t *self, int id)
{
    return id > 0 ? zhashx_lookup(self->requests, S_KEY(id)) : NULL;
}

static void s_queue(docker_api_t *self, s_request_t *req)
{
    if (req->queued) return;
    zlistx_add_end(self->ready, S_KEY(req->id)); /* czmq aborts when out of memory */
    req->queued = true;
}

/* Stops the transfer (if still running) and frees the request; it must no
 * longer be in the table. Never called from inside a curl callback. */
static void s_request_free(docker_api_t *self, s_request_t *req)
{
    if (req->easy) {
        curl_multi_remove_handle(self->multi, req->easy);
        curl_easy_cleanup(req->easy);
    }
    free(req->buf.data);
    free(req->error);
    free(req);
}

/* curl's error for a transfer, with its detail, the endpoint and the system's
 * reason when curl has one (for unix sockets curl's text lacks it, and "No such
 * file or directory" or "Permission denied" tells operators what to fix). */
static char *s_curl_error(docker_api_t *self, CURL *easy, CURLcode rc, char *errbuf)
{
    size_t n = strlen(errbuf);
    while (n > 0 && (errbuf[n - 1] == '\n' || errbuf[n - 1] == '\r' || errbuf[n - 1] == ' '))
        errbuf[--n] = 0;
    const char *what = curl_easy_strerror(rc);
    const char *detail = n > 0 && strcmp(errbuf, what) ? errbuf : NULL;
    long os_errno = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    const char *reason = os_errno ? strerror((int)os_errno) : NULL;
    if (reason && detail && strstr(detail, reason)) reason = NULL;
    /* The usual cause on a fresh install: name the fix, not only the symptom. */
    const char *hint =
        os_errno == EACCES && self->unix_path
            ? "; run as root or in the socket's group (in docker-compose: DOCKER_GID)"
            : "";
    return s_printf("%s%s%s (%s%s%s)%s", what, detail ? ": " : "", detail ? detail : "",
                    self->endpoint, reason ? ": " : "", reason ? reason : "", hint);
}

/* Write callbacks (inside curl: store bytes only) ----------------------------- */

static size_t s_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    s_request_t *req = arg;
    size_t n = size * nmemb;
    if (req->buf.len + n > DOCKER_API_MAX_BODY) {
        req->error = s_printf("response too large (over %u MiB) from %s",
                              DOCKER_API_MAX_BODY / (1024 * 1024), req->api->endpoint);
        return CURL_WRITEFUNC_ERROR;
    }
    s_buf_append(&req->buf, data, n);
    return n;
}

static size_t s_on_stream_data(char *data, size_t size, size_t nmemb, void *arg)
{
    s_request_t *req = arg;
    size_t n = size * nmemb;
    if (!req->status) curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->status);
    if (req->status != 200) {
        /* Keep the start of the error body for the message, then stop. */
        size_t room = DOCKER_API_ERROR_BODY - req->buf.len;
        size_t take = n < room ? n : room;
        if (take) s_buf_append(&req->buf, data, take);
        return req->buf.len >= DOCKER_API_ERROR_BODY ? CURL_WRITEFUNC_ERROR : n;
    }
    size_t pending = req->buf.len - req->tail; /* the line in progress */
    const char *first = memchr(data, '\n', n);
    const char *last = first ? memrchr(data, '\n', n) : NULL;
    if ((first && pending + (size_t)(first - data) > DOCKER_API_MAX_LINE) ||
        (last && (size_t)(data + n - last - 1) > DOCKER_API_MAX_LINE) ||
        (!first && pending + n > DOCKER_API_MAX_LINE)) {
        req->error = s_printf("stream line longer than %u MiB from %s",
                              DOCKER_API_MAX_LINE / (1024 * 1024), req->api->endpoint);
        return CURL_WRITEFUNC_ERROR;
    }
    size_t old = req->buf.len;
    s_buf_append(&req->buf, data, n);
    if (last) {
        req->tail = old + (size_t)(last - data) + 1;
        s_queue(req->api, req);
    }
    return n;
}

/* Finished transfers: bookkeeping only, no user callback -------------------- */

static void s_collect(docker_api_t *self)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        s_request_t *req = (s_request_t *)priv;
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        req->status = status;
        if (req->error) {
            /* ours: too large, line too long */
        } else if (req->stream && status != 0 && status != 200) {
            size_t n = req->buf.len;
            while (n > 0 && (req->buf.data[n - 1] == '\n' || req->buf.data[n - 1] == '\r'))
                n--;
            req->error =
                s_printf("HTTP %ld: %.*s", status, (int)n, req->buf.data ? req->buf.data : "");
        } else if (rc == CURLE_OK) {
            /* an answer (one-shot), or a stream the server ended after a 200 */
        } else if (req->stream && status == 200 && rc == CURLE_PARTIAL_FILE) {
            /* the server closed the stream in the middle of a chunk: an end too */
        } else {
            req->error = s_curl_error(self, easy, rc, req->errbuf);
        }
        curl_multi_remove_handle(self->multi, easy);
        curl_easy_cleanup(easy);
        req->easy = NULL;
        req->finished = true;
        req->complete = rc == CURLE_OK && !req->error;
        s_queue(self, req);
    }
}

/* Dispatch: user callbacks, outside curl --------------------------------------- */

/* Calls on_line for each non-empty line of text (lines end at '\n'; the last
 * one may lack it; text[len] must be writable). Returns 1 when the request is
 * still there, 0 when a callback cancelled it, -1 when one destroyed the client. */
static int s_lines(docker_api_t *self, int id, char *text, size_t len)
{
    size_t at = 0;
    while (at < len) {
        char *line = text + at;
        char *nl = memchr(line, '\n', len - at);
        size_t n = nl ? (size_t)(nl - line) : len - at;
        at += nl ? n + 1 : n;
        if (n > 0 && line[n - 1] == '\r') n--;
        line[n] = 0;
        if (n == 0) continue;
        s_request_t *req = s_lookup(self, id);
        if (!req) return 0;
        req->on_line(req->arg, line, n);
        if (self->destroyed) return -1;
    }
    return s_lookup(self, id) ? 1 : 0;
}

/* Delivers what the request has ready: complete lines, then its end. Returns
 * false when a callback destroyed the client (only self->destroyed may then
 * be read). */
static bool s_deliver(docker_api_t *self, int id)
{
    s_request_t *req = s_lookup(self, id);
    if (!req) return true;
    req->queued = false;
    /* Complete lines go out even when the stream then failed; a last line
     * without its newline only when the transfer ended without any error
     * (not when cut in the middle of a chunk). */
    size_t len = 0;
    if (req->stream && req->status == 200) len = req->complete ? req->buf.len : req->tail;
    if (len > 0) {
        /* Take the lines out of the request, so that a callback cancelling it
         * leaves them valid. */
        s_buf_t batch = req->buf;
        req->buf = (s_buf_t){0};
        req->tail = 0;
        if (len < batch.len) s_buf_append(&req->buf, batch.data + len, batch.len - len);
        int alive = s_lines(self, id, batch.data, len);
        free(batch.data);
        if (alive < 0) return false;
        if (alive == 0) return true;
        req = s_lookup(self, id);
    }
    if (!req->finished) return true;

    zhashx_delete(self->requests, S_KEY(id));
    bool stream = req->stream;
    docker_api_done_fn *done = req->done;
    docker_api_end_fn *on_end = req->on_end;
    void *arg = req->arg;
    char *error = req->error;
    long status = error ? 0 : req->status;
    s_buf_t body = req->buf; /* with an error, no body is passed */
    if (error) {
        free(body.data);
        body.data = NULL;
        body.len = 0;
    }
    free(req);
    if (stream)
        on_end(arg, error);
    else
        done(arg, status, body.data ? body.data : "", body.len, error);
    free(body.data);
    free(error);
    return !self->destroyed;
}

static void s_dispatch(docker_api_t *self)
{
    self->dispatching++;
    void *item;
    while (!self->destroyed && (item = zlistx_detach(self->ready, NULL)))
        if (!s_deliver(self, (int)(intptr_t)item)) break;
    if (--self->dispatching == 0 && self->destroyed) free(self); /* see docker_api_destroy */
}

/* Drives curl for one event (a socket's readiness or the timeout), then
 * settles finished transfers and calls back. */
static void s_action(docker_api_t *self, curl_socket_t fd, int mask)
{
    int running = 0;
    CURLMcode mc = curl_multi_socket_action(self->multi, fd, mask, &running);
    if (mc != CURLM_OK)
        il_log_warn("docker_api: curl_multi_socket_action: %s", curl_multi_strerror(mc));
    s_collect(self);
    s_dispatch(self);
}

/* zloop handlers ------------------------------------------------------------------ */

static int s_on_socket(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    docker_api_t *self = arg;
    int fd = item->fd;
    /* zloop may still call a poller ended during this pass: ignore it. */
    if (fd < 0 || (size_t)fd >= self->sock_cap || !self->sock_events[fd]) return 0;
    int mask = 0;
    if (item->revents & ZMQ_POLLIN) mask |= CURL_CSELECT_IN;
    if (item->revents & ZMQ_POLLOUT) mask |= CURL_CSELECT_OUT;
    if (item->revents & ZMQ_POLLERR) mask |= CURL_CSELECT_ERR;
    s_action(self, fd, mask);
    return 0;
}

static int s_on_timer(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    (void)item;
    docker_api_t *self = arg;
    uint64_t expirations;
    /* Nothing to read: curl re-armed or disarmed it since the poll. */
    if (read(self->timer_fd, &expirations, sizeof expirations) != sizeof expirations) return 0;
    s_action(self, CURL_SOCKET_TIMEOUT, 0);
    return 0;
}

/* curl's callbacks for the loop ---------------------------------------------------- */

static int s_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    docker_api_t *self = userp;
    if (fd < 0) return 0;
    if ((size_t)fd >= self->sock_cap) {
        if (what == CURL_POLL_REMOVE) return 0;
        size_t cap = self->sock_cap ? self->sock_cap : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        int *grown = il_realloc(self->sock_events, cap * sizeof *grown);
        memset(grown + self->sock_cap, 0, (cap - self->sock_cap) * sizeof *grown);
        self->sock_events = grown;
        self->sock_cap = cap;
    }
    short events = what == CURL_POLL_IN      ? ZMQ_POLLIN
                   : what == CURL_POLL_OUT   ? ZMQ_POLLOUT
                   : what == CURL_POLL_INOUT ? ZMQ_POLLIN | ZMQ_POLLOUT
                                             : 0; /* CURL_POLL_REMOVE, CURL_POLL_NONE */
    if (self->sock_events[fd] == events) return 0;
    zmq_pollitem_t item = {.socket = NULL, .fd = fd, .events = events};
    if (self->sock_events[fd]) zloop_poller_end(self->loop, &item); /* matches on the fd */
    self->sock_events[fd] = 0;
    if (events) {
        if (zloop_poller(self->loop, &item, s_on_socket, self) != 0) return -1;
        zloop_poller_set_tolerant(self->loop, &item); /* curl handles socket errors */
        self->sock_events[fd] = events;
    }
    return 0;
}

static int s_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    docker_api_t *self = userp;
    struct itimerspec spec = {{0, 0}, {0, 0}}; /* disarmed */
    if (timeout_ms == 0 && !self->closing) spec.it_value.tv_nsec = 1000;
    if (timeout_ms > 0 && !self->closing) {
        spec.it_value.tv_sec = timeout_ms / 1000;
        spec.it_value.tv_nsec = (timeout_ms % 1000) * 1000000L;
    }
    return timerfd_settime(self->timer_fd, 0, &spec, NULL) == 0 ? 0 : -1;
}

/* Configuration ---------------------------------------------------------------------- */

static bool s_set(const char *text)
{
    return text && *text;
}

static int s_check_file(const char *key, const char *path, char *err, size_t errlen)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(err, errlen, "%s file %s cannot be read: %s", key, path, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fileno(file), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s file %s is not a regular file", key, path);
        rc = -1;
    }
    fclose(file);
    return rc;
}

/* Checks a "HOST:PORT" (HOST may be "[v6]"). */
static bool s_host_port_valid(const char *text)
{
    if (!*text || strpbrk(text, "/?#@ \t\r\n")) return false;
    const char *bracket = strrchr(text, ']');
    const char *colon = strrchr(bracket ? bracket : text, ':');
    if (!colon || colon == text || (text[0] == '[' && colon != bracket + 1)) return false;
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    return colon[1] && !*end && errno == 0 && port >= 1 && port <= 65535;
}

static void s_free_fields(docker_api_t *self)
{
    free(self->endpoint);
    free(self->base_url);
    free(self->unix_path);
    free(self->tls_ca);
    free(self->tls_cert);
    free(self->tls_key);
}

docker_api_t *docker_api_new(const docker_api_config_t *config, zloop_t *loop, char *err,
                             size_t errlen)
{
    assert(config);
    assert(loop);
    char scratch[256];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = 0;
    const char *endpoint = config->endpoint;
    if (!s_set(endpoint)) {
        snprintf(err, errlen, "no Docker endpoint given (unix://PATH or tcp://HOST:PORT)");
        return NULL;
    }
    bool is_unix = !strncmp(endpoint, "unix://", 7);
    bool is_tcp = !strncmp(endpoint, "tcp://", 6);
    if (!is_unix && !is_tcp) {
        snprintf(err, errlen, "unsupported Docker endpoint \"%s\" (unix://PATH or tcp://HOST:PORT)",
                 endpoint);
        return NULL;
    }
    if (is_unix &&
        (!endpoint[7] || strlen(endpoint + 7) >= sizeof(((struct sockaddr_un *)0)->sun_path))) {
        snprintf(err, errlen, "Docker endpoint \"%s\": %s", endpoint,
                 endpoint[7] ? "socket path too long" : "no socket path");
        return NULL;
    }
    if (is_tcp && !s_host_port_valid(endpoint + 6)) {
        snprintf(err, errlen, "Docker endpoint \"%s\": expected tcp://HOST:PORT", endpoint);
        return NULL;
    }
    const char *keys[3] = {"tlsCa", "tlsCert", "tlsKey"};
    const char *files[3] = {config->tls_ca, config->tls_cert, config->tls_key};
    int given = s_set(files[0]) + s_set(files[1]) + s_set(files[2]);
    if (given > 0 && given < 3) {
        char missing[64] = "";
        for (int i = 0; i < 3; i++)
            if (!s_set(files[i]))
                snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s",
                         *missing ? " and " : "", keys[i]);
        snprintf(err, errlen,
                 "incomplete TLS configuration: %s missing (tlsCa, tlsCert and "
                 "tlsKey go together)",
                 missing);
        return NULL;
    }
    bool tls = given == 3 && is_tcp;
    if (given == 3 && is_unix)
        il_log_warn("docker_api: tlsCa, tlsCert and tlsKey are ignored for %s", endpoint);
    for (int i = 0; tls && i < 3; i++)
        if (s_check_file(keys[i], files[i], err, errlen)) return NULL;
    if (!s_curl_ready()) {
        snprintf(err, errlen, "curl_global_init failed: %s", curl_easy_strerror(s_curl_rc));
        return NULL;
    }

    docker_api_t *self = il_calloc(1, sizeof *self);
    self->loop = loop;
    self->endpoint = il_strdup(endpoint);
    if (is_unix) {
        self->unix_path = il_strdup(endpoint + 7);
        self->base_url = il_strdup("http://localhost");
    } else {
        self->base_url = s_printf("%s://%s", tls ? "https" : "http", endpoint + 6);
    }
    if (tls) {
        self->tls_ca = il_strdup(files[0]);
        self->tls_cert = il_strdup(files[1]);
        self->tls_key = il_strdup(files[2]);
    }
    self->timeout_ms = config->timeout_ms > 0 ? (long)config->timeout_ms : DOCKER_API_TIMEOUT_MS;
    self->connect_timeout_ms =
        config->connect_timeout_ms > 0 ? (long)config->connect_timeout_ms : DOCKER_API_CONNECT_MS;
    static const char accept[] = "Accept: application/json";
    self->headers = curl_slist_append(NULL, accept);
    if (!self->headers) il_oom(sizeof accept); /* its only failure */
    self->requests = zhashx_new();
    self->ready = zlistx_new();
    self->multi = curl_multi_init();
    self->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    zmq_pollitem_t timer = {.socket = NULL, .fd = self->timer_fd, .events = ZMQ_POLLIN};
    if (!self->multi || self->timer_fd < 0 || zloop_poller(loop, &timer, s_on_timer, self) != 0) {
        snprintf(err, errlen, "cannot set up the Docker client: %s",
                 self->timer_fd < 0 ? strerror(errno)
                 : !self->multi     ? "curl_multi_init failed"
                                    : "zloop_poller failed");
        if (self->timer_fd >= 0) close(self->timer_fd);
        curl_slist_free_all(self->headers);
        zhashx_destroy(&self->requests);
        zlistx_destroy(&self->ready);
        if (self->multi) curl_multi_cleanup(self->multi);
        s_free_fields(self);
        free(self);
        return NULL;
    }
    zloop_poller_set_tolerant(loop, &timer);
    zhashx_set_key_hasher(self->requests, s_id_hash);
    zhashx_set_key_comparator(self->requests, s_id_compare);
    zhashx_set_key_duplicator(self->requests, NULL);
    zhashx_set_key_destructor(self->requests, NULL);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, s_curl_socket);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, s_curl_timer);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)DOCKER_API_MAX_HOST_CONN);
    return self;
}

void docker_api_destroy(docker_api_t **self_p)
{
    assert(self_p);
    docker_api_t *self = *self_p;
    if (!self) return;
    *self_p = NULL;
    self->destroyed = true;
    self->closing = true;
    for (s_request_t *req = zhashx_first(self->requests); req; req = zhashx_next(self->requests))
        s_request_free(self, req);
    zhashx_destroy(&self->requests);
    curl_multi_cleanup(self->multi); /* closes cached connections (may end pollers) */
    for (size_t fd = 0; fd < self->sock_cap; fd++) {
        if (!self->sock_events[fd]) continue;
        zmq_pollitem_t item = {.socket = NULL, .fd = (int)fd};
        zloop_poller_end(self->loop, &item);
    }
    zmq_pollitem_t timer = {.socket = NULL, .fd = self->timer_fd};
    zloop_poller_end(self->loop, &timer);
    close(self->timer_fd);
    free(self->sock_events);
    zlistx_destroy(&self->ready);
    curl_slist_free_all(self->headers);
    s_free_fields(self);
    /* Called from a callback: the dispatchers below still read self->destroyed;
     * the outermost frees the struct when it returns. */
    if (self->dispatching == 0) free(self);
}

/* Requests --------------------------------------------------------------------------- */

static int s_next_id(docker_api_t *self)
{
    do
        self->last_id = self->last_id >= INT_MAX ? 1 : self->last_id + 1;
    while (s_lookup(self, self->last_id));
    return self->last_id;
}

static int s_start(docker_api_t *self, const char *path, bool stream, docker_api_done_fn *done,
                   docker_api_line_fn *on_line, docker_api_end_fn *on_end, void *arg)
{
    assert(self);
    assert(path);
    if (path[0] != '/') {
        il_log_warn("docker_api: GET %s: the path must start with '/'", path);
        return -1;
    }
    s_request_t *req = il_calloc(1, sizeof *req);
    req->api = self;
    req->stream = stream;
    req->done = done;
    req->on_line = on_line;
    req->on_end = on_end;
    req->arg = arg;
    req->easy = curl_easy_init();
    if (!req->easy) {
        il_log_warn("docker_api: GET %s: curl_easy_init failed", path);
        free(req);
        return -1;
    }
    CURL *easy = req->easy;
    char *url = s_printf("%s%s", self->base_url, path);
    CURLcode rc = curl_easy_setopt(easy, CURLOPT_URL, url);
    free(url);
    if (self->unix_path) curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, self->unix_path);
    if (self->tls_ca) {
        curl_easy_setopt(easy, CURLOPT_CAINFO, self->tls_ca);
        curl_easy_setopt(easy, CURLOPT_SSLCERT, self->tls_cert);
        curl_easy_setopt(easy, CURLOPT_SSLKEY, self->tls_key);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, self->connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, stream ? 0L : self->timeout_ms);
    if (stream) {
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 0L);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 0L);
        curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 30L);
        curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 10L);
    }
    curl_easy_setopt(easy, CURLOPT_USERAGENT, DOCKER_API_USER_AGENT);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, stream ? s_on_stream_data : s_on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
    if (rc != CURLE_OK) {
        il_log_warn("docker_api: GET %s: %s", path, curl_easy_strerror(rc));
        curl_easy_cleanup(easy);
        free(req);
        return -1;
    }
    req->id = s_next_id(self);
    if (zhashx_insert(self->requests, S_KEY(req->id), req) != 0) abort(); /* ids are unique */
    CURLMcode mc = curl_multi_add_handle(self->multi, easy);
    if (mc != CURLM_OK) {
        il_log_warn("docker_api: GET %s: %s", path, curl_multi_strerror(mc));
        zhashx_delete(self->requests, S_KEY(req->id));
        curl_easy_cleanup(easy);
        req->easy = NULL;
        s_request_free(self, req);
        return -1;
    }
    il_log_debug("docker_api: #%d GET %s%s", req->id, path, stream ? " (stream)" : "");
    return req->id;
}

int docker_api_get(docker_api_t *self, const char *path, docker_api_done_fn *done, void *arg)
{
    assert(done);
    return s_start(self, path, false, done, NULL, NULL, arg);
}

int docker_api_stream(docker_api_t *self, const char *path, docker_api_line_fn *on_line,
                      docker_api_end_fn *on_end, void *arg)
{
    assert(on_line);
    assert(on_end);
    return s_start(self, path, true, NULL, on_line, on_end, arg);
}

void docker_api_cancel(docker_api_t *self, int id)
{
    assert(self);
    s_request_t *req = s_lookup(self, id);
    if (!req) return;
    zhashx_delete(self->requests, S_KEY(id));
    s_request_free(self, req); /* its id may stay on the ready list: not found there */
}

size_t docker_api_pending(docker_api_t *self)
{
    assert(self);
    return zhashx_size(self->requests);
}

char *docker_api_escape(const char *text)
{
    if (!text || !s_curl_ready()) return NULL;
    size_t len = strlen(text);
    if (len > DOCKER_API_ESCAPE_MAX) return NULL;
    char *escaped = curl_easy_escape(NULL, text, (int)len);
    if (!escaped) il_oom(len * 3 + 1); /* within the bound, only memory fails */
    char *copy = il_strdup(escaped);
    curl_free(escaped);
    return copy;
}
