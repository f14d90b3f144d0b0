/* test_lb_config: unit tests of extensions/lb/lb_config (the lb.haproxy
 * section): defaults, each key, and every bad key named at once. */
#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "extensions/lb/lb_config.h"

static il_config_t *s_cfg(const char *text)
{
    char err[512] = "";
    il_config_t *cfg = il_config_load_string(text, "t.yml", err, sizeof err);
    if (!cfg) fail_msg("YAML refused: %s", err);
    return cfg;
}

static void test_defaults(void **state)
{
    (void)state;
    il_config_t *cfg = s_cfg("core:\n  workflowSteps: provider.docker\n");
    lb_config_t c;
    char err[2048];
    assert_int_equal(lb_config_load(&c, cfg, err, sizeof err), 0);
    assert_string_equal(c.master_socket, "/run/haproxy-master.sock");
    assert_string_equal(c.runtime_socket, "/run/haproxy/admin.sock");
    assert_string_equal(c.config_file, "/etc/haproxy/interlook.cfg");
    assert_string_equal(c.haproxy, "/usr/sbin/haproxy");
    assert_null(c.vip_interface);
    assert_true(c.announce);
    assert_int_equal(c.health_ms, 2000);
    assert_int_equal(c.timeout_ms, 5000);
    assert_int_equal(c.drain_ms, 30000);
    assert_int_equal(c.watch_ms, 1000);
    assert_int_equal(c.credit, 64);
    assert_string_equal(c.name, "lb.haproxy");
    assert_string_equal(c.log_level, "info");
    il_config_destroy(&cfg);
}

static void test_values(void **state)
{
    (void)state;
    il_config_t *cfg = s_cfg("lb:\n  haproxy:\n    masterSocket: /tmp/m.sock\n"
                             "    runtimeSocket: /tmp/a.sock\n    configFile: /tmp/il.cfg\n"
                             "    haproxy: /opt/haproxy\n    vipInterface: eth0\n"
                             "    announce: false\n    healthInterval: 500ms\n    timeout: 2s\n"
                             "    drainTimeout: 0s\n    watchInterval: 200ms\n    credit: 8\n"
                             "    name: lb.edge1\n    logLevel: debug\n");
    lb_config_t c;
    char err[2048];
    assert_int_equal(lb_config_load(&c, cfg, err, sizeof err), 0);
    assert_string_equal(c.master_socket, "/tmp/m.sock");
    assert_string_equal(c.runtime_socket, "/tmp/a.sock");
    assert_string_equal(c.config_file, "/tmp/il.cfg");
    assert_string_equal(c.haproxy, "/opt/haproxy");
    assert_string_equal(c.vip_interface, "eth0");
    assert_false(c.announce);
    assert_int_equal(c.health_ms, 500);
    assert_int_equal(c.timeout_ms, 2000);
    assert_int_equal(c.drain_ms, 0);
    assert_int_equal(c.watch_ms, 200);
    assert_int_equal(c.credit, 8);
    assert_string_equal(c.name, "lb.edge1");
    il_config_destroy(&cfg);
}

static void test_bad(void **state)
{
    (void)state;
    il_config_t *cfg = s_cfg("lb:\n  haproxy:\n    masterSocket: relative.sock\n"
                             "    configFile: \"\"\n    vipInterface: \"eth 0\"\n"
                             "    announce: maybe\n    healthInterval: 10ms\n    credit: 0\n"
                             "    tiemout: 2s\n");
    lb_config_t c;
    char err[4096];
    assert_int_equal(lb_config_load(&c, cfg, err, sizeof err), -1);
    assert_contains(err, "lb.haproxy.masterSocket: 'relative.sock': must be an absolute path");
    assert_contains(err, "lb.haproxy.configFile: '': must be an absolute path");
    assert_contains(err, "lb.haproxy.vipInterface: 'eth 0': not an interface name");
    assert_contains(err, "announce");
    assert_contains(err, "lb.haproxy.healthInterval: must be 100ms..");
    assert_contains(err, "credit");
    assert_contains(err, "tiemout");
    il_config_destroy(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_defaults),
                                       cmocka_unit_test(test_values), cmocka_unit_test(test_bad)};
    return test_run_group(tests, NULL, NULL);
}
