/* err: the reason a call failed, written into the caller's buffer. Calls that
 * can fail on bad input take (char *err, size_t errlen) and fill it; this is
 * the one helper that does, so that each module need not carry its own. */
#ifndef INTERLOOK_ERR_H
#define INTERLOOK_ERR_H

#include <stddef.h>

/* Writes the printf-like reason into err (truncated to errlen; nothing when
 * err is NULL or errlen is 0). Returns -1, so that a failing call can end
 * with `return il_err(err, errlen, "...", ...);`. */
int il_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends the printf-like reason to err as a line of its own (a newline
 * before it when err holds one already), for a check that names every
 * problem at once; a line that does not fit whole is cut, and nothing is
 * added once err is full. Returns -1. */
int il_err_add(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
