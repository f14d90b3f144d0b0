/* etcd: a small blocking client of etcd's v3 JSON gateway (the HTTP/JSON face
 * of the gRPC API that etcd 3.4 serves on its client URLs: /v3/kv/range,
 * /v3/kv/txn, /v3/lease/..., /v3/watch) over libcurl and jansson, so that
 * interlook's core and allocator can keep their state in the store operators
 * already run, without a gRPC stack. Keys and values travel base64-encoded;
 * numbers come as strings and false/zero fields are left out (a failed txn
 * has no "succeeded"): the decoding here treats a missing field as zero.
 *
 * Every call blocks, bounded by the client's timeout; callers run them on a
 * thread of their own (a zactor). A client (and a watch) is used by one
 * thread at a time. On a connection error, a time-out or an "unavailable"
 * answer (a member without a leader), a call moves on to the next endpoint,
 * each endpoint at most once per call. Every error names the endpoint and
 * why, with etcd's own message when it gave one. */
#ifndef INTERLOOK_ETCD_H
#define INTERLOOK_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* etcd's default --max-txn-ops: operations in each list of one txn. */
#define IL_ETCD_MAX_TXN_OPS 128

/* Keys per page of a whole-prefix read: some 2 MB of JSON at 400-byte
 * values, well under what a client takes in one answer (64 MiB). */
#define IL_ETCD_PAGE 4096

/* What il_etcd_watch_next returns when the revision to resume from has been
 * compacted away: the caller must read the state again and watch anew. */
#define IL_ETCD_COMPACTED (-2)

typedef struct _il_etcd_t il_etcd_t;
typedef struct _il_etcd_txn_t il_etcd_txn_t;
typedef struct _il_etcd_watch_t il_etcd_watch_t;

typedef struct {
    const char *const *endpoints; /* "http://127.0.0.1:2379", "https://..." */
    size_t endpoint_count;
    const char *tls_ca;     /* https: the CA that signed the members' certificates */
    const char *tls_cert;   /* optional client certificate and key (both or none) */
    const char *tls_key;    /*   */
    int64_t timeout_ms;     /* one whole call, failovers included (default 5000) */
    int64_t try_timeout_ms; /* one endpoint within a call (default 2000) */
} il_etcd_config_t;

typedef struct {
    char *key;   /* NUL-terminated (keys are text here) */
    char *value; /* value_len bytes, and a NUL after them */
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
    int64_t lease;
} il_etcd_kv_t;

/* The key-values a read (or a txn's reads) gave, and the store's revision. */
typedef struct {
    il_etcd_kv_t *kvs;
    size_t count;
    int64_t revision; /* of the store when it answered */
    bool more;        /* a limit cut the answer */
} il_etcd_range_t;

typedef enum { IL_ETCD_PUT = 0, IL_ETCD_DELETE = 1 } il_etcd_event_type_t;

typedef struct {
    il_etcd_event_type_t type;
    il_etcd_kv_t kv; /* a DELETE carries the key and its mod_revision only */
} il_etcd_event_t;

/* A batch of events from a watch. */
typedef struct {
    il_etcd_event_t *events;
    size_t count;
} il_etcd_events_t;

/* What a txn compares. */
typedef enum {
    IL_ETCD_CREATE_REVISION, /* 0: the key does not exist */
    IL_ETCD_MOD_REVISION,
    IL_ETCD_VERSION,
    IL_ETCD_VALUE,
} il_etcd_target_t;

typedef enum { IL_ETCD_EQUAL, IL_ETCD_NOT_EQUAL, IL_ETCD_GREATER, IL_ETCD_LESS } il_etcd_cmp_t;

/* A client of those endpoints. NULL with the reason in err when the list is
 * empty, an endpoint is not http:// or https://, only one of tlsCert/tlsKey
 * is given, a TLS file cannot be read or libcurl cannot start. Nothing is
 * connected yet. */
il_etcd_t *il_etcd_new(const il_etcd_config_t *config, char *err, size_t errlen);

/* Frees the client (a NULL *self_p is fine) and sets *self_p to NULL. */
void il_etcd_destroy(il_etcd_t **self_p);

/* Sets the bound of each later call (ms, > 0), failovers included. */
void il_etcd_set_timeout(il_etcd_t *self, int64_t timeout_ms);

/* Keys per page when a whole prefix is read (> 0; default IL_ETCD_PAGE). */
void il_etcd_set_page(il_etcd_t *self, int64_t keys);

/* The endpoint the next call tries first (the last that answered). */
const char *il_etcd_endpoint(il_etcd_t *self);

/* Reads one key into out (count 0 when it does not exist) at revision (0:
 * the latest). -1 with the reason in err. */
int il_etcd_get(il_etcd_t *self, const char *key, int64_t revision, il_etcd_range_t *out, char *err,
                size_t errlen);

/* Reads every key starting with prefix (at most limit, 0: all) at revision
 * (0: the latest), in key order. All is read in pages of IL_ETCD_PAGE keys
 * (il_etcd_set_page), each at the revision of the first (out->revision), so
 * the whole is one consistent view of any size; a revision compacted while
 * paging fails the read. -1 with the reason in err. */
int il_etcd_get_prefix(il_etcd_t *self, const char *prefix, int64_t limit, int64_t revision,
                       il_etcd_range_t *out, char *err, size_t errlen);

/* Frees what a read put in r (not r itself) and zeroes it. */
void il_etcd_range_free(il_etcd_range_t *r);

/* Puts key = value (len bytes), attached to lease (0: none); *revision (when
 * not NULL) is the store's revision after it. -1 with the reason in err. */
int il_etcd_put(il_etcd_t *self, const char *key, const void *value, size_t len, int64_t lease,
                int64_t *revision, char *err, size_t errlen);

/* Deletes key (or every key under it when prefix); *deleted (when not NULL)
 * is how many went. -1 with the reason in err. */
int il_etcd_delete(il_etcd_t *self, const char *key, bool prefix, int64_t *deleted, char *err,
                   size_t errlen);

/* A new, empty txn (compares, then the operations when they all hold, and
 * those when one does not). */
il_etcd_txn_t *il_etcd_txn_new(void);

/* Frees the txn and sets *self_p to NULL. */
void il_etcd_txn_destroy(il_etcd_txn_t **self_p);

/* Adds "target of key cmp rev" (create_revision, mod_revision or version). */
void il_etcd_txn_compare(il_etcd_txn_t *self, const char *key, il_etcd_target_t target,
                         il_etcd_cmp_t cmp, int64_t rev);

/* Adds "value of key cmp value" (len bytes). */
void il_etcd_txn_compare_value(il_etcd_txn_t *self, const char *key, il_etcd_cmp_t cmp,
                               const void *value, size_t len);

/* Adds a put to the success (or, success false, the failure) list. */
void il_etcd_txn_put(il_etcd_txn_t *self, bool success, const char *key, const void *value,
                     size_t len, int64_t lease);

/* Adds a delete of key (every key under it when prefix) to a list. */
void il_etcd_txn_delete(il_etcd_txn_t *self, bool success, const char *key, bool prefix);

/* Adds a read of key (every key under it when prefix) to a list; what it
 * finds comes back in il_etcd_txn_commit's out. */
void il_etcd_txn_get(il_etcd_txn_t *self, bool success, const char *key, bool prefix);

/* The operations in the larger of the two lists. */
size_t il_etcd_txn_size(il_etcd_txn_t *self);

/* Commits the txn: *succeeded says whether every compare held; out (when not
 * NULL) gets the key-values every read of the branch taken found, in order,
 * and the store's revision after it. -1 with the reason in err, at once (no
 * request) when a list holds more than IL_ETCD_MAX_TXN_OPS operations. A
 * time-out leaves it unknown whether the txn was applied: callers make their
 * txns safe to repeat (the compares tell). */
int il_etcd_txn_commit(il_etcd_t *self, il_etcd_txn_t *txn, bool *succeeded, il_etcd_range_t *out,
                       char *err, size_t errlen);

/* Grants a lease of ttl_s seconds: *id and the TTL etcd granted (*granted_s,
 * when not NULL). -1 with the reason in err. */
int il_etcd_lease_grant(il_etcd_t *self, int64_t ttl_s, int64_t *id, int64_t *granted_s, char *err,
                        size_t errlen);

/* Renews lease id once; *ttl_s (when not NULL) is its TTL again. -1 with the
 * reason in err, also when etcd no longer knows the lease (expired). */
int il_etcd_lease_keepalive(il_etcd_t *self, int64_t id, int64_t *ttl_s, char *err, size_t errlen);

/* Revokes lease id (its keys go with it); an unknown lease is not an error.
 * -1 with the reason in err. */
int il_etcd_lease_revoke(il_etcd_t *self, int64_t id, char *err, size_t errlen);

/* A watch of key (every key under it when prefix) from start_revision (0:
 * changes after now) through client's endpoints and TLS settings (the client
 * may be used for other calls meanwhile). Connects on the first
 * il_etcd_watch_next. NULL with the reason in err when libcurl cannot start. */
il_etcd_watch_t *il_etcd_watch_new(il_etcd_t *client, const char *key, bool prefix,
                                   int64_t start_revision, char *err, size_t errlen);

/* Closes the stream, frees the watch, sets *self_p to NULL. */
void il_etcd_watch_destroy(il_etcd_watch_t **self_p);

/* Waits up to timeout_ms for events and puts them in out (count 0 when none
 * came in time; free with il_etcd_events_free). A stream that ended or broke
 * is opened again, on the next endpoint, from the revision after the last
 * event delivered, so no event is lost or repeated. -1 with the reason in
 * err when no endpoint could be reached in this call (the next call tries
 * again); IL_ETCD_COMPACTED when that revision has been compacted (see
 * il_etcd_watch_compact_revision; the watch is then finished). */
int il_etcd_watch_next(il_etcd_watch_t *self, int timeout_ms, il_etcd_events_t *out, char *err,
                       size_t errlen);

/* A stream that sent nothing for idle_ms (default 10000; 0: never) is opened
 * again from the last revision: etcd's gateway sends nothing on a quiet
 * stream, and a member that hung after the stream was made is only found
 * when a new stream gets no "created" in time (then the next endpoint). */
void il_etcd_watch_set_idle(il_etcd_watch_t *self, int64_t idle_ms);

/* The revision of the last event delivered (or the one before the start). */
int64_t il_etcd_watch_revision(il_etcd_watch_t *self);

/* After IL_ETCD_COMPACTED: the oldest revision etcd still has. */
int64_t il_etcd_watch_compact_revision(il_etcd_watch_t *self);

/* Frees what il_etcd_watch_next put in events and zeroes it. */
void il_etcd_events_free(il_etcd_events_t *events);

/* Pure parts, public for the unit tests. */

/* base64 of len bytes (caller frees). */
char *il_etcd_b64_encode(const void *data, size_t len);

/* The bytes of a base64 text (caller frees; a NUL follows them), their
 * length in *len; NULL when text is not base64. */
char *il_etcd_b64_decode(const char *text, size_t *len);

/* The range end that makes a range of every key starting with prefix (bytes,
 * *len set; caller frees): the prefix with its last byte below 0xff plus one,
 * the bytes after it dropped; "\0" (all keys) when there is none. */
char *il_etcd_prefix_end(const char *prefix, size_t *len);

/* Decodes one answer body of /v3/kv/range or a txn's response_range (JSON
 * text) into out. -1 with the reason in err. */
int il_etcd_decode_range(const char *body, il_etcd_range_t *out, char *err, size_t errlen);

/* Decodes one line of a /v3/watch stream: events appended to out, *created /
 * *canceled set, *compact_revision (0 when none) and *header_revision.
 * -1 with the reason in err (including an {"error": ...} line). */
int il_etcd_decode_watch(const char *line, il_etcd_events_t *out, bool *created, bool *canceled,
                         int64_t *compact_revision, int64_t *header_revision, char *err,
                         size_t errlen);

#endif
