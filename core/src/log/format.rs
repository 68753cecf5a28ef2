//! Every on-disk structure of a shard's log, as `zerocopy` structs with little-endian
//! fields and compile-time size checks. docs/format.md draws the same layouts; keep the
//! two in step.
//!
//! ```text
//! segment file  <base_seq: 39 decimal digits>.seg   (preallocated, zero-filled)
//! 0            128          192          256                                capacity
//! +------------+------------+------------+---------+---------+-----+---------------+
//! | Segment    | Checkpoint | reserved   | record  | record  | ... | zeros (end)   |
//! | Header     |            | (zero)     | (8-byte aligned frames)   |               |
//! +------------+------------+------------+---------+---------+-----+---------------+
//!
//! record frame (at an 8-byte aligned offset)
//! 0       4       8                24          32        34      36        40
//! +-------+-------+----------------+-----------+---------+-------+---------+-----+------+-----+
//! | frame | crc32 | sequence (u128)| timestamp | key_len | flags | reserved| key | data | pad |
//! | bytes |       |                | ms (u64)  | (u16)   | (u16) | (u32)   |     |      | 0..7|
//! +-------+-------+----------------+-----------+---------+-------+---------+-----+------+-----+
//! frame_bytes = 40 + key_len + data_len; 0 means "no more records".
//! flags: bit 0 = encrypted (key and data hold ciphertext; see FRAME_FLAG_ENCRYPTED).
//! crc32 (IEEE, crc32fast) covers bytes [0,4) and [8, frame_bytes).
//!
//! sparse index file  <base_seq>.idx  (written when a segment is sealed)
//! +-------------+---------------------------------------------+
//! | IndexHeader | IndexEntry * entry_count (32 bytes each)     |
//! +-------------+---------------------------------------------+
//! ```
#![forbid(unsafe_code)]

use zerocopy::little_endian::{U16, U32, U64, U128};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Magic number at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TIDESEG\0";
/// Magic number at the start of every sparse index file.
pub const INDEX_MAGIC: [u8; 8] = *b"TIDEIDX\0";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;

/// Size of [`SegmentHeader`].
pub const SEGMENT_HEADER_BYTES: usize = 128;
/// Offset of the [`Checkpoint`] block in a segment file.
pub const CHECKPOINT_OFFSET: usize = SEGMENT_HEADER_BYTES;
/// Size of [`Checkpoint`].
pub const CHECKPOINT_BYTES: usize = 64;
/// Offset of the first record frame: the header area (header, checkpoint, reserved)
/// ends here. Only the log's writer ever touches bytes below it.
pub const RECORDS_OFFSET: usize = 256;
/// Size of [`RecordHeader`].
pub const RECORD_HEADER_BYTES: usize = 40;
/// Record frames start at multiples of this.
pub const RECORD_ALIGN_BYTES: usize = 8;
/// Record frame flag: the record is encrypted. The frame's key bytes are the
/// ciphertext of the partition key and its data bytes an envelope (the engine's
/// `crypto/envelope.rs`); the log stores and checks them like any other bytes.
pub const FRAME_FLAG_ENCRYPTED: u16 = 1 << 0;
/// Every frame flag this version knows; a frame with any other bit set is bad.
pub const FRAME_FLAGS_KNOWN: u16 = FRAME_FLAG_ENCRYPTED;

/// Size of [`IndexHeader`].
pub const INDEX_HEADER_BYTES: usize = 64;
/// Size of [`IndexEntry`].
pub const INDEX_ENTRY_BYTES: usize = 32;

/// Checkpoint state: the block describes a durable prefix of a segment still open for
/// appends (or one whose seal is not yet durable).
pub const CHECKPOINT_STATE_OPEN: u32 = 1;
/// Checkpoint state: the segment is sealed; `end_offset` is its final end.
pub const CHECKPOINT_STATE_SEALED: u32 = 2;
/// Checkpoint state: the log was closed cleanly with this segment active; its end is
/// `end_offset` and every byte after it is zero.
pub const CHECKPOINT_STATE_CLOSED: u32 = 3;

/// The first 128 bytes of a segment file. Written once, when the segment becomes the
/// active one.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SegmentHeader {
    /// [`SEGMENT_MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`].
    pub format_version: U16,
    /// Offset of the first record ([`RECORDS_OFFSET`]).
    pub records_offset: U16,
    /// Reserved flags, zero.
    pub flags: U32,
    /// Numeric id of the stream the shard belongs to (0 for a standalone log).
    pub stream_id: U64,
    /// Index of the shard within its stream.
    pub shard_index: U32,
    /// Reserved, zero.
    pub reserved0: U32,
    /// Lower bound of every sequence number in the segment (also the file's name).
    pub base_seq: U128,
    /// When the segment became active, ms since the Unix epoch.
    pub created_ms: U64,
    /// The file's preallocated length in bytes.
    pub capacity_bytes: U64,
    /// Reserved, zero.
    pub reserved: [u8; 60],
    /// CRC32 of bytes [0, 124).
    pub header_crc: U32,
}

/// The durable checkpoint at offset 128: a prefix of the segment known to be on disk.
/// Only ever written after a sync covering `end_offset` completed, so after any crash
/// the records before `end_offset` are intact; a bad record there is corruption, not a
/// torn tail.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Checkpoint {
    /// End of the durable records (an offset in the file, 8-byte aligned).
    pub end_offset: U64,
    /// Offset of the last record before `end_offset` (0 if there is none).
    pub last_record_offset: U64,
    /// Sequence number of that record (0 if none).
    pub last_seq: U128,
    /// Records before `end_offset`.
    pub record_count: U64,
    /// Newest arrival timestamp before `end_offset`, ms since the epoch (0 if none).
    pub max_timestamp_ms: U64,
    /// [`CHECKPOINT_STATE_OPEN`], [`CHECKPOINT_STATE_SEALED`] or
    /// [`CHECKPOINT_STATE_CLOSED`].
    pub state: U32,
    /// Reserved, zero.
    pub reserved: [u8; 8],
    /// CRC32 of bytes [0, 60) of this block.
    pub crc: U32,
}

/// The fixed part of every record frame.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RecordHeader {
    /// Bytes in the frame: header + key + data (padding excluded). 0 = end of records.
    pub frame_bytes: U32,
    /// CRC32 over bytes [0, 4) and [8, frame_bytes) of the frame.
    pub crc: U32,
    /// The record's sequence number.
    pub seq: U128,
    /// Approximate arrival time, ms since the Unix epoch.
    pub timestamp_ms: U64,
    /// Bytes of partition key (UTF-8) following the header.
    pub key_bytes: U16,
    /// Frame flags: [`FRAME_FLAG_ENCRYPTED`] or zero (other bits are refused).
    pub flags: U16,
    /// Reserved, zero.
    pub reserved: U32,
}

/// The header of a sparse index file.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IndexHeader {
    /// [`INDEX_MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`].
    pub format_version: U16,
    /// [`INDEX_ENTRY_BYTES`].
    pub entry_bytes: U16,
    /// Reserved, zero.
    pub reserved0: U32,
    /// The segment's base sequence number.
    pub base_seq: U128,
    /// The segment's final end offset (must equal its sealed checkpoint).
    pub end_offset: U64,
    /// Entries following the header.
    pub entry_count: U32,
    /// CRC32 of the entries.
    pub entries_crc: U32,
    /// Reserved, zero.
    pub reserved: [u8; 12],
    /// CRC32 of bytes [0, 60).
    pub header_crc: U32,
}

/// One sparse index entry: where a record starts, and what precedes it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct IndexEntry {
    /// The record's sequence number.
    pub seq: U128,
    /// Newest arrival timestamp among the segment's records *before* this one (0 for
    /// none). Non-decreasing along the index, so it can be binary searched even though
    /// arrival timestamps themselves may go backwards.
    pub max_timestamp_before_ms: U64,
    /// The record's offset in the segment file.
    pub offset: U32,
    /// Reserved, zero.
    pub reserved: U32,
}

const _: () = assert!(size_of::<SegmentHeader>() == SEGMENT_HEADER_BYTES);
const _: () = assert!(size_of::<Checkpoint>() == CHECKPOINT_BYTES);
const _: () = assert!(CHECKPOINT_OFFSET + CHECKPOINT_BYTES <= RECORDS_OFFSET);
const _: () = assert!(size_of::<RecordHeader>() == RECORD_HEADER_BYTES);
const _: () = assert!(RECORD_HEADER_BYTES % RECORD_ALIGN_BYTES == 0);
const _: () = assert!(RECORDS_OFFSET % RECORD_ALIGN_BYTES == 0);
const _: () = assert!(size_of::<IndexHeader>() == INDEX_HEADER_BYTES);
const _: () = assert!(size_of::<IndexEntry>() == INDEX_ENTRY_BYTES);

/// Rounds `n` up to the record alignment.
#[inline]
pub const fn align_up(n: usize) -> usize {
    (n + RECORD_ALIGN_BYTES - 1) & !(RECORD_ALIGN_BYTES - 1)
}

/// The file name of the segment whose base sequence number is `base_seq`.
pub fn segment_file_name(base_seq: u128) -> String {
    format!("{base_seq:039}.seg")
}

/// The file name of the sparse index of the segment with base `base_seq`.
pub fn index_file_name(base_seq: u128) -> String {
    format!("{base_seq:039}.idx")
}

/// Suffix of segment files being prepared ahead of need (deleted on open).
pub const SPARE_SUFFIX: &str = ".spare";

/// What a file name in a shard directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFileName {
    /// A segment file with this base sequence number.
    Segment(u128),
    /// A sparse index with this base sequence number.
    Index(u128),
    /// A spare segment being prepared (incomplete after a crash).
    Spare,
}

/// Parses a file name from a shard directory; `None` for names tidelog did not make.
pub fn parse_log_file_name(name: &str) -> Option<LogFileName> {
    if name.ends_with(SPARE_SUFFIX) && name.starts_with("spare-") {
        return Some(LogFileName::Spare);
    }
    let (stem, kind) = if let Some(stem) = name.strip_suffix(".seg") {
        (stem, true)
    } else {
        (name.strip_suffix(".idx")?, false)
    };
    if stem.len() != 39 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq: u128 = stem.parse().ok()?;
    Some(if kind {
        LogFileName::Segment(seq)
    } else {
        LogFileName::Index(seq)
    })
}

/// CRC32 of a segment header's first 124 bytes.
pub fn segment_header_crc(header: &SegmentHeader) -> u32 {
    crc32fast::hash(&header.as_bytes()[..SEGMENT_HEADER_BYTES - 4])
}

/// CRC32 of a checkpoint's first 60 bytes.
pub fn checkpoint_crc(checkpoint: &Checkpoint) -> u32 {
    crc32fast::hash(&checkpoint.as_bytes()[..CHECKPOINT_BYTES - 4])
}

/// CRC32 of an index header's first 60 bytes.
pub fn index_header_crc(header: &IndexHeader) -> u32 {
    crc32fast::hash(&header.as_bytes()[..INDEX_HEADER_BYTES - 4])
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    #[test]
    fn file_names_round_trip() {
        for seq in [0u128, 1, 42, u64::MAX as u128 + 7, u128::MAX] {
            let name = segment_file_name(seq);
            assert_eq!(name.len(), 43);
            assert_eq!(parse_log_file_name(&name), Some(LogFileName::Segment(seq)));
            assert_eq!(
                parse_log_file_name(&index_file_name(seq)),
                Some(LogFileName::Index(seq))
            );
        }
        assert!(
            segment_file_name(9) < segment_file_name(10),
            "names sort numerically"
        );
        assert_eq!(
            parse_log_file_name("spare-3.spare"),
            Some(LogFileName::Spare)
        );
        for stray in [
            "LOCK",
            "x.seg",
            "1.seg",
            "notes.txt",
            &"9".repeat(40),
            &format!("{}.seg", "9".repeat(39)),
        ] {
            if stray.len() == 43 {
                // 39 nines exceeds u128::MAX, so it cannot be a segment of ours.
                assert_eq!(parse_log_file_name(stray), None, "{stray}");
            } else {
                assert_eq!(parse_log_file_name(stray), None, "{stray}");
            }
        }
    }

    #[test]
    fn structs_round_trip_through_bytes() {
        let mut header = SegmentHeader {
            magic: SEGMENT_MAGIC,
            format_version: FORMAT_VERSION.into(),
            records_offset: (RECORDS_OFFSET as u16).into(),
            flags: 0.into(),
            stream_id: 7.into(),
            shard_index: 3.into(),
            reserved0: 0.into(),
            base_seq: (u128::MAX - 5).into(),
            created_ms: 1_700_000_000_000.into(),
            capacity_bytes: (1u64 << 20).into(),
            reserved: [0; 60],
            header_crc: 0.into(),
        };
        header.header_crc = segment_header_crc(&header).into();
        let bytes = header.as_bytes().to_vec();
        assert_eq!(&bytes[..8], b"TIDESEG\0");
        assert_eq!(
            &bytes[32..48],
            &(u128::MAX - 5).to_le_bytes(),
            "little-endian at offset 32"
        );
        let back = SegmentHeader::read_from_bytes(&bytes).unwrap();
        assert_eq!(back.base_seq.get(), u128::MAX - 5);
        assert_eq!(segment_header_crc(&back), back.header_crc.get());

        let mut checkpoint = Checkpoint::new_zeroed();
        checkpoint.end_offset = 4096.into();
        checkpoint.last_seq = 99.into();
        checkpoint.state = CHECKPOINT_STATE_SEALED.into();
        checkpoint.crc = checkpoint_crc(&checkpoint).into();
        let back = Checkpoint::read_from_bytes(checkpoint.as_bytes()).unwrap();
        assert_eq!(back.end_offset.get(), 4096);
        assert_eq!(checkpoint_crc(&back), back.crc.get());

        let record = RecordHeader {
            frame_bytes: 50.into(),
            crc: 1.into(),
            seq: 5.into(),
            timestamp_ms: 6.into(),
            key_bytes: 2.into(),
            flags: 0.into(),
            reserved: 0.into(),
        };
        let back = RecordHeader::read_from_bytes(record.as_bytes()).unwrap();
        assert_eq!(
            (back.frame_bytes.get(), back.seq.get(), back.key_bytes.get()),
            (50, 5, 2)
        );

        let entry = IndexEntry {
            seq: 77.into(),
            max_timestamp_before_ms: 12.into(),
            offset: 256.into(),
            reserved: 0.into(),
        };
        assert_eq!(
            IndexEntry::read_from_bytes(entry.as_bytes()).unwrap(),
            entry
        );

        let mut index = IndexHeader::new_zeroed();
        index.magic = INDEX_MAGIC;
        index.entry_count = 3.into();
        index.header_crc = index_header_crc(&index).into();
        let back = IndexHeader::read_from_bytes(index.as_bytes()).unwrap();
        assert_eq!(index_header_crc(&back), back.header_crc.get());
    }

    #[test]
    fn alignment() {
        assert_eq!(align_up(0), 0);
        assert_eq!(align_up(1), 8);
        assert_eq!(align_up(40), 40);
        assert_eq!(align_up(41), 48);
    }
}
