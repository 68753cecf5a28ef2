//! Kinesis queues: CreateQueue, DeleteQueue, DescribeQueue, ListQueues, UpdateQueue,
//! ReceiveQueueRecords, AcknowledgeQueueRecords, UpdateQueueRecordsVisibility,
//! ReceiveDeadLetterQueueRecords, AcknowledgeDeadLetterQueueRecords,
//! RestoreDeadLetterQueueRecords and UpdateDeadLetterQueueRecordsVisibility, over the
//! engine's queues (`core/src/engine/queues.rs`). Members, bounds and defaults follow
//! botocore's model: WaitTimeSeconds 1 to 20 (default 9), Limit 1 to 10, up to 10
//! entries per batch call with per-entry Successful and Failed lists.
#![forbid(unsafe_code)]

use std::time::Duration;

use bytes::Bytes;
use tidelog::engine::{
    CreateQueueOptions, DeadLetterConfig, QueueAttributes, QueueBatchOutput, QueueDescription,
    QueueRecord, QueueStreamFilter, ReceiveOptions, VisibilityEntry,
};
use tidelog::queue::QueueStart;

use super::streams::tags_map;
use super::{decode_token, encode_token};
use crate::api::input::{
    constraint, missing, opt_int_in, opt_map, opt_str, opt_timestamp_ms, req_int_in, req_list,
    req_str, structure,
};
use crate::api::{Api, ApiError};
use crate::wire::{Map, Value};

/// ReceiveQueueRecords' WaitTimeSeconds when none is given (the model's default).
const WAIT_TIME_DEFAULT_S: i64 = 9;

fn attributes_value(d: &QueueDescription) -> Value {
    let dead_letter = match d.dead_letter {
        DeadLetterConfig::BuiltIn { max_receive_count } => Map::new()
            .with("TargetType", "BUILT_IN")
            .with("MaxReceiveCount", max_receive_count),
        DeadLetterConfig::Disabled => Map::new().with("TargetType", "NONE"),
    };
    Map::new()
        .with("VisibilityTimeoutSeconds", d.visibility_timeout_s)
        .with("DeadLetterConfiguration", dead_letter)
        .into()
}

fn description_value(d: &QueueDescription) -> Value {
    let position = Map::new().with("Type", d.start.type_name()).with_opt(
        "Timestamp",
        d.start_timestamp_ms.map(|ms| Value::Timestamp(ms as i64)),
    );
    let stream = Map::new()
        .with("StreamARN", d.stream_arn.as_str())
        .with("StartingPosition", position);
    Map::new()
        .with("QueueName", d.name.as_str())
        .with("QueueARN", d.arn.as_str())
        .with("QueueStatus", d.status.name())
        .with(
            "QueueCreationTimestamp",
            Value::Timestamp(d.created_ms as i64),
        )
        .with("StreamConfigurationList", Value::List(vec![stream.into()]))
        .with("QueueAttributes", attributes_value(d))
        .into()
}

fn summary_value(d: &QueueDescription) -> Value {
    let stream = Map::new().with("StreamARN", d.stream_arn.as_str()).with(
        "StreamCreationTimestamp",
        Value::Timestamp(d.stream_created_ms as i64),
    );
    Map::new()
        .with("QueueName", d.name.as_str())
        .with("QueueARN", d.arn.as_str())
        .with("QueueStatus", d.status.name())
        .with(
            "QueueCreationTimestamp",
            Value::Timestamp(d.created_ms as i64),
        )
        .with("Streams", Value::List(vec![stream.into()]))
        .into()
}

fn describe(d: &QueueDescription) -> Value {
    Map::new()
        .with("QueueDescription", description_value(d))
        .into()
}

/// QueueAttributes (absent: all defaults / unchanged).
fn attributes(m: &Map) -> Result<QueueAttributes, ApiError> {
    let Some(a) = opt_map(m, "QueueAttributes")? else {
        return Ok(QueueAttributes::default());
    };
    let visibility_timeout_s = opt_int_in(a, "VisibilityTimeoutSeconds", 0, 43_200)?;
    let dead_letter = match opt_map(a, "DeadLetterConfiguration")? {
        None => None,
        Some(d) => {
            let max = opt_int_in(d, "MaxReceiveCount", 1, 1000)?;
            Some(match (req_str(d, "TargetType")?, max) {
                ("BUILT_IN", Some(n)) => DeadLetterConfig::BuiltIn {
                    max_receive_count: n as u32,
                },
                ("BUILT_IN", None) => {
                    return Err(ApiError::validation(
                        "DeadLetterConfiguration with TargetType BUILT_IN requires MaxReceiveCount",
                    ));
                }
                ("NONE", None) => DeadLetterConfig::Disabled,
                ("NONE", Some(_)) => {
                    return Err(ApiError::validation(
                        "MaxReceiveCount is only valid with TargetType BUILT_IN",
                    ));
                }
                (other, _) => {
                    return Err(constraint(
                        "TargetType",
                        other,
                        "Member must satisfy enum value set: [BUILT_IN, NONE]",
                    ));
                }
            })
        }
    };
    Ok(QueueAttributes {
        visibility_timeout_s: visibility_timeout_s.map(|v| v as u32),
        dead_letter,
    })
}

/// CreateQueue(QueueName, StreamConfigurationList, QueueAttributes, Tags).
pub fn create_queue(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = req_str(m, "QueueName")?;
    let streams = req_list(m, "StreamConfigurationList")?;
    if streams.len() != 1 {
        return Err(ApiError::validation(format!(
            "StreamConfigurationList must contain exactly one entry; {} given",
            streams.len()
        )));
    }
    let config = structure(&streams[0], "StreamConfigurationList")?;
    let stream_arn = req_str(config, "StreamARN")?;
    let start = match opt_map(config, "StartingPosition")? {
        None => QueueStart::Latest,
        Some(p) => {
            let ts = opt_timestamp_ms(p, "Timestamp")?;
            match (req_str(p, "Type")?, ts) {
                ("AT_TIMESTAMP", Some(ts)) => QueueStart::AtTimestamp(ts),
                ("AT_TIMESTAMP", None) => return Err(missing("Timestamp")),
                ("LATEST" | "TRIM_HORIZON", Some(_)) => {
                    return Err(ApiError::validation(
                        "StartingPosition.Timestamp is only valid with Type AT_TIMESTAMP",
                    ));
                }
                ("LATEST", None) => QueueStart::Latest,
                ("TRIM_HORIZON", None) => QueueStart::TrimHorizon,
                (other, _) => {
                    return Err(constraint(
                        "Type",
                        other,
                        "Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
                    ));
                }
            }
        }
    };
    let options = CreateQueueOptions {
        stream_arn: stream_arn.to_string(),
        start,
        attributes: attributes(m)?,
        tags: tags_map(m, "Tags")?.unwrap_or_default(),
    };
    Ok(describe(&api.engine.create_queue(name, options)?))
}

/// DeleteQueue(QueueARN).
pub fn delete_queue(api: &Api, m: &Map) -> Result<Value, ApiError> {
    api.engine.delete_queue(req_str(m, "QueueARN")?)?;
    Ok(Map::new().into())
}

/// DescribeQueue(QueueARN).
pub fn describe_queue(api: &Api, m: &Map) -> Result<Value, ApiError> {
    Ok(describe(
        &api.engine.describe_queue(req_str(m, "QueueARN")?)?,
    ))
}

/// UpdateQueue(QueueARN, QueueAttributes).
pub fn update_queue(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let arn = req_str(m, "QueueARN")?;
    if opt_map(m, "QueueAttributes")?.is_none() {
        return Err(missing("QueueAttributes"));
    }
    Ok(describe(&api.engine.update_queue(arn, attributes(m)?)?))
}

/// ListQueues(MaxResults, NextToken, StreamFilter).
pub fn list_queues(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let limit = opt_int_in(m, "MaxResults", 1, 10_000)?.unwrap_or(100) as usize;
    let now_ms = api.engine.config().clock.now_ms();
    let mut filters = Vec::new();
    if let Some(list) = crate::api::input::opt_list(m, "StreamFilter")? {
        if list.is_empty() || list.len() > 10_000 {
            return Err(ApiError::validation(format!(
                "StreamFilter takes 1 to 10000 entries; {} given",
                list.len()
            )));
        }
        for f in list {
            let f = structure(f, "StreamFilter")?;
            filters.push(QueueStreamFilter {
                stream_arn: req_str(f, "StreamARN")?.to_string(),
                stream_created_ms: opt_timestamp_ms(f, "StreamCreationTimestamp")?,
            });
        }
    }
    let after = match opt_str(m, "NextToken")? {
        Some(token) => {
            let p = decode_token(token, now_ms)?;
            match p["after_queue"].as_str() {
                Some(after) => Some(after.to_string()),
                None => return Err(ApiError::invalid_argument("Invalid NextToken")),
            }
        }
        None => None,
    };
    let out = api
        .engine
        .list_queues(Some(limit), after.as_deref(), &filters)?;
    let next = (out.has_more && !out.queues.is_empty()).then(|| {
        let last = out.queues.last().map(|q| q.name.as_str());
        encode_token(serde_json::json!({ "after_queue": last }), now_ms)
    });
    Ok(Map::new()
        .with(
            "QueueSummaries",
            Value::List(out.queues.iter().map(summary_value).collect()),
        )
        .with_opt("NextToken", next)
        .into())
}

fn record_value(r: QueueRecord) -> Value {
    Map::new()
        .with("ReceiptHandle", r.receipt_handle)
        .with("RecordId", r.record_id)
        .with("PartitionKey", r.partition_key)
        .with("Data", Value::Bytes(Bytes::from(r.data)))
        .with(
            "ApproximateArrivalTimestamp",
            Value::Timestamp(r.arrival_ms as i64),
        )
        .with(
            "FirstReceiveTimestamp",
            Value::Timestamp(r.first_receive_ms as i64),
        )
        .with("ReceiveCount", r.receive_count)
        .into()
}

fn receive_options(m: &Map) -> Result<ReceiveOptions, ApiError> {
    Ok(ReceiveOptions {
        limit: opt_int_in(m, "Limit", 1, 10)?.map(|n| n as usize),
        wait: Duration::from_secs(
            opt_int_in(m, "WaitTimeSeconds", 1, 20)?.unwrap_or(WAIT_TIME_DEFAULT_S) as u64,
        ),
        visibility_timeout_s: opt_int_in(m, "VisibilityTimeoutSeconds", 0, 43_200)?
            .map(|v| v as u32),
    })
}

/// ReceiveQueueRecords(QueueARN, Limit, WaitTimeSeconds, VisibilityTimeoutSeconds).
pub fn receive_queue_records(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let arn = req_str(m, "QueueARN")?;
    let records = api.engine.receive_queue_records(arn, receive_options(m)?)?;
    Ok(Map::new()
        .with(
            "QueueRecords",
            Value::List(records.into_iter().map(record_value).collect()),
        )
        .into())
}

/// ReceiveDeadLetterQueueRecords(QueueARN, Limit, WaitTimeSeconds,
/// VisibilityTimeoutSeconds).
pub fn receive_dead_letter_queue_records(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let arn = req_str(m, "QueueARN")?;
    let records = api
        .engine
        .receive_dead_letter_queue_records(arn, receive_options(m)?)?;
    Ok(Map::new()
        .with(
            "QueueRecords",
            Value::List(records.into_iter().map(record_value).collect()),
        )
        .into())
}

/// The Entries member: 1 to 10 structures.
fn entries(m: &Map) -> Result<Vec<&Map>, ApiError> {
    let list = req_list(m, "Entries")?;
    if list.is_empty() || list.len() > 10 {
        return Err(constraint(
            "Entries",
            format!("{} entries", list.len()),
            "Member must have length between 1 and 10",
        ));
    }
    list.iter().map(|e| structure(e, "Entries")).collect()
}

fn handles(m: &Map) -> Result<Vec<String>, ApiError> {
    entries(m)?
        .into_iter()
        .map(|e| req_str(e, "ReceiptHandle").map(str::to_string))
        .collect()
}

fn visibility_entries(m: &Map) -> Result<Vec<VisibilityEntry>, ApiError> {
    entries(m)?
        .into_iter()
        .map(|e| {
            Ok(VisibilityEntry {
                receipt_handle: req_str(e, "ReceiptHandle")?.to_string(),
                visibility_timeout_s: req_int_in(e, "VisibilityTimeoutSeconds", 0, 43_200)? as u32,
            })
        })
        .collect()
}

fn batch_value(out: QueueBatchOutput) -> Value {
    Map::new()
        .with(
            "Successful",
            Value::List(
                out.successful
                    .into_iter()
                    .map(|h| Map::new().with("ReceiptHandle", h).into())
                    .collect(),
            ),
        )
        .with(
            "Failed",
            Value::List(
                out.failed
                    .into_iter()
                    .map(|f| {
                        Map::new()
                            .with("ReceiptHandle", f.receipt_handle)
                            .with("ErrorCode", f.kind.kinesis_name())
                            .with("ErrorMessage", f.message)
                            .into()
                    })
                    .collect(),
            ),
        )
        .into()
}

/// AcknowledgeQueueRecords(QueueARN, Entries).
pub fn acknowledge_queue_records(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let arn = req_str(m, "QueueARN")?;
    let handles = handles(m)?;
    Ok(batch_value(
        api.engine.acknowledge_queue_records(arn, &handles)?,
    ))
}

/// AcknowledgeDeadLetterQueueRecords(QueueARN, Entries).
pub fn acknowledge_dead_letter_queue_records(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let arn = req_str(m, "QueueARN")?;
    let handles = handles(m)?;
    Ok(batch_value(
        api.engine
            .acknowledge_dead_letter_queue_records(arn, &handles)?,
    ))
}

/// RestoreDeadLetterQueueRecords(QueueARN, Entries).
pub fn restore_dead_letter_queue_records(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let arn = req_str(m, "QueueARN")?;
    let handles = handles(m)?;
    Ok(batch_value(
        api.engine
            .restore_dead_letter_queue_records(arn, &handles)?,
    ))
}

/// UpdateQueueRecordsVisibility(QueueARN, Entries).
pub fn update_queue_records_visibility(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let arn = req_str(m, "QueueARN")?;
    let entries = visibility_entries(m)?;
    Ok(batch_value(
        api.engine.update_queue_records_visibility(arn, &entries)?,
    ))
}

/// UpdateDeadLetterQueueRecordsVisibility(QueueARN, Entries).
pub fn update_dead_letter_queue_records_visibility(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let arn = req_str(m, "QueueARN")?;
    let entries = visibility_entries(m)?;
    Ok(batch_value(
        api.engine
            .update_dead_letter_queue_records_visibility(arn, &entries)?,
    ))
}
