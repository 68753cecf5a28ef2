//! The engine's errors: one enum, grouped into families that each map to one Kinesis
//! error name (and, in the C ABI, one stable status code). Variants carry evidence.
#![forbid(unsafe_code)]

use crate::crypto::{KmsError, KmsFailure};
use crate::log::{KeyError, LogError};
use crate::stream::arn::ArnError;
use crate::stream::catalog::{CatalogDecodeError, StreamStatus};
use crate::stream::iterator::TokenError;
use crate::stream::names::NameError;

/// The family of an error: what a caller can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request's shape is wrong (a name, key, size or count out of its bounds).
    Validation,
    /// The request is well formed but not valid for the current state.
    InvalidArgument,
    /// A stream or shard does not exist.
    ResourceNotFound,
    /// The stream is busy (being created, updated or deleted) or already exists.
    ResourceInUse,
    /// A configured maximum (streams, shards, tags) would be exceeded.
    LimitExceeded,
    /// A per-shard rate limit refused the call; it changed nothing. Retry later.
    ProvisionedThroughputExceeded,
    /// The iterator is older than five minutes; get a new one.
    ExpiredIterator,
    /// A file-system operation failed.
    Io,
    /// Stored data failed its checks.
    Corruption,
    /// The environment cannot run the engine (io_uring, locked memory, file limits).
    Environment,
    /// The engine has been closed.
    Closed,
    /// Anything else (a bug): reported, never a panic.
    Internal,
    /// The key provider's key is disabled (KMSDisabledException).
    KmsDisabled,
    /// The key provider's key is not usable now (KMSInvalidStateException).
    KmsInvalidState,
    /// The key provider refused the key, or the key does not open the stream's data
    /// key (KMSAccessDeniedException).
    KmsAccessDenied,
    /// The key provider has no key of this id (KMSNotFoundException).
    KmsNotFound,
    /// The key service needs a subscription (KMSOptInRequired).
    KmsOptInRequired,
    /// The key service refused for now; retry (KMSThrottlingException).
    KmsThrottling,
}

impl ErrorKind {
    /// The Kinesis exception name for this family.
    pub fn kinesis_name(self) -> &'static str {
        match self {
            Self::Validation => "ValidationException",
            Self::InvalidArgument => "InvalidArgumentException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ResourceInUse => "ResourceInUseException",
            Self::LimitExceeded => "LimitExceededException",
            Self::ProvisionedThroughputExceeded => "ProvisionedThroughputExceededException",
            Self::ExpiredIterator => "ExpiredIteratorException",
            Self::Io | Self::Corruption | Self::Environment | Self::Closed | Self::Internal => {
                "InternalFailureException"
            }
            Self::KmsDisabled => "KMSDisabledException",
            Self::KmsInvalidState => "KMSInvalidStateException",
            Self::KmsAccessDenied => "KMSAccessDeniedException",
            Self::KmsNotFound => "KMSNotFoundException",
            Self::KmsOptInRequired => "KMSOptInRequired",
            Self::KmsThrottling => "KMSThrottlingException",
        }
    }

    fn of_kms(failure: KmsFailure) -> Self {
        match failure {
            KmsFailure::Disabled => Self::KmsDisabled,
            KmsFailure::InvalidState => Self::KmsInvalidState,
            KmsFailure::AccessDenied => Self::KmsAccessDenied,
            KmsFailure::NotFound => Self::KmsNotFound,
            KmsFailure::OptInRequired => Self::KmsOptInRequired,
            KmsFailure::Throttling => Self::KmsThrottling,
        }
    }
}

/// A request whose shape is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Validation {
    /// The stream name breaks the naming rules.
    StreamName(NameError),
    /// Not a shard id of the `shardId-000000000000` form.
    ShardId(String),
    /// The partition key breaks the key rules.
    PartitionKey(KeyError),
    /// Data plus partition key is over the record size limit.
    RecordTooLarge {
        /// Data plus key, bytes.
        bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// Not a decimal hash key in [0, 2^128 - 1].
    ExplicitHashKey(String),
    /// Not a decimal sequence number.
    SequenceNumber(String),
    /// A shard count outside what the call accepts.
    ShardCount {
        /// The count given.
        given: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// PutRecords with no entries or too many.
    PutRecordsEntries {
        /// Entries given.
        given: usize,
        /// The maximum.
        max: usize,
    },
    /// PutRecords whose data plus keys exceed the request limit.
    PutRecordsBytes {
        /// Bytes given.
        given: usize,
        /// The maximum.
        max: usize,
    },
    /// A read limit outside [1, 10,000].
    ReadLimit {
        /// The limit given.
        given: usize,
        /// The maximum.
        max: usize,
    },
    /// A tag key or value breaks the tag rules.
    Tag {
        /// The tag key (possibly truncated for display).
        key: String,
        /// What is wrong.
        rule: &'static str,
    },
    /// An unknown iterator type or starting position.
    IteratorType(String),
    /// A malformed ARN.
    Arn(ArnError),
    /// A consumer name that breaks the naming rules.
    ConsumerName(NameError),
    /// A KMS key id that is empty or longer than 2,048 characters.
    KeyId {
        /// Its length in characters.
        chars: usize,
    },
    /// MaxRecordSizeInKiB outside [1024, 10240].
    MaxRecordSizeKib {
        /// The value given.
        given: u64,
    },
    /// An unknown shard-level metric name.
    MetricName(String),
    /// Arguments that do not go together, or one missing that the others need.
    Argument(String),
    /// A list argument with no entries or too many.
    ListLength {
        /// The argument.
        what: &'static str,
        /// Entries given.
        given: usize,
        /// Fewest allowed.
        min: usize,
        /// Most allowed.
        max: usize,
    },
}

impl std::fmt::Display for Validation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::StreamName(e) => write!(f, "{e}"),
            Self::ShardId(s) => write!(
                f,
                "{s:?} is not a shard id (expected shardId- and 12 digits)"
            ),
            Self::PartitionKey(e) => write!(f, "{e}"),
            Self::RecordTooLarge { bytes, max_bytes } => {
                write!(
                    f,
                    "record of {bytes} bytes (data + partition key) exceeds the {max_bytes}-byte limit"
                )
            }
            Self::ExplicitHashKey(s) => {
                write!(
                    f,
                    "explicit hash key {s:?} is not a decimal integer in [0, 2^128 - 1]"
                )
            }
            Self::SequenceNumber(s) => write!(f, "{s:?} is not a decimal sequence number"),
            Self::ShardCount { given, min, max } => {
                write!(f, "shard count {given} is outside [{min}, {max}]")
            }
            Self::PutRecordsEntries { given, max } => {
                write!(f, "PutRecords takes 1 to {max} records; {given} given")
            }
            Self::PutRecordsBytes { given, max } => {
                write!(
                    f,
                    "PutRecords request of {given} bytes exceeds the {max}-byte limit"
                )
            }
            Self::ReadLimit { given, max } => write!(f, "limit {given} is outside [1, {max}]"),
            Self::Tag { key, rule } => write!(f, "tag {key:?}: {rule}"),
            Self::IteratorType(s) => write!(f, "unknown shard iterator type {s:?}"),
            Self::Arn(e) => write!(f, "{e}"),
            Self::ConsumerName(e) => f.write_str(&e.describe("consumer name")),
            Self::KeyId { chars } => write!(f, "KMS key id of {chars} characters (1 to 2048)"),
            Self::MaxRecordSizeKib { given } => {
                write!(f, "MaxRecordSizeInKiB {given} is outside [1024, 10240]")
            }
            Self::MetricName(name) => write!(
                f,
                "unknown shard-level metric {name:?}: expected IncomingBytes, IncomingRecords, \
                 OutgoingBytes, OutgoingRecords, WriteProvisionedThroughputExceeded, \
                 ReadProvisionedThroughputExceeded, IteratorAgeMilliseconds or ALL"
            ),
            Self::Argument(why) => f.write_str(why),
            Self::ListLength {
                what,
                given,
                min,
                max,
            } => write!(f, "{what} takes {min} to {max} entries; {given} given"),
        }
    }
}

/// A well-formed request that is not valid now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidArgument {
    /// The iterator token was edited, forged, or comes from another data directory.
    Iterator(TokenError),
    /// A sequence number that does not belong to the shard named with it.
    SequenceNotInShard {
        /// The sequence number.
        seq: u128,
        /// The shard id.
        shard_id: String,
    },
    /// SequenceNumberForOrdering that no record of this shard can follow.
    SequenceForOrdering {
        /// The number given.
        seq: u128,
    },
    /// A retention period outside the allowed range, or not a raise/lower as asked.
    RetentionHours {
        /// Hours given.
        given: u32,
        /// What is wrong.
        rule: &'static str,
    },
    /// The shard is closed: it cannot be split, merged or written.
    ShardClosed {
        /// The shard id.
        shard_id: String,
    },
    /// A hash key outside the range of the shard being split.
    HashKeyOutsideShard {
        /// The key given.
        key: u128,
        /// The shard id.
        shard_id: String,
    },
    /// Two shards to merge that are not adjacent.
    NotAdjacent {
        /// First shard id.
        shard_id: String,
        /// Second shard id.
        adjacent_shard_id: String,
    },
    /// A target shard count outside [half, double] of the current count.
    ShardCountChange {
        /// Current open shards.
        current: u32,
        /// Target asked for.
        target: u32,
    },
    /// The scaling type is not UNIFORM_SCALING.
    ScalingType(String),
    /// A call that does not fit the stream's capacity mode (or a mode change that is
    /// not one).
    StreamMode {
        /// What is wrong.
        rule: &'static str,
    },
    /// StartStreamEncryption / StopStreamEncryption with arguments that do not fit the
    /// stream's encryption.
    Encryption {
        /// What is wrong.
        rule: String,
    },
    /// A resource policy that is not a valid policy document.
    Policy(String),
    /// MaxRecordSizeInKiB above what this engine accepts (its `record_bytes_max`).
    MaxRecordSize {
        /// Bytes asked for.
        bytes: u64,
        /// The engine's ceiling.
        ceiling: u64,
    },
    /// Arguments that do not go together (e.g. StreamName and StreamARN naming
    /// different streams, or a filter without its parameter).
    Conflict(String),
    /// Warm throughput outside what the stream can be scaled to, or asked of a stream
    /// or account that cannot have it.
    WarmThroughput(String),
}

impl std::fmt::Display for InvalidArgument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Iterator(TokenError::Malformed) => write!(f, "invalid shard iterator: malformed"),
            Self::Iterator(TokenError::Forged) => write!(
                f,
                "invalid shard iterator: it was altered or comes from another data directory"
            ),
            Self::SequenceNotInShard { seq, shard_id } => {
                write!(f, "sequence number {seq} does not belong to {shard_id}")
            }
            Self::SequenceForOrdering { seq } => write!(
                f,
                "SequenceNumberForOrdering {seq} is not a sequence number this shard can follow"
            ),
            Self::RetentionHours { given, rule } => write!(f, "retention of {given} hours: {rule}"),
            Self::ShardClosed { shard_id } => write!(f, "{shard_id} is closed"),
            Self::HashKeyOutsideShard { key, shard_id } => {
                write!(f, "hash key {key} is outside the range of {shard_id}")
            }
            Self::NotAdjacent {
                shard_id,
                adjacent_shard_id,
            } => {
                write!(f, "{shard_id} and {adjacent_shard_id} are not adjacent")
            }
            Self::ShardCountChange { current, target } => write!(
                f,
                "cannot go from {current} to {target} shards in one call (allowed: half to double)"
            ),
            Self::ScalingType(s) => {
                write!(f, "scaling type {s:?} is not supported (UNIFORM_SCALING)")
            }
            Self::StreamMode { rule } => write!(f, "{rule}"),
            Self::Encryption { rule } => write!(f, "{rule}"),
            Self::Policy(why) => write!(f, "invalid resource policy: {why}"),
            Self::MaxRecordSize { bytes, ceiling } => write!(
                f,
                "a maximum record size of {bytes} bytes is above this engine's record_bytes_max ({ceiling})"
            ),
            Self::Conflict(why) => write!(f, "{why}"),
            Self::WarmThroughput(why) => write!(f, "{why}"),
        }
    }
}

/// Which limit refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The shard's write limits (records or bytes per second).
    Write,
    /// The shard's read calls per second.
    ReadCalls,
    /// The shard's read bytes per second.
    ReadBytes,
    /// The penalty after a maximal read.
    ReadPenalty,
}

/// An environment problem, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentError {
    /// What was checked.
    pub check: &'static str,
    /// What was found.
    pub found: String,
    /// How to fix it.
    pub fix: &'static str,
}

/// Everything the engine's calls can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`Validation`].
    #[error("validation: {0}")]
    Validation(Validation),
    /// See [`InvalidArgument`].
    #[error("invalid argument: {0}")]
    InvalidArgument(InvalidArgument),
    /// No stream of this name.
    #[error("stream {stream:?} not found")]
    StreamNotFound {
        /// The name asked for.
        stream: String,
    },
    /// No shard of this id in the stream.
    #[error("shard {shard_id} not found in stream {stream:?}")]
    ShardNotFound {
        /// The stream.
        stream: String,
        /// The shard id asked for.
        shard_id: String,
    },
    /// No consumer of this name (or ARN) on the stream.
    #[error("consumer {consumer:?} of stream {stream:?} not found")]
    ConsumerNotFound {
        /// The stream.
        stream: String,
        /// The consumer's name (or ARN) asked for.
        consumer: String,
    },
    /// Something named by an ARN (or attached to it, like a policy) does not exist.
    #[error("{what} not found")]
    ResourceNotFound {
        /// What was looked for.
        what: String,
    },
    /// A consumer of this name is registered already (or still being deleted).
    #[error("consumer {consumer:?} of stream {stream:?} already exists ({status})")]
    ConsumerExists {
        /// The stream.
        stream: String,
        /// The consumer.
        consumer: String,
        /// Its status.
        status: &'static str,
    },
    /// The consumer is not ACTIVE (CREATING or DELETING), or its subscription to the
    /// shard is in use (a second SubscribeToShard within 5 s, or one taken over).
    #[error("consumer {consumer:?}: {reason}")]
    ConsumerBusy {
        /// The consumer's ARN.
        consumer: String,
        /// Why the call cannot go on now.
        reason: String,
    },
    /// An encrypted record failed to open with its stream's key: its bytes were changed
    /// on disk, or the record names a key slot the stream does not have.
    #[error("record {seq} of {stream}/{shard_id} cannot be decrypted: {reason}")]
    Decryption {
        /// The stream.
        stream: String,
        /// The shard.
        shard_id: String,
        /// The record's sequence number.
        seq: u128,
        /// What failed.
        reason: String,
    },
    /// The key provider refused a key (named as AWS KMS names its errors).
    #[error("{}: {}", .0.failure.kinesis_name(), .0.message)]
    Kms(KmsError),
    /// The stream exists already.
    #[error("stream {stream:?} already exists")]
    StreamExists {
        /// The name.
        stream: String,
    },
    /// The stream is busy.
    #[error("stream {stream:?} is {}: {reason}", status.name())]
    StreamBusy {
        /// The stream.
        stream: String,
        /// Its status.
        status: StreamStatus,
        /// Why the call cannot go on now.
        reason: &'static str,
    },
    /// A configured maximum would be exceeded.
    #[error("limit exceeded: {what} would be {requested}, the limit is {limit}")]
    LimitExceeded {
        /// What is limited.
        what: &'static str,
        /// The value the call would reach.
        requested: u64,
        /// The limit.
        limit: u64,
    },
    /// A per-shard rate limit refused the call (nothing changed).
    #[error("provisioned throughput exceeded on {stream}/{shard_id} ({kind:?})")]
    ProvisionedThroughputExceeded {
        /// The stream.
        stream: String,
        /// The shard.
        shard_id: String,
        /// Which limit.
        kind: Throttle,
    },
    /// The iterator expired.
    #[error("iterator expired at {expired_at_ms} ms (now {now_ms} ms); iterators live 5 minutes")]
    ExpiredIterator {
        /// When it expired.
        expired_at_ms: u64,
        /// Now.
        now_ms: u64,
    },
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] LogError),
    /// The catalog file is damaged.
    #[error("catalog {path}: {problem}")]
    Catalog {
        /// The catalog file.
        path: std::path::PathBuf,
        /// What is wrong.
        problem: CatalogDecodeError,
    },
    /// A file-system call outside the log failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The operation.
        op: &'static str,
        /// The path.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The environment cannot run the engine.
    #[error("environment check {} failed: {}. Fix: {}", .0.check, .0.found, .0.fix)]
    Environment(EnvironmentError),
    /// The engine configuration is invalid.
    #[error("invalid engine configuration: {field} = {value}: {rule}")]
    Config {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// The rule broken.
        rule: &'static str,
    },
    /// Another engine (in this or another process) has the data directory open.
    #[error("data directory {} is already open elsewhere (its LOCK is held)", path.display())]
    DataDirLocked {
        /// The data directory.
        path: std::path::PathBuf,
    },
    /// No queue of this ARN (never created, deleted, or another account's).
    #[error("queue {queue} not found")]
    QueueNotFound {
        /// The ARN (or name) asked for, with why when it helps.
        queue: String,
    },
    /// A queue of this name exists, or the queue is not ACTIVE for a change.
    #[error("queue {queue}: {reason}")]
    QueueInUse {
        /// The queue's name or ARN.
        queue: String,
        /// Why the call cannot go on now.
        reason: String,
    },
    /// A queue's catalog or journal failed its checks.
    #[error("queue file {}: {problem}", path.display())]
    QueueFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        problem: CatalogDecodeError,
    },
    /// The engine was closed.
    #[error("the engine is closed")]
    Closed,
    /// A wait for a reply or record ran out of time.
    #[error("timed out after {waited_ms} ms")]
    Timeout {
        /// How long the call waited.
        waited_ms: u64,
    },
    /// An internal invariant broke (a bug); the engine reports it instead of panicking.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl Error {
    /// The error's family.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Validation(_) | Self::Config { .. } => ErrorKind::Validation,
            Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::StreamNotFound { .. }
            | Self::ShardNotFound { .. }
            | Self::ConsumerNotFound { .. }
            | Self::ResourceNotFound { .. }
            | Self::QueueNotFound { .. } => ErrorKind::ResourceNotFound,
            Self::StreamExists { .. }
            | Self::StreamBusy { .. }
            | Self::DataDirLocked { .. }
            | Self::ConsumerExists { .. }
            | Self::ConsumerBusy { .. }
            | Self::QueueInUse { .. } => ErrorKind::ResourceInUse,
            Self::Kms(e) => ErrorKind::of_kms(e.failure),
            Self::LimitExceeded { .. } => ErrorKind::LimitExceeded,
            Self::ProvisionedThroughputExceeded { .. } => ErrorKind::ProvisionedThroughputExceeded,
            Self::ExpiredIterator { .. } => ErrorKind::ExpiredIterator,
            Self::Storage(LogError::Corruption(_))
            | Self::Catalog { .. }
            | Self::QueueFile { .. }
            | Self::Decryption { .. } => ErrorKind::Corruption,
            Self::Storage(
                LogError::InvalidKey(_)
                | LogError::RecordTooLarge { .. }
                | LogError::InvalidFlags { .. },
            ) => ErrorKind::Validation,
            Self::Storage(_) | Self::Io { .. } => ErrorKind::Io,
            Self::Environment(_) => ErrorKind::Environment,
            Self::Closed => ErrorKind::Closed,
            Self::Timeout { .. } | Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The Kinesis exception name.
    pub fn kinesis_name(&self) -> &'static str {
        self.kind().kinesis_name()
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<std::path::PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

impl From<Validation> for Error {
    fn from(v: Validation) -> Self {
        Self::Validation(v)
    }
}

impl From<InvalidArgument> for Error {
    fn from(v: InvalidArgument) -> Self {
        Self::InvalidArgument(v)
    }
}

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
