//! Capacity: stream modes (UpdateStreamMode), on-demand scaling, warm throughput
//! (UpdateStreamWarmThroughput), the account's billing commitment
//! (Describe/UpdateAccountSettings), the largest record (UpdateMaxRecordSize), and
//! how records are spread over shards (UpdateStreamRecordDistributionStrategy).
//!
//! # On-demand scaling (the policy)
//! An ON_DEMAND stream starts with [`ON_DEMAND_INITIAL_SHARDS`] shards (4 MiB/s and
//! 4,000 records/s of writes at the Kinesis per-shard limits) and is sized by the
//! engine, on the engine's clock, so a test (or a `ManualClock`) drives it without
//! sleeping:
//! 1. Every [`OnDemandPolicy::evaluation_interval`] (60 s by default) the stream's
//!    write **demand** is measured: bytes and records its shards accepted plus those
//!    their limits refused, per second, over the interval.
//! 2. The day's **peak** demand is kept; peaks of the last
//!    [`OnDemandPolicy::peak_window_days`] (30) days are remembered in the catalog, so
//!    they survive a restart.
//! 3. The stream needs enough shards for **double** its peak of that window (bytes and
//!    records, at the per-shard write limits), at least 4, and at least its warm
//!    throughput (if the account's commitment is on), at most
//!    [`OnDemandPolicy::max_shards`] (and the engine's `max_shards`).
//! 4. Short of that, it **splits its hottest shards** (most demand in the interval) at
//!    the middle of their hash ranges, at most doubling per evaluation, in one reshard
//!    (closed parents, lineage, no record lost or reordered per key: `reshard.rs`).
//!    Above it (once a peak is older than the window), it **merges the coldest
//!    adjacent pairs**, at most halving per evaluation.
//!
//! So a load that doubles within an interval is absorbed within one or two
//! evaluations (the benchmark measures it); until then the shards' limits throttle as
//! Kinesis's do.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::time::Duration;

use super::{Engine, lock};
use crate::error::{Error, InvalidArgument, Result, Validation};
use crate::stream::catalog::{
    AccountSettings, CommitmentStatus, DailyPeak, MAX_RECORD_KIB_MAX, MODE_SWITCHES_KEPT,
    PEAK_DAYS_KEPT, RecordDistribution, StreamMode, StreamRecord, StreamStatus,
};
use crate::stream::metrics::WriteDemand;
use crate::stream::names::validate_stream_name;

/// Shards of a new ON_DEMAND stream (Kinesis: 4 MiB/s and 4,000 records/s of writes).
pub const ON_DEMAND_INITIAL_SHARDS: u32 = 4;
/// The largest warm throughput a stream may ask for, MiB/s (Kinesis: 10 GiB/s).
pub const WARM_THROUGHPUT_MIBPS_MAX: u32 = 10 * 1024;
/// How long a billing commitment lasts at least (Kinesis: 24 hours).
pub const COMMITMENT_MIN_MS: u64 = 86_400_000;
const DAY_MS: u64 = 86_400_000;
const MIB: u64 = 1 << 20;

/// How on-demand streams are scaled (the module doc has the policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnDemandPolicy {
    /// How often (engine clock) demand is measured and the shard count decided.
    pub evaluation_interval: Duration,
    /// How many days of peaks the stream is sized for.
    pub peak_window_days: u32,
    /// The most shards one on-demand stream grows to (Kinesis's default on-demand
    /// maximum: 200 MiB/s of writes, so 200 shards).
    pub max_shards: u32,
}

impl Default for OnDemandPolicy {
    fn default() -> Self {
        Self {
            evaluation_interval: Duration::from_secs(60),
            peak_window_days: 30,
            max_shards: 200,
        }
    }
}

impl OnDemandPolicy {
    pub(crate) fn validate(&self) -> std::result::Result<(), &'static str> {
        if self.evaluation_interval < Duration::from_secs(1)
            || self.evaluation_interval > Duration::from_secs(86_400)
        {
            return Err("evaluation_interval must be 1 s to 1 day");
        }
        if self.peak_window_days == 0 || self.peak_window_days as usize >= PEAK_DAYS_KEPT {
            return Err("peak_window_days must be 1 to 30");
        }
        if self.max_shards < ON_DEMAND_INITIAL_SHARDS {
            return Err("max_shards must be at least 4");
        }
        Ok(())
    }
}

/// A stream's warm throughput (WarmThroughputObject), MiB/s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmThroughput {
    /// What was asked for (UpdateStreamWarmThroughput, CreateStream, UpdateStreamMode).
    pub target_mibps: u32,
    /// What the open shards can take now.
    pub current_mibps: u32,
}

/// UpdateStreamWarmThroughput's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmThroughputOutput {
    /// The stream.
    pub stream: String,
    /// Its ARN.
    pub stream_arn: String,
    /// The warm throughput after the call.
    pub warm_throughput: WarmThroughput,
}

/// Describe/UpdateAccountSettings' answer: the minimum throughput billing commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountSettingsOutput {
    /// ENABLED, DISABLED or ENABLED_UNTIL_EARLIEST_ALLOWED_END.
    pub status: CommitmentStatus,
    /// When the commitment started (ms).
    pub started_ms: Option<u64>,
    /// When it ended, or will end (ms).
    pub ended_ms: Option<u64>,
    /// The earliest it may end (ms).
    pub earliest_allowed_end_ms: Option<u64>,
}

/// What one on-demand evaluation did to one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingReport {
    /// The stream.
    pub stream: String,
    /// Open shards before.
    pub from_shards: u32,
    /// Open shards after.
    pub to_shards: u32,
    /// The demand measured over the interval, bytes per second.
    pub demand_bytes_per_sec: u64,
    /// The demand measured over the interval, records per second.
    pub demand_records_per_sec: u64,
    /// The peak the stream is sized for (bytes per second, records per second).
    pub peak: (u64, u64),
}

#[derive(Debug, Default)]
struct StreamScaling {
    last_eval_ms: u64,
    demand: HashMap<u32, WriteDemand>,
    today: Option<DailyPeak>,
    persisted: (u64, u64),
}

/// On-demand scaling's memory between evaluations (per stream id).
#[derive(Debug, Default)]
pub(crate) struct ScalingState {
    streams: HashMap<u64, StreamScaling>,
}

fn per_shard(rate: u64, nominal: u64) -> u64 {
    if rate == u64::MAX {
        nominal
    } else {
        rate.max(1)
    }
}

/// The account settings as they stand at `now_ms` (a scheduled end applied).
fn account_at(a: &AccountSettings, now_ms: u64) -> AccountSettings {
    let mut a = *a;
    if a.commitment == CommitmentStatus::EnabledUntilEarliestAllowedEnd && now_ms >= a.ended_ms {
        a.commitment = CommitmentStatus::Disabled;
    }
    a
}

impl Engine {
    fn shard_write_bytes(&self) -> u64 {
        per_shard(self.inner.config.limits.write_bytes_per_sec, MIB)
    }

    fn shard_write_records(&self) -> u64 {
        per_shard(self.inner.config.limits.write_records_per_sec, 1000)
    }

    /// Shards needed for `mibps` MiB/s of writes.
    pub(crate) fn shards_for_mibps(&self, mibps: u32) -> u32 {
        let bytes = u64::from(mibps) * MIB;
        u32::try_from(bytes.div_ceil(self.shard_write_bytes())).unwrap_or(u32::MAX)
    }

    /// True if the account's billing commitment is on at `now_ms`.
    pub(crate) fn commitment_enabled(&self, now_ms: u64) -> bool {
        let a = account_at(&lock(&self.inner.catalog).account, now_ms);
        a.commitment != CommitmentStatus::Disabled
    }

    /// Warm throughput may be asked of ON_DEMAND streams of an account with the
    /// commitment on, up to 10 GiB/s.
    pub(crate) fn check_warm_throughput(
        &self,
        mode: StreamMode,
        mibps: u32,
        now_ms: u64,
    ) -> Result<()> {
        if mode != StreamMode::OnDemand {
            return Err(InvalidArgument::WarmThroughput(
                "warm throughput applies to ON_DEMAND streams only".to_string(),
            )
            .into());
        }
        if !self.commitment_enabled(now_ms) {
            return Err(InvalidArgument::WarmThroughput(
                "warm throughput needs the account's MinimumThroughputBillingCommitment \
                 enabled (UpdateAccountSettings)"
                    .to_string(),
            )
            .into());
        }
        if mibps > WARM_THROUGHPUT_MIBPS_MAX {
            return Err(Error::LimitExceeded {
                what: "warm throughput (MiB/s)",
                requested: mibps.into(),
                limit: WARM_THROUGHPUT_MIBPS_MAX.into(),
            });
        }
        Ok(())
    }

    /// The WarmThroughput field of a stream (ON_DEMAND streams of an account with the
    /// commitment on).
    pub(crate) fn warm_throughput_of(
        &self,
        r: &StreamRecord,
        commitment_on: bool,
    ) -> Option<WarmThroughput> {
        if r.settings.mode != StreamMode::OnDemand || !commitment_on {
            return None;
        }
        let open = r.open_shards().count() as u64;
        let current = open * self.shard_write_bytes() / MIB;
        Some(WarmThroughput {
            target_mibps: r.settings.warm_throughput_mibps,
            current_mibps: u32::try_from(current).unwrap_or(u32::MAX),
        })
    }

    /// UpdateStreamMode: PROVISIONED to ON_DEMAND or back (twice in a rolling 24 hours
    /// at most, as Kinesis). The shards stay; an ON_DEMAND stream then scales itself
    /// (at least 4 shards at once). `warm_throughput_mibps` only with ON_DEMAND.
    pub fn update_stream_mode(
        &self,
        stream: &str,
        mode: StreamMode,
        warm_throughput_mibps: Option<u32>,
    ) -> Result<()> {
        self.check_open()?;
        validate_stream_name(stream).map_err(Validation::StreamName)?;
        let now_ms = self.inner.config.clock.now_ms();
        let warm = warm_throughput_mibps.filter(|&w| w > 0);
        if let Some(mibps) = warm {
            self.check_warm_throughput(mode, mibps, now_ms)?;
        }
        self.fail_if_busy(stream)?;
        let limit = u64::from(self.inner.config.on_demand_stream_count_max);
        self.commit(|data| {
            let on_demand = data
                .streams
                .iter()
                .filter(|s| s.settings.mode == StreamMode::OnDemand)
                .count() as u64;
            let r = data
                .stream_mut(stream)
                .ok_or_else(|| Error::StreamNotFound {
                    stream: stream.to_string(),
                })?;
            if r.status != StreamStatus::Active {
                return Err(Error::StreamBusy {
                    stream: stream.to_string(),
                    status: r.status,
                    reason: "another change to the stream is running",
                });
            }
            if mode == StreamMode::Provisioned && self.queue_count(r.id, now_ms) > 0 {
                return Err(Error::StreamBusy {
                    stream: stream.to_string(),
                    status: r.status,
                    reason: "the stream has queues: delete them before switching to PROVISIONED",
                });
            }
            if r.settings.mode == mode {
                return Err(InvalidArgument::StreamMode {
                    rule: "the stream is in that capacity mode already",
                }
                .into());
            }
            r.settings.mode_switches_ms.retain(|&t| t + DAY_MS > now_ms);
            if r.settings.mode_switches_ms.len() >= 2 {
                return Err(Error::LimitExceeded {
                    what: "capacity mode switches in 24 hours",
                    requested: r.settings.mode_switches_ms.len() as u64 + 1,
                    limit: 2,
                });
            }
            if mode == StreamMode::OnDemand && on_demand + 1 > limit {
                return Err(Error::LimitExceeded {
                    what: "ON_DEMAND streams",
                    requested: on_demand + 1,
                    limit,
                });
            }
            r.settings.mode_switches_ms.push(now_ms);
            r.settings.mode_switches_ms.truncate(MODE_SWITCHES_KEPT);
            r.settings.mode = mode;
            if mode == StreamMode::Provisioned {
                // PROVISIONED streams route by key only.
                r.settings.distribution = RecordDistribution::UserPartitionKey;
            }
            if let Some(mibps) = warm {
                r.settings.warm_throughput_mibps = mibps;
            }
            Ok(())
        })?;
        if let Ok(runtime) = self.stream(stream) {
            self.refresh_live(&runtime);
        }
        if mode == StreamMode::OnDemand {
            // Its floor (4 shards, the warm throughput) at once; demand at the next
            // evaluation.
            self.scale_to_floor(stream, now_ms)?;
        }
        Ok(())
    }

    /// Splits until the stream has the shards its policy asks for now (each step at
    /// most doubles; a warm throughput or a mode switch wants them at once).
    fn scale_to_floor(&self, stream: &str, now_ms: u64) -> Result<()> {
        for _ in 0..32 {
            match self.scale_stream(stream, now_ms, true)? {
                Some(r) if r.to_shards > r.from_shards => continue,
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// UpdateMaxRecordSize: the largest record of `stream`, 1,024 to 10,240 KiB (and at
    /// most the engine's `record_bytes_max`). Takes effect for the next put; the write
    /// limits let one such record burst past the per-second rate.
    pub fn update_max_record_size(&self, stream: &str, kib: u32) -> Result<()> {
        self.check_open()?;
        validate_stream_name(stream).map_err(Validation::StreamName)?;
        self.check_max_record_kib(kib)?;
        let bytes = u64::from(kib) * 1024;
        let ceiling = u64::from(self.inner.config.log.record_bytes_max);
        if bytes > ceiling {
            return Err(InvalidArgument::MaxRecordSize { bytes, ceiling }.into());
        }
        let runtime = self.stream(stream)?;
        self.fail_if_busy(stream)?;
        self.update_stream_record(stream, |r| {
            if r.status != StreamStatus::Active {
                return Err(Error::StreamBusy {
                    stream: r.name.clone(),
                    status: r.status,
                    reason: "another change to the stream is running",
                });
            }
            r.settings.max_record_kib = kib.min(MAX_RECORD_KIB_MAX);
            Ok(())
        })?;
        self.refresh_live(&runtime);
        Ok(())
    }

    /// UpdateStreamRecordDistributionStrategy: how new records of an ON_DEMAND stream
    /// are spread over its open shards (AUTO: evenly, keys ignored; USER_PARTITION_KEY:
    /// by key). Takes effect for the next put; records already written stay where they
    /// are. AUTO on a PROVISIONED stream is an InvalidArgument; switching to
    /// PROVISIONED later returns the stream to USER_PARTITION_KEY.
    pub fn update_stream_record_distribution(
        &self,
        stream: &str,
        distribution: RecordDistribution,
    ) -> Result<()> {
        self.check_open()?;
        validate_stream_name(stream).map_err(Validation::StreamName)?;
        let runtime = self.stream(stream)?;
        self.fail_if_busy(stream)?;
        self.update_stream_record(stream, |r| {
            if r.status != StreamStatus::Active {
                return Err(Error::StreamBusy {
                    stream: r.name.clone(),
                    status: r.status,
                    reason: "another change to the stream is running",
                });
            }
            if r.settings.mode != StreamMode::OnDemand && distribution == RecordDistribution::Auto {
                return Err(InvalidArgument::StreamMode {
                    rule: super::admin::AUTO_NEEDS_ON_DEMAND,
                }
                .into());
            }
            r.settings.distribution = distribution;
            Ok(())
        })?;
        self.refresh_live(&runtime);
        Ok(())
    }

    /// UpdateStreamWarmThroughput: asks an ON_DEMAND stream (of an account with the
    /// commitment on) to take `mibps` MiB/s of writes at once; the stream is split to
    /// that capacity before the call returns (Kinesis does it asynchronously).
    pub fn update_stream_warm_throughput(
        &self,
        stream: &str,
        mibps: u32,
    ) -> Result<WarmThroughputOutput> {
        self.check_open()?;
        validate_stream_name(stream).map_err(Validation::StreamName)?;
        let now_ms = self.inner.config.clock.now_ms();
        let mode = self.with_record(stream, |r| r.settings.mode)?;
        self.check_warm_throughput(mode, mibps, now_ms)?;
        let needed = self.shards_for_mibps(mibps);
        let max = self
            .inner
            .config
            .on_demand
            .max_shards
            .min(self.inner.config.max_shards);
        if needed > max {
            return Err(Error::LimitExceeded {
                what: "shards for the warm throughput",
                requested: needed.into(),
                limit: max.into(),
            });
        }
        self.fail_if_busy(stream)?;
        self.update_stream_record(stream, |r| {
            r.settings.warm_throughput_mibps = mibps;
            Ok(())
        })?;
        self.scale_to_floor(stream, now_ms)?;
        let record = self.with_record(stream, |r| r.clone())?;
        let warm = self
            .warm_throughput_of(&record, true)
            .ok_or(Error::Internal("warm throughput vanished"))?;
        Ok(WarmThroughputOutput {
            stream: stream.to_string(),
            stream_arn: self.stream_arn(stream),
            warm_throughput: warm,
        })
    }

    /// DescribeAccountSettings: the minimum throughput billing commitment.
    pub fn describe_account_settings(&self) -> Result<AccountSettingsOutput> {
        self.check_open()?;
        let now_ms = self.inner.config.clock.now_ms();
        let a = account_at(&lock(&self.inner.catalog).account, now_ms);
        let opt = |t: u64| (t != 0).then_some(t);
        Ok(AccountSettingsOutput {
            status: a.commitment,
            started_ms: opt(a.started_ms),
            ended_ms: opt(a.ended_ms),
            earliest_allowed_end_ms: opt(a.earliest_end_ms),
        })
    }

    /// UpdateAccountSettings: turns the billing commitment on (`true`) or off. It lasts
    /// at least 24 hours: turned off earlier, it stays on until then
    /// (ENABLED_UNTIL_EARLIEST_ALLOWED_END); turned on again before that, the pending
    /// end is cancelled. Locally it gates warm throughput, as on AWS; nothing is
    /// billed.
    pub fn update_account_settings(&self, enabled: bool) -> Result<AccountSettingsOutput> {
        self.check_open()?;
        let now_ms = self.inner.config.clock.now_ms();
        self.commit(|data| {
            let mut a = account_at(&data.account, now_ms);
            match (a.commitment, enabled) {
                (CommitmentStatus::Disabled, true) => {
                    a = AccountSettings {
                        commitment: CommitmentStatus::Enabled,
                        started_ms: now_ms,
                        ended_ms: 0,
                        earliest_end_ms: now_ms + COMMITMENT_MIN_MS,
                    };
                }
                (CommitmentStatus::EnabledUntilEarliestAllowedEnd, true) => {
                    a.commitment = CommitmentStatus::Enabled;
                    a.ended_ms = 0;
                }
                (CommitmentStatus::Enabled, false) if now_ms >= a.earliest_end_ms => {
                    a.commitment = CommitmentStatus::Disabled;
                    a.ended_ms = now_ms;
                }
                (CommitmentStatus::Enabled, false) => {
                    a.commitment = CommitmentStatus::EnabledUntilEarliestAllowedEnd;
                    a.ended_ms = a.earliest_end_ms;
                }
                _ => {}
            }
            data.account = a;
            Ok(())
        })?;
        self.describe_account_settings()
    }

    /// Runs on-demand scaling now for every ON_DEMAND stream whose evaluation is due on
    /// the engine's clock (the maintenance thread calls it every
    /// `maintenance_interval`; tests call it after moving a `ManualClock`). Returns
    /// what changed.
    pub fn scale_on_demand_streams(&self) -> Result<Vec<ScalingReport>> {
        self.check_open()?;
        let now_ms = self.inner.config.clock.now_ms();
        let names: Vec<String> = lock(&self.inner.catalog)
            .streams
            .iter()
            .filter(|s| s.settings.mode == StreamMode::OnDemand)
            .map(|s| s.name.clone())
            .collect();
        let mut reports = Vec::new();
        for name in names {
            match self.scale_stream(&name, now_ms, false) {
                Ok(Some(report)) => reports.push(report),
                Ok(None) => {}
                // A stream busy with another change (or deleted meanwhile) waits for
                // the next evaluation.
                Err(Error::StreamBusy { .. } | Error::StreamNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(reports)
    }

    /// One stream's evaluation (see the module doc). `force`: decide now even if the
    /// interval has not passed (a mode switch or warm throughput change).
    fn scale_stream(&self, name: &str, now_ms: u64, force: bool) -> Result<Option<ScalingReport>> {
        let mut state = lock(&self.inner.scaling);
        let record = self.with_record(name, |r| r.clone())?;
        if record.settings.mode != StreamMode::OnDemand || record.status != StreamStatus::Active {
            return Ok(None);
        }
        let runtime = self.stream(name)?;
        let policy = self.inner.config.on_demand;
        let interval_ms = policy.evaluation_interval.as_millis() as u64;
        let scaling = state.streams.entry(record.id).or_default();
        let first = scaling.last_eval_ms == 0;
        let elapsed_ms = now_ms.saturating_sub(scaling.last_eval_ms);
        if !first && !force && elapsed_ms < interval_ms {
            return Ok(None);
        }
        // Demand per open shard since the last evaluation.
        let shards = runtime.shards.load();
        let mut per_shard: Vec<(u32, WriteDemand)> = Vec::new();
        let mut now_demand = HashMap::new();
        for s in record.open_shards() {
            let Some(shared) = shards.get(&s.index) else {
                continue;
            };
            let demand = shared.counters.write_demand();
            let before = scaling.demand.get(&s.index).copied().unwrap_or_default();
            per_shard.push((
                s.index,
                WriteDemand {
                    bytes: demand.bytes.saturating_sub(before.bytes),
                    records: demand.records.saturating_sub(before.records),
                },
            ));
            now_demand.insert(s.index, demand);
        }
        let measured = !first && elapsed_ms > 0;
        let (rate_bytes, rate_records) = if measured {
            let bytes: u64 = per_shard.iter().map(|(_, d)| d.bytes).sum();
            let records: u64 = per_shard.iter().map(|(_, d)| d.records).sum();
            (
                bytes.saturating_mul(1000) / elapsed_ms,
                records.saturating_mul(1000) / elapsed_ms,
            )
        } else {
            (0, 0)
        };
        if measured || first {
            scaling.demand = now_demand;
            scaling.last_eval_ms = now_ms;
        }
        // Today's peak, and the window's.
        let day = (now_ms / DAY_MS) as u32;
        let today = match scaling.today {
            Some(p) if p.day == day => p,
            _ => DailyPeak {
                day,
                write_bytes_per_sec: 0,
                write_records_per_sec: 0,
            },
        };
        let today = DailyPeak {
            day,
            write_bytes_per_sec: today.write_bytes_per_sec.max(rate_bytes),
            write_records_per_sec: today.write_records_per_sec.max(rate_records),
        };
        scaling.today = Some(today);
        let window_start = day.saturating_sub(policy.peak_window_days);
        let mut peak = (today.write_bytes_per_sec, today.write_records_per_sec);
        for p in record
            .settings
            .peaks
            .iter()
            .filter(|p| p.day > window_start)
        {
            peak.0 = peak.0.max(p.write_bytes_per_sec);
            peak.1 = peak.1.max(p.write_records_per_sec);
        }
        // Remember a risen peak durably (10% steps bound the catalog writes).
        let risen = |now: u64, was: u64| now > was + was / 10;
        if risen(today.write_bytes_per_sec, scaling.persisted.0)
            || risen(today.write_records_per_sec, scaling.persisted.1)
        {
            self.update_stream_record(name, |r| {
                let peaks = &mut r.settings.peaks;
                peaks.retain(|p| p.day > window_start && p.day != day);
                peaks.push(today);
                peaks.sort_by_key(|p| p.day);
                while peaks.len() > PEAK_DAYS_KEPT {
                    peaks.remove(0);
                }
                Ok(())
            })?;
            scaling.persisted = (today.write_bytes_per_sec, today.write_records_per_sec);
        }
        // The shard count the policy asks for.
        let need_bytes = peak.0.saturating_mul(2).div_ceil(self.shard_write_bytes());
        let need_records = peak
            .1
            .saturating_mul(2)
            .div_ceil(self.shard_write_records());
        let warm = if self.commitment_enabled(now_ms) {
            u64::from(self.shards_for_mibps(record.settings.warm_throughput_mibps))
        } else {
            0
        };
        let ceiling = u64::from(policy.max_shards.min(self.inner.config.max_shards));
        let needed = need_bytes
            .max(need_records)
            .max(warm)
            .max(u64::from(ON_DEMAND_INITIAL_SHARDS))
            .min(ceiling) as u32;
        let open = per_shard.len() as u32;
        drop(state);
        let demand_of = |index: u32| {
            per_shard
                .iter()
                .find(|(i, _)| *i == index)
                .map_or(WriteDemand::default(), |(_, d)| *d)
        };
        let mut to = open;
        if needed > open {
            // Split the hottest shards, at most doubling.
            let mut order: Vec<&crate::stream::catalog::ShardRecord> =
                record.open_shards().collect();
            order.sort_by(|a, b| {
                let (da, db) = (demand_of(a.index), demand_of(b.index));
                (db.bytes, db.records, b.hash_range.end - b.hash_range.start).cmp(&(
                    da.bytes,
                    da.records,
                    a.hash_range.end - a.hash_range.start,
                ))
            });
            let splits: Vec<u32> = order
                .iter()
                .filter(|s| s.hash_range.end > s.hash_range.start)
                .take((needed - open).min(open) as usize)
                .map(|s| s.index)
                .collect();
            if !splits.is_empty() {
                self.split_in_halves(name, &splits)?;
                to = open + splits.len() as u32;
            }
        } else if needed < open {
            // Merge the coldest adjacent pairs, at most halving.
            let mut sorted: Vec<&crate::stream::catalog::ShardRecord> =
                record.open_shards().collect();
            sorted.sort_by_key(|s| s.hash_range.start);
            let mut pairs: Vec<(u64, u32, u32)> = sorted
                .windows(2)
                .map(|w| {
                    let d = demand_of(w[0].index).bytes + demand_of(w[1].index).bytes;
                    (d, w[0].index, w[1].index)
                })
                .collect();
            pairs.sort();
            let mut used = std::collections::HashSet::new();
            let mut chosen = Vec::new();
            for (_, a, b) in pairs {
                if chosen.len() as u32 >= (open - needed).min(open / 2) {
                    break;
                }
                if used.contains(&a) || used.contains(&b) {
                    continue;
                }
                used.insert(a);
                used.insert(b);
                chosen.push((a, b));
            }
            if !chosen.is_empty() {
                self.merge_pairs(name, &chosen)?;
                to = open - chosen.len() as u32;
            }
        }
        if to == open && !measured {
            return Ok(None);
        }
        Ok(Some(ScalingReport {
            stream: name.to_string(),
            from_shards: open,
            to_shards: to,
            demand_bytes_per_sec: rate_bytes,
            demand_records_per_sec: rate_records,
            peak,
        }))
    }
}
