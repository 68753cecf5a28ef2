//! Kinesis channels (CreateChannel, DeleteChannel, DescribeChannel, ListChannels,
//! UpdateChannel): forwarded to the Firehose backend (`tidelog_firehose::channel` owns
//! the model: channels run on Firehose's delivery machinery), with the input in its
//! JSON form and the answer typed back with Kinesis's member table (timestamps), so
//! JSON and CBOR clients get what AWS sends. A server without Firehose
//! (`--no-firehose`) refuses them with a message that says so.
#![forbid(unsafe_code)]

use crate::api::firehose::to_json;
use crate::api::{Api, ApiError};
use crate::wire::{Map, Service, Value, json};

fn forward(api: &Api, operation: &str, m: &Map) -> Result<Value, ApiError> {
    let backend = api.firehose.as_ref().ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "{operation}: channels run on Firehose, which this server was started without (--no-firehose)"
        ))
    })?;
    let output = backend.call(
        &format!("Kinesis_20131202.{operation}"),
        to_json(&Value::Map(m.clone())),
    )?;
    let bytes = serde_json::to_vec(&output).map_err(|e| ApiError::internal(e.to_string()))?;
    json::decode(Service::Kinesis, &bytes)
        .map(Value::Map)
        .map_err(|e| ApiError::internal(format!("the channel backend answered {e}")))
}

/// CreateChannel(ChannelName, ServiceExecutionRoleARN, StreamConfigurationList,
/// S3DestinationConfiguration | S3TablesDestinationConfiguration,
/// EncryptionConfiguration, Tags, LoggingConfiguration).
pub fn create_channel(api: &Api, m: &Map) -> Result<Value, ApiError> {
    forward(api, "CreateChannel", m)
}

/// DeleteChannel(ChannelARN).
pub fn delete_channel(api: &Api, m: &Map) -> Result<Value, ApiError> {
    forward(api, "DeleteChannel", m)
}

/// DescribeChannel(ChannelARN).
pub fn describe_channel(api: &Api, m: &Map) -> Result<Value, ApiError> {
    forward(api, "DescribeChannel", m)
}

/// ListChannels(StreamFilter, MaxResults, NextToken).
pub fn list_channels(api: &Api, m: &Map) -> Result<Value, ApiError> {
    forward(api, "ListChannels", m)
}

/// UpdateChannel(ChannelARN, S3DestinationConfiguration |
/// S3TablesDestinationConfiguration, LoggingConfiguration).
pub fn update_channel(api: &Api, m: &Map) -> Result<Value, ApiError> {
    forward(api, "UpdateChannel", m)
}
