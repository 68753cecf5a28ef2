//! SQL over a stream (tidelog-analytics), beside its peers in the same run: a filter +
//! group-by over 1 M JSON records of ~200 B (`TIDELOG_BENCH_SQL_RECORDS` to change)
//! held in a two-shard tidelog stream, and the same query over the same records
//! written to an NDJSON file, read by DataFusion's own JSON scan and by DuckDB's
//! `read_ndjson` (DuckDB from Python: `benches/python/duckdb_ndjson.py`, run with
//! `TIDELOG_BENCH_PYTHON`, else `.venv/bin/python`, else `python3`; without DuckDB
//! that peer is reported missing). Each is timed warm, best of three; the answers
//! must agree or the workload fails. Then the Arrow export of a 10,000-record batch:
//! `records_to_arrow` plus the Arrow C stream a consumer imports (payloads lent, not
//! copied).
//!
//! Then continuous applications ([`run_apps`]): a tumbling count-by-key and a sliding
//! average over 1 M records of ~100 B (`TIDELOG_BENCH_APP_RECORDS`), the same count
//! as a one-off query, and window-close → result latency of a live application.
//!
//! Built only with the `sql` feature (`make bench-sql`): DataFusion is a long build.
#![forbid(unsafe_code)]

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::Value;
use tidelog::{Durability, PutRecordsEntry, StartingPosition};
use tidelog_analytics::arrow::array::{Array, RecordBatch};
use tidelog_analytics::arrow::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use tidelog_analytics::arrow::record_batch::RecordBatchIterator;
use tidelog_analytics::datafusion::prelude::{JsonReadOptions, SessionConfig, SessionContext};
use tidelog_analytics::{Analytics, AnalyticsOptions, InputSchema};

use super::{Ctx, Result};

const RECORDS_DEFAULT: usize = 1_000_000;
const SHARDS: u32 = 2;
const RUNS: usize = 3;
const EXPORT_RECORDS: usize = 10_000;

const QUERY: &str = "SELECT country, COUNT(*) AS n, SUM(amount) AS amount, SUM(items) AS items \
     FROM events WHERE amount > 250 AND os = 'android' GROUP BY country ORDER BY country";

fn record(i: usize) -> String {
    const COUNTRIES: [&str; 8] = ["FR", "DE", "US", "JP", "BR", "IN", "GB", "ES"];
    const OS: [&str; 3] = ["android", "ios", "web"];
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        r#"{{"id":{i},"user":"user-{:06}","country":"{}","os":"{}","amount":{}.{:02},"items":{},"ts":"2024-05-01T{:02}:{:02}:{:02}.{:03}Z","session":"{:016x}","page":"/products/{}"}}"#,
        h % 1_000_000,
        COUNTRIES[(h >> 8) as usize % COUNTRIES.len()],
        OS[(h >> 16) as usize % OS.len()],
        (h >> 20) % 1000,
        (h >> 30) % 100,
        (h >> 40) % 9 + 1,
        (i / 3_600_000) % 24,
        (i / 60_000) % 60,
        (i / 1000) % 60,
        i % 1000,
        h,
        (h >> 44) % 5000,
    )
}

fn schema() -> Result<InputSchema> {
    Ok(InputSchema::json(&[
        ("id", "BIGINT", "$.id"),
        ("user", "VARCHAR", "$.user"),
        ("country", "VARCHAR", "$.country"),
        ("os", "VARCHAR", "$.os"),
        ("amount", "DOUBLE", "$.amount"),
        ("items", "BIGINT", "$.items"),
        ("ts", "TIMESTAMP", "$.ts"),
        ("session", "VARCHAR", "$.session"),
        ("page", "VARCHAR", "$.page"),
    ])?)
}

/// The answer as comparable text: one line per group, amounts rounded to cents.
fn answer(batches: &[RecordBatch]) -> Result<Vec<String>> {
    use tidelog_analytics::arrow::util::display::array_value_to_string;
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let country = array_value_to_string(b.column(0), r)?;
            let n = array_value_to_string(b.column(1), r)?;
            let amount: f64 = array_value_to_string(b.column(2), r)?.parse()?;
            let items = array_value_to_string(b.column(3), r)?;
            rows.push(format!("{country} {n} {amount:.2} {items}"));
        }
    }
    Ok(rows)
}

fn best<T>(mut run: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = run()?;
        best = best.min(t.elapsed());
        last = Some(out);
    }
    Ok((best, last.ok_or("no run")?))
}

fn python() -> String {
    if let Ok(p) = std::env::var("TIDELOG_BENCH_PYTHON") {
        return p;
    }
    let venv = std::path::Path::new(".venv/bin/python");
    if venv.exists() {
        return venv.display().to_string();
    }
    "python3".into()
}

/// Runs the workload.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let records: usize = match std::env::var("TIDELOG_BENCH_SQL_RECORDS") {
        Ok(v) => v
            .parse()
            .map_err(|_| format!("TIDELOG_BENCH_SQL_RECORDS={v:?}: not a number"))?,
        Err(_) => RECORDS_DEFAULT,
    };
    let dir = ctx.case_dir("sql")?;
    let mut config = ctx.engine_config(&dir.path().join("engine"));
    config.durability = Durability::Os;
    let engine = ctx.open_engine(config)?;
    engine.create_stream("events", SHARDS)?;
    ctx.progress(&format!(
        "writing {records} JSON records to a stream and an NDJSON file"
    ));
    let file_path = dir.path().join("events.ndjson");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&file_path)?);
    let mut bytes = 0usize;
    let keys: Vec<String> = (0..64).map(|k| format!("k{k}")).collect();
    for start in (0..records).step_by(500) {
        let bodies: Vec<String> = (start..(start + 500).min(records)).map(record).collect();
        for b in &bodies {
            bytes += b.len();
            file.write_all(b.as_bytes())?;
            file.write_all(b"\n")?;
        }
        let entries: Vec<PutRecordsEntry<'_>> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| PutRecordsEntry {
                partition_key: &keys[(start + i) % keys.len()],
                data: b.as_bytes(),
                explicit_hash_key: None,
            })
            .collect();
        let out = engine.put_records("events", &entries, Some(Durability::Os))?;
        if out.failed_record_count > 0 {
            return Err(format!("{} puts failed", out.failed_record_count).into());
        }
    }
    file.flush()?;
    drop(file);
    engine.flush()?;
    let mean_bytes = bytes as f64 / records.max(1) as f64;
    ctx.progress(&format!(
        "{records} records, {mean_bytes:.0} B each on average"
    ));

    // tidelog: the stream as a table.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let sql = Analytics::with_options(
        &engine,
        AnalyticsOptions {
            threads: Some(threads),
            ..Default::default()
        },
    )?;
    sql.register_stream("events", "events", schema()?)?;
    let (tidelog_time, tidelog_result) = best(|| Ok(sql.sql(QUERY)?))?;
    let tidelog_answer = answer(&tidelog_result.batches)?;
    if tidelog_result.rejected() != 0 || tidelog_result.scans[0].records_read != records as u64 {
        return Err(format!("tidelog scan: {:?}", tidelog_result.scans[0]).into());
    }

    // DataFusion's own NDJSON scan of the file (schema given, so no inference pass).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let df_ctx =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(threads));
    let arrow_schema = {
        let full = schema()?.arrow_schema();
        let fields: Vec<_> = full.fields().iter().take(9).cloned().collect();
        tidelog_analytics::arrow::datatypes::Schema::new(fields)
    };
    let path = file_path.display().to_string();
    runtime.block_on(
        df_ctx.register_json(
            "events",
            &path,
            JsonReadOptions::default()
                .schema(&arrow_schema)
                .file_extension(".ndjson"),
        ),
    )?;
    let (df_time, df_batches) =
        best(|| Ok(runtime.block_on(async { df_ctx.sql(QUERY).await?.collect().await })?))?;
    let df_answer = answer(&df_batches)?;
    if df_answer != tidelog_answer {
        return Err(format!(
            "DataFusion's answer {df_answer:?} differs from tidelog's {tidelog_answer:?}"
        )
        .into());
    }

    // DuckDB, from Python.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/duckdb_ndjson.py");
    let duck = std::process::Command::new(python())
        .arg(&script)
        .arg(&file_path)
        .arg(QUERY.replace("FROM events", "FROM read_ndjson('{path}')"))
        .arg(RUNS.to_string())
        .arg(threads.to_string())
        .output();
    let duck_time = match duck {
        Ok(out) if out.status.success() => {
            let v: Value = serde_json::from_slice(&out.stdout)?;
            let rows: Vec<String> = v["rows"]
                .as_array()
                .ok_or("duckdb: no rows")?
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {:.2} {}",
                        r[0].as_str().unwrap_or(""),
                        r[1],
                        r[2].as_f64().unwrap_or(f64::NAN),
                        r[3]
                    )
                })
                .collect();
            if rows != tidelog_answer {
                return Err(format!(
                    "DuckDB's answer {rows:?} differs from tidelog's {tidelog_answer:?}"
                )
                .into());
            }
            v["best_s"].as_f64().map(Duration::from_secs_f64)
        }
        Ok(out) => {
            ctx.report.note(format!(
                "sql: DuckDB peer not measured: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("failed")
            ));
            None
        }
        Err(e) => {
            ctx.report
                .note(format!("sql: DuckDB peer not measured: {e}"));
            None
        }
    };

    let rate = |d: Duration| records as f64 / d.as_secs_f64();
    ctx.report.figure(
        "sql",
        "sql.records",
        "records in the stream and the file",
        records as f64,
        "records",
    );
    ctx.report.figure(
        "sql",
        "sql.record_bytes",
        "mean JSON record size",
        mean_bytes,
        "B",
    );
    ctx.report.figure(
        "sql",
        "sql.tidelog_rows_per_s",
        "filter + group-by, tidelog stream (best of 3)",
        rate(tidelog_time),
        "rows/s",
    );
    ctx.report.figure(
        "sql",
        "sql.datafusion_ndjson_rows_per_s",
        "same query, DataFusion NDJSON file scan",
        rate(df_time),
        "rows/s",
    );
    if let Some(d) = duck_time {
        ctx.report.figure(
            "sql",
            "sql.duckdb_ndjson_rows_per_s",
            "same query, DuckDB read_ndjson",
            rate(d),
            "rows/s",
        );
    }
    let faster_peer = duck_time.map_or(df_time, |d| d.min(df_time));
    ctx.report.figure(
        "sql",
        "sql.tidelog_vs_faster_peer",
        "tidelog time / faster peer's time (goal <= 1)",
        tidelog_time.as_secs_f64() / faster_peer.as_secs_f64(),
        "x",
    );

    // Arrow export of a 10,000-record batch, and its import through the C stream.
    let shard = engine.describe_stream("events")?.shards[0].shard_id.clone();
    let it = engine.get_shard_iterator("events", &shard, StartingPosition::TrimHorizon)?;
    let batch = engine.get_records(&it, Some(EXPORT_RECORDS.min(records / 2).max(1)))?;
    let mut samples = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let arrow = tidelog_analytics::records_to_arrow(&batch.records, &batch.shard_id)?;
        let schema = arrow.schema();
        let stream = FFI_ArrowArrayStream::new(Box::new(RecordBatchIterator::new(
            std::iter::once(Ok(arrow)),
            schema,
        )));
        let mut reader = ArrowArrayStreamReader::try_new(stream)?;
        let imported = reader.next().ok_or("empty stream")??;
        samples.push(t.elapsed());
        if imported.num_rows() != batch.records.len() || imported.column(4).is_empty() {
            return Err("the exported batch lost records".into());
        }
    }
    samples.sort();
    ctx.report.figure(
        "sql",
        "sql.arrow_export_10k_us",
        format!(
            "Arrow export + C-stream import of {} records, median",
            batch.records.len()
        ),
        samples[samples.len() / 2].as_secs_f64() * 1e6,
        "µs",
    );
    engine.close()?;
    run_apps(ctx)
}

const APP_RECORDS_DEFAULT: usize = 1_000_000;

fn app_record(i: usize) -> String {
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // ~100 B: a key among 64, a value, an id and padding.
    format!(
        r#"{{"k":"key-{:02}","v":{}.{:02},"id":{i},"pad":"{:016x}{:08x}"}}"#,
        (h >> 7) % 64,
        (h >> 20) % 1000,
        (h >> 30) % 100,
        h,
        h >> 40
    )
}

/// Continuous applications (issue 18): events/s of one application thread (one core)
/// for a tumbling count-by-key and a sliding average over the same records, the same
/// count as a one-off ad-hoc query, and put → window-result latency after a window
/// closes (a live application with one-second windows).
pub fn run_apps(ctx: &mut Ctx<'_>) -> Result<()> {
    use std::sync::{Arc, Mutex};
    use tidelog_analytics::app::{AppDefinition, AppRunner, OutputFormat, StartFrom};
    let records: usize = match std::env::var("TIDELOG_BENCH_APP_RECORDS") {
        Ok(v) => v
            .parse()
            .map_err(|_| format!("TIDELOG_BENCH_APP_RECORDS={v:?}: not a number"))?,
        Err(_) => APP_RECORDS_DEFAULT,
    };
    let dir = ctx.case_dir("sql-apps")?;
    let mut config = ctx.engine_config(&dir.path().join("engine"));
    config.durability = Durability::Os;
    config.limits = tidelog::Limits::unlimited();
    let engine = ctx.open_engine(config)?;
    engine.create_stream("ticks", 1)?;
    engine.create_stream("counts", 1)?;
    ctx.progress(&format!("apps: writing {records} JSON records of ~100 B"));
    let mut bytes = 0usize;
    for start in (0..records).step_by(500) {
        let bodies: Vec<String> = (start..(start + 500).min(records))
            .map(app_record)
            .collect();
        bytes += bodies.iter().map(String::len).sum::<usize>();
        let entries: Vec<PutRecordsEntry<'_>> = bodies
            .iter()
            .map(|b| PutRecordsEntry {
                partition_key: "p",
                data: b.as_bytes(),
                explicit_hash_key: None,
            })
            .collect();
        let out = engine.put_records("ticks", &entries, Some(Durability::Os))?;
        if out.failed_record_count > 0 {
            return Err(format!("{} puts failed", out.failed_record_count).into());
        }
    }
    engine.flush()?;
    let schema = InputSchema::json(&[("k", "VARCHAR(8)", "$.k"), ("v", "DOUBLE", "$.v")])?;
    let tumbling = r#"CREATE STREAM "C" (k VARCHAR(8), n BIGINT, ws BIGINT);
        CREATE PUMP "P" AS INSERT INTO "C" SELECT STREAM k, COUNT(*),
          STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE)
        FROM "SOURCE_SQL_STREAM_001" GROUP BY k, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE)"#;
    let sliding = r#"CREATE STREAM "A" (k VARCHAR(8), a DOUBLE);
        CREATE PUMP "P" AS INSERT INTO "A" SELECT STREAM k, AVG(v) OVER (PARTITION BY k ROWS 10 PRECEDING)
        FROM "SOURCE_SQL_STREAM_001""#;
    let mut rates = Vec::new();
    // The throughput case uses 100 ms windows: the records' arrival times span a
    // couple of seconds, so the windows close (and their results are computed) within
    // the timed run; a one-minute window would still be open at its end.
    let tumbling_100ms = tumbling.replace("INTERVAL '1' MINUTE", "INTERVAL '100' MILLISECOND");
    for (name, code, output) in [
        ("tumbling", tumbling_100ms.as_str(), true),
        ("sliding", sliding, false),
    ] {
        let mut def = AppDefinition::new(name, code, "ticks", schema.clone());
        if output {
            def = def.with_output("C", "counts", OutputFormat::Json);
        }
        def.options.max_records_per_shard = 100_000;
        def.options.watermark_delay_ms = 0;
        let rows = Arc::new(Mutex::new(0usize));
        let t = Instant::now();
        let mut runner =
            AppRunner::open(&engine, def, &dir.path().join(name), StartFrom::TrimHorizon)?;
        {
            let rows = Arc::clone(&rows);
            runner.add_callback(
                if output { "C" } else { "A" },
                Arc::new(move |_, _, b| {
                    *rows.lock().unwrap_or_else(|p| p.into_inner()) += b.num_rows();
                }),
            )?;
        }
        while runner.state().counters.records_in < records as u64 {
            runner.step()?;
        }
        // Caught up: the next steps close every window the clock has passed.
        while !runner.step()?.idle {}
        let elapsed = t.elapsed();
        let out = *rows.lock().unwrap_or_else(|p| p.into_inner());
        if !output && out != records {
            return Err(format!("sliding: {out} result rows for {records} records").into());
        }
        if output && out == 0 {
            return Err("tumbling: no window closed in the run".into());
        }
        ctx.progress(&format!(
            "apps: {name}: {records} records in {elapsed:?} ({out} rows out)"
        ));
        rates.push((name, records as f64 / elapsed.as_secs_f64()));
    }
    // The same count as a one-off ad-hoc query (part one), over the same records.
    let sql = Analytics::new(&engine)?;
    sql.register_stream("ticks", "ticks", schema.clone())?;
    let (adhoc, result) = best(|| {
        Ok(sql.sql(
            "SELECT k, COUNT(*), date_bin(INTERVAL '100 milliseconds', approximate_arrival_time) \
             FROM ticks GROUP BY k, date_bin(INTERVAL '100 milliseconds', approximate_arrival_time)",
        )?)
    })?;
    if result.scans[0].records_read != records as u64 {
        return Err("ad-hoc: not every record was read".into());
    }
    // Latency: a live application with 1 s windows; a writer puts a record every ms;
    // each window's result is timed from the instant its end (plus a 2 ms watermark
    // delay) passed to the callback that receives it.
    let mut def = AppDefinition::new(
        "live",
        &tumbling.replace("INTERVAL '1' MINUTE", "INTERVAL '1' SECOND"),
        "ticks",
        schema,
    );
    def.options.watermark_delay_ms = 2;
    let apps = tidelog_analytics::Applications::open(&engine)?;
    apps.create(def)?;
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    {
        let latencies = Arc::clone(&latencies);
        apps.add_callback(
            "live",
            "C",
            Arc::new(move |_, _, b| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
                let ws = b.column(3);
                let ws = ws
                    .as_any()
                    .downcast_ref::<tidelog_analytics::arrow::array::Int64Array>();
                if let Some(ws) = ws.filter(|w| !w.is_empty()) {
                    let end = ws.value(0) as f64 + 1000.0 + 2.0;
                    latencies
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(now - end);
                }
            }),
        )?;
    }
    apps.start("live", StartFrom::Latest)?;
    let seconds = 12;
    let start = Instant::now();
    let mut i = 0usize;
    while start.elapsed() < Duration::from_secs(seconds) {
        let body = app_record(i);
        engine.put_record(
            "ticks",
            "p",
            body.as_bytes(),
            tidelog::PutOptions::default(),
        )?;
        i += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(1100));
    apps.close();
    let mut lat = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    // The first window opened mid-second (the application started at LATEST).
    if lat.len() > 2 {
        lat.remove(0);
    }
    lat.sort_by(f64::total_cmp);
    if lat.is_empty() {
        return Err("live: no window result arrived".into());
    }
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    for (name, rate) in &rates {
        ctx.report.figure(
            "sql",
            format!("sql.app_{name}_events_per_s"),
            format!(
                "application, {name} over {records} records of ~{} B, one thread",
                bytes / records.max(1)
            ),
            *rate,
            "events/s",
        );
    }
    ctx.report.figure(
        "sql",
        "sql.app_adhoc_same_count_rows_per_s",
        "the tumbling count as a one-off ad-hoc query (best of 3)",
        records as f64 / adhoc.as_secs_f64(),
        "rows/s",
    );
    ctx.report.figure(
        "sql",
        "sql.app_window_latency_p50_ms",
        format!(
            "window close -> result, 1 s windows, {} windows, median",
            lat.len()
        ),
        pct(0.5),
        "ms",
    );
    ctx.report.figure(
        "sql",
        "sql.app_window_latency_p99_ms",
        "window close -> result, p99 (goal <= 10 ms)",
        pct(0.99),
        "ms",
    );
    engine.close()?;
    Ok(())
}
