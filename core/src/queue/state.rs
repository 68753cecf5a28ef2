//! The delivery state of one queue and the entries that change it. Pure data: no I/O,
//! no clock (callers pass the time), so replay and the engine apply the same code.
//!
//! Invariants: `apply` is total (any entry applies to any state without panicking);
//! replaying the entries written for a sequence of changes gives the state those
//! changes produced; `next_receipt` is above every receipt number in `tracked`.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use crate::stream::sequence::SeqParts;

/// What the queue knows of a record it handed out and that is not acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The receipt number of the record's latest delivery (or restore, or
    /// dead-lettering): only a handle carrying it is current.
    pub receipt: u64,
    /// Receives since it was first delivered or last restored.
    pub receive_count: u32,
    /// Until when it is in flight (not visible), ms since the epoch.
    pub visible_at_ms: u64,
    /// When it was first received from the queue, ms since the epoch.
    pub first_receive_ms: u64,
    /// A dead letter: returned only by the dead-letter calls.
    pub dead: bool,
}

/// One change of a queue's delivery state (one journal frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The next sequence number to read from `shard` (records below it are tracked
    /// or forgotten).
    Frontier {
        /// The shard index.
        shard: u32,
        /// The next sequence number to read.
        next: u128,
    },
    /// A record's delivery state (delivered, redelivered, visibility changed, turned
    /// into a dead letter, restored).
    Deliver {
        /// The record's sequence number.
        seq: u128,
        /// Its state.
        delivery: Delivery,
    },
    /// The record is acknowledged (or past retention): forgotten for good.
    Forget {
        /// The record's sequence number.
        seq: u128,
    },
    /// Receipt numbers below this are used (written in snapshots).
    Receipts {
        /// The next receipt number.
        next: u64,
    },
}

/// A queue's delivery state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryState {
    /// Per shard index: the next sequence number to read (absent: the shard's start).
    pub frontier: BTreeMap<u32, u128>,
    /// Records delivered and not acknowledged, by sequence number.
    pub tracked: BTreeMap<u128, Delivery>,
    /// The next receipt number to hand out.
    pub next_receipt: u64,
}

impl DeliveryState {
    /// Applies one entry.
    pub fn apply(&mut self, entry: &Entry) {
        match *entry {
            Entry::Frontier { shard, next } => {
                self.frontier.insert(shard, next);
            }
            Entry::Deliver { seq, delivery } => {
                self.next_receipt = self.next_receipt.max(delivery.receipt.saturating_add(1));
                self.tracked.insert(seq, delivery);
            }
            Entry::Forget { seq } => {
                self.tracked.remove(&seq);
            }
            Entry::Receipts { next } => self.next_receipt = self.next_receipt.max(next),
        }
    }

    /// The next sequence number to read from shard `shard`.
    pub fn next_seq(&self, shard: u32) -> u128 {
        self.frontier.get(&shard).copied().unwrap_or(0)
    }

    /// The entries that rebuild this state from nothing (a journal snapshot).
    pub fn snapshot(&self) -> Vec<Entry> {
        let mut entries = Vec::with_capacity(1 + self.frontier.len() + self.tracked.len());
        entries.push(Entry::Receipts {
            next: self.next_receipt,
        });
        entries.extend(
            self.frontier
                .iter()
                .map(|(&shard, &next)| Entry::Frontier { shard, next }),
        );
        entries.extend(
            self.tracked
                .iter()
                .map(|(&seq, &delivery)| Entry::Deliver { seq, delivery }),
        );
        entries
    }

    /// Tracked records of shard `shard`, in sequence order.
    pub fn tracked_in(&self, shard: u32) -> impl Iterator<Item = (u128, &Delivery)> + '_ {
        self.tracked
            .iter()
            .filter(move |(seq, _)| SeqParts::unpack(**seq).shard_index == shard)
            .map(|(s, d)| (*s, d))
    }

    /// The earliest visibility time after `now_ms` among records of the given kind
    /// (dead letters or not): when a waiting receive should look again.
    pub fn next_visible_after(&self, now_ms: u64, dead: bool) -> Option<u64> {
        self.tracked
            .values()
            .filter(|d| d.dead == dead && d.visible_at_ms > now_ms)
            .map(|d| d.visible_at_ms)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(receipt: u64) -> Delivery {
        Delivery {
            receipt,
            receive_count: 1,
            visible_at_ms: 10,
            first_receive_ms: 5,
            dead: false,
        }
    }

    #[test]
    fn snapshot_rebuilds_the_state() {
        let mut s = DeliveryState::default();
        s.apply(&Entry::Frontier { shard: 2, next: 9 });
        s.apply(&Entry::Deliver {
            seq: 7,
            delivery: delivery(3),
        });
        s.apply(&Entry::Deliver {
            seq: 8,
            delivery: delivery(4),
        });
        s.apply(&Entry::Forget { seq: 8 });
        assert_eq!(s.next_receipt, 5);
        let mut rebuilt = DeliveryState::default();
        for e in s.snapshot() {
            rebuilt.apply(&e);
        }
        assert_eq!(rebuilt, s);
        assert_eq!(rebuilt.next_seq(2), 9);
        assert_eq!(rebuilt.next_seq(3), 0);
    }
}
