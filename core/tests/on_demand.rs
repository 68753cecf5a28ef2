//! On-demand capacity: a traffic ramp driven on a manual clock (no sleeping). The
//! stream grows by splitting hot shards until it can take twice its peak; no
//! acknowledged put is lost or reordered per key; the lineage is whole; the peak
//! survives a reopen; after 30 quiet days the stream shrinks back to 4 shards.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tidelog::engine::{CreateStreamOptions, OnDemandPolicy};
use tidelog::stream::catalog::ShardState;
use tidelog::{Engine, ErrorKind, ManualClock, PutRecordsEntry};

const T0: u64 = 1_700_000_000_000;
/// Per-shard write limit of the test: 100 records/s (small, so the ramp is cheap).
const SHARD_RECORDS_PER_SEC: u64 = 100;

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Engine {
    let mut config = engine_config(dir, Some(clock.clone()));
    config.limits = tidelog::Limits {
        write_records_per_sec: SHARD_RECORDS_PER_SEC,
        write_bytes_per_sec: 1 << 20,
        ..tidelog::Limits::unlimited()
    };
    config.on_demand = OnDemandPolicy {
        evaluation_interval: Duration::from_secs(10),
        ..OnDemandPolicy::default()
    };
    // The maintenance thread evaluates too (on the same manual clock); the test calls
    // the evaluation itself and looks at the shard count, whoever ran it.
    Engine::open(config).unwrap()
}

fn open_shards(engine: &Engine) -> u32 {
    engine
        .describe_stream_summary("d")
        .unwrap()
        .open_shard_count as u32
}

struct Producer {
    keys: Vec<String>,
    next_id: u64,
    accepted: HashMap<String, Vec<u64>>,
    offered: u64,
    refused: u64,
}

impl Producer {
    /// One second of `rate` records, spread over the keys; refused records are
    /// dropped (counted), accepted ones remembered per key in acceptance order.
    fn second(&mut self, engine: &Engine, rate: u64) -> u64 {
        let mut refused = 0;
        let mut left = rate;
        while left > 0 {
            let n = left.min(500);
            left -= n;
            let rows: Vec<(String, Vec<u8>, u64)> = (0..n)
                .map(|_| {
                    let id = self.next_id;
                    self.next_id += 1;
                    let key = self.keys[(id % self.keys.len() as u64) as usize].clone();
                    (key, id.to_le_bytes().to_vec(), id)
                })
                .collect();
            let entries: Vec<PutRecordsEntry<'_>> = rows
                .iter()
                .map(|(k, d, _)| PutRecordsEntry {
                    partition_key: k,
                    data: d,
                    explicit_hash_key: None,
                })
                .collect();
            let out = engine
                .put_records("d", &entries, Some(tidelog::Durability::Os))
                .unwrap();
            for ((key, _, id), result) in rows.iter().zip(out.records) {
                match result {
                    Ok(_) => self.accepted.entry(key.clone()).or_default().push(*id),
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::ProvisionedThroughputExceeded, "{e}");
                        refused += 1;
                    }
                }
            }
        }
        self.offered += rate;
        self.refused += refused;
        refused
    }
}

#[test]
fn a_traffic_ramp_grows_the_stream_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(tmp.path(), &clock);
    engine
        .create_stream_with("d", CreateStreamOptions::on_demand())
        .unwrap();
    assert_eq!(open_shards(&engine), 4);
    engine.scale_on_demand_streams().unwrap(); // the first look: the baseline
    let mut producer = Producer {
        keys: (0..400).map(|i| format!("device-{i}")).collect(),
        next_id: 0,
        accepted: HashMap::new(),
        offered: 0,
        refused: 0,
    };
    // Stages of 30 s (three evaluations) at doubling rates.
    let mut history = Vec::new();
    for rate in [100u64, 200, 400, 800, 1600] {
        let mut refused_last_interval = 0;
        for second in 0..30 {
            let refused = producer.second(&engine, rate);
            if second >= 20 {
                refused_last_interval += refused;
            }
            clock.advance_ms(1_000);
            if (second + 1) % 10 == 0 {
                engine.scale_on_demand_streams().unwrap();
            }
        }
        let needed = (2 * rate).div_ceil(SHARD_RECORDS_PER_SEC).max(4) as u32;
        let shards = open_shards(&engine);
        history.push((rate, shards, refused_last_interval));
        assert!(
            shards >= needed,
            "rate {rate}/s: {shards} shards, twice the peak needs {needed}"
        );
        assert!(
            shards <= needed * 2,
            "rate {rate}/s: {shards} shards is more than needed"
        );
    }
    eprintln!("(rate/s, open shards after 30 s, refused in the stage's last 10 s): {history:?}");
    assert_eq!(open_shards(&engine), 32);
    // Capacity followed the load: the last stage's final interval is (nearly)
    // unthrottled.
    let (_, _, refused_at_end) = history[4];
    assert!(
        refused_at_end < 1600 * 10 / 20,
        "{refused_at_end} of 16,000 refused after the stream grew"
    );

    // The lineage: every shard but the 4 first has a parent; children split their
    // parent's range exactly.
    let all = engine.describe_stream("d").unwrap().shards;
    for s in &all {
        match &s.parent_shard_id {
            None => assert!(s.shard_id.as_str() <= "shardId-000000000003"),
            Some(p) => {
                let parent = all.iter().find(|x| &x.shard_id == p).unwrap();
                assert_eq!(parent.state, ShardState::Closed);
                assert!(parent.hash_range.start <= s.hash_range.start);
                assert!(s.hash_range.end <= parent.hash_range.end);
            }
        }
    }

    // No acknowledged put lost, each key's records in acceptance order (shards read
    // in index order: along a key's lineage, parents come before children).
    let mut shards = all.clone();
    shards.sort_by(|a, b| a.shard_id.cmp(&b.shard_id));
    let mut got: HashMap<String, Vec<u64>> = HashMap::new();
    for s in &shards {
        for rec in read_keyed(&engine, &s.shard_id) {
            got.entry(rec.0).or_default().push(rec.1);
        }
    }
    assert_eq!(got, producer.accepted);
    let accepted: usize = producer.accepted.values().map(Vec::len).sum();
    assert_eq!(accepted as u64 + producer.refused, producer.offered);

    // The peak is durable: after a reopen, the quiet stream keeps its capacity.
    engine.close().unwrap();
    let engine = open(tmp.path(), &clock);
    clock.advance_ms(10_000);
    engine.scale_on_demand_streams().unwrap();
    clock.advance_ms(10_000);
    engine.scale_on_demand_streams().unwrap();
    assert_eq!(open_shards(&engine), 32, "sized by the remembered peak");

    // 31 quiet days later the peak is out of the window: it shrinks, halving per
    // evaluation, to 4.
    clock.advance_ms(31 * 86_400_000);
    for _ in 0..4 {
        engine.scale_on_demand_streams().unwrap();
        clock.advance_ms(10_000);
    }
    assert_eq!(open_shards(&engine), 4);
    let d = engine.describe_stream("d").unwrap();
    let merged = d
        .shards
        .iter()
        .filter(|s| s.adjacent_parent_shard_id.is_some())
        .count();
    assert!(
        merged >= 28,
        "scaling down merged adjacent shards ({merged} merges)"
    );
}

/// (key, id) of every record of a shard, read with GetRecords.
fn read_keyed(engine: &Engine, shard: &str) -> Vec<(String, u64)> {
    let mut it = engine
        .get_shard_iterator("d", shard, tidelog::StartingPosition::TrimHorizon)
        .unwrap();
    let mut out = Vec::new();
    loop {
        let got = engine.get_records(&it, None).unwrap();
        let empty = got.records.is_empty();
        out.extend(got.records.iter().map(|r| {
            (
                r.key_str().to_string(),
                u64::from_le_bytes(r.data.try_into().unwrap()),
            )
        }));
        match got.next_shard_iterator {
            Some(next) if !empty => it = next,
            _ => return out,
        }
    }
}
