//! The crash harness for continuous applications: a child process runs an application
//! (an event-time tumbling window and a filter, delivered into streams, the filter
//! also into a Firehose delivery stream whose objects land in a directory) and is
//! killed with SIGKILL at random instants, mid-window and mid-emit, again and again;
//! each restart resumes from the application's files. At the end the output streams
//! must equal a reference computed offline over the same input: nothing lost, nothing
//! twice.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tidelog::{Durability, Engine, EngineConfig, PutRecordsEntry};
use tidelog_analytics::app::{AppDefinition, OutputFormat, StartFrom};
use tidelog_analytics::{Applications, InputSchema};
use tidelog_firehose::{Firehose, FirehoseConfig, IngestLimits};

const CHILD_ENV: &str = "TIDELOG_APP_CRASH_CHILD";
const RECORDS: i64 = 12_000;
const T0: i64 = 1_700_000_000_000;

const CODE: &str = r#"
CREATE OR REPLACE STREAM "WINDOWS" (k VARCHAR(4), n BIGINT, total BIGINT, ws BIGINT);
CREATE OR REPLACE STREAM "SEVENS" (v BIGINT, k VARCHAR(4));
CREATE OR REPLACE PUMP "W" AS INSERT INTO "WINDOWS"
  SELECT STREAM k, COUNT(*), SUM(v), tumble(et, INTERVAL '1' MINUTE)
  FROM "SOURCE_SQL_STREAM_001" GROUP BY k, tumble(et, INTERVAL '1' MINUTE);
CREATE OR REPLACE PUMP "S" AS INSERT INTO "SEVENS"
  SELECT STREAM v, k FROM "SOURCE_SQL_STREAM_001" WHERE v % 7 = 0;
"#;

fn open(dir: &Path) -> Engine {
    let mut config = EngineConfig::new(dir);
    config.cores = Some(1);
    config.pin_cores = false;
    config.limits = tidelog::Limits::unlimited();
    config.durability = Durability::Os;
    Engine::open(config).expect("open engine")
}

fn open_firehose(engine: &Engine) -> Firehose {
    let mut c = FirehoseConfig::new();
    c.ingest_limits = IngestLimits::unlimited();
    c.tick = Duration::from_millis(5);
    Firehose::open(engine, c).expect("open firehose")
}

fn definition() -> AppDefinition {
    let schema = InputSchema::json(&[
        ("k", "VARCHAR(4)", "$.k"),
        ("v", "BIGINT", "$.v"),
        ("et", "TIMESTAMP", "$.et"),
    ])
    .unwrap();
    let mut def = AppDefinition::new("crashy", CODE, "events", schema)
        .with_output("WINDOWS", "windows", OutputFormat::Json)
        .with_output("SEVENS", "sevens", OutputFormat::Json)
        .with_delivery_stream_output("SEVENS", "sevens-ds", OutputFormat::Csv);
    // Small epochs (many checkpoints to die between); the lateness covers the skew
    // between the two shards' read positions, so no row is late whatever the epochs.
    def.options.max_records_per_shard = 50;
    def.options.allowed_lateness_ms = 60_000;
    def
}

/// The child: opens the engine and the applications (which resumes the running one
/// from its files) and lets it run until killed; with "finish", until it is idle.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let engine = open(Path::new(&dir));
    let firehose = open_firehose(&engine);
    let apps = Applications::open_with_firehose(&engine, &firehose).unwrap();
    if std::env::var("TIDELOG_APP_CRASH_FINISH").is_ok() {
        apps.wait_idle("crashy", Duration::from_secs(120)).unwrap();
        apps.close();
        firehose.close().unwrap();
        engine.close().unwrap();
        return;
    }
    std::thread::sleep(Duration::from_secs(120));
}

/// The epoch of the application's last checkpoint (in its state log).
fn committed_epoch(dir: &Path) -> u64 {
    let path = dir.join("analytics/applications/crashy/state");
    let body = tidelog_analytics::app::store::read_checkpoint(&path)
        .unwrap()
        .unwrap();
    let meta: Value = serde_json::from_slice(&body).unwrap();
    meta["Epoch"].as_u64().unwrap()
}

fn read_all(engine: &Engine, stream: &str) -> Vec<(String, Value)> {
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
                    serde_json::from_slice(r.data).unwrap(),
                ));
            }
        }
    }
    out
}

#[test]
fn sigkill_mid_window_and_mid_emit_then_restart_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // The input, put before the application first runs; event times 20 ms apart.
    let mut windows: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    let mut sevens: BTreeMap<i64, String> = BTreeMap::new();
    {
        let engine = open(dir.path());
        engine.create_stream("events", 2).unwrap();
        engine.create_stream("windows", 1).unwrap();
        engine.create_stream("sevens", 2).unwrap();
        let records: Vec<(String, String)> = (0..RECORDS)
            .map(|v| {
                let k = ["a", "b", "c", "d"][(v * 3 % 4) as usize];
                let et = T0 + v * 20;
                let e = windows
                    .entry((k.to_string(), et - et.rem_euclid(60_000)))
                    .or_insert((0, 0));
                e.0 += 1;
                e.1 += v;
                if v % 7 == 0 {
                    sevens.insert(v, k.to_string());
                }
                (
                    format!("p{v}"),
                    format!(r#"{{"k": "{k}", "v": {v}, "et": {et}}}"#),
                )
            })
            .collect();
        for chunk in records.chunks(500) {
            let entries: Vec<PutRecordsEntry<'_>> = chunk
                .iter()
                .map(|(k, d)| PutRecordsEntry {
                    partition_key: k,
                    data: d.as_bytes(),
                    explicit_hash_key: None,
                })
                .collect();
            assert_eq!(
                engine
                    .put_records("events", &entries, None)
                    .unwrap()
                    .failed_record_count,
                0
            );
        }
        // The delivery stream delivers as soon as records come (no buffering
        // interval), so Firehose's own worker is killed mid-delivery too.
        let firehose = open_firehose(&engine);
        tidelog_firehose::api::call(
            &firehose,
            "CreateDeliveryStream",
            serde_json::json!({"DeliveryStreamName": "sevens-ds", "ExtendedS3DestinationConfiguration": {
                "RoleARN": "arn:aws:iam::123456789012:role/firehose", "BucketARN": "arn:aws:s3:::bkt",
                "Prefix": "sevens/", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}}),
        )
        .unwrap();
        let apps = Applications::open_with_firehose(&engine, &firehose).unwrap();
        apps.create(definition()).unwrap();
        // Started and immediately stopped, marked to run: the children resume it.
        apps.start("crashy", StartFrom::TrimHorizon).unwrap();
        apps.close();
        drop(apps);
        firehose.close().unwrap();
        engine.close().unwrap();
    }
    // Only windows the event-time watermark (largest event time - lateness) closed.
    let watermark = T0 + (RECORDS - 1) * 20 - 60_000;
    windows.retain(|(_, start), _| start + 60_000 <= watermark);

    let exe = std::env::current_exe().unwrap();
    let child = |finish: bool| {
        let mut c = Command::new(&exe);
        c.args([
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if finish {
            c.env("TIDELOG_APP_CRASH_FINISH", "1");
        }
        c.spawn().unwrap()
    };
    // Each child is killed a random 0-39 ms after its first committed epoch (so every
    // kill lands while it works, however fast the build), until the application is
    // halfway (epoch 60 of at least 120). The margin is for a loaded machine: this
    // thread can be descheduled between its polls while a child runs on, and with the
    // loop going on to epoch 100 a late kill sometimes found the work already done.
    let mut kills = 0;
    let started = Instant::now();
    let mut seed = 0x9e37_79b9_u64;
    while committed_epoch(dir.path()) < 60
        && kills < 60
        && started.elapsed() < Duration::from_secs(120)
    {
        let base = committed_epoch(dir.path());
        let mut c = child(false);
        let deadline = Instant::now() + Duration::from_secs(30);
        while committed_epoch(dir.path()) == base && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        std::thread::sleep(Duration::from_millis((seed >> 33) % 40));
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
        kills += 1;
    }
    let before_finish = committed_epoch(dir.path());
    let mut c = child(true);
    let status = c.wait().unwrap();
    assert!(status.success(), "the finishing child failed: {status:?}");

    let engine = open(dir.path());
    let out = read_all(&engine, "windows");
    let mut got: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for (key, row) in &out {
        assert!(key.starts_with("crashy:"));
        let k = (
            row["k"].as_str().unwrap().to_string(),
            row["ws"].as_i64().unwrap(),
        );
        let prev = got.insert(
            k.clone(),
            (row["n"].as_i64().unwrap(), row["total"].as_i64().unwrap()),
        );
        assert!(prev.is_none(), "window {k:?} delivered twice");
    }
    assert_eq!(got, windows);
    let out = read_all(&engine, "sevens");
    let mut got: BTreeMap<i64, String> = BTreeMap::new();
    for (_, row) in &out {
        let v = row["v"].as_i64().unwrap();
        assert!(
            got.insert(v, row["k"].as_str().unwrap().to_string())
                .is_none(),
            "row {v} delivered twice"
        );
    }
    assert_eq!(got, sevens);
    // The delivery stream's objects: every CSV row "v,k" once.
    let firehose = open_firehose(&engine);
    firehose
        .flush("sevens-ds", Duration::from_secs(60))
        .unwrap();
    let mut got: BTreeMap<i64, String> = BTreeMap::new();
    let mut objects = 0;
    let mut dirs = vec![firehose.bucket_directory("bkt").unwrap().join("sevens")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tidelog-tmp")
            {
                continue;
            }
            objects += 1;
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                let (v, k) = line.split_once(',').unwrap();
                let v: i64 = v.parse().unwrap();
                assert!(
                    got.insert(v, k.to_string()).is_none(),
                    "row {v} delivered twice through the delivery stream"
                );
            }
        }
    }
    assert_eq!(got, sevens);
    let apps = Applications::open_with_firehose(&engine, &firehose).unwrap();
    let d = apps.describe("crashy").unwrap();
    apps.close();
    assert_eq!(d.counters.errors, 0);
    // 12,000 records, 50 per shard and epoch: 120 epochs at least; the kills
    // interrupted work (the finishing child still had epochs to run).
    assert!(d.epoch >= 120, "{d:?}");
    assert!(
        kills >= 3,
        "only {kills} kills before the application was halfway"
    );
    assert!(
        before_finish < d.epoch,
        "the kills came after the work was done"
    );
    eprintln!(
        "{kills} kills; {before_finish} epochs before the last child, {} in all; {objects} objects from the delivery stream",
        d.epoch
    );
    firehose.close().unwrap();
}
