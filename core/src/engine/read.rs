//! Reads: GetShardIterator and GetRecords, served on the caller's thread straight from
//! the shard's log (no mailbox hop, no copy): a GetRecords answer holds zero-copy views.
//!
//! Invariants: records older than the stream's retention are never returned, by any
//! iterator type, even before their segment is reclaimed; a throttled call returns no
//! data and leaves the iterator valid; iterators are tokens that only this data
//! directory can have issued (see `stream/iterator.rs`).
#![forbid(unsafe_code)]

use std::sync::Arc;

use super::{Engine, StreamRuntime, lock};
use crate::error::{Error, InvalidArgument, Result, Throttle, Validation};
use crate::log::{LogError, ReadBatch};
use crate::stream::catalog::ShardState;
use crate::stream::hashkey::HashRange;
use crate::stream::iterator::{IteratorToken, StartingPosition};
use crate::stream::names::{self, parse_shard_id};
use crate::stream::sequence::SeqParts;
use crate::stream::shard::ShardShared;
use crate::stream::throttle::ReadRefusal;

/// A child of a closed shard, as GetRecords reports it once the parent is drained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildShard {
    /// The child's id.
    pub shard_id: String,
    /// Its parents (one for a split, two for a merge).
    pub parent_shards: Vec<String>,
    /// Its hash keys.
    pub hash_range: HashRange,
}

/// GetRecords' answer.
#[derive(Debug)]
pub struct GetRecordsOutput {
    /// The shard the records were read from (the iterator's shard).
    pub shard_id: String,
    /// The records, as zero-copy views (valid as long as this value lives).
    pub records: ReadBatch,
    /// Where to continue; `None` once a closed shard has been read to its end.
    pub next_shard_iterator: Option<String>,
    /// How far behind the newest record of the shard this answer ends (0 at the tip).
    pub millis_behind_latest: u64,
    /// The shard's children, once it is closed and read to its end.
    pub child_shards: Vec<ChildShard>,
}

impl Engine {
    pub(crate) fn shard(&self, stream: &StreamRuntime, shard_id: &str) -> Result<Arc<ShardShared>> {
        let not_found = || Error::ShardNotFound {
            stream: stream.name.to_string(),
            shard_id: shard_id.to_string(),
        };
        let index = match parse_shard_id(shard_id) {
            Some(index) => index,
            None if names::has_shard_id_form(shard_id) => return Err(not_found()),
            None => return Err(Validation::ShardId(shard_id.to_string()).into()),
        };
        stream
            .shards
            .load()
            .get(&index)
            .filter(|s| s.state() != ShardState::Expired)
            .cloned()
            .ok_or_else(not_found)
    }

    /// The lowest sequence number still readable in `shard` at `now_ms`: past both
    /// deleted segments and records older than the retention period.
    pub(crate) fn readable_start(shard: &ShardShared, now_ms: u64) -> u128 {
        let reader = &shard.reader;
        let cutoff = shard.retention.cutoff_ms(now_ms);
        let start = reader.start_seq().unwrap_or(0);
        let unexpired = match reader.seek_timestamp(cutoff) {
            Some(seq) => seq,
            None => reader.last_seq().map_or(0, |s| s.saturating_add(1)),
        };
        start.max(unexpired)
    }

    /// The sequence number a new iterator at `position` reads from.
    pub(crate) fn starting_seq(
        &self,
        shard: &ShardShared,
        position: StartingPosition,
    ) -> Result<u128> {
        let check = |seq: u128| {
            if SeqParts::unpack(seq).shard_index == shard.index {
                Ok(seq)
            } else {
                Err(Error::from(InvalidArgument::SequenceNotInShard {
                    seq,
                    shard_id: shard.shard_id.clone(),
                }))
            }
        };
        let reader = &shard.reader;
        Ok(match position {
            StartingPosition::TrimHorizon => 0,
            StartingPosition::Latest => reader.last_seq().map_or(0, |s| s.saturating_add(1)),
            StartingPosition::AtSequenceNumber(seq) => check(seq)?,
            StartingPosition::AfterSequenceNumber(seq) => check(seq)?.saturating_add(1),
            StartingPosition::AtTimestamp(ts) => match reader.seek_timestamp(ts) {
                Some(seq) => seq,
                None => reader.last_seq().map_or(0, |s| s.saturating_add(1)),
            },
        })
    }

    /// GetShardIterator: an opaque token valid for five minutes.
    pub fn get_shard_iterator(
        &self,
        stream: &str,
        shard_id: &str,
        position: StartingPosition,
    ) -> Result<String> {
        crate::stream::names::validate_stream_name(stream).map_err(Validation::StreamName)?;
        let runtime = self.stream(stream)?;
        let shard = self.shard(&runtime, shard_id)?;
        let next_seq = self.starting_seq(&shard, position)?;
        let issued_ms = self.inner.config.clock.now_ms();
        Ok(IteratorToken {
            stream_id: runtime.id,
            shard_index: shard.index,
            next_seq,
            issued_ms,
        }
        .encode(&self.inner.secret))
    }

    /// Decodes and checks an iterator: well formed, issued here, not expired, and its
    /// stream and shard still exist.
    pub(crate) fn resolve_iterator(
        &self,
        iterator: &str,
    ) -> Result<(Arc<StreamRuntime>, Arc<ShardShared>, IteratorToken)> {
        self.check_open()?;
        let token = IteratorToken::decode(iterator, &self.inner.secret)
            .map_err(InvalidArgument::Iterator)?;
        let now_ms = self.inner.config.clock.now_ms();
        if now_ms > token.expires_ms() {
            return Err(Error::ExpiredIterator {
                expired_at_ms: token.expires_ms(),
                now_ms,
            });
        }
        let runtime = self
            .inner
            .streams
            .load()
            .by_id
            .get(&token.stream_id)
            .cloned()
            .ok_or_else(|| Error::StreamNotFound {
                stream: format!("(stream id {}, deleted)", token.stream_id),
            })?;
        let shard = self.shard(&runtime, &names::shard_id(token.shard_index))?;
        Ok((runtime, shard, token))
    }

    pub(crate) fn child_shards(&self, stream_name: &str, index: u32) -> Vec<ChildShard> {
        let data = lock(&self.inner.catalog);
        let Some(record) = data.stream(stream_name) else {
            return Vec::new();
        };
        record
            .shards
            .iter()
            .filter(|s| s.parent == Some(index) || s.adjacent_parent == Some(index))
            .map(|s| ChildShard {
                shard_id: names::shard_id(s.index),
                parent_shards: s
                    .parent
                    .into_iter()
                    .chain(s.adjacent_parent)
                    .map(names::shard_id)
                    .collect(),
                hash_range: s.hash_range,
            })
            .collect()
    }

    /// True if shard `index` is, or descends from, one of `roots` (by the lineage in the
    /// catalog).
    pub(crate) fn descends_from_any(
        &self,
        stream_name: &str,
        index: u32,
        roots: &std::collections::HashSet<u32>,
    ) -> bool {
        let data = lock(&self.inner.catalog);
        let Some(record) = data.stream(stream_name) else {
            return false;
        };
        let mut todo = vec![index];
        let mut seen = std::collections::HashSet::new();
        while let Some(i) = todo.pop() {
            if roots.contains(&i) {
                return true;
            }
            if !seen.insert(i) {
                continue;
            }
            if let Some(shard) = record.shard(i) {
                todo.extend(shard.parent.into_iter().chain(shard.adjacent_parent));
            }
        }
        false
    }

    /// Reads up to `max_records` records with sequence numbers `>= from` that are not
    /// past retention at `now_ms`, and at most `max_bytes`.
    pub(crate) fn read_shard(
        shard: &ShardShared,
        from: u128,
        now_ms: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch> {
        let start = from.max(Self::readable_start(shard, now_ms));
        match shard.reader.read(start, max_records, max_bytes) {
            Ok(batch) => Ok(batch),
            Err(LogError::BeyondEnd { .. }) => Ok(ReadBatch::default()),
            Err(LogError::Trimmed {
                first_available, ..
            }) => Ok(shard.reader.read(first_available, max_records, max_bytes)?),
            Err(e) => Err(e.into()),
        }
    }

    /// GetRecords: up to `limit` (default and maximum 10,000) records and 10 MiB from
    /// the iterator's position, the next iterator, and how far behind the tip this is.
    pub fn get_records(&self, iterator: &str, limit: Option<usize>) -> Result<GetRecordsOutput> {
        let limits = self.inner.config.limits;
        let max_records = limits.read_records_per_call_max;
        let limit = limit.unwrap_or(max_records);
        if limit == 0 || limit > max_records {
            return Err(Validation::ReadLimit {
                given: limit,
                max: max_records,
            }
            .into());
        }
        let (runtime, shard, token) = self.resolve_iterator(iterator)?;
        let clock = &self.inner.config.clock;
        let now_ns = clock.monotonic_ns();
        let now_ms = clock.now_ms();
        let refused = lock(&shard.read_limiter).admit(now_ns);
        if let Err(refusal) = refused {
            shard.counters.read_throttled();
            let kind = match refusal {
                ReadRefusal::Calls => Throttle::ReadCalls,
                ReadRefusal::Bytes => Throttle::ReadBytes,
                ReadRefusal::Penalty { .. } => Throttle::ReadPenalty,
            };
            return Err(Error::ProvisionedThroughputExceeded {
                stream: runtime.name.to_string(),
                shard_id: shard.shard_id.clone(),
                kind,
            });
        }
        let mut batch = Self::read_shard(
            &shard,
            token.next_seq,
            now_ms,
            limit,
            limits.read_bytes_per_call_max,
        )?;
        lock(&shard.read_limiter).charge(batch.payload_bytes(), now_ns);
        self.decrypt_batch(&runtime, &shard.shard_id, &mut batch)?;
        let next_seq = if batch.is_empty() {
            token.next_seq.max(Self::readable_start(&shard, now_ms))
        } else {
            batch.next_seq()
        };
        let last_seq = shard.reader.last_seq();
        let at_tip = last_seq.is_none_or(|last| next_seq > last);
        let last_returned_ts = batch.iter().last().map(|r| r.timestamp_ms);
        let millis_behind_latest = match (at_tip, last_returned_ts) {
            (true, _) => 0,
            (false, Some(ts)) => shard.reader.last_timestamp_ms().saturating_sub(ts),
            (false, None) => 0,
        };
        shard
            .counters
            .records_out(batch.len() as u64, batch.payload_bytes() as u64);
        shard
            .counters
            .get_records(last_returned_ts.map_or(0, |ts| now_ms.saturating_sub(ts)));
        let drained = at_tip && shard.state() == ShardState::Closed;
        let (next_shard_iterator, child_shards) = if drained {
            (None, self.child_shards(&runtime.name, shard.index))
        } else {
            let next = IteratorToken {
                stream_id: runtime.id,
                shard_index: shard.index,
                next_seq,
                issued_ms: now_ms,
            };
            (Some(next.encode(&self.inner.secret)), Vec::new())
        };
        Ok(GetRecordsOutput {
            shard_id: shard.shard_id.clone(),
            records: batch,
            next_shard_iterator,
            millis_behind_latest,
            child_shards,
        })
    }
}
