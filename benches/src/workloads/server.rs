//! The server workload: `tidelog serve` over HTTP against ferrokinesis (the Rust
//! Kinesis emulator), each driven by the same clients: PutRecord and GetRecords latency
//! (p50/p99) and PutRecords throughput through a Rust HTTP client (this repository's
//! hyper client, JSON 1.1, signed) and through boto3; and put → SubscribeToShard event
//! latency for tidelog. tidelog runs with its default `sync` durability (an fdatasync
//! before each answer, shared by concurrent puts); ferrokinesis in its default
//! (in-memory) mode.
//!
//! ferrokinesis listens on every interface with no way to choose one, so the whole
//! workload runs in a child process inside a private network namespace (`unshare -n`,
//! only its loopback up): both servers, both clients, same conditions. Without the
//! right to make one (not root, no user namespaces), the child runs without it and the
//! peer is left out, with a note. ferrokinesis is measured when its binary is found
//! (PATH, ~/.cargo/bin); otherwise a note says how to install it
//! (`cargo install ferrokinesis`). boto3 is measured when a Python with boto3 is found
//! (TIDELOG_BENCH_PYTHON, ./.venv/bin/python, python3).
//!
//! The bound on the PutRecords comparison: the same Rust clients against a sink on
//! 127.0.0.1 that reads each request and answers a fixed PutRecords reply without
//! looking at it (`server.sink.rust.put_records`). No server can be measured faster
//! than that through this client on this machine, since client and server share its
//! CPUs; its ratio to ferrokinesis is the most any server could show.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use tidelog_server::client::{Client, Credentials};
use tidelog_server::wire::{Encoding, Map, Service, Value};

use super::{Ctx, Result};
use crate::hist::Latency;
use crate::report::Row;

const KEY: &str = "AKIDBENCH";
const SECRET: &str = "bench-secret";
/// The boto3 client, run by the child with the Python it found.
const BOTO3_SCRIPT: &str = include_str!("../../python/server_boto3.py");
/// Records per PutRecords call (the Kinesis maximum, what the KPL sends).
const BATCH_RECORDS: usize = 500;
/// Concurrent PutRecords clients of the throughput case.
const PRODUCERS_DEFAULT: usize = 4;
/// Shards of the stream.
const SHARDS: u32 = 4;
/// Puts per second of the put → SubscribeToShard case.
const E2E_RATE: f64 = 1000.0;

/// What the parent hands the child (as JSON, one argument).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ChildConfig {
    tidelog: PathBuf,
    ferrokinesis: Option<PathBuf>,
    python: Option<PathBuf>,
    dir: PathBuf,
    seconds: f64,
    warmup: f64,
    record_bytes: usize,
    producers: usize,
    cores: usize,
    pin: bool,
}

/// Runs the workload (the parent side).
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let exe = std::env::current_exe()?;
    let tidelog = exe.with_file_name("tidelog");
    if !tidelog.exists() {
        return Err(format!(
            "{} not found: build it first (cargo build --release -p tidelog-server; make bench does)",
            tidelog.display()
        )
        .into());
    }
    let ferrokinesis = find_on_path("ferrokinesis");
    if ferrokinesis.is_none() {
        ctx.report.note(
            "server: ferrokinesis is not installed, so the peer was not measured \
             (install it with `cargo install ferrokinesis`)",
        );
    }
    let python = find_python();
    if python.is_none() {
        ctx.report.note(
            "server: no Python with boto3 found (TIDELOG_BENCH_PYTHON, ./.venv/bin/python, \
             python3), so boto3 was not measured (pip install boto3)",
        );
    }
    let dir = ctx.case_dir("server")?;
    let mut config = ChildConfig {
        tidelog,
        ferrokinesis,
        python,
        dir: dir.path().to_path_buf(),
        seconds: ctx.args.duration.as_secs_f64(),
        warmup: ctx.args.warmup.as_secs_f64(),
        record_bytes: ctx.args.record_bytes.unwrap_or(1024),
        producers: ctx.args.producers.unwrap_or(PRODUCERS_DEFAULT),
        cores: ctx.cores(),
        pin: ctx.args.pin,
    };
    let netns = Command::new("unshare")
        .args(["-n", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !netns && config.ferrokinesis.is_some() {
        ctx.report.note(
            "server: ferrokinesis binds every interface and no private network namespace \
             could be made here (unshare -n needs root), so the peer was not measured",
        );
        config.ferrokinesis = None;
    }
    let mut command = if netns {
        let mut c = Command::new("unshare");
        c.args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""]);
        c.arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    command
        .arg("__server-child")
        .arg(serde_json::to_string(&config)?)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    ctx.progress(&format!(
        "tidelog serve{}{}, {} s per case{}",
        if config.ferrokinesis.is_some() {
            " and ferrokinesis"
        } else {
            ""
        },
        if config.python.is_some() {
            ", Rust client and boto3"
        } else {
            ", Rust client"
        },
        config.seconds,
        if netns {
            ", in a private network namespace"
        } else {
            ""
        }
    ));
    let child = ctx.spawn_child(&mut command)?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(format!("the server child failed ({})", output.status).into());
    }
    let doc: Json = serde_json::from_slice(&output.stdout)?;
    for row in doc["rows"].as_array().into_iter().flatten() {
        let mut latency = Latency::new();
        for ns in row["samples_ns"].as_array().into_iter().flatten() {
            latency.record_ns(ns.as_u64().unwrap_or(0));
        }
        let key = row["key"].as_str().unwrap_or_default().to_string();
        ctx.report.row(Row {
            key,
            workload: "server",
            case: row["case"].as_str().unwrap_or_default().to_string(),
            mode: row["mode"].as_str().unwrap_or_default().to_string(),
            seconds: row["seconds"].as_f64().unwrap_or(0.0),
            ops: row["ops"].as_u64().unwrap_or(0),
            records: row["records"].as_u64().unwrap_or(0),
            data_bytes: row["bytes"].as_u64().unwrap_or(0),
            latency,
            cpu_ns: row["cpu_ns"].as_u64(),
        });
    }
    for note in doc["notes"].as_array().into_iter().flatten() {
        ctx.report
            .note(format!("server: {}", note.as_str().unwrap_or_default()));
    }
    Ok(())
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn find_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("TIDELOG_BENCH_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(".venv/bin/python")),
        find_on_path("python3"),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| {
            Command::new(p)
                .args(["-c", "import boto3"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|p| std::path::absolute(&p).unwrap_or(p))
}

// -- the child ---------------------------------------------------------------------------

/// Runs `__server-child CONFIG`: measures, prints the rows as JSON; returns the status.
pub fn child(config: &str) -> i32 {
    let config: ChildConfig = match serde_json::from_str(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tidelog-bench __server-child: bad config: {e}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tidelog-bench __server-child: {e}");
            return 1;
        }
    };
    match runtime.block_on(measure_all(&config)) {
        Ok(doc) => {
            println!("{doc}");
            0
        }
        Err(e) => {
            eprintln!("tidelog-bench __server-child: {e}");
            1
        }
    }
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_tidelog(config: &ChildConfig) -> Result<Server> {
    let data = config.dir.join("tidelog");
    let mut child = Command::new(&config.tidelog)
        .args(["serve", "--listen", "127.0.0.1:0", "--limits", "unlimited"])
        .arg("--cores")
        .arg(config.cores.to_string())
        .args(if config.pin {
            &[][..]
        } else {
            &["--no-pin"][..]
        })
        .arg("--data-dir")
        .arg(&data)
        // More flags for `tidelog serve` (e.g. `--durability os`), for probes.
        .args(
            std::env::var("TIDELOG_BENCH_SERVE_ARGS")
                .unwrap_or_default()
                .split_whitespace(),
        )
        .env("TIDELOG_ACCESS_KEYS", format!("{KEY}:{SECRET}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let endpoint = line
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .ok_or_else(|| format!("tidelog serve did not start: {line:?}"))?
        .to_string();
    Ok(Server { child, endpoint })
}

fn start_ferrokinesis(path: &Path) -> Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(path)
        .arg("--port")
        .arg(port.to_string())
        .args([
            "--create-stream-ms",
            "0",
            "--log-level",
            "off",
            "--shard-limit",
            "1000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("ferrokinesis did not start listening within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    })
}

fn row(
    key: String,
    case: String,
    mode: &str,
    samples: &[u64],
    seconds: f64,
    records: u64,
    bytes: u64,
) -> Json {
    json!({
        "key": key, "case": case, "mode": mode, "samples_ns": samples, "seconds": seconds,
        "ops": samples.len(), "records": records, "bytes": bytes,
    })
}

async fn measure_all(config: &ChildConfig) -> Result<Json> {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut servers: Vec<(&str, Server)> = vec![("tidelog", start_tidelog(config)?)];
    if let Some(path) = &config.ferrokinesis {
        match start_ferrokinesis(path) {
            Ok(s) => servers.push(("ferrokinesis", s)),
            Err(e) => notes.push(json!(format!("ferrokinesis could not be started: {e}"))),
        }
    }
    eprintln!("  the device: overwrite + fdatasync");
    let device_config = config.clone();
    match tokio::task::spawn_blocking(move || device_sync(&device_config)).await? {
        Ok(r) => rows.push(r),
        Err(e) => notes.push(json!(format!("the device could not be measured: {e}"))),
    }
    eprintln!("  sink: Rust client, PutRecords only");
    match put_records_ceiling(config).await {
        Ok(r) => rows.push(r),
        Err(e) => notes.push(json!(format!("the sink could not be measured: {e}"))),
    }
    for (name, server) in &servers {
        eprintln!("  {name}: Rust client");
        let client = Client::new(
            &server.endpoint,
            Some(Credentials {
                access_key: KEY.into(),
                secret: SECRET.into(),
            }),
            "us-east-1",
            Encoding::Json,
        )?;
        prepare(&client).await?;
        let pid = server.child.id();
        rows.extend(rust_client(config, name, &client, pid).await?);
        if *name == "tidelog" {
            rows.push(subscribe_latency(config, &client).await?);
        }
        if let Some(python) = &config.python {
            eprintln!("  {name}: boto3");
            match boto3(config, python, &server.endpoint) {
                Ok(r) => rows.extend(r.into_iter().map(|mut r| {
                    r["key"] = json!(format!("server.{name}.{}", r["key"].as_str().unwrap_or("")));
                    r["case"] = json!(format!("{name}: {}", r["case"].as_str().unwrap_or("")));
                    r
                })),
                Err(e) => notes.push(json!(format!("boto3 against {name} failed: {e}"))),
            }
        }
    }
    Ok(json!({ "rows": rows, "notes": notes }))
}

async fn call(client: &Client, op: &str, input: Map) -> Result<Map> {
    Ok(client
        .call(Service::Kinesis, op, &Value::Map(input))
        .await?)
}

async fn prepare(client: &Client) -> Result<()> {
    call(
        client,
        "CreateStream",
        Map::new()
            .with("StreamName", "bench")
            .with("ShardCount", SHARDS),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = call(
            client,
            "DescribeStreamSummary",
            Map::new().with("StreamName", "bench"),
        )
        .await?;
        let active = d
            .get("StreamDescriptionSummary")
            .and_then(Value::as_map)
            .and_then(|s| s.get("StreamStatus"))
            == Some(&Value::Str("ACTIVE".into()));
        if active {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the stream did not become ACTIVE within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn put_record_input(data: &[u8], key: &str) -> Map {
    Map::new()
        .with("StreamName", "bench")
        .with("PartitionKey", key)
        .with("ExplicitHashKey", "0")
        .with("Data", Value::Bytes(data.to_vec().into()))
}

async fn rust_client(
    config: &ChildConfig,
    name: &str,
    client: &Client,
    server_pid: u32,
) -> Result<Vec<Json>> {
    let data = vec![b'r'; config.record_bytes];
    let warmup = Duration::from_secs_f64(config.warmup);
    let seconds = Duration::from_secs_f64(config.seconds);
    let mut rows = Vec::new();

    // PutRecord latency, one client, closed loop.
    let input = Value::Map(put_record_input(&data, "k"));
    let timed = time_calls(warmup, seconds, || async {
        client
            .call(Service::Kinesis, "PutRecord", &input)
            .await
            .map(|_| 1)
    })
    .await?;
    rows.push(row(
        format!("server.{name}.rust.put_record"),
        format!("{name}: PutRecord {} B, Rust client", config.record_bytes),
        "closed loop, one client",
        &timed.samples,
        timed.seconds,
        timed.moved,
        timed.moved * config.record_bytes as u64,
    ));

    // GetRecords of up to 100 records from shard 0 (which holds the puts above).
    let it = call(
        client,
        "GetShardIterator",
        Map::new()
            .with("StreamName", "bench")
            .with("ShardId", "shardId-000000000000")
            .with("ShardIteratorType", "TRIM_HORIZON"),
    )
    .await?;
    let iterator = it.get("ShardIterator").cloned().ok_or("no iterator")?;
    let input = Value::Map(
        Map::new()
            .with("ShardIterator", iterator)
            .with("Limit", 100u32),
    );
    let timed = time_calls(warmup, seconds, || async {
        let out = client.call(Service::Kinesis, "GetRecords", &input).await?;
        Ok(match out.get("Records") {
            Some(Value::List(l)) => l.len() as u64,
            _ => 0,
        })
    })
    .await?;
    rows.push(row(
        format!("server.{name}.rust.get_records"),
        format!("{name}: GetRecords of up to 100, Rust client"),
        "closed loop, one client",
        &timed.samples,
        timed.seconds,
        timed.moved,
        timed.moved * config.record_bytes as u64,
    ));

    rows.push(put_records_rows(config, name, client, Some(server_pid)).await?);
    Ok(rows)
}

/// PutRecords throughput: `--producers` clients, 500 records each call, closed loop.
/// PutRecords throughput: `config.producers` clients in a closed loop. With
/// `server_pid`, the row also carries the server process's CPU time over the measured
/// interval (read after the warm-up and when the interval ends), so CPU per request is
/// reported beside throughput: on a shared 2-CPU machine throughput moves with the
/// neighbours, CPU per request much less.
async fn put_records_rows(
    config: &ChildConfig,
    name: &str,
    client: &Client,
    server_pid: Option<u32>,
) -> Result<Json> {
    let data = vec![b'r'; config.record_bytes];
    let warmup = Duration::from_secs_f64(config.warmup);
    let seconds = Duration::from_secs_f64(config.seconds);
    let records: Vec<Value> = (0..BATCH_RECORDS)
        .map(|i| {
            Map::new()
                .with("PartitionKey", format!("p{i}"))
                .with("Data", Value::Bytes(data.clone().into()))
                .into()
        })
        .collect();
    let input = Arc::new(Value::Map(
        Map::new()
            .with("StreamName", "bench")
            .with("Records", Value::List(records)),
    ));
    let mut tasks = Vec::new();
    for _ in 0..config.producers {
        let client = client.clone();
        let input = Arc::clone(&input);
        tasks.push(tokio::spawn(async move {
            time_calls(warmup, seconds, || async {
                let out = client.call(Service::Kinesis, "PutRecords", &input).await?;
                let failed = match out.get("FailedRecordCount") {
                    Some(Value::Int(n)) => *n as u64,
                    _ => 0,
                };
                Ok(BATCH_RECORDS as u64 - failed)
            })
            .await
        }));
    }
    let server_cpu = server_pid.map(|pid| {
        tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            let before = crate::sys::process_cpu_ns_of(pid);
            tokio::time::sleep(seconds).await;
            crate::sys::process_cpu_ns_of(pid).saturating_sub(before)
        })
    });
    let (mut samples, mut moved, mut longest) = (Vec::new(), 0, 0.0f64);
    for t in tasks {
        let timed = t.await??;
        samples.extend(timed.samples);
        moved += timed.moved;
        longest = longest.max(timed.seconds);
    }
    let mut row = row(
        format!("server.{name}.rust.put_records"),
        format!(
            "{name}: PutRecords of {BATCH_RECORDS} x {} B, {} Rust clients",
            config.record_bytes, config.producers
        ),
        "closed loop per client",
        &samples,
        longest,
        moved,
        moved * config.record_bytes as u64,
    );
    if let Some(cpu) = server_cpu {
        let cpu_ns = cpu.await?;
        if cpu_ns > 0 {
            row["cpu_ns"] = json!(cpu_ns);
        }
    }
    Ok(row)
}

/// The floor of any answer that waits for an fdatasync: a record-sized overwrite of an
/// already written block of a file in the data directory, then `fdatasync`, closed
/// loop (no metadata to commit: the least a durable write costs on this device).
fn device_sync(config: &ChildConfig) -> Result<Json> {
    use std::os::unix::fs::FileExt;
    const BLOCKS: u64 = 256;
    let path = config.dir.join("device-sync.bin");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let stride = (config.record_bytes as u64).div_ceil(4096) * 4096;
    file.write_all_at(&vec![0u8; (stride * BLOCKS) as usize], 0)?;
    file.sync_all()?;
    let record = vec![b'd'; config.record_bytes];
    let (warmup, seconds) = (
        Duration::from_secs_f64(config.warmup),
        Duration::from_secs_f64(config.seconds),
    );
    let mut samples = Vec::new();
    let start = Instant::now();
    let mut i = 0u64;
    let measured_from = start + warmup;
    while start.elapsed() < warmup + seconds {
        let t = Instant::now();
        file.write_all_at(&record, (i % BLOCKS) * stride)?;
        file.sync_data()?;
        if t >= measured_from {
            samples.push(t.elapsed().as_nanos() as u64);
        }
        i += 1;
    }
    drop(file);
    std::fs::remove_file(&path)?;
    let n = samples.len() as u64;
    Ok(row(
        "server.device.fdatasync".to_string(),
        format!(
            "the device: pwrite {} B over a written block + fdatasync",
            config.record_bytes
        ),
        "closed loop, one thread",
        &samples,
        seconds.as_secs_f64(),
        n,
        n * config.record_bytes as u64,
    ))
}

/// The Rust clients' PutRecords against [`sink`]: the ceiling of the comparison.
async fn put_records_ceiling(config: &ChildConfig) -> Result<Json> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(sink(listener));
    let client = Client::new(
        &endpoint,
        Some(Credentials {
            access_key: KEY.into(),
            secret: SECRET.into(),
        }),
        "us-east-1",
        Encoding::Json,
    )?;
    let result = put_records_rows(config, "sink", &client, None).await;
    server.abort();
    result
}

/// Accepts connections and answers every HTTP/1.1 request on them, after reading its
/// body, with the same successful PutRecords reply of [`BATCH_RECORDS`] records.
async fn sink(listener: tokio::net::TcpListener) {
    let entry = r#"{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ShardId":"shardId-000000000000"}"#;
    let body = format!(
        r#"{{"FailedRecordCount":0,"Records":[{}],"EncryptionType":"NONE"}}"#,
        vec![entry; BATCH_RECORDS].join(",")
    );
    let reply: Arc<[u8]> = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amzn-requestid: sink\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
    .into();
    while let Ok((stream, _)) = listener.accept().await {
        let reply = Arc::clone(&reply);
        tokio::spawn(async move {
            let _ = sink_connection(stream, &reply).await;
        });
    }
}

async fn sink_connection(mut stream: tokio::net::TcpStream, reply: &[u8]) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 256 << 10];
    loop {
        // The head, then as many body bytes as its content-length says.
        let head_end = loop {
            if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        buffer.drain(..head_end + length);
        stream.write_all(reply).await?;
    }
}

struct Timed {
    samples: Vec<u64>,
    seconds: f64,
    moved: u64,
}

type CallResult = std::result::Result<u64, tidelog_server::client::ClientError>;

async fn time_calls<F, Fut>(warmup: Duration, seconds: Duration, mut op: F) -> Result<Timed>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = CallResult>,
{
    let warm_end = Instant::now() + warmup;
    while Instant::now() < warm_end {
        op().await?;
    }
    let mut samples = Vec::new();
    let mut moved = 0;
    let start = Instant::now();
    while start.elapsed() < seconds {
        let t = Instant::now();
        moved += op().await?;
        samples.push(t.elapsed().as_nanos() as u64);
    }
    Ok(Timed {
        samples,
        seconds: start.elapsed().as_secs_f64(),
        moved,
    })
}

/// Put → SubscribeToShard event: a producer puts records carrying their send time at
/// E2E_RATE; a subscriber over HTTP/1.1 records when each arrives.
async fn subscribe_latency(config: &ChildConfig, client: &Client) -> Result<Json> {
    // SubscribeToShard reads through a registered enhanced fan-out consumer.
    let registered = call(
        client,
        "RegisterStreamConsumer",
        Map::new()
            .with(
                "StreamARN",
                "arn:aws:kinesis:us-east-1:000000000000:stream/bench",
            )
            .with("ConsumerName", "bench"),
    )
    .await?;
    let consumer = registered.get("Consumer").and_then(Value::as_map);
    let consumer_arn = match consumer.and_then(|c| c.get("ConsumerARN")) {
        Some(Value::Str(arn)) => arn.clone(),
        other => return Err(format!("RegisterStreamConsumer answered {other:?}").into()),
    };
    let input = Value::Map(
        Map::new()
            .with("ConsumerARN", consumer_arn)
            .with("ShardId", "shardId-000000000000")
            .with("StartingPosition", Map::new().with("Type", "LATEST")),
    );
    let mut events = client.subscribe_to_shard(&input).await?;
    let base = Instant::now();
    let measuring = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let client = client.clone();
        let (measuring, sent, done) =
            (Arc::clone(&measuring), Arc::clone(&sent), Arc::clone(&done));
        let size = config.record_bytes.max(9);
        let (warmup, seconds) = (config.warmup, config.seconds);
        tokio::spawn(async move {
            let mut data = vec![0u8; size];
            let gap = Duration::from_secs_f64(1.0 / E2E_RATE);
            let start = Instant::now();
            let mut next = start;
            loop {
                let now = start.elapsed().as_secs_f64();
                if now > warmup + seconds {
                    break;
                }
                let in_window = now >= warmup;
                measuring.store(in_window, Ordering::Relaxed);
                data[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_le_bytes());
                data[8] = u8::from(in_window);
                let input = Value::Map(put_record_input(&data, "e2e"));
                if client
                    .call(Service::Kinesis, "PutRecord", &input)
                    .await
                    .is_err()
                {
                    break;
                }
                sent.fetch_add(u64::from(in_window), Ordering::Relaxed);
                next += gap;
                tokio::time::sleep_until(next.into()).await;
            }
            done.store(true, Ordering::Release);
        })
    };
    let mut samples = Vec::new();
    let window_start = Instant::now();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), events.next()).await;
        let Ok(Ok(Some(message))) = message else {
            break;
        };
        if message.header(":event-type") != Some("SubscribeToShardEvent") {
            continue;
        }
        let now = base.elapsed().as_nanos() as u64;
        let body = tidelog_server::wire::json::decode(Service::Kinesis, &message.payload)?;
        if let Some(Value::List(records)) = body.get("Records") {
            for r in records {
                if let Some(Value::Bytes(d)) = r.as_map().and_then(|m| m.get("Data")) {
                    if d.len() >= 9 && d[8] == 1 {
                        let at = u64::from_le_bytes(d[..8].try_into().unwrap_or_default());
                        samples.push(now.saturating_sub(at));
                    }
                }
            }
        }
        if done.load(Ordering::Acquire) && samples.len() as u64 >= sent.load(Ordering::Relaxed) {
            break;
        }
    }
    producer.await?;
    let expected = sent.load(Ordering::Relaxed);
    if (samples.len() as u64) < expected {
        return Err(format!(
            "the subscriber saw {} of the {expected} records put in the window",
            samples.len()
        )
        .into());
    }
    let _ = measuring;
    Ok(row(
        "server.tidelog.e2e.subscribe".to_string(),
        format!(
            "tidelog: sync PutRecord {} B -> SubscribeToShard event (HTTP/1.1), {E2E_RATE:.0}/s",
            config.record_bytes
        ),
        "open loop, from the put call to the event",
        &samples,
        window_start
            .elapsed()
            .as_secs_f64()
            .min(config.seconds + config.warmup),
        samples.len() as u64,
        samples.len() as u64 * config.record_bytes as u64,
    ))
}

fn boto3(config: &ChildConfig, python: &Path, endpoint: &str) -> Result<Vec<Json>> {
    let script = config.dir.join("server_boto3.py");
    std::fs::write(&script, BOTO3_SCRIPT)?;
    let out = Command::new(python)
        .arg(&script)
        .arg(endpoint)
        .arg(config.seconds.to_string())
        .arg(config.warmup.to_string())
        .arg(config.record_bytes.to_string())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("the boto3 client failed ({})", out.status).into());
    }
    let doc: Json = serde_json::from_slice(&out.stdout)?;
    let samples = |k: &str| -> Vec<u64> {
        doc[k]["samples_ns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Json::as_u64)
            .collect()
    };
    let size = config.record_bytes as u64;
    let put = samples("put_record");
    let get = samples("get_records");
    let batch = samples("put_records");
    let moved = doc["put_records"]["records"].as_u64().unwrap_or(0);
    Ok(vec![
        row(
            "boto3.put_record".into(),
            format!("PutRecord {size} B, boto3"),
            "closed loop, one client",
            &put,
            doc["put_record"]["seconds"].as_f64().unwrap_or(0.0),
            put.len() as u64,
            put.len() as u64 * size,
        ),
        row(
            "boto3.get_records".into(),
            "GetRecords of up to 100, boto3".into(),
            "closed loop, one client",
            &get,
            doc["get_records"]["seconds"].as_f64().unwrap_or(0.0),
            get.len() as u64,
            0,
        ),
        row(
            "boto3.put_records".into(),
            format!("PutRecords of 500 x {size} B, boto3, one client"),
            "closed loop, one client",
            &batch,
            doc["put_records"]["seconds"].as_f64().unwrap_or(0.0),
            moved,
            moved * size,
        ),
    ])
}
