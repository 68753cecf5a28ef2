//! Read-only inspection of one shard's log directory, for `tidelog dump` and
//! `tidelog verify`: every segment, every frame, and the evidence of any problem.
//!
//! Nothing is written, locked or repaired (recovery, `recovery.rs`, is what repairs).
//! The findings follow the recovery rule: a bad frame below the segment's durable
//! checkpoint is [`Finding::Corruption`] (a completed sync covered it); a bad frame,
//! or non-zero bytes, after it is the [`Finding::TornTail`] recovery would cut; every
//! segment after a torn tail would be dropped. A running engine may be appending to the
//! last segment while this reads it: its tail can then look torn.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use zerocopy::FromBytes;

use super::error::CorruptionKind;
use super::format::{
    CHECKPOINT_BYTES, CHECKPOINT_OFFSET, Checkpoint, FORMAT_VERSION, LogFileName, RECORDS_OFFSET,
    SEGMENT_HEADER_BYTES, SEGMENT_MAGIC, SegmentHeader, checkpoint_crc, parse_log_file_name,
    segment_header_crc,
};
use super::record::{self, Decoded, FrameInfo};

/// A problem found, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A bad frame (or header) where a completed sync vouched for the bytes.
    Corruption {
        /// The segment file.
        path: PathBuf,
        /// Offset of the bad bytes.
        offset: u64,
        /// What is wrong.
        reason: CorruptionKind,
    },
    /// Where recovery would cut the log: a bad frame or stray bytes past the durable
    /// checkpoint (an interrupted write), or a segment whose header was never synced.
    TornTail {
        /// The segment file.
        path: PathBuf,
        /// Offset of the cut.
        offset: u64,
        /// What was found there.
        reason: String,
    },
    /// A segment after a torn tail, which recovery would drop.
    AfterTornTail {
        /// The segment file.
        path: PathBuf,
    },
    /// A file whose name tidelog does not make (recovery leaves it alone).
    UnknownFile {
        /// The file.
        path: PathBuf,
    },
}

impl Finding {
    /// True for findings that mean data a sync covered is damaged.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Finding::Corruption { .. })
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Corruption {
                path,
                offset,
                reason,
            } => write!(
                f,
                "corruption in {} at offset {offset}: {reason}",
                path.display()
            ),
            Finding::TornTail {
                path,
                offset,
                reason,
            } => write!(
                f,
                "torn tail in {} at offset {offset}: {reason}",
                path.display()
            ),
            Finding::AfterTornTail { path } => {
                write!(
                    f,
                    "{} follows a torn tail (recovery drops it)",
                    path.display()
                )
            }
            Finding::UnknownFile { path } => write!(f, "unknown file {}", path.display()),
        }
    }
}

/// One segment as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentReport {
    /// The file.
    pub path: PathBuf,
    /// Base sequence number (from the name).
    pub base_seq: u128,
    /// File length, bytes.
    pub file_bytes: u64,
    /// When it became active (header), ms since the epoch; 0 if the header is bad.
    pub created_ms: u64,
    /// The checkpoint's state and durable end, if the checkpoint is valid.
    pub checkpoint: Option<(u32, u64)>,
    /// Valid frames read.
    pub frames: u64,
    /// Data and key bytes in them.
    pub payload_bytes: u64,
    /// First and last sequence numbers read.
    pub seq_range: Option<(u128, u128)>,
    /// Offset after the last valid frame.
    pub end_offset: u64,
}

/// A directory's inspection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InspectReport {
    /// Segments in order of base sequence number.
    pub segments: Vec<SegmentReport>,
    /// Problems, in the order found.
    pub findings: Vec<Finding>,
}

/// A frame handed to the visitor: where, and its key and data.
#[derive(Debug)]
pub struct FrameView<'a> {
    /// The segment file.
    pub path: &'a Path,
    /// The frame's header fields and offset.
    pub info: &'a FrameInfo,
    /// Partition key bytes.
    pub key: &'a [u8],
    /// Data bytes.
    pub data: &'a [u8],
}

/// Inspects the log in `dir`, calling `visit` for every valid frame in order.
pub fn inspect_dir(
    dir: &Path,
    visit: &mut dyn FnMut(&FrameView<'_>),
) -> std::io::Result<InspectReport> {
    let mut report = InspectReport::default();
    let mut segments = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let path = entry.path();
        match name.to_str().and_then(parse_log_file_name) {
            Some(LogFileName::Segment(base)) => segments.push((base, path)),
            Some(LogFileName::Index(_) | LogFileName::Spare) => {}
            None if name == "LOCK" => {}
            None => report.findings.push(Finding::UnknownFile { path }),
        }
    }
    segments.sort();
    let mut torn = false;
    for (base, path) in segments {
        if torn {
            report.findings.push(Finding::AfterTornTail { path });
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let (segment, findings, tail) = inspect_segment(&path, base, &bytes, visit);
        report.segments.push(segment);
        report.findings.extend(findings);
        torn = tail;
    }
    Ok(report)
}

/// Inspects one segment's bytes. Returns its report, its findings, and whether a torn
/// tail was found (later segments then follow it).
fn inspect_segment(
    path: &Path,
    base_seq: u128,
    bytes: &[u8],
    visit: &mut dyn FnMut(&FrameView<'_>),
) -> (SegmentReport, Vec<Finding>, bool) {
    let mut report = SegmentReport {
        path: path.to_path_buf(),
        base_seq,
        file_bytes: bytes.len() as u64,
        created_ms: 0,
        checkpoint: None,
        frames: 0,
        payload_bytes: 0,
        seq_range: None,
        end_offset: RECORDS_OFFSET as u64,
    };
    let mut findings = Vec::new();
    let torn = |findings: &mut Vec<Finding>, offset: usize, reason: String| {
        findings.push(Finding::TornTail {
            path: path.to_path_buf(),
            offset: offset as u64,
            reason,
        });
    };
    if bytes.len() < RECORDS_OFFSET || bytes[..SEGMENT_HEADER_BYTES].iter().all(|b| *b == 0) {
        torn(
            &mut findings,
            0,
            "the header was never written (no sync of this segment completed)".to_string(),
        );
        return (report, findings, true);
    }
    let Ok((header, _)) = SegmentHeader::read_from_prefix(bytes) else {
        torn(&mut findings, 0, "short header".to_string());
        return (report, findings, true);
    };
    let header_problem = if header.magic != SEGMENT_MAGIC {
        Some(CorruptionKind::BadMagic {
            found: header.magic,
        })
    } else if segment_header_crc(&header) != header.header_crc.get() {
        Some(CorruptionKind::ChecksumMismatch {
            expected: header.header_crc.get(),
            actual: segment_header_crc(&header),
        })
    } else if header.format_version.get() != FORMAT_VERSION {
        Some(CorruptionKind::UnsupportedVersion {
            found: header.format_version.get(),
        })
    } else {
        None
    };
    if let Some(reason) = header_problem {
        // A roll killed while writing the header leaves zeros after it: a torn tail.
        // Anything else is damage.
        if bytes[SEGMENT_HEADER_BYTES..].iter().all(|b| *b == 0) {
            torn(
                &mut findings,
                0,
                format!("header never completed: {reason}"),
            );
            return (report, findings, true);
        }
        findings.push(Finding::Corruption {
            path: path.to_path_buf(),
            offset: 0,
            reason,
        });
        return (report, findings, false);
    }
    report.created_ms = header.created_ms.get();
    let checkpoint = bytes
        .get(CHECKPOINT_OFFSET..CHECKPOINT_OFFSET + CHECKPOINT_BYTES)
        .and_then(|b| Checkpoint::read_from_bytes(b).ok())
        .filter(|c| checkpoint_crc(c) == c.crc.get());
    report.checkpoint = checkpoint.map(|c| (c.state.get(), c.end_offset.get()));
    let durable_end = checkpoint.map_or(RECORDS_OFFSET as u64, |c| c.end_offset.get()) as usize;
    let mut offset = RECORDS_OFFSET;
    let mut previous = base_seq;
    let mut first = true;
    loop {
        let region = &bytes[offset.min(bytes.len())..];
        let room = (bytes.len() - offset.min(bytes.len())) as u64;
        let problem: Option<(usize, CorruptionKind)> = match record::decode(region, offset, true) {
            // Records claimed durable are missing.
            Decoded::End if offset < durable_end => Some((
                offset,
                CorruptionKind::BadLength {
                    frame_bytes: 0,
                    room_bytes: room,
                },
            )),
            // The log ends here; every byte after must be zero.
            Decoded::End => region.iter().position(|b| *b != 0).map(|p| {
                let at = offset + p;
                let stray = u32::from_le_bytes(std::array::from_fn(|i| {
                    bytes.get(at + i).copied().unwrap_or(0)
                }));
                (
                    at,
                    CorruptionKind::BadLength {
                        frame_bytes: stray,
                        room_bytes: (bytes.len() - at) as u64,
                    },
                )
            }),
            Decoded::Bad(reason) => Some((offset, reason)),
            Decoded::Frame(info) => {
                let in_order = if first {
                    info.seq >= previous
                } else {
                    info.seq > previous
                };
                if in_order {
                    // The ranges are offsets in the file.
                    let key = &bytes[info.key_range()];
                    let data = &bytes[info.data_range()];
                    visit(&FrameView {
                        path,
                        info: &info,
                        key,
                        data,
                    });
                    report.frames += 1;
                    report.payload_bytes += (key.len() + data.len()) as u64;
                    report.seq_range = Some(match report.seq_range {
                        Some((lo, _)) => (lo, info.seq),
                        None => (info.seq, info.seq),
                    });
                    previous = info.seq;
                    first = false;
                    offset = info.next_offset();
                    report.end_offset = offset as u64;
                    continue;
                }
                Some((
                    offset,
                    CorruptionKind::SequenceOrder {
                        seq: info.seq,
                        previous,
                    },
                ))
            }
        };
        return match problem {
            None => (report, findings, false),
            Some((at, reason)) if at < durable_end => {
                findings.push(Finding::Corruption {
                    path: path.to_path_buf(),
                    offset: at as u64,
                    reason,
                });
                (report, findings, false)
            }
            Some((at, reason)) => {
                torn(&mut findings, at, reason.to_string());
                (report, findings, true)
            }
        };
    }
}
