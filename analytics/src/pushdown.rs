//! Filter pushdown: which WHERE conjuncts a stream scan answers itself, exactly.
//!
//! A conjunct is pushed when it compares one metadata column with constants:
//! `approximate_arrival_time` and `sequence_number` with `=`, `<`, `<=`, `>`, `>=`,
//! `BETWEEN`, `IN`; `shard_id` with `=` and `IN`. The scan turns them into a
//! [`ScanRange`]: the segments whose arrival-time or sequence range misses it are
//! never read, and each record read is checked against it, so the pushdown is
//! `Exact` (DataFusion drops its own filter) and the result is the same as without it.
//!
//! Invariants: a conjunct is reported `Exact` only if [`ScanRange::apply`] can express
//! it completely; any other shape is `Unsupported` and left to DataFusion. Time bounds
//! given at a finer unit than milliseconds are rounded so that exactly the same
//! millisecond arrival times pass.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, Operator};

use crate::schema::{META_ARRIVAL_TIME, META_SEQUENCE_NUMBER, META_SHARD_ID, METADATA_COLUMNS};

/// The part of a stream a scan must read: closed ranges of arrival time (ms) and
/// sequence number, and optionally a set of shards. Empty ranges mean no record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRange {
    /// Arrival times, ms, inclusive.
    pub time: (i64, i64),
    /// Sequence numbers, inclusive.
    pub seq: (u128, u128),
    /// Only these shards (`None`: all).
    pub shards: Option<BTreeSet<String>>,
    /// Extra sets of allowed values (`IN` lists) of arrival time and sequence number.
    pub time_in: Option<BTreeSet<i64>>,
    /// See `time_in`.
    pub seq_in: Option<BTreeSet<u128>>,
}

impl Default for ScanRange {
    fn default() -> Self {
        Self {
            time: (i64::MIN, i64::MAX),
            seq: (0, u128::MAX),
            shards: None,
            time_in: None,
            seq_in: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meta {
    Time,
    Seq,
    Shard,
}

fn meta_column(e: &Expr) -> Option<Meta> {
    let Expr::Column(c) = e else { return None };
    let name = c.name.as_str();
    if name == METADATA_COLUMNS[META_ARRIVAL_TIME] {
        Some(Meta::Time)
    } else if name == METADATA_COLUMNS[META_SEQUENCE_NUMBER] {
        Some(Meta::Seq)
    } else if name == METADATA_COLUMNS[META_SHARD_ID] {
        Some(Meta::Shard)
    } else {
        None
    }
}

/// A constant: a literal, or a cast of one (folded here).
fn constant(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v.clone()),
        Expr::Cast(c) => constant(&c.expr)?.cast_to(c.field.data_type()).ok(),
        Expr::TryCast(c) => constant(&c.expr)?.cast_to(c.field.data_type()).ok(),
        _ => None,
    }
}

/// A time constant in nanoseconds since the epoch (any timestamp unit, or a date).
fn time_ns(v: &ScalarValue) -> Option<i128> {
    Some(match v {
        ScalarValue::TimestampSecond(Some(s), _) => i128::from(*s) * 1_000_000_000,
        ScalarValue::TimestampMillisecond(Some(ms), _) => i128::from(*ms) * 1_000_000,
        ScalarValue::TimestampMicrosecond(Some(us), _) => i128::from(*us) * 1_000,
        ScalarValue::TimestampNanosecond(Some(ns), _) => i128::from(*ns),
        ScalarValue::Date32(Some(d)) => i128::from(*d) * 86_400_000_000_000,
        ScalarValue::Date64(Some(ms)) => i128::from(*ms) * 1_000_000,
        _ => return None,
    })
}

fn seq_value(v: &ScalarValue) -> Option<u128> {
    match v {
        ScalarValue::Decimal128(Some(x), _, 0) => u128::try_from(*x).ok(),
        ScalarValue::Int64(Some(x)) => u128::try_from(*x).ok(),
        ScalarValue::UInt64(Some(x)) => Some(u128::from(*x)),
        ScalarValue::Int32(Some(x)) => u128::try_from(*x).ok(),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => s.parse().ok(),
        _ => None,
    }
}

fn text_value(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s.clone()),
        _ => None,
    }
}

fn flip(op: Operator) -> Option<Operator> {
    Some(match op {
        Operator::Eq => Operator::Eq,
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        _ => return None,
    })
}

/// Whether the scan can answer `filter` exactly.
pub fn supported(filter: &Expr) -> bool {
    let mut range = ScanRange::default();
    range.apply(filter)
}

impl ScanRange {
    /// Narrows the range by `filter`; returns false (and leaves the range unchanged)
    /// if the filter is not one the scan answers exactly.
    pub fn apply(&mut self, filter: &Expr) -> bool {
        let mut copy = self.clone();
        if copy.narrow(filter) {
            *self = copy;
            true
        } else {
            false
        }
    }

    fn narrow(&mut self, filter: &Expr) -> bool {
        match filter {
            Expr::BinaryExpr(b) if b.op == Operator::And => {
                self.narrow(&b.left) && self.narrow(&b.right)
            }
            Expr::BinaryExpr(b) => {
                let (meta, op, value) = match (meta_column(&b.left), meta_column(&b.right)) {
                    (Some(m), None) => match constant(&b.right) {
                        Some(v) => (m, b.op, v),
                        None => return false,
                    },
                    (None, Some(m)) => match (constant(&b.left), flip(b.op)) {
                        (Some(v), Some(op)) => (m, op, v),
                        _ => return false,
                    },
                    _ => return false,
                };
                self.compare(meta, op, &value)
            }
            Expr::Between(between) if !between.negated => {
                let Some(meta) = meta_column(&between.expr) else {
                    return false;
                };
                let (Some(low), Some(high)) = (constant(&between.low), constant(&between.high))
                else {
                    return false;
                };
                meta != Meta::Shard
                    && self.compare(meta, Operator::GtEq, &low)
                    && self.compare(meta, Operator::LtEq, &high)
            }
            Expr::InList(list) if !list.negated => {
                let Some(meta) = meta_column(&list.expr) else {
                    return false;
                };
                let Some(values) = list.list.iter().map(constant).collect::<Option<Vec<_>>>()
                else {
                    return false;
                };
                match meta {
                    Meta::Shard => {
                        let Some(ids) = values
                            .iter()
                            .map(text_value)
                            .collect::<Option<BTreeSet<_>>>()
                        else {
                            return false;
                        };
                        self.shards = Some(match self.shards.take() {
                            Some(prev) => prev.intersection(&ids).cloned().collect(),
                            None => ids,
                        });
                        true
                    }
                    Meta::Seq => {
                        let Some(seqs) = values
                            .iter()
                            .map(seq_value)
                            .collect::<Option<BTreeSet<_>>>()
                        else {
                            return false;
                        };
                        self.seq_in = Some(match self.seq_in.take() {
                            Some(prev) => prev.intersection(&seqs).copied().collect(),
                            None => seqs,
                        });
                        true
                    }
                    Meta::Time => {
                        let mut times = BTreeSet::new();
                        for v in &values {
                            let Some(ns) = time_ns(v) else { return false };
                            // A value that is not a whole millisecond matches nothing.
                            if ns % 1_000_000 == 0 {
                                times.insert((ns / 1_000_000) as i64);
                            }
                        }
                        self.time_in = Some(match self.time_in.take() {
                            Some(prev) => prev.intersection(&times).copied().collect(),
                            None => times,
                        });
                        true
                    }
                }
            }
            _ => false,
        }
    }

    fn compare(&mut self, meta: Meta, op: Operator, value: &ScalarValue) -> bool {
        match meta {
            Meta::Shard => {
                let (Operator::Eq, Some(id)) = (op, text_value(value)) else {
                    return false;
                };
                let ids = BTreeSet::from([id]);
                self.shards = Some(match self.shards.take() {
                    Some(prev) => prev.intersection(&ids).cloned().collect(),
                    None => ids,
                });
                true
            }
            Meta::Seq => {
                let Some(v) = seq_value(value) else {
                    return false;
                };
                let (lo, hi) = &mut self.seq;
                match op {
                    Operator::Eq => {
                        *lo = (*lo).max(v);
                        *hi = (*hi).min(v);
                    }
                    Operator::Gt => *lo = (*lo).max(v.saturating_add(1)),
                    Operator::GtEq => *lo = (*lo).max(v),
                    Operator::Lt => {
                        if v == 0 {
                            *lo = 1;
                            *hi = 0;
                        } else {
                            *hi = (*hi).min(v - 1);
                        }
                    }
                    Operator::LtEq => *hi = (*hi).min(v),
                    _ => return false,
                }
                true
            }
            Meta::Time => {
                let Some(ns) = time_ns(value) else {
                    return false;
                };
                const MS: i128 = 1_000_000;
                let clamp = |x: i128| x.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
                let floor = ns.div_euclid(MS);
                let ceil = floor + i128::from(ns.rem_euclid(MS) != 0);
                let (lo, hi) = &mut self.time;
                match op {
                    Operator::Eq => {
                        if ns.rem_euclid(MS) != 0 {
                            *lo = i64::MAX;
                            *hi = i64::MIN;
                        } else {
                            *lo = (*lo).max(clamp(floor));
                            *hi = (*hi).min(clamp(floor));
                        }
                    }
                    // t*1e6 > ns  <=>  t > floor(ns/1e6)
                    Operator::Gt => *lo = (*lo).max(clamp(floor + 1)),
                    // t*1e6 >= ns  <=>  t >= ceil(ns/1e6)
                    Operator::GtEq => *lo = (*lo).max(clamp(ceil)),
                    // t*1e6 < ns  <=>  t < ceil(ns/1e6)
                    Operator::Lt => *hi = (*hi).min(clamp(ceil - 1)),
                    // t*1e6 <= ns  <=>  t <= floor(ns/1e6)
                    Operator::LtEq => *hi = (*hi).min(clamp(floor)),
                    _ => return false,
                }
                true
            }
        }
    }

    /// True if no record can match.
    pub fn is_empty(&self) -> bool {
        self.time.0 > self.time.1
            || self.seq.0 > self.seq.1
            || self.shards.as_ref().is_some_and(BTreeSet::is_empty)
            || self.time_in.as_ref().is_some_and(BTreeSet::is_empty)
            || self.seq_in.as_ref().is_some_and(BTreeSet::is_empty)
    }

    /// Whether a shard may hold matching records.
    pub fn wants_shard(&self, shard_id: &str) -> bool {
        self.shards.as_ref().is_none_or(|s| s.contains(shard_id))
    }

    /// Whether a record matches.
    #[inline]
    pub fn matches(&self, seq: u128, time_ms: i64) -> bool {
        seq >= self.seq.0
            && seq <= self.seq.1
            && time_ms >= self.time.0
            && time_ms <= self.time.1
            && self.seq_in.as_ref().is_none_or(|s| s.contains(&seq))
            && self.time_in.as_ref().is_none_or(|s| s.contains(&time_ms))
    }

    /// The smallest and largest arrival time that can match.
    pub fn time_bounds(&self) -> (i64, i64) {
        match &self.time_in {
            Some(set) => (
                self.time.0.max(set.first().copied().unwrap_or(i64::MAX)),
                self.time.1.min(set.last().copied().unwrap_or(i64::MIN)),
            ),
            None => self.time,
        }
    }

    /// The smallest and largest sequence number that can match.
    pub fn seq_bounds(&self) -> (u128, u128) {
        match &self.seq_in {
            Some(set) => (
                self.seq.0.max(set.first().copied().unwrap_or(u128::MAX)),
                self.seq.1.min(set.last().copied().unwrap_or(0)),
            ),
            None => self.seq,
        }
    }

    /// True if nothing narrows the range (a full scan).
    pub fn is_full(&self) -> bool {
        *self == Self::default()
    }
}

impl std::fmt::Display for ScanRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        let (t0, t1) = self.time_bounds();
        if (t0, t1) != (i64::MIN, i64::MAX) {
            parts.push(format!("approximate_arrival_time in [{t0}, {t1}] ms"));
        }
        let (s0, s1) = self.seq_bounds();
        if (s0, s1) != (0, u128::MAX) {
            parts.push(format!("sequence_number in [{s0}, {s1}]"));
        }
        if let Some(shards) = &self.shards {
            parts.push(format!(
                "shard_id in ({})",
                shards.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if parts.is_empty() {
            f.write_str("full scan")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn ts(ms: i64) -> Expr {
        lit(ScalarValue::TimestampMillisecond(
            Some(ms),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn time_bounds_round_exactly() {
        let mut r = ScanRange::default();
        assert!(r.apply(&col("approximate_arrival_time").gt_eq(ts(1000))));
        assert!(r.apply(&col("approximate_arrival_time").lt(ts(2000))));
        assert_eq!(r.time, (1000, 1999));
        let mut r = ScanRange::default();
        let ns = |n: i64| lit(ScalarValue::TimestampNanosecond(Some(n), None));
        assert!(r.apply(&col("approximate_arrival_time").gt(ns(1_500_000))));
        assert!(r.apply(&col("approximate_arrival_time").lt_eq(ns(3_500_000))));
        assert_eq!(r.time, (2, 3));
        let mut r = ScanRange::default();
        assert!(r.apply(&ts(5).lt(col("approximate_arrival_time"))));
        assert_eq!(r.time.0, 6);
    }

    #[test]
    fn shards_and_sequences() {
        let mut r = ScanRange::default();
        assert!(r.apply(&col("shard_id").in_list(
            vec![lit("shardId-000000000001"), lit("shardId-000000000002")],
            false
        )));
        assert!(r.apply(&col("shard_id").eq(lit("shardId-000000000002"))));
        assert!(r.wants_shard("shardId-000000000002"));
        assert!(!r.wants_shard("shardId-000000000001"));
        assert!(r.apply(&col("sequence_number").gt(lit(ScalarValue::Decimal128(Some(10), 38, 0)))));
        assert_eq!(r.seq.0, 11);
        assert!(!r.apply(&col("shard_id").not_eq(lit("x"))));
        assert!(!r.apply(&col("price").gt(lit(1))));
        assert!(!supported(
            &col("approximate_arrival_time").gt(col("approximate_arrival_time"))
        ));
    }

    #[test]
    fn contradictions_are_empty() {
        let mut r = ScanRange::default();
        assert!(r.apply(&col("approximate_arrival_time").gt(ts(10))));
        assert!(r.apply(&col("approximate_arrival_time").lt(ts(5))));
        assert!(r.is_empty());
        assert!(!r.matches(0, 7));
    }
}
