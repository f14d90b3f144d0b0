/* The whole promise of interlook, end to end on the real Docker Engine:
 * `docker run -l interlook.hosts=web.example.test -l interlook.port=80 ...`
 * and a moment later the name resolves (BIND, written by interlook-dns) to a
 * VIP (interlook-ipalloc) on which HAProxy (driven by interlook-lb) answers
 * with the container's page. All in the host's namespace on loopback: the
 * VIP pool is 127.77.X.0/24 (X from the test's pid), containers publish on
 * 127.0.0.1, BIND listens on a 127.x address of its own. The name is
 * resolved by asking BIND (dig), and curl is given that answer (--resolve):
 * the machine's own resolver is not the test's to change. Needs a running
 * dockerd and the image interlook-test:latest (make test provides both);
 * it never skips. */
#include "tests/support/asserts.h"
#include "tests/support/dns_server.h"
#include "tests/support/fixture.h"
#include "tests/support/haproxy_server.h"
#include "tests/support/testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define WAIT_MS 30000

typedef struct {
    fixture_t *stack; /* first: fixture_teardown */
    dns_server_t *dns;
    haproxy_server_t *haproxy;
    char label[64];  /* interlook.test=<pid>: every container of the test */
    char prefix[32]; /* container and service names of this run */
    char name[96];   /* the service (container name) under test */
    char host[128];  /* its DNS name */
    char vip[64];
    const char *want_body; /* condition */
} ctx_t;

static int s_setup(void **state)
{
    if (test_sh("docker info >/dev/null 2>&1") != 0)
        fail_msg("no Docker daemon answers: start dockerd (make test does) — never skipped");
    if (test_sh("docker image inspect interlook-test:latest >/dev/null 2>&1") != 0 &&
        test_sh("tests/support/docker-image.sh") != 0)
        fail_msg("cannot build the image interlook-test:latest (tests/support/docker-image.sh)");
    ctx_t *ctx = calloc(1, sizeof *ctx);
    *state = ctx;
    snprintf(ctx->label, sizeof ctx->label, "interlook.test=%d", (int)getpid());
    snprintf(ctx->prefix, sizeof ctx->prefix, "lbt%d", (int)getpid());
    fixture_opts_t opts = {.name = "test_lb_docker", .bus = "heartbeat: 200ms, liveness: 5"};
    ctx->stack = fixture_new(&opts);
    if (!ctx->stack) return -1;
    ctx->dns = dns_server_new(DNS_SERVER_BIND, NULL);
    if (!ctx->dns) return -1;
    char hdir[600], lbfile[600];
    snprintf(hdir, sizeof hdir, "%s/haproxy", fixture_dir(ctx->stack));
    snprintf(lbfile, sizeof lbfile, "%s/interlook.cfg", fixture_dir(ctx->stack));
    ctx->haproxy = haproxy_server_new(hdir, lbfile, NULL);
    if (!ctx->haproxy || haproxy_server_start(ctx->haproxy, WAIT_MS)) return -1;
    unsigned x = (unsigned)getpid() % 250u + 1u;
    char sections[8192];
    snprintf(sections, sizeof sections,
             "ipam:\n  ipalloc: { network_cidr: 127.77.%u.0/24, db_file: {dir}/ipalloc.db }\n"
             "provider:\n  docker:\n    labelSelector: [interlook.test]\n"
             "    pollInterval: 2s\n    hostIP: 127.0.0.1\n"
             "dns:\n  rfc2136:\n    server: %s\n    zones: [example.test]\n"
             "    tsigKeyFile: %s\n    ttl: 5s\n"
             "lb:\n  haproxy:\n%s    healthInterval: 200ms\n    drainTimeout: 5s\n"
             "    watchInterval: 200ms\n    logLevel: debug\n",
             x, dns_server_endpoint(ctx->dns), dns_server_key_file(ctx->dns),
             haproxy_server_yaml(ctx->haproxy));
    if (fixture_config_write(
            ctx->stack,
            "  workflowSteps: provider.docker,ipam.ipalloc,dns.rfc2136,lb.haproxy\n"
            "  checkFlowInterval: 100ms\n  retryBackoffMin: 100ms\n  retryBackoffMax: 1s\n",
            sections))
        return -1;
    if (fixture_start_core(ctx->stack, WAIT_MS) <= 0) return -1;
    const char *none[] = {NULL};
    const char *const bins[] = {"interlook-ipalloc", "interlook-dns", "interlook-docker",
                                "interlook-lb"};
    for (size_t i = 0; i < 4; i++)
        if (fixture_spawn_ext(ctx->stack, bins[i], none, NULL) <= 0) return -1;
    const char *const steps[] = {"ipam.ipalloc", "dns.rfc2136", "provider.docker", "lb.haproxy"};
    for (size_t i = 0; i < 4; i++)
        if (!fixture_wait_registered(ctx->stack, steps[i], 1, WAIT_MS)) return -1;
    return 0;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    if (!ctx) return 0; /* the setup failed before it made one */
    test_sh("docker ps -aq --filter label=%s | xargs -r docker rm -f >/dev/null 2>&1", ctx->label);
    haproxy_server_destroy(&ctx->haproxy);
    fixture_destroy(&ctx->stack);
    dns_server_destroy(&ctx->dns);
    free(ctx);
    return 0;
}

/* docker run of a replica of the service `name` (container cname) whose page is its body. */
static void s_run(ctx_t *ctx, const char *cname, const char *body)
{
    assert_int_equal(
        test_sh("docker run -d --name %s -l %s -l interlook.name=%s -l interlook.hosts=%s "
                "-l interlook.port=80 -p 127.0.0.1::80 interlook-test:latest "
                "sh -c 'echo %s > /www/index.html; exec httpd -f -p 80 -h /www' >/dev/null",
                cname, ctx->label, ctx->name, ctx->host, body),
        0);
}

/* The name as BIND answers it: the VIP, once interlook wrote it. */
static bool s_resolves(void *arg)
{
    ctx_t *ctx = arg;
    char out[256] = "";
    if (dns_server_query(ctx->dns, ctx->host, "A", out, sizeof out) != DNS_SERVER_NOERROR)
        return false;
    out[strcspn(out, "\n")] = '\0';
    snprintf(ctx->vip, sizeof ctx->vip, "%.63s", out);
    return *out != '\0';
}

/* curl http://NAME/ through the address BIND gave: the body, or NULL. */
static char *s_curl(ctx_t *ctx, int *rc)
{
    char *out = test_sh_output("curl -s -m 3 --resolve %s:80:%s http://%s/; echo \" rc=$?\"",
                               ctx->host, ctx->vip, ctx->host);
    char *mark = out ? strstr(out, " rc=") : NULL;
    if (rc) *rc = mark ? atoi(mark + 4) : -1;
    if (!mark || atoi(mark + 4) != 0) {
        free(out);
        return NULL;
    }
    *mark = '\0';
    out[strcspn(out, "\n")] = '\0';
    return out;
}

static bool s_answers(void *arg)
{
    ctx_t *ctx = arg;
    char *body = s_curl(ctx, NULL);
    bool ok = body && !strcmp(body, ctx->want_body);
    free(body);
    return ok;
}

static bool s_both_answer(void *arg)
{
    ctx_t *ctx = arg;
    bool one = false, two = false;
    for (int i = 0; i < 8; i++) {
        char *body = s_curl(ctx, NULL);
        one |= body && !strcmp(body, "replica-1");
        two |= body && !strcmp(body, "replica-2");
        free(body);
    }
    return one && two;
}

static bool s_refused(void *arg)
{
    ctx_t *ctx = arg;
    int rc = 0;
    free(s_curl(ctx, &rc));
    return rc == 7; /* CURLE_COULDNT_CONNECT: nothing listens on the VIP */
}

static bool s_nxdomain(void *arg)
{
    ctx_t *ctx = arg;
    char out[256];
    return dns_server_query(ctx->dns, ctx->host, "A", out, sizeof out) == DNS_SERVER_NXDOMAIN;
}

static void s_fail_with_logs(ctx_t *ctx, const char *what)
{
    test_sh(
        "tail -20 %s/core.log >&2; tail -30 %s/haproxy/haproxy.log >&2; cat %s/interlook.cfg >&2; "
        "curl -sv -m 3 http://%s:8081/ >&2",
        fixture_dir(ctx->stack), fixture_dir(ctx->stack), fixture_dir(ctx->stack), ctx->vip);
    fail_msg("%s", what);
}

/* docker run -> the name resolves to a VIP that answers the container's page;
 * a second replica -> both answer; both removed -> refused, the name gone. */
static void test_docker_run_to_curl(void **state)
{
    ctx_t *ctx = *state;
    snprintf(ctx->name, sizeof ctx->name, "%s-web", ctx->prefix);
    snprintf(ctx->host, sizeof ctx->host, "%s.example.test", ctx->name);
    char c1[128], c2[128];
    snprintf(c1, sizeof c1, "%s-1", ctx->name);
    snprintf(c2, sizeof c2, "%s-2", ctx->name);
    s_run(ctx, c1, "replica-1");
    if (!test_wait(s_resolves, ctx, WAIT_MS)) s_fail_with_logs(ctx, "the name never resolved");
    assert_int_equal(strncmp(ctx->vip, "127.77.", 7), 0);
    ctx->want_body = "replica-1";
    if (!test_wait(s_answers, ctx, WAIT_MS)) s_fail_with_logs(ctx, "the VIP never answered");

    s_run(ctx, c2, "replica-2");
    if (!test_wait(s_both_answer, ctx, WAIT_MS))
        s_fail_with_logs(ctx, "the second replica never answered");

    assert_int_equal(test_sh("docker rm -f %s %s >/dev/null", c1, c2), 0);
    if (!test_wait(s_refused, ctx, WAIT_MS))
        s_fail_with_logs(ctx, "the VIP still answers after the containers went");
    /* undeployed in reverse: the LB's frontend first, then the name */
    if (!test_wait(s_nxdomain, ctx, WAIT_MS)) s_fail_with_logs(ctx, "the name stayed");
}

static bool s_answers_8081(void *arg)
{
    ctx_t *ctx = arg;
    char *out = test_sh_output("curl -s -m 3 http://%s:8081/", ctx->vip);
    if (out) out[strcspn(out, "\n")] = '\0';
    bool ok = out && !strcmp(out, "api");
    free(out);
    return ok;
}

/* A container with interlook.publicPort: the VIP answers on that port. */
static void test_public_port(void **state)
{
    ctx_t *ctx = *state;
    snprintf(ctx->name, sizeof ctx->name, "%s-api", ctx->prefix);
    snprintf(ctx->host, sizeof ctx->host, "%s.example.test", ctx->name);
    char cname[128];
    snprintf(cname, sizeof cname, "%s-1", ctx->name);
    assert_int_equal(
        test_sh("docker run -d --name %s -l %s -l interlook.name=%s -l interlook.hosts=%s "
                "-l interlook.port=80 -l interlook.publicPort=8081 -p 127.0.0.1::80 "
                "interlook-test:latest sh -c 'echo api > /www/index.html; "
                "exec httpd -f -p 80 -h /www' >/dev/null",
                cname, ctx->label, ctx->name, ctx->host),
        0);
    if (!test_wait(s_resolves, ctx, WAIT_MS)) s_fail_with_logs(ctx, "the name never resolved");
    if (!test_wait(s_answers_8081, ctx, WAIT_MS))
        s_fail_with_logs(ctx, "the VIP never answered on the public port 8081");
    assert_int_equal(test_sh("docker rm -f %s >/dev/null", cname), 0);
}

/* docker run of a replica with -l interlook.check=CHECK; with_healthz: it
 * serves /healthz (200), else that path is a 404. */
static void s_run_checked(ctx_t *ctx, const char *service, const char *cname, const char *body,
                          bool with_healthz, const char *check)
{
    assert_int_equal(
        test_sh("docker run -d --name %s -l %s -l interlook.name=%s -l interlook.hosts=%s "
                "-l interlook.port=80 -l 'interlook.check=%s' -p 127.0.0.1::80 "
                "interlook-test:latest sh -c 'echo %s > /www/index.html; %s"
                "exec httpd -f -p 80 -h /www' >/dev/null",
                cname, ctx->label, service, ctx->host, check, body,
                with_healthz ? "echo ok > /www/healthz; " : ""),
        0);
}

static bool s_only_replica_1(void *arg)
{
    ctx_t *ctx = arg;
    int one = 0;
    for (int i = 0; i < 8; i++) {
        char *body = s_curl(ctx, NULL);
        one += body && !strcmp(body, "replica-1");
        free(body);
    }
    return one == 8;
}

static const char *s_log_path(char *out, size_t len, const char *bin)
{
    snprintf(out, len, "%s/interlook-test-%s-%d.log",
             getenv("INTERLOOK_TEST_LOGDIR") ? getenv("INTERLOOK_TEST_LOGDIR") : "/tmp", bin,
             (int)getpid());
    return out;
}

static bool s_bad_check_warned(void *arg)
{
    ctx_t *ctx = arg;
    char log[512];
    s_log_path(log, sizeof log, "interlook-docker");
    return test_sh("grep '%s-bad' '%s' | grep -q \"label interlook.check: 'healthz': not a URI "
                   "path\"",
                   ctx->name, log) == 0;
}

/* -l interlook.check=http:/healthz: of two replicas, the one without
 * /healthz (404) gets no traffic; HAProxy's backend has the http check
 * while the stack's healthCheck is tcp. A bad value: the container is
 * skipped, the provider's warning names the label. */
static void test_check_label(void **state)
{
    ctx_t *ctx = *state;
    snprintf(ctx->name, sizeof ctx->name, "%s-chk", ctx->prefix);
    snprintf(ctx->host, sizeof ctx->host, "%s.example.test", ctx->name);
    char c1[128], c2[128], c3[128], bad[128];
    snprintf(c1, sizeof c1, "%s-1", ctx->name);
    snprintf(c2, sizeof c2, "%s-2", ctx->name);
    snprintf(c3, sizeof c3, "%s-bad", ctx->name);
    snprintf(bad, sizeof bad, "%s-bad", ctx->name);
    s_run_checked(ctx, ctx->name, c1, "replica-1", true, "http:/healthz");
    s_run_checked(ctx, ctx->name, c2, "replica-2", false, "http:/healthz");
    if (!test_wait(s_resolves, ctx, WAIT_MS)) s_fail_with_logs(ctx, "the name never resolved");
    if (!test_wait(s_only_replica_1, ctx, WAIT_MS))
        s_fail_with_logs(ctx, "the replica without /healthz still gets traffic");
    char *text = test_sh_output("cat %s/interlook.cfg", fixture_dir(ctx->stack));
    assert_non_null(text);
    assert_contains(text, "    # check http:/healthz\n    option httpchk GET /healthz\n");
    free(text);

    s_run_checked(ctx, bad, c3, "bad", true, "http:healthz");
    if (!test_wait(s_bad_check_warned, ctx, WAIT_MS))
        s_fail_with_logs(ctx, "no warning names the bad label interlook.check");
    json_t *all = fixture_api_get(ctx->stack, "/services");
    assert_non_null(all);
    assert_null(json_object_get(all, bad)); /* not published */
    json_decref(all);
    assert_int_equal(test_sh("docker rm -f %s %s %s >/dev/null", c1, c2, c3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docker_run_to_curl),
        cmocka_unit_test(test_public_port),
        cmocka_unit_test(test_check_label),
    };
    return test_run_group(tests, s_setup, s_teardown);
}
