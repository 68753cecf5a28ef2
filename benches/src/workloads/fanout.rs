//! SubscribeToShard beside the engine's raw subscription: one producer puts records
//! (`os`, paced with sleeps at `--rate`, default 10,000/s) and two readers on other
//! threads see them, in the same run: a raw subscription (`Engine::subscribe`) and an
//! enhanced fan-out consumer's SubscribeToShard (`Engine::subscribe_to_shard`), the
//! Kinesis face with its bookkeeping (continuation, millis behind, the consumer's
//! budget, takeover checks). Each record carries its put time; a reader records
//! `seen - sent`. Both must see every record put in the window.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tidelog::{Durability, FanoutEvent, PutOptions, StartingPosition, SubscriptionEvent};

use super::{Ctx, Result};
use crate::hist::Latency;
use crate::pace::{Pace, Pacer};
use crate::report::Row;

const RATE_DEFAULT: f64 = 10_000.0;
const STAMP_BYTES: usize = 9;

/// Records `seen - sent` of the in-window records of a batch; returns how many.
fn stamp(latency: &mut Latency, now_ns: u64, data: &[u8]) -> u64 {
    let mut sent = [0u8; 8];
    sent.copy_from_slice(&data[..8]);
    if data[8] == 1 {
        latency.record_ns(now_ns.saturating_sub(u64::from_le_bytes(sent)));
        1
    } else {
        0
    }
}

/// Runs the case.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let record_bytes = ctx.args.record_bytes.unwrap_or(1024).max(STAMP_BYTES);
    let rate = ctx.args.rate_per_sec.unwrap_or(RATE_DEFAULT);
    let dir = ctx.case_dir("fanout")?;
    let engine = ctx.open_engine(ctx.engine_config(dir.path()))?;
    engine.create_stream("fan", 1)?;
    let shard = "shardId-000000000000";
    let consumer = engine.register_stream_consumer("fan", "bench", &BTreeMap::new())?;
    let mut raw = engine.subscribe("fan", shard, StartingPosition::Latest, false)?;
    let mut fan = engine.subscribe_to_shard(&consumer.arn, shard, StartingPosition::Latest)?;
    ctx.progress(&format!(
        "os put -> raw subscription and SubscribeToShard, producer paced at {rate:.0}/s"
    ));
    let base = Instant::now();
    let producing = AtomicBool::new(true);
    let raw_latency = Mutex::new(Latency::new());
    let fan_latency = Mutex::new(Latency::new());
    let cpus = ctx.bench_cpus();
    let pin = ctx.args.pin;
    let (warmup, duration) = (ctx.args.warmup, ctx.args.duration);
    let options = PutOptions {
        durability: Some(Durability::Os),
        ..Default::default()
    };
    let (sent, seconds) = std::thread::scope(|scope| -> Result<(u64, f64)> {
        let (producing_ref, raw_ref, fan_ref, cpus_ref) =
            (&producing, &raw_latency, &fan_latency, &cpus);
        let raw_thread = scope.spawn(move || -> Result<u64> {
            if pin {
                crate::sys::pin_current_thread(cpus_ref);
            }
            let mut latency = Latency::new();
            let mut seen = 0;
            loop {
                match raw.next(Duration::from_millis(100))? {
                    SubscriptionEvent::Records { batch, .. } => {
                        let now_ns = base.elapsed().as_nanos() as u64;
                        for r in batch.iter() {
                            seen += stamp(&mut latency, now_ns, r.data);
                        }
                    }
                    SubscriptionEvent::Timeout if producing_ref.load(Ordering::Acquire) => {}
                    _ => break,
                }
            }
            raw_ref
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .merge(&latency);
            Ok(seen)
        });
        let fan_thread = scope.spawn(move || -> Result<u64> {
            if pin {
                crate::sys::pin_current_thread(cpus_ref);
            }
            let mut latency = Latency::new();
            let mut seen = 0;
            loop {
                match fan.next(Duration::from_millis(100))? {
                    FanoutEvent::Event(e) => {
                        let now_ns = base.elapsed().as_nanos() as u64;
                        for r in e.records.iter() {
                            seen += stamp(&mut latency, now_ns, r.data);
                        }
                    }
                    FanoutEvent::Timeout if producing_ref.load(Ordering::Acquire) => {}
                    _ => break,
                }
            }
            fan_ref
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .merge(&latency);
            Ok(seen)
        });
        if pin {
            crate::sys::pin_current_thread(&cpus);
        }
        let mut data = vec![0u8; record_bytes];
        let mut pacer = Pacer::new(Pace::Open(rate), false);
        let warm_end = Instant::now() + warmup;
        let (mut in_window, mut window_start) = (0u64, None);
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
                engine.put_record("fan", "key", &data, options)?;
                in_window += u64::from(measuring);
            }
        })();
        let seconds = window_start.map_or(0.0, |s| s.elapsed().as_secs_f64());
        producing.store(false, Ordering::Release);
        let raw_seen = raw_thread.join().map_err(|_| "the raw reader panicked")??;
        let fan_seen = fan_thread
            .join()
            .map_err(|_| "the SubscribeToShard reader panicked")??;
        result?;
        if raw_seen != in_window || fan_seen != in_window {
            return Err(format!(
                "of {in_window} records put in the window, the raw subscription saw {raw_seen} \
                 and SubscribeToShard {fan_seen}"
            )
            .into());
        }
        Ok((in_window, seconds))
    })?;
    engine.close()?;
    for (key, what, latency) in [
        ("fanout.subscribe", "raw subscription", raw_latency),
        ("fanout.subscribe_to_shard", "SubscribeToShard", fan_latency),
    ] {
        ctx.report.row(Row {
            key: key.to_string(),
            workload: "fanout",
            case: format!("os put {record_bytes} B -> {what} sees it ({rate:.0}/s, sleeps)"),
            mode: format!("open loop at {rate:.0}/s paced with sleeps, from the put call"),
            seconds,
            ops: sent,
            records: sent,
            data_bytes: sent * record_bytes as u64,
            cpu_ns: None,
            latency: latency.into_inner().unwrap_or_else(|p| p.into_inner()),
        });
    }
    Ok(())
}
