//! A delivery stream's durable delivery state: what is delivered, and which batches
//! are planned. `<data_dir>/firehose/streams/<id, 16 hex>/checkpoint` (files.rs frames
//! it; the body is this module's JSON).
//!
//! The protocol (docs/firehose.md, "Exactly once"):
//! 1. Records are read from the source in order per shard and routed to buffers (one
//!    per evaluated partition, error type, or the backup). Routing is a function of the
//!    record (and of the transform's answer).
//! 2. A buffer that is due becomes a batch: "the records of buffer B whose positions in
//!    shard S lie in [first, last]" for each shard, and its object key is fixed then.
//! 3. Before any object of a batch is written, the checkpoint lists the batch as
//!    `inflight` with its key (and is synced under `sync` durability).
//! 4. After the object is written, the batch moves to `done`; `low` per shard rises to
//!    just below the oldest record still held anywhere; done batches wholly below `low`
//!    are forgotten.
//! 5. After a crash, reading restarts after `low`; a record routed to a buffer and
//!    position covered by a `done` batch is skipped; one covered by an `inflight` batch
//!    is collected again into that batch, which is rewritten under its recorded key.
//!    So every record ends in exactly one object, and a redelivered object replaces
//!    itself instead of adding a duplicate.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tidelog::io::Storage;

use crate::error::{Error, Result};
use crate::files;

/// The file name of a checkpoint.
pub const CHECKPOINT_FILE: &str = "checkpoint";

/// Positions are decimal strings in JSON (sequence numbers are 128-bit).
mod dec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Positions `[first, last]` of one shard in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// First sequence number.
    #[serde(with = "dec")]
    pub first: u128,
    /// Last sequence number.
    #[serde(with = "dec")]
    pub last: u128,
}

impl Range {
    /// True if `seq` lies in the range.
    pub fn contains(&self, seq: u128) -> bool {
        self.first <= seq && seq <= self.last
    }
}

/// A batch's identity: its buffer and, per shard, the positions it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchId {
    /// The buffer: `d:<partition keys as JSON>`, `e:<error type>` or `b:`.
    pub buffer: String,
    /// Per source shard.
    pub ranges: BTreeMap<String, Range>,
}

impl BatchId {
    /// True if the record (`shard`, `seq`) routed to `buffer` belongs to this batch.
    pub fn covers(&self, buffer: &str, shard: &str, seq: u128) -> bool {
        self.buffer == buffer && self.ranges.get(shard).is_some_and(|r| r.contains(seq))
    }

    /// A 32-byte seed naming this batch (for keys and random strings).
    pub fn seed(&self, delivery_stream_id: u64) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"tidelog-firehose-batch");
        h.update(&delivery_stream_id.to_le_bytes());
        h.update(&(self.buffer.len() as u64).to_le_bytes());
        h.update(self.buffer.as_bytes());
        for (shard, r) in &self.ranges {
            h.update(&(shard.len() as u64).to_le_bytes());
            h.update(shard.as_bytes());
            h.update(&r.first.to_le_bytes());
            h.update(&r.last.to_le_bytes());
        }
        *h.finalize().as_bytes()
    }

    /// True once `low` covers every range (the batch can be forgotten).
    pub fn below(&self, low: &BTreeMap<String, u128>) -> bool {
        self.ranges
            .iter()
            .all(|(shard, r)| low.get(shard).is_some_and(|l| *l >= r.last))
    }
}

/// A batch whose object may be partly written: rewritten under `key` after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    /// Which records.
    pub id: BatchId,
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// The configuration version it was planned under.
    pub version: u64,
    /// The object's compression (its CompressionFormat name).
    #[serde(default)]
    pub compression: String,
    /// The delimiter appended to each record, if any.
    #[serde(default)]
    pub delimiter: Option<String>,
}

/// The checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Per shard: every record at or below this position is delivered (or was dropped).
    #[serde(default)]
    pub low: BTreeMap<String, String>,
    /// Shards read to their end (closed) with everything delivered: lineage followers
    /// start their children.
    #[serde(default)]
    pub finished: BTreeSet<String>,
    /// Batches delivered above `low`.
    #[serde(default)]
    pub done: Vec<BatchId>,
    /// Batches planned and not known to be written.
    #[serde(default)]
    pub inflight: Vec<Planned>,
}

impl Checkpoint {
    /// `low` as numbers.
    pub fn low_positions(&self) -> Result<BTreeMap<String, u128>, String> {
        self.low
            .iter()
            .map(|(k, v)| {
                v.parse::<u128>()
                    .map(|n| (k.clone(), n))
                    .map_err(|_| format!("position {v:?} of shard {k} is not a number"))
            })
            .collect()
    }
}

/// Reads and writes one delivery stream's checkpoint.
#[derive(Debug)]
pub struct CheckpointFile {
    path: PathBuf,
}

impl CheckpointFile {
    /// The checkpoint in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(CHECKPOINT_FILE),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads it (`Default` if there is none yet).
    pub fn load(&self, storage: &dyn Storage) -> Result<Checkpoint> {
        match files::load(storage, &self.path, files::CHECKPOINT_MAGIC)
            .map_err(|e| Error::io("read checkpoint", &self.path, e))?
        {
            None => Ok(Checkpoint::default()),
            Some(Err(problem)) => Err(Error::Corrupt {
                path: self.path.clone(),
                problem,
            }),
            Some(Ok(body)) => {
                let ckpt: Checkpoint =
                    serde_json::from_slice(&body).map_err(|e| Error::Corrupt {
                        path: self.path.clone(),
                        problem: e.to_string(),
                    })?;
                ckpt.low_positions().map_err(|problem| Error::Corrupt {
                    path: self.path.clone(),
                    problem,
                })?;
                Ok(ckpt)
            }
        }
    }

    /// Replaces it atomically (`durable`: synced).
    pub fn save(&self, storage: &dyn Storage, ckpt: &Checkpoint, durable: bool) -> Result<()> {
        let body = serde_json::to_vec(ckpt).map_err(|e| Error::Internal(e.to_string()))?;
        files::save(storage, &self.path, files::CHECKPOINT_MAGIC, &body, durable)
            .map_err(|e| Error::io("write checkpoint", &self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(buffer: &str, shard: &str, first: u128, last: u128) -> BatchId {
        let mut ranges = BTreeMap::new();
        ranges.insert(shard.to_string(), Range { first, last });
        BatchId {
            buffer: buffer.to_string(),
            ranges,
        }
    }

    #[test]
    fn coverage_and_seeds() {
        let a = id("d:", "s0", 10, 20);
        assert!(a.covers("d:", "s0", 10));
        assert!(a.covers("d:", "s0", 20));
        assert!(!a.covers("d:", "s0", 21));
        assert!(!a.covers("e:x", "s0", 15));
        assert!(!a.covers("d:", "s1", 15));
        assert_eq!(a.seed(1), id("d:", "s0", 10, 20).seed(1));
        assert_ne!(a.seed(1), a.seed(2));
        assert_ne!(a.seed(1), id("d:", "s0", 10, 21).seed(1));
        let mut low = BTreeMap::new();
        assert!(!a.below(&low));
        low.insert("s0".to_string(), 20);
        assert!(a.below(&low));
    }

    #[test]
    fn round_trip_with_huge_positions() {
        let dir = tempfile::tempdir().unwrap();
        let storage = tidelog::io::FsStorage::new();
        let file = CheckpointFile::new(dir.path());
        assert_eq!(file.load(&storage).unwrap(), Checkpoint::default());
        let mut c = Checkpoint::default();
        c.low
            .insert("shardId-000000000000".into(), u128::MAX.to_string());
        c.done
            .push(id("d:{\"a\":\"1\"}", "shardId-000000000000", 1, u128::MAX));
        c.inflight.push(Planned {
            id: id("b:", "s", 3, 4),
            bucket: "bkt".into(),
            key: "k".into(),
            version: 2,
            compression: "GZIP".into(),
            delimiter: Some("\n".into()),
        });
        file.save(&storage, &c, true).unwrap();
        assert_eq!(file.load(&storage).unwrap(), c);
        std::fs::write(file.path(), b"junk").unwrap();
        assert!(matches!(file.load(&storage), Err(Error::Corrupt { .. })));
    }
}
