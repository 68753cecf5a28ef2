//! The Firehose bridge: `Firehose_20150804.*` calls go to a [`FirehoseBackend`] (the
//! `tidelog-firehose` crate's JSON-level entry point) with their members converted to
//! the JSON forms (blobs as base64, timestamps as epoch seconds), and its answers come
//! back through the same member table (`wire/shapes.rs`), so CBOR clients get byte
//! strings and millisecond timestamps like Kinesis clients do.
//!
//! [`FirehoseService`] is the backend `tidelog serve` runs: a `tidelog_firehose::Firehose`
//! opened beside the engine, every call through `tidelog_firehose::api::call` (so the
//! server, the C ABI and the Python client share one validation and one set of shapes).
#![forbid(unsafe_code)]

use super::{ApiError, FirehoseBackend};
use crate::wire::shapes::{self, MemberKind};
use crate::wire::{Map, Service, Value, json};

/// The `tidelog-firehose` crate as the server's Firehose backend.
#[derive(Debug, Clone)]
pub struct FirehoseService(pub tidelog_firehose::Firehose);

impl FirehoseBackend for FirehoseService {
    fn call(
        &self,
        operation: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        tidelog_firehose::api::call(&self.0, operation, input).map_err(|e| ApiError {
            code: e.code,
            message: e.message,
            status: e.status,
        })
    }

    fn operations(&self) -> &'static [&'static str] {
        tidelog_firehose::api::OPERATIONS
    }

    fn channel_count(&self, stream: &str) -> Option<usize> {
        Some(self.0.channel_count(stream))
    }
}

/// Every Firehose operation of the 2015-08-04 model, so a backend's names can be
/// handed out as `&'static str`.
pub const OPERATIONS: &[&str] = &[
    "CreateDeliveryStream",
    "DeleteDeliveryStream",
    "DescribeDeliveryStream",
    "ListDeliveryStreams",
    "ListTagsForDeliveryStream",
    "PutRecord",
    "PutRecordBatch",
    "StartDeliveryStreamEncryption",
    "StopDeliveryStreamEncryption",
    "TagDeliveryStream",
    "UntagDeliveryStream",
    "UpdateDestination",
];

/// The static name of a Firehose operation.
pub fn intern(name: &str) -> Option<&'static str> {
    OPERATIONS.iter().find(|o| **o == name).copied()
}

/// Runs `name` on the backend: the input converted to JSON form, the answer back.
pub fn forward(backend: &dyn FirehoseBackend, name: &str, input: &Map) -> Result<Value, ApiError> {
    check_types(input)?;
    let json_input = to_json(&Value::Map(input.clone()));
    let output = backend.call(name, json_input)?;
    from_json(&output)
}

/// Blob and timestamp members of the wrong type are SerializationExceptions, as AWS
/// answers them (the backend sees JSON forms, where a number in place of a blob would
/// be its own, different, error).
fn check_types(m: &Map) -> Result<(), ApiError> {
    fn walk(v: &Value) -> Result<(), ApiError> {
        match v {
            Value::Map(m) => check_types(m),
            Value::List(items) => items.iter().try_for_each(walk),
            _ => Ok(()),
        }
    }
    for (k, v) in m.iter() {
        let ok = match shapes::member_kind(Service::Firehose, k) {
            MemberKind::Blob => matches!(v, Value::Bytes(_) | Value::Null),
            MemberKind::Timestamp => matches!(v, Value::Timestamp(_) | Value::Null),
            MemberKind::Plain => true,
        };
        if !ok {
            return Err(ApiError::serialization(format!(
                "member {k} must be a {}, not {}",
                match shapes::member_kind(Service::Firehose, k) {
                    MemberKind::Blob => "blob",
                    _ => "timestamp",
                },
                v.type_name()
            )));
        }
        walk(v)?;
    }
    Ok(())
}

/// A value in its JSON form (what `serde_json` would read from a JSON 1.1 body).
pub fn to_json(value: &Value) -> serde_json::Value {
    // Our JSON writer is the single place that knows the JSON forms.
    serde_json::from_slice(&json::encode(value)).unwrap_or(serde_json::Value::Null)
}

/// A JSON-form answer as a value (blob and timestamp members retyped).
pub fn from_json(value: &serde_json::Value) -> Result<Value, ApiError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ApiError::internal(e.to_string()))?;
    match value {
        serde_json::Value::Object(_) => json::decode(Service::Firehose, &bytes)
            .map(Value::Map)
            .map_err(|e| ApiError::internal(format!("the Firehose backend answered {e}"))),
        _ => Err(ApiError::internal(
            "the Firehose backend answered something other than an object",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    struct Echo;
    impl FirehoseBackend for Echo {
        fn call(&self, op: &str, input: serde_json::Value) -> Result<serde_json::Value, ApiError> {
            match op {
                "PutRecord" => Ok(serde_json::json!({
                    "RecordId": "r1",
                    "Seen": input["Record"]["Data"],
                    "CreateTimestamp": 1700000000.25,
                })),
                _ => Err(ApiError::not_found("no such delivery stream")),
            }
        }
        fn operations(&self) -> &'static [&'static str] {
            OPERATIONS
        }
    }

    #[test]
    fn members_cross_in_json_form_and_come_back_typed() {
        let input = Map::new().with(
            "Record",
            Map::new().with("Data", Value::Bytes(Bytes::from_static(b"hi"))),
        );
        let out = forward(&Echo, "PutRecord", &input).unwrap();
        let m = out.as_map().unwrap();
        assert_eq!(m.get("Seen"), Some(&Value::Str("aGk=".into())));
        assert_eq!(
            m.get("CreateTimestamp"),
            Some(&Value::Timestamp(1_700_000_000_250))
        );
        let err = forward(&Echo, "DeleteDeliveryStream", &Map::new()).unwrap_err();
        assert_eq!(err.code, "ResourceNotFoundException");
    }
}
