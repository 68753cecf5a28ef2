//! Writes: PutRecord and PutRecords. Validation and routing happen on the caller's
//! thread (MD5 of the key, binary search of the open shards' ranges); the append happens
//! on the shard's core. A put that reaches a shard that closed meanwhile (a reshard)
//! comes back untouched and is routed again against the new ranges, so no record is
//! written to a closed shard and none is lost. A stream whose record distribution is
//! AUTO ignores the keys and deals its records to the open shards in turn.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Durability, Engine, StreamRuntime};
use crate::error::{Error, Result, Validation};
use crate::log::validate_key;
use crate::runtime::core::{PutBatch, PutReply, Request};
use crate::runtime::reply::{self, Pending};
use crate::stream::catalog::{RecordDistribution, StreamStatus};
use crate::stream::hashkey::{Routing, hash_key, parse_hash_key};
use crate::stream::names;
use crate::stream::sequence::parse_sequence_number;
use crate::stream::shard::ShardShared;

/// How long a put waits for the new routing after its shard closed under it (a reshard
/// commits in milliseconds; this bounds a stuck one).
const REROUTE_WAIT: Duration = Duration::from_secs(10);
/// Pause between looks at the routing table while it has not changed yet.
const REROUTE_POLL: Duration = Duration::from_micros(50);

/// The biggest batch a thread keeps for its next put (bytes of keys and data): a
/// thread that once put a large record does not hold its buffer for good.
const SPARE_BATCH_BYTES_MAX: usize = 64 * 1024;

thread_local! {
    /// The last one-record batch that came back to this thread, emptied, for its next
    /// put: the buffers go between this thread and the cores and are not allocated per
    /// put (see [`PutBatch`]).
    static SPARE_BATCH: std::cell::Cell<Option<PutBatch>> = const { std::cell::Cell::new(None) };
}

/// A batch for one record: this thread's spare if it has one, else a new one.
fn one_record_batch(
    key: &str,
    data: &[u8],
    seq_for_ordering: Option<u128>,
    sealer: Option<Arc<crate::crypto::RecordCipher>>,
) -> PutBatch {
    let mut batch = match SPARE_BATCH.with(std::cell::Cell::take) {
        Some(mut spare) => {
            spare.recycle(sealer);
            spare.reserve(1, key.len() + data.len());
            spare
        }
        None => PutBatch::with_capacity(1, key.len() + data.len(), sealer),
    };
    batch.push(key, data, seq_for_ordering);
    batch
}

/// Keeps `batch` (back from a core) as this thread's spare, if it is not too big.
fn keep_spare(mut batch: PutBatch) {
    if batch.capacity() <= SPARE_BATCH_BYTES_MAX {
        batch.recycle(None);
        SPARE_BATCH.with(|spare| spare.set(Some(batch)));
    }
}

/// Options of a put.
#[derive(Debug, Clone, Copy, Default)]
pub struct PutOptions<'a> {
    /// Decimal hash key that overrides the partition key's MD5.
    pub explicit_hash_key: Option<&'a str>,
    /// The new record's sequence number must be above this one (PutRecord only).
    pub sequence_number_for_ordering: Option<&'a str>,
    /// Override the engine's default durability for this call.
    pub durability: Option<Durability>,
}

/// PutRecord's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordOutput {
    /// The shard the record went to.
    pub shard_id: String,
    /// Its sequence number.
    pub sequence_number: u128,
    /// True if it was stored encrypted (Kinesis's EncryptionType KMS).
    pub encrypted: bool,
}

/// One entry of PutRecords.
#[derive(Debug, Clone, Copy)]
pub struct PutRecordsEntry<'a> {
    /// Partition key.
    pub partition_key: &'a str,
    /// Data blob.
    pub data: &'a [u8],
    /// Decimal hash key that overrides the partition key's MD5.
    pub explicit_hash_key: Option<&'a str>,
}

/// PutRecords' answer: one result per entry, in order.
#[derive(Debug)]
pub struct PutRecordsOutput {
    /// Entries that failed.
    pub failed_record_count: usize,
    /// Per entry: where it went, or why it failed (others are unaffected).
    pub records: Vec<Result<PutRecordOutput>>,
}

trait WaitWith<T> {
    fn wait_with(self, engine: &Engine, spin: Duration) -> Result<T>;
}

impl<T> WaitWith<T> for Pending<T> {
    fn wait_with(self, engine: &Engine, spin: Duration) -> Result<T> {
        engine.wait_reply(self, spin)
    }
}

/// A PutRecords call that passed validation.
struct ValidatedPut {
    runtime: Arc<StreamRuntime>,
    /// Each entry's hash key, in the call's order.
    hashes: Vec<u128>,
    sealer: Option<Arc<crate::crypto::RecordCipher>>,
}

/// A PutRecords sends a shard's entries to its core once this many have gathered...
const CHUNK_RECORDS: usize = 128;
/// ...or this many bytes of keys and data, whichever comes first. Small enough that
/// the core starts appending early in a 500-record call and the caller's copying
/// overlaps its appends; large enough that a chunk's send, reply and `pwritev` stay
/// a small share of its cost.
const CHUNK_BYTES: usize = 128 * 1024;

/// Entries of one shard on their way to its core, with where each came from.
struct Chunk {
    /// The entries' positions in the call.
    members: Vec<usize>,
    batch: PutBatch,
    /// The shard's `openings` when the call first routed to it (every chunk of the
    /// call for that shard carries the same).
    openings: u64,
}

/// The chunks being filled, one per (shard, core) the call reaches so far.
struct Chunks {
    open: Vec<((u32, usize), Chunk)>,
    /// Where each target's chunk is in `open` (looked up only when an entry goes
    /// somewhere else than the one before it: a call over many shards stays
    /// O(entries), not O(entries × shards)).
    slots: HashMap<(u32, usize), usize>,
    /// The slot the previous entry went to.
    last: Option<usize>,
    sealer: Option<Arc<crate::crypto::RecordCipher>>,
}

impl Chunks {
    fn new(sealer: Option<Arc<crate::crypto::RecordCipher>>) -> Self {
        Self {
            open: Vec::new(),
            slots: HashMap::new(),
            last: None,
            sealer,
        }
    }

    /// Adds entry `i` for `target` (`openings` reads the shard's count, the first time
    /// the call reaches it; `left` counts this entry and those after it in the round);
    /// returns the chunk if that filled it.
    fn add(
        &mut self,
        target: (u32, usize),
        openings: impl FnOnce() -> u64,
        i: usize,
        entry: &PutRecordsEntry<'_>,
        left: usize,
    ) -> Option<Chunk> {
        let record_bytes = entry.partition_key.len() + entry.data.len();
        let slot = match self.last.filter(|&s| self.open[s].0 == target) {
            Some(slot) => slot,
            None => match self.slots.get(&target) {
                Some(&slot) => slot,
                None => {
                    // The first shard a call reaches usually takes most of it: room for
                    // a full chunk of records like this one. Others start empty.
                    let records = if self.open.is_empty() {
                        left.min(CHUNK_RECORDS)
                    } else {
                        0
                    };
                    let chunk = self.empty_chunk(openings(), records, record_bytes);
                    self.open.push((target, chunk));
                    self.slots.insert(target, self.open.len() - 1);
                    self.open.len() - 1
                }
            },
        };
        self.last = Some(slot);
        let chunk = &mut self.open[slot].1;
        chunk.members.push(i);
        chunk.batch.push(entry.partition_key, entry.data, None);
        if chunk.batch.len() >= CHUNK_RECORDS || chunk.batch.bytes() >= CHUNK_BYTES {
            let openings = chunk.openings;
            // The same shard likely takes what is left, as it took this chunk.
            let fresh = self.empty_chunk(openings, (left - 1).min(CHUNK_RECORDS), record_bytes);
            Some(std::mem::replace(&mut self.open[slot].1, fresh))
        } else {
            None
        }
    }

    /// An empty chunk with room for `records` records of about `record_bytes` each.
    fn empty_chunk(&self, openings: u64, records: usize, record_bytes: usize) -> Chunk {
        let bytes = records
            .saturating_mul(record_bytes)
            .min(CHUNK_BYTES.saturating_add(record_bytes));
        Chunk {
            members: Vec::with_capacity(records),
            batch: PutBatch::with_capacity(records, bytes, self.sealer.clone()),
            openings,
        }
    }
}

fn gave_up(stream: &StreamRuntime) -> Error {
    Error::StreamBusy {
        stream: stream.name.to_string(),
        status: StreamStatus::Updating,
        reason: "shards kept closing under the put",
    }
}

impl Engine {
    /// Checks one record against the key rules and `max` bytes (the engine's ceiling
    /// before the stream is known, the stream's own maximum after).
    fn check_record(
        &self,
        key: &str,
        data: &[u8],
        explicit_hash_key: Option<&str>,
        max: usize,
    ) -> Result<u128> {
        Self::check_key_and_size(key, data, max)?;
        match explicit_hash_key {
            Some(text) => parse_hash_key(text)
                .ok_or_else(|| Validation::ExplicitHashKey(text.to_string()).into()),
            None => Ok(hash_key(key)),
        }
    }

    /// The partition key's rules and the record's size against `max` bytes.
    fn check_key_and_size(key: &str, data: &[u8], max: usize) -> Result<()> {
        validate_key(key).map_err(Validation::PartitionKey)?;
        let bytes = key.len() + data.len();
        if bytes > max {
            return Err(Validation::RecordTooLarge {
                bytes,
                max_bytes: max,
            }
            .into());
        }
        Ok(())
    }

    /// The shard (and its core) a record goes to: the one owning its hash key, or,
    /// for an AUTO stream, the next open shard in turn (hash keys ignored).
    fn route(stream: &StreamRuntime, hash: u128) -> Result<(u32, usize)> {
        Self::route_in(
            stream,
            &stream.routing.load(),
            stream.live.load().distribution,
            &stream.shards.load(),
            hash,
        )
    }

    /// [`route`](Self::route) with the stream's routing, distribution and shards
    /// already loaded (a PutRecords loads them once per round, not per record).
    fn route_in(
        stream: &StreamRuntime,
        routing: &Routing,
        distribution: RecordDistribution,
        shards: &BTreeMap<u32, Arc<ShardShared>>,
        hash: u128,
    ) -> Result<(u32, usize)> {
        let index = if distribution == RecordDistribution::Auto {
            let entries = routing.entries();
            let turn = stream.auto_turn.fetch_add(1, Ordering::Relaxed);
            entries
                .get((turn % entries.len().max(1) as u64) as usize)
                .map(|(_, index)| *index)
        } else {
            routing.route(hash)
        }
        .ok_or(Error::Internal("hash key not covered by any open shard"))?;
        let shard = shards
            .get(&index)
            .ok_or(Error::Internal("routed to an unknown shard"))?;
        Ok((index, shard.core))
    }

    fn send_put(
        &self,
        stream: &StreamRuntime,
        index: u32,
        core: usize,
        entries: PutBatch,
        openings_seen: Option<u64>,
        durability: Durability,
    ) -> Result<Pending<PutReply>> {
        let (reply, pending) = reply::channel();
        self.sender(core)?.send(Request::Put {
            key: (stream.id, index),
            entries,
            openings_seen,
            durability,
            reply,
        })?;
        Ok(pending)
    }

    /// Sends one chunk of a PutRecords to its shard's core.
    fn send_chunk(
        &self,
        stream: &StreamRuntime,
        index: u32,
        core: usize,
        chunk: Chunk,
        durability: Durability,
    ) -> Result<(u32, Vec<usize>, bool, Pending<PutReply>)> {
        let sealed = chunk.batch.sealer.is_some();
        let pending = self.send_put(
            stream,
            index,
            core,
            chunk.batch,
            Some(chunk.openings),
            durability,
        )?;
        Ok((index, chunk.members, sealed, pending))
    }

    fn record_too_large(bytes: usize, max: usize) -> Result<()> {
        if bytes > max {
            return Err(Validation::RecordTooLarge {
                bytes,
                max_bytes: max,
            }
            .into());
        }
        Ok(())
    }

    fn prepare_put(
        &self,
        stream: &str,
        key: &str,
        data: &[u8],
        options: &PutOptions<'_>,
    ) -> Result<(Arc<StreamRuntime>, u128, PutBatch, Durability)> {
        let ceiling = self.inner.config.log.record_bytes_max as usize;
        let hash = self.check_record(key, data, options.explicit_hash_key, ceiling)?;
        let seq_for_ordering = match options.sequence_number_for_ordering {
            Some(text) => Some(
                parse_sequence_number(text)
                    .ok_or_else(|| Validation::SequenceNumber(text.to_string()))?,
            ),
            None => None,
        };
        let runtime = self.stream(stream)?;
        Self::record_too_large(key.len() + data.len(), runtime.live.load().record_bytes_max)?;
        let sealer = self.sealer_for(&runtime)?;
        let durability = options.durability.unwrap_or(self.inner.config.durability);
        let batch = one_record_batch(key, data, seq_for_ordering, sealer);
        Ok((runtime, hash, batch, durability))
    }

    /// The one outcome of a one-record put: its sequence number, the batch back (the
    /// shard had closed), or the error.
    fn single_outcome(reply: PutReply) -> Result<std::result::Result<u128, PutBatch>> {
        match reply {
            PutReply::Done(mut batch) => {
                let outcome = batch.single_outcome();
                keep_spare(batch);
                match outcome {
                    Some(Ok(seq)) => Ok(Ok(seq)),
                    Some(Err(e)) => Err(e),
                    None => Err(Error::Internal(
                        "a one-record put answered with no outcome or several",
                    )),
                }
            }
            PutReply::ShardClosed(batch) => Ok(Err(batch)),
        }
    }

    /// PutRecord: appends one record to the shard its partition key (or explicit hash
    /// key) routes to, and returns its shard and sequence number once it is as durable
    /// as `options.durability` (default: the engine's) asks.
    pub fn put_record(
        &self,
        stream: &str,
        partition_key: &str,
        data: &[u8],
        options: PutOptions<'_>,
    ) -> Result<PutRecordOutput> {
        let (runtime, hash, mut batch, durability) =
            self.prepare_put(stream, partition_key, data, &options)?;
        let spin = self.inner.config.reply_spin;
        let deadline = Instant::now() + REROUTE_WAIT;
        loop {
            let routing = runtime.routing.load_full();
            let (index, core) = Self::route(&runtime, hash)?;
            let encrypted = batch.sealer.is_some();
            let reply = self
                .send_put(&runtime, index, core, batch, None, durability)?
                .wait_with(self, spin)?;
            match Self::single_outcome(reply)? {
                Ok(seq) => {
                    return Ok(PutRecordOutput {
                        shard_id: names::shard_id(index),
                        sequence_number: seq,
                        encrypted,
                    });
                }
                Err(back) => batch = back,
            }
            // The shard closed under the put (a reshard): wait for the new routing.
            while Arc::ptr_eq(&routing, &runtime.routing.load_full()) {
                if Instant::now() >= deadline {
                    return Err(gave_up(&runtime));
                }
                std::thread::sleep(REROUTE_POLL);
            }
        }
    }

    /// [`put_record`](Self::put_record) as a future any executor can await (the
    /// validation happens now; the future waits for the core).
    pub fn put_record_async(
        &self,
        stream: &str,
        partition_key: &str,
        data: &[u8],
        options: PutOptions<'_>,
    ) -> impl std::future::Future<Output = Result<PutRecordOutput>> + Send + 'static + use<> {
        let prepared = self.prepare_put(stream, partition_key, data, &options);
        let engine = self.clone();
        async move {
            let (runtime, hash, mut batch, durability) = prepared?;
            let deadline = Instant::now() + REROUTE_WAIT;
            loop {
                let routing = runtime.routing.load_full();
                let (index, core) = Self::route(&runtime, hash)?;
                let encrypted = batch.sealer.is_some();
                let reply = engine
                    .send_put(&runtime, index, core, batch, None, durability)?
                    .await?;
                match Self::single_outcome(reply)? {
                    Ok(seq) => {
                        return Ok(PutRecordOutput {
                            shard_id: names::shard_id(index),
                            sequence_number: seq,
                            encrypted,
                        });
                    }
                    Err(back) => batch = back,
                }
                while Arc::ptr_eq(&routing, &runtime.routing.load_full()) {
                    if Instant::now() >= deadline {
                        return Err(gave_up(&runtime));
                    }
                    crate::runtime::timer::sleep(REROUTE_POLL).await;
                }
            }
        }
    }

    /// Checks a PutRecords call whole before anything is sent (a bad entry fails the
    /// call with nothing written): the entry count and total size, each record against
    /// the key rules and sizes. Returns the stream, each entry's hash key and the
    /// stream's sealer.
    fn validate_put_records(
        &self,
        stream: &str,
        entries: &[PutRecordsEntry<'_>],
    ) -> Result<ValidatedPut> {
        let limits = &self.inner.config.limits;
        if entries.is_empty() || entries.len() > limits.put_records_entries_max {
            return Err(Validation::PutRecordsEntries {
                given: entries.len(),
                max: limits.put_records_entries_max,
            }
            .into());
        }
        let total: usize = entries
            .iter()
            .map(|e| e.partition_key.len() + e.data.len())
            .sum();
        // A request may always carry one record of the stream's largest size (AWS:
        // up to 10 MiB per request once records may be that large).
        let request_max = |record_max: usize| limits.put_records_bytes_max.max(record_max);
        let ceiling = self.inner.config.log.record_bytes_max as usize;
        if total > request_max(ceiling) {
            return Err(Validation::PutRecordsBytes {
                given: total,
                max: request_max(ceiling),
            }
            .into());
        }
        let mut hashes = Vec::with_capacity(entries.len());
        // Batches often repeat what routes them (one device's key, or an explicit hash
        // key aiming at one shard): an entry routed by the same text as the previous
        // one reuses its hash key instead of hashing or parsing again.
        let mut last: Option<(Option<&str>, &str, u128)> = None;
        for e in entries {
            let same = |(explicit, key, _): &(Option<&str>, &str, u128)| match e.explicit_hash_key {
                Some(text) => *explicit == Some(text),
                None => explicit.is_none() && *key == e.partition_key,
            };
            let hash = match last {
                Some(previous) if same(&previous) => {
                    Self::check_key_and_size(e.partition_key, e.data, ceiling)?;
                    previous.2
                }
                _ => {
                    let explicit = e.explicit_hash_key;
                    let hash = self.check_record(e.partition_key, e.data, explicit, ceiling)?;
                    last = Some((explicit, e.partition_key, hash));
                    hash
                }
            };
            hashes.push(hash);
        }
        let runtime = self.stream(stream)?;
        let record_max = runtime.live.load().record_bytes_max;
        if total > request_max(record_max) {
            return Err(Validation::PutRecordsBytes {
                given: total,
                max: request_max(record_max),
            }
            .into());
        }
        for e in entries {
            Self::record_too_large(e.partition_key.len() + e.data.len(), record_max)?;
        }
        let sealer = self.sealer_for(&runtime)?;
        Ok(ValidatedPut {
            runtime,
            hashes,
            sealer,
        })
    }

    /// PutRecords: up to 500 records and 5 MiB in one call. Each entry succeeds or
    /// fails on its own (a throttled entry does not fail the others). Entries for the
    /// same shard are appended in the order given.
    ///
    /// The whole call is validated first; then each shard's entries go to its core in
    /// chunks ([`CHUNK_RECORDS`], [`CHUNK_BYTES`]) as they are copied, so the core
    /// appends one chunk while this thread copies the next, and this thread turns one
    /// chunk's replies into results while the core appends the next.
    pub fn put_records(
        &self,
        stream: &str,
        entries: &[PutRecordsEntry<'_>],
        durability: Option<Durability>,
    ) -> Result<PutRecordsOutput> {
        let ValidatedPut {
            runtime,
            hashes,
            sealer,
        } = self.validate_put_records(stream, entries)?;
        let durability = durability.unwrap_or(self.inner.config.durability);
        let spin = self.inner.config.reply_spin;
        let mut results: Vec<Option<Result<PutRecordOutput>>> =
            (0..entries.len()).map(|_| None).collect();
        // Entries still to place: all of them at first; after a reshard closed shards
        // under the put, those that came back (copied again from the caller's).
        let mut todo: Vec<usize> = (0..entries.len()).collect();
        let deadline = Instant::now() + REROUTE_WAIT;
        loop {
            let routing = runtime.routing.load_full();
            let distribution = runtime.live.load().distribution;
            let shards = runtime.shards.load_full();
            let mut chunks = Chunks::new(sealer.clone());
            let mut waits = Vec::new();
            for (n, &i) in todo.iter().enumerate() {
                let (index, core) =
                    Self::route_in(&runtime, &routing, distribution, &shards, hashes[i])?;
                let openings = || shards.get(&index).map_or(0, |s| s.openings());
                let left = todo.len() - n;
                if let Some(full) = chunks.add((index, core), openings, i, &entries[i], left) {
                    waits.push(self.send_chunk(&runtime, index, core, full, durability)?);
                }
            }
            for ((index, core), chunk) in chunks.open {
                if chunk.batch.is_empty() {
                    continue; // its entries went out when it filled
                }
                waits.push(self.send_chunk(&runtime, index, core, chunk, durability)?);
            }
            let mut retry = Vec::new();
            for (index, members, encrypted, pending) in waits {
                match pending.wait_with(self, spin)? {
                    PutReply::Done(mut batch) => {
                        let outcomes = batch.take_outcomes();
                        // Formatted once per chunk, copied per record.
                        let shard_id = names::shard_id(index);
                        for (i, outcome) in members.into_iter().zip(outcomes) {
                            results[i] = Some(outcome.map(|seq| PutRecordOutput {
                                shard_id: shard_id.clone(),
                                sequence_number: seq,
                                encrypted,
                            }));
                        }
                    }
                    PutReply::ShardClosed(_) => retry.extend(members),
                }
            }
            if retry.is_empty() {
                break;
            }
            retry.sort_unstable();
            todo = retry;
            // Some shards closed under the put (a reshard): wait for new routing.
            while Arc::ptr_eq(&routing, &runtime.routing.load_full()) && Instant::now() < deadline {
                std::thread::sleep(REROUTE_POLL);
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        let records: Vec<Result<PutRecordOutput>> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(gave_up(&runtime))))
            .collect();
        let failed_record_count = records.iter().filter(|r| r.is_err()).count();
        Ok(PutRecordsOutput {
            failed_record_count,
            records,
        })
    }
}
