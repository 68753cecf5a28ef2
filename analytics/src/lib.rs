//! tidelog-analytics: SQL over tidelog streams, on Apache DataFusion.
//!
//! - [`schema`]: input schemas (JSON paths or CSV fields to typed SQL columns, plus the
//!   metadata columns every row has), Kinesis Data Analytics' JSON form, inference.
//! - [`parse`]: the record decoders (JSON without a document tree, CSV).
//! - [`table`]: a stream as a DataFusion table (one partition per shard, projection,
//!   exact time/sequence/shard pushdown that skips whole segments, LIMIT) and its
//!   error table.
//! - [`session`]: [`Analytics`], the SQL session on threads of its own.
//! - [`app`]: continuous applications (Kinesis Data Analytics' model): pumps,
//!   windows, outputs into streams, exactly-once checkpoints, [`Applications`].
//! - [`arrow_out`]: engine reads as Arrow, payloads lent from the log without copies.
//!
//! DataFusion parses, plans and executes; this crate adds the sources and decoders.
//! It uses only the engine's public API. [`arrow`] and [`datafusion`] are re-exported so
//! the C ABI and the Python bindings use the very same versions.
#![forbid(unsafe_code)]

pub mod app;
pub mod arrow_out;
pub mod error;
pub mod parse;
pub mod pushdown;
pub mod schema;
pub mod session;
pub mod table;

pub use arrow;
pub use datafusion;

pub use app::{
    AppDefinition, AppStatus, Applications, InputKind, OutputFormat, OutputKind, StartFrom,
};
pub use arrow_out::{records_schema, records_to_arrow};
pub use error::{Error, Result};
pub use schema::{ColumnDef, Inference, InputSchema, JsonPath, Mapping, RecordFormat, SqlType};
pub use session::{Analytics, AnalyticsOptions, QueryReader, QueryResult, QueryStream, TableInfo};
pub use table::{Rejected, ScanReport};
