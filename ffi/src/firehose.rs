//! Firehose delivery streams from C: open Firehose on an engine, create delivery
//! streams from AWS's CreateDeliveryStream request as JSON (one function, no struct per
//! destination), put records, flush, describe, delete, any other operation as JSON,
//! and transforms as C callbacks.
//!
//! Errors: each function returns a `tidelog_status` of the family of the failure
//! (InvalidArgumentException → `TIDELOG_STATUS_INVALID_ARGUMENT`,
//! ResourceNotFoundException → `TIDELOG_STATUS_RESOURCE_NOT_FOUND`,
//! ServiceUnavailableException → `TIDELOG_STATUS_PROVISIONED_THROUGHPUT_EXCEEDED`,
//! ConcurrentModificationException → `TIDELOG_STATUS_INVALID_ARGUMENT`...), and
//! `tidelog_firehose_last_error_code()` gives Firehose's exact exception name.
//!
//! Strings returned (`char **` outputs) are owned by the caller and freed with
//! `tidelog_firehose_string_free`.

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_void};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidelog_fh::api::{self, ApiError};
use tidelog_fh::{
    BucketStore, FirehoseConfig, IngestLimits, S3Connection, Transform, TransformInput,
    TransformResult, TransformedRecord,
};

use crate::abi::{TIDELOG_DATA_BYTES_MAX, TIDELOG_TIMEOUT_MS_MAX, tidelog_engine};
use crate::args::{self, Out};
use crate::boundary;
use crate::engine::engine;
use crate::handles::{Registry, kind};
use crate::status::{FfiError, FfiResult, tidelog_status};

/// An open Firehose: delivery streams on an engine. Thread-safe. From
/// `tidelog_firehose_open`; released by `tidelog_firehose_free`.
pub struct tidelog_firehose {
    _private: [u8; 0],
}

/// The answer a transform callback builds (with `tidelog_firehose_transform_emit`);
/// valid only during the callback.
pub struct tidelog_firehose_transform_output {
    _private: [u8; 0],
}

/// Bytes needed for a record id with its NUL.
pub const TIDELOG_FIREHOSE_RECORD_ID_BUFFER_SIZE: usize = 33;
/// Most records in one `tidelog_firehose_put_record_batch` (Firehose: 500).
pub const TIDELOG_FIREHOSE_BATCH_RECORDS_MAX: usize = 500;
/// A transformed record is delivered.
pub const TIDELOG_FIREHOSE_RESULT_OK: u32 = 0;
/// A transformed record is dropped (not an error).
pub const TIDELOG_FIREHOSE_RESULT_DROPPED: u32 = 1;
/// A transformed record failed: it goes to the error output.
pub const TIDELOG_FIREHOSE_RESULT_PROCESSING_FAILED: u32 = 2;

/// One record of `tidelog_firehose_put_record_batch`. Set `struct_size` to
/// `sizeof(tidelog_firehose_record)` (it is the array's stride).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct tidelog_firehose_record {
    /// `sizeof(tidelog_firehose_record)` as the caller compiled it.
    pub struct_size: usize,
    /// The data (may be NULL when `data_len` is 0).
    pub data: *const u8,
    /// Bytes of data (at most 1,024,000).
    pub data_len: usize,
}

// SAFETY: a `repr(C)` struct starting with `struct_size`, of integers and pointers
// only (every bit pattern is a valid value); published in this form first.
unsafe impl args::SizedStruct for tidelog_firehose_record {
    const MIN_SIZE: usize = std::mem::size_of::<Self>();
}
impl args::InStruct for tidelog_firehose_record {}

/// One record given to a transform callback. Everything points into memory owned by
/// tidelog, valid until the callback returns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tidelog_firehose_transform_record {
    /// `sizeof(tidelog_firehose_transform_record)` of this library.
    pub struct_size: usize,
    /// The id the answer must repeat (NUL-terminated).
    pub record_id: *const c_char,
    /// Arrival time, ms since the epoch.
    pub arrival_ms: u64,
    /// The data.
    pub data: *const u8,
    /// Bytes of data.
    pub data_len: usize,
}

/// A transform: gets `count` records and answers each one exactly once through
/// `tidelog_firehose_transform_emit(output, ...)`. Returns 0 on success; anything else
/// fails the invocation (it is retried, then its records go to the error output), as
/// does an answer with a missing, unknown or repeated record id. Called on a thread of
/// tidelog's (never two at once for one delivery stream, maybe at once for several):
/// `user_data` must be safe to use from any thread.
pub type tidelog_firehose_transform_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        records: *const tidelog_firehose_transform_record,
        count: usize,
        output: *mut tidelog_firehose_transform_output,
    ) -> i32,
>;

/// What a transform callback answered, collected by emit.
struct Answer {
    records: Mutex<Vec<TransformedRecord>>,
}

static FIREHOSES: Registry<tidelog_fh::Firehose> =
    Registry::new(kind::FIREHOSE, "tidelog_firehose");
static ANSWERS: Registry<Answer> =
    Registry::new(kind::FIREHOSE_ANSWER, "tidelog_firehose_transform_output");

thread_local! {
    static LAST_CODE: RefCell<CString> = RefCell::new(CString::default());
}

fn set_code(code: &str) {
    let text = CString::new(code).unwrap_or_default();
    let _ = LAST_CODE.try_with(|slot| *slot.borrow_mut() = text);
}

fn status_of(code: &str) -> tidelog_status {
    match code {
        "InvalidArgumentException"
        | "ConcurrentModificationException"
        | "InvalidKMSResourceException"
        | "InvalidSourceException"
        | "SerializationException"
        | "UnknownOperationException" => tidelog_status::InvalidArgument,
        "ResourceNotFoundException" => tidelog_status::ResourceNotFound,
        "ResourceInUseException" => tidelog_status::ResourceInUse,
        "LimitExceededException" => tidelog_status::LimitExceeded,
        "ServiceUnavailableException" => tidelog_status::ProvisionedThroughputExceeded,
        // The Kinesis channel operations' model errors.
        "ValidationException" => tidelog_status::Validation,
        _ => tidelog_status::Internal,
    }
}

fn api_err(e: ApiError) -> FfiError {
    set_code(e.code);
    FfiError::new(status_of(e.code), e.message)
}

fn fh_err(e: tidelog_fh::Error) -> FfiError {
    let status = match &e {
        tidelog_fh::Error::Engine(inner) => inner.kind().into(),
        tidelog_fh::Error::Closed => tidelog_status::Closed,
        tidelog_fh::Error::Io { .. } => tidelog_status::Io,
        tidelog_fh::Error::Corrupt { .. } => tidelog_status::Corruption,
        _ => status_of(e.firehose_name()),
    };
    set_code(e.firehose_name());
    FfiError::new(status, e.to_string())
}

pub(crate) fn firehose(handle: *const tidelog_firehose) -> FfiResult<Arc<tidelog_fh::Firehose>> {
    FIREHOSES.get(handle, "firehose")
}

fn new_c_string(text: String) -> FfiResult<*mut c_char> {
    CString::new(text)
        .map(CString::into_raw)
        .map_err(|_| FfiError::new(tidelog_status::Internal, "a NUL inside a returned string"))
}

fn store(v: &serde_json::Value, what: &str) -> FfiResult<BucketStore> {
    let bad = |m: String| FfiError::new(tidelog_status::InvalidArgument, m);
    let obj = v
        .as_object()
        .ok_or_else(|| bad(format!("{what} must be an object")))?;
    let s = |k: &str| {
        obj.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    match obj.get("type").and_then(serde_json::Value::as_str) {
        Some("directory") => Ok(BucketStore::Directory {
            root: s("root")
                .ok_or_else(|| bad(format!("{what}.root is required")))?
                .into(),
        }),
        Some("s3") => {
            let endpoint = s("endpoint");
            let mut c = S3Connection::local(endpoint.as_deref().unwrap_or(""), "", "");
            c.endpoint = endpoint;
            c.region = s("region").unwrap_or_else(|| "us-east-1".to_string());
            c.access_key_id = s("access_key_id");
            c.secret_access_key = s("secret_access_key");
            c.session_token = s("session_token");
            c.virtual_hosted_style = obj
                .get("virtual_hosted_style")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            Ok(BucketStore::S3(c))
        }
        other => Err(bad(format!(
            "{what}.type must be \"directory\" or \"s3\", not {other:?}"
        ))),
    }
}

fn options(json: Option<&str>) -> FfiResult<FirehoseConfig> {
    let mut config = FirehoseConfig::new();
    let Some(json) = json else { return Ok(config) };
    let bad = |m: String| FfiError::new(tidelog_status::InvalidArgument, m);
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| bad(format!("options_json: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("options_json must be an object".into()))?;
    for (key, value) in obj {
        match key.as_str() {
            "region" => {
                config.region = value
                    .as_str()
                    .ok_or_else(|| bad("region must be a string".into()))?
                    .to_string()
            }
            "account_id" => {
                config.account_id = value
                    .as_str()
                    .ok_or_else(|| bad("account_id must be a string".into()))?
                    .to_string()
            }
            "ingest_limits" => {
                config.ingest_limits = match value.as_str() {
                    Some("aws") => IngestLimits::aws(),
                    Some("unlimited") => IngestLimits::unlimited(),
                    _ => return Err(bad("ingest_limits must be \"aws\" or \"unlimited\"".into())),
                }
            }
            "tick_ms" => {
                config.tick = Duration::from_millis(
                    value
                        .as_u64()
                        .ok_or_else(|| bad("tick_ms must be a number".into()))?,
                )
            }
            "kinesis_poll_interval_ms" => {
                config.kinesis_poll_interval = Duration::from_millis(
                    value
                        .as_u64()
                        .ok_or_else(|| bad("kinesis_poll_interval_ms must be a number".into()))?,
                )
            }
            "buckets" => {
                let buckets = value
                    .as_object()
                    .ok_or_else(|| bad("buckets must be an object".into()))?;
                for (name, s) in buckets {
                    config
                        .buckets
                        .insert(name.clone(), store(s, &format!("buckets.{name}"))?);
                }
            }
            "default_store" => config.default_store = Some(store(value, "default_store")?),
            other => return Err(bad(format!("unknown option {other:?}"))),
        }
    }
    Ok(config)
}

/// Opens Firehose on `engine` (its delivery streams live in the engine's data
/// directory under `firehose/`; delivery resumes where it stopped). `options_json` is
/// NULL (defaults) or a JSON object with any of: `region`, `account_id` (shown in ARNs),
/// `ingest_limits` (`"aws"` default, or `"unlimited"`), `tick_ms`,
/// `kinesis_poll_interval_ms`, `buckets` (`{"name": {"type": "s3", "endpoint": ...,
/// "region": ..., "access_key_id": ..., "secret_access_key": ...}}` or `{"type":
/// "directory", "root": path}`), `default_store` (the same, for unlisted buckets;
/// default: directories under `<data_dir>/firehose/buckets`). One Firehose per engine
/// directory (RESOURCE_IN_USE otherwise). Free with `tidelog_firehose_free`.
///
/// # Safety
/// `options_json` is NULL or NUL-terminated; `firehose_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_firehose_open(
    engine: *mut tidelog_engine,
    options_json: *const c_char,
    firehose_out: *mut *mut tidelog_firehose,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(firehose_out, "firehose_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let json = unsafe { args::opt_string(options_json, "options_json") }?;
            let config = options(json)?;
            let fh = tidelog_fh::Firehose::open(&engine.engine, config).map_err(fh_err)?;
            FIREHOSES.insert(fh)
        })
    })
}

/// Stops delivery (each delivery stream saves its checkpoint; buffered records are
/// delivered after the next open) and frees the handle. NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn tidelog_firehose_free(firehose: *mut tidelog_firehose) {
    boundary::call_value((), || {
        if firehose.is_null() {
            return;
        }
        if let Ok(fh) = FIREHOSES.remove(firehose) {
            let _ = fh.close();
        }
    })
}

/// Frees a string a Firehose function returned. NULL is ignored.
///
/// # Safety
/// `text` is NULL or a string returned by a `tidelog_firehose_*` function, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_firehose_string_free(text: *mut c_char) {
    boundary::call_value((), || {
        if !text.is_null() {
            // SAFETY: contract: returned by CString::into_raw in this module, once.
            drop(unsafe { CString::from_raw(text) });
        }
    })
}

/// Firehose's exception name of this thread's last failed Firehose call
/// (`"InvalidArgumentException"`, `"ConcurrentModificationException"`...), or "" .
/// Valid until the thread's next failing Firehose call.
#[unsafe(no_mangle)]
pub extern "C" fn tidelog_firehose_last_error_code() -> *const c_char {
    boundary::call_value(c"".as_ptr(), || {
        LAST_CODE
            .try_with(|slot| slot.borrow().as_ptr())
            .unwrap_or(c"".as_ptr())
    })
}

/// Runs any Firehose operation (`"DescribeDeliveryStream"`, or with its wire prefix
/// `"Firehose_20150804.DescribeDeliveryStream"`) on a JSON request with AWS's shape
/// (blobs in base64) and returns AWS's JSON response in `*response_out` (free it with
/// `tidelog_firehose_string_free`).
///
/// # Safety
/// `operation` and `request_json` are NULL or NUL-terminated; `response_out` is NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_firehose_call(
    firehose: *mut tidelog_firehose,
    operation: *const c_char,
    request_json: *const c_char,
    response_out: *mut *mut c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(response_out, "response_out") }?;
        out.write(std::ptr::null_mut());
        let fh = self::firehose(firehose)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let operation = unsafe { args::string(operation, "operation") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let request = unsafe { args::string(request_json, "request_json") }?;
        let response = api::call_json(&fh, operation, request).map_err(api_err)?;
        out.write(new_c_string(response)?);
        Ok(())
    })
}

/// Creates a delivery stream from CreateDeliveryStream's request as JSON (AWS's shape:
/// `{"DeliveryStreamName": ..., "ExtendedS3DestinationConfiguration": {...}}`). Its ARN
/// goes to `*arn_out` if `arn_out` is not NULL (free it with
/// `tidelog_firehose_string_free`).
///
/// # Safety
/// `request_json` is NULL or NUL-terminated; `arn_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_firehose_create_delivery_stream(
    firehose: *mut tidelog_firehose,
    request_json: *const c_char,
    arn_out: *mut *mut c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::optional(arn_out) };
        if let Some(o) = &out {
            o.write(std::ptr::null_mut());
        }
        let fh = self::firehose(firehose)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let request = unsafe { args::string(request_json, "request_json") }?;
        let response = api::call_json(&fh, "CreateDeliveryStream", request).map_err(api_err)?;
        if let Some(o) = out {
            let v: serde_json::Value = serde_json::from_str(&response)
                .map_err(|e| FfiError::new(tidelog_status::Internal, e.to_string()))?;
            let arn = v["DeliveryStreamARN"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            o.write(new_c_string(arn)?);
        }
        Ok(())
    })
}

/// Deletes a delivery stream (undelivered records are discarded, as AWS does).
///
/// # Safety
/// `name` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_firehose_delete_delivery_stream(
    firehose: *mut tidelog_firehose,
    name: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        let fh = self::firehose(firehose)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        fh.delete_delivery_stream(name, false).map_err(fh_err)
    })
}

/// DescribeDeliveryStream: the `DeliveryStreamDescription` as JSON in `*json_out`
/// (free it with `tidelog_firehose_string_free`).
///
/// # Safety
/// `name` is NULL or NUL-terminated; `json_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_firehose_describe_delivery_stream(
    firehose: *mut tidelog_firehose,
    name: *const c_char,
    json_out: *mut *mut c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(json_out, "json_out") }?;
        out.write(std::ptr::null_mut());
        let fh = self::firehose(firehose)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        let record = fh.describe_delivery_stream(name).map_err(fh_err)?;
        out.write(new_c_string(
            api::description(&fh, &record, true).to_string(),
        )?);
        Ok(())
    })
}

/// PutRecord: one record (up to 1,024,000 bytes), durable under the engine's mode when
/// this returns. Its id goes to `record_id_out` if not NULL (a buffer of
/// `TIDELOG_FIREHOSE_RECORD_ID_BUFFER_SIZE` bytes).
///
/// # Safety
/// `name` is NULL or NUL-terminated; `data` is NULL (with 0) or `data_len` readable
/// bytes; `record_id_out` is NULL or `TIDELOG_FIREHOSE_RECORD_ID_BUFFER_SIZE` writable
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_firehose_put_record(
    firehose: *mut tidelog_firehose,
    name: *const c_char,
    data: *const u8,
    data_len: usize,
    record_id_out: *mut c_char,
) -> tidelog_status {
    boundary::call(|| {
        let fh = self::firehose(firehose)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        // SAFETY: contract: NULL (with 0) or readable.
        let data = unsafe { args::bytes(data, data_len, TIDELOG_DATA_BYTES_MAX, "data") }?;
        let out = fh.put_record(name, data).map_err(fh_err)?;
        if !record_id_out.is_null() {
            let id: [c_char; TIDELOG_FIREHOSE_RECORD_ID_BUFFER_SIZE] = args::fixed(&out.record_id)?;
            // SAFETY: contract: TIDELOG_FIREHOSE_RECORD_ID_BUFFER_SIZE writable bytes.
            unsafe { std::ptr::copy_nonoverlapping(id.as_ptr(), record_id_out, id.len()) };
        }
        Ok(())
    })
}

/// PutRecordBatch: 1 to 500 records, at most 4 MiB. `statuses_out`, if not NULL, gets
/// one status per record in request order (`TIDELOG_STATUS_OK`, or
/// `TIDELOG_STATUS_PROVISIONED_THROUGHPUT_EXCEEDED` for a record beyond the ingest
/// quota, which fails alone); `failed_out`, if not NULL, gets how many failed.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `records` is NULL (with 0) or `count` readable
/// records whose data is readable; `statuses_out` is NULL or `count` writable statuses;
/// `failed_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_firehose_put_record_batch(
    firehose: *mut tidelog_firehose,
    name: *const c_char,
    records: *const tidelog_firehose_record,
    count: usize,
    statuses_out: *mut tidelog_status,
    failed_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        let fh = self::firehose(firehose)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        let defaults = tidelog_firehose_record {
            struct_size: std::mem::size_of::<tidelog_firehose_record>(),
            data: std::ptr::null(),
            data_len: 0,
        };
        // SAFETY: contract: NULL (with 0) or `count` readable records.
        let raw = unsafe {
            args::read_struct_array(
                records,
                count,
                TIDELOG_FIREHOSE_BATCH_RECORDS_MAX,
                defaults,
                "records",
            )
        }?;
        let mut slices = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            // SAFETY: contract: each record's data is NULL (with 0) or readable.
            slices.push(unsafe {
                args::bytes(
                    r.data,
                    r.data_len,
                    TIDELOG_DATA_BYTES_MAX,
                    &format!("records[{i}].data"),
                )
            }?);
        }
        let out = fh.put_record_batch(name, &slices).map_err(fh_err)?;
        if !statuses_out.is_null() {
            for (i, r) in out.responses.iter().enumerate() {
                let status = match r {
                    Ok(_) => tidelog_status::Ok,
                    Err((code, _)) => status_of(code),
                };
                // SAFETY: contract: `count` writable statuses; i < count.
                unsafe { statuses_out.add(i).write(status) };
            }
        }
        if !failed_out.is_null() {
            // SAFETY: contract: writable.
            unsafe { failed_out.write(out.failed_put_count) };
        }
        Ok(())
    })
}

/// Delivers what a delivery stream (every one, for NULL) holds now, whatever its
/// buffering hints, and waits up to `timeout_ms` for the objects. A failed write is
/// reported (delivery keeps retrying in the background).
///
/// # Safety
/// `name` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_firehose_flush(
    firehose: *mut tidelog_firehose,
    name: *const c_char,
    timeout_ms: u64,
) -> tidelog_status {
    boundary::call(|| {
        let fh = self::firehose(firehose)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::opt_string(name, "name") }?;
        if timeout_ms > TIDELOG_TIMEOUT_MS_MAX {
            return Err(FfiError::new(
                tidelog_status::OutOfRange,
                format!("timeout_ms {timeout_ms} is above {TIDELOG_TIMEOUT_MS_MAX}"),
            ));
        }
        let timeout = Duration::from_millis(timeout_ms);
        match name {
            Some(n) => fh.flush(n, timeout),
            None => fh.flush_all(timeout),
        }
        .map_err(fh_err)
    })
}

/// The engine's metrics with Firehose's, in the OpenMetrics text format, in
/// `*text_out` (free it with `tidelog_firehose_string_free`).
///
/// # Safety
/// `text_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_firehose_metrics_openmetrics(
    firehose: *mut tidelog_firehose,
    text_out: *mut *mut c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(text_out, "text_out") }?;
        out.write(std::ptr::null_mut());
        let fh = self::firehose(firehose)?;
        out.write(new_c_string(fh.metrics_openmetrics().map_err(fh_err)?)?);
        Ok(())
    })
}

struct CTransform {
    callback: unsafe extern "C" fn(
        *mut c_void,
        *const tidelog_firehose_transform_record,
        usize,
        *mut tidelog_firehose_transform_output,
    ) -> i32,
    user_data: usize,
}

impl Transform for CTransform {
    fn transform(&self, input: &TransformInput) -> Result<Vec<TransformedRecord>, String> {
        let ids: Vec<CString> = input
            .records
            .iter()
            .map(|r| CString::new(r.record_id.clone()).unwrap_or_default())
            .collect();
        let records: Vec<tidelog_firehose_transform_record> = input
            .records
            .iter()
            .zip(&ids)
            .map(|(r, id)| tidelog_firehose_transform_record {
                struct_size: std::mem::size_of::<tidelog_firehose_transform_record>(),
                record_id: id.as_ptr(),
                arrival_ms: r.approximate_arrival_timestamp,
                data: r.data.as_ptr(),
                data_len: r.data.len(),
            })
            .collect();
        let answer = ANSWERS
            .insert::<tidelog_firehose_transform_output>(Answer {
                records: Mutex::new(Vec::new()),
            })
            .map_err(|e| e.message)?;
        // SAFETY: the registration's contract: `callback` is a function of this
        // signature that may be called from any thread with `user_data`; `records`
        // and the strings and data they point to live until it returns.
        let code = unsafe {
            (self.callback)(
                self.user_data as *mut c_void,
                records.as_ptr(),
                records.len(),
                answer,
            )
        };
        let collected = ANSWERS.remove(answer).map_err(|e| e.message)?;
        if code != 0 {
            return Err(format!("the transform callback returned {code}"));
        }
        let records =
            std::mem::take(&mut *collected.records.lock().unwrap_or_else(|p| p.into_inner()));
        Ok(records)
    }
}

/// Registers a C transform under a Lambda function name: delivery streams whose Lambda
/// processor's `LambdaArn` names `function` call it. An invocation that runs longer
/// than `timeout_ms` (on the engine's clock) fails; the callback's thread is then
/// abandoned (its answer ignored). Registering a name again replaces the callback.
///
/// # Safety
/// `function` is NULL or NUL-terminated; `callback` may be called from any thread,
/// with `user_data`, until the Firehose is freed or the name is registered again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_firehose_register_transform(
    firehose: *mut tidelog_firehose,
    function: *const c_char,
    callback: tidelog_firehose_transform_fn,
    user_data: *mut c_void,
    timeout_ms: u64,
) -> tidelog_status {
    boundary::call(|| {
        let fh = self::firehose(firehose)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let function = unsafe { args::string(function, "function") }?;
        let callback = callback.ok_or_else(|| FfiError::null("callback"))?;
        let transform = CTransform {
            callback,
            user_data: user_data as usize,
        };
        fh.register_transform(
            function,
            Arc::new(transform),
            Duration::from_millis(timeout_ms),
        )
        .map_err(fh_err)
    })
}

/// Answers one record of a transform invocation (call it from the callback only, once
/// per record): `result` is `TIDELOG_FIREHOSE_RESULT_OK` (with the new data),
/// `..._DROPPED` or `..._PROCESSING_FAILED`; `partition_keys_json` is NULL or a JSON
/// object of partition keys (`{"customer": "c42"}`) for `partitionKeyFromLambda`.
///
/// # Safety
/// `record_id` and `partition_keys_json` are NULL or NUL-terminated; `data` is NULL
/// (with 0) or `data_len` readable bytes (copied).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_firehose_transform_emit(
    output: *mut tidelog_firehose_transform_output,
    record_id: *const c_char,
    result: u32,
    data: *const u8,
    data_len: usize,
    partition_keys_json: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        let answer = ANSWERS.get(output, "output")?;
        // SAFETY: contract: NULL or NUL-terminated.
        let record_id = unsafe { args::string(record_id, "record_id") }?;
        // SAFETY: contract: NULL (with 0) or readable.
        let data = unsafe { args::bytes(data, data_len, TIDELOG_DATA_BYTES_MAX, "data") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let keys = unsafe { args::opt_string(partition_keys_json, "partition_keys_json") }?;
        let result = match result {
            TIDELOG_FIREHOSE_RESULT_OK => TransformResult::Ok,
            TIDELOG_FIREHOSE_RESULT_DROPPED => TransformResult::Dropped,
            TIDELOG_FIREHOSE_RESULT_PROCESSING_FAILED => TransformResult::ProcessingFailed,
            other => {
                return Err(FfiError::new(
                    tidelog_status::InvalidEnumValue,
                    format!("result {other} is not a TIDELOG_FIREHOSE_RESULT_ value"),
                ));
            }
        };
        let mut partition_keys = std::collections::BTreeMap::new();
        if let Some(keys) = keys {
            let v: serde_json::Value = serde_json::from_str(keys).map_err(|e| {
                FfiError::new(
                    tidelog_status::InvalidArgument,
                    format!("partition_keys_json: {e}"),
                )
            })?;
            let obj = v.as_object().ok_or_else(|| {
                FfiError::new(
                    tidelog_status::InvalidArgument,
                    "partition_keys_json must be an object",
                )
            })?;
            for (k, v) in obj {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(FfiError::new(
                            tidelog_status::InvalidArgument,
                            format!("partition key {k:?} is not a scalar"),
                        ));
                    }
                };
                partition_keys.insert(k.clone(), text);
            }
        }
        answer
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(TransformedRecord {
                record_id: record_id.to_string(),
                result,
                data: data.to_vec(),
                partition_keys,
            });
        Ok(())
    })
}
