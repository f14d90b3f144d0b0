/* test_cert: unit tests of broker/ilp_cert (CURVE certificates: keygen's
 * files and modes, loading, the "extensions" metadata and its patterns),
 * broker/ilp_auth's key ring (re-read when the directory changes, secret
 * files refused) and the bus's exposure check (core.bus.insecure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/bus_config.h"
#include "broker/ilp_auth.h"
#include "broker/ilp_cert.h"

typedef struct {
    char *dir;
    char path[512];
} ctx_t;

static int s_setup(void **state)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    ctx->dir = test_tmpdir();
    assert_non_null(ctx->dir);
    *state = ctx;
    return 0;
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    test_rm_tree(ctx->dir);
    free(ctx->dir);
    free(ctx);
    return 0;
}

static const char *s_path(ctx_t *ctx, const char *name)
{
    snprintf(ctx->path, sizeof ctx->path, "%s/%s", ctx->dir, name);
    return ctx->path;
}

static mode_t s_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* keygen: two files, the secret one 0600 whatever the umask, the metadata
 * in both; an existing file is kept unless forced. */
static void test_generate_and_load(void **state)
{
    ctx_t *ctx = *state;
    char err[512], pub[512], secret[600];
    snprintf(pub, sizeof pub, "%s", s_path(ctx, "dns"));
    snprintf(secret, sizeof secret, "%s_secret", pub);
    mode_t old = umask(022);
    assert_int_equal(ilp_cert_generate(pub, "dns.*,ipam.ipalloc", false, err, sizeof err), 0);
    umask(old);
    assert_int_equal(s_mode(secret), 0600);
    assert_int_equal(s_mode(pub), 0644);

    ilp_cert_t own, peer;
    assert_int_equal(ilp_cert_load_pair(&own, pub, err, sizeof err), 0);
    assert_int_equal(strlen(own.public_key), ILP_CERT_KEY_TXT);
    assert_int_equal(strlen(own.secret_key), ILP_CERT_KEY_TXT);
    assert_string_equal(own.extensions, "dns.*,ipam.ipalloc");
    assert_int_equal(ilp_cert_load_public(&peer, pub, err, sizeof err), 0);
    assert_string_equal(peer.public_key, own.public_key);
    assert_string_equal(peer.secret_key, "");
    ilp_cert_clear(&peer);

    /* A secret file where a public one is expected is refused. */
    assert_int_equal(ilp_cert_load_public(&peer, secret, err, sizeof err), -1);
    assert_non_null(strstr(err, "secret key"));

    /* No clobbering without force; with it, a new key. */
    assert_int_equal(ilp_cert_generate(pub, NULL, false, err, sizeof err), -1);
    assert_non_null(strstr(err, "--force"));
    assert_int_equal(ilp_cert_generate(pub, NULL, true, err, sizeof err), 0);
    assert_int_equal(ilp_cert_load_public(&peer, pub, err, sizeof err), 0);
    assert_string_not_equal(peer.public_key, own.public_key);
    assert_null(peer.extensions);
    ilp_cert_clear(&peer);
    ilp_cert_clear(&own);

    /* A missing secret file is named. */
    unlink(secret);
    assert_int_equal(ilp_cert_load_pair(&own, pub, err, sizeof err), -1);
    assert_non_null(strstr(err, "_secret"));
    assert_int_equal(ilp_cert_load_public(&own, s_path(ctx, "nothing"), err, sizeof err), -1);
    assert_non_null(strstr(err, "nothing"));
}

static void test_lists(void **state)
{
    (void)state;
    char err[256];
    assert_true(ilp_cert_allows(NULL, "anything.at-all"));
    assert_true(ilp_cert_allows("dns.*", "dns.rfc2136"));
    assert_false(ilp_cert_allows("dns.*", "dnsx.rfc2136"));
    assert_true(ilp_cert_allows("ipam.ipalloc,dns.*", "ipam.ipalloc"));
    assert_false(ilp_cert_allows("ipam.ipalloc", "ipam.ipalloc2"));
    assert_false(ilp_cert_allows("ipam.ipalloc", "ipam.ipallo"));
    assert_false(ilp_cert_allows("provisioner.echo", "provider.docker"));
    assert_true(ilp_cert_allows("*", "provider.docker"));
    assert_int_equal(ilp_cert_check_list("a.b,c.*", err, sizeof err), 0);
    assert_int_equal(ilp_cert_check_list("a.b,,c", err, sizeof err), -1);
    assert_int_equal(ilp_cert_check_list("a.b,", err, sizeof err), -1);
    assert_int_equal(ilp_cert_check_list("a*b", err, sizeof err), -1);
    assert_int_equal(ilp_cert_check_list("a b", err, sizeof err), -1);
    assert_non_null(strstr(err, "a b"));
}

/* The key ring follows the directory: a key added, a key removed, a secret
 * file refused. */
static void test_key_ring(void **state)
{
    ctx_t *ctx = *state;
    char err[512], keys[512], a[600], b[600], why[512];
    snprintf(keys, sizeof keys, "%s", s_path(ctx, "keys"));
    assert_int_equal(mkdir(keys, 0755), 0);
    snprintf(a, sizeof a, "%s/a", ctx->dir);
    snprintf(b, sizeof b, "%s/b", keys);
    assert_int_equal(ilp_cert_generate(a, "provisioner.echo", false, err, sizeof err), 0);
    assert_int_equal(ilp_cert_generate(b, NULL, false, err, sizeof err), 0);
    ilp_cert_t ca, cb;
    assert_int_equal(ilp_cert_load_public(&ca, a, err, sizeof err), 0);
    assert_int_equal(ilp_cert_load_public(&cb, b, err, sizeof err), 0);

    ilp_auth_t *auth = ilp_auth_new(keys, err, sizeof err);
    assert_non_null(auth);
    /* b_secret sits in the directory: refused, b's public file counts. */
    assert_int_equal(ilp_auth_size(auth), 1);
    assert_true(ilp_auth_allows(auth, cb.public_key, "any.name", why, sizeof why));
    assert_false(ilp_auth_allows(auth, ca.public_key, "provisioner.echo", why, sizeof why));
    assert_non_null(strstr(why, ca.public_key));
    uint64_t gen = ilp_auth_generation(auth);
    assert_false(ilp_auth_refresh(auth));

    /* a added: allowed as its name only, the reason naming name and key. */
    assert_int_equal(test_sh("cp '%s' '%s/a.cert'", a, keys), 0);
    assert_true(ilp_auth_refresh(auth));
    assert_true(ilp_auth_generation(auth) > gen);
    assert_int_equal(ilp_auth_size(auth), 2);
    assert_true(ilp_auth_allows(auth, ca.public_key, "provisioner.echo", why, sizeof why));
    assert_false(ilp_auth_allows(auth, ca.public_key, "ipam.ipalloc", why, sizeof why));
    assert_non_null(strstr(why, "ipam.ipalloc"));
    assert_non_null(strstr(why, ca.public_key));
    assert_non_null(strstr(why, "a.cert"));

    /* b removed. */
    assert_int_equal(test_sh("rm '%s'", b), 0);
    assert_true(ilp_auth_refresh(auth));
    assert_false(ilp_auth_allows(auth, cb.public_key, "any.name", why, sizeof why));
    assert_int_equal(ilp_auth_size(auth), 1);

    /* One ZAP handler a process. */
    ilp_auth_t *twin = ilp_auth_new(keys, err, sizeof err);
    assert_null(twin);
    assert_non_null(strstr(err, "ZAP"));
    ilp_auth_destroy(&auth);
    assert_null(auth);
    assert_null(ilp_auth_new(s_path(ctx, "none"), err, sizeof err));
    assert_non_null(strstr(err, "clientCerts"));
    ilp_cert_clear(&ca);
    ilp_cert_clear(&cb);
}

static int s_lines(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    char line[1024];
    while (fgets(line, sizeof line, f))
        if (strstr(line, text)) n++;
    fclose(f);
    return n;
}

/* Each decision is said once per peer, and made-up keys cannot flood the log. */
static void test_log_once_and_bounded(void **state)
{
    ctx_t *ctx = *state;
    char err[512], keys[512], log[600];
    snprintf(keys, sizeof keys, "%s", s_path(ctx, "keys"));
    assert_int_equal(mkdir(keys, 0755), 0);
    snprintf(log, sizeof log, "%s/log", ctx->dir);
    assert_int_equal(il_log_setup("test_cert", IL_LOG_INFO, log), 0);
    ilp_auth_t *auth = ilp_auth_new(keys, err, sizeof err);
    assert_non_null(auth);
    for (int i = 0; i < 5; i++)
        ilp_auth_log_once(auth, IL_LOG_WARN, "refused 10.0.0.1 K", "said once");
    char who[64];
    for (int i = 0; i < 500; i++) {
        snprintf(who, sizeof who, "refused 10.0.0.2 key-%d", i);
        ilp_auth_log_once(auth, IL_LOG_WARN, who, "made-up key");
    }
    ilp_auth_destroy(&auth);
    il_log_close();
    assert_int_equal(s_lines(log, "said once"), 1);
    int n = s_lines(log, "made-up key");
    /* 20 a second: the loop may straddle a second, not more. */
    if (n < 1 || n > 40) fail_msg("%d lines for 500 made-up keys", n);
}

static void test_exposure(void **state)
{
    (void)state;
    assert_true(il_bus_config_endpoint_local("tcp://127.0.0.1:5570"));
    assert_true(il_bus_config_endpoint_local("tcp://127.1.2.3:*"));
    assert_true(il_bus_config_endpoint_local("tcp://[::1]:5570"));
    assert_true(il_bus_config_endpoint_local("tcp://localhost:5570"));
    assert_true(il_bus_config_endpoint_local("ipc:///run/interlook/bus"));
    assert_true(il_bus_config_endpoint_local("inproc://bus"));
    assert_false(il_bus_config_endpoint_local("tcp://*:5570"));
    assert_false(il_bus_config_endpoint_local("tcp://0.0.0.0:5570"));
    assert_false(il_bus_config_endpoint_local("tcp://10.0.0.1:5570"));
    assert_false(il_bus_config_endpoint_local("tcp://127.example.com:5570"));
    assert_false(il_bus_config_endpoint_local("tcp://eth0:5570"));
    assert_false(il_bus_config_endpoint_local("tcp://[::]:5570"));
    il_bus_config_t bus = {.router = "tcp://127.0.0.1:1", .publish = "tcp://*:2"};
    char err[1024];
    assert_int_equal(il_bus_config_check_exposure(&bus, err, sizeof err), -1);
    assert_non_null(strstr(err, "core.bus.publish 'tcp://*:2'"));
    assert_non_null(strstr(err, "core.bus.curve"));
    assert_non_null(strstr(err, "core.bus.insecure: true"));
    bus.insecure = true;
    assert_int_equal(il_bus_config_check_exposure(&bus, err, sizeof err), 0);
    bus.insecure = false;
    bus.core_cert = "/etc/interlook/core.cert";
    assert_int_equal(il_bus_config_check_exposure(&bus, err, sizeof err), 0);
    bus.core_cert = NULL;
    bus.publish = "tcp://127.0.0.1:2";
    assert_int_equal(il_bus_config_check_exposure(&bus, err, sizeof err), 0);
}

/* core.bus.curve and core.bus.insecure in the file. */
static void test_bus_config(void **state)
{
    (void)state;
    char err[1024];
    il_bus_config_t bus;
    il_config_t *cfg = il_config_load_string(
        "core:\n  bus:\n    insecure: true\n    curve:\n      coreCert: /k/core\n"
        "      clientCerts: /k/clients\n",
        "t.yml", err, sizeof err);
    assert_non_null(cfg);
    assert_int_equal(il_bus_config_load(&bus, cfg, err, sizeof err), 0);
    assert_true(bus.insecure);
    assert_string_equal(bus.core_cert, "/k/core");
    assert_string_equal(bus.client_certs, "/k/clients");
    il_config_destroy(&cfg);
    cfg = il_config_load_string("core:\n  bus:\n    curve:\n      clientCerts: /k/clients\n",
                                "t.yml", err, sizeof err);
    assert_int_equal(il_bus_config_load(&bus, cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "core.bus.curve.coreCert: missing"));
    il_config_destroy(&cfg);
    cfg = il_config_load_string("core:\n  bus:\n    curve:\n      coreKey: x\n", "t.yml", err,
                                sizeof err);
    assert_int_equal(il_bus_config_load(&bus, cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "coreKey"));
    il_config_destroy(&cfg);
}

/* The deployments set both CURVE paths in the environment (the compose and
 * swarm stacks, the systemd units' %d): it overrides the file. */
static void test_bus_config_env(void **state)
{
    (void)state;
    char err[512];
    il_bus_config_t bus;
    il_config_t *cfg = il_config_load_string("core:\n  logLevel: info\n", "t.yml", err, sizeof err);
    assert_non_null(cfg);
    setenv("INTERLOOK_BUS_CORE_CERT", "/run/credentials/x/core.cert", 1);
    setenv("INTERLOOK_BUS_CLIENT_CERTS", "/etc/interlook/keys/clients", 1);
    int rc = il_bus_config_load(&bus, cfg, err, sizeof err);
    unsetenv("INTERLOOK_BUS_CORE_CERT");
    unsetenv("INTERLOOK_BUS_CLIENT_CERTS");
    assert_int_equal(rc, 0);
    assert_string_equal(bus.core_cert, "/run/credentials/x/core.cert");
    assert_string_equal(bus.client_certs, "/etc/interlook/keys/clients");
    il_config_destroy(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generate_and_load, s_setup, s_teardown),
        cmocka_unit_test(test_lists),
        cmocka_unit_test_setup_teardown(test_key_ring, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_log_once_and_bounded, s_setup, s_teardown),
        cmocka_unit_test(test_exposure),
        cmocka_unit_test(test_bus_config),
        cmocka_unit_test(test_bus_config_env),
    };
    return test_run_group(tests, NULL, NULL);
}
