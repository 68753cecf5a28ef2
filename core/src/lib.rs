//! tidelog: an embedded storage engine for Kinesis-style data streams.
//!
//! The layers, top to bottom (ARCHITECTURE.md has the full map):
//! - [`engine`]: the thread-safe front door ([`Engine`]): streams, puts, reads,
//!   subscriptions, administration;
//! - [`runtime`]: one glommio executor per core, mailboxes, group commit;
//! - [`stream`]: the Kinesis model: names, routing, sequence numbers, iterators,
//!   limits, metrics, the catalog;
//! - [`log`]: the durable, segmented, memory-mapped log of one shard;
//! - [`io`]: the one seam to the file system (real and in-memory backends);
//! - [`clock`]: injected time; [`limits`]: every bound in one place.
//!
//! `unsafe` is confined to `io/mapping.rs` (the mapped regions); every other module is
//! `#![forbid(unsafe_code)]`.
#![deny(unsafe_code)]

pub mod clock;
mod codec;
pub mod crypto;
pub mod engine;
pub mod error;
pub mod fuzzing;
pub mod io;
pub mod limits;
pub mod log;
pub mod queue;
pub mod runtime;
pub mod stream;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{
    CreateStreamOptions, Durability, Engine, EngineConfig, FanoutEvent, GetRecordsOutput, Limits,
    Machine, PutOptions, PutRecordOutput, PutRecordsEntry, PutRecordsOutput, ShardSubscription,
    StartingPosition, SubscribeToShardEvent, Subscription, SubscriptionEvent, SyncDriver,
};
pub use error::{Error, ErrorKind, Result};
pub use log::Record;
pub use stream::catalog::{RecordDistribution, StreamMode};
