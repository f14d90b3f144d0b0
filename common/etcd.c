/* etcd: a blocking client of etcd's v3 JSON gateway, see etcd.h. */
#include "common/etcd.h"
#include "common/alloc.h"
#include "common/err.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_ERR 512
/* An answer (or a watch line) larger than this is not one etcd sends us. */
#define S_MAX_BODY (64u << 20)
/* gRPC status codes after which another member may well answer. */
#define S_GRPC_DEADLINE    4
#define S_GRPC_UNAVAILABLE 14

struct _il_etcd_t {
    char **endpoints; /* base URLs, without a trailing slash */
    size_t count;
    size_t current; /* the one tried first: the last that answered */
    char *tls_ca, *tls_cert, *tls_key;
    int64_t timeout_ms;     /* one whole call */
    int64_t try_timeout_ms; /* one endpoint in a call */
    CURL *easy;             /* kept between calls: its connection is reused */
    struct curl_slist *headers;
    char *body; /* the answer being read */
    size_t body_len, body_cap;
    bool body_too_big;
    int64_t page; /* keys per read of a whole prefix */
};

typedef struct {
    json_t *compare, *success, *failure;
} s_txn_t;
struct _il_etcd_txn_t {
    s_txn_t t;
};

struct _il_etcd_watch_t {
    il_etcd_t *client;       /* endpoints, TLS, time-outs (not its handle) */
    char *key_b64, *end_b64; /* end NULL: one key */
    int64_t start_revision;
    int64_t last_revision;    /* of the last event delivered */
    int64_t compact_revision; /* set when etcd said compacted */
    bool finished;            /* compacted: no more events */
    CURLM *multi;
    CURL *easy; /* the stream, NULL when none is open */
    struct curl_slist *headers;
    char *request;     /* the create_request of the open stream */
    size_t endpoint;   /* the stream's endpoint */
    bool created;      /* the open stream said created */
    int64_t opened_at; /* when the stream was opened (mono ms) */
    int64_t last_data; /* when the stream last sent bytes (mono ms) */
    int64_t idle_ms;   /* a stream silent that long is opened again (0: never) */
    char *buf;         /* bytes of the stream not yet a whole line */
    size_t buf_len, buf_cap;
    bool buf_too_big;
    char errbuf[CURL_ERROR_SIZE]; /* libcurl's words on the open stream */
};

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s_curl_rc = CURLE_FAILED_INIT;

/* curl_global_init is not thread-safe: once per process, whichever client comes first. */
static void s_curl_global_init(void)
{
    s_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- pure parts ---- */

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *il_etcd_b64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = il_malloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = s_b64[(v >> 18) & 63];
        out[o++] = s_b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? s_b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? s_b64[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static int s_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

char *il_etcd_b64_decode(const char *text, size_t *len)
{
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == '=')
        n--;
    if (n % 4 == 1) return NULL;
    char *out = il_malloc(n / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = s_b64_value(text[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    if (len) *len = o;
    return out;
}

char *il_etcd_prefix_end(const char *prefix, size_t *len)
{
    size_t n = strlen(prefix);
    char *end = il_malloc(n + 1);
    memcpy(end, prefix, n + 1);
    while (n > 0) {
        if ((unsigned char)end[n - 1] < 0xff) {
            end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
            end[n] = '\0';
            *len = n;
            return end;
        }
        n--;
    }
    end[0] = '\0'; /* every key */
    *len = 1;
    return end;
}

/* A number etcd sent (as a string, as JSON says for int64, or a number); 0
 * when absent, as etcd leaves zeroes out. */
static int64_t s_int(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (json_is_integer(v)) return (int64_t)json_integer_value(v);
    if (json_is_string(v)) return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

static json_t *s_int_json(int64_t v)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, v);
    return json_string(text);
}

static json_t *s_b64_json(const void *data, size_t len)
{
    char *text = il_etcd_b64_encode(data, len);
    json_t *j = json_string(text);
    free(text);
    return j;
}

static void s_kv_free(il_etcd_kv_t *kv)
{
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof *kv);
}

static int s_decode_kv(json_t *j, il_etcd_kv_t *kv, char *err, size_t errlen)
{
    memset(kv, 0, sizeof *kv);
    const char *key = json_string_value(json_object_get(j, "key"));
    if (!json_is_object(j) || !key) return il_err(err, errlen, "a key-value without a key");
    kv->key = il_etcd_b64_decode(key, NULL);
    if (!kv->key) return il_err(err, errlen, "a key that is not base64: '%.64s'", key);
    const char *value = json_string_value(json_object_get(j, "value"));
    kv->value = value ? il_etcd_b64_decode(value, &kv->value_len) : il_strdup("");
    if (!kv->value) {
        s_kv_free(kv);
        return il_err(err, errlen, "a value that is not base64 (key '%.64s')", key);
    }
    kv->create_revision = s_int(j, "create_revision");
    kv->mod_revision = s_int(j, "mod_revision");
    kv->version = s_int(j, "version");
    kv->lease = s_int(j, "lease");
    return 0;
}

/* Appends the kvs array of a range answer to out. */
static int s_append_kvs(json_t *answer, il_etcd_range_t *out, char *err, size_t errlen)
{
    json_t *kvs = json_object_get(answer, "kvs");
    if (kvs && !json_is_array(kvs)) return il_err(err, errlen, "\"kvs\" is not an array");
    size_t n = json_array_size(kvs);
    if (n == 0) return 0;
    out->kvs = il_realloc(out->kvs, (out->count + n) * sizeof *out->kvs);
    for (size_t i = 0; i < n; i++) {
        if (s_decode_kv(json_array_get(kvs, i), &out->kvs[out->count], err, errlen)) return -1;
        out->count++;
    }
    if (json_is_true(json_object_get(answer, "more"))) out->more = true;
    return 0;
}

static int s_decode_range_json(json_t *answer, il_etcd_range_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(answer)) return il_err(err, errlen, "the answer is not a JSON object");
    out->revision = s_int(json_object_get(answer, "header"), "revision");
    if (s_append_kvs(answer, out, err, errlen)) {
        il_etcd_range_free(out);
        return -1;
    }
    return 0;
}

int il_etcd_decode_range(const char *body, il_etcd_range_t *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *answer = json_loads(body, JSON_DISABLE_EOF_CHECK, &jerr);
    memset(out, 0, sizeof *out);
    if (!answer) return il_err(err, errlen, "the answer is not JSON: %s", jerr.text);
    int rc = s_decode_range_json(answer, out, err, errlen);
    json_decref(answer);
    return rc;
}

void il_etcd_range_free(il_etcd_range_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->count; i++)
        s_kv_free(&r->kvs[i]);
    free(r->kvs);
    memset(r, 0, sizeof *r);
}

void il_etcd_events_free(il_etcd_events_t *events)
{
    if (!events) return;
    for (size_t i = 0; i < events->count; i++)
        s_kv_free(&events->events[i].kv);
    free(events->events);
    memset(events, 0, sizeof *events);
}

/* etcd's (gRPC's) error in an answer: "message (code N)". */
static bool s_grpc_error(json_t *answer, char *why, size_t whylen, int *code)
{
    json_t *e = json_object_get(answer, "error");
    if (!e) return false;
    /* on a stream the error is an object, on a unary call a string beside "message" */
    json_t *holder = json_is_object(e) ? e : answer;
    const char *msg = json_string_value(json_object_get(holder, "message"));
    if (!msg) msg = json_string_value(e);
    *code = (int)s_int(holder, "code");
    snprintf(why, whylen, "%s (code %d)", msg ? msg : "an error without a message", *code);
    return true;
}

int il_etcd_decode_watch(const char *line, il_etcd_events_t *out, bool *created, bool *canceled,
                         int64_t *compact_revision, int64_t *header_revision, char *err,
                         size_t errlen)
{
    *created = *canceled = false;
    *compact_revision = *header_revision = 0;
    json_error_t jerr;
    json_t *j = json_loads(line, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!j) return il_err(err, errlen, "a watch line that is not JSON: %s", jerr.text);
    int code = 0;
    char why[S_ERR];
    if (s_grpc_error(j, why, sizeof why, &code)) {
        json_decref(j);
        return il_err(err, errlen, "%s", why);
    }
    json_t *r = json_object_get(j, "result");
    if (!json_is_object(r)) {
        json_decref(j);
        return il_err(err, errlen, "a watch line without a \"result\" object");
    }
    *created = json_is_true(json_object_get(r, "created"));
    *canceled = json_is_true(json_object_get(r, "canceled"));
    *compact_revision = s_int(r, "compact_revision");
    *header_revision = s_int(json_object_get(r, "header"), "revision");
    json_t *events = json_object_get(r, "events");
    size_t n = json_array_size(events);
    if (n) out->events = il_realloc(out->events, (out->count + n) * sizeof *out->events);
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_array_get(events, i);
        il_etcd_event_t *e = &out->events[out->count];
        const char *type = json_string_value(json_object_get(ev, "type"));
        e->type = type && !strcmp(type, "DELETE") ? IL_ETCD_DELETE : IL_ETCD_PUT;
        if (s_decode_kv(json_object_get(ev, "kv"), &e->kv, err, errlen)) {
            json_decref(j);
            return -1;
        }
        out->count++;
    }
    json_decref(j);
    return 0;
}

/* ---- the client ---- */

static size_t s_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    il_etcd_t *self = arg;
    size_t n = size * nmemb;
    if (self->body_len + n + 1 > S_MAX_BODY) {
        self->body_too_big = true;
        return 0;
    }
    if (self->body_len + n + 1 > self->body_cap) {
        self->body_cap = (self->body_len + n + 1) * 2;
        self->body = il_realloc(self->body, self->body_cap);
    }
    memcpy(self->body + self->body_len, data, n);
    self->body_len += n;
    self->body[self->body_len] = '\0';
    return n;
}

static int s_check_file(const char *what, const char *path, char *err, size_t errlen)
{
    if (path && access(path, R_OK))
        return il_err(err, errlen, "etcd %s '%s': %s", what, path, strerror(errno));
    return 0;
}

il_etcd_t *il_etcd_new(const il_etcd_config_t *config, char *err, size_t errlen)
{
    if (!config->endpoint_count) {
        il_err(err, errlen, "etcd: no endpoint given");
        return NULL;
    }
    for (size_t i = 0; i < config->endpoint_count; i++) {
        const char *ep = config->endpoints[i];
        if (!ep || (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) ||
            strlen(ep) <= (size_t)(strncmp(ep, "http://", 7) ? 8 : 7)) {
            il_err(err, errlen, "etcd endpoint '%s': not an http:// or https:// URL",
                   ep ? ep : "(null)");
            return NULL;
        }
    }
    if (!config->tls_cert != !config->tls_key) {
        il_err(err, errlen, "etcd: tlsCert and tlsKey go together (only %s is given)",
               config->tls_cert ? "tlsCert" : "tlsKey");
        return NULL;
    }
    if (s_check_file("tlsCa", config->tls_ca, err, errlen) ||
        s_check_file("tlsCert", config->tls_cert, err, errlen) ||
        s_check_file("tlsKey", config->tls_key, err, errlen))
        return NULL;
    if (pthread_once(&s_curl_once, s_curl_global_init) || s_curl_rc != CURLE_OK) {
        il_err(err, errlen, "etcd: libcurl cannot start: %s", curl_easy_strerror(s_curl_rc));
        return NULL;
    }
    il_etcd_t *self = il_calloc(1, sizeof *self);
    self->count = config->endpoint_count;
    self->endpoints = il_calloc(self->count, sizeof *self->endpoints);
    for (size_t i = 0; i < self->count; i++) {
        self->endpoints[i] = il_strdup(config->endpoints[i]);
        size_t n = strlen(self->endpoints[i]);
        while (n > 0 && self->endpoints[i][n - 1] == '/')
            self->endpoints[i][--n] = '\0';
    }
    self->tls_ca = il_strdup(config->tls_ca);
    self->tls_cert = il_strdup(config->tls_cert);
    self->tls_key = il_strdup(config->tls_key);
    self->timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : 5000;
    self->try_timeout_ms = config->try_timeout_ms > 0 ? config->try_timeout_ms : 2000;
    self->page = IL_ETCD_PAGE;
    self->easy = curl_easy_init();
    self->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!self->easy || !self->headers) {
        il_err(err, errlen, "etcd: libcurl cannot make a handle");
        il_etcd_destroy(&self);
    }
    return self;
}

void il_etcd_destroy(il_etcd_t **self_p)
{
    il_etcd_t *self = *self_p;
    if (!self) return;
    if (self->easy) curl_easy_cleanup(self->easy);
    curl_slist_free_all(self->headers);
    for (size_t i = 0; i < self->count; i++)
        free(self->endpoints[i]);
    free(self->endpoints);
    free(self->tls_ca);
    free(self->tls_cert);
    free(self->tls_key);
    free(self->body);
    free(self);
    *self_p = NULL;
}

void il_etcd_set_timeout(il_etcd_t *self, int64_t timeout_ms)
{
    if (timeout_ms > 0) self->timeout_ms = timeout_ms;
}

void il_etcd_set_page(il_etcd_t *self, int64_t keys)
{
    if (keys > 0) self->page = keys;
}

const char *il_etcd_endpoint(il_etcd_t *self)
{
    return self->endpoints[self->current];
}

/* The options both kinds of request share (a one-shot call, a watch stream). */
static void s_setup(il_etcd_t *self, CURL *easy, const char *url, const char *request,
                    struct curl_slist *headers, char *errbuf)
{
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    if (self->tls_ca) curl_easy_setopt(easy, CURLOPT_CAINFO, self->tls_ca);
    if (self->tls_cert) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, self->tls_cert);
        curl_easy_setopt(easy, CURLOPT_SSLKEY, self->tls_key);
    }
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
}

static void s_add_reason(char *all, size_t alllen, const char *reason)
{
    /* strncat, not snprintf: the reasons list is cut, which is fine */
    size_t used = strlen(all);
    if (used + 3 >= alllen) return;
    if (used) strcat(all, "; ");
    strncat(all, reason, alllen - strlen(all) - 1);
}

/* POSTs request (a JSON object, consumed) to path and returns etcd's answer
 * (a JSON object; for a stream, its first "result"). Moves on to the next
 * endpoint on a connection error, a time-out or an "unavailable" answer. */
static json_t *s_call(il_etcd_t *self, const char *path, json_t *request, char *err, size_t errlen)
{
    char *text = json_dumps(request, JSON_COMPACT);
    json_decref(request);
    if (!text) il_oom(0);
    int64_t deadline = s_now_ms() + self->timeout_ms;
    char reasons[1024] = "";
    json_t *result = NULL;
    for (size_t n = 0; n < self->count; n++) {
        size_t idx = (self->current + n) % self->count;
        const char *ep = self->endpoints[idx];
        int64_t left = deadline - s_now_ms();
        if (left <= 0) {
            char why[S_ERR];
            snprintf(why, sizeof why, "%s: not tried, the call's %" PRId64 " ms were up", ep,
                     self->timeout_ms);
            s_add_reason(reasons, sizeof reasons, why);
            break;
        }
        int64_t bound = left < self->try_timeout_ms ? left : self->try_timeout_ms;
        char url[1024], errbuf[CURL_ERROR_SIZE] = "";
        snprintf(url, sizeof url, "%s%s", ep, path);
        curl_easy_reset(self->easy);
        s_setup(self, self->easy, url, text, self->headers, errbuf);
        curl_easy_setopt(self->easy, CURLOPT_TIMEOUT_MS, (long)bound);
        curl_easy_setopt(self->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)bound);
        curl_easy_setopt(self->easy, CURLOPT_WRITEFUNCTION, s_on_body);
        curl_easy_setopt(self->easy, CURLOPT_WRITEDATA, self);
        self->body_len = 0;
        self->body_too_big = false;
        if (self->body) self->body[0] = '\0';
        CURLcode rc = curl_easy_perform(self->easy);
        char why[2 * S_ERR];
        if (rc != CURLE_OK) {
            snprintf(why, sizeof why, "%s: %s", ep,
                     self->body_too_big ? "an answer over 64 MiB"
                     : *errbuf          ? errbuf
                                        : curl_easy_strerror(rc));
            s_add_reason(reasons, sizeof reasons, why);
            continue;
        }
        long status = 0;
        curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE, &status);
        json_error_t jerr;
        json_t *answer = self->body
                             ? json_loadb(self->body, self->body_len, JSON_DISABLE_EOF_CHECK, &jerr)
                             : NULL;
        int code = 0;
        char grpc[S_ERR];
        if (answer && s_grpc_error(answer, grpc, sizeof grpc, &code)) {
            json_decref(answer);
            snprintf(why, sizeof why, "%s: %s", ep, grpc);
            s_add_reason(reasons, sizeof reasons, why);
            if (code == S_GRPC_UNAVAILABLE || code == S_GRPC_DEADLINE) continue;
            break; /* etcd's own verdict: another member would say the same */
        }
        if (status != 200 || !json_is_object(answer)) {
            json_decref(answer);
            snprintf(why, sizeof why, "%s: HTTP %ld: %.200s", ep, status,
                     self->body_len ? self->body : "(no body)");
            s_add_reason(reasons, sizeof reasons, why);
            if (status >= 500) continue;
            break;
        }
        /* a stream (lease keepalive) wraps each message in "result" */
        json_t *inner = json_object_get(answer, "result");
        if (json_is_object(inner)) {
            result = json_incref(inner);
            json_decref(answer);
        } else {
            result = answer;
        }
        self->current = idx;
        break;
    }
    free(text);
    if (!result) {
        if (self->count > 1) self->current = (self->current + 1) % self->count;
        il_err(err, errlen, "etcd %s: %s", path, reasons);
    }
    return result;
}

/* A range from key (len bytes) to end (end_len bytes; NULL: key alone). */
static json_t *s_range_request(const char *key, size_t len, const char *end, size_t end_len,
                               int64_t limit, int64_t revision)
{
    json_t *req = json_object();
    json_object_set_new(req, "key", s_b64_json(key, len));
    if (end) json_object_set_new(req, "range_end", s_b64_json(end, end_len));
    if (limit > 0) json_object_set_new(req, "limit", s_int_json(limit));
    if (revision > 0) json_object_set_new(req, "revision", s_int_json(revision));
    return req;
}

/* One key, or every key under it (prefix). */
static json_t *s_key_request(const char *key, bool prefix, int64_t limit, int64_t revision)
{
    if (!prefix) return s_range_request(key, strlen(key), NULL, 0, limit, revision);
    size_t end_len;
    char *end = il_etcd_prefix_end(key, &end_len);
    json_t *req = s_range_request(key, strlen(key), end, end_len, limit, revision);
    free(end);
    return req;
}

static int s_range(il_etcd_t *self, json_t *request, il_etcd_range_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_t *answer = s_call(self, "/v3/kv/range", request, err, errlen);
    if (!answer) return -1;
    char why[S_ERR];
    int rc = s_decode_range_json(answer, out, why, sizeof why);
    json_decref(answer);
    if (rc) return il_err(err, errlen, "etcd %s: range: %s", il_etcd_endpoint(self), why);
    return 0;
}

int il_etcd_get(il_etcd_t *self, const char *key, int64_t revision, il_etcd_range_t *out, char *err,
                size_t errlen)
{
    return s_range(self, s_range_request(key, strlen(key), NULL, 0, 0, revision), out, err, errlen);
}

/* Moves page's key-values to the end of out (page is left empty). */
static void s_range_join(il_etcd_range_t *out, il_etcd_range_t *page)
{
    if (page->count == 0) return;
    out->kvs = il_realloc(out->kvs, (out->count + page->count) * sizeof *out->kvs);
    memcpy(out->kvs + out->count, page->kvs, page->count * sizeof *page->kvs);
    out->count += page->count;
    free(page->kvs);
    page->kvs = NULL;
    page->count = 0;
}

/* Every key under prefix in pages of self->page keys, each read at the
 * revision of the first, so that the whole is one consistent view (a
 * revision compacted meanwhile fails the read: the caller reads again). */
static int s_range_pages(il_etcd_t *self, const char *prefix, int64_t revision,
                         il_etcd_range_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t end_len;
    char *end = il_etcd_prefix_end(prefix, &end_len);
    char *start = il_strdup(prefix);
    size_t start_len = strlen(prefix);
    int rc = 0;
    for (;;) {
        il_etcd_range_t page;
        json_t *req = s_range_request(start, start_len, end, end_len, self->page, revision);
        if (s_range(self, req, &page, err, errlen) != 0) {
            rc = -1;
            break;
        }
        if (revision == 0) revision = out->revision = page.revision;
        bool more = page.more && page.count > 0;
        if (more) { /* the next page starts right after the last key */
            const char *last = page.kvs[page.count - 1].key;
            start_len = strlen(last) + 1;
            free(start);
            start = il_malloc(start_len + 1);
            memcpy(start, last, start_len); /* with its NUL: last + "\0" */
            start[start_len] = '\0';
        }
        s_range_join(out, &page);
        il_etcd_range_free(&page);
        if (!more) break;
    }
    free(start);
    free(end);
    if (rc)
        il_etcd_range_free(out);
    else
        out->revision = revision;
    return rc;
}

int il_etcd_get_prefix(il_etcd_t *self, const char *prefix, int64_t limit, int64_t revision,
                       il_etcd_range_t *out, char *err, size_t errlen)
{
    if (limit == 0) return s_range_pages(self, prefix, revision, out, err, errlen);
    return s_range(self, s_key_request(prefix, true, limit, revision), out, err, errlen);
}

static json_t *s_put_request(const char *key, const void *value, size_t len, int64_t lease)
{
    json_t *req = json_object();
    json_object_set_new(req, "key", s_b64_json(key, strlen(key)));
    json_object_set_new(req, "value", s_b64_json(value, len));
    if (lease) json_object_set_new(req, "lease", s_int_json(lease));
    return req;
}

int il_etcd_put(il_etcd_t *self, const char *key, const void *value, size_t len, int64_t lease,
                int64_t *revision, char *err, size_t errlen)
{
    json_t *answer = s_call(self, "/v3/kv/put", s_put_request(key, value, len, lease), err, errlen);
    if (!answer) return -1;
    if (revision) *revision = s_int(json_object_get(answer, "header"), "revision");
    json_decref(answer);
    return 0;
}

int il_etcd_delete(il_etcd_t *self, const char *key, bool prefix, int64_t *deleted, char *err,
                   size_t errlen)
{
    json_t *answer =
        s_call(self, "/v3/kv/deleterange", s_key_request(key, prefix, 0, 0), err, errlen);
    if (!answer) return -1;
    if (deleted) *deleted = s_int(answer, "deleted");
    json_decref(answer);
    return 0;
}

/* ---- txn ---- */

il_etcd_txn_t *il_etcd_txn_new(void)
{
    il_etcd_txn_t *self = il_calloc(1, sizeof *self);
    self->t.compare = json_array();
    self->t.success = json_array();
    self->t.failure = json_array();
    return self;
}

void il_etcd_txn_destroy(il_etcd_txn_t **self_p)
{
    il_etcd_txn_t *self = *self_p;
    if (!self) return;
    json_decref(self->t.compare);
    json_decref(self->t.success);
    json_decref(self->t.failure);
    free(self);
    *self_p = NULL;
}

static const char *s_cmp_name(il_etcd_cmp_t cmp)
{
    switch (cmp) {
    case IL_ETCD_NOT_EQUAL:
        return "NOT_EQUAL";
    case IL_ETCD_GREATER:
        return "GREATER";
    case IL_ETCD_LESS:
        return "LESS";
    default:
        return "EQUAL";
    }
}

void il_etcd_txn_compare(il_etcd_txn_t *self, const char *key, il_etcd_target_t target,
                         il_etcd_cmp_t cmp, int64_t rev)
{
    json_t *c = json_object();
    json_object_set_new(c, "key", s_b64_json(key, strlen(key)));
    json_object_set_new(c, "result", json_string(s_cmp_name(cmp)));
    const char *name = target == IL_ETCD_MOD_REVISION ? "MOD"
                       : target == IL_ETCD_VERSION    ? "VERSION"
                                                      : "CREATE";
    const char *field = target == IL_ETCD_MOD_REVISION ? "mod_revision"
                        : target == IL_ETCD_VERSION    ? "version"
                                                       : "create_revision";
    json_object_set_new(c, "target", json_string(name));
    json_object_set_new(c, field, s_int_json(rev));
    json_array_append_new(self->t.compare, c);
}

void il_etcd_txn_compare_value(il_etcd_txn_t *self, const char *key, il_etcd_cmp_t cmp,
                               const void *value, size_t len)
{
    json_t *c = json_object();
    json_object_set_new(c, "key", s_b64_json(key, strlen(key)));
    json_object_set_new(c, "result", json_string(s_cmp_name(cmp)));
    json_object_set_new(c, "target", json_string("VALUE"));
    json_object_set_new(c, "value", s_b64_json(value, len));
    json_array_append_new(self->t.compare, c);
}

static void s_txn_op(il_etcd_txn_t *self, bool success, const char *kind, json_t *request)
{
    json_t *op = json_object();
    json_object_set_new(op, kind, request);
    json_array_append_new(success ? self->t.success : self->t.failure, op);
}

void il_etcd_txn_put(il_etcd_txn_t *self, bool success, const char *key, const void *value,
                     size_t len, int64_t lease)
{
    s_txn_op(self, success, "request_put", s_put_request(key, value, len, lease));
}

void il_etcd_txn_delete(il_etcd_txn_t *self, bool success, const char *key, bool prefix)
{
    s_txn_op(self, success, "request_delete_range", s_key_request(key, prefix, 0, 0));
}

void il_etcd_txn_get(il_etcd_txn_t *self, bool success, const char *key, bool prefix)
{
    s_txn_op(self, success, "request_range", s_key_request(key, prefix, 0, 0));
}

size_t il_etcd_txn_size(il_etcd_txn_t *self)
{
    size_t s = json_array_size(self->t.success), f = json_array_size(self->t.failure);
    return s > f ? s : f;
}

int il_etcd_txn_commit(il_etcd_t *self, il_etcd_txn_t *txn, bool *succeeded, il_etcd_range_t *out,
                       char *err, size_t errlen)
{
    if (out) memset(out, 0, sizeof *out);
    *succeeded = false;
    size_t nc = json_array_size(txn->t.compare), ns = json_array_size(txn->t.success),
           nf = json_array_size(txn->t.failure);
    if (nc > IL_ETCD_MAX_TXN_OPS || ns > IL_ETCD_MAX_TXN_OPS || nf > IL_ETCD_MAX_TXN_OPS)
        return il_err(err, errlen,
                      "etcd txn: %zu compares, %zu success and %zu failure operations: etcd "
                      "allows at most %d in each list of one txn (--max-txn-ops); split it",
                      nc, ns, nf, IL_ETCD_MAX_TXN_OPS);
    json_t *req = json_object();
    if (nc) json_object_set(req, "compare", txn->t.compare);
    if (ns) json_object_set(req, "success", txn->t.success);
    if (nf) json_object_set(req, "failure", txn->t.failure);
    json_t *answer = s_call(self, "/v3/kv/txn", req, err, errlen);
    if (!answer) return -1;
    *succeeded = json_is_true(json_object_get(answer, "succeeded"));
    if (out) {
        out->revision = s_int(json_object_get(answer, "header"), "revision");
        json_t *responses = json_object_get(answer, "responses");
        char why[S_ERR];
        for (size_t i = 0; i < json_array_size(responses); i++) {
            json_t *range = json_object_get(json_array_get(responses, i), "response_range");
            if (range && s_append_kvs(range, out, why, sizeof why)) {
                json_decref(answer);
                il_etcd_range_free(out);
                return il_err(err, errlen, "etcd %s: txn: %s", il_etcd_endpoint(self), why);
            }
        }
    }
    json_decref(answer);
    return 0;
}

/* ---- leases ---- */

int il_etcd_lease_grant(il_etcd_t *self, int64_t ttl_s, int64_t *id, int64_t *granted_s, char *err,
                        size_t errlen)
{
    json_t *req = json_object();
    json_object_set_new(req, "TTL", s_int_json(ttl_s));
    json_t *answer = s_call(self, "/v3/lease/grant", req, err, errlen);
    if (!answer) return -1;
    *id = s_int(answer, "ID");
    int64_t ttl = s_int(answer, "TTL");
    /* etcd 3.4 puts a refusal in a string "error" beside the (empty) lease */
    const char *why = json_string_value(json_object_get(answer, "error"));
    int rc = 0;
    if (!*id || ttl <= 0)
        rc = il_err(err, errlen, "etcd %s: lease grant: %s", il_etcd_endpoint(self),
                    why && *why ? why : "no lease in the answer");
    json_decref(answer);
    if (!rc && granted_s) *granted_s = ttl;
    return rc;
}

int il_etcd_lease_keepalive(il_etcd_t *self, int64_t id, int64_t *ttl_s, char *err, size_t errlen)
{
    json_t *req = json_object();
    json_object_set_new(req, "ID", s_int_json(id));
    json_t *answer = s_call(self, "/v3/lease/keepalive", req, err, errlen);
    if (!answer) return -1;
    int64_t ttl = s_int(answer, "TTL");
    json_decref(answer);
    /* etcd answers an unknown (expired) lease with a TTL of 0, left out */
    if (ttl <= 0)
        return il_err(err, errlen, "etcd %s: lease %" PRId64 " is not known any more (expired)",
                      il_etcd_endpoint(self), id);
    if (ttl_s) *ttl_s = ttl;
    return 0;
}

int il_etcd_lease_revoke(il_etcd_t *self, int64_t id, char *err, size_t errlen)
{
    json_t *req = json_object();
    json_object_set_new(req, "ID", s_int_json(id));
    char why[S_ERR];
    json_t *answer = s_call(self, "/v3/lease/revoke", req, why, sizeof why);
    if (answer) {
        json_decref(answer);
        return 0;
    }
    if (strstr(why, "requested lease not found")) return 0;
    return il_err(err, errlen, "%s", why);
}

/* ---- watch ---- */

il_etcd_watch_t *il_etcd_watch_new(il_etcd_t *client, const char *key, bool prefix,
                                   int64_t start_revision, char *err, size_t errlen)
{
    il_etcd_watch_t *self = il_calloc(1, sizeof *self);
    self->client = client;
    self->key_b64 = il_etcd_b64_encode(key, strlen(key));
    if (prefix) {
        size_t len;
        char *end = il_etcd_prefix_end(key, &len);
        self->end_b64 = il_etcd_b64_encode(end, len);
        free(end);
    }
    self->start_revision = start_revision > 0 ? start_revision : 0;
    self->idle_ms = 10000;
    self->last_revision = start_revision > 0 ? start_revision - 1 : 0;
    self->endpoint = client->current;
    self->multi = curl_multi_init();
    self->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!self->multi || !self->headers) {
        il_err(err, errlen, "etcd watch: libcurl cannot make a handle");
        il_etcd_watch_destroy(&self);
    }
    return self;
}

static void s_watch_close(il_etcd_watch_t *self)
{
    if (self->easy) {
        curl_multi_remove_handle(self->multi, self->easy);
        curl_easy_cleanup(self->easy);
        self->easy = NULL;
    }
    free(self->request);
    self->request = NULL;
    self->buf_len = 0;
    self->created = false;
}

void il_etcd_watch_destroy(il_etcd_watch_t **self_p)
{
    il_etcd_watch_t *self = *self_p;
    if (!self) return;
    s_watch_close(self);
    if (self->multi) curl_multi_cleanup(self->multi);
    curl_slist_free_all(self->headers);
    free(self->key_b64);
    free(self->end_b64);
    free(self->buf);
    free(self);
    *self_p = NULL;
}

static size_t s_on_stream(char *data, size_t size, size_t nmemb, void *arg)
{
    il_etcd_watch_t *self = arg;
    size_t n = size * nmemb;
    self->last_data = s_now_ms();
    if (self->buf_len + n + 1 > S_MAX_BODY) {
        self->buf_too_big = true;
        return 0;
    }
    if (self->buf_len + n + 1 > self->buf_cap) {
        self->buf_cap = (self->buf_len + n + 1) * 2;
        self->buf = il_realloc(self->buf, self->buf_cap);
    }
    memcpy(self->buf + self->buf_len, data, n);
    self->buf_len += n;
    self->buf[self->buf_len] = '\0';
    return n;
}

static int s_watch_open(il_etcd_watch_t *self, char *errbuf, char *err, size_t errlen)
{
    il_etcd_t *c = self->client;
    json_t *create = json_object();
    json_object_set_new(create, "key", json_string(self->key_b64));
    if (self->end_b64) json_object_set_new(create, "range_end", json_string(self->end_b64));
    /* resume after the last event delivered; from now when nothing was asked or seen */
    int64_t from = self->last_revision > 0 ? self->last_revision + 1 : self->start_revision;
    if (from > 0) json_object_set_new(create, "start_revision", s_int_json(from));
    json_t *req = json_object();
    json_object_set_new(req, "create_request", create);
    self->request = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!self->request) il_oom(0);
    self->easy = curl_easy_init();
    if (!self->easy) return il_err(err, errlen, "etcd watch: libcurl cannot make a handle");
    char url[1024];
    snprintf(url, sizeof url, "%s/v3/watch", c->endpoints[self->endpoint]);
    *errbuf = '\0';
    s_setup(c, self->easy, url, self->request, self->headers, errbuf);
    curl_easy_setopt(self->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)c->try_timeout_ms);
    curl_easy_setopt(self->easy, CURLOPT_WRITEFUNCTION, s_on_stream);
    curl_easy_setopt(self->easy, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(self->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(self->easy, CURLOPT_TCP_KEEPIDLE, 5L);
    curl_easy_setopt(self->easy, CURLOPT_TCP_KEEPINTVL, 2L);
    curl_multi_add_handle(self->multi, self->easy);
    self->opened_at = self->last_data = s_now_ms();
    self->buf_too_big = false;
    return 0;
}

/* Decodes every whole line of the stream. 0, IL_ETCD_COMPACTED, or -1 (the
 * stream must be opened again) with the reason in why. */
static int s_watch_lines(il_etcd_watch_t *self, il_etcd_events_t *out, char *why, size_t whylen)
{
    if (!self->buf_len) return 0;
    size_t start = 0;
    int rc = 0;
    while (rc == 0) {
        char *nl = memchr(self->buf + start, '\n', self->buf_len - start);
        if (!nl) break;
        *nl = '\0';
        const char *line = self->buf + start;
        start = (size_t)(nl - self->buf) + 1;
        if (!*line || !strcmp(line, "\r")) continue;
        bool created, canceled;
        int64_t compact, header;
        size_t before = out->count;
        if (il_etcd_decode_watch(line, out, &created, &canceled, &compact, &header, why, whylen)) {
            rc = -1;
            break;
        }
        if (created) {
            self->created = true;
            if (self->last_revision == 0) self->last_revision = header;
        }
        for (size_t i = before; i < out->count; i++)
            if (out->events[i].kv.mod_revision > self->last_revision)
                self->last_revision = out->events[i].kv.mod_revision;
        if (canceled && compact > 0) {
            self->compact_revision = compact;
            self->finished = true;
            rc = IL_ETCD_COMPACTED;
        } else if (canceled) {
            snprintf(why, whylen, "etcd canceled the watch");
            rc = -1;
        }
    }
    memmove(self->buf, self->buf + start, self->buf_len - start);
    self->buf_len -= start;
    return rc;
}

int il_etcd_watch_next(il_etcd_watch_t *self, int timeout_ms, il_etcd_events_t *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (self->finished) {
        il_err(err, errlen,
               "etcd watch: revision %" PRId64 " was compacted (oldest %" PRId64
               "); read again and watch anew",
               self->last_revision + 1, self->compact_revision);
        return IL_ETCD_COMPACTED;
    }
    il_etcd_t *c = self->client;
    int64_t deadline = s_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    char *errbuf = self->errbuf;
    char reasons[1024] = "";
    size_t failures = 0;
    for (;;) {
        if (!self->easy) {
            if (failures >= c->count) break;
            if (s_watch_open(self, errbuf, err, errlen)) return -1;
        }
        int running = 0;
        curl_multi_perform(self->multi, &running);
        char why[S_ERR] = "";
        int rc = s_watch_lines(self, out, why, sizeof why);
        if (rc == IL_ETCD_COMPACTED) {
            s_watch_close(self);
            il_err(err, errlen,
                   "etcd %s: watch: revision %" PRId64 " was compacted (oldest %" PRId64
                   "); read again and watch anew",
                   c->endpoints[self->endpoint], self->last_revision + 1, self->compact_revision);
            return IL_ETCD_COMPACTED;
        }
        bool broken = rc < 0;
        CURLMsg *msg;
        int queued;
        while ((msg = curl_multi_info_read(self->multi, &queued)))
            if (msg->msg == CURLMSG_DONE && !broken) {
                long status = 0;
                curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE, &status);
                if (msg->data.result != CURLE_OK)
                    snprintf(why, sizeof why, "%s",
                             self->buf_too_big ? "a line over 64 MiB"
                             : *errbuf         ? errbuf
                                               : curl_easy_strerror(msg->data.result));
                else if (status != 200)
                    snprintf(why, sizeof why, "HTTP %ld: %.200s", status,
                             self->buf_len ? self->buf : "(no body)");
                else
                    snprintf(why, sizeof why, "the stream ended");
                broken = true;
            }
        if (!broken && self->created && self->idle_ms > 0 &&
            s_now_ms() - self->last_data > self->idle_ms) {
            /* the gateway sends nothing on a quiet stream, so a member that
             * hung after it was made would go unnoticed: open it again (from
             * the last revision), which must then say "created" in time */
            s_watch_close(self);
            continue;
        }
        if (!broken && !self->created && s_now_ms() - self->opened_at > c->try_timeout_ms) {
            snprintf(why, sizeof why, "no answer to the watch request within %" PRId64 " ms",
                     c->try_timeout_ms);
            broken = true;
        }
        if (broken) {
            char line[S_ERR + 200];
            snprintf(line, sizeof line, "%s: %s", c->endpoints[self->endpoint], why);
            s_add_reason(reasons, sizeof reasons, line);
            s_watch_close(self);
            /* a stream that had been created and then ended: same endpoint again
             * is not worse than another, but a failure moves on */
            self->endpoint = (self->endpoint + 1) % c->count;
            failures++;
            if (out->count) return 0;
            continue;
        }
        if (out->count) return 0;
        int64_t left = deadline - s_now_ms();
        if (left <= 0) return 0;
        curl_multi_poll(self->multi, NULL, 0, (int)(left < 100 ? left : 100), NULL);
    }
    return il_err(err, errlen, "etcd /v3/watch: %s", reasons);
}

void il_etcd_watch_set_idle(il_etcd_watch_t *self, int64_t idle_ms)
{
    self->idle_ms = idle_ms > 0 ? idle_ms : 0;
}

int64_t il_etcd_watch_revision(il_etcd_watch_t *self)
{
    return self->last_revision;
}

int64_t il_etcd_watch_compact_revision(il_etcd_watch_t *self)
{
    return self->compact_revision;
}
