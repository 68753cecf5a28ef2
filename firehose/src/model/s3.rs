//! The S3 destination's shapes, as botocore's Firehose model spells them (field names,
//! optional fields), used for requests, for the catalog and for descriptions. Unknown
//! fields are refused (`deny_unknown_fields`), so a typo is an error, not a silently
//! ignored setting.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

/// BufferingHints: flush at SizeInMBs or IntervalInSeconds, whichever comes first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferingHints {
    /// 1 to 128 MiB (default 5).
    #[serde(rename = "SizeInMBs", skip_serializing_if = "Option::is_none")]
    pub size_in_mbs: Option<u32>,
    /// 0 to 900 s (default 300).
    #[serde(rename = "IntervalInSeconds", skip_serializing_if = "Option::is_none")]
    pub interval_in_seconds: Option<u32>,
}

/// One processor parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorParameter {
    /// LambdaArn, NumberOfRetries, MetadataExtractionQuery, ...
    #[serde(rename = "ParameterName")]
    pub name: String,
    /// The value, always a string.
    #[serde(rename = "ParameterValue")]
    pub value: String,
}

/// One processor of the processing chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Processor {
    /// Lambda, MetadataExtraction, AppendDelimiterToRecord, ...
    #[serde(rename = "Type")]
    pub kind: String,
    /// Its parameters.
    #[serde(rename = "Parameters", skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<ProcessorParameter>>,
}

/// ProcessingConfiguration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingConfiguration {
    /// Whether the processors run.
    #[serde(rename = "Enabled", skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The processors, in order.
    #[serde(rename = "Processors", skip_serializing_if = "Option::is_none")]
    pub processors: Option<Vec<Processor>>,
}

/// RetryOptions of dynamic partitioning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryOptions {
    /// 0 to 7,200 s (default 300).
    #[serde(rename = "DurationInSeconds", skip_serializing_if = "Option::is_none")]
    pub duration_in_seconds: Option<u32>,
}

/// DynamicPartitioningConfiguration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicPartitioningConfiguration {
    /// Retry behaviour.
    #[serde(rename = "RetryOptions", skip_serializing_if = "Option::is_none")]
    pub retry_options: Option<RetryOptions>,
    /// On or off.
    #[serde(rename = "Enabled", skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// KMSEncryptionConfig.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KmsEncryptionConfig {
    /// The key.
    #[serde(rename = "AWSKMSKeyARN")]
    pub aws_kms_key_arn: String,
}

/// EncryptionConfiguration of an S3 destination (recorded and described; objects are
/// written as they are, see docs/firehose.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfiguration {
    /// `NoEncryption`.
    #[serde(rename = "NoEncryptionConfig", skip_serializing_if = "Option::is_none")]
    pub no_encryption_config: Option<String>,
    /// A KMS key.
    #[serde(
        rename = "KMSEncryptionConfig",
        skip_serializing_if = "Option::is_none"
    )]
    pub kms_encryption_config: Option<KmsEncryptionConfig>,
}

impl Default for EncryptionConfiguration {
    fn default() -> Self {
        Self {
            no_encryption_config: Some("NoEncryption".to_string()),
            kms_encryption_config: None,
        }
    }
}

/// CloudWatchLoggingOptions (recorded and described).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchLoggingOptions {
    /// On or off.
    #[serde(rename = "Enabled", skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The log group.
    #[serde(rename = "LogGroupName", skip_serializing_if = "Option::is_none")]
    pub log_group_name: Option<String>,
    /// The log stream.
    #[serde(rename = "LogStreamName", skip_serializing_if = "Option::is_none")]
    pub log_stream_name: Option<String>,
}

/// S3DestinationConfiguration (also S3DestinationUpdate and the backup destination's
/// shape): every field optional here; [`crate::model::validate`] checks the required
/// ones where they are required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Destination {
    /// The role (recorded; no IAM in-process).
    #[serde(rename = "RoleARN", skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// `arn:aws:s3:::<bucket>`.
    #[serde(rename = "BucketARN", skip_serializing_if = "Option::is_none")]
    pub bucket_arn: Option<String>,
    /// Key prefix (expressions allowed).
    #[serde(rename = "Prefix", skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Key prefix of failed records.
    #[serde(rename = "ErrorOutputPrefix", skip_serializing_if = "Option::is_none")]
    pub error_output_prefix: Option<String>,
    /// Buffering.
    #[serde(rename = "BufferingHints", skip_serializing_if = "Option::is_none")]
    pub buffering_hints: Option<BufferingHints>,
    /// UNCOMPRESSED, GZIP, ZIP, Snappy, HADOOP_SNAPPY.
    #[serde(rename = "CompressionFormat", skip_serializing_if = "Option::is_none")]
    pub compression_format: Option<String>,
    /// Encryption settings.
    #[serde(
        rename = "EncryptionConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub encryption_configuration: Option<EncryptionConfiguration>,
    /// Logging settings.
    #[serde(
        rename = "CloudWatchLoggingOptions",
        skip_serializing_if = "Option::is_none"
    )]
    pub cloud_watch_logging_options: Option<CloudWatchLoggingOptions>,
}

/// ExtendedS3DestinationConfiguration / ExtendedS3DestinationUpdate (the backup field
/// is `S3BackupConfiguration` in a configuration, `S3BackupUpdate` in an update).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendedS3Destination {
    /// The role (recorded).
    #[serde(rename = "RoleARN", skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// `arn:aws:s3:::<bucket>`.
    #[serde(rename = "BucketARN", skip_serializing_if = "Option::is_none")]
    pub bucket_arn: Option<String>,
    /// Key prefix.
    #[serde(rename = "Prefix", skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Key prefix of failed records.
    #[serde(rename = "ErrorOutputPrefix", skip_serializing_if = "Option::is_none")]
    pub error_output_prefix: Option<String>,
    /// Buffering.
    #[serde(rename = "BufferingHints", skip_serializing_if = "Option::is_none")]
    pub buffering_hints: Option<BufferingHints>,
    /// Compression.
    #[serde(rename = "CompressionFormat", skip_serializing_if = "Option::is_none")]
    pub compression_format: Option<String>,
    /// Encryption settings.
    #[serde(
        rename = "EncryptionConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub encryption_configuration: Option<EncryptionConfiguration>,
    /// Logging settings.
    #[serde(
        rename = "CloudWatchLoggingOptions",
        skip_serializing_if = "Option::is_none"
    )]
    pub cloud_watch_logging_options: Option<CloudWatchLoggingOptions>,
    /// Processors.
    #[serde(
        rename = "ProcessingConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub processing_configuration: Option<ProcessingConfiguration>,
    /// Disabled or Enabled (source records to the backup destination).
    #[serde(rename = "S3BackupMode", skip_serializing_if = "Option::is_none")]
    pub s3_backup_mode: Option<String>,
    /// The backup destination.
    #[serde(
        rename = "S3BackupConfiguration",
        alias = "S3BackupUpdate",
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_backup_configuration: Option<S3Destination>,
    /// Record format conversion (JSON to Parquet).
    #[serde(
        rename = "DataFormatConversionConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub data_format_conversion_configuration: Option<serde_json::Value>,
    /// Dynamic partitioning.
    #[serde(
        rename = "DynamicPartitioningConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub dynamic_partitioning_configuration: Option<DynamicPartitioningConfiguration>,
    /// Overrides the extension.
    #[serde(rename = "FileExtension", skip_serializing_if = "Option::is_none")]
    pub file_extension: Option<String>,
    /// Time zone of timestamps in keys.
    #[serde(rename = "CustomTimeZone", skip_serializing_if = "Option::is_none")]
    pub custom_time_zone: Option<String>,
}

impl ExtendedS3Destination {
    /// The extended form of a plain S3 destination.
    pub fn from_plain(s3: S3Destination) -> Self {
        Self {
            role_arn: s3.role_arn,
            bucket_arn: s3.bucket_arn,
            prefix: s3.prefix,
            error_output_prefix: s3.error_output_prefix,
            buffering_hints: s3.buffering_hints,
            compression_format: s3.compression_format,
            encryption_configuration: s3.encryption_configuration,
            cloud_watch_logging_options: s3.cloud_watch_logging_options,
            ..Self::default()
        }
    }

    /// The plain-S3 view (what S3DestinationDescription shows).
    pub fn plain(&self) -> S3Destination {
        S3Destination {
            role_arn: self.role_arn.clone(),
            bucket_arn: self.bucket_arn.clone(),
            prefix: self.prefix.clone(),
            error_output_prefix: self.error_output_prefix.clone(),
            buffering_hints: self.buffering_hints.clone(),
            compression_format: self.compression_format.clone(),
            encryption_configuration: self.encryption_configuration.clone(),
            cloud_watch_logging_options: self.cloud_watch_logging_options.clone(),
        }
    }

    /// Applies an update: every field the update sets replaces the current one (AWS
    /// merges an update of the same destination type this way).
    pub fn merge(&mut self, update: ExtendedS3Destination) {
        macro_rules! take {
            ($($f:ident),*) => { $( if update.$f.is_some() { self.$f = update.$f; } )* };
        }
        take!(
            role_arn,
            bucket_arn,
            prefix,
            error_output_prefix,
            buffering_hints,
            compression_format,
            encryption_configuration,
            cloud_watch_logging_options,
            processing_configuration,
            s3_backup_mode,
            data_format_conversion_configuration,
            dynamic_partitioning_configuration,
            file_extension,
            custom_time_zone
        );
        if let Some(backup) = update.s3_backup_configuration {
            match &mut self.s3_backup_configuration {
                Some(current) => current.merge(backup),
                None => self.s3_backup_configuration = Some(backup),
            }
        }
    }
}

impl S3Destination {
    /// Applies an update field by field.
    pub fn merge(&mut self, update: S3Destination) {
        macro_rules! take {
            ($($f:ident),*) => { $( if update.$f.is_some() { self.$f = update.$f; } )* };
        }
        take!(
            role_arn,
            bucket_arn,
            prefix,
            error_output_prefix,
            buffering_hints,
            compression_format,
            encryption_configuration,
            cloud_watch_logging_options
        );
    }
}
