/* ctl_api: interlookctl's client of the core's HTTP API (libcurl easy, one GET
 * at a time, a 5 s bound), answering parsed JSON. */
#ifndef INTERLOOK_CTL_API_H
#define INTERLOOK_CTL_API_H

#include <jansson.h>
#include <stddef.h>

#define CTL_API_TIMEOUT_MS 5000
#define CTL_API_MAX_TOKEN  4096
#define CTL_API_MAX_BODY   (512L * 1024 * 1024) /* bytes of one answer */

/* Outcome of a GET. */
typedef enum {
    CTL_API_OK = 0,      /* an answer was received; see status and json */
    CTL_API_UNREACHABLE, /* no answer: connection, time-out, transfer error */
    CTL_API_INVALID,     /* an answer that is not JSON (or too large) */
} ctl_api_result_t;

/* How to reach the API beyond its URL. */
typedef struct {
    const char *token;  /* sent as "Authorization: Bearer TOKEN", or NULL */
    const char *cacert; /* CA certificate file (PEM) trusted for https, or NULL: the system's */
} ctl_api_auth_t;

/* Reads a bearer token: the file's one line without surrounding white space.
 * Returns a heap string, or NULL with the reason in err (unreadable, empty,
 * not visible ASCII). */
char *ctl_api_read_token(const char *path, char *err, size_t errlen);

/* GETs base + path (path starts with '/'), with auth (may be NULL). On CTL_API_OK, *status is the
 * HTTP status and *json the parsed body (the caller decrefs it). On failure, err holds the reason:
 * libcurl's message for CTL_API_UNREACHABLE, jansson's for CTL_API_INVALID (with the status, when
 * it is not 200). */
ctl_api_result_t ctl_api_get(const char *base, const ctl_api_auth_t *auth, const char *path,
                             long *status, json_t **json, char *err, size_t errlen);

/* The path segment for name, percent-encoded (the caller frees it). */
char *ctl_api_escape(const char *name);

#endif
