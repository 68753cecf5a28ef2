//! The server under load from several clients, killed with SIGKILL (and, separately,
//! stopped with SIGTERM): after a restart on the same data directory, every record the
//! server acknowledged is there, in its shard, with its sequence number. Puts run with
//! the default `sync` durability. The same for Firehose: every record a PutRecordBatch
//! acknowledged is delivered to the bucket after the restart, exactly once.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidelog_server::client::{Client, Credentials};
use tidelog_server::wire::{Encoding, Map, Service, Value};

const KEY: &str = "AKIDCRASH";
const SECRET: &str = "crash-secret";

/// A server process that is killed if the test fails before stopping it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &std::path::Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidelog"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cores",
            "1",
            "--limits",
            "unlimited",
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("TIDELOG_ACCESS_KEYS", format!("{KEY}:{SECRET}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (Server(child), addr)
}

fn client(endpoint: &str) -> Client {
    Client::new(
        endpoint,
        Some(Credentials {
            access_key: KEY.into(),
            secret: SECRET.into(),
        }),
        "us-east-1",
        Encoding::Json,
    )
    .unwrap()
}

type Acked = Arc<Mutex<HashMap<Vec<u8>, (String, String)>>>;

fn text(m: &Map, key: &str) -> String {
    match m.get(key) {
        Some(Value::Str(s)) => s.clone(),
        other => panic!("{key}: {other:?}"),
    }
}

/// Lets the load run for at least 1.5 s and until it has more than 100 acknowledgements
/// (a cold debug server on a loaded machine may take longer than 1.5 s to get there);
/// gives up after 120 s, leaving the caller's check to report how far it got.
async fn until_loaded(acks: impl Fn() -> usize) {
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(1500)
        || (acks() <= 100 && started.elapsed() < Duration::from_secs(120))
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Puts from `clients` tasks until the server stops answering; records every ack.
async fn load(endpoint: String, clients: usize, acked: Acked) {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = client(&endpoint);
        let acked = Arc::clone(&acked);
        tasks.push(tokio::spawn(async move {
            for n in 0u64.. {
                let result = if n % 2 == 0 {
                    let data = format!("c{c}-single-{n}").into_bytes();
                    client
                        .call(
                            Service::Kinesis,
                            "PutRecord",
                            &Map::new()
                                .with("StreamName", "crash")
                                .with("PartitionKey", format!("{c}-{n}"))
                                .with("Data", Value::Bytes(data.clone().into()))
                                .into(),
                        )
                        .await
                        .map(|out| {
                            vec![(data, text(&out, "ShardId"), text(&out, "SequenceNumber"))]
                        })
                } else {
                    let datas: Vec<Vec<u8>> = (0..20)
                        .map(|i| format!("c{c}-batch-{n}-{i}").into_bytes())
                        .collect();
                    let records = datas
                        .iter()
                        .enumerate()
                        .map(|(i, d)| {
                            Map::new()
                                .with("PartitionKey", format!("{c}-{n}-{i}"))
                                .with("Data", Value::Bytes(d.clone().into()))
                                .into()
                        })
                        .collect();
                    client
                        .call(
                            Service::Kinesis,
                            "PutRecords",
                            &Map::new()
                                .with("StreamName", "crash")
                                .with("Records", Value::List(records))
                                .into(),
                        )
                        .await
                        .map(|out| {
                            let Some(Value::List(results)) = out.get("Records") else {
                                panic!()
                            };
                            datas
                                .into_iter()
                                .zip(results)
                                .filter_map(|(d, r)| {
                                    let r = r.as_map().unwrap();
                                    r.get("SequenceNumber")
                                        .map(|_| (d, text(r, "ShardId"), text(r, "SequenceNumber")))
                                })
                                .collect()
                        })
                };
                match result {
                    Ok(done) => {
                        let mut a = acked.lock().unwrap();
                        for (d, shard, seq) in done {
                            a.insert(d, (shard, seq));
                        }
                    }
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn read_everything(endpoint: &str) -> HashMap<Vec<u8>, (String, String)> {
    let client = client(endpoint);
    let mut found = HashMap::new();
    let shards = client
        .call(
            Service::Kinesis,
            "ListShards",
            &Map::new().with("StreamName", "crash").into(),
        )
        .await
        .unwrap();
    let Some(Value::List(shards)) = shards.get("Shards") else {
        panic!()
    };
    for shard in shards {
        let shard = text(shard.as_map().unwrap(), "ShardId");
        let it = client
            .call(
                Service::Kinesis,
                "GetShardIterator",
                &Map::new()
                    .with("StreamName", "crash")
                    .with("ShardId", shard.as_str())
                    .with("ShardIteratorType", "TRIM_HORIZON")
                    .into(),
            )
            .await
            .unwrap();
        let mut iterator = text(&it, "ShardIterator");
        loop {
            let out = client
                .call(
                    Service::Kinesis,
                    "GetRecords",
                    &Map::new().with("ShardIterator", iterator.as_str()).into(),
                )
                .await
                .unwrap();
            let Some(Value::List(records)) = out.get("Records") else {
                panic!()
            };
            for r in records {
                let r = r.as_map().unwrap();
                let Some(Value::Bytes(d)) = r.get("Data") else {
                    panic!()
                };
                found.insert(d.to_vec(), (shard.clone(), text(r, "SequenceNumber")));
            }
            if records.is_empty() {
                break;
            }
            iterator = text(&out, "NextShardIterator");
        }
    }
    found
}

async fn run(stop: fn(&mut Child)) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = serve(dir.path());
    let child = &mut server.0;
    let endpoint = addr.clone();
    client(&endpoint)
        .call(
            Service::Kinesis,
            "CreateStream",
            &Map::new()
                .with("StreamName", "crash")
                .with("ShardCount", 4u32)
                .into(),
        )
        .await
        .unwrap();
    let acked: Acked = Arc::default();
    let loader = tokio::spawn(load(endpoint, 6, Arc::clone(&acked)));
    until_loaded(|| acked.lock().unwrap().len()).await;
    stop(child);
    let _ = child.wait();
    tokio::time::timeout(Duration::from_secs(30), loader)
        .await
        .unwrap()
        .unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 100, "the load ran ({} acks)", acked.len());

    let (again, addr) = serve(dir.path());
    let found = read_everything(&addr).await;
    drop(again);
    let missing: Vec<_> = acked
        .iter()
        .filter(|(d, where_)| found.get(*d) != Some(where_))
        .map(|(d, _)| String::from_utf8_lossy(d).into_owned())
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but lost or moved: {missing:?}"
    );
    acked.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_record() {
    for _ in 0..2 {
        let n = run(|c| c.kill().unwrap()).await;
        eprintln!("{n} acknowledged records survived a SIGKILL");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_stops_cleanly_and_loses_nothing() {
    let n = run(|c| {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let exit = c.wait().unwrap();
        assert_eq!(exit.code(), Some(0), "a SIGTERM stop exits 0");
    })
    .await;
    eprintln!("{n} acknowledged records survived a SIGTERM");
}

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let temporary = e.file_name().to_string_lossy().starts_with(".tidelog-tmp-");
        if path.is_dir() {
            files_under(&path, out);
        } else if !temporary {
            out.push(path); // an object under its final name is whole
        }
    }
}

/// Firehose through the server: PutRecordBatch from several clients into a DirectPut
/// delivery stream, SIGKILL, restart: every record the server acknowledged is delivered
/// to the bucket, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_firehose_load_delivers_every_acknowledged_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = serve(dir.path());
    let fh = |endpoint: &str| client(endpoint);
    let create = serde_json::json!({
        "DeliveryStreamName": "fh",
        "ExtendedS3DestinationConfiguration": {
            "RoleARN": "arn:aws:iam::000000000000:role/firehose",
            "BucketARN": "arn:aws:s3:::crashlake",
            "Prefix": "fh/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
        },
    });
    fh(&addr)
        .call_json(Service::Firehose, "CreateDeliveryStream", create)
        .await
        .unwrap();
    loop {
        let d = fh(&addr)
            .call_json(
                Service::Firehose,
                "DescribeDeliveryStream",
                serde_json::json!({"DeliveryStreamName": "fh"}),
            )
            .await
            .unwrap();
        if d["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for c in 0..4 {
        let client = fh(&addr);
        let acked = Arc::clone(&acked);
        tasks.push(tokio::spawn(async move {
            for n in 0u64.. {
                let lines: Vec<String> = (0..20).map(|i| format!("c{c}-{n}-{i}")).collect();
                let records = lines
                    .iter()
                    .map(|l| {
                        Map::new()
                            .with("Data", Value::Bytes(format!("{l}\n").into_bytes().into()))
                            .into()
                    })
                    .collect();
                let out = client
                    .call(
                        Service::Firehose,
                        "PutRecordBatch",
                        &Map::new()
                            .with("DeliveryStreamName", "fh")
                            .with("Records", Value::List(records))
                            .into(),
                    )
                    .await;
                let Ok(out) = out else { return }; // the server is gone
                let Some(Value::List(responses)) = out.get("RequestResponses") else {
                    panic!("{out:?}")
                };
                let mut a = acked.lock().unwrap();
                for (line, r) in lines.into_iter().zip(responses) {
                    if r.as_map().is_some_and(|r| r.get("RecordId").is_some()) {
                        a.push(line);
                    }
                }
            }
        }));
    }
    until_loaded(|| acked.lock().unwrap().len()).await;
    server.0.kill().unwrap();
    let _ = server.0.wait();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .unwrap()
            .unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 100, "the load ran ({} acks)", acked.len());

    let (_again, _addr) = serve(dir.path());
    let bucket = dir.path().join("firehose/buckets/crashlake/fh");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let delivered = loop {
        let mut files = Vec::new();
        files_under(&bucket, &mut files);
        let mut lines: Vec<String> = Vec::new();
        for f in files {
            lines.extend(
                std::fs::read_to_string(&f)
                    .unwrap()
                    .lines()
                    .map(str::to_string),
            );
        }
        let mut counts: HashMap<String, usize> = HashMap::new();
        for l in lines {
            *counts.entry(l).or_default() += 1;
        }
        if acked.iter().all(|l| counts.contains_key(l)) || std::time::Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let missing: Vec<&String> = acked
        .iter()
        .filter(|l| !delivered.contains_key(*l))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged, never delivered: {missing:?}"
    );
    let twice: Vec<_> = delivered.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    eprintln!(
        "{} acknowledged Firehose records delivered once after a SIGKILL",
        acked.len()
    );
}
