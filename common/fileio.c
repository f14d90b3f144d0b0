/* fileio: durable-state file helpers, see fileio.h. */
#include "common/fileio.h"
#include "common/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
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
