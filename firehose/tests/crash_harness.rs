//! The delivery crash harness: a producer process puts records into DirectPut delivery
//! streams whose buffers flush constantly (IntervalInSeconds 0, small SizeInMBs), so a
//! SIGKILL at a random moment lands during puts, during buffering and during delivery
//! (mid-object, mid-rename, and against S3 mid-multipart-upload). After each kill the
//! directory is reopened, delivery is finished with a flush, and every delivered object
//! is checked: every acknowledged record appears in exactly one object, byte for byte;
//! no record appears twice, acknowledged or not; records sit in put order inside each
//! object; no object is partial.
//!
//! Iterations: `TIDELOG_FIREHOSE_CRASH_ITERATIONS` (default 25 against the directory
//! store, a third of that against moto's S3 when it is available). The producer is this
//! test binary, started with `TIDELOG_FH_CRASH_CHILD` set.
#![forbid(unsafe_code)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::objects;
use object_store::{ObjectStore as _, ObjectStoreExt as _};
use serde_json::json;
use tidelog::{Durability, Engine, EngineConfig, Limits};
use tidelog_firehose::{BucketStore, Firehose, FirehoseConfig, IngestLimits, S3Connection, api};

const ROLE: &str = "arn:aws:iam::123456789012:role/firehose";

fn engine_config(dir: &Path, durability: Durability) -> EngineConfig {
    let mut c = EngineConfig::new(dir.join("data"));
    c.cores = Some(1);
    c.pin_cores = false;
    c.durability = durability;
    c.limits = Limits::unlimited();
    c
}

fn firehose_config(s3: Option<&str>) -> FirehoseConfig {
    let mut c = FirehoseConfig::new();
    c.ingest_limits = IngestLimits::unlimited();
    c.tick = Duration::from_millis(5);
    if let Some(endpoint) = s3 {
        let mut conn = S3Connection::local(endpoint, "testing", "testing");
        conn.multipart_threshold_bytes = 5 << 20;
        conn.multipart_part_bytes = 5 << 20;
        c.buckets.insert("crash".into(), BucketStore::S3(conn));
    }
    c
}

fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The record of `id`: `id:` and a payload whose size and bytes follow from the id.
fn record(id: &str) -> Vec<u8> {
    let h = hash(id);
    let size = match h % 10 {
        0 => 200_000 + (h >> 8) as usize % 300_000,
        _ => 10 + (h >> 8) as usize % 4000,
    };
    let mut out = format!("{id}:").into_bytes();
    let mut state = h | 1;
    out.extend((0..size).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        b'a' + (state % 26) as u8
    }));
    out
}

fn create_streams(firehose: &Firehose) {
    let existing = firehose
        .list_delivery_streams(Some(100), None, None)
        .unwrap()
        .names;
    for (name, size, compression) in [
        ("plain", 1, "UNCOMPRESSED"),
        ("packed", 1, "GZIP"),
        ("large", 6, "UNCOMPRESSED"),
    ] {
        if existing.iter().any(|n| n == name) {
            continue;
        }
        api::call(
            firehose,
            "CreateDeliveryStream",
            json!({"DeliveryStreamName": name, "ExtendedS3DestinationConfiguration": {
                "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::crash", "Prefix": format!("{name}/"),
                "CompressionFormat": compression,
                "BufferingHints": {"SizeInMBs": size, "IntervalInSeconds": 0},
                "ProcessingConfiguration": {"Enabled": true, "Processors": [{"Type": "AppendDelimiterToRecord"}]}}}),
        )
        .unwrap();
    }
}

/// The producer. A no-op unless started by the harness.
#[test]
fn fh_crash_child() {
    let Ok(dir) = std::env::var("TIDELOG_FH_CRASH_CHILD") else {
        return;
    };
    let iteration: u64 = std::env::var("TIDELOG_FH_CRASH_ITERATION")
        .unwrap()
        .parse()
        .unwrap();
    let s3 = std::env::var("TIDELOG_FH_CRASH_S3").ok();
    let durability = if iteration % 2 == 0 {
        Durability::Sync
    } else {
        Durability::Os
    };
    let engine = Engine::open(engine_config(Path::new(&dir), durability)).unwrap();
    let firehose = Firehose::open(&engine, firehose_config(s3.as_deref())).unwrap();
    create_streams(&firehose);
    let mut out = std::io::stdout();
    // The harness has printed "test fh_crash_child ... " without a newline: start a line.
    writeln!(out, "\nREADY").unwrap();
    out.flush().unwrap();
    let names = ["plain", "packed", "large"];
    for n in 0.. {
        let stream = names[n % names.len()];
        let ids: Vec<String> = (0..1 + n % 7)
            .map(|k| format!("i{iteration}-{n}-{k}"))
            .collect();
        let records: Vec<Vec<u8>> = ids.iter().map(|id| record(id)).collect();
        let slices: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let result = firehose.put_record_batch(stream, &slices).unwrap();
        let mut line = String::new();
        for (id, r) in ids.iter().zip(&result.responses) {
            if r.is_ok() {
                line.push_str(&format!("A {stream} {id}\n"));
            }
        }
        out.write_all(line.as_bytes()).unwrap();
        out.flush().unwrap();
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a complete gzip object");
    out
}

/// Checks the delivered objects against the acknowledged ids; returns how many records
/// were found.
fn check(objects: &[(String, Vec<u8>)], acked: &BTreeMap<String, String>) -> usize {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (key, bytes) in objects {
        let stream = key.split('/').next().unwrap();
        let body = if key.ends_with(".gz") {
            gunzip(bytes)
        } else {
            bytes.clone()
        };
        assert!(
            body.ends_with(b"\n") || body.is_empty(),
            "{key}: a partial object"
        );
        let mut last: Option<(u64, u64, u64)> = None;
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let colon = line.iter().position(|b| *b == b':').expect("id:payload");
            let id = std::str::from_utf8(&line[..colon]).unwrap().to_string();
            assert_eq!(
                line,
                &record(&id)[..],
                "{key}: record {id} is not byte for byte what was put"
            );
            if let Some(previous) = seen.insert(id.clone(), key.clone()) {
                panic!("record {id} appears twice: in {previous} and in {key}");
            }
            let parts: Vec<u64> = id[1..].split('-').map(|p| p.parse().unwrap()).collect();
            let position = (parts[0], parts[1], parts[2]);
            if let Some(previous) = last {
                assert!(
                    previous < position,
                    "{key}: {id} after {previous:?}: not in put order"
                );
            }
            last = Some(position);
            let _ = stream;
        }
    }
    for (id, stream) in acked {
        let key = seen
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged record {id} ({stream}) was not delivered"));
        assert!(
            key.starts_with(&format!("{stream}/")),
            "{id} was delivered to {key}, not {stream}"
        );
    }
    seen.len()
}

/// Lists a store's objects as (key, bytes).
type Lister = Box<dyn Fn() -> Vec<(String, Vec<u8>)>>;

fn run_harness(iterations: u64, s3: Option<(String, Lister)>) {
    let tmp = tempfile::Builder::new()
        .prefix("tidelog-fh-crash-")
        .tempdir()
        .unwrap()
        .keep();
    let dir = tmp.as_path();
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    let mut state = 0x5EED_u64;
    for iteration in 0..iterations {
        let mut command = Command::new(&exe);
        command
            .args([
                "--exact",
                "fh_crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TIDELOG_FH_CRASH_CHILD", dir)
            .env("TIDELOG_FH_CRASH_ITERATION", iteration.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some((endpoint, _)) = &s3 {
            command.env("TIDELOG_FH_CRASH_S3", endpoint);
        }
        let mut child = command.spawn().unwrap();
        struct KillOnDrop(std::process::Child);
        impl Drop for KillOnDrop {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let stdout = child.stdout.take().unwrap();
        let mut child = KillOnDrop(child);
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut ready = false;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while let Ok(line) =
            rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            if line == "READY" {
                ready = true;
                break;
            }
        }
        assert!(ready, "iteration {iteration}: the producer did not start");
        eprintln!("iteration {iteration}: producer ready");
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        std::thread::sleep(Duration::from_millis(20 + state % 400));
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        reader.join().unwrap();
        for line in rx.try_iter() {
            let parts: Vec<&str> = line.split(' ').collect();
            if parts.len() == 3 && parts[0] == "A" {
                acked.insert(parts[2].to_string(), parts[1].to_string());
            }
        }
        eprintln!("iteration {iteration}: killed");
        // Reopen, finish delivery, check everything delivered so far.
        let engine = Engine::open(engine_config(dir, Durability::Sync))
            .unwrap_or_else(|e| panic!("iteration {iteration}: reopen failed: {e}"));
        let firehose = Firehose::open(
            &engine,
            firehose_config(s3.as_ref().map(|(e, _)| e.as_str())),
        )
        .unwrap_or_else(|e| panic!("iteration {iteration}: firehose reopen failed: {e}"));
        create_streams(&firehose);
        firehose
            .flush_all(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("iteration {iteration}: flush failed: {e}"));
        let objs = match &s3 {
            Some((_, list)) => list(),
            None => objects(&firehose.bucket_directory("crash").unwrap()),
        };
        eprintln!("iteration {iteration}: flushed, {} objects", objs.len());
        let found = check(&objs, &acked);
        assert!(found >= acked.len());
        firehose.close().unwrap();
        engine.close().unwrap();
    }
    assert!(
        acked.len() > iterations as usize,
        "the producers got records acknowledged"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

fn iterations(default: u64) -> u64 {
    std::env::var("TIDELOG_FIREHOSE_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sigkill_during_directory_delivery_delivers_each_acknowledged_record_once() {
    run_harness(iterations(25), None);
}

#[test]
fn sigkill_during_s3_delivery_delivers_each_acknowledged_record_once() {
    let binary = std::env::var_os("TIDELOG_MOTO_SERVER")
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .or_else(|| {
            let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
            p.exists().then_some(p)
        });
    let Some(binary) = binary else {
        assert!(
            std::env::var_os("TIDELOG_REQUIRE_SERVICES").is_none(),
            "moto_server is required"
        );
        eprintln!("moto_server not found: skipping");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _moto = Kill(
        std::process::Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "moto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "PUT /crash HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let endpoint = format!("http://127.0.0.1:{port}");
    let list_endpoint = endpoint.clone();
    let list = move || {
        let store = Arc::new(
            object_store::aws::AmazonS3Builder::new()
                .with_bucket_name("crash")
                .with_region("us-east-1")
                .with_endpoint(&list_endpoint)
                .with_allow_http(true)
                .with_access_key_id("testing")
                .with_secret_access_key("testing")
                .build()
                .unwrap(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use futures::TryStreamExt;
            let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
            let mut out = Vec::new();
            for m in metas {
                let bytes = store.get(&m.location).await.unwrap().bytes().await.unwrap();
                out.push((m.location.to_string(), bytes.to_vec()));
            }
            out.sort();
            out
        })
    };
    run_harness(
        (iterations(25) / 3).max(1),
        Some((endpoint, Box::new(list))),
    );
}
