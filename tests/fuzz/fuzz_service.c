/* fuzz_service: libFuzzer target for the service decoder (common/service.h):
 * the input is one msgpack object, decoded in full (il_service_decode) and
 * lean (il_service_decode_result), after il_codec_unpack's checks as
 * every frame of the bus. A service that decodes is packed again and
 * must decode again: what the decoder accepts, the encoder can say. */
#include "common/codec.h"
#include "common/service.h"

#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    char err[256];
    if (il_codec_unpack(data, size, &up, err, sizeof err) != 0) { /* as frames are read */
        msgpack_unpacked_destroy(&up);
        return 0;
    }
    il_service_t *lean = il_service_decode_result(&up.data, err, sizeof err);
    il_service_destroy(&lean);
    il_service_t *service = il_service_decode(&up.data, err, sizeof err);
    if (service) {
        msgpack_sbuffer buf;
        msgpack_sbuffer_init(&buf);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
        il_service_pack(service, &pk);
        msgpack_unpacked again;
        msgpack_unpacked_init(&again);
        if (msgpack_unpack_next(&again, buf.data, buf.size, NULL) != MSGPACK_UNPACK_SUCCESS)
            abort();
        il_service_t *back = il_service_decode(&again.data, err, sizeof err);
        if (!back || !il_service_same_definition(service, back)) abort();
        il_service_destroy(&back);
        msgpack_unpacked_destroy(&again);
        msgpack_sbuffer_destroy(&buf);
    }
    il_service_destroy(&service);
    msgpack_unpacked_destroy(&up);
    return 0;
}
