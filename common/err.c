/* err: the reason a call failed, see err.h. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>

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
