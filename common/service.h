/* service: the service object that travels on the bus — a name, the provider
 * that reported it, its targets, TLS flag, public port, public IP and DNS
 * aliases — with a msgpack encoder and a strict decoder for untrusted input.
 *
 * The struct is a plain data model on purpose: the core's merge rules read
 * and write its fields. Targets and aliases are kept sorted and without
 * duplicates (il_service_normalize), so that two definitions compare with
 * il_service_same_definition regardless of the order a provider listed them. */
#ifndef INTERLOOK_SERVICE_H
#define INTERLOOK_SERVICE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on decoded services (documented in docs/protocol.md). */
#define IL_SERVICE_MAX_NAME       255
#define IL_SERVICE_MAX_PROVIDER   64
#define IL_SERVICE_MAX_HOST       255
#define IL_SERVICE_MAX_ALIAS      253
#define IL_SERVICE_MAX_TARGETS    1024
#define IL_SERVICE_MAX_ALIASES    256
#define IL_SERVICE_MAX_WEIGHT     1000000
#define IL_SERVICE_MAX_IP         45
#define IL_SERVICE_MAX_CHECK_PATH 1024 /* bytes of an http check's path */
/* bytes of a check: "http:" PATH " " LO "-" HI */
#define IL_SERVICE_MAX_CHECK (5 + IL_SERVICE_MAX_CHECK_PATH + 8)

typedef struct {
    char *host;      /* address or host name of one backend */
    uint16_t port;   /* 1..65535 */
    uint32_t weight; /* 1..IL_SERVICE_MAX_WEIGHT, default 1 */
} il_service_target_t;

typedef struct {
    char *name;                   /* unique key of the service, never NULL */
    char *provider;               /* extension that reported it, NULL when unknown */
    il_service_target_t *targets; /* target_count items, sorted by host then port */
    size_t target_count;
    bool tls;           /* the service speaks TLS */
    uint16_t port;      /* public port (a load balancer's on public_ip), 0 = none */
    char *public_ip;    /* virtual IP given by IPAM, NULL when none */
    char **dns_aliases; /* alias_count names, sorted */
    size_t alias_count;
    char *check; /* health check, normalised (il_service_check_parse), NULL = the step's default */
} il_service_t;

/* What a service's check says, once parsed. */
typedef enum {
    IL_SERVICE_CHECK_TCP,  /* "tcp": a connect */
    IL_SERVICE_CHECK_HTTP, /* "http[:PATH[ LO[-HI]]]": GET PATH, a status in LO..HI */
    IL_SERVICE_CHECK_NONE  /* "none": no check */
} il_service_check_kind_t;

typedef struct {
    il_service_check_kind_t kind;
    char path[IL_SERVICE_MAX_CHECK_PATH + 1]; /* http: the path, "" = the step's default */
    int status_min, status_max;               /* http: the statuses, 0 = the step's default */
} il_service_check_t;

/* A new service with that name and nothing else. NULL when name is empty. */
il_service_t *il_service_new(const char *name);

void il_service_destroy(il_service_t **self_p);

/* A deep copy (NULL for NULL). */
il_service_t *il_service_dup(const il_service_t *self);

/* Adds a target; an identical host:port adds its weight to the existing one,
 * and a weight above IL_SERVICE_MAX_WEIGHT is capped to it. Returns -1 for an
 * empty or too long host, port 0, weight 0, more than IL_SERVICE_MAX_TARGETS
 * targets. */
int il_service_add_target(il_service_t *self, const char *host, uint16_t port, uint32_t weight);

/* Adds an alias (ignored when already present). Returns -1 on bounds. */
int il_service_add_alias(il_service_t *self, const char *alias);

/* Replaces a string field (provider or public_ip); NULL clears it. Returns 0. */
int il_service_set_string(char **field, const char *value);

/* True when path may be an http check's: starts with '/', at most
 * IL_SERVICE_MAX_CHECK_PATH bytes of a URI's characters, none that HAProxy's
 * configuration reads as a blank, comment, quote, escape or variable. */
bool il_service_check_path_valid(const char *path);

/* Parses "LO" or "LO-HI", statuses within 100..599 and LO <= HI. Returns -1
 * when it is not that. */
int il_service_check_expect_parse(const char *text, int *lo, int *hi);

/* Parses a check: "tcp", "none", "http", "http:PATH" or "http:PATH LO[-HI]"
 * (one blank before the statuses). Returns -1 with the reason in err. */
int il_service_check_parse(const char *text, il_service_check_t *check, char *err, size_t errlen);

/* Writes a parsed check in its normal form ("http:/x 200" for 200-200). */
void il_service_check_format(const il_service_check_t *check, char *out, size_t len);

/* Sets the service's check to text in its normal form; NULL or "" clears
 * it. Returns -1 with the reason in err (the check unchanged) when text is
 * not a check. */
int il_service_set_check(il_service_t *self, const char *text, char *err, size_t errlen);

/* Sorts targets and aliases. The decoder and the adders keep this invariant. */
void il_service_normalize(il_service_t *self);

/* True when targets, tls, port, aliases and check are equal (what a provider defines). */
bool il_service_same_definition(const il_service_t *a, const il_service_t *b);

/* Writes the service as a msgpack map: name, provider, targets, tls,
 * public_ip (nil when none), dns_aliases, port only when it is not 0 and
 * check only when set (a peer that predates them sees the map it always
 * saw). */
void il_service_pack(const il_service_t *self, msgpack_packer *pk);

/* Reads a service map from untrusted input. Only name is required; unknown
 * keys are ignored; missing optional keys take defaults (no targets, tls
 * false, port 0, no public_ip, no aliases). A public_ip must be an IPv4 or IPv6
 * address (an empty string means none); a port an integer from 1 to 65535 (nil
 * or absent means none); a check one il_service_check_parse reads (nil, absent
 * or "" means none), kept in its normal form. Returns NULL with the reason in
 * err. */
il_service_t *il_service_decode(const msgpack_object *obj, char *err, size_t errlen);

/* What the core reads of a RESULT's service: its name and public_ip, checked
 * as il_service_decode checks them; the other fields are not read (a RESULT may
 * not change them, ILP section 4), so the service has no targets, aliases or
 * port. */
il_service_t *il_service_decode_result(const msgpack_object *obj, char *err, size_t errlen);

/* Parses a textual IPv4/IPv6 address; true when valid. */
bool il_service_ip_valid(const char *text);

#endif
