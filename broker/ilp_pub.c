/* ilp_pub: the ILP/1 PUB messages, see ilp_pub.h and docs/protocol.md. */
#include "broker/ilp_pub.h"
#include "common/codec.h"

#include <string.h>

static zmsg_t *s_pub(const char *topic, msgpack_sbuffer *buf)
{
    zmsg_t *zmsg = zmsg_new();
    zmsg_addstr(zmsg, topic);
    zmsg_addmem(zmsg, buf->data, buf->size);
    msgpack_sbuffer_destroy(buf);
    return zmsg;
}

zmsg_t *ilp_pub_refresh(const char *extension, const char *service_name)
{
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    il_codec_pack_str(&pk, "service");
    msgpack_pack_map(&pk, 1);
    il_codec_pack_key_str(&pk, "name", service_name);
    char topic[ILP_MAX_EXT_NAME + 16];
    snprintf(topic, sizeof topic, "refresh.%s", extension);
    return s_pub(topic, &buf);
}

/* A state publication's body is {service, state, expected_state, error}:
 * the caller writes the service between these two. */
static void s_pub_state_head(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 4);
    il_codec_pack_str(pk, "service");
}

static void s_pub_state_tail(msgpack_packer *pk, const char *state, const char *expected,
                             const char *error)
{
    il_codec_pack_key_str(pk, "state", state);
    il_codec_pack_key_str(pk, "expected_state", expected);
    il_codec_pack_key_str(pk, "error", error);
}

void ilp_pub_pack_state(msgpack_sbuffer *buf, const char *service, size_t service_len,
                        const char *state, const char *expected, const char *error)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(buf);
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    s_pub_state_head(&pk);
    il_codec_pack_raw(&pk, service, service_len);
    s_pub_state_tail(&pk, state, expected, error);
}

zmsg_t *ilp_pub_state(const il_service_t *service, const char *state, const char *expected,
                      const char *error)
{
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    s_pub_state_head(&pk);
    il_service_pack(service, &pk);
    s_pub_state_tail(&pk, state, expected, error);
    return s_pub("state", &buf);
}

zmsg_t *ilp_pub_core(const char *event, const char *core_id)
{
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    il_codec_pack_key_str(&pk, "event", event);
    il_codec_pack_key_str(&pk, "core_id", core_id);
    return s_pub("core", &buf);
}

zframe_t *ilp_pub_decode(zmsg_t *zmsg, char **topic, msgpack_unpacked *out, char *err,
                         size_t errlen)
{
    if (!zmsg || zmsg_size(zmsg) != 2) {
        snprintf(err, errlen, "expected 2 frames, got %zu", zmsg ? zmsg_size(zmsg) : 0);
        return NULL;
    }
    zframe_t *tframe = zmsg_first(zmsg);
    if (zframe_size(tframe) == 0 || zframe_size(tframe) > ILP_MAX_EXT_NAME + 16) {
        snprintf(err, errlen, "topic of %zu bytes", zframe_size(tframe));
        return NULL;
    }
    zframe_t *body = zmsg_next(zmsg);
    if (il_codec_unpack(zframe_data(body), zframe_size(body), out, err, errlen)) return NULL;
    bool changes = zframe_streq(tframe, ILP_TOPIC_CHANGES);
    const msgpack_object *obj = &out->data;
    if (changes && (obj->type != MSGPACK_OBJECT_ARRAY || obj->via.array.size < 1 ||
                    obj->via.array.size > ILP_MAX_BATCH)) {
        snprintf(err, errlen, "body: expected an array of 1 to %d maps", ILP_MAX_BATCH);
        return NULL;
    }
    for (uint32_t i = 0; changes && i < obj->via.array.size; i++)
        if (obj->via.array.ptr[i].type != MSGPACK_OBJECT_MAP) {
            snprintf(err, errlen, "body[%u]: expected a map", (unsigned)i);
            return NULL;
        }
    if (!changes && obj->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "body: expected a map");
        return NULL;
    }
    *topic = zframe_strdup(tframe);
    zmsg_remove(zmsg, body);
    return body;
}
