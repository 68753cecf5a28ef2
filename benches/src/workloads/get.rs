//! get_records latency: a shard prefilled with records, read from the trim horizon by
//! one thread, 1 and 100 records per call (zero-copy views; the bench touches one byte
//! of each record so the read is not optimised away), following the next iterator and
//! starting over at the end. Limits off, so no call is throttled. The `ffi` workload
//! runs the same prefill and reads ([`prefill`], [`read`]) beside the C ABI's.
#![forbid(unsafe_code)]

use tidelog::{Durability, Engine, PutRecordsEntry, StartingPosition};

use super::{Ctx, Result, Timed, time_loop};
use crate::pace::Pace;
use crate::report::Row;

/// Records in the shard read from.
pub const PREFILL_RECORDS: usize = 20_000;
/// Most data bytes in the shard read from.
pub const PREFILL_BYTES_MAX: usize = 64 << 20;
/// The shard of the one-shard streams read from.
pub const SHARD: &str = "shardId-000000000000";

/// Records [`prefill`] writes for `record_bytes`: a multiple of 100, at most
/// [`PREFILL_RECORDS`] and [`PREFILL_BYTES_MAX`] of data.
pub fn prefill_target(record_bytes: usize) -> usize {
    (PREFILL_RECORDS.min(PREFILL_BYTES_MAX / record_bytes) / 100).max(1) * 100
}

/// Fills the only shard of `stream` with records of `record_bytes` (`os`, then a
/// flush): a multiple of 100 records, at most [`PREFILL_BYTES_MAX`] of data. Returns
/// how many.
pub fn prefill(engine: &Engine, stream: &str, record_bytes: usize) -> Result<usize> {
    let data = vec![0x42u8; record_bytes];
    let target = prefill_target(record_bytes);
    // Batches of 100 (or fewer for large records, a divisor of 100) fit PutRecords' 5 MiB.
    let batch = [100usize, 50, 25, 20, 10, 5, 4, 2, 1]
        .into_iter()
        .find(|b| b * (record_bytes + 16) <= 5 << 20)
        .unwrap_or(1);
    let entries: Vec<PutRecordsEntry<'_>> = (0..batch)
        .map(|_| PutRecordsEntry {
            partition_key: "get",
            data: &data,
            explicit_hash_key: None,
        })
        .collect();
    let mut written = 0;
    while written < target {
        let out = engine.put_records(stream, &entries, Some(Durability::Os))?;
        if out.failed_record_count > 0 {
            return Err(format!("prefill: {} records failed", out.failed_record_count).into());
        }
        written += entries.len();
    }
    engine.flush()?;
    Ok(written)
}

/// Reads the prefilled shard of `stream` (`written` records) `per_call` records per
/// call through `time_loop` (`pace`, the run's warm-up and duration); returns what was
/// timed and the records read in the measuring interval.
pub fn read(
    ctx: &Ctx<'_>,
    engine: &Engine,
    stream: &str,
    written: usize,
    per_call: usize,
    pace: Pace,
) -> Result<(Timed, u64)> {
    let mut iterator = engine.get_shard_iterator(stream, SHARD, StartingPosition::TrimHorizon)?;
    // The iterator starts over before it would read past the end (no empty calls).
    let mut remaining = written;
    let mut records = 0u64;
    let mut touched = 0u64;
    let t = time_loop(
        pace,
        ctx.args.warmup,
        ctx.args.duration,
        std::time::Duration::ZERO,
        |measuring| {
            if remaining == 0 {
                iterator =
                    engine.get_shard_iterator(stream, SHARD, StartingPosition::TrimHorizon)?;
                remaining = written;
            }
            let out = engine.get_records(&iterator, Some(per_call.min(remaining)))?;
            if out.records.is_empty() {
                return Err("get_records found no records before the end".into());
            }
            for r in out.records.iter() {
                touched = touched.wrapping_add(u64::from(r.data[r.data.len() / 2]));
            }
            remaining = remaining.saturating_sub(out.records.len());
            if measuring {
                records += out.records.len() as u64;
            }
            iterator = out
                .next_shard_iterator
                .ok_or("an open shard returned no next iterator")?;
            Ok(())
        },
    )?;
    std::hint::black_box(touched);
    Ok((t, records))
}

/// Runs the two read cases.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let record_bytes = ctx.args.record_bytes.unwrap_or(1024);
    let dir = ctx.case_dir("get")?;
    let engine = ctx.open_engine(ctx.engine_config(dir.path()))?;
    engine.create_stream("get", 1)?;
    ctx.progress(&format!("prefill records of {record_bytes} B"));
    let written = prefill(&engine, "get", record_bytes)?;
    for per_call in [1usize, 100] {
        ctx.progress(&format!("get_records, {per_call} per call"));
        let pace = Pace::from_rate(ctx.args.rate_per_sec);
        let (t, records) = read(ctx, &engine, "get", written, per_call, pace)?;
        ctx.report.row(Row {
            key: format!("get.{per_call}"),
            workload: "get",
            case: format!("get_records, {per_call} x {record_bytes} B per call (zero-copy)"),
            mode: pace.describe(),
            seconds: t.seconds,
            ops: t.ops,
            records,
            data_bytes: records * record_bytes as u64,
            cpu_ns: Some(t.cpu_ns),
            latency: t.latency,
        });
    }
    engine.close()?;
    Ok(())
}
