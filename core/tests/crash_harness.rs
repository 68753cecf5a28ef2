//! The crash harness: a writer process (sync and os puts on several shards, record sizes
//! from 0 B to 1 MiB, segment rolls, splits, merges and rescaling) is killed with SIGKILL
//! at a random moment, again and again. After each kill the data directory is reopened
//! and checked: the open succeeds; every acknowledged record (sync *and* os: a killed
//! process leaves the page cache behind) is present, intact and in order; no record that
//! was never put appears; no sequence number is handed out twice.
//!
//! Iterations: `TIDELOG_CRASH_ITERATIONS` (default 100); `TIDELOG_CRASH_SEED_BASE`
//! (default 0) shifts the writers' seeds and kill delays, so runs side by side differ.
//! The writer runs in this same test binary, started with `TIDELOG_CRASH_CHILD` set.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use tidelog::engine::ShardFilter;
use tidelog::io::sim::SimRng;
use tidelog::log::LogConfig;
use tidelog::{Durability, Engine, EngineConfig, Limits, PutOptions, PutRecordsEntry};

fn config(dir: &Path) -> EngineConfig {
    let mut config = engine_config(dir, None);
    config.limits = Limits::unlimited();
    config.log = LogConfig {
        segment_bytes_initial: 32 << 10,
        segment_bytes_max: 256 << 10,
        record_bytes_max: 1 << 20,
        ..LogConfig::default()
    };
    config
}

fn key_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The data a key's record must carry: its size and bytes follow from the key alone,
/// so a record that was never put cannot pass.
fn expected_data(key: &str) -> Vec<u8> {
    let h = key_hash(key);
    let size = match h % 100 {
        0 => (1 << 20) - key.len(), // the largest record
        1..=4 => (h as usize >> 8) % (64 << 10),
        5..=9 => 0,
        _ => (h as usize >> 8) % 2048,
    };
    payload(h, size)
}

/// The writer. A no-op unless started by the harness.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("TIDELOG_CRASH_CHILD") else {
        return;
    };
    let seed: u64 = std::env::var("TIDELOG_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut out = std::io::stdout().lock();
    let engine = match Engine::open(config(Path::new(&dir))) {
        Ok(engine) => engine,
        Err(e) => {
            let _ = writeln!(out, "\nOPEN-FAILED {e}");
            std::process::exit(3);
        }
    };
    if engine.describe_stream("s").is_err() {
        engine.create_stream("s", 2).unwrap();
    }
    // The harness has printed "test crash_child ... " without a newline: start a line.
    writeln!(out, "\nREADY").unwrap();
    out.flush().unwrap();
    let mut rng = SimRng::new(seed);
    let mut counter = 0u64;
    loop {
        let roll = rng.below(100);
        let durability = if rng.below(2) == 0 {
            Durability::Sync
        } else {
            Durability::Os
        };
        let tag = if durability == Durability::Sync {
            "S"
        } else {
            "O"
        };
        if roll < 85 {
            let key = format!("{seed}-{counter}");
            counter += 1;
            let data = expected_data(&key);
            let out_put = engine.put_record(
                "s",
                &key,
                &data,
                PutOptions {
                    durability: Some(durability),
                    ..Default::default()
                },
            );
            if let Ok(put) = out_put {
                writeln!(
                    out,
                    "A {} {} {key} {tag}",
                    put.shard_id, put.sequence_number
                )
                .unwrap();
                out.flush().unwrap();
            }
        } else if roll < 90 {
            let keys: Vec<String> = (0..10).map(|i| format!("{seed}-{}", counter + i)).collect();
            counter += 10;
            let datas: Vec<Vec<u8>> = keys.iter().map(|k| expected_data(k)).collect();
            let entries: Vec<PutRecordsEntry<'_>> = keys
                .iter()
                .zip(&datas)
                .filter(|(_, d)| d.len() < 256 << 10)
                .map(|(k, d)| PutRecordsEntry {
                    partition_key: k,
                    data: d,
                    explicit_hash_key: None,
                })
                .collect();
            if entries.is_empty() {
                continue;
            }
            if let Ok(res) = engine.put_records("s", &entries, Some(durability)) {
                for (entry, r) in entries.iter().zip(res.records) {
                    if let Ok(put) = r {
                        writeln!(
                            out,
                            "A {} {} {} {tag}",
                            put.shard_id, put.sequence_number, entry.partition_key
                        )
                        .unwrap();
                    }
                }
                out.flush().unwrap();
            }
        } else {
            let open = engine.list_shards("s", ShardFilter::AtLatest).unwrap();
            let _ = match roll {
                90..=93 if open.len() < 6 => {
                    let s = &open[rng.below(open.len() as u64) as usize];
                    let mid = s.hash_range.start + (s.hash_range.end - s.hash_range.start) / 2 + 1;
                    engine.split_shard("s", &s.shard_id, &mid.to_string())
                }
                94..=96 if open.len() > 1 => {
                    let i = rng.below(open.len() as u64 - 1) as usize;
                    engine.merge_shards("s", &open[i].shard_id, &open[i + 1].shard_id)
                }
                _ => {
                    let n = open.len() as u32;
                    let target = if rng.below(2) == 0 {
                        (n * 2).min(6)
                    } else {
                        n.div_ceil(2).max(1)
                    };
                    engine
                        .update_shard_count("s", target, "UNIFORM_SCALING")
                        .map(|_| ())
                }
            };
        }
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let iterations: u64 = std::env::var("TIDELOG_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    // Kept when the test fails (a panic skips the removal at the end), as evidence: the
    // data directory as the failing reopen found it, and the writer's stderr.
    let tmp = tempfile::Builder::new()
        .prefix("tidelog-crash-")
        .tempdir()
        .unwrap()
        .keep();
    let dir = tmp.as_path();
    let logs = tmp.with_extension("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut max_seq: HashMap<String, u128> = HashMap::new();
    let mut acked_total = 0usize;
    let seed_base: u64 = std::env::var("TIDELOG_CRASH_SEED_BASE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut rng = SimRng::new(0xC0FFEE ^ seed_base);
    for iteration in 0..iterations {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("TIDELOG_CRASH_CHILD", dir)
            .env("TIDELOG_CRASH_SEED", (seed_base + iteration).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(logs.join("writer.stderr")).unwrap(),
            ))
            .spawn()
            .unwrap();
        // Killed on every path out of this iteration, including a failed assertion.
        struct KillOnDrop(std::process::Child);
        impl Drop for KillOnDrop {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let stdout = child.stdout.take().unwrap();
        let mut child = KillOnDrop(child);
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // The test harness prints its own lines first; wait for the writer's.
        let mut started = String::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
            if line == "READY" || line.starts_with("OPEN-FAILED") {
                started = line;
                break;
            }
        }
        if started != "READY" {
            child.0.kill().ok();
            child.0.wait().ok();
            let stderr = std::fs::read_to_string(logs.join("writer.stderr")).unwrap_or_default();
            let lines: Vec<&str> = stderr.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            panic!(
                "iteration {iteration}: the writer could not start (saw {started:?}); \
                 the end of its stderr:\n{tail}"
            );
        }
        std::thread::sleep(Duration::from_millis(5 + rng.below(120)));
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        reader.join().unwrap();
        let acks: Vec<(String, u128, String, bool)> = rx
            .try_iter()
            .filter_map(|line| {
                let parts: Vec<&str> = line.split(' ').collect();
                (parts.len() == 5 && parts[0] == "A").then(|| {
                    (
                        parts[1].to_string(),
                        parts[2].parse().unwrap(),
                        parts[3].to_string(),
                        parts[4] == "S",
                    )
                })
            })
            .collect();
        acked_total += acks.len();

        let engine = Engine::open(config(dir))
            .unwrap_or_else(|e| panic!("iteration {iteration}: reopen failed: {e}"));
        let shards: Vec<String> = engine
            .describe_stream("s")
            .unwrap()
            .shards
            .into_iter()
            .map(|s| s.shard_id)
            .collect();
        let mut present: BTreeMap<(String, u128), Vec<u8>> = BTreeMap::new();
        for shard in &shards {
            let records = read_shard(&engine, "s", shard);
            assert!(
                records.windows(2).all(|w| w[0].0 < w[1].0),
                "iteration {iteration}: {shard} out of order"
            );
            for (seq, data) in records {
                present.insert((shard.clone(), seq), data);
            }
        }
        // Every record is one that was put (its data is what its key implies); keys are
        // unique, so it appears once. Iterators give the key back with the data.
        for shard in &shards {
            let it = engine
                .get_shard_iterator("s", shard, tidelog::StartingPosition::TrimHorizon)
                .unwrap();
            let mut it = Some(it);
            while let Some(current) = it.take() {
                let got = engine.get_records(&current, None).unwrap();
                for r in got.records.iter() {
                    assert_eq!(
                        r.data,
                        &expected_data(r.key_str())[..],
                        "iteration {iteration}: a record that was never put ({})",
                        r.key_str()
                    );
                }
                if !got.records.is_empty() {
                    it = got.next_shard_iterator;
                }
            }
        }
        for (shard, seq, key, _) in &acks {
            let data = present.get(&(shard.clone(), *seq));
            assert_eq!(
                data.map(Vec::as_slice),
                Some(&expected_data(key)[..]),
                "iteration {iteration}: acknowledged {key} ({shard} {seq}) lost"
            );
            // Numbers of this run are above every number the directory held before it.
            assert!(
                *seq > max_seq.get(shard).copied().unwrap_or(0),
                "iteration {iteration}: {seq} handed out twice on {shard}"
            );
        }
        for (shard, seq) in present.keys() {
            let max = max_seq.entry(shard.clone()).or_insert(0);
            *max = (*max).max(*seq);
        }
        engine.close().unwrap();
    }
    assert!(
        acked_total > iterations as usize,
        "the writer made progress ({acked_total} acknowledgements)"
    );
    eprintln!("crash harness: {iterations} kills, {acked_total} acknowledged records checked");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::remove_dir_all(&logs).unwrap();
}
