//! tidelog-firehose: Firehose delivery streams on a tidelog engine.
//!
//! A delivery stream takes records (DirectPut, into a durable buffer that is itself a
//! tidelog stream) or reads them from a tidelog stream (KinesisStreamAsSource),
//! optionally transforms them (the Lambda contract as an in-process callback),
//! partitions and buffers them, and delivers batches as objects to a local directory or
//! any S3-compatible store, with AWS's object keys, compressions and error documents.
//! Delivery positions are checkpointed, and each object's key is derived from the
//! positions of its records, so delivery after a crash rewrites the same objects
//! instead of adding duplicates (docs/firehose.md).
//!
//! Modules: [`firehose`] (the front door, [`Firehose`]), [`api`] (the JSON entry point
//! with AWS's operation names and shapes), [`model`] (request shapes and validation),
//! [`worker`] (the delivery loop), [`channel`] (Kinesis channels: a stream's records
//! delivered to S3, on the same machinery), [`source`], [`transform`], [`store`],
//! [`checkpoint`], [`catalog`], [`files`], [`prefix`], [`timefmt`], [`jq`],
//! [`compression`], [`metrics`], [`config`], [`names`], [`error`].
//!
//! The crate uses only the engine's public API; its network I/O runs on a tokio runtime
//! of its own, never on an engine core.
#![forbid(unsafe_code)]

pub mod api;
pub mod catalog;
pub mod channel;
pub mod checkpoint;
pub mod compression;
pub mod config;
pub mod conversion;
pub mod copy;
pub mod endpoint;
pub mod error;
pub mod files;
pub mod firehose;
pub mod jq;
pub mod metrics;
pub mod model;
pub mod names;
pub mod prefix;
pub mod source;
pub mod store;
pub mod timefmt;
pub mod transform;
pub mod worker;

pub use config::{BucketStore, FirehoseConfig, IngestLimits, S3Connection};
pub use error::{Error, ErrorKind, Result};
pub use firehose::{Firehose, ListOutput, PutRecordBatchOutput, PutRecordOutput};
pub use metrics::Metrics;
pub use transform::{
    KinesisRecordMetadata, Transform, TransformInput, TransformRecord, TransformResult,
    TransformedRecord,
};
