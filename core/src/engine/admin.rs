//! Stream administration: create, delete, list, describe; tags; retention; metrics.
//! Every change goes through the catalog (written atomically first) and then takes
//! effect on the cores and in memory.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::capacity::WarmThroughput;
use super::encryption::EncryptionType;
use super::{Engine, RETENTION_HOURS_MAX, Streams, lock, stream_dir};
use crate::error::{Error, InvalidArgument, Result, Validation};
use crate::runtime::core::Request;
use crate::runtime::reply;
use crate::stream::catalog::{
    self, MAX_RECORD_KIB_DEFAULT, MAX_RECORD_KIB_MAX, MAX_RECORD_KIB_MIN, RecordDistribution,
    ShardRecord, ShardState, StreamMode, StreamRecord, StreamSettings, StreamStatus,
    TAG_KEY_CHARS_MAX, TAG_VALUE_CHARS_MAX, TAGS_PER_STREAM_MAX,
};
use crate::stream::hashkey::{HashRange, even_split};
use crate::stream::metrics::{self, ShardMetrics};
use crate::stream::names::{self, validate_stream_name};
use crate::stream::sequence::SeqParts;

/// Asked before a stream is deleted, with the stream's name: `Some(reason)` refuses the
/// deletion (ResourceInUse with that reason). Layers above the engine that read a
/// stream on their own (Firehose's Kinesis channels) register one with
/// [`Engine::add_delete_guard`]. It runs under the catalog's commit lock: it must not
/// call back into the engine.
pub type DeleteGuard = Arc<dyn Fn(&str) -> Option<&'static str> + Send + Sync>;

/// Why AUTO is refused for a PROVISIONED stream (Kinesis: InvalidArgumentException).
pub(crate) const AUTO_NEEDS_ON_DEMAND: &str =
    "the record distribution strategy AUTO is only supported for ON_DEMAND streams";

/// One shard as describe and list calls show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardDescription {
    /// `shardId-000000000000`.
    pub shard_id: String,
    /// The shard it was split from or merged from.
    pub parent_shard_id: Option<String>,
    /// The other parent of a merge.
    pub adjacent_parent_shard_id: Option<String>,
    /// Its hash keys.
    pub hash_range: HashRange,
    /// Lower bound of its sequence numbers.
    pub starting_sequence_number: u128,
    /// Its last sequence number, once closed.
    pub ending_sequence_number: Option<u128>,
    /// Open, closed or expired.
    pub state: ShardState,
    /// The core that owns it.
    pub core: u16,
}

/// A stream as DescribeStream shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDescription {
    /// The name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Numeric id.
    pub stream_id: u64,
    /// Status.
    pub status: StreamStatus,
    /// Capacity mode.
    pub mode: StreamMode,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
    /// Retention period, hours.
    pub retention_hours: u32,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Every shard not yet expired, in index order.
    pub shards: Vec<ShardDescription>,
    /// NONE or KMS.
    pub encryption_type: EncryptionType,
    /// The KMS key id new records are encrypted with.
    pub key_id: Option<String>,
    /// Enabled shard-level metrics (Kinesis names).
    pub shard_level_metrics: Vec<&'static str>,
    /// MaxRecordSizeInKiB.
    pub max_record_size_kib: u32,
    /// Warm throughput (on-demand streams of an account with the commitment enabled).
    pub warm_throughput: Option<WarmThroughput>,
    /// Enhanced fan-out consumers registered (CREATING, ACTIVE or DELETING).
    pub consumer_count: usize,
    /// RecordDistributionStrategy (always USER_PARTITION_KEY for PROVISIONED streams).
    pub record_distribution: RecordDistribution,
}

/// DescribeStreamSummary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    /// The name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Numeric id.
    pub stream_id: u64,
    /// Status.
    pub status: StreamStatus,
    /// Capacity mode.
    pub mode: StreamMode,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
    /// Retention period, hours.
    pub retention_hours: u32,
    /// Open shards.
    pub open_shard_count: usize,
    /// Enhanced fan-out consumers registered (CREATING, ACTIVE or DELETING).
    pub consumer_count: usize,
    /// NONE or KMS.
    pub encryption_type: EncryptionType,
    /// The KMS key id new records are encrypted with.
    pub key_id: Option<String>,
    /// Enabled shard-level metrics (Kinesis names).
    pub shard_level_metrics: Vec<&'static str>,
    /// MaxRecordSizeInKiB.
    pub max_record_size_kib: u32,
    /// Warm throughput (on-demand streams of an account with the commitment enabled).
    pub warm_throughput: Option<WarmThroughput>,
    /// Queues on the stream (not in `consumer_count`, though they share its limit).
    pub queue_count: usize,
    /// RecordDistributionStrategy (always USER_PARTITION_KEY for PROVISIONED streams).
    pub record_distribution: RecordDistribution,
}

/// CreateStream's parameters beyond the name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateStreamOptions {
    /// ShardCount: required for PROVISIONED, refused for ON_DEMAND (which starts at 4).
    pub shard_count: Option<u32>,
    /// StreamModeDetails.
    pub mode: StreamMode,
    /// MaxRecordSizeInKiB (1,024 to 10,240; default 1,024).
    pub max_record_size_kib: Option<u32>,
    /// Tags (at most 50).
    pub tags: BTreeMap<String, String>,
    /// WarmThroughputMiBps (on-demand streams of an account with the commitment).
    pub warm_throughput_mibps: Option<u32>,
    /// RecordDistributionStrategy (AUTO only for ON_DEMAND streams).
    pub record_distribution: RecordDistribution,
}

impl CreateStreamOptions {
    /// A PROVISIONED stream of `shard_count` shards.
    pub fn provisioned(shard_count: u32) -> Self {
        Self {
            shard_count: Some(shard_count),
            ..Self::default()
        }
    }

    /// An ON_DEMAND stream.
    pub fn on_demand() -> Self {
        Self {
            mode: StreamMode::OnDemand,
            ..Self::default()
        }
    }
}

/// A page of ListStreams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListStreamsOutput {
    /// Names, in order.
    pub names: Vec<String>,
    /// True if more names follow the last one.
    pub has_more: bool,
}

/// Which shards ListShards returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShardFilter {
    /// Every shard not yet expired.
    #[default]
    All,
    /// Shards whose data is at the trim horizon: every shard not yet expired.
    AtTrimHorizon,
    /// The open shards (those at the tip).
    AtLatest,
    /// Shards open at this time (ms): created at or before it and not closed before it.
    AtTimestamp(u64),
    /// The open shards and the closed ones that closed at or after this time (ms);
    /// a time before the trim horizon counts as the trim horizon.
    FromTimestamp(u64),
    /// Shards with an index greater than this one's.
    AfterShardId(u32),
}

fn describe_shard(s: &ShardRecord) -> ShardDescription {
    ShardDescription {
        shard_id: names::shard_id(s.index),
        parent_shard_id: s.parent.map(names::shard_id),
        adjacent_parent_shard_id: s.adjacent_parent.map(names::shard_id),
        hash_range: s.hash_range,
        starting_sequence_number: s.starting_seq,
        ending_sequence_number: s.ending_seq,
        state: s.state,
        core: s.core,
    }
}

/// Shards not yet expired, open or closed: each holds its log's files.
pub(crate) fn live_shards(data: &catalog::CatalogData) -> u64 {
    data.streams
        .iter()
        .flat_map(|s| &s.shards)
        .filter(|s| s.state != ShardState::Expired)
        .count() as u64
}

pub(crate) fn validate_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    for (key, value) in tags {
        let chars = key.chars().count();
        if chars == 0 || chars > TAG_KEY_CHARS_MAX {
            return Err(Validation::Tag {
                key: key.chars().take(40).collect(),
                rule: "keys are 1 to 128 characters",
            }
            .into());
        }
        if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(Validation::Tag {
                key: key.chars().take(40).collect(),
                rule: "the aws: prefix is reserved",
            }
            .into());
        }
        if value.chars().count() > TAG_VALUE_CHARS_MAX {
            return Err(Validation::Tag {
                key: key.clone(),
                rule: "values are at most 256 characters",
            }
            .into());
        }
        if key.chars().chain(value.chars()).any(char::is_control) {
            return Err(Validation::Tag {
                key: key.chars().take(40).collect(),
                rule: "no control characters",
            }
            .into());
        }
    }
    Ok(())
}

impl Engine {
    /// Applies `change` to a copy of the catalog, writes the copy (atomic replace), and
    /// only then installs it in memory. Writers are serialized by the commit lock; readers
    /// take the catalog lock only briefly and never wait for the file.
    pub(crate) fn commit<R>(
        &self,
        change: impl FnOnce(&mut catalog::CatalogData) -> Result<R>,
    ) -> Result<R> {
        let _writer = lock(&self.inner.commit);
        let mut next = lock(&self.inner.catalog).clone();
        let out = change(&mut next)?;
        self.save_catalog(&next)?;
        *lock(&self.inner.catalog) = next;
        Ok(out)
    }

    /// Like [`commit`](Self::commit), but `change` may decide there is nothing to write
    /// (it returns `None`), in which case the file is not touched.
    pub(crate) fn commit_if<R>(
        &self,
        change: impl FnOnce(&mut catalog::CatalogData) -> Result<Option<R>>,
    ) -> Result<Option<R>> {
        let _writer = lock(&self.inner.commit);
        let mut next = lock(&self.inner.catalog).clone();
        let Some(out) = change(&mut next)? else {
            return Ok(None);
        };
        self.save_catalog(&next)?;
        *lock(&self.inner.catalog) = next;
        Ok(Some(out))
    }

    /// A change kept in memory only (a stream's UPDATING status), under the commit lock
    /// so no concurrent commit overwrites it.
    pub(crate) fn change_in_memory<R>(
        &self,
        change: impl FnOnce(&mut catalog::CatalogData) -> Result<R>,
    ) -> Result<R> {
        let _writer = lock(&self.inner.commit);
        change(&mut lock(&self.inner.catalog))
    }

    /// Fails fast with ResourceInUse if the stream is being changed (no waiting for the
    /// running change's catalog write).
    pub(crate) fn fail_if_busy(&self, name: &str) -> Result<()> {
        let data = lock(&self.inner.catalog);
        match data.stream(name) {
            Some(r) if r.status != StreamStatus::Active => Err(Error::StreamBusy {
                stream: name.to_string(),
                status: r.status,
                reason: "another change to the stream is running",
            }),
            _ => Ok(()),
        }
    }

    pub(crate) fn save_catalog(&self, data: &catalog::CatalogData) -> Result<()> {
        let dir = &self.inner.config.data_dir;
        catalog::save(self.inner.config.storage.as_ref(), dir, data)
            .map_err(|e| Error::io("write catalog", dir.join(catalog::CATALOG_FILE), e))
    }

    /// Cores sorted by how many open shards they own (least first), for placement.
    pub(crate) fn least_loaded_cores(&self, data: &catalog::CatalogData, count: usize) -> Vec<u16> {
        let cores = self.inner.senders.len();
        let mut load = vec![0u64; cores];
        for shard in data
            .streams
            .iter()
            .flat_map(|s| &s.shards)
            .filter(|s| s.state == ShardState::Open)
        {
            load[shard.core as usize % cores] += 1;
        }
        (0..count)
            .map(|_| {
                let (core, _) = load
                    .iter()
                    .enumerate()
                    .min_by_key(|(i, l)| (**l, *i))
                    .unwrap_or((0, &0));
                load[core] += 1;
                core as u16
            })
            .collect()
    }

    /// Registers a [`DeleteGuard`]; returns its id for [`remove_delete_guard`](Self::remove_delete_guard).
    pub fn add_delete_guard(&self, guard: DeleteGuard) -> u64 {
        let mut guards = lock(&self.inner.delete_guards);
        let id = guards.iter().map(|(id, _)| id + 1).max().unwrap_or(1);
        guards.push((id, guard));
        id
    }

    /// Removes the delete guard `id` (no-op if it is gone).
    pub fn remove_delete_guard(&self, id: u64) {
        lock(&self.inner.delete_guards).retain(|(g, _)| *g != id);
    }

    /// Creates a PROVISIONED stream of `shard_count` shards splitting the hash key space
    /// evenly.
    pub fn create_stream(&self, name: &str, shard_count: u32) -> Result<()> {
        self.create_stream_with(name, CreateStreamOptions::provisioned(shard_count))
    }

    /// CreateStream with every Kinesis parameter: PROVISIONED with a shard count, or
    /// ON_DEMAND (4 shards to start, scaled by the engine: `engine/capacity.rs`); the
    /// largest record; tags; warm throughput. Nothing is created if any part is
    /// refused.
    pub fn create_stream_with(&self, name: &str, options: CreateStreamOptions) -> Result<()> {
        self.check_open()?;
        validate_stream_name(name).map_err(Validation::StreamName)?;
        let max = self.inner.config.max_shards;
        let shard_count = match (options.mode, options.shard_count) {
            (StreamMode::Provisioned, Some(count)) => count,
            (StreamMode::Provisioned, None) => {
                return Err(Validation::Argument(
                    "ShardCount is required for a PROVISIONED stream".to_string(),
                )
                .into());
            }
            (StreamMode::OnDemand, None) => super::capacity::ON_DEMAND_INITIAL_SHARDS.min(max),
            (StreamMode::OnDemand, Some(_)) => {
                return Err(Validation::Argument(
                    "ShardCount is not expected when StreamMode is ON_DEMAND".to_string(),
                )
                .into());
            }
        };
        if shard_count == 0 || shard_count > max {
            return Err(Validation::ShardCount {
                given: shard_count.into(),
                min: 1,
                max: max.into(),
            }
            .into());
        }
        if options.record_distribution == RecordDistribution::Auto
            && options.mode != StreamMode::OnDemand
        {
            return Err(InvalidArgument::StreamMode {
                rule: AUTO_NEEDS_ON_DEMAND,
            }
            .into());
        }
        let max_record_kib = options
            .max_record_size_kib
            .unwrap_or(MAX_RECORD_KIB_DEFAULT);
        self.check_max_record_kib(max_record_kib)?;
        validate_tags(&options.tags)?;
        if options.tags.len() > TAGS_PER_STREAM_MAX {
            return Err(Error::LimitExceeded {
                what: "tags on a stream",
                requested: options.tags.len() as u64,
                limit: TAGS_PER_STREAM_MAX as u64,
            });
        }
        let now_ms = self.inner.config.clock.now_ms();
        let warm = options.warm_throughput_mibps.filter(|&w| w > 0);
        let shard_count = match warm {
            Some(mibps) => {
                self.check_warm_throughput(options.mode, mibps, now_ms)?;
                shard_count.max(self.shards_for_mibps(mibps)).min(max)
            }
            None => shard_count,
        };
        let record = self.commit(|data| {
            if data.stream(name).is_some() {
                return Err(Error::StreamExists {
                    stream: name.to_string(),
                });
            }
            if options.mode == StreamMode::OnDemand {
                let on_demand = data
                    .streams
                    .iter()
                    .filter(|s| s.settings.mode == StreamMode::OnDemand)
                    .count() as u64;
                let limit = u64::from(self.inner.config.on_demand_stream_count_max);
                if on_demand + 1 > limit {
                    return Err(Error::LimitExceeded {
                        what: "ON_DEMAND streams",
                        requested: on_demand + 1,
                        limit,
                    });
                }
            }
            let open: u64 = data
                .streams
                .iter()
                .map(|s| s.open_shards().count() as u64)
                .sum();
            if open + u64::from(shard_count) > u64::from(max) {
                let requested = open + u64::from(shard_count);
                return Err(Error::LimitExceeded {
                    what: "open shards",
                    requested,
                    limit: max.into(),
                });
            }
            crate::runtime::envcheck::check_file_budget(
                live_shards(data) + u64::from(shard_count),
            )?;
            let cores = self.least_loaded_cores(data, shard_count as usize);
            let id = data.next_stream_id;
            let shards: Vec<ShardRecord> = even_split(shard_count)
                .into_iter()
                .enumerate()
                .map(|(i, hash_range)| ShardRecord {
                    index: i as u32,
                    hash_range,
                    state: ShardState::Open,
                    parent: None,
                    adjacent_parent: None,
                    starting_seq: SeqParts {
                        epoch: self.inner.epoch,
                        shard_index: i as u32,
                        counter: 0,
                    }
                    .pack(),
                    ending_seq: None,
                    core: cores[i],
                    created_ms: now_ms,
                    closed_ms: 0,
                })
                .collect();
            let record = StreamRecord {
                id,
                name: name.to_string(),
                status: StreamStatus::Active,
                created_ms: now_ms,
                retention_hours: self.inner.config.retention_hours_default,
                retention_floor_ms: 0,
                next_shard_index: shard_count,
                tags: options.tags.clone(),
                shards,
                settings: StreamSettings {
                    mode: options.mode,
                    max_record_kib,
                    warm_throughput_mibps: warm.unwrap_or(0),
                    distribution: options.record_distribution,
                    ..StreamSettings::default()
                },
            };
            data.next_stream_id += 1;
            data.streams.push(record.clone());
            Ok(record)
        })?;
        match self.start_stream(&record) {
            Ok(runtime) => {
                self.inner.streams.rcu(|streams| {
                    let mut streams = Streams::clone(streams);
                    streams
                        .by_name
                        .insert(Arc::clone(&runtime.name), Arc::clone(&runtime));
                    streams.by_id.insert(runtime.id, Arc::clone(&runtime));
                    streams
                });
                Ok(())
            }
            Err(e) => {
                // Undo: forget the stream again (its shards may be partly open).
                let _ = self.commit(|data| {
                    data.streams.retain(|s| s.id != record.id);
                    Ok(())
                });
                let keys = record
                    .shards
                    .iter()
                    .map(|s| (record.id, s.index))
                    .collect::<Vec<_>>();
                let _ = self.drop_on_cores(&keys, true);
                Err(e)
            }
        }
    }

    fn drop_on_cores(&self, keys: &[(u64, u32)], delete_files: bool) -> Result<()> {
        let mut waits = Vec::new();
        for core in 0..self.inner.senders.len() {
            let (reply, wait) = reply::channel();
            self.sender(core)?.send(Request::Drop {
                keys: keys.to_vec(),
                delete_files,
                reply,
            })?;
            waits.push(wait);
        }
        let mut result = Ok(());
        for wait in waits {
            if let Err(e) = wait.wait(std::time::Duration::ZERO) {
                result = Err(e);
            }
        }
        result
    }

    /// Deletes a stream and all its data (and its consumers: a stream with registered
    /// consumers is deleted only with
    /// [`delete_stream_with`](Self::delete_stream_with)`(name, true)`, Kinesis's
    /// EnforceConsumerDeletion).
    pub fn delete_stream(&self, name: &str) -> Result<()> {
        self.delete_stream_with(name, false)
    }

    /// DeleteStream with EnforceConsumerDeletion: with `false`, a stream that has
    /// registered consumers is refused (ResourceInUse); with `true`, they go with it.
    pub fn delete_stream_with(&self, name: &str, enforce_consumer_deletion: bool) -> Result<()> {
        self.check_open()?;
        validate_stream_name(name).map_err(Validation::StreamName)?;
        self.fail_if_busy(name)?;
        let now_ms = self.inner.config.clock.now_ms();
        let record = self.commit(|data| {
            let Some(record) = data.stream(name).cloned() else {
                return Err(Error::StreamNotFound {
                    stream: name.to_string(),
                });
            };
            if record.status != StreamStatus::Active {
                return Err(Error::StreamBusy {
                    stream: name.to_string(),
                    status: record.status,
                    reason: "a reshard is running",
                });
            }
            let registered = record
                .settings
                .consumers
                .iter()
                .filter(|c| c.gone_ms.is_none_or(|gone| gone > now_ms))
                .count();
            if self.queue_count(record.id, now_ms) > 0 {
                return Err(Error::StreamBusy {
                    stream: name.to_string(),
                    status: record.status,
                    reason: "the stream has queues (delete them with DeleteQueue first; EnforceConsumerDeletion does not apply to queues)",
                });
            }
            if registered > 0 && !enforce_consumer_deletion {
                return Err(Error::StreamBusy {
                    stream: name.to_string(),
                    status: record.status,
                    reason: "the stream has registered consumers (deregister them, or delete with EnforceConsumerDeletion)",
                });
            }
            let guards: Vec<DeleteGuard> = lock(&self.inner.delete_guards)
                .iter()
                .map(|(_, g)| Arc::clone(g))
                .collect();
            if let Some(reason) = guards.iter().find_map(|g| g(name)) {
                return Err(Error::StreamBusy {
                    stream: name.to_string(),
                    status: record.status,
                    reason,
                });
            }
            data.streams.retain(|s| s.id != record.id);
            Ok(record)
        })?;
        self.inner.fanout.forget_stream(record.id);
        self.inner.streams.rcu(|streams| {
            let mut streams = Streams::clone(streams);
            streams.by_name.remove(name);
            streams.by_id.remove(&record.id);
            streams
        });
        let keys: Vec<(u64, u32)> = record.shards.iter().map(|s| (record.id, s.index)).collect();
        self.drop_on_cores(&keys, true)?;
        let dir = stream_dir(&self.inner.config.data_dir, record.id);
        match self.inner.config.storage.remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("delete stream directory", dir, e)),
        }
    }

    /// Stream names in order: at most `limit` (1 to 10,000) after
    /// `exclusive_start_name`.
    pub fn list_streams(
        &self,
        limit: Option<usize>,
        exclusive_start_name: Option<&str>,
    ) -> Result<ListStreamsOutput> {
        self.check_open()?;
        let limit = limit.unwrap_or(10_000);
        if limit == 0 || limit > 10_000 {
            return Err(Validation::ReadLimit {
                given: limit,
                max: 10_000,
            }
            .into());
        }
        if let Some(start) = exclusive_start_name {
            // Any valid name works as a cursor, listed or not; others are refused.
            validate_stream_name(start).map_err(Validation::StreamName)?;
        }
        let data = lock(&self.inner.catalog);
        let mut names: Vec<String> = data.streams.iter().map(|s| s.name.clone()).collect();
        names.sort();
        if let Some(start) = exclusive_start_name {
            names.retain(|n| n.as_str() > start);
        }
        let has_more = names.len() > limit;
        names.truncate(limit);
        Ok(ListStreamsOutput { names, has_more })
    }

    pub(crate) fn with_record<R>(
        &self,
        name: &str,
        f: impl FnOnce(&StreamRecord) -> R,
    ) -> Result<R> {
        self.check_open()?;
        validate_stream_name(name).map_err(Validation::StreamName)?;
        let data = lock(&self.inner.catalog);
        let record = data.stream(name).ok_or_else(|| Error::StreamNotFound {
            stream: name.to_string(),
        })?;
        Ok(f(record))
    }

    /// DescribeStream: status, mode, shards (not yet expired) with ranges and lineage,
    /// retention, tags, creation time, encryption, monitoring, record size, warm
    /// throughput.
    pub fn describe_stream(&self, name: &str) -> Result<StreamDescription> {
        let now_ms = self.inner.config.clock.now_ms();
        let warm_on = self.commitment_enabled(now_ms);
        self.with_record(name, |r| StreamDescription {
            name: r.name.clone(),
            arn: self.inner.config.arn_scope.stream_arn(&r.name),
            stream_id: r.id,
            status: r.status,
            mode: r.settings.mode,
            created_ms: r.created_ms,
            retention_hours: r.retention_hours,
            tags: r.tags.clone(),
            shards: r
                .shards
                .iter()
                .filter(|s| s.state != ShardState::Expired)
                .map(describe_shard)
                .collect(),
            encryption_type: EncryptionType::of(r),
            key_id: current_key_id(r),
            shard_level_metrics: metrics::shard_level_metric_names(r.settings.shard_level_metrics),
            max_record_size_kib: r.settings.max_record_kib,
            warm_throughput: self.warm_throughput_of(r, warm_on),
            consumer_count: r
                .settings
                .consumers
                .iter()
                .filter(|c| c.gone_ms.is_none_or(|gone| gone > now_ms))
                .count(),
            record_distribution: r.settings.distribution,
        })
    }

    /// DescribeStreamSummary.
    pub fn describe_stream_summary(&self, name: &str) -> Result<StreamSummary> {
        let now_ms = self.inner.config.clock.now_ms();
        let warm_on = self.commitment_enabled(now_ms);
        self.with_record(name, |r| StreamSummary {
            name: r.name.clone(),
            arn: self.inner.config.arn_scope.stream_arn(&r.name),
            stream_id: r.id,
            status: r.status,
            mode: r.settings.mode,
            created_ms: r.created_ms,
            retention_hours: r.retention_hours,
            open_shard_count: r.open_shards().count(),
            consumer_count: r
                .settings
                .consumers
                .iter()
                .filter(|c| c.gone_ms.is_none_or(|gone| gone > now_ms))
                .count(),
            encryption_type: EncryptionType::of(r),
            key_id: current_key_id(r),
            shard_level_metrics: metrics::shard_level_metric_names(r.settings.shard_level_metrics),
            max_record_size_kib: r.settings.max_record_kib,
            warm_throughput: self.warm_throughput_of(r, warm_on),
            queue_count: self.queue_count(r.id, now_ms),
            record_distribution: r.settings.distribution,
        })
    }

    pub(crate) fn check_max_record_kib(&self, kib: u32) -> Result<()> {
        if !(MAX_RECORD_KIB_MIN..=MAX_RECORD_KIB_MAX).contains(&kib) {
            return Err(Validation::MaxRecordSizeKib { given: kib.into() }.into());
        }
        Ok(())
    }

    /// ListShards with a filter (expired shards are never listed).
    ///
    /// - `All` and `AtTrimHorizon`: every shard within retention (trim to tip);
    /// - `AtLatest`: the open shards;
    /// - `AtTimestamp(t)`: shards open at `t` (created at or before it, not closed
    ///   before it);
    /// - `FromTimestamp(t)`: the open shards and those closed at or after `t` (a `t`
    ///   before the trim horizon counts as the trim horizon);
    /// - `AfterShardId(i)`: shards with an index above `i`.
    pub fn list_shards(&self, name: &str, filter: ShardFilter) -> Result<Vec<ShardDescription>> {
        let now_ms = self.inner.config.clock.now_ms();
        let horizon = self
            .stream(name)
            .map(|rt| rt.retention.cutoff_ms(now_ms))
            .unwrap_or(0);
        self.with_record(name, |r| {
            r.shards
                .iter()
                .filter(|s| s.state != ShardState::Expired)
                .filter(|s| match filter {
                    ShardFilter::All | ShardFilter::AtTrimHorizon => true,
                    ShardFilter::AtLatest => s.state == ShardState::Open,
                    ShardFilter::AtTimestamp(ts) => {
                        s.created_ms <= ts && (s.state == ShardState::Open || s.closed_ms > ts)
                    }
                    ShardFilter::FromTimestamp(ts) => {
                        s.state == ShardState::Open || s.closed_ms >= ts.max(horizon)
                    }
                    ShardFilter::AfterShardId(index) => s.index > index,
                })
                .map(describe_shard)
                .collect()
        })
    }

    fn update_record(
        &self,
        name: &str,
        change: impl FnOnce(&mut StreamRecord) -> Result<()>,
    ) -> Result<StreamRecord> {
        self.check_open()?;
        validate_stream_name(name).map_err(Validation::StreamName)?;
        self.commit(|data| {
            let record = data.stream_mut(name).ok_or_else(|| Error::StreamNotFound {
                stream: name.to_string(),
            })?;
            change(record)?;
            Ok(record.clone())
        })
    }

    pub(crate) fn update_stream_record(
        &self,
        name: &str,
        change: impl FnOnce(&mut StreamRecord) -> Result<()>,
    ) -> Result<StreamRecord> {
        self.update_record(name, change)
    }

    /// Adds (or overwrites) tags; at most 50 tags per stream.
    pub fn add_tags_to_stream(&self, name: &str, tags: &BTreeMap<String, String>) -> Result<()> {
        validate_tags(tags)?;
        self.update_record(name, |record| {
            let mut merged = record.tags.clone();
            merged.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            if merged.len() > TAGS_PER_STREAM_MAX {
                return Err(Error::LimitExceeded {
                    what: "tags on a stream",
                    requested: merged.len() as u64,
                    limit: TAGS_PER_STREAM_MAX as u64,
                });
            }
            record.tags = merged;
            Ok(())
        })
        .map(|_| ())
    }

    /// Removes tags by key (absent keys are ignored).
    pub fn remove_tags_from_stream(&self, name: &str, keys: &[String]) -> Result<()> {
        if keys.len() > TAGS_PER_STREAM_MAX {
            return Err(Validation::Tag {
                key: String::new(),
                rule: "at most 50 keys per call",
            }
            .into());
        }
        self.update_record(name, |record| {
            for key in keys {
                record.tags.remove(key);
            }
            Ok(())
        })
        .map(|_| ())
    }

    /// The stream's tags.
    pub fn list_tags_for_stream(&self, name: &str) -> Result<BTreeMap<String, String>> {
        self.with_record(name, |r| r.tags.clone())
    }

    fn set_retention(&self, name: &str, hours: u32, raise: bool) -> Result<()> {
        let min = self.inner.config.retention_hours_min;
        if hours < min || hours > RETENTION_HOURS_MAX {
            let rule = if hours < min {
                "below the minimum retention"
            } else {
                "above the maximum of 8760 hours"
            };
            return Err(InvalidArgument::RetentionHours { given: hours, rule }.into());
        }
        self.fail_if_busy(name)?;
        let now_ms = self.inner.config.clock.now_ms();
        let record = self.update_record(name, |record| {
            if record.status != StreamStatus::Active {
                return Err(Error::StreamBusy {
                    stream: record.name.clone(),
                    status: record.status,
                    reason: "a reshard is running",
                });
            }
            if raise && hours < record.retention_hours {
                return Err(InvalidArgument::RetentionHours {
                    given: hours,
                    rule: "an increase must not be below the current period",
                }
                .into());
            }
            if !raise && hours > record.retention_hours {
                return Err(InvalidArgument::RetentionHours {
                    given: hours,
                    rule: "a decrease must not be above the current period",
                }
                .into());
            }
            if raise && hours > record.retention_hours {
                // What is past the old period now stays past: raising never brings
                // expired records back (their segments may not be reclaimed yet).
                let old_cutoff =
                    now_ms.saturating_sub(u64::from(record.retention_hours) * 3_600_000);
                record.retention_floor_ms = record.retention_floor_ms.max(old_cutoff);
            }
            record.retention_hours = hours;
            Ok(())
        })?;
        if let Ok(runtime) = self.stream(name) {
            runtime
                .retention
                .floor_ms
                .store(record.retention_floor_ms, Ordering::Release);
            runtime.retention.period_ms.store(
                u64::from(record.retention_hours) * 3_600_000,
                Ordering::Release,
            );
        }
        Ok(())
    }

    /// IncreaseStreamRetentionPeriod (up to 8,760 hours). Raising it does not bring back
    /// data already deleted.
    pub fn increase_stream_retention_period(&self, name: &str, hours: u32) -> Result<()> {
        self.set_retention(name, hours, true)
    }

    /// DecreaseStreamRetentionPeriod (down to the configured minimum, 24 hours by
    /// default). Records older than the new period become unreadable at once.
    pub fn decrease_stream_retention_period(&self, name: &str, hours: u32) -> Result<()> {
        self.set_retention(name, hours, false)
    }

    /// What recovery did when each live shard's log was opened, for the shards where it
    /// did something worth knowing: a torn tail cut, segments dropped or extended,
    /// stray bytes zeroed, leftovers removed, unknown files found, indexes rebuilt.
    /// A clean restart returns nothing.
    pub fn recovery_reports(&self) -> Result<Vec<(String, String, crate::log::RecoveryReport)>> {
        self.check_open()?;
        let streams = self.inner.streams.load();
        let mut out = Vec::new();
        for stream in streams.by_name.values() {
            for shard in stream.shards.load().values() {
                let r = &shard.recovery;
                let notable = r.tail.is_some()
                    || !r.segments_dropped.is_empty()
                    || !r.segments_extended.is_empty()
                    || r.garbage_bytes_zeroed > 0
                    || !r.leftovers_removed.is_empty()
                    || !r.unknown_files.is_empty()
                    || r.indexes_rebuilt > 0;
                if notable {
                    out.push((stream.name.to_string(), shard.shard_id.clone(), r.clone()));
                }
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(out)
    }

    /// A metrics snapshot of every live shard of a stream.
    pub fn stream_metrics(&self, name: &str) -> Result<Vec<ShardMetrics>> {
        validate_stream_name(name).map_err(Validation::StreamName)?;
        let stream = self.stream(name)?;
        let shards = stream.shards.load();
        Ok(shards
            .values()
            .map(|s| s.counters.snapshot(&stream.name, &s.shard_id))
            .collect())
    }

    /// A metrics snapshot of every live shard of every stream.
    pub fn metrics(&self) -> Result<Vec<ShardMetrics>> {
        self.check_open()?;
        let streams = self.inner.streams.load();
        let mut names: Vec<&Arc<str>> = streams.by_name.keys().collect();
        names.sort();
        let mut all = Vec::new();
        for name in names {
            let stream = &streams.by_name[name];
            all.extend(
                stream
                    .shards
                    .load()
                    .values()
                    .map(|s| s.counters.snapshot(&stream.name, &s.shard_id)),
            );
        }
        Ok(all)
    }

    /// Stream-level totals of [`stream_metrics`](Self::stream_metrics).
    pub fn stream_metrics_total(&self, name: &str) -> Result<ShardMetrics> {
        Ok(metrics::stream_totals(name, &self.stream_metrics(name)?))
    }

    /// Every stream's totals and, for the metrics its enhanced monitoring enables
    /// (EnableEnhancedMonitoring), every shard's, as OpenMetrics text.
    pub fn metrics_openmetrics(&self) -> Result<String> {
        let shards = self.metrics()?;
        let masks: std::collections::HashMap<String, u8> = lock(&self.inner.catalog)
            .streams
            .iter()
            .map(|s| (s.name.clone(), s.settings.shard_level_metrics))
            .collect();
        let mut names: Vec<&String> = masks.keys().collect();
        names.sort();
        let totals: Vec<ShardMetrics> = names
            .iter()
            .map(|name| {
                let of_stream: Vec<ShardMetrics> = shards
                    .iter()
                    .filter(|m| &m.stream == *name)
                    .cloned()
                    .collect();
                metrics::stream_totals(name, &of_stream)
            })
            .collect();
        Ok(metrics::render_openmetrics_monitored(
            &totals,
            &shards,
            |stream| masks.get(stream).copied().unwrap_or(0),
        ))
    }
}

fn current_key_id(r: &StreamRecord) -> Option<String> {
    let slot = r.settings.encryption_slot?;
    r.settings.key_slot(slot).map(|k| k.key_id.clone())
}
