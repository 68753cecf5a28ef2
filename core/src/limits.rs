//! Every maximum and minimum tidelog enforces, in one place.
//!
//! Invariant: every length that comes from a caller or from disk is checked against a
//! constant here (or a configured value bounded by one) before it is used to index,
//! allocate or map anything. Names carry their unit.
#![forbid(unsafe_code)]

/// Fewest Unicode scalar values in a partition key (Kinesis: 1).
pub const PARTITION_KEY_CHARS_MIN: usize = 1;
/// Most Unicode scalar values in a partition key (Kinesis: 256).
pub const PARTITION_KEY_CHARS_MAX: usize = 256;
/// Most UTF-8 bytes a partition key can take (256 scalar values of up to 4 bytes each).
pub const PARTITION_KEY_BYTES_MAX: usize = PARTITION_KEY_CHARS_MAX * 4;

/// Default largest record: data plus partition key, in bytes (Kinesis: 1 MiB).
pub const RECORD_BYTES_MAX_DEFAULT: u32 = 1 << 20;
/// The ceiling a configuration may raise the record size to (AWS now allows 10 MiB).
pub const RECORD_BYTES_MAX_CEILING: u32 = 10 << 20;
/// Most bytes an encrypted record's envelope adds to its data (`crypto/envelope.rs`:
/// 24 today; room kept for a later envelope version).
pub const RECORD_ENVELOPE_BYTES_MAX: u32 = 64;
/// The most key plus data bytes a frame holds: the largest record plus an envelope.
pub const FRAME_PAYLOAD_BYTES_CEILING: u32 = RECORD_BYTES_MAX_CEILING + RECORD_ENVELOPE_BYTES_MAX;

/// Smallest segment file tidelog creates, in bytes.
pub const SEGMENT_BYTES_MIN: u64 = 16 << 10;
/// Default size of a shard's first segment: an idle shard costs this much disk.
pub const SEGMENT_BYTES_INITIAL_DEFAULT: u64 = 256 << 10;
/// Default size segments grow toward (each roll doubles the size up to this).
pub const SEGMENT_BYTES_MAX_DEFAULT: u64 = 64 << 20;
/// The largest segment a configuration may ask for. Offsets inside a segment are u32,
/// so this must stay below 4 GiB; 1 GiB keeps recovery scans short.
pub const SEGMENT_BYTES_CEILING: u64 = 1 << 30;

/// Most sparse-index entries a segment carries; the index interval grows with the
/// segment so that an active segment's in-memory index stays below 32 KiB.
pub const INDEX_ENTRIES_PER_SEGMENT_MAX: u64 = 1024;
/// Smallest distance, in bytes of log, between two sparse-index entries.
pub const INDEX_INTERVAL_BYTES_MIN: u64 = 4 << 10;

/// Bytes of verified log after which the active segment's durable checkpoint is
/// refreshed (written after a completed sync, never ahead of one).
pub const CHECKPOINT_INTERVAL_BYTES: u64 = 4 << 20;

/// Most records a single read may return (Kinesis GetRecords: 10,000).
pub const READ_RECORDS_MAX: usize = 10_000;
/// Most bytes a single read may return (Kinesis GetRecords: 10 MiB).
pub const READ_BYTES_MAX: usize = 10 << 20;
