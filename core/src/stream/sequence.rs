//! Sequence numbers: unique in a stream, increasing within a shard, never handed out
//! twice, even across a crash and restart.
//!
//! ```text
//!  127          96 95          64 63                                  0
//! +--------------+--------------+-------------------------------------+
//! |    epoch     | shard index  |              counter                |
//! +--------------+--------------+-------------------------------------+
//! ```
//! The epoch is bumped durably (in the catalog) every time the engine opens, before any
//! write, so numbers from a new run are above every number an earlier run could have
//! handed out, acknowledged or not. The shard index makes numbers unique across the
//! stream's shards; a child shard (higher index) created in a later or equal epoch
//! numbers above its parents. The wire form is the decimal string of the u128.
#![forbid(unsafe_code)]

/// A sequence number's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqParts {
    /// Engine epoch (open count).
    pub epoch: u32,
    /// Shard index within the stream.
    pub shard_index: u32,
    /// Position within the epoch.
    pub counter: u64,
}

impl SeqParts {
    /// Packs the parts into a sequence number.
    pub fn pack(self) -> u128 {
        (u128::from(self.epoch) << 96)
            | (u128::from(self.shard_index) << 64)
            | u128::from(self.counter)
    }

    /// Splits a sequence number into its parts.
    pub fn unpack(seq: u128) -> Self {
        Self {
            epoch: (seq >> 96) as u32,
            shard_index: (seq >> 64) as u32,
            counter: seq as u64,
        }
    }
}

/// Parses the decimal wire form (1 to 39 digits, no sign or spaces).
pub fn parse_sequence_number(text: &str) -> Option<u128> {
    if text.is_empty() || text.len() > 39 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The decimal wire form.
pub fn format_sequence_number(seq: u128) -> String {
    seq.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_and_order() {
        let a = SeqParts {
            epoch: 3,
            shard_index: 7,
            counter: 99,
        };
        assert_eq!(SeqParts::unpack(a.pack()), a);
        let later_epoch = SeqParts {
            epoch: 4,
            shard_index: 0,
            counter: 0,
        };
        assert!(
            later_epoch.pack() > a.pack(),
            "a new epoch numbers above the old one"
        );
        let child = SeqParts {
            epoch: 3,
            shard_index: 8,
            counter: 0,
        };
        assert!(
            child.pack() > a.pack(),
            "a higher shard index numbers above in the same epoch"
        );
        let max = SeqParts {
            epoch: u32::MAX,
            shard_index: u32::MAX,
            counter: u64::MAX,
        };
        assert_eq!(max.pack(), u128::MAX);
    }

    #[test]
    fn decimal_wire_form() {
        let seq = SeqParts {
            epoch: 1,
            shard_index: 2,
            counter: 3,
        }
        .pack();
        let text = format_sequence_number(seq);
        assert_eq!(parse_sequence_number(&text), Some(seq));
        assert_eq!(
            parse_sequence_number(&u128::MAX.to_string()),
            Some(u128::MAX)
        );
        for bad in [
            "",
            "-1",
            "12a",
            " 1",
            &"9".repeat(40),
            "340282366920938463463374607431768211456",
        ] {
            assert_eq!(parse_sequence_number(bad), None, "{bad:?}");
        }
    }
}
