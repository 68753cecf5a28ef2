/*
 * test_errors.c: every engine error status, each provoked by a real condition, with
 * its Kinesis name and a message that says what went wrong. (The ABI-level statuses
 * are in test_hostile.c; TIDELOG_STATUS_INTERNAL and TIDELOG_STATUS_PANIC cannot be
 * provoked through the API: ffi/src/status.rs and ffi/src/boundary.rs test them.)
 */
#include "tl_test.h"

#include <sys/resource.h>

/* Checks the status, its Kinesis name, and that the message mentions `needle`. */
#define CHECK_ERROR(call, status, kinesis, needle)                                         \
    do {                                                                                   \
        if (CHECK_STATUS(call, status) == (status)) {                                      \
            CHECK(strcmp(tidelog_status_kinesis_name(status), kinesis) == 0);              \
            CHECK(strstr(tidelog_last_error_message(), needle) != NULL);                   \
        }                                                                                  \
    } while (0)

static void validation_and_not_found(tidelog_engine *e) {
    CHECK_ERROR(tidelog_create_stream(e, "bad name!", 1), TIDELOG_STATUS_VALIDATION,
                "ValidationException", "stream name");
    CHECK_ERROR(tidelog_create_stream(e, "s", 0), TIDELOG_STATUS_VALIDATION,
                "ValidationException", "shard count 0");
    CHECK_OK(tidelog_create_stream(e, "s", 2));
    tidelog_put_record_output out = { .struct_size = sizeof out };
    CHECK_ERROR(tidelog_put_record(e, "s", "", (const uint8_t *)"x", 1, NULL, &out),
                TIDELOG_STATUS_VALIDATION, "ValidationException", "partition key is empty");
    tidelog_put_options bad_key = { .struct_size = sizeof bad_key, .explicit_hash_key = "12a" };
    CHECK_ERROR(tidelog_put_record(e, "s", "k", (const uint8_t *)"x", 1, &bad_key, &out),
                TIDELOG_STATUS_VALIDATION, "ValidationException", "explicit hash key");
    tidelog_iterator *it = NULL;
    CHECK_ERROR(tidelog_get_shard_iterator(e, "s", "shard-0", TIDELOG_ITERATOR_TYPE_LATEST, NULL,
                                           0, &it),
                TIDELOG_STATUS_VALIDATION, "ValidationException", "not a shard id");
    CHECK(it == NULL);
    CHECK_ERROR(tidelog_get_shard_iterator(e, "s", "shardId-000000000000",
                                           TIDELOG_ITERATOR_TYPE_AT_SEQUENCE_NUMBER, "-5", 0, &it),
                TIDELOG_STATUS_VALIDATION, "ValidationException", "sequence number");
    CHECK_ERROR(tidelog_get_shard_iterator(e, "s", "shardId-000000000000",
                                           TIDELOG_ITERATOR_TYPE_LATEST, "5", 0, &it),
                TIDELOG_STATUS_VALIDATION, "ValidationException", "only used with");

    tidelog_stream_info info = { .struct_size = sizeof info };
    CHECK_ERROR(tidelog_describe_stream_summary(e, "missing", &info),
                TIDELOG_STATUS_RESOURCE_NOT_FOUND, "ResourceNotFoundException", "not found");
    CHECK_ERROR(tidelog_delete_stream(e, "missing"), TIDELOG_STATUS_RESOURCE_NOT_FOUND,
                "ResourceNotFoundException", "\"missing\"");
    CHECK_ERROR(tidelog_get_shard_iterator(e, "s", "shardId-000000000009",
                                           TIDELOG_ITERATOR_TYPE_LATEST, NULL, 0, &it),
                TIDELOG_STATUS_RESOURCE_NOT_FOUND, "ResourceNotFoundException",
                "shardId-000000000009");
    CHECK_ERROR(tidelog_put_record(e, "missing", "k", (const uint8_t *)"x", 1, NULL, &out),
                TIDELOG_STATUS_RESOURCE_NOT_FOUND, "ResourceNotFoundException", "not found");
}

static void invalid_argument_and_in_use(tidelog_engine *e, const char *dir) {
    CHECK_ERROR(tidelog_increase_stream_retention_period(e, "s", 12),
                TIDELOG_STATUS_INVALID_ARGUMENT, "InvalidArgumentException", "retention");
    CHECK_ERROR(tidelog_decrease_stream_retention_period(e, "s", 100),
                TIDELOG_STATUS_INVALID_ARGUMENT, "InvalidArgumentException", "decrease");
    CHECK_ERROR(tidelog_split_shard(e, "s", "shardId-000000000000", "0"),
                TIDELOG_STATUS_INVALID_ARGUMENT, "InvalidArgumentException", "outside the range");
    CHECK_ERROR(tidelog_update_shard_count(e, "s", 9, NULL, NULL, NULL),
                TIDELOG_STATUS_INVALID_ARGUMENT, "InvalidArgumentException", "cannot go from 2");
    CHECK_ERROR(tidelog_update_shard_count(e, "s", 3, "SIDEWAYS", NULL, NULL),
                TIDELOG_STATUS_INVALID_ARGUMENT, "InvalidArgumentException", "SIDEWAYS");
    /* An edited iterator token is refused (and a token of another data directory). */
    tidelog_iterator *it = NULL;
    REQUIRE_OK(tidelog_get_shard_iterator(e, "s", "shardId-000000000000",
                                          TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0, &it));
    char token[TIDELOG_ITERATOR_TOKEN_BUFFER_SIZE];
    CHECK_OK(tidelog_iterator_token(it, token, sizeof token));
    CHECK_OK(tidelog_iterator_free(it));
    token[20] = token[20] == '0' ? '1' : '0';
    CHECK_OK(tidelog_iterator_from_token(e, token, &it));
    tidelog_batch *b = NULL;
    CHECK_ERROR(tidelog_get_records(it, 0, &b), TIDELOG_STATUS_INVALID_ARGUMENT,
                "InvalidArgumentException", "invalid shard iterator");
    CHECK(b == NULL);
    CHECK_OK(tidelog_iterator_free(it));
    /* A closed shard cannot be split again. */
    CHECK_OK(tidelog_create_stream(e, "closing", 1));
    CHECK_OK(tidelog_split_shard(e, "closing", "shardId-000000000000", "77"));
    CHECK_ERROR(tidelog_split_shard(e, "closing", "shardId-000000000000", "99"),
                TIDELOG_STATUS_INVALID_ARGUMENT, "InvalidArgumentException", "is closed");
    CHECK_ERROR(tidelog_merge_shards(e, "s", "shardId-000000000000", "shardId-000000000000"),
                TIDELOG_STATUS_INVALID_ARGUMENT, "InvalidArgumentException", "not adjacent");

    CHECK_ERROR(tidelog_create_stream(e, "s", 1), TIDELOG_STATUS_RESOURCE_IN_USE,
                "ResourceInUseException", "already exists");
    tidelog_engine *second = NULL;
    tidelog_engine_options o = tl_options();
    CHECK_ERROR(tidelog_engine_open(dir, &o, &second), TIDELOG_STATUS_RESOURCE_IN_USE,
                "ResourceInUseException", "already open");
    CHECK(second == NULL);
}

static void limits_and_throttling(void) {
    tidelog_engine_options o = tl_options();
    o.max_shards = 3;
    o.manual_clock_start_ms = 1700000000000ull; /* time moves only when told to */
    o.write_records_per_sec = 1;
    o.read_calls_per_sec = 1;
    tidelog_engine *e = tl_open("limits", &o);
    CHECK_OK(tidelog_create_stream(e, "a", 2));
    CHECK_ERROR(tidelog_create_stream(e, "b", 2), TIDELOG_STATUS_LIMIT_EXCEEDED,
                "LimitExceededException", "open shards");

    /* 51 tags: over the 50 a stream may have. */
    const char *keys[51], *values[51];
    char names[51][8];
    for (int i = 0; i < 51; i++) {
        snprintf(names[i], sizeof names[i], "t%02d", i);
        keys[i] = names[i];
        values[i] = "v";
    }
    CHECK_ERROR(tidelog_add_tags_to_stream(e, "a", keys, values, 51),
                TIDELOG_STATUS_LIMIT_EXCEEDED, "LimitExceededException", "tags");

    /* One record per second per shard: the second put in the same instant is refused
     * and nothing is written; a second later it is accepted. */
    tidelog_put_options to0 = { .struct_size = sizeof to0, .explicit_hash_key = "0" };
    tidelog_put_record_output out = { .struct_size = sizeof out };
    CHECK_OK(tidelog_put_record(e, "a", "k", (const uint8_t *)"1", 1, &to0, &out));
    CHECK_ERROR(tidelog_put_record(e, "a", "k", (const uint8_t *)"2", 1, &to0, &out),
                TIDELOG_STATUS_PROVISIONED_THROUGHPUT_EXCEEDED,
                "ProvisionedThroughputExceededException", "shardId-000000000000");
    /* PutRecords: each entry on its own. */
    CHECK_OK(tidelog_engine_advance_clock(e, 1000));
    tidelog_put_records_entry entries[2] = {
        { .struct_size = sizeof entries[0], .partition_key = "k", .data = (const uint8_t *)"3",
          .data_len = 1, .explicit_hash_key = "0" },
        { .struct_size = sizeof entries[0], .partition_key = "k", .data = (const uint8_t *)"4",
          .data_len = 1, .explicit_hash_key = "0" },
    };
    tidelog_put_records_output *results = NULL;
    CHECK_OK(tidelog_put_records(e, "a", entries, 2, TIDELOG_DURABILITY_OS, &results));
    size_t failed = 0;
    CHECK_OK(tidelog_put_records_output_failed_count(results, &failed));
    CHECK(failed == 1);
    tidelog_put_records_result r = { .struct_size = sizeof r };
    CHECK_OK(tidelog_put_records_output_get(results, 0, &r));
    CHECK(r.status == TIDELOG_STATUS_OK && r.shard_id[0] != '\0');
    CHECK_OK(tidelog_put_records_output_get(results, 1, &r));
    CHECK(r.status == TIDELOG_STATUS_PROVISIONED_THROUGHPUT_EXCEEDED);
    CHECK(r.shard_id[0] == '\0' && r.sequence_number[0] == '\0');
    CHECK(strstr(r.error_message, "provisioned throughput exceeded") != NULL);
    CHECK_OK(tidelog_put_records_output_free(results));

    /* One GetRecords call per second: the second is refused and leaves the iterator
     * where it was. */
    CHECK_OK(tidelog_engine_advance_clock(e, 1000));
    tidelog_iterator *it = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "a", "shardId-000000000000",
                                        TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0, &it));
    tidelog_batch *b = NULL;
    CHECK_OK(tidelog_get_records(it, 1, &b));
    CHECK_OK(tidelog_batch_free(b));
    CHECK_ERROR(tidelog_get_records(it, 0, &b), TIDELOG_STATUS_PROVISIONED_THROUGHPUT_EXCEEDED,
                "ProvisionedThroughputExceededException", "provisioned throughput");
    CHECK(b == NULL);
    CHECK_OK(tidelog_engine_advance_clock(e, 1000));
    CHECK_OK(tidelog_get_records(it, 0, &b));
    size_t n = 0;
    CHECK_OK(tidelog_batch_count(b, &n));
    CHECK(n == 1); /* "3" after "1" and not "4": the refused call consumed nothing */
    tidelog_record rec = { .struct_size = sizeof rec };
    CHECK_OK(tidelog_batch_record(b, 0, &rec));
    CHECK(rec.data_len == 1 && rec.data[0] == '3');
    CHECK_OK(tidelog_batch_free(b));
    tidelog_shard_metrics m = { .struct_size = sizeof m };
    CHECK_OK(tidelog_stream_metrics_total(e, "a", &m));
    CHECK(m.write_throttled == 2 && m.read_throttled >= 1);

    /* An iterator expires five minutes after it was issued. */
    CHECK_OK(tidelog_engine_advance_clock(e, 5 * 60 * 1000 + 1));
    CHECK_ERROR(tidelog_get_records(it, 0, &b), TIDELOG_STATUS_EXPIRED_ITERATOR,
                "ExpiredIteratorException", "expired");
    CHECK_OK(tidelog_iterator_free(it));
    CHECK_OK(tidelog_engine_free(e));
}

static void io_corruption_environment_closed(void) {
    /* IO: the data directory path is a regular file. */
    char path[4096];
    tl_path(path, sizeof path, "plain-file");
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("not a directory", f);
    fclose(f);
    tidelog_engine_options o = tl_options();
    tidelog_engine *e = NULL;
    CHECK_ERROR(tidelog_engine_open(path, &o, &e), TIDELOG_STATUS_IO, "InternalFailureException",
                "plain-file");
    CHECK(e == NULL);

    /* CORRUPTION: a catalog overwritten with garbage. */
    e = tl_open("corrupt", &o);
    CHECK_OK(tidelog_create_stream(e, "s", 1));
    CHECK_OK(tidelog_engine_free(e));
    char catalog[4200];
    tl_path(path, sizeof path, "corrupt");
    snprintf(catalog, sizeof catalog, "%s/catalog", path);
    f = fopen(catalog, "r+b");
    REQUIRE(f != NULL);
    fseek(f, 16, SEEK_SET);
    fputs("garbage garbage garbage", f);
    fclose(f);
    CHECK_ERROR(tidelog_engine_open(path, &o, &e), TIDELOG_STATUS_CORRUPTION,
                "InternalFailureException", "catalog");
    CHECK(e == NULL);

    /* ENVIRONMENT: a locked-memory limit below what io_uring needs; the message says
     * how to fix it. The soft limit is restored afterwards. */
    struct rlimit saved, low;
    REQUIRE(getrlimit(RLIMIT_MEMLOCK, &saved) == 0);
    low = saved;
    low.rlim_cur = 64 * 1024;
    REQUIRE(setrlimit(RLIMIT_MEMLOCK, &low) == 0);
    tl_path(path, sizeof path, "environment");
    CHECK_ERROR(tidelog_engine_open(path, &o, &e), TIDELOG_STATUS_ENVIRONMENT,
                "InternalFailureException", "ulimit");
    REQUIRE(setrlimit(RLIMIT_MEMLOCK, &saved) == 0);

    /* CLOSED: every call on a closed engine, and on what was made from it. */
    e = tl_open("closed", &o);
    CHECK_OK(tidelog_create_stream(e, "s", 1));
    tidelog_iterator *it = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "s", "shardId-000000000000",
                                        TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0, &it));
    tidelog_subscription *sub = NULL;
    CHECK_OK(tidelog_subscribe(e, "s", "shardId-000000000000", TIDELOG_ITERATOR_TYPE_LATEST, NULL,
                               0, false, &sub));
    CHECK_OK(tidelog_engine_close(e));
    tidelog_put_record_output out = { .struct_size = sizeof out };
    CHECK_ERROR(tidelog_put_record(e, "s", "k", (const uint8_t *)"x", 1, NULL, &out),
                TIDELOG_STATUS_CLOSED, "InternalFailureException", "closed");
    tidelog_batch *b = NULL;
    CHECK_STATUS(tidelog_get_records(it, 0, &b), TIDELOG_STATUS_CLOSED);
    tidelog_subscription_event ev = { .struct_size = sizeof ev };
    CHECK_STATUS(tidelog_subscription_next(sub, 10, &ev), TIDELOG_STATUS_CLOSED);
    uint32_t cores = 0;
    CHECK_STATUS(tidelog_engine_cores(e, &cores), TIDELOG_STATUS_CLOSED);
    CHECK_STATUS(tidelog_engine_flush(e), TIDELOG_STATUS_CLOSED);
    CHECK_OK(tidelog_subscription_close(sub));
    CHECK_OK(tidelog_iterator_free(it));
    CHECK_OK(tidelog_engine_free(e));
}

int main(void) {
    tidelog_engine_options o = tl_options();
    char dir[4096];
    tl_path(dir, sizeof dir, "errors");
    tidelog_engine *e = tl_open("errors", &o);
    validation_and_not_found(e);
    invalid_argument_and_in_use(e, dir);
    CHECK_OK(tidelog_engine_free(e));
    limits_and_throttling();
    io_corruption_environment_closed();
    /* The message stays until the thread's next failing call. */
    CHECK_STATUS(tidelog_delete_stream(NULL, "x"), TIDELOG_STATUS_NULL_POINTER);
    CHECK(strstr(tidelog_last_error_message(), "engine is NULL") != NULL);
    CHECK(strcmp(tidelog_version_string(), "") != 0);
    CHECK(strstr(tidelog_last_error_message(), "engine is NULL") != NULL);
    return tl_finish("test_errors");
}
