//! Stream administration: create, delete, list, describe, list shards, tags, retention.
//!
//! Every function here is thread-safe and blocks until the engine answers (catalog
//! changes are written durably before they return). Names are checked by the engine
//! (1-128 characters of `[a-zA-Z0-9_.-]`, not `.` or `..`) and never become paths.

use std::collections::BTreeMap;
use std::ffi::c_char;
use std::mem::size_of;

use tidelog_core::engine::{EncryptionType, ShardFilter, StreamSummary};
use tidelog_core::error::Validation;
use tidelog_core::stream::metrics::parse_shard_level_metrics;
use tidelog_core::stream::names::parse_shard_id;
use tidelog_core::{RecordDistribution, StreamMode};

use crate::abi::*;
use crate::args::{self, Out, OutStruct, fixed};
use crate::boundary;
use crate::engine::engine;
use crate::lists::{self, SHARD_LISTS, STRING_LISTS, TAG_LISTS, c_string};
use crate::status::{FfiError, FfiResult, tidelog_status};

/// Creates a stream of `shard_count` shards that split the hash key space evenly.
/// Fails with VALIDATION (bad name, count outside [1, max_shards]), RESOURCE_IN_USE
/// (exists), LIMIT_EXCEEDED (too many open shards in the engine).
///
/// # Safety
/// `stream` is NULL or NUL-terminated (read during the call only).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_create_stream(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    shard_count: u32,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        Ok(engine.engine.create_stream(stream, shard_count)?)
    })
}

/// Deletes a stream and all its data. RESOURCE_NOT_FOUND if it does not exist,
/// RESOURCE_IN_USE during a reshard. Batches already read from it stay readable.
///
/// # Safety
/// `stream` is NULL or NUL-terminated (read during the call only).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_delete_stream(
    engine: *mut tidelog_engine,
    stream: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        Ok(engine.engine.delete_stream(stream)?)
    })
}

/// Lists stream names in order: at most `limit` (1 to 10,000; 0 = 10,000) names
/// after `exclusive_start_name` (NULL = from the first).
///
/// - `names_out`: receives a new string list (NULL on failure); free it with
///   `tidelog_string_list_free`.
/// - `has_more_out`: receives true if more names follow the last one.
///
/// # Safety
/// `exclusive_start_name` is NULL or NUL-terminated; the out-pointers are NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_list_streams(
    engine: *mut tidelog_engine,
    limit: u32,
    exclusive_start_name: *const c_char,
    names_out: *mut *mut tidelog_string_list,
    has_more_out: *mut bool,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(names_out, "names_out") }?;
        // SAFETY: contract: NULL or writable.
        let has_more = unsafe { Out::new(has_more_out, "has_more_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let start = unsafe { args::opt_string(exclusive_start_name, "exclusive_start_name") }?;
            let limit = (limit != 0).then_some(limit as usize);
            let list = engine.engine.list_streams(limit, start)?;
            let names = list
                .names
                .iter()
                .map(|n| c_string(n))
                .collect::<FfiResult<Vec<_>>>()?;
            let handle = STRING_LISTS.insert(names)?;
            has_more.write(list.has_more);
            Ok(handle)
        })
    })
}

fn info(s: &StreamSummary) -> FfiResult<tidelog_stream_info> {
    Ok(tidelog_stream_info {
        struct_size: size_of::<tidelog_stream_info>(),
        name: fixed(&s.name)?,
        status: lists::stream_status(s.status),
        stream_id: s.stream_id,
        created_ms: s.created_ms,
        retention_hours: s.retention_hours,
        open_shard_count: u32::try_from(s.open_shard_count).unwrap_or(u32::MAX),
        consumer_count: u32::try_from(s.consumer_count).unwrap_or(u32::MAX),
        mode: match s.mode {
            StreamMode::Provisioned => tidelog_stream_mode::Provisioned,
            StreamMode::OnDemand => tidelog_stream_mode::OnDemand,
        },
        encryption_type: match s.encryption_type {
            EncryptionType::None => tidelog_encryption_type::None,
            EncryptionType::Kms => tidelog_encryption_type::Kms,
        },
        max_record_size_kib: s.max_record_size_kib,
        shard_level_metrics: u32::from(
            parse_shard_level_metrics(&s.shard_level_metrics).unwrap_or_default(),
        ),
        has_warm_throughput: u32::from(s.warm_throughput.is_some()),
        warm_throughput_target_mibps: s.warm_throughput.map_or(0, |w| w.target_mibps),
        warm_throughput_current_mibps: s.warm_throughput.map_or(0, |w| w.current_mibps),
        record_distribution: match s.record_distribution {
            RecordDistribution::UserPartitionKey => tidelog_record_distribution::UserPartitionKey,
            RecordDistribution::Auto => tidelog_record_distribution::Auto,
        } as u32,
    })
}

/// DescribeStream: the stream's summary into `*info_out` (set its `struct_size`
/// first), and every shard not yet expired (open and closed, in index order, with
/// hash ranges, lineage and sequence ranges) as a new shard list in `*shards_out`
/// (NULL on failure; free it with `tidelog_shard_list_free`). Tags:
/// `tidelog_list_tags_for_stream`.
///
/// # Safety
/// `stream` is NULL or NUL-terminated; `info_out` is NULL or a writable struct of its
/// `struct_size`; `shards_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_describe_stream(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    info_out: *mut tidelog_stream_info,
    shards_out: *mut *mut tidelog_shard_list,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let shards_out = unsafe { Out::new(shards_out, "shards_out") }?;
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let info_out = unsafe { OutStruct::new(info_out, "info_out") }?;
        args::produce(shards_out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let stream = unsafe { args::string(stream, "stream") }?;
            let d = engine.engine.describe_stream(stream)?;
            let shards = d
                .shards
                .iter()
                .map(lists::shard)
                .collect::<FfiResult<Vec<_>>>()?;
            let summary = StreamSummary {
                name: d.name.clone(),
                arn: d.arn.clone(),
                stream_id: d.stream_id,
                status: d.status,
                mode: d.mode,
                created_ms: d.created_ms,
                retention_hours: d.retention_hours,
                open_shard_count: shards
                    .iter()
                    .filter(|s| s.state == tidelog_shard_state::Open)
                    .count(),
                consumer_count: d.consumer_count,
                encryption_type: d.encryption_type,
                key_id: d.key_id.clone(),
                shard_level_metrics: d.shard_level_metrics.clone(),
                max_record_size_kib: d.max_record_size_kib,
                warm_throughput: d.warm_throughput,
                // `tidelog_stream_info` has no queue count (see docs/c-api.md).
                queue_count: 0,
                record_distribution: d.record_distribution,
            };
            let info = info(&summary)?;
            let handle = SHARD_LISTS.insert(shards)?;
            info_out.write(info);
            Ok(handle)
        })
    })
}

/// DescribeStreamSummary into `*info_out` (set its `struct_size` first).
///
/// # Safety
/// `stream` is NULL or NUL-terminated; `info_out` is NULL or a writable struct of its
/// `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_describe_stream_summary(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    info_out: *mut tidelog_stream_info,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(info_out, "info_out") }?;
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        out.write(info(&engine.engine.describe_stream_summary(stream)?)?);
        Ok(())
    })
}

/// ListShards with a filter (`tidelog_shard_filter`). `shard_id` is used (and
/// required) only with `TIDELOG_SHARD_FILTER_AFTER_SHARD_ID`, `timestamp_ms` only with
/// `TIDELOG_SHARD_FILTER_AT_TIMESTAMP` and `_FROM_TIMESTAMP`; a `shard_id` given with
/// another filter is a VALIDATION error. `shards_out` receives a new shard list (NULL
/// on failure).
///
/// # Safety
/// `stream` and `shard_id` are NULL or NUL-terminated; `shards_out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_list_shards(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    filter: u32,
    shard_id: *const c_char,
    timestamp_ms: u64,
    shards_out: *mut *mut tidelog_shard_list,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(shards_out, "shards_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let stream = unsafe { args::string(stream, "stream") }?;
            // SAFETY: contract: NULL or NUL-terminated.
            let shard_id = unsafe { args::opt_string(shard_id, "shard_id") }?;
            let filter = shard_filter(filter, shard_id, timestamp_ms)?;
            let shards = engine.engine.list_shards(stream, filter)?;
            let shards = shards
                .iter()
                .map(lists::shard)
                .collect::<FfiResult<Vec<_>>>()?;
            SHARD_LISTS.insert(shards)
        })
    })
}

fn shard_filter(filter: u32, shard_id: Option<&str>, timestamp_ms: u64) -> FfiResult<ShardFilter> {
    let after = filter == tidelog_shard_filter::AfterShardId as u32;
    if shard_id.is_some() && !after {
        return Err(FfiError::new(
            tidelog_status::Validation,
            "shard_id is only used with TIDELOG_SHARD_FILTER_AFTER_SHARD_ID (pass NULL)",
        ));
    }
    Ok(match filter {
        f if f == tidelog_shard_filter::All as u32 => ShardFilter::All,
        f if f == tidelog_shard_filter::AtTrimHorizon as u32 => ShardFilter::AtTrimHorizon,
        f if f == tidelog_shard_filter::AtLatest as u32 => ShardFilter::AtLatest,
        f if f == tidelog_shard_filter::AtTimestamp as u32 => {
            ShardFilter::AtTimestamp(timestamp_ms)
        }
        f if f == tidelog_shard_filter::FromTimestamp as u32 => {
            ShardFilter::FromTimestamp(timestamp_ms)
        }
        _ if after => {
            let id = shard_id.ok_or_else(|| FfiError::null("shard_id"))?;
            let index = parse_shard_id(id).ok_or_else(|| {
                FfiError::from(tidelog_core::Error::from(Validation::ShardId(
                    id.to_string(),
                )))
            })?;
            ShardFilter::AfterShardId(index)
        }
        f => {
            return Err(FfiError::new(
                tidelog_status::InvalidEnumValue,
                format!("filter = {f} is not a tidelog_shard_filter"),
            ));
        }
    })
}

/// Adds tags (or overwrites their values): `keys[i]` gets `values[i]` for i below
/// `count` (at most `TIDELOG_TAGS_PER_CALL_MAX`; the engine allows 50 per stream:
/// LIMIT_EXCEEDED beyond). Keys are 1-128 characters, values at most 256, no control
/// characters (VALIDATION otherwise).
///
/// # Safety
/// `stream` is NULL or NUL-terminated; `keys` and `values` are NULL (only with `count`
/// 0) or arrays of `count` NUL-terminated strings, read during the call only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_add_tags_to_stream(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    keys: *const *const c_char,
    values: *const *const c_char,
    count: usize,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        // SAFETY: contract: `count` readable string pointers (or NULL with 0).
        let keys = unsafe { args::string_array(keys, count, TIDELOG_TAGS_PER_CALL_MAX, "keys") }?;
        // SAFETY: as above.
        let values =
            unsafe { args::string_array(values, count, TIDELOG_TAGS_PER_CALL_MAX, "values") }?;
        let tags: BTreeMap<String, String> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(engine.engine.add_tags_to_stream(stream, &tags)?)
    })
}

/// Removes tags by key (absent keys are ignored): `count` keys (at most 50, the engine's
/// rule: VALIDATION beyond; at most `TIDELOG_TAGS_PER_CALL_MAX`: OUT_OF_RANGE beyond).
///
/// # Safety
/// `stream` is NULL or NUL-terminated; `keys` is NULL (only with `count` 0) or an
/// array of `count` NUL-terminated strings, read during the call only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_remove_tags_from_stream(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    keys: *const *const c_char,
    count: usize,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        // SAFETY: contract: `count` readable string pointers (or NULL with 0).
        let keys = unsafe { args::string_array(keys, count, TIDELOG_TAGS_PER_CALL_MAX, "keys") }?;
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        Ok(engine.engine.remove_tags_from_stream(stream, &keys)?)
    })
}

/// The stream's tags, sorted by key, as a new tag list in `*tags_out` (NULL on
/// failure; free it with `tidelog_tag_list_free`).
///
/// # Safety
/// `stream` is NULL or NUL-terminated; `tags_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_list_tags_for_stream(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    tags_out: *mut *mut tidelog_tag_list,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(tags_out, "tags_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let stream = unsafe { args::string(stream, "stream") }?;
            let tags = engine.engine.list_tags_for_stream(stream)?;
            let tags = tags
                .iter()
                .map(|(k, v)| Ok((c_string(k)?, c_string(v)?)))
                .collect::<FfiResult<Vec<_>>>()?;
            TAG_LISTS.insert(tags)
        })
    })
}

/// IncreaseStreamRetentionPeriod to `hours` (at most 8,760; not below the current
/// period: INVALID_ARGUMENT). Raising it does not bring back data already expired.
///
/// # Safety
/// `stream` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_increase_stream_retention_period(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    hours: u32,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        Ok(engine
            .engine
            .increase_stream_retention_period(stream, hours)?)
    })
}

/// DecreaseStreamRetentionPeriod to `hours` (at least the engine's
/// `retention_hours_min`; not above the current period: INVALID_ARGUMENT). Records
/// older than the new period become unreadable at once.
///
/// # Safety
/// `stream` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_decrease_stream_retention_period(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    hours: u32,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        Ok(engine
            .engine
            .decrease_stream_retention_period(stream, hours)?)
    })
}
