/* fuzz_config: libFuzzer target for the YAML configuration loader
 * (common/config.h il_config_load_string) and the readers of its sections
 * run on what it loads: the core's (core_config, with the bus section), the
 * Docker provider's, the IP allocator's, the load balancer's and the DNS
 * extension's (dns_config_read: the server is not resolved and the TSIG key
 * file the text names is not opened, so that the fuzzer does no I/O). */
#include "common/config.h"
#include "core/core_config.h"
#include "extensions/dns/dns_config.h"
#include "extensions/docker/provider.h"
#include "extensions/ipalloc/allocator.h"
#include "extensions/lb/lb_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char err[1024];
    il_config_t *cfg = il_config_load_string(text, "fuzz.yml", err, sizeof err);
    free(text);
    if (!cfg) return 0;
    core_config_t core;
    memset(&core, 0, sizeof core);
    core_config_load(&core, cfg, err, sizeof err);
    core_config_clear(&core);
    provider_config_t provider;
    memset(&provider, 0, sizeof provider);
    provider_config_load(&provider, cfg, err, sizeof err);
    provider_config_clear(&provider);
    allocator_config_t alloc;
    memset(&alloc, 0, sizeof alloc);
    allocator_config_load(&alloc, cfg, err, sizeof err);
    allocator_config_clear(&alloc);
    lb_config_t lb;
    memset(&lb, 0, sizeof lb);
    lb_config_load(&lb, cfg, err, sizeof err);
    dns_config_t dns;
    dns_config_read(&dns, cfg, err, sizeof err);
    dns_config_clear(&dns);
    il_config_destroy(&cfg);
    return 0;
}
