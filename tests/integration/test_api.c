/* test_api: the core's HTTP server (core/api) over real loopback TCP: a zloop
 * and api_t in this process, libcurl clients in a thread of their own while
 * the main thread runs the loop. */
#include "core/api.h"
#include "common/log.h"
#include "tests/support/testutil.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"

#define WAIT_MS      30000 /* bound on any wait of a test */
#define CURL_MAX_MS  20000 /* bound on one request */
#define BUSY_BODY    "{\"error\":\"core busy or not running\"}"
#define HELLO_BODY   "{\"hi\":1}"
#define MAX_REQUESTS 128

/* One HTTP request and what came back. */
typedef struct {
    const char *method; /* NULL: GET, or POST when body is set */
    const char *path;   /* path and query after http://127.0.0.1:PORT */
    const char *body;   /* request body or NULL */
    size_t body_size;
    bool chunked;     /* send the body with Transfer-Encoding: chunked */
    size_t body_sent; /* read callback position */
    CURLcode code;    /* curl's result */
    long status;
    char content_type[128];
    bool no_store;  /* "Cache-Control: no-store" was in the answer */
    char *response; /* heap, NUL-terminated */
    size_t response_size;
    int64_t elapsed_ms;
} s_req_t;

/* A client thread working through a list of requests with one curl handle. */
typedef struct {
    int port;
    s_req_t *reqs;
    size_t count;
    pthread_t thread;
    atomic_bool sent;     /* the first request's headers went out */
    pthread_mutex_t lock; /* guards completed, signalled by cond */
    pthread_cond_t cond;
    size_t completed; /* requests finished */
    atomic_bool done;
} s_client_t;

typedef struct {
    zloop_t *loop;
    api_t *api;
    const char *name;   /* answered on /name */
    size_t calls;       /* handler calls */
    s_client_t *client; /* the /slow handler waits on it */
} ctx_t;

/* Test handler ----------------------------------------------------------------- */

/* Waits until the client finished n requests (bounded). */
static bool s_client_wait_completed(s_client_t *client, size_t n, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&client->lock);
    int rc = 0;
    while (client->completed < n && rc == 0)
        rc = pthread_cond_timedwait(&client->cond, &client->lock, &until);
    bool ok = client->completed >= n;
    pthread_mutex_unlock(&client->lock);
    return ok;
}

static void s_handler(void *arg, const char *method, const char *path, api_reply_t *reply)
{
    ctx_t *ctx = arg;
    ctx->calls++;
    if (!strcmp(path, "/hello")) {
        reply->status = 200;
        reply->body = strdup(HELLO_BODY);
        reply->content_type = "application/json";
    } else if (!strcmp(path, "/text")) {
        reply->status = 200;
        reply->body = strdup("plain text");
        reply->content_type = "text/plain; charset=utf-8";
    } else if (!strcmp(path, "/method")) {
        reply->status = 200;
        reply->body = strdup(method);
        reply->content_type = "text/plain";
    } else if (!strcmp(path, "/name")) {
        reply->status = 200;
        reply->body = strdup(ctx->name ? ctx->name : "");
        reply->content_type = "text/plain";
    } else if (!strcmp(path, "/slow")) {
        /* A busy core: the answer comes only after the client got its 503. */
        if (ctx->client) s_client_wait_completed(ctx->client, 1, WAIT_MS);
        reply->status = 200;
        reply->body = strdup("late");
        reply->content_type = "text/plain";
    } else if (!strcmp(path, "/bad")) {
        reply->status = 0; /* a handler bug: the api answers 500 */
    } else {
        reply->status = 404;
        reply->body = strdup("{\"error\":\"not found\"}");
        reply->content_type = "application/json";
    }
}

/* Client ----------------------------------------------------------------------- */

static size_t s_on_write(char *data, size_t size, size_t n, void *arg)
{
    s_req_t *req = arg;
    size_t len = size * n;
    char *grown = realloc(req->response, req->response_size + len + 1);
    if (!grown) return 0;
    memcpy(grown + req->response_size, data, len);
    req->response = grown;
    req->response_size += len;
    req->response[req->response_size] = '\0';
    return len;
}

static size_t s_on_header(char *data, size_t size, size_t n, void *arg)
{
    s_req_t *req = arg;
    size_t len = size * n;
    const char *want = "Cache-Control: no-store";
    if (len >= strlen(want) && !strncasecmp(data, want, strlen(want))) req->no_store = true;
    return len;
}

static size_t s_on_read(char *buffer, size_t size, size_t n, void *arg)
{
    s_req_t *req = arg;
    size_t len = req->body_size - req->body_sent;
    if (len > size * n) len = size * n;
    memcpy(buffer, req->body + req->body_sent, len);
    req->body_sent += len;
    return len;
}

static int s_on_debug(CURL *curl, curl_infotype type, char *data, size_t size, void *arg)
{
    (void)curl;
    (void)data;
    (void)size;
    s_client_t *client = arg;
    if (type == CURLINFO_HEADER_OUT) atomic_store(&client->sent, true);
    return 0;
}

/* Performs one request on curl (connections are kept between calls). */
static void s_perform(CURL *curl, int port, s_req_t *req, s_client_t *client)
{
    char url[8192];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, req->path);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)CURL_MAX_MS);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_on_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, req);
    if (client) {
        curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, s_on_debug);
        curl_easy_setopt(curl, CURLOPT_DEBUGDATA, client);
        curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
    }
    struct curl_slist *headers = NULL;
    if (req->body && req->chunked) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, s_on_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, req);
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    } else if (req->body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)req->body_size);
    }
    if (req->method && !strcmp(req->method, "HEAD"))
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    else if (req->method)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
    if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

    int64_t start = zclock_mono();
    req->code = curl_easy_perform(curl);
    req->elapsed_ms = zclock_mono() - start;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &req->status);
    char *type = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    snprintf(req->content_type, sizeof req->content_type, "%s", type ? type : "");
    if (!req->response) req->response = calloc(1, 1);
    curl_slist_free_all(headers);
}

static void *s_client_main(void *arg)
{
    s_client_t *client = arg;
    CURL *curl = curl_easy_init();
    for (size_t i = 0; i < client->count; i++) {
        if (curl)
            s_perform(curl, client->port, &client->reqs[i], i == 0 ? client : NULL);
        else
            client->reqs[i].code = CURLE_FAILED_INIT;
        pthread_mutex_lock(&client->lock);
        client->completed++;
        pthread_cond_broadcast(&client->cond);
        pthread_mutex_unlock(&client->lock);
    }
    if (curl) curl_easy_cleanup(curl);
    atomic_store(&client->done, true);
    return NULL;
}

static void s_client_start(s_client_t *client, int port, s_req_t *reqs, size_t count)
{
    memset(client, 0, sizeof *client);
    client->port = port;
    client->reqs = reqs;
    client->count = count;
    pthread_mutex_init(&client->lock, NULL);
    pthread_cond_init(&client->cond, NULL);
    assert_int_equal(pthread_create(&client->thread, NULL, s_client_main, client), 0);
}

static void s_client_join(s_client_t *client)
{
    pthread_join(client->thread, NULL);
    pthread_mutex_destroy(&client->lock);
    pthread_cond_destroy(&client->cond);
}

static bool s_client_done(void *arg)
{
    s_client_t *client = arg;
    return atomic_load(&client->done);
}

/* Runs the loop until the client thread has made all its requests. */
static void s_run(ctx_t *ctx, s_req_t *reqs, size_t count)
{
    s_client_t client;
    s_client_start(&client, api_port(ctx->api), reqs, count);
    ctx->client = &client;
    bool done = test_loop_until(ctx->loop, s_client_done, &client, WAIT_MS);
    s_client_join(&client); /* bounded by curl's timeout */
    ctx->client = NULL;
    assert_true(done);
}

static void s_reqs_free(s_req_t *reqs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(reqs[i].response);
}

static void s_assert_answer(const s_req_t *req, long status, const char *content_type,
                            const char *body)
{
    if (req->code != CURLE_OK) fail_msg("%s: curl: %s", req->path, curl_easy_strerror(req->code));
    if (req->status != status)
        fail_msg("%s: status %ld, want %ld (body %s)", req->path, req->status, status,
                 req->response);
    if (content_type) assert_string_equal(req->content_type, content_type);
    if (body) assert_string_equal(req->response, body);
    assert_true(req->no_store);
}

/* Fixtures --------------------------------------------------------------------- */

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    ctx->loop = zloop_new();
    char err[256] = "";
    ctx->api = api_new("127.0.0.1:0", NULL, s_handler, ctx, err, sizeof err);
    if (!ctx->api) fail_msg("api_new: %s", err);
    assert_string_equal(err, "");
    assert_int_equal(api_attach(ctx->api, ctx->loop), 0);
    *state = ctx;
    return 0;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    api_destroy(&ctx->api);
    assert_null(ctx->api);
    api_destroy(&ctx->api); /* idempotent */
    zloop_destroy(&ctx->loop);
    free(ctx);
    return 0;
}

/* Tests ------------------------------------------------------------------------ */

static void test_routes(void **state)
{
    ctx_t *ctx = *state;
    assert_true(api_port(ctx->api) > 0);
    s_req_t reqs[] = {
        {.path = "/hello"},
        {.path = "/hello?x=1&y=2"}, /* the handler sees the path only */
        {.path = "/text"},
        {.path = "/missing"},
        {.path = "/bad"},
        {.path = "/method", .method = "DELETE"},
        {.path = "/hello", .method = "HEAD"},
    };
    size_t n = sizeof reqs / sizeof reqs[0];
    s_run(ctx, reqs, n);
    s_assert_answer(&reqs[0], 200, "application/json", HELLO_BODY);
    s_assert_answer(&reqs[1], 200, "application/json", HELLO_BODY);
    s_assert_answer(&reqs[2], 200, "text/plain; charset=utf-8", "plain text");
    s_assert_answer(&reqs[3], 404, "application/json", "{\"error\":\"not found\"}");
    s_assert_answer(&reqs[4], 500, "application/json", NULL);
    assert_contains(reqs[4].response, "error");
    s_assert_answer(&reqs[5], 200, "text/plain", "DELETE");
    s_assert_answer(&reqs[6], 200, "application/json", "");
    assert_int_equal(ctx->calls, n);
    s_reqs_free(reqs, n);
}

static void test_sequential(void **state)
{
    ctx_t *ctx = *state;
    s_req_t reqs[100];
    memset(reqs, 0, sizeof reqs);
    for (size_t i = 0; i < 100; i++)
        reqs[i].path = "/hello";
    s_run(ctx, reqs, 100);
    for (size_t i = 0; i < 100; i++)
        s_assert_answer(&reqs[i], 200, "application/json", HELLO_BODY);
    assert_int_equal(ctx->calls, 100);
    s_reqs_free(reqs, 100);
}

static void test_bodies_and_limits(void **state)
{
    ctx_t *ctx = *state;
    size_t big_size = 70 * 1024, ok_size = 8 * 1024;
    char *big = malloc(big_size);
    memset(big, 'x', big_size);
    char long_path[3001], fine_path[2001];
    long_path[0] = fine_path[0] = '/';
    memset(long_path + 1, 'a', sizeof long_path - 2);
    memset(fine_path + 1, 'b', sizeof fine_path - 2);
    long_path[sizeof long_path - 1] = fine_path[sizeof fine_path - 1] = '\0';
    s_req_t reqs[] = {
        {.path = "/method", .body = "0123456789", .body_size = 10},
        {.path = "/method", .body = big, .body_size = big_size},
        {.path = "/method", .body = big, .body_size = big_size, .chunked = true},
        {.path = "/method", .body = big, .body_size = ok_size, .chunked = true},
        {.path = long_path},
        {.path = fine_path},
        {.path = "/hello"},
    };
    size_t n = sizeof reqs / sizeof reqs[0];
    s_run(ctx, reqs, n);
    s_assert_answer(&reqs[0], 200, "text/plain", "POST");
    s_assert_answer(&reqs[1], 413, "application/json", NULL);
    assert_contains(reqs[1].response, "too large");
    s_assert_answer(&reqs[2], 413, "application/json", NULL);
    s_assert_answer(&reqs[3], 200, "text/plain", "POST");
    s_assert_answer(&reqs[4], 414, "application/json", NULL);
    s_assert_answer(&reqs[5], 404, "application/json", NULL); /* reaches the handler */
    s_assert_answer(&reqs[6], 200, "application/json", HELLO_BODY);
    assert_int_equal(ctx->calls, 4); /* refused requests never reach the loop */
    s_reqs_free(reqs, n);
    free(big);
}

/* With the loop not running, a request gets 503 after the wait bound; the
 * stale request is not handled when the loop runs again. */
static void test_loop_not_running(void **state)
{
    ctx_t *ctx = *state;
    s_req_t stalled = {.path = "/hello"};
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    s_perform(curl, api_port(ctx->api), &stalled, NULL);
    curl_easy_cleanup(curl);
    s_assert_answer(&stalled, 503, "application/json", BUSY_BODY);
    assert_true(stalled.elapsed_ms >= 4500);
    assert_true(stalled.elapsed_ms < 15000);
    assert_int_equal(ctx->calls, 0);

    s_req_t reqs[] = {{.path = "/hello"}};
    s_run(ctx, reqs, 1);
    s_assert_answer(&reqs[0], 200, "application/json", HELLO_BODY);
    assert_int_equal(ctx->calls, 1);
    s_reqs_free(reqs, 1);
    free(stalled.response);
}

/* An answer that comes after its request got 503 is never given to the next one. */
static void test_late_answer_dropped(void **state)
{
    ctx_t *ctx = *state;
    s_req_t reqs[] = {{.path = "/slow"}, {.path = "/hello"}, {.path = "/text"}};
    s_run(ctx, reqs, 3);
    s_assert_answer(&reqs[0], 503, "application/json", BUSY_BODY);
    s_assert_answer(&reqs[1], 200, "application/json", HELLO_BODY);
    s_assert_answer(&reqs[2], 200, "text/plain; charset=utf-8", "plain text");
    assert_int_equal(ctx->calls, 3);
    s_reqs_free(reqs, 3);
}

/* api_destroy does not wait out the 5 s bound of a request in progress. */
static void test_destroy_while_waiting(void **state)
{
    ctx_t *ctx = *state;
    s_req_t reqs[] = {{.path = "/hello"}};
    s_client_t client;
    s_client_start(&client, api_port(ctx->api), reqs, 1);
    int64_t deadline = zclock_mono() + WAIT_MS;
    while (!atomic_load(&client.sent) && !atomic_load(&client.done) && zclock_mono() < deadline)
        zclock_sleep(1); /* polling a flag, bounded */
    assert_true(atomic_load(&client.sent));
    int64_t start = zclock_mono();
    api_destroy(&ctx->api);
    int64_t took = zclock_mono() - start;
    s_client_join(&client);
    assert_true(took < 3000);
    /* Either the 503 or a closed connection, quickly; never the 5 s bound. */
    if (reqs[0].code == CURLE_OK) assert_int_equal(reqs[0].status, 503);
    assert_true(reqs[0].elapsed_ms < 4500);
    assert_int_equal(ctx->calls, 0);
    s_reqs_free(reqs, 1);
}

/* A decoded path with a NUL or another control character, or that is not
 * UTF-8, is refused with a JSON 400 and never reaches the handler; escapes
 * that decode to good text do. */
static void test_refused_paths(void **state)
{
    ctx_t *ctx = *state;
    s_req_t reqs[] = {
        {.path = "/hello%00"},          {.path = "/hello%00.json"}, {.path = "/%ff%fe"},
        {.path = "/hello%0d%0aX:%20y"}, {.path = "/hello%7f"},      {.path = "/%c0%af"},
        {.path = "/%ed%a0%80"},         {.path = "/%68ello"},       {.path = "/hello%zz"},
    };
    size_t n = sizeof reqs / sizeof reqs[0];
    s_run(ctx, reqs, n);
    for (size_t i = 0; i < 7; i++) {
        s_assert_answer(&reqs[i], 400, "application/json", NULL);
        assert_contains(reqs[i].response, "{\"error\":\"the path ");
    }
    s_assert_answer(&reqs[7], 200, "application/json", HELLO_BODY);
    s_assert_answer(&reqs[8], 404, "application/json", NULL); /* "%zz" stays as it is */
    assert_int_equal(ctx->calls, 2);
    s_reqs_free(reqs, n);
}

/* With a token file: 401 (the same body) for every path but /health without
 * the right token, never reaching the handler. */
static void test_token_file(void **state)
{
    ctx_t *ctx = *state;
    char path[] = "/tmp/interlook-test-api-token-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(test_write_text(fd, "  tok-en.1\n"), 0);
    close(fd);
    api_options_t opts = {.token_file = path};
    char err[256];
    api_destroy(&ctx->api);
    ctx->api = api_new("127.0.0.1:0", &opts, s_handler, ctx, err, sizeof err);
    unlink(path);
    if (!ctx->api) fail_msg("api_new: %s", err);
    assert_int_equal(api_attach(ctx->api, ctx->loop), 0);
    s_req_t reqs[] = {
        {.path = "/hello"}, {.path = "/missing"}, {.path = "/hello%00"}, {.path = "/health"}};
    s_run(ctx, reqs, 4);
    for (size_t i = 0; i < 3; i++) {
        s_assert_answer(&reqs[i], 401, "application/json", NULL);
        assert_string_equal(reqs[i].response, reqs[0].response);
    }
    s_assert_answer(&reqs[3], 404, "application/json", NULL); /* the handler's */
    assert_int_equal(ctx->calls, 1);
    s_reqs_free(reqs, 4);

    /* Files refused: missing, readable by others, empty, two words. */
    const char *bodies[] = {NULL, "x\n", "\n \n", "two words\n"};
    const int modes[] = {0600, 0644, 0600, 0600};
    const char *why[] = {"cannot read", "readable or writable by others", "empty", "visible ASCII"};
    for (size_t i = 0; i < 4; i++) {
        char other[] = "/tmp/interlook-test-api-token-XXXXXX";
        fd = mkstemp(other);
        assert_true(fd >= 0);
        if (bodies[i]) assert_int_equal(test_write_text(fd, bodies[i]), 0);
        close(fd);
        chmod(other, (mode_t)modes[i]);
        if (!bodies[i]) unlink(other);
        api_options_t bad = {.token_file = other};
        api_t *api = api_new("127.0.0.1:0", &bad, s_handler, ctx, err, sizeof err);
        unlink(other);
        if (api) {
            api_destroy(&api);
            fail_msg("token file %zu accepted", i);
        }
        assert_contains(err, "core.apiTokenFile");
        assert_contains(err, why[i]);
    }
    api_options_t half = {.tls_cert = "/nonexistent.pem"};
    assert_null(api_new("127.0.0.1:0", &half, s_handler, ctx, err, sizeof err));
    assert_contains(err, "go together");
}

static bool s_ipv6_loopback(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) return false;
    struct sockaddr_in6 addr = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return ok;
}

static void test_addresses(void **state)
{
    (void)state;
    ctx_t ctx = {0};
    char err[256];
    const char *good[] = {"127.0.0.1:0", "localhost:0", "*:0", ":0", "0.0.0.0:0", NULL, NULL};
    if (s_ipv6_loopback()) {
        good[5] = "[::1]:0";
    } else {
        print_message("IPv6 loopback unavailable: [::1] not tested\n");
    }
    for (size_t i = 0; good[i]; i++) {
        api_t *api = api_new(good[i], NULL, s_handler, &ctx, err, sizeof err);
        if (!api) fail_msg("%s refused: %s", good[i], err);
        assert_true(api_port(api) > 0);
        api_destroy(&api);
        assert_null(api);
    }
    const char *bad[] = {"",
                         "nonsense",
                         "127.0.0.1",
                         "127.0.0.1:",
                         "127.0.0.1:99999",
                         "127.0.0.1:80x",
                         "127.0.0.1:-1",
                         "::1:8080",
                         "[::1:8080",
                         "[::1]8080",
                         "[127.0.0.1]:8080",
                         "example.com:8080",
                         "300.1.2.3:8080",
                         "[]:8080",
                         NULL};
    for (size_t i = 0; bad[i]; i++) {
        err[0] = '\0';
        api_t *api = api_new(bad[i], NULL, s_handler, &ctx, err, sizeof err);
        if (api) {
            api_destroy(&api);
            fail_msg("'%s' accepted", bad[i]);
        }
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        assert_contains(err, quoted);
    }
    err[0] = '\0';
    assert_null(api_new(NULL, NULL, s_handler, &ctx, err, sizeof err));
    assert_true(err[0] != '\0');
    assert_null(api_new("127.0.0.1:0", NULL, NULL, &ctx, err, sizeof err));
    assert_contains(err, "127.0.0.1:0");
}

static void test_port_in_use(void **state)
{
    (void)state;
    ctx_t ctx = {0};
    char err[256] = "";
    api_t *first = api_new("127.0.0.1:0", NULL, s_handler, &ctx, err, sizeof err);
    assert_non_null(first);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", api_port(first));
    api_t *second = api_new(address, NULL, s_handler, &ctx, err, sizeof err);
    assert_null(second);
    assert_contains(err, address);
    assert_contains(err, "in use");
    api_destroy(&first);
    /* Free again: the same port can be taken. */
    second = api_new(address, NULL, s_handler, &ctx, err, sizeof err);
    if (!second) fail_msg("%s after destroy: %s", address, err);
    assert_int_equal(api_port(second), atoi(strchr(address, ':') + 1));
    api_destroy(&second);
}

/* New and destroy in a row: every instance gets a pair of its own even when
 * it lands at the address of the one just freed. */
static void test_create_destroy_many(void **state)
{
    (void)state;
    ctx_t ctx = {0};
    char err[256];
    for (int i = 0; i < 50; i++) {
        api_t *api = api_new("127.0.0.1:0", NULL, s_handler, &ctx, err, sizeof err);
        if (!api) fail_msg("round %d: %s", i, err);
        api_destroy(&api);
    }
}

/* Two servers in one process and one loop, each with its own pair and handler. */
static void test_two_apis(void **state)
{
    ctx_t *ctx = *state;
    ctx->name = "one";
    ctx_t other = {.loop = ctx->loop, .name = "two"};
    char err[256];
    other.api = api_new("127.0.0.1:0", NULL, s_handler, &other, err, sizeof err);
    if (!other.api) fail_msg("api_new: %s", err);
    assert_int_equal(api_attach(other.api, ctx->loop), 0);
    assert_int_equal(api_attach(other.api, ctx->loop), -1); /* attached already */
    assert_int_not_equal(api_port(other.api), api_port(ctx->api));

    s_req_t one[] = {{.path = "/name"}};
    s_run(ctx, one, 1);
    s_req_t two[] = {{.path = "/name"}};
    s_client_t client;
    s_client_start(&client, api_port(other.api), two, 1);
    bool done = test_loop_until(ctx->loop, s_client_done, &client, WAIT_MS);
    s_client_join(&client);
    assert_true(done);
    s_assert_answer(&one[0], 200, "text/plain", "one");
    s_assert_answer(&two[0], 200, "text/plain", "two");
    assert_int_equal(ctx->calls, 1);
    assert_int_equal(other.calls, 1);

    /* The other server gone, the first still answers on the same loop. */
    api_destroy(&other.api);
    s_req_t again[] = {{.path = "/name"}};
    s_run(ctx, again, 1);
    s_assert_answer(&again[0], 200, "text/plain", "one");
    s_reqs_free(one, 1);
    s_reqs_free(two, 1);
    s_reqs_free(again, 1);
}

static void test_log_line(void **state)
{
    (void)state;
    char path[] = "/tmp/interlook-test-api-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(il_log_setup("test_api", IL_LOG_INFO, path), 0);
    ctx_t ctx = {0};
    char err[256];
    api_t *api = api_new("localhost:0", NULL, s_handler, &ctx, err, sizeof err);
    il_log_setup("test_api", IL_LOG_INFO, "stderr");
    assert_non_null(api);
    char want[64];
    snprintf(want, sizeof want, "api: listening on http://127.0.0.1:%d", api_port(api));
    api_destroy(&api);
    char text[4096] = "";
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    size_t got = fread(text, 1, sizeof text - 1, file);
    text[got] = '\0';
    fclose(file);
    unlink(path);
    assert_contains(text, want);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sequential, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bodies_and_limits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_loop_not_running, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_late_answer_dropped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_while_waiting, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_two_apis, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_refused_paths, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_token_file, s_setup, s_teardown),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_create_destroy_many),
        cmocka_unit_test(test_log_line),
    };
    int failed = test_run_group(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
