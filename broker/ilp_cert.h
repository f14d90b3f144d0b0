/* ilp_cert: the bus's CURVE certificates on disk, in czmq's zcert format (a
 * ZPL file FILE with the public key and the metadata, FILE_secret beside it
 * with both keys). It makes a new pair (interlookctl keygen), loads one's own
 * pair and a peer's public part, and reads the "extensions" metadata that says
 * which extension names the key's holder may register as. */
#ifndef INTERLOOK_ILP_CERT_H
#define INTERLOOK_ILP_CERT_H

#include <stdbool.h>
#include <stddef.h>

#define ILP_CERT_KEY_TXT 40 /* a key in Z85 text */
#define ILP_CERT_META_EXT                                                                          \
    "extensions" /* metadata: comma-separated names, '*' at the end of one                         \
                  */

typedef struct {
    char public_key[ILP_CERT_KEY_TXT + 1]; /* Z85 */
    char secret_key[ILP_CERT_KEY_TXT + 1]; /* Z85; "" for a public certificate */
    char *extensions;                      /* metadata "extensions"; NULL: any name */
} ilp_cert_t;

/* Writes a new key pair: path (public, mode 0644) and path_secret (mode
 * 0600), each durably (temporary file, fsync, rename), with extensions (a
 * comma-separated list of names, a name may end in '*'; NULL: any name) in
 * the metadata of both. Refuses to replace an existing file unless force.
 * Returns 0, or -1 with the reason in err. */
int ilp_cert_generate(const char *path, const char *extensions, bool force, char *err,
                      size_t errlen);

/* Loads one's own pair from path_secret (path being the public file's name,
 * as keygen was given). A secret file readable by group or others is
 * accepted with a warning in the log. Returns 0, or -1 with "path_secret:
 * reason" in err (missing, unreadable, not a certificate). */
int ilp_cert_load_pair(ilp_cert_t *self, const char *path, char *err, size_t errlen);

/* Loads a public certificate; a file that holds a secret key is refused.
 * Returns 0, or -1 with "path: reason" in err. */
int ilp_cert_load_public(ilp_cert_t *self, const char *path, char *err, size_t errlen);

/* Frees what a load allocated (the struct may be loaded again). */
void ilp_cert_clear(ilp_cert_t *self);

/* Checks an "extensions" list: 0, or -1 with the reason in err. */
int ilp_cert_check_list(const char *list, char *err, size_t errlen);

/* True when a key whose "extensions" metadata is list (NULL: any) may
 * register as name: a name of the list equal to it, or ending in '*' and a
 * prefix of it. */
bool ilp_cert_allows(const char *list, const char *name);

#endif
