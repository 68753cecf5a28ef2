//! Enhanced fan-out: consumers (register, describe, list, deregister) and
//! SubscribeToShard with its rules (one subscription per consumer and shard, 5 s
//! takeover, heartbeats, 5-minute lifetime, child shards at a closed shard's end, per
//! consumer budgets), across a split and a merge with per-key order checked.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tidelog::engine::{ConsumerStatus, FanoutEvent};
use tidelog::{
    Engine, Error, ErrorKind, ManualClock, PutOptions, PutRecordsEntry, StartingPosition,
};

const T0: u64 = 1_700_000_000_000;

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>, transition_ms: u64) -> Engine {
    let mut config = engine_config(dir, Some(clock.clone()));
    config.limits = tidelog::Limits::unlimited();
    config.consumer_transition = Duration::from_millis(transition_ms);
    Engine::open(config).unwrap()
}

fn put(engine: &Engine, stream: &str, key: &str, data: &[u8]) -> u128 {
    engine
        .put_record(stream, key, data, PutOptions::default())
        .unwrap()
        .sequence_number
}

/// A record as these tests compare it: (seq, key, data).
type FanRow = (u128, String, Vec<u8>);

/// Events until a timeout, collecting the records.
fn drain(sub: &mut tidelog::ShardSubscription) -> (Vec<FanRow>, Option<FanoutEvent>) {
    let mut got = Vec::new();
    loop {
        match sub.next(Duration::from_millis(200)).unwrap() {
            FanoutEvent::Event(e)
                if e.continuation_sequence_number.is_some() && !e.records.is_empty() =>
            {
                got.extend(
                    e.records
                        .iter()
                        .map(|r| (r.seq, r.key_str().to_string(), r.data.to_vec())),
                );
                assert_eq!(e.continuation_sequence_number, got.last().map(|r| r.0));
            }
            FanoutEvent::Timeout => return (got, None),
            other => return (got, Some(other)),
        }
    }
}

#[test]
fn consumer_lifecycle_paging_errors_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(tmp.path(), &clock, 3_000);
    engine.create_stream("s", 1).unwrap();
    let tags = BTreeMap::from([("team".to_string(), "data".to_string())]);
    let c = engine
        .register_stream_consumer("s", "app-1", &tags)
        .unwrap();
    assert_eq!(c.status, ConsumerStatus::Creating);
    assert_eq!(
        c.arn,
        format!(
            "arn:aws:kinesis:local:000000000000:stream/s/consumer/app-1:{}",
            T0 / 1000
        )
    );
    assert_eq!(c.stream_arn, "arn:aws:kinesis:local:000000000000:stream/s");
    // CREATING until the transition passes, on the engine's clock.
    let d = engine
        .describe_stream_consumer(None, None, Some(&c.arn))
        .unwrap();
    assert_eq!(d.status, ConsumerStatus::Creating);
    let err = engine
        .subscribe_to_shard(
            &c.arn,
            "shardId-000000000000",
            StartingPosition::TrimHorizon,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceInUse, "{err}");
    clock.advance_ms(3_000);
    let d = engine
        .describe_stream_consumer(Some("s"), Some("app-1"), None)
        .unwrap();
    assert_eq!(
        (d.status, d.arn.as_str()),
        (ConsumerStatus::Active, c.arn.as_str())
    );
    assert_eq!(
        engine.describe_stream_summary("s").unwrap().consumer_count,
        1
    );
    assert_eq!(
        engine.list_tags_for_resource(&c.arn).unwrap(),
        tags,
        "tags given at registration"
    );

    // Names, duplicates, limits.
    assert_eq!(
        engine
            .register_stream_consumer("s", "app-1", &BTreeMap::new())
            .unwrap_err()
            .kind(),
        ErrorKind::ResourceInUse
    );
    for bad in ["", "a b", "x/y", &"c".repeat(129)] {
        assert_eq!(
            engine
                .register_stream_consumer("s", bad, &BTreeMap::new())
                .unwrap_err()
                .kind(),
            ErrorKind::Validation,
            "{bad:?}"
        );
    }
    assert_eq!(
        engine
            .register_stream_consumer("nope", "c", &BTreeMap::new())
            .unwrap_err()
            .kind(),
        ErrorKind::ResourceNotFound
    );
    // At most 5 CREATING at once.
    for i in 0..5 {
        engine
            .register_stream_consumer("s", &format!("c{i}"), &BTreeMap::new())
            .unwrap();
    }
    let err = engine
        .register_stream_consumer("s", "c5", &BTreeMap::new())
        .unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
    clock.advance_ms(3_000);
    // At most 20 registered.
    for i in 5..19 {
        engine
            .register_stream_consumer("s", &format!("c{i:02}"), &BTreeMap::new())
            .unwrap();
        clock.advance_ms(3_000);
    }
    let err = engine
        .register_stream_consumer("s", "one-too-many", &BTreeMap::new())
        .unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");

    // Paging in name order.
    let page = engine.list_stream_consumers("s", Some(7), None).unwrap();
    assert_eq!(page.consumers.len(), 7);
    assert!(page.has_more);
    let mut all: Vec<String> = page.consumers.iter().map(|c| c.name.clone()).collect();
    let mut cursor = all.last().cloned();
    loop {
        let page = engine
            .list_stream_consumers("s", Some(7), cursor.as_deref())
            .unwrap();
        all.extend(page.consumers.iter().map(|c| c.name.clone()));
        cursor = all.last().cloned();
        if !page.has_more {
            break;
        }
    }
    assert_eq!(all.len(), 20);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert_eq!(
        engine
            .list_stream_consumers("s", Some(0), None)
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );

    // ARNs of another account, stale creation times, malformed ones.
    let other = c.arn.replace("000000000000", "123456789012");
    assert_eq!(
        engine
            .describe_stream_consumer(None, None, Some(&other))
            .unwrap_err()
            .kind(),
        ErrorKind::ResourceNotFound
    );
    let stale = c.arn.replace(&format!(":{}", T0 / 1000), ":12");
    assert_eq!(
        engine
            .describe_stream_consumer(None, None, Some(&stale))
            .unwrap_err()
            .kind(),
        ErrorKind::ResourceNotFound
    );
    for bad in [
        "",
        "arn:aws:kinesis:local:000000000000:stream/s",
        "consumer/app-1",
    ] {
        assert_eq!(
            engine
                .describe_stream_consumer(None, None, Some(bad))
                .unwrap_err()
                .kind(),
            ErrorKind::Validation,
            "{bad:?}"
        );
    }
    assert_eq!(
        engine
            .describe_stream_consumer(Some("s"), Some("c00"), Some(&c.arn))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument,
        "ARN and name disagree"
    );
    assert_eq!(
        engine
            .describe_stream_consumer(Some("s"), None, None)
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );

    // Survives a reopen.
    engine.close().unwrap();
    let engine = open(tmp.path(), &clock, 3_000);
    let d = engine
        .describe_stream_consumer(None, None, Some(&c.arn))
        .unwrap();
    assert_eq!(d.status, ConsumerStatus::Active);
    assert_eq!(
        engine
            .list_stream_consumers("s", None, None)
            .unwrap()
            .consumers
            .len(),
        20
    );

    // Deregistration: DELETING, then gone; the stream can be deleted only with
    // EnforceConsumerDeletion while consumers remain.
    engine
        .deregister_stream_consumer(None, None, Some(&c.arn))
        .unwrap();
    let d = engine
        .describe_stream_consumer(None, None, Some(&c.arn))
        .unwrap();
    assert_eq!(d.status, ConsumerStatus::Deleting);
    assert_eq!(
        engine
            .deregister_stream_consumer(Some("s"), Some("app-1"), None)
            .unwrap_err()
            .kind(),
        ErrorKind::ResourceInUse
    );
    clock.advance_ms(3_000);
    assert_eq!(
        engine
            .describe_stream_consumer(None, None, Some(&c.arn))
            .unwrap_err()
            .kind(),
        ErrorKind::ResourceNotFound
    );
    assert_eq!(engine.prune_consumers().unwrap(), 1);
    assert_eq!(
        engine.delete_stream("s").unwrap_err().kind(),
        ErrorKind::ResourceInUse
    );
    engine.delete_stream_with("s", true).unwrap();
    assert!(engine.list_streams(None, None).unwrap().names.is_empty());
}

#[test]
fn subscribe_to_shard_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(tmp.path(), &clock, 0);
    engine.create_stream("s", 1).unwrap();
    let shard = "shardId-000000000000";
    let arn = engine
        .register_stream_consumer("s", "app", &BTreeMap::new())
        .unwrap()
        .arn;
    let first = put(&engine, "s", "k", b"one");
    put(&engine, "s", "k", b"two");

    let mut sub = engine
        .subscribe_to_shard(&arn, shard, StartingPosition::TrimHorizon)
        .unwrap();
    assert_eq!(sub.shard_id(), shard);
    assert_eq!(sub.expires_at_ms(), T0 + 300_000);
    let (records, _) = drain(&mut sub);
    assert_eq!(
        records.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
        vec![b"one".to_vec(), b"two".to_vec()]
    );
    // A record committed now arrives as the next event.
    clock.advance_ms(1);
    let third = put(&engine, "s", "k2", b"three");
    match sub.next(Duration::from_secs(5)).unwrap() {
        FanoutEvent::Event(e) => {
            assert_eq!(e.records.len(), 1);
            assert_eq!(e.continuation_sequence_number, Some(third));
            assert_eq!(e.millis_behind_latest, 0);
        }
        other => panic!("{other:?}"),
    }
    // One subscription per consumer and shard: refused within 5 s of the last call.
    clock.advance_ms(4_998);
    let err = engine
        .subscribe_to_shard(&arn, shard, StartingPosition::Latest)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceInUse, "{err}");
    clock.set_wall_ms(T0 + 1); // (the manual clock's wall time may move back)
    // Heartbeat after 5 s of (engine) silence: no records, same continuation.
    assert!(matches!(
        sub.next(Duration::from_millis(50)).unwrap(),
        FanoutEvent::Timeout
    ));
    clock.advance_ms(5_000);
    match sub.next(Duration::from_millis(50)).unwrap() {
        FanoutEvent::Event(e) => {
            assert!(e.records.is_empty());
            assert_eq!(e.continuation_sequence_number, Some(third));
        }
        other => panic!("{other:?}"),
    }

    // 5 s after the last call, a new subscription takes over; the old one ends with
    // ResourceInUse.
    let mut newer = engine
        .subscribe_to_shard(&arn, shard, StartingPosition::AfterSequenceNumber(first))
        .unwrap();
    let err = sub.next(Duration::from_millis(50)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceInUse, "{err}");
    let (records, _) = drain(&mut newer);
    assert_eq!(records.len(), 2, "after the first record: two and three");

    // Every starting position.
    clock.advance_ms(5_000);
    let check = |position: StartingPosition, expected: &[&[u8]]| {
        clock.advance_ms(5_000);
        let mut sub = engine.subscribe_to_shard(&arn, shard, position).unwrap();
        let (records, _) = drain(&mut sub);
        let data: Vec<Vec<u8>> = records.into_iter().map(|r| r.2).collect();
        assert_eq!(
            data,
            expected.iter().map(|d| d.to_vec()).collect::<Vec<_>>(),
            "{position:?}"
        );
    };
    check(StartingPosition::Latest, &[]);
    check(
        StartingPosition::AtSequenceNumber(first),
        &[b"one", b"two", b"three"],
    );
    check(
        StartingPosition::AtTimestamp(T0),
        &[b"one", b"two", b"three"],
    );
    check(StartingPosition::AtTimestamp(T0 + 1), &[b"three"]);
    check(StartingPosition::AfterSequenceNumber(third), &[]);
    check(StartingPosition::TrimHorizon, &[b"one", b"two", b"three"]);

    // A heartbeat before anything was delivered names a position that misses nothing:
    // subscribing AFTER it reads everything put later.
    clock.advance_ms(5_000);
    engine.create_stream("empty", 1).unwrap();
    let arn2 = engine
        .register_stream_consumer("empty", "app", &BTreeMap::new())
        .unwrap()
        .arn;
    let mut idle = engine
        .subscribe_to_shard(&arn2, shard, StartingPosition::TrimHorizon)
        .unwrap();
    clock.advance_ms(5_000);
    let FanoutEvent::Event(beat) = idle.next(Duration::from_millis(50)).unwrap() else {
        panic!("no heartbeat")
    };
    let continuation = beat.continuation_sequence_number.unwrap();
    put(&engine, "empty", "k", b"first ever");
    clock.advance_ms(5_000);
    let mut resumed = engine
        .subscribe_to_shard(
            &arn2,
            shard,
            StartingPosition::AfterSequenceNumber(continuation),
        )
        .unwrap();
    let (records, _) = drain(&mut resumed);
    assert_eq!(records.len(), 1, "the continuation missed nothing");

    // The 5-minute lifetime.
    clock.advance_ms(300_000);
    assert!(matches!(
        resumed.next(Duration::from_millis(10)).unwrap(),
        FanoutEvent::End
    ));
    assert!(resumed.is_ended());

    // Deregistering ends the subscription.
    let mut live = engine
        .subscribe_to_shard(&arn2, shard, StartingPosition::Latest)
        .unwrap();
    engine
        .deregister_stream_consumer(None, None, Some(&arn2))
        .unwrap();
    assert_eq!(
        live.next(Duration::from_millis(10)).unwrap_err().kind(),
        ErrorKind::ResourceNotFound
    );

    // Bad shard ids and positions.
    clock.advance_ms(5_000);
    assert_eq!(
        engine
            .subscribe_to_shard(&arn, "shardId-000000000009", StartingPosition::Latest)
            .unwrap_err()
            .kind(),
        ErrorKind::ResourceNotFound
    );
    assert_eq!(
        engine
            .subscribe_to_shard(&arn, "shard-9", StartingPosition::Latest)
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
    assert_eq!(
        engine
            .subscribe_to_shard(
                &arn,
                shard,
                StartingPosition::AtSequenceNumber((5u128 << 64) | 7)
            )
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn consumer_reads_do_not_spend_the_shards_get_records_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut config = engine_config(tmp.path(), Some(clock.clone()));
    config.limits = tidelog::Limits::kinesis();
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 1).unwrap();
    let shard = "shardId-000000000000";
    let blob = vec![7u8; 100 << 10];
    for i in 0..10 {
        put(&engine, "s", &format!("k{i}"), &blob);
    }
    // Two consumers each read the whole shard (1 MiB each, within their own 2 MiB/s).
    for name in ["a", "b"] {
        let arn = engine
            .register_stream_consumer("s", name, &BTreeMap::new())
            .unwrap()
            .arn;
        let mut sub = engine
            .subscribe_to_shard(&arn, shard, StartingPosition::TrimHorizon)
            .unwrap();
        let (records, _) = drain(&mut sub);
        assert_eq!(records.len(), 10, "consumer {name}");
    }
    // The shard's 5 GetRecords calls per second are all still there.
    let it = engine
        .get_shard_iterator("s", shard, StartingPosition::Latest)
        .unwrap();
    for _ in 0..5 {
        engine.get_records(&it, Some(1)).unwrap();
    }
    let err = engine.get_records(&it, Some(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProvisionedThroughputExceeded);
}

/// A consumer follows a shard through a split and a merge by subscribing to each shard
/// in lineage order (parents drained before children, as Kinesis consumers do); every
/// record arrives once and each key's records in put order.
#[test]
fn subscribe_across_split_and_merge_keeps_per_key_order() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(tmp.path(), &clock, 0);
    engine.create_stream("s", 1).unwrap();
    let arn = engine
        .register_stream_consumer("s", "app", &BTreeMap::new())
        .unwrap()
        .arn;
    let keys: Vec<String> = (0..40).map(|i| format!("key-{i}")).collect();
    let mut expected: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    let mut round = 0u32;
    let mut put_round = |engine: &Engine| {
        let entries: Vec<(String, Vec<u8>)> = keys
            .iter()
            .map(|k| (k.clone(), format!("{k}#{round}").into_bytes()))
            .collect();
        let batch: Vec<PutRecordsEntry<'_>> = entries
            .iter()
            .map(|(k, d)| PutRecordsEntry {
                partition_key: k,
                data: d,
                explicit_hash_key: None,
            })
            .collect();
        let out = engine.put_records("s", &batch, None).unwrap();
        assert_eq!(out.failed_record_count, 0);
        for (k, d) in entries {
            expected.entry(k).or_default().push(d);
        }
        round += 1;
    };
    put_round(&engine);
    let parent = engine.describe_stream("s").unwrap().shards[0].clone();
    let middle =
        parent.hash_range.start + (parent.hash_range.end - parent.hash_range.start) / 2 + 1;
    put_round(&engine);
    engine
        .split_shard("s", &parent.shard_id, &middle.to_string())
        .unwrap();
    put_round(&engine);
    let children: Vec<String> = engine
        .list_shards("s", tidelog::engine::ShardFilter::AtLatest)
        .unwrap()
        .into_iter()
        .map(|s| s.shard_id)
        .collect();
    assert_eq!(children.len(), 2);
    put_round(&engine);
    engine
        .merge_shards("s", &children[0], &children[1])
        .unwrap();
    put_round(&engine);

    let mut got: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    let mut read = |shard: &str| -> Vec<String> {
        clock.advance_ms(5_000);
        let mut sub = engine
            .subscribe_to_shard(&arn, shard, StartingPosition::TrimHorizon)
            .unwrap();
        let (records, last) = drain(&mut sub);
        for (_, k, d) in records {
            got.entry(k).or_default().push(d);
        }
        match last {
            Some(FanoutEvent::Event(e)) => {
                assert!(
                    e.continuation_sequence_number.is_none(),
                    "last event of a closed shard"
                );
                assert!(e.records.is_empty());
                assert!(matches!(
                    sub.next(Duration::from_millis(10)).unwrap(),
                    FanoutEvent::End
                ));
                e.child_shards.into_iter().map(|c| c.shard_id).collect()
            }
            None => Vec::new(), // an open shard: caught up
            Some(other) => panic!("{other:?}"),
        }
    };
    let kids = read(&parent.shard_id);
    assert_eq!(kids, children, "the split's children, at the parent's end");
    let mut merged = Vec::new();
    for child in &kids {
        merged = read(child);
    }
    assert_eq!(merged.len(), 1, "the merge's child");
    assert!(read(&merged[0]).is_empty());
    assert_eq!(got, expected, "every record once, each key in put order");
}
