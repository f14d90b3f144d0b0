/* fileio: durable-state file helpers, see fileio.h. */
#include "common/fileio.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int il_fileio_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int il_fileio_pwrite_all(int fd, const void *data, size_t len, off_t offset)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, offset);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        offset += n;
    }
    return 0;
}

int il_fileio_read_from(int fd, off_t offset, char **data, size_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return -1;
    }
    /* +1: room for the NUL, and end of file is seen at once when it did not grow */
    size_t cap = (st.st_size > offset ? (size_t)(st.st_size - offset) : 0) + 1;
    size_t len = 0;
    char *buf = il_malloc(cap);
    for (;;) {
        if (len == cap) { /* the file grew while being read */
            buf = il_realloc(buf, cap * 2);
            cap *= 2;
        }
        ssize_t n = pread(fd, buf + len, cap - len, offset + (off_t)len);
        if (n < 0) {
            if (errno == EINTR) continue;
            int saved = errno;
            free(buf);
            errno = saved;
            return -1;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    if (len == cap) buf = il_realloc(buf, cap + 1); /* room for the terminator */
    buf[len] = 0;
    *data = buf;
    *size = len;
    return 0;
}

/* Makes dir exist as a directory. */
static int s_ensure_dir(const char *dir)
{
    struct stat st;
    for (int tries = 0; tries < 2; tries++) {
        if (stat(dir, &st) == 0) {
            if (S_ISDIR(st.st_mode)) return 0;
            errno = ENOTDIR;
            return -1;
        }
        if (errno != ENOENT) return -1;
        if (mkdir(dir, 0755) == 0) return 0;
        if (errno != EEXIST) return -1; /* else created meanwhile: look again */
    }
    return -1;
}

int il_fileio_mkdirs(char *dir)
{
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/' || p[-1] == '/') continue;
        *p = '\0';
        if (s_ensure_dir(dir) != 0) return -1; /* dir now names the prefix that failed */
        *p = '/';
    }
    return s_ensure_dir(dir);
}

int il_fileio_sync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -1;
    int rc = fsync(dfd);
    int saved = errno;
    close(dfd);
    if (rc != 0 && saved != EINVAL) {
        errno = saved;
        return -1;
    }
    return 0;
}

int il_fileio_replace(const char *path, il_fileio_writer_fn *fill, void *arg, int *fd_out,
                      char *err, size_t errlen)
{
    if (fd_out) *fd_out = -1;
    size_t len = strlen(path);
    char *tmp = il_malloc(len + 32);
    char *dir = il_malloc(len + 2);
    snprintf(tmp, len + 32, "%s.tmp.%ld", path, (long)getpid());
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, len + 2, ".");
    else if (slash == path)
        snprintf(dir, len + 2, "/");
    else
        snprintf(dir, len + 2, "%.*s", (int)(slash - path), path);

    int rc = -1;
    int fd = open(tmp, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) {
        il_err(err, errlen, "%s: create %s: %s", path, tmp, strerror(errno));
        goto done; /* nothing to unlink: it is not ours */
    }
    if (fill(fd, arg, err, errlen) != 0) goto fail;
    if (fsync(fd) != 0) {
        il_err(err, errlen, "%s: fsync %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        il_err(err, errlen, "%s: rename %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    /* Past the rename nothing can be undone: a failure is reported as such. */
    rc = 0;
    if (il_fileio_sync_dir(dir) != 0) {
        il_err(err, errlen, "%s: fsync directory %s: %s", path, dir, strerror(errno));
        rc = -2;
    }
    if (fd_out && lseek(fd, 0, SEEK_END) >= 0) {
        *fd_out = fd;
        fd = -1;
    }
    if (fd >= 0) close(fd);
    goto done;
fail:
    close(fd);
    if (unlink(tmp) != 0 && errno != ENOENT)
        il_log_warn("%s: cannot remove %s: %s", path, tmp, strerror(errno));
done:
    free(tmp);
    free(dir);
    return rc;
}

/* ---- CRC-32C ----------------------------------------------------------------- */

static uint32_t s_crc_table[256];
static bool s_crc_hw;
static pthread_once_t s_crc_once = PTHREAD_ONCE_INIT;

static void s_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
        s_crc_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    s_crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t s_crc_sse42(uint32_t crc, const unsigned char *p,
                                                              size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t il_fileio_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&s_crc_once, s_crc_init);
    const unsigned char *p = data;
    crc = ~crc;
#if defined(__x86_64__)
    if (s_crc_hw) return ~s_crc_sse42(crc, p, len);
#endif
    while (len--)
        crc = s_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
