//! Errors of the log layer, each carrying the evidence a person needs to act on it.
#![forbid(unsafe_code)]

use std::io;
use std::path::PathBuf;

/// Why a stored structure was judged corrupt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptionKind {
    /// A checksum did not match the bytes it covers.
    ChecksumMismatch {
        /// The checksum stored in the file.
        expected: u32,
        /// The checksum of the bytes as found.
        actual: u32,
    },
    /// A record's length field is impossible at this offset.
    BadLength {
        /// The stored frame length.
        frame_bytes: u32,
        /// Bytes left in the segment from this offset.
        room_bytes: u64,
    },
    /// A record header field holds a value format version 1 never writes.
    BadRecordField {
        /// The field's name.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// A record's sequence number does not increase over the one before it.
    SequenceOrder {
        /// The record's sequence number.
        seq: u128,
        /// The previous record's (or the segment base's lower bound).
        previous: u128,
    },
    /// The file does not start with the expected magic number.
    BadMagic {
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// The file was written by a format version this code does not read.
    UnsupportedVersion {
        /// The version found.
        found: u16,
    },
    /// A header field disagrees with the file it is in.
    HeaderMismatch {
        /// The field's name.
        field: &'static str,
        /// The value the file name, size or configuration implies.
        expected: u128,
        /// The value stored.
        found: u128,
    },
    /// The file is shorter than its structures require.
    FileTooShort {
        /// The file's length.
        len: u64,
        /// The length required.
        needed: u64,
    },
}

impl std::fmt::Display for CorruptionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ChecksumMismatch { expected, actual } => {
                write!(
                    f,
                    "checksum mismatch: stored {expected:#010x}, computed {actual:#010x}"
                )
            }
            Self::BadLength {
                frame_bytes,
                room_bytes,
            } => write!(
                f,
                "impossible record length {frame_bytes} with {room_bytes} bytes left in the segment"
            ),
            Self::BadRecordField { field, value } => {
                write!(f, "record field {field} holds {value}")
            }
            Self::SequenceOrder { seq, previous } => {
                write!(f, "sequence number {seq} does not follow {previous}")
            }
            Self::BadMagic { found } => write!(f, "bad magic number {found:02x?}"),
            Self::UnsupportedVersion { found } => write!(f, "unsupported format version {found}"),
            Self::HeaderMismatch {
                field,
                expected,
                found,
            } => {
                write!(f, "header field {field} is {found}, expected {expected}")
            }
            Self::FileTooShort { len, needed } => {
                write!(f, "file is {len} bytes, needs at least {needed}")
            }
        }
    }
}

/// Evidence of corruption: which file, where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corruption in {} at offset {offset}: {kind}", path.display())]
pub struct Corruption {
    /// The damaged file.
    pub path: PathBuf,
    /// Byte offset of the damaged structure in that file.
    pub offset: u64,
    /// What was wrong.
    pub kind: CorruptionKind,
}

/// Why a partition key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// The key is empty.
    Empty,
    /// The key has more than 256 Unicode scalar values.
    TooLong {
        /// Scalar values in the key.
        chars: usize,
    },
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(f, "partition key is empty (minimum 1 character)"),
            Self::TooLong { chars } => write!(
                f,
                "partition key has {chars} characters (maximum {})",
                crate::limits::PARTITION_KEY_CHARS_MAX
            ),
        }
    }
}

/// A configuration value outside what the log accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration field.
    pub field: &'static str,
    /// The value given.
    pub value: u64,
    /// The rule it broke.
    pub rule: &'static str,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} = {} is invalid: {}",
            self.field, self.value, self.rule
        )
    }
}

/// Everything that can go wrong in the log of one shard.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A file-system call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The disk had no room for a new segment (the log is unchanged).
    #[error("storage full: no room for a {bytes}-byte segment at {}", path.display())]
    StorageFull {
        /// The segment that could not be created.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// Stored data failed its checks before the tail of the log.
    #[error(transparent)]
    Corruption(#[from] Corruption),
    /// Another open log (in this or another process) holds the directory.
    #[error("{} is already open elsewhere (its LOCK is held)", dir.display())]
    Locked {
        /// The log's directory.
        dir: PathBuf,
    },
    /// The partition key breaks the key rules.
    #[error("invalid partition key: {0}")]
    InvalidKey(KeyError),
    /// Data plus key exceed the configured record size.
    #[error("record of {bytes} bytes (data + partition key) exceeds the {max_bytes}-byte limit")]
    RecordTooLarge {
        /// Data plus key, in bytes.
        bytes: usize,
        /// The configured maximum.
        max_bytes: u32,
    },
    /// An append asked for frame flags this format does not know.
    #[error("frame flags {flags:#06x} include bits this format does not know")]
    InvalidFlags {
        /// The flags given.
        flags: u16,
    },
    /// An append's sequence number is not above the log's last one.
    #[error("sequence number {seq} is not above the log's last sequence number {last}")]
    SequenceNotIncreasing {
        /// The sequence number given.
        seq: u128,
        /// The log's last sequence number (or its floor).
        last: u128,
    },
    /// A read started before the first record still kept (deleted by retention, or
    /// before the log began).
    #[error("sequence number {requested} is before the start of the log ({first_available})")]
    Trimmed {
        /// The sequence number asked for.
        requested: u128,
        /// The lowest sequence number the log can still return.
        first_available: u128,
    },
    /// A read started beyond the end of the log.
    #[error("sequence number {requested} is beyond the end of the log (next readable is {next})")]
    BeyondEnd {
        /// The sequence number asked for.
        requested: u128,
        /// One past the last record's sequence number.
        next: u128,
    },
    /// A segment belongs to another stream or shard.
    #[error(
        "{} belongs to stream {found_stream} shard {found_shard}, not stream {expected_stream} shard {expected_shard}",
        path.display()
    )]
    IdentityMismatch {
        /// The segment file.
        path: PathBuf,
        /// Stream id this log expected.
        expected_stream: u64,
        /// Shard index this log expected.
        expected_shard: u32,
        /// Stream id in the file.
        found_stream: u64,
        /// Shard index in the file.
        found_shard: u32,
    },
    /// A configuration value is out of range.
    #[error("invalid log configuration: {0}")]
    InvalidConfig(ConfigError),
    /// An earlier durability failure left the log unable to promise anything; it
    /// refuses writes until reopened (which re-verifies what is on disk).
    #[error(
        "the log refuses writes: an earlier {op} of {} failed ({kind}, os error {os_code:?}); reopen it to re-verify what is on disk",
        path.display()
    )]
    Failed {
        /// The operation that failed first.
        op: &'static str,
        /// The file it failed on.
        path: PathBuf,
        /// The kind of I/O error.
        kind: io::ErrorKind,
        /// The raw OS error number, if any.
        os_code: Option<i32>,
    },
}

impl LogError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Result alias for the log layer.
pub type LogResult<T> = Result<T, LogError>;
