/*
 * test_hostile.c: calls a careless or hostile program could make. NULL for every
 * pointer argument, zero and huge lengths, strings without a NUL, invalid UTF-8,
 * stream names that look like paths, freed, forged and wrong-kind handles, bad struct
 * sizes and enum values. Each gets its own status, nothing crashes, and the data
 * directory is byte-for-byte untouched afterwards; the engine still works.
 */
#include "tl_test.h"

#include <stddef.h>

#define NULLP TIDELOG_STATUS_NULL_POINTER
#define SHARD0 "shardId-000000000000"

static tidelog_engine *e;
static char dir[4096];

/* Live objects of every kind to aim at. */
static tidelog_iterator *it;
static tidelog_batch *batch;
static tidelog_subscription *sub;
static tidelog_shard_list *shards;
static tidelog_string_list *strings;
static tidelog_tag_list *tags;
static tidelog_metrics_list *metrics;
static tidelog_put_records_output *puts_out;

static void setup(void) {
    CHECK_OK(tidelog_create_stream(e, "s", 1));
    tl_put(e, "s", "k", "hello");
    const char *k[] = { "team" }, *v[] = { "x" };
    CHECK_OK(tidelog_add_tags_to_stream(e, "s", k, v, 1));
    CHECK_OK(tidelog_get_shard_iterator(e, "s", SHARD0, TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL,
                                        0, &it));
    CHECK_OK(tidelog_get_records(it, 0, &batch));
    CHECK_OK(tidelog_subscribe(e, "s", SHARD0, TIDELOG_ITERATOR_TYPE_LATEST, NULL, 0, false, &sub));
    CHECK_OK(tidelog_list_shards(e, "s", TIDELOG_SHARD_FILTER_ALL, NULL, 0, &shards));
    bool more;
    CHECK_OK(tidelog_list_streams(e, 0, NULL, &strings, &more));
    CHECK_OK(tidelog_list_tags_for_stream(e, "s", &tags));
    CHECK_OK(tidelog_metrics(e, NULL, &metrics));
    tidelog_put_records_entry entry = { .struct_size = sizeof entry, .partition_key = "k",
                                        .data = (const uint8_t *)"x", .data_len = 1 };
    CHECK_OK(tidelog_put_records(e, "s", &entry, 1, TIDELOG_DURABILITY_OS, &puts_out));
    CHECK_OK(tidelog_engine_flush(e));
}

static void null_pointers(void) {
    tidelog_engine *eo = (tidelog_engine *)1;
    tidelog_engine_options o = tl_options();
    size_t n;
    uint32_t u32;
    uint64_t u64;
    bool flag;
    const char *str;
    char buf[256];
    tidelog_stream_info info = { .struct_size = sizeof info };
    tidelog_shard shard = { .struct_size = sizeof shard };
    tidelog_record rec = { .struct_size = sizeof rec };
    tidelog_child_shard child = { .struct_size = sizeof child };
    tidelog_shard_metrics m = { .struct_size = sizeof m };
    tidelog_put_record_output out = { .struct_size = sizeof out };
    tidelog_put_records_result res = { .struct_size = sizeof res };
    tidelog_subscription_event ev = { .struct_size = sizeof ev };
    tidelog_iterator *ito = (tidelog_iterator *)1;
    tidelog_batch *bo = (tidelog_batch *)1;
    tidelog_subscription *so = (tidelog_subscription *)1;
    tidelog_shard_list *slo = (tidelog_shard_list *)1;
    tidelog_string_list *sto = (tidelog_string_list *)1;
    tidelog_tag_list *tlo = (tidelog_tag_list *)1;
    tidelog_metrics_list *mlo = (tidelog_metrics_list *)1;
    tidelog_put_records_output *po = (tidelog_put_records_output *)1;
    const char *keys[] = { "a" }, *null_keys[] = { NULL };

    /* engine */
    CHECK_STATUS(tidelog_engine_options_init(NULL, sizeof o), NULLP);
    CHECK_STATUS(tidelog_engine_open(NULL, &o, &eo), NULLP);
    CHECK(eo == NULL); /* the out-pointer is set to NULL on failure */
    CHECK_STATUS(tidelog_engine_open(dir, &o, NULL), NULLP);
    CHECK_STATUS(tidelog_engine_close(NULL), NULLP);
    CHECK_OK(tidelog_engine_free(NULL));
    CHECK_STATUS(tidelog_engine_flush(NULL), NULLP);
    CHECK_STATUS(tidelog_engine_run_maintenance(NULL, NULL, NULL), NULLP);
    CHECK_STATUS(tidelog_engine_cores(NULL, &u32), NULLP);
    CHECK_STATUS(tidelog_engine_cores(e, NULL), NULLP);
    CHECK_STATUS(tidelog_engine_advance_clock(NULL, 1), NULLP);

    /* streams */
    CHECK_STATUS(tidelog_create_stream(NULL, "n", 1), NULLP);
    CHECK_STATUS(tidelog_create_stream(e, NULL, 1), NULLP);
    CHECK_STATUS(tidelog_delete_stream(NULL, "s"), NULLP);
    CHECK_STATUS(tidelog_delete_stream(e, NULL), NULLP);
    CHECK_STATUS(tidelog_list_streams(NULL, 0, NULL, &sto, &flag), NULLP);
    CHECK_STATUS(tidelog_list_streams(e, 0, NULL, NULL, &flag), NULLP);
    CHECK_STATUS(tidelog_list_streams(e, 0, NULL, &sto, NULL), NULLP);
    CHECK_STATUS(tidelog_describe_stream(NULL, "s", &info, &slo), NULLP);
    CHECK_STATUS(tidelog_describe_stream(e, NULL, &info, &slo), NULLP);
    CHECK_STATUS(tidelog_describe_stream(e, "s", NULL, &slo), NULLP);
    CHECK_STATUS(tidelog_describe_stream(e, "s", &info, NULL), NULLP);
    CHECK_STATUS(tidelog_describe_stream_summary(NULL, "s", &info), NULLP);
    CHECK_STATUS(tidelog_describe_stream_summary(e, NULL, &info), NULLP);
    CHECK_STATUS(tidelog_describe_stream_summary(e, "s", NULL), NULLP);
    CHECK_STATUS(tidelog_list_shards(NULL, "s", 0, NULL, 0, &slo), NULLP);
    CHECK_STATUS(tidelog_list_shards(e, NULL, 0, NULL, 0, &slo), NULLP);
    CHECK_STATUS(tidelog_list_shards(e, "s", 0, NULL, 0, NULL), NULLP);
    CHECK_STATUS(tidelog_list_shards(e, "s", TIDELOG_SHARD_FILTER_AFTER_SHARD_ID, NULL, 0, &slo),
                 NULLP);
    CHECK_STATUS(tidelog_add_tags_to_stream(NULL, "s", keys, keys, 1), NULLP);
    CHECK_STATUS(tidelog_add_tags_to_stream(e, NULL, keys, keys, 1), NULLP);
    CHECK_STATUS(tidelog_add_tags_to_stream(e, "s", NULL, keys, 1), NULLP);
    CHECK_STATUS(tidelog_add_tags_to_stream(e, "s", keys, NULL, 1), NULLP);
    CHECK_STATUS(tidelog_add_tags_to_stream(e, "s", null_keys, keys, 1), NULLP);
    CHECK_STATUS(tidelog_add_tags_to_stream(e, "s", keys, null_keys, 1), NULLP);
    CHECK_STATUS(tidelog_remove_tags_from_stream(NULL, "s", keys, 1), NULLP);
    CHECK_STATUS(tidelog_remove_tags_from_stream(e, NULL, keys, 1), NULLP);
    CHECK_STATUS(tidelog_remove_tags_from_stream(e, "s", NULL, 1), NULLP);
    CHECK_STATUS(tidelog_remove_tags_from_stream(e, "s", null_keys, 1), NULLP);
    CHECK_STATUS(tidelog_list_tags_for_stream(NULL, "s", &tlo), NULLP);
    CHECK_STATUS(tidelog_list_tags_for_stream(e, NULL, &tlo), NULLP);
    CHECK_STATUS(tidelog_list_tags_for_stream(e, "s", NULL), NULLP);
    CHECK_STATUS(tidelog_increase_stream_retention_period(NULL, "s", 48), NULLP);
    CHECK_STATUS(tidelog_increase_stream_retention_period(e, NULL, 48), NULLP);
    CHECK_STATUS(tidelog_decrease_stream_retention_period(NULL, "s", 24), NULLP);
    CHECK_STATUS(tidelog_decrease_stream_retention_period(e, NULL, 24), NULLP);

    /* lists */
    CHECK_STATUS(tidelog_shard_list_count(NULL, &n), NULLP);
    CHECK_STATUS(tidelog_shard_list_count(shards, NULL), NULLP);
    CHECK_STATUS(tidelog_shard_list_get(NULL, 0, &shard), NULLP);
    CHECK_STATUS(tidelog_shard_list_get(shards, 0, NULL), NULLP);
    CHECK_OK(tidelog_shard_list_free(NULL));
    CHECK_STATUS(tidelog_string_list_count(NULL, &n), NULLP);
    CHECK_STATUS(tidelog_string_list_count(strings, NULL), NULLP);
    CHECK_STATUS(tidelog_string_list_get(NULL, 0, &str), NULLP);
    CHECK_STATUS(tidelog_string_list_get(strings, 0, NULL), NULLP);
    CHECK_OK(tidelog_string_list_free(NULL));
    CHECK_STATUS(tidelog_tag_list_count(NULL, &n), NULLP);
    CHECK_STATUS(tidelog_tag_list_count(tags, NULL), NULLP);
    CHECK_STATUS(tidelog_tag_list_get(NULL, 0, &str, &str), NULLP);
    CHECK_STATUS(tidelog_tag_list_get(tags, 0, NULL, &str), NULLP);
    CHECK_STATUS(tidelog_tag_list_get(tags, 0, &str, NULL), NULLP);
    CHECK_OK(tidelog_tag_list_free(NULL));
    CHECK_STATUS(tidelog_metrics_list_count(NULL, &n), NULLP);
    CHECK_STATUS(tidelog_metrics_list_count(metrics, NULL), NULLP);
    CHECK_STATUS(tidelog_metrics_list_get(NULL, 0, &m), NULLP);
    CHECK_STATUS(tidelog_metrics_list_get(metrics, 0, NULL), NULLP);
    CHECK_OK(tidelog_metrics_list_free(NULL));

    /* metrics */
    CHECK_STATUS(tidelog_metrics(NULL, NULL, &mlo), NULLP);
    CHECK_STATUS(tidelog_metrics(e, NULL, NULL), NULLP);
    CHECK_STATUS(tidelog_stream_metrics_total(NULL, "s", &m), NULLP);
    CHECK_STATUS(tidelog_stream_metrics_total(e, NULL, &m), NULLP);
    CHECK_STATUS(tidelog_stream_metrics_total(e, "s", NULL), NULLP);
    CHECK_STATUS(tidelog_metrics_openmetrics(NULL, buf, sizeof buf, &n), NULLP);
    CHECK_STATUS(tidelog_metrics_openmetrics(e, buf, sizeof buf, NULL), NULLP);
    CHECK_STATUS(tidelog_metrics_openmetrics(e, NULL, 1 << 20, &n), NULLP);

    /* numbers */
    CHECK_STATUS(tidelog_u128_parse(NULL, &u64, &u64), NULLP);
    CHECK_STATUS(tidelog_u128_parse("1", NULL, &u64), NULLP);
    CHECK_STATUS(tidelog_u128_parse("1", &u64, NULL), NULLP);
    CHECK_STATUS(tidelog_u128_format(0, 1, NULL, 40), NULLP);

    /* reads */
    CHECK_STATUS(tidelog_get_shard_iterator(NULL, "s", SHARD0, 0, NULL, 0, &ito), NULLP);
    CHECK_STATUS(tidelog_get_shard_iterator(e, NULL, SHARD0, 0, NULL, 0, &ito), NULLP);
    CHECK_STATUS(tidelog_get_shard_iterator(e, "s", NULL, 0, NULL, 0, &ito), NULLP);
    CHECK_STATUS(tidelog_get_shard_iterator(e, "s", SHARD0, 0, NULL, 0, NULL), NULLP);
    CHECK_STATUS(tidelog_get_shard_iterator(e, "s", SHARD0,
                                            TIDELOG_ITERATOR_TYPE_AT_SEQUENCE_NUMBER, NULL, 0,
                                            &ito),
                 NULLP);
    CHECK(ito == NULL);
    CHECK_STATUS(tidelog_iterator_from_token(NULL, "x", &ito), NULLP);
    CHECK_STATUS(tidelog_iterator_from_token(e, NULL, &ito), NULLP);
    CHECK_STATUS(tidelog_iterator_from_token(e, "x", NULL), NULLP);
    CHECK_STATUS(tidelog_iterator_token(NULL, buf, sizeof buf), NULLP);
    CHECK_STATUS(tidelog_iterator_token(it, NULL, sizeof buf), NULLP);
    CHECK_STATUS(tidelog_iterator_is_ended(NULL, &flag), NULLP);
    CHECK_STATUS(tidelog_iterator_is_ended(it, NULL), NULLP);
    CHECK_STATUS(tidelog_get_records(NULL, 0, &bo), NULLP);
    CHECK(bo == NULL);
    CHECK_STATUS(tidelog_get_records(it, 0, NULL), NULLP);
    CHECK_OK(tidelog_iterator_free(NULL));
    CHECK_STATUS(tidelog_batch_count(NULL, &n), NULLP);
    CHECK_STATUS(tidelog_batch_count(batch, NULL), NULLP);
    CHECK_STATUS(tidelog_batch_record(NULL, 0, &rec), NULLP);
    CHECK_STATUS(tidelog_batch_record(batch, 0, NULL), NULLP);
    CHECK_STATUS(tidelog_batch_shard_id(NULL, &str), NULLP);
    CHECK_STATUS(tidelog_batch_shard_id(batch, NULL), NULLP);
    CHECK_STATUS(tidelog_batch_millis_behind_latest(NULL, &u64), NULLP);
    CHECK_STATUS(tidelog_batch_millis_behind_latest(batch, NULL), NULLP);
    CHECK_STATUS(tidelog_batch_child_shard_count(NULL, &n), NULLP);
    CHECK_STATUS(tidelog_batch_child_shard_count(batch, NULL), NULLP);
    CHECK_STATUS(tidelog_batch_child_shard(NULL, 0, &child), NULLP);
    CHECK_STATUS(tidelog_batch_child_shard(batch, 0, NULL), NULLP);
    CHECK_OK(tidelog_batch_free(NULL));

    /* writes */
    const uint8_t *d = (const uint8_t *)"x";
    CHECK_STATUS(tidelog_put_record(NULL, "s", "k", d, 1, NULL, &out), NULLP);
    CHECK_STATUS(tidelog_put_record(e, NULL, "k", d, 1, NULL, &out), NULLP);
    CHECK_STATUS(tidelog_put_record(e, "s", NULL, d, 1, NULL, &out), NULLP);
    CHECK_STATUS(tidelog_put_record(e, "s", "k", NULL, 1, NULL, &out), NULLP);
    CHECK_STATUS(tidelog_put_record(e, "s", "k", d, 1, NULL, NULL), NULLP);
    tidelog_put_records_entry entry = { .struct_size = sizeof entry, .partition_key = "k",
                                        .data = d, .data_len = 1 };
    CHECK_STATUS(tidelog_put_records(NULL, "s", &entry, 1, 0, &po), NULLP);
    CHECK_STATUS(tidelog_put_records(e, NULL, &entry, 1, 0, &po), NULLP);
    CHECK_STATUS(tidelog_put_records(e, "s", NULL, 1, 0, &po), NULLP);
    CHECK_STATUS(tidelog_put_records(e, "s", &entry, 1, 0, NULL), NULLP);
    entry.partition_key = NULL;
    CHECK_STATUS(tidelog_put_records(e, "s", &entry, 1, 0, &po), NULLP);
    entry.partition_key = "k";
    entry.data = NULL;
    CHECK_STATUS(tidelog_put_records(e, "s", &entry, 1, 0, &po), NULLP);
    CHECK(po == NULL);
    CHECK_STATUS(tidelog_put_records_output_count(NULL, &n), NULLP);
    CHECK_STATUS(tidelog_put_records_output_count(puts_out, NULL), NULLP);
    CHECK_STATUS(tidelog_put_records_output_failed_count(NULL, &n), NULLP);
    CHECK_STATUS(tidelog_put_records_output_failed_count(puts_out, NULL), NULLP);
    CHECK_STATUS(tidelog_put_records_output_get(NULL, 0, &res), NULLP);
    CHECK_STATUS(tidelog_put_records_output_get(puts_out, 0, NULL), NULLP);
    CHECK_OK(tidelog_put_records_output_free(NULL));

    /* resharding */
    CHECK_STATUS(tidelog_split_shard(NULL, "s", SHARD0, "5"), NULLP);
    CHECK_STATUS(tidelog_split_shard(e, NULL, SHARD0, "5"), NULLP);
    CHECK_STATUS(tidelog_split_shard(e, "s", NULL, "5"), NULLP);
    CHECK_STATUS(tidelog_split_shard(e, "s", SHARD0, NULL), NULLP);
    CHECK_STATUS(tidelog_merge_shards(NULL, "s", SHARD0, SHARD0), NULLP);
    CHECK_STATUS(tidelog_merge_shards(e, NULL, SHARD0, SHARD0), NULLP);
    CHECK_STATUS(tidelog_merge_shards(e, "s", NULL, SHARD0), NULLP);
    CHECK_STATUS(tidelog_merge_shards(e, "s", SHARD0, NULL), NULLP);
    CHECK_STATUS(tidelog_update_shard_count(NULL, "s", 2, NULL, NULL, NULL), NULLP);
    CHECK_STATUS(tidelog_update_shard_count(e, NULL, 2, NULL, NULL, NULL), NULLP);
    CHECK_STATUS(tidelog_expire_shards(NULL, &n), NULLP);

    /* subscriptions */
    CHECK_STATUS(tidelog_subscribe(NULL, "s", SHARD0, 0, NULL, 0, false, &so), NULLP);
    CHECK_STATUS(tidelog_subscribe(e, NULL, SHARD0, 0, NULL, 0, false, &so), NULLP);
    CHECK_STATUS(tidelog_subscribe(e, "s", NULL, 0, NULL, 0, false, &so), NULLP);
    CHECK_STATUS(tidelog_subscribe(e, "s", SHARD0, 0, NULL, 0, false, NULL), NULLP);
    CHECK_STATUS(tidelog_subscribe_with_callback(e, "s", SHARD0, 0, NULL, 0, false, NULL, NULL,
                                                 &so),
                 NULLP);
    CHECK(so == NULL);
    CHECK_STATUS(tidelog_subscription_next(NULL, 0, &ev), NULLP);
    CHECK_STATUS(tidelog_subscription_next(sub, 0, NULL), NULLP);
    CHECK_STATUS(tidelog_subscription_shard_ids(NULL, &sto), NULLP);
    CHECK_STATUS(tidelog_subscription_shard_ids(sub, NULL), NULLP);
    CHECK_OK(tidelog_subscription_close(NULL));

    /* Every NULL left a message naming the argument. */
    CHECK_STATUS(tidelog_batch_record(batch, 0, NULL), NULLP);
    CHECK(strcmp(tidelog_last_error_message(), "record_out is NULL (it is required)") == 0);
}

static void lengths_and_bounds(void) {
    tidelog_put_record_output out = { .struct_size = sizeof out };
    const uint8_t *d = (const uint8_t *)"x";
    /* Lengths beyond the ABI bound are refused before any byte is read. */
    CHECK_STATUS(tidelog_put_record(e, "s", "k", d, SIZE_MAX, NULL, &out),
                 TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_STATUS(tidelog_put_record(e, "s", "k", d, TIDELOG_DATA_BYTES_MAX + 1, NULL, &out),
                 TIDELOG_STATUS_OUT_OF_RANGE);
    /* Within the ABI bound but over the engine's record size: the engine's rule. */
    size_t big = 2 << 20;
    uint8_t *payload = calloc(1, big);
    REQUIRE(payload != NULL);
    CHECK_STATUS(tidelog_put_record(e, "s", "k", payload, big, NULL, &out),
                 TIDELOG_STATUS_VALIDATION);
    CHECK(strstr(tidelog_last_error_message(), "exceeds") != NULL);
    free(payload);
    /* A key of 257 characters (engine rule) and a string with no NUL (ABI bound). */
    char key[300];
    memset(key, 'k', 257);
    key[257] = '\0';
    CHECK_STATUS(tidelog_put_record(e, "s", key, d, 1, NULL, &out), TIDELOG_STATUS_VALIDATION);
    char *unterminated = malloc(TIDELOG_STRING_BYTES_MAX + 64);
    REQUIRE(unterminated != NULL);
    memset(unterminated, 'a', TIDELOG_STRING_BYTES_MAX + 64);
    CHECK_STATUS(tidelog_create_stream(e, unterminated, 1), TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_STATUS(tidelog_put_record(e, "s", unterminated, d, 1, NULL, &out),
                 TIDELOG_STATUS_OUT_OF_RANGE);
    free(unterminated);

    /* PutRecords: zero entries, too many for Kinesis, beyond the ABI bound. */
    tidelog_put_records_output *po = NULL;
    tidelog_put_records_entry one = { .struct_size = sizeof one, .partition_key = "k", .data = d,
                                      .data_len = 1 };
    CHECK_STATUS(tidelog_put_records(e, "s", &one, 0, 0, &po), TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_put_records(e, "s", NULL, 0, 0, &po), TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_put_records(e, "s", &one, SIZE_MAX, 0, &po), TIDELOG_STATUS_OUT_OF_RANGE);
    tidelog_put_records_entry *many = calloc(501, sizeof *many);
    REQUIRE(many != NULL);
    for (size_t i = 0; i < 501; i++) many[i] = one;
    CHECK_STATUS(tidelog_put_records(e, "s", many, 501, 0, &po), TIDELOG_STATUS_VALIDATION);
    CHECK(strstr(tidelog_last_error_message(), "1 to 500") != NULL);
    free(many);
    CHECK(po == NULL);

    /* Tags: counts beyond the ABI bound. */
    const char *keys[] = { "a" };
    CHECK_STATUS(tidelog_add_tags_to_stream(e, "s", keys, keys, SIZE_MAX),
                 TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_STATUS(tidelog_remove_tags_from_stream(e, "s", keys, TIDELOG_TAGS_PER_CALL_MAX + 1),
                 TIDELOG_STATUS_OUT_OF_RANGE);

    /* Indexes past the end of every list. */
    tidelog_record rec = { .struct_size = sizeof rec };
    CHECK_STATUS(tidelog_batch_record(batch, 1, &rec), TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_STATUS(tidelog_batch_record(batch, SIZE_MAX, &rec), TIDELOG_STATUS_OUT_OF_RANGE);
    tidelog_child_shard child = { .struct_size = sizeof child };
    CHECK_STATUS(tidelog_batch_child_shard(batch, 0, &child), TIDELOG_STATUS_OUT_OF_RANGE);
    tidelog_shard shard = { .struct_size = sizeof shard };
    CHECK_STATUS(tidelog_shard_list_get(shards, 1, &shard), TIDELOG_STATUS_OUT_OF_RANGE);
    const char *str = NULL, *str2 = NULL;
    CHECK_STATUS(tidelog_string_list_get(strings, 99, &str), TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_STATUS(tidelog_tag_list_get(tags, 1, &str, &str2), TIDELOG_STATUS_OUT_OF_RANGE);
    tidelog_shard_metrics m = { .struct_size = sizeof m };
    CHECK_STATUS(tidelog_metrics_list_get(metrics, 99, &m), TIDELOG_STATUS_OUT_OF_RANGE);
    tidelog_put_records_result res = { .struct_size = sizeof res };
    CHECK_STATUS(tidelog_put_records_output_get(puts_out, 1, &res), TIDELOG_STATUS_OUT_OF_RANGE);

    /* Buffers too small, and waits too long. */
    char small[8];
    CHECK_STATUS(tidelog_iterator_token(it, small, sizeof small), TIDELOG_STATUS_BUFFER_TOO_SMALL);
    CHECK(strstr(tidelog_last_error_message(), "needs 107 bytes") != NULL);
    CHECK_STATUS(tidelog_iterator_token(it, NULL, 0), TIDELOG_STATUS_BUFFER_TOO_SMALL);
    CHECK_STATUS(tidelog_u128_format(UINT64_MAX, UINT64_MAX, small, sizeof small),
                 TIDELOG_STATUS_BUFFER_TOO_SMALL);
    size_t len = 0;
    CHECK_STATUS(tidelog_metrics_openmetrics(e, small, sizeof small, &len),
                 TIDELOG_STATUS_BUFFER_TOO_SMALL);
    CHECK(len > sizeof small);
    tidelog_subscription_event ev = { .struct_size = sizeof ev };
    CHECK_STATUS(tidelog_subscription_next(sub, TIDELOG_TIMEOUT_MS_MAX + 1, &ev),
                 TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_STATUS(tidelog_subscription_next(sub, UINT64_MAX, &ev), TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_STATUS(tidelog_engine_advance_clock(e, UINT64_MAX), TIDELOG_STATUS_OUT_OF_RANGE);
    /* The record put after the subscription started, then a zero timeout: an
     * immediate TIMEOUT. */
    CHECK_OK(tidelog_subscription_next(sub, 5000, &ev));
    CHECK(ev.kind == TIDELOG_EVENT_KIND_RECORDS);
    CHECK_OK(tidelog_batch_free(ev.batch));
    CHECK_OK(tidelog_subscription_next(sub, 0, &ev));
    CHECK(ev.kind == TIDELOG_EVENT_KIND_TIMEOUT && ev.batch == NULL);
    /* Limits: 0 means the default, beyond 10,000 is the engine's VALIDATION. */
    tidelog_batch *b = NULL;
    CHECK_STATUS(tidelog_get_records(it, 10001, &b), TIDELOG_STATUS_VALIDATION);
    tidelog_string_list *names = NULL;
    bool more;
    CHECK_STATUS(tidelog_list_streams(e, 10001, NULL, &names, &more), TIDELOG_STATUS_VALIDATION);
}

static void bad_text(void) {
    const char bad[] = { 's', (char)0xff, (char)0xfe, 0 };
    const char overlong[] = { (char)0xc0, (char)0xaf, 0 }; /* an over-long '/' */
    tidelog_put_record_output out = { .struct_size = sizeof out };
    const uint8_t *d = (const uint8_t *)"x";
    CHECK_STATUS(tidelog_create_stream(e, bad, 1), TIDELOG_STATUS_INVALID_UTF8);
    CHECK(strstr(tidelog_last_error_message(), "offset 1") != NULL);
    CHECK_STATUS(tidelog_create_stream(e, overlong, 1), TIDELOG_STATUS_INVALID_UTF8);
    CHECK_STATUS(tidelog_put_record(e, "s", bad, d, 1, NULL, &out), TIDELOG_STATUS_INVALID_UTF8);
    tidelog_put_options o = { .struct_size = sizeof o, .explicit_hash_key = bad };
    CHECK_STATUS(tidelog_put_record(e, "s", "k", d, 1, &o, &out), TIDELOG_STATUS_INVALID_UTF8);
    const char *keys[] = { bad }, *values[] = { "v" };
    CHECK_STATUS(tidelog_add_tags_to_stream(e, "s", keys, values, 1), TIDELOG_STATUS_INVALID_UTF8);
    CHECK_STATUS(tidelog_add_tags_to_stream(e, "s", values, keys, 1), TIDELOG_STATUS_INVALID_UTF8);
    tidelog_iterator *i2 = NULL;
    CHECK_STATUS(tidelog_get_shard_iterator(e, "s", bad, 0, NULL, 0, &i2),
                 TIDELOG_STATUS_INVALID_UTF8);
    CHECK_STATUS(tidelog_iterator_from_token(e, bad, &i2), TIDELOG_STATUS_INVALID_UTF8);
    tidelog_engine *e2 = NULL;
    tidelog_engine_options opts = tl_options();
    CHECK_STATUS(tidelog_engine_open(bad, &opts, &e2), TIDELOG_STATUS_INVALID_UTF8);
    uint64_t hi, lo;
    CHECK_STATUS(tidelog_u128_parse(bad, &hi, &lo), TIDELOG_STATUS_INVALID_UTF8);
    CHECK_STATUS(tidelog_u128_parse("12 ", &hi, &lo), TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_u128_parse("", &hi, &lo), TIDELOG_STATUS_VALIDATION);

    /* Stream names that look like paths never reach the file system. */
    const char *paths[] = { "../evil", "a/b", "..", ".", "/abs", "s/../../x", "c:\\x", "" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        CHECK_STATUS(tidelog_create_stream(e, paths[i], 1), TIDELOG_STATUS_VALIDATION);
        CHECK_STATUS(tidelog_delete_stream(e, paths[i]), TIDELOG_STATUS_VALIDATION);
        CHECK_STATUS(tidelog_put_record(e, paths[i], "k", d, 1, NULL, &out),
                     TIDELOG_STATUS_VALIDATION);
    }
    /* A token that is not one. */
    tidelog_batch *b = NULL;
    CHECK_OK(tidelog_iterator_from_token(e, "../../etc/passwd", &i2));
    CHECK_STATUS(tidelog_get_records(i2, 0, &b), TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK_OK(tidelog_iterator_free(i2));
}

static void bad_handles(void) {
    /* Made-up values, handles of another kind, freed handles, double frees. */
    tidelog_engine *fake = (tidelog_engine *)(uintptr_t)0x1234;
    CHECK_STATUS(tidelog_create_stream(fake, "x", 1), TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_STATUS(tidelog_engine_free(fake), TIDELOG_STATUS_INVALID_HANDLE);
    size_t n = 0;
    CHECK_STATUS(tidelog_batch_count((tidelog_batch *)(void *)it, &n),
                 TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_STATUS(tidelog_get_records((tidelog_iterator *)(void *)batch, 0, NULL), NULLP);
    tidelog_batch *b = NULL;
    CHECK_STATUS(tidelog_get_records((tidelog_iterator *)(void *)batch, 0, &b),
                 TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_STATUS(tidelog_shard_list_free((tidelog_shard_list *)(void *)strings),
                 TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_STATUS(tidelog_create_stream((tidelog_engine *)(void *)sub, "x", 1),
                 TIDELOG_STATUS_INVALID_HANDLE);

    /* A freed batch: its accessors and a second free are refused. */
    tidelog_batch *b2 = NULL;
    tidelog_iterator *i2 = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "s", SHARD0, 0, NULL, 0, &i2));
    CHECK_OK(tidelog_get_records(i2, 0, &b2));
    CHECK_OK(tidelog_batch_free(b2));
    tidelog_record rec = { .struct_size = sizeof rec };
    CHECK_STATUS(tidelog_batch_record(b2, 0, &rec), TIDELOG_STATUS_INVALID_HANDLE);
    CHECK(strstr(tidelog_last_error_message(), "not a live tidelog_batch handle") != NULL);
    CHECK_STATUS(tidelog_batch_free(b2), TIDELOG_STATUS_INVALID_HANDLE);
    /* A freed iterator. */
    CHECK_OK(tidelog_iterator_free(i2));
    CHECK_STATUS(tidelog_get_records(i2, 0, &b), TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_STATUS(tidelog_iterator_free(i2), TIDELOG_STATUS_INVALID_HANDLE);
    /* A handle freed and its slot reused: the old handle stays dead. */
    tidelog_iterator *i3 = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "s", SHARD0, 0, NULL, 0, &i3));
    CHECK(i3 != i2);
    CHECK_STATUS(tidelog_get_records(i2, 0, &b), TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_OK(tidelog_iterator_free(i3));
    /* A closed subscription. */
    tidelog_subscription *s2 = NULL;
    CHECK_OK(tidelog_subscribe(e, "s", SHARD0, 0, NULL, 0, false, &s2));
    CHECK_OK(tidelog_subscription_close(s2));
    tidelog_subscription_event ev = { .struct_size = sizeof ev };
    CHECK_STATUS(tidelog_subscription_next(s2, 0, &ev), TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_STATUS(tidelog_subscription_close(s2), TIDELOG_STATUS_INVALID_HANDLE);
}

static void bad_structs_and_enums(void) {
    tidelog_engine_options o = tl_options();
    tidelog_engine *e2 = NULL;
    /* Below the struct's first published size (it has grown since: the fields from
     * `region` on came with the whole Kinesis API), or above the bound. */
    size_t sizes[] = { 0, 1, 8, offsetof(tidelog_engine_options, region) - 1,
                       TIDELOG_STRUCT_SIZE_MAX + 1, SIZE_MAX };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        o.struct_size = sizes[i];
        CHECK_STATUS(tidelog_engine_open(dir, &o, &e2), TIDELOG_STATUS_BAD_STRUCT_SIZE);
        CHECK_STATUS(tidelog_engine_options_init(&o, sizes[i]), TIDELOG_STATUS_BAD_STRUCT_SIZE);
    }
    /* A caller compiled against a newer header: unknown fields zero are fine, set ones
     * are refused (this library cannot honour them). */
    struct {
        tidelog_engine_options known;
        uint64_t from_the_future;
    } newer;
    memset(&newer, 0, sizeof newer);
    CHECK_OK(tidelog_engine_options_init(&newer.known, sizeof newer));
    CHECK(newer.known.struct_size == sizeof newer && newer.from_the_future == 0);
    newer.from_the_future = 1;
    CHECK_STATUS(tidelog_engine_open(dir, &newer.known, &e2), TIDELOG_STATUS_BAD_STRUCT_SIZE);
    CHECK(strstr(tidelog_last_error_message(), "newer header") != NULL);

    tidelog_put_record_output out = { .struct_size = sizeof out };
    const uint8_t *d = (const uint8_t *)"x";
    tidelog_put_options po = { .struct_size = 3 };
    CHECK_STATUS(tidelog_put_record(e, "s", "k", d, 1, &po, &out), TIDELOG_STATUS_BAD_STRUCT_SIZE);
    out.struct_size = 0;
    CHECK_STATUS(tidelog_put_record(e, "s", "k", d, 1, NULL, &out), TIDELOG_STATUS_BAD_STRUCT_SIZE);
    tidelog_record rec = { .struct_size = offsetof(tidelog_record, encrypted) - 8 };
    CHECK_STATUS(tidelog_batch_record(batch, 0, &rec), TIDELOG_STATUS_BAD_STRUCT_SIZE);
    tidelog_put_records_entry entries[2] = {
        { .struct_size = sizeof entries[0], .partition_key = "k", .data = d, .data_len = 1 },
        { .struct_size = sizeof entries[0] + 8, .partition_key = "k", .data = d, .data_len = 1 },
    };
    tidelog_put_records_output *pout = NULL;
    CHECK_STATUS(tidelog_put_records(e, "s", entries, 2, 0, &pout), TIDELOG_STATUS_BAD_STRUCT_SIZE);
    CHECK(strstr(tidelog_last_error_message(), "entries[1]") != NULL);
    /* A larger output struct: the known part is filled, the rest left alone. */
    struct {
        tidelog_record known;
        uint64_t tail;
    } big_rec = { .known = { .struct_size = sizeof big_rec }, .tail = 0xabcdef };
    CHECK_OK(tidelog_batch_record(batch, 0, &big_rec.known));
    CHECK(big_rec.known.struct_size == sizeof big_rec && big_rec.tail == 0xabcdef);
    CHECK(big_rec.known.data_len == 5 && memcmp(big_rec.known.data, "hello", 5) == 0);

    /* Enum and flag values outside their enums. */
    o = tl_options();
    o.durability = 7;
    CHECK_STATUS(tidelog_engine_open(dir, &o, &e2), TIDELOG_STATUS_INVALID_ENUM_VALUE);
    o = tl_options();
    o.pin_cores = 2;
    CHECK_STATUS(tidelog_engine_open(dir, &o, &e2), TIDELOG_STATUS_INVALID_ENUM_VALUE);
    o = tl_options();
    o.sync_driver = 3;
    CHECK_STATUS(tidelog_engine_open(dir, &o, &e2), TIDELOG_STATUS_INVALID_ENUM_VALUE);
    o = tl_options();
    o.machine = TIDELOG_MACHINE_DEDICATED + 1;
    CHECK_STATUS(tidelog_engine_open(dir, &o, &e2), TIDELOG_STATUS_INVALID_ENUM_VALUE);
    /* Numbers outside the engine's rules. */
    o = tl_options();
    o.core_spin_us = 5000000;
    CHECK_STATUS(tidelog_engine_open(dir, &o, &e2), TIDELOG_STATUS_VALIDATION);
    o = tl_options();
    o.segment_bytes_initial = 1;
    CHECK_STATUS(tidelog_engine_open(dir, &o, &e2), TIDELOG_STATUS_VALIDATION);
    o = tl_options();
    o.put_records_entries_max = TIDELOG_PUT_RECORDS_ENTRIES_MAX + 1;
    CHECK_STATUS(tidelog_engine_open(dir, &o, &e2), TIDELOG_STATUS_VALIDATION);
    CHECK(e2 == NULL);
    tidelog_put_options bad_durability = { .struct_size = sizeof bad_durability, .durability = 3 };
    out.struct_size = sizeof out;
    CHECK_STATUS(tidelog_put_record(e, "s", "k", d, 1, &bad_durability, &out),
                 TIDELOG_STATUS_INVALID_ENUM_VALUE);
    CHECK_STATUS(tidelog_put_records(e, "s", entries, 1, 99, &pout),
                 TIDELOG_STATUS_INVALID_ENUM_VALUE);
    tidelog_iterator *i2 = NULL;
    CHECK_STATUS(tidelog_get_shard_iterator(e, "s", SHARD0, 5, NULL, 0, &i2),
                 TIDELOG_STATUS_INVALID_ENUM_VALUE);
    CHECK_STATUS(tidelog_get_shard_iterator(e, "s", SHARD0, UINT32_MAX, NULL, 0, &i2),
                 TIDELOG_STATUS_INVALID_ENUM_VALUE);
    tidelog_shard_list *sl = NULL;
    CHECK_STATUS(tidelog_list_shards(e, "s", 6, NULL, 0, &sl), TIDELOG_STATUS_INVALID_ENUM_VALUE);
    CHECK_STATUS(tidelog_list_shards(e, "s", TIDELOG_SHARD_FILTER_ALL, SHARD0, 0, &sl),
                 TIDELOG_STATUS_VALIDATION);
    tidelog_subscription *s2 = NULL;
    CHECK_STATUS(tidelog_subscribe(e, "s", SHARD0, 9, NULL, 0, false, &s2),
                 TIDELOG_STATUS_INVALID_ENUM_VALUE);
    /* The manual clock only exists when asked for. */
    CHECK_STATUS(tidelog_engine_advance_clock(e, 1), TIDELOG_STATUS_INVALID_ARGUMENT);
}

int main(void) {
    tidelog_engine_options o = tl_options();
    tl_path(dir, sizeof dir, "hostile");
    e = tl_open("hostile", &o);
    setup();
    /* Everything below is refused: the files must not change. The root holds the
     * data directory and is where a path-like stream name would escape to. */
    tl_snapshot *before = tl_snapshot_take(tl_root_dir());
    null_pointers();
    lengths_and_bounds();
    bad_text();
    bad_handles();
    bad_structs_and_enums();
    tl_snapshot *after = tl_snapshot_take(tl_root_dir());
    CHECK(before->count > 3);
    CHECK(tl_snapshot_equal(before, after));
    free(before);
    free(after);

    /* The engine still works, and nothing of the refused calls was written. */
    char data[64];
    CHECK(tl_read_all(e, "s", SHARD0, data, sizeof data) == 2);
    CHECK(strcmp(data, "hello|x|") == 0);
    CHECK_OK(tidelog_batch_free(batch));
    CHECK_OK(tidelog_iterator_free(it));
    CHECK_OK(tidelog_subscription_close(sub));
    CHECK_OK(tidelog_shard_list_free(shards));
    CHECK_OK(tidelog_string_list_free(strings));
    CHECK_OK(tidelog_tag_list_free(tags));
    CHECK_OK(tidelog_metrics_list_free(metrics));
    CHECK_OK(tidelog_put_records_output_free(puts_out));
    CHECK_OK(tidelog_engine_free(e));
    return tl_finish("test_hostile");
}
