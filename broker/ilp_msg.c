/* ilp_msg: the ILP/1 message codec, see ilp_msg.h and docs/protocol.md. */
#include "broker/ilp_msg.h"
#include "broker/ilp_frame.h"
#include "common/alloc.h"
#include "common/codec.h"

#include <stdlib.h>
#include <string.h>

static const char *s_cmd_names[] = {"?",   "HELLO",   "EVENT",  "RESULT", "HEARTBEAT",
                                    "BYE", "WELCOME", "DENIED", "WORK",   "ERROR"};
#define S_CMD_COUNT ((int)(sizeof s_cmd_names / sizeof s_cmd_names[0]))

ilp_msg_t *ilp_msg_new(ilp_cmd_t cmd)
{
    ilp_msg_t *self = il_calloc(1, sizeof *self);
    self->cmd = cmd;
    return self;
}

void ilp_msg_destroy(ilp_msg_t **self_p)
{
    if (!self_p || !*self_p) return;
    ilp_msg_t *self = *self_p;
    free(self->name);
    free(self->instance);
    free(self->version);
    il_service_destroy(&self->service);
    free(self->id);
    free(self->error);
    free(self->core_id);
    free(self->reason);
    free(self->code);
    free(self);
    *self_p = NULL;
}

const char *ilp_cmd_name(ilp_cmd_t cmd)
{
    return (int)cmd > 0 && (int)cmd < S_CMD_COUNT ? s_cmd_names[cmd] : "?";
}

const char *ilp_action_name(ilp_action_t action)
{
    return action == ILP_ACTION_ADD ? "add" : action == ILP_ACTION_DELETE ? "delete" : "none";
}

bool ilp_msg_ext_name_valid(const char *name)
{
    if (!name) return false;
    size_t len = strlen(name);
    if (len == 0 || len > ILP_MAX_EXT_NAME) return false;
    int segments = 1;
    size_t seglen = 0;
    for (const char *p = name; *p; p++) {
        if (*p == '.') {
            if (seglen == 0) return false;
            segments++;
            seglen = 0;
            continue;
        }
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return false;
        seglen++;
    }
    return seglen > 0 && segments >= 2;
}

/* Body encoding ------------------------------------------------------------ */

static int s_pack_body(const ilp_msg_t *self, msgpack_packer *pk)
{
    switch (self->cmd) {
    case ILP_HELLO:
        if (!self->name || !self->instance || self->credit == 0) return -1;
        msgpack_pack_map(pk, 4 + (self->batch > 1)); /* batch only when used: older cores */
        il_codec_pack_key_str(pk, "name", self->name);
        il_codec_pack_key_str(pk, "instance", self->instance);
        il_codec_pack_key_str(pk, "version", self->version);
        il_codec_pack_key_uint(pk, "credit", self->credit);
        if (self->batch > 1) il_codec_pack_key_uint(pk, "batch", self->batch);
        return 0;
    case ILP_EVENT:
        if (!self->service || self->action == ILP_ACTION_NONE) return -1;
        msgpack_pack_map(pk, 2);
        il_codec_pack_key_str(pk, "action", ilp_action_name(self->action));
        il_codec_pack_str(pk, "service");
        il_service_pack(self->service, pk);
        return 0;
    case ILP_RESULT:
        if (!self->id || (!self->service && (!self->error || !*self->error))) return -1;
        msgpack_pack_map(pk, 2 + (self->service != NULL));
        il_codec_pack_key_str(pk, "id", self->id);
        il_codec_pack_key_str(pk, "error", self->error);
        if (self->service) {
            il_codec_pack_str(pk, "service");
            il_service_pack(self->service, pk);
        }
        return 0;
    case ILP_HEARTBEAT:
    case ILP_BYE:
        msgpack_pack_map(pk, 0);
        return 0;
    case ILP_WELCOME:
        if (!self->core_id) return -1;
        msgpack_pack_map(pk, 3 + (self->batch > 1));
        il_codec_pack_key_uint(pk, "heartbeat_ms", self->heartbeat_ms);
        il_codec_pack_key_uint(pk, "liveness", self->liveness);
        il_codec_pack_key_str(pk, "core_id", self->core_id);
        if (self->batch > 1) il_codec_pack_key_uint(pk, "batch", self->batch);
        return 0;
    case ILP_DENIED:
        msgpack_pack_map(pk, 1);
        il_codec_pack_key_str(pk, "reason", self->reason ? self->reason : "denied");
        return 0;
    case ILP_WORK:
        if (!self->id || !self->service || self->action == ILP_ACTION_NONE) return -1;
        msgpack_pack_map(pk, 4);
        il_codec_pack_key_str(pk, "id", self->id);
        il_codec_pack_key_str(pk, "action", ilp_action_name(self->action));
        il_codec_pack_key_uint(pk, "attempt", self->attempt ? self->attempt : 1);
        il_codec_pack_str(pk, "service");
        il_service_pack(self->service, pk);
        return 0;
    case ILP_ERROR:
        msgpack_pack_map(pk, 2 + (self->id != NULL));
        il_codec_pack_key_str(pk, "reason", self->reason ? self->reason : "error");
        il_codec_pack_key_str(pk, "code", self->code ? self->code : ILP_CODE_UNEXPECTED);
        if (self->id) il_codec_pack_key_str(pk, "id", self->id);
        return 0;
    default:
        return -1;
    }
}

int ilp_msg_pack_body(const ilp_msg_t *self, msgpack_sbuffer *buf)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(buf);
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    return s_pack_body(self, &pk);
}

void ilp_msg_pack_work(msgpack_sbuffer *buf, const char *id, ilp_action_t action, uint32_t attempt,
                       const char *service, size_t service_len)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(buf);
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4); /* as s_pack_body writes a WORK */
    il_codec_pack_key_str(&pk, "id", id);
    il_codec_pack_key_str(&pk, "action", ilp_action_name(action));
    il_codec_pack_key_uint(&pk, "attempt", attempt ? attempt : 1);
    il_codec_pack_str(&pk, "service");
    il_codec_pack_raw(&pk, service, service_len);
}

zframe_t *ilp_msg_encode_body(const ilp_msg_t *self)
{
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    zframe_t *frame = NULL;
    if (s_pack_body(self, &pk) == 0) frame = zframe_new(buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    return frame;
}

zmsg_t *ilp_msg_encode(const ilp_msg_t *self)
{
    zframe_t *body = ilp_msg_encode_body(self);
    if (!body) return NULL;
    zmsg_t *zmsg = ilp_msg_frames(self->cmd, body);
    zframe_destroy(&body);
    return zmsg;
}

zmsg_t *ilp_msg_frames(ilp_cmd_t cmd, zframe_t *body)
{
    zmsg_t *zmsg = zmsg_new();
    zframe_t *copy = zframe_dup(body);
    zmsg_addstr(zmsg, ILP_SIGNATURE);
    zmsg_addstr(zmsg, ilp_cmd_name(cmd));
    zmsg_append(zmsg, &copy);
    return zmsg;
}

int ilp_msg_send(const ilp_msg_t *self, zsock_t *sock, zframe_t *routing_id)
{
    zmsg_t *zmsg = ilp_msg_encode(self);
    if (!zmsg) return -1;
    if (routing_id) {
        zframe_t *copy = zframe_dup(routing_id);
        zmsg_prepend(zmsg, &copy);
    }
    int rc = zmsg_send(&zmsg, sock);
    zmsg_destroy(&zmsg);
    return rc;
}

/* Body decoding ------------------------------------------------------------ */

static int s_get_action(const msgpack_object *body, ilp_action_t *action, char *err, size_t errlen)
{
    char *text = NULL;
    if (il_codec_get_str(body, "action", 16, true, &text, err, errlen)) return -1;
    int rc = 0;
    if (!strcmp(text, "add"))
        *action = ILP_ACTION_ADD;
    else if (!strcmp(text, "delete"))
        *action = ILP_ACTION_DELETE;
    else {
        snprintf(err, errlen, "action: expected \"add\" or \"delete\", got \"%s\"", text);
        rc = -1;
    }
    free(text);
    return rc;
}

static int s_get_service(const msgpack_object *body, bool required, bool lean, il_service_t **out,
                         char *err, size_t errlen)
{
    const msgpack_object *v = il_codec_map_get(body, "service");
    if (!v || v->type == MSGPACK_OBJECT_NIL) {
        if (!required) return 0;
        snprintf(err, errlen, "service: missing");
        return -1;
    }
    *out = lean ? il_service_decode_result(v, err, errlen) : il_service_decode(v, err, errlen);
    return *out ? 0 : -1;
}

static int s_decode_body(ilp_msg_t *self, const msgpack_object *body, unsigned flags, char *err,
                         size_t errlen)
{
    uint64_t n;
    switch (self->cmd) {
    case ILP_HELLO:
        if (il_codec_get_str(body, "name", ILP_MAX_EXT_NAME, true, &self->name, err, errlen) ||
            il_codec_get_str(body, "instance", ILP_MAX_INSTANCE, true, &self->instance, err,
                             errlen) ||
            il_codec_get_str(body, "version", ILP_MAX_VERSION, false, &self->version, err,
                             errlen) ||
            il_codec_get_uint(body, "credit", 1, ILP_MAX_CREDIT, false, 1, &n, err, errlen))
            return -1;
        self->credit = (uint32_t)n;
        if (il_codec_get_uint(body, "batch", 1, ILP_MAX_BATCH, false, 1, &n, err, errlen))
            return -1;
        self->batch = (uint32_t)n;
        if (!*self->instance) {
            snprintf(err, errlen, "instance: empty");
            return -1;
        }
        if (!ilp_msg_ext_name_valid(self->name)) {
            snprintf(err, errlen, "name: '%s' is not an extension name (type.name)", self->name);
            return -1;
        }
        return 0;
    case ILP_EVENT:
        return s_get_action(body, &self->action, err, errlen) ||
               s_get_service(body, true, false, &self->service, err, errlen);
    case ILP_RESULT:
        if (il_codec_get_str(body, "id", ILP_MAX_ID, true, &self->id, err, errlen) ||
            il_codec_get_str(body, "error", ILP_MAX_TEXT, false, &self->error, err, errlen) ||
            s_get_service(body, false, flags & ILP_DECODE_LEAN, &self->service, err, errlen))
            return -1;
        if (self->error && !*self->error) { /* "" means no error */
            free(self->error);
            self->error = NULL;
        }
        if (!self->error && !self->service) {
            snprintf(err, errlen, "service: missing (required when there is no error)");
            return -1;
        }
        return 0;
    case ILP_HEARTBEAT:
    case ILP_BYE:
        return 0;
    case ILP_WELCOME:
        if (il_codec_get_uint(body, "heartbeat_ms", 10, 3600000, true, 0, &n, err, errlen))
            return -1;
        self->heartbeat_ms = (uint32_t)n;
        if (il_codec_get_uint(body, "liveness", 1, 100, true, 0, &n, err, errlen)) return -1;
        self->liveness = (uint32_t)n;
        if (il_codec_get_uint(body, "batch", 1, ILP_MAX_BATCH, false, 1, &n, err, errlen))
            return -1;
        self->batch = (uint32_t)n;
        return il_codec_get_str(body, "core_id", ILP_MAX_ID, true, &self->core_id, err, errlen);
    case ILP_DENIED:
        return il_codec_get_str(body, "reason", ILP_MAX_TEXT, true, &self->reason, err, errlen);
    case ILP_WORK:
        if (il_codec_get_str(body, "id", ILP_MAX_ID, true, &self->id, err, errlen) ||
            s_get_action(body, &self->action, err, errlen) ||
            il_codec_get_uint(body, "attempt", 1, ILP_MAX_ATTEMPT, false, 1, &n, err, errlen))
            return -1;
        self->attempt = (uint32_t)n;
        return s_get_service(body, true, false, &self->service, err, errlen);
    case ILP_ERROR:
        return il_codec_get_str(body, "reason", ILP_MAX_TEXT, true, &self->reason, err, errlen) ||
               il_codec_get_str(body, "code", ILP_MAX_CODE, false, &self->code, err, errlen) ||
               il_codec_get_str(body, "id", ILP_MAX_ID, false, &self->id, err, errlen);
    default:
        return -1;
    }
}

static ilp_cmd_t s_cmd_lookup(const ilp_frame_t *frame)
{
    for (int i = 1; i < S_CMD_COUNT; i++)
        if (strlen(s_cmd_names[i]) == frame->size &&
            !memcmp(frame->data, s_cmd_names[i], frame->size))
            return (ilp_cmd_t)i;
    return ILP_INVALID;
}

ilp_msg_t *ilp_msg_decode(zmsg_t *zmsg, char *err, size_t errlen)
{
    ilp_frame_t frames[3];
    size_t count = zmsg ? zmsg_size(zmsg) : 0;
    if (count != 3) {
        snprintf(err, errlen, "expected 3 frames, got %zu", count);
        return NULL;
    }
    size_t i = 0;
    for (zframe_t *f = zmsg_first(zmsg); f && i < 3; f = zmsg_next(zmsg), i++)
        frames[i] = (ilp_frame_t){zframe_data(f), zframe_size(f)};
    return ilp_msg_decode_frames(frames, count, NULL, 0, err, errlen);
}

/* The checks every message gets before its body: frame count, signature,
 * command, and a body that unpacks. *cmd and *obj (in zone) on success. */
static int s_decode_head(const ilp_frame_t *frames, size_t count, msgpack_zone *zone,
                         ilp_cmd_t *cmd, msgpack_object *obj, char *err, size_t errlen)
{
    if (!frames || count != 3) {
        snprintf(err, errlen, "expected 3 frames, got %zu", frames ? count : 0);
        return -1;
    }
    const ilp_frame_t *sig = &frames[0], *body = &frames[2];
    if (sig->size != strlen(ILP_SIGNATURE) ||
        memcmp(sig->data, ILP_SIGNATURE, strlen(ILP_SIGNATURE))) {
        snprintf(err, errlen, "wrong protocol signature (expected \"%s\")", ILP_SIGNATURE);
        return -1;
    }
    *cmd = s_cmd_lookup(&frames[1]);
    if (*cmd == ILP_INVALID) {
        snprintf(err, errlen, "unknown command (%zu bytes)", frames[1].size);
        return -1;
    }
    char why[256] = "";
    msgpack_zone_clear(zone);
    if (il_codec_unpack_zone(body->data, body->size, zone, obj, why, sizeof why)) {
        snprintf(err, errlen, "%s: body: %s", s_cmd_names[*cmd], why);
        return -1;
    }
    return 0;
}

/* One map body into a new message, NULL with the reason (prefixed by what). */
static ilp_msg_t *s_decode_map(ilp_cmd_t cmd, const msgpack_object *obj, unsigned flags,
                               const char *what, char *err, size_t errlen)
{
    char why[256] = "";
    if (obj->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "%s: body: expected a map", what);
        return NULL;
    }
    ilp_msg_t *self = ilp_msg_new(cmd);
    if (s_decode_body(self, obj, flags, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", what, why);
        ilp_msg_destroy(&self);
    }
    return self;
}

/* A zone for one call when the caller gives none. */
static msgpack_zone *s_zone(msgpack_zone *zone, msgpack_zone *local, char *err, size_t errlen)
{
    if (zone) return zone;
    if (msgpack_zone_init(local, 2048)) return local;
    snprintf(err, errlen, "out of memory");
    return NULL;
}

ilp_msg_t *ilp_msg_decode_frames(const ilp_frame_t *frames, size_t count, msgpack_zone *zone,
                                 unsigned flags, char *err, size_t errlen)
{
    msgpack_zone local;
    msgpack_zone *z = s_zone(zone, &local, err, errlen);
    if (!z) return NULL;
    ilp_cmd_t cmd;
    msgpack_object obj;
    ilp_msg_t *self = NULL;
    if (s_decode_head(frames, count, z, &cmd, &obj, err, errlen) == 0)
        self = s_decode_map(cmd, &obj, flags, s_cmd_names[cmd], err, errlen);
    if (z == &local) msgpack_zone_destroy(&local);
    return self;
}

static bool s_batchable(ilp_cmd_t cmd)
{
    return cmd == ILP_EVENT || cmd == ILP_RESULT || cmd == ILP_WORK;
}

/* The "id" of a batch item that did not decode, when it is a short string. */
static const char *s_item_id(const msgpack_object *item, char *id, size_t idlen)
{
    const msgpack_object *v =
        item->type == MSGPACK_OBJECT_MAP ? il_codec_map_get(item, "id") : NULL;
    if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0 || v->via.str.size >= idlen ||
        memchr(v->via.str.ptr, 0, v->via.str.size))
        return NULL;
    memcpy(id, v->via.str.ptr, v->via.str.size);
    id[v->via.str.size] = 0;
    return id;
}

int ilp_msg_decode_batch(const ilp_frame_t *frames, size_t count, msgpack_zone *zone,
                         unsigned flags, ilp_msg_item_fn *fn, void *arg, char *err, size_t errlen)
{
    msgpack_zone local;
    msgpack_zone *z = s_zone(zone, &local, err, errlen);
    if (!z) return -1;
    ilp_cmd_t cmd;
    msgpack_object obj;
    int items = -1;
    if (s_decode_head(frames, count, z, &cmd, &obj, err, errlen) != 0) goto done;
    if (obj.type == MSGPACK_OBJECT_MAP) {
        char why[300] = "";
        ilp_msg_t *msg = s_decode_map(cmd, &obj, flags, s_cmd_names[cmd], why, sizeof why);
        char id[ILP_MAX_ID + 1];
        fn(arg, msg, msg ? NULL : why, msg ? NULL : s_item_id(&obj, id, sizeof id));
        ilp_msg_destroy(&msg);
        items = 1;
        goto done;
    }
    if (obj.type != MSGPACK_OBJECT_ARRAY || !s_batchable(cmd)) {
        snprintf(err, errlen, "%s: body: expected a map%s", s_cmd_names[cmd],
                 s_batchable(cmd) ? " or an array of maps" : "");
        goto done;
    }
    if (obj.via.array.size < 1 || obj.via.array.size > ILP_MAX_BATCH) {
        snprintf(err, errlen, "%s: body: a batch holds 1 to %d items, not %u", s_cmd_names[cmd],
                 ILP_MAX_BATCH, (unsigned)obj.via.array.size);
        goto done;
    }
    for (uint32_t i = 0; i < obj.via.array.size; i++) {
        const msgpack_object *item = &obj.via.array.ptr[i];
        char what[32], why[300] = "", id[ILP_MAX_ID + 1];
        snprintf(what, sizeof what, "%s[%u]", s_cmd_names[cmd], (unsigned)i);
        ilp_msg_t *msg = s_decode_map(cmd, item, flags, what, why, sizeof why);
        fn(arg, msg, msg ? NULL : why, msg ? NULL : s_item_id(item, id, sizeof id));
        ilp_msg_destroy(&msg);
    }
    items = (int)obj.via.array.size;
done:
    if (z == &local) msgpack_zone_destroy(&local);
    return items;
}
