//! Many shards at the Kinesis limits (1,000 records/s and 1 MiB/s per shard): does
//! throttling accept what the limit allows, no more and no less, and what does a put
//! cost under the limits?
//!
//! Phases, each an open loop of PutRecords calls (one shard per call, every shard
//! called once per 100 ms tick, latency measured from the intended call time):
//! 1. `under`: `--shards` (default 1,000) shards offered 25% of the record limit with
//!    100 B records: everything must be accepted;
//! 2. `records`: up to 200 of them offered 125% of the record limit: the accepted
//!    rate should be the limit;
//! 3. `bytes`: up to 100 shards offered 125% of the byte limit with 16 KiB records.
//!
//! Every shard at its full limit (1,000 shards x 1 MiB/s = 1 GiB/s) is beyond what a
//! small machine can offer, so the over-limit phases use fewer shards; `--shards`
//! sets the count of all three (capped at 200 and 100 only by default). A call carries
//! what the shard's offered rate accrued since its previous call (real time), so a
//! producer running late still offers the intended rate, in larger calls; if it falls
//! behind by more than a tick the report says so.
//!
//! Before an over-limit window the producer offers 3x the limit for a moment, so each
//! shard's bucket (one second of burst) is empty when measuring starts and the
//! accepted rate in the window is the refill rate; a producer late from the drain
//! starts the window on a fresh schedule. Warm-up and window last at least a tick each. `--record-size` replaces the phases' record sizes.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use tidelog::{Durability, Engine, Error, Limits, PutRecordsEntry};

use super::{Ctx, Result, explicit_key_for_shard};
use crate::hist::Latency;
use crate::report::Row;

/// Period in which every shard gets one call.
const TICK: Duration = Duration::from_millis(100);
/// Offered load of the drain before an over-limit window, times the limit.
const DRAIN_FACTOR: f64 = 3.0;
/// How long the drain lasts: empties a one-second burst at 3x (net 2x) in 0.5 s.
const DRAIN: Duration = Duration::from_millis(700);
/// Shards of the records phase at most, unless `--shards` says otherwise.
const RECORDS_PHASE_SHARDS_MAX: u32 = 200;
/// Shards of the bytes phase at most, unless `--shards` says otherwise.
const BYTES_PHASE_SHARDS_MAX: u32 = 100;
/// Most entries of one call (PutRecords' cap).
const CALL_RECORDS_MAX: usize = 500;
/// Most data plus key bytes of one call (under PutRecords' 5 MiB cap).
const CALL_BYTES_MAX: usize = 4 << 20;

struct Phase {
    name: &'static str,
    stream: &'static str,
    /// Shards of the stream (for routing).
    stream_shards: u32,
    /// Shards offered load: the first ones of the stream.
    shards: u32,
    record_bytes: usize,
    /// Offered load, times the binding limit.
    factor: f64,
}

/// What one phase measured in its window.
struct Outcome {
    latency: Latency,
    calls: u64,
    /// Per shard: records offered, accepted, and the time the window's calls covered
    /// (from the shard's last call before the window to its last call in it), s.
    offered: Vec<u64>,
    accepted: Vec<u64>,
    covered_s: Vec<f64>,
    /// Real length of the window, s.
    seconds: f64,
    late_ns_max: u64,
}

/// Runs the phases.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let limits = Limits::kinesis();
    let shards = ctx.args.shards.unwrap_or(1000);
    let (records_shards, bytes_shards) = match ctx.args.shards {
        Some(n) => (n, n),
        None => (
            shards.min(RECORDS_PHASE_SHARDS_MAX),
            shards.min(BYTES_PHASE_SHARDS_MAX),
        ),
    };
    let small = ctx.args.record_bytes.unwrap_or(100);
    let large = ctx.args.record_bytes.unwrap_or(16 << 10);
    let phases = [
        Phase {
            name: "under",
            stream: "many",
            stream_shards: shards,
            shards,
            record_bytes: small,
            factor: 0.25,
        },
        Phase {
            name: "records",
            stream: "many",
            stream_shards: shards,
            shards: records_shards,
            record_bytes: small,
            factor: 1.25,
        },
        Phase {
            name: "bytes",
            stream: "bytes",
            stream_shards: bytes_shards,
            shards: bytes_shards,
            record_bytes: large,
            factor: 1.25,
        },
    ];
    let dir = ctx.case_dir("limits")?;
    let mut config = ctx.engine_config(dir.path());
    config.limits = limits;
    config.durability = ctx.args.durability.unwrap_or(Durability::Os);
    let engine = ctx.open_engine(config)?;
    let started = Instant::now();
    engine.create_stream("many", phases[0].stream_shards)?;
    engine.create_stream("bytes", phases[2].stream_shards)?;
    ctx.report.figure(
        "limits",
        "limits.create_ns",
        format!("create {} + {} shards", phases[0].shards, phases[2].shards),
        started.elapsed().as_nanos() as f64,
        "ns",
    );
    // One record into every shard first (untimed): a shard's first put creates its
    // first segment, a one-time cost that is not what this workload measures.
    ctx.progress("first record into every shard");
    for (stream, count) in [
        ("many", phases[0].stream_shards),
        ("bytes", phases[2].stream_shards),
    ] {
        let hash_keys: Vec<String> = (0..count)
            .map(|s| explicit_key_for_shard(s, count))
            .collect();
        for chunk in hash_keys.chunks(CALL_RECORDS_MAX) {
            let entries: Vec<PutRecordsEntry<'_>> = chunk
                .iter()
                .map(|h| PutRecordsEntry {
                    partition_key: "k",
                    data: b"first",
                    explicit_hash_key: Some(h.as_str()),
                })
                .collect();
            engine.put_records(stream, &entries, None)?;
        }
    }
    let key = "k";
    for phase in &phases {
        let bytes = (phase.record_bytes + key.len()) as f64;
        let limit_per_shard =
            (limits.write_records_per_sec as f64).min(limits.write_bytes_per_sec as f64 / bytes);
        let offered_per_shard = limit_per_shard * phase.factor;
        ctx.progress(&format!(
            "{}: {} shards offered {:.0} x {} B records/s each (limit {:.0}/s)",
            phase.name, phase.shards, offered_per_shard, phase.record_bytes, limit_per_shard
        ));
        let drain = if phase.factor > 1.0 {
            DRAIN
        } else {
            Duration::ZERO
        };
        let out = offer(ctx, &engine, phase, limit_per_shard, drain)?;
        let n = f64::from(phase.shards);
        let accepted: u64 = out.accepted.iter().sum();
        let offered: u64 = out.offered.iter().sum();
        let covered: f64 = out.covered_s.iter().sum();
        // What a perfect limiter accepts from a shard: what it was offered, at most the
        // limit times the time its calls covered.
        let allowed = |i: usize| (out.offered[i] as f64).min(limit_per_shard * out.covered_s[i]);
        let allowed_total: f64 = (0..out.offered.len()).map(allowed).sum();
        let accepted_rate = accepted as f64 / covered.max(1e-9);
        let offered_rate = offered as f64 / covered.max(1e-9);
        let (lo, hi) = (0..out.offered.len())
            .filter(|&i| allowed(i) > 0.0)
            .map(|i| out.accepted[i] as f64 / allowed(i))
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), r| {
                (lo.min(r), hi.max(r))
            });
        let prefix = format!("limits.{}", phase.name);
        let label = |what: &str| format!("{} ({}): {what}", phase.name, phase.shards);
        ctx.report.figure(
            "limits",
            format!("{prefix}.limit_per_shard"),
            label("limit per shard"),
            limit_per_shard,
            "records/s",
        );
        ctx.report.figure(
            "limits",
            format!("{prefix}.offered_per_shard"),
            label("offered per shard"),
            offered_rate,
            "records/s",
        );
        ctx.report.figure(
            "limits",
            format!("{prefix}.accepted_per_shard"),
            label("accepted per shard"),
            accepted_rate,
            "records/s",
        );
        ctx.report.figure(
            "limits",
            format!("{prefix}.accuracy"),
            label("accepted / min(offered, limit), all shards"),
            accepted as f64 / allowed_total.max(1e-9),
            "ratio",
        );
        ctx.report.figure(
            "limits",
            format!("{prefix}.accuracy_min"),
            label("same, the lowest shard"),
            lo,
            "ratio",
        );
        ctx.report.figure(
            "limits",
            format!("{prefix}.accuracy_max"),
            label("same, the highest shard"),
            hi,
            "ratio",
        );
        let total_offered = offered_per_shard * n;
        if out.late_ns_max as f64 > TICK.as_nanos() as f64 {
            ctx.report.note(format!(
                "limits {}: the producer fell behind its schedule by up to {:.0} ms \
                 (offered {:.0} of the intended {:.0} records/s): this machine cannot \
                 offer that load; the latencies include the lag",
                phase.name,
                out.late_ns_max as f64 / 1e6,
                offered_rate * n,
                total_offered
            ));
        }
        ctx.report.row(Row {
            key: prefix.clone(),
            workload: "limits",
            case: format!(
                "{}: PutRecords at {:.0}% of the limit, {} shards, {} B",
                phase.name,
                phase.factor * 100.0,
                phase.shards,
                phase.record_bytes
            ),
            mode: format!(
                "open loop, {:.0} calls/s",
                f64::from(phase.shards) / TICK.as_secs_f64()
            ),
            seconds: out.seconds,
            ops: out.calls,
            records: accepted,
            data_bytes: accepted * phase.record_bytes as u64,
            cpu_ns: None,
            latency: out.latency,
        });
    }
    engine.close()?;
    Ok(())
}

/// Offers the load of `phase` from this thread: a drain at 3x, a warm-up, then the
/// measuring window.
fn offer(
    ctx: &Ctx<'_>,
    engine: &Engine,
    phase: &Phase,
    limit_per_shard: f64,
    drain: Duration,
) -> Result<Outcome> {
    let key = "k";
    let data = vec![0x11u8; phase.record_bytes];
    let shards = phase.shards as usize;
    let most_per_call = CALL_RECORDS_MAX
        .min(CALL_BYTES_MAX / (phase.record_bytes + key.len()))
        .max(1);
    let hash_keys: Vec<String> = (0..phase.shards)
        .map(|s| explicit_key_for_shard(s, phase.stream_shards))
        .collect();
    let batches: Vec<Vec<PutRecordsEntry<'_>>> = hash_keys
        .iter()
        .map(|h| {
            (0..most_per_call)
                .map(|_| PutRecordsEntry {
                    partition_key: key,
                    data: &data,
                    explicit_hash_key: Some(h.as_str()),
                })
                .collect()
        })
        .collect();
    let call_interval = TICK.as_secs_f64() / shards as f64;
    let mut credit = vec![0.0f64; shards];
    let mut out = Outcome {
        latency: Latency::new(),
        calls: 0,
        offered: vec![0; shards],
        accepted: vec![0; shards],
        covered_s: vec![0.0; shards],
        seconds: 0.0,
        late_ns_max: 0,
    };
    let mut last_call: Vec<Option<Instant>> = vec![None; shards];
    let mut last_credit: Vec<Option<Instant>> = vec![None; shards];
    let mut window_span: Option<(Instant, Instant)> = None;
    let mut start = Instant::now();
    let drain_end = drain;
    // Which boundaries (drain end, window start) the schedule was rebased at.
    let mut rebased = [false; 2];
    // At least a tick of each: every shard is called once before the window (which
    // starts each shard's covered time) and once in it.
    let warm_end = drain + ctx.args.warmup.max(TICK);
    let window = ctx.args.duration.max(TICK);
    let mut call = 0u64;
    loop {
        let at = Duration::from_secs_f64(call as f64 * call_interval);
        if at >= warm_end + window {
            break;
        }
        // A producer that fell behind while draining (3x the load) or warming up starts
        // the next part on a fresh schedule: lag of an earlier part is not this one's.
        for (i, boundary) in [drain_end, warm_end].into_iter().enumerate() {
            if at >= boundary && !rebased[i] {
                rebased[i] = true;
                let now = Instant::now();
                if now > start + at {
                    start = now - at;
                }
            }
        }
        let intended = start + at;
        while Instant::now() < intended {
            std::hint::spin_loop();
        }
        let shard = (call % shards as u64) as usize;
        call += 1;
        let factor = if at < drain_end {
            DRAIN_FACTOR
        } else {
            phase.factor
        };
        // What the shard's offered rate accrued since its previous call (a tick's worth
        // for the first call), in real time: a late producer offers the same rate.
        let now = Instant::now();
        let since = last_credit[shard].replace(now).map_or(TICK, |t| now - t);
        // Credit beyond one call is load the producer could not deliver: dropped (and
        // the lag is reported), never sent later in a burst.
        credit[shard] = (credit[shard] + limit_per_shard * factor * since.as_secs_f64())
            .min(most_per_call as f64);
        let n = credit[shard].floor() as usize;
        if n == 0 {
            continue;
        }
        credit[shard] -= n as f64;
        let issued = Instant::now();
        let previous = last_call[shard].replace(issued);
        let result = engine.put_records(phase.stream, &batches[shard][..n], None)?;
        let done = Instant::now();
        if at < warm_end {
            continue;
        }
        let Some(previous) = previous else {
            continue; // no earlier call: nothing to say what this one's time covers
        };
        out.covered_s[shard] += (issued - previous).as_secs_f64();
        window_span = Some((window_span.map_or(issued, |w| w.0), done));
        let mut accepted = 0u64;
        for r in &result.records {
            match r {
                Ok(_) => accepted += 1,
                Err(Error::ProvisionedThroughputExceeded { .. }) => {}
                Err(e) => return Err(format!("a put failed: {e}").into()),
            }
        }
        out.latency.record(done.saturating_duration_since(intended));
        out.calls += 1;
        out.offered[shard] += n as u64;
        out.accepted[shard] += accepted;
        out.late_ns_max = out
            .late_ns_max
            .max(done.saturating_duration_since(intended).as_nanos() as u64);
    }
    out.seconds = window_span.map_or(0.0, |(a, b)| (b - a).as_secs_f64());
    Ok(out)
}
