//! Kinesis channels (CreateChannel, DeleteChannel, DescribeChannel, ListChannels,
//! UpdateChannel of Kinesis Data Streams): a stream's records delivered to a general
//! purpose S3 bucket, run on Firehose's machinery. A channel is a delivery worker with
//! a Kinesis source (every shard, parents before children, from the channel's
//! creation on), one buffer cut at `DataFreshnessInSeconds` (or 128 MiB), objects
//! keyed by the channel's `OutputKeyTemplate` plus a suffix derived from the batch's
//! source positions (so a batch delivered again after a crash replaces its object:
//! exactly once), and a dead-letter bucket for records its `RecordFormatType` cannot
//! deliver. Its definition is a [`ChannelRecord`] in Firehose's catalog.
//!
//! This module owns the channel's shapes: validation of the Kinesis input members
//! (model constraints: `ValidationException`; rules: `InvalidArgumentException`), the
//! key template, the record format check, the delivery plan, and the JSON answers.
//! Delivery to S3 Tables (Apache Iceberg) is refused by name: tidelog has no Iceberg
//! writer.
//!
//! Invariants: a channel's name, stream and destination never change after creation
//! (UpdateChannel changes only the freshness and the logging settings); every key the
//! template can produce is at most 1,024 bytes (checked at creation); a channel blocks
//! its stream's deletion until it is deleted (or FAILED).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::ApiError;
use crate::compression::Compression;
use crate::model::plan::{DeliveryPlan, bucket_of};
use crate::model::s3::{BufferingHints, ExtendedS3Destination};
use crate::prefix::object_id;
use crate::timefmt::Civil;

/// CREATING: being set up (CreateChannel's answer).
pub const CREATING: &str = "CREATING";
/// ACTIVE: delivering.
pub const ACTIVE: &str = "ACTIVE";
/// UPDATING: a change is being applied (UpdateChannel's answer).
pub const UPDATING: &str = "UPDATING";
/// DELETING: being removed.
pub const DELETING: &str = "DELETING";
/// FAILED: not delivering; `status_reason` says why.
pub const FAILED: &str = "FAILED";

/// DataFreshnessInSeconds when none is given (AWS: 300).
pub const FRESHNESS_S_DEFAULT: u32 = 300;
/// Largest DataFreshnessInSeconds (AWS: 900).
pub const FRESHNESS_S_MAX: u32 = 900;
/// Most channels (of every stream together).
pub const CHANNELS_MAX: usize = 1000;
/// Objects are also cut at this size (the buffer's upper bound), MB.
pub const OBJECT_SIZE_MB_MAX: u32 = 128;
/// The OutputKeyTemplate used when none is given (AWS's default layout).
pub const DEFAULT_KEY_TEMPLATE: &str = "kinesis-channel/!{channel-name}/!{channel-id}/!{yyyy}/!{MM}/!{dd}/!{HH}/!{channel-name}-!{channel-id}-!{yyyy}-!{MM}-!{dd}-!{HH}-!{mm}!{extension}";
/// The dead-letter prefix when no DeadLetterQueueS3Configuration is given (the
/// destination bucket is used).
pub const DEFAULT_ERROR_PREFIX: &str = "kinesis-channel-errors/";
/// Why a channel's stream cannot be deleted.
pub const STREAM_HAS_CHANNELS: &str =
    "the stream has channels: delete them first (ListChannels with a StreamFilter finds them)";
const KEY_BYTES_MAX: usize = 1024;
/// How long a ListChannels NextToken stays valid (as Kinesis's tokens: 300 s).
const NEXT_TOKEN_LIFETIME_MS: u64 = 300_000;

/// KMS encryption of delivered objects (recorded; tidelog's objects are not encrypted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelEncryption {
    /// `KMS`.
    pub encryption_type: String,
    /// The key.
    pub key_id: String,
}

/// The CloudWatch Logs settings (recorded; tidelog logs nowhere else).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelLogging {
    /// Logging on.
    pub enabled: bool,
    /// LogGroupName.
    pub log_group: Option<String>,
    /// LogStreamName.
    pub log_stream: Option<String>,
}

/// A channel as Firehose's catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRecord {
    /// Numeric id, from the delivery streams' sequence: names the checkpoint directory.
    pub id: u64,
    /// ChannelId (UUID form).
    pub channel_id: String,
    /// ChannelName.
    pub name: String,
    /// CREATING, ACTIVE, UPDATING, DELETING or FAILED.
    pub status: String,
    /// 1, then +1 per UpdateChannel (a worker takes a plan of a new version, flushing
    /// what it buffered under the old one).
    pub version: u64,
    /// Why it FAILED.
    pub status_reason: Option<String>,
    /// ChannelCreationTimestamp, ms.
    pub created_ms: u64,
    /// ServiceExecutionRoleARN (recorded).
    pub role_arn: String,
    /// The source stream's ARN.
    pub stream_arn: String,
    /// The source stream's name.
    pub stream_name: String,
    /// When the source stream was created, ms (a stream re-created under the same name
    /// is another stream).
    pub stream_created_ms: u64,
    /// RecordFormatType: JSON, STRING or BYTE_ARRAY.
    pub record_format: String,
    /// GSRSchemaARN (recorded).
    pub gsr_schema_arn: Option<String>,
    /// DataFreshnessInSeconds.
    pub freshness_s: u32,
    /// The destination bucket's ARN.
    pub bucket_arn: String,
    /// Its ExpectedBucketOwner (recorded).
    pub bucket_owner: String,
    /// OutputKeyTemplate as given (None: the default).
    pub key_template: Option<String>,
    /// StorageClass (recorded).
    pub storage_class: Option<String>,
    /// CompressionType: NONE, GZIP or ZSTD.
    pub compression: String,
    /// The dead-letter bucket's ARN.
    pub dlq_bucket_arn: String,
    /// Its ExpectedBucketOwner.
    pub dlq_owner: String,
    /// Its ErrorOutputPrefix.
    pub dlq_prefix: String,
    /// EncryptionConfiguration.
    pub encryption: Option<ChannelEncryption>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// LoggingConfiguration.
    pub logging: ChannelLogging,
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError {
        code: "ValidationException",
        message: message.into(),
        status: 400,
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError {
        code: "InvalidArgumentException",
        message: message.into(),
        status: 400,
    }
}

/// ResourceNotFoundException for a channel.
pub fn not_found(what: impl std::fmt::Display) -> ApiError {
    ApiError {
        code: "ResourceNotFoundException",
        message: format!("{what} not found"),
        status: 400,
    }
}

/// ResourceInUseException.
pub fn in_use(message: impl Into<String>) -> ApiError {
    ApiError {
        code: "ResourceInUseException",
        message: message.into(),
        status: 400,
    }
}

fn constraint(path: &str, value: &str, rule: &str) -> ApiError {
    let shown: String = value.chars().take(80).collect();
    validation(format!(
        "1 validation error detected: Value '{shown}' at '{path}' failed to satisfy constraint: {rule}"
    ))
}

/// A structure member: an object, checked for members it does not know.
fn object<'a>(
    v: &'a Value,
    path: &str,
    known: &[&str],
) -> Result<&'a Map<String, Value>, ApiError> {
    let o = v
        .as_object()
        .ok_or_else(|| validation(format!("{path} must be a structure")))?;
    if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(validation(format!("{path}: unknown member {k:?}")));
    }
    Ok(o)
}

fn opt_str<'a>(
    o: &'a Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<Option<&'a str>, ApiError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(validation(format!("{path}{name} must be a string"))),
    }
}

fn req_str<'a>(o: &'a Map<String, Value>, path: &str, name: &str) -> Result<&'a str, ApiError> {
    opt_str(o, path, name)?.ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{path}{name}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// A string of `min..=max` characters whose every character satisfies `ok`.
fn check_text(
    value: &str,
    path: &str,
    min: usize,
    max: usize,
    ok: impl Fn(char) -> bool,
    pattern: &str,
) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(constraint(
            path,
            value,
            &format!("Member must have length between {min} and {max}"),
        ));
    }
    if !value.chars().all(ok) {
        return Err(constraint(
            path,
            value,
            &format!("Member must satisfy regular expression pattern: {pattern}"),
        ));
    }
    Ok(())
}

fn one_of<'a>(value: &'a str, path: &str, allowed: &[&str]) -> Result<&'a str, ApiError> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(constraint(
            path,
            value,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        ))
    }
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Checks a ChannelName (1 to 128 of `[a-zA-Z0-9_.-]`).
pub fn check_channel_name(name: &str, path: &str) -> Result<(), ApiError> {
    check_text(name, path, 1, 128, name_char, "[a-zA-Z0-9_.-]+")
}

fn check_role_arn(arn: &str) -> Result<(), ApiError> {
    let path = "serviceExecutionRoleARN";
    let bad = || {
        constraint(
            path,
            arn,
            "Member must satisfy regular expression pattern: arn:aws[-a-z0-9]*:iam::\\d{12}:role/[a-zA-Z_0-9+=,.@\\-_/]+",
        )
    };
    if arn.is_empty() || arn.len() > 512 {
        return Err(constraint(
            path,
            arn,
            "Member must have length between 1 and 512",
        ));
    }
    let rest = arn.strip_prefix("arn:aws").ok_or_else(bad)?;
    let (partition, rest) = rest.split_once(':').ok_or_else(bad)?;
    let rest = rest.strip_prefix("iam::").ok_or_else(bad)?;
    let (account, role) = rest.split_once(":role/").ok_or_else(bad)?;
    let ok = partition
        .bytes()
        .all(|b| b == b'-' || b.is_ascii_lowercase() || b.is_ascii_digit())
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !role.is_empty()
        && role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_/".contains(c));
    if ok { Ok(()) } else { Err(bad()) }
}

fn check_owner(owner: &str, path: &str) -> Result<(), ApiError> {
    check_text(owner, path, 12, 12, |c| c.is_ascii_digit(), "\\d{12}")
}

fn check_bucket_arn(arn: &str, path: &str) -> Result<String, ApiError> {
    if arn.is_empty() || arn.len() > 2048 {
        return Err(constraint(
            path,
            arn,
            "Member must have length between 1 and 2048",
        ));
    }
    bucket_of(arn, path).map_err(|e| validation(e.to_string()))
}

/// Checks a Kinesis stream's ARN against the model's pattern.
fn check_stream_arn(arn: &str, path: &str) -> Result<(), ApiError> {
    crate::names::kinesis_stream_name(arn, path)
        .map(|_| ())
        .map_err(|_| {
            constraint(
                path,
                arn,
                "Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
            )
        })
}

/// The parts of a channel's ARN: `arn:<partition>:kinesis:<region>:<account>:channel/<name>`.
pub fn parse_channel_arn(arn: &str) -> Result<(String, String, String), ApiError> {
    let bad = || {
        constraint(
            "channelARN",
            arn,
            "Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:channel/\\S+",
        )
    };
    if arn.is_empty() || arn.len() > 2048 {
        return Err(constraint(
            "channelARN",
            arn,
            "Member must have length between 1 and 2048",
        ));
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6
        || parts[0] != "arn"
        || !parts[1].starts_with("aws")
        || parts[2] != "kinesis"
        || parts[4].len() != 12
        || !parts[4].bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let name = parts[5].strip_prefix("channel/").ok_or_else(bad)?;
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    Ok((parts[3].to_string(), parts[4].to_string(), name.to_string()))
}

/// The ARN of channel `name`.
pub fn channel_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:kinesis:{region}:{account}:channel/{name}")
}

/// A ChannelId: UUID form, from the channel's numeric id, name and creation time.
pub fn channel_id(id: u64, name: &str, created_ms: u64) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"tidelog-kinesis-channel");
    h.update(&id.to_le_bytes());
    h.update(&created_ms.to_le_bytes());
    h.update(name.as_bytes());
    object_id(h.finalize().as_bytes())
}

/// The format of a channel's records (RecordFormatType) and what it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// A JSON document per record; one per line in the objects.
    Json,
    /// UTF-8 text per record; one per line in the objects.
    String,
    /// Any bytes; records back to back in the objects.
    ByteArray,
}

impl RecordFormat {
    /// Parses a RecordFormatType of a general purpose S3 channel.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "JSON" => Some(Self::Json),
            "STRING" => Some(Self::String),
            "BYTE_ARRAY" => Some(Self::ByteArray),
            _ => None,
        }
    }

    /// `Err((error code, message))` for a record this format cannot deliver (it goes to
    /// the dead-letter bucket).
    pub fn check(self, data: &[u8]) -> Result<(), (&'static str, String)> {
        match self {
            Self::Json => serde_json::from_slice::<serde::de::IgnoredAny>(data)
                .map(|_| ())
                .map_err(|e| {
                    (
                        "Channel.InvalidJSONRecord",
                        format!("the record is not a JSON document: {e}"),
                    )
                }),
            Self::String => std::str::from_utf8(data).map(|_| ()).map_err(|e| {
                (
                    "Channel.InvalidStringRecord",
                    format!("the record is not UTF-8 text: {e}"),
                )
            }),
            Self::ByteArray => Ok(()),
        }
    }

    /// What follows each record in an object.
    pub fn delimiter(self) -> Option<Vec<u8>> {
        match self {
            Self::Json | Self::String => Some(b"\n".to_vec()),
            Self::ByteArray => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    ChannelName,
    ChannelId,
    StreamName,
    Year,
    Year2,
    Month,
    Day,
    Hour,
    Minute,
    Extension,
}

/// A parsed OutputKeyTemplate: literal text and `!{variable}`s (`channel-name`,
/// `channel-id`, `stream-name`, `yyyy`, `yy`, `MM`, `dd`, `HH`, `mm`, `extension`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    parts: Vec<Part>,
}

impl KeyTemplate {
    /// Parses and checks a template (the model's pattern and length; known variables;
    /// no `..` or `.` path segment, no leading or trailing `/`, no empty segment).
    pub fn parse(template: &str) -> Result<Self, ApiError> {
        let path = "s3DestinationConfiguration.storageConfiguration.outputKeyTemplate";
        check_text(
            template,
            path,
            1,
            KEY_BYTES_MAX,
            |c| c.is_ascii_alphanumeric() || "!-_'.*()/=:{}".contains(c),
            "[0-9A-Za-z!\\-_'.*()\\/=:{}]+",
        )?;
        let bad = |why: &str| invalid(format!("OutputKeyTemplate {template:?}: {why}"));
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("!{") {
                let (name, tail) = after
                    .split_once('}')
                    .ok_or_else(|| bad("a !{ has no closing }"))?;
                let part = match name {
                    "channel-name" => Part::ChannelName,
                    "channel-id" => Part::ChannelId,
                    "stream-name" => Part::StreamName,
                    "yyyy" => Part::Year,
                    "yy" => Part::Year2,
                    "MM" => Part::Month,
                    "dd" => Part::Day,
                    "HH" => Part::Hour,
                    "mm" => Part::Minute,
                    "extension" => Part::Extension,
                    other => {
                        return Err(bad(&format!(
                            "unknown variable !{{{other}}} (known: channel-name, channel-id, stream-name, yyyy, yy, MM, dd, HH, mm, extension)"
                        )));
                    }
                };
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(part);
                rest = tail;
            } else {
                let c = rest.chars().next().unwrap_or_default();
                if c == '{' || c == '}' {
                    return Err(bad("{ and } only appear in !{variable}"));
                }
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        if template.starts_with('/') || template.ends_with('/') {
            return Err(bad("a key does not start or end with /"));
        }
        // Segments as far as literal text shows them (variables never hold a /).
        let mut shape = String::new();
        for p in &parts {
            match p {
                Part::Text(t) => shape.push_str(t),
                _ => shape.push('x'),
            }
        }
        if shape
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(bad("no empty, . or .. path segment"));
        }
        Ok(Self { parts })
    }

    fn ends_with_extension(&self) -> bool {
        self.parts.last() == Some(&Part::Extension)
    }

    /// The longest key this template makes for a channel named `channel`, on stream
    /// `stream`, with `extension` (the suffix included).
    pub fn longest_key(&self, channel: &str, stream: &str, extension: &str) -> usize {
        let vars: usize = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.len(),
                Part::ChannelName => channel.len(),
                Part::ChannelId => 36,
                Part::StreamName => stream.len(),
                Part::Year => 6, // beyond year 9999 the engine's clock is wrong anyway
                Part::Year2 | Part::Month | Part::Day | Part::Hour | Part::Minute => 2,
                Part::Extension => extension.len(),
            })
            .sum();
        vars + 37
    }

    /// The key of an object whose oldest record arrived at `timestamp_ms` (UTC), with
    /// the batch's unique suffix `-<id>` before a final `!{extension}` (else at the end).
    pub fn evaluate(
        &self,
        names: &KeyNames,
        timestamp_ms: u64,
        id: &str,
        extension: &str,
    ) -> String {
        let t = Civil::at(timestamp_ms as i64, 0);
        let mut key = String::new();
        let n = self.parts.len();
        for (i, p) in self.parts.iter().enumerate() {
            if i + 1 == n && self.ends_with_extension() {
                key.push('-');
                key.push_str(id);
            }
            match p {
                Part::Text(s) => key.push_str(s),
                Part::ChannelName => key.push_str(&names.channel),
                Part::ChannelId => key.push_str(&names.channel_id),
                Part::StreamName => key.push_str(&names.stream),
                Part::Year => key.push_str(&format!("{:04}", t.year)),
                Part::Year2 => key.push_str(&format!("{:02}", t.year.rem_euclid(100))),
                Part::Month => key.push_str(&format!("{:02}", t.month)),
                Part::Day => key.push_str(&format!("{:02}", t.day)),
                Part::Hour => key.push_str(&format!("{:02}", t.hour)),
                Part::Minute => key.push_str(&format!("{:02}", t.minute)),
                Part::Extension => key.push_str(extension),
            }
        }
        if !self.ends_with_extension() {
            key.push('-');
            key.push_str(id);
        }
        key
    }
}

/// The names a key template fills in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNames {
    /// The channel's name.
    pub channel: String,
    /// Its ChannelId.
    pub channel_id: String,
    /// The source stream's name.
    pub stream: String,
}

/// What a delivery worker does differently for a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelPlan {
    /// Record check and delimiter.
    pub format: RecordFormat,
    /// Data object keys.
    pub template: KeyTemplate,
    /// The names in keys.
    pub names: KeyNames,
    /// The dead-letter bucket.
    pub error_bucket: String,
    /// The dead-letter prefix.
    pub error_prefix: String,
}

impl ChannelPlan {
    /// The key of a data object.
    pub fn data_key(&self, timestamp_ms: u64, seed: &[u8; 32], extension: &str) -> String {
        self.template
            .evaluate(&self.names, timestamp_ms, &object_id(seed), extension)
    }

    /// The key of a dead-letter object:
    /// `<prefix><channel>/<channel id>/yyyy/MM/dd/HH/<channel>-<channel id>-yyyy-MM-dd-HH-mm-<id>`.
    pub fn error_key(&self, timestamp_ms: u64, seed: &[u8; 32]) -> String {
        let t = Civil::at(timestamp_ms as i64, 0);
        let (c, id) = (&self.names.channel, &self.names.channel_id);
        format!(
            "{}{c}/{id}/{:04}/{:02}/{:02}/{:02}/{c}-{id}-{:04}-{:02}-{:02}-{:02}-{:02}-{}",
            self.error_prefix,
            t.year,
            t.month,
            t.day,
            t.hour,
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            object_id(seed)
        )
    }
}

fn compression_of(name: &str) -> Compression {
    match name {
        "GZIP" => Compression::Gzip,
        "ZSTD" => Compression::Zstd,
        _ => Compression::Uncompressed,
    }
}

impl ChannelRecord {
    /// The delivery plan its worker runs.
    pub fn plan(&self) -> crate::Result<DeliveryPlan> {
        let s3 = ExtendedS3Destination {
            role_arn: Some(self.role_arn.clone()),
            bucket_arn: Some(self.bucket_arn.clone()),
            buffering_hints: Some(BufferingHints {
                size_in_mbs: Some(OBJECT_SIZE_MB_MAX),
                interval_in_seconds: Some(self.freshness_s),
            }),
            ..ExtendedS3Destination::default()
        };
        let mut plan =
            DeliveryPlan::build(&self.name, self.version, &s3, "S3DestinationConfiguration")?;
        let compression = compression_of(&self.compression);
        let format = RecordFormat::from_name(&self.record_format).ok_or_else(|| {
            crate::Error::Internal(format!(
                "channel {}: record format {:?}",
                self.name, self.record_format
            ))
        })?;
        plan.data.compression = compression;
        plan.data.extension = compression.extension().to_string();
        plan.processing.delimiter = format.delimiter();
        let template =
            KeyTemplate::parse(self.key_template.as_deref().unwrap_or(DEFAULT_KEY_TEMPLATE))
                .map_err(|e| {
                    crate::Error::Internal(format!("channel {}: {}", self.name, e.message))
                })?;
        let error_bucket = bucket_of(&self.dlq_bucket_arn, "DeadLetterQueueS3Configuration")?;
        plan.channel = Some(Arc::new(ChannelPlan {
            format,
            template,
            names: KeyNames {
                channel: self.name.clone(),
                channel_id: self.channel_id.clone(),
                stream: self.stream_name.clone(),
            },
            error_bucket,
            error_prefix: self.dlq_prefix.clone(),
        }));
        Ok(plan)
    }

    /// The ChannelDescription (JSON form: timestamps in epoch seconds) with `status`.
    pub fn description(&self, region: &str, account: &str, status: &str) -> Value {
        let mut storage = json!({
            "BucketARN": self.bucket_arn,
            "ExpectedBucketOwner": self.bucket_owner,
            "CompressionType": self.compression,
            "OutputKeyTemplate": self.key_template.as_deref().unwrap_or(DEFAULT_KEY_TEMPLATE),
        });
        if let Some(class) = &self.storage_class {
            storage["StorageClass"] = json!(class);
        }
        let mut record_config = json!({"RecordFormatType": self.record_format});
        if let Some(arn) = &self.gsr_schema_arn {
            record_config["GSRSchemaARN"] = json!(arn);
        }
        let mut logs = json!({"Enabled": self.logging.enabled});
        if let Some(g) = &self.logging.log_group {
            logs["LogGroupName"] = json!(g);
        }
        if let Some(s) = &self.logging.log_stream {
            logs["LogStreamName"] = json!(s);
        }
        let mut d = json!({
            "ChannelName": self.name,
            "ChannelARN": channel_arn(region, account, &self.name),
            "ChannelId": self.channel_id,
            "ChannelStatus": status,
            "ChannelCreationTimestamp": seconds(self.created_ms),
            "ServiceExecutionRoleARN": self.role_arn,
            "StreamConfigurationList": [{
                "StreamARN": self.stream_arn,
                "StreamCreationTimestamp": seconds(self.stream_created_ms),
                "RecordConfiguration": record_config,
            }],
            "S3DestinationConfiguration": {
                "DataFreshnessInSeconds": self.freshness_s,
                "DeadLetterQueueS3Configuration": {
                    "BucketARN": self.dlq_bucket_arn,
                    "ExpectedBucketOwner": self.dlq_owner,
                    "ErrorOutputPrefix": self.dlq_prefix,
                },
                "StorageConfiguration": storage,
            },
            "LoggingConfiguration": {"CloudWatchLogs": logs},
        });
        if let Some(reason) = self.status_reason.as_ref().filter(|_| status == FAILED) {
            d["ChannelStatusReason"] = json!(reason);
        }
        if let Some(e) = &self.encryption {
            d["EncryptionConfiguration"] =
                json!({"EncryptionType": e.encryption_type, "KeyId": e.key_id});
        }
        d
    }

    /// The ChannelSummary of ListChannels (JSON form).
    pub fn summary(&self, region: &str, account: &str) -> Value {
        let mut s = json!({
            "ChannelName": self.name,
            "ChannelARN": channel_arn(region, account, &self.name),
            "ChannelId": self.channel_id,
            "ChannelStatus": self.status,
            "ChannelCreationTimestamp": seconds(self.created_ms),
            "ChannelDestinationType": "S3",
            "Streams": [{
                "StreamARN": self.stream_arn,
                "StreamCreationTimestamp": seconds(self.stream_created_ms),
            }],
        });
        if let Some(reason) = self
            .status_reason
            .as_ref()
            .filter(|_| self.status == FAILED)
        {
            s["ChannelStatusReason"] = json!(reason);
        }
        s
    }
}

fn seconds(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// CreateChannel's input, checked against the model and tidelog's rules (everything
/// but the stream's existence and mode, which the caller checks against the engine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateChannelInput {
    /// The record to create (id, channel id, status, times and stream creation time
    /// are filled in by the caller).
    pub record: ChannelRecord,
}

/// Parses CreateChannel's JSON input.
pub fn parse_create(input: &Value) -> Result<CreateChannelInput, ApiError> {
    let o = object(
        input,
        "CreateChannelInput",
        &[
            "ChannelName",
            "ServiceExecutionRoleARN",
            "StreamConfigurationList",
            "S3DestinationConfiguration",
            "S3TablesDestinationConfiguration",
            "EncryptionConfiguration",
            "Tags",
            "LoggingConfiguration",
        ],
    )?;
    let name = req_str(o, "", "ChannelName")?;
    check_channel_name(name, "channelName")?;
    let role = req_str(o, "", "ServiceExecutionRoleARN")?;
    check_role_arn(role)?;
    let streams = match o.get("StreamConfigurationList") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => {
            return Err(validation(
                "1 validation error detected: Value null at 'streamConfigurationList' failed to satisfy constraint: Member must not be null",
            ));
        }
        Some(_) => return Err(validation("StreamConfigurationList must be a list")),
    };
    if streams.is_empty() || streams.len() > 10_000 {
        return Err(constraint(
            "streamConfigurationList",
            &streams.len().to_string(),
            "Member must have length between 1 and 10000",
        ));
    }
    let s0 = object(
        &streams[0],
        "StreamConfigurationList[0]",
        &["StreamARN", "RecordConfiguration"],
    )?;
    let stream_arn = req_str(s0, "streamConfigurationList.1.member.", "StreamARN")?;
    check_stream_arn(stream_arn, "streamConfigurationList.1.member.streamARN")?;
    let rc = s0
        .get("RecordConfiguration")
        .ok_or_else(|| validation("StreamConfigurationList[0].RecordConfiguration is required"))?;
    let rc = object(
        rc,
        "StreamConfigurationList[0].RecordConfiguration",
        &["RecordFormatType", "GSRSchemaARN"],
    )?;
    let format = one_of(
        req_str(rc, "recordConfiguration.", "RecordFormatType")?,
        "recordConfiguration.recordFormatType",
        &["GSR_JSON", "JSON", "STRING", "BYTE_ARRAY"],
    )?;
    let gsr = opt_str(rc, "recordConfiguration.", "GSRSchemaARN")?;
    if let Some(g) = gsr {
        check_text(
            g,
            "recordConfiguration.gsrSchemaARN",
            1,
            512,
            |c| !c.is_whitespace(),
            "arn:aws[-a-z0-9]*:glue:[-a-z0-9]+:\\d{12}:schema/[-a-zA-Z0-9_$#.]+/[-a-zA-Z0-9_$#.]+",
        )?;
    }
    let s3 = o.get("S3DestinationConfiguration").filter(|v| !v.is_null());
    let tables = o
        .get("S3TablesDestinationConfiguration")
        .filter(|v| !v.is_null());
    let s3 = match (s3, tables) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(invalid(
                "specify exactly one of S3DestinationConfiguration and S3TablesDestinationConfiguration",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "S3TablesDestinationConfiguration (streaming tables on Apache Iceberg in Amazon S3 Tables) is not supported by tidelog: channels deliver to general purpose buckets only (S3DestinationConfiguration: a directory bucket or an S3-compatible store)",
            ));
        }
        (Some(s3), None) => s3,
    };
    if streams.len() > 1 {
        return Err(invalid(format!(
            "a channel reads one stream; StreamConfigurationList has {}",
            streams.len()
        )));
    }
    if format == "GSR_JSON" {
        return Err(invalid(
            "RecordFormatType GSR_JSON is supported only for streaming table (S3 Tables) destinations; general purpose S3 channels take JSON, STRING or BYTE_ARRAY",
        ));
    }
    let s3 = object(
        s3,
        "S3DestinationConfiguration",
        &[
            "DataFreshnessInSeconds",
            "DeadLetterQueueS3Configuration",
            "StorageConfiguration",
        ],
    )?;
    let freshness = freshness(s3.get("DataFreshnessInSeconds"))?.unwrap_or(FRESHNESS_S_DEFAULT);
    let storage = s3.get("StorageConfiguration").ok_or_else(|| {
        validation(
            "1 validation error detected: Value null at 's3DestinationConfiguration.storageConfiguration' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let storage = object(
        storage,
        "S3DestinationConfiguration.StorageConfiguration",
        &[
            "BucketARN",
            "ExpectedBucketOwner",
            "OutputKeyTemplate",
            "StorageClass",
            "CompressionType",
        ],
    )?;
    let sp = "s3DestinationConfiguration.storageConfiguration.";
    let bucket_arn = req_str(storage, sp, "BucketARN")?;
    check_bucket_arn(bucket_arn, &format!("{sp}bucketARN"))?;
    let owner = req_str(storage, sp, "ExpectedBucketOwner")?;
    check_owner(owner, &format!("{sp}expectedBucketOwner"))?;
    let template = opt_str(storage, sp, "OutputKeyTemplate")?;
    let parsed = KeyTemplate::parse(template.unwrap_or(DEFAULT_KEY_TEMPLATE))?;
    let class = opt_str(storage, sp, "StorageClass")?
        .map(|c| {
            one_of(
                c,
                &format!("{sp}storageClass"),
                &["STANDARD", "INTELLIGENT_TIERING", "GLACIER_IR"],
            )
        })
        .transpose()?;
    let compression = one_of(
        req_str(storage, sp, "CompressionType")?,
        &format!("{sp}compressionType"),
        &["NONE", "GZIP", "ZSTD"],
    )?;
    let stream_name = crate::names::kinesis_stream_name(stream_arn, "StreamARN")
        .map_err(|e| validation(e.to_string()))?;
    let longest = parsed.longest_key(name, &stream_name, compression_of(compression).extension());
    if longest > KEY_BYTES_MAX {
        return Err(invalid(format!(
            "OutputKeyTemplate makes keys of up to {longest} bytes for this channel and stream; S3 keys are at most {KEY_BYTES_MAX}"
        )));
    }
    let (dlq_bucket_arn, dlq_owner, dlq_prefix) = match s3
        .get("DeadLetterQueueS3Configuration")
        .filter(|v| !v.is_null())
    {
        None => (
            bucket_arn.to_string(),
            owner.to_string(),
            DEFAULT_ERROR_PREFIX.to_string(),
        ),
        Some(d) => {
            let d = object(
                d,
                "S3DestinationConfiguration.DeadLetterQueueS3Configuration",
                &["BucketARN", "ExpectedBucketOwner", "ErrorOutputPrefix"],
            )?;
            let dp = "s3DestinationConfiguration.deadLetterQueueS3Configuration.";
            let arn = req_str(d, dp, "BucketARN")?;
            check_bucket_arn(arn, &format!("{dp}bucketARN"))?;
            let owner = req_str(d, dp, "ExpectedBucketOwner")?;
            check_owner(owner, &format!("{dp}expectedBucketOwner"))?;
            let prefix = opt_str(d, dp, "ErrorOutputPrefix")?;
            if let Some(p) = prefix {
                check_text(
                    p,
                    &format!("{dp}errorOutputPrefix"),
                    1,
                    512,
                    |c| c.is_ascii_alphanumeric() || "!-_'.*()/".contains(c),
                    "[0-9A-Za-z!\\-_'.*()\\/]+",
                )?;
                if p.starts_with('/') || p.split('/').any(|s| s == "." || s == "..") {
                    return Err(invalid(format!(
                        "ErrorOutputPrefix {p:?}: no leading /, no . or .. path segment"
                    )));
                }
            }
            (
                arn.to_string(),
                owner.to_string(),
                prefix.unwrap_or(DEFAULT_ERROR_PREFIX).to_string(),
            )
        }
    };
    let encryption = match o.get("EncryptionConfiguration").filter(|v| !v.is_null()) {
        None => None,
        Some(e) => {
            let e = object(e, "EncryptionConfiguration", &["EncryptionType", "KeyId"])?;
            let t = one_of(
                req_str(e, "encryptionConfiguration.", "EncryptionType")?,
                "encryptionConfiguration.encryptionType",
                &["KMS"],
            )?;
            let key = req_str(e, "encryptionConfiguration.", "KeyId")?;
            check_text(
                key,
                "encryptionConfiguration.keyId",
                1,
                2048,
                |_| true,
                ".*",
            )?;
            if key == "alias/aws/kinesis" {
                return Err(invalid(
                    "a channel's KeyId must be a customer managed key, not alias/aws/kinesis",
                ));
            }
            Some(ChannelEncryption {
                encryption_type: t.to_string(),
                key_id: key.to_string(),
            })
        }
    };
    let tags = tags(o.get("Tags"))?;
    let logging = logging(o.get("LoggingConfiguration"), "loggingConfiguration")?;
    Ok(CreateChannelInput {
        record: ChannelRecord {
            id: 0,
            channel_id: String::new(),
            name: name.to_string(),
            status: CREATING.to_string(),
            version: 1,
            status_reason: None,
            created_ms: 0,
            role_arn: role.to_string(),
            stream_arn: stream_arn.to_string(),
            stream_name,
            stream_created_ms: 0,
            record_format: format.to_string(),
            gsr_schema_arn: gsr.map(str::to_string),
            freshness_s: freshness,
            bucket_arn: bucket_arn.to_string(),
            bucket_owner: owner.to_string(),
            key_template: template.map(str::to_string),
            storage_class: class.map(str::to_string),
            compression: compression.to_string(),
            dlq_bucket_arn,
            dlq_owner,
            dlq_prefix,
            encryption,
            tags,
            logging: logging.unwrap_or_default(),
        },
    })
}

/// DataFreshnessInSeconds: 0 to 900 (AWS takes 300 to 900; tidelog also takes less,
/// as Firehose's IntervalInSeconds does, so local pipelines and tests need not wait).
fn freshness(v: Option<&Value>) -> Result<Option<u32>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(s) if s <= u64::from(FRESHNESS_S_MAX) => Ok(Some(s as u32)),
            _ => Err(invalid(format!(
                "DataFreshnessInSeconds {n} is outside 0..={FRESHNESS_S_MAX}"
            ))),
        },
        Some(_) => Err(validation("DataFreshnessInSeconds must be an integer")),
    }
}

fn tags(v: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(BTreeMap::new());
    };
    let o = v
        .as_object()
        .ok_or_else(|| validation("Tags must be a map of strings"))?;
    if o.is_empty() || o.len() > 200 {
        return Err(constraint(
            "tags",
            &o.len().to_string(),
            "Member must have length between 1 and 200",
        ));
    }
    let mut out = BTreeMap::new();
    for (k, v) in o {
        let v = v
            .as_str()
            .ok_or_else(|| validation(format!("tag {k:?} must be a string")))?;
        check_text(k, "tags.key", 1, 128, |_| true, ".*")?;
        check_text(v, "tags.value", 0, 256, |_| true, ".*")?;
        if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(invalid(format!(
                "tag key {k:?}: the aws: prefix is reserved"
            )));
        }
        out.insert(k.clone(), v.to_string());
    }
    Ok(out)
}

fn logging(v: Option<&Value>, path: &str) -> Result<Option<ChannelLogging>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let o = object(v, "LoggingConfiguration", &["CloudWatchLogs"])?;
    let logs = o.get("CloudWatchLogs").ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{path}.cloudWatchLogs' failed to satisfy constraint: Member must not be null"
        ))
    })?;
    let l = object(
        logs,
        "LoggingConfiguration.CloudWatchLogs",
        &["Enabled", "LogGroupName", "LogStreamName"],
    )?;
    let enabled = match l.get("Enabled") {
        Some(Value::Bool(b)) => *b,
        _ => {
            return Err(validation(format!(
                "1 validation error detected: Value null at '{path}.cloudWatchLogs.enabled' failed to satisfy constraint: Member must not be null"
            )));
        }
    };
    let group = opt_str(l, "loggingConfiguration.cloudWatchLogs.", "LogGroupName")?;
    if let Some(g) = group {
        check_text(
            g,
            "loggingConfiguration.cloudWatchLogs.logGroupName",
            1,
            512,
            |c| c.is_ascii_alphanumeric() || "._-/#".contains(c),
            "[\\.\\-_/#A-Za-z0-9]+",
        )?;
    }
    let stream = opt_str(l, "loggingConfiguration.cloudWatchLogs.", "LogStreamName")?;
    if let Some(s) = stream {
        check_text(
            s,
            "loggingConfiguration.cloudWatchLogs.logStreamName",
            1,
            512,
            |c| c != ':' && c != '*',
            "[^:*]*",
        )?;
    }
    Ok(Some(ChannelLogging {
        enabled,
        log_group: group.map(str::to_string),
        log_stream: stream.map(str::to_string),
    }))
}

/// UpdateChannel's input: the new freshness and logging (either may be absent, not
/// both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateChannelInput {
    /// The channel's name (from its ARN).
    pub arn: String,
    /// New DataFreshnessInSeconds.
    pub freshness_s: Option<u32>,
    /// New LoggingConfiguration.
    pub logging: Option<ChannelLogging>,
}

/// Parses UpdateChannel's JSON input.
pub fn parse_update(input: &Value) -> Result<UpdateChannelInput, ApiError> {
    let o = object(
        input,
        "UpdateChannelInput",
        &[
            "ChannelARN",
            "S3DestinationConfiguration",
            "S3TablesDestinationConfiguration",
            "LoggingConfiguration",
        ],
    )?;
    let arn = req_str(o, "", "ChannelARN")?;
    parse_channel_arn(arn)?;
    if o.get("S3TablesDestinationConfiguration")
        .is_some_and(|v| !v.is_null())
    {
        return Err(invalid(
            "S3TablesDestinationConfiguration: tidelog's channels deliver to general purpose buckets only (S3DestinationConfiguration)",
        ));
    }
    let freshness_s = match o.get("S3DestinationConfiguration").filter(|v| !v.is_null()) {
        None => None,
        Some(s3) => {
            let s3 = object(
                s3,
                "S3DestinationConfiguration",
                &["DataFreshnessInSeconds"],
            )?;
            Some(freshness(s3.get("DataFreshnessInSeconds"))?.ok_or_else(|| {
                validation(
                    "1 validation error detected: Value null at 's3DestinationConfiguration.dataFreshnessInSeconds' failed to satisfy constraint: Member must not be null",
                )
            })?)
        }
    };
    let logging = logging(o.get("LoggingConfiguration"), "loggingConfiguration")?;
    if freshness_s.is_none() && logging.is_none() {
        return Err(invalid(
            "UpdateChannel changes DataFreshnessInSeconds (S3DestinationConfiguration) or LoggingConfiguration: give at least one",
        ));
    }
    Ok(UpdateChannelInput {
        arn: arn.to_string(),
        freshness_s,
        logging,
    })
}

/// ListChannels' input.
#[derive(Debug, Clone, PartialEq)]
pub struct ListChannelsInput {
    /// Streams (ARN and optional creation time, seconds) whose channels are listed.
    pub streams: Option<Vec<(String, Option<f64>)>>,
    /// At most this many (1 to 100).
    pub max: usize,
    /// List after this channel name (from NextToken).
    pub after: Option<String>,
}

/// Parses ListChannels' JSON input (`now_ms`: to check the token's age).
pub fn parse_list(input: &Value, now_ms: u64) -> Result<ListChannelsInput, ApiError> {
    let o = object(
        input,
        "ListChannelsInput",
        &["StreamFilter", "MaxResults", "NextToken"],
    )?;
    let max = match o.get("MaxResults") {
        None | Some(Value::Null) => 100,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(m) if (1..=10_000).contains(&m) => m.min(100) as usize,
            _ => {
                return Err(constraint(
                    "maxResults",
                    &n.to_string(),
                    "Member must have value between 1 and 10000",
                ));
            }
        },
        Some(_) => return Err(validation("MaxResults must be an integer")),
    };
    let streams = match o.get("StreamFilter") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => {
            if a.is_empty() || a.len() > 10_000 {
                return Err(constraint(
                    "streamFilter",
                    &a.len().to_string(),
                    "Member must have length between 1 and 10000",
                ));
            }
            let mut out = Vec::with_capacity(a.len());
            for f in a {
                let f = object(
                    f,
                    "StreamFilter[]",
                    &["StreamARN", "StreamCreationTimestamp"],
                )?;
                let arn = req_str(f, "streamFilter.member.", "StreamARN")?;
                check_stream_arn(arn, "streamFilter.member.streamARN")?;
                let created = match f.get("StreamCreationTimestamp") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) => n.as_f64(),
                    Some(_) => {
                        return Err(validation("StreamCreationTimestamp must be a timestamp"));
                    }
                };
                out.push((arn.to_string(), created));
            }
            Some(out)
        }
        Some(_) => return Err(validation("StreamFilter must be a list")),
    };
    let after = match opt_str(o, "", "NextToken")? {
        None => None,
        Some(t) => Some(decode_token(t, now_ms)?),
    };
    Ok(ListChannelsInput {
        streams,
        max,
        after,
    })
}

/// A NextToken after channel `name`, issued at `now_ms`.
pub fn encode_token(name: &str, now_ms: u64) -> String {
    let body = json!({"after": name, "t": now_ms}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body)
}

fn decode_token(token: &str, now_ms: u64) -> Result<String, ApiError> {
    let bad = || {
        invalid(format!(
            "Invalid NextToken {:?}",
            token.chars().take(80).collect::<String>()
        ))
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let (Some(after), Some(t)) = (body["after"].as_str(), body["t"].as_u64()) else {
        return Err(bad());
    };
    if now_ms.saturating_sub(t) > NEXT_TOKEN_LIFETIME_MS {
        return Err(ApiError {
            code: "ExpiredNextTokenException",
            message: "The NextToken has expired (tokens last 300 seconds)".to_string(),
            status: 400,
        });
    }
    Ok(after.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> KeyNames {
        KeyNames {
            channel: "ch".to_string(),
            channel_id: "0000".to_string(),
            stream: "orders".to_string(),
        }
    }

    #[test]
    fn the_default_template_puts_the_suffix_before_the_extension() {
        let t = KeyTemplate::parse(DEFAULT_KEY_TEMPLATE).unwrap();
        // 2018-08-27T10:30:05.123Z
        let key = t.evaluate(&names(), 1_535_365_805_123, "ID", ".gz");
        assert_eq!(
            key,
            "kinesis-channel/ch/0000/2018/08/27/10/ch-0000-2018-08-27-10-30-ID.gz"
        );
        let t = KeyTemplate::parse("!{stream-name}/y=!{yy}/!{channel-name}").unwrap();
        assert_eq!(
            t.evaluate(&names(), 1_535_365_805_123, "ID", ".zst"),
            "orders/y=18/ch-ID"
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in [
            "",
            "/abs/!{yyyy}",
            "ends/",
            "a//b",
            "a/../b",
            "./a",
            "!{nope}",
            "!{yyyy",
            "a}b",
            "a{b",
            "spa ce",
            &"a".repeat(1025),
        ] {
            assert!(KeyTemplate::parse(bad).is_err(), "{bad:?} accepted");
        }
        let t = KeyTemplate::parse("!{stream-name}/!{channel-name}").unwrap();
        assert_eq!(t.longest_key("abc", "defg", ".gz"), 3 + 1 + 4 + 37);
    }

    #[test]
    fn formats_check_their_records() {
        assert!(RecordFormat::Json.check(br#"{"a": [1, 2]}"#).is_ok());
        assert_eq!(
            RecordFormat::Json.check(b"{oops").unwrap_err().0,
            "Channel.InvalidJSONRecord"
        );
        assert!(RecordFormat::String.check("héllo".as_bytes()).is_ok());
        assert!(RecordFormat::String.check(&[0xff, 0xfe]).is_err());
        assert!(RecordFormat::ByteArray.check(&[0xff, 0xfe]).is_ok());
        assert_eq!(RecordFormat::ByteArray.delimiter(), None);
    }

    #[test]
    fn arns_and_tokens() {
        let arn = channel_arn("us-east-1", "000000000000", "c1");
        assert_eq!(
            parse_channel_arn(&arn).unwrap(),
            (
                "us-east-1".to_string(),
                "000000000000".to_string(),
                "c1".to_string()
            )
        );
        for bad in [
            "c1",
            "arn:aws:kinesis:us-east-1:000000000000:stream/c1",
            "arn:aws:kinesis:us-east-1:0:channel/c1",
        ] {
            assert_eq!(
                parse_channel_arn(bad).unwrap_err().code,
                "ValidationException"
            );
        }
        let t = encode_token("b", 1_000);
        assert_eq!(decode_token(&t, 2_000).unwrap(), "b");
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
}
