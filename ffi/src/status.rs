//! Status codes, their names, and the calling thread's last error message.
//!
//! Invariants: a status value is never reused or renumbered; a gap in the numbering is
//! a retired code. Values 1-99 are engine error families (one per
//! `tidelog::ErrorKind`), 100-199 are ABI-level problems found before the engine is
//! called. The message of a failing call is kept per thread until that thread's next
//! failing call.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};

use tidelog_core::ErrorKind;

/// What a call returned. `TIDELOG_STATUS_OK` (0) is success; every other value is a
/// failure whose one-line description `tidelog_last_error_message()` returns.
///
/// Values are stable: a value is never reused for another meaning, and a gap in the
/// numbering is a retired code. 1-99 are the engine's error families (each with a
/// Kinesis exception name, see `tidelog_status_kinesis_name`); 100-199 are problems
/// with the call itself, found before the engine is asked.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum tidelog_status {
    /// Success.
    Ok = 0,
    /// The request's shape is wrong: a name, key, size or count outside its rules, or
    /// an invalid engine option (ValidationException).
    Validation = 1,
    /// Well formed but not valid now: a closed shard, a retention period outside the
    /// allowed range, a forged iterator (InvalidArgumentException).
    InvalidArgument = 2,
    /// The stream or shard does not exist (ResourceNotFoundException).
    ResourceNotFound = 3,
    /// The stream exists already or is busy, or the data directory is open elsewhere
    /// (ResourceInUseException).
    ResourceInUse = 4,
    /// A configured maximum (shards, tags) would be exceeded (LimitExceededException).
    LimitExceeded = 5,
    /// A per-shard rate limit refused the call; nothing changed. Retry later
    /// (ProvisionedThroughputExceededException).
    ProvisionedThroughputExceeded = 6,
    /// The shard iterator is older than five minutes (ExpiredIteratorException).
    ExpiredIterator = 7,
    /// A file-system operation failed (InternalFailureException).
    Io = 8,
    /// Stored data failed its checks (InternalFailureException).
    Corruption = 9,
    /// The environment cannot run the engine: io_uring blocked, locked-memory or
    /// open-file limits too low; the message names the fix (InternalFailureException).
    Environment = 10,
    /// The engine was closed (InternalFailureException).
    Closed = 11,
    /// An internal invariant broke (a bug in tidelog) (InternalFailureException).
    Internal = 12,
    /// The key provider's key is disabled (KMSDisabledException).
    KmsDisabled = 13,
    /// The key provider's key cannot be used now (KMSInvalidStateException).
    KmsInvalidState = 14,
    /// The key provider refused the key, or it is not the key that encrypted the
    /// stream's data key (KMSAccessDeniedException).
    KmsAccessDenied = 15,
    /// The key provider has no key of this id (KMSNotFoundException).
    KmsNotFound = 16,
    /// The key service needs a subscription first (KMSOptInRequired).
    KmsOptInRequired = 17,
    /// The key service refused for now; retry later (KMSThrottlingException).
    KmsThrottling = 18,
    /// A required pointer argument was NULL.
    NullPointer = 100,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 101,
    /// The caller's buffer is too small; the call says how large it must be.
    BufferTooSmall = 102,
    /// A handle argument is not a live handle of the expected kind: freed already,
    /// of another kind, or never returned by tidelog.
    InvalidHandle = 103,
    /// A struct's `struct_size` is smaller than the first version of the struct,
    /// larger than `TIDELOG_STRUCT_SIZE_MAX`, or larger than this library knows with
    /// a non-zero byte in the part it does not know (a newer caller's field that this
    /// older library cannot honour).
    BadStructSize = 104,
    /// An enum or flag argument has a value outside its enum.
    InvalidEnumValue = 105,
    /// A length, count, index or duration is beyond its documented ABI bound, or a
    /// string has no NUL within `TIDELOG_STRING_BYTES_MAX` bytes.
    OutOfRange = 106,
    /// The iterator has ended: its shard is closed and was read to its end (the last
    /// batch carried the shard's children).
    IteratorEnded = 107,
    /// The call does not fit the subscription's mode (e.g. `tidelog_subscription_next`
    /// on a subscription that delivers to a callback).
    WrongSubscriptionMode = 108,
    /// tidelog panicked inside the call (a bug); the panic was caught at the boundary.
    Panic = 109,
    /// Analytics: the SQL text did not parse, plan or run (the message is DataFusion's;
    /// a syntax error names its line and column). Analytics statuses are numbered from
    /// 200.
    Sql = 200,
    /// Analytics: an input schema is not valid.
    Schema = 201,
    /// This library was built without the feature the call needs (analytics: cargo
    /// feature `analytics` of tidelog-ffi, on by default).
    Unsupported = 202,
}

impl tidelog_status {
    /// Every status, in value order (for the name tables and tests).
    pub(crate) const ALL: [Self; 31] = [
        Self::Ok,
        Self::Validation,
        Self::InvalidArgument,
        Self::ResourceNotFound,
        Self::ResourceInUse,
        Self::LimitExceeded,
        Self::ProvisionedThroughputExceeded,
        Self::ExpiredIterator,
        Self::Io,
        Self::Corruption,
        Self::Environment,
        Self::Closed,
        Self::Internal,
        Self::KmsDisabled,
        Self::KmsInvalidState,
        Self::KmsAccessDenied,
        Self::KmsNotFound,
        Self::KmsOptInRequired,
        Self::KmsThrottling,
        Self::NullPointer,
        Self::InvalidUtf8,
        Self::BufferTooSmall,
        Self::InvalidHandle,
        Self::BadStructSize,
        Self::InvalidEnumValue,
        Self::OutOfRange,
        Self::IteratorEnded,
        Self::WrongSubscriptionMode,
        Self::Sql,
        Self::Schema,
        Self::Unsupported,
    ];

    /// The status for a value, if it is one (`Panic` included).
    pub fn from_value(value: u32) -> Option<Self> {
        Self::ALL
            .iter()
            .chain(std::iter::once(&Self::Panic))
            .copied()
            .find(|s| *s as u32 == value)
    }

    /// The constant's name as the header spells it, NUL-terminated.
    pub fn name(self) -> &'static CStr {
        match self {
            Self::Ok => c"TIDELOG_STATUS_OK",
            Self::Validation => c"TIDELOG_STATUS_VALIDATION",
            Self::InvalidArgument => c"TIDELOG_STATUS_INVALID_ARGUMENT",
            Self::ResourceNotFound => c"TIDELOG_STATUS_RESOURCE_NOT_FOUND",
            Self::ResourceInUse => c"TIDELOG_STATUS_RESOURCE_IN_USE",
            Self::LimitExceeded => c"TIDELOG_STATUS_LIMIT_EXCEEDED",
            Self::ProvisionedThroughputExceeded => {
                c"TIDELOG_STATUS_PROVISIONED_THROUGHPUT_EXCEEDED"
            }
            Self::ExpiredIterator => c"TIDELOG_STATUS_EXPIRED_ITERATOR",
            Self::Io => c"TIDELOG_STATUS_IO",
            Self::Corruption => c"TIDELOG_STATUS_CORRUPTION",
            Self::Environment => c"TIDELOG_STATUS_ENVIRONMENT",
            Self::Closed => c"TIDELOG_STATUS_CLOSED",
            Self::Internal => c"TIDELOG_STATUS_INTERNAL",
            Self::KmsDisabled => c"TIDELOG_STATUS_KMS_DISABLED",
            Self::KmsInvalidState => c"TIDELOG_STATUS_KMS_INVALID_STATE",
            Self::KmsAccessDenied => c"TIDELOG_STATUS_KMS_ACCESS_DENIED",
            Self::KmsNotFound => c"TIDELOG_STATUS_KMS_NOT_FOUND",
            Self::KmsOptInRequired => c"TIDELOG_STATUS_KMS_OPT_IN_REQUIRED",
            Self::KmsThrottling => c"TIDELOG_STATUS_KMS_THROTTLING",
            Self::NullPointer => c"TIDELOG_STATUS_NULL_POINTER",
            Self::InvalidUtf8 => c"TIDELOG_STATUS_INVALID_UTF8",
            Self::BufferTooSmall => c"TIDELOG_STATUS_BUFFER_TOO_SMALL",
            Self::InvalidHandle => c"TIDELOG_STATUS_INVALID_HANDLE",
            Self::BadStructSize => c"TIDELOG_STATUS_BAD_STRUCT_SIZE",
            Self::InvalidEnumValue => c"TIDELOG_STATUS_INVALID_ENUM_VALUE",
            Self::OutOfRange => c"TIDELOG_STATUS_OUT_OF_RANGE",
            Self::IteratorEnded => c"TIDELOG_STATUS_ITERATOR_ENDED",
            Self::WrongSubscriptionMode => c"TIDELOG_STATUS_WRONG_SUBSCRIPTION_MODE",
            Self::Panic => c"TIDELOG_STATUS_PANIC",
            Self::Sql => c"TIDELOG_STATUS_SQL",
            Self::Schema => c"TIDELOG_STATUS_SCHEMA",
            Self::Unsupported => c"TIDELOG_STATUS_UNSUPPORTED",
        }
    }

    /// The Kinesis exception name of an engine family; `None` for OK and the ABI-level
    /// statuses.
    pub fn kinesis_name(self) -> Option<&'static CStr> {
        Some(match self {
            Self::Validation => c"ValidationException",
            Self::InvalidArgument => c"InvalidArgumentException",
            Self::ResourceNotFound => c"ResourceNotFoundException",
            Self::ResourceInUse => c"ResourceInUseException",
            Self::LimitExceeded => c"LimitExceededException",
            Self::ProvisionedThroughputExceeded => c"ProvisionedThroughputExceededException",
            Self::ExpiredIterator => c"ExpiredIteratorException",
            Self::Io | Self::Corruption | Self::Environment | Self::Closed | Self::Internal => {
                c"InternalFailureException"
            }
            Self::KmsDisabled => c"KMSDisabledException",
            Self::KmsInvalidState => c"KMSInvalidStateException",
            Self::KmsAccessDenied => c"KMSAccessDeniedException",
            Self::KmsNotFound => c"KMSNotFoundException",
            Self::KmsOptInRequired => c"KMSOptInRequired",
            Self::KmsThrottling => c"KMSThrottlingException",
            _ => return None,
        })
    }
}

impl From<ErrorKind> for tidelog_status {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Validation => Self::Validation,
            ErrorKind::InvalidArgument => Self::InvalidArgument,
            ErrorKind::ResourceNotFound => Self::ResourceNotFound,
            ErrorKind::ResourceInUse => Self::ResourceInUse,
            ErrorKind::LimitExceeded => Self::LimitExceeded,
            ErrorKind::ProvisionedThroughputExceeded => Self::ProvisionedThroughputExceeded,
            ErrorKind::ExpiredIterator => Self::ExpiredIterator,
            ErrorKind::Io => Self::Io,
            ErrorKind::Corruption => Self::Corruption,
            ErrorKind::Environment => Self::Environment,
            ErrorKind::Closed => Self::Closed,
            ErrorKind::Internal => Self::Internal,
            ErrorKind::KmsDisabled => Self::KmsDisabled,
            ErrorKind::KmsInvalidState => Self::KmsInvalidState,
            ErrorKind::KmsAccessDenied => Self::KmsAccessDenied,
            ErrorKind::KmsNotFound => Self::KmsNotFound,
            ErrorKind::KmsOptInRequired => Self::KmsOptInRequired,
            ErrorKind::KmsThrottling => Self::KmsThrottling,
            // A family added to the engine later: reported as internal until it gets
            // its own status here (never a reused value).
            _ => Self::Internal,
        }
    }
}

/// A failure on its way to the caller: a status and a one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FfiError {
    /// The status returned.
    pub status: tidelog_status,
    /// The message `tidelog_last_error_message` returns.
    pub message: String,
}

impl FfiError {
    /// A failure with a message.
    pub fn new(status: tidelog_status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A required pointer argument was NULL.
    pub fn null(what: &str) -> Self {
        Self::new(
            tidelog_status::NullPointer,
            format!("{what} is NULL (it is required)"),
        )
    }
}

impl From<tidelog_core::Error> for FfiError {
    fn from(e: tidelog_core::Error) -> Self {
        Self::new(e.kind().into(), e.to_string())
    }
}

/// Result of the inside of an export.
pub type FfiResult<T> = Result<T, FfiError>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error: one line, no NUL bytes.
pub fn set_last_error(message: &str) {
    let line: String = message
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .filter(|c| *c != '\0')
        .collect();
    let text = CString::new(line).unwrap_or_default();
    // A thread being torn down has no slot any more; the message is then dropped.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = text);
}

/// This thread's last error message (a pointer into thread-local storage).
pub fn last_error_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| slot.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// This thread's last error message, copied (for Rust-side checks).
pub fn last_error_text() -> String {
    LAST_ERROR
        .try_with(|slot| slot.borrow().to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_names_and_kinesis_names_are_stable() {
        let expected: [(tidelog_status, u32); 32] = [
            (tidelog_status::Ok, 0),
            (tidelog_status::Validation, 1),
            (tidelog_status::InvalidArgument, 2),
            (tidelog_status::ResourceNotFound, 3),
            (tidelog_status::ResourceInUse, 4),
            (tidelog_status::LimitExceeded, 5),
            (tidelog_status::ProvisionedThroughputExceeded, 6),
            (tidelog_status::ExpiredIterator, 7),
            (tidelog_status::Io, 8),
            (tidelog_status::Corruption, 9),
            (tidelog_status::Environment, 10),
            (tidelog_status::Closed, 11),
            (tidelog_status::Internal, 12),
            (tidelog_status::KmsDisabled, 13),
            (tidelog_status::KmsInvalidState, 14),
            (tidelog_status::KmsAccessDenied, 15),
            (tidelog_status::KmsNotFound, 16),
            (tidelog_status::KmsOptInRequired, 17),
            (tidelog_status::KmsThrottling, 18),
            (tidelog_status::NullPointer, 100),
            (tidelog_status::InvalidUtf8, 101),
            (tidelog_status::BufferTooSmall, 102),
            (tidelog_status::InvalidHandle, 103),
            (tidelog_status::BadStructSize, 104),
            (tidelog_status::InvalidEnumValue, 105),
            (tidelog_status::OutOfRange, 106),
            (tidelog_status::IteratorEnded, 107),
            (tidelog_status::WrongSubscriptionMode, 108),
            (tidelog_status::Panic, 109),
            (tidelog_status::Sql, 200),
            (tidelog_status::Schema, 201),
            (tidelog_status::Unsupported, 202),
        ];
        for (status, value) in expected {
            assert_eq!(status as u32, value, "{status:?}");
            assert_eq!(tidelog_status::from_value(value), Some(status));
            assert!(
                status
                    .name()
                    .to_str()
                    .unwrap()
                    .starts_with("TIDELOG_STATUS_")
            );
        }
        assert_eq!(tidelog_status::from_value(19), None);
        assert_eq!(tidelog_status::from_value(99), None);
        assert_eq!(
            tidelog_status::ResourceNotFound.kinesis_name(),
            Some(c"ResourceNotFoundException")
        );
        assert_eq!(tidelog_status::NullPointer.kinesis_name(), None);
        assert_eq!(tidelog_status::Ok.kinesis_name(), None);
    }

    #[test]
    fn every_error_kind_has_its_own_status_with_the_same_kinesis_name() {
        let kinds = [
            ErrorKind::Validation,
            ErrorKind::InvalidArgument,
            ErrorKind::ResourceNotFound,
            ErrorKind::ResourceInUse,
            ErrorKind::LimitExceeded,
            ErrorKind::ProvisionedThroughputExceeded,
            ErrorKind::ExpiredIterator,
            ErrorKind::Io,
            ErrorKind::Corruption,
            ErrorKind::Environment,
            ErrorKind::Closed,
            ErrorKind::Internal,
            ErrorKind::KmsDisabled,
            ErrorKind::KmsInvalidState,
            ErrorKind::KmsAccessDenied,
            ErrorKind::KmsNotFound,
            ErrorKind::KmsOptInRequired,
            ErrorKind::KmsThrottling,
        ];
        let mut seen = std::collections::HashSet::new();
        for kind in kinds {
            let status = tidelog_status::from(kind);
            assert!(seen.insert(status), "{kind:?} shares a status");
            assert_eq!(
                status.kinesis_name().unwrap().to_str().unwrap(),
                kind.kinesis_name()
            );
        }
    }

    #[test]
    fn last_error_is_one_line_and_per_thread() {
        set_last_error("first line\nsecond\0line");
        let text = LAST_ERROR.with(|s| s.borrow().clone());
        assert_eq!(text.to_str().unwrap(), "first line secondline");
        assert_eq!(last_error_ptr(), LAST_ERROR.with(|s| s.borrow().as_ptr()));
        std::thread::spawn(|| {
            let other = LAST_ERROR.with(|s| s.borrow().clone());
            assert_eq!(other.to_bytes(), b"");
        })
        .join()
        .unwrap();
    }
}
