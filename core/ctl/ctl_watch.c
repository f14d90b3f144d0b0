/* ctl_watch: the state feed of the core on a terminal, see ctl_watch.h. */
#include "core/ctl/ctl_watch.h"
#include "broker/bus_config.h"
#include "broker/ilp_cert.h"
#include "broker/ilp_pub.h"
#include "common/codec.h"
#include "core/ctl/ctl_format.h"

#include <czmq.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_POLL_MS 500 /* zsys_interrupted is checked at least this often */

/* A state publication, decoded. */
typedef struct {
    il_service_t *service;
    char *state;
    char *expected;
    char *error; /* NULL when none */
} s_change_t;

static void s_change_clear(s_change_t *change)
{
    il_service_destroy(&change->service);
    free(change->state);
    free(change->expected);
    free(change->error);
}

/* Decodes a "state" body. Returns -1 with the reason in err. */
static int s_change_decode(const msgpack_object *map, s_change_t *change, char *err, size_t errlen)
{
    memset(change, 0, sizeof *change);
    change->service = il_service_decode(il_codec_map_get(map, "service"), err, errlen);
    if (!change->service ||
        il_codec_get_str(map, "state", ILP_MAX_EXT_NAME, true, &change->state, err, errlen) ||
        il_codec_get_str(map, "expected_state", ILP_MAX_EXT_NAME, true, &change->expected, err,
                         errlen) ||
        il_codec_get_str(map, "error", IL_CODEC_MAX_STRING, false, &change->error, err, errlen)) {
        s_change_clear(change);
        return -1;
    }
    return 0;
}

/* Writes one line for the change. */
static void s_watch_text(const s_change_t *change, const char *now)
{
    char *name = ctl_format_clean(change->service->name, 0);
    char *state = ctl_format_clean(change->state, 0);
    char *expected = ctl_format_clean(change->expected, 0);
    char *error = change->error ? ctl_format_clean(change->error, 0) : NULL;
    printf("%s %s %s (expected %s)%s%s\n", now, name, state, expected, error ? " error: " : "",
           error ? error : "");
    free(name);
    free(state);
    free(expected);
    free(error);
}

/* A JSON string of text cleaned (valid UTF-8), or null for NULL. */
static json_t *s_json_text(const char *text)
{
    if (!text) return json_null();
    char *clean = ctl_format_clean(text, 0);
    json_t *value = clean ? json_string(clean) : NULL;
    free(clean);
    return value;
}

static int s_watch_json(const s_change_t *change, const char *now)
{
    const il_service_t *svc = change->service;
    json_t *targets = json_array();
    for (size_t i = 0; targets && i < svc->target_count; i++)
        json_array_append_new(targets, json_pack("{s:o, s:I, s:I}", "host",
                                                 s_json_text(svc->targets[i].host), "port",
                                                 (json_int_t)svc->targets[i].port, "weight",
                                                 (json_int_t)svc->targets[i].weight));
    json_t *obj = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "time", now, "name", s_json_text(svc->name),
        "state", s_json_text(change->state), "expected_state", s_json_text(change->expected),
        "error", s_json_text(change->error), "public_ip", s_json_text(svc->public_ip), "port",
        svc->port ? json_integer(svc->port) : json_null(), "targets", targets);
    char *line = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!line) return -1;
    printf("%s\n", line);
    free(line);
    return 0;
}

/* Shows one state change (a map of a "changes" publication). Returns -1
 * when stdout fails. */
static int s_on_change(const msgpack_object *map, bool json)
{
    char err[256];
    s_change_t change;
    if (s_change_decode(map, &change, err, sizeof err) != 0) {
        fprintf(stderr, "interlookctl: skipping a malformed state change: %s\n", err);
        return 0;
    }
    char now[48];
    ctl_format_now(now, sizeof now);
    if (!json)
        s_watch_text(&change, now);
    else if (s_watch_json(&change, now) != 0)
        fprintf(stderr, "interlookctl: a change could not be written as JSON, not shown\n");
    s_change_clear(&change);
    return fflush(stdout) != 0 || ferror(stdout) ? -1 : 0;
}

/* Handles one message from the SUB socket. Returns -1 when stdout fails. */
static int s_on_message(zmsg_t **msg_p, bool json)
{
    char err[256], *topic = NULL;
    msgpack_unpacked body;
    msgpack_unpacked_init(&body);
    zframe_t *frame = ilp_pub_decode(*msg_p, &topic, &body, err, sizeof err);
    int rc = 0;
    if (!frame) {
        fprintf(stderr, "interlookctl: skipping a malformed publication: %s\n", err);
    } else if (!strcmp(topic, ILP_TOPIC_CHANGES)) { /* subscriptions match a prefix */
        for (uint32_t i = 0; i < body.data.via.array.size && rc == 0; i++)
            rc = s_on_change(&body.data.via.array.ptr[i], json);
    }
    msgpack_unpacked_destroy(&body);
    zframe_destroy(&frame);
    free(topic);
    zmsg_destroy(msg_p);
    return rc;
}

/* CURVE on the SUB socket, before it connects. 0, or 2 after saying why. */
static int s_curve(zsock_t *sub, const char *core_cert, const char *cert)
{
    if (!core_cert && !cert) return 0;
    if (!core_cert || !cert) {
        fprintf(stderr, "interlookctl: watch: %s\n",
                core_cert ? "core.bus.curve is set (the bus uses CURVE): give --cert FILE "
                            "(interlookctl keygen FILE makes one)"
                          : "--cert without core.bus.curve.coreCert in the configuration");
        return 2;
    }
    char err[1024];
    ilp_cert_t core, own;
    if (ilp_cert_load_public(&core, core_cert, err, sizeof err) != 0 ||
        ilp_cert_load_pair(&own, cert, err, sizeof err) != 0) {
        fprintf(stderr, "interlookctl: watch: %s\n", err);
        ilp_cert_clear(&core);
        return 2;
    }
    zsock_set_curve_serverkey(sub, core.public_key);
    zsock_set_curve_publickey(sub, own.public_key);
    zsock_set_curve_secretkey(sub, own.secret_key);
    ilp_cert_clear(&core);
    ilp_cert_clear(&own);
    return 0;
}

int ctl_watch_run(const char *endpoint, bool json, const char *core_cert, const char *cert)
{
    zsys_init(); /* installs the SIGINT/SIGTERM handler: zsys_interrupted */
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub) {
        fprintf(stderr, "interlookctl: cannot create a ZeroMQ socket: %s\n", zmq_strerror(errno));
        return 1;
    }
    zsock_set_linger(sub, 0);
    if (s_curve(sub, core_cert, cert) != 0) {
        zsock_destroy(&sub);
        return 2;
    }
    zsock_set_subscribe(sub, ILP_TOPIC_CHANGES); /* several changes a message */
    /* Several cores (a list): every one, only the leader publishes. */
    for (size_t i = 0; i < il_bus_config_endpoint_count(endpoint); i++) {
        char one[1024];
        if (il_bus_config_endpoint_at(endpoint, i, one, sizeof one) != 0 ||
            zsock_connect(sub, "%s", one) != 0) {
            fprintf(stderr, "interlookctl: cannot connect to the publish endpoint '%s': %s\n",
                    endpoint, zmq_strerror(errno));
            zsock_destroy(&sub);
            return 2;
        }
    }
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "interlookctl: watching %s (Ctrl-C to stop)\n", endpoint);
    /* With CURVE, a refused key is a failed handshake that libzmq does not
     * retry: a monitor sees it, and watch says so instead of waiting forever. */
    zsock_t *monitor = NULL;
    if (core_cert && zmq_socket_monitor(zsock_resolve(sub), "inproc://ctl-watch-monitor",
                                        ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0) {
        monitor = zsock_new(ZMQ_PAIR);
        if (monitor) zsock_connect(monitor, "inproc://ctl-watch-monitor");
    }
    zpoller_t *poller = zpoller_new(sub, monitor, NULL);
    int rc = poller ? 0 : 1;
    while (rc == 0 && !zsys_interrupted) {
        void *which = zpoller_wait(poller, S_POLL_MS);
        if (!which) {
            if (zpoller_terminated(poller)) break;
            continue;
        }
        if (which == monitor) {
            fprintf(stderr, "interlookctl: watch: the core refused our CURVE key (is the public "
                            "file of --cert in its core.bus.curve.clientCerts?)\n");
            rc = 1;
            break;
        }
        zmsg_t *msg = zmsg_recv(sub);
        if (!msg) break; /* interrupted */
        if (s_on_message(&msg, json) != 0) {
            fprintf(stderr, "interlookctl: cannot write the output\n");
            rc = 1;
        }
    }
    zpoller_destroy(&poller);
    if (monitor) zmq_socket_monitor(zsock_resolve(sub), NULL, 0);
    zsock_destroy(&monitor);
    zsock_destroy(&sub);
    return rc;
}
