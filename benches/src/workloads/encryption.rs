//! Encryption at rest beside plaintext, in the same run and engine: PutRecords
//! throughput (one producer, closed loop, 500 records of `--record-bytes` (default
//! 1 KiB) per call, `os` durability) into a plain stream and into a stream encrypted
//! with the built-in key provider's `alias/aws/kinesis`; then GetRecords throughput
//! (1,000 records per call, cycling over what was put) from each. The encrypted puts
//! are sealed on the core (AES-256-GCM); the encrypted reads decrypt into a copy,
//! where plaintext reads lend the mapped bytes.
#![forbid(unsafe_code)]

use tidelog::{Durability, PutRecordsEntry, StartingPosition};

use super::{Ctx, Result, time_loop};
use crate::pace::Pace;
use crate::report::Row;

const BATCH: usize = 500;
const GET_LIMIT: usize = 1000;

/// Runs the four cases.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let record_bytes = ctx.args.record_bytes.unwrap_or(1024);
    let dir = ctx.case_dir("encryption")?;
    let engine = ctx.open_engine(ctx.engine_config(dir.path()))?;
    let key = "partition-key";
    let data = vec![0x5au8; record_bytes];
    let batch: Vec<PutRecordsEntry<'_>> = (0..BATCH)
        .map(|_| PutRecordsEntry {
            partition_key: key,
            data: &data,
            explicit_hash_key: None,
        })
        .collect();
    for (stream, encrypted) in [("plain", false), ("kms", true)] {
        engine.create_stream(stream, 1)?;
        if encrypted {
            engine.start_stream_encryption(stream, "KMS", "alias/aws/kinesis")?;
        }
    }
    let shard = "shardId-000000000000";
    // Puts: plain and encrypted one after the other, same engine, same shape.
    for (stream, label) in [("plain", "plaintext"), ("kms", "encrypted (AES-256-GCM)")] {
        ctx.progress(&format!("put {record_bytes} B x {BATCH}, {label}"));
        let timed = time_loop(
            Pace::Closed,
            ctx.args.warmup,
            ctx.args.duration,
            std::time::Duration::ZERO,
            |_| {
                let out = engine.put_records(stream, &batch, Some(Durability::Os))?;
                if out.failed_record_count > 0 {
                    return Err(format!("{} records failed", out.failed_record_count).into());
                }
                Ok(())
            },
        )?;
        ctx.report.row(Row {
            key: format!("encryption.put.{stream}"),
            workload: "encryption",
            case: format!("PutRecords {record_bytes} B x {BATCH}, os, {label}"),
            mode: "closed loop, one producer".to_string(),
            seconds: timed.seconds,
            ops: timed.ops,
            records: timed.ops * BATCH as u64,
            data_bytes: timed.ops * (BATCH * record_bytes) as u64,
            cpu_ns: Some(timed.cpu_ns),
            latency: timed.latency,
        });
    }
    // Gets: cycle over each stream's records from the trim horizon.
    for (stream, label) in [
        ("plain", "plaintext (zero-copy)"),
        ("kms", "encrypted (decrypted copies)"),
    ] {
        ctx.progress(&format!("get {GET_LIMIT} records per call, {label}"));
        let mut iterator =
            engine.get_shard_iterator(stream, shard, StartingPosition::TrimHorizon)?;
        let mut records = 0u64;
        let timed = time_loop(
            Pace::Closed,
            ctx.args.warmup,
            ctx.args.duration,
            std::time::Duration::ZERO,
            |measuring| {
                let out = engine.get_records(&iterator, Some(GET_LIMIT))?;
                if out.records.is_empty() {
                    iterator =
                        engine.get_shard_iterator(stream, shard, StartingPosition::TrimHorizon)?;
                    return Ok(());
                }
                let mut sum = 0usize;
                for r in out.records.iter() {
                    // Touch every record's data, as a reader would.
                    sum += usize::from(r.data[r.data.len() / 2]);
                }
                std::hint::black_box(sum);
                if measuring {
                    records += out.records.len() as u64;
                }
                iterator = out
                    .next_shard_iterator
                    .ok_or("the open shard has a next iterator")?;
                Ok(())
            },
        )?;
        ctx.report.row(Row {
            key: format!("encryption.get.{stream}"),
            workload: "encryption",
            case: format!("GetRecords {GET_LIMIT} x {record_bytes} B, {label}"),
            mode: "closed loop, one reader".to_string(),
            seconds: timed.seconds,
            ops: timed.ops,
            records,
            data_bytes: records * record_bytes as u64,
            cpu_ns: Some(timed.cpu_ns),
            latency: timed.latency,
        });
    }
    engine.close()?;
    Ok(())
}
