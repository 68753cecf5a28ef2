//! The delivery worker: one thread per delivery stream that reads its source, runs the
//! processors, buffers per partition, and delivers batches as objects, checkpointing
//! as checkpoint.rs describes.
//!
//! Loop: read (until caught up, or until `buffered_bytes_max` is held) → route each
//! record (backup buffer; the transform stage or the partition buffers; error buffers)
//! → invoke the transform when its stage is due → turn due buffers into batches (keys
//! fixed) → save the checkpoint with the new batches in flight → write the objects →
//! save the checkpoint with them done → sleep until a put, a request, or the next
//! deadline on the engine's clock.
//!
//! Invariants:
//! - No object is written before the checkpoint names its batch (in flight), and no
//!   batch is forgotten before its object is written.
//! - A failed write is retried with backoff (1 s doubling, ±15%, at most 2 min) on the
//!   engine's clock, forever: the records stay in the source and in memory, and
//!   DataFreshness grows until the destination comes back.
//! - Per shard, records enter every buffer in source order, so every object holds its
//!   records in source order.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::json;
use tidelog::Clock;
use tidelog::io::Storage;

use crate::checkpoint::{BatchId, Checkpoint, CheckpointFile, Planned, Range};
use crate::compression::Compression;
use crate::metrics::{Counters, add, set};
use crate::model::plan::{DeliveryPlan, Target};
use crate::prefix::{self, EvalContext};
use crate::source::{DirectSource, KinesisReader, SourceRecord};
use crate::store::Stores;
use crate::transform::{
    self, InvocationError, Registered, TransformInput, TransformRecord, TransformResult,
};

/// The buffer key of data without partition keys (what `d:` + the JSON of two empty
/// key maps gives, so keys stay the same whichever path makes them).
const PLAIN_DATA_KEY: &str = "d:[{},{}]";
/// Records read per source call.
const READ_RECORDS_PER_CALL: usize = 10_000;
/// Source calls per loop turn before the worker looks at its buffers again.
const READS_PER_TURN: usize = 16;
/// First retry delay of a failed write.
const BACKOFF_FIRST_MS: u64 = 1000;
/// Longest retry delay.
const BACKOFF_MAX_MS: u64 = 120_000;

/// What a flush waiter gets.
pub type FlushResult = Result<(), String>;

/// A flush request: completed by the worker.
#[derive(Debug, Default)]
pub struct FlushSignal {
    result: Mutex<Option<FlushResult>>,
    done: Condvar,
}

impl FlushSignal {
    fn complete(&self, result: FlushResult) {
        let mut slot = self.result.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(result);
        }
        self.done.notify_all();
    }

    /// Waits up to `timeout` (real time) for the result.
    pub fn wait(&self, timeout: Duration) -> Option<FlushResult> {
        let slot = self.result.lock().unwrap_or_else(|p| p.into_inner());
        let (slot, _) = self
            .done
            .wait_timeout_while(slot, timeout, |r| r.is_none())
            .unwrap_or_else(|p| p.into_inner());
        slot.clone()
    }
}

/// How a worker is told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Keep running.
    Run,
    /// Save the checkpoint and stop.
    Graceful,
    /// Stop at once, saving nothing (crash tests).
    Abandon,
}

#[derive(Debug)]
struct Control {
    plan: Arc<DeliveryPlan>,
    flushes: Vec<Arc<FlushSignal>>,
    stop: Stop,
}

/// State shared by the API side and the worker of one delivery stream.
#[derive(Debug)]
pub struct Shared {
    /// The delivery stream's id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Metrics.
    pub counters: Counters,
    control: Mutex<Control>,
    /// Incremented after each acknowledged put.
    pub put_count: AtomicU64,
    sleeping: AtomicBool,
    thread: Mutex<Option<std::thread::Thread>>,
    /// The last delivery or processing error (for flush and describe).
    pub last_error: Mutex<Option<String>>,
}

impl Shared {
    /// Shared state for a delivery stream running `plan`.
    pub fn new(id: u64, name: String, arn: String, plan: Arc<DeliveryPlan>) -> Self {
        Self {
            id,
            name,
            arn,
            counters: Counters::default(),
            control: Mutex::new(Control {
                plan,
                flushes: Vec::new(),
                stop: Stop::Run,
            }),
            put_count: AtomicU64::new(0),
            sleeping: AtomicBool::new(false),
            thread: Mutex::new(None),
            last_error: Mutex::new(None),
        }
    }

    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn unpark(&self) {
        if let Some(t) = self
            .thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            t.unpark();
        }
    }

    /// After a put was acknowledged: wake the worker if it sleeps.
    pub fn notify_put(&self) {
        self.put_count.fetch_add(1, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.unpark();
        }
    }

    /// Asks for everything read so far to be delivered now.
    pub fn request_flush(&self) -> Arc<FlushSignal> {
        let signal = Arc::new(FlushSignal::default());
        self.control().flushes.push(Arc::clone(&signal));
        self.unpark();
        signal
    }

    /// Installs a new configuration (delivered buffers first flush under the old one).
    pub fn set_plan(&self, plan: Arc<DeliveryPlan>) {
        self.control().plan = plan;
        self.unpark();
    }

    /// Tells the worker to stop.
    pub fn stop(&self, how: Stop) {
        self.control().stop = how;
        self.unpark();
    }

    fn set_error(&self, error: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = error;
    }
}

/// What every worker shares.
pub struct Context {
    /// The engine's clock.
    pub clock: Arc<dyn Clock>,
    /// The engine's storage (checkpoints).
    pub storage: Arc<dyn Storage>,
    /// Sync checkpoints and objects (`sync` durability).
    pub durable: bool,
    /// Object stores.
    pub stores: Arc<Stores>,
    /// Registered transforms.
    pub transforms: Arc<std::sync::RwLock<std::collections::HashMap<String, Registered>>>,
    /// The region of ARNs.
    pub region: String,
    /// Real-time bound on sleeping without looking at the clock.
    pub tick: Duration,
    /// Cap of active partitions.
    pub active_partitions_max: usize,
    /// Cap of bytes held.
    pub buffered_bytes_max: u64,
    /// Firehose's tokio runtime (network I/O).
    pub runtime: tokio::runtime::Handle,
    /// The HTTP client of HTTP endpoint destinations.
    pub http: reqwest::Client,
}

/// The source of one worker.
pub enum Source {
    /// A DirectPut buffer.
    Direct(DirectSource),
    /// A Kinesis stream.
    Kinesis {
        /// The reader.
        reader: KinesisReader,
        /// The stream's ARN (for transform inputs).
        arn: String,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    shard: Arc<str>,
    seq: u128,
    arrival_ms: u64,
    data: Bytes,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Data {
        query: BTreeMap<String, String>,
        lambda: BTreeMap<String, String>,
    },
    Error(String),
    Backup,
}

#[derive(Debug)]
struct Buffer {
    kind: Kind,
    entries: Vec<Entry>,
    bytes: u64,
    opened_ns: u64,
    oldest_arrival_ms: u64,
    ranges: BTreeMap<String, Range>,
}

impl Buffer {
    fn new(kind: Kind, now_ns: u64) -> Self {
        Self {
            kind,
            entries: Vec::new(),
            bytes: 0,
            opened_ns: now_ns,
            oldest_arrival_ms: u64::MAX,
            ranges: BTreeMap::new(),
        }
    }

    fn push(&mut self, e: Entry, extra_bytes: u64) {
        self.bytes += e.data.len() as u64 + extra_bytes;
        self.oldest_arrival_ms = self.oldest_arrival_ms.min(e.arrival_ms);
        match self.ranges.get_mut(e.shard.as_ref()) {
            Some(r) => {
                r.first = r.first.min(e.seq);
                r.last = r.last.max(e.seq);
            }
            None => {
                self.ranges.insert(
                    e.shard.to_string(),
                    Range {
                        first: e.seq,
                        last: e.seq,
                    },
                );
            }
        }
        self.entries.push(e);
    }
}

#[derive(Debug)]
struct Batch {
    planned: Planned,
    kind: Kind,
    compression: Compression,
    delimiter: Option<Vec<u8>>,
    entries: Vec<Entry>,
    data_bytes: u64,
    oldest_arrival_ms: u64,
    body: Option<Bytes>,
    attempts: u32,
    next_attempt_ns: u64,
    intent_saved: bool,
    /// When the first attempt ran (engine monotonic ns): retry durations count from it.
    first_attempt_ns: Option<u64>,
    /// The Redshift path: the object is staged, only the COPY remains.
    staged: bool,
    /// Data batches of a converting delivery stream: written as Parquet.
    conversion: Option<Arc<crate::conversion::ConversionPlan>>,
}

/// A batch planned before a crash, being collected again.
#[derive(Debug)]
struct Replay {
    planned: Planned,
    entries: Vec<Entry>,
}

#[derive(Debug, Default)]
struct Stage {
    records: Vec<SourceRecord>,
    bytes: u64,
    opened_ns: u64,
}

/// One delivery stream's worker.
pub struct Worker {
    shared: Arc<Shared>,
    ctx: Arc<Context>,
    plan: Arc<DeliveryPlan>,
    source: Source,
    ckpt_file: CheckpointFile,
    low: BTreeMap<String, u128>,
    finished: BTreeSet<String>,
    read_pos: BTreeMap<String, u128>,
    done: Vec<BatchId>,
    horizon: BTreeMap<String, u128>,
    replay: Vec<Replay>,
    stage: Stage,
    buffers: BTreeMap<String, Buffer>,
    sealed: Vec<(String, Buffer)>,
    inflight: Vec<Batch>,
    saved: Checkpoint,
    invocations: u64,
    /// The PostgreSQL connection of a Redshift destination (opened when needed).
    pg: Option<crate::copy::Connection>,
    /// The error output type `error_out` writes (`processing-failed` unless a step
    /// says otherwise).
    error_type: &'static str,
    /// While a transform's answers are routed: when their records started waiting (the
    /// stage's opening), so the buffer interval counts from there, not from the answer.
    routing_since_ns: Option<u64>,
}

fn decode_planned_delimiter(p: &Planned) -> Option<Vec<u8>> {
    p.delimiter.as_ref().map(|d| d.as_bytes().to_vec())
}

impl Worker {
    /// A worker resuming from `ckpt`.
    pub fn new(
        shared: Arc<Shared>,
        ctx: Arc<Context>,
        source: Source,
        ckpt_file: CheckpointFile,
        ckpt: Checkpoint,
    ) -> crate::Result<Self> {
        let plan = Arc::clone(&shared.control().plan);
        let low = ckpt
            .low_positions()
            .map_err(|problem| crate::Error::Corrupt {
                path: ckpt_file.path().to_path_buf(),
                problem,
            })?;
        let mut horizon: BTreeMap<String, u128> = BTreeMap::new();
        for id in ckpt.done.iter().chain(ckpt.inflight.iter().map(|p| &p.id)) {
            for (shard, r) in &id.ranges {
                let h = horizon.entry(shard.clone()).or_insert(0);
                *h = (*h).max(r.last);
            }
        }
        let replay = ckpt
            .inflight
            .iter()
            .map(|p| Replay {
                planned: p.clone(),
                entries: Vec::new(),
            })
            .collect();
        Ok(Self {
            read_pos: low.clone(),
            low,
            finished: ckpt.finished.clone(),
            done: ckpt.done.clone(),
            horizon,
            replay,
            shared,
            ctx,
            plan,
            source,
            ckpt_file,
            stage: Stage::default(),
            buffers: BTreeMap::new(),
            sealed: Vec::new(),
            inflight: Vec::new(),
            saved: ckpt,
            invocations: 0,
            routing_since_ns: None,
            pg: None,
            error_type: "processing-failed",
        })
    }

    fn now_ns(&self) -> u64 {
        self.ctx.clock.monotonic_ns()
    }

    fn held_bytes(&self) -> u64 {
        self.stage.bytes
            + self.buffers.values().map(|b| b.bytes).sum::<u64>()
            + self.sealed.iter().map(|(_, b)| b.bytes).sum::<u64>()
            + self.inflight.iter().map(|b| b.data_bytes).sum::<u64>()
            + self
                .replay
                .iter()
                .flat_map(|r| &r.entries)
                .map(|e| e.data.len() as u64)
                .sum::<u64>()
    }

    /// Runs until told to stop.
    pub fn run(mut self) {
        *self.shared.thread.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(std::thread::current());
        let mut seen_puts = u64::MAX;
        let mut idle_source = false;
        loop {
            let (stop, new_plan, flushes) = {
                let mut c = self.shared.control();
                let plan = (c.plan.version != self.plan.version).then(|| Arc::clone(&c.plan));
                (c.stop, plan, std::mem::take(&mut c.flushes))
            };
            match stop {
                Stop::Run => {}
                Stop::Graceful => {
                    let _ = self.save_checkpoint();
                    for f in flushes {
                        f.complete(Err("the delivery stream stopped".to_string()));
                    }
                    return;
                }
                Stop::Abandon => return,
            }
            let flushing = !flushes.is_empty();
            let puts = self.shared.put_count.load(Ordering::SeqCst);
            // A Kinesis source is read again when one of its shards is due for a poll
            // (nothing notifies the worker of puts to a stream).
            let poll_due = match &self.source {
                Source::Kinesis { reader, .. } => {
                    reader.next_poll_ns().is_some_and(|p| p <= self.now_ns())
                }
                Source::Direct(_) => false,
            };
            let want_read = flushing || puts != seen_puts || !idle_source || poll_due;
            seen_puts = puts;
            let mut turn_error = None;
            if want_read {
                match self.read_turn(flushing) {
                    Ok(caught_up) => idle_source = caught_up,
                    Err(e) => {
                        if matches!(e, crate::Error::Engine(ref inner) if inner.kind() == tidelog::ErrorKind::Closed)
                        {
                            return;
                        }
                        turn_error = Some(format!("reading the source: {e}"));
                        idle_source = false;
                    }
                }
            }
            let flush_all = flushing || new_plan.is_some();
            self.run_stage(flush_all);
            self.plan_due(flush_all);
            if let Some(plan) = new_plan {
                self.plan = plan;
            }
            self.complete_replays();
            if let Err(e) = self.deliver_due() {
                turn_error = Some(e);
            }
            self.update_gauges();
            if let Some(e) = &turn_error {
                self.shared.set_error(Some(e.clone()));
            }
            if flushing {
                self.finish_flushes(flushes, turn_error);
            }
            self.sleep(seen_puts, idle_source);
        }
    }

    fn finish_flushes(&mut self, flushes: Vec<Arc<FlushSignal>>, error: Option<String>) {
        let failed = self.inflight.iter().find(|b| b.attempts > 0).map(|_| {
            self.shared
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_else(|| "delivery failed".to_string())
        });
        let result = match (error, failed) {
            (Some(e), _) | (None, Some(e)) => Err(e),
            (None, None) if self.inflight.is_empty() && self.replay.is_empty() => Ok(()),
            (None, None) => {
                // Something could not be delivered yet (a replay waits for its records):
                // keep the flushes for the next turn.
                let mut c = self.shared.control();
                c.flushes.extend(flushes);
                return;
            }
        };
        for f in flushes {
            f.complete(result.clone());
        }
    }

    /// Reads from the source; true if caught up.
    fn read_turn(&mut self, flushing: bool) -> crate::Result<bool> {
        let mut caught_up = false;
        for _ in 0..if flushing { usize::MAX } else { READS_PER_TURN } {
            if self.held_bytes() >= self.ctx.buffered_bytes_max {
                return Ok(false);
            }
            let now_ns = self.now_ns();
            let outcome = match &mut self.source {
                Source::Direct(d) => d.read(READ_RECORDS_PER_CALL)?,
                Source::Kinesis { reader, .. } => {
                    reader.keys = self.plan.processing.lambda.is_some();
                    let o = reader.read(
                        READ_RECORDS_PER_CALL,
                        if flushing { u64::MAX / 2 } else { now_ns },
                    )?;
                    let bytes: u64 = o.records.iter().map(|r| r.data.len() as u64).sum();
                    add(&self.shared.counters.kinesis_read_bytes, bytes);
                    add(
                        &self.shared.counters.kinesis_read_records,
                        o.records.len() as u64,
                    );
                    set(&self.shared.counters.kinesis_millis_behind, o.millis_behind);
                    o
                }
            };
            // Read positions move once per run of one shard's records, not per record.
            let mut run: Option<(Arc<str>, u128)> = None;
            for r in outcome.records {
                match &mut run {
                    Some((shard, top)) if Arc::ptr_eq(shard, &r.shard) => *top = (*top).max(r.seq),
                    _ => {
                        if let Some((shard, top)) = run.replace((Arc::clone(&r.shard), r.seq)) {
                            self.advance_read_pos(&shard, top);
                        }
                    }
                }
                self.route_source(r);
            }
            if let Some((shard, top)) = run {
                self.advance_read_pos(&shard, top);
            }
            if outcome.caught_up {
                caught_up = true;
                break;
            }
        }
        Ok(caught_up)
    }

    fn advance_read_pos(&mut self, shard: &str, seq: u128) {
        match self.read_pos.get_mut(shard) {
            Some(pos) => *pos = (*pos).max(seq),
            None => {
                self.read_pos.insert(shard.to_string(), seq);
            }
        }
    }

    fn route_source(&mut self, r: SourceRecord) {
        if let Some(channel) = &self.plan.channel
            && let Err((code, message)) = channel.format.check(&r.data)
        {
            // A record the channel's format cannot deliver: to the dead-letter bucket.
            self.error_out(
                &r.shard,
                r.seq,
                r.arrival_ms,
                &r.data,
                code,
                &message,
                1,
                None,
            );
            return;
        }
        if self.plan.backup.is_some() {
            self.insert(
                "b:",
                || Kind::Backup,
                Entry {
                    shard: Arc::clone(&r.shard),
                    seq: r.seq,
                    arrival_ms: r.arrival_ms,
                    data: r.data.clone(),
                },
            );
        }
        if self.plan.processing.lambda.is_some() {
            if self.stage.records.is_empty() {
                self.stage.opened_ns = self.now_ns();
            }
            self.stage.bytes += r.data.len() as u64;
            self.stage.records.push(r);
        } else {
            let empty = BTreeMap::new();
            self.route_data(&r.shard, r.seq, r.arrival_ms, r.data, &empty);
        }
    }

    /// Routes a (transformed) record to its partition's buffer.
    fn route_data(
        &mut self,
        shard: &Arc<str>,
        seq: u128,
        arrival_ms: u64,
        data: Bytes,
        lambda_keys: &BTreeMap<String, String>,
    ) {
        let mut query = BTreeMap::new();
        let mut lambda = BTreeMap::new();
        if self.plan.dynamic_partitioning {
            if let Some(q) = &self.plan.processing.query {
                let parsed: Result<serde_json::Value, String> = serde_json::from_slice(&data)
                    .map_err(|e| format!("the record is not JSON: {e}"));
                match parsed.and_then(|doc| q.evaluate(&doc)) {
                    Ok(keys) => query = keys,
                    Err(message) => {
                        self.error_out(
                            shard,
                            seq,
                            arrival_ms,
                            &data,
                            "DynamicPartitioning.MetadataExtractionFailed",
                            &message,
                            1,
                            None,
                        );
                        return;
                    }
                }
            }
            let plan = Arc::clone(&self.plan);
            let prefix = &plan.data.prefix;
            query.retain(|k, _| prefix.query_keys().any(|q| q == k));
            for k in prefix.lambda_keys() {
                match lambda_keys.get(k) {
                    Some(v) => {
                        lambda.insert(k.to_string(), v.clone());
                    }
                    None => {
                        let message =
                            format!("partition key {k:?} is missing from the transform's metadata");
                        self.error_out(
                            shard,
                            seq,
                            arrival_ms,
                            &data,
                            "DynamicPartitioning.MetadataExtractionFailed",
                            &message,
                            1,
                            None,
                        );
                        return;
                    }
                }
            }
            if let Some(k) = prefix.query_keys().find(|k| !query.contains_key(*k)) {
                let message = format!("partition key {k:?} is missing from the query's result");
                self.error_out(
                    shard,
                    seq,
                    arrival_ms,
                    &data,
                    "DynamicPartitioning.MetadataExtractionFailed",
                    &message,
                    1,
                    None,
                );
                return;
            }
        }
        let data = match &self.plan.conversion {
            None => data,
            Some(conversion) => match conversion.normalize(&data) {
                Ok(rows) => Bytes::from(rows),
                Err(message) => {
                    self.error_type = "format-conversion-failed";
                    self.error_out(
                        shard,
                        seq,
                        arrival_ms,
                        &data,
                        "DataFormatConversion.MalformedData",
                        &message,
                        1,
                        None,
                    );
                    self.error_type = "processing-failed";
                    return;
                }
            },
        };
        let key = if query.is_empty() && lambda.is_empty() {
            std::borrow::Cow::Borrowed(PLAIN_DATA_KEY)
        } else {
            std::borrow::Cow::Owned(format!(
                "d:{}",
                serde_json::to_string(&(&query, &lambda)).unwrap_or_default()
            ))
        };
        if !self.buffers.contains_key(key.as_ref()) {
            let partitions = self
                .buffers
                .values()
                .filter(|b| matches!(b.kind, Kind::Data { .. }))
                .count();
            if partitions >= self.ctx.active_partitions_max {
                add(&self.shared.counters.partition_count_exceeded, 1);
                let message =
                    format!("the delivery stream has {partitions} active partitions, its limit");
                self.error_out(
                    shard,
                    seq,
                    arrival_ms,
                    &data,
                    "DynamicPartitioning.ActivePartitionsLimitExceeded",
                    &message,
                    1,
                    None,
                );
                return;
            }
        }
        self.insert(
            &key,
            || Kind::Data { query, lambda },
            Entry {
                shard: Arc::clone(shard),
                seq,
                arrival_ms,
                data,
            },
        );
    }

    /// Writes a record's error document to the error buffer of `code`'s type.
    #[allow(clippy::too_many_arguments)]
    fn error_out(
        &mut self,
        shard: &Arc<str>,
        seq: u128,
        arrival_ms: u64,
        raw: &[u8],
        code: &str,
        message: &str,
        attempts: u32,
        lambda_arn: Option<&str>,
    ) {
        let line = error_line(
            arrival_ms,
            raw,
            code,
            message,
            attempts,
            lambda_arn,
            self.ctx.clock.now_ms(),
        );
        add(&self.shared.counters.error_records, 1);
        let error_type = self.error_type.to_string();
        self.insert(
            &format!("e:{error_type}"),
            || Kind::Error(error_type),
            Entry {
                shard: Arc::clone(shard),
                seq,
                arrival_ms,
                data: Bytes::from(line),
            },
        );
    }

    /// Puts an entry into buffer `key`, unless a batch of an earlier run covers it.
    fn insert(&mut self, key: &str, kind: impl FnOnce() -> Kind, entry: Entry) {
        let shard = entry.shard.as_ref();
        if self.horizon.get(shard).is_some_and(|h| entry.seq <= *h) {
            if self.done.iter().any(|d| d.covers(key, shard, entry.seq)) {
                return;
            }
            if let Some(r) = self
                .replay
                .iter_mut()
                .find(|r| r.planned.id.covers(key, shard, entry.seq))
            {
                r.entries.push(entry);
                return;
            }
        }
        let since = self.routing_since_ns;
        let plan = Arc::clone(&self.plan);
        let full = match self.buffers.get_mut(key) {
            Some(buffer) => {
                if let Some(since) = since {
                    buffer.opened_ns = buffer.opened_ns.min(since);
                }
                buffer.push(entry, extra_bytes(&plan, &buffer.kind));
                buffer.bytes >= size_of(&plan, &buffer.kind)
            }
            None => {
                let kind = kind();
                let extra = extra_bytes(&plan, &kind);
                let mut buffer = Buffer::new(kind, since.unwrap_or_else(|| self.now_ns()));
                buffer.push(entry, extra);
                let full = buffer.bytes >= size_of(&plan, &buffer.kind);
                self.buffers.insert(key.to_string(), buffer);
                full
            }
        };
        if full && let Some(buffer) = self.buffers.remove(key) {
            // Full: it becomes a batch at the next planning, and the next record of
            // this partition starts a new buffer.
            self.sealed.push((key.to_string(), buffer));
        }
    }

    /// Invokes the transform when its stage is due.
    fn run_stage(&mut self, flush_all: bool) {
        let Some(lambda) = self.plan.processing.lambda.clone() else {
            return;
        };
        loop {
            if self.stage.records.is_empty() {
                return;
            }
            let now = self.now_ns();
            let interval_ms = lambda.buffer_interval_ms.min(self.plan.data.interval_ms);
            let due = flush_all
                || self.stage.bytes >= lambda.buffer_bytes
                || now.saturating_sub(self.stage.opened_ns) >= interval_ms * 1_000_000;
            if !due {
                return;
            }
            // One invocation takes at most BufferSizeInMBs of input.
            let mut take = 0;
            let mut bytes = 0u64;
            for r in &self.stage.records {
                if take > 0 && bytes + r.data.len() as u64 > lambda.buffer_bytes {
                    break;
                }
                bytes += r.data.len() as u64;
                take += 1;
            }
            let batch: Vec<SourceRecord> = self.stage.records.drain(..take).collect();
            self.stage.bytes -= bytes;
            self.routing_since_ns = Some(self.stage.opened_ns);
            self.stage.opened_ns = now;
            self.invoke(&lambda, batch);
            self.routing_since_ns = None;
        }
    }

    fn invoke(&mut self, lambda: &crate::model::plan::LambdaPlan, records: Vec<SourceRecord>) {
        self.invocations += 1;
        let (source_arn, kinesis) = match &self.source {
            Source::Kinesis { arn, .. } => (Some(arn.clone()), true),
            Source::Direct(_) => (None, false),
        };
        let first = records.first().map(|r| (r.shard.to_string(), r.seq));
        let invocation_id = prefix::object_id(
            blake3::hash(format!("{}:{:?}", self.shared.id, first).as_bytes()).as_bytes(),
        );
        let input = Arc::new(TransformInput {
            invocation_id,
            delivery_stream_arn: self.shared.arn.clone(),
            source_kinesis_stream_arn: source_arn,
            region: self.ctx.region.clone(),
            records: records
                .iter()
                .map(|r| TransformRecord {
                    record_id: r.seq.to_string(),
                    approximate_arrival_timestamp: r.arrival_ms,
                    data: r.data.clone(),
                    kinesis: kinesis.then(|| transform::KinesisRecordMetadata {
                        shard_id: r.shard.to_string(),
                        partition_key: r.partition_key.clone().unwrap_or_default(),
                        sequence_number: r.seq.to_string(),
                        subsequence_number: 0,
                        approximate_arrival_timestamp: r.arrival_ms,
                    }),
                })
                .collect(),
        });
        let registered = self
            .ctx
            .transforms
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&lambda.function)
            .cloned();
        let mut attempts = 0;
        let started_ms = self.ctx.clock.now_ms();
        let result = loop {
            attempts += 1;
            add(&self.shared.counters.processing_invocations, 1);
            let outcome = match &registered {
                Some(reg) => {
                    transform::invoke(reg, Arc::clone(&input), &self.ctx.clock, self.ctx.tick)
                }
                None => Err(InvocationError {
                    code: "Lambda.FunctionNotFound",
                    message: format!(
                        "no transform is registered under the function name {:?}",
                        lambda.function
                    ),
                }),
            };
            match outcome {
                Ok(answer) => break Ok(answer),
                Err(e) => {
                    add(&self.shared.counters.processing_failed_invocations, 1);
                    if attempts > lambda.retries {
                        break Err(e);
                    }
                }
            }
        };
        add(
            &self.shared.counters.processing_duration_ms,
            self.ctx.clock.now_ms().saturating_sub(started_ms),
        );
        match result {
            Ok(answer) => {
                for (r, out) in records.into_iter().zip(answer) {
                    match out.result {
                        TransformResult::Ok => {
                            add(&self.shared.counters.processing_ok_records, 1);
                            add(
                                &self.shared.counters.processing_ok_bytes,
                                out.data.len() as u64,
                            );
                            self.route_data(
                                &r.shard,
                                r.seq,
                                r.arrival_ms,
                                Bytes::from(out.data),
                                &out.partition_keys,
                            );
                        }
                        TransformResult::Dropped => {
                            add(&self.shared.counters.processing_dropped_records, 1);
                        }
                        TransformResult::ProcessingFailed => {
                            add(&self.shared.counters.processing_failed_records, 1);
                            self.error_out(
                                &r.shard,
                                r.seq,
                                r.arrival_ms,
                                &r.data,
                                "Lambda.ProcessingFailed",
                                "The transform returned the result ProcessingFailed for this record.",
                                attempts,
                                Some(&lambda.arn),
                            );
                        }
                    }
                }
            }
            Err(e) => {
                self.shared.set_error(Some(format!(
                    "transform {}: {}: {}",
                    lambda.function, e.code, e.message
                )));
                for r in records {
                    add(&self.shared.counters.processing_failed_records, 1);
                    self.error_out(
                        &r.shard,
                        r.seq,
                        r.arrival_ms,
                        &r.data,
                        e.code,
                        &e.message,
                        attempts,
                        Some(&lambda.arn),
                    );
                }
            }
        }
    }

    fn object_settings(&self, kind: &Kind) -> (u64, u64, Compression, String, Option<Vec<u8>>) {
        let plan = &self.plan;
        match kind {
            Kind::Data { .. } => (
                plan.data.size_bytes,
                plan.data.interval_ms,
                plan.data.compression,
                plan.data.extension.clone(),
                plan.processing
                    .delimiter
                    .clone()
                    .filter(|_| !plan.data.delimiter_ignored),
            ),
            Kind::Error(_) => (
                plan.data.size_bytes,
                plan.data.interval_ms,
                Compression::Uncompressed,
                String::new(),
                None,
            ),
            Kind::Backup => match &plan.backup {
                Some(b) => (
                    b.size_bytes,
                    b.interval_ms,
                    b.compression,
                    b.extension.clone(),
                    None,
                ),
                None => (
                    plan.data.size_bytes,
                    plan.data.interval_ms,
                    Compression::Uncompressed,
                    String::new(),
                    None,
                ),
            },
        }
    }

    /// Turns due buffers into batches with their keys fixed.
    fn plan_due(&mut self, flush_all: bool) {
        let now = self.now_ns();
        let due: Vec<String> = self
            .buffers
            .iter()
            .filter(|(_, b)| {
                let (size, interval_ms, ..) = self.object_settings(&b.kind);
                flush_all
                    || b.bytes >= size
                    || now.saturating_sub(b.opened_ns) >= interval_ms.saturating_mul(1_000_000)
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut ready = std::mem::take(&mut self.sealed);
        for key in due {
            if let Some(buffer) = self.buffers.remove(&key) {
                ready.push((key, buffer));
            }
        }
        for (key, buffer) in ready {
            if buffer.entries.is_empty() {
                continue;
            }
            let id = BatchId {
                buffer: key.clone(),
                ranges: buffer.ranges.clone(),
            };
            let seed = id.seed(self.shared.id);
            let offset = self.plan.time_zone.offset_at(buffer.oldest_arrival_ms);
            let empty = BTreeMap::new();
            let (query, lambda, error_type) = match &buffer.kind {
                Kind::Data { query, lambda } => (query, lambda, None),
                Kind::Error(t) => (&empty, &empty, Some(t.as_str())),
                Kind::Backup => (&empty, &empty, None),
            };
            let ctx = EvalContext {
                timestamp_ms: buffer.oldest_arrival_ms,
                offset_seconds: offset,
                seed,
                error_output_type: error_type,
                query_keys: query,
                lambda_keys: lambda,
            };
            let (bucket, prefix) = match &buffer.kind {
                Kind::Data { .. } => (
                    self.plan.data.bucket.clone(),
                    self.plan.data.prefix.evaluate(&ctx),
                ),
                Kind::Error(_) => (
                    self.plan.data.bucket.clone(),
                    self.plan.error_prefix.evaluate(&ctx),
                ),
                Kind::Backup => match &self.plan.backup {
                    Some(b) => (b.bucket.clone(), b.prefix.evaluate(&ctx)),
                    None => continue,
                },
            };
            let prefix = match prefix {
                Ok(p) => p,
                Err(message) if matches!(buffer.kind, Kind::Data { .. }) => {
                    // The partition's prefix cannot be written: its records go to the
                    // error output instead.
                    for e in buffer.entries {
                        self.error_out(
                            &e.shard,
                            e.seq,
                            e.arrival_ms,
                            &e.data,
                            "S3.InvalidPrefix",
                            &message,
                            1,
                            None,
                        );
                    }
                    continue;
                }
                Err(_) => format!("{}/", error_type.unwrap_or("backup")),
            };
            let (_, _, compression, extension, delimiter) = self.object_settings(&buffer.kind);
            let (bucket, key) = match (&self.plan.channel, &buffer.kind) {
                (Some(channel), Kind::Data { .. }) => (
                    bucket,
                    channel.data_key(buffer.oldest_arrival_ms, &seed, &extension),
                ),
                (Some(channel), _) => (
                    channel.error_bucket.clone(),
                    channel.error_key(buffer.oldest_arrival_ms, &seed),
                ),
                (None, _) => (
                    bucket,
                    prefix::object_key(
                        &prefix,
                        &self.plan.name,
                        self.plan.version,
                        buffer.oldest_arrival_ms,
                        offset,
                        &seed,
                        &extension,
                    ),
                ),
            };
            let data_bytes = buffer.bytes;
            let conversion = matches!(buffer.kind, Kind::Data { .. })
                .then(|| self.plan.conversion.clone())
                .flatten();
            self.inflight.push(Batch {
                planned: Planned {
                    id,
                    bucket,
                    key,
                    version: self.plan.version,
                    compression: if conversion.is_some() {
                        "PARQUET".to_string()
                    } else {
                        compression.name().to_string()
                    },
                    delimiter: delimiter
                        .as_ref()
                        .map(|d| String::from_utf8_lossy(d).into_owned()),
                },
                kind: buffer.kind,
                compression,
                delimiter,
                entries: buffer.entries,
                data_bytes,
                oldest_arrival_ms: buffer.oldest_arrival_ms,
                body: None,
                attempts: 0,
                next_attempt_ns: 0,
                intent_saved: false,
                first_attempt_ns: None,
                staged: false,
                conversion,
            });
        }
    }

    /// Replays whose records have all been read again become batches.
    fn complete_replays(&mut self) {
        let drained: BTreeSet<String> = match &self.source {
            Source::Kinesis { reader, .. } => reader.drained().clone(),
            Source::Direct(_) => BTreeSet::new(),
        };
        let mut i = 0;
        while i < self.replay.len() {
            let complete = self.replay[i].planned.id.ranges.iter().all(|(shard, r)| {
                self.read_pos.get(shard).is_some_and(|p| *p >= r.last) || drained.contains(shard)
            });
            if !complete {
                i += 1;
                continue;
            }
            let r = self.replay.remove(i);
            if r.entries.is_empty() {
                // Nothing could be read again (expired): the batch is gone.
                self.done.push(r.planned.id);
                continue;
            }
            let kind = if r.planned.id.buffer.starts_with("e:") {
                Kind::Error(r.planned.id.buffer[2..].to_string())
            } else if r.planned.id.buffer.starts_with("b:") {
                Kind::Backup
            } else {
                Kind::Data {
                    query: BTreeMap::new(),
                    lambda: BTreeMap::new(),
                }
            };
            let r_compression = r.planned.compression.clone();
            let compression = Compression::from_name(&r.planned.compression).unwrap_or_default();
            let delimiter = decode_planned_delimiter(&r.planned);
            let extra = delimiter.as_ref().map_or(0, |d| d.len() as u64);
            let data_bytes = r.entries.iter().map(|e| e.data.len() as u64 + extra).sum();
            let oldest = r.entries.iter().map(|e| e.arrival_ms).min().unwrap_or(0);
            self.inflight.push(Batch {
                planned: r.planned,
                kind,
                compression,
                delimiter,
                entries: r.entries,
                data_bytes,
                oldest_arrival_ms: oldest,
                body: None,
                attempts: 0,
                next_attempt_ns: 0,
                intent_saved: true,
                first_attempt_ns: None,
                staged: false,
                conversion: (r_compression == "PARQUET")
                    .then(|| self.plan.conversion.clone())
                    .flatten(),
            });
        }
    }

    fn checkpoint(&self) -> Checkpoint {
        let mut ckpt = Checkpoint {
            low: self
                .low
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            finished: self.finished.clone(),
            done: self.done.clone(),
            inflight: self.inflight.iter().map(|b| b.planned.clone()).collect(),
        };
        ckpt.inflight
            .extend(self.replay.iter().map(|r| r.planned.clone()));
        ckpt
    }

    fn save_checkpoint(&mut self) -> Result<(), String> {
        let ckpt = self.checkpoint();
        if ckpt == self.saved {
            return Ok(());
        }
        self.ckpt_file
            .save(self.ctx.storage.as_ref(), &ckpt, self.ctx.durable)
            .map_err(|e| e.to_string())?;
        self.saved = ckpt;
        Ok(())
    }

    /// Raises `low` to just below the oldest record held anywhere; forgets done batches
    /// below it; marks drained shards with nothing held as finished.
    fn advance_low(&mut self) {
        let mut mins: BTreeMap<String, u128> = BTreeMap::new();
        let mut see = |shard: &str, seq: u128| {
            mins.entry(shard.to_string())
                .and_modify(|m| *m = (*m).min(seq))
                .or_insert(seq);
        };
        for r in &self.stage.records {
            see(&r.shard, r.seq);
        }
        for b in self
            .buffers
            .values()
            .chain(self.sealed.iter().map(|(_, b)| b))
        {
            for (s, r) in &b.ranges {
                see(s, r.first);
            }
        }
        for b in &self.inflight {
            for (s, r) in &b.planned.id.ranges {
                see(s, r.first);
            }
        }
        for r in &self.replay {
            for (s, range) in &r.planned.id.ranges {
                see(s, range.first);
            }
        }
        for (shard, pos) in &self.read_pos {
            let new_low = match mins.get(shard) {
                Some(first) => first.checked_sub(1),
                None => Some(*pos),
            };
            if let Some(l) = new_low {
                let current = self.low.entry(shard.clone()).or_insert(l);
                *current = (*current).max(l);
            }
        }
        let low = &self.low;
        self.done.retain(|d| !d.below(low));
        if let Source::Kinesis { reader, .. } = &self.source {
            for shard in reader.drained() {
                if !mins.contains_key(shard) {
                    self.finished.insert(shard.clone());
                }
            }
            let drained = reader.drained();
            self.finished.retain(|s| drained.contains(s));
        }
    }

    fn build_body(batch: &Batch, entry_name: &str) -> std::io::Result<Bytes> {
        if let Some(conversion) = &batch.conversion {
            return conversion
                .to_parquet(batch.entries.iter().map(|e| e.data.as_ref()))
                .map(Bytes::from)
                .map_err(std::io::Error::other);
        }
        let total = batch.data_bytes as usize;
        let delimiter = batch.delimiter.as_deref();
        let parts = batch
            .entries
            .iter()
            .flat_map(|e| std::iter::once(e.data.as_ref()).chain(delimiter));
        batch
            .compression
            .encode(parts, total, entry_name, batch.oldest_arrival_ms)
            .map(Bytes::from)
    }

    /// True if the batch's object is its records as they are (an uncompressed data
    /// object, no conversion): written from the records' own bytes, never assembled.
    fn parts_eligible(batch: &Batch) -> bool {
        matches!(batch.kind, Kind::Data { .. })
            && batch.compression == Compression::Uncompressed
            && batch.conversion.is_none()
    }

    /// The object as the list of its parts (records and delimiters), when eligible.
    fn parts(batch: &Batch) -> Option<Vec<Bytes>> {
        if !Self::parts_eligible(batch) {
            return None;
        }
        let delimiter = batch.delimiter.as_deref().map(Bytes::copy_from_slice);
        let mut parts =
            Vec::with_capacity(batch.entries.len() * (1 + usize::from(delimiter.is_some())));
        for e in &batch.entries {
            parts.push(e.data.clone());
            if let Some(d) = &delimiter {
                parts.push(d.clone());
            }
        }
        Some(parts)
    }

    fn backoff_ms(batch: &Batch) -> u64 {
        let exp = BACKOFF_FIRST_MS
            .saturating_mul(1u64 << batch.attempts.saturating_sub(1).min(20))
            .min(BACKOFF_MAX_MS);
        // ±15% jitter, derived from the batch and attempt (no random source needed).
        let h = blake3::hash(format!("{}:{}", batch.planned.key, batch.attempts).as_bytes());
        let unit = u64::from(h.as_bytes()[0]) as f64 / 255.0; // 0..=1
        let factor = 0.85 + 0.30 * unit;
        ((exp as f64) * factor) as u64
    }

    /// Writes the objects of due batches (after their intent is saved).
    fn deliver_due(&mut self) -> Result<(), String> {
        if self.inflight.iter().any(|b| !b.intent_saved) {
            self.advance_low();
            self.save_checkpoint()?;
            for b in &mut self.inflight {
                b.intent_saved = true;
            }
        }
        let now = self.now_ns();
        let mut delivered_any = false;
        let mut first_error = None;
        let mut i = 0;
        while i < self.inflight.len() {
            if self.inflight[i].next_attempt_ns > now {
                i += 1;
                continue;
            }
            let plain_parts = matches!(self.plan.target, Target::S3);
            let batch = &mut self.inflight[i];
            if batch.body.is_none() && !(plain_parts && Self::parts_eligible(batch)) {
                let entry_name = batch
                    .planned
                    .key
                    .rsplit('/')
                    .next()
                    .unwrap_or("object")
                    .trim_end_matches(".zip")
                    .to_string();
                match Self::build_body(batch, &entry_name) {
                    Ok(body) => batch.body = Some(body),
                    Err(e) => {
                        first_error
                            .get_or_insert(format!("compressing {}: {e}", batch.planned.key));
                        batch.attempts += 1;
                        batch.next_attempt_ns = now + Self::backoff_ms(batch) * 1_000_000;
                        i += 1;
                        continue;
                    }
                }
            }
            let body = batch.body.clone().unwrap_or_default();
            let mut batch = self.inflight.remove(i);
            let counters = &self.shared.counters;
            let is_backup = matches!(batch.kind, Kind::Backup);
            add(
                if is_backup {
                    &counters.backup_attempts
                } else {
                    &counters.delivery_attempts
                },
                1,
            );
            let result = if matches!(batch.kind, Kind::Data { .. }) {
                self.deliver_data(&mut batch, body, now)
            } else {
                self.ctx.stores.put(
                    &batch.planned.bucket,
                    &batch.planned.key,
                    body,
                    self.ctx.durable,
                )
            };
            let counters = &self.shared.counters;
            match result {
                Ok(()) => {
                    let records = batch.entries.len() as u64;
                    match batch.kind {
                        Kind::Data { .. } => {
                            add(&counters.delivery_records, records);
                            add(&counters.delivery_bytes, batch.data_bytes);
                            add(&counters.delivery_objects, 1);
                        }
                        Kind::Backup => {
                            add(&counters.backup_records, records);
                            add(&counters.backup_bytes, batch.data_bytes);
                        }
                        Kind::Error(_) => add(&counters.delivery_objects, 1),
                    }
                    self.done.push(batch.planned.id);
                    delivered_any = true;
                }
                Err(e) => {
                    add(
                        if is_backup {
                            &counters.backup_failures
                        } else {
                            &counters.delivery_failures
                        },
                        1,
                    );
                    batch.attempts += 1;
                    batch.next_attempt_ns = now + Self::backoff_ms(&batch) * 1_000_000;
                    first_error.get_or_insert(e);
                    self.inflight.insert(i, batch);
                    i += 1;
                }
            }
        }
        if delivered_any {
            self.advance_low();
            self.save_checkpoint()?;
            if first_error.is_none() && self.inflight.iter().all(|b| b.attempts == 0) {
                self.shared.set_error(None);
            }
        } else if !self.inflight.is_empty() || self.low_would_move() {
            self.advance_low();
            let _ = self.save_checkpoint();
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Delivers a data batch to the plan's target (objects, an HTTP endpoint, or
    /// PostgreSQL through a staged object). `Ok` also when a batch is given up after
    /// its retry duration and its failure recorded (error objects, a manifest).
    fn deliver_data(&mut self, batch: &mut Batch, body: Bytes, now_ns: u64) -> Result<(), String> {
        let plan = Arc::clone(&self.plan);
        let first = *batch.first_attempt_ns.get_or_insert(now_ns);
        let seed = batch.planned.id.seed(self.shared.id);
        match &plan.target {
            Target::S3 => match Self::parts(batch) {
                Some(parts) => self.ctx.stores.put_parts(
                    &batch.planned.bucket,
                    &batch.planned.key,
                    parts,
                    self.ctx.durable,
                ),
                None => self.ctx.stores.put(
                    &batch.planned.bucket,
                    &batch.planned.key,
                    body,
                    self.ctx.durable,
                ),
            },
            Target::Http(http) => {
                let records: Vec<&[u8]> = batch.entries.iter().map(|e| e.data.as_ref()).collect();
                let c = &self.shared.counters;
                add(&c.http_attempts, 1);
                let outcome = crate::endpoint::post(
                    &self.ctx.http,
                    &self.ctx.runtime,
                    http,
                    &self.shared.arn,
                    &prefix::object_id(&seed),
                    &records,
                    self.ctx.clock.now_ms(),
                );
                let (code, message) = match outcome {
                    crate::endpoint::Outcome::Delivered => {
                        add(&c.http_records, records.len() as u64);
                        add(&c.http_bytes, batch.data_bytes);
                        return Ok(());
                    }
                    crate::endpoint::Outcome::Permanent(code, message) => (code, message),
                    crate::endpoint::Outcome::Retry(code, message) => {
                        add(&c.http_failures, 1);
                        if now_ns.saturating_sub(first)
                            < http.retry_duration_ms.saturating_mul(1_000_000)
                        {
                            return Err(format!("{code}: {message}"));
                        }
                        (code, message)
                    }
                };
                // Given up: the records go to the S3 part as error documents.
                self.write_failed(batch, &seed, "http-endpoint-failed", code, &message)?;
                add(&c.http_given_up_records, records.len() as u64);
                Ok(())
            }
            Target::Postgres(pg) => {
                let c = &self.shared.counters;
                if !batch.staged {
                    self.ctx.stores.put(
                        &batch.planned.bucket,
                        &batch.planned.key,
                        body,
                        self.ctx.durable,
                    )?;
                    batch.staged = true;
                }
                add(&c.redshift_attempts, 1);
                let delimiter = batch.delimiter.clone();
                let mut data = Vec::with_capacity(batch.data_bytes as usize);
                for e in &batch.entries {
                    data.extend_from_slice(&e.data);
                    if let Some(d) = &delimiter {
                        data.extend_from_slice(d);
                    }
                }
                if self.pg.as_ref().is_some_and(crate::copy::is_closed) {
                    self.pg = None;
                }
                let result = match &mut self.pg {
                    Some(conn) => Ok(conn),
                    None => {
                        crate::copy::connect(&self.ctx.runtime, pg).map(|conn| self.pg.insert(conn))
                    }
                }
                .and_then(|conn| {
                    crate::copy::load(
                        &self.ctx.runtime,
                        conn,
                        pg,
                        &self.shared.name,
                        &batch.planned.key,
                        data,
                    )
                });
                match result {
                    Ok(loaded) => {
                        if let crate::copy::Loaded::Now(rows) = loaded {
                            add(&c.redshift_rows, rows);
                        }
                        add(&c.redshift_records, batch.entries.len() as u64);
                        add(&c.redshift_bytes, batch.data_bytes);
                        Ok(())
                    }
                    Err(e) => {
                        add(&c.redshift_failures, 1);
                        if now_ns.saturating_sub(first)
                            < pg.retry_duration_ms.saturating_mul(1_000_000)
                        {
                            return Err(format!("COPY into {}: {e}", pg.table));
                        }
                        // Skipped: listed in a manifest under errors/, as AWS does.
                        let manifest = json!({"entries": [{
                            "url": format!("s3://{}/{}", batch.planned.bucket, batch.planned.key),
                            "mandatory": true}]});
                        let key = format!("errors/manifests/{}", batch.planned.key);
                        self.ctx.stores.put(
                            &batch.planned.bucket,
                            &key,
                            Bytes::from(manifest.to_string()),
                            self.ctx.durable,
                        )?;
                        add(&c.redshift_skipped_batches, 1);
                        self.shared.set_error(Some(format!(
                            "COPY into {} skipped after its retry duration: {e}",
                            pg.table
                        )));
                        Ok(())
                    }
                }
            }
        }
    }

    /// Writes a given-up batch's records as error documents of `error_type`.
    fn write_failed(
        &self,
        batch: &Batch,
        seed: &[u8; 32],
        error_type: &str,
        code: &str,
        message: &str,
    ) -> Result<(), String> {
        let now = self.ctx.clock.now_ms();
        let mut body = Vec::new();
        for e in &batch.entries {
            body.extend(error_line(
                e.arrival_ms,
                &e.data,
                code,
                message,
                batch.attempts + 1,
                None,
                now,
            ));
        }
        let empty = BTreeMap::new();
        let offset = self.plan.time_zone.offset_at(batch.oldest_arrival_ms);
        let ctx = EvalContext {
            timestamp_ms: batch.oldest_arrival_ms,
            offset_seconds: offset,
            seed: *seed,
            error_output_type: Some(error_type),
            query_keys: &empty,
            lambda_keys: &empty,
        };
        let prefix = self
            .plan
            .error_prefix
            .evaluate(&ctx)
            .unwrap_or_else(|_| format!("{error_type}/"));
        let key = prefix::object_key(
            &prefix,
            &self.plan.name,
            self.plan.version,
            batch.oldest_arrival_ms,
            offset,
            seed,
            "",
        );
        self.ctx.stores.put(
            &self.plan.data.bucket,
            &key,
            Bytes::from(body),
            self.ctx.durable,
        )?;
        add(
            &self.shared.counters.error_records,
            batch.entries.len() as u64,
        );
        Ok(())
    }

    fn low_would_move(&self) -> bool {
        self.stage.records.is_empty()
            && self.buffers.is_empty()
            && self.replay.is_empty()
            && self
                .read_pos
                .iter()
                .any(|(s, p)| self.low.get(s) != Some(p))
    }

    fn update_gauges(&self) {
        let now_ms = self.ctx.clock.now_ms();
        let mut oldest_data = u64::MAX;
        let mut oldest_backup = u64::MAX;
        for r in &self.stage.records {
            oldest_data = oldest_data.min(r.arrival_ms);
        }
        for b in self.buffers.values() {
            match b.kind {
                Kind::Backup => oldest_backup = oldest_backup.min(b.oldest_arrival_ms),
                _ => oldest_data = oldest_data.min(b.oldest_arrival_ms),
            }
        }
        for b in &self.inflight {
            match b.kind {
                Kind::Backup => oldest_backup = oldest_backup.min(b.oldest_arrival_ms),
                _ => oldest_data = oldest_data.min(b.oldest_arrival_ms),
            }
        }
        let age = |oldest: u64| {
            if oldest == u64::MAX {
                0
            } else {
                now_ms.saturating_sub(oldest)
            }
        };
        let c = &self.shared.counters;
        set(&c.data_freshness_ms, age(oldest_data));
        set(&c.backup_freshness_ms, age(oldest_backup));
        set(
            &c.partition_count,
            self.buffers
                .values()
                .filter(|b| matches!(b.kind, Kind::Data { .. }))
                .count() as u64,
        );
    }

    /// The next engine time (monotonic ns) something is due, if any.
    fn next_deadline_ns(&self) -> Option<u64> {
        let mut next = u64::MAX;
        if let Some(l) = &self.plan.processing.lambda
            && !self.stage.records.is_empty()
        {
            let interval = l.buffer_interval_ms.min(self.plan.data.interval_ms);
            next = next.min(self.stage.opened_ns.saturating_add(interval * 1_000_000));
        }
        for b in self.buffers.values() {
            let (_, interval_ms, ..) = self.object_settings(&b.kind);
            next = next.min(b.opened_ns.saturating_add(interval_ms * 1_000_000));
        }
        for b in &self.inflight {
            next = next.min(b.next_attempt_ns);
        }
        if let Source::Kinesis { reader, .. } = &self.source
            && let Some(poll) = reader.next_poll_ns()
        {
            next = next.min(poll);
        }
        (next != u64::MAX).then_some(next)
    }

    fn sleep(&self, seen_puts: u64, idle_source: bool) {
        let now = self.now_ns();
        let wait = match self.next_deadline_ns() {
            Some(deadline) if deadline <= now => return,
            Some(deadline) => Duration::from_nanos(deadline - now).min(self.ctx.tick),
            None => self.ctx.tick,
        };
        if !idle_source {
            return;
        }
        self.shared.sleeping.store(true, Ordering::SeqCst);
        let woke = self.shared.put_count.load(Ordering::SeqCst) != seen_puts || {
            let c = self.shared.control();
            !c.flushes.is_empty() || c.stop != Stop::Run || c.plan.version != self.plan.version
        };
        if !woke {
            std::thread::park_timeout(wait);
        }
        self.shared.sleeping.store(false, Ordering::SeqCst);
    }
}

/// Bytes a record adds to a buffer of `kind` besides its data (the delimiter).
fn extra_bytes(plan: &DeliveryPlan, kind: &Kind) -> u64 {
    match (kind, &plan.processing.delimiter) {
        (Kind::Data { .. }, Some(d)) if !plan.data.delimiter_ignored => d.len() as u64,
        _ => 0,
    }
}

/// The size at which a buffer of `kind` is cut.
fn size_of(plan: &DeliveryPlan, kind: &Kind) -> u64 {
    match (kind, &plan.backup) {
        (Kind::Backup, Some(b)) => b.size_bytes,
        _ => plan.data.size_bytes,
    }
}

/// One error document (a line): AWS's fields for a record that failed.
fn error_line(
    arrival_ms: u64,
    raw: &[u8],
    code: &str,
    message: &str,
    attempts: u32,
    lambda_arn: Option<&str>,
    now_ms: u64,
) -> Vec<u8> {
    let mut doc = json!({
        "attemptsMade": attempts,
        "arrivalTimestamp": arrival_ms,
        "errorCode": code,
        "errorMessage": message,
        "attemptEndingTimestamp": now_ms,
        "rawData": base64::engine::general_purpose::STANDARD.encode(raw),
    });
    if let Some(arn) = lambda_arn {
        doc["lambdaArn"] = json!(arn);
    }
    let mut line = doc.to_string().into_bytes();
    line.push(b'\n');
    line
}
