//! The crate's error type: every failure names what was wrong and where.
//!
//! Invariants: SQL errors keep DataFusion's own text (which carries the line and column
//! of a syntax error); engine errors keep their `tidelog::Error` (and so its Kinesis
//! name); a bad schema or argument is a [`Error::Schema`] / [`Error::Invalid`] that
//! names the field, raised before anything runs.
#![forbid(unsafe_code)]

/// What went wrong in tidelog-analytics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SQL text did not parse, plan or run (DataFusion's message: a syntax error
    /// names its line and column).
    #[error("{0}")]
    Sql(String),
    /// An input schema is not valid.
    #[error("invalid input schema: {0}")]
    Schema(String),
    /// An argument is not valid (a table name, a sample size, an option).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A table, application or stream of that name does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A table or application of that name already exists.
    #[error("already exists: {0}")]
    Exists(String),
    /// The operation does not fit the object's state (e.g. start a running application).
    #[error("{0}")]
    State(String),
    /// The engine refused a call.
    #[error(transparent)]
    Engine(#[from] tidelog::Error),
    /// A file (reference data, checkpoint) could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The session was closed.
    #[error("the analytics session is closed")]
    Closed,
}

impl Error {
    /// A short stable name of the error's family (`"Sql"`, `"Schema"`, ...), for the
    /// C ABI and Python.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Sql(_) => "Sql",
            Self::Schema(_) => "Schema",
            Self::Invalid(_) => "Invalid",
            Self::NotFound(_) => "NotFound",
            Self::Exists(_) => "Exists",
            Self::State(_) => "State",
            Self::Engine(_) => "Engine",
            Self::Io { .. } => "Io",
            Self::Closed => "Closed",
        }
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        // An engine error raised inside a scan travels through DataFusion as an
        // external error: give it back its own type.
        let e = e.find_root();
        if let datafusion::error::DataFusionError::External(inner) = e
            && let Some(engine) = inner.downcast_ref::<tidelog::Error>()
        {
            return Self::Sql(format!("{} ({})", engine, engine.kinesis_name()));
        }
        Self::Sql(e.to_string())
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Self::Sql(e.to_string())
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
