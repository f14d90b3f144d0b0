/* service_asserts: cmocka assertions on il_service_t values, shared by the
 * tests of the service model and of the messages that carry it. */
#ifndef INTERLOOK_SERVICE_ASSERTS_H
#define INTERLOOK_SERVICE_ASSERTS_H

#include "common/service.h"
#include "tests/support/asserts.h"

#include <stdbool.h>

/* a and b are both NULL, or equal strings; field names them in the failure. */
static inline void assert_same_string(const char *a, const char *b, const char *field)
{
    if (!a || !b) {
        if (a != b) fail_msg("%s: '%s' vs '%s'", field, a ? a : "(null)", b ? b : "(null)");
        return;
    }
    if (strcmp(a, b)) fail_msg("%s: '%s' vs '%s'", field, a, b);
}

/* a and b are both NULL, or two services with every field equal and no
 * pointer shared (a copy or a decoded one, never the same object). */
static inline void assert_same_service(const il_service_t *a, const il_service_t *b)
{
    if (!a || !b) {
        if (a != b) fail_msg("service: one is NULL");
        return;
    }
    assert_ptr_not_equal(a, b);
    assert_same_string(a->name, b->name, "service.name");
    assert_ptr_not_equal(a->name, b->name);
    assert_same_string(a->provider, b->provider, "service.provider");
    assert_same_string(a->public_ip, b->public_ip, "service.public_ip");
    assert_int_equal(a->tls, b->tls);
    assert_int_equal(a->port, b->port);
    assert_same_string(a->check, b->check, "service.check");
    assert_int_equal(a->target_count, b->target_count);
    for (size_t i = 0; i < a->target_count; i++) {
        assert_same_string(a->targets[i].host, b->targets[i].host, "service.targets[].host");
        assert_ptr_not_equal(a->targets[i].host, b->targets[i].host);
        assert_int_equal(a->targets[i].port, b->targets[i].port);
        assert_int_equal(a->targets[i].weight, b->targets[i].weight);
    }
    assert_int_equal(a->alias_count, b->alias_count);
    for (size_t i = 0; i < a->alias_count; i++) {
        assert_same_string(a->dns_aliases[i], b->dns_aliases[i], "service.dns_aliases[]");
        assert_ptr_not_equal(a->dns_aliases[i], b->dns_aliases[i]);
    }
    assert_true(il_service_same_definition(a, b));
    assert_true(il_service_same_definition(b, a));
}

#endif
