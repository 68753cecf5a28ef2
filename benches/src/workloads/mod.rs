//! The workloads, the context they share (options, data directory, report), and the
//! suite runner that runs them in order and renders the report.
//!
//! Invariants: each case runs in a directory of its own under the data root and
//! removes it when done, so cases do not see each other's data and disk use stays
//! bounded; a workload that fails is reported as failed and the others still run.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod defaults;
pub mod e2e;
pub mod encryption;
pub mod fanout;
pub mod ffi;
pub mod firehose;
pub mod get;
pub mod idle;
pub mod limits;
pub mod log;
pub mod ondemand;
pub mod peers;
pub mod placement;
pub mod put;
pub mod python;
pub mod recovery;
pub mod server;
#[cfg(feature = "sql")]
pub mod sql;
pub mod throughput;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use tidelog::{EngineConfig, Limits};

use crate::cli::Args;
use crate::env::Environment;
use crate::report::{self, Report};

/// Errors of a workload: anything, with its message.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Result of a workload.
pub type Result<T> = std::result::Result<T, BoxError>;

/// A selectable workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// What a user would write by hand, and the raw device.
    Baseline,
    /// put latency from a foreign thread, `os` and `sync`.
    Put,
    /// get_records latency, 1 and 100 records.
    Get,
    /// The C ABI's cost: put and get_records from a C program beside the Rust API.
    Ffi,
    /// put → subscriber on another thread.
    E2e,
    /// records/s and MB/s with limits off.
    Throughput,
    /// Many shards at the Kinesis limits: throttling accuracy, latency.
    Limits,
    /// Engine open after a SIGKILL with a large log.
    Recovery,
    /// Memory, disk and open time of many idle shards.
    Idle,
    /// The log of one shard: appends, syncs, warm zero-copy scan, reopen.
    Log,
    /// SubscribeToShard beside the raw subscription: put → event latency.
    Fanout,
    /// Encrypted put and get throughput beside plaintext.
    Encryption,
    /// An on-demand stream following a doubling load.
    OnDemand,
    /// `tidelog serve` over HTTP beside ferrokinesis, through a Rust client and boto3.
    Server,
    /// SQL over a stream beside DataFusion's and DuckDB's NDJSON scans of the same
    /// records, and Arrow export (built with the `sql` feature: `make bench-sql`; not
    /// part of `all`).
    Sql,
    /// Firehose delivery streams: ingest, put → visible, delivery throughput.
    Firehose,
    /// The engine as the README opens it, from unpinned callers, beside the tuned setup.
    Defaults,
    /// tidelog beside SQLite and redb used as append-only logs: appends and a scan.
    Peers,
    /// The Python API (a release extension) as a notebook calls it.
    Python,
    /// The host's placement of the VM's CPUs (their round trip) beside the tuned put's
    /// p50, window by window (not part of `all`).
    Placement,
}

impl Workload {
    /// Every workload, in suite order.
    pub const ALL: [Workload; 18] = [
        Self::Baseline,
        Self::Put,
        Self::Get,
        Self::Defaults,
        Self::Peers,
        Self::Python,
        Self::Ffi,
        Self::E2e,
        Self::Throughput,
        Self::Limits,
        Self::Recovery,
        Self::Idle,
        Self::Log,
        Self::Fanout,
        Self::Encryption,
        Self::OnDemand,
        Self::Server,
        Self::Firehose,
    ];

    /// The name on the command line and in the report.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Put => "put",
            Self::Get => "get",
            Self::Ffi => "ffi",
            Self::E2e => "e2e",
            Self::Throughput => "throughput",
            Self::Limits => "limits",
            Self::Recovery => "recovery",
            Self::Idle => "idle",
            Self::Log => "log",
            Self::Fanout => "fanout",
            Self::Encryption => "encryption",
            Self::OnDemand => "ondemand",
            Self::Server => "server",
            Self::Sql => "sql",
            Self::Firehose => "firehose",
            Self::Defaults => "defaults",
            Self::Peers => "peers",
            Self::Python => "python",
            Self::Placement => "placement",
        }
    }

    /// Workloads run only when named (they need an optional feature).
    pub const EXTRA: [Workload; 2] = [Self::Sql, Self::Placement];

    /// The workload with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .chain(Self::EXTRA.iter())
            .copied()
            .find(|w| w.name() == name)
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<()> {
        match self {
            Self::Baseline => baseline::run(ctx),
            Self::Put => put::run(ctx),
            Self::Get => get::run(ctx),
            Self::Ffi => ffi::run(ctx),
            Self::E2e => e2e::run(ctx),
            Self::Throughput => throughput::run(ctx),
            Self::Limits => limits::run(ctx),
            Self::Recovery => recovery::run(ctx),
            Self::Idle => idle::run(ctx),
            Self::Log => log::run(ctx),
            Self::Fanout => fanout::run(ctx),
            Self::Encryption => encryption::run(ctx),
            Self::OnDemand => ondemand::run(ctx),
            Self::Server => server::run(ctx),
            #[cfg(feature = "sql")]
            Self::Sql => sql::run(ctx),
            #[cfg(not(feature = "sql"))]
            Self::Sql => Err(
                "the sql workload needs the `sql` feature: run `make bench-sql` \
                 (cargo run --release -p tidelog-bench --features sql -- --workload sql)"
                    .into(),
            ),
            Self::Firehose => firehose::run(ctx),
            Self::Defaults => defaults::run(ctx),
            Self::Peers => peers::run(ctx),
            Self::Python => python::run(ctx),
            Self::Placement => placement::run(ctx),
        }
    }
}

/// What every workload gets.
pub struct Ctx<'a> {
    /// The options.
    pub args: &'a Args,
    /// The data root: each case gets a directory under it.
    pub root: PathBuf,
    /// Where figures go.
    pub report: Report,
    cases: usize,
}

/// A case's directory, removed when dropped.
pub struct CaseDir {
    path: PathBuf,
}

impl CaseDir {
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CaseDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl<'a> Ctx<'a> {
    /// A context writing under `root`.
    pub fn new(args: &'a Args, root: PathBuf) -> Self {
        Self {
            args,
            root,
            report: Report::default(),
            cases: 0,
        }
    }

    /// A fresh directory for a case (removed when the returned value drops).
    pub fn case_dir(&mut self, name: &str) -> Result<CaseDir> {
        self.cases += 1;
        let path = self.root.join(format!("{:03}-{name}", self.cases));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(CaseDir { path })
    }

    /// Engine cores: `--cores`, or one (the other CPUs are left to the callers).
    pub fn cores(&self) -> usize {
        self.args.cores.unwrap_or(1)
    }

    /// An engine configuration for `dir` with the run's cores and pinning, and no
    /// limits (workloads that want limits set them).
    pub fn engine_config(&self, dir: &Path) -> EngineConfig {
        let mut config = EngineConfig::new(dir);
        config.cores = Some(self.cores());
        config.pin_cores = self.args.pin;
        config.limits = Limits::unlimited();
        config.log.preallocation = self.args.preallocation[0];
        config
    }

    /// The CPUs the bench's own threads may use (all, when not pinning).
    pub fn bench_cpus(&self) -> Vec<usize> {
        if self.args.pin {
            crate::sys::free_cpus(self.cores())
        } else {
            crate::sys::allowed_cpus()
        }
    }

    /// Pins the calling thread away from the cores' CPUs (when pinning, and if any CPU
    /// is left).
    pub fn pin_bench_thread(&self) {
        if self.args.pin {
            crate::sys::pin_current_thread(&self.bench_cpus());
        }
    }

    /// Opens an engine: from every CPU (the engine pins its cores to the CPUs its
    /// caller may use), then back on the bench's CPUs.
    pub fn open_engine(&self, config: EngineConfig) -> Result<tidelog::Engine> {
        let pinned = if self.args.pin {
            self.bench_cpus()
        } else {
            Vec::new()
        };
        Ok(crate::sys::with_all_cpus(&pinned, || {
            tidelog::Engine::open(config)
        })?)
    }

    /// Spawns a child process allowed on every CPU (it inherits this thread's
    /// affinity otherwise).
    pub fn spawn_child(&self, command: &mut std::process::Command) -> Result<std::process::Child> {
        let pinned = if self.args.pin {
            self.bench_cpus()
        } else {
            Vec::new()
        };
        Ok(crate::sys::with_all_cpus(&pinned, || command.spawn())?)
    }

    /// Tells the person waiting what runs now (stderr, so stdout stays the report).
    pub fn progress(&self, message: &str) {
        eprintln!("  {message}");
    }
}

/// Runs the selected workloads (each after a syncfs of the data directory's file
/// system, so earlier writeback does not skew it) and renders the report: the table (or JSON) on stdout
/// and the files in the output directory. Fails only if nothing could be reported.
pub fn run_suite(args: &Args) -> Result<()> {
    let started = Instant::now();
    let temp;
    let root = match &args.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create --data-dir {}: {e}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("tidelog-bench-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary data directory: {e}"))?;
            temp.path().to_path_buf()
        }
    };
    // Before any thread is pinned: the CPUs this process may use.
    let cpus = crate::sys::allowed_cpus().len();
    if let Some(cores) = args.cores
        && args.pin
        && cores > cpus
    {
        return Err(format!(
            "--cores {cores}: this process may use {cpus} CPU(s), and pinned cores need one \
             each (use fewer cores, or --no-pin)"
        )
        .into());
    }
    let env = Environment::capture(&root);
    let out_dir = match &args.out {
        Some(dir) => dir.clone(),
        None => PathBuf::from("bench-results")
            .join(crate::env::utc_stamps(std::time::SystemTime::now()).1),
    };
    // The engine holds descriptors per shard; the idle workload opens thousands.
    crate::sys::raise_open_file_limit(u64::from(args.idle_shards) * 3 + 4096);

    let mut workloads = args.workloads.clone();
    if workloads.contains(&Workload::Put) && !workloads.contains(&Workload::Baseline) {
        // The put figures are judged against the baselines of the same run.
        workloads.insert(0, Workload::Baseline);
    }
    let mut ctx = Ctx::new(args, root.clone());
    ctx.pin_bench_thread();
    eprintln!(
        "tidelog-bench: {} in {} ({})",
        workloads
            .iter()
            .map(|w| w.name())
            .collect::<Vec<_>>()
            .join(", "),
        root.display(),
        env.summary()
    );
    for workload in &workloads {
        let t = Instant::now();
        if let Err(e) = crate::sys::settle(&root) {
            eprintln!("  (could not sync the file system first: {e})");
        }
        eprintln!(
            "{}: (file system synced in {:.1} s)",
            workload.name(),
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        if let Err(e) = workload.run(&mut ctx) {
            eprintln!("  FAILED: {e}");
            ctx.report
                .failures
                .push((workload.name().to_string(), e.to_string()));
        }
        eprintln!("  ({:.1} s)", t.elapsed().as_secs_f64());
    }
    let report = std::mem::take(&mut ctx.report);
    let comparisons = crate::targets::comparisons(&report);
    let targets = crate::targets::evaluate(&report);
    let context = report::Context {
        env: &env,
        data_dir: &root,
        out_dir: &out_dir,
        options: json!({
            "workloads": workloads.iter().map(|w| w.name()).collect::<Vec<_>>(),
            "duration_s": args.duration.as_secs_f64(),
            "warmup_s": args.warmup.as_secs_f64(),
            "rate_per_sec": args.rate_per_sec,
            "record_bytes": args.record_bytes,
            "shards": args.shards,
            "producers": args.producers,
            "consumers": args.consumers,
            "cores": ctx.cores(),
            "pin": args.pin,
            "durability": args.durability.map(|d| format!("{d:?}").to_lowercase()),
            "sync_driver": args.sync_driver.map(|d| format!("{d:?}")),
            "recovery_gib": args.recovery_gib,
            "idle_shards": args.idle_shards,
            "log_mb": args.log_mb,
            "preallocation": args.preallocation.iter().map(|p| format!("{p:?}").to_lowercase()).collect::<Vec<_>>(),
        }),
        comparisons: &comparisons,
        targets: &targets,
        run_seconds: started.elapsed().as_secs_f64(),
    };
    let table = report::table(&report, &context);
    let written = report::write_files(&report, &context, &table)
        .map_err(|e| format!("cannot write results to {}: {e}", out_dir.display()))?;
    if args.json {
        let doc = report::to_json(&report, &context);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{table}");
    }
    eprintln!(
        "tidelog-bench: wrote {} files to {}",
        written.len(),
        out_dir.display()
    );
    if !report.failures.is_empty() {
        return Err(format!(
            "{} workload(s) failed: {}",
            report.failures.len(),
            report
                .failures
                .iter()
                .map(|(w, _)| w.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into());
    }
    Ok(())
}

/// What a single-threaded timing loop measured.
#[derive(Debug)]
pub struct Timed {
    /// Latency per request.
    pub latency: crate::hist::Latency,
    /// Requests in the measuring interval.
    pub ops: u64,
    /// Its length, s.
    pub seconds: f64,
    /// CPU time of the process's live threads in it, ns.
    pub cpu_ns: u64,
}

/// Runs `op` on this thread: `warmup` first (not recorded; `op(false)`), then for
/// `duration` (`op(true)`), recording each request's latency (from its intended send time when `pace` is open).
/// With a `gap`, sleeps that long before each request (not timed), so an engine core
/// goes idle between requests.
pub fn time_loop(
    pace: crate::pace::Pace,
    warmup: std::time::Duration,
    duration: std::time::Duration,
    gap: std::time::Duration,
    mut op: impl FnMut(bool) -> Result<()>,
) -> Result<Timed> {
    use crate::pace::Pacer;
    let warm_end = Instant::now() + warmup;
    let mut pacer = Pacer::new(pace, true);
    while Instant::now() < warm_end {
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
        pacer.wait_next();
        op(false)?;
    }
    let mut latency = crate::hist::Latency::new();
    let mut pacer = Pacer::new(pace, true);
    let cpu_before = crate::sys::process_cpu_ns();
    let start = Instant::now();
    let end = start + duration;
    let mut ops = 0u64;
    loop {
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
        let sent = pacer.wait_next();
        op(true)?;
        let now = Instant::now();
        latency.record(now.saturating_duration_since(sent));
        ops += 1;
        if now >= end {
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_ns = crate::sys::process_cpu_ns().saturating_sub(cpu_before);
    Ok(Timed {
        latency,
        ops,
        seconds,
        cpu_ns,
    })
}

/// What a multi-threaded case measured.
#[derive(Debug)]
pub struct Many {
    /// Latency per request, all threads.
    pub latency: crate::hist::Latency,
    /// Requests completed in the measuring interval.
    pub ops: u64,
    /// Records they carried.
    pub records: u64,
    /// The interval.
    pub measured: crate::pace::Measured,
}

/// Runs `threads` threads calling `op(thread index)` (which returns the records the
/// request carried) through a warm-up and a measuring interval (a request counts in the
/// interval it was sent in; the interval lasts until every thread completed one). Each thread paces its own requests (`pace`; an open loop sleeps rather than spins when threads outnumber
/// the free CPUs) and records latency only inside the interval.
pub fn run_threads(
    ctx: &Ctx<'_>,
    threads: usize,
    pace: crate::pace::Pace,
    op: &(dyn Fn(usize) -> Result<u64> + Sync),
) -> Result<Many> {
    use crate::pace::{Pacer, Window};
    use std::sync::Mutex;
    let window = Window::default();
    window.expect_threads(threads);
    let cpus = ctx.bench_cpus();
    let spin = threads <= cpus.len();
    let first_error: Mutex<Option<BoxError>> = Mutex::new(None);
    let totals: Mutex<(crate::hist::Latency, u64, u64)> =
        Mutex::new((crate::hist::Latency::new(), 0, 0));
    let measured = std::thread::scope(|scope| {
        for t in 0..threads {
            let (window, first_error, totals, cpus) = (&window, &first_error, &totals, &cpus);
            let pin = ctx.args.pin;
            scope.spawn(move || {
                if pin {
                    crate::sys::pin_current_thread(cpus);
                }
                let mut latency = crate::hist::Latency::new();
                let (mut ops, mut records) = (0u64, 0u64);
                let mut pacer = Pacer::new(pace, spin);
                let mut was_measuring = false;
                while !window.stopped() {
                    let measuring = window.measuring();
                    if measuring && !was_measuring {
                        pacer = Pacer::new(pace, spin); // the schedule starts with the interval
                        was_measuring = true;
                    }
                    let sent = pacer.wait_next();
                    match op(t) {
                        Ok(n) => {
                            // A request belongs to the interval it was sent in.
                            if measuring {
                                latency.record(Instant::now().saturating_duration_since(sent));
                                if ops == 0 {
                                    window.sampled();
                                }
                                ops += 1;
                                records += n;
                            }
                        }
                        Err(e) => {
                            first_error
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(e);
                            window.stop();
                            break;
                        }
                    }
                }
                let mut totals = totals.lock().unwrap_or_else(|p| p.into_inner());
                totals.0.merge(&latency);
                totals.1 += ops;
                totals.2 += records;
            });
        }
        let measured = window.run(ctx.args.warmup, ctx.args.duration);
        window.stop();
        measured
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let (latency, ops, records) = totals.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(Many {
        latency,
        ops,
        records,
        measured,
    })
}

/// A partition key of `prefix` that routes to shard `shard` of a stream of `shards`
/// shards created with an even split (found by trying `prefix-0`, `prefix-1`, ...).
pub fn key_for_shard(prefix: &str, shard: u32, shards: u32) -> String {
    let ranges = tidelog::stream::hashkey::even_split(shards);
    let range = ranges[shard as usize % ranges.len()];
    (0u64..)
        .map(|i| format!("{prefix}-{i}"))
        .find(|k| range.contains(tidelog::stream::hashkey::hash_key(k)))
        .unwrap_or_else(|| unreachable!("MD5 covers every range eventually"))
}

/// The explicit hash key (decimal) of the start of shard `shard`'s range.
pub fn explicit_key_for_shard(shard: u32, shards: u32) -> String {
    let ranges = tidelog::stream::hashkey::even_split(shards);
    ranges[shard as usize % ranges.len()].start.to_string()
}
