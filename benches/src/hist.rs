//! Latency histograms: nanosecond HdrHistograms (1 ns to 1 hour, 3 significant
//! digits), their percentiles, and their `.hgrm` text: HdrHistogram's percentile
//! distribution format (values in microseconds), which HdrHistogram's plotters read.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest latency a histogram holds, ns (one hour); longer ones are clamped to it.
pub const LATENCY_NS_MAX: u64 = 3_600_000_000_000;
/// Significant decimal digits kept.
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// Percentile steps per halving of the distance to 100% in `.hgrm` files (the
/// HdrHistogram default).
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// A histogram of latencies in nanoseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    hist: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty histogram.
    pub fn new() -> Self {
        let hist = Histogram::new_with_bounds(1, LATENCY_NS_MAX, SIGNIFICANT_DIGITS)
            .unwrap_or_else(|_| unreachable!("constant bounds are valid"));
        Self { hist }
    }

    /// Records one latency.
    #[inline]
    pub fn record(&mut self, latency: Duration) {
        self.record_ns(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records one latency in ns (clamped to [1 ns, 1 h]).
    #[inline]
    pub fn record_ns(&mut self, ns: u64) {
        self.hist.saturating_record(ns.clamp(1, LATENCY_NS_MAX));
    }

    /// Records `count` latencies of `ns` each (clamped to [1 ns, 1 h]).
    pub fn record_ns_n(&mut self, ns: u64, count: u64) {
        self.hist
            .saturating_record_n(ns.clamp(1, LATENCY_NS_MAX), count);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: addition cannot fail.
        let _ = self.hist.add(&other.hist);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The value at quantile `q` (0..=1), ns; 0 if empty.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.hist.is_empty() {
            0
        } else {
            self.hist.value_at_quantile(q)
        }
    }

    /// Largest value, ns.
    pub fn max_ns(&self) -> u64 {
        self.hist.max()
    }

    /// Smallest value, ns.
    pub fn min_ns(&self) -> u64 {
        self.hist.min()
    }

    /// Mean, ns.
    pub fn mean_ns(&self) -> f64 {
        self.hist.mean()
    }

    /// (quantile, value in µs) along HdrHistogram's percentile iteration, ending at the
    /// maximum (quantile 1).
    pub fn percentile_points_us(&self) -> Vec<(f64, f64)> {
        if self.hist.is_empty() {
            return Vec::new();
        }
        self.hist
            .iter_quantiles(TICKS_PER_HALF_DISTANCE)
            .map(|v| {
                (
                    v.quantile_iterated_to(),
                    self.hist.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
                )
            })
            .collect()
    }

    /// The histogram as an HdrHistogram percentile distribution (`.hgrm`), in µs.
    pub fn hgrm(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:>12} {:>14} {:>10} {:>14}\n",
            "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
        );
        let mut total = 0u64;
        if !self.hist.is_empty() {
            for v in self.hist.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
                total += v.count_since_last_iteration();
                let value_us = self.hist.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0;
                let q = v.quantile_iterated_to();
                if q < 1.0 {
                    let _ = writeln!(
                        out,
                        "{value_us:>12.3} {q:>2.12} {total:>10} {:>14.2}",
                        1.0 / (1.0 - q)
                    );
                } else {
                    let _ = writeln!(out, "{value_us:>12.3} {q:>2.12} {total:>10}");
                }
            }
        }
        let mean_us = self.mean_ns() / 1000.0;
        let stdev_us = self.hist.stdev() / 1000.0;
        let max_us = self.max_ns() as f64 / 1000.0;
        let _ = writeln!(
            out,
            "#[Mean    = {mean_us:>12.3}, StdDeviation   = {stdev_us:>12.3}]"
        );
        let _ = writeln!(
            out,
            "#[Max     = {max_us:>12.3}, Total count    = {:>12}]",
            self.count()
        );
        let _ = writeln!(
            out,
            "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
            self.hist.buckets(),
            sub_buckets(SIGNIFICANT_DIGITS)
        );
        out
    }
}

/// Sub-buckets per bucket for `digits` significant digits (HdrHistogram's rule: the
/// power of two at or above 2 * 10^digits).
fn sub_buckets(digits: u8) -> u64 {
    (2 * 10u64.pow(u32::from(digits))).next_power_of_two()
}

/// A duration for people: ns, µs, ms or s with three significant digits.
pub fn format_ns(ns: f64) -> String {
    if !ns.is_finite() {
        return "-".to_string();
    }
    if ns < 0.0 {
        // A difference of two latencies can be negative.
        return format!("-{}", format_ns(-ns));
    }
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_hgrm() {
        let mut h = Latency::new();
        for i in 1..=10_000u64 {
            h.record_ns(i * 100); // 0.1 µs .. 1 ms
        }
        assert_eq!(h.count(), 10_000);
        let p50 = h.quantile_ns(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.01, "{p50}");
        let text = h.hgrm();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().contains("Value"));
        assert!(text.contains("#[Max     ="));
        assert!(text.contains("Total count    =        10000"));
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.contains("Value"))
            .collect();
        assert!(rows.len() > 20);
        let last: Vec<&str> = rows.last().unwrap().split_whitespace().collect();
        assert_eq!(last[1].parse::<f64>().unwrap(), 1.0);
        assert_eq!(last[2], "10000");
        let points = h.percentile_points_us();
        assert!(
            points
                .windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
        );
        assert_eq!(sub_buckets(3), 2048);
    }

    #[test]
    fn merge_and_clamp() {
        let mut a = Latency::new();
        a.record(Duration::from_micros(5));
        let mut b = Latency::new();
        b.record_ns(0);
        b.record(Duration::from_secs(7200));
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.min_ns(), 1);
        assert!(a.max_ns() >= LATENCY_NS_MAX);
        assert_eq!(format_ns(1500.0), "1.50 µs");
        assert_eq!(format_ns(250_000_000.0), "250 ms");
        assert_eq!(format_ns(-2904.0), "-2.90 µs");
    }
}
