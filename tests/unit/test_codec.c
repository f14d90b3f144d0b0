/* test_codec: unit tests of common/codec (bounded msgpack decoding of untrusted
 * frames, typed field readers and writers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A frame in an exact-size heap buffer, so that ASan and valgrind catch any
 * read past its end. */
typedef struct {
    uint8_t *data;
    size_t size;
} frame_t;

static int s_nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Bytes written as hex pairs ("dd 00 01"), then pad copies of fill. */
static frame_t s_frame(const char *hex, size_t pad, uint8_t fill)
{
    size_t n = 0, cap = strlen(hex) / 2 + pad;
    frame_t f = {malloc(cap ? cap : 1), 0};
    assert_non_null(f.data);
    for (const char *p = hex; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        int hi = s_nibble(p[0]), lo = p[1] ? s_nibble(p[1]) : -1;
        if (hi < 0 || lo < 0 || n >= cap) fail_msg("bad hex in test table: '%s'", hex);
        f.data[n++] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    memset(f.data + n, fill, pad);
    n += pad;
    /* Shrink to the exact size so that a read past the end is caught. */
    uint8_t *exact = malloc(n ? n : 1);
    assert_non_null(exact);
    memcpy(exact, f.data, n);
    free(f.data);
    f.data = exact;
    f.size = n;
    return f;
}

static void s_frame_free(frame_t *f)
{
    free(f->data);
    f->data = NULL;
}

/* Appends bytes to a growing buffer (for frames built in loops). */
typedef struct {
    uint8_t *data;
    size_t size, cap;
} buf_t;

static void s_put(buf_t *b, const void *bytes, size_t n)
{
    if (b->size + n > b->cap) {
        b->cap = (b->size + n) * 2;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->size, bytes, n);
    b->size += n;
}

static void s_put_byte(buf_t *b, uint8_t byte)
{
    s_put(b, &byte, 1);
}

static void s_put_be(buf_t *b, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--)
        s_put_byte(b, (uint8_t)(v >> (8 * i)));
}

/* The buffer's bytes moved to an exact-size frame. */
static frame_t s_take(buf_t *b)
{
    frame_t f = {malloc(b->size ? b->size : 1), b->size};
    assert_non_null(f.data);
    memcpy(f.data, b->data, b->size);
    free(b->data);
    memset(b, 0, sizeof *b);
    return f;
}

/* Checks and unpacks a frame that must be accepted by both functions. */
static void s_accept(const frame_t *f, msgpack_unpacked *up, const char *what)
{
    char err[256] = "";
    if (il_codec_check(f->data, f->size, err, sizeof err) != 0)
        fail_msg("%s: il_codec_check refused: %s", what, err);
    if (il_codec_unpack(f->data, f->size, up, err, sizeof err) != 0)
        fail_msg("%s: il_codec_unpack refused: %s", what, err);
}

/* A frame both functions must refuse, with a message containing expect; and
 * msgpack must never have been called (no zone: nothing was allocated for
 * the announced counts). */
static void s_refuse(const frame_t *f, const char *expect, const char *what)
{
    char err[256] = "";
    if (il_codec_check(f->data, f->size, err, sizeof err) == 0)
        fail_msg("%s: il_codec_check accepted it", what);
    if (!strstr(err, expect)) fail_msg("%s: '%s' does not contain '%s'", what, err, expect);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    char err2[256] = "";
    if (il_codec_unpack(f->data, f->size, &up, err2, sizeof err2) == 0)
        fail_msg("%s: il_codec_unpack accepted it", what);
    assert_string_equal(err2, err);
    if (up.zone != NULL) fail_msg("%s: msgpack ran on a refused frame", what);
    msgpack_unpacked_destroy(&up);
}

/* Valid objects of every format ------------------------------------------- */

typedef struct {
    const char *what;
    const char *hex;
    size_t pad; /* pad copies of fill follow hex */
    uint8_t fill;
    msgpack_object_type type;
    uint64_t u; /* positive integer; size of str/bin/ext/array/map; bool */
    int64_t i;  /* negative integer; ext type */
    double f;   /* float */
} valid_case_t;

static const valid_case_t s_valid[] = {
    {"positive fixint 0", "00", 0, 0, MSGPACK_OBJECT_POSITIVE_INTEGER, 0, 0, 0},
    {"positive fixint 127", "7f", 0, 0, MSGPACK_OBJECT_POSITIVE_INTEGER, 127, 0, 0},
    {"negative fixint -1", "ff", 0, 0, MSGPACK_OBJECT_NEGATIVE_INTEGER, 0, -1, 0},
    {"negative fixint -32", "e0", 0, 0, MSGPACK_OBJECT_NEGATIVE_INTEGER, 0, -32, 0},
    {"uint8", "cc ff", 0, 0, MSGPACK_OBJECT_POSITIVE_INTEGER, 255, 0, 0},
    {"uint16", "cd ff fe", 0, 0, MSGPACK_OBJECT_POSITIVE_INTEGER, 0xfffe, 0, 0},
    {"uint32", "ce ff ff ff fd", 0, 0, MSGPACK_OBJECT_POSITIVE_INTEGER, 0xfffffffd, 0, 0},
    {"uint64", "cf ff ff ff ff ff ff ff ff", 0, 0, MSGPACK_OBJECT_POSITIVE_INTEGER, UINT64_MAX, 0,
     0},
    {"int8", "d0 80", 0, 0, MSGPACK_OBJECT_NEGATIVE_INTEGER, 0, -128, 0},
    {"int8 positive", "d0 05", 0, 0, MSGPACK_OBJECT_POSITIVE_INTEGER, 5, 0, 0},
    {"int16", "d1 80 00", 0, 0, MSGPACK_OBJECT_NEGATIVE_INTEGER, 0, -32768, 0},
    {"int32", "d2 80 00 00 00", 0, 0, MSGPACK_OBJECT_NEGATIVE_INTEGER, 0, INT32_MIN, 0},
    {"int64", "d3 80 00 00 00 00 00 00 00", 0, 0, MSGPACK_OBJECT_NEGATIVE_INTEGER, 0, INT64_MIN, 0},
    {"float32", "ca 3f c0 00 00", 0, 0, MSGPACK_OBJECT_FLOAT32, 0, 0, 1.5},
    {"float64", "cb c0 04 00 00 00 00 00 00", 0, 0, MSGPACK_OBJECT_FLOAT64, 0, 0, -2.5},
    {"nil", "c0", 0, 0, MSGPACK_OBJECT_NIL, 0, 0, 0},
    {"false", "c2", 0, 0, MSGPACK_OBJECT_BOOLEAN, 0, 0, 0},
    {"true", "c3", 0, 0, MSGPACK_OBJECT_BOOLEAN, 1, 0, 0},
    {"fixstr empty", "a0", 0, 0, MSGPACK_OBJECT_STR, 0, 0, 0},
    {"fixstr", "a5 68 65 6c 6c 6f", 0, 0, MSGPACK_OBJECT_STR, 5, 0, 0},
    {"fixstr 31", "bf", 31, 'x', MSGPACK_OBJECT_STR, 31, 0, 0},
    {"str8", "d9 ff", 255, 'x', MSGPACK_OBJECT_STR, 255, 0, 0},
    {"str16", "da 01 2c", 300, 'x', MSGPACK_OBJECT_STR, 300, 0, 0},
    {"str32", "db 00 00 00 03 61 62 63", 0, 0, MSGPACK_OBJECT_STR, 3, 0, 0},
    {"str32 at IL_CODEC_MAX_STRING", "db 00 01 00 00", IL_CODEC_MAX_STRING, 'x', MSGPACK_OBJECT_STR,
     IL_CODEC_MAX_STRING, 0, 0},
    {"bin8", "c4 02 00 ff", 0, 0, MSGPACK_OBJECT_BIN, 2, 0, 0},
    {"bin8 empty", "c4 00", 0, 0, MSGPACK_OBJECT_BIN, 0, 0, 0},
    {"bin16", "c5 01 00", 256, 0, MSGPACK_OBJECT_BIN, 256, 0, 0},
    {"bin32", "c6 00 00 00 04 01 02 03 04", 0, 0, MSGPACK_OBJECT_BIN, 4, 0, 0},
    {"bin32 at IL_CODEC_MAX_STRING", "c6 00 01 00 00", IL_CODEC_MAX_STRING, 0, MSGPACK_OBJECT_BIN,
     IL_CODEC_MAX_STRING, 0, 0},
    {"fixext1", "d4 05 aa", 0, 0, MSGPACK_OBJECT_EXT, 1, 5, 0},
    {"fixext2", "d5 06 aa bb", 0, 0, MSGPACK_OBJECT_EXT, 2, 6, 0},
    {"fixext4", "d6 07", 4, 0xaa, MSGPACK_OBJECT_EXT, 4, 7, 0},
    {"fixext8", "d7 ff", 8, 0xaa, MSGPACK_OBJECT_EXT, 8, -1, 0},
    {"fixext16", "d8 08", 16, 0xaa, MSGPACK_OBJECT_EXT, 16, 8, 0},
    {"ext8", "c7 03 09 01 02 03", 0, 0, MSGPACK_OBJECT_EXT, 3, 9, 0},
    {"ext8 empty", "c7 00 09", 0, 0, MSGPACK_OBJECT_EXT, 0, 9, 0},
    {"ext16", "c8 01 00 0a", 256, 0x55, MSGPACK_OBJECT_EXT, 256, 10, 0},
    {"ext32", "c9 00 00 00 02 0b 01 02", 0, 0, MSGPACK_OBJECT_EXT, 2, 11, 0},
    {"ext32 at IL_CODEC_MAX_STRING", "c9 00 01 00 00 0c", IL_CODEC_MAX_STRING, 0x55,
     MSGPACK_OBJECT_EXT, IL_CODEC_MAX_STRING, 12, 0},
    {"fixarray empty", "90", 0, 0, MSGPACK_OBJECT_ARRAY, 0, 0, 0},
    {"fixarray", "93 01 a1 61 c0", 0, 0, MSGPACK_OBJECT_ARRAY, 3, 0, 0},
    {"fixarray 15", "9f", 15, 0xc0, MSGPACK_OBJECT_ARRAY, 15, 0, 0},
    {"array16", "dc 00 10", 16, 0x01, MSGPACK_OBJECT_ARRAY, 16, 0, 0},
    {"array16 at IL_CODEC_MAX_ITEMS", "dc 10 00", IL_CODEC_MAX_ITEMS, 0xc0, MSGPACK_OBJECT_ARRAY,
     IL_CODEC_MAX_ITEMS, 0, 0},
    {"array32", "dd 00 00 00 02 01 02", 0, 0, MSGPACK_OBJECT_ARRAY, 2, 0, 0},
    {"array32 empty", "dd 00 00 00 00", 0, 0, MSGPACK_OBJECT_ARRAY, 0, 0, 0},
    {"fixmap empty", "80", 0, 0, MSGPACK_OBJECT_MAP, 0, 0, 0},
    {"fixmap", "82 a1 61 01 a1 62 c3", 0, 0, MSGPACK_OBJECT_MAP, 2, 0, 0},
    {"map16", "de 00 03", 6, 0x01, MSGPACK_OBJECT_MAP, 3, 0, 0},
    {"map16 at IL_CODEC_MAX_ITEMS", "de 10 00", 2 * IL_CODEC_MAX_ITEMS, 0xc0, MSGPACK_OBJECT_MAP,
     IL_CODEC_MAX_ITEMS, 0, 0},
    {"map32", "df 00 00 00 01 a1 6b 92 01 02", 0, 0, MSGPACK_OBJECT_MAP, 1, 0, 0},
    {"nested", "82 a1 61 93 01 81 a1 62 92 c0 c3 a0 a1 63 dc 00 01 de 00 01 01 90", 0, 0,
     MSGPACK_OBJECT_MAP, 2, 0, 0},
};

static void test_valid_formats(void **state)
{
    (void)state;
    for (size_t c = 0; c < COUNT(s_valid); c++) {
        const valid_case_t *v = &s_valid[c];
        frame_t f = s_frame(v->hex, v->pad, v->fill);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        s_accept(&f, &up, v->what);
        const msgpack_object *o = &up.data;
        if (o->type != v->type) fail_msg("%s: type %d, expected %d", v->what, o->type, v->type);
        switch (v->type) {
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            assert_true(o->via.u64 == v->u);
            break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            assert_true(o->via.i64 == v->i);
            break;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            assert_true(o->via.f64 == v->f);
            break;
        case MSGPACK_OBJECT_BOOLEAN:
            assert_int_equal(o->via.boolean, v->u);
            break;
        case MSGPACK_OBJECT_STR:
            assert_int_equal(o->via.str.size, v->u);
            /* Zero copy: the string points into the frame. */
            if (o->via.str.size)
                assert_true((const uint8_t *)o->via.str.ptr >= f.data &&
                            (const uint8_t *)o->via.str.ptr + o->via.str.size <= f.data + f.size);
            break;
        case MSGPACK_OBJECT_BIN:
            assert_int_equal(o->via.bin.size, v->u);
            break;
        case MSGPACK_OBJECT_EXT:
            assert_int_equal(o->via.ext.size, v->u);
            assert_int_equal(o->via.ext.type, v->i);
            break;
        case MSGPACK_OBJECT_ARRAY:
            assert_int_equal(o->via.array.size, v->u);
            break;
        case MSGPACK_OBJECT_MAP:
            assert_int_equal(o->via.map.size, v->u);
            break;
        default:
            break;
        }
        msgpack_unpacked_destroy(&up);
        s_frame_free(&f);
    }
}

/* A structure built with msgpack_packer: every field comes back. */
static void test_packer_round_trip(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    il_codec_pack_key_str(&pk, "name", "web");
    il_codec_pack_key_uint(&pk, "n", 70000);
    il_codec_pack_str(&pk, "list");
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int64(&pk, -5);
    msgpack_pack_double(&pk, 0.25);
    msgpack_pack_map(&pk, 1);
    il_codec_pack_key_bool(&pk, "deep", true);
    il_codec_pack_key_str(&pk, "none", NULL);

    frame_t f = {malloc(sb.size), sb.size};
    assert_non_null(f.data);
    memcpy(f.data, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);

    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    s_accept(&f, &up, "packed map");
    assert_non_null(up.zone);
    const msgpack_object *m = &up.data;
    assert_int_equal(m->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(m->via.map.size, 4);
    const msgpack_object *name = il_codec_map_get(m, "name");
    assert_non_null(name);
    assert_int_equal(name->type, MSGPACK_OBJECT_STR);
    assert_int_equal(name->via.str.size, 3);
    assert_memory_equal(name->via.str.ptr, "web", 3);
    const msgpack_object *n = il_codec_map_get(m, "n");
    assert_non_null(n);
    assert_true(n->type == MSGPACK_OBJECT_POSITIVE_INTEGER && n->via.u64 == 70000);
    const msgpack_object *list = il_codec_map_get(m, "list");
    assert_non_null(list);
    assert_int_equal(list->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(list->via.array.size, 3);
    assert_true(list->via.array.ptr[0].via.i64 == -5);
    assert_true(list->via.array.ptr[1].via.f64 == 0.25);
    const msgpack_object *deep = il_codec_map_get(&list->via.array.ptr[2], "deep");
    assert_non_null(deep);
    assert_true(deep->type == MSGPACK_OBJECT_BOOLEAN && deep->via.boolean);
    const msgpack_object *none = il_codec_map_get(m, "none");
    assert_non_null(none);
    assert_int_equal(none->type, MSGPACK_OBJECT_NIL);
    assert_null(il_codec_map_get(m, "missing"));
    assert_null(il_codec_map_get(m, "nam"));     /* a prefix is not the key */
    assert_null(il_codec_map_get(m, "names"));   /* nor a longer one */
    assert_null(il_codec_map_get(list, "name")); /* not a map */
    assert_null(il_codec_map_get(NULL, "name"));
    msgpack_unpacked_destroy(&up);
    s_frame_free(&f);
}

/* Refusals ------------------------------------------------------------------ */

typedef struct {
    const char *what;
    const char *hex;
    size_t pad;
    uint8_t fill;
    const char *expect; /* substring of the message */
} refuse_case_t;

static const refuse_case_t s_refused[] = {
    /* Headers cut by the end of the frame. */
    {"uint8 header", "cc", 0, 0, "truncated"},
    {"uint16 header", "cd 01", 0, 0, "truncated"},
    {"uint32 header", "ce 01 02 03", 0, 0, "truncated"},
    {"uint64 header", "cf 01 02 03 04 05 06 07", 0, 0, "truncated"},
    {"int8 header", "d0", 0, 0, "truncated"},
    {"int16 header", "d1 01", 0, 0, "truncated"},
    {"int32 header", "d2 01 02", 0, 0, "truncated"},
    {"int64 header", "d3 01", 0, 0, "truncated"},
    {"float32 header", "ca 00 00 00", 0, 0, "truncated"},
    {"float64 header", "cb 00 00 00 00 00 00 00", 0, 0, "truncated"},
    {"str8 length", "d9", 0, 0, "0xd9 at offset 0"},
    {"str16 length", "da 00", 0, 0, "0xda at offset 0"},
    {"str32 length", "db 00 00 00", 0, 0, "0xdb at offset 0"},
    {"bin8 length", "c4", 0, 0, "0xc4 at offset 0"},
    {"bin16 length", "c5 00", 0, 0, "0xc5 at offset 0"},
    {"bin32 length", "c6 00 00", 0, 0, "0xc6 at offset 0"},
    {"ext8 length", "c7", 0, 0, "0xc7 at offset 0"},
    {"ext8 type", "c7 01", 0, 0, "truncated"},
    {"ext16 length", "c8 00", 0, 0, "0xc8 at offset 0"},
    {"ext16 type", "c8 00 00", 0, 0, "truncated"},
    {"ext32 length", "c9 00 00 00", 0, 0, "0xc9 at offset 0"},
    {"ext32 type", "c9 00 00 00 00", 0, 0, "truncated"},
    {"fixext1 type", "d4", 0, 0, "truncated"},
    {"fixext1 data", "d4 01", 0, 0, "truncated"},
    {"fixext2 data", "d5 01 02", 0, 0, "truncated"},
    {"fixext4 data", "d6 01 02 03 04", 0, 0, "truncated"},
    {"fixext8 data", "d7 01", 7, 0, "truncated"},
    {"fixext16 data", "d8 01", 15, 0, "truncated"},
    {"array16 count", "dc 00", 0, 0, "0xdc at offset 0"},
    {"array32 count", "dd 00 00 00", 0, 0, "0xdd at offset 0"},
    {"map16 count", "de 00", 0, 0, "0xde at offset 0"},
    {"map32 count", "df 00 00 00", 0, 0, "0xdf at offset 0"},
    {"nested header", "91 cd 01", 0, 0, "truncated"},
    {"nested str8 length", "92 01 d9", 0, 0, "0xd9 at offset 2"},
    /* Payloads cut by the end of the frame. */
    {"fixstr payload", "a5 68 65", 0, 0, "truncated"},
    {"str8 payload", "d9 05 61", 0, 0, "truncated"},
    {"str16 payload", "da 00 05 61", 0, 0, "truncated"},
    {"str32 payload", "db 00 00 00 05 61 62 63 64", 0, 0, "truncated"},
    {"bin8 payload", "c4 02 00", 0, 0, "truncated"},
    {"bin16 payload", "c5 00 02 00", 0, 0, "truncated"},
    {"bin32 payload", "c6 00 00 00 02 00", 0, 0, "truncated"},
    {"ext8 payload", "c7 02 01 00", 0, 0, "truncated"},
    {"ext16 payload", "c8 00 02 01 00", 0, 0, "truncated"},
    {"ext32 payload", "c9 00 00 00 02 01 00", 0, 0, "truncated"},
    {"array element", "93 01 a2 61", 0, 0, "truncated"},
    {"inner array element", "92 91 01", 0, 0, "truncated"},
    {"map value", "82 01 02 03", 0, 0, "map header announces 2 items, only 3 bytes left"},
    {"inner map value", "92 81 01 02", 0, 0, "truncated"},
    /* Reserved byte. */
    {"0xc1", "c1", 0, 0, "bad msgpack byte 0xc1 at offset 0"},
    {"0xc1 nested", "92 01 c1", 0, 0, "bad msgpack byte 0xc1 at offset 2"},
    {"0xc1 as map key", "81 c1 01", 0, 0, "0xc1 at offset 1"},
    /* Trailing bytes. */
    {"two objects", "01 02", 0, 0, "1 trailing bytes"},
    {"three nils", "c0 c0 c0", 0, 0, "2 trailing bytes"},
    {"array then byte", "91 01 00", 0, 0, "1 trailing bytes"},
    {"padding after map", "80", 10, 0, "10 trailing bytes"},
    /* Counts larger than what remains: refused before any allocation. */
    {"array32 4G items", "dd ff ff ff ff", 0, 0, "array of 4294967295 items exceeds 4096"},
    {"array32 16M items", "dd 01 00 00 00 01 02 03", 0, 0, "array of 16777216 items exceeds"},
    {"array32 4096 items, 3 bytes", "dd 00 00 10 00 01 02 03", 0, 0,
     "array header announces 4096 items, only 3 bytes left"},
    {"array16 2 items, 1 byte", "dc 00 02 01", 0, 0, "array header announces 2 items"},
    {"fixarray 15, 14 bytes", "9f", 14, 0xc0, "array header announces 15 items, only 14"},
    {"map32 4G pairs", "df ff ff ff ff", 0, 0, "map of 4294967295 items exceeds 4096"},
    {"map16 65535 pairs", "de ff ff 01 01", 0, 0, "map of 65535 items exceeds"},
    {"map32 2048 pairs, 4095 bytes", "df 00 00 08 00", 4095, 0xc0,
     "map header announces 2048 items, only 4095 bytes left"},
    {"inner array32 huge", "92 01 dd 7f ff ff ff", 0, 0, "array of 2147483647 items"},
    /* Bounds. */
    {"array16 over IL_CODEC_MAX_ITEMS", "dc 10 01", IL_CODEC_MAX_ITEMS + 1, 0xc0,
     "array of 4097 items exceeds 4096"},
    {"map16 over IL_CODEC_MAX_ITEMS", "de 10 01", 2 * (IL_CODEC_MAX_ITEMS + 1), 0xc0,
     "map of 4097 items exceeds 4096"},
    {"str32 over IL_CODEC_MAX_STRING", "db 00 01 00 01", IL_CODEC_MAX_STRING + 1, 'x',
     "string of 65537 bytes exceeds 65536"},
    {"bin32 over IL_CODEC_MAX_STRING", "c6 00 01 00 01", IL_CODEC_MAX_STRING + 1, 0,
     "string of 65537 bytes exceeds 65536"},
    {"ext32 over IL_CODEC_MAX_STRING", "c9 00 01 00 01 01", IL_CODEC_MAX_STRING + 1, 0,
     "string of 65537 bytes exceeds 65536"},
    {"ext8 255 bytes, 254 present", "c7 ff 01", 254, 0, "truncated"},
    {"str32 4G, no payload", "db ff ff ff ff", 0, 0, "exceeds 65536"},
    {"bin32 4G, no payload", "c6 ff ff ff ff", 0, 0, "exceeds 65536"},
    {"ext32 4G, no payload", "c9 ff ff ff ff 01", 0, 0, "exceeds 65536"},
    {"str16 over left", "da ff ff 61", 0, 0, "truncated"},
};

static void test_refused(void **state)
{
    (void)state;
    for (size_t c = 0; c < COUNT(s_refused); c++) {
        const refuse_case_t *r = &s_refused[c];
        frame_t f = s_frame(r->hex, r->pad, r->fill);
        s_refuse(&f, r->expect, r->what);
        s_frame_free(&f);
    }
}

static void test_empty_frame(void **state)
{
    (void)state;
    char err[128] = "";
    assert_int_equal(il_codec_check(NULL, 0, err, sizeof err), -1);
    assert_string_equal(err, "empty frame");
    err[0] = 0;
    assert_int_equal(il_codec_check("x", 0, err, sizeof err), -1);
    assert_string_equal(err, "empty frame");
    err[0] = 0;
    assert_int_equal(il_codec_check(NULL, 5, err, sizeof err), -1);
    assert_string_equal(err, "empty frame");
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    err[0] = 0;
    assert_int_equal(il_codec_unpack(NULL, 0, &up, err, sizeof err), -1);
    assert_string_equal(err, "empty frame");
    assert_null(up.zone);
    msgpack_unpacked_destroy(&up);
    /* A NULL or zero-length err buffer is tolerated. */
    assert_int_equal(il_codec_check(NULL, 0, NULL, 0), -1);
    assert_int_equal(il_codec_check("\xc1", 1, err, 0), -1);
    /* A short err buffer is truncated, not overrun. */
    char small[6];
    memset(small, 'z', sizeof small);
    assert_int_equal(il_codec_check("\xc1", 1, small, 4), -1);
    assert_string_equal(small, "bad");
    assert_int_equal(small[4], 'z');
}

/* Nesting: n containers, one in the other; the innermost holds a nil (or
 * nothing when empty). */
static frame_t s_nested(int n, bool maps, bool empty)
{
    buf_t b = {0};
    for (int i = 0; i < n - 1; i++) {
        if (maps) {
            s_put_byte(&b, 0x81);
            s_put_byte(&b, 0x01); /* key */
        } else {
            s_put_byte(&b, 0x91);
        }
    }
    if (empty)
        s_put_byte(&b, maps ? 0x80 : 0x90);
    else if (maps)
        s_put(&b, "\x81\x01\xc0", 3);
    else
        s_put(&b, "\x91\xc0", 2);
    return s_take(&b);
}

static void test_depth(void **state)
{
    (void)state;
    for (int maps = 0; maps <= 1; maps++) {
        for (int empty = 0; empty <= 1; empty++) {
            char what[96];
            for (int n = 1; n <= IL_CODEC_MAX_DEPTH; n++) {
                snprintf(what, sizeof what, "%d nested %s%s", n, maps ? "maps" : "arrays",
                         empty ? " (innermost empty)" : "");
                frame_t f = s_nested(n, maps, empty);
                msgpack_unpacked up;
                msgpack_unpacked_init(&up);
                s_accept(&f, &up, what);
                /* Walk down to the innermost container. */
                const msgpack_object *o = &up.data;
                for (int level = 1; level < n; level++) {
                    assert_int_equal(o->type, maps ? MSGPACK_OBJECT_MAP : MSGPACK_OBJECT_ARRAY);
                    o = maps ? &o->via.map.ptr[0].val : &o->via.array.ptr[0];
                }
                assert_int_equal(o->type, maps ? MSGPACK_OBJECT_MAP : MSGPACK_OBJECT_ARRAY);
                assert_int_equal(maps ? o->via.map.size : o->via.array.size, empty ? 0 : 1);
                msgpack_unpacked_destroy(&up);
                s_frame_free(&f);
            }
            for (int n = IL_CODEC_MAX_DEPTH + 1; n <= IL_CODEC_MAX_DEPTH + 2; n++) {
                snprintf(what, sizeof what, "%d nested %s%s", n, maps ? "maps" : "arrays",
                         empty ? " (innermost empty)" : "");
                frame_t f = s_nested(n, maps, empty);
                s_refuse(&f, "nesting deeper than 16", what);
                s_frame_free(&f);
            }
        }
    }
    /* Far deeper than msgpack's own stack (32): refused by the check. */
    frame_t f = s_nested(1000, false, false);
    s_refuse(&f, "nesting deeper than", "1000 nested arrays");
    s_frame_free(&f);
}

/* An array of arrays holding nils: 1 + counts + sum(counts) objects. */
static frame_t s_many_objects(size_t inner, const size_t *counts)
{
    buf_t b = {0};
    s_put_byte(&b, 0xdc);
    s_put_be(&b, inner, 2);
    for (size_t i = 0; i < inner; i++) {
        s_put_byte(&b, 0xdc);
        s_put_be(&b, counts[i], 2);
        for (size_t k = 0; k < counts[i]; k++)
            s_put_byte(&b, 0xc0);
    }
    return s_take(&b);
}

static void test_object_count(void **state)
{
    (void)state;
    size_t counts[16];
    for (size_t i = 0; i < 16; i++)
        counts[i] = IL_CODEC_MAX_ITEMS;
    /* 1 + 16 + 15 * 4096 + 4079 = 65536 objects: accepted. */
    counts[15] = IL_CODEC_MAX_OBJECTS - 1 - 16 - 15 * IL_CODEC_MAX_ITEMS;
    assert_int_equal(counts[15], 4079);
    frame_t f = s_many_objects(16, counts);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    s_accept(&f, &up, "exactly IL_CODEC_MAX_OBJECTS objects");
    assert_int_equal(up.data.via.array.size, 16);
    assert_int_equal(up.data.via.array.ptr[15].via.array.size, 4079);
    msgpack_unpacked_destroy(&up);
    s_frame_free(&f);
    /* One more. */
    counts[15]++;
    f = s_many_objects(16, counts);
    s_refuse(&f, "more than 65536 objects", "IL_CODEC_MAX_OBJECTS + 1 objects");
    s_frame_free(&f);
    /* Far more. */
    counts[15] = IL_CODEC_MAX_ITEMS;
    size_t more[20];
    for (size_t i = 0; i < 20; i++)
        more[i] = IL_CODEC_MAX_ITEMS;
    f = s_many_objects(20, more);
    s_refuse(&f, "more than 65536 objects", "81941 objects");
    s_frame_free(&f);
}

/* bin32 objects of given sizes in an array16. */
static frame_t s_bins(size_t n, const size_t *sizes)
{
    buf_t b = {0};
    s_put_byte(&b, 0xdc);
    s_put_be(&b, n, 2);
    for (size_t i = 0; i < n; i++) {
        s_put_byte(&b, 0xc6);
        s_put_be(&b, sizes[i], 4);
        uint8_t *zero = calloc(1, sizes[i] + 1);
        assert_non_null(zero);
        s_put(&b, zero, sizes[i]);
        free(zero);
    }
    return s_take(&b);
}

static void test_frame_size(void **state)
{
    (void)state;
    /* 3 + 16 * 5 + sum(sizes) == IL_CODEC_MAX_FRAME */
    size_t sizes[16];
    for (size_t i = 0; i < 15; i++)
        sizes[i] = IL_CODEC_MAX_STRING;
    sizes[15] = IL_CODEC_MAX_FRAME - 3 - 16 * 5 - 15 * IL_CODEC_MAX_STRING;
    frame_t f = s_bins(16, sizes);
    assert_int_equal(f.size, IL_CODEC_MAX_FRAME);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    s_accept(&f, &up, "frame of IL_CODEC_MAX_FRAME bytes");
    assert_int_equal(up.data.via.array.ptr[15].via.bin.size, sizes[15]);
    msgpack_unpacked_destroy(&up);
    s_frame_free(&f);

    sizes[15]++;
    f = s_bins(16, sizes);
    assert_int_equal(f.size, IL_CODEC_MAX_FRAME + 1);
    s_refuse(&f, "frame of 1048577 bytes exceeds 1048576", "frame of IL_CODEC_MAX_FRAME + 1 bytes");
    s_frame_free(&f);

    /* The size is checked before any byte is read: a huge size with a
     * one-byte buffer is refused without reading it. */
    uint8_t one = 0xc0;
    char err[128] = "";
    assert_int_equal(il_codec_check(&one, (size_t)IL_CODEC_MAX_FRAME * 4, err, sizeof err), -1);
    assert_contains(err, "exceeds 1048576");
}

/* Field readers ------------------------------------------------------------- */

/* A decoded map built by a packer callback; the frame stays alive with it. */
typedef struct {
    frame_t frame;
    msgpack_unpacked up;
} doc_t;

static void s_doc_open(doc_t *doc, msgpack_sbuffer *sb)
{
    doc->frame.data = malloc(sb->size);
    assert_non_null(doc->frame.data);
    memcpy(doc->frame.data, sb->data, sb->size);
    doc->frame.size = sb->size;
    msgpack_sbuffer_destroy(sb);
    msgpack_unpacked_init(&doc->up);
    s_accept(&doc->frame, &doc->up, "document");
    assert_int_equal(doc->up.data.type, MSGPACK_OBJECT_MAP);
}

static void s_doc_close(doc_t *doc)
{
    msgpack_unpacked_destroy(&doc->up);
    s_frame_free(&doc->frame);
}

/* { "v": <string of n bytes> } */
static void s_doc_str(doc_t *doc, const char *bytes, size_t n)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    il_codec_pack_str(&pk, "v");
    msgpack_pack_str(&pk, n);
    msgpack_pack_str_body(&pk, bytes, n);
    s_doc_open(doc, &sb);
}

/* A map of every kind of value, keyed by its kind. */
static void s_doc_kinds(doc_t *doc)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 14);
    il_codec_pack_key_str(&pk, "str", "hello");
    il_codec_pack_key_str(&pk, "empty", "");
    il_codec_pack_key_str(&pk, "nil", NULL);
    il_codec_pack_key_uint(&pk, "zero", 0);
    il_codec_pack_key_uint(&pk, "ten", 10);
    il_codec_pack_key_uint(&pk, "max", UINT64_MAX);
    il_codec_pack_str(&pk, "neg");
    msgpack_pack_int64(&pk, -1);
    il_codec_pack_str(&pk, "float");
    msgpack_pack_double(&pk, 3.0);
    il_codec_pack_key_bool(&pk, "yes", true);
    il_codec_pack_key_bool(&pk, "no", false);
    il_codec_pack_str(&pk, "bin");
    msgpack_pack_bin(&pk, 3);
    msgpack_pack_bin_body(&pk, "abc", 3);
    il_codec_pack_str(&pk, "list");
    msgpack_pack_array(&pk, 1);
    il_codec_pack_str(&pk, "x");
    msgpack_pack_uint8(&pk, 7); /* a non-string key */
    il_codec_pack_str(&pk, "seven");
    il_codec_pack_key_str(&pk, "", "empty key");
    s_doc_open(doc, &sb);
}

static void test_get_str(void **state)
{
    (void)state;
    doc_t doc;
    s_doc_kinds(&doc);
    const msgpack_object *m = &doc.up.data;
    char err[256];
    char *out;

    out = NULL;
    assert_int_equal(il_codec_get_str(m, "str", 100, true, &out, err, sizeof err), 0);
    assert_string_equal(out, "hello");
    free(out);
    out = NULL;
    assert_int_equal(il_codec_get_str(m, "str", 5, false, &out, err, sizeof err), 0);
    assert_string_equal(out, "hello"); /* exactly maxlen */
    free(out);
    out = NULL;
    assert_int_equal(il_codec_get_str(m, "empty", 0, true, &out, err, sizeof err), 0);
    assert_string_equal(out, ""); /* present, even when empty */
    free(out);
    out = NULL;
    assert_int_equal(il_codec_get_str(m, "", 100, true, &out, err, sizeof err), 0);
    assert_string_equal(out, "empty key"); /* an empty key is a key */
    free(out);

    /* Absent (missing or nil). */
    const char *absent[] = {"missing", "nil", "st", "str ", "seven", "7"};
    for (size_t i = 0; i < COUNT(absent); i++) {
        char *sentinel = (char *)"unchanged";
        out = sentinel;
        err[0] = 0;
        assert_int_equal(il_codec_get_str(m, absent[i], 100, true, &out, err, sizeof err), -1);
        assert_ptr_equal(out, sentinel);
        char expect[64];
        snprintf(expect, sizeof expect, "%s: missing", absent[i]);
        assert_string_equal(err, expect);
        assert_int_equal(il_codec_get_str(m, absent[i], 100, false, &out, err, sizeof err), 0);
        assert_null(out);
    }

    /* Wrong type. */
    const char *wrong[] = {"ten", "neg", "float", "yes", "bin", "list", "zero"};
    for (size_t i = 0; i < COUNT(wrong); i++) {
        char *sentinel = (char *)"unchanged";
        for (int required = 0; required <= 1; required++) {
            out = sentinel;
            err[0] = 0;
            assert_int_equal(il_codec_get_str(m, wrong[i], 100, required, &out, err, sizeof err),
                             -1);
            assert_ptr_equal(out, sentinel);
            char expect[64];
            snprintf(expect, sizeof expect, "%s: expected a string", wrong[i]);
            assert_string_equal(err, expect);
        }
    }

    /* Too long. */
    out = NULL;
    err[0] = 0;
    assert_int_equal(il_codec_get_str(m, "str", 4, false, &out, err, sizeof err), -1);
    assert_null(out);
    assert_string_equal(err, "str: string of 5 bytes exceeds 4");

    /* Not a map. */
    const msgpack_object *list = il_codec_map_get(m, "list");
    err[0] = 0;
    assert_int_equal(il_codec_get_str(list, "x", 10, true, &out, err, sizeof err), -1);
    assert_contains(err, "x: missing");
    s_doc_close(&doc);
}

typedef struct {
    const char *what;
    const char *bytes;
    size_t size;
} text_case_t;

#define T(what, s)                                                                                 \
    {                                                                                              \
        what, s, sizeof(s) - 1                                                                     \
    }
static const text_case_t s_bad_text[] = {
    T("overlong '/' in 2 bytes", "\xc0\xaf"),
    T("overlong NUL in 2 bytes", "a\xc0\x80"),
    T("overlong 0x7f in 2 bytes", "\xc1\xbf"),
    T("overlong in 3 bytes", "\xe0\x80\xaf"),
    T("overlong U+07FF in 3 bytes", "\xe0\x9f\xbf"),
    T("overlong in 4 bytes", "\xf0\x80\x80\xaf"),
    T("overlong U+FFFF in 4 bytes", "\xf0\x8f\xbf\xbf"),
    T("surrogate U+D800", "\xed\xa0\x80"),
    T("surrogate U+DFFF", "x\xed\xbf\xbfx"),
    T("above U+10FFFF", "\xf4\x90\x80\x80"),
    T("5-byte lead", "\xf8\x88\x80\x80\x80"),
    T("0xff", "ab\xff"),
    T("lone continuation", "\x80"),
    T("continuation after ASCII", "a\xbf"),
    T("truncated 2-byte at end", "abc\xc3"),
    T("truncated 3-byte at end", "\xe2\x82"),
    T("truncated 4-byte at end", "\xf0\x9f\x98"),
    T("truncated 3-byte mid", "\xe2\x82x"),
    T("truncated 4-byte mid", "\xf0\x9f\x98 "),
    T("2-byte lead then lead", "\xc3\xc3\xa9"),
    T("NUL", "a\0b"),
    T("only NUL", "\0"),
    T("tab", "a\tb"),
    T("newline", "line\n"),
    T("carriage return", "\r"),
    T("escape", "\x1b[31m"),
    T("0x01", "\x01"),
    T("0x1f", "\x1f"),
    T("DEL", "\x7f"),
};

static const text_case_t s_good_text[] = {
    T("ASCII", "plain text ~!"),
    T("space", " "),
    T("2-byte e-acute", "caf\xc3\xa9"),
    T("2-byte U+00A0", "\xc2\xa0"),
    T("2-byte last U+07FF", "\xdf\xbf"),
    T("3-byte first U+0800", "\xe0\xa0\x80"),
    T("3-byte euro", "\xe2\x82\xac"),
    T("3-byte U+D7FF below surrogates", "\xed\x9f\xbf"),
    T("3-byte U+E000 above surrogates", "\xee\x80\x80"),
    T("3-byte U+FFFF", "\xef\xbf\xbf"),
    T("4-byte first U+10000", "\xf0\x90\x80\x80"),
    T("4-byte G clef", "\xf0\x9d\x84\x9e"),
    T("4-byte last U+10FFFF", "\xf4\x8f\xbf\xbf"),
    T("mixed", "\xce\xb1\xce\xb2 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80!"),
};
#undef T

static void test_get_str_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(s_bad_text); i++) {
        doc_t doc;
        s_doc_str(&doc, s_bad_text[i].bytes, s_bad_text[i].size);
        char err[256] = "";
        char *out = NULL;
        if (il_codec_get_str(&doc.up.data, "v", 100, true, &out, err, sizeof err) == 0) {
            free(out);
            fail_msg("%s: accepted", s_bad_text[i].what);
        }
        assert_null(out);
        assert_string_equal(err, "v: not UTF-8 text (or contains control characters)");
        /* il_codec_str_copy refuses it too, naming its label. */
        const msgpack_object *v = il_codec_map_get(&doc.up.data, "v");
        assert_int_equal(il_codec_str_copy(v, "label[3]", 100, &out, err, sizeof err), -1);
        assert_null(out);
        assert_contains(err, "label[3]: not UTF-8");
        s_doc_close(&doc);
    }
    for (size_t i = 0; i < COUNT(s_good_text); i++) {
        doc_t doc;
        s_doc_str(&doc, s_good_text[i].bytes, s_good_text[i].size);
        char err[256] = "";
        char *out = NULL;
        if (il_codec_get_str(&doc.up.data, "v", 100, true, &out, err, sizeof err) != 0)
            fail_msg("%s: refused: %s", s_good_text[i].what, err);
        assert_int_equal(strlen(out), s_good_text[i].size);
        assert_memory_equal(out, s_good_text[i].bytes, s_good_text[i].size);
        free(out);
        /* maxlen counts bytes, not characters. */
        out = NULL;
        assert_int_equal(il_codec_get_str(&doc.up.data, "v", s_good_text[i].size - 1, true, &out,
                                          err, sizeof err),
                         -1);
        assert_null(out);
        assert_contains(err, "v: string of");
        s_doc_close(&doc);
    }
}

typedef struct {
    const char *key;
    uint64_t min, max;
    bool required;
    int rc;
    uint64_t value; /* when rc == 0 */
} uint_case_t;

static const uint_case_t s_uints[] = {
    {"ten", 10, 10, true, 0, 10},
    {"ten", 0, 10, true, 0, 10},
    {"ten", 10, 100, true, 0, 10},
    {"ten", 11, 100, true, -1, 0},
    {"ten", 0, 9, true, -1, 0},
    {"ten", 0, 9, false, -1, 0}, /* present: bounds apply even when optional */
    {"zero", 0, 5, true, 0, 0},
    {"zero", 1, 5, true, -1, 0},
    {"max", 0, UINT64_MAX, true, 0, UINT64_MAX},
    {"max", 0, UINT64_MAX - 1, true, -1, 0},
    {"neg", 0, 100, true, -1, 0},
    {"neg", 0, UINT64_MAX, false, -1, 0},
    {"float", 0, 100, true, -1, 0},
    {"str", 0, 100, true, -1, 0},
    {"yes", 0, 100, true, -1, 0},
    {"bin", 0, 100, true, -1, 0},
    {"list", 0, 100, true, -1, 0},
    {"missing", 0, 100, true, -1, 0},
    {"nil", 0, 100, true, -1, 0},
    {"missing", 0, 100, false, 0, 42}, /* the default, even outside the bounds */
    {"nil", 200, 300, false, 0, 42},
};

static void test_get_uint(void **state)
{
    (void)state;
    doc_t doc;
    s_doc_kinds(&doc);
    for (size_t i = 0; i < COUNT(s_uints); i++) {
        const uint_case_t *c = &s_uints[i];
        char err[256] = "";
        uint64_t out = 12345;
        int rc = il_codec_get_uint(&doc.up.data, c->key, c->min, c->max, c->required, 42, &out, err,
                                   sizeof err);
        if (rc != c->rc)
            fail_msg("case %zu (%s): rc %d, expected %d (%s)", i, c->key, rc, c->rc, err);
        if (rc == 0) {
            assert_true(out == c->value);
            continue;
        }
        assert_true(out == 12345); /* untouched on failure */
        char expect[128];
        if (!strcmp(c->key, "missing") || !strcmp(c->key, "nil"))
            snprintf(expect, sizeof expect, "%s: missing", c->key);
        else
            snprintf(expect, sizeof expect, "%s: expected an integer from %llu to %llu", c->key,
                     (unsigned long long)c->min, (unsigned long long)c->max);
        assert_string_equal(err, expect);
    }
    s_doc_close(&doc);
}

static void test_get_bool(void **state)
{
    (void)state;
    doc_t doc;
    s_doc_kinds(&doc);
    const msgpack_object *m = &doc.up.data;
    char err[256] = "";
    bool out = false;
    assert_int_equal(il_codec_get_bool(m, "yes", false, &out, err, sizeof err), 0);
    assert_true(out);
    assert_int_equal(il_codec_get_bool(m, "no", true, &out, err, sizeof err), 0);
    assert_false(out);
    for (int dflt = 0; dflt <= 1; dflt++) {
        out = !dflt;
        assert_int_equal(il_codec_get_bool(m, "missing", dflt, &out, err, sizeof err), 0);
        assert_int_equal(out, dflt);
        out = !dflt;
        assert_int_equal(il_codec_get_bool(m, "nil", dflt, &out, err, sizeof err), 0);
        assert_int_equal(out, dflt);
    }
    const char *wrong[] = {"ten", "zero", "str", "empty", "neg", "float", "bin", "list"};
    for (size_t i = 0; i < COUNT(wrong); i++) {
        out = true;
        err[0] = 0;
        assert_int_equal(il_codec_get_bool(m, wrong[i], false, &out, err, sizeof err), -1);
        assert_true(out); /* untouched */
        char expect[64];
        snprintf(expect, sizeof expect, "%s: expected a boolean", wrong[i]);
        assert_string_equal(err, expect);
    }
    s_doc_close(&doc);
}

/* Error messages are bounded by errlen and still name the key when they fit. */
static void test_error_truncation(void **state)
{
    (void)state;
    doc_t doc;
    s_doc_kinds(&doc);
    char err[8];
    memset(err, 'z', sizeof err);
    uint64_t n = 0;
    assert_int_equal(il_codec_get_uint(&doc.up.data, "str", 0, 1, true, 0, &n, err, 5), -1);
    assert_string_equal(err, "str:");
    assert_int_equal(err[5], 'z');
    assert_int_equal(il_codec_get_uint(&doc.up.data, "str", 0, 1, true, 0, &n, NULL, 0), -1);
    s_doc_close(&doc);
}

/* The writers pack each key and value in one piece: the bytes must be what
 * msgpack-c's own calls write, at every size boundary. */
static void test_writers_bytes(void **state)
{
    (void)state;
    static const size_t lengths[] = {0, 1, 31, 32, 255, 256, 270, 287, 288, 300, 65535, 65536};
    static const uint64_t values[] = {
        0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, UINT64_MAX - 1, UINT64_MAX};
    char *text = malloc(65537);
    assert_non_null(text);
    memset(text, 'k', 65536);
    msgpack_sbuffer a, b;
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    msgpack_packer pa, pb;
    msgpack_packer_init(&pa, &a, msgpack_sbuffer_write);
    msgpack_packer_init(&pb, &b, msgpack_sbuffer_write);
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        for (size_t j = 0; j < sizeof lengths / sizeof lengths[0]; j++) {
            char *key = strndup(text, lengths[i]), *value = strndup(text, lengths[j]);
            assert_non_null(key);
            assert_non_null(value);
            msgpack_sbuffer_clear(&a);
            msgpack_sbuffer_clear(&b);
            il_codec_pack_str(&pa, value);
            il_codec_pack_key_str(&pa, key, value);
            il_codec_pack_key_str(&pa, key, NULL);
            il_codec_pack_key_uint(&pa, key, values[j]);
            il_codec_pack_key_bool(&pa, key, j % 2);
            msgpack_pack_str_with_body(&pb, value, lengths[j]);
            msgpack_pack_str_with_body(&pb, key, lengths[i]);
            msgpack_pack_str_with_body(&pb, value, lengths[j]);
            msgpack_pack_str_with_body(&pb, key, lengths[i]);
            msgpack_pack_nil(&pb);
            msgpack_pack_str_with_body(&pb, key, lengths[i]);
            msgpack_pack_uint64(&pb, values[j]);
            msgpack_pack_str_with_body(&pb, key, lengths[i]);
            if (j % 2)
                msgpack_pack_true(&pb);
            else
                msgpack_pack_false(&pb);
            if (a.size != b.size || memcmp(a.data, b.data, a.size))
                fail_msg("key of %zu bytes, value of %zu bytes, uint %llu: other bytes", lengths[i],
                         lengths[j], (unsigned long long)values[j]);
            free(key);
            free(value);
        }
    }
    msgpack_sbuffer_clear(&a);
    il_codec_pack_str(&pa, NULL);
    assert_int_equal(a.size, 1);
    assert_int_equal((unsigned char)a.data[0], 0xc0);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
    free(text);
}

/* il_codec_unpack_zone decodes in one pass what il_codec_check and msgpack-c did in
 * two: on random frames (packed structures, then mutated bytes) it must give
 * il_codec_check's verdict and reason, and msgpack-c's objects. */
static uint64_t s_rand_state = 0x9e3779b97f4a7c15ULL;
static uint32_t s_rand(void)
{
    s_rand_state ^= s_rand_state << 13;
    s_rand_state ^= s_rand_state >> 7;
    s_rand_state ^= s_rand_state << 17;
    return (uint32_t)s_rand_state;
}

static void s_pack_random(msgpack_packer *pk, int depth)
{
    static const char *const texts[] = {
        "", "a", "name", "public_ip", "x.example.org", "0123456789012345678901234567890123456789"};
    switch (s_rand() % (depth < 5 ? 12 : 9)) {
    case 0:
        msgpack_pack_nil(pk);
        break;
    case 1:
        if (s_rand() % 2)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        break;
    case 2:
        msgpack_pack_uint64(pk, (uint64_t)s_rand() << (s_rand() % 33));
        break;
    case 3:
        msgpack_pack_int64(pk, -(int64_t)(s_rand() >> (s_rand() % 32)) - 1);
        break;
    case 4:
        msgpack_pack_double(pk, (double)s_rand() / 7.0);
        break;
    case 5:
        msgpack_pack_float(pk, (float)s_rand() / 3.0f);
        break;
    case 6: {
        const char *t = texts[s_rand() % 6];
        msgpack_pack_str_with_body(pk, t, strlen(t));
        break;
    }
    case 7:
        msgpack_pack_bin_with_body(pk, "\x01\x02\x03", s_rand() % 4);
        break;
    case 8: {
        static const size_t ext_sizes[] = {1, 2, 3, 4, 8, 16, 17};
        char body[17] = {0};
        size_t n = ext_sizes[s_rand() % 7];
        msgpack_pack_ext_with_body(pk, body, n, (int8_t)(s_rand() % 100));
        break;
    }
    case 9:
    case 10: {
        uint32_t n = s_rand() % 5;
        msgpack_pack_map(pk, n);
        for (uint32_t i = 0; i < n; i++) {
            const char *t = texts[s_rand() % 6];
            msgpack_pack_str_with_body(pk, t, strlen(t));
            s_pack_random(pk, depth + 1);
        }
        break;
    }
    default: {
        uint32_t n = s_rand() % 5;
        msgpack_pack_array(pk, n);
        for (uint32_t i = 0; i < n; i++)
            s_pack_random(pk, depth + 1);
        break;
    }
    }
}

/* msgpack_object_equal, except that a NaN equals a NaN (a mutated float may be one). */
static bool s_same(const msgpack_object *a, const msgpack_object *b)
{
    if (a->type != b->type) return false;
    switch (a->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return (isnan(a->via.f64) && isnan(b->via.f64)) || a->via.f64 == b->via.f64;
    case MSGPACK_OBJECT_ARRAY:
        if (a->via.array.size != b->via.array.size) return false;
        for (uint32_t i = 0; i < a->via.array.size; i++)
            if (!s_same(&a->via.array.ptr[i], &b->via.array.ptr[i])) return false;
        return true;
    case MSGPACK_OBJECT_MAP:
        if (a->via.map.size != b->via.map.size) return false;
        for (uint32_t i = 0; i < a->via.map.size; i++)
            if (!s_same(&a->via.map.ptr[i].key, &b->via.map.ptr[i].key) ||
                !s_same(&a->via.map.ptr[i].val, &b->via.map.ptr[i].val))
                return false;
        return true;
    default:
        return msgpack_object_equal(*a, *b);
    }
}

static void test_one_pass_decoder(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_zone zone;
    assert_true(msgpack_zone_init(&zone, 1024));
    int accepted = 0, refused = 0;
    for (int round = 0; round < 30000; round++) {
        msgpack_sbuffer_clear(&sb);
        s_pack_random(&pk, 0);
        uint8_t *data = malloc(sb.size + 8);
        assert_non_null(data);
        memcpy(data, sb.data, sb.size);
        size_t size = sb.size;
        int mutations = round % 3 == 0 ? 0 : (int)(s_rand() % 4);
        for (int m = 0; m < mutations && size > 0; m++) {
            switch (s_rand() % 3) {
            case 0:
                data[s_rand() % size] = (uint8_t)s_rand();
                break;
            case 1:
                size -= s_rand() % size / 2 + 1; /* cut */
                break;
            default:
                data[size++] = (uint8_t)s_rand(); /* a trailing byte */
                break;
            }
        }
        char err1[256] = "", err2[256] = "";
        int rc1 = il_codec_check(data, size, err1, sizeof err1);
        msgpack_zone_clear(&zone);
        msgpack_object ours;
        int rc2 = il_codec_unpack_zone(data, size, &zone, &ours, err2, sizeof err2);
        if (rc1 != rc2 || strcmp(err1, err2))
            fail_msg("round %d (%zu bytes): il_codec_check %d '%s', il_codec_unpack_zone %d '%s'",
                     round, size, rc1, err1, rc2, err2);
        if (rc1 == 0) {
            msgpack_unpacked theirs;
            msgpack_unpacked_init(&theirs);
            size_t off = 0;
            assert_int_equal(msgpack_unpack_next(&theirs, (const char *)data, size, &off),
                             MSGPACK_UNPACK_SUCCESS);
            if (!s_same(&ours, &theirs.data))
                fail_msg("round %d: objects differ from msgpack-c's", round);
            msgpack_unpacked_destroy(&theirs);
            accepted++;
        } else {
            refused++;
        }
        free(data);
    }
    assert_true(accepted > 10000 && refused > 5000);
    /* Containers that announce more objects than a frame may hold: refused
     * with il_codec_check's reason, after bounded allocation. */
    size_t size = 16 * 3 + 70000;
    uint8_t *big = malloc(size);
    assert_non_null(big);
    for (int d = 0; d < 16; d++)
        memcpy(big + 3 * d, "\xdc\x10\x00", 3);
    memset(big + 48, 0xc0, size - 48);
    char err1[256] = "", err2[256] = "";
    msgpack_object obj;
    assert_int_equal(il_codec_check(big, size, err1, sizeof err1), -1);
    msgpack_zone_clear(&zone);
    assert_int_equal(il_codec_unpack_zone(big, size, &zone, &obj, err2, sizeof err2), -1);
    assert_string_equal(err1, err2);
    free(big);
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&sb);
}

/* il_codec_map_find: several keys in one scan, the first occurrence of each. */
static void test_map_find(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    il_codec_pack_key_uint(&pk, "b", 1);
    msgpack_pack_uint64(&pk, 7); /* a key that is not a string */
    msgpack_pack_uint64(&pk, 8);
    il_codec_pack_key_uint(&pk, "a", 2);
    il_codec_pack_key_uint(&pk, "b", 3); /* a second "b": the first counts */
    il_codec_pack_key_str(&pk, "", "empty key");
    il_codec_pack_key_str(&pk, "n", NULL);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    char err[128] = "";
    assert_int_equal(il_codec_unpack(sb.data, sb.size, &up, err, sizeof err), 0);
    static const char *const keys[] = {"a", "b", "c", "", "n"};
    const msgpack_object *v[5];
    il_codec_map_find(&up.data, keys, 5, v);
    assert_int_equal(v[0]->via.u64, 2);
    assert_int_equal(v[1]->via.u64, 1);
    assert_null(v[2]);
    assert_int_equal(v[3]->type, MSGPACK_OBJECT_STR);
    assert_int_equal(v[4]->type, MSGPACK_OBJECT_NIL);
    /* The readers on found values: nil is absent. */
    char *text = (char *)"untouched";
    assert_int_equal(il_codec_value_str(v[4], "n", 10, false, &text, err, sizeof err), 0);
    assert_null(text);
    assert_int_equal(il_codec_value_str(v[2], "c", 10, true, &text, err, sizeof err), -1);
    assert_string_equal(err, "c: missing");
    uint64_t n = 0;
    assert_int_equal(il_codec_value_uint(v[1], "b", 0, 5, true, 0, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    bool flag = true;
    assert_int_equal(il_codec_value_bool(v[4], "n", false, &flag, err, sizeof err), 0);
    assert_false(flag);
    assert_int_equal(il_codec_value_bool(v[0], "a", false, &flag, err, sizeof err), -1);
    assert_string_equal(err, "a: expected a boolean");
    /* Not a map: nothing found. */
    il_codec_map_find(&up.data.via.map.ptr[0].val, keys, 5, v);
    for (int i = 0; i < 5; i++)
        assert_null(v[i]);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_formats), cmocka_unit_test(test_packer_round_trip),
        cmocka_unit_test(test_refused),       cmocka_unit_test(test_empty_frame),
        cmocka_unit_test(test_depth),         cmocka_unit_test(test_object_count),
        cmocka_unit_test(test_frame_size),    cmocka_unit_test(test_get_str),
        cmocka_unit_test(test_get_str_text),  cmocka_unit_test(test_get_uint),
        cmocka_unit_test(test_get_bool),      cmocka_unit_test(test_error_truncation),
        cmocka_unit_test(test_writers_bytes), cmocka_unit_test(test_one_pass_decoder),
        cmocka_unit_test(test_map_find),
    };
    return test_run_group(tests, NULL, NULL);
}
