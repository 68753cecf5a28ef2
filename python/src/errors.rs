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

create_exception!(
    tidelog,
    KMSError,
    Error,
    "The key provider refused a key of an encrypted stream (the base of the KMS \
     errors, each named as AWS KMS names it)."
);
create_exception!(
    tidelog,
    KMSDisabledError,
    KMSError,
    "The key is disabled (Kinesis: KMSDisabledException)."
);
create_exception!(
    tidelog,
    KMSInvalidStateError,
    KMSError,
    "The key is not usable now (Kinesis: KMSInvalidStateException)."
);
create_exception!(
    tidelog,
    KMSAccessDeniedError,
    KMSError,
    "The key provider refused, or its key does not open the stream's data key: a wrong \
     key (Kinesis: KMSAccessDeniedException)."
);
create_exception!(
    tidelog,
    KMSNotFoundError,
    KMSError,
    "The key provider has no key of this id (Kinesis: KMSNotFoundException)."
);
create_exception!(
    tidelog,
    KMSOptInRequiredError,
    KMSError,
    "The key service needs a subscription first (Kinesis: KMSOptInRequired)."
);
create_exception!(
    tidelog,
    KMSThrottlingError,
    KMSError,
    "The key service refused for now; retry later (Kinesis: KMSThrottlingException)."
);

/// Each class with the Rust family it stands for.
fn classes(py: Python<'_>) -> [(Bound<'_, PyType>, Option<ErrorKind>); 20] {
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
        (py.get_type::<KMSError>(), None),
        (
            py.get_type::<KMSDisabledError>(),
            Some(ErrorKind::KmsDisabled),
        ),
        (
            py.get_type::<KMSInvalidStateError>(),
            Some(ErrorKind::KmsInvalidState),
        ),
        (
            py.get_type::<KMSAccessDeniedError>(),
            Some(ErrorKind::KmsAccessDenied),
        ),
        (
            py.get_type::<KMSNotFoundError>(),
            Some(ErrorKind::KmsNotFound),
        ),
        (
            py.get_type::<KMSOptInRequiredError>(),
            Some(ErrorKind::KmsOptInRequired),
        ),
        (
            py.get_type::<KMSThrottlingError>(),
            Some(ErrorKind::KmsThrottling),
        ),
    ]
}

/// The KMS failure a Python exception of the KMS family stands for (key providers
/// written in Python raise them).
pub(crate) fn kms_failure(err: &PyErr, py: Python<'_>) -> Option<tidelog::crypto::KmsFailure> {
    use tidelog::crypto::KmsFailure;
    let table = [
        (py.get_type::<KMSDisabledError>(), KmsFailure::Disabled),
        (
            py.get_type::<KMSInvalidStateError>(),
            KmsFailure::InvalidState,
        ),
        (
            py.get_type::<KMSAccessDeniedError>(),
            KmsFailure::AccessDenied,
        ),
        (py.get_type::<KMSNotFoundError>(), KmsFailure::NotFound),
        (
            py.get_type::<KMSOptInRequiredError>(),
            KmsFailure::OptInRequired,
        ),
        (py.get_type::<KMSThrottlingError>(), KmsFailure::Throttling),
    ];
    table
        .into_iter()
        .find(|(class, _)| err.is_instance(py, class))
        .map(|(_, failure)| failure)
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
        ErrorKind::KmsDisabled => "KmsDisabled",
        ErrorKind::KmsInvalidState => "KmsInvalidState",
        ErrorKind::KmsAccessDenied => "KmsAccessDenied",
        ErrorKind::KmsNotFound => "KmsNotFound",
        ErrorKind::KmsOptInRequired => "KmsOptInRequired",
        ErrorKind::KmsThrottling => "KmsThrottling",
        _ => "Internal",
    }
}

/// Adds the classes to the module, with their `kind` and `kinesis_name` attributes.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for (class, kind) in classes(m.py()) {
        let (kind, kinesis) = match kind {
            Some(kind) => (kind_name(kind), kind.kinesis_name()),
            None if class.is(m.py().get_type::<KMSError>()) => ("Kms", "KMSInvalidStateException"),
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
        ErrorKind::KmsDisabled => KMSDisabledError::new_err(message),
        ErrorKind::KmsInvalidState => KMSInvalidStateError::new_err(message),
        ErrorKind::KmsAccessDenied => KMSAccessDeniedError::new_err(message),
        ErrorKind::KmsNotFound => KMSNotFoundError::new_err(message),
        ErrorKind::KmsOptInRequired => KMSOptInRequiredError::new_err(message),
        ErrorKind::KmsThrottling => KMSThrottlingError::new_err(message),
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
