//! The read-only inspection (`log/inspect.rs`, used by `tidelog dump` and `verify`):
//! every frame of a healthy log; corruption before the durable point and torn tails
//! after it, with the same offsets recovery uses; nothing written.

mod common;

use std::os::unix::fs::FileExt;
use std::path::Path;

use common::*;
use tidelog::log::format::RECORDS_OFFSET;
use tidelog::log::inspect::{Finding, inspect_dir};

fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn damage(path: &Path, offset: usize, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset as u64).unwrap();
}

#[test]
fn a_healthy_log_shows_every_frame_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (mut log, _) = open(&storage, tmp.path(), &small_config());
    let mut expected = Vec::new();
    for i in 0..300u64 {
        let data = payload(i, 50 + i as usize % 70);
        log.append(i as u128 + 1, 1000 + i, "key", &data).unwrap();
        expected.push((i as u128 + 1, data));
    }
    log.close().unwrap();
    let before = all_bytes(tmp.path());
    let mut seen = Vec::new();
    let report = inspect_dir(tmp.path(), &mut |f| {
        assert_eq!(f.key, b"key");
        seen.push((f.info.seq, f.data.to_vec()));
    })
    .unwrap();
    assert_eq!(seen, expected);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(report.segments.len() > 1, "small segments roll");
    assert_eq!(report.segments.iter().map(|s| s.frames).sum::<u64>(), 300);
    assert_eq!(all_bytes(tmp.path()), before, "inspection wrote nothing");
}

#[test]
fn damage_before_the_durable_point_is_corruption_and_after_it_a_torn_tail() {
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
    let report = inspect_dir(tmp.path(), &mut |_| {}).unwrap();
    assert!(
        matches!(&report.findings[..], [Finding::Corruption { path, offset, .. }]
            if *path == first && *offset == RECORDS_OFFSET as u64),
        "{:?}",
        report.findings
    );

    // Garbage after the last record of the last segment: a torn tail there.
    damage(&first, offset, &byte);
    let last = segment_files(tmp.path()).last().unwrap().clone();
    let report = inspect_dir(tmp.path(), &mut |_| {}).unwrap();
    let end = report.segments.last().unwrap().end_offset as usize;
    damage(&last, end + 16, b"garbage");
    let report = inspect_dir(tmp.path(), &mut |_| {}).unwrap();
    assert!(
        matches!(&report.findings[..], [Finding::TornTail { path, offset, .. }]
            if *path == last && *offset == (end + 16) as u64),
        "{:?}",
        report.findings
    );

    // A stray file is listed, not fatal.
    std::fs::write(tmp.path().join("notes.txt"), b"hi").unwrap();
    let report = inspect_dir(tmp.path(), &mut |_| {}).unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| matches!(f, Finding::UnknownFile { .. }))
    );
}
