/* log: levelled log lines, see log.h. The state below is the process's logging
 * setup, written by main through log_setup before any thread starts. */
#include "common/log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static log_level_t s_level = LOG_LEVEL_INFO;
static FILE *s_file = NULL; /* NULL: stderr; otherwise stdout or an opened file */
static int s_owned = 0;     /* s_file was opened by us */
static char s_prog[32] = "interlook";
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *s_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

int log_level_parse(const char *text, log_level_t *level)
{
    if (!text) return -1;
    if (!strcasecmp(text, "debug"))
        *level = LOG_LEVEL_DEBUG;
    else if (!strcasecmp(text, "info"))
        *level = LOG_LEVEL_INFO;
    else if (!strcasecmp(text, "warn") || !strcasecmp(text, "warning"))
        *level = LOG_LEVEL_WARN;
    else if (!strcasecmp(text, "error"))
        *level = LOG_LEVEL_ERROR;
    else
        return -1;
    return 0;
}

int log_setup(const char *progname, log_level_t level, const char *destination)
{
    FILE *file = NULL;
    int owned = 0;
    if (!destination || !strcmp(destination, "stderr"))
        file = NULL;
    else if (!strcmp(destination, "stdout"))
        file = stdout;
    else {
        file = fopen(destination, "a");
        if (!file) return -1;
        owned = 1;
    }
    pthread_mutex_lock(&s_lock);
    if (s_owned && s_file) fclose(s_file);
    s_file = file;
    s_owned = owned;
    s_level = level;
    if (progname) snprintf(s_prog, sizeof s_prog, "%s", progname);
    pthread_mutex_unlock(&s_lock);
    return 0;
}

int log_enabled(log_level_t level)
{
    return level >= s_level;
}

void log_write(log_level_t level, const char *fmt, ...)
{
    if (level < s_level) return;
    char text[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);

    struct timeval now;
    gettimeofday(&now, NULL);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock(&s_lock);
    FILE *out = s_file ? s_file : stderr;
    fprintf(out, "%s.%03ldZ %s[%d] %s: %s\n", stamp, (long)(now.tv_usec / 1000), s_prog,
            (int)getpid(), s_names[level], text);
    fflush(out);
    pthread_mutex_unlock(&s_lock);
}

void log_close(void)
{
    pthread_mutex_lock(&s_lock);
    if (s_owned && s_file) fclose(s_file);
    s_file = NULL;
    s_owned = 0;
    pthread_mutex_unlock(&s_lock);
}
