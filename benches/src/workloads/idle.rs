//! Idle shards: what `--idle-shards` (default 10,000) shards that hold no records cost
//! (anonymous memory, i.e. RSS minus file-backed pages; disk under the data directory;
//! descriptors) and how long the engine takes to create them and to open with them.
//! Measured in a child process of the bench (`__idle-shards`), so no earlier
//! workload's allocations blur the memory figure.
#![forbid(unsafe_code)]

use std::process::{Command, Stdio};

use super::{Ctx, Result};

/// Runs the child and reports its figures.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let shards = ctx.args.idle_shards;
    let dir = ctx.case_dir("idle")?;
    ctx.progress(&format!("{shards} idle shards, in a child process"));
    let child = ctx.spawn_child(
        Command::new(std::env::current_exe()?)
            .arg("__idle-shards")
            .arg(dir.path())
            .arg(shards.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    )?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(format!("the idle-shards child failed ({})", output.status).into());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let doc: serde_json::Value = serde_json::from_str(text.trim())
        .map_err(|e| format!("the idle-shards child printed no JSON ({e}): {text}"))?;
    let get = |field: &str| -> Result<f64> {
        doc.get(field)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| format!("the idle-shards child did not report {field}").into())
    };
    let n = get("shards")?;
    let anon_per_shard = (get("anon_bytes_with_shards")? - get("anon_bytes_engine")?) / n;
    let figures = [
        ("idle.shards", "idle shards".to_string(), n, "count"),
        (
            "idle.anon_bytes_per_shard",
            "anonymous memory per shard (RssAnon growth / shards)".to_string(),
            anon_per_shard,
            "bytes",
        ),
        (
            "idle.anon_bytes_engine",
            "anonymous memory of the engine with no shards".to_string(),
            get("anon_bytes_engine")? - get("anon_bytes_before_open")?,
            "bytes",
        ),
        (
            "idle.disk_bytes_per_shard",
            "disk per shard (allocated blocks / shards)".to_string(),
            get("disk_bytes_allocated")? / n,
            "bytes",
        ),
        (
            "idle.fds_per_shard",
            "open descriptors per shard".to_string(),
            (get("fds_with_shards")? - get("fds_engine")?) / n,
            "ratio",
        ),
        (
            "idle.create_ns",
            format!("create_stream of {n:.0} shards"),
            get("create_ns")?,
            "ns",
        ),
        (
            "idle.at_rest_ns",
            "create until every spare segment is ready".to_string(),
            get("at_rest_ns")?,
            "ns",
        ),
        (
            "idle.open_ns",
            format!("Engine::open with {:.0} shards", get("reopen_shards")?),
            get("reopen_ns")?,
            "ns",
        ),
        (
            "idle.open_shards",
            "shards of that open".to_string(),
            get("reopen_shards")?,
            "count",
        ),
        (
            "idle.open_empty_ns",
            "Engine::open of an empty data directory".to_string(),
            get("open_empty_ns")?,
            "ns",
        ),
    ];
    for (key, label, value, unit) in figures {
        ctx.report.figure("idle", key, label, value, unit);
    }
    if let Some(refused) = doc
        .get("reopen_refused")
        .and_then(serde_json::Value::as_str)
    {
        ctx.report.note(format!(
            "idle: Engine::open with {n:.0} shards was refused here ({refused}); the open \
             time is for {:.0} shards, the most this open-file limit allows",
            get("reopen_shards")?
        ));
    }
    if get("spare_files")? < n {
        ctx.report.note(format!(
            "idle: only {} of {n:.0} spare segments existed when measured",
            get("spare_files")?
        ));
    }
    Ok(())
}
