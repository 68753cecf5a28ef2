/*
 * test_queues.c: Kinesis queues from C on a manual clock: create, describe, list,
 * update, delete; receive, acknowledge, visibility, redelivery; dead letters and
 * their calls (receive, visibility, acknowledge, restore); the stream rules; restart;
 * hostile arguments (NULLs, bad enums, forged handles, freed handles). Expectations
 * are computed from what the test put and did.
 */
#include "tl_test.h"

static const uint64_t T0 = 1700000000000ull;

static void arn_of(tidelog_engine *e, const char *stream, char *out) {
    size_t len = 0;
    CHECK_OK(tidelog_stream_arn(e, stream, out, TIDELOG_ARN_BUFFER_SIZE, &len));
}

static void on_demand(tidelog_engine *e, const char *name) {
    tidelog_create_stream_options so = { .struct_size = sizeof so };
    so.mode = TIDELOG_STREAM_MODE_ON_DEMAND;
    REQUIRE_OK(tidelog_create_stream_with(e, name, &so));
}

/* Receives (no wait) into `records` (at most 10); returns how many. Each record's
 * data is copied into data[i] (NUL-terminated), its handle into handles[i]. */
static size_t receive(tidelog_engine *e, const char *arn, bool dead, char handles[][TIDELOG_RECEIPT_HANDLE_BUFFER_SIZE],
                      char data[][32], uint32_t counts[]) {
    tidelog_queue_record_list *list = NULL;
    tidelog_status s = dead ? tidelog_receive_dead_letter_queue_records(e, arn, 10, 0, -1, &list)
                            : tidelog_receive_queue_records(e, arn, 10, 0, -1, &list);
    REQUIRE(s == TIDELOG_STATUS_OK);
    size_t n = 0;
    CHECK_OK(tidelog_queue_record_list_count(list, &n));
    for (size_t i = 0; i < n; i++) {
        tidelog_queue_record r = { .struct_size = sizeof r };
        CHECK_OK(tidelog_queue_record_list_get(list, i, &r));
        snprintf(handles[i], TIDELOG_RECEIPT_HANDLE_BUFFER_SIZE, "%s", r.receipt_handle);
        size_t len = r.data_len < 31 ? r.data_len : 31;
        memcpy(data[i], r.data, len);
        data[i][len] = '\0';
        counts[i] = r.receive_count;
        CHECK(strlen(r.record_id) > 0 && strncmp(r.shard_id, "shardId-", 8) == 0);
        CHECK(r.partition_key_len == strlen(r.partition_key));
        CHECK(r.arrival_ms >= T0 && r.first_receive_ms >= r.arrival_ms);
    }
    tidelog_queue_record r = { .struct_size = sizeof r };
    CHECK_STATUS(tidelog_queue_record_list_get(list, n, &r), TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_OK(tidelog_queue_record_list_free(list));
    return n;
}

/* Which of `data` (n entries) equals `want`; -1 if none. */
static int find(char data[][32], size_t n, const char *want) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(data[i], want) == 0) return (int)i;
    return -1;
}

/* The statuses of a batch result, in order, into `statuses` (at most 10). */
static size_t statuses_of(tidelog_queue_batch_result *result, uint32_t statuses[]) {
    size_t n = 0;
    CHECK_OK(tidelog_queue_batch_result_count(result, &n));
    for (size_t i = 0; i < n && i < 10; i++) {
        tidelog_queue_entry_result r = { .struct_size = sizeof r };
        CHECK_OK(tidelog_queue_batch_result_get(result, i, &r));
        statuses[i] = r.status;
        CHECK(r.receipt_handle != NULL && r.message != NULL);
        CHECK((r.status == TIDELOG_STATUS_OK) == (r.message[0] == '\0'));
    }
    tidelog_queue_entry_result r = { .struct_size = sizeof r };
    CHECK_STATUS(tidelog_queue_batch_result_get(result, n, &r), TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_OK(tidelog_queue_batch_result_free(result));
    return n;
}

static void test_lifecycle(tidelog_engine *e) {
    on_demand(e, "life");
    char stream[TIDELOG_ARN_BUFFER_SIZE];
    arn_of(e, "life", stream);
    const char *keys[] = { "team" };
    const char *values[] = { "q" };
    tidelog_queue q = { .struct_size = sizeof q };
    CHECK_OK(tidelog_create_queue(e, "b", stream, TIDELOG_QUEUE_START_LATEST, 0, -1, -1, keys, values, 1, &q));
    CHECK(q.status == TIDELOG_QUEUE_STATUS_CREATING);
    CHECK(strncmp(q.arn, "arn:aws:kinesis:local:000000000000:queue/", 41) == 0);
    CHECK(strcmp(q.stream_arn, stream) == 0);
    CHECK(q.visibility_timeout_s == 30 && q.max_receive_count == 6);
    CHECK(q.starting_position == TIDELOG_QUEUE_START_LATEST && q.has_starting_timestamp == 0);
    char b[TIDELOG_ARN_BUFFER_SIZE];
    snprintf(b, sizeof b, "%s", q.arn);
    CHECK_STATUS(tidelog_create_queue(e, "b", stream, TIDELOG_QUEUE_START_LATEST, 0, -1, -1, NULL, NULL, 0, &q),
                 TIDELOG_STATUS_RESOURCE_IN_USE);
    /* CREATING for the transition (1 s): no deliveries yet. */
    tidelog_queue_record_list *none = NULL;
    CHECK_STATUS(tidelog_receive_queue_records(e, b, 0, 0, -1, &none), TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK_OK(tidelog_engine_advance_clock(e, 1000));
    tidelog_queue d = { .struct_size = sizeof d };
    CHECK_OK(tidelog_describe_queue(e, b, &d));
    CHECK(d.status == TIDELOG_QUEUE_STATUS_ACTIVE && d.has_starting_timestamp == 1 && d.starting_timestamp_ms == T0);
    tidelog_queue a = { .struct_size = sizeof a };
    CHECK_OK(tidelog_create_queue(e, "a", stream, TIDELOG_QUEUE_START_TRIM_HORIZON, 0, 5, 0, NULL, NULL, 0, &a));
    CHECK(a.visibility_timeout_s == 5 && a.max_receive_count == 0);

    /* Listing: name order, pages, the stream filter. */
    tidelog_queue_list *list = NULL;
    bool more = false;
    CHECK_OK(tidelog_list_queues(e, 1, NULL, stream, &list, &more));
    size_t n = 0;
    CHECK_OK(tidelog_queue_list_count(list, &n));
    CHECK(n == 1 && more);
    tidelog_queue first = { .struct_size = sizeof first };
    CHECK_OK(tidelog_queue_list_get(list, 0, &first));
    CHECK(strcmp(first.name, "a") == 0);
    CHECK_STATUS(tidelog_queue_list_get(list, 1, &first), TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_OK(tidelog_queue_list_free(list));
    CHECK_OK(tidelog_list_queues(e, 0, "a", NULL, &list, &more));
    CHECK_OK(tidelog_queue_list_count(list, &n));
    CHECK(n == 1 && !more);
    CHECK_OK(tidelog_queue_list_get(list, 0, &first));
    CHECK(strcmp(first.name, "b") == 0);
    CHECK_OK(tidelog_queue_list_free(list));

    /* UpdateQueue: UPDATING, new values; tags by the queue's ARN. */
    tidelog_queue u = { .struct_size = sizeof u };
    CHECK_OK(tidelog_update_queue(e, b, 7, 0, &u));
    CHECK(u.status == TIDELOG_QUEUE_STATUS_UPDATING && u.visibility_timeout_s == 7 && u.max_receive_count == 0);
    CHECK_STATUS(tidelog_update_queue(e, b, 8, -1, &u), TIDELOG_STATUS_RESOURCE_IN_USE);
    CHECK_OK(tidelog_engine_advance_clock(e, 1000));
    CHECK_OK(tidelog_update_queue(e, b, -1, 4, &u));
    CHECK(u.visibility_timeout_s == 7 && u.max_receive_count == 4);

    /* The stream is kept while it has queues. */
    CHECK_STATUS(tidelog_delete_stream(e, "life"), TIDELOG_STATUS_RESOURCE_IN_USE);
    CHECK_OK(tidelog_delete_queue(e, b));
    CHECK_OK(tidelog_delete_queue(e, a.arn));
    CHECK_STATUS(tidelog_describe_queue(e, b, &d), TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK_STATUS(tidelog_delete_queue(e, b), TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    /* DELETING for the transition: the stream still has them until they are gone. */
    CHECK_STATUS(tidelog_delete_stream(e, "life"), TIDELOG_STATUS_RESOURCE_IN_USE);
}

static void test_delivery(tidelog_engine *e, char *queue_arn_out) {
    on_demand(e, "work");
    char stream[TIDELOG_ARN_BUFFER_SIZE];
    arn_of(e, "work", stream);
    tidelog_queue q = { .struct_size = sizeof q };
    REQUIRE_OK(tidelog_create_queue(e, "work", stream, TIDELOG_QUEUE_START_TRIM_HORIZON, 0, 10, 2, NULL, NULL, 0, &q));
    CHECK_OK(tidelog_engine_advance_clock(e, 1000));
    snprintf(queue_arn_out, TIDELOG_ARN_BUFFER_SIZE, "%s", q.arn);
    const char *sent[] = { "r0", "r1", "r2", "r3" };
    for (int i = 0; i < 4; i++) tl_put(e, "work", sent[i], sent[i]);

    char handles[10][TIDELOG_RECEIPT_HANDLE_BUFFER_SIZE];
    char data[10][32];
    uint32_t counts[10];
    size_t n = receive(e, q.arn, false, handles, data, counts);
    CHECK(n == 4);
    for (int i = 0; i < 4; i++) CHECK(find(data, n, sent[i]) >= 0);
    for (size_t i = 0; i < n; i++) CHECK(counts[i] == 1);
    CHECK(receive(e, q.arn, false, handles + 4, data + 4, counts + 4) == 0);

    /* Acknowledge r0, plus a forged handle; make r1 visible at once. */
    int r0 = find(data, n, "r0"), r1 = find(data, n, "r1");
    REQUIRE(r0 >= 0 && r1 >= 0);
    const char *ack[] = { handles[r0], "not-a-handle" };
    tidelog_queue_batch_result *result = NULL;
    CHECK_OK(tidelog_acknowledge_queue_records(e, q.arn, ack, 2, &result));
    uint32_t st[10];
    CHECK(statuses_of(result, st) == 2);
    CHECK(st[0] == TIDELOG_STATUS_OK && st[1] == TIDELOG_STATUS_INVALID_ARGUMENT);
    const char *vis[] = { handles[r1] };
    const uint32_t zero[] = { 0 };
    CHECK_OK(tidelog_update_queue_records_visibility(e, q.arn, vis, zero, 1, &result));
    CHECK(statuses_of(result, st) == 1 && st[0] == TIDELOG_STATUS_OK);
    char h2[10][TIDELOG_RECEIPT_HANDLE_BUFFER_SIZE];
    char d2[10][32];
    uint32_t c2[10];
    size_t n2 = receive(e, q.arn, false, h2, d2, c2);
    CHECK(n2 == 1 && strcmp(d2[0], "r1") == 0 && c2[0] == 2);
    /* r0 acknowledged: never back; the rest after their 10 s. r1 has had 2 receives:
     * a dead letter once visible again, as are the others after one more receive. */
    CHECK_OK(tidelog_engine_advance_clock(e, 10000));
    n2 = receive(e, q.arn, false, h2, d2, c2);
    CHECK(n2 == 2 && find(d2, n2, "r2") >= 0 && find(d2, n2, "r3") >= 0 && find(d2, n2, "r0") < 0);
    CHECK_OK(tidelog_engine_advance_clock(e, 10000));
    CHECK(receive(e, q.arn, false, h2, d2, c2) == 0);
    size_t dead = receive(e, q.arn, true, h2, d2, c2);
    CHECK(dead == 3 && find(d2, dead, "r0") < 0);
    /* Dead letters: visibility 0 brings one back there; acknowledge one; restore one. */
    int dr1 = find(d2, dead, "r1"), dr2 = find(d2, dead, "r2"), dr3 = find(d2, dead, "r3");
    REQUIRE(dr1 >= 0 && dr2 >= 0 && dr3 >= 0);
    const char *dvis[] = { h2[dr1] };
    CHECK_OK(tidelog_update_dead_letter_queue_records_visibility(e, q.arn, dvis, zero, 1, &result));
    CHECK(statuses_of(result, st) == 1 && st[0] == TIDELOG_STATUS_OK);
    const char *dack[] = { h2[dr2] };
    CHECK_OK(tidelog_acknowledge_dead_letter_queue_records(e, q.arn, dack, 1, &result));
    CHECK(statuses_of(result, st) == 1 && st[0] == TIDELOG_STATUS_OK);
    const char *restore[] = { h2[dr3] };
    CHECK_OK(tidelog_restore_dead_letter_queue_records(e, q.arn, restore, 1, &result));
    CHECK(statuses_of(result, st) == 1 && st[0] == TIDELOG_STATUS_OK);
    /* A normal handle with a dead-letter call fails on its entry. */
    const char *wrong[] = { handles[r1] };
    CHECK_OK(tidelog_restore_dead_letter_queue_records(e, q.arn, wrong, 1, &result));
    CHECK(statuses_of(result, st) == 1 && st[0] == TIDELOG_STATUS_INVALID_ARGUMENT);
    char h3[10][TIDELOG_RECEIPT_HANDLE_BUFFER_SIZE];
    char d3[10][32];
    uint32_t c3[10];
    size_t back = receive(e, q.arn, false, h3, d3, c3);
    CHECK(back == 1 && strcmp(d3[0], "r3") == 0 && c3[0] == 1);
    size_t dead_again = receive(e, q.arn, true, h3, d3, c3);
    CHECK(dead_again == 1 && strcmp(d3[0], "r1") == 0);
}

static void test_hostile(tidelog_engine *e, const char *arn) {
    tidelog_queue q = { .struct_size = sizeof q };
    tidelog_queue_record_list *list = NULL;
    tidelog_queue_batch_result *result = NULL;
    CHECK_STATUS(tidelog_describe_queue(e, NULL, &q), TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_describe_queue(e, arn, NULL), TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_describe_queue(e, "arn:aws:kinesis:local:000000000000:queue/0000000000000001", &q),
                 TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK_STATUS(tidelog_describe_queue(e, "queue", &q), TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_create_queue(e, "z", "arn:aws:kinesis:local:000000000000:stream/work", 9, 0, -1, -1,
                                      NULL, NULL, 0, &q), TIDELOG_STATUS_INVALID_ENUM_VALUE);
    CHECK_STATUS(tidelog_create_queue(e, "z", "arn:aws:kinesis:local:000000000000:stream/work",
                                      TIDELOG_QUEUE_START_LATEST, 0, 43201, -1, NULL, NULL, 0, &q),
                 TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_create_queue(e, "z", "arn:aws:kinesis:local:000000000000:stream/work",
                                      TIDELOG_QUEUE_START_LATEST, 0, -2, -1, NULL, NULL, 0, &q),
                 TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_STATUS(tidelog_receive_queue_records(e, arn, 11, 0, -1, &list), TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_receive_queue_records(e, arn, 1, 20001, -1, &list), TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK(list == NULL);
    CHECK_STATUS(tidelog_acknowledge_queue_records(e, arn, NULL, 0, &result), TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_acknowledge_queue_records(e, arn, NULL, 1, &result), TIDELOG_STATUS_NULL_POINTER);
    const char *h[] = { "x" };
    CHECK_STATUS(tidelog_update_queue_records_visibility(e, arn, h, NULL, 1, &result), TIDELOG_STATUS_NULL_POINTER);
    CHECK(result == NULL);
    /* Freed handles are detected. */
    CHECK_OK(tidelog_receive_queue_records(e, arn, 1, 0, -1, &list));
    CHECK_OK(tidelog_queue_record_list_free(list));
    size_t n = 0;
    CHECK_STATUS(tidelog_queue_record_list_count(list, &n), TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_STATUS(tidelog_queue_record_list_free(list), TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_OK(tidelog_queue_list_free(NULL));
    CHECK_OK(tidelog_queue_batch_result_free(NULL));
}

int main(void) {
    tidelog_engine_options o = tl_options();
    o.manual_clock_start_ms = T0;
    o.consumer_transition_ms = 1000;
    tidelog_engine *e = tl_open("queues", &o);
    test_lifecycle(e);
    char arn[TIDELOG_ARN_BUFFER_SIZE];
    test_delivery(e, arn);
    test_hostile(e, arn);
    CHECK_OK(tidelog_engine_free(e));
    /* Restart a minute later (the manual clock starts again where told): the queue
     * and its dead letter are still there, the dead letter visible again. */
    o.manual_clock_start_ms = T0 + 60000;
    e = tl_open("queues", &o);
    tidelog_queue q = { .struct_size = sizeof q };
    CHECK_OK(tidelog_describe_queue(e, arn, &q));
    CHECK(strcmp(q.name, "work") == 0 && q.max_receive_count == 2);
    char handles[10][TIDELOG_RECEIPT_HANDLE_BUFFER_SIZE];
    char data[10][32];
    uint32_t counts[10];
    size_t dead = receive(e, arn, true, handles, data, counts);
    CHECK(dead == 1 && strcmp(data[0], "r1") == 0);
    CHECK_OK(tidelog_engine_free(e));
    return tl_finish("test_queues");
}
