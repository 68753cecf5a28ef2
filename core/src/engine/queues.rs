//! Kinesis queues: CreateQueue, DeleteQueue, DescribeQueue, ListQueues, UpdateQueue,
//! ReceiveQueueRecords, AcknowledgeQueueRecords, UpdateQueueRecordsVisibility, and the
//! dead-letter calls ReceiveDeadLetterQueueRecords, AcknowledgeDeadLetterQueueRecords,
//! RestoreDeadLetterQueueRecords, UpdateDeadLetterQueueRecordsVisibility. The state
//! and the bytes are in `crate::queue`; this file runs them against the streams.
//!
//! A queue delivers the records of one ON_DEMAND stream: each receive takes up to 10
//! visible records, makes them in flight for the visibility timeout, and hands out a
//! receipt handle per record. A record not acknowledged in time becomes visible again;
//! one received MaxReceiveCount times without an acknowledgement becomes a dead letter
//! (it stays in the queue; only the dead-letter calls see it) when it would next become
//! visible; restoring it clears that and its receive count.
//!
//! Rules kept here (times on the engine's clock):
//! - Receive order: per shard, the oldest visible record first (in-flight records that
//!   became visible again, then records beyond the shard's frontier); shards take
//!   turns, from a starting shard that moves on at each call. A child shard's records
//!   are delivered only once every parent is closed and read to its end (each of the
//!   parent's records has been delivered at least once, or expired).
//! - A queue never extends retention: records past the stream's retention are not
//!   delivered, and their handles fail with ResourceNotFound.
//! - Producers and other readers are untouched: a queue reads the logs directly,
//!   outside the shards' GetRecords budgets.
//! - Status: CREATING for `consumer_transition` after CreateQueue (no deliveries),
//!   UPDATING for as long after UpdateQueue (deliveries go on), DELETING for as long
//!   after DeleteQueue (calls find no queue), then gone. A stream with queues cannot
//!   be deleted, nor switched to PROVISIONED; queues count against the stream's
//!   registered-consumer limit.
//! - Every change is journaled before it is answered or applied (`crate::queue`); with
//!   `Durability::Sync` the journal is synced first. Bad input (a malformed or
//!   foreign handle, a value out of range) changes nothing for its entry; a call's
//!   arguments are checked whole before any entry is applied.
//! - Long polling waits on the shards' and the queue's notifications (a put, a close,
//!   an acknowledgement, a visibility change, a restore) and on the next visibility
//!   expiry, never by polling. The wait ends at the engine clock's deadline or after
//!   the wait's length of real time, whichever comes first (a `ManualClock` that does
//!   not move cannot hold a caller; a waiter does not wake when it moves).
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::admin::validate_tags;
use super::{Durability, Engine, StreamRuntime, lock};
use crate::error::{Error, ErrorKind, InvalidArgument, Result, Validation};
use crate::log::ReadBatch;
use crate::queue::format::{self, QUEUE_CATALOG_FILE, journal_file_name};
use crate::queue::{
    Delivery, DeliveryState, Entry, HandleError, LIST_QUEUES_MAX, MAX_RECEIVE_COUNT_DEFAULT,
    MAX_RECEIVE_COUNT_MAX, QUEUE_BATCH_MAX, QUEUES_MAX, QueueDefinition, QueueStart, ReceiptHandle,
    VISIBILITY_TIMEOUT_DEFAULT_S, VISIBILITY_TIMEOUT_MAX_S, WAIT_TIME_MAX_S,
};
use crate::stream::arn::{self, Resource};
use crate::stream::catalog::{
    ShardState, StreamMode, StreamRecord, StreamStatus, TAGS_PER_STREAM_MAX,
};
use crate::stream::names::{self, validate_stream_name};
use crate::stream::sequence::SeqParts;
use crate::stream::shard::{Notify, NotifyWaiter, ShardShared};

/// A journal is rewritten from its state once it is this large and four times the
/// snapshot's size.
const COMPACT_BYTES_MIN: u64 = 256 << 10;
/// Bytes of one snapshot frame, about (for the compaction rule).
const FRAME_BYTES_ABOUT: u64 = 54;

/// Dead-letter handling of a queue (Kinesis DeadLetterConfiguration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterConfig {
    /// TargetType BUILT_IN: a record received this many times without an
    /// acknowledgement becomes a dead letter.
    BuiltIn {
        /// MaxReceiveCount (1 to 1,000).
        max_receive_count: u32,
    },
    /// TargetType NONE: records are redelivered until acknowledged or expired.
    Disabled,
}

/// QueueAttributes: what CreateQueue sets and UpdateQueue changes (`None`: the
/// default at creation, unchanged at an update).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueAttributes {
    /// VisibilityTimeoutSeconds (0 to 43,200; default 30).
    pub visibility_timeout_s: Option<u32>,
    /// DeadLetterConfiguration (default BUILT_IN with MaxReceiveCount 6).
    pub dead_letter: Option<DeadLetterConfig>,
}

/// CreateQueue's parameters beyond the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateQueueOptions {
    /// The stream's ARN.
    pub stream_arn: String,
    /// Where delivery begins (Kinesis default: LATEST).
    pub start: QueueStart,
    /// Attributes.
    pub attributes: QueueAttributes,
    /// Tags (at most 50).
    pub tags: BTreeMap<String, String>,
}

impl CreateQueueOptions {
    /// A queue on the stream of `stream_arn` from LATEST, with default attributes.
    pub fn new(stream_arn: impl Into<String>) -> Self {
        Self {
            stream_arn: stream_arn.into(),
            start: QueueStart::Latest,
            attributes: QueueAttributes::default(),
            tags: BTreeMap::new(),
        }
    }
}

/// A queue's status (Kinesis QueueStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueStatus {
    /// Created, not delivering yet.
    Creating,
    /// Delivering.
    Active,
    /// Its attributes are changing; it still delivers.
    Updating,
    /// Deleted, going away; it delivers nothing.
    Deleting,
}

impl QueueStatus {
    /// The Kinesis name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Creating => "CREATING",
            Self::Active => "ACTIVE",
            Self::Updating => "UPDATING",
            Self::Deleting => "DELETING",
        }
    }
}

/// A queue as DescribeQueue, CreateQueue, UpdateQueue and ListQueues show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDescription {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Its status now.
    pub status: QueueStatus,
    /// When it was created, ms.
    pub created_ms: u64,
    /// The stream's name.
    pub stream: String,
    /// The stream's ARN.
    pub stream_arn: String,
    /// When the stream was created, ms.
    pub stream_created_ms: u64,
    /// Where delivery began.
    pub start: QueueStart,
    /// The starting position's time as Kinesis shows it: the timestamp given while
    /// CREATING (none for LATEST and TRIM_HORIZON), the effective start once ACTIVE.
    pub start_timestamp_ms: Option<u64>,
    /// VisibilityTimeoutSeconds.
    pub visibility_timeout_s: u32,
    /// Dead-letter handling.
    pub dead_letter: DeadLetterConfig,
}

/// A page of ListQueues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQueuesOutput {
    /// Queues in name order.
    pub queues: Vec<QueueDescription>,
    /// True if more queues follow the last one.
    pub has_more: bool,
}

/// ListQueues' StreamFilter entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStreamFilter {
    /// The stream's ARN.
    pub stream_arn: String,
    /// Only queues of the stream created at this time (ms), to tell a stream from a
    /// later one of the same name.
    pub stream_created_ms: Option<u64>,
}

/// ReceiveQueueRecords' and ReceiveDeadLetterQueueRecords' parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiveOptions {
    /// Most records (1 to 10; default 10).
    pub limit: Option<usize>,
    /// How long to wait for a record when none is visible (at most 20 s; zero: do not
    /// wait). The Kinesis API's default (9 s) is the caller's to apply.
    pub wait: Duration,
    /// The visibility timeout of the records returned (default: the queue's).
    pub visibility_timeout_s: Option<u32>,
}

/// A record delivered by a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    /// The handle to acknowledge it, change its visibility, or restore it with.
    pub receipt_handle: String,
    /// Its id: the same in every delivery and every queue (its sequence number).
    pub record_id: String,
    /// The shard it is in.
    pub shard_id: String,
    /// Its sequence number.
    pub sequence_number: u128,
    /// Its partition key.
    pub partition_key: String,
    /// Its data (decrypted if the stream is encrypted).
    pub data: Vec<u8>,
    /// When it arrived in the stream, ms.
    pub arrival_ms: u64,
    /// When the queue first delivered it, ms.
    pub first_receive_ms: u64,
    /// Receives since it was first delivered or last restored (this one included).
    pub receive_count: u32,
}

/// One entry of a batch call that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntryFailure {
    /// The handle given.
    pub receipt_handle: String,
    /// Why, by family (its Kinesis name is the entry's ErrorCode).
    pub kind: ErrorKind,
    /// Why, in words.
    pub message: String,
}

/// The answer of a batch call: each entry succeeded or failed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueBatchOutput {
    /// Handles of the entries that took effect, in request order.
    pub successful: Vec<String>,
    /// The entries that did not, in request order.
    pub failed: Vec<QueueEntryFailure>,
}

/// An entry of UpdateQueueRecordsVisibility (and its dead-letter twin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisibilityEntry {
    /// The record's receipt handle.
    pub receipt_handle: String,
    /// The new visibility timeout from now, seconds (0 to 43,200; 0: visible now).
    pub visibility_timeout_s: u32,
}

/// What one receipt-handle entry asks.
#[derive(Debug, Clone, Copy)]
enum EntryOp {
    Acknowledge,
    Visibility(u32),
    Restore,
}

/// The delivery side of a running queue, under its mutex.
#[derive(Debug, Default)]
pub(crate) struct QueueDelivery {
    state: DeliveryState,
    journal_bytes: u64,
    /// The journal must be rewritten from `state` before the next append (an append
    /// failed part way, or compaction is due).
    rewrite: bool,
    /// The shard the next receive starts with.
    turn: usize,
}

/// A running queue.
#[derive(Debug)]
pub(crate) struct QueueRuntime {
    pub id: u64,
    pub def: Mutex<QueueDefinition>,
    pub delivery: Mutex<QueueDelivery>,
    /// Moved by acknowledgements, visibility changes, restores, updates and deletes:
    /// wakes long polls.
    pub notify: Notify,
    pub journal: PathBuf,
}

/// The running queues by id.
pub(crate) type QueueMap = BTreeMap<u64, Arc<QueueRuntime>>;

/// A queue's status at `now_ms`; `None` once it is gone.
fn status_at(d: &QueueDefinition, now_ms: u64) -> Option<QueueStatus> {
    match d.gone_ms {
        Some(gone) if now_ms >= gone => None,
        Some(_) => Some(QueueStatus::Deleting),
        None if now_ms < d.active_ms => Some(QueueStatus::Creating),
        None if now_ms < d.updating_until_ms => Some(QueueStatus::Updating),
        None => Some(QueueStatus::Active),
    }
}

fn dead_letter_of(d: &QueueDefinition) -> DeadLetterConfig {
    match d.max_receive_count {
        Some(max_receive_count) => DeadLetterConfig::BuiltIn { max_receive_count },
        None => DeadLetterConfig::Disabled,
    }
}

fn shard_of(seq: u128) -> u32 {
    SeqParts::unpack(seq).shard_index
}

fn check_attributes(a: &QueueAttributes) -> Result<()> {
    if let Some(v) = a.visibility_timeout_s {
        check_visibility(v)?;
    }
    if let Some(DeadLetterConfig::BuiltIn { max_receive_count }) = a.dead_letter
        && !(1..=MAX_RECEIVE_COUNT_MAX).contains(&max_receive_count)
    {
        return Err(Validation::Argument(format!(
            "MaxReceiveCount {max_receive_count} is outside [1, {MAX_RECEIVE_COUNT_MAX}]"
        ))
        .into());
    }
    Ok(())
}

fn check_visibility(v: u32) -> Result<()> {
    if v > VISIBILITY_TIMEOUT_MAX_S {
        return Err(Validation::Argument(format!(
            "VisibilityTimeoutSeconds {v} is outside [0, {VISIBILITY_TIMEOUT_MAX_S}]"
        ))
        .into());
    }
    Ok(())
}

fn check_batch_len(what: &'static str, n: usize) -> Result<()> {
    if n == 0 || n > QUEUE_BATCH_MAX {
        return Err(Validation::ListLength {
            what,
            given: n,
            min: 1,
            max: QUEUE_BATCH_MAX,
        }
        .into());
    }
    Ok(())
}

/// A record picked for a receive.
enum Pick {
    /// Tracked (redelivery or dead letter): its sequence number.
    Tracked(u128),
    /// New: the batch it was read in and its index there.
    New(usize, usize),
}

impl Engine {
    fn queues_dir(&self) -> PathBuf {
        self.inner.config.data_dir.join("queues")
    }

    fn queue_sync(&self) -> bool {
        self.inner.config.durability == Durability::Sync
    }

    /// Opens the queues of the queue catalog (at engine open): replays each journal
    /// and rewrites it compacted; removes journals no queue owns.
    pub(crate) fn open_queues(&self) -> Result<()> {
        let storage = &self.inner.config.storage;
        let dir = self.queues_dir();
        let path = dir.join(QUEUE_CATALOG_FILE);
        let defs = match storage.read_file(&path) {
            Ok(bytes) => format::decode_catalog(&bytes).map_err(|problem| Error::QueueFile {
                path: path.clone(),
                problem,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("read queue catalog", path, e)),
        };
        let mut map = QueueMap::new();
        for def in defs {
            let journal = dir.join(journal_file_name(def.id));
            let bytes = storage
                .read_file(&journal)
                .map_err(|e| Error::io("read queue journal", &journal, e))?;
            let read =
                format::decode_journal(&bytes, def.id).map_err(|problem| Error::QueueFile {
                    path: journal.clone(),
                    problem,
                })?;
            let mut state = DeliveryState::default();
            for entry in &read.entries {
                state.apply(entry);
            }
            let runtime = Arc::new(QueueRuntime {
                id: def.id,
                def: Mutex::new(def),
                delivery: Mutex::new(QueueDelivery {
                    state,
                    ..QueueDelivery::default()
                }),
                notify: Notify::default(),
                journal,
            });
            {
                let mut g = lock(&runtime.delivery);
                self.rewrite_journal(&runtime, &mut g)?;
            }
            map.insert(runtime.id, runtime);
        }
        if let Ok(entries) = storage.list_dir(&dir) {
            for entry in entries {
                let Some(hex) = entry.name.strip_suffix(".journal") else {
                    continue;
                };
                let owned = u64::from_str_radix(hex, 16).is_ok_and(|id| map.contains_key(&id));
                if hex.len() == 16 && !owned {
                    let _ = storage.remove_file(&dir.join(&entry.name));
                }
            }
        }
        *lock(&self.inner.queues) = map;
        Ok(())
    }

    /// Writes the queue catalog with `defs` (atomic replace). Called under the commit
    /// lock.
    fn save_queue_catalog(&self, defs: &[QueueDefinition]) -> Result<()> {
        let storage = &self.inner.config.storage;
        let dir = self.queues_dir();
        storage
            .create_dir_all_durable(&dir)
            .map_err(|e| Error::io("create queue directory", &dir, e))?;
        let path = dir.join(QUEUE_CATALOG_FILE);
        storage
            .write_file_atomic(&path, &format::encode_catalog(defs))
            .map_err(|e| Error::io("write queue catalog", path, e))
    }

    fn queue_defs(&self) -> Vec<QueueDefinition> {
        lock(&self.inner.queues)
            .values()
            .map(|q| lock(&q.def).clone())
            .collect()
    }

    /// Rewrites a queue's journal as a snapshot of its state (atomic replace).
    fn rewrite_journal(&self, q: &QueueRuntime, g: &mut QueueDelivery) -> Result<()> {
        let mut bytes = format::journal_header(q.id);
        format::encode_entries(&g.state.snapshot(), &mut bytes);
        self.inner
            .config
            .storage
            .write_file_atomic(&q.journal, &bytes)
            .map_err(|e| Error::io("write queue journal", &q.journal, e))?;
        g.journal_bytes = bytes.len() as u64;
        g.rewrite = false;
        Ok(())
    }

    /// Journals `entries` and then applies them to the queue's state. On a failed
    /// write nothing is applied (and the journal is rewritten before the next change).
    fn journal_and_apply(
        &self,
        q: &QueueRuntime,
        g: &mut QueueDelivery,
        entries: &[Entry],
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        if g.rewrite {
            let before = g.state.clone();
            for e in entries {
                g.state.apply(e);
            }
            if let Err(e) = self.rewrite_journal(q, g) {
                g.state = before;
                return Err(e);
            }
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(entries.len() * FRAME_BYTES_ABOUT as usize);
        format::encode_entries(entries, &mut bytes);
        if let Err(e) = self
            .inner
            .config
            .storage
            .append_file(&q.journal, &bytes, self.queue_sync())
        {
            g.rewrite = true;
            return Err(Error::io("append to queue journal", &q.journal, e));
        }
        g.journal_bytes += bytes.len() as u64;
        for e in entries {
            g.state.apply(e);
        }
        let snapshot = (1 + g.state.frontier.len() + g.state.tracked.len()) as u64;
        if g.journal_bytes > COMPACT_BYTES_MIN && g.journal_bytes > 4 * snapshot * FRAME_BYTES_ABOUT
        {
            // The change is journaled already; a failed compaction is retried later.
            if self.rewrite_journal(q, g).is_err() {
                g.rewrite = true;
            }
        }
        Ok(())
    }

    /// The queue an ARN names (not gone, not DELETING).
    pub(crate) fn queue_by_arn(&self, text: &str) -> Result<Arc<QueueRuntime>> {
        self.check_open()?;
        let parsed = arn::parse(text).map_err(Validation::Arn)?;
        let Resource::Queue { id } = parsed.resource else {
            return Err(Validation::Argument(format!("{text:?} is not a queue ARN")).into());
        };
        let not_found = |why: &str| Error::QueueNotFound {
            queue: format!("{text}{why}"),
        };
        if parsed.scope != self.inner.config.arn_scope {
            return Err(not_found(" (another account or region)"));
        }
        let id = (id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| u64::from_str_radix(&id, 16).ok())
            .flatten()
            .ok_or_else(|| not_found(""))?;
        let q = lock(&self.inner.queues)
            .get(&id)
            .cloned()
            .ok_or_else(|| not_found(""))?;
        let now_ms = self.inner.config.clock.now_ms();
        let status = status_at(&lock(&q.def), now_ms);
        match status {
            None | Some(QueueStatus::Deleting) => Err(not_found(" (deleted)")),
            Some(_) => Ok(q),
        }
    }

    fn describe_def(&self, d: &QueueDefinition, status: QueueStatus) -> QueueDescription {
        let scope = &self.inner.config.arn_scope;
        let start_timestamp_ms = match (status, d.start) {
            (QueueStatus::Creating, QueueStart::AtTimestamp(ts)) => Some(ts),
            (QueueStatus::Creating, _) => None,
            _ => Some(d.effective_start_ms),
        };
        QueueDescription {
            name: d.name.clone(),
            arn: scope.queue_arn(d.id),
            status,
            created_ms: d.created_ms,
            stream: d.stream.clone(),
            stream_arn: scope.stream_arn(&d.stream),
            stream_created_ms: d.stream_created_ms,
            start: d.start,
            start_timestamp_ms,
            visibility_timeout_s: d.visibility_timeout_s,
            dead_letter: dead_letter_of(d),
        }
    }

    /// Queues on stream `stream_id` that are not gone (DELETING ones count).
    pub(crate) fn queue_count(&self, stream_id: u64, now_ms: u64) -> usize {
        lock(&self.inner.queues)
            .values()
            .filter(|q| {
                let d = lock(&q.def);
                d.stream_id == stream_id && status_at(&d, now_ms).is_some()
            })
            .count()
    }

    /// CreateQueue: a queue named `name` on the ON_DEMAND stream of `options.stream_arn`.
    /// The answer shows it CREATING; it is ACTIVE after `consumer_transition` (at
    /// once by default).
    pub fn create_queue(
        &self,
        name: &str,
        options: CreateQueueOptions,
    ) -> Result<QueueDescription> {
        self.check_open()?;
        validate_stream_name(name).map_err(|e| Validation::Argument(e.describe("queue name")))?;
        check_attributes(&options.attributes)?;
        validate_tags(&options.tags)?;
        if options.tags.len() > TAGS_PER_STREAM_MAX {
            return Err(Error::LimitExceeded {
                what: "tags on a queue",
                requested: options.tags.len() as u64,
                limit: TAGS_PER_STREAM_MAX as u64,
            });
        }
        let stream = self.resolve_stream_arn(&options.stream_arn)?;
        let now_ms = self.inner.config.clock.now_ms();
        let transition = self.inner.config.consumer_transition.as_millis() as u64;
        let _writer = lock(&self.inner.commit);
        let record: StreamRecord = lock(&self.inner.catalog)
            .stream(&stream)
            .cloned()
            .ok_or_else(|| Error::StreamNotFound {
                stream: stream.clone(),
            })?;
        if record.status != StreamStatus::Active {
            return Err(Error::StreamBusy {
                stream: stream.clone(),
                status: record.status,
                reason: "queues are created on ACTIVE streams",
            });
        }
        if record.settings.mode != StreamMode::OnDemand {
            return Err(Validation::Argument(format!(
                "stream {stream:?} is PROVISIONED: queues are supported only on ON_DEMAND streams"
            ))
            .into());
        }
        let mut defs = self.queue_defs();
        defs.retain(|d| status_at(d, now_ms).is_some());
        if let Some(existing) = defs.iter().find(|d| d.name == name) {
            return Err(Error::QueueInUse {
                queue: name.to_string(),
                reason: format!(
                    "a queue of this name exists ({})",
                    status_at(existing, now_ms).map_or("gone", |s| s.name())
                ),
            });
        }
        if defs.len() >= QUEUES_MAX {
            return Err(Error::LimitExceeded {
                what: "queues",
                requested: defs.len() as u64 + 1,
                limit: QUEUES_MAX as u64,
            });
        }
        let consumers = record
            .settings
            .consumers
            .iter()
            .filter(|c| c.gone_ms.is_none_or(|gone| gone > now_ms))
            .count();
        let queues = defs.iter().filter(|d| d.stream_id == record.id).count();
        let max = self.inner.config.consumers_per_stream_max;
        if consumers + queues >= max {
            return Err(Error::LimitExceeded {
                what: "consumers and queues registered on a stream",
                requested: (consumers + queues + 1) as u64,
                limit: max as u64,
            });
        }
        let runtime = self.stream(&stream)?;
        // The starting frontier of every shard with data (absent: its start).
        let mut entries = Vec::new();
        let horizon = runtime.retention.cutoff_ms(now_ms).max(record.created_ms);
        let effective_start_ms = match options.start {
            QueueStart::TrimHorizon => horizon,
            QueueStart::Latest => now_ms,
            QueueStart::AtTimestamp(ts) => ts.max(horizon),
        };
        for (&index, shard) in runtime.shards.load().iter() {
            let reader = &shard.reader;
            let next = match options.start {
                QueueStart::TrimHorizon => continue,
                QueueStart::Latest => reader.last_seq().map_or(0, |s| s.saturating_add(1)),
                QueueStart::AtTimestamp(ts) => match reader.seek_timestamp(ts) {
                    Some(seq) => seq,
                    None => reader.last_seq().map_or(0, |s| s.saturating_add(1)),
                },
            };
            if next > 0 {
                entries.push(Entry::Frontier { shard: index, next });
            }
        }
        let id = self.new_queue_id(name, now_ms, &defs);
        let def = QueueDefinition {
            id,
            name: name.to_string(),
            stream_id: record.id,
            stream: stream.clone(),
            stream_created_ms: record.created_ms,
            start: options.start,
            effective_start_ms,
            created_ms: now_ms,
            active_ms: now_ms + transition,
            updating_until_ms: 0,
            gone_ms: None,
            visibility_timeout_s: options
                .attributes
                .visibility_timeout_s
                .unwrap_or(VISIBILITY_TIMEOUT_DEFAULT_S),
            max_receive_count: match options.attributes.dead_letter {
                None => Some(MAX_RECEIVE_COUNT_DEFAULT),
                Some(DeadLetterConfig::BuiltIn { max_receive_count }) => Some(max_receive_count),
                Some(DeadLetterConfig::Disabled) => None,
            },
            tags: options.tags.clone(),
            policy: None,
        };
        let dir = self.queues_dir();
        self.inner
            .config
            .storage
            .create_dir_all_durable(&dir)
            .map_err(|e| Error::io("create queue directory", &dir, e))?;
        let mut state = DeliveryState::default();
        for e in &entries {
            state.apply(e);
        }
        let q = Arc::new(QueueRuntime {
            id,
            def: Mutex::new(def.clone()),
            delivery: Mutex::new(QueueDelivery {
                state,
                ..QueueDelivery::default()
            }),
            notify: Notify::default(),
            journal: dir.join(journal_file_name(id)),
        });
        // The journal first: a crash before the catalog write leaves a journal no
        // queue owns, which the next open removes.
        self.rewrite_journal(&q, &mut lock(&q.delivery))?;
        let mut all = self.queue_defs();
        all.push(def.clone());
        if let Err(e) = self.save_queue_catalog(&all) {
            let _ = self.inner.config.storage.remove_file(&q.journal);
            return Err(e);
        }
        lock(&self.inner.queues).insert(id, q);
        Ok(self.describe_def(&def, QueueStatus::Creating))
    }

    /// A fresh queue id: a keyed hash of the name and time, unused by any queue.
    fn new_queue_id(&self, name: &str, now_ms: u64, defs: &[QueueDefinition]) -> u64 {
        let key = blake3::derive_key("tidelog 2026 queue id", &self.inner.secret);
        let taken = lock(&self.inner.queues);
        for attempt in 0u64.. {
            let mut h = blake3::Hasher::new_keyed(&key);
            h.update(name.as_bytes());
            h.update(&now_ms.to_le_bytes());
            h.update(&attempt.to_le_bytes());
            let mut id_bytes = [0u8; 8];
            id_bytes.copy_from_slice(&h.finalize().as_bytes()[..8]);
            let id = u64::from_le_bytes(id_bytes);
            if !taken.contains_key(&id) && !defs.iter().any(|d| d.id == id) {
                return id;
            }
        }
        0
    }

    /// Changes a queue's definition under the commit lock: a copy is changed, the
    /// queue catalog written, then the copy installed.
    fn change_queue_def<R>(
        &self,
        q: &QueueRuntime,
        change: impl FnOnce(&mut QueueDefinition) -> Result<R>,
    ) -> Result<R> {
        let _writer = lock(&self.inner.commit);
        let mut def = lock(&q.def).clone();
        let out = change(&mut def)?;
        let mut all = self.queue_defs();
        for d in &mut all {
            if d.id == def.id {
                *d = def.clone();
            }
        }
        self.save_queue_catalog(&all)?;
        *lock(&q.def) = def;
        Ok(out)
    }

    /// DeleteQueue: the queue stops delivering at once and its receipt handles stop
    /// working; it is DELETING for `consumer_transition`, then gone (its journal
    /// removed).
    pub fn delete_queue(&self, queue_arn: &str) -> Result<()> {
        let q = self.queue_by_arn(queue_arn)?;
        let now_ms = self.inner.config.clock.now_ms();
        let transition = self.inner.config.consumer_transition.as_millis() as u64;
        self.change_queue_def(&q, |d| {
            if d.gone_ms.is_some() {
                return Err(Error::QueueNotFound {
                    queue: format!("{queue_arn} (deleted)"),
                });
            }
            d.gone_ms = Some(now_ms + transition);
            Ok(())
        })?;
        q.notify.notify();
        if transition == 0 {
            self.prune_queues()?;
        }
        Ok(())
    }

    /// Removes gone queues from the queue catalog and their journals (run by the
    /// maintenance thread); returns how many went.
    pub fn prune_queues(&self) -> Result<usize> {
        self.check_open()?;
        let now_ms = self.inner.config.clock.now_ms();
        let _writer = lock(&self.inner.commit);
        let gone: Vec<Arc<QueueRuntime>> = lock(&self.inner.queues)
            .values()
            .filter(|q| status_at(&lock(&q.def), now_ms).is_none())
            .cloned()
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        let keep: Vec<QueueDefinition> = self
            .queue_defs()
            .into_iter()
            .filter(|d| !gone.iter().any(|g| g.id == d.id))
            .collect();
        self.save_queue_catalog(&keep)?;
        let mut map = lock(&self.inner.queues);
        for q in &gone {
            map.remove(&q.id);
            let _ = self.inner.config.storage.remove_file(&q.journal);
            q.notify.notify();
        }
        Ok(gone.len())
    }

    /// DescribeQueue.
    pub fn describe_queue(&self, queue_arn: &str) -> Result<QueueDescription> {
        let q = self.queue_by_arn(queue_arn)?;
        let now_ms = self.inner.config.clock.now_ms();
        let d = lock(&q.def).clone();
        let status = status_at(&d, now_ms).ok_or_else(|| Error::QueueNotFound {
            queue: queue_arn.to_string(),
        })?;
        Ok(self.describe_def(&d, status))
    }

    /// ListQueues: at most `limit` (1 to 10,000; default 100) queues in name order
    /// after `exclusive_start_name`, only those on the streams of `filters` if any
    /// are given.
    pub fn list_queues(
        &self,
        limit: Option<usize>,
        exclusive_start_name: Option<&str>,
        filters: &[QueueStreamFilter],
    ) -> Result<ListQueuesOutput> {
        self.check_open()?;
        let limit = limit.unwrap_or(100);
        if limit == 0 || limit > LIST_QUEUES_MAX {
            return Err(Validation::ReadLimit {
                given: limit,
                max: LIST_QUEUES_MAX,
            }
            .into());
        }
        if filters.len() > LIST_QUEUES_MAX {
            return Err(Validation::ListLength {
                what: "StreamFilter",
                given: filters.len(),
                min: 1,
                max: LIST_QUEUES_MAX,
            }
            .into());
        }
        let mut wanted: Vec<(String, Option<u64>)> = Vec::with_capacity(filters.len());
        for f in filters {
            match self.resolve_stream_arn(&f.stream_arn) {
                Ok(stream) => wanted.push((stream, f.stream_created_ms)),
                Err(e) if e.kind() == ErrorKind::ResourceNotFound => {}
                Err(e) => return Err(e),
            }
        }
        let now_ms = self.inner.config.clock.now_ms();
        let mut queues: Vec<QueueDescription> = self
            .queue_defs()
            .iter()
            .filter(|d| {
                filters.is_empty()
                    || wanted.iter().any(|(s, created)| {
                        *s == d.stream && created.is_none_or(|c| c == d.stream_created_ms)
                    })
            })
            .filter(|d| exclusive_start_name.is_none_or(|start| d.name.as_str() > start))
            .filter_map(|d| Some(self.describe_def(d, status_at(d, now_ms)?)))
            .collect();
        queues.sort_by(|a, b| a.name.cmp(&b.name));
        let has_more = queues.len() > limit;
        queues.truncate(limit);
        Ok(ListQueuesOutput { queues, has_more })
    }

    /// UpdateQueue: changes the visibility timeout and/or the dead-letter handling
    /// (records in flight keep their timeouts). The queue is UPDATING for
    /// `consumer_transition` and keeps delivering.
    pub fn update_queue(
        &self,
        queue_arn: &str,
        attributes: QueueAttributes,
    ) -> Result<QueueDescription> {
        check_attributes(&attributes)?;
        let q = self.queue_by_arn(queue_arn)?;
        let now_ms = self.inner.config.clock.now_ms();
        let transition = self.inner.config.consumer_transition.as_millis() as u64;
        let def = self.change_queue_def(&q, |d| {
            match status_at(d, now_ms) {
                Some(QueueStatus::Active) => {}
                status => {
                    return Err(Error::QueueInUse {
                        queue: queue_arn.to_string(),
                        reason: format!(
                            "the queue is {}; it can be updated when ACTIVE",
                            status.map_or("gone", |s| s.name())
                        ),
                    });
                }
            }
            if let Some(v) = attributes.visibility_timeout_s {
                d.visibility_timeout_s = v;
            }
            match attributes.dead_letter {
                None => {}
                Some(DeadLetterConfig::BuiltIn { max_receive_count }) => {
                    d.max_receive_count = Some(max_receive_count);
                }
                Some(DeadLetterConfig::Disabled) => d.max_receive_count = None,
            }
            d.updating_until_ms = if transition > 0 {
                now_ms + transition
            } else {
                0
            };
            Ok(d.clone())
        })?;
        q.notify.notify();
        let status = status_at(&def, now_ms).unwrap_or(QueueStatus::Active);
        Ok(self.describe_def(
            &def,
            if transition > 0 {
                QueueStatus::Updating
            } else {
                status
            },
        ))
    }

    /// Tags of the queue an ARN names.
    pub(crate) fn queue_tags(&self, queue_arn: &str) -> Result<BTreeMap<String, String>> {
        let q = self.queue_by_arn(queue_arn)?;
        Ok(lock(&q.def).tags.clone())
    }

    /// Changes the tags or policy of the queue an ARN names (one catalog write).
    pub(crate) fn change_queue_resource(
        &self,
        queue_arn: &str,
        change: impl FnOnce(&mut BTreeMap<String, String>, &mut Option<String>) -> Result<()>,
    ) -> Result<()> {
        let q = self.queue_by_arn(queue_arn)?;
        self.change_queue_def(&q, |d| change(&mut d.tags, &mut d.policy))
    }

    /// The resource policy of the queue an ARN names.
    pub(crate) fn queue_policy(&self, queue_arn: &str) -> Result<Option<String>> {
        let q = self.queue_by_arn(queue_arn)?;
        Ok(lock(&q.def).policy.clone())
    }

    /// ReceiveQueueRecords: up to `limit` visible records, each in flight for the
    /// visibility timeout from now, waiting up to `wait` for one if none is visible.
    pub fn receive_queue_records(
        &self,
        queue_arn: &str,
        options: ReceiveOptions,
    ) -> Result<Vec<QueueRecord>> {
        self.receive(queue_arn, options, false)
    }

    /// ReceiveDeadLetterQueueRecords: as [`receive_queue_records`]
    /// (Self::receive_queue_records), for the queue's dead letters.
    pub fn receive_dead_letter_queue_records(
        &self,
        queue_arn: &str,
        options: ReceiveOptions,
    ) -> Result<Vec<QueueRecord>> {
        self.receive(queue_arn, options, true)
    }

    fn receive(
        &self,
        queue_arn: &str,
        options: ReceiveOptions,
        dead: bool,
    ) -> Result<Vec<QueueRecord>> {
        let limit = options.limit.unwrap_or(QUEUE_BATCH_MAX);
        if limit == 0 || limit > QUEUE_BATCH_MAX {
            return Err(Validation::ReadLimit {
                given: limit,
                max: QUEUE_BATCH_MAX,
            }
            .into());
        }
        if options.wait > Duration::from_secs(u64::from(WAIT_TIME_MAX_S)) {
            return Err(Validation::Argument(format!(
                "WaitTimeSeconds {} is outside [0, {WAIT_TIME_MAX_S}]",
                options.wait.as_secs_f64()
            ))
            .into());
        }
        if let Some(v) = options.visibility_timeout_s {
            check_visibility(v)?;
        }
        let q = self.queue_by_arn(queue_arn)?;
        let clock = Arc::clone(&self.inner.config.clock);
        let deadline_ms = clock
            .now_ms()
            .saturating_add(options.wait.as_millis() as u64);
        // The wait also ends after `wait` of real time, so a manual clock that does not
        // move cannot hold a caller forever.
        let real_deadline = std::time::Instant::now() + options.wait;
        let me = std::thread::current();
        loop {
            // Versions before looking: a change after this look moves one of them.
            let stream = self.queue_stream(&q)?;
            let shards: Vec<Arc<ShardShared>> = stream.shards.load().values().cloned().collect();
            let seen: Vec<u64> = std::iter::once(q.notify.version())
                .chain(shards.iter().map(|s| s.notify.version()))
                .collect();
            let records =
                self.try_receive(&q, &stream, limit, options.visibility_timeout_s, dead)?;
            let now_ms = clock.now_ms();
            let real_left = real_deadline.saturating_duration_since(std::time::Instant::now());
            if !records.is_empty() || now_ms >= deadline_ms || real_left.is_zero() {
                return Ok(records);
            }
            let moved = std::iter::once(&q.notify)
                .chain(shards.iter().map(|s| &s.notify))
                .zip(&seen)
                .any(|(n, &v)| n.register(NotifyWaiter::Thread(me.clone())) != v);
            if moved {
                continue;
            }
            let next_visible = lock(&q.delivery).state.next_visible_after(now_ms, dead);
            let until = next_visible.map_or(deadline_ms, |t| t.min(deadline_ms));
            let engine_left = Duration::from_millis(until.saturating_sub(now_ms).max(1));
            std::thread::park_timeout(engine_left.min(real_left));
            self.check_open()?;
        }
    }

    /// The running stream a queue reads.
    fn queue_stream(&self, q: &QueueRuntime) -> Result<Arc<StreamRuntime>> {
        let stream_id = lock(&q.def).stream_id;
        self.check_open()?;
        self.inner
            .streams
            .load()
            .by_id
            .get(&stream_id)
            .cloned()
            .ok_or(Error::Internal("a queue's stream is gone"))
    }

    /// Parents of each shard of the stream, from the catalog.
    fn parents(&self, stream: &str) -> HashMap<u32, Vec<u32>> {
        let data = lock(&self.inner.catalog);
        data.stream(stream)
            .map(|r| {
                r.shards
                    .iter()
                    .map(|s| {
                        (
                            s.index,
                            s.parent.into_iter().chain(s.adjacent_parent).collect(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Drops records past retention (or of expired shards) from the state, and turns
    /// records received MaxReceiveCount times that are visible again into dead
    /// letters (entries pushed to `entries` and applied to `work`).
    fn settle(
        work: &mut DeliveryState,
        entries: &mut Vec<Entry>,
        starts: &HashMap<u32, u128>,
        max_receive_count: Option<u32>,
        now_ms: u64,
    ) {
        work.tracked
            .retain(|seq, _| starts.get(&shard_of(*seq)).is_some_and(|&s| *seq >= s));
        let Some(max) = max_receive_count else {
            return;
        };
        let due: Vec<(u128, Delivery)> = work
            .tracked
            .iter()
            .filter(|(_, d)| !d.dead && d.visible_at_ms <= now_ms && d.receive_count >= max)
            .map(|(s, d)| (*s, *d))
            .collect();
        for (seq, d) in due {
            let entry = Entry::Deliver {
                seq,
                delivery: Delivery {
                    receipt: work.next_receipt,
                    visible_at_ms: now_ms,
                    dead: true,
                    ..d
                },
            };
            work.apply(&entry);
            entries.push(entry);
        }
    }

    /// The first sequence number still readable in each live shard.
    fn readable_starts(stream: &StreamRuntime, now_ms: u64) -> HashMap<u32, u128> {
        stream
            .shards
            .load()
            .iter()
            .filter(|(_, s)| s.state() != ShardState::Expired)
            .map(|(&i, s)| (i, Self::readable_start(s, now_ms)))
            .collect()
    }

    fn try_receive(
        &self,
        q: &QueueRuntime,
        stream: &Arc<StreamRuntime>,
        limit: usize,
        visibility_timeout_s: Option<u32>,
        dead: bool,
    ) -> Result<Vec<QueueRecord>> {
        let now_ms = self.inner.config.clock.now_ms();
        let def = lock(&q.def).clone();
        match status_at(&def, now_ms) {
            Some(QueueStatus::Active | QueueStatus::Updating) => {}
            Some(QueueStatus::Creating) => {
                return Err(InvalidArgument::Conflict(format!(
                    "queue {} is CREATING; it delivers records once ACTIVE",
                    def.name
                ))
                .into());
            }
            _ => {
                return Err(Error::QueueNotFound {
                    queue: format!("{} (deleted)", def.name),
                });
            }
        }
        let visibility_ms =
            u64::from(visibility_timeout_s.unwrap_or(def.visibility_timeout_s)) * 1000;
        let shards = stream.shards.load_full();
        let starts = Self::readable_starts(stream, now_ms);
        let parents = if dead {
            HashMap::new()
        } else {
            self.parents(&stream.name)
        };
        let read_bytes_max = self.inner.config.limits.read_bytes_per_call_max;
        let mut g = lock(&q.delivery);
        let mut work = g.state.clone();
        let mut entries = Vec::new();
        Self::settle(
            &mut work,
            &mut entries,
            &starts,
            def.max_receive_count,
            now_ms,
        );

        // Per live shard: its candidates, oldest first.
        let mut batches: Vec<(Arc<ShardShared>, ReadBatch)> = Vec::new();
        let mut lists: Vec<(u32, Vec<Pick>)> = Vec::new();
        for (&index, shard) in shards.iter() {
            if !starts.contains_key(&index) {
                continue;
            }
            let mut list: Vec<Pick> = work
                .tracked_in(index)
                .filter(|(_, d)| d.dead == dead && d.visible_at_ms <= now_ms)
                .take(limit)
                .map(|(seq, _)| Pick::Tracked(seq))
                .collect();
            let drained = |p: &u32| match shards.get(p) {
                None => true,
                Some(parent) if parent.state() == ShardState::Expired => true,
                Some(parent) => {
                    let next = work.next_seq(*p).max(starts.get(p).copied().unwrap_or(0));
                    parent.state() == ShardState::Closed
                        && parent.reader.last_seq().is_none_or(|last| next > last)
                }
            };
            let eligible = !dead && parents.get(&index).is_none_or(|ps| ps.iter().all(drained));
            if eligible && list.len() < limit {
                let mut batch = Self::read_shard(
                    shard,
                    work.next_seq(index),
                    now_ms,
                    limit - list.len(),
                    read_bytes_max,
                )?;
                if !batch.is_empty() {
                    self.decrypt_batch(stream, &shard.shard_id, &mut batch)?;
                    let b = batches.len();
                    list.extend((0..batch.len()).map(|i| Pick::New(b, i)));
                    batches.push((Arc::clone(shard), batch));
                }
            }
            if !list.is_empty() {
                lists.push((index, list));
            }
        }

        // Shards take turns, from a starting shard that moves on at each call.
        let mut picked: Vec<(u32, Pick)> = Vec::new();
        if !lists.is_empty() {
            let first = g.turn % lists.len();
            g.turn = g.turn.wrapping_add(1);
            lists.rotate_left(first);
            let mut iters: Vec<(u32, std::vec::IntoIter<Pick>)> =
                lists.into_iter().map(|(i, l)| (i, l.into_iter())).collect();
            'rounds: loop {
                let mut any = false;
                for (index, it) in &mut iters {
                    if picked.len() == limit {
                        break 'rounds;
                    }
                    if let Some(p) = it.next() {
                        picked.push((*index, p));
                        any = true;
                    }
                }
                if !any {
                    break;
                }
            }
        }

        let mut out = Vec::with_capacity(picked.len());
        let mut frontier: BTreeMap<u32, u128> = BTreeMap::new();
        for (index, pick) in picked {
            let (seq, arrival_ms, key, data, previous) = match pick {
                Pick::New(b, i) => {
                    let Some(r) = batches[b].1.get(i) else {
                        continue;
                    };
                    let next = frontier.entry(index).or_insert(0);
                    *next = (*next).max(r.seq.saturating_add(1));
                    (r.seq, r.timestamp_ms, r.key.to_vec(), r.data.to_vec(), None)
                }
                Pick::Tracked(seq) => {
                    let Some(shard) = shards.get(&index) else {
                        continue;
                    };
                    let mut one = Self::read_shard(shard, seq, now_ms, 1, read_bytes_max)?;
                    if one.get(0).is_none_or(|r| r.seq != seq) {
                        // Not readable any more (retention moved on): forget it.
                        let entry = Entry::Forget { seq };
                        work.apply(&entry);
                        entries.push(entry);
                        continue;
                    }
                    self.decrypt_batch(stream, &shard.shard_id, &mut one)?;
                    let Some(r) = one.get(0) else { continue };
                    let previous = work.tracked.get(&seq).copied();
                    (
                        r.seq,
                        r.timestamp_ms,
                        r.key.to_vec(),
                        r.data.to_vec(),
                        previous,
                    )
                }
            };
            let delivery = Delivery {
                receipt: work.next_receipt,
                receive_count: previous.map_or(0, |d| d.receive_count).saturating_add(1),
                visible_at_ms: now_ms.saturating_add(visibility_ms),
                first_receive_ms: previous.map_or(now_ms, |d| d.first_receive_ms),
                dead,
            };
            let entry = Entry::Deliver { seq, delivery };
            work.apply(&entry);
            entries.push(entry);
            out.push(QueueRecord {
                receipt_handle: ReceiptHandle {
                    queue_id: q.id,
                    seq,
                    receipt: delivery.receipt,
                    dead,
                }
                .encode(&self.inner.secret),
                record_id: seq.to_string(),
                shard_id: names::shard_id(index),
                sequence_number: seq,
                partition_key: String::from_utf8_lossy(&key).into_owned(),
                data,
                arrival_ms,
                first_receive_ms: delivery.first_receive_ms,
                receive_count: delivery.receive_count,
            });
        }
        for (shard, next) in frontier {
            let entry = Entry::Frontier { shard, next };
            work.apply(&entry);
            entries.push(entry);
        }
        // Records dropped for retention need no entry: they stay past retention.
        self.journal_and_apply(q, &mut g, &entries)?;
        g.state
            .tracked
            .retain(|seq, _| work.tracked.contains_key(seq));
        Ok(out)
    }

    /// AcknowledgeQueueRecords: the records of these handles are not delivered again.
    pub fn acknowledge_queue_records(
        &self,
        queue_arn: &str,
        receipt_handles: &[String],
    ) -> Result<QueueBatchOutput> {
        self.acknowledge(queue_arn, receipt_handles, false)
    }

    /// AcknowledgeDeadLetterQueueRecords: the dead letters of these handles are
    /// discarded.
    pub fn acknowledge_dead_letter_queue_records(
        &self,
        queue_arn: &str,
        receipt_handles: &[String],
    ) -> Result<QueueBatchOutput> {
        self.acknowledge(queue_arn, receipt_handles, true)
    }

    /// Acknowledges records (`dead_letters`: dead letters) by their handles.
    fn acknowledge(
        &self,
        queue_arn: &str,
        receipt_handles: &[String],
        dead_letters: bool,
    ) -> Result<QueueBatchOutput> {
        check_batch_len("Entries", receipt_handles.len())?;
        let ops: Vec<(&str, EntryOp)> = receipt_handles
            .iter()
            .map(|h| (h.as_str(), EntryOp::Acknowledge))
            .collect();
        self.entry_ops(queue_arn, &ops, dead_letters)
    }

    /// UpdateQueueRecordsVisibility: each record is in flight for its new timeout from
    /// now (0: visible at once).
    pub fn update_queue_records_visibility(
        &self,
        queue_arn: &str,
        entries: &[VisibilityEntry],
    ) -> Result<QueueBatchOutput> {
        self.visibility_ops(queue_arn, entries, false)
    }

    /// UpdateDeadLetterQueueRecordsVisibility: as
    /// [`update_queue_records_visibility`](Self::update_queue_records_visibility),
    /// for dead letters.
    pub fn update_dead_letter_queue_records_visibility(
        &self,
        queue_arn: &str,
        entries: &[VisibilityEntry],
    ) -> Result<QueueBatchOutput> {
        self.visibility_ops(queue_arn, entries, true)
    }

    fn visibility_ops(
        &self,
        queue_arn: &str,
        entries: &[VisibilityEntry],
        dead: bool,
    ) -> Result<QueueBatchOutput> {
        check_batch_len("Entries", entries.len())?;
        for e in entries {
            check_visibility(e.visibility_timeout_s)?;
        }
        let ops: Vec<(&str, EntryOp)> = entries
            .iter()
            .map(|e| {
                (
                    e.receipt_handle.as_str(),
                    EntryOp::Visibility(e.visibility_timeout_s),
                )
            })
            .collect();
        self.entry_ops(queue_arn, &ops, dead)
    }

    /// RestoreDeadLetterQueueRecords: the dead letters of these handles go back to the
    /// queue, visible at once, their receive counts reset.
    pub fn restore_dead_letter_queue_records(
        &self,
        queue_arn: &str,
        receipt_handles: &[String],
    ) -> Result<QueueBatchOutput> {
        check_batch_len("Entries", receipt_handles.len())?;
        let ops: Vec<(&str, EntryOp)> = receipt_handles
            .iter()
            .map(|h| (h.as_str(), EntryOp::Restore))
            .collect();
        self.entry_ops(queue_arn, &ops, true)
    }

    /// Applies receipt-handle entries one by one (each succeeds or fails alone), then
    /// journals what succeeded in one write.
    fn entry_ops(
        &self,
        queue_arn: &str,
        ops: &[(&str, EntryOp)],
        dead: bool,
    ) -> Result<QueueBatchOutput> {
        let q = self.queue_by_arn(queue_arn)?;
        let stream = self.queue_stream(&q)?;
        let now_ms = self.inner.config.clock.now_ms();
        let max_receive_count = lock(&q.def).max_receive_count;
        let starts = Self::readable_starts(&stream, now_ms);
        let mut g = lock(&q.delivery);
        let mut work = g.state.clone();
        let mut entries = Vec::new();
        Self::settle(&mut work, &mut entries, &starts, max_receive_count, now_ms);
        let mut out = QueueBatchOutput::default();
        let (this_kind, other_calls) = if dead {
            (
                "a dead-letter",
                "ReceiveQueueRecords' handles go to the other calls",
            )
        } else {
            ("an", "dead-letter handles go to the dead-letter calls")
        };
        for &(text, op) in ops {
            let fail = |kind: ErrorKind, message: String| QueueEntryFailure {
                receipt_handle: text.to_string(),
                kind,
                message,
            };
            let h = match ReceiptHandle::decode(text, &self.inner.secret) {
                Ok(h) => h,
                Err(e @ (HandleError::Malformed | HandleError::Forged)) => {
                    out.failed
                        .push(fail(ErrorKind::InvalidArgument, e.to_string()));
                    continue;
                }
            };
            if h.queue_id != q.id {
                out.failed.push(fail(
                    ErrorKind::InvalidArgument,
                    "the receipt handle was issued by another queue".to_string(),
                ));
                continue;
            }
            if h.dead != dead {
                out.failed.push(fail(
                    ErrorKind::InvalidArgument,
                    format!("not {this_kind} receipt handle: {other_calls}"),
                ));
                continue;
            }
            let Some(d) = work.tracked.get(&h.seq).copied() else {
                out.failed.push(fail(
                    ErrorKind::ResourceNotFound,
                    "the record is no longer in the queue (acknowledged, or past the stream's retention)"
                        .to_string(),
                ));
                continue;
            };
            if d.receipt != h.receipt {
                let why = if d.dead && !h.dead {
                    "the receipt handle expired: the record has become a dead letter"
                } else if !d.dead && h.dead {
                    "the receipt handle expired: the record was restored"
                } else {
                    "the receipt handle expired: the record was received again since"
                };
                out.failed
                    .push(fail(ErrorKind::InvalidArgument, why.to_string()));
                continue;
            }
            let entry = match op {
                EntryOp::Acknowledge => Entry::Forget { seq: h.seq },
                EntryOp::Visibility(s) => Entry::Deliver {
                    seq: h.seq,
                    delivery: Delivery {
                        visible_at_ms: now_ms.saturating_add(u64::from(s) * 1000),
                        ..d
                    },
                },
                EntryOp::Restore => Entry::Deliver {
                    seq: h.seq,
                    delivery: Delivery {
                        receipt: work.next_receipt,
                        receive_count: 0,
                        visible_at_ms: now_ms,
                        dead: false,
                        ..d
                    },
                },
            };
            work.apply(&entry);
            entries.push(entry);
            out.successful.push(text.to_string());
        }
        self.journal_and_apply(&q, &mut g, &entries)?;
        g.state
            .tracked
            .retain(|seq, _| work.tracked.contains_key(seq));
        drop(g);
        q.notify.notify();
        Ok(out)
    }
}
