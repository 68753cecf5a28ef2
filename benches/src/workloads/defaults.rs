//! The configuration users run, beside the tuned one, in the same run.
//!
//! `defaults`: the engine opened exactly as the README's examples open it
//! (`EngineConfig::new(dir)`, which is also `tidelog.open(path)` and
//! `tidelog_engine_open(path, NULL)`), with only `os` durability and the limits off, and
//! called from unpinned threads; `tuned`: the suite's own setup (one core, pinned,
//! [`Machine::Dedicated`], callers pinned to the other CPUs). Each case: a stream of 2
//! shards, 1 KiB puts with keys alternating over both shards, closed loop, at 1, 2 and
//! 2×CPUs caller threads. Every case runs [`RUNS`] times, each run on freshly opened
//! engines. The defaults and the tuned setup share each run ([`paired_run`]): both
//! engines open side by side, the same callers put into one, then the other, in
//! alternating 50 ms slices. The host moves this VM's two vCPUs between the SMT
//! siblings of one physical core and two separate cores every few seconds, which moves
//! every cross-CPU put by ~2.5x (the `placement` workload shows it window by window);
//! slices 50 ms apart see the same placement where separate runs need not. Where the
//! machine has more than one CPU, the defaults also run restricted to one CPU (as under
//! `taskset -c 0`: the opening thread and its callers allowed on one CPU only), so the
//! engine has fewer CPUs than a dedicated setup would give it cores.
//!
//! On one CPU no setup can keep a caller and the core apart: every put is a thread
//! hand-off each way, and the tuned setup (callers pinned away from the core) does not
//! exist. So the restricted defaults are weighed against `handoff_1cpu`, measured in
//! the same run on the same CPU: the same callers hand a 1 KiB record to one server
//! thread over a channel and park until it answers (copy, then unpark), the least any
//! design with the log on its own thread pays there.
//!
//! Verdict: in every run, the defaults' p50 must stay within 2× the tuned p50 of the
//! same run and their p99 within 3× the tuned p99 (on one CPU: the restricted defaults'
//! worst run against the hand-off's median); a miss fails the workload (the suite then
//! exits non-zero), unless `TIDELOG_BENCH_DEFAULTS_ADVISORY` is set (the smoke test, on
//! a busy machine).
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use tidelog::{Durability, EngineConfig, Limits, Machine, PutOptions};

use super::{Ctx, Result, key_for_shard};
use crate::hist::Latency;
use crate::report::Row;

/// Runs of each case.
pub const RUNS: usize = 5;
const RECORD_BYTES: usize = 1024;
/// Defaults' worst p50 over the tuned median p50.
pub const P50_BOUND: f64 = 2.0;
/// Defaults' worst p99 over the tuned median p99.
pub const P99_BOUND: f64 = 3.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    Defaults,
    Tuned,
    /// The defaults, the process restricted to one CPU.
    Restricted,
    /// The floor on one CPU: a thread hand-off each way per record, no engine.
    Handoff,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Self::Defaults => "defaults",
            Self::Tuned => "tuned",
            Self::Restricted => "defaults_1cpu",
            Self::Handoff => "handoff_1cpu",
        }
    }
}

/// One run: latency of every put, and how long the measuring lasted.
struct RunResult {
    latency: Latency,
    seconds: f64,
    cores: usize,
    /// The machine's own CPU-to-CPU round trip just before and just after the run
    /// ([`round_trip_ns`]).
    round_trip_ns: Option<(u64, u64)>,
    /// The process's page faults during the run, minor and major.
    faults: Option<(u64, u64)>,
    /// How fast each of the first two CPUs ran a fixed chain of arithmetic just before
    /// and just after the run ([`compute_ns`]).
    compute_ns: Option<([u64; 2], [u64; 2])>,
}

impl RunResult {
    /// A run's calls; the machine's figures around it are filled in by [`run`].
    fn new(latency: Latency, seconds: f64, cores: usize) -> Self {
        Self {
            latency,
            seconds,
            cores,
            round_trip_ns: None,
            faults: None,
            compute_ns: None,
        }
    }
}

/// Runs the workload.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let cpus = crate::sys::allowed_cpus();
    let mut counts = vec![1usize, 2, 2 * cpus.len()];
    counts.dedup();
    let mut setups = vec![Setup::Defaults, Setup::Tuned];
    if cpus.len() > 1 {
        setups.push(Setup::Restricted);
        setups.push(Setup::Handoff);
    }
    let mut failures = Vec::new();
    for &callers in &counts {
        let mut results: Vec<(Setup, Vec<RunResult>)> =
            setups.iter().map(|&s| (s, Vec::new())).collect();
        for run in 0..RUNS {
            for setup in setups.iter().copied() {
                if setup == Setup::Tuned {
                    continue; // runs in the defaults' paired run
                }
                ctx.progress(&format!(
                    "{} with {callers} caller(s), run {}/{RUNS}",
                    if setup == Setup::Defaults {
                        "defaults and tuned"
                    } else {
                        setup.name()
                    },
                    run + 1
                ));
                let compute_before = compute_ns(&cpus);
                let before = round_trip_ns(&cpus);
                let faults_before = crate::sys::page_faults();
                let mut done = if setup == Setup::Defaults {
                    let [defaults, tuned] = paired_run(ctx, callers, run % 2 == 1)?;
                    vec![(Setup::Defaults, defaults), (Setup::Tuned, tuned)]
                } else {
                    vec![(setup, one_run(ctx, setup, callers)?)]
                };
                let faults = faults_before
                    .zip(crate::sys::page_faults())
                    .map(|((min0, maj0), (min1, maj1))| (min1 - min0, maj1 - maj0));
                let round_trip = before.zip(round_trip_ns(&cpus));
                let compute = compute_before.zip(compute_ns(&cpus));
                for (setup, mut result) in done.drain(..) {
                    result.faults = faults;
                    result.round_trip_ns = round_trip;
                    result.compute_ns = compute;
                    if let Some((_, runs)) = results.iter_mut().find(|(s, _)| *s == setup) {
                        runs.push(result);
                    }
                }
            }
        }
        // The medians the restricted defaults are weighed against (on one CPU):
        // the hand-off's.
        let medians = |wanted: Setup| {
            results.iter().find(|(s, _)| *s == wanted).map(|(_, runs)| {
                (
                    median(runs.iter().map(|r| r.latency.quantile_ns(0.5))),
                    median(runs.iter().map(|r| r.latency.quantile_ns(0.99))),
                )
            })
        };
        let handoff = medians(Setup::Handoff);
        for (setup, runs) in &results {
            let p50s: Vec<u64> = runs.iter().map(|r| r.latency.quantile_ns(0.5)).collect();
            let p99s: Vec<u64> = runs.iter().map(|r| r.latency.quantile_ns(0.99)).collect();
            let (min50, max50) = min_max(&p50s);
            let (min99, max99) = min_max(&p99s);
            let mut merged = Latency::new();
            for r in runs {
                merged.merge(&r.latency);
            }
            let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
            let ops = merged.count();
            let key = format!("defaults.{}.c{callers}", setup.name());
            ctx.report.row(Row {
                key: key.clone(),
                workload: "defaults",
                case: match setup {
                    Setup::Handoff => format!(
                        "{} (no engine: a thread hand-off each way), {callers} caller \
                         thread(s), {RUNS} runs",
                        setup.name()
                    ),
                    _ => format!(
                        "{} setup, {callers} caller thread(s), {RUNS} runs ({} core(s))",
                        setup.name(),
                        runs.first().map_or(0, |r| r.cores)
                    ),
                },
                mode: "os, 1 KiB, 2 shards, closed loop".to_string(),
                seconds,
                ops,
                records: ops,
                data_bytes: ops * RECORD_BYTES as u64,
                cpu_ns: None,
                latency: merged,
            });
            for (name, value) in [
                ("p50_min_ns", min50),
                ("p50_max_ns", max50),
                ("p99_min_ns", min99),
                ("p99_max_ns", max99),
            ] {
                ctx.report.figure(
                    "defaults",
                    format!("{key}.{name}"),
                    format!(
                        "{} setup, {callers} caller(s): {} over {RUNS} runs",
                        setup.name(),
                        name.replace('_', " ")
                    ),
                    value as f64,
                    "ns",
                );
            }
            ctx.report.note(format!(
                "defaults: {} with {callers} caller(s): p50 {}-{} ns, p99 {}-{} ns over {RUNS} runs",
                setup.name(),
                min50,
                max50,
                min99,
                max99
            ));
            // Each run's p50 beside the machine's CPU-to-CPU round trip measured just
            // before and just after it: a host that moves the VM's CPUs apart slows
            // every cross-CPU hand-off.
            if runs.iter().any(|r| r.round_trip_ns.is_some()) {
                let pairs: Vec<String> = runs
                    .iter()
                    .map(|r| {
                        let per_k = |n: u64| n as f64 * 1000.0 / r.latency.count().max(1) as f64;
                        format!(
                            "{} ns ({}; {}; {})",
                            r.latency.quantile_ns(0.5),
                            r.round_trip_ns
                                .map_or("-".to_string(), |(b, a)| format!("{b}/{a} ns")),
                            r.faults.map_or("-".to_string(), |(minor, major)| format!(
                                "{:.1}/{:.1} faults per 1k puts, {:.0} per s",
                                per_k(minor),
                                per_k(major),
                                (minor + major) as f64 / r.seconds.max(1e-9)
                            )),
                            r.compute_ns.map_or("-".to_string(), |(b, a)| format!(
                                "compute {}+{}/{}+{} ns",
                                b[0], b[1], a[0], a[1]
                            ))
                        )
                    })
                    .collect();
                ctx.report.note(format!(
                    "defaults: {} with {callers} caller(s), each run's p50 (CPU round trip \
                     before/after it; minor/major page faults of the process during it; \
                     a fixed arithmetic chain on CPU 0 + CPU 1 before/after it): {}",
                    setup.name(),
                    pairs.join(", ")
                ));
            }
            let (r50, r99, against) = match setup {
                Setup::Tuned | Setup::Handoff => continue,
                // Each run against the tuned slices of the same run: both saw the same
                // host, whichever way it had placed the two vCPUs at the time.
                Setup::Defaults => {
                    let tuned_runs = &results
                        .iter()
                        .find(|(s, _)| *s == Setup::Tuned)
                        .expect("tuned always runs")
                        .1;
                    let worst = |q: f64| {
                        runs.iter()
                            .zip(tuned_runs)
                            .map(|(d, t)| {
                                d.latency.quantile_ns(q) as f64
                                    / t.latency.quantile_ns(q).max(1) as f64
                            })
                            .fold(0.0f64, f64::max)
                    };
                    (worst(0.5), worst(0.99), "the tuned slices of the same run")
                }
                Setup::Restricted => {
                    let (base50, base99) =
                        handoff.expect("the hand-off runs beside the restricted defaults");
                    (
                        max50 as f64 / base50.max(1) as f64,
                        max99 as f64 / base99.max(1) as f64,
                        "the hand-off's median",
                    )
                }
            };
            ctx.report.figure(
                "defaults",
                format!("{key}.p50_ratio"),
                format!(
                    "{} with {callers} caller(s): worst p50 over {against}",
                    setup.name()
                ),
                r50,
                "ratio",
            );
            ctx.report.figure(
                "defaults",
                format!("{key}.p99_ratio"),
                format!(
                    "{} with {callers} caller(s): worst p99 over {against}",
                    setup.name()
                ),
                r99,
                "ratio",
            );
            if r50 > P50_BOUND || r99 > P99_BOUND {
                failures.push(format!(
                    "{} with {callers} caller(s): worst p50 {r50:.2}x {against} (bound \
                     {P50_BOUND}x), worst p99 {r99:.2}x {against} (bound {P99_BOUND}x)",
                    setup.name()
                ));
            }
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    let message = format!(
        "THE DEFAULTS FELL BEHIND THE TUNED SETUP: {}",
        failures.join("; ")
    );
    if std::env::var_os("TIDELOG_BENCH_DEFAULTS_ADVISORY").is_some() {
        ctx.report.note(format!("{message} (advisory run)"));
        Ok(())
    } else {
        Err(message.into())
    }
}

/// Opens a fresh engine in `setup`, runs `callers` threads of closed-loop puts through
/// a warm-up and a measuring interval, and closes it.
fn one_run(ctx: &mut Ctx<'_>, setup: Setup, callers: usize) -> Result<RunResult> {
    if setup == Setup::Handoff {
        return handoff_run(ctx, callers);
    }
    let dir = ctx.case_dir(&format!("defaults-{}-{callers}", setup.name()))?;
    let cpus = crate::sys::allowed_cpus();
    let (warmup, duration) = (ctx.args.warmup, ctx.args.duration);
    let path = dir.path().to_path_buf();
    // Everything on a fresh thread: its affinity is one CPU (the restricted case) or
    // the whole process's, whatever the bench's main thread was pinned to, and the
    // callers it spawns inherit it.
    std::thread::scope(|scope| {
        scope
            .spawn(move || -> Result<RunResult> {
                if setup == Setup::Restricted {
                    crate::sys::pin_current_thread(&cpus[..1]);
                } else {
                    crate::sys::unpin_current_thread();
                }
                let engine = tidelog::Engine::open(defaults_config(&path))?;
                let cores = engine.cores();
                engine.create_stream("d", 2)?;
                let keys = [key_for_shard("k", 0, 2), key_for_shard("k", 1, 2)];
                let data = vec![0x5au8; RECORD_BYTES];
                let results = timed_callers(callers, warmup, duration, |t| {
                    let (engine, keys, data) = (&engine, &keys, &data);
                    let mut i = t;
                    move || {
                        engine.put_record("d", &keys[i % 2], data, PutOptions::default())?;
                        i += 1;
                        Ok(())
                    }
                });
                engine.close()?;
                let (latency, seconds) = results?;
                Ok(RunResult::new(latency, seconds, cores))
            })
            .join()
            .map_err(|_| "the run's thread panicked".to_string())?
    })
}

/// The engine as the README opens it, with `os` durability and the limits off.
fn defaults_config(path: &std::path::Path) -> EngineConfig {
    let mut config = EngineConfig::new(path);
    config.durability = Durability::Os;
    config.limits = Limits::unlimited();
    config
}

/// What the callers of a paired run do now.
const PAUSE: u8 = 0;
const DEFAULTS: u8 = 1;
const TUNED: u8 = 2;
const STOP: u8 = 3;
/// One setup's slice of a paired run.
const SLICE: Duration = Duration::from_millis(50);
/// The quiet time before each slice: longer than a core's spin (200 µs), so the
/// engine whose slice just ended has parked its core before the other one's starts.
const GAP: Duration = Duration::from_millis(2);

/// The defaults and the tuned setup in one run: both engines open side by side (fresh
/// data directories), and the same `callers` threads put 1 KiB records into one, then
/// the other, in alternating [`SLICE`]s (unpinned for the defaults, pinned away from
/// the tuned core for the tuned setup) through `warmup` and then `duration` of each.
/// The host moves this VM's two vCPUs between one physical core's SMT siblings and
/// two cores every few seconds (see `docs/benchmarks.md`), which moves every
/// cross-CPU put by 2.5x; slices 50 ms apart see the same placement, runs a minute
/// apart need not. Returns `[defaults, tuned]`.
fn paired_run(ctx: &mut Ctx<'_>, callers: usize, tuned_first: bool) -> Result<[RunResult; 2]> {
    let defaults_dir = ctx.case_dir(&format!("defaults-defaults-{callers}"))?;
    let tuned_dir = ctx.case_dir(&format!("defaults-tuned-{callers}"))?;
    let tuned_config = {
        let mut config = ctx.engine_config(tuned_dir.path());
        config.machine = Machine::Dedicated;
        config.durability = Durability::Os;
        config
    };
    let (warmup, duration) = (ctx.args.warmup, ctx.args.duration);
    let bench_cpus = ctx.bench_cpus();
    let pin = ctx.args.pin;
    let defaults_path = defaults_dir.path().to_path_buf();
    std::thread::scope(|scope| {
        scope
            .spawn(move || -> Result<[RunResult; 2]> {
                crate::sys::unpin_current_thread();
                let defaults = tidelog::Engine::open(defaults_config(&defaults_path))?;
                let tuned = tidelog::Engine::open(tuned_config)?;
                let engines = [&defaults, &tuned];
                for engine in engines {
                    engine.create_stream("d", 2)?;
                }
                let keys = [key_for_shard("k", 0, 2), key_for_shard("k", 1, 2)];
                let data = vec![0x5au8; RECORD_BYTES];
                let phase = AtomicU8::new(PAUSE);
                let measuring = AtomicBool::new(false);
                let start = Barrier::new(callers + 1);
                let order = if tuned_first {
                    [TUNED, DEFAULTS]
                } else {
                    [DEFAULTS, TUNED]
                };
                let measured = std::thread::scope(|inner| -> Result<([Latency; 2], [f64; 2])> {
                    let handles: Vec<_> = (0..callers)
                        .map(|t| {
                            let (phase, measuring, start) = (&phase, &measuring, &start);
                            let (keys, data, bench_cpus) = (&keys, &data, &bench_cpus);
                            inner.spawn(move || -> Result<[Latency; 2]> {
                                let mut latency = [Latency::new(), Latency::new()];
                                let mut placed = PAUSE;
                                let mut i = t;
                                start.wait();
                                loop {
                                    let now = phase.load(Ordering::Acquire);
                                    match now {
                                        STOP => break,
                                        PAUSE => {
                                            std::thread::sleep(Duration::from_micros(100));
                                            continue;
                                        }
                                        _ => {}
                                    }
                                    if now != placed {
                                        if now == TUNED && pin {
                                            crate::sys::pin_current_thread(bench_cpus);
                                        } else {
                                            crate::sys::unpin_current_thread();
                                        }
                                        placed = now;
                                    }
                                    let which = usize::from(now == TUNED);
                                    let sent = Instant::now();
                                    engines[which].put_record(
                                        "d",
                                        &keys[i % 2],
                                        data,
                                        PutOptions::default(),
                                    )?;
                                    // Only calls wholly inside their slice count.
                                    if measuring.load(Ordering::Relaxed)
                                        && phase.load(Ordering::Acquire) == now
                                    {
                                        latency[which].record(sent.elapsed());
                                    }
                                    i += 1;
                                }
                                Ok(latency)
                            })
                        })
                        .collect();
                    start.wait();
                    let mut seconds = [0.0f64; 2];
                    for (span, measure) in [(warmup, false), (duration, true)] {
                        measuring.store(measure, Ordering::Relaxed);
                        let mut done = Duration::ZERO;
                        while done < span {
                            for which in order {
                                std::thread::sleep(GAP);
                                let began = Instant::now();
                                phase.store(which, Ordering::Release);
                                std::thread::sleep(SLICE);
                                phase.store(PAUSE, Ordering::Release);
                                if measure {
                                    seconds[usize::from(which == TUNED)] +=
                                        began.elapsed().as_secs_f64();
                                }
                            }
                            done += SLICE;
                        }
                    }
                    phase.store(STOP, Ordering::Release);
                    let mut merged = [Latency::new(), Latency::new()];
                    for handle in handles {
                        let one = handle
                            .join()
                            .map_err(|_| "a caller thread panicked".to_string())??;
                        for (into, from) in merged.iter_mut().zip(&one) {
                            into.merge(from);
                        }
                    }
                    Ok((merged, seconds))
                });
                let cores = [defaults.cores(), tuned.cores()];
                defaults.close()?;
                tuned.close()?;
                let ([defaults_latency, tuned_latency], seconds) = measured?;
                Ok([
                    RunResult::new(defaults_latency, seconds[0], cores[0]),
                    RunResult::new(tuned_latency, seconds[1], cores[1]),
                ])
            })
            .join()
            .map_err(|_| "the run's thread panicked".to_string())?
    })
}

/// One request to the hand-off's server thread: the caller to wake, and the flag that
/// says its record was taken.
struct Handed {
    caller: std::thread::Thread,
    done: Arc<AtomicBool>,
}

/// The one-CPU floor: `callers` threads, each handing a 1 KiB record to one server
/// thread (copied into a buffer of its own there, then handed to a channel of
/// requests) and parking until the server has copied it and unparked them; everything
/// allowed on the first CPU only, as the restricted defaults are.
fn handoff_run(ctx: &mut Ctx<'_>, callers: usize) -> Result<RunResult> {
    let cpus = crate::sys::allowed_cpus();
    let (warmup, duration) = (ctx.args.warmup, ctx.args.duration);
    std::thread::scope(|scope| {
        scope
            .spawn(move || -> Result<RunResult> {
                crate::sys::pin_current_thread(&cpus[..1]);
                let (tx, rx) = mpsc::channel::<(Handed, Vec<u8>)>();
                let server = std::thread::spawn(move || {
                    let mut log: Vec<u8> = Vec::with_capacity(1 << 20);
                    while let Ok((handed, record)) = rx.recv() {
                        if log.len() + record.len() > log.capacity() {
                            log.clear();
                        }
                        log.extend_from_slice(&record);
                        handed.done.store(true, Ordering::Release);
                        handed.caller.unpark();
                    }
                    log.len()
                });
                let data = vec![0x5au8; RECORD_BYTES];
                let results = timed_callers(callers, warmup, duration, |_| {
                    let (tx, data) = (tx.clone(), &data);
                    let me = std::thread::current();
                    move || {
                        let done = Arc::new(AtomicBool::new(false));
                        let handed = Handed {
                            caller: me.clone(),
                            done: done.clone(),
                        };
                        tx.send((handed, data.to_vec()))
                            .map_err(|_| "the hand-off's server stopped".to_string())?;
                        while !done.load(Ordering::Acquire) {
                            std::thread::park();
                        }
                        Ok(())
                    }
                });
                drop(tx);
                server
                    .join()
                    .map_err(|_| "the hand-off's server panicked".to_string())?;
                let (latency, seconds) = results?;
                Ok(RunResult::new(latency, seconds, 0))
            })
            .join()
            .map_err(|_| "the run's thread panicked".to_string())?
    })
}

/// How long a fixed chain of 100,000 dependent multiply-adds takes on each of the first
/// two CPUs, ns (median of 5; a thread pinned to each in turn). A host that shares a
/// vCPU's core with another guest (SMT) or slows its clock shows here, where the
/// cross-CPU round trip would not move.
fn compute_ns(cpus: &[usize]) -> Option<[u64; 2]> {
    let one = |cpu: usize| {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    crate::sys::pin_current_thread(&[cpu]);
                    let mut times: Vec<u64> = (0..5)
                        .map(|round| {
                            let start = Instant::now();
                            let mut x = std::hint::black_box(0x9e37_79b9_7f4a_7c15u64 + round);
                            for _ in 0..100_000 {
                                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                            }
                            std::hint::black_box(x);
                            start.elapsed().as_nanos() as u64
                        })
                        .collect();
                    times.sort_unstable();
                    times[times.len() / 2]
                })
                .join()
                .ok()
        })
    };
    Some([one(*cpus.first()?)?, one(*cpus.get(1)?)?])
}

/// The machine's CPU-to-CPU round trip, ns, between the first two CPUs
/// ([`crate::sys::cpu_round_trips`] over 20 ms): the median of the batches' means, so
/// a batch the host or the kernel preempted does not move it. `None` with one CPU.
fn round_trip_ns(cpus: &[usize]) -> Option<u64> {
    let (&a, &b) = (cpus.first()?, cpus.get(1)?);
    let mut means = crate::sys::cpu_round_trips(a, b, Duration::from_millis(20), 200);
    means.sort_unstable();
    means.get(means.len() / 2).copied()
}

/// Runs `callers` threads in a closed loop through `warmup`, then times every call for
/// `duration`: each thread first runs `setup(thread index)` (its pinning, its own
/// handles) and then calls what that returns until told to stop. Returns the merged
/// latency and the measured seconds.
fn timed_callers<S, C>(
    callers: usize,
    warmup: std::time::Duration,
    duration: std::time::Duration,
    setup: S,
) -> Result<(Latency, f64)>
where
    S: Fn(usize) -> C + Sync,
    C: FnMut() -> Result<()>,
{
    let measuring = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let start = Barrier::new(callers + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..callers)
            .map(|t| {
                let (setup, measuring, stop, start) = (&setup, &measuring, &stop, &start);
                scope.spawn(move || -> Result<Latency> {
                    let mut call = setup(t);
                    let mut latency = Latency::new();
                    start.wait();
                    while !stop.load(Ordering::Relaxed) {
                        let sent = Instant::now();
                        call()?;
                        if measuring.load(Ordering::Relaxed) {
                            latency.record(sent.elapsed());
                        }
                    }
                    Ok(latency)
                })
            })
            .collect();
        start.wait();
        std::thread::sleep(warmup);
        measuring.store(true, Ordering::Relaxed);
        let began = Instant::now();
        std::thread::sleep(duration);
        measuring.store(false, Ordering::Relaxed);
        let seconds = began.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let mut latency = Latency::new();
        for handle in handles {
            let one = handle
                .join()
                .map_err(|_| "a caller thread panicked".to_string())??;
            latency.merge(&one);
        }
        Ok((latency, seconds))
    })
}

fn median(values: impl Iterator<Item = u64>) -> u64 {
    let mut v: Vec<u64> = values.collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn min_max(values: &[u64]) -> (u64, u64) {
    (
        values.iter().copied().min().unwrap_or(0),
        values.iter().copied().max().unwrap_or(0),
    )
}
