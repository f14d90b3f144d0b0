/* test_discovery: unit tests of extensions/docker/discovery (Docker objects to services, skip
 * reasons) on JSON fixtures. Fixtures write JSON with single quotes, which s_json turns into
 * double quotes before parsing, so that they read as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"
#include "tests/support/service_asserts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extensions/docker/discovery.h"

#define HOST_IP  "203.0.113.7"
#define PROVIDER "provider.docker"

static const discovery_config_t s_config = {HOST_IP, NULL, PROVIDER};

/* Fixtures ------------------------------------------------------------------ */

/* GET /v1.41/containers/json, captured from Docker Engine 20.10.24 with the docker CLI
 * (docker run -d -l ... -p ...) and trimmed to the fields discovery reads. disc-created comes
 * from ?all=1 (docker create). Listed newest first, as the Engine does. */
static const char *s_real_containers =
    "["
    "{'Id': 'c1bfac253f3110fc2cc79bb9505008094b5594866a892e98ee69e05f594fe315',"
    " 'Names': ['/disc-udp'], 'State': 'running',"
    " 'Labels': {'interlook.hosts': 'udp.example.com', 'interlook.port': '53'},"
    " 'Ports': ["
    "   {'IP': '0.0.0.0', 'PrivatePort': 53, 'PublicPort': 28087, 'Type': 'udp'},"
    "   {'IP': '::', 'PrivatePort': 53, 'PublicPort': 28087, 'Type': 'udp'},"
    "   {'PrivatePort': 80, 'Type': 'tcp'}"
    " ]},"
    "{'Id': '9784f562a8660bd386693f1235b60e638d1dea427624be57f2c8e110084fc65c',"
    " 'Names': ['/disc-unpub'], 'State': 'running',"
    " 'Labels': {'interlook.hosts': 'unpub.example.com', 'interlook.port': '80'},"
    " 'Ports': ["
    "   {'IP': '0.0.0.0', 'PrivatePort': 8080, 'PublicPort': 28086, 'Type': 'tcp'},"
    "   {'IP': '::', 'PrivatePort': 8080, 'PublicPort': 28086, 'Type': 'tcp'}"
    " ]},"
    "{'Id': '433497df430569a8fc2afea60bb4ee084a0a7ceb962fb666543a388b91e8cf86',"
    " 'Names': ['/disc-compose-web-1'], 'State': 'running',"
    " 'Labels': {'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'front',"
    " 'interlook.hosts': 'shop.example.com', 'interlook.port': '80'},"
    " 'Ports': ["
    "   {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 28085, 'Type': 'tcp'},"
    "   {'IP': '::', 'PrivatePort': 80, 'PublicPort': 28085, 'Type': 'tcp'}"
    " ]},"
    "{'Id': 'e48290740d21fdb5c5fe964b89580a491f22485b5c9128918eef5f30138b374e',"
    " 'Names': ['/disc-plain'], 'State': 'running',"
    " 'Labels': {},"
    " 'Ports': ["
    "   {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 28084, 'Type': 'tcp'},"
    "   {'IP': '::', 'PrivatePort': 80, 'PublicPort': 28084, 'Type': 'tcp'}"
    " ]},"
    "{'Id': '115ca892b1b8883d137403fc243fef7f108fea6accf086b7d85d9b331b0fa360',"
    " 'Names': ['/disc-two'], 'State': 'running',"
    " 'Labels': {'interlook.hosts': 'two.example.com', 'interlook.name': 'twoports',"
    " 'interlook.port': '8080'},"
    " 'Ports': ["
    "   {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 28082, 'Type': 'tcp'},"
    "   {'IP': '::', 'PrivatePort': 80, 'PublicPort': 28082, 'Type': 'tcp'},"
    "   {'IP': '0.0.0.0', 'PrivatePort': 8080, 'PublicPort': 28083, 'Type': 'tcp'},"
    "   {'IP': '::', 'PrivatePort': 8080, 'PublicPort': 28083, 'Type': 'tcp'}"
    " ]},"
    "{'Id': '3ffdc72615adc196917e945154bc028f529fa1d90acd737e59223629ff17a142',"
    " 'Names': ['/disc-local'], 'State': 'running',"
    " 'Labels': {'interlook.hosts': 'local.example.com', 'interlook.port': '80',"
    " 'interlook.ssl': 'yes'},"
    " 'Ports': ["
    "   {'IP': '127.0.0.1', 'PrivatePort': 80, 'PublicPort': 28081, 'Type': 'tcp'}"
    " ]},"
    "{'Id': '920837ee05b2152045ce7932195a9dff2642545ce93f87eb1c92b5e7bf294a05',"
    " 'Names': ['/disc-web'], 'State': 'running',"
    " 'Labels': {'interlook.hosts': 'web.example.com,www.example.com',"
    " 'interlook.port': '80'},"
    " 'Ports': ["
    "   {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 28080, 'Type': 'tcp'},"
    "   {'IP': '::', 'PrivatePort': 80, 'PublicPort': 28080, 'Type': 'tcp'}"
    " ]},"
    "{'Id': '9f41f8dc6182fc6aaf5561a6b103383b6dd08954fe02948803a3dcc5eaa728c1',"
    " 'Names': ['/disc-created'], 'State': 'created',"
    " 'Labels': {'interlook.hosts': 'created.example.com', 'interlook.port': '80'},"
    " 'Ports': []}"
    "]";

/* GET /v1.41/services, /tasks and /nodes, captured from a one-node swarm (docker swarm init;
 * docker service create --replicas 2 --publish 28090:80 ...; --publish
 * mode=host,published=28091,target=80 ...; --replicas 0 ...), trimmed. */
static const char *s_real_services =
    "["
    "{'ID': '86yrbg99etzt9p3mjevxvtapa', 'Spec': {'Name': 'disc-svc-web',"
    " 'Labels': {'interlook.hosts': 'svc.example.com', 'interlook.port': '80'}},"
    " 'Endpoint': {'Ports': [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 28090,"
    " 'PublishMode': 'ingress'}], 'VirtualIPs': [{'NetworkID': 'zuxx7nuaktk6xstyxkbsox7au',"
    " 'Addr': '10.0.0.3/24'}]}},"
    "{'ID': 'johg0hz83v8kz2kgxgx6t86ae', 'Spec': {'Name': 'disc-svc-host',"
    " 'Labels': {'interlook.hosts': 'host.example.com', 'interlook.port': '80',"
    " 'interlook.ssl': 'true'}}, 'Endpoint': {'Ports': [{'Protocol': 'tcp', 'TargetPort': 80,"
    " 'PublishedPort': 28091, 'PublishMode': 'host'}]}},"
    "{'ID': 'ufsjondzehbg0ow1qnhgqddr8', 'Spec': {'Name': 'disc-svc-zero',"
    " 'Labels': {'interlook.hosts': 'zero.example.com', 'interlook.port': '80'}},"
    " 'Endpoint': {'Ports': [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 28092,"
    " 'PublishMode': 'ingress'}], 'VirtualIPs': [{'NetworkID': 'zuxx7nuaktk6xstyxkbsox7au',"
    " 'Addr': '10.0.0.6/24'}]}}"
    "]";

static const char *s_real_nodes =
    "["
    "{'ID': 'v64492uy56qh0vssqxtf0py6r', 'Status': {'State': 'ready', 'Addr': '192.0.2.2'},"
    " 'ManagerStatus': {'Leader': true, 'Reachability': 'reachable',"
    " 'Addr': '192.0.2.2:2377'}}"
    "]";

/* While `docker service update --force disc-svc-host` runs: the old task still runs (desired
 * state shutdown), the new one waits for the host port (pending, no NodeID yet). */
static const char *s_real_tasks_updating =
    "["
    "{'ID': 'fj5cqossmf8kv2ahygh9dwft5', 'ServiceID': 'johg0hz83v8kz2kgxgx6t86ae',"
    " 'NodeID': 'v64492uy56qh0vssqxtf0py6r', 'Status': {'State': 'running',"
    " 'Message': 'started'}, 'DesiredState': 'shutdown'},"
    "{'ID': 'jfqpnoltesi146ak4gem76gk9', 'ServiceID': '86yrbg99etzt9p3mjevxvtapa',"
    " 'NodeID': 'v64492uy56qh0vssqxtf0py6r', 'Status': {'State': 'running',"
    " 'Message': 'started'}, 'DesiredState': 'running'},"
    "{'ID': 'kusodpeebq574u7o21rzzkmlj', 'ServiceID': 'johg0hz83v8kz2kgxgx6t86ae',"
    " 'Status': {'State': 'pending', 'Message': 'pending task scheduling'},"
    " 'DesiredState': 'ready'},"
    "{'ID': 'vtmwy9lqfiurigq5mi2wqjg7v', 'ServiceID': '86yrbg99etzt9p3mjevxvtapa',"
    " 'NodeID': 'v64492uy56qh0vssqxtf0py6r', 'Status': {'State': 'running',"
    " 'Message': 'started'}, 'DesiredState': 'running'}"
    "]";

/* The same swarm once the update settled. */
static const char *s_real_tasks_settled =
    "["
    "{'ID': 'fj5cqossmf8kv2ahygh9dwft5', 'ServiceID': 'johg0hz83v8kz2kgxgx6t86ae',"
    " 'NodeID': 'v64492uy56qh0vssqxtf0py6r', 'Status': {'State': 'shutdown',"
    " 'Message': 'shutdown'}, 'DesiredState': 'shutdown'},"
    "{'ID': 'jfqpnoltesi146ak4gem76gk9', 'ServiceID': '86yrbg99etzt9p3mjevxvtapa',"
    " 'NodeID': 'v64492uy56qh0vssqxtf0py6r', 'Status': {'State': 'running',"
    " 'Message': 'started'}, 'DesiredState': 'running'},"
    "{'ID': 'kusodpeebq574u7o21rzzkmlj', 'ServiceID': 'johg0hz83v8kz2kgxgx6t86ae',"
    " 'NodeID': 'v64492uy56qh0vssqxtf0py6r', 'Status': {'State': 'running',"
    " 'Message': 'started', 'PortStatus': {'Ports': [{'Protocol': 'tcp', 'TargetPort': 80,"
    " 'PublishedPort': 28091, 'PublishMode': 'host'}, {'Protocol': 'tcp', 'TargetPort': 80,"
    " 'PublishedPort': 28091, 'PublishMode': 'host'}]}}, 'DesiredState': 'running'},"
    "{'ID': 'vtmwy9lqfiurigq5mi2wqjg7v', 'ServiceID': '86yrbg99etzt9p3mjevxvtapa',"
    " 'NodeID': 'v64492uy56qh0vssqxtf0py6r', 'Status': {'State': 'running',"
    " 'Message': 'started'}, 'DesiredState': 'running'}"
    "]";

/* A four-node swarm written by hand in the API 1.41 shape: a worker with a Status.Addr, a
 * manager whose Status.Addr is 0.0.0.0 (as on some hosts), an IPv6 manager, and a worker with
 * 0.0.0.0 and no ManagerStatus. */
static const char *s_nodes4 =
    "["
    "{'ID': 'node1aaaaaaaaaaaaaaaaaaaa', 'Status': {'State': 'ready', 'Addr': '10.0.0.11'}},"
    "{'ID': 'node2aaaaaaaaaaaaaaaaaaaa', 'Status': {'State': 'ready', 'Addr': '0.0.0.0'},"
    " 'ManagerStatus': {'Leader': true, 'Reachability': 'reachable', 'Addr': '10.0.0.12:2377'}},"
    "{'ID': 'node3aaaaaaaaaaaaaaaaaaaa', 'Status': {'State': 'ready', 'Addr': '0.0.0.0'},"
    " 'ManagerStatus': {'Reachability': 'reachable', 'Addr': '[2001:db8::13]:2377'}},"
    "{'ID': 'node4aaaaaaaaaaaaaaaaaaaa', 'Status': {'State': 'ready', 'Addr': '0.0.0.0'}}"
    "]";

static const char *s_services4 =
    "["
    "{'ID': 'svcwebaaaaaaaaaaaaaaaaaaa', 'Spec': {'Name': 'web', 'Labels': {'interlook.hosts':"
    " 'web.example.com', 'interlook.port': '80'}}, 'Endpoint': {'Ports': [{'Protocol': 'tcp',"
    " 'TargetPort': 80, 'PublishedPort': 30080, 'PublishMode': 'ingress'}]}},"
    "{'ID': 'svcapiaaaaaaaaaaaaaaaaaaa', 'Spec': {'Name': 'api', 'Labels': {'interlook.hosts':"
    " 'api.example.com', 'interlook.port': '8080', 'interlook.ssl': 'YES'}}, 'Endpoint': {'Ports':"
    " [{'Protocol': 'udp', 'TargetPort': 8080, 'PublishedPort': 30053, 'PublishMode': 'ingress'},"
    " {'Protocol': 'tcp', 'TargetPort': 9090, 'PublishedPort': 30090, 'PublishMode': 'ingress'},"
    " {'Protocol': 'tcp', 'TargetPort': 8080, 'PublishedPort': 30081, 'PublishMode': 'ingress'}]}},"
    "{'ID': 'svchostaaaaaaaaaaaaaaaaaa', 'Spec': {'Name': 'edge', 'Labels': {'interlook.hosts':"
    " 'edge.example.com', 'interlook.port': '443'}}, 'Endpoint': {'Ports': [{'Protocol': 'tcp',"
    " 'TargetPort': 443, 'PublishedPort': 443, 'PublishMode': 'host'}]}},"
    "{'ID': 'svcidleaaaaaaaaaaaaaaaaaa', 'Spec': {'Name': 'idle', 'Labels': {'interlook.hosts':"
    " 'idle.example.com', 'interlook.port': '80'}}, 'Endpoint': {'Ports': [{'Protocol': 'tcp',"
    " 'TargetPort': 80, 'PublishedPort': 30084, 'PublishMode': 'ingress'}]}},"
    "{'ID': 'svcplainaaaaaaaaaaaaaaaaa', 'Spec': {'Name': 'plain', 'Labels': {}}, 'Endpoint':"
    " {'Ports': [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 30082}]}},"
    "{'ID': 'svcfrontaaaaaaaaaaaaaaaaa', 'Spec': {'Name': 'front', 'Labels': {'interlook.hosts':"
    " 'front.example.com', 'interlook.port': '80', 'interlook.name': 'web'}}, 'Endpoint': {'Ports':"
    " [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 30083, 'PublishMode': 'ingress'}]}}"
    "]";

static const char *s_tasks4 =
    "["
    "{'ID': 't1', 'ServiceID': 'svcwebaaaaaaaaaaaaaaaaaaa', 'NodeID': 'node1aaaaaaaaaaaaaaaaaaaa',"
    " 'Status': {'State': 'running'}, 'DesiredState': 'running'},"
    "{'ID': 't2', 'ServiceID': 'svcwebaaaaaaaaaaaaaaaaaaa', 'NodeID': 'node2aaaaaaaaaaaaaaaaaaaa',"
    " 'Status': {'State': 'running'}, 'DesiredState': 'running'},"
    "{'ID': 't3', 'ServiceID': 'svcwebaaaaaaaaaaaaaaaaaaa', 'NodeID': 'node2aaaaaaaaaaaaaaaaaaaa',"
    " 'Status': {'State': 'failed', 'Err': 'task: non-zero exit (1)'}, 'DesiredState': 'shutdown'},"
    "{'ID': 't4', 'ServiceID': 'svcapiaaaaaaaaaaaaaaaaaaa', 'NodeID': 'node1aaaaaaaaaaaaaaaaaaaa',"
    " 'Status': {'State': 'running'}, 'DesiredState': 'running'},"
    "{'ID': 't5', 'ServiceID': 'svcapiaaaaaaaaaaaaaaaaaaa', 'NodeID': 'node1aaaaaaaaaaaaaaaaaaaa',"
    " 'Status': {'State': 'running'}, 'DesiredState': 'running'},"
    "{'ID': 't6', 'ServiceID': 'svcapiaaaaaaaaaaaaaaaaaaa', 'NodeID': 'node3aaaaaaaaaaaaaaaaaaaa',"
    " 'Status': {'State': 'starting'}, 'DesiredState': 'running'},"
    "{'ID': 't7', 'ServiceID': 'svcapiaaaaaaaaaaaaaaaaaaa', 'NodeID': 'node4aaaaaaaaaaaaaaaaaaaa',"
    " 'Status': {'State': 'complete'}, 'DesiredState': 'shutdown'},"
    "{'ID': 't8', 'ServiceID': 'svchostaaaaaaaaaaaaaaaaaa', 'NodeID': 'node3aaaaaaaaaaaaaaaaaaaa',"
    " 'Status': {'State': 'running'}, 'DesiredState': 'running'},"
    "{'ID': 't9', 'ServiceID': 'svchostaaaaaaaaaaaaaaaaaa', 'NodeID': 'node4aaaaaaaaaaaaaaaaaaaa',"
    " 'Status': {'State': 'running'}, 'DesiredState': 'running'},"
    "{'ID': 't10', 'ServiceID': 'svcidleaaaaaaaaaaaaaaaaaa', 'Status': {'State': 'pending'},"
    " 'DesiredState': 'running'},"
    "{'ID': 't11', 'ServiceID': 'svcplainaaaaaaaaaaaaaaaaa', 'NodeID': 'node1aaaaaaaaaaaaaaaaaaaa',"
    " 'Status': {'State': 'running'}, 'DesiredState': 'running'},"
    "{'ID': 't12', 'ServiceID': 'svcfrontaaaaaaaaaaaaaaaaa', 'NodeID': 'node1aaaaaaaaaaaaaaaaaaaa',"
    " 'Status': {'State': 'running'}, 'DesiredState': 'running'}"
    "]";

/* Helpers ------------------------------------------------------------------- */

/* Parses a fixture written with single quotes; fails the test when it is not JSON. */
static json_t *s_json(const char *text)
{
    char *copy = strdup(text);
    assert_non_null(copy);
    for (char *p = copy; *p; p++)
        if (*p == '\'') *p = '"';
    json_error_t error;
    json_t *json = json_loads(copy, JSON_DECODE_ANY, &error);
    if (!json)
        fail_msg("fixture is not JSON: %s at %d:%d\n%s", error.text, error.line, error.column,
                 copy);
    free(copy);
    return json;
}

#define S_MAX_SKIPS 64

/* What the skip callback was told. */
typedef struct {
    size_t count;
    char id[S_MAX_SKIPS][128];
    char name[S_MAX_SKIPS][300];
    char reason[S_MAX_SKIPS][600];
} s_skips_t;

static void s_on_skip(void *arg, const char *id, const char *name, const char *reason)
{
    s_skips_t *skips = arg;
    assert_non_null(id);
    assert_non_null(name);
    assert_non_null(reason);
    assert_true(reason[0] != '\0');
    if (skips->count < S_MAX_SKIPS) {
        snprintf(skips->id[skips->count], sizeof skips->id[0], "%s", id);
        snprintf(skips->name[skips->count], sizeof skips->name[0], "%s", name);
        snprintf(skips->reason[skips->count], sizeof skips->reason[0], "%s", reason);
    }
    skips->count++;
}

/* The reason given for the object named name, failing when it was not skipped. */
static const char *s_reason_for(const s_skips_t *skips, const char *name)
{
    for (size_t i = 0; i < skips->count && i < S_MAX_SKIPS; i++)
        if (!strcmp(skips->name[i], name)) return skips->reason[i];
    fail_msg("'%s' was not skipped", name);
    return NULL;
}

static zhashx_t *s_containers(const char *fixture, const discovery_config_t *config,
                              s_skips_t *skips)
{
    json_t *json = s_json(fixture);
    memset(skips, 0, sizeof *skips);
    zhashx_t *services = discovery_containers(json, config, s_on_skip, skips);
    json_decref(json);
    assert_non_null(services);
    return services;
}

static zhashx_t *s_swarm(const char *services_fx, const char *tasks_fx, const char *nodes_fx,
                         const discovery_config_t *config, s_skips_t *skips)
{
    json_t *services_json = s_json(services_fx);
    json_t *tasks_json = s_json(tasks_fx);
    json_t *nodes_json = s_json(nodes_fx);
    memset(skips, 0, sizeof *skips);
    zhashx_t *services =
        discovery_swarm(services_json, tasks_json, nodes_json, config, s_on_skip, skips);
    json_decref(services_json);
    json_decref(tasks_json);
    json_decref(nodes_json);
    assert_non_null(services);
    return services;
}

static const il_service_t *s_get(zhashx_t *services, const char *name)
{
    const il_service_t *service = zhashx_lookup(services, name);
    if (!service) fail_msg("no service '%s'", name);
    assert_string_equal(service->name, name);
    assert_non_null(service->provider);
    assert_string_equal(service->provider, PROVIDER);
    assert_null(service->public_ip);
    return service;
}

/* The weight of host:port in service, 0 when it is not a target. */
static uint32_t s_weight(const il_service_t *service, const char *host, uint16_t port)
{
    for (size_t i = 0; i < service->target_count; i++)
        if (!strcmp(service->targets[i].host, host) && service->targets[i].port == port)
            return service->targets[i].weight;
    return 0;
}

/* Checks that service has exactly these aliases, in this (sorted) order; NULL-terminated. */
static void s_assert_aliases(const il_service_t *service, const char *const *expected)
{
    size_t n = 0;
    while (expected[n])
        n++;
    if (service->alias_count != n)
        fail_msg("service '%s': %zu aliases, expected %zu", service->name, service->alias_count, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(service->dns_aliases[i], expected[i]);
}

/* One running container "/one" (id c1) with these labels (a JSON object) publishing 80 on
 * 0.0.0.0:18080 and [::]:18080, as Docker 20.10 lists it. */
static void s_one_container(const char *labels, char *out, size_t outlen)
{
    int n = snprintf(out, outlen,
                     "[{'Id': 'c1', 'Names': ['/one'], 'State': 'running', 'Labels': %s,"
                     " 'Ports': [{'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 18080,"
                     " 'Type': 'tcp'}, {'IP': '::', 'PrivatePort': 80, 'PublicPort': 18080,"
                     " 'Type': 'tcp'}]}]",
                     labels);
    assert_true(n > 0 && (size_t)n < outlen);
}

/* One swarm service "one" (id s1) with these labels, target port 80 published on 18080, with
 * one running task on a node at 10.0.0.1. */
static void s_one_swarm(const char *labels, s_skips_t *skips, zhashx_t **services_p)
{
    char fixture[8192];
    int n = snprintf(fixture, sizeof fixture,
                     "[{'ID': 's1', 'Spec': {'Name': 'one', 'Labels': %s}, 'Endpoint': {'Ports':"
                     " [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 18080,"
                     " 'PublishMode': 'ingress'}]}}]",
                     labels);
    assert_true(n > 0 && (size_t)n < sizeof fixture);
    *services_p = s_swarm(fixture,
                          "[{'ID': 't1', 'ServiceID': 's1', 'NodeID': 'n1', 'Status': {'State':"
                          " 'running'}, 'DesiredState': 'running'}]",
                          "[{'ID': 'n1', 'Status': {'State': 'ready', 'Addr': '10.0.0.1'}}]",
                          &s_config, skips);
}

/* Containers ---------------------------------------------------------------- */

static void test_real_containers(void **state)
{
    (void)state;
    s_skips_t skips;
    zhashx_t *services = s_containers(s_real_containers, &s_config, &skips);
    assert_int_equal(zhashx_size(services), 4);

    /* 0.0.0.0 and :: are one binding: weight 1, not 2. */
    const il_service_t *web = s_get(services, "disc-web");
    assert_int_equal(web->target_count, 1);
    assert_int_equal(s_weight(web, HOST_IP, 28080), 1);
    assert_false(web->tls);
    s_assert_aliases(web, (const char *const[]){"web.example.com", "www.example.com", NULL});

    /* -p 127.0.0.1:28081:80 */
    const il_service_t *local = s_get(services, "disc-local");
    assert_int_equal(local->target_count, 1);
    assert_int_equal(s_weight(local, "127.0.0.1", 28081), 1);
    assert_true(local->tls);
    s_assert_aliases(local, (const char *const[]){"local.example.com", NULL});

    /* Two published ports: the one of interlook.port, under interlook.name. */
    const il_service_t *two = s_get(services, "twoports");
    assert_int_equal(two->target_count, 1);
    assert_int_equal(s_weight(two, HOST_IP, 28083), 1);

    /* Compose labels name the service. */
    const il_service_t *shop = s_get(services, "shop_front");
    assert_int_equal(shop->target_count, 1);
    assert_int_equal(s_weight(shop, HOST_IP, 28085), 1);

    /* disc-plain (no label) and disc-created (not running) are not reported; disc-unpub
     * publishes 8080, not 80; disc-udp publishes 53/udp only and exposes 80 unpublished. */
    assert_null(zhashx_lookup(services, "disc-plain"));
    assert_null(zhashx_lookup(services, "disc-created"));
    assert_int_equal(skips.count, 2);
    assert_string_equal(s_reason_for(&skips, "disc-unpub"),
                        "interlook.port 80 is not published (docker run -p ...:80)");
    assert_string_equal(s_reason_for(&skips, "disc-udp"),
                        "interlook.port 53 is not published (docker run -p ...:53)");
    assert_string_equal(skips.id[0],
                        "c1bfac253f3110fc2cc79bb9505008094b5594866a892e98ee69e05f594fe315");
    zhashx_destroy(&services);
}

static void test_bind_addresses(void **state)
{
    (void)state;
    static const struct {
        const char *ports;
        const char *host; /* NULL: not published */
        uint16_t port;
    } cases[] = {
        {"[{'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 18080, 'Type': 'tcp'}]", HOST_IP,
         18080},
        {"[{'IP': '::', 'PrivatePort': 80, 'PublicPort': 18080, 'Type': 'tcp'}]", HOST_IP, 18080},
        /* Docker gave the two families different host ports: host_ip's wins. */
        {"[{'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 32768, 'Type': 'tcp'},"
         " {'IP': '::', 'PrivatePort': 80, 'PublicPort': 32769, 'Type': 'tcp'}]",
         HOST_IP, 32768},
        {"[{'IP': '::', 'PrivatePort': 80, 'PublicPort': 32769, 'Type': 'tcp'},"
         " {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 32768, 'Type': 'tcp'}]",
         HOST_IP, 32768},
        {"[{'IP': '', 'PrivatePort': 80, 'PublicPort': 18080, 'Type': 'tcp'}]", HOST_IP, 18080},
        {"[{'PrivatePort': 80, 'PublicPort': 18080, 'Type': 'tcp'}]", HOST_IP, 18080},
        {"[{'IP': '127.0.0.1', 'PrivatePort': 80, 'PublicPort': 18081, 'Type': 'tcp'}]",
         "127.0.0.1", 18081},
        {"[{'IP': '192.0.2.5', 'PrivatePort': 80, 'PublicPort': 8000, 'Type': 'tcp'}]", "192.0.2.5",
         8000},
        {"[{'IP': '::1', 'PrivatePort': 80, 'PublicPort': 8000, 'Type': 'tcp'}]", "::1", 8000},
        {"[{'IP': 'not-an-ip', 'PrivatePort': 80, 'PublicPort': 8000, 'Type': 'tcp'}]", NULL, 0},
        {"[{'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 18080, 'Type': 'udp'}]", NULL, 0},
        {"[{'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 18080}]", NULL, 0},
        {"[{'PrivatePort': 80, 'Type': 'tcp'}]", NULL, 0},
        {"[{'IP': '0.0.0.0', 'PrivatePort': 8080, 'PublicPort': 18080, 'Type': 'tcp'}]", NULL, 0},
        {"[]", NULL, 0},
        {"null", NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char fixture[1024];
        snprintf(fixture, sizeof fixture,
                 "[{'Id': 'c1', 'Names': ['/one'], 'State': 'running', 'Labels':"
                 " {'interlook.hosts': 'one.example.com', 'interlook.port': '80'}, 'Ports': %s}]",
                 cases[i].ports);
        s_skips_t skips;
        zhashx_t *services = s_containers(fixture, &s_config, &skips);
        if (cases[i].host) {
            if (skips.count) fail_msg("%s: skipped: %s", cases[i].ports, skips.reason[0]);
            const il_service_t *one = s_get(services, "one");
            assert_int_equal(one->target_count, 1);
            if (s_weight(one, cases[i].host, cases[i].port) != 1)
                fail_msg("%s: target %s:%u", cases[i].ports, one->targets[0].host,
                         one->targets[0].port);
        } else {
            assert_int_equal(zhashx_size(services), 0);
            assert_int_equal(skips.count, 1);
            assert_contains(skips.reason[0], "interlook.port 80 is not published");
        }
        zhashx_destroy(&services);
    }
    /* An IPv6 host_ip takes the :: binding's port. */
    const discovery_config_t v6 = {"2001:db8::7", NULL, PROVIDER};
    s_skips_t skips;
    zhashx_t *services =
        s_containers("[{'Id': 'c1', 'Names': ['/one'], 'State': 'running', 'Labels':"
                     " {'interlook.hosts': 'one.example.com', 'interlook.port': '80'}, 'Ports':"
                     " [{'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 32768, 'Type': 'tcp'},"
                     "  {'IP': '::', 'PrivatePort': 80, 'PublicPort': 32769, 'Type': 'tcp'}]}]",
                     &v6, &skips);
    const il_service_t *one = s_get(services, "one");
    assert_int_equal(one->target_count, 1);
    assert_int_equal(s_weight(one, "2001:db8::7", 32769), 1);
    zhashx_destroy(&services);
}

static void test_same_name_merges(void **state)
{
    (void)state;
    /* Two containers under one interlook.name: one service, two targets, aliases united.
     * Another published twice (two host ports), both on 0.0.0.0 and ::. */
    s_skips_t skips;
    zhashx_t *services = s_containers(
        "["
        "{'Id': 'a1', 'Names': ['/api-a'], 'State': 'running', 'Labels': {'interlook.name': 'api',"
        " 'interlook.hosts': 'api.example.com', 'interlook.port': '80'}, 'Ports': ["
        " {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 18090, 'Type': 'tcp'},"
        " {'IP': '::', 'PrivatePort': 80, 'PublicPort': 18090, 'Type': 'tcp'}]},"
        "{'Id': 'a2', 'Names': ['/api-b'], 'State': 'running', 'Labels': {'interlook.name': 'api',"
        " 'interlook.hosts': 'api.example.com,v2.api.example.com', 'interlook.port': '80'},"
        " 'Ports': [{'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 18091, 'Type': 'tcp'},"
        " {'IP': '::', 'PrivatePort': 80, 'PublicPort': 18091, 'Type': 'tcp'}]},"
        "{'Id': 'a3', 'Names': ['/twice'], 'State': 'running', 'Labels': {'interlook.hosts':"
        " 'twice.example.com', 'interlook.port': '80'}, 'Ports': ["
        " {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 18092, 'Type': 'tcp'},"
        " {'IP': '::', 'PrivatePort': 80, 'PublicPort': 18092, 'Type': 'tcp'},"
        " {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 18093, 'Type': 'tcp'},"
        " {'IP': '::', 'PrivatePort': 80, 'PublicPort': 18093, 'Type': 'tcp'}]}"
        "]",
        &s_config, &skips);
    assert_int_equal(skips.count, 0);
    assert_int_equal(zhashx_size(services), 2);
    const il_service_t *api = s_get(services, "api");
    assert_int_equal(api->target_count, 2);
    assert_int_equal(s_weight(api, HOST_IP, 18090), 1);
    assert_int_equal(s_weight(api, HOST_IP, 18091), 1);
    s_assert_aliases(api, (const char *const[]){"api.example.com", "v2.api.example.com", NULL});
    const il_service_t *twice = s_get(services, "twice");
    assert_int_equal(twice->target_count, 2);
    assert_int_equal(s_weight(twice, HOST_IP, 18092), 1);
    assert_int_equal(s_weight(twice, HOST_IP, 18093), 1);
    zhashx_destroy(&services);
}

static void test_identical_targets_add_weight(void **state)
{
    (void)state;
    /* Constructed: two containers giving the same host:port (one machine cannot bind it twice,
     * but the rule holds); the third disagrees on interlook.ssl and is skipped. */
    s_skips_t skips;
    zhashx_t *services = s_containers(
        "["
        "{'Id': 'b1', 'Names': ['/lb-1'], 'State': 'running', 'Labels': {'interlook.name': 'lb',"
        " 'interlook.hosts': 'lb.example.com', 'interlook.port': '80'}, 'Ports': ["
        " {'IP': '192.0.2.5', 'PrivatePort': 80, 'PublicPort': 8000, 'Type': 'tcp'}]},"
        "{'Id': 'b2', 'Names': ['/lb-2'], 'State': 'running', 'Labels': {'interlook.name': 'lb',"
        " 'interlook.hosts': 'lb.example.com', 'interlook.port': '80', 'interlook.ssl': 'no'},"
        " 'Ports': [{'IP': '192.0.2.5', 'PrivatePort': 80, 'PublicPort': 8000, 'Type': 'tcp'}]},"
        "{'Id': 'b3', 'Names': ['/lb-3'], 'State': 'running', 'Labels': {'interlook.name': 'lb',"
        " 'interlook.hosts': 'lb.example.com', 'interlook.port': '80', 'interlook.ssl': 'true'},"
        " 'Ports': [{'IP': '192.0.2.6', 'PrivatePort': 80, 'PublicPort': 8000, 'Type': 'tcp'}]}"
        "]",
        &s_config, &skips);
    const il_service_t *lb = s_get(services, "lb");
    assert_int_equal(lb->target_count, 1);
    assert_int_equal(s_weight(lb, "192.0.2.5", 8000), 2);
    assert_false(lb->tls);
    assert_int_equal(skips.count, 1);
    assert_string_equal(skips.id[0], "b3");
    assert_contains(s_reason_for(&skips, "lb-3"), "label interlook.ssl: true here, but false");
    zhashx_destroy(&services);
}

static void test_public_port_merge(void **state)
{
    (void)state;
    /* Containers of one service: the public port is interlook.publicPort, else interlook.port;
     * a container whose public port differs from the one of the containers before it is skipped,
     * naming the label. */
    s_skips_t skips;
    zhashx_t *services = s_containers(
        "["
        "{'Id': 'p1', 'Names': ['/pp-1'], 'State': 'running', 'Labels': {'interlook.name': 'pp',"
        " 'interlook.hosts': 'pp.example.com', 'interlook.port': '8080',"
        " 'interlook.publicPort': '80'}, 'Ports': ["
        " {'IP': '192.0.2.5', 'PrivatePort': 8080, 'PublicPort': 8001, 'Type': 'tcp'}]},"
        "{'Id': 'p2', 'Names': ['/pp-2'], 'State': 'running', 'Labels': {'interlook.name': 'pp',"
        " 'interlook.hosts': 'pp.example.com', 'interlook.port': '80'}, 'Ports': ["
        " {'IP': '192.0.2.5', 'PrivatePort': 80, 'PublicPort': 8002, 'Type': 'tcp'}]},"
        "{'Id': 'p3', 'Names': ['/pp-3'], 'State': 'running', 'Labels': {'interlook.name': 'pp',"
        " 'interlook.hosts': 'pp.example.com', 'interlook.port': '8080'}, 'Ports': ["
        " {'IP': '192.0.2.5', 'PrivatePort': 8080, 'PublicPort': 8003, 'Type': 'tcp'}]},"
        "{'Id': 'p4', 'Names': ['/pp-4'], 'State': 'running', 'Labels': {'interlook.name': 'pp',"
        " 'interlook.hosts': 'pp.example.com', 'interlook.port': '8080',"
        " 'interlook.publicPort': '443'}, 'Ports': ["
        " {'IP': '192.0.2.5', 'PrivatePort': 8080, 'PublicPort': 8004, 'Type': 'tcp'}]}"
        "]",
        &s_config, &skips);
    const il_service_t *pp = s_get(services, "pp");
    assert_int_equal(pp->port, 80);
    assert_int_equal(pp->target_count, 2);
    assert_int_equal(s_weight(pp, "192.0.2.5", 8001), 1);
    assert_int_equal(s_weight(pp, "192.0.2.5", 8002), 1);
    assert_int_equal(skips.count, 2);
    assert_contains(s_reason_for(&skips, "pp-3"),
                    "label interlook.publicPort (else interlook.port): public port 8080 here, "
                    "but 80 on another container of service 'pp'");
    assert_contains(s_reason_for(&skips, "pp-4"), "public port 443 here, but 80");
    zhashx_destroy(&services);
}

static void test_naming(void **state)
{
    (void)state;
    static const struct {
        const char *names;
        const char *labels;
        const char *expected;
    } cases[] = {
        {"['/box']",
         "'interlook.name': 'named', 'com.docker.compose.project': 'p',"
         " 'com.docker.compose.service': 's'",
         "named"},
        {"['/p-s-1']", "'com.docker.compose.project': 'p', 'com.docker.compose.service': 's'",
         "p_s"},
        {"['/p-s-1']", "'com.docker.compose.project': 'p'", "p-s-1"},
        {"['/p-s-1']", "'com.docker.compose.project': 'p', 'com.docker.compose.service': ''",
         "p-s-1"},
        {"['/p-s-1']", "'com.docker.compose.project': 'p', 'com.docker.compose.service': 5",
         "p-s-1"},
        {"['/box']", "", "box"},
        {"['/web/db', '/db']", "", "db"}, /* a legacy link alias listed first */
        {"['/a/b']", "", "a/b"},
        {"['box']", "", "box"},
        {"[5, '/box']", "", "box"},
        {"['/box']", "'interlook.name': 'Ünïcode name with spaces'", "Ünïcode name with spaces"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char fixture[1024];
        snprintf(fixture, sizeof fixture,
                 "[{'Id': 'c1', 'Names': %s, 'State': 'running', 'Labels': {%s%s"
                 "'interlook.hosts': 'x.example.com', 'interlook.port': '80'}, 'Ports':"
                 " [{'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 18080, 'Type': 'tcp'}]}]",
                 cases[i].names, cases[i].labels, *cases[i].labels ? ", " : "");
        s_skips_t skips;
        zhashx_t *services = s_containers(fixture, &s_config, &skips);
        if (skips.count) fail_msg("case %zu skipped: %s", i, skips.reason[0]);
        assert_int_equal(zhashx_size(services), 1);
        s_get(services, cases[i].expected);
        zhashx_destroy(&services);
    }
    /* No name at all, or a compose name too long. */
    char long_project[300];
    memset(long_project, 'p', 250);
    long_project[250] = '\0';
    char labels[512];
    snprintf(labels, sizeof labels,
             "'com.docker.compose.project': '%s', 'com.docker.compose.service': 'service'",
             long_project);
    const struct {
        const char *names;
        const char *labels;
        const char *reason;
    } bad[] = {
        {"[]", "", "the container has no usable name (set label interlook.name)"},
        {"null", "", "the container has no usable name"},
        {"['/']", "", "the container has no usable name"},
        {"['/box']", labels, "labels com.docker.compose.project and com.docker.compose.service"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char fixture[2048];
        snprintf(fixture, sizeof fixture,
                 "[{'Id': 'c1', 'Names': %s, 'State': 'running', 'Labels': {%s%s"
                 "'interlook.hosts': 'x.example.com', 'interlook.port': '80'}, 'Ports':"
                 " [{'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 18080, 'Type': 'tcp'}]}]",
                 bad[i].names, bad[i].labels, *bad[i].labels ? ", " : "");
        s_skips_t skips;
        zhashx_t *services = s_containers(fixture, &s_config, &skips);
        assert_int_equal(zhashx_size(services), 0);
        assert_int_equal(skips.count, 1);
        assert_string_equal(skips.id[0], "c1");
        assert_contains(skips.reason[0], bad[i].reason);
        zhashx_destroy(&services);
    }
}

/* Labels (both modes) ------------------------------------------------------- */

static void test_valid_labels(void **state)
{
    (void)state;
    static const struct {
        const char *labels;
        const char *aliases[4];
        bool tls;
        uint16_t public_port; /* the service's port */
    } cases[] = {
        {"{'interlook.hosts': 'one.example.com', 'interlook.port': '80'}",
         {"one.example.com"},
         false,
         80},
        {"{'interlook.hosts': 'one.example.com', 'interlook.port': '80',"
         " 'interlook.publicPort': '443'}",
         {"one.example.com"},
         false,
         443},
        {"{'interlook.hosts': 'one.example.com', 'interlook.port': '80',"
         " 'interlook.publicPort': '00080'}",
         {"one.example.com"},
         false,
         80},
        {"{'interlook.hosts': 'one.example.com', 'interlook.port': '80',"
         " 'interlook.publicPort': '1'}",
         {"one.example.com"},
         false,
         1},
        {"{'interlook.hosts': 'one.example.com', 'interlook.port': '80',"
         " 'interlook.publicPort': '65535'}",
         {"one.example.com"},
         false,
         65535},
        {"{'interlook.hosts': ' Web.Example.COM , *.apps.example.com,x,web.example.com\\t',"
         " 'interlook.port': '80', 'interlook.ssl': 'TRUE'}",
         {"*.apps.example.com", "web.example.com", "x"},
         true,
         80},
        {"{'interlook.hosts': 'a-b.c-d.e1', 'interlook.port': '080', 'interlook.ssl': 'Yes'}",
         {"a-b.c-d.e1"},
         true,
         80},
        {"{'interlook.hosts': '1.2.3.4', 'interlook.port': '80', 'interlook.ssl': '1'}",
         {"1.2.3.4"},
         true,
         80},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.ssl': 'no'}",
         {"x.example.com"},
         false,
         80},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.ssl': 'FALSE'}",
         {"x.example.com"},
         false,
         80},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.ssl': '0',"
         " 'interlook.unknown': 'ignored', 'other': 'label'}",
         {"x.example.com"},
         false,
         80},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char fixture[1024];
        s_one_container(cases[i].labels, fixture, sizeof fixture);
        s_skips_t skips;
        zhashx_t *services = s_containers(fixture, &s_config, &skips);
        if (skips.count) fail_msg("%s: skipped: %s", cases[i].labels, skips.reason[0]);
        const il_service_t *one = s_get(services, "one");
        s_assert_aliases(one, cases[i].aliases);
        assert_int_equal(one->tls, cases[i].tls);
        assert_int_equal(one->port, cases[i].public_port);
        assert_int_equal(s_weight(one, HOST_IP, 18080), 1);
        zhashx_destroy(&services);

        s_one_swarm(cases[i].labels, &skips, &services);
        if (skips.count) fail_msg("swarm %s: skipped: %s", cases[i].labels, skips.reason[0]);
        one = s_get(services, "one");
        s_assert_aliases(one, cases[i].aliases);
        assert_int_equal(one->tls, cases[i].tls);
        assert_int_equal(one->port, cases[i].public_port);
        assert_int_equal(s_weight(one, "10.0.0.1", 18080), 1);
        zhashx_destroy(&services);
    }
}

/* Runs labels through both modes, expecting a skip whose reason contains both texts. */
static void s_expect_skip(const char *labels, const char *label, const char *detail)
{
    char fixture[8192];
    s_one_container(labels, fixture, sizeof fixture);
    s_skips_t skips;
    zhashx_t *services = s_containers(fixture, &s_config, &skips);
    if (skips.count != 1) fail_msg("%s: %zu skips", labels, skips.count);
    assert_int_equal(zhashx_size(services), 0);
    assert_string_equal(skips.id[0], "c1");
    assert_string_equal(skips.name[0], "one");
    assert_contains(skips.reason[0], label);
    assert_contains(skips.reason[0], detail);
    zhashx_destroy(&services);

    s_one_swarm(labels, &skips, &services);
    if (skips.count != 1) fail_msg("swarm %s: %zu skips", labels, skips.count);
    assert_int_equal(zhashx_size(services), 0);
    assert_string_equal(skips.id[0], "s1");
    assert_string_equal(skips.name[0], "one");
    assert_contains(skips.reason[0], label);
    assert_contains(skips.reason[0], detail);
    zhashx_destroy(&services);
}

static void test_invalid_labels(void **state)
{
    (void)state;
    static const struct {
        const char *labels;
        const char *label;  /* the reason names it */
        const char *detail; /* and contains this */
    } cases[] = {
        {"{'interlook.port': '80'}", "missing label interlook.hosts", ""},
        {"{'interlook.hosts': 'x.example.com'}", "missing label interlook.port", ""},
        {"{'interlook.ssl': 'true'}", "missing label interlook.hosts", ""},
        {"{'interlook.hosts': '', 'interlook.port': '80'}", "label interlook.hosts", "empty"},
        {"{'interlook.hosts': '  ', 'interlook.port': '80'}", "label interlook.hosts", "empty"},
        {"{'interlook.hosts': ' , ', 'interlook.port': '80'}", "label interlook.hosts",
         "empty entry"},
        {"{'interlook.hosts': 'a.example.com,,b.example.com', 'interlook.port': '80'}",
         "label interlook.hosts", "'a.example.com,,b.example.com' has an empty entry"},
        {"{'interlook.hosts': 'a.example.com,', 'interlook.port': '80'}", "label interlook.hosts",
         "empty entry"},
        {"{'interlook.hosts': 'bad_name.example.com', 'interlook.port': '80'}",
         "label interlook.hosts", "'bad_name.example.com' is not a DNS name"},
        {"{'interlook.hosts': 'ok.example.com, bad name ', 'interlook.port': '80'}",
         "label interlook.hosts", "'bad name' is not a DNS name"},
        {"{'interlook.hosts': '-a.example.com', 'interlook.port': '80'}", "label interlook.hosts",
         "'-a.example.com'"},
        {"{'interlook.hosts': 'a-.example.com', 'interlook.port': '80'}", "label interlook.hosts",
         "'a-.example.com'"},
        {"{'interlook.hosts': 'a..example.com', 'interlook.port': '80'}", "label interlook.hosts",
         "'a..example.com'"},
        {"{'interlook.hosts': '.example.com', 'interlook.port': '80'}", "label interlook.hosts",
         "'.example.com'"},
        {"{'interlook.hosts': 'example.com.', 'interlook.port': '80'}", "label interlook.hosts",
         "'example.com.'"},
        {"{'interlook.hosts': '*', 'interlook.port': '80'}", "label interlook.hosts", "'*'"},
        {"{'interlook.hosts': '*.', 'interlook.port': '80'}", "label interlook.hosts", "'*.'"},
        {"{'interlook.hosts': 'a.*.example.com', 'interlook.port': '80'}", "label interlook.hosts",
         "'a.*.example.com'"},
        {"{'interlook.hosts': '*.*.example.com', 'interlook.port': '80'}", "label interlook.hosts",
         "'*.*.example.com'"},
        {"{'interlook.hosts': 'web.example.com:80', 'interlook.port': '80'}",
         "label interlook.hosts", "'web.example.com:80'"},
        {"{'interlook.hosts': 'h\\u00e9llo.example.com', 'interlook.port': '80'}",
         "label interlook.hosts", "is not a DNS name"},
        {"{'interlook.hosts': 'a\\nb', 'interlook.port': '80'}", "label interlook.hosts",
         "'a?b' is not a DNS name"},
        {"{'interlook.hosts': 42, 'interlook.port': '80'}", "label interlook.hosts",
         "not a string"},
        {"{'interlook.hosts': null, 'interlook.port': '80'}", "label interlook.hosts",
         "not a string"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': 'http'}",
         "label interlook.port: 'http' is not a port number", ""},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '0'}", "label interlook.port",
         "'0'"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '65536'}", "label interlook.port",
         "'65536'"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '99999999999999999999999'}",
         "label interlook.port", "is not a port number"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': ''}", "label interlook.port",
         "'' is not"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '-1'}", "label interlook.port",
         "'-1'"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '+80'}", "label interlook.port",
         "'+80'"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': ' 80'}", "label interlook.port",
         "' 80'"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '8O'}", "label interlook.port",
         "'8O'"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80.0'}", "label interlook.port",
         "'80.0'"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': 80}", "label interlook.port",
         "not a string"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.ssl': 'maybe'}",
         "label interlook.ssl", "'maybe' is not a boolean"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.ssl': ''}",
         "label interlook.ssl", "'' is not a boolean"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.ssl': 'on'}",
         "label interlook.ssl", "'on'"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.ssl': '2'}",
         "label interlook.ssl", "'2'"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.ssl': true}",
         "label interlook.ssl", "not a string"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.name': ''}",
         "label interlook.name", "empty"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.name': 'a\\tb'}",
         "label interlook.name", "'a?b' contains a control character"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.name':"
         " 'del\\u007f'}",
         "label interlook.name", "control character"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.name': null}",
         "label interlook.name", "not a string"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80',"
         " 'interlook.publicPort': 'http'}",
         "label interlook.publicPort: 'http' is not a port number (1..65535)", ""},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80',"
         " 'interlook.publicPort': '0'}",
         "label interlook.publicPort", "'0' is not a port number"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80',"
         " 'interlook.publicPort': '65536'}",
         "label interlook.publicPort", "'65536'"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80',"
         " 'interlook.publicPort': ''}",
         "label interlook.publicPort", "'' is not"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80',"
         " 'interlook.publicPort': ' 443'}",
         "label interlook.publicPort", "' 443'"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80',"
         " 'interlook.publicPort': '-443'}",
         "label interlook.publicPort", "'-443'"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80',"
         " 'interlook.publicPort': 443}",
         "label interlook.publicPort", "not a string"},
        {"{'interlook.hosts': 'x.example.com', 'interlook.port': '80',"
         " 'interlook.publicPort': null}",
         "label interlook.publicPort", "not a string"},
        /* A public port alone is not a target port. */
        {"{'interlook.hosts': 'x.example.com', 'interlook.publicPort': '443'}",
         "missing label interlook.port", ""},
        /* The first problem is reported: hosts, port, publicPort, ssl, name. */
        {"{'interlook.hosts': 'bad_', 'interlook.port': 'http', 'interlook.ssl': 'x'}",
         "label interlook.hosts", "'bad_'"},
        {"{'interlook.hosts': 'ok', 'interlook.port': 'http', 'interlook.ssl': 'x'}",
         "label interlook.port", "'http'"},
        {"{'interlook.hosts': 'ok', 'interlook.port': 'http', 'interlook.publicPort': 'x'}",
         "label interlook.port", "'http'"},
        {"{'interlook.hosts': 'ok', 'interlook.port': '80', 'interlook.publicPort': 'x',"
         " 'interlook.ssl': 'y'}",
         "label interlook.publicPort", "'x'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        s_expect_skip(cases[i].labels, cases[i].label, cases[i].detail);
}

/* interlook.check: normalised into service->check, in both modes; a bad
 * value skips the object naming the label, as the other labels do; two
 * containers of one service must agree on it. */
static void test_check_label(void **state)
{
    (void)state;
    static const struct {
        const char *value, *check; /* the label ("" = absent), the service's check */
    } cases[] = {{"", NULL},
                 {"tcp", "tcp"},
                 {"none", "none"},
                 {"http", "http"},
                 {"http:/healthz", "http:/healthz"},
                 {"http:/healthz 200-200", "http:/healthz 200"},
                 {"http:/a?b=1 200-299", "http:/a?b=1 200-299"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char labels[512], fixture[2048];
        snprintf(labels, sizeof labels,
                 "{'interlook.hosts': 'one.example.com', 'interlook.port': '80'%s%s%s}",
                 *cases[i].value ? ", 'interlook.check': '" : "", cases[i].value,
                 *cases[i].value ? "'" : "");
        s_one_container(labels, fixture, sizeof fixture);
        s_skips_t skips;
        zhashx_t *services = s_containers(fixture, &s_config, &skips);
        if (skips.count) fail_msg("%s: skipped: %s", labels, skips.reason[0]);
        const il_service_t *one = s_get(services, "one");
        assert_same_string(one->check, cases[i].check, "check");
        zhashx_destroy(&services);
        s_one_swarm(labels, &skips, &services);
        if (skips.count) fail_msg("swarm %s: skipped: %s", labels, skips.reason[0]);
        one = s_get(services, "one");
        assert_same_string(one->check, cases[i].check, "swarm check");
        zhashx_destroy(&services);
    }
    static const struct {
        const char *value, *detail;
    } bad[] = {{"''", "'': must be tcp, none, http"},
               {"'HTTP'", "'HTTP': must be tcp"},
               {"'http:healthz'", "'healthz': not a URI path"},
               {"'http:/a b'", "'b': not a status"},
               {"'http:/a 600'", "'600': not a status"},
               {"'http:/a$x'", "not a URI path"},
               {"'http:/a#x'", "not a URI path"},
               {"true", "not a string"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char labels[512];
        snprintf(labels, sizeof labels,
                 "{'interlook.hosts': 'x.example.com', 'interlook.port': '80',"
                 " 'interlook.check': %s}",
                 bad[i].value);
        s_expect_skip(labels, "label interlook.check", bad[i].detail);
    }
    /* After interlook.name in the order of checks, before the selector. */
    s_expect_skip("{'interlook.hosts': 'x.example.com', 'interlook.port': '80',"
                  " 'interlook.name': '', 'interlook.check': 'bad'}",
                  "label interlook.name", "empty");

    /* Merged containers: the second disagrees, it is skipped naming the label. */
    s_skips_t skips;
    zhashx_t *services = s_containers(
        "["
        "{'Id': 'b1', 'Names': ['/lb-1'], 'State': 'running', 'Labels': {'interlook.name': 'lb',"
        " 'interlook.hosts': 'lb.example.com', 'interlook.port': '80',"
        " 'interlook.check': 'http:/healthz'}, 'Ports': ["
        " {'IP': '192.0.2.5', 'PrivatePort': 80, 'PublicPort': 8000, 'Type': 'tcp'}]},"
        "{'Id': 'b2', 'Names': ['/lb-2'], 'State': 'running', 'Labels': {'interlook.name': 'lb',"
        " 'interlook.hosts': 'lb.example.com', 'interlook.port': '80'},"
        " 'Ports': [{'IP': '192.0.2.6', 'PrivatePort': 80, 'PublicPort': 8000, 'Type': 'tcp'}]},"
        "{'Id': 'b3', 'Names': ['/lb-3'], 'State': 'running', 'Labels': {'interlook.name': 'lb',"
        " 'interlook.hosts': 'lb.example.com', 'interlook.port': '80',"
        " 'interlook.check': 'http:/healthz'},"
        " 'Ports': [{'IP': '192.0.2.7', 'PrivatePort': 80, 'PublicPort': 8000, 'Type': 'tcp'}]}"
        "]",
        &s_config, &skips);
    const il_service_t *lb = s_get(services, "lb");
    assert_string_equal(lb->check, "http:/healthz");
    assert_int_equal(lb->target_count, 2);
    assert_int_equal(skips.count, 1);
    assert_string_equal(skips.id[0], "b2");
    assert_contains(s_reason_for(&skips, "lb-2"),
                    "label interlook.check: '' here, but 'http:/healthz' on another container");
    zhashx_destroy(&services);
}

static void test_label_bounds(void **state)
{
    (void)state;
    char labels[8192];
    char label63[64], label64[65];
    memset(label63, 'a', 63);
    label63[63] = '\0';
    memset(label64, 'a', 64);
    label64[64] = '\0';

    /* 63-character labels and 253-character names pass; 64 and 254 do not. */
    char name253[254], name254[255];
    snprintf(name253, sizeof name253, "%s.%s.%s.%.61s", label63, label63, label63, label63);
    assert_int_equal(strlen(name253), 253);
    snprintf(name254, sizeof name254, "%s.%s.%s.%.62s", label63, label63, label63, label63);
    assert_int_equal(strlen(name254), 254);
    const char *valid[] = {label63, name253};
    for (size_t i = 0; i < 2; i++) {
        snprintf(labels, sizeof labels, "{'interlook.hosts': '%s', 'interlook.port': '80'}",
                 valid[i]);
        char fixture[8192];
        s_one_container(labels, fixture, sizeof fixture);
        s_skips_t skips;
        zhashx_t *services = s_containers(fixture, &s_config, &skips);
        if (skips.count) fail_msg("skipped: %s", skips.reason[0]);
        s_assert_aliases(s_get(services, "one"), (const char *const[]){valid[i], NULL});
        zhashx_destroy(&services);
    }
    snprintf(labels, sizeof labels, "{'interlook.hosts': '%s.example.com', 'interlook.port': '80'}",
             label64);
    s_expect_skip(labels, "label interlook.hosts", "is not a DNS name");
    snprintf(labels, sizeof labels, "{'interlook.hosts': '%s', 'interlook.port': '80'}", name254);
    s_expect_skip(labels, "label interlook.hosts", "is not a DNS name");
    /* The value shown in a reason is cut. */
    s_expect_skip(labels, "label interlook.hosts", "...' is not a DNS name");

    /* A 255-character interlook.name passes, 256 does not. */
    char name[257];
    memset(name, 'n', 256);
    name[255] = '\0';
    snprintf(labels, sizeof labels,
             "{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.name': '%s'}",
             name);
    char fixture[8192];
    s_one_container(labels, fixture, sizeof fixture);
    s_skips_t skips;
    zhashx_t *services = s_containers(fixture, &s_config, &skips);
    assert_int_equal(skips.count, 0);
    s_get(services, name);
    zhashx_destroy(&services);
    name[255] = 'n';
    name[256] = '\0';
    snprintf(labels, sizeof labels,
             "{'interlook.hosts': 'x.example.com', 'interlook.port': '80', 'interlook.name': '%s'}",
             name);
    s_expect_skip(labels, "label interlook.name", "is longer than 255 characters");

    /* At most 256 names. */
    size_t at =
        (size_t)snprintf(labels, sizeof labels, "{'interlook.port': '80', 'interlook.hosts': '");
    for (int i = 0; i < 257; i++)
        at += (size_t)snprintf(labels + at, sizeof labels - at, "%sh%d", i ? "," : "", i);
    snprintf(labels + at, sizeof labels - at, "'}");
    s_expect_skip(labels, "label interlook.hosts", "more than 256 names");
}

static void test_label_selector(void **state)
{
    (void)state;
    static const char *const selector[] = {"com.example.expose", "com.example.team", NULL};
    discovery_config_t config = s_config;
    config.label_selector = selector;
    s_skips_t skips;
    zhashx_t *services = s_containers(
        "["
        "{'Id': 'c1', 'Names': ['/all'], 'State': 'running', 'Labels': {'interlook.hosts':"
        " 'all.example.com', 'interlook.port': '80', 'com.example.expose': '',"
        " 'com.example.team': 'ops'}, 'Ports': [{'IP': '0.0.0.0', 'PrivatePort': 80,"
        " 'PublicPort': 18080, 'Type': 'tcp'}]},"
        "{'Id': 'c2', 'Names': ['/noteam'], 'State': 'running', 'Labels': {'interlook.hosts':"
        " 'noteam.example.com', 'interlook.port': '80', 'com.example.expose': 'true'},"
        " 'Ports': [{'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 18081, 'Type': 'tcp'}]},"
        "{'Id': 'c3', 'Names': ['/selectoronly'], 'State': 'running', 'Labels':"
        " {'com.example.team': 'ops'}, 'Ports': [{'IP': '0.0.0.0', 'PrivatePort': 80,"
        " 'PublicPort': 18082, 'Type': 'tcp'}]},"
        "{'Id': 'c4', 'Names': ['/other'], 'State': 'running', 'Labels': {'com.example': 'x',"
        " 'interlook': 'no dot'}, 'Ports': []}"
        "]",
        &config, &skips);
    assert_int_equal(zhashx_size(services), 1);
    s_get(services, "all");
    assert_int_equal(skips.count, 2);
    assert_string_equal(s_reason_for(&skips, "noteam"),
                        "missing label com.example.team (label selector)");
    assert_string_equal(s_reason_for(&skips, "selectoronly"), "missing label interlook.hosts");
    zhashx_destroy(&services);
}

static void test_containers_ignored(void **state)
{
    (void)state;
    /* Not running, not labelled, or not an object: no service and no callback. */
    s_skips_t skips;
    zhashx_t *services = s_containers(
        "[42, 'text', null, [], {}, true,"
        "{'Id': 'x1', 'Names': ['/exited'], 'State': 'exited', 'Labels': {'interlook.hosts':"
        " 'x.example.com', 'interlook.port': 'http'}, 'Ports': []},"
        "{'Id': 'x2', 'Names': ['/paused'], 'State': 'paused', 'Labels': {'interlook.port': '80'}},"
        "{'Id': 'x3', 'Names': ['/nostate'], 'Labels': {'interlook.port': '80'}},"
        "{'Id': 'x4', 'Names': ['/numstate'], 'State': 1, 'Labels': {'interlook.port': '80'}},"
        "{'Id': 'x5', 'Names': ['/nolabels'], 'State': 'running', 'Ports': []},"
        "{'Id': 'x6', 'Names': ['/nulllabels'], 'State': 'running', 'Labels': null},"
        "{'Id': 'x7', 'Names': ['/arraylabels'], 'State': 'running', 'Labels': ['interlook.port']},"
        "{'Id': 'x8', 'Names': ['/stringlabels'], 'State': 'running',"
        " 'Labels': 'interlook.port=80'},"
        "{'Id': 'x9', 'Names': ['/compose'], 'State': 'running', 'Labels':"
        " {'com.docker.compose.project': 'p', 'com.docker.compose.service': 's'}}"
        "]",
        &s_config, &skips);
    assert_int_equal(zhashx_size(services), 0);
    assert_int_equal(skips.count, 0);
    zhashx_destroy(&services);

    /* A NULL callback is allowed. */
    json_t *json = s_json("[{'Id': 'c1', 'State': 'running', 'Labels': {'interlook.port': '80'}}]");
    services = discovery_containers(json, &s_config, NULL, NULL);
    assert_non_null(services);
    assert_int_equal(zhashx_size(services), 0);
    zhashx_destroy(&services);
    json_decref(json);
}

static void test_containers_malformed(void **state)
{
    (void)state;
    /* Labelled running containers with broken fields: skipped with a reason, never a crash. */
    s_skips_t skips;
    zhashx_t *services = s_containers(
        "["
        "{'Id': 'm1', 'Names': ['/portsnull'], 'State': 'running', 'Labels': {'interlook.hosts':"
        " 'x.example.com', 'interlook.port': '80'}, 'Ports': null},"
        "{'Id': 'm2', 'Names': ['/portsobject'], 'State': 'running', 'Labels': {'interlook.hosts':"
        " 'x.example.com', 'interlook.port': '80'}, 'Ports': {'80/tcp': 18080}},"
        "{'Id': 'm3', 'Names': ['/portsbroken'], 'State': 'running', 'Labels': {'interlook.hosts':"
        " 'x.example.com', 'interlook.port': '80'}, 'Ports': [1, null, 'x', [],"
        " {'IP': '0.0.0.0', 'PrivatePort': '80', 'PublicPort': 18080, 'Type': 'tcp'},"
        " {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': '18080', 'Type': 'tcp'},"
        " {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 0, 'Type': 'tcp'},"
        " {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 70000, 'Type': 'tcp'},"
        " {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': -1, 'Type': 'tcp'},"
        " {'IP': '0.0.0.0', 'PrivatePort': 80.0, 'PublicPort': 18080, 'Type': 'tcp'},"
        " {'IP': '0.0.0.0', 'PrivatePort': 80, 'PublicPort': 18080, 'Type': 6},"
        " {'IP': 5, 'PrivatePort': 80, 'PublicPort': 18080, 'Type': 'tcp'},"
        " {'IP': null, 'PrivatePort': 80, 'PublicPort': 18080, 'Type': 'tcp'}]},"
        "{'Labels': {'interlook.hosts': 'x.example.com', 'interlook.port': '80'},"
        " 'State': 'running', 'Ports': [{'PrivatePort': 80, 'PublicPort': 18080, 'Type': 'tcp'}]},"
        "{'Id': 7, 'Names': 'oops', 'State': 'running', 'Labels': {'interlook.hosts':"
        " 'x.example.com', 'interlook.port': '80'}}"
        "]",
        &s_config, &skips);
    assert_int_equal(zhashx_size(services), 0);
    assert_int_equal(skips.count, 5);
    assert_contains(s_reason_for(&skips, "portsnull"), "interlook.port 80 is not published");
    assert_contains(s_reason_for(&skips, "portsobject"), "interlook.port 80 is not published");
    assert_contains(s_reason_for(&skips, "portsbroken"), "interlook.port 80 is not published");
    /* No Id, no Names: reported with empty strings. */
    assert_string_equal(skips.id[3], "");
    assert_string_equal(skips.name[3], "");
    assert_contains(skips.reason[3], "no usable name");
    assert_string_equal(skips.id[4], "");
    assert_contains(skips.reason[4], "no usable name");
    zhashx_destroy(&services);

    /* Not an array: NULL. An empty array: an empty hash. */
    const char *not_arrays[] = {"{}", "null", "'text'", "42", "{'Id': 'c1'}"};
    for (size_t i = 0; i < sizeof not_arrays / sizeof not_arrays[0]; i++) {
        json_t *json = s_json(not_arrays[i]);
        assert_null(discovery_containers(json, &s_config, s_on_skip, &skips));
        json_decref(json);
    }
    assert_null(discovery_containers(NULL, &s_config, s_on_skip, &skips));
    services = s_containers("[]", &s_config, &skips);
    assert_int_equal(zhashx_size(services), 0);
    zhashx_destroy(&services);
}

static void test_no_host_ip(void **state)
{
    (void)state;
    discovery_config_t config = s_config;
    config.host_ip = NULL;
    config.provider = NULL;
    s_skips_t skips;
    json_t *json = s_json(s_real_containers);
    memset(&skips, 0, sizeof skips);
    zhashx_t *services = discovery_containers(json, &config, s_on_skip, &skips);
    json_decref(json);
    /* Only the container bound to 127.0.0.1 has a target. */
    assert_int_equal(zhashx_size(services), 1);
    const il_service_t *local = zhashx_lookup(services, "disc-local");
    assert_non_null(local);
    assert_null(local->provider);
    assert_int_equal(s_weight(local, "127.0.0.1", 28081), 1);
    assert_contains(s_reason_for(&skips, "disc-web"),
                    "interlook.port 80 is published on all interfaces but no host_ip");
    zhashx_destroy(&services);
}

static void test_too_many_targets(void **state)
{
    (void)state;
    /* 1025 containers under one name, each on its own port: the last one does not fit. */
    json_t *list = json_array();
    for (int i = 0; i <= IL_SERVICE_MAX_TARGETS; i++) {
        char id[32];
        snprintf(id, sizeof id, "c%d", i);
        json_t *c =
            json_pack("{s:s, s:[s], s:s, s:{s:s, s:s, s:s}, s:[{s:s, s:i, s:i, s:s}]}", "Id", id,
                      "Names", "/many", "State", "running", "Labels", "interlook.name", "many",
                      "interlook.hosts", "many.example.com", "interlook.port", "80", "Ports", "IP",
                      "0.0.0.0", "PrivatePort", 80, "PublicPort", 20000 + i, "Type", "tcp");
        assert_non_null(c);
        json_array_append_new(list, c);
    }
    s_skips_t skips;
    memset(&skips, 0, sizeof skips);
    zhashx_t *services = discovery_containers(list, &s_config, s_on_skip, &skips);
    json_decref(list);
    assert_non_null(services);
    const il_service_t *many = s_get(services, "many");
    assert_int_equal(many->target_count, IL_SERVICE_MAX_TARGETS);
    assert_int_equal(skips.count, 1);
    assert_string_equal(skips.id[0], "c1024");
    assert_contains(skips.reason[0], "more than 1024 targets");
    zhashx_destroy(&services);
}

/* Swarm --------------------------------------------------------------------- */

static void test_real_swarm(void **state)
{
    (void)state;
    /* Settled: two web tasks on the one node give weight 2. */
    s_skips_t skips;
    zhashx_t *services =
        s_swarm(s_real_services, s_real_tasks_settled, s_real_nodes, &s_config, &skips);
    assert_int_equal(skips.count, 0);
    assert_int_equal(zhashx_size(services), 3);
    const il_service_t *web = s_get(services, "disc-svc-web");
    assert_int_equal(web->target_count, 1);
    assert_int_equal(s_weight(web, "192.0.2.2", 28090), 2);
    assert_false(web->tls);
    s_assert_aliases(web, (const char *const[]){"svc.example.com", NULL});
    const il_service_t *host = s_get(services, "disc-svc-host");
    assert_int_equal(host->target_count, 1);
    assert_int_equal(s_weight(host, "192.0.2.2", 28091), 1);
    assert_true(host->tls);
    const il_service_t *zero = s_get(services, "disc-svc-zero");
    assert_int_equal(zero->target_count, 0);
    s_assert_aliases(zero, (const char *const[]){"zero.example.com", NULL});
    zhashx_destroy(&services);

    /* Updating: the old task still runs (counted, by Status.State), the pending one is not. */
    services = s_swarm(s_real_services, s_real_tasks_updating, s_real_nodes, &s_config, &skips);
    assert_int_equal(skips.count, 0);
    host = s_get(services, "disc-svc-host");
    assert_int_equal(host->target_count, 1);
    assert_int_equal(s_weight(host, "192.0.2.2", 28091), 1);
    zhashx_destroy(&services);
}

static void test_swarm_nodes_and_tasks(void **state)
{
    (void)state;
    s_skips_t skips;
    zhashx_t *services = s_swarm(s_services4, s_tasks4, s_nodes4, &s_config, &skips);

    /* Ingress, two running tasks on two nodes (one failed task ignored); node2's Status.Addr
     * is 0.0.0.0, so its ManagerStatus.Addr gives the address. */
    const il_service_t *web = s_get(services, "web");
    assert_int_equal(web->target_count, 2);
    assert_int_equal(s_weight(web, "10.0.0.11", 30080), 1);
    assert_int_equal(s_weight(web, "10.0.0.12", 30080), 1);
    s_assert_aliases(web, (const char *const[]){"web.example.com", NULL});

    /* Two running tasks on node1: weight 2; starting and complete tasks ignored; the udp and
     * other-target ports ignored. */
    const il_service_t *api = s_get(services, "api");
    assert_int_equal(api->target_count, 1);
    assert_int_equal(s_weight(api, "10.0.0.11", 30081), 2);
    assert_true(api->tls);

    /* Host mode: [v6]:port manager address; a worker with 0.0.0.0 falls back to host_ip. */
    const il_service_t *edge = s_get(services, "edge");
    assert_int_equal(edge->target_count, 2);
    assert_int_equal(s_weight(edge, "2001:db8::13", 443), 1);
    assert_int_equal(s_weight(edge, HOST_IP, 443), 1);

    /* No running task yet: reported without targets. */
    const il_service_t *idle = s_get(services, "idle");
    assert_int_equal(idle->target_count, 0);

    /* Unlabelled: ignored silently. front claims 'web', taken by the service listed before. */
    assert_null(zhashx_lookup(services, "plain"));
    assert_int_equal(zhashx_size(services), 4);
    assert_int_equal(skips.count, 1);
    assert_string_equal(skips.id[0], "svcfrontaaaaaaaaaaaaaaaaa");
    assert_string_equal(skips.name[0], "front");
    assert_string_equal(skips.reason[0], "service name 'web' of front (svcfrontaaaaaaaaaaaaaaaaa)"
                                         " is already used by web (svcwebaaaaaaaaaaaaaaaaaaa)");
    zhashx_destroy(&services);

    /* Without host_ip, node4 has no address: its task gives no target. */
    discovery_config_t config = s_config;
    config.host_ip = NULL;
    services = s_swarm(s_services4, s_tasks4, s_nodes4, &config, &skips);
    edge = s_get(services, "edge");
    assert_int_equal(edge->target_count, 1);
    assert_int_equal(s_weight(edge, "2001:db8::13", 443), 1);
    zhashx_destroy(&services);
}

static void test_swarm_node_addresses(void **state)
{
    (void)state;
    static const struct {
        const char *node; /* the fields after ID */
        const char *addr; /* NULL: no target */
    } cases[] = {
        {"'Status': {'Addr': '10.1.0.1'}", "10.1.0.1"},
        {"'Status': {'Addr': '10.1.0.1'}, 'ManagerStatus': {'Addr': '10.9.9.9:2377'}", "10.1.0.1"},
        {"'Status': {'Addr': '0.0.0.0'}, 'ManagerStatus': {'Addr': '10.1.0.2:2377'}", "10.1.0.2"},
        {"'Status': {'Addr': ''}, 'ManagerStatus': {'Addr': '10.1.0.2:2377'}", "10.1.0.2"},
        {"'Status': {}, 'ManagerStatus': {'Addr': '10.1.0.2:2377'}", "10.1.0.2"},
        {"'Status': {'Addr': '::'}, 'ManagerStatus': {'Addr': '[fd00::2]:2377'}", "fd00::2"},
        {"'Status': {'Addr': '0.0.0.0'}, 'ManagerStatus': {'Addr': '10.1.0.2'}", "10.1.0.2"},
        {"'Status': {'Addr': '0.0.0.0'}, 'ManagerStatus': {'Addr': 'fd00::3'}", "fd00::3"},
        {"'Status': {'Addr': '0.0.0.0'}, 'ManagerStatus': {'Addr': 'mgr.example.com:2377'}",
         "mgr.example.com"},
        {"'Status': {'Addr': '0.0.0.0'}, 'ManagerStatus': {'Addr': '0.0.0.0:2377'}", HOST_IP},
        {"'Status': {'Addr': '0.0.0.0'}, 'ManagerStatus': {'Addr': '[fd00::4'}", HOST_IP},
        {"'Status': {'Addr': '0.0.0.0'}, 'ManagerStatus': {'Addr': ':2377'}", HOST_IP},
        {"'Status': {'Addr': '0.0.0.0'}, 'ManagerStatus': {'Addr': 5}", HOST_IP},
        {"'Status': {'Addr': '0.0.0.0'}, 'ManagerStatus': null", HOST_IP},
        {"'Status': {'Addr': 5}, 'ManagerStatus': 'x'", HOST_IP},
        {"'Status': null", HOST_IP},
        {"'Status': 'ready'", HOST_IP},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char nodes[512];
        snprintf(nodes, sizeof nodes, "[{'ID': 'n1', %s}]", cases[i].node);
        s_skips_t skips;
        zhashx_t *services = s_swarm("[{'ID': 's1', 'Spec': {'Name': 'one', 'Labels':"
                                     " {'interlook.hosts': 'one.example.com', 'interlook.port':"
                                     " '80'}}, 'Endpoint': {'Ports': [{'Protocol': 'tcp',"
                                     " 'TargetPort': 80, 'PublishedPort': 18080,"
                                     " 'PublishMode': 'ingress'}]}}]",
                                     "[{'ID': 't1', 'ServiceID': 's1', 'NodeID': 'n1', 'Status':"
                                     " {'State': 'running'}, 'DesiredState': 'running'}]",
                                     nodes, &s_config, &skips);
        const il_service_t *one = s_get(services, "one");
        assert_int_equal(one->target_count, 1);
        if (s_weight(one, cases[i].addr, 18080) != 1)
            fail_msg("%s: got %s, expected %s", cases[i].node, one->targets[0].host, cases[i].addr);
        zhashx_destroy(&services);
    }
}

static void test_swarm_publishing(void **state)
{
    (void)state;
    static const struct {
        const char *endpoint;
        uint16_t published[3]; /* 0-terminated; none: not published */
    } cases[] = {
        {"{'Ports': [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 30080,"
         " 'PublishMode': 'ingress'}]}",
         {30080}},
        {"{'Ports': [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 30080,"
         " 'PublishMode': 'host'}]}",
         {30080}},
        {"{'Ports': [{'TargetPort': 80, 'PublishedPort': 30080}]}", {30080}},
        {"{'Ports': [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 30080},"
         " {'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 30080}]}",
         {30080}},
        {"{'Ports': [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 30080},"
         " {'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 30081, 'PublishMode': 'host'}]}",
         {30080, 30081}},
        {"{'Ports': [{'Protocol': 'udp', 'TargetPort': 80, 'PublishedPort': 30080}]}", {0}},
        {"{'Ports': [{'Protocol': 'sctp', 'TargetPort': 80, 'PublishedPort': 30080}]}", {0}},
        {"{'Ports': [{'Protocol': 6, 'TargetPort': 80, 'PublishedPort': 30080}]}", {0}},
        {"{'Ports': [{'Protocol': 'tcp', 'TargetPort': 8080, 'PublishedPort': 30080}]}", {0}},
        {"{'Ports': [{'Protocol': 'tcp', 'TargetPort': 80}]}", {0}},
        {"{'Ports': [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 0}]}", {0}},
        {"{'Ports': [{'Protocol': 'tcp', 'TargetPort': '80', 'PublishedPort': 30080}]}", {0}},
        {"{'Ports': [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': '30080'}]}", {0}},
        {"{'Ports': [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 65536}]}", {0}},
        {"{'Ports': [1, null, 'x']}", {0}},
        {"{'Ports': []}", {0}},
        {"{'Ports': null}", {0}},
        {"{'Ports': {}}", {0}},
        {"{}", {0}},
        {"null", {0}},
        {"[]", {0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char fixture[1024];
        snprintf(fixture, sizeof fixture,
                 "[{'ID': 's1', 'Spec': {'Name': 'one', 'Labels': {'interlook.hosts':"
                 " 'one.example.com', 'interlook.port': '80'}}, 'Endpoint': %s}]",
                 cases[i].endpoint);
        s_skips_t skips;
        zhashx_t *services =
            s_swarm(fixture,
                    "[{'ID': 't1', 'ServiceID': 's1', 'NodeID': 'n1', 'Status':"
                    " {'State': 'running'}, 'DesiredState': 'running'}]",
                    "[{'ID': 'n1', 'Status': {'Addr': '10.0.0.1'}}]", &s_config, &skips);
        if (!cases[i].published[0]) {
            assert_int_equal(zhashx_size(services), 0);
            assert_int_equal(skips.count, 1);
            assert_string_equal(skips.reason[0], "interlook.port 80 is not published (docker "
                                                 "service create --publish ...:80)");
        } else {
            if (skips.count) fail_msg("%s: skipped: %s", cases[i].endpoint, skips.reason[0]);
            const il_service_t *one = s_get(services, "one");
            size_t n = 0;
            for (; n < 3 && cases[i].published[n]; n++)
                assert_int_equal(s_weight(one, "10.0.0.1", cases[i].published[n]), 1);
            assert_int_equal(one->target_count, n);
        }
        zhashx_destroy(&services);
    }
}

static void test_swarm_malformed(void **state)
{
    (void)state;
    s_skips_t skips;
    zhashx_t *services = s_swarm(
        "[42, null, 'x', [], {}, {'Spec': null}, {'Spec': 'x'}, {'Spec': {'Labels': null}},"
        "{'ID': 'u1', 'Spec': {'Name': 'labelsarray', 'Labels': ['interlook.port']}},"
        "{'ID': 'u2', 'Spec': {'Labels': {'interlook.hosts': 'x.example.com', 'interlook.port':"
        " '80'}}, 'Endpoint': {'Ports': [{'TargetPort': 80, 'PublishedPort': 30080}]}},"
        "{'ID': 'u3', 'Spec': {'Name': 5, 'Labels': {'interlook.hosts': 'x.example.com',"
        " 'interlook.port': '80'}}, 'Endpoint': {'Ports': [{'TargetPort': 80, 'PublishedPort':"
        " 30080}]}},"
        "{'Spec': {'Name': 'noid', 'Labels': {'interlook.hosts': 'x.example.com',"
        " 'interlook.port': '80'}}, 'Endpoint': {'Ports': [{'TargetPort': 80, 'PublishedPort':"
        " 30080}]}},"
        "{'ID': 'u5', 'Spec': {'Name': 'good', 'Labels': {'interlook.hosts': 'good.example.com',"
        " 'interlook.port': '80'}}, 'Endpoint': {'Ports': [{'TargetPort': 80, 'PublishedPort':"
        " 30081}]}}"
        "]",
        "[1, null, 'x', {}, {'Status': null}, {'Status': {'State': 5}},"
        " {'ServiceID': 5, 'NodeID': 'n1', 'Status': {'State': 'running'}},"
        " {'ServiceID': 'u5', 'NodeID': null, 'Status': {'State': 'running'}},"
        " {'ServiceID': 'u5', 'NodeID': 'ghost', 'Status': {'State': 'running'}},"
        " {'ServiceID': 'u5', 'NodeID': 'n1', 'Status': 'running'},"
        " {'ServiceID': '', 'NodeID': 'n1', 'Status': {'State': 'running'}},"
        " {'ServiceID': 'u5', 'NodeID': 'n1', 'Status': {'State': 'running'}}]",
        "[5, null, {}, {'ID': 5, 'Status': {'Addr': '10.0.0.5'}},"
        " {'ID': 'n1', 'Status': {'Addr': '10.0.0.1'}},"
        " {'ID': 'n1', 'Status': {'Addr': '10.0.0.99'}}]",
        &s_config, &skips);
    /* noid has no ID to match tasks: published without targets. */
    assert_int_equal(zhashx_size(services), 2);
    assert_int_equal(s_get(services, "noid")->target_count, 0);
    const il_service_t *good = s_get(services, "good");
    assert_int_equal(good->target_count, 1);
    assert_int_equal(s_weight(good, "10.0.0.1", 30081), 1);
    assert_int_equal(skips.count, 2);
    assert_string_equal(skips.id[0], "u2");
    assert_string_equal(skips.name[0], "");
    assert_contains(skips.reason[0], "no usable name");
    assert_string_equal(skips.id[1], "u3");
    assert_contains(skips.reason[1], "no usable name");
    zhashx_destroy(&services);

    /* Any input not an array: NULL. Empty arrays: an empty hash. */
    json_t *array = json_array();
    json_t *object = json_object();
    assert_null(discovery_swarm(object, array, array, &s_config, s_on_skip, &skips));
    assert_null(discovery_swarm(array, object, array, &s_config, s_on_skip, &skips));
    assert_null(discovery_swarm(array, array, object, &s_config, s_on_skip, &skips));
    assert_null(discovery_swarm(NULL, array, array, &s_config, s_on_skip, &skips));
    assert_null(discovery_swarm(array, NULL, array, &s_config, s_on_skip, &skips));
    assert_null(discovery_swarm(array, array, NULL, &s_config, s_on_skip, &skips));
    services = discovery_swarm(array, array, array, &s_config, NULL, NULL);
    assert_non_null(services);
    assert_int_equal(zhashx_size(services), 0);
    zhashx_destroy(&services);
    json_decref(array);
    json_decref(object);
}

static void test_swarm_duplicate_names(void **state)
{
    (void)state;
    /* Spec.Name of one is interlook.name of another; an invalid service claims nothing. */
    s_skips_t skips;
    zhashx_t *services = s_swarm(
        "["
        "{'ID': 'd0', 'Spec': {'Name': 'broken', 'Labels': {'interlook.name': 'shared',"
        " 'interlook.hosts': 'b.example.com', 'interlook.port': 'x'}}, 'Endpoint': {'Ports':"
        " [{'TargetPort': 80, 'PublishedPort': 30079}]}},"
        "{'ID': 'd1', 'Spec': {'Name': 'shared', 'Labels': {'interlook.hosts': 'a.example.com',"
        " 'interlook.port': '80'}}, 'Endpoint': {'Ports': [{'TargetPort': 80, 'PublishedPort':"
        " 30080}]}},"
        "{'ID': 'd2', 'Spec': {'Name': 'other', 'Labels': {'interlook.name': 'shared',"
        " 'interlook.hosts': 'b.example.com', 'interlook.port': '80'}}, 'Endpoint': {'Ports':"
        " [{'TargetPort': 80, 'PublishedPort': 30081}]}}"
        "]",
        "[{'ServiceID': 'd2', 'NodeID': 'n1', 'Status': {'State': 'running'}}]",
        "[{'ID': 'n1', 'Status': {'Addr': '10.0.0.1'}}]", &s_config, &skips);
    assert_int_equal(zhashx_size(services), 1);
    const il_service_t *shared = s_get(services, "shared");
    s_assert_aliases(shared, (const char *const[]){"a.example.com", NULL});
    assert_int_equal(shared->target_count, 0);
    assert_int_equal(skips.count, 2);
    assert_contains(s_reason_for(&skips, "broken"), "label interlook.port: 'x'");
    const char *reason = s_reason_for(&skips, "other");
    assert_contains(reason, "'shared'");
    assert_contains(reason, "other (d2)");
    assert_contains(reason, "shared (d1)");
    zhashx_destroy(&services);
}

static void test_swarm_many_tasks(void **state)
{
    (void)state;
    /* 3000 running tasks on one node: one target of weight 3000. */
    json_t *tasks = json_array();
    for (int i = 0; i < 3000; i++)
        json_array_append_new(tasks, json_pack("{s:s, s:s, s:{s:s}}", "ServiceID", "s1", "NodeID",
                                               "n1", "Status", "State", "running"));
    json_t *services_json = s_json("[{'ID': 's1', 'Spec': {'Name': 'one', 'Labels':"
                                   " {'interlook.hosts': 'one.example.com', 'interlook.port':"
                                   " '80'}}, 'Endpoint': {'Ports': [{'TargetPort': 80,"
                                   " 'PublishedPort': 18080}]}}]");
    json_t *nodes = s_json("[{'ID': 'n1', 'Status': {'Addr': '10.0.0.1'}}]");
    zhashx_t *services = discovery_swarm(services_json, tasks, nodes, &s_config, NULL, NULL);
    assert_non_null(services);
    assert_int_equal(s_weight(s_get(services, "one"), "10.0.0.1", 18080), 3000);
    zhashx_destroy(&services);
    json_decref(services_json);
    json_decref(tasks);
    json_decref(nodes);
}

/* The held set's names, sorted and joined with ',' into out. */
static const char *s_held_names(zhashx_t *held, char *out, size_t outlen)
{
    assert_non_null(held);
    zlistx_t *keys = zhashx_keys(held);
    zlistx_set_comparator(keys, (zlistx_comparator_fn *)strcmp);
    zlistx_sort(keys);
    out[0] = '\0';
    for (const char *k = zlistx_first(keys); k; k = zlistx_next(keys))
        snprintf(out + strlen(out), outlen - strlen(out), "%s%s", out[0] ? "," : "", k);
    zlistx_destroy(&keys);
    zhashx_destroy(&held);
    return out;
}

/* The /events lines: the fields the provider acts on from a real Engine line,
 * and what it does with the odd ones (not an object, too long, wrong types). */
static void test_event_parse(void **state)
{
    (void)state;
    /* Docker Engine 20.10.24, GET /events, a container's "die" (trimmed attributes). */
    const char *die =
        "{\"status\":\"die\",\"id\":"
        "\"7382350dce59a9b5959f7acc92c965ed73571feaea054b7fee0a19f5c7bc027f\","
        "\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":"
        "\"7382350dce59a9b5959f7acc92c965ed73571feaea054b7fee0a19f5c7bc027f\",\"Attributes\":"
        "{\"exitCode\":\"137\"}},\"scope\":\"local\",\"time\":1796426245,"
        "\"timeNano\":1796426245888046950}";
    discovery_event_t ev;
    char err[256];
    assert_int_equal(discovery_event_parse(die, strlen(die), &ev, err, sizeof err), 0);
    assert_string_equal(ev.type, "container");
    assert_string_equal(ev.action, "die");
    assert_string_equal(ev.id, "7382350dce59a9b5959f7acc92c965ed73571feaea054b7fee0a19f5c7bc027f");
    assert_int_equal(ev.time, 1796426245);

    /* len bounds the line: the rest of the buffer is not read */
    assert_int_equal(discovery_event_parse("{}garbage", 2, &ev, err, sizeof err), 0);
    assert_string_equal(ev.action, "");
    assert_int_equal(ev.time, 0);

    assert_int_equal(discovery_event_parse("[1,2]", 5, &ev, err, sizeof err), -1);
    assert_string_equal(err, "not a JSON object");
    assert_int_equal(discovery_event_parse("{\"Type\":", 8, &ev, err, sizeof err), -1);
    assert_true(err[0] != '\0');

    /* too long or of the wrong type: empty, never cut (a cut id would name another) */
    char longid[200];
    snprintf(longid, sizeof longid,
             "{\"Action\":\"die\",\"Actor\":{\"ID\":\"%0100d\"},\"time\":\"9\"}", 0);
    assert_int_equal(discovery_event_parse(longid, strlen(longid), &ev, err, sizeof err), 0);
    assert_string_equal(ev.action, "die");
    assert_string_equal(ev.id, "");
    assert_int_equal(ev.time, 0);
    const char *odd = "{\"Type\":7,\"Action\":\"exec_start: sh -c 'a very long command line'\"}";
    assert_int_equal(discovery_event_parse(odd, strlen(odd), &ev, err, sizeof err), 0);
    assert_string_equal(ev.type, "");
    assert_string_equal(ev.action, "");
}

static void test_containers_held(void **state)
{
    (void)state;
    char names[512];
    /* Every labelled container Docker still holds, whatever its state, named
     * as discovery_containers names it; not one being removed; not unlabelled
     * ones; labels not validated (a stopped container has no ports). */
    json_t *json = s_json(
        "["
        "{'Id': 'a', 'Names': ['/run'], 'State': 'running', 'Labels': {'interlook.hosts':"
        " 'r.example.com', 'interlook.port': '80'}},"
        "{'Id': 'b', 'Names': ['/stopped'], 'State': 'exited', 'Labels': {'interlook.hosts':"
        " 'x.example.com', 'interlook.port': '80', 'interlook.name': 'named'}},"
        "{'Id': 'c', 'Names': ['/c1'], 'State': 'created', 'Labels': {'interlook.port': 'bad',"
        " 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'front'}},"
        "{'Id': 'd', 'Names': ['/paused'], 'State': 'paused', 'Labels': {'interlook.hosts':"
        " 'p.example.com'}},"
        "{'Id': 'e', 'Names': ['/restarting'], 'State': 'restarting', 'Labels': {'interlook.x':"
        " ''}},"
        "{'Id': 'f', 'Names': ['/going'], 'State': 'removing', 'Labels': {'interlook.hosts':"
        " 'g.example.com', 'interlook.port': '80'}},"
        "{'Id': 'g', 'Names': ['/plain'], 'State': 'exited', 'Labels': {'other': 'x'}},"
        "{'Id': 'h', 'Names': ['/nolabels'], 'State': 'exited', 'Labels': null},"
        "{'Id': 'i', 'Names': ['/dead'], 'State': 'dead', 'Labels': {'interlook.port': '80'}},"
        "{'Id': 'j', 'Names': ['/emptyname'], 'State': 'exited', 'Labels': {'interlook.name':"
        " ''}},"
        "'not an object', 42, null"
        "]");
    assert_string_equal(
        s_held_names(discovery_containers_held(json, &s_config), names, sizeof names),
        "dead,emptyname,named,paused,restarting,run,shop_front");
    json_decref(json);

    /* The label selector makes a container take part, as for publishing. */
    const char *const selector[] = {"team", NULL};
    discovery_config_t config = s_config;
    config.label_selector = selector;
    json = s_json("[{'Id': 'a', 'Names': ['/sel'], 'State': 'exited', 'Labels': {'team': 'x'}},"
                  " {'Id': 'b', 'Names': ['/nosel'], 'State': 'exited', 'Labels': {'x': 'y'}}]");
    assert_string_equal(s_held_names(discovery_containers_held(json, &config), names, sizeof names),
                        "sel");
    json_decref(json);

    /* Not an array: NULL. */
    json = json_object();
    assert_null(discovery_containers_held(json, &s_config));
    assert_null(discovery_containers_held(NULL, &s_config));
    json_decref(json);
    json = json_array();
    assert_string_equal(
        s_held_names(discovery_containers_held(json, &s_config), names, sizeof names), "");
    json_decref(json);
}

static void test_swarm_held(void **state)
{
    (void)state;
    char names[512];
    /* Every service that takes part, published or not, running tasks or not:
     * interlook.name, else Spec.Name. */
    json_t *json =
        s_json("["
               "{'ID': 's1', 'Spec': {'Name': 'web', 'Labels': {'interlook.hosts': 'w.example.com',"
               " 'interlook.port': '80'}}},"
               "{'ID': 's2', 'Spec': {'Name': 'api', 'Labels': {'interlook.name': 'api-v2',"
               " 'interlook.port': 'x'}}},"
               "{'ID': 's3', 'Spec': {'Name': 'db', 'Labels': {'other': 'x'}}},"
               "{'ID': 's4', 'Spec': {'Labels': {'interlook.port': '80'}}},"
               "{'ID': 's5', 'Spec': {'Name': 'nolabels'}},"
               "'not an object'"
               "]");
    assert_string_equal(s_held_names(discovery_swarm_held(json, &s_config), names, sizeof names),
                        "api-v2,web");
    json_decref(json);
    json = json_object();
    assert_null(discovery_swarm_held(json, &s_config));
    assert_null(discovery_swarm_held(NULL, &s_config));
    json_decref(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_containers),
        cmocka_unit_test(test_bind_addresses),
        cmocka_unit_test(test_same_name_merges),
        cmocka_unit_test(test_identical_targets_add_weight),
        cmocka_unit_test(test_public_port_merge),
        cmocka_unit_test(test_naming),
        cmocka_unit_test(test_valid_labels),
        cmocka_unit_test(test_invalid_labels),
        cmocka_unit_test(test_check_label),
        cmocka_unit_test(test_label_bounds),
        cmocka_unit_test(test_label_selector),
        cmocka_unit_test(test_containers_ignored),
        cmocka_unit_test(test_containers_malformed),
        cmocka_unit_test(test_no_host_ip),
        cmocka_unit_test(test_too_many_targets),
        cmocka_unit_test(test_real_swarm),
        cmocka_unit_test(test_swarm_nodes_and_tasks),
        cmocka_unit_test(test_swarm_node_addresses),
        cmocka_unit_test(test_swarm_publishing),
        cmocka_unit_test(test_swarm_malformed),
        cmocka_unit_test(test_swarm_duplicate_names),
        cmocka_unit_test(test_swarm_many_tasks),
        cmocka_unit_test(test_containers_held),
        cmocka_unit_test(test_event_parse),
        cmocka_unit_test(test_swarm_held),
    };
    return test_run_group(tests, NULL, NULL);
}
