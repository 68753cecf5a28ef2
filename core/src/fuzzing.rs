//! Entry points for fuzzers: each takes arbitrary bytes, must never panic, and asserts
//! the properties that must hold for whatever it accepts. The cargo-fuzz targets in
//! `fuzz/` call these; `core/tests/fuzz_regressions.rs` replays every saved finding and
//! a batch of random inputs through them on every test run.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;

use zerocopy::{FromZeros, IntoBytes};

use crate::io::{MemStorage, Storage};
use crate::log::format::{
    CHECKPOINT_OFFSET, Checkpoint, FORMAT_VERSION, RECORDS_OFFSET, SEGMENT_MAGIC, SegmentHeader,
    checkpoint_crc, segment_file_name, segment_header_crc,
};
use crate::log::record::{self, Decoded};
use crate::log::{Log, LogConfig, LogError, ShardIdentity};
use crate::stream::catalog;
use crate::stream::iterator::IteratorToken;

/// Decodes one frame from arbitrary bytes: a frame accepted with its CRC checked must
/// lie inside the input and describe consistent key and data ranges.
pub fn record_decode(data: &[u8]) {
    for verify in [false, true] {
        if let Decoded::Frame(info) = record::decode(data, 0, verify) {
            assert!(info.frame_bytes <= data.len());
            assert!(info.key_range().end <= info.data_range().start);
            assert!(info.data_range().end == info.frame_bytes);
            if verify {
                assert_eq!(record::verify_crc(&data[..info.frame_bytes]), Ok(()));
            }
        }
    }
}

/// Opens a log whose only segment holds arbitrary bytes (mode chosen by the first
/// byte: raw file, or a valid header followed by arbitrary frames, optionally with a
/// checkpoint). Open may refuse with a typed error; if it succeeds, every record reads
/// back in order, an append and a sync work, and a reopen sees the appended record.
pub fn segment_recovery(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let storage = MemStorage::new();
    let dir = Path::new("/fuzz");
    let identity = ShardIdentity {
        stream_id: 1,
        shard_index: 0,
    };
    if storage.create_dir_all(dir).is_err() {
        return;
    }
    let base_seq = 100u128;
    let file = match mode % 3 {
        0 => rest.to_vec(),
        _ => {
            let capacity = (RECORDS_OFFSET + rest.len())
                .max(RECORDS_OFFSET + 64)
                .next_multiple_of(8);
            let mut bytes = vec![0u8; capacity];
            let mut header = SegmentHeader::new_zeroed();
            header.magic = SEGMENT_MAGIC;
            header.format_version = FORMAT_VERSION.into();
            header.records_offset = (RECORDS_OFFSET as u16).into();
            header.stream_id = identity.stream_id.into();
            header.base_seq = base_seq.into();
            header.capacity_bytes = (capacity as u64).into();
            header.header_crc = segment_header_crc(&header).into();
            bytes[..header.as_bytes().len()].copy_from_slice(header.as_bytes());
            if mode % 3 == 2 {
                // A checkpoint claiming some durable prefix of the arbitrary frames.
                let mut cp = Checkpoint::new_zeroed();
                let claimed = rest.first().copied().unwrap_or(0) as usize * 8;
                cp.end_offset = ((RECORDS_OFFSET + claimed).min(capacity) as u64).into();
                cp.state = u32::from(rest.get(1).copied().unwrap_or(1) % 4).into();
                cp.crc = checkpoint_crc(&cp).into();
                bytes[CHECKPOINT_OFFSET..CHECKPOINT_OFFSET + cp.as_bytes().len()]
                    .copy_from_slice(cp.as_bytes());
            }
            bytes[RECORDS_OFFSET..RECORDS_OFFSET + rest.len()].copy_from_slice(rest);
            bytes
        }
    };
    let path = dir.join(segment_file_name(base_seq));
    if storage.write_file(&path, &file).is_err() {
        return;
    }
    let shared: Arc<dyn Storage> = Arc::new(storage.clone());
    let config = LogConfig {
        segment_bytes_initial: 16 << 10,
        segment_bytes_max: 16 << 10,
        ..LogConfig::default()
    };
    let Ok((mut log, _)) = Log::open(Arc::clone(&shared), dir, identity, config.clone()) else {
        return;
    };
    let reader = log.reader();
    let mut seqs = Vec::new();
    if let Some(start) = reader.start_seq() {
        let mut from = start;
        loop {
            match reader.read(from, 1000, 1 << 20) {
                Ok(batch) if !batch.is_empty() => {
                    seqs.extend(batch.iter().map(|r| r.seq));
                    from = batch.next_seq();
                }
                Ok(_) => break,
                Err(LogError::Corruption(_)) => return, // damage reported with evidence
                Err(e) => panic!("unexpected read error after a successful open: {e}"),
            }
        }
    }
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "records out of order after recovery"
    );
    let next = log.last_seq().map_or(base_seq, |s| s + 1).max(base_seq);
    log.append(next, 1, "fuzz", b"after recovery")
        .expect("append after recovery");
    log.sync().expect("sync after recovery");
    log.close().expect("close after recovery");
    let (log, _) = Log::open(shared, dir, identity, config).expect("reopen after a clean close");
    assert_eq!(log.last_seq(), Some(next));
}

/// Decodes an iterator token from arbitrary text: a token that decodes re-encodes to
/// the same text (nothing else can be accepted without the key).
pub fn iterator_token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let secret = [7u8; 32];
    if let Ok(token) = IteratorToken::decode(text, &secret) {
        assert_eq!(token.encode(&secret), text);
    }
}

/// Decodes a catalog from arbitrary bytes: whatever decodes, re-encodes to exactly the
/// same bytes (the format is canonical). With an odd first byte the rest is taken as a
/// body and given a valid header, so the body parser is explored past the checksums.
pub fn catalog_decode(data: &[u8]) {
    let framed;
    let file = match data.split_first() {
        Some((mode, body)) if mode % 2 == 1 => {
            framed = catalog::frame_body(body);
            &framed[..]
        }
        _ => data,
    };
    if let Ok(decoded) = catalog::decode(file) {
        assert_eq!(catalog::encode(&decoded), file);
    }
}

/// Decodes a queue file from arbitrary bytes. First byte odd: the rest is a queue
/// catalog body, given a valid header; whatever decodes re-encodes to a file that
/// decodes to the same queues. Even: the rest follows a valid journal header; the
/// frames read back lie inside the input, replay without panicking, and re-encode to
/// frames that read back the same.
pub fn queue_files(data: &[u8]) {
    use crate::queue::format;
    use crate::queue::state::DeliveryState;
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        let file = format::frame_catalog_body(rest);
        if let Ok(queues) = format::decode_catalog(&file) {
            let again = format::decode_catalog(&format::encode_catalog(&queues));
            assert_eq!(again.as_ref(), Ok(&queues));
        }
        return;
    }
    let mut file = format::journal_header(5);
    file.extend_from_slice(rest);
    if let Ok(read) = format::decode_journal(&file, 5) {
        assert!(read.valid_bytes <= file.len());
        assert_eq!(read.torn_tail, read.valid_bytes < file.len());
        let mut state = DeliveryState::default();
        for entry in &read.entries {
            state.apply(entry);
        }
        let mut again = format::journal_header(5);
        format::encode_entries(&read.entries, &mut again);
        assert_eq!(again.len(), read.valid_bytes);
        let reread = format::decode_journal(&again, 5).map(|r| r.entries);
        assert_eq!(reread.as_ref(), Ok(&read.entries));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_inputs_pass_through() {
        let header = record::encode_header(5, 6, b"k", b"data");
        let mut frame = header.as_bytes().to_vec();
        frame.extend_from_slice(b"kdata");
        record_decode(&frame);
        let token = IteratorToken {
            stream_id: 1,
            shard_index: 2,
            next_seq: 3,
            issued_ms: 4,
        }
        .encode(&[7u8; 32]);
        iterator_token(token.as_bytes());
        let data = catalog::CatalogData {
            epoch: 1,
            next_stream_id: 1,
            secret: [0; 32],
            streams: vec![],
            account: Default::default(),
        };
        catalog_decode(&catalog::encode(&data));
        let mut segment = vec![1u8];
        segment.extend_from_slice(&frame);
        segment_recovery(&segment);
        segment_recovery(&[0]);
        segment_recovery(&[2, 3, 1]);
    }
}
