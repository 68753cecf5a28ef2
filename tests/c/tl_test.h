/*
 * tl_test.h: the small harness the C tests share. Each check counts as passed or
 * failed; a failure prints the file, line, expression, status name and the library's
 * last error message. tl_finish() prints "N passed, M failed" and returns the exit
 * code (non-zero if anything failed or if handles leaked).
 *
 * Also: a temporary data directory per test (removed at the end), engine options
 * suited to tests (one unpinned core, short spins, no rate limits), and a snapshot of
 * a directory tree (paths, sizes, modification times) to prove that a refused call
 * left every file untouched.
 */
#ifndef TL_TEST_H
#define TL_TEST_H

#define _GNU_SOURCE
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tidelog.h"

static int tl_passed;
static int tl_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            tl_passed++;                                                             \
        } else {                                                                     \
            tl_failed++;                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__,  \
                    __LINE__, #cond, tidelog_last_error_message());                  \
        }                                                                            \
    } while (0)

/* Checks that `call` returns `expected`; evaluates to the status. */
#define CHECK_STATUS(call, expected) tl_check_status((call), (expected), #call, __FILE__, __LINE__)
#define CHECK_OK(call) CHECK_STATUS(call, TIDELOG_STATUS_OK)

static inline tidelog_status tl_check_status(tidelog_status got, tidelog_status expected,
                                             const char *expr, const char *file, int line) {
    if (got == expected) {
        tl_passed++;
    } else {
        tl_failed++;
        fprintf(stderr, "%s:%d: %s\n    returned %s (%u), expected %s (%u)\n    last error: %s\n",
                file, line, expr, tidelog_status_name(got), (unsigned)got,
                tidelog_status_name(expected), (unsigned)expected,
                tidelog_last_error_message());
    }
    return got;
}

/* Stops the test at once (used when later checks could not run meaningfully). */
#define REQUIRE(cond)                                                                \
    do {                                                                             \
        int tl_ok_ = (cond) ? 1 : 0;                                                 \
        CHECK(tl_ok_ && #cond);                                                      \
        if (!tl_ok_) {                                                               \
            fprintf(stderr, "%s:%d: cannot go on: %s\n", __FILE__, __LINE__, #cond); \
            exit(2);                                                                 \
        }                                                                            \
    } while (0)

#define REQUIRE_OK(call)                                                             \
    do {                                                                             \
        if (CHECK_OK(call) != TIDELOG_STATUS_OK) {                                   \
            fprintf(stderr, "%s:%d: cannot go on\n", __FILE__, __LINE__);            \
            exit(2);                                                                 \
        }                                                                            \
    } while (0)

/* ---- temporary directories ------------------------------------------------------ */

static char tl_root[4096];

static int tl_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void tl_remove_tree(const char *path) {
    nftw(path, tl_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates the test's root directory ($TMPDIR or /tmp) once. */
static inline const char *tl_root_dir(void) {
    if (tl_root[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(tl_root, sizeof tl_root, "%s/tidelog-c-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        REQUIRE(mkdtemp(tl_root) != NULL);
    }
    return tl_root;
}

/* A fresh path under the root (not created: the engine creates it). */
static inline void tl_path(char *out, size_t len, const char *name) {
    snprintf(out, len, "%s/%s", tl_root_dir(), name);
}

/* ---- engines ------------------------------------------------------------------- */

/* Options for tests: one unpinned core, short spins, no rate limits. Under Valgrind
 * (tests/c/run.sh sets TL_PREEMPT_TIMER_US) a longer glommio preemption timer: the
 * first run of glommio's code is slow enough there to trip the start-up race that
 * `preempt_timer_us` documents. */
static inline tidelog_engine_options tl_options(void) {
    tidelog_engine_options o;
    REQUIRE_OK(TIDELOG_ENGINE_OPTIONS_INIT(&o));
    const char *preempt = getenv("TL_PREEMPT_TIMER_US");
    if (preempt && *preempt) o.preempt_timer_us = strtoull(preempt, NULL, 10);
    o.cores = 1;
    o.pin_cores = 0;
    o.core_spin_us = 20;
    o.reply_spin_us = 20;
    o.subscriber_spin_us = 20;
    o.write_bytes_per_sec = UINT64_MAX;
    o.write_records_per_sec = UINT64_MAX;
    o.read_bytes_per_sec = UINT64_MAX;
    o.read_calls_per_sec = UINT64_MAX;
    o.read_penalty_after_max_call_ms = 0;
    o.subscribe_bytes_per_sec = UINT64_MAX;
    return o;
}

static inline tidelog_engine *tl_open(const char *name, const tidelog_engine_options *o) {
    char dir[4096];
    tl_path(dir, sizeof dir, name);
    tidelog_engine *engine = NULL;
    REQUIRE_OK(tidelog_engine_open(dir, o, &engine));
    REQUIRE(engine != NULL);
    return engine;
}

/* Puts one record with a NUL-terminated payload; returns its output. */
static inline tidelog_put_record_output tl_put(tidelog_engine *e, const char *stream,
                                               const char *key, const char *data) {
    tidelog_put_record_output out = { .struct_size = sizeof out };
    CHECK_OK(tidelog_put_record(e, stream, key, (const uint8_t *)data, strlen(data), NULL, &out));
    return out;
}

/* Compares two decimal sequence numbers (no leading zeros): <0, 0, >0. */
static inline int tl_seq_cmp(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}

/* Reads every record of a shard from the trim horizon into `data_out` (concatenated
 * payloads, separated by '|'); returns the record count. */
static inline size_t tl_read_all(tidelog_engine *e, const char *stream, const char *shard,
                                 char *data_out, size_t cap) {
    tidelog_iterator *it = NULL;
    REQUIRE_OK(tidelog_get_shard_iterator(e, stream, shard, TIDELOG_ITERATOR_TYPE_TRIM_HORIZON,
                                          NULL, 0, &it));
    size_t total = 0, used = 0;
    if (cap) data_out[0] = '\0';
    for (;;) {
        bool ended = false;
        CHECK_OK(tidelog_iterator_is_ended(it, &ended));
        if (ended) break;
        tidelog_batch *b = NULL;
        REQUIRE_OK(tidelog_get_records(it, 0, &b));
        size_t n = 0;
        CHECK_OK(tidelog_batch_count(b, &n));
        for (size_t i = 0; i < n; i++) {
            tidelog_record r = { .struct_size = sizeof r };
            CHECK_OK(tidelog_batch_record(b, i, &r));
            if (used + r.data_len + 2 < cap) {
                memcpy(data_out + used, r.data, r.data_len);
                used += r.data_len;
                data_out[used++] = '|';
                data_out[used] = '\0';
            }
        }
        total += n;
        CHECK_OK(tidelog_batch_free(b));
        if (n == 0) break;
    }
    CHECK_OK(tidelog_iterator_free(it));
    return total;
}

/* ---- file-tree snapshots --------------------------------------------------------- */

#define TL_SNAPSHOT_MAX 4096

typedef struct {
    size_t count;
    char lines[TL_SNAPSHOT_MAX][320];
} tl_snapshot;

static tl_snapshot *tl_snap_target;

static int tl_snap_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)flag;
    (void)ftw;
    if (tl_snap_target->count < TL_SNAPSHOT_MAX) {
        snprintf(tl_snap_target->lines[tl_snap_target->count++], 320, "%s %lld %lld.%09ld", path,
                 (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
    }
    return 0;
}

/* Every path under `dir` with its size and modification time. */
static inline tl_snapshot *tl_snapshot_take(const char *dir) {
    tl_snapshot *s = calloc(1, sizeof *s);
    REQUIRE(s != NULL);
    tl_snap_target = s;
    nftw(dir, tl_snap_entry, 16, FTW_PHYS);
    return s;
}

static inline bool tl_snapshot_equal(const tl_snapshot *a, const tl_snapshot *b) {
    if (a->count != b->count) return false;
    for (size_t i = 0; i < a->count; i++) {
        if (strcmp(a->lines[i], b->lines[i]) != 0) {
            fprintf(stderr, "changed: %s -> %s\n", a->lines[i], b->lines[i]);
            return false;
        }
    }
    return true;
}

/* ---- the end --------------------------------------------------------------------- */

/* Prints the totals, checks that no handle leaked, removes the root directory. */
static inline int tl_finish(const char *name) {
    size_t live = tidelog_live_handle_count();
    if (live != 0) {
        tl_failed++;
        fprintf(stderr, "%s: %zu tidelog handles are still live at the end\n", name, live);
    }
    if (tl_root[0] != '\0') tl_remove_tree(tl_root);
    printf("%s: %d passed, %d failed\n", name, tl_passed, tl_failed);
    return tl_failed == 0 ? 0 : 1;
}

#endif
