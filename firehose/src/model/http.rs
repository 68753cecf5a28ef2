//! The HTTP endpoint destination's shapes (HttpEndpointDestinationConfiguration and
//! its update), as botocore spells them.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

use super::s3::{BufferingHints, CloudWatchLoggingOptions, ProcessingConfiguration, S3Destination};

/// HttpEndpointConfiguration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfiguration {
    /// The URL records are POSTed to.
    #[serde(rename = "Url", skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A name for people.
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Sent as X-Amz-Firehose-Access-Key (never described back).
    #[serde(rename = "AccessKey", skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
}

/// One common attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommonAttribute {
    /// Its name.
    #[serde(rename = "AttributeName")]
    pub name: String,
    /// Its value.
    #[serde(rename = "AttributeValue")]
    pub value: String,
}

/// HttpEndpointRequestConfiguration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestConfiguration {
    /// NONE (default) or GZIP.
    #[serde(rename = "ContentEncoding", skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// Sent in X-Amz-Firehose-Common-Attributes.
    #[serde(rename = "CommonAttributes", skip_serializing_if = "Option::is_none")]
    pub common_attributes: Option<Vec<CommonAttribute>>,
}

/// RetryOptions of HTTP and Redshift destinations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurationRetryOptions {
    /// 0 to 7,200 s.
    #[serde(rename = "DurationInSeconds", skip_serializing_if = "Option::is_none")]
    pub duration_in_seconds: Option<u32>,
}

/// SecretsManagerConfiguration (refused when enabled: no Secrets Manager in-process).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsManagerConfiguration {
    /// The secret.
    #[serde(rename = "SecretARN", skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
    /// The role.
    #[serde(rename = "RoleARN", skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// On or off.
    #[serde(rename = "Enabled", skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// HttpEndpointDestinationConfiguration / Update (`S3Configuration` / `S3Update`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpEndpointDestination {
    /// The endpoint.
    #[serde(
        rename = "EndpointConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub endpoint_configuration: Option<EndpointConfiguration>,
    /// 1 to 64 MB (default 5), 0 to 900 s (default 300).
    #[serde(rename = "BufferingHints", skip_serializing_if = "Option::is_none")]
    pub buffering_hints: Option<BufferingHints>,
    /// Logging (recorded).
    #[serde(
        rename = "CloudWatchLoggingOptions",
        skip_serializing_if = "Option::is_none"
    )]
    pub cloud_watch_logging_options: Option<CloudWatchLoggingOptions>,
    /// Content encoding and common attributes.
    #[serde(
        rename = "RequestConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_configuration: Option<RequestConfiguration>,
    /// Processors.
    #[serde(
        rename = "ProcessingConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub processing_configuration: Option<ProcessingConfiguration>,
    /// The role (recorded).
    #[serde(rename = "RoleARN", skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// How long a batch is retried.
    #[serde(rename = "RetryOptions", skip_serializing_if = "Option::is_none")]
    pub retry_options: Option<DurationRetryOptions>,
    /// FailedDataOnly (default) or AllData.
    #[serde(rename = "S3BackupMode", skip_serializing_if = "Option::is_none")]
    pub s3_backup_mode: Option<String>,
    /// Where failed (or all) data goes.
    #[serde(
        rename = "S3Configuration",
        alias = "S3Update",
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_configuration: Option<S3Destination>,
    /// Secrets Manager (refused when enabled).
    #[serde(
        rename = "SecretsManagerConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub secrets_manager_configuration: Option<SecretsManagerConfiguration>,
}

impl HttpEndpointDestination {
    /// Applies an update field by field (the S3 part merged too).
    pub fn merge(&mut self, update: HttpEndpointDestination) {
        macro_rules! take {
            ($($f:ident),*) => { $( if update.$f.is_some() { self.$f = update.$f; } )* };
        }
        take!(
            buffering_hints,
            cloud_watch_logging_options,
            request_configuration,
            processing_configuration,
            role_arn,
            retry_options,
            s3_backup_mode,
            secrets_manager_configuration
        );
        if let Some(e) = update.endpoint_configuration {
            let current = self
                .endpoint_configuration
                .get_or_insert_with(Default::default);
            if e.url.is_some() {
                current.url = e.url;
            }
            if e.name.is_some() {
                current.name = e.name;
            }
            if e.access_key.is_some() {
                current.access_key = e.access_key;
            }
        }
        if let Some(s3) = update.s3_configuration {
            match &mut self.s3_configuration {
                Some(current) => current.merge(s3),
                None => self.s3_configuration = Some(s3),
            }
        }
    }
}
