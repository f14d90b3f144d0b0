/* tsig_key: the tsig-keygen key file, see tsig_key.h. A small tokenizer
 * (words, quoted strings, braces, semicolons) that knows the line of each
 * token, and a parser for the one statement the file may hold. */
#include "extensions/dns/tsig_key.h"

#include <interlook.h>

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_FILE 65536

typedef struct {
    const char *p;
    int line;
    char tok[1024];
    bool quoted;
    int tok_line;
} s_lexer_t;

/* The next token into lx->tok: 1, 0 at the end, -1 on a lexical error. */
static int s_next(s_lexer_t *lx, const char *path, char *err, size_t errlen)
{
    for (;;) {
        while (*lx->p && isspace((unsigned char)*lx->p)) {
            if (*lx->p == '\n') lx->line++;
            lx->p++;
        }
        if (*lx->p == '#' || (lx->p[0] == '/' && lx->p[1] == '/')) {
            while (*lx->p && *lx->p != '\n')
                lx->p++;
            continue;
        }
        if (lx->p[0] == '/' && lx->p[1] == '*') {
            int start = lx->line;
            lx->p += 2;
            while (*lx->p && !(lx->p[0] == '*' && lx->p[1] == '/')) {
                if (*lx->p == '\n') lx->line++;
                lx->p++;
            }
            if (!*lx->p) return il_err(err, errlen, "%s:%d: unterminated comment", path, start);
            lx->p += 2;
            continue;
        }
        break;
    }
    lx->tok_line = lx->line;
    lx->quoted = false;
    if (!*lx->p) return 0;
    size_t n = 0;
    if (*lx->p == '{' || *lx->p == '}' || *lx->p == ';') {
        lx->tok[0] = *lx->p++;
        lx->tok[1] = '\0';
        return 1;
    }
    if (*lx->p == '"') {
        lx->quoted = true;
        lx->p++;
        while (*lx->p && *lx->p != '"' && *lx->p != '\n') {
            if (n + 1 >= sizeof lx->tok)
                return il_err(err, errlen, "%s:%d: string too long", path, lx->line);
            lx->tok[n++] = *lx->p++;
        }
        if (*lx->p != '"') return il_err(err, errlen, "%s:%d: unterminated string", path, lx->line);
        lx->p++;
        lx->tok[n] = '\0';
        return 1;
    }
    while (*lx->p && !isspace((unsigned char)*lx->p) && !strchr("{};\"#", *lx->p)) {
        if (n + 1 >= sizeof lx->tok)
            return il_err(err, errlen, "%s:%d: word too long", path, lx->line);
        lx->tok[n++] = *lx->p++;
    }
    lx->tok[n] = '\0';
    return 1;
}

/* The next token must be the punctuation c. */
static int s_expect(s_lexer_t *lx, char c, const char *after, const char *path, char *err,
                    size_t errlen)
{
    int rc = s_next(lx, path, err, errlen);
    if (rc < 0) return -1;
    if (rc == 0 || lx->quoted || lx->tok[0] != c || lx->tok[1])
        return il_err(err, errlen, "%s:%d: expected '%c' after %s, found %s", path, lx->tok_line, c,
                      after, rc == 0 ? "the end of the file" : lx->tok);
    return 0;
}

static bool s_base64_ok(const char *s)
{
    size_t n = strlen(s), pad = 0;
    if (n == 0 || n % 4) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            pad++;
            if (i < n - 2) return false;
        } else if (pad || !(isalnum((unsigned char)c) || c == '+' || c == '/'))
            return false;
    }
    return pad <= 2;
}

static const char *s_algorithm(const char *name)
{
    static const char *const map[][2] = {{"hmac-sha256", "hmac-sha256."},
                                         {"hmac-sha512", "hmac-sha512."},
                                         {"hmac-sha1", "hmac-sha1."}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(name, map[i][0]) == 0) return map[i][1];
    return NULL;
}

void tsig_key_destroy(tsig_key_t **self_p)
{
    tsig_key_t *self = *self_p;
    if (!self) return;
    free(self->name);
    free(self->algorithm);
    if (self->secret) memset(self->secret, 0, strlen(self->secret));
    free(self->secret);
    free(self);
    *self_p = NULL;
}

tsig_key_t *tsig_key_parse(const char *text, const char *path, char *err, size_t errlen)
{
    s_lexer_t lx = {.p = text, .line = 1};
    tsig_key_t *key = il_calloc(1, sizeof *key);
    int rc = s_next(&lx, path, err, errlen);
    if (rc < 0) goto fail;
    if (rc == 0) {
        il_err(err, errlen, "%s:%d: no key in the file (expected key \"NAME\" { ... };)", path,
               lx.line);
        goto fail;
    }
    if (lx.quoted || strcmp(lx.tok, "key") != 0) {
        il_err(err, errlen, "%s:%d: expected 'key', found '%s'", path, lx.tok_line, lx.tok);
        goto fail;
    }
    if ((rc = s_next(&lx, path, err, errlen)) < 0) goto fail;
    if (rc == 0 || (!lx.quoted && strchr("{};", lx.tok[0])) || !lx.tok[0]) {
        il_err(err, errlen, "%s:%d: expected the key's name after 'key'", path, lx.tok_line);
        goto fail;
    }
    size_t len = strlen(lx.tok);
    key->name = il_malloc(len + 2);
    for (size_t i = 0; i <= len; i++)
        key->name[i] = (char)tolower((unsigned char)lx.tok[i]);
    if (key->name[len - 1] != '.') strcat(key->name, ".");
    if (s_expect(&lx, '{', "the key's name", path, err, errlen)) goto fail;
    for (;;) {
        if ((rc = s_next(&lx, path, err, errlen)) < 0) goto fail;
        if (rc == 0) {
            il_err(err, errlen, "%s:%d: missing '}' closing the key", path, lx.line);
            goto fail;
        }
        if (!lx.quoted && strcmp(lx.tok, "}") == 0) break;
        int field_line = lx.tok_line;
        const char *field = strcmp(lx.tok, "algorithm") == 0 ? "algorithm"
                            : strcmp(lx.tok, "secret") == 0  ? "secret"
                                                             : NULL;
        if (lx.quoted || !field) {
            il_err(err, errlen, "%s:%d: unknown statement '%s' in the key (algorithm, secret)",
                   path, field_line, lx.tok);
            goto fail;
        }
        if ((rc = s_next(&lx, path, err, errlen)) < 0) goto fail;
        if (rc == 0 || (!lx.quoted && strchr("{};", lx.tok[0]))) {
            il_err(err, errlen, "%s:%d: %s: missing value", path, field_line, field);
            goto fail;
        }
        if (strcmp(field, "algorithm") == 0) {
            const char *alg = s_algorithm(lx.tok);
            if (!alg) {
                il_err(err, errlen,
                       "%s:%d: algorithm '%s' is not supported (hmac-sha256, hmac-sha512, "
                       "hmac-sha1)",
                       path, lx.tok_line, lx.tok);
                goto fail;
            }
            if (key->algorithm) {
                il_err(err, errlen, "%s:%d: algorithm given twice", path, field_line);
                goto fail;
            }
            key->algorithm = il_strdup(alg);
        } else {
            if (key->secret) {
                il_err(err, errlen, "%s:%d: secret given twice", path, field_line);
                goto fail;
            }
            if (!s_base64_ok(lx.tok)) {
                il_err(err, errlen, "%s:%d: secret is not base64", path, lx.tok_line);
                goto fail;
            }
            key->secret = il_strdup(lx.tok);
        }
        if (s_expect(&lx, ';', field, path, err, errlen)) goto fail;
    }
    if (s_expect(&lx, ';', "'}'", path, err, errlen)) goto fail;
    if (!key->algorithm || !key->secret) {
        il_err(err, errlen, "%s:%d: the key has no %s", path, lx.tok_line,
               key->algorithm ? "secret" : "algorithm");
        goto fail;
    }
    if ((rc = s_next(&lx, path, err, errlen)) < 0) goto fail;
    if (rc == 1) {
        il_err(err, errlen, "%s:%d: a second statement ('%s'): the file must hold exactly one key",
               path, lx.tok_line, lx.tok);
        goto fail;
    }
    return key;
fail:
    tsig_key_destroy(&key);
    return NULL;
}

tsig_key_t *tsig_key_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        il_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    char *text = il_malloc(S_MAX_FILE + 1);
    size_t n = fread(text, 1, S_MAX_FILE + 1, f);
    int failed = ferror(f);
    fclose(f);
    tsig_key_t *key = NULL;
    if (failed)
        il_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    else if (n > S_MAX_FILE)
        il_err(err, errlen, "%s: larger than %d bytes: not a key file", path, S_MAX_FILE);
    else if (memchr(text, '\0', n))
        il_err(err, errlen, "%s: binary data: not a key file", path);
    else {
        text[n] = '\0';
        key = tsig_key_parse(text, path, err, errlen);
    }
    memset(text, 0, n < S_MAX_FILE ? n : S_MAX_FILE);
    free(text);
    return key;
}
