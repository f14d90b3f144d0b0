/* tsig_key: the TSIG key file that tsig-keygen (BIND) writes,
 *   key "NAME" { algorithm hmac-sha256; secret "BASE64"; };
 * read so that interlook-dns signs its updates with the same key the server
 * was given. Comments (#, //, C style) and any whitespace are allowed. The
 * file must hold exactly one key: with several, which one the server expects
 * cannot be guessed, so the file is refused (naming the second key's line).
 * Algorithms: hmac-sha256, hmac-sha512 and hmac-sha1 (legacy servers);
 * hmac-md5, hmac-sha224 and hmac-sha384 are refused (RFC 8945 deprecates
 * MD5; this ldns does not sign the other two correctly). */
#ifndef INTERLOOK_TSIG_KEY_H
#define INTERLOOK_TSIG_KEY_H

#include <stddef.h>

typedef struct {
    char *name;      /* key name, lower-case, with the trailing dot ldns wants */
    char *algorithm; /* ldns' name: "hmac-sha256." ... */
    char *secret;    /* base64, as in the file (checked to decode) */
} tsig_key_t;

/* Parses text (the file's contents; path names it in messages). Returns NULL
 * with "PATH:LINE: reason" in err. */
tsig_key_t *tsig_key_parse(const char *text, const char *path, char *err, size_t errlen);

/* Reads and parses the file. NULL with "PATH: reason" or "PATH:LINE: reason". */
tsig_key_t *tsig_key_load(const char *path, char *err, size_t errlen);

void tsig_key_destroy(tsig_key_t **self_p);

#endif
