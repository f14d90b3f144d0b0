/* log: levelled log lines, see log.h. The state below is the process's logging
 * setup, written by main through il_log_setup before any thread starts. */
#include "common/log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static il_log_level_t s_level = IL_LOG_INFO;
static FILE *s_file = NULL; /* NULL: stderr; otherwise stdout or an opened file */
static int s_owned = 0;     /* s_file was opened by us */
static char s_prog[32] = "interlook";
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *s_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

int il_log_level_parse(const char *text, il_log_level_t *level)
{
    if (!text) return -1;
    if (!strcasecmp(text, "debug"))
        *level = IL_LOG_DEBUG;
    else if (!strcasecmp(text, "info"))
        *level = IL_LOG_INFO;
    else if (!strcasecmp(text, "warn") || !strcasecmp(text, "warning"))
        *level = IL_LOG_WARN;
    else if (!strcasecmp(text, "error"))
        *level = IL_LOG_ERROR;
    else
        return -1;
    return 0;
}

int il_log_setup(const char *progname, il_log_level_t level, const char *destination)
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

int il_log_enabled(il_log_level_t level)
{
    return level >= s_level;
}

void il_log_write(il_log_level_t level, const char *fmt, ...)
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

void il_log_close(void)
{
    pthread_mutex_lock(&s_lock);
    if (s_owned && s_file) fclose(s_file);
    s_file = NULL;
    s_owned = 0;
    pthread_mutex_unlock(&s_lock);
}
