/* fuzz_alloc_db: libFuzzer target for the IP allocator's database loader
 * (extensions/ipalloc/alloc_db.h): the input is written as the db file (in a
 * directory of this process's own) and opened; what loads is listed and a
 * batch is begun and aborted, as the allocator does first. */
#include "extensions/ipalloc/alloc_db.h"

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

static void s_entry(void *arg, const alloc_db_entry_t *entry)
{
    size_t *n = arg;
    if (!entry->name || !entry->ip) abort();
    (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_dir[0]) {
        snprintf(s_dir, sizeof s_dir, "/tmp/fuzz_alloc_db.XXXXXX");
        if (!mkdtemp(s_dir)) abort();
        atexit(s_remove_dir);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/ipalloc.db", s_dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
    char err[512];
    alloc_db_t *db = alloc_db_open(path, err, sizeof err);
    if (db) {
        size_t n = 0;
        alloc_db_foreach(db, s_entry, &n);
        if (n != alloc_db_count(db)) abort();
        if (alloc_db_begin(db, err, sizeof err) == 0) alloc_db_abort(db);
        alloc_db_destroy(&db);
    }
    s_empty_dir(); /* whatever was left beside the file (a lock, a temporary) */
    return 0;
}
