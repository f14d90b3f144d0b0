/* test_dns_update: unit tests of extensions/dns/dns_update: the ownership TXT,
 * the reading of a TXT answer, and the RFC 2136 UPDATE's sections, checked
 * after a round trip through the wire format (the RRs without data are the
 * ones ldns cannot build from text). */
#include "tests/support/asserts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extensions/dns/dns_update.h"

static dns_update_name_t s_name(const char *name, const char *service, const char *ip,
                                dns_owner_t owner)
{
    dns_update_name_t n;
    memset(&n, 0, sizeof n);
    n.name = strdup(name);
    n.service = service;
    n.ip = ip;
    n.owner = owner;
    return n;
}

/* An answer with rcode and the RRs given as text (NULL-terminated). */
static ldns_pkt *s_answer(ldns_pkt_rcode rcode, const char *const *rrs)
{
    ldns_pkt *pkt = ldns_pkt_new();
    ldns_pkt_set_rcode(pkt, rcode);
    for (size_t i = 0; rrs && rrs[i]; i++) {
        ldns_rr *rr = NULL;
        if (ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL) != LDNS_STATUS_OK)
            fail_msg("cannot parse %s", rrs[i]);
        ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr);
    }
    return pkt;
}

/* The packet after pkt2wire and wire2pkt: what the server would read. */
static ldns_pkt *s_round_trip(const ldns_pkt *pkt)
{
    uint8_t *wire = NULL;
    size_t size = 0;
    assert_int_equal(ldns_pkt2wire(&wire, pkt, &size), LDNS_STATUS_OK);
    ldns_pkt *back = NULL;
    assert_int_equal(ldns_wire2pkt(&back, wire, size), LDNS_STATUS_OK);
    free(wire);
    return back;
}

/* The i-th RR of a list as text, e.g. "web.example.test.\t0\tANY\tA\t". */
static char *s_rr_text(const ldns_rr_list *list, size_t i)
{
    if (i >= ldns_rr_list_rr_count(list))
        fail_msg("no RR %zu (only %zu)", i, ldns_rr_list_rr_count(list));
    return ldns_rr2str(ldns_rr_list_rr(list, i));
}

#define assert_rr(list, i, want)                                                                   \
    do {                                                                                           \
        char *t_ = s_rr_text((list), (i));                                                         \
        assert_string_equal(t_, want);                                                             \
        free(t_);                                                                                  \
    } while (0)

static void test_txt_and_query(void **state)
{
    (void)state;
    char *txt = dns_update_txt("blue", "web");
    assert_string_equal(txt, "heritage=interlook,owner=blue,service=web");
    free(txt);
    ldns_pkt *q = dns_update_query("web.example.test");
    assert_non_null(q);
    const ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
    assert_int_equal(ldns_rr_get_type(question), LDNS_RR_TYPE_TXT);
    char *owner = ldns_rdf2str(ldns_rr_owner(question));
    assert_string_equal(owner, "web.example.test.");
    free(owner);
    assert_false(ldns_pkt_rd(q));
    ldns_pkt_free(q);
}

static void test_read_owner(void **state)
{
    (void)state;
    dns_update_name_t n = s_name("web.example.test", "web", "10.0.0.1", DNS_OWNER_UNKNOWN);
    ldns_pkt *a = s_answer(LDNS_RCODE_NXDOMAIN, NULL);
    assert_int_equal(dns_update_read_owner(&n, a, "interlook"), 0);
    assert_int_equal(n.owner, DNS_OWNER_ABSENT);
    ldns_pkt_free(a);

    const char *ours[] = {
        "web.example.test. 60 IN TXT \"heritage=interlook,owner=interlook,service=web\"",
        "web.example.test. 60 IN TXT \"v=spf1 -all\"", NULL};
    a = s_answer(LDNS_RCODE_NOERROR, ours);
    assert_int_equal(dns_update_read_owner(&n, a, "interlook"), 0);
    assert_int_equal(n.owner, DNS_OWNER_OURS);
    assert_int_equal(ldns_rr_list_rr_count(n.txt), 2); /* the whole RRset, for the prerequisite */
    /* the same TXT, read by another owner id: not theirs */
    assert_int_equal(dns_update_read_owner(&n, a, "red"), 0);
    assert_int_equal(n.owner, DNS_OWNER_FOREIGN);
    assert_contains(n.foreign, "owned by TXT \"heritage=interlook,owner=interlook,service=web\"");
    assert_null(n.txt);
    ldns_pkt_free(a);

    /* another service of the same owner: not this one's */
    const char *other_service[] = {
        "web.example.test. 60 IN TXT \"heritage=interlook,owner=interlook,service=api\"", NULL};
    a = s_answer(LDNS_RCODE_NOERROR, other_service);
    assert_int_equal(dns_update_read_owner(&n, a, "interlook"), 0);
    assert_int_equal(n.owner, DNS_OWNER_FOREIGN);
    assert_contains(n.foreign, "service=api");
    ldns_pkt_free(a);

    /* the name exists (NOERROR) with no TXT, or a TXT elsewhere (a CNAME's target) */
    const char *cname[] = {
        "web.example.test. 60 IN CNAME x.example.test.",
        "x.example.test. 60 IN TXT \"heritage=interlook,owner=interlook,service=web\"", NULL};
    a = s_answer(LDNS_RCODE_NOERROR, cname);
    assert_int_equal(dns_update_read_owner(&n, a, "interlook"), 0);
    assert_int_equal(n.owner, DNS_OWNER_FOREIGN);
    assert_string_equal(n.foreign, "it has records and no ownership TXT");
    ldns_pkt_free(a);

    a = s_answer(LDNS_RCODE_SERVFAIL, NULL);
    assert_int_equal(dns_update_read_owner(&n, a, "interlook"), -1);
    ldns_pkt_free(a);
    dns_update_name_clear(&n);
}

static void test_build_add(void **state)
{
    (void)state;
    dns_update_name_t names[2];
    names[0] = s_name("web.example.test", "web", "10.0.0.1", DNS_OWNER_ABSENT);
    names[1] = s_name("v6.example.test", "v6", "fd00::5", DNS_OWNER_ABSENT);
    /* v6 is ours already: the prerequisite is its TXT RRset as read */
    const char *ours[] = {
        "v6.example.test. 60 IN TXT \"heritage=interlook,owner=interlook,service=v6\"", NULL};
    ldns_pkt *a = s_answer(LDNS_RCODE_NOERROR, ours);
    assert_int_equal(dns_update_read_owner(&names[1], a, "interlook"), 0);
    assert_int_equal(names[1].owner, DNS_OWNER_OURS);
    ldns_pkt_free(a);
    char err[256] = "";
    size_t written = 0;
    ldns_pkt *pkt = dns_update_build("example.test", names, NULL, 2, "interlook", 60, &written, err,
                                     sizeof err);
    if (!pkt) fail_msg("refused: %s", err);
    assert_int_equal(written, 2);
    ldns_pkt *back = s_round_trip(pkt);
    assert_int_equal(ldns_pkt_get_opcode(back), LDNS_PACKET_UPDATE);
    assert_rr(ldns_pkt_question(back), 0, "example.test.\tIN\tSOA\n"); /* the zone section */
    const ldns_rr_list *pre = ldns_pkt_answer(back), *up = ldns_pkt_authority(back);
    assert_int_equal(ldns_rr_list_rr_count(pre), 2);
    assert_rr(pre, 0, "web.example.test.\t0\tNONE\tANY\t\\# 0\n");
    assert_rr(pre, 1,
              "v6.example.test.\t0\tIN\tTXT\t\"heritage=interlook,owner=interlook,service=v6\"\n");
    assert_int_equal(ldns_rr_list_rr_count(up), 7);
    assert_rr(up, 0, "web.example.test.\t0\tANY\tA\t\\# 0\n");
    assert_rr(up, 1, "web.example.test.\t0\tANY\tAAAA\t\\# 0\n");
    assert_rr(up, 2, "web.example.test.\t60\tIN\tA\t10.0.0.1\n");
    assert_rr(
        up, 3,
        "web.example.test.\t60\tIN\tTXT\t\"heritage=interlook,owner=interlook,service=web\"\n");
    assert_rr(up, 4, "v6.example.test.\t0\tANY\tA\t\\# 0\n");
    assert_rr(up, 5, "v6.example.test.\t0\tANY\tAAAA\t\\# 0\n");
    assert_rr(up, 6, "v6.example.test.\t60\tIN\tAAAA\tfd00::5\n"); /* its TXT stays as it is */
    /* the deletions carry no data: RDLENGTH 0 on the wire ("\# 0" once read back) */
    assert_int_equal(ldns_rr_rd_count(ldns_rr_list_rr(ldns_pkt_authority(pkt), 0)), 0);
    ldns_pkt_free(back);
    ldns_pkt_free(pkt);
    for (int i = 0; i < 2; i++)
        dns_update_name_clear(&names[i]);
}

static void test_build_delete(void **state)
{
    (void)state;
    dns_update_name_t names[2];
    names[0] = s_name("web.example.test", "web", NULL, DNS_OWNER_UNKNOWN);
    names[1] = s_name("gone.example.test", "web", NULL, DNS_OWNER_ABSENT);
    const char *ours[] = {
        "web.example.test. 60 IN TXT \"heritage=interlook,owner=interlook,service=web\"", NULL};
    ldns_pkt *a = s_answer(LDNS_RCODE_NOERROR, ours);
    assert_int_equal(dns_update_read_owner(&names[0], a, "interlook"), 0);
    ldns_pkt_free(a);
    char err[256] = "";
    size_t written = 9;
    ldns_pkt *pkt = dns_update_build("example.test", names, NULL, 2, "interlook", 60, &written, err,
                                     sizeof err);
    if (!pkt) fail_msg("refused: %s", err);
    assert_int_equal(written, 1); /* the absent name needs nothing */
    ldns_pkt *back = s_round_trip(pkt);
    const ldns_rr_list *pre = ldns_pkt_answer(back), *up = ldns_pkt_authority(back);
    assert_int_equal(ldns_rr_list_rr_count(pre), 1);
    assert_rr(
        pre, 0,
        "web.example.test.\t0\tIN\tTXT\t\"heritage=interlook,owner=interlook,service=web\"\n");
    assert_int_equal(ldns_rr_list_rr_count(up), 3);
    assert_rr(up, 0, "web.example.test.\t0\tANY\tA\t\\# 0\n");
    assert_rr(up, 1, "web.example.test.\t0\tANY\tAAAA\t\\# 0\n");
    /* only our TXT record goes (class NONE), not the TXT RRset */
    assert_rr(
        up, 2,
        "web.example.test.\t0\tNONE\tTXT\t\"heritage=interlook,owner=interlook,service=web\"\n");
    ldns_pkt_free(back);
    ldns_pkt_free(pkt);
    for (int i = 0; i < 2; i++)
        dns_update_name_clear(&names[i]);
}

static void test_build_use_and_refusals(void **state)
{
    (void)state;
    dns_update_name_t names[2];
    names[0] = s_name("a.example.test", "a", "10.0.0.1", DNS_OWNER_ABSENT);
    names[1] = s_name("b.example.test", "b", "10.0.0.2", DNS_OWNER_FOREIGN);
    char err[256] = "";
    size_t written = 0;
    /* a foreign name is never written */
    assert_null(dns_update_build("example.test", names, NULL, 2, "interlook", 60, &written, err,
                                 sizeof err));
    assert_contains(err, "b.example.test");
    /* use[] leaves it out */
    bool use[2] = {true, false};
    ldns_pkt *pkt =
        dns_update_build("example.test", names, use, 2, "interlook", 60, &written, err, sizeof err);
    assert_non_null(pkt);
    assert_int_equal(written, 1);
    assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_authority(pkt)), 4);
    ldns_pkt_free(pkt);
    /* an address that is none */
    names[1].owner = DNS_OWNER_ABSENT;
    names[1].ip = "10.0.0.300";
    assert_null(dns_update_build("example.test", names, NULL, 2, "interlook", 60, &written, err,
                                 sizeof err));
    assert_contains(err, "b.example.test: '10.0.0.300' is not an IPv4 or IPv6 address");
    for (int i = 0; i < 2; i++)
        dns_update_name_clear(&names[i]);
}

/* The index: its owner name, its reading, and its replacement in an add's
 * UPDATE (with a dropped name's delete, as dns_job queues it). */
static void test_index(void **state)
{
    (void)state;
    char *index = dns_update_index_name("interlook", "web", "example.test");
    assert_int_equal(strlen(index), strlen("_il-0123456789abcdef.example.test"));
    assert_int_equal(strncmp(index, "_il-", 4), 0);
    char *other = dns_update_index_name("interlook", "api", "example.test");
    assert_string_not_equal(index, other);
    free(other);
    /* a service name that is no valid label still gives a valid name */
    other = dns_update_index_name("interlook", "a b/c.d", "example.test");
    ldns_pkt *q = dns_update_query(other);
    assert_non_null(q);
    ldns_pkt_free(q);
    free(other);

    dns_update_name_t names[3];
    names[0] = s_name("a.example.test", "web", "10.0.0.1", DNS_OWNER_OURS);
    names[1] = s_name("b.example.test", "web", NULL, DNS_OWNER_UNKNOWN); /* dropped */
    names[2] = s_name(index, "web", "10.0.0.1", DNS_OWNER_UNKNOWN);
    names[2].kind = DNS_NAME_INDEX;
    names[2].index_names = strdup("a.example.test");
    char rr[3][512];
    snprintf(rr[0], sizeof rr[0],
             "%s. 60 IN TXT \"heritage=interlook,owner=interlook,service=web\" "
             "\"names=a.example.test,b.example.test\" \"c.example.test\"",
             index);
    const char *listing[] = {rr[0], NULL};
    ldns_pkt *a = s_answer(LDNS_RCODE_NOERROR, listing);
    char *listed = NULL;
    assert_int_equal(dns_update_read_index(&names[2], a, "interlook", &listed), 0);
    assert_int_equal(names[2].owner, DNS_OWNER_OURS);
    assert_string_equal(listed, "a.example.test,b.example.test,c.example.test");
    free(listed);
    listed = NULL;
    /* another owner's reading: not its index */
    dns_update_name_t probe = s_name(index, "web", NULL, DNS_OWNER_UNKNOWN);
    assert_int_equal(dns_update_read_index(&probe, a, "red", &listed), 0);
    assert_int_equal(probe.owner, DNS_OWNER_FOREIGN);
    assert_null(listed);
    ldns_pkt_free(a);
    a = s_answer(LDNS_RCODE_NXDOMAIN, NULL);
    assert_int_equal(dns_update_read_index(&probe, a, "interlook", &listed), 0);
    assert_int_equal(probe.owner, DNS_OWNER_ABSENT);
    ldns_pkt_free(a);
    dns_update_name_clear(&probe);

    const char *b_ours[] = {
        "b.example.test. 60 IN TXT \"heritage=interlook,owner=interlook,service=web\"", NULL};
    a = s_answer(LDNS_RCODE_NOERROR, b_ours);
    assert_int_equal(dns_update_read_owner(&names[1], a, "interlook"), 0);
    ldns_pkt_free(a);
    const char *a_ours[] = {
        "a.example.test. 60 IN TXT \"heritage=interlook,owner=interlook,service=web\"", NULL};
    a = s_answer(LDNS_RCODE_NOERROR, a_ours);
    assert_int_equal(dns_update_read_owner(&names[0], a, "interlook"), 0);
    ldns_pkt_free(a);
    char err[256] = "";
    size_t written = 0;
    ldns_pkt *pkt = dns_update_build("example.test", names, NULL, 3, "interlook", 60, &written, err,
                                     sizeof err);
    if (!pkt) fail_msg("refused: %s", err);
    assert_int_equal(written, 3);
    ldns_pkt *back = s_round_trip(pkt);
    const ldns_rr_list *pre = ldns_pkt_answer(back), *up = ldns_pkt_authority(back);
    assert_int_equal(ldns_rr_list_rr_count(pre), 3);
    char want[512];
    snprintf(want, sizeof want,
             "%s.\t0\tIN\tTXT\t\"heritage=interlook,owner=interlook,service=web\" "
             "\"names=a.example.test,b.example.test\" \"c.example.test\"\n",
             index);
    assert_rr(pre, 2, want); /* the index as read */
    /* a: 3 (its address replaced); b: 3 (deleted); the index: 2 */
    assert_int_equal(ldns_rr_list_rr_count(up), 8);
    assert_rr(up, 3, "b.example.test.\t0\tANY\tA\t\\# 0\n");
    assert_rr(up, 4, "b.example.test.\t0\tANY\tAAAA\t\\# 0\n");
    assert_rr(
        up, 5,
        "b.example.test.\t0\tNONE\tTXT\t\"heritage=interlook,owner=interlook,service=web\"\n");
    snprintf(want, sizeof want, "%s.\t0\tANY\tTXT\t\\# 0\n", index);
    assert_rr(up, 6, want);
    snprintf(want, sizeof want,
             "%s.\t60\tIN\tTXT\t\"heritage=interlook,owner=interlook,service=web\" "
             "\"names=a.example.test\"\n",
             index);
    assert_rr(up, 7, want);
    ldns_pkt_free(back);
    ldns_pkt_free(pkt);

    /* a delete: the index removed; absent and nothing to list: nothing */
    free(names[2].index_names);
    names[2].index_names = NULL;
    bool use[3] = {false, false, true};
    pkt =
        dns_update_build("example.test", names, use, 3, "interlook", 60, &written, err, sizeof err);
    assert_non_null(pkt);
    assert_int_equal(written, 1);
    assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_authority(pkt)), 1);
    ldns_pkt_free(pkt);
    names[2].owner = DNS_OWNER_ABSENT;
    pkt =
        dns_update_build("example.test", names, use, 3, "interlook", 60, &written, err, sizeof err);
    assert_non_null(pkt);
    assert_int_equal(written, 0);
    ldns_pkt_free(pkt);

    /* a long list: character-strings of at most 255 bytes, whole names */
    char list[2048] = "";
    for (int i = 0; i < 40; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%sname-%02d.example.test",
                 i ? "," : "", i);
    names[2].index_names = strdup(list);
    pkt =
        dns_update_build("example.test", names, use, 3, "interlook", 60, &written, err, sizeof err);
    assert_non_null(pkt);
    const ldns_rr *txt = ldns_rr_list_rr(ldns_pkt_authority(pkt), 0);
    assert_true(ldns_rr_rd_count(txt) > 3);
    for (size_t i = 0; i < ldns_rr_rd_count(txt); i++)
        assert_true(ldns_rdf_size(ldns_rr_rdf(txt, i)) <= 256);
    /* read back: the same list */
    ldns_pkt *answer = ldns_pkt_new();
    ldns_pkt_push_rr(answer, LDNS_SECTION_ANSWER, ldns_rr_clone(txt));
    probe = s_name(index, "web", NULL, DNS_OWNER_UNKNOWN);
    assert_int_equal(dns_update_read_index(&probe, answer, "interlook", &listed), 0);
    assert_string_equal(listed, list);
    free(listed);
    ldns_pkt_free(answer);
    ldns_pkt_free(pkt);
    dns_update_name_clear(&probe);
    for (int i = 0; i < 3; i++)
        dns_update_name_clear(&names[i]);
    free(index);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txt_and_query),
        cmocka_unit_test(test_read_owner),
        cmocka_unit_test(test_build_add),
        cmocka_unit_test(test_build_delete),
        cmocka_unit_test(test_build_use_and_refusals),
        cmocka_unit_test(test_index),
    };
    return test_run_group(tests, NULL, NULL);
}
