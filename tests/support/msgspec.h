/* msgspec: msgpack test input written as text, so that a test shows the
 * bytes it feeds a decoder: nil, true, false, integers (-5, 70000), decimals
 * (1.5, packed as float64), 'strings' ('x'*300 for 300 copies of the text),
 * [arrays] and {key: value} maps; "hex:c1 00" gives raw bytes. A malformed
 * spec is said on stderr and refused (NULL or -1), for the test to fail. */
#ifndef INTERLOOK_MSGSPEC_H
#define INTERLOOK_MSGSPEC_H

#include <czmq.h>
#include <msgpack.h>

/* Packs the one value spec describes (no "hex:"). Returns 0 or -1. */
int msgspec_pack(msgpack_packer *pk, const char *spec);

/* The bytes of spec (a value, or "hex:" bytes) as a new frame; NULL when
 * spec is malformed. */
zframe_t *msgspec_frame(const char *spec);

#endif
