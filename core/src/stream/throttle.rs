//! Per-shard limits: token buckets for writes and reads, and the Kinesis read penalties.
//!
//! Invariants: a refused call takes nothing from any bucket ("limits before effects");
//! buckets refill continuously from an injected monotonic clock, up to one second's
//! worth; [`Limits::unlimited`] never refuses.
#![forbid(unsafe_code)]

/// Per-shard limits and per-call caps. [`Limits::kinesis`] is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of data plus partition keys written per second per shard.
    pub write_bytes_per_sec: u64,
    /// Records written per second per shard.
    pub write_records_per_sec: u64,
    /// Bytes returned by reads per second per shard.
    pub read_bytes_per_sec: u64,
    /// GetRecords calls per second per shard.
    pub read_calls_per_sec: u64,
    /// Most records one GetRecords returns.
    pub read_records_per_call_max: usize,
    /// Most bytes one GetRecords returns.
    pub read_bytes_per_call_max: usize,
    /// After a call that returns `read_bytes_per_call_max` bytes or more, further calls on
    /// the shard are refused for this long, ms.
    pub read_penalty_after_max_call_ms: u64,
    /// Bytes per second each subscription may receive (enhanced fan-out: 2 MiB/s).
    pub subscribe_bytes_per_sec: u64,
    /// Most entries in one PutRecords.
    pub put_records_entries_max: usize,
    /// Most bytes (data plus keys) in one PutRecords.
    pub put_records_bytes_max: usize,
}

impl Limits {
    /// The Kinesis provisioned-mode figures.
    pub const fn kinesis() -> Self {
        Self {
            write_bytes_per_sec: 1 << 20,
            write_records_per_sec: 1000,
            read_bytes_per_sec: 2 << 20,
            read_calls_per_sec: 5,
            read_records_per_call_max: crate::limits::READ_RECORDS_MAX,
            read_bytes_per_call_max: crate::limits::READ_BYTES_MAX,
            read_penalty_after_max_call_ms: 5000,
            subscribe_bytes_per_sec: 2 << 20,
            put_records_entries_max: 500,
            put_records_bytes_max: 5 << 20,
        }
    }

    /// No rate limits (for benchmarks); the per-call caps stay at Kinesis values.
    pub const fn unlimited() -> Self {
        Self {
            write_bytes_per_sec: u64::MAX,
            write_records_per_sec: u64::MAX,
            read_bytes_per_sec: u64::MAX,
            read_calls_per_sec: u64::MAX,
            read_penalty_after_max_call_ms: 0,
            subscribe_bytes_per_sec: u64::MAX,
            ..Self::kinesis()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::kinesis()
    }
}

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// A token bucket holding at most one second's worth of `rate` tokens. Token amounts
/// are kept in nano-tokens so refills are exact at any call rate. The level may go
/// negative (debt) through [`TokenBucket::charge`].
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate_per_sec: u64,
    nano_tokens: i128,
    last_ns: u64,
    /// Tokens the bucket holds when full (one second's worth unless raised).
    capacity: u64,
}

impl TokenBucket {
    /// A full bucket refilling at `rate_per_sec`; `u64::MAX` means unlimited.
    pub fn new(rate_per_sec: u64, now_ns: u64) -> Self {
        let full = i128::from(rate_per_sec) * NANOS_PER_SEC;
        Self {
            rate_per_sec,
            nano_tokens: full,
            last_ns: now_ns,
            capacity: rate_per_sec,
        }
    }

    /// Lets the bucket hold at least `tokens` (never less than one second's worth): a
    /// burst allowance. A raise adds the extra room at once (the bucket was full of
    /// it), a lowering takes away what is above the new capacity.
    pub fn set_capacity(&mut self, tokens: u64) {
        let capacity = tokens.max(self.rate_per_sec);
        if capacity == self.capacity || self.unlimited() {
            return;
        }
        if capacity > self.capacity {
            self.nano_tokens += i128::from(capacity - self.capacity) * NANOS_PER_SEC;
        } else {
            self.nano_tokens = self.nano_tokens.min(i128::from(capacity) * NANOS_PER_SEC);
        }
        self.capacity = capacity;
    }

    fn unlimited(&self) -> bool {
        self.rate_per_sec == u64::MAX
    }

    fn refill(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            let elapsed = i128::from(now_ns - self.last_ns);
            let full = i128::from(self.capacity) * NANOS_PER_SEC;
            self.nano_tokens =
                (self.nano_tokens + elapsed * i128::from(self.rate_per_sec)).min(full);
            self.last_ns = now_ns;
        }
    }

    /// True if `amount` tokens are available now (nothing taken).
    pub fn has(&mut self, amount: u64, now_ns: u64) -> bool {
        if self.unlimited() {
            return true;
        }
        self.refill(now_ns);
        self.nano_tokens >= i128::from(amount) * NANOS_PER_SEC
    }

    /// True if the level is above zero now.
    pub fn positive(&mut self, now_ns: u64) -> bool {
        if self.unlimited() {
            return true;
        }
        self.refill(now_ns);
        self.nano_tokens > 0
    }

    /// Takes `amount` tokens, possibly going into debt.
    pub fn charge(&mut self, amount: u64, now_ns: u64) {
        if self.unlimited() {
            return;
        }
        self.refill(now_ns);
        self.nano_tokens -= i128::from(amount) * NANOS_PER_SEC;
    }

    /// Takes `amount` tokens if available; false (and nothing taken) otherwise.
    pub fn try_take(&mut self, amount: u64, now_ns: u64) -> bool {
        if self.has(amount, now_ns) {
            self.charge(amount, now_ns);
            true
        } else {
            false
        }
    }
}

/// The write limits of one shard (owned by the shard's core: no lock).
#[derive(Debug, Clone)]
pub struct WriteLimiter {
    bytes: TokenBucket,
    records: TokenBucket,
}

impl WriteLimiter {
    /// Full buckets per `limits`.
    pub fn new(limits: &Limits, now_ns: u64) -> Self {
        Self {
            bytes: TokenBucket::new(limits.write_bytes_per_sec, now_ns),
            records: TokenBucket::new(limits.write_records_per_sec, now_ns),
        }
    }

    /// Admits one record of `bytes` (data plus key), or refuses it taking nothing.
    pub fn admit(&mut self, bytes: u64, now_ns: u64) -> bool {
        if self.can_admit(bytes, now_ns) {
            self.charge(bytes, now_ns);
            true
        } else {
            false
        }
    }

    /// True if one record of `bytes` fits now (nothing taken).
    pub fn can_admit(&mut self, bytes: u64, now_ns: u64) -> bool {
        self.records.has(1, now_ns) && self.bytes.has(bytes, now_ns)
    }

    /// Lets the byte bucket hold a record of `bytes` even when that is more than one
    /// second's worth (a stream with large records bursts past its rate, then repays
    /// at the rate).
    pub fn set_burst_bytes(&mut self, bytes: u64) {
        self.bytes.set_capacity(bytes);
    }

    /// Takes one record of `bytes` (after [`can_admit`](Self::can_admit) and a
    /// successful write).
    pub fn charge(&mut self, bytes: u64, now_ns: u64) {
        self.records.charge(1, now_ns);
        self.bytes.charge(bytes, now_ns);
    }
}

/// Why a read was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRefusal {
    /// More than the allowed calls per second.
    Calls,
    /// The byte budget is spent (the level is at or below zero).
    Bytes,
    /// A call returned the per-call maximum recently; refused until this time (ns).
    Penalty {
        /// Monotonic time the penalty ends.
        until_ns: u64,
    },
}

/// The read limits of one shard (shared by reader threads behind a mutex).
#[derive(Debug, Clone)]
pub struct ReadLimiter {
    calls: TokenBucket,
    bytes: TokenBucket,
    blocked_until_ns: u64,
    penalty_ns: u64,
    max_call_bytes: usize,
}

impl ReadLimiter {
    /// Full buckets per `limits`.
    pub fn new(limits: &Limits, now_ns: u64) -> Self {
        Self {
            calls: TokenBucket::new(limits.read_calls_per_sec, now_ns),
            bytes: TokenBucket::new(limits.read_bytes_per_sec, now_ns),
            blocked_until_ns: 0,
            penalty_ns: limits
                .read_penalty_after_max_call_ms
                .saturating_mul(1_000_000),
            max_call_bytes: limits.read_bytes_per_call_max,
        }
    }

    /// Admits one call (taking a call token), or refuses it taking nothing.
    pub fn admit(&mut self, now_ns: u64) -> Result<(), ReadRefusal> {
        if now_ns < self.blocked_until_ns {
            return Err(ReadRefusal::Penalty {
                until_ns: self.blocked_until_ns,
            });
        }
        if !self.calls.has(1, now_ns) {
            return Err(ReadRefusal::Calls);
        }
        if !self.bytes.positive(now_ns) {
            return Err(ReadRefusal::Bytes);
        }
        self.calls.charge(1, now_ns);
        Ok(())
    }

    /// Charges the bytes an admitted call returned; a maximal call starts the penalty.
    pub fn charge(&mut self, bytes: usize, now_ns: u64) {
        self.bytes.charge(bytes as u64, now_ns);
        if bytes >= self.max_call_bytes && self.penalty_ns > 0 {
            self.blocked_until_ns = now_ns.saturating_add(self.penalty_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn exactly_the_rate_per_second() {
        let limits = Limits::kinesis();
        let mut w = WriteLimiter::new(&limits, 0);
        let accepted = (0..1500).filter(|_| w.admit(10, 0)).count();
        assert_eq!(accepted, 1000);
        assert!(
            !w.admit(10, 500_000),
            "half a millisecond later: half a record token, refused"
        );
        assert!(w.admit(10, 1_000_000), "a millisecond later: one record");
        let mut w = WriteLimiter::new(&limits, 0);
        assert_eq!((0..1500).filter(|_| w.admit(10, 0)).count(), 1000);
        assert_eq!(
            (0..1500).filter(|_| w.admit(10, SEC)).count(),
            1000,
            "a second later, 1000 more"
        );
        assert_eq!(
            (0..1500).filter(|_| w.admit(10, SEC + SEC / 2)).count(),
            500,
            "half a second, half"
        );
    }

    #[test]
    fn bytes_limit_and_refusals_take_nothing() {
        let limits = Limits::kinesis();
        let mut w = WriteLimiter::new(&limits, 0);
        assert!(w.admit(1 << 20, 0), "exactly 1 MiB fits");
        assert!(!w.admit(1, 0), "then nothing");
        let mut w = WriteLimiter::new(&limits, 0);
        assert!(!w.admit((1 << 20) + 1, 0), "over 1 MiB never fits");
        // That refusal took no record token: 1000 small records still pass.
        assert_eq!((0..1000).filter(|_| w.admit(1, 0)).count(), 1000);
    }

    #[test]
    fn read_calls_bytes_and_penalty() {
        let limits = Limits::kinesis();
        let mut r = ReadLimiter::new(&limits, 0);
        for _ in 0..5 {
            r.admit(0).unwrap();
        }
        assert_eq!(r.admit(0), Err(ReadRefusal::Calls));
        assert!(r.admit(SEC / 5).is_ok(), "200 ms refills one call");

        let mut r = ReadLimiter::new(&limits, 0);
        r.admit(0).unwrap();
        r.charge(10 << 20, 0);
        assert_eq!(r.admit(1), Err(ReadRefusal::Penalty { until_ns: 5 * SEC }));
        assert_eq!(
            r.admit(5 * SEC - 1),
            Err(ReadRefusal::Penalty { until_ns: 5 * SEC })
        );
        // After 5 s the penalty ends, and the 8 MiB of debt is repaid at 2 MiB/s after 4 s.
        assert!(r.admit(5 * SEC).is_ok());

        let mut r = ReadLimiter::new(&limits, 0);
        r.admit(0).unwrap();
        r.charge(3 << 20, 0);
        assert_eq!(r.admit(0), Err(ReadRefusal::Bytes));
        assert!(
            r.admit(SEC / 2 + 1).is_ok(),
            "1 MiB of debt repaid in half a second"
        );
    }

    #[test]
    fn large_records_burst_then_repay() {
        let limits = Limits::kinesis();
        let mut w = WriteLimiter::new(&limits, 0);
        assert!(!w.admit(10 << 20, 0), "10 MiB never fits a 1 MiB/s bucket");
        w.set_burst_bytes(10 << 20);
        assert!(w.admit(10 << 20, 0), "with a 10 MiB burst it fits once");
        assert!(!w.admit(1, 0), "then the bucket is empty");
        assert!(
            !w.admit(1 << 20, SEC / 2),
            "half a second repays half a MiB"
        );
        assert!(w.admit(1 << 20, SEC), "a second repays a MiB");
        assert!(
            !w.admit(10 << 20, 5 * SEC),
            "4 MiB back after 5 s: no second burst"
        );
        assert!(
            w.admit(10 << 20, 11 * SEC),
            "10 s of repayment: a burst again"
        );
        w.set_burst_bytes(1 << 20);
        assert!(
            !w.admit(2 << 20, 100 * SEC),
            "lowered: back to one second's worth"
        );
    }

    #[test]
    fn unlimited_never_refuses() {
        let limits = Limits::unlimited();
        let mut w = WriteLimiter::new(&limits, 0);
        assert!((0..100_000).all(|_| w.admit(1 << 20, 0)));
        let mut r = ReadLimiter::new(&limits, 0);
        for _ in 0..1000 {
            r.admit(0).unwrap();
            r.charge(10 << 20, 0);
        }
    }
}
