//! End-to-end latency: a producer puts records (`os` by default) and `--consumers`
//! subscribers on other threads, tailing the shard, see them. Each record carries the
//! time its put was called (ns since a shared start) and a flag saying whether it was
//! sent inside the measuring interval; a subscriber records `seen - sent` per record.
//!
//! The producer is paced with sleeps at `--rate` (default 10,000/s), not a busy loop:
//! on a machine with few CPUs a spinning producer takes the CPU the subscriber or the
//! core polls on, and the figure would measure the scheduler.
#![forbid(unsafe_code)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
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
    Ok(())
}
