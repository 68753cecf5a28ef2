//! Record distribution strategies (UpdateStreamRecordDistributionStrategy): AUTO deals
//! records evenly over the open shards whatever their keys; USER_PARTITION_KEY routes by
//! the key's MD5 again; the strategy survives a restart; PROVISIONED streams refuse
//! AUTO and return to USER_PARTITION_KEY when an AUTO stream is switched to them.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use md5::{Digest, Md5};
use tidelog::engine::CreateStreamOptions;
use tidelog::{
    Engine, ErrorKind, ManualClock, PutOptions, PutRecordsEntry, RecordDistribution, StreamMode,
};

const T0: u64 = 1_700_000_000_000;
const KEY: &str = "one-key-for-everything";

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Engine {
    let mut config = engine_config(dir, Some(clock.clone()));
    // The test reads every shard several times at one (manual) instant.
    config.limits = tidelog::Limits::unlimited();
    Engine::open(config).unwrap()
}

/// The shard owning `key` by the Kinesis definition (MD5 as a big-endian u128),
/// computed here from the hash ranges DescribeStream shows.
fn shard_of_key(engine: &Engine, stream: &str, key: &str) -> String {
    let hash = u128::from_be_bytes(Md5::digest(key.as_bytes()).into());
    engine
        .describe_stream(stream)
        .unwrap()
        .shards
        .iter()
        .filter(|s| s.ending_sequence_number.is_none())
        .find(|s| s.hash_range.start <= hash && hash <= s.hash_range.end)
        .map(|s| s.shard_id.clone())
        .expect("a shard owns every hash key")
}

fn open_shard_ids(engine: &Engine, stream: &str) -> Vec<String> {
    engine
        .describe_stream(stream)
        .unwrap()
        .shards
        .iter()
        .filter(|s| s.ending_sequence_number.is_none())
        .map(|s| s.shard_id.clone())
        .collect()
}

/// Puts `n` records, all with the same key (and, every third one, an explicit hash key
/// that points elsewhere), tagged `tag-i`; half by PutRecords, half by PutRecord.
fn put_same_key(engine: &Engine, stream: &str, tag: &str, n: usize) {
    let rows: Vec<Vec<u8>> = (0..n).map(|i| format!("{tag}-{i}").into_bytes()).collect();
    let (batch, single) = rows.split_at(n / 2);
    let entries: Vec<PutRecordsEntry<'_>> = batch
        .iter()
        .enumerate()
        .map(|(i, d)| PutRecordsEntry {
            partition_key: KEY,
            data: d,
            explicit_hash_key: (i % 3 == 0).then_some("0"),
        })
        .collect();
    let out = engine.put_records(stream, &entries, None).unwrap();
    assert_eq!(out.failed_record_count, 0);
    for d in single {
        engine
            .put_record(stream, KEY, d, PutOptions::default())
            .unwrap();
    }
}

/// How many records tagged `tag` each shard holds.
fn counts(engine: &Engine, stream: &str, tag: &str) -> BTreeMap<String, usize> {
    let prefix = format!("{tag}-");
    open_shard_ids(engine, stream)
        .into_iter()
        .map(|id| {
            let n = read_shard(engine, stream, &id)
                .iter()
                .filter(|(_, d)| d.starts_with(prefix.as_bytes()))
                .count();
            (id, n)
        })
        .collect()
}

fn assert_even(counts: &BTreeMap<String, usize>, total: usize) {
    assert_eq!(counts.values().sum::<usize>(), total, "{counts:?}");
    let min = *counts.values().min().unwrap();
    let max = *counts.values().max().unwrap();
    assert!(min > 0, "a shard got nothing: {counts:?}");
    assert!(max - min <= 1, "not even: {counts:?}");
}

#[test]
fn auto_spreads_one_key_over_every_shard_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    engine
        .create_stream_with(
            "d",
            CreateStreamOptions {
                record_distribution: RecordDistribution::Auto,
                ..CreateStreamOptions::on_demand()
            },
        )
        .unwrap();
    let summary = engine.describe_stream_summary("d").unwrap();
    assert_eq!(summary.record_distribution, RecordDistribution::Auto);
    let shards = open_shard_ids(&engine, "d");
    assert_eq!(shards.len(), 4);
    let home = shard_of_key(&engine, "d", KEY);

    // AUTO: one key, every shard, evenly.
    put_same_key(&engine, "d", "auto", 402);
    assert_even(&counts(&engine, "d", "auto"), 402);

    // USER_PARTITION_KEY: the key's own shard only (explicit hash keys count again).
    engine
        .update_stream_record_distribution("d", RecordDistribution::UserPartitionKey)
        .unwrap();
    for i in 0..30 {
        engine
            .put_record(
                "d",
                KEY,
                format!("keyed-{i}").as_bytes(),
                PutOptions::default(),
            )
            .unwrap();
    }
    let keyed = counts(&engine, "d", "keyed");
    assert_eq!(keyed[&home], 30, "{keyed:?}");
    assert_eq!(keyed.values().sum::<usize>(), 30);

    // Back to AUTO, then a restart: still AUTO.
    engine
        .update_stream_record_distribution("d", RecordDistribution::Auto)
        .unwrap();
    engine.close().unwrap();
    drop(engine);
    let engine = open(dir.path(), &clock);
    assert_eq!(
        engine
            .describe_stream_summary("d")
            .unwrap()
            .record_distribution,
        RecordDistribution::Auto
    );
    put_same_key(&engine, "d", "reopened", 100);
    assert_even(&counts(&engine, "d", "reopened"), 100);
    // Records written before keep their shards.
    assert_eq!(counts(&engine, "d", "keyed")[&home], 30);
    assert_even(&counts(&engine, "d", "auto"), 402);
}

#[test]
fn provisioned_streams_refuse_auto() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    let err = engine
        .create_stream_with(
            "p",
            CreateStreamOptions {
                record_distribution: RecordDistribution::Auto,
                ..CreateStreamOptions::provisioned(2)
            },
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("ON_DEMAND"), "{err}");
    assert!(engine.describe_stream_summary("p").is_err(), "half-created");

    engine.create_stream("p", 2).unwrap();
    let err = engine
        .update_stream_record_distribution("p", RecordDistribution::Auto)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    // USER_PARTITION_KEY is what it has already: accepted.
    engine
        .update_stream_record_distribution("p", RecordDistribution::UserPartitionKey)
        .unwrap();
    assert_eq!(
        engine
            .update_stream_record_distribution("missing", RecordDistribution::Auto)
            .unwrap_err()
            .kind(),
        ErrorKind::ResourceNotFound
    );

    // An AUTO stream switched to PROVISIONED routes by key again.
    engine
        .create_stream_with(
            "d",
            CreateStreamOptions {
                record_distribution: RecordDistribution::Auto,
                ..CreateStreamOptions::on_demand()
            },
        )
        .unwrap();
    engine
        .update_stream_mode("d", StreamMode::Provisioned, None)
        .unwrap();
    assert_eq!(
        engine
            .describe_stream_summary("d")
            .unwrap()
            .record_distribution,
        RecordDistribution::UserPartitionKey
    );
    let home = shard_of_key(&engine, "d", KEY);
    put_same_key(&engine, "d", "after", 20);
    let after = counts(&engine, "d", "after");
    // Explicit hash key "0" goes to the shard owning 0; the rest to the key's shard.
    let zero = engine
        .describe_stream("d")
        .unwrap()
        .shards
        .iter()
        .find(|s| s.ending_sequence_number.is_none() && s.hash_range.start == 0)
        .map(|s| s.shard_id.clone())
        .unwrap();
    let with_explicit = (0..10).filter(|i| i % 3 == 0).count();
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    *expected.entry(zero).or_default() += with_explicit;
    *expected.entry(home).or_default() += 20 - with_explicit;
    for (shard, n) in &after {
        assert_eq!(*n, expected.get(shard).copied().unwrap_or(0), "{after:?}");
    }
}
