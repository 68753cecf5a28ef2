//! Scans: bulk reads for local analytics (the `tidelog-analytics` crate), beside the
//! Kinesis read API. A scan reads a shard from a sequence number without an iterator
//! token and without the shard's GetRecords limits (5 calls/s, 2 MiB/s: those model a
//! remote service's fairness, and a local SQL query over a day of data would take
//! hours under them); it is still zero-copy and still never returns records past the
//! stream's retention. [`Engine::scan_segments`] reports each segment's sequence and
//! arrival-time range so a scan can skip whole segments, and [`ShardWatch`] lets a
//! continuous reader sleep until any of several shards commits records.
//!
//! Invariants: everything here is read-only and takes no lock the write path takes;
//! records past retention are hidden exactly as from GetRecords (`read.rs`); scans
//! are not counted as GetRecords in the shard's metrics (they are not Kinesis calls).
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Engine;
use crate::error::Result;
use crate::log::{ReadBatch, SegmentSpan};
use crate::stream::shard::{NotifyWaiter, ShardShared};

/// What a scan needs to know about one shard before reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardScanInfo {
    /// The shard id.
    pub shard_id: String,
    /// The lowest sequence number retention still lets a reader see.
    pub readable_from: u128,
    /// The last sequence number of a closed shard (`None` while open).
    pub ending_seq: Option<u128>,
    /// The segments kept, oldest first (the first ones may hold records below
    /// `readable_from`, which a scan never returns).
    pub segments: Vec<SegmentSpan>,
}

impl Engine {
    fn scan_target(&self, stream: &str, shard_id: &str) -> Result<Arc<ShardShared>> {
        crate::stream::names::validate_stream_name(stream)
            .map_err(crate::error::Validation::StreamName)?;
        let runtime = self.stream(stream)?;
        self.shard(&runtime, shard_id)
    }

    /// The shard's readable start, state and segment extents (a snapshot).
    pub fn scan_segments(&self, stream: &str, shard_id: &str) -> Result<ShardScanInfo> {
        let shard = self.scan_target(stream, shard_id)?;
        let now_ms = self.inner.config.clock.now_ms();
        Ok(ShardScanInfo {
            shard_id: shard.shard_id.clone(),
            readable_from: Self::readable_start(&shard, now_ms),
            ending_seq: shard.ending_seq(),
            segments: shard.reader.segment_spans(),
        })
    }

    /// Reads up to `max_records` records (and about `max_bytes` of key plus data; one
    /// larger record comes alone) with sequence numbers `>= from_seq`, zero-copy,
    /// skipping records past retention. Not subject to the shard's read limits. An
    /// empty batch means nothing newer is committed yet (or the closed shard is read
    /// to its end: compare with [`ShardScanInfo::ending_seq`]).
    pub fn scan_shard(
        &self,
        stream: &str,
        shard_id: &str,
        from_seq: u128,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch> {
        let shard = self.scan_target(stream, shard_id)?;
        let now_ms = self.inner.config.clock.now_ms();
        Self::read_shard(&shard, from_seq, now_ms, max_records, max_bytes)
    }

    /// A watch on shards of a stream: lets one thread sleep until any of them commits
    /// records, closes or expires.
    pub fn watch_shards(&self, stream: &str, shard_ids: &[String]) -> Result<ShardWatch> {
        let shards = shard_ids
            .iter()
            .map(|id| self.scan_target(stream, id))
            .collect::<Result<Vec<_>>>()?;
        Ok(ShardWatch { shards })
    }
}

/// See [`Engine::watch_shards`].
#[derive(Debug)]
pub struct ShardWatch {
    shards: Vec<Arc<ShardShared>>,
}

impl ShardWatch {
    /// The shards' change counters now. Pass them to [`wait`](Self::wait) after
    /// reading what there was to read.
    pub fn versions(&self) -> Vec<u64> {
        self.shards.iter().map(|s| s.notify.version()).collect()
    }

    /// Sleeps until a shard's counter differs from `seen` (taken before the caller's
    /// last read, so nothing committed after that read is missed) or `timeout` passes.
    /// Returns true if something changed.
    pub fn wait(&self, seen: &[u64], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            // Register first, then compare (the order `Notify` requires so no wake-up
            // is lost).
            let mut changed = false;
            for (shard, seen) in self.shards.iter().zip(seen) {
                let now = shard
                    .notify
                    .register(NotifyWaiter::Thread(std::thread::current()));
                changed |= now != *seen;
            }
            if changed {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            std::thread::park_timeout(deadline - now);
        }
    }
}
