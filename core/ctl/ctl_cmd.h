/* ctl_cmd: interlookctl's commands that read the core's HTTP API — services,
 * service NAME, extensions, workflow — printed as tables and lines, or as the
 * API's JSON (pretty). Each returns the process exit status: 0, or 1 with the
 * reason on stderr (core unreachable, not found, an answer that is not the
 * expected JSON). */
#ifndef INTERLOOK_CTL_CMD_H
#define INTERLOOK_CTL_CMD_H

#include <stdbool.h>

typedef struct {
    const char *api;    /* base URL of the core's HTTP API, without a trailing '/' */
    bool json;          /* print the API's JSON instead of text */
    const char *token;  /* bearer token, or NULL */
    const char *cacert; /* CA file trusted for https, or NULL */
} ctl_cmd_options_t;

/* All services, one table row each, sorted by name. */
int ctl_cmd_services(const ctl_cmd_options_t *opt);

/* Every field of one service, one per line; 1 when there is none of that name. */
int ctl_cmd_service(const ctl_cmd_options_t *opt, const char *name);

/* The live instances of each extension of the workflow. */
int ctl_cmd_extensions(const ctl_cmd_options_t *opt);

/* The workflow's steps, "provider.docker -> ipam.ipalloc". */
int ctl_cmd_workflow(const ctl_cmd_options_t *opt);

#endif
