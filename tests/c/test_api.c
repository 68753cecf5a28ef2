/*
 * test_api.c: every operation of the C API, used as a C program would use it, with
 * the results checked against what the operation promises.
 */
#include "tl_test.h"

static const char MAX_HASH_KEY[] = "340282366920938463463374607431768211455";

static void test_versions_and_names(void) {
    CHECK(TIDELOG_VERSION_NUMBER == tidelog_version_number());
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", TIDELOG_VERSION_MAJOR, TIDELOG_VERSION_MINOR,
             TIDELOG_VERSION_PATCH);
    CHECK(strcmp(tidelog_version_string(), expected) == 0);
    CHECK(strcmp(tidelog_status_name(TIDELOG_STATUS_OK), "TIDELOG_STATUS_OK") == 0);
    CHECK(strcmp(tidelog_status_name(TIDELOG_STATUS_EXPIRED_ITERATOR),
                 "TIDELOG_STATUS_EXPIRED_ITERATOR") == 0);
    CHECK(strcmp(tidelog_status_name(77), "TIDELOG_STATUS_UNKNOWN") == 0);
    CHECK(strcmp(tidelog_status_kinesis_name(TIDELOG_STATUS_RESOURCE_IN_USE),
                 "ResourceInUseException") == 0);
    CHECK(strcmp(tidelog_status_kinesis_name(TIDELOG_STATUS_CORRUPTION),
                 "InternalFailureException") == 0);
    CHECK(tidelog_status_kinesis_name(TIDELOG_STATUS_OK) == NULL);
    CHECK(tidelog_status_kinesis_name(TIDELOG_STATUS_NULL_POINTER) == NULL);
    CHECK(tidelog_last_error_message() != NULL);
}

static void test_u128(void) {
    uint64_t hi = 0, lo = 0;
    CHECK_OK(tidelog_u128_parse(MAX_HASH_KEY, &hi, &lo));
    CHECK(hi == UINT64_MAX && lo == UINT64_MAX);
    CHECK_OK(tidelog_u128_parse("18446744073709551616", &hi, &lo)); /* 2^64 */
    CHECK(hi == 1 && lo == 0);
    char buf[TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE];
    CHECK_OK(tidelog_u128_format(1, 0, buf, sizeof buf));
    CHECK(strcmp(buf, "18446744073709551616") == 0);
    CHECK_OK(tidelog_u128_format(0, 0, buf, sizeof buf));
    CHECK(strcmp(buf, "0") == 0);
}

static void check_shard(const tidelog_shard_list *list, size_t i, const char *id,
                        tidelog_shard_state state, tidelog_shard *out) {
    out->struct_size = sizeof *out;
    CHECK_OK(tidelog_shard_list_get(list, i, out));
    CHECK(strcmp(out->shard_id, id) == 0);
    CHECK(out->state == state);
}

static void test_streams(tidelog_engine *e) {
    CHECK_OK(tidelog_create_stream(e, "orders", 2));
    CHECK_OK(tidelog_create_stream(e, "logs", 1));
    CHECK_OK(tidelog_create_stream(e, "zzz-scratch", 1));

    /* ListStreams: all, a page, the next page. */
    tidelog_string_list *names = NULL;
    bool more = true;
    CHECK_OK(tidelog_list_streams(e, 0, NULL, &names, &more));
    size_t n = 0;
    CHECK_OK(tidelog_string_list_count(names, &n));
    CHECK(n == 3 && !more);
    const char *name = NULL;
    CHECK_OK(tidelog_string_list_get(names, 0, &name));
    CHECK(strcmp(name, "logs") == 0);
    CHECK_OK(tidelog_string_list_get(names, 2, &name));
    CHECK(strcmp(name, "zzz-scratch") == 0);
    CHECK_OK(tidelog_string_list_free(names));
    CHECK_OK(tidelog_list_streams(e, 1, "logs", &names, &more));
    CHECK_OK(tidelog_string_list_count(names, &n));
    CHECK_OK(tidelog_string_list_get(names, 0, &name));
    CHECK(n == 1 && more && strcmp(name, "orders") == 0);
    CHECK_OK(tidelog_string_list_free(names));

    /* DescribeStream. */
    tidelog_stream_info info = { .struct_size = sizeof info };
    tidelog_shard_list *shards = NULL;
    CHECK_OK(tidelog_describe_stream(e, "orders", &info, &shards));
    CHECK(strcmp(info.name, "orders") == 0);
    CHECK(info.status == TIDELOG_STREAM_STATUS_ACTIVE);
    CHECK(info.retention_hours == 24 && info.open_shard_count == 2 && info.consumer_count == 0);
    CHECK(info.created_ms == 1700000000000ull);
    CHECK_OK(tidelog_shard_list_count(shards, &n));
    CHECK(n == 2);
    tidelog_shard s0, s1;
    check_shard(shards, 0, "shardId-000000000000", TIDELOG_SHARD_STATE_OPEN, &s0);
    check_shard(shards, 1, "shardId-000000000001", TIDELOG_SHARD_STATE_OPEN, &s1);
    CHECK(strcmp(s0.starting_hash_key, "0") == 0);
    CHECK(strcmp(s1.ending_hash_key, MAX_HASH_KEY) == 0);
    CHECK(s0.parent_shard_id[0] == '\0' && s0.adjacent_parent_shard_id[0] == '\0');
    CHECK(s0.ending_sequence_number[0] == '\0' && s0.starting_sequence_number[0] != '\0');
    /* The ranges are adjacent: end(0) + 1 == start(1). */
    uint64_t ehi, elo, shi, slo;
    CHECK_OK(tidelog_u128_parse(s0.ending_hash_key, &ehi, &elo));
    CHECK_OK(tidelog_u128_parse(s1.starting_hash_key, &shi, &slo));
    CHECK(elo + 1 == slo && ehi + (elo == UINT64_MAX) == shi);
    CHECK_OK(tidelog_shard_list_free(shards));

    /* DescribeStreamSummary. */
    tidelog_stream_info summary = { .struct_size = sizeof summary };
    CHECK_OK(tidelog_describe_stream_summary(e, "logs", &summary));
    CHECK(strcmp(summary.name, "logs") == 0 && summary.open_shard_count == 1);
    CHECK(summary.stream_id != info.stream_id);

    /* ListShards with each filter. */
    CHECK_OK(tidelog_list_shards(e, "orders", TIDELOG_SHARD_FILTER_ALL, NULL, 0, &shards));
    CHECK_OK(tidelog_shard_list_count(shards, &n));
    CHECK(n == 2);
    CHECK_OK(tidelog_shard_list_free(shards));
    CHECK_OK(tidelog_list_shards(e, "orders", TIDELOG_SHARD_FILTER_AT_TRIM_HORIZON, NULL, 0, &shards));
    CHECK_OK(tidelog_shard_list_count(shards, &n));
    CHECK(n == 2);
    CHECK_OK(tidelog_shard_list_free(shards));
    CHECK_OK(tidelog_list_shards(e, "orders", TIDELOG_SHARD_FILTER_AT_LATEST, NULL, 0, &shards));
    CHECK_OK(tidelog_shard_list_count(shards, &n));
    CHECK(n == 2);
    CHECK_OK(tidelog_shard_list_free(shards));
    CHECK_OK(tidelog_list_shards(e, "orders", TIDELOG_SHARD_FILTER_AFTER_SHARD_ID,
                                 "shardId-000000000000", 0, &shards));
    CHECK_OK(tidelog_shard_list_count(shards, &n));
    CHECK(n == 1);
    check_shard(shards, 0, "shardId-000000000001", TIDELOG_SHARD_STATE_OPEN, &s1);
    CHECK_OK(tidelog_shard_list_free(shards));
    CHECK_OK(tidelog_list_shards(e, "orders", TIDELOG_SHARD_FILTER_AT_TIMESTAMP, NULL,
                                 1600000000000ull, &shards)); /* before the stream existed */
    CHECK_OK(tidelog_shard_list_count(shards, &n));
    CHECK(n == 0);
    CHECK_OK(tidelog_shard_list_free(shards));

    /* Tags. */
    const char *keys[] = { "team", "env" };
    const char *values[] = { "payments", "prod" };
    CHECK_OK(tidelog_add_tags_to_stream(e, "orders", keys, values, 2));
    tidelog_tag_list *tags = NULL;
    CHECK_OK(tidelog_list_tags_for_stream(e, "orders", &tags));
    CHECK_OK(tidelog_tag_list_count(tags, &n));
    CHECK(n == 2);
    const char *k = NULL, *v = NULL;
    CHECK_OK(tidelog_tag_list_get(tags, 0, &k, &v)); /* sorted by key */
    CHECK(strcmp(k, "env") == 0 && strcmp(v, "prod") == 0);
    CHECK_OK(tidelog_tag_list_get(tags, 1, &k, &v));
    CHECK(strcmp(k, "team") == 0 && strcmp(v, "payments") == 0);
    CHECK_OK(tidelog_tag_list_free(tags));
    CHECK_OK(tidelog_add_tags_to_stream(e, "orders", NULL, NULL, 0)); /* nothing to add */
    const char *gone[] = { "env", "absent" };
    CHECK_OK(tidelog_remove_tags_from_stream(e, "orders", gone, 2));
    CHECK_OK(tidelog_list_tags_for_stream(e, "orders", &tags));
    CHECK_OK(tidelog_tag_list_count(tags, &n));
    CHECK(n == 1);
    CHECK_OK(tidelog_tag_list_free(tags));

    /* Retention up and down. */
    CHECK_OK(tidelog_increase_stream_retention_period(e, "orders", 48));
    CHECK_OK(tidelog_describe_stream_summary(e, "orders", &summary));
    CHECK(summary.retention_hours == 48);
    CHECK_OK(tidelog_decrease_stream_retention_period(e, "orders", 24));
    CHECK_OK(tidelog_describe_stream_summary(e, "orders", &summary));
    CHECK(summary.retention_hours == 24);

    /* DeleteStream. */
    CHECK_OK(tidelog_delete_stream(e, "zzz-scratch"));
    CHECK_OK(tidelog_list_streams(e, 0, NULL, &names, &more));
    CHECK_OK(tidelog_string_list_count(names, &n));
    CHECK(n == 2);
    CHECK_OK(tidelog_string_list_free(names));
}

static void test_puts(tidelog_engine *e) {
    /* Explicit hash keys pick the shard. */
    tidelog_put_options o = { .struct_size = sizeof o, .explicit_hash_key = "0" };
    tidelog_put_record_output a = { .struct_size = sizeof a };
    CHECK_OK(tidelog_put_record(e, "orders", "k", (const uint8_t *)"first", 5, &o, &a));
    CHECK(strcmp(a.shard_id, "shardId-000000000000") == 0);
    o.explicit_hash_key = MAX_HASH_KEY;
    o.durability = TIDELOG_DURABILITY_OS;
    tidelog_put_record_output b = { .struct_size = sizeof b };
    CHECK_OK(tidelog_put_record(e, "orders", "k", (const uint8_t *)"last", 4, &o, &b));
    CHECK(strcmp(b.shard_id, "shardId-000000000001") == 0);

    /* SequenceNumberForOrdering: the new record's number is above the one given. */
    tidelog_put_options ordered = { .struct_size = sizeof ordered,
                                    .explicit_hash_key = "0",
                                    .sequence_number_for_ordering = a.sequence_number,
                                    .durability = TIDELOG_DURABILITY_SYNC };
    tidelog_put_record_output c = { .struct_size = sizeof c };
    CHECK_OK(tidelog_put_record(e, "orders", "k", (const uint8_t *)"second", 6, &ordered, &c));
    CHECK(strcmp(c.shard_id, "shardId-000000000000") == 0);
    CHECK(tl_seq_cmp(c.sequence_number, a.sequence_number) > 0);

    /* Empty data is a valid record (NULL with length 0). */
    tidelog_put_record_output empty = { .struct_size = sizeof empty };
    CHECK_OK(tidelog_put_record(e, "logs", "k", NULL, 0, NULL, &empty));

    /* PutRecords: per-entry results in order. */
    tidelog_put_records_entry entries[3] = {
        { .struct_size = sizeof entries[0], .partition_key = "a", .data = (const uint8_t *)"r1",
          .data_len = 2, .explicit_hash_key = "0" },
        { .struct_size = sizeof entries[0], .partition_key = "b", .data = (const uint8_t *)"r2",
          .data_len = 2, .explicit_hash_key = MAX_HASH_KEY },
        { .struct_size = sizeof entries[0], .partition_key = "c", .data = (const uint8_t *)"r3",
          .data_len = 2, .explicit_hash_key = "0" },
    };
    tidelog_put_records_output *out = NULL;
    CHECK_OK(tidelog_put_records(e, "orders", entries, 3, TIDELOG_DURABILITY_DEFAULT, &out));
    size_t count = 0, failed = 9;
    CHECK_OK(tidelog_put_records_output_count(out, &count));
    CHECK_OK(tidelog_put_records_output_failed_count(out, &failed));
    CHECK(count == 3 && failed == 0);
    tidelog_put_records_result r[3];
    for (size_t i = 0; i < 3; i++) {
        r[i].struct_size = sizeof r[i];
        CHECK_OK(tidelog_put_records_output_get(out, i, &r[i]));
        CHECK(r[i].status == TIDELOG_STATUS_OK);
        CHECK(r[i].error_message != NULL && r[i].error_message[0] == '\0');
    }
    CHECK(strcmp(r[0].shard_id, "shardId-000000000000") == 0);
    CHECK(strcmp(r[1].shard_id, "shardId-000000000001") == 0);
    CHECK(tl_seq_cmp(r[2].sequence_number, r[0].sequence_number) > 0); /* same shard, in order */
    CHECK(tl_seq_cmp(r[0].sequence_number, c.sequence_number) > 0);
    CHECK_OK(tidelog_put_records_output_free(out));

    char data[256];
    CHECK(tl_read_all(e, "orders", "shardId-000000000000", data, sizeof data) == 4);
    CHECK(strcmp(data, "first|second|r1|r3|") == 0);
    CHECK(tl_read_all(e, "orders", "shardId-000000000001", data, sizeof data) == 2);
    CHECK(strcmp(data, "last|r2|") == 0);
}

static size_t read_count(tidelog_iterator *it, tidelog_batch **batch_out) {
    tidelog_batch *b = NULL;
    CHECK_OK(tidelog_get_records(it, 0, &b));
    size_t n = 99;
    CHECK_OK(tidelog_batch_count(b, &n));
    if (batch_out) {
        *batch_out = b;
    } else {
        CHECK_OK(tidelog_batch_free(b));
    }
    return n;
}

static void test_iterators(tidelog_engine *e) {
    CHECK_OK(tidelog_create_stream(e, "iter", 1));
    const char *shard = "shardId-000000000000";
    tidelog_put_record_output p1 = tl_put(e, "iter", "key-1", "one");
    tidelog_put_record_output p2 = tl_put(e, "iter", "key-2", "two");
    CHECK_OK(tidelog_engine_advance_clock(e, 1000));
    tidelog_put_record_output p3 = tl_put(e, "iter", "key-3", "three");
    (void)p3;

    /* TRIM_HORIZON: everything, with every field of the records. */
    tidelog_iterator *it = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "iter", shard, TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL,
                                        0, &it));
    tidelog_batch *b = NULL;
    CHECK(read_count(it, &b) == 3);
    tidelog_record rec = { .struct_size = sizeof rec };
    CHECK_OK(tidelog_batch_record(b, 1, &rec));
    CHECK(strcmp(rec.sequence_number, p2.sequence_number) == 0);
    CHECK(rec.partition_key_len == 5 && memcmp(rec.partition_key, "key-2", 5) == 0);
    CHECK(rec.data_len == 3 && memcmp(rec.data, "two", 3) == 0);
    CHECK(rec.approximate_arrival_timestamp_ms == 1700000000000ull);
    CHECK_OK(tidelog_batch_record(b, 2, &rec));
    CHECK(rec.approximate_arrival_timestamp_ms == 1700000001000ull);
    const char *batch_shard = NULL;
    CHECK_OK(tidelog_batch_shard_id(b, &batch_shard));
    CHECK(strcmp(batch_shard, shard) == 0);
    uint64_t behind = 99;
    CHECK_OK(tidelog_batch_millis_behind_latest(b, &behind));
    CHECK(behind == 0);
    size_t children = 9;
    CHECK_OK(tidelog_batch_child_shard_count(b, &children));
    CHECK(children == 0);
    CHECK_OK(tidelog_batch_free(b));
    /* At the tip: an empty batch, and the iterator goes on. */
    CHECK(read_count(it, NULL) == 0);
    bool ended = true;
    CHECK_OK(tidelog_iterator_is_ended(it, &ended));
    CHECK(!ended);

    /* A limit. */
    tidelog_iterator *limited = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "iter", shard, TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL,
                                        0, &limited));
    CHECK_OK(tidelog_get_records(limited, 2, &b));
    size_t n = 0;
    CHECK_OK(tidelog_batch_count(b, &n));
    CHECK(n == 2);
    CHECK_OK(tidelog_batch_record(b, 0, &rec));
    CHECK(strcmp(rec.sequence_number, p1.sequence_number) == 0);
    CHECK_OK(tidelog_batch_free(b));
    CHECK(read_count(limited, NULL) == 1);
    CHECK_OK(tidelog_iterator_free(limited));

    /* LATEST sees only what comes after it. */
    tidelog_iterator *latest = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "iter", shard, TIDELOG_ITERATOR_TYPE_LATEST, NULL, 0,
                                        &latest));
    CHECK(read_count(latest, NULL) == 0);
    tl_put(e, "iter", "key-4", "four");
    CHECK(read_count(latest, &b) == 1);
    CHECK_OK(tidelog_batch_record(b, 0, &rec));
    CHECK(rec.data_len == 4 && memcmp(rec.data, "four", 4) == 0);
    CHECK_OK(tidelog_batch_free(b));
    CHECK_OK(tidelog_iterator_free(latest));
    /* The first iterator sees the new record too. */
    CHECK(read_count(it, NULL) == 1);

    /* AT_ and AFTER_SEQUENCE_NUMBER. */
    tidelog_iterator *at = NULL, *after = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "iter", shard, TIDELOG_ITERATOR_TYPE_AT_SEQUENCE_NUMBER,
                                        p2.sequence_number, 0, &at));
    CHECK(read_count(at, &b) == 3);
    CHECK_OK(tidelog_batch_record(b, 0, &rec));
    CHECK(strcmp(rec.sequence_number, p2.sequence_number) == 0);
    CHECK_OK(tidelog_batch_free(b));
    CHECK_OK(tidelog_get_shard_iterator(e, "iter", shard,
                                        TIDELOG_ITERATOR_TYPE_AFTER_SEQUENCE_NUMBER,
                                        p2.sequence_number, 0, &after));
    CHECK(read_count(after, &b) == 2);
    CHECK_OK(tidelog_batch_record(b, 0, &rec));
    CHECK(rec.data_len == 5 && memcmp(rec.data, "three", 5) == 0);
    CHECK_OK(tidelog_batch_free(b));
    CHECK_OK(tidelog_iterator_free(at));
    CHECK_OK(tidelog_iterator_free(after));

    /* AT_TIMESTAMP: records that arrived at or after the time. */
    tidelog_iterator *ts = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "iter", shard, TIDELOG_ITERATOR_TYPE_AT_TIMESTAMP, NULL,
                                        1700000001000ull, &ts));
    CHECK(read_count(ts, &b) == 2);
    CHECK_OK(tidelog_batch_record(b, 0, &rec));
    CHECK(rec.data_len == 5 && memcmp(rec.data, "three", 5) == 0);
    CHECK_OK(tidelog_batch_free(b));
    CHECK_OK(tidelog_iterator_free(ts));

    /* A token saved and used again (another handle on the same position). */
    tidelog_iterator *start = NULL, *copy = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "iter", shard, TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL,
                                        0, &start));
    char token[TIDELOG_ITERATOR_TOKEN_BUFFER_SIZE];
    CHECK_OK(tidelog_iterator_token(start, token, sizeof token));
    CHECK(strlen(token) == TIDELOG_ITERATOR_TOKEN_BUFFER_SIZE - 1);
    CHECK_OK(tidelog_iterator_from_token(e, token, &copy));
    CHECK(read_count(copy, &b) == 4);
    CHECK_OK(tidelog_batch_shard_id(b, &batch_shard));
    CHECK(strcmp(batch_shard, "") == 0); /* unknown for an imported token */
    CHECK_OK(tidelog_batch_free(b));
    CHECK(read_count(start, NULL) == 4);
    CHECK_OK(tidelog_iterator_free(copy));
    CHECK_OK(tidelog_iterator_free(start));
    CHECK_OK(tidelog_iterator_free(it));
}

static void split_point(const tidelog_shard *s, char *out) {
    /* The midpoint of the shard's range, computed with the u128 helpers. */
    uint64_t shi, slo, ehi, elo;
    CHECK_OK(tidelog_u128_parse(s->starting_hash_key, &shi, &slo));
    CHECK_OK(tidelog_u128_parse(s->ending_hash_key, &ehi, &elo));
    /* (start + end) / 2 without overflow: start/2 + end/2 + (both odd). */
    uint64_t hi = (shi >> 1) + (ehi >> 1);
    uint64_t lo_a = (slo >> 1) | ((shi & 1) << 63);
    uint64_t lo_b = (elo >> 1) | ((ehi & 1) << 63);
    uint64_t lo = lo_a + lo_b;
    if (lo < lo_a) hi++;
    uint64_t carry = (slo & 1) & (elo & 1);
    if (lo + carry < lo) hi++;
    lo += carry;
    CHECK_OK(tidelog_u128_format(hi, lo, out, TIDELOG_HASH_KEY_BUFFER_SIZE));
}

static void test_resharding(tidelog_engine *e) {
    CHECK_OK(tidelog_create_stream(e, "grow", 1));
    tidelog_put_record_output before = tl_put(e, "grow", "k", "before");
    tidelog_shard_list *shards = NULL;
    tidelog_stream_info info = { .struct_size = sizeof info };
    CHECK_OK(tidelog_describe_stream(e, "grow", &info, &shards));
    tidelog_shard parent = { .struct_size = sizeof parent };
    CHECK_OK(tidelog_shard_list_get(shards, 0, &parent));
    CHECK_OK(tidelog_shard_list_free(shards));
    char mid[TIDELOG_HASH_KEY_BUFFER_SIZE];
    split_point(&parent, mid);
    CHECK(strcmp(mid, "170141183460469231731687303715884105727") == 0); /* (2^128 - 1) / 2 */

    CHECK_OK(tidelog_split_shard(e, "grow", "shardId-000000000000", mid));
    CHECK_OK(tidelog_describe_stream(e, "grow", &info, &shards));
    size_t n = 0;
    CHECK_OK(tidelog_shard_list_count(shards, &n));
    CHECK(n == 3 && info.open_shard_count == 2);
    tidelog_shard s = { .struct_size = sizeof s };
    CHECK_OK(tidelog_shard_list_get(shards, 0, &s));
    CHECK(s.state == TIDELOG_SHARD_STATE_CLOSED);
    CHECK(strcmp(s.ending_sequence_number, before.sequence_number) == 0);
    CHECK_OK(tidelog_shard_list_get(shards, 2, &s));
    CHECK(strcmp(s.parent_shard_id, "shardId-000000000000") == 0);
    CHECK(s.state == TIDELOG_SHARD_STATE_OPEN);
    CHECK(strcmp(s.starting_hash_key, mid) == 0);
    CHECK_OK(tidelog_shard_list_free(shards));

    /* Reading the closed parent to its end: the last batch lists the children and
     * the iterator ends. */
    tidelog_iterator *it = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "grow", "shardId-000000000000",
                                        TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0, &it));
    tidelog_batch *b = NULL;
    bool ended = false;
    size_t children = 0;
    for (int round = 0; round < 4 && !ended; round++) {
        CHECK_OK(tidelog_get_records(it, 0, &b));
        CHECK_OK(tidelog_batch_child_shard_count(b, &children));
        CHECK_OK(tidelog_iterator_is_ended(it, &ended));
        if (!ended) CHECK_OK(tidelog_batch_free(b));
    }
    REQUIRE(ended);
    CHECK(children == 2);
    tidelog_child_shard child = { .struct_size = sizeof child };
    CHECK_OK(tidelog_batch_child_shard(b, 0, &child));
    CHECK(strcmp(child.parent_shard_id, "shardId-000000000000") == 0);
    CHECK(child.adjacent_parent_shard_id[0] == '\0');
    CHECK(strcmp(child.starting_hash_key, "0") == 0);
    CHECK_OK(tidelog_batch_child_shard(b, 1, &child));
    CHECK(strcmp(child.starting_hash_key, mid) == 0);
    CHECK(strcmp(child.ending_hash_key, MAX_HASH_KEY) == 0);
    CHECK_OK(tidelog_batch_free(b));
    char token[TIDELOG_ITERATOR_TOKEN_BUFFER_SIZE];
    CHECK_STATUS(tidelog_iterator_token(it, token, sizeof token), TIDELOG_STATUS_ITERATOR_ENDED);
    CHECK_STATUS(tidelog_get_records(it, 0, &b), TIDELOG_STATUS_ITERATOR_ENDED);
    CHECK(b == NULL);
    CHECK_OK(tidelog_iterator_free(it));

    /* Merge the children back; then scale to 4 and back to 2 shards. */
    CHECK_OK(tidelog_merge_shards(e, "grow", "shardId-000000000001", "shardId-000000000002"));
    CHECK_OK(tidelog_list_shards(e, "grow", TIDELOG_SHARD_FILTER_AT_LATEST, NULL, 0, &shards));
    CHECK_OK(tidelog_shard_list_count(shards, &n));
    CHECK(n == 1);
    CHECK_OK(tidelog_shard_list_get(shards, 0, &s));
    CHECK(strcmp(s.shard_id, "shardId-000000000003") == 0);
    CHECK(strcmp(s.parent_shard_id, "shardId-000000000001") == 0);
    CHECK(strcmp(s.adjacent_parent_shard_id, "shardId-000000000002") == 0);
    CHECK_OK(tidelog_shard_list_free(shards));
    uint32_t current = 0, target = 0;
    CHECK_OK(tidelog_update_shard_count(e, "grow", 2, NULL, &current, &target));
    CHECK(current == 1 && target == 2);
    CHECK_OK(tidelog_update_shard_count(e, "grow", 4, "UNIFORM_SCALING", NULL, NULL));
    CHECK_OK(tidelog_describe_stream_summary(e, "grow", &info));
    CHECK(info.open_shard_count == 4);

    /* Every record is still readable after the reshards. */
    char data[64];
    CHECK(tl_read_all(e, "grow", "shardId-000000000000", data, sizeof data) == 1);
    CHECK(strcmp(data, "before|") == 0);
}

static void test_expiry_and_maintenance(tidelog_engine *e) {
    /* Closed shards whose records are all past retention expire. */
    CHECK_OK(tidelog_create_stream(e, "short", 1));
    tl_put(e, "short", "k", "old");
    CHECK_OK(tidelog_split_shard(e, "short", "shardId-000000000000", "1000"));
    CHECK_OK(tidelog_decrease_stream_retention_period(e, "short", 1));
    size_t expired = 99;
    CHECK_OK(tidelog_expire_shards(e, &expired));
    CHECK(expired == 0); /* not old enough yet */
    CHECK_OK(tidelog_engine_advance_clock(e, 2 * 3600 * 1000));
    CHECK_OK(tidelog_expire_shards(e, &expired));
    CHECK(expired == 1);
    tidelog_shard_list *shards = NULL;
    CHECK_OK(tidelog_list_shards(e, "short", TIDELOG_SHARD_FILTER_ALL, NULL, 0, &shards));
    size_t n = 0;
    CHECK_OK(tidelog_shard_list_count(shards, &n));
    CHECK(n == 2); /* the parent is no longer listed */
    CHECK_OK(tidelog_shard_list_free(shards));
    CHECK_OK(tidelog_expire_shards(e, NULL));

    uint64_t deleted = 99, freed = 99;
    CHECK_OK(tidelog_engine_run_maintenance(e, &deleted, &freed));
    CHECK(deleted < 99 && freed < UINT64_MAX); /* written by the call */
    CHECK_OK(tidelog_engine_run_maintenance(e, NULL, NULL));
    CHECK_OK(tidelog_engine_flush(e));
    uint32_t cores = 0;
    CHECK_OK(tidelog_engine_cores(e, &cores));
    CHECK(cores == 1);
}

static void test_metrics(tidelog_engine *e) {
    tidelog_metrics_list *list = NULL;
    CHECK_OK(tidelog_metrics(e, "orders", &list));
    size_t n = 0;
    CHECK_OK(tidelog_metrics_list_count(list, &n));
    CHECK(n == 2);
    tidelog_shard_metrics m = { .struct_size = sizeof m };
    uint64_t records = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(tidelog_metrics_list_get(list, i, &m));
        CHECK(strcmp(m.stream, "orders") == 0);
        CHECK(strncmp(m.shard_id, "shardId-", 8) == 0);
        records += m.incoming_records;
        bytes += m.incoming_bytes;
    }
    CHECK(records == 6); /* first, last, second, r1, r2, r3 */
    CHECK_OK(tidelog_metrics_list_free(list));
    tidelog_shard_metrics total = { .struct_size = sizeof total };
    CHECK_OK(tidelog_stream_metrics_total(e, "orders", &total));
    CHECK(total.incoming_records == records && total.incoming_bytes == bytes);
    CHECK(total.outgoing_records >= 6 && total.get_records_calls > 0);
    CHECK(total.shard_id[0] == '\0');
    CHECK_OK(tidelog_metrics(e, NULL, &list)); /* every stream */
    CHECK_OK(tidelog_metrics_list_count(list, &n));
    CHECK(n > 2);
    CHECK_OK(tidelog_metrics_list_free(list));

    /* OpenMetrics: ask for the size, then read. */
    size_t len = 0;
    CHECK_STATUS(tidelog_metrics_openmetrics(e, NULL, 0, &len), TIDELOG_STATUS_BUFFER_TOO_SMALL);
    CHECK(len > 0);
    size_t cap = len + 4096; /* room for growth between the two calls */
    char *text = malloc(cap);
    REQUIRE(text != NULL);
    CHECK_OK(tidelog_metrics_openmetrics(e, text, cap, &len));
    CHECK(strlen(text) == len);
    CHECK(strstr(text, "tidelog_stream_incoming_records") != NULL);
    CHECK(strstr(text, "stream=\"orders\"") != NULL);
    CHECK(len >= 6 && strcmp(text + len - 6, "# EOF\n") == 0);
    free(text);
}

static void test_blocking_subscription(tidelog_engine *e) {
    tidelog_subscription *sub = NULL;
    CHECK_OK(tidelog_subscribe(e, "orders", "shardId-000000000001",
                               TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0, false, &sub));
    tidelog_subscription_event ev = { .struct_size = sizeof ev };
    CHECK_OK(tidelog_subscription_next(sub, 1000, &ev));
    CHECK(ev.kind == TIDELOG_EVENT_KIND_RECORDS && ev.status == TIDELOG_STATUS_OK);
    CHECK(strcmp(ev.shard_id, "shardId-000000000001") == 0);
    size_t n = 0;
    CHECK_OK(tidelog_batch_count(ev.batch, &n));
    CHECK(n == 2);
    tidelog_record rec = { .struct_size = sizeof rec };
    CHECK_OK(tidelog_batch_record(ev.batch, 1, &rec));
    CHECK(rec.data_len == 2 && memcmp(rec.data, "r2", 2) == 0);
    CHECK_OK(tidelog_batch_free(ev.batch));
    CHECK_OK(tidelog_subscription_next(sub, 5, &ev));
    CHECK(ev.kind == TIDELOG_EVENT_KIND_TIMEOUT && ev.batch == NULL);
    tidelog_string_list *ids = NULL;
    CHECK_OK(tidelog_subscription_shard_ids(sub, &ids));
    CHECK_OK(tidelog_string_list_count(ids, &n));
    const char *id = NULL;
    CHECK_OK(tidelog_string_list_get(ids, 0, &id));
    CHECK(n == 1 && strcmp(id, "shardId-000000000001") == 0);
    CHECK_OK(tidelog_string_list_free(ids));
    CHECK_OK(tidelog_subscription_close(sub));

    /* With lineage following across a split: the parent ends, the children follow. */
    CHECK_OK(tidelog_create_stream(e, "lineage", 1));
    tl_put(e, "lineage", "k", "p");
    CHECK_OK(tidelog_subscribe(e, "lineage", "shardId-000000000000",
                               TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0, true, &sub));
    CHECK_OK(tidelog_split_shard(e, "lineage", "shardId-000000000000", "1000"));
    tidelog_put_options low = { .struct_size = sizeof low, .explicit_hash_key = "5" };
    tidelog_put_record_output out = { .struct_size = sizeof out };
    CHECK_OK(tidelog_put_record(e, "lineage", "k", (const uint8_t *)"c", 1, &low, &out));
    CHECK(strcmp(out.shard_id, "shardId-000000000001") == 0);
    const char *expect[] = { "records", "ended", "records" };
    for (int i = 0; i < 3; i++) {
        CHECK_OK(tidelog_subscription_next(sub, 5000, &ev));
        if (strcmp(expect[i], "records") == 0) {
            CHECK(ev.kind == TIDELOG_EVENT_KIND_RECORDS);
        } else {
            CHECK(ev.kind == TIDELOG_EVENT_KIND_SHARD_ENDED);
            CHECK(strcmp(ev.shard_id, "shardId-000000000000") == 0);
            CHECK_OK(tidelog_batch_count(ev.batch, &n));
            CHECK(n == 0);
            CHECK_OK(tidelog_batch_child_shard_count(ev.batch, &n));
            CHECK(n == 2);
        }
        CHECK_OK(tidelog_batch_free(ev.batch));
    }
    CHECK_OK(tidelog_subscription_close(sub));
}

int main(void) {
    test_versions_and_names();
    test_u128();
    tidelog_engine_options o = tl_options();
    o.manual_clock_start_ms = 1700000000000ull;
    o.retention_hours_min = 1;
    tidelog_engine *e = tl_open("api", &o);
    test_streams(e);
    test_puts(e);
    test_iterators(e);
    test_resharding(e);
    test_expiry_and_maintenance(e);
    test_metrics(e);
    test_blocking_subscription(e);

    /* Close keeps the handle: calls answer CLOSED until the free. */
    CHECK_OK(tidelog_engine_close(e));
    CHECK_OK(tidelog_engine_close(e)); /* idempotent */
    CHECK_STATUS(tidelog_create_stream(e, "late", 1), TIDELOG_STATUS_CLOSED);
    CHECK_OK(tidelog_engine_free(e));

    /* Reopen: the streams and records are still there. */
    o.manual_clock_start_ms = 1700000000000ull + 3 * 3600 * 1000;
    e = tl_open("api", &o);
    char data[256];
    CHECK(tl_read_all(e, "orders", "shardId-000000000000", data, sizeof data) == 4);
    CHECK(strcmp(data, "first|second|r1|r3|") == 0);
    CHECK_OK(tidelog_engine_free(e));

    /* NULL options: the defaults (one core per CPU, pinned). Not under Valgrind, where
     * the default 2 ms preemption timer trips glommio's start-up race (run.sh sets
     * TL_PREEMPT_TIMER_US there; docs/c-api.md, preempt_timer_us). */
    if (!getenv("TL_PREEMPT_TIMER_US")) {
        char defaults_dir[4096];
        tl_path(defaults_dir, sizeof defaults_dir, "defaults");
        tidelog_engine *d = NULL;
        CHECK_OK(tidelog_engine_open(defaults_dir, NULL, &d));
        uint32_t cores = 0;
        CHECK_OK(tidelog_engine_cores(d, &cores));
        CHECK(cores >= 1);
        CHECK_OK(tidelog_create_stream(d, "s", 1));
        tidelog_put_record_output put = tl_put(d, "s", "k", "durable by default");
        CHECK(strcmp(put.shard_id, "shardId-000000000000") == 0);
        CHECK_OK(tidelog_engine_free(d));
    } else {
        printf("test_api: the NULL-options open is not run under Valgrind (see the comment)\n");
    }
    return tl_finish("test_api");
}
