//! Stream settings and resources from C: CreateStream's full form and DeleteStream's
//! EnforceConsumerDeletion, ARNs, tags and resource policies by ARN, DescribeLimits,
//! enhanced monitoring, encryption, the largest record, capacity modes, warm
//! throughput, account settings and on-demand scaling.
//!
//! Every function is thread-safe and blocks until the engine answered; every change is
//! durable (in the catalog) when it returns. Text answers of unbounded length (ARNs,
//! key ids, policies) use the `tidelog_metrics_openmetrics` protocol: the length is
//! always reported, and BUFFER_TOO_SMALL writes nothing.

use std::collections::BTreeMap;
use std::ffi::c_char;
use std::mem::size_of;

use tidelog_core::engine::{AccountSettingsOutput, CreateStreamOptions};
use tidelog_core::stream::catalog::CommitmentStatus;
use tidelog_core::stream::metrics::{SHARD_LEVEL_METRICS, shard_level_metric_names};
use tidelog_core::{RecordDistribution, StreamMode};

use crate::abi::*;
use crate::args::{self, InStruct, Out, OutStruct, SizedStruct};
use crate::boundary;
use crate::engine::engine;
use crate::lists::{TAG_LISTS, c_string};
use crate::status::{FfiError, FfiResult, tidelog_status};

// SAFETY: #[repr(C)], starts with struct_size, and holds only integers and raw
// pointers (any bit pattern is a valid value).
unsafe impl SizedStruct for tidelog_create_stream_options {
    // `record_distribution` came later: callers built before it stay valid.
    const MIN_SIZE: usize = std::mem::offset_of!(Self, record_distribution);
}
impl InStruct for tidelog_create_stream_options {}

/// Tags from two parallel string arrays.
///
/// # Safety
/// `keys` and `values` are NULL (only with `count` 0) or arrays of `count`
/// NUL-terminated strings, readable for the call.
pub(crate) unsafe fn tag_map(
    keys: *const *const c_char,
    values: *const *const c_char,
    count: usize,
) -> FfiResult<BTreeMap<String, String>> {
    // SAFETY: forwarded from this function's contract.
    let keys = unsafe { args::string_array(keys, count, TIDELOG_TAGS_PER_CALL_MAX, "tag keys") }?;
    // SAFETY: as above.
    let values =
        unsafe { args::string_array(values, count, TIDELOG_TAGS_PER_CALL_MAX, "tag values") }?;
    Ok(keys
        .iter()
        .zip(&values)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn distribution(value: u32, what: &str) -> FfiResult<RecordDistribution> {
    match value {
        v if v == tidelog_record_distribution::UserPartitionKey as u32 => {
            Ok(RecordDistribution::UserPartitionKey)
        }
        v if v == tidelog_record_distribution::Auto as u32 => Ok(RecordDistribution::Auto),
        v => Err(FfiError::new(
            tidelog_status::InvalidEnumValue,
            format!(
                "{what} = {v} is not one of TIDELOG_RECORD_DISTRIBUTION_USER_PARTITION_KEY, _AUTO"
            ),
        )),
    }
}

fn mode(value: u32, what: &str) -> FfiResult<StreamMode> {
    match value {
        v if v == tidelog_stream_mode::Provisioned as u32 => Ok(StreamMode::Provisioned),
        v if v == tidelog_stream_mode::OnDemand as u32 => Ok(StreamMode::OnDemand),
        v => Err(FfiError::new(
            tidelog_status::InvalidEnumValue,
            format!("{what} = {v} is not one of TIDELOG_STREAM_MODE_PROVISIONED, _ON_DEMAND"),
        )),
    }
}

fn metric_bits(mask: u32) -> FfiResult<Vec<&'static str>> {
    if mask == 0 || mask & !TIDELOG_METRIC_ALL != 0 {
        return Err(FfiError::new(
            tidelog_status::Validation,
            format!("metrics = {mask:#x}: give 1 or more TIDELOG_METRIC_* bits (and no others)"),
        ));
    }
    Ok(shard_level_metric_names(mask as u8))
}

fn mask_of(names: &[&str]) -> u32 {
    SHARD_LEVEL_METRICS
        .iter()
        .filter(|(n, _)| names.contains(n))
        .fold(0, |m, (_, bit)| m | u32::from(*bit))
}

/// CreateStream with every Kinesis parameter (see `tidelog_create_stream_options`):
/// PROVISIONED with a shard count, or ON_DEMAND (4 shards to start, scaled by the
/// engine); the largest record; tags; warm throughput. Nothing is created if any part
/// is refused.
///
/// # Safety
/// `stream` is NULL or NUL-terminated; `options` is NULL (a PROVISIONED stream needs a
/// shard count: VALIDATION) or points to `struct_size` readable bytes whose tag arrays
/// follow their contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_create_stream_with(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    options: *const tidelog_create_stream_options,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        let defaults = tidelog_create_stream_options {
            struct_size: size_of::<tidelog_create_stream_options>(),
            mode: 0,
            shard_count: 0,
            max_record_size_kib: 0,
            warm_throughput_mibps: 0,
            tag_keys: std::ptr::null(),
            tag_values: std::ptr::null(),
            tag_count: 0,
            record_distribution: 0,
        };
        let o = if options.is_null() {
            defaults
        } else {
            // SAFETY: contract: `struct_size` readable bytes.
            unsafe { args::read_struct(options, defaults, "options") }?
        };
        // SAFETY: the options' contract covers the tag arrays.
        let tags = unsafe { tag_map(o.tag_keys, o.tag_values, o.tag_count) }?;
        let options = CreateStreamOptions {
            shard_count: (o.shard_count != 0).then_some(o.shard_count),
            mode: mode(o.mode, "options->mode")?,
            max_record_size_kib: (o.max_record_size_kib != 0).then_some(o.max_record_size_kib),
            tags,
            warm_throughput_mibps: (o.warm_throughput_mibps != 0)
                .then_some(o.warm_throughput_mibps),
            record_distribution: distribution(
                o.record_distribution,
                "options->record_distribution",
            )?,
        };
        Ok(engine.engine.create_stream_with(stream, options)?)
    })
}

/// DeleteStream with EnforceConsumerDeletion (`enforce_consumer_deletion`: 0 or 1):
/// with 0, a stream with registered consumers is refused (RESOURCE_IN_USE).
///
/// # Safety
/// `stream` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_delete_stream_with(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    enforce_consumer_deletion: u32,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        let enforce = crate::engine::flag(enforce_consumer_deletion, "enforce_consumer_deletion")?;
        Ok(engine.engine.delete_stream_with(stream, enforce)?)
    })
}

/// The ARN of stream `stream` (whether or not it exists), NUL-terminated, into `buf`
/// (see the module doc for the buffer protocol; `TIDELOG_ARN_BUFFER_SIZE` is always
/// enough).
///
/// # Safety
/// `stream` is NULL or NUL-terminated; `buf` is NULL or writable for `buf_len` bytes;
/// `len_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_stream_arn(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let len_out = unsafe { Out::new(len_out, "len_out") }?;
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        crate::engine::check_open(&engine.engine)?;
        let text = c_string(&engine.engine.stream_arn(stream))?;
        len_out.write(text.as_bytes().len());
        // SAFETY: contract: NULL or writable for `buf_len` bytes.
        unsafe { args::copy_to_buffer(&text, buf, buf_len, "buf") }
    })
}

/// TagResource: adds or overwrites tags of the stream or consumer `arn` (at most 50
/// per resource: LIMIT_EXCEEDED). VALIDATION for a malformed ARN, RESOURCE_NOT_FOUND
/// for one that names nothing here.
///
/// # Safety
/// `arn` is NULL or NUL-terminated; the tag arrays are NULL (only with `count` 0) or
/// hold `count` NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_tag_resource(
    engine: *mut tidelog_engine,
    arn: *const c_char,
    keys: *const *const c_char,
    values: *const *const c_char,
    count: usize,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let arn = unsafe { args::string(arn, "arn") }?;
        // SAFETY: contract: the tag arrays as documented.
        let tags = unsafe { tag_map(keys, values, count) }?;
        Ok(engine.engine.tag_resource(arn, &tags)?)
    })
}

/// UntagResource: removes tags of the stream or consumer `arn` by key (1 to 50 keys).
///
/// # Safety
/// `arn` is NULL or NUL-terminated; `keys` is NULL (only with `count` 0) or holds
/// `count` NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_untag_resource(
    engine: *mut tidelog_engine,
    arn: *const c_char,
    keys: *const *const c_char,
    count: usize,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let arn = unsafe { args::string(arn, "arn") }?;
        // SAFETY: contract: `count` readable string pointers (or NULL with 0).
        let keys = unsafe { args::string_array(keys, count, TIDELOG_TAGS_PER_CALL_MAX, "keys") }?;
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        Ok(engine.engine.untag_resource(arn, &keys)?)
    })
}

/// ListTagsForResource: the tags of the stream or consumer `arn`, sorted by key, as a
/// new tag list (free with `tidelog_tag_list_free`).
///
/// # Safety
/// `arn` is NULL or NUL-terminated; `tags_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_list_tags_for_resource(
    engine: *mut tidelog_engine,
    arn: *const c_char,
    tags_out: *mut *mut tidelog_tag_list,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(tags_out, "tags_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let arn = unsafe { args::string(arn, "arn") }?;
            let tags = engine.engine.list_tags_for_resource(arn)?;
            let tags = tags
                .iter()
                .map(|(k, v)| Ok((c_string(k)?, c_string(v)?)))
                .collect::<FfiResult<Vec<_>>>()?;
            TAG_LISTS.insert(tags)
        })
    })
}

/// PutResourcePolicy: attaches (or replaces) a policy document (JSON, `policy_len`
/// bytes of UTF-8 at `policy`, at most `TIDELOG_POLICY_BYTES_MAX`) to the stream or
/// consumer `arn`. It is validated (INVALID_ARGUMENT with the reason) and kept durably;
/// an embedded engine has no principals to enforce it against.
///
/// # Safety
/// `arn` is NULL or NUL-terminated; `policy` is NULL (only with `policy_len` 0) or
/// readable for `policy_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_put_resource_policy(
    engine: *mut tidelog_engine,
    arn: *const c_char,
    policy: *const u8,
    policy_len: usize,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let arn = unsafe { args::string(arn, "arn") }?;
        // SAFETY: contract: `policy_len` readable bytes (or NULL with 0).
        let bytes = unsafe { args::bytes(policy, policy_len, TIDELOG_POLICY_BYTES_MAX, "policy") }?;
        let text = std::str::from_utf8(bytes).map_err(|e| {
            FfiError::new(
                tidelog_status::InvalidUtf8,
                format!(
                    "policy is not valid UTF-8 (invalid byte at offset {})",
                    e.valid_up_to()
                ),
            )
        })?;
        Ok(engine.engine.put_resource_policy(arn, text)?)
    })
}

/// GetResourcePolicy: the policy of the stream or consumer `arn`, NUL-terminated, into
/// `buf` (see the module doc for the buffer protocol). `*found_out` is false, and the
/// text "" (length 0), when no policy is attached.
///
/// # Safety
/// `arn` is NULL or NUL-terminated; `buf` is NULL or writable for `buf_len` bytes; the
/// out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_get_resource_policy(
    engine: *mut tidelog_engine,
    arn: *const c_char,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
    found_out: *mut bool,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let len_out = unsafe { Out::new(len_out, "len_out") }?;
        // SAFETY: contract: NULL or writable.
        let found_out = unsafe { Out::new(found_out, "found_out") }?;
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let arn = unsafe { args::string(arn, "arn") }?;
        let policy = engine.engine.get_resource_policy(arn)?;
        found_out.write(policy.is_some());
        let text = c_string(policy.as_deref().unwrap_or(""))?;
        len_out.write(text.as_bytes().len());
        // SAFETY: contract: NULL or writable for `buf_len` bytes.
        unsafe { args::copy_to_buffer(&text, buf, buf_len, "buf") }
    })
}

/// DeleteResourcePolicy (RESOURCE_NOT_FOUND if none is attached).
///
/// # Safety
/// `arn` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_delete_resource_policy(
    engine: *mut tidelog_engine,
    arn: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let arn = unsafe { args::string(arn, "arn") }?;
        Ok(engine.engine.delete_resource_policy(arn)?)
    })
}

/// DescribeLimits into `*limits_out`.
///
/// # Safety
/// `limits_out` is NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_describe_limits(
    engine: *mut tidelog_engine,
    limits_out: *mut tidelog_limits_info,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(limits_out, "limits_out") }?;
        let engine = self::engine(engine)?;
        let l = engine.engine.describe_limits()?;
        out.write(tidelog_limits_info {
            struct_size: size_of::<tidelog_limits_info>(),
            shard_limit: l.shard_limit,
            open_shard_count: l.open_shard_count,
            on_demand_stream_count: l.on_demand_stream_count,
            on_demand_stream_count_limit: l.on_demand_stream_count_limit,
        });
        Ok(())
    })
}

/// Enhanced monitoring: `enable` (1) or disable (0) the shard-level metrics of
/// `metrics` (`TIDELOG_METRIC_*` bits, at least one) on `stream`. `*current_out` and
/// `*desired_out` receive the enabled bits before and after (each may be NULL).
/// Enabled metrics are exported per shard by `tidelog_metrics_openmetrics`.
///
/// # Safety
/// `stream` is NULL or NUL-terminated; the out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_set_enhanced_monitoring(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    metrics: u32,
    enable: u32,
    current_out: *mut u32,
    desired_out: *mut u32,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let current_out = unsafe { Out::optional(current_out) };
        // SAFETY: contract: NULL or writable.
        let desired_out = unsafe { Out::optional(desired_out) };
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        let names = metric_bits(metrics)?;
        let out = if crate::engine::flag(enable, "enable")? {
            engine.engine.enable_enhanced_monitoring(stream, &names)?
        } else {
            engine.engine.disable_enhanced_monitoring(stream, &names)?
        };
        if let Some(o) = current_out {
            o.write(mask_of(&out.current));
        }
        if let Some(o) = desired_out {
            o.write(mask_of(&out.desired));
        }
        Ok(())
    })
}

/// StartStreamEncryption: records put from now on are encrypted with a new data key
/// wrapped by the key provider's `key_id` (a new key id changes the key; older records
/// keep theirs). The KMS statuses pass on the provider's refusal; LIMIT_EXCEEDED past
/// 25 starts in 24 hours.
///
/// # Safety
/// `stream` and `key_id` are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_start_stream_encryption(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    key_id: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let key_id = unsafe { args::string(key_id, "key_id") }?;
        Ok(engine
            .engine
            .start_stream_encryption(stream, "KMS", key_id)?)
    })
}

/// StopStreamEncryption: records put from now on are stored plain (`key_id` must be the
/// stream's current key: INVALID_ARGUMENT otherwise, or if it is not encrypted).
///
/// # Safety
/// `stream` and `key_id` are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_stop_stream_encryption(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    key_id: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let key_id = unsafe { args::string(key_id, "key_id") }?;
        Ok(engine
            .engine
            .stop_stream_encryption(stream, "KMS", key_id)?)
    })
}

/// The KMS key id new records of `stream` are encrypted with, NUL-terminated, into
/// `buf` (see the module doc for the buffer protocol); "" (length 0) when encryption
/// is off.
///
/// # Safety
/// `stream` is NULL or NUL-terminated; `buf` is NULL or writable for `buf_len` bytes;
/// `len_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_stream_key_id(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let len_out = unsafe { Out::new(len_out, "len_out") }?;
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        let key_id = engine.engine.describe_stream_summary(stream)?.key_id;
        let text = c_string(key_id.as_deref().unwrap_or(""))?;
        len_out.write(text.as_bytes().len());
        // SAFETY: contract: NULL or writable for `buf_len` bytes.
        unsafe { args::copy_to_buffer(&text, buf, buf_len, "buf") }
    })
}

/// UpdateMaxRecordSize: the largest record of `stream`, 1,024 to 10,240 KiB (and at
/// most the engine's `record_bytes_max`: INVALID_ARGUMENT above it).
///
/// # Safety
/// `stream` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_update_max_record_size(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    max_record_size_kib: u32,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        Ok(engine
            .engine
            .update_max_record_size(stream, max_record_size_kib)?)
    })
}

/// UpdateStreamRecordDistributionStrategy: `distribution` is a
/// `tidelog_record_distribution`; AUTO on a PROVISIONED stream is INVALID_ARGUMENT.
///
/// # Safety
/// `stream` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_update_stream_record_distribution(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    distribution: u32,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        let distribution = self::distribution(distribution, "distribution")?;
        Ok(engine
            .engine
            .update_stream_record_distribution(stream, distribution)?)
    })
}

/// UpdateStreamMode to `mode` (`tidelog_stream_mode`; twice in 24 hours at most:
/// LIMIT_EXCEEDED), with `warm_throughput_mibps` (0 = none; ON_DEMAND only).
///
/// # Safety
/// `stream` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_update_stream_mode(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    mode: u32,
    warm_throughput_mibps: u32,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        let mode = self::mode(mode, "mode")?;
        let warm = (warm_throughput_mibps != 0).then_some(warm_throughput_mibps);
        Ok(engine.engine.update_stream_mode(stream, mode, warm)?)
    })
}

/// UpdateStreamWarmThroughput: an ON_DEMAND stream (of an account with the billing
/// commitment on) takes `mibps` MiB/s at once; `*current_mibps_out` (may be NULL)
/// receives what its shards take after the call.
///
/// # Safety
/// `stream` is NULL or NUL-terminated; `current_mibps_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_update_stream_warm_throughput(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    mibps: u32,
    current_mibps_out: *mut u32,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::optional(current_mibps_out) };
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        let answer = engine.engine.update_stream_warm_throughput(stream, mibps)?;
        if let Some(out) = out {
            out.write(answer.warm_throughput.current_mibps);
        }
        Ok(())
    })
}

fn account(a: &AccountSettingsOutput) -> tidelog_account_settings {
    tidelog_account_settings {
        struct_size: size_of::<tidelog_account_settings>(),
        status: match a.status {
            CommitmentStatus::Disabled => tidelog_commitment_status::Disabled,
            CommitmentStatus::Enabled => tidelog_commitment_status::Enabled,
            CommitmentStatus::EnabledUntilEarliestAllowedEnd => {
                tidelog_commitment_status::EnabledUntilEarliestAllowedEnd
            }
        },
        started_ms: a.started_ms.unwrap_or(0),
        ended_ms: a.ended_ms.unwrap_or(0),
        earliest_allowed_end_ms: a.earliest_allowed_end_ms.unwrap_or(0),
    }
}

/// DescribeAccountSettings into `*settings_out`.
///
/// # Safety
/// `settings_out` is NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_describe_account_settings(
    engine: *mut tidelog_engine,
    settings_out: *mut tidelog_account_settings,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(settings_out, "settings_out") }?;
        let engine = self::engine(engine)?;
        out.write(account(&engine.engine.describe_account_settings()?));
        Ok(())
    })
}

/// UpdateAccountSettings: the billing commitment on (`enabled` 1) or off (0). It lasts
/// at least 24 hours (turned off earlier, it stays on until then). `*settings_out`
/// (may be NULL) receives the settings after the call.
///
/// # Safety
/// `settings_out` is NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_update_account_settings(
    engine: *mut tidelog_engine,
    enabled: u32,
    settings_out: *mut tidelog_account_settings,
) -> tidelog_status {
    boundary::call(|| {
        let out = if settings_out.is_null() {
            None
        } else {
            // SAFETY: contract: a writable struct of its struct_size.
            Some(unsafe { OutStruct::new(settings_out, "settings_out") }?)
        };
        let engine = self::engine(engine)?;
        let enabled = crate::engine::flag(enabled, "enabled")?;
        let a = engine.engine.update_account_settings(enabled)?;
        if let Some(out) = out {
            out.write(account(&a));
        }
        Ok(())
    })
}

/// Runs on-demand scaling now for the streams whose evaluation is due on the engine's
/// clock (it also runs on its own every maintenance interval); `*changed_out` (may be
/// NULL) receives how many streams it resized.
///
/// # Safety
/// `changed_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_scale_on_demand_streams(
    engine: *mut tidelog_engine,
    changed_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::optional(changed_out) };
        let engine = self::engine(engine)?;
        let reports = engine.engine.scale_on_demand_streams()?;
        if let Some(out) = out {
            out.write(
                reports
                    .iter()
                    .filter(|r| r.from_shards != r.to_shards)
                    .count(),
            );
        }
        Ok(())
    })
}
