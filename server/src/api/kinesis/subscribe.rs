//! SubscribeToShard: the engine's enhanced fan-out (`Engine::subscribe_to_shard`, a
//! `ShardSubscription` woken the moment records commit) answered as an AWS event
//! stream.
//!
//! The stream: an `initial-response` event first, then one `SubscribeToShardEvent`
//! per engine event: the records (never empty while records flow),
//! `ContinuationSequenceNumber` (resume with AFTER_SEQUENCE_NUMBER) and
//! `MillisBehindLatest`; an empty event at least every 5 s with nothing new (the
//! engine's heartbeat; `heartbeat_interval` may ask for more); when the shard is closed
//! and read to its end, an event with its `ChildShards` and no continuation, and the
//! stream ends. It ends cleanly after 5 minutes (the engine's lifetime, or the
//! server's shorter `subscription_lifetime`; the client subscribes again), when the
//! server stops, and when the client goes away. A failure mid-stream (another
//! SubscribeToShard took over, the consumer was deregistered, a KMS error) is an
//! `exception` message, then the end.
//!
//! The rules live in the engine, on its clock: the consumer must be registered and
//! ACTIVE (ResourceNotFound / ResourceInUse otherwise); one subscription per consumer
//! and shard: a second call within 5 s of the last is ResourceInUseException, a later
//! one takes over and the older stream ends with ResourceInUseException; each consumer
//! has its own read budget per shard.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tidelog::engine::{FanoutEvent, SubscribeToShardEvent};
use tokio::sync::mpsc;

use super::child_value;
use super::records::{records_value, starting_position};
use crate::api::input::{self, missing, opt_bool, opt_map, opt_str, opt_timestamp_ms, req_str};
use crate::api::{Api, ApiError, EventReceiver};
use crate::wire::{Encoding, Map, Value, eventstream};

/// Events buffered between the reader and the connection: the reader stays at most
/// this many events ahead of what the client has taken.
const EVENTS_BUFFERED: usize = 2;

/// How long the stream waits for the client to take an event before giving up on it
/// (a stalled reader must not keep a subscription's task forever).
pub const CLIENT_STALL_MAX: Duration = Duration::from_secs(60);

/// How many SubscribeToShard streams are open (for `/metrics`).
#[derive(Debug, Default)]
pub struct SubscriptionCount(Arc<AtomicUsize>);

impl SubscriptionCount {
    /// Streams open now.
    pub fn len(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// True if none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn hold(&self) -> Held {
        self.0.fetch_add(1, Ordering::Relaxed);
        Held(Arc::clone(&self.0))
    }
}

/// One open stream, counted until dropped.
struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn event_payload(encoding: Encoding, body: &Value) -> (Vec<u8>, &'static str) {
    let content_type = match encoding {
        Encoding::Json => "application/json",
        Encoding::Cbor => Encoding::Cbor.content_type(),
    };
    (encoding.encode(body), content_type)
}

fn frame_event(encoding: Encoding, event_type: &str, body: &Value) -> Bytes {
    let (payload, content_type) = event_payload(encoding, body);
    Bytes::from(eventstream::event(event_type, content_type, &payload))
}

fn frame_exception(encoding: Encoding, error: &ApiError) -> Bytes {
    let (payload, content_type) = event_payload(encoding, &error.body());
    Bytes::from(eventstream::exception(error.code, content_type, &payload))
}

/// A SubscribeToShardEvent's body.
pub fn event_value(e: &SubscribeToShardEvent) -> Value {
    let mut body = Map::new()
        .with("Records", records_value(&e.records))
        .with_opt(
            "ContinuationSequenceNumber",
            e.continuation_sequence_number.map(|n| n.to_string()),
        )
        .with("MillisBehindLatest", e.millis_behind_latest);
    if !e.child_shards.is_empty() {
        body.push(
            "ChildShards",
            Value::List(e.child_shards.iter().map(child_value).collect()),
        );
    }
    body.into()
}

/// SubscribeToShard(ConsumerARN, ShardId, StartingPosition{Type, SequenceNumber,
/// Timestamp}, DryRun).
pub fn subscribe_to_shard(
    api: Arc<Api>,
    m: Map,
    encoding: Encoding,
) -> Result<EventReceiver, ApiError> {
    let consumer = req_str(&m, "ConsumerARN")?;
    if !consumer.contains("/consumer/") {
        return Err(input::constraint(
            "ConsumerARN",
            consumer,
            "Member must satisfy regular expression pattern: \
             ^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/[a-zA-Z0-9_.-]+:[0-9]+",
        ));
    }
    let shard = req_str(&m, "ShardId")?;
    let start = opt_map(&m, "StartingPosition")?.ok_or_else(|| missing("StartingPosition"))?;
    let position = starting_position(
        req_str(start, "Type")?,
        "StartingPosition.Type",
        opt_str(start, "SequenceNumber")?,
        "StartingPosition.SequenceNumber",
        opt_timestamp_ms(start, "Timestamp")?,
    )?;
    if opt_bool(&m, "DryRun")?.unwrap_or(false) {
        api.engine
            .describe_stream_consumer(None, None, Some(consumer))?;
        return Err(ApiError::new(
            "DryRunOperationException",
            "Request would have succeeded, but DryRun flag is set",
        ));
    }
    let mut subscription = api.engine.subscribe_to_shard(consumer, shard, position)?;
    let (tx, rx) = mpsc::channel(EVENTS_BUFFERED);
    let initial = frame_event(encoding, "initial-response", &Map::new().into());
    tx.try_send(initial)
        .map_err(|_| ApiError::internal("event channel closed"))?;
    let held = api.subscriptions.hold();
    let mut stop = api.stop_signal();
    let deadline = Instant::now() + api.config.subscription_lifetime;
    let heartbeat = api.config.heartbeat_interval;
    tokio::spawn(async move {
        let _held = held;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break; // the server's lifetime: the client subscribes again
            }
            let wait = heartbeat.min(deadline - now);
            let next = tokio::select! {
                biased;
                _ = stop.changed() => break,
                _ = tx.closed() => break,
                event = subscription.next_async(wait) => event,
            };
            let body = match next {
                Ok(FanoutEvent::Event(event)) => event_value(&event),
                // The server's own, more frequent heartbeat.
                Ok(FanoutEvent::Timeout) => Map::new()
                    .with("Records", Value::List(Vec::new()))
                    .with(
                        "ContinuationSequenceNumber",
                        subscription.continuation_sequence_number().to_string(),
                    )
                    .with("MillisBehindLatest", 0u64)
                    .into(),
                Ok(FanoutEvent::End) => break,
                Err(e) => {
                    let _ = tx.send(frame_exception(encoding, &ApiError::from(e))).await;
                    break;
                }
            };
            let sent = tokio::time::timeout(
                CLIENT_STALL_MAX,
                tx.send(frame_event(encoding, "SubscribeToShardEvent", &body)),
            )
            .await;
            if !matches!(sent, Ok(Ok(()))) {
                break; // the client went away, or stopped reading
            }
        }
    });
    Ok(rx)
}
