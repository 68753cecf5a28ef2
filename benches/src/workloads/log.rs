//! The log of one shard, without the engine (`tidelog::log::Log` on the real file
//! system, one thread):
//! - appends through the page cache of 100 B, 1 KiB and 64 KiB records, through the
//!   mapping, through pwritev, and staged (batches of 64 written with one pwritev),
//!   records/s and MB/s (spare segments made on a helper thread, as the engine's
//!   blocking pool does);
//! - 1 KiB append + sync latency, through the mapping and through pwritev;
//! - a `--log-mb` (default 200 MB) log: reopen after a clean close (median of 5),
//!   warm zero-copy scans with and without CRC checks, and open after a crash (appends
//!   not closed: the tail is verified);
//! - the machine's bounds under every append: writing 64 KiB pieces into pages new to
//!   the page cache against writing them over pages it already holds, and filling
//!   fresh anonymous memory against filling it again (a page's first touch, which
//!   every byte of a new segment pays once, is what limits appends here).
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tidelog::io::{FsStorage, Storage};
use tidelog::log::{Log, LogConfig, Preallocation, ShardIdentity, SpareRequest, WriteVia};

use super::{Ctx, Result, time_loop};
use crate::pace::Pace;
use crate::report::Row;

/// Reopens of the big log timed (the median is reported).
const REOPENS: usize = 5;
/// Records appended (not closed) before the crash open.
const CRASH_TAIL_RECORDS: u64 = 50_000;

/// Makes spare segments on a helper thread and hands them back.
struct Spares {
    requests: mpsc::Sender<SpareRequest>,
    ready: mpsc::Receiver<std::io::Result<SpareRequest>>,
}

impl Spares {
    fn new(storage: Arc<dyn Storage>) -> Self {
        let (requests, inbox) = mpsc::channel::<SpareRequest>();
        let (done, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for request in inbox {
                let made = storage
                    .create_segment(&request.path, request.capacity, request.fill)
                    .map(|()| request);
                if done.send(made).is_err() {
                    return;
                }
            }
        });
        Self { requests, ready }
    }

    fn tend(&self, log: &mut Log) -> Result<()> {
        while let Ok(made) = self.ready.try_recv() {
            log.install_spare(made?);
        }
        if let Some(request) = log.spare_request() {
            self.requests
                .send(request)
                .map_err(|_| "the spare-segment thread stopped")?;
        }
        Ok(())
    }
}

fn open_log(storage: &Arc<dyn Storage>, dir: &Path, config: LogConfig) -> Result<Log> {
    Ok(Log::open(Arc::clone(storage), dir, ShardIdentity::default(), config)?.0)
}

/// The log configuration of the sync and big-log cases: the defaults, with the run's
/// (first) preallocation.
fn base_config(ctx: &Ctx<'_>) -> LogConfig {
    LogConfig {
        preallocation: ctx.args.preallocation[0],
        ..LogConfig::default()
    }
}

/// Runs the log cases.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new());
    appends(ctx, &storage)?;
    syncs(ctx, &storage)?;
    big_log(ctx, &storage)?;
    page_bounds(ctx)
}

/// Bytes written by each of the page bounds.
const BOUND_BYTES: usize = 256 << 20;
/// Piece written per `pwrite` in the page-cache bound (the largest record size).
const BOUND_PIECE: usize = 64 << 10;

/// The cost of a page's first touch: `BOUND_BYTES` written in 64 KiB pieces into a new
/// file (every page new to the page cache, as in a new segment) and then over the same
/// range again (every page cached), and the same for anonymous memory (a fresh
/// allocation filled, then filled again). Best of three each.
fn page_bounds(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.progress("page bounds: first touch against a touched page");
    let dir = ctx.case_dir("log-page-bounds")?;
    let piece = vec![0xA5u8; BOUND_PIECE];
    let gbps = |seconds: f64| BOUND_BYTES as f64 / seconds / 1e9;
    let (mut fresh_file, mut cached_file) = (0f64, 0f64);
    let (mut fresh_memory, mut touched_memory) = (0f64, 0f64);
    for round in 0..3 {
        let path = dir.path().join(format!("pages-{round}"));
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)?;
        for pass in 0..2 {
            let start = Instant::now();
            let mut offset = 0u64;
            while (offset as usize) < BOUND_BYTES {
                std::os::unix::fs::FileExt::write_all_at(&file, &piece, offset)?;
                offset += BOUND_PIECE as u64;
            }
            let rate = gbps(start.elapsed().as_secs_f64());
            if pass == 0 {
                fresh_file = fresh_file.max(rate);
            } else {
                cached_file = cached_file.max(rate);
            }
        }
        drop(file);
        std::fs::remove_file(&path)?;
        let start = Instant::now();
        let mut memory: Vec<u8> = Vec::with_capacity(BOUND_BYTES);
        memory.resize(BOUND_BYTES, 0x5A);
        let seconds = start.elapsed().as_secs_f64();
        std::hint::black_box(&memory);
        fresh_memory = fresh_memory.max(gbps(seconds));
        let start = Instant::now();
        memory.fill(0xA5);
        let seconds = start.elapsed().as_secs_f64();
        std::hint::black_box(&memory);
        touched_memory = touched_memory.max(gbps(seconds));
        drop(memory);
    }
    for (key, what, value) in [
        (
            "log.bound.fresh_page_cache_gbps",
            "write 64 KiB pieces into pages new to the page cache (a new file)",
            fresh_file,
        ),
        (
            "log.bound.cached_page_cache_gbps",
            "write 64 KiB pieces over pages the page cache holds",
            cached_file,
        ),
        (
            "log.bound.fresh_memory_gbps",
            "fill fresh anonymous memory (first touch of each page)",
            fresh_memory,
        ),
        (
            "log.bound.touched_memory_gbps",
            "fill the same memory again",
            touched_memory,
        ),
    ] {
        ctx.report.figure("log", key, what, value, "GB/s");
    }
    Ok(())
}

fn appends(ctx: &mut Ctx<'_>, storage: &Arc<dyn Storage>) -> Result<()> {
    let sizes: Vec<usize> = match ctx.args.record_bytes {
        Some(b) => vec![b],
        None => vec![100, 1024, 64 << 10],
    };
    let fills = ctx.args.preallocation.clone();
    let mut cases = Vec::new();
    for &fill in &fills {
        for &size in &sizes {
            for (via, via_name) in [
                (WriteVia::Mapping, "mapping"),
                (WriteVia::Syscall, "pwritev"),
                (WriteVia::Staged, "staged"),
            ] {
                cases.push((fill, size, via, via_name));
            }
        }
    }
    for (fill, size, via, via_name) in cases {
        let fill_name = format!("{fill:?}").to_lowercase();
        // Keys of the engine's default (zeroed) stay short; the other is named.
        let tag = if fill == Preallocation::Zeroed {
            String::new()
        } else {
            format!(".{fill_name}")
        };
        {
            ctx.progress(&format!(
                "append {size} B via {via_name}, {fill_name} segments"
            ));
            let dir = ctx.case_dir(&format!("log-append-{size}-{via_name}"))?;
            let config = LogConfig {
                preallocation: fill,
                ..LogConfig::default()
            };
            let mut log = open_log(storage, dir.path(), config)?;
            let spares = Spares::new(Arc::clone(storage));
            log.prepare_spare()?;
            let data = vec![0xA5u8; size];
            let mut seq = 0u128;
            let mut append_for = |log: &mut Log, time: Duration| -> Result<u64> {
                let end = Instant::now() + time;
                let mut count = 0u64;
                loop {
                    for _ in 0..64 {
                        seq += 1;
                        log.append_via(seq, 0, "partition-key", &data, via)?;
                    }
                    // Staged: each 64 appends are a batch, written when it ends.
                    log.flush_staged()?;
                    count += 64;
                    spares.tend(log)?;
                    if Instant::now() >= end {
                        return Ok(count);
                    }
                }
            };
            append_for(&mut log, ctx.args.warmup)?;
            let start = Instant::now();
            let count = append_for(&mut log, ctx.args.duration)?;
            let seconds = start.elapsed().as_secs_f64();
            let rate = count as f64 / seconds;
            ctx.report.figure(
                "log",
                format!("log.append.{size}.{via_name}{tag}.records_per_sec"),
                format!("append {size} B via {via_name}, {fill_name} segments, no sync"),
                rate,
                "records/s",
            );
            ctx.report.figure(
                "log",
                format!("log.append.{size}.{via_name}{tag}.mb_per_sec"),
                format!("append {size} B via {via_name}, {fill_name} segments, data"),
                rate * size as f64 / 1e6,
                "MB/s",
            );
            drop(log);
        }
    }
    Ok(())
}

fn syncs(ctx: &mut Ctx<'_>, storage: &Arc<dyn Storage>) -> Result<()> {
    let size = ctx.args.record_bytes.unwrap_or(1024);
    for (via, via_name) in [
        (WriteVia::Mapping, "mapping"),
        (WriteVia::Syscall, "pwritev"),
    ] {
        ctx.progress(&format!("append {size} B + fdatasync via {via_name}"));
        let dir = ctx.case_dir(&format!("log-sync-{via_name}"))?;
        let mut log = open_log(storage, dir.path(), base_config(ctx))?;
        log.prepare_spare()?;
        let spares = Spares::new(Arc::clone(storage));
        let data = vec![1u8; size];
        let mut seq = 0u128;
        let t = time_loop(
            Pace::Closed,
            ctx.args.warmup,
            ctx.args.duration,
            Duration::ZERO,
            |_| {
                seq += 1;
                log.append_via(seq, 0, "k", &data, via)?;
                log.sync()?;
                spares.tend(&mut log)?;
                Ok(())
            },
        )?;
        ctx.report.row(Row {
            key: format!("log.sync.{via_name}"),
            workload: "log",
            case: format!("Log append {size} B + sync, via {via_name}"),
            mode: Pace::Closed.describe(),
            seconds: t.seconds,
            ops: t.ops,
            records: t.ops,
            data_bytes: t.ops * size as u64,
            cpu_ns: Some(t.cpu_ns),
            latency: t.latency,
        });
        log.close()?;
    }
    Ok(())
}

fn big_log(ctx: &mut Ctx<'_>, storage: &Arc<dyn Storage>) -> Result<()> {
    let mb = ctx.args.log_mb;
    let size = 1024usize;
    let dir = ctx.case_dir("log-big")?;
    ctx.progress(&format!("write a {mb} MB log of {size} B records"));
    let mut log = open_log(storage, dir.path(), base_config(ctx))?;
    let spares = Spares::new(Arc::clone(storage));
    log.prepare_spare()?;
    let data = vec![7u8; size];
    let total = mb * 1_000_000;
    let count = (total / size as u64).max(1);
    for seq in 1..=count as u128 {
        log.append(seq, seq as u64, "partition-key", &data)?;
        if seq % 64 == 0 {
            spares.tend(&mut log)?;
        }
    }
    let disk = log.reader().disk_bytes();
    log.close()?;
    ctx.report.figure(
        "log",
        "log.size_mb",
        "size of the big log, MB of data",
        mb as f64,
        "count",
    );
    ctx.report.figure(
        "log",
        "log.disk_bytes",
        "its segments on disk",
        disk as f64,
        "bytes",
    );

    ctx.progress("reopen after a clean close");
    let mut times = Vec::with_capacity(REOPENS);
    for _ in 0..REOPENS {
        let t = Instant::now();
        let log = open_log(storage, dir.path(), base_config(ctx))?;
        times.push(t.elapsed().as_nanos() as f64);
        drop(log);
    }
    times.sort_by(f64::total_cmp);
    ctx.report.figure(
        "log",
        "log.reopen_ns",
        format!("reopen of the {mb} MB log (median of {REOPENS})"),
        times[times.len() / 2],
        "ns",
    );

    for (verify, name) in [(true, "crc_on"), (false, "crc_off")] {
        ctx.progress(&format!("zero-copy scan, {name}"));
        let config = LogConfig {
            verify_crc_on_read: verify,
            ..base_config(ctx)
        };
        let log = open_log(storage, dir.path(), config)?;
        let reader = log.reader();
        let mut gbps = 0.0;
        for _pass in 0..2 {
            let start = Instant::now();
            let mut from = reader.start_seq().ok_or("the big log is empty")?;
            let (mut records, mut bytes, mut touched) = (0u64, 0u64, 0u64);
            loop {
                let batch = reader.read(from, 10_000, 10 << 20)?;
                if batch.is_empty() {
                    break;
                }
                for r in batch.iter() {
                    records += 1;
                    bytes += r.data.len() as u64;
                    touched = touched.wrapping_add(u64::from(r.data[r.data.len() / 2]));
                }
                from = batch.next_seq();
            }
            std::hint::black_box(touched);
            if records != count {
                return Err(format!("scan found {records} records of {count}").into());
            }
            gbps = bytes as f64 / start.elapsed().as_secs_f64() / 1e9; // the last pass: warm
        }
        ctx.report.figure(
            "log",
            format!("log.scan_gbps.{name}"),
            format!(
                "warm zero-copy scan, CRC {}",
                if verify {
                    "checked (default)"
                } else {
                    "not checked"
                }
            ),
            gbps,
            "GB/s",
        );
        drop(log);
    }

    // The bound the CRC check puts on the scan: crc32fast alone over frames of the same
    // size (header, key and data, as the reader checks them), from the cache, in GB/s of
    // record data. A scan that checks CRCs can be no faster than 1 / (1 / this + 1 / the
    // unchecked scan).
    ctx.progress("CRC32 alone over frames of the scanned size");
    let frame =
        vec![0x5Au8; tidelog::log::format::RECORD_HEADER_BYTES + "partition-key".len() + size];
    // As many frames as the scan read, twice (the first pass warms up).
    let rounds = count;
    let mut acc = 0u32;
    for _ in 0..rounds {
        acc ^= crc32fast::hash(std::hint::black_box(&frame));
    }
    let start = Instant::now();
    for _ in 0..rounds {
        acc ^= crc32fast::hash(std::hint::black_box(&frame));
    }
    std::hint::black_box(acc);
    let crc_gbps = (rounds * size as u64) as f64 / start.elapsed().as_secs_f64() / 1e9;
    ctx.report.figure(
        "log",
        "log.crc_gbps",
        format!(
            "CRC32 (crc32fast) alone over {}-byte frames, GB/s of record data",
            frame.len()
        ),
        crc_gbps,
        "GB/s",
    );
    if let Some(off) = ctx.report.find_figure("log.scan_gbps.crc_off") {
        ctx.report.figure(
            "log",
            "log.scan_gbps.crc_on_bound",
            "bound of the checked scan: 1 / (1 / unchecked scan + 1 / CRC alone)",
            1.0 / (1.0 / off.max(1e-9) + 1.0 / crc_gbps.max(1e-9)),
            "GB/s",
        );
    }

    ctx.progress("open after a crash (tail not closed)");
    let mut log = open_log(storage, dir.path(), base_config(ctx))?;
    for i in 1..=CRASH_TAIL_RECORDS {
        log.append(count as u128 + u128::from(i), 0, "k", &data)?;
    }
    drop(log); // no close: the next open must verify the active segment's tail
    let t = Instant::now();
    let (log, report) = Log::open(
        Arc::clone(storage),
        dir.path(),
        ShardIdentity::default(),
        base_config(ctx),
    )?;
    let crash_open_ns = t.elapsed().as_nanos() as f64;
    drop(log);
    ctx.report.figure(
        "log",
        "log.open_after_crash_ns",
        format!(
            "open after a crash ({:.1} MiB of tail verified)",
            report.bytes_scanned as f64 / (1 << 20) as f64
        ),
        crash_open_ns,
        "ns",
    );
    Ok(())
}
