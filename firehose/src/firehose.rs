//! `Firehose`: delivery streams beside an engine's data streams. The thread-safe front
//! door (`Send + Sync + Clone`) of the crate.
//!
//! ```text
//! <engine data_dir>/firehose/
//!   LOCK                        one Firehose per engine directory
//!   catalog                     delivery streams (catalog.rs)
//!   buffers/                    the buffer engine: a tidelog engine of its own whose
//!                               stream ds-<id, 16 hex> (one shard) is the durable
//!                               buffer of DirectPut delivery stream <id>
//!   streams/<id, 16 hex>/checkpoint   delivery positions (checkpoint.rs)
//!   buckets/<bucket>/<key>      the default directory store
//! ```
//!
//! The buffer engine shares the engine's clock, storage and durability mode, runs one
//! unpinned core, and has no per-shard rate limits (Firehose's own ingest quota applies
//! instead); its streams never show among the engine's streams.
//!
//! Invariants:
//! - A put is acknowledged only after the buffer engine acknowledged it under the
//!   engine's durability mode: an acknowledged record is delivered, after a crash too.
//! - Catalog changes are serialized (one commit lock) and written before they take
//!   effect; a failed write leaves everything as it was.
//! - Names are validated before use and never become paths (ids do).
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tidelog::io::{DirLockGuard, Storage};
use tidelog::stream::throttle::TokenBucket;
use tidelog::{
    Durability, Engine, EngineConfig, Limits, PutOptions, PutRecordsEntry, StartingPosition,
};

use crate::api::ApiError;
use crate::catalog::{self, CatalogData};
use crate::channel::{self, ChannelRecord};
use crate::checkpoint::CheckpointFile;
use crate::config::{BucketStore, FirehoseConfig};
use crate::error::{Error, Result};
use crate::metrics::{Metrics, add};
use crate::model::http::HttpEndpointDestination;
use crate::model::plan::{DeliveryPlan, check_role_arn, is_kms_arn, with_defaults};
use crate::model::redshift::RedshiftDestination;
use crate::model::{
    CreateDeliveryStreamInput, DESTINATION_ID, DeliveryStreamRecord, Destination, EncryptionInput,
    EncryptionState, ExtendedS3Destination, Tag, UNSUPPORTED_CREATE_MEMBERS,
    UpdateDestinationInput,
};
use crate::names::{self, validate_name};
use crate::source::{DIRECT_SHARD, DirectSource, KinesisReader};
use crate::store::Stores;
use crate::transform::{Registered, Transform};
use crate::worker::{Context, Shared, Source, Stop, Worker};

/// Largest record, bytes (before base64).
pub const RECORD_BYTES_MAX: usize = 1_024_000;
/// Most records in one PutRecordBatch.
pub const BATCH_RECORDS_MAX: usize = 500;
/// Most bytes in one PutRecordBatch.
pub const BATCH_BYTES_MAX: usize = 4 << 20;
/// Most tags on a delivery stream.
pub const TAGS_MAX: usize = 50;
/// The partition key every buffered record gets (the buffer has one shard).
const BUFFER_KEY: &str = "0";
/// The hash key every buffered record is routed by: a buffer stream has one shard,
/// which owns every hash key, so the partition key's MD5 (once per record) would
/// decide nothing.
const BUFFER_HASH_KEY: &str = "0";

/// A record id: the buffered record's sequence number as 32 lowercase hex digits
/// (what `format!("{:032x}")` gives, without the formatting machinery, once per
/// record of every batch).
fn record_id(sequence_number: u128) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(32);
    for shift in (0..32).rev() {
        id.push(char::from(
            DIGITS[((sequence_number >> (shift * 4)) & 0xf) as usize],
        ));
    }
    id
}

/// The answer to PutRecord.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordOutput {
    /// The record's id.
    pub record_id: String,
    /// Whether server-side encryption is on.
    pub encrypted: bool,
}

/// One entry of PutRecordBatch's answer: the record id, or an error code and message.
pub type PutRecordBatchEntry = std::result::Result<String, (String, String)>;

/// The answer to PutRecordBatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordBatchOutput {
    /// How many records failed.
    pub failed_put_count: usize,
    /// Whether server-side encryption is on.
    pub encrypted: bool,
    /// One entry per record, in request order.
    pub responses: Vec<PutRecordBatchEntry>,
}

/// The answer to ListDeliveryStreams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOutput {
    /// Names, in order.
    pub names: Vec<String>,
    /// More names follow.
    pub has_more: bool,
}

#[derive(Debug)]
struct Ingest {
    records: TokenBucket,
    bytes: TokenBucket,
    requests: TokenBucket,
}

struct Running {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    buffer_stream: Option<String>,
    ingest: Mutex<Ingest>,
}

struct Inner {
    engine: Engine,
    buffers: Engine,
    config: FirehoseConfig,
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    catalog: Mutex<CatalogData>,
    commit: Mutex<()>,
    running: RwLock<BTreeMap<String, Arc<Running>>>,
    transforms: Arc<RwLock<HashMap<String, Registered>>>,
    ctx: Arc<Context>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    closed: AtomicBool,
    lock: Mutex<Option<Box<dyn DirLockGuard>>>,
    /// The engine delete guard that keeps streams with channels (`channel.rs`).
    delete_guard: Mutex<Option<u64>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(id) = lock(&self.delete_guard).take() {
            self.engine.remove_delete_guard(id);
        }
        if !self.closed.swap(true, Ordering::AcqRel) {
            let running =
                std::mem::take(&mut *self.running.write().unwrap_or_else(|p| p.into_inner()));
            for r in running.values() {
                r.shared.stop(Stop::Graceful);
            }
            for r in running.values() {
                if let Some(t) = r.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = t.join();
                }
            }
            let _ = self.buffers.close();
        }
        if let Some(rt) = self
            .runtime
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            rt.shutdown_background();
        }
    }
}

/// Delivery streams on a tidelog engine.
#[derive(Clone)]
pub struct Firehose {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Firehose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Firehose")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn buffer_stream_name(id: u64) -> String {
    format!("ds-{id:016x}")
}

fn stream_dir(dir: &Path, id: u64) -> PathBuf {
    dir.join("streams").join(format!("{id:016x}"))
}

fn validate_tags(tags: &[Tag], field: &str) -> Result<()> {
    for (i, t) in tags.iter().enumerate() {
        let key_chars = t.key.chars().count();
        let ok_chars = |s: &str| {
            s.chars().all(|c| {
                c.is_alphanumeric()
                    || c.is_whitespace() && !c.is_control()
                    || "_.:/=+-@%".contains(c)
            })
        };
        if key_chars == 0 || key_chars > 128 || !ok_chars(&t.key) {
            return Err(Error::invalid(
                format!("{field}[{i}].Key"),
                "1 to 128 letters, digits, spaces and _ . : / = + - @ %",
            ));
        }
        if t.key
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
        {
            return Err(Error::invalid(
                format!("{field}[{i}].Key"),
                "the aws: prefix is reserved",
            ));
        }
        if let Some(v) = &t.value
            && (v.chars().count() > 256 || !ok_chars(v))
        {
            return Err(Error::invalid(
                format!("{field}[{i}].Value"),
                "0 to 256 letters, digits, spaces and _ . : / = + - @ %",
            ));
        }
    }
    Ok(())
}

fn validate_encryption(e: &EncryptionInput) -> Result<()> {
    match e.key_type.as_str() {
        "AWS_OWNED_CMK" => {
            if e.key_arn.is_some() {
                return Err(Error::invalid(
                    "DeliveryStreamEncryptionConfigurationInput.KeyARN",
                    "AWS_OWNED_CMK takes no KeyARN",
                ));
            }
            Ok(())
        }
        "CUSTOMER_MANAGED_CMK" => match &e.key_arn {
            Some(arn) if is_kms_arn(arn) => Ok(()),
            Some(arn) => Err(Error::InvalidKms {
                key: arn.clone(),
                reason: "not a KMS key ARN (arn:aws:kms:<region>:<12 digits>:key/<id>)".to_string(),
            }),
            None => Err(Error::invalid(
                "DeliveryStreamEncryptionConfigurationInput.KeyARN",
                "CUSTOMER_MANAGED_CMK needs a KeyARN",
            )),
        },
        other => Err(Error::invalid(
            "DeliveryStreamEncryptionConfigurationInput.KeyType",
            format!("{other:?} is not AWS_OWNED_CMK or CUSTOMER_MANAGED_CMK"),
        )),
    }
}

fn refuse_other(
    other: &BTreeMap<String, serde_json::Value>,
    known_unsupported: &[&str],
) -> Result<()> {
    if let Some(name) = other.keys().next() {
        let problem = if known_unsupported.contains(&name.as_str()) {
            "this destination or source is not supported by tidelog"
        } else {
            "unknown member"
        };
        return Err(Error::invalid(name.clone(), problem));
    }
    Ok(())
}

/// The destination of a CreateDeliveryStream request: exactly one of the supported
/// kinds, validated, with AWS's defaults filled in.
fn destination_of(
    name: &str,
    extended: Option<ExtendedS3Destination>,
    plain: Option<crate::model::S3Destination>,
    http: Option<HttpEndpointDestination>,
    redshift: Option<RedshiftDestination>,
) -> Result<Destination> {
    let given = [
        extended.is_some(),
        plain.is_some(),
        http.is_some(),
        redshift.is_some(),
    ];
    match given.iter().filter(|g| **g).count() {
        0 => {
            return Err(Error::invalid(
                "ExtendedS3DestinationConfiguration",
                "a delivery stream needs a destination",
            ));
        }
        1 => {}
        _ => {
            return Err(Error::invalid(
                "S3DestinationConfiguration",
                "give one destination configuration",
            ));
        }
    }
    if let Some(h) = http {
        DeliveryPlan::build_http(name, 1, &h, "HttpEndpointDestinationConfiguration")?;
        return Ok(Destination::HttpEndpoint {
            config: http_defaults(h),
        });
    }
    if let Some(r) = redshift {
        DeliveryPlan::build_postgres(name, 1, &r, "RedshiftDestinationConfiguration")?;
        return Ok(Destination::Redshift {
            config: redshift_defaults(r),
        });
    }
    let (config, plain, path) = match (extended, plain) {
        (Some(e), _) => (e, false, "ExtendedS3DestinationConfiguration"),
        (None, Some(p)) => (
            ExtendedS3Destination::from_plain(p),
            true,
            "S3DestinationConfiguration",
        ),
        (None, None) => {
            return Err(Error::Internal(
                "no destination after the count check".to_string(),
            ));
        }
    };
    let plan = DeliveryPlan::build(name, 1, &config, path)?;
    Ok(Destination::ExtendedS3 {
        config: with_defaults(config, plan.dynamic_partitioning),
        plain,
    })
}

fn s3_part_defaults(mut s3: crate::model::S3Destination) -> crate::model::S3Destination {
    let filled = with_defaults(ExtendedS3Destination::from_plain(s3.clone()), false).plain();
    s3.buffering_hints = filled.buffering_hints;
    s3.compression_format = filled.compression_format;
    s3.encryption_configuration = filled.encryption_configuration;
    s3
}

fn http_defaults(mut h: HttpEndpointDestination) -> HttpEndpointDestination {
    if h.buffering_hints.is_none() {
        h.buffering_hints = Some(crate::model::BufferingHints {
            size_in_mbs: Some(5),
            interval_in_seconds: Some(300),
        });
    }
    h.retry_options
        .get_or_insert(crate::model::http::DurationRetryOptions {
            duration_in_seconds: Some(crate::model::targets::HTTP_RETRY_S_DEFAULT),
        });
    h.s3_backup_mode
        .get_or_insert_with(|| "FailedDataOnly".to_string());
    h.request_configuration
        .get_or_insert_with(|| crate::model::http::RequestConfiguration {
            content_encoding: Some("NONE".to_string()),
            common_attributes: None,
        });
    h.s3_configuration = h.s3_configuration.map(s3_part_defaults);
    h
}

fn redshift_defaults(mut r: RedshiftDestination) -> RedshiftDestination {
    r.retry_options
        .get_or_insert(crate::model::http::DurationRetryOptions {
            duration_in_seconds: Some(crate::model::targets::REDSHIFT_RETRY_S_DEFAULT),
        });
    r.s3_backup_mode
        .get_or_insert_with(|| "Disabled".to_string());
    r.s3_configuration = r.s3_configuration.map(s3_part_defaults);
    r.s3_backup_configuration = r.s3_backup_configuration.map(s3_part_defaults);
    r
}

/// The destination after an UpdateDestination: an update of the same type merges into
/// it field by field; an update of another type replaces it and must be complete.
fn merge_destination(
    current: &Destination,
    input: &UpdateDestinationInput,
    name: &str,
) -> Result<Destination> {
    if let Some(u) = input.extended_s3_destination_update.clone().or_else(|| {
        input
            .s3_destination_update
            .clone()
            .map(ExtendedS3Destination::from_plain)
    }) {
        return match current {
            Destination::ExtendedS3 { config, plain } => {
                let mut merged = config.clone();
                merged.merge(u);
                let plan = DeliveryPlan::build(name, 1, &merged, "ExtendedS3DestinationUpdate")?;
                Ok(Destination::ExtendedS3 {
                    config: with_defaults(merged, plan.dynamic_partitioning),
                    plain: *plain && input.extended_s3_destination_update.is_none(),
                })
            }
            _ => destination_of(name, Some(u), None, None, None),
        };
    }
    if let Some(u) = input.http_endpoint_destination_update.clone() {
        return match current {
            Destination::HttpEndpoint { config } => {
                let mut merged = config.clone();
                merged.merge(u);
                DeliveryPlan::build_http(name, 1, &merged, "HttpEndpointDestinationUpdate")?;
                Ok(Destination::HttpEndpoint {
                    config: http_defaults(merged),
                })
            }
            _ => destination_of(name, None, None, Some(u), None),
        };
    }
    if let Some(u) = input.redshift_destination_update.clone() {
        return match current {
            Destination::Redshift { config } => {
                let mut merged = config.clone();
                merged.merge(u);
                DeliveryPlan::build_postgres(name, 1, &merged, "RedshiftDestinationUpdate")?;
                Ok(Destination::Redshift {
                    config: redshift_defaults(merged),
                })
            }
            _ => destination_of(name, None, None, None, Some(u)),
        };
    }
    Err(Error::invalid(
        "ExtendedS3DestinationUpdate",
        "the update changes nothing",
    ))
}

impl Firehose {
    /// Opens Firehose on `engine` (its directory `<data_dir>/firehose`, its buffer
    /// engine), resumes every delivery stream and starts their workers.
    pub fn open(engine: &Engine, config: FirehoseConfig) -> Result<Self> {
        config.validate()?;
        let ec = engine.config();
        let storage = Arc::clone(&ec.storage);
        let dir = ec.data_dir.join("firehose");
        storage
            .create_dir_all_durable(&dir)
            .map_err(|e| Error::io("create firehose directory", &dir, e))?;
        let lock_guard = storage.lock_dir(&dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                Error::InUse {
                    name: dir.display().to_string(),
                    status: "OPEN",
                    reason: "another Firehose has this engine's directory open",
                }
            } else {
                Error::io("lock firehose directory", &dir, e)
            }
        })?;
        let mut bc = EngineConfig::new(dir.join("buffers"));
        bc.cores = Some(1);
        bc.pin_cores = false;
        bc.durability = ec.durability;
        bc.limits = Limits::unlimited();
        bc.clock = Arc::clone(&ec.clock);
        bc.storage = Arc::clone(&storage);
        bc.retention_hours_min = 1;
        bc.retention_hours_default = config.buffer_retention_hours;
        bc.sync_driver = ec.sync_driver;
        bc.preempt_timer = ec.preempt_timer;
        let buffers = Engine::open(bc)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.io_threads)
            .thread_name("tidelog-firehose-io")
            .enable_all()
            .build()
            .map_err(|e| Error::io("start the I/O runtime", &dir, e))?;
        let default_store = config
            .default_store
            .clone()
            .unwrap_or(BucketStore::Directory {
                root: dir.join("buckets"),
            });
        let stores = Arc::new(Stores::new(
            default_store,
            config.buckets.clone(),
            runtime.handle().clone(),
        ));
        let transforms = Arc::new(RwLock::new(HashMap::new()));
        let ctx = Arc::new(Context {
            clock: Arc::clone(&ec.clock),
            storage: Arc::clone(&storage),
            durable: ec.durability == Durability::Sync,
            stores,
            transforms: Arc::clone(&transforms),
            region: config.region.clone(),
            tick: config.tick,
            active_partitions_max: config.active_partitions_max,
            buffered_bytes_max: config.buffered_bytes_max,
            runtime: runtime.handle().clone(),
            http: reqwest::Client::builder()
                .timeout(config.http_request_timeout)
                .connect_timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?,
        });
        let data = catalog::load(storage.as_ref(), &dir)?;
        let firehose = Self {
            inner: Arc::new(Inner {
                engine: engine.clone(),
                buffers,
                config,
                dir,
                storage,
                catalog: Mutex::new(data.clone()),
                commit: Mutex::new(()),
                running: RwLock::new(BTreeMap::new()),
                transforms,
                ctx,
                runtime: Mutex::new(Some(runtime)),
                closed: AtomicBool::new(false),
                lock: Mutex::new(Some(lock_guard)),
                delete_guard: Mutex::new(None),
            }),
        };
        for record in data.delivery_streams {
            match record.status.as_str() {
                "DELETING" => firehose.finish_delete(&record)?,
                "CREATING_FAILED" => {}
                _ => firehose.start(&record)?,
            }
        }
        for record in data.channels {
            firehose.resume_channel(record)?;
        }
        firehose.guard_channel_streams();
        Ok(firehose)
    }

    /// The engine this Firehose runs on.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The configuration.
    pub fn config(&self) -> &FirehoseConfig {
        &self.inner.config
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) || self.inner.engine.is_closed() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn arn(&self, name: &str) -> String {
        names::delivery_stream_arn(
            &self.inner.config.region,
            &self.inner.config.account_id,
            name,
        )
    }

    fn not_found(&self, name: &str) -> Error {
        Error::NotFound {
            name: name.to_string(),
            account: self.inner.config.account_id.clone(),
        }
    }

    fn commit<R>(&self, change: impl FnOnce(&mut CatalogData) -> Result<R>) -> Result<R> {
        let _writer = lock(&self.inner.commit);
        let mut next = lock(&self.inner.catalog).clone();
        let out = change(&mut next)?;
        catalog::save(self.inner.storage.as_ref(), &self.inner.dir, &next)?;
        *lock(&self.inner.catalog) = next;
        Ok(out)
    }

    fn record(&self, name: &str) -> Result<DeliveryStreamRecord> {
        lock(&self.inner.catalog)
            .get(name)
            .cloned()
            .ok_or_else(|| self.not_found(name))
    }

    fn plan_of(record: &DeliveryStreamRecord) -> Result<DeliveryPlan> {
        record.plan()
    }

    /// Registers a transform under a Lambda function name: a delivery stream whose
    /// Lambda processor's ARN names this function calls it. Register transforms before
    /// records need them (a delivery stream whose function is missing fails its
    /// invocations, and the records go to the error output).
    pub fn register_transform(
        &self,
        function: &str,
        transform: Arc<dyn Transform>,
        timeout: Duration,
    ) -> Result<()> {
        let valid = !function.is_empty()
            && function.len() <= 140
            && function
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(Error::invalid(
                "function",
                format!("{function:?}: 1 to 140 of a-z A-Z 0-9 - _ (a Lambda function name)"),
            ));
        }
        if timeout.is_zero() || timeout > Duration::from_secs(900) {
            return Err(Error::invalid(
                "timeout",
                "must be above 0 and at most 900 s (Lambda's limit)",
            ));
        }
        self.inner
            .transforms
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(function.to_string(), Registered { transform, timeout });
        Ok(())
    }

    /// Removes a registered transform; true if there was one.
    pub fn unregister_transform(&self, function: &str) -> bool {
        self.inner
            .transforms
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(function)
            .is_some()
    }

    /// Starts the worker of a delivery stream (finishing its creation if needed).
    fn start(&self, record: &DeliveryStreamRecord) -> Result<()> {
        let plan = Arc::new(Self::plan_of(record)?);
        let dir = stream_dir(&self.inner.dir, record.id);
        self.inner
            .storage
            .create_dir_all_durable(&dir)
            .map_err(|e| Error::io("create delivery stream directory", &dir, e))?;
        let ckpt_file = CheckpointFile::new(&dir);
        let ckpt = ckpt_file.load(self.inner.storage.as_ref())?;
        let low = ckpt.low_positions().map_err(|problem| Error::Corrupt {
            path: ckpt_file.path().to_path_buf(),
            problem,
        })?;
        let (source, buffer_stream) = match &record.kinesis {
            None => {
                let stream = buffer_stream_name(record.id);
                match self.inner.buffers.create_stream(&stream, 1) {
                    Ok(()) => {}
                    Err(e) if e.kind() == tidelog::ErrorKind::ResourceInUse => {}
                    Err(e) => return Err(e.into()),
                }
                (
                    Source::Direct(DirectSource::new(
                        self.inner.buffers.clone(),
                        stream.clone(),
                        low.get(DIRECT_SHARD).copied(),
                    )),
                    Some(stream),
                )
            }
            Some(k) => {
                let stream = names::kinesis_stream_name(&k.kinesis_stream_arn, "KinesisStreamARN")?;
                let start = match k.starting_position.as_deref() {
                    Some("TRIM_HORIZON") => StartingPosition::TrimHorizon,
                    _ => StartingPosition::AtTimestamp(record.created_ms),
                };
                let poll = u64::try_from(self.inner.config.kinesis_poll_interval.as_nanos())
                    .unwrap_or(u64::MAX);
                (
                    Source::Kinesis {
                        reader: KinesisReader::new(
                            self.inner.engine.clone(),
                            stream,
                            start,
                            poll,
                            low,
                            ckpt.finished.clone(),
                        ),
                        arn: k.kinesis_stream_arn.clone(),
                    },
                    None,
                )
            }
        };
        if record.status == "CREATING" {
            self.commit(|data| {
                if let Some(r) = data.get_mut(&record.name) {
                    r.status = "ACTIVE".to_string();
                }
                Ok(())
            })?;
        }
        self.spawn_worker(
            record.name.clone(),
            Arc::new(Shared::new(
                record.id,
                record.name.clone(),
                self.arn(&record.name),
                plan,
            )),
            source,
            (ckpt_file, ckpt),
            buffer_stream,
        )
    }

    /// Starts a worker thread on `source` and registers it under `key` (a delivery
    /// stream's name, or `channel:<name>`).
    fn spawn_worker(
        &self,
        key: String,
        shared: Arc<Shared>,
        source: Source,
        (ckpt_file, ckpt): (CheckpointFile, crate::checkpoint::Checkpoint),
        buffer_stream: Option<String>,
    ) -> Result<()> {
        let dir = ckpt_file.path().to_path_buf();
        let id = shared.id;
        let worker = Worker::new(
            Arc::clone(&shared),
            Arc::clone(&self.inner.ctx),
            source,
            ckpt_file,
            ckpt,
        )?;
        let thread = std::thread::Builder::new()
            .name(format!("tidelog-firehose-{id}"))
            .spawn(move || worker.run())
            .map_err(|e| Error::io("start a delivery worker", &dir, e))?;
        let clock = &self.inner.ctx.clock;
        let limits = self.inner.config.ingest_limits;
        let now = clock.monotonic_ns();
        let running = Arc::new(Running {
            shared,
            thread: Mutex::new(Some(thread)),
            buffer_stream,
            ingest: Mutex::new(Ingest {
                records: TokenBucket::new(limits.records_per_sec, now),
                bytes: TokenBucket::new(limits.bytes_per_sec, now),
                requests: TokenBucket::new(limits.requests_per_sec, now),
            }),
        });
        self.inner
            .running
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, running);
        Ok(())
    }

    fn stop_worker(&self, name: &str, how: Stop) -> Option<Arc<Running>> {
        let running = self
            .inner
            .running
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)?;
        running.shared.stop(how);
        if let Some(t) = lock(&running.thread).take() {
            let _ = t.join();
        }
        Some(running)
    }

    fn finish_delete(&self, record: &DeliveryStreamRecord) -> Result<()> {
        self.stop_worker(&record.name, Stop::Abandon);
        if record.kinesis.is_none() {
            match self
                .inner
                .buffers
                .delete_stream(&buffer_stream_name(record.id))
            {
                Ok(()) => {}
                Err(e) if e.kind() == tidelog::ErrorKind::ResourceNotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        let dir = stream_dir(&self.inner.dir, record.id);
        match self.inner.storage.remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove delivery stream directory", dir, e)),
        }
        let id = record.id;
        self.commit(|data| {
            data.delivery_streams.retain(|d| d.id != id);
            Ok(())
        })
    }

    /// CreateDeliveryStream: validates everything, records the delivery stream
    /// (CREATING), creates its buffer and checkpoint, then marks it ACTIVE and starts
    /// its worker. Returns its ARN.
    pub fn create_delivery_stream(&self, input: CreateDeliveryStreamInput) -> Result<String> {
        self.check_open()?;
        refuse_other(&input.other, UNSUPPORTED_CREATE_MEMBERS)?;
        let name = input.delivery_stream_name.clone();
        validate_name(&name, "DeliveryStreamName")?;
        let stream_type = input
            .delivery_stream_type
            .clone()
            .unwrap_or_else(|| "DirectPut".to_string());
        let (direct_put, kinesis) = match stream_type.as_str() {
            "DirectPut" => {
                if input.kinesis_stream_source_configuration.is_some() {
                    return Err(Error::invalid(
                        "KinesisStreamSourceConfiguration",
                        "a DirectPut delivery stream takes no KinesisStreamSourceConfiguration",
                    ));
                }
                if let Some(d) = &input.direct_put_source_configuration
                    && !(1..=100).contains(&d.throughput_hint_in_mbs)
                {
                    return Err(Error::invalid(
                        "DirectPutSourceConfiguration.ThroughputHintInMBs",
                        "must be 1 to 100",
                    ));
                }
                (input.direct_put_source_configuration.clone(), None)
            }
            "KinesisStreamAsSource" => {
                let k = input
                    .kinesis_stream_source_configuration
                    .clone()
                    .ok_or_else(|| {
                        Error::invalid(
                            "KinesisStreamSourceConfiguration",
                            "KinesisStreamAsSource needs a KinesisStreamSourceConfiguration",
                        )
                    })?;
                if input.encryption.is_some() {
                    return Err(Error::invalid(
                        "DeliveryStreamEncryptionConfigurationInput",
                        "server-side encryption applies to DirectPut delivery streams only",
                    ));
                }
                check_role_arn(&k.role_arn, "KinesisStreamSourceConfiguration.RoleARN")?;
                let stream = names::kinesis_stream_name(
                    &k.kinesis_stream_arn,
                    "KinesisStreamSourceConfiguration.KinesisStreamARN",
                )?;
                match k.starting_position.as_deref() {
                    None | Some("LATEST") | Some("TRIM_HORIZON") => {}
                    Some(other) => {
                        return Err(Error::invalid(
                            "KinesisStreamSourceConfiguration.StartingPosition",
                            format!("{other:?} is not LATEST or TRIM_HORIZON"),
                        ));
                    }
                }
                self.inner
                    .engine
                    .describe_stream_summary(&stream)
                    .map_err(|e| {
                        if e.kind() == tidelog::ErrorKind::ResourceNotFound {
                            Error::SourceNotFound {
                                stream: stream.clone(),
                                reason: "no such stream in the engine".to_string(),
                            }
                        } else {
                            e.into()
                        }
                    })?;
                (None, Some(k))
            }
            "MSKAsSource" | "DatabaseAsSource" => {
                return Err(Error::invalid(
                    "DeliveryStreamType",
                    format!("{stream_type} is not supported by tidelog"),
                ));
            }
            other => {
                return Err(Error::invalid(
                    "DeliveryStreamType",
                    format!("{other:?} is not DirectPut or KinesisStreamAsSource"),
                ));
            }
        };
        let destination = destination_of(
            &name,
            input.extended_s3_destination_configuration.clone(),
            input.s3_destination_configuration.clone(),
            input.http_endpoint_destination_configuration.clone(),
            input.redshift_destination_configuration.clone(),
        )?;
        let tags = input.tags.clone().unwrap_or_default();
        if tags.len() > TAGS_MAX {
            return Err(Error::invalid(
                "Tags",
                format!("{} tags, more than {TAGS_MAX}", tags.len()),
            ));
        }
        validate_tags(&tags, "Tags")?;
        let encryption = match &input.encryption {
            Some(e) => {
                validate_encryption(e)?;
                Some(EncryptionState {
                    key_type: e.key_type.clone(),
                    key_arn: e.key_arn.clone(),
                    status: "ENABLED".to_string(),
                })
            }
            None => None,
        };
        let now = self.inner.ctx.clock.now_ms();
        let max = self.inner.config.delivery_streams_max;
        let record = self.commit(|data| {
            if data.get(&name).is_some() {
                return Err(Error::AlreadyExists {
                    name: name.clone(),
                    account: self.inner.config.account_id.clone(),
                });
            }
            if data.delivery_streams.len() >= max {
                return Err(Error::LimitExceeded {
                    what: "delivery streams",
                    requested: data.delivery_streams.len() as u64 + 1,
                    limit: max as u64,
                });
            }
            let id = data.next_id;
            data.next_id += 1;
            let record = DeliveryStreamRecord {
                id,
                name: name.clone(),
                stream_type: stream_type.clone(),
                status: "CREATING".to_string(),
                failure: None,
                version: 1,
                created_ms: now,
                updated_ms: now,
                direct_put,
                kinesis,
                destination,
                tags,
                encryption,
            };
            data.delivery_streams.push(record.clone());
            Ok(record)
        })?;
        if let Err(e) = self.start(&record) {
            let message = e.to_string();
            let _ = self.commit(|data| {
                if let Some(r) = data.get_mut(&record.name) {
                    r.status = "CREATING_FAILED".to_string();
                    r.failure = Some(message);
                }
                Ok(())
            });
            return Err(e);
        }
        Ok(self.arn(&name))
    }

    /// DeleteDeliveryStream: stops delivery, removes the buffer (undelivered records
    /// are discarded, as AWS does) and the checkpoint, then the catalog entry.
    pub fn delete_delivery_stream(&self, name: &str, allow_force_delete: bool) -> Result<()> {
        self.check_open()?;
        validate_name(name, "DeliveryStreamName")?;
        let _ = allow_force_delete; // nothing here can block a delete
        let record = self.commit(|data| {
            let r = data.get_mut(name).ok_or_else(|| self.not_found(name))?;
            if r.status == "CREATING" {
                return Err(Error::InUse {
                    name: name.to_string(),
                    status: "CREATING",
                    reason: "it is being created",
                });
            }
            r.status = "DELETING".to_string();
            Ok(r.clone())
        })?;
        self.finish_delete(&record)
    }

    /// The catalog record of a delivery stream (DescribeDeliveryStream's data).
    pub fn describe_delivery_stream(&self, name: &str) -> Result<DeliveryStreamRecord> {
        self.check_open()?;
        validate_name(name, "DeliveryStreamName")?;
        self.record(name)
    }

    /// The ARN of a delivery stream name.
    pub fn delivery_stream_arn(&self, name: &str) -> String {
        self.arn(name)
    }

    /// The last delivery or processing error of a delivery stream, if the latest
    /// attempts failed.
    pub fn last_error(&self, name: &str) -> Result<Option<String>> {
        Ok(lock(&self.running(name)?.shared.last_error).clone())
    }

    /// ListDeliveryStreams: names in order, `limit` (1 to 10,000, default 10) after
    /// `exclusive_start`, of one type if given.
    pub fn list_delivery_streams(
        &self,
        limit: Option<usize>,
        stream_type: Option<&str>,
        exclusive_start: Option<&str>,
    ) -> Result<ListOutput> {
        self.check_open()?;
        let limit = limit.unwrap_or(10);
        if !(1..=10_000).contains(&limit) {
            return Err(Error::invalid(
                "Limit",
                format!("{limit} is outside 1..=10000"),
            ));
        }
        if let Some(t) = stream_type
            && ![
                "DirectPut",
                "KinesisStreamAsSource",
                "MSKAsSource",
                "DatabaseAsSource",
            ]
            .contains(&t)
        {
            return Err(Error::invalid(
                "DeliveryStreamType",
                format!("{t:?} is not a delivery stream type"),
            ));
        }
        if let Some(s) = exclusive_start {
            validate_name(s, "ExclusiveStartDeliveryStreamName")?;
        }
        let data = lock(&self.inner.catalog);
        let mut names: Vec<String> = data
            .delivery_streams
            .iter()
            .filter(|d| stream_type.is_none_or(|t| d.stream_type == t))
            .filter(|d| exclusive_start.is_none_or(|s| d.name.as_str() > s))
            .map(|d| d.name.clone())
            .collect();
        names.sort();
        let has_more = names.len() > limit;
        names.truncate(limit);
        Ok(ListOutput { names, has_more })
    }

    fn running(&self, name: &str) -> Result<Arc<Running>> {
        self.inner
            .running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| self.not_found(name))
    }

    fn encrypted(&self, name: &str) -> bool {
        lock(&self.inner.catalog)
            .get(name)
            .and_then(|r| r.encryption.as_ref())
            .is_some_and(|e| e.status == "ENABLED")
    }

    fn direct(&self, name: &str) -> Result<(Arc<Running>, String)> {
        self.check_open()?;
        validate_name(name, "DeliveryStreamName")?;
        let running = self.running(name)?;
        let stream = running.buffer_stream.clone().ok_or_else(|| {
            Error::invalid(
                "DeliveryStreamName",
                format!("{name} reads a Kinesis stream; put records into that stream"),
            )
        })?;
        Ok((running, stream))
    }

    /// PutRecord: one record (up to 1,000 KiB), durable under the engine's mode when
    /// this returns.
    pub fn put_record(&self, name: &str, data: &[u8]) -> Result<PutRecordOutput> {
        let (running, stream) = self.direct(name)?;
        if data.len() > RECORD_BYTES_MAX {
            return Err(Error::invalid(
                "Record.Data",
                format!("{} bytes, more than {RECORD_BYTES_MAX}", data.len()),
            ));
        }
        let counters = &running.shared.counters;
        {
            let now = self.inner.ctx.clock.monotonic_ns();
            let mut ingest = lock(&running.ingest);
            let admitted = ingest.requests.has(1, now)
                && ingest.records.has(1, now)
                && ingest.bytes.has(data.len() as u64, now);
            if !admitted {
                add(&counters.throttled_records, 1);
                return Err(Error::ServiceUnavailable("Slow down.".to_string()));
            }
            ingest.requests.charge(1, now);
            ingest.records.charge(1, now);
            ingest.bytes.charge(data.len() as u64, now);
        }
        let out = self.inner.buffers.put_record(
            &stream,
            BUFFER_KEY,
            data,
            PutOptions {
                explicit_hash_key: Some(BUFFER_HASH_KEY),
                ..PutOptions::default()
            },
        )?;
        running.shared.notify_put();
        add(&counters.incoming_bytes, data.len() as u64);
        add(&counters.incoming_records, 1);
        add(&counters.incoming_put_requests, 1);
        add(&counters.put_record_requests, 1);
        add(&counters.put_record_bytes, data.len() as u64);
        Ok(PutRecordOutput {
            record_id: record_id(out.sequence_number),
            encrypted: self.encrypted(name),
        })
    }

    /// PutRecordBatch: 1 to 500 records, at most 4 MiB; per-record results in request
    /// order (a record beyond the ingest quota fails alone, with
    /// ServiceUnavailableException).
    pub fn put_record_batch(&self, name: &str, records: &[&[u8]]) -> Result<PutRecordBatchOutput> {
        self.put_batch(name, records, None)
    }

    /// PutRecordBatch with an identity per record (tidelog's extension, for producers
    /// that must not deliver a record twice, such as continuous applications):
    /// record `i` is buffered under `ids[i]` (1 to 256 characters), which
    /// [`buffered_ids`](Self::buffered_ids) lists back, so a producer that died
    /// mid-batch can tell which of its records were taken. Identities are not
    /// delivered: the destination gets the data, as from PutRecordBatch.
    pub fn put_record_batch_with_ids(
        &self,
        name: &str,
        records: &[&[u8]],
        ids: &[&str],
    ) -> Result<PutRecordBatchOutput> {
        if ids.len() != records.len() {
            return Err(Error::invalid(
                "ids",
                format!("{} identities for {} records", ids.len(), records.len()),
            ));
        }
        for (i, id) in ids.iter().enumerate() {
            if id.is_empty() || id.chars().count() > 256 {
                return Err(Error::invalid(
                    format!("ids[{i}]"),
                    "an identity has 1 to 256 characters",
                ));
            }
        }
        self.put_batch(name, records, Some(ids))
    }

    /// A DirectPut delivery stream's durable buffer, for reading it: the buffer engine
    /// and the buffer's stream (one shard, `shardId-000000000000`; records keep their
    /// arrival times and stay for `buffer_retention_hours`, delivered or not). Readers
    /// must only read (scan, list, watch): writes go through the puts.
    pub fn buffer_stream(&self, name: &str) -> Result<(Engine, String)> {
        let (_, stream) = self.direct(name)?;
        Ok((self.inner.buffers.clone(), stream))
    }

    /// The last buffered record's position in a DirectPut delivery stream's durable
    /// buffer (`None` while it holds nothing): pass it to
    /// [`buffered_ids`](Self::buffered_ids) later to see only what came after.
    pub fn buffer_position(&self, name: &str) -> Result<Option<u128>> {
        let (_, stream) = self.direct(name)?;
        let info = self.inner.buffers.scan_segments(&stream, DIRECT_SHARD)?;
        Ok(info
            .segments
            .iter()
            .rev()
            .find_map(|s| s.seqs.map(|(_, last)| last)))
    }

    /// The identities starting with `prefix` (see
    /// [`put_record_batch_with_ids`](Self::put_record_batch_with_ids)) of the records
    /// buffered after position `after` (from the oldest retained if `None`). Records
    /// stay in the buffer for `buffer_retention_hours` whether delivered or not.
    pub fn buffered_ids(
        &self,
        name: &str,
        after: Option<u128>,
        prefix: &str,
    ) -> Result<std::collections::BTreeSet<String>> {
        let (_, stream) = self.direct(name)?;
        let buffers = &self.inner.buffers;
        let info = buffers.scan_segments(&stream, DIRECT_SHARD)?;
        let mut next = after.map_or(info.readable_from, |a| {
            a.saturating_add(1).max(info.readable_from)
        });
        let mut out = std::collections::BTreeSet::new();
        loop {
            let batch = buffers.scan_shard(&stream, DIRECT_SHARD, next, 10_000, 8 << 20)?;
            if batch.is_empty() {
                break;
            }
            for r in batch.iter() {
                next = r.seq + 1;
                let key = r.key_str();
                if key.starts_with(prefix) {
                    out.insert(key.to_string());
                }
            }
        }
        Ok(out)
    }

    fn put_batch(
        &self,
        name: &str,
        records: &[&[u8]],
        ids: Option<&[&str]>,
    ) -> Result<PutRecordBatchOutput> {
        let (running, stream) = self.direct(name)?;
        if records.is_empty() || records.len() > BATCH_RECORDS_MAX {
            return Err(Error::invalid(
                "Records",
                format!(
                    "{} records; a batch has 1 to {BATCH_RECORDS_MAX}",
                    records.len()
                ),
            ));
        }
        let mut total = 0usize;
        for (i, r) in records.iter().enumerate() {
            if r.len() > RECORD_BYTES_MAX {
                return Err(Error::invalid(
                    format!("Records[{i}].Data"),
                    format!("{} bytes, more than {RECORD_BYTES_MAX}", r.len()),
                ));
            }
            total += r.len();
        }
        if total > BATCH_BYTES_MAX {
            return Err(Error::invalid(
                "Records",
                format!("{total} bytes in all, more than {BATCH_BYTES_MAX}"),
            ));
        }
        let counters = &running.shared.counters;
        let admitted = {
            let now = self.inner.ctx.clock.monotonic_ns();
            let mut ingest = lock(&running.ingest);
            if !ingest.requests.has(1, now) {
                add(&counters.throttled_records, records.len() as u64);
                return Err(Error::ServiceUnavailable("Slow down.".to_string()));
            }
            ingest.requests.charge(1, now);
            let mut n = 0;
            for r in records {
                if !(ingest.records.has(1, now) && ingest.bytes.has(r.len() as u64, now)) {
                    break;
                }
                ingest.records.charge(1, now);
                ingest.bytes.charge(r.len() as u64, now);
                n += 1;
            }
            n
        };
        let mut responses: Vec<PutRecordBatchEntry> = Vec::with_capacity(records.len());
        if admitted > 0 {
            let entries: Vec<PutRecordsEntry<'_>> = records[..admitted]
                .iter()
                .enumerate()
                .map(|(i, d)| PutRecordsEntry {
                    partition_key: ids.map_or(BUFFER_KEY, |ids| ids[i]),
                    data: d,
                    explicit_hash_key: Some(BUFFER_HASH_KEY),
                })
                .collect();
            let out = self.inner.buffers.put_records(&stream, &entries, None)?;
            let mut ok = 0u64;
            let mut ok_bytes = 0u64;
            for (r, data) in out.records.into_iter().zip(&records[..admitted]) {
                responses.push(match r {
                    Ok(put) => {
                        ok += 1;
                        ok_bytes += data.len() as u64;
                        Ok(record_id(put.sequence_number))
                    }
                    Err(e) => Err(("InternalFailure".to_string(), e.to_string())),
                });
            }
            if ok > 0 {
                running.shared.notify_put();
            }
            add(&counters.incoming_bytes, ok_bytes);
            add(&counters.incoming_records, ok);
            add(&counters.put_record_batch_records, ok);
            add(&counters.put_record_batch_bytes, ok_bytes);
        }
        let throttled = records.len() - admitted;
        add(&counters.throttled_records, throttled as u64);
        for _ in 0..throttled {
            responses.push(Err((
                "ServiceUnavailableException".to_string(),
                "Slow down.".to_string(),
            )));
        }
        add(&counters.incoming_put_requests, 1);
        add(&counters.put_record_batch_requests, 1);
        Ok(PutRecordBatchOutput {
            failed_put_count: responses.iter().filter(|r| r.is_err()).count(),
            encrypted: self.encrypted(name),
            responses,
        })
    }

    /// UpdateDestination: merges the update into the destination (same type) after the
    /// version check, bumps the version. Records buffered under the old configuration
    /// are delivered under it first.
    pub fn update_destination(&self, input: UpdateDestinationInput) -> Result<()> {
        self.check_open()?;
        refuse_other(
            &input.other,
            &[
                "ElasticsearchDestinationUpdate",
                "AmazonopensearchserviceDestinationUpdate",
                "SplunkDestinationUpdate",
                "AmazonOpenSearchServerlessDestinationUpdate",
                "SnowflakeDestinationUpdate",
                "IcebergDestinationUpdate",
            ],
        )?;
        let name = input.delivery_stream_name.clone();
        validate_name(&name, "DeliveryStreamName")?;
        if input.destination_id != DESTINATION_ID {
            let valid = !input.destination_id.is_empty()
                && input.destination_id.len() <= 100
                && input
                    .destination_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            return Err(Error::invalid(
                "DestinationId",
                if valid {
                    format!(
                        "{:?} is not a destination of {name} ({DESTINATION_ID})",
                        input.destination_id
                    )
                } else {
                    format!("{:?} is not a destination id", input.destination_id)
                },
            ));
        }
        let version: u64 = input
            .current_delivery_stream_version_id
            .parse()
            .map_err(|_| {
                Error::invalid(
                    "CurrentDeliveryStreamVersionId",
                    format!(
                        "{:?} is not a version (digits)",
                        input.current_delivery_stream_version_id
                    ),
                )
            })?;
        let updates = [
            input.extended_s3_destination_update.is_some(),
            input.s3_destination_update.is_some(),
            input.http_endpoint_destination_update.is_some(),
            input.redshift_destination_update.is_some(),
        ];
        match updates.iter().filter(|u| **u).count() {
            0 => {
                return Err(Error::invalid(
                    "ExtendedS3DestinationUpdate",
                    "the update changes nothing",
                ));
            }
            1 => {}
            _ => {
                return Err(Error::invalid(
                    "DestinationId",
                    "give one destination update",
                ));
            }
        }
        let now = self.inner.ctx.clock.now_ms();
        let (record, plan) = self.commit(|data| {
            let r = data.get_mut(&name).ok_or_else(|| self.not_found(&name))?;
            if r.status != "ACTIVE" {
                return Err(Error::InUse {
                    name: name.clone(),
                    status: if r.status == "CREATING" {
                        "CREATING"
                    } else {
                        "DELETING"
                    },
                    reason: "only an ACTIVE delivery stream can be updated",
                });
            }
            if version != r.version {
                return Err(Error::ConcurrentModification {
                    name: name.clone(),
                    given: input.current_delivery_stream_version_id.clone(),
                    current: r.version.to_string(),
                });
            }
            let next = merge_destination(&r.destination, &input, &name)?;
            let mut probe = r.clone();
            probe.destination = next;
            probe.version = r.version + 1;
            let plan = probe.plan()?;
            r.destination = probe.destination;
            r.version += 1;
            r.updated_ms = now;
            Ok((r.clone(), plan))
        })?;
        let _ = record;
        if let Ok(running) = self.running(&name) {
            running.shared.set_plan(Arc::new(plan));
        }
        Ok(())
    }

    /// TagDeliveryStream: adds or replaces tags (at most 50 in all).
    pub fn tag_delivery_stream(&self, name: &str, tags: &[Tag]) -> Result<()> {
        self.check_open()?;
        validate_name(name, "DeliveryStreamName")?;
        if tags.is_empty() || tags.len() > TAGS_MAX {
            return Err(Error::invalid(
                "Tags",
                format!("{} tags; give 1 to {TAGS_MAX}", tags.len()),
            ));
        }
        validate_tags(tags, "Tags")?;
        self.commit(|data| {
            let r = data.get_mut(name).ok_or_else(|| self.not_found(name))?;
            let mut next = r.tags.clone();
            for t in tags {
                match next.iter_mut().find(|x| x.key == t.key) {
                    Some(existing) => existing.value = t.value.clone(),
                    None => next.push(t.clone()),
                }
            }
            if next.len() > TAGS_MAX {
                return Err(Error::LimitExceeded {
                    what: "tags on a delivery stream",
                    requested: next.len() as u64,
                    limit: TAGS_MAX as u64,
                });
            }
            r.tags = next;
            Ok(())
        })
    }

    /// UntagDeliveryStream: removes tags by key (absent keys are ignored).
    pub fn untag_delivery_stream(&self, name: &str, keys: &[String]) -> Result<()> {
        self.check_open()?;
        validate_name(name, "DeliveryStreamName")?;
        if keys.is_empty() || keys.len() > TAGS_MAX {
            return Err(Error::invalid(
                "TagKeys",
                format!("{} keys; give 1 to {TAGS_MAX}", keys.len()),
            ));
        }
        self.commit(|data| {
            let r = data.get_mut(name).ok_or_else(|| self.not_found(name))?;
            r.tags.retain(|t| !keys.contains(&t.key));
            Ok(())
        })
    }

    /// ListTagsForDeliveryStream: up to `limit` (1 to 50, default 50) tags after
    /// `exclusive_start_key`, in the order they were added; and whether more follow.
    pub fn list_tags_for_delivery_stream(
        &self,
        name: &str,
        exclusive_start_key: Option<&str>,
        limit: Option<usize>,
    ) -> Result<(Vec<Tag>, bool)> {
        self.check_open()?;
        validate_name(name, "DeliveryStreamName")?;
        let limit = limit.unwrap_or(TAGS_MAX);
        if !(1..=TAGS_MAX).contains(&limit) {
            return Err(Error::invalid(
                "Limit",
                format!("{limit} is outside 1..={TAGS_MAX}"),
            ));
        }
        let r = self.record(name)?;
        let start = match exclusive_start_key {
            Some(k) => r
                .tags
                .iter()
                .position(|t| t.key == k)
                .map_or(r.tags.len(), |i| i + 1),
            None => 0,
        };
        let rest = &r.tags[start.min(r.tags.len())..];
        let has_more = rest.len() > limit;
        Ok((rest.iter().take(limit).cloned().collect(), has_more))
    }

    /// StartDeliveryStreamEncryption (DirectPut only). Recorded and reported; the data
    /// at rest is as protected as the file system holding it.
    pub fn start_delivery_stream_encryption(
        &self,
        name: &str,
        input: Option<EncryptionInput>,
    ) -> Result<()> {
        self.check_open()?;
        validate_name(name, "DeliveryStreamName")?;
        let input = input.unwrap_or(EncryptionInput {
            key_arn: None,
            key_type: "AWS_OWNED_CMK".to_string(),
        });
        validate_encryption(&input)?;
        self.set_encryption(name, Some(input))
    }

    /// StopDeliveryStreamEncryption.
    pub fn stop_delivery_stream_encryption(&self, name: &str) -> Result<()> {
        self.check_open()?;
        validate_name(name, "DeliveryStreamName")?;
        self.set_encryption(name, None)
    }

    fn set_encryption(&self, name: &str, input: Option<EncryptionInput>) -> Result<()> {
        self.commit(|data| {
            let r = data.get_mut(name).ok_or_else(|| self.not_found(name))?;
            if r.kinesis.is_some() {
                return Err(Error::invalid(
                    "DeliveryStreamName",
                    "server-side encryption applies to DirectPut delivery streams only",
                ));
            }
            r.encryption = Some(match input {
                Some(i) => EncryptionState {
                    key_type: i.key_type,
                    key_arn: i.key_arn,
                    status: "ENABLED".to_string(),
                },
                None => EncryptionState {
                    status: "DISABLED".to_string(),
                    ..r.encryption.clone().unwrap_or(EncryptionState {
                        key_type: "AWS_OWNED_CMK".to_string(),
                        key_arn: None,
                        status: String::new(),
                    })
                },
            });
            Ok(())
        })
    }

    /// Delivers everything the delivery stream has read (and, for DirectPut, every
    /// record acknowledged before this call) now, whatever the buffering hints, and
    /// waits up to `timeout` for the objects to be written. A failed write is reported
    /// (delivery keeps retrying in the background).
    pub fn flush(&self, name: &str, timeout: Duration) -> Result<()> {
        self.check_open()?;
        validate_name(name, "DeliveryStreamName")?;
        let signal = self.running(name)?.shared.request_flush();
        match signal.wait(timeout) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(Error::Delivery(e)),
            None => Err(Error::Timeout {
                what: format!("flush of {name}"),
                waited_ms: timeout.as_millis() as u64,
            }),
        }
    }

    /// Flushes every delivery stream.
    pub fn flush_all(&self, timeout: Duration) -> Result<()> {
        let names: Vec<String> = self
            .inner
            .running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        let signals: Vec<_> = names
            .iter()
            .filter_map(|n| {
                self.running(n)
                    .ok()
                    .map(|r| (n.clone(), r.shared.request_flush()))
            })
            .collect();
        let deadline = std::time::Instant::now() + timeout;
        for (name, s) in signals {
            match s.wait(deadline.saturating_duration_since(std::time::Instant::now())) {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(Error::Delivery(format!("{name}: {e}"))),
                None => {
                    return Err(Error::Timeout {
                        what: format!("flush of {name}"),
                        waited_ms: timeout.as_millis() as u64,
                    });
                }
            }
        }
        Ok(())
    }

    /// Wakes every worker now (after moving a manual clock, for instance).
    pub fn wake(&self) {
        for r in self
            .inner
            .running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            r.shared.notify_put();
        }
    }

    /// The metrics of one delivery stream.
    pub fn metrics(&self, name: &str) -> Result<Metrics> {
        self.check_open()?;
        validate_name(name, "DeliveryStreamName")?;
        Ok(self.running(name)?.shared.counters.snapshot(name))
    }

    /// The metrics of every delivery stream.
    pub fn metrics_all(&self) -> Vec<Metrics> {
        self.inner
            .running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(n, r)| r.shared.counters.snapshot(n))
            .collect()
    }

    /// The engine's OpenMetrics exposition with Firehose's families added (one
    /// document, ending with `# EOF`).
    pub fn metrics_openmetrics(&self) -> Result<String> {
        let engine = self.inner.engine.metrics_openmetrics()?;
        let body = engine.strip_suffix("# EOF\n").unwrap_or(&engine);
        Ok(format!(
            "{body}{}# EOF\n",
            crate::metrics::render_openmetrics(&self.metrics_all())
        ))
    }

    /// Stops every worker (each saves its checkpoint) and closes the buffer engine.
    /// Undelivered records stay in the durable buffers and are delivered after the
    /// next open. Idempotent; the engine stays open.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(id) = lock(&self.inner.delete_guard).take() {
            self.inner.engine.remove_delete_guard(id);
        }
        let names: Vec<String> = self
            .inner
            .running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for n in names {
            self.stop_worker(&n, Stop::Graceful);
        }
        let result = self.inner.buffers.close().map_err(Error::from);
        lock(&self.inner.lock).take();
        result
    }

    /// Stops as a crash would: workers stop without saving anything, the buffer engine
    /// stops without syncing. For crash tests.
    pub fn crash_for_testing(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(id) = lock(&self.inner.delete_guard).take() {
            self.inner.engine.remove_delete_guard(id);
        }
        let names: Vec<String> = self
            .inner
            .running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for n in names {
            self.stop_worker(&n, Stop::Abandon);
        }
        self.inner.buffers.crash_for_testing();
        lock(&self.inner.lock).take();
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// The directory of a bucket in the directory store (`None` for S3 buckets).
    pub fn bucket_directory(&self, bucket: &str) -> Option<PathBuf> {
        match self.inner.ctx.stores.store_of(bucket) {
            BucketStore::Directory { root } => Some(root.join(bucket)),
            BucketStore::S3(_) => None,
        }
    }
}

/// The `running` key of a channel's worker (delivery stream names cannot hold a `:`).
fn channel_worker(name: &str) -> String {
    format!("channel:{name}")
}

/// Kinesis channels (`channel.rs` has the model): JSON-level operations with Kinesis's
/// shapes and error names, as the server's Kinesis API calls them.
impl Firehose {
    fn channel_arn_of(&self, name: &str) -> String {
        channel::channel_arn(
            &self.inner.config.region,
            &self.inner.config.account_id,
            name,
        )
    }

    /// The channel a ChannelARN names (another region or account names none here).
    fn channel_by_arn(&self, arn: &str) -> std::result::Result<ChannelRecord, ApiError> {
        let (region, account, name) = channel::parse_channel_arn(arn)?;
        let data = lock(&self.inner.catalog);
        data.channel(&name)
            .filter(|_| {
                region == self.inner.config.region && account == self.inner.config.account_id
            })
            .cloned()
            .ok_or_else(|| channel::not_found(format!("Channel {arn}")))
    }

    fn set_channel_status(&self, name: &str, status: &str, reason: Option<String>) -> Result<()> {
        self.commit(|data| {
            if let Some(c) = data.channel_mut(name) {
                c.status = status.to_string();
                c.status_reason = reason;
            }
            Ok(())
        })
    }

    /// Starts a channel's worker: a Kinesis source from the channel's creation on.
    fn start_channel(&self, record: &ChannelRecord) -> Result<()> {
        let plan = Arc::new(record.plan()?);
        let dir = stream_dir(&self.inner.dir, record.id);
        self.inner
            .storage
            .create_dir_all_durable(&dir)
            .map_err(|e| Error::io("create channel directory", &dir, e))?;
        let ckpt_file = CheckpointFile::new(&dir);
        let ckpt = ckpt_file.load(self.inner.storage.as_ref())?;
        let low = ckpt.low_positions().map_err(|problem| Error::Corrupt {
            path: ckpt_file.path().to_path_buf(),
            problem,
        })?;
        let poll =
            u64::try_from(self.inner.config.kinesis_poll_interval.as_nanos()).unwrap_or(u64::MAX);
        let source = Source::Kinesis {
            reader: KinesisReader::new(
                self.inner.engine.clone(),
                record.stream_name.clone(),
                StartingPosition::AtTimestamp(record.created_ms),
                poll,
                low,
                ckpt.finished.clone(),
            ),
            arn: record.stream_arn.clone(),
        };
        let key = channel_worker(&record.name);
        self.spawn_worker(
            key.clone(),
            Arc::new(Shared::new(
                record.id,
                key,
                self.channel_arn_of(&record.name),
                plan,
            )),
            source,
            (ckpt_file, ckpt),
            None,
        )
    }

    /// At open: finishes a deletion, or restarts the channel if its stream is still the
    /// one it was created on (else it is FAILED, with the reason).
    fn resume_channel(&self, record: ChannelRecord) -> Result<()> {
        match record.status.as_str() {
            channel::DELETING => return self.finish_delete_channel(&record),
            channel::FAILED => return Ok(()),
            _ => {}
        }
        let same_stream = match self
            .inner
            .engine
            .describe_stream_summary(&record.stream_name)
        {
            Ok(s) => s.created_ms == record.stream_created_ms,
            Err(e) if e.kind() == tidelog::ErrorKind::ResourceNotFound => false,
            Err(e) => return Err(e.into()),
        };
        if !same_stream {
            return self.set_channel_status(
                &record.name,
                channel::FAILED,
                Some(format!(
                    "the source stream {} was deleted while the channel was not running",
                    record.stream_arn
                )),
            );
        }
        match self.start_channel(&record) {
            Ok(()) if record.status != channel::ACTIVE => {
                self.set_channel_status(&record.name, channel::ACTIVE, None)
            }
            Ok(()) => Ok(()),
            Err(e) => self.set_channel_status(
                &record.name,
                channel::FAILED,
                Some(format!("the channel could not start: {e}")),
            ),
        }
    }

    /// Registers the engine delete guard: a stream with channels (not FAILED) cannot be
    /// deleted while this Firehose is open.
    fn guard_channel_streams(&self) {
        let weak = Arc::downgrade(&self.inner);
        let id = self
            .inner
            .engine
            .add_delete_guard(Arc::new(move |stream: &str| {
                let inner = weak.upgrade()?;
                if inner.closed.load(Ordering::Acquire) {
                    return None;
                }
                let held = lock(&inner.catalog)
                    .channels
                    .iter()
                    .any(|c| c.stream_name == stream && c.status != channel::FAILED);
                held.then_some(channel::STREAM_HAS_CHANNELS)
            }));
        *lock(&self.inner.delete_guard) = Some(id);
    }

    fn finish_delete_channel(&self, record: &ChannelRecord) -> Result<()> {
        self.stop_worker(&channel_worker(&record.name), Stop::Abandon);
        let dir = stream_dir(&self.inner.dir, record.id);
        match self.inner.storage.remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove channel directory", dir, e)),
        }
        let id = record.id;
        self.commit(|data| {
            data.channels.retain(|c| c.id != id);
            Ok(())
        })
    }

    /// CreateChannel: checks the input and the stream (it must exist here and be
    /// ON_DEMAND), records the channel (CREATING), starts its worker and marks it ACTIVE
    /// (FAILED, with the reason, if it cannot start). Answers the description as of the
    /// request (CREATING).
    pub fn create_channel(
        &self,
        input: &serde_json::Value,
    ) -> std::result::Result<serde_json::Value, ApiError> {
        self.check_open()?;
        let mut record = channel::parse_create(input)?.record;
        let engine = &self.inner.engine;
        let stream = engine.resolve_stream_arn(&record.stream_arn).map_err(|e| {
            if e.kind() == tidelog::ErrorKind::ResourceNotFound {
                channel::not_found(format!("Stream {}", record.stream_arn))
            } else {
                ApiError {
                    code: "InvalidArgumentException",
                    message: format!("StreamARN {:?}: {e}", record.stream_arn),
                    status: 400,
                }
            }
        })?;
        let summary = engine.describe_stream_summary(&stream).map_err(|e| {
            if e.kind() == tidelog::ErrorKind::ResourceNotFound {
                channel::not_found(format!(
                    "Stream {} under account {}",
                    stream, self.inner.config.account_id
                ))
            } else {
                ApiError::from(Error::from(e))
            }
        })?;
        if summary.mode != tidelog::StreamMode::OnDemand {
            return Err(ApiError {
                code: "InvalidArgumentException",
                message: format!(
                    "channels are only supported for ON_DEMAND streams; stream {stream} is {}",
                    summary.mode.name()
                ),
                status: 400,
            });
        }
        if summary.status != tidelog::stream::catalog::StreamStatus::Active {
            return Err(channel::in_use(format!(
                "stream {stream} is {}, not ACTIVE",
                summary.status.name()
            )));
        }
        record.stream_name = stream;
        record.stream_created_ms = summary.created_ms;
        let now = self.inner.ctx.clock.now_ms();
        let name = record.name.clone();
        {
            let data = lock(&self.inner.catalog);
            if data.channel(&name).is_some() {
                return Err(channel::in_use(format!("Channel {name} already exists")));
            }
            if data.channels.len() >= channel::CHANNELS_MAX {
                return Err(ApiError {
                    code: "LimitExceededException",
                    message: format!("at most {} channels", channel::CHANNELS_MAX),
                    status: 400,
                });
            }
        }
        let record = self.commit(|data| {
            if data.channel(&name).is_some() {
                return Err(Error::AlreadyExists {
                    name: name.clone(),
                    account: self.inner.config.account_id.clone(),
                });
            }
            record.id = data.next_id;
            data.next_id += 1;
            record.channel_id = channel::channel_id(record.id, &name, now);
            record.created_ms = now;
            data.channels.push(record.clone());
            Ok(record)
        })?;
        let answer = record.description(
            &self.inner.config.region,
            &self.inner.config.account_id,
            channel::CREATING,
        );
        match self.start_channel(&record) {
            Ok(()) => self.set_channel_status(&name, channel::ACTIVE, None)?,
            Err(e) => self.set_channel_status(
                &name,
                channel::FAILED,
                Some(format!("the channel could not start: {e}")),
            )?,
        }
        Ok(serde_json::json!({ "ChannelDescription": answer }))
    }

    /// DescribeChannel.
    pub fn describe_channel(
        &self,
        input: &serde_json::Value,
    ) -> std::result::Result<serde_json::Value, ApiError> {
        self.check_open()?;
        let arn = channel_arn_member(input, "DescribeChannelInput")?;
        let c = self.channel_by_arn(&arn)?;
        Ok(serde_json::json!({
            "ChannelDescription": c.description(&self.inner.config.region, &self.inner.config.account_id, &c.status)
        }))
    }

    /// DeleteChannel: stops delivery (records not yet delivered are not), removes the
    /// channel's checkpoint, then its record. Objects delivered stay.
    pub fn delete_channel(
        &self,
        input: &serde_json::Value,
    ) -> std::result::Result<serde_json::Value, ApiError> {
        self.check_open()?;
        let arn = channel_arn_member(input, "DeleteChannelInput")?;
        let c = self.channel_by_arn(&arn)?;
        if c.status == channel::DELETING {
            return Err(channel::in_use(format!("Channel {arn} is DELETING")));
        }
        let name = c.name.clone();
        let record = self.commit(|data| {
            let c = data
                .channel_mut(&name)
                .ok_or_else(|| self.not_found(&name))?;
            c.status = channel::DELETING.to_string();
            Ok(c.clone())
        })?;
        self.finish_delete_channel(&record)?;
        Ok(serde_json::json!({}))
    }

    /// UpdateChannel: a new DataFreshnessInSeconds (the next buffer is cut at it) and/or
    /// LoggingConfiguration. The channel must be ACTIVE. Answers the description with
    /// the new settings as of the request (UPDATING); the change is applied before the
    /// call returns.
    pub fn update_channel(
        &self,
        input: &serde_json::Value,
    ) -> std::result::Result<serde_json::Value, ApiError> {
        self.check_open()?;
        let u = channel::parse_update(input)?;
        let c = self.channel_by_arn(&u.arn)?;
        if c.status != channel::ACTIVE {
            return Err(channel::in_use(format!(
                "Channel {} is {}, not ACTIVE",
                u.arn, c.status
            )));
        }
        let name = c.name.clone();
        let record = self.commit(|data| {
            let c = data
                .channel_mut(&name)
                .ok_or_else(|| self.not_found(&name))?;
            if let Some(f) = u.freshness_s {
                c.freshness_s = f;
            }
            if let Some(l) = &u.logging {
                c.logging = l.clone();
            }
            c.version += 1;
            Ok(c.clone())
        })?;
        let plan = Arc::new(record.plan()?);
        if let Ok(running) = self.running(&channel_worker(&name)) {
            running.shared.set_plan(plan);
            running.shared.notify_put();
        }
        Ok(serde_json::json!({
            "ChannelDescription": record.description(&self.inner.config.region, &self.inner.config.account_id, channel::UPDATING)
        }))
    }

    /// ListChannels: by name, at most `MaxResults` (100), of the streams in
    /// `StreamFilter` if given, with a NextToken while more follow.
    pub fn list_channels(
        &self,
        input: &serde_json::Value,
    ) -> std::result::Result<serde_json::Value, ApiError> {
        self.check_open()?;
        let now = self.inner.ctx.clock.now_ms();
        let l = channel::parse_list(input, now)?;
        let data = lock(&self.inner.catalog);
        let mut channels: Vec<&ChannelRecord> = data
            .channels
            .iter()
            .filter(|c| c.status != channel::DELETING)
            .filter(|c| {
                l.after
                    .as_ref()
                    .is_none_or(|a| c.name.as_str() > a.as_str())
            })
            .filter(|c| {
                l.streams.as_ref().is_none_or(|streams| {
                    streams.iter().any(|(arn, created)| {
                        *arn == c.stream_arn
                            && created.is_none_or(|s| {
                                (s * 1000.0 - c.stream_created_ms as f64).abs() < 1.0
                            })
                    })
                })
            })
            .collect();
        channels.sort_by(|a, b| a.name.cmp(&b.name));
        let more = channels.len() > l.max;
        channels.truncate(l.max);
        let (region, account) = (&self.inner.config.region, &self.inner.config.account_id);
        let mut out = serde_json::json!({
            "ChannelSummaries": channels.iter().map(|c| c.summary(region, account)).collect::<Vec<_>>(),
        });
        if more && let Some(last) = channels.last() {
            out["NextToken"] = serde_json::json!(channel::encode_token(&last.name, now));
        }
        Ok(out)
    }

    /// How many channels read `stream` (DescribeStreamSummary's ChannelCount).
    pub fn channel_count(&self, stream: &str) -> usize {
        lock(&self.inner.catalog)
            .channels
            .iter()
            .filter(|c| c.stream_name == stream && c.status != channel::DELETING)
            .count()
    }

    /// A channel's catalog record, by name.
    pub fn channel_record(&self, name: &str) -> Option<ChannelRecord> {
        lock(&self.inner.catalog).channel(name).cloned()
    }

    /// Delivers now everything a channel has read and every record put on its stream
    /// before the call, and waits for the objects (as [`flush`](Self::flush) does for a
    /// delivery stream).
    pub fn flush_channel(&self, name: &str, timeout: Duration) -> Result<()> {
        self.check_open()?;
        let signal = self.running(&channel_worker(name))?.shared.request_flush();
        match signal.wait(timeout) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(Error::Delivery(e)),
            None => Err(Error::Timeout {
                what: format!("flush of channel {name}"),
                waited_ms: timeout.as_millis() as u64,
            }),
        }
    }
}

/// The required ChannelARN member of a Describe/DeleteChannel input.
fn channel_arn_member(
    input: &serde_json::Value,
    shape: &str,
) -> std::result::Result<String, ApiError> {
    let o = input.as_object().ok_or_else(|| ApiError {
        code: "ValidationException",
        message: format!("{shape} must be a structure"),
        status: 400,
    })?;
    if let Some(k) = o.keys().find(|k| k.as_str() != "ChannelARN") {
        return Err(ApiError {
            code: "ValidationException",
            message: format!("{shape}: unknown member {k:?}"),
            status: 400,
        });
    }
    match o.get("ChannelARN") {
        Some(serde_json::Value::String(s)) => {
            channel::parse_channel_arn(s)?;
            Ok(s.clone())
        }
        _ => Err(ApiError {
            code: "ValidationException",
            message: "1 validation error detected: Value null at 'channelARN' failed to satisfy constraint: Member must not be null".to_string(),
            status: 400,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::record_id;

    #[test]
    fn record_ids_are_the_sequence_number_in_32_hex_digits() {
        let mut n: u128 = 0;
        for i in 0..4_000u128 {
            assert_eq!(record_id(n), format!("{n:032x}"));
            n = n
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(i * 1_442_695_040_888_963_407 + 1);
        }
        assert_eq!(record_id(u128::MAX), "f".repeat(32));
        assert_eq!(record_id(0), "0".repeat(32));
    }
}
