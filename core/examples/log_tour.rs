//! A tour of the log of one shard, measured: appends, syncs, zero-copy scans, reopen.
//!
//! ```text
//! cargo run --release -p tidelog --example log_tour -- [--dir DIR] [--gib N]
//! ```
//! Runs on a temporary directory unless `--dir` is given. Prints what it did and the
//! figures it measured; nothing here is asserted (these machines are noisy).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tidelog::io::{FsStorage, Storage};
use tidelog::log::{Log, LogConfig, Preallocation, ShardIdentity, SpareRequest, WriteVia};

struct Args {
    dir: Option<PathBuf>,
    gib: f64,
    /// Only the append measurement for this record size (for profiling).
    append_only: Option<usize>,
    fill: Option<Preallocation>,
    syscall: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        dir: None,
        gib: 1.0,
        append_only: None,
        fill: None,
        syscall: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dir" => args.dir = it.next().map(PathBuf::from),
            "--gib" => args.gib = it.next().and_then(|v| v.parse().ok()).unwrap_or(1.0),
            "--append-only" => args.append_only = it.next().and_then(|v| v.parse().ok()),
            "--allocated" => args.fill = Some(Preallocation::Allocated),
            "--zeroed" => args.fill = Some(Preallocation::Zeroed),
            "--syscall" => args.syscall = true,
            "-h" | "--help" => {
                println!(
                    "log_tour [--dir DIR] [--gib N] [--append-only SIZE [--allocated|--zeroed]]"
                );
                std::process::exit(0);
            }
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    args
}

/// Creates spare segments on a helper thread, as the runtime does on its blocking pool.
struct SpareMaker {
    requests: mpsc::Sender<SpareRequest>,
    ready: mpsc::Receiver<SpareRequest>,
}

impl SpareMaker {
    fn new(storage: Arc<dyn Storage>) -> Self {
        let (requests, inbox) = mpsc::channel::<SpareRequest>();
        let (done, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for request in inbox {
                storage
                    .create_segment(&request.path, request.capacity, request.fill)
                    .expect("create spare");
                if done.send(request).is_err() {
                    return;
                }
            }
        });
        Self { requests, ready }
    }

    fn tend(&self, log: &mut Log) {
        while let Ok(spare) = self.ready.try_recv() {
            log.install_spare(spare);
        }
        if let Some(request) = log.spare_request() {
            let _ = self.requests.send(request);
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn open(storage: &Arc<dyn Storage>, dir: &Path, config: &LogConfig) -> Log {
    Log::open(
        Arc::clone(storage),
        dir,
        ShardIdentity::default(),
        config.clone(),
    )
    .expect("open")
    .0
}

fn appends(
    storage: &Arc<dyn Storage>,
    root: &Path,
    size: usize,
    total_bytes: usize,
    fill: Preallocation,
    via: WriteVia,
) {
    let dir = root.join(format!("append-{size}"));
    let config = LogConfig {
        preallocation: fill,
        ..LogConfig::default()
    };
    let mut log = open(storage, &dir, &config);
    let spares = SpareMaker::new(Arc::clone(storage));
    let data = vec![0xA5u8; size];
    let count = (total_bytes / size).max(1000);
    // Warm up: the first segment, page faults of the code path.
    log.prepare_spare().unwrap();
    for seq in 1..=1000u128 {
        log.append_via(seq, 0, "partition-key", &data, via).unwrap();
        spares.tend(&mut log);
    }
    let start = Instant::now();
    for seq in 1001..=count as u128 + 1000 {
        log.append_via(seq, 0, "partition-key", &data, via).unwrap();
        if seq % 64 == 0 {
            spares.tend(&mut log);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let rate = count as f64 / elapsed;
    println!(
        "  {:>6} B records, {fill:?} segments, via {via:?}: {:>10.0} records/s  {:>8.0} MB/s  ({} records, {} segments)",
        size,
        rate,
        rate * size as f64 / 1e6,
        count,
        log.reader().segment_count()
    );
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

fn sync_samples(storage: &Arc<dyn Storage>, root: &Path, via: WriteVia) -> Vec<Duration> {
    let dir = root.join(format!("sync-{via:?}"));
    let mut log = open(storage, &dir, &LogConfig::default());
    log.prepare_spare().unwrap();
    let data = vec![1u8; 1024];
    let mut samples = Vec::new();
    for seq in 1..=1200u128 {
        let t = Instant::now();
        log.append_via(seq, 0, "k", &data, via).unwrap();
        log.sync().unwrap();
        if seq > 200 {
            samples.push(t.elapsed());
        }
    }
    samples.sort();
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
    samples
}

fn syncs(storage: &Arc<dyn Storage>, root: &Path) {
    let mapped = sync_samples(storage, root, WriteVia::Mapping);
    let syscall = sync_samples(storage, root, WriteVia::Syscall);
    // The raw device, in the same run: 4 KiB overwrite + fdatasync of a pre-written file.
    let raw_path = root.join("raw.bin");
    let raw = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&raw_path)
        .unwrap();
    raw.write_all_at(&vec![0u8; 1 << 20], 0).unwrap();
    raw.sync_all().unwrap();
    let block = vec![2u8; 4096];
    let mut raw_samples = Vec::new();
    for i in 0..1000u64 {
        raw.write_all_at(&block, (i % 256) * 4096).unwrap();
        let t = Instant::now();
        raw.sync_data().unwrap();
        raw_samples.push(t.elapsed());
    }
    raw_samples.sort();
    for (label, samples) in [
        ("via mapping", &mapped),
        ("via pwritev", &syscall),
        ("raw pwrite 4 KiB + fdatasync", &raw_samples),
    ] {
        println!(
            "  1 KiB append + sync, {label:<28}: p50 {:>9.1?}  p99 {:>9.1?}",
            percentile(samples, 0.5),
            percentile(samples, 0.99)
        );
    }
    let _ = std::fs::remove_file(&raw_path);
}

fn big_log(storage: &Arc<dyn Storage>, root: &Path, gib: f64) {
    let dir = root.join("big");
    let config = LogConfig::default();
    let mut log = open(storage, &dir, &config);
    let spares = SpareMaker::new(Arc::clone(storage));
    let size = 1024usize;
    let data = vec![7u8; size];
    let total = (gib * (1u64 << 30) as f64) as usize;
    let count = total / (size + 48);
    log.prepare_spare().unwrap();
    let start = Instant::now();
    for seq in 1..=count as u128 {
        log.append(seq, seq as u64, "partition-key", &data).unwrap();
        if seq % 64 == 0 {
            spares.tend(&mut log);
        }
    }
    let write_s = start.elapsed().as_secs_f64();
    let reader = log.reader();
    let disk = reader.disk_bytes();
    println!(
        "  wrote {count} x 1 KiB records ({:.2} GiB of segments) in {write_s:.2} s",
        disk as f64 / (1u64 << 30) as f64
    );
    for verify in [true, false] {
        let config = LogConfig {
            verify_crc_on_read: verify,
            lock_directory: false,
            ..LogConfig::default()
        };
        let scan_log = Log::open(Arc::clone(storage), &dir, ShardIdentity::default(), config);
        // The writer holds the lock; a second open with locking off is a reader here.
        let Ok((scan_log, _)) = scan_log else {
            continue;
        };
        let reader = scan_log.reader();
        for pass in 0..2 {
            let start = Instant::now();
            let mut from = reader.start_seq().unwrap();
            let (mut records, mut bytes, mut checksum) = (0u64, 0u64, 0u64);
            loop {
                let batch = reader.read(from, 10_000, 10 << 20).unwrap();
                if batch.is_empty() {
                    break;
                }
                for r in batch.iter() {
                    records += 1;
                    bytes += r.data.len() as u64;
                    checksum = checksum.wrapping_add(r.data[r.data.len() / 2] as u64);
                }
                from = batch.next_seq();
            }
            let secs = start.elapsed().as_secs_f64();
            if pass == 1 {
                println!(
                    "  zero-copy scan (crc check {}): {:.2} GB/s, {:.1} M records/s (warm; {records} records, checksum {checksum})",
                    if verify { "on " } else { "off" },
                    bytes as f64 / secs / 1e9,
                    records as f64 / secs / 1e6
                );
            }
        }
        std::mem::forget(scan_log); // do not sync or seal from the second handle
    }
    log.close().unwrap();
    for (label, crash) in [("after close", false), ("after a crash", true)] {
        if crash {
            let mut log = open(storage, &dir, &config);
            for seq in 0..60_000u128 {
                log.append(count as u128 + 10 + seq, 0, "k", &data).unwrap();
            }
            drop(log); // no close: the active segment must be scanned
        }
        let mut times = Vec::new();
        let mut scanned = 0;
        for _ in 0..5 {
            let start = Instant::now();
            let (log, report) = Log::open(
                Arc::clone(storage),
                &dir,
                ShardIdentity::default(),
                config.clone(),
            )
            .unwrap();
            times.push(start.elapsed());
            scanned = report.bytes_scanned;
            if crash {
                std::mem::forget(log); // keep it unclosed for the next round
                // Release the lock held by the forgotten handle: reopen needs a fresh dir handle.
                break;
            }
            drop(log);
        }
        times.sort();
        println!(
            "  open of the {:.2} GiB log {label}: {:?} (median of {}; {:.1} MiB of frames verified)",
            disk as f64 / (1u64 << 30) as f64,
            times[times.len() / 2],
            times.len(),
            scanned as f64 / (1 << 20) as f64
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let args = parse_args();
    let tmp;
    let root = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("tidelog-tour-{}", std::process::id()));
            tmp
        }
    };
    std::fs::create_dir_all(&root).unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new());
    println!(
        "tidelog log tour in {} (release build: {})",
        root.display(),
        !cfg!(debug_assertions)
    );
    if let Some(size) = args.append_only {
        let via = if args.syscall {
            WriteVia::Syscall
        } else {
            WriteVia::Mapping
        };
        appends(
            &storage,
            &root,
            size,
            2 << 30,
            args.fill.unwrap_or_default(),
            via,
        );
        let _ = std::fs::remove_dir_all(&root);
        return;
    }
    println!("appends through the page cache, no fsync, one writer thread:");
    for fill in [Preallocation::Zeroed, Preallocation::Allocated] {
        for via in [WriteVia::Mapping, WriteVia::Syscall] {
            for size in [100usize, 1024, 64 << 10] {
                appends(&storage, &root, size, 512 << 20, fill, via);
            }
        }
    }
    println!("durability:");
    syncs(&storage, &root);
    println!("a large log:");
    big_log(&storage, &root, args.gib);
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
}
