//! Kinesis Data Analytics' table functions in continuous applications
//! (`TOP_K_ITEMS_TUMBLING`, `COUNT_DISTINCT_ITEMS_TUMBLING`, `RANDOM_CUT_FOREST` and its
//! `_WITH_EXPLANATION`, `HOTSPOTS`): results checked against references computed here (brute-force counts;
//! the planted outliers and dense region of a fixed dataset), determinism across
//! restarts and crash redos, and bad arguments refused at create time with the
//! argument named. The engine's manual clock stamps every record; nothing sleeps.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tidelog::{Durability, Engine, EngineConfig, ManualClock, PutRecordsEntry};
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

/// Every record of `stream`, as JSON, in shard then sequence order.
fn read_json(engine: &Engine, stream: &str) -> Vec<Value> {
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
                out.push(serde_json::from_slice(r.data).unwrap());
            }
        }
    }
    out
}

/// A small deterministic generator (the test's own data, independent of the engine's).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 31) as f64
    }
}

/// An application over a one-shard input `in`, its outputs created, on a manual clock;
/// reopened at will (a stop and start) or after an injected crash.
struct Rig {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    engine: Engine,
    def: AppDefinition,
    app_dir: PathBuf,
    runner: Option<AppRunner>,
    /// Milliseconds after T0 of the last put.
    at: u64,
}

fn rig(code: &str, schema: InputSchema, outputs: &[(&str, &str)]) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    engine.create_stream("in", 1).unwrap();
    let mut def = AppDefinition::new("fns", code, "in", schema);
    for (from, to) in outputs {
        engine.create_stream(to, 1).unwrap();
        def = def.with_output(from, to, OutputFormat::Json);
    }
    def.options.watermark_delay_ms = 500;
    let app_dir = dir.path().join("app");
    let runner = AppRunner::open(&engine, def.clone(), &app_dir, StartFrom::TrimHorizon).unwrap();
    Rig {
        _dir: dir,
        clock,
        engine,
        def,
        app_dir,
        runner: Some(runner),
        at: 0,
    }
}

impl Rig {
    fn runner(&mut self) -> &mut AppRunner {
        self.runner.as_mut().expect("open")
    }

    /// Puts each record at its time (ms after T0, not decreasing).
    fn put(&mut self, records: &[(u64, String)]) {
        for (t, data) in records {
            assert!(*t >= self.at);
            self.clock.advance_ms(t - self.at);
            self.at = *t;
            let entry = PutRecordsEntry {
                partition_key: "k",
                data: data.as_bytes(),
                explicit_hash_key: None,
            };
            let out = self.engine.put_records("in", &[entry], None).unwrap();
            assert_eq!(out.failed_record_count, 0);
        }
    }

    fn step(&mut self) {
        self.runner().step().unwrap();
    }

    /// Stops and starts the application (from its last checkpoint).
    fn restart(&mut self) {
        self.runner = None;
        self.runner = Some(
            AppRunner::open(
                &self.engine,
                self.def.clone(),
                &self.app_dir,
                StartFrom::LastStoppedPoint,
            )
            .unwrap(),
        );
    }

    /// The next epoch fails at `point`; the application is reopened (which computes
    /// the interrupted epoch again).
    fn crash(&mut self, point: CrashPoint) {
        self.runner().crash_at(point);
        assert!(self.runner().step().is_err());
        self.restart();
    }

    fn finish(&mut self) {
        self.clock.advance_ms(3_600_000);
        while !self.runner().step().unwrap().idle {}
    }
}

fn kv_schema() -> InputSchema {
    InputSchema::json(&[("k", "VARCHAR(8)", "$.k"), ("v", "BIGINT", "$.v")]).unwrap()
}

fn xy_schema() -> InputSchema {
    InputSchema::json(&[
        ("id", "BIGINT", "$.id"),
        ("x", "DOUBLE", "$.x"),
        ("y", "DOUBLE", "$.y"),
    ])
    .unwrap()
}

const TUMBLING_FUNCTIONS: &str = r#"
CREATE OR REPLACE STREAM "TOPK" (item VARCHAR(8), n BIGINT, ws BIGINT);
CREATE OR REPLACE PUMP "P1" AS INSERT INTO "TOPK"
  SELECT STREAM ITEM, ITEM_COUNT, ROWTIME
  FROM TABLE(TOP_K_ITEMS_TUMBLING(
      CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"),
      'k',      -- the column, in single quotes
      3,        -- k
      10));     -- the window, seconds
CREATE OR REPLACE STREAM "TOP1" (item VARCHAR(8), n BIGINT);
CREATE OR REPLACE PUMP "P2" AS INSERT INTO "TOP1"
  SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(
      CURSOR(SELECT STREAM "k" FROM "SOURCE_SQL_STREAM_001" WHERE "v" % 2 = 0), 'k', 1, 10));
CREATE OR REPLACE STREAM "DISTINCT" (n BIGINT, ws BIGINT);
CREATE OR REPLACE PUMP "P3" AS INSERT INTO "DISTINCT"
  SELECT STREAM NUMBER_OF_DISTINCT_ITEMS, ROWTIME
  FROM TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(
      CURSOR(SELECT STREAM "v" % 37 AS "m" FROM "SOURCE_SQL_STREAM_001"), 'm', 10));
"#;

/// Top-k and count-distinct over ten-second windows, with stops and crashes along
/// the way, against counts done by brute force over the same records.
#[test]
fn top_k_and_count_distinct_match_brute_force_counts() {
    let mut rig = rig(
        TUMBLING_FUNCTIONS,
        kv_schema(),
        &[("TOPK", "topk"), ("TOP1", "top1"), ("DISTINCT", "distinct")],
    );
    let mut g = Lcg(11);
    // (arrival ms after T0, key, value): skewed keys, irregular gaps, ~3 minutes.
    let mut events = Vec::new();
    let mut t = 0u64;
    for i in 0..1500i64 {
        t += g.next() % 240;
        let x = g.unit();
        let key = format!("k{}", (x * x * 12.0) as u32);
        events.push((t, key, i * 7 + (g.next() % 50) as i64));
    }
    let points = [
        CrashPoint::AfterIntent,
        CrashPoint::MidDelivery(2),
        CrashPoint::BeforeCheckpoint,
    ];
    for (n, chunk) in events.chunks(40).enumerate() {
        let records: Vec<(u64, String)> = chunk
            .iter()
            .map(|(t, k, v)| (*t, format!(r#"{{"k": "{k}", "v": {v}}}"#)))
            .collect();
        rig.put(&records);
        match n % 6 {
            2 => rig.restart(),
            4 => rig.crash(points[n / 6 % 3]),
            _ => rig.step(),
        }
    }
    rig.finish();

    // The references: per window (start, ms since the epoch), counts by key.
    let start = |t: u64| {
        let at = (T0 + t) as i64;
        at - at % 10_000
    };
    let mut all: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    let mut even: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    let mut distinct: BTreeMap<i64, std::collections::BTreeSet<i64>> = BTreeMap::new();
    for (t, k, v) in &events {
        *all.entry(start(*t))
            .or_default()
            .entry(k.clone())
            .or_default() += 1;
        if v % 2 == 0 {
            *even
                .entry(start(*t))
                .or_default()
                .entry(k.clone())
                .or_default() += 1;
        }
        distinct.entry(start(*t)).or_default().insert(v % 37);
    }
    let top = |counts: &BTreeMap<String, i64>, k: usize| -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = counts.iter().map(|(a, b)| (a.clone(), *b)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(k);
        v
    };

    let mut got: BTreeMap<i64, Vec<(String, i64)>> = BTreeMap::new();
    for row in read_json(&rig.engine, "topk") {
        got.entry(row["ws"].as_i64().unwrap()).or_default().push((
            row["item"].as_str().unwrap().to_string(),
            row["n"].as_i64().unwrap(),
        ));
    }
    let want: BTreeMap<i64, Vec<(String, i64)>> =
        all.iter().map(|(w, c)| (*w, top(c, 3))).collect();
    assert!(want.len() > 15, "{} windows", want.len());
    assert_eq!(got, want);

    // `SELECT STREAM *` gives ITEM, ITEM_COUNT; windows are in order.
    let got1: Vec<(String, i64)> = read_json(&rig.engine, "top1")
        .iter()
        .map(|r| {
            (
                r["item"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    let want1: Vec<(String, i64)> = even.values().flat_map(|c| top(c, 1)).collect();
    assert_eq!(got1, want1);

    let got_distinct: BTreeMap<i64, i64> = read_json(&rig.engine, "distinct")
        .iter()
        .map(|r| (r["ws"].as_i64().unwrap(), r["n"].as_i64().unwrap()))
        .collect();
    let want_distinct: BTreeMap<i64, i64> =
        distinct.iter().map(|(w, s)| (*w, s.len() as i64)).collect();
    assert_eq!(got_distinct, want_distinct);
    assert_eq!(rig.runner().state().counters.errors, 0);
}

const FOREST: &str = r#"
CREATE OR REPLACE STREAM "SCORES" (id VARCHAR(8), x DOUBLE, y DOUBLE, score DOUBLE);
CREATE OR REPLACE PUMP "RCF" AS INSERT INTO "SCORES"
  SELECT STREAM id, x, y, ANOMALY_SCORE
  FROM TABLE(RANDOM_CUT_FOREST(
      CURSOR(SELECT STREAM CAST("id" AS VARCHAR) AS id, "x" AS x, "y" AS y FROM "SOURCE_SQL_STREAM_001"),
      40,      -- trees
      64,      -- points sampled per tree
      2000,    -- time decay (rows)
      1));     -- shingle size
"#;

/// The dataset: points near (10, 20); every 97th row from row 400 on is an outlier.
fn forest_rows() -> Vec<(u64, String, bool)> {
    let mut g = Lcg(5);
    (0..1600u64)
        .map(|i| {
            let outlier = i >= 400 && i % 97 == 0;
            let (x, y) = if outlier {
                let side = if i % 2 == 0 { 1.0 } else { -1.0 };
                (
                    10.0 + side * (6.0 + g.unit()),
                    20.0 - side * (5.0 + g.unit()),
                )
            } else {
                (10.0 + g.unit() * 2.0 - 1.0, 20.0 + g.unit() * 2.0 - 1.0)
            };
            (
                i * 37,
                format!(r#"{{"id": {i}, "x": {x}, "y": {y}}}"#),
                outlier,
            )
        })
        .collect()
}

/// Runs the forest application over the dataset, in steps of `per_step` records,
/// calling `between(step, rig)` after each put; the scores by row id.
fn forest_scores(per_step: usize, between: impl Fn(usize, &mut Rig)) -> BTreeMap<u64, f64> {
    let mut rig = rig(FOREST, xy_schema(), &[("SCORES", "scores")]);
    for (n, chunk) in forest_rows().chunks(per_step).enumerate() {
        let records: Vec<(u64, String)> = chunk.iter().map(|(t, d, _)| (*t, d.clone())).collect();
        rig.put(&records);
        between(n, &mut rig);
    }
    rig.finish();
    let rows = read_json(&rig.engine, "scores");
    let mut out = BTreeMap::new();
    for r in &rows {
        let id: u64 = r["id"].as_str().unwrap().parse().unwrap();
        let score = r["score"].as_f64().unwrap();
        assert!(out.insert(id, score).is_none(), "row {id} delivered twice");
    }
    out
}

/// Anomaly scores: finite, the planted outliers far above the normal points, and the
/// same to the bit whether the application ran straight through, was stopped and
/// started, or crashed at every point of an epoch and computed the epoch again.
#[test]
fn random_cut_forest_ranks_outliers_and_is_deterministic() {
    let straight = forest_scores(50, |_, rig| rig.step());
    let rows = forest_rows();
    assert_eq!(straight.len(), rows.len());
    assert!(straight.values().all(|s| s.is_finite() && *s >= 0.0));
    let mut normal: Vec<f64> = rows
        .iter()
        .enumerate()
        .filter(|(i, r)| *i >= 400 && !r.2)
        .map(|(i, _)| straight[&(i as u64)])
        .collect();
    normal.sort_by(f64::total_cmp);
    let p99 = normal[normal.len() * 99 / 100];
    let outliers: Vec<f64> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.2)
        .map(|(i, _)| straight[&(i as u64)])
        .collect();
    assert!(outliers.len() >= 12);
    let weakest = outliers.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        weakest > 3.0 * p99,
        "weakest outlier {weakest}, normal p99 {p99}"
    );
    let strongest_normal = *normal.last().unwrap();
    assert!(
        weakest > strongest_normal,
        "weakest outlier {weakest}, highest normal {strongest_normal}"
    );

    // Stopped and started every third step; crashed at each point in turn.
    let points = [
        CrashPoint::AfterIntent,
        CrashPoint::MidDelivery(5),
        CrashPoint::BeforeCheckpoint,
    ];
    let interrupted = forest_scores(30, |n, rig| match n % 3 {
        0 => rig.step(),
        1 => {
            rig.step();
            rig.restart();
        }
        _ => rig.crash(points[n / 3 % 3]),
    });
    assert_eq!(interrupted.len(), straight.len());
    for (id, s) in &straight {
        assert_eq!(
            interrupted[id].to_bits(),
            s.to_bits(),
            "row {id}: {} vs {s}",
            interrupted[id]
        );
    }
}

const HOTSPOTS: &str = r#"
CREATE OR REPLACE STREAM "SPOTS" (id BIGINT, result VARCHAR(4000));
CREATE OR REPLACE PUMP "H" AS INSERT INTO "SPOTS"
  SELECT STREAM CAST(id AS BIGINT), HOTSPOTS_RESULT
  FROM TABLE(HOTSPOTS(
      CURSOR(SELECT STREAM CAST("id" AS VARCHAR) AS id, "x" AS x, "y" AS y FROM "SOURCE_SQL_STREAM_001"),
      300,     -- window: the last 300 rows
      1.5,     -- scan radius
      8));     -- points in a hotspot, at least
"#;

/// A dense region planted in uniform noise is reported, its bounds holding every
/// planted point of the window; the noise alone yields none.
#[test]
fn hotspots_report_a_planted_dense_region() {
    let mut rig = rig(HOTSPOTS, xy_schema(), &[("SPOTS", "spots")]);
    let mut g = Lcg(99);
    let mut points = Vec::new();
    for i in 0..600u64 {
        // From row 400 on, every third row is in [69.5, 70.5] x [29.5, 30.5].
        let planted = i >= 400 && i % 3 == 0;
        let (x, y) = if planted {
            (69.5 + g.unit(), 29.5 + g.unit())
        } else {
            (g.unit() * 100.0, g.unit() * 100.0)
        };
        points.push((x, y, planted));
    }
    for (n, chunk) in points.chunks(40).enumerate() {
        let records: Vec<(u64, String)> = chunk
            .iter()
            .enumerate()
            .map(|(j, (x, y, _))| {
                let i = n * 40 + j;
                (
                    i as u64 * 10,
                    format!(r#"{{"id": {i}, "x": {x}, "y": {y}}}"#),
                )
            })
            .collect();
        rig.put(&records);
        rig.step();
    }
    rig.finish();
    let rows = read_json(&rig.engine, "spots");
    assert_eq!(rows.len(), points.len());
    let result = |r: &Value| -> Vec<Value> {
        let v: Value = serde_json::from_str(r["result"].as_str().unwrap()).unwrap();
        v["hotspots"].as_array().unwrap().clone()
    };
    // Noise only: no hotspot.
    for r in &rows[..400] {
        assert!(result(r).is_empty(), "{r}");
    }
    // At the last row: the window is rows 300..600; every planted point is inside the
    // reported bounds, which stay within the scan radius of the planted square.
    let last = rows.iter().find(|r| r["id"] == 599).unwrap();
    let spots = result(last);
    assert_eq!(spots.len(), 1, "{spots:?}");
    let lo: Vec<f64> = spots[0]["minValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let hi: Vec<f64> = spots[0]["maxValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for &(x, y, planted) in &points[300..] {
        if planted {
            assert!(lo[0] <= x && x <= hi[0] && lo[1] <= y && y <= hi[1]);
        }
    }
    // Border points may reach one more radius past the core points near the square.
    assert!(lo[0] >= 66.5 && hi[0] <= 73.5 && lo[1] >= 26.5 && hi[1] <= 33.5);
    assert!(spots[0]["density"].as_f64().unwrap() > 10.0);
}

/// Bad arguments are refused when the application is created, naming the argument.
#[test]
fn bad_arguments_are_refused_naming_the_argument() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    engine.create_stream("in", 1).unwrap();
    let check = |call: &str| -> String {
        let code = format!(
            "CREATE STREAM o (a VARCHAR(8), b BIGINT);\nCREATE PUMP p AS INSERT INTO o SELECT STREAM * FROM TABLE({call})"
        );
        let def = AppDefinition::new("bad", &code, "in", kv_schema());
        AppRunner::open(&engine, def, &dir.path().join("x"), StartFrom::TrimHorizon)
            .unwrap_err()
            .to_string()
    };
    let cursor = r#"CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001")"#;
    let cases: Vec<(String, &[&str])> = vec![
        (
            r#"TOP_K_ITEMS_TUMBLING("SOURCE_SQL_STREAM_001", 'k', 3, 10)"#.into(),
            &["argument 1 (inputStream)", "CURSOR", "Line: 2"],
        ),
        (
            format!("TOP_K_ITEMS_TUMBLING({cursor}, 'k', 0, 10)"),
            &["argument 3 (K)", "1 to 100000", "not 0"],
        ),
        (
            format!("TOP_K_ITEMS_TUMBLING({cursor}, 'k', 2.5, 10)"),
            &["argument 3 (K)", "whole number"],
        ),
        (
            format!("TOP_K_ITEMS_TUMBLING({cursor}, 'k', 3, 3601)"),
            &["argument 4 (windowSize)", "1 to 3600"],
        ),
        (
            format!("TOP_K_ITEMS_TUMBLING({cursor}, k, 3, 10)"),
            &["argument 2 (columnName)", "single quotes"],
        ),
        (
            format!("TOP_K_ITEMS_TUMBLING({cursor}, 'nope', 3, 10)"),
            &["argument 2 (columnName)", "\"nope\"", "pump \"p\""],
        ),
        (
            format!("TOP_K_ITEMS_TUMBLING({cursor}, 'k', 3)"),
            &["takes 4 arguments", "3 given"],
        ),
        (
            format!("COUNT_DISTINCT_ITEMS_TUMBLING({cursor}, 'k', 0)"),
            &["argument 3 (windowSize)"],
        ),
        (
            format!("COUNT_DISTINCT_ITEMS_TUMBLING({cursor}, 'k', '10')"),
            &["argument 3 (windowSize)", "text"],
        ),
        (
            format!("RANDOM_CUT_FOREST({cursor}, 0)"),
            &["argument 2 (numberOfTrees)", "1 to 1000"],
        ),
        (
            format!("RANDOM_CUT_FOREST({cursor}, 10, 5)"),
            &["argument 3 (subSampleSize)", "10 to 1000"],
        ),
        (
            format!("RANDOM_CUT_FOREST({cursor}, 10, 300, 200)"),
            &["argument 3 (subSampleSize, 300)", "less than argument 4 (timeDecay, 200)"],
        ),
        (
            format!("RANDOM_CUT_FOREST({cursor}, 10, 20, 200, 31)"),
            &["argument 5 (shingleSize)", "1 to 30"],
        ),
        (
            format!("RANDOM_CUT_FOREST({cursor}, 10, 20, 200, 1, 1)"),
            &["takes 1 to 5 arguments"],
        ),
        (
            format!("RANDOM_CUT_FOREST_WITH_EXPLANATION({cursor}, 10, 20, 200, 1, 'yes')"),
            &["argument 6 (withDirectionality)", "TRUE or FALSE"],
        ),
        (
            format!("RANDOM_CUT_FOREST_WITH_EXPLANATION({cursor}, TRUE)"),
            &["argument 2 (numberOfTrees)", "not TRUE"],
        ),
        (
            r#"RANDOM_CUT_FOREST(CURSOR(SELECT STREAM "k" FROM "SOURCE_SQL_STREAM_001"))"#.into(),
            &["no numeric column", "DECIMAL"],
        ),
        (
            format!("HOTSPOTS({cursor}, 100, 0, 5)"),
            &["argument 3 (scanRadius)", "above 0"],
        ),
        (
            format!("HOTSPOTS({cursor}, 100, 1.5, 1)"),
            &["argument 4 (minimumNumberOfPointsInAHotspot)"],
        ),
        (
            format!("HOTSPOTS({cursor}, 0, 1.5, 3)"),
            &["argument 2 (windowSize)"],
        ),
        (
            format!("HOTSPOTS({cursor}, 100)"),
            &["takes 4 arguments"],
        ),
        (
            format!("SLIDING_MEDIAN({cursor}, 3)"),
            &["unknown table function SLIDING_MEDIAN", "TOP_K_ITEMS_TUMBLING"],
        ),
        (
            r#"TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM "k" FROM "SOURCE_SQL_STREAM_001" GROUP BY "k", STEP(ROWTIME BY INTERVAL '1' MINUTE)), 'k', 3, 10)"#.into(),
            &["takes no window"],
        ),
    ];
    for (call, wanted) in &cases {
        let e = check(call);
        for w in *wanted {
            assert!(e.contains(w), "{call}: {e:?} lacks {w:?}");
        }
    }
    // A good call is accepted (the same harness, so the failures above are the
    // arguments').
    let code = format!(
        "CREATE STREAM o (a VARCHAR(8), b BIGINT);\nCREATE PUMP p AS INSERT INTO o SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING({cursor}, 'k', 3, 10))"
    );
    let def = AppDefinition::new("good", &code, "in", kv_schema());
    AppRunner::open(&engine, def, &dir.path().join("y"), StartFrom::TrimHorizon).unwrap();
}

const EXPLAINED: &str = r#"
CREATE OR REPLACE STREAM "SCORES" (id VARCHAR(8), score DOUBLE, why VARCHAR(2000));
CREATE OR REPLACE PUMP "RCF" AS INSERT INTO "SCORES"
  SELECT STREAM id, ANOMALY_SCORE, ANOMALY_EXPLANATION
  FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(
      CURSOR(SELECT STREAM CAST("id" AS VARCHAR) AS id, "x" AS x, "y" AS y FROM "SOURCE_SQL_STREAM_001"),
      40, 64, 2000, 1, TRUE));
"#;

/// The explained forest scores exactly as the plain one (same pump name, same rows);
/// each row's attributions add up to its score; the planted outliers (high x and low
/// y, or the reverse) get those directions.
#[test]
fn random_cut_forest_explanations_add_up_and_point_the_right_way() {
    let plain = forest_scores(50, |_, rig| rig.step());
    let mut rig = rig(EXPLAINED, xy_schema(), &[("SCORES", "scores")]);
    let rows = forest_rows();
    for chunk in rows.chunks(50) {
        let records: Vec<(u64, String)> = chunk.iter().map(|(t, d, _)| (*t, d.clone())).collect();
        rig.put(&records);
        rig.step();
    }
    rig.finish();
    let out = read_json(&rig.engine, "scores");
    assert_eq!(out.len(), rows.len());
    for r in &out {
        let id: u64 = r["id"].as_str().unwrap().parse().unwrap();
        let score = r["score"].as_f64().unwrap();
        assert_eq!(score.to_bits(), plain[&id].to_bits(), "row {id}");
        let why: Value = serde_json::from_str(r["why"].as_str().unwrap()).unwrap();
        let (x, y) = (&why["x"], &why["y"]);
        let ax = x["ATTRIBUTION_SCORE"].as_f64().unwrap();
        let ay = y["ATTRIBUTION_SCORE"].as_f64().unwrap();
        assert!(ax >= 0.0 && ay >= 0.0);
        assert!(
            (ax + ay - score).abs() <= 1e-9 * score.max(1.0),
            "row {id}: {ax} + {ay} != {score}"
        );
        if rows[id as usize].2 {
            // Even rows: x high, y low; odd rows: the reverse.
            let (dx, dy) = if id % 2 == 0 {
                ("HIGH", "LOW")
            } else {
                ("LOW", "HIGH")
            };
            assert_eq!(x["DIRECTION"], dx, "row {id}: {why}");
            assert_eq!(y["DIRECTION"], dy, "row {id}: {why}");
        }
    }
}

/// The examples of docs/analytics.md ("Table functions") create an application and
/// run: top-K gives the most traded ticker of a minute.
#[test]
fn the_documented_examples_work() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/analytics.md"))
            .unwrap();
    let section = &doc[doc.find("### Table functions").unwrap()..];
    let start = section.find("```sql\n").unwrap() + 7;
    let code = &section[start..start + section[start..].find("```").unwrap()];
    assert!(code.contains("HOTSPOTS(") && code.contains("RANDOM_CUT_FOREST("));
    let schema = InputSchema::json(&[
        ("ticker", "VARCHAR(4)", "$.ticker"),
        ("price", "DOUBLE", "$.price"),
        ("volume", "BIGINT", "$.volume"),
        ("lat", "DOUBLE", "$.lat"),
        ("lon", "DOUBLE", "$.lon"),
    ])
    .unwrap();
    let mut rig = rig(
        code,
        schema,
        &[
            ("DESTINATION_SQL_STREAM", "top"),
            ("DISTINCT_TICKERS", "distinct"),
            ("SCORED", "scored"),
            ("CROWDS", "crowds"),
        ],
    );
    let tickers = ["AMZN", "MSFT", "ACME", "AMZN", "TDLG", "AMZN", "MSFT"];
    let records: Vec<(u64, String)> = (0..70u64)
        .map(|i| {
            let t = tickers[(i % 7) as usize];
            let data = format!(
                r#"{{"ticker": "{t}", "price": {}, "volume": {}, "lat": {}, "lon": {}}}"#,
                100 + i % 5,
                1000 + i * 10,
                48.0 + (i % 3) as f64 * 0.001,
                2.0 + (i % 4) as f64 * 0.001
            );
            (i * 100, data)
        })
        .collect();
    rig.put(&records);
    rig.step();
    rig.finish();
    let top = read_json(&rig.engine, "top");
    // 70 records in 7 s: one window; AMZN 30, MSFT 20, then ACME and TDLG 10 each.
    assert_eq!(top.len(), 3, "{top:?}");
    assert_eq!(
        (top[0]["ticker"].as_str(), top[0]["trades"].as_i64()),
        (Some("AMZN"), Some(30))
    );
    assert_eq!(
        (top[1]["ticker"].as_str(), top[1]["trades"].as_i64()),
        (Some("MSFT"), Some(20))
    );
    assert_eq!(
        (top[2]["ticker"].as_str(), top[2]["trades"].as_i64()),
        (Some("ACME"), Some(10))
    );
    let distinct = read_json(&rig.engine, "distinct");
    assert_eq!(distinct.len(), 1);
    assert_eq!(distinct[0]["n"], 4);
    // Every position is in a tiny area: one hotspot once 20 rows have come.
    let crowds = read_json(&rig.engine, "crowds");
    assert_eq!(crowds.len(), 70);
    let last: Value = serde_json::from_str(crowds[69]["spots"].as_str().unwrap()).unwrap();
    assert_eq!(last["hotspots"].as_array().unwrap().len(), 1, "{last}");
    assert_eq!(rig.runner().state().counters.errors, 0);
}
