/* alloc: what interlook does when memory runs out, decided once. Policy: a
 * failed allocation aborts the process through these wrappers (after the log
 * line "out of memory allocating N bytes"), as Redis does, so no caller
 * checks for NULL and no error path that is never tested leaves a half-built
 * state behind. czmq's allocations (zmalloc, zstr_*, zsys_sprintf, its
 * containers) follow the same policy: they abort too. msgpack-c's do not:
 * msgpack_sbuffer_write and msgpack_zone_* report it as an error, which the
 * callers handle as any other failed call. */
#ifndef INTERLOOK_ALLOC_H
#define INTERLOOK_ALLOC_H

#include <stddef.h>

/* malloc; never NULL (aborts). A size of 0 allocates 1 byte. */
void *il_malloc(size_t size);

/* calloc; never NULL (aborts, also when count * size overflows). */
void *il_calloc(size_t count, size_t size);

/* realloc; never NULL (aborts; ptr is then still valid until the abort). A
 * size of 0 keeps 1 byte rather than freeing ptr. */
void *il_realloc(void *ptr, size_t size);

/* strdup; NULL for a NULL text, else never NULL (aborts). */
char *il_strdup(const char *text);

/* strndup: at most n bytes of text, NUL-terminated; NULL for a NULL text,
 * else never NULL (aborts). */
char *il_strndup(const char *text, size_t n);

/* Logs "out of memory allocating N bytes" and aborts: for an allocation made
 * by a library call (vasprintf, curl_easy_escape ...) that failed. */
void il_oom(size_t size) __attribute__((noreturn));

#endif
