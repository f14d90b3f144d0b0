/* etcd_server: real etcd members for tests, see etcd_server.h. */
#define _GNU_SOURCE
#include "tests/support/etcd_server.h"
#include "tests/support/testutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_MAX_MEMBERS 5
/* Ports taken by someone else between the pick and etcd's bind: pick again. */
#define S_PORT_TRIES 5
#define S_ETCD       "/usr/bin/etcd"

typedef struct {
    pid_t pid;
    int client_port, peer_port;
    char client_url[64];
    char name[16];
    char data[600];
    char log[600];
} s_member_t;

struct _etcd_server_t {
    char dir[512];
    bool own_dir; /* removed at destroy */
    size_t size;
    s_member_t m[S_MAX_MEMBERS];
    char cluster[1024];  /* --initial-cluster */
    char token[64];      /* --initial-cluster-token */
    char endpoints[512]; /* comma-separated client URLs */
    const char *list[S_MAX_MEMBERS];
    char tls[512];  /* the certificates' directory (tls-certs.sh), "" for http */
    char netns[64]; /* the network namespace the members run in, "" for the test's own */
    char host[40];  /* the address they listen on (client and peer) */
    char ca[600], server_cert[600], server_key[600], client_cert[600], client_key[600];
};

static size_t s_discard(char *data, size_t size, size_t nmemb, void *arg)
{
    (void)data;
    char *out = arg;
    size_t n = size * nmemb;
    /* the body is {"health":"true"}: keep its start */
    size_t used = strlen(out);
    if (used < 63) strncat(out, data, n < 63 - used ? n : 63 - used);
    return n;
}

/* /health of a member in another network namespace: curl run there (this
 * process stays in its own namespace, where its other sockets live). */
static bool s_healthy_in_netns(etcd_server_t *self, size_t i, int timeout_ms)
{
    char tls[2000] = "", body[256] = "";
    if (*self->tls)
        snprintf(tls, sizeof tls, "--cacert '%s' --cert '%s' --key '%s' ", self->ca,
                 self->client_cert, self->client_key);
    int rc =
        test_run(body, sizeof body, "ip netns exec '%s' curl -s -m %d.%03d %s'%s/health'",
                 self->netns, timeout_ms / 1000, timeout_ms % 1000, tls, self->m[i].client_url);
    return rc == 0 && strstr(body, "\"true\"") != NULL;
}

bool etcd_server_healthy(etcd_server_t *self, size_t i, int timeout_ms)
{
    if (i >= self->size || self->m[i].pid <= 0) return false;
    if (*self->netns) return s_healthy_in_netns(self, i, timeout_ms);
    char url[128], body[64] = "";
    snprintf(url, sizeof url, "%s/health", self->m[i].client_url);
    CURL *curl = curl_easy_init();
    if (!curl) return false;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    if (*self->tls) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, self->ca);
        curl_easy_setopt(curl, CURLOPT_SSLCERT, self->client_cert);
        curl_easy_setopt(curl, CURLOPT_SSLKEY, self->client_key);
    }
    long status = 0;
    bool ok = curl_easy_perform(curl) == CURLE_OK &&
              curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
              status == 200 && strstr(body, "\"true\"");
    curl_easy_cleanup(curl);
    return ok;
}

static int s_spawn(etcd_server_t *self, size_t i)
{
    s_member_t *m = &self->m[i];
    char listen_peer[64];
    snprintf(listen_peer, sizeof listen_peer, "http://%s:%d", self->host, m->peer_port);
    const char *argv[40];
    size_t n = 0;
    /* clang-format off: flag, value */
    const char *fixed[] = {
        S_ETCD, "--name", m->name, "--data-dir", m->data, "--listen-client-urls", m->client_url,
        "--advertise-client-urls", m->client_url, "--listen-peer-urls", listen_peer,
        "--initial-advertise-peer-urls", listen_peer, "--initial-cluster", self->cluster,
        "--initial-cluster-token", self->token, "--initial-cluster-state", "new",
        /* short elections, so that a 2 s lease TTL is allowed */
        "--heartbeat-interval", "50", "--election-timeout", "500", "--enable-v2=false"};
    /* clang-format on */
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
        argv[n++] = fixed[k];
    if (*self->tls) {
        /* clients over https with certificates signed by the test CA; peers in clear */
        argv[n++] = "--cert-file";
        argv[n++] = self->server_cert;
        argv[n++] = "--key-file";
        argv[n++] = self->server_key;
        argv[n++] = "--trusted-ca-file";
        argv[n++] = self->ca;
        argv[n++] = "--client-cert-auth";
    }
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        /* dies with the test, whatever way the test ends */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        if (*self->netns) {
            char path[128];
            snprintf(path, sizeof path, "/var/run/netns/%s", self->netns);
            int ns = open(path, O_RDONLY | O_CLOEXEC);
            if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
                fprintf(stderr, "etcd_server: cannot enter the network namespace %s: %s\n",
                        self->netns, strerror(errno));
                _exit(126);
            }
            close(ns);
        }
        int fd = open(m->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(S_ETCD, (char **)argv);
        fprintf(stderr, "exec %s: %s\n", S_ETCD, strerror(errno));
        _exit(127);
    }
    m->pid = pid;
    return 0;
}

static void s_reap(s_member_t *m, int sig)
{
    if (m->pid <= 0) return;
    kill(m->pid, sig);
    kill(m->pid, SIGCONT); /* a stopped member dies too */
    waitpid(m->pid, NULL, 0);
    m->pid = 0;
}

static bool s_log_says(const s_member_t *m, const char *text)
{
    FILE *f = fopen(m->log, "r");
    if (!f) return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

static void s_dump_log(const s_member_t *m)
{
    fprintf(stderr, "etcd_server: log of %s (%s), last lines:\n", m->name, m->log);
    test_sh("tail -n 20 '%s' >&2", m->log);
}

/* A member that exited. Returns 1 when it could not bind, -1 otherwise; 0 while running. */
static int s_exited(s_member_t *m)
{
    if (m->pid <= 0) return -1;
    int status;
    if (waitpid(m->pid, &status, WNOHANG) != m->pid) return 0;
    m->pid = 0;
    return s_log_says(m, "address already in use") ? 1 : -1;
}

/* Waits until member i (or, i == size, every member) is healthy or one exited. */
static int s_wait_healthy(etcd_server_t *self, size_t only, int timeout_ms)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    for (;;) {
        bool all = true;
        for (size_t i = 0; i < self->size; i++) {
            if (only < self->size && i != only) continue;
            int gone = s_exited(&self->m[i]);
            if (gone) return gone;
            if (!etcd_server_healthy(self, i, 500)) all = false;
        }
        if (all) return 0;
        if (zclock_mono() >= deadline) return -1;
        zclock_sleep(50); /* polling health: bounded by the deadline */
    }
}

static void s_layout(etcd_server_t *self, const int *ports)
{
    self->cluster[0] = self->endpoints[0] = '\0';
    for (size_t i = 0; i < self->size; i++) {
        s_member_t *m = &self->m[i];
        m->client_port = ports[2 * i];
        m->peer_port = ports[2 * i + 1];
        snprintf(m->client_url, sizeof m->client_url, "%s://%s:%d", *self->tls ? "https" : "http",
                 self->host, m->client_port);
        char part[128];
        snprintf(part, sizeof part, "%s%s=http://%s:%d", i ? "," : "", m->name, self->host,
                 m->peer_port);
        strcat(self->cluster, part);
        snprintf(part, sizeof part, "%s%s", i ? "," : "", m->client_url);
        strcat(self->endpoints, part);
        self->list[i] = m->client_url;
    }
}

static etcd_server_t *s_new(const char *dir, size_t members, int timeout_ms, const char *tls,
                            const char *netns, const char *host);

etcd_server_t *etcd_server_new(const char *dir, size_t members, int timeout_ms)
{
    return s_new(dir, members, timeout_ms, NULL, NULL, NULL);
}

etcd_server_t *etcd_server_new_tls(const char *dir, size_t members, int timeout_ms,
                                   const char *certs)
{
    return s_new(dir, members, timeout_ms, certs, NULL, NULL);
}

etcd_server_t *etcd_server_new_in(const char *dir, size_t members, int timeout_ms,
                                  const char *netns, const char *host)
{
    if (!netns || !*netns || !host || !*host) {
        fprintf(stderr, "etcd_server: a network namespace and an address are needed\n");
        return NULL;
    }
    return s_new(dir, members, timeout_ms, NULL, netns, host);
}

static etcd_server_t *s_new(const char *dir, size_t members, int timeout_ms, const char *tls,
                            const char *netns, const char *host)
{
    if (members < 1 || members > S_MAX_MEMBERS) return NULL;
    if (netns && strlen(netns) >= 64) {
        fprintf(stderr, "etcd_server: the namespace name '%s' is too long\n", netns);
        return NULL;
    }
    if (host && strlen(host) >= 40) {
        fprintf(stderr, "etcd_server: the address '%s' is too long\n", host);
        return NULL;
    }
    if (netns) {
        char path[128];
        snprintf(path, sizeof path, "/var/run/netns/%s", netns);
        if (access(path, R_OK)) {
            fprintf(stderr, "etcd_server: no network namespace %s (%s)\n", netns, path);
            return NULL;
        }
    }
    if (access(S_ETCD, X_OK)) {
        fprintf(stderr, "etcd_server: %s is not installed (deploy/install-deps.sh)\n", S_ETCD);
        return NULL;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    etcd_server_t *self = calloc(1, sizeof *self);
    if (dir) {
        snprintf(self->dir, sizeof self->dir, "%s", dir);
        mkdir(dir, 0755);
    } else {
        char *tmp = test_tmpdir();
        snprintf(self->dir, sizeof self->dir, "%s", tmp);
        free(tmp);
        self->own_dir = true;
    }
    self->size = members;
    snprintf(self->netns, sizeof self->netns, "%s", netns ? netns : "");
    snprintf(self->host, sizeof self->host, "%s", host ? host : "127.0.0.1");
    if (tls) {
        snprintf(self->tls, sizeof self->tls, "%s", tls);
        snprintf(self->ca, sizeof self->ca, "%s/ca.pem", tls);
        snprintf(self->server_cert, sizeof self->server_cert, "%s/etcd.pem", tls);
        snprintf(self->server_key, sizeof self->server_key, "%s/etcd-key.pem", tls);
        /* etcd's JSON gateway calls etcd's gRPC side with the server's own
         * certificate as a client one: with --client-cert-auth it needs
         * clientAuth besides serverAuth (server.pem has serverAuth only, and
         * every gateway call fails with "connection closed") */
        if (access(self->server_cert, R_OK) &&
            test_sh("cd '%s' && openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 "
                    "-keyout etcd-key.pem -out etcd.csr 2>/dev/null && "
                    "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,"
                    "clientAuth\\n' >etcd.ext && openssl x509 -req -in etcd.csr -CA ca.pem "
                    "-CAkey ca-key.pem -CAcreateserial -days 2 -extfile etcd.ext -out etcd.pem "
                    "2>/dev/null && chmod 600 etcd-key.pem",
                    tls)) {
            fprintf(stderr, "etcd_server: cannot make a server certificate in %s\n", tls);
            free(self);
            return NULL;
        }
        snprintf(self->client_cert, sizeof self->client_cert, "%s/cert.pem", tls);
        snprintf(self->client_key, sizeof self->client_key, "%s/key.pem", tls);
    }
    for (size_t i = 0; i < members; i++) {
        s_member_t *m = &self->m[i];
        snprintf(m->name, sizeof m->name, "m%zu", i);
        char base[sizeof self->dir]; /* a copy: gcc -O1 sees self->dir and m in one object */
        memcpy(base, self->dir, sizeof base);
        snprintf(m->data, sizeof m->data, "%s/m%zu.etcd", base, i);
        snprintf(m->log, sizeof m->log, "%s/m%zu.log", base, i);
    }
    for (int attempt = 0; attempt < S_PORT_TRIES; attempt++) {
        int ports[2 * S_MAX_MEMBERS];
        if (test_free_ports(ports, (int)(2 * members))) break;
        snprintf(self->token, sizeof self->token, "interlook-test-%d-%d", (int)getpid(), attempt);
        s_layout(self, ports);
        bool spawned = true;
        for (size_t i = 0; i < members && spawned; i++) {
            test_rm_tree(self->m[i].data);
            unlink(self->m[i].log);
            spawned = s_spawn(self, i) == 0;
        }
        int rc = spawned ? s_wait_healthy(self, members, timeout_ms) : -1;
        if (rc == 0) return self;
        for (size_t i = 0; i < members; i++)
            s_reap(&self->m[i], SIGKILL);
        if (rc == 1) continue; /* a port was taken: new ports */
        fprintf(stderr, "etcd_server: the %zu-member cluster did not become healthy within %d ms\n",
                members, timeout_ms);
        for (size_t i = 0; i < members; i++)
            s_dump_log(&self->m[i]);
        break;
    }
    etcd_server_destroy(&self);
    return NULL;
}

void etcd_server_destroy(etcd_server_t **self_p)
{
    etcd_server_t *self = *self_p;
    if (!self) return;
    for (size_t i = 0; i < self->size; i++)
        s_reap(&self->m[i], SIGKILL);
    if (self->own_dir)
        test_rm_tree(self->dir);
    else
        for (size_t i = 0; i < self->size; i++) {
            test_rm_tree(self->m[i].data);
            unlink(self->m[i].log);
        }
    free(self);
    *self_p = NULL;
}

const char *etcd_server_endpoints(etcd_server_t *self)
{
    return self->endpoints;
}

const char *etcd_server_endpoint(etcd_server_t *self, size_t i)
{
    return i < self->size ? self->m[i].client_url : NULL;
}

const char *const *etcd_server_endpoint_list(etcd_server_t *self)
{
    return self->list;
}

size_t etcd_server_size(etcd_server_t *self)
{
    return self->size;
}

int etcd_server_kill(etcd_server_t *self, size_t i)
{
    if (i >= self->size || self->m[i].pid <= 0) return -1;
    s_reap(&self->m[i], SIGKILL);
    return 0;
}

int etcd_server_pause(etcd_server_t *self, size_t i)
{
    if (i >= self->size || self->m[i].pid <= 0) return -1;
    return kill(self->m[i].pid, SIGSTOP);
}

int etcd_server_resume(etcd_server_t *self, size_t i)
{
    if (i >= self->size || self->m[i].pid <= 0) return -1;
    return kill(self->m[i].pid, SIGCONT);
}

int etcd_server_restart(etcd_server_t *self, size_t i, int timeout_ms)
{
    if (i >= self->size) return -1;
    s_reap(&self->m[i], SIGKILL);
    if (s_spawn(self, i)) return -1;
    if (s_wait_healthy(self, i, timeout_ms) == 0) return 0;
    fprintf(stderr, "etcd_server: %s did not become healthy again within %d ms\n", self->m[i].name,
            timeout_ms);
    s_dump_log(&self->m[i]);
    return -1;
}

pid_t etcd_server_pid(etcd_server_t *self, size_t i)
{
    return i < self->size ? self->m[i].pid : 0;
}
