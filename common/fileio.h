/* fileio: the few file operations that durable state needs, shared by the
 * core's entries file and the IP allocator's log: whole writes and reads that
 * survive EINTR and short transfers, mkdir -p, fsync of a directory (what
 * makes a rename durable), the atomic replace of a file, and the CRC-32C
 * that seals records. Each returns -1 with errno set on failure unless said
 * otherwise. */
#ifndef INTERLOOK_FILEIO_H
#define INTERLOOK_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes all len bytes of data to fd. */
int il_fileio_write_all(int fd, const void *data, size_t len);

/* Writes all len bytes of data to fd at offset (the file position does not
 * move; fd must not be O_APPEND). */
int il_fileio_pwrite_all(int fd, const void *data, size_t len, off_t offset);

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

/* Fills the new version of a file: writes to fd (a new, empty file open for
 * reading and writing). Returns 0, or -1 with the reason in err. */
typedef int(il_fileio_writer_fn)(int fd, void *arg, char *err, size_t errlen);

/* Replaces path atomically and durably: fill writes "<path>.tmp.<pid>" in the
 * same directory, which is fsynced, renamed over path, and the directory
 * fsynced; whoever reads path sees the old file or the new one, whole, and
 * after a crash the same. Returns 0; -1 when path was left as it was (the
 * temporary file removed); -2 when the new file is in place but the directory
 * fsync failed (the rename may not survive a crash). err gets "PATH: what
 * failed" (or the writer's reason). When fd_out is not NULL, it receives the
 * new file's descriptor (open for reading and writing, positioned at its end)
 * on 0 and -2, for the caller to keep; else the file is closed. */
int il_fileio_replace(const char *path, il_fileio_writer_fn *fill, void *arg, int *fd_out,
                      char *err, size_t errlen);

/* Extends crc (0 to begin) with the CRC-32C (Castagnoli) of len bytes of data;
 * the CPU's crc32 instruction when it has one. Never fails. */
uint32_t il_fileio_crc32c(uint32_t crc, const void *data, size_t len);

#endif
