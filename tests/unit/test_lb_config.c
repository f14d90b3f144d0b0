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
    assert_int_equal(c.check, LB_CONFIG_CHECK_TCP);
    assert_string_equal(c.check_path, "/");
    assert_int_equal(c.check_status_min, 200);
    assert_int_equal(c.check_status_max, 399);
    assert_int_equal(c.timeout_connect_ms, 5000);
    assert_int_equal(c.timeout_client_ms, 60000);
    assert_int_equal(c.timeout_server_ms, 60000);
    assert_int_equal(c.timeout_request_ms, 10000);
    assert_int_equal(c.timeout_tunnel_ms, 3600000);
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
    cfg = s_cfg("lb:\n  haproxy:\n    healthCheck: http\n    healthCheckPath: /healthz\n"
                "    healthCheckExpect: \"204\"\n    timeouts:\n      connect: 250ms\n"
                "      client: 5m\n      server: 2m\n      httpRequest: 30s\n"
                "      tunnel: 24h\n");
    assert_int_equal(lb_config_load(&c, cfg, err, sizeof err), 0);
    assert_int_equal(c.check, LB_CONFIG_CHECK_HTTP);
    assert_string_equal(c.check_path, "/healthz");
    assert_int_equal(c.check_status_min, 204);
    assert_int_equal(c.check_status_max, 204);
    assert_int_equal(c.timeout_connect_ms, 250);
    assert_int_equal(c.timeout_client_ms, 300000);
    assert_int_equal(c.timeout_server_ms, 120000);
    assert_int_equal(c.timeout_request_ms, 30000);
    assert_int_equal(c.timeout_tunnel_ms, 86400000);
    il_config_destroy(&cfg);
    cfg = s_cfg("lb:\n  haproxy:\n    healthCheck: none\n    healthCheckExpect: 200-599\n");
    assert_int_equal(lb_config_load(&c, cfg, err, sizeof err), 0);
    assert_int_equal(c.check, LB_CONFIG_CHECK_NONE);
    assert_int_equal(c.check_status_max, 599);
    il_config_destroy(&cfg);
}

/* Each bad health-check or timeout value is named with its key, all at once. */
static void test_bad_checks(void **state)
{
    (void)state;
    il_config_t *cfg = s_cfg("lb:\n  haproxy:\n    healthCheck: https\n"
                             "    healthCheckPath: \"/a b\"\n    healthCheckExpect: 2xx\n"
                             "    timeouts:\n      connect: 10ms\n      client: 25h\n"
                             "      server: soon\n      httpRequest: 0s\n      tunnel: 169h\n");
    lb_config_t c;
    char err[4096];
    assert_int_equal(lb_config_load(&c, cfg, err, sizeof err), -1);
    assert_contains(err, "t.yml:3: lb.haproxy.healthCheck: 'https': must be tcp, http or none");
    assert_contains(err, "lb.haproxy.healthCheckPath: '/a b': must be a URI path");
    assert_contains(err, "lb.haproxy.healthCheckExpect: '2xx': must be a status or a range");
    assert_contains(err, "lb.haproxy.timeouts.connect: must be 100ms..600s");
    assert_contains(err, "lb.haproxy.timeouts.client: must be 1000ms..86400s");
    assert_contains(err, "lb.haproxy.timeouts.server");
    assert_contains(err, "lb.haproxy.timeouts.httpRequest: must be 1000ms..600s");
    assert_contains(err, "lb.haproxy.timeouts.tunnel: must be 1000ms..604800s");
    il_config_destroy(&cfg);
    static const char *const bad[][2] = {
        {"healthCheckPath: healthz", "healthCheckPath: 'healthz'"},
        {"healthCheckPath: \"/a#b\"", "healthCheckPath: '/a#b'"},
        {"healthCheckPath: \"/$x\"", "healthCheckPath: '/$x'"},
        {"healthCheckPath: \"\"", "healthCheckPath: ''"},
        {"healthCheckExpect: 99", "healthCheckExpect: '99'"},
        {"healthCheckExpect: 600", "healthCheckExpect: '600'"},
        {"healthCheckExpect: 399-200", "healthCheckExpect: '399-200'"},
        {"healthCheckExpect: 2000", "healthCheckExpect: '2000'"},
        {"healthCheckExpect: 200-", "healthCheckExpect: '200-'"},
        {"healthCheckExpect: \"-200\"", "healthCheckExpect: '-200'"},
        {"timeouts: 5s", "lb.haproxy.timeouts"},
        {"timeouts:\n      conect: 5s", "lb.haproxy.timeouts.conect: unknown key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "lb:\n  haproxy:\n    %s\n", bad[i][0]);
        cfg = s_cfg(yaml);
        err[0] = '\0';
        if (lb_config_load(&c, cfg, err, sizeof err) != -1) fail_msg("accepted: %s", bad[i][0]);
        assert_contains(err, bad[i][1]);
        il_config_destroy(&cfg);
    }
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
                                       cmocka_unit_test(test_values), cmocka_unit_test(test_bad),
                                       cmocka_unit_test(test_bad_checks)};
    return test_run_group(tests, NULL, NULL);
}
