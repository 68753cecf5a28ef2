//! Writes: PutRecord and PutRecords. Validation and routing happen on the caller's
//! thread (MD5 of the key, binary search of the open shards' ranges); the append happens
//! on the shard's core. A put that reaches a shard that closed meanwhile (a reshard)
//! comes back untouched and is routed again against the new ranges, so no record is
//! written to a closed shard and none is lost. A stream whose record distribution is
//! AUTO ignores the keys and deals its records to the open shards in turn.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Durability, Engine, StreamRuntime};
use crate::error::{Error, Result, Validation};
use crate::log::validate_key;
use crate::runtime::core::{PutEntry, PutFailure, PutOutcome, Request};
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

/// An entry with the hash key it routes by.
type Routable = (u128, PutEntry);

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
        validate_key(key).map_err(Validation::PartitionKey)?;
        let bytes = key.len() + data.len();
        if bytes > max {
            return Err(Validation::RecordTooLarge {
                bytes,
                max_bytes: max,
            }
            .into());
        }
        match explicit_hash_key {
            Some(text) => parse_hash_key(text)
                .ok_or_else(|| Validation::ExplicitHashKey(text.to_string()).into()),
            None => Ok(hash_key(key)),
        }
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
        entries: Vec<PutEntry>,
        durability: Durability,
    ) -> Result<Pending<Vec<PutOutcome>>> {
        let (reply, pending) = reply::channel();
        self.sender(core)?.send(Request::Put {
            key: (stream.id, index),
            entries,
            durability,
            reply,
        })?;
        Ok(pending)
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
    ) -> Result<(Arc<StreamRuntime>, u128, PutEntry, Durability)> {
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
        Ok((
            runtime,
            hash,
            PutEntry {
                key: key.to_string(),
                data: data.to_vec(),
                seq_for_ordering,
                sealer,
            },
            durability,
        ))
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
        let (runtime, hash, mut entry, durability) =
            self.prepare_put(stream, partition_key, data, &options)?;
        let spin = self.inner.config.reply_spin;
        let deadline = Instant::now() + REROUTE_WAIT;
        loop {
            let routing = runtime.routing.load_full();
            let (index, core) = Self::route(&runtime, hash)?;
            let encrypted = entry.sealer.is_some();
            let mut outcome = self
                .send_put(&runtime, index, core, vec![entry], durability)?
                .wait_with(self, spin)?;
            match outcome.pop() {
                Some(Ok(seq)) => {
                    return Ok(PutRecordOutput {
                        shard_id: names::shard_id(index),
                        sequence_number: seq,
                        encrypted,
                    });
                }
                Some(Err(PutFailure::ShardClosed(back))) => entry = back,
                Some(Err(PutFailure::Failed(e))) => return Err(e),
                None => return Err(Error::Internal("empty put reply")),
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
            let (runtime, hash, mut entry, durability) = prepared?;
            let deadline = Instant::now() + REROUTE_WAIT;
            loop {
                let routing = runtime.routing.load_full();
                let (index, core) = Self::route(&runtime, hash)?;
                let encrypted = entry.sealer.is_some();
                let mut outcome = engine
                    .send_put(&runtime, index, core, vec![entry], durability)?
                    .await?;
                match outcome.pop() {
                    Some(Ok(seq)) => {
                        return Ok(PutRecordOutput {
                            shard_id: names::shard_id(index),
                            sequence_number: seq,
                            encrypted,
                        });
                    }
                    Some(Err(PutFailure::ShardClosed(back))) => entry = back,
                    Some(Err(PutFailure::Failed(e))) => return Err(e),
                    None => return Err(Error::Internal("empty put reply")),
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

    fn prepare_put_records(
        &self,
        stream: &str,
        entries: &[PutRecordsEntry<'_>],
    ) -> Result<(Arc<StreamRuntime>, Vec<Routable>)> {
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
        for e in entries {
            hashes.push(self.check_record(
                e.partition_key,
                e.data,
                e.explicit_hash_key,
                ceiling,
            )?);
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
        let prepared = entries
            .iter()
            .zip(hashes)
            .map(|(e, hash)| {
                (
                    hash,
                    PutEntry {
                        key: e.partition_key.to_string(),
                        data: e.data.to_vec(),
                        seq_for_ordering: None,
                        sealer: sealer.clone(),
                    },
                )
            })
            .collect();
        Ok((runtime, prepared))
    }

    /// PutRecords: up to 500 records and 5 MiB in one call. Each entry succeeds or
    /// fails on its own (a throttled entry does not fail the others). Entries for the
    /// same shard are appended in the order given.
    pub fn put_records(
        &self,
        stream: &str,
        entries: &[PutRecordsEntry<'_>],
        durability: Option<Durability>,
    ) -> Result<PutRecordsOutput> {
        let (runtime, prepared) = self.prepare_put_records(stream, entries)?;
        let durability = durability.unwrap_or(self.inner.config.durability);
        let spin = self.inner.config.reply_spin;
        let mut results: Vec<Option<Result<PutRecordOutput>>> =
            (0..prepared.len()).map(|_| None).collect();
        let hashes: Vec<u128> = prepared.iter().map(|(h, _)| *h).collect();
        let mut todo: Vec<(usize, PutEntry)> =
            prepared.into_iter().map(|(_, e)| e).enumerate().collect();
        let deadline = Instant::now() + REROUTE_WAIT;
        while !todo.is_empty() {
            let routing = runtime.routing.load_full();
            let distribution = runtime.live.load().distribution;
            let shards = runtime.shards.load_full();
            // Group by shard, keeping the given order within each shard.
            let mut groups: BTreeMap<(u32, usize), (Vec<usize>, Vec<PutEntry>)> = BTreeMap::new();
            for (i, entry) in todo {
                let (index, core) =
                    Self::route_in(&runtime, &routing, distribution, &shards, hashes[i])?;
                let group = groups.entry((index, core)).or_default();
                group.0.push(i);
                group.1.push(entry);
            }
            let mut waits = Vec::with_capacity(groups.len());
            for ((index, core), (members, batch)) in groups {
                let sealed: Vec<bool> = batch.iter().map(|e| e.sealer.is_some()).collect();
                waits.push((
                    index,
                    members,
                    sealed,
                    self.send_put(&runtime, index, core, batch, durability)?,
                ));
            }
            let mut retry = Vec::new();
            for (index, members, sealed, pending) in waits {
                let outcomes = pending.wait_with(self, spin)?;
                // Formatted once per shard, copied per record.
                let shard_id = names::shard_id(index);
                for ((i, outcome), encrypted) in members.into_iter().zip(outcomes).zip(sealed) {
                    match outcome {
                        Ok(seq) => {
                            results[i] = Some(Ok(PutRecordOutput {
                                shard_id: shard_id.clone(),
                                sequence_number: seq,
                                encrypted,
                            }))
                        }
                        Err(PutFailure::ShardClosed(back)) => retry.push((i, back)),
                        Err(PutFailure::Failed(e)) => results[i] = Some(Err(e)),
                    }
                }
            }
            retry.sort_unstable_by_key(|(i, _)| *i);
            todo = retry;
            if !todo.is_empty() {
                // Some shards closed under the put (a reshard): wait for new routing.
                while Arc::ptr_eq(&routing, &runtime.routing.load_full())
                    && Instant::now() < deadline
                {
                    std::thread::sleep(REROUTE_POLL);
                }
                if Instant::now() >= deadline {
                    break;
                }
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
