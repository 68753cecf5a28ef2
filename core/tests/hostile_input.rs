//! Hostile input at every public entry point of the engine: names that try to escape
//! the data directory, malformed and forged shard ids, iterators, hash keys and
//! sequence numbers, counts and sizes at and past every limit, bad tags and retention
//! periods. Each call must fail with the specific error a caller can act on, never
//! panic, and leave the data directory byte for byte as it was (spare segments, which
//! a background task may prepare at any time, aside). Afterwards the engine must still
//! serve, and a reopen must find the same data with nothing to repair.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{engine_config, read_shard};
use proptest::prelude::*;
use tidelog::engine::{PutOptions, PutRecordsEntry, ShardFilter};
use tidelog::error::{InvalidArgument, Validation};
use tidelog::{Engine, Error, ErrorKind, ManualClock, StartingPosition};

const T0: u64 = 1_780_000_000_000;

/// Every file under `dir` (relative path -> contents), spare segments aside, plus
/// every directory (contents `None`).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if path.is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else if path.extension().is_none_or(|e| e != "spare") {
                out.insert(rel, Some(std::fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn assert_same(before: &BTreeMap<PathBuf, Option<Vec<u8>>>, dir: &Path, what: &str) {
    let after = snapshot(dir);
    let added: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let removed: Vec<_> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let changed: Vec<_> = before
        .iter()
        .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        added.is_empty() && removed.is_empty() && changed.is_empty(),
        "{what} changed the data directory: added {added:?}, removed {removed:?}, changed {changed:?}"
    );
}

/// Asserts that `result` failed with `kind`, naming the call in the message.
#[track_caller]
fn refused<T: std::fmt::Debug>(result: tidelog::Result<T>, kind: ErrorKind, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: accepted ({v:?}), expected {kind:?}"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{what}: {e}");
            // Every refusal explains itself.
            assert!(!e.to_string().is_empty(), "{what}: empty message");
            e
        }
    }
}

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    clock: Arc<ManualClock>,
    engine: Engine,
    /// A valid iterator on s/shard 0 (TRIM_HORIZON), issued at T0.
    iterator: String,
    /// An iterator on a stream that was deleted since.
    deleted_stream_iterator: String,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = ManualClock::new(T0);
    let engine = Engine::open(engine_config(&dir, Some(clock.clone()))).unwrap();
    engine.create_stream("s", 3).unwrap();
    for i in 0..30u32 {
        engine
            .put_record(
                "s",
                &format!("key-{i}"),
                &i.to_le_bytes(),
                PutOptions::default(),
            )
            .unwrap();
    }
    engine.create_stream("gone", 1).unwrap();
    let deleted_stream_iterator = engine
        .get_shard_iterator(
            "gone",
            "shardId-000000000000",
            StartingPosition::TrimHorizon,
        )
        .unwrap();
    engine.delete_stream("gone").unwrap();
    let iterator = engine
        .get_shard_iterator("s", "shardId-000000000000", StartingPosition::TrimHorizon)
        .unwrap();
    engine.flush().unwrap();
    World {
        _tmp: tmp,
        dir,
        clock,
        engine,
        iterator,
        deleted_stream_iterator,
    }
}

const BAD_NAMES: &[&str] = &[
    "",
    ".",
    "..",
    "../s",
    "s/../../etc",
    "/etc/passwd",
    "s/",
    "a\0b",
    "nul\0",
    "line\nbreak",
    "tab\t",
    " s",
    "s ",
    "ünïcode",
    "emoji-🦀",
    "back\\slash",
    "%2e%2e",
    "a:b",
    "a*b",
];

#[test]
fn hostile_stream_names_are_refused_everywhere() {
    let w = world();
    let e = &w.engine;
    let before = snapshot(&w.dir);
    let long = "x".repeat(129);
    let mut names: Vec<&str> = BAD_NAMES.to_vec();
    names.push(&long);
    let tags: BTreeMap<String, String> = [("k".to_string(), "v".to_string())].into();
    for &name in &names {
        let check = |r: tidelog::Result<()>, call: &str| {
            let err = refused(r, ErrorKind::Validation, &format!("{call}({name:?})"));
            assert!(
                matches!(err, Error::Validation(Validation::StreamName(_))),
                "{call}({name:?}): {err}"
            );
        };
        check(e.create_stream(name, 1), "create_stream");
        check(e.delete_stream(name), "delete_stream");
        check(e.describe_stream(name).map(|_| ()), "describe_stream");
        check(
            e.describe_stream_summary(name).map(|_| ()),
            "describe_stream_summary",
        );
        check(
            e.list_shards(name, ShardFilter::All).map(|_| ()),
            "list_shards",
        );
        check(e.add_tags_to_stream(name, &tags), "add_tags_to_stream");
        check(
            e.remove_tags_from_stream(name, &["k".to_string()]),
            "remove_tags_from_stream",
        );
        check(
            e.list_tags_for_stream(name).map(|_| ()),
            "list_tags_for_stream",
        );
        check(
            e.increase_stream_retention_period(name, 48),
            "increase_stream_retention_period",
        );
        check(
            e.decrease_stream_retention_period(name, 24),
            "decrease_stream_retention_period",
        );
        check(e.stream_metrics(name).map(|_| ()), "stream_metrics");
        check(
            e.put_record(name, "k", b"x", PutOptions::default())
                .map(|_| ()),
            "put_record",
        );
        check(
            futures_lite::future::block_on(e.put_record_async(
                name,
                "k",
                b"x",
                PutOptions::default(),
            ))
            .map(|_| ()),
            "put_record_async",
        );
        let entry = PutRecordsEntry {
            partition_key: "k",
            data: b"x",
            explicit_hash_key: None,
        };
        check(
            e.put_records(name, &[entry], None).map(|_| ()),
            "put_records",
        );
        check(
            e.get_shard_iterator(name, "shardId-000000000000", StartingPosition::Latest)
                .map(|_| ()),
            "get_shard_iterator",
        );
        check(
            e.subscribe(name, "shardId-000000000000", StartingPosition::Latest, true)
                .map(|_| ()),
            "subscribe",
        );
        check(
            e.split_shard(name, "shardId-000000000000", "1"),
            "split_shard",
        );
        check(
            e.merge_shards(name, "shardId-000000000000", "shardId-000000000001"),
            "merge_shards",
        );
        check(
            e.update_shard_count(name, 2, "UNIFORM_SCALING").map(|_| ()),
            "update_shard_count",
        );
        // A paging cursor is only a position: a bad one is refused too.
        check(
            e.list_streams(Some(10), Some(name)).map(|_| ()),
            "list_streams",
        );
    }
    assert_same(&before, &w.dir, "hostile stream names");
    assert_eq!(e.list_streams(None, None).unwrap().names, vec!["s"]);
    // No file or directory appeared outside the data directory either.
    let parent = w.dir.parent().unwrap();
    let siblings: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, vec![std::ffi::OsString::from("data")]);
}

#[test]
fn hostile_shard_ids_are_refused() {
    let w = world();
    let e = &w.engine;
    let before = snapshot(&w.dir);
    let malformed = [
        "",
        "shardId-",
        "shardId-00000000000a",
        "shardId-0000000000000",
        "shardId-00000000000",
        "SHARDID-000000000000",
        "shardid-000000000000",
        "shardId--00000000001",
        "shardId-+00000000001",
        "shardId-000000000000\0",
        "../shardId-000000000000",
        "shardId-000000000000/..",
        "shardId-９９９９９９９９９９９９",
        "shardId-999999999999999999999999",
        "shardId-4294967296",
    ];
    for id in malformed {
        let err = refused(
            e.get_shard_iterator("s", id, StartingPosition::TrimHorizon),
            ErrorKind::Validation,
            &format!("get_shard_iterator({id:?})"),
        );
        assert!(
            matches!(err, Error::Validation(Validation::ShardId(_))),
            "{id:?}: {err}"
        );
        refused(
            e.subscribe("s", id, StartingPosition::TrimHorizon, false),
            ErrorKind::Validation,
            &format!("subscribe({id:?})"),
        );
        refused(
            e.split_shard("s", id, "1"),
            ErrorKind::Validation,
            &format!("split_shard({id:?})"),
        );
        refused(
            e.merge_shards("s", "shardId-000000000000", id),
            ErrorKind::Validation,
            &format!("merge_shards(_, {id:?})"),
        );
        refused(
            e.merge_shards("s", id, "shardId-000000000001"),
            ErrorKind::Validation,
            &format!("merge_shards({id:?}, _)"),
        );
    }
    // Well formed but absent: not found, with the shard named.
    for id in ["shardId-000000000003", "shardId-999999999999"] {
        let err = refused(
            e.get_shard_iterator("s", id, StartingPosition::TrimHorizon),
            ErrorKind::ResourceNotFound,
            id,
        );
        assert!(err.to_string().contains(id), "{err}");
        refused(
            e.subscribe("s", id, StartingPosition::TrimHorizon, true),
            ErrorKind::ResourceNotFound,
            id,
        );
        refused(e.split_shard("s", id, "1"), ErrorKind::ResourceNotFound, id);
        refused(
            e.merge_shards("s", "shardId-000000000002", id),
            ErrorKind::ResourceNotFound,
            id,
        );
    }
    // Real shards, impossible operations.
    let err = refused(
        e.merge_shards("s", "shardId-000000000000", "shardId-000000000002"),
        ErrorKind::InvalidArgument,
        "merge of non-adjacent shards",
    );
    assert!(matches!(
        err,
        Error::InvalidArgument(InvalidArgument::NotAdjacent { .. })
    ));
    refused(
        e.merge_shards("s", "shardId-000000000001", "shardId-000000000001"),
        ErrorKind::InvalidArgument,
        "merge of a shard with itself",
    );
    assert_same(&before, &w.dir, "hostile shard ids");
    assert_eq!(e.list_shards("s", ShardFilter::All).unwrap().len(), 3);
}

#[test]
fn hostile_hash_keys_and_sequence_numbers_are_refused() {
    let w = world();
    let e = &w.engine;
    let before = snapshot(&w.dir);
    let bad_keys = [
        "",
        "-1",
        "+1",
        " 1",
        "1 ",
        "0x10",
        "1e3",
        "1.0",
        "340282366920938463463374607431768211456",
        "99999999999999999999999999999999999999999999999999",
        "１２３",
        "1\0",
    ];
    for key in bad_keys {
        let err = refused(
            e.split_shard("s", "shardId-000000000000", key),
            ErrorKind::Validation,
            &format!("split_shard at {key:?}"),
        );
        assert!(
            matches!(err, Error::Validation(Validation::ExplicitHashKey(_))),
            "{key:?}: {err}"
        );
        let options = PutOptions {
            explicit_hash_key: Some(key),
            ..Default::default()
        };
        refused(
            e.put_record("s", "k", b"x", options),
            ErrorKind::Validation,
            &format!("put_record with hash key {key:?}"),
        );
        let entries = [
            PutRecordsEntry {
                partition_key: "fine",
                data: b"fine",
                explicit_hash_key: None,
            },
            PutRecordsEntry {
                partition_key: "k",
                data: b"x",
                explicit_hash_key: Some(key),
            },
        ];
        // One bad entry refuses the whole request: the good one is not written either.
        refused(
            e.put_records("s", &entries, None),
            ErrorKind::Validation,
            &format!("put_records with hash key {key:?}"),
        );
    }
    // Split points a shard cannot take: its own first key, and keys of other shards.
    let shards = e.list_shards("s", ShardFilter::All).unwrap();
    let first = &shards[0];
    refused(
        e.split_shard("s", &first.shard_id, &first.hash_range.start.to_string()),
        ErrorKind::InvalidArgument,
        "split at the shard's own starting key",
    );
    refused(
        e.split_shard("s", &first.shard_id, &u128::MAX.to_string()),
        ErrorKind::InvalidArgument,
        "split at a key of another shard",
    );
    for bad in [
        "",
        "-5",
        "12x",
        "1.5",
        "340282366920938463463374607431768211456",
    ] {
        let options = PutOptions {
            sequence_number_for_ordering: Some(bad),
            ..Default::default()
        };
        let err = refused(
            e.put_record("s", "k", b"x", options),
            ErrorKind::Validation,
            &format!("sequence_number_for_ordering {bad:?}"),
        );
        assert!(matches!(
            err,
            Error::Validation(Validation::SequenceNumber(_))
        ));
    }
    // Sequence numbers that do not belong to the shard.
    for position in [
        StartingPosition::AtSequenceNumber(u128::MAX),
        StartingPosition::AfterSequenceNumber(u128::MAX),
        StartingPosition::AtSequenceNumber(0),
    ] {
        let r = e.get_shard_iterator("s", "shardId-000000000001", position);
        if let Err(err) = &r {
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidArgument,
                "{position:?}: {err}"
            );
        }
    }
    let s0 = read_shard(e, "s", "shardId-000000000000");
    let foreign = s0.first().expect("shard 0 has records").0;
    refused(
        e.get_shard_iterator(
            "s",
            "shardId-000000000001",
            StartingPosition::AtSequenceNumber(foreign),
        ),
        ErrorKind::InvalidArgument,
        "a sequence number of another shard",
    );
    // Timestamps far out: valid positions (nothing there yet), never an error or panic.
    for ts in [0, u64::MAX] {
        e.get_shard_iterator(
            "s",
            "shardId-000000000000",
            StartingPosition::AtTimestamp(ts),
        )
        .unwrap();
    }
    assert_same(&before, &w.dir, "hostile hash keys and sequence numbers");
}

#[test]
fn hostile_iterators_are_refused() {
    let w = world();
    let e = &w.engine;
    let before = snapshot(&w.dir);
    let garbage = [
        String::new(),
        "x".into(),
        "AAAA".into(),
        "=".repeat(64),
        "\0".repeat(64),
        "🦀".repeat(40),
        "A".repeat(1 << 20),
        format!("{}x", w.iterator),
        format!("x{}", w.iterator),
        w.iterator.to_uppercase(),
    ];
    for it in &garbage {
        let err = refused(
            e.get_records(it, None),
            ErrorKind::InvalidArgument,
            &format!("get_records({:?})", &it[..it.len().min(40)]),
        );
        assert!(
            matches!(err, Error::InvalidArgument(InvalidArgument::Iterator(_))),
            "{err}"
        );
    }
    // Every truncation and every single-character edit of a real token is refused.
    let token = w.iterator.as_bytes();
    for len in 0..token.len() {
        let cut = std::str::from_utf8(&token[..len]).unwrap();
        refused(
            e.get_records(cut, None),
            ErrorKind::InvalidArgument,
            &format!("token cut to {len}"),
        );
    }
    for i in 0..token.len() {
        for replacement in [b'A', b'z', b'0', b'-', b'_'] {
            if token[i] == replacement {
                continue;
            }
            let mut edited = token.to_vec();
            edited[i] = replacement;
            let edited = String::from_utf8(edited).unwrap();
            let r = e.get_records(&edited, None);
            assert!(
                matches!(
                    &r,
                    Err(Error::InvalidArgument(InvalidArgument::Iterator(_)))
                ),
                "edit at {i} to {:?}: {:?}",
                replacement as char,
                r.map(|o| o.records.len())
            );
        }
    }
    // An iterator of a deleted stream: the stream is gone.
    refused(
        e.get_records(&w.deleted_stream_iterator, None),
        ErrorKind::ResourceNotFound,
        "iterator of a deleted stream",
    );
    // Limits outside [1, 10,000].
    for limit in [0, 10_001, usize::MAX] {
        let err = refused(
            e.get_records(&w.iterator, Some(limit)),
            ErrorKind::Validation,
            &format!("limit {limit}"),
        );
        assert!(matches!(
            err,
            Error::Validation(Validation::ReadLimit { .. })
        ));
    }
    // The real token still works (the refusals above did not spend its shard's read
    // budget), and expires after five minutes.
    let out = e.get_records(&w.iterator, Some(10_000)).unwrap();
    assert!(!out.records.is_empty());
    w.clock.advance_ms(5 * 60 * 1000 + 1);
    refused(
        e.get_records(&w.iterator, None),
        ErrorKind::ExpiredIterator,
        "expired iterator",
    );
    assert_same(&before, &w.dir, "hostile iterators");
}

#[test]
fn hostile_sizes_counts_tags_and_retention_are_refused() {
    let w = world();
    let e = &w.engine;
    let records_before = read_shard(e, "s", "shardId-000000000000").len()
        + read_shard(e, "s", "shardId-000000000001").len()
        + read_shard(e, "s", "shardId-000000000002").len();
    let before = snapshot(&w.dir);

    // Shard counts.
    for count in [0, 10_001, u32::MAX] {
        refused(
            e.create_stream("new", count),
            ErrorKind::Validation,
            &format!("create_stream with {count} shards"),
        );
    }
    for target in [0, 100_001, u32::MAX] {
        refused(
            e.update_shard_count("s", target, "UNIFORM_SCALING"),
            ErrorKind::Validation,
            &format!("update_shard_count to {target}"),
        );
    }
    // More than double or less than half of the 3 open shards.
    for target in [1, 7, 10_001] {
        refused(
            e.update_shard_count("s", target, "UNIFORM_SCALING"),
            ErrorKind::InvalidArgument,
            &format!("update_shard_count to {target}"),
        );
    }
    for scaling in ["", "uniform_scaling", "UNIFORM_SCALING ", "ANYTHING"] {
        refused(
            e.update_shard_count("s", 4, scaling),
            ErrorKind::InvalidArgument,
            &format!("scaling type {scaling:?}"),
        );
    }

    // Partition keys and record sizes.
    let long_key = "k".repeat(257);
    for key in ["", long_key.as_str()] {
        refused(
            e.put_record("s", key, b"x", PutOptions::default()),
            ErrorKind::Validation,
            &format!("key of {} chars", key.chars().count()),
        );
    }
    let big = vec![7u8; (1 << 20) + 1];
    refused(
        e.put_record("s", "k", &big, PutOptions::default()),
        ErrorKind::Validation,
        "record over 1 MiB",
    );
    refused(
        e.put_record("s", "k", &big[..(1 << 20)], PutOptions::default()),
        ErrorKind::Validation,
        "data of exactly 1 MiB plus a key",
    );

    // PutRecords counts and sizes.
    let one = PutRecordsEntry {
        partition_key: "k",
        data: b"x",
        explicit_hash_key: None,
    };
    refused(
        e.put_records("s", &[], None),
        ErrorKind::Validation,
        "no entries",
    );
    let many: Vec<_> = (0..501).map(|_| one).collect();
    refused(
        e.put_records("s", &many, None),
        ErrorKind::Validation,
        "501 entries",
    );
    let huge: Vec<_> = (0..100_000).map(|_| one).collect();
    refused(
        e.put_records("s", &huge, None),
        ErrorKind::Validation,
        "100,000 entries",
    );
    let chunk = vec![1u8; (1 << 20) - 10];
    let heavy: Vec<_> = (0..6)
        .map(|_| PutRecordsEntry {
            partition_key: "k",
            data: &chunk,
            explicit_hash_key: None,
        })
        .collect();
    let err = refused(
        e.put_records("s", &heavy, None),
        ErrorKind::Validation,
        "over 5 MiB in one request",
    );
    assert!(matches!(
        err,
        Error::Validation(Validation::PutRecordsBytes { .. })
    ));
    let bad_key_entry = PutRecordsEntry {
        partition_key: "",
        data: b"x",
        explicit_hash_key: None,
    };
    refused(
        e.put_records("s", &[one, bad_key_entry], None),
        ErrorKind::Validation,
        "an entry with an empty key",
    );

    // Tags.
    let tag =
        |k: &str, v: &str| -> BTreeMap<String, String> { [(k.to_string(), v.to_string())].into() };
    let long_tag_key = "k".repeat(129);
    let long_tag_value = "v".repeat(257);
    for (k, v) in [
        ("", "v"),
        (long_tag_key.as_str(), "v"),
        ("k", long_tag_value.as_str()),
        ("aws:team", "v"),
        ("AWS:team", "v"),
        ("k\0", "v"),
        ("k", "line\nbreak"),
    ] {
        refused(
            e.add_tags_to_stream("s", &tag(k, v)),
            ErrorKind::Validation,
            &format!("tag {k:?}={v:?}"),
        );
    }
    let fifty_one: BTreeMap<String, String> =
        (0..51).map(|i| (format!("k{i}"), String::new())).collect();
    refused(
        e.add_tags_to_stream("s", &fifty_one),
        ErrorKind::LimitExceeded,
        "51 tags",
    );
    let keys: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
    refused(
        e.remove_tags_from_stream("s", &keys),
        ErrorKind::Validation,
        "51 tag keys to remove",
    );

    // Retention.
    for hours in [0, 1, 23, 8761, u32::MAX] {
        refused(
            e.increase_stream_retention_period("s", hours),
            ErrorKind::InvalidArgument,
            &format!("increase to {hours} h"),
        );
        refused(
            e.decrease_stream_retention_period("s", hours),
            ErrorKind::InvalidArgument,
            &format!("decrease to {hours} h"),
        );
    }
    // A "decrease" that raises is refused (the current period is 24 h).
    refused(
        e.decrease_stream_retention_period("s", 48),
        ErrorKind::InvalidArgument,
        "decrease above the current period",
    );

    // Paging limits.
    for limit in [0, 10_001, usize::MAX] {
        refused(
            e.list_streams(Some(limit), None),
            ErrorKind::Validation,
            &format!("list_streams limit {limit}"),
        );
    }

    e.flush().unwrap();
    assert_same(&before, &w.dir, "hostile sizes, counts, tags and retention");
    let summary = e.describe_stream_summary("s").unwrap();
    assert_eq!(summary.retention_hours, 24);
    assert!(e.list_tags_for_stream("s").unwrap().is_empty());

    // Still serving, and a reopen finds exactly what was acknowledged, with nothing to
    // repair.
    e.put_record("s", "after", b"after", PutOptions::default())
        .unwrap();
    e.close().unwrap();
    let engine = Engine::open(engine_config(&w.dir, Some(w.clock.clone()))).unwrap();
    assert!(engine.recovery_reports().unwrap().is_empty());
    let records_after = read_shard(&engine, "s", "shardId-000000000000").len()
        + read_shard(&engine, "s", "shardId-000000000001").len()
        + read_shard(&engine, "s", "shardId-000000000002").len();
    assert_eq!(records_after, records_before + 1);
    engine.close().unwrap();
}

/// Arbitrary strings (any Unicode, control characters included) as stream names, shard
/// ids, iterators and hash keys: a typed error or a legitimate answer, never a panic,
/// never a change on disk.
#[test]
fn arbitrary_strings_never_panic_or_write() {
    let w = world();
    let e = &w.engine;
    let before = snapshot(&w.dir);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    });
    let strings = (
        any::<String>(),
        any::<String>(),
        any::<String>(),
        any::<String>(),
    );
    runner
        .run(&strings, |(name, shard, iterator, hash_key)| {
            // Reads and describes with an arbitrary name: whatever the answer, no write.
            let _ = e.describe_stream(&name);
            let _ = e.list_shards(&name, ShardFilter::All);
            let _ = e.list_tags_for_stream(&name);
            let _ = e.get_shard_iterator(&name, &shard, StartingPosition::TrimHorizon);
            let _ = e.get_shard_iterator("s", &shard, StartingPosition::Latest);
            let _ = e.list_streams(Some(100), Some(&name));
            // An arbitrary string is never a valid iterator.
            prop_assert!(e.get_records(&iterator, None).is_err());
            // Not a decimal key: refused.
            if hash_key.parse::<u128>().is_err() {
                let options = PutOptions {
                    explicit_hash_key: Some(&hash_key),
                    ..Default::default()
                };
                let r = e.put_record("s", "k", b"x", options);
                prop_assert!(matches!(
                    r,
                    Err(Error::Validation(Validation::ExplicitHashKey(_)))
                ));
                prop_assert!(
                    e.split_shard("s", "shardId-000000000000", &hash_key)
                        .is_err()
                );
            }
            // Names outside the naming rules cannot create or delete anything; valid
            // ones are not tried here (they would legitimately write).
            let valid = !name.is_empty()
                && name.len() <= 128
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !valid {
                prop_assert!(e.create_stream(&name, 1).is_err());
                prop_assert!(e.delete_stream(&name).is_err());
            }
            Ok(())
        })
        .unwrap();
    assert_same(&before, &w.dir, "arbitrary strings");
}

/// The Kinesis API's later entry points (consumers, SubscribeToShard, ARNs, tags and
/// policies by ARN, encryption, modes, record sizes, warm throughput, monitoring):
/// hostile names, ARNs, key ids, policy documents, metric names and sizes are each
/// refused with the error a caller can act on, and change nothing on disk.
#[test]
fn hostile_input_to_the_kinesis_api_is_refused() {
    use tidelog::StreamMode;
    use tidelog::engine::CreateStreamOptions;

    let w = world();
    let e = &w.engine;
    let consumer = e
        .register_stream_consumer("s", "reader", &BTreeMap::new())
        .unwrap();
    let stream_arn = e.stream_arn("s");
    e.flush().unwrap();
    let before = snapshot(&w.dir);
    let no_tags = BTreeMap::new();
    let long = "x".repeat(129);
    let mut names: Vec<&str> = BAD_NAMES.to_vec();
    names.push(&long);

    // Stream names, at every entry point that takes one.
    for &name in &names {
        let check = |r: tidelog::Result<()>, call: &str| {
            let err = refused(r, ErrorKind::Validation, &format!("{call}({name:?})"));
            assert!(
                matches!(err, Error::Validation(Validation::StreamName(_))),
                "{call}({name:?}): {err}"
            );
        };
        check(
            e.create_stream_with(name, CreateStreamOptions::on_demand()),
            "create_stream_with",
        );
        check(e.delete_stream_with(name, true), "delete_stream_with");
        check(
            e.register_stream_consumer(name, "c", &no_tags).map(|_| ()),
            "register_stream_consumer",
        );
        check(
            e.list_stream_consumers(name, None, None).map(|_| ()),
            "list_stream_consumers",
        );
        check(
            e.start_stream_encryption(name, "KMS", "alias/aws/kinesis"),
            "start_stream_encryption",
        );
        check(
            e.stop_stream_encryption(name, "KMS", "alias/aws/kinesis"),
            "stop_stream_encryption",
        );
        check(
            e.enable_enhanced_monitoring(name, &["ALL"]).map(|_| ()),
            "enable_enhanced_monitoring",
        );
        check(
            e.update_stream_mode(name, StreamMode::OnDemand, None),
            "update_stream_mode",
        );
        check(
            e.update_max_record_size(name, 2048),
            "update_max_record_size",
        );
        check(
            e.update_stream_warm_throughput(name, 10).map(|_| ()),
            "update_stream_warm_throughput",
        );
    }

    // Consumer names ("." and ".." are valid ones: Kinesis allows them, and a consumer
    // name is never a path).
    for &name in names.iter().filter(|n| !matches!(**n, "." | "..")) {
        let err = refused(
            e.register_stream_consumer("s", name, &no_tags),
            ErrorKind::Validation,
            &format!("register_stream_consumer(s, {name:?})"),
        );
        assert!(
            matches!(err, Error::Validation(Validation::ConsumerName(_))),
            "{name:?}: {err}"
        );
        refused(
            e.describe_stream_consumer(Some("s"), Some(name), None),
            ErrorKind::Validation,
            &format!("describe_stream_consumer(s, {name:?})"),
        );
        refused(
            e.deregister_stream_consumer(Some("s"), Some(name), None),
            ErrorKind::Validation,
            &format!("deregister_stream_consumer(s, {name:?})"),
        );
    }

    // ARNs: malformed ones are invalid; well-formed ones of another place, or of
    // nothing, are not found.
    let malformed: Vec<String> = vec![
        String::new(),
        "arn".into(),
        "arn:aws:kinesis".into(),
        "arn:aws:kinesis:local:000000000000:stream/".into(),
        "arn:aws:kinesis:local:000000000000:stream/../etc".into(),
        "arn:aws:kinesis:local:000000000000:stream/s\0".into(),
        "arn:aws:kinesis:local:000000000000:queue/".into(),
        "arn:aws:kinesis:local:000000000000:widget/s".into(),
        format!("{stream_arn}/consumer/reader:not-a-time"),
        format!("{stream_arn}/consumer/../x:1"),
        format!(
            "arn:aws:kinesis:local:000000000000:stream/{}",
            "x".repeat(3000)
        ),
        "🦀".repeat(40),
    ];
    let elsewhere: Vec<String> = vec![
        // A well-formed queue ARN that names no queue.
        "arn:aws:kinesis:local:000000000000:queue/s".into(),
        "arn:aws:kinesis:us-east-1:000000000000:stream/s".into(),
        "arn:aws:kinesis:local:123456789012:stream/s".into(),
        "arn:aws-cn:kinesis:local:000000000000:stream/s".into(),
        "arn:aws:kinesis:local:000000000000:stream/nope".into(),
        format!("{stream_arn}/consumer/reader:1"),
        format!("{stream_arn}/consumer/nobody:1700000000"),
    ];
    const POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "kinesis:GetRecords",
        "Resource": "*"}]}"#;
    let tags: BTreeMap<String, String> = [("k".to_string(), "v".to_string())].into();
    for (arns, kinds) in [
        (&malformed, &[ErrorKind::Validation][..]),
        (&elsewhere, &[ErrorKind::ResourceNotFound][..]),
    ] {
        for arn in arns {
            let check = |r: tidelog::Result<()>, call: &str| match r {
                Ok(()) => panic!("{call}({arn:?}) accepted"),
                Err(err) => assert!(kinds.contains(&err.kind()), "{call}({arn:?}): {err}"),
            };
            // Calls that take only a consumer ARN also refuse a stream ARN as invalid
            // (the model's ConsumerARN pattern).
            let check_consumer = |r: tidelog::Result<()>, call: &str| match r {
                Ok(()) => panic!("{call}({arn:?}) accepted"),
                Err(err) if err.kind() == ErrorKind::Validation && !arn.contains("/consumer/") => {}
                Err(err) => assert!(kinds.contains(&err.kind()), "{call}({arn:?}): {err}"),
            };
            check(e.tag_resource(arn, &tags), "tag_resource");
            check(e.untag_resource(arn, &["k".into()]), "untag_resource");
            check(
                e.list_tags_for_resource(arn).map(|_| ()),
                "list_tags_for_resource",
            );
            check(e.put_resource_policy(arn, POLICY), "put_resource_policy");
            check(
                e.get_resource_policy(arn).map(|_| ()),
                "get_resource_policy",
            );
            check(e.delete_resource_policy(arn), "delete_resource_policy");
            check_consumer(
                e.describe_stream_consumer(None, None, Some(arn))
                    .map(|_| ()),
                "describe_stream_consumer",
            );
            check_consumer(
                e.deregister_stream_consumer(None, None, Some(arn)),
                "deregister_stream_consumer",
            );
            check_consumer(
                e.subscribe_to_shard(arn, "shardId-000000000000", StartingPosition::Latest)
                    .map(|_| ()),
                "subscribe_to_shard",
            );
        }
    }
    // A consumer's ARN with hostile shard ids.
    for shard in [
        "",
        "shardId-",
        "shardId-999999999999",
        "../x",
        "shardId-000000000000\0",
    ] {
        let r = e.subscribe_to_shard(&consumer.arn, shard, StartingPosition::Latest);
        assert!(
            matches!(
                r.as_ref().map_err(Error::kind),
                Err(ErrorKind::Validation | ErrorKind::ResourceNotFound)
            ),
            "subscribe_to_shard({shard:?}): {r:?}"
        );
    }

    // Policy documents: not JSON, not an object, too large.
    let huge = format!("{{\"a\": \"{}\"}}", "x".repeat(30 << 10));
    for policy in [
        "",
        "not json",
        "[1, 2]",
        "\"text\"",
        "{",
        "{\"a\": 1}}",
        &huge,
    ] {
        let r = e.put_resource_policy(&stream_arn, policy);
        assert!(
            matches!(
                r.as_ref().map_err(Error::kind),
                Err(ErrorKind::Validation | ErrorKind::InvalidArgument)
            ),
            "put_resource_policy({:?}): {r:?}",
            &policy[..policy.len().min(20)]
        );
    }

    // Key ids and encryption types.
    let long_key = "k".repeat(2049);
    for (kind, key, expected) in [
        ("KMS", "", ErrorKind::Validation),
        ("KMS", long_key.as_str(), ErrorKind::Validation),
        ("NONE", "alias/aws/kinesis", ErrorKind::InvalidArgument),
        ("kms", "alias/aws/kinesis", ErrorKind::Validation),
        ("", "alias/aws/kinesis", ErrorKind::Validation),
        ("KMS", "alias/never-created", ErrorKind::KmsNotFound),
        ("KMS", "../../etc/passwd", ErrorKind::KmsNotFound),
        ("KMS", "alias/a\0b", ErrorKind::KmsNotFound),
    ] {
        refused(
            e.start_stream_encryption("s", kind, key),
            expected,
            &format!(
                "start_stream_encryption(s, {kind:?}, {:?})",
                &key[..key.len().min(20)]
            ),
        );
    }

    // Metric names.
    let eight = ["IncomingBytes"; 8];
    for metrics in [&[][..], &["Bogus"][..], &["incomingbytes"][..], &eight[..]] {
        refused(
            e.enable_enhanced_monitoring("s", metrics),
            ErrorKind::Validation,
            &format!("enable_enhanced_monitoring({metrics:?})"),
        );
        refused(
            e.disable_enhanced_monitoring("s", metrics),
            ErrorKind::Validation,
            &format!("disable_enhanced_monitoring({metrics:?})"),
        );
    }

    // Record sizes, warm throughput, modes, counts.
    for kib in [0, 1, 1023, 10_241, u32::MAX] {
        refused(
            e.update_max_record_size("s", kib),
            ErrorKind::Validation,
            &format!("update_max_record_size({kib})"),
        );
    }
    for mibps in [0, 1, u32::MAX] {
        let r = e.update_stream_warm_throughput("s", mibps);
        assert!(
            matches!(
                r.as_ref().map_err(Error::kind),
                Err(ErrorKind::Validation | ErrorKind::InvalidArgument)
            ),
            "update_stream_warm_throughput({mibps}) on a PROVISIONED stream: {r:?}"
        );
    }
    refused(
        e.update_stream_mode("s", StreamMode::Provisioned, None),
        ErrorKind::InvalidArgument,
        "update_stream_mode to the mode it has",
    );
    for options in [
        CreateStreamOptions {
            shard_count: Some(2),
            ..CreateStreamOptions::on_demand()
        },
        CreateStreamOptions {
            shard_count: None,
            ..CreateStreamOptions::default()
        },
        CreateStreamOptions {
            max_record_size_kib: Some(99_999),
            ..CreateStreamOptions::provisioned(1)
        },
        CreateStreamOptions {
            warm_throughput_mibps: Some(5),
            ..CreateStreamOptions::provisioned(1)
        },
    ] {
        let r = e.create_stream_with("fresh", options.clone());
        assert!(
            matches!(
                r.as_ref().map_err(Error::kind),
                Err(ErrorKind::Validation | ErrorKind::InvalidArgument)
            ),
            "create_stream_with({options:?}): {r:?}"
        );
    }
    for limit in [Some(0), Some(10_001), Some(usize::MAX)] {
        refused(
            e.list_stream_consumers("s", limit, None),
            ErrorKind::Validation,
            &format!("list_stream_consumers(limit {limit:?})"),
        );
    }
    refused(
        e.delete_stream_with("s", false),
        ErrorKind::ResourceInUse,
        "delete_stream_with a registered consumer, not enforced",
    );

    assert_same(&before, &w.dir, "hostile input to the Kinesis API");
    // Still serving: the consumer subscribes, the stream takes a record.
    let mut sub = e
        .subscribe_to_shard(
            &consumer.arn,
            "shardId-000000000000",
            StartingPosition::TrimHorizon,
        )
        .unwrap();
    assert!(matches!(
        sub.next(std::time::Duration::from_secs(5)).unwrap(),
        tidelog::FanoutEvent::Event(_)
    ));
}
