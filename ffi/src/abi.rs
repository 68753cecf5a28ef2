//! The C-visible types: opaque handle types, enums, structs and bounds.
//!
//! Invariants:
//! - Every struct starts with `size_t struct_size` (see `args.rs` for how sizes are
//!   checked) and only ever grows at its end.
//! - Structs the caller fills (options, put entries) hold only integers and pointers,
//!   so any bit pattern the caller leaves is a valid Rust value; enum and flag fields
//!   in them are `uint32_t` and checked before use.
//! - Structs tidelog fills may use the enum types (tidelog writes only valid values).
//! - Every bound a length, count or duration is checked against is a constant here.
#![forbid(unsafe_code)]

use std::ffi::{c_char, c_void};

use crate::status::tidelog_status;

/// Major version of this header and library (a change breaks the ABI).
pub const TIDELOG_VERSION_MAJOR: u32 = 0;
/// Minor version (additions only).
pub const TIDELOG_VERSION_MINOR: u32 = 1;
/// Patch version (fixes only).
pub const TIDELOG_VERSION_PATCH: u32 = 0;

/// Bytes of a shard id buffer: `shardId-` + 12 digits + NUL, with room to spare.
pub const TIDELOG_SHARD_ID_BUFFER_SIZE: usize = 32;
/// Bytes of a sequence number buffer: up to 39 decimal digits (a u128) + NUL.
pub const TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE: usize = 40;
/// Bytes of a hash key buffer: up to 39 decimal digits (0 to 2^128 - 1) + NUL.
pub const TIDELOG_HASH_KEY_BUFFER_SIZE: usize = 40;
/// Bytes of a stream name buffer: up to 128 characters + NUL.
pub const TIDELOG_STREAM_NAME_BUFFER_SIZE: usize = 129;
/// Bytes of an iterator token buffer: 106 hex digits + NUL.
pub const TIDELOG_ITERATOR_TOKEN_BUFFER_SIZE: usize = 107;

/// The longest string argument, in bytes before its NUL: a string with no NUL within
/// this many bytes is refused with `TIDELOG_STATUS_OUT_OF_RANGE` (the engine's own,
/// tighter rules for names and keys then give `TIDELOG_STATUS_VALIDATION`).
pub const TIDELOG_STRING_BYTES_MAX: usize = 4096;
/// The largest `data_len` of a record (the engine's ceiling for its configurable
/// record size, 10 MiB); beyond it `TIDELOG_STATUS_OUT_OF_RANGE`. Within it, a record
/// over the engine's configured limit (1 MiB by default) is `TIDELOG_STATUS_VALIDATION`.
pub const TIDELOG_DATA_BYTES_MAX: usize = 10 << 20;
/// The most entries one `tidelog_put_records` call may pass, and the largest
/// `put_records_entries_max` an engine may be configured with.
pub const TIDELOG_PUT_RECORDS_ENTRIES_MAX: usize = 65_536;
/// The most tags (or tag keys) one call may pass.
pub const TIDELOG_TAGS_PER_CALL_MAX: usize = 1024;
/// The longest wait a call accepts, ms (one day).
pub const TIDELOG_TIMEOUT_MS_MAX: u64 = 86_400_000;
/// The largest `struct_size` accepted in any struct.
pub const TIDELOG_STRUCT_SIZE_MAX: usize = 4096;
/// Bytes of an ARN buffer (stream or consumer ARN + NUL; the longest is about 400).
pub const TIDELOG_ARN_BUFFER_SIZE: usize = 512;
/// Bytes of a consumer name buffer: up to 128 characters + NUL.
pub const TIDELOG_CONSUMER_NAME_BUFFER_SIZE: usize = 129;
/// Bytes of a queue name buffer: up to 128 characters + NUL.
pub const TIDELOG_QUEUE_NAME_BUFFER_SIZE: usize = 129;
/// Bytes of a receipt handle buffer: 100 hex digits + NUL.
pub const TIDELOG_RECEIPT_HANDLE_BUFFER_SIZE: usize = 101;
/// The most entries one queue batch call (acknowledge, visibility, restore) takes
/// before the engine's own limit of 10 applies (`TIDELOG_STATUS_VALIDATION` above it).
pub const TIDELOG_QUEUE_ENTRIES_MAX: usize = 1024;
/// Bytes of a key a key provider hands out (AES-256).
pub const TIDELOG_KEY_BYTES: usize = 32;
/// The longest resource policy, bytes (Kinesis: 20 KiB).
pub const TIDELOG_POLICY_BYTES_MAX: usize = 20 << 10;

/// Shard-level metric bit (enhanced monitoring): IncomingBytes.
pub const TIDELOG_METRIC_INCOMING_BYTES: u32 = 1 << 0;
/// Shard-level metric bit: IncomingRecords.
pub const TIDELOG_METRIC_INCOMING_RECORDS: u32 = 1 << 1;
/// Shard-level metric bit: OutgoingBytes.
pub const TIDELOG_METRIC_OUTGOING_BYTES: u32 = 1 << 2;
/// Shard-level metric bit: OutgoingRecords.
pub const TIDELOG_METRIC_OUTGOING_RECORDS: u32 = 1 << 3;
/// Shard-level metric bit: WriteProvisionedThroughputExceeded.
pub const TIDELOG_METRIC_WRITE_PROVISIONED_THROUGHPUT_EXCEEDED: u32 = 1 << 4;
/// Shard-level metric bit: ReadProvisionedThroughputExceeded.
pub const TIDELOG_METRIC_READ_PROVISIONED_THROUGHPUT_EXCEEDED: u32 = 1 << 5;
/// Shard-level metric bit: IteratorAgeMilliseconds.
pub const TIDELOG_METRIC_ITERATOR_AGE_MILLISECONDS: u32 = 1 << 6;
/// Every shard-level metric (Kinesis's `ALL`).
pub const TIDELOG_METRIC_ALL: u32 = 0x7f;

/// A SQL session over an engine's streams (tidelog-analytics on DataFusion): its own
/// query threads, its registered tables. Thread-safe. From `tidelog_sql_session_open`;
/// released by `tidelog_sql_session_free`.
pub struct tidelog_sql_session {
    _private: [u8; 0],
}

/// The continuous SQL applications of an engine (tidelog-analytics' `Applications`).
/// Thread-safe. From `tidelog_apps_open`; released by `tidelog_apps_free`.
pub struct tidelog_apps {
    _private: [u8; 0],
}

/// The Arrow C stream struct (`struct ArrowArrayStream`), defined in the header by the
/// Arrow C data interface block (not generated from here).
pub struct ArrowArrayStream {
    _private: [u8; 0],
}

/// A running engine. Thread-safe: any number of threads may use one handle at once.
/// From `tidelog_engine_open`; released by `tidelog_engine_free`.
pub struct tidelog_engine {
    _private: [u8; 0],
}

/// A position in one shard (a Kinesis shard iterator). Calls on one iterator are
/// serialized (safe from any thread, one at a time). From `tidelog_get_shard_iterator`
/// or `tidelog_iterator_from_token`; released by `tidelog_iterator_free`.
pub struct tidelog_iterator {
    _private: [u8; 0],
}

/// Records read by `tidelog_get_records` or delivered by a subscription, as zero-copy
/// views into the shard's memory-mapped log, plus the shard id, the lag and (once a
/// closed shard is read to its end) its children. Immutable: safe to read from any
/// number of threads. Released by `tidelog_batch_free`.
pub struct tidelog_batch {
    _private: [u8; 0],
}

/// A push-style reader of a shard (and, optionally, its descendants): blocking
/// (`tidelog_subscribe`) or callback-driven (`tidelog_subscribe_with_callback`).
/// Released by `tidelog_subscription_close`.
pub struct tidelog_subscription {
    _private: [u8; 0],
}

/// A list of shard descriptions (`tidelog_describe_stream`, `tidelog_list_shards`).
/// Immutable. Released by `tidelog_shard_list_free`.
pub struct tidelog_shard_list {
    _private: [u8; 0],
}

/// A list of NUL-terminated UTF-8 strings (`tidelog_list_streams`,
/// `tidelog_subscription_shard_ids`). Immutable. Released by `tidelog_string_list_free`.
pub struct tidelog_string_list {
    _private: [u8; 0],
}

/// A stream's tags, sorted by key (`tidelog_list_tags_for_stream`). Immutable.
/// Released by `tidelog_tag_list_free`.
pub struct tidelog_tag_list {
    _private: [u8; 0],
}

/// Per-shard metrics snapshots (`tidelog_metrics`). Immutable. Released by
/// `tidelog_metrics_list_free`.
pub struct tidelog_metrics_list {
    _private: [u8; 0],
}

/// A page of enhanced fan-out consumers (`tidelog_list_stream_consumers`). Immutable.
/// Released by `tidelog_consumer_list_free`.
pub struct tidelog_consumer_list {
    _private: [u8; 0],
}

/// A page of queues (`tidelog_list_queues`). Immutable. Released by
/// `tidelog_queue_list_free`.
pub struct tidelog_queue_list {
    _private: [u8; 0],
}

/// Records received from a queue (`tidelog_receive_queue_records`,
/// `tidelog_receive_dead_letter_queue_records`). Immutable; the strings and data it
/// lends stay valid until `tidelog_queue_record_list_free`.
pub struct tidelog_queue_record_list {
    _private: [u8; 0],
}

/// The per-entry results of a queue batch call (acknowledge, visibility, restore).
/// Immutable; the strings it lends stay valid until `tidelog_queue_batch_result_free`.
pub struct tidelog_queue_batch_result {
    _private: [u8; 0],
}

/// A SubscribeToShard subscription: events of one shard for one consumer. Calls on
/// one subscription are serialized. From `tidelog_subscribe_to_shard`; released by
/// `tidelog_shard_subscription_free`.
pub struct tidelog_shard_subscription {
    _private: [u8; 0],
}

/// The per-entry results of `tidelog_put_records`. Immutable. Released by
/// `tidelog_put_records_output_free`.
pub struct tidelog_put_records_output {
    _private: [u8; 0],
}

/// When a put is acknowledged. Carried in `uint32_t` fields and arguments.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_durability {
    /// The engine's default (for engine options: `TIDELOG_DURABILITY_SYNC`).
    Default = 0,
    /// After an fdatasync covering the record completed (group commit). Survives a
    /// power loss.
    Sync = 1,
    /// Once the record is in the page cache. Survives a crash of the process, not a
    /// power loss.
    Os = 2,
}

/// How a core makes group commits durable. Carried in `uint32_t` fields.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_sync_driver {
    /// `TIDELOG_SYNC_DRIVER_IO_URING`.
    Default = 0,
    /// fdatasync through io_uring: the core keeps serving while a flush runs.
    IoUring = 1,
    /// fdatasync called by the core thread: lowest latency for a lone sync put.
    Blocking = 2,
}

/// What the engine may assume about the machine (`tidelog_engine_options.machine`).
/// Carried in `uint32_t` fields.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_machine {
    /// Shared with the callers and other work (the default): cores = usable CPUs - 1
    /// when `cores` is 0; cores and callers spin only where a CPU is free for it.
    Shared = 0,
    /// Dedicated to tidelog (the benchmark's tuned setup): cores = one per CPU when
    /// `cores` is 0; spins as configured; the caller keeps its threads off the cores'
    /// CPUs.
    Dedicated = 1,
}

/// How new segment files are prepared. Carried in `uint32_t` fields.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_preallocation {
    /// `TIDELOG_PREALLOCATION_ZEROED`.
    Default = 0,
    /// Allocated, written with zeros and synced: cheapest fdatasyncs later.
    Zeroed = 1,
    /// Allocated only: creating a segment is O(1); first syncs convert extents.
    Allocated = 2,
}

/// Where a new iterator or subscription starts (Kinesis ShardIteratorType). Carried
/// in `uint32_t` arguments.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_iterator_type {
    /// The oldest record kept.
    TrimHorizon = 0,
    /// Just after the newest record: only records put from now on.
    Latest = 1,
    /// At the record with the given sequence number.
    AtSequenceNumber = 2,
    /// Just after the record with the given sequence number.
    AfterSequenceNumber = 3,
    /// At the first record that arrived at or after the given time (ms since epoch).
    AtTimestamp = 4,
}

/// Which shards `tidelog_list_shards` returns. Carried in `uint32_t` arguments.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_shard_filter {
    /// Every shard not yet expired.
    All = 0,
    /// Shards whose data is at the trim horizon (every shard not yet expired).
    AtTrimHorizon = 1,
    /// The open shards.
    AtLatest = 2,
    /// Shards open at the given time (ms since epoch).
    AtTimestamp = 3,
    /// Shards with an index above the given shard id's.
    AfterShardId = 4,
    /// The open shards and those closed at or after the given time (ms since epoch;
    /// a time before the trim horizon counts as the trim horizon).
    FromTimestamp = 5,
}

/// A stream's capacity mode (Kinesis StreamMode). Carried in `uint32_t` arguments.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_stream_mode {
    /// A fixed number of shards, changed by the user.
    Provisioned = 0,
    /// Shards added and removed by the engine as the write load changes.
    OnDemand = 1,
}

/// How a stream spreads new records over its open shards (Kinesis
/// RecordDistributionStrategy). Carried in `uint32_t` fields and arguments.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_record_distribution {
    /// By the partition key's MD5 (or the explicit hash key): the default.
    UserPartitionKey = 0,
    /// Evenly over the open shards, keys ignored (ON_DEMAND streams only).
    Auto = 1,
}

/// How a stream's new records are stored (Kinesis EncryptionType).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_encryption_type {
    /// Plain.
    None = 0,
    /// Encrypted with a data key wrapped by the key provider's key.
    Kms = 1,
}

/// An enhanced fan-out consumer's status.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_consumer_status {
    /// Registered, not usable yet.
    Creating = 0,
    /// Usable by `tidelog_subscribe_to_shard`.
    Active = 1,
    /// Deregistered, going away.
    Deleting = 2,
}

/// A queue's status.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_queue_status {
    /// Created, not delivering yet.
    Creating = 0,
    /// Delivering.
    Active = 1,
    /// Its attributes are changing; it still delivers.
    Updating = 2,
    /// Deleted, going away.
    Deleting = 3,
}

/// Where a queue starts delivering. Carried in `uint32_t` arguments and fields.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_queue_start {
    /// Records that arrive after the queue is created (Kinesis's default).
    Latest = 0,
    /// The oldest record the stream still keeps.
    TrimHorizon = 1,
    /// Records that arrived at or after a timestamp.
    AtTimestamp = 2,
}

/// The account's minimum throughput billing commitment (it gates warm throughput).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_commitment_status {
    /// Not committed.
    Disabled = 0,
    /// Committed.
    Enabled = 1,
    /// Disabled before its 24 hours were over: still on until `ended_ms`.
    EnabledUntilEarliestAllowedEnd = 2,
}

/// What `tidelog_shard_subscription_next` delivered.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_shard_event_kind {
    /// A SubscribeToShardEvent: records (maybe none: a heartbeat), the continuation,
    /// and at a closed shard's end its children (then no continuation).
    Event = 0,
    /// The timeout passed before the next event was due.
    Timeout = 1,
    /// The subscription is over (its 5 minutes passed, or its shard ended).
    End = 2,
}

/// A stream's status (Kinesis StreamStatus).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_stream_status {
    /// Being created.
    Creating = 0,
    /// Ready for reads and writes.
    Active = 1,
    /// A reshard is in progress; reads and writes continue.
    Updating = 2,
    /// Being deleted.
    Deleting = 3,
}

/// A shard's state.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_shard_state {
    /// Accepting writes.
    Open = 0,
    /// Split or merged away: readable until its data expires, no more writes.
    Closed = 1,
    /// Closed and past retention (never listed; kept for completeness).
    Expired = 2,
}

/// What a subscription delivered.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tidelog_event_kind {
    /// New records, in order, from `shard_id`; `batch` holds them (never empty).
    Records = 0,
    /// Nothing arrived within the timeout (blocking mode only).
    Timeout = 1,
    /// `shard_id` is closed and fully read; `batch` holds no records but lists its
    /// children (with lineage following, they are being read now or once their other
    /// parent ends).
    ShardEnded = 2,
    /// Every shard of the subscription has ended; nothing more will come.
    Finished = 3,
    /// The subscription failed with `status` (callback mode only; the last event).
    Error = 4,
}

/// Options of `tidelog_engine_open`. Fill with `TIDELOG_ENGINE_OPTIONS_INIT(&options)`
/// (the defaults), then change fields. Enum and flag fields are `uint32_t`: flags are
/// 0 or 1, other values give `TIDELOG_STATUS_INVALID_ENUM_VALUE`; numbers outside the
/// engine's rules give `TIDELOG_STATUS_VALIDATION`. Read during the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tidelog_engine_options {
    /// `sizeof(tidelog_engine_options)` as the caller compiled it.
    pub struct_size: usize,
    /// Cores (executor threads) to run; 0 = chosen by `machine` (shared: one per usable
    /// CPU but one, at least one; dedicated: one per CPU).
    pub cores: u32,
    /// 1 = pin each core to its own CPU (default), 0 = do not pin.
    pub pin_cores: u32,
    /// Default durability of puts (`tidelog_durability`; default SYNC).
    pub durability: u32,
    /// How group commits reach the disk (`tidelog_sync_driver`).
    pub sync_driver: u32,
    /// Retention of new streams, hours (default 24).
    pub retention_hours_default: u32,
    /// Shortest retention allowed, hours (default 24; may be lowered to 1).
    pub retention_hours_min: u32,
    /// Most open shards across all streams (default 10,000).
    pub max_shards: u32,
    /// Largest record, data plus partition key, bytes (default 1 MiB, at most 10 MiB).
    pub record_bytes_max: u32,
    /// 1 = check each record's CRC when it is read (default), 0 = do not.
    pub verify_crc_on_read: u32,
    /// How new segment files are prepared (`tidelog_preallocation`).
    pub preallocation: u32,
    /// Size of a shard's first segment, bytes (default 128 KiB).
    pub segment_bytes_initial: u64,
    /// Size segments grow toward, bytes (default 64 MiB).
    pub segment_bytes_max: u64,
    /// How long a core polls its mailbox before parking, µs (at most 1,000,000).
    pub core_spin_us: u64,
    /// How long a blocked caller spins for its reply before parking, µs (at most
    /// 1,000,000).
    pub reply_spin_us: u64,
    /// How long a subscriber spins for new records before parking, µs (at most
    /// 1,000,000).
    pub subscriber_spin_us: u64,
    /// How often each core runs retention, ms (1 to 86,400,000; default 1,000).
    pub maintenance_interval_ms: u64,
    /// glommio's preemption timer on each core, µs (100 to 1,000,000; default
    /// 2,000): how late a completed fsync may be noticed under steady load. Raise it
    /// on hosts that stall threads for milliseconds (e.g. under Valgrind), where a
    /// short timer can leave a core parked at start (docs/c-api.md).
    pub preempt_timer_us: u64,
    /// 0 = the system clock (default). Otherwise a manual clock that starts at this
    /// time (ms since the Unix epoch) and moves only by `tidelog_engine_advance_clock`:
    /// for tests of retention, iterator expiry and rate limits.
    pub manual_clock_start_ms: u64,
    /// Per-shard write limit, bytes/s (Kinesis: 1 MiB). UINT64_MAX = no limit.
    pub write_bytes_per_sec: u64,
    /// Per-shard write limit, records/s (Kinesis: 1,000). UINT64_MAX = no limit.
    pub write_records_per_sec: u64,
    /// Per-shard read limit, bytes/s (Kinesis: 2 MiB). UINT64_MAX = no limit.
    pub read_bytes_per_sec: u64,
    /// Per-shard read limit, GetRecords calls/s (Kinesis: 5). UINT64_MAX = no limit.
    pub read_calls_per_sec: u64,
    /// Most records one GetRecords returns (Kinesis: 10,000).
    pub read_records_per_call_max: u64,
    /// Most bytes one GetRecords returns (Kinesis: 10 MiB).
    pub read_bytes_per_call_max: u64,
    /// After a call returning `read_bytes_per_call_max` bytes, reads of the shard are
    /// refused for this long, ms (Kinesis: 5,000).
    pub read_penalty_after_max_call_ms: u64,
    /// Bytes/s each subscription may receive (Kinesis enhanced fan-out: 2 MiB).
    pub subscribe_bytes_per_sec: u64,
    /// Most entries in one PutRecords (Kinesis: 500; at most
    /// `TIDELOG_PUT_RECORDS_ENTRIES_MAX`).
    pub put_records_entries_max: u64,
    /// Most bytes (data plus keys) in one PutRecords (Kinesis: 5 MiB).
    pub put_records_bytes_max: u64,
    /// NULL, or the region in ARNs (default "local").
    pub region: *const c_char,
    /// NULL, or the 12-digit account in ARNs (default "000000000000").
    pub account_id: *const c_char,
    /// NULL, or the key provider of encrypted streams (see
    /// `tidelog_key_provider_callback`). NULL: the built-in provider, key files in
    /// `key_dir`.
    pub key_provider: tidelog_key_provider_callback,
    /// Passed to `key_provider` as is.
    pub key_provider_user_data: *mut c_void,
    /// NULL, or the built-in key provider's directory (default `<data_dir>/kms`; it
    /// makes `alias/aws/kinesis` on first use). Only without `key_provider`.
    pub key_dir: *const c_char,
    /// How long a consumer stays CREATING (and DELETING), ms on the engine's clock
    /// (default 0; at most 3,600,000).
    pub consumer_transition_ms: u64,
    /// Most consumers per stream (default 20).
    pub consumers_per_stream_max: u32,
    /// Most ON_DEMAND streams (default 50).
    pub on_demand_stream_count_max: u32,
    /// How often on-demand streams are scaled, ms on the engine's clock (default
    /// 60,000; 1,000 to 86,400,000).
    pub on_demand_evaluation_interval_ms: u64,
    /// Most shards an on-demand stream grows to (default 200).
    pub on_demand_max_shards: u32,
    /// The machine the engine shares (`tidelog_machine`; default SHARED).
    pub machine: u32,
}

/// A key provider: writes the 32-byte key of `key_id` (NUL-terminated UTF-8) to
/// `key_out` and returns `TIDELOG_STATUS_OK`, or refuses with one of the KMS statuses
/// (`TIDELOG_STATUS_KMS_NOT_FOUND`, `_KMS_DISABLED`, `_KMS_ACCESS_DENIED`,
/// `_KMS_INVALID_STATE`, `_KMS_OPT_IN_REQUIRED`, `_KMS_THROTTLING`), which the engine
/// passes on to the call that needed the key (any other status is reported as
/// KMS_INVALID_STATE). Called on the thread of that call (a put, a read,
/// `tidelog_start_stream_encryption`), possibly from several threads at once, at most
/// once per key and engine run after a success; `key_id` and `key_out` are valid only
/// during the call. It must not unwind.
pub type tidelog_key_provider_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        key_id: *const c_char,
        key_out: *mut u8,
    ) -> tidelog_status,
>;

/// Options of `tidelog_put_record`. `tidelog_put_options o = { sizeof o };` gives the
/// defaults (every field zero or NULL). Read during the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_put_options {
    /// `sizeof(tidelog_put_options)` as the caller compiled it.
    pub struct_size: usize,
    /// NULL, or a decimal hash key in [0, 2^128 - 1] that overrides the partition
    /// key's MD5 for routing.
    pub explicit_hash_key: *const c_char,
    /// NULL, or a decimal sequence number: the new record's number will be above it
    /// (Kinesis SequenceNumberForOrdering).
    pub sequence_number_for_ordering: *const c_char,
    /// A `tidelog_durability`; `TIDELOG_DURABILITY_DEFAULT` = the engine's.
    pub durability: u32,
}

/// Where a put record went.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_put_record_output {
    /// `sizeof(tidelog_put_record_output)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// The shard the record went to, NUL-terminated.
    pub shard_id: [c_char; TIDELOG_SHARD_ID_BUFFER_SIZE],
    /// Its sequence number, decimal, NUL-terminated.
    pub sequence_number: [c_char; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE],
    /// 1 if it was stored encrypted (EncryptionType KMS), 0 otherwise.
    pub encrypted: u32,
}

/// One entry of `tidelog_put_records`. Every entry of an array must carry the same
/// `struct_size` (it is the array's stride). Read during the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_put_records_entry {
    /// `sizeof(tidelog_put_records_entry)` as the caller compiled it.
    pub struct_size: usize,
    /// The partition key: NUL-terminated UTF-8, 1 to 256 characters.
    pub partition_key: *const c_char,
    /// The data (may be NULL when `data_len` is 0).
    pub data: *const u8,
    /// Bytes of data (at most `TIDELOG_DATA_BYTES_MAX`).
    pub data_len: usize,
    /// NULL, or a decimal hash key overriding the partition key's MD5.
    pub explicit_hash_key: *const c_char,
}

/// The result of one entry of `tidelog_put_records`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_put_records_result {
    /// `sizeof(tidelog_put_records_result)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// `TIDELOG_STATUS_OK`, or why this entry failed (the others are unaffected).
    pub status: tidelog_status,
    /// The shard the record went to ("" if it failed).
    pub shard_id: [c_char; TIDELOG_SHARD_ID_BUFFER_SIZE],
    /// Its sequence number, decimal ("" if it failed).
    pub sequence_number: [c_char; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE],
    /// "" on success, else the failure's one-line message. Owned by the output handle:
    /// valid until `tidelog_put_records_output_free`.
    pub error_message: *const c_char,
    /// 1 if it was stored encrypted, 0 otherwise (or on failure).
    pub encrypted: u32,
}

/// One record of a batch: zero-copy views into the shard's memory-mapped log.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_record {
    /// `sizeof(tidelog_record)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// The record's sequence number, decimal, NUL-terminated.
    pub sequence_number: [c_char; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE],
    /// Approximate arrival time, ms since the Unix epoch.
    pub approximate_arrival_timestamp_ms: u64,
    /// The partition key's UTF-8 bytes (not NUL-terminated). Points into the mapping:
    /// valid until the batch is freed, even after the engine is closed.
    pub partition_key: *const u8,
    /// Bytes of the partition key.
    pub partition_key_len: usize,
    /// The data bytes. Points into the mapping: valid until the batch is freed, even
    /// after the engine is closed. Never NULL; not to be read when `data_len` is 0.
    pub data: *const u8,
    /// Bytes of data.
    pub data_len: usize,
    /// 1 if the record is stored encrypted: `partition_key` and `data` then point to
    /// its decrypted copy (owned by the batch, same lifetime), not into the mapping.
    pub encrypted: u32,
}

/// A child of a closed shard.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_child_shard {
    /// `sizeof(tidelog_child_shard)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// The child's id.
    pub shard_id: [c_char; TIDELOG_SHARD_ID_BUFFER_SIZE],
    /// Its (first) parent.
    pub parent_shard_id: [c_char; TIDELOG_SHARD_ID_BUFFER_SIZE],
    /// Its other parent after a merge, "" after a split.
    pub adjacent_parent_shard_id: [c_char; TIDELOG_SHARD_ID_BUFFER_SIZE],
    /// First hash key of its range, decimal.
    pub starting_hash_key: [c_char; TIDELOG_HASH_KEY_BUFFER_SIZE],
    /// Last hash key of its range (inclusive), decimal.
    pub ending_hash_key: [c_char; TIDELOG_HASH_KEY_BUFFER_SIZE],
}

/// One shard as DescribeStream and ListShards show it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_shard {
    /// `sizeof(tidelog_shard)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// `shardId-000000000000`.
    pub shard_id: [c_char; TIDELOG_SHARD_ID_BUFFER_SIZE],
    /// The shard it was split or merged from, "" for an original shard.
    pub parent_shard_id: [c_char; TIDELOG_SHARD_ID_BUFFER_SIZE],
    /// The other parent of a merge, "" otherwise.
    pub adjacent_parent_shard_id: [c_char; TIDELOG_SHARD_ID_BUFFER_SIZE],
    /// First hash key of its range, decimal.
    pub starting_hash_key: [c_char; TIDELOG_HASH_KEY_BUFFER_SIZE],
    /// Last hash key of its range (inclusive), decimal.
    pub ending_hash_key: [c_char; TIDELOG_HASH_KEY_BUFFER_SIZE],
    /// Lower bound of its sequence numbers, decimal.
    pub starting_sequence_number: [c_char; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE],
    /// Its last sequence number once closed, decimal; "" while open.
    pub ending_sequence_number: [c_char; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE],
    /// Open or closed.
    pub state: tidelog_shard_state,
    /// The core (executor) that owns it.
    pub core: u32,
}

/// A stream as DescribeStream and DescribeStreamSummary show it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_stream_info {
    /// `sizeof(tidelog_stream_info)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// The name, NUL-terminated.
    pub name: [c_char; TIDELOG_STREAM_NAME_BUFFER_SIZE],
    /// Its status.
    pub status: tidelog_stream_status,
    /// Numeric id (names a directory under the data directory).
    pub stream_id: u64,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: u64,
    /// Retention period, hours.
    pub retention_hours: u32,
    /// Open shards.
    pub open_shard_count: u32,
    /// Registered enhanced fan-out consumers.
    pub consumer_count: u32,
    /// Capacity mode.
    pub mode: tidelog_stream_mode,
    /// How new records are stored.
    pub encryption_type: tidelog_encryption_type,
    /// The largest record, KiB (MaxRecordSizeInKiB).
    pub max_record_size_kib: u32,
    /// Enabled shard-level metrics (`TIDELOG_METRIC_*` bits).
    pub shard_level_metrics: u32,
    /// 1 if the stream has a warm throughput (ON_DEMAND with the account's billing
    /// commitment on); then the next two fields hold it.
    pub has_warm_throughput: u32,
    /// Warm throughput asked for, MiB/s.
    pub warm_throughput_target_mibps: u32,
    /// Warm throughput the open shards take now, MiB/s.
    pub warm_throughput_current_mibps: u32,
    /// A `tidelog_record_distribution` (always USER_PARTITION_KEY when PROVISIONED).
    pub record_distribution: u32,
}

/// An enhanced fan-out consumer.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_consumer {
    /// `sizeof(tidelog_consumer)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// Its name, NUL-terminated.
    pub name: [c_char; TIDELOG_CONSUMER_NAME_BUFFER_SIZE],
    /// Its ARN (`<stream ARN>/consumer/<name>:<creation time, s>`), NUL-terminated.
    pub arn: [c_char; TIDELOG_ARN_BUFFER_SIZE],
    /// Its status.
    pub status: tidelog_consumer_status,
    /// When it was registered, ms since the Unix epoch.
    pub created_ms: u64,
    /// Its stream's ARN, NUL-terminated.
    pub stream_arn: [c_char; TIDELOG_ARN_BUFFER_SIZE],
}

/// A Kinesis queue.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_queue {
    /// `sizeof(tidelog_queue)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// Its name, NUL-terminated.
    pub name: [c_char; TIDELOG_QUEUE_NAME_BUFFER_SIZE],
    /// Its ARN (`arn:<partition>:kinesis:<region>:<account>:queue/<16 hex digits>`).
    pub arn: [c_char; TIDELOG_ARN_BUFFER_SIZE],
    /// Its status.
    pub status: tidelog_queue_status,
    /// When it was created, ms since the Unix epoch.
    pub created_ms: u64,
    /// Its stream's ARN, NUL-terminated.
    pub stream_arn: [c_char; TIDELOG_ARN_BUFFER_SIZE],
    /// When its stream was created, ms since the Unix epoch.
    pub stream_created_ms: u64,
    /// Where delivery began (`tidelog_queue_start`).
    pub starting_position: u32,
    /// 1 if `starting_timestamp_ms` is set (AT_TIMESTAMP while CREATING; always once
    /// ACTIVE: the effective start).
    pub has_starting_timestamp: u8,
    /// The starting position's time, ms since the Unix epoch.
    pub starting_timestamp_ms: u64,
    /// Seconds a received record stays in flight (0 to 43,200).
    pub visibility_timeout_s: u32,
    /// Receives without an acknowledgement before a record becomes a dead letter
    /// (1 to 1,000); 0: dead-letter handling is off (TargetType NONE).
    pub max_receive_count: u32,
}

/// A record received from a queue. Its strings and data belong to the record list.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_queue_record {
    /// `sizeof(tidelog_queue_record)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// The handle to acknowledge it, change its visibility or restore it with.
    pub receipt_handle: [c_char; TIDELOG_RECEIPT_HANDLE_BUFFER_SIZE],
    /// Its id (its sequence number: the same in every delivery and queue).
    pub record_id: [c_char; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE],
    /// The shard it is in.
    pub shard_id: [c_char; TIDELOG_SHARD_ID_BUFFER_SIZE],
    /// Its partition key, NUL-terminated (owned by the list).
    pub partition_key: *const c_char,
    /// Bytes of the partition key before that NUL (a key may itself hold NULs).
    pub partition_key_len: usize,
    /// Its data (owned by the list; NULL when `data_len` is 0).
    pub data: *const u8,
    /// Bytes of data.
    pub data_len: usize,
    /// When it arrived in the stream, ms since the Unix epoch.
    pub arrival_ms: u64,
    /// When the queue first delivered it, ms since the Unix epoch.
    pub first_receive_ms: u64,
    /// Receives since it was first delivered or last restored (this one included).
    pub receive_count: u32,
}

/// One entry's result in a queue batch call. Its strings belong to the result.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_queue_entry_result {
    /// `sizeof(tidelog_queue_entry_result)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// The receipt handle given, NUL-terminated.
    pub receipt_handle: *const c_char,
    /// `TIDELOG_STATUS_OK` if the entry took effect, else why not
    /// (`TIDELOG_STATUS_INVALID_ARGUMENT`: a malformed, altered or foreign handle, or
    /// one of an earlier delivery; `TIDELOG_STATUS_RESOURCE_NOT_FOUND`: the record was
    /// acknowledged already or is past retention). `tidelog_status_kinesis_name`
    /// gives the entry's Kinesis ErrorCode.
    pub status: u32,
    /// Why it failed, NUL-terminated ("" when it succeeded).
    pub message: *const c_char,
}

/// DescribeLimits.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_limits_info {
    /// `sizeof(tidelog_limits_info)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// Most open shards (the engine's `max_shards`).
    pub shard_limit: u32,
    /// Open shards now, across every stream.
    pub open_shard_count: u32,
    /// ON_DEMAND streams now.
    pub on_demand_stream_count: u32,
    /// Most ON_DEMAND streams.
    pub on_demand_stream_count_limit: u32,
}

/// The account's minimum throughput billing commitment.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_account_settings {
    /// `sizeof(tidelog_account_settings)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// Its status.
    pub status: tidelog_commitment_status,
    /// When it started, ms since the Unix epoch (0: never).
    pub started_ms: u64,
    /// When it ended or will end, ms (0: not ending).
    pub ended_ms: u64,
    /// The earliest time it may end, ms (0: none).
    pub earliest_allowed_end_ms: u64,
}

/// Options of `tidelog_create_stream_with`. `tidelog_create_stream_options o = {
/// sizeof o };` then set fields; zero fields mean "the default". Read during the call
/// only.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_create_stream_options {
    /// `sizeof(tidelog_create_stream_options)` as the caller compiled it.
    pub struct_size: usize,
    /// A `tidelog_stream_mode` (0 = PROVISIONED).
    pub mode: u32,
    /// PROVISIONED: the shard count (required, 1 to `max_shards`); ON_DEMAND: must be 0.
    pub shard_count: u32,
    /// MaxRecordSizeInKiB, 1,024 to 10,240 (0 = 1,024).
    pub max_record_size_kib: u32,
    /// Warm throughput, MiB/s (0 = none; ON_DEMAND with the billing commitment only).
    pub warm_throughput_mibps: u32,
    /// Tags: `tag_keys[i]` gets `tag_values[i]` for i below `tag_count` (at most 50).
    pub tag_keys: *const *const c_char,
    /// See `tag_keys`.
    pub tag_values: *const *const c_char,
    /// See `tag_keys` (NULL arrays only with 0).
    pub tag_count: usize,
    /// A `tidelog_record_distribution` (0 = USER_PARTITION_KEY; AUTO: ON_DEMAND only).
    /// Added after the first release: a caller compiled without it passes a shorter
    /// `struct_size` and gets the default.
    pub record_distribution: u32,
}

/// What `tidelog_shard_subscription_next` delivered.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_shard_event {
    /// `sizeof(tidelog_shard_event)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// What happened.
    pub kind: tidelog_shard_event_kind,
    /// EVENT: 1 if `continuation_sequence_number` is set; 0 on the last event of a
    /// closed shard (which lists its children in `batch`).
    pub has_continuation: u32,
    /// EVENT: subscribe again AFTER this sequence number to continue; "" otherwise.
    pub continuation_sequence_number: [c_char; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE],
    /// EVENT: how far behind the shard's newest record, ms.
    pub millis_behind_latest: u64,
    /// EVENT: the records (maybe none) and, at a closed shard's end, its children; the
    /// caller owns it (`tidelog_batch_free`). NULL otherwise.
    pub batch: *mut tidelog_batch,
}

/// A metrics snapshot of one shard (or, from `tidelog_stream_metrics_total`, a stream's
/// totals, with an empty `shard_id`), with the Kinesis metric names.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_shard_metrics {
    /// `sizeof(tidelog_shard_metrics)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// The stream.
    pub stream: [c_char; TIDELOG_STREAM_NAME_BUFFER_SIZE],
    /// The shard ("" for stream totals).
    pub shard_id: [c_char; TIDELOG_SHARD_ID_BUFFER_SIZE],
    /// IncomingBytes: data plus key bytes accepted.
    pub incoming_bytes: u64,
    /// IncomingRecords.
    pub incoming_records: u64,
    /// OutgoingBytes: data plus key bytes returned to readers and subscribers.
    pub outgoing_bytes: u64,
    /// OutgoingRecords.
    pub outgoing_records: u64,
    /// GetRecords calls answered.
    pub get_records_calls: u64,
    /// WriteProvisionedThroughputExceeded: records refused by the write limits.
    pub write_throttled: u64,
    /// ReadProvisionedThroughputExceeded: reads refused by the read limits.
    pub read_throttled: u64,
    /// IteratorAgeMilliseconds of the latest read (stream totals: the maximum).
    pub iterator_age_ms: u64,
}

/// What a subscription delivered (`tidelog_subscription_next` fills it; a callback
/// receives it).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_subscription_event {
    /// `sizeof(tidelog_subscription_event)` as the caller compiled it (set it).
    pub struct_size: usize,
    /// What happened.
    pub kind: tidelog_event_kind,
    /// For `TIDELOG_EVENT_KIND_ERROR`: why; otherwise `TIDELOG_STATUS_OK`.
    pub status: tidelog_status,
    /// The shard of a RECORDS or SHARD_ENDED event; "" otherwise.
    pub shard_id: [c_char; TIDELOG_SHARD_ID_BUFFER_SIZE],
    /// RECORDS: the records; SHARD_ENDED: the children (no records); NULL otherwise.
    /// From `tidelog_subscription_next` the caller owns it (`tidelog_batch_free`); in
    /// a callback it is lent for the callback's duration only.
    pub batch: *mut tidelog_batch,
}

/// A callback subscription's receiver. Runs on the subscription's own thread (named
/// `tidelog-subscriber`), one event at a time, never concurrently with itself.
/// `event` and everything it points to are valid only until the callback returns.
/// Return true to receive more events, false to stop. It must not unwind (no C++
/// exception may escape it).
pub type tidelog_subscription_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, event: *const tidelog_subscription_event) -> bool,
>;
