//! Kinesis semantics under load and over time: ordering with many writers, limits and
//! read penalties, retention and iterator expiry (manual clock), restarts, and
//! subscriptions that wake on new records.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tidelog::clock::{Clock, ManualClock};
use tidelog::error::Throttle;
use tidelog::{
    Durability, Engine, Error, Limits, PutOptions, PutRecordsEntry, StartingPosition,
    SubscriptionEvent,
};

const SHARD: &str = "shardId-000000000000";

#[test]
fn many_writers_one_shard_one_total_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = engine_config(tmp.path(), None);
    config.limits = Limits::unlimited();
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 1).unwrap();
    let writers = 8;
    let per_writer = 400;
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..per_writer {
                    let durability = if i % 3 == 0 {
                        Durability::Sync
                    } else {
                        Durability::Os
                    };
                    let data = format!("{w}:{i}");
                    let out = engine
                        .put_record(
                            "s",
                            &format!("writer-{w}"),
                            data.as_bytes(),
                            PutOptions {
                                durability: Some(durability),
                                ..Default::default()
                            },
                        )
                        .unwrap();
                    acked.push((out.sequence_number, data));
                }
                acked
            })
        })
        .collect();
    let acked: Vec<Vec<(u128, String)>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    // Each writer's own records got increasing sequence numbers.
    for list in &acked {
        assert!(list.windows(2).all(|w| w[0].0 < w[1].0));
    }
    let records = read_shard(&engine, "s", SHARD);
    assert_eq!(records.len(), writers * per_writer, "none lost");
    assert!(
        records.windows(2).all(|w| w[0].0 < w[1].0),
        "strictly increasing"
    );
    let unique: HashSet<&[u8]> = records.iter().map(|(_, d)| d.as_slice()).collect();
    assert_eq!(unique.len(), records.len(), "none duplicated");
    // What the readers see is exactly what was acknowledged, with the same numbers.
    let mut expected: Vec<(u128, Vec<u8>)> = acked
        .into_iter()
        .flatten()
        .map(|(s, d)| (s, d.into_bytes()))
        .collect();
    expected.sort();
    assert_eq!(records, expected);
    // Two readers agree.
    assert_eq!(read_shard(&engine, "s", SHARD), records);
}

#[test]
fn write_limits_exactly_per_second_and_refusals_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let mut config = engine_config(tmp.path(), Some(clock.clone() as Arc<dyn Clock>));
    config.limits = Limits {
        read_calls_per_sec: u64::MAX,
        read_bytes_per_sec: u64::MAX,
        ..Limits::kinesis()
    };
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 1).unwrap();
    let os = PutOptions {
        durability: Some(Durability::Os),
        ..Default::default()
    };
    // Records per second: PutRecords of 500, twice, then one more.
    let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
    let entries: Vec<PutRecordsEntry<'_>> = keys
        .iter()
        .map(|k| PutRecordsEntry {
            partition_key: k,
            data: b"d",
            explicit_hash_key: None,
        })
        .collect();
    assert_eq!(
        engine
            .put_records("s", &entries, Some(Durability::Os))
            .unwrap()
            .failed_record_count,
        0
    );
    assert_eq!(
        engine
            .put_records("s", &entries, Some(Durability::Os))
            .unwrap()
            .failed_record_count,
        0
    );
    let err = engine.put_record("s", "k", b"d", os).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ProvisionedThroughputExceeded {
                kind: Throttle::Write,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.kinesis_name(), "ProvisionedThroughputExceededException");
    let partial = engine
        .put_records("s", &entries[..10], Some(Durability::Os))
        .unwrap();
    assert_eq!(
        partial.failed_record_count, 10,
        "each entry refused on its own"
    );
    assert_eq!(
        read_shard(&engine, "s", SHARD).len(),
        1000,
        "refused puts wrote nothing"
    );
    clock.advance_ms(1000);
    assert_eq!(
        engine
            .put_records("s", &entries, Some(Durability::Os))
            .unwrap()
            .failed_record_count,
        0
    );
    assert_eq!(
        engine
            .put_records("s", &entries, Some(Durability::Os))
            .unwrap()
            .failed_record_count,
        0
    );
    assert!(engine.put_record("s", "k", b"d", os).is_err());
    assert_eq!(read_shard(&engine, "s", SHARD).len(), 2000);

    // Bytes per second: 1 MiB including keys.
    clock.advance_ms(1000);
    let half = vec![7u8; (512 << 10) - 1];
    engine.put_record("s", "k", &half, os).unwrap();
    engine.put_record("s", "k", &half, os).unwrap();
    assert!(matches!(
        engine.put_record("s", "k", b"", os),
        Err(Error::ProvisionedThroughputExceeded { .. })
    ));
    let m = engine.stream_metrics_total("s").unwrap();
    assert_eq!(m.write_throttled, 1 + 10 + 1 + 1);
    assert_eq!(m.incoming_records, 2002);
}

#[test]
fn read_limits_and_the_penalty_after_a_10_mib_read() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let mut config = engine_config(tmp.path(), Some(clock.clone() as Arc<dyn Clock>));
    config.limits = Limits {
        write_bytes_per_sec: u64::MAX,
        write_records_per_sec: u64::MAX,
        ..Limits::kinesis()
    };
    config.log.record_bytes_max = 1 << 20;
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 1).unwrap();
    let os = PutOptions {
        durability: Some(Durability::Os),
        ..Default::default()
    };
    engine.put_record("s", "k", b"small", os).unwrap();
    let it = engine
        .get_shard_iterator("s", SHARD, StartingPosition::TrimHorizon)
        .unwrap();
    for _ in 0..5 {
        engine.get_records(&it, Some(1)).unwrap();
    }
    let err = engine.get_records(&it, Some(1)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ProvisionedThroughputExceeded {
                kind: Throttle::ReadCalls,
                ..
            }
        ),
        "{err}"
    );
    clock.advance_ms(200);
    let got = engine.get_records(&it, Some(1)).unwrap();
    assert_eq!(
        got.records.len(),
        1,
        "the iterator is still good after a throttled call"
    );

    // Ten records of exactly 1 MiB (key + data) make a 10 MiB read, which blocks the
    // shard's reads for 5 s.
    engine.create_stream("big", 1).unwrap();
    let blob = vec![1u8; (1 << 20) - 1];
    for _ in 0..12 {
        engine.put_record("big", "k", &blob, os).unwrap();
    }
    clock.advance_ms(10_000);
    let it = engine
        .get_shard_iterator("big", SHARD, StartingPosition::TrimHorizon)
        .unwrap();
    let big = engine.get_records(&it, None).unwrap();
    assert_eq!(big.records.len(), 10);
    assert_eq!(big.records.payload_bytes(), 10 << 20, "stopped at 10 MiB");
    let next = big.next_shard_iterator.unwrap();
    clock.advance_ms(4_999);
    assert!(matches!(
        engine.get_records(&next, None),
        Err(Error::ProvisionedThroughputExceeded {
            kind: Throttle::ReadPenalty,
            ..
        })
    ));
    clock.advance_ms(1);
    let rest = engine.get_records(&next, None).unwrap();
    assert_eq!(
        rest.records.len(),
        2,
        "after 5 s the reader continues where it stopped"
    );
    assert_eq!(engine.stream_metrics_total("s").unwrap().read_throttled, 1);
    assert_eq!(
        engine.stream_metrics_total("big").unwrap().read_throttled,
        1
    );
}

#[test]
fn retention_hides_and_reclaims_old_records() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let mut config = engine_config(tmp.path(), Some(clock.clone() as Arc<dyn Clock>));
    config.limits = Limits::unlimited();
    config.log.segment_bytes_initial = 16 << 10;
    config.log.segment_bytes_max = 16 << 10;
    config.maintenance_interval = Duration::from_secs(3600); // run it by hand
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 1).unwrap();
    let os = PutOptions {
        durability: Some(Durability::Os),
        ..Default::default()
    };
    for hour in 0..30u64 {
        for i in 0..20 {
            engine
                .put_record(
                    "s",
                    "k",
                    format!("h{hour}-{i}-{}", "x".repeat(200)).as_bytes(),
                    os,
                )
                .unwrap();
        }
        clock.advance_ms(3_600_000);
    }
    // Now = hour 30: records of hours 0..=5 are older than 24 h.
    let visible = read_shard(&engine, "s", SHARD);
    assert_eq!(
        visible.len(),
        24 * 20,
        "only the last 24 hours are readable"
    );
    assert!(String::from_utf8_lossy(&visible[0].1).starts_with("h6-0-"));
    for position in [
        StartingPosition::TrimHorizon,
        StartingPosition::AtTimestamp(0),
        StartingPosition::AtSequenceNumber(0),
    ] {
        let it = engine.get_shard_iterator("s", SHARD, position);
        let Ok(it) = it else { continue }; // AtSequenceNumber(0) belongs to no shard
        let first = engine.get_records(&it, Some(1)).unwrap();
        assert!(
            String::from_utf8_lossy(first.records.get(0).unwrap().data).starts_with("h6-"),
            "{position:?}"
        );
    }
    let report = engine.run_maintenance().unwrap();
    assert!(
        report.segments_deleted > 0 && report.bytes_freed > 0,
        "{report:?}"
    );
    assert_eq!(
        read_shard(&engine, "s", SHARD).len(),
        24 * 20,
        "reclaiming changes nothing visible"
    );
    // Raising the retention brings nothing back, not even records whose segment was
    // not reclaimed yet; it keeps what is readable now for longer.
    engine.increase_stream_retention_period("s", 48).unwrap();
    assert_eq!(read_shard(&engine, "s", SHARD).len(), 24 * 20);
    clock.advance_ms(10 * 3_600_000);
    assert_eq!(
        read_shard(&engine, "s", SHARD).len(),
        24 * 20,
        "kept 48 h now"
    );
    engine.close().unwrap();
}

#[test]
fn iterators_expire_after_five_minutes() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let mut config = engine_config(tmp.path(), Some(clock.clone() as Arc<dyn Clock>));
    config.limits = Limits::unlimited();
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 1).unwrap();
    let it = engine
        .get_shard_iterator("s", SHARD, StartingPosition::TrimHorizon)
        .unwrap();
    clock.advance_ms(300_000);
    let next = engine
        .get_records(&it, None)
        .unwrap()
        .next_shard_iterator
        .unwrap();
    clock.advance_ms(1);
    let err = engine.get_records(&it, None).unwrap_err();
    assert!(matches!(err, Error::ExpiredIterator { .. }), "{err}");
    assert_eq!(err.kinesis_name(), "ExpiredIteratorException");
    clock.advance_ms(299_999);
    assert!(
        engine.get_records(&next, None).is_ok(),
        "each answer issues a fresh iterator"
    );
}

#[test]
fn lower_minimum_retention_for_embedded_use() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let mut config = engine_config(tmp.path(), Some(clock.clone() as Arc<dyn Clock>));
    config.limits = Limits::unlimited();
    config.retention_hours_min = 1;
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 1).unwrap();
    engine.decrease_stream_retention_period("s", 1).unwrap();
    let os = PutOptions {
        durability: Some(Durability::Os),
        ..Default::default()
    };
    engine.put_record("s", "k", b"old", os).unwrap();
    clock.advance_ms(3_600_001);
    engine.put_record("s", "k", b"new", os).unwrap();
    let records = read_shard(&engine, "s", SHARD);
    assert_eq!(
        records.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        vec![b"new".to_vec()]
    );
}

#[test]
fn restart_keeps_everything_and_numbers_continue_above() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = engine_config(tmp.path(), None);
    config.limits = Limits::unlimited();
    let mut all_acked: Vec<(String, u128, Vec<u8>)> = Vec::new();
    let mut last_max = 0u128;
    for round in 0..3 {
        let engine = Engine::open(config.clone()).unwrap();
        if round == 0 {
            engine.create_stream("a", 2).unwrap();
            engine.create_stream("b", 1).unwrap();
            engine.increase_stream_retention_period("b", 72).unwrap();
        }
        assert_eq!(
            engine.list_streams(None, None).unwrap().names,
            vec!["a", "b"]
        );
        assert_eq!(engine.describe_stream("b").unwrap().retention_hours, 72);
        for i in 0..50u32 {
            let data = format!("r{round}-{i}").into_bytes();
            let durability = if i % 2 == 0 {
                Durability::Sync
            } else {
                Durability::Os
            };
            let out = engine
                .put_record(
                    "a",
                    &format!("k{i}"),
                    &data,
                    PutOptions {
                        durability: Some(durability),
                        ..Default::default()
                    },
                )
                .unwrap();
            all_acked.push((out.shard_id, out.sequence_number, data));
        }
        let round_min = all_acked
            .iter()
            .skip(round * 50)
            .map(|r| r.1)
            .min()
            .unwrap();
        assert!(
            round_min > last_max,
            "round {round}: {round_min} not above {last_max}"
        );
        last_max = all_acked.iter().map(|r| r.1).max().unwrap();
        for shard in ["shardId-000000000000", "shardId-000000000001"] {
            let expected: Vec<(u128, Vec<u8>)> = all_acked
                .iter()
                .filter(|r| r.0 == shard)
                .map(|r| (r.1, r.2.clone()))
                .collect();
            assert_eq!(read_shard(&engine, "a", shard), expected, "round {round}");
        }
        if round == 1 {
            drop(engine); // no close: the last handle's drop shuts down
        } else {
            engine.close().unwrap();
        }
    }
}

#[test]
fn subscription_sees_records_as_they_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = engine_config(tmp.path(), None);
    config.limits = Limits::unlimited();
    config.subscriber_spin = Duration::ZERO; // always park: the wake-up must come from the core
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 1).unwrap();
    let mut sub = engine
        .subscribe("s", SHARD, StartingPosition::Latest, false)
        .unwrap();
    assert!(matches!(
        sub.next(Duration::from_millis(20)).unwrap(),
        SubscriptionEvent::Timeout
    ));
    let producer = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            for i in 0..200u32 {
                let durability = if i % 2 == 0 {
                    Durability::Os
                } else {
                    Durability::Sync
                };
                engine
                    .put_record(
                        "s",
                        "k",
                        &i.to_le_bytes(),
                        PutOptions {
                            durability: Some(durability),
                            ..Default::default()
                        },
                    )
                    .unwrap();
            }
        })
    };
    let mut seen = Vec::new();
    while seen.len() < 200 {
        match sub.next(Duration::from_secs(30)).unwrap() {
            SubscriptionEvent::Records { batch, shard_id } => {
                assert_eq!(shard_id, SHARD);
                seen.extend(
                    batch
                        .iter()
                        .map(|r| u32::from_le_bytes(r.data.try_into().unwrap())),
                );
            }
            other => panic!("unexpected {other:?} after {} records", seen.len()),
        }
    }
    producer.join().unwrap();
    assert_eq!(
        seen,
        (0..200).collect::<Vec<_>>(),
        "every record, in order, once"
    );
    assert_eq!(
        engine.stream_metrics_total("s").unwrap().outgoing_records,
        200
    );
}

#[test]
fn async_put_and_subscription() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = engine_config(tmp.path(), None);
    config.limits = Limits::unlimited();
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 1).unwrap();
    let mut sub = engine
        .subscribe("s", SHARD, StartingPosition::TrimHorizon, false)
        .unwrap();
    futures_lite::future::block_on(async {
        let puts: Vec<_> = (0..20u8)
            .map(|i| engine.put_record_async("s", "k", &[i], PutOptions::default()))
            .collect();
        let mut seqs = Vec::new();
        for put in puts {
            seqs.push(put.await.unwrap().sequence_number);
        }
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "pipelined puts keep their order"
        );
        let mut seen = Vec::new();
        while seen.len() < 20 {
            match sub.next_async(Duration::from_secs(10)).await.unwrap() {
                SubscriptionEvent::Records { batch, .. } => {
                    seen.extend(batch.iter().map(|r| r.data[0]))
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seen, (0..20).collect::<Vec<u8>>());
        assert!(matches!(
            sub.next_async(Duration::from_millis(10)).await.unwrap(),
            SubscriptionEvent::Timeout
        ));
    });
    let err = futures_lite::future::block_on(engine.put_record_async(
        "s",
        "",
        b"x",
        PutOptions::default(),
    ))
    .unwrap_err();
    assert!(matches!(err, Error::Validation(_)));
}

#[test]
fn both_sync_drivers_acknowledge_only_durable_records() {
    for driver in [tidelog::SyncDriver::IoUring, tidelog::SyncDriver::Blocking] {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = engine_config(tmp.path(), None);
        config.limits = Limits::unlimited();
        config.sync_driver = driver;
        let engine = Engine::open(config.clone()).unwrap();
        engine.create_stream("s", 2).unwrap();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let engine = engine.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| {
                            engine
                                .put_record(
                                    "s",
                                    &format!("{w}-{i}"),
                                    b"durable",
                                    PutOptions::default(),
                                )
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let acked: Vec<_> = writers
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        engine.flush().unwrap();
        engine.close().unwrap();
        let engine = Engine::open(config).unwrap();
        let mut found = 0;
        for shard in ["shardId-000000000000", "shardId-000000000001"] {
            let records = read_shard(&engine, "s", shard);
            for ack in acked.iter().filter(|a| a.shard_id == shard) {
                assert!(
                    records.iter().any(|r| r.0 == ack.sequence_number),
                    "{driver:?}: {ack:?} missing"
                );
                found += 1;
            }
        }
        assert_eq!(found, 200, "{driver:?}");
    }
}
