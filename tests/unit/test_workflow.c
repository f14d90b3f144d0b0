/* test_workflow: unit tests of core/workflow, the core's state machine, driven
 * with an injected clock (the `now` argument) and effects that record every
 * call: each WORK dispatched (extension, action, work id, a copy of the
 * service, the entry's state), each cancel, each change, each removal and
 * each refresh request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/support/asserts.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/workflow.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define T0       INT64_C(1700000000000) /* the injected clock starts here (ms) */
#define PROVIDER "provider.docker"
#define IPAM     "ipam.ipalloc"
#define DNS      "dns.rfc2136"
#define PREFIX   "run42"

#define WIP_TIMEOUT 30000
#define MAX_UPDATED 600000
#define CLEAN_AFTER 3600000
#define RETRY_MIN   1000
#define RETRY_MAX   6000 /* not a power-of-two multiple of RETRY_MIN: the cap shows */

static const char *const s_steps3[] = {PROVIDER, IPAM, DNS};
static const char *const s_steps2[] = {PROVIDER, DNS};
static const char *const s_steps1[] = {PROVIDER};

static const workflow_timing_t s_timing = {.wip_timeout_ms = WIP_TIMEOUT,
                                           .max_last_updated_ms = MAX_UPDATED,
                                           .clean_after_ms = CLEAN_AFTER,
                                           .retry_min_ms = RETRY_MIN,
                                           .retry_max_ms = RETRY_MAX};

/* Recording effects ---------------------------------------------------------- */

typedef struct {
    char *extension;              /* where the WORK went */
    ilp_action_t action;          /* add or delete */
    char work_id[ILP_MAX_ID + 1]; /* entry->work_id at dispatch */
    il_service_t *service;        /* copy of entry->service at dispatch */
    char *state;                  /* entry_state_name at dispatch */
    bool wip;                     /* entry->wip at dispatch */
} sent_t;

typedef struct {
    workflow_t *wf;
    sent_t **sent; /* every dispatch, in order (pointers stay valid) */
    size_t nsent;
    size_t capsent;
    zlistx_t *cancels;   /* work ids */
    zlistx_t *trail;     /* "name state[ wip]" per changed call */
    size_t changed;      /* changed calls */
    zlistx_t *removed;   /* names */
    zlistx_t *refreshes; /* "provider name" */
} fx_t;

static void s_str_destroy(void **item)
{
    free(*item);
    *item = NULL;
}

static zlistx_t *s_strlist(void)
{
    zlistx_t *list = zlistx_new();
    assert_non_null(list);
    zlistx_set_destructor(list, s_str_destroy);
    return list;
}

static void s_on_dispatch(void *arg, const entry_t *entry, const char *extension,
                          ilp_action_t action)
{
    fx_t *fx = arg;
    if (fx->nsent == fx->capsent) {
        fx->capsent = fx->capsent ? fx->capsent * 2 : 64;
        fx->sent = realloc(fx->sent, fx->capsent * sizeof *fx->sent);
        assert_non_null(fx->sent);
    }
    sent_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->extension = strdup(extension);
    s->action = action;
    snprintf(s->work_id, sizeof s->work_id, "%s", entry->work_id);
    s->service = il_service_dup(entry->service);
    assert_non_null(s->service);
    s->state = strdup(entry_state_name(entry, workflow_steps(fx->wf)));
    s->wip = entry->wip;
    fx->sent[fx->nsent++] = s;
}

static void s_on_cancel(void *arg, const char *work_id)
{
    fx_t *fx = arg;
    zlistx_add_end(fx->cancels, strdup(work_id));
}

static void s_on_changed(void *arg, const entry_t *entry)
{
    fx_t *fx = arg;
    fx->changed++;
    zlistx_add_end(fx->trail, zsys_sprintf("%s %s%s", entry->name,
                                           entry_state_name(entry, workflow_steps(fx->wf)),
                                           entry->wip ? " wip" : ""));
}

static void s_on_removed(void *arg, const entry_t *entry)
{
    fx_t *fx = arg;
    assert_non_null(entry->name); /* still valid during the call */
    zlistx_add_end(fx->removed, strdup(entry->name));
}

static void s_on_refresh(void *arg, const char *provider, const char *name)
{
    fx_t *fx = arg;
    zlistx_add_end(fx->refreshes, zsys_sprintf("%s %s", provider, name));
}

/* Fixtures alive, destroyed by s_teardown when a failed test left them. */
static fx_t *s_live[4];

static fx_t *s_fx_new(const char *const *steps, int nsteps)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->cancels = s_strlist();
    fx->trail = s_strlist();
    fx->removed = s_strlist();
    fx->refreshes = s_strlist();
    workflow_effects_t effects = {.dispatch = s_on_dispatch,
                                  .cancel = s_on_cancel,
                                  .changed = s_on_changed,
                                  .removed = s_on_removed,
                                  .refresh = s_on_refresh};
    fx->wf = workflow_new(steps, nsteps, &s_timing, PREFIX, &effects, fx);
    assert_non_null(fx->wf);
    for (size_t k = 0; k < COUNT(s_live); k++) {
        if (!s_live[k]) {
            s_live[k] = fx;
            break;
        }
    }
    return fx;
}

static void s_fx_destroy(fx_t **fx_p)
{
    fx_t *fx = *fx_p;
    for (size_t k = 0; k < COUNT(s_live); k++)
        if (s_live[k] == fx) s_live[k] = NULL;
    workflow_destroy(&fx->wf);
    assert_null(fx->wf);
    for (size_t i = 0; i < fx->nsent; i++) {
        free(fx->sent[i]->extension);
        free(fx->sent[i]->state);
        il_service_destroy(&fx->sent[i]->service);
        free(fx->sent[i]);
    }
    free(fx->sent);
    zlistx_destroy(&fx->cancels);
    zlistx_destroy(&fx->trail);
    zlistx_destroy(&fx->removed);
    zlistx_destroy(&fx->refreshes);
    free(fx);
    *fx_p = NULL;
}

static int s_teardown(void **state)
{
    (void)state;
    for (size_t k = 0; k < COUNT(s_live); k++) {
        fx_t *fx = s_live[k];
        if (fx) s_fx_destroy(&fx);
    }
    return 0;
}

static const char *const *s_steps(fx_t *fx)
{
    return workflow_steps(fx->wf);
}

/* The state name users see for that entry. */
static const char *s_state(fx_t *fx, const char *name)
{
    entry_t *entry = workflow_lookup(fx->wf, name);
    if (!entry) fail_msg("no entry '%s'", name);
    return entry_state_name(entry, s_steps(fx));
}

static sent_t *s_last(fx_t *fx)
{
    assert_true(fx->nsent > 0);
    return fx->sent[fx->nsent - 1];
}

/* Checks dispatch i: extension, action, service name, and that the entry is
 * in progress with that very work id. */
static void s_expect_sent(fx_t *fx, size_t i, const char *extension, ilp_action_t action,
                          const char *name)
{
    if (i >= fx->nsent) fail_msg("dispatch %zu expected, only %zu sent", i, fx->nsent);
    sent_t *s = fx->sent[i];
    assert_string_equal(s->extension, extension);
    assert_int_equal(s->action, action);
    assert_string_equal(s->service->name, name);
    assert_true(s->wip);
    assert_string_equal(s->state, extension);
    assert_true(strncmp(s->work_id, PREFIX, strlen(PREFIX)) == 0);
}

/* The dispatch after index `from` for that service (-1 when none). */
static long s_find_sent(fx_t *fx, size_t from, const char *name)
{
    for (size_t i = from; i < fx->nsent; i++)
        if (!strcmp(fx->sent[i]->service->name, name)) return (long)i;
    return -1;
}

/* True when the changed trail of `name` shows the states of seq in that
 * order (other changes may come in between). */
static bool s_trail_has(fx_t *fx, const char *name, const char *const *seq, size_t n)
{
    size_t k = 0, len = strlen(name);
    for (const char *item = zlistx_first(fx->trail); item && k < n; item = zlistx_next(fx->trail)) {
        if (strncmp(item, name, len) || item[len] != ' ') continue;
        if (!strcmp(item + len + 1, seq[k])) k++;
    }
    return k == n;
}

/* How many changes of `name` showed that state. */
static size_t s_trail_count(fx_t *fx, const char *name, const char *st)
{
    size_t count = 0, len = strlen(name);
    for (const char *item = zlistx_first(fx->trail); item; item = zlistx_next(fx->trail))
        if (!strncmp(item, name, len) && item[len] == ' ' && !strcmp(item + len + 1, st)) count++;
    return count;
}

static bool s_list_has(zlistx_t *list, const char *text)
{
    for (const char *item = zlistx_first(list); item; item = zlistx_next(list))
        if (!strcmp(item, text)) return true;
    return false;
}

/* Inputs ------------------------------------------------------------------------ */

/* A service as a provider reports it: one target, tls, at most one alias. */
static il_service_t *s_svc(const char *name, const char *host, uint16_t port, bool tls,
                           const char *alias)
{
    il_service_t *svc = il_service_new(name);
    assert_non_null(svc);
    assert_int_equal(il_service_add_target(svc, host, port, 1), 0);
    svc->tls = tls;
    if (alias) assert_int_equal(il_service_add_alias(svc, alias), 0);
    return svc;
}

static il_service_t *s_web(const char *name)
{
    return s_svc(name, "10.9.0.1", 8080, false, "www.example.org");
}

/* EVENT add from extension; frees whatever the workflow did not take. */
static int s_event(fx_t *fx, const char *extension, ilp_action_t action, il_service_t *svc,
                   int64_t now)
{
    int rc = workflow_event(fx->wf, extension, action, &svc, now);
    il_service_destroy(&svc);
    return rc;
}

static int s_add(fx_t *fx, il_service_t *svc, int64_t now)
{
    return s_event(fx, PROVIDER, ILP_ACTION_ADD, svc, now);
}

/* EVENT delete from the provider, carrying only the name. */
static int s_delete(fx_t *fx, const char *name, int64_t now)
{
    il_service_t *svc = il_service_new(name);
    assert_non_null(svc);
    return s_event(fx, PROVIDER, ILP_ACTION_DELETE, svc, now);
}

/* RESULT for dispatch i from its extension: the service sent, with public_ip
 * replaced when ip is not NULL. */
static int s_answer_ip(fx_t *fx, size_t i, const char *ip, int64_t now)
{
    assert_true(i < fx->nsent);
    char work_id[ILP_MAX_ID + 1], extension[ILP_MAX_EXT_NAME + 1];
    snprintf(work_id, sizeof work_id, "%s", fx->sent[i]->work_id);
    snprintf(extension, sizeof extension, "%s", fx->sent[i]->extension);
    il_service_t *svc = il_service_dup(fx->sent[i]->service);
    assert_non_null(svc);
    if (ip) assert_int_equal(il_service_set_string(&svc->public_ip, ip), 0);
    int rc = workflow_result(fx->wf, work_id, extension, NULL, &svc, now);
    il_service_destroy(&svc);
    return rc;
}

/* RESULT for dispatch i echoing the service sent. */
static int s_answer(fx_t *fx, size_t i, int64_t now)
{
    return s_answer_ip(fx, i, NULL, now);
}

/* RESULT for dispatch i with an error (and no service). */
static int s_answer_error(fx_t *fx, size_t i, const char *error, int64_t now)
{
    assert_true(i < fx->nsent);
    char work_id[ILP_MAX_ID + 1], extension[ILP_MAX_EXT_NAME + 1];
    snprintf(work_id, sizeof work_id, "%s", fx->sent[i]->work_id);
    snprintf(extension, sizeof extension, "%s", fx->sent[i]->extension);
    return workflow_result(fx->wf, work_id, extension, error, NULL, now);
}

/* Takes a new service through every step until deployed, answering each WORK
 * at once (the IPAM step with ip). */
static entry_t *s_deploy(fx_t *fx, const char *name, const char *ip, int64_t now)
{
    assert_int_equal(s_add(fx, s_web(name), now), 0);
    entry_t *entry = workflow_lookup(fx->wf, name);
    assert_non_null(entry);
    for (int guard = 0; entry->wip; guard++) {
        assert_true(guard < 10);
        sent_t *s = s_last(fx);
        assert_string_equal(s->work_id, entry->work_id);
        bool ipam = !strncmp(s->extension, "ipam.", 5);
        assert_int_equal(s_answer_ip(fx, fx->nsent - 1, ipam ? ip : NULL, now), 0);
    }
    assert_int_equal(entry->state, ENTRY_DEPLOYED);
    return entry;
}

/* Takes a deployed service back to undeployed, answering each WORK at once. */
static void s_undeploy(fx_t *fx, const char *name, int64_t now)
{
    assert_int_equal(s_delete(fx, name, now), 0);
    entry_t *entry = workflow_lookup(fx->wf, name);
    assert_non_null(entry);
    for (int guard = 0; entry->wip; guard++) {
        assert_true(guard < 10);
        assert_int_equal(s_answer(fx, fx->nsent - 1, now), 0);
    }
    assert_int_equal(entry->state, ENTRY_UNDEPLOYED);
}

/* Tests ------------------------------------------------------------------------- */

static void test_new_and_accessors(void **state)
{
    (void)state;
    workflow_effects_t none = {0};
    assert_null(workflow_new(s_steps3, 0, &s_timing, PREFIX, &none, NULL));
    assert_null(workflow_new(NULL, 3, &s_timing, PREFIX, &none, NULL));
    assert_null(workflow_new(s_steps3, 3, NULL, PREFIX, &none, NULL));

    /* The steps are copied. */
    char a[32] = PROVIDER, b[32] = IPAM, c[32] = DNS;
    const char *steps[] = {a, b, c};
    workflow_t *wf = workflow_new(steps, 3, &s_timing, PREFIX, &none, NULL);
    assert_non_null(wf);
    strcpy(a, "changed");
    strcpy(c, "changed");
    assert_int_equal(workflow_nsteps(wf), 3);
    const char *const *copy = workflow_steps(wf);
    assert_string_equal(copy[0], PROVIDER);
    assert_string_equal(copy[1], IPAM);
    assert_string_equal(copy[2], DNS);
    assert_null(copy[3]); /* NULL-terminated: the server iterates it so */
    assert_int_equal(workflow_size(wf), 0);
    assert_int_equal(workflow_waiting(wf), 0);
    assert_null(workflow_lookup(wf, "web"));
    assert_null(workflow_lookup(wf, NULL));
    assert_null(workflow_first(wf));

    /* Without effects, the machine still runs. */
    il_service_t *svc = s_web("web");
    assert_int_equal(workflow_event(wf, PROVIDER, ILP_ACTION_ADD, &svc, T0), 0);
    il_service_destroy(&svc);
    assert_int_equal(workflow_size(wf), 1);
    assert_true(workflow_lookup(wf, "web")->wip);
    workflow_tick(wf, T0 + 1);
    workflow_housekeep(wf, T0 + 1);
    workflow_destroy(&wf);
    assert_null(wf);
    workflow_destroy(&wf); /* idempotent */
    workflow_destroy(NULL);
}

static void test_forward_path(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_svc("web", "10.9.0.1", 8080, true, "www.example.org"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_non_null(e);
    assert_string_equal(e->name, "web");
    assert_int_equal(workflow_size(fx->wf), 1);
    assert_true(e->expect_deployed);
    assert_int_equal(e->time_detected, t);
    assert_int_equal(e->last_update, t);
    assert_int_equal(e->close_time, 0);
    assert_null(e->error);
    assert_string_equal(e->service->provider, PROVIDER);
    /* Created at the provider step, not in progress... */
    assert_string_equal(zlistx_first(fx->trail), "web " PROVIDER);

    /* ...then moved at once (no tick) to step 1 with a WORK add. */
    assert_int_equal(fx->nsent, 1);
    s_expect_sent(fx, 0, IPAM, ILP_ACTION_ADD, "web");
    sent_t *s = fx->sent[0];
    assert_string_equal(s->work_id, e->work_id);
    assert_string_equal(s->service->provider, PROVIDER);
    assert_int_equal(s->service->target_count, 1);
    assert_string_equal(s->service->targets[0].host, "10.9.0.1");
    assert_int_equal(s->service->targets[0].port, 8080);
    assert_true(s->service->tls);
    assert_int_equal(s->service->alias_count, 1);
    assert_string_equal(s->service->dns_aliases[0], "www.example.org");
    assert_null(s->service->public_ip);
    assert_true(e->wip);
    assert_int_equal(e->wip_time, t);
    assert_string_equal(entry_state_name(e, s_steps(fx)), IPAM);
    assert_int_equal(workflow_waiting(fx->wf), 0);

    /* IPAM answers: the IP is merged, and DNS gets its WORK add at once. */
    t += 40;
    assert_int_equal(s_answer_ip(fx, 0, "192.0.2.10", t), 0);
    assert_int_equal(fx->nsent, 2);
    s_expect_sent(fx, 1, DNS, ILP_ACTION_ADD, "web");
    assert_string_equal(fx->sent[1]->service->public_ip, "192.0.2.10");
    assert_string_not_equal(fx->sent[1]->work_id, fx->sent[0]->work_id);
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    assert_true(e->wip);
    assert_int_equal(e->wip_time, t);
    assert_string_equal(entry_state_name(e, s_steps(fx)), DNS);

    /* DNS answers: the last step is done, the service is deployed. */
    t += 40;
    assert_int_equal(s_answer(fx, 1, t), 0);
    assert_int_equal(fx->nsent, 2);
    assert_false(e->wip);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_string_equal(entry_state_name(e, s_steps(fx)), "deployed");
    assert_true(e->expect_deployed);
    assert_null(e->error);
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    assert_int_equal(e->time_detected, T0);
    const char *seq[] = {PROVIDER, IPAM " wip", IPAM, DNS " wip", DNS, "deployed"};
    assert_true(s_trail_has(fx, "web", seq, COUNT(seq)));
    assert_int_equal(s_trail_count(fx, "web", "deployed"), 1);

    /* Nothing more to do: neither the flow controller nor the housekeeper acts. */
    workflow_tick(fx->wf, t + 1);
    workflow_tick(fx->wf, t + 100000);
    workflow_housekeep(fx->wf, t + 1000);
    assert_int_equal(fx->nsent, 2);
    assert_int_equal(zlistx_size(fx->cancels), 0);
    assert_int_equal(zlistx_size(fx->removed), 0);
    assert_int_equal(workflow_waiting(fx->wf), 0);
    s_fx_destroy(&fx);
}

static void test_result_without_service(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    assert_int_equal(s_add(fx, s_web("web"), T0), 0);
    /* A RESULT may come without a service: the step is done, nothing merged. */
    assert_int_equal(workflow_result(fx->wf, fx->sent[0]->work_id, IPAM, NULL, NULL, T0 + 1), 0);
    assert_int_equal(fx->nsent, 2);
    s_expect_sent(fx, 1, DNS, ILP_ACTION_ADD, "web");
    assert_null(fx->sent[1]->service->public_ip);
    assert_int_equal(workflow_result(fx->wf, fx->sent[1]->work_id, DNS, NULL, NULL, T0 + 2), 0);
    assert_string_equal(s_state(fx, "web"), "deployed");
    s_fx_destroy(&fx);
}

static void test_public_ip_merge(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    /* A provider cannot set the public IP; it sets the public port. */
    il_service_t *svc = s_web("web");
    assert_int_equal(il_service_set_string(&svc->public_ip, "203.0.113.66"), 0);
    svc->port = 8443;
    assert_int_equal(s_add(fx, svc, t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_null(e->service->public_ip);
    assert_null(fx->sent[0]->service->public_ip);
    assert_int_equal(fx->sent[0]->service->port, 8443);

    /* IPAM's answer sets public_ip, and nothing of the definition. */
    il_service_t *answer = il_service_dup(fx->sent[0]->service);
    assert_int_equal(il_service_set_string(&answer->public_ip, "192.0.2.10"), 0);
    assert_int_equal(il_service_add_target(answer, "10.66.66.66", 6666, 5), 0);
    assert_int_equal(il_service_add_alias(answer, "evil.example.org"), 0);
    answer->tls = !answer->tls;
    answer->port = 6666;
    assert_int_equal(workflow_result(fx->wf, fx->sent[0]->work_id, IPAM, NULL, &answer, ++t), 0);
    il_service_destroy(&answer);
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    assert_int_equal(e->service->target_count, 1);
    assert_string_equal(e->service->targets[0].host, "10.9.0.1");
    assert_int_equal(e->service->alias_count, 1);
    assert_string_equal(e->service->dns_aliases[0], "www.example.org");
    assert_false(e->service->tls);
    assert_int_equal(e->service->port, 8443);
    assert_int_equal(fx->nsent, 2);
    assert_int_equal(fx->sent[1]->service->target_count, 1);
    assert_int_equal(fx->sent[1]->service->alias_count, 1);
    assert_false(fx->sent[1]->service->tls);
    assert_int_equal(fx->sent[1]->service->port, 8443);

    /* A non-IPAM step changes neither public_ip nor the definition. */
    answer = il_service_dup(fx->sent[1]->service);
    assert_int_equal(il_service_set_string(&answer->public_ip, "198.51.100.99"), 0);
    assert_int_equal(il_service_add_target(answer, "10.66.66.66", 6666, 5), 0);
    assert_int_equal(il_service_add_alias(answer, "evil.example.org"), 0);
    answer->tls = true;
    answer->port = 0; /* an extension that does not know the key: the RESULT has none */
    assert_int_equal(workflow_result(fx->wf, fx->sent[1]->work_id, DNS, NULL, &answer, ++t), 0);
    il_service_destroy(&answer);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    assert_int_equal(e->service->target_count, 1);
    assert_int_equal(e->service->alias_count, 1);
    assert_false(e->service->tls);
    assert_int_equal(e->service->port, 8443);

    /* Nor can it clear public_ip. */
    assert_int_equal(s_add(fx, s_svc("web", "10.9.0.2", 8080, false, "www.example.org"), ++t), 0);
    assert_int_equal(s_answer(fx, fx->nsent - 1, ++t), 0); /* IPAM echoes the same IP */
    answer = il_service_dup(s_last(fx)->service);
    assert_int_equal(il_service_set_string(&answer->public_ip, NULL), 0);
    assert_int_equal(workflow_result(fx->wf, s_last(fx)->work_id, DNS, NULL, &answer, ++t), 0);
    il_service_destroy(&answer);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    s_fx_destroy(&fx);
}

static void test_reverse_path(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    entry_t *e = s_deploy(fx, "web", "192.0.2.10", t);
    size_t base = fx->nsent;
    t += 1000;

    /* The delete carries only the name; the WORK carries the core's service. */
    assert_int_equal(s_delete(fx, "web", t), 0);
    assert_false(e->expect_deployed);
    assert_int_equal(e->last_update, t);
    assert_int_equal(fx->nsent, base + 1);
    s_expect_sent(fx, base, DNS, ILP_ACTION_DELETE, "web");
    sent_t *s = fx->sent[base];
    assert_string_equal(s->service->public_ip, "192.0.2.10");
    assert_int_equal(s->service->target_count, 1);
    assert_string_equal(s->service->targets[0].host, "10.9.0.1");
    assert_int_equal(s->service->alias_count, 1);
    assert_true(e->wip);
    assert_string_equal(entry_state_name(e, s_steps(fx)), DNS);

    t += 10;
    assert_int_equal(s_answer(fx, base, t), 0);
    assert_int_equal(fx->nsent, base + 2);
    s_expect_sent(fx, base + 1, IPAM, ILP_ACTION_DELETE, "web");
    assert_string_equal(fx->sent[base + 1]->service->public_ip, "192.0.2.10");
    assert_string_equal(entry_state_name(e, s_steps(fx)), IPAM);
    assert_int_equal(e->close_time, 0);

    t += 10;
    assert_int_equal(s_answer(fx, base + 1, t), 0);
    assert_int_equal(fx->nsent, base + 2); /* the provider gets no WORK */
    assert_false(e->wip);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_string_equal(entry_state_name(e, s_steps(fx)), "undeployed");
    assert_false(e->expect_deployed);
    assert_int_equal(e->close_time, t);
    assert_null(e->error);
    const char *seq[] = {"deployed", DNS " wip", IPAM " wip", "undeployed"};
    assert_true(s_trail_has(fx, "web", seq, COUNT(seq)));
    assert_int_equal(zlistx_size(fx->removed), 0);
    assert_ptr_equal(workflow_lookup(fx->wf, "web"), e); /* kept until clean-up */

    /* Deleting it again, or something unknown, does nothing. */
    assert_int_equal(s_delete(fx, "web", t + 5), 0);
    assert_int_equal(s_delete(fx, "nothing", t + 5), 0);
    assert_int_equal(fx->nsent, base + 2);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_int_equal(e->close_time, t);
    assert_null(workflow_lookup(fx->wf, "nothing"));
    assert_int_equal(workflow_size(fx->wf), 1);
    workflow_tick(fx->wf, t + 100000);
    assert_int_equal(fx->nsent, base + 2);
    s_fx_destroy(&fx);
}

static void test_delete_during_first_step(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_int_equal(fx->nsent, 1); /* IPAM add in progress */

    /* The delete waits for the step in progress. */
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    assert_false(e->expect_deployed);
    assert_true(e->wip);
    assert_int_equal(fx->nsent, 1);

    /* The step completes, and is undone at once; DNS is never asked. */
    assert_int_equal(s_answer_ip(fx, 0, "192.0.2.10", ++t), 0);
    assert_int_equal(fx->nsent, 2);
    s_expect_sent(fx, 1, IPAM, ILP_ACTION_DELETE, "web");
    assert_string_equal(fx->sent[1]->service->public_ip, "192.0.2.10");
    assert_int_equal(s_answer(fx, 1, ++t), 0);
    assert_int_equal(fx->nsent, 2);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_false(e->wip);
    assert_int_equal(e->close_time, t);
    assert_int_equal(s_trail_count(fx, "web", "deployed"), 0);
    s_fx_destroy(&fx);
}

static void test_delete_during_first_step_error(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    assert_int_equal(fx->nsent, 1);

    /* The step fails: it may be half done, so it is undone too. */
    assert_int_equal(s_answer_error(fx, 0, "pool exhausted", ++t), 0);
    assert_contains(e->error, IPAM);
    assert_contains(e->error, "pool exhausted");
    /* The undo is due at once whatever the back-off of the failed add would be;
     * allow it to wait at most until the back-off's cap. */
    if (fx->nsent == 1) workflow_tick(fx->wf, t + RETRY_MAX);
    assert_int_equal(fx->nsent, 2);
    s_expect_sent(fx, 1, IPAM, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_answer(fx, 1, t + RETRY_MAX + 1), 0);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_null(e->error); /* cleared on success */
    assert_int_equal(fx->nsent, 2);
    assert_int_equal(s_trail_count(fx, "web", "deployed"), 0);
    s_fx_destroy(&fx);
}

static void test_delete_during_last_step(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_int_equal(s_answer_ip(fx, 0, "192.0.2.10", ++t), 0);
    s_expect_sent(fx, 1, DNS, ILP_ACTION_ADD, "web");
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    assert_int_equal(fx->nsent, 2);

    /* DNS add completes: never deployed, undone in reverse order at once. */
    assert_int_equal(s_answer(fx, 1, ++t), 0);
    assert_int_equal(s_trail_count(fx, "web", "deployed"), 0);
    assert_int_equal(fx->nsent, 3);
    s_expect_sent(fx, 2, DNS, ILP_ACTION_DELETE, "web");
    assert_string_equal(fx->sent[2]->service->public_ip, "192.0.2.10");
    assert_int_equal(s_answer(fx, 2, ++t), 0);
    s_expect_sent(fx, 3, IPAM, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_answer(fx, 3, ++t), 0);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_int_equal(fx->nsent, 4);
    s_fx_destroy(&fx);
}

static void test_delete_during_backoff(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_int_equal(s_answer_ip(fx, 0, "192.0.2.10", ++t), 0);
    assert_int_equal(s_answer_error(fx, 1, "server refused", ++t), 0);
    assert_int_equal(workflow_waiting(fx->wf), 1);
    size_t base = fx->nsent;

    /* Turning around does not wait for the forward back-off to end. */
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    assert_int_equal(fx->nsent, base + 1);
    assert_int_equal(workflow_waiting(fx->wf), 0);
    sent_t *s = s_last(fx);
    assert_int_equal(s->action, ILP_ACTION_DELETE);
    assert_string_equal(s->service->public_ip, "192.0.2.10");
    for (int guard = 0; e->wip; guard++) {
        assert_true(guard < 5);
        assert_int_equal(s_last(fx)->action, ILP_ACTION_DELETE);
        assert_int_equal(s_answer(fx, fx->nsent - 1, ++t), 0);
    }
    assert_string_equal(s_last(fx)->extension, IPAM); /* IPAM is released last */
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_int_equal(s_trail_count(fx, "web", "deployed"), 0);
    workflow_tick(fx->wf, t + 100000); /* the old back-off does not revive it */
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_false(e->wip);
    s_fx_destroy(&fx);
}

static void test_add_while_undeploying(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    entry_t *e = s_deploy(fx, "web", "192.0.2.10", t);

    /* Re-added while DNS delete runs: DNS is added back, IPAM never released. */
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    size_t del = fx->nsent - 1;
    s_expect_sent(fx, del, DNS, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_add(fx, s_web("web"), ++t), 0);
    assert_true(e->expect_deployed);
    assert_int_equal(fx->nsent, del + 1); /* waits for the step in progress */
    assert_int_equal(s_answer(fx, del, ++t), 0);
    assert_int_equal(fx->nsent, del + 2);
    s_expect_sent(fx, del + 1, DNS, ILP_ACTION_ADD, "web");
    assert_string_equal(fx->sent[del + 1]->service->public_ip, "192.0.2.10");
    assert_int_equal(s_answer(fx, del + 1, ++t), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    assert_int_equal(e->close_time, 0);
    for (size_t i = del; i < fx->nsent; i++)
        assert_false(!strcmp(fx->sent[i]->extension, IPAM));

    /* Re-added while IPAM delete runs: IPAM then DNS are added back. */
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    assert_int_equal(s_answer(fx, fx->nsent - 1, ++t), 0);
    size_t rel = fx->nsent - 1;
    s_expect_sent(fx, rel, IPAM, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_add(fx, s_web("web"), ++t), 0);
    assert_int_equal(fx->nsent, rel + 1);
    assert_int_equal(s_answer(fx, rel, ++t), 0);
    s_expect_sent(fx, rel + 1, IPAM, ILP_ACTION_ADD, "web");
    assert_int_equal(s_answer_ip(fx, rel + 1, "192.0.2.11", ++t), 0);
    s_expect_sent(fx, rel + 2, DNS, ILP_ACTION_ADD, "web");
    assert_int_equal(s_answer(fx, rel + 2, ++t), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_string_equal(e->service->public_ip, "192.0.2.11");
    assert_int_equal(fx->nsent, rel + 3);

    /* Re-added once undeployed (not yet cleaned): deployed again from step 1. */
    s_undeploy(fx, "web", ++t);
    assert_int_equal(e->close_time, t);
    size_t base = fx->nsent;
    assert_int_equal(s_add(fx, s_web("web"), t + 500), 0);
    assert_ptr_equal(workflow_lookup(fx->wf, "web"), e);
    assert_true(e->expect_deployed);
    assert_int_equal(e->close_time, 0);
    assert_int_equal(e->time_detected, T0);
    assert_int_equal(fx->nsent, base + 1);
    s_expect_sent(fx, base, IPAM, ILP_ACTION_ADD, "web");
    assert_int_equal(s_answer_ip(fx, base, "192.0.2.12", t + 501), 0);
    assert_int_equal(s_answer(fx, base + 1, t + 502), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    /* The housekeeper does not clean it up any more. */
    workflow_housekeep(fx->wf, t + CLEAN_AFTER + 10);
    assert_int_equal(zlistx_size(fx->removed), 0);
    assert_non_null(workflow_lookup(fx->wf, "web"));
    s_fx_destroy(&fx);
}

static void test_flip_flop(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    /* delete then add again while IPAM add runs: go on forward, undo nothing. */
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    assert_int_equal(s_add(fx, s_web("web"), ++t), 0);
    assert_true(e->expect_deployed);
    assert_int_equal(fx->nsent, 1);
    assert_int_equal(s_answer_ip(fx, 0, "192.0.2.10", ++t), 0);
    assert_int_equal(fx->nsent, 2);
    s_expect_sent(fx, 1, DNS, ILP_ACTION_ADD, "web");
    assert_int_equal(s_answer(fx, 1, ++t), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_int_equal(fx->nsent, 2);

    /* add then delete again while DNS delete runs: go on backward. */
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    s_expect_sent(fx, 2, DNS, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_add(fx, s_web("web"), ++t), 0);
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    assert_false(e->expect_deployed);
    assert_int_equal(fx->nsent, 3);
    assert_int_equal(s_answer(fx, 2, ++t), 0);
    s_expect_sent(fx, 3, IPAM, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_answer(fx, 3, ++t), 0);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_int_equal(fx->nsent, 4);
    s_fx_destroy(&fx);
}

static void test_identical_readd(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    /* Two targets, reported later in the other order: same definition. */
    il_service_t *svc = s_web("web");
    assert_int_equal(il_service_add_target(svc, "10.9.0.2", 8080, 1), 0);
    assert_int_equal(s_add(fx, svc, t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");

    /* While a step runs: nothing but last_update. */
    char work_id[ILP_MAX_ID + 1];
    snprintf(work_id, sizeof work_id, "%s", e->work_id);
    svc = s_svc("web", "10.9.0.2", 8080, false, "www.example.org");
    assert_int_equal(il_service_add_target(svc, "10.9.0.1", 8080, 1), 0);
    assert_int_equal(s_add(fx, svc, t + 5), 0);
    assert_int_equal(fx->nsent, 1);
    assert_string_equal(e->work_id, work_id);
    assert_int_equal(e->last_update, t + 5);
    assert_int_equal(e->wip_time, t);
    assert_int_equal(s_answer_ip(fx, 0, "192.0.2.10", t + 6), 0);
    assert_int_equal(s_answer(fx, 1, t + 7), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);

    /* Once deployed: no WORK, nothing but last_update. */
    size_t base = fx->nsent;
    t += 60000;
    svc = s_svc("web", "10.9.0.2", 8080, false, "www.example.org");
    assert_int_equal(il_service_add_target(svc, "10.9.0.1", 8080, 1), 0);
    assert_int_equal(s_add(fx, svc, t), 0);
    assert_int_equal(fx->nsent, base);
    assert_int_equal(e->last_update, t);
    assert_int_equal(e->time_detected, T0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_true(e->expect_deployed);
    assert_false(e->wip);
    assert_null(e->error);
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    assert_int_equal(e->service->target_count, 2);
    assert_int_equal(workflow_waiting(fx->wf), 0);
    workflow_tick(fx->wf, t + 100000);
    assert_int_equal(fx->nsent, base);
    s_fx_destroy(&fx);
}

static void test_changed_definition_deployed(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    /* Each part of a definition: targets, tls, aliases, public port. */
    for (int kind = 0; kind < 4; kind++) {
        char name[16], ip[32];
        snprintf(name, sizeof name, "web%d", kind);
        snprintf(ip, sizeof ip, "192.0.2.1%d", kind); /* one address per live service */
        entry_t *e = s_deploy(fx, name, ip, t);
        size_t base = fx->nsent;
        il_service_t *svc = s_web(name);
        if (kind == 0) assert_int_equal(il_service_add_target(svc, "10.9.0.7", 9090, 2), 0);
        if (kind == 1) svc->tls = true;
        if (kind == 2) assert_int_equal(il_service_add_alias(svc, "api.example.org"), 0);
        if (kind == 3) svc->port = 8443;
        t += 1000;
        assert_int_equal(s_add(fx, svc, t), 0);

        /* The workflow runs again from step 1, at once, with the new definition
         * and the public IP the core already has. */
        assert_true(e->expect_deployed);
        assert_int_equal(fx->nsent, base + 1);
        s_expect_sent(fx, base, IPAM, ILP_ACTION_ADD, name);
        sent_t *s = fx->sent[base];
        assert_string_equal(s->service->public_ip, ip);
        assert_int_equal(s->service->target_count, kind == 0 ? 2 : 1);
        assert_int_equal(s->service->tls, kind == 1);
        assert_int_equal(s->service->alias_count, kind == 2 ? 2 : 1);
        assert_int_equal(s->service->port, kind == 3 ? 8443 : 0);
        assert_int_equal(e->state, ENTRY_AT_STEP);
        assert_string_equal(entry_state_name(e, s_steps(fx)), IPAM);
        assert_int_equal(e->last_update, t);

        assert_int_equal(s_answer(fx, base, t + 1), 0); /* IPAM echoes the IP */
        s_expect_sent(fx, base + 1, DNS, ILP_ACTION_ADD, name);
        assert_int_equal(fx->sent[base + 1]->service->target_count, kind == 0 ? 2 : 1);
        assert_int_equal(s_answer(fx, base + 1, t + 2), 0);
        assert_int_equal(e->state, ENTRY_DEPLOYED);
        assert_string_equal(e->service->public_ip, ip);
        assert_int_equal(e->service->target_count, kind == 0 ? 2 : 1);
        assert_int_equal(e->service->tls, kind == 1);
        assert_int_equal(e->service->alias_count, kind == 2 ? 2 : 1);
        assert_int_equal(e->service->port, kind == 3 ? 8443 : 0);
        assert_int_equal(fx->nsent, base + 2);
        assert_int_equal(s_trail_count(fx, name, "deployed"), 2);
    }
    s_fx_destroy(&fx);
}

static void test_changed_definition_during_wip(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;

    /* During the first step: it finishes, then the workflow restarts at step 1. */
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_int_equal(s_add(fx, s_svc("web", "10.9.0.2", 8080, false, "www.example.org"), ++t), 0);
    assert_int_equal(fx->nsent, 1); /* the step in progress is not interrupted */
    assert_true(e->wip);
    assert_string_equal(e->work_id, fx->sent[0]->work_id);
    assert_int_equal(zlistx_size(fx->cancels), 0);
    assert_int_equal(s_answer_ip(fx, 0, "192.0.2.10", ++t), 0);
    assert_int_equal(fx->nsent, 2);
    s_expect_sent(fx, 1, IPAM, ILP_ACTION_ADD, "web");
    assert_string_equal(fx->sent[1]->service->targets[0].host, "10.9.0.2");
    assert_string_equal(fx->sent[1]->service->public_ip, "192.0.2.10");
    assert_int_equal(s_answer(fx, 1, ++t), 0);
    s_expect_sent(fx, 2, DNS, ILP_ACTION_ADD, "web");
    assert_string_equal(fx->sent[2]->service->targets[0].host, "10.9.0.2");
    assert_int_equal(s_answer(fx, 2, ++t), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_string_equal(e->service->targets[0].host, "10.9.0.2");
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    assert_int_equal(fx->nsent, 3);

    /* During the last step of a re-run: not deployed after it, restarted. */
    assert_int_equal(s_add(fx, s_svc("web", "10.9.0.3", 8080, false, "www.example.org"), ++t), 0);
    s_expect_sent(fx, 3, IPAM, ILP_ACTION_ADD, "web");
    assert_int_equal(s_answer(fx, 3, ++t), 0);
    s_expect_sent(fx, 4, DNS, ILP_ACTION_ADD, "web");
    assert_int_equal(s_add(fx, s_svc("web", "10.9.0.4", 8080, false, "www.example.org"), ++t), 0);
    assert_int_equal(fx->nsent, 5);
    size_t deployed = s_trail_count(fx, "web", "deployed");
    assert_int_equal(s_answer(fx, 4, ++t), 0);
    assert_int_equal(s_trail_count(fx, "web", "deployed"), deployed);
    assert_int_not_equal(e->state, ENTRY_DEPLOYED);
    assert_int_equal(fx->nsent, 6);
    s_expect_sent(fx, 5, IPAM, ILP_ACTION_ADD, "web");
    assert_string_equal(fx->sent[5]->service->targets[0].host, "10.9.0.4");
    assert_int_equal(s_answer(fx, 5, ++t), 0);
    s_expect_sent(fx, 6, DNS, ILP_ACTION_ADD, "web");
    assert_string_equal(fx->sent[6]->service->targets[0].host, "10.9.0.4");
    assert_int_equal(s_answer(fx, 6, ++t), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_string_equal(e->service->targets[0].host, "10.9.0.4");
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    assert_int_equal(fx->nsent, 7);
    s_fx_destroy(&fx);
}

static void test_error_backoff(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");

    /* Each failure waits twice as long as the one before, up to the cap. */
    const int64_t delays[] = {1000, 2000, 4000, 6000, 6000, 6000};
    for (size_t k = 0; k < COUNT(delays); k++) {
        size_t i = fx->nsent - 1;
        s_expect_sent(fx, i, IPAM, ILP_ACTION_ADD, "web");
        t += 100;
        assert_int_equal(s_answer_error(fx, i, "pool exhausted", t), 0);
        assert_false(e->wip);
        assert_true(e->expect_deployed);
        assert_contains(e->error, IPAM);
        assert_contains(e->error, "pool exhausted");
        assert_int_equal(fx->nsent, i + 1); /* no retry at once */
        assert_int_equal(workflow_waiting(fx->wf), 1);
        assert_int_equal(e->next_try, t + delays[k]);
        /* Not before the back-off ends... */
        workflow_tick(fx->wf, t);
        workflow_tick(fx->wf, t + delays[k] - 1);
        assert_int_equal(fx->nsent, i + 1);
        /* ...and then by the flow controller, with a new work id. */
        t += delays[k];
        workflow_tick(fx->wf, t);
        assert_int_equal(fx->nsent, i + 2);
        s_expect_sent(fx, i + 1, IPAM, ILP_ACTION_ADD, "web");
        assert_string_not_equal(fx->sent[i + 1]->work_id, fx->sent[i]->work_id);
        assert_int_equal(workflow_waiting(fx->wf), 0);
        assert_contains(e->error, "pool exhausted"); /* kept while it is retried */
        /* The failed work's id is gone. */
        assert_int_equal(s_answer(fx, i, t), -1);
        workflow_tick(fx->wf, t);
        assert_int_equal(fx->nsent, i + 2);
    }

    /* Success clears the error and moves on at once. */
    assert_int_equal(s_answer_ip(fx, fx->nsent - 1, "192.0.2.10", ++t), 0);
    assert_null(e->error);
    s_expect_sent(fx, fx->nsent - 1, DNS, ILP_ACTION_ADD, "web");

    /* A failure of the next step names that step; its back-off starts over. */
    t += 10;
    assert_int_equal(s_answer_error(fx, fx->nsent - 1, "zone is read-only", t), 0);
    assert_contains(e->error, DNS);
    assert_contains(e->error, "zone is read-only");
    assert_int_equal(e->next_try, t + RETRY_MIN);
    workflow_tick(fx->wf, t + RETRY_MIN);
    s_expect_sent(fx, fx->nsent - 1, DNS, ILP_ACTION_ADD, "web");
    assert_int_equal(s_answer(fx, fx->nsent - 1, t + RETRY_MIN + 1), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_null(e->error);
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    s_fx_destroy(&fx);
}

/* An error as long as an extension may send (ILP_MAX_TEXT) is kept within
 * ILP_MAX_TEXT with the step's name before it: the entries file reads no
 * longer error back (a longer one would make the core refuse the file). */
static void test_long_error_capped(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    char error[ILP_MAX_TEXT + 1];
    memset(error, 'x', ILP_MAX_TEXT);
    error[ILP_MAX_TEXT] = 0;
    assert_int_equal(s_add(fx, s_web("web"), T0), 0);
    assert_int_equal(s_answer_error(fx, 0, error, T0 + 1), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_non_null(e->error);
    assert_int_equal(strlen(e->error), ILP_MAX_TEXT);
    assert_true(strncmp(e->error, IPAM ": xxx", strlen(IPAM) + 5) == 0);
    s_fx_destroy(&fx);
}

static void test_never_deployed_while_error(void **state)
{
    (void)state;
    /* With the last step failing, in a 3-step and a 2-step workflow. */
    for (int n = 2; n <= 3; n++) {
        fx_t *fx = s_fx_new(n == 3 ? s_steps3 : s_steps2, n);
        int64_t t = T0;
        assert_int_equal(s_add(fx, s_web("web"), t), 0);
        entry_t *e = workflow_lookup(fx->wf, "web");
        if (n == 3) assert_int_equal(s_answer_ip(fx, 0, "192.0.2.10", ++t), 0);
        for (int k = 0; k < 8; k++) {
            s_expect_sent(fx, fx->nsent - 1, DNS, ILP_ACTION_ADD, "web");
            size_t before = fx->nsent;
            if (k % 2) {
                assert_int_equal(s_answer_error(fx, fx->nsent - 1, "SERVFAIL", ++t), 0);
            } else {
                t += WIP_TIMEOUT + 1;
                workflow_housekeep(fx->wf, t);
                assert_int_equal(zlistx_size(fx->cancels), (size_t)k / 2 + 1);
            }
            assert_int_not_equal(e->state, ENTRY_DEPLOYED);
            assert_string_not_equal(entry_state_name(e, s_steps(fx)), "deployed");
            assert_non_null(e->error);
            assert_contains(e->error, DNS);
            assert_int_equal(fx->nsent, before);
            t += RETRY_MAX;
            workflow_tick(fx->wf, t);
            workflow_housekeep(fx->wf, t);
            assert_int_equal(fx->nsent, before + 1);
            assert_int_not_equal(e->state, ENTRY_DEPLOYED);
        }
        assert_int_equal(s_trail_count(fx, "web", "deployed"), 0);
        assert_int_equal(s_answer(fx, fx->nsent - 1, ++t), 0);
        assert_int_equal(e->state, ENTRY_DEPLOYED);
        assert_null(e->error);
        assert_int_equal(s_trail_count(fx, "web", "deployed"), 1);
        s_fx_destroy(&fx);
    }
}

static void test_changed_definition_while_undeploying(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    entry_t *e = s_deploy(fx, "web", "192.0.2.10", t);
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    size_t del = fx->nsent - 1;
    s_expect_sent(fx, del, DNS, ILP_ACTION_DELETE, "web");

    /* Re-added with another definition while DNS delete runs: after it, the
     * workflow runs forward from step 1 with the new definition. */
    assert_int_equal(s_add(fx, s_svc("web", "10.9.0.5", 8080, false, "www.example.org"), ++t), 0);
    assert_true(e->expect_deployed);
    assert_int_equal(fx->nsent, del + 1);
    assert_int_equal(s_answer(fx, del, ++t), 0);
    assert_int_equal(fx->nsent, del + 2);
    s_expect_sent(fx, del + 1, IPAM, ILP_ACTION_ADD, "web");
    assert_string_equal(fx->sent[del + 1]->service->targets[0].host, "10.9.0.5");
    assert_string_equal(fx->sent[del + 1]->service->public_ip, "192.0.2.10");
    assert_int_equal(s_answer(fx, del + 1, ++t), 0);
    s_expect_sent(fx, del + 2, DNS, ILP_ACTION_ADD, "web");
    assert_string_equal(fx->sent[del + 2]->service->targets[0].host, "10.9.0.5");
    assert_int_equal(s_answer(fx, del + 2, ++t), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_string_equal(e->service->targets[0].host, "10.9.0.5");
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    assert_int_equal(fx->nsent, del + 3);
    s_fx_destroy(&fx);
}

static void test_error_backoff_reverse(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    entry_t *e = s_deploy(fx, "web", "192.0.2.10", t);
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    size_t i = fx->nsent - 1;
    s_expect_sent(fx, i, DNS, ILP_ACTION_DELETE, "web");

    const int64_t delays[] = {1000, 2000, 4000, 6000, 6000};
    for (size_t k = 0; k < COUNT(delays); k++) {
        t += 10;
        assert_int_equal(s_answer_error(fx, i, "NOTAUTH", t), 0);
        assert_contains(e->error, DNS);
        assert_contains(e->error, "NOTAUTH");
        assert_false(e->wip);
        assert_false(e->expect_deployed);
        assert_int_not_equal(e->state, ENTRY_UNDEPLOYED);
        assert_int_equal(fx->nsent, i + 1);
        assert_int_equal(e->next_try, t + delays[k]);
        workflow_tick(fx->wf, t + delays[k] - 1);
        assert_int_equal(fx->nsent, i + 1);
        t += delays[k];
        workflow_tick(fx->wf, t);
        assert_int_equal(fx->nsent, i + 2);
        i++;
        s_expect_sent(fx, i, DNS, ILP_ACTION_DELETE, "web");
        assert_string_equal(fx->sent[i]->service->public_ip, "192.0.2.10");
    }
    assert_int_equal(s_answer(fx, i, ++t), 0);
    assert_null(e->error);
    s_expect_sent(fx, i + 1, IPAM, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_answer(fx, i + 1, ++t), 0);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_int_equal(e->close_time, t);
    assert_int_equal(s_trail_count(fx, "web", "undeployed"), 1);
    s_fx_destroy(&fx);
}

/* A step that failed may be half done, as one that timed out or failed after
 * the turn: when the entry turns around while that step waits for its retry,
 * it is undone (redone) like a step in progress, and the entry never ends up
 * in its final state still carrying that step's error. */
static void test_delete_after_ipam_error(void **state)
{
    (void)state;
    /* IPAM add failed, then the delete: IPAM is released. */
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_int_equal(s_answer_error(fx, 0, "pool exhausted", ++t), 0);
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    if (fx->nsent != 2)
        fail_msg("after a failed IPAM add and a delete: expected a WORK delete to " IPAM
                 ", got %zu WORK; entry %s, error '%s'",
                 fx->nsent - 1, entry_state_name(e, s_steps(fx)), e->error ? e->error : "");
    s_expect_sent(fx, 1, IPAM, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_answer(fx, 1, ++t), 0);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_null(e->error);
    s_fx_destroy(&fx);
}

static void test_delete_after_dns_error(void **state)
{
    (void)state;
    /* DNS add failed, then the delete: DNS then IPAM are undone. */
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_int_equal(s_answer_ip(fx, 0, "192.0.2.10", ++t), 0);
    assert_int_equal(s_answer_error(fx, 1, "SERVFAIL", ++t), 0);
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    assert_int_equal(fx->nsent, 3);
    if (strcmp(fx->sent[2]->extension, DNS))
        fail_msg("after a failed DNS add and a delete: expected a WORK delete to " DNS
                 " (it may have created records), got one to %s",
                 fx->sent[2]->extension);
    s_expect_sent(fx, 2, DNS, ILP_ACTION_DELETE, "web");
    assert_string_equal(fx->sent[2]->service->public_ip, "192.0.2.10");
    assert_int_equal(s_answer(fx, 2, ++t), 0);
    s_expect_sent(fx, 3, IPAM, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_answer(fx, 3, ++t), 0);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_null(e->error);
    s_fx_destroy(&fx);
}

static void test_add_after_reverse_error(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    entry_t *e = s_deploy(fx, "web", "192.0.2.10", t);
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    size_t del = fx->nsent - 1;
    s_expect_sent(fx, del, DNS, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_answer_error(fx, del, "NOTAUTH", ++t), 0);
    assert_contains(e->error, DNS);

    /* Re-added while the failed DNS delete waits: DNS is added back. */
    assert_int_equal(s_add(fx, s_web("web"), ++t), 0);
    if (e->state == ENTRY_DEPLOYED && e->error)
        fail_msg("deployed at once, still carrying the error '%s', without any WORK "
                 "to redo " DNS " (%zu WORK since the delete)",
                 e->error, fx->nsent - del - 1);
    assert_int_equal(fx->nsent, del + 2);
    s_expect_sent(fx, del + 1, DNS, ILP_ACTION_ADD, "web");
    assert_int_equal(s_answer(fx, del + 1, ++t), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_null(e->error);
    s_fx_destroy(&fx);
}

static void test_add_during_reverse_backoff(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    entry_t *e = s_deploy(fx, "web", "192.0.2.10", t);
    assert_int_equal(s_delete(fx, "web", ++t), 0);
    assert_int_equal(s_answer(fx, fx->nsent - 1, ++t), 0);
    s_expect_sent(fx, fx->nsent - 1, IPAM, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_answer_error(fx, fx->nsent - 1, "busy", ++t), 0);
    assert_int_equal(workflow_waiting(fx->wf), 1);
    size_t base = fx->nsent;

    /* Turning around does not wait for the reverse back-off to end. */
    assert_int_equal(s_add(fx, s_web("web"), ++t), 0);
    assert_true(e->expect_deployed);
    assert_int_equal(workflow_waiting(fx->wf), 0);
    assert_int_equal(fx->nsent, base + 1);
    assert_int_equal(s_last(fx)->action, ILP_ACTION_ADD);
    for (int guard = 0; e->wip; guard++) {
        assert_true(guard < 5);
        assert_int_equal(s_last(fx)->action, ILP_ACTION_ADD);
        assert_int_equal(s_answer(fx, fx->nsent - 1, ++t), 0);
    }
    assert_string_equal(s_last(fx)->extension, DNS);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_null(e->error);
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    workflow_tick(fx->wf, t + 100000);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_false(e->wip);
    s_fx_destroy(&fx);
}

static void test_wip_timeout(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    char old_id[ILP_MAX_ID + 1];
    snprintf(old_id, sizeof old_id, "%s", e->work_id);

    /* Not before the time-out has passed. */
    workflow_housekeep(fx->wf, t + WIP_TIMEOUT / 2);
    workflow_housekeep(fx->wf, t + WIP_TIMEOUT);
    assert_int_equal(zlistx_size(fx->cancels), 0);
    assert_true(e->wip);
    assert_null(e->error);

    /* Then: the work is cancelled, the error names the step, a retry waits. */
    t += WIP_TIMEOUT + 1;
    workflow_housekeep(fx->wf, t);
    assert_int_equal(zlistx_size(fx->cancels), 1);
    assert_string_equal(zlistx_first(fx->cancels), old_id);
    assert_false(e->wip);
    assert_contains(e->error, IPAM);
    assert_true(e->expect_deployed);
    assert_int_equal(fx->nsent, 1);
    assert_int_equal(workflow_waiting(fx->wf), 1);
    assert_int_equal(e->next_try, t + RETRY_MIN);
    /* The late answer of the cancelled work is refused. */
    assert_int_equal(s_answer_ip(fx, 0, "192.0.2.99", t + 1), -1);
    assert_null(e->service->public_ip);
    assert_false(e->wip);
    assert_int_equal(fx->nsent, 1);

    workflow_tick(fx->wf, t + RETRY_MIN - 1);
    assert_int_equal(fx->nsent, 1);
    t += RETRY_MIN;
    workflow_tick(fx->wf, t);
    assert_int_equal(fx->nsent, 2);
    s_expect_sent(fx, 1, IPAM, ILP_ACTION_ADD, "web");
    assert_string_not_equal(fx->sent[1]->work_id, old_id);
    assert_int_equal(e->wip_time, t);

    /* A second time-out doubles the back-off. */
    t += WIP_TIMEOUT + 1;
    workflow_housekeep(fx->wf, t);
    assert_int_equal(zlistx_size(fx->cancels), 2);
    assert_string_equal(zlistx_last(fx->cancels), fx->sent[1]->work_id);
    assert_int_equal(e->next_try, t + 2 * RETRY_MIN);
    t += 2 * RETRY_MIN;
    workflow_tick(fx->wf, t);
    assert_int_equal(fx->nsent, 3);
    assert_int_equal(s_answer_ip(fx, 2, "192.0.2.10", ++t), 0);
    assert_null(e->error);
    assert_int_equal(s_answer(fx, 3, ++t), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_string_equal(e->service->public_ip, "192.0.2.10");

    /* A deployed entry never times out. */
    workflow_housekeep(fx->wf, t + WIP_TIMEOUT * 2);
    assert_int_equal(zlistx_size(fx->cancels), 2);
    s_fx_destroy(&fx);
}

static void test_wip_timeout_while_turning(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_int_equal(s_delete(fx, "web", t + 1), 0);
    t += WIP_TIMEOUT + 1;
    workflow_housekeep(fx->wf, t);
    assert_int_equal(zlistx_size(fx->cancels), 1);
    assert_string_equal(zlistx_first(fx->cancels), fx->sent[0]->work_id);
    assert_contains(e->error, IPAM);
    /* The step that timed out may be half done: it is undone. */
    if (fx->nsent == 1) workflow_tick(fx->wf, t + RETRY_MAX);
    assert_int_equal(fx->nsent, 2);
    s_expect_sent(fx, 1, IPAM, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_answer(fx, 1, t + RETRY_MAX + 1), 0);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_null(e->error);
    s_fx_destroy(&fx);
}

static void test_cleanup_undeployed(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    s_deploy(fx, "gone", "192.0.2.10", t);
    s_deploy(fx, "kept", "192.0.2.11", t);
    s_undeploy(fx, "gone", t + 10);
    int64_t closed = t + 10;
    assert_int_equal(workflow_lookup(fx->wf, "gone")->close_time, closed);

    /* Not before it has been closed longer than clean_after. */
    workflow_housekeep(fx->wf, closed + CLEAN_AFTER / 2);
    workflow_housekeep(fx->wf, closed + CLEAN_AFTER);
    assert_int_equal(zlistx_size(fx->removed), 0);
    assert_non_null(workflow_lookup(fx->wf, "gone"));
    assert_int_equal(workflow_size(fx->wf), 2);

    /* Re-reported "kept" so that it is fresh; then "gone" goes. */
    assert_int_equal(s_add(fx, s_web("kept"), closed + CLEAN_AFTER), 0);
    size_t sent = fx->nsent;
    workflow_housekeep(fx->wf, closed + CLEAN_AFTER + 1);
    assert_int_equal(zlistx_size(fx->removed), 1);
    assert_string_equal(zlistx_first(fx->removed), "gone");
    assert_null(workflow_lookup(fx->wf, "gone"));
    assert_int_equal(workflow_size(fx->wf), 1);
    assert_non_null(workflow_lookup(fx->wf, "kept"));
    assert_int_equal(workflow_lookup(fx->wf, "kept")->state, ENTRY_DEPLOYED);
    assert_int_equal(fx->nsent, sent);
    size_t n = 0;
    for (entry_t *e = workflow_first(fx->wf); e; e = workflow_next(fx->wf)) {
        assert_string_equal(e->name, "kept");
        n++;
    }
    assert_int_equal(n, 1);

    /* Removed once; a late delete changes nothing; a new add starts afresh. */
    workflow_housekeep(fx->wf, closed + 2 * CLEAN_AFTER);
    assert_int_equal(zlistx_size(fx->removed), 1);
    assert_int_equal(s_delete(fx, "gone", closed + 2 * CLEAN_AFTER), 0);
    assert_null(workflow_lookup(fx->wf, "gone"));
    int64_t again = closed + 2 * CLEAN_AFTER + 5;
    assert_int_equal(s_add(fx, s_web("gone"), again), 0);
    entry_t *e = workflow_lookup(fx->wf, "gone");
    assert_non_null(e);
    assert_int_equal(e->time_detected, again);
    assert_int_equal(e->close_time, 0);
    assert_true(e->wip);
    s_expect_sent(fx, fx->nsent - 1, IPAM, ILP_ACTION_ADD, "gone");
    s_fx_destroy(&fx);
}

static void test_refresh(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    s_deploy(fx, "stale", "192.0.2.10", t);
    s_deploy(fx, "fresh", "192.0.2.11", t);
    s_deploy(fx, "closed", "192.0.2.12", t);
    s_undeploy(fx, "closed", t + 1);
    assert_int_equal(s_add(fx, s_web("fresh"), t + MAX_UPDATED / 2), 0);
    size_t sent = fx->nsent;

    workflow_housekeep(fx->wf, t + MAX_UPDATED - 1);
    assert_int_equal(zlistx_size(fx->refreshes), 0);

    workflow_housekeep(fx->wf, t + MAX_UPDATED + 1);
    assert_int_equal(zlistx_size(fx->refreshes), 1);
    assert_string_equal(zlistx_first(fx->refreshes), PROVIDER " stale");
    assert_true(s_list_has(fx->refreshes, PROVIDER " stale"));
    assert_false(s_list_has(fx->refreshes, PROVIDER " fresh"));
    assert_false(s_list_has(fx->refreshes, PROVIDER " closed"));
    assert_int_equal(fx->nsent, sent); /* no WORK */
    assert_int_equal(workflow_lookup(fx->wf, "stale")->state, ENTRY_DEPLOYED);
    assert_int_equal(zlistx_size(fx->removed), 0);

    /* The provider reports it again: no more refresh. */
    assert_int_equal(s_add(fx, s_web("stale"), t + MAX_UPDATED + 2), 0);
    workflow_housekeep(fx->wf, t + MAX_UPDATED + 3);
    assert_int_equal(zlistx_size(fx->refreshes), 1);
    assert_int_equal(fx->nsent, sent);
    s_fx_destroy(&fx);
}

/* After a start: every entry expected deployed that the provider has not
 * reported since is asked about once, whatever its state; reported ones,
 * and those expected undeployed, are not. */
static void test_resync_after_start(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    s_deploy(fx, "gone", "192.0.2.10", t);
    s_deploy(fx, "kept", "192.0.2.11", t);
    s_deploy(fx, "closed", "192.0.2.12", t);
    s_undeploy(fx, "closed", t + 1);
    assert_int_equal(s_add(fx, s_web("midway"), t + 2), 0); /* its first step in progress */
    size_t sent = fx->nsent;
    int64_t started = t + 10;
    assert_int_equal(s_add(fx, s_web("kept"), started + 1), 0); /* re-reported after the start */

    assert_int_equal(workflow_resync(fx->wf, started), 2);
    assert_int_equal(zlistx_size(fx->refreshes), 2);
    assert_true(s_list_has(fx->refreshes, PROVIDER " gone"));
    assert_true(s_list_has(fx->refreshes, PROVIDER " midway"));
    assert_false(s_list_has(fx->refreshes, PROVIDER " kept"));
    assert_false(s_list_has(fx->refreshes, PROVIDER " closed"));
    assert_int_equal(fx->nsent, sent); /* asking sends no WORK */
    s_fx_destroy(&fx);
}

static void test_provider_only(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps1, 1);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_non_null(e);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_false(e->wip);
    assert_string_equal(entry_state_name(e, s_steps(fx)), "deployed");
    assert_int_equal(fx->nsent, 0);
    assert_int_equal(s_trail_count(fx, "web", "deployed"), 1);

    /* Identical and changed re-adds: no WORK, the definition follows. */
    assert_int_equal(s_add(fx, s_web("web"), t + 1), 0);
    assert_int_equal(s_add(fx, s_svc("web", "10.9.0.2", 8080, false, NULL), t + 2), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_string_equal(e->service->targets[0].host, "10.9.0.2");
    assert_int_equal(e->last_update, t + 2);

    assert_int_equal(s_delete(fx, "web", t + 3), 0);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_false(e->expect_deployed);
    assert_int_equal(e->close_time, t + 3);
    assert_string_equal(entry_state_name(e, s_steps(fx)), "undeployed");
    assert_int_equal(fx->nsent, 0);

    assert_int_equal(s_add(fx, s_web("web"), t + 4), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_int_equal(e->close_time, 0);
    assert_int_equal(s_delete(fx, "web", t + 5), 0);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    workflow_tick(fx->wf, t + 100000);
    workflow_housekeep(fx->wf, t + 5 + CLEAN_AFTER + 1);
    assert_int_equal(fx->nsent, 0);
    assert_int_equal(zlistx_size(fx->cancels), 0);
    assert_null(workflow_lookup(fx->wf, "web"));
    assert_string_equal(zlistx_first(fx->removed), "web");
    s_fx_destroy(&fx);
}

static void test_two_steps(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps2, 2);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    assert_int_equal(fx->nsent, 1);
    s_expect_sent(fx, 0, DNS, ILP_ACTION_ADD, "web");
    /* No IPAM step: a DNS answer cannot bring a public IP. */
    assert_int_equal(s_answer_ip(fx, 0, "192.0.2.10", ++t), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_null(e->service->public_ip);
    assert_int_equal(fx->nsent, 1);
    const char *seq[] = {PROVIDER, DNS " wip", DNS, "deployed"};
    assert_true(s_trail_has(fx, "web", seq, COUNT(seq)));

    assert_int_equal(s_delete(fx, "web", ++t), 0);
    assert_int_equal(fx->nsent, 2);
    s_expect_sent(fx, 1, DNS, ILP_ACTION_DELETE, "web");
    assert_int_equal(s_answer(fx, 1, ++t), 0);
    assert_int_equal(e->state, ENTRY_UNDEPLOYED);
    assert_int_equal(e->close_time, t);
    assert_int_equal(fx->nsent, 2);
    s_fx_destroy(&fx);
}

static void test_events_refused(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    const char *senders[] = {IPAM, DNS, "provider.docker2", "provider", "provider.kube"};
    for (size_t i = 0; i < COUNT(senders); i++) {
        il_service_t *svc = s_web("web");
        assert_int_equal(workflow_event(fx->wf, senders[i], ILP_ACTION_ADD, &svc, t), -1);
        assert_non_null(svc); /* refused: the caller keeps it */
        il_service_destroy(&svc);
    }
    il_service_t *svc = s_web("web");
    assert_int_equal(workflow_event(fx->wf, NULL, ILP_ACTION_ADD, &svc, t), -1);
    il_service_destroy(&svc);
    assert_int_equal(workflow_size(fx->wf), 0);
    assert_int_equal(fx->nsent, 0);
    assert_int_equal(fx->changed, 0);

    /* Nor may another extension delete or change a service. */
    entry_t *e = s_deploy(fx, "web", "192.0.2.10", t);
    size_t sent = fx->nsent, changed = fx->changed;
    assert_int_equal(s_event(fx, DNS, ILP_ACTION_DELETE, il_service_new("web"), t + 1), -1);
    assert_int_equal(
        s_event(fx, IPAM, ILP_ACTION_ADD, s_svc("web", "10.6.6.6", 666, true, NULL), t + 1), -1);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_true(e->expect_deployed);
    assert_string_equal(e->service->targets[0].host, "10.9.0.1");
    assert_int_equal(e->last_update, t);
    assert_int_equal(fx->nsent, sent);
    assert_int_equal(fx->changed, changed);
    s_fx_destroy(&fx);
}

static void test_stale_results(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    assert_int_equal(s_add(fx, s_web("web"), t), 0);
    entry_t *e = workflow_lookup(fx->wf, "web");
    const char *id = fx->sent[0]->work_id;
    size_t changed = fx->changed;

    /* Unknown id, with and without error. */
    il_service_t *svc = s_web("web");
    assert_int_equal(il_service_set_string(&svc->public_ip, "192.0.2.99"), 0);
    assert_int_equal(workflow_result(fx->wf, PREFIX "-ffff", IPAM, NULL, &svc, ++t), -1);
    assert_int_equal(workflow_result(fx->wf, PREFIX "-ffff", IPAM, "boom", NULL, ++t), -1);
    assert_int_equal(workflow_result(fx->wf, NULL, IPAM, NULL, &svc, ++t), -1);
    assert_int_equal(workflow_result(fx->wf, "", IPAM, NULL, &svc, ++t), -1);
    /* The right id from another extension (not where it was sent). */
    assert_int_equal(workflow_result(fx->wf, id, DNS, NULL, &svc, ++t), -1);
    assert_int_equal(workflow_result(fx->wf, id, PROVIDER, NULL, &svc, ++t), -1);
    assert_int_equal(workflow_result(fx->wf, id, DNS, "boom", NULL, ++t), -1);
    assert_int_equal(workflow_result(fx->wf, id, NULL, NULL, &svc, ++t), -1);
    il_service_destroy(&svc);
    /* Nothing changed. */
    assert_true(e->wip);
    assert_string_equal(e->work_id, id);
    assert_int_equal(e->wip_time, T0);
    assert_null(e->error);
    assert_null(e->service->public_ip);
    assert_int_equal(fx->nsent, 1);
    assert_int_equal(fx->changed, changed);
    assert_int_equal(workflow_waiting(fx->wf), 0);

    /* The real answer works; the same answer again is refused. */
    assert_int_equal(s_answer_ip(fx, 0, "192.0.2.10", ++t), 0);
    assert_int_equal(fx->nsent, 2);
    changed = fx->changed;
    assert_int_equal(s_answer_ip(fx, 0, "192.0.2.98", ++t), -1);
    assert_int_equal(s_answer_error(fx, 0, "late", ++t), -1);
    assert_int_equal(fx->nsent, 2);
    assert_int_equal(fx->changed, changed);
    assert_string_equal(e->service->public_ip, "192.0.2.10");
    assert_string_equal(e->work_id, fx->sent[1]->work_id);
    assert_true(e->wip);

    assert_int_equal(s_answer(fx, 1, ++t), 0);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_int_equal(s_answer(fx, 1, ++t), -1);
    assert_int_equal(s_answer_error(fx, 1, "late", ++t), -1);
    assert_int_equal(e->state, ENTRY_DEPLOYED);
    assert_null(e->error);
    assert_int_equal(fx->nsent, 2);
    s_fx_destroy(&fx);
}

/* An entry as loaded from disk. */
static entry_t *s_loaded(const char *name, entry_state_t st, int pos, bool expect_deployed,
                         const char *ip)
{
    il_service_t *svc = s_web(name);
    assert_int_equal(il_service_set_string(&svc->provider, PROVIDER), 0);
    if (ip) assert_int_equal(il_service_set_string(&svc->public_ip, ip), 0);
    entry_t *e = entry_new(&svc, T0 - 100000);
    assert_non_null(e);
    assert_null(svc);
    e->state = st;
    e->pos = pos;
    e->expect_deployed = expect_deployed;
    e->last_update = T0 - 50000;
    return e;
}

/* The workflow's provider changed since the entries were saved: the new one
 * neither deletes nor changes an entry the old one reported (unless it is
 * gone: undeployed, expected so), and a refresh asks the entry's provider. */
static void test_events_other_provider(void **state)
{
    (void)state;
    static const char *const steps[] = {"provider.two", IPAM, DNS};
    fx_t *fx = s_fx_new(steps, 3);
    int64_t t = T0;
    entry_t *e = s_loaded("theirs", ENTRY_DEPLOYED, 0, true, "192.0.2.1");
    assert_int_equal(workflow_adopt(fx->wf, &e), 0);
    e = s_loaded("gone", ENTRY_UNDEPLOYED, 0, false, NULL);
    e->close_time = T0 - 1000;
    assert_int_equal(workflow_adopt(fx->wf, &e), 0);
    workflow_resume(fx->wf, t);
    size_t sent = fx->nsent, changed = fx->changed;

    entry_t *theirs = workflow_lookup(fx->wf, "theirs");
    assert_int_equal(s_event(fx, "provider.two", ILP_ACTION_DELETE, il_service_new("theirs"), t),
                     -1);
    assert_int_equal(s_event(fx, "provider.two", ILP_ACTION_ADD,
                             s_svc("theirs", "10.6.6.6", 666, true, NULL), t),
                     -1);
    assert_int_equal(theirs->state, ENTRY_DEPLOYED);
    assert_true(theirs->expect_deployed);
    assert_string_equal(theirs->service->targets[0].host, "10.9.0.1");
    assert_string_equal(theirs->service->provider, PROVIDER);
    assert_int_equal(fx->nsent, sent);
    assert_int_equal(fx->changed, changed);

    /* A name the old provider no longer uses is free for the new one. */
    assert_int_equal(s_event(fx, "provider.two", ILP_ACTION_ADD, s_web("gone"), t + 1), 0);
    assert_string_equal(workflow_lookup(fx->wf, "gone")->service->provider, "provider.two");
    assert_true(workflow_lookup(fx->wf, "gone")->expect_deployed);

    /* Asked about, the entry's own provider is. */
    assert_int_equal(workflow_resync(fx->wf, t + 1), 1);
    assert_true(s_list_has(fx->refreshes, PROVIDER " theirs"));
    workflow_housekeep(fx->wf, t + MAX_UPDATED + 100000);
    assert_false(s_list_has(fx->refreshes, "provider.two theirs"));
    s_fx_destroy(&fx);
}

static void test_adopt_resume(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    /* "inflight": DNS add was out when the previous run stopped. */
    entry_t *e = s_loaded("inflight", ENTRY_AT_STEP, 1, true, "192.0.2.1");
    e->wip = true;
    e->wip_step = 2;
    e->wip_action = ILP_ACTION_ADD;
    e->wip_time = T0 - 60000;
    snprintf(e->work_id, sizeof e->work_id, "oldrun-7");
    assert_int_equal(workflow_adopt(fx->wf, &e), 0);
    assert_null(e);
    /* "undoing": IPAM delete was out. */
    e = s_loaded("undoing", ENTRY_AT_STEP, 1, false, "192.0.2.2");
    e->wip = true;
    e->wip_step = 1;
    e->wip_action = ILP_ACTION_DELETE;
    e->wip_time = T0 - 60000;
    assert_int_equal(workflow_adopt(fx->wf, &e), 0);
    /* "due": IPAM done, DNS not yet asked. */
    e = s_loaded("due", ENTRY_AT_STEP, 1, true, "192.0.2.3");
    assert_int_equal(workflow_adopt(fx->wf, &e), 0);
    /* "later": in back-off until t + 5000. */
    e = s_loaded("later", ENTRY_AT_STEP, 0, true, NULL);
    e->next_try = t + 5000;
    e->attempt = 3;
    entry_set_error(e, IPAM ": pool exhausted");
    assert_int_equal(workflow_adopt(fx->wf, &e), 0);
    /* "leaving": deployed, deleted meanwhile. */
    e = s_loaded("leaving", ENTRY_DEPLOYED, 0, false, "192.0.2.4");
    assert_int_equal(workflow_adopt(fx->wf, &e), 0);
    /* "done" and "gone": nothing to do. */
    e = s_loaded("done", ENTRY_DEPLOYED, 0, true, "192.0.2.5");
    assert_int_equal(workflow_adopt(fx->wf, &e), 0);
    e = s_loaded("gone", ENTRY_UNDEPLOYED, 0, false, NULL);
    e->close_time = T0 - 1000;
    assert_int_equal(workflow_adopt(fx->wf, &e), 0);

    /* A second entry of the same name is refused and not taken. */
    e = s_loaded("done", ENTRY_UNDEPLOYED, 0, false, NULL);
    assert_int_equal(workflow_adopt(fx->wf, &e), -1);
    assert_non_null(e);
    entry_destroy(&e);
    assert_int_equal(workflow_lookup(fx->wf, "done")->state, ENTRY_DEPLOYED);

    /* Nothing happens before resume. */
    assert_int_equal(workflow_size(fx->wf), 7);
    assert_int_equal(fx->nsent, 0);
    assert_int_equal(zlistx_size(fx->cancels), 0);
    /* The old run's work id is not valid. */
    il_service_t *svc = s_web("inflight");
    assert_int_equal(workflow_result(fx->wf, "oldrun-7", DNS, NULL, &svc, t), -1);
    il_service_destroy(&svc);

    workflow_resume(fx->wf, t);
    assert_int_equal(fx->nsent, 4);
    long i = s_find_sent(fx, 0, "inflight");
    assert_true(i >= 0);
    s_expect_sent(fx, (size_t)i, DNS, ILP_ACTION_ADD, "inflight");
    assert_string_not_equal(fx->sent[i]->work_id, "oldrun-7");
    assert_string_equal(fx->sent[i]->service->public_ip, "192.0.2.1");
    entry_t *inflight = workflow_lookup(fx->wf, "inflight");
    assert_int_equal(inflight->wip_time, t);
    assert_int_equal(workflow_result(fx->wf, "oldrun-7", DNS, NULL, NULL, t), -1);

    i = s_find_sent(fx, 0, "undoing");
    assert_true(i >= 0);
    s_expect_sent(fx, (size_t)i, IPAM, ILP_ACTION_DELETE, "undoing");
    assert_string_equal(fx->sent[i]->service->public_ip, "192.0.2.2");
    i = s_find_sent(fx, 0, "due");
    assert_true(i >= 0);
    s_expect_sent(fx, (size_t)i, DNS, ILP_ACTION_ADD, "due");
    i = s_find_sent(fx, 0, "leaving");
    assert_true(i >= 0);
    s_expect_sent(fx, (size_t)i, DNS, ILP_ACTION_DELETE, "leaving");
    assert_string_equal(fx->sent[i]->service->public_ip, "192.0.2.4");
    assert_int_equal(s_find_sent(fx, 0, "later"), -1);
    assert_int_equal(s_find_sent(fx, 0, "done"), -1);
    assert_int_equal(s_find_sent(fx, 0, "gone"), -1);
    /* Work ids are distinct. */
    for (size_t a = 0; a < fx->nsent; a++)
        for (size_t b = a + 1; b < fx->nsent; b++)
            assert_string_not_equal(fx->sent[a]->work_id, fx->sent[b]->work_id);

    /* "later" waits for its back-off. */
    assert_int_equal(workflow_waiting(fx->wf), 1);
    workflow_tick(fx->wf, t + 4999);
    assert_int_equal(fx->nsent, 4);
    workflow_tick(fx->wf, t + 5000);
    assert_int_equal(fx->nsent, 5);
    s_expect_sent(fx, 4, IPAM, ILP_ACTION_ADD, "later");

    /* Each answer moves its entry on. */
    for (size_t k = 0; k < 5; k++) {
        bool ipam = !strcmp(fx->sent[k]->extension, IPAM);
        assert_int_equal(s_answer_ip(fx, k, ipam ? "192.0.2.9" : NULL, t + 5001), 0);
    }
    assert_int_equal(inflight->state, ENTRY_DEPLOYED);
    assert_int_equal(workflow_lookup(fx->wf, "due")->state, ENTRY_DEPLOYED);
    assert_int_equal(workflow_lookup(fx->wf, "undoing")->state, ENTRY_UNDEPLOYED);
    assert_int_equal(workflow_lookup(fx->wf, "undoing")->close_time, t + 5001);
    entry_t *later = workflow_lookup(fx->wf, "later");
    assert_true(later->wip);
    assert_null(later->error);
    assert_string_equal(later->service->public_ip, "192.0.2.9");
    entry_t *leaving = workflow_lookup(fx->wf, "leaving");
    i = s_find_sent(fx, 5, "leaving");
    assert_true(i >= 5);
    s_expect_sent(fx, (size_t)i, IPAM, ILP_ACTION_DELETE, "leaving");
    assert_true(leaving->wip);
    s_fx_destroy(&fx);
}

/* A public_ip is held by one live entry at most: an IPAM answer that gives a
 * service the address of another live one is refused as that step's error,
 * naming both, and retried with the usual back-off. */
static void test_public_ip_unique(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    entry_t *web = s_deploy(fx, "web", "10.0.0.5", t);
    assert_string_equal(web->service->public_ip, "10.0.0.5");

    /* An allocator that answers every WORK with the same address. */
    assert_int_equal(s_add(fx, s_web("api"), ++t), 0);
    entry_t *api = workflow_lookup(fx->wf, "api");
    const int64_t delays[] = {RETRY_MIN, 2 * RETRY_MIN};
    for (size_t k = 0; k < COUNT(delays); k++) {
        size_t i = fx->nsent - 1;
        s_expect_sent(fx, i, IPAM, ILP_ACTION_ADD, "api");
        assert_int_equal(s_answer_ip(fx, i, "10.0.0.5", ++t), 1); /* taken as a failure */
        assert_false(api->wip);
        assert_int_equal(api->state, ENTRY_AT_STEP);
        assert_int_equal(api->pos, 0);
        assert_null(api->service->public_ip);
        assert_string_equal(api->error, IPAM " answered 10.0.0.5 for api, but web holds it");
        assert_int_equal(api->attempt, k + 2);
        assert_int_equal(api->next_try, t + delays[k]);
        assert_int_equal(fx->nsent, i + 1); /* no DNS step: not deployed */
        assert_string_equal(s_state(fx, "api"), PROVIDER);
        /* web keeps its address, untouched. */
        assert_int_equal(web->state, ENTRY_DEPLOYED);
        assert_string_equal(web->service->public_ip, "10.0.0.5");
        assert_null(web->error);
        workflow_tick(fx->wf, t + delays[k] - 1);
        assert_int_equal(fx->nsent, i + 1);
        t += delays[k];
        workflow_tick(fx->wf, t);
        assert_int_equal(fx->nsent, i + 2);
        assert_contains(api->error, "web holds it"); /* kept while it is retried */
    }
    /* Answered right, it converges. */
    assert_int_equal(s_answer_ip(fx, fx->nsent - 1, "10.0.0.6", ++t), 0);
    assert_null(api->error);
    s_expect_sent(fx, fx->nsent - 1, DNS, ILP_ACTION_ADD, "api");
    assert_string_equal(fx->sent[fx->nsent - 1]->service->public_ip, "10.0.0.6");
    assert_int_equal(s_answer(fx, fx->nsent - 1, ++t), 0);
    assert_int_equal(api->state, ENTRY_DEPLOYED);
    assert_string_equal(api->service->public_ip, "10.0.0.6");

    /* An entry answered its own address again (a changed definition) keeps it. */
    assert_int_equal(s_add(fx, s_svc("web", "10.9.0.2", 8080, false, NULL), ++t), 0);
    assert_int_equal(s_answer(fx, fx->nsent - 1, ++t), 0);
    assert_int_equal(s_answer(fx, fx->nsent - 1, ++t), 0);
    assert_int_equal(web->state, ENTRY_DEPLOYED);
    assert_null(web->error);

    /* An undeployed entry holds nothing, even with the address still on its
     * service (an allocator that echoes it on delete): another may take it. */
    s_undeploy(fx, "web", ++t);
    assert_string_equal(web->service->public_ip, "10.0.0.5");
    entry_t *db = s_deploy(fx, "db", "10.0.0.5", ++t);
    assert_null(db->error);
    assert_string_equal(db->service->public_ip, "10.0.0.5");

    /* Back again, web no longer has that address: it asks for one... */
    assert_int_equal(s_add(fx, s_web("web"), ++t), 0);
    s_expect_sent(fx, fx->nsent - 1, IPAM, ILP_ACTION_ADD, "web");
    assert_null(fx->sent[fx->nsent - 1]->service->public_ip);
    assert_null(web->service->public_ip);
    /* ...and is refused the one db holds. */
    assert_int_equal(s_answer_ip(fx, fx->nsent - 1, "10.0.0.5", ++t), 1); /* taken as a failure */
    assert_string_equal(web->error, IPAM " answered 10.0.0.5 for web, but db holds it");
    assert_false(web->wip);

    /* Once db is deleted, web is asked again at once (not at the end of its
     * back-off: the holder's release is what it waited for) and the same
     * answer is accepted. */
    assert_true(web->next_try > t + 1);
    size_t before = fx->nsent;
    s_undeploy(fx, "db", ++t);
    workflow_tick(fx->wf, t);
    assert_true(fx->nsent > before);
    s_expect_sent(fx, fx->nsent - 1, IPAM, ILP_ACTION_ADD, "web");
    assert_int_equal(s_answer_ip(fx, fx->nsent - 1, "10.0.0.5", ++t), 0);
    assert_null(web->error);
    assert_int_equal(s_answer(fx, fx->nsent - 1, ++t), 0);
    assert_int_equal(web->state, ENTRY_DEPLOYED);
    assert_string_equal(web->service->public_ip, "10.0.0.5");

    /* A removed entry holds nothing either. */
    s_undeploy(fx, "web", ++t);
    workflow_housekeep(fx->wf, t + CLEAN_AFTER + 1);
    assert_null(workflow_lookup(fx->wf, "web"));
    assert_null(workflow_lookup(fx->wf, "db"));
    entry_t *next = s_deploy(fx, "next", "10.0.0.5", t + CLEAN_AFTER + 2);
    assert_null(next->error);
    s_fx_destroy(&fx);
}

/* Two live entries loaded with one address: the deployed one (or the one
 * detected first) keeps it whatever the order of the file; the other keeps
 * the address on its service, shows both names in its error and runs its
 * steps again, so that its IPAM step answers again. Nothing is dropped. */
static void test_public_ip_conflict_loaded(void **state)
{
    (void)state;
    for (int order = 0; order < 2; order++) {
        fx_t *fx = s_fx_new(s_steps3, 3);
        int64_t t = T0;
        entry_t *old = s_loaded("old", ENTRY_DEPLOYED, 0, true, "10.0.0.5");
        entry_t *young = s_loaded("young", ENTRY_DEPLOYED, 0, true, "10.0.0.5");
        young->time_detected = old->time_detected + 1;
        entry_t *gone = s_loaded("gone", ENTRY_UNDEPLOYED, 0, false, "10.0.0.5");
        gone->close_time = T0 - 1000;
        entry_t *first = order ? young : old, *second = order ? old : young;
        assert_int_equal(workflow_adopt(fx->wf, &gone), 0);
        assert_int_equal(workflow_adopt(fx->wf, &first), 0);
        assert_int_equal(workflow_adopt(fx->wf, &second), 0);
        assert_int_equal(workflow_size(fx->wf), 3);
        old = workflow_lookup(fx->wf, "old");
        young = workflow_lookup(fx->wf, "young");
        assert_int_equal(old->state, ENTRY_DEPLOYED);
        assert_null(old->error);
        assert_string_equal(young->service->public_ip, "10.0.0.5");
        assert_contains(young->error, "10.0.0.5");
        assert_contains(young->error, "old");
        assert_int_equal(young->state, ENTRY_AT_STEP);
        assert_int_equal(young->pos, 0);

        workflow_resume(fx->wf, t);
        assert_int_equal(fx->nsent, 1);
        s_expect_sent(fx, 0, IPAM, ILP_ACTION_ADD, "young");
        /* The same answer again is refused; another one is taken. */
        assert_int_equal(s_answer_ip(fx, 0, "10.0.0.5", ++t), 1); /* taken as a failure */
        assert_string_equal(young->error, IPAM " answered 10.0.0.5 for young, but old holds it");
        t += RETRY_MIN;
        workflow_tick(fx->wf, t);
        assert_int_equal(s_answer_ip(fx, fx->nsent - 1, "10.0.0.7", ++t), 0);
        assert_int_equal(s_answer(fx, fx->nsent - 1, ++t), 0);
        assert_int_equal(young->state, ENTRY_DEPLOYED);
        assert_null(young->error);
        assert_string_equal(young->service->public_ip, "10.0.0.7");
        assert_string_equal(old->service->public_ip, "10.0.0.5");
        s_fx_destroy(&fx);
    }

    /* A deployed entry wins over one still on its way, even detected later. */
    fx_t *fx = s_fx_new(s_steps3, 3);
    entry_t *early = s_loaded("early", ENTRY_AT_STEP, 1, true, "10.0.0.9");
    entry_t *done = s_loaded("done", ENTRY_DEPLOYED, 0, true, "10.0.0.9");
    done->time_detected = early->time_detected + 1;
    assert_int_equal(workflow_adopt(fx->wf, &early), 0);
    assert_int_equal(workflow_adopt(fx->wf, &done), 0);
    assert_null(workflow_lookup(fx->wf, "done")->error);
    assert_contains(workflow_lookup(fx->wf, "early")->error, "done");
    assert_int_equal(workflow_lookup(fx->wf, "early")->pos, 0);
    s_fx_destroy(&fx);
}

static void test_tick_cost(void **state)
{
    (void)state;
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    enum { N = 10000 };
    for (int i = 0; i < N; i++) {
        char name[32], ip[32];
        snprintf(name, sizeof name, "svc-%05d", i);
        snprintf(ip, sizeof ip, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        assert_int_equal(s_add(fx, s_web(name), t), 0);
        assert_int_equal(s_answer_ip(fx, fx->nsent - 1, ip, t), 0);
        assert_int_equal(s_answer(fx, fx->nsent - 1, t), 0);
    }
    assert_int_equal(workflow_size(fx->wf), N);
    assert_int_equal(fx->nsent, 2 * N);
    assert_int_equal(workflow_waiting(fx->wf), 0);

    /* Three entries in back-off, due at t+1000, t+2000, t+3000. */
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "slow-%d", k);
        assert_int_equal(s_add(fx, s_web(name), t + 1000 * k), 0);
        assert_int_equal(s_answer_error(fx, fx->nsent - 1, "pool exhausted", t + 1000 * k), 0);
    }
    assert_int_equal(workflow_size(fx->wf), N + 3);
    assert_int_equal(workflow_waiting(fx->wf), 3);
    size_t sent = fx->nsent, changed = fx->changed;

    workflow_tick(fx->wf, t + 999);
    assert_int_equal(fx->nsent, sent);
    assert_int_equal(fx->changed, changed);

    workflow_tick(fx->wf, t + 2000);
    assert_int_equal(fx->nsent, sent + 2);
    assert_int_equal(workflow_waiting(fx->wf), 1);
    assert_true(fx->changed - changed >= 2 && fx->changed - changed <= 4);
    s_expect_sent(fx, sent, IPAM, ILP_ACTION_ADD, "slow-0");
    s_expect_sent(fx, sent + 1, IPAM, ILP_ACTION_ADD, "slow-1");

    changed = fx->changed;
    workflow_tick(fx->wf, t + 2000);
    assert_int_equal(fx->nsent, sent + 2);
    assert_int_equal(fx->changed, changed);

    workflow_tick(fx->wf, t + 3000);
    assert_int_equal(fx->nsent, sent + 3);
    s_expect_sent(fx, sent + 2, IPAM, ILP_ACTION_ADD, "slow-2");
    assert_int_equal(workflow_waiting(fx->wf), 0);

    changed = fx->changed;
    workflow_tick(fx->wf, t + 10 * MAX_UPDATED);
    assert_int_equal(fx->nsent, sent + 3);
    assert_int_equal(fx->changed, changed);

    /* The housekeeper, with every deployed entry fresh, changes nothing. */
    workflow_housekeep(fx->wf, t + 3000);
    assert_int_equal(fx->nsent, sent + 3);
    assert_int_equal(zlistx_size(fx->refreshes), 0);
    assert_int_equal(zlistx_size(fx->removed), 0);
    assert_int_equal(zlistx_size(fx->cancels), 0);
    s_fx_destroy(&fx);
}

/* A deterministic pseudo-random sequence. */
static uint32_t s_rand(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

/* The flow controller's queue, with deadlines in random order and entries
 * leaving it early: each tick dispatches exactly the entries that are due. */
static void test_tick_order(void **state)
{
    (void)state;
    enum { N = 300 };
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    int64_t due[N];
    bool dispatched[N] = {false}, left[N] = {false};
    uint32_t seed = 7;
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "q%03d", i);
        entry_t *e = s_loaded(name, ENTRY_AT_STEP, 0, true, NULL);
        due[i] = t + 1 + (int64_t)(s_rand(&seed) % 5000);
        e->next_try = due[i];
        e->attempt = 2;
        entry_set_error(e, IPAM ": pool exhausted");
        assert_int_equal(workflow_adopt(fx->wf, &e), 0);
    }
    workflow_resume(fx->wf, t);
    assert_int_equal(fx->nsent, 0);
    assert_int_equal(workflow_waiting(fx->wf), N);

    /* Every seventh is deleted while it waits: it leaves the queue. */
    size_t waiting = N;
    for (int i = 0; i < N; i += 7) {
        char name[16];
        snprintf(name, sizeof name, "q%03d", i);
        assert_int_equal(s_delete(fx, name, t), 0);
        left[i] = true;
        assert_int_equal(workflow_waiting(fx->wf), --waiting);
    }
    size_t seen = fx->nsent;
    for (int64_t now = t; now <= t + 5250; now += 250) {
        workflow_tick(fx->wf, now);
        for (; seen < fx->nsent; seen++) {
            sent_t *s = fx->sent[seen];
            int i = atoi(s->service->name + 1);
            if (left[i] || dispatched[i] || due[i] > now)
                fail_msg("tick at +%lld dispatched %s (due at +%lld%s%s)", (long long)(now - t),
                         s->service->name, (long long)(due[i] - t), left[i] ? ", deleted" : "",
                         dispatched[i] ? ", already dispatched" : "");
            assert_string_equal(s->extension, IPAM);
            assert_int_equal(s->action, ILP_ACTION_ADD);
            dispatched[i] = true;
        }
        size_t expect_waiting = 0;
        for (int i = 0; i < N; i++) {
            if (left[i]) continue;
            if (due[i] <= now && !dispatched[i])
                fail_msg("tick at +%lld: q%03d due at +%lld not dispatched", (long long)(now - t),
                         i, (long long)(due[i] - t));
            if (due[i] > now) expect_waiting++;
        }
        assert_int_equal(workflow_waiting(fx->wf), expect_waiting);
    }
    assert_int_equal(workflow_waiting(fx->wf), 0);
    s_fx_destroy(&fx);
}

static void s_many_name(char *buf, size_t size, int i)
{
    snprintf(buf, size, "m%03d", i);
}

static void s_many_ip(char *buf, size_t size, int i)
{
    snprintf(buf, size, "10.1.%d.%d", i / 256, i % 256);
}

static int s_many_index(const char *name)
{
    return atoi(name + 1);
}

static int s_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_many_interleaved(void **state)
{
    (void)state;
    enum { MANY = 300 };
    fx_t *fx = s_fx_new(s_steps3, 3);
    int64_t t = T0;
    uint32_t seed = 20240611;
    size_t *pending = calloc(MANY * 4, sizeof *pending);
    assert_non_null(pending);
    size_t npending = 0, seen = 0, answers = 0;
    int outstanding[MANY] = {0}, failures[MANY] = {0};
    bool deleted = false, readded = false;
    char name[16], ip[32];

    for (int i = 0; i < MANY; i++) {
        s_many_name(name, sizeof name, i);
        assert_int_equal(s_add(fx, s_web(name), t), 0);
    }
    for (int guard = 0;; guard++) {
        assert_true(guard < 100000);
        /* New WORK: at most one outstanding per service, and it is the entry's. */
        for (; seen < fx->nsent; seen++) {
            int i = s_many_index(fx->sent[seen]->service->name);
            assert_int_equal(outstanding[i], 0);
            outstanding[i]++;
            assert_true(npending < MANY * 4);
            pending[npending++] = seen;
        }
        if (answers >= MANY && !deleted) {
            /* Midway: every third service is deleted, wherever it is. */
            deleted = true;
            for (int i = 0; i < MANY; i += 3) {
                s_many_name(name, sizeof name, i);
                assert_int_equal(s_delete(fx, name, t), 0);
                assert_false(workflow_lookup(fx->wf, name)->expect_deployed);
            }
            continue;
        }
        if (deleted && !readded &&
            (answers >= 2 * MANY || (npending == 0 && workflow_waiting(fx->wf) == 0))) {
            /* Later (at the latest once all is quiet): every ninth comes back. */
            readded = true;
            for (int i = 0; i < MANY; i += 9) {
                s_many_name(name, sizeof name, i);
                assert_int_equal(s_add(fx, s_web(name), t), 0);
            }
            continue;
        }
        if (npending == 0) {
            if (workflow_waiting(fx->wf) == 0) break;
            t += RETRY_MAX;
            workflow_tick(fx->wf, t);
            continue;
        }
        t += 1 + s_rand(&seed) % 50;
        if (guard % 40 == 0) workflow_tick(fx->wf, t);
        size_t k = s_rand(&seed) % npending;
        size_t idx = pending[k];
        pending[k] = pending[--npending];
        sent_t *s = fx->sent[idx];
        int i = s_many_index(s->service->name);
        outstanding[i]--;
        answers++;
        if (failures[i] < 3 && s_rand(&seed) % 5 == 0) {
            failures[i]++;
            assert_int_equal(s_answer_error(fx, idx, "transient", t), 0);
        } else {
            bool ipam_add = !strcmp(s->extension, IPAM) && s->action == ILP_ACTION_ADD;
            s_many_ip(ip, sizeof ip, i);
            assert_int_equal(s_answer_ip(fx, idx, ipam_add ? ip : NULL, t), 0);
        }
        /* A duplicate of an answered WORK is refused. */
        if (s_rand(&seed) % 7 == 0) assert_int_equal(s_answer(fx, idx, t), -1);
    }
    assert_true(deleted && readded);
    assert_int_equal(workflow_waiting(fx->wf), 0);
    assert_int_equal(workflow_size(fx->wf), MANY);
    for (int i = 0; i < MANY; i++) {
        s_many_name(name, sizeof name, i);
        entry_t *e = workflow_lookup(fx->wf, name);
        assert_non_null(e);
        assert_false(e->wip);
        assert_null(e->error);
        if (i % 3 == 0 && i % 9 != 0) {
            assert_false(e->expect_deployed);
            assert_int_equal(e->state, ENTRY_UNDEPLOYED);
        } else {
            assert_true(e->expect_deployed);
            assert_int_equal(e->state, ENTRY_DEPLOYED);
            s_many_ip(ip, sizeof ip, i);
            assert_string_equal(e->service->public_ip, ip);
        }
    }
    /* Every WORK had its own id, and carried its own service's data. */
    char **ids = calloc(fx->nsent, sizeof *ids);
    assert_non_null(ids);
    for (size_t k = 0; k < fx->nsent; k++) {
        ids[k] = fx->sent[k]->work_id;
        const char *ip_sent = fx->sent[k]->service->public_ip;
        if (ip_sent) {
            s_many_ip(ip, sizeof ip, s_many_index(fx->sent[k]->service->name));
            assert_string_equal(ip_sent, ip);
        }
    }
    qsort(ids, fx->nsent, sizeof *ids, s_strcmp_p);
    for (size_t k = 1; k < fx->nsent; k++)
        assert_string_not_equal(ids[k - 1], ids[k]);
    free(ids);
    free(pending);
    s_fx_destroy(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_new_and_accessors, s_teardown),
        cmocka_unit_test_teardown(test_forward_path, s_teardown),
        cmocka_unit_test_teardown(test_result_without_service, s_teardown),
        cmocka_unit_test_teardown(test_public_ip_merge, s_teardown),
        cmocka_unit_test_teardown(test_reverse_path, s_teardown),
        cmocka_unit_test_teardown(test_delete_during_first_step, s_teardown),
        cmocka_unit_test_teardown(test_delete_during_first_step_error, s_teardown),
        cmocka_unit_test_teardown(test_delete_during_last_step, s_teardown),
        cmocka_unit_test_teardown(test_delete_during_backoff, s_teardown),
        cmocka_unit_test_teardown(test_add_while_undeploying, s_teardown),
        cmocka_unit_test_teardown(test_flip_flop, s_teardown),
        cmocka_unit_test_teardown(test_identical_readd, s_teardown),
        cmocka_unit_test_teardown(test_changed_definition_deployed, s_teardown),
        cmocka_unit_test_teardown(test_changed_definition_during_wip, s_teardown),
        cmocka_unit_test_teardown(test_changed_definition_while_undeploying, s_teardown),
        cmocka_unit_test_teardown(test_error_backoff, s_teardown),
        cmocka_unit_test_teardown(test_error_backoff_reverse, s_teardown),
        cmocka_unit_test_teardown(test_delete_after_ipam_error, s_teardown),
        cmocka_unit_test_teardown(test_delete_after_dns_error, s_teardown),
        cmocka_unit_test_teardown(test_add_after_reverse_error, s_teardown),
        cmocka_unit_test_teardown(test_never_deployed_while_error, s_teardown),
        cmocka_unit_test_teardown(test_long_error_capped, s_teardown),
        cmocka_unit_test_teardown(test_add_during_reverse_backoff, s_teardown),
        cmocka_unit_test_teardown(test_wip_timeout, s_teardown),
        cmocka_unit_test_teardown(test_wip_timeout_while_turning, s_teardown),
        cmocka_unit_test_teardown(test_cleanup_undeployed, s_teardown),
        cmocka_unit_test_teardown(test_refresh, s_teardown),
        cmocka_unit_test_teardown(test_resync_after_start, s_teardown),
        cmocka_unit_test_teardown(test_provider_only, s_teardown),
        cmocka_unit_test_teardown(test_two_steps, s_teardown),
        cmocka_unit_test_teardown(test_events_refused, s_teardown),
        cmocka_unit_test_teardown(test_events_other_provider, s_teardown),
        cmocka_unit_test_teardown(test_stale_results, s_teardown),
        cmocka_unit_test_teardown(test_adopt_resume, s_teardown),
        cmocka_unit_test_teardown(test_public_ip_unique, s_teardown),
        cmocka_unit_test_teardown(test_public_ip_conflict_loaded, s_teardown),
        cmocka_unit_test_teardown(test_tick_cost, s_teardown),
        cmocka_unit_test_teardown(test_tick_order, s_teardown),
        cmocka_unit_test_teardown(test_many_interleaved, s_teardown),
    };
    return test_run_group(tests, NULL, NULL);
}
