/* dns_server: BIND 9, Knot or PowerDNS as a test's own primary server, on a
 * loopback address of its own; see dns_server.h for what each one needs. */
#define _GNU_SOURCE /* asprintf */
#include "tests/support/dns_server.h"
#include "tests/support/testutil.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define DNS_SERVER_PORT_BASE 5300
#define DNS_SERVER_READY_MS  10000
#define DNS_SERVER_STOP_MS   5000
#define DNS_SERVER_ZONES_MAX 16

struct _dns_server_t {
    dns_server_kind_t kind;
    char *dir;
    char address[32];
    int port;
    char endpoint[48];
    char *zones[DNS_SERVER_ZONES_MAX + 1];
    char *key_name, *algorithm, *secret;
    char *key_file, *log, *config;
    pid_t pid;
    bool lo_address; /* address added to lo (BIND), removed at destroy */
    int updates;     /* names the update script files */
};

static int s_count;    /* servers made by this process: each gets its own port */
static int s_lo_users; /* BIND servers of this process using the address on lo */

/* A string of the printf-formatted text (caller frees); aborts on OOM as the rest of the tests. */
static char *s_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *s_fmt(const char *fmt, ...)
{
    char *text = NULL;
    va_list args;
    va_start(args, fmt);
    int n = vasprintf(&text, fmt, args);
    va_end(args);
    if (n < 0) abort();
    return text;
}

static char *s_path(dns_server_t *self, const char *name)
{
    return s_fmt("%s/%s", self->dir, name);
}

/* Writes DIR/name with the text; 0 or -1 (said on stderr). */
static int s_write(dns_server_t *self, const char *name, const char *text)
{
    char *path = s_path(self, name);
    int rc = test_write_file(path, text);
    if (rc != 0) fprintf(stderr, "dns_server: cannot write %s\n", path);
    free(path);
    return rc;
}

/* The secret of a key file in tsig-keygen's format (caller frees), or NULL. */
static char *s_key_secret(const char *text)
{
    const char *start = strstr(text, "secret \"");
    if (!start) return NULL;
    start += strlen("secret \"");
    const char *end = strchr(start, '"');
    return end ? strndup(start, (size_t)(end - start)) : NULL;
}

static void s_log_tail(dns_server_t *self, const char *why)
{
    fprintf(stderr,
            "dns_server: %s %s on %s: %s (directory %s, kept when DNS_SERVER_KEEP is set; log "
            "%s); its log ends:\n",
            dns_server_kind_name(self->kind), self->config ? self->config : "", self->endpoint, why,
            self->dir, self->log ? self->log : "-");
    if (self->log) test_sh("tail -n 40 '%s' >&2", self->log);
}

static char *s_zone_text(dns_server_t *self, const char *zone)
{
    return s_fmt("$ORIGIN %s.\n"
                 "$TTL 60\n"
                 "@ IN SOA ns1.%s. hostmaster.%s. 1 3600 600 86400 60\n"
                 "@ IN NS ns1.%s.\n"
                 "ns1 IN A %s\n"
                 "foreign IN A " DNS_SERVER_FOREIGN_IP "\n"
                 "other IN A " DNS_SERVER_OTHER_IP "\n"
                 "other IN TXT \"" DNS_SERVER_OTHER_TXT "\"\n",
                 zone, zone, zone, zone, self->address);
}

static int s_write_zones(dns_server_t *self)
{
    for (char **zone = self->zones; *zone; zone++) {
        char *name = s_fmt("%s.zone", *zone);
        char *text = s_zone_text(self, *zone);
        int rc = s_write(self, name, text);
        free(name);
        free(text);
        if (rc != 0) return -1;
    }
    return 0;
}

static int s_setup_bind(dns_server_t *self)
{
    /* named listens only on addresses an interface carries (see the header) */
    if (test_sh("ip addr replace %s/32 dev lo", self->address) != 0) {
        fprintf(stderr, "dns_server: cannot add %s to lo (root needed for BIND)\n", self->address);
        return -1;
    }
    self->lo_address = true;
    s_lo_users++;
    zchunk_t *conf = zchunk_new(NULL, 2048);
    char *head = s_fmt("include \"%s\";\n"
                       "options {\n"
                       "  directory \"%s\";\n"
                       "  pid-file \"%s/named.pid\";\n"
                       "  session-keyfile \"%s/session.key\";\n"
                       "  managed-keys-directory \"%s\";\n"
                       "  listen-on port %d { %s; };\n"
                       "  listen-on-v6 { none; };\n"
                       "  recursion no;\n"
                       "  notify no;\n"
                       "  dnssec-validation no;\n"
                       "  allow-transfer { none; };\n"
                       "};\n"
                       "controls { };\n",
                       self->key_file, self->dir, self->dir, self->dir, self->dir, self->port,
                       self->address);
    zchunk_extend(conf, head, strlen(head));
    free(head);
    for (char **zone = self->zones; *zone; zone++) {
        char *text = s_fmt("zone \"%s\" {\n"
                           "  type primary;\n"
                           "  file \"%s/%s.zone\";\n"
                           "  update-policy { grant %s zonesub ANY; };\n"
                           "};\n",
                           *zone, self->dir, *zone, self->key_name);
        zchunk_extend(conf, text, strlen(text));
        free(text);
    }
    zchunk_extend(conf, "", 1);
    int rc = s_write(self, "named.conf", (char *)zchunk_data(conf));
    zchunk_destroy(&conf);
    self->config = s_path(self, "named.conf");
    return rc;
}

static int s_setup_knot(dns_server_t *self)
{
    zchunk_t *conf = zchunk_new(NULL, 2048);
    char *head = s_fmt("server:\n"
                       "    rundir: \"%s\"\n"
                       "    pidfile: \"%s/knot.pid\"\n"
                       "    listen: %s@%d\n"
                       "log:\n"
                       "  - target: stderr\n"
                       "    any: info\n"
                       "database:\n"
                       "    storage: \"%s\"\n"
                       "key:\n"
                       "  - id: %s\n"
                       "    algorithm: %s\n"
                       "    secret: %s\n"
                       "acl:\n"
                       "  - id: update\n"
                       "    key: %s\n"
                       "    action: update\n"
                       "template:\n"
                       "  - id: default\n"
                       "    storage: \"%s\"\n"
                       "    zonefile-sync: -1\n"
                       "    zonefile-load: whole\n"
                       "    journal-content: changes\n"
                       "zone:\n",
                       self->dir, self->dir, self->address, self->port, self->dir, self->key_name,
                       self->algorithm, self->secret, self->key_name, self->dir);
    zchunk_extend(conf, head, strlen(head));
    free(head);
    for (char **zone = self->zones; *zone; zone++) {
        /* an absolute path: a relative one is taken from "storage" */
        char *text = s_fmt("  - domain: %s\n"
                           "    file: \"%s/%s.zone\"\n"
                           "    acl: update\n",
                           *zone, self->dir, *zone);
        zchunk_extend(conf, text, strlen(text));
        free(text);
    }
    zchunk_extend(conf, "", 1);
    int rc = s_write(self, "knot.conf", (char *)zchunk_data(conf));
    zchunk_destroy(&conf);
    self->config = s_path(self, "knot.conf");
    return rc;
}

static int s_setup_pdns(dns_server_t *self)
{
    const char *schemas[] = {"/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql",
                             "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql", NULL};
    const char *schema = NULL;
    for (const char **s = schemas; *s && !schema; s++)
        if (access(*s, R_OK) == 0) schema = *s;
    if (!schema) {
        fprintf(stderr, "dns_server: no PowerDNS sqlite3 schema (%s): pdns-backend-sqlite3?\n",
                schemas[0]);
        return -1;
    }
    char *conf = s_fmt("launch=gsqlite3\n"
                       "gsqlite3-database=%s/pdns.sqlite3\n"
                       "local-address=%s\n"
                       "local-port=%d\n"
                       "dnsupdate=yes\n"
                       "allow-dnsupdate-from=127.0.0.0/8\n"
                       "socket-dir=%s\n"
                       "security-poll-suffix=\n"
                       "guardian=no\n"
                       "daemon=no\n"
                       "disable-syslog=yes\n"
                       "loglevel=6\n",
                       self->dir, self->address, self->port, self->dir);
    int rc = s_write(self, "pdns.conf", conf);
    free(conf);
    self->config = s_path(self, "pdns.conf");
    if (rc != 0) return -1;
    if (test_sh("sqlite3 '%s/pdns.sqlite3' < '%s' >>'%s' 2>&1", self->dir, schema, self->log) !=
            0 ||
        test_sh("pdnsutil --config-dir='%s' import-tsig-key '%s' '%s' '%s' >>'%s' 2>&1", self->dir,
                self->key_name, self->algorithm, self->secret, self->log) != 0) {
        s_log_tail(self, "sqlite3 or pdnsutil import-tsig-key failed");
        return -1;
    }
    for (char **zone = self->zones; *zone; zone++)
        if (test_sh("pdnsutil --config-dir='%s' load-zone '%s' '%s/%s.zone' >>'%s' 2>&1", self->dir,
                    *zone, self->dir, *zone, self->log) != 0 ||
            test_sh("pdnsutil --config-dir='%s' set-meta '%s' TSIG-ALLOW-DNSUPDATE '%s' "
                    ">>'%s' 2>&1",
                    self->dir, *zone, self->key_name, self->log) != 0) {
            s_log_tail(self, "pdnsutil load-zone or set-meta failed");
            return -1;
        }
    return 0;
}

/* Starts bin with args (argv[0] included), output appended to the log.
 * The child is killed when the test process dies, however it dies (a
 * failed assertion, a crash), so that no server outlives its test. */
static pid_t s_spawn(dns_server_t *self, const char *bin, char *const *argv)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127); /* the test died before prctl */
    int fd = open(self->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null = open("/dev/null", O_RDONLY);
    if (fd < 0 || null < 0) _exit(127);
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(bin, argv);
    fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
    _exit(127);
}

typedef struct {
    dns_server_t *server;
    bool died;
} s_ready_t;

static bool s_ready(void *arg)
{
    s_ready_t *ready = arg;
    int status;
    if (waitpid(ready->server->pid, &status, WNOHANG) == ready->server->pid) {
        ready->server->pid = -1;
        ready->died = true;
        return true;
    }
    for (char **zone = ready->server->zones; *zone; zone++)
        if (dns_server_rcode(ready->server, *zone, "SOA") != DNS_SERVER_NOERROR) return false;
    return true;
}

int dns_server_start(dns_server_t *self)
{
    if (self->pid > 0) return -1;
    char *dirarg = s_fmt("--config-dir=%s", self->dir);
    const char *bin = self->kind == DNS_SERVER_BIND   ? "/usr/sbin/named"
                      : self->kind == DNS_SERVER_KNOT ? "/usr/sbin/knotd"
                                                      : "/usr/sbin/pdns_server";
    /* foreground, logging to stderr: named -g, knotd without -d, pdns daemon=no in its config */
    char *const named[] = {"named", "-g", "-n", "1", "-c", self->config, NULL};
    char *const knotd[] = {"knotd", "-c", self->config, NULL};
    char *const pdns[] = {"pdns_server", dirarg, NULL};
    int64_t started = zclock_mono();
    self->pid = s_spawn(self, bin,
                        self->kind == DNS_SERVER_BIND   ? named
                        : self->kind == DNS_SERVER_KNOT ? knotd
                                                        : pdns);
    free(dirarg);
    if (self->pid <= 0) {
        self->pid = -1;
        s_log_tail(self, "cannot start");
        return -1;
    }
    s_ready_t ready = {self, false};
    if (!test_wait(s_ready, &ready, DNS_SERVER_READY_MS) || ready.died) {
        s_log_tail(self, ready.died ? "exited at start" : "no SOA answer within 10 s");
        dns_server_stop(self);
        return -1;
    }
    if (getenv("DNS_SERVER_VERBOSE"))
        fprintf(stderr, "dns_server: %s on %s answers after %" PRId64 " ms\n",
                dns_server_kind_name(self->kind), self->endpoint, zclock_mono() - started);
    return 0;
}

int dns_server_stop(dns_server_t *self)
{
    if (self->pid <= 0) return -1;
    int status = test_stop(self->pid, SIGTERM, DNS_SERVER_STOP_MS);
    self->pid = -1;
    return status == -1 ? -1 : 0;
}

/* BIND's directory: under /var/cache/bind, the one place Debian's AppArmor
 * profile for /usr/sbin/named lets it read and write (enforced wherever
 * AppArmor is on, as on a default Debian 12 install); /tmp otherwise. */
static char *s_bind_dir(void)
{
    char path[] = "/var/cache/bind/interlook-test-XXXXXX";
    if (access("/var/cache/bind", W_OK) == 0 && mkdtemp(path)) return strdup(path);
    return test_tmpdir();
}

dns_server_t *dns_server_new(dns_server_kind_t kind, const dns_server_opts_t *opts)
{
    static const char *const default_zones[] = {"example.test", NULL};
    dns_server_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->kind = kind;
    self->pid = -1;
    pid_t pid = getpid();
    snprintf(self->address, sizeof self->address, "127.%d.%d.%d", 64 + ((pid >> 16) & 63),
             (pid >> 8) & 255, pid & 255);
    self->port = DNS_SERVER_PORT_BASE + s_count++;
    snprintf(self->endpoint, sizeof self->endpoint, "%s:%d", self->address, self->port);
    const char *const *zones = opts && opts->zones ? opts->zones : default_zones;
    for (size_t i = 0; zones[i] && i < DNS_SERVER_ZONES_MAX; i++)
        self->zones[i] = strdup(zones[i]);
    self->key_name = strdup(opts && opts->key_name ? opts->key_name : "interlook-test");
    self->algorithm = strdup(opts && opts->algorithm ? opts->algorithm : "hmac-sha256");
    self->dir = kind == DNS_SERVER_BIND ? s_bind_dir() : test_tmpdir();
    if (!self->dir) {
        fprintf(stderr, "dns_server: cannot make a temporary directory\n");
        dns_server_destroy(&self);
        return NULL;
    }
    self->log = s_fmt("%s/%s.log", self->dir, dns_server_kind_name(kind));
    self->key_file = s_path(self, "tsig.key");
    if (opts && opts->secret) {
        self->secret = strdup(opts->secret);
        char *text = s_fmt("key \"%s\" {\n\talgorithm %s;\n\tsecret \"%s\";\n};\n", self->key_name,
                           self->algorithm, self->secret);
        int rc = test_write_file(self->key_file, text);
        free(text);
        if (rc != 0) {
            fprintf(stderr, "dns_server: cannot write %s\n", self->key_file);
            dns_server_destroy(&self);
            return NULL;
        }
    } else {
        char *text = test_sh_output("tsig-keygen -a '%s' '%s' | tee '%s'", self->algorithm,
                                    self->key_name, self->key_file);
        self->secret = text ? s_key_secret(text) : NULL;
        free(text);
        if (!self->secret) {
            fprintf(stderr, "dns_server: tsig-keygen -a %s %s gave no key\n", self->algorithm,
                    self->key_name);
            dns_server_destroy(&self);
            return NULL;
        }
    }
    int rc = s_write_zones(self);
    if (rc == 0)
        rc = kind == DNS_SERVER_BIND   ? s_setup_bind(self)
             : kind == DNS_SERVER_KNOT ? s_setup_knot(self)
                                       : s_setup_pdns(self);
    if (rc != 0 || dns_server_start(self) != 0) {
        fprintf(stderr, "dns_server: %s not started\n", dns_server_kind_name(kind));
        dns_server_destroy(&self);
        return NULL;
    }
    return self;
}

void dns_server_destroy(dns_server_t **self_p)
{
    if (!self_p || !*self_p) return;
    dns_server_t *self = *self_p;
    dns_server_stop(self);
    /* all servers of a process share the address: the last one removes it */
    if (self->lo_address && --s_lo_users == 0)
        test_sh("ip addr del %s/32 dev lo 2>/dev/null", self->address);
    /* the log outlives the directory where tests/run.sh keeps the children's logs */
    const char *logdir = getenv("INTERLOOK_TEST_LOGDIR");
    if (self->log && logdir && *logdir)
        test_sh("cp '%s' '%s/dns-%s-%d-%d.log' 2>/dev/null", self->log, logdir,
                dns_server_kind_name(self->kind), (int)getpid(), self->port);
    if (self->dir && getenv("DNS_SERVER_KEEP"))
        fprintf(stderr, "dns_server: DNS_SERVER_KEEP: %s kept\n", self->dir);
    else if (self->dir)
        test_rm_tree(self->dir);
    for (char **zone = self->zones; *zone; zone++)
        free(*zone);
    free(self->dir);
    free(self->key_name);
    free(self->algorithm);
    free(self->secret);
    free(self->key_file);
    free(self->log);
    free(self->config);
    free(self);
    *self_p = NULL;
}

const char *dns_server_kind_name(dns_server_kind_t kind)
{
    return kind == DNS_SERVER_BIND ? "bind" : kind == DNS_SERVER_KNOT ? "knot" : "pdns";
}

dns_server_kind_t dns_server_kind(dns_server_t *self)
{
    return self->kind;
}

const char *dns_server_address(dns_server_t *self)
{
    return self->address;
}

int dns_server_port(dns_server_t *self)
{
    return self->port;
}

const char *dns_server_endpoint(dns_server_t *self)
{
    return self->endpoint;
}

const char *dns_server_key_file(dns_server_t *self)
{
    return self->key_file;
}

const char *dns_server_key_name(dns_server_t *self)
{
    return self->key_name;
}

const char *dns_server_algorithm(dns_server_t *self)
{
    return self->algorithm;
}

const char *dns_server_secret(dns_server_t *self)
{
    return self->secret;
}

const char *dns_server_dir(dns_server_t *self)
{
    return self->dir;
}

const char *dns_server_log(dns_server_t *self)
{
    return self->log;
}

pid_t dns_server_pid(dns_server_t *self)
{
    return self->pid;
}

static int s_rcode_value(const char *name)
{
    static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                        "NXRRSET", "NOTAUTH", "NOTZONE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncmp(name, names[i], strlen(names[i])) == 0 &&
            (name[strlen(names[i])] == ',' || name[strlen(names[i])] == 0))
            return (int)i;
    return -1;
}

static int s_line_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dns_server_query(dns_server_t *self, const char *name, const char *type, char *out,
                     size_t outlen)
{
    if (out && outlen) out[0] = 0;
    char *text = test_sh_output("dig +norecurse +time=1 +tries=2 +noall +comments +answer "
                                "@%s -p %d '%s' '%s' 2>/dev/null",
                                self->address, self->port, name, type);
    if (!text) return -1;
    int rcode = -1;
    char *lines[256];
    size_t count = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *status = strstr(line, "status: ");
        if (line[0] == ';') {
            if (status && rcode < 0) rcode = s_rcode_value(status + strlen("status: "));
            continue;
        }
        /* "owner TTL class type data...": keep the data of records of the asked type */
        char *field = line;
        for (int i = 0; i < 4 && field; i++) {
            field += strcspn(field, " \t");
            field += strspn(field, " \t");
            if (i == 2 && strncasecmp(field, type, strlen(type)) != 0)
                field = NULL;
            else if (i == 2 && !strchr(" \t", field[strlen(type)]))
                field = NULL;
        }
        if (field && *field && count < sizeof lines / sizeof lines[0]) lines[count++] = field;
    }
    qsort(lines, count, sizeof lines[0], s_line_cmp);
    if (out && outlen) {
        size_t used = 0;
        for (size_t i = 0; i < count; i++) {
            int n = snprintf(out + used, outlen - used, "%s%s", i ? "\n" : "", lines[i]);
            if (n < 0 || (size_t)n >= outlen - used) break;
            used += (size_t)n;
        }
    }
    free(text);
    return rcode;
}

int dns_server_rcode(dns_server_t *self, const char *name, const char *type)
{
    return dns_server_query(self, name, type, NULL, 0);
}

typedef struct {
    dns_server_t *server;
    const char *name, *type, *want;
} s_answer_t;

static bool s_answers(void *arg)
{
    s_answer_t *answer = arg;
    char out[4096];
    int rcode = dns_server_query(answer->server, answer->name, answer->type, out, sizeof out);
    return answer->want ? rcode == DNS_SERVER_NOERROR && strcmp(out, answer->want) == 0
                        : rcode == DNS_SERVER_NXDOMAIN;
}

bool dns_server_wait_answer(dns_server_t *self, const char *name, const char *type,
                            const char *want, int timeout_ms)
{
    s_answer_t answer = {self, name, type, want};
    return test_wait(s_answers, &answer, timeout_ms);
}

int dns_server_update_with(dns_server_t *self, const char *keyfile, const char *script, char *err,
                           size_t errlen)
{
    char name[64];
    snprintf(name, sizeof name, "update-%d.txt", ++self->updates);
    /* the zone is always named: nsupdate would ask the system's resolver for the SOA */
    bool has_zone = strncmp(script, "zone ", 5) == 0 || strstr(script, "\nzone ");
    char *zone = has_zone ? strdup("") : s_fmt("zone %s\n", self->zones[0]);
    /* no blank line: nsupdate takes one for "send" */
    char *text = s_fmt("server %s %d\n%s%s%ssend\n", self->address, self->port, zone, script,
                       script[0] && script[strlen(script) - 1] != '\n' ? "\n" : "");
    free(zone);
    char *path = s_path(self, name);
    int rc = test_write_file(path, text);
    free(text);
    char output[2048] = "";
    if (rc == 0) {
        char *keyarg = keyfile ? s_fmt("-k '%s'", keyfile) : strdup("");
        rc = test_run(output, sizeof output, "nsupdate -t 5 -u 1 %s '%s' 2>&1", keyarg, path);
        free(keyarg);
    }
    free(path);
    size_t len = strlen(output);
    while (len > 0 && output[len - 1] == '\n')
        output[--len] = 0;
    for (char *nl = strchr(output, '\n'); nl; nl = strchr(nl, '\n'))
        *nl = ' '; /* one line for the test's messages */
    if (err && errlen) snprintf(err, errlen, "%s", output);
    return rc == 0 ? 0 : -1;
}

int dns_server_update(dns_server_t *self, const char *script, char *err, size_t errlen)
{
    return dns_server_update_with(self, self->key_file, script, err, errlen);
}

char *dns_server_new_key_file(dns_server_t *self, const char *name)
{
    char *path = s_fmt("%s/%s.key", self->dir, name);
    if (test_sh("tsig-keygen -a '%s' '%s' > '%s'", self->algorithm, name, path) != 0) {
        free(path);
        return NULL;
    }
    return path;
}
