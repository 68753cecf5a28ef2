//! The hidden subcommands the bench runs in child processes of itself:
//! - `__crash-writer DIR GIB SHARDS`: writes `os` puts until GIB GiB of data are in the
//!   log (printing `progress <bytes>` every 16 MiB), prints `ready <bytes>`, and keeps
//!   writing until it is killed (the recovery workload kills it with SIGKILL mid-write);
//! - `__idle-shards DIR SHARDS`: measures, in a fresh process (so no earlier workload's
//!   allocations blur the figure), what SHARDS idle shards cost: anonymous memory,
//!   descriptors, disk, create and open times; prints one JSON object.
//!
//! Both print errors on stderr and exit with status 1.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tidelog::{Durability, Engine, EngineConfig, Limits, PutRecordsEntry};

use crate::workloads::{Result, explicit_key_for_shard};

/// Record size the crash writer uses.
pub const CRASH_RECORD_BYTES: usize = 1024;
/// Records per PutRecords of the crash writer.
const CRASH_BATCH: usize = 500;
/// Bytes between the crash writer's `progress` lines.
const CRASH_PROGRESS_BYTES: u64 = 16 << 20;
/// Longest wait for the idle shards' spare segments to be created.
const SPARES_WAIT_MAX: Duration = Duration::from_secs(300);

/// Runs `__crash-writer`; returns the exit status.
pub fn crash_writer(dir: &Path, gib: f64, shards: u32) -> i32 {
    match write_until_killed(dir, gib, shards) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tidelog-bench __crash-writer: {e}");
            1
        }
    }
}

fn write_until_killed(dir: &Path, gib: f64, shards: u32) -> Result<()> {
    let mut config = EngineConfig::new(dir);
    config.cores = Some(1);
    config.limits = Limits::unlimited();
    config.durability = Durability::Os;
    let engine = Engine::open(config)?;
    engine.create_stream("crash", shards)?;
    let data = vec![0xE7u8; CRASH_RECORD_BYTES];
    let hash_keys: Vec<String> = (0..shards)
        .map(|s| explicit_key_for_shard(s, shards))
        .collect();
    let batches: Vec<Vec<PutRecordsEntry<'_>>> = hash_keys
        .iter()
        .map(|h| {
            (0..CRASH_BATCH)
                .map(|_| PutRecordsEntry {
                    partition_key: "crash",
                    data: &data,
                    explicit_hash_key: Some(h.as_str()),
                })
                .collect()
        })
        .collect();
    let target = (gib * (1u64 << 30) as f64) as u64;
    let mut written = 0u64;
    let mut announced = false;
    let mut reported = 0u64;
    let mut stdout = std::io::stdout();
    for turn in 0usize.. {
        let out = engine.put_records("crash", &batches[turn % batches.len()], None)?;
        if out.failed_record_count > 0 {
            return Err(format!("{} records failed", out.failed_record_count).into());
        }
        written += (CRASH_BATCH * CRASH_RECORD_BYTES) as u64;
        if !announced && written >= target {
            writeln!(stdout, "ready {written}")?;
            stdout.flush()?;
            announced = true;
        } else if written - reported >= CRASH_PROGRESS_BYTES {
            // A sign of life for the parent, which gives up on a writer that stalls.
            writeln!(stdout, "progress {written}")?;
            stdout.flush()?;
            reported = written;
        }
    }
    Ok(())
}

/// Runs `__idle-shards`; returns the exit status.
pub fn idle_shards(dir: &Path, shards: u32) -> i32 {
    match measure_idle(dir, shards) {
        Ok(doc) => {
            println!("{doc}");
            0
        }
        Err(e) => {
            eprintln!("tidelog-bench __idle-shards: {e}");
            1
        }
    }
}

fn count_files_ending(dir: &Path, suffix: &str) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                count += 1;
            }
        }
    }
    count
}

fn measure_idle(dir: &Path, shards: u32) -> Result<serde_json::Value> {
    let files_limit = crate::sys::raise_open_file_limit(u64::from(shards) * 3 + 4096);
    let anon = || crate::sys::anon_rss_bytes().ok_or("cannot read RssAnon of /proc/self/status");
    let anon_before = anon()?;
    let mut config = EngineConfig::new(dir);
    config.cores = Some(1);
    config.max_shards = shards.max(1);
    let t = Instant::now();
    let engine = Engine::open(config.clone())?;
    let open_empty_ns = t.elapsed().as_nanos() as u64;
    let anon_engine = anon()?;
    let fds_engine = crate::sys::open_fds();
    let t = Instant::now();
    engine.create_stream("idle", shards)?;
    let create_ns = t.elapsed().as_nanos() as u64;
    // Each new shard gets a spare (its first segment, zero-filled) in the background:
    // wait for them, so memory and disk are measured at rest.
    let mut spares = count_files_ending(dir, ".spare");
    let mut stable_since = Instant::now();
    while spares < shards as usize && t.elapsed() < SPARES_WAIT_MAX {
        std::thread::sleep(Duration::from_millis(50));
        let now = count_files_ending(dir, ".spare");
        if now != spares {
            spares = now;
            stable_since = Instant::now();
        } else if stable_since.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let at_rest_ns = t.elapsed().as_nanos() as u64;
    engine.flush()?;
    let anon_shards = anon()?;
    let fds_shards = crate::sys::open_fds();
    let (disk_allocated, disk_apparent) = crate::sys::disk_usage(dir);
    engine.close()?;
    drop(engine);
    // Engine::open checks for 2 descriptors per shard + 256; where the hard limit is
    // lower (and cannot be raised without privileges), it refuses. Then say so, and
    // time an open with as many shards as the limit allows instead.
    let t = Instant::now();
    let (reopen_ns, reopen_shards, reopen_refused) = match Engine::open(config.clone()) {
        Ok(engine) => {
            let ns = t.elapsed().as_nanos() as u64;
            engine.close()?;
            (ns, shards, None)
        }
        Err(refused @ tidelog::Error::Environment(_)) => {
            let allowed = files_limit.map_or(0, |l| l.saturating_sub(256) / 2) as u32;
            let allowed = allowed.min(shards.saturating_sub(1));
            if allowed == 0 {
                return Err(refused.into());
            }
            let second = dir.join("at-the-limit");
            let mut config = config.clone();
            config.data_dir = second.clone();
            config.max_shards = allowed;
            let engine = Engine::open(config.clone())?;
            engine.create_stream("idle", allowed)?;
            engine.close()?;
            drop(engine);
            let t = Instant::now();
            let engine = Engine::open(config)?;
            let ns = t.elapsed().as_nanos() as u64;
            engine.close()?;
            let _ = std::fs::remove_dir_all(&second);
            (ns, allowed, Some(refused.to_string()))
        }
        Err(e) => return Err(e.into()),
    };
    Ok(json!({
        "shards": shards,
        "open_files_limit": files_limit,
        "anon_bytes_before_open": anon_before,
        "anon_bytes_engine": anon_engine,
        "anon_bytes_with_shards": anon_shards,
        "fds_engine": fds_engine,
        "fds_with_shards": fds_shards,
        "spare_files": spares,
        "disk_bytes_allocated": disk_allocated,
        "disk_bytes_apparent": disk_apparent,
        "open_empty_ns": open_empty_ns,
        "create_ns": create_ns,
        "at_rest_ns": at_rest_ns,
        "reopen_ns": reopen_ns,
        "reopen_shards": reopen_shards,
        "reopen_refused": reopen_refused,
    }))
}
