/* provider.docker against the real Docker Engine, end to end: interlookd +
 * interlook-ipalloc + interlook-docker, containers started and removed with
 * the docker CLI (the test's tool; the provider itself only speaks the API),
 * checked through the core's HTTP API. Needs a running dockerd and the image
 * interlook-test:latest (.ci/run provides both); without them every test
 * fails, loudly — it never skips. */
#include "tests/support/fixture.h"
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
    fixture_t *stack;
    const char *dir;
    char config[512]; /* where s_write_config writes (the stack's file, unless a test changes it) */
    const char *api;
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

/* Writes the stack's configuration (then copied to ctx->config when a test
 * points that elsewhere). */
static void s_write_config(ctx_t *ctx, const char *mode)
{
    char sections[8192];
    snprintf(sections, sizeof sections,
             "ipam:\n"
             "  ipalloc: { network_cidr: 10.77.0.0/24, db_file: {dir}/ipalloc.db }\n"
             "provider:\n"
             "  docker:\n"
             "%s"
             "    mode: %s\n"
             "    labelSelector: [interlook.test]\n"
             "    pollInterval: 2s\n"
             "    hostIP: " HOST_IP "\n",
             s_endpoint, mode);
    assert_int_equal(fixture_config_write(ctx->stack,
                                          "  logLevel: debug\n"
                                          "  workflowSteps: provider.docker,ipam.ipalloc\n"
                                          "  checkFlowInterval: 100ms\n"
                                          "  workflowHousekeeperInterval: 300ms\n"
                                          "  serviceMaxLastUpdated: 1s\n"
                                          "  retryBackoffMin: 100ms\n"
                                          "  retryBackoffMax: 500ms\n"
                                          "  persistDelay: 20ms\n",
                                          sections),
                     0);
    if (strcmp(ctx->config, fixture_config(ctx->stack)))
        assert_int_equal(test_sh("cp '%s' '%s'", fixture_config(ctx->stack), ctx->config), 0);
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
    fixture_opts_t opts = {.name = "test_docker", .bus = "heartbeat: 200ms, liveness: 5"};
    ctx->stack = fixture_new(&opts);
    assert_non_null(ctx->stack);
    ctx->dir = fixture_dir(ctx->stack);
    ctx->api = fixture_api(ctx->stack);
    snprintf(ctx->config, sizeof ctx->config, "%s", fixture_config(ctx->stack));
    /* dockerd's own TLS listener (one test): dockerd binds it, not us */
    assert_int_equal(test_free_ports(&ctx->spare_port, 1), 0);
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
    fixture_destroy(&ctx->stack);
    free(ctx);
    return 0;
}

static void s_start_stack(ctx_t *ctx)
{
    ctx->core = fixture_start_core(ctx->stack, WAIT_MS);
    assert_true(ctx->core > 0);
    ctx->alloc = fixture_spawn_ext(ctx->stack, "interlook-ipalloc", NULL, NULL);
    ctx->docker = fixture_spawn_ext(ctx->stack, "interlook-docker", NULL, NULL);
    assert_true(ctx->alloc > 0 && ctx->docker > 0);
}

static json_t *s_entry(ctx_t *ctx, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "/services/%s", name);
    return fixture_api_get(ctx->stack, path);
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

/* Runs a labelled container of the test image whose port 80 Docker publishes
 * on a host port of its choosing (no port is probed free and taken later).
 * Returns that port. */
static int s_run(ctx_t *ctx, const char *name, const char *extra)
{
    char *id = test_sh_output("docker run -d -l %s -l interlook.name=%s "
                              "-l interlook.hosts=%s.example.com -l interlook.port=80 -p 80 %s "
                              "interlook-test:latest",
                              ctx->label, name, name, extra ? extra : "");
    assert_non_null(id);
    /* "0.0.0.0:49153" (and "[::]:49153"): the first line's port */
    char *mapped = test_sh_output("docker port %s 80/tcp | head -1", id);
    free(id);
    assert_non_null(mapped);
    const char *colon = strrchr(mapped, ':');
    int port = colon ? atoi(colon + 1) : 0;
    free(mapped);
    assert_in_range(port, 1, 65535);
    return port;
}

/* The port a swarm service's port 80 was published on (the manager chose
 * it), waited for as the manager allocates it. */
static bool s_service_port_set(void *arg)
{
    const char *name = ((const char **)arg)[0];
    int *port = ((int **)arg)[1];
    char *text = test_sh_output("docker service inspect --format "
                                "'{{range .Endpoint.Ports}}{{.PublishedPort}} {{end}}' %s",
                                name);
    *port = text ? atoi(text) : 0;
    free(text);
    return *port > 0;
}

static int s_service_port(const char *name)
{
    int port = 0;
    const void *arg[2] = {name, &port};
    assert_true(test_wait(s_service_port_set, arg, WAIT_MS));
    return port;
}

static void test_container_deploy_scale_remove(void **state)
{
    ctx_t *ctx = *state;
    s_start_stack(ctx);
    char name[64];
    snprintf(name, sizeof name, "%s-web", ctx->prefix);

    int port0 = s_run(ctx, name, NULL);
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
    assert_int_equal(json_integer_value(json_object_get(target, "port")), port0);
    char alias[128];
    snprintf(alias, sizeof alias, "%s.example.com", name);
    assert_string_equal(json_string_value(json_array_get(json_object_get(svc, "dns_aliases"), 0)),
                        alias);
    assert_string_equal(json_string_value(json_object_get(svc, "provider")), "provider.docker");
    /* No interlook.publicPort: the public port is interlook.port. */
    assert_int_equal(json_integer_value(json_object_get(svc, "port")), 80);
    json_decref(e);

    /* A second replica adds a target; the IP stays. */
    s_run(ctx, name, NULL);
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

/* interlook.publicPort gives the service's public port (not a target's). */
static void test_public_port_label(void **state)
{
    ctx_t *ctx = *state;
    s_start_stack(ctx);
    char name[64];
    snprintf(name, sizeof name, "%s-pp", ctx->prefix);
    int port0 = s_run(ctx, name, "-l interlook.publicPort=8443");
    s_wait(ctx, name, "deployed", 1);
    json_t *e = s_entry(ctx, name);
    json_t *svc = json_object_get(e, "service");
    assert_int_equal(json_integer_value(json_object_get(svc, "port")), 8443);
    json_t *target = json_array_get(json_object_get(svc, "targets"), 0);
    assert_int_equal(json_integer_value(json_object_get(target, "port")), port0);
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
    s_run(ctx, good, NULL);
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
    s_run(ctx, name, "--restart always");
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
    s_run(ctx, later, NULL);
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
    s_run(ctx, name, NULL);
    s_wait(ctx, name, "deployed", 1);
    int status = test_stop(ctx->docker, SIGTERM, 5000);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(
        test_sh("docker rm -f $(docker ps -q --filter label=interlook.name=%s) >/dev/null", name),
        0);
    ctx->docker = fixture_spawn_ext(ctx->stack, "interlook-docker", NULL, NULL);
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
    s_run(ctx, name, NULL);
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
    assert_int_equal(
        test_sh("docker service create -d --name %s -l %s -l interlook.hosts=%s.example.com "
                "-l interlook.port=80 -p 80 interlook-test:latest >/dev/null 2>&1",
                name, ctx->label, name),
        0);
    int port0 = s_service_port(name);
    s_wait(ctx, name, "deployed", 1);
    json_t *e = s_entry(ctx, name);
    json_t *target = json_array_get(json_object_get(json_object_get(e, "service"), "targets"), 0);
    assert_int_equal(json_integer_value(json_object_get(target, "port")), port0);
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

/* Sets provider.docker's key to value in the configuration file (the
 * section is the file's last: the line is replaced, or appended). */
static void s_provider_option(ctx_t *ctx, const char *key, const char *value)
{
    assert_int_equal(test_sh("sed -i '/^    %s:/d' '%s' && printf '    %s: %s\\n' >>'%s'", key,
                             ctx->config, key, value, ctx->config),
                     0);
}

/* Waits at most ms for name to be in state with targets (SIZE_MAX: any). */
static bool s_within(ctx_t *ctx, const char *name, const char *state, size_t targets, int ms)
{
    ctx->name = name;
    ctx->state = state;
    ctx->targets = targets;
    return test_wait(s_is, ctx, ms);
}

/* With a grace and a poll far longer than the bounds below, only the events
 * can make these tests pass in time. */
static void s_long_timers(ctx_t *ctx)
{
    s_provider_option(ctx, "deleteGrace", "30s");
    s_provider_option(ctx, "pollInterval", "60s");
    s_provider_option(ctx, "logLevel", "debug");
}

#define S_SOON_MS 10000 /* "at once", for a loaded machine: a third of the grace */

/* The provider's log (logLevel debug) has a line matching ctx->state (grep -E). */
static bool s_provider_logged(void *arg)
{
    ctx_t *ctx = arg;
    const char *dir = getenv("INTERLOOK_TEST_LOGDIR") ? getenv("INTERLOOK_TEST_LOGDIR") : "/tmp";
    return test_sh("grep -qE '%s' '%s/interlook-test-interlook-docker-%d.log'", ctx->state, dir,
                   (int)getpid()) == 0;
}

/* A container started while another service waits out its deleteGrace is
 * reported at once, not when that grace ends; the stopped one keeps its
 * grace, and is deleted at once when its container is then removed. */
static void test_report_not_behind_grace(void **state)
{
    ctx_t *ctx = *state;
    s_long_timers(ctx);
    s_start_stack(ctx);
    char stopped[64], next[64];
    snprintf(stopped, sizeof stopped, "%s-stopped", ctx->prefix);
    snprintf(next, sizeof next, "%s-next", ctx->prefix);
    s_run(ctx, stopped, NULL);
    s_wait(ctx, stopped, "deployed", 1);

    assert_int_equal(test_sh("docker kill $(docker ps -q --filter label=interlook.name=%s) "
                             ">/dev/null",
                             stopped),
                     0);
    /* the provider has seen it stop: its grace is running */
    char pattern[128];
    snprintf(pattern, sizeof pattern, "%s vanished but Docker still holds it", stopped);
    ctx->state = pattern;
    assert_true(test_wait(s_provider_logged, ctx, S_SOON_MS));
    s_run(ctx, next, NULL);
    int64_t start = zclock_mono();
    assert_true(s_within(ctx, next, "deployed", 1, S_SOON_MS));
    print_message("      docker kill one; docker run another -> deployed: %lld ms\n",
                  (long long)(zclock_mono() - start));
    /* still in its grace: a stopped container may come back */
    assert_true(s_within(ctx, stopped, "deployed", 1, 0));

    start = zclock_mono();
    assert_int_equal(test_sh("docker rm $(docker ps -aq --filter label=interlook.name=%s) "
                             ">/dev/null",
                             stopped),
                     0);
    assert_true(s_within(ctx, stopped, "undeployed", SIZE_MAX, S_SOON_MS));
    print_message("      docker rm of the stopped one -> undeployed: %lld ms\n",
                  (long long)(zclock_mono() - start));
    assert_true(s_within(ctx, next, "deployed", 1, 0));
}

static int s_compare_ms(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* docker rm -f: a removed container never comes back, so its service is
 * undeployed at once, not after deleteGrace. */
static void test_removed_undeployed_at_once(void **state)
{
    ctx_t *ctx = *state;
    s_long_timers(ctx);
    s_start_stack(ctx);
    enum { ROUNDS = 10 };
    int64_t took[ROUNDS], after[ROUNDS]; /* from the command's start, and from its return */
    for (int i = 0; i < ROUNDS; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s-rm%d", ctx->prefix, i);
        s_run(ctx, name, NULL);
        s_wait(ctx, name, "deployed", 1);
        int64_t start = zclock_mono();
        assert_int_equal(test_sh("docker rm -f $(docker ps -q --filter label=interlook.name=%s) "
                                 ">/dev/null",
                                 name),
                         0);
        int64_t returned = zclock_mono();
        assert_true(s_within(ctx, name, "undeployed", SIZE_MAX, S_SOON_MS));
        took[i] = zclock_mono() - start;
        after[i] = zclock_mono() - returned;
        json_t *e = s_entry(ctx, name);
        assert_true(json_is_null(json_object_get(json_object_get(e, "service"), "public_ip")));
        json_decref(e);
    }
    qsort(took, ROUNDS, sizeof took[0], s_compare_ms);
    qsort(after, ROUNDS, sizeof after[0], s_compare_ms);
    print_message(
        "      docker rm -f -> undeployed, %d runs: from the command's start p50 %lld ms, "
        "max %lld ms; from its return p50 %lld ms, max %lld ms\n",
        ROUNDS, (long long)took[ROUNDS / 2], (long long)took[ROUNDS - 1],
        (long long)after[ROUNDS / 2], (long long)after[ROUNDS - 1]);
}

/* docker service rm: the service is gone from /services and never comes
 * back: undeployed at once. */
static void test_swarm_service_rm_at_once(void **state)
{
    ctx_t *ctx = *state;
    bool joined =
        test_sh("docker info --format '{{.Swarm.LocalNodeState}}' | grep -qx active") == 0;
    if (!joined) assert_int_equal(test_sh("docker swarm init >/dev/null 2>&1"), 0);
    s_write_config(ctx, "swarm");
    s_long_timers(ctx);
    s_start_stack(ctx);
    char name[64];
    snprintf(name, sizeof name, "%s-swrm", ctx->prefix);
    assert_int_equal(
        test_sh("docker service create -d --name %s -l %s -l interlook.hosts=%s.example.com "
                "-l interlook.port=80 -p 80 interlook-test:latest >/dev/null 2>&1",
                name, ctx->label, name),
        0);
    s_wait(ctx, name, "deployed", 1);
    int64_t start = zclock_mono();
    assert_int_equal(test_sh("docker service rm %s >/dev/null", name), 0);
    assert_true(s_within(ctx, name, "undeployed", SIZE_MAX, S_SOON_MS));
    print_message("      docker service rm -> undeployed: %lld ms\n",
                  (long long)(zclock_mono() - start));
    if (!joined) test_sh("docker swarm leave --force >/dev/null 2>&1");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* TEST_FILTER=pattern runs only the matching tests (for debugging by hand). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_container_deploy_scale_remove, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_public_port_label, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_label_warned_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dockerd_restart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_removed_while_provider_down, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_tls_endpoint, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_swarm_services, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_report_not_behind_grace, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_removed_undeployed_at_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_swarm_service_rm_at_once, s_setup, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
