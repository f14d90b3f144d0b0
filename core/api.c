/* api: the core's HTTP server, see api.h. libmicrohttpd runs one server
 * thread; that thread alone uses the "front" end of an inproc PAIR, the core's
 * loop reads the "back" end. Each request goes front -> back as
 * [id, deadline, method, path] and comes back as [id, status, content type,
 * body]. Ids only grow, so an answer that arrives after its request gave up
 * (503) is recognised and dropped, never given to a later request. */
#include "core/api.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "core/listen_addr.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define API_WAIT_MS        5000          /* how long a request waits for the loop */
#define API_CONN_LIMIT     64            /* connections served at once */
#define API_CONN_TIMEOUT_S 10            /* an idle connection is closed after this */
#define API_MAX_PATH       2048          /* longer URL paths get 414 */
#define API_MAX_BODY       (64 * 1024)   /* larger request bodies get 413 */
#define API_MAX_DRAIN      (1024 * 1024) /* a chunked body past this closes the connection */
#define API_JSON           "application/json"

struct _api_t {
    struct MHD_Daemon *daemon; /* the server; its one thread runs s_on_access */
    zsock_t *front;            /* PAIR end used by the server thread only */
    zsock_t *back;             /* PAIR end read by the loop (s_on_request) */
    zloop_t *loop;             /* loop attached to, or NULL */
    api_handler_fn *handler;   /* builds the answers, in the loop's thread */
    void *arg;                 /* the handler's argument */
    uint64_t last_id;          /* id of the last request sent (server thread only) */
    atomic_bool stopping;      /* set by api_destroy: answer 503 at once */
    int port;                  /* port actually listened on */
    pthread_t starter;         /* thread inside MHD_start_daemon */
    char start_error[256];     /* MHD's last message to that thread during start */
};

/* Per-request state of the server thread, freed by s_on_completed. */
typedef struct {
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

/* MHD's messages go to the log; those written during api_new's
 * MHD_start_daemon are also kept, to explain a failed start. */
static void s_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    api_t *self = cls;
    char text[256];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t len = strlen(text);
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    if (pthread_equal(pthread_self(), self->starter))
        snprintf(self->start_error, sizeof self->start_error, "%s", text);
    il_log_warn("api: %s", text);
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

/* The server thread's request callback: called once with the headers, then
 * once per piece of body, then once more when the request is complete. */
static enum MHD_Result s_on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    api_t *self = cls;
    s_request_t *request = *con_cls;
    if (!request) {
        if (strnlen(url, API_MAX_PATH + 1) > API_MAX_PATH)
            return s_respond_error(conn, 414, "path too long");
        const char *length =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > API_MAX_BODY)
            return s_respond_error(conn, 413, "request body too large");
        *con_cls = il_calloc(1, sizeof *request);
        return MHD_YES;
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
    if (s_ask_loop(self, method, url, &status, &content_type, &body) != 0) {
        if (atomic_load(&self->stopping))
            il_log_debug("api: %s %s: shutting down", method, url);
        else
            il_log_warn("api: %s %s: no answer from the core within %d ms", method, url,
                        API_WAIT_MS);
        return s_respond_error(conn, 503, "core busy or not running");
    }
    enum MHD_Result rc = s_respond(conn, status, content_type ? content_type : API_JSON, body,
                                   body ? strlen(body) : 0);
    zstr_free(&content_type);
    zstr_free(&body);
    return rc;
}

static void s_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
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

api_t *api_new(const char *address, api_handler_fn *handler, void *arg, char *err, size_t errlen)
{
    il_err(err, errlen, "%s", "");
    if (!handler) {
        il_err(err, errlen, "api: no handler for '%s'", address ? address : "(null)");
        return NULL;
    }
    struct sockaddr_storage addr;
    if (s_parse(address, &addr, err, errlen) != 0) return NULL;

    api_t *self = il_calloc(1, sizeof *self);
    self->handler = handler;
    self->arg = arg;
    atomic_init(&self->stopping, false);

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

    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6) flags |= MHD_USE_DUAL_STACK;
    uint16_t port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                     : ((struct sockaddr_in *)&addr)->sin_port);
    self->starter = pthread_self();
    errno = 0;
    self->daemon =
        MHD_start_daemon(flags, port, NULL, NULL, s_on_access, self, MHD_OPTION_EXTERNAL_LOGGER,
                         s_on_mhd_log, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_CONN_LIMIT,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_CONN_TIMEOUT_S,
                         MHD_OPTION_NOTIFY_COMPLETED, s_on_completed, self, MHD_OPTION_END);
    if (!self->daemon) {
        int code = errno;
        if (self->start_error[0])
            il_err(err, errlen, "api: cannot listen on %s: %s", address, self->start_error);
        else
            il_err(err, errlen, "api: cannot listen on %s: %s", address,
                   code ? strerror(code) : "cannot start the HTTP server");
        api_destroy(&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info && info->port ? info->port : port;

    char host[INET6_ADDRSTRLEN + 16] = "?";
    socklen_t addrlen =
        addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    getnameinfo((struct sockaddr *)&addr, addrlen, host, sizeof host, NULL, 0, NI_NUMERICHOST);
    if (addr.ss_family == AF_INET6)
        il_log_info("api: listening on http://[%s]:%d", host, self->port);
    else
        il_log_info("api: listening on http://%s:%d", host, self->port);
    return self;
}

/* Safe whether or not the loop runs; an attached loop must still exist (its
 * reader is removed), so destroy the api before its loop. */
void api_destroy(api_t **self_p)
{
    if (!self_p || !*self_p) return;
    api_t *self = *self_p;
    atomic_store(&self->stopping, true);
    if (self->daemon) {
        /* Id 0 wakes a request that is waiting for the loop (never blocks:
         * send timeout 0). */
        zsock_send(self->back, "8", (uint64_t)0);
        MHD_stop_daemon(self->daemon);
    }
    if (self->loop) zloop_reader_end(self->loop, self->back);
    zsock_destroy(&self->front);
    zsock_destroy(&self->back);
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
