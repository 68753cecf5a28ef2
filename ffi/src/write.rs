//! PutRecord and PutRecords.
//!
//! Invariants: the caller's key, data and options are read during the call only (the
//! engine copies what it appends); a put returns once the record is as durable as its
//! durability asks; PutRecords reports each entry on its own, in the caller's order.

use std::ffi::{CString, c_char};
use std::mem::size_of;

use tidelog_core::{PutOptions, PutRecordsEntry};

use crate::abi::*;
use crate::args::{self, InStruct, Out, OutStruct, SizedStruct, fixed};
use crate::boundary;
use crate::engine::{durability, engine};
use crate::handles::{Registry, kind};
use crate::lists::{self, c_string};
use crate::numbers::decimal;
use crate::status::{FfiResult, tidelog_status};

// SAFETY: #[repr(C)], struct_size first, only integers and raw pointers.
unsafe impl SizedStruct for tidelog_put_options {
    const MIN_SIZE: usize = size_of::<Self>();
}
impl InStruct for tidelog_put_options {}

// SAFETY: #[repr(C)], struct_size first, only integers and raw pointers.
unsafe impl SizedStruct for tidelog_put_records_entry {
    const MIN_SIZE: usize = size_of::<Self>();
}
impl InStruct for tidelog_put_records_entry {}

fn default_put_options() -> tidelog_put_options {
    tidelog_put_options {
        struct_size: size_of::<tidelog_put_options>(),
        explicit_hash_key: std::ptr::null(),
        sequence_number_for_ordering: std::ptr::null(),
        durability: tidelog_durability::Default as u32,
    }
}

fn default_entry() -> tidelog_put_records_entry {
    tidelog_put_records_entry {
        struct_size: size_of::<tidelog_put_records_entry>(),
        partition_key: std::ptr::null(),
        data: std::ptr::null(),
        data_len: 0,
        explicit_hash_key: std::ptr::null(),
    }
}

/// One entry's outcome, kept by the output handle.
struct EntryResult {
    status: tidelog_status,
    shard_id: [c_char; TIDELOG_SHARD_ID_BUFFER_SIZE],
    sequence_number: [c_char; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE],
    message: CString,
    encrypted: bool,
}

/// What a PutRecords output handle holds.
pub struct PutRecordsObject {
    failed: usize,
    results: Vec<EntryResult>,
}

/// Every live PutRecords output.
pub static PUT_RECORDS_OUTPUTS: Registry<PutRecordsObject> =
    Registry::new(kind::PUT_RECORDS_OUTPUT, "tidelog_put_records_output");

/// PutRecord: appends one record to the shard its partition key (MD5) or explicit hash
/// key routes to, and returns once it is as durable as asked.
///
/// - `partition_key`: NUL-terminated UTF-8, 1 to 256 characters.
/// - `data`, `data_len`: the record (NULL allowed when `data_len` is 0; at most
///   `TIDELOG_DATA_BYTES_MAX`, and with the key at most the engine's record size:
///   VALIDATION beyond).
/// - `options`: NULL for the defaults, or a `tidelog_put_options`.
/// - `output`: receives the shard id and sequence number (set its `struct_size`).
///
/// All inputs are read during the call only. Fails with PROVISIONED_THROUGHPUT_EXCEEDED
/// when the shard's write limits refuse it (nothing written), INVALID_ARGUMENT when
/// `sequence_number_for_ordering` cannot be honoured. Thread-safe: puts from many
/// threads run in parallel; puts to one shard are appended in the order they reach it.
/// Blocks until acknowledged (about a disk flush for SYNC, microseconds for OS).
///
/// # Safety
/// Strings NULL or NUL-terminated; `data` NULL or readable for `data_len` bytes;
/// `options` NULL or a readable struct of its `struct_size`; `output` NULL or a
/// writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_put_record(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    partition_key: *const c_char,
    data: *const u8,
    data_len: usize,
    options: *const tidelog_put_options,
    output: *mut tidelog_put_record_output,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(output, "output") }?;
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let key = unsafe { args::string(partition_key, "partition_key") }?;
        // SAFETY: contract: NULL (with 0) or `data_len` readable bytes.
        let data = unsafe { args::bytes(data, data_len, TIDELOG_DATA_BYTES_MAX, "data") }?;
        let options = if options.is_null() {
            default_put_options()
        } else {
            // SAFETY: contract: a readable struct of its struct_size.
            unsafe { args::read_struct(options, default_put_options(), "options") }?
        };
        // SAFETY: contract: the options' strings are NULL or NUL-terminated.
        let explicit_hash_key =
            unsafe { args::opt_string(options.explicit_hash_key, "options->explicit_hash_key") }?;
        // SAFETY: as above.
        let sequence_number_for_ordering = unsafe {
            args::opt_string(
                options.sequence_number_for_ordering,
                "options->sequence_number_for_ordering",
            )
        }?;
        let put = engine.engine.put_record(
            stream,
            key,
            data,
            PutOptions {
                explicit_hash_key,
                sequence_number_for_ordering,
                durability: durability(options.durability, "options->durability")?,
            },
        )?;
        out.write(tidelog_put_record_output {
            struct_size: size_of::<tidelog_put_record_output>(),
            shard_id: fixed(&put.shard_id)?,
            sequence_number: decimal(put.sequence_number),
            encrypted: u32::from(put.encrypted),
        });
        Ok(())
    })
}

/// PutRecords: up to 500 entries (the engine's `put_records_entries_max`) and 5 MiB
/// in one call; each entry succeeds or fails on its own (like Kinesis, a throttled
/// entry does not fail the others). Entries for one shard are appended in the order
/// given.
///
/// - `entries`: `entry_count` entries, all with the same `struct_size` (the array's
///   stride). An empty or oversized request is VALIDATION; more than
///   `TIDELOG_PUT_RECORDS_ENTRIES_MAX` entries is OUT_OF_RANGE. A malformed entry
///   (bad key, oversized record) fails the whole call with VALIDATION.
/// - `durability`: a `tidelog_durability` for every entry (DEFAULT = the engine's).
/// - `output_out`: receives the per-entry results (NULL on failure); the caller owns
///   it (`tidelog_put_records_output_free`).
///
/// Inputs are read during the call only. Thread-safe; blocks until acknowledged.
///
/// # Safety
/// `stream` NULL or NUL-terminated; `entries` NULL (only with 0) or `entry_count`
/// readable entries whose pointers meet `tidelog_put_record`'s rules; `output_out`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_put_records(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    entries: *const tidelog_put_records_entry,
    entry_count: usize,
    durability: u32,
    output_out: *mut *mut tidelog_put_records_output,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(output_out, "output_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let stream = unsafe { args::string(stream, "stream") }?;
            // SAFETY: contract: NULL (with 0) or `entry_count` readable entries.
            let raw = unsafe {
                args::read_struct_array(
                    entries,
                    entry_count,
                    TIDELOG_PUT_RECORDS_ENTRIES_MAX,
                    default_entry(),
                    "entries",
                )
            }?;
            let mut parsed = Vec::with_capacity(raw.len());
            for (i, e) in raw.iter().enumerate() {
                let name = |field: &str| format!("entries[{i}].{field}");
                parsed.push(PutRecordsEntry {
                    // SAFETY: contract: each entry's strings are NULL or NUL-terminated.
                    partition_key: unsafe {
                        args::string(e.partition_key, &name("partition_key"))
                    }?,
                    // SAFETY: contract: each entry's data is NULL (with 0) or readable.
                    data: unsafe {
                        args::bytes(e.data, e.data_len, TIDELOG_DATA_BYTES_MAX, &name("data"))
                    }?,
                    // SAFETY: contract: NULL or NUL-terminated.
                    explicit_hash_key: unsafe {
                        args::opt_string(e.explicit_hash_key, &name("explicit_hash_key"))
                    }?,
                });
            }
            let durability = self::durability(durability, "durability")?;
            let output = engine.engine.put_records(stream, &parsed, durability)?;
            let results = output
                .records
                .iter()
                .map(|r| match r {
                    Ok(put) => Ok(EntryResult {
                        status: tidelog_status::Ok,
                        shard_id: fixed(&put.shard_id)?,
                        sequence_number: decimal(put.sequence_number),
                        message: CString::default(),
                        encrypted: put.encrypted,
                    }),
                    Err(e) => Ok(EntryResult {
                        status: e.kind().into(),
                        shard_id: [0; TIDELOG_SHARD_ID_BUFFER_SIZE],
                        sequence_number: [0; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE],
                        message: c_string(&e.to_string().replace(['\n', '\0'], " "))?,
                        encrypted: false,
                    }),
                })
                .collect::<FfiResult<Vec<_>>>()?;
            PUT_RECORDS_OUTPUTS.insert(PutRecordsObject {
                failed: output.failed_record_count,
                results,
            })
        })
    })
}

/// The number of results (equal to the request's entry count). Thread-safe.
///
/// # Safety
/// `count_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_put_records_output_count(
    output: *const tidelog_put_records_output,
    count_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(count_out, "count_out") }?;
        out.write(PUT_RECORDS_OUTPUTS.get(output, "output")?.results.len());
        Ok(())
    })
}

/// The number of entries that failed (Kinesis FailedRecordCount). Thread-safe.
///
/// # Safety
/// `failed_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_put_records_output_failed_count(
    output: *const tidelog_put_records_output,
    failed_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(failed_out, "failed_out") }?;
        out.write(PUT_RECORDS_OUTPUTS.get(output, "output")?.failed);
        Ok(())
    })
}

/// Fills `*result_out` (set its `struct_size` first) with entry `index`'s result:
/// its status and, on success, shard id and sequence number; on failure a message
/// owned by the output (valid until `tidelog_put_records_output_free`). Thread-safe.
///
/// # Safety
/// `result_out` is NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_put_records_output_get(
    output: *const tidelog_put_records_output,
    index: usize,
    result_out: *mut tidelog_put_records_result,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(result_out, "result_out") }?;
        let output = PUT_RECORDS_OUTPUTS.get(output, "output")?;
        let r = lists::index(&output.results, index, "PutRecords output")?;
        out.write(tidelog_put_records_result {
            struct_size: size_of::<tidelog_put_records_result>(),
            status: r.status,
            shard_id: r.shard_id,
            sequence_number: r.sequence_number,
            error_message: r.message.as_ptr(),
            encrypted: u32::from(r.encrypted),
        });
        Ok(())
    })
}

/// Releases the output and its messages. NULL is a no-op; a freed handle gives
/// INVALID_HANDLE.
///
/// # Safety
/// `output` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_put_records_output_free(
    output: *mut tidelog_put_records_output,
) -> tidelog_status {
    boundary::call(|| PUT_RECORDS_OUTPUTS.free(output))
}
