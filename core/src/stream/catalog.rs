//! The catalog: every stream and shard, their hash ranges, lineage, states, placement,
//! retention and tags, plus the engine epoch and the iterator secret. One file,
//! `<data_dir>/catalog`, replaced atomically (temp, fsync, rename, fsync dir) on every
//! change, so a crash leaves the old catalog or the new one, never a mix.
//!
//! Layout (docs/format.md has it byte by byte): a 64-byte header (magic `TIDECAT\0`,
//! version, body length and CRC, header CRC) and a body of little-endian fields and
//! length-prefixed UTF-8 strings. Every count and length read back is checked against a
//! limit before it is used.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;

use super::hashkey::HashRange;
use crate::io::Storage;

/// Magic number of the catalog file.
pub const CATALOG_MAGIC: [u8; 8] = *b"TIDECAT\0";
/// Catalog format version.
pub const CATALOG_VERSION: u16 = 1;
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

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u128(&mut self, v: u128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u16(s.len() as u16);
        self.0.extend_from_slice(s.as_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], CatalogDecodeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(CatalogDecodeError::Truncated { field })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, CatalogDecodeError> {
        Ok(self.take(1, field)?[0])
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, CatalogDecodeError> {
        Ok(u16::from_le_bytes(
            self.take(2, field)?.try_into().unwrap_or_default(),
        ))
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, CatalogDecodeError> {
        Ok(u32::from_le_bytes(
            self.take(4, field)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, CatalogDecodeError> {
        Ok(u64::from_le_bytes(
            self.take(8, field)?.try_into().unwrap_or_default(),
        ))
    }
    fn u128(&mut self, field: &'static str) -> Result<u128, CatalogDecodeError> {
        Ok(u128::from_le_bytes(
            self.take(16, field)?.try_into().unwrap_or_default(),
        ))
    }
    fn str(&mut self, field: &'static str, max_chars: usize) -> Result<String, CatalogDecodeError> {
        let len = self.u16(field)? as usize;
        if len > max_chars * 4 {
            return Err(CatalogDecodeError::Invalid { field });
        }
        let bytes = self.take(len, field)?;
        let text = std::str::from_utf8(bytes).map_err(|_| CatalogDecodeError::Invalid { field })?;
        if text.chars().count() > max_chars {
            return Err(CatalogDecodeError::Invalid { field });
        }
        Ok(text.to_string())
    }
    fn count(&mut self, field: &'static str, max: usize) -> Result<usize, CatalogDecodeError> {
        let n = self.u32(field)? as usize;
        if n > max {
            return Err(CatalogDecodeError::Invalid { field });
        }
        Ok(n)
    }
}

fn opt(v: u32) -> Option<u32> {
    (v != NONE_U32).then_some(v)
}

/// Encodes the catalog file.
pub fn encode(data: &CatalogData) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(256 + data.streams.len() * 128));
    w.u32(data.epoch);
    w.u64(data.next_stream_id);
    w.0.extend_from_slice(&data.secret);
    w.u32(data.streams.len() as u32);
    for s in &data.streams {
        w.u64(s.id);
        w.str(&s.name);
        w.u8(s.status.code());
        w.u64(s.created_ms);
        w.u32(s.retention_hours);
        w.u64(s.retention_floor_ms);
        w.u32(s.next_shard_index);
        w.u32(s.tags.len() as u32);
        for (k, v) in &s.tags {
            w.str(k);
            w.str(v);
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
    }
    frame_body(&w.0)
}

/// The catalog file for an encoded body: the header (magic, version, length, CRCs) and
/// the body.
pub fn frame_body(body: &[u8]) -> Vec<u8> {
    let mut header = [0u8; HEADER_BYTES];
    header[0..8].copy_from_slice(&CATALOG_MAGIC);
    header[8..10].copy_from_slice(&CATALOG_VERSION.to_le_bytes());
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
    if version != CATALOG_VERSION {
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
    let mut r = Reader { bytes: body, at: 0 };
    let epoch = r.u32("epoch")?;
    let next_stream_id = r.u64("next_stream_id")?;
    let mut secret = [0u8; 32];
    secret.copy_from_slice(r.take(32, "secret")?);
    let stream_count = r.count("stream_count", STREAMS_MAX)?;
    let mut streams = Vec::with_capacity(stream_count.min(1024));
    for _ in 0..stream_count {
        let id = r.u64("stream.id")?;
        let name = r.str("stream.name", super::names::STREAM_NAME_CHARS_MAX)?;
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
        let tag_count = r.count("stream.tag_count", TAGS_PER_STREAM_MAX)?;
        let mut tags = BTreeMap::new();
        for _ in 0..tag_count {
            let key = r.str("tag.key", TAG_KEY_CHARS_MAX)?;
            let value = r.str("tag.value", TAG_VALUE_CHARS_MAX)?;
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
        });
    }
    if r.at != body.len() {
        return Err(CatalogDecodeError::Invalid {
            field: "trailing bytes",
        });
    }
    Ok(CatalogData {
        epoch,
        next_stream_id,
        secret,
        streams,
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
            }],
        }
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
