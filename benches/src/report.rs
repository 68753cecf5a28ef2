//! Everything a run measured, and its three renderings: the table on stdout, the JSON
//! document (every figure plus the environment), and the files in the output
//! directory (`results.json`, `summary.txt`, one `.hgrm` per latency histogram, SVG
//! percentile plots).
//!
//! Invariant: only measured values enter a report; a figure that could not be
//! measured is absent (and its target says "not measured"), never a placeholder.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::env::Environment;
use crate::hist::{Latency, format_ns};
use crate::targets::{Comparison, TargetResult};

/// A measured case with a latency histogram (one value per request).
#[derive(Debug, Clone)]
pub struct Row {
    /// Stable key (`put.os.busy`), used by targets and file names.
    pub key: String,
    /// The workload it belongs to.
    pub workload: &'static str,
    /// What was measured, for people.
    pub case: String,
    /// Closed or open loop.
    pub mode: String,
    /// Latency per request.
    pub latency: Latency,
    /// Length of the measuring interval, s.
    pub seconds: f64,
    /// Requests completed in it.
    pub ops: u64,
    /// Records moved in it (a batched request moves many).
    pub records: u64,
    /// Data bytes moved in it.
    pub data_bytes: u64,
    /// CPU time of the whole process in it, ns (engine cores included).
    pub cpu_ns: Option<u64>,
}

impl Row {
    /// Requests per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.seconds.max(1e-9)
    }

    /// Records per second.
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.seconds.max(1e-9)
    }

    /// Data MB (10^6 bytes) per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.data_bytes as f64 / self.seconds.max(1e-9) / 1e6
    }

    /// CPU time per request, ns.
    pub fn cpu_ns_per_op(&self) -> Option<f64> {
        self.cpu_ns
            .filter(|_| self.ops > 0)
            .map(|c| c as f64 / self.ops as f64)
    }

    fn file_stem(&self) -> String {
        self.key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// A single measured value.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Stable key (`idle.anon_bytes_per_shard`).
    pub key: String,
    /// The workload it belongs to.
    pub workload: &'static str,
    /// What it is, for people.
    pub label: String,
    /// The value.
    pub value: f64,
    /// Its unit: one of `bytes`, `ns`, `count`, `ratio`, `records/s`, `MB/s`, `GB/s`.
    pub unit: &'static str,
}

/// The figures of one run.
#[derive(Debug, Default)]
pub struct Report {
    /// Cases with latency histograms.
    pub rows: Vec<Row>,
    /// Single values.
    pub figures: Vec<Figure>,
    /// Remarks the workloads made (e.g. "the producer fell behind the offered rate").
    pub notes: Vec<String>,
    /// Workloads that failed, with the error.
    pub failures: Vec<(String, String)>,
}

impl Report {
    /// Adds a case.
    pub fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Adds a figure.
    pub fn figure(
        &mut self,
        workload: &'static str,
        key: impl Into<String>,
        label: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) {
        self.figures.push(Figure {
            key: key.into(),
            workload,
            label: label.into(),
            value,
            unit,
        });
    }

    /// Adds a remark.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The case with this key.
    pub fn find_row(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.key == key)
    }

    /// The figure with this key.
    pub fn find_figure(&self, key: &str) -> Option<f64> {
        self.figures.iter().find(|f| f.key == key).map(|f| f.value)
    }
}

/// A count per second for people: 1.23 M, 45.6 k.
pub fn format_rate(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1} k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

/// A figure's value with its unit, for people.
pub fn format_value(value: f64, unit: &str) -> String {
    match unit {
        "bytes" => {
            if value >= (1u64 << 30) as f64 {
                format!("{:.2} GiB", value / (1u64 << 30) as f64)
            } else if value >= (1 << 20) as f64 {
                format!("{:.2} MiB", value / (1 << 20) as f64)
            } else if value >= 1024.0 {
                format!("{:.2} KiB", value / 1024.0)
            } else {
                format!("{value:.0} B")
            }
        }
        "ns" => format_ns(value),
        "count" => format!("{value:.0}"),
        "ratio" => format!("{value:.3}"),
        "records/s" => format!("{} records/s", format_rate(value)),
        "events/s" => format!("{} events/s", format_rate(value)),
        other => format!("{value:.2} {other}"),
    }
}

/// Everything the renderings need besides the report.
pub struct Context<'a> {
    /// The machine.
    pub env: &'a Environment,
    /// Where engines wrote.
    pub data_dir: &'a Path,
    /// Where files go.
    pub out_dir: &'a Path,
    /// The command line's options, as JSON.
    pub options: Value,
    /// Ratios to the baselines.
    pub comparisons: &'a [Comparison],
    /// Targets, judged.
    pub targets: &'a [TargetResult],
    /// Seconds the whole run took.
    pub run_seconds: f64,
}

/// The table printed on stdout.
pub fn table(report: &Report, ctx: &Context<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "tidelog-bench, {}", ctx.env.started_utc);
    let _ = writeln!(out, "{}", ctx.env.summary());
    let _ = writeln!(
        out,
        "data dir {} | results in {} | run took {:.1} s | load at end {}",
        ctx.data_dir.display(),
        ctx.out_dir.display(),
        ctx.run_seconds,
        crate::env::load_average()
    );
    let case_width = report
        .rows
        .iter()
        .map(|r| r.case.chars().count())
        .max()
        .unwrap_or(20)
        .max(20);
    let mut workload = "";
    let _ = writeln!(
        out,
        "\n{:<w$} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9}",
        "LATENCY AND THROUGHPUT",
        "p50",
        "p99",
        "p99.9",
        "max",
        "req/s",
        "records/s",
        "MB/s",
        "CPU/req",
        w = case_width + 2
    );
    for row in &report.rows {
        if row.workload != workload {
            workload = row.workload;
            let _ = writeln!(out, "{workload}");
        }
        let l = &row.latency;
        let _ = writeln!(
            out,
            "  {:<w$} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9}",
            row.case,
            format_ns(l.quantile_ns(0.5) as f64),
            format_ns(l.quantile_ns(0.99) as f64),
            format_ns(l.quantile_ns(0.999) as f64),
            format_ns(l.max_ns() as f64),
            format_rate(row.ops_per_sec()),
            format_rate(row.records_per_sec()),
            if row.data_bytes > 0 {
                format!("{:.1}", row.mb_per_sec())
            } else {
                "-".to_string()
            },
            row.cpu_ns_per_op()
                .map_or_else(|| "-".to_string(), format_ns),
            w = case_width
        );
    }
    if !report.figures.is_empty() {
        let width = report
            .figures
            .iter()
            .map(|f| f.label.chars().count())
            .max()
            .unwrap_or(20);
        let _ = writeln!(out, "\nFIGURES");
        let mut workload = "";
        for f in &report.figures {
            if f.workload != workload {
                workload = f.workload;
                let _ = writeln!(out, "{workload}");
            }
            let _ = writeln!(
                out,
                "  {:<width$}  {:>16}",
                f.label,
                format_value(f.value, f.unit)
            );
        }
    }
    if !ctx.comparisons.is_empty() {
        let _ = writeln!(
            out,
            "\nAGAINST THE BASELINES OF THIS RUN (tidelog / baseline)"
        );
        let width = ctx
            .comparisons
            .iter()
            .map(|c| c.label.chars().count())
            .max()
            .unwrap_or(20);
        for c in ctx.comparisons {
            let _ = writeln!(
                out,
                "  {:<width$}  {:>7.2}x   ({} vs {})",
                c.label,
                c.ratio,
                format_value(c.measured, c.unit),
                format_value(c.baseline, c.unit)
            );
        }
    }
    if !ctx.targets.is_empty() {
        let _ = writeln!(out, "\nTARGETS");
        let width = ctx
            .targets
            .iter()
            .map(|t| t.description.chars().count())
            .max()
            .unwrap_or(20);
        for t in ctx.targets {
            let _ = writeln!(
                out,
                "  {:<7} {:<width$}  {}",
                t.status.label(),
                t.description,
                t.detail
            );
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for (workload, error) in &report.failures {
        let _ = writeln!(out, "FAILED {workload}: {error}");
    }
    out
}

fn row_json(row: &Row, hgrm: &str) -> Value {
    let l = &row.latency;
    let us = |ns: u64| ns as f64 / 1000.0;
    json!({
        "key": row.key,
        "workload": row.workload,
        "case": row.case,
        "mode": row.mode,
        "seconds": row.seconds,
        "requests": row.ops,
        "records": row.records,
        "data_bytes": row.data_bytes,
        "requests_per_sec": row.ops_per_sec(),
        "records_per_sec": row.records_per_sec(),
        "mb_per_sec": row.mb_per_sec(),
        "cpu_us_per_request": row.cpu_ns_per_op().map(|ns| ns / 1000.0),
        "latency_us": {
            "count": l.count(),
            "min": us(l.min_ns()),
            "mean": l.mean_ns() / 1000.0,
            "p50": us(l.quantile_ns(0.5)),
            "p90": us(l.quantile_ns(0.9)),
            "p99": us(l.quantile_ns(0.99)),
            "p99_9": us(l.quantile_ns(0.999)),
            "p99_99": us(l.quantile_ns(0.9999)),
            "max": us(l.max_ns()),
        },
        "hgrm_file": hgrm,
    })
}

/// The JSON document.
pub fn to_json(report: &Report, ctx: &Context<'_>) -> Value {
    json!({
        "tool": "tidelog-bench",
        "format_version": 1,
        "environment": ctx.env.to_json(),
        "options": ctx.options,
        "data_dir": ctx.data_dir.display().to_string(),
        "run_seconds": ctx.run_seconds,
        "latency": report.rows.iter().map(|r| row_json(r, &format!("{}.hgrm", r.file_stem()))).collect::<Vec<_>>(),
        "figures": report.figures.iter().map(|f| json!({
            "key": f.key, "workload": f.workload, "label": f.label, "value": f.value, "unit": f.unit,
        })).collect::<Vec<_>>(),
        "baseline_ratios": ctx.comparisons.iter().map(Comparison::to_json).collect::<Vec<_>>(),
        "targets": ctx.targets.iter().map(TargetResult::to_json).collect::<Vec<_>>(),
        "notes": report.notes,
        "failures": report.failures.iter().map(|(w, e)| json!({"workload": w, "error": e})).collect::<Vec<_>>(),
    })
}

/// Writes `results.json`, `summary.txt`, the `.hgrm` files and the SVG plots (after
/// removing those an earlier run left in the directory); returns the paths written.
pub fn write_files(
    report: &Report,
    ctx: &Context<'_>,
    table_text: &str,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(ctx.out_dir)?;
    // Files an earlier run left in the same directory would mix with this run's.
    for entry in std::fs::read_dir(ctx.out_dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.ends_with(".hgrm")
            || name.ends_with(".svg")
            || name == "results.json"
            || name == "summary.txt";
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(entry.path())?;
        }
    }
    let mut written = Vec::new();
    let mut write = |name: String, bytes: &[u8]| -> std::io::Result<()> {
        let path = ctx.out_dir.join(name);
        std::fs::write(&path, bytes)?;
        written.push(path);
        Ok(())
    };
    let doc = to_json(report, ctx);
    let text = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?;
    write("results.json".into(), text.as_bytes())?;
    write("summary.txt".into(), table_text.as_bytes())?;
    for row in &report.rows {
        write(
            format!("{}.hgrm", row.file_stem()),
            row.latency.hgrm().as_bytes(),
        )?;
    }
    let subtitle = ctx.env.summary();
    let mut workloads: Vec<&str> = report.rows.iter().map(|r| r.workload).collect();
    workloads.dedup();
    for workload in &workloads {
        let series: Vec<(&str, &Latency)> = report
            .rows
            .iter()
            .filter(|r| r.workload == *workload)
            .map(|r| (r.case.as_str(), &r.latency))
            .collect();
        let svg = crate::svg::percentile_plot(
            &format!("tidelog {workload}: latency by percentile"),
            &subtitle,
            &series,
        );
        write(format!("{workload}.svg"), svg.as_bytes())?;
    }
    if !report.rows.is_empty() {
        let series: Vec<(&str, &Latency)> = report
            .rows
            .iter()
            .map(|r| (r.key.as_str(), &r.latency))
            .collect();
        let svg = crate::svg::percentile_plot(
            "tidelog: every latency of this run, by percentile",
            &subtitle,
            &series,
        );
        write("latency-percentiles.svg".into(), svg.as_bytes())?;
    }
    Ok(written)
}
