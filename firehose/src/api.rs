//! The JSON entry point: Firehose's operations with AWS's names (`CreateDeliveryStream`,
//! or `Firehose_20150804.CreateDeliveryStream` as the wire's X-Amz-Target says),
//! request and response shapes (JSON 1.1: blobs in base64, timestamps in epoch
//! seconds) and error names. The server, the C ABI and the Python client all go through
//! [`call`].
//!
//! Invariant: every request is checked (unknown members refused, types and ranges
//! checked) before anything changes; every failure is an [`ApiError`] with one of
//! Firehose's exception names, never a panic.
#![forbid(unsafe_code)]

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::firehose::Firehose;
use crate::model::{
    CreateDeliveryStreamInput, DESTINATION_ID, DeliveryStreamRecord, Destination, EncryptionInput,
    Tag, UpdateDestinationInput,
};

/// The target prefix of Firehose's operations on the wire.
pub const TARGET_PREFIX: &str = "Firehose_20150804";

/// Every operation [`call`] serves.
pub const OPERATIONS: &[&str] = &[
    "CreateDeliveryStream",
    "DeleteDeliveryStream",
    "DescribeDeliveryStream",
    "ListDeliveryStreams",
    "PutRecord",
    "PutRecordBatch",
    "UpdateDestination",
    "TagDeliveryStream",
    "UntagDeliveryStream",
    "ListTagsForDeliveryStream",
    "StartDeliveryStreamEncryption",
    "StopDeliveryStreamEncryption",
];

/// The Kinesis channel operations [`call`] also serves (`channel.rs`), by these names
/// or with the `Kinesis_20131202.` prefix, with Kinesis's shapes and error names. They
/// are not Firehose operations (not in [`OPERATIONS`]): the server routes them from
/// its Kinesis API.
pub const CHANNEL_OPERATIONS: &[&str] = &[
    "CreateChannel",
    "DeleteChannel",
    "DescribeChannel",
    "ListChannels",
    "UpdateChannel",
];

/// A failed call: Firehose's exception name, a message, and the HTTP status the wire
/// protocol answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// `InvalidArgumentException`, `ResourceNotFoundException`, ...
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
    /// 400 for client errors, 500/503 for the service's faults.
    pub status: u16,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let kind = e.kind();
        Self {
            code: kind.firehose_name(),
            message: e.to_string(),
            status: match kind {
                crate::ErrorKind::ServiceUnavailable => 503,
                crate::ErrorKind::Internal => 500,
                _ => 400,
            },
        }
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError {
        code: "InvalidArgumentException",
        message: message.into(),
        status: 400,
    }
}

fn parse<T: DeserializeOwned>(operation: &str, request: Value) -> Result<T, ApiError> {
    if !request.is_object() {
        return Err(invalid(format!(
            "{operation}: the request must be a JSON object"
        )));
    }
    serde_json::from_value(request).map_err(|e| invalid(format!("{operation}: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameOnly {
    #[serde(rename = "DeliveryStreamName")]
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteInput {
    #[serde(rename = "DeliveryStreamName")]
    name: String,
    #[serde(rename = "AllowForceDelete", default)]
    allow_force_delete: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DescribeInput {
    #[serde(rename = "DeliveryStreamName")]
    name: String,
    #[serde(rename = "Limit", default)]
    limit: Option<i64>,
    #[serde(rename = "ExclusiveStartDestinationId", default)]
    exclusive_start_destination_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListInput {
    #[serde(rename = "Limit", default)]
    limit: Option<i64>,
    #[serde(rename = "DeliveryStreamType", default)]
    stream_type: Option<String>,
    #[serde(rename = "ExclusiveStartDeliveryStreamName", default)]
    exclusive_start: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordIn {
    #[serde(rename = "Data")]
    data: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutInput {
    #[serde(rename = "DeliveryStreamName")]
    name: String,
    #[serde(rename = "Record")]
    record: RecordIn,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBatchInput {
    #[serde(rename = "DeliveryStreamName")]
    name: String,
    #[serde(rename = "Records")]
    records: Vec<RecordIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagInput {
    #[serde(rename = "DeliveryStreamName")]
    name: String,
    #[serde(rename = "Tags")]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UntagInput {
    #[serde(rename = "DeliveryStreamName")]
    name: String,
    #[serde(rename = "TagKeys")]
    keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListTagsInput {
    #[serde(rename = "DeliveryStreamName")]
    name: String,
    #[serde(rename = "ExclusiveStartTagKey", default)]
    exclusive_start_tag_key: Option<String>,
    #[serde(rename = "Limit", default)]
    limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartEncryptionInput {
    #[serde(rename = "DeliveryStreamName")]
    name: String,
    #[serde(rename = "DeliveryStreamEncryptionConfigurationInput", default)]
    config: Option<EncryptionInput>,
}

fn decode_blob(field: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| invalid(format!("{field} is not base64: {e}")))
}

fn limit_of(field: &str, value: Option<i64>) -> Result<Option<usize>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) if v >= 1 => Ok(Some(v as usize)),
        Some(v) => Err(invalid(format!("{field} {v} is below 1"))),
    }
}

fn seconds(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// DescribeDeliveryStream's `DeliveryStreamDescription` of a record.
pub fn description(
    firehose: &Firehose,
    record: &DeliveryStreamRecord,
    include_destinations: bool,
) -> Value {
    let with_logging = |mut v: Value| {
        if let Some(obj) = v.as_object_mut() {
            obj.entry("CloudWatchLoggingOptions")
                .or_insert(json!({"Enabled": false}));
        }
        v
    };
    let destination = match &record.destination {
        Destination::ExtendedS3 { config, .. } => {
            let mut extended = serde_json::to_value(config).unwrap_or_else(|_| json!({}));
            if let Some(obj) = extended.as_object_mut()
                && let Some(backup) = obj.remove("S3BackupConfiguration")
            {
                obj.insert("S3BackupDescription".to_string(), with_logging(backup));
            }
            let plain = serde_json::to_value(config.plain()).unwrap_or_else(|_| json!({}));
            json!({
                "DestinationId": DESTINATION_ID,
                "S3DestinationDescription": with_logging(plain),
                "ExtendedS3DestinationDescription": with_logging(extended),
            })
        }
        Destination::HttpEndpoint { config } => {
            let mut d = serde_json::to_value(config).unwrap_or_else(|_| json!({}));
            if let Some(obj) = d.as_object_mut() {
                if let Some(s3) = obj.remove("S3Configuration") {
                    obj.insert("S3DestinationDescription".to_string(), with_logging(s3));
                }
                if let Some(Value::Object(endpoint)) = obj.get_mut("EndpointConfiguration") {
                    endpoint.remove("AccessKey");
                }
            }
            json!({"DestinationId": DESTINATION_ID, "HttpEndpointDestinationDescription": with_logging(d)})
        }
        Destination::Redshift { config } => {
            let mut d = serde_json::to_value(config).unwrap_or_else(|_| json!({}));
            if let Some(obj) = d.as_object_mut() {
                obj.remove("Password");
                if let Some(s3) = obj.remove("S3Configuration") {
                    obj.insert("S3DestinationDescription".to_string(), with_logging(s3));
                }
                if let Some(b) = obj.remove("S3BackupConfiguration") {
                    obj.insert("S3BackupDescription".to_string(), with_logging(b));
                }
            }
            json!({"DestinationId": DESTINATION_ID, "RedshiftDestinationDescription": with_logging(d)})
        }
    };
    let destinations = if include_destinations {
        vec![destination]
    } else {
        Vec::new()
    };
    let source = match (&record.kinesis, &record.direct_put) {
        (Some(k), _) => json!({"KinesisStreamSourceDescription": {
            "KinesisStreamARN": k.kinesis_stream_arn,
            "RoleARN": k.role_arn,
            "DeliveryStartTimestamp": seconds(record.created_ms),
        }}),
        (None, Some(d)) => json!({"DirectPutSourceDescription": {
            "ThroughputHintInMBs": d.throughput_hint_in_mbs,
        }}),
        (None, None) => Value::Null,
    };
    let encryption = match &record.encryption {
        Some(e) => json!({"KeyARN": e.key_arn, "KeyType": e.key_type, "Status": e.status}),
        None => json!({"Status": "DISABLED"}),
    };
    let mut d = json!({
        "DeliveryStreamName": record.name,
        "DeliveryStreamARN": firehose.delivery_stream_arn(&record.name),
        "DeliveryStreamStatus": record.status,
        "DeliveryStreamEncryptionConfiguration": encryption,
        "DeliveryStreamType": record.stream_type,
        "VersionId": record.version.to_string(),
        "CreateTimestamp": seconds(record.created_ms),
        "Source": source,
        "Destinations": destinations,
        "HasMoreDestinations": false,
    });
    if record.version > 1 {
        d["LastUpdateTimestamp"] = seconds(record.updated_ms);
    }
    if let Some(f) = &record.failure {
        d["FailureDescription"] = json!({"Type": "UNKNOWN_ERROR", "Details": f});
    }
    strip_nulls(d)
}

/// Runs one Firehose operation on a JSON request and returns the JSON response.
pub fn call(firehose: &Firehose, operation: &str, request: Value) -> Result<Value, ApiError> {
    let op = operation
        .strip_prefix(TARGET_PREFIX)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(operation);
    if let Some(channel_op) = operation.strip_prefix("Kinesis_20131202.") {
        if !CHANNEL_OPERATIONS.contains(&channel_op) {
            return Err(ApiError {
                code: "UnknownOperationException",
                message: format!("{channel_op:?} is not a channel operation"),
                status: 400,
            });
        }
        return call(firehose, channel_op, request);
    }
    match op {
        "CreateChannel" => firehose.create_channel(&request),
        "DeleteChannel" => firehose.delete_channel(&request),
        "DescribeChannel" => firehose.describe_channel(&request),
        "ListChannels" => firehose.list_channels(&request),
        "UpdateChannel" => firehose.update_channel(&request),
        "CreateDeliveryStream" => {
            let input: CreateDeliveryStreamInput = parse(op, request)?;
            let arn = firehose.create_delivery_stream(input)?;
            Ok(json!({"DeliveryStreamARN": arn}))
        }
        "DeleteDeliveryStream" => {
            let input: DeleteInput = parse(op, request)?;
            firehose
                .delete_delivery_stream(&input.name, input.allow_force_delete.unwrap_or(false))?;
            Ok(json!({}))
        }
        "DescribeDeliveryStream" => {
            let input: DescribeInput = parse(op, request)?;
            let limit = limit_of("Limit", input.limit)?;
            if limit.is_some_and(|l| l > 10_000) {
                return Err(invalid("Limit must be at most 10000"));
            }
            let record = firehose.describe_delivery_stream(&input.name)?;
            let include = match input.exclusive_start_destination_id.as_deref() {
                None => true,
                Some(id)
                    if id.is_empty()
                        || id.len() > 100
                        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
                {
                    return Err(invalid(format!(
                        "ExclusiveStartDestinationId {id:?} is not a destination id"
                    )));
                }
                Some(id) => id < DESTINATION_ID,
            };
            Ok(json!({"DeliveryStreamDescription": description(firehose, &record, include)}))
        }
        "ListDeliveryStreams" => {
            let input: ListInput = parse(op, request)?;
            let limit = limit_of("Limit", input.limit)?;
            let out = firehose.list_delivery_streams(
                limit,
                input.stream_type.as_deref(),
                input.exclusive_start.as_deref(),
            )?;
            Ok(json!({"DeliveryStreamNames": out.names, "HasMoreDeliveryStreams": out.has_more}))
        }
        "PutRecord" => {
            let input: PutInput = parse(op, request)?;
            let data = decode_blob("Record.Data", &input.record.data)?;
            let out = firehose.put_record(&input.name, &data)?;
            Ok(json!({"RecordId": out.record_id, "Encrypted": out.encrypted}))
        }
        "PutRecordBatch" => {
            let input: PutBatchInput = parse(op, request)?;
            let mut blobs = Vec::with_capacity(input.records.len());
            for (i, r) in input.records.iter().enumerate() {
                blobs.push(decode_blob(&format!("Records[{i}].Data"), &r.data)?);
            }
            let slices: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
            let out = firehose.put_record_batch(&input.name, &slices)?;
            let responses: Vec<Value> = out
                .responses
                .iter()
                .map(|r| match r {
                    Ok(id) => json!({"RecordId": id}),
                    Err((code, message)) => json!({"ErrorCode": code, "ErrorMessage": message}),
                })
                .collect();
            Ok(json!({
                "FailedPutCount": out.failed_put_count,
                "Encrypted": out.encrypted,
                "RequestResponses": responses,
            }))
        }
        "UpdateDestination" => {
            let input: UpdateDestinationInput = parse(op, request)?;
            firehose.update_destination(input)?;
            Ok(json!({}))
        }
        "TagDeliveryStream" => {
            let input: TagInput = parse(op, request)?;
            firehose.tag_delivery_stream(&input.name, &input.tags)?;
            Ok(json!({}))
        }
        "UntagDeliveryStream" => {
            let input: UntagInput = parse(op, request)?;
            firehose.untag_delivery_stream(&input.name, &input.keys)?;
            Ok(json!({}))
        }
        "ListTagsForDeliveryStream" => {
            let input: ListTagsInput = parse(op, request)?;
            let limit = limit_of("Limit", input.limit)?;
            let (tags, has_more) = firehose.list_tags_for_delivery_stream(
                &input.name,
                input.exclusive_start_tag_key.as_deref(),
                limit,
            )?;
            let tags: Vec<Value> = tags
                .into_iter()
                .map(|t| {
                    let mut m = Map::new();
                    m.insert("Key".into(), json!(t.key));
                    if let Some(v) = t.value {
                        m.insert("Value".into(), json!(v));
                    }
                    Value::Object(m)
                })
                .collect();
            Ok(json!({"Tags": tags, "HasMoreTags": has_more}))
        }
        "StartDeliveryStreamEncryption" => {
            let input: StartEncryptionInput = parse(op, request)?;
            firehose.start_delivery_stream_encryption(&input.name, input.config)?;
            Ok(json!({}))
        }
        "StopDeliveryStreamEncryption" => {
            let input: NameOnly = parse(op, request)?;
            firehose.stop_delivery_stream_encryption(&input.name)?;
            Ok(json!({}))
        }
        other => Err(ApiError {
            code: "UnknownOperationException",
            message: format!("{other:?} is not a Firehose operation"),
            status: 400,
        }),
    }
}

/// `call` with the request and response as JSON text (for the C ABI and bindings).
pub fn call_json(firehose: &Firehose, operation: &str, request: &str) -> Result<String, ApiError> {
    let value: Value = if request.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(request).map_err(|e| ApiError {
            code: "SerializationException",
            message: format!("the request is not JSON: {e}"),
            status: 400,
        })?
    };
    call(firehose, operation, value).map(|v| v.to_string())
}

/// The default wait of a flush through the JSON layer.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);
