//! Every engine operation, and each of its error cases.

mod common;

use std::collections::BTreeMap;

use common::*;
use tidelog::engine::ShardFilter;
use tidelog::error::{InvalidArgument, Validation};
use tidelog::stream::catalog::{ShardState, StreamStatus};
use tidelog::stream::hashkey::{HashRange, hash_key};
use tidelog::{Engine, Error, ErrorKind, PutOptions, PutRecordsEntry, StartingPosition};

/// An engine without rate limits (the limits have their own tests).
fn engine() -> (tempfile::TempDir, Engine) {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = engine_config(tmp.path(), None);
    config.limits = tidelog::Limits::unlimited();
    let engine = Engine::open(config).unwrap();
    (tmp, engine)
}

#[test]
fn create_list_describe_delete() {
    let (_tmp, engine) = engine();
    engine.create_stream("b-stream", 3).unwrap();
    engine.create_stream("a-stream", 1).unwrap();
    let list = engine.list_streams(None, None).unwrap();
    assert_eq!(list.names, vec!["a-stream", "b-stream"]);
    assert!(!list.has_more);
    let page = engine.list_streams(Some(1), None).unwrap();
    assert_eq!(
        (page.names.clone(), page.has_more),
        (vec!["a-stream".to_string()], true)
    );
    let next = engine.list_streams(Some(1), Some("a-stream")).unwrap();
    assert_eq!(
        (next.names, next.has_more),
        (vec!["b-stream".to_string()], false)
    );

    let d = engine.describe_stream("b-stream").unwrap();
    assert_eq!(d.name, "b-stream");
    assert_eq!(d.status, StreamStatus::Active);
    assert_eq!(d.retention_hours, 24);
    assert_eq!(d.shards.len(), 3);
    let ids: Vec<&str> = d.shards.iter().map(|s| s.shard_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "shardId-000000000000",
            "shardId-000000000001",
            "shardId-000000000002"
        ]
    );
    assert_eq!(d.shards[0].hash_range.start, 0);
    assert_eq!(d.shards[2].hash_range.end, u128::MAX);
    for w in d.shards.windows(2) {
        assert_eq!(
            w[0].hash_range.end + 1,
            w[1].hash_range.start,
            "contiguous ranges"
        );
    }
    assert!(
        d.shards
            .iter()
            .all(|s| s.state == ShardState::Open && s.parent_shard_id.is_none())
    );
    let cores: std::collections::BTreeSet<u16> = d.shards.iter().map(|s| s.core).collect();
    assert_eq!(cores.len(), engine.cores().min(3), "spread over the cores");

    let summary = engine.describe_stream_summary("b-stream").unwrap();
    assert_eq!((summary.open_shard_count, summary.consumer_count), (3, 0));
    assert_eq!(
        engine
            .list_shards("b-stream", ShardFilter::All)
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        engine
            .list_shards("b-stream", ShardFilter::AfterShardId(0))
            .unwrap()
            .len(),
        2
    );

    engine.delete_stream("b-stream").unwrap();
    assert_eq!(
        engine.list_streams(None, None).unwrap().names,
        vec!["a-stream"]
    );
    assert!(matches!(
        engine.describe_stream("b-stream"),
        Err(Error::StreamNotFound { .. })
    ));
    // The name can be used again, for a new stream.
    engine.create_stream("b-stream", 1).unwrap();
    assert!(engine.describe_stream("b-stream").unwrap().stream_id != d.stream_id);
}

#[test]
fn stream_errors() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 1).unwrap();
    let err = engine.create_stream("s", 1).unwrap_err();
    assert!(matches!(err, Error::StreamExists { .. }));
    assert_eq!(err.kind(), ErrorKind::ResourceInUse);
    assert_eq!(err.kinesis_name(), "ResourceInUseException");
    for bad in [
        "",
        "a/b",
        "..",
        ".",
        "a b",
        "ünïcode",
        &"x".repeat(129),
        "nul\0byte",
    ] {
        let err = engine.create_stream(bad, 1).unwrap_err();
        assert!(
            matches!(err, Error::Validation(Validation::StreamName(_))),
            "{bad:?}: {err}"
        );
        assert_eq!(err.kinesis_name(), "ValidationException");
        assert!(matches!(
            engine.describe_stream(bad),
            Err(Error::Validation(_))
        ));
        assert!(matches!(
            engine.delete_stream(bad),
            Err(Error::Validation(_))
        ));
    }
    assert!(matches!(
        engine.create_stream("z", 0),
        Err(Error::Validation(Validation::ShardCount { given: 0, .. }))
    ));
    assert!(matches!(
        engine.create_stream("z", 10_001),
        Err(Error::Validation(Validation::ShardCount { .. }))
    ));
    let err = engine.describe_stream("missing").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceNotFound);
    assert_eq!(err.kinesis_name(), "ResourceNotFoundException");
    assert!(matches!(
        engine.delete_stream("missing"),
        Err(Error::StreamNotFound { .. })
    ));
    assert!(matches!(
        engine.list_streams(Some(0), None),
        Err(Error::Validation(_))
    ));
    // Nothing above created a stream or a directory.
    assert_eq!(engine.list_streams(None, None).unwrap().names, vec!["s"]);
}

#[test]
fn shard_limit_is_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = engine_config(tmp.path(), None);
    config.max_shards = 5;
    let engine = Engine::open(config).unwrap();
    engine.create_stream("a", 3).unwrap();
    let err = engine.create_stream("b", 3).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                requested: 6,
                limit: 5,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.kinesis_name(), "LimitExceededException");
    engine.create_stream("b", 2).unwrap();
    assert_eq!(engine.list_streams(None, None).unwrap().names.len(), 2);
}

#[test]
fn put_record_routes_by_md5_and_explicit_hash_key() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 4).unwrap();
    let shards = engine.describe_stream("s").unwrap().shards;
    for key in ["a", "b", "customer-42", "🌊", &"k".repeat(256)] {
        let out = engine
            .put_record("s", key, b"x", PutOptions::default())
            .unwrap();
        let h = hash_key(key);
        let owner = shards
            .iter()
            .find(|s| s.hash_range.start <= h && h <= s.hash_range.end)
            .unwrap();
        assert_eq!(out.shard_id, owner.shard_id, "key {key:?}");
    }
    let last = engine
        .put_record(
            "s",
            "any",
            b"x",
            PutOptions {
                explicit_hash_key: Some(&u128::MAX.to_string()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(last.shard_id, "shardId-000000000003");
    let first = engine
        .put_record(
            "s",
            "any",
            b"x",
            PutOptions {
                explicit_hash_key: Some("0"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(first.shard_id, "shardId-000000000000");
}

#[test]
fn put_errors_change_nothing() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 1).unwrap();
    let put = |key: &str, data: &[u8], options: PutOptions<'_>| {
        engine.put_record("s", key, data, options)
    };
    assert!(matches!(
        put("", b"x", PutOptions::default()),
        Err(Error::Validation(Validation::PartitionKey(_)))
    ));
    assert!(matches!(
        put(&"k".repeat(257), b"x", PutOptions::default()),
        Err(Error::Validation(Validation::PartitionKey(_)))
    ));
    let big = vec![0u8; 1 << 20];
    assert!(matches!(
        put("k", &big, PutOptions::default()),
        Err(Error::Validation(Validation::RecordTooLarge { .. }))
    ));
    assert!(
        put("k", &big[..(1 << 20) - 1], PutOptions::default()).is_ok(),
        "data + key = 1 MiB exactly"
    );
    for bad in ["-1", "abc", "340282366920938463463374607431768211456", ""] {
        let err = put(
            "k",
            b"x",
            PutOptions {
                explicit_hash_key: Some(bad),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Validation(Validation::ExplicitHashKey(_))),
            "{bad:?}"
        );
    }
    let err = put(
        "k",
        b"x",
        PutOptions {
            sequence_number_for_ordering: Some("12x"),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::Validation(Validation::SequenceNumber(_))
    ));
    assert!(matches!(
        engine.put_record("nope", "k", b"x", PutOptions::default()),
        Err(Error::StreamNotFound { .. })
    ));
    assert!(matches!(
        engine.put_record("a/b", "k", b"x", PutOptions::default()),
        Err(Error::StreamNotFound { .. } | Error::Validation(_))
    ));
    // Only the one valid record is there.
    assert_eq!(read_shard(&engine, "s", "shardId-000000000000").len(), 1);
}

/// Single puts on one thread hand the same buffers back and forth with the core: every
/// record must read back exactly as put, whatever the put before it was (bigger,
/// smaller, refused, too big to keep), and each put's reply must be its own.
#[test]
fn single_puts_on_one_thread_each_read_back_as_put() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 1).unwrap();
    let sizes = [1024usize, 3, 100_000, 0, 70_000, 1, 65_536, 2048, 5];
    let mut want: Vec<(u128, Vec<u8>)> = Vec::new();
    for (round, &size) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 + round) as u8).collect();
        let key = format!("key-{}", "k".repeat(round * 5));
        let out = engine
            .put_record("s", &key, &data, PutOptions::default())
            .unwrap();
        if let Some((last, _)) = want.last() {
            assert!(out.sequence_number > *last, "round {round}");
        }
        want.push((out.sequence_number, data));
        // A put the core refuses (its ordering number is from another epoch) in
        // between: nothing written, and the next put is unaffected.
        let foreign = (u128::from(u32::MAX) << 96).to_string();
        let refused = engine.put_record(
            "s",
            "k",
            b"refused",
            PutOptions {
                sequence_number_for_ordering: Some(&foreign),
                ..Default::default()
            },
        );
        assert!(
            matches!(
                refused,
                Err(Error::InvalidArgument(
                    InvalidArgument::SequenceForOrdering { .. }
                ))
            ),
            "round {round}: {refused:?}"
        );
    }
    let got = read_shard(&engine, "s", "shardId-000000000000");
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.0, w.0, "record {i}: sequence number");
        assert!(
            g.1 == w.1,
            "record {i}: {} bytes read, {} put",
            g.1.len(),
            w.1.len()
        );
    }
}

#[test]
fn sequence_number_for_ordering() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 1).unwrap();
    let a = engine
        .put_record("s", "k", b"a", PutOptions::default())
        .unwrap();
    // Far ahead in this shard's counter space: the next record must be above it.
    let ahead = a.sequence_number + 1000;
    let b = engine
        .put_record(
            "s",
            "k",
            b"b",
            PutOptions {
                sequence_number_for_ordering: Some(&ahead.to_string()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(b.sequence_number > ahead);
    let c = engine
        .put_record("s", "k", b"c", PutOptions::default())
        .unwrap();
    assert!(c.sequence_number > b.sequence_number);
    // A number from a later epoch or another shard cannot be followed.
    let foreign = (u128::from(u32::MAX) << 96).to_string();
    let err = engine
        .put_record(
            "s",
            "k",
            b"d",
            PutOptions {
                sequence_number_for_ordering: Some(&foreign),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidArgument(InvalidArgument::SequenceForOrdering { .. })
        ),
        "{err}"
    );
    assert_eq!(read_shard(&engine, "s", "shardId-000000000000").len(), 3);
}

#[test]
fn put_records_per_entry_results() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 3).unwrap();
    let keys: Vec<String> = (0..500).map(|i| format!("key-{i}")).collect();
    let entries: Vec<PutRecordsEntry<'_>> = keys
        .iter()
        .map(|k| PutRecordsEntry {
            partition_key: k,
            data: k.as_bytes(),
            explicit_hash_key: None,
        })
        .collect();
    let out = engine.put_records("s", &entries, None).unwrap();
    assert_eq!(out.failed_record_count, 0);
    assert_eq!(out.records.len(), 500);
    // Per shard, entries were appended in the order given.
    let mut per_shard: BTreeMap<String, Vec<(u128, usize)>> = BTreeMap::new();
    for (i, r) in out.records.iter().enumerate() {
        let r = r.as_ref().unwrap();
        per_shard
            .entry(r.shard_id.clone())
            .or_default()
            .push((r.sequence_number, i));
    }
    assert_eq!(per_shard.len(), 3);
    for list in per_shard.values() {
        assert!(list.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
    }
    let total: usize = per_shard
        .keys()
        .map(|s| read_shard(&engine, "s", s).len())
        .sum();
    assert_eq!(total, 500);

    // Request-level limits.
    let too_many: Vec<PutRecordsEntry<'_>> = (0..501).map(|_| entries[0]).collect();
    assert!(matches!(
        engine.put_records("s", &too_many, None),
        Err(Error::Validation(Validation::PutRecordsEntries {
            given: 501,
            max: 500
        }))
    ));
    assert!(matches!(
        engine.put_records("s", &[], None),
        Err(Error::Validation(Validation::PutRecordsEntries {
            given: 0,
            ..
        }))
    ));
    let blob = vec![1u8; 1 << 20];
    let six_mib: Vec<PutRecordsEntry<'_>> = (0..6)
        .map(|_| PutRecordsEntry {
            partition_key: "k",
            data: &blob[..(1 << 20) - 1],
            explicit_hash_key: None,
        })
        .collect();
    assert!(matches!(
        engine.put_records("s", &six_mib, None),
        Err(Error::Validation(Validation::PutRecordsBytes { .. }))
    ));
    let bad_key = [
        entries[0],
        PutRecordsEntry {
            partition_key: "",
            data: b"x",
            explicit_hash_key: None,
        },
    ];
    assert!(
        matches!(
            engine.put_records("s", &bad_key, None),
            Err(Error::Validation(_))
        ),
        "a malformed entry fails the request"
    );
    let total_after: usize = per_shard
        .keys()
        .map(|s| read_shard(&engine, "s", s).len())
        .sum();
    assert_eq!(total_after, 500, "refused requests wrote nothing");
}

/// Entries routed by the same text as the one before reuse its hash key: runs of
/// repeated keys, explicit hash keys and switches between the two all still land on
/// the shard that owns their hash key.
#[test]
fn put_records_route_runs_of_repeated_keys_like_single_puts() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 4).unwrap();
    let shards = engine.describe_stream("s").unwrap().shards;
    let owner = |h: u128| {
        shards
            .iter()
            .find(|s| s.hash_range.start <= h && h <= s.hash_range.end)
            .unwrap()
            .shard_id
            .clone()
    };
    let max = u128::MAX.to_string();
    let mid = (u128::MAX / 3).to_string();
    let plan: Vec<(&str, Option<&str>)> = vec![
        ("a", None),
        ("a", None),
        ("b", None),
        ("b", None),
        ("a", Some(&max)),
        ("a", None),
        ("a", Some(&max)),
        ("a", Some(&max)),
        ("c", Some(&max)),
        ("c", None),
        ("c", Some("0")),
        ("c", Some(&mid)),
        ("customer-42", None),
        ("a", None),
    ];
    let entries: Vec<PutRecordsEntry<'_>> = plan
        .iter()
        .map(|(key, explicit)| PutRecordsEntry {
            partition_key: key,
            data: b"x",
            explicit_hash_key: *explicit,
        })
        .collect();
    let out = engine.put_records("s", &entries, None).unwrap();
    for (i, ((key, explicit), r)) in plan.iter().zip(&out.records).enumerate() {
        let h = explicit.map_or_else(|| hash_key(key), |text| text.parse().unwrap());
        assert_eq!(
            r.as_ref().unwrap().shard_id,
            owner(h),
            "entry {i}: {key:?} {explicit:?}"
        );
    }
}

/// A large PutRecords goes to its cores in chunks: every record still lands on the
/// shard its explicit hash key names (repeated keys are parsed once), in the call's
/// order, with its own data; and a bad entry anywhere in the call, even after the first
/// chunks' worth of good ones, writes nothing.
#[test]
fn large_put_records_keep_order_and_routing_across_chunks() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 2).unwrap();
    let low = "0".to_string();
    let high = u128::MAX.to_string();
    // Runs of repeated keys, switching between the two shards at irregular places.
    let aims: Vec<&String> = (0..500)
        .map(|i| {
            if (i / 7 + i / 61) % 2 == 0 {
                &low
            } else {
                &high
            }
        })
        .collect();
    let data: Vec<Vec<u8>> = (0..500)
        .map(|i| format!("record {i:03}").into_bytes())
        .collect();
    let entries: Vec<PutRecordsEntry<'_>> = (0..500)
        .map(|i| PutRecordsEntry {
            partition_key: "k",
            data: &data[i],
            explicit_hash_key: Some(aims[i].as_str()),
        })
        .collect();

    let mut bad = entries.clone();
    bad[450] = PutRecordsEntry {
        explicit_hash_key: Some("not a number"),
        ..entries[450]
    };
    assert!(matches!(
        engine.put_records("s", &bad, None),
        Err(Error::Validation(Validation::ExplicitHashKey(_)))
    ));
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        assert!(
            read_shard(&engine, "s", shard).is_empty(),
            "{shard} was written"
        );
    }

    let out = engine.put_records("s", &entries, None).unwrap();
    assert_eq!(out.failed_record_count, 0);
    for (i, r) in out.records.iter().enumerate() {
        let want = if aims[i] == &low {
            "shardId-000000000000"
        } else {
            "shardId-000000000001"
        };
        assert_eq!(r.as_ref().unwrap().shard_id, want, "entry {i}");
    }
    for (shard, aim) in [
        ("shardId-000000000000", &low),
        ("shardId-000000000001", &high),
    ] {
        let want: Vec<Vec<u8>> = (0..500)
            .filter(|&i| aims[i] == aim)
            .map(|i| data[i].clone())
            .collect();
        let got: Vec<Vec<u8>> = read_shard(&engine, "s", shard)
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        assert!(
            want.len() > 128,
            "the test must fill several chunks per shard"
        );
        assert_eq!(got, want, "{shard}");
    }
}

#[test]
fn iterators_of_all_five_types() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 1).unwrap();
    let shard = "shardId-000000000000";
    let latest_before = engine
        .get_shard_iterator("s", shard, StartingPosition::Latest)
        .unwrap();
    let mut seqs = Vec::new();
    for i in 0..10u8 {
        seqs.push(
            engine
                .put_record("s", "k", &[i], PutOptions::default())
                .unwrap()
                .sequence_number,
        );
    }
    let data = |it: &str| -> Vec<u8> {
        engine
            .get_records(it, None)
            .unwrap()
            .records
            .iter()
            .map(|r| r.data[0])
            .collect()
    };
    assert_eq!(
        data(&latest_before),
        (0..10).collect::<Vec<u8>>(),
        "LATEST taken before the puts sees them"
    );
    let latest_after = engine
        .get_shard_iterator("s", shard, StartingPosition::Latest)
        .unwrap();
    assert!(data(&latest_after).is_empty());
    assert_eq!(
        data(
            &engine
                .get_shard_iterator("s", shard, StartingPosition::TrimHorizon)
                .unwrap()
        )
        .len(),
        10
    );
    assert_eq!(
        data(
            &engine
                .get_shard_iterator("s", shard, StartingPosition::AtSequenceNumber(seqs[4]))
                .unwrap()
        )[0],
        4
    );
    assert_eq!(
        data(
            &engine
                .get_shard_iterator("s", shard, StartingPosition::AfterSequenceNumber(seqs[4]))
                .unwrap()
        )[0],
        5
    );
    let ts = engine
        .get_records(
            &engine
                .get_shard_iterator("s", shard, StartingPosition::TrimHorizon)
                .unwrap(),
            None,
        )
        .unwrap()
        .records
        .get(7)
        .unwrap()
        .timestamp_ms;
    let at_ts = data(
        &engine
            .get_shard_iterator("s", shard, StartingPosition::AtTimestamp(ts))
            .unwrap(),
    );
    assert!(!at_ts.is_empty() && at_ts[0] <= 7 && *at_ts.last().unwrap() == 9);
    assert!(
        data(
            &engine
                .get_shard_iterator("s", shard, StartingPosition::AtTimestamp(u64::MAX))
                .unwrap()
        )
        .is_empty()
    );

    // Limits, next iterators and MillisBehindLatest.
    let it = engine
        .get_shard_iterator("s", shard, StartingPosition::TrimHorizon)
        .unwrap();
    let page = engine.get_records(&it, Some(3)).unwrap();
    assert_eq!(page.records.len(), 3);
    let rest = engine
        .get_records(page.next_shard_iterator.as_deref().unwrap(), None)
        .unwrap();
    assert_eq!(rest.records.len(), 7);
    assert_eq!(rest.millis_behind_latest, 0);
    assert!(rest.child_shards.is_empty());

    // Errors.
    let bad_shard = engine
        .get_shard_iterator("s", "shardId-000000000009", StartingPosition::Latest)
        .unwrap_err();
    assert!(matches!(bad_shard, Error::ShardNotFound { .. }));
    assert!(matches!(
        engine.get_shard_iterator("s", "shard-0", StartingPosition::Latest),
        Err(Error::Validation(Validation::ShardId(_)))
    ));
    assert!(matches!(
        engine.get_shard_iterator("nope", shard, StartingPosition::Latest),
        Err(Error::StreamNotFound { .. })
    ));
    let foreign_seq = seqs[0] + (1u128 << 64); // another shard index
    assert!(matches!(
        engine.get_shard_iterator("s", shard, StartingPosition::AtSequenceNumber(foreign_seq)),
        Err(Error::InvalidArgument(
            InvalidArgument::SequenceNotInShard { .. }
        ))
    ));
    assert!(matches!(
        engine.get_records(&it, Some(0)),
        Err(Error::Validation(Validation::ReadLimit { .. }))
    ));
    assert!(matches!(
        engine.get_records(&it, Some(10_001)),
        Err(Error::Validation(Validation::ReadLimit { .. }))
    ));
    let mut forged = it.clone().into_bytes();
    forged[20] = if forged[20] == b'a' { b'b' } else { b'a' };
    let err = engine
        .get_records(std::str::from_utf8(&forged).unwrap(), None)
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(InvalidArgument::Iterator(_))),
        "{err}"
    );
    assert_eq!(err.kinesis_name(), "InvalidArgumentException");
    assert!(matches!(
        engine.get_records("not a token", None),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn iterators_of_another_data_directory_are_refused() {
    let (_a_tmp, a) = engine();
    let (_b_tmp, b) = engine();
    a.create_stream("s", 1).unwrap();
    b.create_stream("s", 1).unwrap();
    let it = a
        .get_shard_iterator("s", "shardId-000000000000", StartingPosition::TrimHorizon)
        .unwrap();
    assert!(matches!(
        b.get_records(&it, None),
        Err(Error::InvalidArgument(InvalidArgument::Iterator(_)))
    ));
}

#[test]
fn tags() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 1).unwrap();
    let tags: BTreeMap<String, String> = [("team", "data"), ("env", "")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    engine.add_tags_to_stream("s", &tags).unwrap();
    assert_eq!(engine.list_tags_for_stream("s").unwrap(), tags);
    assert_eq!(engine.describe_stream("s").unwrap().tags, tags);
    engine
        .remove_tags_from_stream("s", &["env".to_string(), "absent".to_string()])
        .unwrap();
    assert_eq!(engine.list_tags_for_stream("s").unwrap().len(), 1);
    let fifty: BTreeMap<String, String> = (0..50)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    let err = engine.add_tags_to_stream("s", &fifty).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                requested: 51,
                limit: 50,
                ..
            }
        ),
        "{err}"
    );
    let bad: BTreeMap<String, String> = [(String::new(), "v".to_string())].into_iter().collect();
    assert!(matches!(
        engine.add_tags_to_stream("s", &bad),
        Err(Error::Validation(Validation::Tag { .. }))
    ));
    let long: BTreeMap<String, String> = [("k".to_string(), "v".repeat(257))].into_iter().collect();
    assert!(matches!(
        engine.add_tags_to_stream("s", &long),
        Err(Error::Validation(Validation::Tag { .. }))
    ));
    assert_eq!(
        engine.list_tags_for_stream("s").unwrap().len(),
        1,
        "refused calls changed nothing"
    );
    assert!(matches!(
        engine.list_tags_for_stream("nope"),
        Err(Error::StreamNotFound { .. })
    ));
}

#[test]
fn retention_changes() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 1).unwrap();
    engine.increase_stream_retention_period("s", 48).unwrap();
    assert_eq!(engine.describe_stream("s").unwrap().retention_hours, 48);
    assert!(matches!(
        engine.increase_stream_retention_period("s", 30),
        Err(Error::InvalidArgument(
            InvalidArgument::RetentionHours { .. }
        ))
    ));
    assert!(matches!(
        engine.increase_stream_retention_period("s", 8761),
        Err(Error::InvalidArgument(
            InvalidArgument::RetentionHours { .. }
        ))
    ));
    engine.increase_stream_retention_period("s", 8760).unwrap();
    engine.decrease_stream_retention_period("s", 24).unwrap();
    assert!(matches!(
        engine.decrease_stream_retention_period("s", 23),
        Err(Error::InvalidArgument(
            InvalidArgument::RetentionHours { .. }
        ))
    ));
    assert!(matches!(
        engine.decrease_stream_retention_period("s", 100),
        Err(Error::InvalidArgument(
            InvalidArgument::RetentionHours { .. }
        ))
    ));
    assert_eq!(engine.describe_stream("s").unwrap().retention_hours, 24);
}

#[test]
fn metrics_snapshot_and_openmetrics() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 2).unwrap();
    for i in 0..10 {
        engine
            .put_record("s", &format!("k{i}"), b"0123456789", PutOptions::default())
            .unwrap();
    }
    let shards: Vec<String> = engine
        .describe_stream("s")
        .unwrap()
        .shards
        .iter()
        .map(|s| s.shard_id.clone())
        .collect();
    for shard in &shards {
        read_shard(&engine, "s", shard);
    }
    let total = engine.stream_metrics_total("s").unwrap();
    assert_eq!(total.incoming_records, 10);
    assert_eq!(total.incoming_bytes, 10 * 12);
    assert_eq!(total.outgoing_records, 10);
    assert!(total.get_records_calls >= 2);
    // Stream-level totals always; shard-level series once enhanced monitoring
    // enables them (as Kinesis's CloudWatch metrics).
    let shard_series =
        "tidelog_incoming_records_total{stream=\"s\",shard=\"shardId-000000000000\"}";
    let text = engine.metrics_openmetrics().unwrap();
    assert!(text.contains("tidelog_stream_incoming_records_total{stream=\"s\"} 10\n"));
    assert!(!text.contains(shard_series), "{text}");
    assert!(text.ends_with("# EOF\n"));
    let out = engine
        .enable_enhanced_monitoring("s", &["IncomingRecords"])
        .unwrap();
    assert_eq!(
        (out.current.len(), out.desired.clone()),
        (0, vec!["IncomingRecords"])
    );
    let text = engine.metrics_openmetrics().unwrap();
    assert!(text.contains(shard_series), "{text}");
    assert!(!text.contains("tidelog_incoming_bytes_total{stream=\"s\",shard="));
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn closed_engine_refuses_everything() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 1).unwrap();
    let other_handle = engine.clone();
    engine.close().unwrap();
    engine.close().unwrap(); // idempotent
    assert!(other_handle.is_closed());
    for err in [
        other_handle
            .put_record("s", "k", b"x", PutOptions::default())
            .unwrap_err(),
        other_handle.create_stream("t", 1).unwrap_err(),
        other_handle.list_streams(None, None).unwrap_err(),
        other_handle
            .get_shard_iterator("s", "shardId-000000000000", StartingPosition::Latest)
            .unwrap_err(),
    ] {
        assert!(matches!(err, Error::Closed), "{err}");
    }
}

#[test]
fn one_engine_per_data_directory() {
    let (tmp, _engine) = engine();
    let err = Engine::open(engine_config(tmp.path(), None)).unwrap_err();
    assert!(matches!(err, Error::DataDirLocked { .. }), "{err}");
}

#[test]
fn a_relative_data_directory_works_for_durable_puts() {
    // glommio cannot open a relative directory for the sync, so the engine resolves
    // the path at open. The test's working directory is the crate's.
    let tmp = tempfile::Builder::new().tempdir_in(".").unwrap();
    let cwd = std::env::current_dir().unwrap();
    let relative = tmp.path().strip_prefix(&cwd).unwrap_or(tmp.path());
    assert!(relative.is_relative(), "{}", relative.display());
    let engine = Engine::open(engine_config(relative, None)).unwrap();
    assert!(engine.config().data_dir.is_absolute());
    engine.create_stream("s", 1).unwrap();
    let put = engine
        .put_record("s", "k", b"durable", PutOptions::default())
        .unwrap();
    assert_eq!(put.shard_id, "shardId-000000000000");
    engine.close().unwrap();
}

#[test]
fn bad_stream_names_are_validation_errors_in_every_call() {
    let (_tmp, engine) = engine();
    for name in ["../evil", "a/b", "..", ""] {
        let put = engine.put_record(name, "k", b"x", PutOptions::default());
        assert_eq!(put.unwrap_err().kind(), ErrorKind::Validation, "{name:?}");
        let entry = PutRecordsEntry {
            partition_key: "k",
            data: b"x",
            explicit_hash_key: None,
        };
        let puts = engine.put_records(name, &[entry], None);
        assert_eq!(puts.unwrap_err().kind(), ErrorKind::Validation, "{name:?}");
        let metrics = engine.stream_metrics(name);
        assert_eq!(
            metrics.unwrap_err().kind(),
            ErrorKind::Validation,
            "{name:?}"
        );
    }
    let missing = engine.put_record("missing", "k", b"x", PutOptions::default());
    assert!(matches!(missing, Err(Error::StreamNotFound { .. })));
}

#[test]
fn the_preempt_timer_is_configurable_within_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in [
        std::time::Duration::from_micros(99),
        std::time::Duration::from_millis(1001),
    ] {
        let mut config = engine_config(tmp.path(), None);
        config.preempt_timer = bad;
        let err = Engine::open(config).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    field: "preempt_timer",
                    ..
                }
            ),
            "{err}"
        );
    }
    let mut config = engine_config(tmp.path(), None);
    config.preempt_timer = std::time::Duration::from_millis(500);
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 1).unwrap();
    engine
        .put_record("s", "k", b"x", PutOptions::default())
        .unwrap();
    engine.close().unwrap();
}

#[test]
fn hash_ranges_cover_the_space_for_odd_counts() {
    let (_tmp, engine) = engine();
    engine.create_stream("s", 7).unwrap();
    let shards = engine.describe_stream("s").unwrap().shards;
    let ranges: Vec<HashRange> = shards.iter().map(|s| s.hash_range).collect();
    assert_eq!(ranges[0].start, 0);
    assert_eq!(ranges[6].end, u128::MAX);
    assert!(ranges.windows(2).all(|w| w[0].end + 1 == w[1].start));
}

/// The default machine is shared: one core per usable CPU but one (at least one);
/// dedicated means one per CPU. Both serve puts from this (unpinned) thread, whichever
/// CPU it lands on.
#[test]
fn default_core_count_follows_the_machine() {
    let usable = tidelog::runtime::usable_cpus();
    let cpus = tidelog::runtime::allowed_cpus().len();
    for (machine, expected) in [
        (tidelog::Machine::Shared, usable.saturating_sub(1).max(1)),
        (tidelog::Machine::Dedicated, cpus.max(1)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = tidelog::EngineConfig::new(dir.path());
        config.machine = machine;
        config.durability = tidelog::Durability::Os;
        let engine = Engine::open(config).unwrap();
        assert_eq!(engine.cores(), expected, "{machine:?}");
        engine.create_stream("s", 2).unwrap();
        for i in 0..200u32 {
            engine
                .put_record("s", &i.to_string(), b"x", PutOptions::default())
                .unwrap();
        }
        engine.close().unwrap();
    }
}

#[test]
fn deleting_a_stream_while_its_spare_segment_is_being_made_leaves_no_directory() {
    // A new shard asks the blocking pool for its next segment at once; a delete that
    // races that job must still remove the shard's directory and answer Ok.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut config = engine_config(&dir, None);
    config.limits = tidelog::Limits::unlimited();
    let engine = Engine::open(config).unwrap();
    let streams = dir.join("streams");
    let entries = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&streams)
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let before = entries();
    for round in 0..300u32 {
        engine.create_stream("churn", 4).unwrap();
        if round % 2 == 0 {
            engine
                .put_record("churn", "k", b"v", PutOptions::default())
                .unwrap();
        }
        engine
            .delete_stream("churn")
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(entries(), before, "round {round}: a directory was left");
    }
}

#[test]
fn delete_guards_keep_streams_until_removed() {
    let (_tmp, engine) = engine();
    engine.create_stream("held", 1).unwrap();
    engine.create_stream("free", 1).unwrap();
    let reason = "held by a test";
    let id = engine.add_delete_guard(std::sync::Arc::new(move |stream: &str| {
        (stream == "held").then_some(reason)
    }));
    let e = engine.delete_stream("held").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceInUse);
    assert!(e.to_string().contains(reason), "{e}");
    assert!(
        engine.describe_stream_summary("held").is_ok(),
        "nothing deleted"
    );
    engine.delete_stream("free").unwrap(); // other streams are not held
    engine.remove_delete_guard(id);
    engine.remove_delete_guard(id); // twice: no-op
    engine.delete_stream("held").unwrap();
}
