/* log: levelled log lines to stdout, stderr or a file, one line per event.
 * The level and destination are process-wide and set by main (il_log_setup);
 * every other module only calls the il_log_* macros. */
#ifndef INTERLOOK_LOG_H
#define INTERLOOK_LOG_H

#include <stdarg.h>

typedef enum {
    IL_LOG_DEBUG = 0,
    IL_LOG_INFO = 1,
    IL_LOG_WARN = 2,
    IL_LOG_ERROR = 3
} il_log_level_t;

/* Parses "debug", "info", "warn"/"warning" or "error". Returns -1 on anything else. */
int il_log_level_parse(const char *text, il_log_level_t *level);

/* Sets the threshold and the destination ("stdout", "stderr" or a file path,
 * opened for append). The program name tags each line. Returns -1 when the file
 * cannot be opened (the destination stays as it was), 0 otherwise. */
int il_log_setup(const char *progname, il_log_level_t level, const char *destination);

/* True when lines of this level are written (lets callers skip costly formatting). */
int il_log_enabled(il_log_level_t level);

/* Writes one line: "2026-11-25T11:40:00.123Z interlookd[123] INFO: text". */
void il_log_write(il_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Closes a log file opened by il_log_setup; later lines go to stderr. */
void il_log_close(void);

#define il_log_debug(...) il_log_write(IL_LOG_DEBUG, __VA_ARGS__)
#define il_log_info(...)  il_log_write(IL_LOG_INFO, __VA_ARGS__)
#define il_log_warn(...)  il_log_write(IL_LOG_WARN, __VA_ARGS__)
#define il_log_error(...) il_log_write(IL_LOG_ERROR, __VA_ARGS__)

#endif
