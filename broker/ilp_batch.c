/* ilp_batch: the builder of batched ILP/1 bodies, see ilp_batch.h. */
#include "broker/ilp_batch.h"
#include "broker/ilp_msg.h"

#define S_BATCH_HEAD 3 /* an array16 header: 0xdc and a big-endian count */

void ilp_batch_init(ilp_batch_t *self)
{
    msgpack_sbuffer_init(&self->buf);
    self->count = 0;
}

void ilp_batch_destroy(ilp_batch_t *self)
{
    msgpack_sbuffer_destroy(&self->buf);
    self->count = 0;
}

void ilp_batch_clear(ilp_batch_t *self)
{
    msgpack_sbuffer_clear(&self->buf);
    self->count = 0;
}

bool ilp_batch_fits(const ilp_batch_t *self, size_t size)
{
    if (self->count == 0) return true;
    return self->count < ILP_MAX_BATCH && self->buf.size + size <= ILP_BATCH_BYTES;
}

int ilp_batch_add(ilp_batch_t *self, const void *item, size_t size)
{
    static const char room[S_BATCH_HEAD] = {0};
    if (self->count == 0) msgpack_sbuffer_clear(&self->buf); /* also after a failed add */
    if (self->count == 0 && msgpack_sbuffer_write(&self->buf, room, S_BATCH_HEAD) != 0) return -1;
    if (msgpack_sbuffer_write(&self->buf, item, size) != 0) return -1;
    self->count++;
    return 0;
}

const void *ilp_batch_body(ilp_batch_t *self, size_t *size)
{
    if (self->count == 0) return NULL;
    if (self->count == 1) { /* the map alone: what every receiver takes */
        *size = self->buf.size - S_BATCH_HEAD;
        return self->buf.data + S_BATCH_HEAD;
    }
    return ilp_batch_array(self, size);
}

const void *ilp_batch_array(ilp_batch_t *self, size_t *size)
{
    if (self->count == 0) return NULL;
    unsigned char *head = (unsigned char *)self->buf.data;
    head[0] = 0xdc;
    head[1] = (unsigned char)(self->count >> 8);
    head[2] = (unsigned char)(self->count & 0xff);
    *size = self->buf.size;
    return self->buf.data;
}
