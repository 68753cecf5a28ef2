//! SubscribeToShard: enhanced fan-out, the Kinesis face of the engine's push
//! subscriptions (`subscription.rs`). A registered, ACTIVE consumer subscribes to one
//! shard from a starting position and receives [`SubscribeToShardEvent`]s: records as
//! they commit (microseconds after the put), with the sequence number to continue
//! after and how far behind the tip they are.
//!
//! The rules, as Kinesis states them (times on the engine's clock):
//! - One subscription per consumer and shard. A second SubscribeToShard within
//!   [`SUBSCRIBE_RETRY_AFTER_MS`] of the last successful one is refused
//!   (ResourceInUseException); after that it takes over, and the older subscription
//!   ends with ResourceInUseException at its next event.
//! - A subscription lives [`SHARD_SUBSCRIPTION_LIFETIME_MS`] (5 minutes); then it ends
//!   and the caller subscribes again (continuing after the last
//!   ContinuationSequenceNumber).
//! - An event comes at least every [`SHARD_SUBSCRIPTION_HEARTBEAT_MS`] (5 s), with no
//!   records if none arrived.
//! - When the shard is closed (split or merged) and read to its end, the last event
//!   has no ContinuationSequenceNumber and carries the ChildShards; then it ends.
//! - Each consumer has its own read budget per shard (the limits'
//!   `subscribe_bytes_per_sec`, 2 MiB/s), kept across its resubscriptions, not the
//!   shard's shared GetRecords budget.
//! - Deregistering the consumer, or deleting the stream, ends its subscriptions.
//!
//! A server drives a [`ShardSubscription`] with [`ShardSubscription::next`] (blocking,
//! with a timeout) or [`ShardSubscription::next_async`] (any executor), turning each
//! [`FanoutEvent`] into an event-stream message. With a `ManualClock`, heartbeats and
//! the lifetime follow the manual time when the caller looks (a wait does not wake
//! when the manual clock moves).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::read::ChildShard;
use super::subscription::{Subscription, SubscriptionEvent};
use super::{Engine, StreamRuntime, lock};
use crate::error::{Error, Result, Validation};
use crate::log::ReadBatch;
use crate::stream::catalog::ShardState;
use crate::stream::iterator::StartingPosition;
use crate::stream::sequence::SeqParts;
use crate::stream::shard::ShardShared;
use crate::stream::throttle::TokenBucket;

/// How long a subscription lives, ms (Kinesis: 5 minutes).
pub const SHARD_SUBSCRIPTION_LIFETIME_MS: u64 = 300_000;
/// The longest time between two events of a subscription, ms (Kinesis: 5 s).
pub const SHARD_SUBSCRIPTION_HEARTBEAT_MS: u64 = 5_000;
/// How long after a successful SubscribeToShard another one for the same consumer and
/// shard is refused, ms (Kinesis: 5 s).
pub const SUBSCRIBE_RETRY_AFTER_MS: u64 = 5_000;

/// A generation that means "the consumer or its stream is gone".
const GONE: u64 = u64::MAX;

/// One SubscribeToShardEvent.
#[derive(Debug)]
pub struct SubscribeToShardEvent {
    /// Records in order (zero-copy, decrypted if the stream is encrypted); empty for a
    /// heartbeat or the last event of a closed shard.
    pub records: ReadBatch,
    /// Where to continue: subscribe again with AFTER_SEQUENCE_NUMBER and this number.
    /// `None` on the last event of a closed shard (with `child_shards`).
    pub continuation_sequence_number: Option<u128>,
    /// How far behind the newest record of the shard this event ends, ms (0 at the
    /// tip).
    pub millis_behind_latest: u64,
    /// The shard's children, on the last event of a closed shard.
    pub child_shards: Vec<ChildShard>,
}

/// What [`ShardSubscription::next`] delivers.
#[derive(Debug)]
pub enum FanoutEvent {
    /// An event for the caller.
    Event(SubscribeToShardEvent),
    /// The caller's timeout passed before the next event was due.
    Timeout,
    /// The subscription is over: its 5 minutes passed, or the shard ended (after the
    /// event with its children). Subscribe again to continue.
    End,
}

#[derive(Debug)]
struct Slot {
    last_call_ms: u64,
    generation: Arc<AtomicU64>,
    budget: Arc<Mutex<TokenBucket>>,
}

/// (stream id, consumer name, consumer creation ms, shard index).
type SlotKey = (u64, String, u64, u32);

/// Which subscription of each consumer and shard is current, and each one's budget.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    slots: Mutex<HashMap<SlotKey, Slot>>,
}

impl Registry {
    /// Ends every subscription of a consumer (deregistered).
    pub(crate) fn forget_consumer(&self, stream_id: u64, consumer: &str) {
        let mut slots = lock(&self.slots);
        slots.retain(|key, slot| {
            let gone = key.0 == stream_id && key.1 == consumer;
            if gone {
                slot.generation.store(GONE, Ordering::Release);
            }
            !gone
        });
    }

    /// Ends every subscription to a stream (deleted).
    pub(crate) fn forget_stream(&self, stream_id: u64) {
        let mut slots = lock(&self.slots);
        slots.retain(|key, slot| {
            let gone = key.0 == stream_id;
            if gone {
                slot.generation.store(GONE, Ordering::Release);
            }
            !gone
        });
    }
}

/// A SubscribeToShard subscription (see the module doc).
pub struct ShardSubscription {
    engine: Engine,
    shard: Arc<ShardShared>,
    inner: Subscription,
    consumer_arn: String,
    generation: Arc<AtomicU64>,
    mine: u64,
    started_ms: u64,
    last_event_ms: u64,
    continuation: u128,
    ended: bool,
}

impl std::fmt::Debug for ShardSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardSubscription")
            .field("consumer", &self.consumer_arn)
            .field("shard", &self.shard.shard_id)
            .field("started_ms", &self.started_ms)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// SubscribeToShard: subscribes the consumer `consumer_arn` (ACTIVE) to
    /// `shard_id` of its stream from `position`. See the module doc for the rules.
    pub fn subscribe_to_shard(
        &self,
        consumer_arn: &str,
        shard_id: &str,
        position: StartingPosition,
    ) -> Result<ShardSubscription> {
        let found = self.find_consumer(None, None, Some(consumer_arn))?;
        let arn = self.inner.config.arn_scope.consumer_arn(
            &found.stream,
            &found.record.name,
            found.record.created_ms,
        );
        if found.status != super::ConsumerStatus::Active {
            return Err(Error::ConsumerBusy {
                consumer: arn,
                reason: format!("it is {}, not ACTIVE", found.status.name()),
            });
        }
        let stream = self.stream(&found.stream)?;
        let shard = self.shard(&stream, shard_id)?;
        let cursor = self.starting_seq(&shard, position)?;
        let initial = self.continuation_before(&stream, &shard, cursor, position);
        let now_ms = self.inner.config.clock.now_ms();
        let key: SlotKey = (
            stream.id,
            found.record.name.clone(),
            found.record.created_ms,
            shard.index,
        );
        let (generation, mine, budget) = {
            let mut slots = lock(&self.inner.fanout.slots);
            let slot = slots.entry(key).or_insert_with(|| Slot {
                last_call_ms: 0,
                generation: Arc::new(AtomicU64::new(0)),
                budget: Arc::new(Mutex::new(TokenBucket::new(
                    self.inner.config.limits.subscribe_bytes_per_sec,
                    self.inner.config.clock.monotonic_ns(),
                ))),
            });
            let current = slot.generation.load(Ordering::Acquire);
            if current > 0 && now_ms < slot.last_call_ms.saturating_add(SUBSCRIBE_RETRY_AFTER_MS) {
                return Err(Error::ConsumerBusy {
                    consumer: arn,
                    reason: format!(
                        "it subscribed to {shard_id} less than 5 s ago; \
                         subscribe again after {} ms",
                        slot.last_call_ms + SUBSCRIBE_RETRY_AFTER_MS
                    ),
                });
            }
            slot.last_call_ms = now_ms;
            let mine = current + 1;
            slot.generation.store(mine, Ordering::Release);
            (Arc::clone(&slot.generation), mine, Arc::clone(&slot.budget))
        };
        let inner = self.subscribe_from(
            Arc::clone(&stream),
            Arc::clone(&shard),
            cursor,
            Some(budget),
        );
        Ok(ShardSubscription {
            engine: self.clone(),
            shard,
            inner,
            consumer_arn: arn,
            generation,
            mine,
            started_ms: now_ms,
            last_event_ms: now_ms,
            continuation: initial,
            ended: false,
        })
    }

    /// The ContinuationSequenceNumber before anything is delivered: a number that,
    /// subscribed to AFTER, reads from `cursor` on.
    fn continuation_before(
        &self,
        stream: &StreamRuntime,
        shard: &ShardShared,
        cursor: u128,
        position: StartingPosition,
    ) -> u128 {
        if let StartingPosition::AfterSequenceNumber(seq) = position {
            return seq;
        }
        let now_ms = self.inner.config.clock.now_ms();
        let cursor = cursor.max(Self::readable_start(shard, now_ms));
        let start = {
            let data = lock(&self.inner.catalog);
            data.streams
                .iter()
                .find(|s| s.id == stream.id)
                .and_then(|s| s.shard(shard.index))
                .map_or(0, |s| s.starting_seq)
        };
        let parts = SeqParts::unpack(cursor);
        if parts.counter > 0 && parts.shard_index == shard.index && cursor > start {
            cursor - 1
        } else {
            start
        }
    }
}

impl ShardSubscription {
    /// The consumer's ARN.
    pub fn consumer_arn(&self) -> &str {
        &self.consumer_arn
    }

    /// The shard subscribed to.
    pub fn shard_id(&self) -> &str {
        &self.shard.shard_id
    }

    /// When the subscription ends, ms since the epoch (engine clock).
    pub fn expires_at_ms(&self) -> u64 {
        self.started_ms + SHARD_SUBSCRIPTION_LIFETIME_MS
    }

    /// The ContinuationSequenceNumber of the last event (or the starting point).
    pub fn continuation_sequence_number(&self) -> u128 {
        self.continuation
    }

    fn check_current(&self) -> Result<()> {
        match self.generation.load(Ordering::Acquire) {
            g if g == self.mine => Ok(()),
            GONE => Err(Error::ResourceNotFound {
                what: format!(
                    "consumer {} (deregistered, or its stream deleted)",
                    self.consumer_arn
                ),
            }),
            _ => Err(Error::ConsumerBusy {
                consumer: self.consumer_arn.clone(),
                reason: format!(
                    "a newer SubscribeToShard to {} took over this subscription",
                    self.shard.shard_id
                ),
            }),
        }
    }

    fn millis_behind(&self, next_seq: u128, last_ts: Option<u64>) -> u64 {
        let reader = &self.shard.reader;
        let at_tip = reader.last_seq().is_none_or(|last| next_seq > last);
        match (at_tip, last_ts) {
            (true, _) => 0,
            (false, Some(ts)) => reader.last_timestamp_ms().saturating_sub(ts),
            (false, None) => reader
                .last_timestamp_ms()
                .saturating_sub(self.engine.inner.config.clock.now_ms()),
        }
    }

    fn heartbeat(&mut self, now_ms: u64) -> FanoutEvent {
        self.last_event_ms = now_ms;
        let next = self.continuation.saturating_add(1);
        FanoutEvent::Event(SubscribeToShardEvent {
            records: ReadBatch::default(),
            continuation_sequence_number: Some(self.continuation),
            millis_behind_latest: self.millis_behind(next, None),
            child_shards: Vec::new(),
        })
    }

    /// What is due now without waiting: the end, a takeover, or a heartbeat.
    fn due(&mut self) -> Result<Option<FanoutEvent>> {
        if self.ended {
            return Ok(Some(FanoutEvent::End));
        }
        self.check_current()?;
        self.engine.check_open()?;
        let now_ms = self.engine.inner.config.clock.now_ms();
        if now_ms >= self.expires_at_ms() {
            self.ended = true;
            return Ok(Some(FanoutEvent::End));
        }
        if now_ms >= self.last_event_ms + SHARD_SUBSCRIPTION_HEARTBEAT_MS {
            return Ok(Some(self.heartbeat(now_ms)));
        }
        Ok(None)
    }

    /// How long the inner wait may last: until the next heartbeat or the end (engine
    /// clock), or the caller's deadline.
    fn wait_for(&self, deadline: Instant) -> Duration {
        let now_ms = self.engine.inner.config.clock.now_ms();
        let due_ms = (self.last_event_ms + SHARD_SUBSCRIPTION_HEARTBEAT_MS)
            .min(self.expires_at_ms())
            .saturating_sub(now_ms);
        deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(due_ms.max(1)))
    }

    fn translate(&mut self, event: SubscriptionEvent) -> Result<Option<FanoutEvent>> {
        let now_ms = self.engine.inner.config.clock.now_ms();
        Ok(match event {
            SubscriptionEvent::Records { batch, .. } => {
                let last = batch.iter().last().map(|r| (r.seq, r.timestamp_ms));
                if let Some((seq, _)) = last {
                    self.continuation = seq;
                }
                self.last_event_ms = now_ms;
                let behind = self.millis_behind(batch.next_seq(), last.map(|l| l.1));
                Some(FanoutEvent::Event(SubscribeToShardEvent {
                    records: batch,
                    continuation_sequence_number: Some(self.continuation),
                    millis_behind_latest: behind,
                    child_shards: Vec::new(),
                }))
            }
            SubscriptionEvent::ShardEnded { child_shards, .. } => {
                self.ended = true;
                self.last_event_ms = now_ms;
                Some(FanoutEvent::Event(SubscribeToShardEvent {
                    records: ReadBatch::default(),
                    continuation_sequence_number: None,
                    millis_behind_latest: 0,
                    child_shards,
                }))
            }
            SubscriptionEvent::Finished => {
                self.ended = true;
                Some(FanoutEvent::End)
            }
            SubscriptionEvent::Timeout => None,
        })
    }

    /// Waits up to `timeout` for the next event, blocking this thread: records, a
    /// heartbeat (at least every 5 s), the last event of a closed shard, or the end of
    /// the subscription. Errors: ResourceInUse once another SubscribeToShard took over,
    /// ResourceNotFound once the consumer or stream is gone, KMS errors reading an
    /// encrypted stream.
    pub fn next(&mut self, timeout: Duration) -> Result<FanoutEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.due()? {
                return Ok(event);
            }
            if Instant::now() >= deadline {
                return Ok(FanoutEvent::Timeout);
            }
            let wait = self.wait_for(deadline);
            let event = self.inner.next(wait)?;
            self.check_current()?;
            if let Some(event) = self.translate(event)? {
                return Ok(event);
            }
        }
    }

    /// [`next`](Self::next) as a future any executor can await (no thread blocked).
    pub async fn next_async(&mut self, timeout: Duration) -> Result<FanoutEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.due()? {
                return Ok(event);
            }
            if Instant::now() >= deadline {
                return Ok(FanoutEvent::Timeout);
            }
            let wait = self.wait_for(deadline);
            let event = self.inner.next_async(wait).await?;
            self.check_current()?;
            if let Some(event) = self.translate(event)? {
                return Ok(event);
            }
        }
    }

    /// True once the subscription is over (its lifetime passed or its shard ended).
    pub fn is_ended(&self) -> bool {
        self.ended
            || self.engine.inner.config.clock.now_ms() >= self.expires_at_ms()
            || self.shard.state() == ShardState::Expired
    }
}

/// Validates a SubscribeToShard starting position's pieces (for front ends that
/// build one from strings).
pub fn parse_starting_position(
    kind: &str,
    sequence_number: Option<&str>,
    timestamp_ms: Option<u64>,
) -> Result<StartingPosition> {
    let seq = || -> Result<u128> {
        let text = sequence_number
            .ok_or_else(|| Validation::Argument(format!("{kind} needs a SequenceNumber")))?;
        crate::stream::sequence::parse_sequence_number(text)
            .ok_or_else(|| Validation::SequenceNumber(text.to_string()).into())
    };
    Ok(match kind {
        "TRIM_HORIZON" => StartingPosition::TrimHorizon,
        "LATEST" => StartingPosition::Latest,
        "AT_SEQUENCE_NUMBER" => StartingPosition::AtSequenceNumber(seq()?),
        "AFTER_SEQUENCE_NUMBER" => StartingPosition::AfterSequenceNumber(seq()?),
        "AT_TIMESTAMP" => StartingPosition::AtTimestamp(
            timestamp_ms
                .ok_or_else(|| Validation::Argument("AT_TIMESTAMP needs a Timestamp".into()))?,
        ),
        other => return Err(Validation::IteratorType(other.to_string()).into()),
    })
}
