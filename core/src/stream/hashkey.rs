//! Routing by hash key: MD5 of the partition key, read as a big-endian 128-bit integer,
//! selects the open shard whose inclusive range holds it; an explicit hash key (decimal)
//! overrides the MD5.
//!
//! Invariants: the open shards of a stream cover `[0, 2^128 - 1]` exactly, without gaps
//! or overlaps (checked by [`Routing::new`]); a new stream of `n` shards gives shard `i`
//! `[floor(2^128/n)*i, floor(2^128/n)*(i+1) - 1]`, the last ending at `2^128 - 1`.
#![forbid(unsafe_code)]

use md5::{Digest, Md5};

/// An inclusive range of hash keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HashRange {
    /// First hash key in the range.
    pub start: u128,
    /// Last hash key in the range (inclusive).
    pub end: u128,
}

impl HashRange {
    /// The whole hash key space.
    pub const ALL: Self = Self {
        start: 0,
        end: u128::MAX,
    };

    /// True if `key` is in the range.
    pub fn contains(&self, key: u128) -> bool {
        self.start <= key && key <= self.end
    }

    /// True if `other` starts right after this range ends (or vice versa).
    pub fn is_adjacent(&self, other: &Self) -> bool {
        self.end.checked_add(1) == Some(other.start) || other.end.checked_add(1) == Some(self.start)
    }

    /// Number of keys in the range, minus one (the full range does not fit in u128).
    pub fn width_minus_one(&self) -> u128 {
        self.end - self.start
    }
}

/// The hash key of a partition key: MD5, big-endian.
pub fn hash_key(partition_key: &str) -> u128 {
    let digest = Md5::digest(partition_key.as_bytes());
    u128::from_be_bytes(digest.into())
}

/// Parses an explicit hash key: a decimal integer in `[0, 2^128 - 1]`, no sign, no
/// spaces, at most 39 digits.
pub fn parse_hash_key(text: &str) -> Option<u128> {
    if text.is_empty() || text.len() > 39 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The ranges of a new stream of `count` shards (count >= 1).
pub fn even_split(count: u32) -> Vec<HashRange> {
    split_range(HashRange::ALL, count).unwrap_or_else(|| vec![HashRange::ALL])
}

/// Splits `range` into `count` nearly equal consecutive ranges (the last takes the
/// remainder); `None` if the range holds fewer than `count` keys.
pub fn split_range(range: HashRange, count: u32) -> Option<Vec<HashRange>> {
    if count <= 1 {
        return Some(vec![range]);
    }
    let count = count as u128;
    let total_minus_one = range.end - range.start;
    if total_minus_one < count - 1 {
        return None;
    }
    // floor((total) / count) without overflow: total = total_minus_one + 1.
    let step = total_minus_one / count + u128::from(total_minus_one % count == count - 1);
    (0..count)
        .map(|i| {
            let start = range.start + step * i;
            let end = if i + 1 == count {
                range.end
            } else {
                range.start + step * (i + 1) - 1
            };
            HashRange { start, end }
        })
        .collect::<Vec<_>>()
        .into()
}

/// The open shards of a stream by hash range, for routing.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    /// (range, shard index), sorted by range start, covering the key space exactly.
    entries: Vec<(HashRange, u32)>,
}

/// Why a set of ranges cannot route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoverageError {
    /// First hash key not covered exactly once.
    pub at: u128,
}

impl Routing {
    /// Routing over `entries` (any order); they must cover the key space exactly.
    pub fn new(mut entries: Vec<(HashRange, u32)>) -> Result<Self, CoverageError> {
        entries.sort_by_key(|(r, _)| r.start);
        let mut next: Option<u128> = Some(0);
        for (range, _) in &entries {
            match next {
                Some(expected) if range.start == expected && range.end >= range.start => {
                    next = range.end.checked_add(1);
                }
                Some(expected) => {
                    return Err(CoverageError {
                        at: expected.min(range.start),
                    });
                }
                None => return Err(CoverageError { at: range.start }),
            }
        }
        if let Some(at) = next {
            return Err(CoverageError { at });
        }
        Ok(Self { entries })
    }

    /// The shard index owning `key`.
    pub fn route(&self, key: u128) -> Option<u32> {
        let idx = self.entries.partition_point(|(r, _)| r.start <= key);
        let (range, shard) = self.entries.get(idx.checked_sub(1)?)?;
        range.contains(key).then_some(*shard)
    }

    /// The ranges in order.
    pub fn entries(&self) -> &[(HashRange, u32)] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_routing_matches_the_kinesis_definition() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(hash_key(""), 0xd41d8cd98f00b204e9800998ecf8427e);
        // MD5("a") = 0cc175b9c0f1b6a831c399e269772661
        assert_eq!(hash_key("a"), 0x0cc175b9c0f1b6a831c399e269772661);
        assert_eq!(
            hash_key("partition-key"),
            u128::from_be_bytes(Md5::digest(b"partition-key").into())
        );
    }

    #[test]
    fn explicit_hash_keys() {
        assert_eq!(parse_hash_key("0"), Some(0));
        assert_eq!(
            parse_hash_key("340282366920938463463374607431768211455"),
            Some(u128::MAX)
        );
        assert_eq!(
            parse_hash_key("340282366920938463463374607431768211456"),
            None
        );
        for bad in ["", "-1", "+1", " 1", "1 ", "0x10", "1e3", &"1".repeat(40)] {
            assert_eq!(parse_hash_key(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn even_split_follows_the_formula() {
        for n in [1u32, 2, 3, 4, 7, 10, 64, 1000] {
            let ranges = even_split(n);
            assert_eq!(ranges.len(), n as usize);
            if n > 1 {
                // floor(2^128 / n), computed another way: 2^128 = (2^128 - 1) + 1.
                let step =
                    (u128::MAX / n as u128) + u128::from(u128::MAX % n as u128 == n as u128 - 1);
                for (i, r) in ranges.iter().enumerate() {
                    assert_eq!(r.start, step * i as u128, "n={n} i={i}");
                }
            }
            assert_eq!(ranges.last().unwrap().end, u128::MAX);
            let routing = Routing::new(ranges.iter().copied().zip(0..).collect()).unwrap();
            assert_eq!(routing.route(0), Some(0));
            assert_eq!(routing.route(u128::MAX), Some(n - 1));
        }
        // Three shards: floor(2^128 / 3) = 113427455640312821154458202477256070485.
        let three = even_split(3);
        assert_eq!(three[1].start, 113427455640312821154458202477256070485);
        assert_eq!(three[0].end, 113427455640312821154458202477256070484);
        assert_eq!(three[2].start, 2 * 113427455640312821154458202477256070485);
        // Two shards: the boundary is exactly 2^127.
        let two = even_split(2);
        assert_eq!(
            two[0],
            HashRange {
                start: 0,
                end: (1u128 << 127) - 1
            }
        );
        assert_eq!(
            two[1],
            HashRange {
                start: 1u128 << 127,
                end: u128::MAX
            }
        );
        assert_eq!(even_split(1), vec![HashRange::ALL]);
        // A small range cannot be split into more parts than it has keys.
        let small = HashRange { start: 10, end: 12 };
        assert_eq!(split_range(small, 3).unwrap().len(), 3);
        assert_eq!(split_range(small, 4), None);
    }

    #[test]
    fn routing_requires_exact_coverage() {
        let a = HashRange { start: 0, end: 99 };
        let b = HashRange {
            start: 100,
            end: u128::MAX,
        };
        let routing = Routing::new(vec![(b, 2), (a, 1)]).unwrap();
        assert_eq!(routing.route(99), Some(1));
        assert_eq!(routing.route(100), Some(2));
        assert_eq!(
            Routing::new(vec![(a, 1)]).unwrap_err(),
            CoverageError { at: 100 }
        );
        let gap = HashRange {
            start: 101,
            end: u128::MAX,
        };
        assert_eq!(
            Routing::new(vec![(a, 1), (gap, 2)]).unwrap_err(),
            CoverageError { at: 100 }
        );
        let overlap = HashRange {
            start: 50,
            end: u128::MAX,
        };
        assert!(Routing::new(vec![(a, 1), (overlap, 2)]).is_err());
        assert!(a.is_adjacent(&b) && b.is_adjacent(&a));
        assert!(!a.is_adjacent(&gap));
    }
}
