// example.cpp: tidelog from C++ through include/tidelog.hpp, as a service would use
// it: open an engine, create a stream, put, read back with an iterator, tail it with
// a callback subscription, reshard, handle an error, read metrics. Run by
// tests/run_all.sh; it checks what it prints.
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <unistd.h>

#include "tidelog.hpp"

static int passed = 0, failed = 0;

#define EXPECT(cond)                                                                 \
    do {                                                                             \
        if (cond) {                                                                  \
            passed++;                                                                \
        } else {                                                                     \
            failed++;                                                                \
            std::fprintf(stderr, "%s:%d: EXPECT failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

int main() {
    char dir[] = "/tmp/tidelog-cpp-XXXXXX";
    if (!mkdtemp(dir)) return 2;
    std::string data_dir = std::string(dir) + "/data";
    try {
        tidelog::Options options;
        options.unlimited();
        options.cores = 1;
        options.pin_cores = 0;
        if (const char *preempt = std::getenv("TL_PREEMPT_TIMER_US")) {
            options.preempt_timer_us = std::strtoull(preempt, nullptr, 10);
        }
        auto engine = tidelog::Engine::open(data_dir, options);
        engine.create_stream("orders", 1);
        engine.add_tags("orders", {{"team", "payments"}});
        EXPECT(engine.tags("orders").at("team") == "payments");
        EXPECT(engine.list_streams() == std::vector<std::string>{"orders"});

        // A callback subscription collects what is put from now on.
        std::mutex lock;
        std::condition_variable changed;
        std::vector<std::string> pushed;
        auto sub = engine.subscribe("orders", "shardId-000000000000",
                                    TIDELOG_ITERATOR_TYPE_LATEST, false,
                                    [&](const tidelog::CallbackEvent &ev) {
                                        if (ev.kind == TIDELOG_EVENT_KIND_RECORDS) {
                                            std::lock_guard<std::mutex> guard(lock);
                                            for (std::size_t i = 0; i < ev.batch->size(); i++) {
                                                pushed.emplace_back((*ev.batch)[i].data);
                                            }
                                            changed.notify_all();
                                        }
                                        return true;
                                    });

        std::vector<tidelog::PutResult> puts;
        for (int i = 0; i < 5; i++) {
            puts.push_back(engine.put_record("orders", "customer-42",
                                             "{\"order\": " + std::to_string(i) + "}"));
        }
        EXPECT(puts[0].shard_id == "shardId-000000000000");

        // Read back with an iterator: zero-copy string_views into the mapping.
        auto it = engine.get_shard_iterator("orders", "shardId-000000000000",
                                            TIDELOG_ITERATOR_TYPE_TRIM_HORIZON);
        auto batch = it.next();
        EXPECT(batch.size() == 5);
        EXPECT(batch[2].data == "{\"order\": 2}");
        EXPECT(batch[2].partition_key == "customer-42");
        EXPECT(batch[4].sequence_number == puts[4].sequence_number);
        EXPECT(it.token().size() == TIDELOG_ITERATOR_TOKEN_BUFFER_SIZE - 1);

        {
            std::unique_lock<std::mutex> guard(lock);
            changed.wait_for(guard, std::chrono::seconds(10), [&] { return pushed.size() >= 5; });
            EXPECT(pushed.size() == 5 && pushed[4] == "{\"order\": 4}");
        }
        sub.close();

        // A blocking subscription from the start.
        auto blocking = engine.subscribe("orders", "shardId-000000000000",
                                         TIDELOG_ITERATOR_TYPE_TRIM_HORIZON);
        auto ev = blocking.next(std::chrono::milliseconds(1000));
        EXPECT(ev.kind == TIDELOG_EVENT_KIND_RECORDS && ev.batch && ev.batch->size() == 5);
        EXPECT(blocking.shard_ids() == std::vector<std::string>{"shardId-000000000000"});

        // Reshard and describe.
        engine.update_shard_count("orders", 2);
        auto d = engine.describe_stream("orders");
        EXPECT(d.info.open_shard_count == 2 && d.shards.size() == 3);
        EXPECT(d.shards[0].state == TIDELOG_SHARD_STATE_CLOSED);

        // Errors are exceptions with the status and the Kinesis name.
        try {
            engine.put_record("missing", "k", "x");
            EXPECT(false);
        } catch (const tidelog::Error &e) {
            EXPECT(e.status() == TIDELOG_STATUS_RESOURCE_NOT_FOUND);
            EXPECT(e.kinesis_name() == "ResourceNotFoundException");
            EXPECT(std::string(e.what()).find("missing") != std::string::npos);
        }

        // Enhanced fan-out: a consumer, SubscribeToShard from the trim horizon.
        std::string consumer = engine.register_stream_consumer("orders", "cpp-app");
        EXPECT(consumer.find("/consumer/cpp-app:") != std::string::npos);
        {
            auto fan = engine.subscribe_to_shard(consumer, "shardId-000000000000",
                                                 TIDELOG_ITERATOR_TYPE_TRIM_HORIZON);
            auto event = fan.next(std::chrono::milliseconds(1000));
            EXPECT(event.kind == TIDELOG_SHARD_EVENT_KIND_EVENT && event.batch &&
                   event.batch->size() > 0 && event.continuation_sequence_number);
        }
        engine.deregister_stream_consumer(consumer);

        // Encryption at rest with the built-in key provider's AWS-managed key.
        engine.start_stream_encryption("orders");
        auto sealed = engine.put_record("orders", "k", "secret");
        EXPECT(!sealed.sequence_number.empty() && sealed.encrypted);
        engine.stop_stream_encryption("orders");
        engine.update_stream_mode("orders", TIDELOG_STREAM_MODE_ON_DEMAND);
        EXPECT(engine.describe_stream("orders").info.mode == TIDELOG_STREAM_MODE_ON_DEMAND);

        std::string metrics = engine.openmetrics();
        EXPECT(metrics.find("tidelog_stream_incoming_records") != std::string::npos);
        engine.flush();
        engine.close();
        try {
            engine.create_stream("late", 1);
            EXPECT(false);
        } catch (const tidelog::Error &e) {
            EXPECT(e.status() == TIDELOG_STATUS_CLOSED);
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        failed++;
    }
    // Every handle was released by its RAII owner.
    EXPECT(tidelog_live_handle_count() == 0);
    std::string cleanup = std::string("rm -rf '") + dir + "'";
    EXPECT(std::system(cleanup.c_str()) == 0);
    std::printf("example: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
