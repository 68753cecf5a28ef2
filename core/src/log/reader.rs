//! Zero-copy reads of a shard's log from any thread.
//!
//! A [`LogReader`] is a cheap, cloneable handle (`Send + Sync`). A read takes a snapshot
//! of the segment list, finds its start through the sparse index, and returns a
//! [`ReadBatch`] of frame positions plus reference-counted handles on the segments
//! they are in. [`Record`]s borrow from the batch; [`RecordView`]s own a handle. The
//! bytes stay valid while any batch or view lives, even after retention unlinks the file.
//!
//! Invariants: a reader never sees bytes beyond a segment's committed tip (it reads the
//! tip with acquire ordering and decodes only below it), so it never sees a partial
//! record. Reads do not take the writer's path and never block it.
//!
//! Flagged frames (encrypted records) are read like any other: the batch lends their
//! stored bytes and reports their flags. A layer above may hand the batch's readers
//! other bytes for such a record ([`ReadBatch::set_plaintext`]: the engine's
//! decryption); those live on the heap beside the mappings, so only they are copies.
#![forbid(unsafe_code)]

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::error::{Corruption, LogError, LogResult};
use super::format::RECORDS_OFFSET;
use super::record::{self, FrameInfo};
use super::segment::{Segment, ShardIdentity};

/// State shared by the writer and every reader of one log.
#[derive(Debug)]
pub struct LogShared {
    /// The log's directory.
    pub dir: std::path::PathBuf,
    /// The shard the log belongs to.
    pub identity: ShardIdentity,
    /// Segments in order of base sequence number.
    pub segments: ArcSwap<Vec<Arc<Segment>>>,
    /// Whether reads check each record's CRC.
    pub verify_crc_on_read: bool,
}

/// A handle for reading a log from any thread.
#[derive(Debug, Clone)]
pub struct LogReader {
    shared: Arc<LogShared>,
}

/// One record, borrowed from a [`ReadBatch`] (or a [`RecordView`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Sequence number.
    pub seq: u128,
    /// Approximate arrival time, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Partition key (UTF-8 as written).
    pub key: &'a [u8],
    /// Data blob.
    pub data: &'a [u8],
    /// The frame's flags (`format::FRAME_FLAG_ENCRYPTED`: the record was stored
    /// encrypted; `key` and `data` are its plaintext if the reader decrypted it).
    pub flags: u16,
}

impl Record<'_> {
    /// The partition key as text (always valid UTF-8 for records tidelog wrote).
    pub fn key_str(&self) -> &str {
        std::str::from_utf8(self.key).unwrap_or("")
    }

    /// True if the record was stored encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.flags & super::format::FRAME_FLAG_ENCRYPTED != 0
    }
}

/// Bytes that replace a record's stored key and data for its readers (a decrypted
/// record).
#[derive(Debug)]
pub struct Plaintext {
    /// The partition key.
    pub key: Box<[u8]>,
    /// The data.
    pub data: Box<[u8]>,
}

/// An owned handle on one record's bytes; keeps its segment's mapping alive.
#[derive(Debug, Clone)]
pub struct RecordView {
    segment: Arc<Segment>,
    info: FrameInfo,
    plain: Option<Arc<Plaintext>>,
}

impl RecordView {
    /// The record, borrowed from this view.
    pub fn record(&self) -> Record<'_> {
        to_record(&self.segment, &self.info, self.plain.as_deref())
    }

    /// The frame's flags (see [`Record::flags`]).
    pub fn flags(&self) -> u16 {
        self.info.flags
    }

    /// Sequence number.
    pub fn seq(&self) -> u128 {
        self.info.seq
    }

    /// Arrival timestamp, ms since the epoch.
    pub fn timestamp_ms(&self) -> u64 {
        self.info.timestamp_ms
    }

    /// Data bytes, straight from the mapping (or the plaintext that replaced them).
    pub fn data(&self) -> &[u8] {
        match &self.plain {
            Some(plain) => &plain.data,
            None => self
                .segment
                .mapping
                .bytes(self.info.data_range())
                .unwrap_or_default(),
        }
    }

    /// Partition key bytes, straight from the mapping (or the plaintext that replaced
    /// them).
    pub fn key(&self) -> &[u8] {
        match &self.plain {
            Some(plain) => &plain.key,
            None => self
                .segment
                .mapping
                .bytes(self.info.key_range())
                .unwrap_or_default(),
        }
    }

    /// True if the bytes this view lends are its stored frame's (the zero-copy case),
    /// false if they are a plaintext copy.
    pub fn is_mapped(&self) -> bool {
        self.plain.is_none()
    }
}

#[inline]
fn to_record<'a>(
    segment: &'a Segment,
    info: &FrameInfo,
    plain: Option<&'a Plaintext>,
) -> Record<'a> {
    if let Some(plain) = plain {
        return Record {
            seq: info.seq,
            timestamp_ms: info.timestamp_ms,
            key: &plain.key,
            data: &plain.data,
            flags: info.flags,
        };
    }
    // Both ranges were decoded below the committed tip, and published bytes stay
    // published for the mapping's life, so `bytes` cannot fail here.
    let mapping = &segment.mapping;
    Record {
        seq: info.seq,
        timestamp_ms: info.timestamp_ms,
        key: mapping.bytes(info.key_range()).unwrap_or_default(),
        data: mapping.bytes(info.data_range()).unwrap_or_default(),
        flags: info.flags,
    }
}

/// `Slot::plain` of a record lent straight from its segment.
const NO_PLAINTEXT: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    segment: u32,
    info: FrameInfo,
    plain: u32,
}

/// The result of one read: zero-copy records and where to continue.
#[derive(Debug, Default)]
pub struct ReadBatch {
    segments: Vec<Arc<Segment>>,
    slots: Vec<Slot>,
    plain: Vec<Arc<Plaintext>>,
    next_seq: u128,
    payload_bytes: usize,
    flagged: usize,
}

impl ReadBatch {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if the read found no records.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn plain_of(&self, slot: &Slot) -> Option<&Plaintext> {
        (slot.plain != NO_PLAINTEXT).then(|| &*self.plain[slot.plain as usize])
    }

    /// The `i`-th record.
    pub fn get(&self, i: usize) -> Option<Record<'_>> {
        let slot = self.slots.get(i)?;
        Some(to_record(
            &self.segments[slot.segment as usize],
            &slot.info,
            self.plain_of(slot),
        ))
    }

    /// All records in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Record<'_>> + '_ {
        self.slots.iter().map(|slot| {
            to_record(
                &self.segments[slot.segment as usize],
                &slot.info,
                self.plain_of(slot),
            )
        })
    }

    /// An owned view of the `i`-th record.
    pub fn view(&self, i: usize) -> Option<RecordView> {
        let slot = self.slots.get(i)?;
        Some(RecordView {
            segment: Arc::clone(&self.segments[slot.segment as usize]),
            info: slot.info,
            plain: (slot.plain != NO_PLAINTEXT)
                .then(|| Arc::clone(&self.plain[slot.plain as usize])),
        })
    }

    /// How many records carry frame flags (0 for a batch of plain records: nothing for
    /// a layer above to do).
    pub fn flagged_count(&self) -> usize {
        self.flagged
    }

    /// The stored bytes and flags of the `i`-th record, ignoring any plaintext set for
    /// it: (flags, key, data).
    pub fn stored(&self, i: usize) -> Option<(u16, &[u8], &[u8])> {
        let slot = self.slots.get(i)?;
        let record = to_record(&self.segments[slot.segment as usize], &slot.info, None);
        Some((record.flags, record.key, record.data))
    }

    /// Makes readers of the `i`-th record see `key` and `data` instead of its stored
    /// bytes (its flags, sequence number and timestamp stay). False if there is no
    /// such record.
    pub fn set_plaintext(&mut self, i: usize, key: Vec<u8>, data: Vec<u8>) -> bool {
        let Some(slot) = self.slots.get_mut(i) else {
            return false;
        };
        self.plain.push(Arc::new(Plaintext {
            key: key.into_boxed_slice(),
            data: data.into_boxed_slice(),
        }));
        slot.plain = (self.plain.len() - 1) as u32;
        true
    }

    /// The sequence number to read from next: one past the last record returned (or
    /// the requested start if nothing was returned).
    pub fn next_seq(&self) -> u128 {
        self.next_seq
    }

    /// Key plus data bytes of all records.
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }
}

impl LogReader {
    pub(crate) fn new(shared: Arc<LogShared>) -> Self {
        Self { shared }
    }

    /// The shard this log belongs to.
    pub fn identity(&self) -> ShardIdentity {
        self.shared.identity
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Segment>>> {
        self.shared.segments.load_full()
    }

    /// The lowest sequence number a read may start from: the first segment's base
    /// (`None` for a log with no segments yet).
    pub fn start_seq(&self) -> Option<u128> {
        self.snapshot().first().map(|s| s.base_seq)
    }

    /// Sequence number of the oldest record kept.
    pub fn first_seq(&self) -> Option<u128> {
        self.snapshot().iter().find_map(|s| s.first_seq())
    }

    /// Sequence number of the newest committed record.
    pub fn last_seq(&self) -> Option<u128> {
        self.snapshot().iter().rev().find_map(|s| s.last_seq())
    }

    /// Newest committed record's arrival timestamp (0 if none).
    pub fn last_timestamp_ms(&self) -> u64 {
        let snapshot = self.snapshot();
        for seg in snapshot.iter().rev() {
            let tip = seg.tip();
            if let Some(info) = tip
                .last_record_offset
                .and_then(|o| seg.frame_at(o, tip.end))
            {
                return info.timestamp_ms;
            }
        }
        0
    }

    /// Records committed across all segments kept.
    pub fn record_count(&self) -> u64 {
        self.snapshot().iter().map(|s| s.record_count()).sum()
    }

    /// Bytes of disk the kept segments occupy (their preallocated sizes).
    pub fn disk_bytes(&self) -> u64 {
        self.snapshot().iter().map(|s| s.capacity).sum()
    }

    /// Number of segments kept.
    pub fn segment_count(&self) -> usize {
        self.snapshot().len()
    }

    /// Reads records with sequence numbers `>= from_seq`, at most `max_records` of them
    /// and at most `max_bytes` of key plus data (a single record larger than
    /// `max_bytes` is returned alone rather than never).
    ///
    /// Errors: [`LogError::Trimmed`] if `from_seq` is below the log's start,
    /// [`LogError::BeyondEnd`] if it is more than one past the last record,
    /// [`LogError::Corruption`] if a record fails its CRC (with evidence).
    pub fn read(
        &self,
        from_seq: u128,
        max_records: usize,
        max_bytes: usize,
    ) -> LogResult<ReadBatch> {
        let snapshot = self.snapshot();
        let mut batch = ReadBatch {
            next_seq: from_seq,
            ..ReadBatch::default()
        };
        let Some(first) = snapshot.first() else {
            return Ok(batch);
        };
        if from_seq < first.base_seq {
            return Err(LogError::Trimmed {
                requested: from_seq,
                first_available: first.base_seq,
            });
        }
        let last = snapshot.iter().rev().find_map(|s| s.last_seq());
        if let Some(last) = last
            && from_seq > last.saturating_add(1)
        {
            return Err(LogError::BeyondEnd {
                requested: from_seq,
                next: last + 1,
            });
        }
        if last.is_none() || max_records == 0 {
            return Ok(batch);
        }
        // The last segment whose base is <= from_seq holds the start (or it is empty and
        // the start is in a later one).
        let start_index = snapshot
            .partition_point(|s| s.base_seq <= from_seq)
            .saturating_sub(1);
        let verify = self.shared.verify_crc_on_read;
        for seg in &snapshot[start_index..] {
            let finished = seg.is_finished();
            let tip = seg.tip();
            let mut offset = if seg.base_seq <= from_seq {
                seg.index
                    .seek_seq(from_seq)
                    .map_or(RECORDS_OFFSET, |o| o as usize)
            } else {
                RECORDS_OFFSET
            };
            let mut seg_slot: Option<u32> = None;
            while offset < tip.end {
                let Some(info) = seg.frame_at(offset, tip.end) else {
                    break;
                };
                offset = info.next_offset();
                if info.seq < from_seq {
                    continue;
                }
                let payload = info.frame_bytes - super::format::RECORD_HEADER_BYTES;
                if !batch.slots.is_empty() && batch.payload_bytes + payload > max_bytes {
                    return Ok(batch);
                }
                if verify {
                    let frame = seg
                        .mapping
                        .bytes(info.offset..info.offset + info.frame_bytes)
                        .unwrap_or_default();
                    record::verify_crc(frame).map_err(|kind| {
                        LogError::Corruption(Corruption {
                            path: seg.path.clone(),
                            offset: info.offset as u64,
                            kind,
                        })
                    })?;
                }
                let slot_index = *seg_slot.get_or_insert_with(|| {
                    batch.segments.push(Arc::clone(seg));
                    (batch.segments.len() - 1) as u32
                });
                batch.slots.push(Slot {
                    segment: slot_index,
                    info,
                    plain: NO_PLAINTEXT,
                });
                batch.flagged += usize::from(info.flags != 0);
                batch.payload_bytes += payload;
                batch.next_seq = info.seq + 1;
                if batch.slots.len() >= max_records {
                    return Ok(batch);
                }
            }
            if !finished {
                break;
            }
        }
        Ok(batch)
    }

    /// Sequence number of the first record whose arrival timestamp is `>= timestamp_ms`
    /// (in log order), or `None` if no committed record is that recent yet.
    pub fn seek_timestamp(&self, timestamp_ms: u64) -> Option<u128> {
        let snapshot = self.snapshot();
        for seg in snapshot.iter() {
            if seg.max_timestamp_ms() < timestamp_ms {
                continue;
            }
            let tip = seg.tip();
            let mut offset = seg
                .index
                .seek_timestamp(timestamp_ms)
                .map_or(RECORDS_OFFSET, |o| o as usize);
            while offset < tip.end {
                let info = seg.frame_at(offset, tip.end)?;
                if info.timestamp_ms >= timestamp_ms {
                    return Some(info.seq);
                }
                offset = info.next_offset();
            }
        }
        None
    }

    /// Sequence number of the first record with sequence number `>= seq`, if any is
    /// committed.
    pub fn seek_seq(&self, seq: u128) -> Option<u128> {
        let snapshot = self.snapshot();
        let start_index = snapshot
            .partition_point(|s| s.base_seq <= seq)
            .saturating_sub(1);
        for seg in snapshot.get(start_index..).unwrap_or_default() {
            let tip = seg.tip();
            let mut offset = seg
                .index
                .seek_seq(seq)
                .map_or(RECORDS_OFFSET, |o| o as usize);
            while offset < tip.end {
                let info = seg.frame_at(offset, tip.end)?;
                if info.seq >= seq {
                    return Some(info.seq);
                }
                offset = info.next_offset();
            }
        }
        None
    }
}

/// One segment's extent, as [`LogReader::segment_spans`] reports it: what a scan needs
/// to skip a whole segment by sequence number or arrival time without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSpan {
    /// Lower bound of the segment's sequence numbers (its file name).
    pub base_seq: u128,
    /// First and last committed sequence numbers (`None` while the segment is empty).
    pub seqs: Option<(u128, u128)>,
    /// Arrival time of the first committed record, ms (0 while empty). In a log
    /// written by the engine arrival times never decrease within a shard
    /// (`runtime/core.rs` stamps `max(now, last)`), so this is the segment's oldest.
    pub first_timestamp_ms: u64,
    /// Newest arrival time in the segment, ms (0 while empty).
    pub max_timestamp_ms: u64,
    /// Records committed to the segment.
    pub records: u64,
    /// True once no record will be added to it.
    pub finished: bool,
}

impl LogReader {
    /// The extent of every segment kept, oldest first (a snapshot: the active segment
    /// may grow after it is taken). For scans that skip segments by time or sequence.
    pub fn segment_spans(&self) -> Vec<SegmentSpan> {
        self.snapshot()
            .iter()
            .map(|seg| {
                // Read `finished` before the tip: a segment seen finished has its
                // final tip.
                let finished = seg.is_finished();
                let tip = seg.tip();
                let first = (tip.end > RECORDS_OFFSET)
                    .then(|| seg.frame_at(RECORDS_OFFSET, tip.end))
                    .flatten();
                let last = tip
                    .last_record_offset
                    .and_then(|o| seg.frame_at(o, tip.end));
                SegmentSpan {
                    base_seq: seg.base_seq,
                    seqs: first.zip(last).map(|(f, l)| (f.seq, l.seq)),
                    first_timestamp_ms: first.map_or(0, |f| f.timestamp_ms),
                    max_timestamp_ms: seg.max_timestamp_ms(),
                    records: seg.record_count(),
                    finished,
                }
            })
            .collect()
    }
}

/// The committed record bytes of one segment a [`ReadBatch`] reads from, owned: it
/// keeps the mapping alive like a [`RecordView`]. For exports that lend whole regions
/// of the log without copying (Arrow view arrays, whose buffers it becomes through
/// `bytes::Bytes::from_owner`).
#[derive(Debug, Clone)]
pub struct SegmentBytes {
    segment: Arc<Segment>,
    end: usize,
}

impl SegmentBytes {
    /// The region's bytes: the segment's records from its first frame up to the end
    /// of the last record the batch holds from it (published, so immutable).
    pub fn bytes(&self) -> &[u8] {
        self.segment
            .mapping
            .bytes(RECORDS_OFFSET..self.end)
            .unwrap_or_default()
    }
}

impl AsRef<[u8]> for SegmentBytes {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

/// Where one record of a [`ReadBatch`] lies inside the batch's [`SegmentBytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLocation {
    /// Which region (index for [`ReadBatch::segment_bytes`]).
    pub region: usize,
    /// The partition key's bytes within the region.
    pub key: std::ops::Range<usize>,
    /// The data's bytes within the region.
    pub data: std::ops::Range<usize>,
}

impl ReadBatch {
    /// Number of distinct segments the batch's records lie in.
    pub fn region_count(&self) -> usize {
        self.segments.len()
    }

    /// The `index`-th segment's region (see [`SegmentBytes`]): up to the end of the
    /// batch's last record in that segment.
    pub fn segment_bytes(&self, index: usize) -> Option<SegmentBytes> {
        let segment = self.segments.get(index)?;
        let end = self
            .slots
            .iter()
            .filter(|s| s.segment as usize == index)
            .map(|s| s.info.offset + s.info.frame_bytes)
            .max()
            .unwrap_or(RECORDS_OFFSET);
        Some(SegmentBytes {
            segment: Arc::clone(segment),
            end,
        })
    }

    /// Where the `i`-th record's key and data lie in its region.
    pub fn record_location(&self, i: usize) -> Option<RecordLocation> {
        let slot = self.slots.get(i)?;
        let shift = |r: std::ops::Range<usize>| r.start - RECORDS_OFFSET..r.end - RECORDS_OFFSET;
        Some(RecordLocation {
            region: slot.segment as usize,
            key: shift(slot.info.key_range()),
            data: shift(slot.info.data_range()),
        })
    }
}
