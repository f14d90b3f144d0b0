/* dns_zone: zone membership of names, see dns_zone.h. */
#include "extensions/dns/dns_zone.h"

#include <interlook.h>

#include <ctype.h>
#include <string.h>
#include <strings.h>

char *dns_zone_normalize(const char *name, char *err, size_t errlen)
{
    size_t len = name ? strlen(name) : 0;
    if (len > 0 && name[len - 1] == '.') len--;
    if (len == 0) {
        il_err(err, errlen, "empty name");
        return NULL;
    }
    if (len > 253) {
        il_err(err, errlen, "longer than 253 characters: '%s'", name);
        return NULL;
    }
    char *out = il_malloc(len + 1);
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '.') {
            if (label == 0) {
                free(out);
                il_err(err, errlen, "'%s': an empty label", name);
                return NULL;
            }
            label = 0;
        } else if (++label > 63) {
            free(out);
            il_err(err, errlen, "'%s': a label longer than 63 characters", name);
            return NULL;
        } else if ((unsigned char)c < 0x21 || c == 0x7f || c == '\\') {
            free(out);
            il_err(err, errlen, "'%s': a blank, control character or backslash", name);
            return NULL;
        }
        out[i] = (char)tolower((unsigned char)c);
    }
    out[len] = '\0';
    return out;
}

const char *dns_zone_match(const char *const *zones, size_t count, const char *name)
{
    if (!name) return NULL;
    size_t len = strlen(name);
    if (len > 0 && name[len - 1] == '.') len--;
    const char *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < count; i++) {
        size_t zlen = strlen(zones[i]);
        if (zlen > len || (best && zlen <= best_len)) continue;
        const char *tail = name + (len - zlen);
        if (strncasecmp(tail, zones[i], zlen) != 0) continue;
        if (zlen < len && tail[-1] != '.') continue; /* label boundary */
        best = zones[i];
        best_len = zlen;
    }
    return best;
}
