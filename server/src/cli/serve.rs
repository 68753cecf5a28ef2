//! `tidelog serve`: opens the engine, starts the server, and stops gracefully on
//! SIGTERM or SIGINT (stop accepting, end subscriptions, finish requests in flight,
//! then close the engine, which makes every acknowledged record durable per its mode).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tidelog::stream::arn::ArnScope;
use tidelog::{Durability, Engine, EngineConfig, Limits};
use tidelog_firehose::{BucketStore, Firehose, FirehoseConfig, IngestLimits, S3Connection};

use super::config::{self, FileConfig, FirehoseSection, StoreSection};
use super::{EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::api::firehose::FirehoseService;
use crate::api::{Api, ApiConfig};
use crate::auth::{Verifier, keys};
use crate::http::{RunningServer, ServerConfig};

/// `tidelog serve`'s flags (each overrides the config file's key of the same meaning).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML config file (docs/server.md lists its keys).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:4567; port 0 picks a free one].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// The data directory (created if missing).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Region shown in ARNs [default: us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// Account id shown in ARNs [default: 000000000000].
    #[arg(long)]
    pub account_id: Option<String>,
    /// Engine cores (glommio executors) [default: half the CPUs, at least 1].
    #[arg(long)]
    pub cores: Option<usize>,
    /// Do not pin the engine's cores to CPUs (pinned by default when there are more
    /// CPUs than cores; on machines shared with other work, a pinned core waits for
    /// its CPU).
    #[arg(long)]
    pub no_pin: bool,
    /// tokio worker threads [default: the CPUs the cores leave, at least 1].
    #[arg(long)]
    pub tokio_threads: Option<usize>,
    /// Durability of puts: sync (fdatasync before the answer) or os (page cache).
    #[arg(long)]
    pub durability: Option<String>,
    /// Per-shard limits: kinesis (AWS's figures) or unlimited.
    #[arg(long)]
    pub limits: Option<String>,
    /// Access keys, in the AWS shared-credentials file form (TIDELOG_ACCESS_KEYS=
    /// KEY:SECRET,... adds more).
    #[arg(long)]
    pub access_keys_file: Option<PathBuf>,
    /// Accept requests with no signature at all (signed ones are still verified).
    #[arg(long)]
    pub allow_anonymous: bool,
    /// Largest allowed difference between a request's X-Amz-Date and now, seconds
    /// [default: 900].
    #[arg(long)]
    pub clock_skew_seconds: Option<u64>,
    /// Refuse signatures scoped to a region other than --region.
    #[arg(long)]
    pub enforce_region: bool,
    /// TLS certificate chain (PEM); with --tls-key, serve HTTPS (h2 and http/1.1).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest request body, bytes [default: 12582912].
    #[arg(long)]
    pub body_bytes_max: Option<usize>,
    /// Most connections at once [default: 1024].
    #[arg(long)]
    pub connections_max: Option<usize>,
    /// Seconds a client has to send a request's headers [default: 10].
    #[arg(long)]
    pub header_timeout_seconds: Option<u64>,
    /// Seconds a client has to send a request's body [default: 30].
    #[arg(long)]
    pub body_timeout_seconds: Option<u64>,
    /// Seconds shutdown waits for requests in flight [default: 30].
    #[arg(long)]
    pub shutdown_grace_seconds: Option<u64>,
    /// Seconds one SubscribeToShard lasts [default: 300].
    #[arg(long)]
    pub subscription_lifetime_seconds: Option<u64>,
    /// Seconds between empty SubscribeToShard events when nothing arrives [default: 5].
    #[arg(long)]
    pub heartbeat_seconds: Option<u64>,
    /// Do not serve /metrics.
    #[arg(long)]
    pub no_metrics: bool,
    /// Do not serve Firehose delivery streams (Firehose_20150804.*).
    #[arg(long)]
    pub no_firehose: bool,
    /// Directory where Firehose buckets live (one directory per bucket) [default:
    /// <data-dir>/firehose/buckets].
    #[arg(long, conflicts_with = "firehose_s3_endpoint")]
    pub firehose_buckets_dir: Option<PathBuf>,
    /// Deliver Firehose buckets to this S3-compatible endpoint instead (credentials:
    /// the config file's [firehose.store], else AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY).
    #[arg(long)]
    pub firehose_s3_endpoint: Option<String>,
}

/// Everything `serve` runs with, after the file, the flags and the defaults.
struct Settings {
    engine: EngineConfig,
    firehose: Option<FirehoseConfig>,
    tokio_threads: usize,
    api: ApiConfig,
    server: ServerConfig,
}

fn durability(text: &str) -> Result<Durability, String> {
    match text {
        "sync" => Ok(Durability::Sync),
        "os" => Ok(Durability::Os),
        other => Err(format!("durability {other:?}: expected sync or os")),
    }
}

fn limits(text: &str) -> Result<Limits, String> {
    match text {
        "kinesis" => Ok(Limits::kinesis()),
        "unlimited" => Ok(Limits::unlimited()),
        other => Err(format!("limits {other:?}: expected kinesis or unlimited")),
    }
}

fn settings(args: ServeArgs) -> Result<Settings, String> {
    let file = match &args.config {
        Some(path) => config::load(path)?,
        None => FileConfig::default(),
    };
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .ok_or("no data directory: give --data-dir or data_dir in the config file")?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cores = args
        .cores
        .or(file.engine.cores)
        .unwrap_or((cpus / 2).max(1));
    let tokio_threads = args
        .tokio_threads
        .or(file.engine.tokio_threads)
        .unwrap_or(cpus.saturating_sub(cores).max(1));
    if tokio_threads == 0 || tokio_threads > 1024 {
        return Err(format!("tokio_threads {tokio_threads}: must be 1 to 1024"));
    }
    let mut engine = EngineConfig::new(data_dir);
    engine.cores = Some(cores);
    engine.pin_cores = cores < cpus && !args.no_pin;
    // The server's callers are tokio's threads: a blocking-pool thread that spins for
    // its reply takes a CPU the HTTP work, the client or the core itself needs, so
    // they park at once (the engine's future never spins).
    engine.reply_spin = Duration::ZERO;
    if let Some(d) = args
        .durability
        .as_deref()
        .or(file.engine.durability.as_deref())
    {
        engine.durability = durability(d)?;
    }
    if let Some(l) = args.limits.as_deref().or(file.engine.limits.as_deref()) {
        engine.limits = limits(l)?;
    }

    let region = args
        .region
        .or(file.region)
        .unwrap_or_else(|| "us-east-1".to_string());
    let account_id = args
        .account_id
        .or(file.account_id)
        .unwrap_or_else(|| "000000000000".to_string());
    if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("account id {account_id:?}: must be 12 digits"));
    }
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!("region {region:?}: letters, digits and '-' only"));
    }
    engine.arn_scope = ArnScope {
        partition: "aws".to_string(),
        region: region.clone(),
        account: account_id.clone(),
    };
    let firehose = if args.no_firehose || file.firehose.enabled == Some(false) {
        None
    } else {
        let mut section = file.firehose;
        if let Some(dir) = args.firehose_buckets_dir {
            section.store = Some(StoreSection {
                dir: Some(dir),
                ..StoreSection::default()
            });
        }
        if let Some(endpoint) = args.firehose_s3_endpoint {
            let mut store = section.store.take().unwrap_or_default();
            store.dir = None;
            store.s3_endpoint = Some(endpoint);
            section.store = Some(store);
        }
        Some(firehose_config(section, &region, &account_id)?)
    };
    let mut api = ApiConfig::default();
    if let Some(s) = args
        .subscription_lifetime_seconds
        .or(file.subscribe.lifetime_seconds)
    {
        if s == 0 {
            return Err("subscription lifetime must be at least 1 second".to_string());
        }
        api.subscription_lifetime = Duration::from_secs(s);
    }
    if let Some(s) = args.heartbeat_seconds.or(file.subscribe.heartbeat_seconds) {
        if s == 0 {
            return Err("heartbeat interval must be at least 1 second".to_string());
        }
        api.heartbeat_interval = Duration::from_secs(s);
    }

    let mut access_keys = HashMap::new();
    if let Some(path) = args.access_keys_file.or(file.auth.access_keys_file) {
        access_keys.extend(keys::load_file(&path).map_err(|e| e.to_string())?);
    }
    if let Ok(value) = std::env::var("TIDELOG_ACCESS_KEYS") {
        access_keys.extend(keys::parse_env(&value).map_err(|e| e.to_string())?);
    }
    let allow_anonymous = args.allow_anonymous || file.auth.allow_anonymous.unwrap_or(false);
    if access_keys.is_empty() && !allow_anonymous {
        return Err(
            "no access keys: give --access-keys-file or TIDELOG_ACCESS_KEYS, or \
                    --allow-anonymous to accept unsigned requests"
                .to_string(),
        );
    }
    let verifier = Verifier {
        keys: access_keys,
        allow_anonymous,
        skew: Duration::from_secs(
            args.clock_skew_seconds
                .or(file.auth.clock_skew_seconds)
                .unwrap_or(900),
        ),
        region: (args.enforce_region || file.auth.enforce_region.unwrap_or(false))
            .then(|| region.clone()),
    };
    let mut server = ServerConfig::new(verifier);
    if let Some(listen) = args.listen.or(file.listen) {
        server.listen = listen;
    }
    server.tls = match (args.tls_cert, args.tls_key) {
        (Some(c), Some(k)) => Some((c, k)),
        _ => file.tls.map(|t| (t.cert, t.key)),
    };
    let s = &file.server;
    if let Some(n) = args.body_bytes_max.or(s.body_bytes_max) {
        server.body_bytes_max = n;
    }
    if let Some(n) = args.connections_max.or(s.connections_max) {
        if n == 0 {
            return Err("connections_max must be at least 1".to_string());
        }
        server.connections_max = n;
    }
    if let Some(n) = args.header_timeout_seconds.or(s.header_timeout_seconds) {
        server.header_read_timeout = Duration::from_secs(n.max(1));
    }
    if let Some(n) = args.body_timeout_seconds.or(s.body_timeout_seconds) {
        server.body_timeout = Duration::from_secs(n.max(1));
    }
    if let Some(n) = args.shutdown_grace_seconds.or(s.shutdown_grace_seconds) {
        server.shutdown_grace = Duration::from_secs(n);
    }
    if let Some(n) = s.h2_streams_max {
        server.h2_streams_max = n.max(1);
    }
    server.metrics_public = !args.no_metrics && s.metrics.unwrap_or(true);
    Ok(Settings {
        engine,
        firehose,
        tokio_threads,
        api,
        server,
    })
}

fn bucket_store(name: &str, s: StoreSection, region: &str) -> Result<BucketStore, String> {
    match (s.dir, s.s3_endpoint, s.s3_region) {
        (Some(_), Some(_), _) => Err(format!(
            "firehose store {name}: give dir or s3_endpoint, not both"
        )),
        (Some(root), None, None) => Ok(BucketStore::Directory { root }),
        (Some(_), None, Some(_)) => Err(format!(
            "firehose store {name}: s3_region belongs to an S3 store, not a directory"
        )),
        (None, endpoint, s3_region) => {
            if endpoint.is_none() && s3_region.is_none() {
                return Err(format!(
                    "firehose store {name}: give dir, s3_endpoint or s3_region"
                ));
            }
            if let Some(e) = &endpoint
                && !(e.starts_with("http://") || e.starts_with("https://"))
            {
                return Err(format!(
                    "firehose store {name}: s3_endpoint {e:?} must be an http:// or https:// URL"
                ));
            }
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            Ok(BucketStore::S3(S3Connection {
                allow_http: endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://")),
                endpoint,
                region: s3_region.unwrap_or_else(|| region.to_string()),
                access_key_id: s.access_key_id.or_else(|| env("AWS_ACCESS_KEY_ID")),
                secret_access_key: s.secret_access_key.or_else(|| env("AWS_SECRET_ACCESS_KEY")),
                session_token: env("AWS_SESSION_TOKEN"),
                virtual_hosted_style: s.virtual_hosted_style.unwrap_or(false),
                multipart_threshold_bytes: 16 << 20,
                multipart_part_bytes: 8 << 20,
            }))
        }
    }
}

fn firehose_config(
    section: FirehoseSection,
    region: &str,
    account_id: &str,
) -> Result<FirehoseConfig, String> {
    let mut config = FirehoseConfig::new();
    config.region = region.to_string();
    config.account_id = account_id.to_string();
    if let Some(n) = section.delivery_streams_max {
        config.delivery_streams_max = n;
    }
    if let Some(h) = section.buffer_retention_hours {
        config.buffer_retention_hours = h;
    }
    config.ingest_limits = match section.ingest_limits.as_deref() {
        None | Some("aws") => IngestLimits::aws(),
        Some("unlimited") => IngestLimits::unlimited(),
        Some(other) => {
            return Err(format!(
                "firehose ingest_limits {other:?}: expected aws or unlimited"
            ));
        }
    };
    if let Some(store) = section.store {
        config.default_store = Some(bucket_store("store", store, region)?);
    }
    for (bucket, store) in section.buckets {
        let store = bucket_store(&format!("buckets.{bucket}"), store, region)?;
        config.buckets.insert(bucket, store);
    }
    Ok(config)
}

/// Runs the server until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> u8 {
    let settings = match settings(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tidelog serve: {e}");
            return EXIT_USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.tokio_threads)
        .thread_name("tidelog-http")
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tidelog serve: cannot start the tokio runtime: {e}");
            return EXIT_FAILED;
        }
    };
    let data_dir = settings.engine.data_dir.clone();
    let cores = settings.engine.cores.unwrap_or(1);
    let mode = match settings.engine.durability {
        Durability::Sync => "sync",
        Durability::Os => "os",
    };
    let engine = match Engine::open(settings.engine) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("tidelog serve: cannot open {}: {e}", data_dir.display());
            return EXIT_UNREACHABLE;
        }
    };
    let firehose = match settings.firehose.map(|c| Firehose::open(&engine, c)) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            eprintln!("tidelog serve: cannot open Firehose: {e}");
            let _ = engine.close();
            return EXIT_UNREACHABLE;
        }
    };
    let mut api = Api::new(engine.clone(), settings.api);
    if let Some(f) = &firehose {
        api = api.with_firehose(Arc::new(FirehoseService(f.clone())));
    }
    let api = Arc::new(api);
    let auth = if settings.server.verifier.allow_anonymous {
        format!(
            "{} access keys, anonymous allowed",
            settings.server.verifier.keys.len()
        )
    } else {
        format!("{} access keys", settings.server.verifier.keys.len())
    };
    let scheme = if settings.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let firehose_on = firehose.is_some();
    let code = runtime.block_on(async move {
        let server = match RunningServer::start(Arc::clone(&api), settings.server).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("tidelog serve: {e}");
                return EXIT_UNREACHABLE;
            }
        };
        // The first line on stdout: scripts read the address from it (port 0).
        println!(
            "tidelog serve: listening on {scheme}://{} (data {}, {cores} core{}, durability {mode}, {auth}{})",
            server.local_addr(),
            data_dir.display(),
            if cores == 1 { "" } else { "s" },
            if firehose_on { ", firehose" } else { "" }
        );
        wait_for_signal().await;
        eprintln!("tidelog serve: stopping (finishing requests in flight)");
        if !server.shutdown().await {
            eprintln!("tidelog serve: some requests did not finish within the grace period");
        }
        EXIT_OK
    });
    drop(runtime);
    // Firehose first: its workers save their checkpoints while the engine is open.
    if let Some(f) = firehose
        && let Err(e) = f.close()
    {
        eprintln!("tidelog serve: closing Firehose: {e}");
    }
    if let Err(e) = engine.close() {
        eprintln!("tidelog serve: closing the engine: {e}");
        return EXIT_FAILED;
    }
    eprintln!("tidelog serve: stopped");
    code
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the process runs until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
