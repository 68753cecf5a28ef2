//! Iterators, GetRecords and batches: the zero-copy read path.
//!
//! Invariants:
//! - An iterator handle holds the engine and the current token; `tidelog_get_records`
//!   replaces the token with the next one only when the read succeeds (a throttled or
//!   failed read leaves the iterator where it was). Calls on one iterator are
//!   serialized by its mutex.
//! - A batch holds the engine's `ReadBatch`, which holds reference-counted mappings of
//!   the segments its records are in: the pointers `tidelog_batch_record` lends point
//!   into those mappings and stay valid until the batch is freed, even after the
//!   engine is closed or the records expire. No record byte is copied.

use std::ffi::{CString, c_char};
use std::mem::size_of;
use std::sync::{Arc, Mutex};

use tidelog_core::engine::ChildShard;
use tidelog_core::error::Validation;
use tidelog_core::log::ReadBatch;
use tidelog_core::stream::sequence::parse_sequence_number;
use tidelog_core::{Engine, StartingPosition};

use crate::abi::*;
use crate::args::{self, Out, OutStruct};
use crate::boundary;
use crate::engine::engine;
use crate::handles::{Registry, kind};
use crate::lists::{self, c_string};
use crate::numbers::decimal;
use crate::status::{FfiError, FfiResult, tidelog_status};

/// What an iterator handle holds.
pub struct IteratorObject {
    engine: Engine,
    shard_id: String,
    /// The current token; `None` once the shard is closed and read to its end.
    token: Mutex<Option<String>>,
}

/// What a batch handle holds.
pub struct BatchObject {
    /// The shard the records come from ("" when unknown).
    pub shard_id: CString,
    /// The records (zero-copy).
    pub records: ReadBatch,
    /// How far behind the shard's newest record the batch ends, ms.
    pub millis_behind_latest: u64,
    /// Children of a closed shard read to its end.
    pub children: Vec<tidelog_child_shard>,
}

impl BatchObject {
    /// A batch from the engine's parts.
    pub fn new(
        shard_id: &str,
        records: ReadBatch,
        millis_behind_latest: u64,
        children: &[ChildShard],
    ) -> FfiResult<Self> {
        Ok(Self {
            shard_id: c_string(shard_id)?,
            records,
            millis_behind_latest,
            children: children
                .iter()
                .map(lists::child_shard)
                .collect::<FfiResult<Vec<_>>>()?,
        })
    }
}

/// Every live iterator.
pub static ITERATORS: Registry<IteratorObject> = Registry::new(kind::ITERATOR, "tidelog_iterator");
/// Every live batch.
pub static BATCHES: Registry<BatchObject> = Registry::new(kind::BATCH, "tidelog_batch");

/// A starting position from the C arguments: `sequence_number` is required by, and
/// only allowed with, the two sequence-number types.
pub fn position(
    iterator_type: u32,
    sequence_number: Option<&str>,
    timestamp_ms: u64,
) -> FfiResult<StartingPosition> {
    let seq = |make: fn(u128) -> StartingPosition| -> FfiResult<StartingPosition> {
        let text = sequence_number.ok_or_else(|| FfiError::null("sequence_number"))?;
        let seq = parse_sequence_number(text).ok_or_else(|| {
            FfiError::from(tidelog_core::Error::from(Validation::SequenceNumber(
                text.to_string(),
            )))
        })?;
        Ok(make(seq))
    };
    let no_seq = |position: StartingPosition| -> FfiResult<StartingPosition> {
        match sequence_number {
            Some(_) => Err(FfiError::new(
                tidelog_status::Validation,
                format!(
                    "sequence_number is only used with AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER, not {} (pass NULL)",
                    position.type_name()
                ),
            )),
            None => Ok(position),
        }
    };
    match iterator_type {
        t if t == tidelog_iterator_type::TrimHorizon as u32 => {
            no_seq(StartingPosition::TrimHorizon)
        }
        t if t == tidelog_iterator_type::Latest as u32 => no_seq(StartingPosition::Latest),
        t if t == tidelog_iterator_type::AtSequenceNumber as u32 => {
            seq(StartingPosition::AtSequenceNumber)
        }
        t if t == tidelog_iterator_type::AfterSequenceNumber as u32 => {
            seq(StartingPosition::AfterSequenceNumber)
        }
        t if t == tidelog_iterator_type::AtTimestamp as u32 => {
            no_seq(StartingPosition::AtTimestamp(timestamp_ms))
        }
        t => Err(FfiError::new(
            tidelog_status::InvalidEnumValue,
            format!("iterator_type = {t} is not a tidelog_iterator_type"),
        )),
    }
}

/// GetShardIterator: a new iterator on shard `shard_id` of `stream`, starting at
/// `iterator_type` (`tidelog_iterator_type`). `sequence_number` (decimal) is required
/// by, and only allowed with, AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER;
/// `timestamp_ms` (ms since the Unix epoch) is used only by AT_TIMESTAMP.
///
/// `iterator_out` receives the new handle (NULL on failure); the caller owns it
/// (`tidelog_iterator_free`). Like a Kinesis iterator it expires five minutes after it
/// was last advanced (EXPIRED_ITERATOR). Thread-safe.
///
/// # Safety
/// The strings are NULL or NUL-terminated (read during the call only);
/// `iterator_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_get_shard_iterator(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    shard_id: *const c_char,
    iterator_type: u32,
    sequence_number: *const c_char,
    timestamp_ms: u64,
    iterator_out: *mut *mut tidelog_iterator,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(iterator_out, "iterator_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let stream = unsafe { args::string(stream, "stream") }?;
            // SAFETY: contract: NULL or NUL-terminated.
            let shard_id = unsafe { args::string(shard_id, "shard_id") }?;
            // SAFETY: contract: NULL or NUL-terminated.
            let seq = unsafe { args::opt_string(sequence_number, "sequence_number") }?;
            let position = position(iterator_type, seq, timestamp_ms)?;
            let token = engine
                .engine
                .get_shard_iterator(stream, shard_id, position)?;
            ITERATORS.insert(IteratorObject {
                engine: engine.engine.clone(),
                shard_id: shard_id.to_string(),
                token: Mutex::new(Some(token)),
            })
        })
    })
}

/// An iterator from a token saved with `tidelog_iterator_token` (by this process or
/// another one using the same data directory). The token is checked when it is used:
/// a forged or foreign token gives INVALID_ARGUMENT, an old one EXPIRED_ITERATOR.
/// Batches read through it report an empty shard id. `iterator_out` receives the new
/// handle (NULL on failure). Thread-safe.
///
/// # Safety
/// `token` is NULL or NUL-terminated; `iterator_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_iterator_from_token(
    engine: *mut tidelog_engine,
    token: *const c_char,
    iterator_out: *mut *mut tidelog_iterator,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(iterator_out, "iterator_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let token = unsafe { args::string(token, "token") }?;
            ITERATORS.insert(IteratorObject {
                engine: engine.engine.clone(),
                shard_id: String::new(),
                token: Mutex::new(Some(token.to_string())),
            })
        })
    })
}

/// Copies the iterator's current token (106 characters + NUL) into `buf` of `buf_len`
/// bytes (`TIDELOG_ITERATOR_TOKEN_BUFFER_SIZE` suffices; less gives BUFFER_TOO_SMALL).
/// ITERATOR_ENDED once the shard was read to its end. Thread-safe.
///
/// # Safety
/// `buf` is NULL or valid for writes of `buf_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_iterator_token(
    iterator: *mut tidelog_iterator,
    buf: *mut c_char,
    buf_len: usize,
) -> tidelog_status {
    boundary::call(|| {
        let iterator = ITERATORS.get(iterator, "iterator")?;
        let token = lock(&iterator.token);
        let token = token.as_deref().ok_or_else(ended)?;
        let text = c_string(token)?;
        // SAFETY: contract: NULL or writable for `buf_len` bytes.
        unsafe { args::copy_to_buffer(&text, buf, buf_len, "buf") }
    })
}

/// Stores true in `*ended_out` once the iterator's shard is closed and was read to its
/// end (then `tidelog_get_records` returns ITERATOR_ENDED). Thread-safe.
///
/// # Safety
/// `ended_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_iterator_is_ended(
    iterator: *mut tidelog_iterator,
    ended_out: *mut bool,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(ended_out, "ended_out") }?;
        let iterator = ITERATORS.get(iterator, "iterator")?;
        out.write(lock(&iterator.token).is_none());
        Ok(())
    })
}

fn ended() -> FfiError {
    FfiError::new(
        tidelog_status::IteratorEnded,
        "the iterator has ended: its shard is closed and was read to its end (the last batch listed its children)",
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// GetRecords: reads up to `limit` records (1 to 10,000; 0 = the engine's maximum)
/// from the iterator's position, without copying them, and advances the iterator.
///
/// - `batch_out` receives a new batch (NULL on failure), possibly with no records; the
///   caller owns it (`tidelog_batch_free`).
/// - When the shard is closed and this read reached its end, the batch lists the
///   shard's children and the iterator ends (`tidelog_iterator_is_ended`).
/// - PROVISIONED_THROUGHPUT_EXCEEDED (the shard's read limits) and other failures
///   leave the iterator where it was.
///
/// Blocks only for the read itself (no waiting for new records: see subscriptions).
/// Calls on one iterator are serialized; different iterators read in parallel.
///
/// # Safety
/// `batch_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_get_records(
    iterator: *mut tidelog_iterator,
    limit: u32,
    batch_out: *mut *mut tidelog_batch,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(batch_out, "batch_out") }?;
        args::produce(out, || {
            let iterator = ITERATORS.get(iterator, "iterator")?;
            let mut token = lock(&iterator.token);
            let current = token.as_deref().ok_or_else(ended)?;
            let limit = (limit != 0).then_some(limit as usize);
            let output = iterator.engine.get_records(current, limit)?;
            let batch = BatchObject::new(
                &iterator.shard_id,
                output.records,
                output.millis_behind_latest,
                &output.child_shards,
            )?;
            let handle = BATCHES.insert(batch)?;
            *token = output.next_shard_iterator;
            Ok(handle)
        })
    })
}

/// Releases the iterator. NULL is a no-op; a freed handle gives INVALID_HANDLE.
///
/// # Safety
/// `iterator` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_iterator_free(iterator: *mut tidelog_iterator) -> tidelog_status {
    boundary::call(|| ITERATORS.free(iterator))
}

fn batch(handle: *const tidelog_batch) -> FfiResult<Arc<BatchObject>> {
    BATCHES.get(handle, "batch")
}

/// The number of records in the batch. Thread-safe.
///
/// # Safety
/// `count_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_batch_count(
    batch: *const tidelog_batch,
    count_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(count_out, "count_out") }?;
        out.write(self::batch(batch)?.records.len());
        Ok(())
    })
}

/// Fills `*record_out` (set its `struct_size` first) with record `index` (0 to
/// count - 1): its sequence number and arrival time, and pointers to its partition
/// key and data in the shard's memory mapping (zero-copy). The pointers stay valid
/// until `tidelog_batch_free(batch)`, also after the engine is closed; the bytes never
/// change. Thread-safe.
///
/// # Safety
/// `record_out` is NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_batch_record(
    batch: *const tidelog_batch,
    index: usize,
    record_out: *mut tidelog_record,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(record_out, "record_out") }?;
        let batch = self::batch(batch)?;
        let record = batch.records.get(index).ok_or_else(|| {
            FfiError::new(
                tidelog_status::OutOfRange,
                format!(
                    "index {index} is out of range: the batch has {} records",
                    batch.records.len()
                ),
            )
        })?;
        out.write(tidelog_record {
            struct_size: size_of::<tidelog_record>(),
            sequence_number: decimal(record.seq),
            approximate_arrival_timestamp_ms: record.timestamp_ms,
            partition_key: record.key.as_ptr(),
            partition_key_len: record.key.len(),
            data: record.data.as_ptr(),
            data_len: record.data.len(),
            encrypted: u32::from(record.is_encrypted()),
        });
        // The pointers stay valid after `batch` (this call's reference) drops: the
        // handle table holds the object, and with it the mappings, until the free.
        Ok(())
    })
}

/// Stores a pointer to the id of the shard the batch's records come from ("" for a
/// batch read through an iterator made by `tidelog_iterator_from_token`). Valid until
/// the batch is freed. Thread-safe.
///
/// # Safety
/// `shard_id_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_batch_shard_id(
    batch: *const tidelog_batch,
    shard_id_out: *mut *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(shard_id_out, "shard_id_out") }?;
        out.write(self::batch(batch)?.shard_id.as_ptr());
        Ok(())
    })
}

/// How far behind the shard's newest record this batch ends, ms (0 at the tip; always
/// 0 for subscription batches). Thread-safe.
///
/// # Safety
/// `millis_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_batch_millis_behind_latest(
    batch: *const tidelog_batch,
    millis_out: *mut u64,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(millis_out, "millis_out") }?;
        out.write(self::batch(batch)?.millis_behind_latest);
        Ok(())
    })
}

/// The number of child shards the batch lists (non-zero only when its shard is closed
/// and was read to its end). Thread-safe.
///
/// # Safety
/// `count_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_batch_child_shard_count(
    batch: *const tidelog_batch,
    count_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(count_out, "count_out") }?;
        out.write(self::batch(batch)?.children.len());
        Ok(())
    })
}

/// Copies child shard `index` into `*child_out` (set its `struct_size` first). The
/// struct holds no pointers. Thread-safe.
///
/// # Safety
/// `child_out` is NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_batch_child_shard(
    batch: *const tidelog_batch,
    index: usize,
    child_out: *mut tidelog_child_shard,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(child_out, "child_out") }?;
        let batch = self::batch(batch)?;
        out.write(*lists::index(&batch.children, index, "batch's child list")?);
        Ok(())
    })
}

/// Releases the batch; every pointer it lent becomes invalid. NULL is a no-op; a
/// freed handle gives INVALID_HANDLE. No other thread may use the batch (or its
/// pointers) after this begins.
///
/// # Safety
/// `batch` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_batch_free(batch: *mut tidelog_batch) -> tidelog_status {
    boundary::call(|| BATCHES.free(batch))
}
