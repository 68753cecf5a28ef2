/*
 * test_zero_copy.c: a batch's record pointers point into the shard's memory-mapped
 * segment file (no copy), two reads of a record give the same bytes at the same
 * address, and the pointers stay valid until the batch is freed: after the engine is
 * closed and freed, and after the stream (and its files) are deleted.
 */
#include "tl_test.h"

/* The file /proc/self/maps names for the mapping holding `p` ("" if none). */
static void mapping_of(const void *p, char *path_out, size_t cap) {
    path_out[0] = '\0';
    FILE *maps = fopen("/proc/self/maps", "r");
    REQUIRE(maps != NULL);
    char line[4608];
    uintptr_t addr = (uintptr_t)p;
    while (fgets(line, sizeof line, maps)) {
        uintptr_t start = 0, end = 0;
        char path[4096] = "";
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %*s %*s %*s %4095[^\n]", &start, &end,
                   path) >= 2 &&
            start <= addr && addr < end) {
            snprintf(path_out, cap, "%s", path);
            break;
        }
    }
    fclose(maps);
}

static uint8_t pattern(size_t i, size_t j) {
    return (uint8_t)((i * 131 + j * 7) & 0xff);
}

int main(void) {
    tidelog_engine_options o = tl_options();
    tidelog_engine *e = tl_open("zero-copy", &o);
    char dir[4096];
    tl_path(dir, sizeof dir, "zero-copy");
    CHECK_OK(tidelog_create_stream(e, "z", 1));

    /* Records of 0 bytes to 256 KiB. */
    size_t sizes[] = { 0, 1, 100, 4096, 65536, 262144 };
    size_t count = sizeof sizes / sizeof sizes[0];
    uint8_t *buf = malloc(262144);
    REQUIRE(buf != NULL);
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < sizes[i]; j++) buf[j] = pattern(i, j);
        tidelog_put_record_output out = { .struct_size = sizeof out };
        CHECK_OK(tidelog_put_record(e, "z", "key", buf, sizes[i], NULL, &out));
    }
    free(buf);

    tidelog_iterator *it = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "z", "shardId-000000000000",
                                        TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0, &it));
    tidelog_batch *first = NULL, *second = NULL;
    CHECK_OK(tidelog_get_records(it, 0, &first));
    CHECK_OK(tidelog_iterator_free(it));
    CHECK_OK(tidelog_get_shard_iterator(e, "z", "shardId-000000000000",
                                        TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0, &it));
    CHECK_OK(tidelog_get_records(it, 0, &second));
    CHECK_OK(tidelog_iterator_free(it));
    size_t n = 0;
    CHECK_OK(tidelog_batch_count(first, &n));
    REQUIRE(n == count);

    tidelog_record recs[6];
    for (size_t i = 0; i < count; i++) {
        recs[i].struct_size = sizeof recs[i];
        CHECK_OK(tidelog_batch_record(first, i, &recs[i]));
        CHECK(recs[i].data_len == sizes[i]);
        CHECK(recs[i].data != NULL);
        CHECK(recs[i].partition_key_len == 3 && memcmp(recs[i].partition_key, "key", 3) == 0);
        /* The bytes are in a mapping of a segment file under the data directory. */
        if (sizes[i] > 0) {
            char mapped[4096];
            mapping_of(recs[i].data, mapped, sizeof mapped);
            CHECK(strncmp(mapped, dir, strlen(dir)) == 0);
            CHECK(strstr(mapped, "/streams/") != NULL);
            mapping_of(recs[i].data + recs[i].data_len - 1, mapped, sizeof mapped);
            CHECK(strncmp(mapped, dir, strlen(dir)) == 0);
        }
        /* Another read of the same record: the same address, not a copy. */
        tidelog_record again = { .struct_size = sizeof again };
        CHECK_OK(tidelog_batch_record(second, i, &again));
        CHECK(again.data == recs[i].data && again.partition_key == recs[i].partition_key);
        CHECK(strcmp(again.sequence_number, recs[i].sequence_number) == 0);
    }
    CHECK_OK(tidelog_batch_free(second));

    /* The pointers outlive the stream's deletion and the engine. */
    CHECK_OK(tidelog_delete_stream(e, "z"));
    CHECK_OK(tidelog_engine_free(e));
    for (size_t i = 0; i < count; i++) {
        int same = 1;
        for (size_t j = 0; j < recs[i].data_len; j++) same &= recs[i].data[j] == pattern(i, j);
        CHECK(same);
    }
    /* Accessors of the batch still answer after the engine is gone. */
    tidelog_record late = { .struct_size = sizeof late };
    CHECK_OK(tidelog_batch_record(first, count - 1, &late));
    CHECK(late.data == recs[count - 1].data);
    CHECK_OK(tidelog_batch_free(first));
    return tl_finish("test_zero_copy");
}
