/* seeds: writes the seed corpora of the fuzz targets that read msgpack
 * and files (tests/fuzz/corpus/fuzz_{ilp_msg,service,ilp_pub,alloc_db,store}),
 * made by the project's own encoders and writers so they are real. make fuzz-seeds runs it; its
 * output is committed. */
#include "broker/ilp_batch.h"
#include "broker/ilp_msg.h"
#include "broker/ilp_pub.h"
#include "core/store.h"
#include "core/workflow.h"
#include "extensions/ipalloc/alloc_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_n;

static void s_write(const char *dir, const char *what, const void *head, size_t head_len,
                    const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "tests/fuzz/corpus/%s/%02d-%s", dir, s_n++, what);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(head, 1, head_len, f) != head_len || fwrite(data, 1, len, f) != len ||
        fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static il_service_t *s_service(const char *name, bool full)
{
    il_service_t *s = il_service_new(name);
    if (!full) return s;
    il_service_set_string(&s->provider, "provider.docker");
    il_service_set_string(&s->public_ip, "10.1.0.7");
    il_service_add_target(s, "192.168.1.10", 8080, 1);
    il_service_add_target(s, "node-2.example", 8081, 5);
    il_service_add_alias(s, "web.example.com");
    il_service_add_alias(s, "www.example.com");
    s->tls = true;
    s->port = 443;
    return s;
}

/* [mode][command index][body]: as fuzz_ilp_msg reads it. */
static void s_ilp(ilp_msg_t *msg, int cmd_index, bool batchable)
{
    zframe_t *body = ilp_msg_encode_body(msg);
    if (!body) exit(1);
    for (unsigned mode = 0; mode < 8; mode++) {
        if ((mode & 2) && !batchable) continue;
        uint8_t head[2] = {mode, cmd_index};
        s_write("fuzz_ilp_msg", ilp_cmd_name(msg->cmd), head, 2, zframe_data(body),
                zframe_size(body));
    }
    if (batchable) { /* the same item three times, as one batched body */
        ilp_batch_t batch;
        ilp_batch_init(&batch);
        for (int i = 0; i < 3; i++)
            ilp_batch_add(&batch, zframe_data(body), zframe_size(body));
        size_t size;
        const void *bytes = ilp_batch_body(&batch, &size);
        for (unsigned mode = 2; mode < 4; mode++) {
            uint8_t head[2] = {mode, cmd_index};
            s_write("fuzz_ilp_msg", "batch", head, 2, bytes, size);
        }
        ilp_batch_destroy(&batch);
    }
    zframe_destroy(&body);
    ilp_msg_destroy(&msg);
}

static void s_pub(zmsg_t *zmsg, uint8_t topic_index, const char *what)
{
    zframe_t *body = zmsg_last(zmsg);
    s_write("fuzz_ilp_pub", what, &topic_index, 1, zframe_data(body), zframe_size(body));
    zmsg_destroy(&zmsg);
}

/* Copies the file at path into the corpus of dir. */
static void s_copy(const char *dir, const char *what, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) exit(1);
    static char bytes[1 << 20];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    s_write(dir, what, "", 0, bytes, n);
}

/* An allocator db: allocations over two commits, one released. */
static void s_alloc_db(const char *tmp)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/ipalloc.db", tmp);
    alloc_db_t *db = alloc_db_open(path, err, sizeof err);
    if (!db || alloc_db_begin(db, err, sizeof err) != 0 ||
        alloc_db_stage_allocate(db, "web", "10.1.0.7", 1700000000000) != 0 ||
        alloc_db_stage_allocate(db, "api", "10.1.0.8", 1700000000001) != 0 ||
        alloc_db_commit(db, err, sizeof err) != 0) {
        fprintf(stderr, "seeds: %s\n", err);
        exit(1);
    }
    s_n = 0;
    s_copy("fuzz_alloc_db", "one-commit", path);
    if (alloc_db_begin(db, err, sizeof err) != 0 ||
        alloc_db_stage_release(db, "web", 1700000000002) != 0 ||
        alloc_db_stage_allocate(db, "v6", "fd00::7", 1700000000003) != 0 ||
        alloc_db_commit(db, err, sizeof err) != 0)
        exit(1);
    s_copy("fuzz_alloc_db", "two-commits", path);
    alloc_db_destroy(&db);
}

/* An entries file: a full save of three entries, then appended changes. */
static void s_store(const char *tmp)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/entries.db", tmp);
    static const char *const steps[] = {"provider.docker", "ipam.ipalloc", "provisioner.echo"};
    static const workflow_timing_t timing = {60000, 600000, 3600000, 1000, 60000};
    static const workflow_effects_t effects = {0};
    workflow_t *wf = workflow_new(steps, 3, &timing, "seed", &effects, NULL);
    store_t *store = store_new(path, err, sizeof err);
    if (!wf || !store) exit(1);
    const char *names[] = {"web", "api", "db"};
    for (int i = 0; i < 3; i++) {
        il_service_t *svc = s_service(names[i], i != 2);
        if (workflow_event(wf, "provider.docker", ILP_ACTION_ADD, &svc, 1000) != 0) exit(1);
        il_service_destroy(&svc);
    }
    if (store_save(store, wf, err, sizeof err) != 0) {
        fprintf(stderr, "seeds: %s\n", err);
        exit(1);
    }
    s_n = 0;
    s_copy("fuzz_store", "full-save", path);
    il_service_t *gone = il_service_new("api");
    il_service_set_string(&gone->provider, "provider.docker");
    workflow_event(wf, "provider.docker", ILP_ACTION_DELETE, &gone, 2000);
    il_service_destroy(&gone);
    for (entry_t *e = workflow_first(wf); e; e = workflow_next(wf))
        store_touch(store, e);
    if (store_save_changes(store, wf, err, sizeof err) != 0) exit(1);
    s_copy("fuzz_store", "appended", path);
    store_destroy(&store);
    workflow_destroy(&wf);
}

int main(void)
{
    char tmp[] = "/tmp/interlook-seeds.XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    s_alloc_db(tmp);
    s_store(tmp);
    zdir_t *dir = zdir_new(tmp, NULL); /* the files are copied: the directory goes */
    if (dir) zdir_remove(dir, true);
    zdir_destroy(&dir);
    s_n = 0;

    ilp_msg_t *m = ilp_msg_new(ILP_HELLO);
    m->name = strdup("provider.docker");
    m->instance = strdup("host-1.4242");
    m->version = strdup("1.0");
    m->credit = 64;
    m->batch = 32;
    s_ilp(m, 0, false);
    for (int full = 0; full < 2; full++) {
        m = ilp_msg_new(ILP_EVENT);
        m->action = full ? ILP_ACTION_ADD : ILP_ACTION_DELETE;
        m->service = s_service("web", full);
        s_ilp(m, 1, true);
        m = ilp_msg_new(ILP_RESULT);
        m->id = strdup("w-17");
        if (full)
            m->service = s_service("web", true);
        else
            m->error = strdup("pool exhausted");
        s_ilp(m, 2, true);
        m = ilp_msg_new(ILP_WORK);
        m->id = strdup("w-18");
        m->action = full ? ILP_ACTION_ADD : ILP_ACTION_DELETE;
        m->attempt = full ? 3 : 1;
        m->service = s_service("api", full);
        s_ilp(m, 7, true);
    }
    s_ilp(ilp_msg_new(ILP_HEARTBEAT), 3, false);
    s_ilp(ilp_msg_new(ILP_BYE), 4, false);
    m = ilp_msg_new(ILP_WELCOME);
    m->heartbeat_ms = 1000;
    m->liveness = 3;
    m->core_id = strdup("core-1");
    m->batch = 64;
    s_ilp(m, 5, false);
    m = ilp_msg_new(ILP_DENIED);
    m->reason = strdup("name taken");
    s_ilp(m, 6, false);
    m = ilp_msg_new(ILP_ERROR);
    m->reason = strdup("who are you");
    m->code = strdup(ILP_CODE_UNKNOWN_PEER);
    m->id = strdup("w-1");
    s_ilp(m, 8, false);

    s_n = 0;
    for (int full = 0; full < 2; full++) {
        il_service_t *s = s_service("web", full);
        msgpack_sbuffer buf;
        msgpack_sbuffer_init(&buf);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
        il_service_pack(s, &pk);
        s_write("fuzz_service", full ? "full" : "lean", "", 0, buf.data, buf.size);

        s_n = 10 + full * 10;
        s_pub(ilp_pub_state(s, "deployed", "deployed", NULL), 1, "state");
        ilp_batch_t batch;
        ilp_batch_init(&batch);
        msgpack_sbuffer one;
        msgpack_sbuffer_init(&one);
        for (int i = 0; i < 2; i++) {
            ilp_pub_pack_state(&one, buf.data, buf.size, i ? "failed" : "deployed", "deployed",
                               i ? "no address" : NULL);
            ilp_batch_add(&batch, one.data, one.size);
        }
        size_t size;
        const void *bytes = ilp_batch_body(&batch, &size);
        uint8_t topic = 0;
        s_write("fuzz_ilp_pub", "changes", &topic, 1, bytes, size);
        msgpack_sbuffer_destroy(&one);
        ilp_batch_destroy(&batch);
        msgpack_sbuffer_destroy(&buf);
        il_service_destroy(&s);
        s_n = 2;
    }
    { /* a service with its own health check (the key "check") */
        il_service_t *s = s_service("web", true);
        char why[200];
        if (il_service_set_check(s, "http:/healthz 200-299", why, sizeof why)) exit(1);
        msgpack_sbuffer buf;
        msgpack_sbuffer_init(&buf);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
        il_service_pack(s, &pk);
        int n = s_n;
        s_n = 4;
        s_write("fuzz_service", "check", "", 0, buf.data, buf.size);
        s_n = n;
        msgpack_sbuffer_destroy(&buf);
        il_service_destroy(&s);
    }
    s_n = 30;
    s_pub(ilp_pub_refresh("provider.docker", "web"), 2, "refresh");
    s_pub(ilp_pub_core("started", "core-1"), 3, "core");
    return 0;
}
