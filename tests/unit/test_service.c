/* test_service: unit tests of common/service (data model, normalisation,
 * comparison, msgpack encoding and strict decoding). */
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

#include "common/codec.h"
#include "common/service.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A decoded document; its strings point into frame. */
typedef struct {
    char *frame;
    size_t size;
    msgpack_unpacked up;
} doc_t;

static void s_doc_from_buffer(doc_t *doc, msgpack_sbuffer *sb)
{
    doc->size = sb->size;
    doc->frame = malloc(sb->size);
    assert_non_null(doc->frame);
    memcpy(doc->frame, sb->data, sb->size);
    msgpack_sbuffer_destroy(sb);
    msgpack_unpacked_init(&doc->up);
    char err[256] = "";
    if (il_codec_unpack(doc->frame, doc->size, &doc->up, err, sizeof err))
        fail_msg("il_codec_unpack: %s", err);
}

/* A document written as a spec (tests/support/msgspec.h). */
static void s_doc_spec(doc_t *doc, const char *spec)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgspec_pack(&pk, spec) != 0)
        fail_msg("malformed spec '%s' (msgspec said why above)", spec);
    s_doc_from_buffer(doc, &sb);
}

static void s_doc_service(doc_t *doc, const il_service_t *service)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    il_service_pack(service, &pk);
    s_doc_from_buffer(doc, &sb);
}

static void s_doc_close(doc_t *doc)
{
    msgpack_unpacked_destroy(&doc->up);
    free(doc->frame);
    doc->frame = NULL;
}

/* Decodes a spec that must be accepted. */
static il_service_t *s_decode_spec(const char *spec)
{
    doc_t doc;
    s_doc_spec(&doc, spec);
    char err[256] = "";
    il_service_t *service = il_service_decode(&doc.up.data, err, sizeof err);
    s_doc_close(&doc);
    if (!service) fail_msg("refused: %s\n  %s", err, spec);
    return service;
}

/* Helpers ------------------------------------------------------------------- */

static void s_assert_target(const il_service_t *s, size_t i, const char *host, uint16_t port,
                            uint32_t weight)
{
    if (i >= s->target_count) fail_msg("no target %zu (count %zu)", i, s->target_count);
    if (strcmp(s->targets[i].host, host) || s->targets[i].port != port ||
        s->targets[i].weight != weight)
        fail_msg("targets[%zu] is %s:%u w%u, expected %s:%u w%u", i, s->targets[i].host,
                 s->targets[i].port, s->targets[i].weight, host, port, weight);
}

/* A service with every field set, targets and aliases added in the order given. */
static il_service_t *s_full(bool reverse)
{
    il_service_t *s = il_service_new("web.example");
    assert_non_null(s);
    static const struct {
        const char *host;
        uint16_t port;
        uint32_t weight;
    } targets[] = {{"10.0.0.2", 8080, 1},
                   {"10.0.0.1", 443, 5},
                   {"10.0.0.1", 80, 2},
                   {"backend.local", 65535, IL_SERVICE_MAX_WEIGHT},
                   {"::1", 1, 3}};
    static const char *aliases[] = {"www.example", "example", "api.example"};
    for (size_t k = 0; k < COUNT(targets); k++) {
        size_t i = reverse ? COUNT(targets) - 1 - k : k;
        assert_int_equal(
            il_service_add_target(s, targets[i].host, targets[i].port, targets[i].weight), 0);
    }
    for (size_t k = 0; k < COUNT(aliases); k++) {
        size_t i = reverse ? COUNT(aliases) - 1 - k : k;
        assert_int_equal(il_service_add_alias(s, aliases[i]), 0);
    }
    s->tls = true;
    s->port = 8443;
    assert_int_equal(il_service_set_string(&s->provider, "provider.docker"), 0);
    assert_int_equal(il_service_set_string(&s->public_ip, "192.0.2.10"), 0);
    return s;
}

/* Model --------------------------------------------------------------------- */

static void test_new_destroy(void **state)
{
    (void)state;
    il_service_t *s = il_service_new("web");
    assert_non_null(s);
    assert_string_equal(s->name, "web");
    assert_null(s->provider);
    assert_null(s->targets);
    assert_int_equal(s->target_count, 0);
    assert_false(s->tls);
    assert_null(s->public_ip);
    assert_null(s->dns_aliases);
    assert_int_equal(s->alias_count, 0);
    il_service_destroy(&s);
    assert_null(s);
    il_service_destroy(&s); /* harmless twice */
    il_service_destroy(NULL);

    assert_null(il_service_new(""));
    assert_null(il_service_new(NULL));

    /* The name is copied. */
    char name[] = "copied";
    s = il_service_new(name);
    assert_non_null(s);
    name[0] = 'X';
    assert_string_equal(s->name, "copied");
    il_service_destroy(&s);
}

static void test_add_target(void **state)
{
    (void)state;
    il_service_t *s = il_service_new("web");
    assert_non_null(s);
    /* Sorted by host (bytes), then port as a number. */
    assert_int_equal(il_service_add_target(s, "b", 80, 1), 0);
    assert_int_equal(il_service_add_target(s, "a", 8080, 1), 0);
    assert_int_equal(il_service_add_target(s, "a", 443, 2), 0);
    assert_int_equal(il_service_add_target(s, "c", 1, 3), 0);
    assert_int_equal(il_service_add_target(s, "a", 80, 4), 0);
    assert_int_equal(il_service_add_target(s, "B", 80, 5), 0);
    assert_int_equal(s->target_count, 6);
    s_assert_target(s, 0, "B", 80, 5);
    s_assert_target(s, 1, "a", 80, 4);
    s_assert_target(s, 2, "a", 443, 2);
    s_assert_target(s, 3, "a", 8080, 1);
    s_assert_target(s, 4, "b", 80, 1);
    s_assert_target(s, 5, "c", 1, 3);

    /* The same host:port adds its weight; the sum stops at the maximum. */
    assert_int_equal(il_service_add_target(s, "a", 443, 10), 0);
    assert_int_equal(s->target_count, 6);
    s_assert_target(s, 2, "a", 443, 12);
    assert_int_equal(il_service_add_target(s, "a", 443, IL_SERVICE_MAX_WEIGHT), 0);
    s_assert_target(s, 2, "a", 443, IL_SERVICE_MAX_WEIGHT);
    /* Same host, other port, is another target. */
    assert_int_equal(il_service_add_target(s, "a", 444, 1), 0);
    assert_int_equal(s->target_count, 7);
    s_assert_target(s, 3, "a", 444, 1);

    /* The host is copied. */
    char host[] = "zz";
    assert_int_equal(il_service_add_target(s, host, 9, 1), 0);
    host[0] = 'A';
    s_assert_target(s, 7, "zz", 9, 1);

    /* Refusals leave the service as it was. */
    char long_host[IL_SERVICE_MAX_HOST + 2];
    memset(long_host, 'h', sizeof long_host - 1);
    long_host[sizeof long_host - 1] = 0;
    size_t before = s->target_count;
    assert_int_equal(il_service_add_target(s, "a", 0, 1), -1);
    assert_int_equal(il_service_add_target(s, "", 80, 1), -1);
    assert_int_equal(il_service_add_target(s, NULL, 80, 1), -1);
    assert_int_equal(il_service_add_target(s, "a", 80, 0), -1);
    assert_int_equal(il_service_add_target(s, long_host, 80, 1), -1);
    assert_int_equal(s->target_count, before);
    s_assert_target(s, 1, "a", 80, 4);
    long_host[IL_SERVICE_MAX_HOST] = 0; /* exactly the maximum */
    assert_int_equal(il_service_add_target(s, long_host, 80, 1), 0);
    assert_int_equal(s->target_count, before + 1);
    il_service_destroy(&s);
}

static void test_target_limit(void **state)
{
    (void)state;
    il_service_t *s = il_service_new("many");
    assert_non_null(s);
    /* Added from the highest port down: each goes in front. */
    for (int port = IL_SERVICE_MAX_TARGETS; port >= 1; port--)
        assert_int_equal(il_service_add_target(s, "h", (uint16_t)port, 1), 0);
    assert_int_equal(s->target_count, IL_SERVICE_MAX_TARGETS);
    for (size_t i = 0; i < s->target_count; i++)
        assert_int_equal(s->targets[i].port, i + 1);
    assert_int_equal(il_service_add_target(s, "h", IL_SERVICE_MAX_TARGETS + 1, 1), -1);
    assert_int_equal(il_service_add_target(s, "a", 1, 1), -1);
    assert_int_equal(s->target_count, IL_SERVICE_MAX_TARGETS);
    /* At the limit, an existing target still takes more weight. */
    assert_int_equal(il_service_add_target(s, "h", 7, 2), 0);
    s_assert_target(s, 6, "h", 7, 3);
    il_service_destroy(&s);
}

static void test_add_alias(void **state)
{
    (void)state;
    il_service_t *s = il_service_new("web");
    assert_non_null(s);
    const char *in[] = {"www.example", "example",     "b.example", "example",
                        "a.example",   "www.example", "A.example"};
    for (size_t i = 0; i < COUNT(in); i++)
        assert_int_equal(il_service_add_alias(s, in[i]), 0);
    const char *expect[] = {"A.example", "a.example", "b.example", "example", "www.example"};
    assert_int_equal(s->alias_count, COUNT(expect));
    for (size_t i = 0; i < COUNT(expect); i++)
        assert_string_equal(s->dns_aliases[i], expect[i]);

    char long_alias[IL_SERVICE_MAX_ALIAS + 2];
    memset(long_alias, 'a', sizeof long_alias - 1);
    long_alias[sizeof long_alias - 1] = 0;
    assert_int_equal(il_service_add_alias(s, ""), -1);
    assert_int_equal(il_service_add_alias(s, NULL), -1);
    assert_int_equal(il_service_add_alias(s, long_alias), -1);
    assert_int_equal(s->alias_count, COUNT(expect));
    long_alias[IL_SERVICE_MAX_ALIAS] = 0;
    assert_int_equal(il_service_add_alias(s, long_alias), 0);
    assert_int_equal(s->alias_count, COUNT(expect) + 1);
    il_service_destroy(&s);

    /* At most IL_SERVICE_MAX_ALIASES; a duplicate is still fine at the limit. */
    s = il_service_new("many");
    assert_non_null(s);
    for (int i = 0; i < IL_SERVICE_MAX_ALIASES; i++) {
        char name[32];
        snprintf(name, sizeof name, "n%03d.example", IL_SERVICE_MAX_ALIASES - i);
        assert_int_equal(il_service_add_alias(s, name), 0);
    }
    assert_int_equal(s->alias_count, IL_SERVICE_MAX_ALIASES);
    assert_string_equal(s->dns_aliases[0], "n001.example");
    assert_string_equal(s->dns_aliases[IL_SERVICE_MAX_ALIASES - 1], "n256.example");
    assert_int_equal(il_service_add_alias(s, "n000.example"), -1);
    assert_int_equal(il_service_add_alias(s, "n100.example"), 0);
    assert_int_equal(s->alias_count, IL_SERVICE_MAX_ALIASES);
    il_service_destroy(&s);
}

static void test_set_string(void **state)
{
    (void)state;
    char *field = NULL;
    assert_int_equal(il_service_set_string(&field, "one"), 0);
    assert_string_equal(field, "one");
    char text[] = "two";
    assert_int_equal(il_service_set_string(&field, text), 0);
    text[0] = 'X';
    assert_string_equal(field, "two");
    assert_int_equal(il_service_set_string(&field, NULL), 0);
    assert_null(field);
    assert_int_equal(il_service_set_string(&field, NULL), 0);
    assert_null(field);
}

static void test_dup(void **state)
{
    (void)state;
    il_service_t *a = s_full(false);
    char err[200];
    assert_int_equal(il_service_set_check(a, "http:/healthz 200-299", err, sizeof err), 0);
    il_service_t *b = il_service_dup(a);
    assert_non_null(b);
    assert_same_service(a, b);
    assert_ptr_not_equal(a->check, b->check);
    assert_ptr_not_equal(a->provider, b->provider);
    assert_ptr_not_equal(a->public_ip, b->public_ip);
    assert_ptr_not_equal(a->targets, b->targets);
    /* Independent: changing the copy leaves the original. */
    b->targets[0].host[0] = 'X';
    b->dns_aliases[0][0] = 'X';
    b->name[0] = 'X';
    assert_int_equal(il_service_add_target(b, "new", 1, 1), 0);
    assert_string_equal(a->targets[0].host, "10.0.0.1");
    assert_string_equal(a->dns_aliases[0], "api.example");
    assert_string_equal(a->name, "web.example");
    assert_int_equal(a->target_count, 5);
    il_service_destroy(&b);

    /* A bare service. */
    il_service_t *bare = il_service_new("bare");
    b = il_service_dup(bare);
    assert_non_null(b);
    assert_same_service(bare, b);
    assert_null(b->provider);
    assert_null(b->public_ip);
    assert_null(b->targets);
    il_service_destroy(&b);
    il_service_destroy(&bare);
    il_service_destroy(&a);
    assert_null(il_service_dup(NULL));
}

static void test_normalize(void **state)
{
    (void)state;
    /* The struct is plain data: fill it out of order, then normalize. */
    il_service_t *s = il_service_new("raw");
    assert_non_null(s);
    const char *hosts[] = {"b", "a", "a", "c"};
    const uint16_t ports[] = {1, 9000, 22, 5};
    s->targets = calloc(4, sizeof *s->targets);
    assert_non_null(s->targets);
    for (size_t i = 0; i < 4; i++) {
        s->targets[i].host = strdup(hosts[i]);
        s->targets[i].port = ports[i];
        s->targets[i].weight = (uint32_t)i + 1;
    }
    s->target_count = 4;
    const char *aliases[] = {"z", "m", "a"};
    s->dns_aliases = calloc(3, sizeof *s->dns_aliases);
    assert_non_null(s->dns_aliases);
    for (size_t i = 0; i < 3; i++)
        s->dns_aliases[i] = strdup(aliases[i]);
    s->alias_count = 3;
    il_service_normalize(s);
    s_assert_target(s, 0, "a", 22, 3);
    s_assert_target(s, 1, "a", 9000, 2);
    s_assert_target(s, 2, "b", 1, 1);
    s_assert_target(s, 3, "c", 5, 4);
    assert_string_equal(s->dns_aliases[0], "a");
    assert_string_equal(s->dns_aliases[1], "m");
    assert_string_equal(s->dns_aliases[2], "z");
    /* Adders keep working on the normalized arrays. */
    assert_int_equal(il_service_add_target(s, "a", 100, 1), 0);
    s_assert_target(s, 1, "a", 100, 1);
    assert_int_equal(il_service_add_alias(s, "b"), 0);
    assert_string_equal(s->dns_aliases[1], "b");
    il_service_destroy(&s);

    /* Nothing to sort. */
    s = il_service_new("empty");
    il_service_normalize(s);
    assert_int_equal(s->target_count, 0);
    il_service_destroy(&s);
}

/* il_service_same_definition --------------------------------------------------- */

typedef struct {
    const char *what;
    bool same;
    void (*change)(il_service_t *s);
} same_case_t;

static void s_none(il_service_t *s)
{
    (void)s;
}
static void s_tls(il_service_t *s)
{
    s->tls = !s->tls;
}
static void s_other_public_port(il_service_t *s)
{
    s->port = 443;
}
static void s_no_public_port(il_service_t *s)
{
    s->port = 0;
}
static void s_extra_target(il_service_t *s)
{
    assert_int_equal(il_service_add_target(s, "10.0.0.3", 80, 1), 0);
}
static void s_more_weight(il_service_t *s)
{
    assert_int_equal(il_service_add_target(s, "10.0.0.1", 80, 1), 0);
}
static void s_other_port(il_service_t *s)
{
    s->targets[0].port++;
}
static void s_other_host(il_service_t *s)
{
    s->targets[s->target_count - 1].host[0] = 'X';
}
static void s_extra_alias(il_service_t *s)
{
    assert_int_equal(il_service_add_alias(s, "more.example"), 0);
}
static void s_other_alias(il_service_t *s)
{
    s->dns_aliases[1][0] = 'X';
}
static void s_no_aliases(il_service_t *s)
{
    for (size_t i = 0; i < s->alias_count; i++)
        free(s->dns_aliases[i]);
    s->alias_count = 0;
}
static void s_no_targets(il_service_t *s)
{
    for (size_t i = 0; i < s->target_count; i++)
        free(s->targets[i].host);
    s->target_count = 0;
}
static void s_other_ip(il_service_t *s)
{
    assert_int_equal(il_service_set_string(&s->public_ip, "2001:db8::1"), 0);
}
static void s_no_ip(il_service_t *s)
{
    assert_int_equal(il_service_set_string(&s->public_ip, NULL), 0);
}
static void s_other_provider(il_service_t *s)
{
    assert_int_equal(il_service_set_string(&s->provider, "provider.file"), 0);
}
static void s_no_provider(il_service_t *s)
{
    assert_int_equal(il_service_set_string(&s->provider, NULL), 0);
}
static void s_ip_and_provider(il_service_t *s)
{
    s_other_ip(s);
    s_no_provider(s);
}

static void s_http_check(il_service_t *s)
{
    char err[200];
    assert_int_equal(il_service_set_check(s, "http:/healthz", err, sizeof err), 0);
}
static void s_tcp_check(il_service_t *s)
{
    char err[200];
    assert_int_equal(il_service_set_check(s, "tcp", err, sizeof err), 0);
}

static const same_case_t s_same_cases[] = {
    {"a check", false, s_http_check},
    {"a tcp check (not the default: the step decides that)", false, s_tcp_check},
    {"unchanged", true, s_none},
    {"tls", false, s_tls},
    {"other public port", false, s_other_public_port},
    {"no public port", false, s_no_public_port},
    {"extra target", false, s_extra_target},
    {"other weight", false, s_more_weight},
    {"other port", false, s_other_port},
    {"other host", false, s_other_host},
    {"no targets", false, s_no_targets},
    {"extra alias", false, s_extra_alias},
    {"other alias", false, s_other_alias},
    {"no aliases", false, s_no_aliases},
    {"other public_ip", true, s_other_ip},
    {"no public_ip", true, s_no_ip},
    {"other provider", true, s_other_provider},
    {"no provider", true, s_no_provider},
    {"public_ip and provider", true, s_ip_and_provider},
};

static void test_same_definition(void **state)
{
    (void)state;
    il_service_t *base = s_full(false);
    /* Listed in the other order: the same definition. */
    il_service_t *reversed = s_full(true);
    assert_same_service(base, reversed);
    il_service_destroy(&reversed);
    assert_true(il_service_same_definition(base, base));

    for (size_t i = 0; i < COUNT(s_same_cases); i++) {
        il_service_t *other = s_full(i % 2 == 1);
        s_same_cases[i].change(other);
        bool ab = il_service_same_definition(base, other),
             ba = il_service_same_definition(other, base);
        if (ab != s_same_cases[i].same || ba != s_same_cases[i].same)
            fail_msg("%s: same_definition %d/%d, expected %d", s_same_cases[i].what, ab, ba,
                     s_same_cases[i].same);
        il_service_destroy(&other);
    }
    il_service_destroy(&base);

    /* Two bare services. */
    il_service_t *x = il_service_new("x"), *y = il_service_new("y");
    assert_true(il_service_same_definition(x, y));
    y->tls = true;
    assert_false(il_service_same_definition(x, y));
    y->tls = false;
    y->port = 80;
    assert_false(il_service_same_definition(x, y));
    x->port = 80;
    assert_true(il_service_same_definition(x, y));
    char err[200];
    assert_int_equal(il_service_set_check(y, "http:/a", err, sizeof err), 0);
    assert_false(il_service_same_definition(x, y));
    assert_int_equal(il_service_set_check(x, "http:/b", err, sizeof err), 0);
    assert_false(il_service_same_definition(x, y));
    assert_int_equal(il_service_set_check(x, "http:/a", err, sizeof err), 0);
    assert_true(il_service_same_definition(x, y));
    il_service_destroy(&x);
    il_service_destroy(&y);
}

/* Encoding and decoding ------------------------------------------------------ */

static void test_pack_layout(void **state)
{
    (void)state;
    il_service_t *s = il_service_new("bare");
    doc_t doc;
    s_doc_service(&doc, s);
    const msgpack_object *m = &doc.up.data;
    assert_int_equal(m->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(m->via.map.size, 6);
    const char *nil_keys[] = {"provider", "public_ip"};
    for (size_t i = 0; i < COUNT(nil_keys); i++) {
        const msgpack_object *v = il_codec_map_get(m, nil_keys[i]);
        assert_non_null(v);
        assert_int_equal(v->type, MSGPACK_OBJECT_NIL);
    }
    const char *array_keys[] = {"targets", "dns_aliases"};
    for (size_t i = 0; i < COUNT(array_keys); i++) {
        const msgpack_object *v = il_codec_map_get(m, array_keys[i]);
        assert_non_null(v);
        assert_int_equal(v->type, MSGPACK_OBJECT_ARRAY);
        assert_int_equal(v->via.array.size, 0);
    }
    const msgpack_object *tls = il_codec_map_get(m, "tls");
    assert_non_null(tls);
    assert_true(tls->type == MSGPACK_OBJECT_BOOLEAN && !tls->via.boolean);
    /* No public port: no key at all, the map a peer that predates it knows. */
    assert_null(il_codec_map_get(m, "port"));
    assert_null(il_codec_map_get(m, "check"));
    s_doc_close(&doc);
    il_service_destroy(&s);

    s = s_full(false);
    s_doc_service(&doc, s);
    const msgpack_object *targets = il_codec_map_get(&doc.up.data, "targets");
    assert_non_null(targets);
    assert_int_equal(targets->via.array.size, 5);
    const msgpack_object *t0 = &targets->via.array.ptr[0];
    assert_int_equal(t0->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(t0->via.map.size, 3);
    const msgpack_object *port = il_codec_map_get(t0, "port");
    assert_non_null(port);
    assert_int_equal(port->via.u64, 80);
    /* The public port: the 7th key, an unsigned integer. */
    assert_int_equal(doc.up.data.via.map.size, 7);
    const msgpack_object *public_port = il_codec_map_get(&doc.up.data, "port");
    assert_non_null(public_port);
    assert_int_equal(public_port->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(public_port->via.u64, 8443);
    s_doc_close(&doc);
    /* A check: one more key, the normal form as a string. */
    char err[200];
    assert_int_equal(il_service_set_check(s, "http:/healthz 200-200", err, sizeof err), 0);
    s_doc_service(&doc, s);
    assert_int_equal(doc.up.data.via.map.size, 8);
    const msgpack_object *check = il_codec_map_get(&doc.up.data, "check");
    assert_non_null(check);
    assert_int_equal(check->type, MSGPACK_OBJECT_STR);
    assert_int_equal(check->via.str.size, strlen("http:/healthz 200"));
    assert_memory_equal(check->via.str.ptr, "http:/healthz 200", check->via.str.size);
    s_doc_close(&doc);
    il_service_destroy(&s);
}

static il_service_t *s_round_trip(const il_service_t *s)
{
    doc_t doc;
    s_doc_service(&doc, s);
    char err[256] = "";
    il_service_t *back = il_service_decode(&doc.up.data, err, sizeof err);
    if (!back) fail_msg("decode of a packed service refused: %s", err);
    s_doc_close(&doc);
    return back;
}

static void test_round_trip(void **state)
{
    (void)state;
    il_service_t *cases[12];
    cases[0] = s_full(false);
    cases[1] = il_service_new("bare");
    cases[2] = il_service_new("v6 and UTF-8 caf\xc3\xa9");
    assert_int_equal(il_service_set_string(&cases[2]->public_ip, "2001:db8::42"), 0);
    assert_int_equal(il_service_add_target(cases[2], "fe80::1", 8443, 7), 0);
    cases[3] = il_service_new("tls only");
    cases[3]->tls = true;
    cases[4] = il_service_new("many");
    for (int i = 0; i < IL_SERVICE_MAX_TARGETS; i++) {
        char host[32];
        snprintf(host, sizeof host, "10.%d.%d.1", i / 256, i % 256);
        assert_int_equal(il_service_add_target(cases[4], host, (uint16_t)(1000 + i), 1 + i), 0);
    }
    for (int i = 0; i < IL_SERVICE_MAX_ALIASES; i++) {
        char alias[32];
        snprintf(alias, sizeof alias, "alias%d.example", i);
        assert_int_equal(il_service_add_alias(cases[4], alias), 0);
    }
    /* Longest strings the decoder takes. */
    char name[IL_SERVICE_MAX_NAME + 1], host[IL_SERVICE_MAX_HOST + 1],
        alias[IL_SERVICE_MAX_ALIAS + 1], provider[IL_SERVICE_MAX_PROVIDER + 1];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    memset(host, 'h', sizeof host - 1);
    host[sizeof host - 1] = 0;
    memset(alias, 'a', sizeof alias - 1);
    alias[sizeof alias - 1] = 0;
    memset(provider, 'p', sizeof provider - 1);
    provider[sizeof provider - 1] = 0;
    cases[5] = il_service_new(name);
    assert_int_equal(il_service_add_target(cases[5], host, 65535, IL_SERVICE_MAX_WEIGHT), 0);
    assert_int_equal(il_service_add_alias(cases[5], alias), 0);
    assert_int_equal(il_service_set_string(&cases[5]->provider, provider), 0);
    assert_int_equal(il_service_set_string(&cases[5]->public_ip,
                                           "0000:0000:0000:0000:0000:ffff:192.168.100.228"),
                     0);
    assert_int_equal(strlen(cases[5]->public_ip), IL_SERVICE_MAX_IP);
    /* The public port's bounds. */
    cases[6] = il_service_new("port 1");
    cases[6]->port = 1;
    cases[7] = il_service_new("port 65535");
    cases[7]->port = 65535;
    /* Checks, the longest one included. */
    static const char *checks[] = {"tcp", "none", "http:/healthz 200-299", NULL};
    char err[200], longest[IL_SERVICE_MAX_CHECK + 1];
    memset(longest, 'p', sizeof longest);
    memcpy(longest, "http:/", 6);
    memcpy(longest + 5 + IL_SERVICE_MAX_CHECK_PATH, " 100-599", 9);
    assert_int_equal(strlen(longest), IL_SERVICE_MAX_CHECK);
    checks[3] = longest;
    for (int i = 0; i < 4; i++) {
        cases[8 + i] = s_full(i % 2);
        assert_int_equal(il_service_set_check(cases[8 + i], checks[i], err, sizeof err), 0);
        assert_string_equal(cases[8 + i]->check, checks[i]);
    }

    for (size_t i = 0; i < COUNT(cases); i++) {
        assert_non_null(cases[i]);
        il_service_t *back = s_round_trip(cases[i]);
        assert_same_service(cases[i], back);
        /* And again: the encoding is stable. */
        il_service_t *again = s_round_trip(back);
        assert_same_service(back, again);
        il_service_destroy(&again);
        il_service_destroy(&back);
        il_service_destroy(&cases[i]);
    }
}

static void test_decode_defaults(void **state)
{
    (void)state;
    const char *specs[] = {
        "{'name': 'web'}",
        "{'name': 'web', 'provider': nil, 'targets': nil, 'tls': nil, 'public_ip': nil, "
        "'dns_aliases': nil, 'port': nil, 'check': nil}",
        "{'name': 'web', 'provider': '', 'targets': [], 'tls': false, 'public_ip': '', "
        "'dns_aliases': [], 'check': ''}",
        /* Unknown keys of any type, and non-string keys, are ignored. */
        "{'version': 2, 'name': 'web', 'labels': {'a': [1, {'b': nil}]}, 7: 'seven', "
        "nil: true, 'TLS': true, 'Name': 'other', 'extra': -1.5}",
    };
    for (size_t i = 0; i < COUNT(specs); i++) {
        il_service_t *s = s_decode_spec(specs[i]);
        assert_string_equal(s->name, "web");
        assert_null(s->provider);
        assert_int_equal(s->target_count, 0);
        assert_false(s->tls);
        assert_null(s->public_ip);
        assert_int_equal(s->alias_count, 0);
        assert_int_equal(s->port, 0);
        assert_null(s->check);
        il_service_destroy(&s);
    }

    /* Weight is optional (1), or nil. */
    il_service_t *s = s_decode_spec("{'name': 'w', 'targets': [{'host': 'h', 'port': 1}, "
                                    "{'host': 'h', 'port': 2, 'weight': nil, 'x': 'ignored'}]}");
    assert_int_equal(s->target_count, 2);
    s_assert_target(s, 0, "h", 1, 1);
    s_assert_target(s, 1, "h", 2, 1);
    il_service_destroy(&s);
}

static void test_decode_normalizes(void **state)
{
    (void)state;
    il_service_t *s = s_decode_spec(
        "{'name': 'web', 'tls': true, 'provider': 'provider.docker', 'public_ip': '10.1.2.3', "
        " 'targets': [{'host': 'b', 'port': 80, 'weight': 2}, {'host': 'a', 'port': 443}, "
        "             {'host': 'a', 'port': 80, 'weight': 600000},"
        "             {'host': 'b', 'port': 80, 'weight': 3},"
        "             {'host': 'a', 'port': 80, 'weight': 600000}],"
        " 'dns_aliases': ['z.example', 'a.example', 'z.example', 'm.example']}");
    assert_true(s->tls);
    assert_string_equal(s->provider, "provider.docker");
    assert_string_equal(s->public_ip, "10.1.2.3");
    assert_int_equal(s->target_count, 3);
    s_assert_target(s, 0, "a", 80, IL_SERVICE_MAX_WEIGHT); /* 600000 twice, capped */
    s_assert_target(s, 1, "a", 443, 1);
    s_assert_target(s, 2, "b", 80, 5);
    assert_int_equal(s->alias_count, 3);
    assert_string_equal(s->dns_aliases[0], "a.example");
    assert_string_equal(s->dns_aliases[1], "m.example");
    assert_string_equal(s->dns_aliases[2], "z.example");
    il_service_destroy(&s);
}

/* The check's text: its normal form, and what is refused (the decoder's
 * cases above go through the same parser). */
static void test_check_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text, *normal;
    } ok[] = {{"tcp", "tcp"},
              {"none", "none"},
              {"http", "http"},
              {"http:/", "http:/"},
              {"http:/healthz", "http:/healthz"},
              {"http:/a?b=c&d=%20:@!*+,;()[]~-._", "http:/a?b=c&d=%20:@!*+,;()[]~-._"},
              {"http:/h 200", "http:/h 200"},
              {"http:/h 200-200", "http:/h 200"},
              {"http:/h 100-599", "http:/h 100-599"}};
    char err[200], out[IL_SERVICE_MAX_CHECK + 1];
    for (size_t i = 0; i < COUNT(ok); i++) {
        il_service_check_t c;
        if (il_service_check_parse(ok[i].text, &c, err, sizeof err))
            fail_msg("'%s' refused: %s", ok[i].text, err);
        il_service_check_format(&c, out, sizeof out);
        assert_string_equal(out, ok[i].normal);
    }
    il_service_check_t c;
    assert_int_equal(il_service_check_parse("http:/x/y 201-204", &c, err, sizeof err), 0);
    assert_int_equal(c.kind, IL_SERVICE_CHECK_HTTP);
    assert_string_equal(c.path, "/x/y");
    assert_int_equal(c.status_min, 201);
    assert_int_equal(c.status_max, 204);
    assert_int_equal(il_service_check_parse("http", &c, err, sizeof err), 0);
    assert_string_equal(c.path, "");
    assert_int_equal(c.status_min, 0);
    assert_int_equal(il_service_check_parse("none", &c, err, sizeof err), 0);
    assert_int_equal(c.kind, IL_SERVICE_CHECK_NONE);
    /* The path's bound: IL_SERVICE_MAX_CHECK_PATH bytes, not one more. */
    char text[IL_SERVICE_MAX_CHECK_PATH + 16];
    memset(text, 'a', sizeof text);
    memcpy(text, "http:/", 6);
    text[5 + IL_SERVICE_MAX_CHECK_PATH] = '\0';
    assert_int_equal(il_service_check_parse(text, &c, err, sizeof err), 0);
    text[5 + IL_SERVICE_MAX_CHECK_PATH] = 'a';
    text[6 + IL_SERVICE_MAX_CHECK_PATH] = '\0';
    assert_int_equal(il_service_check_parse(text, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 1024 bytes"));
    /* il_service_set_check: normal form; NULL and "" clear; a bad one leaves it. */
    il_service_t *s = il_service_new("web");
    assert_int_equal(il_service_set_check(s, "http:/h 404-404", err, sizeof err), 0);
    assert_string_equal(s->check, "http:/h 404");
    assert_int_equal(il_service_set_check(s, "http:/h 99", err, sizeof err), -1);
    assert_string_equal(s->check, "http:/h 404");
    assert_int_equal(il_service_set_check(s, "", err, sizeof err), 0);
    assert_null(s->check);
    assert_int_equal(il_service_set_check(s, "none", err, sizeof err), 0);
    assert_int_equal(il_service_set_check(s, NULL, err, sizeof err), 0);
    assert_null(s->check);
    il_service_destroy(&s);
    /* Decoded in its normal form. */
    s = s_decode_spec("{'name': 'web', 'check': 'http:/h 200-200'}");
    assert_string_equal(s->check, "http:/h 200");
    il_service_destroy(&s);
}

static void test_decode_port(void **state)
{
    (void)state;
    static const struct {
        const char *port;
        uint16_t expect;
    } cases[] = {{"1", 1}, {"80", 80}, {"8443", 8443}, {"65535", 65535}, {"nil", 0}};
    for (size_t i = 0; i < COUNT(cases); i++) {
        char spec[128];
        snprintf(spec, sizeof spec, "{'name': 'web', 'port': %s}", cases[i].port);
        il_service_t *s = s_decode_spec(spec);
        if (s->port != cases[i].expect)
            fail_msg("port %s decoded as %u, expected %u", cases[i].port, s->port, cases[i].expect);
        il_service_destroy(&s);
    }
    /* The public port and a target's port are different keys at different levels. */
    il_service_t *s =
        s_decode_spec("{'name': 'web', 'port': 443, 'targets': [{'host': 'h', 'port': 8080}]}");
    assert_int_equal(s->port, 443);
    s_assert_target(s, 0, "h", 8080, 1);
    il_service_destroy(&s);
}

typedef struct {
    const char *ip;
    const char *expect; /* decoded public_ip, NULL for none */
} ip_case_t;

static void test_decode_public_ip(void **state)
{
    (void)state;
    static const ip_case_t cases[] = {
        {"'10.0.0.1'", "10.0.0.1"},
        {"'0.0.0.0'", "0.0.0.0"},
        {"'255.255.255.255'", "255.255.255.255"},
        {"'::1'", "::1"},
        {"'::'", "::"},
        {"'2001:db8::1'", "2001:db8::1"},
        {"'::ffff:1.2.3.4'", "::ffff:1.2.3.4"},
        {"''", NULL},
        {"nil", NULL},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char spec[128];
        snprintf(spec, sizeof spec, "{'name': 'web', 'public_ip': %s}", cases[i].ip);
        il_service_t *s = s_decode_spec(spec);
        if (cases[i].expect)
            assert_string_equal(s->public_ip, cases[i].expect);
        else
            assert_null(s->public_ip);
        il_service_destroy(&s);
    }
    const char *valid[] = {"1.2.3.4", "::", "fe80::1", "2001:db8:0:0:0:0:0:1"};
    for (size_t i = 0; i < COUNT(valid); i++)
        assert_true(il_service_ip_valid(valid[i]));
    const char *invalid[] = {"",           "1.2.3",    "1.2.3.4.5",         "256.1.1.1",
                             "1.2.3.4/24", "::g",      "1:2:3:4:5:6:7:8:9", "host.example",
                             " 1.2.3.4",   "1.2.3.4 ", "fe80::1%eth0"};
    for (size_t i = 0; i < COUNT(invalid); i++)
        if (il_service_ip_valid(invalid[i])) fail_msg("'%s' taken as an IP", invalid[i]);
    assert_false(il_service_ip_valid(NULL));
}

typedef struct {
    const char *spec;
    const char *expect; /* substring of err: names the field */
} refuse_case_t;

static const refuse_case_t s_refused[] = {
    /* Not a map. */
    {"[]", "service: expected a map"},
    {"'web'", "service: expected a map"},
    {"nil", "service: expected a map"},
    /* name */
    {"{}", "service.name: missing"},
    {"{'tls': true, 'targets': []}", "service.name: missing"},
    {"{'name': nil}", "service.name: missing"},
    {"{'name': ''}", "service.name: empty"},
    {"{'name': 'n'*256}", "service.name: string of 256 bytes exceeds 255"},
    {"{'name': 5}", "service.name: expected a string"},
    {"{'name': ['web']}", "service.name: expected a string"},
    {"{'name': {'web': 1}}", "service.name: expected a string"},
    {"{'name': 'a\nb'}", "service.name: not UTF-8 text"},
    {"{'name': 'caf\xc3'}", "service.name: not UTF-8 text"},
    /* provider */
    {"{'name': 'web', 'provider': 'p'*65}", "service.provider: string of 65 bytes exceeds 64"},
    {"{'name': 'web', 'provider': true}", "service.provider: expected a string"},
    /* targets */
    {"{'name': 'web', 'targets': {}}", "service.targets: expected an array"},
    {"{'name': 'web', 'targets': 'h:80'}", "service.targets: expected an array"},
    {"{'name': 'web', 'targets': 1}", "service.targets: expected an array"},
    {"{'name': 'web', 'targets': [1]}", "service.targets[0]: expected a map"},
    {"{'name': 'web', 'targets': [nil]}", "service.targets[0]: expected a map"},
    {"{'name': 'web', 'targets': [{'host': 'a', 'port': 1}, ['b', 2]]}",
     "service.targets[1]: expected a map"},
    {"{'name': 'web', 'targets': [{'host': 'h', 'port': 0}]}",
     "service.targets[0]: port: expected an integer from 1 to 65535"},
    {"{'name': 'web', 'targets': [{'host': 'h', 'port': 70000}]}",
     "service.targets[0]: port: expected an integer from 1 to 65535"},
    {"{'name': 'web', 'targets': [{'host': 'h', 'port': 65536}]}",
     "service.targets[0]: port: expected an integer"},
    {"{'name': 'web', 'targets': [{'host': 'h', 'port': '80'}]}",
     "service.targets[0]: port: expected an integer"},
    {"{'name': 'web', 'targets': [{'host': 'h', 'port': -80}]}",
     "service.targets[0]: port: expected an integer"},
    {"{'name': 'web', 'targets': [{'host': 'h', 'port': 80.0}]}",
     "service.targets[0]: port: expected an integer"},
    {"{'name': 'web', 'targets': [{'host': 'h'}]}", "service.targets[0]: port: missing"},
    {"{'name': 'web', 'targets': [{'host': 'h', 'port': nil}]}",
     "service.targets[0]: port: missing"},
    {"{'name': 'web', 'targets': [{'host': 'h', 'port': 80, 'weight': 0}]}",
     "service.targets[0]: weight: expected an integer from 1 to 1000000"},
    {"{'name': 'web', 'targets': [{'host': 'h', 'port': 80, 'weight': 1000001}]}",
     "service.targets[0]: weight: expected an integer from 1 to 1000000"},
    {"{'name': 'web', 'targets': [{'host': 'h', 'port': 80, 'weight': '1'}]}",
     "service.targets[0]: weight: expected an integer"},
    {"{'name': 'web', 'targets': [{'host': '', 'port': 80}]}", "service.targets[0]: host: empty"},
    {"{'name': 'web', 'targets': [{'port': 80}]}", "service.targets[0]: host: missing"},
    {"{'name': 'web', 'targets': [{'host': 10, 'port': 80}]}",
     "service.targets[0]: host: expected a string"},
    {"{'name': 'web', 'targets': [{'host': 'h'*256, 'port': 80}]}",
     "service.targets[0]: host: string of 256 bytes exceeds 255"},
    {"{'name': 'web', 'targets': [{'host': 'a\tb', 'port': 80}]}",
     "service.targets[0]: host: not UTF-8"},
    {"{'name': 'web', 'targets': [{'host': 'a', 'port': 1}, {'host': 'b', 'port': 1}, "
     "{'host': 'c', 'port': 0}]}",
     "service.targets[2]: port"},
    /* dns_aliases */
    {"{'name': 'web', 'dns_aliases': 'a.example'}", "service.dns_aliases: expected an array"},
    {"{'name': 'web', 'dns_aliases': {}}", "service.dns_aliases: expected an array"},
    {"{'name': 'web', 'dns_aliases': ['']}", "service.dns_aliases[0]: empty name"},
    {"{'name': 'web', 'dns_aliases': ['a', '']}", "service.dns_aliases[1]: empty name"},
    {"{'name': 'web', 'dns_aliases': [1]}", "service.dns_aliases[0]: expected a string"},
    {"{'name': 'web', 'dns_aliases': ['a', nil]}", "service.dns_aliases[1]: expected a string"},
    {"{'name': 'web', 'dns_aliases': [['a']]}", "service.dns_aliases[0]: expected a string"},
    {"{'name': 'web', 'dns_aliases': ['a'*254]}",
     "service.dns_aliases[0]: string of 254 bytes exceeds 253"},
    {"{'name': 'web', 'dns_aliases': ['a\x7f']}", "service.dns_aliases[0]: not UTF-8"},
    /* public_ip */
    {"{'name': 'web', 'public_ip': '1.2.3'}", "service.public_ip: '1.2.3' is not an IP address"},
    {"{'name': 'web', 'public_ip': '256.0.0.1'}", "service.public_ip: '256.0.0.1' is not"},
    {"{'name': 'web', 'public_ip': 'localhost'}", "service.public_ip: 'localhost' is not"},
    {"{'name': 'web', 'public_ip': '10.0.0.0/8'}", "service.public_ip: '10.0.0.0/8' is not"},
    {"{'name': 'web', 'public_ip': ' '}", "service.public_ip: ' ' is not"},
    {"{'name': 'web', 'public_ip': 3232235777}", "service.public_ip: expected a string"},
    {"{'name': 'web', 'public_ip': '1'*46}", "service.public_ip: string of 46 bytes exceeds 45"},
    /* tls */
    {"{'name': 'web', 'tls': 1}", "service.tls: expected a boolean"},
    {"{'name': 'web', 'tls': 'true'}", "service.tls: expected a boolean"},
    {"{'name': 'web', 'tls': []}", "service.tls: expected a boolean"},
    /* port (the public port): 0 is not "none", absent or nil is */
    {"{'name': 'web', 'port': 0}", "service.port: expected an integer from 1 to 65535"},
    {"{'name': 'web', 'port': 65536}", "service.port: expected an integer from 1 to 65535"},
    {"{'name': 'web', 'port': 4294967296}", "service.port: expected an integer"},
    {"{'name': 'web', 'port': -80}", "service.port: expected an integer"},
    {"{'name': 'web', 'port': '80'}", "service.port: expected an integer"},
    {"{'name': 'web', 'port': 80.0}", "service.port: expected an integer"},
    {"{'name': 'web', 'port': true}", "service.port: expected an integer"},
    {"{'name': 'web', 'port': [80]}", "service.port: expected an integer"},
    /* check: a known kind, the path and statuses healthCheckPath/Expect take */
    {"{'name': 'web', 'check': 'tcp '}", "service.check: 'tcp ': must be tcp, none, http"},
    {"{'name': 'web', 'check': 'HTTP'}", "service.check: 'HTTP': must be tcp, none, http"},
    {"{'name': 'web', 'check': 'udp'}", "service.check: 'udp': must be tcp"},
    {"{'name': 'web', 'check': 'http:'}", "service.check: '': not a URI path"},
    {"{'name': 'web', 'check': 'http:healthz'}", "service.check: 'healthz': not a URI path"},
    {"{'name': 'web', 'check': 'http:/a#b'}", "service.check: '/a#b': not a URI path"},
    {"{'name': 'web', 'check': 'http:/a\"b'}", "not a URI path"},
    {"{'name': 'web', 'check': 'http:/a$b'}", "not a URI path"},
    {"{'name': 'web', 'check': 'http:/a\\\\b'}", "not a URI path"},
    {"{'name': 'web', 'check': 'http:/a  200'}", "service.check: ' 200': not a status"},
    {"{'name': 'web', 'check': 'http:/a '}", "service.check: '': not a status"},
    {"{'name': 'web', 'check': 'http:/a 99'}", "'99': not a status"},
    {"{'name': 'web', 'check': 'http:/a 600'}", "'600': not a status"},
    {"{'name': 'web', 'check': 'http:/a 300-200'}", "'300-200': not a status"},
    {"{'name': 'web', 'check': 'http:/a 200-'}", "'200-': not a status"},
    {"{'name': 'web', 'check': 'http:/a 200-399 x'}", "not a status"},
    {"{'name': 'web', 'check': 'http:/a 2000'}", "not a status"},
    {"{'name': 'web', 'check': 7}", "service.check: expected a string"},
    {"{'name': 'web', 'check': ['tcp']}", "service.check: expected a string"},
    {"{'name': 'web', 'check': 'http:/	'}", "service.check: not UTF-8 text"},
    {"{'name': 'web', 'check': '/'*1038}", "service.check"},
};

static void test_decode_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(s_refused); i++) {
        doc_t doc;
        s_doc_spec(&doc, s_refused[i].spec);
        char err[256] = "";
        il_service_t *s = il_service_decode(&doc.up.data, err, sizeof err);
        if (s) {
            il_service_destroy(&s);
            fail_msg("accepted: %s", s_refused[i].spec);
        }
        if (!strstr(err, s_refused[i].expect))
            fail_msg("%s\n  error '%s' does not contain '%s'", s_refused[i].spec, err,
                     s_refused[i].expect);
        s_doc_close(&doc);
    }
    char err[64] = "";
    assert_null(il_service_decode(NULL, err, sizeof err));
    assert_string_equal(err, "service: expected a map");
}

/* A RESULT's service as the core reads it: the cases il_service_decode refuses
 * for the name or the public_ip are refused with the same reason; those about
 * the fields a RESULT cannot change (provider, targets, tls, aliases) are
 * accepted, and the service has only its name and public_ip. */
static void test_decode_result(void **state)
{
    (void)state;
    int refused = 0, accepted = 0;
    for (size_t i = 0; i < COUNT(s_refused); i++) {
        doc_t doc;
        s_doc_spec(&doc, s_refused[i].spec);
        char err[256] = "";
        il_service_t *s = il_service_decode_result(&doc.up.data, err, sizeof err);
        bool head = !strcmp(s_refused[i].expect, "service: expected a map") ||
                    strstr(s_refused[i].expect, "service.name") ||
                    strstr(s_refused[i].expect, "service.public_ip");
        if (head) {
            if (s) fail_msg("accepted: %s", s_refused[i].spec);
            if (!strstr(err, s_refused[i].expect))
                fail_msg("%s\n  error '%s' does not contain '%s'", s_refused[i].spec, err,
                         s_refused[i].expect);
            refused++;
        } else {
            if (!s) fail_msg("refused: %s (%s)", s_refused[i].spec, err);
            assert_string_equal(s->name, "web");
            assert_int_equal(s->target_count, 0);
            assert_int_equal(s->alias_count, 0);
            assert_null(s->provider);
            assert_int_equal(s->port, 0); /* not read: a RESULT cannot change it */
            accepted++;
        }
        il_service_destroy(&s);
        s_doc_close(&doc);
    }
    assert_true(refused >= 10);
    assert_true(accepted >= 10);
    doc_t doc;
    s_doc_spec(&doc, "{'name': 'web', 'public_ip': '10.1.2.3', 'targets': 1}");
    char err[128] = "";
    assert_null(il_service_decode(&doc.up.data, err, sizeof err)); /* the full decoder refuses it */
    il_service_t *s = il_service_decode_result(&doc.up.data, err, sizeof err);
    assert_non_null(s);
    assert_string_equal(s->public_ip, "10.1.2.3");
    il_service_destroy(&s);
    s_doc_close(&doc);
    s_doc_spec(&doc, "{'name': 'web', 'public_ip': ''}");
    s = il_service_decode_result(&doc.up.data, err, sizeof err);
    assert_non_null(s);
    assert_null(s->public_ip);
    il_service_destroy(&s);
    s_doc_close(&doc);
    assert_null(il_service_decode_result(NULL, err, sizeof err));
    assert_string_equal(err, "service: expected a map");
}

/* {name: 'web', key: [count items made by item(i)]} */
static void s_doc_list(doc_t *doc, const char *key, int count,
                       void (*item)(msgpack_packer *pk, int i))
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    il_codec_pack_key_str(&pk, "name", "web");
    il_codec_pack_str(&pk, key);
    msgpack_pack_array(&pk, (size_t)count);
    for (int i = 0; i < count; i++)
        item(&pk, i);
    s_doc_from_buffer(doc, &sb);
}

static void s_target_item(msgpack_packer *pk, int i)
{
    msgpack_pack_map(pk, 2);
    il_codec_pack_key_str(pk, "host", "h");
    il_codec_pack_key_uint(pk, "port", (uint64_t)i + 1);
}

static void s_alias_item(msgpack_packer *pk, int i)
{
    char name[32];
    snprintf(name, sizeof name, "a%d", i);
    il_codec_pack_str(pk, name);
}

static void test_decode_limits(void **state)
{
    (void)state;
    struct {
        const char *key;
        int max;
        void (*item)(msgpack_packer *pk, int i);
        const char *expect;
    } lists[] = {
        {"targets", IL_SERVICE_MAX_TARGETS, s_target_item,
         "service.targets: more than 1024 targets"},
        {"dns_aliases", IL_SERVICE_MAX_ALIASES, s_alias_item,
         "service.dns_aliases: more than 256 names"},
    };
    for (size_t i = 0; i < COUNT(lists); i++) {
        doc_t doc;
        char err[256] = "";
        s_doc_list(&doc, lists[i].key, lists[i].max, lists[i].item);
        il_service_t *s = il_service_decode(&doc.up.data, err, sizeof err);
        if (!s) fail_msg("%d %s refused: %s", lists[i].max, lists[i].key, err);
        assert_int_equal(i == 0 ? s->target_count : s->alias_count, lists[i].max);
        il_service_destroy(&s);
        s_doc_close(&doc);

        s_doc_list(&doc, lists[i].key, lists[i].max + 1, lists[i].item);
        assert_null(il_service_decode(&doc.up.data, err, sizeof err));
        assert_string_equal(err, lists[i].expect);
        s_doc_close(&doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_destroy),      cmocka_unit_test(test_add_target),
        cmocka_unit_test(test_target_limit),     cmocka_unit_test(test_add_alias),
        cmocka_unit_test(test_set_string),       cmocka_unit_test(test_dup),
        cmocka_unit_test(test_normalize),        cmocka_unit_test(test_same_definition),
        cmocka_unit_test(test_pack_layout),      cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_decode_defaults),  cmocka_unit_test(test_decode_normalizes),
        cmocka_unit_test(test_decode_public_ip), cmocka_unit_test(test_decode_refused),
        cmocka_unit_test(test_decode_limits),    cmocka_unit_test(test_decode_result),
        cmocka_unit_test(test_decode_port),      cmocka_unit_test(test_check_parse),
    };
    return test_run_group(tests, NULL, NULL);
}
