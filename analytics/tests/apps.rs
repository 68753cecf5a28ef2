//! Continuous applications: every result checked against a reference computed here
//! independently (plain Rust over the records the test put), on the engine's manual
//! clock (an hour of one-minute windows without sleeping), with crashes injected at
//! every point of an epoch.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use tidelog::{Clock, Durability, Engine, EngineConfig, ManualClock, PutRecordsEntry};
use tidelog_analytics::InputSchema;
use tidelog_analytics::app::{AppDefinition, AppRunner, CrashPoint, OutputFormat, StartFrom};

const T0: u64 = 1_700_000_000_000;

fn open(dir: &Path, clock: &Arc<ManualClock>) -> Engine {
    let mut config = EngineConfig::new(dir);
    config.cores = Some(1);
    config.pin_cores = false;
    config.limits = tidelog::Limits::unlimited();
    config.durability = Durability::Os;
    config.clock = clock.clone();
    Engine::open(config).expect("open engine")
}

fn put(engine: &Engine, stream: &str, records: &[(String, String)]) {
    for chunk in records.chunks(500) {
        let entries: Vec<PutRecordsEntry<'_>> = chunk
            .iter()
            .map(|(k, d)| PutRecordsEntry {
                partition_key: k,
                data: d.as_bytes(),
                explicit_hash_key: None,
            })
            .collect();
        let out = engine.put_records(stream, &entries, None).unwrap();
        assert_eq!(out.failed_record_count, 0);
    }
}

/// Every record of every shard of `stream`: (partition key, data).
fn read_all(engine: &Engine, stream: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for shard in engine
        .list_shards(stream, tidelog::engine::ShardFilter::All)
        .unwrap()
    {
        let mut next = 0u128;
        loop {
            let batch = engine
                .scan_shard(stream, &shard.shard_id, next, 10_000, 8 << 20)
                .unwrap();
            if batch.is_empty() {
                break;
            }
            for r in batch.iter() {
                next = r.seq + 1;
                out.push((
                    r.key_str().to_string(),
                    String::from_utf8(r.data.to_vec()).unwrap(),
                ));
            }
        }
    }
    out
}

fn ticks_schema() -> InputSchema {
    InputSchema::json(&[
        ("ticker", "VARCHAR(8)", "$.ticker"),
        ("price", "BIGINT", "$.price"),
        ("event_time", "TIMESTAMP", "$.at"),
    ])
    .unwrap()
}

const TUMBLING: &str = r#"
CREATE OR REPLACE STREAM "DEST" (ticker VARCHAR(8), n BIGINT, total BIGINT, window_start BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
  SELECT STREAM ticker, COUNT(*) AS n, SUM(price) AS total,
         STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE) AS window_start
  FROM "SOURCE_SQL_STREAM_001"
  GROUP BY ticker, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE);
"#;

fn json_rows(records: &[(String, String)]) -> Vec<Value> {
    records
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect()
}

/// An hour of one-minute tumbling windows on ROWTIME, with the runner "crashing" at
/// each point of an epoch in turn and reopened from its files: the output stream holds
/// every window exactly once, equal to the reference.
#[test]
fn tumbling_hour_exactly_once_across_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    engine.create_stream("ticks", 2).unwrap();
    engine.create_stream("counts", 2).unwrap();
    let def = AppDefinition::new("tumbling", TUMBLING, "ticks", ticks_schema()).with_output(
        "DEST",
        "counts",
        OutputFormat::Json,
    );
    let app_dir = dir.path().join("app");
    let mut runner =
        AppRunner::open(&engine, def.clone(), &app_dir, StartFrom::TrimHorizon).unwrap();
    let tickers = ["AMZN", "MSFT", "ACME", "TDLG"];
    let mut reference: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    let points = [
        CrashPoint::AfterIntent,
        CrashPoint::MidDelivery(1),
        CrashPoint::BeforeCheckpoint,
    ];
    let mut crashes = 0;
    let mut i = 0i64;
    for step in 0..360 {
        // 10 s of records (a few per second), stamped by the manual clock.
        let mut batch = Vec::new();
        for _ in 0..13 {
            let ticker = tickers[(i * 7 % 4) as usize];
            let price = i % 101;
            batch.push((
                format!("k{}", i % 9),
                format!(r#"{{"ticker": "{ticker}", "price": {price}, "at": {i}}}"#),
            ));
            let t = clock.now_ms() as i64;
            let e = reference
                .entry((ticker.to_string(), t - t % 60_000))
                .or_insert((0, 0));
            e.0 += 1;
            e.1 += price;
            i += 1;
            put(&engine, "ticks", &batch[batch.len() - 1..]);
            clock.advance_ms(769);
        }
        if step % 5 == 4 {
            runner.crash_at(points[crashes % points.len()]);
            assert!(runner.step().is_err());
            drop(runner);
            crashes += 1;
            runner = AppRunner::open(&engine, def.clone(), &app_dir, StartFrom::LastStoppedPoint)
                .unwrap();
        } else {
            runner.step().unwrap();
        }
    }
    // Past the last window and the watermark delay: everything closes.
    clock.advance_ms(120_000);
    while !runner.step().unwrap().idle {}
    let out = read_all(&engine, "counts");
    let mut got: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for row in json_rows(&out) {
        let key = (
            row["ticker"].as_str().unwrap().to_string(),
            row["window_start"].as_i64().unwrap(),
        );
        let previous = got.insert(
            key.clone(),
            (row["n"].as_i64().unwrap(), row["total"].as_i64().unwrap()),
        );
        assert!(previous.is_none(), "window {key:?} delivered twice");
    }
    assert_eq!(out.len(), reference.len());
    assert_eq!(got, reference);
    // Identities are unique and name the application.
    let keys: BTreeSet<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys.len(), out.len());
    assert!(keys.iter().all(|k| k.starts_with("tumbling:")));
    assert!(crashes >= 70);
    let state = runner.state();
    assert_eq!(state.counters.records_in, i as u64);
    assert_eq!(state.counters.errors, 0);
}

/// An open window's rows reach the state log about once each (chunks merged like a
/// binary counter), not once per epoch as a whole-state checkpoint would write them,
/// with only the columns the SELECT reads; and a checkpoint of the older single-file form (`checkpoint`) still resumes, the
/// results equal to the reference.
#[test]
fn window_state_is_appended_not_rewritten_and_old_checkpoints_resume() {
    use tidelog_analytics::app::store;
    use tidelog_analytics::arrow::compute::concat_batches;
    use tidelog_analytics::arrow::ipc::reader::StreamReader;
    use tidelog_analytics::arrow::ipc::writer::StreamWriter;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    engine.create_stream("ticks", 1).unwrap();
    engine.create_stream("counts", 1).unwrap();
    let def = AppDefinition::new("appended", TUMBLING, "ticks", ticks_schema()).with_output(
        "DEST",
        "counts",
        OutputFormat::Json,
    );
    let app_dir = dir.path().join("app");
    let mut runner =
        AppRunner::open(&engine, def.clone(), &app_dir, StartFrom::TrimHorizon).unwrap();
    let tickers = ["AMZN", "MSFT", "ACME"];
    let mut reference: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    let mut i = 0i64;
    let mut put_some = |clock: &ManualClock, n: usize| {
        for _ in 0..n {
            let ticker = tickers[(i % 3) as usize];
            let t = clock.now_ms() as i64;
            let e = reference
                .entry((ticker.to_string(), t - t % 60_000))
                .or_insert((0, 0));
            e.0 += 1;
            e.1 += i;
            put(
                &engine,
                "ticks",
                &[(
                    format!("k{i}"),
                    format!(r#"{{"ticker": "{ticker}", "price": {i}, "at": {i}}}"#),
                )],
            );
            i += 1;
        }
    };
    // 64 epochs of 20 records, 500 ms apart: all inside one minute's window
    // (T0 is 20 s into its minute), so the window stays open throughout.
    let epochs = 64;
    for _ in 0..epochs {
        put_some(&clock, 20);
        clock.advance_ms(500);
        assert!(!runner.step().unwrap().idle);
    }
    let state_path = app_dir.join("state");
    let meta: Value =
        serde_json::from_slice(&store::read_checkpoint(&state_path).unwrap().unwrap()).unwrap();
    let chunks = meta["Pumps"][0]["Chunks"].as_array().unwrap().clone();
    let live: u64 = chunks.iter().map(|c| c[1].as_u64().unwrap()).sum();
    let log_len = std::fs::metadata(&state_path).unwrap().len();
    // Rewriting the whole state every epoch would have written about epochs / 2 = 32
    // times the final state; merging writes each row log2(64) = 6 times at most.
    assert!(chunks.len() <= 7, "{} chunks", chunks.len());
    assert!(
        log_len < 12 * live,
        "the state log holds {log_len} bytes for a state of {live}"
    );
    assert!(
        !app_dir.join("intent").exists(),
        "no epoch delivered anything"
    );
    drop(runner);

    // The older form: one file, the state as one IPC blob per pump.
    let bytes = std::fs::read(&state_path).unwrap();
    let mut batches = Vec::new();
    for c in &chunks {
        let (o, l) = (
            c[0].as_u64().unwrap() as usize,
            c[1].as_u64().unwrap() as usize,
        );
        let reader = StreamReader::try_new(std::io::Cursor::new(&bytes[o..o + l]), None).unwrap();
        for b in reader {
            batches.push(b.unwrap());
        }
    }
    let rows = concat_batches(&batches[0].schema(), &batches).unwrap();
    // The window keeps only what its SELECT reads (and ROWTIME): not the event time,
    // the partition key, the shard or the sequence number.
    let kept: Vec<String> = rows
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(kept, ["ROWTIME", "ticker", "price", "__window_start"]);
    assert_eq!(rows.num_rows(), 64 * 20);
    // Older versions kept every source column: give the old form one more.
    let rows = {
        use tidelog_analytics::arrow::array::{ArrayRef, StringArray};
        use tidelog_analytics::arrow::datatypes::{DataType, Field, Schema};
        let mut fields: Vec<Field> = rows
            .schema()
            .fields()
            .iter()
            .map(|f| (**f).clone())
            .collect();
        let mut columns: Vec<ArrayRef> = rows.columns().to_vec();
        fields.insert(3, Field::new("PARTITION_KEY", DataType::Utf8, true));
        columns.insert(3, Arc::new(StringArray::from(vec!["k"; rows.num_rows()])));
        tidelog_analytics::arrow::array::RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )
        .unwrap()
    };
    let mut blob = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut blob, &rows.schema()).unwrap();
        w.write(&rows).unwrap();
        w.finish().unwrap();
    }
    let mut old = meta.clone();
    let pump = &mut old["Pumps"][0];
    pump.as_object_mut().unwrap().remove("Chunks");
    pump["Blob"] = Value::from(blob.len());
    let text = old.to_string();
    let mut body = (text.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(text.as_bytes());
    body.extend_from_slice(&blob);
    std::fs::remove_file(&state_path).unwrap();
    store::write_framed(&app_dir.join("checkpoint"), store::MAGIC_CHECKPOINT, &body).unwrap();

    let mut runner = AppRunner::open(&engine, def, &app_dir, StartFrom::LastStoppedPoint).unwrap();
    assert_eq!(runner.state().epoch, meta["Epoch"].as_u64().unwrap());
    // The next minute too, then past every window.
    for _ in 0..30 {
        put_some(&clock, 7);
        clock.advance_ms(2_000);
        runner.step().unwrap();
    }
    assert!(state_path.exists());
    assert!(
        !app_dir.join("checkpoint").exists(),
        "the log supersedes the old file"
    );
    clock.advance_ms(120_000);
    while !runner.step().unwrap().idle {}
    let mut got: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for row in json_rows(&read_all(&engine, "counts")) {
        let key = (
            row["ticker"].as_str().unwrap().to_string(),
            row["window_start"].as_i64().unwrap(),
        );
        let previous = got.insert(
            key.clone(),
            (row["n"].as_i64().unwrap(), row["total"].as_i64().unwrap()),
        );
        assert!(previous.is_none(), "window {key:?} delivered twice");
    }
    assert!(reference.len() >= 6);
    assert_eq!(got, reference);
}

/// Bad SQL, names and outputs are refused with a clear error (the SQL's with its
/// position).
#[test]
fn bad_applications_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    engine.create_stream("ticks", 1).unwrap();
    let check = |code: &str| {
        let def = AppDefinition::new("a", code, "ticks", ticks_schema());
        AppRunner::open(&engine, def, &dir.path().join("x"), StartFrom::TrimHorizon)
            .unwrap_err()
            .to_string()
    };
    let e = check(
        "CREATE STREAM s (a BIGINT);\nCREATE PUMP p AS INSERT INTO s\nSELEC a FROM SOURCE_SQL_STREAM_001",
    );
    assert!(e.contains("Line: 3") && e.contains("SELECT"), "{e}");
    let e = check(
        "CREATE STREAM s (a BIGINT);\nCREATE PUMP p AS INSERT INTO s SELECT nope FROM SOURCE_SQL_STREAM_001",
    );
    assert!(e.contains("pump \"p\"") && e.contains("nope"), "{e}");
    let e = check(
        "CREATE STREAM s (a BIGINT);\nCREATE PUMP p AS INSERT INTO s SELECT price FROM elsewhere",
    );
    assert!(e.contains("elsewhere"), "{e}");
    let e = check("CREATE PUMP p AS INSERT INTO s SELECT price FROM SOURCE_SQL_STREAM_001");
    assert!(e.contains("no CREATE STREAM"), "{e}");
    let e = check(
        "CREATE STREAM s (a BIGINT, b BIGINT);\nCREATE PUMP p AS INSERT INTO s SELECT price FROM SOURCE_SQL_STREAM_001",
    );
    assert!(e.contains("1 columns") && e.contains("takes 2"), "{e}");
    let e = check("CREATE STREAM s (a BIGINT);");
    assert!(e.contains("no pump"), "{e}");
    let e = check(
        "CREATE STREAM s (a BIGINT); CREATE PUMP p AS INSERT INTO s SELECT COUNT(*) FROM SOURCE_SQL_STREAM_001 GROUP BY STEP(ROWTIME BY INTERVAL '1' FORTNIGHT)",
    );
    assert!(e.contains("FORTNIGHT") && e.contains("Column"), "{e}");
    let def = AppDefinition::new("bad name!", TUMBLING, "ticks", ticks_schema());
    let e = AppRunner::open(&engine, def, &dir.path().join("y"), StartFrom::TrimHorizon)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad name!"), "{e}");
    let def = AppDefinition::new("a", TUMBLING, "ticks", ticks_schema()).with_output(
        "NOPE",
        "ticks",
        OutputFormat::Json,
    );
    let e = AppRunner::open(&engine, def, &dir.path().join("z"), StartFrom::TrimHorizon)
        .unwrap_err()
        .to_string();
    assert!(e.contains("NOPE") && e.contains("DEST"), "{e}");
}

/// A runner over a one-shard input `in` with outputs, on a manual clock.
struct Rig {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    engine: Engine,
    runner: AppRunner,
    /// Milliseconds since T0 of the last put.
    at: u64,
}

fn rig(code: &str, schema: InputSchema, outputs: &[(&str, &str)], lateness_ms: i64) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    engine.create_stream("in", 1).unwrap();
    let mut def = AppDefinition::new("app", code, "in", schema);
    for (from, to) in outputs {
        if engine.describe_stream_summary(to).is_err() {
            engine.create_stream(to, 1).unwrap();
        }
        def = def.with_output(from, to, OutputFormat::Json);
    }
    def.options.allowed_lateness_ms = lateness_ms;
    def.options.watermark_delay_ms = 500;
    let runner = AppRunner::open(
        &engine,
        def,
        &dir.path().join("app"),
        StartFrom::TrimHorizon,
    )
    .unwrap();
    Rig {
        _dir: dir,
        clock,
        engine,
        runner,
        at: 0,
    }
}

impl Rig {
    /// Puts each record at its time (ms after T0, not decreasing), one step per call.
    fn feed(&mut self, records: &[(u64, String)]) {
        for (t, data) in records {
            assert!(*t >= self.at);
            self.clock.advance_ms(t - self.at);
            self.at = *t;
            put(&self.engine, "in", &[("k".to_string(), data.clone())]);
        }
        self.runner.step().unwrap();
    }

    fn finish(&mut self) {
        self.clock.advance_ms(3_600_000);
        while !self.runner.step().unwrap().idle {}
    }

    fn rows(&self, stream: &str) -> Vec<Value> {
        json_rows(&read_all(&self.engine, stream))
    }
}

fn kv_schema() -> InputSchema {
    InputSchema::json(&[
        ("k", "VARCHAR(4)", "$.k"),
        ("v", "BIGINT", "$.v"),
        ("et", "TIMESTAMP", "$.et"),
    ])
    .unwrap()
}

/// (time ms after T0, key, value) for the window tests: irregular gaps, three keys.
fn events(n: u64) -> Vec<(u64, String, i64)> {
    let mut t = 0;
    (0..n)
        .map(|i| {
            t += 1 + (i * 7919 % 4000);
            (
                t,
                ["a", "b", "c"][(i * 5 % 3) as usize].to_string(),
                i as i64,
            )
        })
        .collect()
}

fn feed_events(rig: &mut Rig, ev: &[(u64, String, i64)], per_step: usize) {
    for chunk in ev.chunks(per_step) {
        let records: Vec<(u64, String)> = chunk
            .iter()
            .map(|(t, k, v)| (*t, format!(r#"{{"k": "{k}", "v": {v}, "et": {}}}"#, T0 + t)))
            .collect();
        rig.feed(&records);
    }
    rig.finish();
}

#[test]
fn hopping_windows_match_a_reference() {
    let code = r#"CREATE STREAM "O" (k VARCHAR(4), n BIGINT, total BIGINT, ws BIGINT);
        CREATE PUMP "P" AS INSERT INTO "O"
        SELECT STREAM k, COUNT(*), SUM(v), hop(INTERVAL '10' SECOND, INTERVAL '30' SECOND)
        FROM "SOURCE_SQL_STREAM_001" GROUP BY k, hop(INTERVAL '10' SECOND, INTERVAL '30' SECOND)"#;
    let mut rig = rig(code, kv_schema(), &[("O", "out")], 0);
    let ev = events(400);
    feed_events(&mut rig, &ev, 7);
    let mut reference: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for (t, k, v) in &ev {
        let t = (T0 + t) as i64;
        for s in tidelog_analytics::app::window::hop_starts(t, 10_000, 30_000) {
            let e = reference.entry((k.clone(), s)).or_insert((0, 0));
            e.0 += 1;
            e.1 += v;
        }
    }
    let mut got = BTreeMap::new();
    for r in rig.rows("out") {
        let key = (
            r["k"].as_str().unwrap().to_string(),
            r["ws"].as_i64().unwrap(),
        );
        assert!(
            got.insert(
                key,
                (r["n"].as_i64().unwrap(), r["total"].as_i64().unwrap())
            )
            .is_none()
        );
    }
    assert_eq!(got, reference);
}

#[test]
fn session_and_stagger_windows_match_a_reference() {
    let code = r#"CREATE STREAM "S" (k VARCHAR(4), n BIGINT, total BIGINT, ws BIGINT);
        CREATE STREAM "G" (k VARCHAR(4), n BIGINT, total BIGINT);
        CREATE PUMP "P1" AS INSERT INTO "S"
        SELECT STREAM k, COUNT(*), SUM(v), session(INTERVAL '5' SECOND)
        FROM "SOURCE_SQL_STREAM_001" GROUP BY k, session(INTERVAL '5' SECOND);
        CREATE PUMP "P2" AS INSERT INTO "G"
        SELECT STREAM k, COUNT(*) AS n, SUM(v) AS total FROM "SOURCE_SQL_STREAM_001"
        WINDOWED BY STAGGER (PARTITION BY k RANGE INTERVAL '8' SECOND)"#;
    let mut rig = rig(
        code,
        kv_schema(),
        &[("S", "sessions"), ("G", "staggers")],
        0,
    );
    let ev = events(300);
    feed_events(&mut rig, &ev, 5);
    // Reference: per key, in time order.
    let mut sessions: BTreeSet<(String, i64, i64, i64)> = BTreeSet::new();
    let mut staggers: BTreeSet<(String, i64, i64)> = BTreeSet::new();
    for key in ["a", "b", "c"] {
        let rows: Vec<(i64, i64)> = ev
            .iter()
            .filter(|e| e.1 == key)
            .map(|e| ((T0 + e.0) as i64, e.2))
            .collect();
        let mut current: Option<(i64, i64, i64, i64)> = None; // start, last, n, total
        for &(t, v) in &rows {
            match &mut current {
                Some((_, last, n, total)) if t < *last + 5000 => {
                    *last = t;
                    *n += 1;
                    *total += v;
                }
                _ => {
                    if let Some((s, _, n, total)) = current.take() {
                        sessions.insert((key.to_string(), n, total, s));
                    }
                    current = Some((t, t, 1, v));
                }
            }
        }
        let (s, _, n, total) = current.unwrap();
        sessions.insert((key.to_string(), n, total, s));
        let mut current: Option<(i64, i64, i64)> = None; // start, n, total
        for &(t, v) in &rows {
            match &mut current {
                Some((start, n, total)) if t < *start + 8000 => {
                    *n += 1;
                    *total += v;
                }
                _ => {
                    if let Some((_, n, total)) = current.take() {
                        staggers.insert((key.to_string(), n, total));
                    }
                    current = Some((t, 1, v));
                }
            }
        }
        let (_, n, total) = current.unwrap();
        staggers.insert((key.to_string(), n, total));
    }
    let got: Vec<(String, i64, i64, i64)> = rig
        .rows("sessions")
        .iter()
        .map(|r| {
            (
                r["k"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
                r["total"].as_i64().unwrap(),
                r["ws"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), sessions.len());
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), sessions);
    let got: Vec<(String, i64, i64)> = rig
        .rows("staggers")
        .iter()
        .map(|r| {
            (
                r["k"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
                r["total"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), staggers.len());
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), staggers);
}

#[test]
fn sliding_windows_by_range_and_rows_match_a_reference() {
    let code = r#"CREATE STREAM "R" (k VARCHAR(4), v BIGINT, s BIGINT, c BIGINT);
        CREATE STREAM "W" (k VARCHAR(4), v BIGINT, s BIGINT);
        CREATE PUMP "P1" AS INSERT INTO "R"
        SELECT STREAM k, v, SUM(v) OVER W1, COUNT(*) OVER W1 FROM "SOURCE_SQL_STREAM_001"
        WINDOW W1 AS (PARTITION BY k RANGE INTERVAL '10' SECOND PRECEDING);
        CREATE PUMP "P2" AS INSERT INTO "W"
        SELECT STREAM k, v, SUM(v) OVER (PARTITION BY k ROWS 2 PRECEDING) FROM "SOURCE_SQL_STREAM_001""#;
    let mut rig = rig(code, kv_schema(), &[("R", "range"), ("W", "rows")], 0);
    let ev = events(300);
    feed_events(&mut rig, &ev, 6);
    let mut by_range = BTreeMap::new();
    let mut by_rows = BTreeMap::new();
    for (i, (t, k, v)) in ev.iter().enumerate() {
        let same: Vec<&(u64, String, i64)> = ev[..=i].iter().filter(|e| &e.1 == k).collect();
        let in_range: Vec<i64> = same
            .iter()
            .filter(|e| e.0 + 10_000 >= *t)
            .map(|e| e.2)
            .collect();
        by_range.insert(*v, (in_range.iter().sum::<i64>(), in_range.len() as i64));
        by_rows.insert(*v, same.iter().rev().take(3).map(|e| e.2).sum::<i64>());
    }
    let got: BTreeMap<i64, (i64, i64)> = rig
        .rows("range")
        .iter()
        .map(|r| {
            (
                r["v"].as_i64().unwrap(),
                (r["s"].as_i64().unwrap(), r["c"].as_i64().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, by_range);
    assert_eq!(rig.rows("range").len(), ev.len());
    let got: BTreeMap<i64, i64> = rig
        .rows("rows")
        .iter()
        .map(|r| (r["v"].as_i64().unwrap(), r["s"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, by_rows);
}

/// Event-time tumbling windows with an allowed lateness: rows within it count, rows
/// beyond it go to error_stream with the reason; the reference applies the same rule
/// (the watermark is the largest event time seen before the epoch minus the lateness).
#[test]
fn event_time_lateness_and_the_error_stream() {
    let code = r#"CREATE STREAM "O" (k VARCHAR(4), n BIGINT, ws BIGINT);
        CREATE PUMP "P" AS INSERT INTO "O"
        SELECT STREAM k, COUNT(*), tumble(et, INTERVAL '10' SECOND) FROM "SOURCE_SQL_STREAM_001"
        GROUP BY k, tumble(et, INTERVAL '10' SECOND)"#;
    let mut rig = rig(
        code,
        kv_schema(),
        &[("O", "out"), ("error_stream", "errors")],
        5000,
    );
    let mut reference: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut late = 0;
    let mut max_event = i64::MIN;
    let mut t = 0u64;
    for step in 0..60i64 {
        let mut records = Vec::new();
        let watermark = max_event.saturating_sub(5000);
        let mut batch_max = max_event;
        for j in 0..5i64 {
            t += 300;
            // Event times jitter behind arrival; every 7th row is far behind.
            let behind = if (step * 5 + j) % 7 == 0 {
                20_000
            } else {
                (step * 13 + j * 977) % 4000
            };
            let et = (T0 + t) as i64 + 10_000 - behind;
            let k = ["a", "b"][(j % 2) as usize];
            let start = et - et.rem_euclid(10_000);
            if start + 10_000 <= watermark {
                late += 1;
            } else {
                *reference.entry((k.to_string(), start)).or_insert(0) += 1;
                batch_max = batch_max.max(et);
            }
            records.push((t, format!(r#"{{"k": "{k}", "v": 1, "et": {et}}}"#)));
        }
        max_event = batch_max;
        rig.feed(&records);
    }
    // The last windows close only when event time passes them: feed a far-future row.
    let far = (T0 + t) as i64 + 1_000_000;
    rig.feed(&[(t + 1, format!(r#"{{"k": "z", "v": 1, "et": {far}}}"#))]);
    rig.finish();
    let got: BTreeMap<(String, i64), i64> = rig
        .rows("out")
        .iter()
        .map(|r| {
            (
                (
                    r["k"].as_str().unwrap().to_string(),
                    r["ws"].as_i64().unwrap(),
                ),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, reference);
    let errors = rig.rows("errors");
    assert!(late > 5);
    assert_eq!(errors.len(), late);
    for e in &errors {
        assert_eq!(e["ERROR_NAME"], "Late_Row");
        assert!(e["MESSAGE"].as_str().unwrap().contains("watermark"), "{e}");
        assert!(e["DATA_ROW"].as_str().unwrap().contains("\"k\""), "{e}");
        assert!(e["SEQUENCE_NUMBER"].as_str().is_some());
    }
    // A record that is not JSON is an error row too, with the reason.
    rig.feed(&[(t + 2, "not json".to_string())]);
    let errors = rig.rows("errors");
    assert_eq!(errors.len(), late + 1);
    assert_eq!(errors.last().unwrap()["ERROR_NAME"], "Parse_Error");
}

/// The management API on threads: create (with clear errors), start, describe, stop,
/// restart from the last stopped point, survive a reopen of the engine, delete; a
/// second application reads the first one's output stream (chained).
#[test]
fn manage_chain_and_survive_restarts() {
    use std::time::Duration;
    use tidelog_analytics::{AppStatus, Applications, Error};
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    engine.create_stream("ticks", 2).unwrap();
    engine.create_stream("counts", 1).unwrap();
    engine.create_stream("big", 1).unwrap();
    let apps = Applications::open(&engine).unwrap();
    let mut def = AppDefinition::new("counter", TUMBLING, "ticks", ticks_schema()).with_output(
        "DEST",
        "counts",
        OutputFormat::Json,
    );
    def.options.watermark_delay_ms = 100;
    // Errors: a missing stream, bad SQL, a taken name.
    let mut bad = def.clone();
    bad.input_stream = "nope".into();
    assert!(matches!(apps.create(bad).unwrap_err(), Error::NotFound(_)));
    let mut bad = def.clone();
    bad.code = "CREATE STREAM s (a BIGINT); CREATE PUMP p AS INSERT INTO s SELECT FROM".into();
    assert!(matches!(apps.create(bad).unwrap_err(), Error::Sql(_)));
    apps.create(def.clone()).unwrap();
    assert!(matches!(
        apps.create(def.clone()).unwrap_err(),
        Error::Exists(_)
    ));
    assert!(matches!(
        apps.start("missing", StartFrom::TrimHorizon).unwrap_err(),
        Error::NotFound(_)
    ));
    // The chained application: windows of more than 5 records, as CSV.
    let chained_schema = InputSchema::json(&[
        ("ticker", "VARCHAR(8)", "$.ticker"),
        ("n", "BIGINT", "$.n"),
        ("window_start", "BIGINT", "$.window_start"),
    ])
    .unwrap();
    let mut chained = AppDefinition::new(
        "big-windows",
        r#"CREATE STREAM "BIG" (ticker VARCHAR(8), n BIGINT, window_start BIGINT);
           CREATE PUMP "F" AS INSERT INTO "BIG" SELECT STREAM ticker, n, window_start
           FROM "SOURCE_SQL_STREAM_001" WHERE n > 5"#,
        "counts",
        chained_schema,
    )
    .with_output("BIG", "big", OutputFormat::Csv);
    chained.options.watermark_delay_ms = 100;
    apps.create(chained).unwrap();
    assert_eq!(
        apps.list(),
        vec![
            ("big-windows".to_string(), AppStatus::Ready),
            ("counter".to_string(), AppStatus::Ready)
        ]
    );
    apps.start("counter", StartFrom::TrimHorizon).unwrap();
    apps.start("big-windows", StartFrom::TrimHorizon).unwrap();
    assert!(matches!(
        apps.start("counter", StartFrom::TrimHorizon).unwrap_err(),
        Error::State(_)
    ));
    let mut reference: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut i = 0;
    let mut put_minutes =
        |engine: &Engine, minutes: i64, reference: &mut BTreeMap<(String, i64), i64>| {
            for _ in 0..minutes * 20 {
                let ticker = ["A", "B", "C"][(i * i % 3) as usize];
                let t = clock.now_ms() as i64;
                *reference
                    .entry((ticker.to_string(), t - t % 60_000))
                    .or_insert(0) += 1;
                put(
                    engine,
                    "ticks",
                    &[(
                        format!("{i}"),
                        format!(r#"{{"ticker": "{ticker}", "price": 1, "at": 0}}"#),
                    )],
                );
                clock.advance_ms(3000);
                i += 1;
            }
        };
    put_minutes(&engine, 10, &mut reference);
    clock.advance_ms(61_000);
    apps.wait_idle("counter", Duration::from_secs(60)).unwrap();
    apps.wait_idle("big-windows", Duration::from_secs(60))
        .unwrap();
    let d = apps.describe("counter").unwrap();
    assert_eq!(d.status, AppStatus::Running);
    assert_eq!(d.counters.records_in, 200);
    assert_eq!(d.input_positions.len(), 2);
    assert!(d.watermark_ms.is_some() && d.lag_ms <= 100, "{d:?}");
    // Stop; records put meanwhile are read after the restart from the stopped point.
    apps.stop("counter").unwrap();
    assert_eq!(apps.describe("counter").unwrap().status, AppStatus::Ready);
    put_minutes(&engine, 5, &mut reference);
    apps.start("counter", StartFrom::LastStoppedPoint).unwrap();
    put_minutes(&engine, 5, &mut reference);
    // The engine and the applications close; the running ones resume on reopen.
    apps.close();
    drop(apps);
    engine.close().unwrap();
    drop(engine);
    let engine = open(dir.path(), &clock);
    let apps = Applications::open(&engine).unwrap();
    assert_eq!(apps.describe("counter").unwrap().status, AppStatus::Running);
    clock.advance_ms(61_000);
    apps.wait_idle("counter", Duration::from_secs(60)).unwrap();
    apps.wait_idle("big-windows", Duration::from_secs(60))
        .unwrap();
    let got: BTreeMap<(String, i64), i64> = json_rows(&read_all(&engine, "counts"))
        .iter()
        .map(|r| {
            (
                (
                    r["ticker"].as_str().unwrap().to_string(),
                    r["window_start"].as_i64().unwrap(),
                ),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(read_all(&engine, "counts").len(), reference.len());
    assert_eq!(got, reference);
    let mut big: Vec<String> = read_all(&engine, "big")
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    big.sort();
    let mut expected: Vec<String> = reference
        .iter()
        .filter(|(_, n)| **n > 5)
        .map(|((t, w), n)| format!("{t},{n},{w}"))
        .collect();
    expected.sort();
    assert!(!expected.is_empty());
    assert_eq!(big, expected);
    apps.delete("counter").unwrap();
    assert!(matches!(
        apps.describe("counter").unwrap_err(),
        Error::NotFound(_)
    ));
    assert!(!dir.path().join("analytics/applications/counter").exists());
    apps.close();
}

/// A reference table (JSON lines) joined to the stream, reloaded mid-run; and a reshard
/// of the input mid-query loses and repeats nothing.
#[test]
fn reference_data_and_a_reshard_mid_query() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("companies.json");
    std::fs::write(
        &file,
        "{\"ticker\": \"A\", \"company\": \"Acme\"}\n{\"ticker\": \"B\", \"company\": \"Bolt\"}\n",
    )
    .unwrap();
    let companies = InputSchema::json(&[
        ("ticker", "VARCHAR(8)", "$.ticker"),
        ("company", "VARCHAR(16)", "$.company"),
    ])
    .unwrap();
    let code = r#"CREATE STREAM "J" (ticker VARCHAR(8), company VARCHAR(16), price BIGINT);
        CREATE STREAM "T" (n BIGINT, total BIGINT);
        CREATE PUMP "P1" AS INSERT INTO "J"
        SELECT STREAM s.ticker, r.company, s.price FROM "SOURCE_SQL_STREAM_001" AS s
        JOIN "COMPANIES" AS r ON s.ticker = r.ticker;
        CREATE PUMP "P2" AS INSERT INTO "T"
        SELECT STREAM COUNT(*), SUM(price) FROM "SOURCE_SQL_STREAM_001"
        GROUP BY FLOOR("SOURCE_SQL_STREAM_001".ROWTIME TO HOUR)"#;
    let clock = ManualClock::new(T0 - T0 % 3_600_000);
    let engine = open(dir.path(), &clock);
    engine.create_stream("ticks", 1).unwrap();
    engine.create_stream("joined", 1).unwrap();
    engine.create_stream("totals", 1).unwrap();
    let def = AppDefinition::new("ref", code, "ticks", ticks_schema())
        .with_reference("COMPANIES", file.to_str().unwrap(), companies)
        .with_output("J", "joined", OutputFormat::Json)
        .with_output("T", "totals", OutputFormat::Json);
    let mut runner = AppRunner::open(
        &engine,
        def,
        &dir.path().join("app"),
        StartFrom::TrimHorizon,
    )
    .unwrap();
    let mut total = 0i64;
    let mut n = 0i64;
    for i in 0..300i64 {
        if i == 100 {
            std::fs::write(&file, "{\"ticker\": \"A\", \"company\": \"Acme 2\"}\n{\"ticker\": \"C\", \"company\": \"Cobalt\"}\n").unwrap();
            runner.reload_reference("COMPANIES").unwrap();
        }
        if i == 150 {
            engine
                .split_shard(
                    "ticks",
                    "shardId-000000000000",
                    "170141183460469231731687303715884105728",
                )
                .unwrap();
        }
        let ticker = ["A", "B", "C"][(i % 3) as usize];
        put(
            &engine,
            "ticks",
            &[(
                format!("p{i}"),
                format!(r#"{{"ticker": "{ticker}", "price": {i}, "at": 0}}"#),
            )],
        );
        total += i;
        n += 1;
        clock.advance_ms(1000);
        if i % 10 == 9 {
            runner.step().unwrap();
        }
    }
    clock.advance_ms(3_600_000);
    while !runner.step().unwrap().idle {}
    let joined = json_rows(&read_all(&engine, "joined"));
    let mut expected = BTreeMap::new();
    for i in 0..300i64 {
        let company = match (i % 3, i < 100) {
            (0, true) => Some("Acme"),
            (1, true) => Some("Bolt"),
            (0, false) => Some("Acme 2"),
            (2, false) => Some("Cobalt"),
            _ => None,
        };
        if let Some(c) = company {
            expected.insert(i, c.to_string());
        }
    }
    let got: BTreeMap<i64, String> = joined
        .iter()
        .map(|r| {
            (
                r["price"].as_i64().unwrap(),
                r["company"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(joined.len(), expected.len());
    assert_eq!(got, expected);
    // The hourly totals cover every record once, across the reshard.
    let totals = json_rows(&read_all(&engine, "totals"));
    let sum_n: i64 = totals.iter().map(|r| r["n"].as_i64().unwrap()).sum();
    let sum_total: i64 = totals.iter().map(|r| r["total"].as_i64().unwrap()).sum();
    assert_eq!((sum_n, sum_total), (n, total));
    assert_eq!(runner.state().positions.len(), 3);
    // A reference file that does not parse is refused with its line.
    std::fs::write(&file, "{\"ticker\": \"A\"}\nnot json\n").unwrap();
    let e = runner
        .reload_reference("COMPANIES")
        .unwrap_err()
        .to_string();
    assert!(e.contains("record 2"), "{e}");
}

/// Callbacks and their threads: a callback that stops or deletes its own application
/// gets an error instead of waiting for itself; callbacks are added and cleared only
/// while the application is stopped, and clearing drops them.
#[test]
fn callbacks_cannot_stop_their_own_application() {
    use std::sync::Mutex;
    use std::time::Duration;
    use tidelog_analytics::app::Callback;
    use tidelog_analytics::{Applications, Error};
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    engine.create_stream("ticks", 1).unwrap();
    let apps = Applications::open(&engine).unwrap();
    let mut def = AppDefinition::new(
        "echo",
        r#"CREATE STREAM "E" (ticker VARCHAR(8), price BIGINT);
           CREATE PUMP "P" AS INSERT INTO "E" SELECT STREAM ticker, price FROM "SOURCE_SQL_STREAM_001""#,
        "ticks",
        ticks_schema(),
    );
    def.options.watermark_delay_ms = 10;
    apps.create(def).unwrap();
    // The callback holds the manager (taken back at the end: no cycle is left).
    let handle: Arc<Mutex<Option<Applications>>> = Arc::new(Mutex::new(Some(apps.clone())));
    let answers: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let rows = Arc::new(Mutex::new(0usize));
    let f: Callback = {
        let (handle, answers, rows) = (handle.clone(), answers.clone(), rows.clone());
        Arc::new(
            move |_stream: &str,
                  _epoch: u64,
                  batch: &tidelog_analytics::arrow::array::RecordBatch| {
                *rows.lock().unwrap() += batch.num_rows();
                if let Some(apps) = handle.lock().unwrap().as_ref() {
                    let mut a = answers.lock().unwrap();
                    a.push(apps.stop("echo").unwrap_err().to_string());
                    a.push(apps.delete("echo").unwrap_err().to_string());
                    a.push(format!("{:?}", apps.describe("echo").map(|d| d.status)));
                }
            },
        )
    };
    let marker = Arc::clone(&f);
    apps.add_callback("echo", "E", f).unwrap();
    assert!(matches!(
        apps.add_callback("echo", "NOPE", Arc::clone(&marker))
            .unwrap_err(),
        Error::NotFound(_)
    ));
    apps.start("echo", StartFrom::TrimHorizon).unwrap();
    assert!(matches!(
        apps.clear_callbacks("echo").unwrap_err(),
        Error::State(_)
    ));
    put(
        &engine,
        "ticks",
        &[("k".into(), r#"{"ticker": "A", "price": 3}"#.into())],
    );
    apps.wait_idle("echo", Duration::from_secs(60)).unwrap();
    assert_eq!(*rows.lock().unwrap(), 1);
    let answers = answers.lock().unwrap().clone();
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(answers[0].contains("its own thread"), "{answers:?}");
    assert!(answers[1].contains("its own thread"), "{answers:?}");
    assert_eq!(answers[2], "Ok(Running)");
    handle.lock().unwrap().take();
    apps.stop("echo").unwrap();
    // The manager holds the callback until it is cleared.
    assert_eq!(Arc::strong_count(&marker), 2);
    apps.clear_callbacks("echo").unwrap();
    assert_eq!(Arc::strong_count(&marker), 1);
    assert!(matches!(
        apps.clear_callbacks("nope").unwrap_err(),
        Error::NotFound(_)
    ));
    apps.delete("echo").unwrap();
}
