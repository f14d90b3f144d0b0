/* fuzz_ilp_pub: libFuzzer target for the PUB message decoder
 * (broker/ilp_pub.h) and what subscribers read from it: the services of a
 * "changes" publication (each item's service, state, expected_state, error)
 * and of a refresh request. The first byte picks the topic, the rest is the
 * body. */
#include "broker/ilp_pub.h"
#include "common/codec.h"

#include <stdint.h>
#include <string.h>

static const char *const s_topics[] = {
    ILP_TOPIC_CHANGES, "state", "refresh.provider.docker", "core", "", "changesX"};

static void s_read(const msgpack_object *map)
{
    char err[256];
    il_service_t *service = il_service_decode(il_codec_map_get(map, "service"), err, sizeof err);
    il_service_destroy(&service);
    const char *keys[] = {"state", "expected_state", "error"};
    for (size_t k = 0; k < 3; k++) {
        char *text = NULL;
        il_codec_get_str(map, keys[k], 64, false, &text, err, sizeof err);
        free(text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *topic_in = s_topics[data[0] % (sizeof s_topics / sizeof s_topics[0])];
    zmsg_t *zmsg = zmsg_new();
    zmsg_addstr(zmsg, topic_in);
    zmsg_addmem(zmsg, data + 1, size - 1);
    char err[256], *topic = NULL;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    zframe_t *body = ilp_pub_decode(zmsg, &topic, &up, err, sizeof err);
    if (body) {
        if (!strcmp(topic, ILP_TOPIC_CHANGES)) {
            if (up.data.type != MSGPACK_OBJECT_ARRAY) abort(); /* promised by the decoder */
            for (uint32_t i = 0; i < up.data.via.array.size; i++) {
                if (up.data.via.array.ptr[i].type != MSGPACK_OBJECT_MAP) abort();
                s_read(&up.data.via.array.ptr[i]);
            }
        } else if (up.data.type == MSGPACK_OBJECT_MAP) {
            s_read(&up.data);
        }
    }
    msgpack_unpacked_destroy(&up);
    zframe_destroy(&body);
    free(topic);
    zmsg_destroy(&zmsg);
    return 0;
}
