/* test_ilp_msg: unit tests of broker/ilp_msg (the ILP/1 message codec and the
 * PUB helpers). */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"
#include "tests/support/service_asserts.h"
#include "tests/support/msgspec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/ilp_batch.h"
#include "broker/ilp_frame.h"
#include "broker/ilp_msg.h"
#include "broker/ilp_pub.h"
#include "common/codec.h"
#include "common/service.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The bytes of a spec (see tests/support/msgspec.h) as a new frame; a
 * malformed spec fails the test. */
static zframe_t *s_spec_frame(const char *spec)
{
    zframe_t *frame = msgspec_frame(spec);
    if (!frame) fail_msg("malformed spec '%s' (msgspec said why above)", spec);
    return frame;
}

/* Services -------------------------------------------------------------------- */

static il_service_t *s_service(int kind)
{
    if (kind == 0) return NULL;
    il_service_t *s = il_service_new(kind == 1 ? "web.example" : "bare");
    assert_non_null(s);
    if (kind == 1) {
        assert_int_equal(il_service_add_target(s, "10.0.0.2", 8080, 3), 0);
        assert_int_equal(il_service_add_target(s, "10.0.0.1", 443, 1), 0);
        assert_int_equal(il_service_add_target(s, "::1", 80, IL_SERVICE_MAX_WEIGHT), 0);
        assert_int_equal(il_service_add_alias(s, "www.example"), 0);
        assert_int_equal(il_service_add_alias(s, "api.example"), 0);
        assert_int_equal(il_service_set_string(&s->provider, "provider.docker"), 0);
        assert_int_equal(il_service_set_string(&s->public_ip, "10.32.30.10"), 0);
        s->tls = true;
        s->port = 443;
    }
    return s;
}

/* Messages ------------------------------------------------------------------- */

/* A message described by value; service: 0 none, 1 full, 2 bare. */
typedef struct {
    const char *what;
    ilp_cmd_t cmd;
    const char *name, *instance, *version;
    uint32_t credit;
    ilp_action_t action;
    int service;
    const char *id, *error;
    uint32_t attempt, heartbeat_ms, liveness;
    const char *core_id, *reason;
} msg_case_t;

static char *s_dup(const char *text)
{
    if (!text) return NULL;
    char *copy = strdup(text);
    assert_non_null(copy);
    return copy;
}

static ilp_msg_t *s_build(const msg_case_t *c)
{
    ilp_msg_t *m = ilp_msg_new(c->cmd);
    assert_non_null(m);
    assert_int_equal(m->cmd, c->cmd);
    m->name = s_dup(c->name);
    m->instance = s_dup(c->instance);
    m->version = s_dup(c->version);
    m->credit = c->credit;
    m->action = c->action;
    m->service = s_service(c->service);
    m->id = s_dup(c->id);
    m->error = s_dup(c->error);
    m->attempt = c->attempt;
    m->heartbeat_ms = c->heartbeat_ms;
    m->liveness = c->liveness;
    m->core_id = s_dup(c->core_id);
    m->reason = s_dup(c->reason);
    return m;
}

static void s_assert_same_msg(const ilp_msg_t *a, const ilp_msg_t *b)
{
    assert_int_equal(a->cmd, b->cmd);
    assert_same_string(a->name, b->name, "name");
    assert_same_string(a->instance, b->instance, "instance");
    assert_same_string(a->version, b->version, "version");
    assert_int_equal(a->credit, b->credit);
    assert_int_equal(a->action, b->action);
    assert_same_service(a->service, b->service);
    assert_same_string(a->id, b->id, "id");
    assert_same_string(a->error, b->error, "error");
    assert_int_equal(a->attempt, b->attempt);
    assert_int_equal(a->heartbeat_ms, b->heartbeat_ms);
    assert_int_equal(a->liveness, b->liveness);
    assert_same_string(a->core_id, b->core_id, "core_id");
    assert_same_string(a->reason, b->reason, "reason");
}

static const msg_case_t s_round_trips[] = {
    {.what = "HELLO",
     .cmd = ILP_HELLO,
     .name = "provider.docker",
     .instance = "host-42-ab12",
     .version = "1.2.3",
     .credit = 10},
    {.what = "HELLO bounds",
     .cmd = ILP_HELLO,
     .name = "ipam.ip-alloc_2",
     .instance = "i",
     .credit = ILP_MAX_CREDIT},
    {.what = "HELLO credit 1", .cmd = ILP_HELLO, .name = "a.b", .instance = "x", .credit = 1},
    {.what = "EVENT add", .cmd = ILP_EVENT, .action = ILP_ACTION_ADD, .service = 1},
    {.what = "EVENT delete", .cmd = ILP_EVENT, .action = ILP_ACTION_DELETE, .service = 2},
    {.what = "RESULT success", .cmd = ILP_RESULT, .id = "w-2a", .service = 1},
    {.what = "RESULT error", .cmd = ILP_RESULT, .id = "w-2b", .error = "no address left"},
    {.what = "RESULT error and service",
     .cmd = ILP_RESULT,
     .id = "w-2c",
     .error = "partial",
     .service = 2},
    {.what = "HEARTBEAT", .cmd = ILP_HEARTBEAT},
    {.what = "BYE", .cmd = ILP_BYE},
    {.what = "WELCOME",
     .cmd = ILP_WELCOME,
     .heartbeat_ms = 1000,
     .liveness = 3,
     .core_id = "core-5f3a"},
    {.what = "WELCOME low bounds",
     .cmd = ILP_WELCOME,
     .heartbeat_ms = 10,
     .liveness = 1,
     .core_id = "c"},
    {.what = "WELCOME high bounds",
     .cmd = ILP_WELCOME,
     .heartbeat_ms = 3600000,
     .liveness = 100,
     .core_id = "c"},
    {.what = "DENIED", .cmd = ILP_DENIED, .reason = "extension 'dns.foo' is not in the workflow"},
    {.what = "WORK add",
     .cmd = ILP_WORK,
     .id = "w-1",
     .action = ILP_ACTION_ADD,
     .attempt = 1,
     .service = 1},
    {.what = "WORK delete retry",
     .cmd = ILP_WORK,
     .id = "w-2",
     .action = ILP_ACTION_DELETE,
     .attempt = ILP_MAX_ATTEMPT,
     .service = 2},
    {.what = "ERROR", .cmd = ILP_ERROR, .reason = "unknown peer: send HELLO"},
    {.what = "ERROR with id", .cmd = ILP_ERROR, .reason = "stale", .id = "w-9"},
};

static void test_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(s_round_trips); i++) {
        const msg_case_t *c = &s_round_trips[i];
        ilp_msg_t *msg = s_build(c);
        zmsg_t *zmsg = ilp_msg_encode(msg);
        if (!zmsg) fail_msg("%s: not encoded", c->what);
        assert_int_equal(zmsg_size(zmsg), 3);
        assert_true(zframe_streq(zmsg_first(zmsg), "ILP1"));
        if (!zframe_streq(zmsg_next(zmsg), ilp_cmd_name(c->cmd)))
            fail_msg("%s: command frame is not %s", c->what, ilp_cmd_name(c->cmd));
        zframe_t *body = zmsg_next(zmsg);
        /* The body frame alone is the same bytes. */
        zframe_t *alone = ilp_msg_encode_body(msg);
        assert_non_null(alone);
        assert_true(zframe_eq(alone, body));
        zframe_destroy(&alone);
        /* A map, within the codec's bounds. */
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        char err[300] = "";
        if (il_codec_unpack(zframe_data(body), zframe_size(body), &up, err, sizeof err))
            fail_msg("%s: body: %s", c->what, err);
        assert_int_equal(up.data.type, MSGPACK_OBJECT_MAP);
        msgpack_unpacked_destroy(&up);

        ilp_msg_t *back = ilp_msg_decode(zmsg, err, sizeof err);
        if (!back) fail_msg("%s: decode refused its own encoding: %s", c->what, err);
        assert_int_equal(zmsg_size(zmsg), 3); /* not consumed */
        zmsg_destroy(&zmsg);                  /* the decoded message owns its strings */
        s_assert_same_msg(msg, back);
        ilp_msg_destroy(&back);
        ilp_msg_destroy(&msg);
        assert_null(msg);
    }
}

/* Fields the encoder fills in, and decoder defaults. */
static void test_encode_defaults(void **state)
{
    (void)state;
    struct {
        msg_case_t in;
        msg_case_t out;
    } cases[] = {
        {{.cmd = ILP_DENIED}, {.cmd = ILP_DENIED, .reason = "denied"}},
        {{.cmd = ILP_ERROR}, {.cmd = ILP_ERROR, .reason = "error"}},
        {{.cmd = ILP_WORK, .id = "w", .action = ILP_ACTION_ADD, .service = 2},
         {.cmd = ILP_WORK, .id = "w", .action = ILP_ACTION_ADD, .service = 2, .attempt = 1}},
        {{.cmd = ILP_RESULT, .id = "w", .error = "", .service = 2},
         {.cmd = ILP_RESULT, .id = "w", .service = 2}}, /* "" is success */
        /* Fields of other commands are not sent. */
        {{.cmd = ILP_HEARTBEAT, .name = "a.b", .id = "x", .reason = "r", .credit = 5, .service = 1},
         {.cmd = ILP_HEARTBEAT}},
        {{.cmd = ILP_DENIED, .reason = "r", .core_id = "c", .heartbeat_ms = 100, .liveness = 2},
         {.cmd = ILP_DENIED, .reason = "r"}},
        {{.cmd = ILP_HELLO, .name = "a.b", .instance = "i", .credit = 2, .id = "x", .attempt = 7},
         {.cmd = ILP_HELLO, .name = "a.b", .instance = "i", .credit = 2}},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        ilp_msg_t *msg = s_build(&cases[i].in);
        ilp_msg_t *expect = s_build(&cases[i].out);
        zmsg_t *zmsg = ilp_msg_encode(msg);
        assert_non_null(zmsg);
        char err[300] = "";
        ilp_msg_t *back = ilp_msg_decode(zmsg, err, sizeof err);
        if (!back) fail_msg("case %zu: %s", i, err);
        s_assert_same_msg(expect, back);
        ilp_msg_destroy(&back);
        ilp_msg_destroy(&expect);
        ilp_msg_destroy(&msg);
        zmsg_destroy(&zmsg);
    }
}

static const msg_case_t s_unencodable[] = {
    {.what = "HELLO without name", .cmd = ILP_HELLO, .instance = "i", .credit = 1},
    {.what = "HELLO without instance", .cmd = ILP_HELLO, .name = "a.b", .credit = 1},
    {.what = "HELLO with credit 0", .cmd = ILP_HELLO, .name = "a.b", .instance = "i"},
    {.what = "EVENT without service", .cmd = ILP_EVENT, .action = ILP_ACTION_ADD},
    {.what = "EVENT without action", .cmd = ILP_EVENT, .service = 2},
    {.what = "RESULT without id", .cmd = ILP_RESULT, .service = 2},
    {.what = "RESULT without service or error", .cmd = ILP_RESULT, .id = "w"},
    {.what = "WELCOME without core_id", .cmd = ILP_WELCOME, .heartbeat_ms = 100, .liveness = 3},
    {.what = "WORK without id", .cmd = ILP_WORK, .action = ILP_ACTION_ADD, .service = 2},
    {.what = "WORK without action", .cmd = ILP_WORK, .id = "w", .service = 2},
    {.what = "WORK without service", .cmd = ILP_WORK, .id = "w", .action = ILP_ACTION_DELETE},
    {.what = "INVALID", .cmd = ILP_INVALID, .reason = "r"},
    {.what = "command 99", .cmd = (ilp_cmd_t)99, .reason = "r"},
};

static void test_encode_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(s_unencodable); i++) {
        ilp_msg_t *msg = s_build(&s_unencodable[i]);
        zmsg_t *zmsg = ilp_msg_encode(msg);
        zframe_t *body = ilp_msg_encode_body(msg);
        if (zmsg || body) {
            zmsg_destroy(&zmsg);
            zframe_destroy(&body);
            fail_msg("%s: encoded", s_unencodable[i].what);
        }
        ilp_msg_destroy(&msg);
    }
}

typedef struct {
    int frames;       /* 3, or 0/1/2/4 for a wrong count */
    const char *sig;  /* frame 1 */
    const char *cmd;  /* frame 2 */
    const char *body; /* frame 3: a spec */
    const char *expect;
} decode_case_t;

#define WORK_OK "'id': 'w', 'action': 'add', 'service': {'name': 'web'}"

static const decode_case_t s_undecodable[] = {
    /* Frames and envelope. */
    {0, NULL, NULL, NULL, "expected 3 frames, got 0"},
    {1, "ILP1", NULL, NULL, "expected 3 frames, got 1"},
    {2, "ILP1", "HEARTBEAT", NULL, "expected 3 frames, got 2"},
    {4, "ILP1", "HEARTBEAT", "{}", "expected 3 frames, got 4"},
    {3, "ILP2", "HEARTBEAT", "{}", "wrong protocol signature (expected \"ILP1\")"},
    {3, "ilp1", "HEARTBEAT", "{}", "wrong protocol signature"},
    {3, "", "HEARTBEAT", "{}", "wrong protocol signature"},
    {3, "ILP", "HEARTBEAT", "{}", "wrong protocol signature"},
    {3, "ILP1 ", "HEARTBEAT", "{}", "wrong protocol signature"},
    {3, "HEARTBEAT", "ILP1", "{}", "wrong protocol signature"},
    {3, "ILP1", "PING", "{}", "unknown command (4 bytes)"},
    {3, "ILP1", "hello", "{}", "unknown command (5 bytes)"},
    {3, "ILP1", "Hello", "{}", "unknown command"},
    {3, "ILP1", "", "{}", "unknown command (0 bytes)"},
    {3, "ILP1", "HELL", "{}", "unknown command"},
    {3, "ILP1", "HELLOX", "{}", "unknown command"},
    {3, "ILP1", " BYE", "{}", "unknown command"},
    {3, "ILP1", "?", "{}", "unknown command"},
    /* Body. */
    {3, "ILP1", "HELLO", "[]", "HELLO: body: expected a map"},
    {3, "ILP1", "HEARTBEAT", "'x'", "HEARTBEAT: body: expected a map"},
    {3, "ILP1", "BYE", "nil", "BYE: body: expected a map"},
    {3, "ILP1", "WORK", "1", "WORK: body: expected a map"},
    {3, "ILP1", "BYE", "hex:", "BYE: body: empty frame"},
    {3, "ILP1", "BYE", "hex:c1", "BYE: body: bad msgpack byte 0xc1"},
    {3, "ILP1", "BYE", "hex:80 80", "BYE: body: 1 trailing bytes"},
    {3, "ILP1", "BYE", "hex:df ff ff ff ff", "BYE: body: map of 4294967295 items exceeds"},
    /* HELLO */
    {3, "ILP1", "HELLO", "{'instance': 'i', 'credit': 1}", "HELLO: name: missing"},
    {3, "ILP1", "HELLO", "{'name': nil, 'instance': 'i'}", "HELLO: name: missing"},
    {3, "ILP1", "HELLO", "{'name': 'a.b', 'credit': 1}", "HELLO: instance: missing"},
    {3, "ILP1", "HELLO", "{'name': 'a.b', 'instance': ''}", "HELLO: instance: empty"},
    {3, "ILP1", "HELLO", "{'name': 'a.b', 'instance': 5}", "HELLO: instance: expected a string"},
    {3, "ILP1", "HELLO", "{'name': 'a.b', 'instance': 'i'*129}",
     "HELLO: instance: string of 129 bytes exceeds 128"},
    {3, "ILP1", "HELLO", "{'name': 'a.'*33, 'instance': 'i'}",
     "HELLO: name: string of 66 bytes exceeds 64"},
    {3, "ILP1", "HELLO", "{'name': 'a.b', 'instance': 'i', 'version': 'v'*65}",
     "HELLO: version: string of 65 bytes exceeds 64"},
    {3, "ILP1", "HELLO", "{'name': 'a.b', 'instance': 'i', 'credit': 0}",
     "HELLO: credit: expected an integer from 1 to 10000"},
    {3, "ILP1", "HELLO", "{'name': 'a.b', 'instance': 'i', 'credit': 10001}",
     "HELLO: credit: expected an integer from 1 to 10000"},
    {3, "ILP1", "HELLO", "{'name': 'a.b', 'instance': 'i', 'credit': '10'}",
     "HELLO: credit: expected an integer from 1 to 10000"},
    {3, "ILP1", "HELLO", "{'name': 'a.b', 'instance': 'i', 'credit': -1}",
     "HELLO: credit: expected an integer"},
    {3, "ILP1", "HELLO", "{'name': 'a.b', 'instance': 'i', 'credit': 1.5}",
     "HELLO: credit: expected an integer"},
    /* EVENT */
    {3, "ILP1", "EVENT", "{'action': 'update', 'service': {'name': 'web'}}",
     "EVENT: action: expected \"add\" or \"delete\", got \"update\""},
    {3, "ILP1", "EVENT", "{'action': 'ADD', 'service': {'name': 'web'}}",
     "EVENT: action: expected \"add\" or \"delete\", got \"ADD\""},
    {3, "ILP1", "EVENT", "{'action': '', 'service': {'name': 'web'}}", "EVENT: action: expected"},
    {3, "ILP1", "EVENT", "{'service': {'name': 'web'}}", "EVENT: action: missing"},
    {3, "ILP1", "EVENT", "{'action': 1, 'service': {'name': 'web'}}",
     "EVENT: action: expected a string"},
    {3, "ILP1", "EVENT", "{'action': 'a'*17, 'service': {'name': 'web'}}",
     "EVENT: action: string of 17 bytes exceeds 16"},
    {3, "ILP1", "EVENT", "{'action': 'add'}", "EVENT: service: missing"},
    {3, "ILP1", "EVENT", "{'action': 'add', 'service': nil}", "EVENT: service: missing"},
    {3, "ILP1", "EVENT", "{'action': 'add', 'service': 'web'}", "EVENT: service: expected a map"},
    {3, "ILP1", "EVENT", "{'action': 'add', 'service': {'tls': true}}",
     "EVENT: service.name: missing"},
    {3, "ILP1", "EVENT",
     "{'action': 'add', 'service': {'name': 'web', 'targets': [{'host': 'h', 'port': 0}]}}",
     "EVENT: service.targets[0]: port: expected an integer from 1 to 65535"},
    /* RESULT */
    {3, "ILP1", "RESULT", "{'id': 'w'}",
     "RESULT: service: missing (required when there is no error)"},
    {3, "ILP1", "RESULT", "{'id': 'w', 'error': ''}",
     "RESULT: service: missing (required when there is no error)"},
    {3, "ILP1", "RESULT", "{'id': 'w', 'error': nil, 'service': nil}", "RESULT: service: missing"},
    {3, "ILP1", "RESULT", "{'service': {'name': 'web'}}", "RESULT: id: missing"},
    {3, "ILP1", "RESULT", "{'id': 'i'*65, 'error': 'x'}",
     "RESULT: id: string of 65 bytes exceeds 64"},
    {3, "ILP1", "RESULT", "{'id': 'w', 'error': 'e'*1025}",
     "RESULT: error: string of 1025 bytes exceeds 1024"},
    {3, "ILP1", "RESULT", "{'id': 'w', 'error': 42}", "RESULT: error: expected a string"},
    {3, "ILP1", "RESULT", "{'id': 'w', 'error': 'boom', 'service': {'name': ''}}",
     "RESULT: service.name: empty"},
    /* WORK */
    {3, "ILP1", "WORK", "{" WORK_OK ", 'attempt': 0}",
     "WORK: attempt: expected an integer from 1 to 1000000"},
    {3, "ILP1", "WORK", "{" WORK_OK ", 'attempt': 1000001}",
     "WORK: attempt: expected an integer from 1 to 1000000"},
    {3, "ILP1", "WORK", "{" WORK_OK ", 'attempt': true}", "WORK: attempt: expected an integer"},
    {3, "ILP1", "WORK", "{'action': 'add', 'service': {'name': 'web'}}", "WORK: id: missing"},
    {3, "ILP1", "WORK", "{'id': 'i'*65, 'action': 'add', 'service': {'name': 'web'}}",
     "WORK: id: string of 65 bytes exceeds 64"},
    {3, "ILP1", "WORK", "{'id': 'w', 'action': 'update', 'service': {'name': 'web'}}",
     "WORK: action: expected \"add\" or \"delete\", got \"update\""},
    {3, "ILP1", "WORK", "{'id': 'w', 'action': 'add'}", "WORK: service: missing"},
    {3, "ILP1", "WORK", "{'id': 'w', 'action': 'add', 'service': {'name': 'web', 'tls': 1}}",
     "WORK: service.tls: expected a boolean"},
    /* WELCOME */
    {3, "ILP1", "WELCOME", "{'heartbeat_ms': 5, 'liveness': 3, 'core_id': 'c'}",
     "WELCOME: heartbeat_ms: expected an integer from 10 to 3600000"},
    {3, "ILP1", "WELCOME", "{'heartbeat_ms': 3600001, 'liveness': 3, 'core_id': 'c'}",
     "WELCOME: heartbeat_ms: expected an integer from 10 to 3600000"},
    {3, "ILP1", "WELCOME", "{'liveness': 3, 'core_id': 'c'}", "WELCOME: heartbeat_ms: missing"},
    {3, "ILP1", "WELCOME", "{'heartbeat_ms': 100, 'liveness': 0, 'core_id': 'c'}",
     "WELCOME: liveness: expected an integer from 1 to 100"},
    {3, "ILP1", "WELCOME", "{'heartbeat_ms': 100, 'liveness': 101, 'core_id': 'c'}",
     "WELCOME: liveness: expected an integer from 1 to 100"},
    {3, "ILP1", "WELCOME", "{'heartbeat_ms': 100, 'core_id': 'c'}", "WELCOME: liveness: missing"},
    {3, "ILP1", "WELCOME", "{'heartbeat_ms': 100, 'liveness': 3}", "WELCOME: core_id: missing"},
    {3, "ILP1", "WELCOME", "{'heartbeat_ms': 100, 'liveness': 3, 'core_id': 'c'*65}",
     "WELCOME: core_id: string of 65 bytes exceeds 64"},
    /* DENIED, ERROR */
    {3, "ILP1", "DENIED", "{}", "DENIED: reason: missing"},
    {3, "ILP1", "DENIED", "{'reason': 'r'*1025}", "DENIED: reason: string of 1025 bytes exceeds"},
    {3, "ILP1", "DENIED", "{'reason': 'a\nb'}", "DENIED: reason: not UTF-8 text"},
    {3, "ILP1", "ERROR", "{'id': 'w'}", "ERROR: reason: missing"},
    {3, "ILP1", "ERROR", "{'reason': 'r', 'id': 'i'*65}",
     "ERROR: id: string of 65 bytes exceeds 64"},
    {3, "ILP1", "ERROR", "{'reason': 'r', 'id': 7}", "ERROR: id: expected a string"},
};

static zmsg_t *s_decode_case_msg(const decode_case_t *c)
{
    zmsg_t *zmsg = zmsg_new();
    assert_non_null(zmsg);
    if (c->frames >= 1) zmsg_addmem(zmsg, c->sig, strlen(c->sig));
    if (c->frames >= 2) zmsg_addmem(zmsg, c->cmd, strlen(c->cmd));
    if (c->frames >= 3) {
        zframe_t *body = s_spec_frame(c->body);
        zmsg_append(zmsg, &body);
    }
    if (c->frames >= 4) zmsg_addstr(zmsg, "extra");
    assert_int_equal(zmsg_size(zmsg), c->frames);
    return zmsg;
}

static void test_decode_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(s_undecodable); i++) {
        const decode_case_t *c = &s_undecodable[i];
        zmsg_t *zmsg = s_decode_case_msg(c);
        char err[300] = "";
        ilp_msg_t *msg = ilp_msg_decode(zmsg, err, sizeof err);
        if (msg) {
            ilp_msg_destroy(&msg);
            fail_msg("case %zu (%s %s): accepted", i, c->cmd ? c->cmd : "", c->body ? c->body : "");
        }
        if (!strstr(err, c->expect))
            fail_msg("case %zu (%s %s): '%s' does not contain '%s'", i, c->cmd ? c->cmd : "",
                     c->body ? c->body : "", err, c->expect);
        assert_int_equal(zmsg_size(zmsg), c->frames); /* left as it was */
        zmsg_destroy(&zmsg);
    }
    char err[64] = "";
    assert_null(ilp_msg_decode(NULL, err, sizeof err));
    assert_string_equal(err, "expected 3 frames, got 0");
}

/* Bodies other peers may send: optional keys absent, unknown keys, nil. */
static void test_decode_lenient(void **state)
{
    (void)state;
    struct {
        decode_case_t in;
        msg_case_t out;
    } cases[] = {
        {{3, "ILP1", "HELLO", "{'name': 'a.b', 'instance': 'i'}", NULL},
         {.cmd = ILP_HELLO, .name = "a.b", .instance = "i", .credit = 1}},
        {{3, "ILP1", "HELLO", "{'name': 'a.b', 'instance': 'i', 'credit': nil, 'version': nil}",
          NULL},
         {.cmd = ILP_HELLO, .name = "a.b", .instance = "i", .credit = 1}},
        {{3, "ILP1", "HELLO",
          "{'credit': 10000, 'future': [1, 2], 'instance': 'h-1', 'name': 'x.y', 'version': ''}",
          NULL},
         {.cmd = ILP_HELLO, .name = "x.y", .instance = "h-1", .version = "", .credit = 10000}},
        {{3, "ILP1", "HEARTBEAT", "{'anything': {'goes': true}}", NULL}, {.cmd = ILP_HEARTBEAT}},
        {{3, "ILP1", "BYE", "{}", NULL}, {.cmd = ILP_BYE}},
        {{3, "ILP1", "WORK", "{" WORK_OK "}", NULL},
         {.cmd = ILP_WORK, .id = "w", .action = ILP_ACTION_ADD, .attempt = 1, .service = 3}},
        {{3, "ILP1", "RESULT", "{'id': 'w', 'error': 'failed'}", NULL},
         {.cmd = ILP_RESULT, .id = "w", .error = "failed"}},
        {{3, "ILP1", "RESULT", "{'id': 'w', 'error': '', 'service': {'name': 'web'}}", NULL},
         {.cmd = ILP_RESULT, .id = "w", .service = 3}},
        {{3, "ILP1", "ERROR", "{'reason': 'r', 'id': nil}", NULL},
         {.cmd = ILP_ERROR, .reason = "r"}},
        {{3, "ILP1", "DENIED", "{'reason': ''}", NULL}, {.cmd = ILP_DENIED, .reason = ""}},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        zmsg_t *zmsg = s_decode_case_msg(&cases[i].in);
        char err[300] = "";
        ilp_msg_t *msg = ilp_msg_decode(zmsg, err, sizeof err);
        if (!msg) fail_msg("case %zu (%s): refused: %s", i, cases[i].in.body, err);
        zmsg_destroy(&zmsg);
        msg_case_t expect = cases[i].out;
        int service = expect.service;
        expect.service = 0;
        ilp_msg_t *want = s_build(&expect);
        if (service == 3) want->service = il_service_new("web");
        s_assert_same_msg(want, msg);
        ilp_msg_destroy(&want);
        ilp_msg_destroy(&msg);
    }
}

static void test_names(void **state)
{
    (void)state;
    const char *names[] = {"?",   "HELLO",   "EVENT",  "RESULT", "HEARTBEAT",
                           "BYE", "WELCOME", "DENIED", "WORK",   "ERROR"};
    for (int i = 0; i < (int)COUNT(names); i++)
        assert_string_equal(ilp_cmd_name((ilp_cmd_t)i), names[i]);
    assert_string_equal(ilp_cmd_name((ilp_cmd_t)10), "?");
    assert_string_equal(ilp_cmd_name((ilp_cmd_t)-1), "?");
    assert_string_equal(ilp_action_name(ILP_ACTION_ADD), "add");
    assert_string_equal(ilp_action_name(ILP_ACTION_DELETE), "delete");
    assert_string_equal(ilp_action_name(ILP_ACTION_NONE), "none");

    ilp_msg_t *msg = ilp_msg_new(ILP_WORK);
    assert_non_null(msg);
    assert_int_equal(msg->cmd, ILP_WORK);
    assert_null(msg->service);
    assert_null(msg->id);
    assert_int_equal(msg->attempt, 0);
    ilp_msg_destroy(&msg);
    assert_null(msg);
    ilp_msg_destroy(&msg); /* harmless twice */
    ilp_msg_destroy(NULL);
}

static void test_ext_name_valid(void **state)
{
    (void)state;
    char longest[ILP_MAX_EXT_NAME + 1], too_long[ILP_MAX_EXT_NAME + 2];
    memset(longest, 'x', sizeof longest - 1);
    longest[1] = '.';
    longest[sizeof longest - 1] = 0;
    memset(too_long, 'x', sizeof too_long - 1);
    too_long[1] = '.';
    too_long[sizeof too_long - 1] = 0;
    assert_int_equal(strlen(longest), 64);
    assert_int_equal(strlen(too_long), 65);

    const char *valid[] = {
        "provider.docker", "ipam.ip-alloc_2", "a.b.c", "a.b", "A.Z", "0.9", "_._", "-.-",
        longest,           "a.b.c.d.e.f"};
    for (size_t i = 0; i < COUNT(valid); i++)
        if (!ilp_msg_ext_name_valid(valid[i])) fail_msg("'%s' refused", valid[i]);
    const char *invalid[] = {
        "",     "docker", ".a",    "a.",    "a..b",  "a b.c", too_long,        ".",     "..",
        "a.b.", ".a.b",   "a.b/c", "a.b\n", "a:b.c", "a.b*",  "caf\xc3\xa9.x", "a.b c", "\t.a"};
    for (size_t i = 0; i < COUNT(invalid); i++)
        if (ilp_msg_ext_name_valid(invalid[i])) fail_msg("'%s' accepted", invalid[i]);
    assert_false(ilp_msg_ext_name_valid(NULL));
}

/* PUB ------------------------------------------------------------------------ */

/* Decodes a PUB message that must be accepted; the zmsg keeps only its topic. */
static zframe_t *s_pub_accept(zmsg_t *zmsg, char **topic, msgpack_unpacked *up)
{
    char err[300] = "";
    *topic = NULL;
    zframe_t *body = ilp_pub_decode(zmsg, topic, up, err, sizeof err);
    if (!body) fail_msg("pub_decode refused: %s", err);
    assert_non_null(*topic);
    assert_int_equal(zmsg_size(zmsg), 1);
    assert_int_equal(up->data.type,
                     strcmp(*topic, ILP_TOPIC_CHANGES) ? MSGPACK_OBJECT_MAP : MSGPACK_OBJECT_ARRAY);
    return body;
}

static void s_assert_str_field(const msgpack_object *map, const char *key, const char *expect)
{
    const msgpack_object *v = il_codec_map_get(map, key);
    if (!v) fail_msg("%s: missing", key);
    if (!expect) {
        assert_int_equal(v->type, MSGPACK_OBJECT_NIL);
        return;
    }
    assert_int_equal(v->type, MSGPACK_OBJECT_STR);
    if (v->via.str.size != strlen(expect) || memcmp(v->via.str.ptr, expect, v->via.str.size))
        fail_msg("%s: '%.*s', expected '%s'", key, (int)v->via.str.size, v->via.str.ptr, expect);
}

static void test_pub_refresh(void **state)
{
    (void)state;
    zmsg_t *zmsg = ilp_pub_refresh("provider.docker", "web");
    assert_non_null(zmsg);
    assert_int_equal(zmsg_size(zmsg), 2);
    char *topic;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    zframe_t *body = s_pub_accept(zmsg, &topic, &up);
    zmsg_destroy(&zmsg); /* out points into body, not into the message */
    assert_string_equal(topic, "refresh.provider.docker");
    assert_int_equal(up.data.via.map.size, 1);
    const msgpack_object *service = il_codec_map_get(&up.data, "service");
    assert_non_null(service);
    assert_int_equal(service->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(service->via.map.size, 1);
    s_assert_str_field(service, "name", "web");
    msgpack_unpacked_destroy(&up);
    zframe_destroy(&body);
    free(topic);

    /* The longest extension name fits the topic bound. */
    char longest[ILP_MAX_EXT_NAME + 1];
    memset(longest, 'e', sizeof longest - 1);
    longest[1] = '.';
    longest[sizeof longest - 1] = 0;
    zmsg = ilp_pub_refresh(longest, "web");
    msgpack_unpacked_init(&up);
    body = s_pub_accept(zmsg, &topic, &up);
    assert_int_equal(strlen(topic), strlen("refresh.") + ILP_MAX_EXT_NAME);
    assert_string_equal(topic + strlen("refresh."), longest);
    msgpack_unpacked_destroy(&up);
    zframe_destroy(&body);
    free(topic);
    zmsg_destroy(&zmsg);
}

static void test_pub_state(void **state)
{
    (void)state;
    const char *errors[] = {NULL, "ipam.ipalloc: no address left"};
    for (size_t i = 0; i < COUNT(errors); i++) {
        il_service_t *service = s_service(1);
        zmsg_t *zmsg = ilp_pub_state(service, "failed", "running", errors[i]);
        assert_non_null(zmsg);
        /* The body packed into a reused buffer is the same bytes. */
        msgpack_sbuffer packed, buf;
        msgpack_sbuffer_init(&packed);
        msgpack_sbuffer_init(&buf);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &packed, msgpack_sbuffer_write);
        il_service_pack(service, &pk);
        ilp_pub_pack_state(&buf, packed.data, packed.size, "failed", "running", errors[i]);
        msgpack_sbuffer_destroy(&packed);
        assert_int_equal(zframe_size(zmsg_last(zmsg)), buf.size);
        assert_memory_equal(zframe_data(zmsg_last(zmsg)), buf.data, buf.size);
        msgpack_sbuffer_destroy(&buf);
        char *topic;
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        zframe_t *body = s_pub_accept(zmsg, &topic, &up);
        zmsg_destroy(&zmsg);
        assert_string_equal(topic, "state");
        assert_int_equal(up.data.via.map.size, 4);
        s_assert_str_field(&up.data, "state", "failed");
        s_assert_str_field(&up.data, "expected_state", "running");
        s_assert_str_field(&up.data, "error", errors[i]);
        char err[300] = "";
        il_service_t *back =
            il_service_decode(il_codec_map_get(&up.data, "service"), err, sizeof err);
        if (!back) fail_msg("state service: %s", err);
        assert_same_service(service, back);
        il_service_destroy(&back);
        il_service_destroy(&service);
        msgpack_unpacked_destroy(&up);
        zframe_destroy(&body);
        free(topic);
    }
}

static void test_pub_core(void **state)
{
    (void)state;
    zmsg_t *zmsg = ilp_pub_core("started", "core-5f3a");
    assert_non_null(zmsg);
    char *topic;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    zframe_t *body = s_pub_accept(zmsg, &topic, &up);
    zmsg_destroy(&zmsg);
    assert_string_equal(topic, "core");
    assert_int_equal(up.data.via.map.size, 2);
    s_assert_str_field(&up.data, "event", "started");
    s_assert_str_field(&up.data, "core_id", "core-5f3a");
    msgpack_unpacked_destroy(&up);
    zframe_destroy(&body);
    free(topic);
}

typedef struct {
    int frames;        /* 1..3: topic, body, extra */
    const char *topic; /* spelled out, 'x'*N allowed as in specs */
    const char *body;  /* spec */
    const char *expect;
} pub_case_t;

static const pub_case_t s_pub_refused[] = {
    {1, "core", NULL, "expected 2 frames, got 1"},
    {3, "core", "{}", "expected 2 frames, got 3"},
    {2, "core", "[]", "body: expected a map"},
    {2, "state", "'state'", "body: expected a map"},
    {2, "core", "nil", "body: expected a map"},
    {2, "core", "hex:", "empty frame"},
    {2, "core", "hex:c1", "bad msgpack byte 0xc1"},
    {2, "core", "hex:dd 01 00 00 00 01", "array of 16777216 items exceeds"},
    {2, "core", "hex:81 a1 61", "truncated"},
    {2, "", "{}", "topic of 0 bytes"},
    {2, "'t'*81", "{}", "topic of 81 bytes"},
    /* "changes": an array of 1..256 maps, nothing else */
    {2, "changes", "{}", "body: expected an array of 1 to 256 maps"},
    {2, "changes", "[]", "body: expected an array of 1 to 256 maps"},
    {2, "changes", "[{}, 5]", "body[1]: expected a map"},
    {2, "changesx", "[{}]", "body: expected a map"},
};

/* "changes": several state bodies in one publication, built with ilp_batch_t. */
static void test_pub_changes(void **state)
{
    (void)state;
    il_service_t *service = s_service(1);
    msgpack_sbuffer packed, buf;
    msgpack_sbuffer_init(&packed);
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &packed, msgpack_sbuffer_write);
    il_service_pack(service, &pk);
    ilp_batch_t batch;
    ilp_batch_init(&batch);
    const char *states[] = {"ipam.ipalloc", "deployed"};
    for (int n = 1; n <= 2; n++) {
        ilp_pub_pack_state(&buf, packed.data, packed.size, states[n - 1], "deployed", NULL);
        assert_int_equal(ilp_batch_add(&batch, buf.data, buf.size), 0);
        size_t size = 0;
        const void *data = ilp_batch_array(&batch, &size); /* an array even for one */
        zmsg_t *zmsg = zmsg_new();
        zmsg_addstr(zmsg, ILP_TOPIC_CHANGES);
        zmsg_addmem(zmsg, data, size);
        char *topic;
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        zframe_t *body = s_pub_accept(zmsg, &topic, &up);
        zmsg_destroy(&zmsg);
        assert_string_equal(topic, "changes");
        assert_int_equal(up.data.type, MSGPACK_OBJECT_ARRAY);
        assert_int_equal(up.data.via.array.size, n);
        for (int k = 0; k < n; k++)
            s_assert_str_field(&up.data.via.array.ptr[k], "state", states[k]);
        msgpack_unpacked_destroy(&up);
        zframe_destroy(&body);
        free(topic);
    }
    ilp_batch_destroy(&batch);
    msgpack_sbuffer_destroy(&buf);
    msgpack_sbuffer_destroy(&packed);
    il_service_destroy(&service);
}

static void test_pub_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(s_pub_refused); i++) {
        const pub_case_t *c = &s_pub_refused[i];
        zmsg_t *zmsg = zmsg_new();
        if (!strncmp(c->topic, "'t'*", 4)) {
            size_t n = strtoul(c->topic + 4, NULL, 10);
            char *t = malloc(n);
            assert_non_null(t);
            memset(t, 't', n);
            zmsg_addmem(zmsg, t, n);
            free(t);
        } else {
            zmsg_addmem(zmsg, c->topic, strlen(c->topic));
        }
        if (c->frames >= 2) {
            zframe_t *body = s_spec_frame(c->body);
            zmsg_append(zmsg, &body);
        }
        if (c->frames >= 3) zmsg_addstr(zmsg, "extra");
        char *topic = NULL;
        char err[300] = "";
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        zframe_t *body = ilp_pub_decode(zmsg, &topic, &up, err, sizeof err);
        if (body) {
            zframe_destroy(&body);
            fail_msg("case %zu: accepted", i);
        }
        assert_null(topic);
        if (!strstr(err, c->expect))
            fail_msg("case %zu: '%s' does not contain '%s'", i, err, c->expect);
        assert_int_equal(zmsg_size(zmsg), c->frames); /* left as it was */
        msgpack_unpacked_destroy(&up);
        zmsg_destroy(&zmsg);
    }
    char err[64] = "";
    char *topic = NULL;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    assert_null(ilp_pub_decode(NULL, &topic, &up, err, sizeof err));
    assert_string_equal(err, "expected 2 frames, got 0");
    msgpack_unpacked_destroy(&up);
}

/* Waits (at most 2 s) until a message can be read from the socket. */
static void s_readable(void *handle)
{
    zmq_pollitem_t item = {.socket = handle, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&item, 1, 2000), 1);
}

/* The receive loops' path: ilp_send and ilp_recv over a real DEALER/ROUTER
 * pair, decoded in place with one zone reused for every message, give the
 * same messages as the zmsg path; wrong frame counts and bad bodies are
 * refused the same way. */
static void test_wire(void **state)
{
    (void)state;
    zsock_t *router = zsock_new_router("inproc://test-wire");
    zsock_t *dealer = zsock_new_dealer(">inproc://test-wire");
    assert_non_null(router);
    assert_non_null(dealer);
    void *rh = zsock_resolve(router), *dh = zsock_resolve(dealer);
    msgpack_zone zone;
    assert_true(msgpack_zone_init(&zone, 256)); /* small: the long cases make it grow */
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    for (size_t i = 0; i < COUNT(s_round_trips); i++) {
        const msg_case_t *c = &s_round_trips[i];
        ilp_msg_t *msg = s_build(c);
        assert_int_equal(ilp_msg_pack_body(msg, &buf), 0);
        if (c->cmd == ILP_WORK) { /* with the service packed beforehand: the same bytes */
            msgpack_sbuffer svc, work;
            msgpack_sbuffer_init(&svc);
            msgpack_sbuffer_init(&work);
            msgpack_packer pk;
            msgpack_packer_init(&pk, &svc, msgpack_sbuffer_write);
            il_service_pack(msg->service, &pk);
            ilp_msg_pack_work(&work, msg->id, msg->action, msg->attempt, svc.data, svc.size);
            assert_int_equal(work.size, buf.size);
            assert_memory_equal(work.data, buf.data, buf.size);
            msgpack_sbuffer_destroy(&svc);
            msgpack_sbuffer_destroy(&work);
        }
        zframe_t *alone = ilp_msg_encode_body(msg); /* the same bytes */
        assert_int_equal(zframe_size(alone), buf.size);
        assert_memory_equal(zframe_data(alone), buf.data, buf.size);
        zframe_destroy(&alone);
        assert_int_equal(ilp_send(dh, NULL, 0, c->cmd, buf.data, buf.size), 0);
        s_readable(rh); /* ilp_recv does not wait */
        ilp_recv_t in;
        assert_int_equal(ilp_recv(rh, &in), 0);
        assert_int_equal(in.count, 4); /* the routing id in front */
        assert_int_equal(in.kept, 4);
        ilp_frame_t frames[ILP_RECV_PARTS];
        assert_int_equal(ilp_recv_frames(&in, 1, frames), 3);
        char err[300] = "";
        ilp_msg_t *back = ilp_msg_decode_frames(frames, in.count - 1, &zone, 0, err, sizeof err);
        if (!back) fail_msg("%s: refused: %s", c->what, err);
        s_assert_same_msg(msg, back);
        ilp_msg_destroy(&back);
        /* Back to the dealer, addressed by the routing id. */
        assert_int_equal(ilp_send(rh, zmq_msg_data(&in.parts[0]), zmq_msg_size(&in.parts[0]),
                                  c->cmd, buf.data, buf.size),
                         0);
        ilp_recv_close(&in);
        assert_int_equal(in.kept, 0);
        s_readable(dh);
        assert_int_equal(ilp_recv(dh, &in), 0);
        assert_int_equal(in.count, 3);
        assert_int_equal(ilp_recv_frames(&in, 0, frames), 3);
        back = ilp_msg_decode_frames(frames, in.count, NULL, 0, err, sizeof err); /* own zone */
        if (!back) fail_msg("%s: refused: %s", c->what, err);
        s_assert_same_msg(msg, back);
        ilp_msg_destroy(&back);
        ilp_recv_close(&in);
        ilp_msg_destroy(&msg);
    }
    /* Nothing waits: -1 at once, nothing to close. */
    ilp_recv_t in;
    assert_int_equal(ilp_recv(dh, &in), -1);
    /* Six frames: the first four are kept, all six counted, and refused. */
    zmsg_t *six = zmsg_new();
    for (int k = 0; k < 6; k++)
        zmsg_addstr(six, "ILP1");
    assert_int_equal(zmsg_send(&six, dealer), 0);
    s_readable(rh);
    assert_int_equal(ilp_recv(rh, &in), 0);
    assert_int_equal(in.count, 7);
    assert_int_equal(in.kept, ILP_RECV_PARTS);
    ilp_frame_t frames[ILP_RECV_PARTS];
    assert_int_equal(ilp_recv_frames(&in, 1, frames), 3);
    char err[300] = "";
    assert_null(ilp_msg_decode_frames(frames, in.count - 1, &zone, 0, err, sizeof err));
    assert_string_equal(err, "expected 3 frames, got 6");
    ilp_recv_close(&in);
    /* Every undecodable case, through the reused zone. */
    for (size_t i = 0; i < COUNT(s_undecodable); i++) {
        const decode_case_t *c = &s_undecodable[i];
        zmsg_t *zmsg = s_decode_case_msg(c);
        ilp_frame_t f[4];
        size_t n = 0;
        for (zframe_t *fr = zmsg_first(zmsg); fr && n < 4; fr = zmsg_next(zmsg))
            f[n++] = (ilp_frame_t){zframe_data(fr), zframe_size(fr)};
        assert_null(ilp_msg_decode_frames(f, zmsg_size(zmsg), &zone, 0, err, sizeof err));
        if (!strstr(err, c->expect))
            fail_msg("case %zu: '%s' does not contain '%s'", i, err, c->expect);
        zmsg_destroy(&zmsg);
    }
    assert_null(ilp_msg_decode_frames(NULL, 3, &zone, 0, err, sizeof err));
    assert_string_equal(err, "expected 3 frames, got 0");
    /* ILP_DECODE_LEAN: a RESULT's service is read for its name and public_ip
     * only (what the core may take from it); the rest is not checked. */
    {
        msgpack_sbuffer body;
        msgpack_packer pk;
        msgpack_sbuffer_init(&body);
        msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        il_codec_pack_key_str(&pk, "id", "w-1");
        il_codec_pack_str(&pk, "service");
        msgpack_pack_map(&pk, 3);
        il_codec_pack_key_str(&pk, "name", "web");
        il_codec_pack_key_str(&pk, "public_ip", "10.9.8.7");
        il_codec_pack_key_str(&pk, "targets", "not an array");
        ilp_frame_t f[3] = {{"ILP1", 4}, {"RESULT", 6}, {body.data, body.size}};
        assert_null(ilp_msg_decode_frames(f, 3, &zone, 0, err, sizeof err));
        assert_string_equal(err, "RESULT: service.targets: expected an array");
        ilp_msg_t *lean = ilp_msg_decode_frames(f, 3, &zone, ILP_DECODE_LEAN, err, sizeof err);
        assert_non_null(lean);
        assert_string_equal(lean->id, "w-1");
        assert_string_equal(lean->service->name, "web");
        assert_string_equal(lean->service->public_ip, "10.9.8.7");
        assert_int_equal(lean->service->target_count, 0);
        ilp_msg_destroy(&lean);
        /* The name and the address are still checked. */
        msgpack_sbuffer_clear(&body);
        msgpack_pack_map(&pk, 2);
        il_codec_pack_key_str(&pk, "id", "w-1");
        il_codec_pack_str(&pk, "service");
        msgpack_pack_map(&pk, 2);
        il_codec_pack_key_str(&pk, "name", "web");
        il_codec_pack_key_str(&pk, "public_ip", "10.9.8");
        f[2] = (ilp_frame_t){body.data, body.size};
        assert_null(ilp_msg_decode_frames(f, 3, &zone, ILP_DECODE_LEAN, err, sizeof err));
        assert_string_equal(err, "RESULT: service.public_ip: '10.9.8' is not an IP address");
        msgpack_sbuffer_destroy(&body);
    }
    msgpack_sbuffer_destroy(&buf);
    msgpack_zone_destroy(&zone);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

/* Batches ----------------------------------------------------------------- */

typedef struct {
    char log[2048]; /* one line per item: "ok <cmd> <id or name>" or "bad <id> <why>" */
    int calls;
} s_batch_log_t;

static void s_log_item(void *arg, ilp_msg_t *msg, const char *why, const char *id)
{
    s_batch_log_t *log = arg;
    size_t len = strlen(log->log);
    log->calls++;
    if (msg)
        snprintf(log->log + len, sizeof log->log - len, "ok %s %s\n", ilp_cmd_name(msg->cmd),
                 msg->id        ? msg->id
                 : msg->service ? msg->service->name
                                : "-");
    else
        snprintf(log->log + len, sizeof log->log - len, "bad %s %s\n", id ? id : "-", why);
}

static int s_decode_spec_batch(const char *cmd, const char *body, s_batch_log_t *log, char *err,
                               size_t errlen)
{
    zframe_t *frame = s_spec_frame(body);
    ilp_frame_t frames[3] = {
        {"ILP1", 4}, {cmd, strlen(cmd)}, {zframe_data(frame), zframe_size(frame)}};
    memset(log, 0, sizeof *log);
    int rc = ilp_msg_decode_batch(frames, 3, NULL, 0, s_log_item, log, err, errlen);
    zframe_destroy(&frame);
    return rc;
}

static void test_decode_batch(void **state)
{
    (void)state;
    s_batch_log_t log;
    char err[300] = "";
    /* One map: one item, as ilp_msg_decode_frames would give it. */
    assert_int_equal(
        s_decode_spec_batch("RESULT", "{'id': 'w1', 'error': 'e'}", &log, err, sizeof err), 1);
    assert_string_equal(log.log, "ok RESULT w1\n");
    /* An array: each item in order; a bad item says which and its id. */
    assert_int_equal(
        s_decode_spec_batch("RESULT",
                            "[{'id': 'w1', 'error': 'e'}, {'id': 'w2', 'service': {}},"
                            " 5, {'error': 'no id'}, {'id': 'w5', 'service': {'name': 'n'}}]",
                            &log, err, sizeof err),
        5);
    assert_string_equal(log.log, "ok RESULT w1\n"
                                 "bad w2 RESULT[1]: service.name: missing\n"
                                 "bad - RESULT[2]: body: expected a map\n"
                                 "bad - RESULT[3]: id: missing\n"
                                 "ok RESULT w5\n");
    assert_int_equal(s_decode_spec_batch("EVENT",
                                         "[{'action': 'add', 'service': {'name': 'a'}},"
                                         " {'action': 'delete', 'service': {'name': 'b'}}]",
                                         &log, err, sizeof err),
                     2);
    assert_string_equal(log.log, "ok EVENT a\nok EVENT b\n");
    assert_int_equal(s_decode_spec_batch("WORK",
                                         "[{'id': 'k', 'action': 'add', 'service': {'name': 'a'}}]",
                                         &log, err, sizeof err),
                     1);
    assert_string_equal(log.log, "ok WORK k\n");
    /* Refused as a whole (no item handed over). */
    static const struct {
        const char *cmd, *body, *expect;
    } refused[] = {
        {"RESULT", "[]", "RESULT: body: a batch holds 1 to 256 items, not 0"},
        {"HELLO", "[{'name': 'a.b', 'instance': 'i'}]", "HELLO: body: expected a map"},
        {"HEARTBEAT", "[{}]", "HEARTBEAT: body: expected a map"},
        {"EVENT", "'x'", "EVENT: body: expected a map or an array of maps"},
        {"RESULT", "hex:93 01", "RESULT: body:"},
    };
    for (size_t i = 0; i < COUNT(refused); i++) {
        err[0] = 0;
        if (s_decode_spec_batch(refused[i].cmd, refused[i].body, &log, err, sizeof err) != -1)
            fail_msg("accepted: %s %s", refused[i].cmd, refused[i].body);
        assert_int_equal(log.calls, 0);
        assert_contains(err, refused[i].expect);
    }
    /* 257 items: over the limit. */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, ILP_MAX_BATCH + 1);
    for (int i = 0; i <= ILP_MAX_BATCH; i++) {
        msgpack_pack_map(&pk, 2);
        il_codec_pack_key_str(&pk, "id", "w");
        il_codec_pack_key_str(&pk, "error", "e");
    }
    ilp_frame_t frames[3] = {{"ILP1", 4}, {"RESULT", 6}, {sb.data, sb.size}};
    memset(&log, 0, sizeof log);
    assert_int_equal(ilp_msg_decode_batch(frames, 3, NULL, 0, s_log_item, &log, err, sizeof err),
                     -1);
    assert_contains(err, "a batch holds 1 to 256 items, not 257");
    assert_int_equal(log.calls, 0);
    msgpack_sbuffer_destroy(&sb);
}

/* The builder: one item goes as the map alone, more as an array; limits. */
static void test_batch_builder(void **state)
{
    (void)state;
    ilp_batch_t batch;
    ilp_batch_init(&batch);
    size_t size = 1;
    assert_null(ilp_batch_body(&batch, &size));
    char item[64];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (int round = 0; round < 2; round++) { /* the second after a clear */
        for (int i = 0; i < 3; i++) {
            msgpack_sbuffer_clear(&sb);
            snprintf(item, sizeof item, "w%d", i);
            msgpack_pack_map(&pk, 2);
            il_codec_pack_key_str(&pk, "id", item);
            il_codec_pack_key_str(&pk, "error", "e");
            assert_true(ilp_batch_fits(&batch, sb.size));
            assert_int_equal(ilp_batch_add(&batch, sb.data, sb.size), 0);
            const void *body = ilp_batch_body(&batch, &size);
            if (i == 0) { /* a map, the same bytes */
                assert_int_equal(size, sb.size);
                assert_memory_equal(body, sb.data, sb.size);
            }
            ilp_frame_t frames[3] = {{"ILP1", 4}, {"RESULT", 6}, {body, size}};
            s_batch_log_t log = {0};
            char err[200];
            assert_int_equal(
                ilp_msg_decode_batch(frames, 3, NULL, 0, s_log_item, &log, err, sizeof err), i + 1);
            assert_string_equal(log.log, i == 0   ? "ok RESULT w0\n"
                                         : i == 1 ? "ok RESULT w0\nok RESULT w1\n"
                                                  : "ok RESULT w0\nok RESULT w1\nok RESULT w2\n");
        }
        ilp_batch_clear(&batch);
        assert_null(ilp_batch_body(&batch, &size));
    }
    /* Limits: ILP_MAX_BATCH items, ILP_BATCH_BYTES bytes; one item always fits. */
    char big[ILP_BATCH_BYTES];
    memset(big, 0x80, sizeof big); /* empty maps: any bytes will do for the count */
    assert_true(ilp_batch_fits(&batch, sizeof big));
    assert_int_equal(ilp_batch_add(&batch, big, 1), 0);
    assert_false(ilp_batch_fits(&batch, ILP_BATCH_BYTES));
    for (int i = 1; i < ILP_MAX_BATCH; i++) {
        assert_true(ilp_batch_fits(&batch, 1));
        assert_int_equal(ilp_batch_add(&batch, big, 1), 0);
    }
    assert_false(ilp_batch_fits(&batch, 1));
    assert_int_equal(batch.count, ILP_MAX_BATCH);
    msgpack_sbuffer_destroy(&sb);
    ilp_batch_destroy(&batch);
}

/* HELLO and WELCOME carry batch only when above 1; bounds are checked. */
static void test_batch_keys(void **state)
{
    (void)state;
    ilp_msg_t hello = {.cmd = ILP_HELLO, .name = "a.b", .instance = "i", .credit = 5, .batch = 1};
    zmsg_t *zmsg = ilp_msg_encode(&hello);
    char err[300] = "";
    ilp_msg_t *back = ilp_msg_decode(zmsg, err, sizeof err);
    assert_non_null(back);
    assert_int_equal(back->batch, 1);
    assert_null(memmem(zframe_data(zmsg_last(zmsg)), zframe_size(zmsg_last(zmsg)), "batch", 5));
    ilp_msg_destroy(&back);
    zmsg_destroy(&zmsg);
    hello.batch = 64;
    zmsg = ilp_msg_encode(&hello);
    back = ilp_msg_decode(zmsg, err, sizeof err);
    assert_non_null(back);
    assert_int_equal(back->batch, 64);
    ilp_msg_destroy(&back);
    zmsg_destroy(&zmsg);
    ilp_msg_t welcome = {
        .cmd = ILP_WELCOME, .heartbeat_ms = 100, .liveness = 3, .core_id = "c", .batch = 256};
    zmsg = ilp_msg_encode(&welcome);
    back = ilp_msg_decode(zmsg, err, sizeof err);
    assert_non_null(back);
    assert_int_equal(back->batch, 256);
    ilp_msg_destroy(&back);
    zmsg_destroy(&zmsg);
    static const struct {
        const char *cmd, *body, *expect;
    } refused[] = {
        {"HELLO", "{'name': 'a.b', 'instance': 'i', 'batch': 0}",
         "HELLO: batch: expected an integer from 1 to 256"},
        {"HELLO", "{'name': 'a.b', 'instance': 'i', 'batch': 257}",
         "HELLO: batch: expected an integer from 1 to 256"},
        {"HELLO", "{'name': 'a.b', 'instance': 'i', 'batch': 'x'}",
         "HELLO: batch: expected an integer"},
        {"WELCOME", "{'heartbeat_ms': 100, 'liveness': 3, 'core_id': 'c', 'batch': 0}",
         "WELCOME: batch: expected an integer from 1 to 256"},
    };
    for (size_t i = 0; i < COUNT(refused); i++) {
        zframe_t *frame = s_spec_frame(refused[i].body);
        ilp_frame_t frames[3] = {{"ILP1", 4},
                                 {refused[i].cmd, strlen(refused[i].cmd)},
                                 {zframe_data(frame), zframe_size(frame)}};
        err[0] = 0;
        assert_null(ilp_msg_decode_frames(frames, 3, NULL, 0, err, sizeof err));
        assert_contains(err, refused[i].expect);
        zframe_destroy(&frame);
    }
}

/* Mutated batches: whatever the bytes, ilp_msg_decode_batch either refuses
 * the message whole (no item handed over) or hands over exactly the number
 * of items it returns, each decoded or with a reason; under ASan, it reads
 * nothing out of bounds and leaks nothing. */
typedef struct {
    int calls, decoded, bad_without_reason;
} s_fuzz_count_t;

static void s_count_item(void *arg, ilp_msg_t *msg, const char *why, const char *id)
{
    s_fuzz_count_t *c = arg;
    c->calls++;
    if (msg)
        c->decoded++;
    else if (!why || !*why || (id && strlen(id) > ILP_MAX_ID))
        c->bad_without_reason++;
}

static uint64_t s_fuzz_state = 0x2545f4914f6cdd1dULL;
static uint32_t s_fuzz_rand(void)
{
    s_fuzz_state ^= s_fuzz_state << 13;
    s_fuzz_state ^= s_fuzz_state >> 7;
    s_fuzz_state ^= s_fuzz_state << 17;
    return (uint32_t)s_fuzz_state;
}

static void test_decode_batch_mutated(void **state)
{
    (void)state;
    /* Seeds: a WORK batch, a RESULT batch, an EVENT batch, one map. */
    il_service_t *service = s_service(1);
    msgpack_sbuffer seeds[4];
    const char *cmds[4] = {"WORK", "RESULT", "EVENT", "RESULT"};
    for (int k = 0; k < 4; k++) {
        msgpack_sbuffer_init(&seeds[k]);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &seeds[k], msgpack_sbuffer_write);
        int items = k == 3 ? 1 : 3;
        if (k < 3) msgpack_pack_array(&pk, (size_t)items);
        for (int i = 0; i < items; i++) {
            char id[16];
            snprintf(id, sizeof id, "w-%d", i);
            ilp_msg_t msg = {.cmd = k == 0   ? ILP_WORK
                                    : k == 2 ? ILP_EVENT
                                             : ILP_RESULT,
                             .id = id,
                             .action = ILP_ACTION_ADD,
                             .attempt = 1,
                             .error = i == 1 ? "failed" : NULL,
                             .service = service};
            msgpack_sbuffer one;
            msgpack_sbuffer_init(&one);
            assert_int_equal(ilp_msg_pack_body(&msg, &one), 0);
            msgpack_sbuffer_write(&seeds[k], one.data, one.size);
            msgpack_sbuffer_destroy(&one);
        }
    }
    msgpack_zone zone;
    assert_true(msgpack_zone_init(&zone, 2048));
    int whole_refusals = 0, items_seen = 0;
    for (int round = 0; round < 20000; round++) {
        int k = (int)(s_fuzz_rand() % 4);
        size_t size = seeds[k].size;
        unsigned char buf[4096];
        assert_true(size <= sizeof buf - 16);
        memcpy(buf, seeds[k].data, size);
        int mutations = 1 + (int)(s_fuzz_rand() % 4);
        for (int m = 0; m < mutations && size > 0; m++) {
            size_t at = s_fuzz_rand() % size;
            switch (s_fuzz_rand() % 4) {
            case 0:
                buf[at] = (unsigned char)s_fuzz_rand();
                break; /* any byte */
            case 1:
                buf[at] ^= (unsigned char)(1u << (s_fuzz_rand() % 8));
                break;
            case 2:
                size = at;
                break; /* truncated */
            default:   /* a msgpack type byte where a value was */
                buf[at] = (unsigned char)(0xc0 + s_fuzz_rand() % 0x20);
            }
        }
        ilp_frame_t frames[3] = {{"ILP1", 4}, {cmds[k], strlen(cmds[k])}, {buf, size}};
        s_fuzz_count_t count = {0};
        char err[300] = "";
        unsigned flags = round % 2 ? ILP_DECODE_LEAN : 0;
        int rc = ilp_msg_decode_batch(frames, 3, round % 3 ? &zone : NULL, flags, s_count_item,
                                      &count, err, sizeof err);
        if (rc < 0) {
            assert_int_equal(count.calls, 0);
            if (!*err) fail_msg("round %d: refused without a reason", round);
            whole_refusals++;
        } else {
            assert_true(rc >= 1 && rc <= ILP_MAX_BATCH);
            assert_int_equal(count.calls, rc);
            assert_int_equal(count.bad_without_reason, 0);
            items_seen += rc;
        }
    }
    /* Both outcomes happened: the mutations reach past the framing. */
    assert_true(whole_refusals > 1000);
    assert_true(items_seen > 1000);
    msgpack_zone_destroy(&zone);
    for (int k = 0; k < 4; k++)
        msgpack_sbuffer_destroy(&seeds[k]);
    il_service_destroy(&service);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encode_defaults),
        cmocka_unit_test(test_encode_refused),
        cmocka_unit_test(test_decode_refused),
        cmocka_unit_test(test_decode_lenient),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_ext_name_valid),
        cmocka_unit_test(test_pub_refresh),
        cmocka_unit_test(test_pub_state),
        cmocka_unit_test(test_pub_core),
        cmocka_unit_test(test_pub_refused),
        cmocka_unit_test(test_wire),
        cmocka_unit_test(test_decode_batch),
        cmocka_unit_test(test_batch_builder),
        cmocka_unit_test(test_batch_keys),
        cmocka_unit_test(test_pub_changes),
        cmocka_unit_test(test_decode_batch_mutated),
    };
    return test_run_group(tests, NULL, NULL);
}
