/* test_dns_plan: unit tests of extensions/dns/dns_plan (a work item's names
 * queued per zone, and the items refused at once). */
#include "tests/support/asserts.h"

#include <stdlib.h>
#include <string.h>

#include "extensions/dns/dns_plan.h"

static char *s_zones[] = {"example.test", "lab.example.test"};
static dns_config_t s_config = {
    .zones = s_zones, .zone_count = 2, .owner_id = "interlook", .ttl_s = 60};

static il_service_t *s_service(const char *name, const char *ip, const char *const *aliases)
{
    il_service_t *svc = il_service_new(name);
    if (ip) il_service_set_string(&svc->public_ip, ip);
    for (size_t i = 0; aliases && aliases[i]; i++)
        assert_int_equal(il_service_add_alias(svc, aliases[i]), 0);
    return svc;
}

static void s_jobs_clear(dns_job_t **jobs)
{
    for (int z = 0; z < 2; z++)
        dns_job_destroy(&jobs[z]);
}

static void test_add_grouped_per_zone(void **state)
{
    (void)state;
    const char *aliases[] = {"WWW.Example.Test.", "db.lab.example.test", "example.test", NULL};
    il_service_t *svc = s_service("web", "10.0.0.1", aliases);
    dns_job_t *jobs[2] = {NULL, NULL};
    assert_null(dns_plan_item(&s_config, jobs, 7, true, svc));
    assert_non_null(jobs[0]);
    assert_non_null(jobs[1]);
    assert_string_equal(jobs[0]->zone, "example.test");
    assert_int_equal(jobs[0]->count, 2);
    assert_int_equal(jobs[1]->count, 1);
    assert_string_equal(jobs[1]->names[0].name, "db.lab.example.test");
    assert_string_equal(jobs[1]->names[0].ip, "10.0.0.1");
    assert_string_equal(jobs[1]->names[0].service, "web");
    assert_int_equal(jobs[1]->names[0].item, 7);
    int www = strcmp(jobs[0]->names[0].name, "www.example.test") == 0 ? 0 : 1;
    assert_string_equal(jobs[0]->names[www].name, "www.example.test");
    assert_string_equal(jobs[0]->names[1 - www].name, "example.test");
    /* a second item joins the same jobs */
    const char *more[] = {"api.example.test", NULL};
    il_service_t *api = s_service("api", "fd00::1", more);
    assert_null(dns_plan_item(&s_config, jobs, 8, true, api));
    assert_int_equal(jobs[0]->count, 3);
    assert_string_equal(jobs[0]->names[2].ip, "fd00::1");
    s_jobs_clear(jobs);
    il_service_destroy(&svc);
    il_service_destroy(&api);
}

static void test_refused_at_once(void **state)
{
    (void)state;
    dns_job_t *jobs[2] = {NULL, NULL};
    const char *aliases[] = {"www.example.test", "x.nowhere.org", NULL};
    il_service_t *svc = s_service("web", NULL, aliases);
    char *err = dns_plan_item(&s_config, jobs, 0, true, svc);
    assert_string_equal(err, "no public_ip: put an ipam step before dns");
    free(err);
    il_service_set_string(&svc->public_ip, "10.0.0.1");
    err = dns_plan_item(&s_config, jobs, 0, true, svc);
    assert_string_equal(
        err,
        "alias x.nowhere.org is in no configured zone (zones: example.test, lab.example.test)");
    free(err);
    const char *bad[] = {"www.badexample.test", NULL};
    il_service_t *other = s_service("other", "10.0.0.2", bad);
    err = dns_plan_item(&s_config, jobs, 1, true, other);
    assert_contains(err, "alias www.badexample.test is in no configured zone");
    free(err);
    assert_null(jobs[0]); /* nothing of a refused item is queued */
    assert_null(jobs[1]);
    il_service_destroy(&svc);
    il_service_destroy(&other);
}

static void test_delete_and_no_aliases(void **state)
{
    (void)state;
    dns_job_t *jobs[2] = {NULL, NULL};
    /* a delete needs no address and skips names outside the zones */
    const char *aliases[] = {"www.example.test", "x.nowhere.org", NULL};
    il_service_t *svc = s_service("web", NULL, aliases);
    assert_null(dns_plan_item(&s_config, jobs, 3, false, svc));
    assert_non_null(jobs[0]);
    assert_int_equal(jobs[0]->count, 1);
    assert_null(jobs[0]->names[0].ip);
    /* the zone it has no name in: only its index is read there */
    assert_non_null(jobs[1]);
    assert_int_equal(jobs[1]->count, 1);
    assert_int_equal(jobs[1]->names[0].kind, DNS_NAME_INDEX);
    assert_null(jobs[1]->names[0].ip);
    s_jobs_clear(jobs);
    /* no aliases (any more), even without an address: its indexes are read,
     * to remove the names they list */
    il_service_t *bare = s_service("bare", NULL, NULL);
    assert_null(dns_plan_item(&s_config, jobs, 0, true, bare));
    for (int z = 0; z < 2; z++) {
        assert_non_null(jobs[z]);
        assert_int_equal(jobs[z]->count, 1);
        assert_int_equal(jobs[z]->names[0].kind, DNS_NAME_INDEX);
        assert_string_equal(jobs[z]->names[0].service, "bare");
        assert_non_null(jobs[z]->names[0].ip); /* an add */
    }
    s_jobs_clear(jobs);
    il_service_destroy(&svc);
    il_service_destroy(&bare);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_grouped_per_zone),
        cmocka_unit_test(test_refused_at_once),
        cmocka_unit_test(test_delete_and_no_aliases),
    };
    return test_run_group(tests, NULL, NULL);
}
