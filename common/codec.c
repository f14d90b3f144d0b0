/* codec: bounded msgpack decoding of untrusted frames and typed field access. */
#include "common/codec.h"
#include "common/alloc.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* What one header byte announces: payload bytes to skip, or child objects. */
typedef struct {
    size_t header;  /* bytes of the header itself, type byte included */
    uint64_t skip;  /* payload bytes after the header */
    uint64_t items; /* array elements or map pairs */
    int container;  /* 0 scalar, 1 array, 2 map */
    int ext_type;   /* 1 when skip includes an ext8/16/32 type byte */
} s_head_t;

/* Decodes the header at p (at least one byte available). Returns -1 for the
 * never-used byte 0xc1 or a header cut by the end of the frame. */
static int s_head(const uint8_t *p, size_t left, s_head_t *h)
{
    uint8_t b = p[0];
    memset(h, 0, sizeof *h);
    h->header = 1;
    size_t lenbytes = 0; /* size of a length field that follows the type byte */
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return 0;
    if (b >= 0x80 && b <= 0x8f) {
        h->items = b & 0x0f;
        h->container = 2;
        return 0;
    }
    if (b >= 0x90 && b <= 0x9f) {
        h->items = b & 0x0f;
        h->container = 1;
        return 0;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        h->skip = b & 0x1f;
        return 0;
    }
    switch (b) {
    case 0xc4:
    case 0xd9:
        lenbytes = 1;
        break; /* bin8, str8 */
    case 0xc5:
    case 0xda:
        lenbytes = 2;
        break; /* bin16, str16 */
    case 0xc6:
    case 0xdb:
        lenbytes = 4;
        break; /* bin32, str32 */
    case 0xc7:
        lenbytes = 1;
        h->skip = 1;
        h->ext_type = 1;
        break; /* ext8: + type byte */
    case 0xc8:
        lenbytes = 2;
        h->skip = 1;
        h->ext_type = 1;
        break;
    case 0xc9:
        lenbytes = 4;
        h->skip = 1;
        h->ext_type = 1;
        break;
    case 0xca:
        h->skip = 4;
        return 0; /* float32 */
    case 0xcb:
        h->skip = 8;
        return 0; /* float64 */
    case 0xcc:
    case 0xd0:
        h->skip = 1;
        return 0;
    case 0xcd:
    case 0xd1:
        h->skip = 2;
        return 0;
    case 0xce:
    case 0xd2:
        h->skip = 4;
        return 0;
    case 0xcf:
    case 0xd3:
        h->skip = 8;
        return 0;
    case 0xd4:
        h->skip = 2;
        return 0; /* fixext1..16: type + data */
    case 0xd5:
        h->skip = 3;
        return 0;
    case 0xd6:
        h->skip = 5;
        return 0;
    case 0xd7:
        h->skip = 9;
        return 0;
    case 0xd8:
        h->skip = 17;
        return 0;
    case 0xdc:
        lenbytes = 2;
        h->container = 1;
        break;
    case 0xdd:
        lenbytes = 4;
        h->container = 1;
        break;
    case 0xde:
        lenbytes = 2;
        h->container = 2;
        break;
    case 0xdf:
        lenbytes = 4;
        h->container = 2;
        break;
    default:
        return -1; /* 0xc1 */
    }
    if (left < 1 + lenbytes) return -1;
    uint64_t n = s_be(p + 1, lenbytes);
    h->header = 1 + lenbytes;
    if (h->container)
        h->items = n;
    else
        h->skip += n;
    return 0;
}

int il_codec_check(const void *data, size_t size, char *err, size_t errlen)
{
    if (!data || size == 0) return il_err(err, errlen, "empty frame");
    if (size > IL_CODEC_MAX_FRAME)
        return il_err(err, errlen, "frame of %zu bytes exceeds %d", size, IL_CODEC_MAX_FRAME);
    const uint8_t *p = data;
    const uint8_t *end = p + size;
    uint64_t remaining[IL_CODEC_MAX_DEPTH + 1]; /* objects still to read at each level */
    int depth = 0;
    size_t objects = 0;
    remaining[0] = 1;
    while (depth >= 0) {
        if (remaining[depth] == 0) {
            depth--;
            continue;
        }
        remaining[depth]--;
        size_t left = (size_t)(end - p);
        if (left == 0) return il_err(err, errlen, "truncated at byte %zu", size);
        if (++objects > IL_CODEC_MAX_OBJECTS)
            return il_err(err, errlen, "more than %d objects", IL_CODEC_MAX_OBJECTS);
        s_head_t h;
        if (s_head(p, left, &h) != 0)
            return il_err(err, errlen, "bad msgpack byte 0x%02x at offset %zu", p[0],
                          (size_t)(p - (const uint8_t *)data));
        p += h.header;
        left -= h.header;
        if (!h.container) {
            if (h.skip - h.ext_type > IL_CODEC_MAX_STRING)
                return il_err(err, errlen, "string of %llu bytes exceeds %d",
                              (unsigned long long)(h.skip - h.ext_type), IL_CODEC_MAX_STRING);
            if (h.skip > left) return il_err(err, errlen, "truncated at byte %zu", size);
            p += h.skip;
            continue;
        }
        uint64_t children = h.container == 2 ? h.items * 2 : h.items;
        if (h.items > IL_CODEC_MAX_ITEMS)
            return il_err(err, errlen, "%s of %llu items exceeds %d",
                          h.container == 2 ? "map" : "array", (unsigned long long)h.items,
                          IL_CODEC_MAX_ITEMS);
        if (children > left)
            return il_err(err, errlen, "%s header announces %llu items, only %zu bytes left",
                          h.container == 2 ? "map" : "array", (unsigned long long)h.items, left);
        if (depth + 1 > IL_CODEC_MAX_DEPTH) /* empty containers count too */
            return il_err(err, errlen, "nesting deeper than %d", IL_CODEC_MAX_DEPTH);
        if (children == 0) continue;
        remaining[++depth] = children;
    }
    if (p != end)
        return il_err(err, errlen, "%zu trailing bytes after the object", (size_t)(end - p));
    return 0;
}

/* The decoder: one pass that checks each object exactly as il_codec_check does
 * (same order, same bounds, same reasons) and builds it at once, instead of
 * il_codec_check's walk followed by msgpack-c's. Strings, bins and exts point
 * into the frame; arrays and maps are allocated in the zone as their headers
 * are read, so the children they announce are counted first: a frame whose
 * containers announce more objects than IL_CODEC_MAX_OBJECTS cannot be valid,
 * and allocates nothing more (il_codec_check then says why it is refused).
 * What a frame makes us allocate is thus bounded as with msgpack-c after
 * il_codec_check: IL_CODEC_MAX_OBJECTS objects. */
#define S_RECHECK (-2) /* s_parse: refused, il_codec_check has the reason */
typedef struct {
    const uint8_t *start; /* the frame */
    const uint8_t *p;     /* the next byte to read */
    const uint8_t *end;
    size_t objects;     /* objects read so far */
    uint64_t announced; /* children announced by the containers read so far */
    msgpack_zone *zone;
    char *err;
    size_t errlen;
} s_parser_t;

static int s_parse(s_parser_t *ps, msgpack_object *o, int depth)
{
    size_t left = (size_t)(ps->end - ps->p);
    if (left == 0)
        return il_err(ps->err, ps->errlen, "truncated at byte %zu", (size_t)(ps->end - ps->start));
    if (++ps->objects > IL_CODEC_MAX_OBJECTS)
        return il_err(ps->err, ps->errlen, "more than %d objects", IL_CODEC_MAX_OBJECTS);
    const uint8_t *at = ps->p;
    uint8_t b = at[0];
    /* The forms every message is made of, first; the rest as il_codec_check reads them. */
    switch (b) {
    case 0xa0 ... 0xbf: { /* fixstr */
        size_t n = b & 0x1f;
        if (n > left - 1)
            return il_err(ps->err, ps->errlen, "truncated at byte %zu",
                          (size_t)(ps->end - ps->start));
        o->type = MSGPACK_OBJECT_STR;
        o->via.str.ptr = (const char *)at + 1;
        o->via.str.size = (uint32_t)n;
        ps->p = at + 1 + n;
        return 0;
    }
    case 0x00 ... 0x7f:
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = b;
        ps->p = at + 1;
        return 0;
    case 0xc0:
        o->type = MSGPACK_OBJECT_NIL;
        ps->p = at + 1;
        return 0;
    case 0xc2:
    case 0xc3:
        o->type = MSGPACK_OBJECT_BOOLEAN;
        o->via.boolean = b == 0xc3;
        ps->p = at + 1;
        return 0;
    default:
        break;
    }
    s_head_t h;
    if (s_head(at, left, &h) != 0)
        return il_err(ps->err, ps->errlen, "bad msgpack byte 0x%02x at offset %zu", at[0],
                      (size_t)(at - ps->start));
    left -= h.header;
    const uint8_t *body = at + h.header;
    if (!h.container) {
        if (h.skip - h.ext_type > IL_CODEC_MAX_STRING)
            return il_err(ps->err, ps->errlen, "string of %llu bytes exceeds %d",
                          (unsigned long long)(h.skip - h.ext_type), IL_CODEC_MAX_STRING);
        if (h.skip > left)
            return il_err(ps->err, ps->errlen, "truncated at byte %zu",
                          (size_t)(ps->end - ps->start));
        ps->p = body + h.skip;
        memset(o, 0, sizeof *o);
        if (b >= 0xe0) {
            o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
            o->via.i64 = (int8_t)b;
        } else if (b >= 0xd9 && b <= 0xdb) {
            o->type = MSGPACK_OBJECT_STR;
            o->via.str.ptr = (const char *)body;
            o->via.str.size = (uint32_t)h.skip;
        } else if (b >= 0xc4 && b <= 0xc6) {
            o->type = MSGPACK_OBJECT_BIN;
            o->via.bin.ptr = (const char *)body;
            o->via.bin.size = (uint32_t)h.skip;
        } else if ((b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8)) {
            o->type = MSGPACK_OBJECT_EXT;
            o->via.ext.type = (int8_t)body[0];
            o->via.ext.ptr = (const char *)body + 1;
            o->via.ext.size = (uint32_t)(h.skip - 1);
        } else if (b == 0xca) {
            uint32_t bits = (uint32_t)s_be(body, 4);
            float f;
            memcpy(&f, &bits, sizeof f);
            o->type = MSGPACK_OBJECT_FLOAT32;
            o->via.f64 = f;
        } else if (b == 0xcb) {
            uint64_t bits = s_be(body, 8);
            double d;
            memcpy(&d, &bits, sizeof d);
            o->type = MSGPACK_OBJECT_FLOAT64;
            o->via.f64 = d;
        } else if (b >= 0xcc && b <= 0xcf) {
            o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            o->via.u64 = s_be(body, h.skip);
        } else { /* 0xd0..0xd3: signed, a non-negative value is positive */
            uint64_t bits = s_be(body, h.skip);
            int64_t v = h.skip == 1   ? (int8_t)bits
                        : h.skip == 2 ? (int16_t)bits
                        : h.skip == 4 ? (int32_t)bits
                                      : (int64_t)bits;
            o->type = v < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER : MSGPACK_OBJECT_POSITIVE_INTEGER;
            if (v < 0)
                o->via.i64 = v;
            else
                o->via.u64 = (uint64_t)v;
        }
        return 0;
    }
    const char *kind = h.container == 2 ? "map" : "array";
    uint64_t children = h.container == 2 ? h.items * 2 : h.items;
    if (h.items > IL_CODEC_MAX_ITEMS)
        return il_err(ps->err, ps->errlen, "%s of %llu items exceeds %d", kind,
                      (unsigned long long)h.items, IL_CODEC_MAX_ITEMS);
    if (children > left)
        return il_err(ps->err, ps->errlen, "%s header announces %llu items, only %zu bytes left",
                      kind, (unsigned long long)h.items, left);
    if (depth + 1 > IL_CODEC_MAX_DEPTH) /* empty containers count too */
        return il_err(ps->err, ps->errlen, "nesting deeper than %d", IL_CODEC_MAX_DEPTH);
    ps->announced += children;
    if (ps->announced + 1 > IL_CODEC_MAX_OBJECTS) return S_RECHECK;
    ps->p = body;
    uint32_t n = (uint32_t)h.items;
    if (h.container == 2) {
        msgpack_object_kv *kv = msgpack_zone_malloc(ps->zone, n * sizeof *kv);
        if (!kv) return il_err(ps->err, ps->errlen, "out of memory");
        o->type = MSGPACK_OBJECT_MAP;
        o->via.map.size = n;
        o->via.map.ptr = kv;
        for (uint32_t i = 0; i < n; i++) {
            int rc = s_parse(ps, &kv[i].key, depth + 1);
            if (rc == 0) rc = s_parse(ps, &kv[i].val, depth + 1);
            if (rc) return rc;
        }
    } else {
        msgpack_object *items = msgpack_zone_malloc(ps->zone, n * sizeof *items);
        if (!items) return il_err(ps->err, ps->errlen, "out of memory");
        o->type = MSGPACK_OBJECT_ARRAY;
        o->via.array.size = n;
        o->via.array.ptr = items;
        for (uint32_t i = 0; i < n; i++) {
            int rc = s_parse(ps, &items[i], depth + 1);
            if (rc) return rc;
        }
    }
    return 0;
}

int il_codec_unpack_zone(const void *data, size_t size, msgpack_zone *zone, msgpack_object *out,
                         char *err, size_t errlen)
{
    if (!data || size == 0) return il_err(err, errlen, "empty frame");
    if (size > IL_CODEC_MAX_FRAME)
        return il_err(err, errlen, "frame of %zu bytes exceeds %d", size, IL_CODEC_MAX_FRAME);
    s_parser_t ps = {.start = data,
                     .p = data,
                     .end = (const uint8_t *)data + size,
                     .zone = zone,
                     .err = err,
                     .errlen = errlen};
    msgpack_object obj;
    int rc = s_parse(&ps, &obj, 0);
    if (rc == S_RECHECK) {
        /* Refused: the walk that allocates nothing finds the first reason. */
        if (il_codec_check(data, size, err, errlen) != 0) return -1;
        return il_err(err, errlen, "more than %d objects", IL_CODEC_MAX_OBJECTS); /* not reached */
    }
    if (rc != 0) return -1;
    if (ps.p != ps.end)
        return il_err(err, errlen, "%zu trailing bytes after the object", (size_t)(ps.end - ps.p));
    *out = obj;
    return 0;
}

int il_codec_unpack(const void *data, size_t size, msgpack_unpacked *out, char *err, size_t errlen)
{
    msgpack_unpacked_destroy(out);
    out->zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
    if (!out->zone) return il_err(err, errlen, "out of memory");
    if (il_codec_unpack_zone(data, size, out->zone, &out->data, err, errlen) == 0) return 0;
    msgpack_unpacked_destroy(out); /* nothing of a refused frame is kept */
    return -1;
}

const msgpack_object *il_codec_map_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP) return NULL;
    size_t len = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
            (len == 0 || memcmp(k->via.str.ptr, key, len) == 0))
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

/* Valid UTF-8 without control characters (C0, DEL) and without NUL. */
static int s_text_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) return 0;
            i++;
            continue;
        }
        size_t more;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            more = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            more = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            more = 3;
            cp = c & 0x07;
        } else
            return 0;
        if (i + more >= n) return 0; /* sequence cut by the end of the string */
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[more] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += more + 1;
    }
    return 1;
}

int il_codec_str_copy(const msgpack_object *obj, const char *name, size_t maxlen, char **out,
                      char *err, size_t errlen)
{
    if (obj->type != MSGPACK_OBJECT_STR) return il_err(err, errlen, "%s: expected a string", name);
    size_t n = obj->via.str.size;
    if (n > maxlen)
        return il_err(err, errlen, "%s: string of %zu bytes exceeds %zu", name, n, maxlen);
    if (!s_text_ok((const uint8_t *)obj->via.str.ptr, n))
        return il_err(err, errlen, "%s: not UTF-8 text (or contains control characters)", name);
    char *copy = il_malloc(n + 1);
    if (n) memcpy(copy, obj->via.str.ptr, n); /* msgpack-c gives NULL for "" */
    copy[n] = 0;
    *out = copy;
    return 0;
}

void il_codec_map_find(const msgpack_object *map, const char *const *keys, size_t n,
                       const msgpack_object **values)
{
    size_t lens[IL_CODEC_FIND_MAX];
    for (size_t i = 0; i < n; i++) {
        values[i] = NULL;
        lens[i] = strlen(keys[i]);
    }
    if (!map || map->type != MSGPACK_OBJECT_MAP) return;
    size_t found = 0;
    for (uint32_t k = 0; k < map->via.map.size && found < n; k++) {
        const msgpack_object *key = &map->via.map.ptr[k].key;
        if (key->type != MSGPACK_OBJECT_STR) continue;
        for (size_t i = 0; i < n; i++) {
            if (values[i] || key->via.str.size != lens[i] ||
                (lens[i] && memcmp(key->via.str.ptr, keys[i], lens[i])))
                continue;
            values[i] = &map->via.map.ptr[k].val; /* the first occurrence counts */
            found++;
            break;
        }
    }
}

int il_codec_get_str(const msgpack_object *map, const char *key, size_t maxlen, bool required,
                     char **out, char *err, size_t errlen)
{
    return il_codec_value_str(il_codec_map_get(map, key), key, maxlen, required, out, err, errlen);
}

int il_codec_value_str(const msgpack_object *v, const char *key, size_t maxlen, bool required,
                       char **out, char *err, size_t errlen)
{
    if (v && v->type == MSGPACK_OBJECT_NIL) v = NULL;
    if (!v) {
        if (required) return il_err(err, errlen, "%s: missing", key);
        *out = NULL;
        return 0;
    }
    return il_codec_str_copy(v, key, maxlen, out, err, errlen);
}

int il_codec_get_uint(const msgpack_object *map, const char *key, uint64_t min, uint64_t max,
                      bool required, uint64_t dflt, uint64_t *out, char *err, size_t errlen)
{
    return il_codec_value_uint(il_codec_map_get(map, key), key, min, max, required, dflt, out, err,
                               errlen);
}

int il_codec_value_uint(const msgpack_object *v, const char *key, uint64_t min, uint64_t max,
                        bool required, uint64_t dflt, uint64_t *out, char *err, size_t errlen)
{
    if (v && v->type == MSGPACK_OBJECT_NIL) v = NULL;
    if (!v) {
        if (required) return il_err(err, errlen, "%s: missing", key);
        *out = dflt;
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 < min || v->via.u64 > max)
        return il_err(err, errlen, "%s: expected an integer from %llu to %llu", key,
                      (unsigned long long)min, (unsigned long long)max);
    *out = v->via.u64;
    return 0;
}

int il_codec_get_bool(const msgpack_object *map, const char *key, bool dflt, bool *out, char *err,
                      size_t errlen)
{
    return il_codec_value_bool(il_codec_map_get(map, key), key, dflt, out, err, errlen);
}

int il_codec_value_bool(const msgpack_object *v, const char *key, bool dflt, bool *out, char *err,
                        size_t errlen)
{
    if (v && v->type == MSGPACK_OBJECT_NIL) v = NULL;
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_BOOLEAN)
        return il_err(err, errlen, "%s: expected a boolean", key);
    *out = v->via.boolean;
    return 0;
}

/* The writers below hand each key and value to the packer's callback in one
 * piece (msgpack_pack_str + _body would make two calls, four for a key and
 * its value): packing is most of the cost of saving entries and of every
 * message the core sends. The bytes are those msgpack-c writes: the smallest
 * str and uint forms. */
#define S_SMALL 288 /* bytes packed on the stack in one piece */

/* The header of a str of n bytes; returns its size. */
static size_t s_str_header(unsigned char *p, size_t n)
{
    if (n < 32) {
        p[0] = (unsigned char)(0xa0 | n);
        return 1;
    }
    if (n < 256) {
        p[0] = 0xd9;
        p[1] = (unsigned char)n;
        return 2;
    }
    if (n < 65536) {
        p[0] = 0xda;
        p[1] = (unsigned char)(n >> 8);
        p[2] = (unsigned char)n;
        return 3;
    }
    p[0] = 0xdb;
    p[1] = (unsigned char)(n >> 24);
    p[2] = (unsigned char)(n >> 16);
    p[3] = (unsigned char)(n >> 8);
    p[4] = (unsigned char)n;
    return 5;
}

/* A str (nil when text is NULL) into p, which has room; returns its size. */
static size_t s_put_str(unsigned char *p, const char *text, size_t n)
{
    if (!text) {
        p[0] = 0xc0;
        return 1;
    }
    size_t h = s_str_header(p, n);
    memcpy(p + h, text, n);
    return h + n;
}

/* An unsigned integer into p (at most 9 bytes); returns its size. */
static size_t s_put_uint(unsigned char *p, uint64_t v)
{
    size_t n;
    if (v < 128) {
        p[0] = (unsigned char)v;
        return 1;
    }
    if (v < 256) {
        p[0] = 0xcc;
        n = 1;
    } else if (v < 65536) {
        p[0] = 0xcd;
        n = 2;
    } else if (v < (1ULL << 32)) {
        p[0] = 0xce;
        n = 4;
    } else {
        p[0] = 0xcf;
        n = 8;
    }
    for (size_t i = 0; i < n; i++)
        p[1 + i] = (unsigned char)(v >> (8 * (n - 1 - i)));
    return 1 + n;
}

void il_codec_pack_str(msgpack_packer *pk, const char *text)
{
    if (!text) {
        msgpack_pack_nil(pk);
        return;
    }
    size_t n = strlen(text);
    if (n + 5 > S_SMALL) {
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, text, n);
        return;
    }
    unsigned char buf[S_SMALL];
    pk->callback(pk->data, (const char *)buf, s_put_str(buf, text, n));
}

void il_codec_pack_key_str(msgpack_packer *pk, const char *key, const char *value)
{
    size_t kn = strlen(key), vn = value ? strlen(value) : 0;
    if (kn + vn + 10 > S_SMALL) {
        il_codec_pack_str(pk, key);
        il_codec_pack_str(pk, value);
        return;
    }
    unsigned char buf[S_SMALL];
    size_t len = s_put_str(buf, key, kn);
    len += s_put_str(buf + len, value, vn);
    pk->callback(pk->data, (const char *)buf, len);
}

void il_codec_pack_key_uint(msgpack_packer *pk, const char *key, uint64_t value)
{
    size_t kn = strlen(key);
    if (kn + 14 > S_SMALL) {
        il_codec_pack_str(pk, key);
        msgpack_pack_uint64(pk, value);
        return;
    }
    unsigned char buf[S_SMALL];
    size_t len = s_put_str(buf, key, kn);
    len += s_put_uint(buf + len, value);
    pk->callback(pk->data, (const char *)buf, len);
}

void il_codec_pack_key_bool(msgpack_packer *pk, const char *key, bool value)
{
    size_t kn = strlen(key);
    if (kn + 6 > S_SMALL) {
        il_codec_pack_str(pk, key);
        if (value)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        return;
    }
    unsigned char buf[S_SMALL];
    size_t len = s_put_str(buf, key, kn);
    buf[len++] = value ? 0xc3 : 0xc2;
    pk->callback(pk->data, (const char *)buf, len);
}

void il_codec_pack_raw(msgpack_packer *pk, const void *data, size_t len)
{
    if (len) pk->callback(pk->data, data, len);
}
