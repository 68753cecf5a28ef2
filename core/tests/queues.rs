//! Kinesis queues on the engine: delivery, visibility on a manual clock, acknowledgement,
//! redelivery, dead letters and their calls, retention, resharding mid-queue, restart,
//! long polling, the stream rules, and bad input. Every expectation is computed here
//! from what the test put and did, never copied from an answer.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tidelog::engine::{
    CreateQueueOptions, CreateStreamOptions, DeadLetterConfig, QueueAttributes, QueueRecord,
    QueueStatus, QueueStreamFilter, ReceiveOptions, VisibilityEntry,
};
use tidelog::queue::QueueStart;
use tidelog::stream::catalog::StreamMode;
use tidelog::{Engine, ErrorKind, ManualClock, PutOptions};

const T0: u64 = 1_700_000_000_000;

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Engine {
    open_with(dir, clock, |_| {})
}

fn open_with(
    dir: &std::path::Path,
    clock: &Arc<ManualClock>,
    tweak: impl FnOnce(&mut tidelog::EngineConfig),
) -> Engine {
    let mut config = engine_config(dir, Some(clock.clone()));
    config.limits = tidelog::Limits::unlimited();
    tweak(&mut config);
    Engine::open(config).unwrap()
}

/// An ON_DEMAND stream (4 shards, each a quarter of the hash keys).
fn on_demand(engine: &Engine, name: &str) -> String {
    engine
        .create_stream_with(name, CreateStreamOptions::on_demand())
        .unwrap();
    engine.stream_arn(name)
}

/// An explicit hash key inside the `i`-th quarter of the key space.
fn key_in_quarter(i: u32) -> String {
    ((u128::from(i) << 126) + 12_345).to_string()
}

/// Puts `data` into the quarter-`quarter` shard; returns its sequence number.
fn put(engine: &Engine, stream: &str, quarter: u32, data: &[u8]) -> u128 {
    let hash = key_in_quarter(quarter);
    engine
        .put_record(
            stream,
            &format!("k{quarter}"),
            data,
            PutOptions {
                explicit_hash_key: Some(&hash),
                ..PutOptions::default()
            },
        )
        .unwrap()
        .sequence_number
}

fn queue(
    engine: &Engine,
    name: &str,
    stream_arn: &str,
    start: QueueStart,
    attrs: QueueAttributes,
) -> String {
    let mut options = CreateQueueOptions::new(stream_arn);
    options.start = start;
    options.attributes = attrs;
    engine.create_queue(name, options).unwrap().arn
}

fn attrs(visibility_s: u32, max_receive: Option<u32>) -> QueueAttributes {
    QueueAttributes {
        visibility_timeout_s: Some(visibility_s),
        dead_letter: Some(match max_receive {
            Some(max_receive_count) => DeadLetterConfig::BuiltIn { max_receive_count },
            None => DeadLetterConfig::Disabled,
        }),
    }
}

fn receive(engine: &Engine, arn: &str, limit: usize) -> Vec<QueueRecord> {
    engine
        .receive_queue_records(
            arn,
            ReceiveOptions {
                limit: Some(limit),
                ..ReceiveOptions::default()
            },
        )
        .unwrap()
}

fn receive_dead(engine: &Engine, arn: &str, limit: usize) -> Vec<QueueRecord> {
    engine
        .receive_dead_letter_queue_records(
            arn,
            ReceiveOptions {
                limit: Some(limit),
                ..ReceiveOptions::default()
            },
        )
        .unwrap()
}

fn seqs(records: &[QueueRecord]) -> BTreeSet<u128> {
    records.iter().map(|r| r.sequence_number).collect()
}

fn handles(records: &[QueueRecord]) -> Vec<String> {
    records.iter().map(|r| r.receipt_handle.clone()).collect()
}

#[test]
fn delivery_visibility_ack_and_redelivery_on_a_manual_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    let arn = on_demand(&engine, "s");
    let q = queue(&engine, "q", &arn, QueueStart::Latest, attrs(30, Some(6)));
    // LATEST: a record put before the queue is not delivered... (put after creation)
    let mut put_order: Vec<(u32, u128, Vec<u8>)> = Vec::new();
    for round in 0..3u8 {
        for quarter in 0..4u32 {
            let data = vec![round, quarter as u8];
            let seq = put(&engine, "s", quarter, &data);
            put_order.push((quarter, seq, data));
        }
    }
    let all: BTreeSet<u128> = put_order.iter().map(|(_, s, _)| *s).collect();
    let by_seq: HashMap<u128, Vec<u8>> =
        put_order.iter().map(|(_, s, d)| (*s, d.clone())).collect();

    let first = receive(&engine, &q, 10);
    assert_eq!(first.len(), 10);
    // Fair over shards: 3 records in each of 4 shards, 10 taken: 3, 3, 2, 2.
    let mut per_shard: BTreeMap<String, Vec<u128>> = BTreeMap::new();
    for r in &first {
        per_shard
            .entry(r.shard_id.clone())
            .or_default()
            .push(r.sequence_number);
        assert_eq!(r.data, by_seq[&r.sequence_number]);
        assert_eq!(r.record_id, r.sequence_number.to_string());
        assert_eq!(r.receive_count, 1);
        assert_eq!(r.first_receive_ms, T0);
    }
    let mut counts: Vec<usize> = per_shard.values().map(Vec::len).collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![2, 2, 3, 3]);
    // Oldest first per shard: each shard's records are its smallest sequence numbers.
    for (shard, got) in &per_shard {
        let quarter: u32 = shard.trim_start_matches("shardId-").parse().unwrap();
        let expected: Vec<u128> = put_order
            .iter()
            .filter(|(q, _, _)| *q == quarter)
            .map(|(_, s, _)| *s)
            .take(got.len())
            .collect();
        assert_eq!(got, &expected, "{shard}");
    }
    let second = receive(&engine, &q, 10);
    assert_eq!(second.len(), 2);
    let delivered: BTreeSet<u128> = seqs(&first).union(&seqs(&second)).copied().collect();
    assert_eq!(delivered, all);
    // All in flight: nothing visible.
    assert!(receive(&engine, &q, 10).is_empty());

    // Acknowledge five of them.
    let acked: Vec<&QueueRecord> = first.iter().take(5).collect();
    let ack_handles: Vec<String> = acked.iter().map(|r| r.receipt_handle.clone()).collect();
    let out = engine.acknowledge_queue_records(&q, &ack_handles).unwrap();
    assert_eq!(out.successful, ack_handles);
    assert!(out.failed.is_empty());
    let acked_seqs: BTreeSet<u128> = acked.iter().map(|r| r.sequence_number).collect();

    // Just before the timeout nothing is back; just after, everything unacknowledged.
    clock.advance_ms(29_999);
    assert!(receive(&engine, &q, 10).is_empty());
    clock.advance_ms(1);
    let mut again = receive(&engine, &q, 10);
    again.extend(receive(&engine, &q, 10));
    let expected: BTreeSet<u128> = all.difference(&acked_seqs).copied().collect();
    assert_eq!(seqs(&again), expected);
    for r in &again {
        assert_eq!(r.receive_count, 2);
        assert_eq!(r.first_receive_ms, T0);
    }
    // The handles of the first delivery expired: the record was received again.
    let stale: Vec<String> = first
        .iter()
        .chain(&second)
        .filter(|r| !acked_seqs.contains(&r.sequence_number))
        .take(3)
        .map(|r| r.receipt_handle.clone())
        .collect();
    let out = engine.acknowledge_queue_records(&q, &stale).unwrap();
    assert!(out.successful.is_empty());
    assert_eq!(out.failed.len(), 3);
    assert!(
        out.failed
            .iter()
            .all(|f| f.kind == ErrorKind::InvalidArgument)
    );
    // Acknowledging the same record twice: the second finds nothing.
    let out = engine
        .acknowledge_queue_records(
            &q,
            &[
                again[0].receipt_handle.clone(),
                again[0].receipt_handle.clone(),
            ],
        )
        .unwrap();
    assert_eq!(out.successful.len(), 1);
    assert_eq!(out.failed[0].kind, ErrorKind::ResourceNotFound);

    // A per-receive visibility timeout of 0 makes the record visible at once; a
    // visibility update extends or shortens it.
    clock.advance_ms(30_000);
    let r = engine
        .receive_queue_records(
            &q,
            ReceiveOptions {
                limit: Some(1),
                visibility_timeout_s: Some(100),
                ..ReceiveOptions::default()
            },
        )
        .unwrap();
    assert_eq!(r.len(), 1);
    let out = engine
        .update_queue_records_visibility(
            &q,
            &[VisibilityEntry {
                receipt_handle: r[0].receipt_handle.clone(),
                visibility_timeout_s: 0,
            }],
        )
        .unwrap();
    assert_eq!(out.successful.len(), 1);
    let back = receive(&engine, &q, 10);
    assert!(seqs(&back).contains(&r[0].sequence_number));
    engine.close().unwrap();
}

#[test]
fn latest_skips_earlier_records_and_trim_horizon_takes_them() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    let arn = on_demand(&engine, "s");
    let before: BTreeSet<u128> = (0..4).map(|q| put(&engine, "s", q, b"old")).collect();
    let latest = queue(
        &engine,
        "latest",
        &arn,
        QueueStart::Latest,
        QueueAttributes::default(),
    );
    let horizon = queue(
        &engine,
        "horizon",
        &arn,
        QueueStart::TrimHorizon,
        QueueAttributes::default(),
    );
    clock.advance_ms(5);
    let at = queue(
        &engine,
        "at",
        &arn,
        QueueStart::AtTimestamp(T0 + 5),
        QueueAttributes::default(),
    );
    let after: BTreeSet<u128> = (0..4).map(|q| put(&engine, "s", q, b"new")).collect();
    assert_eq!(seqs(&receive(&engine, &latest, 10)), after);
    assert_eq!(seqs(&receive(&engine, &at, 10)), after);
    let everything: BTreeSet<u128> = before.union(&after).copied().collect();
    assert_eq!(seqs(&receive(&engine, &horizon, 10)), everything);
    engine.close().unwrap();
}

#[test]
fn dead_letters_their_calls_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    let arn = on_demand(&engine, "s");
    let q = queue(
        &engine,
        "q",
        &arn,
        QueueStart::TrimHorizon,
        attrs(10, Some(2)),
    );
    let put_seqs: BTreeSet<u128> = (0..3).map(|i| put(&engine, "s", i, &[i as u8])).collect();

    // Two receives without an acknowledgement...
    assert_eq!(seqs(&receive(&engine, &q, 10)), put_seqs);
    assert!(receive_dead(&engine, &q, 10).is_empty());
    clock.advance_ms(10_000);
    let second = receive(&engine, &q, 10);
    assert_eq!(seqs(&second), put_seqs);
    assert!(second.iter().all(|r| r.receive_count == 2));
    clock.advance_ms(10_000);
    // ...and they are dead letters: the normal path does not see them.
    assert!(receive(&engine, &q, 10).is_empty());
    let dead = receive_dead(&engine, &q, 10);
    assert_eq!(seqs(&dead), put_seqs);
    assert!(
        dead.iter()
            .all(|r| r.receive_count == 3 && r.first_receive_ms == T0)
    );
    // In flight as dead letters too.
    assert!(receive_dead(&engine, &q, 10).is_empty());

    // A normal handle does not work with the dead-letter calls, nor the reverse.
    let out = engine
        .acknowledge_dead_letter_queue_records(&q, &[second[0].receipt_handle.clone()])
        .unwrap();
    assert_eq!(out.failed[0].kind, ErrorKind::InvalidArgument);
    let out = engine
        .acknowledge_queue_records(&q, &[dead[0].receipt_handle.clone()])
        .unwrap();
    assert_eq!(out.failed[0].kind, ErrorKind::InvalidArgument);

    // Dead-letter visibility: back at once with 0.
    let out = engine
        .update_dead_letter_queue_records_visibility(
            &q,
            &[VisibilityEntry {
                receipt_handle: dead[0].receipt_handle.clone(),
                visibility_timeout_s: 0,
            }],
        )
        .unwrap();
    assert_eq!(out.successful.len(), 1);
    let dead_again = receive_dead(&engine, &q, 10);
    assert_eq!(seqs(&dead_again), BTreeSet::from([dead[0].sequence_number]));

    // Acknowledge one dead letter, restore another.
    let out = engine
        .acknowledge_dead_letter_queue_records(&q, &[dead_again[0].receipt_handle.clone()])
        .unwrap();
    assert_eq!(out.successful.len(), 1);
    let out = engine
        .restore_dead_letter_queue_records(&q, &[dead[1].receipt_handle.clone()])
        .unwrap();
    assert_eq!(out.successful.len(), 1);
    // The restore's handle is spent; restoring again fails.
    let out = engine
        .restore_dead_letter_queue_records(&q, &[dead[1].receipt_handle.clone()])
        .unwrap();
    assert_eq!(out.failed[0].kind, ErrorKind::InvalidArgument);
    let restored = receive(&engine, &q, 10);
    assert_eq!(seqs(&restored), BTreeSet::from([dead[1].sequence_number]));
    assert_eq!(restored[0].receive_count, 1);
    // The third stays a dead letter; after its timeout it comes back there only.
    clock.advance_ms(10_000);
    assert_eq!(
        seqs(&receive_dead(&engine, &q, 10)),
        BTreeSet::from([dead[2].sequence_number])
    );

    // With dead-letter handling off, records are redelivered past any count.
    let q2 = queue(&engine, "q2", &arn, QueueStart::TrimHorizon, attrs(1, None));
    for round in 1..=8 {
        let got = receive(&engine, &q2, 10);
        assert_eq!(seqs(&got), put_seqs);
        assert!(got.iter().all(|r| r.receive_count == round));
        clock.advance_ms(1_000);
    }
    assert!(receive_dead(&engine, &q2, 10).is_empty());
    engine.close().unwrap();
}

#[test]
fn records_past_retention_are_not_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    let arn = on_demand(&engine, "s");
    let q = queue(
        &engine,
        "q",
        &arn,
        QueueStart::TrimHorizon,
        attrs(60, Some(6)),
    );
    let early: BTreeSet<u128> = (0..4).map(|i| put(&engine, "s", i, b"early")).collect();
    let got = receive(&engine, &q, 2);
    assert_eq!(got.len(), 2);
    clock.advance_ms(12 * 3_600_000);
    let late: BTreeSet<u128> = (0..4).map(|i| put(&engine, "s", i, b"late")).collect();
    // 24 h and a bit after the early records: they are past retention, the late ones
    // are not.
    clock.advance_ms(12 * 3_600_000 + 1);
    let mut delivered = BTreeSet::new();
    loop {
        let batch = receive(&engine, &q, 10);
        if batch.is_empty() {
            break;
        }
        delivered.extend(seqs(&batch));
    }
    assert_eq!(delivered, late);
    assert!(early.is_disjoint(&delivered));
    // The handles of expired records find nothing.
    let out = engine
        .acknowledge_queue_records(&q, &handles(&got))
        .unwrap();
    assert_eq!(out.failed.len(), 2);
    assert!(
        out.failed
            .iter()
            .all(|f| f.kind == ErrorKind::ResourceNotFound)
    );
    engine.close().unwrap();
}

#[test]
fn resharding_mid_queue_delivers_parents_before_children() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    let arn = on_demand(&engine, "s");
    let q = queue(&engine, "q", &arn, QueueStart::TrimHorizon, attrs(60, None));
    let mut shard_of: HashMap<u128, String> = HashMap::new();
    for i in 0..16u32 {
        let seq = put(&engine, "s", i % 4, b"before");
        shard_of.insert(seq, format!("{:012}", i % 4));
    }
    // Part of the parents' records now, the rest after the split.
    let mut order: Vec<u128> = Vec::new();
    let first = receive(&engine, &q, 6);
    order.extend(first.iter().map(|r| r.sequence_number));
    engine
        .acknowledge_queue_records(&q, &handles(&first))
        .unwrap();

    engine.update_account_settings(true).unwrap();
    engine.update_stream_warm_throughput("s", 8).unwrap();
    let shards = engine.describe_stream("s").unwrap().shards;
    assert!(shards.len() > 4, "the stream was split");
    let parents: HashMap<String, Vec<String>> = shards
        .iter()
        .map(|s| {
            (
                s.shard_id.clone(),
                s.parent_shard_id
                    .iter()
                    .chain(&s.adjacent_parent_shard_id)
                    .cloned()
                    .collect(),
            )
        })
        .collect();
    let mut after = BTreeSet::new();
    for i in 0..32u32 {
        let hash = ((u128::from(i) << 123) + 99).to_string();
        let out = engine
            .put_record(
                "s",
                "x",
                b"after",
                PutOptions {
                    explicit_hash_key: Some(&hash),
                    ..PutOptions::default()
                },
            )
            .unwrap();
        after.insert(out.sequence_number);
        shard_of.insert(
            out.sequence_number,
            out.shard_id.trim_start_matches("shardId-").to_string(),
        );
    }
    loop {
        let batch = receive(&engine, &q, 10);
        if batch.is_empty() {
            break;
        }
        for r in &batch {
            assert_eq!(
                r.shard_id,
                format!("shardId-{}", shard_of[&r.sequence_number])
            );
        }
        order.extend(batch.iter().map(|r| r.sequence_number));
        engine
            .acknowledge_queue_records(&q, &handles(&batch))
            .unwrap();
    }
    assert_eq!(order.len(), 48, "every record once");
    assert_eq!(order.iter().collect::<BTreeSet<_>>().len(), 48);
    // Every record of a parent comes before any record of its children.
    let position: HashMap<u128, usize> = order.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    for (&seq, shard) in &shard_of {
        for parent in &parents[&format!("shardId-{shard}")] {
            let parent = parent.trim_start_matches("shardId-");
            for (&pseq, pshard) in &shard_of {
                if pshard == parent {
                    assert!(
                        position[&pseq] < position[&seq],
                        "{pseq} of {parent} before {seq} of {shard}"
                    );
                }
            }
        }
    }
    engine.close().unwrap();
}

#[test]
fn restart_keeps_definitions_and_delivery_state() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    let arn = on_demand(&engine, "s");
    let q = queue(
        &engine,
        "q",
        &arn,
        QueueStart::TrimHorizon,
        attrs(30, Some(6)),
    );
    let dq = queue(
        &engine,
        "dq",
        &arn,
        QueueStart::TrimHorizon,
        attrs(5, Some(1)),
    );
    let all: BTreeSet<u128> = (0..8)
        .map(|i| put(&engine, "s", i % 4, &[i as u8]))
        .collect();
    let got = receive(&engine, &q, 8);
    assert_eq!(seqs(&got), all);
    let (acked, kept) = got.split_at(3);
    engine
        .acknowledge_queue_records(&q, &handles(acked))
        .unwrap();
    assert_eq!(receive(&engine, &dq, 10).len(), 8);
    clock.advance_ms(5_000);
    assert!(receive(&engine, &dq, 10).is_empty(), "all dead letters now");
    let description = engine.describe_queue(&q).unwrap();
    engine.close().unwrap();

    let engine = open(dir.path(), &clock);
    assert_eq!(engine.describe_queue(&q).unwrap(), description);
    // Still in flight; an old handle still works.
    assert!(receive(&engine, &q, 10).is_empty());
    let out = engine
        .acknowledge_queue_records(&q, &[kept[0].receipt_handle.clone()])
        .unwrap();
    assert_eq!(out.successful.len(), 1);
    clock.advance_ms(30_000);
    let back = receive(&engine, &q, 10);
    let expected: BTreeSet<u128> = kept[1..].iter().map(|r| r.sequence_number).collect();
    assert_eq!(
        seqs(&back),
        expected,
        "acknowledged records never come back"
    );
    assert!(back.iter().all(|r| r.receive_count == 2));
    assert_eq!(seqs(&receive_dead(&engine, &dq, 10)), all);
    engine.close().unwrap();

    // A torn tail in the journal is dropped; what was before it is kept.
    let journal = std::fs::read_dir(dir.path().join("queues"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "journal"))
        .unwrap();
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&journal, bytes).unwrap();
    let engine = open(dir.path(), &clock);
    assert_eq!(engine.list_queues(None, None, &[]).unwrap().queues.len(), 2);
    clock.advance_ms(30_000);
    assert_eq!(seqs(&receive(&engine, &q, 10)), expected);
    engine.close().unwrap();
}

#[test]
fn long_poll_wakes_when_a_record_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    let arn = on_demand(&engine, "s");
    let q = queue(
        &engine,
        "q",
        &arn,
        QueueStart::Latest,
        QueueAttributes::default(),
    );
    // On a manual clock the wait's 20 s never pass: only the put can end it.
    let waiter = {
        let engine = engine.clone();
        let q = q.clone();
        std::thread::spawn(move || {
            engine
                .receive_queue_records(
                    &q,
                    ReceiveOptions {
                        limit: Some(10),
                        wait: Duration::from_secs(20),
                        visibility_timeout_s: None,
                    },
                )
                .unwrap()
        })
    };
    let seq = put(&engine, "s", 2, b"wake");
    let got = waiter.join().unwrap();
    assert_eq!(seqs(&got), BTreeSet::from([seq]));

    // An acknowledgement-free wake: a visibility change to 0 wakes a waiter too.
    let waiter = {
        let engine = engine.clone();
        let q = q.clone();
        std::thread::spawn(move || {
            engine
                .receive_queue_records(
                    &q,
                    ReceiveOptions {
                        limit: Some(10),
                        wait: Duration::from_secs(20),
                        visibility_timeout_s: None,
                    },
                )
                .unwrap()
        })
    };
    engine
        .update_queue_records_visibility(
            &q,
            &[VisibilityEntry {
                receipt_handle: got[0].receipt_handle.clone(),
                visibility_timeout_s: 0,
            }],
        )
        .unwrap();
    let again = waiter.join().unwrap();
    assert_eq!(seqs(&again), BTreeSet::from([seq]));
    engine.close().unwrap();
}

#[test]
fn stream_rules_statuses_listing_and_tags() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open_with(dir.path(), &clock, |c| {
        c.consumers_per_stream_max = 2;
        c.consumer_transition = Duration::from_secs(5);
    });
    engine.create_stream("prov", 1).unwrap();
    let err = engine
        .create_queue("q", CreateQueueOptions::new(engine.stream_arn("prov")))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    let arn = on_demand(&engine, "s");
    let other = on_demand(&engine, "t");
    let created = engine
        .create_queue("b", CreateQueueOptions::new(arn.clone()))
        .unwrap();
    assert_eq!(created.status, QueueStatus::Creating);
    assert_eq!(created.start_timestamp_ms, None);
    let b = created.arn;
    assert!(b.starts_with("arn:aws:kinesis:local:000000000000:queue/"));
    let err = engine
        .create_queue("b", CreateQueueOptions::new(other.clone()))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceInUse);
    // CREATING: no deliveries yet.
    let err = engine
        .receive_queue_records(&b, ReceiveOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    clock.advance_ms(5_000);
    let d = engine.describe_queue(&b).unwrap();
    assert_eq!(d.status, QueueStatus::Active);
    assert_eq!(d.start_timestamp_ms, Some(T0));
    assert_eq!(d.visibility_timeout_s, 30);
    assert_eq!(
        d.dead_letter,
        DeadLetterConfig::BuiltIn {
            max_receive_count: 6
        }
    );

    // One queue and one consumer fill a limit of 2.
    engine
        .register_stream_consumer("s", "c", &BTreeMap::new())
        .unwrap();
    let err = engine
        .create_queue("a", CreateQueueOptions::new(arn.clone()))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    let a = engine
        .create_queue("a", CreateQueueOptions::new(other.clone()))
        .unwrap()
        .arn;
    let c = engine
        .create_queue("c", CreateQueueOptions::new(other.clone()))
        .unwrap()
        .arn;

    // Queues are counted apart from consumers.
    let summary = engine.describe_stream_summary("t").unwrap();
    assert_eq!((summary.queue_count, summary.consumer_count), (2, 0));
    let summary = engine.describe_stream_summary("s").unwrap();
    assert_eq!((summary.queue_count, summary.consumer_count), (1, 1));

    // Listing: name order, pages, the stream filter.
    let page = engine.list_queues(Some(2), None, &[]).unwrap();
    let names: Vec<&str> = page.queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(page.has_more);
    let rest = engine.list_queues(Some(2), Some("b"), &[]).unwrap();
    assert_eq!(rest.queues.len(), 1);
    assert_eq!(rest.queues[0].arn, c);
    assert!(!rest.has_more);
    let on_t = engine
        .list_queues(
            None,
            None,
            &[QueueStreamFilter {
                stream_arn: other.clone(),
                stream_created_ms: None,
            }],
        )
        .unwrap();
    let arns: BTreeSet<String> = on_t.queues.iter().map(|q| q.arn.clone()).collect();
    assert_eq!(arns, BTreeSet::from([a.clone(), c.clone()]));
    let wrong_time = engine
        .list_queues(
            None,
            None,
            &[QueueStreamFilter {
                stream_arn: other.clone(),
                stream_created_ms: Some(1),
            }],
        )
        .unwrap();
    assert!(wrong_time.queues.is_empty());

    // Tags and policies by the queue's ARN.
    let tags: BTreeMap<String, String> = [("team".to_string(), "x".to_string())].into();
    engine.tag_resource(&b, &tags).unwrap();
    assert_eq!(engine.list_tags_for_resource(&b).unwrap(), tags);
    engine.untag_resource(&b, &["team".to_string()]).unwrap();
    assert!(engine.list_tags_for_resource(&b).unwrap().is_empty());

    // UpdateQueue: UPDATING for the transition, the new values right away.
    let updated = engine.update_queue(&b, attrs(7, None)).unwrap();
    assert_eq!(updated.status, QueueStatus::Updating);
    assert_eq!(updated.visibility_timeout_s, 7);
    assert_eq!(updated.dead_letter, DeadLetterConfig::Disabled);
    let err = engine.update_queue(&b, attrs(8, None)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceInUse);
    clock.advance_ms(5_000);
    assert_eq!(
        engine.describe_queue(&b).unwrap().status,
        QueueStatus::Active
    );

    // A stream with queues is neither deleted nor made PROVISIONED.
    let err = engine.delete_stream_with("s", true).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceInUse);
    let err = engine
        .update_stream_mode("s", StreamMode::Provisioned, None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceInUse);

    // DeleteQueue: gone for every call at once; the stream can go after the transition.
    let seq = put(&engine, "s", 0, b"x");
    let got = receive(&engine, &b, 10);
    assert_eq!(seqs(&got), BTreeSet::from([seq]));
    engine.delete_queue(&b).unwrap();
    for err in [
        engine.describe_queue(&b).unwrap_err(),
        engine.delete_queue(&b).unwrap_err(),
        engine
            .acknowledge_queue_records(&b, &handles(&got))
            .unwrap_err(),
        engine
            .receive_queue_records(&b, ReceiveOptions::default())
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::ResourceNotFound, "{err}");
    }
    assert_eq!(
        engine.delete_stream_with("s", true).unwrap_err().kind(),
        ErrorKind::ResourceInUse
    );
    clock.advance_ms(5_000);
    // The maintenance thread may prune it first; either way it is gone now.
    engine.prune_queues().unwrap();
    engine.delete_stream_with("s", true).unwrap();
    // A queue of the same name may be created again, with another ARN.
    let third = on_demand(&engine, "u");
    let again = engine
        .create_queue("b", CreateQueueOptions::new(third))
        .unwrap();
    assert_ne!(again.arn, b);
    engine.close().unwrap();
}

#[test]
fn bad_input_is_refused_without_effect() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    let arn = on_demand(&engine, "s");
    let q = queue(
        &engine,
        "q",
        &arn,
        QueueStart::TrimHorizon,
        attrs(30, Some(6)),
    );
    let other = queue(
        &engine,
        "other",
        &arn,
        QueueStart::TrimHorizon,
        attrs(30, Some(6)),
    );
    put(&engine, "s", 1, b"one");
    let mine = receive(&engine, &q, 10);
    let theirs = receive(&engine, &other, 10);
    assert_eq!(mine.len(), 1);
    let h = mine[0].receipt_handle.clone();
    let mut tampered = h.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let garbage = [
        String::new(),
        "x".repeat(1024),
        "é".to_string(),
        tampered,
        h[..h.len() - 2].to_string(),
        theirs[0].receipt_handle.clone(),
    ];
    let out = engine.acknowledge_queue_records(&q, &garbage).unwrap();
    assert!(out.successful.is_empty());
    assert_eq!(out.failed.len(), garbage.len());
    assert!(
        out.failed
            .iter()
            .all(|f| f.kind == ErrorKind::InvalidArgument)
    );
    let out = engine
        .restore_dead_letter_queue_records(&q, &garbage)
        .unwrap();
    assert_eq!(out.failed.len(), garbage.len());
    // Whole-call refusals: entry counts, values out of range, ARNs.
    assert_eq!(
        engine
            .acknowledge_queue_records(&q, &[])
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
    assert_eq!(
        engine
            .acknowledge_queue_records(&q, &vec![h.clone(); 11])
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
    let too_long = VisibilityEntry {
        receipt_handle: h.clone(),
        visibility_timeout_s: 43_201,
    };
    assert_eq!(
        engine
            .update_queue_records_visibility(&q, &[too_long])
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
    for limit in [0, 11] {
        let err = engine
            .receive_queue_records(
                &q,
                ReceiveOptions {
                    limit: Some(limit),
                    ..ReceiveOptions::default()
                },
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
    }
    for bad_arn in [
        "",
        "queue",
        "arn:aws:kinesis:local:000000000000:queue/",
        &arn,
    ] {
        assert_eq!(
            engine.describe_queue(bad_arn).unwrap_err().kind(),
            ErrorKind::Validation,
            "{bad_arn:?}"
        );
    }
    for missing in [
        "arn:aws:kinesis:local:000000000000:queue/nope",
        "arn:aws:kinesis:local:000000000000:queue/00000000000000ff",
        "arn:aws:kinesis:elsewhere:000000000000:queue/00000000000000ff",
    ] {
        assert_eq!(
            engine.describe_queue(missing).unwrap_err().kind(),
            ErrorKind::ResourceNotFound
        );
    }
    let mut bad_attrs = CreateQueueOptions::new(arn.clone());
    bad_attrs.attributes = attrs(43_201, Some(6));
    assert_eq!(
        engine.create_queue("z", bad_attrs).unwrap_err().kind(),
        ErrorKind::Validation
    );
    let mut bad_attrs = CreateQueueOptions::new(arn.clone());
    bad_attrs.attributes = attrs(1, Some(1001));
    assert_eq!(
        engine.create_queue("z", bad_attrs).unwrap_err().kind(),
        ErrorKind::Validation
    );
    assert_eq!(
        engine
            .create_queue("bad name!", CreateQueueOptions::new(arn.clone()))
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
    // None of it changed anything: the record is in flight with its handle working.
    assert!(receive(&engine, &q, 10).is_empty());
    let out = engine.acknowledge_queue_records(&q, &[h]).unwrap();
    assert_eq!(out.successful.len(), 1);
    assert_eq!(engine.list_queues(None, None, &[]).unwrap().queues.len(), 2);
    engine.close().unwrap();
}

/// Under `sync` durability an acknowledgement is on disk before it is answered: after
/// a power cut at the end of each generation (unsynced writes lost or torn), no
/// acknowledged record is delivered again, and every record put and not acknowledged
/// is delivered again once its timeout passed.
#[test]
fn acknowledgements_survive_power_cuts() {
    use tidelog::io::SimStorage;
    use tidelog::io::sim::SimRng;
    for seed in 0..6u64 {
        let mut rng = SimRng::new(seed + 77);
        let mut storage = SimStorage::new();
        let clock = ManualClock::new(T0);
        let data_dir = std::path::Path::new("/data");
        let mut acked: BTreeSet<u128> = BTreeSet::new();
        let mut all: BTreeSet<u128> = BTreeSet::new();
        let mut q = String::new();
        for generation in 0..3 {
            let mut config = engine_config(data_dir, Some(clock.clone()));
            config.storage = Arc::new(storage.clone());
            config.limits = tidelog::Limits::unlimited();
            config.durability = tidelog::Durability::Sync;
            let engine = Engine::open(config)
                .unwrap_or_else(|e| panic!("seed {seed} gen {generation}: {e}"));
            if generation == 0 {
                let arn = on_demand(&engine, "s");
                q = queue(&engine, "q", &arn, QueueStart::TrimHorizon, attrs(30, None));
            }
            for i in 0..12u32 {
                all.insert(put(&engine, "s", i % 4, &[generation as u8, i as u8]));
            }
            clock.advance_ms(31_000);
            let mut got = Vec::new();
            loop {
                let batch = receive(&engine, &q, 10);
                if batch.is_empty() {
                    break;
                }
                got.extend(batch);
            }
            let expected: BTreeSet<u128> = all.difference(&acked).copied().collect();
            assert_eq!(seqs(&got), expected, "seed {seed} gen {generation}");
            let chosen: Vec<&QueueRecord> = got.iter().filter(|_| rng.below(2) == 0).collect();
            for chunk in chosen.chunks(10) {
                let hs: Vec<String> = chunk.iter().map(|r| r.receipt_handle.clone()).collect();
                let out = engine.acknowledge_queue_records(&q, &hs).unwrap();
                assert_eq!(out.successful.len(), hs.len());
                acked.extend(chunk.iter().map(|r| r.sequence_number));
            }
            engine.crash_for_testing();
            drop(engine);
            let (rebooted, _) = storage.power_cut(seed * 10 + generation).unwrap();
            storage = rebooted;
        }
    }
}
