//! The bytes of queues on disk (docs/format.md, "Queues"): the queue catalog
//! (`queues/catalog`, replaced atomically) and each queue's journal
//! (`queues/<queue id, 16 hex digits>.journal`, appended, compacted by an atomic
//! replace).
//!
//! Invariants: little-endian fields; every count and length read from disk is checked
//! against a limit before use; a catalog that fails any check is refused whole; a
//! journal frame that fails its length or CRC check ends the journal (torn tail), one
//! that passes its CRC but holds an impossible value is corruption.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use super::state::{Delivery, Entry};
use crate::codec::{Reader, Writer};
use crate::stream::catalog::{
    CatalogDecodeError, POLICY_BYTES_MAX, TAG_KEY_CHARS_MAX, TAG_VALUE_CHARS_MAX,
    TAGS_PER_STREAM_MAX,
};

/// The queue catalog's file name, in `<data_dir>/queues/`.
pub const QUEUE_CATALOG_FILE: &str = "catalog";
/// The queue catalog's magic number.
pub const QUEUE_CATALOG_MAGIC: [u8; 8] = *b"TIDEQCAT";
/// The journal's magic number.
pub const JOURNAL_MAGIC: [u8; 8] = *b"TIDEQJNL";
/// The format version of both files.
pub const QUEUE_FORMAT_VERSION: u16 = 1;
/// Bytes of a journal's header.
pub const JOURNAL_HEADER_BYTES: usize = 24;
const CATALOG_HEADER_BYTES: usize = 20;
const NAME_CHARS_MAX: usize = 128;
const QUEUES_MAX: usize = super::QUEUES_MAX;
/// Largest journal frame body (a Deliver entry is 46 bytes).
const FRAME_BODY_MAX: usize = 64;

/// Where a queue starts delivering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStart {
    /// The oldest record the stream still keeps.
    TrimHorizon,
    /// Records that arrive after the queue is created.
    Latest,
    /// Records that arrived at or after this time (ms since the epoch).
    AtTimestamp(u64),
}

impl QueueStart {
    /// The Kinesis name of the position's type.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::TrimHorizon => "TRIM_HORIZON",
            Self::Latest => "LATEST",
            Self::AtTimestamp(_) => "AT_TIMESTAMP",
        }
    }
}

/// A queue's definition, as the queue catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDefinition {
    /// Its id (the ARN's resource part is these 16 hex digits).
    pub id: u64,
    /// Its name (unique among the queues that are not gone).
    pub name: String,
    /// The stream's id.
    pub stream_id: u64,
    /// The stream's name.
    pub stream: String,
    /// When the stream was created, ms.
    pub stream_created_ms: u64,
    /// Where delivery began.
    pub start: QueueStart,
    /// The effective start: when the first deliverable record could have arrived, ms.
    pub effective_start_ms: u64,
    /// When it was created, ms.
    pub created_ms: u64,
    /// When it becomes (became) ACTIVE, ms.
    pub active_ms: u64,
    /// UPDATING until this time, ms (0: not updating).
    pub updating_until_ms: u64,
    /// Deleted: gone at this time, DELETING until then.
    pub gone_ms: Option<u64>,
    /// The visibility timeout of receives that give none, seconds.
    pub visibility_timeout_s: u32,
    /// Dead-letter handling: the MaxReceiveCount (`None`: TargetType NONE).
    pub max_receive_count: Option<u32>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// A resource policy (stored, not enforced).
    pub policy: Option<String>,
}

/// The journal file name of queue `id`.
pub fn journal_file_name(id: u64) -> String {
    format!("{id:016x}.journal")
}

const NONE_U32: u32 = u32::MAX;
const NONE_U64: u64 = u64::MAX;

/// Encodes the queue catalog file.
pub fn encode_catalog(queues: &[QueueDefinition]) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64 + queues.len() * 128));
    w.u32(queues.len() as u32);
    for q in queues {
        w.u64(q.id);
        w.str32(&q.name);
        w.u64(q.stream_id);
        w.str32(&q.stream);
        w.u64(q.stream_created_ms);
        let (code, ts) = match q.start {
            QueueStart::TrimHorizon => (0, 0),
            QueueStart::Latest => (1, 0),
            QueueStart::AtTimestamp(ts) => (2, ts),
        };
        w.u8(code);
        w.u64(ts);
        w.u64(q.effective_start_ms);
        w.u64(q.created_ms);
        w.u64(q.active_ms);
        w.u64(q.updating_until_ms);
        w.u64(q.gone_ms.unwrap_or(NONE_U64));
        w.u32(q.visibility_timeout_s);
        w.u32(q.max_receive_count.unwrap_or(NONE_U32));
        w.u32(q.tags.len() as u32);
        for (k, v) in &q.tags {
            w.str32(k);
            w.str32(v);
        }
        match &q.policy {
            Some(p) => {
                w.u8(1);
                w.str32(p);
            }
            None => w.u8(0),
        }
    }
    frame_catalog_body(&w.0)
}

/// A queue catalog file around `body` (a valid header with its checksum): for tests
/// and fuzzers that explore the body parser.
pub fn frame_catalog_body(body: &[u8]) -> Vec<u8> {
    let mut file = Vec::with_capacity(CATALOG_HEADER_BYTES + body.len());
    file.extend_from_slice(&QUEUE_CATALOG_MAGIC);
    file.extend_from_slice(&QUEUE_FORMAT_VERSION.to_le_bytes());
    file.extend_from_slice(&[0, 0]);
    file.extend_from_slice(&(body.len() as u32).to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    file.extend_from_slice(body);
    file
}

/// Decodes and checks a queue catalog file.
pub fn decode_catalog(file: &[u8]) -> Result<Vec<QueueDefinition>, CatalogDecodeError> {
    let mut r = Reader::new(file);
    if r.array::<8>("header")? != QUEUE_CATALOG_MAGIC {
        return Err(CatalogDecodeError::BadMagic);
    }
    let version = u16::from_le_bytes(r.array("header")?);
    if version != QUEUE_FORMAT_VERSION {
        return Err(CatalogDecodeError::UnsupportedVersion(version));
    }
    if r.array::<2>("header")? != [0, 0] {
        return Err(CatalogDecodeError::Invalid {
            field: "header reserved bytes",
        });
    }
    let len = r.u32("header")? as usize;
    let crc = r.u32("header")?;
    let body = r.take(len, "body")?;
    if !r.done() {
        return Err(CatalogDecodeError::Invalid {
            field: "bytes after the body",
        });
    }
    if crc32fast::hash(body) != crc {
        return Err(CatalogDecodeError::Checksum { part: "body" });
    }
    let mut r = Reader::new(body);
    let count = r.u32("queue count")? as usize;
    if count > QUEUES_MAX {
        return Err(CatalogDecodeError::Invalid {
            field: "queue count",
        });
    }
    let mut queues = Vec::with_capacity(count);
    for _ in 0..count {
        let id = r.u64("queue id")?;
        let name = r.str32("queue name", NAME_CHARS_MAX)?;
        if crate::stream::names::validate_stream_name(&name).is_err() {
            return Err(CatalogDecodeError::Invalid {
                field: "queue name",
            });
        }
        let stream_id = r.u64("stream id")?;
        let stream = r.str32("stream name", NAME_CHARS_MAX)?;
        let stream_created_ms = r.u64("stream creation time")?;
        let code = r.u8("starting position")?;
        let ts = r.u64("starting timestamp")?;
        let start = match code {
            0 => QueueStart::TrimHorizon,
            1 => QueueStart::Latest,
            2 => QueueStart::AtTimestamp(ts),
            _ => {
                return Err(CatalogDecodeError::Invalid {
                    field: "starting position",
                });
            }
        };
        let effective_start_ms = r.u64("effective start")?;
        let created_ms = r.u64("creation time")?;
        let active_ms = r.u64("active time")?;
        let updating_until_ms = r.u64("updating time")?;
        let gone = r.u64("gone time")?;
        let visibility_timeout_s = r.u32("visibility timeout")?;
        if visibility_timeout_s > super::VISIBILITY_TIMEOUT_MAX_S {
            return Err(CatalogDecodeError::Invalid {
                field: "visibility timeout",
            });
        }
        let max = r.u32("max receive count")?;
        let max_receive_count = (max != NONE_U32).then_some(max);
        if max_receive_count.is_some_and(|m| m == 0 || m > super::MAX_RECEIVE_COUNT_MAX) {
            return Err(CatalogDecodeError::Invalid {
                field: "max receive count",
            });
        }
        let tag_count = r.u32("tag count")? as usize;
        if tag_count > TAGS_PER_STREAM_MAX {
            return Err(CatalogDecodeError::Invalid { field: "tag count" });
        }
        let mut tags = BTreeMap::new();
        for _ in 0..tag_count {
            let k = r.str32("tag key", TAG_KEY_CHARS_MAX * 4)?;
            let v = r.str32("tag value", TAG_VALUE_CHARS_MAX * 4)?;
            tags.insert(k, v);
        }
        let policy = match r.u8("policy flag")? {
            0 => None,
            1 => Some(r.str32("policy", POLICY_BYTES_MAX)?),
            _ => {
                return Err(CatalogDecodeError::Invalid {
                    field: "policy flag",
                });
            }
        };
        queues.push(QueueDefinition {
            id,
            name,
            stream_id,
            stream,
            stream_created_ms,
            start,
            effective_start_ms,
            created_ms,
            active_ms,
            updating_until_ms,
            gone_ms: (gone != NONE_U64).then_some(gone),
            visibility_timeout_s,
            max_receive_count,
            tags,
            policy,
        });
    }
    if !r.done() {
        return Err(CatalogDecodeError::Invalid {
            field: "bytes after the last queue",
        });
    }
    Ok(queues)
}

/// The header of queue `id`'s journal.
pub fn journal_header(id: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(JOURNAL_HEADER_BYTES);
    h.extend_from_slice(&JOURNAL_MAGIC);
    h.extend_from_slice(&QUEUE_FORMAT_VERSION.to_le_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&id.to_le_bytes());
    let crc = crc32fast::hash(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// Appends the frames of `entries` to `out`.
pub fn encode_entries(entries: &[Entry], out: &mut Vec<u8>) {
    for e in entries {
        let mut w = Writer(Vec::with_capacity(FRAME_BODY_MAX));
        match *e {
            Entry::Frontier { shard, next } => {
                w.u8(1);
                w.u32(shard);
                w.u128(next);
            }
            Entry::Deliver { seq, delivery } => {
                w.u8(2);
                w.u128(seq);
                w.u64(delivery.receipt);
                w.u32(delivery.receive_count);
                w.u64(delivery.visible_at_ms);
                w.u64(delivery.first_receive_ms);
                w.u8(u8::from(delivery.dead));
            }
            Entry::Forget { seq } => {
                w.u8(3);
                w.u128(seq);
            }
            Entry::Receipts { next } => {
                w.u8(4);
                w.u64(next);
            }
        }
        out.extend_from_slice(&(w.0.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&w.0).to_le_bytes());
        out.extend_from_slice(&w.0);
    }
}

/// A journal read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRead {
    /// Its entries, in order, up to the first bad frame.
    pub entries: Vec<Entry>,
    /// Bytes of the journal that hold those entries (header included).
    pub valid_bytes: usize,
    /// True if bytes follow the last good frame (a torn tail, dropped on rewrite).
    pub torn_tail: bool,
}

/// Reads queue `id`'s journal: a bad header or a frame that passes its CRC but holds an
/// impossible value is an error; a frame cut short or failing its CRC ends it.
pub fn decode_journal(file: &[u8], id: u64) -> Result<JournalRead, CatalogDecodeError> {
    let header = file
        .get(..JOURNAL_HEADER_BYTES)
        .ok_or(CatalogDecodeError::Truncated { field: "header" })?;
    if header[..8] != JOURNAL_MAGIC {
        return Err(CatalogDecodeError::BadMagic);
    }
    if header != journal_header(id).as_slice() {
        let version = u16::from_le_bytes([header[8], header[9]]);
        if version != QUEUE_FORMAT_VERSION {
            return Err(CatalogDecodeError::UnsupportedVersion(version));
        }
        return Err(CatalogDecodeError::Invalid {
            field: "journal header (queue id or checksum)",
        });
    }
    let mut at = JOURNAL_HEADER_BYTES;
    let mut entries = Vec::new();
    while let Some(head) = file.get(at..at + 8) {
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len == 0 || len > FRAME_BODY_MAX {
            break;
        }
        let Some(body) = file.get(at + 8..at + 8 + len) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        entries.push(decode_entry(body)?);
        at += 8 + len;
    }
    Ok(JournalRead {
        entries,
        valid_bytes: at,
        torn_tail: at < file.len(),
    })
}

fn decode_entry(body: &[u8]) -> Result<Entry, CatalogDecodeError> {
    let mut r = Reader::new(body);
    let entry = match r.u8("entry type")? {
        1 => Entry::Frontier {
            shard: r.u32("frontier shard")?,
            next: r.u128("frontier sequence number")?,
        },
        2 => {
            let seq = r.u128("delivered sequence number")?;
            let receipt = r.u64("receipt")?;
            let receive_count = r.u32("receive count")?;
            let visible_at_ms = r.u64("visible time")?;
            let first_receive_ms = r.u64("first receive time")?;
            let dead = match r.u8("dead flag")? {
                0 => false,
                1 => true,
                _ => return Err(CatalogDecodeError::Invalid { field: "dead flag" }),
            };
            if receipt == u64::MAX {
                return Err(CatalogDecodeError::Invalid { field: "receipt" });
            }
            Entry::Deliver {
                seq,
                delivery: Delivery {
                    receipt,
                    receive_count,
                    visible_at_ms,
                    first_receive_ms,
                    dead,
                },
            }
        }
        3 => Entry::Forget {
            seq: r.u128("forgotten sequence number")?,
        },
        4 => Entry::Receipts {
            next: r.u64("next receipt")?,
        },
        _ => {
            return Err(CatalogDecodeError::Invalid {
                field: "entry type",
            });
        }
    };
    if !r.done() {
        return Err(CatalogDecodeError::Invalid {
            field: "entry length",
        });
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> QueueDefinition {
        QueueDefinition {
            id: 0x0123_4567_89ab_cdef,
            name: "orders.q-1".into(),
            stream_id: 3,
            stream: "orders".into(),
            stream_created_ms: 1_000,
            start: QueueStart::AtTimestamp(1_500),
            effective_start_ms: 1_500,
            created_ms: 2_000,
            active_ms: 2_000,
            updating_until_ms: 0,
            gone_ms: None,
            visibility_timeout_s: 30,
            max_receive_count: Some(6),
            tags: [("team".to_string(), "a".to_string())].into(),
            policy: Some("{}".into()),
        }
    }

    #[test]
    fn catalog_round_trips_and_refuses_damage() {
        let mut other = sample();
        other.id = 9;
        other.max_receive_count = None;
        other.policy = None;
        other.gone_ms = Some(5);
        other.start = QueueStart::Latest;
        let queues = vec![sample(), other];
        let bytes = encode_catalog(&queues);
        assert_eq!(decode_catalog(&bytes).unwrap(), queues);
        for cut in 0..bytes.len() {
            assert!(decode_catalog(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(decode_catalog(&bad).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn journal_stops_at_a_torn_tail() {
        let entries = vec![
            Entry::Receipts { next: 4 },
            Entry::Frontier { shard: 1, next: 77 },
            Entry::Deliver {
                seq: 70,
                delivery: Delivery {
                    receipt: 3,
                    receive_count: 2,
                    visible_at_ms: 9,
                    first_receive_ms: 8,
                    dead: true,
                },
            },
            Entry::Forget { seq: 70 },
        ];
        let mut file = journal_header(5);
        encode_entries(&entries, &mut file);
        let full = decode_journal(&file, 5).unwrap();
        assert_eq!(full.entries, entries);
        assert!(!full.torn_tail);
        assert!(decode_journal(&file, 6).is_err());
        // Every cut inside the last frame keeps the first three entries.
        let mut last = Vec::new();
        encode_entries(&entries[3..], &mut last);
        for cut in file.len() - last.len() + 1..file.len() {
            let read = decode_journal(&file[..cut], 5).unwrap();
            assert_eq!(read.entries, entries[..3]);
            assert!(read.torn_tail);
            assert_eq!(read.valid_bytes, file.len() - last.len());
        }
    }
}
