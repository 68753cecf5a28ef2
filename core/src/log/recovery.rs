//! Opening a log: find its segments, trust what was durably sealed, verify the rest,
//! and cut a torn tail.
//!
//! # The recovery rule
//! 1. Files are classified by name; spare segments (`spare-*.spare`, possibly half
//!    zero-filled) and index files without a segment are removed; names tidelog did not
//!    make are left alone and listed in the report.
//! 2. Segments are visited in order of base sequence number. A segment whose header is
//!    all zeros, or that is shorter than a header, never had a sync complete (segments
//!    are synced oldest first), so neither did any later one: it starts the torn tail.
//!    So does the last segment when its magic or header CRC is bad and everything after
//!    the header (checkpoint block, first frame) is zero: a roll killed while writing
//!    the header, before any record could follow it. A segment shorter than its
//!    header's capacity is extended back with zeros. Any other header problem (magic,
//!    CRC, version, base, capacity, shard) fails the open.
//! 3. A segment whose checkpoint says SEALED and whose index file is valid is trusted
//!    as is (its records are still CRC-checked when read). Any other segment is scanned
//!    from the first record, checking length, CRC and sequence order of every frame.
//! 4. The first bad frame at offset P: if P is below the segment's durable evidence
//!    (its checkpoint's end, or a valid index file's end), data that a completed sync
//!    covered is damaged. That is [`Corruption`](super::error::Corruption), reported
//!    with file, offset and the expected/actual CRC, and open fails. Otherwise P is the
//!    torn tail of the log: everything from P on, including any later segments (nothing
//!    in them can have been synced), is dropped, and the report says how much.
//! 5. The tail of the last segment must be zero after its end (appends never write
//!    padding). Unless the checkpoint says the log was closed cleanly exactly at that
//!    end, the bytes after the end are checked and any non-zero ones zeroed and synced.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{Corruption, CorruptionKind, LogError, LogResult};
use super::format::{
    CHECKPOINT_STATE_CLOSED, CHECKPOINT_STATE_SEALED, FORMAT_VERSION, LogFileName, RECORDS_OFFSET,
    SEGMENT_HEADER_BYTES, SEGMENT_MAGIC, index_file_name, parse_log_file_name, segment_header_crc,
};
use super::index::{self, IndexBuilder, SegmentIndex};
use super::record::{self, Decoded};
use super::segment::{DurableState, Segment, SegmentWriter, ShardIdentity, read_header};
use crate::io::{Access, EntryKind, MappedFile, Storage};

/// A torn tail cut off by recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailTruncation {
    /// The segment holding the first bad frame.
    pub path: PathBuf,
    /// Offset of that frame (the new end of the log).
    pub offset: u64,
    /// What was wrong with it.
    pub reason: CorruptionKind,
    /// Non-zero bytes dropped from that segment (from `offset` to the last non-zero
    /// byte), plus the committed bytes of any later segments dropped.
    pub bytes_dropped: u64,
}

/// What recovery found and did. Nothing here is an error: errors fail the open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments kept.
    pub segments: usize,
    /// Segments whose frames were scanned and verified.
    pub segments_scanned: usize,
    /// Frames verified while scanning.
    pub records_scanned: u64,
    /// Bytes of frames verified while scanning.
    pub bytes_scanned: u64,
    /// Index files rebuilt because they were missing or damaged.
    pub indexes_rebuilt: usize,
    /// The torn tail cut off, if any.
    pub tail: Option<TailTruncation>,
    /// Later segments removed because they came after a torn tail (or were empty rolls).
    pub segments_dropped: Vec<PathBuf>,
    /// Stray bytes after the end of the last segment that were zeroed (no frame there).
    pub garbage_bytes_zeroed: u64,
    /// Last segments found shorter than their header says (external damage) and
    /// extended back with zeros before being scanned.
    pub segments_extended: Vec<PathBuf>,
    /// tidelog's own leftovers removed (spare segments, orphan index files).
    pub leftovers_removed: Vec<PathBuf>,
    /// Files in the directory that tidelog did not make (left alone).
    pub unknown_files: Vec<String>,
    /// True if the checkpoint showed a clean close at the end of the log.
    pub clean_shutdown: bool,
}

/// The log's state rebuilt from disk.
pub struct Recovered {
    /// Segments for readers, in order.
    pub segments: Vec<Arc<Segment>>,
    /// The writable last segment, if it is not sealed.
    pub active: Option<SegmentWriter>,
    /// Complete earlier segments whose seal is not durable yet.
    pub finishing: Vec<SegmentWriter>,
    /// Highest sequence number found.
    pub last_seq: Option<u128>,
    /// What happened.
    pub report: RecoveryReport,
}

struct Scan {
    durable: DurableState,
    points: Vec<index::IndexPoint>,
    bad: Option<(usize, CorruptionKind)>,
    records: u64,
}

fn corruption(path: &Path, offset: u64, kind: CorruptionKind) -> LogError {
    LogError::Corruption(Corruption {
        path: path.to_path_buf(),
        offset,
        kind,
    })
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> LogError + 'a {
    move |e| LogError::io(op, path, e)
}

/// Offset one past the last non-zero byte in `bytes` (0 if all zero).
fn nonzero_extent(bytes: &[u8]) -> usize {
    let mut end = bytes.len();
    let chunks = bytes.rchunks(4096);
    for chunk in chunks {
        if chunk.iter().fold(0u8, |acc, &b| acc | b) != 0 {
            let pos = chunk.iter().rposition(|&b| b != 0).unwrap_or(0);
            return end - chunk.len() + pos + 1;
        }
        end -= chunk.len();
    }
    0
}

/// Scans frames from the first record, verifying each, until the end or a bad frame.
fn scan(bytes: &[u8], base_seq: u128, previous_seq: Option<u128>, capacity: usize) -> Scan {
    let mut offset = RECORDS_OFFSET;
    let mut builder = IndexBuilder::new(capacity as u64, RECORDS_OFFSET as u64);
    let mut points = Vec::new();
    let mut durable = DurableState {
        end: RECORDS_OFFSET,
        ..DurableState::default()
    };
    let mut last = previous_seq;
    let mut records = 0;
    while offset < capacity {
        match record::decode(&bytes[offset..capacity], offset, true) {
            Decoded::End => break,
            Decoded::Bad(kind) => {
                return Scan {
                    durable,
                    points,
                    bad: Some((offset, kind)),
                    records,
                };
            }
            Decoded::Frame(info) => {
                let floor = last.map_or(base_seq, |l| l.saturating_add(1).max(base_seq));
                if info.seq < floor || last.is_some_and(|l| info.seq <= l) {
                    let kind = CorruptionKind::SequenceOrder {
                        seq: info.seq,
                        previous: last.unwrap_or(base_seq),
                    };
                    return Scan {
                        durable,
                        points,
                        bad: Some((offset, kind)),
                        records,
                    };
                }
                if let Some(point) = builder.observe(offset as u64, info.seq, info.timestamp_ms) {
                    points.push(point);
                }
                last = Some(info.seq);
                records += 1;
                durable = DurableState {
                    end: info.next_offset(),
                    last_record_offset: offset,
                    last_seq: info.seq,
                    record_count: records,
                    max_timestamp_ms: builder.max_timestamp_ms(),
                };
                offset = info.next_offset();
            }
        }
    }
    Scan {
        durable,
        points,
        bad: None,
        records,
    }
}

/// A segment file whose header has been read.
struct Opened {
    base_seq: u128,
    path: PathBuf,
    file_len: u64,
    capacity: usize,
    mapped: MappedFile,
    writer: crate::io::MappingWriter,
    checkpoint: Option<super::format::Checkpoint>,
}

/// Maps a segment and checks its header. `Ok(Err(reason))` means the roll that created
/// the file never finished (its header is all zeros, or torn in the last segment with
/// nothing after it), so the segment starts the torn tail; `reason` is what was found.
fn open_segment(
    storage: &dyn Storage,
    dir: &Path,
    identity: ShardIdentity,
    base_seq: u128,
    name: &str,
    is_last: bool,
    report: &mut RecoveryReport,
) -> LogResult<Result<Opened, CorruptionKind>> {
    let path = dir.join(name);
    let mut file_len = storage.file_len(&path).map_err(io_err("stat", &path))?;
    if file_len < RECORDS_OFFSET as u64 {
        // Not even its header reached the disk: no sync ever covered this segment, so
        // none covered a later one either (segments are synced oldest first). It starts
        // the torn tail, like a roll that never reached disk.
        return Ok(Err(CorruptionKind::FileTooShort {
            len: file_len,
            needed: RECORDS_OFFSET as u64,
        }));
    }
    if file_len > crate::limits::SEGMENT_BYTES_CEILING {
        let found = file_len.into();
        let expected = crate::limits::SEGMENT_BYTES_CEILING.into();
        return Err(corruption(
            &path,
            0,
            CorruptionKind::HeaderMismatch {
                field: "file length",
                expected,
                found,
            },
        ));
    }
    // A segment shorter than its header says (its new length never reached the disk
    // before a power cut, or external damage: tidelog never shrinks a file) is extended
    // back to that size, so the missing bytes read as zeros and the scan finds its end
    // (or a torn frame) there.
    {
        let head = storage
            .map(&path, RECORDS_OFFSET, Access::ReadOnly, 0)
            .map_err(io_err("map", &path))?;
        let header = head
            .mapping
            .bytes(0..SEGMENT_HEADER_BYTES)
            .and_then(read_header)
            .map(|(h, _)| h);
        drop(head);
        if let Some(header) = header
            && header.magic == SEGMENT_MAGIC
            && segment_header_crc(&header) == header.header_crc.get()
            && header.capacity_bytes.get() > file_len
            && header.capacity_bytes.get() <= crate::limits::SEGMENT_BYTES_CEILING
        {
            let capacity = header.capacity_bytes.get();
            storage
                .extend_zeroed(&path, capacity)
                .map_err(io_err("re-extend short segment", &path))?;
            report.segments_extended.push(path.clone());
            file_len = capacity;
        }
    }
    let capacity = file_len as usize;
    let mapped = storage
        .map(&path, capacity, Access::ReadWrite, RECORDS_OFFSET)
        .map_err(io_err("map", &path))?;
    let Some(writer) = mapped.mapping.take_writer() else {
        return Err(LogError::Locked {
            dir: dir.to_path_buf(),
        });
    };
    let header_bytes = writer.peek(0..RECORDS_OFFSET).unwrap_or_default();
    if header_bytes[..SEGMENT_HEADER_BYTES].iter().all(|&b| b == 0) {
        return Ok(Err(CorruptionKind::BadMagic { found: [0; 8] }));
    }
    // A torn header: the process died while a roll was writing the header of the
    // segment it had just created (a plain memory copy into the mapping, which a
    // SIGKILL can interrupt halfway: seen as a valid magic with a zero CRC). Records are
    // appended only after the header is complete, so such a segment holds nothing; if
    // it is the last one and its checkpoint block and first frame are still zero, a bad
    // magic or CRC means that unfinished roll and it starts the torn tail. Anywhere
    // else, or with anything after the header, a bad header is corruption.
    let unfinished_roll = is_last
        && header_bytes[SEGMENT_HEADER_BYTES..].iter().all(|&b| b == 0)
        && writer
            .peek(RECORDS_OFFSET..RECORDS_OFFSET + 8)
            .is_none_or(|b| b.iter().all(|&x| x == 0));
    let Some((header, checkpoint)) = read_header(header_bytes) else {
        let needed = RECORDS_OFFSET as u64;
        return Err(corruption(
            &path,
            0,
            CorruptionKind::FileTooShort {
                len: file_len,
                needed,
            },
        ));
    };
    if header.magic != SEGMENT_MAGIC {
        let kind = CorruptionKind::BadMagic {
            found: header.magic,
        };
        if unfinished_roll {
            return Ok(Err(kind));
        }
        return Err(corruption(&path, 0, kind));
    }
    let crc = segment_header_crc(&header);
    if crc != header.header_crc.get() {
        let kind = CorruptionKind::ChecksumMismatch {
            expected: header.header_crc.get(),
            actual: crc,
        };
        if unfinished_roll {
            return Ok(Err(kind));
        }
        return Err(corruption(&path, 124, kind));
    }
    if header.format_version.get() != FORMAT_VERSION {
        let found = header.format_version.get();
        return Err(corruption(
            &path,
            8,
            CorruptionKind::UnsupportedVersion { found },
        ));
    }
    let mismatch = |offset, field, expected: u128, found: u128| {
        Err(corruption(
            &path,
            offset,
            CorruptionKind::HeaderMismatch {
                field,
                expected,
                found,
            },
        ))
    };
    if header.base_seq.get() != base_seq {
        return mismatch(32, "base_seq", base_seq, header.base_seq.get());
    }
    if header.capacity_bytes.get() != file_len {
        return mismatch(
            56,
            "capacity_bytes",
            file_len.into(),
            header.capacity_bytes.get().into(),
        );
    }
    let header_capacity = header.capacity_bytes.get();
    if header_capacity % super::format::RECORD_ALIGN_BYTES as u64 != 0 {
        // Frames are 8-byte aligned: a frame's padding could otherwise end past the file.
        let rounded = header_capacity.next_multiple_of(super::format::RECORD_ALIGN_BYTES as u64);
        return mismatch(
            56,
            "capacity_bytes (a multiple of 8)",
            rounded.into(),
            header_capacity.into(),
        );
    }
    if header.records_offset.get() as usize != RECORDS_OFFSET {
        return mismatch(
            10,
            "records_offset",
            RECORDS_OFFSET as u128,
            header.records_offset.get().into(),
        );
    }
    if header.stream_id.get() != identity.stream_id
        || header.shard_index.get() != identity.shard_index
    {
        return Err(LogError::IdentityMismatch {
            path,
            expected_stream: identity.stream_id,
            expected_shard: identity.shard_index,
            found_stream: header.stream_id.get(),
            found_shard: header.shard_index.get(),
        });
    }
    Ok(Ok(Opened {
        base_seq,
        path,
        file_len,
        capacity,
        mapped,
        writer,
        checkpoint,
    }))
}

/// Drops the segment files in `names` (a torn tail's later segments).
fn drop_segments(
    storage: &dyn Storage,
    dir: &Path,
    names: &[(u128, String)],
    report: &mut RecoveryReport,
) -> LogResult<()> {
    for (base_seq, name) in names {
        let path = dir.join(name);
        let committed = storage
            .file_len(&path)
            .unwrap_or(0)
            .saturating_sub(RECORDS_OFFSET as u64);
        if let Some(tail) = report.tail.as_mut() {
            tail.bytes_dropped += committed;
        }
        storage
            .remove_file(&path)
            .map_err(io_err("remove segment after torn tail", &path))?;
        let index_path = dir.join(index_file_name(*base_seq));
        if storage.exists(&index_path).unwrap_or(false) {
            storage
                .remove_file(&index_path)
                .map_err(io_err("remove index", &index_path))?;
        }
        report.segments_dropped.push(path);
    }
    Ok(())
}

/// Opens the segments in `dir` (see the module doc for the rule).
pub fn recover(storage: &dyn Storage, dir: &Path, identity: ShardIdentity) -> LogResult<Recovered> {
    let mut report = RecoveryReport::default();
    let mut segment_names = BTreeMap::new();
    let mut index_names = BTreeSet::new();
    for entry in storage.list_dir(dir).map_err(io_err("list", dir))? {
        match (entry.kind, parse_log_file_name(&entry.name)) {
            (EntryKind::File, Some(LogFileName::Segment(seq))) => {
                segment_names.insert(seq, entry.name);
            }
            (EntryKind::File, Some(LogFileName::Index(seq))) => {
                index_names.insert(seq);
            }
            (EntryKind::File, Some(LogFileName::Spare)) => {
                let path = dir.join(&entry.name);
                storage
                    .remove_file(&path)
                    .map_err(io_err("remove spare", &path))?;
                report.leftovers_removed.push(path);
            }
            _ if entry.name == crate::io::LOCK_FILE_NAME => {}
            _ => report.unknown_files.push(entry.name),
        }
    }
    let segment_seqs: BTreeSet<u128> = segment_names.keys().copied().collect();
    for &seq in index_names.difference(&segment_seqs) {
        let path = dir.join(index_file_name(seq));
        storage
            .remove_file(&path)
            .map_err(io_err("remove orphan index", &path))?;
        report.leftovers_removed.push(path);
    }
    report.unknown_files.sort();
    let names: Vec<(u128, String)> = segment_names.into_iter().collect();

    // Pass 1: headers. A zero header means the roll that made the file never became
    // durable, so nothing from there on was synced: it starts the torn tail. So does a
    // torn header in the last segment with nothing after it (a roll killed mid-write).
    let mut opened = Vec::with_capacity(names.len());
    let mut kept = names.len();
    let mut unfinished = None;
    for (position, (base_seq, name)) in names.iter().enumerate() {
        let is_last = position + 1 == names.len();
        match open_segment(
            storage,
            dir,
            identity,
            *base_seq,
            name,
            is_last,
            &mut report,
        )? {
            Ok(segment) => opened.push(segment),
            Err(reason) => {
                kept = position;
                unfinished = Some(reason);
                break;
            }
        }
    }
    if let Some(reason) = unfinished {
        opened.truncate(kept);
        let path = dir.join(&names[kept].1);
        report.tail = Some(TailTruncation {
            path,
            offset: 0,
            reason,
            bytes_dropped: 0,
        });
    }

    // Pass 2: verify what is not durably sealed.
    let mut segments: Vec<Arc<Segment>> = Vec::new();
    let mut writers: Vec<SegmentWriter> = Vec::new();
    let mut sealed_last = false;
    let mut last_seq: Option<u128> = None;
    let mut last_closed_clean = false;
    let count = opened.len();
    for (position, segment) in opened.into_iter().enumerate() {
        let Opened {
            base_seq,
            path,
            file_len,
            capacity,
            mapped,
            mut writer,
            checkpoint,
        } = segment;
        let is_last = position + 1 == count;
        if let Some(previous) = last_seq
            && base_seq <= previous
        {
            return Err(corruption(
                &path,
                32,
                CorruptionKind::SequenceOrder {
                    seq: base_seq,
                    previous,
                },
            ));
        }
        let sealed = checkpoint.filter(|c| c.state.get() == CHECKPOINT_STATE_SEALED);
        let mut durable_end = checkpoint.map_or(RECORDS_OFFSET, |c| c.end_offset.get() as usize);
        let index_path = dir.join(index_file_name(base_seq));
        let mut stored_index = None;
        if let Some(cp) = checkpoint
            && index_names.contains(&base_seq)
        {
            let end = cp.end_offset.get();
            if let Ok(len) = storage.file_len(&index_path)
                && len > 0
                && let Ok(idx) = storage.map(&index_path, len as usize, Access::ReadOnly, 0)
                && let Ok(entries) = index::validate_file(&idx.mapping, base_seq, end)
            {
                durable_end = durable_end.max(end as usize);
                stored_index = Some(SegmentIndex::Stored {
                    mapping: idx.mapping,
                    entry_count: entries,
                });
            }
        }
        if durable_end > capacity {
            let found = durable_end as u128;
            return Err(corruption(
                &path,
                128,
                CorruptionKind::HeaderMismatch {
                    field: "checkpoint end_offset",
                    expected: capacity as u128,
                    found,
                },
            ));
        }

        if let (Some(cp), Some(index)) = (sealed, stored_index) {
            // Durably sealed with a valid index: trusted without a scan (records are
            // still CRC-checked when read).
            let state = DurableState {
                end: cp.end_offset.get() as usize,
                last_record_offset: cp.last_record_offset.get() as usize,
                last_seq: cp.last_seq.get(),
                record_count: cp.record_count.get(),
                max_timestamp_ms: cp.max_timestamp_ms.get(),
            };
            writer.publish(state.end);
            drop(writer);
            let seg = Segment::new(
                base_seq,
                file_len,
                path,
                mapped.mapping,
                index,
                &state,
                true,
            );
            if state.record_count > 0 {
                last_seq = Some(state.last_seq);
            }
            segments.push(Arc::new(seg));
            sealed_last = is_last;
            continue;
        }

        // Scan and verify every frame (up to the sealed end for a sealed segment).
        let limit = sealed.map_or(capacity, |cp| cp.end_offset.get() as usize);
        let bytes = writer.peek(0..capacity).unwrap_or_default();
        let result = scan(&bytes[..limit], base_seq, last_seq, limit);
        report.segments_scanned += 1;
        report.records_scanned += result.records;
        report.bytes_scanned += (result.durable.end - RECORDS_OFFSET) as u64;
        let state = result.durable;
        let mut cut_here = false;
        if let Some((bad_offset, kind)) = result.bad {
            if bad_offset < durable_end {
                return Err(corruption(&path, bad_offset as u64, kind));
            }
            let extent = nonzero_extent(&bytes[bad_offset..capacity]);
            report.tail = Some(TailTruncation {
                path: path.clone(),
                offset: bad_offset as u64,
                reason: kind,
                bytes_dropped: extent as u64,
            });
            cut_here = true;
        } else if sealed.is_some() && state.end != limit {
            let room = (limit - state.end) as u64;
            return Err(corruption(
                &path,
                state.end as u64,
                CorruptionKind::BadLength {
                    frame_bytes: 0,
                    room_bytes: room,
                },
            ));
        }
        let is_tail = cut_here || is_last;
        // A clean close vouches only for a scan that ended at a zero length there: a bad
        // frame at that point means the "zeros after the end" claim is false.
        let clean_close = !cut_here
            && checkpoint.is_some_and(|c| {
                c.state.get() == CHECKPOINT_STATE_CLOSED && c.end_offset.get() as usize == state.end
            });
        // The active segment's bytes after its end must be zero (padding is never
        // written); check unless a clean close vouches for them.
        let stray = if is_tail && sealed.is_none() && !clean_close {
            nonzero_extent(&bytes[state.end..capacity])
        } else {
            0
        };
        if stray > 0 && !cut_here {
            report.garbage_bytes_zeroed += stray as u64;
        }
        let points = result.points;
        let builder = IndexBuilder::resume(
            capacity as u64,
            RECORDS_OFFSET as u64,
            points.last().map(|p| p.offset as u64),
            state.max_timestamp_ms,
        );
        let finished = !is_tail || sealed.is_some();
        let seg = Arc::new(Segment::new(
            base_seq,
            file_len,
            path.clone(),
            Arc::clone(&mapped.mapping),
            SegmentIndex::live(points),
            &state,
            finished,
        ));
        let durable = state;
        let checkpoint_end = durable_end.min(state.end);
        let mut seg_writer = SegmentWriter::new(
            Arc::clone(&seg),
            writer,
            mapped.file,
            builder,
            state,
            durable,
            checkpoint_end,
        );
        seg_writer.publish_recovered();
        if stray > 0 {
            seg_writer.zero_tail(state.end, state.end + stray)?;
            seg_writer
                .sync_file()
                .map_err(io_err("sync zeroed tail of", &path))?;
        }
        if clean_close && is_tail {
            seg_writer.closed_on_disk = true;
            last_closed_clean = true;
        }
        if state.record_count > 0 {
            last_seq = Some(state.last_seq);
        }
        segments.push(seg);
        if sealed.is_some() {
            // Sealed, but its index file was missing or damaged: rebuild it.
            report.indexes_rebuilt += 1;
            let bytes = index::encode_file(base_seq, state.end as u64, &seg_writer.index_points());
            storage
                .write_file(&index_path, &bytes)
                .map_err(io_err("rewrite index", &index_path))?;
            sealed_last = is_last;
        } else {
            writers.push(seg_writer);
            sealed_last = false;
        }
        if cut_here {
            kept = position + 1;
            break;
        }
    }
    if kept < names.len() {
        drop_segments(storage, dir, &names[kept..], &mut report)?;
        storage.sync_dir(dir).map_err(io_err("sync", dir))?;
    }

    // The last writer is the active segment unless the log ends with a sealed one.
    let active = if sealed_last { None } else { writers.pop() };
    report.segments = segments.len();
    report.clean_shutdown = report.tail.is_none() && (last_closed_clean || sealed_last);
    Ok(Recovered {
        segments,
        active,
        finishing: writers,
        last_seq,
        report,
    })
}
