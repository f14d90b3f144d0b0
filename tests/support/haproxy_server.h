/* haproxy_server: a real HAProxy 2.6 started by a test, the way interlook-lb
 * expects it in production: master-worker (-W) with a master socket (-S),
 * a base file with the admin runtime socket (level admin, expose-fd
 * listeners: seamless reloads), and the file interlook-lb owns loaded after
 * it (-f base.cfg -f FILE). Its directory holds base.cfg, master.sock,
 * admin.sock and its log; optionally it runs inside a network namespace
 * the test made (ip netns exec). Each start is a new master (what a restart
 * of haproxy.service is). It is killed at destroy, workers included. */
#ifndef INTERLOOK_HAPROXY_SERVER_H
#define INTERLOOK_HAPROXY_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct _haproxy_server_t haproxy_server_t;

/* A new server (not started) with its files in dir (made when missing),
 * loading lb_file after its base file, in netns (NULL: the test's own). */
haproxy_server_t *haproxy_server_new(const char *dir, const char *lb_file, const char *netns);

/* Kills it (master and workers) and frees it. */
void haproxy_server_destroy(haproxy_server_t **self_p);

/* Starts HAProxy (creating lb_file empty when missing) and waits (bounded)
 * until its master socket answers. Returns 0, or -1 with its log on stderr. */
int haproxy_server_start(haproxy_server_t *self, int timeout_ms);

/* kill -9 of the master and its workers, waited for. */
void haproxy_server_kill(haproxy_server_t *self);

/* The sockets' paths. */
const char *haproxy_server_master_socket(haproxy_server_t *self);
const char *haproxy_server_runtime_socket(haproxy_server_t *self);

/* The YAML lines of lb.haproxy for it (indented 4 spaces, no vipInterface). */
const char *haproxy_server_yaml(haproxy_server_t *self);

/* One command on a socket (socat-free: a small client), answer malloc'd;
 * NULL when it does not answer. */
char *haproxy_server_command(const char *socket_path, const char *command);

/* The pids of the current workers (show proc), as text "pid pid ..."; NULL
 * when the master does not answer. */
char *haproxy_server_workers(haproxy_server_t *self);

#endif
