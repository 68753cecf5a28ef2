/*
 * test_sql.c: SQL over streams from C. A session registers a JSON stream, runs a
 * filter + group-by whose result is read through the Arrow C Stream Interface and
 * checked against a reference computed here over the same records; bad SQL and a bad
 * schema give their statuses; a batch read with tidelog_get_records becomes an Arrow
 * stream whose `data` views point into the same mapped bytes tidelog_batch_record
 * lends (no copy); every Arrow struct is released (Valgrind checks for leaks).
 */
#include "tl_test.h"

#define RECORDS 600

/* The child of `schema` called `name` (its index, or -1). */
static int child_index(const struct ArrowSchema *schema, const char *name) {
    for (int64_t i = 0; i < schema->n_children; i++) {
        if (strcmp(schema->children[i]->name, name) == 0) return (int)i;
    }
    return -1;
}

/* Value `i` of a utf8 array ("u": 32-bit offsets), copied into `out`. */
static void utf8_value(const struct ArrowArray *a, int64_t i, char *out, size_t cap) {
    const int32_t *offsets = (const int32_t *)a->buffers[1];
    const char *data = (const char *)a->buffers[2];
    int64_t at = a->offset + i;
    size_t len = (size_t)(offsets[at + 1] - offsets[at]);
    if (len >= cap) len = cap - 1;
    memcpy(out, data + offsets[at], len);
    out[len] = '\0';
}

static void test_query(tidelog_engine *e) {
    CHECK_OK(tidelog_create_stream(e, "orders", 2));
    /* Reference: per region, the count and sum of items of orders with total > 50. */
    const char *regions[3] = { "apac", "eu", "us" };
    int64_t count[3] = { 0, 0, 0 }, items[3] = { 0, 0, 0 };
    char body[256], key[32];
    for (int i = 0; i < RECORDS; i++) {
        int region = i % 3;
        int total = (i * 37) % 100;
        int n = i % 7 + 1;
        snprintf(body, sizeof body,
                 "{\"id\": %d, \"region\": \"%s\", \"total\": %d.5, \"items\": %d}", i,
                 regions[region], total, n);
        snprintf(key, sizeof key, "k%d", i % 13);
        tl_put(e, "orders", key, body);
        if (total + 0.5 > 50) {
            count[region]++;
            items[region] += n;
        }
    }
    tl_put(e, "orders", "bad", "not json at all");

    tidelog_sql_session *sql = NULL;
    REQUIRE_OK(tidelog_sql_session_open(e, 2, &sql));
    const char *schema =
        "{\"RecordFormat\": {\"RecordFormatType\": \"JSON\"}, \"RecordColumns\": ["
        "{\"Name\": \"id\", \"SqlType\": \"BIGINT\", \"Mapping\": \"$.id\"},"
        "{\"Name\": \"region\", \"SqlType\": \"VARCHAR(4)\", \"Mapping\": \"$.region\"},"
        "{\"Name\": \"total\", \"SqlType\": \"DOUBLE\", \"Mapping\": \"$.total\"},"
        "{\"Name\": \"items\", \"SqlType\": \"INTEGER\", \"Mapping\": \"$.items\"}]}";
    CHECK_OK(tidelog_sql_register_stream(sql, "orders", "orders", schema));
    CHECK_STATUS(tidelog_sql_register_stream(sql, "orders", "orders", schema),
                 TIDELOG_STATUS_RESOURCE_IN_USE);
    CHECK_STATUS(tidelog_sql_register_stream(sql, "x", "orders", "{\"RecordColumns\": 3}"),
                 TIDELOG_STATUS_SCHEMA);
    CHECK_STATUS(tidelog_sql_register_stream(sql, "x", "missing", schema),
                 TIDELOG_STATUS_RESOURCE_NOT_FOUND);

    struct ArrowArrayStream stream;
    uint64_t rejected = 99;
    CHECK_STATUS(tidelog_sql_query(sql, "SELEC region FROM orders", &rejected, &stream),
                 TIDELOG_STATUS_SQL);
    CHECK(strstr(tidelog_last_error_message(), "Line: 1, Column: 1") != NULL);
    CHECK(rejected == 99); /* untouched on failure */
    CHECK_STATUS(tidelog_sql_query(sql, "SELECT 1", NULL, NULL), TIDELOG_STATUS_NULL_POINTER);

    REQUIRE_OK(tidelog_sql_query(sql,
                                 "SELECT region, COUNT(*) AS n, SUM(items) AS items FROM orders "
                                 "WHERE total > 50 GROUP BY region ORDER BY region",
                                 &rejected, &stream));
    CHECK(rejected == 1);
    struct ArrowSchema schema_out;
    REQUIRE(stream.get_schema(&stream, &schema_out) == 0);
    CHECK(schema_out.n_children == 3);
    int region_col = child_index(&schema_out, "region");
    int n_col = child_index(&schema_out, "n");
    int items_col = child_index(&schema_out, "items");
    REQUIRE(region_col >= 0 && n_col >= 0 && items_col >= 0);
    CHECK(strcmp(schema_out.children[n_col]->format, "l") == 0); /* int64 */
    int rows = 0;
    for (;;) {
        struct ArrowArray array;
        REQUIRE(stream.get_next(&stream, &array) == 0);
        if (array.release == NULL) break; /* end of stream */
        const struct ArrowArray *regions_a = array.children[region_col];
        const int64_t *n = (const int64_t *)array.children[n_col]->buffers[1];
        const int64_t *sum = (const int64_t *)array.children[items_col]->buffers[1];
        for (int64_t i = 0; i < array.length; i++, rows++) {
            char region[16];
            utf8_value(regions_a, i, region, sizeof region);
            REQUIRE(rows < 3);
            CHECK(strcmp(region, regions[rows]) == 0);
            CHECK(n[array.children[n_col]->offset + i] == count[rows]);
            CHECK(sum[array.children[items_col]->offset + i] == items[rows]);
        }
        array.release(&array);
    }
    CHECK(rows == 3);
    schema_out.release(&schema_out);
    stream.release(&stream);

    /* The error table lists the bad record. */
    REQUIRE_OK(tidelog_sql_query(sql, "SELECT error FROM orders_errors", NULL, &stream));
    struct ArrowArray errors;
    REQUIRE(stream.get_next(&stream, &errors) == 0);
    REQUIRE(errors.release != NULL);
    CHECK(errors.length == 1);
    char reason[128];
    utf8_value(errors.children[0], 0, reason, sizeof reason);
    CHECK(strstr(reason, "not a JSON object") != NULL);
    errors.release(&errors);
    stream.release(&stream);

    char inferred[2048];
    CHECK_OK(tidelog_sql_infer_schema(sql, "orders", 50, inferred, sizeof inferred));
    CHECK(strstr(inferred, "\"$.region\"") != NULL);
    CHECK_STATUS(tidelog_sql_infer_schema(sql, "orders", 50, inferred, 4),
                 TIDELOG_STATUS_BUFFER_TOO_SMALL);
    CHECK_OK(tidelog_sql_deregister(sql, "orders"));
    CHECK_STATUS(tidelog_sql_deregister(sql, "orders"), TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK_OK(tidelog_sql_session_free(sql));
    CHECK_STATUS(tidelog_sql_session_free(sql), TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_OK(tidelog_sql_session_free(NULL));
}

static void test_batch_to_arrow(tidelog_engine *e) {
    CHECK_OK(tidelog_create_stream(e, "raw", 1));
    char body[128];
    for (int i = 0; i < 100; i++) {
        snprintf(body, sizeof body, "payload number %d, long enough to live in a buffer", i);
        tl_put(e, "raw", "key", body);
    }
    tidelog_iterator *it = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "raw", "shardId-000000000000",
                                        TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0, &it));
    tidelog_batch *batch = NULL;
    REQUIRE_OK(tidelog_get_records(it, 0, &batch));
    CHECK_OK(tidelog_iterator_free(it));

    struct ArrowArrayStream stream;
    REQUIRE_OK(tidelog_batch_to_arrow(batch, &stream));
    CHECK_STATUS(tidelog_batch_to_arrow(batch, NULL), TIDELOG_STATUS_NULL_POINTER);
    struct ArrowSchema schema;
    REQUIRE(stream.get_schema(&stream, &schema) == 0);
    int data_col = child_index(&schema, "data");
    REQUIRE(data_col >= 0);
    CHECK(strcmp(schema.children[data_col]->format, "vz") == 0); /* binary view */
    struct ArrowArray array;
    REQUIRE(stream.get_next(&stream, &array) == 0);
    REQUIRE(array.release != NULL);
    CHECK(array.length == 100);
    const struct ArrowArray *data = array.children[data_col];
    const uint8_t *views = (const uint8_t *)data->buffers[1];
    for (int64_t i = 0; i < array.length; i++) {
        tidelog_record record = { .struct_size = sizeof record };
        CHECK_OK(tidelog_batch_record(batch, (size_t)i, &record));
        const uint8_t *view = views + 16 * (data->offset + i);
        int32_t len, buffer, offset;
        memcpy(&len, view, 4);
        memcpy(&buffer, view + 8, 4);
        memcpy(&offset, view + 12, 4);
        CHECK((size_t)len == record.data_len);
        REQUIRE(len > 12 && 2 + buffer < data->n_buffers);
        const uint8_t *bytes = (const uint8_t *)data->buffers[2 + buffer] + offset;
        CHECK(bytes == record.data); /* the very bytes of the mapping: no copy */
    }
    CHECK_OK(tidelog_batch_free(batch));
    /* The arrays own their buffers: still readable after the batch is gone. */
    int32_t buffer, offset;
    memcpy(&buffer, views + 16 * 99 + 8, 4);
    memcpy(&offset, views + 16 * 99 + 12, 4);
    CHECK(memcmp((const uint8_t *)data->buffers[2 + buffer] + offset, "payload number 99", 17) == 0);
    array.release(&array);
    struct ArrowArray end;
    REQUIRE(stream.get_next(&stream, &end) == 0);
    CHECK(end.release == NULL);
    schema.release(&schema);
    stream.release(&stream);
}

int main(void) {
    tidelog_engine_options o = tl_options();
    tidelog_engine *e = tl_open("sql", &o);
    test_query(e);
    test_batch_to_arrow(e);
    CHECK(strcmp(tidelog_status_name(TIDELOG_STATUS_UNSUPPORTED), "TIDELOG_STATUS_UNSUPPORTED") == 0);
    CHECK_OK(tidelog_engine_free(e));
    return tl_finish("test_sql");
}
