/* test_lb_render: unit tests of extensions/lb/lb_render (the HAProxy file
 * the lb extension owns): names, addresses, weights, the file's content,
 * and its read-back (round trip; files it did not write refused by line). */
#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extensions/lb/lb_render.h"

static il_service_t *s_service(const char *name, const char *ip, uint16_t port, bool tls)
{
    il_service_t *s = il_service_new(name);
    il_service_set_string(&s->public_ip, ip);
    s->port = port;
    s->tls = tls;
    return s;
}

/* The configuration the file is rendered with: lb_config's defaults. */
static lb_config_t s_config(const char *yaml)
{
    char err[2048] = "";
    il_config_t *cfg = il_config_load_string(yaml ? yaml : "", "t.yml", err, sizeof err);
    if (!cfg) fail_msg("YAML refused: %s", err);
    lb_config_t c;
    if (lb_config_load(&c, cfg, err, sizeof err)) fail_msg("refused: %s", err);
    /* Strings stay cfg's: the tests only read the numbers and the mode, and
     * the path is copied into a static buffer below. */
    static char path[LB_CONFIG_PATH_MAX + 1];
    snprintf(path, sizeof path, "%s", c.check_path);
    c.check_path = path;
    c.master_socket = c.runtime_socket = c.config_file = c.haproxy = c.name = c.log_level = NULL;
    c.vip_interface = c.vip_interface ? "eth0" : NULL;
    c.master_log = NULL;
    il_config_destroy(&cfg);
    return c;
}

static void test_ids(void **state)
{
    (void)state;
    char id[LB_RENDER_ID_MAX], other[LB_RENDER_ID_MAX];
    lb_render_id("web-1.prod_x", id);
    assert_string_equal(id, "web-1.prod_x");
    lb_render_id("web/1 a", id);
    assert_int_equal(strncmp(id, "web_1_a:", 8), 0);
    assert_int_equal(strlen(id), 16);
    lb_render_id("web_1_a", other); /* the cleaned name of another is not taken */
    assert_string_not_equal(id, other);
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    lb_render_id(longname, id);
    assert_true(strlen(id) < LB_RENDER_ID_MAX);
    assert_non_null(strchr(id, ':'));
    longname[0] = 'b';
    lb_render_id(longname, other);
    assert_string_not_equal(id, other);
    char server[LB_RENDER_SERVER_MAX];
    lb_render_server_name("10.0.0.2", 8080, server);
    assert_string_equal(server, "10.0.0.2_8080");
    lb_render_server_name("fd00::2", 80, server);
    assert_string_equal(server, "fd00::2_80");
    char addr[64];
    lb_render_address("fd00::2", 80, addr, sizeof addr);
    assert_string_equal(addr, "[fd00::2]:80");
    lb_render_address("10.0.0.2", 80, addr, sizeof addr);
    assert_string_equal(addr, "10.0.0.2:80");
}

static void test_weights(void **state)
{
    (void)state;
    il_service_t *s = s_service("w", "10.0.0.1", 80, false);
    il_service_add_target(s, "10.0.0.2", 80, 1000);
    il_service_add_target(s, "10.0.0.3", 80, 500);
    il_service_add_target(s, "10.0.0.4", 80, 1);
    lb_render_scale_weights(s);
    assert_int_equal(s->targets[0].weight, 256);
    assert_int_equal(s->targets[1].weight, 128);
    assert_int_equal(s->targets[2].weight, 1); /* never 0: 0 would take it out */
    il_service_t *t = s_service("t", "10.0.0.1", 80, false);
    il_service_add_target(t, "10.0.0.2", 80, 3);
    lb_render_scale_weights(t);
    assert_int_equal(t->targets[0].weight, 3);
    il_service_destroy(&s);
    il_service_destroy(&t);
}

static void test_file(void **state)
{
    (void)state;
    zhashx_t *st = lb_render_state_new();
    il_service_t *web = s_service("web", "127.77.0.10", 80, false);
    il_service_add_target(web, "127.0.0.1", 32768, 1);
    il_service_add_target(web, "127.0.0.1", 32769, 3);
    zhashx_insert(st, "web", web);
    il_service_t *db = s_service("db", "fd00::10", 443, true);
    zhashx_insert(st, "db", db);
    lb_config_t config = s_config(NULL);
    char *text = lb_render_file(st, &config);
    assert_contains(text, "# interlook-lb: generated");
    /* The defaults' timeouts as they always were. */
    assert_contains(text,
                    "defaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n"
                    "    timeout server 60s\n    timeout http-request 10s\n"
                    "    timeout tunnel 1h\n");
    assert_null(strstr(text, "httpchk")); /* tcp checks by default */
    assert_contains(text, "frontend ilf-web\n    bind 127.77.0.10:80\n    mode http\n"
                          "    option forwardfor\n    default_backend ilb-web\n");
    assert_contains(text, "server 127.0.0.1_32769 127.0.0.1:32769 weight 3 check inter 2000\n");
    assert_contains(text, "frontend ilf-db\n    bind [fd00::10]:443\n    mode tcp\n"
                          "    default_backend ilb-db\n");
    assert_true(strstr(text, "ilf-db") < strstr(text, "ilf-web")); /* name order */
    char *again = lb_render_file(st, &config);
    assert_string_equal(text, again); /* the same state, the same bytes */
    free(again);
    char err[256];
    zhashx_t *back = lb_render_parse(text, err, sizeof err);
    assert_non_null(back);
    assert_int_equal(zhashx_size(back), 2);
    il_service_t *w = zhashx_lookup(back, "web");
    assert_string_equal(w->public_ip, "127.77.0.10");
    assert_int_equal(w->port, 80);
    assert_false(w->tls);
    assert_true(il_service_same_definition(w, web));
    il_service_t *d = zhashx_lookup(back, "db");
    assert_string_equal(d->public_ip, "fd00::10");
    assert_true(d->tls);
    assert_int_equal(d->target_count, 0);
    zhashx_destroy(&back);
    free(text);
    zhashx_destroy(&st);
}

/* A name with blanks, '%' and bytes above 0x7f comes back whole. */
static void test_odd_names(void **state)
{
    (void)state;
    const char *name = "my service %41 \xc3\xa9t\xc3\xa9\tx";
    zhashx_t *st = lb_render_state_new();
    il_service_t *s = s_service(name, "10.1.0.1", 8080, false);
    il_service_add_target(s, "backend.example.test", 80, 2);
    zhashx_insert(st, name, s);
    lb_config_t config = s_config("lb:\n  haproxy:\n    vipInterface: eth0\n"
                                  "    healthInterval: 500ms\n");
    char *text = lb_render_file(st, &config);
    assert_contains(text, "weight 2 check inter 500\n");
    assert_contains(text, "bind 10.1.0.1:8080 transparent\n");
    assert_null(strstr(text, "\t"));
    char err[256];
    zhashx_t *back = lb_render_parse(text, err, sizeof err);
    assert_non_null(back);
    il_service_t *b = zhashx_lookup(back, name);
    assert_non_null(b);
    assert_string_equal(b->targets[0].host, "backend.example.test");
    zhashx_destroy(&back);
    free(text);
    zhashx_destroy(&st);
}

/* healthCheck http: the HTTP services' backends check GET PATH and a status
 * range; a TLS service keeps the TCP check; none: no check at all. The file
 * reads back the same either way. */
static void test_checks(void **state)
{
    (void)state;
    zhashx_t *st = lb_render_state_new();
    il_service_t *web = s_service("web", "127.77.0.10", 80, false);
    il_service_add_target(web, "127.0.0.1", 32768, 1);
    zhashx_insert(st, "web", web);
    il_service_t *db = s_service("db", "127.77.0.11", 443, true);
    il_service_add_target(db, "127.0.0.1", 32770, 1);
    zhashx_insert(st, "db", db);
    lb_config_t config = s_config("lb:\n  haproxy:\n    healthCheck: http\n"
                                  "    healthCheckPath: /healthz?full=1\n"
                                  "    healthCheckExpect: 200-299\n");
    char *text = lb_render_file(st, &config);
    assert_contains(text, "backend ilb-web\n    mode http\n    balance roundrobin\n"
                          "    option httpchk GET /healthz?full=1\n"
                          "    http-check expect status 200-299\n"
                          "    server 127.0.0.1_32768 127.0.0.1:32768 weight 1 check inter 2000\n");
    assert_contains(text, "backend ilb-db\n    mode tcp\n    balance roundrobin\n"
                          "    server 127.0.0.1_32770 127.0.0.1:32770 weight 1 check inter 2000\n");
    char err[256];
    zhashx_t *back = lb_render_parse(text, err, sizeof err);
    assert_non_null(back);
    assert_true(il_service_same_definition(zhashx_lookup(back, "web"), web));
    zhashx_destroy(&back);
    free(text);
    config = s_config("lb:\n  haproxy:\n    healthCheck: none\n");
    text = lb_render_file(st, &config);
    assert_contains(text, "    server 127.0.0.1_32768 127.0.0.1:32768 weight 1\n");
    assert_null(strstr(text, "check"));
    free(text);
    zhashx_destroy(&st);
}

/* lb.haproxy.timeouts.* go into the defaults, each in the largest unit that
 * holds it whole. */
static void test_timeouts(void **state)
{
    (void)state;
    zhashx_t *st = lb_render_state_new();
    lb_config_t config = s_config("lb:\n  haproxy:\n    timeouts:\n      connect: 1500ms\n"
                                  "      client: 2m\n      server: 90s\n"
                                  "      httpRequest: 3s\n      tunnel: 2h\n");
    char *text = lb_render_file(st, &config);
    assert_contains(text, "    timeout connect 1500ms\n    timeout client 120s\n"
                          "    timeout server 90s\n    timeout http-request 3s\n"
                          "    timeout tunnel 2h\n");
    free(text);
    zhashx_destroy(&st);
}

static void s_refused(const char *text, const char *why)
{
    char err[256] = "";
    zhashx_t *st = lb_render_parse(text, err, sizeof err);
    if (st) fail_msg("accepted: %s", text);
    assert_contains(err, why);
}

#define H "# interlook-lb: generated file\n"

static void test_parse_refusals(void **state)
{
    (void)state;
    char err[64];
    zhashx_t *empty = lb_render_parse("", err, sizeof err);
    assert_int_equal(zhashx_size(empty), 0);
    zhashx_destroy(&empty);
    s_refused("global\n  daemon\n", "line 1: not a file interlook-lb wrote");
    s_refused(H "frontend ilf-x\n", "line 2: frontend without its '# service' line");
    s_refused(H "# service x\nfrontend ilf-y\n", "line 3: expected 'frontend ilf-x'");
    s_refused(H "# service x\nfrontend ilf-x\n    bind nowhere\n",
              "line 4: expected 'bind IP:PORT'");
    s_refused(H "# service x\nfrontend ilf-x\n    bind 10.0.0.1:0\n", "line 4");
    s_refused(H "# service x\nfrontend ilf-x\n    bind 10.0.0.1:80\nbackend ilb-x\n"
                "    server a 10.0.0.2:80 weight 0\n",
              "line 6: expected 'server NAME HOST:PORT weight W");
    s_refused(H "# service x\nfrontend ilf-x\n    bind 10.0.0.1:80\nbackend ilb-x\n"
                "    server a 10.0.0.2 weight 1\n",
              "line 6");
    s_refused(H "# service x\n", "service 'x': no 'bind IP:PORT' line");
    s_refused(H "# service x\nfrontend ilf-x\n bind 10.0.0.1:80\n# service x\n",
              "line 5: service 'x' twice");
    s_refused(H "# service a%00b\n", "line 2: a bad service name");
    s_refused(H "# service a%4\n", "line 2: a bad service name");
}

/* A service's own check overrides healthCheck in its backend (its path and
 * statuses defaulting to the config's); a TLS service keeps the tcp check;
 * the check is kept in the file ("# check") and read back. */
static void test_service_checks(void **state)
{
    (void)state;
    char err[256];
    zhashx_t *st = lb_render_state_new();
    struct {
        const char *name, *check;
        bool tls;
    } svc[] = {{"own", "http:/healthz", false}, {"full", "http:/ready 204", false},
               {"bare", "http", false},         {"tcpc", "tcp", false},
               {"off", "none", false},          {"dflt", NULL, false},
               {"tlsh", "http:/healthz", true}};
    for (size_t i = 0; i < sizeof svc / sizeof svc[0]; i++) {
        il_service_t *s = s_service(svc[i].name, "127.77.0.10", (uint16_t)(80 + i), svc[i].tls);
        il_service_add_target(s, "127.0.0.1", (uint16_t)(32768 + i), 1);
        assert_int_equal(il_service_set_check(s, svc[i].check, err, sizeof err), 0);
        zhashx_insert(st, svc[i].name, s);
    }
    /* Global tcp: only the services that ask for http get httpchk. */
    lb_config_t config = s_config("lb:\n  haproxy:\n    healthCheckPath: /global\n"
                                  "    healthCheckExpect: 200-299\n");
    char *text = lb_render_file(st, &config);
    assert_contains(text, "backend ilb-own\n    mode http\n    balance roundrobin\n"
                          "    # check http:/healthz\n"
                          "    option httpchk GET /healthz\n"
                          "    http-check expect status 200-299\n"
                          "    server 127.0.0.1_32768 127.0.0.1:32768 weight 1 check inter 2000\n");
    assert_contains(text, "backend ilb-full\n    mode http\n    balance roundrobin\n"
                          "    # check http:/ready 204\n"
                          "    option httpchk GET /ready\n"
                          "    http-check expect status 204-204\n");
    assert_contains(text, "backend ilb-bare\n    mode http\n    balance roundrobin\n"
                          "    # check http\n"
                          "    option httpchk GET /global\n"
                          "    http-check expect status 200-299\n");
    assert_contains(text, "backend ilb-tcpc\n    mode http\n    balance roundrobin\n"
                          "    # check tcp\n"
                          "    server 127.0.0.1_32771 127.0.0.1:32771 weight 1 check inter 2000\n");
    assert_contains(text, "backend ilb-off\n    mode http\n    balance roundrobin\n"
                          "    # check none\n"
                          "    server 127.0.0.1_32772 127.0.0.1:32772 weight 1\n");
    assert_contains(text, "backend ilb-dflt\n    mode http\n    balance roundrobin\n"
                          "    server 127.0.0.1_32773 127.0.0.1:32773 weight 1 check inter 2000\n");
    assert_contains(text, "backend ilb-tlsh\n    mode tcp\n    balance roundrobin\n"
                          "    # check http:/healthz\n"
                          "    server 127.0.0.1_32774 127.0.0.1:32774 weight 1 check inter 2000\n");
    zhashx_t *back = lb_render_parse(text, err, sizeof err);
    if (!back) fail_msg("read back refused: %s", err);
    for (size_t i = 0; i < sizeof svc / sizeof svc[0]; i++) {
        il_service_t *b = zhashx_lookup(back, svc[i].name);
        assert_non_null(b);
        if (svc[i].check)
            assert_string_equal(b->check, svc[i].check);
        else
            assert_null(b->check);
        assert_true(il_service_same_definition(b, zhashx_lookup(st, svc[i].name)));
    }
    zhashx_destroy(&back);
    free(text);
    /* Global http: a service's tcp or none overrides it. */
    config = s_config("lb:\n  haproxy:\n    healthCheck: http\n");
    text = lb_render_file(st, &config);
    assert_contains(text, "backend ilb-tcpc\n    mode http\n    balance roundrobin\n"
                          "    # check tcp\n    server ");
    assert_contains(text, "backend ilb-off\n    mode http\n    balance roundrobin\n"
                          "    # check none\n"
                          "    server 127.0.0.1_32772 127.0.0.1:32772 weight 1\n");
    assert_contains(text, "backend ilb-dflt\n    mode http\n    balance roundrobin\n"
                          "    option httpchk GET /\n");
    free(text);
    zhashx_destroy(&st);
    /* A bad or repeated check line is refused with its line. */
    s_refused(H "# service x\nfrontend ilf-x\n    bind 10.0.0.1:80\nbackend ilb-x\n"
                "    # check udp\n",
              "line 6: expected '# check CHECK' once");
    s_refused(H "# service x\nfrontend ilf-x\n    bind 10.0.0.1:80\nbackend ilb-x\n"
                "    # check tcp\n    # check tcp\n",
              "line 7");
}

/* HAProxy's messages name a service's proxies: found whole, not by prefix. */
static void test_names(void **state)
{
    (void)state;
    assert_true(lb_render_names("Binding [f:27] for frontend ilf-web: cannot bind socket", "web"));
    assert_true(
        lb_render_names("[f:10] : 'server ilb-web/10.0.0.1_80' : could not resolve", "web"));
    assert_true(lb_render_names("Proxy ilb-web stopped", "web"));
    assert_false(lb_render_names("Binding for frontend ilf-web2: cannot bind", "web"));
    assert_false(lb_render_names("Binding for frontend ilf-web.x: cannot bind", "web"));
    assert_false(lb_render_names("frontend xilf-web: x", "web"));
    assert_false(lb_render_names("nothing here", "web"));
    char id[LB_RENDER_ID_MAX], text[256];
    lb_render_id("my web", id); /* a hashed ID holds ':' */
    snprintf(text, sizeof text, "Binding [f:3] for frontend ilf-%s: cannot bind socket", id);
    assert_true(lb_render_names(text, "my web"));
    assert_false(lb_render_names(text, "my_web"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_odd_names),
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_service_checks),
    };
    return test_run_group(tests, NULL, NULL);
}
