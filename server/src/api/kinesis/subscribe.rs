//! SubscribeToShard: records pushed as an AWS event stream over the engine's
//! subscriptions (`tidelog::Subscription`, woken the moment records commit).
//!
//! The stream: an `initial-response` event first, then `SubscribeToShardEvent`s, each
//! with the records read (never empty while records flow), `ContinuationSequenceNumber`
//! (the last record handed out: resume with AFTER_SEQUENCE_NUMBER) and
//! `MillisBehindLatest`; an empty event (a heartbeat) after `heartbeat_interval` with
//! nothing new; when the shard is closed and read to its end, an event with its
//! `ChildShards`, and the stream ends. It ends cleanly after `subscription_lifetime`
//! (AWS: 5 minutes; the client subscribes again), when the server stops, and when the
//! client goes away. A failure mid-stream is an `exception` message, then the end.
//!
//! One subscription per (consumer, shard) at a time, as AWS: a second call while the
//! first streams is ResourceInUseException.
//!
//! Consumers: the consumer ARN names the stream
//! (`arn:aws:kinesis:<region>:<account>:stream/<name>/consumer/<consumer>:<created>`);
//! [`resolve_consumer`] is the one place that turns it into the stream to read.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tidelog::stream::sequence::SeqParts;
use tidelog::{SubscriptionEvent, log::ReadBatch};
use tokio::sync::mpsc;

use super::child_value;
use super::records::{records_value, starting_position};
use crate::api::input::{opt_str, opt_timestamp_ms, req_str};
use crate::api::{Api, ApiError, EventReceiver};
use crate::wire::{Encoding, Map, Value, eventstream};

/// Events buffered between the reader and the connection: the reader stays at most
/// this many events ahead of what the client has taken.
const EVENTS_BUFFERED: usize = 2;

/// SubscribeToShard calls under way, by (consumer ARN, shard id).
#[derive(Debug, Default)]
pub struct ActiveSubscriptions(Arc<Mutex<HashSet<(String, String)>>>);

/// Holds a (consumer, shard) slot; frees it when dropped.
#[derive(Debug)]
struct Slot {
    set: Arc<Mutex<HashSet<(String, String)>>>,
    key: (String, String),
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

impl ActiveSubscriptions {
    fn take(&self, consumer: &str, shard: &str) -> Result<Slot, ApiError> {
        let key = (consumer.to_string(), shard.to_string());
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !set.insert(key.clone()) {
            return Err(ApiError::in_use(format!(
                "{consumer} already has a subscription to {shard}"
            )));
        }
        Ok(Slot {
            set: Arc::clone(&self.0),
            key,
        })
    }

    /// How many subscriptions are streaming.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True if none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The stream and consumer names of a consumer ARN.
pub fn parse_consumer_arn(arn: &str) -> Result<(&str, &str), ApiError> {
    let bad = || ApiError::validation(format!("{arn:?} is not a Kinesis consumer ARN"));
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", _, "kinesis", _, _, resource] = parts.as_slice() else {
        return Err(bad());
    };
    let rest = resource.strip_prefix("stream/").ok_or_else(bad)?;
    let (stream, consumer) = rest.split_once("/consumer/").ok_or_else(bad)?;
    let consumer = consumer.split(':').next().unwrap_or("");
    if stream.is_empty() || stream.contains('/') || consumer.is_empty() {
        return Err(bad());
    }
    Ok((stream, consumer))
}

/// The stream a consumer reads. The engine has no registered consumers yet, so any
/// well-formed consumer ARN of an existing stream is accepted; when it has them, this
/// is where the consumer is looked up (ResourceNotFoundException if unknown,
/// ResourceInUseException unless ACTIVE).
pub fn resolve_consumer(api: &Api, arn: &str) -> Result<String, ApiError> {
    let (stream, _consumer) = parse_consumer_arn(arn)?;
    api.engine.describe_stream_summary(stream)?;
    Ok(stream.to_string())
}

/// The continuation for a reader whose next record is at least `next`: the largest
/// sequence number of the shard below it (AFTER it resumes at `next`), or `None` when
/// nothing can be below (the start of the shard's first epoch).
pub fn continuation_before(next: u128) -> Option<u128> {
    if next == 0 {
        return None;
    }
    let parts = SeqParts::unpack(next);
    if parts.counter > 0 {
        Some(next - 1)
    } else if parts.epoch > 0 {
        // Above every number of earlier epochs (their counters stay below u64::MAX),
        // below every number of this one.
        Some(
            SeqParts {
                epoch: parts.epoch - 1,
                shard_index: parts.shard_index,
                counter: u64::MAX,
            }
            .pack(),
        )
    } else {
        None
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

/// SubscribeToShard(ConsumerARN, ShardId, StartingPosition{Type, SequenceNumber,
/// Timestamp}).
pub fn subscribe_to_shard(
    api: Arc<Api>,
    m: Map,
    encoding: Encoding,
) -> Result<EventReceiver, ApiError> {
    let consumer = req_str(&m, "ConsumerARN")?.to_string();
    let shard = req_str(&m, "ShardId")?.to_string();
    let start = crate::api::input::opt_map(&m, "StartingPosition")?
        .ok_or_else(|| crate::api::input::missing("StartingPosition"))?;
    let position = starting_position(
        req_str(start, "Type")?,
        "StartingPosition.Type",
        opt_str(start, "SequenceNumber")?,
        "StartingPosition.SequenceNumber",
        opt_timestamp_ms(start, "Timestamp")?,
    )?;
    let stream = resolve_consumer(&api, &consumer)?;
    let slot = api.subscriptions.take(&consumer, &shard)?;
    let subscription = api.engine.subscribe(&stream, &shard, position, false)?;
    let (tx, rx) = mpsc::channel(EVENTS_BUFFERED);
    let initial = frame_event(encoding, "initial-response", &Map::new().into());
    tx.try_send(initial)
        .map_err(|_| ApiError::internal("event channel closed"))?;
    let mut stop = api.stop_signal();
    let lifetime = api.config.subscription_lifetime;
    let heartbeat = api.config.heartbeat_interval;
    let limits = api.engine.config().limits;
    let clock = Arc::clone(&api.engine.config().clock);
    tokio::spawn(async move {
        let _slot = slot;
        let mut subscription = subscription;
        let deadline = Instant::now() + lifetime;
        let full = |b: &ReadBatch| {
            b.len() >= limits.read_records_per_call_max
                || b.payload_bytes() >= limits.read_bytes_per_call_max.min(1 << 20)
        };
        loop {
            let now = Instant::now();
            if now >= deadline {
                break; // the 5-minute lifetime: the client subscribes again
            }
            let wait = heartbeat.min(deadline - now);
            let next = tokio::select! {
                biased;
                _ = stop.changed() => break,
                _ = tx.closed() => break,
                event = subscription.next_async(wait) => event,
            };
            let continuation = || {
                subscription
                    .next_sequence_numbers()
                    .first()
                    .and_then(|(_, next)| continuation_before(*next))
                    .map(|seq| seq.to_string())
            };
            let body: Value = match next {
                Ok(SubscriptionEvent::Records { batch, .. }) => {
                    let behind = if full(&batch) {
                        let last = batch.get(batch.len() - 1).map_or(0, |r| r.timestamp_ms);
                        clock.now_ms().saturating_sub(last)
                    } else {
                        0
                    };
                    Map::new()
                        .with("Records", records_value(&batch))
                        .with_opt("ContinuationSequenceNumber", continuation())
                        .with("MillisBehindLatest", behind)
                        .into()
                }
                Ok(SubscriptionEvent::Timeout) => Map::new()
                    .with("Records", Value::List(Vec::new()))
                    .with_opt("ContinuationSequenceNumber", continuation())
                    .with("MillisBehindLatest", 0u64)
                    .into(),
                Ok(SubscriptionEvent::ShardEnded { child_shards, .. }) => {
                    let children = child_shards.iter().map(child_value).collect();
                    let body = Map::new()
                        .with("Records", Value::List(Vec::new()))
                        .with("MillisBehindLatest", 0u64)
                        .with("ChildShards", Value::List(children))
                        .into();
                    let _ = tx
                        .send(frame_event(encoding, "SubscribeToShardEvent", &body))
                        .await;
                    break;
                }
                Ok(SubscriptionEvent::Finished) => break,
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

/// How long the stream waits for the client to take an event before giving up on it
/// (a stalled reader must not hold a subscription slot forever).
pub const CLIENT_STALL_MAX: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_arns() {
        let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/orders/consumer/app:1700000000";
        assert_eq!(parse_consumer_arn(arn).unwrap(), ("orders", "app"));
        for bad in [
            "arn:aws:kinesis:us-east-1:0:stream/orders",
            "arn:aws:kinesis:us-east-1:0:stream//consumer/a:1",
            "arn:aws:kinesis:us-east-1:0:stream/o/consumer/:1",
            "nonsense",
        ] {
            assert!(parse_consumer_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn continuations_stay_in_the_shard() {
        let at = |epoch, counter| {
            SeqParts {
                epoch,
                shard_index: 3,
                counter,
            }
            .pack()
        };
        assert_eq!(continuation_before(0), None);
        assert_eq!(continuation_before(at(5, 10)), Some(at(5, 9)));
        let c = continuation_before(at(5, 0)).unwrap();
        assert_eq!(SeqParts::unpack(c).shard_index, 3);
        assert!(c < at(5, 0) && c > at(4, 1 << 40));
        assert_eq!(continuation_before(at(0, 0)), None);
    }

    #[test]
    fn one_subscription_per_consumer_and_shard() {
        let active = ActiveSubscriptions::default();
        let slot = active.take("c", "s").unwrap();
        assert_eq!(
            active.take("c", "s").unwrap_err().code,
            "ResourceInUseException"
        );
        let _other = active.take("c", "t").unwrap();
        drop(slot);
        assert!(active.take("c", "s").is_ok());
    }
}
