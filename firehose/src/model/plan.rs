//! Validation of a delivery stream's configuration and the plan the worker runs: parsed
//! prefixes, byte and millisecond thresholds, the processor chain, the backup
//! destination. Built once per configuration version.
//!
//! Invariant: `DeliveryPlan::build` is the only way a configuration reaches the catalog
//! or a worker, so every rule below holds for every running delivery stream.
#![forbid(unsafe_code)]

use super::s3::{ExtendedS3Destination, ProcessingConfiguration, S3Destination};
use crate::compression::Compression;
use crate::error::{Error, Result};
use crate::jq::Query;
use crate::prefix::{Prefix, PrefixKind};

/// SizeInMBs bounds and default of S3 (AWS).
pub const S3_SIZE_MB_MIN: u32 = 1;
/// Largest SizeInMBs of S3.
pub const S3_SIZE_MB_MAX: u32 = 128;
/// Default SizeInMBs of S3.
pub const S3_SIZE_MB_DEFAULT: u32 = 5;
/// Largest IntervalInSeconds.
pub const INTERVAL_S_MAX: u32 = 900;
/// Default IntervalInSeconds.
pub const INTERVAL_S_DEFAULT: u32 = 300;
/// Smallest SizeInMBs with dynamic partitioning (AWS).
pub const DYNAMIC_PARTITIONING_SIZE_MB_MIN: u32 = 64;
/// Longest Prefix / ErrorOutputPrefix as written.
pub const PREFIX_CHARS_MAX: usize = 1024;
/// Most retries of a transform invocation.
pub const LAMBDA_RETRIES_MAX: u32 = 300;
/// Default NumberOfRetries.
pub const LAMBDA_RETRIES_DEFAULT: u32 = 3;

/// The time zone of timestamps in keys (CustomTimeZone): UTC, or a zone of the IANA
/// time zone database (built in, so no system files are needed), e.g. `Asia/Tokyo`.
#[derive(Debug, Clone)]
pub enum TimeZone {
    /// UTC (the default).
    Utc,
    /// A named zone.
    Zone {
        /// Its name as configured.
        name: String,
        /// Its rules.
        tz: jiff::tz::TimeZone,
    },
}

impl PartialEq for TimeZone {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Utc, Self::Utc) => true,
            (Self::Zone { name: a, .. }, Self::Zone { name: b, .. }) => a == b,
            _ => false,
        }
    }
}

impl TimeZone {
    /// Parses CustomTimeZone (AWS: 0 to 50 of `[a-zA-Z/_]`, a zone name).
    pub fn parse(name: &str) -> std::result::Result<Self, String> {
        match name {
            "" | "UTC" | "Etc/UTC" => Ok(Self::Utc),
            other => {
                let shape = other.len() <= 50
                    && other
                        .bytes()
                        .all(|b| b.is_ascii_alphabetic() || b == b'/' || b == b'_');
                if !shape {
                    return Err(format!(
                        "{other:?} is not a time zone name ([a-zA-Z/_], 50 at most)"
                    ));
                }
                let tz = jiff::tz::TimeZone::get(other)
                    .map_err(|_| format!("{other:?} is not a time zone of the IANA database"))?;
                Ok(Self::Zone {
                    name: other.to_string(),
                    tz,
                })
            }
        }
    }

    /// Offset from UTC at `epoch_ms`, seconds.
    pub fn offset_at(&self, epoch_ms: u64) -> i32 {
        match self {
            Self::Utc => 0,
            Self::Zone { tz, .. } => i64::try_from(epoch_ms)
                .ok()
                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                .map_or(0, |t| tz.to_offset(t).seconds()),
        }
    }
}

#[cfg(test)]
mod time_zone_tests {
    use super::TimeZone;

    #[test]
    fn zones_give_their_offsets_with_daylight_saving() {
        let tokyo = TimeZone::parse("Asia/Tokyo").unwrap();
        assert_eq!(tokyo.offset_at(1_535_365_805_123), 9 * 3600);
        let ny = TimeZone::parse("America/New_York").unwrap();
        assert_eq!(ny.offset_at(1_535_365_805_123), -4 * 3600); // August: EDT
        assert_eq!(ny.offset_at(1_546_300_800_000), -5 * 3600); // January: EST
        assert_eq!(TimeZone::parse("").unwrap(), TimeZone::Utc);
        for bad in ["Mars/Olympus", "Asia/Tokyo1", "../etc", &"A".repeat(51)] {
            assert!(TimeZone::parse(bad).is_err(), "{bad}");
        }
    }
}

/// The transform (AWS Lambda) step.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaPlan {
    /// The ARN as configured.
    pub arn: String,
    /// The function name: the registered transform this delivery stream calls.
    pub function: String,
    /// NumberOfRetries.
    pub retries: u32,
    /// Most bytes of input per invocation (BufferSizeInMBs).
    pub buffer_bytes: u64,
    /// BufferIntervalInSeconds, ms.
    pub buffer_interval_ms: u64,
}

/// The processor chain.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessingPlan {
    /// The transform.
    pub lambda: Option<LambdaPlan>,
    /// The partition key query.
    pub query: Option<Query>,
    /// The delimiter AppendDelimiterToRecord appends (newline).
    pub delimiter: Option<Vec<u8>>,
}

/// Where and how one kind of object is written.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectPlan {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (AWS's default time layout appended where it applies).
    pub prefix: Prefix,
    /// Flush at this many bytes.
    pub size_bytes: u64,
    /// ... or when the oldest buffered record waited this long.
    pub interval_ms: u64,
    /// Compression of the objects.
    pub compression: Compression,
    /// The extension of the objects.
    pub extension: String,
    /// Records are converted (AppendDelimiterToRecord does not apply).
    pub delimiter_ignored: bool,
}

/// Everything the worker needs to run a delivery stream's S3 destination.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPlan {
    /// The delivery stream's name (in object keys).
    pub name: String,
    /// Its version (in object keys).
    pub version: u64,
    /// Data objects.
    pub data: ObjectPlan,
    /// Error objects (same bucket, ErrorOutputPrefix).
    pub error_prefix: Prefix,
    /// Time zone of keys.
    pub time_zone: TimeZone,
    /// Processors.
    pub processing: ProcessingPlan,
    /// Dynamic partitioning on.
    pub dynamic_partitioning: bool,
    /// Source record backup.
    pub backup: Option<ObjectPlan>,
    /// Where data batches go.
    pub target: Target,
    /// Record format conversion (JSON to Parquet), S3 only.
    pub conversion: Option<std::sync::Arc<crate::conversion::ConversionPlan>>,
    /// A Kinesis channel's record check, object keys and dead-letter bucket
    /// (`channel.rs`); `None` for delivery streams.
    pub channel: Option<std::sync::Arc<crate::channel::ChannelPlan>>,
}

/// Where a delivery stream's data batches go.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Objects in `data.bucket` (S3 or the directory store).
    S3,
    /// POSTs to an HTTP endpoint; failed batches (and, with AllData, every source
    /// record) become objects in `data.bucket`.
    Http(HttpPlan),
    /// Objects staged in `data.bucket`, then COPYed into a PostgreSQL table.
    Postgres(PostgresPlan),
}

/// The HTTP endpoint destination.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPlan {
    /// The URL.
    pub url: String,
    /// X-Amz-Firehose-Access-Key.
    pub access_key: Option<String>,
    /// Content-Encoding: gzip.
    pub gzip: bool,
    /// X-Amz-Firehose-Common-Attributes.
    pub common_attributes: Vec<(String, String)>,
    /// How long a batch is retried before it goes to the error output, ms.
    pub retry_duration_ms: u64,
}

/// How COPY reads a staged object.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyFormat {
    /// `COPY ... WITH (<options>)`: CSV or text, options already translated.
    Direct(String),
    /// Redshift's `JSON 'auto'`: each record is a JSON object whose keys name columns
    /// (`ignorecase`: compared in lower case).
    JsonAuto {
        /// Compare keys in lower case.
        ignore_case: bool,
    },
    /// Redshift's `JSON 'noshred'`: each record's whole document into the one column.
    JsonDocument,
}

/// The PostgreSQL (Redshift) destination.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresPlan {
    /// tokio-postgres connection string (URL form).
    pub url: String,
    /// User, overriding the URL's.
    pub user: Option<String>,
    /// Password, overriding the URL's.
    pub password: Option<String>,
    /// The table, validated identifiers (`schema.table` or `table`).
    pub table: String,
    /// The columns, validated identifiers (empty: all, in table order).
    pub columns: Vec<String>,
    /// How the data is read.
    pub format: CopyFormat,
    /// How long a batch is retried before it is skipped (listed in a manifest under
    /// `errors/`), ms.
    pub retry_duration_ms: u64,
}

pub(crate) fn field(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

/// Validates `arn:<partition>:iam::<12 digits>:role/<name>`.
pub fn check_role_arn(arn: &str, path: &str) -> Result<()> {
    let ok = arn.len() <= 512 && arn.starts_with("arn:") && arn.split(':').count() == 6 && {
        let parts: Vec<&str> = arn.split(':').collect();
        parts[2] == "iam"
            && parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit())
            && parts[5].starts_with("role/")
            && parts[5].len() > 5
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            path,
            format!("{arn:?} is not a role ARN (arn:aws:iam::<12 digits>:role/<name>)"),
        ))
    }
}

/// The bucket of `arn:<partition>:s3:::<bucket>`, checked against S3's bucket naming
/// rules (3 to 63 of lowercase letters, digits, dots and hyphens, starting and ending
/// with a letter or digit), which also makes it a safe directory name.
pub fn bucket_of(arn: &str, path: &str) -> Result<String> {
    let bad = |why: &str| Error::invalid(path, format!("{arn:?}: {why}"));
    let rest = arn
        .strip_prefix("arn:")
        .ok_or_else(|| bad("not an S3 bucket ARN (arn:aws:s3:::<bucket>)"))?;
    let (partition, rest) = rest
        .split_once(':')
        .ok_or_else(|| bad("not an S3 bucket ARN (arn:aws:s3:::<bucket>)"))?;
    let bucket = rest
        .strip_prefix("s3:::")
        .filter(|_| !partition.is_empty())
        .ok_or_else(|| bad("not an S3 bucket ARN (arn:aws:s3:::<bucket>)"))?;
    let chars_ok = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends_ok = bucket
        .bytes()
        .next()
        .zip(bucket.bytes().last())
        .is_some_and(|(a, z)| a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric());
    if !(3..=63).contains(&bucket.len()) || !chars_ok || !ends_ok || bucket.contains("..") {
        return Err(bad(
            "bucket names are 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit",
        ));
    }
    Ok(bucket.to_string())
}

fn check_prefix_len(value: &str, path: &str) -> Result<()> {
    if value.chars().count() > PREFIX_CHARS_MAX {
        return Err(Error::invalid(
            path,
            format!("longer than {PREFIX_CHARS_MAX} characters"),
        ));
    }
    Ok(())
}

pub(crate) fn buffering(
    hints: &Option<super::BufferingHints>,
    path: &str,
    size_min: u32,
    size_max: u32,
    size_default: u32,
) -> Result<(u32, u32)> {
    let Some(h) = hints else {
        return Ok((size_default, INTERVAL_S_DEFAULT));
    };
    let hpath = field(path, "BufferingHints");
    match (h.size_in_mbs, h.interval_in_seconds) {
        (Some(size), Some(interval)) => {
            if !(size_min..=size_max).contains(&size) {
                return Err(Error::invalid(
                    field(&hpath, "SizeInMBs"),
                    format!("{size} is outside {size_min}..={size_max}"),
                ));
            }
            if interval > INTERVAL_S_MAX {
                return Err(Error::invalid(
                    field(&hpath, "IntervalInSeconds"),
                    format!("{interval} is outside 0..={INTERVAL_S_MAX}"),
                ));
            }
            Ok((size, interval))
        }
        (None, None) => Ok((size_default, INTERVAL_S_DEFAULT)),
        _ => Err(Error::invalid(
            hpath,
            "set both SizeInMBs and IntervalInSeconds, or neither",
        )),
    }
}

pub(crate) fn compression(value: &Option<String>, path: &str) -> Result<Compression> {
    match value {
        None => Ok(Compression::Uncompressed),
        // ZSTD is a Kinesis channel compression, not a Firehose CompressionFormat.
        Some(name) => Compression::from_name(name)
            .filter(|c| *c != Compression::Zstd)
            .ok_or_else(|| {
                Error::invalid(
                    field(path, "CompressionFormat"),
                    format!(
                        "{name:?} is not one of UNCOMPRESSED, GZIP, ZIP, Snappy, HADOOP_SNAPPY"
                    ),
                )
            }),
    }
}

fn check_encryption(e: &Option<super::EncryptionConfiguration>, path: &str) -> Result<()> {
    let Some(e) = e else { return Ok(()) };
    let epath = field(path, "EncryptionConfiguration");
    match (&e.no_encryption_config, &e.kms_encryption_config) {
        (Some(v), None) if v == "NoEncryption" => Ok(()),
        (Some(v), None) => Err(Error::invalid(
            field(&epath, "NoEncryptionConfig"),
            format!("{v:?} is not NoEncryption"),
        )),
        (None, Some(k)) if is_kms_arn(&k.aws_kms_key_arn) => Ok(()),
        (None, Some(k)) => Err(Error::InvalidKms {
            key: k.aws_kms_key_arn.clone(),
            reason: "not a KMS key ARN (arn:aws:kms:<region>:<12 digits>:key/<id>)".to_string(),
        }),
        _ => Err(Error::invalid(
            epath,
            "give exactly one of NoEncryptionConfig and KMSEncryptionConfig",
        )),
    }
}

/// Validates `arn:<partition>:kms:<region>:<12 digits>:(key|alias)/<id>`.
pub fn is_kms_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    arn.len() <= 512
        && parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "kms"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && (parts[5].starts_with("key/") || parts[5].starts_with("alias/"))
        && parts[5].len() > 4
}

fn file_extension(value: &Option<String>, compression: Compression, path: &str) -> Result<String> {
    let Some(ext) = value.as_deref().filter(|e| !e.is_empty()) else {
        return Ok(compression.extension().to_string());
    };
    let valid = ext.len() <= 128
        && ext.starts_with('.')
        && ext.len() > 1
        && ext[1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b"!-_.*'()".contains(&b));
    if !valid {
        return Err(Error::invalid(
            field(path, "FileExtension"),
            format!("{ext:?}: a dot, then up to 127 of 0-9 a-z ! - _ . * ' ( )"),
        ));
    }
    if !ext.ends_with(compression.extension()) {
        return Err(Error::invalid(
            field(path, "FileExtension"),
            format!(
                "{ext:?} must end with {:?} for {} compression",
                compression.extension(),
                compression.name()
            ),
        ));
    }
    Ok(ext.to_string())
}

/// The function name of a Lambda ARN (`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`).
pub fn lambda_function(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = (7..=8).contains(&parts.len())
        && parts[0] == "arn"
        && parts[2] == "lambda"
        && parts[5] == "function"
        && !parts[6].is_empty()
        && parts[6]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| parts[6].to_string())
}

fn unescape_delimiter(value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push(b'\n'),
                Some('t') => out.push(b'\t'),
                Some('r') => out.push(b'\r'),
                Some('\\') => out.push(b'\\'),
                Some(other) => {
                    out.push(b'\\');
                    out.extend(other.to_string().bytes());
                }
                None => out.push(b'\\'),
            }
        } else {
            out.extend(c.to_string().bytes());
        }
    }
    out
}

pub(crate) fn processing(
    config: &Option<ProcessingConfiguration>,
    path: &str,
) -> Result<ProcessingPlan> {
    let mut plan = ProcessingPlan::default();
    let Some(config) = config else {
        return Ok(plan);
    };
    let ppath = field(path, "ProcessingConfiguration");
    let processors = config.processors.as_deref().unwrap_or(&[]);
    let mut seen = Vec::new();
    for (i, p) in processors.iter().enumerate() {
        let at = format!("{ppath}.Processors[{i}]");
        if seen.contains(&p.kind) {
            return Err(Error::invalid(at, format!("a second {} processor", p.kind)));
        }
        seen.push(p.kind.clone());
        let params = p.parameters.as_deref().unwrap_or(&[]);
        let get = |name: &str| {
            params
                .iter()
                .find(|x| x.name == name)
                .map(|x| x.value.as_str())
        };
        let allowed: &[&str] = match p.kind.as_str() {
            "Lambda" => &[
                "LambdaArn",
                "NumberOfRetries",
                "RoleArn",
                "BufferSizeInMBs",
                "BufferIntervalInSeconds",
            ],
            "MetadataExtraction" => &["MetadataExtractionQuery", "JsonParsingEngine"],
            "AppendDelimiterToRecord" => &["Delimiter"],
            "RecordDeAggregation" | "Decompression" | "CloudWatchLogProcessing" => {
                return Err(Error::invalid(
                    field(&at, "Type"),
                    format!("the {} processor is not supported by tidelog", p.kind),
                ));
            }
            other => {
                return Err(Error::invalid(
                    field(&at, "Type"),
                    format!("{other:?} is not a processor type"),
                ));
            }
        };
        for (j, param) in params.iter().enumerate() {
            if !allowed.contains(&param.name.as_str()) {
                return Err(Error::invalid(
                    format!("{at}.Parameters[{j}].ParameterName"),
                    format!(
                        "{:?} is not a parameter of the {} processor",
                        param.name, p.kind
                    ),
                ));
            }
            if param.value.trim().is_empty() || param.value.chars().count() > 5120 {
                return Err(Error::invalid(
                    format!("{at}.Parameters[{j}].ParameterValue"),
                    "1 to 5,120 characters, not only spaces",
                ));
            }
        }
        match p.kind.as_str() {
            "Lambda" => {
                let arn = get("LambdaArn").ok_or_else(|| {
                    Error::invalid(&at, "the Lambda processor needs a LambdaArn parameter")
                })?;
                let function = lambda_function(arn).ok_or_else(|| {
                    Error::invalid(
                        format!("{at}.LambdaArn"),
                        format!("{arn:?} is not a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>)"),
                    )
                })?;
                let retries = match get("NumberOfRetries") {
                    None => LAMBDA_RETRIES_DEFAULT,
                    Some(v) => v
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n <= LAMBDA_RETRIES_MAX)
                        .ok_or_else(|| {
                            Error::invalid(
                                format!("{at}.NumberOfRetries"),
                                format!("{v:?} is not an integer in 0..={LAMBDA_RETRIES_MAX}"),
                            )
                        })?,
                };
                let buffer_mb = match get("BufferSizeInMBs") {
                    None => 1.0,
                    Some(v) => v
                        .parse::<f64>()
                        .ok()
                        .filter(|n| (0.2..=3.0).contains(n))
                        .ok_or_else(|| {
                            Error::invalid(
                                format!("{at}.BufferSizeInMBs"),
                                format!("{v:?} is not a number in 0.2..=3"),
                            )
                        })?,
                };
                let interval_s = match get("BufferIntervalInSeconds") {
                    None => 60,
                    Some(v) => v
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (60..=900).contains(n))
                        .ok_or_else(|| {
                            Error::invalid(
                                format!("{at}.BufferIntervalInSeconds"),
                                format!("{v:?} is not an integer in 60..=900"),
                            )
                        })?,
                };
                if let Some(role) = get("RoleArn") {
                    check_role_arn(role, &format!("{at}.RoleArn"))?;
                }
                plan.lambda = Some(LambdaPlan {
                    arn: arn.to_string(),
                    function,
                    retries,
                    buffer_bytes: (buffer_mb * 1_048_576.0) as u64,
                    buffer_interval_ms: interval_s * 1000,
                });
            }
            "MetadataExtraction" => {
                let query = get("MetadataExtractionQuery").ok_or_else(|| {
                    Error::invalid(
                        &at,
                        "MetadataExtraction needs a MetadataExtractionQuery parameter",
                    )
                })?;
                match get("JsonParsingEngine") {
                    Some("JQ-1.6") => {}
                    Some(other) => {
                        return Err(Error::invalid(
                            format!("{at}.JsonParsingEngine"),
                            format!("{other:?} is not JQ-1.6"),
                        ));
                    }
                    None => {
                        return Err(Error::invalid(
                            &at,
                            "MetadataExtraction needs JsonParsingEngine JQ-1.6",
                        ));
                    }
                }
                plan.query = Some(
                    Query::parse(query)
                        .map_err(|e| Error::invalid(format!("{at}.MetadataExtractionQuery"), e))?,
                );
            }
            _ => {
                plan.delimiter = Some(match get("Delimiter") {
                    Some(d) => unescape_delimiter(d),
                    None => b"\n".to_vec(),
                });
            }
        }
    }
    if config.enabled != Some(true) {
        // Processors kept in the configuration but switched off.
        return Ok(ProcessingPlan::default());
    }
    Ok(plan)
}

pub(crate) fn object_plan(
    s3: &S3Destination,
    path: &str,
    dynamic_partitioning: bool,
) -> Result<ObjectPlan> {
    let role = s3
        .role_arn
        .as_deref()
        .ok_or_else(|| Error::invalid(field(path, "RoleARN"), "is required"))?;
    check_role_arn(role, &field(path, "RoleARN"))?;
    let bucket_arn = s3
        .bucket_arn
        .as_deref()
        .ok_or_else(|| Error::invalid(field(path, "BucketARN"), "is required"))?;
    let bucket = bucket_of(bucket_arn, &field(path, "BucketARN"))?;
    let prefix_src = s3.prefix.as_deref().unwrap_or("");
    check_prefix_len(prefix_src, &field(path, "Prefix"))?;
    let prefix = Prefix::parse(prefix_src, PrefixKind::Data, dynamic_partitioning)
        .map_err(|e| Error::invalid(field(path, "Prefix"), e))?;
    if let Some(e) = &s3.error_output_prefix {
        check_prefix_len(e, &field(path, "ErrorOutputPrefix"))?;
    }
    let (size, interval) = buffering(
        &s3.buffering_hints,
        path,
        S3_SIZE_MB_MIN,
        S3_SIZE_MB_MAX,
        S3_SIZE_MB_DEFAULT,
    )?;
    let compression = compression(&s3.compression_format, path)?;
    check_encryption(&s3.encryption_configuration, path)?;
    Ok(ObjectPlan {
        bucket,
        prefix: prefix.with_default_time(),
        size_bytes: u64::from(size) << 20,
        interval_ms: u64::from(interval) * 1000,
        compression,
        extension: compression.extension().to_string(),
        delimiter_ignored: false,
    })
}

impl DeliveryPlan {
    /// Validates an extended S3 configuration (`path` names it in errors) and builds the
    /// plan of version `version` of delivery stream `name`.
    pub fn build(name: &str, version: u64, s3: &ExtendedS3Destination, path: &str) -> Result<Self> {
        let dynamic_partitioning = s3
            .dynamic_partitioning_configuration
            .as_ref()
            .and_then(|d| d.enabled)
            .unwrap_or(false);
        if let Some(retry) = s3
            .dynamic_partitioning_configuration
            .as_ref()
            .and_then(|d| d.retry_options.as_ref())
            .and_then(|r| r.duration_in_seconds)
            && retry > 7200
        {
            return Err(Error::invalid(
                field(
                    path,
                    "DynamicPartitioningConfiguration.RetryOptions.DurationInSeconds",
                ),
                format!("{retry} is outside 0..=7200"),
            ));
        }
        let plain = s3.plain();
        let mut data = object_plan(&plain, path, dynamic_partitioning)?;
        let prefix_src = s3.prefix.as_deref().unwrap_or("");
        let prefix = Prefix::parse(prefix_src, PrefixKind::Data, dynamic_partitioning)
            .map_err(|e| Error::invalid(field(path, "Prefix"), e))?;
        let error_src = s3.error_output_prefix.as_deref().unwrap_or("");
        let error_prefix = Prefix::parse(error_src, PrefixKind::Error, false)
            .map_err(|e| Error::invalid(field(path, "ErrorOutputPrefix"), e))?;
        if prefix.has_expressions() && error_src.is_empty() {
            return Err(Error::invalid(
                field(path, "ErrorOutputPrefix"),
                "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions",
            ));
        }
        let processing = processing(&s3.processing_configuration, path)?;
        if dynamic_partitioning {
            if error_src.is_empty() {
                return Err(Error::invalid(
                    field(path, "ErrorOutputPrefix"),
                    "dynamic partitioning needs an ErrorOutputPrefix",
                ));
            }
            if !prefix.has_partition_keys() {
                return Err(Error::invalid(
                    field(path, "Prefix"),
                    "dynamic partitioning needs a partitionKeyFromQuery or partitionKeyFromLambda expression in the Prefix",
                ));
            }
            let (size, interval) = (data.size_bytes >> 20, data.interval_ms / 1000);
            if s3.buffering_hints.is_some() && size < u64::from(DYNAMIC_PARTITIONING_SIZE_MB_MIN) {
                return Err(Error::invalid(
                    field(path, "BufferingHints.SizeInMBs"),
                    format!(
                        "dynamic partitioning needs at least {DYNAMIC_PARTITIONING_SIZE_MB_MIN} MB"
                    ),
                ));
            }
            if s3.buffering_hints.is_none() {
                data.size_bytes = u64::from(DYNAMIC_PARTITIONING_SIZE_MB_MIN) << 20;
            }
            if interval == 0 {
                return Err(Error::invalid(
                    field(path, "BufferingHints.IntervalInSeconds"),
                    "zero buffering is not available with dynamic partitioning",
                ));
            }
        }
        for key in prefix.query_keys() {
            let produced = processing
                .query
                .as_ref()
                .is_some_and(|q| q.keys().any(|k| k == key));
            if !produced {
                return Err(Error::invalid(
                    field(path, "Prefix"),
                    format!(
                        "partitionKeyFromQuery:{key} is not produced by an enabled MetadataExtraction query"
                    ),
                ));
            }
        }
        if prefix.lambda_keys().next().is_some() && processing.lambda.is_none() {
            return Err(Error::invalid(
                field(path, "Prefix"),
                "partitionKeyFromLambda needs an enabled Lambda processor",
            ));
        }
        if processing.query.is_some() && !dynamic_partitioning {
            return Err(Error::invalid(
                field(path, "ProcessingConfiguration"),
                "MetadataExtraction needs dynamic partitioning enabled",
            ));
        }
        data.prefix = prefix.with_default_time();
        data.extension = file_extension(&s3.file_extension, data.compression, path)?;
        let time_zone = TimeZone::parse(s3.custom_time_zone.as_deref().unwrap_or(""))
            .map_err(|e| Error::invalid(field(path, "CustomTimeZone"), e))?;
        let conversion = match &s3.data_format_conversion_configuration {
            None => None,
            Some(config) => crate::conversion::ConversionPlan::from_config(config)
                .map_err(|(f, e)| {
                    Error::invalid(
                        field(path, &format!("DataFormatConversionConfiguration.{f}")),
                        e,
                    )
                })?
                .map(std::sync::Arc::new),
        };
        if conversion.is_some() {
            if data.compression != Compression::Uncompressed {
                return Err(Error::invalid(
                    field(path, "CompressionFormat"),
                    "record format conversion needs CompressionFormat UNCOMPRESSED (Parquet compresses inside)",
                ));
            }
            if s3.buffering_hints.is_none() {
                data.size_bytes = 128 << 20;
            } else if data.size_bytes < 64 << 20 {
                return Err(Error::invalid(
                    field(path, "BufferingHints.SizeInMBs"),
                    "record format conversion needs at least 64 MB",
                ));
            }
            data.extension = match s3.file_extension.as_deref().filter(|e| !e.is_empty()) {
                Some(ext) => ext.to_string(),
                None => ".parquet".to_string(),
            };
            data.delimiter_ignored = true;
        }
        let backup = match s3.s3_backup_mode.as_deref().unwrap_or("Disabled") {
            "Disabled" => None,
            "Enabled" => {
                let b = s3.s3_backup_configuration.as_ref().ok_or_else(|| {
                    Error::invalid(
                        field(path, "S3BackupConfiguration"),
                        "S3BackupMode Enabled needs an S3BackupConfiguration",
                    )
                })?;
                Some(object_plan(
                    b,
                    &field(path, "S3BackupConfiguration"),
                    false,
                )?)
            }
            other => {
                return Err(Error::invalid(
                    field(path, "S3BackupMode"),
                    format!("{other:?} is not Disabled or Enabled"),
                ));
            }
        };
        let error_prefix = if error_src.is_empty() {
            Prefix::parse(
                &format!(
                    "{prefix_src}!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd/HH}}/"
                ),
                PrefixKind::Error,
                false,
            )
            .map_err(|e| Error::invalid(field(path, "Prefix"), e))?
        } else {
            error_prefix.with_default_time()
        };
        Ok(Self {
            name: name.to_string(),
            version,
            data,
            error_prefix,
            time_zone,
            processing,
            dynamic_partitioning,
            backup,
            target: Target::S3,
            conversion,
            channel: None,
        })
    }
}

/// Fills in AWS's defaults, as DescribeDeliveryStream shows them.
pub fn with_defaults(
    mut s3: ExtendedS3Destination,
    dynamic_partitioning_size: bool,
) -> ExtendedS3Destination {
    if s3.buffering_hints.is_none() {
        s3.buffering_hints = Some(super::BufferingHints {
            size_in_mbs: Some(if dynamic_partitioning_size {
                DYNAMIC_PARTITIONING_SIZE_MB_MIN
            } else {
                S3_SIZE_MB_DEFAULT
            }),
            interval_in_seconds: Some(INTERVAL_S_DEFAULT),
        });
    }
    if s3.compression_format.is_none() {
        s3.compression_format = Some("UNCOMPRESSED".to_string());
    }
    if s3.encryption_configuration.is_none() {
        s3.encryption_configuration = Some(Default::default());
    }
    if s3.s3_backup_mode.is_none() {
        s3.s3_backup_mode = Some("Disabled".to_string());
    }
    if let Some(backup) = &mut s3.s3_backup_configuration {
        if backup.buffering_hints.is_none() {
            backup.buffering_hints = Some(super::BufferingHints {
                size_in_mbs: Some(S3_SIZE_MB_DEFAULT),
                interval_in_seconds: Some(INTERVAL_S_DEFAULT),
            });
        }
        if backup.compression_format.is_none() {
            backup.compression_format = Some("UNCOMPRESSED".to_string());
        }
        if backup.encryption_configuration.is_none() {
            backup.encryption_configuration = Some(Default::default());
        }
    }
    s3
}
