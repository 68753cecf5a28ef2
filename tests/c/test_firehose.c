/*
 * test_firehose.c: Firehose delivery streams from C: open on an engine, create from
 * CreateDeliveryStream's JSON, put, put a batch, a C transform callback (Ok, Dropped,
 * ProcessingFailed, a failing invocation), flush, the delivered files, describe, any
 * operation as JSON, metrics, errors with Firehose's names, delete, reopen.
 */
#include "tl_test.h"

static char objects[1 << 16];
static size_t objects_len;
static int object_count;
static char object_names[64][512];

static int collect(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag != FTW_F || strstr(path, ".tidelog-tmp")) return 0;
    if (object_count < 64) snprintf(object_names[object_count], 512, "%s", path);
    object_count++;
    FILE *f = fopen(path, "rb");
    if (!f) return 1;
    size_t room = sizeof objects - objects_len - 1;
    size_t want = (size_t)st->st_size < room ? (size_t)st->st_size : room;
    objects_len += fread(objects + objects_len, 1, want, f);
    objects[objects_len] = '\0';
    fclose(f);
    return 0;
}

/* Reads every object under `dir` (concatenated, in walk order). */
static void read_objects(const char *dir) {
    objects_len = 0;
    object_count = 0;
    objects[0] = '\0';
    nftw(dir, collect, 16, FTW_PHYS);
}

/* Upper-cases each record; "drop..." is dropped, "fail..." fails, with a partition
 * key for every Ok record. */
static int32_t shout(void *user, const tidelog_firehose_transform_record *records, size_t count,
                     tidelog_firehose_transform_output *out) {
    int *calls = user;
    (*calls)++;
    for (size_t i = 0; i < count; i++) {
        const tidelog_firehose_transform_record *r = &records[i];
        if (r->struct_size != sizeof *r) return 7;
        char buf[256];
        size_t n = r->data_len < sizeof buf - 1 ? r->data_len : sizeof buf - 2;
        for (size_t k = 0; k < n; k++) {
            char c = (char)r->data[k];
            buf[k] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
        }
        buf[n++] = '\n';
        uint32_t result = TIDELOG_FIREHOSE_RESULT_OK;
        if (r->data_len >= 4 && memcmp(r->data, "drop", 4) == 0) result = TIDELOG_FIREHOSE_RESULT_DROPPED;
        if (r->data_len >= 4 && memcmp(r->data, "fail", 4) == 0) result = TIDELOG_FIREHOSE_RESULT_PROCESSING_FAILED;
        if (tidelog_firehose_transform_emit(out, r->record_id, result, (const uint8_t *)buf, n,
                                            "{\"kind\": \"words\"}") != TIDELOG_STATUS_OK)
            return 8;
    }
    /* Hostile answers are refused by emit itself. */
    if (tidelog_firehose_transform_emit(out, "x", 9, NULL, 0, NULL) != TIDELOG_STATUS_INVALID_ENUM_VALUE)
        return 9;
    if (tidelog_firehose_transform_emit(out, "x", 0, NULL, 0, "[1]") != TIDELOG_STATUS_INVALID_ARGUMENT)
        return 10;
    return 0;
}

static int32_t refuses(void *user, const tidelog_firehose_transform_record *records, size_t count,
                       tidelog_firehose_transform_output *out) {
    (void)user;
    (void)records;
    (void)count;
    (void)out;
    return 3;
}

static const char *CREATE =
    "{\"DeliveryStreamName\": \"words\", \"ExtendedS3DestinationConfiguration\": {"
    "\"RoleARN\": \"arn:aws:iam::123456789012:role/fh\", \"BucketARN\": \"arn:aws:s3:::out\","
    "\"Prefix\": \"w/\", \"ErrorOutputPrefix\": \"e/!{firehose:error-output-type}/\","
    "\"BufferingHints\": {\"SizeInMBs\": 1, \"IntervalInSeconds\": 900},"
    "\"ProcessingConfiguration\": {\"Enabled\": true, \"Processors\": [{\"Type\": \"Lambda\", \"Parameters\": ["
    "{\"ParameterName\": \"LambdaArn\", \"ParameterValue\": \"arn:aws:lambda:us-east-1:123456789012:function:shout\"},"
    "{\"ParameterName\": \"NumberOfRetries\", \"ParameterValue\": \"1\"}]}]}}}";

static const char *CREATE_REFUSED =
    "{\"DeliveryStreamName\": \"refused\", \"ExtendedS3DestinationConfiguration\": {"
    "\"RoleARN\": \"arn:aws:iam::123456789012:role/fh\", \"BucketARN\": \"arn:aws:s3:::out\","
    "\"Prefix\": \"r/\", \"ErrorOutputPrefix\": \"re/\","
    "\"ProcessingConfiguration\": {\"Enabled\": true, \"Processors\": [{\"Type\": \"Lambda\", \"Parameters\": ["
    "{\"ParameterName\": \"LambdaArn\", \"ParameterValue\": \"arn:aws:lambda:us-east-1:123456789012:function:refuses\"},"
    "{\"ParameterName\": \"NumberOfRetries\", \"ParameterValue\": \"0\"}]}]}}}";

int main(void) {
    tidelog_engine_options o = tl_options();
    tidelog_engine *e = tl_open("firehose", &o);
    char bucket[2048];
    tl_path(bucket, sizeof bucket, "firehose/firehose/buckets/out");

    tidelog_firehose *fh = NULL;
    CHECK_STATUS(tidelog_firehose_open(e, "{\"nope\": 1}", &fh), TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK(fh == NULL);
    CHECK_STATUS(tidelog_firehose_open(e, NULL, NULL), TIDELOG_STATUS_NULL_POINTER);
    REQUIRE_OK(tidelog_firehose_open(e, "{\"ingest_limits\": \"unlimited\", \"tick_ms\": 5}", &fh));

    int calls = 0;
    CHECK_OK(tidelog_firehose_register_transform(fh, "shout", shout, &calls, 60000));
    CHECK_OK(tidelog_firehose_register_transform(fh, "refuses", refuses, NULL, 60000));
    CHECK_STATUS(tidelog_firehose_register_transform(fh, "bad name!", shout, NULL, 1000),
                 TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tidelog_firehose_register_transform(fh, "x", NULL, NULL, 1000), TIDELOG_STATUS_NULL_POINTER);

    char *arn = NULL;
    CHECK_OK(tidelog_firehose_create_delivery_stream(fh, CREATE, &arn));
    CHECK(arn && strcmp(arn, "arn:aws:firehose:local:000000000000:deliverystream/words") == 0);
    tidelog_firehose_string_free(arn);
    CHECK_OK(tidelog_firehose_create_delivery_stream(fh, CREATE_REFUSED, NULL));
    CHECK_STATUS(tidelog_firehose_create_delivery_stream(fh, CREATE, NULL), TIDELOG_STATUS_RESOURCE_IN_USE);
    CHECK(strcmp(tidelog_firehose_last_error_code(), "ResourceInUseException") == 0);
    CHECK_STATUS(tidelog_firehose_create_delivery_stream(fh, "{not json", NULL), TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK(strcmp(tidelog_firehose_last_error_code(), "SerializationException") == 0);
    CHECK_STATUS(tidelog_firehose_create_delivery_stream(
                     fh, "{\"DeliveryStreamName\": \"p\", \"ExtendedS3DestinationConfiguration\": {"
                         "\"RoleARN\": \"arn:aws:iam::123456789012:role/fh\", \"BucketARN\": \"arn:aws:s3:::out\","
                         "\"Prefix\": \"a/!{\"}}", NULL),
                 TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(tidelog_last_error_message(), "complete expression") != NULL);

    char id[TIDELOG_FIREHOSE_RECORD_ID_BUFFER_SIZE] = {0};
    CHECK_OK(tidelog_firehose_put_record(fh, "words", (const uint8_t *)"hello", 5, id));
    CHECK(strlen(id) == 32);
    tidelog_firehose_record batch[4] = {
        { sizeof batch[0], (const uint8_t *)"world", 5 },
        { sizeof batch[0], (const uint8_t *)"drop me", 7 },
        { sizeof batch[0], (const uint8_t *)"fail me", 7 },
        { sizeof batch[0], (const uint8_t *)"again", 5 },
    };
    tidelog_status statuses[4] = { TIDELOG_STATUS_INTERNAL, TIDELOG_STATUS_INTERNAL,
                                   TIDELOG_STATUS_INTERNAL, TIDELOG_STATUS_INTERNAL };
    size_t failed = 99;
    CHECK_OK(tidelog_firehose_put_record_batch(fh, "words", batch, 4, statuses, &failed));
    CHECK(failed == 0);
    for (int i = 0; i < 4; i++) CHECK(statuses[i] == TIDELOG_STATUS_OK);
    CHECK_STATUS(tidelog_firehose_put_record_batch(fh, "words", batch, 0, NULL, NULL),
                 TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tidelog_firehose_put_record_batch(fh, "words", batch, 501, NULL, NULL),
                 TIDELOG_STATUS_OUT_OF_RANGE);
    CHECK_STATUS(tidelog_firehose_put_record(fh, "nope", (const uint8_t *)"x", 1, NULL),
                 TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK(strcmp(tidelog_firehose_last_error_code(), "ResourceNotFoundException") == 0);
    CHECK_OK(tidelog_firehose_put_record(fh, "refused", (const uint8_t *)"lost?", 5, NULL));

    CHECK_OK(tidelog_firehose_flush(fh, "words", 120000));
    CHECK_OK(tidelog_firehose_flush(fh, NULL, 120000));
    CHECK(calls >= 1);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/w", bucket);
    read_objects(dir);
    CHECK(object_count == 1);
    CHECK(strcmp(objects, "HELLO\nWORLD\nAGAIN\n") == 0);
    CHECK(strstr(object_names[0], "/w/") && strstr(object_names[0], "words-1-"));
    snprintf(dir, sizeof dir, "%s/e/processing-failed", bucket);
    read_objects(dir);
    CHECK(object_count == 1 && strstr(objects, "\"errorCode\":\"Lambda.ProcessingFailed\"") != NULL);
    snprintf(dir, sizeof dir, "%s/re", bucket);
    read_objects(dir);
    CHECK(object_count == 1 && strstr(objects, "the transform callback returned 3") != NULL);

    char *json = NULL;
    CHECK_OK(tidelog_firehose_describe_delivery_stream(fh, "words", &json));
    CHECK(json && strstr(json, "\"DeliveryStreamStatus\":\"ACTIVE\"") != NULL);
    tidelog_firehose_string_free(json);
    CHECK_STATUS(tidelog_firehose_describe_delivery_stream(fh, "nope", &json), TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK(json == NULL);
    CHECK_OK(tidelog_firehose_call(fh, "Firehose_20150804.ListDeliveryStreams", "{}", &json));
    CHECK(json && strcmp(json, "{\"DeliveryStreamNames\":[\"refused\",\"words\"],\"HasMoreDeliveryStreams\":false}") == 0);
    tidelog_firehose_string_free(json);
    json = NULL;
    CHECK_STATUS(tidelog_firehose_call(fh, "UpdateDestination",
                                       "{\"DeliveryStreamName\": \"words\", \"CurrentDeliveryStreamVersionId\": \"5\","
                                       " \"DestinationId\": \"destinationId-000000000001\","
                                       " \"ExtendedS3DestinationUpdate\": {\"Prefix\": \"v2/\"}}", &json),
                 TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK(strcmp(tidelog_firehose_last_error_code(), "ConcurrentModificationException") == 0);
    CHECK(json == NULL);
    CHECK_STATUS(tidelog_firehose_call(fh, "Nope", "{}", &json), TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tidelog_firehose_call(fh, NULL, "{}", &json), TIDELOG_STATUS_NULL_POINTER);
    /* Kinesis channels go through the same entry point, by Kinesis's names. */
    CHECK_OK(tidelog_firehose_call(fh, "Kinesis_20131202.ListChannels", "{}", &json));
    CHECK(json && strcmp(json, "{\"ChannelSummaries\":[]}") == 0);
    tidelog_firehose_string_free(json);
    json = NULL;
    CHECK_STATUS(tidelog_firehose_call(fh, "DescribeChannel", "{\"ChannelARN\": \"nope\"}", &json),
                 TIDELOG_STATUS_VALIDATION);
    CHECK(strcmp(tidelog_firehose_last_error_code(), "ValidationException") == 0);

    char *text = NULL;
    CHECK_OK(tidelog_firehose_metrics_openmetrics(fh, &text));
    CHECK(text && strstr(text, "tidelog_firehose_incoming_records_total{delivery_stream=\"words\"} 5") != NULL);
    tidelog_firehose_string_free(text);

    CHECK_OK(tidelog_firehose_delete_delivery_stream(fh, "refused"));
    CHECK_STATUS(tidelog_firehose_delete_delivery_stream(fh, "refused"), TIDELOG_STATUS_RESOURCE_NOT_FOUND);

    /* Records put before a restart are delivered after it. */
    CHECK_OK(tidelog_firehose_put_record(fh, "words", (const uint8_t *)"later", 5, NULL));
    tidelog_firehose_free(fh);
    tidelog_firehose_free(NULL);
    CHECK_STATUS(tidelog_firehose_flush(fh, NULL, 0), TIDELOG_STATUS_INVALID_HANDLE);
    REQUIRE_OK(tidelog_firehose_open(e, "{\"ingest_limits\": \"unlimited\", \"tick_ms\": 5}", &fh));
    CHECK_OK(tidelog_firehose_register_transform(fh, "shout", shout, &calls, 60000));
    CHECK_OK(tidelog_firehose_flush(fh, "words", 120000));
    snprintf(dir, sizeof dir, "%s/w", bucket);
    read_objects(dir);
    CHECK(object_count == 2 && strstr(objects, "LATER\n") != NULL);
    tidelog_firehose_string_free(NULL);
    tidelog_firehose_free(fh);
    CHECK_OK(tidelog_engine_free(e));
    return tl_finish("test_firehose");
}
