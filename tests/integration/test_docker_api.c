/* docker_api tests against the real Docker Engine on /var/run/docker.sock
 * (containers are made with the docker CLI and carry a label unique to the
 * test), plus a scripted HTTP server on a unix socket for what dockerd cannot
 * be made to send (a line split over many reads, a line or a body over the
 * limits, a stream cut in the middle of a chunk). */
#define _GNU_SOURCE /* asprintf */
#include "extensions/docker/docker_api.h"
#include "common/log.h"
#include "tests/support/testutil.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define DOCKER_SOCK "unix:///var/run/docker.sock"
#define IMAGE       "interlook-test:latest"
#define WAIT_MS     10000

typedef struct {
    zloop_t *loop;
    docker_api_t *api;
    char label[64];      /* unique value of the interlook.test label */
    char container[128]; /* a container to remove at teardown */
} ctx_t;

/* One-shot results. */
typedef struct {
    int calls;
    long status;
    char *body;
    size_t len;
    char *error;
    /* for re-entrancy tests */
    docker_api_t **api_p; /* destroy or cancel on this client from the callback */
    int *cancel;          /* ids to cancel from the callback, 0-terminated */
    bool destroy;
    int order; /* order of this call among all calls (see s_calls) */
} s_result_t;

static int s_calls; /* callbacks of any kind so far, for ordering */

/* Stream results. */
typedef struct {
    int lines;
    int ends;
    char *end_error;
    int bad_json;
    char last[256];
    zlistx_t *texts;       /* copies of the lines (when set) */
    const char *container; /* events about it are noted */
    bool saw_create, saw_start, saw_destroy;
    docker_api_t *api; /* cancel_at: cancel id on that line */
    int id;
    int cancel_at;
} s_stream_t;

static void s_result_clear(s_result_t *r)
{
    free(r->body);
    free(r->error);
    r->body = NULL;
    r->error = NULL;
}

static void s_done(void *arg, long status, const char *body, size_t len, const char *error)
{
    s_result_t *r = arg;
    assert_non_null(body);
    assert_int_equal(body[len], 0);
    r->calls++;
    r->order = ++s_calls;
    r->status = status;
    free(r->body);
    r->body = strndup(body, len);
    r->len = len;
    free(r->error);
    r->error = error ? strdup(error) : NULL;
    if (r->cancel)
        for (int *id = r->cancel; *id; id++)
            docker_api_cancel(*r->api_p, *id);
    if (r->destroy) docker_api_destroy(r->api_p);
}

static void s_line(void *arg, const char *line, size_t len)
{
    s_stream_t *s = arg;
    assert_int_equal(strlen(line), len);
    assert_true(len > 0);
    s->lines++;
    s_calls++;
    snprintf(s->last, sizeof s->last, "%s", line);
    if (s->texts) zlistx_add_end(s->texts, strdup(line));
    if (s->cancel_at && s->lines == s->cancel_at) docker_api_cancel(s->api, s->id);
    if (!s->container) return;
    json_error_t jerr;
    json_t *event = json_loadb(line, len, 0, &jerr);
    if (!json_is_object(event)) {
        s->bad_json++;
        json_decref(event);
        return;
    }
    const char *action = json_string_value(json_object_get(event, "Action"));
    const char *id = json_string_value(json_object_get(json_object_get(event, "Actor"), "ID"));
    if (action && id && !strcmp(id, s->container)) {
        if (!strcmp(action, "create")) s->saw_create = true;
        if (!strcmp(action, "start")) s->saw_start = true;
        if (!strcmp(action, "destroy")) s->saw_destroy = true;
    }
    json_decref(event);
}

static void s_end(void *arg, const char *error)
{
    s_stream_t *s = arg;
    s->ends++;
    s_calls++;
    free(s->end_error);
    s->end_error = error ? strdup(error) : NULL;
}

static void s_stream_clear(s_stream_t *s)
{
    free(s->end_error);
    s->end_error = NULL;
    zlistx_destroy(&s->texts);
}

static bool s_called(void *arg)
{
    return ((s_result_t *)arg)->calls > 0;
}

static bool s_ended(void *arg)
{
    return ((s_stream_t *)arg)->ends > 0;
}

typedef struct {
    docker_api_t *api;
} s_api_ref_t;

static bool s_idle(void *arg)
{
    return docker_api_pending(((s_api_ref_t *)arg)->api) == 0;
}

static docker_api_t *s_api(ctx_t *ctx, const char *endpoint, int64_t timeout_ms)
{
    docker_api_config_t cfg = {.endpoint = endpoint, .timeout_ms = timeout_ms};
    char err[256];
    docker_api_t *api = docker_api_new(&cfg, ctx->loop, err, sizeof err);
    if (!api) fail_msg("docker_api_new: %s", err);
    return api;
}

/* Runs a docker CLI command; its first output line goes to out. Returns the exit status. */
static int s_docker(const char *cmd, char *out, size_t outlen)
{
    char line[512] = "";
    FILE *pipe = popen(cmd, "r");
    assert_non_null(pipe);
    if (!fgets(line, sizeof line, pipe)) line[0] = 0;
    char rest[512];
    while (fgets(rest, sizeof rest, pipe))
        continue;
    int rc = pclose(pipe);
    line[strcspn(line, "\r\n")] = 0;
    if (out) snprintf(out, outlen, "%s", line);
    return rc;
}

static int s_setup(void **state)
{
    static int counter;
    ctx_t *ctx = calloc(1, sizeof *ctx);
    ctx->loop = zloop_new();
    snprintf(ctx->label, sizeof ctx->label, "dapi-%d-%d", (int)getpid(), ++counter);
    ctx->api = s_api(ctx, DOCKER_SOCK, 0);
    *state = ctx;
    return 0;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    if (ctx->container[0]) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "docker rm -f %s >/dev/null 2>&1", ctx->container);
        if (system(cmd) != 0) fprintf(stderr, "could not remove container %s\n", ctx->container);
    }
    docker_api_destroy(&ctx->api);
    zloop_destroy(&ctx->loop);
    free(ctx);
    return 0;
}

/* A one-shot GET, run to its end. */
static void s_get(ctx_t *ctx, docker_api_t *api, const char *path, s_result_t *r)
{
    int id = docker_api_get(api, path, s_done, r);
    assert_true(id > 0);
    assert_true(test_loop_until(ctx->loop, s_called, r, WAIT_MS));
    assert_int_equal(r->calls, 1);
}

/* Tests against dockerd ---------------------------------------------------------- */

static void test_version(void **state)
{
    ctx_t *ctx = *state;
    s_result_t r = {0};
    s_get(ctx, ctx->api, "/version", &r);
    assert_null(r.error);
    assert_int_equal(r.status, 200);
    json_error_t jerr;
    json_t *root = json_loads(r.body, 0, &jerr);
    assert_true(json_is_object(root));
    const char *api_version = json_string_value(json_object_get(root, "ApiVersion"));
    assert_non_null(api_version);
    assert_true(strlen(api_version) >= 3);
    json_decref(root);
    assert_int_equal(docker_api_pending(ctx->api), 0);
    s_result_clear(&r);
}

static void test_containers_filtered(void **state)
{
    ctx_t *ctx = *state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "docker create -l interlook.test=%s %s /bin/sleep 30", ctx->label,
             IMAGE);
    assert_int_equal(s_docker(cmd, ctx->container, sizeof ctx->container), 0);
    assert_true(strlen(ctx->container) >= 12);

    char *filters = docker_api_escape("{\"label\":[\"interlook.test\"]}");
    assert_non_null(filters);
    assert_null(strchr(filters, '{'));
    assert_null(strchr(filters, '"'));
    char path[512];
    snprintf(path, sizeof path, "/containers/json?all=1&filters=%s", filters);
    free(filters);
    s_result_t r = {0};
    s_get(ctx, ctx->api, path, &r);
    assert_null(r.error);
    assert_int_equal(r.status, 200);
    json_error_t jerr;
    json_t *list = json_loads(r.body, 0, &jerr);
    assert_true(json_is_array(list));
    bool found = false;
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        /* the filter applied: every container carries the label */
        assert_non_null(json_object_get(json_object_get(item, "Labels"), "interlook.test"));
        const char *id = json_string_value(json_object_get(item, "Id"));
        if (id && !strcmp(id, ctx->container)) found = true;
    }
    assert_true(found);
    json_decref(list);
    s_result_clear(&r);
}

static void test_not_found(void **state)
{
    ctx_t *ctx = *state;
    s_result_t r = {0};
    s_get(ctx, ctx->api, "/no/such/path", &r);
    assert_null(r.error);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "page not found"));
    assert_int_equal(r.len, strlen(r.body));
    s_result_clear(&r);
}

static void test_missing_socket(void **state)
{
    ctx_t *ctx = *state;
    docker_api_t *api = s_api(ctx, "unix:///nonexistent.sock", 0);
    s_result_t r = {0};
    s_get(ctx, api, "/version", &r);
    assert_non_null(r.error);
    assert_true(strstr(r.error, "/nonexistent.sock") || strstr(r.error, "onnect"));
    assert_non_null(strstr(r.error, "No such file")); /* curl's detail is passed on */
    assert_int_equal(r.status, 0);
    assert_int_equal(r.len, 0);

    s_stream_t s = {0};
    assert_true(docker_api_stream(api, "/events", s_line, s_end, &s) > 0);
    assert_true(test_loop_until(ctx->loop, s_ended, &s, WAIT_MS));
    assert_int_equal(s.ends, 1);
    assert_int_equal(s.lines, 0);
    assert_non_null(s.end_error);
    assert_true(strstr(s.end_error, "/nonexistent.sock") || strstr(s.end_error, "onnect"));
    assert_int_equal(docker_api_pending(api), 0);
    docker_api_destroy(&api);
    assert_null(api);
    s_result_clear(&r);
    s_stream_clear(&s);
}

static char *s_events_path(ctx_t *ctx, time_t since, const char *until)
{
    char filter[256];
    snprintf(filter, sizeof filter, "{\"type\":[\"container\"],\"label\":[\"interlook.test=%s\"]}",
             ctx->label);
    char *escaped = docker_api_escape(filter);
    char *path = NULL;
    assert_true(asprintf(&path, "/events?since=%lld%s%s&filters=%s", (long long)since,
                         until ? "&until=" : "", until ? until : "", escaped) > 0);
    free(escaped);
    return path;
}

static bool s_created_started(void *arg)
{
    s_stream_t *s = arg;
    return s->saw_create && s->saw_start;
}

static bool s_destroyed(void *arg)
{
    return ((s_stream_t *)arg)->saw_destroy;
}

static void test_events_stream(void **state)
{
    ctx_t *ctx = *state;
    char *path = s_events_path(ctx, time(NULL) - 1, NULL);
    s_stream_t s = {0};
    int id = docker_api_stream(ctx->api, path, s_line, s_end, &s);
    assert_true(id > 0);
    assert_int_equal(docker_api_pending(ctx->api), 1);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "docker run -d -l interlook.test=%s %s /bin/sleep 30", ctx->label,
             IMAGE);
    assert_int_equal(s_docker(cmd, ctx->container, sizeof ctx->container), 0);
    assert_true(strlen(ctx->container) >= 12);
    char container[128];
    snprintf(container, sizeof container, "%s", ctx->container);
    s.container = container;
    assert_true(test_loop_until(ctx->loop, s_created_started, &s, WAIT_MS));
    assert_int_equal(s.bad_json, 0);
    assert_int_equal(s.ends, 0);
    assert_non_null(strstr(s.last, "\"Action\":\""));

    /* Cancelled: nothing more, although the container's end produces events
     * that a second stream (same filter) sees. */
    docker_api_cancel(ctx->api, id);
    docker_api_cancel(ctx->api, id); /* unknown by now: ignored */
    assert_int_equal(docker_api_pending(ctx->api), 0);
    int lines = s.lines;
    s_stream_t s2 = {.container = container};
    assert_true(docker_api_stream(ctx->api, path, s_line, s_end, &s2) > 0);
    snprintf(cmd, sizeof cmd, "docker rm -f %s", ctx->container);
    assert_int_equal(s_docker(cmd, NULL, 0), 0);
    ctx->container[0] = 0;
    assert_true(test_loop_until(ctx->loop, s_destroyed, &s2, WAIT_MS));
    assert_int_equal(s.lines, lines);
    assert_int_equal(s.ends, 0);
    assert_false(s.saw_destroy);
    assert_int_equal(s2.bad_json, 0);
    assert_int_equal(s2.ends, 0);
    free(path);
    s_stream_clear(&s);
    s_stream_clear(&s2);
}

static void test_cancel_in_on_line(void **state)
{
    ctx_t *ctx = *state;
    time_t since = time(NULL) - 1;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "docker create -l interlook.test=%s %s", ctx->label, IMAGE);
    assert_int_equal(s_docker(cmd, ctx->container, sizeof ctx->container), 0);
    snprintf(cmd, sizeof cmd, "docker rm %s", ctx->container);
    assert_int_equal(s_docker(cmd, NULL, 0), 0);
    ctx->container[0] = 0;
    /* The stream replays create and destroy; the first line cancels it. */
    char *path = s_events_path(ctx, since, NULL);
    s_stream_t s = {.api = ctx->api, .cancel_at = 1};
    s.id = docker_api_stream(ctx->api, path, s_line, s_end, &s);
    assert_true(s.id > 0);
    s_api_ref_t ref = {ctx->api};
    assert_true(test_loop_until(ctx->loop, s_idle, &ref, WAIT_MS));
    assert_int_equal(s.lines, 1);
    assert_non_null(strstr(s.last, "\"create\""));
    /* The loop goes on serving, and the cancelled stream stays silent. */
    s_result_t r = {0};
    s_get(ctx, ctx->api, "/version", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(s.lines, 1);
    assert_int_equal(s.ends, 0);
    free(path);
    s_result_clear(&r);
    s_stream_clear(&s);
}

static void test_stream_http_error(void **state)
{
    ctx_t *ctx = *state;
    s_stream_t s = {0};
    assert_true(docker_api_stream(ctx->api, "/events?filters=notjson", s_line, s_end, &s) > 0);
    assert_true(test_loop_until(ctx->loop, s_ended, &s, WAIT_MS));
    assert_int_equal(s.lines, 0);
    assert_non_null(s.end_error);
    assert_int_equal(strncmp(s.end_error, "HTTP ", 5), 0);
    assert_null(strstr(s.end_error, "HTTP 200"));
    assert_non_null(strstr(s.end_error, "invalid character")); /* dockerd's message */
    s_stream_clear(&s);
}

static void test_stream_server_end(void **state)
{
    ctx_t *ctx = *state;
    /* until in the past: dockerd replays, then ends the stream itself. */
    time_t now = time(NULL);
    char until[32];
    snprintf(until, sizeof until, "%lld", (long long)now - 1);
    char *path = s_events_path(ctx, now - 5, until);
    s_stream_t s = {0};
    assert_true(docker_api_stream(ctx->api, path, s_line, s_end, &s) > 0);
    assert_true(test_loop_until(ctx->loop, s_ended, &s, WAIT_MS));
    assert_int_equal(s.ends, 1);
    assert_null(s.end_error);
    assert_int_equal(docker_api_pending(ctx->api), 0);
    free(path);
    s_stream_clear(&s);
}

static void test_get_timeout(void **state)
{
    ctx_t *ctx = *state;
    docker_api_t *api = s_api(ctx, DOCKER_SOCK, 300);
    /* /events with a future until answers only then: the 300 ms bound ends it. */
    char until[32];
    snprintf(until, sizeof until, "%lld", (long long)time(NULL) + 60);
    char *path = s_events_path(ctx, time(NULL), until);
    s_result_t r = {0};
    int64_t start = zclock_mono();
    s_get(ctx, api, path, &r);
    int64_t took = zclock_mono() - start;
    assert_non_null(r.error);
    assert_true(strstr(r.error, "imeout") || strstr(r.error, "timed out"));
    assert_int_equal(r.status, 0);
    assert_true(took >= 250 && took < 5000);
    docker_api_destroy(&api);
    free(path);
    s_result_clear(&r);
}

static void test_cancel_in_done(void **state)
{
    ctx_t *ctx = *state;
    enum { N = 20 };
    s_result_t r[N];
    memset(r, 0, sizeof r);
    int ids[N + 2] = {0};
    s_stream_t s = {0};
    ids[0] = docker_api_stream(ctx->api, "/events", s_line, s_end, &s);
    for (int i = 0; i < N; i++) {
        ids[i + 1] = docker_api_get(ctx->api, "/version", s_done, &r[i]);
        assert_true(ids[i + 1] > 0);
        /* whichever finishes first cancels every request, itself included */
        r[i].api_p = &ctx->api;
        r[i].cancel = ids;
    }
    assert_int_equal(docker_api_pending(ctx->api), N + 1);
    s_api_ref_t ref = {ctx->api};
    assert_true(test_loop_until(ctx->loop, s_idle, &ref, WAIT_MS));
    int calls = 0;
    for (int i = 0; i < N; i++)
        calls += r[i].calls;
    assert_int_equal(calls, 1);
    assert_int_equal(s.ends, 0);

    /* A request started from a callback runs; nothing else comes back. */
    s_result_t last = {0};
    s_get(ctx, ctx->api, "/version", &last);
    assert_int_equal(last.status, 200);
    calls = 0;
    for (int i = 0; i < N; i++)
        calls += r[i].calls;
    assert_int_equal(calls, 1);
    assert_int_equal(s.ends, 0);
    for (int i = 0; i < N; i++)
        s_result_clear(&r[i]);
    s_result_clear(&last);
    s_stream_clear(&s);
}

static void s_chain_done(void *arg, long status, const char *body, size_t len, const char *error);

typedef struct {
    docker_api_t *api;
    int left;  /* requests still to chain */
    int calls; /* done calls */
    int errors;
} s_chain_t;

static void s_chain_done(void *arg, long status, const char *body, size_t len, const char *error)
{
    (void)body;
    (void)len;
    s_chain_t *chain = arg;
    chain->calls++;
    if (error || status != 200) chain->errors++;
    if (chain->left-- > 0)
        assert_true(docker_api_get(chain->api, "/_ping", s_chain_done, chain) > 0);
}

static bool s_chain_over(void *arg)
{
    s_chain_t *chain = arg;
    return chain->left < 0;
}

static void test_start_from_done(void **state)
{
    ctx_t *ctx = *state;
    s_chain_t chain = {.api = ctx->api, .left = 10};
    assert_true(docker_api_get(ctx->api, "/_ping", s_chain_done, &chain) > 0);
    assert_true(test_loop_until(ctx->loop, s_chain_over, &chain, WAIT_MS));
    assert_int_equal(chain.calls, 11);
    assert_int_equal(chain.errors, 0);
    assert_int_equal(docker_api_pending(ctx->api), 0);
}

/* Requests that stay in flight: one-shot /events until a minute from now. */
static void s_slow_requests(ctx_t *ctx, docker_api_t *api, s_result_t *r, int n, s_stream_t *s)
{
    char until[32];
    snprintf(until, sizeof until, "%lld", (long long)time(NULL) + 60);
    char *path = s_events_path(ctx, time(NULL), until);
    for (int i = 0; i < n; i++)
        assert_true(docker_api_get(api, path, s_done, &r[i]) > 0);
    assert_true(docker_api_stream(api, path, s_line, s_end, s) > 0);
    free(path);
}

static void test_destroy_in_flight(void **state)
{
    ctx_t *ctx = *state;
    docker_api_t *api = s_api(ctx, DOCKER_SOCK, 0);
    s_result_t r[5];
    memset(r, 0, sizeof r);
    s_stream_t s = {0};
    s_slow_requests(ctx, api, r, 5, &s);
    /* Destroyed before the loop ever ran them. */
    docker_api_t *early = s_api(ctx, DOCKER_SOCK, 0);
    s_result_t e = {0};
    assert_true(docker_api_get(early, "/version", s_done, &e) > 0);
    docker_api_destroy(&early);
    /* The loop runs (connections open, requests sent) until another client's GET is done. */
    s_result_t sentinel = {0};
    s_get(ctx, ctx->api, "/version", &sentinel);
    assert_int_equal(docker_api_pending(api), 6);
    docker_api_destroy(&api);
    assert_null(api);
    s_result_clear(&sentinel);
    memset(&sentinel, 0, sizeof sentinel);
    s_get(ctx, ctx->api, "/version", &sentinel);
    assert_int_equal(sentinel.status, 200);
    for (int i = 0; i < 5; i++)
        assert_int_equal(r[i].calls, 0);
    assert_int_equal(e.calls, 0);
    assert_int_equal(s.lines + s.ends, 0);
    s_result_clear(&sentinel);
}

static bool s_either_called(void *arg)
{
    s_result_t *two = arg;
    return two[0].calls + two[1].calls > 0;
}

static int s_destroy_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    docker_api_destroy((docker_api_t **)arg);
    return 0;
}

static bool s_gone(void *arg)
{
    return *(docker_api_t **)arg == NULL;
}

/* Destroyed from another component's zloop timer, its requests in flight. */
static void test_destroy_in_other_handler(void **state)
{
    ctx_t *ctx = *state;
    for (int round = 0; round < 5; round++) {
        docker_api_t *api = s_api(ctx, DOCKER_SOCK, 0);
        s_result_t r[5];
        memset(r, 0, sizeof r);
        s_stream_t s = {0};
        s_slow_requests(ctx, api, r, 5, &s);
        s_result_t quick = {0};
        assert_true(docker_api_get(api, "/_ping", s_done, &quick) > 0);
        /* round 0: before the loop ever ran them; later: after a few ms */
        assert_true(zloop_timer(ctx->loop, (size_t)round * 2, 1, s_destroy_timer, &api) > 0);
        assert_true(test_loop_until(ctx->loop, s_gone, &api, WAIT_MS));
        /* The loop goes on, with no trace of the destroyed client. */
        s_result_t sentinel = {0};
        s_get(ctx, ctx->api, "/version", &sentinel);
        assert_int_equal(sentinel.status, 200);
        for (int i = 0; i < 5; i++)
            assert_int_equal(r[i].calls, 0);
        assert_int_equal(s.lines + s.ends, 0);
        assert_true(quick.calls <= 1);
        s_result_clear(&quick);
        s_result_clear(&sentinel);
    }
}

static void test_destroy_in_callback(void **state)
{
    ctx_t *ctx = *state;
    docker_api_t *api = s_api(ctx, DOCKER_SOCK, 0);
    s_result_t r[5];
    memset(r, 0, sizeof r);
    s_stream_t s = {0};
    s_slow_requests(ctx, api, r, 5, &s);
    /* Two quick ones: whichever ends first destroys the client. */
    s_result_t quick[2] = {{.api_p = &api, .destroy = true}, {.api_p = &api, .destroy = true}};
    assert_true(docker_api_get(api, "/version", s_done, &quick[0]) > 0);
    assert_true(docker_api_get(api, "/_ping", s_done, &quick[1]) > 0);
    assert_true(test_loop_until(ctx->loop, s_either_called, quick, WAIT_MS));
    assert_null(api);
    assert_int_equal(quick[0].calls + quick[1].calls, 1);
    /* The loop goes on, with no trace of the destroyed client. */
    s_result_t sentinel = {0};
    s_get(ctx, ctx->api, "/version", &sentinel);
    assert_int_equal(sentinel.status, 200);
    assert_int_equal(quick[0].calls + quick[1].calls, 1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(r[i].calls, 0);
    assert_int_equal(s.lines + s.ends, 0);
    s_result_clear(&quick[0]);
    s_result_clear(&quick[1]);
    s_result_clear(&sentinel);
}

typedef struct {
    int calls;
    int ok;
} s_many_t;

static void s_many_done(void *arg, long status, const char *body, size_t len, const char *error)
{
    s_many_t *many = arg;
    many->calls++;
    if (!error && status == 200 && len > 0 && strstr(body, "ApiVersion")) many->ok++;
}

static bool s_many_over(void *arg)
{
    return ((s_many_t *)arg)->calls >= 200;
}

static void test_200_concurrent(void **state)
{
    ctx_t *ctx = *state;
    s_many_t many = {0};
    for (int i = 0; i < 200; i++)
        assert_true(docker_api_get(ctx->api, "/version", s_many_done, &many) > 0);
    assert_int_equal(docker_api_pending(ctx->api), 200);
    assert_true(test_loop_until(ctx->loop, s_many_over, &many, 60000));
    assert_int_equal(many.calls, 200);
    assert_int_equal(many.ok, 200);
    assert_int_equal(docker_api_pending(ctx->api), 0);
}

static void test_bad_configs(void **state)
{
    ctx_t *ctx = *state;
    char dir_path[] = "/tmp/interlook-dapi-XXXXXX";
    assert_non_null(mkdtemp(dir_path));
    char ca[128], cert[128], key[128];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir_path);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir_path);
    snprintf(key, sizeof key, "%s/key.pem", dir_path);
    assert_int_equal(test_write_file(ca, "ca\n"), 0);
    assert_int_equal(test_write_file(cert, "cert\n"), 0);
    char err[256];
    struct {
        docker_api_config_t cfg;
        const char *expect; /* in the error; NULL: accepted */
    } cases[] = {
        {{.endpoint = "http://x"}, "http://x"},
        {{.endpoint = "ftp://host:21"}, "ftp://host:21"},
        {{.endpoint = NULL}, "endpoint"},
        {{.endpoint = "unix://"}, "unix://"},
        {{.endpoint = "tcp://host"}, "tcp://host"},
        {{.endpoint = "tcp://host:99999"}, "tcp://host:99999"},
        {{.endpoint = "tcp://host:1", .tls_ca = ca}, "tlsCert"},
        {{.endpoint = "tcp://host:1", .tls_ca = ca}, "tlsKey"},
        {{.endpoint = "tcp://host:1", .tls_cert = cert, .tls_key = key}, "tlsCa"},
        {{.endpoint = "tcp://host:1", .tls_ca = ca, .tls_cert = cert, .tls_key = key}, key},
        {{.endpoint = "tcp://host:1", .tls_ca = dir_path, .tls_cert = cert, .tls_key = ca},
         dir_path},
        {{.endpoint = "tcp://127.0.0.1:2376"}, NULL},
        {{.endpoint = "tcp://[::1]:2376"}, NULL},
        {{.endpoint = "tcp://host:1", .tls_ca = ca, .tls_cert = cert, .tls_key = cert}, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = 0;
        docker_api_t *api = docker_api_new(&cases[i].cfg, ctx->loop, err, sizeof err);
        if (cases[i].expect) {
            if (api) fail_msg("case %zu accepted", i);
            if (!strstr(err, cases[i].expect))
                fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].expect);
        } else {
            if (!api) fail_msg("case %zu refused: %s", i, err);
            docker_api_destroy(&api);
        }
    }
    /* A path that does not start with '/' is refused. */
    s_result_t r = {0};
    assert_int_equal(docker_api_get(ctx->api, "version", s_done, &r), -1);
    assert_int_equal(docker_api_pending(ctx->api), 0);
    unlink(ca);
    unlink(cert);
    rmdir(dir_path);
}

static void test_escape(void **state)
{
    (void)state;
    char *text = docker_api_escape("{\"label\":[\"a=b c\"]}");
    assert_string_equal(text, "%7B%22label%22%3A%5B%22a%3Db%20c%22%5D%7D");
    free(text);
    text = docker_api_escape("");
    assert_string_equal(text, "");
    free(text);
}

/* Tests against a scripted server ------------------------------------------------ */

typedef struct {
    char path[108];
    int fd;
    pthread_t thread;
    void (*serve)(int fd); /* writes one answer on a connection */
} s_fake_t;

static bool s_send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0) return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

static void *s_fake_run(void *arg)
{
    s_fake_t *fake = arg;
    int conn;
    while ((conn = accept(fake->fd, NULL, NULL)) >= 0) {
        char head[4096];
        size_t got = 0;
        while (got < sizeof head - 1) {
            ssize_t n = recv(conn, head + got, sizeof head - 1 - got, 0);
            if (n <= 0) break;
            got += (size_t)n;
            head[got] = 0;
            if (strstr(head, "\r\n\r\n")) break;
        }
        fake->serve(conn);
        close(conn);
    }
    return NULL;
}

static void s_fake_start(s_fake_t *fake, void (*serve)(int fd))
{
    snprintf(fake->path, sizeof fake->path, "/tmp/interlook-dapi-%d.sock", (int)getpid());
    unlink(fake->path);
    fake->serve = serve;
    fake->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fake->fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", fake->path);
    assert_int_equal(bind(fake->fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(fake->fd, 8), 0);
    assert_int_equal(pthread_create(&fake->thread, NULL, s_fake_run, fake), 0);
}

static void s_fake_stop(s_fake_t *fake)
{
    shutdown(fake->fd, SHUT_RDWR); /* wakes accept */
    pthread_join(fake->thread, NULL);
    close(fake->fd);
    unlink(fake->path);
}

static docker_api_t *s_fake_api(ctx_t *ctx, s_fake_t *fake)
{
    char endpoint[128];
    snprintf(endpoint, sizeof endpoint, "unix://%s", fake->path);
    return s_api(ctx, endpoint, 0);
}

#define HEAD_CLOSE "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
#define BIG_LINE   (300 * 1024)

static void s_serve_lines(int fd)
{
    s_send_all(fd, HEAD_CLOSE, strlen(HEAD_CLOSE));
    s_send_all(fd, "first\n\n\r\n", 9);
    /* one line over many reads, sent in small pieces */
    char piece[1024];
    memset(piece, 'x', sizeof piece);
    for (size_t sent = 0; sent < BIG_LINE; sent += sizeof piece)
        s_send_all(fd, piece, sizeof piece);
    s_send_all(fd, "\nsecond\r\nta", 11);
    s_send_all(fd, "il", 2); /* a last line without its newline, then the server closes */
}

static void test_fake_lines(void **state)
{
    ctx_t *ctx = *state;
    s_fake_t fake = {.fd = -1};
    s_fake_start(&fake, s_serve_lines);
    docker_api_t *api = s_fake_api(ctx, &fake);
    s_stream_t s = {.texts = zlistx_new()};
    zlistx_set_destructor(s.texts, (zlistx_destructor_fn *)zstr_free);
    assert_true(docker_api_stream(api, "/events", s_line, s_end, &s) > 0);
    assert_true(test_loop_until(ctx->loop, s_ended, &s, WAIT_MS));
    assert_null(s.end_error);
    assert_int_equal(s.lines, 4);
    assert_string_equal(zlistx_first(s.texts), "first");
    const char *big = zlistx_next(s.texts);
    assert_int_equal(strlen(big), BIG_LINE);
    assert_int_equal(strspn(big, "x"), BIG_LINE);
    assert_string_equal(zlistx_next(s.texts), "second");
    assert_string_equal(zlistx_next(s.texts), "tail");
    docker_api_destroy(&api);
    s_fake_stop(&fake);
    s_stream_clear(&s);
}

static void s_serve_long_line(int fd)
{
    s_send_all(fd, HEAD_CLOSE, strlen(HEAD_CLOSE));
    s_send_all(fd, "ok\n", 3);
    char piece[64 * 1024];
    memset(piece, 'y', sizeof piece);
    for (int i = 0; i < 40; i++) /* 2.5 MiB without a newline */
        if (!s_send_all(fd, piece, sizeof piece)) break;
}

static void test_fake_line_too_long(void **state)
{
    ctx_t *ctx = *state;
    s_fake_t fake = {.fd = -1};
    s_fake_start(&fake, s_serve_long_line);
    docker_api_t *api = s_fake_api(ctx, &fake);
    s_stream_t s = {0};
    assert_true(docker_api_stream(api, "/events", s_line, s_end, &s) > 0);
    assert_true(test_loop_until(ctx->loop, s_ended, &s, WAIT_MS));
    assert_int_equal(s.lines, 1);
    assert_string_equal(s.last, "ok");
    assert_non_null(s.end_error);
    assert_non_null(strstr(s.end_error, "longer than 1 MiB"));
    docker_api_destroy(&api);
    s_fake_stop(&fake);
    s_stream_clear(&s);
}

static void s_serve_huge(int fd)
{
    char head[128];
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 65 << 20);
    s_send_all(fd, head, strlen(head));
    char *piece = calloc(1, 1 << 20);
    for (int i = 0; i < 65; i++)
        if (!s_send_all(fd, piece, 1 << 20)) break;
    free(piece);
}

static void test_fake_body_too_large(void **state)
{
    ctx_t *ctx = *state;
    s_fake_t fake = {.fd = -1};
    s_fake_start(&fake, s_serve_huge);
    docker_api_t *api = s_fake_api(ctx, &fake);
    s_result_t r = {0};
    s_get(ctx, api, "/containers/json", &r);
    assert_non_null(r.error);
    assert_non_null(strstr(r.error, "response too large"));
    assert_int_equal(r.len, 0);
    docker_api_destroy(&api);
    s_fake_stop(&fake);
    s_result_clear(&r);
}

static void s_serve_cut_chunk(int fd)
{
    const char *text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "b\r\n{\"a\":1}\n{\"b\r\n"
                       "20\r\n\":2}"; /* the server dies in the middle of a chunk */
    s_send_all(fd, text, strlen(text));
}

static void test_fake_stream_cut(void **state)
{
    ctx_t *ctx = *state;
    s_fake_t fake = {.fd = -1};
    s_fake_start(&fake, s_serve_cut_chunk);
    docker_api_t *api = s_fake_api(ctx, &fake);
    s_stream_t s = {0};
    assert_true(docker_api_stream(api, "/events", s_line, s_end, &s) > 0);
    assert_true(test_loop_until(ctx->loop, s_ended, &s, WAIT_MS));
    /* The complete line arrives, the partial one does not; the end is the server's. */
    assert_int_equal(s.lines, 1);
    assert_string_equal(s.last, "{\"a\":1}");
    assert_null(s.end_error);
    docker_api_destroy(&api);
    s_fake_stop(&fake);
    s_stream_clear(&s);
}

int main(void)
{
    il_log_setup("test_docker_api", IL_LOG_WARN, "stderr");
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_version, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_containers_filtered, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_not_found, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_missing_socket, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_events_stream, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_on_line, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stream_http_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stream_server_end, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_get_timeout, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_done, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_start_from_done, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_in_flight, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_in_callback, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_in_other_handler, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_200_concurrent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_configs, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_escape, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fake_lines, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fake_line_too_long, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fake_body_too_large, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fake_stream_cut, s_setup, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
