//! Recovery on open: torn tails at every byte, bit flips before and after the durable
//! point, garbage after the end, stray and leftover files.

mod common;

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::*;
use tidelog::log::format::{RECORDS_OFFSET, align_up};
use tidelog::log::{CorruptionKind, LogError};

/// Writes `n` records (the last one not synced), drops the log without closing it, and
/// returns the expected records and the active segment's path plus the last record's
/// frame offset and length.
fn crashed_log(
    storage: &std::sync::Arc<dyn tidelog::io::Storage>,
    dir: &Path,
    n: u64,
) -> (Vec<Row>, PathBuf, usize, usize) {
    let (mut log, _) = open(storage, dir, &small_config());
    let mut expected = Vec::new();
    for i in 0..n {
        let data = payload(i, 60 + (i as usize % 50));
        log.append(i as u128 + 1, 1000 + i, "key", &data).unwrap();
        expected.push((i as u128 + 1, 1000 + i, "key".to_string(), data));
        if i + 2 == n {
            log.sync().unwrap();
        }
    }
    let frame = 40 + 3 + expected.last().unwrap().3.len();
    // Find the last record's offset: the active segment is the last file; its records
    // are laid out back to back.
    let batch = log.reader().read(n as u128, 1, usize::MAX).unwrap();
    assert_eq!(batch.len(), 1);
    drop(batch);
    let active = segment_file_for(dir, n as u128);
    let offset = last_frame_offset(storage, &active, n as u128);
    drop(log); // a crash: no close
    (expected, active, offset, frame)
}

fn segment_file_for(dir: &Path, seq: u128) -> PathBuf {
    let mut candidates: Vec<(u128, PathBuf)> = Vec::new();
    for name in list_names(dir) {
        if let Some(stem) = name.strip_suffix(".seg") {
            let base: u128 = stem.parse().unwrap();
            if base <= seq {
                candidates.push((base, dir.join(&name)));
            }
        }
    }
    candidates.sort();
    candidates.pop().unwrap().1
}

fn list_names(dir: &Path) -> Vec<String> {
    if dir.starts_with("/mem") || !dir.exists() {
        return Vec::new();
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Walks the frames of a segment file to find the offset of the record `seq`.
fn last_frame_offset(
    storage: &std::sync::Arc<dyn tidelog::io::Storage>,
    path: &Path,
    seq: u128,
) -> usize {
    let len = storage.file_len(path).unwrap() as usize;
    let mapped = storage
        .map(path, len, tidelog::io::Access::ReadOnly, 0)
        .unwrap();
    let bytes = mapped.mapping.bytes(0..len).unwrap();
    let mut offset = RECORDS_OFFSET;
    loop {
        let frame = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        assert!(frame > 0, "record {seq} not found");
        let s = u128::from_le_bytes(bytes[offset + 8..offset + 24].try_into().unwrap());
        if s == seq {
            return offset;
        }
        offset += align_up(frame);
    }
}

/// Appends records 1 to 50 (100 bytes each, over several segments) and drops the log
/// without closing it: a crash.
fn fifty_records_then_crash(storage: &std::sync::Arc<dyn tidelog::io::Storage>, dir: &Path) {
    let (mut log, _) = open(storage, dir, &small_config());
    for i in 0..50u64 {
        log.append(i as u128 + 1, i, "k", &payload(i, 100)).unwrap();
    }
}

fn damage(path: &Path, offset: usize, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset as u64).unwrap();
}

#[test]
fn torn_last_record_at_every_byte_is_dropped_exactly() {
    let n = 40;
    let template = tempfile::tempdir().unwrap();
    let storage = fs();
    let (expected, active, offset, frame) = crashed_log(&storage, template.path(), n);
    let active_name = active.file_name().unwrap().to_owned();
    for cut in offset..offset + frame {
        let tmp = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(template.path()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
        }
        let path = tmp.path().join(&active_name);
        // The bytes from `cut` to the end of the record never reached the disk.
        damage(&path, cut, &vec![0u8; offset + frame - cut]);
        let (log, report) = open(&storage, tmp.path(), &small_config());
        let records = read_all(&log);
        assert_eq!(records, expected[..expected.len() - 1], "cut at {cut}");
        assert_eq!(log.last_seq(), Some(n as u128 - 1));
        if cut == offset {
            assert_eq!(report.tail, None, "nothing of the record reached disk");
        } else {
            let tail = report
                .tail
                .as_ref()
                .unwrap_or_else(|| panic!("cut at {cut}: no tail in {report:?}"));
            assert_eq!(tail.offset, offset as u64, "cut at {cut}");
            assert_eq!(tail.path, path);
            assert!(tail.bytes_dropped > 0 && tail.bytes_dropped <= frame as u64);
        }
        // The log accepts new records where the torn one was, and they survive reopen.
        let mut log = log;
        log.append(n as u128, 5, "new", b"replacement").unwrap();
        log.close().unwrap();
        let (log, report) = open(&storage, tmp.path(), &small_config());
        assert!(report.clean_shutdown);
        let records = read_all(&log);
        assert_eq!(records.len(), n as usize);
        assert_eq!(records.last().unwrap().3, b"replacement");
    }
}

#[test]
fn file_truncated_inside_its_last_record_is_recovered() {
    let storage = fs();
    let template = tempfile::tempdir().unwrap();
    let (expected, active, offset, frame) = crashed_log(&storage, template.path(), 30);
    let name = active.file_name().unwrap().to_owned();
    for cut in [offset + 1, offset + 4, offset + 39, offset + frame - 1] {
        let tmp = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(template.path()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
        }
        let path = tmp.path().join(&name);
        let capacity = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        let (log, report) = open(&storage, tmp.path(), &small_config());
        assert_eq!(report.segments_extended, vec![path.clone()]);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            capacity,
            "extended back"
        );
        assert_eq!(
            read_all(&log),
            expected[..expected.len() - 1],
            "cut at {cut}"
        );
        assert_eq!(report.tail.as_ref().map(|t| t.offset), Some(offset as u64));
    }
}

#[test]
fn bit_flip_in_a_sealed_segment_is_corruption_with_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (mut log, _) = open(&storage, tmp.path(), &small_config());
    for i in 0..400u64 {
        log.append(i as u128 + 1, i, "k", &payload(i, 200)).unwrap();
    }
    log.close().unwrap();
    let first = segment_files(tmp.path())[0].clone();
    let offset = RECORDS_OFFSET + 40 + 1 + 100; // inside the first record's data
    let mut byte = [0u8];
    std::fs::File::open(&first)
        .unwrap()
        .read_exact_at(&mut byte, offset as u64)
        .unwrap();
    damage(&first, offset, &[byte[0] ^ 0x10]);

    // With a valid index file the sealed segment is trusted on open; the damage shows
    // when the record is read.
    let (log, report) = open(&storage, tmp.path(), &small_config());
    assert_eq!(report.tail, None);
    let err = log.reader().read(1, 10, usize::MAX).unwrap_err();
    let LogError::Corruption(c) = err else {
        panic!("{err}")
    };
    assert_eq!(c.path, first);
    assert_eq!(c.offset, RECORDS_OFFSET as u64);
    assert!(
        matches!(c.kind, CorruptionKind::ChecksumMismatch { expected, actual } if expected != actual)
    );
    // Later records are still readable.
    assert!(log.reader().read(2, 10, usize::MAX).is_ok());
    drop(log);

    // Without the index the segment is scanned, and open reports the corruption.
    std::fs::remove_file(first.with_extension("idx")).unwrap();
    let err = tidelog::log::Log::open(storage.clone(), tmp.path(), ID, small_config()).unwrap_err();
    let LogError::Corruption(c) = err else {
        panic!("{err}")
    };
    assert_eq!(
        (c.path.clone(), c.offset),
        (first.clone(), RECORDS_OFFSET as u64)
    );
    let message = c.to_string();
    assert!(
        message.contains("checksum mismatch") && message.contains(&first.display().to_string()),
        "{message}"
    );
}

#[test]
fn bit_flip_before_a_clean_close_point_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (mut log, _) = open(&storage, tmp.path(), &small_config());
    for i in 0..10u64 {
        log.append(i as u128 + 1, i, "k", &payload(i, 100)).unwrap();
    }
    log.close().unwrap();
    let files = segment_files(tmp.path());
    assert_eq!(files.len(), 1);
    // Damage the 5th record's CRC field: the checkpoint says it was durable.
    let offset = last_frame_offset(&storage, &files[0], 5);
    damage(&files[0], offset + 5, &[0xff]);
    let err = tidelog::log::Log::open(storage.clone(), tmp.path(), ID, small_config()).unwrap_err();
    let LogError::Corruption(c) = err else {
        panic!("{err}")
    };
    assert_eq!(c.offset, offset as u64);
    // The open failed and changed nothing: the damaged file is still all there.
    let after =
        tidelog::log::Log::open(storage.clone(), tmp.path(), ID, small_config()).unwrap_err();
    assert!(matches!(after, LogError::Corruption(_)));
}

#[test]
fn bit_flip_after_the_durable_point_is_a_reported_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (expected, active, offset, _frame) = crashed_log(&storage, tmp.path(), 20);
    // Flip a bit in the last (unsynced) record.
    damage(&active, offset + 50, &[0xAA]);
    let (log, report) = open(&storage, tmp.path(), &small_config());
    assert_eq!(read_all(&log), expected[..19]);
    let tail = report.tail.unwrap();
    assert!(matches!(
        tail.reason,
        CorruptionKind::ChecksumMismatch { .. }
    ));
}

#[test]
fn garbage_after_the_end_is_zeroed_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (expected, active, offset, frame) = crashed_log(&storage, tmp.path(), 25);
    let end = offset + align_up(frame);
    // Garbage well after the end (not where a frame would start) ...
    damage(&active, end + 1000, b"garbage that is not a record");
    let (log, report) = open(&storage, tmp.path(), &small_config());
    assert_eq!(read_all(&log), expected);
    assert_eq!(report.tail, None);
    assert_eq!(report.garbage_bytes_zeroed, 1000 + 28);
    drop(log);
    let mut bytes = vec![0u8; 2000];
    std::fs::File::open(&active)
        .unwrap()
        .read_exact_at(&mut bytes, end as u64)
        .unwrap();
    assert!(bytes.iter().all(|&b| b == 0), "zeroed on disk");

    // ... and garbage exactly where the next frame would start.
    damage(&active, end, &[0x13, 0x37, 0, 0, 1, 2, 3, 4, 5]);
    let (mut log, report) = open(&storage, tmp.path(), &small_config());
    assert_eq!(read_all(&log), expected);
    assert_eq!(report.tail.as_ref().map(|t| t.offset), Some(end as u64));
    log.append(100, 0, "k", b"after").unwrap();
    log.close().unwrap();
    let (log, _) = open(&storage, tmp.path(), &small_config());
    assert_eq!(read_all(&log).last().unwrap().3, b"after");
}

#[test]
fn stray_and_leftover_files() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (mut log, _) = open(&storage, tmp.path(), &small_config());
    for i in 0..300u64 {
        log.append(i as u128 + 1, i, "k", &payload(i, 100)).unwrap();
    }
    log.close().unwrap();
    let expected = {
        let (log, _) = open(&storage, tmp.path(), &small_config());
        read_all(&log)
    };
    std::fs::File::create(tmp.path().join("notes.txt"))
        .unwrap()
        .write_all(b"hi")
        .unwrap();
    std::fs::File::create(tmp.path().join("1.seg"))
        .unwrap()
        .write_all(b"not ours")
        .unwrap();
    std::fs::create_dir(tmp.path().join("subdir")).unwrap();
    std::fs::File::create(tmp.path().join("spare-9.spare"))
        .unwrap()
        .write_all(&[0; 100])
        .unwrap();
    let orphan = tmp.path().join(format!("{:039}.idx", 99_999));
    std::fs::File::create(&orphan)
        .unwrap()
        .write_all(b"orphan")
        .unwrap();
    let (log, report) = open(&storage, tmp.path(), &small_config());
    assert_eq!(read_all(&log), expected);
    assert_eq!(report.unknown_files, vec!["1.seg", "notes.txt", "subdir"]);
    assert_eq!(report.leftovers_removed.len(), 2);
    assert!(!orphan.exists());
    assert!(
        tmp.path().join("notes.txt").exists(),
        "unknown files are left alone"
    );
}

#[test]
fn a_roll_whose_header_never_reached_disk_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    fifty_records_then_crash(&storage, tmp.path());
    let expected = {
        let (log, _) = open(&storage, tmp.path(), &small_config());
        read_all(&log)
    };
    let stray = tmp.path().join(format!("{:039}.seg", 1_000_000));
    std::fs::File::create(&stray)
        .unwrap()
        .write_all(&vec![0u8; 16 << 10])
        .unwrap();
    let (log, report) = open(&storage, tmp.path(), &small_config());
    assert_eq!(read_all(&log), expected);
    assert_eq!(report.segments_dropped, vec![stray.clone()]);
    assert!(!stray.exists());
}

/// A segment file as a roll killed while copying its header leaves it: the first 64
/// bytes of a real header (magic, ids, base, capacity), the rest of the header (its
/// reserved bytes and CRC) still zero, and nothing after it.
fn torn_header_segment(dir: &Path, from: &Path, base: u128) -> PathBuf {
    let mut bytes = vec![0u8; 16 << 10];
    bytes[..64].copy_from_slice(&std::fs::read(from).unwrap()[..64]);
    let path = dir.join(format!("{base:039}.seg"));
    std::fs::write(&path, &bytes).unwrap();
    path
}

#[test]
fn a_roll_killed_while_writing_its_header_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    fifty_records_then_crash(&storage, tmp.path());
    let expected = {
        let (log, _) = open(&storage, tmp.path(), &small_config());
        read_all(&log)
    };
    let last = segment_file_for(tmp.path(), 50);
    let torn = torn_header_segment(tmp.path(), &last, 1_000_000);
    let (mut log, report) = open(&storage, tmp.path(), &small_config());
    assert_eq!(read_all(&log), expected);
    assert_eq!(report.segments_dropped, vec![torn.clone()]);
    let tail = report.tail.expect("the unfinished roll is reported");
    assert_eq!(tail.path, torn);
    assert!(
        matches!(
            tail.reason,
            CorruptionKind::ChecksumMismatch { expected: 0, .. }
        ),
        "{:?}",
        tail.reason
    );
    assert!(!torn.exists());
    // The log goes on from where it was.
    log.append(51, 51, "k", b"after").unwrap();
    log.sync().unwrap();
    drop(log);
    let (log, _) = open(&storage, tmp.path(), &small_config());
    assert_eq!(read_all(&log).len(), expected.len() + 1);
}

#[test]
fn a_torn_header_with_data_after_it_or_before_other_segments_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    fifty_records_then_crash(&storage, tmp.path());
    let last = segment_file_for(tmp.path(), 50);

    // Something after the header: not an unfinished roll.
    let torn = torn_header_segment(tmp.path(), &last, 1_000_000);
    damage(&torn, RECORDS_OFFSET, &[64, 0, 0, 0]);
    let err = tidelog::log::Log::open(storage.clone(), tmp.path(), ID, small_config()).unwrap_err();
    assert!(
        matches!(&err, LogError::Corruption(c) if c.path == torn && c.offset == 124),
        "{err}"
    );
    std::fs::remove_file(&torn).unwrap();

    // Not the last segment: a later one exists.
    let torn = torn_header_segment(tmp.path(), &last, 1_000_000);
    let later = tmp.path().join(format!("{:039}.seg", 2_000_000));
    std::fs::write(&later, vec![0u8; 16 << 10]).unwrap();
    let err = tidelog::log::Log::open(storage, tmp.path(), ID, small_config()).unwrap_err();
    assert!(
        matches!(&err, LogError::Corruption(c) if c.path == torn && c.offset == 124),
        "{err}"
    );
}

#[test]
fn damaged_index_files_are_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (mut log, _) = open(&storage, tmp.path(), &small_config());
    for i in 0..500u64 {
        log.append(i as u128 + 1, i, "k", &payload(i, 150)).unwrap();
    }
    log.close().unwrap();
    let (log, _) = open(&storage, tmp.path(), &small_config());
    let expected = read_all(&log);
    drop(log);
    let indexes: Vec<PathBuf> = segment_files(tmp.path())
        .iter()
        .map(|p| p.with_extension("idx"))
        .filter(|p| p.exists())
        .collect();
    assert!(indexes.len() >= 2);
    damage(&indexes[0], 70, &[0xff, 0xff]);
    std::fs::remove_file(&indexes[1]).unwrap();
    let (log, report) = open(&storage, tmp.path(), &small_config());
    assert_eq!(report.indexes_rebuilt, 2);
    assert_eq!(read_all(&log), expected);
    assert_eq!(log.reader().seek_seq(250), Some(250));
    drop(log);
    assert!(indexes[1].exists(), "rewritten");
    let (_, report) = open(&storage, tmp.path(), &small_config());
    assert_eq!(report.indexes_rebuilt, 0);
}

#[test]
fn crash_after_rolls_loses_nothing_the_page_cache_holds() {
    // A process crash (not power loss) keeps the page cache: every appended record is
    // there on reopen, across segments whose seals never happened.
    let (_mem, storage) = mem();
    let dir = Path::new("/log");
    let (mut log, _) = open(&storage, dir, &small_config());
    let mut expected = Vec::new();
    for i in 0..1000u64 {
        let data = payload(i, (i % 200) as usize);
        log.append(i as u128 + 1, i, "k", &data).unwrap();
        expected.push((i as u128 + 1, i, "k".to_string(), data));
    }
    drop(log);
    let (mut log, report) = open(&storage, dir, &small_config());
    assert_eq!(report.tail, None);
    assert!(
        report.segments_scanned > 1,
        "unsealed segments were verified"
    );
    assert_eq!(read_all(&log), expected);
    log.append(5000, 0, "k", b"more").unwrap();
    log.sync().unwrap();
    log.sync().unwrap();
    drop(log);
    let (log, _) = open(&storage, dir, &small_config());
    assert_eq!(read_all(&log).len(), 1001);
}
