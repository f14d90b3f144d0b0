/* test_lb_plan: unit tests of extensions/lb/lb_plan: when a reload is
 * needed, and the server operations from one backend to another. */
#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "extensions/lb/lb_plan.h"
#include "extensions/lb/lb_render.h"

static il_service_t *s_service(const char *name, const char *ip, uint16_t port)
{
    il_service_t *s = il_service_new(name);
    il_service_set_string(&s->public_ip, ip);
    s->port = port;
    return s;
}

static void test_frontends(void **state)
{
    (void)state;
    zhashx_t *a = lb_render_state_new(), *b = lb_render_state_new();
    assert_false(lb_plan_frontends_differ(a, b));
    zhashx_insert(a, "web", s_service("web", "10.0.0.1", 80));
    assert_true(lb_plan_frontends_differ(a, b)); /* added */
    assert_true(lb_plan_frontends_differ(b, a)); /* removed */
    il_service_t *w = s_service("web", "10.0.0.1", 80);
    il_service_add_target(w, "10.0.1.1", 8080, 1);
    zhashx_insert(b, "web", w);
    assert_false(lb_plan_frontends_differ(a, b)); /* targets only */
    w->port = 81;
    assert_true(lb_plan_frontends_differ(a, b));
    w->port = 80;
    w->tls = true;
    assert_true(lb_plan_frontends_differ(a, b));
    w->tls = false;
    il_service_set_string(&w->public_ip, "10.0.0.2");
    assert_true(lb_plan_frontends_differ(a, b));
    zhashx_destroy(&a);
    zhashx_destroy(&b);
}

static void test_servers(void **state)
{
    (void)state;
    il_service_t *from = s_service("web", "10.0.0.1", 80);
    il_service_t *to = s_service("web", "10.0.0.1", 80);
    il_service_add_target(from, "10.0.1.1", 80, 1); /* stays */
    il_service_add_target(from, "10.0.1.2", 80, 1); /* reweighted */
    il_service_add_target(from, "10.0.1.3", 80, 1); /* removed */
    il_service_add_target(to, "10.0.1.1", 80, 1);
    il_service_add_target(to, "10.0.1.2", 80, 5);
    il_service_add_target(to, "10.0.1.2", 81, 1); /* added: same host, other port */
    il_service_add_target(to, "10.0.1.4", 80, 1); /* added */
    lb_plan_op_t *ops = NULL;
    size_t n = 0;
    lb_plan_servers(from, to, &ops, &n);
    assert_int_equal(n, 4);
    assert_int_equal(ops[0].kind, LB_PLAN_WEIGHT);
    assert_string_equal(ops[0].target->host, "10.0.1.2");
    assert_int_equal(ops[0].target->weight, 5);
    assert_int_equal(ops[1].kind, LB_PLAN_ADD);
    assert_int_equal(ops[1].target->port, 81);
    assert_int_equal(ops[2].kind, LB_PLAN_REMOVE);
    assert_string_equal(ops[2].target->host, "10.0.1.3");
    assert_ptr_equal(ops[2].service, from);
    assert_int_equal(ops[3].kind, LB_PLAN_ADD);
    assert_string_equal(ops[3].target->host, "10.0.1.4");
    free(ops);
    ops = NULL;
    n = 0;
    lb_plan_servers(to, to, &ops, &n);
    assert_int_equal(n, 0);
    il_service_t *none = s_service("web", "10.0.0.1", 80);
    lb_plan_servers(to, none, &ops, &n); /* scaled to zero: every server goes */
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ops[i].kind, LB_PLAN_REMOVE);
    free(ops);
    il_service_destroy(&none);
    il_service_destroy(&from);
    il_service_destroy(&to);
}

/* Targets that are host names go through a reload (HAProxy resolves them
 * when it loads its file; its runtime API takes addresses). */
static void test_needs_reload(void **state)
{
    (void)state;
    zhashx_t *a = lb_render_state_new(), *b = lb_render_state_new();
    il_service_t *w = s_service("web", "10.0.0.1", 80);
    il_service_add_target(w, "10.0.1.1", 80, 1);
    zhashx_insert(a, "web", w);
    il_service_t *v = il_service_dup(w);
    il_service_add_target(v, "10.0.1.2", 80, 1);
    zhashx_insert(b, "web", v);
    assert_false(lb_plan_needs_reload(a, b)); /* addresses: the runtime API */
    il_service_add_target(v, "app.example.test", 80, 1);
    assert_true(lb_plan_needs_reload(a, b));
    il_service_t *n = il_service_dup(v); /* unchanged, with a name: nothing to do */
    zhashx_destroy(&a);
    a = lb_render_state_new();
    zhashx_insert(a, "web", n);
    assert_false(lb_plan_needs_reload(a, b));
    zhashx_destroy(&a);
    zhashx_destroy(&b);
}

/* A change of a service's check is in its backend's lines: a reload. */
static void test_check_reload(void **state)
{
    (void)state;
    char err[200];
    zhashx_t *a = lb_render_state_new(), *b = lb_render_state_new();
    il_service_t *w = s_service("web", "10.0.0.1", 80);
    il_service_add_target(w, "10.0.1.1", 80, 1);
    zhashx_insert(a, "web", w);
    il_service_t *v = il_service_dup(w);
    zhashx_insert(b, "web", v);
    assert_false(lb_plan_needs_reload(a, b));
    assert_int_equal(il_service_set_check(v, "http:/healthz", err, sizeof err), 0);
    assert_true(lb_plan_needs_reload(a, b));
    assert_false(lb_plan_frontends_differ(a, b)); /* the frontend is the same */
    assert_int_equal(il_service_set_check(w, "http:/healthz", err, sizeof err), 0);
    assert_false(lb_plan_needs_reload(a, b));
    assert_int_equal(il_service_set_check(v, "http:/healthz 200", err, sizeof err), 0);
    assert_true(lb_plan_needs_reload(a, b));
    assert_int_equal(il_service_set_check(v, NULL, err, sizeof err), 0);
    assert_true(lb_plan_needs_reload(a, b));
    zhashx_destroy(&a);
    zhashx_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frontends), cmocka_unit_test(test_servers),
        cmocka_unit_test(test_needs_reload), cmocka_unit_test(test_check_reload)};
    return test_run_group(tests, NULL, NULL);
}
