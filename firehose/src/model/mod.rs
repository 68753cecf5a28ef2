//! The request, response and catalog shapes of delivery streams, named as botocore's
//! Firehose model names them, and the validation that turns a configuration into a
//! [`plan::DeliveryPlan`] the delivery worker runs.
//!
//! Invariants: a configuration that is stored (in the catalog) has passed
//! [`plan::DeliveryPlan::build`]; every refusal names the field (`ExtendedS3DestinationConfiguration.Prefix`)
//! and the rule it breaks.
#![forbid(unsafe_code)]

pub mod http;
pub mod plan;
pub mod redshift;
pub mod s3;
pub mod targets;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use s3::{
    BufferingHints, CloudWatchLoggingOptions, DynamicPartitioningConfiguration,
    EncryptionConfiguration, ExtendedS3Destination, ProcessingConfiguration, Processor,
    ProcessorParameter, RetryOptions, S3Destination,
};

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// 1 to 128 characters, not starting with `aws:`.
    #[serde(rename = "Key")]
    pub key: String,
    /// 0 to 256 characters.
    #[serde(rename = "Value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// DirectPutSourceConfiguration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectPutSource {
    /// 1 to 100 MB/s (recorded; tidelog needs no capacity planning).
    #[serde(rename = "ThroughputHintInMBs")]
    pub throughput_hint_in_mbs: u32,
}

/// KinesisStreamSourceConfiguration, plus tidelog's `StartingPosition` (`LATEST`, the
/// default, as AWS starts; or `TRIM_HORIZON`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisSource {
    /// `arn:aws:kinesis:<region>:<account>:stream/<name>` of a tidelog stream.
    #[serde(rename = "KinesisStreamARN")]
    pub kinesis_stream_arn: String,
    /// The role (recorded).
    #[serde(rename = "RoleARN")]
    pub role_arn: String,
    /// tidelog extension: where reading starts.
    #[serde(
        rename = "StartingPosition",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub starting_position: Option<String>,
}

/// DeliveryStreamEncryptionConfigurationInput.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionInput {
    /// The customer managed key, for CUSTOMER_MANAGED_CMK.
    #[serde(rename = "KeyARN", default, skip_serializing_if = "Option::is_none")]
    pub key_arn: Option<String>,
    /// AWS_OWNED_CMK or CUSTOMER_MANAGED_CMK.
    #[serde(rename = "KeyType")]
    pub key_type: String,
}

/// CreateDeliveryStream's request. Destinations tidelog does not deliver to are
/// refused by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateDeliveryStreamInput {
    /// The name: 1 to 64 of `[a-zA-Z0-9_.-]`.
    #[serde(rename = "DeliveryStreamName")]
    pub delivery_stream_name: String,
    /// DirectPut (default) or KinesisStreamAsSource.
    #[serde(
        rename = "DeliveryStreamType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub delivery_stream_type: Option<String>,
    /// DirectPut's throughput hint.
    #[serde(
        rename = "DirectPutSourceConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub direct_put_source_configuration: Option<DirectPutSource>,
    /// The source stream.
    #[serde(
        rename = "KinesisStreamSourceConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kinesis_stream_source_configuration: Option<KinesisSource>,
    /// Server-side encryption settings.
    #[serde(
        rename = "DeliveryStreamEncryptionConfigurationInput",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub encryption: Option<EncryptionInput>,
    /// The deprecated plain S3 destination.
    #[serde(
        rename = "S3DestinationConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_destination_configuration: Option<S3Destination>,
    /// The S3 destination.
    #[serde(
        rename = "ExtendedS3DestinationConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub extended_s3_destination_configuration: Option<ExtendedS3Destination>,
    /// The HTTP endpoint destination.
    #[serde(
        rename = "HttpEndpointDestinationConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_endpoint_destination_configuration: Option<http::HttpEndpointDestination>,
    /// The Redshift destination (delivered to PostgreSQL).
    #[serde(
        rename = "RedshiftDestinationConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub redshift_destination_configuration: Option<redshift::RedshiftDestination>,
    /// Tags (up to 50).
    #[serde(rename = "Tags", default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// Every other member: destinations and sources tidelog does not support are
    /// refused by name, unknown members as unknown.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// The members of CreateDeliveryStream that AWS has and tidelog refuses.
pub const UNSUPPORTED_CREATE_MEMBERS: &[&str] = &[
    "ElasticsearchDestinationConfiguration",
    "AmazonopensearchserviceDestinationConfiguration",
    "SplunkDestinationConfiguration",
    "AmazonOpenSearchServerlessDestinationConfiguration",
    "MSKSourceConfiguration",
    "SnowflakeDestinationConfiguration",
    "IcebergDestinationConfiguration",
    "DatabaseSourceConfiguration",
];

/// UpdateDestination's request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateDestinationInput {
    /// The delivery stream.
    #[serde(rename = "DeliveryStreamName")]
    pub delivery_stream_name: String,
    /// The version the caller saw (ConcurrentModificationException otherwise).
    #[serde(rename = "CurrentDeliveryStreamVersionId")]
    pub current_delivery_stream_version_id: String,
    /// `destinationId-000000000001`.
    #[serde(rename = "DestinationId")]
    pub destination_id: String,
    /// Changes to a plain S3 destination.
    #[serde(
        rename = "S3DestinationUpdate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_destination_update: Option<S3Destination>,
    /// Changes to an extended S3 destination.
    #[serde(
        rename = "ExtendedS3DestinationUpdate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub extended_s3_destination_update: Option<ExtendedS3Destination>,
    /// Changes to an HTTP endpoint destination.
    #[serde(
        rename = "HttpEndpointDestinationUpdate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_endpoint_destination_update: Option<http::HttpEndpointDestination>,
    /// Changes to a Redshift destination.
    #[serde(
        rename = "RedshiftDestinationUpdate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub redshift_destination_update: Option<redshift::RedshiftDestination>,
    /// Other members (refused by name).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// The only destination id of a delivery stream.
pub const DESTINATION_ID: &str = "destinationId-000000000001";

/// A delivery stream's destination, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Destination {
    /// S3 (extended form; `plain` if created with S3DestinationConfiguration).
    ExtendedS3 {
        /// The configuration with AWS's defaults filled in.
        config: ExtendedS3Destination,
        /// Created through the plain (deprecated) shape.
        plain: bool,
    },
    /// An HTTP endpoint.
    HttpEndpoint {
        /// The configuration with AWS's defaults filled in.
        config: http::HttpEndpointDestination,
    },
    /// Redshift, delivered to PostgreSQL.
    Redshift {
        /// The configuration with AWS's defaults filled in.
        config: redshift::RedshiftDestination,
    },
}

/// Server-side encryption state of a delivery stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionState {
    /// AWS_OWNED_CMK or CUSTOMER_MANAGED_CMK.
    pub key_type: String,
    /// The key, for CUSTOMER_MANAGED_CMK.
    pub key_arn: Option<String>,
    /// ENABLED or DISABLED.
    pub status: String,
}

/// A delivery stream as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryStreamRecord {
    /// Numeric id: names the buffer stream and the checkpoint directory.
    pub id: u64,
    /// The name.
    pub name: String,
    /// DirectPut or KinesisStreamAsSource.
    pub stream_type: String,
    /// CREATING, CREATING_FAILED, ACTIVE, DELETING.
    pub status: String,
    /// Why creation failed (CREATING_FAILED).
    pub failure: Option<String>,
    /// VersionId: 1, then +1 per configuration change.
    pub version: u64,
    /// CreateTimestamp, ms.
    pub created_ms: u64,
    /// LastUpdateTimestamp, ms.
    pub updated_ms: u64,
    /// DirectPut's settings.
    pub direct_put: Option<DirectPutSource>,
    /// The Kinesis source.
    pub kinesis: Option<KinesisSource>,
    /// The destination.
    pub destination: Destination,
    /// Tags, in the order they were added.
    pub tags: Vec<Tag>,
    /// Server-side encryption.
    pub encryption: Option<EncryptionState>,
}

impl DeliveryStreamRecord {
    /// The plan of the current configuration.
    pub fn plan(&self) -> crate::Result<plan::DeliveryPlan> {
        match &self.destination {
            Destination::ExtendedS3 { config, .. } => plan::DeliveryPlan::build(
                &self.name,
                self.version,
                config,
                "ExtendedS3DestinationConfiguration",
            ),
            Destination::HttpEndpoint { config } => plan::DeliveryPlan::build_http(
                &self.name,
                self.version,
                config,
                "HttpEndpointDestinationConfiguration",
            ),
            Destination::Redshift { config } => plan::DeliveryPlan::build_postgres(
                &self.name,
                self.version,
                config,
                "RedshiftDestinationConfiguration",
            ),
        }
    }
}
