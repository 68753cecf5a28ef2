//! SQL over streams from C (tidelog-analytics on DataFusion), with results handed out
//! through the Arrow C Stream Interface (`struct ArrowArrayStream`, declared in the
//! header with Arrow's standard guards).
//!
//! Invariants:
//! - A session handle holds an `Analytics` session (its own query threads); any number
//!   of threads may use one session.
//! - On success an `ArrowArrayStream` out-argument is filled with a stream the caller
//!   owns and must release (`stream->release(stream)`); on failure it is left
//!   untouched. A stream's arrays stay valid after the session, the batch or the
//!   engine is freed (they own their buffers; a batch's payloads keep its segments
//!   mapped).
//! - Built without the cargo feature `analytics` (for a library without DataFusion),
//!   every function here exists and returns `TIDELOG_STATUS_UNSUPPORTED`.

use std::ffi::c_char;

use crate::abi::*;
use crate::args::{self, Out};
use crate::boundary;
use crate::status::tidelog_status;

/// The largest SQL text or schema accepted, bytes before the NUL (1 MiB).
pub const TIDELOG_SQL_BYTES_MAX: usize = 1 << 20;

/// Opens a SQL session over `engine` with `threads` query threads (0 = one per CPU).
/// `session_out` receives the handle (NULL on failure); free it with
/// `tidelog_sql_session_free`. The session keeps the engine running until freed.
///
/// # Safety
/// `session_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_sql_session_open(
    engine: *mut tidelog_engine,
    threads: u32,
    session_out: *mut *mut tidelog_sql_session,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(session_out, "session_out") }?;
        args::produce(out, || imp::open(engine, threads))
    })
}

/// Releases a session. NULL is a no-op; a freed handle gives INVALID_HANDLE.
///
/// # Safety
/// `session` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_sql_session_free(
    session: *mut tidelog_sql_session,
) -> tidelog_status {
    boundary::call(|| imp::free(session))
}

/// Registers stream `stream` as table `table` (and its error table `<table>_errors`)
/// with an input schema in Kinesis Data Analytics' JSON form:
/// `{"RecordFormat": {"RecordFormatType": "JSON"}, "RecordColumns": [{"Name": "id",
/// "SqlType": "BIGINT", "Mapping": "$.id"}, ...]}` (CSV: `"RecordFormatType": "CSV"`
/// and field numbers as mappings). SCHEMA for a bad schema, RESOURCE_IN_USE for a name
/// taken, RESOURCE_NOT_FOUND for a missing stream.
///
/// # Safety
/// The strings are NULL or NUL-terminated (read during the call only).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_sql_register_stream(
    session: *mut tidelog_sql_session,
    table: *const c_char,
    stream: *const c_char,
    schema_json: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or NUL-terminated.
        let table = unsafe { args::string(table, "table") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let schema =
            unsafe { args::long_string(schema_json, TIDELOG_SQL_BYTES_MAX, "schema_json") }?;
        imp::register(session, table, stream, schema)
    })
}

/// Removes table `table` and its error table. RESOURCE_NOT_FOUND if it is not
/// registered.
///
/// # Safety
/// `table` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_sql_deregister(
    session: *mut tidelog_sql_session,
    table: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or NUL-terminated.
        let table = unsafe { args::string(table, "table") }?;
        imp::deregister(session, table)
    })
}

/// Proposes an input schema for `stream` from up to `sample` records (1 to 100,000)
/// and copies it, as the JSON `tidelog_sql_register_stream` takes, into `buf` of
/// `buf_len` bytes (BUFFER_TOO_SMALL names the size needed).
///
/// # Safety
/// `stream` is NULL or NUL-terminated; `buf` is NULL or writable for `buf_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_sql_infer_schema(
    session: *mut tidelog_sql_session,
    stream: *const c_char,
    sample: u32,
    buf: *mut c_char,
    buf_len: usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        let text = imp::infer(session, stream, sample)?;
        // SAFETY: contract: NULL or writable for `buf_len` bytes.
        unsafe { args::copy_to_buffer(&text, buf, buf_len, "buf") }
    })
}

/// Runs `query` (DataFusion's SQL) to completion and fills `*stream_out` with its
/// result as an Arrow C stream the caller owns (call `stream_out->release` when done).
/// `rejected_out` (may be NULL) receives how many records the scans could not decode
/// (they are listed by the `<table>_errors` tables). SQL for bad SQL (the message names
/// the line and column of a syntax error).
///
/// # Safety
/// `query` is NULL or NUL-terminated (up to 1 MiB); `stream_out` is NULL or a writable
/// `struct ArrowArrayStream`; `rejected_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_sql_query(
    session: *mut tidelog_sql_session,
    query: *const c_char,
    rejected_out: *mut u64,
    stream_out: *mut ArrowArrayStream,
) -> tidelog_status {
    boundary::call(|| {
        if stream_out.is_null() {
            return Err(crate::status::FfiError::null("stream_out"));
        }
        // SAFETY: contract: NULL or writable.
        let rejected = unsafe { Out::optional(rejected_out) };
        // SAFETY: contract: NULL or NUL-terminated.
        let query = unsafe { args::long_string(query, TIDELOG_SQL_BYTES_MAX, "query") }?;
        let (rejected_count, stream) = imp::query(session, query)?;
        if let Some(out) = rejected {
            out.write(rejected_count);
        }
        // SAFETY: contract: `stream_out` is a writable `struct ArrowArrayStream` (checked
        // non-NULL above); `imp::Stream` has its layout.
        unsafe { imp::write_stream(stream_out, stream) };
        Ok(())
    })
}

/// Fills `*stream_out` with the batch's records as one Arrow record batch: `shard_id`
/// (utf8), `sequence_number` (decimal128(38,0)), `partition_key` (utf8),
/// `approximate_arrival_time` (timestamp ms, UTC) and `data` (binary_view whose
/// buffers are the shard's mapped segments: no payload is copied). The caller owns the
/// stream (`stream_out->release`); its arrays stay valid after the batch is freed.
///
/// # Safety
/// `stream_out` is NULL or a writable `struct ArrowArrayStream`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_batch_to_arrow(
    batch: *const tidelog_batch,
    stream_out: *mut ArrowArrayStream,
) -> tidelog_status {
    boundary::call(|| {
        if stream_out.is_null() {
            return Err(crate::status::FfiError::null("stream_out"));
        }
        let stream = imp::batch_stream(batch)?;
        // SAFETY: contract: a writable `struct ArrowArrayStream` (checked non-NULL).
        unsafe { imp::write_stream(stream_out, stream) };
        Ok(())
    })
}

#[cfg(feature = "analytics")]
mod imp {
    use std::ffi::CString;

    use tidelog_analytics::arrow::ffi_stream::FFI_ArrowArrayStream;
    use tidelog_analytics::arrow::record_batch::RecordBatchIterator;
    use tidelog_analytics::{Analytics, AnalyticsOptions, Error as AError, InputSchema};

    use crate::abi::*;
    use crate::engine::engine;
    use crate::handles::{Registry, kind};
    use crate::read::BATCHES;
    use crate::status::{FfiError, FfiResult, tidelog_status};

    /// What a session handle holds.
    pub struct SessionObject {
        analytics: Analytics,
    }

    /// Every live session.
    pub static SESSIONS: Registry<SessionObject> =
        Registry::new(kind::SQL_SESSION, "tidelog_sql_session");

    /// An Arrow C stream ready to hand out.
    pub type Stream = FFI_ArrowArrayStream;

    fn err(e: AError) -> FfiError {
        let status = match &e {
            AError::Sql(_) => tidelog_status::Sql,
            AError::Schema(_) => tidelog_status::Schema,
            AError::Invalid(_) => tidelog_status::Validation,
            AError::NotFound(_) => tidelog_status::ResourceNotFound,
            AError::Exists(_) => tidelog_status::ResourceInUse,
            AError::State(_) => tidelog_status::InvalidArgument,
            AError::Engine(inner) => inner.kind().into(),
            AError::Io { .. } => tidelog_status::Io,
            AError::Closed => tidelog_status::Closed,
        };
        FfiError::new(status, e.to_string())
    }

    pub fn open(
        engine_handle: *mut tidelog_engine,
        threads: u32,
    ) -> FfiResult<*mut tidelog_sql_session> {
        let engine = engine(engine_handle)?;
        let analytics = Analytics::with_options(
            &engine.engine,
            AnalyticsOptions {
                threads: (threads != 0).then_some(threads as usize),
                ..Default::default()
            },
        )
        .map_err(err)?;
        SESSIONS.insert(SessionObject { analytics })
    }

    pub fn free(session: *mut tidelog_sql_session) -> FfiResult<()> {
        SESSIONS.free(session)
    }

    pub fn register(
        session: *mut tidelog_sql_session,
        table: &str,
        stream: &str,
        schema: &str,
    ) -> FfiResult<()> {
        let session = SESSIONS.get(session, "session")?;
        let schema = InputSchema::from_json(schema).map_err(err)?;
        session
            .analytics
            .register_stream(table, stream, schema)
            .map_err(err)
    }

    pub fn deregister(session: *mut tidelog_sql_session, table: &str) -> FfiResult<()> {
        let session = SESSIONS.get(session, "session")?;
        session.analytics.deregister(table).map_err(err)
    }

    pub fn infer(
        session: *mut tidelog_sql_session,
        stream: &str,
        sample: u32,
    ) -> FfiResult<CString> {
        let session = SESSIONS.get(session, "session")?;
        let inference = session
            .analytics
            .infer_schema(stream, sample as usize)
            .map_err(err)?;
        crate::lists::c_string(&inference.schema.to_json())
    }

    pub fn query(session: *mut tidelog_sql_session, query: &str) -> FfiResult<(u64, Stream)> {
        let session = SESSIONS.get(session, "session")?;
        let result = session.analytics.sql(query).map_err(err)?;
        let rejected = result.rejected();
        Ok((
            rejected,
            FFI_ArrowArrayStream::new(Box::new(result.into_reader())),
        ))
    }

    pub fn batch_stream(batch: *const tidelog_batch) -> FfiResult<Stream> {
        let batch = BATCHES.get(batch, "batch")?;
        let shard_id = batch.shard_id.to_str().unwrap_or_default();
        let arrow = tidelog_analytics::records_to_arrow(&batch.records, shard_id).map_err(err)?;
        let schema = arrow.schema();
        let reader = RecordBatchIterator::new(std::iter::once(Ok(arrow)), schema);
        Ok(FFI_ArrowArrayStream::new(Box::new(reader)))
    }

    /// Moves `stream` into the caller's struct.
    ///
    /// # Safety
    /// `out` is non-NULL and valid for a write of a `struct ArrowArrayStream`.
    pub unsafe fn write_stream(out: *mut ArrowArrayStream, stream: Stream) {
        // SAFETY: `FFI_ArrowArrayStream` is arrow's `#[repr(C)]` definition of the Arrow
        // C stream struct, which `ArrowArrayStream` names on the C side; `out` is
        // writable for it by this function's contract. `write` does not read or drop
        // what the caller left there (an uninitialized struct is fine).
        unsafe { out.cast::<FFI_ArrowArrayStream>().write(stream) }
    }
}

#[cfg(not(feature = "analytics"))]
mod imp {
    use std::ffi::CString;

    use crate::abi::*;
    use crate::status::{FfiError, FfiResult, tidelog_status};

    /// Nothing: the calls fail before a stream exists.
    pub enum Stream {}

    fn unsupported() -> FfiError {
        FfiError::new(
            tidelog_status::Unsupported,
            "this libtidelog was built without SQL (cargo feature `analytics` of tidelog-ffi)",
        )
    }

    pub fn open(_: *mut tidelog_engine, _: u32) -> FfiResult<*mut tidelog_sql_session> {
        Err(unsupported())
    }
    pub fn free(session: *mut tidelog_sql_session) -> FfiResult<()> {
        if session.is_null() {
            Ok(())
        } else {
            Err(unsupported())
        }
    }
    pub fn register(_: *mut tidelog_sql_session, _: &str, _: &str, _: &str) -> FfiResult<()> {
        Err(unsupported())
    }
    pub fn deregister(_: *mut tidelog_sql_session, _: &str) -> FfiResult<()> {
        Err(unsupported())
    }
    pub fn infer(_: *mut tidelog_sql_session, _: &str, _: u32) -> FfiResult<CString> {
        Err(unsupported())
    }
    pub fn query(_: *mut tidelog_sql_session, _: &str) -> FfiResult<(u64, Stream)> {
        Err(unsupported())
    }
    pub fn batch_stream(_: *const tidelog_batch) -> FfiResult<Stream> {
        Err(unsupported())
    }
    /// # Safety
    /// Never called with a value (`Stream` has none).
    pub unsafe fn write_stream(_: *mut ArrowArrayStream, stream: Stream) {
        match stream {}
    }
}
