//! One core: a glommio executor pinned to a CPU that owns a set of shards.
//!
//! The core runs one loop that takes requests from its mailbox and appends to its
//! shards' logs (the only writer of each), plus background tasks on the same executor:
//! group commit (io_uring fdatasync), spare segment creation (glommio's blocking pool)
//! and maintenance (retention).
//!
//! # Polling policy
//! After handling requests the loop keeps polling the mailbox (yielding to its own
//! tasks) for `spin` (default 200 µs) before parking, so a busy core answers a foreign
//! thread in about a microsecond; an idle one costs nothing. It never spins while one
//! of its own fdatasyncs is in flight: io_uring runs the fsync on a kernel worker bound
//! to the same CPU, and spinning would slow it (measured here: 68 → 176 µs).
//! Where no CPU is left to callers (`Machine::Shared` with a core per usable CPU, e.g.
//! under `taskset -c 0`), the loop does not spin and, after answering, yields its CPU
//! once (`hand_off`): the caller it just woke runs at once and its next request finds
//! the loop still turning, instead of waiting for the loop to park first.
//!
//! While the loop is runnable (spinning or yielding) it holds a [`Watchdog`] timer:
//! glommio 0.9 can park an executor with runnable tasks when its preemption timer
//! fires before it runs them (a thread descheduled at that point), and then sleeps
//! until the next timer or foreign wake. The mailbox wakes a core only when it is
//! parked on the mailbox, so without a timer such a core would never run again; with
//! the watchdog it resumes within [`WATCHDOG`]. When the loop parks on its mailbox it
//! drops the watchdog (the maintenance timer is registered then), so an idle core
//! still has no periodic wake-ups.
//!
//! # How records reach the page cache
//! A lone `os` record is copied into the segment's mapping (no system call: the lowest
//! latency). The records of a batch (a request of several) are staged and written with
//! one `pwritev` when the request ends, then published and acknowledged; a failed write
//! acknowledges none of them and poisons the shard's log. A lone `sync` record, and any
//! record of 16 KiB or more, is written with its own `pwritev`.
//!
//! # Group commit
//! A `sync` put is appended (through `pwritev`, which keeps the following fdatasync
//! cheap) and its acknowledgement queued. When no sync is running, the core starts
//! one: it takes every queued acknowledgement, plans a sync of each shard they touch,
//! runs the fdatasyncs of different shards concurrently on io_uring (one shard's
//! segments in order), then acknowledges. Puts arriving meanwhile wait for the next
//! round, so concurrent producers share fsyncs. A failed fdatasync fails every
//! acknowledgement of that round for that shard and poisons the shard's log.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::io::{BufferedFile, Directory};

use super::mailbox::{MailboxReceiver, Polled};
use super::reply::Reply;
use super::{Durability, SyncDriver};
use crate::clock::Clock;
use crate::error::{Error, InvalidArgument, Throttle};
use crate::io::Storage;
use crate::log::{Log, LogConfig, RetentionPolicy, ShardIdentity, SyncPlan, WriteVia};
use crate::stream::catalog::ShardState;
use crate::stream::sequence::SeqParts;
use crate::stream::shard::{Retention, ShardShared};
use crate::stream::throttle::{Limits, ReadLimiter, WriteLimiter};

/// A shard's address: (stream id, shard index).
pub type ShardKey = (u64, u32);

/// Records at least this large go through pwritev even when not synced: copying them
/// through the mapping costs a page fault per 4 KiB (and readahead of unwritten blocks).
const SYSCALL_WRITE_MIN_BYTES: usize = 16 << 10;
/// Requests handled before the loop yields to the core's other tasks.
const BATCH_MAX: usize = 1024;
/// Spare segments being created at once per core.
const SPARE_JOBS_MAX: usize = 1;

/// What every core needs to know.
#[derive(Debug)]
pub struct CoreContext {
    /// This core's number.
    pub index: usize,
    /// File system.
    pub storage: Arc<dyn Storage>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Per-shard limits.
    pub limits: Limits,
    /// How shard logs are configured.
    pub log_config: LogConfig,
    /// The engine epoch (high bits of new sequence numbers).
    pub epoch: u32,
    /// How long the loop keeps polling after the last request.
    pub spin: Duration,
    /// No CPU is left to callers (`Machine::Shared` with as many cores as usable CPUs):
    /// after answering a batch the loop gives its CPU away once (`sched_yield`), so the
    /// caller it just woke runs now instead of after the loop has parked.
    pub hand_off: bool,
    /// How often maintenance (retention) runs.
    pub maintenance_interval: Duration,
    /// How group commits are made durable.
    pub sync_driver: SyncDriver,
    /// The nice value of the thread preparing this core's spare segments
    /// ([`spare_nice`]).
    pub spare_nice: i32,
    /// glommio's preemption timer (`EngineConfig::preempt_timer`).
    pub preempt_timer: Duration,
}

/// A shard to open on a core.
#[derive(Debug, Clone)]
pub struct ShardSpec {
    /// Stream id.
    pub stream_id: u64,
    /// Stream name.
    pub stream_name: Arc<str>,
    /// Shard index.
    pub index: u32,
    /// Its log's directory.
    pub dir: PathBuf,
    /// Its state in the catalog.
    pub state: ShardState,
    /// Its ending sequence number, if closed.
    pub ending_seq: Option<u128>,
    /// The stream's retention.
    pub retention: Arc<Retention>,
}

/// Records to put on one shard: their keys and data back to back in one buffer, so a
/// request costs one allocation on the caller's thread, not two per record.
///
/// The core answers with the batch itself ([`PutReply::Done`]): it writes the outcomes
/// into the batch's own `outcomes` and hands the whole thing back, so the buffers go
/// back and forth between the caller and the core instead of being allocated on one
/// thread and freed on the other (glibc's arenas make that pattern cost a cross-CPU
/// trip through the allocator's state per put; see docs/benchmarks.md). A caller may
/// keep a batch that came back and [`recycle`](Self::recycle) it for its next put.
#[derive(Debug, Default)]
pub struct PutBatch {
    bytes: Vec<u8>,
    entries: Vec<BatchEntry>,
    /// Filled by the core: one outcome per record, in order. Empty on the way there.
    outcomes: Vec<Result<u128, Error>>,
    /// Seal the records with this cipher once their sequence numbers are known (the
    /// stream is encrypted); their frames then carry `FRAME_FLAG_ENCRYPTED`.
    pub sealer: Option<Arc<crate::crypto::RecordCipher>>,
}

/// Where one record of a [`PutBatch`] lies in its buffer (it starts where the previous
/// one ends).
#[derive(Debug, Clone, Copy)]
struct BatchEntry {
    key_end: usize,
    end: usize,
    seq_for_ordering: Option<u128>,
}

impl PutBatch {
    /// An empty batch with room for `records` records of `bytes` key and data bytes.
    pub fn with_capacity(
        records: usize,
        bytes: usize,
        sealer: Option<Arc<crate::crypto::RecordCipher>>,
    ) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            entries: Vec::with_capacity(records),
            outcomes: Vec::with_capacity(records),
            sealer,
        }
    }

    /// Empties the batch for another put, keeping its buffers: no record, no outcome,
    /// `sealer` as given.
    pub fn recycle(&mut self, sealer: Option<Arc<crate::crypto::RecordCipher>>) {
        self.bytes.clear();
        self.entries.clear();
        self.outcomes.clear();
        self.sealer = sealer;
    }

    /// Room for `records` more records of `bytes` more key and data bytes.
    pub fn reserve(&mut self, records: usize, bytes: usize) {
        self.bytes.reserve(bytes);
        self.entries.reserve(records);
    }

    /// The bytes this batch holds allocated for keys and data (what keeping it costs).
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// The core's outcomes, taken out of the batch (one per record, in order).
    pub fn take_outcomes(&mut self) -> Vec<Result<u128, Error>> {
        std::mem::take(&mut self.outcomes)
    }

    /// The outcome of a one-record batch; `None` if the core gave no outcome, or more
    /// than one.
    pub fn single_outcome(&mut self) -> Option<Result<u128, Error>> {
        if self.outcomes.len() == 1 {
            self.outcomes.pop()
        } else {
            None
        }
    }

    /// Adds a record (its key and size validated by the caller) and, for PutRecord,
    /// the sequence number it must follow.
    pub fn push(&mut self, key: &str, data: &[u8], seq_for_ordering: Option<u128>) {
        self.bytes.extend_from_slice(key.as_bytes());
        let key_end = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.entries.push(BatchEntry {
            key_end,
            end: self.bytes.len(),
            seq_for_ordering,
        });
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when it holds no record.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Key and data bytes in the batch.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The records in order: key bytes, data, sequence number to follow.
    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8], Option<u128>)> {
        let mut start = 0;
        self.entries.iter().map(move |e| {
            let key = &self.bytes[start..e.key_end];
            let data = &self.bytes[e.key_end..e.end];
            start = e.end;
            (key, data, e.seq_for_ordering)
        })
    }
}

/// A core's answer to a put.
#[derive(Debug)]
pub enum PutReply {
    /// The batch back, its `outcomes` filled: one per record, in order, its sequence
    /// number or why it was not appended (refused or failed, for good).
    Done(PutBatch),
    /// The shard had closed (resharding) before the request reached it: nothing was
    /// appended, and the batch comes back untouched to be routed again.
    ShardClosed(PutBatch),
}

/// What a maintenance pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Segments deleted by retention.
    pub segments_deleted: usize,
    /// Bytes of disk freed.
    pub bytes_freed: u64,
}

/// A request to a core.
pub enum Request {
    /// Open (or create) shards and return their shared parts.
    Open {
        /// The shards.
        shards: Vec<ShardSpec>,
        /// Where to answer.
        reply: Reply<Vec<Arc<ShardShared>>>,
    },
    /// Append records to one shard.
    Put {
        /// The shard.
        key: ShardKey,
        /// The records.
        entries: PutBatch,
        /// For one of several requests of a PutRecords: the shard's
        /// [`openings`](ShardShared::openings) when the call first routed to it. A
        /// request made before the shard closed or reopened is refused as
        /// [`PutReply::ShardClosed`], even if the shard is open again.
        openings_seen: Option<u64>,
        /// When to acknowledge.
        durability: Durability,
        /// Where to answer.
        reply: Reply<PutReply>,
    },
    /// Stop accepting writes on a shard; answers its ending sequence number.
    Close {
        /// The shard.
        key: ShardKey,
        /// Where to answer.
        reply: Reply<u128>,
    },
    /// Undo a `Close` (a reshard that could not be committed): accept writes again.
    Reopen {
        /// The shard.
        key: ShardKey,
        /// Where to answer.
        reply: Reply<()>,
    },
    /// Forget shards (and delete their files).
    Drop {
        /// The shards.
        keys: Vec<ShardKey>,
        /// Delete the files too.
        delete_files: bool,
        /// Where to answer.
        reply: Reply<()>,
    },
    /// Make everything appended so far durable.
    Flush {
        /// Where to answer.
        reply: Reply<()>,
    },
    /// Run maintenance now.
    Maintain {
        /// Where to answer.
        reply: Reply<MaintenanceReport>,
    },
    /// Stop at once as a crash would: drop every log without syncing or closing it.
    Abandon {
        /// Where to answer.
        reply: Reply<()>,
    },
    /// Sync, close every log, stop.
    Shutdown {
        /// Where to answer.
        reply: Reply<()>,
    },
}

struct CoreShard {
    log: Log,
    shared: Arc<ShardShared>,
    writes: WriteLimiter,
    prefix: u128,
    next_counter: u64,
    last_ts: u64,
    open: bool,
    touched: bool,
    spare_pending: bool,
    sync_files: Vec<(u128, Rc<BufferedFile>)>,
}

enum Ack {
    Put {
        key: ShardKey,
        /// The batch, its outcomes filled, to hand back once synced.
        batch: PutBatch,
        reply: Reply<PutReply>,
    },
    Flush {
        reply: Reply<()>,
    },
}

struct CoreState {
    ctx: Arc<CoreContext>,
    shards: HashMap<ShardKey, CoreShard>,
    touched: Vec<ShardKey>,
    acks: Vec<Ack>,
    sync_running: bool,
    spares_wanted: VecDeque<ShardKey>,
    spare_jobs: usize,
    /// Dropped shards whose directory waits for an in-flight spare creation to end (a
    /// spare file created after the directory's removal would leave it behind).
    doomed: HashMap<ShardKey, (PathBuf, Rc<RefCell<PendingDrop>>)>,
    stop: Option<Reply<()>>,
    abandon: Option<Reply<()>>,
}

/// A `Drop` request answered once its last deferred directory is gone.
struct PendingDrop {
    waiting: usize,
    result: Result<(), Error>,
    reply: Option<Reply<()>>,
}

impl PendingDrop {
    /// Records one deferred directory's removal; answers after the last.
    fn finish(&mut self, removal: std::io::Result<()>, dir: PathBuf) {
        if let Err(e) = removal
            && e.kind() != std::io::ErrorKind::NotFound
            && self.result.is_ok()
        {
            self.result = Err(Error::io("delete shard directory", dir, e));
        }
        self.waiting -= 1;
        if self.waiting == 0
            && let Some(reply) = self.reply.take()
        {
            reply.send(std::mem::replace(&mut self.result, Ok(())));
        }
    }
}

type State = Rc<RefCell<CoreState>>;

fn shard_not_found(key: ShardKey) -> Error {
    Error::ShardNotFound {
        stream: format!("stream id {}", key.0),
        shard_id: crate::stream::names::shard_id(key.1),
    }
}

impl CoreShard {
    /// Appends one record (its key valid UTF-8, checked by the caller and again by the
    /// log); `batch` when it is one of several in a request (staged: the caller ends
    /// the request with [`Log::flush_staged`]).
    fn append_one(
        &mut self,
        (key, data, seq_for_ordering): (&[u8], &[u8], Option<u128>),
        sealer: Option<&crate::crypto::RecordCipher>,
        durability: Durability,
        batch: bool,
        now_ns: u64,
        now_ms: u64,
    ) -> Result<u128, Error> {
        let mut seq = self.prefix | u128::from(self.next_counter);
        if let Some(after) = seq_for_ordering
            && after >= seq
        {
            let parts = SeqParts::unpack(after);
            let same_prefix = (after & !u128::from(u64::MAX)) == self.prefix;
            if !same_prefix || parts.counter == u64::MAX {
                return Err(InvalidArgument::SequenceForOrdering { seq: after }.into());
            }
            seq = after + 1;
        }
        let bytes = key.len() + data.len();
        self.writes.set_burst_bytes(self.shared.write_burst_bytes());
        if !self.writes.can_admit(bytes as u64, now_ns) {
            self.shared.counters.write_throttled_bytes(bytes as u64);
            return Err(Error::ProvisionedThroughputExceeded {
                stream: self.shared.stream_name.to_string(),
                shard_id: self.shared.shard_id.clone(),
                kind: Throttle::Write,
            });
        }
        let ts = now_ms.max(self.last_ts);
        // A batch's records go out in one pwritev (staged), large ones each in their
        // own; a lone record through the mapping (the lowest latency) unless a sync
        // follows (see `WriteVia`).
        let via = if bytes >= SYSCALL_WRITE_MIN_BYTES {
            WriteVia::Syscall
        } else if batch {
            WriteVia::Staged
        } else if durability == Durability::Sync {
            WriteVia::Syscall
        } else {
            WriteVia::Mapping
        };
        match sealer {
            None => {
                let key = std::str::from_utf8(key)
                    .map_err(|_| Error::Internal("a put batch held a key that is not UTF-8"))?;
                self.log.append_via(seq, ts, key, data, via)?
            }
            Some(sealer) => {
                // A sealed sequence number is never handed out again, even if the
                // append fails: its nonce must not seal other bytes (crypto/envelope.rs).
                self.next_counter = SeqParts::unpack(seq).counter.saturating_add(1);
                let sealed = sealer
                    .seal(seq, key, data)
                    .map_err(|_| Error::Internal("AES-GCM refused to seal a record"))?;
                let flags = crate::log::format::FRAME_FLAG_ENCRYPTED;
                self.log
                    .append_frame(seq, ts, &sealed.key, &sealed.data, flags, via)?;
            }
        }
        self.writes.charge(bytes as u64, now_ns);
        self.next_counter = SeqParts::unpack(seq).counter.saturating_add(1);
        self.last_ts = ts;
        self.shared.counters.record_in(bytes as u64);
        Ok(seq)
    }
}

impl CoreState {
    fn open_shards(&mut self, specs: Vec<ShardSpec>) -> Result<Vec<Arc<ShardShared>>, Error> {
        let ctx = Arc::clone(&self.ctx);
        let mut opened = Vec::with_capacity(specs.len());
        for spec in specs {
            let key = (spec.stream_id, spec.index);
            if let Some(existing) = self.shards.get(&key) {
                opened.push(Arc::clone(&existing.shared));
                continue;
            }
            let identity = ShardIdentity {
                stream_id: spec.stream_id,
                shard_index: spec.index,
            };
            let (log, report) = Log::open(
                Arc::clone(&ctx.storage),
                &spec.dir,
                identity,
                ctx.log_config.clone(),
            )?;
            let now_ns = ctx.clock.monotonic_ns();
            let reader = log.reader();
            let last_ts = reader.last_timestamp_ms();
            let prefix = SeqParts {
                epoch: ctx.epoch,
                shard_index: spec.index,
                counter: 0,
            }
            .pack();
            // Counters start at 1: the shard's StartingSequenceNumber (counter 0 of its
            // first run) stays below every record, so "after the starting sequence
            // number" is a position that misses nothing (SubscribeToShard's
            // continuation before the first record).
            let next_counter = match log.last_seq() {
                Some(last) if last >= prefix => SeqParts::unpack(last).counter.saturating_add(1),
                _ => 1,
            };
            let shared = Arc::new(ShardShared::new(
                spec.stream_id,
                Arc::clone(&spec.stream_name),
                spec.index,
                ctx.index,
                reader,
                ReadLimiter::new(&ctx.limits, now_ns),
                Arc::clone(&spec.retention),
                spec.state,
                spec.ending_seq,
                report,
            ));
            let open = spec.state == ShardState::Open;
            self.shards.insert(
                key,
                CoreShard {
                    log,
                    shared: Arc::clone(&shared),
                    writes: WriteLimiter::new(&ctx.limits, now_ns),
                    prefix,
                    next_counter,
                    last_ts,
                    open,
                    touched: false,
                    spare_pending: false,
                    sync_files: Vec::new(),
                },
            );
            if open {
                self.spares_wanted.push_back(key);
            }
            opened.push(shared);
        }
        Ok(opened)
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Open { shards, reply } => reply.send(self.open_shards(shards)),
            Request::Put {
                key,
                mut entries,
                openings_seen,
                durability,
                reply,
            } => {
                let Some(shard) = self.shards.get_mut(&key) else {
                    reply.send(Err(shard_not_found(key)));
                    return;
                };
                if !shard.open || openings_seen.is_some_and(|o| o != shard.shared.openings()) {
                    reply.send(Ok(PutReply::ShardClosed(entries)));
                    return;
                }
                let now_ns = self.ctx.clock.monotonic_ns();
                let now_ms = self.ctx.clock.now_ms();
                let batch = entries.len() > 1;
                let mut outcomes = std::mem::take(&mut entries.outcomes);
                outcomes.clear();
                let sealer = entries.sealer.as_deref();
                outcomes.extend(
                    entries
                        .iter()
                        .map(|e| shard.append_one(e, sealer, durability, batch, now_ns, now_ms)),
                );
                if batch && let Err(e) = shard.log.flush_staged() {
                    // None of the staged records was kept: none is acknowledged.
                    let err = Error::from(e);
                    for outcome in outcomes.iter_mut().filter(|o| o.is_ok()) {
                        *outcome = Err(clone_sync_error(&err));
                    }
                }
                let any_ok = outcomes.iter().any(|o| o.is_ok());
                if any_ok && !shard.touched {
                    shard.touched = true;
                    self.touched.push(key);
                }
                entries.outcomes = outcomes;
                if any_ok && durability == Durability::Sync {
                    self.acks.push(Ack::Put {
                        key,
                        batch: entries,
                        reply,
                    });
                } else {
                    reply.send(Ok(PutReply::Done(entries)));
                }
            }
            Request::Close { key, reply } => {
                let Some(shard) = self.shards.get_mut(&key) else {
                    reply.send(Err(shard_not_found(key)));
                    return;
                };
                shard.open = false;
                let ending = shard.log.last_seq().unwrap_or(shard.prefix);
                shard.shared.close(ending);
                reply.send(Ok(ending));
            }
            Request::Reopen { key, reply } => {
                let Some(shard) = self.shards.get_mut(&key) else {
                    reply.send(Err(shard_not_found(key)));
                    return;
                };
                shard.open = true;
                shard.shared.reopen();
                self.spares_wanted.push_back(key);
                reply.send(Ok(()));
            }
            Request::Drop {
                keys,
                delete_files,
                reply,
            } => {
                let mut result = Ok(());
                let mut deferred = Vec::new();
                for key in keys {
                    if let Some(shard) = self.shards.remove(&key) {
                        let dir = shard.log.dir().to_path_buf();
                        let spare_in_flight = shard.spare_pending;
                        shard.shared.expire();
                        drop(shard);
                        if !delete_files {
                            continue;
                        }
                        if spare_in_flight {
                            // The blocking pool may be creating a file in `dir` right
                            // now: remove the directory once that job has ended.
                            deferred.push((key, dir));
                        } else if let Err(e) = self.ctx.storage.remove_dir_all(&dir)
                            && e.kind() != std::io::ErrorKind::NotFound
                        {
                            result = Err(Error::io("delete shard directory", dir, e));
                        }
                    }
                }
                if deferred.is_empty() {
                    reply.send(result);
                } else {
                    let pending = Rc::new(RefCell::new(PendingDrop {
                        waiting: deferred.len(),
                        result,
                        reply: Some(reply),
                    }));
                    for (key, dir) in deferred {
                        self.doomed.insert(key, (dir, Rc::clone(&pending)));
                    }
                }
            }
            Request::Flush { reply } => self.acks.push(Ack::Flush { reply }),
            Request::Maintain { reply } => reply.send(Ok(self.maintain())),
            Request::Shutdown { reply } => self.stop = Some(reply),
            Request::Abandon { reply } => self.abandon = Some(reply),
        }
    }

    fn maintain(&mut self) -> MaintenanceReport {
        let now_ms = self.ctx.clock.now_ms();
        let mut report = MaintenanceReport::default();
        for shard in self.shards.values_mut() {
            // A segment goes once its newest record is older than the cutoff.
            let cutoff = shard.shared.retention.cutoff_ms(now_ms);
            let policy = RetentionPolicy {
                max_age_ms: Some(now_ms.saturating_sub(cutoff)),
                max_total_bytes: None,
            };
            if let Ok(r) = shard.log.enforce_retention(now_ms, &policy) {
                report.segments_deleted += r.segments_deleted;
                report.bytes_freed += r.bytes_freed;
            }
        }
        report
    }
}

/// Work of one group-commit round for one shard.
struct SyncJob {
    key: ShardKey,
    plan: SyncPlan,
    real: bool,
    files: Vec<Option<Rc<BufferedFile>>>,
}

fn begin_round(state: &State) -> Option<(Vec<Ack>, Vec<SyncJob>)> {
    let mut st = state.borrow_mut();
    if st.acks.is_empty() {
        st.sync_running = false;
        return None;
    }
    let acks = std::mem::take(&mut st.acks);
    let all = acks.iter().any(|a| matches!(a, Ack::Flush { .. }));
    let keys: Vec<ShardKey> = if all {
        st.shards.keys().copied().collect()
    } else {
        let set: HashSet<ShardKey> = acks
            .iter()
            .filter_map(|a| match a {
                Ack::Put { key, .. } => Some(*key),
                _ => None,
            })
            .collect();
        set.into_iter().collect()
    };
    let mut jobs = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(shard) = st.shards.get(&key) else {
            continue;
        };
        let plan = shard.log.plan_sync();
        if plan.is_empty() {
            continue;
        }
        let real = plan.targets.iter().all(|t| t.real_file);
        let files = plan
            .targets
            .iter()
            .map(|t| {
                shard
                    .sync_files
                    .iter()
                    .find(|(b, _)| *b == t.base_seq)
                    .map(|(_, f)| Rc::clone(f))
            })
            .collect();
        jobs.push(SyncJob {
            key,
            plan,
            real,
            files,
        });
    }
    Some((acks, jobs))
}

async fn run_job(job: &mut SyncJob) -> Result<(), (PathBuf, std::io::Error)> {
    if !job.real {
        return Ok(()); // in-memory storage: synced through the log when the round ends
    }
    for (target, file) in job.plan.targets.iter().zip(job.files.iter_mut()) {
        if file.is_none() {
            let opened = BufferedFile::open(&target.path)
                .await
                .map_err(|e| (target.path.clone(), std::io::Error::from(e)))?;
            *file = Some(Rc::new(opened));
        }
        if let Some(f) = file {
            f.fdatasync()
                .await
                .map_err(|e| (target.path.clone(), std::io::Error::from(e)))?;
        }
    }
    if let Some(dir) = &job.plan.sync_dir {
        let d = Directory::open(dir)
            .await
            .map_err(|e| (dir.clone(), std::io::Error::from(e)))?;
        d.sync()
            .await
            .map_err(|e| (dir.clone(), std::io::Error::from(e)))?;
    }
    Ok(())
}

fn finish_round(
    state: &State,
    acks: Vec<Ack>,
    jobs: Vec<SyncJob>,
    results: Vec<Result<(), (PathBuf, std::io::Error)>>,
) {
    let mut st = state.borrow_mut();
    let mut failed: HashMap<ShardKey, Error> = HashMap::new();
    for (job, result) in jobs.into_iter().zip(results) {
        let Some(shard) = st.shards.get_mut(&job.key) else {
            continue;
        };
        let outcome = match result {
            Ok(()) if job.real => Ok(()),
            Ok(()) => (|| {
                for target in &job.plan.targets {
                    shard.log.sync_target(target)?;
                }
                if let Some(dir) = &job.plan.sync_dir {
                    shard.log.sync_directory(dir)?;
                }
                Ok::<(), crate::log::LogError>(())
            })()
            .map_err(Error::from),
            Err((path, err)) => Err(Error::from(shard.log.sync_failed(&path, err))),
        };
        match outcome {
            Ok(()) => {
                for (target, file) in job.plan.targets.iter().zip(job.files) {
                    if let Some(file) = file
                        && !shard.sync_files.iter().any(|(b, _)| *b == target.base_seq)
                    {
                        shard.sync_files.push((target.base_seq, file));
                    }
                }
                while shard.sync_files.len() > 2 {
                    shard.sync_files.remove(0);
                }
                if let Err(e) = shard.log.complete_sync(job.plan) {
                    failed.insert(job.key, Error::from(e));
                }
            }
            Err(e) => {
                failed.insert(job.key, e);
            }
        }
    }
    drop(st);
    for ack in acks {
        match ack {
            Ack::Put {
                key,
                mut batch,
                reply,
            } => {
                if let Some(err) = failed.get(&key) {
                    for outcome in batch.outcomes.iter_mut().filter(|o| o.is_ok()) {
                        *outcome = Err(clone_sync_error(err));
                    }
                }
                reply.send(Ok(PutReply::Done(batch)));
            }
            Ack::Flush { reply } => match failed.values().next() {
                Some(err) => reply.send(Err(clone_sync_error(err))),
                None => reply.send(Ok(())),
            },
        }
    }
}

fn clone_sync_error(err: &Error) -> Error {
    match err {
        Error::Storage(crate::log::LogError::Failed {
            op,
            path,
            kind,
            os_code,
        }) => Error::Storage(crate::log::LogError::Failed {
            op,
            path: path.clone(),
            kind: *kind,
            os_code: *os_code,
        }),
        Error::Storage(crate::log::LogError::Io { op, path, source }) => {
            Error::Storage(crate::log::LogError::Io {
                op,
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            })
        }
        _ => Error::Internal("sync failed"),
    }
}

/// A group-commit round run on the core thread itself (`SyncDriver::Blocking`).
fn group_commit_blocking(state: &State) {
    while let Some((acks, mut jobs)) = begin_round(state) {
        for job in &mut jobs {
            job.real = false; // sync through the log's own handles, on this thread
        }
        let results = jobs.iter().map(|_| Ok(())).collect();
        finish_round(state, acks, jobs, results);
    }
}

async fn group_commit(state: State) {
    while let Some((acks, jobs)) = begin_round(&state) {
        // Different shards' files sync concurrently; each task runs one shard's targets
        // in order.
        let tasks: Vec<_> = jobs
            .into_iter()
            .map(|mut job| {
                glommio::spawn_local(async move {
                    let result = run_job(&mut job).await;
                    (job, result)
                })
            })
            .collect();
        let mut done = Vec::with_capacity(tasks.len());
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            let (job, result) = task.await;
            done.push(job);
            results.push(result);
        }
        finish_round(&state, acks, done, results);
    }
}

fn after_batch(state: &State) {
    let start_sync = {
        let mut st = state.borrow_mut();
        let touched = std::mem::take(&mut st.touched);
        for key in touched {
            if let Some(shard) = st.shards.get_mut(&key) {
                shard.touched = false;
                shard.shared.notify.notify();
                if !shard.spare_pending && shard.open {
                    st.spares_wanted.push_back(key);
                }
            }
        }
        let start = !st.acks.is_empty() && !st.sync_running;
        if start {
            st.sync_running = true;
        }
        start
    };
    // glommio runs a spawned task right away: no borrow may be held here.
    if start_sync {
        let driver = state.borrow().ctx.sync_driver;
        match driver {
            SyncDriver::IoUring => {
                glommio::spawn_local(group_commit(Rc::clone(state))).detach();
            }
            SyncDriver::Blocking => group_commit_blocking(state),
        }
    }
    start_spares(state);
}

/// The nice value of the thread preparing spare segments where some CPU this process
/// may use runs no core. A spare costs that thread tens of ms of CPU per 64 MiB (zeros
/// written, or pages read into the cache). At the default priority it took the core's
/// own CPU for 10-66 ms at a time when the core was saturated (measured: 38
/// preemptions in a 3 s batched run); fenced off the core's CPU instead, it took the
/// callers' CPU and a busy core's single-record puts fell from 363-432 k/s to
/// 232-243 k/s. At nice 19 it runs in the free CPU's idle time and yields to the core
/// and callers; when it falls behind, rolls allocate their segment themselves (O(1),
/// see `Log::roll`).
pub const SPARE_NICE_BESIDE_FREE_CPU: i32 = 19;

/// The spare thread's nice value for a core of an engine with `cores` cores on
/// `usable` CPUs. Where the cores occupy every usable CPU there is no idle time to run
/// in: at nice 19 the spare thread was starved on the cores' CPUs and the puts' p99
/// doubled (one CPU, one core, 2 callers: worst run 115-119 µs at nice 19 against
/// 64-67 µs at nice 0, back to back), so it keeps the default priority there.
pub fn spare_nice(usable: usize, cores: usize) -> i32 {
    if usable > cores {
        SPARE_NICE_BESIDE_FREE_CPU
    } else {
        0
    }
}

/// Sets the calling (blocking pool) thread's nice value to `nice`, once (each pool
/// thread serves one core, whose value never changes). Best effort; 0 changes nothing.
fn lower_priority(nice: i32) {
    thread_local! {
        static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    LOWERED.with(|lowered| {
        if !lowered.get() {
            lowered.set(true);
            if nice != 0 {
                let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice);
            }
        }
    });
}

fn start_spares(state: &State) {
    loop {
        let job = {
            let mut st = state.borrow_mut();
            if st.spare_jobs >= SPARE_JOBS_MAX {
                return;
            }
            let Some(key) = st.spares_wanted.pop_front() else {
                return;
            };
            let Some(shard) = st.shards.get_mut(&key) else {
                continue;
            };
            if shard.spare_pending || !shard.open {
                continue;
            }
            let Some(request) = shard.log.spare_request() else {
                continue;
            };
            shard.spare_pending = true;
            st.spare_jobs += 1;
            (key, request, Arc::clone(&st.ctx.storage))
        };
        let (key, request, storage) = job;
        let nice = state.borrow().ctx.spare_nice;
        let state = Rc::clone(state);
        glommio::spawn_local(async move {
            let job = request.clone();
            let result = glommio::executor()
                .spawn_blocking(move || {
                    lower_priority(nice);
                    storage.create_segment(&job.path, job.capacity, job.fill)
                })
                .await;
            {
                let mut st = state.borrow_mut();
                st.spare_jobs -= 1;
                match st.shards.get_mut(&key) {
                    Some(shard) => {
                        shard.spare_pending = false;
                        match result {
                            Ok(()) => shard.log.install_spare(request),
                            Err(_) => shard.log.spare_failed(&request),
                        }
                    }
                    None => {
                        let _ = st.ctx.storage.remove_file(&request.path);
                        if let Some((dir, pending)) = st.doomed.remove(&key) {
                            let removal = st.ctx.storage.remove_dir_all(&dir);
                            pending.borrow_mut().finish(removal, dir);
                        }
                    }
                }
            }
            start_spares(&state);
        })
        .detach();
    }
}

async fn shutdown(state: &State) {
    // Let a running group commit finish, then sync and close every log.
    while state.borrow().sync_running {
        glommio::timer::sleep(Duration::from_micros(100)).await;
    }
    while state.borrow().spare_jobs > 0 {
        glommio::timer::sleep(Duration::from_micros(100)).await;
    }
    let mut st = state.borrow_mut();
    let acks = std::mem::take(&mut st.acks);
    let shards: Vec<CoreShard> = st.shards.drain().map(|(_, s)| s).collect();
    let reply = st.stop.take();
    drop(st);
    let mut first_error = None;
    let mut synced_ok = HashSet::new();
    for shard in shards {
        let key = (shard.shared.stream_id, shard.shared.index);
        match shard.log.close() {
            Ok(()) => {
                synced_ok.insert(key);
            }
            Err(e) => {
                first_error.get_or_insert(Error::from(e));
            }
        }
    }
    for ack in acks {
        match ack {
            Ack::Put {
                key,
                mut batch,
                reply,
            } => {
                if !synced_ok.contains(&key) {
                    for outcome in batch.outcomes.iter_mut().filter(|o| o.is_ok()) {
                        *outcome = Err(Error::Closed);
                    }
                }
                reply.send(Ok(PutReply::Done(batch)));
            }
            Ack::Flush { reply } => reply.send(Ok(())),
        }
    }
    if let Some(reply) = reply {
        reply.send(match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        });
    }
}

/// The longest a core stays parked by the glommio caveat in the module doc.
const WATCHDOG: Duration = Duration::from_millis(10);

/// A glommio timer registered while the loop is runnable (see the module doc).
#[derive(Default)]
struct Watchdog {
    timer: Option<(Pin<Box<glommio::timer::Timer>>, Instant)>,
}

impl Watchdog {
    /// Makes sure a timer no later than [`WATCHDOG`] after `now` is registered (polled
    /// once, so the reactor holds it and wakes this task when it fires).
    async fn keep_armed(&mut self, now: Instant) {
        let stale = self
            .timer
            .as_ref()
            .is_none_or(|(_, armed)| now.saturating_duration_since(*armed) >= WATCHDOG);
        if stale {
            let mut timer = Box::pin(glommio::timer::Timer::new(WATCHDOG));
            // One poll registers it; it cannot be ready yet. No yield happens here.
            let _ = futures_lite::future::poll_once(timer.as_mut()).await;
            self.timer = Some((timer, now));
        }
    }

    /// Drops the timer (the loop is about to park on its mailbox).
    fn disarm(&mut self) {
        self.timer = None;
    }
}

/// The core's main loop. Returns when the engine shuts down or every sender is gone.
pub async fn run(ctx: Arc<CoreContext>, mailbox: MailboxReceiver<Request>) {
    let state: State = Rc::new(RefCell::new(CoreState {
        ctx: Arc::clone(&ctx),
        shards: HashMap::new(),
        touched: Vec::new(),
        acks: Vec::new(),
        sync_running: false,
        spares_wanted: VecDeque::new(),
        spare_jobs: 0,
        doomed: HashMap::new(),
        stop: None,
        abandon: None,
    }));
    let mut last_busy = Instant::now();
    let mut next_maintenance = Instant::now() + ctx.maintenance_interval;
    let mut closed = false;
    let mut watchdog = Watchdog::default();
    // The liveness backstop (mailbox.rs): the maintenance thread can wake this loop.
    std::future::poll_fn(|cx| {
        mailbox.register_loop(cx.waker());
        std::task::Poll::Ready(())
    })
    .await;
    let mut turns = 0u64;
    loop {
        turns = turns.wrapping_add(1);
        mailbox.turned(turns);
        let mut handled = 0;
        while handled < BATCH_MAX {
            match mailbox.poll_now() {
                Polled::Item(request) => {
                    state.borrow_mut().handle(request);
                    handled += 1;
                }
                Polled::Empty => break,
                Polled::Closed => {
                    closed = true;
                    break;
                }
            }
        }
        if handled > 0 {
            after_batch(&state);
        }
        let abandon = state.borrow_mut().abandon.take();
        if let Some(reply) = abandon {
            // A crash: forget everything unsynced; answer nothing else (waiting callers
            // get `Closed` as their replies drop).
            let mut st = state.borrow_mut();
            st.shards.clear();
            st.acks.clear();
            drop(st);
            reply.send(Ok(()));
            return;
        }
        if closed || state.borrow().stop.is_some() {
            shutdown(&state).await;
            return;
        }
        // One clock read per turn of the loop (the profile had clock reads at 6% of a
        // busy core when it took three).
        let now = Instant::now();
        if handled > 0 {
            last_busy = now;
        }
        if now >= next_maintenance {
            state.borrow_mut().maintain();
            start_spares(&state);
            next_maintenance = now + ctx.maintenance_interval;
        }
        // glommio reaps io_uring completions only when no task is runnable (or on its
        // preemption timer), so the loop spins (yielding) only while none of this
        // core's I/O is in flight; with I/O in flight it waits on the mailbox instead,
        // which lets glommio poll and, when nothing is runnable, sleep until the
        // completion or the next request. It never spins over its own fdatasync.
        // (Spare creation runs on the blocking pool, off this CPU; its completion can
        // wait for the preemption timer, so it does not stop the spinning.)
        let io_in_flight = state.borrow().sync_running;
        if handled > 0 {
            watchdog.keep_armed(now).await;
            if ctx.hand_off {
                // The caller woken by the replies shares this CPU: let it run (and send
                // its next request) before this loop parks, rather than after.
                std::thread::yield_now();
            }
            if io_in_flight {
                glommio::yield_if_needed().await;
            } else {
                futures_lite::future::yield_now().await;
            }
            continue;
        }
        if !io_in_flight && now.saturating_duration_since(last_busy) < ctx.spin {
            watchdog.keep_armed(now).await;
            futures_lite::future::yield_now().await;
            continue;
        }
        watchdog.disarm();
        // Park until a request arrives or maintenance is due.
        let wait = next_maintenance.saturating_duration_since(now);
        let woke = futures_lite::future::or(async { Some(mailbox.recv().await) }, async {
            glommio::timer::sleep(wait).await;
            None
        })
        .await;
        match woke {
            Some(Some(request)) => {
                state.borrow_mut().handle(request);
                after_batch(&state);
                last_busy = Instant::now();
                if ctx.hand_off {
                    std::thread::yield_now();
                }
            }
            Some(None) => closed = true,
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_batch_gives_back_each_record_as_pushed() {
        let mut batch = PutBatch::with_capacity(1, 0, None);
        assert!(batch.is_empty());
        let big = vec![7u8; 70_000];
        let records: [(&str, &[u8], Option<u128>); 4] = [
            ("a", b"", None),
            ("🌊 key", b"data", Some(5)),
            ("k", &big, None),
            ("last", b"x", Some(u128::MAX)),
        ];
        for (key, data, after) in records {
            batch.push(key, data, after);
        }
        assert_eq!(batch.len(), 4);
        assert_eq!(batch.bytes(), 1 + (8 + 4) + 70_001 + (4 + 1));
        let back: Vec<_> = batch.iter().collect();
        let want: Vec<_> = records
            .iter()
            .map(|(k, d, a)| (k.as_bytes(), *d, *a))
            .collect();
        assert_eq!(back, want);
    }

    #[test]
    fn a_recycled_put_batch_is_empty_and_keeps_its_buffers() {
        let mut batch = PutBatch::with_capacity(1, 0, None);
        batch.push("key", &[1u8; 4000], Some(9));
        batch.outcomes.push(Ok(42));
        let capacity = batch.capacity();
        assert!(capacity >= 4003);
        assert!(matches!(batch.single_outcome(), Some(Ok(42))));
        batch.outcomes.push(Ok(1));
        batch.recycle(None);
        assert!(batch.is_empty());
        assert_eq!(batch.bytes(), 0);
        assert!(
            batch.single_outcome().is_none(),
            "no outcome survives a recycle"
        );
        assert_eq!(batch.capacity(), capacity);
        batch.reserve(1, 10);
        batch.push("k2", b"fresh", None);
        let back: Vec<_> = batch.iter().collect();
        assert_eq!(back, vec![(&b"k2"[..], &b"fresh"[..], None)]);
        // Not one outcome: not a one-record answer.
        batch.outcomes.extend([Ok(1), Ok(2)]);
        assert!(batch.single_outcome().is_none());
        assert_eq!(batch.take_outcomes().len(), 2);
    }

    #[test]
    fn the_spare_thread_lowers_only_itself_to_the_lowest_priority() {
        let own = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let nice = std::thread::spawn(|| {
            lower_priority(SPARE_NICE_BESIDE_FREE_CPU);
            lower_priority(5); // once is enough; a second call changes nothing
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(nice, SPARE_NICE_BESIDE_FREE_CPU);
        let after = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        assert_eq!(after, own, "the calling thread keeps its priority");
        let kept = std::thread::spawn(|| {
            lower_priority(0);
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(kept, own, "nice 0 leaves the thread as it was started");
    }

    #[test]
    fn the_spare_thread_is_lowered_only_where_a_cpu_runs_no_core() {
        assert_eq!(spare_nice(2, 1), SPARE_NICE_BESIDE_FREE_CPU);
        assert_eq!(spare_nice(16, 4), SPARE_NICE_BESIDE_FREE_CPU);
        assert_eq!(spare_nice(1, 1), 0);
        assert_eq!(spare_nice(2, 2), 0);
        assert_eq!(
            spare_nice(2, 3),
            0,
            "more cores than CPUs: no idle CPU either"
        );
    }
}
