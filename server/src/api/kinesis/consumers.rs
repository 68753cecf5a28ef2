//! Enhanced fan-out consumers: RegisterStreamConsumer, DeregisterStreamConsumer,
//! DescribeStreamConsumer, ListStreamConsumers, over the engine's consumers (CREATING
//! → ACTIVE → DELETING, at most 20 per stream, ARNs
//! `<stream ARN>/consumer/<name>:<creation seconds>`). SubscribeToShard reads through
//! them (`subscribe.rs`).
#![forbid(unsafe_code)]

use tidelog::engine::ConsumerDescription;

use super::streams::tags_map;
use super::{decode_token, encode_token};
use crate::api::input::{opt_int_in, opt_str, opt_timestamp_ms, req_str};
use crate::api::{Api, ApiError};
use crate::wire::{Map, Value};

fn consumer_value(c: &ConsumerDescription, with_stream: bool) -> Value {
    let mut m = Map::new()
        .with("ConsumerName", c.name.as_str())
        .with("ConsumerARN", c.arn.as_str())
        .with("ConsumerStatus", c.status.name())
        .with(
            "ConsumerCreationTimestamp",
            Value::Timestamp(c.created_ms as i64),
        );
    if with_stream {
        m.push("StreamARN", c.stream_arn.as_str().into());
    }
    m.into()
}

/// The required StreamARN's stream.
fn stream_of_arn(api: &Api, m: &Map) -> Result<String, ApiError> {
    Ok(api.engine.resolve_stream_arn(req_str(m, "StreamARN")?)?)
}

/// (stream, consumer name, consumer ARN): how a call names a consumer.
type ConsumerRef = (Option<String>, Option<String>, Option<String>);

/// The consumer of Describe/DeregisterStreamConsumer: by its ARN, or by StreamARN and
/// ConsumerName.
fn consumer_args(api: &Api, m: &Map) -> Result<ConsumerRef, ApiError> {
    let arn = opt_str(m, "ConsumerARN")?.map(str::to_string);
    let name = opt_str(m, "ConsumerName")?.map(str::to_string);
    let stream = opt_str(m, "StreamARN")?
        .map(|a| api.engine.resolve_stream_arn(a))
        .transpose()?;
    if arn.is_none() && (stream.is_none() || name.is_none()) {
        return Err(ApiError::invalid_argument(
            "Name the consumer by ConsumerARN, or by StreamARN and ConsumerName",
        ));
    }
    Ok((stream, name, arn))
}

/// RegisterStreamConsumer(StreamARN, ConsumerName, Tags).
pub fn register_stream_consumer(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let stream = stream_of_arn(api, m)?;
    let name = req_str(m, "ConsumerName")?;
    let tags = tags_map(m, "Tags")?.unwrap_or_default();
    let c = api.engine.register_stream_consumer(&stream, name, &tags)?;
    Ok(Map::new()
        .with("Consumer", consumer_value(&c, false))
        .into())
}

/// DeregisterStreamConsumer(ConsumerARN | StreamARN + ConsumerName).
pub fn deregister_stream_consumer(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let (stream, name, arn) = consumer_args(api, m)?;
    api.engine
        .deregister_stream_consumer(stream.as_deref(), name.as_deref(), arn.as_deref())?;
    Ok(Map::new().into())
}

/// DescribeStreamConsumer(ConsumerARN | StreamARN + ConsumerName).
pub fn describe_stream_consumer(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let (stream, name, arn) = consumer_args(api, m)?;
    let c =
        api.engine
            .describe_stream_consumer(stream.as_deref(), name.as_deref(), arn.as_deref())?;
    Ok(Map::new()
        .with("ConsumerDescription", consumer_value(&c, true))
        .into())
}

/// ListStreamConsumers(StreamARN, NextToken, MaxResults, StreamCreationTimestamp).
pub fn list_stream_consumers(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let stream = stream_of_arn(api, m)?;
    let limit = opt_int_in(m, "MaxResults", 1, 10_000)?.unwrap_or(100) as usize;
    let now_ms = api.engine.config().clock.now_ms();
    if let Some(given) = opt_timestamp_ms(m, "StreamCreationTimestamp")? {
        let created = api.engine.describe_stream_summary(&stream)?.created_ms;
        if given / 1000 != created / 1000 {
            return Err(ApiError::not_found(format!(
                "Stream {stream} was not created at that StreamCreationTimestamp"
            )));
        }
    }
    let after = match opt_str(m, "NextToken")? {
        Some(token) => {
            let p = decode_token(token, now_ms)?;
            match (p["stream"].as_str(), p["after"].as_str()) {
                (Some(s), Some(after)) if s == stream => Some(after.to_string()),
                _ => return Err(ApiError::invalid_argument("Invalid NextToken")),
            }
        }
        None => None,
    };
    let out = api
        .engine
        .list_stream_consumers(&stream, Some(limit), after.as_deref())?;
    let next = (out.has_more && !out.consumers.is_empty()).then(|| {
        let last = out.consumers.last().map(|c| c.name.as_str());
        encode_token(
            serde_json::json!({ "stream": stream, "after": last }),
            now_ms,
        )
    });
    Ok(Map::new()
        .with(
            "Consumers",
            Value::List(
                out.consumers
                    .iter()
                    .map(|c| consumer_value(c, false))
                    .collect(),
            ),
        )
        .with_opt("NextToken", next)
        .into())
}
