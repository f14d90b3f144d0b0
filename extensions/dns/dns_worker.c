/* dns_worker: the thread of blocking DNS exchanges, see dns_worker.h. The
 * pipe carries pointers: the job is the thread's alone between submit and
 * receive. */
#include "extensions/dns/dns_worker.h"

#include <interlook.h>

#include <stdlib.h>
#include <string.h>

struct _dns_worker_t {
    zactor_t *actor;
    dns_client_t *client;
    const char *server;
};

static void s_actor(zsock_t *pipe, void *arg)
{
    dns_worker_t *self = arg;
    zsock_signal(pipe, 0);
    for (;;) {
        char *cmd = NULL;
        void *job = NULL;
        if (zsock_recv(pipe, "sp", &cmd, &job) != 0) break;
        bool term = !cmd || strcmp(cmd, "$TERM") == 0;
        if (!term && job) {
            dns_job_run(job, self->client, self->server);
            zsock_send(pipe, "p", job);
        }
        free(cmd);
        if (term) break;
    }
}

dns_worker_t *dns_worker_new(dns_client_t *client, const char *server)
{
    dns_worker_t *self = il_calloc(1, sizeof *self);
    self->client = client;
    self->server = server;
    self->actor = zactor_new(s_actor, self);
    if (!self->actor) {
        free(self);
        return NULL;
    }
    return self;
}

void dns_worker_destroy(dns_worker_t **self_p)
{
    dns_worker_t *self = *self_p;
    if (!self) return;
    zactor_destroy(&self->actor);
    free(self);
    *self_p = NULL;
}

void dns_worker_submit(dns_worker_t *self, dns_job_t *job)
{
    zsock_send(self->actor, "sp", "JOB", job);
}

zsock_t *dns_worker_sock(dns_worker_t *self)
{
    return zactor_sock(self->actor);
}

dns_job_t *dns_worker_receive(dns_worker_t *self)
{
    void *job = NULL;
    if (zsock_recv(self->actor, "p", &job) != 0) return NULL;
    return job;
}
