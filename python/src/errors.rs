//! The exception tree: one Python class per family of the Rust engine's errors
//! (`tidelog::ErrorKind`), all rooted at `tidelog.Error`.
//!
//! Invariants: every `tidelog::Error` reaches Python as exactly one of these classes,
//! chosen by its kind (never by parsing its text), with the engine's message (which
//! carries the evidence: names, sizes, limits); each class has the class attributes
//! `kind` (the Rust family) and `kinesis_name` (the Kinesis exception name), which the
//! boto3-compatible client uses. Wrong Python types and values that the binding checks
//! itself raise the built-in `TypeError` / `ValueError` instead.
#![forbid(unsafe_code)]

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyType;
use tidelog::{Error as CoreError, ErrorKind};

create_exception!(
    tidelog,
    Error,
    PyException,
    "Base class of every error the tidelog engine raises."
);
create_exception!(
    tidelog,
    ValidationError,
    Error,
    "The request's shape is wrong: a name, key, size or count out of its bounds \
     (Kinesis: ValidationException)."
);
create_exception!(
    tidelog,
    InvalidArgumentError,
    Error,
    "The request is well formed but not valid now: a closed shard, a foreign iterator, \
     a retention period out of range (Kinesis: InvalidArgumentException)."
);
create_exception!(
    tidelog,
    ResourceNotFoundError,
    Error,
    "A stream or shard does not exist (Kinesis: ResourceNotFoundException)."
);
create_exception!(
    tidelog,
    ResourceInUseError,
    Error,
    "The stream exists already or is busy with another change, or the data directory \
     is open elsewhere (Kinesis: ResourceInUseException)."
);
create_exception!(
    tidelog,
    LimitExceededError,
    Error,
    "A configured maximum (open shards, tags) would be exceeded \
     (Kinesis: LimitExceededException)."
);
create_exception!(
    tidelog,
    ProvisionedThroughputExceededError,
    Error,
    "A per-shard rate limit refused the call; nothing changed, retry later \
     (Kinesis: ProvisionedThroughputExceededException)."
);
create_exception!(
    tidelog,
    ExpiredIteratorError,
    Error,
    "The shard iterator is older than five minutes; get a new one \
     (Kinesis: ExpiredIteratorException)."
);
create_exception!(
    tidelog,
    FileSystemError,
    Error,
    "A file-system operation failed (Kinesis: InternalFailureException)."
);
create_exception!(
    tidelog,
    CorruptionError,
    Error,
    "Stored data failed its checks (Kinesis: InternalFailureException)."
);
create_exception!(
    tidelog,
    EnvironmentCheckError,
    Error,
    "The machine cannot run the engine (io_uring blocked, locked-memory or file limits \
     too low); the message names the fix (Kinesis: InternalFailureException)."
);
create_exception!(
    tidelog,
    ClosedError,
    Error,
    "The engine (or the subscription) has been closed (Kinesis: InternalFailureException)."
);
create_exception!(
    tidelog,
    InternalError,
    Error,
    "An internal invariant broke (a bug), reported instead of a crash \
     (Kinesis: InternalFailureException)."
);

/// Each class with the Rust family it stands for.
fn classes(py: Python<'_>) -> [(Bound<'_, PyType>, Option<ErrorKind>); 13] {
    [
        (py.get_type::<Error>(), None),
        (
            py.get_type::<ValidationError>(),
            Some(ErrorKind::Validation),
        ),
        (
            py.get_type::<InvalidArgumentError>(),
            Some(ErrorKind::InvalidArgument),
        ),
        (
            py.get_type::<ResourceNotFoundError>(),
            Some(ErrorKind::ResourceNotFound),
        ),
        (
            py.get_type::<ResourceInUseError>(),
            Some(ErrorKind::ResourceInUse),
        ),
        (
            py.get_type::<LimitExceededError>(),
            Some(ErrorKind::LimitExceeded),
        ),
        (
            py.get_type::<ProvisionedThroughputExceededError>(),
            Some(ErrorKind::ProvisionedThroughputExceeded),
        ),
        (
            py.get_type::<ExpiredIteratorError>(),
            Some(ErrorKind::ExpiredIterator),
        ),
        (py.get_type::<FileSystemError>(), Some(ErrorKind::Io)),
        (
            py.get_type::<CorruptionError>(),
            Some(ErrorKind::Corruption),
        ),
        (
            py.get_type::<EnvironmentCheckError>(),
            Some(ErrorKind::Environment),
        ),
        (py.get_type::<ClosedError>(), Some(ErrorKind::Closed)),
        (py.get_type::<InternalError>(), Some(ErrorKind::Internal)),
    ]
}

/// The Rust family's name as Python shows it in `kind`.
fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Validation => "Validation",
        ErrorKind::InvalidArgument => "InvalidArgument",
        ErrorKind::ResourceNotFound => "ResourceNotFound",
        ErrorKind::ResourceInUse => "ResourceInUse",
        ErrorKind::LimitExceeded => "LimitExceeded",
        ErrorKind::ProvisionedThroughputExceeded => "ProvisionedThroughputExceeded",
        ErrorKind::ExpiredIterator => "ExpiredIterator",
        ErrorKind::Io => "Io",
        ErrorKind::Corruption => "Corruption",
        ErrorKind::Environment => "Environment",
        ErrorKind::Closed => "Closed",
        _ => "Internal",
    }
}

/// Adds the classes to the module, with their `kind` and `kinesis_name` attributes.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for (class, kind) in classes(m.py()) {
        let (kind, kinesis) = match kind {
            Some(kind) => (kind_name(kind), kind.kinesis_name()),
            None => ("Error", "InternalFailureException"),
        };
        class.setattr("kind", kind)?;
        class.setattr("kinesis_name", kinesis)?;
        m.add(class.name()?, class)?;
    }
    Ok(())
}

/// The Python exception for an engine error.
pub(crate) fn to_py(err: CoreError) -> PyErr {
    let message = err.to_string();
    match err.kind() {
        ErrorKind::Validation => ValidationError::new_err(message),
        ErrorKind::InvalidArgument => InvalidArgumentError::new_err(message),
        ErrorKind::ResourceNotFound => ResourceNotFoundError::new_err(message),
        ErrorKind::ResourceInUse => ResourceInUseError::new_err(message),
        ErrorKind::LimitExceeded => LimitExceededError::new_err(message),
        ErrorKind::ProvisionedThroughputExceeded => {
            ProvisionedThroughputExceededError::new_err(message)
        }
        ErrorKind::ExpiredIterator => ExpiredIteratorError::new_err(message),
        ErrorKind::Io => FileSystemError::new_err(message),
        ErrorKind::Corruption => CorruptionError::new_err(message),
        ErrorKind::Environment => EnvironmentCheckError::new_err(message),
        ErrorKind::Closed => ClosedError::new_err(message),
        _ => InternalError::new_err(message),
    }
}

/// `?`-friendly conversion of engine results.
pub(crate) trait OrRaise<T> {
    /// The value, or the engine error as its Python exception.
    fn or_raise(self) -> PyResult<T>;
}

impl<T> OrRaise<T> for tidelog::Result<T> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
