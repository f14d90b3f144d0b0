/* ctl_api: GET requests to the core's HTTP API, see ctl_api.h. */
#include "core/ctl/ctl_api.h"
#include "common/alloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;  /* the body so far, NUL-terminated */
    size_t size; /* bytes in data */
    size_t cap;  /* bytes allocated */
    bool overflow;
} s_body_t;

static size_t s_on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    s_body_t *body = arg;
    size_t n = size * nmemb;
    if (body->size + n + 1 > (size_t)CTL_API_MAX_BODY) {
        body->overflow = true;
        return 0; /* aborts the transfer */
    }
    if (body->size + n + 1 > body->cap) {
        size_t cap = body->cap ? body->cap : 16384;
        while (cap < body->size + n + 1)
            cap *= 2;
        body->data = il_realloc(body->data, cap);
        body->cap = cap;
    }
    memcpy(body->data + body->size, data, n);
    body->size += n;
    body->data[body->size] = 0;
    return n;
}

char *ctl_api_read_token(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    char buf[CTL_API_MAX_TOKEN + 2];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    buf[len] = 0;
    char *start = buf;
    while (*start && strchr(" \t\r\n", *start))
        start++;
    len = strlen(start);
    while (len && strchr(" \t\r\n", start[len - 1]))
        start[--len] = 0;
    const char *why = failed                    ? "read error"
                      : !len                    ? "empty"
                      : len > CTL_API_MAX_TOKEN ? "the token is longer than 4096 bytes"
                      : strlen(start) != len    ? "holds a NUL byte"
                                                : NULL;
    for (size_t i = 0; i < len && !why; i++)
        if ((unsigned char)start[i] < 0x21 || (unsigned char)start[i] > 0x7e)
            why = "the token holds a character other than visible ASCII";
    char *token = why ? NULL : il_strdup(start);
    explicit_bzero(buf, sizeof buf);
    if (why) snprintf(err, errlen, "'%s': %s", path, why);
    return token;
}

ctl_api_result_t ctl_api_get(const char *base, const ctl_api_auth_t *auth, const char *path,
                             long *status, json_t **json, char *err, size_t errlen)
{
    *json = NULL;
    *status = 0;
    size_t urllen = strlen(base) + strlen(path) + 1;
    CURL *curl = curl_easy_init();
    if (!curl) { /* libcurl's global initialisation failed (or memory did) */
        snprintf(err, errlen, "cannot initialise libcurl");
        return CTL_API_UNREACHABLE;
    }
    char *url = il_malloc(urllen);
    snprintf(url, urllen, "%s%s", base, path);
    s_body_t body = {0};
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)CTL_API_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "interlookctl");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    struct curl_slist *headers = NULL;
    char *bearer = NULL;
    if (auth && auth->token) {
        size_t n = strlen(auth->token) + 32;
        bearer = il_malloc(n);
        snprintf(bearer, n, "Authorization: Bearer %s", auth->token);
        headers = curl_slist_append(headers, bearer);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    }
    if (auth && auth->cacert) curl_easy_setopt(curl, CURLOPT_CAINFO, auth->cacert);
    CURLcode rc = curl_easy_perform(curl);
    ctl_api_result_t result = CTL_API_OK;
    if (body.overflow) {
        snprintf(err, errlen, "the answer is larger than %ld bytes", CTL_API_MAX_BODY);
        result = CTL_API_INVALID;
    } else if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", *curl_err ? curl_err : curl_easy_strerror(rc));
        result = CTL_API_UNREACHABLE;
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
        json_error_t jerr;
        *json = json_loadb(body.data ? body.data : "", body.size, 0, &jerr);
        if (!*json) {
            if (*status != 200)
                snprintf(err, errlen, "HTTP %ld, and the body is not JSON: %s (line %d)", *status,
                         jerr.text, jerr.line);
            else
                snprintf(err, errlen, "%s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
            result = CTL_API_INVALID;
        }
    }
    free(body.data);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    if (bearer) {
        explicit_bzero(bearer, strlen(bearer));
        free(bearer);
    }
    free(url);
    return result;
}

char *ctl_api_escape(const char *name)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = il_malloc(strlen(name) * 3 + 1);
    char *p = out;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~", *c)) {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    *p = 0;
    return out;
}
