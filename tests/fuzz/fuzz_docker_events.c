/* fuzz_docker_events: libFuzzer target for the Docker provider's reading of
 * the Engine's /events stream: the input is cut into lines as docker_api
 * delivers them (at '\n', a trailing '\r' dropped, empty lines skipped) and
 * each line decoded by discovery_event_parse, as s_on_event_line does. */
#include "extensions/docker/discovery.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t at = 0;
    while (at < size) {
        const char *nl = memchr(text + at, '\n', size - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : size - at;
        size_t use = n > 0 && text[at + n - 1] == '\r' ? n - 1 : n;
        if (use > 0) {
            discovery_event_t event;
            char err[256];
            if (discovery_event_parse(text + at, use, &event, err, sizeof err) == 0 &&
                (strlen(event.type) >= sizeof event.type || strlen(event.id) >= sizeof event.id))
                abort(); /* the fields are NUL-terminated inside their buffers */
        }
        at += n + 1;
    }
    return 0;
}
