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
#define IL_SERVICE_MAX_NAME     255
#define IL_SERVICE_MAX_PROVIDER 64
#define IL_SERVICE_MAX_HOST     255
#define IL_SERVICE_MAX_ALIAS    253
#define IL_SERVICE_MAX_TARGETS  1024
#define IL_SERVICE_MAX_ALIASES  256
#define IL_SERVICE_MAX_WEIGHT   1000000
#define IL_SERVICE_MAX_IP       45

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
} il_service_t;

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

/* Sorts targets and aliases. The decoder and the adders keep this invariant. */
void il_service_normalize(il_service_t *self);

/* True when targets, tls, port and aliases are equal (what a provider defines). */
bool il_service_same_definition(const il_service_t *a, const il_service_t *b);

/* Writes the service as a msgpack map: name, provider, targets, tls,
 * public_ip (nil when none), dns_aliases, and port only when it is not 0 (a
 * peer that predates it sees the map it always saw). */
void il_service_pack(const il_service_t *self, msgpack_packer *pk);

/* Reads a service map from untrusted input. Only name is required; unknown
 * keys are ignored; missing optional keys take defaults (no targets, tls
 * false, port 0, no public_ip, no aliases). A public_ip must be an IPv4 or IPv6
 * address (an empty string means none); a port an integer from 1 to 65535 (nil
 * or absent means none). Returns NULL with the reason in err. */
il_service_t *il_service_decode(const msgpack_object *obj, char *err, size_t errlen);

/* What the core reads of a RESULT's service: its name and public_ip, checked
 * as il_service_decode checks them; the other fields are not read (a RESULT may
 * not change them, ILP section 4), so the service has no targets, aliases or
 * port. */
il_service_t *il_service_decode_result(const msgpack_object *obj, char *err, size_t errlen);

/* Parses a textual IPv4/IPv6 address; true when valid. */
bool il_service_ip_valid(const char *text);

#endif
