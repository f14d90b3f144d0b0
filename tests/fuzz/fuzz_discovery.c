/* fuzz_discovery: libFuzzer target for the Docker discovery
 * (extensions/docker/discovery.h) on the Engine's JSON, parsed as the
 * provider parses it (json_loads). The first byte picks the listing: the
 * containers (running, and all for what is held) or, for swarm mode, the
 * services, tasks and nodes as three documents separated by a line "@@". */
#include "extensions/docker/discovery.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_selector[] = {"traefik.enable", NULL};

static void s_skip(void *arg, const char *id, const char *name, const char *reason)
{
    (void)arg;
    (void)id;
    (void)name;
    (void)reason;
}

static json_t *s_load(const char *text)
{
    json_error_t jerr;
    return json_loads(text, 0, &jerr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned mode = data[0];
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    discovery_config_t config = {"10.0.0.1", (mode & 4) ? s_selector : NULL, "provider.docker"};
    zhashx_t *found = NULL, *held = NULL;
    if (mode & 1) {
        char *docs[3] = {text, NULL, NULL};
        for (int i = 1; i < 3 && docs[i - 1]; i++) {
            char *sep = strstr(docs[i - 1], "\n@@\n");
            if (sep) {
                *sep = '\0';
                docs[i] = sep + 4;
            }
        }
        json_t *services = s_load(docs[0]);
        json_t *tasks = docs[1] ? s_load(docs[1]) : NULL;
        json_t *nodes = docs[2] ? s_load(docs[2]) : NULL;
        found = discovery_swarm(services, tasks, nodes, &config, s_skip, NULL);
        held = discovery_swarm_held(services, &config);
        json_decref(services);
        json_decref(tasks);
        json_decref(nodes);
    } else {
        json_t *containers = s_load(text);
        found = discovery_containers(containers, &config, s_skip, NULL);
        held = discovery_containers_held(containers, &config);
        json_decref(containers);
    }
    zhashx_destroy(&found);
    zhashx_destroy(&held);
    free(text);
    return 0;
}
