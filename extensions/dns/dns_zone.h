/* dns_zone: which configured zone a DNS name belongs to. Names and zones are
 * compared lower-case, without a trailing dot, on label boundaries
 * ("badexample.com" is not in "example.com"); the longest zone wins, so a
 * delegated "lab.example.com" beside "example.com" gets its own names. */
#ifndef INTERLOOK_DNS_ZONE_H
#define INTERLOOK_DNS_ZONE_H

#include <stdbool.h>
#include <stddef.h>

/* The normal form of a name (lower-case, no trailing dot), newly allocated.
 * NULL with the reason in err for an empty name, an empty label, a label
 * longer than 63 or a name longer than 253 characters. */
char *dns_zone_normalize(const char *name, char *err, size_t errlen);

/* The longest of zones[0..count) (normal form) that name is in or equal to,
 * or NULL. name is compared case-insensitively, a trailing dot ignored. */
const char *dns_zone_match(const char *const *zones, size_t count, const char *name);

#endif
