//! Subscriptions: tail a shard and wake the moment new records commit, like Kinesis
//! enhanced fan-out (SubscribeToShard) but in-process, with its own 2 MiB/s budget per
//! subscriber instead of the shard's shared GetRecords limits.
//!
//! Waiting: a subscriber first spins on the shard's notification counter for
//! `subscriber_spin` (so a record committed within that window is seen in about a
//! microsecond), then parks until the core notifies it. A core notifies after the
//! records are published, so a woken subscriber always finds them.
//!
//! Lineage: with `follow_lineage`, a subscription that drains a closed shard continues
//! on its children (both children of a split, in hash-key order; the merged child once
//! both parents are drained), so a consumer of one partition key sees its records in
//! put order across any number of reshards.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::read::ChildShard;
use super::{Engine, StreamRuntime};
use crate::error::{Error, Result};
use crate::log::ReadBatch;
use crate::stream::catalog::ShardState;
use crate::stream::iterator::StartingPosition;
use crate::stream::names;
use crate::stream::shard::{NotifyWaiter, ShardShared};
use crate::stream::throttle::TokenBucket;

/// What [`Subscription::next`] delivers.
#[derive(Debug)]
pub enum SubscriptionEvent {
    /// New records (never empty), from `shard_id`.
    Records {
        /// The shard they come from.
        shard_id: String,
        /// The records, zero-copy.
        batch: ReadBatch,
    },
    /// Nothing arrived within the timeout.
    Timeout,
    /// The shard is closed and fully read. Without lineage following this is the end;
    /// with it, the subscription has moved on to the children (and says so here).
    ShardEnded {
        /// The shard that ended.
        shard_id: String,
        /// Its children.
        child_shards: Vec<ChildShard>,
    },
}

/// A push-style reader of one shard (and, optionally, its descendants).
pub struct Subscription {
    engine: Engine,
    stream: Arc<StreamRuntime>,
    /// Shards to read, in order; the first is current. Each with its next position.
    queue: Vec<(Arc<ShardShared>, u128)>,
    /// Shards fully read (for merge children waiting on their other parent).
    drained: Vec<u32>,
    follow_lineage: bool,
    budget: TokenBucket,
    max_records: usize,
    max_bytes: usize,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("stream", &self.stream.name)
            .field(
                "shards",
                &self
                    .queue
                    .iter()
                    .map(|(s, _)| s.shard_id.clone())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Engine {
    /// Subscribes to a shard from `position`. With `follow_lineage`, the subscription
    /// continues on the shard's children after it is closed and drained.
    pub fn subscribe(
        &self,
        stream: &str,
        shard_id: &str,
        position: StartingPosition,
        follow_lineage: bool,
    ) -> Result<Subscription> {
        crate::stream::names::validate_stream_name(stream)
            .map_err(crate::error::Validation::StreamName)?;
        let runtime = self.stream(stream)?;
        let shard = self.shard(&runtime, shard_id)?;
        let next = self.starting_seq(&shard, position)?;
        let limits = self.inner.config.limits;
        Ok(Subscription {
            engine: self.clone(),
            stream: runtime,
            queue: vec![(shard, next)],
            drained: Vec::new(),
            follow_lineage,
            budget: TokenBucket::new(
                limits.subscribe_bytes_per_sec,
                self.inner.config.clock.monotonic_ns(),
            ),
            max_records: limits.read_records_per_call_max,
            max_bytes: limits.read_bytes_per_call_max.min(1 << 20),
        })
    }
}

enum Step {
    Event(SubscriptionEvent),
    Wait {
        version: u64,
        budget_wait: Option<Duration>,
    },
}

impl Subscription {
    /// The shard currently being read.
    pub fn shard_id(&self) -> Option<&str> {
        self.queue.first().map(|(s, _)| s.shard_id.as_str())
    }

    /// True once every shard to read is drained (and nothing more can come).
    pub fn is_finished(&self) -> bool {
        self.queue.is_empty()
    }

    fn step(&mut self) -> Result<Step> {
        self.engine.check_open()?;
        let clock = Arc::clone(&self.engine.inner.config.clock);
        let Some((shard, next)) = self.queue.first().cloned() else {
            return Err(Error::ShardNotFound {
                stream: self.stream.name.to_string(),
                shard_id: "(subscription finished)".to_string(),
            });
        };
        if shard.state() == ShardState::Expired {
            return Err(Error::ShardNotFound {
                stream: self.stream.name.to_string(),
                shard_id: shard.shard_id.clone(),
            });
        }
        let now_ns = clock.monotonic_ns();
        if !self.budget.positive(now_ns) {
            // Over the 2 MiB/s budget: wait until it is positive again (~debt/rate).
            return Ok(Step::Wait {
                version: shard.notify.version(),
                budget_wait: Some(Duration::from_millis(10)),
            });
        }
        let version = shard.notify.version();
        let closed = shard.state() == ShardState::Closed;
        let batch = Engine::read_shard(
            &shard,
            next,
            clock.now_ms(),
            self.max_records,
            self.max_bytes,
        )?;
        if !batch.is_empty() {
            self.budget.charge(batch.payload_bytes() as u64, now_ns);
            shard
                .counters
                .records_out(batch.len() as u64, batch.payload_bytes() as u64);
            self.queue[0].1 = batch.next_seq();
            return Ok(Step::Event(SubscriptionEvent::Records {
                shard_id: shard.shard_id.clone(),
                batch,
            }));
        }
        if closed {
            // Closed before the read found nothing: the shard is drained.
            let children = self.engine.child_shards(&self.stream.name, shard.index);
            self.queue.remove(0);
            self.drained.push(shard.index);
            if self.follow_lineage {
                self.enqueue_children(&children)?;
            }
            return Ok(Step::Event(SubscriptionEvent::ShardEnded {
                shard_id: shard.shard_id.clone(),
                child_shards: children,
            }));
        }
        Ok(Step::Wait {
            version,
            budget_wait: None,
        })
    }

    fn enqueue_children(&mut self, children: &[ChildShard]) -> Result<()> {
        let mut children: Vec<&ChildShard> = children.iter().collect();
        children.sort_by_key(|c| c.hash_range.start);
        for child in children {
            let Some(index) = names::parse_shard_id(&child.shard_id) else {
                continue;
            };
            // A merge child starts once both parents are drained.
            let parents: Vec<u32> = child
                .parent_shards
                .iter()
                .filter_map(|p| names::parse_shard_id(p))
                .collect();
            let ready = parents.iter().all(|p| self.drained.contains(p));
            if !ready || self.queue.iter().any(|(s, _)| s.index == index) {
                continue;
            }
            let shard = self.engine.shard(&self.stream, &child.shard_id)?;
            self.queue.push((shard, 0));
        }
        Ok(())
    }

    /// Waits up to `timeout` for the next event, blocking this thread: records, a shard
    /// ending, or a timeout. Spins briefly first (see the module doc), then parks.
    pub fn next(&mut self, timeout: Duration) -> Result<SubscriptionEvent> {
        let deadline = Instant::now() + timeout;
        let spin = self.engine.inner.config.subscriber_spin;
        loop {
            let (version, budget_wait) = match self.step()? {
                Step::Event(event) => return Ok(event),
                Step::Wait {
                    version,
                    budget_wait,
                } => (version, budget_wait),
            };
            let now = Instant::now();
            if now >= deadline {
                return Ok(SubscriptionEvent::Timeout);
            }
            if let Some(wait) = budget_wait {
                std::thread::sleep(wait.min(deadline - now));
                continue;
            }
            let Some((shard, _)) = self.queue.first() else {
                continue;
            };
            let spin_until = now + spin.min(deadline - now);
            let mut moved = false;
            while Instant::now() < spin_until {
                if shard.notify.version() != version {
                    moved = true;
                    break;
                }
                std::hint::spin_loop();
            }
            if moved {
                continue;
            }
            shard
                .notify
                .register(NotifyWaiter::Thread(std::thread::current()));
            while shard.notify.version() == version {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                std::thread::park_timeout(deadline - now);
            }
        }
    }

    /// [`next`](Self::next) as a future any executor can await (parks the task, never
    /// a thread).
    pub async fn next_async(&mut self, timeout: Duration) -> Result<SubscriptionEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let (version, budget_wait) = match self.step()? {
                Step::Event(event) => return Ok(event),
                Step::Wait {
                    version,
                    budget_wait,
                } => (version, budget_wait),
            };
            let now = Instant::now();
            if now >= deadline {
                return Ok(SubscriptionEvent::Timeout);
            }
            if let Some(wait) = budget_wait {
                crate::runtime::timer::sleep(wait.min(deadline - now)).await;
                continue;
            }
            let Some((shard, _)) = self.queue.first().cloned() else {
                continue;
            };
            let changed = std::future::poll_fn(|cx| {
                if shard.notify.version() != version {
                    return std::task::Poll::Ready(());
                }
                shard
                    .notify
                    .register(NotifyWaiter::Task(cx.waker().clone()));
                if shard.notify.version() != version {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            });
            futures_lite::future::or(
                changed,
                crate::runtime::timer::sleep(deadline.saturating_duration_since(Instant::now())),
            )
            .await;
        }
    }
}
