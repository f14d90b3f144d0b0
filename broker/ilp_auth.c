/* ilp_auth: the clientCerts key ring and the ZAP handler, see ilp_auth.h. */
#include "broker/ilp_auth.h"
#include "broker/ilp_cert.h"
#include "common/alloc.h"
#include "common/err.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_MAX_SAID     4096 /* decisions remembered for ilp_auth_log_once */
#define S_MAX_FILES    10000
#define S_LOG_PER_SEC  20 /* authentication log lines a second */
#define S_REFRESH_MS   50 /* a handshake re-reads the directory at most this often */

typedef struct {
    char *file;       /* its file name in the directory */
    char *extensions; /* metadata "extensions"; NULL: any name */
} s_key_t;

/* A connection that carries a key. */
typedef struct {
    int fd;
    char key[ILP_CERT_KEY_TXT + 1];
    struct sockaddr_storage local, peer; /* what tells this connection from a later one */
    socklen_t local_len, peer_len;
    bool doomed; /* its key left the ring: shut down at the next look */
} s_conn_t;

struct _ilp_auth_t {
    char *dir;
    zsock_t *zap;    /* REP bound to the ZAP endpoint */
    zhashx_t *keys;  /* Z85 public key -> s_key_t*, owned */
    char *signature; /* what the directory held when last read */
    zhashx_t *said;  /* "address key text" -> "": logged already */
    uint64_t generation;
    zhashx_t *conns;    /* "fd" -> s_conn_t*, owned: connections with their keys */
    int64_t refreshed;  /* zclock_mono of the last look at the directory */
    int64_t log_second; /* rate limit of ilp_auth_log_once */
    int log_count;
    uint64_t log_suppressed;
};

static void s_key_free(s_key_t **key_p)
{
    if (!*key_p) return;
    free((*key_p)->file);
    free((*key_p)->extensions);
    free(*key_p);
    *key_p = NULL;
}

static int s_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directory's file names, sorted (NULL-terminated, caller frees), or
 * NULL when it cannot be read. */
static char **s_list(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) return NULL;
    size_t n = 0, cap = 16;
    char **names = il_malloc(cap * sizeof *names);
    struct dirent *e;
    while ((e = readdir(d)) && n < S_MAX_FILES) {
        if (e->d_name[0] == '.') continue; /* ., .., and editors' hidden files */
        if (n + 1 >= cap) names = il_realloc(names, (cap *= 2) * sizeof *names);
        names[n++] = il_strdup(e->d_name);
    }
    closedir(d);
    names[n] = NULL;
    qsort(names, n, sizeof *names, s_compare);
    *count = n;
    return names;
}

static void s_list_free(char **names)
{
    for (char **p = names; p && *p; p++)
        free(*p);
    free(names);
}

/* What the directory holds now, cheaply: each file's name, inode, size and
 * modification time. NULL when the directory cannot be read. */
static char *s_signature(const char *dir, char **names)
{
    size_t cap = 256, len = 0;
    char *sig = il_malloc(cap);
    sig[0] = 0;
    for (char **p = names; *p; p++) {
        char path[4096], item[512];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, *p);
        if (stat(path, &st) != 0) continue;
        int n = snprintf(item, sizeof item, "%s:%lu:%lld:%lld.%ld;", *p, (unsigned long)st.st_ino,
                         (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        if (n < 0 || (size_t)n >= sizeof item) continue;
        if (len + (size_t)n + 1 > cap) {
            while (len + (size_t)n + 1 > cap)
                cap *= 2;
            sig = il_realloc(sig, cap);
        }
        memcpy(sig + len, item, (size_t)n + 1);
        len += (size_t)n;
    }
    return sig;
}

static void s_load(ilp_auth_t *self, char **names)
{
    zhashx_purge(self->keys);
    for (char **p = names; *p; p++) {
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/%s", self->dir, *p);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        size_t len = strlen(*p);
        if (len > 7 && !strcmp(*p + len - 7, "_secret")) {
            il_log_error("bus: %s: a secret key in core.bus.curve.clientCerts: refused (the "
                         "directory holds public certificates only; move it away)",
                         path);
            continue;
        }
        ilp_cert_t cert;
        if (ilp_cert_load_public(&cert, path, err, sizeof err) != 0) {
            il_log_error("bus: core.bus.curve.clientCerts: %s: left out", err);
            continue;
        }
        s_key_t *key = il_calloc(1, sizeof *key);
        key->file = il_strdup(*p);
        key->extensions = cert.extensions;
        cert.extensions = NULL;
        s_key_t *twin = zhashx_lookup(self->keys, cert.public_key);
        if (twin)
            il_log_warn("bus: %s and %s hold the same key: %s counts", twin->file, *p, twin->file);
        if (twin || zhashx_insert(self->keys, cert.public_key, key) != 0) s_key_free(&key);
        ilp_cert_clear(&cert);
    }
}

bool ilp_auth_refresh(ilp_auth_t *self)
{
    self->refreshed = zclock_mono();
    size_t count = 0;
    char **names = s_list(self->dir, &count);
    if (!names) {
        /* Gone or unreadable: no key is allowed until it is back. */
        if (self->signature || zhashx_size(self->keys)) {
            il_log_error("bus: core.bus.curve.clientCerts %s: %s: no key is allowed", self->dir,
                         strerror(errno));
            zhashx_purge(self->keys);
            zhashx_purge(self->said);
            free(self->signature);
            self->signature = NULL;
            self->generation++;
            return true;
        }
        return false;
    }
    char *sig = s_signature(self->dir, names);
    bool changed = !self->signature || strcmp(sig, self->signature) != 0;
    if (changed) {
        s_load(self, names);
        self->generation++;
        free(self->signature);
        self->signature = sig;
        zhashx_purge(self->said);
        il_log_info("bus: core.bus.curve.clientCerts %s: %zu key(s)", self->dir,
                    zhashx_size(self->keys));
    } else {
        free(sig);
    }
    s_list_free(names);
    return changed;
}

void ilp_auth_log_once(ilp_auth_t *self, il_log_level_t level, const char *who, const char *text)
{
    if (zhashx_lookup(self->said, who)) return;
    if (zhashx_size(self->said) >= S_MAX_SAID) zhashx_purge(self->said);
    zhashx_insert(self->said, who, "");
    int64_t second = zclock_mono() / 1000;
    if (second != self->log_second) {
        if (self->log_suppressed)
            il_log_warn("bus: %llu more authentication lines suppressed",
                        (unsigned long long)self->log_suppressed);
        self->log_second = second;
        self->log_count = 0;
        self->log_suppressed = 0;
    }
    if (++self->log_count > S_LOG_PER_SEC) {
        self->log_suppressed++;
        return;
    }
    il_log_write(level, "bus: %s", text);
}

/* One ZAP request (ZAP 1.0, RFC 27): version, request id, domain, address,
 * identity, mechanism, credentials; answered with version, request id,
 * status code and text, user id (the client's key, in Z85) and no
 * metadata. */
static int s_on_zap(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void)loop;
    ilp_auth_t *self = arg;
    zmsg_t *request = zmsg_recv(reader);
    if (!request) return 0;
    char *version = zmsg_popstr(request), *request_id = zmsg_popstr(request);
    char *domain = zmsg_popstr(request), *address = zmsg_popstr(request);
    char *identity = zmsg_popstr(request), *mechanism = zmsg_popstr(request);
    zframe_t *credentials = zmsg_pop(request);
    const char *code = "400", *text = "unknown key";
    char key[ILP_CERT_KEY_TXT + 1] = "";
    if (mechanism && strcmp(mechanism, "CURVE") != 0) {
        code = "200"; /* another socket of the process: not ours to judge */
        text = "OK";
    } else if (credentials && zframe_size(credentials) == 32) {
        zmq_z85_encode(key, zframe_data(credentials), 32);
        /* A key added a moment ago counts at once; a flood of handshakes
         * does not make a flood of directory reads. */
        if (zclock_mono() - self->refreshed >= S_REFRESH_MS) ilp_auth_refresh(self);
        s_key_t *known = zhashx_lookup(self->keys, key);
        char line[512];
        if (known) {
            code = "200";
            text = "OK";
            snprintf(line, sizeof line, "CURVE key %s (%s) accepted from %s", key, known->file,
                     address ? address : "?");
            char who[128];
            snprintf(who, sizeof who, "accepted %s %s", address ? address : "?", key);
            ilp_auth_log_once(self, IL_LOG_INFO, who, line);
        } else {
            snprintf(line, sizeof line,
                     "CURVE key %s refused from %s: not in core.bus.curve.clientCerts", key,
                     address ? address : "?");
            char who[128]; /* made-up keys are bounded by the rate limit */
            snprintf(who, sizeof who, "refused %s %s", address ? address : "?", key);
            ilp_auth_log_once(self, IL_LOG_WARN, who, line);
        }
    }
    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, "1.0");
    zmsg_addstr(reply, request_id ? request_id : "");
    zmsg_addstr(reply, code);
    zmsg_addstr(reply, text);
    zmsg_addstr(reply, *code == '2' ? key : "");
    zmsg_addmem(reply, NULL, 0);
    zmsg_send(&reply, reader);
    zstr_free(&version);
    zstr_free(&request_id);
    zstr_free(&domain);
    zstr_free(&address);
    zstr_free(&identity);
    zstr_free(&mechanism);
    zframe_destroy(&credentials);
    zmsg_destroy(&request);
    return 0;
}

static void s_conn_free(s_conn_t **conn_p)
{
    free(*conn_p);
    *conn_p = NULL;
}

/* Reads the connection's two addresses; false when fd is not a connected socket. */
static bool s_addresses(int fd, s_conn_t *conn)
{
    conn->local_len = sizeof conn->local;
    conn->peer_len = sizeof conn->peer;
    memset(&conn->local, 0, sizeof conn->local);
    memset(&conn->peer, 0, sizeof conn->peer);
    return getsockname(fd, (struct sockaddr *)&conn->local, &conn->local_len) == 0 &&
           getpeername(fd, (struct sockaddr *)&conn->peer, &conn->peer_len) == 0;
}

static bool s_same(const s_conn_t *a, const s_conn_t *b)
{
    return a->local_len == b->local_len && a->peer_len == b->peer_len &&
           !memcmp(&a->local, &b->local, a->local_len) && !memcmp(&a->peer, &b->peer, a->peer_len);
}

void ilp_auth_track(ilp_auth_t *self, int fd, const char *key)
{
    if (fd < 0 || !key || strlen(key) != ILP_CERT_KEY_TXT) return;
    s_conn_t *conn = il_calloc(1, sizeof *conn);
    conn->fd = fd;
    memcpy(conn->key, key, ILP_CERT_KEY_TXT + 1);
    if (!s_addresses(fd, conn)) {
        free(conn);
        return;
    }
    char name[16];
    snprintf(name, sizeof name, "%d", fd);
    zhashx_update(self->conns, name, conn); /* a reused descriptor: the new connection */
}

size_t ilp_auth_close_revoked(ilp_auth_t *self)
{
    size_t closed = 0;
    zlistx_t *gone = zlistx_new(); /* copies of the keys to delete */
    zlistx_set_duplicator(gone, (czmq_duplicator *)strdup);
    zlistx_set_destructor(gone, (czmq_destructor *)zstr_free);
    for (s_conn_t *conn = zhashx_first(self->conns); conn; conn = zhashx_next(self->conns)) {
        s_conn_t now;
        if (!s_addresses(conn->fd, &now) || !s_same(conn, &now)) {
            zlistx_add_end(gone, (void *)zhashx_cursor(self->conns)); /* closed, maybe reused */
            continue;
        }
        if (zhashx_lookup(self->keys, conn->key)) {
            conn->doomed = false; /* back in the ring meanwhile */
            continue;
        }
        if (!conn->doomed) {
            conn->doomed = true;
            continue;
        }
        shutdown(conn->fd, SHUT_RDWR);
        il_log_info("bus: connection of key %s closed: no longer in core.bus.curve.clientCerts",
                    conn->key);
        closed++;
        zlistx_add_end(gone, (void *)zhashx_cursor(self->conns));
    }
    for (const char *name = zlistx_first(gone); name; name = zlistx_next(gone))
        zhashx_delete(self->conns, name);
    zlistx_destroy(&gone);
    return closed;
}

ilp_auth_t *ilp_auth_new(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (!dir || stat(dir, &st) != 0) {
        il_err(err, errlen, "core.bus.curve.clientCerts '%s': %s", dir ? dir : "",
               dir ? strerror(errno) : "not set");
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        il_err(err, errlen, "core.bus.curve.clientCerts '%s': not a directory", dir);
        return NULL;
    }
    ilp_auth_t *self = il_calloc(1, sizeof *self);
    self->dir = il_strdup(dir);
    self->keys = zhashx_new();
    zhashx_set_destructor(self->keys, (zhashx_destructor_fn *)s_key_free);
    self->said = zhashx_new();
    zhashx_set_destructor(self->said, NULL);
    zhashx_set_duplicator(self->said, NULL);
    self->conns = zhashx_new();
    zhashx_set_destructor(self->conns, (zhashx_destructor_fn *)s_conn_free);
    self->zap = zsock_new(ZMQ_REP);
    if (!self->zap || zsock_bind(self->zap, S_ZAP_ENDPOINT) != 0) {
        il_err(err, errlen, "cannot bind the ZAP handler (%s): %s", S_ZAP_ENDPOINT,
               zmq_strerror(zmq_errno()));
        ilp_auth_destroy(&self);
        return NULL;
    }
    zsock_set_linger(self->zap, 0);
    ilp_auth_refresh(self);
    return self;
}

void ilp_auth_destroy(ilp_auth_t **self_p)
{
    if (!self_p || !*self_p) return;
    ilp_auth_t *self = *self_p;
    zsock_destroy(&self->zap);
    zhashx_destroy(&self->keys);
    zhashx_destroy(&self->said);
    zhashx_destroy(&self->conns);
    free(self->signature);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

int ilp_auth_attach(ilp_auth_t *self, zloop_t *loop)
{
    return zloop_reader(loop, self->zap, s_on_zap, self);
}

void ilp_auth_detach(ilp_auth_t *self, zloop_t *loop)
{
    zloop_reader_end(loop, self->zap);
}

bool ilp_auth_allows(ilp_auth_t *self, const char *key, const char *name, char *why, size_t whylen)
{
    s_key_t *known = key && *key ? zhashx_lookup(self->keys, key) : NULL;
    if (!known) {
        il_err(why, whylen, "key %s is not in core.bus.curve.clientCerts",
               key && *key ? key : "(none)");
        return false;
    }
    if (ilp_cert_allows(known->extensions, name)) return true;
    il_err(why, whylen, "key %s (%s) may not register as '%s' (its certificate allows: %s)", key,
           known->file, name, known->extensions);
    return false;
}

uint64_t ilp_auth_generation(ilp_auth_t *self)
{
    return self->generation;
}

size_t ilp_auth_size(ilp_auth_t *self)
{
    return zhashx_size(self->keys);
}
