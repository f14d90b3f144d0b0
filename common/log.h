/* log: levelled log lines to stdout, stderr or a file, one line per event.
 * The level and destination are process-wide and set by main (log_setup);
 * every other module only calls the log_* macros. */
#ifndef INTERLOOK_LOG_H
#define INTERLOOK_LOG_H

#include <stdarg.h>

typedef enum {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3
} log_level_t;

/* Parses "debug", "info", "warn"/"warning" or "error". Returns -1 on anything else. */
int log_level_parse(const char *text, log_level_t *level);

/* Sets the threshold and the destination ("stdout", "stderr" or a file path,
 * opened for append). The program name tags each line. Returns -1 when the file
 * cannot be opened (the destination stays as it was), 0 otherwise. */
int log_setup(const char *progname, log_level_t level, const char *destination);

/* True when lines of this level are written (lets callers skip costly formatting). */
int log_enabled(log_level_t level);

/* Writes one line: "2026-11-25T11:40:00.123Z interlookd[123] INFO: text". */
void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Closes a log file opened by log_setup; later lines go to stderr. */
void log_close(void);

#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
