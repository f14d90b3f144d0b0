/* ilp_batch: builds a batched ILP/1 body (docs/protocol.md §2.3): items (each
 * a packed map) appended one by one, sent as that map alone when there is
 * one, as an array of them otherwise. One builder is kept and reused by a
 * sender, so it owns its buffer and is embedded, not allocated. */
#ifndef INTERLOOK_ILP_BATCH_H
#define INTERLOOK_ILP_BATCH_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#define ILP_BATCH_BYTES                                                                            \
    65536 /* senders keep a batched body below this (so below 65536 objects)                       \
           */

typedef struct {
    msgpack_sbuffer buf; /* room for an array header, then the items */
    size_t count;        /* items in buf */
} ilp_batch_t;

void ilp_batch_init(ilp_batch_t *self);
void ilp_batch_destroy(ilp_batch_t *self);
void ilp_batch_clear(ilp_batch_t *self);
/* True when an item of size bytes still fits (ILP_MAX_BATCH, ILP_BATCH_BYTES);
 * an empty batch takes any one item. */
bool ilp_batch_fits(const ilp_batch_t *self, size_t size);
/* Appends one packed map. Returns -1 when out of memory. */
int ilp_batch_add(ilp_batch_t *self, const void *item, size_t size);
/* The body to send (valid until the batch changes); NULL when empty. */
const void *ilp_batch_body(ilp_batch_t *self, size_t *size);
/* The same, an array even for one item (the "changes" publication). */
const void *ilp_batch_array(ilp_batch_t *self, size_t *size);

#endif
