/* config: the YAML configuration as a tree of line-numbered nodes, with typed getters. */
#include "common/config.h"
#include "common/alloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_DEPTH 32
#define DURATION_MAX_MS  (100LL * 365 * 24 * 3600 * 1000) /* about 100 years */

typedef enum { NODE_SCALAR, NODE_MAPPING, NODE_SEQUENCE } node_kind_t;

typedef struct _node_t node_t;
struct _node_t {
    node_kind_t kind;
    int line;             /* line of the value, from 1 */
    char *key;            /* key in the parent mapping, NULL otherwise */
    int key_line;         /* line of that key */
    char *text;           /* scalar: its text */
    bool plain;           /* scalar: unquoted, so "", "~" and "null" mean null */
    node_t *first, *last; /* mapping, sequence: children in file order */
    zhashx_t *index;      /* mapping: key -> child (not owned) */
    node_t *next;         /* next sibling */
};

struct _il_config_t {
    char *name;       /* file name used in messages */
    node_t *root;     /* the top-level mapping, NULL when empty */
    char error[1024]; /* last getter error, "" when none */
};

/* The state of one parse: the libyaml parser, where messages go and the dotted
 * path of the node being built (for messages only). */
typedef struct {
    yaml_parser_t parser;
    const char *name;
    const char *text;
    size_t length;
    char *err;
    size_t errlen;
    char path[512];
} reader_t;

// --------------------------------------------------------------------------
// Nodes

static node_t *s_node_new(node_kind_t kind, int line)
{
    node_t *node = il_calloc(1, sizeof *node);
    node->kind = kind;
    node->line = line;
    if (kind == NODE_MAPPING) {
        node->index = zhashx_new();
        if (!node->index) {
            free(node);
            return NULL;
        }
    }
    return node;
}

static void s_node_destroy(node_t **node_p)
{
    node_t *node = *node_p;
    if (!node) return;
    node_t *child = node->first;
    while (child) {
        node_t *next = child->next;
        s_node_destroy(&child);
        child = next;
    }
    zhashx_destroy(&node->index);
    free(node->key);
    free(node->text);
    free(node);
    *node_p = NULL;
}

static void s_node_append(node_t *parent, node_t *child)
{
    if (parent->last)
        parent->last->next = child;
    else
        parent->first = child;
    parent->last = child;
}

/* The texts of an unquoted scalar that mean null. */
static bool s_null_text(const char *t)
{
    return !*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

/* True for an absent node or a null scalar. */
static bool s_is_null(const node_t *node)
{
    if (!node) return true;
    return node->kind == NODE_SCALAR && node->plain && s_null_text(node->text);
}

static const char *s_kind_name(const node_t *node)
{
    switch (node->kind) {
    case NODE_MAPPING:
        return "a mapping";
    case NODE_SEQUENCE:
        return "a sequence";
    default:
        return "a scalar";
    }
}

// --------------------------------------------------------------------------
// Parsing

/* Writes "NAME:LINE: [PATH: ]reason" into the caller's buffer; returns -1. */
static int s_reader_fail(reader_t *r, int line, bool with_path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_reader_fail(reader_t *r, int line, bool with_path, const char *fmt, ...)
{
    if (!r->err || !r->errlen) return -1;
    int n = snprintf(r->err, r->errlen, "%s:%d: ", r->name, line);
    if (with_path && r->path[0] && n >= 0 && (size_t)n < r->errlen)
        n += snprintf(r->err + n, r->errlen - n, "%s: ", r->path);
    if (n >= 0 && (size_t)n < r->errlen) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(r->err + n, r->errlen - n, fmt, args);
        va_end(args);
    }
    return -1;
}

static int s_line_of(const yaml_mark_t *mark)
{
    return (int)mark->line + 1;
}

/* Reads the next event; reports libyaml's errors as "NAME:LINE: problem". */
static int s_next(reader_t *r, yaml_event_t *event)
{
    if (yaml_parser_parse(&r->parser, event)) return 0;
    yaml_parser_t *p = &r->parser;
    int line = s_line_of(&p->problem_mark);
    if (p->error == YAML_READER_ERROR) { /* bad encoding: only an offset is known */
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < r->length; i++)
            if (r->text[i] == '\n') line++;
    }
    if (p->error == YAML_MEMORY_ERROR || !p->problem)
        return s_reader_fail(r, line, false, "out of memory while parsing");
    if (p->context)
        return s_reader_fail(r, line, false, "%s (%s at line %d)", p->problem, p->context,
                             s_line_of(&p->context_mark));
    return s_reader_fail(r, line, false, "%s", p->problem);
}

/* Appends ".key" (or "key" at the top) or "[i]" to the path; returns the old length. */
static size_t s_path_push(reader_t *r, const char *key, size_t item)
{
    size_t len = strlen(r->path);
    size_t room = sizeof r->path - len;
    if (key)
        snprintf(r->path + len, room, "%s%s", len ? "." : "", key);
    else
        snprintf(r->path + len, room, "[%zu]", item);
    return len;
}

static node_t *s_build(reader_t *r, yaml_event_t *event, int depth);

static int s_build_mapping(reader_t *r, node_t *map, int depth)
{
    while (true) {
        yaml_event_t event;
        if (s_next(r, &event)) return -1;
        if (event.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&event);
            return 0;
        }
        int key_line = s_line_of(&event.start_mark);
        int rc = 0;
        if (event.type == YAML_ALIAS_EVENT)
            rc = s_reader_fail(r, key_line, true, "aliases (*%s) are not allowed",
                               (char *)event.data.alias.anchor);
        else if (event.type != YAML_SCALAR_EVENT)
            rc = s_reader_fail(r, key_line, true, "a key must be a scalar, found %s",
                               event.type == YAML_MAPPING_START_EVENT ? "a mapping" : "a sequence");
        else if (event.data.scalar.anchor)
            rc = s_reader_fail(r, key_line, true, "anchors (&%s) are not allowed",
                               (char *)event.data.scalar.anchor);
        else if (event.data.scalar.length == 0)
            rc = s_reader_fail(r, key_line, true, "a key must not be empty");
        else if (strlen((char *)event.data.scalar.value) != event.data.scalar.length)
            rc = s_reader_fail(r, key_line, true, "a key must not contain a NUL character");
        char *key = rc ? NULL : il_strdup((char *)event.data.scalar.value);
        yaml_event_delete(&event);
        if (rc) return -1;

        size_t saved = s_path_push(r, key, 0);
        node_t *child = NULL;
        node_t *first = zhashx_lookup(map->index, key);
        if (first)
            s_reader_fail(r, key_line, true, "duplicate key (first at line %d)", first->key_line);
        else if (s_next(r, &event) == 0)
            child = s_build(r, &event, depth + 1);
        r->path[saved] = '\0';
        if (!child) {
            free(key);
            return -1;
        }
        child->key = key;
        child->key_line = key_line;
        /* A block collection starts at its first entry; its key's line is where it is. */
        if (child->kind != NODE_SCALAR) child->line = key_line;
        s_node_append(map, child);
        if (zhashx_insert(map->index, key, child))
            return s_reader_fail(r, key_line, true, "out of memory");
    }
}

static int s_build_sequence(reader_t *r, node_t *seq, int depth)
{
    for (size_t item = 0;; item++) {
        yaml_event_t event;
        if (s_next(r, &event)) return -1;
        if (event.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&event);
            return 0;
        }
        size_t saved = s_path_push(r, NULL, item);
        node_t *child = s_build(r, &event, depth + 1);
        r->path[saved] = '\0';
        if (!child) return -1;
        s_node_append(seq, child);
    }
}

/* Builds the node that starts with event (which it consumes) and its children;
 * depth is the node's nesting level (the top-level mapping is 1). */
static node_t *s_build(reader_t *r, yaml_event_t *event, int depth)
{
    int line = s_line_of(&event->start_mark);
    node_t *node = NULL;
    yaml_char_t *anchor = NULL;
    if (event->type == YAML_SCALAR_EVENT) anchor = event->data.scalar.anchor;
    if (event->type == YAML_SEQUENCE_START_EVENT) anchor = event->data.sequence_start.anchor;
    if (event->type == YAML_MAPPING_START_EVENT) anchor = event->data.mapping_start.anchor;

    if (event->type == YAML_ALIAS_EVENT)
        s_reader_fail(r, line, true, "aliases (*%s) are not allowed",
                      (char *)event->data.alias.anchor);
    else if (anchor)
        s_reader_fail(r, line, true, "anchors (&%s) are not allowed", (char *)anchor);
    else if (event->type == YAML_SCALAR_EVENT) {
        const char *text = (const char *)event->data.scalar.value;
        if (strlen(text) != event->data.scalar.length)
            s_reader_fail(r, line, true, "a value must not contain a NUL character");
        else if (!(node = s_node_new(NODE_SCALAR, line)) || !(node->text = il_strdup(text))) {
            s_node_destroy(&node);
            s_reader_fail(r, line, true, "out of memory");
        } else
            node->plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    } else if (event->type == YAML_MAPPING_START_EVENT ||
               event->type == YAML_SEQUENCE_START_EVENT) {
        bool mapping = event->type == YAML_MAPPING_START_EVENT;
        if (depth > CONFIG_MAX_DEPTH)
            s_reader_fail(r, line, true, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
        else if (!(node = s_node_new(mapping ? NODE_MAPPING : NODE_SEQUENCE, line)))
            s_reader_fail(r, line, true, "out of memory");
        else if ((mapping ? s_build_mapping : s_build_sequence)(r, node, depth))
            s_node_destroy(&node);
    } else
        s_reader_fail(r, line, true, "unexpected YAML event");
    yaml_event_delete(event);
    return node;
}

/* Parses the whole stream: nothing, or one document holding a mapping (or null). */
static int s_parse(reader_t *r, node_t **root_p)
{
    yaml_event_t event;
    node_t *root = NULL;
    if (s_next(r, &event)) return -1; /* stream start */
    yaml_event_delete(&event);
    if (s_next(r, &event)) return -1;
    if (event.type == YAML_STREAM_END_EVENT) { /* empty file or only comments */
        yaml_event_delete(&event);
        *root_p = NULL;
        return 0;
    }
    yaml_event_delete(&event); /* document start */
    if (s_next(r, &event)) return -1;

    int line = s_line_of(&event.start_mark);
    if (event.type == YAML_MAPPING_START_EVENT) {
        if (!(root = s_build(r, &event, 1))) return -1;
    } else if (event.type == YAML_SCALAR_EVENT && !event.data.scalar.anchor &&
               event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               s_null_text((const char *)event.data.scalar.value))
        yaml_event_delete(&event); /* "---" alone, or "~" */
    else {
        const char *found = event.type == YAML_SEQUENCE_START_EVENT ? "a sequence"
                            : event.type == YAML_ALIAS_EVENT        ? "an alias"
                                                                    : "a scalar";
        yaml_event_delete(&event);
        return s_reader_fail(r, line, false, "the top level must be a mapping, found %s", found);
    }

    if (s_next(r, &event)) goto fail; /* document end */
    yaml_event_delete(&event);
    if (s_next(r, &event)) goto fail;
    if (event.type != YAML_STREAM_END_EVENT) {
        s_reader_fail(r, s_line_of(&event.start_mark), false,
                      "only one document is allowed (found a second one)");
        yaml_event_delete(&event);
        goto fail;
    }
    yaml_event_delete(&event);
    *root_p = root;
    return 0;
fail:
    s_node_destroy(&root);
    return -1;
}

static il_config_t *s_config_new(const char *name, node_t *root)
{
    il_config_t *self = il_calloc(1, sizeof *self);
    self->name = il_strdup(name);
    self->root = root;
    return self;
}

/* Parses length bytes of text. */
static il_config_t *s_load(const char *text, size_t length, const char *name, char *err,
                           size_t errlen)
{
    reader_t r = {.name = name, .text = text, .length = length, .err = err, .errlen = errlen};
    if (err && errlen) err[0] = '\0';
    if (length > CONFIG_MAX_BYTES) {
        if (err && errlen)
            snprintf(err, errlen, "%s: larger than 1 MiB (%zu bytes), refused", name, length);
        return NULL;
    }
    if (!yaml_parser_initialize(&r.parser)) {
        if (err && errlen) snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, length);
    node_t *root = NULL;
    int rc = s_parse(&r, &root);
    yaml_parser_delete(&r.parser);
    if (rc) return NULL;
    return s_config_new(name, root);
}

il_config_t *il_config_load(const char *path, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    FILE *file = fopen(path, "rb");
    if (!file) {
        if (err && errlen) snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    /* Read one byte more than allowed, to tell a file of exactly 1 MiB from a larger one. */
    char *text = il_malloc(CONFIG_MAX_BYTES + 1);
    size_t length = fread(text, 1, CONFIG_MAX_BYTES + 1, file);
    int failed = ferror(file) ? errno : 0;
    fclose(file);
    il_config_t *self = NULL;
    if (failed) {
        if (err && errlen) snprintf(err, errlen, "%s: %s", path, strerror(failed));
    } else
        self = s_load(text, length, path, err, errlen);
    free(text);
    return self;
}

il_config_t *il_config_load_string(const char *text, const char *name, char *err, size_t errlen)
{
    if (!name) name = "<string>";
    if (!text) {
        if (err && errlen) snprintf(err, errlen, "%s: no text", name);
        return NULL;
    }
    return s_load(text, strlen(text), name, err, errlen);
}

il_config_t *il_config_new_empty(void)
{
    return s_config_new("<empty>", NULL);
}

void il_config_destroy(il_config_t **self_p)
{
    if (!self_p || !*self_p) return;
    il_config_t *self = *self_p;
    s_node_destroy(&self->root);
    free(self->name);
    free(self);
    *self_p = NULL;
}

const char *il_config_error(il_config_t *self)
{
    return self ? self->error : "";
}

const char *il_config_name(il_config_t *self)
{
    return self ? self->name : "";
}

// --------------------------------------------------------------------------
// Getters

/* Sets the error "NAME:LINE: KEY: reason"; returns -1. */
static int s_key_error(il_config_t *self, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_key_error(il_config_t *self, int line, const char *key, const char *fmt, ...)
{
    int n = snprintf(self->error, sizeof self->error, "%s:%d: %s: ", self->name, line, key);
    if (n >= 0 && (size_t)n < sizeof self->error) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(self->error + n, sizeof self->error - n, fmt, args);
        va_end(args);
    }
    return -1;
}

/* Finds the node of a dotted key: *node_p is NULL when absent (or under a null).
 * Returns -1 when a part of the key holds a scalar or a sequence instead of a
 * mapping, setting the error when report is true. */
static int s_walk(il_config_t *self, const char *key, node_t **node_p, bool report)
{
    *node_p = NULL;
    if (!self->root || !key) return 0;
    char *path = il_strdup(key);
    node_t *node = self->root;
    char *segment = path;
    int rc = 0;
    while (true) {
        if (node->kind != NODE_MAPPING) {
            if (s_is_null(node))
                node = NULL;
            else {
                segment[-1] = '\0'; /* never the first segment: the root is a mapping */
                rc = report ? s_key_error(self, node->line, path, "expected a mapping, found %s",
                                          s_kind_name(node))
                            : -1;
                node = NULL;
            }
            break;
        }
        char *dot = strchr(segment, '.');
        if (dot) *dot = '\0';
        node = zhashx_lookup(node->index, segment);
        if (!node || !dot) break;
        *dot = '.';
        segment = dot + 1;
    }
    free(path);
    *node_p = node;
    return rc;
}

/* The scalar at key: *node_p is NULL when absent or null. */
static int s_scalar(il_config_t *self, const char *key, node_t **node_p)
{
    node_t *node;
    *node_p = NULL;
    if (s_walk(self, key, &node, true)) return -1;
    if (s_is_null(node)) return 0;
    if (node->kind != NODE_SCALAR)
        return s_key_error(self, node->line, key, "expected a scalar, found %s", s_kind_name(node));
    *node_p = node;
    return 0;
}

bool il_config_has(il_config_t *self, const char *key)
{
    node_t *node;
    return s_walk(self, key, &node, false) == 0 && node;
}

int il_config_line(il_config_t *self, const char *key)
{
    node_t *node;
    if (s_walk(self, key, &node, false) || !node) return 0;
    return node->line;
}

int il_config_string(il_config_t *self, const char *key, const char *dflt, const char **value)
{
    node_t *node;
    if (s_scalar(self, key, &node)) return -1;
    *value = node ? node->text : dflt;
    return 0;
}

/* Decimal integer, optionally signed, nothing else. Returns -1 when not one,
 * -2 when it does not fit in 64 bits. */
static int s_parse_int(const char *text, int64_t *value)
{
    const char *digits = text + (*text == '-' || *text == '+');
    if (!*digits) return -1;
    for (const char *p = digits; *p; p++)
        if (*p < '0' || *p > '9') return -1;
    errno = 0;
    long long n = strtoll(text, NULL, 10);
    if (errno == ERANGE) return -2;
    *value = n;
    return 0;
}

int il_config_int(il_config_t *self, const char *key, int64_t dflt, int64_t min, int64_t max,
                  int64_t *value)
{
    node_t *node;
    if (s_scalar(self, key, &node)) return -1;
    if (!node) {
        *value = dflt;
        return 0;
    }
    int64_t n = 0;
    int rc = s_parse_int(node->text, &n);
    if (rc == -1)
        return s_key_error(self, node->line, key, "'%s' is not an integer (decimal digits only)",
                           node->text);
    if (rc == -2 || n < min || n > max)
        return s_key_error(self, node->line, key, "%s is out of range [%lld, %lld]", node->text,
                           (long long)min, (long long)max);
    *value = n;
    return 0;
}

int il_config_bool(il_config_t *self, const char *key, bool dflt, bool *value)
{
    static const char *const truths[] = {"true", "yes", "on", "1"};
    static const char *const lies[] = {"false", "no", "off", "0"};
    node_t *node;
    if (s_scalar(self, key, &node)) return -1;
    if (!node) {
        *value = dflt;
        return 0;
    }
    for (size_t i = 0; i < sizeof truths / sizeof truths[0]; i++) {
        if (!strcasecmp(node->text, truths[i])) {
            *value = true;
            return 0;
        }
        if (!strcasecmp(node->text, lies[i])) {
            *value = false;
            return 0;
        }
    }
    return s_key_error(self, node->line, key,
                       "'%s' is not a boolean (use true/false, yes/no, on/off or 1/0)", node->text);
}

int il_config_parse_duration(const char *text, int64_t *value_ms)
{
    /* Units in the order they must appear: "1h30m", not "30m1h". */
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    if (!text || !*text) return -1;
    int64_t total = 0;
    size_t next_unit = 0;
    const char *p = text;
    while (*p) {
        if (*p < '0' || *p > '9') return -1;
        int64_t n = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            n = n * 10 + (*p - '0');
            if (n > DURATION_MAX_MS) return -1;
        }
        if (!*p) {
            if (next_unit) return -1; /* "1s500": a number without its unit */
            total = n;                /* a bare integer: milliseconds */
            break;
        }
        size_t u = 0;
        if (!strncmp(p, "ms", 2))
            u = 3;
        else if (*p == 'h')
            u = 0;
        else if (*p == 'm')
            u = 1;
        else if (*p == 's')
            u = 2;
        else
            return -1;
        if (u < next_unit) return -1;
        if (n > (DURATION_MAX_MS - total) / units[u].ms) return -1;
        total += n * units[u].ms;
        p += strlen(units[u].name);
        next_unit = u + 1;
    }
    *value_ms = total;
    return 0;
}

int il_config_duration(il_config_t *self, const char *key, int64_t dflt_ms, int64_t *value_ms)
{
    node_t *node;
    if (s_scalar(self, key, &node)) return -1;
    if (!node) {
        *value_ms = dflt_ms;
        return 0;
    }
    if (il_config_parse_duration(node->text, value_ms))
        return s_key_error(self, node->line, key,
                           "'%s' is not a duration (use e.g. 500ms, 3s, 10m, 1h)", node->text);
    return 0;
}

static void *s_item_dup(const void *item)
{
    return il_strdup((const char *)item);
}

static void s_item_free(void **item_p)
{
    free(*item_p);
    *item_p = NULL;
}

/* Adds the comma-separated items of text, blanks trimmed; refuses empty ones. */
static int s_split(il_config_t *self, const node_t *node, const char *key, zlistx_t *list)
{
    const char *p = node->text;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p) return 0; /* only blanks: no items */
    char *copy = il_strdup(node->text);
    int rc = 0;
    size_t number = 1;
    for (char *item = copy; item && rc == 0; number++) {
        char *comma = strchr(item, ',');
        if (comma) *comma = '\0';
        while (isspace((unsigned char)*item))
            item++;
        char *end = item + strlen(item);
        while (end > item && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (!*item)
            rc =
                s_key_error(self, node->line, key, "item %zu is empty in '%s'", number, node->text);
        else if (!zlistx_add_end(list, item))
            rc = s_key_error(self, node->line, key, "out of memory");
        item = comma ? comma + 1 : NULL;
    }
    free(copy);
    return rc;
}

int il_config_list(il_config_t *self, const char *key, zlistx_t **value)
{
    node_t *node;
    if (s_walk(self, key, &node, true)) return -1;
    if (node && node->kind == NODE_MAPPING)
        return s_key_error(self, node->line, key, "expected a list, found a mapping");
    zlistx_t *list = zlistx_new();
    if (!list) return s_key_error(self, node ? node->line : 0, key, "out of memory");
    zlistx_set_duplicator(list, s_item_dup);
    zlistx_set_destructor(list, s_item_free);
    int rc = 0;
    if (s_is_null(node))
        ; /* absent or null: an empty list */
    else if (node->kind == NODE_SCALAR)
        rc = s_split(self, node, key, list);
    else {
        size_t number = 1;
        for (node_t *item = node->first; item && rc == 0; item = item->next, number++) {
            if (item->kind != NODE_SCALAR)
                rc = s_key_error(self, item->line, key, "item %zu: expected a scalar, found %s",
                                 number, s_kind_name(item));
            else if (s_is_null(item) || !*item->text)
                rc = s_key_error(self, item->line, key, "item %zu is empty", number);
            else if (!zlistx_add_end(list, item->text))
                rc = s_key_error(self, item->line, key, "out of memory");
        }
    }
    if (rc) {
        zlistx_destroy(&list);
        return -1;
    }
    *value = list;
    return 0;
}

int il_config_check_keys(il_config_t *self, const char *section, const char *const *known)
{
    node_t *node = self->root;
    if (section && *section && s_walk(self, section, &node, true)) return -1;
    if (s_is_null(node)) return 0;
    if (!section) section = "";
    if (node->kind != NODE_MAPPING)
        return s_key_error(self, node->line, section, "expected a mapping, found %s",
                           s_kind_name(node));
    for (node_t *child = node->first; child; child = child->next) {
        size_t i = 0;
        while (known && known[i] && strcmp(known[i], child->key))
            i++;
        if (known && known[i]) continue;
        char names[sizeof self->error] = "";
        size_t used = 0;
        for (i = 0; known && known[i] && used < sizeof names; i++) {
            int n = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", known[i]);
            if (n < 0) break;
            used += (size_t)n;
        }
        char *dotted = *section ? zsys_sprintf("%s.%s", section, child->key) : NULL;
        s_key_error(self, child->key_line, dotted ? dotted : child->key, "unknown key (known: %s)",
                    used ? names : "none");
        zstr_free(&dotted);
        return -1;
    }
    return 0;
}
