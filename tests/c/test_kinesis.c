/*
 * test_kinesis.c: the rest of the Kinesis Data Streams API from C: consumers and
 * SubscribeToShard, CreateStream's full form, ARNs, tags and policies by ARN,
 * DescribeLimits, enhanced monitoring, encryption with a key provider callback (and
 * a scan of the data directory for plaintext), large records, capacity modes, warm
 * throughput, account settings, on-demand scaling; the errors of each, and hostile
 * arguments (NULLs, bad enums, freed handles, oversized buffers).
 */
#include "tl_test.h"

#include <fcntl.h>

static const char *SHARD0 = "shardId-000000000000";

/* ---- a key provider callback --------------------------------------------------- */

static int provider_calls;

/* Knows "alias/app" (32 bytes of 0x5a); refuses others as KMS_NOT_FOUND; "alias/off"
 * is disabled. */
static tidelog_status provider(void *user_data, const char *key_id, uint8_t *key_out) {
    CHECK(user_data == &provider_calls);
    provider_calls++;
    if (strcmp(key_id, "alias/app") == 0) {
        memset(key_out, 0x5a, TIDELOG_KEY_BYTES);
        return TIDELOG_STATUS_OK;
    }
    if (strcmp(key_id, "alias/off") == 0) return TIDELOG_STATUS_KMS_DISABLED;
    return TIDELOG_STATUS_KMS_NOT_FOUND;
}

/* A different key for "alias/app": a wrong key. */
static tidelog_status wrong_provider(void *user_data, const char *key_id, uint8_t *key_out) {
    (void)user_data;
    (void)key_id;
    memset(key_out, 0x11, TIDELOG_KEY_BYTES);
    return TIDELOG_STATUS_OK;
}

/* ---- helpers ----------------------------------------------------------------- */

static void arn_of(tidelog_engine *e, const char *stream, char *out) {
    size_t len = 0;
    CHECK_OK(tidelog_stream_arn(e, stream, out, TIDELOG_ARN_BUFFER_SIZE, &len));
    CHECK(len == strlen(out));
}

/* Is `needle` anywhere in a file under `dir`? */
static bool tl_found;
static const char *tl_needle;
static int scan_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag != FTW_F || st->st_size == 0) return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    char *buf = malloc((size_t)st->st_size);
    if (buf && read(fd, buf, (size_t)st->st_size) == st->st_size) {
        size_t n = strlen(tl_needle);
        for (off_t i = 0; i + (off_t)n <= st->st_size; i++) {
            if (memcmp(buf + i, tl_needle, n) == 0) {
                tl_found = true;
                break;
            }
        }
    }
    free(buf);
    close(fd);
    return 0;
}
static bool found_in(const char *dir, const char *needle) {
    tl_found = false;
    tl_needle = needle;
    nftw(dir, scan_entry, 16, FTW_PHYS);
    return tl_found;
}

/* ---- consumers and SubscribeToShard --------------------------------------------- */

static void test_consumers(tidelog_engine *e) {
    CHECK_OK(tidelog_create_stream(e, "fan", 1));
    char stream_arn[TIDELOG_ARN_BUFFER_SIZE];
    arn_of(e, "fan", stream_arn);
    CHECK(strcmp(stream_arn, "arn:aws:kinesis:eu-west-1:123456789012:stream/fan") == 0);

    const char *keys[] = { "team" };
    const char *values[] = { "data" };
    tidelog_consumer c = { .struct_size = sizeof c };
    CHECK_OK(tidelog_register_stream_consumer(e, "fan", "app", keys, values, 1, &c));
    CHECK(strcmp(c.name, "app") == 0 && c.status == TIDELOG_CONSUMER_STATUS_CREATING);
    CHECK(strncmp(c.arn, stream_arn, strlen(stream_arn)) == 0);
    CHECK(strstr(c.arn, "/consumer/app:1700000000") != NULL);
    CHECK(strcmp(c.stream_arn, stream_arn) == 0 && c.created_ms == 1700000000000ull);
    CHECK_STATUS(tidelog_register_stream_consumer(e, "fan", "app", NULL, NULL, 0, &c),
                 TIDELOG_STATUS_RESOURCE_IN_USE);
    CHECK_STATUS(tidelog_register_stream_consumer(e, "fan", "bad name", NULL, NULL, 0, &c),
                 TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_register_stream_consumer(e, "nope", "x", NULL, NULL, 0, &c),
                 TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    tidelog_consumer d = { .struct_size = sizeof d };
    CHECK_OK(tidelog_describe_stream_consumer(e, NULL, NULL, c.arn, &d));
    CHECK(d.status == TIDELOG_CONSUMER_STATUS_ACTIVE && strcmp(d.arn, c.arn) == 0);
    CHECK_OK(tidelog_describe_stream_consumer(e, "fan", "app", NULL, &d));
    CHECK_STATUS(tidelog_describe_stream_consumer(e, "fan", NULL, NULL, &d), TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_describe_stream_consumer(e, "fan", "other", c.arn, &d),
                 TIDELOG_STATUS_INVALID_ARGUMENT);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        CHECK_OK(tidelog_register_stream_consumer(e, "fan", name, NULL, NULL, 0, &d));
    }
    tidelog_consumer_list *list = NULL;
    bool more = false;
    CHECK_OK(tidelog_list_stream_consumers(e, "fan", 2, NULL, &list, &more));
    size_t n = 0;
    CHECK_OK(tidelog_consumer_list_count(list, &n));
    CHECK(n == 2 && more);
    CHECK_OK(tidelog_consumer_list_get(list, 1, &d));
    CHECK(strcmp(d.name, "c0") == 0);
    CHECK_STATUS(tidelog_consumer_list_get(list, 2, &d), TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_OK(tidelog_consumer_list_free(list));
    CHECK_OK(tidelog_list_stream_consumers(e, "fan", 0, "c0", &list, &more));
    CHECK_OK(tidelog_consumer_list_count(list, &n));
    CHECK(n == 2 && !more);
    CHECK_OK(tidelog_consumer_list_free(list));
    CHECK_STATUS(tidelog_consumer_list_count(list, &n), TIDELOG_STATUS_INVALID_HANDLE);

    /* SubscribeToShard: records, continuation, heartbeat, takeover, lifetime. */
    tidelog_put_record_output first = tl_put(e, "fan", "k", "one");
    tidelog_shard_subscription *sub = NULL;
    CHECK_OK(tidelog_subscribe_to_shard(e, c.arn, SHARD0, TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0,
                                        &sub));
    tidelog_shard_event ev = { .struct_size = sizeof ev };
    CHECK_OK(tidelog_shard_subscription_next(sub, 5000, &ev));
    CHECK(ev.kind == TIDELOG_SHARD_EVENT_KIND_EVENT && ev.has_continuation == 1);
    CHECK(strcmp(ev.continuation_sequence_number, first.sequence_number) == 0);
    CHECK_OK(tidelog_batch_count(ev.batch, &n));
    CHECK(n == 1);
    tidelog_record r = { .struct_size = sizeof r };
    CHECK_OK(tidelog_batch_record(ev.batch, 0, &r));
    CHECK(r.data_len == 3 && memcmp(r.data, "one", 3) == 0 && r.encrypted == 0);
    CHECK_OK(tidelog_batch_free(ev.batch));
    CHECK_OK(tidelog_shard_subscription_next(sub, 10, &ev));
    CHECK(ev.kind == TIDELOG_SHARD_EVENT_KIND_TIMEOUT && ev.batch == NULL);
    tidelog_shard_subscription *again = NULL;
    CHECK_STATUS(tidelog_subscribe_to_shard(e, c.arn, SHARD0, TIDELOG_ITERATOR_TYPE_LATEST, NULL, 0,
                                            &again),
                 TIDELOG_STATUS_RESOURCE_IN_USE);
    CHECK(again == NULL);
    CHECK_OK(tidelog_engine_advance_clock(e, 5000));
    CHECK_OK(tidelog_shard_subscription_next(sub, 10, &ev));
    CHECK(ev.kind == TIDELOG_SHARD_EVENT_KIND_EVENT); /* the heartbeat */
    CHECK_OK(tidelog_batch_count(ev.batch, &n));
    CHECK(n == 0);
    CHECK_OK(tidelog_batch_free(ev.batch));
    CHECK_OK(tidelog_subscribe_to_shard(e, c.arn, SHARD0, TIDELOG_ITERATOR_TYPE_AFTER_SEQUENCE_NUMBER,
                                        first.sequence_number, 0, &again));
    CHECK_STATUS(tidelog_shard_subscription_next(sub, 10, &ev), TIDELOG_STATUS_RESOURCE_IN_USE);
    CHECK_OK(tidelog_shard_subscription_free(sub));
    CHECK_OK(tidelog_engine_advance_clock(e, 300000));
    CHECK_OK(tidelog_shard_subscription_next(again, 10, &ev));
    CHECK(ev.kind == TIDELOG_SHARD_EVENT_KIND_END);
    CHECK_OK(tidelog_shard_subscription_free(again));
    CHECK_STATUS(tidelog_shard_subscription_free(again), TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_OK(tidelog_shard_subscription_free(NULL));
    CHECK_STATUS(tidelog_subscribe_to_shard(e, c.arn, SHARD0, 99, NULL, 0, &again),
                 TIDELOG_STATUS_INVALID_ENUM_VALUE);
    CHECK_STATUS(tidelog_shard_subscription_next(NULL, 0, &ev), TIDELOG_STATUS_NULL_POINTER);

    CHECK_OK(tidelog_deregister_stream_consumer(e, NULL, NULL, c.arn));
    CHECK_STATUS(tidelog_describe_stream_consumer(e, NULL, NULL, c.arn, &d),
                 TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK_STATUS(tidelog_delete_stream(e, "fan"), TIDELOG_STATUS_RESOURCE_IN_USE);
    CHECK_STATUS(tidelog_delete_stream_with(e, "fan", 2), TIDELOG_STATUS_INVALID_ENUM_VALUE);
    CHECK_OK(tidelog_delete_stream_with(e, "fan", 1));
}

/* ---- tags, policies, limits, monitoring ------------------------------------------ */

static void test_resources(tidelog_engine *e) {
    CHECK_OK(tidelog_create_stream(e, "res", 2));
    char arn[TIDELOG_ARN_BUFFER_SIZE];
    arn_of(e, "res", arn);
    const char *keys[] = { "b", "a" };
    const char *values[] = { "2", "1" };
    CHECK_OK(tidelog_tag_resource(e, arn, keys, values, 2));
    tidelog_tag_list *tags = NULL;
    CHECK_OK(tidelog_list_tags_for_resource(e, arn, &tags));
    size_t n = 0;
    CHECK_OK(tidelog_tag_list_count(tags, &n));
    CHECK(n == 2);
    CHECK_OK(tidelog_tag_list_free(tags));
    CHECK_OK(tidelog_untag_resource(e, arn, keys, 1));
    CHECK_OK(tidelog_list_tags_for_resource(e, arn, &tags));
    CHECK_OK(tidelog_tag_list_count(tags, &n));
    CHECK(n == 1);
    CHECK_OK(tidelog_tag_list_free(tags));
    CHECK_STATUS(tidelog_tag_resource(e, "arn:nope", keys, values, 1), TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_tag_resource(e, "arn:aws:kinesis:eu-west-1:123456789012:stream/none", keys,
                                      values, 1),
                 TIDELOG_STATUS_RESOURCE_NOT_FOUND);

    const char *policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                         "\"Principal\":\"*\",\"Action\":\"kinesis:GetRecords\"}]}";
    char buf[512];
    size_t len = 0;
    bool found = true;
    CHECK_OK(tidelog_get_resource_policy(e, arn, buf, sizeof buf, &len, &found));
    CHECK(!found && len == 0 && buf[0] == '\0');
    CHECK_OK(tidelog_put_resource_policy(e, arn, (const uint8_t *)policy, strlen(policy)));
    CHECK_STATUS(tidelog_get_resource_policy(e, arn, buf, 4, &len, &found),
                 TIDELOG_STATUS_BUFFER_TOO_SMALL);
    CHECK(len == strlen(policy));
    CHECK_OK(tidelog_get_resource_policy(e, arn, buf, sizeof buf, &len, &found));
    CHECK(found && strcmp(buf, policy) == 0);
    CHECK_STATUS(tidelog_put_resource_policy(e, arn, (const uint8_t *)"{}", 2),
                 TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tidelog_put_resource_policy(e, arn, (const uint8_t *)"\xff", 1),
                 TIDELOG_STATUS_INVALID_UTF8);
    CHECK_STATUS(tidelog_put_resource_policy(e, arn, NULL, 5), TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_put_resource_policy(e, arn, (const uint8_t *)policy, TIDELOG_POLICY_BYTES_MAX + 1),
                 TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_OK(tidelog_delete_resource_policy(e, arn));
    CHECK_STATUS(tidelog_delete_resource_policy(e, arn), TIDELOG_STATUS_RESOURCE_NOT_FOUND);

    tidelog_limits_info limits = { .struct_size = sizeof limits };
    CHECK_OK(tidelog_describe_limits(e, &limits));
    CHECK(limits.shard_limit == 10000 && limits.open_shard_count >= 2);
    CHECK(limits.on_demand_stream_count_limit == 50);

    uint32_t current = 99, desired = 99;
    CHECK_OK(tidelog_set_enhanced_monitoring(e, "res", TIDELOG_METRIC_INCOMING_BYTES, 1, &current,
                                             &desired));
    CHECK(current == 0 && desired == TIDELOG_METRIC_INCOMING_BYTES);
    CHECK_OK(tidelog_set_enhanced_monitoring(e, "res", TIDELOG_METRIC_ALL, 1, NULL, &desired));
    CHECK(desired == TIDELOG_METRIC_ALL);
    tidelog_stream_info info = { .struct_size = sizeof info };
    CHECK_OK(tidelog_describe_stream_summary(e, "res", &info));
    CHECK(info.shard_level_metrics == TIDELOG_METRIC_ALL);
    CHECK(info.mode == TIDELOG_STREAM_MODE_PROVISIONED && info.encryption_type == TIDELOG_ENCRYPTION_TYPE_NONE);
    CHECK(info.max_record_size_kib == 1024 && info.has_warm_throughput == 0);
    CHECK_OK(tidelog_set_enhanced_monitoring(e, "res", TIDELOG_METRIC_ALL, 0, &current, &desired));
    CHECK(current == TIDELOG_METRIC_ALL && desired == 0);
    CHECK_STATUS(tidelog_set_enhanced_monitoring(e, "res", 0, 1, NULL, NULL), TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_set_enhanced_monitoring(e, "res", 0x80, 1, NULL, NULL), TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_set_enhanced_monitoring(e, "res", 1, 2, NULL, NULL),
                 TIDELOG_STATUS_INVALID_ENUM_VALUE);

    /* ListShards FROM_TIMESTAMP: the open shards and those closed at or after it. */
    CHECK_OK(tidelog_split_shard(e, "res", SHARD0, "1000"));
    tidelog_shard_list *shards = NULL;
    CHECK_OK(tidelog_list_shards(e, "res", TIDELOG_SHARD_FILTER_FROM_TIMESTAMP, NULL,
                                 1700000000000ull + 3600000, &shards));
    CHECK_OK(tidelog_shard_list_count(shards, &n));
    CHECK(n == 3);
    CHECK_OK(tidelog_shard_list_free(shards));
}

/* ---- encryption --------------------------------------------------------------- */

static void test_encryption(void) {
    tidelog_engine_options o = tl_options();
    o.manual_clock_start_ms = 1700000000000ull;
    o.key_provider = provider;
    o.key_provider_user_data = &provider_calls;
    tidelog_engine *e = tl_open("encrypted", &o);
    CHECK_OK(tidelog_create_stream(e, "sec", 1));
    CHECK_STATUS(tidelog_start_stream_encryption(e, "sec", "alias/none"), TIDELOG_STATUS_KMS_NOT_FOUND);
    CHECK_STATUS(tidelog_start_stream_encryption(e, "sec", "alias/off"), TIDELOG_STATUS_KMS_DISABLED);
    CHECK(strcmp(tidelog_status_kinesis_name(TIDELOG_STATUS_KMS_DISABLED), "KMSDisabledException") == 0);
    CHECK_OK(tidelog_start_stream_encryption(e, "sec", "alias/app"));
    char key_id[64];
    size_t len = 0;
    CHECK_OK(tidelog_stream_key_id(e, "sec", key_id, sizeof key_id, &len));
    CHECK(strcmp(key_id, "alias/app") == 0 && len == 9);
    tidelog_put_record_output put = { .struct_size = sizeof put };
    const char *secret = "C-SECRET-PAYLOAD-0123";
    CHECK_OK(tidelog_put_record(e, "sec", "c-secret-key", (const uint8_t *)secret, strlen(secret), NULL,
                                &put));
    CHECK(put.encrypted == 1);
    tidelog_put_records_entry entry = { .struct_size = sizeof entry, .partition_key = "k",
                                        .data = (const uint8_t *)"C-SECRET-2", .data_len = 10 };
    tidelog_put_records_output *many = NULL;
    CHECK_OK(tidelog_put_records(e, "sec", &entry, 1, 0, &many));
    tidelog_put_records_result result = { .struct_size = sizeof result };
    CHECK_OK(tidelog_put_records_output_get(many, 0, &result));
    CHECK(result.status == TIDELOG_STATUS_OK && result.encrypted == 1);
    CHECK_OK(tidelog_put_records_output_free(many));
    tidelog_stream_info info = { .struct_size = sizeof info };
    CHECK_OK(tidelog_describe_stream_summary(e, "sec", &info));
    CHECK(info.encryption_type == TIDELOG_ENCRYPTION_TYPE_KMS);
    /* Reads decrypt; the record says it was encrypted. */
    tidelog_iterator *it = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "sec", SHARD0, TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0, &it));
    tidelog_batch *b = NULL;
    CHECK_OK(tidelog_get_records(it, 0, &b));
    tidelog_record r = { .struct_size = sizeof r };
    CHECK_OK(tidelog_batch_record(b, 0, &r));
    CHECK(r.encrypted == 1 && r.data_len == strlen(secret) && memcmp(r.data, secret, r.data_len) == 0);
    CHECK(r.partition_key_len == 12 && memcmp(r.partition_key, "c-secret-key", 12) == 0);
    CHECK_OK(tidelog_batch_free(b));
    CHECK_OK(tidelog_iterator_free(it));
    CHECK_STATUS(tidelog_stop_stream_encryption(e, "sec", "alias/other"), TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK_OK(tidelog_stop_stream_encryption(e, "sec", "alias/app"));
    CHECK_OK(tidelog_stream_key_id(e, "sec", key_id, sizeof key_id, &len));
    CHECK(len == 0 && key_id[0] == '\0');
    CHECK(provider_calls >= 3);
    CHECK_OK(tidelog_engine_free(e));
    char dir[4096];
    tl_path(dir, sizeof dir, "encrypted");
    CHECK(!found_in(dir, "C-SECRET"));
    CHECK(!found_in(dir, "c-secret-key"));

    /* The wrong key for the same id: KMS_ACCESS_DENIED. */
    o.key_provider = wrong_provider;
    e = tl_open("encrypted", &o);
    CHECK_OK(tidelog_get_shard_iterator(e, "sec", SHARD0, TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0, &it));
    CHECK_STATUS(tidelog_get_records(it, 0, &b), TIDELOG_STATUS_KMS_ACCESS_DENIED);
    CHECK_OK(tidelog_iterator_free(it));
    CHECK_OK(tidelog_engine_free(e));
    /* A key provider with key_dir: refused. */
    o.key_dir = "/tmp";
    char other[4096];
    tl_path(other, sizeof other, "both");
    tidelog_engine *none = NULL;
    CHECK_STATUS(tidelog_engine_open(other, &o, &none), TIDELOG_STATUS_VALIDATION);
    CHECK(none == NULL);
}

/* ---- capacity: create options, modes, warm throughput, account, record size ------ */

static void test_capacity(tidelog_engine *e) {
    const char *keys[] = { "env" };
    const char *values[] = { "test" };
    tidelog_create_stream_options co = { .struct_size = sizeof co };
    co.mode = TIDELOG_STREAM_MODE_ON_DEMAND;
    co.tag_keys = keys;
    co.tag_values = values;
    co.tag_count = 1;
    CHECK_OK(tidelog_create_stream_with(e, "od", &co));
    tidelog_stream_info info = { .struct_size = sizeof info };
    CHECK_OK(tidelog_describe_stream_summary(e, "od", &info));
    CHECK(info.mode == TIDELOG_STREAM_MODE_ON_DEMAND && info.open_shard_count == 4);
    co.shard_count = 2;
    CHECK_STATUS(tidelog_create_stream_with(e, "od2", &co), TIDELOG_STATUS_VALIDATION);
    co.mode = 7;
    CHECK_STATUS(tidelog_create_stream_with(e, "od2", &co), TIDELOG_STATUS_INVALID_ENUM_VALUE);
    CHECK_STATUS(tidelog_create_stream_with(e, "od2", NULL), TIDELOG_STATUS_VALIDATION);
    tidelog_create_stream_options big = { .struct_size = sizeof big, .shard_count = 1,
                                          .max_record_size_kib = 4096 };
    CHECK_OK(tidelog_create_stream_with(e, "big", &big));
    size_t four = (4u << 20) - 1;
    uint8_t *blob = calloc(1, four);
    REQUIRE(blob != NULL);
    tidelog_put_record_output put = { .struct_size = sizeof put };
    CHECK_OK(tidelog_put_record(e, "big", "k", blob, four, NULL, &put));
    CHECK_STATUS(tidelog_put_record(e, "od", "k", blob, four, NULL, &put), TIDELOG_STATUS_VALIDATION);
    CHECK_OK(tidelog_update_max_record_size(e, "od", 8192));
    CHECK_OK(tidelog_put_record(e, "od", "k", blob, four, NULL, &put));
    free(blob);
    CHECK_STATUS(tidelog_update_max_record_size(e, "od", 100), TIDELOG_STATUS_VALIDATION);

    uint32_t current = 0;
    CHECK_STATUS(tidelog_update_stream_warm_throughput(e, "od", 8, &current), TIDELOG_STATUS_INVALID_ARGUMENT);
    tidelog_account_settings a = { .struct_size = sizeof a };
    CHECK_OK(tidelog_describe_account_settings(e, &a));
    CHECK(a.status == TIDELOG_COMMITMENT_STATUS_DISABLED && a.started_ms == 0);
    CHECK_OK(tidelog_update_account_settings(e, 1, &a));
    CHECK(a.status == TIDELOG_COMMITMENT_STATUS_ENABLED && a.earliest_allowed_end_ms == a.started_ms + 86400000ull);
    CHECK_OK(tidelog_update_stream_warm_throughput(e, "od", 8, &current));
    CHECK(current == 8);
    CHECK_OK(tidelog_describe_stream_summary(e, "od", &info));
    CHECK(info.has_warm_throughput == 1 && info.warm_throughput_target_mibps == 8);
    CHECK_OK(tidelog_update_account_settings(e, 0, NULL));
    CHECK_OK(tidelog_describe_account_settings(e, &a));
    CHECK(a.status == TIDELOG_COMMITMENT_STATUS_ENABLED_UNTIL_EARLIEST_ALLOWED_END);
    CHECK_STATUS(tidelog_update_account_settings(e, 5, NULL), TIDELOG_STATUS_INVALID_ENUM_VALUE);

    CHECK_OK(tidelog_create_stream(e, "p", 1));
    CHECK_OK(tidelog_update_stream_mode(e, "p", TIDELOG_STREAM_MODE_ON_DEMAND, 0));
    CHECK_OK(tidelog_describe_stream_summary(e, "p", &info));
    CHECK(info.mode == TIDELOG_STREAM_MODE_ON_DEMAND && info.open_shard_count == 4);
    CHECK_STATUS(tidelog_update_stream_mode(e, "p", TIDELOG_STREAM_MODE_ON_DEMAND, 0),
                 TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tidelog_update_stream_mode(e, "p", 9, 0), TIDELOG_STATUS_INVALID_ENUM_VALUE);
    CHECK_STATUS(tidelog_split_shard(e, "p", SHARD0, "5"), TIDELOG_STATUS_INVALID_ARGUMENT);
    size_t changed = 99;
    CHECK_OK(tidelog_engine_advance_clock(e, 60000));
    CHECK_OK(tidelog_scale_on_demand_streams(e, &changed));
    CHECK(changed == 0); /* quiet streams at their floor */
    CHECK_OK(tidelog_scale_on_demand_streams(e, NULL));

    /* Record distribution: AUTO deals one key's records to all four shards. */
    CHECK(info.record_distribution == TIDELOG_RECORD_DISTRIBUTION_USER_PARTITION_KEY);
    CHECK_OK(tidelog_update_stream_record_distribution(e, "p", TIDELOG_RECORD_DISTRIBUTION_AUTO));
    CHECK_OK(tidelog_describe_stream_summary(e, "p", &info));
    CHECK(info.record_distribution == TIDELOG_RECORD_DISTRIBUTION_AUTO);
    char ids[4][TIDELOG_SHARD_ID_BUFFER_SIZE];
    int seen[4] = { 0 }, distinct = 0;
    for (int i = 0; i < 8; i++) {
        tidelog_put_record_output out = { .struct_size = sizeof out };
        CHECK_OK(tidelog_put_record(e, "p", "same-key", (const uint8_t *)"x", 1, NULL, &out));
        int at = 0;
        while (at < distinct && strcmp(ids[at], out.shard_id) != 0) at++;
        if (at == distinct && distinct < 4) snprintf(ids[distinct++], sizeof ids[0], "%s", out.shard_id);
        if (at < 4) seen[at]++;
    }
    CHECK(distinct == 4 && seen[0] == 2 && seen[1] == 2 && seen[2] == 2 && seen[3] == 2);
    CHECK_STATUS(tidelog_update_stream_record_distribution(e, "p", 5), TIDELOG_STATUS_INVALID_ENUM_VALUE);
    CHECK_OK(tidelog_create_stream(e, "p1", 1));
    CHECK_STATUS(tidelog_update_stream_record_distribution(e, "p1", TIDELOG_RECORD_DISTRIBUTION_AUTO),
                 TIDELOG_STATUS_INVALID_ARGUMENT);
    tidelog_create_stream_options auto_p = { .struct_size = sizeof auto_p, .shard_count = 1,
                                             .record_distribution = TIDELOG_RECORD_DISTRIBUTION_AUTO };
    CHECK_STATUS(tidelog_create_stream_with(e, "p2", &auto_p), TIDELOG_STATUS_INVALID_ARGUMENT);
}

/* ---- hostile arguments ------------------------------------------------------------ */

static void test_hostile(tidelog_engine *e) {
    tidelog_consumer c = { .struct_size = sizeof c };
    CHECK_STATUS(tidelog_register_stream_consumer(NULL, "s", "c", NULL, NULL, 0, &c),
                 TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_register_stream_consumer(e, NULL, "c", NULL, NULL, 0, &c),
                 TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_register_stream_consumer(e, "res", "c", NULL, NULL, 2, &c),
                 TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_register_stream_consumer(e, "res", "c", NULL, NULL, 0, NULL),
                 TIDELOG_STATUS_NULL_POINTER);
    tidelog_consumer small = { .struct_size = 8 };
    CHECK_STATUS(tidelog_describe_stream_consumer(e, "res", "c", NULL, &small), TIDELOG_STATUS_BAD_STRUCT_SIZE);
    CHECK_STATUS(tidelog_describe_stream_consumer(e, NULL, NULL, "\xc3\x28", &c), TIDELOG_STATUS_INVALID_UTF8);
    char buf[8];
    size_t len = 0;
    CHECK_STATUS(tidelog_stream_arn(e, "res", buf, sizeof buf, &len), TIDELOG_STATUS_BUFFER_TOO_SMALL);
    CHECK(len > sizeof buf);
    CHECK_STATUS(tidelog_stream_arn(e, "res", NULL, 0, NULL), TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_stream_key_id(e, "nope", NULL, 0, &len), TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK_STATUS(tidelog_untag_resource(e, "arn", NULL, 1), TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_list_tags_for_resource(e, "arn", NULL), TIDELOG_STATUS_NULL_POINTER);
    tidelog_limits_info limits = { .struct_size = 4 };
    CHECK_STATUS(tidelog_describe_limits(e, &limits), TIDELOG_STATUS_BAD_STRUCT_SIZE);
    tidelog_create_stream_options co = { .struct_size = sizeof co, .shard_count = 1, .tag_count = 1 };
    CHECK_STATUS(tidelog_create_stream_with(e, "t", &co), TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_start_stream_encryption(e, "res", NULL), TIDELOG_STATUS_NULL_POINTER);
    char long_key[5000];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    CHECK_STATUS(tidelog_start_stream_encryption(e, "res", long_key), TIDELOG_STATUS_OUT_OF_RANGE);
    long_key[3000] = '\0';
    CHECK_STATUS(tidelog_start_stream_encryption(e, "res", long_key), TIDELOG_STATUS_VALIDATION);
    tidelog_shard_event ev = { .struct_size = sizeof ev };
    CHECK_STATUS(tidelog_shard_subscription_next((tidelog_shard_subscription *)(uintptr_t)0x1234, 0, &ev),
                 TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_STATUS(tidelog_list_stream_consumers(e, "res", 0, NULL, NULL, NULL), TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_consumer_list_get(NULL, 0, &c), TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_consumer_list_get((tidelog_consumer_list *)(uintptr_t)0x77, 0, &c),
                 TIDELOG_STATUS_INVALID_HANDLE);
}

int main(void) {
    tidelog_engine_options o = tl_options();
    o.manual_clock_start_ms = 1700000000000ull;
    o.region = "eu-west-1";
    o.account_id = "123456789012";
    tidelog_engine *e = tl_open("kinesis", &o);
    test_consumers(e);
    test_resources(e);
    test_capacity(e);
    test_hostile(e);
    CHECK_OK(tidelog_engine_free(e));
    o.account_id = "12";
    char dir[4096];
    tl_path(dir, sizeof dir, "bad-account");
    tidelog_engine *none = NULL;
    CHECK_STATUS(tidelog_engine_open(dir, &o, &none), TIDELOG_STATUS_VALIDATION);
    test_encryption();
    return tl_finish("test_kinesis");
}
