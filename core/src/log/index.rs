//! The sparse index of a segment: every so many bytes of log, the sequence number and
//! offset of a record plus the newest timestamp before it.
//!
//! Invariants:
//! - Entries are in log order: offsets and sequence numbers strictly increase, and
//!   `max_timestamp_before_ms` never decreases, so both seeks are binary searches.
//! - An entry only ever points at a published, verified record.
//! - The active segment keeps its index in memory (at most
//!   [`INDEX_ENTRIES_PER_SEGMENT_MAX`](crate::limits::INDEX_ENTRIES_PER_SEGMENT_MAX)
//!   entries, under 32 KiB). When a segment is sealed its index is written to
//!   `<base_seq>.idx` and, after a reopen, read through a mapping (page cache, not heap),
//!   so anonymous memory does not grow with the amount of data kept. A missing or
//!   damaged index file is rebuilt by scanning the segment (it is derived data).
#![forbid(unsafe_code)]

use std::sync::{Arc, RwLock};

use zerocopy::{FromBytes, FromZeros, IntoBytes};

use super::format::{
    FORMAT_VERSION, INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES, INDEX_MAGIC, IndexEntry, IndexHeader,
    index_header_crc,
};
use crate::io::Mapping;
use crate::limits::{INDEX_ENTRIES_PER_SEGMENT_MAX, INDEX_INTERVAL_BYTES_MIN};

/// Bytes of log between index entries for a segment of `capacity` bytes.
pub fn interval_bytes(capacity: u64) -> u64 {
    (capacity / INDEX_ENTRIES_PER_SEGMENT_MAX).max(INDEX_INTERVAL_BYTES_MIN)
}

/// One index entry, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexPoint {
    /// Sequence number of the record.
    pub seq: u128,
    /// Newest timestamp among earlier records of the segment.
    pub max_timestamp_before_ms: u64,
    /// Offset of the record.
    pub offset: u32,
}

impl IndexPoint {
    fn from_entry(entry: &IndexEntry) -> Self {
        Self {
            seq: entry.seq.get(),
            max_timestamp_before_ms: entry.max_timestamp_before_ms.get(),
            offset: entry.offset.get(),
        }
    }

    fn to_entry(self) -> IndexEntry {
        IndexEntry {
            seq: self.seq.into(),
            max_timestamp_before_ms: self.max_timestamp_before_ms.into(),
            offset: self.offset.into(),
            reserved: 0.into(),
        }
    }
}

/// A segment's sparse index, in memory or mapped from its file.
#[derive(Debug)]
pub enum SegmentIndex {
    /// Built as records are appended (active segment) or scanned.
    Live(RwLock<Vec<IndexPoint>>),
    /// Read from a `.idx` file (sealed segment).
    Stored {
        /// The mapped file.
        mapping: Arc<Mapping>,
        /// Number of entries after the header.
        entry_count: usize,
    },
}

impl SegmentIndex {
    /// An empty in-memory index.
    pub fn live(points: Vec<IndexPoint>) -> Self {
        Self::Live(RwLock::new(points))
    }

    fn with_points<R>(&self, f: impl FnOnce(&dyn Fn(usize) -> IndexPoint, usize) -> R) -> R {
        match self {
            Self::Live(points) => {
                let points = points.read().unwrap_or_else(|p| p.into_inner());
                f(&|i| points[i], points.len())
            }
            Self::Stored {
                mapping,
                entry_count,
            } => {
                let bytes = mapping
                    .bytes(INDEX_HEADER_BYTES..INDEX_HEADER_BYTES + entry_count * INDEX_ENTRY_BYTES)
                    .unwrap_or_default();
                let entries = <[IndexEntry]>::ref_from_bytes(bytes).unwrap_or_default();
                f(&|i| IndexPoint::from_entry(&entries[i]), entries.len())
            }
        }
    }

    /// Offset of the last indexed record with sequence number `<= seq` (where a scan for
    /// `seq` may start), or `None` if every indexed record is above it.
    pub fn seek_seq(&self, seq: u128) -> Option<u32> {
        self.with_points(|point, len| {
            let idx = partition_point(len, |i| point(i).seq <= seq);
            (idx > 0).then(|| point(idx - 1).offset)
        })
    }

    /// Offset of the last indexed record before which every timestamp is below
    /// `timestamp_ms` (a scan for the first record at or after it may start there).
    pub fn seek_timestamp(&self, timestamp_ms: u64) -> Option<u32> {
        self.with_points(|point, len| {
            let idx = partition_point(len, |i| point(i).max_timestamp_before_ms < timestamp_ms);
            (idx > 0).then(|| point(idx - 1).offset)
        })
    }

    /// Adds an entry (live indexes only; stored ones are immutable).
    pub fn push(&self, point: IndexPoint) {
        if let Self::Live(points) = self {
            points
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .push(point);
        }
    }

    /// A copy of every entry.
    pub fn points(&self) -> Vec<IndexPoint> {
        self.with_points(|point, len| (0..len).map(point).collect())
    }
}

fn partition_point(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) { lo = mid + 1 } else { hi = mid }
    }
    lo
}

/// Decides when the next entry is due while records are appended or scanned.
#[derive(Debug, Clone)]
pub struct IndexBuilder {
    interval_bytes: u64,
    next_due_offset: u64,
    max_timestamp_ms: u64,
}

impl IndexBuilder {
    /// A builder for a segment of `capacity` bytes whose first record is at `start`.
    pub fn new(capacity: u64, start: u64) -> Self {
        Self {
            interval_bytes: interval_bytes(capacity),
            next_due_offset: start,
            max_timestamp_ms: 0,
        }
    }

    /// A builder continuing a segment whose last index entry is at `last_entry_offset`
    /// (if any) and whose newest timestamp so far is `max_timestamp_ms`.
    pub fn resume(
        capacity: u64,
        start: u64,
        last_entry_offset: Option<u64>,
        max_timestamp_ms: u64,
    ) -> Self {
        let interval_bytes = interval_bytes(capacity);
        let next_due_offset = last_entry_offset.map_or(start, |o| o + interval_bytes);
        Self {
            interval_bytes,
            next_due_offset,
            max_timestamp_ms,
        }
    }

    /// Notes a record; returns the entry to add if one is due.
    #[inline]
    pub fn observe(&mut self, offset: u64, seq: u128, timestamp_ms: u64) -> Option<IndexPoint> {
        let point = (offset >= self.next_due_offset).then(|| {
            self.next_due_offset = offset + self.interval_bytes;
            IndexPoint {
                seq,
                max_timestamp_before_ms: self.max_timestamp_ms,
                offset: offset as u32,
            }
        });
        self.max_timestamp_ms = self.max_timestamp_ms.max(timestamp_ms);
        point
    }

    /// Newest timestamp observed so far.
    pub fn max_timestamp_ms(&self) -> u64 {
        self.max_timestamp_ms
    }
}

/// The bytes of an index file for a sealed segment.
pub fn encode_file(base_seq: u128, end_offset: u64, points: &[IndexPoint]) -> Vec<u8> {
    let entries: Vec<IndexEntry> = points.iter().map(|p| p.to_entry()).collect();
    let entry_bytes = entries.as_slice().as_bytes();
    let mut header = IndexHeader::new_zeroed();
    header.magic = INDEX_MAGIC;
    header.format_version = FORMAT_VERSION.into();
    header.entry_bytes = (INDEX_ENTRY_BYTES as u16).into();
    header.base_seq = base_seq.into();
    header.end_offset = end_offset.into();
    header.entry_count = (entries.len() as u32).into();
    header.entries_crc = crc32fast::hash(entry_bytes).into();
    header.header_crc = index_header_crc(&header).into();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(entry_bytes);
    bytes
}

/// Why an index file was not used (it is then rebuilt; never an error for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexFileProblem {
    /// Shorter than its header or its entries.
    Truncated,
    /// Magic, version or entry size wrong.
    Unrecognised,
    /// A checksum failed.
    Checksum,
    /// Disagrees with the segment (base sequence number or end offset).
    Mismatch,
    /// Entries out of order or past the segment's end.
    Disordered,
}

/// Validates a mapped index file against its segment; returns the entry count.
pub fn validate_file(
    mapping: &Mapping,
    base_seq: u128,
    end_offset: u64,
) -> Result<usize, IndexFileProblem> {
    let all = mapping
        .bytes(0..mapping.len())
        .ok_or(IndexFileProblem::Truncated)?;
    let Ok((header, rest)) = IndexHeader::read_from_prefix(all) else {
        return Err(IndexFileProblem::Truncated);
    };
    if header.magic != INDEX_MAGIC
        || header.format_version.get() != FORMAT_VERSION
        || header.entry_bytes.get() as usize != INDEX_ENTRY_BYTES
    {
        return Err(IndexFileProblem::Unrecognised);
    }
    if index_header_crc(&header) != header.header_crc.get() {
        return Err(IndexFileProblem::Checksum);
    }
    if header.base_seq.get() != base_seq || header.end_offset.get() != end_offset {
        return Err(IndexFileProblem::Mismatch);
    }
    let count = header.entry_count.get() as usize;
    if count as u64 > INDEX_ENTRIES_PER_SEGMENT_MAX * 4 {
        return Err(IndexFileProblem::Unrecognised);
    }
    let entry_bytes = rest
        .get(..count * INDEX_ENTRY_BYTES)
        .ok_or(IndexFileProblem::Truncated)?;
    if crc32fast::hash(entry_bytes) != header.entries_crc.get() {
        return Err(IndexFileProblem::Checksum);
    }
    let entries =
        <[IndexEntry]>::ref_from_bytes(entry_bytes).map_err(|_| IndexFileProblem::Truncated)?;
    let ordered = entries.windows(2).all(|w| {
        w[0].offset.get() < w[1].offset.get()
            && w[0].seq.get() < w[1].seq.get()
            && w[0].max_timestamp_before_ms.get() <= w[1].max_timestamp_before_ms.get()
    });
    let in_range = entries
        .iter()
        .all(|e| (e.offset.get() as u64) < end_offset && e.seq.get() >= base_seq);
    if !ordered || !in_range {
        return Err(IndexFileProblem::Disordered);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Access;
    use crate::io::mapping::HeapBuffer;

    fn points() -> Vec<IndexPoint> {
        vec![
            IndexPoint {
                seq: 10,
                max_timestamp_before_ms: 0,
                offset: 256,
            },
            IndexPoint {
                seq: 20,
                max_timestamp_before_ms: 100,
                offset: 4352,
            },
            IndexPoint {
                seq: 30,
                max_timestamp_before_ms: 100,
                offset: 8448,
            },
            IndexPoint {
                seq: 40,
                max_timestamp_before_ms: 300,
                offset: 12544,
            },
        ]
    }

    fn check_seeks(index: &SegmentIndex) {
        assert_eq!(index.seek_seq(5), None);
        assert_eq!(index.seek_seq(10), Some(256));
        assert_eq!(index.seek_seq(25), Some(4352));
        assert_eq!(index.seek_seq(u128::MAX), Some(12544));
        assert_eq!(index.seek_timestamp(0), None);
        assert_eq!(index.seek_timestamp(100), Some(256));
        assert_eq!(index.seek_timestamp(101), Some(8448));
        assert_eq!(index.seek_timestamp(10_000), Some(12544));
    }

    #[test]
    fn live_and_stored_seek_alike() {
        let live = SegmentIndex::live(points());
        check_seeks(&live);
        let bytes = encode_file(10, 20_000, &points());
        let mapping =
            Mapping::map_heap(HeapBuffer::from_bytes(&bytes).unwrap(), Access::ReadOnly, 0)
                .unwrap();
        let count = validate_file(&mapping, 10, 20_000).unwrap();
        assert_eq!(count, 4);
        let stored = SegmentIndex::Stored {
            mapping,
            entry_count: count,
        };
        check_seeks(&stored);
        assert_eq!(stored.points(), points());
    }

    #[test]
    fn damaged_index_files_are_rejected() {
        let bytes = encode_file(10, 20_000, &points());
        let check = |bytes: &[u8], base, end| {
            let mapping =
                Mapping::map_heap(HeapBuffer::from_bytes(bytes).unwrap(), Access::ReadOnly, 0)
                    .unwrap();
            validate_file(&mapping, base, end)
        };
        assert_eq!(check(&bytes, 11, 20_000), Err(IndexFileProblem::Mismatch));
        assert_eq!(check(&bytes, 10, 20_001), Err(IndexFileProblem::Mismatch));
        assert_eq!(
            check(&bytes[..bytes.len() - 1], 10, 20_000),
            Err(IndexFileProblem::Truncated)
        );
        assert_eq!(
            check(&bytes[..10], 10, 20_000),
            Err(IndexFileProblem::Truncated)
        );
        for byte in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[byte] ^= 0x40;
            assert!(
                check(&damaged, 10, 20_000).is_err(),
                "flip in byte {byte} accepted"
            );
        }
        let disordered = encode_file(10, 20_000, &[points()[1], points()[0]]);
        assert_eq!(
            check(&disordered, 10, 20_000),
            Err(IndexFileProblem::Disordered)
        );
    }

    #[test]
    fn builder_spaces_entries_by_interval() {
        let mut builder = IndexBuilder::new(64 << 10, 256);
        assert_eq!(interval_bytes(64 << 10), 4096);
        assert_eq!(interval_bytes(64 << 20), 64 << 10);
        let mut added = Vec::new();
        for i in 0..100u64 {
            if let Some(p) = builder.observe(256 + i * 1024, i as u128, 1000 - i) {
                added.push(p);
            }
        }
        let offsets: Vec<u32> = added.iter().map(|p| p.offset).collect();
        assert_eq!(offsets[..3], [256, 256 + 4096, 256 + 8192]);
        assert_eq!(added[0].max_timestamp_before_ms, 0);
        assert_eq!(
            added[1].max_timestamp_before_ms, 1000,
            "max before, though timestamps fall"
        );
        assert_eq!(builder.max_timestamp_ms(), 1000);
    }
}
