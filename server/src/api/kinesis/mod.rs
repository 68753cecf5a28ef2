//! The Kinesis Data Streams operations (`Kinesis_20131202.*`): the dispatch table (all
//! 57 operations of botocore's model: the engine's 52 and the 5 channel operations, which
//! run on Firehose: docs/kinesis-api.md) and what the handlers share
//! (stream names from names or ARNs, shard shapes, pagination tokens). Handlers by
//! theme: `streams.rs` (administration, shards, stream tags), `records.rs` (puts and
//! reads), `consumers.rs` (enhanced fan-out consumers), `queues.rs` (queues and their
//! dead letters), `subscribe.rs`
//! (SubscribeToShard), `resources.rs` (tags and policies by ARN), `capacity.rs`
//! (limits, monitoring, encryption, modes, record size, warm throughput, account,
//! record distribution), `channels.rs` (channels, forwarded to Firehose).
#![forbid(unsafe_code)]

pub mod capacity;
pub mod channels;
pub mod consumers;
pub mod queues;
pub mod records;
pub mod resources;
pub mod streams;
pub mod subscribe;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN_B64;
use tidelog::engine::{ChildShard, ShardDescription};

use super::input::{self, opt_str};
use super::{Api, ApiError, Operation, Run};
use crate::wire::{Map, Value};

/// Every Kinesis operation this server answers: the 52 of the engine and the 5 of
/// channels (docs/kinesis-api.md), one entry each, in name order.
pub static OPERATIONS: &[Operation] = &[
    op(
        "AcknowledgeDeadLetterQueueRecords",
        Run::Blocking(queues::acknowledge_dead_letter_queue_records),
    ),
    op(
        "AcknowledgeQueueRecords",
        Run::Blocking(queues::acknowledge_queue_records),
    ),
    op(
        "AddTagsToStream",
        Run::Blocking(streams::add_tags_to_stream),
    ),
    op("CreateChannel", Run::Blocking(channels::create_channel)),
    op("CreateQueue", Run::Blocking(queues::create_queue)),
    op("CreateStream", Run::Blocking(streams::create_stream)),
    op(
        "DecreaseStreamRetentionPeriod",
        Run::Blocking(streams::decrease_retention),
    ),
    op("DeleteChannel", Run::Blocking(channels::delete_channel)),
    op("DeleteQueue", Run::Blocking(queues::delete_queue)),
    op(
        "DeleteResourcePolicy",
        Run::Blocking(resources::delete_resource_policy),
    ),
    op("DeleteStream", Run::Blocking(streams::delete_stream)),
    op(
        "DeregisterStreamConsumer",
        Run::Blocking(consumers::deregister_stream_consumer),
    ),
    op(
        "DescribeAccountSettings",
        Run::Inline(capacity::describe_account_settings),
    ),
    op("DescribeChannel", Run::Inline(channels::describe_channel)),
    op("DescribeLimits", Run::Inline(capacity::describe_limits)),
    op("DescribeQueue", Run::Inline(queues::describe_queue)),
    op("DescribeStream", Run::Inline(streams::describe_stream)),
    op(
        "DescribeStreamConsumer",
        Run::Inline(consumers::describe_stream_consumer),
    ),
    op(
        "DescribeStreamSummary",
        Run::Inline(streams::describe_stream_summary),
    ),
    op(
        "DisableEnhancedMonitoring",
        Run::Blocking(capacity::disable_enhanced_monitoring),
    ),
    op(
        "EnableEnhancedMonitoring",
        Run::Blocking(capacity::enable_enhanced_monitoring),
    ),
    op("GetRecords", Run::Inline(records::get_records)),
    op(
        "GetResourcePolicy",
        Run::Inline(resources::get_resource_policy),
    ),
    op("GetShardIterator", Run::Inline(records::get_shard_iterator)),
    op(
        "IncreaseStreamRetentionPeriod",
        Run::Blocking(streams::increase_retention),
    ),
    op("ListChannels", Run::Inline(channels::list_channels)),
    op("ListQueues", Run::Inline(queues::list_queues)),
    op("ListShards", Run::Inline(streams::list_shards)),
    op(
        "ListStreamConsumers",
        Run::Inline(consumers::list_stream_consumers),
    ),
    op("ListStreams", Run::Inline(streams::list_streams)),
    op(
        "ListTagsForResource",
        Run::Inline(resources::list_tags_for_resource),
    ),
    op(
        "ListTagsForStream",
        Run::Inline(streams::list_tags_for_stream),
    ),
    op("MergeShards", Run::Blocking(streams::merge_shards)),
    op("PutRecord", Run::Async(records::put_record)),
    op("PutRecords", Run::Blocking(records::put_records)),
    op(
        "PutResourcePolicy",
        Run::Blocking(resources::put_resource_policy),
    ),
    op(
        "ReceiveDeadLetterQueueRecords",
        Run::Blocking(queues::receive_dead_letter_queue_records),
    ),
    op(
        "ReceiveQueueRecords",
        Run::Blocking(queues::receive_queue_records),
    ),
    op(
        "RegisterStreamConsumer",
        Run::Blocking(consumers::register_stream_consumer),
    ),
    op(
        "RemoveTagsFromStream",
        Run::Blocking(streams::remove_tags_from_stream),
    ),
    op(
        "RestoreDeadLetterQueueRecords",
        Run::Blocking(queues::restore_dead_letter_queue_records),
    ),
    op("SplitShard", Run::Blocking(streams::split_shard)),
    op(
        "StartStreamEncryption",
        Run::Blocking(capacity::start_stream_encryption),
    ),
    op(
        "StopStreamEncryption",
        Run::Blocking(capacity::stop_stream_encryption),
    ),
    op(
        "SubscribeToShard",
        Run::Stream(subscribe::subscribe_to_shard),
    ),
    op("TagResource", Run::Blocking(resources::tag_resource)),
    op("UntagResource", Run::Blocking(resources::untag_resource)),
    op(
        "UpdateAccountSettings",
        Run::Blocking(capacity::update_account_settings),
    ),
    op("UpdateChannel", Run::Blocking(channels::update_channel)),
    op(
        "UpdateDeadLetterQueueRecordsVisibility",
        Run::Blocking(queues::update_dead_letter_queue_records_visibility),
    ),
    op(
        "UpdateMaxRecordSize",
        Run::Blocking(capacity::update_max_record_size),
    ),
    op("UpdateQueue", Run::Blocking(queues::update_queue)),
    op(
        "UpdateQueueRecordsVisibility",
        Run::Blocking(queues::update_queue_records_visibility),
    ),
    op(
        "UpdateShardCount",
        Run::Blocking(streams::update_shard_count),
    ),
    op(
        "UpdateStreamMode",
        Run::Blocking(capacity::update_stream_mode),
    ),
    op(
        "UpdateStreamRecordDistributionStrategy",
        Run::Blocking(capacity::update_stream_record_distribution),
    ),
    op(
        "UpdateStreamWarmThroughput",
        Run::Blocking(capacity::update_stream_warm_throughput),
    ),
];

const fn op(name: &'static str, run: Run) -> Operation {
    Operation { name, run }
}

/// The stream a request names, by `StreamName` or `StreamARN` (both must agree; an
/// ARN of another account or region names no stream here).
pub fn stream_name(api: &Api, m: &Map) -> Result<String, ApiError> {
    let name = opt_str(m, "StreamName")?;
    let arn = opt_str(m, "StreamARN")?;
    let from_arn = arn.map(|a| api.engine.resolve_stream_arn(a)).transpose()?;
    match (name, from_arn) {
        (Some(n), Some(a)) if n != a => Err(ApiError::invalid_argument(format!(
            "StreamName {n:?} and StreamARN {:?} name different streams",
            arn.unwrap_or_default()
        ))),
        (Some(n), _) => Ok(n.to_string()),
        (None, Some(a)) => Ok(a),
        (None, None) => Err(ApiError::validation(
            "Either StreamName or StreamARN must be provided",
        )),
    }
}

/// A list member of strings (`TagKeys`, `ShardLevelMetrics`).
pub fn string_list(m: &Map, member: &str) -> Result<Vec<String>, ApiError> {
    input::req_list(m, member)?
        .iter()
        .map(|k| match k {
            Value::Str(s) => Ok(s.clone()),
            other => Err(ApiError::serialization(format!(
                "{member} members must be strings, not {}",
                other.type_name()
            ))),
        })
        .collect()
}

/// A decimal sequence number.
pub fn parse_sequence(text: &str, member: &str) -> Result<u128, ApiError> {
    let ok = !text.is_empty() && text.len() <= 39 && text.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| text.parse::<u128>().ok())
        .flatten()
        .ok_or_else(|| {
            input::constraint(
                member,
                text,
                "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})",
            )
        })
}

fn hash_range(start: u128, end: u128) -> Value {
    Map::new()
        .with("StartingHashKey", start.to_string())
        .with("EndingHashKey", end.to_string())
        .into()
}

/// A shard as DescribeStream and ListShards show it (members AWS omits are omitted).
pub fn shard_value(s: &ShardDescription) -> Value {
    let seq = Map::new()
        .with(
            "StartingSequenceNumber",
            s.starting_sequence_number.to_string(),
        )
        .with_opt(
            "EndingSequenceNumber",
            s.ending_sequence_number.map(|n| n.to_string()),
        );
    Map::new()
        .with("ShardId", s.shard_id.as_str())
        .with_opt("ParentShardId", s.parent_shard_id.as_deref())
        .with_opt(
            "AdjacentParentShardId",
            s.adjacent_parent_shard_id.as_deref(),
        )
        .with(
            "HashKeyRange",
            hash_range(s.hash_range.start, s.hash_range.end),
        )
        .with("SequenceNumberRange", seq)
        .into()
}

/// A child shard as GetRecords and SubscribeToShard show it.
pub fn child_value(c: &ChildShard) -> Value {
    Map::new()
        .with("ShardId", c.shard_id.as_str())
        .with(
            "ParentShards",
            Value::List(c.parent_shards.iter().map(|p| p.as_str().into()).collect()),
        )
        .with(
            "HashKeyRange",
            hash_range(c.hash_range.start, c.hash_range.end),
        )
        .into()
}

/// How long a pagination token stays valid (AWS: 300 s).
pub const NEXT_TOKEN_LIFETIME_MS: u64 = 300_000;

/// A pagination token: the JSON of `payload` plus its issue time, base64url.
pub fn encode_token(payload: serde_json::Value, now_ms: u64) -> String {
    let body = serde_json::json!({ "p": payload, "t": now_ms });
    TOKEN_B64.encode(body.to_string())
}

/// A token's payload, if it is well formed and not expired.
pub fn decode_token(token: &str, now_ms: u64) -> Result<serde_json::Value, ApiError> {
    let invalid = || ApiError::invalid_argument(format!("Invalid NextToken {token:?}"));
    let bytes = TOKEN_B64.decode(token).map_err(|_| invalid())?;
    let mut body: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let issued = body["t"].as_u64().ok_or_else(invalid)?;
    if now_ms.saturating_sub(issued) > NEXT_TOKEN_LIFETIME_MS {
        return Err(ApiError::new(
            "ExpiredNextTokenException",
            "The NextToken has expired (tokens last 300 seconds)",
        ));
    }
    Ok(body["p"].take())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire() {
        let t = encode_token(serde_json::json!({"after": "a"}), 1_000);
        assert_eq!(decode_token(&t, 2_000).unwrap()["after"], "a");
        assert_eq!(
            decode_token(&t, 1_000 + NEXT_TOKEN_LIFETIME_MS + 1)
                .unwrap_err()
                .code,
            "ExpiredNextTokenException"
        );
        assert_eq!(
            decode_token("!!", 0).unwrap_err().code,
            "InvalidArgumentException"
        );
    }

    #[test]
    fn sequence_numbers() {
        assert_eq!(parse_sequence("42", "X").unwrap(), 42);
        for bad in [
            "",
            "-1",
            "1e3",
            "4".repeat(40).as_str(),
            "999999999999999999999999999999999999999",
        ] {
            assert!(parse_sequence(bad, "X").is_err(), "{bad}");
        }
    }
}
