//! Subscriptions: tail a shard and wake the moment new records commit, like Kinesis
//! enhanced fan-out (SubscribeToShard) but in-process, with its own 2 MiB/s budget per
//! subscriber instead of the shard's shared GetRecords limits.
//!
//! Waiting: a subscriber first spins on its shards' notification counters for
//! `subscriber_spin` (if a CPU is free for it), so a record committed within that window
//! is seen in about a microsecond, then parks until a core notifies it. A core notifies
//! after the records are published, so a woken subscriber always finds them.
//!
//! Lineage: with `follow_lineage`, when a shard the subscription reads is closed and
//! drained, its children join the set of shards being read: both children of a split
//! (read side by side, each in order), and the child of a merge once every parent this
//! subscription reads is drained. A child never starts before its parents are drained,
//! so a consumer of one partition key sees its records in put order across any number
//! of reshards.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
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
    /// New records (never empty), from `shard_id`, in order.
    Records {
        /// The shard they come from.
        shard_id: String,
        /// The records, zero-copy.
        batch: ReadBatch,
    },
    /// Nothing arrived within the timeout.
    Timeout,
    /// A shard is closed and fully read. With lineage following, its children are now
    /// being read (once their other parents are drained).
    ShardEnded {
        /// The shard that ended.
        shard_id: String,
        /// Its children.
        child_shards: Vec<ChildShard>,
    },
    /// Every shard this subscription reads has ended; nothing more will come.
    Finished,
}

struct Cursor {
    shard: Arc<ShardShared>,
    next: u128,
}

/// A subscription's read budget: its own, or one shared with others (an enhanced
/// fan-out consumer's per-shard budget outlives each of its subscriptions).
enum Budget {
    Own(Box<TokenBucket>),
    Shared(Arc<Mutex<TokenBucket>>),
}

impl Budget {
    fn positive(&mut self, now_ns: u64) -> bool {
        match self {
            Self::Own(bucket) => bucket.positive(now_ns),
            Self::Shared(bucket) => super::lock(bucket).positive(now_ns),
        }
    }

    fn charge(&mut self, bytes: u64, now_ns: u64) {
        match self {
            Self::Own(bucket) => bucket.charge(bytes, now_ns),
            Self::Shared(bucket) => super::lock(bucket).charge(bytes, now_ns),
        }
    }
}

/// A push-style reader of one shard (and, optionally, its descendants).
pub struct Subscription {
    engine: Engine,
    stream: Arc<StreamRuntime>,
    active: Vec<Cursor>,
    tracked: HashSet<u32>,
    drained: HashSet<u32>,
    follow_lineage: bool,
    budget: Budget,
    max_records: usize,
    max_bytes: usize,
    turn: usize,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("stream", &self.stream.name)
            .field("shards", &self.shard_ids())
            .field("follow_lineage", &self.follow_lineage)
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
        let mut subscription = self.subscribe_from(runtime, shard, next, None);
        subscription.follow_lineage = follow_lineage;
        Ok(subscription)
    }

    /// A subscription of one shard (no lineage following) from sequence number `next`,
    /// charging `budget` if given (a consumer's, shared across its subscriptions) or a
    /// budget of its own.
    pub(crate) fn subscribe_from(
        &self,
        runtime: Arc<StreamRuntime>,
        shard: Arc<ShardShared>,
        next: u128,
        budget: Option<Arc<Mutex<TokenBucket>>>,
    ) -> Subscription {
        let limits = self.inner.config.limits;
        let mut tracked = HashSet::new();
        tracked.insert(shard.index);
        let budget = match budget {
            Some(shared) => Budget::Shared(shared),
            None => Budget::Own(Box::new(TokenBucket::new(
                limits.subscribe_bytes_per_sec,
                self.inner.config.clock.monotonic_ns(),
            ))),
        };
        Subscription {
            engine: self.clone(),
            stream: runtime,
            active: vec![Cursor { shard, next }],
            tracked,
            drained: HashSet::new(),
            follow_lineage: false,
            budget,
            // A subscriber's batches follow the stream's record size: one record of
            // up to 10 MiB goes alone.
            max_records: limits.read_records_per_call_max,
            max_bytes: limits.read_bytes_per_call_max.min(1 << 20),
            turn: 0,
        }
    }
}

enum Step {
    Event(SubscriptionEvent),
    Wait {
        versions: Vec<u64>,
        budget_wait: Option<Duration>,
    },
}

impl Subscription {
    /// The shards currently being read.
    pub fn shard_ids(&self) -> Vec<String> {
        self.active
            .iter()
            .map(|c| c.shard.shard_id.clone())
            .collect()
    }

    /// For each shard being read, the sequence number the next record handed out from
    /// it will be at least: where a consumer that stops now would resume (the server's
    /// SubscribeToShard derives ContinuationSequenceNumber from it).
    pub fn next_sequence_numbers(&self) -> Vec<(String, u128)> {
        self.active
            .iter()
            .map(|c| (c.shard.shard_id.clone(), c.next))
            .collect()
    }

    /// True once every shard to read has ended.
    pub fn is_finished(&self) -> bool {
        self.active.is_empty()
    }

    fn step(&mut self) -> Result<Step> {
        self.engine.check_open()?;
        if self.active.is_empty() {
            return Ok(Step::Event(SubscriptionEvent::Finished));
        }
        let clock = Arc::clone(&self.engine.inner.config.clock);
        let now_ns = clock.monotonic_ns();
        let versions: Vec<u64> = self
            .active
            .iter()
            .map(|c| c.shard.notify.version())
            .collect();
        if !self.budget.positive(now_ns) {
            // Over the per-subscriber budget: wait until it is positive again.
            return Ok(Step::Wait {
                versions,
                budget_wait: Some(Duration::from_millis(10)),
            });
        }
        let now_ms = clock.now_ms();
        let count = self.active.len();
        let mut ended = None;
        for k in 0..count {
            let i = (self.turn + k) % count;
            let cursor = &mut self.active[i];
            let shard = Arc::clone(&cursor.shard);
            if shard.state() == ShardState::Expired {
                return Err(Error::ShardNotFound {
                    stream: self.stream.name.to_string(),
                    shard_id: shard.shard_id.clone(),
                });
            }
            // Read the state before the records: a shard seen closed and then found empty
            // is drained for good (nothing is appended after the close).
            let closed = shard.state() == ShardState::Closed;
            let mut batch = Engine::read_shard(
                &shard,
                cursor.next,
                now_ms,
                self.max_records,
                self.max_bytes,
            )?;
            if !batch.is_empty() {
                self.engine
                    .decrypt_batch(&self.stream, &shard.shard_id, &mut batch)?;
                cursor.next = batch.next_seq();
                self.budget.charge(batch.payload_bytes() as u64, now_ns);
                shard
                    .counters
                    .records_out(batch.len() as u64, batch.payload_bytes() as u64);
                self.turn = (i + 1) % count;
                return Ok(Step::Event(SubscriptionEvent::Records {
                    shard_id: shard.shard_id.clone(),
                    batch,
                }));
            }
            if closed && ended.is_none() {
                ended = Some(i);
            }
        }
        if let Some(i) = ended {
            let cursor = self.active.remove(i);
            let index = cursor.shard.index;
            self.drained.insert(index);
            let children = self.engine.child_shards(&self.stream.name, index);
            if self.follow_lineage {
                self.start_ready_children(&children)?;
            }
            self.turn = 0;
            return Ok(Step::Event(SubscriptionEvent::ShardEnded {
                shard_id: cursor.shard.shard_id.clone(),
                child_shards: children,
            }));
        }
        Ok(Step::Wait {
            versions,
            budget_wait: None,
        })
    }

    /// Starts each child whose parents (those this subscription reads) are drained.
    fn start_ready_children(&mut self, children: &[ChildShard]) -> Result<()> {
        let mut children: Vec<&ChildShard> = children.iter().collect();
        children.sort_by_key(|c| c.hash_range.start);
        for child in children {
            let Some(index) = names::parse_shard_id(&child.shard_id) else {
                continue;
            };
            if self.tracked.contains(&index) {
                continue;
            }
            // Every parent this subscription reads, or will read (it descends from a
            // shard it reads), must be drained first; a parent outside its tree never
            // will be, and does not hold the child back.
            let parents: Vec<u32> = child
                .parent_shards
                .iter()
                .filter_map(|p| names::parse_shard_id(p))
                .collect();
            let ready = parents.iter().all(|p| {
                self.drained.contains(p)
                    || !self
                        .engine
                        .descends_from_any(&self.stream.name, *p, &self.tracked)
            });
            if !ready {
                continue; // it starts when its other parent ends
            }
            let shard = self.engine.shard(&self.stream, &child.shard_id)?;
            self.tracked.insert(index);
            self.active.push(Cursor { shard, next: 0 });
        }
        Ok(())
    }

    fn any_moved(&self, versions: &[u64]) -> bool {
        self.active
            .iter()
            .zip(versions)
            .any(|(c, v)| c.shard.notify.version() != *v)
    }

    /// Waits up to `timeout` for the next event, blocking this thread: records, a shard
    /// ending, the end of the subscription, or a timeout. Spins briefly first (see the
    /// module doc), then parks.
    pub fn next(&mut self, timeout: Duration) -> Result<SubscriptionEvent> {
        let deadline = Instant::now() + timeout;
        let spin = self.engine.inner.config.subscriber_spin;
        loop {
            let (versions, budget_wait) = match self.step()? {
                Step::Event(event) => return Ok(event),
                Step::Wait {
                    versions,
                    budget_wait,
                } => (versions, budget_wait),
            };
            let now = Instant::now();
            if now >= deadline {
                return Ok(SubscriptionEvent::Timeout);
            }
            if let Some(wait) = budget_wait {
                std::thread::sleep(wait.min(deadline - now));
                continue;
            }
            let moved = self.engine.with_spin(spin.min(deadline - now), |spin| {
                let until = Instant::now() + spin;
                while Instant::now() < until {
                    if self.any_moved(&versions) {
                        return true;
                    }
                    std::hint::spin_loop();
                }
                false
            });
            if moved {
                continue;
            }
            let mut moved = false;
            for (cursor, seen) in self.active.iter().zip(&versions) {
                let now = cursor
                    .shard
                    .notify
                    .register(NotifyWaiter::Thread(std::thread::current()));
                moved |= now != *seen;
            }
            while !moved && !self.any_moved(&versions) {
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
            let (versions, budget_wait) = match self.step()? {
                Step::Event(event) => return Ok(event),
                Step::Wait {
                    versions,
                    budget_wait,
                } => (versions, budget_wait),
            };
            let now = Instant::now();
            if now >= deadline {
                return Ok(SubscriptionEvent::Timeout);
            }
            if let Some(wait) = budget_wait {
                crate::runtime::timer::sleep(wait.min(deadline - now)).await;
                continue;
            }
            let this = &*self;
            let changed = std::future::poll_fn(|cx| {
                if this.any_moved(&versions) {
                    return std::task::Poll::Ready(());
                }
                let mut moved = false;
                for (cursor, seen) in this.active.iter().zip(&versions) {
                    let now = cursor
                        .shard
                        .notify
                        .register(NotifyWaiter::Task(cx.waker().clone()));
                    moved |= now != *seen;
                }
                if moved {
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
