//! Firehose's errors: one enum whose variants carry evidence, each mapped to exactly one
//! Firehose exception name (`InvalidArgumentException`, `ResourceNotFoundException`...)
//! so the JSON API, the C ABI and Python report the same code for the same condition.
#![forbid(unsafe_code)]

/// The family of an error, named as Firehose names its exceptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A parameter is missing, malformed or out of range.
    InvalidArgument,
    /// No delivery stream (or source stream) of that name.
    ResourceNotFound,
    /// The delivery stream exists already, or is not in a state that allows the call.
    ResourceInUse,
    /// A quota (delivery streams, tags) would be exceeded.
    LimitExceeded,
    /// The version given to UpdateDestination is not the current one.
    ConcurrentModification,
    /// The KMS key is not usable (encryption settings).
    InvalidKmsResource,
    /// The source stream cannot be read as configured.
    InvalidSource,
    /// The service cannot take the request now (ingest quota, engine busy): retry.
    ServiceUnavailable,
    /// Anything else: I/O, corruption, a closed engine, a bug. Never a panic.
    Internal,
}

impl ErrorKind {
    /// The Firehose exception name.
    pub fn firehose_name(self) -> &'static str {
        match self {
            Self::InvalidArgument => "InvalidArgumentException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ResourceInUse => "ResourceInUseException",
            Self::LimitExceeded => "LimitExceededException",
            Self::ConcurrentModification => "ConcurrentModificationException",
            Self::InvalidKmsResource => "InvalidKMSResourceException",
            Self::InvalidSource => "InvalidSourceException",
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::Internal => "InternalFailureException",
        }
    }

    /// True for the errors the service reports as its own fault (HTTP 500/503).
    pub fn is_server_fault(self) -> bool {
        matches!(self, Self::ServiceUnavailable | Self::Internal)
    }
}

/// Everything Firehose calls fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is invalid; `field` names it the way the request names it.
    #[error("{field}: {problem}")]
    InvalidArgument {
        /// The parameter (e.g. `ExtendedS3DestinationConfiguration.Prefix`).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// No delivery stream of this name.
    #[error("Firehose {name} under account {account} not found.")]
    NotFound {
        /// The name asked for.
        name: String,
        /// The account shown in the message.
        account: String,
    },
    /// The source stream of a KinesisStreamAsSource delivery stream does not exist.
    #[error("source stream {stream:?} not found: {reason}")]
    SourceNotFound {
        /// The stream.
        stream: String,
        /// Details.
        reason: String,
    },
    /// The delivery stream exists already.
    #[error("Firehose {name} under accountId {account} already exists")]
    AlreadyExists {
        /// The name.
        name: String,
        /// The account.
        account: String,
    },
    /// The delivery stream's state does not allow the call.
    #[error("delivery stream {name} is {status}: {reason}")]
    InUse {
        /// The name.
        name: String,
        /// Its status.
        status: &'static str,
        /// Why the call cannot run.
        reason: &'static str,
    },
    /// A quota would be exceeded.
    #[error("limit exceeded: {what} would be {requested}, the limit is {limit}")]
    LimitExceeded {
        /// What is limited.
        what: &'static str,
        /// The value the call would reach.
        requested: u64,
        /// The limit.
        limit: u64,
    },
    /// UpdateDestination with a stale version.
    #[error("delivery stream {name}: version {given} is not the current version {current}")]
    ConcurrentModification {
        /// The delivery stream.
        name: String,
        /// The version the caller gave.
        given: String,
        /// The current version.
        current: String,
    },
    /// A KMS key that cannot be used here.
    #[error("KMS key {key}: {reason}")]
    InvalidKms {
        /// The key ARN.
        key: String,
        /// Why.
        reason: String,
    },
    /// The source cannot be used.
    #[error("invalid source: {0}")]
    InvalidSource(String),
    /// Ingest quota or a transient condition: retry.
    #[error("service unavailable: {0}")]
    ServiceUnavailable(String),
    /// A wait (flush) ran out of time; the work goes on in the background.
    #[error("timed out after {waited_ms} ms: {what}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        waited_ms: u64,
    },
    /// Delivery failed (reported by `flush`; delivery keeps retrying).
    #[error("delivery failed: {0}")]
    Delivery(String),
    /// The engine below failed.
    #[error(transparent)]
    Engine(#[from] tidelog::Error),
    /// A file of Firehose's own (catalog, checkpoint) failed.
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
    /// A file of Firehose's own is damaged.
    #[error("{}: {problem}", path.display())]
    Corrupt {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Firehose (or its engine) was closed.
    #[error("firehose is closed")]
    Closed,
    /// A broken invariant (a bug), reported instead of a panic.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The error's family.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Self::NotFound { .. } | Self::SourceNotFound { .. } => ErrorKind::ResourceNotFound,
            Self::AlreadyExists { .. } | Self::InUse { .. } => ErrorKind::ResourceInUse,
            Self::LimitExceeded { .. } => ErrorKind::LimitExceeded,
            Self::ConcurrentModification { .. } => ErrorKind::ConcurrentModification,
            Self::InvalidKms { .. } => ErrorKind::InvalidKmsResource,
            Self::InvalidSource(_) => ErrorKind::InvalidSource,
            Self::ServiceUnavailable(_) => ErrorKind::ServiceUnavailable,
            Self::Engine(e) => match e.kind() {
                tidelog::ErrorKind::Validation | tidelog::ErrorKind::InvalidArgument => {
                    ErrorKind::InvalidArgument
                }
                tidelog::ErrorKind::ResourceNotFound => ErrorKind::ResourceNotFound,
                tidelog::ErrorKind::ResourceInUse => ErrorKind::ResourceInUse,
                tidelog::ErrorKind::LimitExceeded => ErrorKind::LimitExceeded,
                tidelog::ErrorKind::ProvisionedThroughputExceeded => ErrorKind::ServiceUnavailable,
                _ => ErrorKind::Internal,
            },
            Self::Timeout { .. }
            | Self::Delivery(_)
            | Self::Io { .. }
            | Self::Corrupt { .. }
            | Self::Closed
            | Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The Firehose exception name.
    pub fn firehose_name(&self) -> &'static str {
        self.kind().firehose_name()
    }

    pub(crate) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            problem: problem.into(),
        }
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

/// Result alias for Firehose.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_its_firehose_name() {
        let cases = [
            (Error::invalid("Prefix", "bad"), "InvalidArgumentException"),
            (
                Error::NotFound {
                    name: "a".into(),
                    account: "0".into(),
                },
                "ResourceNotFoundException",
            ),
            (
                Error::ConcurrentModification {
                    name: "a".into(),
                    given: "1".into(),
                    current: "2".into(),
                },
                "ConcurrentModificationException",
            ),
            (
                Error::ServiceUnavailable("quota".into()),
                "ServiceUnavailableException",
            ),
            (Error::Closed, "InternalFailureException"),
        ];
        for (error, name) in cases {
            assert_eq!(error.firehose_name(), name, "{error}");
        }
        assert!(ErrorKind::ServiceUnavailable.is_server_fault());
        assert!(!ErrorKind::InvalidArgument.is_server_fault());
    }
}
