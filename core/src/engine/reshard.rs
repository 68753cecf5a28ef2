//! Resharding: SplitShard, MergeShards, UpdateShardCount, and the expiry of closed
//! shards.
//!
//! Every change is a [`Plan`]: open shards to close, and new shards (with their parents)
//! to create. Uniform scaling is written as splits and merges, so every new shard has at
//! most two parents, like Kinesis: each current shard is split at the target boundaries
//! that fall inside it (a chain of splits), then the pieces that make up each target
//! range are merged left to right. Pieces and merges that are not final are created
//! already closed (and empty); they keep the lineage readable.
//!
//! # The protocol (crash safety)
//! 1. Under the catalog lock: validate, choose indexes and cores, mark the stream
//!    UPDATING (in memory only). Other changes to the stream now fail with
//!    ResourceInUse; puts and reads go on.
//! 2. Open the new shards on their cores (not routable yet).
//! 3. Close the parents on their cores: each answers its last sequence number. A put
//!    that reaches a closed parent comes back untouched and waits for the new routing.
//! 4. Write the catalog (atomic replace): parents CLOSED with ending sequence numbers,
//!    new shards, stream ACTIVE. This is the commit point: a crash before it leaves
//!    the old catalog (the parents reopen on restart; nothing was written to the new
//!    shards), a crash after it leaves the new one.
//! 5. Swap the routing table and the shard map; rerouted puts land in the children.
//!
//! A failure before the commit point undoes 2-3 (parents reopened, new shards dropped).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Engine, StreamRuntime, lock, shard_dir};
use crate::error::{Error, InvalidArgument, Result, Validation};
use crate::runtime::core::{Request, ShardSpec};
use crate::runtime::reply;
use crate::stream::catalog::{
    self, ShardRecord, ShardState, StreamMode, StreamRecord, StreamStatus,
};
use crate::stream::hashkey::{HashRange, Routing, even_split, parse_hash_key};
use crate::stream::names::{self, parse_shard_id, validate_stream_name};
use crate::stream::sequence::SeqParts;

/// UpdateShardCount's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateShardCountOutput {
    /// Open shards before the call.
    pub current_shard_count: u32,
    /// Open shards after it.
    pub target_shard_count: u32,
}

/// A new shard in a plan. `parent` and `adjacent_parent` refer to existing shard
/// indexes (`Existing`) or to earlier new shards of the same plan (`New`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ref {
    Existing(u32),
    New(usize),
}

#[derive(Debug, Clone)]
struct NewShard {
    range: HashRange,
    parent: Ref,
    adjacent_parent: Option<Ref>,
    open: bool,
}

#[derive(Debug, Default)]
struct Plan {
    close: Vec<u32>,
    create: Vec<NewShard>,
}

/// The largest TargetShardCount UpdateShardCount accepts as well formed (Kinesis's
/// request bound).
const TARGET_SHARD_COUNT_MAX: u32 = 100_000;

fn shard_arg(stream: &StreamRecord, shard_id: &str) -> Result<u32> {
    let not_found = || Error::ShardNotFound {
        stream: stream.name.clone(),
        shard_id: shard_id.to_string(),
    };
    let index = match parse_shard_id(shard_id) {
        Some(index) => index,
        None if names::has_shard_id_form(shard_id) => return Err(not_found()),
        None => return Err(Validation::ShardId(shard_id.to_string()).into()),
    };
    match stream.shard(index) {
        Some(s) if s.state != ShardState::Expired => Ok(index),
        _ => Err(not_found()),
    }
}

fn open_shard(stream: &StreamRecord, shard_id: &str) -> Result<ShardRecord> {
    let index = shard_arg(stream, shard_id)?;
    let shard = stream
        .shard(index)
        .cloned()
        .ok_or(Error::Internal("shard vanished"))?;
    if shard.state != ShardState::Open {
        return Err(InvalidArgument::ShardClosed {
            shard_id: shard_id.to_string(),
        }
        .into());
    }
    Ok(shard)
}

/// The splits and merges that take the open shards to `target` even ranges.
fn uniform_plan(open: &[ShardRecord], target: u32) -> Plan {
    let targets = even_split(target);
    let mut plan = Plan::default();
    // Pieces: (range, reference, is an untouched existing shard).
    let mut pieces: Vec<(HashRange, Ref, bool)> = Vec::new();
    for shard in open {
        let cuts: Vec<u128> = targets
            .iter()
            .map(|t| t.start)
            .filter(|&c| c > shard.hash_range.start && c <= shard.hash_range.end)
            .collect();
        if cuts.is_empty() {
            pieces.push((shard.hash_range, Ref::Existing(shard.index), true));
            continue;
        }
        plan.close.push(shard.index);
        let mut remainder = (shard.hash_range, Ref::Existing(shard.index));
        for cut in cuts {
            let left = HashRange {
                start: remainder.0.start,
                end: cut - 1,
            };
            let right = HashRange {
                start: cut,
                end: remainder.0.end,
            };
            plan.create.push(NewShard {
                range: left,
                parent: remainder.1,
                adjacent_parent: None,
                open: false,
            });
            pieces.push((left, Ref::New(plan.create.len() - 1), false));
            plan.create.push(NewShard {
                range: right,
                parent: remainder.1,
                adjacent_parent: None,
                open: false,
            });
            remainder = (right, Ref::New(plan.create.len() - 1));
        }
        pieces.push((remainder.0, remainder.1, false));
    }
    pieces.sort_by_key(|p| p.0.start);
    let mut next_piece = 0;
    for target_range in targets {
        let mut members = Vec::new();
        while next_piece < pieces.len() && pieces[next_piece].0.end <= target_range.end {
            members.push(pieces[next_piece]);
            next_piece += 1;
        }
        if let [(range, reference, untouched)] = members[..] {
            debug_assert_eq!(range, target_range);
            match reference {
                Ref::New(i) => plan.create[i].open = true,
                Ref::Existing(_) => debug_assert!(untouched),
            }
            continue;
        }
        // Merge left to right; every untouched existing member closes.
        for (_, reference, untouched) in &members {
            if let (Ref::Existing(index), true) = (reference, untouched) {
                plan.close.push(*index);
            }
        }
        let mut acc = (members[0].0, members[0].1);
        for (k, member) in members.iter().enumerate().skip(1) {
            let range = HashRange {
                start: acc.0.start,
                end: member.0.end,
            };
            let last = k + 1 == members.len();
            plan.create.push(NewShard {
                range,
                parent: acc.1,
                adjacent_parent: Some(member.1),
                open: last,
            });
            acc = (range, Ref::New(plan.create.len() - 1));
        }
    }
    plan.close.sort_unstable();
    plan.close.dedup();
    plan
}

/// User resharding is refused on ON_DEMAND streams: the engine sizes them.
fn provisioned_only(stream: &StreamRecord, call: &'static str) -> Result<()> {
    if stream.settings.mode == StreamMode::OnDemand {
        return Err(InvalidArgument::StreamMode {
            rule: match call {
                "SplitShard" => {
                    "SplitShard is not supported on ON_DEMAND streams: they scale themselves"
                }
                "MergeShards" => {
                    "MergeShards is not supported on ON_DEMAND streams: they scale themselves"
                }
                _ => {
                    "UpdateShardCount is not supported on ON_DEMAND streams: they scale themselves"
                }
            },
        }
        .into());
    }
    Ok(())
}

impl Engine {
    /// Splits each of the open shards `indexes` at the middle of its hash range, in one
    /// reshard (on-demand scaling).
    pub(crate) fn split_in_halves(&self, stream: &str, indexes: &[u32]) -> Result<()> {
        self.reshard(stream, |record| {
            let mut plan = Plan::default();
            for &index in indexes {
                let parent = record
                    .shard(index)
                    .filter(|s| s.state == ShardState::Open)
                    .ok_or(Error::Internal("a shard to split is not open"))?;
                let range = parent.hash_range;
                let middle = range.start + (range.end - range.start) / 2 + 1;
                let p = Ref::Existing(index);
                plan.close.push(index);
                for half in [
                    HashRange {
                        start: range.start,
                        end: middle - 1,
                    },
                    HashRange {
                        start: middle,
                        end: range.end,
                    },
                ] {
                    plan.create.push(NewShard {
                        range: half,
                        parent: p,
                        adjacent_parent: None,
                        open: true,
                    });
                }
            }
            plan.close.sort_unstable();
            Ok(plan)
        })
    }

    /// Merges each pair of adjacent open shards, in one reshard (on-demand scaling).
    pub(crate) fn merge_pairs(&self, stream: &str, pairs: &[(u32, u32)]) -> Result<()> {
        self.reshard(stream, |record| {
            let mut plan = Plan::default();
            for &(a, b) in pairs {
                let open = |i: u32| {
                    record
                        .shard(i)
                        .filter(|s| s.state == ShardState::Open)
                        .cloned()
                        .ok_or(Error::Internal("a shard to merge is not open"))
                };
                let (a, b) = (open(a)?, open(b)?);
                if !a.hash_range.is_adjacent(&b.hash_range) {
                    return Err(Error::Internal("shards to merge are not adjacent"));
                }
                plan.close.extend([a.index, b.index]);
                plan.create.push(NewShard {
                    range: HashRange {
                        start: a.hash_range.start.min(b.hash_range.start),
                        end: a.hash_range.end.max(b.hash_range.end),
                    },
                    parent: Ref::Existing(a.index),
                    adjacent_parent: Some(Ref::Existing(b.index)),
                    open: true,
                });
            }
            plan.close.sort_unstable();
            Ok(plan)
        })
    }

    /// SplitShard: closes `shard_id` and creates two children covering its range, the
    /// second starting at `new_starting_hash_key` (decimal), which must be inside the
    /// parent's range and above its first key.
    pub fn split_shard(
        &self,
        stream: &str,
        shard_id: &str,
        new_starting_hash_key: &str,
    ) -> Result<()> {
        let key = parse_hash_key(new_starting_hash_key)
            .ok_or_else(|| Validation::ExplicitHashKey(new_starting_hash_key.to_string()))?;
        self.reshard(stream, |record| {
            provisioned_only(record, "SplitShard")?;
            let parent = open_shard(record, shard_id)?;
            let range = parent.hash_range;
            if key <= range.start || key > range.end {
                return Err(InvalidArgument::HashKeyOutsideShard {
                    key,
                    shard_id: shard_id.to_string(),
                }
                .into());
            }
            let p = Ref::Existing(parent.index);
            Ok(Plan {
                close: vec![parent.index],
                create: vec![
                    NewShard {
                        range: HashRange {
                            start: range.start,
                            end: key - 1,
                        },
                        parent: p,
                        adjacent_parent: None,
                        open: true,
                    },
                    NewShard {
                        range: HashRange {
                            start: key,
                            end: range.end,
                        },
                        parent: p,
                        adjacent_parent: None,
                        open: true,
                    },
                ],
            })
        })
        .map(|_| ())
    }

    /// MergeShards: closes two adjacent open shards and creates one child covering both
    /// (ParentShardId = `shard_id`, AdjacentParentShardId = `adjacent_shard_id`).
    pub fn merge_shards(
        &self,
        stream: &str,
        shard_id: &str,
        adjacent_shard_id: &str,
    ) -> Result<()> {
        self.reshard(stream, |record| {
            provisioned_only(record, "MergeShards")?;
            let a = open_shard(record, shard_id)?;
            let b = open_shard(record, adjacent_shard_id)?;
            if a.index == b.index || !a.hash_range.is_adjacent(&b.hash_range) {
                return Err(InvalidArgument::NotAdjacent {
                    shard_id: shard_id.to_string(),
                    adjacent_shard_id: adjacent_shard_id.to_string(),
                }
                .into());
            }
            let range = HashRange {
                start: a.hash_range.start.min(b.hash_range.start),
                end: a.hash_range.end.max(b.hash_range.end),
            };
            Ok(Plan {
                close: vec![a.index, b.index],
                create: vec![NewShard {
                    range,
                    parent: Ref::Existing(a.index),
                    adjacent_parent: Some(Ref::Existing(b.index)),
                    open: true,
                }],
            })
        })
        .map(|_| ())
    }

    /// UpdateShardCount with UNIFORM_SCALING: at most double, at least half the open
    /// shards per call; ends with the key space split evenly, reached through splits and
    /// merges (see the module doc).
    pub fn update_shard_count(
        &self,
        stream: &str,
        target: u32,
        scaling_type: &str,
    ) -> Result<UpdateShardCountOutput> {
        if scaling_type != "UNIFORM_SCALING" {
            return Err(InvalidArgument::ScalingType(scaling_type.to_string()).into());
        }
        // The API's own bounds on TargetShardCount; the half-to-double rule and the
        // engine's shard limit are checked against the stream below.
        if target == 0 || target > TARGET_SHARD_COUNT_MAX {
            return Err(Validation::ShardCount {
                given: u64::from(target),
                min: 1,
                max: u64::from(TARGET_SHARD_COUNT_MAX),
            }
            .into());
        }
        let mut current = 0;
        self.reshard(stream, |record| {
            provisioned_only(record, "UpdateShardCount")?;
            let mut open: Vec<ShardRecord> = record.open_shards().cloned().collect();
            open.sort_by_key(|s| s.hash_range.start);
            current = open.len() as u32;
            if target > current.saturating_mul(2) || target < current.div_ceil(2) {
                return Err(InvalidArgument::ShardCountChange { current, target }.into());
            }
            Ok(uniform_plan(&open, target))
        })?;
        Ok(UpdateShardCountOutput {
            current_shard_count: current,
            target_shard_count: target,
        })
    }

    fn reshard(
        &self,
        stream: &str,
        make_plan: impl FnOnce(&StreamRecord) -> Result<Plan>,
    ) -> Result<()> {
        self.check_open()?;
        validate_stream_name(stream).map_err(Validation::StreamName)?;
        self.fail_if_busy(stream)?;
        // 1. Validate and reserve (the UPDATING status is kept in memory only).
        let reserved = self.change_in_memory(|data| {
            let open_total: u64 = data
                .streams
                .iter()
                .map(|s| s.open_shards().count() as u64)
                .sum();
            let record = data
                .stream(stream)
                .cloned()
                .ok_or_else(|| Error::StreamNotFound {
                    stream: stream.to_string(),
                })?;
            if record.status != StreamStatus::Active {
                return Err(Error::StreamBusy {
                    stream: stream.to_string(),
                    status: record.status,
                    reason: "another change to the stream is running",
                });
            }
            let plan = make_plan(&record)?;
            if plan.create.is_empty() && plan.close.is_empty() {
                return Ok(None);
            }
            let opened = plan.create.iter().filter(|s| s.open).count() as u64;
            let after = open_total - plan.close.len() as u64 + opened;
            let max = u64::from(self.inner.config.max_shards);
            if after > max {
                return Err(Error::LimitExceeded {
                    what: "open shards",
                    requested: after,
                    limit: max,
                });
            }
            // The parents stay live (readable) until they expire.
            crate::runtime::envcheck::check_file_budget(
                super::admin::live_shards(data) + plan.create.len() as u64,
            )?;
            let count = u32::try_from(plan.create.len())
                .map_err(|_| Error::Internal("too many shards in a plan"))?;
            let first_index = record.next_shard_index;
            if first_index.checked_add(count).is_none() {
                let requested = u64::from(first_index) + u64::from(count);
                return Err(Error::LimitExceeded {
                    what: "shard indexes",
                    requested,
                    limit: u64::from(u32::MAX),
                });
            }
            let cores = self.least_loaded_cores(data, plan.create.len());
            if let Some(r) = data.stream_mut(stream) {
                r.status = StreamStatus::Updating;
            }
            Ok(Some((record, plan, first_index, cores)))
        })?;
        let Some((record, plan, first_index, cores)) = reserved else {
            return Ok(());
        };
        let restore_status = || {
            let _ = self.change_in_memory(|data| {
                if let Some(r) = data.stream_mut(stream) {
                    r.status = StreamStatus::Active;
                }
                Ok(())
            });
        };
        let runtime = match self.stream(stream) {
            Ok(r) => r,
            Err(e) => {
                restore_status();
                return Err(e);
            }
        };
        let now_ms = self.inner.config.clock.now_ms();
        let index_of = |r: Ref| match r {
            Ref::Existing(i) => i,
            Ref::New(k) => first_index + k as u32,
        };
        let new_records: Vec<ShardRecord> = plan
            .create
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let index = first_index + k as u32;
                let starting_seq = SeqParts {
                    epoch: self.inner.epoch,
                    shard_index: index,
                    counter: 0,
                }
                .pack();
                ShardRecord {
                    index,
                    hash_range: s.range,
                    state: if s.open {
                        ShardState::Open
                    } else {
                        ShardState::Closed
                    },
                    parent: Some(index_of(s.parent)),
                    adjacent_parent: s.adjacent_parent.map(index_of),
                    starting_seq,
                    ending_seq: (!s.open).then_some(starting_seq),
                    core: cores[k],
                    created_ms: now_ms,
                    closed_ms: if s.open { 0 } else { now_ms },
                }
            })
            .collect();

        // 2. Open the new shards (not routable yet).
        let specs: Vec<(usize, ShardSpec)> = new_records
            .iter()
            .map(|s| {
                (
                    s.core as usize % self.inner.senders.len(),
                    self.spec(&runtime, record.id, s),
                )
            })
            .collect();
        let new_keys: Vec<(u64, u32)> = new_records.iter().map(|s| (record.id, s.index)).collect();
        let opened = match self.open_on_cores(specs) {
            Ok(opened) => opened,
            Err(e) => {
                let _ = self.drop_shards(&new_keys, true);
                restore_status();
                return Err(e);
            }
        };
        // Readable (empty) from now on, so a listing that shows them after the commit
        // never names a shard that cannot be read; not routable until step 5.
        runtime.shards.rcu(|shards| {
            let mut shards = BTreeMap::clone(shards);
            for shard in &opened {
                shards.insert(shard.index, Arc::clone(shard));
            }
            shards
        });
        let forget_new = || {
            runtime.shards.rcu(|shards| {
                let mut shards = BTreeMap::clone(shards);
                for (_, index) in &new_keys {
                    shards.remove(index);
                }
                shards
            });
        };

        // 3. Close the parents: each answers its last sequence number.
        let shards_now = runtime.shards.load_full();
        let mut endings: BTreeMap<u32, u128> = BTreeMap::new();
        let mut failure = None;
        for &index in &plan.close {
            match self.close_on_core(&runtime, &shards_now, index) {
                Ok(ending) => {
                    endings.insert(index, ending);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let rollback = |endings: &BTreeMap<u32, u128>| {
            for &index in endings.keys() {
                let _ = self.reopen_on_core(&runtime, &shards_now, index);
            }
            forget_new();
            let _ = self.drop_shards(&new_keys, true);
            restore_status();
        };
        if let Some(e) = failure {
            rollback(&endings);
            return Err(e);
        }

        // 4. Commit: write the catalog.
        let commit = {
            let _writer = lock(&self.inner.commit);
            let mut next = lock(&self.inner.catalog).clone();
            match next.stream_mut(stream) {
                None => Err((
                    Error::StreamNotFound {
                        stream: stream.to_string(),
                    },
                    false,
                )),
                Some(r) => {
                    for (&index, &ending) in &endings {
                        if let Some(shard) = r.shard_mut(index) {
                            shard.state = ShardState::Closed;
                            shard.ending_seq = Some(ending);
                            shard.closed_ms = now_ms;
                        }
                    }
                    r.shards.extend(new_records.iter().cloned());
                    r.next_shard_index = first_index + new_records.len() as u32;
                    r.status = StreamStatus::Active;
                    match self.save_catalog(&next) {
                        Ok(()) => {
                            *lock(&self.inner.catalog) = next;
                            Ok(())
                        }
                        Err(e) => {
                            // A failure after the rename (the directory sync) leaves the
                            // new catalog on disk: follow what the disk says.
                            let storage = self.inner.config.storage.as_ref();
                            let on_disk = catalog::load(storage, &self.inner.config.data_dir);
                            let applied = matches!(on_disk, Ok(Some(Ok(ref d))) if *d == next);
                            if applied {
                                *lock(&self.inner.catalog) = next;
                            }
                            Err((e, applied))
                        }
                    }
                }
            }
        };
        if let Err((e, false)) = commit {
            rollback(&endings);
            return Err(e);
        }

        // 5. Route to the new shards.
        let record_after = lock(&self.inner.catalog).stream(stream).cloned();
        if let Some(after) = record_after {
            let routing = Routing::new(
                after
                    .open_shards()
                    .map(|s| (s.hash_range, s.index))
                    .collect(),
            )
            .map_err(|_| Error::Internal("reshard left a gap in the hash key space"))?;
            runtime.routing.store(Arc::new(routing));
        }
        match commit {
            Err((e, true)) => Err(e),
            _ => Ok(()),
        }
    }

    fn spec(&self, runtime: &StreamRuntime, stream_id: u64, s: &ShardRecord) -> ShardSpec {
        ShardSpec {
            stream_id,
            stream_name: Arc::clone(&runtime.name),
            index: s.index,
            dir: shard_dir(&self.inner.config.data_dir, stream_id, s.index),
            state: s.state,
            ending_seq: s.ending_seq,
            retention: Arc::clone(&runtime.retention),
        }
    }

    fn close_on_core(
        &self,
        runtime: &StreamRuntime,
        shards: &BTreeMap<u32, Arc<crate::stream::shard::ShardShared>>,
        index: u32,
    ) -> Result<u128> {
        let shard = shards.get(&index).ok_or_else(|| Error::ShardNotFound {
            stream: runtime.name.to_string(),
            shard_id: names::shard_id(index),
        })?;
        let (reply, wait) = reply::channel();
        self.sender(shard.core)?.send(Request::Close {
            key: (runtime.id, index),
            reply,
        })?;
        wait.wait(Duration::ZERO)
    }

    fn reopen_on_core(
        &self,
        runtime: &StreamRuntime,
        shards: &BTreeMap<u32, Arc<crate::stream::shard::ShardShared>>,
        index: u32,
    ) -> Result<()> {
        let shard = shards
            .get(&index)
            .ok_or(Error::Internal("shard vanished during a reshard"))?;
        let (reply, wait) = reply::channel();
        self.sender(shard.core)?.send(Request::Reopen {
            key: (runtime.id, index),
            reply,
        })?;
        wait.wait(Duration::ZERO)
    }

    pub(crate) fn drop_shards(&self, keys: &[(u64, u32)], delete_files: bool) -> Result<()> {
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
            if let Err(e) = wait.wait(Duration::ZERO) {
                result = Err(e);
            }
        }
        result
    }

    /// Expires closed shards whose every record is past the stream's retention: marks
    /// them EXPIRED in the catalog, reclaims their files, and stops listing them.
    /// Runs on its own every `maintenance_interval`; returns how many expired.
    pub fn expire_shards(&self) -> Result<usize> {
        self.check_open()?;
        let now_ms = self.inner.config.clock.now_ms();
        let streams = self.inner.streams.load_full();
        let expired = self.commit_if(|data| {
            let mut expired: Vec<(Arc<StreamRuntime>, u32)> = Vec::new();
            for record in data
                .streams
                .iter_mut()
                .filter(|r| r.status == StreamStatus::Active)
            {
                let Some(runtime) = streams.by_id.get(&record.id) else {
                    continue;
                };
                let cutoff = runtime.retention.cutoff_ms(now_ms);
                for shard in record.shards.iter_mut() {
                    if shard.state == ShardState::Closed && shard.closed_ms < cutoff {
                        shard.state = ShardState::Expired;
                        expired.push((Arc::clone(runtime), shard.index));
                    }
                }
            }
            Ok((!expired.is_empty()).then_some(expired))
        })?;
        let Some(expired) = expired else { return Ok(0) };
        let keys: Vec<(u64, u32)> = expired.iter().map(|(r, i)| (r.id, *i)).collect();
        self.drop_shards(&keys, true)?;
        for (runtime, index) in &expired {
            runtime.shards.rcu(|shards| {
                let mut shards = BTreeMap::clone(shards);
                shards.remove(index);
                shards
            });
        }
        Ok(expired.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_shards(ranges: &[HashRange]) -> Vec<ShardRecord> {
        ranges
            .iter()
            .enumerate()
            .map(|(i, &hash_range)| ShardRecord {
                index: i as u32,
                hash_range,
                state: ShardState::Open,
                parent: None,
                adjacent_parent: None,
                starting_seq: 0,
                ending_seq: None,
                core: 0,
                created_ms: 0,
                closed_ms: 0,
            })
            .collect()
    }

    /// Applies a plan to ranges and returns the open ranges after it, checking that
    /// every new shard has at most two parents that cover exactly its range.
    fn apply(open: &[ShardRecord], plan: &Plan) -> Vec<HashRange> {
        let range_of = |r: Ref| match r {
            Ref::Existing(i) => open.iter().find(|s| s.index == i).unwrap().hash_range,
            Ref::New(k) => plan.create[k].range,
        };
        for s in &plan.create {
            let parent = range_of(s.parent);
            match s.adjacent_parent {
                None => assert!(
                    parent.start <= s.range.start && s.range.end <= parent.end,
                    "split child inside parent"
                ),
                Some(adj) => {
                    let adj = range_of(adj);
                    assert!(parent.is_adjacent(&adj));
                    assert_eq!(
                        s.range,
                        HashRange {
                            start: parent.start.min(adj.start),
                            end: parent.end.max(adj.end)
                        }
                    );
                }
            }
        }
        let mut ranges: Vec<HashRange> = open
            .iter()
            .filter(|s| !plan.close.contains(&s.index))
            .map(|s| s.hash_range)
            .collect();
        ranges.extend(plan.create.iter().filter(|s| s.open).map(|s| s.range));
        ranges.sort();
        ranges
    }

    #[test]
    fn uniform_scaling_reaches_even_ranges() {
        for (from, to) in [
            (1u32, 2u32),
            (2, 4),
            (4, 2),
            (3, 4),
            (4, 3),
            (3, 6),
            (6, 3),
            (5, 7),
            (7, 4),
            (1, 1),
            (8, 8),
        ] {
            let open = open_shards(&even_split(from));
            let plan = uniform_plan(&open, to);
            assert_eq!(apply(&open, &plan), even_split(to), "{from} -> {to}");
        }
        // From uneven ranges too.
        let uneven = open_shards(&[
            HashRange { start: 0, end: 10 },
            HashRange {
                start: 11,
                end: u128::MAX / 3,
            },
            HashRange {
                start: u128::MAX / 3 + 1,
                end: u128::MAX,
            },
        ]);
        for to in [2u32, 3, 4, 5, 6] {
            let plan = uniform_plan(&uneven, to);
            assert_eq!(apply(&uneven, &plan), even_split(to), "uneven -> {to}");
        }
        // Doubling is one split per shard; halving one merge per pair.
        let four = open_shards(&even_split(4));
        let up = uniform_plan(&four, 8);
        assert_eq!((up.close.len(), up.create.len()), (4, 8));
        let down = uniform_plan(&four, 2);
        assert_eq!((down.close.len(), down.create.len()), (4, 2));
        assert!(
            uniform_plan(&four, 4).create.is_empty(),
            "already even: nothing to do"
        );
    }
}
