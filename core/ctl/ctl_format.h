/* ctl_format: the text helpers of interlookctl's tables and lines: ages
 * ("5s", "3m", "2h", "4d"), heartbeat delays ("120ms ago"), target lists
 * ("host:port,host:portx3 (+2 more)"), API times, and truncation of untrusted
 * text for a terminal. Pure functions, no I/O. */
#ifndef INTERLOOK_CTL_FORMAT_H
#define INTERLOOK_CTL_FORMAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A duration in seconds as "5s", "3m", "2h" or "4d" (rounded down, the
 * largest unit that gives at least 1; a negative one, from clock skew, is
 * "0s"). Writes at most len bytes, always NUL-terminated. */
void ctl_format_age(int64_t seconds, char *buf, size_t len);

/* Milliseconds ago as "120ms ago", "2.5s ago", then as an age ("3m ago"). */
void ctl_format_ago_ms(int64_t ms, char *buf, size_t len);

/* Parses an API time, "YYYY-MM-DDTHH:MM:SS[.fff]Z" (UTC), into milliseconds
 * since the epoch. Returns -1 when text is not one. */
int ctl_format_parse_time(const char *text, int64_t *ms);

/* The time now as the API writes times: "2026-11-25T10:00:00.123Z" (UTC). */
void ctl_format_now(char *buf, size_t len);

/* One target {host, port, weight} as "host:port" ("[v6]:port"), followed by
 * "xW" when with_weight and the weight is not 1; the host is cleaned as
 * ctl_format_clean does. Returns -1 when item is not a target. */
int ctl_format_target(const json_t *item, bool with_weight, char *buf, size_t len);

/* A JSON array of {host, port, weight} as "host:port,host:portxW" (the weight
 * only when it is not 1). When the list is wider than max characters, as many
 * whole targets as fit are kept and " (+N more)" added (the first one is cut
 * if it alone is too wide); max 0 means no limit. Items that are not targets
 * are skipped. A new string ("-" when there are none). */
char *ctl_format_targets(const json_t *targets, size_t max);

/* A copy of text safe to print on a terminal: control characters become '?',
 * and when it is wider than max characters (UTF-8 aware; max 0: no limit) it
 * is cut on a character boundary and ends with "...". NULL text gives "-".
 * A new string (the caller frees it). */
char *ctl_format_clean(const char *text, size_t max);

/* Characters (UTF-8 code points) in text, the width used to align columns. */
size_t ctl_format_width(const char *text);

#endif
