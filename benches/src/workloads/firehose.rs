//! Firehose delivery streams: DirectPut ingest (PutRecordBatch of 500 × 1 KiB, one
//! producer and many, `os` durability) beside the engine's own PutRecords of the same
//! batches and moto's Firehose through boto3 (when a Python with moto is found); put →
//! object visible at IntervalInSeconds 0; delivery throughput (a stream read from its
//! trim horizon, buffers of 128 MB) to the directory store, uncompressed and GZIP, and
//! to moto's S3 server when available; and a transform's cost per record. Issue 14's
//! destinations: PostgreSQL (staged + COPY, beside a plain COPY of the same rows),
//! an HTTP endpoint on 127.0.0.1, and JSON -> Parquet conversion (beside pyarrow's
//! JSON reader and Parquet writer on the same lines).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tidelog::{Durability, PutRecordsEntry};
use tidelog_firehose::{
    BucketStore, Firehose, FirehoseConfig, IngestLimits, S3Connection, TransformInput,
    TransformResult, TransformedRecord, api,
};

use super::{Ctx, Result, run_threads};
use crate::pace::Pace;
use crate::report::Row;

const RECORD_BYTES: usize = 1024;
const BATCH: usize = 500;
const ROLE: &str = "arn:aws:iam::123456789012:role/bench";

fn config(tick_ms: u64) -> FirehoseConfig {
    let mut c = FirehoseConfig::new();
    c.ingest_limits = IngestLimits::unlimited();
    c.tick = Duration::from_millis(tick_ms);
    c.buffered_bytes_max = 1 << 30;
    c
}

fn create(fh: &Firehose, name: &str, destination: Value, source: Option<&str>) -> Result<()> {
    let mut request =
        json!({"DeliveryStreamName": name, "ExtendedS3DestinationConfiguration": destination});
    if let Some(stream) = source {
        request["DeliveryStreamType"] = json!("KinesisStreamAsSource");
        request["KinesisStreamSourceConfiguration"] = json!({
            "KinesisStreamARN": format!("arn:aws:kinesis:local:000000000000:stream/{stream}"),
            "RoleARN": ROLE, "StartingPosition": "TRIM_HORIZON"});
    }
    api::call(fh, "CreateDeliveryStream", request).map_err(|e| e.to_string())?;
    Ok(())
}

/// Runs every case.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let producers = ctx.args.producers.unwrap_or(2).max(2);
    ingest(ctx, 1)?;
    ingest(ctx, producers)?;
    engine_baseline(ctx)?;
    moto_baseline(ctx);
    visible(ctx)?;
    // Volumes scale with --duration (1 s: 256 MiB to the directory).
    let secs = ctx.args.duration.as_secs_f64();
    let dir_bytes = ((secs * 256.0) as u64).clamp(4, 1024) << 20;
    delivery(ctx, "dir", "UNCOMPRESSED", dir_bytes, None)?;
    delivery(ctx, "dir", "GZIP", dir_bytes / 4, None)?;
    transform_cost(ctx, dir_bytes / 4)?;
    let secs2 = ctx.args.duration.as_secs_f64();
    let rows = ((secs2 * 400_000.0) as u64).clamp(5_000, 2_000_000);
    if let Err(e) = postgres_delivery(ctx, rows) {
        ctx.progress(&format!("PostgreSQL delivery not measured: {e}"));
    }
    http_delivery(ctx, dir_bytes / 4)?;
    parquet_conversion(ctx, rows)?;
    match moto_binary() {
        Some(binary) => {
            let s3_bytes = ((secs * 32.0) as u64).clamp(2, 64) << 20;
            let server = Moto::start(&binary)?;
            delivery(ctx, "s3", "UNCOMPRESSED", s3_bytes, Some(&server))?;
            delivery(ctx, "s3", "GZIP", s3_bytes, Some(&server))?;
        }
        None => {
            ctx.progress("moto_server not found (tests/services/setup.sh): no S3 delivery case")
        }
    }
    Ok(())
}

fn ingest(ctx: &mut Ctx<'_>, producers: usize) -> Result<()> {
    ctx.progress(&format!(
        "DirectPut ingest, 1 KiB records, {producers} producer(s)"
    ));
    let dir = ctx.case_dir("firehose-ingest")?;
    let mut ec = ctx.engine_config(dir.path());
    ec.durability = Durability::Os;
    let engine = ctx.open_engine(ec)?;
    let fh = Firehose::open(&engine, config(50))?;
    create(
        &fh,
        "ingest",
        json!({"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench",
               "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900}}),
        None,
    )?;
    let data = vec![0x61u8; RECORD_BYTES];
    let batch: Vec<&[u8]> = (0..BATCH).map(|_| data.as_slice()).collect();
    let many = run_threads(ctx, producers, Pace::Closed, &|_| {
        let out = fh.put_record_batch("ingest", &batch)?;
        if out.failed_put_count > 0 {
            return Err(format!("{} records failed", out.failed_put_count).into());
        }
        Ok(BATCH as u64)
    });
    fh.close()?;
    engine.close()?;
    let many = many?;
    ctx.report.row(Row {
        key: format!("firehose.ingest.p{producers}"),
        workload: "firehose",
        case: format!("DirectPut PutRecordBatch {BATCH} x 1 KiB, os, {producers} producer(s)"),
        mode: "closed loop".to_string(),
        seconds: many.measured.seconds,
        ops: many.ops,
        records: many.records,
        data_bytes: many.records * RECORD_BYTES as u64,
        cpu_ns: Some(many.measured.cpu_ns),
        latency: many.latency,
    });
    Ok(())
}

/// The same batches straight into a one-shard stream (what a DirectPut buffer costs).
fn engine_baseline(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.progress("baseline: engine PutRecords of the same batches, one shard");
    let dir = ctx.case_dir("firehose-engine-baseline")?;
    let mut ec = ctx.engine_config(dir.path());
    ec.durability = Durability::Os;
    let engine = ctx.open_engine(ec)?;
    engine.create_stream("raw", 1)?;
    let data = vec![0x61u8; RECORD_BYTES];
    let entries: Vec<PutRecordsEntry<'_>> = (0..BATCH)
        .map(|_| PutRecordsEntry {
            partition_key: "0",
            data: &data,
            explicit_hash_key: None,
        })
        .collect();
    let many = run_threads(ctx, 1, Pace::Closed, &|_| {
        engine.put_records("raw", &entries, None)?;
        Ok(BATCH as u64)
    });
    engine.close()?;
    let many = many?;
    ctx.report.row(Row {
        key: "firehose.baseline.engine".to_string(),
        workload: "firehose",
        case: format!("baseline: engine PutRecords {BATCH} x 1 KiB, os, 1 shard"),
        mode: "closed loop".to_string(),
        seconds: many.measured.seconds,
        ops: many.ops,
        records: many.records,
        data_bytes: many.records * RECORD_BYTES as u64,
        cpu_ns: Some(many.measured.cpu_ns),
        latency: many.latency,
    });
    Ok(())
}

fn python_with_moto() -> Option<PathBuf> {
    python_with("import moto, boto3")
}

/// moto's Firehose through boto3, in-process (what Python users reach for locally).
fn moto_baseline(ctx: &mut Ctx<'_>) {
    let Some(python) = python_with_moto() else {
        ctx.progress("no Python with moto and boto3: no moto baseline");
        return;
    };
    ctx.progress("baseline: moto's Firehose through boto3 (PutRecordBatch 500 x 1 KiB)");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/moto_firehose.py");
    let seconds = ctx.args.duration.as_secs_f64().max(0.05);
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(seconds.to_string())
        .output();
    let parsed = out
        .ok()
        .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok());
    match parsed {
        Some(v) => {
            let records = v["records"].as_f64().unwrap_or(0.0);
            let secs = v["seconds"].as_f64().unwrap_or(1.0);
            ctx.report.figure(
                "firehose",
                "firehose.baseline.moto_records_per_sec",
                "baseline: moto Firehose via boto3, records/s (PutRecordBatch 500 x 1 KiB)",
                records / secs.max(1e-9),
                "records/s",
            );
        }
        None => ctx.progress("the moto baseline script failed: no figure"),
    }
}

/// Waits until the delivery stream has delivered `records` records.
fn wait_delivered(fh: &Firehose, name: &str, records: u64, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if fh.metrics(name)?.delivery_to_s3_records >= records {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{name}: delivery did not finish in {timeout:?}").into());
        }
        std::thread::yield_now();
    }
}

fn visible(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.progress("put -> object visible, IntervalInSeconds 0, 1 KiB records");
    let dir = ctx.case_dir("firehose-visible")?;
    let mut ec = ctx.engine_config(dir.path());
    ec.durability = Durability::Os;
    let engine = ctx.open_engine(ec)?;
    let fh = Firehose::open(&engine, config(50))?;
    create(
        &fh,
        "now",
        json!({"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench",
               "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}),
        None,
    )?;
    let data = vec![0x62u8; RECORD_BYTES];
    let mut delivered = 0u64;
    let mut one = |measure: bool, latency: &mut crate::hist::Latency| -> Result<()> {
        let start = Instant::now();
        fh.put_record("now", &data)?;
        delivered += 1;
        wait_delivered(&fh, "now", delivered, Duration::from_secs(30))?;
        if measure {
            latency.record(start.elapsed());
        }
        Ok(())
    };
    let mut latency = crate::hist::Latency::new();
    let warm_end = Instant::now() + ctx.args.warmup;
    while Instant::now() < warm_end {
        one(false, &mut latency)?;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < ctx.args.duration || n < 5 {
        one(true, &mut latency)?;
        n += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    fh.close()?;
    engine.close()?;
    ctx.report.row(Row {
        key: "firehose.visible".to_string(),
        workload: "firehose",
        case: "put -> object renamed into place, interval 0, 1 KiB, os".to_string(),
        mode: "one at a time".to_string(),
        seconds,
        ops: n,
        records: n,
        data_bytes: n * RECORD_BYTES as u64,
        cpu_ns: None,
        latency,
    });
    Ok(())
}

struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Moto {
    fn start(binary: &Path) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = std::process::Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let mut server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let _ = server.child.kill();
                return Err("moto did not start".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        write!(
            s,
            "PUT /bench HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        if !answer.starts_with("HTTP/1.1 200") {
            server.child.kill()?;
            return Err(format!("moto refused the bucket: {answer}").into());
        }
        Ok(server)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> Option<PathBuf> {
    std::env::var_os("TIDELOG_MOTO_SERVER")
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .or_else(|| {
            let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
            p.exists().then_some(p)
        })
}

/// Fills a stream with `bytes` of 1 KiB records, then times a delivery stream reading
/// it from the trim horizon until every record is delivered.
fn delivery(
    ctx: &mut Ctx<'_>,
    store: &str,
    compression: &str,
    bytes: u64,
    moto: Option<&Moto>,
) -> Result<()> {
    timed_delivery(ctx, store, compression, bytes, moto, false).map(|_| ())
}

fn timed_delivery(
    ctx: &mut Ctx<'_>,
    store: &str,
    compression: &str,
    bytes: u64,
    moto: Option<&Moto>,
    transform: bool,
) -> Result<f64> {
    let what = if transform {
        " with an identity transform"
    } else {
        ""
    };
    ctx.progress(&format!(
        "delivery to {store}, {compression}{what}, {} MiB of 1 KiB records",
        bytes >> 20
    ));
    let dir = ctx.case_dir("firehose-delivery")?;
    let mut ec = ctx.engine_config(dir.path());
    ec.durability = Durability::Os;
    let engine = ctx.open_engine(ec)?;
    engine.create_stream("src", 1)?;
    let records = bytes / RECORD_BYTES as u64;
    let data = vec![0x63u8; RECORD_BYTES];
    let entries: Vec<PutRecordsEntry<'_>> = (0..BATCH)
        .map(|_| PutRecordsEntry {
            partition_key: "k",
            data: &data,
            explicit_hash_key: None,
        })
        .collect();
    let mut put = 0;
    while put < records {
        let n = (records - put).min(BATCH as u64) as usize;
        engine.put_records("src", &entries[..n], Some(Durability::Os))?;
        put += n as u64;
    }
    let mut fc = config(5);
    fc.kinesis_poll_interval = Duration::from_millis(1);
    if let Some(m) = moto {
        let mut conn = S3Connection::local(&m.endpoint, "testing", "testing");
        conn.multipart_threshold_bytes = 64 << 20;
        conn.multipart_part_bytes = 16 << 20;
        fc.buckets.insert("bench".into(), BucketStore::S3(conn));
    }
    let fh = Firehose::open(&engine, fc)?;
    let mut destination = json!({"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench",
        "CompressionFormat": compression,
        "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900}});
    if transform {
        fh.register_transform(
            "identity",
            Arc::new(|input: &TransformInput| {
                Ok(input
                    .records
                    .iter()
                    .map(|r| TransformedRecord {
                        record_id: r.record_id.clone(),
                        result: TransformResult::Ok,
                        data: r.data.to_vec(),
                        partition_keys: Default::default(),
                    })
                    .collect())
            }),
            Duration::from_secs(60),
        )?;
        destination["ProcessingConfiguration"] = json!({"Enabled": true, "Processors": [{"Type": "Lambda",
            "Parameters": [{"ParameterName": "LambdaArn", "ParameterValue": "arn:aws:lambda:local:000000000000:function:identity"},
                           {"ParameterName": "BufferSizeInMBs", "ParameterValue": "3"}]}]});
    }
    let start = Instant::now();
    create(&fh, "out", destination, Some("src"))?;
    let total = records;
    // Full buffers go out on their own; the flush sends the last, partial one.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let m = fh.metrics("out")?;
        if m.data_read_from_kinesis_stream_records >= total {
            break;
        }
        if Instant::now() > deadline {
            return Err("the source was not read within 10 minutes".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    fh.flush("out", Duration::from_secs(600))?;
    wait_delivered(&fh, "out", total, Duration::from_secs(600))?;
    let seconds = start.elapsed().as_secs_f64();
    let objects = fh.metrics("out")?.delivery_to_s3_object_count;
    fh.close()?;
    engine.close()?;
    let key = format!(
        "firehose.delivery.{store}.{}{}",
        compression.to_lowercase(),
        if transform { ".transform" } else { "" }
    );
    ctx.report.row(Row {
        key,
        workload: "firehose",
        case: format!(
            "delivery to {store}, {compression}{what}, {} MiB in {objects} object(s), 128 MB buffers",
            bytes >> 20
        ),
        mode: "read from trim horizon".to_string(),
        seconds,
        ops: objects,
        records,
        data_bytes: records * RECORD_BYTES as u64,
        cpu_ns: None,
        latency: one_sample(seconds),
    });
    Ok(seconds / records.max(1) as f64)
}

fn transform_cost(ctx: &mut Ctx<'_>, bytes: u64) -> Result<()> {
    let plain = timed_delivery(ctx, "dir", "UNCOMPRESSED", bytes, None, false)?;
    let with = timed_delivery(ctx, "dir", "UNCOMPRESSED", bytes, None, true)?;
    ctx.report.figure(
        "firehose",
        "firehose.transform.ns_per_record",
        "transform (identity Rust closure) cost per 1 KiB record, delivery with minus without",
        ((with - plain) * 1e9).max(0.0),
        "ns",
    );
    Ok(())
}

/// Fills a one-shard stream with `records`, then times a KinesisStreamAsSource delivery
/// stream (TRIM_HORIZON) with `destination` until `done(metrics)` holds.
fn time_from_stream(
    ctx: &mut Ctx<'_>,
    name: &str,
    records: &[Vec<u8>],
    create_request: Value,
    done: &dyn Fn(&tidelog_firehose::Metrics) -> bool,
) -> Result<f64> {
    let dir = ctx.case_dir(name)?;
    let mut ec = ctx.engine_config(dir.path());
    ec.durability = Durability::Os;
    let engine = ctx.open_engine(ec)?;
    engine.create_stream("src", 1)?;
    for chunk in records.chunks(BATCH) {
        let entries: Vec<PutRecordsEntry<'_>> = chunk
            .iter()
            .map(|r| PutRecordsEntry {
                partition_key: "k",
                data: r,
                explicit_hash_key: None,
            })
            .collect();
        engine.put_records("src", &entries, Some(Durability::Os))?;
    }
    let mut fc = config(5);
    fc.kinesis_poll_interval = Duration::from_millis(1);
    let fh = Firehose::open(&engine, fc)?;
    let mut request = create_request;
    request["DeliveryStreamName"] = json!("out");
    request["DeliveryStreamType"] = json!("KinesisStreamAsSource");
    request["KinesisStreamSourceConfiguration"] = json!({
        "KinesisStreamARN": "arn:aws:kinesis:local:000000000000:stream/src",
        "RoleARN": ROLE, "StartingPosition": "TRIM_HORIZON"});
    let start = Instant::now();
    api::call(&fh, "CreateDeliveryStream", request).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let m = fh.metrics("out")?;
        if m.data_read_from_kinesis_stream_records >= records.len() as u64 {
            break;
        }
        if Instant::now() > deadline {
            return Err("the source was not read in time".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    fh.flush("out", Duration::from_secs(900))?;
    let deadline = Instant::now() + Duration::from_secs(900);
    while !done(&fh.metrics("out")?) {
        if Instant::now() > deadline {
            return Err("delivery did not finish in time".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let seconds = start.elapsed().as_secs_f64();
    fh.close()?;
    engine.close()?;
    Ok(seconds)
}

struct PostgresServer {
    dir: String,
    url: String,
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/services/postgres.sh");
        let _ = std::process::Command::new(script)
            .args(["stop", &self.dir])
            .output();
    }
}

fn postgres_delivery(ctx: &mut Ctx<'_>, rows: u64) -> Result<()> {
    ctx.progress(&format!(
        "delivery to PostgreSQL (COPY, CSV), {rows} rows, and a plain COPY of the same data"
    ));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/services/postgres.sh");
    let dir = format!("/tmp/tidelog-bench-pg-{}", std::process::id());
    let out = std::process::Command::new(&script)
        .args(["start", &dir])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "PostgreSQL did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let server = PostgresServer {
        dir,
        url: String::from_utf8(out.stdout)?.trim().to_string(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let records: Vec<Vec<u8>> = (0..rows)
        .map(|i| format!("{i},customer-{},{}\n", i % 1000, "x".repeat(80)).into_bytes())
        .collect();
    let all: Vec<u8> = records.concat();
    // The baseline: the same rows through one COPY ... FROM STDIN, by hand.
    let baseline_s = rt.block_on(async {
        use futures::SinkExt;
        let (client, conn) = tokio_postgres::connect(&server.url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        client
            .batch_execute("CREATE TABLE plain (id bigint, customer text, payload text); CREATE TABLE fh (id bigint, customer text, payload text);")
            .await?;
        let start = Instant::now();
        let sink = client.copy_in::<_, bytes::Bytes>("COPY plain FROM STDIN WITH (FORMAT csv)").await?;
        futures::pin_mut!(sink);
        sink.send(bytes::Bytes::from(all.clone())).await?;
        sink.finish().await?;
        Ok::<f64, tokio_postgres::Error>(start.elapsed().as_secs_f64())
    })?;
    let destination = json!({"RedshiftDestinationConfiguration": {
        "RoleARN": ROLE, "ClusterJDBCURL": format!("jdbc:{}", server.url),
        "CopyCommand": {"DataTableName": "fh", "CopyOptions": "CSV"},
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench",
                            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900}}}});
    let seconds = time_from_stream(ctx, "firehose-postgres", &records, destination, &|m| {
        m.delivery_to_redshift_records >= rows
    })?;
    ctx.report.row(Row {
        key: "firehose.delivery.postgres".to_string(),
        workload: "firehose",
        case: format!("delivery to PostgreSQL: staged object + COPY (CSV), {rows} rows of ~100 B"),
        mode: "read from trim horizon".to_string(),
        seconds,
        ops: 1,
        records: rows,
        data_bytes: all.len() as u64,
        cpu_ns: None,
        latency: one_sample(seconds),
    });
    ctx.report.figure(
        "firehose",
        "firehose.baseline.postgres_copy_rows_per_sec",
        "baseline: one plain COPY ... FROM STDIN of the same rows, rows/s",
        rows as f64 / baseline_s.max(1e-9),
        "records/s",
    );
    Ok(())
}

fn http_delivery(ctx: &mut Ctx<'_>, bytes: u64) -> Result<()> {
    ctx.progress(&format!(
        "delivery to an HTTP endpoint on 127.0.0.1, {} MiB of 1 KiB records",
        bytes >> 20
    ));
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://127.0.0.1:{}/", listener.local_addr()?.port());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                let Ok(clone) = stream.try_clone() else {
                    return;
                };
                let mut reader = BufReader::new(clone);
                let mut out = stream;
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let id = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v["requestId"].as_str().map(str::to_string))
                        .unwrap_or_default();
                    let answer = json!({"requestId": id, "timestamp": 0}).to_string();
                    if write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    )
                    .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let records: Vec<Vec<u8>> = (0..bytes / RECORD_BYTES as u64)
        .map(|_| vec![0x64u8; RECORD_BYTES])
        .collect();
    let n = records.len() as u64;
    let destination = json!({"HttpEndpointDestinationConfiguration": {
        "EndpointConfiguration": {"Url": url},
        "BufferingHints": {"SizeInMBs": 4, "IntervalInSeconds": 900},
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench"}}});
    let seconds = time_from_stream(ctx, "firehose-http", &records, destination, &|m| {
        m.delivery_to_http_endpoint_records >= n
    })?;
    ctx.report.row(Row {
        key: "firehose.delivery.http".to_string(),
        workload: "firehose",
        case: format!(
            "delivery to an HTTP endpoint (127.0.0.1), {} MiB of 1 KiB records, 4 MB requests",
            bytes >> 20
        ),
        mode: "read from trim horizon".to_string(),
        seconds,
        ops: 1,
        records: n,
        data_bytes: n * RECORD_BYTES as u64,
        cpu_ns: None,
        latency: one_sample(seconds),
    });
    Ok(())
}

fn parquet_conversion(ctx: &mut Ctx<'_>, rows: u64) -> Result<()> {
    ctx.progress(&format!(
        "JSON -> Parquet conversion to the directory store, {rows} records of ~126 B"
    ));
    let records: Vec<Vec<u8>> = (0..rows)
        .map(|i| {
            format!(
                "{{\"id\": {i}, \"ticker\": \"T{:04}\", \"price\": {}.{:02}, \"qty\": {}, \"ts\": \"2024-05-01T10:{:02}:{:02}Z\", \"side\": \"buy\"}}",
                i % 5000,
                i % 1000,
                i % 100,
                i % 300,
                (i / 60) % 60,
                i % 60
            )
            .into_bytes()
        })
        .collect();
    let json_bytes: u64 = records.iter().map(|r| r.len() as u64).sum();
    let destination = json!({"ExtendedS3DestinationConfiguration": {
        "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench", "Prefix": "p/", "ErrorOutputPrefix": "e/",
        "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900},
        "DataFormatConversionConfiguration": {"SchemaConfiguration": {"Columns": [
            {"Name": "id", "Type": "bigint"}, {"Name": "ticker", "Type": "string"},
            {"Name": "price", "Type": "double"}, {"Name": "qty", "Type": "int"},
            {"Name": "ts", "Type": "timestamp"}, {"Name": "side", "Type": "string"}]}}}});
    let seconds = time_from_stream(ctx, "firehose-parquet", &records, destination, &|m| {
        m.delivery_to_s3_records >= rows
    })?;
    ctx.report.row(Row {
        key: "firehose.parquet".to_string(),
        workload: "firehose",
        case: format!(
            "JSON -> Parquet (SNAPPY), {rows} records, {} MB of JSON",
            json_bytes / 1_000_000
        ),
        mode: "read from trim horizon".to_string(),
        seconds,
        ops: 1,
        records: rows,
        data_bytes: json_bytes,
        cpu_ns: None,
        latency: one_sample(seconds),
    });
    // Baseline: pyarrow's JSON reader and Parquet writer on the same lines.
    let Some(python) = python_with("import pyarrow.json, pyarrow.parquet") else {
        ctx.progress("no Python with pyarrow: no pyarrow baseline");
        return Ok(());
    };
    let dir = ctx.case_dir("firehose-pyarrow")?;
    let input = dir.path().join("records.json");
    let mut lines = Vec::with_capacity(json_bytes as usize + records.len());
    for r in &records {
        lines.extend_from_slice(r);
        lines.push(b'\n');
    }
    std::fs::write(&input, &lines)?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/pyarrow_parquet.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&input)
        .arg(dir.path().join("out.parquet"))
        .output()?;
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "pyarrow baseline: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let secs = v["seconds"].as_f64().unwrap_or(1.0);
    ctx.report.figure(
        "firehose",
        "firehose.baseline.pyarrow_json_to_parquet_mb_per_sec",
        "baseline: pyarrow read_json + write_table (SNAPPY) of the same lines, MB/s of JSON",
        json_bytes as f64 / 1e6 / secs.max(1e-9),
        "MB/s",
    );
    Ok(())
}

fn python_with(import: &str) -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    [venv, PathBuf::from("python3")].into_iter().find(|p| {
        std::process::Command::new(p)
            .args(["-c", import])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A histogram of one observation: the whole delivery's time.
fn one_sample(seconds: f64) -> crate::hist::Latency {
    let mut l = crate::hist::Latency::new();
    l.record(Duration::from_secs_f64(seconds.max(1e-9)));
    l
}
