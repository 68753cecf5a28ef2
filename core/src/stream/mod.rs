//! Streams and shards: the Kinesis model on top of the log. Names, hash-key routing,
//! sequence numbers, iterator tokens, limits, metrics and the durable catalog; the
//! pieces the engine and its cores put together.
#![forbid(unsafe_code)]

pub mod arn;
pub mod catalog;
pub mod hashkey;
pub mod iterator;
pub mod metrics;
pub mod names;
pub mod policy;
pub mod sequence;
pub mod shard;
pub mod throttle;
