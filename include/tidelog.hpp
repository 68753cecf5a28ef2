// tidelog.hpp: a header-only C++17 wrapper over the C API in tidelog.h.
//
// - Every handle is owned by a move-only RAII object that frees it in its destructor.
// - Every failing call throws tidelog::Error (status, Kinesis name, message).
// - Records are zero-copy views (std::string_view) into the shard's memory mapping:
//   valid while the Batch (or, in a callback, the event) they came from is alive.
// - A callback subscription runs its std::function on the library's
//   `tidelog-subscriber` thread; the Subscription's destructor (or close()) stops that
//   thread and waits for it, so the function never runs after the object is gone.
//   Exceptions must not escape into the library: the wrapper catches them and stops
//   the subscription.
//
// Hand-written (not generated): keep it in step with tidelog.h. Hand-kept, and
// compiled and run by tests/cpp/example.cpp in tests/run_all.sh.
#ifndef TIDELOG_HPP
#define TIDELOG_HPP

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tidelog.h"

namespace tidelog {

/// A failed call: the status, its Kinesis name (if any) and the library's message.
class Error : public std::runtime_error {
public:
    Error(tidelog_status status, const std::string &message)
        : std::runtime_error(std::string(tidelog_status_name(status)) + ": " + message),
          status_(status) {}
    tidelog_status status() const noexcept { return status_; }
    /// e.g. "ResourceNotFoundException"; empty for ABI-level statuses.
    std::string kinesis_name() const {
        const char *name = tidelog_status_kinesis_name(status_);
        return name ? name : "";
    }

private:
    tidelog_status status_;
};

/// Throws Error unless `status` is OK.
inline void check(tidelog_status status) {
    if (status != TIDELOG_STATUS_OK) throw Error(status, tidelog_last_error_message());
}

namespace detail {
template <class T> T sized() {
    T value{};
    value.struct_size = sizeof(T);
    return value;
}

template <class H, tidelog_status (*Free)(H *)> struct Deleter {
    void operator()(H *handle) const noexcept { Free(handle); }
};
template <class H, tidelog_status (*Free)(H *)>
using Owned = std::unique_ptr<H, Deleter<H, Free>>;

inline std::vector<std::string> strings(tidelog_string_list *raw) {
    Owned<tidelog_string_list, tidelog_string_list_free> list(raw);
    size_t n = 0;
    check(tidelog_string_list_count(list.get(), &n));
    std::vector<std::string> out;
    for (size_t i = 0; i < n; i++) {
        const char *s = nullptr;
        check(tidelog_string_list_get(list.get(), i, &s));
        out.emplace_back(s);
    }
    return out;
}

inline std::vector<tidelog_shard> shards(tidelog_shard_list *raw) {
    Owned<tidelog_shard_list, tidelog_shard_list_free> list(raw);
    size_t n = 0;
    check(tidelog_shard_list_count(list.get(), &n));
    std::vector<tidelog_shard> out;
    for (size_t i = 0; i < n; i++) {
        out.push_back(sized<tidelog_shard>());
        check(tidelog_shard_list_get(list.get(), i, &out.back()));
    }
    return out;
}
}  // namespace detail

/// One record: views into the mapping, valid while its batch lives.
struct Record {
    std::string sequence_number;
    std::uint64_t approximate_arrival_timestamp_ms;
    std::string_view partition_key;
    std::string_view data;
};

/// A batch the caller does not own (a callback's lent batch); see Batch.
class BatchView {
public:
    explicit BatchView(const tidelog_batch *batch) : batch_(batch) {}
    std::size_t size() const {
        size_t n = 0;
        check(tidelog_batch_count(batch_, &n));
        return n;
    }
    Record operator[](std::size_t i) const {
        auto r = detail::sized<tidelog_record>();
        check(tidelog_batch_record(batch_, i, &r));
        return Record{r.sequence_number, r.approximate_arrival_timestamp_ms,
                      std::string_view(reinterpret_cast<const char *>(r.partition_key),
                                       r.partition_key_len),
                      std::string_view(reinterpret_cast<const char *>(r.data), r.data_len)};
    }
    std::string shard_id() const {
        const char *id = nullptr;
        check(tidelog_batch_shard_id(batch_, &id));
        return id;
    }
    std::uint64_t millis_behind_latest() const {
        std::uint64_t ms = 0;
        check(tidelog_batch_millis_behind_latest(batch_, &ms));
        return ms;
    }
    std::vector<tidelog_child_shard> child_shards() const {
        size_t n = 0;
        check(tidelog_batch_child_shard_count(batch_, &n));
        std::vector<tidelog_child_shard> out;
        for (size_t i = 0; i < n; i++) {
            out.push_back(detail::sized<tidelog_child_shard>());
            check(tidelog_batch_child_shard(batch_, i, &out.back()));
        }
        return out;
    }

protected:
    const tidelog_batch *batch_;
};

/// An owned batch: its records stay valid until it is destroyed.
class Batch : public BatchView {
public:
    explicit Batch(tidelog_batch *batch) : BatchView(batch), owned_(batch) {}

private:
    detail::Owned<tidelog_batch, tidelog_batch_free> owned_;
};

/// A shard iterator; `next` reads and advances it.
class Iterator {
public:
    explicit Iterator(tidelog_iterator *it) : it_(it) {}
    /// GetRecords: up to `limit` records (0: the engine's maximum).
    Batch next(std::uint32_t limit = 0) {
        tidelog_batch *b = nullptr;
        check(tidelog_get_records(it_.get(), limit, &b));
        return Batch(b);
    }
    bool ended() const {
        bool ended = false;
        check(tidelog_iterator_is_ended(it_.get(), &ended));
        return ended;
    }
    std::string token() const {
        char buf[TIDELOG_ITERATOR_TOKEN_BUFFER_SIZE];
        check(tidelog_iterator_token(it_.get(), buf, sizeof buf));
        return buf;
    }

private:
    detail::Owned<tidelog_iterator, tidelog_iterator_free> it_;
};

/// What a blocking subscription's next() returns.
struct Event {
    tidelog_event_kind kind;
    std::string shard_id;
    std::optional<Batch> batch;  ///< RECORDS and SHARD_ENDED
};

/// What a callback receives: the batch is lent for the call only.
struct CallbackEvent {
    tidelog_event_kind kind;
    tidelog_status status;
    std::string_view shard_id;
    std::optional<BatchView> batch;
};

using Callback = std::function<bool(const CallbackEvent &)>;

}  // namespace tidelog

extern "C" inline bool tidelog_hpp_callback_trampoline(void *user_data,
                                                       const tidelog_subscription_event *ev) {
    auto *callback = static_cast<tidelog::Callback *>(user_data);
    try {
        tidelog::CallbackEvent event{ev->kind, ev->status, ev->shard_id, std::nullopt};
        if (ev->batch) event.batch.emplace(ev->batch);
        return (*callback)(event);
    } catch (...) {
        return false;  // nothing may unwind into the library: stop the subscription
    }
}

namespace tidelog {

/// A subscription (blocking, or pushing to a callback on the library's thread).
class Subscription {
public:
    Subscription(tidelog_subscription *sub, std::unique_ptr<Callback> callback)
        : callback_(std::move(callback)), sub_(sub) {}
    /// Blocking mode: the next event, waiting at most `timeout`.
    Event next(std::chrono::milliseconds timeout) {
        auto ev = detail::sized<tidelog_subscription_event>();
        check(tidelog_subscription_next(sub_.get(), static_cast<std::uint64_t>(timeout.count()),
                                        &ev));
        Event out{ev.kind, ev.shard_id, std::nullopt};
        if (ev.batch) out.batch.emplace(ev.batch);
        return out;
    }
    std::vector<std::string> shard_ids() {
        tidelog_string_list *list = nullptr;
        check(tidelog_subscription_shard_ids(sub_.get(), &list));
        return detail::strings(list);
    }
    /// Stops it (and waits for a callback thread); also done by the destructor.
    void close() { sub_.reset(); }

private:
    // Declared first, destroyed last: the subscription (and its thread) goes first.
    std::unique_ptr<Callback> callback_;
    detail::Owned<tidelog_subscription, tidelog_subscription_close> sub_;
};

/// One SubscribeToShard event: records (maybe none: a heartbeat), where to continue
/// (none on a closed shard's last event, which lists its children in `batch`).
struct ShardEvent {
    tidelog_shard_event_kind kind;
    std::optional<std::string> continuation_sequence_number;
    std::uint64_t millis_behind_latest;
    std::optional<Batch> batch;
};

/// A SubscribeToShard subscription (enhanced fan-out): 5 minutes of events at most.
class ShardSubscription {
public:
    explicit ShardSubscription(tidelog_shard_subscription *sub) : sub_(sub) {}
    /// The next event, waiting at most `timeout` (kind TIMEOUT, or END when over).
    ShardEvent next(std::chrono::milliseconds timeout) {
        auto ev = detail::sized<tidelog_shard_event>();
        check(tidelog_shard_subscription_next(sub_.get(),
                                              static_cast<std::uint64_t>(timeout.count()), &ev));
        ShardEvent out{ev.kind, std::nullopt, ev.millis_behind_latest, std::nullopt};
        if (ev.has_continuation) out.continuation_sequence_number = ev.continuation_sequence_number;
        if (ev.batch) out.batch.emplace(ev.batch);
        return out;
    }

private:
    detail::Owned<tidelog_shard_subscription, tidelog_shard_subscription_free> sub_;
};

/// Engine options with the library's defaults (see tidelog_engine_options).
struct Options : tidelog_engine_options {
    Options() : tidelog_engine_options() {
        check(TIDELOG_ENGINE_OPTIONS_INIT(static_cast<tidelog_engine_options *>(this)));
    }
    /// No per-shard rate limits (for benchmarks and tests).
    Options &unlimited() {
        write_bytes_per_sec = write_records_per_sec = UINT64_MAX;
        read_bytes_per_sec = read_calls_per_sec = subscribe_bytes_per_sec = UINT64_MAX;
        read_penalty_after_max_call_ms = 0;
        return *this;
    }
};

struct PutResult {
    std::string shard_id;
    std::string sequence_number;
    bool encrypted = false;  ///< stored encrypted (the stream's encryption is on)
};

struct PutOptions {
    std::optional<std::string> explicit_hash_key;
    std::optional<std::string> sequence_number_for_ordering;
    tidelog_durability durability = TIDELOG_DURABILITY_DEFAULT;
};

struct StreamDescription {
    tidelog_stream_info info;
    std::vector<tidelog_shard> shards;
};

/// A running engine. Thread-safe; move-only.
class Engine {
public:
    static Engine open(const std::string &data_dir, const Options &options = Options()) {
        tidelog_engine *e = nullptr;
        check(tidelog_engine_open(data_dir.c_str(), &options, &e));
        return Engine(e);
    }
    /// Closes the engine (later calls throw CLOSED); the destructor frees it.
    void close() { check(tidelog_engine_close(e_.get())); }

    void create_stream(const std::string &name, std::uint32_t shards) {
        check(tidelog_create_stream(e_.get(), name.c_str(), shards));
    }
    void delete_stream(const std::string &name) {
        check(tidelog_delete_stream(e_.get(), name.c_str()));
    }
    std::vector<std::string> list_streams() {
        tidelog_string_list *list = nullptr;
        bool more = false;
        check(tidelog_list_streams(e_.get(), 0, nullptr, &list, &more));
        return detail::strings(list);
    }
    StreamDescription describe_stream(const std::string &name) {
        StreamDescription d{detail::sized<tidelog_stream_info>(), {}};
        tidelog_shard_list *list = nullptr;
        check(tidelog_describe_stream(e_.get(), name.c_str(), &d.info, &list));
        d.shards = detail::shards(list);
        return d;
    }
    void add_tags(const std::string &name, const std::map<std::string, std::string> &tags) {
        std::vector<const char *> keys, values;
        for (const auto &kv : tags) {
            keys.push_back(kv.first.c_str());
            values.push_back(kv.second.c_str());
        }
        check(tidelog_add_tags_to_stream(e_.get(), name.c_str(), keys.data(), values.data(),
                                         keys.size()));
    }
    std::map<std::string, std::string> tags(const std::string &name) {
        tidelog_tag_list *raw = nullptr;
        check(tidelog_list_tags_for_stream(e_.get(), name.c_str(), &raw));
        detail::Owned<tidelog_tag_list, tidelog_tag_list_free> list(raw);
        size_t n = 0;
        check(tidelog_tag_list_count(list.get(), &n));
        std::map<std::string, std::string> out;
        for (size_t i = 0; i < n; i++) {
            const char *k = nullptr, *v = nullptr;
            check(tidelog_tag_list_get(list.get(), i, &k, &v));
            out.emplace(k, v);
        }
        return out;
    }

    PutResult put_record(const std::string &stream, const std::string &key,
                         std::string_view data, const PutOptions &options = PutOptions()) {
        auto o = detail::sized<tidelog_put_options>();
        o.explicit_hash_key =
            options.explicit_hash_key ? options.explicit_hash_key->c_str() : nullptr;
        o.sequence_number_for_ordering = options.sequence_number_for_ordering
                                             ? options.sequence_number_for_ordering->c_str()
                                             : nullptr;
        o.durability = options.durability;
        auto out = detail::sized<tidelog_put_record_output>();
        check(tidelog_put_record(e_.get(), stream.c_str(), key.c_str(),
                                 reinterpret_cast<const std::uint8_t *>(data.data()), data.size(),
                                 &o, &out));
        return PutResult{out.shard_id, out.sequence_number, out.encrypted != 0};
    }

    Iterator get_shard_iterator(const std::string &stream, const std::string &shard_id,
                                tidelog_iterator_type type,
                                const std::optional<std::string> &sequence_number = std::nullopt,
                                std::uint64_t timestamp_ms = 0) {
        tidelog_iterator *it = nullptr;
        check(tidelog_get_shard_iterator(e_.get(), stream.c_str(), shard_id.c_str(), type,
                                         sequence_number ? sequence_number->c_str() : nullptr,
                                         timestamp_ms, &it));
        return Iterator(it);
    }

    /// A blocking subscription.
    Subscription subscribe(const std::string &stream, const std::string &shard_id,
                           tidelog_iterator_type type, bool follow_lineage = false) {
        tidelog_subscription *sub = nullptr;
        check(tidelog_subscribe(e_.get(), stream.c_str(), shard_id.c_str(), type, nullptr, 0,
                                follow_lineage, &sub));
        return Subscription(sub, nullptr);
    }
    /// A subscription that calls `callback` on the library's subscriber thread.
    Subscription subscribe(const std::string &stream, const std::string &shard_id,
                           tidelog_iterator_type type, bool follow_lineage, Callback callback) {
        auto owned = std::make_unique<Callback>(std::move(callback));
        tidelog_subscription *sub = nullptr;
        check(tidelog_subscribe_with_callback(e_.get(), stream.c_str(), shard_id.c_str(), type,
                                              nullptr, 0, follow_lineage,
                                              tidelog_hpp_callback_trampoline, owned.get(),
                                              &sub));
        return Subscription(sub, std::move(owned));
    }

    void split_shard(const std::string &stream, const std::string &shard_id,
                     const std::string &new_starting_hash_key) {
        check(tidelog_split_shard(e_.get(), stream.c_str(), shard_id.c_str(),
                                  new_starting_hash_key.c_str()));
    }
    void merge_shards(const std::string &stream, const std::string &a, const std::string &b) {
        check(tidelog_merge_shards(e_.get(), stream.c_str(), a.c_str(), b.c_str()));
    }
    void update_shard_count(const std::string &stream, std::uint32_t target) {
        check(tidelog_update_shard_count(e_.get(), stream.c_str(), target, nullptr, nullptr,
                                         nullptr));
    }

    /// Every shard's metrics as OpenMetrics text.
    std::string openmetrics() {
        for (;;) {
            size_t len = 0;
            tidelog_status s = tidelog_metrics_openmetrics(e_.get(), nullptr, 0, &len);
            if (s != TIDELOG_STATUS_BUFFER_TOO_SMALL) check(s);
            std::string text(len + 1024, '\0');  // room for growth between the calls
            s = tidelog_metrics_openmetrics(e_.get(), text.data(), text.size(), &len);
            if (s == TIDELOG_STATUS_BUFFER_TOO_SMALL) continue;
            check(s);
            text.resize(len);
            return text;
        }
    }
    void flush() { check(tidelog_engine_flush(e_.get())); }

    /// RegisterStreamConsumer: the consumer's ARN.
    std::string register_stream_consumer(const std::string &stream, const std::string &name) {
        auto c = detail::sized<tidelog_consumer>();
        check(tidelog_register_stream_consumer(e_.get(), stream.c_str(), name.c_str(), nullptr,
                                               nullptr, 0, &c));
        return c.arn;
    }
    void deregister_stream_consumer(const std::string &consumer_arn) {
        check(tidelog_deregister_stream_consumer(e_.get(), nullptr, nullptr,
                                                 consumer_arn.c_str()));
    }
    /// SubscribeToShard from a position without a sequence number or timestamp.
    ShardSubscription subscribe_to_shard(const std::string &consumer_arn,
                                         const std::string &shard_id,
                                         tidelog_iterator_type type) {
        tidelog_shard_subscription *sub = nullptr;
        check(tidelog_subscribe_to_shard(e_.get(), consumer_arn.c_str(), shard_id.c_str(), type,
                                         nullptr, 0, &sub));
        return ShardSubscription(sub);
    }
    void start_stream_encryption(const std::string &stream,
                                 const std::string &key_id = "alias/aws/kinesis") {
        check(tidelog_start_stream_encryption(e_.get(), stream.c_str(), key_id.c_str()));
    }
    void stop_stream_encryption(const std::string &stream,
                                const std::string &key_id = "alias/aws/kinesis") {
        check(tidelog_stop_stream_encryption(e_.get(), stream.c_str(), key_id.c_str()));
    }
    void update_stream_mode(const std::string &stream, tidelog_stream_mode mode) {
        check(tidelog_update_stream_mode(e_.get(), stream.c_str(), mode, 0));
    }

    tidelog_engine *raw() const noexcept { return e_.get(); }

private:
    explicit Engine(tidelog_engine *e) : e_(e) {}
    detail::Owned<tidelog_engine, tidelog_engine_free> e_;
};

}  // namespace tidelog

#endif  // TIDELOG_HPP
