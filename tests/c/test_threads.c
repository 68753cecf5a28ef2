/*
 * test_threads.c: the API from several threads. A blocking subscription read on a
 * second thread while the main thread puts; a callback subscription (the callback
 * runs on the library's `tidelog-subscriber` thread, stops when asked, never runs
 * after its subscription is closed, reports the engine's close); concurrent puts
 * keep each key's order; two threads sharing one iterator never get a record twice.
 */
#include "tl_test.h"

#include <pthread.h>
#include <time.h>

#define SHARD0 "shardId-000000000000"
#define RECORDS 40

static tidelog_engine *e;

/* ---- a blocking subscription on another thread ----------------------------------- */

typedef struct {
    tidelog_subscription *sub;
    int received;
    int in_order;
    int failures;
} reader_state;

static void *blocking_reader(void *arg) {
    reader_state *st = arg;
    while (st->received < RECORDS) {
        tidelog_subscription_event ev = { .struct_size = sizeof ev };
        if (tidelog_subscription_next(st->sub, 120000, &ev) != TIDELOG_STATUS_OK) {
            st->failures++;
            return NULL;
        }
        if (ev.kind == TIDELOG_EVENT_KIND_TIMEOUT) {
            st->failures++; /* two minutes without a record: the puts stopped */
            return NULL;
        }
        size_t n = 0;
        tidelog_batch_count(ev.batch, &n);
        for (size_t i = 0; i < n; i++) {
            tidelog_record r = { .struct_size = sizeof r };
            tidelog_batch_record(ev.batch, i, &r);
            char expected[16];
            int len = snprintf(expected, sizeof expected, "m%d", st->received);
            if ((size_t)len == r.data_len && memcmp(r.data, expected, r.data_len) == 0) {
                st->in_order++;
            }
            st->received++;
        }
        tidelog_batch_free(ev.batch);
    }
    return NULL;
}

static void test_blocking_subscription_on_a_thread(void) {
    CHECK_OK(tidelog_create_stream(e, "feed", 1));
    reader_state st = { 0 };
    CHECK_OK(tidelog_subscribe(e, "feed", SHARD0, TIDELOG_ITERATOR_TYPE_LATEST, NULL, 0, false,
                               &st.sub));
    pthread_t reader;
    REQUIRE(pthread_create(&reader, NULL, blocking_reader, &st) == 0);
    for (int i = 0; i < RECORDS; i++) {
        char data[16];
        snprintf(data, sizeof data, "m%d", i);
        tl_put(e, "feed", "k", data);
    }
    REQUIRE(pthread_join(reader, NULL) == 0);
    CHECK(st.failures == 0);
    CHECK(st.received == RECORDS && st.in_order == RECORDS);
    CHECK_OK(tidelog_subscription_close(st.sub));
}

/* ---- a callback subscription --------------------------------------------------- */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int records;
    int events;
    int finished_or_error;
    tidelog_status error_status;
    char error_message[256];
    int wrong_thread;
    int stop_after; /* return false once this many records arrived (0: never) */
    tidelog_subscription *close_from_inside;
    tidelog_status close_status;
    pthread_t main_thread;
} callback_state;

static void state_init(callback_state *st) {
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->changed, NULL);
    st->main_thread = pthread_self();
}

static void state_destroy(callback_state *st) {
    pthread_mutex_destroy(&st->lock);
    pthread_cond_destroy(&st->changed);
}

static bool on_event(void *user_data, const tidelog_subscription_event *ev) {
    callback_state *st = user_data;
    char name[32] = "";
    pthread_getname_np(pthread_self(), name, sizeof name);
    bool keep_going = true;
    pthread_mutex_lock(&st->lock);
    st->events++;
    if (strcmp(name, "tidelog-subscri") != 0 || pthread_equal(pthread_self(), st->main_thread)) {
        st->wrong_thread++; /* Linux keeps 15 characters of a thread's name */
    }
    if (ev->kind == TIDELOG_EVENT_KIND_RECORDS) {
        size_t n = 0;
        tidelog_batch_count(ev->batch, &n);
        st->records += (int)n;
        if (st->stop_after && st->records >= st->stop_after) keep_going = false;
    } else if (ev->kind == TIDELOG_EVENT_KIND_ERROR || ev->kind == TIDELOG_EVENT_KIND_FINISHED) {
        st->finished_or_error++;
        st->error_status = ev->status;
        snprintf(st->error_message, sizeof st->error_message, "%s", tidelog_last_error_message());
    }
    if (st->close_from_inside) {
        st->close_status = tidelog_subscription_close(st->close_from_inside);
        st->close_from_inside = NULL;
        keep_going = true; /* closing is what stops it */
    }
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
    return keep_going;
}

/* Waits (at most 120 s: these tests also run under Valgrind, on loaded machines) until
 * `*field` reaches `target`; returns the value seen. */
static int wait_for(callback_state *st, const int *field, int target) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 120;
    pthread_mutex_lock(&st->lock);
    while (*field < target) {
        if (pthread_cond_timedwait(&st->changed, &st->lock, &deadline) != 0) break;
    }
    int seen = *field;
    pthread_mutex_unlock(&st->lock);
    return seen;
}

static int read_field(callback_state *st, const int *field) {
    pthread_mutex_lock(&st->lock);
    int v = *field;
    pthread_mutex_unlock(&st->lock);
    return v;
}

static void test_callback_subscription(void) {
    CHECK_OK(tidelog_create_stream(e, "push", 1));
    callback_state st;
    state_init(&st);
    tidelog_subscription *sub = NULL;
    CHECK_OK(tidelog_subscribe_with_callback(e, "push", SHARD0, TIDELOG_ITERATOR_TYPE_TRIM_HORIZON,
                                             NULL, 0, false, on_event, &st, &sub));
    tidelog_subscription_event ev = { .struct_size = sizeof ev };
    CHECK_STATUS(tidelog_subscription_next(sub, 0, &ev), TIDELOG_STATUS_WRONG_SUBSCRIPTION_MODE);
    tidelog_string_list *ids = NULL;
    CHECK_STATUS(tidelog_subscription_shard_ids(sub, &ids),
                 TIDELOG_STATUS_WRONG_SUBSCRIPTION_MODE);
    for (int i = 0; i < RECORDS; i++) tl_put(e, "push", "k", "p");
    CHECK(wait_for(&st, &st.records, RECORDS) == RECORDS);
    CHECK(read_field(&st, &st.wrong_thread) == 0);
    /* After close returns, the callback never runs again. */
    CHECK_OK(tidelog_subscription_close(sub));
    int events = read_field(&st, &st.events);
    for (int i = 0; i < 5; i++) tl_put(e, "push", "k", "late");
    struct timespec pause = { 0, 100 * 1000 * 1000 };
    nanosleep(&pause, NULL);
    CHECK(read_field(&st, &st.events) == events);
    state_destroy(&st);

    /* Returning false stops the deliveries. */
    state_init(&st);
    st.stop_after = 1;
    CHECK_OK(tidelog_subscribe_with_callback(e, "push", SHARD0, TIDELOG_ITERATOR_TYPE_TRIM_HORIZON,
                                             NULL, 0, false, on_event, &st, &sub));
    CHECK(wait_for(&st, &st.events, 1) == 1);
    nanosleep(&pause, NULL);
    CHECK(read_field(&st, &st.events) == 1);
    CHECK_OK(tidelog_subscription_close(sub));
    state_destroy(&st);

    /* Closing from inside the callback: the first event (after the subscription is
     * in place, from LATEST) closes it; later records are not delivered. */
    state_init(&st);
    st.close_status = 999;
    CHECK_OK(tidelog_subscribe_with_callback(e, "push", SHARD0, TIDELOG_ITERATOR_TYPE_LATEST, NULL,
                                             0, false, on_event, &st, &sub));
    pthread_mutex_lock(&st.lock);
    st.close_from_inside = sub;
    pthread_mutex_unlock(&st.lock);
    tl_put(e, "push", "k", "closes");
    CHECK(wait_for(&st, &st.events, 1) >= 1);
    for (int i = 0; i < 3; i++) tl_put(e, "push", "k", "after");
    nanosleep(&pause, NULL);
    CHECK(read_field(&st, &st.events) == 1);
    CHECK(read_field(&st, (const int *)&st.close_status) == TIDELOG_STATUS_OK);
    CHECK_STATUS(tidelog_subscription_close(sub), TIDELOG_STATUS_INVALID_HANDLE);
    state_destroy(&st);
}

static void test_engine_close_ends_a_callback_subscription(void) {
    tidelog_engine_options o = tl_options();
    tidelog_engine *e2 = tl_open("closing", &o);
    CHECK_OK(tidelog_create_stream(e2, "s", 1));
    callback_state st;
    state_init(&st);
    tidelog_subscription *sub = NULL;
    CHECK_OK(tidelog_subscribe_with_callback(e2, "s", SHARD0, TIDELOG_ITERATOR_TYPE_LATEST, NULL, 0,
                                             false, on_event, &st, &sub));
    CHECK_OK(tidelog_engine_close(e2));
    CHECK(wait_for(&st, &st.finished_or_error, 1) == 1);
    CHECK(st.error_status == TIDELOG_STATUS_CLOSED);
    CHECK(strstr(st.error_message, "closed") != NULL);
    CHECK_OK(tidelog_subscription_close(sub));
    CHECK_OK(tidelog_engine_free(e2));
    state_destroy(&st);
}

/* ---- concurrent puts ------------------------------------------------------------- */

typedef struct {
    int id;
    int failures;
} writer_state;

static void *writer(void *arg) {
    writer_state *w = arg;
    char key[16];
    snprintf(key, sizeof key, "writer-%d", w->id);
    for (int i = 0; i < RECORDS; i++) {
        char data[32];
        int len = snprintf(data, sizeof data, "%d:%d", w->id, i);
        tidelog_put_record_output out = { .struct_size = sizeof out };
        tidelog_put_options o = { .struct_size = sizeof o, .durability = TIDELOG_DURABILITY_OS };
        if (tidelog_put_record(e, "many", key, (const uint8_t *)data, (size_t)len, &o, &out) !=
            TIDELOG_STATUS_OK) {
            w->failures++;
        }
    }
    return NULL;
}

static void test_concurrent_puts_keep_each_keys_order(void) {
    CHECK_OK(tidelog_create_stream(e, "many", 1));
    pthread_t threads[4];
    writer_state ws[4];
    for (int t = 0; t < 4; t++) {
        ws[t] = (writer_state){ .id = t };
        REQUIRE(pthread_create(&threads[t], NULL, writer, &ws[t]) == 0);
    }
    for (int t = 0; t < 4; t++) {
        REQUIRE(pthread_join(threads[t], NULL) == 0);
        CHECK(ws[t].failures == 0);
    }
    tidelog_iterator *it = NULL;
    CHECK_OK(tidelog_get_shard_iterator(e, "many", SHARD0, TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL,
                                        0, &it));
    tidelog_batch *b = NULL;
    CHECK_OK(tidelog_get_records(it, 0, &b));
    size_t n = 0;
    CHECK_OK(tidelog_batch_count(b, &n));
    CHECK(n == 4 * RECORDS);
    int next[4] = { 0 }, ordered = 1;
    char prev_seq[TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE] = "";
    for (size_t i = 0; i < n; i++) {
        tidelog_record r = { .struct_size = sizeof r };
        CHECK_OK(tidelog_batch_record(b, i, &r));
        int writer_id = -1, seq = -1;
        char text[32];
        snprintf(text, sizeof text, "%.*s", (int)r.data_len, (const char *)r.data);
        if (sscanf(text, "%d:%d", &writer_id, &seq) != 2 || writer_id < 0 || writer_id > 3) {
            ordered = 0;
            continue;
        }
        ordered &= next[writer_id] == seq; /* each key in put order */
        next[writer_id] = seq + 1;
        ordered &= tl_seq_cmp(prev_seq, r.sequence_number) < 0 || prev_seq[0] == '\0';
        snprintf(prev_seq, sizeof prev_seq, "%s", r.sequence_number);
    }
    CHECK(ordered);
    CHECK_OK(tidelog_batch_free(b));
    CHECK_OK(tidelog_iterator_free(it));
}

/* ---- one iterator, two threads ------------------------------------------------- */

typedef struct {
    tidelog_iterator *it;
    int seen[4 * RECORDS];
    int duplicates;
    int failures;
} shared_reader;

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

static void *share_iterator(void *arg) {
    shared_reader *s = arg;
    for (;;) {
        tidelog_batch *b = NULL;
        if (tidelog_get_records(s->it, 7, &b) != TIDELOG_STATUS_OK) {
            s->failures++;
            return NULL;
        }
        size_t n = 0;
        tidelog_batch_count(b, &n);
        for (size_t i = 0; i < n; i++) {
            tidelog_record r = { .struct_size = sizeof r };
            tidelog_batch_record(b, i, &r);
            int writer_id = 0, seq = 0;
            char text[32];
            snprintf(text, sizeof text, "%.*s", (int)r.data_len, (const char *)r.data);
            if (sscanf(text, "%d:%d", &writer_id, &seq) == 2 && writer_id >= 0 && writer_id < 4 &&
                seq >= 0 && seq < RECORDS) {
                pthread_mutex_lock(&seen_lock);
                if (s->seen[writer_id * RECORDS + seq]++) s->duplicates++;
                pthread_mutex_unlock(&seen_lock);
            }
        }
        tidelog_batch_free(b);
        if (n == 0) return NULL;
    }
}

static void test_two_threads_share_an_iterator(void) {
    shared_reader s;
    memset(&s, 0, sizeof s);
    CHECK_OK(tidelog_get_shard_iterator(e, "many", SHARD0, TIDELOG_ITERATOR_TYPE_TRIM_HORIZON, NULL,
                                        0, &s.it));
    pthread_t a, b;
    REQUIRE(pthread_create(&a, NULL, share_iterator, &s) == 0);
    REQUIRE(pthread_create(&b, NULL, share_iterator, &s) == 0);
    REQUIRE(pthread_join(a, NULL) == 0);
    REQUIRE(pthread_join(b, NULL) == 0);
    CHECK(s.failures == 0 && s.duplicates == 0);
    int all = 1;
    for (int i = 0; i < 4 * RECORDS; i++) all &= s.seen[i] == 1;
    CHECK(all);
    CHECK_OK(tidelog_iterator_free(s.it));
}

int main(void) {
    tidelog_engine_options o = tl_options();
    e = tl_open("threads", &o);
    test_blocking_subscription_on_a_thread();
    test_callback_subscription();
    test_engine_close_ends_a_callback_subscription();
    test_concurrent_puts_keep_each_keys_order();
    test_two_threads_share_an_iterator();
    CHECK_OK(tidelog_engine_free(e));
    return tl_finish("test_threads");
}
