/* ilp_cert: CURVE certificates on disk, see ilp_cert.h. The files are
 * written here rather than by zcert_save: czmq writes the secret file with
 * whatever mode the umask gives (0644 usually), and not durably. */
#include "broker/ilp_cert.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"

#include <czmq.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_MAX_LIST 4096 /* bytes of an "extensions" list */

typedef struct {
    const char *text;
    mode_t mode;
} s_file_t;

static int s_fill(int fd, void *arg, char *err, size_t errlen)
{
    s_file_t *file = arg;
    /* The mode first: the secret is written into a file nobody else can read. */
    if (fchmod(fd, file->mode) != 0) return il_err(err, errlen, "chmod: %s", strerror(errno));
    if (il_fileio_write_all(fd, file->text, strlen(file->text)) != 0)
        return il_err(err, errlen, "write: %s", strerror(errno));
    return 0;
}

static char *s_text(const char *public_key, const char *secret_key, const char *extensions)
{
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", gmtime_r(&now, &tm));
    return zsys_sprintf("#   ****  Generated on %s UTC by interlookctl keygen  ****\n"
                        "#   ZeroMQ CURVE %s Certificate%s\n\n"
                        "metadata\n%s%s%s"
                        "curve\n"
                        "    public-key = \"%s\"\n%s%s%s",
                        date, secret_key ? "**Secret**" : "Public",
                        secret_key ? "\n#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change "
                                     "its permissions."
                                   : "",
                        extensions ? "    " ILP_CERT_META_EXT " = \"" : "",
                        extensions ? extensions : "", extensions ? "\"\n" : "", public_key,
                        secret_key ? "    secret-key = \"" : "", secret_key ? secret_key : "",
                        secret_key ? "\"\n" : "");
}

static int s_write(const char *path, const char *text, mode_t mode, char *err, size_t errlen)
{
    s_file_t file = {.text = text, .mode = mode};
    int rc = il_fileio_replace(path, s_fill, &file, NULL, err, errlen);
    return rc == 0 ? 0 : -1;
}

int ilp_cert_check_list(const char *list, char *err, size_t errlen)
{
    if (!list || !*list) return il_err(err, errlen, "empty list of extension names");
    if (strlen(list) > S_MAX_LIST)
        return il_err(err, errlen, "list of extension names longer than %d bytes", S_MAX_LIST);
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == 0) return il_err(err, errlen, "'%s': an empty name in the list", list);
        for (size_t i = 0; i < len; i++) {
            char c = p[i];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || c == '.' || (c == '*' && i == len - 1);
            if (!ok)
                return il_err(err, errlen,
                              "'%.*s': not an extension name (type.name, or a prefix ending "
                              "in '*')",
                              (int)len, p);
        }
        p += len;
        if (*p == ',') {
            p++;
            if (!*p) return il_err(err, errlen, "'%s': an empty name at the end", list);
        }
    }
    return 0;
}

bool ilp_cert_allows(const char *list, const char *name)
{
    if (!list) return true;
    if (!name) return false;
    size_t name_len = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len > 0 && p[len - 1] == '*') {
            if (name_len >= len - 1 && !strncmp(p, name, len - 1)) return true;
        } else if (len == name_len && !strncmp(p, name, len)) {
            return true;
        }
        p += len;
        if (*p == ',') p++;
    }
    return false;
}

int ilp_cert_generate(const char *path, const char *extensions, bool force, char *err,
                      size_t errlen)
{
    if (!path || !*path) return il_err(err, errlen, "no file name given");
    if (extensions && ilp_cert_check_list(extensions, err, errlen) != 0) return -1;
    char *secret_path = zsys_sprintf("%s_secret", path);
    int rc = -1;
    if (!force && (access(path, F_OK) == 0 || access(secret_path, F_OK) == 0)) {
        il_err(err, errlen, "%s exists (give --force to replace it)",
               access(path, F_OK) == 0 ? path : secret_path);
        zstr_free(&secret_path);
        return -1;
    }
    zcert_t *cert = zcert_new();
    if (!cert) {
        il_err(err, errlen, "cannot make a key pair (libzmq without CURVE?)");
        zstr_free(&secret_path);
        return -1;
    }
    char *secret = s_text(zcert_public_txt(cert), zcert_secret_txt(cert), extensions);
    char *public = s_text(zcert_public_txt(cert), NULL, extensions);
    char why[512];
    /* The secret first: a public file alone would be a key nobody holds. */
    if (s_write(secret_path, secret, 0600, why, sizeof why) != 0)
        il_err(err, errlen, "%s", why);
    else if (s_write(path, public, 0644, why, sizeof why) != 0)
        il_err(err, errlen, "%s", why);
    else
        rc = 0;
    zstr_free(&secret);
    zstr_free(&public);
    zstr_free(&secret_path);
    zcert_destroy(&cert);
    return rc;
}

/* Reads a ZPL certificate: its keys (the secret one when wanted) and its
 * metadata. */
static int s_load(ilp_cert_t *self, const char *file, bool secret, char *err, size_t errlen)
{
    memset(self, 0, sizeof *self);
    if (access(file, F_OK) != 0) return il_err(err, errlen, "%s: %s", file, strerror(errno));
    if (access(file, R_OK) != 0)
        return il_err(err, errlen, "%s: cannot read: %s", file, strerror(errno));
    zconfig_t *root = zconfig_load(file);
    if (!root) return il_err(err, errlen, "%s: not a certificate (ZPL syntax)", file);
    const char *public_key = zconfig_get(root, "curve/public-key", NULL);
    const char *secret_key = zconfig_get(root, "curve/secret-key", NULL);
    const char *extensions = zconfig_get(root, "metadata/" ILP_CERT_META_EXT, NULL);
    uint8_t bin[32];
    int rc = -1;
    char why[256];
    if (!public_key || strlen(public_key) != ILP_CERT_KEY_TXT || !zmq_z85_decode(bin, public_key))
        il_err(err, errlen, "%s: no valid curve public-key (a czmq certificate?)", file);
    else if (secret && (!secret_key || strlen(secret_key) != ILP_CERT_KEY_TXT ||
                        !zmq_z85_decode(bin, secret_key)))
        il_err(err, errlen, "%s: no valid curve secret-key", file);
    else if (!secret && secret_key)
        il_err(err, errlen,
               "%s: holds a secret key: only public certificates belong here (keep FILE_secret "
               "with its holder)",
               file);
    else if (extensions && ilp_cert_check_list(extensions, why, sizeof why) != 0)
        il_err(err, errlen, "%s: metadata " ILP_CERT_META_EXT ": %s", file, why);
    else {
        snprintf(self->public_key, sizeof self->public_key, "%s", public_key);
        if (secret) snprintf(self->secret_key, sizeof self->secret_key, "%s", secret_key);
        self->extensions = extensions ? il_strdup(extensions) : NULL;
        rc = 0;
    }
    zconfig_destroy(&root);
    return rc;
}

int ilp_cert_load_pair(ilp_cert_t *self, const char *path, char *err, size_t errlen)
{
    char *secret_path = zsys_sprintf("%s_secret", path);
    int rc = s_load(self, secret_path, true, err, errlen);
    struct stat st;
    if (rc == 0 && stat(secret_path, &st) == 0 && (st.st_mode & 077))
        il_log_warn("%s: readable by others (mode %04o): chmod 600 it", secret_path,
                    (unsigned)(st.st_mode & 07777));
    zstr_free(&secret_path);
    return rc;
}

int ilp_cert_load_public(ilp_cert_t *self, const char *path, char *err, size_t errlen)
{
    return s_load(self, path, false, err, errlen);
}

void ilp_cert_clear(ilp_cert_t *self)
{
    free(self->extensions);
    memset(self, 0, sizeof *self);
}
