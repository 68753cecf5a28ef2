//! Appending and reading the log of one shard: round trips across segments and sizes,
//! seeks, syncs and reopen.

mod common;

use common::*;
use tidelog::limits;
use tidelog::log::{LogConfig, LogError};

#[test]
fn round_trip_across_segments_and_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let config = LogConfig {
        segment_bytes_initial: 64 << 10,
        segment_bytes_max: 256 << 10,
        ..LogConfig::default()
    };
    let (mut log, report) = open(&storage, tmp.path(), &config);
    assert_eq!(report.segments, 0);
    let key_1 = "k".to_string();
    let key_256: String = "é".repeat(256); // 256 chars, 512 bytes
    let sizes = [0usize, 1, 7, 100, 1024, 4000, 64 << 10, 1 << 20];
    let mut expected = Vec::new();
    let mut seq = 1_000u128;
    for round in 0..3u64 {
        for (i, &size) in sizes.iter().enumerate() {
            let key = if i % 2 == 0 { &key_1 } else { &key_256 };
            // Keep data + key within the 1 MiB limit.
            let size = size.min(limits::RECORD_BYTES_MAX_DEFAULT as usize - key.len());
            let data = payload(seq as u64, size);
            let ts = 1_700_000_000_000 + round * 100 + i as u64;
            log.append(seq, ts, key, &data).unwrap();
            expected.push((seq, ts, key.clone(), data));
            seq += 3; // sequence numbers need not be contiguous
        }
    }
    assert!(
        segment_files(tmp.path()).len() > 3,
        "rolled several segments"
    );
    assert_eq!(read_all(&log), expected);
    log.sync().unwrap();
    assert_eq!(read_all(&log), expected);
    log.close().unwrap();

    let (log, report) = open(&storage, tmp.path(), &config);
    assert!(report.clean_shutdown, "{report:?}");
    assert_eq!(report.tail, None);
    assert_eq!(
        report.segments_scanned, 1,
        "only the active segment is scanned"
    );
    assert_eq!(read_all(&log), expected);
    assert_eq!(log.last_seq(), Some(expected.last().unwrap().0));
}

#[test]
fn reads_respect_limits_and_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (mut log, _) = open(&storage, tmp.path(), &small_config());
    for i in 0..500u64 {
        log.append(i as u128 + 1, i, "key", &payload(i, 100))
            .unwrap();
    }
    let reader = log.reader();
    let batch = reader.read(1, 10, usize::MAX).unwrap();
    assert_eq!(batch.len(), 10);
    assert_eq!(batch.get(0).unwrap().seq, 1);
    assert_eq!(batch.next_seq(), 11);
    // Byte limit: each record carries 3 + 100 payload bytes.
    let batch = reader.read(11, 1000, 103 * 5 + 50).unwrap();
    assert_eq!(batch.len(), 5);
    assert_eq!(batch.payload_bytes(), 103 * 5);
    // A record larger than the byte limit is still returned, alone.
    let batch = reader.read(16, 1000, 10).unwrap();
    assert_eq!(batch.len(), 1);
    // Reading from the middle of a later segment.
    let batch = reader.read(377, 3, usize::MAX).unwrap();
    let seqs: Vec<u128> = batch.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![377, 378, 379]);
    assert_eq!(batch.get(1).unwrap().data, &payload(377, 100)[..]);
    // At the tip: empty, and the next position stays put.
    let batch = reader.read(501, 10, usize::MAX).unwrap();
    assert!(batch.is_empty());
    assert_eq!(batch.next_seq(), 501);
    assert_eq!(reader.first_seq(), Some(1));
    assert_eq!(reader.last_seq(), Some(500));
    assert_eq!(reader.record_count(), 500);
}

#[test]
fn seek_by_sequence_and_timestamp() {
    let (_mem, storage) = mem();
    let dir = std::path::Path::new("/log");
    let (mut log, _) = open(&storage, dir, &small_config());
    // Timestamps mostly rise but sometimes step back, as wall clocks do.
    let mut ts_of = Vec::new();
    for i in 0..2000u64 {
        let ts = 10_000 + i * 10 - if i % 7 == 0 { 25 } else { 0 };
        log.append(i as u128 * 2 + 2, ts, "k", &payload(i, 50))
            .unwrap();
        ts_of.push((i as u128 * 2 + 2, ts));
    }
    let reader = log.reader();
    for probe in [0u128, 1, 2, 3, 1000, 1001, 3999, 4000] {
        let expected = ts_of.iter().map(|(s, _)| *s).find(|s| *s >= probe);
        assert_eq!(reader.seek_seq(probe), expected, "seek_seq({probe})");
    }
    assert_eq!(reader.seek_seq(4001), None);
    for probe in [
        0u64, 9_975, 10_000, 10_001, 10_500, 15_000, 29_985, 29_990, 30_000,
    ] {
        let expected = ts_of.iter().find(|(_, t)| *t >= probe).map(|(s, _)| *s);
        assert_eq!(
            reader.seek_timestamp(probe),
            expected,
            "seek_timestamp({probe})"
        );
    }
}

#[test]
fn views_outlive_the_log_and_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (mut log, _) = open(&storage, tmp.path(), &small_config());
    log.append(1, 5, "a", b"first").unwrap();
    log.append(2, 6, "b", b"second").unwrap();
    let batch = log.reader().read(1, 10, usize::MAX).unwrap();
    let view = batch.view(1).unwrap();
    drop(batch);
    log.close().unwrap();
    for file in std::fs::read_dir(tmp.path()).unwrap() {
        std::fs::remove_file(file.unwrap().path()).unwrap();
    }
    assert_eq!(view.data(), b"second");
    assert_eq!(view.key(), b"b");
    assert_eq!((view.seq(), view.timestamp_ms()), (2, 6));
    assert_eq!(view.record().data, b"second");
}

#[test]
fn readers_on_other_threads_see_whole_records_in_order() {
    let (_mem, storage) = mem();
    let dir = std::path::Path::new("/log");
    let (mut log, _) = open(&storage, dir, &small_config());
    let reader = log.reader();
    let total = 20_000u64;
    let consumer = std::thread::spawn(move || {
        let mut next = 1u128;
        let mut seen = 0u64;
        while seen < total {
            let batch = match reader.read(next, 100, usize::MAX) {
                Ok(batch) => batch,
                Err(LogError::Trimmed { .. }) => continue, // nothing written yet
                Err(e) => panic!("{e}"),
            };
            for r in batch.iter() {
                assert_eq!(r.seq, next, "in order, none skipped");
                assert_eq!(r.data, &payload(r.seq as u64, (r.seq % 300) as usize)[..]);
                next += 1;
                seen += 1;
            }
        }
        seen
    });
    for seq in 1..=total as u128 {
        log.append(seq, 0, "k", &payload(seq as u64, (seq % 300) as usize))
            .unwrap();
    }
    assert_eq!(consumer.join().unwrap(), total);
}

#[test]
fn spare_segments_are_prepared_ahead_and_used() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (mut log, _) = open(&storage, tmp.path(), &small_config());
    // An empty log wants its first segment prepared.
    let request = log.spare_request().expect("first segment due");
    assert!(log.spare_request().is_none(), "one request at a time");
    storage
        .create_segment(&request.path, request.capacity, request.fill)
        .unwrap();
    let spare_path = request.path.clone();
    log.install_spare(request);
    log.append(1, 0, "k", b"x").unwrap();
    assert!(!spare_path.exists(), "the spare became the first segment");
    assert_eq!(segment_files(tmp.path()).len(), 1);
    // Half full: the next one is requested.
    assert!(log.spare_request().is_none());
    let mut seq = 2;
    while log.spare_request().is_none() {
        log.append(seq, 0, "k", &[0u8; 500]).unwrap();
        seq += 1;
    }
    // A spare left over at close is removed.
    log.prepare_spare().unwrap_or(());
    log.close().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".spare"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn spares_are_allocate_only_after_a_roll_found_none_ready_then_zeroed_again() {
    use tidelog::log::Preallocation;
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (mut log, _) = open(&storage, tmp.path(), &small_config());
    let mut seq = 0u128;
    // Appends until the log asks for a spare (at most 4 MiB of records).
    fn until_request(log: &mut tidelog::log::Log, seq: &mut u128) -> tidelog::log::SpareRequest {
        for _ in 0..4_000 {
            if let Some(r) = log.spare_request() {
                return r;
            }
            *seq += 1;
            log.append(*seq, 0, "k", &[7u8; 1000]).unwrap();
        }
        panic!("no spare was asked for");
    }
    let first = until_request(&mut log, &mut seq);
    assert_eq!(first.fill, Preallocation::Zeroed, "the default");
    // Never installed: the log fills its segments and rolls without a spare ready.
    let mut rolled_without = 0;
    let mut written = 0u64;
    while rolled_without < 2 && written < (8 << 20) {
        seq += 1;
        log.append(seq, 0, "k", &[7u8; 1000]).unwrap();
        written += 1000;
        rolled_without = segment_files(tmp.path()).len();
    }
    log.spare_failed(&first);
    let mut fills = Vec::new();
    for _ in 0..20 {
        let r = until_request(&mut log, &mut seq);
        fills.push(r.fill);
        storage.create_segment(&r.path, r.capacity, r.fill).unwrap();
        log.install_spare(r);
        // Fill the active segment until the spare is taken by a roll.
        let segments = segment_files(tmp.path()).len();
        while segment_files(tmp.path()).len() == segments {
            seq += 1;
            log.append(seq, 0, "k", &[7u8; 1000]).unwrap();
        }
    }
    let allocated = fills
        .iter()
        .take_while(|f| **f == Preallocation::AllocatedCached)
        .count();
    assert_eq!(allocated, 16, "{fills:?}");
    assert!(
        fills[16..].iter().all(|f| *f == Preallocation::Zeroed),
        "{fills:?}"
    );
    // Whatever the fill, the records read back in order.
    let all = read_all(&log);
    assert_eq!(all.len() as u128, seq);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    log.close().unwrap();
}

#[test]
fn a_busy_log_keeps_two_spares_and_a_miss_allocates_one_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let max: u64 = 8 << 20;
    let config = LogConfig {
        segment_bytes_initial: 1 << 20,
        segment_bytes_max: max,
        ..LogConfig::default()
    };
    let (mut log, _) = open(&storage, tmp.path(), &config);
    let mut seq = 0u128;
    let mut append = |log: &mut tidelog::log::Log| {
        seq += 1;
        log.append(seq, 0, "k", &[7u8; 1000]).unwrap();
    };
    let len = |p: &std::path::PathBuf| std::fs::metadata(p).unwrap().len();
    // Grow to the largest segments, serving every spare request at once.
    while segment_files(tmp.path())
        .last()
        .is_none_or(|p| len(p) < max)
    {
        append(&mut log);
        if let Some(r) = log.spare_request() {
            storage.create_segment(&r.path, r.capacity, r.fill).unwrap();
            log.install_spare(r);
        }
    }
    // Busy: a second spare is asked for while the first waits, and no third.
    let mut ready = 0;
    while let Some(r) = log.spare_request() {
        assert_eq!(r.capacity, max);
        storage.create_segment(&r.path, r.capacity, r.fill).unwrap();
        log.install_spare(r);
        ready += 1;
        assert!(ready <= 2, "a third spare was asked for");
    }
    let spares = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "spare")
            })
            .count()
    };
    assert_eq!(spares(tmp.path()), 2);
    // No more spares served: two rolls use the ready ones, the third finds none and
    // allocates a segment itself.
    let before = segment_files(tmp.path()).len();
    while segment_files(tmp.path()).len() < before + 3 {
        append(&mut log);
    }
    let files = segment_files(tmp.path());
    let sizes: Vec<u64> = files[before..].iter().map(len).collect();
    assert_eq!(sizes, vec![max, max, max], "{sizes:?}");
    assert_eq!(spares(tmp.path()), 0);
    // After the miss a spare is due at once, however empty the new segment is.
    let next = log
        .spare_request()
        .expect("a spare is due right after a miss");
    // Written through the mapping: its pages are cached ahead.
    assert_eq!(next.fill, tidelog::log::Preallocation::AllocatedCached);
    log.spare_failed(&next);
    let all = read_all(&log);
    assert_eq!(all.len() as u128, seq);
    log.close().unwrap();
}

#[test]
fn staged_appends_are_published_when_flushed_in_order_and_across_rolls() {
    use tidelog::log::WriteVia;
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (mut log, _) = open(&storage, tmp.path(), &small_config());
    let mut expected: Vec<(u128, Vec<u8>)> = Vec::new();
    fn put(
        log: &mut tidelog::log::Log,
        expected: &mut Vec<(u128, Vec<u8>)>,
        via: WriteVia,
        len: usize,
    ) {
        let seq = expected.len() as u128 + 1;
        let data = payload(seq as u64, len);
        log.append_via(seq, seq as u64, "k", &data, via).unwrap();
        expected.push((seq, data));
    }
    // Staged records are invisible until the batch is flushed.
    for _ in 0..3 {
        put(&mut log, &mut expected, WriteVia::Staged, 100);
    }
    assert!(read_all(&log).is_empty());
    assert_eq!(log.last_seq(), Some(3));
    log.flush_staged().unwrap();
    assert_eq!(read_all(&log).len(), 3);
    // A record of another kind writes the stage first: order holds.
    put(&mut log, &mut expected, WriteVia::Staged, 50);
    put(&mut log, &mut expected, WriteVia::Mapping, 60);
    put(&mut log, &mut expected, WriteVia::Staged, 70);
    put(&mut log, &mut expected, WriteVia::Syscall, 80);
    assert_eq!(read_all(&log).len(), 7);
    // Enough staged bytes to roll several 64 KiB segments inside one batch.
    for i in 0..400 {
        put(&mut log, &mut expected, WriteVia::Staged, 300 + i % 700);
    }
    log.flush_staged().unwrap();
    assert!(segment_files(tmp.path()).len() >= 3);
    let rows = read_all(&log);
    assert_eq!(rows.len(), expected.len());
    for (row, (seq, data)) in rows.iter().zip(&expected) {
        assert_eq!(row.0, *seq);
        assert_eq!(&row.3, data, "record {seq}");
    }
    // A sync writes what is staged first; after a reopen everything is there.
    put(&mut log, &mut expected, WriteVia::Staged, 10);
    log.sync().unwrap();
    log.close().unwrap();
    let (log, report) = open(&storage, tmp.path(), &small_config());
    assert!(report.tail.is_none(), "{report:?}");
    let rows = read_all(&log);
    assert_eq!(rows.len(), expected.len());
    assert!(
        rows.iter()
            .zip(&expected)
            .all(|(r, (s, d))| r.0 == *s && &r.3 == d)
    );
}

#[test]
fn an_allocate_only_segment_is_in_the_page_cache_when_created() {
    // A segment for appends through the mapping: the appender must not fault and zero
    // its pages itself, so every page is cached once `create_segment` returns. One for
    // pwritev appends is left out of the cache (a full-page write needs no page first).
    // util-linux's `fincore` counts a file's resident bytes (mincore); without it this
    // test can say nothing.
    use tidelog::log::Preallocation;
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let len: u64 = 64 << 20;
    for (name, fill, cached) in [
        ("spare-1.spare", Preallocation::AllocatedCached, len),
        ("spare-2.spare", Preallocation::Allocated, 0),
    ] {
        let path = tmp.path().join(name);
        storage.create_segment(&path, len, fill).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
        let out = match std::process::Command::new("fincore")
            .args(["--bytes", "--noheadings", "--raw", "-o", "RES"])
            .arg(&path)
            .output()
        {
            Ok(out) if out.status.success() => out,
            other => {
                eprintln!("fincore unavailable ({other:?}): page cache not checked");
                return;
            }
        };
        let resident: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(resident, cached, "resident bytes of a {fill:?} segment");
        assert!(std::fs::read(&path).unwrap().iter().all(|b| *b == 0));
    }
}

#[test]
fn spares_are_cached_ahead_only_for_logs_written_through_the_mapping() {
    use tidelog::log::{Preallocation, WriteVia};
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let config = LogConfig {
        preallocation: Preallocation::Allocated,
        ..small_config()
    };
    let (mut log, _) = open(&storage, tmp.path(), &config);
    let mut fills = Vec::new();
    let mut seq = 0u128;
    for via in [WriteVia::Mapping, WriteVia::Staged, WriteVia::Syscall] {
        let request = loop {
            seq += 1;
            log.append_via(seq, 0, "k", &[3u8; 500], via).unwrap();
            log.flush_staged().unwrap();
            if let Some(r) = log.spare_request() {
                break r;
            }
        };
        fills.push(request.fill);
        log.spare_failed(&request);
    }
    assert_eq!(
        fills,
        vec![
            Preallocation::AllocatedCached,
            Preallocation::Allocated,
            Preallocation::Allocated
        ]
    );
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (_log, _) = open(&storage, tmp.path(), &small_config());
    let err = tidelog::log::Log::open(storage.clone(), tmp.path(), ID, small_config()).unwrap_err();
    assert!(matches!(err, LogError::Locked { .. }), "{err}");
}

#[test]
fn segments_of_another_shard_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let (mut log, _) = open(&storage, tmp.path(), &small_config());
    log.append(1, 0, "k", b"x").unwrap();
    log.close().unwrap();
    let other = tidelog::log::ShardIdentity {
        stream_id: 7,
        shard_index: 4,
    };
    let err =
        tidelog::log::Log::open(storage.clone(), tmp.path(), other, small_config()).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::IdentityMismatch {
                found_shard: 3,
                expected_shard: 4,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn sync_plan_covers_dirty_segments_oldest_first() {
    let (_mem, storage) = mem();
    let dir = std::path::Path::new("/log");
    let (mut log, _) = open(&storage, dir, &small_config());
    assert!(log.plan_sync().is_empty());
    for seq in 1..=100u128 {
        log.append(seq, 0, "k", &[1u8; 400]).unwrap();
    }
    let plan = log.plan_sync();
    assert!(
        plan.targets.len() >= 2,
        "a roll happened: {} targets",
        plan.targets.len()
    );
    assert!(
        plan.targets
            .windows(2)
            .all(|w| w[0].base_seq < w[1].base_seq)
    );
    assert!(
        plan.sync_dir.is_some(),
        "new segments were linked into the directory"
    );
    // Appends after planning are not covered.
    log.append(101, 0, "k", b"late").unwrap();
    for target in &plan.targets {
        log.sync_target(target).unwrap();
    }
    log.sync_directory(plan.sync_dir.as_deref().unwrap())
        .unwrap();
    log.complete_sync(plan).unwrap();
    assert!(
        log.needs_sync(),
        "the late record and the seals still need a sync"
    );
    log.sync().unwrap();
    log.sync().unwrap();
    assert!(!log.needs_sync());
}

#[test]
fn both_write_paths_and_both_preallocations_read_back_alike() {
    use tidelog::log::{Preallocation, WriteVia};
    for fill in [Preallocation::Zeroed, Preallocation::Allocated] {
        let tmp = tempfile::tempdir().unwrap();
        let storage = fs();
        let config = LogConfig {
            preallocation: fill,
            ..small_config()
        };
        let (mut log, _) = open(&storage, tmp.path(), &config);
        let mut expected = Vec::new();
        for i in 0..600u64 {
            let via = if i % 3 == 0 {
                WriteVia::Syscall
            } else {
                WriteVia::Mapping
            };
            let data = payload(i, (i as usize * 37) % 900);
            log.append_via(i as u128 + 1, i, "k", &data, via).unwrap();
            expected.push((i as u128 + 1, i, "k".to_string(), data));
            if i % 50 == 0 {
                log.sync().unwrap();
            }
        }
        assert_eq!(read_all(&log), expected, "{fill:?}");
        drop(log); // crash: recovery verifies what both paths wrote
        let (log, report) = open(&storage, tmp.path(), &config);
        assert_eq!(report.tail, None, "{fill:?}");
        assert_eq!(read_all(&log), expected, "{fill:?}");
    }
}
