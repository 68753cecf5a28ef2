//! Retention: deleting whole sealed segments that have aged out (or that push the log
//! over a size budget).
//!
//! Invariants:
//! - Only finished segments are deleted, oldest first, and deletion stops at the first
//!   segment that must be kept, so the log stays one contiguous range.
//! - The active segment is never deleted.
//! - A segment leaves the readers' list before its files are unlinked; batches and
//!   views that already hold it keep reading its bytes (the mapping outlives the file).
//! - Time comes from the caller (`now_ms`), never from a wall clock here.
#![forbid(unsafe_code)]

use std::sync::Arc;

use super::format::index_file_name;
use super::{Log, LogError, LogResult};

/// What to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionPolicy {
    /// Delete a sealed segment once its newest record is older than this, in ms.
    pub max_age_ms: Option<u64>,
    /// Delete the oldest sealed segments while the log's segments take more bytes.
    pub max_total_bytes: Option<u64>,
}

/// What a retention pass did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetentionReport {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Records in them.
    pub records_deleted: u64,
    /// Disk bytes freed (segment sizes).
    pub bytes_freed: u64,
    /// The log's new start (lowest readable sequence number), if any segment is left.
    pub start_seq: Option<u128>,
}

impl Log {
    /// Deletes the segments `policy` no longer keeps, judged at `now_ms`.
    pub fn enforce_retention(
        &mut self,
        now_ms: u64,
        policy: &RetentionPolicy,
    ) -> LogResult<RetentionReport> {
        let segments = self.shared().segments.load_full();
        let active = self.active_base_seq();
        let mut total: u64 = segments.iter().map(|s| s.capacity).sum();
        let mut doomed = 0;
        for seg in segments.iter() {
            if Some(seg.base_seq) == active || !seg.is_finished() {
                break;
            }
            let too_old = policy
                .max_age_ms
                .is_some_and(|age| seg.max_timestamp_ms().saturating_add(age) < now_ms);
            let too_big = policy.max_total_bytes.is_some_and(|max| total > max);
            if !(too_old || too_big) {
                break;
            }
            total -= seg.capacity;
            doomed += 1;
        }
        let mut report = RetentionReport::default();
        if doomed == 0 {
            report.start_seq = segments.first().map(|s| s.base_seq);
            return Ok(report);
        }
        let kept: Vec<_> = segments[doomed..].to_vec();
        report.start_seq = kept.first().map(|s| s.base_seq);
        self.shared().segments.store(Arc::new(kept));
        let dir = self.dir().to_path_buf();
        let storage = Arc::clone(self.storage());
        for seg in &segments[..doomed] {
            self.forget_finishing(seg.base_seq);
            report.segments_deleted += 1;
            report.records_deleted += seg.record_count();
            report.bytes_freed += seg.capacity;
            storage
                .remove_file(&seg.path)
                .map_err(|e| LogError::io("delete segment", &seg.path, e))?;
            let index_path = dir.join(index_file_name(seg.base_seq));
            match storage.remove_file(&index_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io("delete index", &index_path, e)),
            }
        }
        Ok(report)
    }
}
