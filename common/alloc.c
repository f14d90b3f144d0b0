/* alloc: allocations that abort on failure, see alloc.h. */
#include "common/alloc.h"
#include "common/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void il_oom(size_t size)
{
    il_log_error("out of memory allocating %zu bytes", size);
    abort();
}

void *il_malloc(size_t size)
{
    void *ptr = malloc(size ? size : 1);
    if (!ptr) il_oom(size);
    return ptr;
}

void *il_calloc(size_t count, size_t size)
{
    void *ptr = calloc(count ? count : 1, size ? size : 1);
    if (!ptr) il_oom(size && count > SIZE_MAX / size ? SIZE_MAX : count * size);
    return ptr;
}

void *il_realloc(void *ptr, size_t size)
{
    void *grown = realloc(ptr, size ? size : 1);
    if (!grown) il_oom(size);
    return grown;
}

char *il_strdup(const char *text)
{
    if (!text) return NULL;
    size_t size = strlen(text) + 1;
    char *copy = il_malloc(size);
    memcpy(copy, text, size);
    return copy;
}

char *il_strndup(const char *text, size_t n)
{
    if (!text) return NULL;
    size_t len = strnlen(text, n);
    char *copy = il_malloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = 0;
    return copy;
}
