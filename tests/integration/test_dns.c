/* dns.rfc2136 against real DNS servers: the same scenarios against BIND 9,
 * Knot and PowerDNS (tests/support/dns_server.h starts each on a loopback
 * address of this test's own), with a real stack — interlookd, a scripted
 * provider, interlook-ipalloc and interlook-dns — and the answers checked by
 * querying the server. Cases are named test_KIND_*, so that
 * TEST_FILTER='test_knot_*' runs one server's. */
#include "tests/support/asserts.h"
#include "tests/support/dns_server.h"
#include "tests/support/fixture.h"
#include "tests/support/testutil.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <czmq.h>

#define WAIT_MS 20000

typedef struct {
    fixture_t *stack; /* first: fixture_teardown frees this */
    dns_server_t *dns;
    dns_server_kind_t kind;
    int inject_in;
    pid_t ext;      /* interlook-dns */
    char zone[64];  /* example.test */
    char owner[64]; /* the ownership TXT's owner */
} ctx_t;

/* The stack's configuration: provider.test, ipam.ipalloc with pool (v4 or
 * v6), dns.rfc2136 against the server with the key file keyfile. */
static void s_config_with(ctx_t *ctx, const char *pool, const char *keyfile, const char *provider,
                          const char *provider_yaml)
{
    char sections[4096], core[1024];
    snprintf(sections, sizeof sections,
             "%s"
             "ipam:\n"
             "  ipalloc:\n"
             "    db_file: {dir}/var/ipalloc.db\n"
             "%s"
             "dns:\n"
             "  rfc2136:\n"
             "    server: %s\n"
             "    zones: [%s]\n"
             "    tsigKeyFile: %s\n"
             "    ttl: 30s\n"
             "    ownerId: %s\n"
             "    timeout: 1s\n"
             "    logLevel: debug\n",
             provider_yaml, pool, dns_server_endpoint(ctx->dns), ctx->zone, keyfile, ctx->owner);
    snprintf(core, sizeof core,
             "  logLevel: debug\n"
             "  workflowSteps: %s,ipam.ipalloc,dns.rfc2136\n"
             "  checkFlowInterval: 50ms\n"
             "  retryBackoffMin: 50ms\n"
             "  retryBackoffMax: 300ms\n"
             "  persistDelay: 20ms\n",
             provider);
    assert_int_equal(fixture_config_write(ctx->stack, core, sections), 0);
}

static void s_config(ctx_t *ctx, const char *pool, const char *keyfile)
{
    s_config_with(ctx, pool, keyfile, "provider.test", "");
}

#define S_POOL_V4                                                                                  \
    "    network_cidr: 10.77.0.0/22\n    ip_start: 10.77.0.10\n    ip_end: 10.77.3.250\n"
#define S_POOL_V6                                                                                  \
    "    network_cidr: fd00:77::/120\n    ip_start: fd00:77::10\n    ip_end: fd00:77::fa\n"

/* A server of the kind *state points at, signed with algorithm (NULL:
 * hmac-sha256), and an empty stack. */
static int s_setup_with(void **state, const char *algorithm)
{
    ctx_t *ctx = calloc(1, sizeof *ctx);
    ctx->kind = *(dns_server_kind_t *)*state;
    ctx->inject_in = -1;
    snprintf(ctx->zone, sizeof ctx->zone, "example.test");
    snprintf(ctx->owner, sizeof ctx->owner, "il-%d", (int)getpid());
    dns_server_opts_t opts = {.algorithm = algorithm};
    ctx->dns = dns_server_new(ctx->kind, &opts);
    fixture_opts_t fopts = {.name = "test_dns"};
    ctx->stack = fixture_new(&fopts);
    if (!ctx->dns || !ctx->stack) {
        fixture_destroy(&ctx->stack);
        dns_server_destroy(&ctx->dns);
        free(ctx);
        return -1;
    }
    *state = ctx;
    return 0;
}

static int s_setup(void **state)
{
    return s_setup_with(state, NULL);
}

static int s_setup_sha512(void **state)
{
    return s_setup_with(state, "hmac-sha512");
}

static int s_teardown(void **state)
{
    ctx_t *ctx = *state;
    fixture_destroy(&ctx->stack); /* the stack first: nothing writes to a stopped server */
    dns_server_destroy(&ctx->dns);
    free(ctx);
    return 0;
}

/* Starts the core, the provider, the allocator and interlook-dns. */
static void s_start(ctx_t *ctx, const char *pool, const char *keyfile)
{
    s_config(ctx, pool, keyfile ? keyfile : dns_server_key_file(ctx->dns));
    assert_true(fixture_start_core(ctx->stack, WAIT_MS) > 0);
    const char *inject[] = {"--name", "provider.test", NULL};
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-inject", inject, &ctx->inject_in) > 0);
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-ipalloc", NULL, NULL) > 0);
    ctx->ext = fixture_spawn_ext(ctx->stack, "interlook-dns", NULL, NULL);
    assert_true(ctx->ext > 0);
    assert_true(fixture_wait_registered(ctx->stack, "dns.rfc2136", 1, WAIT_MS));
}

static void s_say(ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_say(ctx_t *ctx, const char *fmt, ...)
{
    char line[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    assert_int_equal(test_write_text(ctx->inject_in, line), 0);
}

typedef struct {
    ctx_t *ctx;
    const char *name;
    const char *state;      /* "deployed", "undeployed", or NULL: any */
    const char *error_part; /* the entry's error contains it; NULL: no error wanted */
} s_want_t;

static bool s_entry_is(void *arg)
{
    s_want_t *w = arg;
    char path[256];
    snprintf(path, sizeof path, "/services/%s", w->name);
    json_t *e = fixture_api_get(w->ctx->stack, path);
    if (!e) return false;
    const char *state = json_string_value(json_object_get(e, "state"));
    const char *error = json_string_value(json_object_get(e, "error"));
    bool wip = json_is_true(json_object_get(e, "wip"));
    bool ok = state && (!w->state || (!strcmp(state, w->state) && !wip)) &&
              (w->error_part ? error && strstr(error, w->error_part) : !error);
    json_decref(e);
    return ok;
}

static void s_wait_entry(ctx_t *ctx, const char *name, const char *state, const char *error_part)
{
    s_want_t want = {ctx, name, state, error_part};
    if (!test_wait(s_entry_is, &want, WAIT_MS)) {
        char path[256];
        snprintf(path, sizeof path, "/services/%s", name);
        json_t *e = fixture_api_get(ctx->stack, path);
        char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
        fail_msg("%s: not %s%s%s within %d ms: %s", name, state ? state : "(any state)",
                 error_part ? " with an error containing " : "", error_part ? error_part : "",
                 WAIT_MS, text ? text : "(no entry)");
    }
}

/* The service's public IP as the core has it. */
static void s_public_ip(ctx_t *ctx, const char *name, char *ip, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "/services/%s", name);
    json_t *e = fixture_api_get(ctx->stack, path);
    assert_non_null(e);
    const char *text =
        json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
    assert_non_null(text);
    snprintf(ip, len, "%s", text);
    json_decref(e);
}

/* The ownership TXT this stack writes for service, as dig prints it. */
static void s_txt(ctx_t *ctx, const char *service, char *out, size_t len)
{
    snprintf(out, len, "\"heritage=interlook,owner=%s,service=%s\"", ctx->owner, service);
}

/* Add: the alias gets an A record (the VIP) and the ownership TXT; delete:
 * both gone, the name does not exist. */
static void s_add_delete(ctx_t *ctx)
{
    s_start(ctx, S_POOL_V4, NULL);
    s_say(ctx, "add web 127.0.0.1:8080 alias=web.%s\n", ctx->zone);
    s_wait_entry(ctx, "web", "deployed", NULL);
    char ip[64], name[128], txt[256], got[512];
    s_public_ip(ctx, "web", ip, sizeof ip);
    snprintf(name, sizeof name, "web.%s", ctx->zone);
    assert_int_equal(dns_server_query(ctx->dns, name, "A", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, ip);
    s_txt(ctx, "web", txt, sizeof txt);
    assert_int_equal(dns_server_query(ctx->dns, name, "TXT", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, txt);

    s_say(ctx, "delete web\n");
    s_wait_entry(ctx, "web", "undeployed", NULL);
    assert_int_equal(dns_server_rcode(ctx->dns, name, "A"), DNS_SERVER_NXDOMAIN);
    /* the records of other names are untouched */
    snprintf(name, sizeof name, "foreign.%s", ctx->zone);
    assert_int_equal(dns_server_query(ctx->dns, name, "A", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, DNS_SERVER_FOREIGN_IP);
}

/* The owner name of service's index record: "_il-" and FNV-1a 64 of
 * "OWNER/SERVICE" in 16 hex digits (as dns_update_index_name). */
static void s_index_name(ctx_t *ctx, const char *service, char *out, size_t len)
{
    char key[256];
    snprintf(key, sizeof key, "%s/%s", ctx->owner, service);
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (const char *p = key; *p; p++)
        hash = (hash ^ (uint8_t)*p) * 0x100000001b3ULL;
    snprintf(out, len, "_il-%016llx.%s", (unsigned long long)hash, ctx->zone);
}

/* A name taken out of a running service's aliases: the service re-added
 * with only a (a changed definition runs the workflow again) removes b,
 * and its index lists a only; the delete then removes a (told the service
 * as it is, {a}) and the index. */
static void s_alias_dropped(ctx_t *ctx)
{
    s_start(ctx, S_POOL_V4, NULL);
    char a[128], b[128], index[128], ip[64], got[512], want[512];
    snprintf(a, sizeof a, "a.%s", ctx->zone);
    snprintf(b, sizeof b, "b.%s", ctx->zone);
    s_index_name(ctx, "dropper", index, sizeof index);
    s_say(ctx, "add dropper 127.0.0.1:8080 alias=%s alias=%s\n", a, b);
    s_wait_entry(ctx, "dropper", "deployed", NULL);
    s_public_ip(ctx, "dropper", ip, sizeof ip);
    assert_int_equal(dns_server_query(ctx->dns, a, "A", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, ip);
    assert_int_equal(dns_server_query(ctx->dns, b, "A", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, ip);
    snprintf(want, sizeof want, "\"heritage=interlook,owner=%s,service=dropper\" \"names=%s,%s\"",
             ctx->owner, a, b);
    assert_int_equal(dns_server_query(ctx->dns, index, "TXT", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, want);

    s_say(ctx, "add dropper 127.0.0.1:8080 alias=%s\n", a);
    assert_true(dns_server_wait_answer(ctx->dns, b, "A", NULL, WAIT_MS)); /* NXDOMAIN */
    s_wait_entry(ctx, "dropper", "deployed", NULL);
    assert_int_equal(dns_server_query(ctx->dns, a, "A", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, ip);
    assert_int_equal(dns_server_rcode(ctx->dns, b, "TXT"), DNS_SERVER_NXDOMAIN);
    snprintf(want, sizeof want, "\"heritage=interlook,owner=%s,service=dropper\" \"names=%s\"",
             ctx->owner, a);
    assert_int_equal(dns_server_query(ctx->dns, index, "TXT", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, want);

    s_say(ctx, "delete dropper\n");
    s_wait_entry(ctx, "dropper", "undeployed", NULL);
    assert_int_equal(dns_server_rcode(ctx->dns, a, "A"), DNS_SERVER_NXDOMAIN);
    assert_int_equal(dns_server_rcode(ctx->dns, index, "TXT"), DNS_SERVER_NXDOMAIN);
}

/* An IPv6 pool: the name gets an AAAA record. */
static void s_aaaa(ctx_t *ctx)
{
    s_start(ctx, S_POOL_V6, NULL);
    s_say(ctx, "add six 127.0.0.1:8080 alias=six.%s\n", ctx->zone);
    s_wait_entry(ctx, "six", "deployed", NULL);
    char ip[64], name[128], got[512];
    s_public_ip(ctx, "six", ip, sizeof ip);
    assert_non_null(strchr(ip, ':'));
    snprintf(name, sizeof name, "six.%s", ctx->zone);
    assert_int_equal(dns_server_query(ctx->dns, name, "AAAA", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, ip);
    assert_int_equal(dns_server_query(ctx->dns, name, "A", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, "");
}

/* A name this interlook owns with an older address (a record left by an
 * earlier deployment) gets the new address: replaced, not added to. */
static void s_replaced(ctx_t *ctx)
{
    char name[128], txt[256], script[1024], err[256], got[512], ip[64];
    snprintf(name, sizeof name, "moved.%s", ctx->zone);
    s_txt(ctx, "moved", txt, sizeof txt);
    snprintf(script, sizeof script, "update add %s 30 A 10.9.9.9\nupdate add %s 30 TXT %s\n", name,
             name, txt);
    assert_int_equal(dns_server_update(ctx->dns, script, err, sizeof err), 0);
    s_start(ctx, S_POOL_V4, NULL);
    s_say(ctx, "add moved 127.0.0.1:8080 alias=%s\n", name);
    s_wait_entry(ctx, "moved", "deployed", NULL);
    s_public_ip(ctx, "moved", ip, sizeof ip);
    assert_int_equal(dns_server_query(ctx->dns, name, "A", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, ip); /* one record: 10.9.9.9 is gone */
}

/* A name that exists without our TXT, or with another owner's, is never
 * overwritten: the step fails naming the name and its owner; the records
 * stay as they were. A service with both a free and a taken name writes
 * nothing for it either. */
static void s_foreign_untouched(ctx_t *ctx)
{
    s_start(ctx, S_POOL_V4, NULL);
    char foreign[128], other[128], got[512];
    snprintf(foreign, sizeof foreign, "foreign.%s", ctx->zone);
    snprintf(other, sizeof other, "other.%s", ctx->zone);
    s_say(ctx, "add taken 127.0.0.1:8080 alias=%s\n", foreign);
    s_say(ctx, "add theirs 127.0.0.1:8081 alias=%s\n", other);
    s_say(ctx, "add fine 127.0.0.1:8082 alias=fine.%s\n", ctx->zone);
    s_wait_entry(ctx, "taken", NULL, foreign);
    s_wait_entry(ctx, "theirs", NULL, "owner=other");
    s_wait_entry(ctx, "fine", "deployed", NULL); /* the culprits fail alone */
    assert_int_equal(dns_server_query(ctx->dns, foreign, "A", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, DNS_SERVER_FOREIGN_IP);
    assert_int_equal(dns_server_query(ctx->dns, other, "A", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, DNS_SERVER_OTHER_IP);
    assert_int_equal(dns_server_query(ctx->dns, other, "TXT", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, "\"" DNS_SERVER_OTHER_TXT "\"");
    /* a delete of the one that never got its name leaves the foreign one be */
    s_say(ctx, "delete taken\n");
    s_wait_entry(ctx, "taken", "undeployed", NULL);
    assert_int_equal(dns_server_query(ctx->dns, foreign, "A", got, sizeof got), DNS_SERVER_NOERROR);
    assert_string_equal(got, DNS_SERVER_FOREIGN_IP);
}

/* A wrong key: the step fails, its error (what interlookctl shows) names the
 * server; with the right key the service converges, nothing typed. */
static void s_wrong_key(ctx_t *ctx)
{
    char *bad = dns_server_new_key_file(ctx->dns, dns_server_key_name(ctx->dns));
    assert_non_null(bad);
    s_start(ctx, S_POOL_V4, bad);
    s_say(ctx, "add locked 127.0.0.1:8080 alias=locked.%s\n", ctx->zone);
    s_wait_entry(ctx, "locked", NULL, dns_server_endpoint(ctx->dns));
    char *ctl =
        test_sh_output("%s -c '%s' services", test_bin("interlookctl"), fixture_config(ctx->stack));
    assert_non_null(ctl);
    assert_contains(ctl, "locked");
    assert_contains(ctl, dns_server_address(ctx->dns));
    free(ctl);
    /* the right key: restart the extension with it */
    assert_true(test_stop(ctx->ext, SIGTERM, 5000) >= 0);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "sed -i 's|tsigKeyFile: .*|tsigKeyFile: %s|' '%s'",
             dns_server_key_file(ctx->dns), fixture_config(ctx->stack));
    assert_int_equal(test_sh("%s", cmd), 0);
    ctx->ext = fixture_spawn_ext(ctx->stack, "interlook-dns", NULL, NULL);
    assert_true(ctx->ext > 0);
    s_wait_entry(ctx, "locked", "deployed", NULL);
    char name[128], ip[64];
    snprintf(name, sizeof name, "locked.%s", ctx->zone);
    s_public_ip(ctx, "locked", ip, sizeof ip);
    assert_true(dns_server_wait_answer(ctx->dns, name, "A", ip, WAIT_MS));
    free(bad);
}

/* The server stopped: the step fails (retried with back-off); started
 * again: the service converges with nothing typed. */
static void s_server_down(ctx_t *ctx)
{
    s_start(ctx, S_POOL_V4, NULL);
    assert_int_equal(dns_server_stop(ctx->dns), 0);
    s_say(ctx, "add later 127.0.0.1:8080 alias=later.%s\n", ctx->zone);
    s_wait_entry(ctx, "later", NULL, dns_server_endpoint(ctx->dns));
    assert_int_equal(dns_server_start(ctx->dns), 0);
    s_wait_entry(ctx, "later", "deployed", NULL);
    char name[128], ip[64];
    snprintf(name, sizeof name, "later.%s", ctx->zone);
    s_public_ip(ctx, "later", ip, sizeof ip);
    assert_true(dns_server_wait_answer(ctx->dns, name, "A", ip, WAIT_MS));
}

/* 500 services at once (WORK batches, one UPDATE per zone and batch): every
 * name answers its address; all deleted: every name gone. */
static void s_many(ctx_t *ctx)
{
    s_start(ctx, S_POOL_V4, NULL);
    for (int i = 0; i < 500; i++)
        s_say(ctx, "add m%03d 127.0.0.1:%d alias=m%03d.%s\n", i, 9000 + i, i, ctx->zone);
    for (int i = 0; i < 500; i++) {
        char svc[16];
        snprintf(svc, sizeof svc, "m%03d", i);
        s_wait_entry(ctx, svc, "deployed", NULL);
    }
    for (int i = 0; i < 500; i += 7) { /* a sample of the names */
        char svc[16], name[128], ip[64], got[512];
        snprintf(svc, sizeof svc, "m%03d", i);
        snprintf(name, sizeof name, "m%03d.%s", i, ctx->zone);
        s_public_ip(ctx, svc, ip, sizeof ip);
        assert_int_equal(dns_server_query(ctx->dns, name, "A", got, sizeof got),
                         DNS_SERVER_NOERROR);
        assert_string_equal(got, ip);
    }
    for (int i = 0; i < 500; i++)
        s_say(ctx, "delete m%03d\n", i);
    for (int i = 0; i < 500; i++) {
        char svc[16];
        snprintf(svc, sizeof svc, "m%03d", i);
        s_wait_entry(ctx, svc, "undeployed", NULL);
    }
    for (int i = 0; i < 500; i += 7) {
        char name[128];
        snprintf(name, sizeof name, "m%03d.%s", i, ctx->zone);
        assert_int_equal(dns_server_rcode(ctx->dns, name, "A"), DNS_SERVER_NXDOMAIN);
    }
}

/* A key of hmac-sha512: the same add and delete, signed and verified. */
static void s_sha512(ctx_t *ctx)
{
    assert_string_equal(dns_server_algorithm(ctx->dns), "hmac-sha512");
    char *key =
        test_sh_output("grep -c 'algorithm hmac-sha512' '%s'", dns_server_key_file(ctx->dns));
    assert_non_null(key);
    assert_string_equal(key, "1");
    free(key);
    s_add_delete(ctx);
}

/* Two interlook-dns instances share the work (scaling out): every name
 * answers exactly its service's address and our TXT, no step failed, and
 * both instances answered work. */
static bool s_both_worked(void *arg)
{
    ctx_t *ctx = arg;
    json_t *exts = fixture_api_get(ctx->stack, "/extensions");
    json_t *list = json_object_get(exts, "dns.rfc2136");
    size_t i, busy = 0;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        if (json_integer_value(json_object_get(item, "results")) > 0) busy++;
    }
    json_decref(exts);
    return busy >= 2;
}

static void s_two_instances(ctx_t *ctx)
{
    s_start(ctx, S_POOL_V4, NULL);
    const char *args[] = {"--instance", "dns-second", NULL};
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-dns", args, NULL) > 0);
    assert_true(fixture_wait_registered(ctx->stack, "dns.rfc2136", 2, WAIT_MS));
    for (int i = 0; i < 200; i++)
        s_say(ctx, "add s%03d 127.0.0.1:%d alias=s%03d.%s alias=all%d.%s\n", i, 9000 + i, i,
              ctx->zone, i % 50, ctx->zone);
    for (int i = 0; i < 200; i++) {
        char svc[16];
        snprintf(svc, sizeof svc, "s%03d", i);
        /* all%d is shared by 4 services: the first owns it, the others fail naming it */
        s_want_t done = {ctx, svc, "deployed", NULL};
        s_want_t refused = {ctx, svc, NULL, "all"};
        bool ok = false;
        for (int t = 0; t < WAIT_MS / 50 && !ok; t++) {
            ok = s_entry_is(&done) || s_entry_is(&refused);
            if (!ok) usleep(50 * 1000); /* polling the API, bounded by WAIT_MS */
        }
        assert_true(ok);
    }
    assert_true(test_wait(s_both_worked, ctx, WAIT_MS));
    for (int i = 0; i < 50; i++) {
        /* each shared name: one A, one TXT, of one service, whose address it is */
        char name[128], got[512], want[64];
        snprintf(name, sizeof name, "all%d.%s", i, ctx->zone);
        assert_int_equal(dns_server_query(ctx->dns, name, "TXT", got, sizeof got),
                         DNS_SERVER_NOERROR);
        const char *svc = strstr(got, "service=");
        assert_non_null(svc);
        assert_null(strchr(got, '\n'));
        char owner[16];
        snprintf(owner, sizeof owner, "%.4s", svc + 8);
        s_public_ip(ctx, owner, want, sizeof want);
        assert_int_equal(dns_server_query(ctx->dns, name, "A", got, sizeof got),
                         DNS_SERVER_NOERROR);
        assert_string_equal(got, want);
    }
}

/* End to end on the real Docker Engine: a labelled container is deployed
 * with its VIP and the server answers its name; docker rm -f: NXDOMAIN. */
static bool s_docker_up(void *arg)
{
    (void)arg;
    return test_sh("docker info >/dev/null 2>&1") == 0;
}

static void test_docker_end_to_end(void **state)
{
    ctx_t *ctx = *state;
    if (!s_docker_up(NULL))
        fail_msg(
            "no Docker daemon answers: make test starts one (tests/prepare.sh); never skipped");
    assert_int_equal(test_sh("docker image inspect interlook-test:latest >/dev/null 2>&1 || "
                             "tests/support/docker-image.sh >/dev/null"),
                     0);
    char label[64], provider[512], name[64], host[128], ip[64];
    snprintf(label, sizeof label, "interlook.dnstest=%d", (int)getpid());
    snprintf(provider, sizeof provider,
             "provider:\n  docker:\n    labelSelector: [interlook.dnstest]\n"
             "    pollInterval: 2s\n    hostIP: 192.0.2.10\n");
    s_config_with(ctx, S_POOL_V4, dns_server_key_file(ctx->dns), "provider.docker", provider);
    assert_true(fixture_start_core(ctx->stack, WAIT_MS) > 0);
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-docker", NULL, NULL) > 0);
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-ipalloc", NULL, NULL) > 0);
    assert_true(fixture_spawn_ext(ctx->stack, "interlook-dns", NULL, NULL) > 0);
    assert_true(fixture_wait_registered(ctx->stack, "dns.rfc2136", 1, WAIT_MS));
    snprintf(name, sizeof name, "dnsweb%d", (int)getpid());
    snprintf(host, sizeof host, "%s.%s", name, ctx->zone);
    assert_int_equal(test_sh("docker run -d --name %s -l %s -l interlook.name=%s "
                             "-l interlook.hosts=%s -l interlook.port=80 -p 80 "
                             "interlook-test:latest >/dev/null",
                             name, label, name, host),
                     0);
    int64_t start = zclock_mono();
    s_wait_entry(ctx, name, "deployed", NULL);
    s_public_ip(ctx, name, ip, sizeof ip);
    bool answered = dns_server_wait_answer(ctx->dns, host, "A", ip, WAIT_MS);
    print_message("      docker run -> %s answers %s: %lld ms\n", host, ip,
                  (long long)(zclock_mono() - start));
    start = zclock_mono();
    int removed = test_sh("docker rm -f %s >/dev/null", name);
    bool gone = removed == 0 && dns_server_wait_answer(ctx->dns, host, "A", NULL, WAIT_MS);
    print_message("      docker rm -f -> NXDOMAIN: %lld ms\n", (long long)(zclock_mono() - start));
    test_sh("docker rm -f %s >/dev/null 2>&1", name);
    assert_true(answered);
    assert_true(gone);
}

#define S_CASES(kind, KIND)                                                                        \
    static void test_##kind##_add_delete(void **state)                                             \
    {                                                                                              \
        s_add_delete(*state);                                                                      \
    }                                                                                              \
    static void test_##kind##_aaaa(void **state)                                                   \
    {                                                                                              \
        s_aaaa(*state);                                                                            \
    }                                                                                              \
    static void test_##kind##_replaced(void **state)                                               \
    {                                                                                              \
        s_replaced(*state);                                                                        \
    }                                                                                              \
    static void test_##kind##_foreign_untouched(void **state)                                      \
    {                                                                                              \
        s_foreign_untouched(*state);                                                               \
    }                                                                                              \
    static void test_##kind##_wrong_key(void **state)                                              \
    {                                                                                              \
        s_wrong_key(*state);                                                                       \
    }                                                                                              \
    static void test_##kind##_server_down(void **state)                                            \
    {                                                                                              \
        s_server_down(*state);                                                                     \
    }                                                                                              \
    static void test_##kind##_many(void **state)                                                   \
    {                                                                                              \
        s_many(*state);                                                                            \
    }                                                                                              \
    static void test_##kind##_two_instances(void **state)                                          \
    {                                                                                              \
        s_two_instances(*state);                                                                   \
    }                                                                                              \
    static void test_##kind##_sha512(void **state)                                                 \
    {                                                                                              \
        s_sha512(*state);                                                                          \
    }                                                                                              \
    static void test_##kind##_alias_dropped(void **state)                                          \
    {                                                                                              \
        s_alias_dropped(*state);                                                                   \
    }                                                                                              \
    static dns_server_kind_t s_kind_##kind = KIND;

S_CASES(bind, DNS_SERVER_BIND)
S_CASES(knot, DNS_SERVER_KNOT)
S_CASES(pdns, DNS_SERVER_PDNS)

#define S_TEST(kind, name)                                                                         \
    cmocka_unit_test_prestate_setup_teardown(test_##kind##_##name, s_setup, s_teardown,            \
                                             &s_kind_##kind)
#define S_TESTS(kind)                                                                              \
    S_TEST(kind, add_delete), S_TEST(kind, aaaa), S_TEST(kind, replaced),                          \
        S_TEST(kind, foreign_untouched), S_TEST(kind, wrong_key), S_TEST(kind, server_down),       \
        S_TEST(kind, many), S_TEST(kind, two_instances), S_TEST(kind, alias_dropped),              \
        cmocka_unit_test_prestate_setup_teardown(test_##kind##_sha512, s_setup_sha512, s_teardown, \
                                                 &s_kind_##kind)

int main(void)
{
    const struct CMUnitTest tests[] = {
        S_TESTS(bind),
        S_TESTS(knot),
        S_TESTS(pdns),
        cmocka_unit_test_prestate_setup_teardown(test_docker_end_to_end, s_setup, s_teardown,
                                                 &s_kind_bind),
    };
    return test_run_group(tests, NULL, NULL);
}
