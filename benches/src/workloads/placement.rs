//! Where the host puts this VM's CPUs, beside what a put costs there (`placement`;
//! run only when named).
//!
//! The workload alternates, for `--duration` or 30 s (whichever is longer), two things
//! in windows of about 100 ms: the CPU-to-CPU round trip between the first two CPUs
//! (two pinned threads passing a counter through one atomic; the fastest batch of 200
//! round trips in 20 ms, so a batch the host or the kernel preempted does not count),
//! then 80 ms of 1 KiB `os` puts from one caller into the tuned engine (one core,
//! [`Machine::Dedicated`], the caller pinned to another CPU). Each window gives a round
//! trip and a put p50; the report groups the windows by round trip. On this VM the
//! round trip sits at ~65 ns (the two vCPUs on one physical core's SMT siblings) or
//! ~290 ns (on two cores) and moves between them every few seconds; the put p50
//! follows it (docs/benchmarks.md). The `defaults` workload compares its setups in
//! alternating slices of one run for this reason.
//!
//! Invariants: the engine's core parks between windows (its spin, 200 µs, is shorter
//! than the pause before each round-trip probe), so the probe's thread on the core's
//! CPU does not share it with a spinning core; one CPU: the workload says so and
//! measures nothing.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use tidelog::{Durability, Machine, PutOptions};

use super::{Ctx, Result, key_for_shard};
use crate::hist::Latency;
use crate::report::Row;

const RECORD_BYTES: usize = 1024;
/// Shortest run of the workload.
const MIN_TOTAL: Duration = Duration::from_secs(30);
/// The probe's time in each window.
const PROBE: Duration = Duration::from_millis(20);
/// The puts' time in each window.
const PUTS: Duration = Duration::from_millis(80);
/// Round trips under this are the vCPUs' SMT siblings; at or over [`APART`], two cores.
const NEAR: u64 = 100;
const APART: u64 = 200;

/// Runs the workload.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let cpus = crate::sys::allowed_cpus();
    if cpus.len() < 2 {
        ctx.report
            .note("placement: one CPU, so no CPU-to-CPU round trip to follow; nothing measured");
        return Ok(());
    }
    let (a, b) = (cpus[0], cpus[1]);
    let dir = ctx.case_dir("placement")?;
    let mut config = ctx.engine_config(dir.path());
    config.cores = Some(1);
    config.machine = Machine::Dedicated;
    config.durability = Durability::Os;
    let total = ctx.args.duration.max(MIN_TOTAL);
    let keys = [key_for_shard("k", 0, 2), key_for_shard("k", 1, 2)];
    let data = vec![0x5au8; RECORD_BYTES];
    let bench_cpus = ctx.bench_cpus();
    ctx.progress(&format!(
        "placement: round trip CPU {a} <-> CPU {b}, then puts, for {total:?}"
    ));
    // (round trip ns, that window's puts)
    let windows: Vec<(u64, Latency)> = std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<Vec<(u64, Latency)>> {
                // The engine is opened from every CPU (it places its core among the
                // opening thread's CPUs); the caller then runs where the tuned setup
                // puts it, off the core's CPU.
                crate::sys::unpin_current_thread();
                let engine = tidelog::Engine::open(config)?;
                engine.create_stream("p", 2)?;
                crate::sys::pin_current_thread(&bench_cpus);
                let began = Instant::now();
                let mut windows = Vec::new();
                let mut i = 0usize;
                while began.elapsed() < total {
                    std::thread::sleep(Duration::from_millis(3));
                    let round_trip = fastest_round_trip(a, b);
                    let mut latency = Latency::new();
                    let start = Instant::now();
                    while start.elapsed() < PUTS {
                        let sent = Instant::now();
                        engine.put_record("p", &keys[i % 2], &data, PutOptions::default())?;
                        latency.record(sent.elapsed());
                        i += 1;
                    }
                    windows.push((round_trip, latency));
                }
                engine.close()?;
                Ok(windows)
            })
            .join()
            .map_err(|_| "the placement caller panicked".to_string())?
    })?;

    let classes = [
        ("near", "round trip < 100 ns (SMT siblings)", 0..NEAR),
        ("between", "round trip 100-199 ns", NEAR..APART),
        ("apart", "round trip >= 200 ns (two cores)", APART..u64::MAX),
    ];
    for (name, label, range) in classes {
        let chosen: Vec<&(u64, Latency)> = windows
            .iter()
            .filter(|(rt, _)| range.contains(rt))
            .collect();
        if chosen.is_empty() {
            ctx.report
                .note(format!("placement: no window with {label}"));
            continue;
        }
        let mut merged = Latency::new();
        for (_, latency) in &chosen {
            merged.merge(latency);
        }
        let mut p50s: Vec<u64> = chosen.iter().map(|(_, l)| l.quantile_ns(0.5)).collect();
        p50s.sort_unstable();
        let mut trips: Vec<u64> = chosen.iter().map(|(rt, _)| *rt).collect();
        trips.sort_unstable();
        let ops = merged.count();
        let seconds = chosen.len() as f64 * PUTS.as_secs_f64();
        ctx.report.row(Row {
            key: format!("placement.{name}"),
            workload: "placement",
            case: format!("tuned put, windows with {label}: {}", chosen.len()),
            mode: "os, 1 KiB, 2 shards, one pinned caller".to_string(),
            seconds,
            ops,
            records: ops,
            data_bytes: ops * RECORD_BYTES as u64,
            cpu_ns: None,
            latency: merged,
        });
        ctx.report.figure(
            "placement",
            format!("placement.{name}.window_p50_median_ns"),
            format!("tuned put p50, median over the windows with {label}"),
            p50s[p50s.len() / 2] as f64,
            "ns",
        );
        ctx.report.note(format!(
            "placement: {} windows with {label} (median {} ns): put p50 per window {}-{} ns, \
             median {} ns",
            chosen.len(),
            trips[trips.len() / 2],
            p50s[0],
            p50s[p50s.len() - 1],
            p50s[p50s.len() / 2]
        ));
    }
    // The sequence itself, so a reader can see the host move the vCPUs.
    let sequence: Vec<String> = windows
        .iter()
        .map(|(rt, latency)| format!("{rt}/{}", latency.quantile_ns(0.5)))
        .collect();
    ctx.report.note(format!(
        "placement: each window's round trip / put p50, ns, in order: {}",
        sequence.join(" ")
    ));
    Ok(())
}

/// The fastest mean round trip over batches of 200 between CPUs `a` and `b` over
/// [`PROBE`] (a batch the host or the kernel preempted does not count).
fn fastest_round_trip(a: usize, b: usize) -> u64 {
    crate::sys::cpu_round_trips(a, b, PROBE, 200)
        .into_iter()
        .min()
        .unwrap_or(u64::MAX)
}
