/*
 * test_apps.c: continuous SQL applications from C. An application created from its
 * JSON definition filters a stream into another (CSV rows); the output is read back
 * and checked against a reference computed here; describe and list answer JSON; bad
 * SQL, a missing stream, a taken name, a bad position and a short buffer give their
 * statuses; stop, delete and free leave nothing behind (Valgrind checks for leaks).
 */
#include "tl_test.h"

#define RECORDS 300

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
    REQUIRE_OK(tidelog_apps_start(apps, "thirds", "TRIM_HORIZON"));
    CHECK_STATUS(tidelog_apps_start(apps, "thirds", "TRIM_HORIZON"), TIDELOG_STATUS_INVALID_ARGUMENT);
    CHECK_OK(tidelog_apps_wait_idle(apps, "thirds", 60000));

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
    CHECK_OK(tidelog_apps_delete(apps, "thirds"));
    CHECK_STATUS(tidelog_apps_stop(apps, "thirds"), TIDELOG_STATUS_RESOURCE_NOT_FOUND);
    CHECK_OK(tidelog_apps_list(apps, list, sizeof list));
    CHECK(strcmp(list, "[]") == 0);
    CHECK_OK(tidelog_apps_free(apps));
    CHECK_STATUS(tidelog_apps_free(apps), TIDELOG_STATUS_INVALID_HANDLE);
    CHECK_OK(tidelog_apps_free(NULL));
    CHECK_OK(tidelog_engine_free(e));
    return tl_finish("test_apps");
}
