/*
 * ffi_bench.c: the C side of tidelog-bench's `ffi` workload. Measures, through the C
 * ABI (libtidelog, include/tidelog.h) from a C thread, what the workload's Rust side
 * measures through the Rust API:
 *   put      tidelog_put_record, `os` durability, back to back (closed loop);
 *   get.1    tidelog_get_records of 1 record, then tidelog_batch_count,
 *            tidelog_batch_record for each record (one byte of its data read through
 *            the zero-copy pointer) and tidelog_batch_free, following the iterator
 *            through a prefilled shard and starting over at its end;
 *   get.100  the same with 100 records per call;
 *   e2e      a put (paced with sleeps at RATE/s) until a callback subscription
 *            (tidelog_subscribe_with_callback) sees the record: each record carries
 *            the CLOCK_MONOTONIC time of its put call.
 * Each request is timed with clock_gettime(CLOCK_MONOTONIC) around the call, after a
 * warm-up that is not recorded. Latencies go into log-linear histograms (1,024 buckets
 * per power of two: within 0.1%, like the bench's HdrHistograms) printed as one JSON
 * object on stdout: {"library_version", "touched", "cases": [{"key", "ops", "records",
 * "data_bytes", "seconds", "cpu_ns", "min_ns", "max_ns", "buckets": [[ns, count]...]}]}
 * where each bucket is printed as its midpoint. Errors go to stderr with exit status 1;
 * bad arguments exit with status 2.
 *
 * Usage: ffi_bench DATA_DIR WARMUP_MS DURATION_MS RECORD_BYTES CORES PIN E2E_RATE
 *                  PREALLOCATION
 *   PIN 1: the engine pins its cores to the first CORES CPUs this process may use and
 *   the measuring threads are pinned to the others (as the bench's own threads are).
 *   PREALLOCATION: zeroed or allocated.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tidelog.h"

/* ---- histograms ---------------------------------------------------------------- */

#define SUB_BITS 11u                    /* values below 2^11 ns are exact */
#define SUB_COUNT (1u << SUB_BITS)
#define HALF (SUB_COUNT / 2u)           /* buckets per power of two above that */
#define TOP_EXP 44u                     /* 2^44 ns (about 4.9 hours) and up: last bucket */
#define BUCKETS (SUB_COUNT + (TOP_EXP - SUB_BITS) * HALF)

typedef struct hist {
    uint64_t counts[BUCKETS];
    uint64_t total;
    uint64_t min;
    uint64_t max;
} hist;

static size_t bucket_of(uint64_t v) {
    if (v < SUB_COUNT) {
        return (size_t)v;
    }
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
    if (e >= TOP_EXP) {
        return BUCKETS - 1;
    }
    unsigned shift = e - (SUB_BITS - 1u); /* v >> shift is in [HALF, SUB_COUNT) */
    return SUB_COUNT + (size_t)(e - SUB_BITS) * HALF + (size_t)((v >> shift) - HALF);
}

static uint64_t bucket_midpoint(size_t b) {
    if (b < SUB_COUNT) {
        return (uint64_t)b;
    }
    size_t k = b - SUB_COUNT;
    unsigned e = SUB_BITS + (unsigned)(k / HALF);
    uint64_t m = HALF + (uint64_t)(k % HALF);
    unsigned shift = e - (SUB_BITS - 1u);
    return (m << shift) + ((UINT64_C(1) << shift) >> 1);
}

static hist *hist_new(void) {
    hist *h = calloc(1, sizeof *h);
    if (h == NULL) {
        fprintf(stderr, "ffi_bench: out of memory for a histogram\n");
        exit(1);
    }
    h->min = UINT64_MAX;
    return h;
}

static void hist_record(hist *h, uint64_t ns) {
    if (ns == 0) {
        ns = 1;
    }
    h->counts[bucket_of(ns)]++;
    h->total++;
    if (ns < h->min) {
        h->min = ns;
    }
    if (ns > h->max) {
        h->max = ns;
    }
}

/* ---- clocks, errors, pinning --------------------------------------------------- */

static uint64_t clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static void check(tidelog_status status, const char *what) {
    if (status != TIDELOG_STATUS_OK) {
        fprintf(stderr, "ffi_bench: %s failed: %s: %s\n", what, tidelog_status_name(status),
                tidelog_last_error_message());
        exit(1);
    }
}

#define CHECK(call) check((call), #call)

/* The CPUs left to the measuring threads: the allowed ones after the first `cores`. */
static cpu_set_t free_cpus;
static int free_cpu_count;

static void pin_to_free_cpus(void) {
    if (free_cpu_count > 0) {
        sched_setaffinity(0, sizeof free_cpus, &free_cpus); /* best effort */
    }
}

/* ---- arguments ------------------------------------------------------------------- */

static uint64_t parse_u64(const char *text, const char *name, uint64_t lo, uint64_t hi) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "ffi_bench: %s: `%s` is not a number in [%" PRIu64 ", %" PRIu64 "]\n",
                name, text, lo, hi);
        exit(2);
    }
    return (uint64_t)v;
}

static struct {
    const char *dir;
    uint64_t warmup_ns;
    uint64_t duration_ns;
    size_t record_bytes;
    uint32_t cores;
    bool pin;
    uint64_t e2e_rate;
    uint32_t preallocation;
} args;

/* ---- the engine and the cases ---------------------------------------------------- */

static tidelog_engine *engine;
static uint8_t *data;
static volatile uint64_t touched; /* bytes read through the zero-copy pointers */

typedef struct measured {
    hist *latency;
    uint64_t ops;
    uint64_t records;
    double seconds;
    uint64_t cpu_ns;
} measured;

static void print_case(const char *key, const measured *m, bool first) {
    printf("%s{\"key\":\"%s\",\"ops\":%" PRIu64 ",\"records\":%" PRIu64
           ",\"data_bytes\":%" PRIu64 ",\"seconds\":%.9f,\"cpu_ns\":%" PRIu64
           ",\"min_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64 ",\"buckets\":[",
           first ? "" : ",", key, m->ops, m->records, m->records * (uint64_t)args.record_bytes,
           m->seconds, m->cpu_ns, m->latency->total ? m->latency->min : 0, m->latency->max);
    bool any = false;
    for (size_t b = 0; b < BUCKETS; b++) {
        if (m->latency->counts[b] != 0) {
            printf("%s[%" PRIu64 ",%" PRIu64 "]", any ? "," : "", bucket_midpoint(b),
                   m->latency->counts[b]);
            any = true;
        }
    }
    printf("]}");
}

/* put: one record per call, `os`, to the stream's only shard. */
static tidelog_put_options put_options;
static tidelog_put_record_output put_output;

static uint64_t put_op(void *unused) {
    (void)unused;
    CHECK(tidelog_put_record(engine, "put", "ffi", data, args.record_bytes, &put_options,
                             &put_output));
    return 1;
}

/* get: the reader's state. */
typedef struct reader {
    tidelog_iterator *iterator;
    uint32_t per_call;
    uint64_t written;   /* records in the shard */
    uint64_t remaining; /* records after the iterator's position */
} reader;

static void reader_restart(reader *r) {
    CHECK(tidelog_iterator_free(r->iterator));
    r->iterator = NULL;
    CHECK(tidelog_get_shard_iterator(engine, "get", "shardId-000000000000",
                                     TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL, 0, &r->iterator));
    r->remaining = r->written;
}

static uint64_t get_op(void *state) {
    reader *r = state;
    if (r->remaining == 0) {
        reader_restart(r);
    }
    uint32_t limit = r->per_call < r->remaining ? r->per_call : (uint32_t)r->remaining;
    tidelog_batch *batch = NULL;
    CHECK(tidelog_get_records(r->iterator, limit, &batch));
    size_t count = 0;
    CHECK(tidelog_batch_count(batch, &count));
    if (count == 0) {
        fprintf(stderr, "ffi_bench: get_records found no records before the end\n");
        exit(1);
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < count; i++) {
        tidelog_record record = {.struct_size = sizeof record};
        CHECK(tidelog_batch_record(batch, i, &record));
        sum += record.data_len ? record.data[record.data_len / 2] : 0;
    }
    touched += sum;
    CHECK(tidelog_batch_free(batch));
    r->remaining -= count < r->remaining ? count : r->remaining;
    return count;
}

/* A closed loop: warm-up (not recorded), then requests until the duration is over. */
static measured time_loop(uint64_t (*op)(void *), void *state) {
    uint64_t warm_end = now_ns() + args.warmup_ns;
    while (now_ns() < warm_end) {
        op(state);
    }
    measured m = {.latency = hist_new()};
    uint64_t cpu_before = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t start = now_ns();
    uint64_t end = start + args.duration_ns;
    for (;;) {
        uint64_t sent = now_ns();
        uint64_t records = op(state);
        uint64_t done = now_ns();
        hist_record(m.latency, done - sent);
        m.ops++;
        m.records += records;
        if (done >= end) {
            break;
        }
    }
    m.seconds = (double)(now_ns() - start) / 1e9;
    m.cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_before;
    return m;
}

/* The prefill of the get cases: as many 1-shard records as the bench's get workload. */
static uint64_t prefill(void) {
    size_t target = 20000;
    if ((64u << 20) / args.record_bytes < target) {
        target = (64u << 20) / args.record_bytes;
    }
    target = target / 100 * 100;
    if (target == 0) {
        target = 100;
    }
    static const size_t batches[] = {100, 50, 25, 20, 10, 5, 4, 2, 1};
    size_t batch = 1;
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
        if (batches[i] * (args.record_bytes + 16) <= (5u << 20)) {
            batch = batches[i];
            break;
        }
    }
    tidelog_put_records_entry entries[100];
    for (size_t i = 0; i < batch; i++) {
        entries[i] = (tidelog_put_records_entry){
            .struct_size = sizeof entries[i],
            .partition_key = "get",
            .data = data,
            .data_len = args.record_bytes,
        };
    }
    uint64_t written = 0;
    while (written < target) {
        tidelog_put_records_output *out = NULL;
        CHECK(tidelog_put_records(engine, "get", entries, batch, TIDELOG_DURABILITY_OS, &out));
        size_t failed = 0;
        CHECK(tidelog_put_records_output_failed_count(out, &failed));
        CHECK(tidelog_put_records_output_free(out));
        if (failed != 0) {
            fprintf(stderr, "ffi_bench: prefill: %zu records failed\n", failed);
            exit(1);
        }
        written += batch;
    }
    CHECK(tidelog_engine_flush(engine));
    return written;
}

/* e2e: the callback subscriber's state (written by the subscription's thread only;
 * read by the main thread after tidelog_subscription_close joined that thread). */
typedef struct subscriber {
    hist *latency;
    _Atomic uint64_t seen;
    _Atomic bool failed;
    bool pinned;
} subscriber;

static bool on_event(void *user_data, const tidelog_subscription_event *event) {
    subscriber *s = user_data;
    if (!s->pinned) {
        pin_to_free_cpus();
        s->pinned = true;
    }
    if (event->kind != TIDELOG_EVENT_KIND_RECORDS) {
        /* The shard of a 1-shard stream under test never ends: anything else is an
         * error (or the engine closing). */
        atomic_store(&s->failed, true);
        return false;
    }
    uint64_t now = now_ns();
    size_t count = 0;
    if (tidelog_batch_count(event->batch, &count) != TIDELOG_STATUS_OK) {
        atomic_store(&s->failed, true);
        return false;
    }
    uint64_t seen = 0;
    for (size_t i = 0; i < count; i++) {
        tidelog_record record = {.struct_size = sizeof record};
        if (tidelog_batch_record(event->batch, i, &record) != TIDELOG_STATUS_OK ||
            record.data_len < 9) {
            atomic_store(&s->failed, true);
            return false;
        }
        uint64_t stamp;
        memcpy(&stamp, record.data, sizeof stamp);
        if (record.data[8] == 1) {
            hist_record(s->latency, now > stamp ? now - stamp : 0);
            seen++;
        }
    }
    atomic_fetch_add_explicit(&s->seen, seen, memory_order_release);
    return true;
}

static measured e2e(void) {
    subscriber s = {.latency = hist_new()};
    tidelog_subscription *sub = NULL;
    CHECK(tidelog_subscribe_with_callback(engine, "e2e", "shardId-000000000000",
                                          TIDELOG_ITERATOR_TYPE_LATEST, NULL, 0, false,
                                          on_event, &s, &sub));
    uint64_t period = UINT64_C(1000000000) / args.e2e_rate;
    uint64_t warm_end = now_ns() + args.warmup_ns;
    uint64_t window_start = 0;
    uint64_t in_window = 0;
    uint64_t intended = now_ns();
    for (;;) {
        struct timespec until = {.tv_sec = (time_t)(intended / 1000000000u),
                                 .tv_nsec = (long)(intended % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
        }
        intended += period;
        uint64_t now = now_ns();
        bool measuring = now >= warm_end;
        if (measuring && window_start == 0) {
            window_start = now;
        }
        if (window_start != 0 && now - window_start >= args.duration_ns) {
            break;
        }
        memcpy(data, &now, sizeof now);
        data[8] = measuring ? 1 : 0;
        CHECK(tidelog_put_record(engine, "e2e", "e2e", data, args.record_bytes, &put_options,
                                 &put_output));
        in_window += measuring ? 1 : 0;
        if (atomic_load(&s.failed)) {
            break;
        }
    }
    double seconds = (double)(now_ns() - window_start) / 1e9;
    /* Every record put in the window must arrive; give the subscriber 10 s. */
    uint64_t deadline = now_ns() + UINT64_C(10000000000);
    while (atomic_load_explicit(&s.seen, memory_order_acquire) < in_window &&
           !atomic_load(&s.failed) && now_ns() < deadline) {
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 1000000};
        nanosleep(&pause, NULL);
    }
    CHECK(tidelog_subscription_close(sub));
    uint64_t seen = atomic_load(&s.seen);
    if (atomic_load(&s.failed) || seen != in_window) {
        fprintf(stderr,
                "ffi_bench: the callback subscriber saw %" PRIu64 " of the %" PRIu64
                " records put in the window%s\n",
                seen, in_window, atomic_load(&s.failed) ? " (it received an error event)" : "");
        exit(1);
    }
    return (measured){.latency = s.latency, .ops = in_window, .records = in_window,
                      .seconds = seconds, .cpu_ns = 0};
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: ffi_bench DATA_DIR WARMUP_MS DURATION_MS RECORD_BYTES CORES "
                        "PIN E2E_RATE PREALLOCATION\n");
        return 2;
    }
    if (tidelog_version_number() >> 16 != TIDELOG_VERSION_MAJOR ||
        (tidelog_version_number() >> 8 & 0xff) < TIDELOG_VERSION_MINOR) {
        fprintf(stderr, "ffi_bench: library %s does not match the header %d.%d\n",
                tidelog_version_string(), TIDELOG_VERSION_MAJOR, TIDELOG_VERSION_MINOR);
        return 1;
    }
    args.dir = argv[1];
    args.warmup_ns = parse_u64(argv[2], "WARMUP_MS", 0, 600000) * 1000000u;
    args.duration_ns = parse_u64(argv[3], "DURATION_MS", 1, 3600000) * 1000000u;
    args.record_bytes = (size_t)parse_u64(argv[4], "RECORD_BYTES", 16, (1u << 20) - 64);
    args.cores = (uint32_t)parse_u64(argv[5], "CORES", 1, 1024);
    args.pin = parse_u64(argv[6], "PIN", 0, 1) == 1;
    args.e2e_rate = parse_u64(argv[7], "E2E_RATE", 1, 10000000);
    if (strcmp(argv[8], "zeroed") == 0) {
        args.preallocation = TIDELOG_PREALLOCATION_ZEROED;
    } else if (strcmp(argv[8], "allocated") == 0) {
        args.preallocation = TIDELOG_PREALLOCATION_ALLOCATED;
    } else {
        fprintf(stderr, "ffi_bench: PREALLOCATION: `%s` is not zeroed or allocated\n", argv[8]);
        return 2;
    }

    /* Before anything is pinned: the CPUs after the cores' are the measuring threads'. */
    cpu_set_t allowed;
    CPU_ZERO(&free_cpus);
    if (args.pin && sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
        uint32_t skipped = 0;
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
            if (!CPU_ISSET(cpu, &allowed)) {
                continue;
            }
            if (skipped < args.cores) {
                skipped++;
            } else {
                CPU_SET(cpu, &free_cpus);
                free_cpu_count++;
            }
        }
    }

    tidelog_engine_options options;
    TIDELOG_ENGINE_OPTIONS_INIT(&options);
    options.cores = args.cores;
    options.pin_cores = args.pin ? 1 : 0;
    options.preallocation = args.preallocation;
    /* Limits off, as the bench's Rust engines run (Limits::unlimited). */
    options.write_bytes_per_sec = UINT64_MAX;
    options.write_records_per_sec = UINT64_MAX;
    options.read_bytes_per_sec = UINT64_MAX;
    options.read_calls_per_sec = UINT64_MAX;
    options.read_penalty_after_max_call_ms = 0;
    options.subscribe_bytes_per_sec = UINT64_MAX;
    CHECK(tidelog_engine_open(args.dir, &options, &engine));
    pin_to_free_cpus();

    data = malloc(args.record_bytes);
    if (data == NULL) {
        fprintf(stderr, "ffi_bench: out of memory for a record\n");
        return 1;
    }
    memset(data, 0xC3, args.record_bytes);
    put_options = (tidelog_put_options){.struct_size = sizeof put_options,
                                        .durability = TIDELOG_DURABILITY_OS};
    put_output = (tidelog_put_record_output){.struct_size = sizeof put_output};
    CHECK(tidelog_create_stream(engine, "put", 1));
    CHECK(tidelog_create_stream(engine, "get", 1));
    CHECK(tidelog_create_stream(engine, "e2e", 1));

    measured put = time_loop(put_op, NULL);

    memset(data, 0x42, args.record_bytes);
    uint64_t written = prefill();
    measured gets[2];
    const uint32_t per_call[2] = {1, 100};
    for (int i = 0; i < 2; i++) {
        reader r = {.per_call = per_call[i], .written = written};
        reader_restart(&r);
        gets[i] = time_loop(get_op, &r);
        CHECK(tidelog_iterator_free(r.iterator));
    }

    memset(data, 0, args.record_bytes);
    measured sub = e2e();

    CHECK(tidelog_engine_free(engine));
    printf("{\"library_version\":\"%s\",\"prefill_records\":%" PRIu64 ",\"touched\":%" PRIu64
           ",\"cases\":[",
           tidelog_version_string(), written, (uint64_t)touched);
    print_case("put", &put, true);
    print_case("get.1", &gets[0], false);
    print_case("get.100", &gets[1], false);
    print_case("e2e", &sub, false);
    printf("]}\n");
    free(put.latency);
    free(gets[0].latency);
    free(gets[1].latency);
    free(sub.latency);
    free(data);
    return fflush(stdout) == 0 ? 0 : 1;
}
