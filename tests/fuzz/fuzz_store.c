/* fuzz_store: libFuzzer target for the core's entries file loader
 * (core/store.h): the input is written as the entries file (in a directory
 * of this process's own) and loaded into a workflow, as the core does at
 * start. */
#include "core/store.h"
#include "core/workflow.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_dir[64];

static void s_empty_dir(void)
{
    DIR *d = opendir(s_dir);
    if (!d) abort();
    struct dirent *e;
    char path[400];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", s_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

static void s_remove_dir(void)
{
    s_empty_dir();
    rmdir(s_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_dir[0]) {
        snprintf(s_dir, sizeof s_dir, "/tmp/fuzz_store.XXXXXX");
        if (!mkdtemp(s_dir)) abort();
        atexit(s_remove_dir);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/entries.db", s_dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
    static const char *const steps[] = {"provider.docker", "ipam.ipalloc", "provisioner.echo"};
    static const workflow_timing_t timing = {60000, 600000, 3600000, 1000, 60000};
    static const workflow_effects_t effects = {0};
    workflow_t *wf = workflow_new(steps, 3, &timing, "fuzz", &effects, NULL);
    char err[512];
    store_t *store = store_new(path, err, sizeof err);
    if (!wf || !store) abort();
    size_t loaded = 0;
    store_load(store, wf, &loaded, err, sizeof err);
    store_destroy(&store);
    workflow_destroy(&wf);
    s_empty_dir(); /* whatever was left beside the file (a lock, a temporary) */
    return 0;
}
