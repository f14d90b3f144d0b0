/* fileio: the few file operations that durable state needs, shared by the
 * core's entries file and the IP allocator's log: whole writes and reads that
 * survive EINTR and short transfers, mkdir -p, and fsync of a directory (what
 * makes a rename durable). Each returns -1 with errno set on failure. */
#ifndef INTERLOOK_FILEIO_H
#define INTERLOOK_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all len bytes of data to fd. */
int il_fileio_write_all(int fd, const void *data, size_t len);

/* Reads fd from offset to its end (it may grow meanwhile) into a new buffer
 * *data of *size bytes (NUL-terminated one byte past the end; caller frees).
 * A file that is not regular fails with EISDIR or EINVAL. */
int il_fileio_read_from(int fd, off_t offset, char **data, size_t *size);

/* mkdir -p (mode 0755). On failure dir is cut to the prefix that failed, for
 * the error message. */
int il_fileio_mkdirs(char *dir);

/* fsyncs a directory. A file system that cannot sync directories (EINVAL) is
 * not an error. */
int il_fileio_sync_dir(const char *dir);

#endif
