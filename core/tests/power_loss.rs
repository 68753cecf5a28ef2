//! Power-loss simulation: after a power cut at a random moment (unsynced writes lost,
//! reordered or torn, unsynced directory changes partly applied), reopening succeeds and
//! every record whose sync completed is present, intact and in order; nothing that was
//! never appended appears; sequence numbers of a new run are above every earlier one.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::*;
use tidelog::io::sim::SimRng;
use tidelog::io::{SimStorage, Storage};
use tidelog::log::{Log, LogConfig, WriteVia};
use tidelog::{Durability, Engine, Limits, PutOptions};

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes_initial: 16 << 10,
        segment_bytes_max: 32 << 10,
        ..LogConfig::default()
    }
}

fn record_data(seq: u128) -> Vec<u8> {
    payload(seq as u64, (seq as usize * 131) % 3000)
}

/// Appends, syncs and rolls at random, then cuts the power; repeated over generations.
#[test]
fn log_survives_power_cuts_at_random_moments() {
    let dir = Path::new("/shard");
    let mut total_cuts = 0;
    let mut torn = 0;
    for seed in 0..60u64 {
        let mut rng = SimRng::new(seed);
        let mut storage = SimStorage::new();
        // Every record ever appended, by sequence number; and the durable ones.
        let mut appended: BTreeMap<u128, Vec<u8>> = BTreeMap::new();
        let mut synced_through: Option<u128> = None;
        let mut next_seq = 1u128;
        for generation in 0..4 {
            let shared: Arc<dyn Storage> = Arc::new(storage.clone());
            let (mut log, _) =
                Log::open(shared, dir, ID, log_config()).expect("reopen after a power cut");
            // What recovery kept: a prefix of what was appended, covering every synced
            // record, with exactly the bytes appended.
            let kept = read_all(&log);
            for (seq, _, key, data) in &kept {
                assert_eq!(key, "key", "seed {seed} gen {generation}");
                assert_eq!(
                    appended.get(seq),
                    Some(data),
                    "seed {seed} gen {generation}: record {seq} was never appended like this"
                );
            }
            assert!(kept.windows(2).all(|w| w[0].0 < w[1].0));
            if let Some(through) = synced_through {
                let durable: Vec<u128> =
                    appended.keys().copied().filter(|s| *s <= through).collect();
                let found: Vec<u128> = kept.iter().map(|r| r.0).filter(|s| *s <= through).collect();
                assert_eq!(
                    found, durable,
                    "seed {seed} gen {generation}: a synced record is missing"
                );
            }
            // Forget what did not survive: it was never acknowledged.
            let survivors: BTreeMap<u128, Vec<u8>> =
                kept.iter().map(|r| (r.0, r.3.clone())).collect();
            appended = survivors;
            next_seq = next_seq.max(log.last_seq().map_or(1, |s| s + 1));
            // Work: appends through both write paths, syncs now and then, rolls.
            for _ in 0..rng.below(200) + 20 {
                let seq = next_seq;
                next_seq += 1 + rng.below(3) as u128;
                let via = if rng.below(3) == 0 {
                    WriteVia::Syscall
                } else {
                    WriteVia::Mapping
                };
                log.append_via(seq, seq as u64, "key", &record_data(seq), via)
                    .unwrap();
                appended.insert(seq, record_data(seq));
                if rng.below(10) == 0 {
                    log.sync().unwrap();
                    synced_through = log.last_seq();
                }
            }
            // The power goes: no close, no final sync.
            drop(log);
            let (rebooted, cut) = storage.power_cut(seed * 100 + generation).unwrap();
            total_cuts += 1;
            torn += cut.pages_torn;
            storage = rebooted;
        }
    }
    assert_eq!(total_cuts, 240);
    assert!(
        torn > 0,
        "some cuts tore pages (the simulation is doing its job)"
    );
}

#[test]
fn engine_survives_power_cuts_with_sync_acks_intact() {
    for seed in 0..12u64 {
        let mut rng = SimRng::new(seed + 1000);
        let mut storage = SimStorage::new();
        let data_dir = Path::new("/data");
        let mut acked: Vec<(String, u128, Vec<u8>)> = Vec::new();
        let mut max_seen: BTreeMap<String, u128> = BTreeMap::new();
        for generation in 0..3 {
            let mut config = engine_config(data_dir, None);
            config.storage = Arc::new(storage.clone());
            config.limits = Limits::unlimited();
            config.log = LogConfig {
                segment_bytes_initial: 16 << 10,
                segment_bytes_max: 32 << 10,
                ..LogConfig::default()
            };
            let engine = Engine::open(config)
                .unwrap_or_else(|e| panic!("seed {seed} gen {generation}: {e}"));
            if generation == 0 {
                engine.create_stream("s", 3).unwrap();
            }
            // Every sync-acknowledged record is there, intact.
            let shards: Vec<String> = engine
                .describe_stream("s")
                .unwrap()
                .shards
                .iter()
                .map(|s| s.shard_id.clone())
                .collect();
            let mut present: BTreeMap<(String, u128), Vec<u8>> = BTreeMap::new();
            for shard in &shards {
                for (seq, data) in read_shard(&engine, "s", shard) {
                    present.insert((shard.clone(), seq), data);
                }
            }
            for (shard, seq, data) in &acked {
                assert_eq!(
                    present.get(&(shard.clone(), *seq)),
                    Some(data),
                    "seed {seed} gen {generation}: acked {seq} lost"
                );
            }
            for (shard, seq) in present.keys() {
                let max = max_seen.entry(shard.clone()).or_insert(0);
                *max = (*max).max(*seq);
            }
            // New work: sync and os puts; the os ones may be lost in the cut.
            for i in 0..(20 + rng.below(60)) {
                let key = format!("g{generation}-k{i}");
                let data = payload(rng.next_u64(), rng.below(2000) as usize);
                let sync = rng.below(2) == 0;
                let durability = if sync {
                    Durability::Sync
                } else {
                    Durability::Os
                };
                let out = engine
                    .put_record(
                        "s",
                        &key,
                        &data,
                        PutOptions {
                            durability: Some(durability),
                            ..Default::default()
                        },
                    )
                    .unwrap();
                // Numbers of this run are above everything an earlier run left.
                assert!(
                    out.sequence_number > max_seen.get(&out.shard_id).copied().unwrap_or(0),
                    "seed {seed}: number reused"
                );
                if sync {
                    acked.push((out.shard_id, out.sequence_number, data));
                }
            }
            engine.crash_for_testing();
            drop(engine);
            let (rebooted, _) = storage.power_cut(seed * 10 + generation).unwrap();
            storage = rebooted;
        }
    }
}

#[test]
fn the_catalog_is_old_or_new_after_a_power_cut() {
    for seed in 0..40u64 {
        let storage = SimStorage::new();
        let data_dir = Path::new("/data");
        let mut config = engine_config(data_dir, None);
        config.storage = Arc::new(storage.clone());
        let engine = Engine::open(config.clone()).unwrap();
        engine.create_stream("a", 1).unwrap();
        engine.create_stream("b", 2).unwrap();
        // A change in flight when the power goes.
        let _ = engine.split_shard("b", "shardId-000000000000", "1000");
        engine.crash_for_testing();
        drop(engine);
        let (rebooted, _) = storage.power_cut(seed).unwrap();
        config.storage = Arc::new(rebooted);
        let engine = Engine::open(config).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let names = engine.list_streams(None, None).unwrap().names;
        assert_eq!(
            names,
            vec!["a", "b"],
            "seed {seed}: created streams survive"
        );
        let shards = engine.describe_stream("b").unwrap().shards.len();
        assert!(
            shards == 2 || shards == 4,
            "seed {seed}: the split is all there or not at all ({shards})"
        );
        engine
            .put_record("b", "k", b"after", PutOptions::default())
            .unwrap();
    }
}
