//! Helpers shared by Firehose's integration tests.
#![allow(dead_code)]
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tidelog::{Durability, Engine, EngineConfig, Limits, ManualClock};
use tidelog_firehose::{Firehose, FirehoseConfig, IngestLimits, api};

pub const ROLE: &str = "arn:aws:iam::123456789012:role/firehose";
pub const START_MS: u64 = 1_535_365_805_123; // 2018-08-27T10:30:05.123Z

pub struct Env {
    pub dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub engine: Engine,
    pub firehose: Firehose,
}

pub fn engine_config(dir: &Path, clock: &Arc<ManualClock>) -> EngineConfig {
    let mut c = EngineConfig::new(dir.join("data"));
    c.cores = Some(1);
    c.pin_cores = false;
    c.durability = Durability::Sync;
    c.limits = Limits::unlimited();
    c.clock = clock.clone();
    c
}

pub fn firehose_config() -> FirehoseConfig {
    let mut c = FirehoseConfig::new();
    c.ingest_limits = IngestLimits::unlimited();
    c.tick = Duration::from_millis(5);
    c
}

impl Env {
    pub fn new() -> Self {
        Self::with(|_| {}, |_| {})
    }

    pub fn with(
        engine: impl FnOnce(&mut EngineConfig),
        fh: impl FnOnce(&mut FirehoseConfig),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(START_MS);
        let mut ec = engine_config(dir.path(), &clock);
        engine(&mut ec);
        let engine = Engine::open(ec).unwrap();
        let mut fc = firehose_config();
        fh(&mut fc);
        let firehose = Firehose::open(&engine, fc).unwrap();
        Self {
            dir,
            clock,
            engine,
            firehose,
        }
    }

    pub fn call(&self, op: &str, request: Value) -> Result<Value, api::ApiError> {
        api::call(&self.firehose, op, request)
    }

    pub fn ok(&self, op: &str, request: Value) -> Value {
        self.call(op, request)
            .unwrap_or_else(|e| panic!("{op}: {e}"))
    }

    pub fn bucket(&self, bucket: &str) -> PathBuf {
        self.firehose.bucket_directory(bucket).unwrap()
    }

    /// Closes and reopens Firehose and the engine on the same directory.
    pub fn reopen(self) -> Self {
        let Env {
            dir,
            clock,
            engine,
            firehose,
        } = self;
        firehose.close().unwrap();
        engine.close().unwrap();
        let engine = Engine::open(engine_config(dir.path(), &clock)).unwrap();
        let firehose = Firehose::open(&engine, firehose_config()).unwrap();
        Env {
            dir,
            clock,
            engine,
            firehose,
        }
    }
}

/// Every file under `dir` (relative path, bytes), sorted; temporary files excluded.
pub fn objects(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let e = e.unwrap();
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if !e.file_name().to_string_lossy().starts_with(".tidelog-tmp") {
                out.push((
                    p.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Polls `f` until it returns Some, for up to 60 s of real time (a bound on a hang, not a
/// speed: a loaded CI machine can be slow).
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn s3_config(bucket: &str, extra: Value) -> Value {
    let mut c = json!({
        "RoleARN": ROLE,
        "BucketARN": format!("arn:aws:s3:::{bucket}"),
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

pub fn create(env: &Env, name: &str, s3: Value) -> Value {
    env.ok(
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": name, "ExtendedS3DestinationConfiguration": s3}),
    )
}

pub fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn put_batch(env: &Env, name: &str, records: &[Vec<u8>]) -> Value {
    let recs: Vec<Value> = records.iter().map(|r| json!({"Data": b64(r)})).collect();
    env.ok(
        "PutRecordBatch",
        json!({"DeliveryStreamName": name, "Records": recs}),
    )
}
