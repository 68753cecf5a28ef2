//! One segment of a shard's log: a preallocated, zero-filled, memory-mapped file of
//! record frames (layout in `format.rs`).
//!
//! [`Segment`] is the part readers share: the mapping, the committed tip and the sparse
//! index. [`SegmentWriter`] is the writer's part: the mapping's single writer, the sync
//! handle, and what the last completed sync made durable.
//!
//! Invariants:
//! - `tip` packs (offset of the last committed record, end of committed records). It is
//!   stored (release) only after the mapping's frontier was published over those bytes,
//!   so a reader that loads it (acquire) can decode every record below `end`.
//! - `finished` is set (release) after the final tip store; once set, the tip no longer
//!   moves and no record is ever added to the segment.
//! - Bytes from `end` to the capacity are zero while the segment is active (files are
//!   zero-filled at creation and recovery zeroes a torn tail), so a frame's padding
//!   never needs writing and a zero length always marks the end.
//! - The checkpoint block is written only with state that a *completed* sync covered.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use zerocopy::{FromBytes, FromZeros, IntoBytes};

use super::error::{LogError, LogResult};
use super::format::{
    CHECKPOINT_BYTES, CHECKPOINT_OFFSET, CHECKPOINT_STATE_OPEN, Checkpoint, FORMAT_VERSION,
    RECORD_HEADER_BYTES, RECORDS_OFFSET, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC, SegmentHeader,
    checkpoint_crc, segment_header_crc,
};
use super::index::{IndexBuilder, IndexPoint, SegmentIndex};
use super::record::{self, Decoded, FrameInfo};
use crate::io::{FileHandle, Mapping, MappingWriter};

/// How an append puts its bytes into the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteVia {
    /// A copy into the shared mapping: no system call, the lowest latency. Pages
    /// dirtied this way make the next fdatasync slower (measured here: ~290 µs against
    /// ~140-160 µs), so use it for appends that will not be synced right away.
    #[default]
    Mapping,
    /// A `pwritev` to the file: a system call (~2-5 µs here), but the fdatasync that
    /// follows is as fast as the device allows. For appends about to be synced.
    Syscall,
    /// Gathered in memory and written with one `pwritev` per batch, when the batch ends
    /// ([`Log::flush_staged`](super::Log::flush_staged)) or reaches
    /// [`STAGE_FLUSH_BYTES`]; published only then. For batches: one system call instead
    /// of one per record, and no page faults (a full-page write into the page cache
    /// neither faults nor zeroes the page first: 6 GB/s here, against 2.3-2.8 GB/s for
    /// a copy into the mapping of a new segment and 5 GB/s into one already cached).
    Staged,
}

/// Staged bytes that are written at once, without waiting for the batch's end: bounds
/// the memory a log holds for staging (the buffer is freed after each flush).
pub const STAGE_FLUSH_BYTES: usize = 256 << 10;

/// Which stream and shard a log belongs to (written into every segment header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ShardIdentity {
    /// Numeric id of the stream (0 for a standalone log).
    pub stream_id: u64,
    /// Index of the shard within the stream.
    pub shard_index: u32,
}

/// Committed extent of a segment as readers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    /// Offset of the last committed record, if any.
    pub last_record_offset: Option<usize>,
    /// End of the committed records.
    pub end: usize,
}

fn pack_tip(last_record_offset: usize, end: usize) -> u64 {
    ((last_record_offset as u64) << 32) | end as u64
}

/// The shared, read-side part of a segment.
#[derive(Debug)]
pub struct Segment {
    /// Lower bound of the segment's sequence numbers (its file name).
    pub base_seq: u128,
    /// Length of the file.
    pub capacity: u64,
    /// The segment file.
    pub path: PathBuf,
    /// The mapped bytes.
    pub mapping: Arc<Mapping>,
    /// The sparse index.
    pub index: SegmentIndex,
    tip: AtomicU64,
    finished: AtomicBool,
    max_timestamp_ms: AtomicU64,
    record_count: AtomicU64,
}

impl Segment {
    /// A segment whose committed records are described by `state`.
    pub fn new(
        base_seq: u128,
        capacity: u64,
        path: PathBuf,
        mapping: Arc<Mapping>,
        index: SegmentIndex,
        state: &DurableState,
        finished: bool,
    ) -> Self {
        Self {
            base_seq,
            capacity,
            path,
            mapping,
            index,
            tip: AtomicU64::new(pack_tip(state.last_record_offset, state.end)),
            finished: AtomicBool::new(finished),
            max_timestamp_ms: AtomicU64::new(state.max_timestamp_ms),
            record_count: AtomicU64::new(state.record_count),
        }
    }

    /// The committed extent (acquire).
    #[inline]
    pub fn tip(&self) -> Tip {
        let packed = self.tip.load(Ordering::Acquire);
        let last = (packed >> 32) as usize;
        Tip {
            last_record_offset: (last != 0).then_some(last),
            end: (packed & 0xffff_ffff) as usize,
        }
    }

    /// True once no record will ever be added (acquire).
    #[inline]
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Newest arrival timestamp in the segment (0 if empty).
    pub fn max_timestamp_ms(&self) -> u64 {
        self.max_timestamp_ms.load(Ordering::Acquire)
    }

    /// Records committed to the segment.
    pub fn record_count(&self) -> u64 {
        self.record_count.load(Ordering::Acquire)
    }

    /// Decodes the committed frame at `offset` (structure only, no CRC).
    #[inline]
    pub fn frame_at(&self, offset: usize, end: usize) -> Option<FrameInfo> {
        let region = self.mapping.bytes(offset..end)?;
        match record::decode(region, offset, false) {
            Decoded::Frame(info) => Some(info),
            _ => None,
        }
    }

    /// Sequence number of the last committed record, if any.
    pub fn last_seq(&self) -> Option<u128> {
        let tip = self.tip();
        tip.last_record_offset
            .and_then(|off| self.frame_at(off, tip.end))
            .map(|f| f.seq)
    }

    /// Sequence number of the first committed record, if any.
    pub fn first_seq(&self) -> Option<u128> {
        let tip = self.tip();
        (tip.end > RECORDS_OFFSET)
            .then(|| self.frame_at(RECORDS_OFFSET, tip.end))
            .flatten()
            .map(|f| f.seq)
    }
}

/// What a sync covered: the state of a segment at the moment the sync was planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DurableState {
    /// End of the records covered.
    pub end: usize,
    /// Offset of the last covered record (0 if none).
    pub last_record_offset: usize,
    /// Sequence number of that record (0 if none).
    pub last_seq: u128,
    /// Records covered.
    pub record_count: u64,
    /// Newest timestamp covered.
    pub max_timestamp_ms: u64,
}

/// The writer's part of a segment.
#[derive(Debug)]
pub struct SegmentWriter {
    /// The shared part.
    pub seg: Arc<Segment>,
    writer: MappingWriter,
    file: Box<dyn FileHandle>,
    index_builder: IndexBuilder,
    /// State covered by the last completed sync.
    pub durable: DurableState,
    /// State as appended (ahead of or equal to `durable`).
    pub current: DurableState,
    /// End offset recorded in the on-disk checkpoint (or `RECORDS_OFFSET`).
    pub checkpoint_end: usize,
    header_writes: u64,
    header_synced: u64,
    /// Frames appended with [`WriteVia::Staged`] and not yet written: the bytes of
    /// `[written.end, current.end)`, padding included.
    stage: Vec<u8>,
    /// Index points of the staged frames (pushed when they are written).
    stage_points: Vec<IndexPoint>,
    /// The state as written to the page cache and published (`current` less the stage).
    written: DurableState,
    /// A sealed checkpoint has been written (durable after the next sync).
    pub seal_written: bool,
    /// The on-disk checkpoint says the log was closed cleanly here; it must be turned
    /// back to "open" (and synced) before the first append.
    pub closed_on_disk: bool,
}

impl SegmentWriter {
    /// Wraps a segment and its writer. `current` is the committed state; `durable` what
    /// is known to be on disk.
    pub fn new(
        seg: Arc<Segment>,
        writer: MappingWriter,
        file: Box<dyn FileHandle>,
        index_builder: IndexBuilder,
        current: DurableState,
        durable: DurableState,
        checkpoint_end: usize,
    ) -> Self {
        Self {
            seg,
            writer,
            file,
            index_builder,
            durable,
            current,
            checkpoint_end,
            header_writes: 0,
            header_synced: 0,
            stage: Vec::new(),
            stage_points: Vec::new(),
            written: current,
            seal_written: false,
            closed_on_disk: false,
        }
    }

    /// Writes a fresh segment header into the header area.
    pub fn write_header(&mut self, identity: ShardIdentity, created_ms: u64) -> LogResult<()> {
        let mut header = SegmentHeader::new_zeroed();
        header.magic = SEGMENT_MAGIC;
        header.format_version = FORMAT_VERSION.into();
        header.records_offset = (RECORDS_OFFSET as u16).into();
        header.stream_id = identity.stream_id.into();
        header.shard_index = identity.shard_index.into();
        header.base_seq = self.seg.base_seq.into();
        header.created_ms = created_ms.into();
        header.capacity_bytes = self.seg.capacity.into();
        header.header_crc = segment_header_crc(&header).into();
        self.write_header_area(0, header.as_bytes())?;
        debug_assert_eq!(header.as_bytes().len(), SEGMENT_HEADER_BYTES);
        Ok(())
    }

    fn write_header_area(&mut self, offset: usize, bytes: &[u8]) -> LogResult<()> {
        self.writer.write(offset, bytes).map_err(|e| {
            LogError::io(
                "write header of",
                self.seg.path.clone(),
                std::io::Error::other(e),
            )
        })?;
        self.header_writes += 1;
        Ok(())
    }

    /// Writes a checkpoint block describing `state` (which a completed sync covered).
    pub fn write_checkpoint(
        &mut self,
        state: DurableState,
        checkpoint_state: u32,
    ) -> LogResult<()> {
        let mut checkpoint = Checkpoint::new_zeroed();
        checkpoint.end_offset = (state.end as u64).into();
        checkpoint.last_record_offset = (state.last_record_offset as u64).into();
        checkpoint.last_seq = state.last_seq.into();
        checkpoint.record_count = state.record_count.into();
        checkpoint.max_timestamp_ms = state.max_timestamp_ms.into();
        checkpoint.state = checkpoint_state.into();
        checkpoint.crc = checkpoint_crc(&checkpoint).into();
        debug_assert_eq!(checkpoint.as_bytes().len(), CHECKPOINT_BYTES);
        self.write_header_area(CHECKPOINT_OFFSET, checkpoint.as_bytes())?;
        self.checkpoint_end = state.end;
        Ok(())
    }

    /// Room left for frames.
    #[inline]
    pub fn room(&self) -> usize {
        self.seg.capacity as usize - self.current.end
    }

    /// Appends one frame (the caller checked room and ordering) and publishes it (a
    /// staged frame: when the stage is written). Returns the frame's size in bytes.
    #[inline]
    pub fn append(
        &mut self,
        seq: u128,
        timestamp_ms: u64,
        key: &[u8],
        data: &[u8],
        flags: u16,
        via: WriteVia,
    ) -> LogResult<usize> {
        debug_assert!(
            via == WriteVia::Staged || self.stage.is_empty(),
            "the log writes staged frames before any other"
        );
        let offset = self.current.end;
        let header = record::encode_header_flagged(seq, timestamp_ms, key, data, flags);
        let frame_bytes = RECORD_HEADER_BYTES + key.len() + data.len();
        let path = &self.seg.path;
        let bounds = |e| LogError::io("append to", path.clone(), std::io::Error::other(e));
        self.writer
            .check_writable(offset, frame_bytes)
            .map_err(bounds)?;
        let parts = [header.as_bytes(), key, data];
        let padded = super::format::align_up(frame_bytes);
        let written = match via {
            WriteVia::Staged => {
                if self.stage.is_empty() {
                    self.stage.reserve(STAGE_FLUSH_BYTES);
                }
                for part in parts {
                    self.stage.extend_from_slice(part);
                }
                self.stage
                    .resize(self.stage.len() + (padded - frame_bytes), 0);
                true
            }
            WriteVia::Syscall => match self.file.write_at(offset as u64, &parts) {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::Unsupported => false,
                Err(e) => {
                    // Part of the frame may have landed: put the zeros back so the bytes
                    // after the log's end stay zero. Nothing was published.
                    let _ = self.writer.zero(offset, frame_bytes);
                    return Err(LogError::io("append to", path.clone(), e));
                }
            },
            WriteVia::Mapping => false,
        };
        if !written {
            let mut at = offset;
            for part in parts {
                self.writer.write(at, part).map_err(bounds)?;
                at += part.len();
            }
        }
        let staged = via == WriteVia::Staged;
        if let Some(point) = self.index_builder.observe(offset as u64, seq, timestamp_ms) {
            if staged {
                self.stage_points.push(point); // pushed when the stage is written
            } else {
                self.seg.index.push(point);
            }
        }
        self.current = DurableState {
            end: offset + padded,
            last_record_offset: offset,
            last_seq: seq,
            record_count: self.current.record_count + 1,
            max_timestamp_ms: self.current.max_timestamp_ms.max(timestamp_ms),
        };
        if staged {
            debug_assert_eq!(self.written.end + self.stage.len(), self.current.end);
            return Ok(frame_bytes);
        }
        self.publish();
        Ok(frame_bytes)
    }

    /// Bytes of staged frames waiting to be written.
    pub fn staged_bytes(&self) -> usize {
        self.stage.len()
    }

    /// The state written to the page cache (what a sync planned now may cover).
    pub fn written(&self) -> DurableState {
        self.written
    }

    /// Writes the staged frames with one `pwritev` (through the mapping where the
    /// storage has no file), pushes their index points and publishes them. On an
    /// error, whatever part landed is zeroed again and nothing is published; the
    /// caller fails the log (the staged frames' puts must not be acknowledged).
    pub fn flush_stage(&mut self) -> std::io::Result<()> {
        if self.stage.is_empty() {
            return Ok(());
        }
        let from = self.written.end;
        let stage = std::mem::take(&mut self.stage);
        let result = match self.file.write_at(from as u64, &[&stage]) {
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => self
                .writer
                .write(from, &stage)
                .map_err(std::io::Error::other),
            other => other,
        };
        if let Err(e) = result {
            let _ = self.writer.zero(from, stage.len());
            self.stage_points.clear();
            return Err(e);
        }
        for point in self.stage_points.drain(..) {
            self.seg.index.push(point);
        }
        self.publish();
        Ok(())
    }

    fn publish(&mut self) {
        let state = self.current;
        self.written = state;
        self.writer.publish(state.end);
        let seg = &self.seg;
        seg.max_timestamp_ms
            .store(state.max_timestamp_ms, Ordering::Release);
        seg.record_count
            .store(state.record_count, Ordering::Release);
        seg.tip.store(
            pack_tip(state.last_record_offset, state.end),
            Ordering::Release,
        );
    }

    /// Marks the segment finished: no more appends (release).
    pub fn finish(&mut self) {
        self.seg.finished.store(true, Ordering::Release);
    }

    /// True if a sync would change what is durable.
    pub fn needs_sync(&self) -> bool {
        self.header_writes != self.header_synced || self.current.end != self.durable.end
    }

    /// How many header-area writes have been made (a sync planned now covers them).
    pub fn header_writes(&self) -> u64 {
        self.header_writes
    }

    /// Records that a completed sync covered the first `writes` header-area writes.
    pub fn mark_header_synced_up_to(&mut self, writes: u64) {
        self.header_synced = self.header_synced.max(writes);
    }

    /// Records that a completed sync covered every header-area write so far.
    pub fn mark_header_synced(&mut self) {
        self.header_synced = self.header_writes;
    }

    /// Makes the segment's data durable through the log's own handle (fdatasync).
    pub fn sync_file(&self) -> std::io::Result<()> {
        let current = self
            .writer
            .peek(0..self.seg.capacity as usize)
            .unwrap_or_default();
        self.file.sync_data_with(current)
    }

    /// The sync handle (for drivers that issue the fdatasync themselves).
    pub fn sync_handle(&self) -> &dyn FileHandle {
        self.file.as_ref()
    }

    /// Zeroes `[offset, end)` (a torn tail found by recovery).
    pub fn zero_tail(&mut self, offset: usize, end: usize) -> LogResult<()> {
        self.writer.zero(offset, end - offset).map_err(|e| {
            LogError::io(
                "zero torn tail of",
                self.seg.path.clone(),
                std::io::Error::other(e),
            )
        })
    }

    /// Publishes the recovered state (records found by recovery become readable).
    pub fn publish_recovered(&mut self) {
        self.publish();
    }

    /// The records' index points so far (for writing the index file at seal time).
    pub fn index_points(&self) -> Vec<IndexPoint> {
        self.seg.index.points()
    }

    /// An open-state checkpoint for the durable state.
    pub fn durable_open_checkpoint(&mut self) -> LogResult<()> {
        self.write_checkpoint(self.durable, CHECKPOINT_STATE_OPEN)
    }
}

/// Reads a segment's header and checkpoint through a writer's or reader's bytes.
pub fn read_header(bytes: &[u8]) -> Option<(SegmentHeader, Option<Checkpoint>)> {
    let header = SegmentHeader::read_from_prefix(bytes).ok()?.0;
    let checkpoint = bytes
        .get(CHECKPOINT_OFFSET..CHECKPOINT_OFFSET + CHECKPOINT_BYTES)
        .and_then(|b| Checkpoint::read_from_bytes(b).ok())
        .filter(|c| checkpoint_crc(c) == c.crc.get());
    Some((header, checkpoint))
}
