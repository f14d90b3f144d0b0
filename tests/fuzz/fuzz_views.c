/* fuzz_views: libFuzzer target for the HTTP API's request routing
 * (core/views.h views_answer): the method and path a client sends, against a
 * core state made once (a workflow of a few entries, a broker bound on
 * inproc endpoints, the metrics). The first byte picks the method, the rest
 * is the path. */
#include "core/views.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static views_source_t s_source;

static void s_setup(void)
{
    static const char *const steps[] = {"provider.docker", "ipam.ipalloc", "provisioner.echo"};
    static const char *const exts[] = {"provider.docker", "ipam.ipalloc", "provisioner.echo", NULL};
    static const workflow_timing_t timing = {60000, 600000, 3600000, 1000, 60000};
    static const workflow_effects_t effects = {0};
    char router[64], publish[64];
    snprintf(router, sizeof router, "inproc://fuzz-views-router-%d", (int)getpid());
    snprintf(publish, sizeof publish, "inproc://fuzz-views-pub-%d", (int)getpid());
    broker_config_t cfg = {.router_endpoint = router,
                           .publish_endpoint = publish,
                           .heartbeat_ms = 1000,
                           .liveness = 3,
                           .extensions = exts};
    broker_handler_t handler = {0};
    s_source.broker = broker_new(&cfg, &handler, NULL);
    s_source.workflow = workflow_new(steps, 3, &timing, "fuzz", &effects, NULL);
    s_source.metrics = metrics_new();
    if (!s_source.broker || !s_source.workflow || !s_source.metrics) abort();
    const char *names[] = {"web", "api", "a%20b"};
    for (int i = 0; i < 3; i++) {
        il_service_t *svc = il_service_new(names[i]);
        il_service_set_string(&svc->provider, "provider.docker");
        il_service_add_target(svc, "10.0.0.1", 8080, 1);
        il_service_add_alias(svc, "web.example.com");
        workflow_event(s_source.workflow, "provider.docker", ILP_ACTION_ADD, &svc, 1000);
        il_service_destroy(&svc);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "DELETE", "get", ""};
    if (!s_source.workflow) s_setup();
    if (size < 1) return 0;
    const char *method = methods[data[0] % (sizeof methods / sizeof methods[0])];
    char *path = malloc(size);
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    api_reply_t reply = {0};
    views_answer(&s_source, method, path, &reply);
    if (reply.status < 100 || reply.status > 599) abort();
    free(reply.body);
    free(path);
    return 0;
}
