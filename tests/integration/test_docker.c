/* provider.docker against the real Docker Engine, end to end: interlookd +
 * interlook-ipalloc + interlook-docker, containers started and removed with
 * the docker CLI (the test's tool; the provider itself only speaks the API),
 * checked through the core's HTTP API. Needs a running dockerd and the image
 * interlook-test:latest (.ci/run provides both); without them every test
 * fails, loudly — it never skips. */
#include "tests/support/testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define WAIT_MS 30000
#define HOST_IP "192.0.2.10"

typedef struct {
    char *dir;
    char config[512];
    char api[64];
    char router[64];
    char publish[64];
    char label[64];  /* interlook.test=<this run>: every container of the test */
    char prefix[32]; /* service names of this run */
    pid_t core, alloc, docker;
    int spare_port; /* free like the stack's, for a daemon's TLS listener */
    /* conditions */
    const char *name;
    const char *state;
    size_t targets;
    bool any_undeployed; /* seen while watching */
} ctx_t;

static bool s_docker_up(void *arg)
{
    (void)arg;
    return test_sh("docker info >/dev/null 2>&1") == 0;
}

static bool s_docker_down(void *arg)
{
    return !s_docker_up(arg);
}

/* The provider.docker section's endpoint lines (unix socket by default). */
static char s_endpoint[4096] = "    endpoint: unix:///var/run/docker.sock\n";

static bool s_no_dockerd(void *arg)
{
    (void)arg;
    return test_sh("pidof dockerd >/dev/null") != 0;
}

/* The untrusted provider logged that listing failed (ctx->name is its log). */
static bool s_log_has_refusal(void *arg)
{
    ctx_t *ctx = arg;
    return test_sh("grep -q 'cannot list from tcp://' '%s'", ctx->name) == 0;
}

static void s_write_config(ctx_t *ctx, const char *mode)
{
    char text[8192];
    snprintf(text, sizeof text,
             "core:\n"
             "  logLevel: debug\n"
             "  logFile: %s/core.log\n"
             "  listen: %s\n"
             "  workflowSteps: provider.docker,ipam.ipalloc\n"
             "  workflowEntriesFile: %s/entries.db\n"
             "  checkFlowInterval: 100ms\n"
             "  workflowHousekeeperInterval: 300ms\n"
             "  serviceMaxLastUpdated: 1s\n"
             "  retryBackoffMin: 100ms\n"
             "  retryBackoffMax: 500ms\n"
             "  persistDelay: 20ms\n"
             "  bus: { router: %s, publish: %s, heartbeat: 200ms, liveness: 5 }\n"
             "ipam:\n"
             "  ipalloc: { network_cidr: 10.77.0.0/24, db_file: %s/ipalloc.db }\n"
             "provider:\n"
             "  docker:\n"
             "%s"
             "    mode: %s\n"
             "    labelSelector: [interlook.test]\n"
             "    pollInterval: 2s\n"
             "    hostIP: " HOST_IP "\n",
             ctx->dir, ctx->api + 7, ctx->dir, ctx->router, ctx->publish, ctx->dir, s_endpoint,
             mode);
    assert_int_equal(test_write_file(ctx->config, text), 0);
}

static int s_setup(void **state)
{
    if (!s_docker_up(NULL))
        fail_msg("no Docker daemon answers on /var/run/docker.sock: start dockerd "
                 "(.ci/run does) — these tests never skip");
    if (test_sh("docker image inspect interlook-test:latest >/dev/null 2>&1") != 0 &&
        test_sh("tests/support/docker-image.sh") != 0)
        fail_msg("cannot build the image interlook-test:latest (tests/support/docker-image.sh)");
    ctx_t *ctx = calloc(1, sizeof *ctx);
    ctx->dir = test_tmpdir();
    int ports[4];
    assert_int_equal(test_free_ports(ports, 4), 0);
    ctx->spare_port = ports[3];
    snprintf(ctx->api, sizeof ctx->api, "http://127.0.0.1:%d", ports[0]);
    snprintf(ctx->router, sizeof ctx->router, "tcp://127.0.0.1:%d", ports[1]);
    snprintf(ctx->publish, sizeof ctx->publish, "tcp://127.0.0.1:%d", ports[2]);
    snprintf(ctx->config, sizeof ctx->config, "%s/interlook.yml", ctx->dir);
    snprintf(ctx->label, sizeof ctx->label, "interlook.test=%d", (int)getpid());
    snprintf(ctx->prefix, sizeof ctx->prefix, "t%d", (int)getpid());
    s_write_config(ctx, "containers");
    *state = ctx;
    return 0;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    snprintf(s_endpoint, sizeof s_endpoint, "    endpoint: unix:///var/run/docker.sock\n");
    if (!s_docker_up(NULL)) { /* a failed restart test must not leave the daemon down */
        test_sh("dockerd >>/tmp/interlook-test-dockerd.log 2>&1 &");
        test_wait(s_docker_up, NULL, 60000);
    }
    test_sh("docker ps -aq --filter label=%s | xargs -r docker rm -f >/dev/null 2>&1", ctx->label);
    test_sh("docker service ls -q --filter label=%s 2>/dev/null | xargs -r docker service rm "
            ">/dev/null 2>&1",
            ctx->label);
    test_stop(ctx->docker, SIGTERM, 5000);
    test_stop(ctx->alloc, SIGTERM, 5000);
    test_stop(ctx->core, SIGTERM, 5000);
    test_sh("rm -rf '%s'", ctx->dir);
    free(ctx->dir);
    free(ctx);
    return 0;
}

static bool s_healthy(void *arg)
{
    ctx_t *ctx = arg;
    char url[128];
    snprintf(url, sizeof url, "%s/health", ctx->api);
    long status = 0;
    free(test_http_get(url, &status));
    return status == 200;
}

static void s_start_stack(ctx_t *ctx)
{
    const char *args[] = {"-c", ctx->config, NULL};
    ctx->core = test_spawn("interlookd", args);
    assert_true(test_wait(s_healthy, ctx, WAIT_MS));
    ctx->alloc = test_spawn("interlook-ipalloc", args);
    ctx->docker = test_spawn("interlook-docker", args);
    assert_true(ctx->alloc > 0 && ctx->docker > 0);
}

static json_t *s_entry(ctx_t *ctx, const char *name)
{
    char url[512];
    snprintf(url, sizeof url, "%s/services/%s", ctx->api, name);
    long status = 0;
    char *body = test_http_get(url, &status);
    json_t *json = body && status == 200 ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return json;
}

/* The entry is in that state, not in progress, with that many targets. */
static bool s_is(void *arg)
{
    ctx_t *ctx = arg;
    json_t *e = s_entry(ctx, ctx->name);
    bool ok = false;
    if (e) {
        const char *state = json_string_value(json_object_get(e, "state"));
        json_t *svc = json_object_get(e, "service");
        if (state && !strcmp(state, "undeployed")) ctx->any_undeployed = true;
        ok = state && !strcmp(state, ctx->state) && !json_is_true(json_object_get(e, "wip")) &&
             (ctx->targets == SIZE_MAX ||
              json_array_size(json_object_get(svc, "targets")) == ctx->targets);
        json_decref(e);
    }
    return ok;
}

static void s_wait(ctx_t *ctx, const char *name, const char *state, size_t targets)
{
    ctx->name = name;
    ctx->state = state;
    ctx->targets = targets;
    if (!test_wait(s_is, ctx, WAIT_MS)) {
        json_t *e = s_entry(ctx, name);
        char *text = e ? json_dumps(e, JSON_COMPACT) : strdup("(no entry)");
        json_decref(e);
        fail_msg("%s did not become %s with %zu targets: %s", name, state, targets, text);
    }
}

static void s_run(ctx_t *ctx, const char *name, int port, const char *extra)
{
    assert_int_equal(
        test_sh("docker run -d -l %s -l interlook.name=%s -l interlook.hosts=%s.example.com "
                "-l interlook.port=80 -p %d:80 %s interlook-test:latest >/dev/null",
                ctx->label, name, name, port, extra ? extra : ""),
        0);
}

static void test_container_deploy_scale_remove(void **state)
{
    ctx_t *ctx = *state;
    s_start_stack(ctx);
    char name[64];
    snprintf(name, sizeof name, "%s-web", ctx->prefix);
    int ports[2];
    assert_int_equal(test_free_ports(ports, 2), 0);

    s_run(ctx, name, ports[0], NULL);
    int64_t start = zclock_mono(); /* from the moment the container runs */
    s_wait(ctx, name, "deployed", 1);
    print_message("      container running -> deployed with its IP: %lld ms\n",
                  (long long)(zclock_mono() - start));
    json_t *e = s_entry(ctx, name);
    json_t *svc = json_object_get(e, "service");
    char ip[64];
    assert_non_null(json_string_value(json_object_get(svc, "public_ip")));
    snprintf(ip, sizeof ip, "%s", json_string_value(json_object_get(svc, "public_ip")));
    assert_int_equal(strncmp(ip, "10.77.0.", 8), 0);
    json_t *target = json_array_get(json_object_get(svc, "targets"), 0);
    assert_string_equal(json_string_value(json_object_get(target, "host")), HOST_IP);
    assert_int_equal(json_integer_value(json_object_get(target, "port")), ports[0]);
    char alias[128];
    snprintf(alias, sizeof alias, "%s.example.com", name);
    assert_string_equal(json_string_value(json_array_get(json_object_get(svc, "dns_aliases"), 0)),
                        alias);
    assert_string_equal(json_string_value(json_object_get(svc, "provider")), "provider.docker");
    json_decref(e);

    /* A second replica adds a target; the IP stays. */
    s_run(ctx, name, ports[1], NULL);
    start = zclock_mono();
    s_wait(ctx, name, "deployed", 2);
    print_message("      second replica -> two targets: %lld ms\n",
                  (long long)(zclock_mono() - start));
    e = s_entry(ctx, name);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "service"), "public_ip")), ip);
    json_decref(e);

    /* Removed: undeployed, the IP released. */
    start = zclock_mono();
    assert_int_equal(
        test_sh("docker ps -q --filter label=%s | xargs -r docker rm -f >/dev/null", ctx->label),
        0);
    s_wait(ctx, name, "undeployed", SIZE_MAX);
    print_message("      docker rm -f -> undeployed: %lld ms\n",
                  (long long)(zclock_mono() - start));
    e = s_entry(ctx, name);
    assert_true(json_is_null(json_object_get(json_object_get(e, "service"), "public_ip")));
    json_decref(e);
}

static void test_invalid_label_warned_once(void **state)
{
    ctx_t *ctx = *state;
    s_start_stack(ctx);
    char bad[64], good[64];
    snprintf(bad, sizeof bad, "%s-bad", ctx->prefix);
    snprintf(good, sizeof good, "%s-good", ctx->prefix);
    assert_int_equal(test_sh("docker run -d --name %s -l %s -l interlook.hosts=x.example.com "
                             "-l interlook.port=http -p 80 interlook-test:latest >/dev/null",
                             bad, ctx->label),
                     0);
    /* Several listings happen (events of the good one, the 2 s poll): one warning only. */
    int ports[1];
    assert_int_equal(test_free_ports(ports, 1), 0);
    s_run(ctx, good, ports[0], NULL);
    s_wait(ctx, good, "deployed", 1);
    assert_int_equal(
        test_sh("docker ps -q --filter label=interlook.name=%s | xargs -r docker rm -f "
                ">/dev/null",
                good),
        0);
    s_wait(ctx, good, "undeployed", SIZE_MAX);
    json_t *none = s_entry(ctx, bad);
    assert_null(none);
    char log[256];
    snprintf(log, sizeof log, "%s/interlook-test-interlook-docker-%d.log",
             getenv("INTERLOOK_TEST_LOGDIR") ? getenv("INTERLOOK_TEST_LOGDIR") : "/tmp",
             (int)getpid());
    /* exactly one line names the bad container, and it names the label */
    assert_int_equal(test_sh("test $(grep -c '%s' '%s') -eq 1", bad, log), 0);
    assert_int_equal(test_sh("grep '%s' '%s' | grep -q interlook.port", bad, log), 0);
}

static bool s_watch_until_up(void *arg)
{
    ctx_t *ctx = arg;
    s_is(ctx); /* records any undeployed state seen */
    return s_docker_up(NULL);
}

static void test_dockerd_restart(void **state)
{
    ctx_t *ctx = *state;
    s_start_stack(ctx);
    char name[64], later[64];
    snprintf(name, sizeof name, "%s-survivor", ctx->prefix);
    snprintf(later, sizeof later, "%s-later", ctx->prefix);
    int ports[2];
    assert_int_equal(test_free_ports(ports, 2), 0);
    s_run(ctx, name, ports[0], "--restart always");
    s_wait(ctx, name, "deployed", 1);

    /* Stop the daemon: the provider must not take "unreachable" for "empty". */
    assert_int_equal(test_sh("kill -TERM $(pidof dockerd)"), 0);
    assert_true(test_wait(s_docker_down, NULL, WAIT_MS));
    ctx->name = name;
    ctx->state = "deployed";
    ctx->targets = 1;
    ctx->any_undeployed = false;
    /* The provider notices (a failed listing), then fails again at its 2 s poll:
     * watch the whole time that the service stays deployed. */
    char log[256];
    snprintf(log, sizeof log, "%s/interlook-test-interlook-docker-%d.log",
             getenv("INTERLOOK_TEST_LOGDIR") ? getenv("INTERLOOK_TEST_LOGDIR") : "/tmp",
             (int)getpid());
    int64_t noticed = 0, until = zclock_mono() + WAIT_MS;
    while (zclock_mono() < until) {
        assert_true(s_is(ctx));
        if (!noticed && test_sh("grep -q 'cannot list from' '%s'", log) == 0)
            noticed = zclock_mono();
        if (noticed && zclock_mono() - noticed > 2 * 2000) break; /* two poll periods seen */
        zclock_sleep(100); /* sampling interval of the watch */
    }
    assert_true(noticed > 0);
    assert_int_equal(test_sh("dockerd >>/tmp/interlook-test-dockerd.log 2>&1 &"), 0);
    assert_true(test_wait(s_watch_until_up, ctx, 60000));
    assert_false(ctx->any_undeployed);

    /* A change right after the restart is picked up (stream re-established, re-list). */
    s_run(ctx, later, ports[1], NULL);
    s_wait(ctx, later, "deployed", 1);
    s_wait(ctx, name, "deployed", 1);
    assert_false(ctx->any_undeployed);
}

/* A container removed while the provider was down does not stay registered:
 * the core asks about services its provider has not confirmed lately, and the
 * provider, back, answers that this one is gone. */
static void test_removed_while_provider_down(void **state)
{
    ctx_t *ctx = *state;
    s_start_stack(ctx);
    char name[64];
    snprintf(name, sizeof name, "%s-orphan", ctx->prefix);
    int ports[1];
    assert_int_equal(test_free_ports(ports, 1), 0);
    s_run(ctx, name, ports[0], NULL);
    s_wait(ctx, name, "deployed", 1);
    int status = test_stop(ctx->docker, SIGTERM, 5000);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(
        test_sh("docker rm -f $(docker ps -q --filter label=interlook.name=%s) >/dev/null", name),
        0);
    const char *args[] = {"-c", ctx->config, NULL};
    ctx->docker = test_spawn("interlook-docker", args);
    s_wait(ctx, name, "undeployed", SIZE_MAX);
}

/* Restarts dockerd, with extra arguments (NULL: plain, as .ci/run starts it). */
static void s_restart_dockerd(const char *extra)
{
    assert_int_equal(test_sh("kill -TERM $(pidof dockerd)"), 0);
    assert_true(test_wait(s_docker_down, NULL, WAIT_MS));
    /* the daemon may still be releasing its pid file after the socket went */
    assert_true(test_wait(s_no_dockerd, NULL, WAIT_MS));
    assert_int_equal(
        test_sh("dockerd %s >>/tmp/interlook-test-dockerd.log 2>&1 &", extra ? extra : ""), 0);
    assert_true(test_wait(s_docker_up, NULL, 60000));
}

/* TCP with TLS client certificates, against dockerd --tlsverify; a client
 * with a certificate the daemon does not trust lists nothing and deletes nothing. */
static void test_tls_endpoint(void **state)
{
    ctx_t *ctx = *state;
    char certs[256];
    snprintf(certs, sizeof certs, "%s/tls", ctx->dir);
    assert_int_equal(test_sh("tests/support/tls-certs.sh '%s'", certs), 0);
    int port[1] = {ctx->spare_port};
    char extra[2048];
    snprintf(extra, sizeof extra,
             "-H unix:///var/run/docker.sock -H tcp://127.0.0.1:%d --tlsverify "
             "--tlscacert %s/ca.pem --tlscert %s/server.pem --tlskey %s/server-key.pem",
             port[0], certs, certs, certs);
    s_restart_dockerd(extra);
    snprintf(s_endpoint, sizeof s_endpoint,
             "    endpoint: tcp://127.0.0.1:%d\n"
             "    tlsCa: %s/ca.pem\n    tlsCert: %s/cert.pem\n    tlsKey: %s/key.pem\n",
             port[0], certs, certs, certs);
    s_write_config(ctx, "containers");
    s_start_stack(ctx);
    char name[64];
    snprintf(name, sizeof name, "%s-tls", ctx->prefix);
    int ports[1];
    assert_int_equal(test_free_ports(ports, 1), 0);
    s_run(ctx, name, ports[0], NULL);
    s_wait(ctx, name, "deployed", 1);

    /* A second provider instance with an untrusted certificate: refused by the
     * daemon, it reports nothing, and the service stays deployed. */
    char bad_config[300];
    snprintf(bad_config, sizeof bad_config, "%s/bad-tls.yml", ctx->dir);
    snprintf(s_endpoint, sizeof s_endpoint,
             "    endpoint: tcp://127.0.0.1:%d\n"
             "    tlsCa: %s/ca.pem\n    tlsCert: %s/other-cert.pem\n    tlsKey: %s/other-key.pem\n",
             port[0], certs, certs, certs);
    char saved[512];
    snprintf(saved, sizeof saved, "%s", ctx->config);
    snprintf(ctx->config, sizeof ctx->config, "%s", bad_config);
    s_write_config(ctx, "containers");
    snprintf(ctx->config, sizeof ctx->config, "%s", saved);
    const char *args[] = {"-c", bad_config, "--instance", "untrusted", NULL};
    pid_t bad = test_spawn("interlook-docker", args);
    char log[256];
    snprintf(log, sizeof log, "%s/interlook-test-interlook-docker-%d.log",
             getenv("INTERLOOK_TEST_LOGDIR") ? getenv("INTERLOOK_TEST_LOGDIR") : "/tmp",
             (int)getpid());
    ctx->name = log;
    assert_true(test_wait(s_log_has_refusal, ctx, WAIT_MS));
    s_wait(ctx, name, "deployed", 1);
    test_stop(bad, SIGTERM, 5000);
    snprintf(s_endpoint, sizeof s_endpoint, "    endpoint: unix:///var/run/docker.sock\n");
    test_sh("docker ps -aq --filter label=%s | xargs -r docker rm -f >/dev/null 2>&1", ctx->label);
    s_restart_dockerd(NULL);
}

static void test_swarm_services(void **state)
{
    ctx_t *ctx = *state;
    bool joined =
        test_sh("docker info --format '{{.Swarm.LocalNodeState}}' | grep -qx active") == 0;
    if (!joined) assert_int_equal(test_sh("docker swarm init >/dev/null 2>&1"), 0);
    s_write_config(ctx, "swarm");
    s_start_stack(ctx);
    char name[64];
    snprintf(name, sizeof name, "%s-sw", ctx->prefix);
    int ports[1];
    assert_int_equal(test_free_ports(ports, 1), 0);
    assert_int_equal(
        test_sh("docker service create -d --name %s -l %s -l interlook.hosts=%s.example.com "
                "-l interlook.port=80 -p %d:80 interlook-test:latest >/dev/null 2>&1",
                name, ctx->label, name, ports[0]),
        0);
    s_wait(ctx, name, "deployed", 1);
    json_t *e = s_entry(ctx, name);
    json_t *target = json_array_get(json_object_get(json_object_get(e, "service"), "targets"), 0);
    assert_int_equal(json_integer_value(json_object_get(target, "port")), ports[0]);
    assert_int_equal(json_integer_value(json_object_get(target, "weight")), 1);
    json_decref(e);

    /* Scale to 2: both tasks on this one node -> one target of weight 2. */
    assert_int_equal(test_sh("docker service scale -d %s=2 >/dev/null 2>&1", name), 0);
    ctx->name = name;
    bool weighted = false;
    int64_t until = zclock_mono() + WAIT_MS;
    while (!weighted && zclock_mono() < until) {
        e = s_entry(ctx, name);
        target = json_array_get(json_object_get(json_object_get(e, "service"), "targets"), 0);
        weighted = json_integer_value(json_object_get(target, "weight")) == 2 &&
                   !strcmp(json_string_value(json_object_get(e, "state")), "deployed");
        json_decref(e);
        if (!weighted) zclock_sleep(50); /* re-check interval, bounded by until */
    }
    assert_true(weighted);

    assert_int_equal(test_sh("docker service rm %s >/dev/null", name), 0);
    s_wait(ctx, name, "undeployed", SIZE_MAX);
    if (!joined) test_sh("docker swarm leave --force >/dev/null 2>&1");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* TEST_FILTER=pattern runs only the matching tests (for debugging by hand). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_container_deploy_scale_remove, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_label_warned_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dockerd_restart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_removed_while_provider_down, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_tls_endpoint, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_swarm_services, s_setup, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
