/* ext_cli: the command line every extension's main takes, and the loading of
 * its configuration file with the bus settings, so that a main keeps only
 * what is its own. Shared options: -c/--config FILE, -n/--name NAME,
 * -i/--instance ID, --router EP, --publish EP, --cert FILE (its CURVE
 * certificate, else curveCert in its section), -l/--log-level LVL,
 * --check-config (when the extension has it), -h/--help, -V/--version.
 * Every refusal is said on stderr as "PROG: what was wrong" and means exit
 * status 2 (bad usage or configuration). */
#ifndef INTERLOOK_EXT_CLI_H
#define INTERLOOK_EXT_CLI_H

#include "broker/bus_config.h"
#include "common/config.h"
#include "common/log.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#define IL_EXT_CLI_OWN 256 /* the first getopt value free for an extension's own options */

typedef struct {
    const char *prog;         /* "interlook-echo": messages, --version */
    const char *name;         /* default extension name (-n overrides) */
    void (*usage)(FILE *out); /* the extension's help text */
    /* Its own long options, NULL-terminated: with a flag (getopt sets it), or
     * with a value >= IL_EXT_CLI_OWN, given to on_own. */
    const struct option *own;
    /* One of its own options (value, and optarg or NULL): 0, or -1 when the
     * value is refused (the callback said why on stderr). */
    int (*on_own)(void *arg, int value, const char *optarg);
    void *arg;
    bool check_config;        /* it has --check-config */
    bool commands;            /* arguments after the options are its commands (interlook-inject) */
    const char *needs_config; /* when not NULL, -c FILE is required, for this reason */
    const char *section;      /* its configuration section (SECTION.curveCert); NULL: name */
} il_ext_cli_spec_t;

typedef struct {
    const char *path;      /* -c FILE, NULL when not given */
    const char *name;      /* -n, else the spec's default */
    const char *instance;  /* -i, NULL: the SDK makes one */
    const char *router;    /* --router, NULL: core.bus.router */
    const char *publish;   /* --publish, NULL: core.bus.publish */
    const char *log_level; /* -l, NULL when not given */
    const char *cert;      /* --cert, else SECTION.curveCert; NULL: no CURVE */
    bool check;            /* --check-config */
    int first_command;     /* argv index of the first command (spec->commands) */
    il_config_t *cfg;      /* the file (empty without -c); il_ext_cli_clear frees it */
    il_bus_config_t bus;   /* its core.bus section and the environment */
} il_ext_cli_t;

/* Parses argv, then loads the configuration file and core.bus, and checks
 * the CURVE certificates (both the core's and its own, or neither; files
 * readable). Returns 0 to
 * go on, or -1 to exit with *status: 0 when --help or --version was
 * answered, 2 when something was refused (said on stderr). self is cleared
 * first, and must be given to il_ext_cli_clear whatever the result. */
int il_ext_cli_parse(il_ext_cli_t *self, const il_ext_cli_spec_t *spec, int argc, char **argv,
                     int *status);

/* The log level: -l when given, else configured (the extension's logLevel,
 * NULL: info). -1 after saying on stderr that it is not a level. */
int il_ext_cli_log_level(const il_ext_cli_t *self, const char *prog, const char *configured,
                         il_log_level_t *level);

/* The SDK's settings: name, instance, endpoints and certificate from the
 * command line, the rest from core.bus; credit as given. */
ilp_client_config_t il_ext_cli_client(const il_ext_cli_t *self, uint32_t credit);

/* Frees the configuration. */
void il_ext_cli_clear(il_ext_cli_t *self);

#endif
