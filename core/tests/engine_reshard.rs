//! Resharding: split, merge and update_shard_count under concurrent puts (nothing lost,
//! per-key order kept by a lineage-following consumer), every validation error (catalog
//! unchanged), reopen, expiry of closed shards, and a failed catalog write at each step.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use tidelog::clock::{Clock, ManualClock};
use tidelog::engine::{ShardDescription, ShardFilter};
use tidelog::error::{InvalidArgument, Validation};
use tidelog::io::{Fault, FaultOp, FaultyStorage, FsStorage, Storage};
use tidelog::stream::catalog::{ShardState, StreamStatus};
use tidelog::{
    Durability, Engine, Error, Limits, PutOptions, PutRecordsEntry, StartingPosition,
    SubscriptionEvent,
};

fn open_engine(dir: &std::path::Path) -> Engine {
    let mut config = engine_config(dir, None);
    config.limits = Limits::unlimited();
    Engine::open(config).unwrap()
}

fn open_shards(engine: &Engine, stream: &str) -> Vec<ShardDescription> {
    engine.list_shards(stream, ShardFilter::AtLatest).unwrap()
}

fn catalog_bytes(dir: &std::path::Path) -> Vec<u8> {
    std::fs::read(dir.join("catalog")).unwrap()
}

#[test]
fn reshards_under_concurrent_puts_lose_nothing_and_keep_key_order() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = open_engine(tmp.path());
    engine.create_stream("s", 1).unwrap();
    let mut sub = engine
        .subscribe(
            "s",
            "shardId-000000000000",
            StartingPosition::TrimHorizon,
            true,
        )
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let engine = engine.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut acked: Vec<(String, u32, u128)> = Vec::new();
                let mut counter = 0u32;
                while !stop.load(Ordering::Relaxed) || counter < 200 {
                    for k in 0..10 {
                        let key = format!("p{p}-k{k}");
                        let durability = if counter % 5 == 0 {
                            Durability::Sync
                        } else {
                            Durability::Os
                        };
                        let data = format!("{key}:{counter}");
                        let out = engine
                            .put_record(
                                "s",
                                &key,
                                data.as_bytes(),
                                PutOptions {
                                    durability: Some(durability),
                                    ..Default::default()
                                },
                            )
                            .unwrap();
                        acked.push((key, counter, out.sequence_number));
                    }
                    counter += 1;
                }
                acked
            })
        })
        .collect();
    // And one producer of PutRecords calls, each going to its shards in several
    // requests (chunks), with each key's records next to each other in the call.
    let batches = {
        let engine = engine.clone();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut acked: Vec<(String, u32, u128)> = Vec::new();
            let mut round = 0u32;
            while !stop.load(Ordering::Relaxed) || round < 20 {
                let texts: Vec<(String, u32, String)> = (0..300)
                    .map(|j| {
                        let key = format!("b-k{}", j / 30);
                        let counter = round * 30 + j % 30;
                        let data = format!("{key}:{counter}");
                        (key, counter, data)
                    })
                    .collect();
                let entries: Vec<PutRecordsEntry<'_>> = texts
                    .iter()
                    .map(|(key, _, data)| PutRecordsEntry {
                        partition_key: key,
                        data: data.as_bytes(),
                        explicit_hash_key: None,
                    })
                    .collect();
                let out = engine.put_records("s", &entries, None).unwrap();
                assert_eq!(out.failed_record_count, 0, "{:?}", out.records);
                for ((key, counter, _), r) in texts.into_iter().zip(out.records) {
                    acked.push((key, counter, r.unwrap().sequence_number));
                }
                round += 1;
            }
            acked
        })
    };
    // Several rounds of every kind of reshard while the producers run.
    std::thread::sleep(Duration::from_millis(20));
    engine
        .split_shard("s", "shardId-000000000000", &(1u128 << 127).to_string())
        .unwrap();
    std::thread::sleep(Duration::from_millis(10));
    engine
        .update_shard_count("s", 4, "UNIFORM_SCALING")
        .unwrap();
    let open = open_shards(&engine, "s");
    assert_eq!(open.len(), 4);
    std::thread::sleep(Duration::from_millis(10));
    engine
        .merge_shards("s", &open[1].shard_id, &open[2].shard_id)
        .unwrap();
    std::thread::sleep(Duration::from_millis(10));
    engine
        .update_shard_count("s", 5, "UNIFORM_SCALING")
        .unwrap();
    std::thread::sleep(Duration::from_millis(10));
    engine
        .update_shard_count("s", 3, "UNIFORM_SCALING")
        .unwrap();
    std::thread::sleep(Duration::from_millis(10));
    engine
        .update_shard_count("s", 6, "UNIFORM_SCALING")
        .unwrap();
    std::thread::sleep(Duration::from_millis(10));
    engine
        .update_shard_count("s", 3, "UNIFORM_SCALING")
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(String, u32, u128)> = producers
        .into_iter()
        .chain([batches])
        .flat_map(|t| t.join().unwrap())
        .collect();

    // The final layout is even and covers the key space.
    let open = open_shards(&engine, "s");
    assert_eq!(open.len(), 3);
    assert_eq!(
        open.iter().map(|s| s.hash_range).collect::<Vec<_>>(),
        tidelog::stream::hashkey::even_split(3)
    );
    assert_eq!(
        engine.describe_stream("s").unwrap().status,
        StreamStatus::Active
    );

    // One lineage-following subscription from the root sees every acknowledged record
    // exactly once, and each key's records in put order.
    let mut seen: HashMap<String, Vec<u32>> = HashMap::new();
    let mut total = 0;
    while total < acked.len() {
        match sub.next(Duration::from_secs(30)).unwrap() {
            SubscriptionEvent::Records { batch, .. } => {
                for r in batch.iter() {
                    let text = std::str::from_utf8(r.data).unwrap();
                    let (key, counter) = text.rsplit_once(':').unwrap();
                    seen.entry(key.to_string())
                        .or_default()
                        .push(counter.parse().unwrap());
                    total += 1;
                }
            }
            SubscriptionEvent::ShardEnded { .. } => {}
            other => panic!("{other:?} after {total} of {} records", acked.len()),
        }
    }
    let mut expected: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (key, counter, _) in &acked {
        expected.entry(key.clone()).or_default().push(*counter);
    }
    for (key, counters) in &expected {
        assert_eq!(
            seen.get(key),
            Some(counters),
            "key {key}: order or completeness"
        );
    }
    // GetRecords agrees: every acknowledged sequence number is readable in some shard.
    let all = engine.describe_stream("s").unwrap().shards;
    let mut found = std::collections::HashSet::new();
    for shard in &all {
        for (seq, _) in read_shard(&engine, "s", &shard.shard_id) {
            found.insert(seq);
        }
    }
    assert!(acked.iter().all(|(_, _, seq)| found.contains(seq)));
    // Closed shards end with their last record; children name their parents.
    for shard in all.iter().filter(|s| s.state == ShardState::Closed) {
        let records = read_shard(&engine, "s", &shard.shard_id);
        let expected_end = records
            .last()
            .map_or(shard.starting_sequence_number, |r| r.0);
        assert_eq!(
            shard.ending_sequence_number,
            Some(expected_end),
            "{}",
            shard.shard_id
        );
    }
    assert!(
        all.iter()
            .filter(|s| s.shard_id != "shardId-000000000000")
            .all(|s| s.parent_shard_id.is_some())
    );
}

#[test]
fn get_records_on_a_closed_shard_ends_with_its_children() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = open_engine(tmp.path());
    engine.create_stream("s", 1).unwrap();
    for i in 0..10u8 {
        engine
            .put_record("s", &format!("k{i}"), &[i], PutOptions::default())
            .unwrap();
    }
    let it = engine
        .get_shard_iterator("s", "shardId-000000000000", StartingPosition::TrimHorizon)
        .unwrap();
    engine
        .split_shard("s", "shardId-000000000000", "1000")
        .unwrap();
    let got = engine.get_records(&it, Some(5)).unwrap();
    assert_eq!(got.records.len(), 5);
    assert!(got.child_shards.is_empty(), "not drained yet");
    let rest = engine
        .get_records(got.next_shard_iterator.as_deref().unwrap(), None)
        .unwrap();
    assert_eq!(rest.records.len(), 5);
    assert!(
        rest.next_shard_iterator.is_none(),
        "a drained closed shard has no next iterator"
    );
    let children: Vec<&str> = rest
        .child_shards
        .iter()
        .map(|c| c.shard_id.as_str())
        .collect();
    assert_eq!(children, ["shardId-000000000001", "shardId-000000000002"]);
    assert!(
        rest.child_shards
            .iter()
            .all(|c| c.parent_shards == ["shardId-000000000000"])
    );
    assert_eq!(rest.child_shards[0].hash_range.end, 999);
    assert_eq!(rest.child_shards[1].hash_range.start, 1000);
}

#[test]
fn every_validation_error_leaves_the_catalog_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = engine_config(tmp.path(), None);
    config.max_shards = 4;
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 2).unwrap();
    engine
        .split_shard("s", "shardId-000000000000", "12345")
        .unwrap(); // 0 closes; 2, 3 open
    let before = catalog_bytes(tmp.path());
    let described = engine.describe_stream("s").unwrap();
    let check = |err: Error, what: &str| {
        assert_eq!(catalog_bytes(tmp.path()), before, "{what}: catalog changed");
        assert_eq!(
            engine.describe_stream("s").unwrap(),
            described,
            "{what}: state changed"
        );
        err
    };
    let e = check(
        engine
            .split_shard("s", "shardId-000000000000", "99")
            .unwrap_err(),
        "split closed",
    );
    assert!(
        matches!(
            e,
            Error::InvalidArgument(InvalidArgument::ShardClosed { .. })
        ),
        "{e}"
    );
    assert_eq!(e.kinesis_name(), "InvalidArgumentException");
    let e = check(
        engine
            .split_shard("s", "shardId-000000000002", "0")
            .unwrap_err(),
        "split at start",
    );
    assert!(
        matches!(
            e,
            Error::InvalidArgument(InvalidArgument::HashKeyOutsideShard { .. })
        ),
        "{e}"
    );
    let e = check(
        engine
            .split_shard("s", "shardId-000000000002", "12345")
            .unwrap_err(),
        "split outside",
    );
    assert!(
        matches!(
            e,
            Error::InvalidArgument(InvalidArgument::HashKeyOutsideShard { .. })
        ),
        "{e}"
    );
    let e = check(
        engine
            .split_shard("s", "shardId-000000000002", "12x")
            .unwrap_err(),
        "split bad key",
    );
    assert!(
        matches!(e, Error::Validation(Validation::ExplicitHashKey(_))),
        "{e}"
    );
    let e = check(
        engine
            .split_shard("s", "shardId-000000000009", "5")
            .unwrap_err(),
        "split missing",
    );
    assert!(matches!(e, Error::ShardNotFound { .. }), "{e}");
    let e = check(
        engine.split_shard("s", "shard-9", "5").unwrap_err(),
        "split malformed id",
    );
    assert!(
        matches!(e, Error::Validation(Validation::ShardId(_))),
        "{e}"
    );
    let e = check(
        engine
            .split_shard("nope", "shardId-000000000002", "5")
            .unwrap_err(),
        "split missing stream",
    );
    assert!(matches!(e, Error::StreamNotFound { .. }), "{e}");
    // 2 = [0, 12344], 3 = [12345, 2^127 - 1], 1 = [2^127, max]: 2 and 1 are not adjacent.
    let e = check(
        engine
            .merge_shards("s", "shardId-000000000002", "shardId-000000000001")
            .unwrap_err(),
        "merge non-adjacent",
    );
    assert!(
        matches!(
            e,
            Error::InvalidArgument(InvalidArgument::NotAdjacent { .. })
        ),
        "{e}"
    );
    let e = check(
        engine
            .merge_shards("s", "shardId-000000000002", "shardId-000000000002")
            .unwrap_err(),
        "merge self",
    );
    assert!(
        matches!(
            e,
            Error::InvalidArgument(InvalidArgument::NotAdjacent { .. })
        ),
        "{e}"
    );
    let e = check(
        engine
            .merge_shards("s", "shardId-000000000000", "shardId-000000000003")
            .unwrap_err(),
        "merge closed",
    );
    assert!(
        matches!(
            e,
            Error::InvalidArgument(InvalidArgument::ShardClosed { .. })
        ),
        "{e}"
    );
    let e = check(
        engine
            .update_shard_count("s", 7, "UNIFORM_SCALING")
            .unwrap_err(),
        "more than double",
    );
    assert!(
        matches!(
            e,
            Error::InvalidArgument(InvalidArgument::ShardCountChange {
                current: 3,
                target: 7
            })
        ),
        "{e}"
    );
    let e = check(
        engine
            .update_shard_count("s", 1, "UNIFORM_SCALING")
            .unwrap_err(),
        "less than half",
    );
    assert!(
        matches!(
            e,
            Error::InvalidArgument(InvalidArgument::ShardCountChange {
                current: 3,
                target: 1
            })
        ),
        "{e}"
    );
    let e = check(
        engine.update_shard_count("s", 3, "RANDOM").unwrap_err(),
        "scaling type",
    );
    assert!(
        matches!(e, Error::InvalidArgument(InvalidArgument::ScalingType(_))),
        "{e}"
    );
    let e = check(
        engine
            .update_shard_count("s", 0, "UNIFORM_SCALING")
            .unwrap_err(),
        "zero",
    );
    assert!(matches!(e, Error::Validation(_)), "{e}");
    // max_shards = 4: 3 open now; 5 would exceed it.
    let e = check(
        engine
            .update_shard_count("s", 5, "UNIFORM_SCALING")
            .unwrap_err(),
        "limit",
    );
    assert!(
        matches!(
            e,
            Error::LimitExceeded {
                requested: 5,
                limit: 4,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.kinesis_name(), "LimitExceededException");
}

/// A file system whose catalog writes wait while its gate is closed: a reshard can be
/// held in the middle of its catalog update for as long as a test needs (a fixed delay
/// would race a loaded machine's scheduler both ways).
#[derive(Debug)]
struct GatedStorage {
    inner: FsStorage,
    closed: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
}

impl GatedStorage {
    fn pass(&self, path: &std::path::Path) {
        if path.to_string_lossy().contains("catalog") {
            let mut closed = self.closed.lock().unwrap();
            while *closed {
                closed = self.opened.wait(closed).unwrap();
            }
        }
    }

    fn set_closed(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.opened.notify_all();
    }
}

impl Storage for GatedStorage {
    fn create_dir_all(&self, dir: &std::path::Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list_dir(&self, dir: &std::path::Path) -> io::Result<Vec<tidelog::io::DirEntry>> {
        self.inner.list_dir(dir)
    }
    fn exists(&self, path: &std::path::Path) -> io::Result<bool> {
        self.inner.exists(path)
    }
    fn file_len(&self, path: &std::path::Path) -> io::Result<u64> {
        self.inner.file_len(path)
    }
    fn read_file(&self, path: &std::path::Path) -> io::Result<Vec<u8>> {
        self.inner.read_file(path)
    }
    fn write_file(&self, path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
        self.pass(path);
        self.inner.write_file(path, bytes)
    }
    fn write_file_unsynced(&self, path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
        self.pass(path);
        self.inner.write_file_unsynced(path, bytes)
    }
    fn create_segment(
        &self,
        path: &std::path::Path,
        len: u64,
        fill: tidelog::io::Preallocation,
    ) -> io::Result<()> {
        self.inner.create_segment(path, len, fill)
    }
    fn extend_zeroed(&self, path: &std::path::Path, len: u64) -> io::Result<()> {
        self.inner.extend_zeroed(path, len)
    }
    fn map(
        &self,
        path: &std::path::Path,
        len: usize,
        access: tidelog::io::Access,
        readable_start: usize,
    ) -> io::Result<tidelog::io::MappedFile> {
        self.inner.map(path, len, access, readable_start)
    }
    fn remove_file(&self, path: &std::path::Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn remove_dir_all(&self, dir: &std::path::Path) -> io::Result<()> {
        self.inner.remove_dir_all(dir)
    }
    fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, dir: &std::path::Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn lock_dir(&self, dir: &std::path::Path) -> io::Result<Box<dyn tidelog::io::DirLockGuard>> {
        self.inner.lock_dir(dir)
    }
}

#[test]
fn a_change_while_another_runs_is_resource_in_use() {
    let tmp = tempfile::tempdir().unwrap();
    let gated = Arc::new(GatedStorage {
        inner: FsStorage::new(),
        closed: std::sync::Mutex::new(false),
        opened: std::sync::Condvar::new(),
    });
    let mut config = engine_config(tmp.path(), None);
    config.storage = gated.clone();
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 2).unwrap();
    // The reshard stops at its catalog write (the stream UPDATING) until the gate opens.
    gated.set_closed(true);
    let slow = {
        let engine = engine.clone();
        std::thread::spawn(move || engine.update_shard_count("s", 4, "UNIFORM_SCALING"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while engine.describe_stream_summary("s").unwrap().status != StreamStatus::Updating {
        assert!(
            !slow.is_finished() && std::time::Instant::now() < deadline,
            "the reshard never reached its catalog write"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for err in [
        engine
            .split_shard("s", "shardId-000000000000", "77")
            .unwrap_err(),
        engine
            .merge_shards("s", "shardId-000000000000", "shardId-000000000001")
            .unwrap_err(),
        engine
            .update_shard_count("s", 2, "UNIFORM_SCALING")
            .unwrap_err(),
        engine
            .increase_stream_retention_period("s", 48)
            .unwrap_err(),
        engine.delete_stream("s").unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                Error::StreamBusy {
                    status: StreamStatus::Updating,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.kinesis_name(), "ResourceInUseException");
    }
    // Puts go on meanwhile. Once the reshard has closed the parents (before its catalog
    // write) a put waits for the new routing, so this one runs on its own thread and
    // may finish only after the gate opens; it must not be refused either way.
    let put = {
        let engine = engine.clone();
        std::thread::spawn(move || engine.put_record("s", "k", b"during", PutOptions::default()))
    };
    let started = std::time::Instant::now();
    while !put.is_finished() && started.elapsed() < Duration::from_millis(200) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!slow.is_finished(), "the reshard waits at the gate");
    gated.set_closed(false);
    slow.join().unwrap().unwrap();
    put.join().unwrap().unwrap();
    assert_eq!(open_shards(&engine, "s").len(), 4);
    assert_eq!(
        engine.describe_stream_summary("s").unwrap().status,
        StreamStatus::Active
    );
}

#[test]
fn reopen_restores_lineage_and_states() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = open_engine(tmp.path());
    engine.create_stream("s", 2).unwrap();
    let mut acked = Vec::new();
    let mut put_some = |engine: &Engine, tag: &str| {
        for i in 0..30 {
            let out = engine
                .put_record(
                    "s",
                    &format!("{tag}{i}"),
                    tag.as_bytes(),
                    PutOptions::default(),
                )
                .unwrap();
            acked.push(out);
        }
    };
    put_some(&engine, "a");
    engine
        .split_shard(
            "s",
            "shardId-000000000001",
            &((1u128 << 127) + 5).to_string(),
        )
        .unwrap();
    put_some(&engine, "b");
    engine
        .merge_shards("s", "shardId-000000000000", "shardId-000000000002")
        .unwrap();
    put_some(&engine, "c");
    engine
        .update_shard_count("s", 4, "UNIFORM_SCALING")
        .unwrap();
    put_some(&engine, "d");
    let described = engine.describe_stream("s").unwrap();
    engine.close().unwrap();
    let engine = open_engine(tmp.path());
    assert_eq!(engine.describe_stream("s").unwrap(), described);
    for ack in &acked {
        let records = read_shard(&engine, "s", &ack.shard_id);
        assert!(
            records.iter().any(|r| r.0 == ack.sequence_number),
            "{ack:?}"
        );
    }
    // Puts after reopen go to open shards only.
    for i in 0..50 {
        let out = engine
            .put_record("s", &format!("e{i}"), b"e", PutOptions::default())
            .unwrap();
        let shard = described
            .shards
            .iter()
            .find(|s| s.shard_id == out.shard_id)
            .unwrap();
        assert_eq!(shard.state, ShardState::Open);
    }
}

#[test]
fn closed_shards_expire_after_retention() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let mut config = engine_config(tmp.path(), Some(clock.clone() as Arc<dyn Clock>));
    config.limits = Limits::unlimited();
    config.maintenance_interval = Duration::from_secs(3600);
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 1).unwrap();
    engine
        .put_record("s", "k", b"old", PutOptions::default())
        .unwrap();
    engine
        .split_shard("s", "shardId-000000000000", "5")
        .unwrap();
    let parent_dir = tmp
        .path()
        .join("streams")
        .join(format!(
            "{:016x}",
            engine.describe_stream("s").unwrap().stream_id
        ))
        .join("000000000000");
    assert!(parent_dir.exists());
    clock.advance_ms(24 * 3_600_000 - 1);
    assert_eq!(
        engine.expire_shards().unwrap(),
        0,
        "not yet: its record is just inside retention"
    );
    clock.advance_ms(2);
    assert_eq!(engine.expire_shards().unwrap(), 1);
    let listed: Vec<String> = engine
        .list_shards("s", ShardFilter::All)
        .unwrap()
        .into_iter()
        .map(|s| s.shard_id)
        .collect();
    assert_eq!(listed, ["shardId-000000000001", "shardId-000000000002"]);
    assert!(!parent_dir.exists(), "files reclaimed");
    let err = engine
        .get_shard_iterator("s", "shardId-000000000000", StartingPosition::TrimHorizon)
        .unwrap_err();
    assert!(matches!(err, Error::ShardNotFound { .. }), "{err}");
    // Children still name it as their parent.
    let children = engine.describe_stream("s").unwrap().shards;
    assert!(
        children
            .iter()
            .all(|c| c.parent_shard_id.as_deref() == Some("shardId-000000000000"))
    );
    engine
        .put_record("s", "k", b"new", PutOptions::default())
        .unwrap();
}

#[test]
fn a_failed_catalog_write_at_each_step_leaves_before_or_after() {
    type Op = fn(&Engine) -> tidelog::Result<()>;
    let ops: [(&str, Op); 3] = [
        ("split", |e| {
            e.split_shard("s", "shardId-000000000000", "1000")
        }),
        ("merge", |e| {
            e.merge_shards("s", "shardId-000000000000", "shardId-000000000001")
        }),
        ("update", |e| {
            e.update_shard_count("s", 4, "UNIFORM_SCALING").map(|_| ())
        }),
    ];
    for (name, op) in ops {
        for step in ["write temp", "rename", "sync directory"] {
            let tmp = tempfile::tempdir().unwrap();
            let faulty = FaultyStorage::new(Arc::new(FsStorage::new()));
            let mut config = engine_config(tmp.path(), None);
            config.limits = Limits::unlimited();
            config.storage = Arc::new(faulty.clone());
            let engine = Engine::open(config.clone()).unwrap();
            engine.create_stream("s", 2).unwrap();
            let mut acked = Vec::new();
            for i in 0..20 {
                acked.push(
                    engine
                        .put_record("s", &format!("k{i}"), b"x", PutOptions::default())
                        .unwrap(),
                );
            }
            let before = engine.describe_stream("s").unwrap();
            let fault = match step {
                "write temp" => {
                    Fault::once_after(FaultOp::WriteFile, "catalog.tmp", 0, io::ErrorKind::Other)
                }
                "rename" => Fault::once_after(FaultOp::Rename, "catalog", 0, io::ErrorKind::Other),
                _ => Fault::once_after(FaultOp::SyncDir, "", 0, io::ErrorKind::Other)
                    .on_exact(tmp.path()),
            };
            faulty.inject(fault);
            let result = op(&engine);
            assert!(
                result.is_err(),
                "{name} at {step}: the injected failure is reported"
            );
            assert_eq!(faulty.fired(), 1, "{name} at {step}");
            faulty.clear();
            let now = engine.describe_stream("s").unwrap();
            assert_eq!(now.status, StreamStatus::Active, "{name} at {step}");
            let changed = now != before;
            if step != "sync directory" {
                assert!(
                    !changed,
                    "{name} at {step}: nothing changed before the commit point"
                );
            }
            // Writes still work, routed by whatever state the engine is in.
            for i in 0..20 {
                acked.push(
                    engine
                        .put_record("s", &format!("j{i}"), b"y", PutOptions::default())
                        .unwrap(),
                );
            }
            engine.close().unwrap();
            let engine = Engine::open(config).unwrap();
            let reopened = engine.describe_stream("s").unwrap();
            assert_eq!(
                reopened.shards.len(),
                now.shards.len(),
                "{name} at {step}: disk matches memory"
            );
            assert!(
                reopened.shards == before.shards || changed,
                "{name} at {step}: before, or after"
            );
            for ack in &acked {
                let records = read_shard(&engine, "s", &ack.shard_id);
                assert!(
                    records.iter().any(|r| r.0 == ack.sequence_number),
                    "{name} at {step}: {ack:?} lost"
                );
            }
            // And the change can be made now.
            if !changed {
                op(&engine).unwrap();
            }
            engine.close().unwrap();
            let _: &dyn Storage = &faulty;
        }
    }
}
