//! On-demand capacity: how fast an ON_DEMAND stream follows a doubling of its write
//! load. On a manual clock (the policy's time is the engine's, `engine/capacity.rs`),
//! a producer offers 100, 200, 400, 800 and 1,600 records/s, 60 simulated seconds
//! each, to a stream whose shards take 100 records/s each (small, so the ramp is
//! cheap; the policy only counts shards of that size), with on-demand evaluations
//! every 10 s. Reported: the simulated seconds after each doubling until an interval
//! passes with under 1% of the records refused, the shards at the end (twice the
//! peak: 32), the records refused over the ramp, and the wall time of each evaluation
//! that resized the stream (the reshard that splits the hottest shards).
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use tidelog::engine::{CreateStreamOptions, OnDemandPolicy};
use tidelog::{Durability, Limits, ManualClock, PutRecordsEntry};

use super::{Ctx, Result};
use crate::hist::Latency;
use crate::report::Row;

const SHARD_RECORDS_PER_SEC: u64 = 100;
const STAGE_SECONDS: u64 = 60;
const INTERVAL_SECONDS: u64 = 10;
const RATES: [u64; 5] = [100, 200, 400, 800, 1600];
const KEYS: usize = 400;

/// Runs the ramp.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let dir = ctx.case_dir("ondemand")?;
    let clock = ManualClock::new(1_700_000_000_000);
    let mut config = ctx.engine_config(dir.path());
    config.clock = clock.clone();
    config.limits = Limits {
        write_records_per_sec: SHARD_RECORDS_PER_SEC,
        write_bytes_per_sec: 1 << 20,
        ..Limits::unlimited()
    };
    config.on_demand = OnDemandPolicy {
        evaluation_interval: Duration::from_secs(INTERVAL_SECONDS),
        ..OnDemandPolicy::default()
    };
    let engine = ctx.open_engine(config)?;
    engine.create_stream_with("od", CreateStreamOptions::on_demand())?;
    engine.scale_on_demand_streams()?;
    let keys: Vec<String> = (0..KEYS).map(|i| format!("device-{i}")).collect();
    let data = [7u8; 100];
    let mut evaluations = Latency::new();
    let (mut resized, mut offered, mut refused_total) = (0u64, 0u64, 0u64);
    let mut absorb_worst_s = 0u64;
    let wall = Instant::now();
    let mut next = 0usize;
    for rate in RATES {
        ctx.progress(&format!("{rate} records/s for {STAGE_SECONDS} simulated s"));
        let mut absorbed_after = None;
        let mut refused_interval = 0u64;
        for second in 1..=STAGE_SECONDS {
            let mut left = rate;
            while left > 0 {
                let n = left.min(500) as usize;
                left -= n as u64;
                let batch: Vec<PutRecordsEntry<'_>> = (0..n)
                    .map(|i| PutRecordsEntry {
                        partition_key: &keys[(next + i) % KEYS],
                        data: &data,
                        explicit_hash_key: None,
                    })
                    .collect();
                next += n;
                let out = engine.put_records("od", &batch, Some(Durability::Os))?;
                refused_interval += out.failed_record_count as u64;
            }
            offered += rate;
            clock.advance_ms(1_000);
            if second % INTERVAL_SECONDS == 0 {
                let t = Instant::now();
                let reports = engine.scale_on_demand_streams()?;
                if reports.iter().any(|r| r.to_shards != r.from_shards) {
                    evaluations.record(t.elapsed());
                    resized += 1;
                }
                refused_total += refused_interval;
                if absorbed_after.is_none() && refused_interval * 100 < rate * INTERVAL_SECONDS {
                    absorbed_after = Some(second);
                }
                refused_interval = 0;
            }
        }
        let absorbed = absorbed_after.ok_or_else(|| {
            format!("the stream did not absorb {rate} records/s within {STAGE_SECONDS} s")
        })?;
        absorb_worst_s = absorb_worst_s.max(absorbed);
    }
    let shards = engine.describe_stream_summary("od")?.open_shard_count;
    engine.close()?;
    let seconds = wall.elapsed().as_secs_f64();
    ctx.report.row(Row {
        key: "ondemand.resize".to_string(),
        workload: "ondemand",
        case: format!(
            "an on-demand evaluation that splits the hottest shards ({resized} in the ramp)"
        ),
        mode: "manual clock, evaluations every 10 simulated s".to_string(),
        seconds,
        ops: resized,
        records: offered,
        data_bytes: offered * data.len() as u64,
        cpu_ns: None,
        latency: evaluations,
    });
    ctx.report.figure(
        "ondemand",
        "ondemand.absorb_s",
        "simulated seconds after a doubling of load until an interval has <1% refused (worst stage)",
        absorb_worst_s as f64,
        "s",
    );
    ctx.report.figure(
        "ondemand",
        "ondemand.shards",
        "open shards after the ramp to 1,600 records/s (2x peak / 100 per shard = 32)",
        shards as f64,
        "count",
    );
    ctx.report.figure(
        "ondemand",
        "ondemand.refused_pct",
        "records refused by the shard limits over the whole ramp",
        refused_total as f64 * 100.0 / offered.max(1) as f64,
        "%",
    );
    Ok(())
}
