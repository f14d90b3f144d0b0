/* msgspec: msgpack test input written as text, see msgspec.h. */
#include "tests/support/msgspec.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_skip_space(const char *p)
{
    while (*p == ' ' || *p == '\n')
        p++;
    return p;
}

static const char *s_bad(const char *what, const char *at)
{
    fprintf(stderr, "msgspec: %s at '%s'\n", what, at);
    return NULL;
}

/* Parses one value at p; packs it when pk is not NULL. Returns the end, or
 * NULL (said on stderr) when p is not a value. */
static const char *s_value(msgpack_packer *pk, const char *p)
{
    p = s_skip_space(p);
    if (*p == '[' || *p == '{') {
        bool map = *p == '{';
        char close = map ? '}' : ']';
        /* First pass: count the elements. */
        uint32_t count = 0;
        const char *q = s_skip_space(p + 1);
        while (*q != close) {
            if (!(q = s_value(NULL, q))) return NULL;
            if (map) {
                q = s_skip_space(q);
                if (*q++ != ':') return s_bad("':' expected", q - 1);
                if (!(q = s_value(NULL, q))) return NULL;
            }
            count++;
            q = s_skip_space(q);
            if (*q == ',')
                q = s_skip_space(q + 1);
            else if (*q != close)
                return s_bad(map ? "',' or '}' expected" : "',' or ']' expected", q);
        }
        if (pk) {
            if (map)
                msgpack_pack_map(pk, count);
            else
                msgpack_pack_array(pk, count);
            q = s_skip_space(p + 1);
            for (uint32_t i = 0; i < count; i++) {
                q = s_value(pk, q);
                if (map) q = s_value(pk, s_skip_space(q) + 1);
                q = s_skip_space(q);
                if (*q == ',') q++;
            }
        }
        return q + 1;
    }
    if (*p == '\'') {
        const char *end = strchr(p + 1, '\'');
        if (!end) return s_bad("unterminated string", p);
        size_t len = (size_t)(end - p - 1);
        unsigned long times = 1;
        const char *after = end + 1;
        if (*after == '*') times = strtoul(after + 1, (char **)&after, 10);
        if (pk) {
            msgpack_pack_str(pk, len * times);
            for (unsigned long i = 0; i < times; i++)
                msgpack_pack_str_body(pk, p + 1, len);
        }
        return after;
    }
    if (!strncmp(p, "nil", 3) || !strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
        if (pk) {
            if (*p == 'n')
                msgpack_pack_nil(pk);
            else if (*p == 't')
                msgpack_pack_true(pk);
            else
                msgpack_pack_false(pk);
        }
        return p + (*p == 'f' ? 5 : 4) - (*p == 'n');
    }
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        char *end;
        size_t digits = strspn(p + (*p == '-'), "0123456789");
        if (p[(*p == '-') + digits] == '.') {
            double d = strtod(p, &end);
            if (pk) msgpack_pack_double(pk, d);
        } else if (*p == '-') {
            long long v = strtoll(p, &end, 10);
            if (pk) msgpack_pack_int64(pk, v);
        } else {
            unsigned long long v = strtoull(p, &end, 10);
            if (pk) msgpack_pack_uint64(pk, v);
        }
        return end;
    }
    return s_bad("unexpected", p);
}

int msgspec_pack(msgpack_packer *pk, const char *spec)
{
    /* Checked whole before anything is packed: no half value on failure. */
    const char *end = s_value(NULL, spec);
    if (!end) return -1;
    if (*s_skip_space(end)) {
        s_bad("trailing text", s_skip_space(end));
        return -1;
    }
    s_value(pk, spec);
    return 0;
}

zframe_t *msgspec_frame(const char *spec)
{
    if (!strncmp(spec, "hex:", 4)) {
        uint8_t bytes[256];
        size_t n = 0;
        for (const char *p = spec + 4; *p;) {
            if (*p == ' ') {
                p++;
                continue;
            }
            unsigned int byte;
            if (n == sizeof bytes || sscanf(p, "%2x", &byte) != 1) {
                s_bad("bad hex", p);
                return NULL;
            }
            bytes[n++] = (uint8_t)byte;
            p += 2;
        }
        return zframe_new(n ? bytes : NULL, n);
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    zframe_t *frame = msgspec_pack(&pk, spec) == 0 ? zframe_new(sb.data, sb.size) : NULL;
    msgpack_sbuffer_destroy(&sb);
    return frame;
}
