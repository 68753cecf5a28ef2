//! The project's performance targets, and the ratios to the baselines measured in the
//! same run. Targets are judged and reported, never asserted: a missed target is a
//! figure to explain (docs/benchmarks.md), not a failing test.
#![forbid(unsafe_code)]

use serde_json::{Value, json};

use crate::report::{Report, format_value};

/// tidelog's figure divided by a baseline's, both from this run.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// What is compared.
    pub label: String,
    /// tidelog's value.
    pub measured: f64,
    /// The baseline's value.
    pub baseline: f64,
    /// Their unit.
    pub unit: &'static str,
    /// measured / baseline.
    pub ratio: f64,
}

impl Comparison {
    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "label": self.label, "measured": self.measured, "baseline": self.baseline,
            "unit": self.unit, "ratio": self.ratio,
        })
    }
}

/// How a target came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Within the target.
    Met,
    /// Outside it.
    Missed,
    /// The run did not measure it (workload not selected, or failed).
    NotMeasured,
}

impl Status {
    /// For the table.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Met => "met",
            Self::Missed => "MISSED",
            Self::NotMeasured => "-",
        }
    }
}

/// One target and its verdict.
#[derive(Debug, Clone)]
pub struct TargetResult {
    /// Stable id.
    pub id: &'static str,
    /// The target, for people.
    pub description: String,
    /// The verdict.
    pub status: Status,
    /// The measured value (in `unit`).
    pub measured: Option<f64>,
    /// The bound (in `unit`).
    pub bound: f64,
    /// True: measured must be at most the bound; false: at least.
    pub at_most: bool,
    /// The unit.
    pub unit: &'static str,
    /// measured / bound.
    pub ratio_to_bound: Option<f64>,
    /// The verdict in words.
    pub detail: String,
}

impl TargetResult {
    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "description": self.description,
            "status": match self.status { Status::Met => "met", Status::Missed => "missed", Status::NotMeasured => "not measured" },
            "measured": self.measured, "bound": self.bound,
            "direction": if self.at_most { "at most" } else { "at least" },
            "unit": self.unit, "ratio_to_bound": self.ratio_to_bound,
        })
    }
}

fn judge(
    id: &'static str,
    description: impl Into<String>,
    measured: Option<f64>,
    bound: f64,
    at_most: bool,
    unit: &'static str,
) -> TargetResult {
    let description = description.into();
    let sign = if at_most { "≤" } else { "≥" };
    let bound_text = format_value(bound, unit);
    match measured {
        None => TargetResult {
            id,
            description,
            status: Status::NotMeasured,
            measured: None,
            bound,
            at_most,
            unit,
            ratio_to_bound: None,
            detail: "not measured in this run".to_string(),
        },
        Some(value) => {
            let met = if at_most {
                value <= bound
            } else {
                value >= bound
            };
            let ratio = value / bound;
            let detail = if met {
                format!("{} (target {sign} {bound_text})", format_value(value, unit))
            } else if at_most {
                format!(
                    "{}: {ratio:.2}x the target {sign} {bound_text}",
                    format_value(value, unit)
                )
            } else {
                format!(
                    "{}: {:.1}% of the target {sign} {bound_text}",
                    format_value(value, unit),
                    ratio * 100.0
                )
            };
            TargetResult {
                id,
                description,
                status: if met { Status::Met } else { Status::Missed },
                measured: Some(value),
                bound,
                at_most,
                unit,
                ratio_to_bound: Some(ratio),
                detail,
            }
        }
    }
}

/// Bound of the C ABI's cost per put over the Rust call, ns.
pub const FFI_PUT_OVERHEAD_NS: f64 = 500.0;
/// Bound of the C ABI's cost per get_records of one record (the read, the count, one
/// record, the free) over the Rust call, ns.
pub const FFI_GET1_OVERHEAD_NS: f64 = 1000.0;
/// Bound of the C ABI's cost per record read (`tidelog_batch_record`), ns.
pub const FFI_RECORD_OVERHEAD_NS: f64 = 150.0;

const DRIVERS: [(&str, &str); 2] = [("io_uring", "io_uring"), ("blocking", "blocking")];

/// Ratios of tidelog's figures to the baselines of the same run.
pub fn comparisons(report: &Report) -> Vec<Comparison> {
    let mut out = Vec::new();
    let mut push = |label: String, measured: f64, baseline: f64, unit: &'static str| {
        if baseline > 0.0 {
            out.push(Comparison {
                label,
                measured,
                baseline,
                unit,
                ratio: measured / baseline,
            });
        }
    };
    let raw = report.find_row("baseline.raw_device");
    let by_hand = report.find_row("baseline.by_hand_sync");
    let by_hand_write = report.find_row("baseline.by_hand_write");
    for (key, name) in DRIVERS {
        let Some(put) = report.find_row(&format!("put.sync.{key}")) else {
            continue;
        };
        for (q, qname) in [(0.5, "p50"), (0.99, "p99")] {
            if let Some(raw) = raw {
                push(
                    format!("sync put ({name}) {qname} / raw device fdatasync {qname}"),
                    put.latency.quantile_ns(q) as f64,
                    raw.latency.quantile_ns(q) as f64,
                    "ns",
                );
            }
            if let Some(hand) = by_hand {
                push(
                    format!("sync put ({name}) {qname} / by-hand write+fdatasync {qname}"),
                    put.latency.quantile_ns(q) as f64,
                    hand.latency.quantile_ns(q) as f64,
                    "ns",
                );
            }
        }
    }
    if let (Some(put), Some(hand)) = (report.find_row("put.os.busy"), by_hand_write) {
        for (q, qname) in [(0.5, "p50"), (0.99, "p99")] {
            push(
                format!("os put {qname} / by-hand write() {qname}"),
                put.latency.quantile_ns(q) as f64,
                hand.latency.quantile_ns(q) as f64,
                "ns",
            );
        }
    }
    // The C ABI against the Rust API, both measured by the ffi workload of this run.
    for (case, name) in [
        ("put", "os put"),
        ("get.1", "get_records of 1"),
        ("get.100", "get_records of 100"),
    ] {
        if let (Some(c), Some(rust)) = (
            report.find_row(&format!("ffi.c.{case}")),
            report.find_row(&format!("ffi.rust.{case}")),
        ) {
            for (q, qname) in [(0.5, "p50"), (0.99, "p99")] {
                push(
                    format!("C ABI {name} {qname} / Rust API {qname}"),
                    c.latency.quantile_ns(q) as f64,
                    rust.latency.quantile_ns(q) as f64,
                    "ns",
                );
            }
        }
    }
    for (key, name) in DRIVERS {
        if let (Some(many), Some(hand)) = (report.find_row(&format!("put.sync64.{key}")), by_hand) {
            push(
                format!("64 producers sync ({name}) records/s / by-hand write+fdatasync records/s"),
                many.records_per_sec(),
                hand.records_per_sec(),
                "records/s",
            );
        }
    }
    // tidelog serve against ferrokinesis, both driven by the same Rust client.
    if let (Some(ours), Some(peer)) = (
        report.find_row("server.tidelog.rust.put_records"),
        report.find_row("server.ferrokinesis.rust.put_records"),
    ) {
        push(
            "tidelog serve PutRecords records/s / ferrokinesis records/s (Rust client)".to_string(),
            ours.records_per_sec(),
            peer.records_per_sec(),
            "records/s",
        );
    }
    // The floor of a durable answer against ferrokinesis's in-memory one.
    if let (Some(device), Some(peer)) = (
        report.find_row("server.device.fdatasync"),
        report.find_row("server.ferrokinesis.rust.put_record"),
    ) {
        push(
            "the device's fdatasync p99 (a durable answer's floor) / ferrokinesis PutRecord p99"
                .to_string(),
            device.latency.quantile_ns(0.99) as f64,
            peer.latency.quantile_ns(0.99) as f64,
            "ns",
        );
    }
    // The most any server could show there: the same clients against a sink.
    if let (Some(sink), Some(peer)) = (
        report.find_row("server.sink.rust.put_records"),
        report.find_row("server.ferrokinesis.rust.put_records"),
    ) {
        push(
            "a sink's PutRecords records/s (the Rust clients' ceiling) / ferrokinesis records/s"
                .to_string(),
            sink.records_per_sec(),
            peer.records_per_sec(),
            "records/s",
        );
    }
    for (case, name) in [("put_record", "PutRecord"), ("get_records", "GetRecords")] {
        if let (Some(ours), Some(peer)) = (
            report.find_row(&format!("server.tidelog.rust.{case}")),
            report.find_row(&format!("server.ferrokinesis.rust.{case}")),
        ) {
            for (q, qname) in [(0.5, "p50"), (0.99, "p99")] {
                push(
                    format!("tidelog serve {name} {qname} / ferrokinesis {qname} (Rust client)"),
                    ours.latency.quantile_ns(q) as f64,
                    peer.latency.quantile_ns(q) as f64,
                    "ns",
                );
            }
        }
    }
    // tidelog against the embedded stores a user weighs, same process, same data.
    for (peer, peer_name) in [("sqlite", "SQLite"), ("redb", "redb")] {
        for (case, name) in [("durable", "durable append"), ("os", "non-durable append")] {
            if let (Some(ours), Some(theirs)) = (
                report.find_row(&format!("peers.tidelog.{case}")),
                report.find_row(&format!("peers.{peer}.{case}")),
            ) {
                for (q, qname) in [(0.5, "p50"), (0.99, "p99")] {
                    push(
                        format!("tidelog {name} {qname} / {peer_name} {qname}"),
                        ours.latency.quantile_ns(q) as f64,
                        theirs.latency.quantile_ns(q) as f64,
                        "ns",
                    );
                }
            }
        }
        if let (Some(ours), Some(theirs)) = (
            report.find_row("peers.tidelog.batch"),
            report.find_row(&format!("peers.{peer}.batch")),
        ) {
            push(
                format!("tidelog batched appends records/s / {peer_name} records/s"),
                ours.records_per_sec(),
                theirs.records_per_sec(),
                "records/s",
            );
        }
        if let (Some(ours), Some(theirs)) = (
            report.find_figure("peers.tidelog.reopen_ns"),
            report.find_figure(&format!("peers.{peer}.reopen_ns")),
        ) {
            push(
                format!("tidelog reopen time / {peer_name} reopen time"),
                ours,
                theirs,
                "ns",
            );
        }
        if let (Some(ours), Some(theirs)) = (
            report.find_figure("peers.tidelog.scan_mb_per_sec"),
            report.find_figure(&format!("peers.{peer}.scan_mb_per_sec")),
        ) {
            push(
                format!("tidelog full scan MB/s / {peer_name} MB/s"),
                ours,
                theirs,
                "MB/s",
            );
        }
    }
    if let (Some(pg), Some(plain)) = (
        report.find_row("firehose.delivery.postgres"),
        report.find_figure("firehose.baseline.postgres_copy_rows_per_sec"),
    ) {
        push(
            "Firehose delivery to PostgreSQL / one plain COPY, rows/s".to_string(),
            pg.records_per_sec(),
            plain,
            "records/s",
        );
    }
    if let (Some(pq), Some(pyarrow)) = (
        report.find_row("firehose.parquet"),
        report.find_figure("firehose.baseline.pyarrow_json_to_parquet_mb_per_sec"),
    ) {
        push(
            "Firehose JSON -> Parquet / pyarrow read_json + write_table, MB/s of JSON".to_string(),
            pq.mb_per_sec(),
            pyarrow,
            "MB/s",
        );
    }
    if let Some(fh) = report.find_row("firehose.ingest.p1") {
        if let Some(engine) = report.find_row("firehose.baseline.engine") {
            push(
                "Firehose DirectPut ingest / engine PutRecords, records/s".to_string(),
                fh.records_per_sec(),
                engine.records_per_sec(),
                "records/s",
            );
        }
        if let Some(moto) = report.find_figure("firehose.baseline.moto_records_per_sec") {
            push(
                "Firehose DirectPut ingest / moto's Firehose via boto3, records/s".to_string(),
                fh.records_per_sec(),
                moto,
                "records/s",
            );
        }
    }
    out
}

/// The ratio of a tidelog serve figure to ferrokinesis's, both through the Rust client.
fn server_ratio(
    report: &Report,
    case: &str,
    figure: impl Fn(&crate::report::Row) -> f64,
) -> Option<f64> {
    let ours = report.find_row(&format!("server.tidelog.rust.{case}"))?;
    let peer = report.find_row(&format!("server.ferrokinesis.rust.{case}"))?;
    let (a, b) = (figure(ours), figure(peer));
    (b > 0.0 && ours.latency.count() > 0).then_some(a / b)
}

/// The best records/s per core of the `os` throughput cases with this record size.
fn best_throughput(report: &Report, record_bytes: usize) -> Option<(f64, f64)> {
    let cores = report
        .find_figure("throughput.cores")
        .unwrap_or(1.0)
        .max(1.0);
    let prefix = format!("throughput.os.{record_bytes}.");
    report
        .rows
        .iter()
        .filter(|r| r.key.starts_with(&prefix))
        .map(|r| (r.records_per_sec() / cores, r.mb_per_sec() / cores))
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// Every target, judged on this run's figures.
pub fn evaluate(report: &Report) -> Vec<TargetResult> {
    let mut out = Vec::new();
    let q = |key: &str, quantile: f64| {
        report
            .find_row(key)
            .filter(|r| r.latency.count() > 0)
            .map(|r| r.latency.quantile_ns(quantile) as f64)
    };
    let put_bytes = report.find_figure("put.record_bytes");
    let one_kib = put_bytes == Some(1024.0);
    let put_note = if one_kib || put_bytes.is_none() {
        String::new()
    } else {
        format!(" (measured with {} B records)", put_bytes.unwrap_or(0.0))
    };
    out.push(judge(
        "os_put_p50",
        format!("os put 1 KiB p50, busy core{put_note}"),
        q("put.os.busy", 0.5),
        1500.0,
        true,
        "ns",
    ));
    out.push(judge(
        "os_put_p99",
        format!("os put 1 KiB p99, busy core{put_note}"),
        q("put.os.busy", 0.99),
        5000.0,
        true,
        "ns",
    ));
    let raw50 = q("baseline.raw_device", 0.5);
    let raw99 = q("baseline.raw_device", 0.99);
    for (key, name) in DRIVERS {
        let p50 = q(&format!("put.sync.{key}"), 0.5);
        let p99 = q(&format!("put.sync.{key}"), 0.99);
        out.push(judge(
            "sync_put_p50_vs_device",
            format!("sync put ({name}) p50 / raw device p50"),
            p50.zip(raw50).map(|(a, b)| a / b),
            1.1,
            true,
            "ratio",
        ));
        out.push(judge(
            "sync_put_p99_vs_device",
            format!("sync put ({name}) p99 / raw device p99"),
            p99.zip(raw99).map(|(a, b)| a / b),
            1.2,
            true,
            "ratio",
        ));
    }
    for (key, name) in DRIVERS {
        out.push(judge(
            "sync_64_producers",
            format!("64 producers, sync ({name}): durable records/s"),
            report
                .find_row(&format!("put.sync64.{key}"))
                .map(|r| r.records_per_sec()),
            50_000.0,
            false,
            "records/s",
        ));
    }
    // The C ABI's cost per call over the Rust API (docs/benchmarks.md explains the
    // bounds: what its handle checks, argument checks and conversions cost).
    out.push(judge(
        "ffi_put_overhead_p50",
        "C ABI os put p50 minus Rust API p50",
        report.find_figure("ffi.put_overhead_p50_ns"),
        FFI_PUT_OVERHEAD_NS,
        true,
        "ns",
    ));
    out.push(judge(
        "ffi_get1_overhead_p50",
        "C ABI get_records of 1 p50 minus Rust API p50",
        report.find_figure("ffi.get1_overhead_p50_ns"),
        FFI_GET1_OVERHEAD_NS,
        true,
        "ns",
    ));
    out.push(judge(
        "ffi_get100_overhead_per_record",
        "C ABI get_records of 100 p50 minus Rust API p50, per record",
        report.find_figure("ffi.get100_overhead_p50_per_record_ns"),
        FFI_RECORD_OVERHEAD_NS,
        true,
        "ns",
    ));
    out.push(judge(
        "e2e_p99",
        "put -> subscriber p99",
        q("e2e.os", 0.99),
        20_000.0,
        true,
        "ns",
    ));
    out.push(judge(
        "throughput_1k",
        "one core, batched, limits off: 1 KiB records/s",
        best_throughput(report, 1024).map(|t| t.0),
        1.5e6,
        false,
        "records/s",
    ));
    out.push(judge(
        "throughput_100b",
        "one core, batched, limits off: 100 B records/s",
        best_throughput(report, 100).map(|t| t.0),
        3e6,
        false,
        "records/s",
    ));
    out.push(judge(
        "throughput_64k",
        "one core, batched, limits off: 64 KiB data GB/s",
        best_throughput(report, 65536).map(|t| t.1 / 1000.0),
        4.0,
        false,
        "GB/s",
    ));
    out.push(judge(
        "scan",
        "zero-copy warm scan (CRC checked, the default)",
        report.find_figure("log.scan_gbps.crc_on"),
        10.0,
        false,
        "GB/s",
    ));
    out.push(judge(
        "server_put_records_vs_ferrokinesis",
        "tidelog serve (sync) PutRecords records/s / ferrokinesis's, same Rust client",
        server_ratio(report, "put_records", |r| r.records_per_sec()),
        5.0,
        false,
        "ratio",
    ));
    out.push(judge(
        "server_put_record_p99_vs_ferrokinesis",
        "tidelog serve (sync) PutRecord p99 / ferrokinesis's, same Rust client",
        server_ratio(report, "put_record", |r| r.latency.quantile_ns(0.99) as f64),
        0.2,
        true,
        "ratio",
    ));
    let log_mb = report.find_figure("log.size_mb");
    out.push(judge(
        "reopen",
        match log_mb {
            Some(mb) if mb != 200.0 => format!("reopen of a {mb:.0} MB log (target for 200 MB)"),
            _ => "reopen of a 200 MB log".to_string(),
        },
        report.find_figure("log.reopen_ns"),
        10e6,
        true,
        "ns",
    ));
    let shards = report.find_figure("idle.shards");
    let shards_text = shards.map_or("idle shards".to_string(), |n| format!("{n:.0} idle shards"));
    out.push(judge(
        "idle_anon",
        format!("{shards_text}: anonymous memory per shard"),
        report.find_figure("idle.anon_bytes_per_shard"),
        16.0 * 1024.0,
        true,
        "bytes",
    ));
    out.push(judge(
        "idle_disk",
        format!("{shards_text}: disk per shard"),
        report.find_figure("idle.disk_bytes_per_shard"),
        1024.0 * 1024.0,
        true,
        "bytes",
    ));
    out.push(judge(
        "firehose_ingest",
        "Firehose DirectPut ingest, 1 KiB records, one producer, os: records/s",
        report
            .find_row("firehose.ingest.p1")
            .map(|r| r.records_per_sec()),
        500_000.0,
        false,
        "records/s",
    ));
    out.push(judge(
        "firehose_directory_delivery",
        "Firehose delivery to the directory store, uncompressed: MB/s",
        report
            .find_row("firehose.delivery.dir.uncompressed")
            .map(|r| r.mb_per_sec()),
        1000.0,
        false,
        "MB/s",
    ));
    out.push(judge(
        "firehose_visible_p50",
        "Firehose put -> object visible at IntervalInSeconds 0, p50",
        q("firehose.visible", 0.5),
        5_000_000.0,
        true,
        "ns",
    ));
    // Continuous SQL applications (issue 18; the sql workload, built with `--features sql`).
    for (id, key, what) in [
        (
            "sql_app_tumbling",
            "sql.app_tumbling_events_per_s",
            "application: tumbling count-by-key, events/s on one thread",
        ),
        (
            "sql_app_sliding",
            "sql.app_sliding_events_per_s",
            "application: sliding average, events/s on one thread",
        ),
    ] {
        out.push(judge(
            id,
            what,
            report.find_figure(key),
            1_000_000.0,
            false,
            "events/s",
        ));
    }
    out.push(judge(
        "sql_app_window_close_p99",
        "application: window close -> result at the callback, p99",
        report.find_figure("sql.app_window_latency_p99_ms"),
        10.0,
        true,
        "ms",
    ));
    // The Python API (a release extension; the python workload measures nothing else).
    out.push(judge(
        "python_put_records",
        "Python put_records of 500 x 1 KiB, records/s",
        report
            .find_row("python.put_records")
            .map(|r| r.records_per_sec()),
        500_000.0,
        false,
        "records/s",
    ));
    out.push(judge(
        "python_boto3_get_records_p50",
        "boto3-compatible client get_records of 100 x 1 KiB, p50",
        q("python.boto3_get_records", 0.5),
        50_000.0,
        true,
        "ns",
    ));
    // The defaults against the tuned slices of the same run (the worst of 5 runs);
    // restricted to one CPU, against the median of the thread hand-off on that CPU.
    let cpus = crate::sys::allowed_cpus().len();
    let mut counts = vec![1usize, 2, 2 * cpus];
    counts.dedup();
    for (setup, against) in [
        ("defaults", "the tuned slices of the same run"),
        ("defaults_1cpu", "the hand-off's median"),
    ] {
        for &callers in &counts {
            for (quantile, bound) in [
                ("p50", crate::workloads::defaults::P50_BOUND),
                ("p99", crate::workloads::defaults::P99_BOUND),
            ] {
                out.push(judge(
                    "defaults_vs_tuned",
                    format!(
                        "{setup}, {callers} unpinned caller(s): worst-run os put {quantile} / {against}"
                    ),
                    report.find_figure(&format!("defaults.{setup}.c{callers}.{quantile}_ratio")),
                    bound,
                    true,
                    "ratio",
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::Latency;
    use crate::report::Row;

    fn row(key: &str, ns: u64, seconds: f64, ops: u64) -> Row {
        let mut latency = Latency::new();
        for _ in 0..ops {
            latency.record_ns(ns);
        }
        Row {
            key: key.into(),
            workload: "t",
            case: key.into(),
            mode: "closed loop".into(),
            latency,
            seconds,
            ops,
            records: ops,
            data_bytes: 0,
            cpu_ns: None,
        }
    }

    #[test]
    fn verdicts_and_ratios() {
        let mut report = Report::default();
        report.row(row("baseline.raw_device", 100_000, 1.0, 10));
        report.row(row("put.sync.io_uring", 120_000, 1.0, 10));
        report.row(row("put.os.busy", 1_000, 1.0, 10));
        let targets = evaluate(&report);
        let find = |id: &str| targets.iter().find(|t| t.id == id).unwrap();
        assert_eq!(find("os_put_p50").status, Status::Met);
        let sync = find("sync_put_p50_vs_device");
        assert_eq!(sync.status, Status::Missed);
        assert!((sync.measured.unwrap() - 1.2).abs() < 0.01);
        assert_eq!(find("scan").status, Status::NotMeasured);
        let ratios = comparisons(&report);
        assert!(ratios.iter().any(|c| (c.ratio - 1.2).abs() < 0.01));
        assert_eq!(find("ffi_put_overhead_p50").status, Status::NotMeasured);
    }

    #[test]
    fn c_abi_against_the_rust_api() {
        let mut report = Report::default();
        report.row(row("ffi.rust.put", 1_000, 1.0, 10));
        report.row(row("ffi.c.put", 1_300, 1.0, 10));
        report.figure("ffi", "ffi.put_overhead_p50_ns", "put", 300.0, "ns");
        report.figure(
            "ffi",
            "ffi.get100_overhead_p50_per_record_ns",
            "rec",
            200.0,
            "ns",
        );
        let targets = evaluate(&report);
        let find = |id: &str| targets.iter().find(|t| t.id == id).unwrap();
        assert_eq!(find("ffi_put_overhead_p50").status, Status::Met);
        assert_eq!(
            find("ffi_get100_overhead_per_record").status,
            Status::Missed
        );
        assert_eq!(find("ffi_get1_overhead_p50").status, Status::NotMeasured);
        let ratios = comparisons(&report);
        let put = ratios
            .iter()
            .find(|c| c.label == "C ABI os put p50 / Rust API p50")
            .unwrap();
        assert!((put.ratio - 1.3).abs() < 0.01, "{put:?}");
        assert!(!ratios.iter().any(|c| c.label.contains("get_records")));
    }
}
