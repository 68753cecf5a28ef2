//! put latency from a foreign thread (the bench's, pinned away from the core):
//! - `os`, busy core: back-to-back puts, so the core never parks (closed loop);
//! - `os`, idle core: a put every millisecond, so the core has parked (its polling
//!   window is 200 µs) and each put pays the wake-up;
//! - `os`, core shared with a second producer (paced with sleeps, other shard);
//! - `os`, open loop at `--rate` (default 20,000/s), from the intended send times;
//! - `sync` with each sync driver, one producer (closed loop): compare to the raw
//!   device of the same run;
//! - `sync` with 64 producers (`--producers`) on one shard: group commit, durable
//!   records/s.
//!
//! CPU per request is the CPU time of all the process's threads (core, callers,
//! helpers) in the measuring interval divided by the requests.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tidelog::{Durability, PutOptions, SyncDriver};

use super::{Ctx, Result, key_for_shard, run_threads, time_loop};
use crate::pace::Pace;
use crate::report::Row;

/// Gap between puts of the idle-core case: well past the core's 200 µs polling window.
const IDLE_GAP: Duration = Duration::from_millis(1);
/// Rate of the open-loop case when `--rate` is not given, puts/s.
const OPEN_RATE_DEFAULT: f64 = 20_000.0;
/// Producers of the group-commit case when `--producers` is not given.
const SYNC_PRODUCERS_DEFAULT: usize = 64;
/// Pause of the background producer of the shared-core case between its puts.
const BACKGROUND_PAUSE: Duration = Duration::from_micros(100);

fn options(durability: Durability) -> PutOptions<'static> {
    PutOptions {
        durability: Some(durability),
        ..Default::default()
    }
}

fn driver_key(driver: SyncDriver) -> &'static str {
    match driver {
        SyncDriver::IoUring => "io_uring",
        SyncDriver::Blocking => "blocking",
    }
}

/// Runs every put case the options select.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let record_bytes = ctx.args.record_bytes.unwrap_or(1024);
    ctx.report.figure(
        "put",
        "put.record_bytes",
        "record size of the put cases",
        record_bytes as f64,
        "bytes",
    );
    let data = vec![0xC3u8; record_bytes];
    let key0 = key_for_shard("put", 0, 2);
    let key1 = key_for_shard("put", 1, 2);
    let want_os = ctx.args.durability != Some(Durability::Sync);
    let want_sync = ctx.args.durability != Some(Durability::Os);
    let drivers: Vec<SyncDriver> = match ctx.args.sync_driver {
        Some(d) => vec![d],
        None => vec![SyncDriver::IoUring, SyncDriver::Blocking],
    };
    let (warmup, duration) = (ctx.args.warmup, ctx.args.duration);

    for (i, driver) in drivers.iter().copied().enumerate() {
        let dir = ctx.case_dir(&format!("put-{}", driver_key(driver)))?;
        let mut config = ctx.engine_config(dir.path());
        config.sync_driver = driver;
        let engine = ctx.open_engine(config)?;
        engine.create_stream("put", 2)?;
        let put = |durability| -> Result<()> {
            engine.put_record("put", &key0, &data, options(durability))?;
            Ok(())
        };
        let row = |key: String, case: String, mode: String, t: super::Timed| Row {
            key,
            workload: "put",
            case,
            mode,
            seconds: t.seconds,
            ops: t.ops,
            records: t.ops,
            data_bytes: t.ops * record_bytes as u64,
            cpu_ns: Some(t.cpu_ns),
            latency: t.latency,
        };
        if want_os && i == 0 {
            ctx.progress("os, busy core (closed loop)");
            let t = time_loop(Pace::Closed, warmup, duration, Duration::ZERO, |_| {
                put(Durability::Os)
            })?;
            ctx.report.row(row(
                "put.os.busy".into(),
                format!("os put {record_bytes} B, busy core"),
                Pace::Closed.describe(),
                t,
            ));

            ctx.progress("os, idle core (a put every ms)");
            let t = time_loop(Pace::Closed, warmup, duration, IDLE_GAP, |_| {
                put(Durability::Os)
            })?;
            ctx.report.row(row(
                "put.os.idle".into(),
                format!("os put {record_bytes} B, idle core (1 put/ms)"),
                "closed loop, 1 ms pause between puts".into(),
                t,
            ));

            ctx.progress("os, core shared with a paced second producer");
            let stop = Arc::new(AtomicBool::new(false));
            let background = {
                let (engine, stop, data, key1) = (
                    engine.clone(),
                    Arc::clone(&stop),
                    data.clone(),
                    key1.clone(),
                );
                std::thread::spawn(move || -> u64 {
                    let mut puts = 0;
                    while !stop.load(Ordering::Relaxed) {
                        if engine
                            .put_record("put", &key1, &data, options(Durability::Os))
                            .is_err()
                        {
                            break;
                        }
                        puts += 1;
                        std::thread::sleep(BACKGROUND_PAUSE);
                    }
                    puts
                })
            };
            let t = time_loop(Pace::Closed, warmup, duration, Duration::ZERO, |_| {
                put(Durability::Os)
            });
            stop.store(true, Ordering::Relaxed);
            let background_puts = background.join().unwrap_or(0);
            let t = t?;
            let background_rate = background_puts as f64 / (t.seconds + warmup.as_secs_f64());
            ctx.report.row(row(
                "put.os.shared".into(),
                format!(
                    "os put {record_bytes} B, core shared (2nd producer ~{:.0}/s)",
                    background_rate
                ),
                Pace::Closed.describe(),
                t,
            ));

            let pace = Pace::Open(ctx.args.rate_per_sec.unwrap_or(OPEN_RATE_DEFAULT));
            ctx.progress(&format!("os, {}", pace.describe()));
            let t = time_loop(pace, warmup, duration, Duration::ZERO, |_| {
                put(Durability::Os)
            })?;
            ctx.report.row(row(
                "put.os.open".into(),
                format!("os put {record_bytes} B, {}", pace.describe()),
                pace.describe(),
                t,
            ));
        }
        if want_sync {
            let name = driver_key(driver);
            ctx.progress(&format!("sync ({name}), 1 producer"));
            let pace = Pace::from_rate(ctx.args.rate_per_sec);
            let t = time_loop(pace, warmup, duration, Duration::ZERO, |_| {
                put(Durability::Sync)
            })?;
            ctx.report.row(row(
                format!("put.sync.{name}"),
                format!("sync put {record_bytes} B ({name}), 1 producer"),
                pace.describe(),
                t,
            ));

            let producers = ctx.args.producers.unwrap_or(SYNC_PRODUCERS_DEFAULT);
            ctx.progress(&format!("sync ({name}), {producers} producers"));
            let keys: Vec<String> = (0..producers)
                .map(|p| key_for_shard(&format!("p{p}"), 0, 2))
                .collect();
            let many = run_threads(
                ctx,
                producers,
                Pace::from_rate(ctx.args.rate_per_sec),
                &|t| {
                    engine.put_record("put", &keys[t], &data, options(Durability::Sync))?;
                    Ok(1)
                },
            )?;
            ctx.report.row(Row {
                key: format!("put.sync64.{name}"),
                workload: "put",
                case: format!("sync put {record_bytes} B ({name}), {producers} producers"),
                mode: Pace::from_rate(ctx.args.rate_per_sec).describe(),
                seconds: many.measured.seconds,
                ops: many.ops,
                records: many.records,
                data_bytes: many.records * record_bytes as u64,
                cpu_ns: Some(many.measured.cpu_ns),
                latency: many.latency,
            });
        }
        engine.close()?;
    }
    Ok(())
}
