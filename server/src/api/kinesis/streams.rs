//! Stream administration: create, delete, describe, list streams and shards,
//! retention, resharding, tags.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use tidelog::StreamMode;
use tidelog::engine::{CreateStreamOptions, ShardFilter, WarmThroughput};
use tidelog::stream::names::parse_shard_id;

use super::{decode_token, encode_token, shard_value, stream_name};
use crate::api::input::{
    constraint, opt_int_in, opt_map, opt_str, opt_timestamp_ms, req_int_in, req_list, req_str,
};
use crate::api::{Api, ApiError};
use crate::wire::{Map, Value};

fn ok() -> Result<Value, ApiError> {
    Ok(Map::new().into())
}

fn now_ms(api: &Api) -> u64 {
    api.engine.config().clock.now_ms()
}

/// A Tags member (a map of strings).
pub fn tags_map(m: &Map, member: &str) -> Result<Option<BTreeMap<String, String>>, ApiError> {
    let Some(tags) = opt_map(m, member)? else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    for (k, v) in tags.iter() {
        match v {
            Value::Str(s) => {
                out.insert(k.to_string(), s.clone());
            }
            other => {
                return Err(ApiError::serialization(format!(
                    "tag {k:?} must be a string, not {}",
                    other.type_name()
                )));
            }
        }
    }
    Ok(Some(out))
}

/// A StreamModeDetails member's mode.
pub fn stream_mode(m: &Map, member: &str) -> Result<Option<StreamMode>, ApiError> {
    let Some(details) = opt_map(m, member)? else {
        return Ok(None);
    };
    let mode = req_str(details, "StreamMode")?;
    StreamMode::from_name(mode).map(Some).ok_or_else(|| {
        constraint(
            &format!("{member}.StreamMode"),
            mode,
            "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]",
        )
    })
}

/// CreateStream(StreamName, ShardCount, StreamModeDetails, Tags, WarmThroughputMiBps,
/// MaxRecordSizeInKiB, RecordDistributionStrategy).
pub fn create_stream(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = req_str(m, "StreamName")?;
    let mode = stream_mode(m, "StreamModeDetails")?.unwrap_or_default();
    let shard_count = opt_int_in(m, "ShardCount", 1, i64::from(u32::MAX))?.map(|n| n as u32);
    if mode == StreamMode::Provisioned && shard_count.is_none() {
        return Err(ApiError::validation(
            "ShardCount is required for a PROVISIONED stream",
        ));
    }
    let max_record_size_kib = opt_int_in(m, "MaxRecordSizeInKiB", 1024, 10_240)?.map(|n| n as u32);
    let warm_throughput_mibps =
        opt_int_in(m, "WarmThroughputMiBps", 0, i64::from(u32::MAX))?.map(|n| n as u32);
    let record_distribution =
        super::capacity::record_distribution(m, "RecordDistributionStrategy")?.unwrap_or_default();
    let tags = tags_map(m, "Tags")?.unwrap_or_default();
    if tags.len() > 50 {
        return Err(constraint(
            "Tags",
            tags.len(),
            "Member must have length less than or equal to 50",
        ));
    }
    // The engine checks everything (tags included) before the stream exists.
    api.engine.create_stream_with(
        name,
        CreateStreamOptions {
            shard_count,
            mode,
            max_record_size_kib,
            tags,
            warm_throughput_mibps,
            record_distribution,
        },
    )?;
    ok()
}

/// DeleteStream(StreamName | StreamARN, EnforceConsumerDeletion).
pub fn delete_stream(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let enforce = crate::api::input::opt_bool(m, "EnforceConsumerDeletion")?.unwrap_or(false);
    api.engine
        .delete_stream_with(&stream_name(api, m)?, enforce)?;
    ok()
}

fn mode_details(mode: StreamMode) -> Value {
    Map::new().with("StreamMode", mode.name()).into()
}

fn enhanced_monitoring(metrics: &[&str]) -> Value {
    Value::List(vec![
        Map::new()
            .with(
                "ShardLevelMetrics",
                Value::List(metrics.iter().map(|m| (*m).into()).collect()),
            )
            .into(),
    ])
}

/// A WarmThroughputObject.
pub fn warm_value(w: &WarmThroughput) -> Value {
    Map::new()
        .with("TargetMiBps", w.target_mibps)
        .with("CurrentMiBps", w.current_mibps)
        .into()
}

/// DescribeStream(StreamName | StreamARN, Limit, ExclusiveStartShardId).
pub fn describe_stream(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let limit = opt_int_in(m, "Limit", 1, 10_000)?.unwrap_or(100) as usize;
    let start = opt_str(m, "ExclusiveStartShardId")?;
    let d = api.engine.describe_stream(&name)?;
    let shards: Vec<_> = d
        .shards
        .iter()
        .filter(|s| start.is_none_or(|start| s.shard_id.as_str() > start))
        .collect();
    let page: Vec<Value> = shards.iter().take(limit).map(|s| shard_value(s)).collect();
    let description = Map::new()
        .with("StreamName", d.name.as_str())
        .with("StreamARN", d.arn.as_str())
        .with("StreamStatus", d.status.name())
        .with("StreamModeDetails", mode_details(d.mode))
        .with("Shards", Value::List(page))
        .with("HasMoreShards", shards.len() > limit)
        .with("RetentionPeriodHours", d.retention_hours)
        .with(
            "StreamCreationTimestamp",
            Value::Timestamp(d.created_ms as i64),
        )
        .with(
            "EnhancedMonitoring",
            enhanced_monitoring(&d.shard_level_metrics),
        )
        .with("EncryptionType", d.encryption_type.name())
        .with_opt("KeyId", d.key_id.as_deref());
    Ok(Map::new().with("StreamDescription", description).into())
}

/// DescribeStreamSummary(StreamName | StreamARN).
pub fn describe_stream_summary(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let s = api.engine.describe_stream_summary(&name)?;
    let summary = Map::new()
        .with("StreamName", s.name.as_str())
        .with("StreamARN", s.arn.as_str())
        .with("StreamStatus", s.status.name())
        .with("StreamModeDetails", mode_details(s.mode))
        .with("RetentionPeriodHours", s.retention_hours)
        .with(
            "StreamCreationTimestamp",
            Value::Timestamp(s.created_ms as i64),
        )
        .with(
            "EnhancedMonitoring",
            enhanced_monitoring(&s.shard_level_metrics),
        )
        .with("EncryptionType", s.encryption_type.name())
        .with_opt("KeyId", s.key_id.as_deref())
        .with("OpenShardCount", s.open_shard_count)
        .with("ConsumerCount", s.consumer_count)
        .with_opt(
            "QueueCount",
            (s.mode == StreamMode::OnDemand).then_some(s.queue_count),
        )
        .with("MaxRecordSizeInKiB", s.max_record_size_kib)
        .with_opt("WarmThroughput", s.warm_throughput.as_ref().map(warm_value))
        .with_opt(
            "ChannelCount",
            api.firehose.as_ref().and_then(|f| f.channel_count(&s.name)),
        )
        // AWS shows the strategy for ON_DEMAND streams only.
        .with_opt(
            "RecordDistributionStrategy",
            (s.mode == StreamMode::OnDemand).then(|| s.record_distribution.name()),
        );
    Ok(Map::new().with("StreamDescriptionSummary", summary).into())
}

/// ListStreams(Limit, ExclusiveStartStreamName, NextToken).
pub fn list_streams(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let limit = opt_int_in(m, "Limit", 1, 10_000)?.unwrap_or(100) as usize;
    let mut start = opt_str(m, "ExclusiveStartStreamName")?.map(str::to_string);
    if let Some(token) = opt_str(m, "NextToken")? {
        let payload = decode_token(token, now_ms(api))?;
        let after = payload["after"]
            .as_str()
            .ok_or_else(|| ApiError::invalid_argument("Invalid NextToken"))?;
        start = Some(after.to_string());
    }
    let out = api.engine.list_streams(Some(limit), start.as_deref())?;
    let mut summaries = Vec::with_capacity(out.names.len());
    for name in &out.names {
        let Ok(s) = api.engine.describe_stream_summary(name) else {
            continue; // deleted meanwhile
        };
        summaries.push(
            Map::new()
                .with("StreamName", name.as_str())
                .with("StreamARN", s.arn.as_str())
                .with("StreamStatus", s.status.name())
                .with("StreamModeDetails", mode_details(s.mode))
                .with(
                    "StreamCreationTimestamp",
                    Value::Timestamp(s.created_ms as i64),
                )
                .into(),
        );
    }
    let next = (out.has_more && !out.names.is_empty()).then(|| {
        encode_token(
            serde_json::json!({ "after": out.names.last() }),
            now_ms(api),
        )
    });
    Ok(Map::new()
        .with(
            "StreamNames",
            Value::List(out.names.iter().map(|n| n.as_str().into()).collect()),
        )
        .with("HasMoreStreams", out.has_more)
        .with("StreamSummaries", Value::List(summaries))
        .with_opt("NextToken", next)
        .into())
}

fn shard_filter(m: &Map) -> Result<(ShardFilter, serde_json::Value), ApiError> {
    let kind = req_str(m, "Type")?;
    Ok(match kind {
        "AT_TRIM_HORIZON" | "FROM_TRIM_HORIZON" => {
            (ShardFilter::AtTrimHorizon, serde_json::json!({ "k": kind }))
        }
        "AT_LATEST" => (ShardFilter::AtLatest, serde_json::json!({ "k": kind })),
        "AT_TIMESTAMP" => {
            let ts = opt_timestamp_ms(m, "Timestamp")?.ok_or_else(|| {
                ApiError::invalid_argument("ShardFilter AT_TIMESTAMP needs a Timestamp")
            })?;
            (
                ShardFilter::AtTimestamp(ts),
                serde_json::json!({ "k": kind, "ts": ts }),
            )
        }
        "AFTER_SHARD_ID" => {
            let id = opt_str(m, "ShardId")?.ok_or_else(|| {
                ApiError::invalid_argument("ShardFilter AFTER_SHARD_ID needs a ShardId")
            })?;
            let index = shard_index(id, "ShardFilter.ShardId")?;
            (
                ShardFilter::AfterShardId(index),
                serde_json::json!({ "k": kind, "after": index }),
            )
        }
        "FROM_TIMESTAMP" => {
            let ts = opt_timestamp_ms(m, "Timestamp")?.ok_or_else(|| {
                ApiError::invalid_argument("ShardFilter FROM_TIMESTAMP needs a Timestamp")
            })?;
            (
                ShardFilter::FromTimestamp(ts),
                serde_json::json!({ "k": kind, "ts": ts }),
            )
        }
        other => {
            return Err(constraint(
                "ShardFilter.Type",
                other,
                "Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, \
                 FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]",
            ));
        }
    })
}

fn filter_from_token(v: &serde_json::Value) -> Option<ShardFilter> {
    Some(match v["k"].as_str()? {
        "ALL" => ShardFilter::All,
        "AT_TRIM_HORIZON" | "FROM_TRIM_HORIZON" => ShardFilter::AtTrimHorizon,
        "AT_LATEST" => ShardFilter::AtLatest,
        "AT_TIMESTAMP" => ShardFilter::AtTimestamp(v["ts"].as_u64()?),
        "FROM_TIMESTAMP" => ShardFilter::FromTimestamp(v["ts"].as_u64()?),
        "AFTER_SHARD_ID" => ShardFilter::AfterShardId(u32::try_from(v["after"].as_u64()?).ok()?),
        _ => return None,
    })
}

/// A shard id's index; a well-formed id past every index sorts after them all.
fn shard_index(id: &str, member: &str) -> Result<u32, ApiError> {
    if let Some(index) = parse_shard_id(id) {
        return Ok(index);
    }
    let digits = id.strip_prefix("shardId-").unwrap_or("");
    if digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(u32::MAX);
    }
    Err(constraint(
        member,
        id,
        "Member must satisfy regular expression pattern: shardId-[0-9]{12}",
    ))
}

/// ListShards(StreamName | StreamARN | NextToken, ExclusiveStartShardId, MaxResults,
/// StreamCreationTimestamp, ShardFilter).
pub fn list_shards(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let limit = opt_int_in(m, "MaxResults", 1, 10_000)?.unwrap_or(1000) as usize;
    opt_timestamp_ms(m, "StreamCreationTimestamp")?; // a name names one stream here
    let (name, after, filter, filter_token) = if let Some(token) = opt_str(m, "NextToken")? {
        if m.get("StreamName").is_some()
            || m.get("StreamARN").is_some()
            || m.get("ExclusiveStartShardId").is_some()
        {
            return Err(ApiError::invalid_argument(
                "NextToken cannot be combined with StreamName, StreamARN or ExclusiveStartShardId",
            ));
        }
        let p = decode_token(token, now_ms(api))?;
        let invalid = || ApiError::invalid_argument("Invalid NextToken");
        let name = p["stream"].as_str().ok_or_else(invalid)?.to_string();
        let after =
            u32::try_from(p["after"].as_u64().ok_or_else(invalid)?).map_err(|_| invalid())?;
        let filter = filter_from_token(&p["filter"]).ok_or_else(invalid)?;
        (name, Some(after), filter, p["filter"].clone())
    } else {
        let name = stream_name(api, m)?;
        let after = opt_str(m, "ExclusiveStartShardId")?
            .map(|id| shard_index(id, "ExclusiveStartShardId"))
            .transpose()?;
        let (filter, token) = match opt_map(m, "ShardFilter")? {
            Some(f) => shard_filter(f)?,
            None => (ShardFilter::All, serde_json::json!({ "k": "ALL" })),
        };
        (name, after, filter, token)
    };
    let shards = api.engine.list_shards(&name, filter)?;
    let shards: Vec<_> = shards
        .iter()
        .filter(|s| after.is_none_or(|a| parse_shard_id(&s.shard_id).is_some_and(|i| i > a)))
        .collect();
    let page: Vec<Value> = shards.iter().take(limit).map(|s| shard_value(s)).collect();
    let next = (shards.len() > limit).then(|| {
        let last = parse_shard_id(&shards[limit - 1].shard_id).unwrap_or(u32::MAX);
        encode_token(
            serde_json::json!({ "stream": name, "after": last, "filter": filter_token }),
            now_ms(api),
        )
    });
    Ok(Map::new()
        .with("Shards", Value::List(page))
        .with_opt("NextToken", next)
        .into())
}

fn retention_hours(m: &Map) -> Result<u32, ApiError> {
    Ok(req_int_in(m, "RetentionPeriodHours", 1, 8760)? as u32)
}

/// IncreaseStreamRetentionPeriod(StreamName | StreamARN, RetentionPeriodHours).
pub fn increase_retention(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    api.engine
        .increase_stream_retention_period(&name, retention_hours(m)?)?;
    ok()
}

/// DecreaseStreamRetentionPeriod(StreamName | StreamARN, RetentionPeriodHours).
pub fn decrease_retention(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    api.engine
        .decrease_stream_retention_period(&name, retention_hours(m)?)?;
    ok()
}

/// SplitShard(StreamName | StreamARN, ShardToSplit, NewStartingHashKey).
pub fn split_shard(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let shard = req_str(m, "ShardToSplit")?;
    let key = req_str(m, "NewStartingHashKey")?;
    api.engine.split_shard(&name, shard, key)?;
    ok()
}

/// MergeShards(StreamName | StreamARN, ShardToMerge, AdjacentShardToMerge).
pub fn merge_shards(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let a = req_str(m, "ShardToMerge")?;
    let b = req_str(m, "AdjacentShardToMerge")?;
    api.engine.merge_shards(&name, a, b)?;
    ok()
}

/// UpdateShardCount(StreamName | StreamARN, TargetShardCount, ScalingType).
pub fn update_shard_count(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let target = req_int_in(m, "TargetShardCount", 1, i64::from(u32::MAX))? as u32;
    let scaling = req_str(m, "ScalingType")?;
    let out = api.engine.update_shard_count(&name, target, scaling)?;
    Ok(Map::new()
        .with("StreamName", name.as_str())
        .with("CurrentShardCount", out.current_shard_count)
        .with("TargetShardCount", out.target_shard_count)
        .with("StreamARN", api.engine.stream_arn(&name))
        .into())
}

/// AddTagsToStream(StreamName | StreamARN, Tags).
pub fn add_tags_to_stream(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let tags = tags_map(m, "Tags")?.ok_or_else(|| crate::api::input::missing("Tags"))?;
    api.engine.add_tags_to_stream(&name, &tags)?;
    ok()
}

/// RemoveTagsFromStream(StreamName | StreamARN, TagKeys).
pub fn remove_tags_from_stream(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let keys = req_list(m, "TagKeys")?
        .iter()
        .map(|k| match k {
            Value::Str(s) => Ok(s.clone()),
            other => Err(ApiError::serialization(format!(
                "TagKeys members must be strings, not {}",
                other.type_name()
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    api.engine.remove_tags_from_stream(&name, &keys)?;
    ok()
}

/// ListTagsForStream(StreamName | StreamARN, ExclusiveStartTagKey, Limit).
pub fn list_tags_for_stream(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let limit = opt_int_in(m, "Limit", 1, 50)?.unwrap_or(50) as usize;
    let start = opt_str(m, "ExclusiveStartTagKey")?;
    let tags = api.engine.list_tags_for_stream(&name)?;
    let tags: Vec<_> = tags
        .iter()
        .filter(|(k, _)| start.is_none_or(|s| k.as_str() > s))
        .collect();
    let page = tags
        .iter()
        .take(limit)
        .map(|(k, v)| {
            Map::new()
                .with("Key", k.as_str())
                .with("Value", v.as_str())
                .into()
        })
        .collect();
    Ok(Map::new()
        .with("Tags", Value::List(page))
        .with("HasMoreTags", tags.len() > limit)
        .into())
}
