//! Limits, monitoring, encryption and capacity: DescribeLimits,
//! Enable/DisableEnhancedMonitoring, Start/StopStreamEncryption, UpdateStreamMode,
//! UpdateMaxRecordSize, UpdateStreamWarmThroughput, Describe/UpdateAccountSettings,
//! UpdateStreamRecordDistributionStrategy.
//! Each is the engine's operation with AWS's members; the engine validates and keeps
//! the rules (encryption keys from its key provider, on-demand scaling, the 24-hour
//! billing commitment).
#![forbid(unsafe_code)]

use tidelog::RecordDistribution;
use tidelog::engine::{AccountSettingsOutput, EnhancedMonitoringOutput};

use super::streams::{stream_mode, warm_value};
use super::{stream_name, string_list};
use crate::api::input::{constraint, missing, opt_int_in, opt_map, opt_str, req_int_in, req_str};
use crate::api::{Api, ApiError};
use crate::wire::{Map, Value};

fn ok() -> Result<Value, ApiError> {
    Ok(Map::new().into())
}

/// DescribeLimits().
pub fn describe_limits(api: &Api, _m: &Map) -> Result<Value, ApiError> {
    let l = api.engine.describe_limits()?;
    Ok(Map::new()
        .with("ShardLimit", l.shard_limit)
        .with("OpenShardCount", l.open_shard_count)
        .with("OnDemandStreamCount", l.on_demand_stream_count)
        .with("OnDemandStreamCountLimit", l.on_demand_stream_count_limit)
        .into())
}

fn monitoring_value(out: EnhancedMonitoringOutput) -> Value {
    let names = |v: &[&str]| Value::List(v.iter().map(|n| (*n).into()).collect());
    Map::new()
        .with("StreamName", out.stream.as_str())
        .with("CurrentShardLevelMetrics", names(&out.current))
        .with("DesiredShardLevelMetrics", names(&out.desired))
        .with("StreamARN", out.stream_arn.as_str())
        .into()
}

/// EnableEnhancedMonitoring(StreamName | StreamARN, ShardLevelMetrics).
pub fn enable_enhanced_monitoring(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let metrics = string_list(m, "ShardLevelMetrics")?;
    Ok(monitoring_value(
        api.engine.enable_enhanced_monitoring(&name, &metrics)?,
    ))
}

/// DisableEnhancedMonitoring(StreamName | StreamARN, ShardLevelMetrics).
pub fn disable_enhanced_monitoring(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let metrics = string_list(m, "ShardLevelMetrics")?;
    Ok(monitoring_value(
        api.engine.disable_enhanced_monitoring(&name, &metrics)?,
    ))
}

/// StartStreamEncryption(StreamName | StreamARN, EncryptionType, KeyId).
pub fn start_stream_encryption(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let kind = req_str(m, "EncryptionType")?;
    let key = req_str(m, "KeyId")?;
    api.engine.start_stream_encryption(&name, kind, key)?;
    ok()
}

/// StopStreamEncryption(StreamName | StreamARN, EncryptionType, KeyId).
pub fn stop_stream_encryption(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let kind = req_str(m, "EncryptionType")?;
    let key = req_str(m, "KeyId")?;
    api.engine.stop_stream_encryption(&name, kind, key)?;
    ok()
}

/// UpdateStreamMode(StreamARN, StreamModeDetails, WarmThroughputMiBps).
pub fn update_stream_mode(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = api.engine.resolve_stream_arn(req_str(m, "StreamARN")?)?;
    let mode = stream_mode(m, "StreamModeDetails")?.ok_or_else(|| missing("StreamModeDetails"))?;
    let warm = opt_int_in(m, "WarmThroughputMiBps", 0, i64::from(u32::MAX))?.map(|n| n as u32);
    api.engine.update_stream_mode(&name, mode, warm)?;
    ok()
}

/// UpdateMaxRecordSize(StreamARN, MaxRecordSizeInKiB).
pub fn update_max_record_size(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let kib = req_int_in(m, "MaxRecordSizeInKiB", 1024, 10_240)? as u32;
    api.engine.update_max_record_size(&name, kib)?;
    ok()
}

/// A RecordDistributionStrategy member.
pub fn record_distribution(m: &Map, member: &str) -> Result<Option<RecordDistribution>, ApiError> {
    let Some(text) = opt_str(m, member)? else {
        return Ok(None);
    };
    RecordDistribution::from_name(text)
        .map(Some)
        .ok_or_else(|| {
            constraint(
                member,
                text,
                "Member must satisfy enum value set: [AUTO, USER_PARTITION_KEY]",
            )
        })
}

/// UpdateStreamRecordDistributionStrategy(StreamARN, RecordDistributionStrategy): the
/// ARN is required (the model says so; StreamName alone is not enough).
pub fn update_stream_record_distribution(api: &Api, m: &Map) -> Result<Value, ApiError> {
    req_str(m, "StreamARN")?;
    let name = stream_name(api, m)?;
    let strategy = record_distribution(m, "RecordDistributionStrategy")?
        .ok_or_else(|| missing("RecordDistributionStrategy"))?;
    api.engine
        .update_stream_record_distribution(&name, strategy)?;
    ok()
}

/// UpdateStreamWarmThroughput(StreamName | StreamARN, WarmThroughputMiBps).
pub fn update_stream_warm_throughput(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let mibps = req_int_in(m, "WarmThroughputMiBps", 0, i64::from(u32::MAX))? as u32;
    let out = api.engine.update_stream_warm_throughput(&name, mibps)?;
    Ok(Map::new()
        .with("StreamARN", out.stream_arn.as_str())
        .with("StreamName", out.stream.as_str())
        .with("WarmThroughput", warm_value(&out.warm_throughput))
        .into())
}

fn commitment_value(a: AccountSettingsOutput) -> Value {
    let ts = |ms: Option<u64>| ms.map(|ms| Value::Timestamp(ms as i64));
    let commitment = Map::new()
        .with("Status", a.status.name())
        .with_opt("StartedAt", ts(a.started_ms))
        .with_opt("EndedAt", ts(a.ended_ms))
        .with_opt("EarliestAllowedEndAt", ts(a.earliest_allowed_end_ms));
    Map::new()
        .with("MinimumThroughputBillingCommitment", commitment)
        .into()
}

/// DescribeAccountSettings().
pub fn describe_account_settings(api: &Api, _m: &Map) -> Result<Value, ApiError> {
    Ok(commitment_value(api.engine.describe_account_settings()?))
}

/// UpdateAccountSettings(MinimumThroughputBillingCommitment{Status}).
pub fn update_account_settings(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let commitment = opt_map(m, "MinimumThroughputBillingCommitment")?
        .ok_or_else(|| missing("MinimumThroughputBillingCommitment"))?;
    let enabled = match req_str(commitment, "Status")? {
        "ENABLED" => true,
        "DISABLED" => false,
        other => {
            return Err(constraint(
                "MinimumThroughputBillingCommitment.Status",
                other,
                "Member must satisfy enum value set: [ENABLED, DISABLED]",
            ));
        }
    };
    Ok(commitment_value(
        api.engine.update_account_settings(enabled)?,
    ))
}
