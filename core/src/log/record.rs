//! Record framing: encoding a record into its frame and decoding/validating a frame.
//!
//! A frame is a [`RecordHeader`] followed by the partition key and the data, padded with
//! zeros to an 8-byte boundary (see `format.rs`). The CRC covers the length field and
//! everything after the CRC field, so a torn or flipped frame is detected. The same
//! decoder serves recovery (verify everything), reads (verify on request) and seeks
//! (structure only).
#![forbid(unsafe_code)]

use zerocopy::{FromBytes, IntoBytes};

use super::error::CorruptionKind;
use super::format::{FRAME_FLAGS_KNOWN, RECORD_HEADER_BYTES, RecordHeader, align_up};
use crate::limits::{FRAME_PAYLOAD_BYTES_CEILING, PARTITION_KEY_BYTES_MAX};

/// Largest frame any configuration can produce.
pub const FRAME_BYTES_MAX: usize =
    RECORD_HEADER_BYTES + FRAME_PAYLOAD_BYTES_CEILING as usize + PARTITION_KEY_BYTES_MAX;

/// The frame of one record, described by where it is and what its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Offset of the frame in the segment file.
    pub offset: usize,
    /// Header + key + data bytes.
    pub frame_bytes: usize,
    /// Sequence number.
    pub seq: u128,
    /// Arrival timestamp, ms since the epoch.
    pub timestamp_ms: u64,
    /// Bytes of partition key.
    pub key_bytes: usize,
    /// The frame's flags (`format::FRAME_FLAG_ENCRYPTED` or 0).
    pub flags: u16,
}

impl FrameInfo {
    /// Offset where the next frame starts.
    #[inline]
    pub fn next_offset(&self) -> usize {
        self.offset + align_up(self.frame_bytes)
    }

    /// Range of the partition key in the segment file.
    #[inline]
    pub fn key_range(&self) -> std::ops::Range<usize> {
        let start = self.offset + RECORD_HEADER_BYTES;
        start..start + self.key_bytes
    }

    /// Range of the data in the segment file.
    #[inline]
    pub fn data_range(&self) -> std::ops::Range<usize> {
        self.offset + RECORD_HEADER_BYTES + self.key_bytes..self.offset + self.frame_bytes
    }

    /// Data bytes.
    #[inline]
    pub fn data_bytes(&self) -> usize {
        self.frame_bytes - RECORD_HEADER_BYTES - self.key_bytes
    }
}

/// What is found at a frame position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A zero length: no record here or after (in a zero-filled segment).
    End,
    /// A well-formed frame.
    Frame(FrameInfo),
    /// Bytes that cannot be a valid frame.
    Bad(CorruptionKind),
}

/// The CRC of a frame from its parts, as written.
#[inline]
pub fn frame_crc(header_after_crc: &[u8], frame_bytes: u32, key: &[u8], data: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&frame_bytes.to_le_bytes());
    hasher.update(header_after_crc);
    hasher.update(key);
    hasher.update(data);
    hasher.finalize()
}

/// Builds the header of a record frame (CRC included).
pub fn encode_header(seq: u128, timestamp_ms: u64, key: &[u8], data: &[u8]) -> RecordHeader {
    encode_header_flagged(seq, timestamp_ms, key, data, 0)
}

/// [`encode_header`] with frame flags (a subset of `format::FRAME_FLAGS_KNOWN`).
pub fn encode_header_flagged(
    seq: u128,
    timestamp_ms: u64,
    key: &[u8],
    data: &[u8],
    flags: u16,
) -> RecordHeader {
    let frame_bytes = (RECORD_HEADER_BYTES + key.len() + data.len()) as u32;
    let mut header = RecordHeader {
        frame_bytes: frame_bytes.into(),
        crc: 0.into(),
        seq: seq.into(),
        timestamp_ms: timestamp_ms.into(),
        key_bytes: (key.len() as u16).into(),
        flags: flags.into(),
        reserved: 0.into(),
    };
    let crc = frame_crc(&header.as_bytes()[8..], frame_bytes, key, data);
    header.crc = crc.into();
    header
}

/// Decodes the frame at the start of `region` (the bytes from the frame's offset to
/// the end of the readable area; `offset` is where that is in the file). With
/// `verify_crc`, the whole frame must be in `region` and its checksum must match;
/// without, only the header is checked.
pub fn decode(region: &[u8], offset: usize, verify_crc: bool) -> Decoded {
    if region.len() < 4 {
        // Too little room for even a length: the segment is full.
        return Decoded::End;
    }
    let frame_bytes = u32::from_le_bytes([region[0], region[1], region[2], region[3]]);
    if frame_bytes == 0 {
        return Decoded::End;
    }
    let room = region.len();
    let frame = frame_bytes as usize;
    if frame <= RECORD_HEADER_BYTES || frame > FRAME_BYTES_MAX || frame > room {
        return Decoded::Bad(CorruptionKind::BadLength {
            frame_bytes,
            room_bytes: room as u64,
        });
    }
    let Ok((header, _)) = RecordHeader::read_from_prefix(region) else {
        return Decoded::Bad(CorruptionKind::BadLength {
            frame_bytes,
            room_bytes: room as u64,
        });
    };
    let key_bytes = header.key_bytes.get() as usize;
    if key_bytes == 0
        || key_bytes > PARTITION_KEY_BYTES_MAX
        || RECORD_HEADER_BYTES + key_bytes > frame
    {
        return Decoded::Bad(CorruptionKind::BadRecordField {
            field: "key_bytes",
            value: key_bytes as u64,
        });
    }
    if header.flags.get() & !FRAME_FLAGS_KNOWN != 0 {
        return Decoded::Bad(CorruptionKind::BadRecordField {
            field: "flags",
            value: header.flags.get().into(),
        });
    }
    if header.reserved.get() != 0 {
        return Decoded::Bad(CorruptionKind::BadRecordField {
            field: "reserved",
            value: header.reserved.get().into(),
        });
    }
    if verify_crc {
        let expected = header.crc.get();
        let actual = frame_crc(
            &region[8..RECORD_HEADER_BYTES],
            frame_bytes,
            &region[RECORD_HEADER_BYTES..frame],
            &[],
        );
        if expected != actual {
            return Decoded::Bad(CorruptionKind::ChecksumMismatch { expected, actual });
        }
    }
    Decoded::Frame(FrameInfo {
        offset,
        frame_bytes: frame,
        seq: header.seq.get(),
        timestamp_ms: header.timestamp_ms.get(),
        key_bytes,
        flags: header.flags.get(),
    })
}

/// Checks just the CRC of a frame already known to be well formed.
pub fn verify_crc(frame: &[u8]) -> Result<(), CorruptionKind> {
    let frame_bytes = frame.len() as u32;
    let expected = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let actual = frame_crc(
        &frame[8..RECORD_HEADER_BYTES],
        frame_bytes,
        &frame[RECORD_HEADER_BYTES..],
        &[],
    );
    if expected == actual {
        Ok(())
    } else {
        Err(CorruptionKind::ChecksumMismatch { expected, actual })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u128, ts: u64, key: &[u8], data: &[u8]) -> Vec<u8> {
        let header = encode_header(seq, ts, key, data);
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(key);
        bytes.extend_from_slice(data);
        bytes.resize(align_up(bytes.len()), 0);
        bytes
    }

    #[test]
    fn round_trip() {
        let bytes = frame(42, 1_000, b"key", b"hello world");
        let Decoded::Frame(info) = decode(&bytes, 256, true) else {
            panic!("not a frame")
        };
        assert_eq!(info.seq, 42);
        assert_eq!(info.timestamp_ms, 1_000);
        assert_eq!(info.frame_bytes, 40 + 3 + 11);
        assert_eq!(info.next_offset(), 256 + 56);
        assert_eq!(info.key_range(), 296..299);
        assert_eq!(info.data_range(), 299..310);
        assert_eq!(info.data_bytes(), 11);
        assert_eq!(
            &bytes[info.key_range().start - 256..info.key_range().end - 256],
            b"key"
        );
        assert_eq!(verify_crc(&bytes[..info.frame_bytes]), Ok(()));
    }

    #[test]
    fn empty_data_is_a_valid_record() {
        let bytes = frame(1, 0, b"k", b"");
        assert!(matches!(
            decode(&bytes, 0, true),
            Decoded::Frame(FrameInfo {
                frame_bytes: 41,
                ..
            })
        ));
    }

    #[test]
    fn known_flags_are_kept_unknown_ones_refused() {
        let header = encode_header_flagged(9, 1, b"k", b"sealed", 1);
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(b"ksealed");
        bytes.resize(align_up(bytes.len()), 0);
        let Decoded::Frame(info) = decode(&bytes, 0, true) else {
            panic!("not a frame")
        };
        assert_eq!(info.flags, 1);
        let header = encode_header_flagged(9, 1, b"k", b"sealed", 2);
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(b"ksealed");
        bytes.resize(align_up(bytes.len()), 0);
        assert!(matches!(
            decode(&bytes, 0, false),
            Decoded::Bad(CorruptionKind::BadRecordField { field: "flags", .. })
        ));
    }

    #[test]
    fn zero_length_is_end() {
        assert_eq!(decode(&[0u8; 64], 0, true), Decoded::End);
        assert_eq!(
            decode(&[1u8; 3], 0, true),
            Decoded::End,
            "no room for a length"
        );
    }

    #[test]
    fn every_bit_flip_is_caught() {
        let bytes = frame(7, 99, b"partition", b"some data bytes");
        let len = 40 + 9 + 15;
        for bit in 0..len * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            match decode(&damaged, 0, true) {
                Decoded::Bad(_) | Decoded::End => {}
                Decoded::Frame(info) => panic!("bit {bit} flip accepted as {info:?}"),
            }
        }
    }

    #[test]
    fn impossible_lengths_are_bad() {
        let mut bytes = frame(7, 99, b"k", b"data");
        // Longer than the room left.
        bytes[0..4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(
            decode(&bytes, 0, false),
            Decoded::Bad(CorruptionKind::BadLength { .. })
        ));
        // Shorter than a header.
        bytes[0..4].copy_from_slice(&20u32.to_le_bytes());
        assert!(matches!(
            decode(&bytes, 0, false),
            Decoded::Bad(CorruptionKind::BadLength { .. })
        ));
        // A key longer than the frame.
        let mut bytes = frame(7, 99, b"k", b"data");
        bytes[32..34].copy_from_slice(&100u16.to_le_bytes());
        assert!(matches!(
            decode(&bytes, 0, false),
            Decoded::Bad(CorruptionKind::BadRecordField {
                field: "key_bytes",
                ..
            })
        ));
    }

    #[test]
    fn torn_frame_is_bad() {
        let bytes = frame(7, 99, b"k", &[5u8; 100]);
        for cut in 4..(40 + 1 + 100) {
            let torn = &bytes[..cut];
            assert!(
                matches!(decode(torn, 0, true), Decoded::Bad(_)),
                "cut at {cut}"
            );
        }
    }
}
