//! Retention with a manual clock: whole sealed segments vanish exactly when their newest
//! record ages out (or the size budget is exceeded); views taken before still read.

mod common;

use std::path::Path;

use common::*;
use tidelog::clock::{Clock, ManualClock};
use tidelog::log::{LogError, RetentionPolicy};

const HOUR_MS: u64 = 3_600_000;

#[test]
fn segments_vanish_exactly_when_due() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let clock = ManualClock::new(1_700_000_000_000);
    let (mut log, _) = open(&storage, tmp.path(), &small_config());
    // Six hours of records, one per minute, each ~1 KiB: many small segments.
    for seq in 1..=360u128 {
        log.append(seq, clock.now_ms(), "k", &payload(seq as u64, 1000))
            .unwrap();
        clock.advance_ms(60_000);
    }
    let policy = RetentionPolicy {
        max_age_ms: Some(24 * HOUR_MS),
        max_total_bytes: None,
    };
    let segments_before = log.reader().segment_count();
    assert!(segments_before > 5);
    let report = log.enforce_retention(clock.now_ms(), &policy).unwrap();
    assert_eq!(report.segments_deleted, 0, "nothing is a day old yet");

    // Take a view of the very first record before anything is deleted.
    let reader = log.reader();
    let first_batch = reader.read(1, 1, usize::MAX).unwrap();
    let first_view = first_batch.view(0).unwrap();

    // Walk the clock forward and check each deletion happens exactly at its due time.
    let segments = segment_files(tmp.path());
    let mut deleted_so_far = 0;
    for (i, seg) in segments.iter().enumerate().take(segments.len() - 1) {
        let last_seq_in_seg: u128 = segments[i + 1]
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .parse::<u128>()
            .unwrap()
            - 1;
        let newest_ts = 1_700_000_000_000 + (last_seq_in_seg as u64 - 1) * 60_000;
        let due = newest_ts + 24 * HOUR_MS + 1; // strictly older than the period
        let report = log.enforce_retention(due - 1, &policy).unwrap();
        assert_eq!(
            report.segments_deleted,
            0,
            "segment {i} not due at {}",
            due - 1
        );
        assert!(seg.exists());
        let report = log.enforce_retention(due, &policy).unwrap();
        assert_eq!(report.segments_deleted, 1, "segment {i} due at {due}");
        assert!(!seg.exists(), "{} deleted", seg.display());
        assert!(!seg.with_extension("idx").exists());
        deleted_so_far += 1;
        assert_eq!(report.start_seq, Some(last_seq_in_seg + 1));
        assert_eq!(log.reader().first_seq(), Some(last_seq_in_seg + 1));
        let err = log.reader().read(1, 1, usize::MAX).unwrap_err();
        assert!(
            matches!(err, LogError::Trimmed { requested: 1, first_available } if first_available == last_seq_in_seg + 1)
        );
    }
    assert_eq!(deleted_so_far, segments.len() - 1);
    // The active segment is never deleted, however old.
    let report = log.enforce_retention(u64::MAX / 2, &policy).unwrap();
    assert_eq!(report.segments_deleted, 0);
    assert_eq!(log.reader().segment_count(), 1);

    // The view taken before deletion still reads its bytes.
    assert_eq!(first_view.data(), &payload(1, 1000)[..]);
    assert_eq!(first_batch.get(0).unwrap().seq, 1);

    // Deletions survive reopen.
    log.close().unwrap();
    let (log, _) = open(&storage, tmp.path(), &small_config());
    assert_eq!(log.reader().segment_count(), 1);
    assert_eq!(
        read_all(&log).first().map(|r| r.0),
        Some(
            segments
                .last()
                .unwrap()
                .file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        )
    );
}

#[test]
fn size_budget_deletes_oldest_first() {
    let (_mem, storage) = mem();
    let dir = Path::new("/log");
    let (mut log, _) = open(&storage, dir, &small_config());
    for seq in 1..=2000u128 {
        log.append(seq, 0, "k", &[7u8; 500]).unwrap();
    }
    let total = log.reader().disk_bytes();
    let budget = total / 2;
    let report = log
        .enforce_retention(
            0,
            &RetentionPolicy {
                max_age_ms: None,
                max_total_bytes: Some(budget),
            },
        )
        .unwrap();
    assert!(report.segments_deleted > 0);
    assert!(log.reader().disk_bytes() <= budget || log.reader().segment_count() == 1);
    assert_eq!(report.bytes_freed, total - log.reader().disk_bytes());
    // What is left is contiguous up to the last record.
    let records = read_all(&log);
    assert_eq!(records.last().unwrap().0, 2000);
    assert!(records.windows(2).all(|w| w[1].0 == w[0].0 + 1));
    assert_eq!(records.len() as u64 + report.records_deleted, 2000);
}

#[test]
fn retention_keeps_unsealed_durability_work_consistent() {
    // Deleting a segment whose seal was still pending must not break later syncs.
    let (_mem, storage) = mem();
    let dir = Path::new("/log");
    let (mut log, _) = open(&storage, dir, &small_config());
    for seq in 1..=500u128 {
        log.append(seq, seq as u64, "k", &[1u8; 300]).unwrap();
    }
    let plan = log.plan_sync();
    let report = log
        .enforce_retention(
            1_000_000,
            &RetentionPolicy {
                max_age_ms: Some(1),
                max_total_bytes: None,
            },
        )
        .unwrap();
    assert!(report.segments_deleted > 0);
    for target in &plan.targets {
        log.sync_target(target).unwrap();
    }
    log.complete_sync(plan).unwrap();
    log.sync().unwrap();
    log.close().unwrap();
    let (log, report) = open(&storage, dir, &small_config());
    assert_eq!(report.tail, None);
    assert_eq!(read_all(&log).last().unwrap().0, 500);
}
