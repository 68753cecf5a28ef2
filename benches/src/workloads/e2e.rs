//! End-to-end latency: a producer puts records (`os` by default) and `--consumers`
//! subscribers on other threads, tailing the shard, see them. Each record carries the
//! time its put was called (ns since a shared start) and a flag saying whether it was
//! sent inside the measuring interval; a subscriber records `seen - sent` per record.
//!
//! The producer is paced with sleeps at `--rate` (default 10,000/s), not a busy loop:
//! on a machine with few CPUs a spinning producer takes the CPU the subscriber or the
//! core polls on, and the figure would measure the scheduler.
//!
//! Beside it, the floor of a subscriber that is not running when its record comes:
//! a thread parked on the subscriber's CPU, woken (`unpark`) from the core's CPU at the
//! same pace, timed from the wake-up call until it runs, no engine involved. Where the
//! core, the producer and the subscriber cannot each have a CPU, a record reaches the
//! subscriber through such a wake-up or through a switch on a shared CPU.
#![forbid(unsafe_code)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tidelog::{Durability, PutOptions, StartingPosition, SubscriptionEvent};

use super::{Ctx, Result};
use crate::hist::Latency;
use crate::pace::{Pace, Pacer};
use crate::report::Row;

/// Puts per second when `--rate` is not given.
const RATE_DEFAULT: f64 = 10_000.0;
/// Bytes at the start of each record: send time (8), in-window flag (1).
const STAMP_BYTES: usize = 9;

/// Runs the end-to-end case.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let record_bytes = ctx.args.record_bytes.unwrap_or(1024).max(STAMP_BYTES);
    let durability = ctx.args.durability.unwrap_or(Durability::Os);
    let name = match durability {
        Durability::Os => "os",
        Durability::Sync => "sync",
    };
    let rate = ctx.args.rate_per_sec.unwrap_or(RATE_DEFAULT);
    let consumers = ctx.args.consumers;
    let dir = ctx.case_dir("e2e")?;
    let engine = ctx.open_engine(ctx.engine_config(dir.path()))?;
    engine.create_stream("e2e", 1)?;
    let shard = "shardId-000000000000";
    let mut subscriptions = Vec::with_capacity(consumers);
    for _ in 0..consumers {
        subscriptions.push(engine.subscribe("e2e", shard, StartingPosition::Latest, false)?);
    }
    ctx.progress(&format!(
        "{name} put -> {consumers} subscriber(s), producer paced at {rate:.0}/s with sleeps"
    ));
    let base = Instant::now();
    let producing = AtomicBool::new(true);
    let merged = Mutex::new(Latency::new());
    let cpus = ctx.bench_cpus();
    let pin = ctx.args.pin;
    let (warmup, duration) = (ctx.args.warmup, ctx.args.duration);
    let options = PutOptions {
        durability: Some(durability),
        ..Default::default()
    };
    let (sent_in_window, seconds) = std::thread::scope(|scope| -> Result<(u64, f64)> {
        let mut handles = Vec::new();
        for mut sub in subscriptions.drain(..) {
            let (producing, merged, cpus) = (&producing, &merged, &cpus);
            handles.push(scope.spawn(move || -> Result<u64> {
                if pin {
                    crate::sys::pin_current_thread(cpus);
                }
                let mut latency = Latency::new();
                let mut seen = 0u64;
                loop {
                    match sub.next(Duration::from_millis(100))? {
                        SubscriptionEvent::Records { batch, .. } => {
                            let now_ns = base.elapsed().as_nanos() as u64;
                            for r in batch.iter() {
                                let mut stamp = [0u8; 8];
                                stamp.copy_from_slice(&r.data[..8]);
                                if r.data[8] == 1 {
                                    latency.record_ns(
                                        now_ns.saturating_sub(u64::from_le_bytes(stamp)),
                                    );
                                    seen += 1;
                                }
                            }
                        }
                        SubscriptionEvent::Timeout => {
                            if !producing.load(Ordering::Acquire) {
                                break;
                            }
                        }
                        // The shard ended (or, in engines that say so, the whole
                        // subscription finished): nothing more will come.
                        _ => break,
                    }
                }
                merged
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .merge(&latency);
                Ok(seen)
            }));
        }
        if pin {
            crate::sys::pin_current_thread(&cpus);
        }
        let mut data = vec![0u8; record_bytes];
        let mut pacer = Pacer::new(Pace::Open(rate), false);
        let warm_end = Instant::now() + warmup;
        let mut in_window = 0u64;
        let mut window_start = None;
        let result = (|| -> Result<()> {
            loop {
                pacer.wait_next();
                let now = Instant::now();
                let measuring = now >= warm_end;
                if measuring && window_start.is_none() {
                    window_start = Some(now);
                }
                if window_start.is_some_and(|s| now - s >= duration) {
                    return Ok(());
                }
                data[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_le_bytes());
                data[8] = u8::from(measuring);
                engine.put_record("e2e", "e2e", &data, options)?;
                in_window += u64::from(measuring);
            }
        })();
        let seconds = window_start.map_or(0.0, |s| s.elapsed().as_secs_f64());
        producing.store(false, Ordering::Release);
        let mut seen_min = u64::MAX;
        for h in handles {
            let seen = h.join().map_err(|_| "a subscriber thread panicked")??;
            seen_min = seen_min.min(seen);
        }
        result?;
        if seen_min != in_window {
            return Err(format!(
                "a subscriber saw {seen_min} of the {in_window} records put in the window"
            )
            .into());
        }
        Ok((in_window, seconds))
    })?;
    engine.close()?;
    let latency = merged.into_inner().unwrap_or_else(|p| p.into_inner());
    ctx.report.row(Row {
        key: format!("e2e.{name}"),
        workload: "e2e",
        case: format!(
            "{name} put {record_bytes} B -> {consumers} subscriber(s) see it ({rate:.0}/s, sleeps)"
        ),
        mode: format!("open loop at {rate:.0}/s paced with sleeps, from the put call"),
        seconds,
        ops: sent_in_window,
        records: sent_in_window,
        data_bytes: sent_in_window * record_bytes as u64,
        cpu_ns: None,
        latency,
    });
    wake_floor(ctx, rate)
}

/// The floor: a parked thread on a bench CPU woken from a core CPU, `rate` times a
/// second, for the case's warm-up and duration (skipped without pinning or without a
/// CPU on each side).
fn wake_floor(ctx: &mut Ctx<'_>, rate: f64) -> Result<()> {
    let bench = ctx.bench_cpus();
    let waker_cpu = crate::sys::allowed_cpus()
        .into_iter()
        .find(|c| !bench.contains(c));
    let (Some(waker_cpu), Some(&waiter_cpu), true) = (waker_cpu, bench.first(), ctx.args.pin)
    else {
        ctx.report
            .note("e2e: wake-up floor not measured (needs pinning and two CPUs)".to_string());
        return Ok(());
    };
    ctx.progress("floor: a parked thread woken from another CPU, no engine");
    let (warmup, duration) = (ctx.args.warmup, ctx.args.duration);
    let base = Instant::now();
    let warm_end = base + warmup;
    let warm_ns = warmup.as_nanos() as u64;
    // Nanoseconds since `base` at the last wake-up call; 0: none pending; u64::MAX: stop.
    let stamp = AtomicU64::new(0);
    let (latency, woken) = std::thread::scope(|scope| -> Result<(Latency, u64)> {
        let stamp = &stamp;
        let waiter = scope.spawn(move || {
            crate::sys::pin_current_thread(&[waiter_cpu]);
            let mut latency = Latency::new();
            loop {
                let sent = stamp.swap(0, Ordering::AcqRel);
                match sent {
                    0 => std::thread::park(),
                    u64::MAX => return latency,
                    sent => {
                        let now = base.elapsed().as_nanos() as u64;
                        if sent >= warm_ns {
                            latency.record_ns(now.saturating_sub(sent));
                        }
                    }
                }
            }
        });
        crate::sys::pin_current_thread(&[waker_cpu]);
        let mut pacer = Pacer::new(Pace::Open(rate), false);
        let mut woken = 0u64;
        loop {
            pacer.wait_next();
            let now = Instant::now();
            if now >= warm_end + duration {
                break;
            }
            let ns = (now - base).as_nanos().max(1) as u64;
            stamp.store(ns, Ordering::Release);
            waiter.thread().unpark();
            woken += u64::from(ns >= warm_ns);
        }
        stamp.store(u64::MAX, Ordering::Release);
        waiter.thread().unpark();
        let latency = waiter.join().map_err(|_| "the floor's waiter panicked")?;
        Ok((latency, woken))
    })?;
    ctx.pin_bench_thread();
    ctx.report.row(Row {
        key: "e2e.floor.wake".to_string(),
        workload: "e2e",
        case: format!(
            "floor: parked thread on CPU {waiter_cpu} woken from CPU {waker_cpu} ({rate:.0}/s)"
        ),
        mode: "no engine: unpark -> running".to_string(),
        seconds: duration.as_secs_f64(),
        ops: woken,
        records: woken,
        data_bytes: 0,
        cpu_ns: None,
        latency,
    });
    Ok(())
}
