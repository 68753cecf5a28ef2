//! Helpers shared by the log's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tidelog::io::{FsStorage, MemStorage, Storage};
use tidelog::log::{Log, LogConfig, RecoveryReport, ShardIdentity};

pub const ID: ShardIdentity = ShardIdentity {
    stream_id: 7,
    shard_index: 3,
};

/// Small segments so tests roll often.
pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes_initial: 16 << 10,
        segment_bytes_max: 64 << 10,
        ..LogConfig::default()
    }
}

pub fn fs() -> Arc<dyn Storage> {
    Arc::new(FsStorage::new())
}

pub fn mem() -> (MemStorage, Arc<dyn Storage>) {
    let storage = MemStorage::new();
    (storage.clone(), Arc::new(storage))
}

pub fn open(storage: &Arc<dyn Storage>, dir: &Path, config: &LogConfig) -> (Log, RecoveryReport) {
    Log::open(Arc::clone(storage), dir, ID, config.clone()).expect("open log")
}

/// Deterministic payload for record `i` of `len` bytes.
pub fn payload(i: u64, len: usize) -> Vec<u8> {
    let mut state = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A record as the tests compare it: (seq, timestamp, key, data).
pub type Row = (u128, u64, String, Vec<u8>);

/// Everything readable in the log, in order.
pub fn read_all(log: &Log) -> Vec<Row> {
    let reader = log.reader();
    let Some(start) = reader.start_seq() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut from = start;
    loop {
        let batch = reader.read(from, 1000, 64 << 20).expect("read");
        if batch.is_empty() {
            return out;
        }
        for r in batch.iter() {
            out.push((
                r.seq,
                r.timestamp_ms,
                r.key_str().to_string(),
                r.data.to_vec(),
            ));
        }
        from = batch.next_seq();
    }
}

/// Segment files in `dir`, sorted.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// An engine configuration for tests: two cores, short spins, the given clock.
pub fn engine_config(dir: &Path, clock: Option<Arc<dyn tidelog::Clock>>) -> tidelog::EngineConfig {
    let mut config = tidelog::EngineConfig::new(dir);
    config.cores = Some(2.min(tidelog::runtime::allowed_cpus().len()));
    config.core_spin = std::time::Duration::from_micros(20);
    config.reply_spin = std::time::Duration::from_micros(20);
    config.subscriber_spin = std::time::Duration::from_micros(20);
    if let Some(clock) = clock {
        config.clock = clock;
    }
    config
}

/// Reads every record of a shard from the trim horizon: (seq, data).
pub fn read_shard(engine: &tidelog::Engine, stream: &str, shard_id: &str) -> Vec<(u128, Vec<u8>)> {
    let mut iterator = engine
        .get_shard_iterator(stream, shard_id, tidelog::StartingPosition::TrimHorizon)
        .expect("iterator");
    let mut out = Vec::new();
    loop {
        let got = engine.get_records(&iterator, None).expect("get_records");
        let empty = got.records.is_empty();
        out.extend(got.records.iter().map(|r| (r.seq, r.data.to_vec())));
        match got.next_shard_iterator {
            Some(next) if !empty => iterator = next,
            _ => return out,
        }
    }
}
