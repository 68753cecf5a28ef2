//! Records in and out: PutRecord (awaited as the engine's future), PutRecords (on the
//! blocking pool: the engine waits for each shard's core), GetShardIterator and
//! GetRecords (they read the mapped log from the calling thread).
#![forbid(unsafe_code)]

use std::sync::Arc;

use bytes::Bytes;
use tidelog::{PutOptions, PutRecordsEntry, StartingPosition};

use super::{child_value, parse_sequence, stream_name};
use crate::api::input::{
    constraint, opt_int_in, opt_str, opt_timestamp_ms, req_blob, req_list, req_str, structure,
};
use crate::api::{Answer, Api, ApiError};
use crate::wire::{Map, Value};

/// PutRecord(StreamName | StreamARN, Data, PartitionKey, ExplicitHashKey,
/// SequenceNumberForOrdering).
pub fn put_record(api: Arc<Api>, m: Map) -> Answer {
    Box::pin(async move {
        let name = stream_name(&api, &m)?;
        let data = req_blob(&m, "Data")?;
        let key = req_str(&m, "PartitionKey")?;
        let options = PutOptions {
            explicit_hash_key: opt_str(&m, "ExplicitHashKey")?,
            sequence_number_for_ordering: opt_str(&m, "SequenceNumberForOrdering")?,
            durability: None,
        };
        // Validation runs now; the future only waits for the owning core.
        let put = api.engine.put_record_async(&name, key, data, options);
        let out = put.await?;
        Ok(Map::new()
            .with("ShardId", out.shard_id)
            .with("SequenceNumber", out.sequence_number.to_string())
            .with("EncryptionType", encryption_name(out.encrypted))
            .into())
    })
}

/// PutRecords(StreamName | StreamARN, Records[{Data, PartitionKey, ExplicitHashKey}]).
pub fn put_records(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let records = req_list(m, "Records")?;
    let mut entries = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let r = structure(r, &format!("Records[{i}]"))?;
        let data: &Bytes = req_blob(r, "Data")?;
        entries.push(PutRecordsEntry {
            partition_key: req_str(r, "PartitionKey")?,
            data,
            explicit_hash_key: opt_str(r, "ExplicitHashKey")?,
        });
    }
    let out = api.engine.put_records(&name, &entries, None)?;
    let encrypted = out
        .records
        .iter()
        .any(|r| r.as_ref().is_ok_and(|p| p.encrypted));
    let results = out
        .records
        .into_iter()
        .map(|r| match r {
            Ok(put) => Map::new()
                .with("SequenceNumber", put.sequence_number.to_string())
                .with("ShardId", put.shard_id)
                .into(),
            Err(e) => {
                let e = ApiError::from(e);
                let code = if e.status >= 500 {
                    "InternalFailure"
                } else {
                    e.code
                };
                Map::new()
                    .with("ErrorCode", code)
                    .with("ErrorMessage", e.message)
                    .into()
            }
        })
        .collect();
    Ok(Map::new()
        .with("FailedRecordCount", out.failed_record_count)
        .with("Records", Value::List(results))
        .with("EncryptionType", encryption_name(encrypted))
        .into())
}

/// A put's or a record's EncryptionType.
pub fn encryption_name(encrypted: bool) -> &'static str {
    if encrypted { "KMS" } else { "NONE" }
}

const ITERATOR_TYPES: &str = "Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, \
                              AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]";

/// A starting position from its Kinesis members (GetShardIterator's, and
/// SubscribeToShard's StartingPosition).
pub fn starting_position(
    kind: &str,
    kind_member: &str,
    sequence: Option<&str>,
    sequence_member: &str,
    timestamp_ms: Option<u64>,
) -> Result<StartingPosition, ApiError> {
    let seq = |what: &str| {
        let text = sequence.ok_or_else(|| {
            ApiError::invalid_argument(format!("{what} needs a {sequence_member}"))
        })?;
        parse_sequence(text, sequence_member)
    };
    Ok(match kind {
        "TRIM_HORIZON" => StartingPosition::TrimHorizon,
        "LATEST" => StartingPosition::Latest,
        "AT_SEQUENCE_NUMBER" => StartingPosition::AtSequenceNumber(seq(kind)?),
        "AFTER_SEQUENCE_NUMBER" => StartingPosition::AfterSequenceNumber(seq(kind)?),
        "AT_TIMESTAMP" => StartingPosition::AtTimestamp(
            timestamp_ms
                .ok_or_else(|| ApiError::invalid_argument("AT_TIMESTAMP needs a Timestamp"))?,
        ),
        other => return Err(constraint(kind_member, other, ITERATOR_TYPES)),
    })
}

/// GetShardIterator(StreamName | StreamARN, ShardId, ShardIteratorType,
/// StartingSequenceNumber, Timestamp).
pub fn get_shard_iterator(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let name = stream_name(api, m)?;
    let shard = req_str(m, "ShardId")?;
    let kind = req_str(m, "ShardIteratorType")?;
    let position = starting_position(
        kind,
        "ShardIteratorType",
        opt_str(m, "StartingSequenceNumber")?,
        "StartingSequenceNumber",
        opt_timestamp_ms(m, "Timestamp")?,
    )?;
    let iterator = api.engine.get_shard_iterator(&name, shard, position)?;
    Ok(Map::new().with("ShardIterator", iterator).into())
}

/// The records of a batch as GetRecords and SubscribeToShard show them (data shared
/// with the mapped log until encoded: no copy here).
pub fn records_value(batch: &tidelog::log::ReadBatch) -> Value {
    let mut out = Vec::with_capacity(batch.len());
    for i in 0..batch.len() {
        let Some(view) = batch.view(i) else { continue };
        let record = view.record();
        out.push(
            Map::new()
                .with("SequenceNumber", record.seq.to_string())
                .with(
                    "ApproximateArrivalTimestamp",
                    Value::Timestamp(record.timestamp_ms as i64),
                )
                .with(
                    "Data",
                    Value::Bytes(Bytes::from_owner(ViewBytes(view.clone()))),
                )
                .with("PartitionKey", record.key_str())
                .with("EncryptionType", encryption_name(record.is_encrypted()))
                .into(),
        );
    }
    Value::List(out)
}

/// A record's data as `Bytes` without a copy: the view keeps the mapping alive.
struct ViewBytes(tidelog::log::RecordView);

impl AsRef<[u8]> for ViewBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.data()
    }
}

/// GetRecords(ShardIterator, Limit, StreamARN).
pub fn get_records(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let iterator = req_str(m, "ShardIterator")?;
    let limit = opt_int_in(m, "Limit", 1, 10_000)?.map(|n| n as usize);
    opt_str(m, "StreamARN")?;
    let out = api.engine.get_records(iterator, limit)?;
    let mut body = Map::new().with("Records", records_value(&out.records));
    match &out.next_shard_iterator {
        Some(next) => body.push("NextShardIterator", next.as_str().into()),
        None => body.push(
            "ChildShards",
            Value::List(out.child_shards.iter().map(child_value).collect()),
        ),
    }
    body.push("MillisBehindLatest", out.millis_behind_latest.into());
    Ok(body.into())
}
