/* entry: a tracked service and its workflow position, see entry.h. */
#include "core/entry.h"
#include "common/alloc.h"
#include "common/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PACK_START 256 /* bytes first allocated to pack a service */

struct _entry_packed_t {
    char *data;    /* NULL until needed */
    uint64_t from; /* digest of what it was packed from: another means stale */
    uint32_t len;
};

entry_t *entry_new(il_service_t **service_p, int64_t now)
{
    if (!service_p || !*service_p) return NULL;
    entry_t *self = il_calloc(1, sizeof *self);
    self->name = il_strdup((*service_p)->name);
    self->packed = il_calloc(1, sizeof *self->packed);
    self->service = *service_p;
    *service_p = NULL;
    self->id = ENTRY_NO_ID;
    self->state = ENTRY_AT_STEP;
    self->expect_deployed = true;
    self->attempt = 1;
    self->time_detected = now;
    self->last_update = now;
    return self;
}

void entry_destroy(entry_t **self_p)
{
    if (!self_p || !*self_p) return;
    entry_t *self = *self_p;
    il_service_destroy(&self->service);
    free(self->packed->data);
    free(self->packed);
    free(self->error);
    free(self->name);
    free(self);
    *self_p = NULL;
}

/* The state reached (not counting work in progress): what the file keeps. */
static const char *s_reached(const entry_t *self, const char *const *steps)
{
    if (self->state == ENTRY_DEPLOYED) return "deployed";
    if (self->state == ENTRY_UNDEPLOYED) return "undeployed";
    return steps[self->pos];
}

const char *entry_state_name(const entry_t *self, const char *const *steps)
{
    if (self->wip) return steps[self->wip_step];
    if (self->state == ENTRY_DEPLOYED) return "deployed";
    if (self->state == ENTRY_UNDEPLOYED) return "undeployed";
    return steps[self->pos];
}

void entry_set_error(entry_t *self, const char *error)
{
    free(self->error);
    self->error = il_strdup(error);
}

/* A digest of what the packed service is made from: the service, provider
 * public IP and check pointers (il_service_set_string makes a new string), the counts
 * of targets and aliases, the TLS flag and port. A safety net for changes nobody
 * announced (the workflow calls entry_service_changed), kept to 8 bytes: an
 * entry is kept for every service. */
static uint64_t s_packed_from(const il_service_t *svc)
{
    const uint64_t mix = 0x9e3779b97f4a7c15ULL;
    uint64_t h = (uint64_t)(uintptr_t)svc;
    h = h * mix ^ (uint64_t)(uintptr_t)svc->provider;
    h = h * mix ^ (uint64_t)(uintptr_t)svc->public_ip;
    h = h * mix ^ (uint64_t)svc->target_count;
    h = h * mix ^ (uint64_t)svc->alias_count;
    h = h * mix ^ (uint64_t)svc->tls;
    h = h * mix ^ (uint64_t)svc->port;
    h = h * mix ^ (uint64_t)(uintptr_t)svc->check;
    return h;
}

/* True when the packed service is there and made from the service as it is. */
static bool s_packed_valid(const entry_t *self)
{
    return self->packed->data && self->packed->from == s_packed_from(self->service);
}

void entry_service_changed(const entry_t *self)
{
    free(self->packed->data);
    self->packed->data = NULL;
    self->packed->len = 0;
}

/* msgpack_sbuffer_write, growing through il_realloc: it cannot fail (an
 * allocation that fails aborts), so the packed service is always whole. */
static int s_pack_write(void *data, const char *bytes, size_t len)
{
    msgpack_sbuffer *buf = data;
    if (buf->alloc - buf->size < len) {
        size_t alloc = buf->alloc ? buf->alloc * 2 : S_PACK_START;
        while (alloc < buf->size + len)
            alloc *= 2;
        buf->data = il_realloc(buf->data, alloc);
        buf->alloc = alloc;
    }
    memcpy(buf->data + buf->size, bytes, len);
    buf->size += len;
    return 0;
}

const char *entry_packed_service(const entry_t *self, size_t *len)
{
    if (!s_packed_valid(self)) {
        entry_service_changed(self);
        /* msgpack_sbuffer's first write allocates 8 KiB: start from a size
         * that fits a usual service instead (it doubles when it does not). */
        msgpack_sbuffer buf = {.size = 0, .data = il_malloc(S_PACK_START), .alloc = S_PACK_START};
        msgpack_packer pk;
        msgpack_packer_init(&pk, &buf, s_pack_write);
        il_service_pack(self->service, &pk);
        self->packed->data = il_realloc(buf.data, buf.size); /* to its size */
        self->packed->len = (uint32_t)buf.size;              /* far below 4 GiB (1 MiB frames) */
        self->packed->from = s_packed_from(self->service);
    }
    *len = self->packed->len;
    return self->packed->data;
}

void entry_pack(const entry_t *self, const char *const *steps, msgpack_packer *pk)
{
    msgpack_pack_map(pk, 14);
    il_codec_pack_str(pk, "service");
    if (s_packed_valid(self))
        il_codec_pack_raw(pk, self->packed->data, self->packed->len);
    else
        il_service_pack(self->service, pk);
    il_codec_pack_key_str(pk, "state", s_reached(self, steps));
    il_codec_pack_key_str(pk, "expected_state", self->expect_deployed ? "deployed" : "undeployed");
    il_codec_pack_key_bool(pk, "wip", self->wip);
    /* The step of the last try is kept while it is retried after an error too. */
    bool step_known = self->wip || (self->error && self->wip_step > 0);
    il_codec_pack_key_str(pk, "wip_step", step_known ? steps[self->wip_step] : NULL);
    il_codec_pack_key_str(pk, "wip_action", step_known ? ilp_action_name(self->wip_action) : NULL);
    il_codec_pack_key_bool(pk, "restart", self->restart);
    il_codec_pack_key_uint(pk, "attempt", self->attempt);
    il_codec_pack_key_str(pk, "error", self->error);
    il_codec_pack_key_uint(pk, "wip_time", (uint64_t)self->wip_time);
    il_codec_pack_key_uint(pk, "time_detected", (uint64_t)self->time_detected);
    il_codec_pack_key_uint(pk, "last_update", (uint64_t)self->last_update);
    il_codec_pack_key_uint(pk, "close_time", (uint64_t)self->close_time);
    il_codec_pack_key_uint(pk, "next_try", (uint64_t)self->next_try);
}

static int s_step_index(const char *name, const char *const *steps, int nsteps)
{
    for (int i = 0; i < nsteps; i++)
        if (!strcmp(name, steps[i])) return i;
    return -1;
}

entry_t *entry_unpack(const msgpack_object *obj, const char *const *steps, int nsteps, char *err,
                      size_t errlen)
{
    char why[256] = "";
    char *state = NULL, *expected = NULL, *wip_step = NULL, *wip_action = NULL, *error = NULL;
    uint64_t attempt, wip_time, detected, updated, closed, next_try;
    bool wip = false, restart = false;
    entry_t *self = NULL;
    il_service_t *service = NULL;
    if (!obj || obj->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "entry: expected a map");
        return NULL;
    }
    service = il_service_decode(il_codec_map_get(obj, "service"), why, sizeof why);
    const int64_t max_ms = INT64_MAX / 2;
    if (!service ||
        il_codec_get_str(obj, "state", ILP_MAX_EXT_NAME, true, &state, why, sizeof why) ||
        il_codec_get_str(obj, "expected_state", 16, true, &expected, why, sizeof why) ||
        il_codec_get_bool(obj, "wip", false, &wip, why, sizeof why) ||
        il_codec_get_str(obj, "wip_step", ILP_MAX_EXT_NAME, false, &wip_step, why, sizeof why) ||
        il_codec_get_str(obj, "wip_action", 16, false, &wip_action, why, sizeof why) ||
        il_codec_get_bool(obj, "restart", false, &restart, why, sizeof why) ||
        il_codec_get_uint(obj, "attempt", 1, ILP_MAX_ATTEMPT, false, 1, &attempt, why,
                          sizeof why) ||
        il_codec_get_str(obj, "error", ILP_MAX_TEXT, false, &error, why, sizeof why) ||
        il_codec_get_uint(obj, "wip_time", 0, max_ms, false, 0, &wip_time, why, sizeof why) ||
        il_codec_get_uint(obj, "time_detected", 0, max_ms, true, 0, &detected, why, sizeof why) ||
        il_codec_get_uint(obj, "last_update", 0, max_ms, true, 0, &updated, why, sizeof why) ||
        il_codec_get_uint(obj, "close_time", 0, max_ms, false, 0, &closed, why, sizeof why) ||
        il_codec_get_uint(obj, "next_try", 0, max_ms, false, 0, &next_try, why, sizeof why))
        goto done;
    self = entry_new(&service, (int64_t)detected);
    self->saved = true; /* it comes from a store */
    if (!strcmp(state, "deployed"))
        self->state = ENTRY_DEPLOYED;
    else if (!strcmp(state, "undeployed"))
        self->state = ENTRY_UNDEPLOYED;
    else if ((self->pos = s_step_index(state, steps, nsteps)) < 0) {
        snprintf(why, sizeof why, "state: step '%s' is not in the workflow", state);
        goto fail;
    }
    if (!strcmp(expected, "deployed"))
        self->expect_deployed = true;
    else if (!strcmp(expected, "undeployed"))
        self->expect_deployed = false;
    else {
        snprintf(why, sizeof why, "expected_state: '%s'", expected);
        goto fail;
    }
    if (wip || wip_step) {
        self->wip = wip;
        if (!wip_step || (self->wip_step = s_step_index(wip_step, steps, nsteps)) < 1) {
            snprintf(why, sizeof why, "wip_step: '%s' is not a step after the provider",
                     wip_step ? wip_step : "");
            goto fail;
        }
        if (wip_action && !strcmp(wip_action, "add"))
            self->wip_action = ILP_ACTION_ADD;
        else if (wip_action && !strcmp(wip_action, "delete"))
            self->wip_action = ILP_ACTION_DELETE;
        else {
            snprintf(why, sizeof why, "wip_action: expected add or delete");
            goto fail;
        }
    }
    self->restart = restart;
    self->attempt = (uint32_t)attempt;
    self->error = error;
    error = NULL;
    self->wip_time = (int64_t)wip_time;
    self->last_update = (int64_t)updated;
    self->close_time = (int64_t)closed;
    self->next_try = (int64_t)next_try;
    goto done;
fail:
    entry_destroy(&self);
done:
    if (!self) snprintf(err, errlen, "%s", why);
    il_service_destroy(&service);
    free(state);
    free(expected);
    free(wip_step);
    free(wip_action);
    free(error);
    return self;
}

int entry_slots_reserve(void **array, size_t *cap, size_t size, uint32_t id)
{
    if (id < *cap) return 0;
    if (id == ENTRY_NO_ID) return -1;
    size_t want = *cap ? *cap : 64;
    while (want <= id)
        want *= 2;
    char *grown = il_realloc(*array, want * size);
    memset(grown + *cap * size, 0, (want - *cap) * size);
    *array = grown;
    *cap = want;
    return 0;
}
