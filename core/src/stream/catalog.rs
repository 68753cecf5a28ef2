//! The catalog: every stream and shard, their hash ranges, lineage, states, placement,
//! retention and tags, plus the engine epoch and the iterator secret. One file,
//! `<data_dir>/catalog`, replaced atomically (temp, fsync, rename, fsync dir) on every
//! change, so a crash leaves the old catalog or the new one, never a mix.
//!
//! Layout (docs/format.md has it byte by byte): a 64-byte header (magic `TIDECAT\0`,
//! version, body length and CRC, header CRC) and a body of little-endian fields and
//! length-prefixed UTF-8 strings. Every count and length read back is checked against a
//! limit before it is used.
//!
//! Version 2 (written since the whole Kinesis API landed) appends to each stream its
//! [`StreamSettings`] (capacity mode, record size, encryption key slots, enhanced
//! monitoring, consumers, resource policy, warm throughput, on-demand peaks) and, after
//! the streams, the [`AccountSettings`]. Version 1 files are still read (every setting
//! takes its default) and are rewritten as version 2 at the next change.
//!
//! Version 3 (record distribution strategies) appends one byte to each stream's
//! settings: its [`RecordDistribution`]. Version 1 and 2 files are still read (the
//! strategy is USER_PARTITION_KEY) and are rewritten as version 3 at the next change.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;

use super::hashkey::HashRange;
use crate::codec::{Reader, Writer};
use crate::io::Storage;

/// Magic number of the catalog file.
pub const CATALOG_MAGIC: [u8; 8] = *b"TIDECAT\0";
/// Catalog format version written (versions 1, 2 and 3 are read).
pub const CATALOG_VERSION: u16 = 3;
/// The catalog format version before record distribution strategies.
pub const CATALOG_VERSION_2: u16 = 2;
/// The first catalog format version (no stream settings, no account settings).
pub const CATALOG_VERSION_1: u16 = 1;
/// The catalog's file name in the data directory.
pub const CATALOG_FILE: &str = "catalog";
const HEADER_BYTES: usize = 64;
const NONE_U32: u32 = u32::MAX;

/// Most tags on a stream (Kinesis: 50).
pub const TAGS_PER_STREAM_MAX: usize = 50;
/// Longest tag key, in characters (Kinesis: 128).
pub const TAG_KEY_CHARS_MAX: usize = 128;
/// Longest tag value, in characters (Kinesis: 256).
pub const TAG_VALUE_CHARS_MAX: usize = 256;
/// Longest KMS key id, in characters (Kinesis: 2,048).
pub const KEY_ID_CHARS_MAX: usize = 2048;
/// Encryption key slots a stream keeps (every key that encrypted a record it may still
/// hold); starting encryption with a new key past this is refused.
pub const KEY_SLOTS_MAX: usize = 1024;
/// Largest wrapped data key stored in a key slot, bytes.
pub const WRAPPED_KEY_BYTES_MAX: usize = 128;
/// Longest consumer name (Kinesis: 128 characters of `[a-zA-Z0-9_.-]`).
pub const CONSUMER_NAME_CHARS_MAX: usize = 128;
/// Consumers a stream keeps in its record, registered or still being deleted.
pub const CONSUMER_RECORDS_MAX: usize = 256;
/// Longest resource policy, in bytes (Kinesis: 20 KiB).
pub const POLICY_BYTES_MAX: usize = 20 << 10;
/// Times kept of recent encryption starts, and of stops (Kinesis allows 25 of each in
/// a rolling 24 hours).
pub const ENCRYPTION_CHANGES_KEPT: usize = 25;
/// Times kept of recent capacity-mode switches (the 24-hour rate limit needs 2).
pub const MODE_SWITCHES_KEPT: usize = 4;
/// Daily write peaks kept for on-demand scaling (the last 30 days and today).
pub const PEAK_DAYS_KEPT: usize = 31;
/// Default largest record of a stream, KiB (Kinesis: 1 MiB).
pub const MAX_RECORD_KIB_DEFAULT: u32 = 1024;
/// Smallest MaxRecordSizeInKiB (Kinesis: 1,024).
pub const MAX_RECORD_KIB_MIN: u32 = 1024;
/// Largest MaxRecordSizeInKiB (Kinesis: 10,240).
pub const MAX_RECORD_KIB_MAX: u32 = 10 * 1024;
const STREAMS_MAX: usize = 1 << 20;
const SHARDS_PER_STREAM_MAX: usize = 1 << 20;
const BODY_BYTES_MAX: u64 = 1 << 30;

/// A stream's status (Kinesis StreamStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamStatus {
    /// Being created.
    Creating,
    /// Ready for reads and writes.
    Active,
    /// A reshard or retention change is in progress; reads and writes continue.
    Updating,
    /// Being deleted.
    Deleting,
}

impl StreamStatus {
    /// The Kinesis name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Creating => "CREATING",
            Self::Active => "ACTIVE",
            Self::Updating => "UPDATING",
            Self::Deleting => "DELETING",
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Creating => 0,
            Self::Active => 1,
            Self::Updating => 2,
            Self::Deleting => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Creating,
            1 => Self::Active,
            2 => Self::Updating,
            3 => Self::Deleting,
            _ => return None,
        })
    }
}

/// A shard's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShardState {
    /// Accepting writes.
    Open,
    /// Split or merged away: readable until its data expires, no more writes.
    Closed,
    /// Closed and all its data past retention: files reclaimed, not listed.
    Expired,
}

impl ShardState {
    /// The name used in listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Closed => "CLOSED",
            Self::Expired => "EXPIRED",
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Open => 0,
            Self::Closed => 1,
            Self::Expired => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Open,
            1 => Self::Closed,
            2 => Self::Expired,
            _ => return None,
        })
    }
}

/// A stream's capacity mode (Kinesis StreamMode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StreamMode {
    /// A fixed number of shards, changed by the user (split, merge, UpdateShardCount).
    #[default]
    Provisioned,
    /// Shards added (and removed) by the engine as the write load changes.
    OnDemand,
}

impl StreamMode {
    /// The Kinesis name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Provisioned => "PROVISIONED",
            Self::OnDemand => "ON_DEMAND",
        }
    }

    /// Parses the Kinesis name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "PROVISIONED" => Some(Self::Provisioned),
            "ON_DEMAND" => Some(Self::OnDemand),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Provisioned => 0,
            Self::OnDemand => 1,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Provisioned),
            1 => Some(Self::OnDemand),
            _ => None,
        }
    }
}

/// How a stream spreads records over its open shards (Kinesis
/// RecordDistributionStrategy; ON_DEMAND streams only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RecordDistribution {
    /// By the MD5 of the partition key (or the ExplicitHashKey): one key, one shard.
    #[default]
    UserPartitionKey,
    /// Evenly over the open shards, round robin, ignoring partition and explicit hash
    /// keys (no per-key order).
    Auto,
}

impl RecordDistribution {
    /// The Kinesis name.
    pub fn name(self) -> &'static str {
        match self {
            Self::UserPartitionKey => "USER_PARTITION_KEY",
            Self::Auto => "AUTO",
        }
    }

    /// Parses the Kinesis name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "USER_PARTITION_KEY" => Some(Self::UserPartitionKey),
            "AUTO" => Some(Self::Auto),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::UserPartitionKey => 0,
            Self::Auto => 1,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::UserPartitionKey),
            1 => Some(Self::Auto),
            _ => None,
        }
    }
}

/// A data key of a stream: the key that encrypts records written while it was the
/// stream's current key, wrapped (encrypted) with the key provider's key `key_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySlot {
    /// The slot's number (in every encrypted record's envelope; never reused).
    pub slot: u32,
    /// The KMS key id the data key is wrapped with.
    pub key_id: String,
    /// The wrapped data key (see `crypto/envelope.rs`).
    pub wrapped_key: Vec<u8>,
    /// When encryption with this key started, ms since the epoch.
    pub created_ms: u64,
}

/// An enhanced fan-out consumer as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Its name (unique among the stream's consumers that are not gone).
    pub name: String,
    /// When it was registered, ms since the epoch (its ARN carries it in seconds).
    pub created_ms: u64,
    /// When it becomes ACTIVE (CREATING before), ms since the epoch.
    pub active_ms: u64,
    /// Once deregistered: when it is gone (DELETING before), ms since the epoch.
    pub gone_ms: Option<u64>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Its resource policy (JSON text), if one is attached.
    pub policy: Option<String>,
}

/// The highest write rate a stream saw on one day (on-demand scaling's memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyPeak {
    /// Days since the Unix epoch.
    pub day: u32,
    /// Bytes (data plus keys) per second, accepted or refused by the limits.
    pub write_bytes_per_sec: u64,
    /// Records per second, accepted or refused by the limits.
    pub write_records_per_sec: u64,
}

/// Everything about a stream beyond its shards (catalog format version 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    /// Capacity mode.
    pub mode: StreamMode,
    /// MaxRecordSizeInKiB: the largest record (data plus partition key), KiB.
    pub max_record_kib: u32,
    /// The key slot new records are encrypted with (`None`: encryption is off).
    pub encryption_slot: Option<u32>,
    /// Every key slot the stream has used, oldest first.
    pub key_slots: Vec<KeySlot>,
    /// When encryption was started recently (ms), oldest first.
    pub encryption_starts_ms: Vec<u64>,
    /// When encryption was stopped recently (ms), oldest first.
    pub encryption_stops_ms: Vec<u64>,
    /// Enabled shard-level metrics (a bit per metric; see `stream/metrics.rs`).
    pub shard_level_metrics: u8,
    /// Enhanced fan-out consumers (registered, or being deleted).
    pub consumers: Vec<ConsumerRecord>,
    /// The stream's resource policy (JSON text), if one is attached.
    pub policy: Option<String>,
    /// Warm throughput asked for (UpdateStreamWarmThroughput), MiB/s; 0 = none.
    pub warm_throughput_mibps: u32,
    /// When the capacity mode was switched recently (ms), oldest first.
    pub mode_switches_ms: Vec<u64>,
    /// Daily write peaks, oldest first (on-demand scaling looks back 30 days).
    pub peaks: Vec<DailyPeak>,
    /// How records are spread over the open shards (format version 3).
    pub distribution: RecordDistribution,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            mode: StreamMode::Provisioned,
            max_record_kib: MAX_RECORD_KIB_DEFAULT,
            encryption_slot: None,
            key_slots: Vec::new(),
            encryption_starts_ms: Vec::new(),
            encryption_stops_ms: Vec::new(),
            shard_level_metrics: 0,
            consumers: Vec::new(),
            policy: None,
            warm_throughput_mibps: 0,
            mode_switches_ms: Vec::new(),
            peaks: Vec::new(),
            distribution: RecordDistribution::UserPartitionKey,
        }
    }
}

impl StreamSettings {
    /// The key slot numbered `slot`.
    pub fn key_slot(&self, slot: u32) -> Option<&KeySlot> {
        self.key_slots.iter().find(|k| k.slot == slot)
    }
}

/// The account's minimum throughput billing commitment (UpdateAccountSettings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CommitmentStatus {
    /// Not committed.
    #[default]
    Disabled,
    /// Committed.
    Enabled,
    /// A disable was asked for before the minimum period ended: enabled until then.
    EnabledUntilEarliestAllowedEnd,
}

impl CommitmentStatus {
    /// The Kinesis name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Disabled => "DISABLED",
            Self::Enabled => "ENABLED",
            Self::EnabledUntilEarliestAllowedEnd => "ENABLED_UNTIL_EARLIEST_ALLOWED_END",
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Disabled => 0,
            Self::Enabled => 1,
            Self::EnabledUntilEarliestAllowedEnd => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Disabled),
            1 => Some(Self::Enabled),
            2 => Some(Self::EnabledUntilEarliestAllowedEnd),
            _ => None,
        }
    }
}

/// Account-level settings (DescribeAccountSettings). Times are ms since the epoch,
/// 0 for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountSettings {
    /// The commitment's status as last written (a scheduled end may have passed since:
    /// the engine reads it against the clock).
    pub commitment: CommitmentStatus,
    /// When the commitment started.
    pub started_ms: u64,
    /// When it ended (or is scheduled to end).
    pub ended_ms: u64,
    /// The earliest time it may end.
    pub earliest_end_ms: u64,
}

/// One shard as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRecord {
    /// Index within the stream (the shard id's number; never reused).
    pub index: u32,
    /// The hash keys it owns (or owned, once closed).
    pub hash_range: HashRange,
    /// Open, closed or expired.
    pub state: ShardState,
    /// The shard it was split from or merged from.
    pub parent: Option<u32>,
    /// The other parent of a merge.
    pub adjacent_parent: Option<u32>,
    /// Lower bound of its sequence numbers.
    pub starting_seq: u128,
    /// Its last sequence number, once closed (None while open; a closed shard that
    /// never received a record ends at `starting_seq`).
    pub ending_seq: Option<u128>,
    /// The core that owns it.
    pub core: u16,
    /// When it was created, ms since the epoch.
    pub created_ms: u64,
    /// When it was closed (0 while open).
    pub closed_ms: u64,
}

/// One stream as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// Numeric id (names directories; never reused within a data directory).
    pub id: u64,
    /// The user's name for it.
    pub name: String,
    /// Its status.
    pub status: StreamStatus,
    /// When it was created, ms since the epoch.
    pub created_ms: u64,
    /// Retention period in hours.
    pub retention_hours: u32,
    /// Records that arrived before this time (ms since the epoch) stay unreadable even
    /// if retention is raised (set when it is: raising never brings expired data back).
    pub retention_floor_ms: u64,
    /// The index the next new shard gets.
    pub next_shard_index: u32,
    /// Tags, by key.
    pub tags: BTreeMap<String, String>,
    /// Every shard not yet forgotten (open, closed and expired), by index order.
    pub shards: Vec<ShardRecord>,
    /// Mode, record size, encryption, consumers, policy, monitoring, scaling memory.
    pub settings: StreamSettings,
}

impl StreamRecord {
    /// The shard with index `index`.
    pub fn shard(&self, index: u32) -> Option<&ShardRecord> {
        self.shards.iter().find(|s| s.index == index)
    }

    /// The shard with index `index`, mutably.
    pub fn shard_mut(&mut self, index: u32) -> Option<&mut ShardRecord> {
        self.shards.iter_mut().find(|s| s.index == index)
    }

    /// The open shards.
    pub fn open_shards(&self) -> impl Iterator<Item = &ShardRecord> {
        self.shards.iter().filter(|s| s.state == ShardState::Open)
    }
}

/// Everything the catalog holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogData {
    /// Bumped (durably) at every engine open; the high bits of sequence numbers.
    pub epoch: u32,
    /// The id the next new stream gets.
    pub next_stream_id: u64,
    /// Key for iterator token MACs.
    pub secret: [u8; 32],
    /// Every stream.
    pub streams: Vec<StreamRecord>,
    /// Account-level settings.
    pub account: AccountSettings,
}

impl CatalogData {
    /// A fresh catalog with a secret from the OS random generator.
    pub fn new() -> std::io::Result<Self> {
        let mut secret = [0u8; 32];
        let mut filled = 0;
        while filled < secret.len() {
            filled += rustix::rand::getrandom(
                &mut secret[filled..],
                rustix::rand::GetRandomFlags::empty(),
            )
            .map_err(std::io::Error::from)?;
        }
        Ok(Self {
            epoch: 0,
            next_stream_id: 1,
            secret,
            streams: Vec::new(),
            account: AccountSettings::default(),
        })
    }

    /// The stream named `name`.
    pub fn stream(&self, name: &str) -> Option<&StreamRecord> {
        self.streams.iter().find(|s| s.name == name)
    }

    /// The stream named `name`, mutably.
    pub fn stream_mut(&mut self, name: &str) -> Option<&mut StreamRecord> {
        self.streams.iter_mut().find(|s| s.name == name)
    }
}

/// Why a catalog file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogDecodeError {
    /// Wrong magic number.
    BadMagic,
    /// A version this code does not read.
    UnsupportedVersion(u16),
    /// A checksum failed.
    Checksum {
        /// Which part: "header" or "body".
        part: &'static str,
    },
    /// The file ends before its structures do.
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A field holds an impossible value.
    Invalid {
        /// The field.
        field: &'static str,
    },
}

impl std::fmt::Display for CatalogDecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadMagic => write!(f, "not a tidelog catalog (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "catalog format version {v} is not supported"),
            Self::Checksum { part } => write!(f, "catalog {part} checksum mismatch"),
            Self::Truncated { field } => write!(f, "catalog ends inside {field}"),
            Self::Invalid { field } => write!(f, "catalog field {field} holds an impossible value"),
        }
    }
}

fn opt(v: u32) -> Option<u32> {
    (v != NONE_U32).then_some(v)
}

/// Encodes the catalog file.
pub fn encode(data: &CatalogData) -> Vec<u8> {
    frame_body(&encode_body(data, CATALOG_VERSION))
}

/// The body of `data` in format `version` (2 or 3; tests write version 2 files).
fn encode_body(data: &CatalogData, version: u16) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(256 + data.streams.len() * 128));
    w.u32(data.epoch);
    w.u64(data.next_stream_id);
    w.0.extend_from_slice(&data.secret);
    w.u32(data.streams.len() as u32);
    for s in &data.streams {
        w.u64(s.id);
        w.str16(&s.name);
        w.u8(s.status.code());
        w.u64(s.created_ms);
        w.u32(s.retention_hours);
        w.u64(s.retention_floor_ms);
        w.u32(s.next_shard_index);
        w.u32(s.tags.len() as u32);
        for (k, v) in &s.tags {
            w.str16(k);
            w.str16(v);
        }
        w.u32(s.shards.len() as u32);
        for sh in &s.shards {
            w.u32(sh.index);
            w.u128(sh.hash_range.start);
            w.u128(sh.hash_range.end);
            w.u8(sh.state.code());
            w.u32(sh.parent.unwrap_or(NONE_U32));
            w.u32(sh.adjacent_parent.unwrap_or(NONE_U32));
            w.u128(sh.starting_seq);
            w.u8(u8::from(sh.ending_seq.is_some()));
            w.u128(sh.ending_seq.unwrap_or(0));
            w.u16(sh.core);
            w.u64(sh.created_ms);
            w.u64(sh.closed_ms);
        }
        encode_settings(&mut w, &s.settings);
        if version >= CATALOG_VERSION {
            w.u8(s.settings.distribution.code());
        }
    }
    let a = &data.account;
    w.u8(a.commitment.code());
    w.u64(a.started_ms);
    w.u64(a.ended_ms);
    w.u64(a.earliest_end_ms);
    w.0
}

fn encode_tags(w: &mut Writer, tags: &BTreeMap<String, String>) {
    w.u32(tags.len() as u32);
    for (k, v) in tags {
        w.str16(k);
        w.str16(v);
    }
}

fn encode_settings(w: &mut Writer, s: &StreamSettings) {
    w.u8(s.mode.code());
    w.u32(s.max_record_kib);
    w.u32(s.encryption_slot.unwrap_or(NONE_U32));
    w.u32(s.key_slots.len() as u32);
    for k in &s.key_slots {
        w.u32(k.slot);
        w.str16(&k.key_id);
        w.u16(k.wrapped_key.len() as u16);
        w.0.extend_from_slice(&k.wrapped_key);
        w.u64(k.created_ms);
    }
    for times in [&s.encryption_starts_ms, &s.encryption_stops_ms] {
        w.u32(times.len() as u32);
        for &t in times {
            w.u64(t);
        }
    }
    w.u8(s.shard_level_metrics);
    w.u32(s.consumers.len() as u32);
    for c in &s.consumers {
        w.str16(&c.name);
        w.u64(c.created_ms);
        w.u64(c.active_ms);
        w.u8(u8::from(c.gone_ms.is_some()));
        w.u64(c.gone_ms.unwrap_or(0));
        encode_tags(w, &c.tags);
        w.u8(u8::from(c.policy.is_some()));
        w.str16(c.policy.as_deref().unwrap_or(""));
    }
    w.u8(u8::from(s.policy.is_some()));
    w.str16(s.policy.as_deref().unwrap_or(""));
    w.u32(s.warm_throughput_mibps);
    w.u32(s.mode_switches_ms.len() as u32);
    for &t in &s.mode_switches_ms {
        w.u64(t);
    }
    w.u32(s.peaks.len() as u32);
    for p in &s.peaks {
        w.u32(p.day);
        w.u64(p.write_bytes_per_sec);
        w.u64(p.write_records_per_sec);
    }
}

fn decode_tags(
    r: &mut Reader<'_>,
    max: usize,
) -> Result<BTreeMap<String, String>, CatalogDecodeError> {
    let tag_count = r.count("tag_count", max)?;
    let mut tags = BTreeMap::new();
    for _ in 0..tag_count {
        let key = r.str16("tag.key", TAG_KEY_CHARS_MAX)?;
        let value = r.str16("tag.value", TAG_VALUE_CHARS_MAX)?;
        // Keys are written in order, each once.
        if tags
            .keys()
            .next_back()
            .is_some_and(|last: &String| *last >= key)
        {
            return Err(CatalogDecodeError::Invalid {
                field: "tag.key order",
            });
        }
        tags.insert(key, value);
    }
    Ok(tags)
}

fn decode_times(
    r: &mut Reader<'_>,
    field: &'static str,
    max: usize,
) -> Result<Vec<u64>, CatalogDecodeError> {
    let n = r.count(field, max)?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        times.push(r.u64(field)?);
    }
    if times.windows(2).any(|w| w[0] > w[1]) {
        return Err(CatalogDecodeError::Invalid { field });
    }
    Ok(times)
}

fn decode_policy(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Option<String>, CatalogDecodeError> {
    let present = r.u8(field)?;
    let text = r.str16(field, POLICY_BYTES_MAX)?;
    match (present, text.is_empty()) {
        (0, true) => Ok(None),
        (1, false) if text.len() <= POLICY_BYTES_MAX => Ok(Some(text)),
        _ => Err(CatalogDecodeError::Invalid { field }),
    }
}

fn decode_settings(r: &mut Reader<'_>) -> Result<StreamSettings, CatalogDecodeError> {
    let mode =
        StreamMode::from_code(r.u8("settings.mode")?).ok_or(CatalogDecodeError::Invalid {
            field: "settings.mode",
        })?;
    let max_record_kib = r.u32("settings.max_record_kib")?;
    if !(MAX_RECORD_KIB_MIN..=MAX_RECORD_KIB_MAX).contains(&max_record_kib) {
        return Err(CatalogDecodeError::Invalid {
            field: "settings.max_record_kib",
        });
    }
    let encryption_slot = opt(r.u32("settings.encryption_slot")?);
    let slot_count = r.count("settings.key_slot_count", KEY_SLOTS_MAX)?;
    let mut key_slots: Vec<KeySlot> = Vec::with_capacity(slot_count);
    for _ in 0..slot_count {
        let slot = r.u32("key_slot.slot")?;
        let key_id = r.str16("key_slot.key_id", KEY_ID_CHARS_MAX)?;
        let len = r.u16("key_slot.wrapped_len")? as usize;
        if len > WRAPPED_KEY_BYTES_MAX || key_id.is_empty() {
            return Err(CatalogDecodeError::Invalid {
                field: "key_slot.wrapped_key",
            });
        }
        let wrapped_key = r.take(len, "key_slot.wrapped_key")?.to_vec();
        let created_ms = r.u64("key_slot.created_ms")?;
        if key_slots.last().is_some_and(|last| last.slot >= slot) {
            return Err(CatalogDecodeError::Invalid {
                field: "key_slot.slot order",
            });
        }
        key_slots.push(KeySlot {
            slot,
            key_id,
            wrapped_key,
            created_ms,
        });
    }
    if let Some(current) = encryption_slot
        && !key_slots.iter().any(|k| k.slot == current)
    {
        return Err(CatalogDecodeError::Invalid {
            field: "settings.encryption_slot",
        });
    }
    let encryption_starts_ms =
        decode_times(r, "settings.encryption_starts", ENCRYPTION_CHANGES_KEPT)?;
    let encryption_stops_ms =
        decode_times(r, "settings.encryption_stops", ENCRYPTION_CHANGES_KEPT)?;
    let shard_level_metrics = r.u8("settings.shard_level_metrics")?;
    if shard_level_metrics & !super::metrics::SHARD_LEVEL_METRICS_ALL != 0 {
        return Err(CatalogDecodeError::Invalid {
            field: "settings.shard_level_metrics",
        });
    }
    let consumer_count = r.count("settings.consumer_count", CONSUMER_RECORDS_MAX)?;
    let mut consumers: Vec<ConsumerRecord> = Vec::with_capacity(consumer_count);
    for _ in 0..consumer_count {
        let name = r.str16("consumer.name", CONSUMER_NAME_CHARS_MAX)?;
        if super::names::validate_consumer_name(&name).is_err() {
            return Err(CatalogDecodeError::Invalid {
                field: "consumer.name",
            });
        }
        let created_ms = r.u64("consumer.created_ms")?;
        let active_ms = r.u64("consumer.active_ms")?;
        let has_gone = r.u8("consumer.has_gone")?;
        let gone = r.u64("consumer.gone_ms")?;
        let gone_ms = match (has_gone, gone) {
            (0, 0) => None,
            (1, t) => Some(t),
            _ => {
                return Err(CatalogDecodeError::Invalid {
                    field: "consumer.gone_ms",
                });
            }
        };
        let tags = decode_tags(r, TAGS_PER_STREAM_MAX)?;
        let policy = decode_policy(r, "consumer.policy")?;
        consumers.push(ConsumerRecord {
            name,
            created_ms,
            active_ms,
            gone_ms,
            tags,
            policy,
        });
    }
    let policy = decode_policy(r, "settings.policy")?;
    let warm_throughput_mibps = r.u32("settings.warm_throughput_mibps")?;
    let mode_switches_ms = decode_times(r, "settings.mode_switches", MODE_SWITCHES_KEPT)?;
    let peak_count = r.count("settings.peak_count", PEAK_DAYS_KEPT)?;
    let mut peaks: Vec<DailyPeak> = Vec::with_capacity(peak_count);
    for _ in 0..peak_count {
        let peak = DailyPeak {
            day: r.u32("peak.day")?,
            write_bytes_per_sec: r.u64("peak.write_bytes_per_sec")?,
            write_records_per_sec: r.u64("peak.write_records_per_sec")?,
        };
        if peaks.last().is_some_and(|last| last.day >= peak.day) {
            return Err(CatalogDecodeError::Invalid {
                field: "peak.day order",
            });
        }
        peaks.push(peak);
    }
    Ok(StreamSettings {
        mode,
        max_record_kib,
        encryption_slot,
        key_slots,
        encryption_starts_ms,
        encryption_stops_ms,
        shard_level_metrics,
        consumers,
        policy,
        warm_throughput_mibps,
        mode_switches_ms,
        peaks,
        distribution: RecordDistribution::UserPartitionKey,
    })
}

/// The catalog file for an encoded body: the header (magic, version, length, CRCs) and
/// the body.
pub fn frame_body(body: &[u8]) -> Vec<u8> {
    frame_body_version(body, CATALOG_VERSION)
}

/// [`frame_body`] with the header of another format version (tests of old files).
pub fn frame_body_version(body: &[u8], version: u16) -> Vec<u8> {
    let mut header = [0u8; HEADER_BYTES];
    header[0..8].copy_from_slice(&CATALOG_MAGIC);
    header[8..10].copy_from_slice(&version.to_le_bytes());
    header[16..24].copy_from_slice(&(body.len() as u64).to_le_bytes());
    header[24..28].copy_from_slice(&crc32fast::hash(body).to_le_bytes());
    let header_crc = crc32fast::hash(&header[..60]);
    header[60..64].copy_from_slice(&header_crc.to_le_bytes());
    let mut file = header.to_vec();
    file.extend_from_slice(body);
    file
}

/// Decodes and checks a catalog file.
pub fn decode(file: &[u8]) -> Result<CatalogData, CatalogDecodeError> {
    let header = file
        .get(..HEADER_BYTES)
        .ok_or(CatalogDecodeError::Truncated { field: "header" })?;
    if header[0..8] != CATALOG_MAGIC {
        return Err(CatalogDecodeError::BadMagic);
    }
    let stored = u32::from_le_bytes(header[60..64].try_into().unwrap_or_default());
    if crc32fast::hash(&header[..60]) != stored {
        return Err(CatalogDecodeError::Checksum { part: "header" });
    }
    if header[10..16]
        .iter()
        .chain(&header[28..60])
        .any(|&b| b != 0)
    {
        return Err(CatalogDecodeError::Invalid {
            field: "header reserved bytes",
        });
    }
    let version = u16::from_le_bytes([header[8], header[9]]);
    if ![CATALOG_VERSION_1, CATALOG_VERSION_2, CATALOG_VERSION].contains(&version) {
        return Err(CatalogDecodeError::UnsupportedVersion(version));
    }
    let body_len = u64::from_le_bytes(header[16..24].try_into().unwrap_or_default());
    if body_len > BODY_BYTES_MAX {
        return Err(CatalogDecodeError::Invalid { field: "body_len" });
    }
    let body = file
        .get(HEADER_BYTES..HEADER_BYTES + body_len as usize)
        .ok_or(CatalogDecodeError::Truncated { field: "body" })?;
    let body_crc = u32::from_le_bytes(header[24..28].try_into().unwrap_or_default());
    if crc32fast::hash(body) != body_crc {
        return Err(CatalogDecodeError::Checksum { part: "body" });
    }
    let mut r = Reader::new(body);
    let epoch = r.u32("epoch")?;
    let next_stream_id = r.u64("next_stream_id")?;
    let mut secret = [0u8; 32];
    secret.copy_from_slice(r.take(32, "secret")?);
    let stream_count = r.count("stream_count", STREAMS_MAX)?;
    let mut streams = Vec::with_capacity(stream_count.min(1024));
    for _ in 0..stream_count {
        let id = r.u64("stream.id")?;
        let name = r.str16("stream.name", super::names::STREAM_NAME_CHARS_MAX)?;
        super::names::validate_stream_name(&name).map_err(|_| CatalogDecodeError::Invalid {
            field: "stream.name",
        })?;
        let status =
            StreamStatus::from_code(r.u8("stream.status")?).ok_or(CatalogDecodeError::Invalid {
                field: "stream.status",
            })?;
        let created_ms = r.u64("stream.created_ms")?;
        let retention_hours = r.u32("stream.retention_hours")?;
        let retention_floor_ms = r.u64("stream.retention_floor_ms")?;
        let next_shard_index = r.u32("stream.next_shard_index")?;
        let tags = decode_tags(&mut r, TAGS_PER_STREAM_MAX)?;
        let shard_count = r.count("stream.shard_count", SHARDS_PER_STREAM_MAX)?;
        let mut shards = Vec::with_capacity(shard_count.min(1 << 14));
        for _ in 0..shard_count {
            let index = r.u32("shard.index")?;
            let start = r.u128("shard.hash_start")?;
            let end = r.u128("shard.hash_end")?;
            if end < start || index >= next_shard_index {
                return Err(CatalogDecodeError::Invalid { field: "shard" });
            }
            let state =
                ShardState::from_code(r.u8("shard.state")?).ok_or(CatalogDecodeError::Invalid {
                    field: "shard.state",
                })?;
            let parent = opt(r.u32("shard.parent")?);
            let adjacent_parent = opt(r.u32("shard.adjacent_parent")?);
            let starting_seq = r.u128("shard.starting_seq")?;
            let has_end = r.u8("shard.has_ending_seq")?;
            let ending = r.u128("shard.ending_seq")?;
            let ending_seq = match has_end {
                0 if ending != 0 => {
                    return Err(CatalogDecodeError::Invalid {
                        field: "shard.ending_seq",
                    });
                }
                0 => None,
                1 => Some(ending),
                _ => {
                    return Err(CatalogDecodeError::Invalid {
                        field: "shard.has_ending_seq",
                    });
                }
            };
            shards.push(ShardRecord {
                index,
                hash_range: HashRange { start, end },
                state,
                parent,
                adjacent_parent,
                starting_seq,
                ending_seq,
                core: r.u16("shard.core")?,
                created_ms: r.u64("shard.created_ms")?,
                closed_ms: r.u64("shard.closed_ms")?,
            });
        }
        if streams
            .iter()
            .any(|s: &StreamRecord| s.id == id || s.name == name)
        {
            return Err(CatalogDecodeError::Invalid {
                field: "stream id or name repeated",
            });
        }
        let mut settings = if version == CATALOG_VERSION_1 {
            StreamSettings::default()
        } else {
            decode_settings(&mut r)?
        };
        if version >= CATALOG_VERSION {
            settings.distribution = RecordDistribution::from_code(r.u8("settings.distribution")?)
                .ok_or(CatalogDecodeError::Invalid {
                field: "settings.distribution",
            })?;
        }
        let mut indexes: Vec<u32> = shards.iter().map(|s| s.index).collect();
        indexes.sort_unstable();
        if indexes.windows(2).any(|w| w[0] == w[1]) {
            return Err(CatalogDecodeError::Invalid {
                field: "shard index repeated",
            });
        }
        streams.push(StreamRecord {
            id,
            name,
            status,
            created_ms,
            retention_hours,
            retention_floor_ms,
            next_shard_index,
            tags,
            shards,
            settings,
        });
    }
    let account = if version == CATALOG_VERSION_1 {
        AccountSettings::default()
    } else {
        let commitment = CommitmentStatus::from_code(r.u8("account.commitment")?).ok_or(
            CatalogDecodeError::Invalid {
                field: "account.commitment",
            },
        )?;
        AccountSettings {
            commitment,
            started_ms: r.u64("account.started_ms")?,
            ended_ms: r.u64("account.ended_ms")?,
            earliest_end_ms: r.u64("account.earliest_end_ms")?,
        }
    };
    if !r.done() {
        return Err(CatalogDecodeError::Invalid {
            field: "trailing bytes",
        });
    }
    Ok(CatalogData {
        epoch,
        next_stream_id,
        secret,
        streams,
        account,
    })
}

/// Reads the catalog in `dir`; `Ok(None)` if there is none yet.
pub fn load(
    storage: &dyn Storage,
    dir: &Path,
) -> std::io::Result<Option<Result<CatalogData, CatalogDecodeError>>> {
    let path = dir.join(CATALOG_FILE);
    match storage.read_file(&path) {
        Ok(bytes) => Ok(Some(decode(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces the catalog in `dir` atomically.
pub fn save(storage: &dyn Storage, dir: &Path, data: &CatalogData) -> std::io::Result<()> {
    storage.write_file_atomic(&dir.join(CATALOG_FILE), &encode(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> CatalogData {
        let mut tags = BTreeMap::new();
        tags.insert("team".to_string(), "data".to_string());
        tags.insert("ümlaut".to_string(), String::new());
        CatalogData {
            epoch: 9,
            next_stream_id: 3,
            secret: [5; 32],
            streams: vec![StreamRecord {
                id: 2,
                name: "orders".to_string(),
                status: StreamStatus::Updating,
                created_ms: 1_700_000_000_000,
                retention_hours: 48,
                retention_floor_ms: 1_700_000_000_001,
                next_shard_index: 3,
                tags,
                shards: vec![
                    ShardRecord {
                        index: 0,
                        hash_range: HashRange::ALL,
                        state: ShardState::Closed,
                        parent: None,
                        adjacent_parent: None,
                        starting_seq: 1 << 96,
                        ending_seq: Some((1 << 96) + 41),
                        core: 1,
                        created_ms: 1,
                        closed_ms: 2,
                    },
                    ShardRecord {
                        index: 2,
                        hash_range: HashRange {
                            start: 7,
                            end: u128::MAX,
                        },
                        state: ShardState::Open,
                        parent: Some(0),
                        adjacent_parent: Some(1),
                        starting_seq: u128::MAX - 1,
                        ending_seq: None,
                        core: 0,
                        created_ms: 3,
                        closed_ms: 0,
                    },
                ],
                settings: StreamSettings {
                    mode: StreamMode::OnDemand,
                    max_record_kib: 4096,
                    encryption_slot: Some(3),
                    key_slots: vec![
                        KeySlot {
                            slot: 1,
                            key_id: "alias/aws/kinesis".to_string(),
                            wrapped_key: vec![9; 60],
                            created_ms: 10,
                        },
                        KeySlot {
                            slot: 3,
                            key_id: "arn:aws:kms:local:000000000000:key/ü".to_string(),
                            wrapped_key: vec![],
                            created_ms: 11,
                        },
                    ],
                    encryption_starts_ms: vec![10, 11],
                    encryption_stops_ms: vec![10],
                    shard_level_metrics: 0b101,
                    consumers: vec![ConsumerRecord {
                        name: "reader-1".to_string(),
                        created_ms: 1_700_000_000_123,
                        active_ms: 1_700_000_000_123,
                        gone_ms: Some(1_700_000_100_000),
                        tags: BTreeMap::from([("k".to_string(), "v".to_string())]),
                        policy: Some("{\"Version\":\"2012-10-17\"}".to_string()),
                    }],
                    policy: Some("{}".to_string()),
                    warm_throughput_mibps: 12,
                    mode_switches_ms: vec![5],
                    peaks: vec![
                        DailyPeak {
                            day: 19_000,
                            write_bytes_per_sec: 1 << 20,
                            write_records_per_sec: 900,
                        },
                        DailyPeak {
                            day: 19_001,
                            write_bytes_per_sec: 7,
                            write_records_per_sec: 8,
                        },
                    ],
                    distribution: RecordDistribution::Auto,
                },
            }],
            account: AccountSettings {
                commitment: CommitmentStatus::EnabledUntilEarliestAllowedEnd,
                started_ms: 1,
                ended_ms: 86_400_001,
                earliest_end_ms: 86_400_001,
            },
        }
    }

    /// The version 1 body of `data` (as the first format wrote it: no settings).
    fn encode_v1(data: &CatalogData) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.u32(data.epoch);
        w.u64(data.next_stream_id);
        w.0.extend_from_slice(&data.secret);
        w.u32(data.streams.len() as u32);
        for s in &data.streams {
            w.u64(s.id);
            w.str16(&s.name);
            w.u8(s.status.code());
            w.u64(s.created_ms);
            w.u32(s.retention_hours);
            w.u64(s.retention_floor_ms);
            w.u32(s.next_shard_index);
            encode_tags(&mut w, &s.tags);
            w.u32(s.shards.len() as u32);
            for sh in &s.shards {
                w.u32(sh.index);
                w.u128(sh.hash_range.start);
                w.u128(sh.hash_range.end);
                w.u8(sh.state.code());
                w.u32(sh.parent.unwrap_or(NONE_U32));
                w.u32(sh.adjacent_parent.unwrap_or(NONE_U32));
                w.u128(sh.starting_seq);
                w.u8(u8::from(sh.ending_seq.is_some()));
                w.u128(sh.ending_seq.unwrap_or(0));
                w.u16(sh.core);
                w.u64(sh.created_ms);
                w.u64(sh.closed_ms);
            }
        }
        frame_body_version(&w.0, CATALOG_VERSION_1)
    }

    #[test]
    fn version_1_files_are_read_with_default_settings() {
        let mut data = sample();
        data.streams[0].settings = StreamSettings::default();
        data.account = AccountSettings::default();
        let v1 = encode_v1(&data);
        assert_eq!(&v1[8..10], &1u16.to_le_bytes());
        assert_eq!(decode(&v1), Ok(data.clone()));
        // Written back, it is a version 3 file.
        assert_eq!(&encode(&data)[8..10], &3u16.to_le_bytes());
    }

    #[test]
    fn version_2_files_are_read_with_user_partition_keys() {
        let data = sample();
        assert_eq!(
            data.streams[0].settings.distribution,
            RecordDistribution::Auto
        );
        let v2 = frame_body_version(&encode_body(&data, CATALOG_VERSION_2), CATALOG_VERSION_2);
        let v3 = encode(&data);
        // Version 3 is version 2 plus one byte per stream.
        assert_eq!(v3.len(), v2.len() + data.streams.len());
        let mut expected = data.clone();
        expected.streams[0].settings.distribution = RecordDistribution::UserPartitionKey;
        assert_eq!(decode(&v2), Ok(expected));
        assert_eq!(decode(&v3), Ok(data));
    }

    #[test]
    fn impossible_settings_are_refused() {
        let mut bad = sample();
        bad.streams[0].settings.encryption_slot = Some(2); // no such slot
        assert!(decode(&encode(&bad)).is_err());
        let mut bad = sample();
        bad.streams[0].settings.max_record_kib = 1023;
        assert!(decode(&encode(&bad)).is_err());
        let mut bad = sample();
        bad.streams[0].settings.consumers[0].name = "a/b".to_string();
        assert!(decode(&encode(&bad)).is_err());
        let mut bad = sample();
        bad.streams[0].settings.peaks.swap(0, 1);
        assert!(decode(&encode(&bad)).is_err());
        let mut bad = sample();
        bad.streams[0].settings.shard_level_metrics = 0x80;
        assert!(decode(&encode(&bad)).is_err());
        // An unknown distribution code (the byte right before the account settings).
        let mut body = encode_body(&sample(), CATALOG_VERSION);
        let at = body.len() - 25 - 1;
        assert_eq!(body[at], RecordDistribution::Auto.code());
        body[at] = 2;
        assert!(decode(&frame_body(&body)).is_err());
    }

    #[test]
    fn round_trip() {
        let data = sample();
        let bytes = encode(&data);
        assert_eq!(&bytes[..8], b"TIDECAT\0");
        assert_eq!(decode(&bytes), Ok(data));
        let empty = CatalogData {
            epoch: 0,
            next_stream_id: 1,
            secret: [0; 32],
            streams: vec![],
            account: AccountSettings::default(),
        };
        assert_eq!(decode(&encode(&empty)), Ok(empty));
    }

    #[test]
    fn damage_is_detected_never_panics() {
        let bytes = encode(&sample());
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut damaged = bytes.clone();
                damaged[i] ^= bit;
                assert!(decode(&damaged).is_err(), "flip at byte {i} accepted");
            }
        }
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len]).is_err(),
                "truncation at {len} accepted"
            );
        }
    }

    #[test]
    fn fresh_catalogs_have_distinct_secrets() {
        let a = CatalogData::new().unwrap();
        let b = CatalogData::new().unwrap();
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.epoch, 0);
    }
}
