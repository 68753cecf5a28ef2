//! Sources: where a delivery stream's records come from, read in order per shard and
//! handed out zero-copy (each record's bytes stay in the engine's mapped log).
//!
//! - [`DirectSource`]: a DirectPut delivery stream's durable buffer, a one-shard stream
//!   in Firehose's buffer engine.
//! - [`KinesisReader`]: every shard of a tidelog stream, following splits and merges: a
//!   child shard is read only after each of its parents has been read to its end (in
//!   this run, or recorded as finished in the checkpoint), so per-key order survives
//!   resharding. It reads with GetRecords, so the stream's read limits apply; a throttled
//!   or empty shard is polled again after `poll_interval` on the engine's clock.
//!
//! Invariant: `read` never returns a record twice in one run, and never skips one:
//! positions advance only past records returned.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use tidelog::log::RecordView;
use tidelog::{Engine, ErrorKind, StartingPosition};

use crate::error::Result;

/// The only shard of a DirectPut buffer.
pub const DIRECT_SHARD: &str = "shardId-000000000000";

/// One record read from a source.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    /// The shard it came from.
    pub shard: Arc<str>,
    /// Its sequence number.
    pub seq: u128,
    /// Its arrival time, ms.
    pub arrival_ms: u64,
    /// Its data (zero-copy).
    pub data: Bytes,
    /// Its partition key (Kinesis sources).
    pub partition_key: Option<String>,
}

struct ViewData(RecordView);

impl AsRef<[u8]> for ViewData {
    fn as_ref(&self) -> &[u8] {
        self.0.data()
    }
}

fn to_records(
    shard: &Arc<str>,
    out: &tidelog::GetRecordsOutput,
    with_key: bool,
) -> Vec<SourceRecord> {
    (0..out.records.len())
        .filter_map(|i| out.records.view(i))
        .map(|view| SourceRecord {
            shard: Arc::clone(shard),
            seq: view.seq(),
            arrival_ms: view.timestamp_ms(),
            partition_key: with_key.then(|| String::from_utf8_lossy(view.key()).into_owned()),
            data: Bytes::from_owner(ViewData(view)),
        })
        .collect()
}

/// What one read found.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    /// The records, in order per shard.
    pub records: Vec<SourceRecord>,
    /// True if nothing more is readable now.
    pub caught_up: bool,
    /// Shards read to their end in this read.
    pub ended: Vec<String>,
    /// Largest MillisBehindLatest seen.
    pub millis_behind: u64,
}

/// A DirectPut delivery stream's buffer.
#[derive(Debug)]
pub struct DirectSource {
    engine: Engine,
    stream: String,
    shard: Arc<str>,
    iterator: Option<String>,
    last_read: Option<u128>,
}

impl DirectSource {
    /// Reads `stream` after `low` (from its start if `None`).
    pub fn new(engine: Engine, stream: String, low: Option<u128>) -> Self {
        Self {
            engine,
            stream,
            shard: Arc::from(DIRECT_SHARD),
            iterator: None,
            last_read: low,
        }
    }

    /// Reads up to `max_records`.
    pub fn read(&mut self, max_records: usize) -> Result<ReadOutcome> {
        for attempt in 0..2 {
            let iterator = match &self.iterator {
                Some(it) => it.clone(),
                None => {
                    let position = match self.last_read {
                        // `At` the next number: a checkpointed position may sit just below the
                        // first record of an epoch, which is no sequence number of this shard.
                        Some(seq) => StartingPosition::AtSequenceNumber(seq.saturating_add(1)),
                        None => StartingPosition::TrimHorizon,
                    };
                    let it =
                        self.engine
                            .get_shard_iterator(&self.stream, DIRECT_SHARD, position)?;
                    self.iterator = Some(it.clone());
                    it
                }
            };
            match self
                .engine
                .get_records(&iterator, Some(max_records.clamp(1, 10_000)))
            {
                Ok(out) => {
                    let records = to_records(&self.shard, &out, false);
                    if let Some(last) = records.last() {
                        self.last_read = Some(last.seq);
                    }
                    self.iterator = out.next_shard_iterator.clone();
                    return Ok(ReadOutcome {
                        caught_up: records.len() < max_records,
                        records,
                        ended: Vec::new(),
                        millis_behind: out.millis_behind_latest,
                    });
                }
                Err(e) if e.kind() == ErrorKind::ExpiredIterator && attempt == 0 => {
                    self.iterator = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(ReadOutcome {
            caught_up: true,
            ..ReadOutcome::default()
        })
    }
}

#[derive(Debug)]
struct Cursor {
    iterator: Option<String>,
    last_read: Option<u128>,
    next_poll_ns: u64,
}

/// Reads every shard of a tidelog stream in lineage order.
#[derive(Debug)]
pub struct KinesisReader {
    engine: Engine,
    stream: String,
    /// Where shards without a position start: TrimHorizon, or AtTimestamp(the delivery
    /// start) for LATEST.
    start: StartingPosition,
    poll_interval_ns: u64,
    cursors: BTreeMap<String, Cursor>,
    /// Positions from the checkpoint, for shards not yet opened.
    resume: BTreeMap<String, u128>,
    /// Read to the end (this run) or finished (checkpoint).
    drained: BTreeSet<String>,
    names: BTreeMap<String, Arc<str>>,
    refresh_due: bool,
    /// Copy each record's partition key into [`SourceRecord::partition_key`] (only a
    /// transform reads it; without one it would be a string per record for nothing).
    pub keys: bool,
}

impl KinesisReader {
    /// A reader of `stream` resuming from `low`, with `finished` shards already read.
    pub fn new(
        engine: Engine,
        stream: String,
        start: StartingPosition,
        poll_interval_ns: u64,
        low: BTreeMap<String, u128>,
        finished: BTreeSet<String>,
    ) -> Self {
        Self {
            engine,
            stream,
            start,
            poll_interval_ns,
            cursors: BTreeMap::new(),
            resume: low,
            drained: finished,
            names: BTreeMap::new(),
            refresh_due: true,
            keys: true,
        }
    }

    /// The shards read to their end (this run or earlier).
    pub fn drained(&self) -> &BTreeSet<String> {
        &self.drained
    }

    /// The last position read per open cursor.
    pub fn positions(&self) -> impl Iterator<Item = (&str, Option<u128>)> {
        self.cursors.iter().map(|(k, c)| (k.as_str(), c.last_read))
    }

    /// Opens cursors on shards whose parents are all drained.
    fn refresh(&mut self) -> Result<()> {
        let description = self.engine.describe_stream(&self.stream)?;
        let listed: BTreeSet<&str> = description
            .shards
            .iter()
            .map(|s| s.shard_id.as_str())
            .collect();
        for shard in &description.shards {
            let id = &shard.shard_id;
            if self.cursors.contains_key(id) || self.drained.contains(id) {
                continue;
            }
            let parents_done = [&shard.parent_shard_id, &shard.adjacent_parent_shard_id]
                .into_iter()
                .flatten()
                .all(|p| self.drained.contains(p) || !listed.contains(p.as_str()));
            if parents_done {
                self.cursors.insert(
                    id.clone(),
                    Cursor {
                        iterator: None,
                        last_read: self.resume.get(id).copied(),
                        next_poll_ns: 0,
                    },
                );
                self.names.insert(id.clone(), Arc::from(id.as_str()));
            }
        }
        // Forget drained shards that expired (no longer listed).
        self.drained.retain(|s| listed.contains(s.as_str()));
        self.refresh_due = false;
        Ok(())
    }

    /// Reads the shards that are due, up to `max_records` in all.
    pub fn read(&mut self, max_records: usize, now_ns: u64) -> Result<ReadOutcome> {
        if self.refresh_due {
            self.refresh()?;
        }
        let mut outcome = ReadOutcome {
            caught_up: true,
            ..ReadOutcome::default()
        };
        let ids: Vec<String> = self.cursors.keys().cloned().collect();
        for id in ids {
            if outcome.records.len() >= max_records {
                outcome.caught_up = false;
                break;
            }
            let Some(cursor) = self.cursors.get_mut(&id) else {
                continue;
            };
            if cursor.next_poll_ns > now_ns {
                continue;
            }
            let iterator = match &cursor.iterator {
                Some(it) => it.clone(),
                None => {
                    let position = match cursor.last_read {
                        // `At` the next number: a checkpointed position may sit just below the
                        // first record of an epoch, which is no sequence number of this shard.
                        Some(seq) => StartingPosition::AtSequenceNumber(seq.saturating_add(1)),
                        None => self.start,
                    };
                    match self.engine.get_shard_iterator(&self.stream, &id, position) {
                        Ok(it) => {
                            cursor.iterator = Some(it.clone());
                            it
                        }
                        Err(e) if e.kind() == ErrorKind::ResourceNotFound => {
                            // Expired meanwhile: nothing more to read there.
                            self.cursors.remove(&id);
                            self.drained.insert(id.clone());
                            outcome.ended.push(id);
                            self.refresh_due = true;
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            let want = (max_records - outcome.records.len()).clamp(1, 10_000);
            match self.engine.get_records(&iterator, Some(want)) {
                Ok(out) => {
                    let name = Arc::clone(&self.names[&id]);
                    let records = to_records(&name, &out, self.keys);
                    if let Some(last) = records.last() {
                        cursor.last_read = Some(last.seq);
                    }
                    outcome.millis_behind = outcome.millis_behind.max(out.millis_behind_latest);
                    if records.len() < want {
                        cursor.next_poll_ns = now_ns.saturating_add(self.poll_interval_ns);
                    } else {
                        outcome.caught_up = false;
                    }
                    cursor.iterator = out.next_shard_iterator;
                    outcome.records.extend(records);
                    if cursor.iterator.is_none() {
                        self.cursors.remove(&id);
                        self.drained.insert(id.clone());
                        outcome.ended.push(id);
                        self.refresh_due = true;
                        outcome.caught_up = false;
                    }
                }
                Err(e) if e.kind() == ErrorKind::ProvisionedThroughputExceeded => {
                    cursor.next_poll_ns = now_ns.saturating_add(self.poll_interval_ns);
                }
                Err(e) if e.kind() == ErrorKind::ExpiredIterator => {
                    cursor.iterator = None;
                    outcome.caught_up = false;
                }
                Err(e) if e.kind() == ErrorKind::ResourceNotFound => {
                    self.cursors.remove(&id);
                    self.drained.insert(id.clone());
                    outcome.ended.push(id);
                    self.refresh_due = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(outcome)
    }

    /// The engine time (monotonic ns) of the next poll due, if any cursor waits.
    pub fn next_poll_ns(&self) -> Option<u64> {
        self.cursors.values().map(|c| c.next_poll_ns).min()
    }
}
