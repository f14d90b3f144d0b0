/* lb_haproxy: the client of a running HAProxy: its runtime CLI (the stats
 * socket, level admin) and its master CLI (haproxy -W -S), a reload that says
 * whether it worked, `haproxy -c`, and the servers and proxies read back.
 *
 * What HAProxy 2.6.12 (Debian 12) does, measured by hand (2026-12-04) with
 * `haproxy -W -S DIR/master.sock -f base.cfg -f il.cfg` in the foreground,
 * base.cfg: `global` + `stats socket DIR/admin.sock level admin expose-fd
 * listeners`; il.cfg: `defaults` (mode http, timeouts) + frontends/backends:
 *
 * Both CLIs: one command per connection. The runtime socket closes after
 * its answer; the master socket does NOT (it waits for more commands) until
 * our side is shut for writing, so every exchange here is: connect, write
 * "cmd\n", shutdown(SHUT_WR), read until EOF.
 *
 * Runtime answers (success / failure, each ends with "\n" or "\n\n"):
 *  - `add server BE/S ADDR:PORT check inter 2000 weight W`: "New server
 *    registered." The server is created in maintenance (srv_admin_state 1 in
 *    `show servers state`), health checks off: then `set server BE/S state
 *    ready` and `enable health BE/S` (both answer an empty line on success).
 *    Failures: "No such backend.", "Already exists a server with the same name
 *    in backend.", "Health check was not configured on this server, cannot
 *    enable." (enable health on a server added without `check`).
 *  - `set server BE/S addr A port P`: "IP changed from 'x' to 'y', port changed
 *    from 'p' to 'q' by 'stats socket command'" or "no need to change the
 *    addr, no need to change the port by ..." (both success).
 *  - `set server BE/S weight W`, `... state drain|maint|ready`: "" (an empty
 *    line) on success; "No such server.", "Absolute weight can only be between
 *    0 and 256 inclusive." on failure.
 *  - `del server BE/S`: "Server deleted."; "Only servers in maintenance mode
 *    can be deleted." (drain is not enough: maint first), "No such server.";
 *    with connections still attached HAProxy refuses it too ("Server still has
 *    connections attached to it, cannot remove it.").
 *  So: success is a known answer per command (above), anything else is
 *  HAProxy refusing, and its words are the error.
 *  - `show servers state [BE]`: "1\n# be_id be_name srv_id srv_name srv_addr
 *    srv_op_state srv_admin_state srv_uweight srv_iweight ... srv_fqdn srv_port
 *    ...\n" then one space-separated line per server, e.g. "3 ilb-a 2 s6 ::1 2
 *    0 2 2 ... - 18082 ...". srv_addr of an IPv6 server is bare (::1).
 *  - `show stat`: CSV with a "# pxname,svname,qcur,qmax,scur,..." header (the
 *    column found by name); scur = current sessions; rows FRONTEND/BACKEND/
 *    server names.  `show backend`: "# name\nilb-a\n".
 *  - IPv6 server addresses: `[::1]:80` in the file and in `add server`
 *    (`::1:80` is read as ::1 port 80 too, but `::1` alone is read as host
 *    ":" port 1: always bracket). `set server ... addr ::1 port P` takes the
 *    bare address.
 *  - A hostname in `add server` is accepted ("New server registered.") but,
 *    without a `resolvers` section, left unresolved (srv_addr "-", srv_fqdn
 *    set): give IP addresses only.
 *
 * Master CLI: `help` lists @<pid>, @master, reload, show proc, show version,
 * prompt, quit; there is no `show startup-logs` in 2.6.
 *  - `show proc`: "#<PID> <type> <reloads> <uptime> <version>\n"
 *    "29345 master 3 [failed: 1] 0d00h10m33s 2.6.12-1+deb12u4\n# workers\n"
 *    "19647 worker 1 0d00h00m10s 2.6.12-1+deb12u4\n# programs\n" (columns
 *    padded with spaces). The master's "reloads" counts every reload since it
 *    started; "[failed: N]" counts the failed ones since the last one that
 *    worked (a good reload sets it back to 0); a worker's "reloads" is how many
 *    reloads it has outlived.
 *  - `reload`: answers nothing (empty, then the connection closes) at once,
 *    before the reload is done; the master re-executes itself with the same
 *    pid, and a connection made meanwhile is refused or reset. A reload is
 *    over when `show proc` answers with the master's reloads grown: it worked
 *    when "[failed: 0]" and a new worker (not one of the pids before) runs;
 *    it failed when failed > 0, the old worker still there and serving (a
 *    bind on 192.0.2.1, which the host lacks: "[failed: 1]", same worker;
 *    a syntax error in the file reloaded: the same, with the parsing
 *    [ALERT] lines). In a `del server` refused because a request is still in
 *    flight, that request goes on and ends well in maintenance too.
 *  - HAProxy's own message for a failed reload goes only to the master's
 *    standard error ("[ALERT] (pid) : Binding [il.cfg:21] for frontend x:
 *    cannot bind socket (Cannot assign requested address) for
 *    [192.0.2.1:18099]", "... Some protocols failed to start their
 *    listeners! Exiting.", "[WARNING] ... Loading failure!"). When the caller
 *    knows where that goes (lb_haproxy_set_log), the reload's [ALERT] lines
 *    written after the reload began are the reason; else the reason says
 *    the reload failed per `show proc` and where to look.
 *  - `haproxy -c` does not catch that bind: "Configuration file is valid"
 *    (stdout), exit 0. A syntax error: exit 1, stderr "[NOTICE] ... [ALERT]
 *    (pid) : config : parsing [bad.cfg:2] : unknown keyword 'bindd' in
 *    'frontend' section; did you mean 'bind' maybe ?" ... "[ALERT] (pid) :
 *    config : Fatal errors found in configuration."
 *  - Identity: the master keeps its pid and its master socket (same inode)
 *    across reloads; a restart is a new process that binds a new socket file.
 *    lb_haproxy_master_id is "PID@DEV:INODE" of the master socket.
 *  - SIGTERM to the master stops it and its workers. */
#ifndef INTERLOOK_LB_HAPROXY_H
#define INTERLOOK_LB_HAPROXY_H

#include <stddef.h>
#include <stdint.h>

typedef struct _lb_haproxy_t lb_haproxy_t;

/* A new client of the HAProxy whose master CLI and runtime CLI are these unix
 * stream sockets (either may be NULL when unused); timeout_ms bounds each
 * exchange (and a reload's wait). Connects to nothing yet; never NULL. */
lb_haproxy_t *lb_haproxy_new(const char *master_socket, const char *runtime_socket,
                             int64_t timeout_ms);

/* Destroys the client; *self_p is set to NULL. */
void lb_haproxy_destroy(lb_haproxy_t **self_p);

/* Where the master's standard error goes (a file), for lb_haproxy_reload to
 * give HAProxy's own [ALERT] lines as the reason of a failed reload; NULL:
 * unknown. */
void lb_haproxy_set_log(lb_haproxy_t *self, const char *path);

/* Sends one command to the runtime socket and reads its whole answer
 * (malloc'd, NUL-terminated, at most 16 MiB) into *answer. -1 with err (naming
 * the socket) when it cannot be reached, times out, or the answer is too big;
 * a command HAProxy refuses is 0 with its words in *answer. */
int lb_haproxy_runtime(lb_haproxy_t *self, const char *command, char **answer, char *err,
                       size_t errlen);

/* The same on the master socket. */
int lb_haproxy_master(lb_haproxy_t *self, const char *command, char **answer, char *err,
                      size_t errlen);

/* Reloads through the master and waits (bounded by the timeout) until a new
 * worker runs the new file. -1 with the reason (HAProxy's own [ALERT] lines
 * when lb_haproxy_set_log gave its log, e.g. a bind refused) when the reload
 * failed, in which case the old worker keeps serving, or when the master
 * cannot be reached or did not finish in time. */
int lb_haproxy_reload(lb_haproxy_t *self, char *err, size_t errlen);

/* An identity of the running master ("PID@DEV:INODE": its pid and the master
 * socket's file) that a reload keeps and a restart changes. -1 with err when
 * the master cannot be reached or its answer lacks the master line. */
int lb_haproxy_master_id(lb_haproxy_t *self, char *id, size_t len, char *err, size_t errlen);

/* Runs `haproxy_bin -c -f file` (no shell, bounded by 10 s, killed past it).
 * 0 when valid; -1 with HAProxy's messages (its [ALERT] lines, else all it
 * wrote) in err, or why it could not run. */
int lb_haproxy_check(const char *haproxy_bin, const char *file, char *err, size_t errlen);

/* As lb_haproxy_check with several files (-f each, in order: the base file
 * then the generated one, as HAProxy loads them); files NULL-terminated. */
int lb_haproxy_check_files(const char *haproxy_bin, const char *const *files, char *err,
                           size_t errlen);

/* Adds server backend/server at addr:port (IPv6 bare or in brackets) with
 * health checks every check_inter_ms (none when <= 0) and weight (0..256),
 * then makes it ready and enables its checks. -1 with the backend/server and
 * HAProxy's words at the first step refused. */
int lb_haproxy_server_add(lb_haproxy_t *self, const char *backend, const char *server,
                          const char *addr, uint16_t port, uint32_t weight, int64_t check_inter_ms,
                          char *err, size_t errlen);

/* Sets the address, port and weight of backend/server. -1 with the
 * backend/server and HAProxy's words when refused. */
int lb_haproxy_server_set(lb_haproxy_t *self, const char *backend, const char *server,
                          const char *addr, uint16_t port, uint32_t weight, char *err,
                          size_t errlen);

/* Puts backend/server in drain (no new sessions; those running go on). -1 with
 * HAProxy's words when refused. */
int lb_haproxy_server_drain(lb_haproxy_t *self, const char *backend, const char *server, char *err,
                            size_t errlen);

/* The current sessions on backend/server (scur of `show stat`), to know when a
 * drained server can go. -1 with err when there is no such server. */
int lb_haproxy_server_sessions(lb_haproxy_t *self, const char *backend, const char *server,
                               int64_t *count, char *err, size_t errlen);

/* Puts backend/server in maintenance and deletes it. -1 with the
 * backend/server and HAProxy's words when refused (no such server,
 * connections still attached). */
int lb_haproxy_server_del(lb_haproxy_t *self, const char *backend, const char *server, char *err,
                          size_t errlen);

/* One server as the running worker has it. */
typedef struct {
    char *backend, *server, *addr; /* addr: bare (IPv6 without brackets), "-" when unresolved */
    uint16_t port;
    uint32_t weight; /* the user weight (srv_uweight) */
} lb_haproxy_server_t;

/* Every server of every backend whose name starts with prefix (NULL: all),
 * from `show servers state`; lines that do not parse are skipped. -1 with err
 * when the socket cannot be reached or the answer is not a servers state. */
int lb_haproxy_servers(lb_haproxy_t *self, const char *prefix, lb_haproxy_server_t **servers,
                       size_t *count, char *err, size_t errlen);

/* Frees what lb_haproxy_servers gave; *servers is set to NULL. */
void lb_haproxy_servers_free(lb_haproxy_server_t **servers, size_t count);

/* The names of the running frontends and backends whose name starts with
 * prefix (NULL: all), from `show stat`, each once, in the order given. -1 with
 * err when the socket cannot be reached or the answer is not CSV. */
int lb_haproxy_proxies(lb_haproxy_t *self, const char *prefix, char ***names, size_t *count,
                       char *err, size_t errlen);

/* Frees what lb_haproxy_proxies gave; *names is set to NULL. */
void lb_haproxy_names_free(char ***names, size_t count);

#endif
