/*
 * must_fail.c: a deliberate use after free, run under Valgrind by tests/c/run.sh,
 * which expects memcheck to report it. It proves the Valgrind set-up (the preloaded
 * wait shim, the library built with debug info) still sees errors in memory the
 * library hands out, so the clean runs of the real tests mean something.
 * Not a test of tidelog: never run it outside Valgrind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tidelog.h"

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    tidelog_engine_options o;
    if (TIDELOG_ENGINE_OPTIONS_INIT(&o) != TIDELOG_STATUS_OK) return 2;
    o.cores = 1;
    o.pin_cores = 0;
    o.write_records_per_sec = 1;
    o.manual_clock_start_ms = 1700000000000ull;
    const char *preempt = getenv("TL_PREEMPT_TIMER_US");
    if (preempt) o.preempt_timer_us = strtoull(preempt, NULL, 10);
    tidelog_engine *e = NULL;
    if (tidelog_engine_open(argv[1], &o, &e) != TIDELOG_STATUS_OK) return 2;
    if (tidelog_create_stream(e, "s", 1) != TIDELOG_STATUS_OK) return 2;
    /* Two entries, one record per second: the second fails with a message. */
    tidelog_put_records_entry entries[2] = {
        { .struct_size = sizeof entries[0], .partition_key = "k",
          .data = (const uint8_t *)"a", .data_len = 1 },
        { .struct_size = sizeof entries[0], .partition_key = "k",
          .data = (const uint8_t *)"b", .data_len = 1 },
    };
    tidelog_put_records_output *out = NULL;
    if (tidelog_put_records(e, "s", entries, 2, 0, &out) != TIDELOG_STATUS_OK) return 2;
    tidelog_put_records_result r = { .struct_size = sizeof r };
    if (tidelog_put_records_output_get(out, 1, &r) != TIDELOG_STATUS_OK) return 2;
    if (r.status == TIDELOG_STATUS_OK) return 2;
    tidelog_put_records_output_free(out);
    /* The message belonged to the output: reading it now is a use after free. */
    size_t len = strlen(r.error_message);
    tidelog_engine_free(e);
    printf("read %zu bytes of freed memory\n", len);
    return 0;
}
