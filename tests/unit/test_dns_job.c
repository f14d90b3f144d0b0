/* test_dns_job: unit tests of extensions/dns/dns_job (one zone's share of a
 * batch) against a scripted fake server on 127.0.0.1: one UPDATE for the
 * batch; after a failed prerequisite, each service again on its own so that
 * only the culprit fails; deletes of foreign or absent names; two services
 * claiming one name; a server that refuses connections. */
#include "tests/support/asserts.h"
#include "tests/support/testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "extensions/dns/dns_job.h"

#define MAX_UPDATES 16

typedef struct {
    int listen_fd;
    pthread_t thread;
    /* the script */
    int update_rcode[MAX_UPDATES]; /* the i-th UPDATE's answer (0: NOERROR) */
    const char *foreign_name;      /* answered with foreign_txt ... */
    const char *foreign_txt;
    size_t foreign_from;   /* ... once this many UPDATEs were received */
    const char *index_txt; /* an index query (_il-...) is answered with this TXT data */
    char *last_update;     /* the last UPDATE as text */
    /* what was received */
    size_t updates;
    size_t update_prereqs[MAX_UPDATES];
    size_t queries;
} s_fake_t;

static int s_read_all(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static ldns_pkt *s_reply(s_fake_t *fake, const ldns_pkt *msg)
{
    ldns_pkt *reply = ldns_pkt_new();
    ldns_pkt_set_id(reply, ldns_pkt_id(msg));
    ldns_pkt_set_qr(reply, true);
    ldns_pkt_set_opcode(reply, ldns_pkt_get_opcode(msg));
    if (ldns_pkt_get_opcode(msg) == LDNS_PACKET_UPDATE) {
        size_t i = fake->updates++;
        if (i < MAX_UPDATES) {
            fake->update_prereqs[i] = ldns_rr_list_rr_count(ldns_pkt_answer(msg));
            free(fake->last_update);
            fake->last_update = ldns_pkt2str(msg);
            ldns_pkt_set_rcode(reply, (uint8_t)fake->update_rcode[i]);
        }
        return reply;
    }
    fake->queries++;
    const ldns_rr *q = ldns_rr_list_rr(ldns_pkt_question(msg), 0);
    char *name = ldns_rdf2str(ldns_rr_owner(q));
    if (fake->index_txt && strncmp(name, "_il-", 4) == 0) {
        char text[1024];
        snprintf(text, sizeof text, "%s 60 IN TXT %s", name, fake->index_txt);
        ldns_rr *rr = NULL;
        ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL);
        ldns_pkt_push_rr(reply, LDNS_SECTION_ANSWER, rr);
    } else if (fake->foreign_name &&
               strncmp(name, fake->foreign_name, strlen(fake->foreign_name)) == 0 &&
               fake->updates >= fake->foreign_from) {
        char text[512];
        snprintf(text, sizeof text, "%s 60 IN TXT \"%s\"", name, fake->foreign_txt);
        ldns_rr *rr = NULL;
        ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL);
        ldns_pkt_push_rr(reply, LDNS_SECTION_ANSWER, rr);
    } else
        ldns_pkt_set_rcode(reply, LDNS_RCODE_NXDOMAIN);
    free(name);
    return reply;
}

static void *s_fake_run(void *arg)
{
    s_fake_t *fake = arg;
    for (;;) {
        int fd = accept(fake->listen_fd, NULL, NULL);
        if (fd < 0) return NULL;
        uint8_t len[2], buf[65536];
        ldns_pkt *msg = NULL;
        if (s_read_all(fd, len, 2) == 0 &&
            s_read_all(fd, buf, (size_t)(len[0] << 8 | len[1])) == 0 &&
            ldns_wire2pkt(&msg, buf, (size_t)(len[0] << 8 | len[1])) == LDNS_STATUS_OK) {
            ldns_pkt *reply = s_reply(fake, msg);
            uint8_t *wire = NULL;
            size_t size = 0;
            if (ldns_pkt2wire(&wire, reply, &size) == LDNS_STATUS_OK) {
                uint8_t out[2] = {(uint8_t)(size >> 8), (uint8_t)size};
                (void)!write(fd, out, 2);
                (void)!write(fd, wire, size);
                free(wire);
            }
            ldns_pkt_free(reply);
            ldns_pkt_free(msg);
        }
        close(fd);
    }
}

static dns_client_t *s_fake_start(s_fake_t *fake)
{
    fake->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fake->listen_fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(fake->listen_fd, 16), 0);
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fake->listen_fd, (struct sockaddr *)&addr, &len), 0);
    assert_int_equal(pthread_create(&fake->thread, NULL, s_fake_run, fake), 0);
    return dns_client_new("fake", &addr, len, NULL, 2000);
}

/* Stops the fake; only then are its counters read (the thread has ended). */
static void s_fake_stop(s_fake_t *fake, dns_client_t **client)
{
    shutdown(fake->listen_fd, SHUT_RDWR);
    pthread_join(fake->thread, NULL);
    close(fake->listen_fd);
    dns_client_destroy(client);
}

/* The entry of name in the job (the job adds each item's index entry). */
static dns_update_name_t *s_entry(dns_job_t *job, const char *name)
{
    for (size_t i = 0; i < job->count; i++)
        if (job->names[i].name && strcmp(job->names[i].name, name) == 0) return &job->names[i];
    fail_msg("no entry %s", name);
    return NULL;
}

static void test_one_update_for_the_batch(void **state)
{
    (void)state;
    s_fake_t fake = {0};
    dns_client_t *client = s_fake_start(&fake);
    dns_job_t *job = dns_job_new("example.test", "interlook", 60);
    dns_job_add(job, 0, "a", "a.example.test", "10.0.0.1");
    dns_job_add(job, 0, "a", "a2.example.test", "10.0.0.1");
    dns_job_add(job, 1, "b", "b.example.test", "10.0.0.2");
    dns_job_run(job, client, "fake");
    for (size_t i = 0; i < job->count; i++)
        assert_null(job->names[i].error);
    assert_int_equal(job->updates, 1);
    dns_job_destroy(&job);
    s_fake_stop(&fake, &client);
    assert_int_equal(fake.queries, 5); /* two indexes, three names */
    assert_int_equal(fake.updates, 1);
    assert_int_equal(fake.update_prereqs[0], 5); /* "name not in use" for each */
    free(fake.last_update);
}

static void test_prereq_failure_isolates_the_culprit(void **state)
{
    (void)state;
    s_fake_t fake = {0};
    /* b is taken by someone else between the read and the batch's UPDATE */
    fake.update_rcode[0] = LDNS_RCODE_YXDOMAIN;
    fake.foreign_name = "b.example.test.";
    fake.foreign_txt = "heritage=interlook,owner=other,service=b";
    fake.foreign_from = 1;
    dns_client_t *client = s_fake_start(&fake);
    dns_job_t *job = dns_job_new("example.test", "interlook", 60);
    dns_job_add(job, 0, "a", "a.example.test", "10.0.0.1");
    dns_job_add(job, 1, "b", "b.example.test", "10.0.0.2");
    dns_job_add(job, 2, "c", "c.example.test", "10.0.0.3");
    dns_job_run(job, client, "fake");
    assert_null(s_entry(job, "a.example.test")->error);
    const char *b_error = s_entry(job, "b.example.test")->error;
    assert_non_null(b_error);
    assert_contains(b_error, "server fake: zone example.test: b.example.test is not ours");
    assert_contains(b_error, "owned by TXT \"heritage=interlook,owner=other,service=b\"");
    assert_null(s_entry(job, "c.example.test")->error);
    assert_int_equal(job->updates, 3); /* the batch, then a and c alone; b not sent */
    dns_job_destroy(&job);
    s_fake_stop(&fake, &client);
    assert_int_equal(fake.updates, 3);
    assert_int_equal(fake.update_prereqs[0], 6); /* each name and each index */
    assert_int_equal(fake.update_prereqs[1], 2);
    assert_int_equal(fake.update_prereqs[2], 2);
    free(fake.last_update);
}

static void test_prereq_failure_again(void **state)
{
    (void)state;
    s_fake_t fake = {0};
    fake.update_rcode[0] = LDNS_RCODE_YXDOMAIN; /* the batch */
    fake.update_rcode[1] = LDNS_RCODE_YXDOMAIN; /* a alone, again */
    dns_client_t *client = s_fake_start(&fake);
    dns_job_t *job = dns_job_new("example.test", "interlook", 60);
    dns_job_add(job, 0, "a", "a.example.test", "10.0.0.1");
    dns_job_add(job, 1, "b", "b.example.test", "10.0.0.2");
    dns_job_run(job, client, "fake");
    assert_contains(s_entry(job, "a.example.test")->error,
                    "UPDATE answered YXDOMAIN: a.example.test changed while being written");
    assert_null(s_entry(job, "b.example.test")->error);
    dns_job_destroy(&job);
    s_fake_stop(&fake, &client);
    assert_int_equal(fake.updates, 3);
    free(fake.last_update);
}

static void test_delete_foreign_and_absent(void **state)
{
    (void)state;
    s_fake_t fake = {0};
    fake.foreign_name = "f.example.test.";
    fake.foreign_txt = "v=spf1 -all";
    dns_client_t *client = s_fake_start(&fake);
    dns_job_t *job = dns_job_new("example.test", "interlook", 60);
    dns_job_add(job, 0, "a", "f.example.test", NULL);    /* not ours: left alone */
    dns_job_add(job, 0, "a", "gone.example.test", NULL); /* already gone */
    dns_job_run(job, client, "fake");
    for (size_t i = 0; i < job->count; i++)
        assert_null(job->names[i].error);
    assert_int_equal(job->updates, 0); /* nothing to send (no index either) */
    dns_job_destroy(&job);
    s_fake_stop(&fake, &client);
    assert_int_equal(fake.updates, 0);
    assert_int_equal(fake.queries, 3);
}

static void test_one_name_two_services(void **state)
{
    (void)state;
    s_fake_t fake = {0};
    dns_client_t *client = s_fake_start(&fake);
    dns_job_t *job = dns_job_new("example.test", "interlook", 60);
    dns_job_add(job, 0, "a", "www.example.test", "10.0.0.1");
    dns_job_add(job, 1, "b", "www.example.test", "10.0.0.2");
    dns_job_run(job, client, "fake");
    assert_null(job->names[0].error);
    size_t second = 0;
    for (size_t i = 1; i < job->count && !second; i++)
        if (job->names[i].name && !strcmp(job->names[i].name, "www.example.test")) second = i;
    assert_contains(job->names[second].error, "www.example.test is also an alias of service a");
    dns_job_destroy(&job);
    s_fake_stop(&fake, &client);
    assert_int_equal(fake.update_prereqs[0], 2); /* www and a's index */
    free(fake.last_update);
}

static void test_large_batch_split(void **state)
{
    (void)state;
    s_fake_t fake = {0};
    dns_client_t *client = s_fake_start(&fake);
    dns_job_t *job = dns_job_new("example.test", "interlook", 60);
    char service[32][300], name[300][80];
    for (size_t i = 0; i < 300; i++) {
        snprintf(service[i % 32], sizeof service[0], "svc%zu", i % 32);
        snprintf(name[i], sizeof name[0],
                 "a-rather-long-label-to-fill-the-message-%03zu.example.test", i);
    }
    /* 32 services of about 9 names each (a service's names stay together) */
    for (size_t i = 0; i < 300; i++)
        dns_job_add(job, i * 32 / 300, service[i * 32 / 300], name[i], "10.0.0.1");
    dns_job_run(job, client, "fake");
    for (size_t i = 0; i < job->count; i++)
        assert_null(job->names[i].error);
    dns_job_destroy(&job);
    s_fake_stop(&fake, &client);
    assert_true(fake.updates > 1 && fake.updates < MAX_UPDATES);
    size_t total = 0;
    for (size_t i = 0; i < fake.updates; i++) {
        assert_true(fake.update_prereqs[i] < 300);
        total += fake.update_prereqs[i];
    }
    assert_int_equal(total, 332); /* 300 names, 32 indexes */
    free(fake.last_update);
}

static void test_server_down(void **state)
{
    (void)state;
    int hold = -1;
    int port = test_closed_port(&hold);
    assert_true(port > 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    dns_client_t *client =
        dns_client_new("127.0.0.1:down", (struct sockaddr_storage *)&sin, sizeof sin, NULL, 500);
    dns_job_t *job = dns_job_new("example.test", "interlook", 60);
    dns_job_add(job, 0, "a", "a.example.test", "10.0.0.1");
    dns_job_add(job, 1, "b", "b.example.test", "10.0.0.2");
    dns_job_run(job, client, "127.0.0.1:down");
    for (size_t i = 0; i < job->count; i++)
        assert_contains(job->names[i].error,
                        "server 127.0.0.1:down: connection refused (zone example.test");
    assert_int_equal(job->updates, 0);
    dns_job_destroy(&job);
    dns_client_destroy(&client);
    close(hold);
}

/* A name taken out of a service (its index lists a and b, the service now
 * has a): b's records and our TXT go in the same UPDATE as a's add, and the
 * index is replaced by one that lists a only, with the index as read as
 * prerequisite. */
static void test_add_removes_a_dropped_name(void **state)
{
    (void)state;
    s_fake_t fake = {0};
    fake.index_txt = "\"heritage=interlook,owner=interlook,service=s\" "
                     "\"names=a.example.test,b.example.test\"";
    fake.foreign_name = "b.example.test."; /* b: ours */
    fake.foreign_txt = "heritage=interlook,owner=interlook,service=s";
    dns_client_t *client = s_fake_start(&fake);
    dns_job_t *job = dns_job_new("example.test", "interlook", 60);
    dns_job_add(job, 0, "s", "a.example.test", "10.0.0.1");
    dns_job_run(job, client, "fake");
    for (size_t i = 0; i < job->count; i++)
        assert_null(job->names[i].error);
    assert_int_equal(job->updates, 1);
    char *index = dns_update_index_name("interlook", "s", "example.test");
    dns_job_destroy(&job);
    s_fake_stop(&fake, &client);
    assert_int_equal(fake.queries, 3); /* the index, a, b */
    const char *u = fake.last_update;
    assert_non_null(u);
    char want[512];
    /* prerequisites: a not in use, b's TXT, the index as read */
    assert_contains(u, "a.example.test.\t0\tNONE\tANY\t");
    assert_contains(
        u, "b.example.test.\t0\tIN\tTXT\t\"heritage=interlook,owner=interlook,service=s\"");
    snprintf(want, sizeof want,
             "%s.\t0\tIN\tTXT\t\"heritage=interlook,owner=interlook,service=s\" "
             "\"names=a.example.test,b.example.test\"",
             index);
    assert_contains(u, want);
    /* updates: b's addresses and our TXT deleted; the index replaced */
    assert_contains(u, "b.example.test.\t0\tANY\tA\t");
    assert_contains(u, "b.example.test.\t0\tANY\tAAAA\t");
    assert_contains(
        u, "b.example.test.\t0\tNONE\tTXT\t\"heritage=interlook,owner=interlook,service=s\"");
    assert_contains(u, "a.example.test.\t60\tIN\tA\t10.0.0.1");
    snprintf(want, sizeof want, "%s.\t0\tANY\tTXT\t", index);
    assert_contains(u, want);
    snprintf(want, sizeof want,
             "%s.\t60\tIN\tTXT\t\"heritage=interlook,owner=interlook,service=s\" "
             "\"names=a.example.test\"\n",
             index);
    assert_contains(u, want);
    free(index);
    free(fake.last_update);
}

/* A delete removes the names of the index too (the service as it is now
 * has only a; its index lists a and b), and the index itself. */
static void test_delete_removes_the_index_names(void **state)
{
    (void)state;
    s_fake_t fake = {0};
    fake.index_txt = "\"heritage=interlook,owner=interlook,service=s\" "
                     "\"names=a.example.test,b.example.test\"";
    fake.foreign_name = ""; /* every name: ours */
    fake.foreign_txt = "heritage=interlook,owner=interlook,service=s";
    dns_client_t *client = s_fake_start(&fake);
    dns_job_t *job = dns_job_new("example.test", "interlook", 60);
    dns_job_add(job, 0, "s", "a.example.test", NULL);
    dns_job_run(job, client, "fake");
    for (size_t i = 0; i < job->count; i++)
        assert_null(job->names[i].error);
    char *index = dns_update_index_name("interlook", "s", "example.test");
    dns_job_destroy(&job);
    s_fake_stop(&fake, &client);
    assert_int_equal(fake.updates, 1);
    const char *u = fake.last_update;
    assert_non_null(u);
    char want[512];
    assert_contains(u, "a.example.test.\t0\tANY\tA\t");
    assert_contains(u, "b.example.test.\t0\tANY\tA\t");
    assert_contains(
        u, "b.example.test.\t0\tNONE\tTXT\t\"heritage=interlook,owner=interlook,service=s\"");
    snprintf(want, sizeof want, "%s.\t0\tANY\tTXT\t", index);
    assert_contains(u, want); /* the index removed ... */
    snprintf(want, sizeof want, "%s.\t60\tIN\tTXT", index);
    assert_null(strstr(u, want)); /* ... and not written again */
    /* a once only, though in both the service and its index */
    const char *first = strstr(u, "a.example.test.\t0\tANY\tA\t");
    assert_null(strstr(first + 1, "a.example.test.\t0\tANY\tA\t"));
    free(index);
    free(fake.last_update);
}

/* No index yet (a deployment from before the index, or a new service): the
 * add writes it, with "name not in use" as its prerequisite. */
static void test_absent_index_written(void **state)
{
    (void)state;
    s_fake_t fake = {0};
    dns_client_t *client = s_fake_start(&fake);
    dns_job_t *job = dns_job_new("example.test", "interlook", 60);
    dns_job_add(job, 0, "s", "a.example.test", "10.0.0.1");
    dns_job_add(job, 0, "s", "b.example.test", "10.0.0.1");
    dns_job_run(job, client, "fake");
    for (size_t i = 0; i < job->count; i++)
        assert_null(job->names[i].error);
    char *index = dns_update_index_name("interlook", "s", "example.test");
    dns_job_destroy(&job);
    s_fake_stop(&fake, &client);
    const char *u = fake.last_update;
    assert_non_null(u);
    char want[512];
    snprintf(want, sizeof want, "%s.\t0\tNONE\tANY\t", index);
    assert_contains(u, want);
    snprintf(want, sizeof want, "%s.\t0\tANY\tTXT\t", index);
    assert_null(strstr(u, want)); /* nothing to delete */
    snprintf(want, sizeof want,
             "%s.\t60\tIN\tTXT\t\"heritage=interlook,owner=interlook,service=s\" "
             "\"names=a.example.test,b.example.test\"\n",
             index);
    assert_contains(u, want);
    free(index);
    free(fake.last_update);
}

/* A service with no name left in the zone (only its index marker is
 * queued): the names its index lists go, and the index with them. */
static void test_no_name_left_in_zone(void **state)
{
    (void)state;
    s_fake_t fake = {0};
    fake.index_txt = "\"heritage=interlook,owner=interlook,service=s\" \"names=a.example.test\"";
    fake.foreign_name = "a.example.test.";
    fake.foreign_txt = "heritage=interlook,owner=interlook,service=s";
    dns_client_t *client = s_fake_start(&fake);
    dns_job_t *job = dns_job_new("example.test", "interlook", 60);
    dns_job_add_index(job, 0, "s", true);
    dns_job_run(job, client, "fake");
    for (size_t i = 0; i < job->count; i++)
        assert_null(job->names[i].error);
    char *index = dns_update_index_name("interlook", "s", "example.test");
    dns_job_destroy(&job);
    s_fake_stop(&fake, &client);
    assert_int_equal(fake.updates, 1);
    const char *u = fake.last_update;
    assert_non_null(u);
    assert_contains(u, "a.example.test.\t0\tANY\tA\t");
    char want[512];
    snprintf(want, sizeof want, "%s.\t0\tANY\tTXT\t", index);
    assert_contains(u, want);
    snprintf(want, sizeof want, "%s.\t60\tIN\tTXT", index);
    assert_null(strstr(u, want)); /* nothing to list: no index any more */
    free(index);
    free(fake.last_update);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_update_for_the_batch),
        cmocka_unit_test(test_prereq_failure_isolates_the_culprit),
        cmocka_unit_test(test_prereq_failure_again),
        cmocka_unit_test(test_delete_foreign_and_absent),
        cmocka_unit_test(test_one_name_two_services),
        cmocka_unit_test(test_large_batch_split),
        cmocka_unit_test(test_server_down),
        cmocka_unit_test(test_add_removes_a_dropped_name),
        cmocka_unit_test(test_delete_removes_the_index_names),
        cmocka_unit_test(test_absent_index_written),
        cmocka_unit_test(test_no_name_left_in_zone),
    };
    return test_run_group(tests, NULL, NULL);
}
