//! `ApiError`: an answer that is not a success, with AWS's error name, message and
//! HTTP status. The body is `{"__type": name, "message": text}` (`Message` for
//! SerializationException, as AWS writes it), in the request's encoding.
#![forbid(unsafe_code)]

use tidelog::{Error, ErrorKind};

use crate::wire::{Map, Value};

/// A failed operation as the wire shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// AWS's error name (`ResourceNotFoundException`).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// HTTP status (400 for client errors, 500 for server faults, 503 while stopping).
    pub status: u16,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// An error with status 400.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: 400,
        }
    }

    /// A member of the wrong type, or a body that does not decode.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", message)
    }

    /// A member out of its bounds or missing.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    /// A well-formed request that is not valid now.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new("InvalidArgumentException", message)
    }

    /// A stream, shard or consumer that does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }

    /// A resource busy with another change, or taken.
    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new("ResourceInUseException", message)
    }

    /// An operation this server does not know.
    pub fn unknown_operation(message: impl Into<String>) -> Self {
        Self::new("UnknownOperationException", message)
    }

    /// A fault of the server.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: "InternalFailureException",
            message: message.into(),
            status: 500,
        }
    }

    /// The server is stopping (SIGTERM): retry elsewhere or later.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            code: "ServiceUnavailableException",
            message: message.into(),
            status: 503,
        }
    }

    /// The error body.
    pub fn body(&self) -> Value {
        let key = if self.code == "SerializationException" {
            "Message"
        } else {
            "message"
        };
        Map::new()
            .with("__type", self.code)
            .with(key, self.message.as_str())
            .into()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let kind = e.kind();
        let message = e.to_string();
        match kind {
            ErrorKind::Closed => Self::unavailable(message),
            ErrorKind::Io
            | ErrorKind::Corruption
            | ErrorKind::Environment
            | ErrorKind::Internal => Self::internal(message),
            _ => Self::new(kind.kinesis_name(), message),
        }
    }
}
