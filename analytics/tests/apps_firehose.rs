//! Outputs into Firehose delivery streams: an application's in-application streams
//! delivered (JSON lines and CSV) through a DirectPut delivery stream into its
//! destination directory, checked against a reference computed here over the same
//! input, with the runner "crashing" at every point of an epoch (mid-delivery into the
//! delivery stream included) and reopened from its files: every row lands once. Also
//! what `create` refuses (no Firehose, a missing or Kinesis-sourced delivery stream).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tidelog::{Clock, Durability, Engine, EngineConfig, ManualClock, PutRecordsEntry};
use tidelog_analytics::app::{AppDefinition, AppRunner, CrashPoint, OutputFormat, StartFrom};
use tidelog_analytics::{Applications, Error, InputSchema};
use tidelog_firehose::{Firehose, FirehoseConfig, IngestLimits, api};

const T0: u64 = 1_700_000_000_000;
const ROLE: &str = "arn:aws:iam::123456789012:role/firehose";

const CODE: &str = r#"
CREATE OR REPLACE STREAM "DEST" (ticker VARCHAR(8), n BIGINT, total BIGINT, window_start BIGINT);
CREATE OR REPLACE STREAM "SEVENS" (v BIGINT, ticker VARCHAR(8));
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
  SELECT STREAM ticker, COUNT(*), SUM(v),
         STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE)
  FROM "SOURCE_SQL_STREAM_001"
  GROUP BY ticker, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE);
CREATE OR REPLACE PUMP "S" AS INSERT INTO "SEVENS"
  SELECT STREAM v, ticker FROM "SOURCE_SQL_STREAM_001" WHERE v % 7 = 0;
"#;

fn open(dir: &Path, clock: &Arc<ManualClock>) -> (Engine, Firehose) {
    let mut config = EngineConfig::new(dir);
    config.cores = Some(1);
    config.pin_cores = false;
    config.limits = tidelog::Limits::unlimited();
    config.durability = Durability::Os;
    config.clock = clock.clone();
    let engine = Engine::open(config).expect("open engine");
    let mut fc = FirehoseConfig::new();
    fc.ingest_limits = IngestLimits::unlimited();
    fc.tick = Duration::from_millis(5);
    let firehose = Firehose::open(&engine, fc).expect("open firehose");
    (engine, firehose)
}

fn create_delivery_stream(firehose: &Firehose, name: &str, prefix: &str) {
    api::call(
        firehose,
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": name, "ExtendedS3DestinationConfiguration": {
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bkt", "Prefix": prefix,
            "ErrorOutputPrefix": "errors/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900}}}),
    )
    .unwrap_or_else(|e| panic!("CreateDeliveryStream {name}: {e}"));
}

fn schema() -> InputSchema {
    InputSchema::json(&[("ticker", "VARCHAR(8)", "$.ticker"), ("v", "BIGINT", "$.v")]).unwrap()
}

fn definition() -> AppDefinition {
    let mut def = AppDefinition::new("to-firehose", CODE, "ticks", schema())
        .with_delivery_stream_output("DEST", "windows-ds", OutputFormat::Json)
        .with_delivery_stream_output("SEVENS", "sevens-ds", OutputFormat::Csv);
    def.options.max_records_per_shard = 25;
    def
}

/// Every line of every object delivered under `prefix` of bucket `bkt`.
fn delivered_lines(firehose: &Firehose, prefix: &str) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if !p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tidelog-tmp")
            {
                out.push(p);
            }
        }
    }
    let root = firehose.bucket_directory("bkt").unwrap();
    let mut files = Vec::new();
    walk(&root.join(prefix), &mut files);
    files.sort();
    let mut lines = Vec::new();
    for f in files {
        let text = String::from_utf8(std::fs::read(&f).unwrap()).unwrap();
        assert!(
            text.ends_with('\n'),
            "{}: every record ends with a newline",
            f.display()
        );
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

fn put(engine: &Engine, records: &[(String, String)]) {
    let entries: Vec<PutRecordsEntry<'_>> = records
        .iter()
        .map(|(k, d)| PutRecordsEntry {
            partition_key: k,
            data: d.as_bytes(),
            explicit_hash_key: None,
        })
        .collect();
    assert_eq!(
        engine
            .put_records("ticks", &entries, None)
            .unwrap()
            .failed_record_count,
        0
    );
}

type Windows = BTreeMap<(String, i64), (i64, i64)>;

/// Checks the delivered rows against the references: each row exactly once.
fn check_delivered(firehose: &Firehose, windows: &Windows, sevens: &BTreeMap<i64, String>) {
    for ds in ["windows-ds", "sevens-ds"] {
        firehose.flush(ds, Duration::from_secs(60)).unwrap();
    }
    let mut got: Windows = BTreeMap::new();
    for line in delivered_lines(firehose, "windows/") {
        let row: Value = serde_json::from_str(&line).unwrap();
        let key = (
            row["ticker"].as_str().unwrap().to_string(),
            row["window_start"].as_i64().unwrap(),
        );
        let value = (row["n"].as_i64().unwrap(), row["total"].as_i64().unwrap());
        assert!(
            got.insert(key.clone(), value).is_none(),
            "window {key:?} delivered twice"
        );
    }
    assert_eq!(&got, windows);
    let mut got: BTreeMap<i64, String> = BTreeMap::new();
    for line in delivered_lines(firehose, "sevens/") {
        let (v, ticker) = line.split_once(',').unwrap();
        let v: i64 = v.parse().unwrap();
        assert!(
            got.insert(v, ticker.to_string()).is_none(),
            "row {v} delivered twice"
        );
    }
    assert_eq!(&got, sevens);
    assert!(delivered_lines(firehose, "errors/").is_empty());
}

/// Thirty minutes of one-minute windows and a filter, delivered into two delivery
/// streams; the runner fails at every point of an epoch in turn (after the intent,
/// after 1, 7 or 30 records were put, before the checkpoint) and is reopened from its
/// files, which computes the interrupted epoch again and puts only the records whose
/// identities the delivery stream's buffer does not hold yet.
#[test]
fn delivery_stream_outputs_exactly_once_across_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let (engine, firehose) = open(dir.path(), &clock);
    engine.create_stream("ticks", 2).unwrap();
    create_delivery_stream(&firehose, "windows-ds", "windows/");
    create_delivery_stream(&firehose, "sevens-ds", "sevens/");
    let def = definition();
    let app_dir = dir.path().join("app");
    let reopen = |from| {
        AppRunner::open_with_firehose(
            &engine,
            Some(firehose.clone()),
            def.clone(),
            &app_dir,
            from,
            Vec::new(),
        )
        .unwrap()
    };
    let mut runner = reopen(StartFrom::TrimHorizon);
    let tickers = ["AMZN", "MSFT", "ACME", "TDLG"];
    let mut windows: Windows = BTreeMap::new();
    let mut sevens: BTreeMap<i64, String> = BTreeMap::new();
    let points = [
        CrashPoint::AfterIntent,
        CrashPoint::MidDelivery(1),
        CrashPoint::MidDelivery(7),
        CrashPoint::MidDelivery(30),
        CrashPoint::BeforeCheckpoint,
    ];
    let mut crashes = 0;
    let mut v = 0i64;
    for minute in 0..30u64 {
        // 60 records a minute, one a second, each with its arrival time as ROWTIME.
        for second in 0..60u64 {
            let now = clock.now_ms() as i64;
            let ticker = tickers[(v as usize * 5 + minute as usize) % 4];
            let e = windows
                .entry((ticker.to_string(), now - now.rem_euclid(60_000)))
                .or_insert((0, 0));
            e.0 += 1;
            e.1 += v;
            if v % 7 == 0 {
                sevens.insert(v, ticker.to_string());
            }
            put(
                &engine,
                &[(
                    format!("p{second}"),
                    format!(r#"{{"ticker": "{ticker}", "v": {v}}}"#),
                )],
            );
            v += 1;
            clock.advance_ms(1000);
        }
        if minute % 2 == 1 {
            runner.crash_at(points[crashes % points.len()]);
            assert!(runner.step().is_err(), "the injected crash");
            crashes += 1;
            drop(runner);
            runner = reopen(StartFrom::LastStoppedPoint);
        }
        while !runner.step().unwrap().idle {}
    }
    // Past the last window's end and the watermark delay: every window closes.
    clock.advance_ms(120_000);
    while !runner.step().unwrap().idle {}
    assert_eq!(crashes, 15);
    assert_eq!(runner.state().counters.errors, 0);
    check_delivered(&firehose, &windows, &sevens);
    // Delivered into the buffer once each: the delivery streams counted every record
    // once, although interrupted epochs were computed and put again.
    let rows = (windows.len() + sevens.len()) as u64;
    let incoming: u64 = ["windows-ds", "sevens-ds"]
        .iter()
        .map(|d| firehose.metrics(d).unwrap().incoming_records)
        .sum();
    assert_eq!(incoming, rows);
}

/// `create` checks delivery-stream outputs: a Firehose is needed, the delivery stream
/// must exist and take DirectPut; a running application managed by `Applications`
/// delivers, and its definition (JSON form) names the delivery streams.
#[test]
fn applications_with_a_firehose() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let (engine, firehose) = open(dir.path(), &clock);
    engine.create_stream("ticks", 1).unwrap();

    let without = Applications::open(&engine).unwrap();
    let e = without.create(definition()).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    assert!(e.to_string().contains("open_with_firehose"), "{e}");
    without.close();
    drop(without);

    let apps = Applications::open_with_firehose(&engine, &firehose).unwrap();
    let e = apps.create(definition()).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    assert!(e.to_string().contains("windows-ds"), "{e}");
    api::call(
        &firehose,
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": "windows-ds", "DeliveryStreamType": "KinesisStreamAsSource",
               "KinesisStreamSourceConfiguration": {"KinesisStreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/ticks", "RoleARN": ROLE},
               "ExtendedS3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::other"}}),
    )
    .unwrap();
    create_delivery_stream(&firehose, "sevens-ds", "sevens/");
    let e = apps.create(definition()).unwrap_err();
    assert!(e.to_string().contains("DirectPut"), "{e}");
    firehose.delete_delivery_stream("windows-ds", true).unwrap();
    create_delivery_stream(&firehose, "windows-ds", "windows/");
    apps.create(definition()).unwrap();
    let d = apps.describe("to-firehose").unwrap().to_json();
    let d: Value = serde_json::from_str(&d).unwrap();
    assert_eq!(
        d["Definition"]["Outputs"][0],
        json!({"InAppStream": "DEST", "DeliveryStream": "windows-ds", "Format": "JSON"})
    );

    let mut windows: Windows = BTreeMap::new();
    let mut sevens: BTreeMap<i64, String> = BTreeMap::new();
    for v in 0..200i64 {
        let now = clock.now_ms() as i64;
        let ticker = ["a", "b", "c"][(v % 3) as usize];
        let e = windows
            .entry((ticker.to_string(), now - now.rem_euclid(60_000)))
            .or_insert((0, 0));
        e.0 += 1;
        e.1 += v;
        if v % 7 == 0 {
            sevens.insert(v, ticker.to_string());
        }
        put(
            &engine,
            &[("k".into(), format!(r#"{{"ticker": "{ticker}", "v": {v}}}"#))],
        );
        clock.advance_ms(1500);
    }
    apps.start("to-firehose", StartFrom::TrimHorizon).unwrap();
    clock.advance_ms(120_000);
    apps.wait_idle("to-firehose", Duration::from_secs(60))
        .unwrap();
    apps.stop("to-firehose").unwrap();
    check_delivered(&firehose, &windows, &sevens);
    apps.close();
}

/// A delivery stream as the input: records put with PutRecordBatch are read from its
/// durable buffer (while it also delivers them), from TRIM_HORIZON or from NOW, and
/// counted in one-minute windows into a tidelog stream, equal to a reference.
#[test]
fn delivery_stream_as_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let (engine, firehose) = open(dir.path(), &clock);
    engine.create_stream("counts", 1).unwrap();
    engine.create_stream("later", 1).unwrap();
    create_delivery_stream(&firehose, "orders-ds", "orders/");
    let code = r#"
        CREATE OR REPLACE STREAM "C" (ticker VARCHAR(8), n BIGINT, total BIGINT, window_start BIGINT);
        CREATE OR REPLACE PUMP "P" AS INSERT INTO "C"
          SELECT STREAM ticker, COUNT(*), SUM(v),
                 STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE)
          FROM "SOURCE_SQL_STREAM_001"
          GROUP BY ticker, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE);"#;
    let app = |name: &str, out: &str| {
        AppDefinition::new(name, code, "orders-ds", schema())
            .reading_delivery_stream()
            .with_output("C", out, OutputFormat::Json)
    };
    // Without a Firehose, and for a missing delivery stream: refused.
    let without = Applications::open(&engine).unwrap();
    let e = without.create(app("all", "counts")).unwrap_err();
    assert!(e.to_string().contains("orders-ds"), "{e}");
    without.close();
    drop(without);
    let apps = Applications::open_with_firehose(&engine, &firehose).unwrap();
    let e = apps
        .create(
            AppDefinition::new("x", code, "nope-ds", schema())
                .reading_delivery_stream()
                .with_output("C", "counts", OutputFormat::Json),
        )
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    apps.create(app("all", "counts")).unwrap();
    apps.create(app("later", "later")).unwrap();
    let d: Value = serde_json::from_str(&apps.describe("all").unwrap().to_json()).unwrap();
    assert_eq!(d["Definition"]["Input"]["DeliveryStream"], "orders-ds");

    let mut all: Windows = BTreeMap::new();
    let mut later: Windows = BTreeMap::new();
    let put_minutes = |from: i64, to: i64, refs: &mut [&mut Windows]| {
        for v in from..to {
            let now = clock.now_ms() as i64;
            let ticker = ["a", "b", "c"][(v % 3) as usize];
            for r in refs.iter_mut() {
                let e = r
                    .entry((ticker.to_string(), now - now.rem_euclid(60_000)))
                    .or_insert((0, 0));
                e.0 += 1;
                e.1 += v;
            }
            let data = format!(r#"{{"ticker": "{ticker}", "v": {v}}}"#);
            let out = firehose
                .put_record_batch("orders-ds", &[data.as_bytes()])
                .unwrap();
            assert_eq!(out.failed_put_count, 0);
            clock.advance_ms(1000);
        }
    };
    put_minutes(0, 150, &mut [&mut all]);
    // Delivered meanwhile: reading the buffer does not depend on delivery.
    firehose
        .flush("orders-ds", Duration::from_secs(60))
        .unwrap();
    apps.start("all", StartFrom::TrimHorizon).unwrap();
    apps.start("later", StartFrom::Latest).unwrap();
    apps.wait_idle("later", Duration::from_secs(60)).unwrap();
    put_minutes(150, 400, &mut [&mut all, &mut later]);
    clock.advance_ms(120_000);
    apps.wait_idle("all", Duration::from_secs(60)).unwrap();
    apps.wait_idle("later", Duration::from_secs(60)).unwrap();
    let d = apps.describe("all").unwrap();
    assert_eq!(d.counters.records_in, 400);
    assert_eq!(d.input_positions.len(), 1);
    apps.close();
    for (stream, reference) in [("counts", &all), ("later", &later)] {
        let mut got: Windows = BTreeMap::new();
        let shard = "shardId-000000000000";
        let mut next = 0u128;
        loop {
            let batch = engine
                .scan_shard(stream, shard, next, 10_000, 8 << 20)
                .unwrap();
            if batch.is_empty() {
                break;
            }
            for r in batch.iter() {
                next = r.seq + 1;
                let row: Value = serde_json::from_slice(r.data).unwrap();
                let key = (
                    row["ticker"].as_str().unwrap().to_string(),
                    row["window_start"].as_i64().unwrap(),
                );
                let value = (row["n"].as_i64().unwrap(), row["total"].as_i64().unwrap());
                assert!(got.insert(key, value).is_none());
            }
        }
        assert_eq!(&got, reference, "{stream}");
    }
}
