//! Concurrency: many writer threads on many shards, readers and subscribers reading
//! while an admin thread reshards and changes tags; and open/close races. Checked:
//! nothing acknowledged is lost, every reader sees each shard in one order with no
//! duplicates, no call panics or hangs, a closing engine fails calls with `Closed`.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use tidelog::engine::ShardFilter;
use tidelog::{
    Durability, Engine, Error, Limits, PutOptions, PutRecordsEntry, StartingPosition,
    SubscriptionEvent,
};

#[test]
fn writers_readers_subscribers_and_reshards_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = engine_config(tmp.path(), None);
    config.limits = Limits::unlimited();
    let engine = Engine::open(config).unwrap();
    engine.create_stream("a", 4).unwrap();
    engine.create_stream("b", 2).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Progress so far (acks, reads, reshards), for deciding when the run has done enough.
    let progress = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let started = Instant::now();

    let writers: Vec<_> = (0..6)
        .map(|w| {
            let engine = engine.clone();
            let stop = Arc::clone(&stop);
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || {
                let mut acked: Vec<(String, String, u128, Vec<u8>)> = Vec::new();
                let mut counted = 0;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let stream = if i % 3 == 0 { "b" } else { "a" };
                    let durability = if i % 4 == 0 {
                        Durability::Sync
                    } else {
                        Durability::Os
                    };
                    if i % 10 == 0 {
                        let keys: Vec<String> = (0..5).map(|k| format!("w{w}-{i}-{k}")).collect();
                        let entries: Vec<PutRecordsEntry<'_>> = keys
                            .iter()
                            .map(|k| PutRecordsEntry {
                                partition_key: k,
                                data: k.as_bytes(),
                                explicit_hash_key: None,
                            })
                            .collect();
                        let out = engine
                            .put_records(stream, &entries, Some(durability))
                            .unwrap();
                        for (k, r) in keys.iter().zip(out.records) {
                            let r = r.unwrap();
                            acked.push((
                                stream.to_string(),
                                r.shard_id,
                                r.sequence_number,
                                k.clone().into_bytes(),
                            ));
                        }
                    } else {
                        let key = format!("w{w}-{i}");
                        let out = engine
                            .put_record(
                                stream,
                                &key,
                                key.as_bytes(),
                                PutOptions {
                                    durability: Some(durability),
                                    ..Default::default()
                                },
                            )
                            .unwrap();
                        acked.push((
                            stream.to_string(),
                            out.shard_id,
                            out.sequence_number,
                            key.into_bytes(),
                        ));
                    }
                    i += 1;
                    progress[0].fetch_add((acked.len() - counted) as u64, Ordering::Relaxed);
                    counted = acked.len();
                }
                acked
            })
        })
        .collect();

    let readers: Vec<_> = (0..3)
        .map(|r| {
            let engine = engine.clone();
            let stop = Arc::clone(&stop);
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let stream = if r % 2 == 0 { "a" } else { "b" };
                    let shards = engine.list_shards(stream, ShardFilter::All).unwrap();
                    let shard = &shards[reads as usize % shards.len()];
                    let records = read_shard(&engine, stream, &shard.shard_id);
                    assert!(
                        records.windows(2).all(|w| w[0].0 < w[1].0),
                        "{stream} {} out of order",
                        shard.shard_id
                    );
                    assert!(
                        records.iter().all(|(_, d)| d.starts_with(b"w")),
                        "foreign bytes in {}",
                        shard.shard_id
                    );
                    reads += 1;
                    progress[1].fetch_add(1, Ordering::Relaxed);
                }
                reads
            })
        })
        .collect();

    let subscribers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|stream| {
            let engine = engine.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                // One lineage-following subscription per root shard.
                let roots: Vec<String> = engine
                    .list_shards(stream, ShardFilter::All)
                    .unwrap()
                    .into_iter()
                    .map(|s| s.shard_id)
                    .collect();
                let mut subs: Vec<_> = roots
                    .iter()
                    .map(|s| {
                        engine
                            .subscribe(stream, s, StartingPosition::TrimHorizon, true)
                            .unwrap()
                    })
                    .collect();
                // Per subscription (two of them may both read a merge child).
                let mut seen: HashMap<(usize, String), Vec<u128>> = HashMap::new();
                while !stop.load(Ordering::Relaxed) {
                    for (i, sub) in subs.iter_mut().enumerate() {
                        if let SubscriptionEvent::Records { shard_id, batch } =
                            sub.next(Duration::from_millis(5)).unwrap()
                        {
                            seen.entry((i, shard_id))
                                .or_default()
                                .extend(batch.iter().map(|r| r.seq));
                        }
                    }
                }
                seen
            })
        })
        .collect();

    let admin = {
        let engine = engine.clone();
        let stop = Arc::clone(&stop);
        let progress = Arc::clone(&progress);
        std::thread::spawn(move || {
            let mut changes = 0;
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let open = engine.list_shards("a", ShardFilter::AtLatest).unwrap();
                let result = match n % 3 {
                    0 if open.len() < 8 => {
                        let s = &open[0];
                        let mid =
                            s.hash_range.start + (s.hash_range.end - s.hash_range.start) / 2 + 1;
                        engine.split_shard("a", &s.shard_id, &mid.to_string())
                    }
                    1 if open.len() > 2 => {
                        engine.merge_shards("a", &open[0].shard_id, &open[1].shard_id)
                    }
                    _ => engine
                        .update_shard_count(
                            "a",
                            if open.len() > 4 {
                                4
                            } else {
                                (open.len() as u32 * 2).min(8)
                            },
                            "UNIFORM_SCALING",
                        )
                        .map(|_| ()),
                };
                match result {
                    Ok(()) => {
                        changes += 1;
                        progress[2].fetch_add(1, Ordering::Relaxed);
                    }
                    Err(Error::StreamBusy { .. }) => {}
                    Err(e) => panic!("reshard failed: {e}"),
                }
                let tags = [(format!("k{}", n % 5), format!("v{n}"))]
                    .into_iter()
                    .collect();
                engine.add_tags_to_stream("b", &tags).unwrap();
                engine.describe_stream("a").unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(40));
            }
            changes
        })
    };

    // At least 2.5 s, and until every kind of work has happened (a loaded machine may
    // need longer for the checks below to have something to check); at most 120 s.
    let enough = || {
        progress[0].load(Ordering::Relaxed) > 100
            && progress[1].load(Ordering::Relaxed) > 0
            && progress[2].load(Ordering::Relaxed) > 0
    };
    while started.elapsed() < Duration::from_millis(2500)
        || (!enough() && started.elapsed() < Duration::from_secs(120))
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(String, String, u128, Vec<u8>)> = writers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let reads: u64 = readers.into_iter().map(|t| t.join().unwrap()).sum();
    let seen: Vec<HashMap<(usize, String), Vec<u128>>> =
        subscribers.into_iter().map(|t| t.join().unwrap()).collect();
    let changes = admin.join().unwrap();
    assert!(
        changes > 0 && reads > 0 && acked.len() > 100,
        "changes {changes}, reads {reads}, acks {}",
        acked.len()
    );

    // Nothing acknowledged is lost.
    let mut present: HashMap<(String, String), HashMap<u128, Vec<u8>>> = HashMap::new();
    for stream in ["a", "b"] {
        for shard in engine.list_shards(stream, ShardFilter::All).unwrap() {
            let records = read_shard(&engine, stream, &shard.shard_id);
            present.insert(
                (stream.to_string(), shard.shard_id.clone()),
                records.into_iter().collect(),
            );
        }
    }
    for (stream, shard, seq, data) in &acked {
        assert_eq!(
            present[&(stream.clone(), shard.clone())].get(seq),
            Some(data),
            "{stream} {shard} {seq} lost"
        );
    }
    // Subscribers saw each shard in order, without duplicates.
    for by_shard in &seen {
        for (shard, seqs) in by_shard {
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "subscriber saw {shard:?} out of order or twice"
            );
            let unique: HashSet<&u128> = seqs.iter().collect();
            assert_eq!(unique.len(), seqs.len());
        }
    }
    engine.close().unwrap();
}

#[test]
fn close_races_with_calls() {
    for round in 0..5 {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = engine_config(tmp.path(), None);
        config.limits = Limits::unlimited();
        let engine = Engine::open(config.clone()).unwrap();
        engine.create_stream("s", 2).unwrap();
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let engine = engine.clone();
                std::thread::spawn(move || {
                    let mut acked = Vec::new();
                    for i in 0..2000 {
                        let durability = if (i + t) % 2 == 0 {
                            Durability::Sync
                        } else {
                            Durability::Os
                        };
                        match engine.put_record(
                            "s",
                            &format!("{t}-{i}"),
                            b"x",
                            PutOptions {
                                durability: Some(durability),
                                ..Default::default()
                            },
                        ) {
                            Ok(out) => acked.push(out),
                            Err(Error::Closed) => break,
                            Err(e) => panic!("round {round}: {e}"),
                        }
                        if i % 50 == 0 {
                            match engine.get_shard_iterator(
                                "s",
                                "shardId-000000000000",
                                StartingPosition::Latest,
                            ) {
                                Ok(_) | Err(Error::Closed) => {}
                                Err(e) => panic!("round {round}: {e}"),
                            }
                        }
                    }
                    acked
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(10 + round * 7));
        let closer = {
            let engine = engine.clone();
            std::thread::spawn(move || engine.close())
        };
        engine.close().unwrap(); // two closes at once: both fine
        closer.join().unwrap().unwrap();
        let acked: Vec<_> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        drop(engine);
        let engine = Engine::open(config).unwrap();
        for ack in &acked {
            let records = read_shard(&engine, "s", &ack.shard_id);
            assert!(
                records.iter().any(|r| r.0 == ack.sequence_number),
                "round {round}: {ack:?} lost across close"
            );
        }
    }
}
