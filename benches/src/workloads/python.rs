//! The Python API's own costs: `benches/python/python_api.py` run by a Python that
//! imports a **release** build of the `tidelog` package (TIDELOG_BENCH_PYTHON, else
//! `./.venv/bin/python`, else `python3`; the first that imports tidelog): put of 1 KiB,
//! put_records of 500 x 1 KiB, get_records of 100 x 1 KiB through the Pythonic API and
//! through the boto3-compatible client. The engine is opened as the README opens it
//! (`tidelog.open(path)`, limits off, durability os), in the child, from its unpinned
//! main thread.
//!
//! Invariant: figures come only from a release extension. A debug one (what `make test`
//! builds into .venv) is 20x slower and says nothing about the package users install, so
//! the workload then reports nothing and says how to get a release build.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use super::{Ctx, Result};
use crate::report::Row;

/// The script's cases: key, label, records per call.
const CASES: [(&str, &str); 4] = [
    ("put", "Python put_record 1 KiB (tidelog.open defaults, os)"),
    ("put_records", "Python put_records 500 x 1 KiB"),
    (
        "get_records",
        "Python get_records 100 x 1 KiB, Pythonic API",
    ),
    (
        "boto3_get_records",
        "Python get_records 100 x 1 KiB, boto3-compatible client",
    ),
];

/// The first Python that imports tidelog, with the build profile it reports.
fn find_python() -> Option<(PathBuf, String)> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    std::env::var_os("TIDELOG_BENCH_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([venv, PathBuf::from("python3")])
        .find_map(|p| {
            let out = std::process::Command::new(&p)
                .args([
                    "-W",
                    "ignore",
                    "-c",
                    "import tidelog; print(tidelog.BUILD_PROFILE)",
                ])
                .stderr(Stdio::null())
                .output()
                .ok()?;
            out.status.success().then(|| {
                let profile = String::from_utf8_lossy(&out.stdout).trim().to_string();
                (p, profile)
            })
        })
}

/// Runs the script and reports its cases.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let Some((python, profile)) = find_python() else {
        ctx.report.note(
            "python: no Python imports tidelog (TIDELOG_BENCH_PYTHON, ./.venv/bin/python, \
             python3): not measured. `pip install ./python` builds a release extension.",
        );
        return Ok(());
    };
    if profile != "release" {
        ctx.report.note(format!(
            "python: {} imports a {profile} build of tidelog: not measured (a debug \
             extension is ~20x slower than what users install). Build a release one with \
             `cd python && maturin develop --release` in that environment, or point \
             TIDELOG_BENCH_PYTHON at a Python that has one.",
            python.display()
        ));
        return Ok(());
    }
    ctx.progress(&format!("{} (release extension)", python.display()));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/python_api.py");
    let seconds = ctx.args.duration.as_secs_f64().max(0.05);
    let mut command = std::process::Command::new(&python);
    command
        .arg("-W")
        .arg("ignore")
        .arg(&script)
        .arg(seconds.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = ctx.spawn_child(&mut command)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let doc: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{}: output is not JSON: {e}", script.display()))?;
    for (key, label) in CASES {
        let case = &doc["cases"][key];
        let (Some(calls), Some(records), Some(secs), Some(samples)) = (
            case["calls"].as_u64(),
            case["records"].as_u64(),
            case["seconds"].as_f64(),
            case["latency_ns"].as_array(),
        ) else {
            return Err(format!("{}: case {key} is missing figures", script.display()).into());
        };
        let mut latency = crate::hist::Latency::new();
        for s in samples {
            latency.record(Duration::from_nanos(s.as_u64().unwrap_or(0)));
        }
        ctx.report.row(Row {
            key: format!("python.{key}"),
            workload: "python",
            case: label.to_string(),
            mode: "closed loop, one thread".into(),
            seconds: secs,
            ops: calls,
            records,
            data_bytes: records * 1024,
            cpu_ns: None,
            latency,
        });
    }
    Ok(())
}
