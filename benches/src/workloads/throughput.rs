//! Throughput with limits off: producers send PutRecords batches (each batch to one
//! shard, by explicit hash key, up to 500 records and under the 5 MiB cap) as fast as
//! the engine takes them (closed loop), for 100 B, 1 KiB and 64 KiB records, one and
//! many shards, one and many producers, `os` durability, plus `sync` (group commit)
//! for 1 KiB. Reports records/s and data MB/s, per core (`--cores`, default one), and
//! the latency of each PutRecords call.
#![forbid(unsafe_code)]

use tidelog::{Durability, PutRecordsEntry};

use super::{Ctx, Result, explicit_key_for_shard, run_threads};
use crate::pace::Pace;
use crate::report::Row;

/// Most entries of one PutRecords (the Kinesis cap).
const BATCH_RECORDS_MAX: usize = 500;
/// Most data plus key bytes of one batch: under PutRecords' 5 MiB cap.
const BATCH_BYTES_MAX: usize = 4 << 20;
/// Shards and producers of the "many" cases.
const MANY_SHARDS: u32 = 16;
const MANY_PRODUCERS: usize = 4;

/// Runs the throughput matrix the options select.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let cores = ctx.cores();
    ctx.report.figure(
        "throughput",
        "throughput.cores",
        "engine cores of the throughput cases",
        cores as f64,
        "count",
    );
    let sizes: Vec<usize> = match ctx.args.record_bytes {
        Some(b) => vec![b],
        None => vec![100, 1024, 64 << 10],
    };
    let given = ctx.args.shards.is_some() || ctx.args.producers.is_some();
    let combos = |size: usize| -> Vec<(u32, usize)> {
        if given {
            vec![(
                ctx.args.shards.unwrap_or(1),
                ctx.args.producers.unwrap_or(1),
            )]
        } else if size == 1024 || ctx.args.record_bytes.is_some() {
            vec![
                (1, 1),
                (1, MANY_PRODUCERS),
                (MANY_SHARDS, 1),
                (MANY_SHARDS, MANY_PRODUCERS),
            ]
        } else {
            vec![(1, 1), (MANY_SHARDS, MANY_PRODUCERS)]
        }
    };
    let mut cases = Vec::new();
    if ctx.args.durability != Some(Durability::Sync) {
        for &size in &sizes {
            for (shards, producers) in combos(size) {
                cases.push((Durability::Os, size, shards, producers));
            }
        }
    }
    if ctx.args.durability != Some(Durability::Os) {
        for &size in &sizes {
            if size != 1024 && ctx.args.record_bytes.is_none() {
                continue;
            }
            let sync_combos: Vec<(u32, usize)> = if given {
                combos(size)
            } else {
                vec![(1, 1), (MANY_SHARDS, MANY_PRODUCERS)]
            };
            for (shards, producers) in sync_combos {
                cases.push((Durability::Sync, size, shards, producers));
            }
        }
    }
    for (durability, size, shards, producers) in cases {
        case(ctx, durability, size, shards, producers)?;
    }
    Ok(())
}

fn case(
    ctx: &mut Ctx<'_>,
    durability: Durability,
    record_bytes: usize,
    shards: u32,
    producers: usize,
) -> Result<()> {
    let name = match durability {
        Durability::Os => "os",
        Durability::Sync => "sync",
    };
    ctx.progress(&format!(
        "{name}, {record_bytes} B records, {shards} shard(s), {producers} producer(s)"
    ));
    let dir = ctx.case_dir(&format!("throughput-{name}-{record_bytes}"))?;
    let engine = ctx.open_engine(ctx.engine_config(dir.path()))?;
    engine.create_stream("tp", shards)?;
    let key = "k";
    let batch = BATCH_RECORDS_MAX
        .min(BATCH_BYTES_MAX / (record_bytes + key.len()))
        .max(1);
    let data = vec![0x77u8; record_bytes];
    let hash_keys: Vec<String> = (0..shards)
        .map(|s| explicit_key_for_shard(s, shards))
        .collect();
    // Producer p writes to shards p, p + producers, ... (shard p mod shards if fewer).
    let owned: Vec<Vec<usize>> = (0..producers)
        .map(|p| {
            let mine: Vec<usize> = (p..shards as usize).step_by(producers).collect();
            if mine.is_empty() {
                vec![p % shards as usize]
            } else {
                mine
            }
        })
        .collect();
    let batches: Vec<Vec<PutRecordsEntry<'_>>> = hash_keys
        .iter()
        .map(|h| {
            (0..batch)
                .map(|_| PutRecordsEntry {
                    partition_key: key,
                    data: &data,
                    explicit_hash_key: Some(h.as_str()),
                })
                .collect()
        })
        .collect();
    let turns: Vec<std::sync::atomic::AtomicUsize> = (0..producers)
        .map(|_| std::sync::atomic::AtomicUsize::new(0))
        .collect();
    let pace = Pace::from_rate(ctx.args.rate_per_sec);
    let many = run_threads(ctx, producers, pace, &|p| {
        let turn = turns[p].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let shard = owned[p][turn % owned[p].len()];
        let out = engine.put_records("tp", &batches[shard], Some(durability))?;
        if out.failed_record_count > 0 {
            let first = out.records.iter().find_map(|r| r.as_ref().err());
            return Err(format!(
                "{} of {} records failed: {first:?}",
                out.failed_record_count, batch
            )
            .into());
        }
        Ok(batch as u64)
    });
    engine.close()?;
    let many = many?;
    ctx.report.row(Row {
        key: format!("throughput.{name}.{record_bytes}.s{shards}.p{producers}"),
        workload: "throughput",
        case: format!(
            "{name} {record_bytes} B x {batch}/call, {shards} shard(s), {producers} producer(s)"
        ),
        mode: pace.describe(),
        seconds: many.measured.seconds,
        ops: many.ops,
        records: many.records,
        data_bytes: many.records * record_bytes as u64,
        cpu_ns: Some(many.measured.cpu_ns),
        latency: many.latency,
    });
    drop(dir);
    Ok(())
}
