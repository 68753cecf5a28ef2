//! Kinesis queues from C: CreateQueue, DeleteQueue, DescribeQueue, ListQueues,
//! UpdateQueue, receiving records and dead letters, and the receipt-handle batch
//! calls (acknowledge, visibility, restore), over `core/src/engine/queues.rs`.
//!
//! Invariants: queue lists, record lists and batch results are built completely
//! before their handle exists and never change; the strings and data a record list
//! or batch result lends live in it, valid until its `_free`. Converting a receive's
//! answer cannot fail once the engine has made its records in flight (every fixed
//! buffer is sized for what the engine writes).

use std::ffi::{CString, c_char};
use std::mem::size_of;
use std::time::Duration;

use tidelog_core::engine::{
    CreateQueueOptions, DeadLetterConfig, QueueAttributes, QueueBatchOutput, QueueDescription,
    QueueRecord, QueueStatus, QueueStreamFilter, ReceiveOptions, VisibilityEntry,
};
use tidelog_core::queue::QueueStart;

use crate::abi::*;
use crate::args::{self, Out, OutStruct, fixed};
use crate::boundary;
use crate::engine::engine;
use crate::handles::{Registry, kind};
use crate::lists::{self, c_string};
use crate::status::{FfiError, FfiResult, tidelog_status};

/// Every live queue list.
pub static QUEUE_LISTS: Registry<Vec<tidelog_queue>> =
    Registry::new(kind::QUEUE_LIST, "tidelog_queue_list");
/// Every live record list.
pub static QUEUE_RECORD_LISTS: Registry<RecordListObject> =
    Registry::new(kind::QUEUE_RECORD_LIST, "tidelog_queue_record_list");
/// Every live batch result.
pub static QUEUE_BATCH_RESULTS: Registry<BatchResultObject> =
    Registry::new(kind::QUEUE_BATCH_RESULT, "tidelog_queue_batch_result");

/// What a record list handle holds: the records and the bytes they point into.
pub struct RecordListObject {
    records: Vec<QueueRecord>,
    /// Each record's partition key with a NUL after it.
    keys: Vec<Vec<u8>>,
}

/// What a batch result handle holds.
pub struct BatchResultObject {
    /// (handle, status, message) per entry, in request order.
    entries: Vec<(CString, tidelog_status, CString)>,
}

/// The longest wait a receive accepts, ms (Kinesis: 20 s).
const WAIT_MS_MAX: u64 = 20_000;

fn queue(d: &QueueDescription) -> FfiResult<tidelog_queue> {
    Ok(tidelog_queue {
        struct_size: size_of::<tidelog_queue>(),
        name: fixed(&d.name)?,
        arn: fixed(&d.arn)?,
        status: match d.status {
            QueueStatus::Creating => tidelog_queue_status::Creating,
            QueueStatus::Active => tidelog_queue_status::Active,
            QueueStatus::Updating => tidelog_queue_status::Updating,
            QueueStatus::Deleting => tidelog_queue_status::Deleting,
        },
        created_ms: d.created_ms,
        stream_arn: fixed(&d.stream_arn)?,
        stream_created_ms: d.stream_created_ms,
        starting_position: match d.start {
            QueueStart::Latest => tidelog_queue_start::Latest,
            QueueStart::TrimHorizon => tidelog_queue_start::TrimHorizon,
            QueueStart::AtTimestamp(_) => tidelog_queue_start::AtTimestamp,
        } as u32,
        has_starting_timestamp: u8::from(d.start_timestamp_ms.is_some()),
        starting_timestamp_ms: d.start_timestamp_ms.unwrap_or(0),
        visibility_timeout_s: d.visibility_timeout_s,
        max_receive_count: match d.dead_letter {
            DeadLetterConfig::BuiltIn { max_receive_count } => max_receive_count,
            DeadLetterConfig::Disabled => 0,
        },
    })
}

/// A visibility timeout argument: -1 for the default (or unchanged), else 0 to
/// 43,200 (checked by the engine; a value past `u32` is OUT_OF_RANGE here).
fn visibility(value: i64, what: &str) -> FfiResult<Option<u32>> {
    match value {
        -1 => Ok(None),
        v => u32::try_from(v).map(Some).map_err(|_| {
            FfiError::new(
                tidelog_status::OutOfRange,
                format!("{what} = {v}: -1 (default) or 0 to 43200"),
            )
        }),
    }
}

/// A MaxReceiveCount argument: -1 for the default (or unchanged), 0 for dead-letter
/// handling off, else BUILT_IN with that count (1 to 1,000, checked by the engine).
fn dead_letter(value: i64) -> FfiResult<Option<DeadLetterConfig>> {
    match value {
        -1 => Ok(None),
        0 => Ok(Some(DeadLetterConfig::Disabled)),
        v => u32::try_from(v)
            .map(|max_receive_count| Some(DeadLetterConfig::BuiltIn { max_receive_count }))
            .map_err(|_| {
                FfiError::new(
                    tidelog_status::OutOfRange,
                    format!("max_receive_count = {v}: -1 (default), 0 (off) or 1 to 1000"),
                )
            }),
    }
}

fn start(kind: u32, timestamp_ms: u64) -> FfiResult<QueueStart> {
    match kind {
        k if k == tidelog_queue_start::Latest as u32 => Ok(QueueStart::Latest),
        k if k == tidelog_queue_start::TrimHorizon as u32 => Ok(QueueStart::TrimHorizon),
        k if k == tidelog_queue_start::AtTimestamp as u32 => {
            Ok(QueueStart::AtTimestamp(timestamp_ms))
        }
        k => Err(FfiError::new(
            tidelog_status::InvalidEnumValue,
            format!(
                "starting_position = {k} is not one of TIDELOG_QUEUE_START_LATEST, \
                 _TRIM_HORIZON, _AT_TIMESTAMP"
            ),
        )),
    }
}

/// CreateQueue: a queue named `name` on the ON_DEMAND stream of `stream_arn`, from
/// `starting_position` (`tidelog_queue_start`; `timestamp_ms` with AT_TIMESTAMP, else
/// ignored), with `visibility_timeout_s` (-1: 30) and `max_receive_count` (-1: 6; 0:
/// no dead letters) and tags (`tag_keys[i]` = `tag_values[i]`, at most 50); writes it
/// to `*queue_out` (CREATING, ACTIVE after the engine's `consumer_transition_ms`).
/// VALIDATION for a PROVISIONED stream or bad values, RESOURCE_IN_USE for a taken
/// name, LIMIT_EXCEEDED past the stream's consumer limit, RESOURCE_NOT_FOUND without
/// the stream.
///
/// # Safety
/// `name` and `stream_arn` are NULL or NUL-terminated; the tag arrays are NULL (only
/// with `tag_count` 0) or hold `tag_count` NUL-terminated strings; `queue_out` is NULL
/// or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tidelog_create_queue(
    engine: *mut tidelog_engine,
    name: *const c_char,
    stream_arn: *const c_char,
    starting_position: u32,
    timestamp_ms: u64,
    visibility_timeout_s: i64,
    max_receive_count: i64,
    tag_keys: *const *const c_char,
    tag_values: *const *const c_char,
    tag_count: usize,
    queue_out: *mut tidelog_queue,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(queue_out, "queue_out") }?;
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream_arn = unsafe { args::string(stream_arn, "stream_arn") }?;
        // SAFETY: contract: the tag arrays as documented.
        let tags = unsafe { crate::settings::tag_map(tag_keys, tag_values, tag_count) }?;
        let options = CreateQueueOptions {
            stream_arn: stream_arn.to_string(),
            start: start(starting_position, timestamp_ms)?,
            attributes: QueueAttributes {
                visibility_timeout_s: visibility(visibility_timeout_s, "visibility_timeout_s")?,
                dead_letter: dead_letter(max_receive_count)?,
            },
            tags,
        };
        let d = engine.engine.create_queue(name, options)?;
        out.write(queue(&d)?);
        Ok(())
    })
}

/// DeleteQueue: the queue delivers nothing more and its receipt handles stop working.
/// RESOURCE_NOT_FOUND if it is gone already.
///
/// # Safety
/// `queue_arn` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_delete_queue(
    engine: *mut tidelog_engine,
    queue_arn: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let arn = unsafe { args::string(queue_arn, "queue_arn") }?;
        Ok(engine.engine.delete_queue(arn)?)
    })
}

/// DescribeQueue: writes the queue to `*queue_out`.
///
/// # Safety
/// `queue_arn` is NULL or NUL-terminated; `queue_out` is NULL or a writable struct of
/// its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_describe_queue(
    engine: *mut tidelog_engine,
    queue_arn: *const c_char,
    queue_out: *mut tidelog_queue,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(queue_out, "queue_out") }?;
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let arn = unsafe { args::string(queue_arn, "queue_arn") }?;
        out.write(queue(&engine.engine.describe_queue(arn)?)?);
        Ok(())
    })
}

/// UpdateQueue: a new `visibility_timeout_s` (-1: unchanged) and/or
/// `max_receive_count` (-1: unchanged; 0: dead letters off); writes the queue to
/// `*queue_out`. RESOURCE_IN_USE unless the queue is ACTIVE.
///
/// # Safety
/// `queue_arn` is NULL or NUL-terminated; `queue_out` is NULL or a writable struct of
/// its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_update_queue(
    engine: *mut tidelog_engine,
    queue_arn: *const c_char,
    visibility_timeout_s: i64,
    max_receive_count: i64,
    queue_out: *mut tidelog_queue,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(queue_out, "queue_out") }?;
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let arn = unsafe { args::string(queue_arn, "queue_arn") }?;
        let attributes = QueueAttributes {
            visibility_timeout_s: visibility(visibility_timeout_s, "visibility_timeout_s")?,
            dead_letter: dead_letter(max_receive_count)?,
        };
        out.write(queue(&engine.engine.update_queue(arn, attributes)?)?);
        Ok(())
    })
}

/// ListQueues: up to `limit` (1 to 10,000; 0: 100) queues in name order after
/// `exclusive_start_name` (NULL: from the first), only those on the stream of
/// `stream_arn` if it is not NULL; the page goes to `*queues_out` (free with
/// `tidelog_queue_list_free`) and whether more follow to `*has_more_out`.
///
/// # Safety
/// `exclusive_start_name` and `stream_arn` are NULL or NUL-terminated; the outs are
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_list_queues(
    engine: *mut tidelog_engine,
    limit: u32,
    exclusive_start_name: *const c_char,
    stream_arn: *const c_char,
    queues_out: *mut *mut tidelog_queue_list,
    has_more_out: *mut bool,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(queues_out, "queues_out") }?;
        // SAFETY: contract: NULL or writable.
        let has_more = unsafe { Out::new(has_more_out, "has_more_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let start = unsafe { args::opt_string(exclusive_start_name, "exclusive_start_name") }?;
            // SAFETY: contract: NULL or NUL-terminated.
            let stream = unsafe { args::opt_string(stream_arn, "stream_arn") }?;
            let filters: Vec<QueueStreamFilter> = stream
                .map(|arn| QueueStreamFilter {
                    stream_arn: arn.to_string(),
                    stream_created_ms: None,
                })
                .into_iter()
                .collect();
            let limit = (limit != 0).then_some(limit as usize);
            let page = engine.engine.list_queues(limit, start, &filters)?;
            let items = page
                .queues
                .iter()
                .map(queue)
                .collect::<FfiResult<Vec<_>>>()?;
            let handle = QUEUE_LISTS.insert(items)?;
            has_more.write(page.has_more);
            Ok(handle)
        })
    })
}

/// How many queues the list holds.
///
/// # Safety
/// `count_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_queue_list_count(
    list: *const tidelog_queue_list,
    count_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(count_out, "count_out") }?;
        out.write(QUEUE_LISTS.get(list, "list")?.len());
        Ok(())
    })
}

/// Copies queue `index` of the list into `*queue_out` (OUT_OF_RANGE past the end).
///
/// # Safety
/// `queue_out` is NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_queue_list_get(
    list: *const tidelog_queue_list,
    index: usize,
    queue_out: *mut tidelog_queue,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(queue_out, "queue_out") }?;
        let list = QUEUE_LISTS.get(list, "list")?;
        out.write(*lists::index(&list, index, "queue list")?);
        Ok(())
    })
}

/// Releases a queue list. NULL is a no-op; a freed handle gives INVALID_HANDLE.
///
/// # Safety
/// None beyond the handle rules (any value is checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_queue_list_free(list: *mut tidelog_queue_list) -> tidelog_status {
    boundary::call(|| QUEUE_LISTS.free(list))
}

/// ReceiveQueueRecords and its dead-letter twin.
///
/// # Safety
/// `queue_arn` is NULL or NUL-terminated; `records_out` is NULL or writable.
unsafe fn receive(
    engine: *mut tidelog_engine,
    queue_arn: *const c_char,
    limit: u32,
    wait_ms: u64,
    visibility_timeout_s: i64,
    records_out: *mut *mut tidelog_queue_record_list,
    dead: bool,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: the caller's contract: NULL or writable.
        let out = unsafe { Out::new(records_out, "records_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: the caller's contract: NULL or NUL-terminated.
            let arn = unsafe { args::string(queue_arn, "queue_arn") }?;
            if wait_ms > WAIT_MS_MAX {
                return Err(FfiError::new(
                    tidelog_status::OutOfRange,
                    format!("wait_ms {wait_ms} is above 20,000"),
                ));
            }
            let options = ReceiveOptions {
                limit: (limit != 0).then_some(limit as usize),
                wait: Duration::from_millis(wait_ms),
                visibility_timeout_s: visibility(visibility_timeout_s, "visibility_timeout_s")?,
            };
            let records = if dead {
                engine
                    .engine
                    .receive_dead_letter_queue_records(arn, options)?
            } else {
                engine.engine.receive_queue_records(arn, options)?
            };
            let keys = records
                .iter()
                .map(|r| {
                    let mut key = r.partition_key.clone().into_bytes();
                    key.push(0);
                    key
                })
                .collect();
            QUEUE_RECORD_LISTS.insert(RecordListObject { records, keys })
        })
    })
}

/// ReceiveQueueRecords: up to `limit` (1 to 10; 0: 10) visible records, each in
/// flight for `visibility_timeout_s` (-1: the queue's) with a new receipt handle;
/// with none visible, waits up to `wait_ms` (at most 20,000) for one. The records go
/// to `*records_out` (possibly empty; free with `tidelog_queue_record_list_free`).
/// INVALID_ARGUMENT while the queue is CREATING, RESOURCE_NOT_FOUND once deleted.
///
/// # Safety
/// `queue_arn` is NULL or NUL-terminated; `records_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_receive_queue_records(
    engine: *mut tidelog_engine,
    queue_arn: *const c_char,
    limit: u32,
    wait_ms: u64,
    visibility_timeout_s: i64,
    records_out: *mut *mut tidelog_queue_record_list,
) -> tidelog_status {
    // SAFETY: this function's contract is `receive`'s.
    unsafe {
        receive(
            engine,
            queue_arn,
            limit,
            wait_ms,
            visibility_timeout_s,
            records_out,
            false,
        )
    }
}

/// ReceiveDeadLetterQueueRecords: as `tidelog_receive_queue_records`, for the queue's
/// dead letters (records received MaxReceiveCount times without an acknowledgement).
///
/// # Safety
/// `queue_arn` is NULL or NUL-terminated; `records_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_receive_dead_letter_queue_records(
    engine: *mut tidelog_engine,
    queue_arn: *const c_char,
    limit: u32,
    wait_ms: u64,
    visibility_timeout_s: i64,
    records_out: *mut *mut tidelog_queue_record_list,
) -> tidelog_status {
    // SAFETY: this function's contract is `receive`'s.
    unsafe {
        receive(
            engine,
            queue_arn,
            limit,
            wait_ms,
            visibility_timeout_s,
            records_out,
            true,
        )
    }
}

/// How many records the list holds.
///
/// # Safety
/// `count_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_queue_record_list_count(
    list: *const tidelog_queue_record_list,
    count_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(count_out, "count_out") }?;
        out.write(QUEUE_RECORD_LISTS.get(list, "list")?.records.len());
        Ok(())
    })
}

/// Copies record `index` into `*record_out` (OUT_OF_RANGE past the end); its
/// partition key and data point into the list, valid until its `_free`.
///
/// # Safety
/// `record_out` is NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_queue_record_list_get(
    list: *const tidelog_queue_record_list,
    index: usize,
    record_out: *mut tidelog_queue_record,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(record_out, "record_out") }?;
        let list = QUEUE_RECORD_LISTS.get(list, "list")?;
        let r = lists::index(&list.records, index, "record list")?;
        let key = lists::index(&list.keys, index, "record list")?;
        out.write(tidelog_queue_record {
            struct_size: size_of::<tidelog_queue_record>(),
            receipt_handle: fixed(&r.receipt_handle)?,
            record_id: fixed(&r.record_id)?,
            shard_id: fixed(&r.shard_id)?,
            partition_key: key.as_ptr().cast(),
            partition_key_len: key.len() - 1,
            data: if r.data.is_empty() {
                std::ptr::null()
            } else {
                r.data.as_ptr()
            },
            data_len: r.data.len(),
            arrival_ms: r.arrival_ms,
            first_receive_ms: r.first_receive_ms,
            receive_count: r.receive_count,
        });
        Ok(())
    })
}

/// Releases a record list and the bytes it lent. NULL is a no-op; a freed handle gives
/// INVALID_HANDLE.
///
/// # Safety
/// None beyond the handle rules (any value is checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_queue_record_list_free(
    list: *mut tidelog_queue_record_list,
) -> tidelog_status {
    boundary::call(|| QUEUE_RECORD_LISTS.free(list))
}

/// Which batch call.
#[derive(Clone, Copy)]
enum Batch {
    Acknowledge { dead: bool },
    Visibility { dead: bool },
    Restore,
}

/// Runs a batch call and stores its per-entry results.
///
/// # Safety
/// `handles` is NULL (with `count` 0) or holds `count` NUL-terminated strings;
/// `timeouts` is NULL or holds `count` values (required for visibility calls);
/// `result_out` is NULL or writable.
unsafe fn batch(
    engine: *mut tidelog_engine,
    queue_arn: *const c_char,
    handles: *const *const c_char,
    timeouts: *const u32,
    count: usize,
    result_out: *mut *mut tidelog_queue_batch_result,
    which: Batch,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: forwarded contract: NULL or writable.
        let out = unsafe { Out::new(result_out, "result_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: forwarded contract: NULL or NUL-terminated.
            let arn = unsafe { args::string(queue_arn, "queue_arn") }?;
            // SAFETY: forwarded contract: `count` NUL-terminated strings.
            let handles: Vec<String> = unsafe {
                args::string_array(handles, count, TIDELOG_QUEUE_ENTRIES_MAX, "handles")
            }?
            .into_iter()
            .map(str::to_string)
            .collect();
            let e = &engine.engine;
            let answer: QueueBatchOutput = match which {
                Batch::Acknowledge { dead: false } => e.acknowledge_queue_records(arn, &handles)?,
                Batch::Acknowledge { dead: true } => {
                    e.acknowledge_dead_letter_queue_records(arn, &handles)?
                }
                Batch::Restore => e.restore_dead_letter_queue_records(arn, &handles)?,
                Batch::Visibility { dead } => {
                    let seconds: &[u32] = if count == 0 {
                        &[]
                    } else if timeouts.is_null() {
                        return Err(FfiError::null("timeouts"));
                    } else {
                        // SAFETY: forwarded contract: `timeouts` holds `count` values
                        // (`count` is at most TIDELOG_QUEUE_ENTRIES_MAX, checked above).
                        unsafe { std::slice::from_raw_parts(timeouts, count) }
                    };
                    let entries: Vec<VisibilityEntry> = handles
                        .iter()
                        .zip(seconds)
                        .map(|(h, &s)| VisibilityEntry {
                            receipt_handle: h.clone(),
                            visibility_timeout_s: s,
                        })
                        .collect();
                    if dead {
                        e.update_dead_letter_queue_records_visibility(arn, &entries)?
                    } else {
                        e.update_queue_records_visibility(arn, &entries)?
                    }
                }
            };
            // Request order: each handle's outcome in turn (a handle given twice has
            // its outcomes in the order they were decided).
            let mut successful = answer.successful.into_iter().peekable();
            let mut failed = answer.failed.into_iter().peekable();
            let mut entries = Vec::with_capacity(handles.len());
            for h in &handles {
                let text = c_string(h)?;
                if successful.peek() == Some(h) {
                    successful.next();
                    entries.push((text, tidelog_status::Ok, CString::default()));
                } else if let Some(f) = failed.next_if(|f| &f.receipt_handle == h) {
                    let message = CString::new(f.message.replace('\0', " ")).unwrap_or_default();
                    entries.push((text, tidelog_status::from(f.kind), message));
                }
            }
            QUEUE_BATCH_RESULTS.insert(BatchResultObject { entries })
        })
    })
}

/// AcknowledgeQueueRecords: acknowledges the records of `handles` (`count`: 1 to 10),
/// so they are never delivered again; each entry's result goes to `*result_out` (free
/// with `tidelog_queue_batch_result_free`). VALIDATION for a count outside 1 to 10,
/// RESOURCE_NOT_FOUND for a deleted queue (no entry applied then).
///
/// # Safety
/// `queue_arn` is NULL or NUL-terminated; `handles` is NULL (with `count` 0) or holds
/// `count` NUL-terminated strings; `result_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_acknowledge_queue_records(
    engine: *mut tidelog_engine,
    queue_arn: *const c_char,
    handles: *const *const c_char,
    count: usize,
    result_out: *mut *mut tidelog_queue_batch_result,
) -> tidelog_status {
    let which = Batch::Acknowledge { dead: false };
    // SAFETY: this function's contract is `batch`'s (no timeouts).
    unsafe {
        batch(
            engine,
            queue_arn,
            handles,
            std::ptr::null(),
            count,
            result_out,
            which,
        )
    }
}

/// AcknowledgeDeadLetterQueueRecords: discards the dead letters of `handles`.
///
/// # Safety
/// As `tidelog_acknowledge_queue_records`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_acknowledge_dead_letter_queue_records(
    engine: *mut tidelog_engine,
    queue_arn: *const c_char,
    handles: *const *const c_char,
    count: usize,
    result_out: *mut *mut tidelog_queue_batch_result,
) -> tidelog_status {
    let which = Batch::Acknowledge { dead: true };
    // SAFETY: this function's contract is `batch`'s (no timeouts).
    unsafe {
        batch(
            engine,
            queue_arn,
            handles,
            std::ptr::null(),
            count,
            result_out,
            which,
        )
    }
}

/// RestoreDeadLetterQueueRecords: the dead letters of `handles` go back to the queue,
/// visible at once, their receive counts reset.
///
/// # Safety
/// As `tidelog_acknowledge_queue_records`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_restore_dead_letter_queue_records(
    engine: *mut tidelog_engine,
    queue_arn: *const c_char,
    handles: *const *const c_char,
    count: usize,
    result_out: *mut *mut tidelog_queue_batch_result,
) -> tidelog_status {
    // SAFETY: this function's contract is `batch`'s (no timeouts).
    unsafe {
        batch(
            engine,
            queue_arn,
            handles,
            std::ptr::null(),
            count,
            result_out,
            Batch::Restore,
        )
    }
}

/// UpdateQueueRecordsVisibility: record `handles[i]` stays in flight for
/// `timeouts_s[i]` seconds from now (0 to 43,200; 0: visible at once).
///
/// # Safety
/// As `tidelog_acknowledge_queue_records`; `timeouts_s` is NULL (with `count` 0) or
/// holds `count` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_update_queue_records_visibility(
    engine: *mut tidelog_engine,
    queue_arn: *const c_char,
    handles: *const *const c_char,
    timeouts_s: *const u32,
    count: usize,
    result_out: *mut *mut tidelog_queue_batch_result,
) -> tidelog_status {
    let which = Batch::Visibility { dead: false };
    // SAFETY: this function's contract is `batch`'s.
    unsafe {
        batch(
            engine, queue_arn, handles, timeouts_s, count, result_out, which,
        )
    }
}

/// UpdateDeadLetterQueueRecordsVisibility: as `tidelog_update_queue_records_visibility`,
/// for dead letters.
///
/// # Safety
/// As `tidelog_update_queue_records_visibility`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_update_dead_letter_queue_records_visibility(
    engine: *mut tidelog_engine,
    queue_arn: *const c_char,
    handles: *const *const c_char,
    timeouts_s: *const u32,
    count: usize,
    result_out: *mut *mut tidelog_queue_batch_result,
) -> tidelog_status {
    let which = Batch::Visibility { dead: true };
    // SAFETY: this function's contract is `batch`'s.
    unsafe {
        batch(
            engine, queue_arn, handles, timeouts_s, count, result_out, which,
        )
    }
}

/// How many entries the result holds (one per handle given, in order).
///
/// # Safety
/// `count_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_queue_batch_result_count(
    result: *const tidelog_queue_batch_result,
    count_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(count_out, "count_out") }?;
        out.write(QUEUE_BATCH_RESULTS.get(result, "result")?.entries.len());
        Ok(())
    })
}

/// Copies entry `index` of the result into `*entry_out` (OUT_OF_RANGE past the end);
/// its strings point into the result, valid until its `_free`.
///
/// # Safety
/// `entry_out` is NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_queue_batch_result_get(
    result: *const tidelog_queue_batch_result,
    index: usize,
    entry_out: *mut tidelog_queue_entry_result,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(entry_out, "entry_out") }?;
        let result = QUEUE_BATCH_RESULTS.get(result, "result")?;
        let (handle, status, message) = lists::index(&result.entries, index, "batch result")?;
        out.write(tidelog_queue_entry_result {
            struct_size: size_of::<tidelog_queue_entry_result>(),
            receipt_handle: handle.as_ptr(),
            status: *status as u32,
            message: message.as_ptr(),
        });
        Ok(())
    })
}

/// Releases a batch result and its strings. NULL is a no-op; a freed handle gives
/// INVALID_HANDLE.
///
/// # Safety
/// None beyond the handle rules (any value is checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_queue_batch_result_free(
    result: *mut tidelog_queue_batch_result,
) -> tidelog_status {
    boundary::call(|| QUEUE_BATCH_RESULTS.free(result))
}
