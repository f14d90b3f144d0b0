/* err: the reason a call failed, see err.h. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int il_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, errlen, fmt, args);
        va_end(args);
    }
    return -1;
}

int il_err_add(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return -1;
    size_t used = strnlen(err, errlen);
    if (used + 1 >= errlen) return -1;
    if (used > 0) {
        err[used++] = '\n';
        err[used] = '\0';
    }
    va_list args;
    va_start(args, fmt);
    vsnprintf(err + used, errlen - used, fmt, args);
    va_end(args);
    return -1;
}
