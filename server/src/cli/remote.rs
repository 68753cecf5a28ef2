//! The commands that read and write streams: `streams`, `shards`, `tail`, `put`,
//! `stats`. Each runs the same JSON-level operations either against a server
//! (`--endpoint`, signed when keys are given) or in-process on a data directory
//! (`--data-dir`, through the same dispatch table the server uses).
#![forbid(unsafe_code)]

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value as Json, json};
use tidelog::{Engine, EngineConfig};

use super::{EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, Style, Target, error, style};
use tidelog_firehose::{Firehose, FirehoseConfig};

use crate::api::firehose::FirehoseService;
use crate::api::{Api, ApiConfig};
use crate::client::{Client, ClientError, Credentials};
use crate::wire::{Encoding, Service};

/// Where calls go.
pub(super) enum Backend {
    Remote(Box<Client>),
    /// A data directory opened in-process; with Firehose opened beside the engine for
    /// `tidelog firehose`.
    Local(Arc<Api>, Option<Firehose>),
}

/// A failed call: an error answer, or no server at all.
pub(super) enum CallError {
    Api { code: String, message: String },
    Unreachable(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Api { code, message } => write!(f, "{code}: {message}"),
            CallError::Unreachable(m) => write!(f, "{m}"),
        }
    }
}

impl CallError {
    fn exit_code(&self) -> u8 {
        match self {
            CallError::Api { .. } => EXIT_FAILED,
            CallError::Unreachable(_) => EXIT_UNREACHABLE,
        }
    }
}

impl Backend {
    fn open(target: &Target, with_firehose: bool) -> Result<Self, CallError> {
        if let Some(dir) = &target.data_dir {
            let mut config = EngineConfig::new(dir);
            config.cores = Some(1);
            config.pin_cores = false;
            // ARNs as `tidelog serve` shows them by default.
            config.arn_scope.region = "us-east-1".to_string();
            let engine = Engine::open(config).map_err(|e| {
                CallError::Unreachable(format!("cannot open {}: {e}", dir.display()))
            })?;
            let mut api = Api::new(engine.clone(), ApiConfig::default());
            let mut firehose = None;
            if with_firehose {
                // As `tidelog serve` opens it by default: buckets as directories under
                // <data-dir>/firehose/buckets, AWS's ingest limits.
                let mut fh = FirehoseConfig::new();
                fh.region = "us-east-1".to_string();
                let opened = Firehose::open(&engine, fh).map_err(|e| {
                    let _ = engine.close();
                    CallError::Unreachable(format!(
                        "cannot open Firehose in {}: {e}",
                        dir.display()
                    ))
                })?;
                api = api.with_firehose(Arc::new(FirehoseService(opened.clone())));
                firehose = Some(opened);
            }
            return Ok(Backend::Local(Arc::new(api), firehose));
        }
        let endpoint = target
            .endpoint
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:4567".to_string());
        let credentials = match (&target.access_key, &target.secret_key) {
            (Some(a), Some(s)) => Some(Credentials {
                access_key: a.clone(),
                secret: s.clone(),
            }),
            _ => None,
        };
        Client::new(&endpoint, credentials, &target.region, Encoding::Json)
            .map(|c| Backend::Remote(Box::new(c)))
            .map_err(|e| CallError::Unreachable(e.to_string()))
    }

    async fn call(&self, operation: &str, input: Json) -> Result<Json, CallError> {
        self.call_service(Service::Kinesis, operation, input).await
    }

    /// Calls `operation` of `service` with a JSON-form input.
    pub(super) async fn call_service(
        &self,
        service: Service,
        operation: &str,
        input: Json,
    ) -> Result<Json, CallError> {
        match self {
            Backend::Remote(client) => {
                client
                    .call_json(service, operation, input)
                    .await
                    .map_err(|e| match e {
                        ClientError::Api(e) => CallError::Api {
                            code: e.code,
                            message: e.message,
                        },
                        ClientError::Transport(m) => CallError::Unreachable(m),
                    })
            }
            Backend::Local(api, _) => {
                api.call_json(service, operation, input)
                    .await
                    .map_err(|e| CallError::Api {
                        code: e.code.to_string(),
                        message: e.message,
                    })
            }
        }
    }

    /// Delivers a data directory's delivery stream's buffers now.
    pub(super) async fn flush_delivery_stream(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<(), CallError> {
        let Backend::Local(_, Some(firehose)) = self else {
            return Err(CallError::Unreachable(
                "flush needs a data directory opened with Firehose".to_string(),
            ));
        };
        let firehose = firehose.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || firehose.flush(&name, timeout))
            .await
            .map_err(|e| CallError::Unreachable(format!("flush failed: {e}")))?
            .map_err(|e| {
                let e = tidelog_firehose::api::ApiError::from(e);
                CallError::Api {
                    code: e.code.to_string(),
                    message: e.message,
                }
            })
    }

    fn close(self) {
        if let Backend::Local(api, firehose) = self {
            // Firehose first: its workers save their checkpoints while the engine is open.
            if let Some(f) = firehose {
                let _ = f.close();
            }
            let _ = api.engine.close();
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("tidelog: cannot start a tokio runtime: {e}");
            std::process::exit(i32::from(EXIT_FAILED));
        })
}

/// Runs `body` with a backend, reporting errors; returns the exit status.
fn with_backend<F, Fut>(target: &Target, style: Style, body: F) -> u8
where
    F: FnOnce(Backend) -> Fut,
    Fut: std::future::Future<Output = (Backend, Result<u8, CallError>)>,
{
    run_with(target, false, style, body)
}

/// [`with_backend`] with delivery streams: on a data directory, Firehose is opened
/// beside the engine.
pub(super) fn with_firehose_backend<F, Fut>(target: &Target, style: Style, body: F) -> u8
where
    F: FnOnce(Backend) -> Fut,
    Fut: std::future::Future<Output = (Backend, Result<u8, CallError>)>,
{
    run_with(target, true, style, body)
}

fn run_with<F, Fut>(target: &Target, with_firehose: bool, style: Style, body: F) -> u8
where
    F: FnOnce(Backend) -> Fut,
    Fut: std::future::Future<Output = (Backend, Result<u8, CallError>)>,
{
    runtime().block_on(async {
        let backend = match Backend::open(target, with_firehose) {
            Ok(b) => b,
            Err(e) => {
                error(&style, &e);
                return e.exit_code();
            }
        };
        let (backend, result) = body(backend).await;
        backend.close();
        match result {
            Ok(code) => code,
            Err(e) => {
                error(&style, &e);
                e.exit_code()
            }
        }
    })
}

// -- streams ---------------------------------------------------------------------------

/// `tidelog streams`.
#[derive(Debug, Args)]
pub struct StreamsArgs {
    /// Where the streams are.
    #[command(flatten)]
    pub target: Target,
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<StreamsAction>,
}

/// `tidelog streams <action>`.
#[derive(Debug, Subcommand)]
pub enum StreamsAction {
    /// List streams with their status and shards.
    List,
    /// Create a stream.
    Create {
        /// Its name.
        name: String,
        /// Its shard count.
        #[arg(long, default_value_t = 1)]
        shards: u32,
    },
    /// Describe a stream (JSON, as DescribeStreamSummary answers).
    Describe {
        /// Its name.
        name: String,
    },
    /// Delete a stream and its data.
    Delete {
        /// Its name.
        name: String,
    },
}

fn stream_table(style: &Style, summaries: &[Json]) {
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|s| {
            let s = &s["StreamDescriptionSummary"];
            let status = s["StreamStatus"].as_str().unwrap_or("?");
            vec![
                style.cyan(s["StreamName"].as_str().unwrap_or("?")),
                if status == "ACTIVE" {
                    style.green(status)
                } else {
                    style.yellow(status)
                },
                s["OpenShardCount"].to_string(),
                format!("{} h", s["RetentionPeriodHours"]),
            ]
        })
        .collect();
    style::table(
        style,
        &["STREAM", "STATUS", "OPEN SHARDS", "RETENTION"],
        &rows,
    );
}

/// Runs `tidelog streams`.
pub fn run_streams(args: StreamsArgs, style: Style) -> u8 {
    let action = args.action.unwrap_or(StreamsAction::List);
    with_backend(&args.target, style, |backend| async move {
        let result = async {
            match action {
                StreamsAction::List => {
                    let mut names = Vec::new();
                    let mut token: Option<String> = None;
                    loop {
                        let input = match &token {
                            Some(t) => json!({ "NextToken": t }),
                            None => json!({}),
                        };
                        let page = backend.call("ListStreams", input).await?;
                        for n in page["StreamNames"].as_array().into_iter().flatten() {
                            names.push(n.as_str().unwrap_or_default().to_string());
                        }
                        match page["NextToken"].as_str() {
                            Some(t) => token = Some(t.to_string()),
                            None => break,
                        }
                    }
                    let mut summaries = Vec::new();
                    for name in names {
                        summaries.push(
                            backend
                                .call("DescribeStreamSummary", json!({ "StreamName": name }))
                                .await?,
                        );
                    }
                    stream_table(&style, &summaries);
                    Ok(EXIT_OK)
                }
                StreamsAction::Create { name, shards } => {
                    backend
                        .call(
                            "CreateStream",
                            json!({ "StreamName": name, "ShardCount": shards }),
                        )
                        .await?;
                    println!("created {} with {shards} shards", style.cyan(&name));
                    Ok(EXIT_OK)
                }
                StreamsAction::Describe { name } => {
                    let d = backend
                        .call("DescribeStreamSummary", json!({ "StreamName": name }))
                        .await?;
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&d["StreamDescriptionSummary"])
                            .unwrap_or_default()
                    );
                    Ok(EXIT_OK)
                }
                StreamsAction::Delete { name } => {
                    backend
                        .call("DeleteStream", json!({ "StreamName": name }))
                        .await?;
                    println!("deleted {}", style.cyan(&name));
                    Ok(EXIT_OK)
                }
            }
        }
        .await;
        (backend, result)
    })
}

// -- shards ----------------------------------------------------------------------------

/// `tidelog shards`.
#[derive(Debug, Args)]
pub struct ShardsArgs {
    /// Where the stream is.
    #[command(flatten)]
    pub target: Target,
    /// The stream.
    pub stream: String,
}

async fn all_shards(backend: &Backend, stream: &str) -> Result<Vec<Json>, CallError> {
    let mut shards = Vec::new();
    let mut input = json!({ "StreamName": stream });
    loop {
        let page = backend.call("ListShards", input).await?;
        shards.extend(page["Shards"].as_array().cloned().unwrap_or_default());
        match page["NextToken"].as_str() {
            Some(t) => input = json!({ "NextToken": t }),
            None => return Ok(shards),
        }
    }
}

/// Runs `tidelog shards`.
pub fn run_shards(args: ShardsArgs, style: Style) -> u8 {
    with_backend(&args.target, style, |backend| async move {
        let result = async {
            let shards = all_shards(&backend, &args.stream).await?;
            let rows: Vec<Vec<String>> = shards
                .iter()
                .map(|s| {
                    let closed = s["SequenceNumberRange"]["EndingSequenceNumber"].is_string();
                    let parents = [
                        s["ParentShardId"].as_str(),
                        s["AdjacentParentShardId"].as_str(),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(",");
                    vec![
                        style.cyan(s["ShardId"].as_str().unwrap_or("?")),
                        if closed {
                            style.yellow("CLOSED")
                        } else {
                            style.green("OPEN")
                        },
                        s["HashKeyRange"]["StartingHashKey"]
                            .as_str()
                            .unwrap_or("?")
                            .to_string(),
                        s["HashKeyRange"]["EndingHashKey"]
                            .as_str()
                            .unwrap_or("?")
                            .to_string(),
                        if parents.is_empty() {
                            "-".to_string()
                        } else {
                            parents
                        },
                    ]
                })
                .collect();
            style::table(
                &style,
                &[
                    "SHARD",
                    "STATE",
                    "STARTING HASH KEY",
                    "ENDING HASH KEY",
                    "PARENTS",
                ],
                &rows,
            );
            Ok(EXIT_OK)
        }
        .await;
        (backend, result)
    })
}

// -- tail ------------------------------------------------------------------------------

/// How `tail` prints records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TailFormat {
    /// `shard  sequence  key  data` (data as text, escaped where not UTF-8).
    Text,
    /// One JSON object per line (data as base64).
    Json,
    /// The data bytes alone, one record per line.
    Raw,
}

/// `tidelog tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Where the stream is.
    #[command(flatten)]
    pub target: Target,
    /// The stream.
    pub stream: String,
    /// Only these shards (default: every shard, and the children of closed ones).
    #[arg(long = "shard")]
    pub shards: Vec<String>,
    /// Where to start: trim-horizon, latest, a sequence number, or @<ms since epoch>.
    #[arg(long, default_value = "latest")]
    pub from: String,
    /// Stop after this many records.
    #[arg(short = 'n', long)]
    pub count: Option<u64>,
    /// Stop at the end of the data instead of waiting for more (like kcat -e).
    #[arg(short = 'e', long)]
    pub exit_at_end: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TailFormat::Text)]
    pub format: TailFormat,
}

fn iterator_input(stream: &str, shard: &str, from: &str) -> Result<Json, String> {
    let mut input = json!({ "StreamName": stream, "ShardId": shard });
    match from {
        "trim-horizon" | "TRIM_HORIZON" => input["ShardIteratorType"] = json!("TRIM_HORIZON"),
        "latest" | "LATEST" => input["ShardIteratorType"] = json!("LATEST"),
        t if t.starts_with('@') => {
            let ms: u64 = t[1..]
                .parse()
                .map_err(|_| format!("--from {t}: expected @<milliseconds since the epoch>"))?;
            input["ShardIteratorType"] = json!("AT_TIMESTAMP");
            input["Timestamp"] = json!(ms as f64 / 1000.0);
        }
        t if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
            input["ShardIteratorType"] = json!("AT_SEQUENCE_NUMBER");
            input["StartingSequenceNumber"] = json!(t);
        }
        t => {
            return Err(format!(
                "--from {t:?}: expected trim-horizon, latest, a sequence number or @<ms>"
            ));
        }
    }
    Ok(input)
}

fn print_record(style: &Style, format: TailFormat, shard: &str, r: &Json) {
    let data = BASE64
        .decode(r["Data"].as_str().unwrap_or_default())
        .unwrap_or_default();
    match format {
        TailFormat::Raw => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&data);
            let _ = out.write_all(b"\n");
        }
        TailFormat::Json => println!(
            "{}",
            json!({
                "ShardId": shard,
                "SequenceNumber": r["SequenceNumber"],
                "PartitionKey": r["PartitionKey"],
                "ApproximateArrivalTimestamp": r["ApproximateArrivalTimestamp"],
                "Data": r["Data"],
            })
        ),
        TailFormat::Text => println!(
            "{}  {}  {}  {}",
            style.dim(shard),
            style.dim(r["SequenceNumber"].as_str().unwrap_or("?")),
            style.cyan(r["PartitionKey"].as_str().unwrap_or("?")),
            String::from_utf8_lossy(&data).escape_debug()
        ),
    }
}

/// Runs `tidelog tail`.
pub fn run_tail(args: TailArgs, style: Style) -> u8 {
    if let Err(e) = iterator_input(&args.stream, "shardId-000000000000", &args.from) {
        error(&style, e);
        return EXIT_USAGE;
    }
    with_backend(&args.target.clone(), style, |backend| async move {
        let result = tail(&backend, &args, &style).await;
        (backend, result)
    })
}

async fn tail(backend: &Backend, args: &TailArgs, style: &Style) -> Result<u8, CallError> {
    let shards: Vec<String> = if args.shards.is_empty() {
        all_shards(backend, &args.stream)
            .await?
            .iter()
            .filter_map(|s| s["ShardId"].as_str().map(str::to_string))
            .collect()
    } else {
        args.shards.clone()
    };
    let follow_children = args.shards.is_empty();
    let mut cursors: Vec<(String, String)> = Vec::new();
    let mut known: std::collections::HashSet<String> = shards.iter().cloned().collect();
    for shard in &shards {
        let input =
            iterator_input(&args.stream, shard, &args.from).map_err(|m| CallError::Api {
                code: "Usage".to_string(),
                message: m,
            })?;
        let it = backend.call("GetShardIterator", input).await?;
        if let Some(it) = it["ShardIterator"].as_str() {
            cursors.push((shard.clone(), it.to_string()));
        }
    }
    let mut printed = 0u64;
    // Each shard is polled at most 4 times a second: under Kinesis's 5 reads/s limit.
    let pause = Duration::from_millis(250);
    while !cursors.is_empty() {
        let mut all_at_tip = true;
        let mut next_round = Vec::new();
        for (shard, iterator) in cursors {
            let out = match backend
                .call(
                    "GetRecords",
                    json!({ "ShardIterator": iterator, "Limit": 1000 }),
                )
                .await
            {
                Ok(out) => out,
                Err(CallError::Api { code, .. })
                    if code == "ProvisionedThroughputExceededException" =>
                {
                    next_round.push((shard, iterator));
                    continue;
                }
                Err(e) => return Err(e),
            };
            for r in out["Records"].as_array().into_iter().flatten() {
                print_record(style, args.format, &shard, r);
                printed += 1;
                if args.count.is_some_and(|c| printed >= c) {
                    return Ok(EXIT_OK);
                }
            }
            if out["MillisBehindLatest"].as_u64().unwrap_or(0) > 0 {
                all_at_tip = false;
            }
            match out["NextShardIterator"].as_str() {
                Some(next) => next_round.push((shard, next.to_string())),
                None if follow_children => {
                    for child in out["ChildShards"].as_array().into_iter().flatten() {
                        let Some(id) = child["ShardId"].as_str() else {
                            continue;
                        };
                        if known.insert(id.to_string()) {
                            let it = backend
                                .call(
                                    "GetShardIterator",
                                    json!({ "StreamName": args.stream, "ShardId": id,
                                            "ShardIteratorType": "TRIM_HORIZON" }),
                                )
                                .await?;
                            if let Some(it) = it["ShardIterator"].as_str() {
                                next_round.push((id.to_string(), it.to_string()));
                            }
                        }
                    }
                }
                None => {}
            }
        }
        cursors = next_round;
        if all_at_tip {
            if args.exit_at_end {
                break;
            }
            tokio::time::sleep(pause).await;
        }
    }
    Ok(EXIT_OK)
}

// -- put -------------------------------------------------------------------------------

/// `tidelog put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// Where the stream is.
    #[command(flatten)]
    pub target: Target,
    /// The stream.
    pub stream: String,
    /// One partition key for every record (default: each line's number, which spreads
    /// records over the shards).
    #[arg(long, conflicts_with = "key_delimiter")]
    pub partition_key: Option<String>,
    /// Take each line's partition key from the text before this delimiter (like
    /// `kcat -K`); the rest of the line is the data.
    #[arg(short = 'K', long)]
    pub key_delimiter: Option<String>,
    /// Records per PutRecords call (1 to 500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub batch: u16,
    /// Attempts per record before it counts as failed (throttled records are retried
    /// with backoff).
    #[arg(long, default_value_t = 10)]
    pub attempts: u32,
}

/// Runs `tidelog put`.
pub fn run_put(args: PutArgs, style: Style) -> u8 {
    with_backend(&args.target.clone(), style, |backend| async move {
        let result = put(&backend, &args, &style).await;
        (backend, result)
    })
}

async fn put(backend: &Backend, args: &PutArgs, style: &Style) -> Result<u8, CallError> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().split(b'\n');
    let mut line_no = 0u64;
    let (mut sent, mut failed) = (0u64, 0u64);
    let batch_bytes_max = 4 << 20; // under PutRecords' 5 MiB, with room for keys
    loop {
        let mut batch: Vec<Json> = Vec::new();
        let mut bytes = 0usize;
        while batch.len() < usize::from(args.batch) && bytes < batch_bytes_max {
            let Some(line) = lines.next() else { break };
            let mut line =
                line.map_err(|e| CallError::Unreachable(format!("reading stdin: {e}")))?;
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            line_no += 1;
            let (key, data) = match (&args.partition_key, &args.key_delimiter) {
                (Some(k), _) => (k.clone(), line),
                (None, Some(d)) => {
                    let d = d.as_bytes();
                    match line.windows(d.len()).position(|w| w == d) {
                        Some(p) => (
                            String::from_utf8_lossy(&line[..p]).into_owned(),
                            line[p + d.len()..].to_vec(),
                        ),
                        None => (line_no.to_string(), line),
                    }
                }
                (None, None) => (line_no.to_string(), line),
            };
            if key.is_empty() {
                failed += 1;
                error(
                    style,
                    format!("line {line_no}: empty partition key, skipped"),
                );
                continue;
            }
            bytes += key.len() + data.len();
            batch.push(json!({ "PartitionKey": key, "Data": BASE64.encode(&data) }));
        }
        if batch.is_empty() {
            break;
        }
        let put = BatchPut {
            service: Service::Kinesis,
            operation: "PutRecords",
            target: ("StreamName", &args.stream),
            results: "Records",
            retryable: &["ProvisionedThroughputExceededException", "InternalFailure"],
            attempts: args.attempts,
        };
        put.send(backend, batch, style, &mut sent, &mut failed)
            .await?;
        style.progress(&format!("put {sent} records ({failed} failed)"));
    }
    Ok(put_summary(style, &args.stream, sent, failed))
}

/// One kind of batched put (`PutRecords`, `PutRecordBatch`): where it goes, where its
/// per-entry results are, and which entry errors are worth another attempt.
pub(super) struct BatchPut<'a> {
    pub service: Service,
    pub operation: &'a str,
    /// The member naming the target, and its value.
    pub target: (&'a str, &'a str),
    /// The member of the answer with one result per entry, in order.
    pub results: &'a str,
    pub retryable: &'a [&'a str],
    pub attempts: u32,
}

impl BatchPut<'_> {
    /// Sends `batch`, again for the entries that failed with a retryable code (with
    /// backoff, up to `attempts` in all); counts each entry as sent or failed,
    /// reporting failures.
    pub(super) async fn send(
        &self,
        backend: &Backend,
        batch: Vec<Json>,
        style: &Style,
        sent: &mut u64,
        failed: &mut u64,
    ) -> Result<(), CallError> {
        let mut pending = batch;
        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            let mut input = json!({ "Records": pending });
            input[self.target.0] = json!(self.target.1);
            let out = backend
                .call_service(self.service, self.operation, input)
                .await?;
            let results = out[self.results].as_array().cloned().unwrap_or_default();
            let mut retry = Vec::new();
            for (entry, result) in std::mem::take(&mut pending).into_iter().zip(results) {
                match result["ErrorCode"].as_str() {
                    None => *sent += 1,
                    Some(code) if attempt < self.attempts && self.retryable.contains(&code) => {
                        retry.push(entry)
                    }
                    Some(code) => {
                        *failed += 1;
                        error(
                            style,
                            format!(
                                "record failed: {code}: {}",
                                result["ErrorMessage"].as_str().unwrap_or("")
                            ),
                        );
                    }
                }
            }
            pending = retry;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(50 << attempt.min(5))).await;
            }
        }
        Ok(())
    }
}

/// Ends a `put`: the last progress line away, the totals on stderr, the exit status.
pub(super) fn put_summary(style: &Style, target: &str, sent: u64, failed: u64) -> u8 {
    style.progress_done();
    eprintln!(
        "put {} records to {}{}",
        sent,
        style.cyan(target),
        if failed > 0 {
            style.red(&format!(", {failed} failed"))
        } else {
            String::new()
        }
    );
    if failed > 0 { EXIT_FAILED } else { EXIT_OK }
}

// -- stats -----------------------------------------------------------------------------

/// `tidelog stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Where the streams are.
    #[command(flatten)]
    pub target: Target,
    /// Only this stream.
    pub stream: Option<String>,
}

/// Sums the engine's per-shard counters from OpenMetrics text, by stream.
fn parse_metrics(text: &str) -> std::collections::BTreeMap<String, [u64; 6]> {
    const FAMILIES: [&str; 6] = [
        "tidelog_incoming_records_total",
        "tidelog_incoming_bytes_total",
        "tidelog_outgoing_records_total",
        "tidelog_outgoing_bytes_total",
        "tidelog_write_provisioned_throughput_exceeded_total",
        "tidelog_read_provisioned_throughput_exceeded_total",
    ];
    // Stream totals (`tidelog_stream_*`, always exported) when the text has them; else
    // the sum of the per-shard families (exported only for enhanced monitoring now,
    // for every shard by older servers).
    let mut totals: std::collections::BTreeMap<String, [u64; 6]> = Default::default();
    let mut shards: std::collections::BTreeMap<String, [u64; 6]> = Default::default();
    for line in text.lines() {
        let Some((name, rest)) = line.split_once('{') else {
            continue;
        };
        let (out, name) = match name.strip_prefix("tidelog_stream_") {
            Some(family) => (&mut totals, family),
            None => (&mut shards, name.strip_prefix("tidelog_").unwrap_or("")),
        };
        let Some(i) = FAMILIES
            .iter()
            .position(|f| f.strip_prefix("tidelog_") == Some(name))
        else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let stream = labels
            .split(',')
            .find_map(|l| l.strip_prefix("stream=\""))
            .map(|s| s.trim_end_matches('"').to_string())
            .unwrap_or_default();
        out.entry(stream).or_default()[i] += value.trim().parse::<u64>().unwrap_or(0);
    }
    for (stream, values) in shards {
        totals.entry(stream).or_insert(values);
    }
    totals
}

/// Runs `tidelog stats`.
pub fn run_stats(args: StatsArgs, style: Style) -> u8 {
    with_backend(&args.target.clone(), style, |backend| async move {
        let result = async {
            let text = match &backend {
                Backend::Remote(client) => {
                    let (status, body) = client
                        .get("/metrics")
                        .await
                        .map_err(|e| CallError::Unreachable(e.to_string()))?;
                    if status != 200 {
                        return Err(CallError::Api {
                            code: format!("HTTP{status}"),
                            message:
                                "the server does not serve /metrics (started with --no-metrics?)"
                                    .to_string(),
                        });
                    }
                    body
                }
                Backend::Local(api, _) => {
                    api.engine
                        .metrics_openmetrics()
                        .map_err(|e| CallError::Api {
                            code: e.kind().kinesis_name().to_string(),
                            message: e.to_string(),
                        })?
                }
            };
            let totals = parse_metrics(&text);
            let rows: Vec<Vec<String>> = totals
                .iter()
                .filter(|(s, _)| args.stream.as_ref().is_none_or(|only| only == *s))
                .map(|(s, v)| {
                    let mut row = vec![style.cyan(s)];
                    row.extend(v.iter().map(u64::to_string));
                    row
                })
                .collect();
            style::table(
                &style,
                &[
                    "STREAM",
                    "IN RECORDS",
                    "IN BYTES",
                    "OUT RECORDS",
                    "OUT BYTES",
                    "WRITE THROTTLED",
                    "READ THROTTLED",
                ],
                &rows,
            );
            Ok(EXIT_OK)
        }
        .await;
        (backend, result)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_summed_by_stream() {
        let text = "tidelog_incoming_records_total{stream=\"a\",shard=\"shardId-000000000000\"} 3\n\
                    tidelog_incoming_records_total{stream=\"a\",shard=\"shardId-000000000001\"} 4\n\
                    tidelog_outgoing_bytes_total{stream=\"b\",shard=\"shardId-000000000000\"} 9\n# EOF\n";
        let m = parse_metrics(text);
        assert_eq!(m["a"][0], 7);
        assert_eq!(m["b"][3], 9);
        // Stream totals win over the (monitored) shards' sums.
        let text = "tidelog_stream_incoming_records_total{stream=\"a\"} 10\n\
                    tidelog_incoming_records_total{stream=\"a\",shard=\"shardId-000000000000\"} 3\n\
                    tidelog_stream_outgoing_bytes_total{stream=\"c\"} 5\n# EOF\n";
        let m = parse_metrics(text);
        assert_eq!(m["a"][0], 10);
        assert_eq!(m["c"][3], 5);
    }

    #[test]
    fn starting_points() {
        assert!(iterator_input("s", "x", "latest").is_ok());
        assert_eq!(
            iterator_input("s", "x", "@1500").unwrap()["Timestamp"],
            json!(1.5)
        );
        assert_eq!(
            iterator_input("s", "x", "42").unwrap()["ShardIteratorType"],
            "AT_SEQUENCE_NUMBER"
        );
        assert!(iterator_input("s", "x", "yesterday").is_err());
    }
}
