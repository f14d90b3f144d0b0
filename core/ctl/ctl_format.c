/* ctl_format: text helpers of interlookctl, see ctl_format.h. */
#include "core/ctl/ctl_format.h"
#include "common/alloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ctl_format_age(int64_t seconds, char *buf, size_t len)
{
    long long s = seconds < 0 ? 0 : (long long)seconds;
    if (s < 60)
        snprintf(buf, len, "%llds", s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm", s / 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh", s / 3600);
    else
        snprintf(buf, len, "%lldd", s / 86400);
}

void ctl_format_ago_ms(int64_t ms, char *buf, size_t len)
{
    long long m = ms < 0 ? 0 : (long long)ms;
    if (m < 1000)
        snprintf(buf, len, "%lldms ago", m);
    else if (m < 60000)
        snprintf(buf, len, "%lld.%llds ago", m / 1000, (m % 1000) / 100);
    else {
        char age[32];
        ctl_format_age(m / 1000, age, sizeof age);
        snprintf(buf, len, "%s ago", age);
    }
}

int ctl_format_parse_time(const char *text, int64_t *ms)
{
    if (!text) return -1;
    struct tm tm = {0};
    int n = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n != 19)
        return -1;
    if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    const char *p = text + n;
    int64_t millis = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        for (; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3) millis = millis * 10 + (*p - '0');
        if (digits == 0) return -1;
        for (; digits < 3; digits++)
            millis *= 10;
    }
    if (strcmp(p, "Z") != 0) return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t secs = timegm(&tm);
    if (secs == (time_t)-1) return -1;
    *ms = (int64_t)secs * 1000 + millis;
    return 0;
}

void ctl_format_now(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n > 0) snprintf(buf + n, len - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}

/* Bytes of the UTF-8 character at p (1 for an invalid byte), *valid false
 * for an invalid byte or a control character. */
static size_t s_char_len(const unsigned char *p, bool *valid)
{
    size_t len = *p < 0x80             ? 1
                 : (*p & 0xE0) == 0xC0 ? 2
                 : (*p & 0xF0) == 0xE0 ? 3
                 : (*p & 0xF8) == 0xF0 ? 4
                                       : 0;
    *valid = len > 0;
    for (size_t i = 1; *valid && i < len; i++)
        if ((p[i] & 0xC0) != 0x80) *valid = false;
    bool formed = *valid; /* a whole character: one '?' stands for all its bytes */
    /* C0 and C1 control characters, DEL */
    if (*valid && len == 1 && (*p < 0x20 || *p == 0x7F)) *valid = false;
    if (*valid && len == 2 && p[0] == 0xC2 && p[1] < 0xA0) *valid = false;
    return formed ? len : 1;
}

char *ctl_format_clean(const char *text, size_t max)
{
    if (!text) text = "-";
    size_t size = strlen(text);
    char *out = il_malloc(size + 4);
    const unsigned char *p = (const unsigned char *)text;
    size_t o = 0, chars = 0;
    size_t cut = 0; /* out offset after max - 3 characters */
    bool fits = true;
    while (*p) {
        if (max && chars == (max > 3 ? max - 3 : 0)) cut = o;
        if (max && chars == max) {
            fits = false;
            break;
        }
        bool valid;
        size_t len = s_char_len(p, &valid);
        if (valid)
            memcpy(out + o, p, len);
        else
            out[o] = '?';
        o += valid ? len : 1;
        p += len;
        chars++;
    }
    if (!fits) {
        o = cut;
        size_t dots = max < 3 ? max : 3;
        memcpy(out + o, "...", dots);
        o += dots;
    }
    out[o] = 0;
    return out;
}

size_t ctl_format_width(const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return n;
}

/* Appends text to a growing string. */
static void s_append(char **buf, size_t *len, size_t *cap, const char *text)
{
    size_t n = strlen(text);
    if (*len + n + 1 > *cap) {
        size_t grown = *cap ? *cap * 2 : 128;
        while (grown < *len + n + 1)
            grown *= 2;
        *buf = il_realloc(*buf, grown);
        *cap = grown;
    }
    memcpy(*buf + *len, text, n + 1);
    *len += n;
}

int ctl_format_target(const json_t *item, bool with_weight, char *buf, size_t len)
{
    const char *host = json_string_value(json_object_get(item, "host"));
    json_t *port = json_object_get(item, "port");
    json_t *weight = json_object_get(item, "weight");
    if (!host || !json_is_integer(port)) return -1;
    char *clean = ctl_format_clean(host, 0);
    bool v6 = strchr(clean, ':') != NULL;
    int n = snprintf(buf, len, "%s%s%s:%lld", v6 ? "[" : "", clean, v6 ? "]" : "",
                     (long long)json_integer_value(port));
    free(clean);
    if (with_weight && json_is_integer(weight) && json_integer_value(weight) != 1 && n > 0 &&
        (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "x%lld", (long long)json_integer_value(weight));
    return 0;
}

char *ctl_format_targets(const json_t *targets, size_t max)
{
    size_t count = 0;
    for (size_t i = 0; i < json_array_size(targets); i++) {
        char one[600];
        if (ctl_format_target(json_array_get(targets, i), true, one, sizeof one) == 0) count++;
    }
    if (count == 0) return ctl_format_clean("-", 0);
    char *list = NULL;
    size_t len = 0, cap = 0, kept = 0;
    char more[48] = "";
    for (size_t i = 0; i < json_array_size(targets); i++) {
        char one[600];
        if (ctl_format_target(json_array_get(targets, i), true, one, sizeof one) != 0) continue;
        size_t width = ctl_format_width(list ? list : "") + (kept ? 1 : 0) + ctl_format_width(one);
        if (kept + 1 < count)
            snprintf(more, sizeof more, " (+%zu more)", count - kept - 1);
        else
            more[0] = 0;
        if (max && width + ctl_format_width(more) > max) {
            if (kept == 0) { /* even the first does not fit: cut it */
                size_t room = max > ctl_format_width(more) + 4 ? max - ctl_format_width(more) : 4;
                char *cut = ctl_format_clean(one, room);
                s_append(&list, &len, &cap, cut);
                free(cut);
                kept = 1;
            }
            break;
        }
        if (kept) s_append(&list, &len, &cap, ",");
        s_append(&list, &len, &cap, one);
        kept++;
    }
    if (kept < count) {
        snprintf(more, sizeof more, " (+%zu more)", count - kept);
        s_append(&list, &len, &cap, more);
    }
    return list;
}
