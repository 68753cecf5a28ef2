//! Kinesis queues: the engine-independent parts. A queue delivers the records of one
//! stream to queue consumers, one delivery at a time, and remembers what became of
//! each record it handed out. The engine side (`engine/queues.rs`) owns the calls; this
//! module owns what they share and what is stored:
//!
//! - `state.rs`: [`DeliveryState`], the delivery state of one queue (per-shard read
//!   frontiers, the records handed out and not acknowledged, the receipt counter) and
//!   the [`Entry`] changes that move it;
//! - `format.rs`: the bytes on disk, the queue catalog (`queues/catalog`: every queue's
//!   definition) and each queue's journal (`queues/<id>.journal`: entries appended
//!   after every change, compacted into a snapshot), docs/format.md;
//! - `handle.rs`: receipt handles, MAC-signed with a key derived from the data
//!   directory's secret.
//!
//! Invariants:
//! - A record is in exactly one of: beyond its shard's frontier (never delivered,
//!   visible), tracked (delivered and not acknowledged: in flight until its visibility
//!   time, visible after; or a dead letter), or forgotten (acknowledged, or past the
//!   stream's retention). A forgotten record is never delivered again: everything below
//!   a frontier that is not tracked is forgotten.
//! - Every change is an [`Entry`] written to the journal before it is applied in memory
//!   or answered; replaying the journal rebuilds the state exactly. A journal ends at
//!   its first frame that fails its length or checksum (a torn tail); the engine
//!   rewrites it from the replayed state when it opens the queue.
//! - Each delivery, dead-lettering and restore gives the record a new receipt number
//!   (never reused in the queue, across restarts), so only the latest receipt handle of
//!   a record works.
#![forbid(unsafe_code)]

pub mod format;
pub mod handle;
pub mod state;

pub use format::{QueueDefinition, QueueStart};
pub use handle::{HandleError, ReceiptHandle};
pub use state::{Delivery, DeliveryState, Entry};

/// Most records one receive, acknowledge, visibility, or restore call takes (Kinesis: 10).
pub const QUEUE_BATCH_MAX: usize = 10;
/// Longest visibility timeout, seconds (Kinesis: 12 hours).
pub const VISIBILITY_TIMEOUT_MAX_S: u32 = 43_200;
/// A queue's visibility timeout when none is given, seconds.
pub const VISIBILITY_TIMEOUT_DEFAULT_S: u32 = 30;
/// Highest MaxReceiveCount (Kinesis: 1,000).
pub const MAX_RECEIVE_COUNT_MAX: u32 = 1000;
/// A queue's MaxReceiveCount when no dead-letter configuration is given.
pub const MAX_RECEIVE_COUNT_DEFAULT: u32 = 6;
/// Longest long-poll wait, seconds (Kinesis: 20).
pub const WAIT_TIME_MAX_S: u32 = 20;
/// Most queues one ListQueues page returns (Kinesis: 10,000).
pub const LIST_QUEUES_MAX: usize = 10_000;
/// Most queues a data directory holds.
pub const QUEUES_MAX: usize = 10_000;
