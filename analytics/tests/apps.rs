//! Continuous applications: every result checked against a reference computed here
//! independently (plain Rust over the records the test put), on the engine's manual
//! clock (an hour of one-minute windows without sleeping), with crashes injected at
//! every point of an epoch.

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
