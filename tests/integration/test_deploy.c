/* The deployment artefacts of deploy/, used for real:
 *  - the systemd units, installed by `make install` into a temporary prefix,
 *    checked by systemd-analyze verify, and their command lines run (there is
 *    no systemd as PID 1 here to start them) with CURVE on: the keys made by
 *    deploy/keys.sh, each unit's LoadCredential= copied into a credentials
 *    directory of its own and its Environment= given, as systemd does (%d
 *    expanded); a key made for another host is refused until its public file
 *    is copied into clientCerts, then admitted with no restart;
 *  - the image of deploy/Dockerfile, built on the base that
 *    deploy/docker/base-image.sh makes with debootstrap (no registry);
 *  - deploy/docker-compose.yml brought up on the real dockerd: its keygen
 *    service makes the bus's keys (kept at the next start), the bus runs with
 *    CURVE (a peer without a key is refused), a labelled container is
 *    deployed through the stack, survives a kill -9 of the core, is
 *    undeployed when removed, and the stack comes down;
 *  - the same with its "dns" profile (deploy/dns.env): the container's name
 *    is answered by the stack's BIND (deploy/docker/bind/) with its virtual
 *    IP, NXDOMAIN once it is removed;
 *  - the same with its "dns" and "lb" profiles (deploy/dns-lb.env): the
 *    stack's HAProxy (deploy/docker/haproxy/) in the host's network
 *    namespace, driven by interlook-lb through the two sockets it shares: the
 *    container's name resolves to its virtual IP (in 127.77.0.0/24) and that
 *    IP answers with the container's page, both replicas serve, and it is
 *    refused once they are removed;
 *  - interlook-lb.service and the drop-in for Debian's haproxy.service
 *    (deploy/systemd/haproxy.service.d/interlook.conf): verified, and the
 *    drop-in's command lines start a HAProxy that interlook-lb drives.
 *  - deploy/stack.yml deployed on a one-node swarm, its keys stored as
 *    secrets and configs by deploy/swarm-keys.sh: the bus runs with CURVE, a
 *    labelled swarm service is deployed and undeployed;
 *  - the compose "ha" profile (deploy/ha.env): a 3-member etcd from the image
 *    of deploy/docker/etcd/, two cores and two allocators on it, nothing on
 *    disk; one leads, the other stands by; docker kill of the leader's
 *    container -> the other leads within 2 x TTL, a new service is deployed,
 *    the old one keeps its address; the old leader, back, stands by;
 *  - a one-host compose stack grown into the ha profile: its allocator's file
 *    imported into etcd from its volume (interlook-ipalloc --import, twice),
 *    a service keeps its address;
 *  - deploy/stack-ha.yml with deploy/stack-etcd.yml on a one-node swarm: one
 *    core leads, a labelled service is deployed, the leader's task killed ->
 *    the other leads, the service keeps its address;
 *  - the systemd drop-ins for a core and an allocator on etcd, verified.
 * interlook-lb is built once extensions/lb/main.c is in the tree; until then
 * its unit is verified against a stand-in binary, and the compose lb profile
 * is checked up to HAProxy (its image, its sockets, its empty file), with a
 * message saying what did not run.
 * Run from the repository root (make test does). Needs root, dockerd,
 * debootstrap and docker-compose (.ci/run provides them); without them the
 * tests fail, loudly: none is skipped. */
#include "tests/support/dns_server.h"
#include "tests/support/testutil.h"

#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

/* INTERLOOK_TEST_IMAGE: another tag, for runs beside others that build theirs. */
#define IMAGE         (getenv("INTERLOOK_TEST_IMAGE") ? getenv("INTERLOOK_TEST_IMAGE") : "interlook:test")
#define HAPROXY_IMAGE "interlook-haproxy:test"
#define UP_MS         120000 /* a stack's start: containers, registration */
#define WAIT_MS       30000  /* a service's way through the workflow (deleteGrace 5 s) */

static const char *const s_units[] = {"interlookd",    "interlook-ipalloc", "interlook-docker",
                                      "interlook-dns", "interlook-echo",    NULL};

/* interlook-lb is built (the Makefile's rule) once its main is in the tree. */
static bool s_lb_built(void)
{
    struct stat st;
    return stat("extensions/lb/main.c", &st) == 0;
}

/* One command on a HAProxy unix socket (master or runtime CLI), its whole
 * answer (caller frees); NULL when the socket cannot be reached. Bounded by
 * a receive timeout. */
static char *s_haproxy_ask(const char *path, const char *command)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return NULL;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char line[256];
    int n = snprintf(line, sizeof line, "%s\n", command);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) || write(fd, line, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    shutdown(fd, SHUT_WR); /* the CLI answers, then closes */
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    for (;;) {
        if (len + 1024 > cap) out = realloc(out, cap *= 2);
        ssize_t r = read(fd, out + len, cap - len - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    out[len] = '\0';
    return out;
}

/* The master at arg (a socket path) runs a worker: `show proc` lists one. */
static bool s_haproxy_worker(void *arg)
{
    char *proc = s_haproxy_ask(arg, "show proc");
    bool ok = proc && strstr(proc, "worker");
    free(proc);
    return ok;
}

typedef struct {
    char api[64];
    const char *name;
    const char *state;
    size_t targets;
    const char *const *extensions; /* NULL: the provider and the allocator */
} wait_t;

static bool s_registered(void *arg)
{
    wait_t *w = arg;
    json_t *ext = test_get_json(w->api, "/extensions");
    bool all = ext != NULL;
    for (size_t i = 0; all && w->extensions[i]; i++)
        all = json_array_size(json_object_get(ext, w->extensions[i])) > 0;
    json_decref(ext);
    return all;
}

static bool s_entry(void *arg)
{
    wait_t *w = arg;
    return test_entry_is(w->api, w->name, w->state, w->targets);
}

static void s_wait_entry(wait_t *w, const char *name, const char *state, size_t targets)
{
    w->name = name;
    w->state = state;
    w->targets = targets;
    if (!test_wait(s_entry, w, WAIT_MS)) {
        char path[256];
        snprintf(path, sizeof path, "/services/%s", name);
        json_t *e = test_get_json(w->api, path);
        char *text = e ? json_dumps(e, JSON_COMPACT) : strdup("(no entry)");
        json_decref(e);
        fail_msg("%s did not become %s with %zu target(s) within %d ms: %s", name, state, targets,
                 WAIT_MS, text);
    }
}

static void s_wait_registered(wait_t *w)
{
    static const char *const both[] = {"provider.docker", "ipam.ipalloc", NULL};
    if (!w->extensions) w->extensions = both;
    if (!test_wait(s_registered, w, UP_MS))
        fail_msg("the stack's extensions did not register with the core at %s within %d ms", w->api,
                 UP_MS);
}

/* The public_ip of an entry (caller frees), NULL when it has none. */
static char *s_public_ip(const char *api, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/services/%s", name);
    json_t *e = test_get_json(api, path);
    const char *ip = json_string_value(json_object_get(json_object_get(e, "service"), "public_ip"));
    char *copy = ip ? strdup(ip) : NULL;
    json_decref(e);
    return copy;
}

static void s_set_ports(wait_t *w)
{
    int ports[3];
    assert_int_equal(test_free_ports(ports, 3), 0);
    char text[16];
    snprintf(text, sizeof text, "%d", ports[0]);
    setenv("INTERLOOK_API_PORT", text, 1);
    snprintf(text, sizeof text, "%d", ports[1]);
    setenv("INTERLOOK_ROUTER_PORT", text, 1);
    snprintf(text, sizeof text, "%d", ports[2]);
    setenv("INTERLOOK_PUBLISH_PORT", text, 1);
    snprintf(w->api, sizeof w->api, "http://127.0.0.1:%d", ports[0]);
}

/* systemd --------------------------------------------------------------- */

#define S_RUN_UNITS 5 /* the units whose command lines run together (the last: interlook-lb) */
static pid_t s_unit_pids[S_RUN_UNITS + 1]; /* and an allocator "on another host" */
static dns_server_t *s_unit_bind;          /* the server of the installed dns section */
static pid_t s_unit_haproxy;               /* HAProxy started by the drop-in's command line */

static int s_units_down(void **state)
{
    (void)state;
    for (int i = 0; i <= S_RUN_UNITS; i++)
        if (s_unit_pids[i] > 0) test_stop(s_unit_pids[i], SIGKILL, 5000);
    memset(s_unit_pids, 0, sizeof s_unit_pids);
    if (s_unit_haproxy > 0) test_stop(s_unit_haproxy, SIGTERM, 5000);
    s_unit_haproxy = 0;
    dns_server_destroy(&s_unit_bind);
    unsetenv("INTERLOOK_LISTEN");
    unsetenv("INTERLOOK_BUS_ROUTER");
    unsetenv("INTERLOOK_BUS_PUBLISH");
    return 0;
}

static bool s_file_has(const char *path, const char *line)
{
    return test_sh("grep -qx '%s' '%s'", line, path) == 0;
}

/* Debian's haproxy.service with the drop-in deploy/systemd/haproxy.service.d/
 * interlook.conf: systemd-analyze verify finds nothing to say, and its
 * command lines (as systemd expands them; the paths under root) start a
 * HAProxy in master-worker mode that loads the base lines the README gives
 * and interlook.cfg, made empty when missing. Returns the lb section that
 * drives it. */
static void s_haproxy_dropin(const char *root, char *section, size_t len)
{
    const char *dropin = "deploy/systemd/haproxy.service.d/interlook.conf";
    assert_int_equal(test_sh("mkdir -p %s/hunits/haproxy.service.d %s/haproxy %s/hrun && "
                             "cp /lib/systemd/system/haproxy.service %s/hunits/ && "
                             "cp %s %s/hunits/haproxy.service.d/",
                             root, root, root, root, dropin, root),
                     0);
    char *out = test_sh_output("systemd-analyze verify %s/hunits/haproxy.service 2>&1; "
                               "echo \"rc=$?\"",
                               root);
    assert_non_null(out);
    if (strcmp(out, "rc=0"))
        fail_msg("systemd-analyze verify haproxy.service + %s: %s", dropin, out);
    free(out);
    /* The lines as systemd runs them, Debian's environment given values under root. */
    char cfg[512], base[512], master[512], runtime[512];
    snprintf(cfg, sizeof cfg, "%s/haproxy/interlook.cfg", root);
    snprintf(base, sizeof base, "%s/haproxy/haproxy.cfg", root);
    snprintf(master, sizeof master, "%s/hrun/master.sock", root);
    snprintf(runtime, sizeof runtime, "%s/hrun/admin.sock", root);
    char subst[2048];
    snprintf(subst, sizeof subst,
             "sed -e 's|/etc/haproxy/interlook.cfg|%s|g' -e 's|\\$CONFIG|%s|g' "
             "-e 's|\\$PIDFILE|%s/haproxy.pid|g' -e 's|\\$EXTRAOPTS|-S %s|g' "
             "-e 's|\\$MAINPID|0|g' | grep .",
             cfg, base, root, master);
    char *pre = test_sh_output("sed -n 's/^ExecStartPre=//p' %s | %s", dropin, subst);
    assert_non_null(pre);
    char *start = test_sh_output("sed -n 's/^ExecStart=//p' %s | %s", dropin, subst);
    assert_non_null(start);
    char *check = test_sh_output("sed -n 's/^ExecReload=//p' %s | %s | head -1", dropin, subst);
    assert_non_null(check);
    /* The base configuration's lines, as the README gives them. */
    char text[1024];
    snprintf(text, sizeof text,
             "global\n    stats socket %s mode 660 level admin expose-fd listeners\n"
             "    stats timeout 30s\n",
             runtime);
    assert_int_equal(test_write_file(base, text), 0);
    /* Made empty when missing (sh -c '...' as systemd runs it), kept when there. */
    assert_int_equal(test_sh("%s", pre), 0);
    struct stat st;
    assert_int_equal(stat(cfg, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(test_write_file(cfg, "# kept\n"), 0);
    assert_int_equal(test_sh("%s && grep -qx '# kept' %s && : >%s", pre, cfg, cfg), 0);
    /* ExecReload's check reads both files: it passes on them, and fails on
     * a bad interlook.cfg. */
    if (test_sh("%s", check) != 0) fail_msg("the drop-in's ExecReload check failed: %s", check);
    assert_int_equal(test_write_file(cfg, "backend\n"), 0);
    if (test_sh("%s 2>/dev/null", check) == 0)
        fail_msg("the drop-in's ExecReload check (%s) did not read %s", check, cfg);
    /* ExecStart runs HAProxy on both: a backend in interlook.cfg is running
     * (the file is emptied again for interlook-lb, which reads it back). */
    assert_int_equal(test_write_file(cfg, "backend probe-interlook-cfg\n"), 0);
    char exec[2400];
    snprintf(exec, sizeof exec, "exec %s", start);
    const char *args[] = {"-c", exec, NULL};
    s_unit_haproxy = test_spawn("/bin/sh", args);
    assert_true(s_unit_haproxy > 0);
    if (!test_wait(s_haproxy_worker, master, WAIT_MS))
        fail_msg("HAProxy from the drop-in's ExecStart (%s) did not answer on %s", start, master);
    char *info = s_haproxy_ask(runtime, "show backend");
    assert_non_null(info);
    if (!strstr(info, "probe-interlook-cfg"))
        fail_msg("HAProxy from the drop-in's ExecStart did not load %s: show backend: %s", cfg,
                 info);
    free(info);
    assert_int_equal(test_write_file(cfg, ""), 0);
    free(pre);
    free(start);
    free(check);
    snprintf(section, len,
             "lb:\n  haproxy:\n    masterSocket: %s\n    runtimeSocket: %s\n"
             "    configFile: %s\n",
             master, runtime, cfg);
}

/* The key holder of a unit (deploy/keys.sh's names): its --cert. */
static const char *s_unit_holder(const char *unit)
{
    if (!strcmp(unit, "interlookd")) return "core";
    return strchr(unit, '-') + 1; /* interlook-ipalloc: ipalloc */
}

/* What systemd does for the unit's credentials and environment: each
 * LoadCredential=ID:PATH copied to ROOT/creds/UNIT/ID (mode 0400, a
 * directory of its own), each Environment= line with %d expanded to that
 * directory. Returns "env VAR=VALUE ... " (caller frees) for a command line. */
static char *s_unit_env(const char *root, const char *unit_file, const char *unit)
{
    char creds[512];
    snprintf(creds, sizeof creds, "%s/creds/%s", root, unit);
    if (test_sh("mkdir -p '%s' && chmod 0700 '%s' && "
                "sed -n 's/^LoadCredential=//p' '%s' | while IFS=: read -r id path; do "
                "cp \"$path\" '%s'/\"$id\" && chmod 0400 '%s'/\"$id\" || exit 1; done",
                creds, creds, unit_file, creds, creds) != 0)
        fail_msg("%s: its LoadCredential= files could not be read (deploy/keys.sh made them?)",
                 unit_file);
    char *vars = test_sh_output("sed -n 's/^Environment=//p' '%s' | sed 's|%%d|%s|g' | "
                                "tr '\\n' ' '",
                                unit_file, creds);
    assert_non_null(vars);
    char *env = malloc(strlen(vars) + 8);
    sprintf(env, "env %s ", vars);
    free(vars);
    return env;
}

/* A command line of the unit as systemd runs it: %d expanded (caller frees). */
static char *s_unit_line(const char *root, const char *unit_file, const char *unit, const char *key)
{
    return test_sh_output("sed -n 's/^%s=//p' '%s' | sed 's|%%d|%s/creds/%s|g'", key, unit_file,
                          root, unit);
}

typedef struct {
    char log[512];
    const char *text;
} log_has_t;

static bool s_log_has(void *arg)
{
    log_has_t *l = arg;
    return test_sh("grep -qF -- '%s' '%s'", l->text, l->log) == 0;
}

typedef struct {
    const char *api;
    const char *name;
    size_t count;
} instances_t;

static bool s_instances(void *arg)
{
    instances_t *n = arg;
    json_t *ext = test_get_json(n->api, "/extensions");
    size_t have = json_array_size(json_object_get(ext, n->name));
    json_decref(ext);
    return have == n->count;
}

static void test_systemd_units(void **state)
{
    (void)state;
    char *root = test_tmpdir();
    assert_non_null(root);
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build/release";
    const char *sanitize = getenv("SANITIZE") ? getenv("SANITIZE") : "";
    assert_int_equal(test_sh("make -s --no-print-directory install BUILD=%s SANITIZE=%s "
                             "PREFIX=%s/usr SYSCONFDIR=%s/etc UNITDIR=%s/units "
                             "STATEDIR=%s/var/lib >%s/install.log 2>&1",
                             build, sanitize, root, root, root, root, root),
                     0);
    char conf[512];
    snprintf(conf, sizeof conf, "%s/etc/interlook/interlook.yml", root);
    struct stat st;
    assert_int_equal(stat(conf, &st), 0);
    /* The installed configuration keeps its state where the units' StateDirectory is. */
    assert_int_equal(
        test_sh("grep -q 'workflowEntriesFile: %s/var/lib/interlook-core/entries.db' "
                "'%s' && grep -q 'db_file: %s/var/lib/interlook-ipalloc/ipalloc.db' '%s'",
                root, conf, root, conf),
        0);
    /* interlook-dns has no default server: the installed file gets the
     * step and a dns section (as the file's comment tells a user) naming a
     * BIND started here. */
    s_unit_bind = dns_server_new(DNS_SERVER_BIND, NULL);
    assert_non_null(s_unit_bind);
    assert_int_equal(
        test_sh("sed -i 's/^\\(  workflowSteps:\\) .*/\\1 "
                "provider.docker,ipam.ipalloc,dns.rfc2136/' '%s' && "
                "printf 'dns:\\n  rfc2136:\\n    server: %s\\n    zones: [example.test]\\n"
                "    tsigKeyFile: %s\\n' >>'%s'",
                conf, dns_server_endpoint(s_unit_bind), dns_server_key_file(s_unit_bind), conf),
        0);
    /* interlook-lb drives a HAProxy run by the drop-in's command lines: the
     * workflow gains lb.haproxy and the file its section. */
    bool lb = s_lb_built();
    char section[2048];
    s_haproxy_dropin(root, section, sizeof section);
    if (lb)
        assert_int_equal(test_sh("sed -i 's/^\\(  workflowSteps:\\) .*/\\1 "
                                 "provider.docker,ipam.ipalloc,lb.haproxy,dns.rfc2136/' '%s' && "
                                 "printf '%%s' '%s' >>'%s'",
                                 conf, section, conf),
                         0);
    else {
        /* Until then the unit is verified against a stand-in of the binary. */
        print_message("      extensions/lb/main.c is not in the tree: interlook-lb.service "
                      "verified with a stand-in binary, its command lines not run\n");
        assert_int_equal(test_sh("printf '#!/bin/sh\\nexit 0\\n' >%s/usr/bin/interlook-lb && "
                                 "chmod 0755 %s/usr/bin/interlook-lb",
                                 root, root),
                         0);
    }
    /* The one-time step of the README: the bus's keys, where the units read them. */
    char keys[512];
    snprintf(keys, sizeof keys, "%s/etc/interlook/keys", root);
    assert_int_equal(test_sh("INTERLOOKCTL=%s/usr/bin/interlookctl deploy/keys.sh %s >%s/keys.log "
                             "2>&1 || { cat %s/keys.log; exit 1; }",
                             root, keys, root, root),
                     0);
    const char *units[16];
    size_t nunits = 0;
    for (size_t i = 0; s_units[i]; i++)
        units[nunits++] = s_units[i];
    units[nunits++] = "interlook-lb";
    for (size_t i = 0; i < nunits; i++) {
        bool is_lb = !strcmp(units[i], "interlook-lb");
        char unit[512];
        snprintf(unit, sizeof unit, "%s/units/%s.service", root, units[i]);
        assert_int_equal(stat(unit, &st), 0);
        /* verify prints every unknown key, bad value or missing binary. */
        char *out = test_sh_output("systemd-analyze verify '%s' 2>&1; echo \"rc=$?\"", unit);
        assert_non_null(out);
        if (strcmp(out, "rc=0")) fail_msg("systemd-analyze verify %s: %s", unit, out);
        free(out);
        assert_true(s_file_has(unit, "Restart=on-failure"));
        assert_true(s_file_has(unit, "RestartPreventExitStatus=2"));
        assert_true(s_file_has(unit, "NoNewPrivileges=yes"));
        assert_true(s_file_has(unit, "ProtectSystem=strict"));
        if (is_lb) {
            /* Root with the two network capabilities only (the VIPs, the
             * announcements), HAProxy's directory the only one it writes,
             * started after HAProxy. */
            assert_false(s_file_has(unit, "DynamicUser=yes"));
            assert_true(s_file_has(unit, "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW"));
            assert_true(s_file_has(unit, "ReadWritePaths=/etc/haproxy"));
            assert_true(s_file_has(unit, "After=network-online.target haproxy.service "
                                         "interlookd.service"));
            assert_true(s_file_has(unit, "Wants=network-online.target haproxy.service"));
        } else {
            assert_true(s_file_has(unit, "DynamicUser=yes"));
        }
        /* The unit's command line names the installed binary and
         * configuration, and an extension its key in the credentials
         * directory; each unit loads its own secret only. */
        const char *holder = s_unit_holder(units[i]);
        bool core = !strcmp(holder, "core");
        char *exec = test_sh_output("sed -n 's/^ExecStart=//p' '%s'", unit);
        assert_non_null(exec);
        char expected[1024];
        snprintf(expected, sizeof expected, "%s/usr/bin/%s -c %s%s%s%s", root, units[i], conf,
                 core ? "" : " --cert %d/", core ? "" : holder, core ? "" : ".cert");
        assert_string_equal(exec, expected);
        free(exec);
        char *cred = test_sh_output("grep '^LoadCredential=' '%s'", unit);
        assert_non_null(cred);
        snprintf(expected, sizeof expected, "LoadCredential=%s.cert_secret:%s/%s/%s.cert_secret",
                 holder, keys, holder, holder);
        assert_string_equal(cred, expected);
        free(cred);
        snprintf(expected, sizeof expected, "Environment=INTERLOOK_BUS_CORE_CERT=%s/core.cert",
                 core ? "%d" : keys);
        assert_true(s_file_has(unit, expected));
        /* The configuration check a unit runs first passes on the installed
         * file, with the unit's credentials and environment. */
        char *pre = s_unit_line(root, unit, units[i], "ExecStartPre");
        assert_non_null(pre);
        char *env = s_unit_env(root, unit, units[i]);
        if (*pre && (!is_lb || lb) && test_sh("%s%s >/dev/null", env, pre) != 0)
            fail_msg("%s: %s%s failed", unit, env, pre);
        free(env);
        free(pre);
    }

    /* Run the units' command lines (as systemd would, state directories
     * made) against each other on free ports: the allocator, the Docker
     * provider and the DNS step register with the core, and SIGTERM stops
     * each with status 0. */
    static const char *const all[] = {"provider.docker", "ipam.ipalloc", "dns.rfc2136", NULL};
    static const char *const all_lb[] = {"provider.docker", "ipam.ipalloc", "dns.rfc2136",
                                         "lb.haproxy", NULL};
    wait_t w = {.extensions = lb ? all_lb : all};
    s_set_ports(&w);
    char listen[64], router[64], publish[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%s", getenv("INTERLOOK_API_PORT"));
    snprintf(router, sizeof router, "tcp://127.0.0.1:%s", getenv("INTERLOOK_ROUTER_PORT"));
    snprintf(publish, sizeof publish, "tcp://127.0.0.1:%s", getenv("INTERLOOK_PUBLISH_PORT"));
    setenv("INTERLOOK_LISTEN", listen, 1);
    setenv("INTERLOOK_BUS_ROUTER", router, 1);
    setenv("INTERLOOK_BUS_PUBLISH", publish, 1);
    assert_int_equal(
        test_sh("mkdir -p %s/var/lib/interlook-core %s/var/lib/interlook-ipalloc", root, root), 0);
    const char *names[S_RUN_UNITS] = {"interlookd", "interlook-ipalloc", "interlook-docker",
                                      "interlook-dns", "interlook-lb"};
    int run = lb ? S_RUN_UNITS : S_RUN_UNITS - 1;
    log_has_t core_log = {.text = "bus: CURVE on"};
    for (int i = 0; i < run; i++) {
        char unit[512], exec[2048], log[512];
        snprintf(unit, sizeof unit, "%s/units/%s.service", root, names[i]);
        char *env = s_unit_env(root, unit, names[i]);
        char *start = s_unit_line(root, unit, names[i], "ExecStart");
        assert_non_null(start);
        snprintf(exec, sizeof exec, "exec %s%s", env, start);
        snprintf(log, sizeof log, "%s/%s.log", root, names[i]);
        if (i == 0) snprintf(core_log.log, sizeof core_log.log, "%s", log);
        const char *args[] = {"-c", exec, NULL};
        s_unit_pids[i] = test_spawn_log("/bin/sh", args, log, NULL);
        assert_true(s_unit_pids[i] > 0);
        free(env);
        free(start);
    }
    s_wait_registered(&w);
    /* The bus runs with CURVE, each extension admitted by its key. */
    if (!s_log_has(&core_log)) fail_msg("the core's log (%s) has no 'bus: CURVE on'", core_log.log);
    core_log.text = "(ipalloc.cert) accepted";
    assert_true(s_log_has(&core_log));
    /* A host added later: its key (made there) is refused until its public
     * file is in clientCerts, then admitted without restarting the core. */
    assert_int_equal(test_sh("%s/usr/bin/interlookctl keygen %s/host2.cert --extensions "
                             "ipam.ipalloc >/dev/null",
                             root, root),
                     0);
    char host2[2048];
    snprintf(host2, sizeof host2,
             "exec env INTERLOOK_BUS_CORE_CERT=%s/core.cert %s/usr/bin/interlook-ipalloc -c %s "
             "-i host2 --cert %s/host2.cert",
             keys, root, conf, root);
    const char *host2_args[] = {"-c", host2, NULL};
    char host2_log[512];
    snprintf(host2_log, sizeof host2_log, "%s/host2.log", root);
    s_unit_pids[S_RUN_UNITS] = test_spawn_log("/bin/sh", host2_args, host2_log, NULL);
    assert_true(s_unit_pids[S_RUN_UNITS] > 0);
    core_log.text = "not in core.bus.curve.clientCerts";
    if (!test_wait(s_log_has, &core_log, WAIT_MS))
        fail_msg("the core did not refuse a key outside clientCerts within %d ms (%s)", WAIT_MS,
                 core_log.log);
    instances_t two = {.api = w.api, .name = "ipam.ipalloc", .count = 1};
    assert_true(s_instances(&two)); /* only the unit's allocator */
    assert_int_equal(test_sh("cp %s/host2.cert %s/clients/", root, keys), 0);
    two.count = 2;
    if (!test_wait(s_instances, &two, WAIT_MS))
        fail_msg("the key copied into clientCerts was not admitted within %d ms", WAIT_MS);
    int host2_status = test_stop(s_unit_pids[S_RUN_UNITS], SIGTERM, 5000);
    s_unit_pids[S_RUN_UNITS] = 0;
    assert_true(WIFEXITED(host2_status));
    for (int i = run - 1; i >= 0; i--) {
        int status = test_stop(s_unit_pids[i], SIGTERM, 5000);
        s_unit_pids[i] = 0;
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(test_sh("%s/usr/bin/interlook-echo --version >/dev/null", root), 0);
    char db[512];
    snprintf(db, sizeof db, "%s/var/lib/interlook-ipalloc/ipalloc.db", root);
    assert_int_equal(stat(db, &st), 0); /* the allocator's state is in its StateDirectory */
    test_sh("rm -rf '%s'", root);
    free(root);
}

/* The drop-ins for a core and an allocator on etcd: verified with their
 * units as make install makes them (systemd reads them: a key it does not
 * know in a copy is reported from the drop-in's path), and the credential
 * each loads is the one its configuration comment names. */
static void test_systemd_etcd_dropins(void **state)
{
    (void)state;
    char *root = test_tmpdir();
    assert_non_null(root);
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build/release";
    const char *sanitize = getenv("SANITIZE") ? getenv("SANITIZE") : "";
    assert_int_equal(test_sh("make -s --no-print-directory install BUILD=%s SANITIZE=%s "
                             "PREFIX=%s/usr SYSCONFDIR=%s/etc UNITDIR=%s/units "
                             "STATEDIR=%s/var/lib >%s/install.log 2>&1",
                             build, sanitize, root, root, root, root, root),
                     0);
    static const char *const units[] = {"interlookd", "interlook-ipalloc", NULL};
    for (size_t i = 0; units[i]; i++) {
        assert_int_equal(test_sh("cp -r deploy/systemd/%s.service.d %s/units/", units[i], root), 0);
        char *out = test_sh_output("SYSTEMD_UNIT_PATH=%s/units: systemd-analyze verify "
                                   "%s/units/%s.service 2>&1; echo \"rc=$?\"",
                                   root, root, units[i]);
        assert_non_null(out);
        if (strcmp(out, "rc=0"))
            fail_msg("systemd-analyze verify %s with etcd.conf: %s", units[i], out);
        free(out);
        /* read: a key systemd does not know, in a copy, is reported */
        assert_int_equal(test_sh("cp %s/units/%s.service.d/etcd.conf %s/units/%s.service.d/zz.conf "
                                 "&& echo 'NotAKey=1' >>%s/units/%s.service.d/zz.conf",
                                 root, units[i], root, units[i], root, units[i]),
                         0);
        out = test_sh_output("SYSTEMD_UNIT_PATH=%s/units: systemd-analyze verify "
                             "%s/units/%s.service 2>&1",
                             root, root, units[i]);
        assert_non_null(out);
        assert_non_null(strstr(out, "zz.conf"));
        assert_non_null(strstr(out, "NotAKey"));
        free(out);
        assert_int_equal(test_sh("rm %s/units/%s.service.d/zz.conf", root, units[i]), 0);
        /* the credential it loads is the file the comment's tlsKey names */
        assert_int_equal(test_sh("grep -qx 'LoadCredential=etcd-client-key.pem:/etc/interlook/"
                                 "etcd/client-key.pem' deploy/systemd/%s.service.d/etcd.conf && "
                                 "grep -q 'tlsKey: /run/credentials/%s.service/etcd-client-key"
                                 ".pem$' deploy/systemd/%s.service.d/etcd.conf",
                                 units[i], units[i], units[i]),
                         0);
    }
    /* the allocator waits for etcd itself: a bad configuration (2) stays unrestarted */
    assert_int_equal(test_sh("grep -q 'RestartPreventExitStatus' "
                             "deploy/systemd/interlook-ipalloc.service.d/etcd.conf"),
                     1);
    test_rm_tree(root);
    free(root);
}

/* The image ---------------------------------------------------------------- */

static void test_image_builds_offline(void **state)
{
    (void)state;
    /* The base: debootstrap + docker import, no registry. Kept between runs. */
    assert_int_equal(test_sh("DEBOOTSTRAP_CACHE=/var/cache/interlook-debootstrap "
                             "deploy/docker/base-image.sh interlook-base:bookworm"),
                     0);
    /* The build through the compose file's build section (deploy/Dockerfile). */
    setenv("INTERLOOK_IMAGE", IMAGE, 1);
    assert_int_equal(test_sh("docker-compose -p interlook-build -f deploy/docker-compose.yml "
                             "build -q core >/tmp/interlook-test-image-build.log 2>&1 || "
                             "{ tail -40 /tmp/interlook-test-image-build.log; exit 1; }"),
                     0);
    /* Every binary is in it, runs as the unprivileged user, and the image's
     * configuration passes the core's own check. */
    char *id = test_sh_output("docker run --rm %s id -u", IMAGE);
    assert_non_null(id);
    assert_string_equal(id, "10001");
    free(id);
    for (size_t i = 0; s_units[i]; i++)
        assert_int_equal(test_sh("docker run --rm %s %s --version >/dev/null", IMAGE, s_units[i]),
                         0);
    assert_int_equal(test_sh("docker run --rm %s interlookctl --version >/dev/null", IMAGE), 0);
    /* Bound beyond loopback (the compose stack's environment) it needs
     * CURVE: refused without keys, accepted with those interlook-keys (the
     * keygen service's command) makes. */
#define S_BEYOND "-e INTERLOOK_BUS_ROUTER='tcp://*:5570' -e INTERLOOK_BUS_PUBLISH='tcp://*:5571'"
#define S_KEYS                                                                                     \
    "interlook-keys /tmp/k core >/dev/null && INTERLOOK_BUS_CORE_CERT=/tmp/k/core/core.cert "      \
    "INTERLOOK_BUS_CLIENT_CERTS=/tmp/k/clients"
    assert_int_equal(test_sh("docker run --rm %s %s interlookd --check-config "
                             "-c /etc/interlook/interlook.yml 2>&1 | grep -q core.bus.curve",
                             S_BEYOND, IMAGE),
                     0);
    assert_int_equal(test_sh("docker run --rm %s %s sh -c '%s interlookd --check-config "
                             "-c /etc/interlook/interlook.yml' >/dev/null",
                             S_BEYOND, IMAGE, S_KEYS),
                     0);

    /* The lb profile: its configurations pass the checks, HAProxy is in the
     * image (interlook-lb runs `haproxy -c`), and HAProxy's image, on the same
     * base, takes its base configuration with an empty interlook.cfg. */
    static const char *const lb_files[] = {"interlook-lb", "interlook-dns-lb", NULL};
    for (size_t i = 0; lb_files[i]; i++) {
        assert_int_equal(test_sh("docker run --rm %s %s sh -c '%s interlookd --check-config "
                                 "-c /etc/interlook/%s.yml' >/dev/null",
                                 S_BEYOND, IMAGE, S_KEYS, lb_files[i]),
                         0);
        if (s_lb_built())
            assert_int_equal(test_sh("docker run --rm %s interlook-lb --check-config "
                                     "-c /etc/interlook/%s.yml >/dev/null",
                                     IMAGE, lb_files[i]),
                             0);
    }
    assert_int_equal(test_sh("docker run --rm %s /usr/sbin/haproxy -v >/dev/null", IMAGE), 0);
    setenv("INTERLOOK_HAPROXY_IMAGE", HAPROXY_IMAGE, 1);
    assert_int_equal(test_sh("docker-compose -p interlook-build --env-file deploy/lb.env "
                             "-f deploy/docker-compose.yml build -q haproxy "
                             ">/tmp/interlook-test-haproxy-build.log 2>&1 || "
                             "{ tail -40 /tmp/interlook-test-haproxy-build.log; exit 1; }"),
                     0);
    char *check =
        test_sh_output("docker run --rm --entrypoint /bin/sh %s -c "
                       "': >/tmp/interlook.cfg && haproxy -c "
                       "-f /usr/local/etc/haproxy/haproxy.cfg -f /tmp/interlook.cfg 2>&1'",
                       HAPROXY_IMAGE);
    assert_non_null(check);
    assert_string_equal(check, "Configuration file is valid");
    free(check);
}

/* docker-compose ------------------------------------------------------------ */

typedef struct {
    char project[64];
    char compose[192];
    char web[80];
} compose_t;

static compose_t s_compose;
static pid_t s_compose_host2; /* an allocator "on another host" */

/* The shell command arg succeeds. */
static bool s_sh_ok(void *arg)
{
    return test_sh("%s", (const char *)arg) == 0;
}

/* The stack's bus runs with CURVE, the keys made by its keygen service: the
 * core says so, its secret is its own (mode 0600, uid 10001, in no other
 * part), and a key made elsewhere is refused until its public file is copied
 * into the volume of clientCerts, then admitted with no restart (the
 * README's way to add a host). */
static void s_compose_curve(const compose_t *c, wait_t *w)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "test \"$(docker inspect -f '{{.State.ExitCode}}' $(%s ps -q keygen))\" = 0",
             c->compose);
    assert_int_equal(test_sh("%s", cmd), 0);
    assert_int_equal(test_sh("%s logs core | grep -q 'bus: CURVE on'", c->compose), 0);
    char *mode = test_sh_output(
        "%s exec -T core stat -c '%%a %%u' /etc/interlook/key/core.cert_secret", c->compose);
    assert_non_null(mode);
    assert_string_equal(mode, "600 10001");
    free(mode);
    assert_int_equal(
        test_sh("%s exec -T ipalloc sh -c 'test ! -e /etc/interlook/key/core.cert_secret "
                "&& test -f /etc/interlook/key/ipalloc.cert_secret'",
                c->compose),
        0);

    char *dir = test_tmpdir();
    assert_non_null(dir);
    char *keys = test_sh_output("docker volume inspect -f '{{.Mountpoint}}' %s_keys", c->project);
    assert_non_null(keys);
    char conf[512];
    snprintf(conf, sizeof conf, "%s/host2.yml", dir);
    char text[1024];
    snprintf(text, sizeof text,
             "core:\n  bus:\n    router: tcp://127.0.0.1:%s\n    publish: tcp://127.0.0.1:%s\n"
             "ipam:\n  ipalloc:\n    network_cidr: 10.32.30.0/24\n    db_file: %s/ipalloc.db\n",
             getenv("INTERLOOK_ROUTER_PORT"), getenv("INTERLOOK_PUBLISH_PORT"), dir);
    assert_int_equal(test_write_file(conf, text), 0);
    assert_int_equal(test_sh("cp %s/core.cert %s/ && %s keygen %s/host2.cert --extensions "
                             "ipam.ipalloc >/dev/null",
                             keys, dir, test_bin("interlookctl"), dir),
                     0);
    char exec[2048];
    snprintf(exec, sizeof exec,
             "exec env INTERLOOK_BUS_CORE_CERT=%s/core.cert %s -c %s -i host2 --cert %s/host2.cert",
             dir, test_bin("interlook-ipalloc"), conf, dir);
    const char *args[] = {"-c", exec, NULL};
    s_compose_host2 = test_spawn("/bin/sh", args);
    assert_true(s_compose_host2 > 0);
    snprintf(cmd, sizeof cmd,
             "%s logs core | grep -q 'refused from .*not in core.bus.curve.clientCerts'",
             c->compose);
    if (!test_wait(s_sh_ok, cmd, WAIT_MS))
        fail_msg("the stack's core did not refuse a key outside clientCerts within %d ms", WAIT_MS);
    snprintf(cmd, sizeof cmd, "curl -s %s/extensions | grep -q '\"instance\":\"host2\"'", w->api);
    assert_false(s_sh_ok(cmd));
    assert_int_equal(test_sh("cp %s/host2.cert %s/clients/", dir, keys), 0);
    if (!test_wait(s_sh_ok, cmd, WAIT_MS))
        fail_msg("a key copied into the volume's clients/ was not admitted within %d ms", WAIT_MS);
    int status = test_stop(s_compose_host2, SIGTERM, 5000);
    s_compose_host2 = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(test_sh("rm -f %s/clients/host2.cert", keys), 0);
    free(keys);
    test_sh("rm -rf '%s'", dir);
    free(dir);
}

/* Whatever the test left (it may have failed half-way) goes. */
static int s_compose_down(void **state)
{
    (void)state;
    if (s_compose_host2 > 0) test_stop(s_compose_host2, SIGKILL, 5000);
    s_compose_host2 = 0;
    test_sh("docker rm -f %s >/dev/null 2>&1", s_compose.web);
    test_sh("%s down -v >/dev/null 2>&1", s_compose.compose);
    return 0;
}

static void test_compose_stack(void **state)
{
    (void)state;
    wait_t w = {0};
    compose_t c;
    snprintf(c.project, sizeof c.project, "ildeploy%d", (int)getpid());
    snprintf(c.compose, sizeof c.compose, "docker-compose -p %s -f deploy/docker-compose.yml",
             c.project);
    snprintf(c.web, sizeof c.web, "%s-web", c.project);
    s_compose = c;
    s_set_ports(&w);
    setenv("INTERLOOK_IMAGE", IMAGE, 1);
    char gid[16];
    struct stat st;
    assert_int_equal(stat("/var/run/docker.sock", &st), 0);
    snprintf(gid, sizeof gid, "%u", (unsigned)st.st_gid);
    setenv("DOCKER_GID", gid, 1);

    assert_int_equal(test_sh("%s up -d >/dev/null 2>&1", c.compose), 0);
    s_wait_registered(&w);
    /* No part of the stack runs as root. */
    const char *parts[] = {"core", "docker", "ipalloc"};
    for (int i = 0; i < 3; i++) {
        char *uid = test_sh_output("%s exec -T %s id -u", c.compose, parts[i]);
        assert_non_null(uid);
        assert_string_equal(uid, "10001");
        free(uid);
    }
    s_compose_curve(&c, &w);
    char *core_key = test_sh_output("%s exec -T core cat /etc/interlook/keys/core.cert", c.compose);
    assert_non_null(core_key);

    assert_int_equal(test_sh("docker run -d --name %s -l interlook.hosts=%s.example.test "
                             "-l interlook.port=80 -p 80 interlook-test:latest >/dev/null",
                             c.web, c.web),
                     0);
    s_wait_entry(&w, c.web, "deployed", 1);
    char *ip = s_public_ip(w.api, c.web);
    assert_non_null(ip);

    /* kill -9 of the core's container, then up again: its volume kept the
     * entry, and the service is still deployed with the same address. */
    assert_int_equal(test_sh("%s kill -s SIGKILL core >/dev/null 2>&1", c.compose), 0);
    assert_int_equal(test_sh("%s up -d core >/dev/null 2>&1", c.compose), 0);
    s_wait_registered(&w);
    s_wait_entry(&w, c.web, "deployed", 1);
    char *again = s_public_ip(w.api, c.web);
    assert_non_null(again);
    assert_string_equal(again, ip);
    free(again);
    free(ip);
    /* keygen ran again with the core, and kept the keys. */
    char *key_again =
        test_sh_output("%s exec -T core cat /etc/interlook/keys/core.cert", c.compose);
    assert_non_null(key_again);
    assert_string_equal(key_again, core_key);
    free(key_again);
    free(core_key);

    assert_int_equal(test_sh("docker rm -f %s >/dev/null", c.web), 0);
    s_wait_entry(&w, c.web, "undeployed", SIZE_MAX);

    assert_int_equal(test_sh("%s down -v >/dev/null 2>&1", c.compose), 0);
    char *left =
        test_sh_output("docker ps -aq --filter label=com.docker.compose.project=%s", c.project);
    assert_non_null(left);
    assert_string_equal(left, "");
    free(left);
}

/* docker-compose with the dns profile ------------------------------------------ */

#define BIND_IMAGE "interlook-bind:test"

static compose_t s_dns;

static int s_dns_down(void **state)
{
    (void)state;
    if (!*s_dns.project) return 0;
    test_sh("docker rm -f %s >/dev/null 2>&1", s_dns.web);
    test_sh("%s down -v >/dev/null 2>&1", s_dns.compose);
    return 0;
}

typedef struct {
    int port;         /* BIND's port published on 127.0.0.1 */
    const char *name; /* queried for A */
    const char *want; /* dig +short's answer; NULL: NXDOMAIN */
    char last[256];   /* what the last query showed */
} dig_t;

static bool s_dig(void *arg)
{
    dig_t *d = arg;
    d->last[0] = '\0';
    if (d->want) {
        int rc =
            test_run(d->last, sizeof d->last,
                     "dig @127.0.0.1 -p %d +norec +time=1 +tries=1 +short %s A", d->port, d->name);
        d->last[strcspn(d->last, "\n")] = '\0';
        return rc == 0 && strcmp(d->last, d->want) == 0;
    }
    int rc = test_run(d->last, sizeof d->last,
                      "dig @127.0.0.1 -p %d +norec +time=1 +tries=1 %s A | "
                      "sed -n 's/.*status: \\([A-Z]*\\).*/\\1/p'",
                      d->port, d->name);
    d->last[strcspn(d->last, "\n")] = '\0';
    return rc == 0 && strcmp(d->last, "NXDOMAIN") == 0;
}

static void s_wait_dig(dig_t *d)
{
    if (!test_wait(s_dig, d, WAIT_MS))
        fail_msg("dig @127.0.0.1 -p %d %s A: '%s' within %d ms, expected %s", d->port, d->name,
                 d->last, WAIT_MS, d->want ? d->want : "NXDOMAIN");
}

static void test_compose_dns(void **state)
{
    (void)state;
    wait_t w = {0};
    static const char *const all[] = {"provider.docker", "ipam.ipalloc", "dns.rfc2136", NULL};
    w.extensions = all;
    compose_t c;
    snprintf(c.project, sizeof c.project, "ildns%d", (int)getpid());
    snprintf(c.compose, sizeof c.compose,
             "docker-compose -p %s --env-file deploy/dns.env -f deploy/docker-compose.yml",
             c.project);
    snprintf(c.web, sizeof c.web, "%s-web", c.project);
    s_dns = c;
    s_set_ports(&w);
    int port[1];
    assert_int_equal(test_free_ports(port, 1), 0);
    char text[16];
    snprintf(text, sizeof text, "%d", port[0]);
    setenv("INTERLOOK_DNS_PORT", text, 1);
    setenv("INTERLOOK_IMAGE", IMAGE, 1);
    setenv("INTERLOOK_BIND_IMAGE", BIND_IMAGE, 1);
    struct stat st;
    assert_int_equal(stat("/var/run/docker.sock", &st), 0);
    snprintf(text, sizeof text, "%u", (unsigned)st.st_gid);
    setenv("DOCKER_GID", text, 1);

    /* Both images, built here too so that this case runs alone; after
     * test_image_builds_offline the layer cache makes it quick. */
    assert_int_equal(test_sh("DEBOOTSTRAP_CACHE=/var/cache/interlook-debootstrap "
                             "deploy/docker/base-image.sh interlook-base:bookworm >/dev/null"),
                     0);
    assert_int_equal(test_sh("%s build -q core bind >/tmp/interlook-test-dns-build.log 2>&1 || "
                             "{ tail -40 /tmp/interlook-test-dns-build.log; exit 1; }",
                             c.compose),
                     0);

    assert_int_equal(test_sh("%s up -d >/dev/null 2>&1", c.compose), 0);
    s_wait_registered(&w);
    /* The profile is on: the core's workflow ends with the DNS step. */
    char *flow = test_sh_output("curl -s %s/workflow", w.api);
    assert_non_null(flow);
    if (!strstr(flow, "dns.rfc2136")) fail_msg("the workflow has no dns.rfc2136: %s", flow);
    free(flow);
    /* Over CURVE, with the key keygen made for it. */
    assert_int_equal(test_sh("%s logs core | grep -q '(dns.cert) accepted'", c.compose), 0);
    /* Neither BIND nor interlook-dns runs as root. */
    char *uid = test_sh_output("%s exec -T dns id -u", c.compose);
    assert_non_null(uid);
    assert_string_equal(uid, "10001");
    free(uid);
    uid = test_sh_output("%s exec -T bind id -u", c.compose);
    assert_non_null(uid);
    assert_string_not_equal(uid, "0");
    free(uid);
    /* BIND is published on the loopback only, and does not recurse. */
    char *pub = test_sh_output("%s port --protocol=udp bind 53", c.compose);
    assert_non_null(pub);
    snprintf(text, sizeof text, "127.0.0.1:%d", port[0]);
    assert_string_equal(pub, text);
    free(pub);
    assert_int_equal(test_sh("dig @127.0.0.1 -p %d +time=1 +tries=1 interlook.invalid A | "
                             "grep -q 'status: REFUSED'",
                             port[0]),
                     0);

    char name[128];
    snprintf(name, sizeof name, "%s.example.test", c.web);
    assert_int_equal(test_sh("docker run -d --name %s -l interlook.hosts=%s "
                             "-l interlook.port=80 -p 80 interlook-test:latest >/dev/null",
                             c.web, name),
                     0);
    s_wait_entry(&w, c.web, "deployed", 1);
    char *ip = s_public_ip(w.api, c.web);
    assert_non_null(ip);
    dig_t d = {.port = port[0], .name = name, .want = ip};
    /* The core says deployed only after the DNS step: the name is there. */
    if (!s_dig(&d))
        fail_msg("%s is deployed but dig @127.0.0.1 -p %d %s A answers '%s', not %s", c.web,
                 port[0], name, d.last, ip);
    char *txt =
        test_sh_output("dig @127.0.0.1 -p %d +norec +time=1 +tries=1 +short %s TXT", port[0], name);
    assert_non_null(txt);
    char owner[256];
    snprintf(owner, sizeof owner, "\"heritage=interlook,owner=interlook,service=%s\"", c.web);
    assert_string_equal(txt, owner);
    free(txt);

    assert_int_equal(test_sh("docker rm -f %s >/dev/null", c.web), 0);
    s_wait_entry(&w, c.web, "undeployed", SIZE_MAX);
    d.want = NULL;
    s_wait_dig(&d);
    free(ip);

    assert_int_equal(test_sh("%s down -v >/dev/null 2>&1", c.compose), 0);
    char *left = test_sh_output("docker ps -aq --filter label=com.docker.compose.project=%s; "
                                "docker volume ls -q --filter label=com.docker.compose.project=%s",
                                c.project, c.project);
    assert_non_null(left);
    assert_string_equal(left, "");
    free(left);
    *s_dns.project = '\0';
}

/* docker-compose with the dns and lb profiles --------------------------------- */

static compose_t s_lb;

static int s_lb_down(void **state)
{
    (void)state;
    if (!*s_lb.project) return 0;
    test_sh("docker rm -f %s %s-2 >/dev/null 2>&1", s_lb.web, s_lb.web);
    test_sh("%s down -v >/dev/null 2>&1", s_lb.compose);
    return 0;
}

typedef struct {
    char url[128];
    const char *want; /* a body that must come (NULL: connection refused) */
    char last[256];   /* the last answer */
} fetch_t;

static bool s_fetch(void *arg)
{
    fetch_t *f = arg;
    long status = 0;
    char *body = test_http_get(f->url, &status);
    snprintf(f->last, sizeof f->last, "%s (status %ld)", body ? body : "no connection", status);
    f->last[strcspn(f->last, "\n")] = ' ';
    bool ok = f->want ? body && status == 200 && strstr(body, f->want) : body == NULL;
    free(body);
    return ok;
}

static void s_wait_fetch(fetch_t *f)
{
    if (!test_wait(s_fetch, f, WAIT_MS))
        fail_msg("GET %s: '%s' within %d ms, expected %s", f->url, f->last, WAIT_MS,
                 f->want ? f->want : "connection refused");
}

/* A replica of the service name: busybox httpd answering body, published on
 * a port of the host chosen by Docker. */
static void s_run_replica(const char *container, const char *name, const char *host,
                          int public_port, const char *body)
{
    assert_int_equal(test_sh("docker run -d --name %s -l interlook.name=%s -l interlook.hosts=%s "
                             "-l interlook.port=80 -l interlook.publicPort=%d -p 80 "
                             "interlook-test:latest /bin/sh -c "
                             "'echo %s >/www/index.html && exec httpd -f -p 80 -h /www' "
                             ">/dev/null",
                             container, name, host, public_port, body),
                     0);
}

static void test_compose_lb(void **state)
{
    (void)state;
    bool lb = s_lb_built();
    wait_t w = {0};
    static const char *const some[] = {"provider.docker", "ipam.ipalloc", "dns.rfc2136", NULL};
    static const char *const all[] = {"provider.docker", "ipam.ipalloc", "dns.rfc2136",
                                      "lb.haproxy", NULL};
    w.extensions = lb ? all : some;
    compose_t c;
    snprintf(c.project, sizeof c.project, "illb%d", (int)getpid());
    snprintf(c.compose, sizeof c.compose,
             "docker-compose -p %s --env-file deploy/dns-lb.env -f deploy/docker-compose.yml",
             c.project);
    snprintf(c.web, sizeof c.web, "%s-web", c.project);
    s_lb = c;
    s_set_ports(&w);
    int port[2]; /* BIND's, the service's public port */
    assert_int_equal(test_free_ports(port, 2), 0);
    char text[64];
    snprintf(text, sizeof text, "%d", port[0]);
    setenv("INTERLOOK_DNS_PORT", text, 1);
    setenv("INTERLOOK_IMAGE", IMAGE, 1);
    setenv("INTERLOOK_BIND_IMAGE", BIND_IMAGE, 1);
    setenv("INTERLOOK_HAPROXY_IMAGE", HAPROXY_IMAGE, 1);
    struct stat st;
    assert_int_equal(stat("/var/run/docker.sock", &st), 0);
    snprintf(text, sizeof text, "%u", (unsigned)st.st_gid);
    setenv("DOCKER_GID", text, 1);

    /* deploy/lb.env alone: the lb profile, and every part of the stack
     * reads the lb configuration. (docker-compose 1.29's config lists the
     * services of every profile: the profile is read from the file.) */
    assert_int_equal(test_sh("grep -qx 'COMPOSE_PROFILES=lb' deploy/lb.env"), 0);
    char *configs =
        test_sh_output("docker-compose -p %s --env-file deploy/lb.env -f deploy/docker-compose.yml "
                       "config | grep -c -- '- /etc/interlook/interlook-lb.yml'",
                       c.project);
    assert_non_null(configs);
    /* core, docker, ipalloc, dns (off), lb; core-b, ipalloc-b (ha, off) */
    assert_string_equal(configs, "7");
    free(configs);

    assert_int_equal(test_sh("DEBOOTSTRAP_CACHE=/var/cache/interlook-debootstrap "
                             "deploy/docker/base-image.sh interlook-base:bookworm >/dev/null"),
                     0);
    assert_int_equal(test_sh("%s build -q core bind haproxy >/tmp/interlook-test-lb-build.log 2>&1 "
                             "|| { tail -40 /tmp/interlook-test-lb-build.log; exit 1; }",
                             c.compose),
                     0);
    assert_int_equal(test_sh("%s up -d >/dev/null 2>&1", c.compose), 0);
    /* HAProxy: in the host's network namespace, interlook-lb in HAProxy's;
     * its master runs a worker, reachable through the socket volume (here
     * from the host, as root), and the file interlook-lb owns is there. */
    char *mode = test_sh_output("docker inspect -f '{{.HostConfig.NetworkMode}}' "
                                "$(%s ps -q haproxy)",
                                c.compose);
    assert_non_null(mode);
    assert_string_equal(mode, "host");
    free(mode);
    char *hid = test_sh_output("%s ps -q haproxy", c.compose);
    assert_non_null(hid);
    mode =
        test_sh_output("docker inspect -f '{{.HostConfig.NetworkMode}}' $(%s ps -q lb)", c.compose);
    assert_non_null(mode);
    snprintf(text, sizeof text, "container:%.40s", hid);
    if (strncmp(mode, text, strlen("container:") + 12))
        fail_msg("lb's network mode is %s, not HAProxy's (%s)", mode, hid);
    free(mode);
    free(hid);
    char *run = test_sh_output("docker volume inspect -f '{{.Mountpoint}}' %s_lb-run", c.project);
    assert_non_null(run);
    char master[512];
    snprintf(master, sizeof master, "%s/master.sock", run);
    free(run);
    if (!test_wait(s_haproxy_worker, master, UP_MS))
        fail_msg("the stack's HAProxy did not answer on %s within %d ms", master, UP_MS);
    char *file =
        test_sh_output("docker volume inspect -f '{{.Mountpoint}}' %s_lb-config", c.project);
    assert_non_null(file);
    assert_int_equal(test_sh("test -f %s/interlook.cfg", file), 0);
    free(file);
    /* The sockets are HAProxy's master's, for interlook's group only. */
    char *modes = test_sh_output("%s exec -T haproxy stat -c '%%a %%g' /run/haproxy/master.sock "
                                 "/run/haproxy/admin.sock",
                                 c.compose);
    assert_non_null(modes);
    assert_string_equal(modes, "660 10001\n660 10001");
    free(modes);

    s_wait_registered(&w);
    char *flow = test_sh_output("curl -s %s/workflow", w.api);
    assert_non_null(flow);
    if (!strstr(flow, "lb.haproxy") || !strstr(flow, "dns.rfc2136"))
        fail_msg("the workflow has no lb.haproxy or dns.rfc2136: %s", flow);
    free(flow);
    if (!lb) {
        print_message("      extensions/lb/main.c is not in the tree: the lb profile checked up "
                      "to HAProxy; interlook-lb and traffic through the VIP not run\n");
        assert_int_equal(test_sh("%s down -v >/dev/null 2>&1", c.compose), 0);
        *s_lb.project = '\0';
        return;
    }
    char *uid = test_sh_output("%s exec -T lb id -u", c.compose);
    assert_non_null(uid);
    assert_string_equal(uid, "10001");
    free(uid);
    /* Both steps over CURVE, each with the key keygen made for it. */
    assert_int_equal(test_sh("%s logs core | grep -q '(lb.cert) accepted' && "
                             "%s logs core | grep -q '(dns.cert) accepted'",
                             c.compose, c.compose),
                     0);

    /* The whole promise: the name resolves to the VIP, the VIP answers. */
    char name[128], second[96];
    snprintf(name, sizeof name, "%s.example.test", c.web);
    snprintf(second, sizeof second, "%s-2", c.web);
    s_run_replica(c.web, c.web, name, port[1], "one");
    s_wait_entry(&w, c.web, "deployed", 1);
    char *ip = s_public_ip(w.api, c.web);
    assert_non_null(ip);
    if (strncmp(ip, "127.77.0.", 9)) fail_msg("%s's VIP %s is not in 127.77.0.0/24", c.web, ip);
    dig_t d = {.port = port[0], .name = name, .want = ip};
    s_wait_dig(&d);
    fetch_t f = {.want = "one"};
    snprintf(f.url, sizeof f.url, "http://%s:%d/", ip, port[1]);
    s_wait_fetch(&f);

    /* A second replica: both serve through the VIP. */
    s_run_replica(second, c.web, name, port[1], "two");
    s_wait_entry(&w, c.web, "deployed", 2);
    f.want = "two";
    s_wait_fetch(&f);
    f.want = "one";
    s_wait_fetch(&f);

    /* Both gone: the VIP refuses, the name goes. */
    assert_int_equal(test_sh("docker rm -f %s %s >/dev/null", c.web, second), 0);
    s_wait_entry(&w, c.web, "undeployed", SIZE_MAX);
    f.want = NULL;
    s_wait_fetch(&f);
    d.want = NULL;
    s_wait_dig(&d);
    free(ip);

    assert_int_equal(test_sh("%s down -v >/dev/null 2>&1", c.compose), 0);
    char *left = test_sh_output("docker ps -aq --filter label=com.docker.compose.project=%s; "
                                "docker volume ls -q --filter label=com.docker.compose.project=%s",
                                c.project, c.project);
    assert_non_null(left);
    assert_string_equal(left, "");
    free(left);
    *s_lb.project = '\0';
}

/* docker-compose with the ha profile ------------------------------------------ */

#define ETCD_IMAGE "interlook-etcd:test"
#define HA_TTL_MS  5000 /* core.etcd.leaseTTL of the image's interlook-ha.yml */

static compose_t s_ha;
static char s_ha_web2[96];

static int s_ha_down(void **state)
{
    (void)state;
    if (!*s_ha.project) return 0;
    test_sh("docker rm -f %s %s >/dev/null 2>&1", s_ha.web, s_ha_web2);
    test_sh("%s down -v >/dev/null 2>&1", s_ha.compose);
    unsetenv("INTERLOOK_ROUTER_MORE"); /* the stacks of other tests have one core */
    unsetenv("INTERLOOK_PUBLISH_MORE");
    return 0;
}

typedef struct {
    const char *ids[2];  /* the cores' core.id */
    char api[2][64];     /* their APIs */
    const char *role[2]; /* what each must say; NULL: anything */
    int leader;          /* set by s_ha_roles: the index of the leader, -1: none */
} ha_t;

/* The role a core's /health gives (a static string), "" when it answers none. */
static const char *s_ha_role(const char *api, char *leader, size_t len)
{
    static char role[32];
    *role = 0;
    if (leader) *leader = 0;
    json_t *h = test_get_json(api, "/health");
    const char *r = json_string_value(json_object_get(h, "role"));
    const char *l = json_string_value(json_object_get(h, "leader"));
    if (r) snprintf(role, sizeof role, "%s", r);
    if (leader && l) snprintf(leader, len, "%s", l);
    json_decref(h);
    return role;
}

/* One core leads (its /health says leader) and the other stands by naming
 * it; each as h->role says when set. */
static bool s_ha_roles(void *arg)
{
    ha_t *h = arg;
    char named[2][64];
    const char *role[2];
    char copy[2][32];
    for (int i = 0; i < 2; i++) {
        snprintf(copy[i], sizeof copy[i], "%s", s_ha_role(h->api[i], named[i], sizeof named[i]));
        role[i] = copy[i];
        if (h->role[i] && strcmp(role[i], h->role[i])) return false;
    }
    h->leader = -1;
    for (int i = 0; i < 2; i++)
        if (!strcmp(role[i], "leader") && !strcmp(role[1 - i], "standby") &&
            !strcmp(named[1 - i], h->ids[i]))
            h->leader = i;
    return h->leader >= 0;
}

/* The leader at arg has the provider and both allocators registered. */
static bool s_ha_registered(void *arg)
{
    json_t *ext = test_get_json(arg, "/extensions");
    bool all = json_array_size(json_object_get(ext, "provider.docker")) == 1 &&
               json_array_size(json_object_get(ext, "ipam.ipalloc")) == 2;
    json_decref(ext);
    return all;
}

/* The profile's cores and allocators keep no file: /var/lib/interlook (the
 * volumes core-state and ipalloc-state of the first two, the image's
 * anonymous volume of the others) is empty in each. */
static void s_ha_no_state(const compose_t *c)
{
    const char *parts[] = {"core", "core-b", "ipalloc", "ipalloc-b"};
    for (int i = 0; i < 4; i++) {
        char *left = test_sh_output("%s exec -T %s find /var/lib/interlook -mindepth 1", c->compose,
                                    parts[i]);
        assert_non_null(left);
        if (*left) fail_msg("%s keeps state on disk: %s", parts[i], left);
        free(left);
    }
    /* and core-b, ipalloc-b have no named volume for it */
    char *named = test_sh_output("docker inspect -f '{{range .Mounts}}{{if eq .Destination "
                                 "\"/var/lib/interlook\"}}{{.Name}}{{end}}{{end}}' "
                                 "$(%s ps -q core-b) $(%s ps -q ipalloc-b)",
                                 c->compose, c->compose);
    assert_non_null(named);
    assert_null(strstr(named, "state"));
    free(named);
}

/* A labelled container name (its page on a port of the host chosen here:
 * docker's own choice may collide with a port a restarted dockerd left held). */
static void s_ha_web(const char *name)
{
    int port[1];
    assert_int_equal(test_free_ports(port, 1), 0);
    assert_int_equal(test_sh("docker run -d --name %s -l interlook.hosts=%s.example.test "
                             "-l interlook.port=80 -p %d:80 interlook-test:latest >/dev/null",
                             name, name, port[0]),
                     0);
}

static void s_ha_ports(ha_t *h)
{
    int p[6];
    assert_int_equal(test_free_ports(p, 6), 0);
    static const char *const vars[] = {"INTERLOOK_API_PORT",      "INTERLOOK_ROUTER_PORT",
                                       "INTERLOOK_PUBLISH_PORT",  "INTERLOOK_API_PORT_B",
                                       "INTERLOOK_ROUTER_PORT_B", "INTERLOOK_PUBLISH_PORT_B"};
    char text[64];
    for (int i = 0; i < 6; i++) {
        snprintf(text, sizeof text, "%d", p[i]);
        setenv(vars[i], text, 1);
    }
    /* the provider, in the host's namespace, reaches core-b on its ports */
    snprintf(text, sizeof text, ",tcp://127.0.0.1:%d", p[4]);
    setenv("INTERLOOK_ROUTER_MORE", text, 1);
    snprintf(text, sizeof text, ",tcp://127.0.0.1:%d", p[5]);
    setenv("INTERLOOK_PUBLISH_MORE", text, 1);
    snprintf(h->api[0], sizeof h->api[0], "http://127.0.0.1:%d", p[0]);
    snprintf(h->api[1], sizeof h->api[1], "http://127.0.0.1:%d", p[3]);
}

static void test_compose_ha(void **state)
{
    (void)state;
    static const char *const svcs[] = {"core", "core-b"};
    ha_t h = {.ids = {"core", "core-b"}};
    wait_t w = {0};
    compose_t c;
    snprintf(c.project, sizeof c.project, "ilha%d", (int)getpid());
    snprintf(c.compose, sizeof c.compose,
             "docker-compose -p %s --env-file deploy/ha.env -f deploy/docker-compose.yml",
             c.project);
    snprintf(c.web, sizeof c.web, "%s-web", c.project);
    snprintf(s_ha_web2, sizeof s_ha_web2, "%s-web2", c.project);
    s_ha = c;
    s_ha_ports(&h);
    setenv("INTERLOOK_IMAGE", IMAGE, 1);
    setenv("INTERLOOK_ETCD_IMAGE", ETCD_IMAGE, 1);
    char text[32];
    struct stat st;
    assert_int_equal(stat("/var/run/docker.sock", &st), 0);
    snprintf(text, sizeof text, "%u", (unsigned)st.st_gid);
    setenv("DOCKER_GID", text, 1);

    /* deploy/ha.env: the profile, and every interlook part reads interlook-ha.yml. */
    assert_int_equal(test_sh("grep -qx 'COMPOSE_PROFILES=ha' deploy/ha.env"), 0);
    char *configs =
        test_sh_output("%s config | grep -c -- '- /etc/interlook/interlook-ha.yml'", c.compose);
    assert_non_null(configs);
    assert_string_equal(configs, "7"); /* core, core-b, docker, ipalloc, ipalloc-b, dns, lb */
    free(configs);

    /* etcd's image: Debian's etcd-server on the offline base. */
    assert_int_equal(test_sh("DEBOOTSTRAP_CACHE=/var/cache/interlook-debootstrap "
                             "deploy/docker/base-image.sh interlook-base:bookworm >/dev/null"),
                     0);
    assert_int_equal(test_sh("%s build -q etcd1 >/tmp/interlook-test-etcd-build.log 2>&1 || "
                             "{ tail -40 /tmp/interlook-test-etcd-build.log; exit 1; }",
                             c.compose),
                     0);
    assert_int_equal(test_sh("docker run --rm --entrypoint etcd %s --version | grep '^etcd "
                             "Version: 3\\.4\\.' >/dev/null",
                             ETCD_IMAGE),
                     0);

    assert_int_equal(test_sh("%s up -d >/dev/null 2>&1", c.compose), 0);
    if (!test_wait(s_ha_roles, &h, UP_MS))
        fail_msg("no core led with the other standing by within %d ms: core %s, core-b %s", UP_MS,
                 s_ha_role(h.api[0], NULL, 0), s_ha_role(h.api[1], NULL, 0));
    int first = h.leader;
    fprintf(stderr, "test_compose_ha: %s leads\n", svcs[first]);
    /* A cluster of three members, all healthy. */
    assert_int_equal(test_sh("%s exec -T etcd1 env ETCDCTL_API=3 etcdctl endpoint health --cluster "
                             "2>&1 | grep -c 'is healthy' | grep -qx 3",
                             c.compose),
                     0);
    if (!test_wait(s_ha_registered, h.api[first], UP_MS))
        fail_msg("the provider and both allocators did not register with the leader within %d ms",
                 UP_MS);
    /* The standby has no extension: it refuses them (not-leader). */
    json_t *none = test_get_json(h.api[1 - first], "/extensions");
    assert_non_null(none);
    assert_int_equal(json_array_size(json_object_get(none, "ipam.ipalloc")), 0);
    json_decref(none);
    assert_int_equal(test_sh("%s logs core | grep -q 'bus: CURVE on' && %s logs core-b | grep -q "
                             "'bus: CURVE on'",
                             c.compose, c.compose),
                     0);

    s_ha_web(c.web);
    snprintf(w.api, sizeof w.api, "%s", h.api[first]);
    s_wait_entry(&w, c.web, "deployed", 1);
    char *ip = s_public_ip(w.api, c.web);
    assert_non_null(ip);
    /* The entry and the allocation are on etcd, nothing on a volume; the
     * standby reads the entry from etcd. */
    char *held = test_sh_output("%s exec -T etcd2 env ETCDCTL_API=3 etcdctl get --print-value-only "
                                "/interlook/ipalloc/10.32.30.0_24/svc/%s",
                                c.compose, c.web);
    assert_non_null(held);
    assert_string_equal(held, ip);
    free(held);
    assert_int_equal(test_sh("%s exec -T etcd3 env ETCDCTL_API=3 etcdctl get --keys-only "
                             "/interlook/entries/%s | grep -q .",
                             c.compose, c.web),
                     0);
    snprintf(w.api, sizeof w.api, "%s", h.api[1 - first]);
    s_wait_entry(&w, c.web, "deployed", 1);
    s_ha_no_state(&c);

    /* docker kill of the leader's container: the other leads within 2 x TTL. */
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    assert_int_equal(test_sh("docker kill $(%s ps -q %s) >/dev/null", c.compose, svcs[first]), 0);
    ha_t after = h;
    after.role[1 - first] = "leader";
    after.role[first] = NULL;
    bool took = false;
    for (int i = 0; i < 2 * HA_TTL_MS / 50 + 40 && !took; i++) {
        took = !strcmp(s_ha_role(h.api[1 - first], NULL, 0), "leader");
        if (!took) usleep(50000);
    }
    gettimeofday(&t1, NULL);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    fprintf(stderr, "test_compose_ha: %s leads %ld ms after docker kill of %s\n", svcs[1 - first],
            ms, svcs[first]);
    if (!took) fail_msg("%s did not lead within %ld ms of the kill", svcs[1 - first], ms);
    /* 2 x TTL, and the time the kill itself takes */
    assert_true(ms <= 2 * HA_TTL_MS + 2000);
    if (!test_wait(s_ha_registered, h.api[1 - first], UP_MS))
        fail_msg("the provider and both allocators did not move to %s within %d ms",
                 svcs[1 - first], UP_MS);

    /* A new service is deployed by the new leader, with another address; the
     * old one is still deployed with its own. */
    s_ha_web(s_ha_web2);
    s_wait_entry(&w, s_ha_web2, "deployed", 1);
    char *ip2 = s_public_ip(w.api, s_ha_web2);
    assert_non_null(ip2);
    assert_string_not_equal(ip2, ip);
    s_wait_entry(&w, c.web, "deployed", 1);
    char *again = s_public_ip(w.api, c.web);
    assert_non_null(again);
    assert_string_equal(again, ip);
    free(again);
    free(ip2);
    free(ip);

    /* The old leader back: it stands by. */
    assert_int_equal(test_sh("%s up -d %s >/dev/null 2>&1", c.compose, svcs[first]), 0);
    after.role[first] = "standby";
    if (!test_wait(s_ha_roles, &after, UP_MS))
        fail_msg("%s, started again, did not stand by within %d ms", svcs[first], UP_MS);

    assert_int_equal(test_sh("docker rm -f %s %s >/dev/null", c.web, s_ha_web2), 0);
    assert_int_equal(test_sh("%s down -v >/dev/null 2>&1", c.compose), 0);
    char *left =
        test_sh_output("docker ps -aq --filter label=com.docker.compose.project=%s", c.project);
    assert_non_null(left);
    assert_string_equal(left, "");
    free(left);
}

/* A one-host compose stack grown into the ha profile: its allocations
 * imported into etcd from its volume (the README's migration), a service
 * keeps its address. */
static compose_t s_mig;
static char s_mig_web2[96];

static int s_mig_down(void **state)
{
    (void)state;
    if (!*s_mig.project) return 0;
    test_sh("docker rm -f %s %s >/dev/null 2>&1", s_mig.web, s_mig_web2);
    test_sh("%s down -v >/dev/null 2>&1", s_mig.compose);
    unsetenv("INTERLOOK_ROUTER_MORE");
    unsetenv("INTERLOOK_PUBLISH_MORE");
    return 0;
}

static void test_compose_ha_import(void **state)
{
    (void)state;
    ha_t h = {.ids = {"core", "core-b"}};
    wait_t w = {0};
    compose_t c;
    snprintf(c.project, sizeof c.project, "ilmig%d", (int)getpid());
    snprintf(c.compose, sizeof c.compose,
             "docker-compose -p %s --env-file deploy/ha.env -f deploy/docker-compose.yml",
             c.project);
    snprintf(c.web, sizeof c.web, "%s-web", c.project);
    snprintf(s_mig_web2, sizeof s_mig_web2, "%s-web2", c.project);
    s_mig = c;
    s_ha_ports(&h);
    setenv("INTERLOOK_IMAGE", IMAGE, 1);
    setenv("INTERLOOK_ETCD_IMAGE", ETCD_IMAGE, 1);
    char text[32];
    struct stat st;
    assert_int_equal(stat("/var/run/docker.sock", &st), 0);
    snprintf(text, sizeof text, "%u", (unsigned)st.st_gid);
    setenv("DOCKER_GID", text, 1);

    /* One host first: the plain stack (no env file), its state in volumes.
     * Two services; the first removed, so that the second holds an address
     * that is not the pool's first free one. */
    char plain[192];
    snprintf(plain, sizeof plain, "docker-compose -p %s -f deploy/docker-compose.yml", c.project);
    assert_int_equal(test_sh("%s up -d >/dev/null 2>&1", plain), 0);
    snprintf(w.api, sizeof w.api, "%s", h.api[0]);
    s_wait_registered(&w);
    s_ha_web(s_mig_web2);
    s_wait_entry(&w, s_mig_web2, "deployed", 1);
    s_ha_web(c.web);
    s_wait_entry(&w, c.web, "deployed", 1);
    char *ip = s_public_ip(w.api, c.web);
    assert_non_null(ip);
    assert_int_equal(test_sh("docker rm -f %s >/dev/null", s_mig_web2), 0);
    s_wait_entry(&w, s_mig_web2, "undeployed", SIZE_MAX);
    /* stopped, its volumes kept */
    assert_int_equal(test_sh("%s stop >/dev/null 2>&1", plain), 0);

    /* etcd up, the allocator's file imported from its volume (twice: the
     * second changes nothing), then the ha profile. */
    assert_int_equal(test_sh("%s up -d etcd1 etcd2 etcd3 >/dev/null 2>&1", c.compose), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "%s exec -T etcd1 env ETCDCTL_API=3 etcdctl endpoint health --cluster 2>&1 | "
             "grep -c 'is healthy' | grep -qx 3",
             c.compose);
    if (!test_wait(s_sh_ok, cmd, UP_MS)) fail_msg("etcd's 3 members not healthy in %d ms", UP_MS);
    char import[768];
    snprintf(import, sizeof import,
             "docker run --rm --network %s_default -v %s_ipalloc-state:/var/lib/interlook %s "
             "interlook-ipalloc -c /etc/interlook/interlook-ha.yml --import "
             "/var/lib/interlook/ipalloc.db 2>&1",
             c.project, c.project, IMAGE);
    char *out = test_sh_output("%s", import);
    assert_non_null(out);
    if (!strstr(out, " imported into etcd")) fail_msg("the import said: %s", out);
    free(out);
    /* (the provider lists every labelled container of this host: other
     * tests' too, so the count is not checked; the service's key is) */
    char *held = test_sh_output("%s exec -T etcd2 env ETCDCTL_API=3 etcdctl get --print-value-only "
                                "/interlook/ipalloc/10.32.30.0_24/svc/%s",
                                c.compose, c.web);
    assert_non_null(held);
    assert_string_equal(held, ip);
    free(held);
    out = test_sh_output("%s", import);
    assert_non_null(out);
    if (!strstr(out, ": 0 imported into etcd")) fail_msg("the second import said: %s", out);
    free(out);

    assert_int_equal(test_sh("%s up -d >/dev/null 2>&1", c.compose), 0);
    if (!test_wait(s_ha_roles, &h, UP_MS))
        fail_msg("no core led with the other standing by within %d ms", UP_MS);
    if (!test_wait(s_ha_registered, h.api[h.leader], UP_MS))
        fail_msg("the provider and both allocators did not register within %d ms", UP_MS);
    /* The leader learnt the service from the provider; its address is the
     * one the file held. */
    snprintf(w.api, sizeof w.api, "%s", h.api[h.leader]);
    s_wait_entry(&w, c.web, "deployed", 1);
    char *again = s_public_ip(w.api, c.web);
    assert_non_null(again);
    assert_string_equal(again, ip);
    free(again);
    free(ip);

    assert_int_equal(test_sh("docker rm -f %s >/dev/null", c.web), 0);
    assert_int_equal(test_sh("%s down -v >/dev/null 2>&1", c.compose), 0);
}

/* docker stack deploy ------------------------------------------------------- */

typedef struct {
    char stack[64];
    char svc[80];
    bool joined; /* the node was in a swarm before the test */
} swarm_t;

static swarm_t s_swarm;

static bool s_stack_gone(void *arg)
{
    return test_sh("docker network ls -q --filter name=%s_ | grep -q .", (const char *)arg) != 0;
}

/* The stack's volumes are gone (they can be removed only once the stack's
 * containers are, a little after `docker stack rm` returns). */
static bool s_volumes_removed(void *arg)
{
    const char *stack = arg;
    return test_sh("docker volume rm %s_core-state %s_ipalloc-state >/dev/null 2>&1; "
                   "! docker volume ls -q --filter name=%s_ | grep -q .",
                   stack, stack, stack) == 0;
}

/* Removes a stack of the test's, its keys and volumes, and leaves a swarm
 * the test made. */
static int s_swarm_teardown(swarm_t *sw, bool (*volumes_removed)(void *))
{
    if (!*sw->stack) return 0;
    test_sh("docker service rm %s >/dev/null 2>&1", sw->svc);
    test_sh("docker stack rm %s >/dev/null 2>&1", sw->stack);
    test_wait(s_stack_gone, sw->stack, WAIT_MS);
    /* The keys deploy/swarm-keys.sh stored, once no task uses them. */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "for h in core docker ipalloc; do docker secret rm %s-$h.cert_secret; "
             "docker config rm %s-$h.cert; done >/dev/null 2>&1; "
             "! docker secret ls -q --filter name=%s- | grep -q .",
             sw->stack, sw->stack, sw->stack);
    if (!test_wait(s_sh_ok, cmd, WAIT_MS))
        fprintf(stderr, "test_deploy: the secrets of %s could not be removed\n", sw->stack);
    test_sh("rm -rf /tmp/%s-keys /tmp/%s-keys.log", sw->stack, sw->stack);
    if (!test_wait(volumes_removed, sw->stack, WAIT_MS))
        fprintf(stderr, "test_deploy: the volumes of %s could not be removed\n", sw->stack);
    if (!sw->joined) test_sh("docker swarm leave --force >/dev/null 2>&1");
    return 0;
}

static int s_swarm_down(void **state)
{
    (void)state;
    return s_swarm_teardown(&s_swarm, s_volumes_removed);
}

static void test_swarm_stack(void **state)
{
    (void)state;
    wait_t w = {0};
    s_set_ports(&w);
    setenv("INTERLOOK_IMAGE", IMAGE, 1);
    char *stack = s_swarm.stack, *svc = s_swarm.svc;
    snprintf(s_swarm.stack, sizeof s_swarm.stack, "ilstack%d", (int)getpid());
    snprintf(s_swarm.svc, sizeof s_swarm.svc, "%s-web", stack);
    s_swarm.joined =
        test_sh("docker info --format '{{.Swarm.LocalNodeState}}' | grep -qx active") == 0;
    if (!s_swarm.joined) assert_int_equal(test_sh("docker swarm init >/dev/null 2>&1"), 0);

    /* The one-time step: the keys in the swarm (through the image, as on a
     * manager without interlookctl); run again, it keeps them. */
    assert_int_equal(test_sh("PATH=/usr/bin:/bin deploy/swarm-keys.sh %s /tmp/%s-keys "
                             ">/tmp/%s-keys.log 2>&1 || { cat /tmp/%s-keys.log; exit 1; }",
                             stack, stack, stack, stack),
                     0);
    assert_int_equal(test_sh("deploy/swarm-keys.sh %s /tmp/%s-keys | grep -q 'keys kept' && "
                             "test -f /tmp/%s-keys/core.cert && "
                             "! find /tmp/%s-keys -name '*_secret' | grep -q .",
                             stack, stack, stack, stack),
                     0);
    setenv("INTERLOOK_KEYS", stack, 1);
    assert_int_equal(test_sh("docker stack deploy -c deploy/stack.yml %s >/dev/null 2>&1", stack),
                     0);
    s_wait_registered(&w);
    /* Over CURVE: the core says so, and admitted the two keys of the stack. */
    assert_int_equal(test_sh("docker service logs %s_core 2>&1 | grep -q 'bus: CURVE on' && "
                             "docker service logs %s_core 2>&1 | grep -q '(docker.cert) accepted' "
                             "&& docker service logs %s_core 2>&1 | grep -q '(ipalloc.cert) "
                             "accepted'",
                             stack, stack, stack),
                     0);
    int port[1];
    assert_int_equal(test_free_ports(port, 1), 0);
    assert_int_equal(
        test_sh("docker service create -d --name %s -l interlook.hosts=%s.example.test "
                "-l interlook.port=80 -p %d:80 interlook-test:latest >/dev/null 2>&1",
                svc, svc, port[0]),
        0);
    s_wait_entry(&w, svc, "deployed", 1);
    char *ip = s_public_ip(w.api, svc);
    assert_non_null(ip);
    free(ip);
    assert_int_equal(test_sh("docker service rm %s >/dev/null", svc), 0);
    s_wait_entry(&w, svc, "undeployed", SIZE_MAX);

    assert_int_equal(test_sh("docker stack rm %s >/dev/null 2>&1", stack), 0);
    assert_true(test_wait(s_stack_gone, stack, WAIT_MS));
}

/* docker stack deploy of the HA variant --------------------------------------- */

static swarm_t s_swarm_ha;

/* The stack's volumes (the etcd members') are gone. */
static bool s_ha_volumes_removed(void *arg)
{
    const char *stack = arg;
    return test_sh("docker volume rm %s_etcd1 %s_etcd2 %s_etcd3 >/dev/null 2>&1; "
                   "! docker volume ls -q --filter name=%s_ | grep -q .",
                   stack, stack, stack, stack) == 0;
}

static int s_swarm_ha_down(void **state)
{
    (void)state;
    return s_swarm_teardown(&s_swarm_ha, s_ha_volumes_removed);
}

static void test_swarm_ha(void **state)
{
    (void)state;
    ha_t h = {.ids = {"core-a", "core-b"}};
    wait_t w = {0};
    s_ha_ports(&h);
    setenv("INTERLOOK_IMAGE", IMAGE, 1);
    setenv("INTERLOOK_ETCD_IMAGE", ETCD_IMAGE, 1);
    unsetenv("INTERLOOK_ETCD_ENDPOINTS"); /* the members of deploy/stack-etcd.yml */
    char *stack = s_swarm_ha.stack, *svc = s_swarm_ha.svc;
    snprintf(s_swarm_ha.stack, sizeof s_swarm_ha.stack, "ilhastack%d", (int)getpid());
    snprintf(s_swarm_ha.svc, sizeof s_swarm_ha.svc, "%s-web", stack);
    s_swarm_ha.joined =
        test_sh("docker info --format '{{.Swarm.LocalNodeState}}' | grep -qx active") == 0;
    if (!s_swarm_ha.joined) assert_int_equal(test_sh("docker swarm init >/dev/null 2>&1"), 0);
    assert_int_equal(test_sh("docker build -q -f deploy/docker/etcd/Dockerfile -t %s . "
                             ">/tmp/interlook-test-etcd-build.log 2>&1 || "
                             "{ tail -40 /tmp/interlook-test-etcd-build.log; exit 1; }",
                             ETCD_IMAGE),
                     0);
    /* The keys as for deploy/stack.yml: the same script, the same secrets. */
    assert_int_equal(test_sh("PATH=/usr/bin:/bin deploy/swarm-keys.sh %s /tmp/%s-keys "
                             ">/tmp/%s-keys.log 2>&1 || { cat /tmp/%s-keys.log; exit 1; }",
                             stack, stack, stack, stack),
                     0);
    setenv("INTERLOOK_KEYS", stack, 1);
    assert_int_equal(test_sh("docker stack deploy -c deploy/stack-ha.yml -c deploy/stack-etcd.yml "
                             "%s >/tmp/%s-deploy.log 2>&1 || { cat /tmp/%s-deploy.log; exit 1; }",
                             stack, stack, stack),
                     0);
    if (!test_wait(s_ha_roles, &h, UP_MS))
        fail_msg("no core led with the other standing by within %d ms: core-a %s, core-b %s", UP_MS,
                 s_ha_role(h.api[0], NULL, 0), s_ha_role(h.api[1], NULL, 0));
    int first = h.leader;
    fprintf(stderr, "test_swarm_ha: %s leads\n", h.ids[first]);
    if (!test_wait(s_ha_registered, h.api[first], UP_MS))
        fail_msg("the provider and both allocators did not register with the leader within %d ms",
                 UP_MS);
    assert_int_equal(test_sh("docker service logs %s_core-a 2>&1 | grep -q 'bus: CURVE on' && "
                             "docker service logs %s_core-b 2>&1 | grep -q 'bus: CURVE on'",
                             stack, stack),
                     0);
    /* No state volume: the stack's only volumes are the etcd members'. */
    assert_int_equal(test_sh("! docker volume ls -q --filter label=com.docker.stack.namespace=%s | "
                             "grep -v '_etcd[123]$'",
                             stack),
                     0);

    int port[1];
    assert_int_equal(test_free_ports(port, 1), 0);
    assert_int_equal(
        test_sh("docker service create -d --name %s -l interlook.hosts=%s.example.test "
                "-l interlook.port=80 -p %d:80 interlook-test:latest >/dev/null 2>&1",
                svc, svc, port[0]),
        0);
    snprintf(w.api, sizeof w.api, "%s", h.api[first]);
    s_wait_entry(&w, svc, "deployed", 1);
    char *ip = s_public_ip(w.api, svc);
    assert_non_null(ip);
    snprintf(w.api, sizeof w.api, "%s", h.api[1 - first]); /* the standby reads etcd */
    s_wait_entry(&w, svc, "deployed", 1);

    /* The leader's task killed: a core leads again with the other standing
     * by, the service stays deployed with its address. Which one leads is a
     * race: the standby campaigns when the dead lease expires, and so does
     * the task swarm restarted if it is up by then. The killed process
     * answers nothing, so a leader seen now is a new leadership. */
    assert_int_equal(test_sh("docker kill $(docker ps -q --filter "
                             "label=com.docker.swarm.service.name=%s_%s) >/dev/null",
                             stack, h.ids[first]),
                     0);
    ha_t after = h;
    after.role[0] = after.role[1] = NULL;
    if (!test_wait(s_ha_roles, &after, UP_MS))
        fail_msg("no core led with the other standing by within %d ms of the kill of %s", UP_MS,
                 h.ids[first]);
    int lead = after.leader;
    printf("test_swarm_ha: %s leads after the kill\n", h.ids[lead]);
    if (!test_wait(s_ha_registered, h.api[lead], UP_MS))
        fail_msg("the extensions did not move to %s within %d ms", h.ids[lead], UP_MS);
    snprintf(w.api, sizeof w.api, "%s", h.api[lead]);
    s_wait_entry(&w, svc, "deployed", 1);
    char *again = s_public_ip(w.api, svc);
    assert_non_null(again);
    assert_string_equal(again, ip);
    free(again);
    free(ip);

    assert_int_equal(test_sh("docker service rm %s >/dev/null", svc), 0);
    s_wait_entry(&w, svc, "undeployed", SIZE_MAX);
    assert_int_equal(test_sh("docker stack rm %s >/dev/null 2>&1", stack), 0);
    assert_true(test_wait(s_stack_gone, stack, WAIT_MS));
}

static bool s_docker_up(void *arg)
{
    (void)arg;
    return test_sh("docker info >/dev/null 2>&1") == 0;
}

static int s_setup(void **state)
{
    (void)state;
    struct stat st;
    if (stat("deploy/docker-compose.yml", &st) != 0) {
        fprintf(stderr, "test_deploy: run from the repository root (deploy/ not found)\n");
        return -1;
    }
    if (!s_docker_up(NULL)) {
        fprintf(stderr, "test_deploy: dockerd is not running (.ci/run starts it)\n");
        return -1;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_systemd_units, s_units_down),
        cmocka_unit_test(test_systemd_etcd_dropins),
        cmocka_unit_test(test_image_builds_offline),
        cmocka_unit_test_teardown(test_compose_stack, s_compose_down),
        cmocka_unit_test_teardown(test_compose_dns, s_dns_down),
        cmocka_unit_test_teardown(test_compose_lb, s_lb_down),
        cmocka_unit_test_teardown(test_compose_ha, s_ha_down),
        cmocka_unit_test_teardown(test_compose_ha_import, s_mig_down),
        cmocka_unit_test_teardown(test_swarm_stack, s_swarm_down),
        cmocka_unit_test_teardown(test_swarm_ha, s_swarm_ha_down),
    };
    return test_run_group(tests, s_setup, NULL);
}
