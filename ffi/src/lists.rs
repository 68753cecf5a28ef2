//! Result lists: shards, strings, tags and metrics snapshots, each an immutable handle
//! with `_count`, `_get` and `_free`, and the conversions from the engine's types.
//!
//! Invariants: a list is built completely before its handle exists and never changes,
//! so reading one from several threads at once is safe; strings it lends stay valid
//! until its `_free`.

use std::ffi::{CString, c_char};
use std::mem::size_of;

use tidelog_core::engine::{ChildShard, ShardDescription};
use tidelog_core::stream::catalog::{ShardState, StreamStatus};
use tidelog_core::stream::metrics::ShardMetrics;

use crate::abi::*;
use crate::args::{Out, OutStruct, SizedStruct, fixed};
use crate::boundary;
use crate::handles::{Registry, kind};
use crate::numbers::decimal;
use crate::status::{FfiError, FfiResult, tidelog_status};

/// Every live shard list.
pub static SHARD_LISTS: Registry<Vec<tidelog_shard>> =
    Registry::new(kind::SHARD_LIST, "tidelog_shard_list");
/// Every live string list.
pub static STRING_LISTS: Registry<Vec<CString>> =
    Registry::new(kind::STRING_LIST, "tidelog_string_list");
/// Every live tag list.
pub static TAG_LISTS: Registry<Vec<(CString, CString)>> =
    Registry::new(kind::TAG_LIST, "tidelog_tag_list");
/// Every live metrics list.
pub static METRICS_LISTS: Registry<Vec<tidelog_shard_metrics>> =
    Registry::new(kind::METRICS_LIST, "tidelog_metrics_list");
/// Every live consumer list.
pub static CONSUMER_LISTS: Registry<Vec<tidelog_consumer>> =
    Registry::new(kind::CONSUMER_LIST, "tidelog_consumer_list");

macro_rules! output_struct {
    ($($t:ty),*) => {$(
        // SAFETY: #[repr(C)] with `struct_size: usize` first (see abi.rs); tidelog
        // only writes these, so no bit-pattern requirement applies.
        unsafe impl SizedStruct for $t {
            const MIN_SIZE: usize = size_of::<$t>();
        }
    )*};
}

output_struct!(
    tidelog_shard,
    tidelog_child_shard,
    tidelog_shard_metrics,
    tidelog_subscription_event,
    tidelog_consumer,
    tidelog_queue,
    tidelog_queue_record,
    tidelog_queue_entry_result,
    tidelog_limits_info,
    tidelog_account_settings,
    tidelog_shard_event
);

/// Output structs that grew: their first published size is where the fields added
/// later begin, so callers built against the older header keep working.
macro_rules! grown_output_struct {
    ($($t:ty => $first_new_field:ident),*) => {$(
        // SAFETY: #[repr(C)] with `struct_size: usize` first (see abi.rs); tidelog
        // only writes these, so no bit-pattern requirement applies.
        unsafe impl SizedStruct for $t {
            const MIN_SIZE: usize = std::mem::offset_of!($t, $first_new_field);
        }
    )*};
}

grown_output_struct!(
    tidelog_stream_info => mode,
    tidelog_record => encrypted,
    tidelog_put_record_output => encrypted,
    tidelog_put_records_result => encrypted
);

/// An index check for `_get` accessors.
pub fn index<'a, T>(items: &'a [T], index: usize, what: &str) -> FfiResult<&'a T> {
    items.get(index).ok_or_else(|| {
        FfiError::new(
            tidelog_status::OutOfRange,
            format!(
                "index {index} is out of range: the {what} has {}",
                items.len()
            ),
        )
    })
}

/// A NUL-free copy of engine text as a C string.
pub fn c_string(text: &str) -> FfiResult<CString> {
    CString::new(text).map_err(|_| {
        FfiError::new(
            tidelog_status::Internal,
            format!("{text:?} contains a NUL byte"),
        )
    })
}

/// The ABI form of a shard state.
pub fn shard_state(state: ShardState) -> tidelog_shard_state {
    match state {
        ShardState::Open => tidelog_shard_state::Open,
        ShardState::Closed => tidelog_shard_state::Closed,
        ShardState::Expired => tidelog_shard_state::Expired,
    }
}

/// The ABI form of a stream status.
pub fn stream_status(status: StreamStatus) -> tidelog_stream_status {
    match status {
        StreamStatus::Creating => tidelog_stream_status::Creating,
        StreamStatus::Active => tidelog_stream_status::Active,
        StreamStatus::Updating => tidelog_stream_status::Updating,
        StreamStatus::Deleting => tidelog_stream_status::Deleting,
    }
}

/// The ABI form of a shard description.
pub fn shard(d: &ShardDescription) -> FfiResult<tidelog_shard> {
    Ok(tidelog_shard {
        struct_size: size_of::<tidelog_shard>(),
        shard_id: fixed(&d.shard_id)?,
        parent_shard_id: fixed(d.parent_shard_id.as_deref().unwrap_or(""))?,
        adjacent_parent_shard_id: fixed(d.adjacent_parent_shard_id.as_deref().unwrap_or(""))?,
        starting_hash_key: decimal(d.hash_range.start),
        ending_hash_key: decimal(d.hash_range.end),
        starting_sequence_number: decimal(d.starting_sequence_number),
        ending_sequence_number: match d.ending_sequence_number {
            Some(seq) => decimal(seq),
            None => [0; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE],
        },
        state: shard_state(d.state),
        core: u32::from(d.core),
    })
}

/// The ABI form of a child shard.
pub fn child_shard(c: &ChildShard) -> FfiResult<tidelog_child_shard> {
    let parent = |i: usize| c.parent_shards.get(i).map_or("", String::as_str);
    Ok(tidelog_child_shard {
        struct_size: size_of::<tidelog_child_shard>(),
        shard_id: fixed(&c.shard_id)?,
        parent_shard_id: fixed(parent(0))?,
        adjacent_parent_shard_id: fixed(parent(1))?,
        starting_hash_key: decimal(c.hash_range.start),
        ending_hash_key: decimal(c.hash_range.end),
    })
}

/// The ABI form of a metrics snapshot.
pub fn metrics(m: &ShardMetrics) -> FfiResult<tidelog_shard_metrics> {
    Ok(tidelog_shard_metrics {
        struct_size: size_of::<tidelog_shard_metrics>(),
        stream: fixed(&m.stream)?,
        shard_id: fixed(&m.shard_id)?,
        incoming_bytes: m.incoming_bytes,
        incoming_records: m.incoming_records,
        outgoing_bytes: m.outgoing_bytes,
        outgoing_records: m.outgoing_records,
        get_records_calls: m.get_records_calls,
        write_throttled: m.write_throttled,
        read_throttled: m.read_throttled,
        iterator_age_ms: m.iterator_age_ms,
    })
}

/// The number of shards in the list. Thread-safe.
///
/// # Safety
/// `count_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_shard_list_count(
    list: *const tidelog_shard_list,
    count_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(count_out, "count_out") }?;
        out.write(SHARD_LISTS.get(list, "list")?.len());
        Ok(())
    })
}

/// Copies shard `index` (0 to count - 1) into `*shard_out` (set its `struct_size`
/// first). The struct holds no pointers. Thread-safe.
///
/// # Safety
/// `shard_out` is NULL or points to a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_shard_list_get(
    list: *const tidelog_shard_list,
    index: usize,
    shard_out: *mut tidelog_shard,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(shard_out, "shard_out") }?;
        let list = SHARD_LISTS.get(list, "list")?;
        out.write(*self::index(&list, index, "shard list")?);
        Ok(())
    })
}

/// Releases the list. NULL is a no-op; a freed handle gives
/// `TIDELOG_STATUS_INVALID_HANDLE`. No other thread may use the list after this begins.
///
/// # Safety
/// `list` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_shard_list_free(list: *mut tidelog_shard_list) -> tidelog_status {
    boundary::call(|| SHARD_LISTS.free(list))
}

/// The number of strings in the list. Thread-safe.
///
/// # Safety
/// `count_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_string_list_count(
    list: *const tidelog_string_list,
    count_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(count_out, "count_out") }?;
        out.write(STRING_LISTS.get(list, "list")?.len());
        Ok(())
    })
}

/// Stores a pointer to string `index` (NUL-terminated UTF-8) in `*string_out`. The
/// string belongs to the list: valid until `tidelog_string_list_free`. Thread-safe.
///
/// # Safety
/// `string_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_string_list_get(
    list: *const tidelog_string_list,
    index: usize,
    string_out: *mut *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(string_out, "string_out") }?;
        let list = STRING_LISTS.get(list, "list")?;
        out.write(self::index(&list, index, "string list")?.as_ptr());
        Ok(())
    })
}

/// Releases the list and its strings. NULL is a no-op; a freed handle gives
/// `TIDELOG_STATUS_INVALID_HANDLE`.
///
/// # Safety
/// `list` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_string_list_free(
    list: *mut tidelog_string_list,
) -> tidelog_status {
    boundary::call(|| STRING_LISTS.free(list))
}

/// The number of tags in the list. Thread-safe.
///
/// # Safety
/// `count_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_tag_list_count(
    list: *const tidelog_tag_list,
    count_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(count_out, "count_out") }?;
        out.write(TAG_LISTS.get(list, "list")?.len());
        Ok(())
    })
}

/// Stores pointers to tag `index`'s key and value (NUL-terminated UTF-8; tags are
/// sorted by key). The strings belong to the list: valid until `tidelog_tag_list_free`.
/// Thread-safe.
///
/// # Safety
/// `key_out` and `value_out` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_tag_list_get(
    list: *const tidelog_tag_list,
    index: usize,
    key_out: *mut *const c_char,
    value_out: *mut *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let key = unsafe { Out::new(key_out, "key_out") }?;
        // SAFETY: contract: NULL or writable.
        let value = unsafe { Out::new(value_out, "value_out") }?;
        let list = TAG_LISTS.get(list, "list")?;
        let (k, v) = self::index(&list, index, "tag list")?;
        key.write(k.as_ptr());
        value.write(v.as_ptr());
        Ok(())
    })
}

/// Releases the list and its strings. NULL is a no-op; a freed handle gives
/// `TIDELOG_STATUS_INVALID_HANDLE`.
///
/// # Safety
/// `list` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_tag_list_free(list: *mut tidelog_tag_list) -> tidelog_status {
    boundary::call(|| TAG_LISTS.free(list))
}

/// The number of snapshots in the list. Thread-safe.
///
/// # Safety
/// `count_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_metrics_list_count(
    list: *const tidelog_metrics_list,
    count_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(count_out, "count_out") }?;
        out.write(METRICS_LISTS.get(list, "list")?.len());
        Ok(())
    })
}

/// Copies snapshot `index` into `*metrics_out` (set its `struct_size` first). The
/// struct holds no pointers. Thread-safe.
///
/// # Safety
/// `metrics_out` is NULL or points to a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_metrics_list_get(
    list: *const tidelog_metrics_list,
    index: usize,
    metrics_out: *mut tidelog_shard_metrics,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(metrics_out, "metrics_out") }?;
        let list = METRICS_LISTS.get(list, "list")?;
        out.write(*self::index(&list, index, "metrics list")?);
        Ok(())
    })
}

/// Releases the list. NULL is a no-op; a freed handle gives
/// `TIDELOG_STATUS_INVALID_HANDLE`.
///
/// # Safety
/// `list` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_metrics_list_free(
    list: *mut tidelog_metrics_list,
) -> tidelog_status {
    boundary::call(|| METRICS_LISTS.free(list))
}
