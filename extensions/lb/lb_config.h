/* lb_config: the lb.haproxy section of the stack's file, read and checked
 * once at start (and by --check-config), so that the rest of the extension
 * works with parsed values. Every bad key is named at once. */
#ifndef INTERLOOK_LB_CONFIG_H
#define INTERLOOK_LB_CONFIG_H

#include "common/config.h"
#include "common/service.h"

#include <stdbool.h>
#include <stdint.h>

#define LB_CONFIG_PATH_MAX IL_SERVICE_MAX_CHECK_PATH /* bytes of healthCheckPath at most */

/* How HAProxy checks a server's health (healthCheck). */
typedef enum {
    LB_CONFIG_CHECK_TCP,  /* tcp: a connect */
    LB_CONFIG_CHECK_HTTP, /* http: GET healthCheckPath, a status in healthCheckExpect */
    LB_CONFIG_CHECK_NONE  /* none: no check, every server always in rotation */
} lb_config_check_t;

typedef struct {
    const char *master_socket;  /* masterSocket (/run/haproxy-master.sock) */
    const char *runtime_socket; /* runtimeSocket (/run/haproxy/admin.sock) */
    const char *config_file;    /* configFile (/etc/haproxy/interlook.cfg): the file it owns */
    const char *haproxy;        /* haproxy (/usr/sbin/haproxy): for `haproxy -c` */
    const char *vip_interface;  /* vipInterface (""): NULL when empty */
    const char *master_log;     /* masterLog (""): where the master's stderr goes, NULL: unknown */
    bool announce;              /* announce (true) */
    int64_t health_ms;          /* healthInterval (2s): servers' check interval */
    lb_config_check_t check;    /* healthCheck (tcp) */
    const char *check_path;     /* healthCheckPath (/): the URI of an http check */
    int check_status_min;       /* healthCheckExpect (200-399): an http check passes */
    int check_status_max;       /* with a status in min..max */
    int64_t timeout_connect_ms; /* timeouts.connect (5s): HAProxy's defaults section */
    int64_t timeout_client_ms;  /* timeouts.client (60s) */
    int64_t timeout_server_ms;  /* timeouts.server (60s) */
    int64_t timeout_request_ms; /* timeouts.httpRequest (10s) */
    int64_t timeout_tunnel_ms;  /* timeouts.tunnel (1h) */
    int64_t timeout_ms;         /* timeout (5s): one exchange with HAProxy, a reload */
    int64_t drain_ms;           /* drainTimeout (30s): a drained server's sessions at most */
    int64_t watch_ms;           /* watchInterval (1s): how often HAProxy's master is checked */
    int64_t credit;             /* credit (64) */
    const char *name;           /* name (lb.haproxy) */
    const char *log_level;      /* logLevel (info) */
} lb_config_t;

/* Reads lb.haproxy from cfg (strings stay cfg's). Every problem found is
 * listed in err, one "FILE:LINE: lb.haproxy.KEY: reason" per line, and -1
 * returned. */
int lb_config_load(lb_config_t *self, il_config_t *cfg, char *err, size_t errlen);

#endif
