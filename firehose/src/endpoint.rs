//! The HTTP endpoint destination: one batch is one POST, as Firehose's HTTP endpoint
//! delivery request and response specification describes it.
//!
//! Request: `POST <Url>` with `Content-Type: application/json`,
//! `X-Amz-Firehose-Protocol-Version: 1.0`, `X-Amz-Firehose-Request-Id`,
//! `X-Amz-Firehose-Source-Arn`, `X-Amz-Firehose-Access-Key` (if configured),
//! `X-Amz-Firehose-Common-Attributes` (`{"commonAttributes": {...}}`, if any),
//! `Content-Encoding: gzip` (if configured); body `{"requestId", "timestamp" (ms),
//! "records": [{"data": base64}]}`. Success is only a 200 whose JSON body has the same
//! `requestId`; 413 is permanent; anything else (another status, a body that does not
//! answer, a refused or dropped connection, a timeout) is retried by the worker.
//!
//! Invariant: the request id is derived from the batch's positions, so it is the same on
//! every retry and on a redelivery after a crash: a receiver can drop duplicates by it.
#![forbid(unsafe_code)]

use std::io::Write;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::model::plan::HttpPlan;

/// How one POST ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200 with the matching requestId.
    Delivered,
    /// A failure worth retrying: error code and message.
    Retry(&'static str, String),
    /// A permanent failure (413): error code and message.
    Permanent(&'static str, String),
}

/// Sends one batch.
#[allow(clippy::too_many_arguments)] // the request's parts, each from its own place
pub fn post(
    client: &reqwest::Client,
    runtime: &tokio::runtime::Handle,
    plan: &HttpPlan,
    source_arn: &str,
    request_id: &str,
    records: &[&[u8]],
    now_ms: u64,
) -> Outcome {
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = json!({
        "requestId": request_id,
        "timestamp": now_ms,
        "records": records.iter().map(|r| json!({"data": b64.encode(r)})).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes();
    let body = if plan.gzip {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        if let Err(e) = e.write_all(&body) {
            return Outcome::Retry("HttpEndpoint.InternalError", e.to_string());
        }
        match e.finish() {
            Ok(b) => b,
            Err(e) => return Outcome::Retry("HttpEndpoint.InternalError", e.to_string()),
        }
    } else {
        body
    };
    let mut request = client
        .post(&plan.url)
        .header("Content-Type", "application/json")
        .header("X-Amz-Firehose-Protocol-Version", "1.0")
        .header("X-Amz-Firehose-Request-Id", request_id)
        .header("X-Amz-Firehose-Source-Arn", source_arn)
        .header(
            "User-Agent",
            "tidelog-firehose/1.0 (Amazon Kinesis Data Firehose Agent/1.0)",
        );
    if let Some(key) = &plan.access_key {
        request = request.header("X-Amz-Firehose-Access-Key", key);
    }
    if !plan.common_attributes.is_empty() {
        let attrs: serde_json::Map<String, Value> = plan
            .common_attributes
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        request = request.header(
            "X-Amz-Firehose-Common-Attributes",
            json!({"commonAttributes": attrs}).to_string(),
        );
    }
    if plan.gzip {
        request = request.header("Content-Encoding", "gzip");
    }
    let request = request.body(body);
    runtime.block_on(async move {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Outcome::Retry("HttpEndpoint.RequestTimeout", e.to_string());
            }
            Err(e) if e.is_connect() => {
                return Outcome::Retry("HttpEndpoint.ConnectionFailed", e.to_string());
            }
            Err(e) => return Outcome::Retry("HttpEndpoint.ConnectionReset", e.to_string()),
        };
        let status = response.status().as_u16();
        let text = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Outcome::Retry("HttpEndpoint.ConnectionReset", e.to_string()),
        };
        if status == 413 {
            return Outcome::Permanent(
                "HttpEndpoint.PayloadTooLarge",
                "the endpoint answered 413 Payload Too Large".to_string(),
            );
        }
        if status != 200 {
            return Outcome::Retry(
                "HttpEndpoint.DestinationException",
                format!(
                    "the endpoint answered {status}: {}",
                    String::from_utf8_lossy(&text[..text.len().min(200)])
                ),
            );
        }
        let answer: Option<Value> = serde_json::from_slice(&text).ok();
        match answer
            .as_ref()
            .and_then(|v| v.get("requestId"))
            .and_then(Value::as_str)
        {
            Some(id) if id == request_id => Outcome::Delivered,
            Some(other) => Outcome::Retry(
                "HttpEndpoint.InvalidResponseFromDestination",
                format!("the answer's requestId {other:?} is not {request_id:?}"),
            ),
            None => Outcome::Retry(
                "HttpEndpoint.InvalidResponseFromDestination",
                "the answer is not JSON with a requestId".to_string(),
            ),
        }
    })
}
