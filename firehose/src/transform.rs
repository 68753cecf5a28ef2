//! Transformation: AWS's Lambda contract as an in-process callback (a Rust closure or
//! trait object here; Python callables and C function pointers wrap into the same
//! trait), and the invocation that guards the engine against it.
//!
//! The contract: the callback gets a batch of records (`recordId`, arrival time, data,
//! and for a Kinesis source the record's metadata) and must answer exactly one entry
//! per input record, with the same `recordId` and a result of `Ok` (with the new data
//! and optional partition keys), `Dropped` or `ProcessingFailed`.
//!
//! Invariants:
//! - An invocation runs on a thread of its own. A callback that panics, returns an
//!   error, answers garbage (a missing, unknown or repeated recordId), or runs past its
//!   timeout is a failed invocation, never a crash or a hang of the engine. A callback
//!   still running after its timeout is abandoned (its thread finishes on its own; its
//!   answer is ignored).
//! - The timeout runs on the engine's clock (checked every `tick` of real time), so
//!   tests drive it without waiting.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};
use tidelog::Clock;

/// Kinesis metadata of a record read from a Kinesis source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisRecordMetadata {
    /// The source shard.
    pub shard_id: String,
    /// The record's partition key.
    pub partition_key: String,
    /// Its sequence number (decimal).
    pub sequence_number: String,
    /// Always 0 (no KPL aggregation).
    pub subsequence_number: u64,
    /// Arrival time in the source stream, ms.
    pub approximate_arrival_timestamp: u64,
}

/// One record given to a transform.
#[derive(Debug, Clone)]
pub struct TransformRecord {
    /// The id the answer must repeat.
    pub record_id: String,
    /// Arrival time, ms since the epoch.
    pub approximate_arrival_timestamp: u64,
    /// The data (zero-copy from the source's log).
    pub data: Bytes,
    /// For a Kinesis source: where the record came from.
    pub kinesis: Option<KinesisRecordMetadata>,
}

/// One invocation's input.
#[derive(Debug, Clone)]
pub struct TransformInput {
    /// Unique per invocation (the same on its retries).
    pub invocation_id: String,
    /// The delivery stream's ARN.
    pub delivery_stream_arn: String,
    /// The source stream's ARN (Kinesis sources).
    pub source_kinesis_stream_arn: Option<String>,
    /// The region of the ARNs.
    pub region: String,
    /// The records.
    pub records: Vec<TransformRecord>,
}

/// A record's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransformResult {
    /// Deliver `data`.
    Ok,
    /// Deliver nothing (not an error).
    Dropped,
    /// Write the record to the error output (`processing-failed`).
    ProcessingFailed,
}

impl TransformResult {
    /// The contract's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "Ok",
            Self::Dropped => "Dropped",
            Self::ProcessingFailed => "ProcessingFailed",
        }
    }
}

/// One record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformedRecord {
    /// The input's recordId.
    pub record_id: String,
    /// What to do with it.
    pub result: TransformResult,
    /// The transformed data (for `Ok`).
    pub data: Vec<u8>,
    /// `metadata.partitionKeys` (for `partitionKeyFromLambda`).
    pub partition_keys: BTreeMap<String, String>,
}

/// A transform: AWS Lambda's Firehose contract, in-process.
pub trait Transform: Send + Sync + 'static {
    /// Transforms a batch; `Err` (with a message) fails the whole invocation.
    fn transform(&self, input: &TransformInput) -> Result<Vec<TransformedRecord>, String>;
}

impl<F> Transform for F
where
    F: Fn(&TransformInput) -> Result<Vec<TransformedRecord>, String> + Send + Sync + 'static,
{
    fn transform(&self, input: &TransformInput) -> Result<Vec<TransformedRecord>, String> {
        self(input)
    }
}

/// A registered transform and its timeout.
#[derive(Clone)]
pub struct Registered {
    /// The callback.
    pub transform: Arc<dyn Transform>,
    /// How long an invocation may run (engine clock).
    pub timeout: Duration,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why an invocation failed: an AWS-style error code and a message, which end up in
/// the error documents of the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationError {
    /// `Lambda.FunctionError`, `Lambda.MissingRecordId`, ...
    pub code: &'static str,
    /// Details.
    pub message: String,
}

impl InvocationError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Most records in one answer that are looked at before it is judged garbage.
const ANSWER_RECORDS_MAX: usize = 1_000_000;

/// Checks an answer against its input: every recordId answered exactly once, no
/// stranger. Returns the answers in input order.
pub fn check_answer(
    input: &TransformInput,
    answer: Vec<TransformedRecord>,
) -> Result<Vec<TransformedRecord>, InvocationError> {
    if answer.len() > ANSWER_RECORDS_MAX {
        return Err(InvocationError::new(
            "Lambda.JsonProcessingException",
            format!("the answer has {} records", answer.len()),
        ));
    }
    let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(input.records.len());
    for (i, r) in input.records.iter().enumerate() {
        by_id.insert(r.record_id.as_str(), i);
    }
    let mut slots: Vec<Option<TransformedRecord>> = vec![None; input.records.len()];
    for record in answer {
        let Some(&i) = by_id.get(record.record_id.as_str()) else {
            return Err(InvocationError::new(
                "Lambda.MissingRecordId",
                format!(
                    "the answer has recordId {:?}, which is not in the input",
                    record.record_id.chars().take(100).collect::<String>()
                ),
            ));
        };
        if slots[i].is_some() {
            return Err(InvocationError::new(
                "Lambda.DuplicatedRecordId",
                format!("recordId {:?} is answered twice", record.record_id),
            ));
        }
        slots[i] = Some(record);
    }
    let mut out = Vec::with_capacity(slots.len());
    for (i, slot) in slots.into_iter().enumerate() {
        match slot {
            Some(r) => out.push(r),
            None => {
                return Err(InvocationError::new(
                    "Lambda.MissingRecordId",
                    format!(
                        "recordId {:?} of the input is missing from the answer",
                        input.records[i].record_id
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_string()
    }
}

/// Runs one invocation of `registered` on its own thread, waiting at most its timeout
/// on `clock` (looking at the clock every `tick`).
pub fn invoke(
    registered: &Registered,
    input: Arc<TransformInput>,
    clock: &Arc<dyn Clock>,
    tick: Duration,
) -> Result<Vec<TransformedRecord>, InvocationError> {
    let (tx, rx) = mpsc::channel();
    let transform = Arc::clone(&registered.transform);
    let thread_input = Arc::clone(&input);
    let spawned = std::thread::Builder::new()
        .name("tidelog-transform".to_string())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                transform.transform(&thread_input)
            }));
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(InvocationError::new(
            "Lambda.InvokeLimitExceeded",
            format!("could not start the transform's thread: {e}"),
        ));
    }
    let timeout_ns = u64::try_from(registered.timeout.as_nanos()).unwrap_or(u64::MAX);
    let deadline_ns = clock.monotonic_ns().saturating_add(timeout_ns);
    loop {
        match rx.recv_timeout(tick) {
            Ok(Ok(Ok(answer))) => return check_answer(&input, answer),
            Ok(Ok(Err(message))) => {
                return Err(InvocationError::new("Lambda.FunctionError", message));
            }
            Ok(Err(payload)) => {
                return Err(InvocationError::new(
                    "Lambda.FunctionError",
                    format!(
                        "the transform panicked: {}",
                        panic_message(payload.as_ref())
                    ),
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(InvocationError::new(
                    "Lambda.FunctionError",
                    "the transform's thread ended without an answer",
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if clock.monotonic_ns() >= deadline_ns {
                    return Err(InvocationError::new(
                        "Lambda.FunctionTimeout",
                        format!(
                            "the transform ran past its timeout of {} ms",
                            registered.timeout.as_millis()
                        ),
                    ));
                }
            }
        }
    }
}

/// The Lambda event of an input, as AWS sends it to a Firehose transformation function.
pub fn lambda_event(input: &TransformInput) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let records: Vec<Value> = input
        .records
        .iter()
        .map(|r| {
            let mut v = json!({
                "recordId": r.record_id,
                "approximateArrivalTimestamp": r.approximate_arrival_timestamp,
                "data": b64.encode(&r.data),
            });
            if let Some(k) = &r.kinesis {
                v["kinesisRecordMetadata"] = json!({
                    "shardId": k.shard_id,
                    "partitionKey": k.partition_key,
                    "approximateArrivalTimestamp": k.approximate_arrival_timestamp,
                    "sequenceNumber": k.sequence_number,
                    "subsequenceNumber": k.subsequence_number,
                });
            }
            v
        })
        .collect();
    let mut event = json!({
        "invocationId": input.invocation_id,
        "deliveryStreamArn": input.delivery_stream_arn,
        "region": input.region,
        "records": records,
    });
    if let Some(arn) = &input.source_kinesis_stream_arn {
        event["sourceKinesisStreamArn"] = json!(arn);
    }
    event
}

/// Reads a Lambda response (`{"records": [{recordId, result, data, metadata}]}`).
/// Shape errors are `Err(message)` (the invocation then fails as garbage).
pub fn parse_lambda_response(response: &Value) -> Result<Vec<TransformedRecord>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let records = response
        .get("records")
        .and_then(Value::as_array)
        .ok_or("the response has no \"records\" array")?;
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let record_id = r
            .get("recordId")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("records[{i}] has no string recordId"))?;
        let result = match r.get("result").and_then(Value::as_str) {
            Some("Ok") => TransformResult::Ok,
            Some("Dropped") => TransformResult::Dropped,
            Some("ProcessingFailed") => TransformResult::ProcessingFailed,
            Some(other) => {
                return Err(format!(
                    "records[{i}].result {other:?} is not Ok, Dropped or ProcessingFailed"
                ));
            }
            None => return Err(format!("records[{i}] has no result")),
        };
        let data = match r.get("data") {
            Some(Value::String(s)) => b64
                .decode(s)
                .map_err(|e| format!("records[{i}].data is not base64: {e}"))?,
            None | Some(Value::Null) if result != TransformResult::Ok => Vec::new(),
            _ => return Err(format!("records[{i}].data must be a base64 string")),
        };
        let mut partition_keys = BTreeMap::new();
        if let Some(keys) = r.get("metadata").and_then(|m| m.get("partitionKeys")) {
            let keys = keys
                .as_object()
                .ok_or_else(|| format!("records[{i}].metadata.partitionKeys is not an object"))?;
            for (k, v) in keys {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(format!(
                            "records[{i}].metadata.partitionKeys.{k} is not a scalar"
                        ));
                    }
                };
                partition_keys.insert(k.clone(), text);
            }
        }
        out.push(TransformedRecord {
            record_id: record_id.to_string(),
            result,
            data,
            partition_keys,
        });
    }
    Ok(out)
}

/// A transform that speaks Lambda's JSON: the event in, the response out (Python and C
/// callbacks use it). `Err` fails the invocation.
pub fn from_json_fn<F>(f: F) -> impl Transform
where
    F: Fn(&str) -> Result<String, String> + Send + Sync + 'static,
{
    move |input: &TransformInput| {
        let event = lambda_event(input).to_string();
        let answer = f(&event)?;
        let value: Value =
            serde_json::from_str(&answer).map_err(|e| format!("the response is not JSON: {e}"))?;
        parse_lambda_response(&value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidelog::{ManualClock, SystemClock};

    fn input(n: usize) -> Arc<TransformInput> {
        Arc::new(TransformInput {
            invocation_id: "inv".into(),
            delivery_stream_arn: "arn".into(),
            source_kinesis_stream_arn: None,
            region: "local".into(),
            records: (0..n)
                .map(|i| TransformRecord {
                    record_id: i.to_string(),
                    approximate_arrival_timestamp: 5,
                    data: Bytes::from(format!("r{i}")),
                    kinesis: None,
                })
                .collect(),
        })
    }

    fn reg(t: impl Transform) -> Registered {
        Registered {
            transform: Arc::new(t),
            timeout: Duration::from_secs(60),
        }
    }

    fn ok(id: &str, data: &[u8]) -> TransformedRecord {
        TransformedRecord {
            record_id: id.into(),
            result: TransformResult::Ok,
            data: data.to_vec(),
            partition_keys: BTreeMap::new(),
        }
    }

    #[test]
    fn answers_come_back_in_input_order() {
        let clock: Arc<dyn Clock> = SystemClock::shared();
        let t = reg(|i: &TransformInput| {
            Ok(i.records
                .iter()
                .rev()
                .map(|r| ok(&r.record_id, &r.data))
                .collect())
        });
        let out = invoke(&t, input(3), &clock, Duration::from_millis(5)).unwrap();
        assert_eq!(
            out.iter().map(|r| r.record_id.as_str()).collect::<Vec<_>>(),
            ["0", "1", "2"]
        );
    }

    #[test]
    fn garbage_panics_errors_and_hangs_fail_the_invocation() {
        let clock: Arc<dyn Clock> = SystemClock::shared();
        let tick = Duration::from_millis(5);
        let missing = reg(|_: &TransformInput| Ok(vec![ok("0", b"x")]));
        assert_eq!(
            invoke(&missing, input(2), &clock, tick).unwrap_err().code,
            "Lambda.MissingRecordId"
        );
        let unknown = reg(|_: &TransformInput| Ok(vec![ok("0", b""), ok("9", b"")]));
        assert_eq!(
            invoke(&unknown, input(1), &clock, tick).unwrap_err().code,
            "Lambda.MissingRecordId"
        );
        let dup = reg(|_: &TransformInput| Ok(vec![ok("0", b""), ok("0", b"")]));
        assert_eq!(
            invoke(&dup, input(1), &clock, tick).unwrap_err().code,
            "Lambda.DuplicatedRecordId"
        );
        let panics =
            reg(|_: &TransformInput| -> Result<Vec<TransformedRecord>, String> { panic!("boom") });
        let e = invoke(&panics, input(1), &clock, tick).unwrap_err();
        assert_eq!(e.code, "Lambda.FunctionError");
        assert!(e.message.contains("boom"));
        let errs = reg(|_: &TransformInput| Err("bad day".to_string()));
        assert_eq!(
            invoke(&errs, input(1), &clock, tick).unwrap_err().message,
            "bad day"
        );

        let manual = ManualClock::new(0);
        let manual_dyn: Arc<dyn Clock> = manual.clone();
        let release = Arc::new(std::sync::Barrier::new(2));
        let held = Arc::clone(&release);
        let hangs = Registered {
            transform: Arc::new(move |_: &TransformInput| {
                held.wait();
                Ok(vec![])
            }),
            timeout: Duration::from_secs(30),
        };
        let mover = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            manual.advance_ms(31_000);
        });
        let e = invoke(&hangs, input(1), &manual_dyn, tick).unwrap_err();
        assert_eq!(e.code, "Lambda.FunctionTimeout");
        mover.join().unwrap();
        release.wait();
    }

    #[test]
    fn lambda_json_round_trip() {
        let event = lambda_event(&input(2));
        assert_eq!(event["records"][1]["recordId"], "1");
        assert_eq!(event["records"][1]["data"], "cjE=");
        let response = json!({"records": [
            {"recordId": "0", "result": "Ok", "data": "eA==", "metadata": {"partitionKeys": {"a": "b", "n": 3}}},
            {"recordId": "1", "result": "Dropped"},
        ]});
        let parsed = parse_lambda_response(&response).unwrap();
        assert_eq!(parsed[0].data, b"x");
        assert_eq!(parsed[0].partition_keys["n"], "3");
        assert_eq!(parsed[1].result, TransformResult::Dropped);
        for bad in [
            json!({}),
            json!({"records": [{"recordId": "0"}]}),
            json!({"records": [{"recordId": "0", "result": "Maybe"}]}),
            json!({"records": [{"recordId": "0", "result": "Ok"}]}),
            json!({"records": [{"recordId": "0", "result": "Ok", "data": "!!"}]}),
        ] {
            assert!(parse_lambda_response(&bad).is_err(), "{bad}");
        }
    }
}
