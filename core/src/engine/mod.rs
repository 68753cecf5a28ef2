//! The engine: the thread-safe front door users call (from Rust, and through the C ABI
//! and Python). `Engine` is `Send + Sync + Clone`; every clone is a handle on the same
//! running engine.
//!
//! ```text
//! <data_dir>/
//!   LOCK                      flock: one engine per data directory
//!   catalog                   streams, shards, epoch, iterator secret (catalog.rs)
//!   queues/catalog            queue definitions (queue/format.rs)
//!   queues/<queue id>.journal one queue's delivery state (queue/format.rs)
//!   streams/<stream id, 16 hex digits>/<shard index, 12 digits>/   one log per shard
//! ```
//!
//! Invariants:
//! - Writes go to the core that owns the shard (mailbox hop); reads, iterators and
//!   subscriptions read the log directly from the caller's thread.
//! - The epoch is bumped and the catalog synced before any core starts, so sequence
//!   numbers of this run are above every number of earlier runs.
//! - Catalog changes are serialized by one mutex and written atomically before they
//!   take effect in memory; a failed write leaves the engine as it was.
//! - Stream names are validated before use and never become paths (directories are
//!   named by numeric id).
#![forbid(unsafe_code)]

mod admin;
mod capacity;
mod consumers;
mod encryption;
mod fanout;
mod queues;
mod read;
mod reshard;
mod resources;
mod scan;
mod subscription;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

pub use admin::{
    CreateStreamOptions, DeleteGuard, ListStreamsOutput, ShardDescription, ShardFilter,
    StreamDescription, StreamSummary,
};
pub use capacity::{
    AccountSettingsOutput, OnDemandPolicy, ScalingReport, WarmThroughput, WarmThroughputOutput,
};
pub use consumers::{ConsumerDescription, ConsumerStatus, ListConsumersOutput};
pub use encryption::EncryptionType;
pub use fanout::{
    FanoutEvent, SHARD_SUBSCRIPTION_HEARTBEAT_MS, SHARD_SUBSCRIPTION_LIFETIME_MS,
    SUBSCRIBE_RETRY_AFTER_MS, ShardSubscription, SubscribeToShardEvent, parse_starting_position,
};
pub use queues::{
    CreateQueueOptions, DeadLetterConfig, ListQueuesOutput, QueueAttributes, QueueBatchOutput,
    QueueDescription, QueueEntryFailure, QueueRecord, QueueStatus, QueueStreamFilter,
    ReceiveOptions, VisibilityEntry,
};
pub use read::{ChildShard, GetRecordsOutput};
pub use reshard::UpdateShardCountOutput;
pub use resources::{EnhancedMonitoringOutput, LimitsDescription};
pub use scan::{ShardScanInfo, ShardWatch};
pub use subscription::{Subscription, SubscriptionEvent};
pub use write::{PutOptions, PutRecordOutput, PutRecordsEntry, PutRecordsOutput};

pub use crate::runtime::{Durability, SyncDriver};
pub use crate::stream::iterator::StartingPosition;
pub use crate::stream::throttle::Limits;

use crate::clock::{Clock, SystemClock};
use crate::crypto::{FileKeyProvider, KeyProvider};
use crate::error::{Error, Result};
use crate::io::{DirLockGuard, FsStorage, Storage};
use crate::log::LogConfig;
use crate::runtime::core::{CoreContext, MaintenanceReport, Request, ShardSpec};
use crate::runtime::mailbox::MailboxSender;
use crate::runtime::{Runtime, envcheck, reply};
use crate::stream::arn::ArnScope;
use crate::stream::catalog::{self, CatalogData, ShardState, StreamRecord};
use crate::stream::hashkey::Routing;
use crate::stream::shard::{Retention, ShardShared};

/// Hours in the longest retention period (Kinesis: 8,760 = 365 days).
pub const RETENTION_HOURS_MAX: u32 = 8760;
/// Kinesis's shortest (and default) retention period.
pub const RETENTION_HOURS_KINESIS_MIN: u32 = 24;

/// What the engine may assume about the machine it shares (see [`EngineConfig::machine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Machine {
    /// The default: the engine shares the CPUs with its callers and whatever else runs.
    /// `cores: None` means one core per usable CPU but one (usable: the CPUs this process
    /// may run on, capped by a cgroup CPU quota), so callers always have a CPU; a core
    /// keeps polling its mailbox (`core_spin`) only when some usable CPU is left to
    /// callers; a blocked caller spins (`reply_spin`, `subscriber_spin`) only on a CPU
    /// no core is pinned to, and no more callers spin at once than CPUs are left to
    /// callers; a caller that finds itself on a core's CPU steps off it before waiting
    /// (its affinity narrowed to the CPUs no core holds, which moves it, then restored)
    /// when another CPU is free, and yields (up to `reply_spin`) where it cannot; with
    /// no CPU free, a core yields its CPU once after answering, so the caller it woke
    /// runs at once.
    /// Nothing ever spins on the CPU of the thread it waits for, nor makes
    /// more runnable spinners than CPUs, so a machine with more threads than CPUs
    /// degrades to hand-offs (a thread wake-up per call), never to a spinner holding
    /// the CPU its answer needs for a scheduler time slice.
    #[default]
    Shared,
    /// A machine set up for tidelog, as the benchmark suite's tuned figures are taken:
    /// `cores: None` means one core per CPU, the spins are used as configured wherever
    /// the caller runs (up to one spinning caller per CPU no core takes, at least one),
    /// and the caller keeps its threads off the cores' CPUs itself.
    Dedicated,
}

/// How to open an engine. [`EngineConfig::new`] gives the defaults.
#[derive(Clone)]
pub struct EngineConfig {
    /// The data directory (created if missing).
    pub data_dir: PathBuf,
    /// How many cores (executors) to run; `None`: chosen by [`Machine`] (shared: one
    /// per usable CPU but one, at least one; dedicated: one per CPU).
    pub cores: Option<usize>,
    /// Shared with callers and other work (the default), or dedicated to tidelog: how
    /// many cores `None` means and when cores and callers spin. See [`Machine`].
    pub machine: Machine,
    /// Pin each core to its own CPU.
    pub pin_cores: bool,
    /// Default durability of puts (a put may ask for another).
    pub durability: Durability,
    /// Per-shard limits.
    pub limits: Limits,
    /// Retention of new streams, hours.
    pub retention_hours_default: u32,
    /// Shortest retention allowed, hours. Kinesis: 24; an embedded user may lower it
    /// (down to 1) for short-lived data.
    pub retention_hours_min: u32,
    /// Most open shards across all streams.
    pub max_shards: u32,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// File system.
    pub storage: Arc<dyn Storage>,
    /// Segment sizes and checks of every shard's log.
    pub log: LogConfig,
    /// How long a core keeps polling its mailbox after the last request before parking.
    pub core_spin: Duration,
    /// How long a blocked caller spins for its reply before parking.
    pub reply_spin: Duration,
    /// How long a subscriber spins for new records before parking.
    pub subscriber_spin: Duration,
    /// How often each core runs retention.
    pub maintenance_interval: Duration,
    /// How group commits reach the disk (io_uring by default; see [`SyncDriver`]).
    pub sync_driver: SyncDriver,
    /// The partition, region and account written into ARNs (`aws`, `local`,
    /// `000000000000` by default).
    pub arn_scope: ArnScope,
    /// Where encryption keys come from; `None`: the built-in file-backed provider in
    /// `<data_dir>/kms` (which makes `alias/aws/kinesis` on first use).
    pub key_provider: Option<Arc<dyn KeyProvider>>,
    /// Most enhanced fan-out consumers a stream may have registered (Kinesis: 20).
    pub consumers_per_stream_max: usize,
    /// How long a consumer stays CREATING after RegisterStreamConsumer and DELETING after
    /// DeregisterStreamConsumer (on the engine's clock; Kinesis takes seconds, the
    /// default 0 makes a consumer ACTIVE at once and gone at once).
    pub consumer_transition: Duration,
    /// Most ON_DEMAND streams (DescribeLimits' OnDemandStreamCountLimit; Kinesis: 50).
    pub on_demand_stream_count_max: u32,
    /// How on-demand streams scale (see `engine/capacity.rs`).
    pub on_demand: OnDemandPolicy,
    /// glommio's preemption timer on each core: how long the core runs tasks before it
    /// polls io_uring, which bounds how late a completed fsync is noticed under a
    /// steady stream of requests (default 2 ms). glommio parks a core whose timer
    /// fires between arming it and running the first task (see `runtime/mod.rs`), so
    /// hosts that stall threads for milliseconds (Valgrind, overloaded VMs) need it
    /// longer.
    pub preempt_timer: Duration,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("data_dir", &self.data_dir)
            .field("cores", &self.cores)
            .field("machine", &self.machine)
            .field("durability", &self.durability)
            .field("limits", &self.limits)
            .field("retention_hours_default", &self.retention_hours_default)
            .field("retention_hours_min", &self.retention_hours_min)
            .field("max_shards", &self.max_shards)
            .field("arn_scope", &self.arn_scope)
            .field("on_demand", &self.on_demand)
            .finish_non_exhaustive()
    }
}

impl EngineConfig {
    /// Defaults: a machine shared with the callers ([`Machine::Shared`]: one core per
    /// usable CPU but one, pinned; spinning only where a CPU is free for it); `sync` durability; Kinesis limits; 24 h
    /// retention; up to 10,000 open shards; records up to 10 MiB allowed (each stream
    /// starts at 1 MiB: UpdateMaxRecordSize); the real clock and file system; the
    /// file-backed key provider.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            cores: None,
            machine: Machine::Shared,
            pin_cores: true,
            durability: Durability::Sync,
            limits: Limits::kinesis(),
            retention_hours_default: RETENTION_HOURS_KINESIS_MIN,
            retention_hours_min: RETENTION_HOURS_KINESIS_MIN,
            max_shards: 10_000,
            clock: SystemClock::shared(),
            storage: Arc::new(FsStorage::new()),
            log: LogConfig {
                segment_bytes_initial: 128 << 10,
                record_bytes_max: crate::limits::RECORD_BYTES_MAX_CEILING,
                ..LogConfig::default()
            },
            core_spin: Duration::from_micros(200),
            reply_spin: Duration::from_micros(300),
            subscriber_spin: Duration::from_micros(200),
            maintenance_interval: Duration::from_secs(1),
            sync_driver: SyncDriver::IoUring,
            preempt_timer: Duration::from_millis(2),
            arn_scope: ArnScope::default(),
            key_provider: None,
            consumers_per_stream_max: 20,
            consumer_transition: Duration::ZERO,
            on_demand_stream_count_max: 50,
            on_demand: OnDemandPolicy::default(),
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |field, value: String, rule| Err(Error::Config { field, value, rule });
        if self.cores == Some(0) || self.cores.is_some_and(|c| c > 1024) {
            return bad("cores", format!("{:?}", self.cores), "must be 1 to 1024");
        }
        if self.retention_hours_min == 0 || self.retention_hours_min > RETENTION_HOURS_MAX {
            return bad(
                "retention_hours_min",
                self.retention_hours_min.to_string(),
                "must be 1 to 8760",
            );
        }
        if self.retention_hours_default < self.retention_hours_min
            || self.retention_hours_default > RETENTION_HOURS_MAX
        {
            return bad(
                "retention_hours_default",
                self.retention_hours_default.to_string(),
                "must be within [retention_hours_min, 8760]",
            );
        }
        if self.preempt_timer < Duration::from_micros(100)
            || self.preempt_timer > Duration::from_secs(1)
        {
            return bad(
                "preempt_timer",
                format!("{:?}", self.preempt_timer),
                "must be 100 µs to 1 s",
            );
        }
        if self.max_shards == 0 || self.max_shards > 1_000_000 {
            return bad(
                "max_shards",
                self.max_shards.to_string(),
                "must be 1 to 1,000,000",
            );
        }
        if self.limits.put_records_entries_max == 0 || self.limits.read_records_per_call_max == 0 {
            return bad(
                "limits",
                format!("{:?}", self.limits),
                "per-call maxima must be at least 1",
            );
        }
        if let Err(rule) = self.arn_scope.validate() {
            return bad("arn_scope", format!("{:?}", self.arn_scope), rule);
        }
        if self.consumers_per_stream_max == 0
            || self.consumers_per_stream_max > crate::stream::catalog::CONSUMER_RECORDS_MAX / 2
        {
            return bad(
                "consumers_per_stream_max",
                self.consumers_per_stream_max.to_string(),
                "must be 1 to 128",
            );
        }
        if self.consumer_transition > Duration::from_secs(3600) {
            return bad(
                "consumer_transition",
                format!("{:?}", self.consumer_transition),
                "must be at most an hour",
            );
        }
        if self.on_demand_stream_count_max > 1_000_000 {
            return bad(
                "on_demand_stream_count_max",
                self.on_demand_stream_count_max.to_string(),
                "must be at most 1,000,000",
            );
        }
        if let Err(rule) = self.on_demand.validate() {
            return bad("on_demand", format!("{:?}", self.on_demand), rule);
        }
        if self.log.record_bytes_max > crate::limits::RECORD_BYTES_MAX_CEILING {
            return bad(
                "log.record_bytes_max",
                self.log.record_bytes_max.to_string(),
                "must be within [1, 10 MiB]",
            );
        }
        self.log.validate().map_err(|e| Error::Config {
            field: "log",
            value: e.to_string(),
            rule: "see the log configuration rules",
        })?;
        Ok(())
    }
}

/// What the hot paths (puts, reads) need of a stream's settings, swapped as a whole
/// when a setting changes.
#[derive(Debug, Clone)]
pub(crate) struct LiveSettings {
    /// The largest record (data plus key): the stream's MaxRecordSizeInKiB, capped by
    /// the engine's `record_bytes_max`.
    pub record_bytes_max: usize,
    /// The key slot new records are encrypted with (`None`: encryption is off).
    pub encryption_slot: Option<u32>,
    /// That slot's cipher, once unwrapped (the first put after an open unwraps it).
    pub sealer: Option<Arc<crate::crypto::RecordCipher>>,
    /// How puts pick their shard (by key, or round robin: AUTO).
    pub distribution: crate::stream::catalog::RecordDistribution,
}

/// A stream as the running engine holds it.
#[derive(Debug)]
pub(crate) struct StreamRuntime {
    pub id: u64,
    pub name: Arc<str>,
    pub routing: ArcSwap<Routing>,
    pub shards: ArcSwap<BTreeMap<u32, Arc<ShardShared>>>,
    pub retention: Arc<Retention>,
    pub live: ArcSwap<LiveSettings>,
    /// Ciphers of the stream's key slots, unwrapped on first use.
    pub ciphers: Mutex<HashMap<u32, Arc<crate::crypto::RecordCipher>>>,
    /// The next AUTO-distributed record's turn (round robin over the open shards).
    pub auto_turn: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Streams {
    pub by_name: HashMap<Arc<str>, Arc<StreamRuntime>>,
    pub by_id: HashMap<u64, Arc<StreamRuntime>>,
}

pub(crate) struct Inner {
    pub config: EngineConfig,
    pub senders: Vec<MailboxSender<Request>>,
    pub runtime: Mutex<Option<Runtime>>,
    pub catalog: Mutex<CatalogData>,
    /// Serializes catalog writers (held across the file write; readers never take it).
    pub commit: Mutex<()>,
    pub streams: ArcSwap<Streams>,
    pub secret: [u8; 32],
    pub epoch: u32,
    pub closed: AtomicBool,
    /// How many blocked callers may spin at once (CPUs not taken by cores; 0 on a
    /// shared machine whose cores take every usable CPU).
    pub spin_slots: usize,
    /// Shared machine with pinned cores: the CPUs the cores are pinned to, indexed by
    /// CPU number (a caller running on one of them parks instead of spinning: it would
    /// hold the CPU a core needs). Empty otherwise.
    pub core_cpus: Box<[bool]>,
    /// Callers spinning now (for a reply or a subscription's next record). A parked
    /// waiter does not count: it holds no CPU. Counting it (as before) made waiting
    /// self-sustaining: with one spin slot, a caller parked for its reply kept the next
    /// caller from spinning, so that one parked too, and every put of the run paid a
    /// thread wake-up (two callers, one core: p50 17–19 µs in some runs, 1.5 µs in
    /// others).
    pub waiters: AtomicUsize,
    /// The thread that expires closed shards every `maintenance_interval` and, every
    /// [`LIVENESS_TICK`], wakes a core stuck asleep with work (`runtime/mailbox.rs`).
    pub maintenance: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Released by `close` (not only on drop), so the directory can be reopened while
    /// old handles linger.
    lock: Mutex<Option<Box<dyn DirLockGuard>>>,
    /// Where encryption keys come from.
    pub key_provider: Arc<dyn KeyProvider>,
    /// SubscribeToShard's bookkeeping: one subscription per consumer and shard.
    pub fanout: fanout::Registry,
    /// On-demand scaling's memory between evaluations.
    pub scaling: Mutex<capacity::ScalingState>,
    /// The queues (`queues.rs`), by id; their definitions change under `commit`.
    pub queues: Mutex<queues::QueueMap>,
    /// What else may hold a stream (a layer above the engine: Firehose's channels),
    /// asked before a stream is deleted (`admin::DeleteGuard`), with their ids.
    pub delete_guards: Mutex<Vec<(u64, admin::DeleteGuard)>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        if let Some(thread) = self
            .maintenance
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            thread.thread().unpark(); // it sees `closed` (or a dead Weak) and stops
        }
        if let Some(mut runtime) = self
            .runtime
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = runtime.shutdown();
        }
    }
}

/// A running tidelog engine: streams of shards on a thread-per-core runtime.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data_dir", &self.inner.config.data_dir)
            .field("cores", &self.inner.senders.len())
            .field("epoch", &self.inner.epoch)
            .finish()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How often the maintenance thread looks for a core that is stuck asleep with work
/// (the liveness backstop in `runtime/mailbox.rs`): at most this long a stall lasts
/// when the core loop's own watchdog timer could not prevent it.
const LIVENESS_TICK: Duration = Duration::from_millis(50);

pub(crate) fn stream_dir(data_dir: &Path, stream_id: u64) -> PathBuf {
    data_dir.join("streams").join(format!("{stream_id:016x}"))
}

pub(crate) fn shard_dir(data_dir: &Path, stream_id: u64, index: u32) -> PathBuf {
    stream_dir(data_dir, stream_id).join(format!("{index:012}"))
}

impl Engine {
    /// Opens (or creates) the engine in `config.data_dir`: checks the environment, locks
    /// the directory, bumps the epoch, starts the cores and opens every shard.
    pub fn open(mut config: EngineConfig) -> Result<Self> {
        config.validate()?;
        // glommio opens directories with openat(-1, path), which fails with EBADF for
        // a relative path (the first sync would): resolve it against the current
        // directory once, here.
        config.data_dir = std::path::absolute(&config.data_dir)
            .map_err(|e| Error::io("resolve data directory", &config.data_dir, e))?;
        let storage = Arc::clone(&config.storage);
        let dir = config.data_dir.clone();
        storage
            .create_dir_all_durable(&dir)
            .map_err(|e| Error::io("create data directory", &dir, e))?;
        let lock = storage.lock_dir(&dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                Error::DataDirLocked { path: dir.clone() }
            } else {
                Error::io("lock data directory", &dir, e)
            }
        })?;
        let mut data = match catalog::load(storage.as_ref(), &dir)
            .map_err(|e| Error::io("read catalog", dir.join(catalog::CATALOG_FILE), e))?
        {
            Some(Ok(data)) => data,
            Some(Err(problem)) => {
                return Err(Error::Catalog {
                    path: dir.join(catalog::CATALOG_FILE),
                    problem,
                });
            }
            None => {
                CatalogData::new().map_err(|e| Error::io("generate iterator secret", &dir, e))?
            }
        };
        data.epoch = data
            .epoch
            .checked_add(1)
            .ok_or(Error::Internal("epoch exhausted"))?;
        envcheck::check(envcheck::files_needed(admin::live_shards(&data)))?;
        catalog::save(storage.as_ref(), &dir, &data)
            .map_err(|e| Error::io("write catalog", dir.join(catalog::CATALOG_FILE), e))?;

        let cpus = crate::runtime::allowed_cpus();
        let usable = crate::runtime::usable_cpus();
        let core_count = config.cores.unwrap_or(match config.machine {
            Machine::Shared => usable.saturating_sub(1).max(1),
            Machine::Dedicated => cpus.len().max(1),
        });
        // Spinning where it cannot starve anyone (see `Machine`).
        let (core_spin, spin_slots) = match config.machine {
            Machine::Shared => {
                let spare = usable.saturating_sub(core_count);
                let core_spin = if spare > 0 {
                    config.core_spin
                } else {
                    Duration::ZERO
                };
                (core_spin, spare)
            }
            Machine::Dedicated => (
                config.core_spin,
                cpus.len().saturating_sub(core_count).max(1),
            ),
        };
        let core_cpus: Box<[bool]> = if config.machine == Machine::Shared && config.pin_cores {
            let mut set = vec![false; cpus.iter().max().map_or(0, |&c| c + 1)];
            for &cpu in cpus.iter().take(core_count) {
                set[cpu] = true;
            }
            set.into_boxed_slice()
        } else {
            Box::default()
        };
        if config.pin_cores && core_count > cpus.len() {
            return Err(Error::Config {
                field: "cores",
                value: core_count.to_string(),
                rule: "with pin_cores, at most one core per CPU this process may use",
            });
        }
        let mut log_config = config.log.clone();
        log_config.lock_directory = false; // the data directory's LOCK covers every shard
        // The log takes the largest record plus an encryption envelope; each stream's
        // own maximum is checked before a record reaches its core.
        log_config.record_bytes_max =
            config.log.record_bytes_max + crate::limits::RECORD_ENVELOPE_BYTES_MAX;
        let contexts: Vec<Arc<CoreContext>> = (0..core_count)
            .map(|index| {
                Arc::new(CoreContext {
                    index,
                    storage: Arc::clone(&storage),
                    clock: Arc::clone(&config.clock),
                    limits: config.limits,
                    log_config: log_config.clone(),
                    epoch: data.epoch,
                    spin: core_spin,
                    hand_off: config.machine == Machine::Shared && spin_slots == 0,
                    maintenance_interval: config.maintenance_interval,
                    sync_driver: config.sync_driver,
                    spare_nice: crate::runtime::core::spare_nice(usable, core_count),
                    preempt_timer: config.preempt_timer,
                })
            })
            .collect();
        let runtime = Runtime::start(contexts, config.pin_cores.then_some(&cpus[..]))?;
        let senders = (0..runtime.len())
            .map(|i| runtime.core(i).clone())
            .collect();
        let secret = data.secret;
        let epoch = data.epoch;
        let key_provider: Arc<dyn KeyProvider> = match &config.key_provider {
            Some(provider) => Arc::clone(provider),
            None => Arc::new(FileKeyProvider::new(dir.join("kms"))),
        };
        let inner = Arc::new(Inner {
            config,
            senders,
            runtime: Mutex::new(Some(runtime)),
            catalog: Mutex::new(data),
            commit: Mutex::new(()),
            streams: ArcSwap::from_pointee(Streams::default()),
            secret,
            epoch,
            closed: AtomicBool::new(false),
            spin_slots,
            core_cpus,
            waiters: AtomicUsize::new(0),
            maintenance: Mutex::new(None),
            lock: Mutex::new(Some(lock)),
            key_provider,
            fanout: fanout::Registry::default(),
            scaling: Mutex::new(capacity::ScalingState::default()),
            queues: Mutex::new(queues::QueueMap::new()),
            delete_guards: Mutex::new(Vec::new()),
        });
        let engine = Self { inner };
        engine.open_catalog_streams()?;
        engine.open_queues()?;
        engine.remove_stray_dirs();
        engine.start_maintenance()?;
        Ok(engine)
    }

    fn open_catalog_streams(&self) -> Result<()> {
        let records: Vec<StreamRecord> = lock(&self.inner.catalog).streams.clone();
        for record in &records {
            let runtime = self.start_stream(record)?;
            self.inner.streams.rcu(|streams| {
                let mut streams = Streams::clone(streams);
                streams
                    .by_name
                    .insert(Arc::clone(&runtime.name), Arc::clone(&runtime));
                streams.by_id.insert(runtime.id, Arc::clone(&runtime));
                streams
            });
        }
        Ok(())
    }

    /// Removes directories of streams and shards the catalog does not know: leftovers of
    /// a delete, a create or a reshard that crashed before (or after) its catalog write.
    /// Only names of our own form are touched.
    fn remove_stray_dirs(&self) {
        let storage = &self.inner.config.storage;
        let root = self.inner.config.data_dir.join("streams");
        let Ok(entries) = storage.list_dir(&root) else {
            return;
        };
        let data = lock(&self.inner.catalog);
        for entry in entries {
            if entry.name.len() != 16 {
                continue;
            }
            let Ok(id) = u64::from_str_radix(&entry.name, 16) else {
                continue;
            };
            let dir = root.join(&entry.name);
            let Some(record) = data.streams.iter().find(|s| s.id == id) else {
                let _ = storage.remove_dir_all(&dir);
                continue;
            };
            let Ok(shards) = storage.list_dir(&dir) else {
                continue;
            };
            for shard in shards {
                let ours = shard.name.len() == 12 && shard.name.bytes().all(|b| b.is_ascii_digit());
                let known = shard
                    .name
                    .parse::<u32>()
                    .ok()
                    .and_then(|i| record.shard(i))
                    .is_some_and(|s| s.state != ShardState::Expired);
                if ours && !known {
                    let _ = storage.remove_dir_all(&dir.join(&shard.name));
                }
            }
        }
    }

    fn start_maintenance(&self) -> Result<()> {
        let weak = Arc::downgrade(&self.inner);
        let interval = self.inner.config.maintenance_interval;
        let tick = interval.min(LIVENESS_TICK);
        let thread = std::thread::Builder::new()
            .name("tidelog-maintenance".to_string())
            .spawn(move || {
                let mut seen: Vec<u64> = Vec::new();
                let mut next_expiry = Instant::now() + interval;
                loop {
                    std::thread::park_timeout(tick);
                    let Some(inner) = weak.upgrade() else { return };
                    if inner.closed.load(Ordering::Acquire) {
                        return;
                    }
                    // The liveness backstop (runtime/mailbox.rs): a core that is neither
                    // parked on its mailbox nor turning since the last tick is woken.
                    seen.resize(inner.senders.len(), u64::MAX);
                    for (sender, seen) in inner.senders.iter().zip(seen.iter_mut()) {
                        sender.nudge_if_stuck(*seen);
                        *seen = sender.turns();
                    }
                    if Instant::now() >= next_expiry {
                        next_expiry = Instant::now() + interval;
                        // Errors here are retried at the next tick (e.g. a full disk).
                        let engine = Engine { inner };
                        let _ = engine.expire_shards();
                        let _ = engine.prune_consumers();
                        let _ = engine.prune_queues();
                        let _ = engine.scale_on_demand_streams();
                    }
                }
            })
            .map_err(|e| Error::io("spawn maintenance thread", &self.inner.config.data_dir, e))?;
        *lock(&self.inner.maintenance) = Some(thread);
        Ok(())
    }

    /// Opens a stream's live shards on their cores and builds its runtime record.
    pub(crate) fn start_stream(&self, record: &StreamRecord) -> Result<Arc<StreamRuntime>> {
        let name: Arc<str> = Arc::from(record.name.as_str());
        let retention = Arc::new(Retention::new(
            u64::from(record.retention_hours) * 3_600_000,
            record.retention_floor_ms,
        ));
        let specs: Vec<(usize, ShardSpec)> = record
            .shards
            .iter()
            .filter(|s| s.state != ShardState::Expired)
            .map(|s| {
                let core = s.core as usize % self.inner.senders.len();
                (
                    core,
                    ShardSpec {
                        stream_id: record.id,
                        stream_name: Arc::clone(&name),
                        index: s.index,
                        dir: shard_dir(&self.inner.config.data_dir, record.id, s.index),
                        state: s.state,
                        ending_seq: s.ending_seq,
                        retention: Arc::clone(&retention),
                    },
                )
            })
            .collect();
        let shards = self.open_on_cores(specs)?;
        let live = self.live_settings(record, None);
        for shard in &shards {
            shard.set_write_burst_bytes(live.record_bytes_max as u64);
        }
        let routing = Routing::new(
            record
                .open_shards()
                .map(|s| (s.hash_range, s.index))
                .collect(),
        )
        .map_err(|_| Error::Internal("open shards do not cover the hash key space"))?;
        Ok(Arc::new(StreamRuntime {
            id: record.id,
            name,
            routing: ArcSwap::from_pointee(routing),
            shards: ArcSwap::from_pointee(shards.into_iter().map(|s| (s.index, s)).collect()),
            retention,
            live: ArcSwap::from_pointee(live),
            ciphers: Mutex::new(HashMap::new()),
            auto_turn: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// The hot-path settings of a stream from its catalog record (`sealer`: the current
    /// slot's cipher, if encryption is on and it is already unwrapped; otherwise puts
    /// unwrap it on first use).
    pub(crate) fn live_settings(
        &self,
        record: &StreamRecord,
        sealer: Option<Arc<crate::crypto::RecordCipher>>,
    ) -> LiveSettings {
        let stream_max = record.settings.max_record_kib as usize * 1024;
        let encryption_slot = record.settings.encryption_slot;
        LiveSettings {
            record_bytes_max: stream_max.min(self.inner.config.log.record_bytes_max as usize),
            encryption_slot,
            sealer: sealer.filter(|s| Some(s.slot()) == encryption_slot),
            distribution: record.settings.distribution,
        }
    }

    /// Sends each spec to its core (all cores in parallel) and collects the shared parts.
    pub(crate) fn open_on_cores(
        &self,
        specs: Vec<(usize, ShardSpec)>,
    ) -> Result<Vec<Arc<ShardShared>>> {
        self.create_shard_dirs(&specs)?;
        let mut per_core: BTreeMap<usize, Vec<ShardSpec>> = BTreeMap::new();
        for (core, spec) in specs {
            per_core.entry(core).or_default().push(spec);
        }
        let mut waits = Vec::new();
        for (core, shards) in per_core {
            let (reply, wait) = reply::channel();
            self.sender(core)?.send(Request::Open { shards, reply })?;
            waits.push(wait);
        }
        let mut opened = Vec::new();
        let mut first_error = None;
        for wait in waits {
            match wait.wait(Duration::ZERO) {
                Ok(shards) => opened.extend(shards),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(opened),
        }
    }

    /// Creates the directories of new shards and makes them durable with one sync of
    /// each parent (the stream's directory), before the cores open the logs in them.
    /// Each log would otherwise sync the same parent once per shard: a directory fsync
    /// is a journal commit, and a 2,000-shard stream paid 2,000 of them (~0.4 ms each
    /// here). Directories that exist (a reopen) cost one `exists` each.
    fn create_shard_dirs(&self, specs: &[(usize, ShardSpec)]) -> Result<()> {
        let storage = &self.inner.config.storage;
        let mut new_by_parent: BTreeMap<&Path, Vec<&Path>> = BTreeMap::new();
        for (_, spec) in specs {
            let exists = storage
                .exists(&spec.dir)
                .map_err(|e| Error::io("look up shard directory", &spec.dir, e))?;
            if !exists && let Some(parent) = spec.dir.parent() {
                new_by_parent.entry(parent).or_default().push(&spec.dir);
            }
        }
        for (parent, dirs) in new_by_parent {
            storage
                .create_dir_all_durable(parent)
                .map_err(|e| Error::io("create stream directory", parent, e))?;
            for dir in dirs {
                storage
                    .create_dir_all(dir)
                    .map_err(|e| Error::io("create shard directory", dir, e))?;
            }
            storage
                .sync_dir(parent)
                .map_err(|e| Error::io("sync stream directory", parent, e))?;
        }
        Ok(())
    }

    pub(crate) fn sender(&self, core: usize) -> Result<&MailboxSender<Request>> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        self.inner
            .senders
            .get(core)
            .ok_or(Error::Internal("no such core"))
    }

    /// Runs `wait` with `spin` if a CPU is free for spinning (fewer spinners than CPUs
    /// not taken by cores, and, on a shared machine, the caller is not on a core's
    /// CPU), with no spin otherwise: a spinning waiter must not take the CPU its core,
    /// or the io_uring worker doing its fsync, needs. `wait` only spins: the slot is
    /// given back when it returns, so a waiter parks after it, holding none.
    pub(crate) fn with_spin<R>(&self, spin: Duration, wait: impl FnOnce(Duration) -> R) -> R {
        self.with_spin_on(spin, self.on_core_cpu(), wait)
    }

    fn with_spin_on<R>(
        &self,
        spin: Duration,
        on_core_cpu: bool,
        wait: impl FnOnce(Duration) -> R,
    ) -> R {
        let before = self.inner.waiters.fetch_add(1, Ordering::AcqRel);
        let spin = if before < self.inner.spin_slots && !on_core_cpu {
            spin
        } else {
            Duration::ZERO
        };
        let result = wait(spin);
        self.inner.waiters.fetch_sub(1, Ordering::AcqRel);
        result
    }

    /// Waits for a core's reply as [`with_spin`](Self::with_spin) does, except on a
    /// core's CPU (shared machine) while a CPU is left to callers. Parking there would
    /// have the core's reply wake it on the core's CPU again (the scheduler places a
    /// woken thread near its waker), so an unpinned caller that once landed there stayed
    /// for the rest of its run, paying a thread hand-off per call (the bimodal runs of
    /// the defaults workload). So the caller first steps off that CPU
    /// ([`step_off_core_cpus`]: its affinity narrowed to the CPUs no core holds, which
    /// moves it now, then given back whole, which leaves it where it is) and waits as
    /// any caller does; if it cannot (its own affinity holds only core CPUs), it yields
    /// (up to `spin`) instead of parking, which lets the core run at once. One CPU
    /// lookup per wait; the step costs two system calls, only when it is needed.
    pub(crate) fn wait_reply<T>(&self, pending: reply::Pending<T>, spin: Duration) -> Result<T> {
        let mut on_core_cpu = self.on_core_cpu();
        if on_core_cpu && self.inner.spin_slots > 0 {
            step_off_core_cpus(&self.inner.core_cpus);
            on_core_cpu = self.on_core_cpu();
            if on_core_cpu {
                return pending.wait_yielding(spin);
            }
        }
        self.with_spin_on(spin, on_core_cpu, |spin| pending.spin(spin));
        pending.wait(Duration::ZERO)
    }

    /// True when the calling thread runs on a CPU a core is pinned to (shared machine
    /// only; a vDSO call, tens of nanoseconds).
    fn on_core_cpu(&self) -> bool {
        !self.inner.core_cpus.is_empty()
            && self
                .inner
                .core_cpus
                .get(rustix::thread::sched_getcpu())
                .copied()
                .unwrap_or(false)
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// The running stream of this name. A name that is not found is checked against
    /// the naming rules (a bad one is a validation error, like in the calls that check
    /// it up front); names in the map are valid, so a hit costs no check.
    pub(crate) fn stream(&self, name: &str) -> Result<Arc<StreamRuntime>> {
        self.check_open()?;
        self.inner
            .streams
            .load()
            .by_name
            .get(name)
            .cloned()
            .ok_or_else(|| {
                // Checked only on a miss: a name that breaks the rules is refused as
                // such, not reported missing (the hot path pays nothing).
                match crate::stream::names::validate_stream_name(name) {
                    Err(e) => crate::error::Validation::StreamName(e).into(),
                    Ok(()) => Error::StreamNotFound {
                        stream: name.to_string(),
                    },
                }
            })
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.inner.senders.len()
    }

    /// This run's epoch (the high 32 bits of every sequence number it hands out).
    pub fn epoch(&self) -> u32 {
        self.inner.epoch
    }

    /// Makes every record put so far durable (on every core).
    pub fn flush(&self) -> Result<()> {
        let mut waits = Vec::new();
        for core in 0..self.inner.senders.len() {
            let (reply, wait) = reply::channel();
            self.sender(core)?.send(Request::Flush { reply })?;
            waits.push(wait);
        }
        for wait in waits {
            wait.wait(Duration::ZERO)?;
        }
        Ok(())
    }

    /// Runs retention on every core now (it also runs every `maintenance_interval`).
    pub fn run_maintenance(&self) -> Result<MaintenanceReport> {
        let mut waits = Vec::new();
        for core in 0..self.inner.senders.len() {
            let (reply, wait) = reply::channel();
            self.sender(core)?.send(Request::Maintain { reply })?;
            waits.push(wait);
        }
        let mut total = MaintenanceReport::default();
        for wait in waits {
            let r = wait.wait(Duration::ZERO)?;
            total.segments_deleted += r.segments_deleted;
            total.bytes_freed += r.bytes_freed;
        }
        Ok(total)
    }

    /// Stops the engine: drains acknowledged work, syncs and closes every log, stops the
    /// cores. Idempotent; later calls on any handle fail with [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(thread) = lock(&self.inner.maintenance).take() {
            thread.thread().unpark();
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
        let runtime = lock(&self.inner.runtime).take();
        let result = match runtime {
            Some(mut runtime) => runtime.shutdown(),
            None => Ok(()),
        };
        lock(&self.inner.lock).take();
        result
    }

    /// Stops the engine as a crash of the process would: the cores stop at once and
    /// drop their logs without syncing or closing them; nothing after the last completed
    /// sync is made durable. For crash and power-loss tests (with
    /// [`SimStorage`](crate::io::SimStorage), whose `power_cut` then decides what
    /// survives). Later calls fail with [`Error::Closed`].
    pub fn crash_for_testing(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(thread) = lock(&self.inner.maintenance).take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        if let Some(mut runtime) = lock(&self.inner.runtime).take() {
            runtime.abandon();
        }
        lock(&self.inner.lock).take();
    }

    /// True once [`close`](Self::close) ran.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }
}

/// Moves the calling thread off the CPUs cores are pinned to (`core_cpus[cpu]`), if its
/// affinity allows another CPU: narrows its affinity to the allowed CPUs no core holds
/// (the kernel migrates it at once), then restores the affinity it had, so the thread's
/// own setting is unchanged and the scheduler simply leaves it where it now is. Does
/// nothing when every CPU it may use holds a core or the affinity cannot be read.
fn step_off_core_cpus(core_cpus: &[bool]) {
    let Ok(original) = rustix::thread::sched_getaffinity(None) else {
        return;
    };
    let mut elsewhere = rustix::thread::CpuSet::new();
    let mut any = false;
    for cpu in 0..rustix::thread::CpuSet::MAX_CPU {
        if original.is_set(cpu) && !core_cpus.get(cpu).copied().unwrap_or(false) {
            elsewhere.set(cpu);
            any = true;
        }
    }
    if any && rustix::thread::sched_setaffinity(None, &elsewhere).is_ok() {
        let _ = rustix::thread::sched_setaffinity(None, &original);
    }
}
