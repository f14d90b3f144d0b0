/* config: the YAML configuration file (one file for the whole stack), read with
 * libyaml into a tree whose nodes remember their line, and typed getters that
 * take dotted keys ("core.bus.router"). Every error names the file, the line
 * and the key, e.g. "interlook.yml:7: core.bus.heartbeat: 'abc' is not a
 * duration (use e.g. 500ms, 3s, 10m, 1h)". */
#ifndef INTERLOOK_CONFIG_H
#define INTERLOOK_CONFIG_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _il_config_t il_config_t;

/* Loads and parses a YAML file. The top level must be a mapping (an empty file
 * is an empty configuration). Anchors/aliases, duplicate keys, several
 * documents and non-string keys are refused. Returns NULL on failure and writes
 * "FILE:LINE: reason" into err (err may be NULL). */
il_config_t *il_config_load(const char *path, char *err, size_t errlen);

/* The same from text in memory; name stands for the file in messages. */
il_config_t *il_config_load_string(const char *text, const char *name, char *err, size_t errlen);

/* An empty configuration: every getter returns its default. Never NULL. */
il_config_t *il_config_new_empty(void);

void il_config_destroy(il_config_t **self_p);

/* The last error of a getter, "FILE:LINE: key: reason" (empty string when none). */
const char *il_config_error(il_config_t *self);

/* The file name given at load time. */
const char *il_config_name(il_config_t *self);

/* True when the key is present (any type). */
bool il_config_has(il_config_t *self, const char *key);

/* Line of the key's value, 0 when absent. */
int il_config_line(il_config_t *self, const char *key);

/* Getters. A missing key (or an explicit null / "~") gives the default and 0.
 * A key of the wrong kind (mapping where a scalar is wanted, ...) or a value
 * that does not parse returns -1 and sets il_config_error. *value is only written
 * on success. Returned strings belong to the config object. */
int il_config_string(il_config_t *self, const char *key, const char *dflt, const char **value);
int il_config_int(il_config_t *self, const char *key, int64_t dflt, int64_t min, int64_t max,
                  int64_t *value);
int il_config_bool(il_config_t *self, const char *key, bool dflt, bool *value);
/* Durations: "250ms", "3s", "10m", "1h", "1m30s", or a bare integer meaning
 * milliseconds; negative values are refused. */
int il_config_duration(il_config_t *self, const char *key, int64_t dflt_ms, int64_t *value_ms);

/* A list of strings: a YAML sequence of scalars, or one scalar split on commas
 * (surrounding blanks trimmed, empty items refused). A missing key gives an
 * empty list. The caller destroys the list (items are owned by the list). */
int il_config_list(il_config_t *self, const char *key, zlistx_t **value);

/* Refuses keys under a mapping that are not in the NULL-terminated list known
 * (typo protection): section "core" checks the direct children of "core";
 * "" checks the top level. A missing section is fine. Returns -1 and sets
 * il_config_error naming the first unknown key and its line. */
int il_config_check_keys(il_config_t *self, const char *section, const char *const *known);

/* Parses a duration as il_config_duration does. Returns -1 when text is not one. */
int il_config_parse_duration(const char *text, int64_t *value_ms);

#endif
