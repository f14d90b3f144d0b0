/* dns_worker: the thread of blocking DNS exchanges, see dns_worker.h. The
 * pipe carries pointers: the job is the thread's alone between submit and
 * receive. */
#include "extensions/dns/dns_worker.h"

#include <interlook.h>

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct _dns_worker_t {
    zactor_t *actor;
    dns_client_t *client;
    const char *server;
    atomic_bool stopping; /* set by destroy: jobs are freed, not run or returned */
};

/* The pipe carries ["JOB", job] to the thread and ["DONE", job] back;
 * ["DRAIN"] is answered ["DRAINED"] once every job sent before it is back
 * or freed (dns_worker_destroy). */
static void s_actor(zsock_t *pipe, void *arg)
{
    dns_worker_t *self = arg;
    zsock_signal(pipe, 0);
    for (;;) {
        char *cmd = NULL;
        void *job = NULL;
        if (zsock_recv(pipe, "sp", &cmd, &job) != 0) break;
        bool term = !cmd || strcmp(cmd, "$TERM") == 0;
        if (!term && !strcmp(cmd, "DRAIN"))
            zsock_send(pipe, "sp", "DRAINED", NULL);
        else if (!term && job) {
            if (!atomic_load(&self->stopping)) dns_job_run(job, self->client, self->server);
            if (atomic_load(&self->stopping))
                dns_job_destroy((dns_job_t **)&job);
            else
                zsock_send(pipe, "sp", "DONE", job);
        }
        free(cmd);
        if (term) break;
    }
    /* ldns draws its message ids from OpenSSL, which keeps a random generator
     * per thread: free this thread's now (the process's exit frees only the
     * main thread's). */
    OPENSSL_thread_stop();
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
    /* Jobs still queued or running are freed by the thread, unanswered (the
     * core times them out and sends the work again); those already done are
     * taken back here, up to the DRAINED that follows them in the pipe. */
    atomic_store(&self->stopping, true);
    zsock_send(self->actor, "sp", "DRAIN", NULL);
    for (;;) {
        char *cmd = NULL;
        void *job = NULL;
        if (zsock_recv(self->actor, "sp", &cmd, &job) != 0) break;
        bool drained = cmd && !strcmp(cmd, "DRAINED");
        free(cmd);
        if (job) dns_job_destroy((dns_job_t **)&job);
        if (drained) break;
    }
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
    char *cmd = NULL;
    void *job = NULL;
    if (zsock_recv(self->actor, "sp", &cmd, &job) != 0) return NULL;
    free(cmd);
    return job;
}
