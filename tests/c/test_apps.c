/*
 * test_apps.c: continuous SQL applications from C. An application created from its
 * JSON definition filters a stream into another (CSV rows); the output is read back
 * and checked against a reference computed here; describe and list answer JSON; bad
 * SQL, a missing stream, a taken name, a bad position and a short buffer give their
 * statuses; stop, delete and free leave nothing behind (Valgrind checks for leaks).
 * Callbacks: one gets the rows as JSON, one as an Arrow C stream too (one stream is
 * moved out and released later, the others are left for tidelog to release); both
 * add up to the same reference; a callback that tries to stop its own application
 * gets INVALID_ARGUMENT; release functions run once per callback (after a failed
 * add too), at clear, delete and free. A Firehose delivery stream as an output: an
 * application on a handle from tidelog_apps_open_with_firehose delivers its CSV rows
 * into a DirectPut delivery stream, whose objects in the bucket directory hold each
 * row once; without a Firehose the definition is refused. A delivery stream as the
 * input: another application reads those CSV rows back from the delivery stream's
 * buffer and keeps the even ones, which must be the reference's.
 */
#include "tl_test.h"
#include <ftw.h>

#define RECORDS 300

/* What the callbacks saw. Written on the application's thread; read by the main
 * thread after tidelog_apps_wait_idle / stop, which synchronize with it. */
typedef struct {
    int calls;
    int rows;
    long sum;
    int bad;              /* rows that do not hold v % 3 == 0 or a matching k */
    uint64_t last_epoch;
    int released;
    int stop_status;      /* what tidelog_apps_stop of its own application answered */
    int describe_status;
    tidelog_apps *apps;
    struct ArrowArrayStream kept; /* the first Arrow stream, moved out */
    int kept_valid;
} seen;

static void on_json(void *user_data, const tidelog_app_rows *rows) {
    seen *s = user_data;
    s->calls++;
    if (rows->struct_size != sizeof *rows || strcmp(rows->app_name, "thirds") != 0 ||
        strcmp(rows->in_app_stream, "OUT") != 0 || rows->arrow != NULL ||
        rows->rows_json_len != strlen(rows->rows_json) || rows->rows_json[0] != '[' ||
        rows->epoch <= s->last_epoch)
        s->bad++;
    s->last_epoch = rows->epoch;
    /* Each row: {"ROWTIME":"...","k":"odd","v":3} */
    size_t n = 0;
    for (const char *p = strstr(rows->rows_json, "{\"ROWTIME\":"); p; p = strstr(p + 1, "{\"ROWTIME\":")) {
        const char *k = strstr(p, "\"k\":\"");
        const char *v = strstr(p, "\"v\":");
        if (!k || !v) {
            s->bad++;
            break;
        }
        long value = strtol(v + 4, NULL, 10);
        const char *expect = (value % 2) ? "odd\"" : "even\"";
        if (value % 3 != 0 || strncmp(k + 5, expect, strlen(expect)) != 0) s->bad++;
        s->sum += value;
        n++;
    }
    if (n != rows->row_count) s->bad++;
    s->rows += (int)n;
    if (s->calls == 1) {
        s->stop_status = tidelog_apps_stop(s->apps, "thirds");
        char d[8192];
        s->describe_status = tidelog_apps_describe(s->apps, "thirds", d, sizeof d);
    }
}

static void on_arrow(void *user_data, const tidelog_app_rows *rows) {
    seen *s = user_data;
    s->calls++;
    struct ArrowArrayStream *stream = rows->arrow;
    if (stream == NULL || stream->release == NULL || rows->rows_json == NULL) {
        s->bad++;
        return;
    }
    struct ArrowSchema schema;
    struct ArrowArray array;
    if (stream->get_schema(stream, &schema) != 0) {
        s->bad++;
        return;
    }
    if (schema.n_children != 3 || strcmp(schema.children[0]->name, "ROWTIME") != 0 ||
        strcmp(schema.children[2]->name, "v") != 0 || strcmp(schema.children[2]->format, "l") != 0)
        s->bad++;
    schema.release(&schema);
    if (stream->get_next(stream, &array) != 0 || array.release == NULL) {
        s->bad++;
        return;
    }
    if ((size_t)array.length != rows->row_count) s->bad++;
    const struct ArrowArray *v = array.children[2];
    const int64_t *values = (const int64_t *)v->buffers[1];
    for (int64_t i = 0; i < array.length; i++) {
        int64_t x = values[v->offset + i];
        if (x % 3 != 0) s->bad++;
        s->sum += (long)x;
    }
    s->rows += (int)array.length;
    array.release(&array);
    if (!s->kept_valid) {
        /* Arrow's move: keep the stream past the call; tidelog must not release it. */
        s->kept = *stream;
        stream->release = NULL;
        s->kept_valid = 1;
    }
}

static void on_release(void *user_data) {
    ((seen *)user_data)->released++;
}

/* The delivered objects' bytes, concatenated (a walk of the bucket directory). */
static char delivered[64 * 1024];
static size_t delivered_len;
static int delivered_objects;

static int collect(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag != FTW_F || strstr(path, ".tidelog-tmp")) return 0;
    delivered_objects++;
    FILE *f = fopen(path, "rb");
    if (!f) return 1;
    size_t room = sizeof delivered - delivered_len - 1;
    size_t want = (size_t)st->st_size < room ? (size_t)st->st_size : room;
    delivered_len += fread(delivered + delivered_len, 1, want, f);
    delivered[delivered_len] = '\0';
    fclose(f);
    return 0;
}

static const char *TO_FIREHOSE =
    "{\"Name\": \"to-files\", \"Code\": \"CREATE OR REPLACE STREAM \\\"OUT\\\" (k VARCHAR(4), v BIGINT);"
    " CREATE OR REPLACE PUMP \\\"P\\\" AS INSERT INTO \\\"OUT\\\" SELECT STREAM k, v"
    " FROM \\\"SOURCE_SQL_STREAM_001\\\" WHERE v % 3 = 0\","
    " \"Input\": {\"Stream\": \"events\", \"Schema\": {\"RecordFormat\": {\"RecordFormatType\": \"JSON\"},"
    " \"RecordColumns\": [{\"Name\": \"k\", \"SqlType\": \"VARCHAR(4)\", \"Mapping\": \"$.k\"},"
    " {\"Name\": \"v\", \"SqlType\": \"BIGINT\", \"Mapping\": \"$.v\"}]}},"
    " \"Outputs\": [{\"InAppStream\": \"OUT\", \"DeliveryStream\": \"rows-ds\", \"Format\": \"CSV\"}],"
    " \"Options\": {\"WatermarkDelayMs\": 10}}";

static const char *FROM_FIREHOSE =
    "{\"Name\": \"from-files\", \"Code\": \"CREATE OR REPLACE STREAM \\\"EVENS\\\" (k VARCHAR(4), v BIGINT);"
    " CREATE OR REPLACE PUMP \\\"P\\\" AS INSERT INTO \\\"EVENS\\\" SELECT STREAM k, v"
    " FROM \\\"SOURCE_SQL_STREAM_001\\\" WHERE v % 2 = 0\","
    " \"Input\": {\"DeliveryStream\": \"rows-ds\", \"Schema\": {\"RecordFormat\": {\"RecordFormatType\": \"CSV\"},"
    " \"RecordColumns\": [{\"Name\": \"k\", \"SqlType\": \"VARCHAR(4)\"}, {\"Name\": \"v\", \"SqlType\": \"BIGINT\"}]}},"
    " \"Outputs\": [{\"InAppStream\": \"EVENS\", \"Stream\": \"evens\", \"Format\": \"CSV\"}],"
    " \"Options\": {\"WatermarkDelayMs\": 10}}";

static const char *CREATE_DS =
    "{\"DeliveryStreamName\": \"rows-ds\", \"ExtendedS3DestinationConfiguration\": {"
    "\"RoleARN\": \"arn:aws:iam::123456789012:role/fh\", \"BucketARN\": \"arn:aws:s3:::out\","
    "\"Prefix\": \"rows/\", \"BufferingHints\": {\"SizeInMBs\": 1, \"IntervalInSeconds\": 900}}}";

static const char *DEFINITION =
    "{\"Name\": \"thirds\", \"Code\": \"CREATE OR REPLACE STREAM \\\"OUT\\\" (k VARCHAR(4), v BIGINT);"
    " CREATE OR REPLACE PUMP \\\"P\\\" AS INSERT INTO \\\"OUT\\\" SELECT STREAM k, v"
    " FROM \\\"SOURCE_SQL_STREAM_001\\\" WHERE v % 3 = 0\","
    " \"Input\": {\"Stream\": \"events\", \"Schema\": {\"RecordFormat\": {\"RecordFormatType\": \"JSON\"},"
    " \"RecordColumns\": [{\"Name\": \"k\", \"SqlType\": \"VARCHAR(4)\", \"Mapping\": \"$.k\"},"
    " {\"Name\": \"v\", \"SqlType\": \"BIGINT\", \"Mapping\": \"$.v\"}]}},"
    " \"Outputs\": [{\"InAppStream\": \"OUT\", \"Stream\": \"thirds\", \"Format\": \"CSV\"}],"
    " \"Options\": {\"WatermarkDelayMs\": 10}}";

int main(void) {
    tidelog_engine_options o = tl_options();
    tidelog_engine *e = tl_open("apps", &o);
    CHECK_OK(tidelog_create_stream(e, "events", 2));
    CHECK_OK(tidelog_create_stream(e, "thirds", 1));
    long expected_sum = 0;
    int expected = 0;
    char body[128], key[32];
    for (int i = 0; i < RECORDS; i++) {
        const char *k = (i % 2) ? "odd" : "even";
        snprintf(body, sizeof body, "{\"k\": \"%s\", \"v\": %d}", k, i);
        snprintf(key, sizeof key, "p%d", i);
        tl_put(e, "events", key, body);
        if (i % 3 == 0) {
            expected++;
            expected_sum += i;
        }
    }

    tidelog_apps *apps = NULL;
    REQUIRE_OK(tidelog_apps_open(e, &apps));
    CHECK_STATUS(tidelog_apps_create(apps, "{\"Name\": \"x\", \"Code\": \"CREATE STREAM s (a BIGINT);\\n"
                                           "CREATE PUMP p AS INSERT INTO s SELEC a FROM q\","
                                           " \"Input\": {\"Stream\": \"events\", \"Schema\": "
                                           "{\"RecordFormat\": {\"RecordFormatType\": \"JSON\"}, "
                                           "\"RecordColumns\": [{\"Name\": \"a\", \"SqlType\": \"BIGINT\", \"Mapping\": \"$.a\"}]}}}"),
                 TIDELOG_STATUS_SQL);
    CHECK(strstr(tidelog_last_error_message(), "Line: 2") != NULL);
    CHECK_STATUS(tidelog_apps_create(apps, "{\"Name\": \"x\"}"), TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_apps_create(apps, NULL), TIDELOG_STATUS_NULL_POINTER);
    REQUIRE_OK(tidelog_apps_create(apps, DEFINITION));
    CHECK_STATUS(tidelog_apps_create(apps, DEFINITION), TIDELOG_STATUS_RESOURCE_IN_USE);
    CHECK_STATUS(tidelog_apps_start(apps, "missing", "TRIM_HORIZON"), TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK_STATUS(tidelog_apps_start(apps, "thirds", "yesterday"), TIDELOG_STATUS_VALIDATION);
    char list[256];
    CHECK_OK(tidelog_apps_list(apps, list, sizeof list));
    CHECK(strcmp(list, "[{\"Name\":\"thirds\",\"Status\":\"READY\"}]") == 0);

    /* Callbacks: bad arguments first (each failed add releases its user data). */
    static seen json_seen, arrow_seen, dropped;
    json_seen.apps = apps;
    CHECK_STATUS(tidelog_apps_add_callback(apps, "thirds", "OUT", NULL, &dropped, on_release, 0),
                 TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_apps_add_callback(apps, "missing", "OUT", on_json, &dropped, on_release, 0),
                 TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK_STATUS(tidelog_apps_add_callback(apps, "thirds", "NOPE", on_json, &dropped, on_release, 0),
                 TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK_STATUS(tidelog_apps_add_callback(apps, "thirds", NULL, on_json, &dropped, on_release, 0),
                 TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_apps_add_callback(apps, "thirds", "OUT", on_json, &dropped, on_release, 6),
                 TIDELOG_STATUS_VALIDATION);
    CHECK_STATUS(tidelog_apps_add_callback((tidelog_apps *)e, "thirds", "OUT", on_json, &dropped, on_release, 0),
                 TIDELOG_STATUS_INVALID_HANDLE);
    CHECK(dropped.released == 6);
    CHECK(dropped.calls == 0);
    /* Added, then cleared: released at once, never called. */
    CHECK_OK(tidelog_apps_add_callback(apps, "thirds", "OUT", on_json, &dropped, on_release, 0));
    CHECK_OK(tidelog_apps_add_callback(apps, "thirds", "error_stream", on_json, &dropped, NULL, 0));
    CHECK_OK(tidelog_apps_clear_callbacks(apps, "thirds"));
    CHECK(dropped.released == 7);
    CHECK_STATUS(tidelog_apps_clear_callbacks(apps, "missing"), TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK_STATUS(tidelog_apps_clear_callbacks(apps, NULL), TIDELOG_STATUS_NULL_POINTER);
    REQUIRE_OK(tidelog_apps_add_callback(apps, "thirds", "OUT", on_json, &json_seen, on_release, 0));
    REQUIRE_OK(tidelog_apps_add_callback(apps, "thirds", "OUT", on_arrow, &arrow_seen, on_release,
                                         TIDELOG_APPS_CALLBACK_ARROW));

    REQUIRE_OK(tidelog_apps_start(apps, "thirds", "TRIM_HORIZON"));
    CHECK_STATUS(tidelog_apps_start(apps, "thirds", "TRIM_HORIZON"), TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tidelog_apps_add_callback(apps, "thirds", "OUT", on_json, &dropped, on_release, 0),
                 TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tidelog_apps_clear_callbacks(apps, "thirds"), TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK(dropped.released == 8);
    CHECK_OK(tidelog_apps_wait_idle(apps, "thirds", 300000));

    /* Both callbacks saw every output row once, equal to the reference. */
    CHECK(json_seen.bad == 0);
    CHECK(arrow_seen.bad == 0);
    CHECK(json_seen.calls >= 1);
    CHECK(json_seen.calls == arrow_seen.calls);
    CHECK(json_seen.rows == expected);
    CHECK(arrow_seen.rows == expected);
    CHECK(json_seen.sum == expected_sum);
    CHECK(arrow_seen.sum == expected_sum);
    CHECK(json_seen.stop_status == TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK(json_seen.describe_status == TIDELOG_STATUS_OK);
    CHECK(json_seen.released == 0 && arrow_seen.released == 0);
    /* The stream moved out of the first call is still usable here. */
    REQUIRE(arrow_seen.kept_valid);
    {
        struct ArrowSchema schema;
        REQUIRE(arrow_seen.kept.get_schema(&arrow_seen.kept, &schema) == 0);
        CHECK(schema.n_children == 3);
        schema.release(&schema);
        struct ArrowArray end;
        REQUIRE(arrow_seen.kept.get_next(&arrow_seen.kept, &end) == 0);
        CHECK(end.release == NULL); /* its one batch was read in the callback */
        arrow_seen.kept.release(&arrow_seen.kept);
    }

    char description[8192];
    CHECK_STATUS(tidelog_apps_describe(apps, "thirds", description, 8), TIDELOG_STATUS_BUFFER_TOO_SMALL);
    CHECK_OK(tidelog_apps_describe(apps, "thirds", description, sizeof description));
    CHECK(strstr(description, "\"Status\":\"RUNNING\"") != NULL);
    CHECK(strstr(description, "\"RecordsIn\":300") != NULL);
    CHECK(strstr(description, "\"Errors\":0") != NULL);

    /* The output: one CSV row "k,v" per record whose v is a multiple of 3. */
    static char out[64 * 1024];
    size_t n = tl_read_all(e, "thirds", "shardId-000000000000", out, sizeof out);
    CHECK((int)n == expected);
    long sum = 0;
    int rows = 0;
    for (char *row = strtok(out, "|"); row; row = strtok(NULL, "|")) {
        char k[8];
        long v = -1;
        CHECK(sscanf(row, "%7[a-z],%ld", k, &v) == 2);
        CHECK(v % 3 == 0);
        CHECK(strcmp(k, (v % 2) ? "odd" : "even") == 0);
        sum += v;
        rows++;
    }
    CHECK(rows == expected);
    CHECK(sum == expected_sum);

    CHECK_STATUS(tidelog_apps_reload_reference(apps, "thirds", "NOPE"), TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK_OK(tidelog_apps_stop(apps, "thirds"));
    CHECK_STATUS(tidelog_apps_wait_idle(apps, "thirds", 10), TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK_OK(tidelog_apps_describe(apps, "thirds", description, sizeof description));
    CHECK(strstr(description, "\"Status\":\"READY\"") != NULL);
    CHECK(json_seen.released == 0 && arrow_seen.released == 0);
    CHECK_OK(tidelog_apps_delete(apps, "thirds"));
    CHECK(json_seen.released == 1 && arrow_seen.released == 1);
    CHECK_STATUS(tidelog_apps_stop(apps, "thirds"), TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK_OK(tidelog_apps_list(apps, list, sizeof list));
    CHECK(strcmp(list, "[]") == 0);
    /* Freeing the handle releases the callbacks it holds. */
    REQUIRE_OK(tidelog_apps_create(apps, DEFINITION));
    CHECK_OK(tidelog_apps_add_callback(apps, "thirds", "OUT", on_json, &dropped, on_release, 0));
    CHECK(dropped.released == 8);
    /* Without a Firehose, an output into a delivery stream is refused. */
    CHECK_STATUS(tidelog_apps_create(apps, TO_FIREHOSE), TIDELOG_STATUS_VALIDATION);
    CHECK(strstr(tidelog_last_error_message(), "rows-ds") != NULL);
    CHECK_OK(tidelog_apps_free(apps));
    CHECK(dropped.released == 9);
    CHECK(dropped.calls == 0);

    /* A delivery stream as the output. */
    tidelog_firehose *fh = NULL;
    REQUIRE_OK(tidelog_firehose_open(e, "{\"ingest_limits\": \"unlimited\", \"tick_ms\": 5}", &fh));
    CHECK_STATUS(tidelog_apps_open_with_firehose(e, NULL, &apps), TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_apps_open_with_firehose(e, fh, NULL), TIDELOG_STATUS_NULL_POINTER);
    CHECK_STATUS(tidelog_apps_open_with_firehose(e, (tidelog_firehose *)e, &apps),
                 TIDELOG_STATUS_INVALID_HANDLE);
    REQUIRE_OK(tidelog_apps_open_with_firehose(e, fh, &apps));
    CHECK_STATUS(tidelog_apps_create(apps, TO_FIREHOSE), TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    REQUIRE_OK(tidelog_firehose_create_delivery_stream(fh, CREATE_DS, NULL));
    REQUIRE_OK(tidelog_apps_create(apps, TO_FIREHOSE));
    CHECK_OK(tidelog_apps_describe(apps, "to-files", description, sizeof description));
    CHECK(strstr(description, "\"DeliveryStream\":\"rows-ds\"") != NULL);
    REQUIRE_OK(tidelog_apps_start(apps, "to-files", "TRIM_HORIZON"));
    CHECK_OK(tidelog_apps_wait_idle(apps, "to-files", 300000));
    CHECK_OK(tidelog_apps_stop(apps, "to-files"));
    CHECK_OK(tidelog_firehose_flush(fh, "rows-ds", 120000));
    char bucket[4096];
    tl_path(bucket, sizeof bucket, "apps/firehose/buckets/out/rows");
    nftw(bucket, collect, 16, FTW_PHYS);
    CHECK(delivered_objects >= 1);
    /* One CSV line "k,v\n" per row, each once. */
    rows = 0;
    sum = 0;
    static char seen_v[RECORDS];
    int twice = 0;
    for (char *line = strtok(delivered, "\n"); line; line = strtok(NULL, "\n")) {
        char k[8];
        long v = -1;
        CHECK(sscanf(line, "%7[a-z],%ld", k, &v) == 2);
        CHECK(v % 3 == 0 && v >= 0 && v < RECORDS);
        CHECK(strcmp(k, (v % 2) ? "odd" : "even") == 0);
        if (v >= 0 && v < RECORDS) {
            if (seen_v[v]) twice++;
            seen_v[v] = 1;
        }
        sum += v;
        rows++;
    }
    CHECK(twice == 0);
    CHECK(rows == expected);
    CHECK(sum == expected_sum);
    CHECK(delivered_len > 0 && delivered[delivered_len - 1] == '\0'); /* strtok ate the last newline */

    /* The delivery stream as an input: its buffer read back from TRIM_HORIZON. */
    CHECK_OK(tidelog_create_stream(e, "evens", 1));
    REQUIRE_OK(tidelog_apps_create(apps, FROM_FIREHOSE));
    CHECK_OK(tidelog_apps_describe(apps, "from-files", description, sizeof description));
    CHECK(strstr(description, "\"Input\":{\"DeliveryStream\":\"rows-ds\"") != NULL);
    REQUIRE_OK(tidelog_apps_start(apps, "from-files", "TRIM_HORIZON"));
    CHECK_OK(tidelog_apps_wait_idle(apps, "from-files", 300000));
    CHECK_OK(tidelog_apps_describe(apps, "from-files", description, sizeof description));
    char records_in[32];
    snprintf(records_in, sizeof records_in, "\"RecordsIn\":%d", expected);
    CHECK(strstr(description, records_in) != NULL);
    CHECK(strstr(description, "\"Errors\":0") != NULL);
    n = tl_read_all(e, "evens", "shardId-000000000000", out, sizeof out);
    int evens = 0;
    long evens_sum = 0, expected_evens_sum = 0;
    int expected_evens = 0;
    for (int i = 0; i < RECORDS; i += 6) {
        expected_evens++;
        expected_evens_sum += i;
    }
    for (char *row = strtok(out, "|"); row; row = strtok(NULL, "|")) {
        char k[8];
        long v = -1;
        CHECK(sscanf(row, "%7[a-z],%ld", k, &v) == 2);
        CHECK(v % 6 == 0 && strcmp(k, "even") == 0);
        evens_sum += v;
        evens++;
    }
    CHECK((int)n == expected_evens);
    CHECK(evens == expected_evens);
    CHECK(evens_sum == expected_evens_sum);
    CHECK_OK(tidelog_apps_free(apps));
    tidelog_firehose_free(fh);
    CHECK_STATUS(tidelog_apps_free(apps), TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_OK(tidelog_apps_free(NULL));
    CHECK_OK(tidelog_engine_free(e));
    return tl_finish("test_apps");
}
