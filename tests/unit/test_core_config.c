/* test_core_config: unit tests of core/core_config (the core section of the
 * configuration: defaults, every key, every refusal with its message, the
 * environment overrides). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_config.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A loaded configuration and the core section read from it. */
typedef struct {
    il_config_t *cfg;
    core_config_t core;
    char err[1024];
    int rc;
} s_loaded_t;

static void s_load(s_loaded_t *l, const char *text)
{
    memset(l, 0, sizeof *l);
    l->cfg = il_config_load_string(text, "test.yml", l->err, sizeof l->err);
    if (!l->cfg) fail_msg("YAML refused: %s", l->err);
    l->rc = core_config_load(&l->core, l->cfg, l->err, sizeof l->err);
}

static void s_close(s_loaded_t *l)
{
    core_config_clear(&l->core);
    il_config_destroy(&l->cfg);
}

static int s_unset_env(void **state)
{
    (void)state;
    unsetenv("INTERLOOK_LISTEN");
    unsetenv("INTERLOOK_BUS_ROUTER");
    unsetenv("INTERLOOK_BUS_PUBLISH");
    unsetenv("INTERLOOK_BUS_INSECURE");
    unsetenv("INTERLOOK_CORE_STORE");
    unsetenv("INTERLOOK_CORE_ID");
    unsetenv("INTERLOOK_ETCD_ENDPOINTS");
    unsetenv("INTERLOOK_ETCD_PREFIX");
    unsetenv("INTERLOOK_BUS_BIND_ROUTER");
    unsetenv("INTERLOOK_BUS_BIND_PUBLISH");
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    s_loaded_t l;
    s_load(&l, "other: { x: 1 }\n"); /* no core section at all */
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.core.log_level, IL_LOG_INFO);
    assert_string_equal(l.core.log_file, "stdout");
    assert_string_equal(l.core.listen, "127.0.0.1:8080");
    assert_int_equal(l.core.nsteps, 2);
    assert_string_equal(l.core.steps[0], "provider.docker");
    assert_string_equal(l.core.steps[1], "ipam.ipalloc");
    assert_null(l.core.steps[2]);
    assert_string_equal(l.core.entries_file, "./var/entries.db");
    assert_int_equal(l.core.check_flow_ms, 1000);
    assert_int_equal(l.core.housekeeper_ms, 60000);
    assert_int_equal(l.core.wip_timeout_ms, 90000);
    assert_int_equal(l.core.max_last_updated_ms, 90000);
    assert_int_equal(l.core.clean_undeployed_ms, 600000);
    assert_int_equal(l.core.retry_min_ms, 1000);
    assert_int_equal(l.core.retry_max_ms, 60000);
    assert_int_equal(l.core.persist_delay_ms, 100);
    assert_string_equal(l.core.bus.router, IL_BUS_DEFAULT_ROUTER);
    assert_string_equal(l.core.bus.publish, IL_BUS_DEFAULT_PUBLISH);
    assert_int_equal(l.core.bus.heartbeat_ms, 1000);
    assert_int_equal(l.core.bus.liveness, 3);
    assert_int_equal(l.core.bus.batch, IL_BUS_DEFAULT_BATCH);
    assert_int_equal(l.core.bus.max_credit, IL_BUS_DEFAULT_MAX_CREDIT);
    assert_int_equal(l.core.bus.max_instances_ext, IL_BUS_DEFAULT_MAX_INSTANCES_EXT);
    assert_int_equal(l.core.bus.max_instances, IL_BUS_DEFAULT_MAX_INSTANCES);
    s_close(&l);
}

static void test_every_key(void **state)
{
    (void)state;
    s_loaded_t l;
    s_load(&l, "core:\n"
               "  logLevel: debug\n"
               "  logFile: /var/log/interlook.log\n"
               "  listen: \"[::1]:9090\"\n"
               "  workflowSteps: [provider.test, ipam.ipalloc, provisioner.echo]\n"
               "  workflowEntriesFile: /srv/entries.db\n"
               "  checkFlowInterval: 250ms\n"
               "  workflowHousekeeperInterval: 2m\n"
               "  serviceWIPTimeout: 30s\n"
               "  serviceMaxLastUpdated: 1h\n"
               "  cleanUndeployedServiceAfter: 15m\n"
               "  retryBackoffMin: 5ms\n"
               "  retryBackoffMax: 5ms\n"
               "  persistDelay: 0ms\n"
               "  bus:\n"
               "    router: tcp://127.0.0.1:6000\n"
               "    publish: tcp://127.0.0.1:6001\n"
               "    heartbeat: 250ms\n"
               "    liveness: 7\n"
               "    batch: 8\n"
               "    maxCredit: 50\n"
               "    maxInstancesPerExtension: 4\n"
               "    maxInstances: 9\n");
    if (l.rc) fail_msg("refused: %s", l.err);
    assert_int_equal(l.core.log_level, IL_LOG_DEBUG);
    assert_string_equal(l.core.log_file, "/var/log/interlook.log");
    assert_string_equal(l.core.listen, "[::1]:9090");
    assert_int_equal(l.core.nsteps, 3);
    assert_string_equal(l.core.steps[0], "provider.test");
    assert_string_equal(l.core.steps[1], "ipam.ipalloc");
    assert_string_equal(l.core.steps[2], "provisioner.echo");
    assert_null(l.core.steps[3]);
    assert_string_equal(l.core.entries_file, "/srv/entries.db");
    assert_int_equal(l.core.check_flow_ms, 250);
    assert_int_equal(l.core.housekeeper_ms, 120000);
    assert_int_equal(l.core.wip_timeout_ms, 30000);
    assert_int_equal(l.core.max_last_updated_ms, 3600000);
    assert_int_equal(l.core.clean_undeployed_ms, 900000);
    assert_int_equal(l.core.retry_min_ms, 5);
    assert_int_equal(l.core.retry_max_ms, 5);
    assert_int_equal(l.core.persist_delay_ms, 0);
    assert_string_equal(l.core.bus.router, "tcp://127.0.0.1:6000");
    assert_string_equal(l.core.bus.publish, "tcp://127.0.0.1:6001");
    assert_int_equal(l.core.bus.heartbeat_ms, 250);
    assert_int_equal(l.core.bus.liveness, 7);
    assert_int_equal(l.core.bus.batch, 8);
    assert_int_equal(l.core.bus.max_credit, 50);
    assert_int_equal(l.core.bus.max_instances_ext, 4);
    assert_int_equal(l.core.bus.max_instances, 9);
    s_close(&l);

    /* the steps as one comma-separated string, the API off */
    s_load(&l, "core:\n  workflowSteps: provider.a,ipam.b\n  listen: \"off\"\n");
    if (l.rc) fail_msg("refused: %s", l.err);
    assert_int_equal(l.core.nsteps, 2);
    assert_string_equal(l.core.steps[1], "ipam.b");
    assert_string_equal(l.core.listen, "off");
    s_close(&l);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        const char *message; /* the whole of it is in err */
    } cases[] = {
        {"core:\n  lisen: 1\n", "test.yml:2: core.lisen: unknown key"},
        {"core:\n  logLevel: loud\n",
         "test.yml:2: core.logLevel: expected debug, info, warn or error"},
        {"core:\n  checkFlowInterval: soon\n", "test.yml:2: core.checkFlowInterval"},
        {"core:\n  checkFlowInterval: 9ms\n",
         "test.yml:2: core.checkFlowInterval: must be at least 10ms"},
        {"core:\n  workflowHousekeeperInterval: 1ms\n",
         "test.yml:2: core.workflowHousekeeperInterval: must be at least 10ms"},
        {"core:\n  retryBackoffMin: 0ms\n",
         "test.yml:2: core.retryBackoffMin: must be at least 1ms"},
        {"core:\n  retryBackoffMin: 2s\n  retryBackoffMax: 1s\n",
         "test.yml:3: core.retryBackoffMax: must not be less than core.retryBackoffMin"},
        {"core:\n  workflowEntriesFile: \"\"\n",
         "test.yml:2: core.workflowEntriesFile: empty path"},
        {"core:\n  workflowSteps: [provider.a, nodot]\n",
         "test.yml:2: core.workflowSteps: 'nodot' is not an extension name (type.name)"},
        {"core:\n  workflowSteps: provider.docker,provider.docker\n",
         "test.yml:2: core.workflowSteps: 'provider.docker' appears twice"},
        {"core:\n  workflowSteps: []\n", "test.yml:2: core.workflowSteps: no steps"},
        {"core:\n  workflowSteps: ipam.ipalloc,provider.docker\n",
         "test.yml:2: core.workflowSteps: the first step must be a provider (provider.*), not "
         "'ipam.ipalloc'"},
        {"core:\n  workflowSteps: { a: 1 }\n", "test.yml:2: core.workflowSteps"},
        {"core:\n  serviceWIPTimeout: [1]\n", "test.yml:2: core.serviceWIPTimeout"},
        {"core:\n  bus: { heartbeat: 1ms }\n",
         "test.yml:2: core.bus.heartbeat: must be from 10ms to 1h"},
        {"core:\n  bus: { nope: 1 }\n", "test.yml:2: core.bus.nope: unknown key"},
        {"core:\n  bus: { liveness: 0 }\n", "test.yml:2: core.bus.liveness"},
        {"core:\n  bus: { maxCredit: 10001 }\n", "test.yml:2: core.bus.maxCredit"},
        {"core:\n  bus: { maxInstancesPerExtension: 0 }\n",
         "test.yml:2: core.bus.maxInstancesPerExtension"},
        {"core:\n  bus: { maxInstances: -1 }\n", "test.yml:2: core.bus.maxInstances"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        s_loaded_t l;
        s_load(&l, cases[i].yaml);
        if (l.rc != -1) fail_msg("case %zu accepted:\n%s", i, cases[i].yaml);
        if (!strstr(l.err, cases[i].message))
            fail_msg("case %zu: '%s' not in '%s'", i, cases[i].message, l.err);
        s_close(&l);
    }
    /* 33 steps: one more than the workflow holds */
    char yaml[2048] = "core:\n  workflowSteps: provider.p0";
    for (int i = 1; i < CORE_MAX_STEPS + 1; i++)
        snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml), ",step.s%d", i);
    strcat(yaml, "\n");
    s_loaded_t l;
    s_load(&l, yaml);
    assert_int_equal(l.rc, -1);
    assert_contains(l.err, "test.yml:2: core.workflowSteps: more than 32 steps");
    s_close(&l);
    /* exactly 32: accepted */
    char *cut = strstr(yaml, ",step.s32");
    strcpy(cut, "\n");
    s_load(&l, yaml);
    if (l.rc) fail_msg("32 steps refused: %s", l.err);
    assert_int_equal(l.core.nsteps, CORE_MAX_STEPS);
    s_close(&l);
}

/* The HTTP API's keys: defaults, values, refusals. */
static void test_api_keys(void **state)
{
    (void)state;
    s_loaded_t l;
    s_load(&l, "core: {}\n");
    assert_int_equal(l.rc, 0);
    assert_null(l.core.api.tls_cert);
    assert_null(l.core.api.tls_key);
    assert_null(l.core.api.token_file);
    assert_int_equal(l.core.api.request_timeout_ms, API_DEFAULT_REQUEST_TIMEOUT_MS);
    assert_int_equal(l.core.api.max_connections, API_DEFAULT_MAX_CONNECTIONS);
    assert_int_equal(l.core.api.max_per_ip, API_DEFAULT_MAX_PER_IP);
    s_close(&l);
    s_load(&l, "core:\n"
               "  apiTlsCert: /etc/interlook/api.pem\n"
               "  apiTlsKey: /etc/interlook/api-key.pem\n"
               "  apiTokenFile: /etc/interlook/api.token\n"
               "  apiRequestTimeout: 5s\n"
               "  apiMaxConnections: 300\n"
               "  apiMaxConnectionsPerIP: 4\n");
    if (l.rc) fail_msg("refused: %s", l.err);
    assert_string_equal(l.core.api.tls_cert, "/etc/interlook/api.pem");
    assert_string_equal(l.core.api.tls_key, "/etc/interlook/api-key.pem");
    assert_string_equal(l.core.api.token_file, "/etc/interlook/api.token");
    assert_int_equal(l.core.api.request_timeout_ms, 5000);
    assert_int_equal(l.core.api.max_connections, 300);
    assert_int_equal(l.core.api.max_per_ip, 4);
    s_close(&l);
    static const struct {
        const char *yaml;
        const char *message;
    } cases[] = {
        {"core:\n  apiTlsCert: /a.pem\n",
         "test.yml:2: core.apiTlsCert: core.apiTlsCert and core.apiTlsKey go together"},
        {"core:\n  apiTlsKey: /a.pem\n",
         "test.yml:2: core.apiTlsKey: core.apiTlsCert and core.apiTlsKey go together"},
        {"core:\n  apiTokenFile: \"\"\n", "test.yml:2: core.apiTokenFile: empty path"},
        {"core:\n  apiRequestTimeout: 10ms\n",
         "test.yml:2: core.apiRequestTimeout: must be at least 100ms"},
        {"core:\n  apiMaxConnections: 0\n", "test.yml:2: core.apiMaxConnections"},
        {"core:\n  apiMaxConnectionsPerIP: -1\n", "test.yml:2: core.apiMaxConnectionsPerIP"},
        {"core:\n  apiTokenFile: [a]\n", "test.yml:2: core.apiTokenFile"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        s_load(&l, cases[i].yaml);
        if (l.rc != -1) fail_msg("case %zu accepted:\n%s", i, cases[i].yaml);
        if (!strstr(l.err, cases[i].message))
            fail_msg("case %zu: '%s' not in '%s'", i, cases[i].message, l.err);
        s_close(&l);
    }
}

/* The environment overrides the file (as in containers); empty values do not. */
static void test_environment(void **state)
{
    (void)state;
    const char *yaml = "core:\n  listen: 127.0.0.1:1\n"
                       "  bus: { router: tcp://127.0.0.1:2, publish: tcp://127.0.0.1:3 }\n";
    s_loaded_t l;
    setenv("INTERLOOK_LISTEN", "0.0.0.0:9", 1);
    setenv("INTERLOOK_BUS_ROUTER", "tcp://0.0.0.0:10", 1);
    setenv("INTERLOOK_BUS_PUBLISH", "tcp://0.0.0.0:11", 1);
    /* Beyond loopback without CURVE: refused unless opted out. */
    s_load(&l, yaml);
    assert_int_equal(l.rc, -1);
    if (!strstr(l.err, "core.bus.curve") || !strstr(l.err, "core.bus.insecure: true"))
        fail_msg("refusal without the way out: %s", l.err);
    s_close(&l);
    setenv("INTERLOOK_BUS_INSECURE", "true", 1);
    s_load(&l, yaml);
    assert_int_equal(l.rc, 0);
    assert_string_equal(l.core.listen, "0.0.0.0:9");
    assert_string_equal(l.core.bus.router, "tcp://0.0.0.0:10");
    assert_string_equal(l.core.bus.publish, "tcp://0.0.0.0:11");
    s_close(&l);
    setenv("INTERLOOK_LISTEN", "", 1);
    setenv("INTERLOOK_BUS_ROUTER", "", 1);
    setenv("INTERLOOK_BUS_PUBLISH", "", 1);
    s_load(&l, yaml);
    assert_int_equal(l.rc, 0);
    assert_string_equal(l.core.listen, "127.0.0.1:1");
    assert_string_equal(l.core.bus.router, "tcp://127.0.0.1:2");
    assert_string_equal(l.core.bus.publish, "tcp://127.0.0.1:3");
    s_close(&l);
    s_unset_env(NULL);
}

/* core.store, core.id, core.etcd.* and the bus lists of several cores. */
static void test_etcd_keys(void **state)
{
    (void)state;
    s_loaded_t l;
    s_load(&l, "core: {}\n");
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.core.store, CORE_STORE_FILE);
    assert_non_null(l.core.id);
    assert_true(strlen(l.core.id) > 0);
    s_close(&l);
    s_load(&l, "core:\n"
               "  store: etcd\n"
               "  id: core-a\n"
               "  etcd:\n"
               "    endpoints: [http://127.0.0.1:2379, \"https://127.0.0.1:2380\"]\n"
               "    prefix: /il\n"
               "    leaseTTL: 2500ms\n"
               "  bus:\n"
               "    router: [tcp://127.0.0.1:5570, tcp://127.0.0.1:5580]\n"
               "    publish: tcp://127.0.0.1:5571, tcp://127.0.0.1:5581\n"
               "    bindRouter: tcp://127.0.0.1:5580\n"
               "    bindPublish: tcp://127.0.0.1:5581\n");
    if (l.rc) fail_msg("refused: %s", l.err);
    assert_int_equal(l.core.store, CORE_STORE_ETCD);
    assert_string_equal(l.core.id, "core-a");
    assert_int_equal(l.core.etcd.nendpoints, 2);
    assert_string_equal(l.core.etcd.endpoints[1], "https://127.0.0.1:2380");
    assert_string_equal(l.core.etcd.prefix, "/il");
    assert_int_equal(l.core.etcd.lease_ttl_s, 3); /* rounded up to whole seconds */
    assert_string_equal(l.core.bus.router, "tcp://127.0.0.1:5570,tcp://127.0.0.1:5580");
    assert_int_equal(il_bus_config_endpoint_count(l.core.bus.publish), 2);
    char one[128];
    assert_int_equal(il_bus_config_endpoint_at(l.core.bus.publish, 1, one, sizeof one), 0);
    assert_string_equal(one, "tcp://127.0.0.1:5581");
    assert_int_equal(il_bus_config_endpoint_at(l.core.bus.publish, 2, one, sizeof one), -1);
    const char *router = NULL, *publish = NULL;
    char err[512];
    assert_int_equal(il_bus_config_core_binds(&l.core.bus, &router, &publish, err, sizeof err), 0);
    assert_string_equal(router, "tcp://127.0.0.1:5580");
    assert_string_equal(publish, "tcp://127.0.0.1:5581");
    s_close(&l);
    /* The environment wins. */
    setenv("INTERLOOK_CORE_STORE", "etcd", 1);
    setenv("INTERLOOK_ETCD_ENDPOINTS", "http://127.0.0.1:1,http://127.0.0.1:2", 1);
    setenv("INTERLOOK_CORE_ID", "from-env", 1);
    s_load(&l, "core: {}\n");
    if (l.rc) fail_msg("refused: %s", l.err);
    assert_int_equal(l.core.store, CORE_STORE_ETCD);
    assert_int_equal(l.core.etcd.nendpoints, 2);
    assert_string_equal(l.core.id, "from-env");
    assert_string_equal(l.core.etcd.prefix, "/interlook");
    assert_int_equal(l.core.etcd.lease_ttl_s, 5);
    s_close(&l);
    s_unset_env(NULL);
    static const struct {
        const char *yaml;
        const char *message;
    } cases[] = {
        {"core:\n  store: etcdd\n", "test.yml:2: core.store: 'etcdd': expected file or etcd"},
        {"core:\n  store: etcd\n",
         "core.etcd.endpoints: missing: core.store is etcd (give the members' client URLs"},
        {"core:\n  store: etcd\n  etcd: { endpoints: ftp://x }\n",
         "core.etcd: etcd endpoint 'ftp://x': not an http:// or https:// URL"},
        {"core:\n  store: etcd\n  etcd: { endpoints: http://a:1, prefix: il }\n",
         "core.etcd.prefix: must start with '/' and not end with one"},
        {"core:\n  store: etcd\n  etcd: { endpoints: http://a:1, prefix: /il/ }\n",
         "core.etcd.prefix: must start with '/' and not end with one"},
        {"core:\n  store: etcd\n  etcd: { endpoints: http://a:1, leaseTTL: 500ms }\n",
         "core.etcd.leaseTTL: must be from 1s to 1h"},
        {"core:\n  store: etcd\n  etcd: { endpoints: http://a:1, tlsCert: /x.pem }\n",
         "core.etcd.tlsCert: core.etcd.tlsCert and core.etcd.tlsKey go together"},
        {"core:\n  etcd: { endpoint: http://a:1 }\n", "core.etcd.endpoint: unknown key"},
        {"core:\n  id: \"\"\n", "core.id: must be 1 to 127 characters"},
        {"core:\n  bus: { router: \"tcp://127.0.0.1:1,tcp://127.0.0.1:2\" }\n",
         "core.bus.publish: 1 endpoint for 2 in core.bus.router"},
        {"core:\n  bus: { router: [tcp://127.0.0.1:1, tcp://127.0.0.1:2], publish: "
         "[tcp://127.0.0.1:3, tcp://127.0.0.1:4] }\n",
         "core.bus.router lists several endpoints (one per core): give core.bus.bindRouter"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        s_load(&l, cases[i].yaml);
        if (l.rc != -1) fail_msg("case %zu accepted:\n%s", i, cases[i].yaml);
        if (!strstr(l.err, cases[i].message))
            fail_msg("case %zu: '%s' not in '%s'", i, cases[i].message, l.err);
        s_close(&l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_refusals),    cmocka_unit_test(test_api_keys),
        cmocka_unit_test(test_environment), cmocka_unit_test(test_etcd_keys),
    };
    return test_run_group(tests, s_unset_env, NULL);
}
