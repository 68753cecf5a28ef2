//! Model-based test: random sequences of engine operations (create, delete, put, reads
//! with every iterator type, split, merge, rescale, retention and expiry on a manual
//! clock, reopen, crash) checked against a plain in-memory model of Kinesis semantics.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use tidelog::clock::{Clock, ManualClock};
use tidelog::engine::ShardFilter;
use tidelog::io::MemStorage;
use tidelog::stream::hashkey::{HashRange, hash_key};
use tidelog::{
    Durability, Engine, EngineConfig, Error, Limits, PutOptions, PutRecordsEntry, StartingPosition,
};

const HOUR: u64 = 3_600_000;

#[derive(Debug, Clone)]
enum Op {
    Create {
        stream: u8,
        shards: u8,
    },
    Delete {
        stream: u8,
    },
    Put {
        stream: u8,
        key: u8,
        len: u16,
        sync: bool,
    },
    PutMany {
        stream: u8,
        keys: Vec<u8>,
    },
    ReadAll,
    ReadFrom {
        stream: u8,
        shard: u8,
        pick: u16,
        kind: u8,
    },
    Split {
        stream: u8,
        shard: u8,
    },
    Merge {
        stream: u8,
        shard: u8,
    },
    Rescale {
        stream: u8,
        up: bool,
    },
    Advance {
        hours: u8,
    },
    Retention {
        stream: u8,
        hours: u8,
    },
    Expire,
    Reopen,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..3, 1u8..4).prop_map(|(stream, shards)| Op::Create { stream, shards }),
        1 => (0u8..3).prop_map(|stream| Op::Delete { stream }),
        12 => (0u8..3, 0u8..30, 0u16..300, any::<bool>()).prop_map(|(stream, key, len, sync)| Op::Put { stream, key, len, sync }),
        3 => (0u8..3, proptest::collection::vec(0u8..30, 1..8)).prop_map(|(stream, keys)| Op::PutMany { stream, keys }),
        4 => Just(Op::ReadAll),
        4 => (0u8..3, any::<u8>(), any::<u16>(), 0u8..5).prop_map(|(stream, shard, pick, kind)| Op::ReadFrom { stream, shard, pick, kind }),
        2 => (0u8..3, any::<u8>()).prop_map(|(stream, shard)| Op::Split { stream, shard }),
        2 => (0u8..3, any::<u8>()).prop_map(|(stream, shard)| Op::Merge { stream, shard }),
        1 => (0u8..3, any::<bool>()).prop_map(|(stream, up)| Op::Rescale { stream, up }),
        2 => (0u8..30).prop_map(|hours| Op::Advance { hours }),
        1 => (0u8..3, 0u8..3).prop_map(|(stream, hours)| Op::Retention { stream, hours }),
        1 => Just(Op::Expire),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

#[derive(Debug, Clone)]
struct MRecord {
    seq: u128,
    data: Vec<u8>,
    ts: u64,
}

#[derive(Debug, Clone)]
struct MShard {
    range: HashRange,
    open: bool,
    closed_ms: u64,
    expired: bool,
    records: Vec<MRecord>,
    last_ts: u64,
}

#[derive(Debug, Clone)]
struct MStream {
    shards: BTreeMap<u32, MShard>,
    next_index: u32,
    retention_hours: u32,
    floor_ms: u64,
}

impl MStream {
    fn cutoff(&self, now: u64) -> u64 {
        now.saturating_sub(u64::from(self.retention_hours) * HOUR)
            .max(self.floor_ms)
    }

    fn open_sorted(&self) -> Vec<u32> {
        let mut open: Vec<(u128, u32)> = self
            .shards
            .iter()
            .filter(|(_, s)| s.open)
            .map(|(i, s)| (s.range.start, *i))
            .collect();
        open.sort();
        open.into_iter().map(|(_, i)| i).collect()
    }

    fn route(&self, key: &str) -> u32 {
        let h = hash_key(key);
        *self
            .shards
            .iter()
            .find(|(_, s)| s.open && s.range.contains(h))
            .expect("model covers the key space")
            .0
    }

    fn add(&mut self, range: HashRange) {
        let index = self.next_index;
        self.next_index += 1;
        self.shards.insert(
            index,
            MShard {
                range,
                open: true,
                closed_ms: 0,
                expired: false,
                records: Vec::new(),
                last_ts: 0,
            },
        );
    }

    fn close(&mut self, index: u32, now: u64) {
        if let Some(s) = self.shards.get_mut(&index) {
            s.open = false;
            s.closed_ms = now;
        }
    }
}

fn name(i: u8) -> String {
    format!("stream-{i}")
}

fn shard_id(i: u32) -> String {
    format!("shardId-{i:012}")
}

fn config(clock: &Arc<ManualClock>, storage: &MemStorage) -> EngineConfig {
    let mut config = engine_config(
        Path::new("/data"),
        Some(Arc::clone(clock) as Arc<dyn Clock>),
    );
    config.storage = Arc::new(storage.clone());
    config.limits = Limits::unlimited();
    config.maintenance_interval = std::time::Duration::from_secs(3600);
    config.log.segment_bytes_initial = 16 << 10;
    config.log.segment_bytes_max = 32 << 10;
    config
}

fn check_reads(
    engine: &Engine,
    model: &BTreeMap<String, MStream>,
    now: u64,
) -> Result<(), TestCaseError> {
    for (stream, m) in model {
        let listed: Vec<String> = engine
            .list_shards(stream, ShardFilter::All)
            .unwrap()
            .into_iter()
            .map(|s| s.shard_id)
            .collect();
        let expected: Vec<String> = m
            .shards
            .iter()
            .filter(|(_, s)| !s.expired)
            .map(|(i, _)| shard_id(*i))
            .collect();
        prop_assert_eq!(&listed, &expected, "{}: listed shards", stream);
        let cutoff = m.cutoff(now);
        for (index, shard) in m.shards.iter().filter(|(_, s)| !s.expired) {
            let got: Vec<(u128, Vec<u8>)> = read_shard(engine, stream, &shard_id(*index));
            let want: Vec<(u128, Vec<u8>)> = shard
                .records
                .iter()
                .filter(|r| r.ts >= cutoff)
                .map(|r| (r.seq, r.data.clone()))
                .collect();
            prop_assert_eq!(got, want, "{} {}", stream, shard_id(*index));
        }
    }
    Ok(())
}

proptest! {
    // 64 sequences by default; PROPTEST_CASES sets another count for long runs.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_model(ops in proptest::collection::vec(op(), 1..45)) {
        let clock = ManualClock::new(1_700_000_000_000);
        let storage = MemStorage::new();
        let mut engine = Engine::open(config(&clock, &storage)).unwrap();
        let mut model: BTreeMap<String, MStream> = BTreeMap::new();
        // Every case starts with one stream, so most operations have something to act on.
        engine.create_stream(&name(0), 2).unwrap();
        let mut first = MStream { shards: BTreeMap::new(), next_index: 0, retention_hours: 24, floor_ms: 0 };
        for range in tidelog::stream::hashkey::even_split(2) {
            first.add(range);
        }
        model.insert(name(0), first);
        for op in ops {
            let now = clock.now_ms();
            match op {
                Op::Create { stream, shards } => {
                    let n = name(stream);
                    let result = engine.create_stream(&n, shards.into());
                    match model.entry(n) {
                        std::collections::btree_map::Entry::Occupied(_) => {
                            prop_assert!(matches!(result, Err(Error::StreamExists { .. })), "expected StreamExists");
                        }
                        std::collections::btree_map::Entry::Vacant(slot) => {
                            result.unwrap();
                            let mut m = MStream { shards: BTreeMap::new(), next_index: 0, retention_hours: 24, floor_ms: 0 };
                            for range in tidelog::stream::hashkey::even_split(shards.into()) {
                                m.add(range);
                            }
                            slot.insert(m);
                        }
                    }
                }
                Op::Delete { stream } => {
                    let n = name(stream);
                    let result = engine.delete_stream(&n);
                    if model.remove(&n).is_some() {
                        result.unwrap();
                    } else {
                        prop_assert!(matches!(result, Err(Error::StreamNotFound { .. })), "expected StreamNotFound");
                    }
                }
                Op::Put { stream, key, len, sync } => {
                    let n = name(stream);
                    let key = format!("key-{key}");
                    let data = payload(u64::from(len) * 31 + u64::from(sync), len.into());
                    let durability = if sync { Durability::Sync } else { Durability::Os };
                    let result = engine.put_record(&n, &key, &data, PutOptions { durability: Some(durability), ..Default::default() });
                    match model.get_mut(&n) {
                        None => prop_assert!(matches!(result, Err(Error::StreamNotFound { .. })), "expected StreamNotFound"),
                        Some(m) => {
                            let out = result.unwrap();
                            let index = m.route(&key);
                            prop_assert_eq!(&out.shard_id, &shard_id(index));
                            let shard = m.shards.get_mut(&index).unwrap();
                            prop_assert!(shard.records.last().is_none_or(|r| r.seq < out.sequence_number));
                            let ts = now.max(shard.last_ts);
                            shard.last_ts = ts;
                            shard.records.push(MRecord { seq: out.sequence_number, data, ts });
                        }
                    }
                }
                Op::PutMany { stream, keys } => {
                    let n = name(stream);
                    let keys: Vec<String> = keys.iter().map(|k| format!("key-{k}")).collect();
                    let datas: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().repeat(3)).collect();
                    let entries: Vec<PutRecordsEntry<'_>> = keys.iter().zip(&datas).map(|(k, d)| PutRecordsEntry { partition_key: k, data: d, explicit_hash_key: None }).collect();
                    let result = engine.put_records(&n, &entries, None);
                    match model.get_mut(&n) {
                        None => prop_assert!(matches!(result, Err(Error::StreamNotFound { .. })), "expected StreamNotFound"),
                        Some(m) => {
                            let out = result.unwrap();
                            prop_assert_eq!(out.failed_record_count, 0);
                            // Per shard, in the order given.
                            let mut landed: Vec<(u32, u128, usize)> = Vec::new();
                            for (i, r) in out.records.iter().enumerate() {
                                let r = r.as_ref().unwrap();
                                let index = m.route(&keys[i]);
                                prop_assert_eq!(&r.shard_id, &shard_id(index));
                                landed.push((index, r.sequence_number, i));
                            }
                            landed.sort();
                            for (index, seq, i) in landed {
                                let shard = m.shards.get_mut(&index).unwrap();
                                prop_assert!(shard.records.last().is_none_or(|r| r.seq < seq));
                                let ts = now.max(shard.last_ts);
                                shard.last_ts = ts;
                                shard.records.push(MRecord { seq, data: datas[i].clone(), ts });
                            }
                        }
                    }
                }
                Op::ReadAll => check_reads(&engine, &model, now)?,
                Op::ReadFrom { stream, shard, pick, kind } => {
                    let n = name(stream);
                    let Some(m) = model.get(&n) else { continue };
                    let live: Vec<u32> = m.shards.iter().filter(|(_, s)| !s.expired).map(|(i, _)| *i).collect();
                    let index = live[shard as usize % live.len()];
                    let s = &m.shards[&index];
                    let cutoff = m.cutoff(now);
                    let visible: Vec<&MRecord> = s.records.iter().filter(|r| r.ts >= cutoff).collect();
                    let (position, want): (StartingPosition, Vec<u128>) = match (kind, visible.is_empty()) {
                        (0, _) => (StartingPosition::TrimHorizon, visible.iter().map(|r| r.seq).collect()),
                        (1, _) => (StartingPosition::Latest, Vec::new()),
                        (2, false) => {
                            let r = visible[pick as usize % visible.len()];
                            (StartingPosition::AtSequenceNumber(r.seq), visible.iter().filter(|x| x.seq >= r.seq).map(|x| x.seq).collect())
                        }
                        (3, false) => {
                            let r = visible[pick as usize % visible.len()];
                            (StartingPosition::AfterSequenceNumber(r.seq), visible.iter().filter(|x| x.seq > r.seq).map(|x| x.seq).collect())
                        }
                        (_, false) => {
                            let r = visible[pick as usize % visible.len()];
                            (StartingPosition::AtTimestamp(r.ts), visible.iter().filter(|x| x.ts >= r.ts).map(|x| x.seq).collect())
                        }
                        (_, true) => (StartingPosition::TrimHorizon, Vec::new()),
                    };
                    let it = engine.get_shard_iterator(&n, &shard_id(index), position).unwrap();
                    let mut got = Vec::new();
                    let mut it = Some(it);
                    while let Some(current) = it.take() {
                        let out = engine.get_records(&current, None).unwrap();
                        got.extend(out.records.iter().map(|r| r.seq));
                        if !out.records.is_empty() {
                            it = out.next_shard_iterator;
                        }
                    }
                    prop_assert_eq!(got, want, "{} {} {:?}", n, shard_id(index), position);
                }
                Op::Split { stream, shard } => {
                    let n = name(stream);
                    let Some(m) = model.get_mut(&n) else { continue };
                    let open = m.open_sorted();
                    let index = open[shard as usize % open.len()];
                    let range = m.shards[&index].range;
                    if range.end == range.start {
                        continue;
                    }
                    let mid = range.start + (range.end - range.start) / 2 + 1;
                    engine.split_shard(&n, &shard_id(index), &mid.to_string()).unwrap();
                    m.close(index, now);
                    m.add(HashRange { start: range.start, end: mid - 1 });
                    m.add(HashRange { start: mid, end: range.end });
                }
                Op::Merge { stream, shard } => {
                    let n = name(stream);
                    let Some(m) = model.get_mut(&n) else { continue };
                    let open = m.open_sorted();
                    if open.len() < 2 {
                        continue;
                    }
                    let i = shard as usize % (open.len() - 1);
                    let (a, b) = (open[i], open[i + 1]);
                    engine.merge_shards(&n, &shard_id(a), &shard_id(b)).unwrap();
                    let range = HashRange { start: m.shards[&a].range.start, end: m.shards[&b].range.end };
                    m.close(a, now);
                    m.close(b, now);
                    m.add(range);
                }
                Op::Rescale { stream, up } => {
                    let n = name(stream);
                    let Some(m) = model.get_mut(&n) else { continue };
                    let current = m.open_sorted().len() as u32;
                    let target = if up { (current * 2).min(6) } else { current.div_ceil(2) };
                    let before_next = m.next_index;
                    engine.update_shard_count(&n, target, "UNIFORM_SCALING").unwrap();
                    // Mirror the engine's result: the open shards now are the even split.
                    let described = engine.describe_stream(&n).unwrap();
                    let targets = tidelog::stream::hashkey::even_split(target);
                    let open_now: Vec<_> = described.shards.iter().filter(|s| s.state == tidelog::stream::catalog::ShardState::Open).collect();
                    let mut open_ranges: Vec<HashRange> = open_now.iter().map(|s| s.hash_range).collect();
                    open_ranges.sort();
                    prop_assert_eq!(open_ranges, targets);
                    for s in &described.shards {
                        let index: u32 = s.shard_id[8..].parse().unwrap();
                        if index >= before_next {
                            m.shards.insert(index, MShard { range: s.hash_range, open: s.state == tidelog::stream::catalog::ShardState::Open, closed_ms: if s.state == tidelog::stream::catalog::ShardState::Open { 0 } else { now }, expired: false, records: Vec::new(), last_ts: 0 });
                            m.next_index = m.next_index.max(index + 1);
                        } else if s.state == tidelog::stream::catalog::ShardState::Closed && m.shards[&index].open {
                            m.close(index, now);
                        }
                    }
                }
                Op::Advance { hours } => clock.advance_ms(u64::from(hours) * HOUR / 2),
                Op::Retention { stream, hours } => {
                    let n = name(stream);
                    let Some(m) = model.get_mut(&n) else { continue };
                    let target = [24u32, 48, 72][hours as usize];
                    if target >= m.retention_hours {
                        engine.increase_stream_retention_period(&n, target).unwrap();
                        if target > m.retention_hours {
                            m.floor_ms = m.floor_ms.max(now.saturating_sub(u64::from(m.retention_hours) * HOUR));
                        }
                    } else {
                        engine.decrease_stream_retention_period(&n, target).unwrap();
                    }
                    m.retention_hours = target;
                }
                Op::Expire => {
                    let expired = engine.expire_shards().unwrap();
                    let mut count = 0;
                    for m in model.values_mut() {
                        let cutoff = m.cutoff(now);
                        for s in m.shards.values_mut() {
                            if !s.open && !s.expired && s.closed_ms < cutoff {
                                s.expired = true;
                                count += 1;
                            }
                        }
                    }
                    prop_assert_eq!(expired, count);
                }
                Op::Reopen => {
                    engine.close().unwrap();
                    engine = Engine::open(config(&clock, &storage)).unwrap();
                }
                Op::Crash => {
                    // A crash of the process: the page cache (here, memory) keeps every
                    // record, acknowledged under either durability.
                    engine.crash_for_testing();
                    drop(engine);
                    engine = Engine::open(config(&clock, &storage)).unwrap();
                }
            }
        }
        check_reads(&engine, &model, clock.now_ms())?;
        engine.close().unwrap();
    }
}
