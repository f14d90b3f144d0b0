/* codec: safe msgpack decoding of untrusted frames, and small helpers to read
 * typed fields from a decoded map and to write them.
 *
 * msgpack-c trusts its input: an array or map header makes it allocate
 * count x 24 bytes before any element is read. il_codec_check therefore walks
 * the raw bytes and refuses any header whose count exceeds the bytes that
 * remain or the limits below, and a frame that is not exactly one object.
 * il_codec_unpack / il_codec_unpack_zone make the same checks, in the same order
 * and with the same reasons, while they build the objects in one pass; what
 * they allocate stays bounded by IL_CODEC_MAX_OBJECTS objects (see codec.c). */
#ifndef INTERLOOK_CODEC_H
#define INTERLOOK_CODEC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on any frame, whatever its command (documented in docs/protocol.md). */
#define IL_CODEC_MAX_FRAME   (1024 * 1024) /* bytes in one frame */
#define IL_CODEC_MAX_DEPTH   16            /* nesting of arrays and maps */
#define IL_CODEC_MAX_ITEMS   4096          /* elements of one array, pairs of one map */
#define IL_CODEC_MAX_OBJECTS 65536         /* objects in one frame, all levels */
#define IL_CODEC_MAX_STRING  65536         /* bytes in one string/bin/ext */

/* Checks that data is exactly one msgpack object within the bounds above.
 * Returns 0, or -1 with the reason in err. Reads nothing past size. */
int il_codec_check(const void *data, size_t size, char *err, size_t errlen);

/* Checks and decodes one frame into out (msgpack_unpacked_init'ed by the
 * caller, msgpack_unpacked_destroy'ed by the caller even on failure; on
 * failure it holds nothing). Strings in the result point into data, which
 * must outlive it. Returns 0 or -1 with the reason in err (as il_codec_check's). */
int il_codec_unpack(const void *data, size_t size, msgpack_unpacked *out, char *err, size_t errlen);

/* The same with a zone the caller keeps (msgpack_zone_init'ed) and clears
 * between frames (msgpack_zone_clear): a receive loop then decodes without
 * allocating. Strings in *out point into data, other objects into zone. */
int il_codec_unpack_zone(const void *data, size_t size, msgpack_zone *zone, msgpack_object *out,
                         char *err, size_t errlen);

/* The value of key in a map (string keys), NULL when absent or not a map. */
const msgpack_object *il_codec_map_get(const msgpack_object *map, const char *key);

/* Typed field readers. "Absent" means the key is missing or its value is nil.
 * A required field that is absent, a value of the wrong type or out of bounds
 * returns -1 with err naming the key, e.g. "credit: expected an integer from 1
 * to 10000". Outputs are written only on success. */

/* A string of at most maxlen bytes with no NUL or other control character;
 * *out is a new heap string, or NULL when absent and not required. */
int il_codec_get_str(const msgpack_object *map, const char *key, size_t maxlen, bool required,
                     char **out, char *err, size_t errlen);
/* An unsigned integer in [min, max]; dflt when absent and not required. */
int il_codec_get_uint(const msgpack_object *map, const char *key, uint64_t min, uint64_t max,
                      bool required, uint64_t dflt, uint64_t *out, char *err, size_t errlen);
/* A boolean; dflt when absent. */
int il_codec_get_bool(const msgpack_object *map, const char *key, bool dflt, bool *out, char *err,
                      size_t errlen);

/* Several keys of a map found in one scan (a decoder reads a few keys of
 * each map; il_codec_map_get scans the map for each): values[i] is the value of
 * keys[i] (its first occurrence), NULL when absent. At most IL_CODEC_FIND_MAX keys. */
#define IL_CODEC_FIND_MAX 8
void il_codec_map_find(const msgpack_object *map, const char *const *keys, size_t n,
                       const msgpack_object **values);

/* The readers above, given the value found (NULL or nil: absent); key names it in err. */
int il_codec_value_str(const msgpack_object *value, const char *key, size_t maxlen, bool required,
                       char **out, char *err, size_t errlen);
int il_codec_value_uint(const msgpack_object *value, const char *key, uint64_t min, uint64_t max,
                        bool required, uint64_t dflt, uint64_t *out, char *err, size_t errlen);
int il_codec_value_bool(const msgpack_object *value, const char *key, bool dflt, bool *out,
                        char *err, size_t errlen);

/* Checks a string object as il_codec_get_str does and copies it; name is used in err. */
int il_codec_str_copy(const msgpack_object *obj, const char *name, size_t maxlen, char **out,
                      char *err, size_t errlen);

/* Writers. */
void il_codec_pack_str(msgpack_packer *pk, const char *text); /* nil when text is NULL */
void il_codec_pack_key_str(msgpack_packer *pk, const char *key, const char *value);
void il_codec_pack_key_uint(msgpack_packer *pk, const char *key, uint64_t value);
void il_codec_pack_key_bool(msgpack_packer *pk, const char *key, bool value);
/* Bytes already packed (one or more whole objects), as they are. */
void il_codec_pack_raw(msgpack_packer *pk, const void *data, size_t len);

#endif
