//! `tidelog firehose`: delivery streams from the command line (list, create, describe,
//! delete, put standard input's lines, flush), against a server (`--endpoint`) or a data
//! directory (`--data-dir`, with Firehose opened in-process beside the engine, buckets as
//! directories under `<data-dir>/firehose/buckets` as `tidelog serve` has them by
//! default).
//!
//! Every action is the Firehose operation of the same name at the JSON level, so what it
//! accepts and refuses is what the API accepts and refuses. `flush` has no Firehose
//! operation behind it: it delivers the buffers of a data directory's delivery stream
//! now and is refused (usage error) against a server.
#![forbid(unsafe_code)]

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{Args, Subcommand};
use serde_json::{Value as Json, json};

use super::remote::{Backend, BatchPut, CallError, put_summary, with_firehose_backend};
use super::{EXIT_OK, EXIT_USAGE, Style, Target, error, style};
use crate::wire::Service;

/// The role ARN `create` writes when none is given (Firehose requires one; tidelog
/// stores it and checks its form, never assumes it).
const DEFAULT_ROLE_ARN: &str = "arn:aws:iam::000000000000:role/tidelog-firehose";
/// Bytes per PutRecordBatch call (its limit is 4 MiB; records are counted by `--batch`).
const BATCH_BYTES_MAX: usize = 4 << 20;
/// Firehose's largest record (1,000 KiB).
const RECORD_BYTES_MAX: usize = 1_000 * 1024;

/// `tidelog firehose`.
#[derive(Debug, Args)]
pub struct FirehoseArgs {
    /// Where the delivery streams are.
    #[command(flatten)]
    pub target: Target,
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<FirehoseAction>,
}

/// `tidelog firehose <action>`.
#[derive(Debug, Subcommand)]
pub enum FirehoseAction {
    /// List delivery streams with their status, source and destination.
    List,
    /// Create a delivery stream that delivers to a bucket (a directory under
    /// `<data-dir>/firehose/buckets`, or what the server maps the bucket to).
    Create(Box<CreateArgs>),
    /// Describe a delivery stream (JSON, as DescribeDeliveryStream answers).
    Describe {
        /// Its name.
        name: String,
    },
    /// Delete a delivery stream (records not yet delivered are dropped).
    Delete {
        /// Its name.
        name: String,
    },
    /// Put standard input's lines as records (each with its newline, as Firehose
    /// concatenates records into objects).
    Put(PutArgs),
    /// Deliver what a data directory's delivery stream has buffered now (`--data-dir`
    /// only: Firehose has no such operation).
    Flush {
        /// Its name.
        name: String,
        /// How long to wait for the objects to be written.
        #[arg(long, default_value_t = 60)]
        timeout_seconds: u64,
    },
}

/// `tidelog firehose create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Its name.
    pub name: String,
    /// A whole CreateDeliveryStream request as JSON (a file, or `-` for standard
    /// input), as `aws firehose create-delivery-stream --cli-input-json` takes it; the
    /// name above replaces its DeliveryStreamName. The other options are refused with it.
    #[arg(long, conflicts_with_all = ["bucket", "prefix", "error_prefix", "buffer_mb", "buffer_seconds", "compression", "from_stream", "role_arn"])]
    pub input_json: Option<PathBuf>,
    /// The bucket objects go to.
    #[arg(long, required_unless_present = "input_json")]
    pub bucket: Option<String>,
    /// The object key prefix (Firehose's expressions allowed, e.g.
    /// `logs/!{timestamp:yyyy/MM/dd}/`).
    #[arg(long)]
    pub prefix: Option<String>,
    /// The prefix of failed records' objects (required by Firehose when the prefix has
    /// expressions).
    #[arg(long)]
    pub error_prefix: Option<String>,
    /// Buffer size hint, MiB (1 to 128; Firehose's default 5, kept when only
    /// `--buffer-seconds` is given).
    #[arg(long)]
    pub buffer_mb: Option<u32>,
    /// Buffer interval hint, seconds (0 to 900; Firehose's default 300, kept when only
    /// `--buffer-mb` is given).
    #[arg(long)]
    pub buffer_seconds: Option<u32>,
    /// Compression: UNCOMPRESSED, GZIP, ZIP, Snappy or HADOOP_SNAPPY.
    #[arg(long)]
    pub compression: Option<String>,
    /// Read from this data stream (KinesisStreamAsSource) instead of DirectPut.
    #[arg(long)]
    pub from_stream: Option<String>,
    /// The role ARN to record (default: a placeholder of the right form).
    #[arg(long)]
    pub role_arn: Option<String>,
}

/// `tidelog firehose put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The delivery stream.
    pub name: String,
    /// Records per PutRecordBatch call (1 to 500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub batch: u16,
    /// Send each line without its newline.
    #[arg(long)]
    pub no_newline: bool,
    /// Attempts per record before it counts as failed (ServiceUnavailable answers are
    /// retried with backoff).
    #[arg(long, default_value_t = 10)]
    pub attempts: u32,
}

/// Runs `tidelog firehose`.
pub fn run(args: FirehoseArgs, style: Style) -> u8 {
    let action = args.action.unwrap_or(FirehoseAction::List);
    if let FirehoseAction::Flush { .. } = action
        && args.target.data_dir.is_none()
    {
        error(
            &style,
            "flush needs --data-dir: a server delivers on its own buffering hints \
             (Firehose has no flush operation)",
        );
        return EXIT_USAGE;
    }
    let request = match &action {
        FirehoseAction::Create(create) => match create_request(create, &args.target) {
            Ok(r) => Some(r),
            Err(e) => {
                error(&style, e);
                return EXIT_USAGE;
            }
        },
        _ => None,
    };
    with_firehose_backend(&args.target, style, |backend| async move {
        let result = act(&backend, action, request, &style).await;
        (backend, result)
    })
}

async fn call(backend: &Backend, operation: &str, input: Json) -> Result<Json, CallError> {
    backend
        .call_service(Service::Firehose, operation, input)
        .await
}

async fn act(
    backend: &Backend,
    action: FirehoseAction,
    request: Option<Json>,
    style: &Style,
) -> Result<u8, CallError> {
    match action {
        FirehoseAction::List => list(backend, style).await,
        FirehoseAction::Create(args) => {
            let out = call(
                backend,
                "CreateDeliveryStream",
                request.unwrap_or_else(|| json!({})),
            )
            .await?;
            println!(
                "created {} ({})",
                style.cyan(&args.name),
                out["DeliveryStreamARN"].as_str().unwrap_or("?")
            );
            Ok(EXIT_OK)
        }
        FirehoseAction::Describe { name } => {
            let d = call(
                backend,
                "DescribeDeliveryStream",
                json!({ "DeliveryStreamName": name }),
            )
            .await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&d["DeliveryStreamDescription"]).unwrap_or_default()
            );
            Ok(EXIT_OK)
        }
        FirehoseAction::Delete { name } => {
            call(
                backend,
                "DeleteDeliveryStream",
                json!({ "DeliveryStreamName": name }),
            )
            .await?;
            println!("deleted {}", style.cyan(&name));
            Ok(EXIT_OK)
        }
        FirehoseAction::Put(args) => put(backend, &args, style).await,
        FirehoseAction::Flush {
            name,
            timeout_seconds,
        } => {
            backend
                .flush_delivery_stream(&name, Duration::from_secs(timeout_seconds))
                .await?;
            println!("flushed {}", style.cyan(&name));
            Ok(EXIT_OK)
        }
    }
}

/// The CreateDeliveryStream request the options describe.
fn create_request(args: &CreateArgs, target: &Target) -> Result<Json, String> {
    if let Some(path) = &args.input_json {
        let text = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("--input-json -: reading standard input: {e}"))?;
            s
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| format!("--input-json {}: {e}", path.display()))?
        };
        let mut request: Json = serde_json::from_str(&text)
            .map_err(|e| format!("--input-json {}: not JSON: {e}", path.display()))?;
        let Some(obj) = request.as_object_mut() else {
            return Err(format!(
                "--input-json {}: must be a JSON object (a CreateDeliveryStream request)",
                path.display()
            ));
        };
        obj.insert("DeliveryStreamName".to_string(), json!(args.name));
        return Ok(request);
    }
    let bucket = args.bucket.as_deref().unwrap_or_default();
    if bucket.is_empty() {
        return Err("--bucket: give a bucket name".to_string());
    }
    let role = args.role_arn.as_deref().unwrap_or(DEFAULT_ROLE_ARN);
    let mut s3 = json!({
        "RoleARN": role,
        "BucketARN": format!("arn:aws:s3:::{bucket}"),
    });
    if let Some(p) = &args.prefix {
        s3["Prefix"] = json!(p);
    }
    if let Some(p) = &args.error_prefix {
        s3["ErrorOutputPrefix"] = json!(p);
    }
    if args.buffer_mb.is_some() || args.buffer_seconds.is_some() {
        // Firehose takes both hints or neither: the one not given keeps AWS's default.
        s3["BufferingHints"] = json!({
            "SizeInMBs": args.buffer_mb.unwrap_or(5),
            "IntervalInSeconds": args.buffer_seconds.unwrap_or(300),
        });
    }
    if let Some(c) = &args.compression {
        s3["CompressionFormat"] = json!(c);
    }
    let mut request = json!({
        "DeliveryStreamName": args.name,
        "ExtendedS3DestinationConfiguration": s3,
    });
    match &args.from_stream {
        None => request["DeliveryStreamType"] = json!("DirectPut"),
        Some(stream) => {
            request["DeliveryStreamType"] = json!("KinesisStreamAsSource");
            let arn = if stream.starts_with("arn:") {
                stream.clone()
            } else {
                // The ARN `tidelog serve` (and a data directory opened here) gives it.
                format!(
                    "arn:aws:kinesis:{}:000000000000:stream/{stream}",
                    if target.data_dir.is_some() {
                        "us-east-1"
                    } else {
                        target.region.as_str()
                    }
                )
            };
            request["KinesisStreamSourceConfiguration"] =
                json!({ "KinesisStreamARN": arn, "RoleARN": role });
        }
    }
    Ok(request)
}

/// The bucket and prefix a description delivers to, for the table.
fn destination_of(d: &Json) -> String {
    let dest = &d["Destinations"][0];
    if let Some(s3) = dest.get("ExtendedS3DestinationDescription") {
        let bucket = s3["BucketARN"]
            .as_str()
            .and_then(|a| a.strip_prefix("arn:aws:s3:::"))
            .unwrap_or("?");
        return format!("s3://{bucket}/{}", s3["Prefix"].as_str().unwrap_or(""));
    }
    if let Some(h) = dest.get("HttpEndpointDestinationDescription") {
        return h["EndpointConfiguration"]["Url"]
            .as_str()
            .unwrap_or("http endpoint")
            .to_string();
    }
    if let Some(r) = dest.get("RedshiftDestinationDescription") {
        return format!(
            "copy into {}",
            r["CopyCommand"]["DataTableName"].as_str().unwrap_or("?")
        );
    }
    "-".to_string()
}

fn buffering_of(d: &Json) -> String {
    let dest = &d["Destinations"][0];
    let hints = [
        "ExtendedS3DestinationDescription",
        "HttpEndpointDestinationDescription",
    ]
    .iter()
    .find_map(|k| dest.get(*k))
    .map(|x| &x["BufferingHints"]);
    match hints {
        Some(h) if h.is_object() => format!(
            "{} MiB / {} s",
            h["SizeInMBs"]
                .as_u64()
                .map_or("?".into(), |n| n.to_string()),
            h["IntervalInSeconds"]
                .as_u64()
                .map_or("?".into(), |n| n.to_string())
        ),
        _ => "-".to_string(),
    }
}

async fn list(backend: &Backend, style: &Style) -> Result<u8, CallError> {
    let mut names = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let mut input = json!({ "Limit": 10_000 });
        if let Some(s) = &start {
            input["ExclusiveStartDeliveryStreamName"] = json!(s);
        }
        let page = call(backend, "ListDeliveryStreams", input).await?;
        let got: Vec<String> = page["DeliveryStreamNames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect();
        start = got.last().cloned();
        names.extend(got);
        if page["HasMoreDeliveryStreams"] != json!(true) || start.is_none() {
            break;
        }
    }
    let mut rows = Vec::new();
    for name in names {
        let d = call(
            backend,
            "DescribeDeliveryStream",
            json!({ "DeliveryStreamName": name }),
        )
        .await?;
        let d = &d["DeliveryStreamDescription"];
        let status = d["DeliveryStreamStatus"].as_str().unwrap_or("?");
        let source =
            match d["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"].as_str() {
                Some(arn) => arn.rsplit('/').next().unwrap_or(arn).to_string(),
                None => "DirectPut".to_string(),
            };
        rows.push(vec![
            style.cyan(&name),
            if status == "ACTIVE" {
                style.green(status)
            } else {
                style.yellow(status)
            },
            source,
            destination_of(d),
            buffering_of(d),
        ]);
    }
    style::table(
        style,
        &[
            "DELIVERY STREAM",
            "STATUS",
            "SOURCE",
            "DESTINATION",
            "BUFFER",
        ],
        &rows,
    );
    Ok(EXIT_OK)
}

async fn put(backend: &Backend, args: &PutArgs, style: &Style) -> Result<u8, CallError> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().split(b'\n');
    let (mut sent, mut failed, mut line_no) = (0u64, 0u64, 0u64);
    loop {
        let mut batch: Vec<Json> = Vec::new();
        let mut bytes = 0usize;
        while batch.len() < usize::from(args.batch) && bytes < BATCH_BYTES_MAX {
            let Some(line) = lines.next() else { break };
            let mut line =
                line.map_err(|e| CallError::Unreachable(format!("reading stdin: {e}")))?;
            line_no += 1;
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if !args.no_newline {
                line.push(b'\n');
            }
            if line.is_empty() {
                failed += 1;
                error(style, format!("line {line_no}: an empty record, skipped"));
                continue;
            }
            if line.len() > RECORD_BYTES_MAX {
                failed += 1;
                error(
                    style,
                    format!(
                        "line {line_no}: {} bytes, over Firehose's 1,000 KiB per record, skipped",
                        line.len()
                    ),
                );
                continue;
            }
            bytes += line.len();
            batch.push(json!({ "Data": BASE64.encode(&line) }));
        }
        if batch.is_empty() {
            break;
        }
        let put = BatchPut {
            service: Service::Firehose,
            operation: "PutRecordBatch",
            target: ("DeliveryStreamName", &args.name),
            results: "RequestResponses",
            retryable: &["ServiceUnavailableException", "InternalFailure"],
            attempts: args.attempts,
        };
        put.send(backend, batch, style, &mut sent, &mut failed)
            .await?;
        style.progress(&format!("put {sent} records ({failed} failed)"));
    }
    Ok(put_summary(style, &args.name, sent, failed))
}
