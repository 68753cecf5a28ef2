//! Per-shard metrics with the Kinesis names, a snapshot API, and an OpenMetrics text
//! rendering.
//!
//! Invariants: counters only increase; they are plain relaxed atomics updated by the
//! core that owns the shard (writes) and by reader threads (reads), so taking a
//! snapshot never blocks either.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Shard-level metric: IncomingBytes (a bit of a stream's enhanced-monitoring set).
pub const METRIC_INCOMING_BYTES: u8 = 1 << 0;
/// Shard-level metric: IncomingRecords.
pub const METRIC_INCOMING_RECORDS: u8 = 1 << 1;
/// Shard-level metric: OutgoingBytes.
pub const METRIC_OUTGOING_BYTES: u8 = 1 << 2;
/// Shard-level metric: OutgoingRecords.
pub const METRIC_OUTGOING_RECORDS: u8 = 1 << 3;
/// Shard-level metric: WriteProvisionedThroughputExceeded.
pub const METRIC_WRITE_THROTTLED: u8 = 1 << 4;
/// Shard-level metric: ReadProvisionedThroughputExceeded.
pub const METRIC_READ_THROTTLED: u8 = 1 << 5;
/// Shard-level metric: IteratorAgeMilliseconds.
pub const METRIC_ITERATOR_AGE: u8 = 1 << 6;
/// Every shard-level metric (Kinesis's `ALL`).
pub const SHARD_LEVEL_METRICS_ALL: u8 = 0x7f;

/// The Kinesis names of the shard-level metrics and their bits, in the order Kinesis
/// lists them.
pub const SHARD_LEVEL_METRICS: [(&str, u8); 7] = [
    ("IncomingBytes", METRIC_INCOMING_BYTES),
    ("IncomingRecords", METRIC_INCOMING_RECORDS),
    ("OutgoingBytes", METRIC_OUTGOING_BYTES),
    ("OutgoingRecords", METRIC_OUTGOING_RECORDS),
    ("WriteProvisionedThroughputExceeded", METRIC_WRITE_THROTTLED),
    ("ReadProvisionedThroughputExceeded", METRIC_READ_THROTTLED),
    ("IteratorAgeMilliseconds", METRIC_ITERATOR_AGE),
];

/// The bits of a list of Kinesis metric names (`ALL` for all); the first unknown name
/// on failure.
pub fn parse_shard_level_metrics<S: AsRef<str>>(names: &[S]) -> Result<u8, String> {
    let mut mask = 0;
    for name in names {
        let name = name.as_ref();
        if name == "ALL" {
            mask |= SHARD_LEVEL_METRICS_ALL;
            continue;
        }
        match SHARD_LEVEL_METRICS.iter().find(|(n, _)| *n == name) {
            Some((_, bit)) => mask |= bit,
            None => return Err(name.to_string()),
        }
    }
    Ok(mask)
}

/// The Kinesis names of the metrics in `mask`, in Kinesis's order.
pub fn shard_level_metric_names(mask: u8) -> Vec<&'static str> {
    SHARD_LEVEL_METRICS
        .iter()
        .filter(|(_, bit)| mask & bit != 0)
        .map(|(n, _)| *n)
        .collect()
}

/// Live counters of one shard.
#[derive(Debug, Default)]
pub struct ShardCounters {
    incoming_bytes: AtomicU64,
    incoming_records: AtomicU64,
    outgoing_bytes: AtomicU64,
    outgoing_records: AtomicU64,
    get_records_calls: AtomicU64,
    write_throttled: AtomicU64,
    read_throttled: AtomicU64,
    iterator_age_ms: AtomicU64,
    write_throttled_bytes: AtomicU64,
}

/// Cumulative write demand of a shard: what was accepted plus what the limits refused
/// (on-demand scaling sizes streams by it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteDemand {
    /// Bytes accepted plus bytes refused.
    pub bytes: u64,
    /// Records accepted plus records refused.
    pub records: u64,
}

/// A point-in-time copy of a shard's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardMetrics {
    /// Stream name.
    pub stream: String,
    /// Shard id.
    pub shard_id: String,
    /// IncomingBytes: data plus key bytes of records accepted.
    pub incoming_bytes: u64,
    /// IncomingRecords: records accepted.
    pub incoming_records: u64,
    /// OutgoingBytes: data plus key bytes returned to readers and subscribers.
    pub outgoing_bytes: u64,
    /// OutgoingRecords: records returned to readers and subscribers.
    pub outgoing_records: u64,
    /// GetRecords calls answered (throttled ones not counted).
    pub get_records_calls: u64,
    /// WriteProvisionedThroughputExceeded: records refused by the write limits.
    pub write_throttled: u64,
    /// ReadProvisionedThroughputExceeded: reads refused by the read limits.
    pub read_throttled: u64,
    /// IteratorAgeMilliseconds: age of the last record returned by the latest read
    /// (0 when it was at the tip).
    pub iterator_age_ms: u64,
}

impl ShardCounters {
    /// Counts an accepted record.
    pub fn record_in(&self, bytes: u64) {
        self.incoming_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.incoming_records.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts records handed to a reader.
    pub fn records_out(&self, records: u64, bytes: u64) {
        self.outgoing_records.fetch_add(records, Ordering::Relaxed);
        self.outgoing_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts an answered GetRecords call and the iterator age it left.
    pub fn get_records(&self, iterator_age_ms: u64) {
        self.get_records_calls.fetch_add(1, Ordering::Relaxed);
        self.iterator_age_ms
            .store(iterator_age_ms, Ordering::Relaxed);
    }

    /// Counts a write refused by the limits.
    pub fn write_throttled(&self) {
        self.write_throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a write of `bytes` refused by the limits (count and bytes).
    pub fn write_throttled_bytes(&self, bytes: u64) {
        self.write_throttled.fetch_add(1, Ordering::Relaxed);
        self.write_throttled_bytes
            .fetch_add(bytes, Ordering::Relaxed);
    }

    /// The shard's cumulative write demand.
    pub fn write_demand(&self) -> WriteDemand {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WriteDemand {
            bytes: get(&self.incoming_bytes) + get(&self.write_throttled_bytes),
            records: get(&self.incoming_records) + get(&self.write_throttled),
        }
    }

    /// Counts a read refused by the limits.
    pub fn read_throttled(&self) {
        self.read_throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot labelled with the stream and shard.
    pub fn snapshot(&self, stream: &str, shard_id: &str) -> ShardMetrics {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ShardMetrics {
            stream: stream.to_string(),
            shard_id: shard_id.to_string(),
            incoming_bytes: get(&self.incoming_bytes),
            incoming_records: get(&self.incoming_records),
            outgoing_bytes: get(&self.outgoing_bytes),
            outgoing_records: get(&self.outgoing_records),
            get_records_calls: get(&self.get_records_calls),
            write_throttled: get(&self.write_throttled),
            read_throttled: get(&self.read_throttled),
            iterator_age_ms: get(&self.iterator_age_ms),
        }
    }
}

/// Sums shard snapshots into one stream-level snapshot (iterator age: the maximum).
pub fn stream_totals(stream: &str, shards: &[ShardMetrics]) -> ShardMetrics {
    let mut total = ShardMetrics {
        stream: stream.to_string(),
        ..ShardMetrics::default()
    };
    for s in shards {
        total.incoming_bytes += s.incoming_bytes;
        total.incoming_records += s.incoming_records;
        total.outgoing_bytes += s.outgoing_bytes;
        total.outgoing_records += s.outgoing_records;
        total.get_records_calls += s.get_records_calls;
        total.write_throttled += s.write_throttled;
        total.read_throttled += s.read_throttled;
        total.iterator_age_ms = total.iterator_age_ms.max(s.iterator_age_ms);
    }
    total
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders shard snapshots as OpenMetrics text (ending with `# EOF`): every shard's
/// every counter.
pub fn render_openmetrics(shards: &[ShardMetrics]) -> String {
    render_openmetrics_monitored(&[], shards, |_| u8::MAX)
}

type Getter = fn(&ShardMetrics) -> u64;

/// The families: name, type, help, getter, and the shard-level metric bit that
/// enables the shard-level series.
const FAMILIES: [(&str, &str, &str, Getter, u8); 8] = [
    (
        "tidelog_incoming_bytes",
        "counter",
        "IncomingBytes: data and key bytes accepted",
        |m| m.incoming_bytes,
        METRIC_INCOMING_BYTES,
    ),
    (
        "tidelog_incoming_records",
        "counter",
        "IncomingRecords: records accepted",
        |m| m.incoming_records,
        METRIC_INCOMING_RECORDS,
    ),
    (
        "tidelog_outgoing_bytes",
        "counter",
        "OutgoingBytes: data and key bytes read",
        |m| m.outgoing_bytes,
        METRIC_OUTGOING_BYTES,
    ),
    (
        "tidelog_outgoing_records",
        "counter",
        "OutgoingRecords: records read",
        |m| m.outgoing_records,
        METRIC_OUTGOING_RECORDS,
    ),
    (
        "tidelog_get_records_calls",
        "counter",
        "GetRecords calls answered",
        |m| m.get_records_calls,
        0,
    ),
    (
        "tidelog_write_provisioned_throughput_exceeded",
        "counter",
        "WriteProvisionedThroughputExceeded: writes refused by the limits",
        |m| m.write_throttled,
        METRIC_WRITE_THROTTLED,
    ),
    (
        "tidelog_read_provisioned_throughput_exceeded",
        "counter",
        "ReadProvisionedThroughputExceeded: reads refused by the limits",
        |m| m.read_throttled,
        METRIC_READ_THROTTLED,
    ),
    (
        "tidelog_iterator_age_milliseconds",
        "gauge",
        "IteratorAgeMilliseconds: age of the last record read",
        |m| m.iterator_age_ms,
        METRIC_ITERATOR_AGE,
    ),
];

/// Renders OpenMetrics text (ending with `# EOF`) as Kinesis's monitoring works:
/// stream-level series (`tidelog_stream_*`, labelled by stream) for every stream in
/// `streams`, and shard-level series (labelled by stream and shard) only for the
/// metrics enabled on the shard's stream (`enabled(stream)`: its enhanced-monitoring
/// bits). GetRecords calls, a tidelog counter with no Kinesis shard-level name, follow
/// the stream-level rule only.
pub fn render_openmetrics_monitored(
    streams: &[ShardMetrics],
    shards: &[ShardMetrics],
    enabled: impl Fn(&str) -> u8,
) -> String {
    let mut out = String::new();
    for (name, kind, help, get, bit) in FAMILIES {
        let suffix = if kind == "counter" { "_total" } else { "" };
        if !streams.is_empty() {
            let stream_name = name.replacen("tidelog_", "tidelog_stream_", 1);
            let _ = writeln!(out, "# TYPE {stream_name} {kind}");
            let _ = writeln!(out, "# HELP {stream_name} {help} (stream total).");
            for m in streams {
                let _ = writeln!(
                    out,
                    "{stream_name}{suffix}{{stream=\"{}\"}} {}",
                    escape_label(&m.stream),
                    get(m)
                );
            }
        }
        let shown: Vec<&ShardMetrics> = shards
            .iter()
            .filter(|m| {
                let mask = enabled(&m.stream);
                // 0xff (every bit, the plain rendering) shows every family.
                mask == u8::MAX || (bit != 0 && mask & bit != 0)
            })
            .collect();
        if shown.is_empty() && !streams.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "# HELP {name} {help}.");
        for m in shown {
            let _ = writeln!(
                out,
                "{name}{suffix}{{stream=\"{}\",shard=\"{}\"}} {}",
                escape_label(&m.stream),
                escape_label(&m.shard_id),
                get(m)
            );
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_snapshot_and_render() {
        let c = ShardCounters::default();
        c.record_in(10);
        c.record_in(5);
        c.records_out(2, 15);
        c.get_records(30);
        c.write_throttled();
        c.read_throttled();
        c.read_throttled();
        let m = c.snapshot("orders", "shardId-000000000001");
        assert_eq!((m.incoming_bytes, m.incoming_records), (15, 2));
        assert_eq!(
            (m.outgoing_bytes, m.outgoing_records, m.get_records_calls),
            (15, 2, 1)
        );
        assert_eq!(
            (m.write_throttled, m.read_throttled, m.iterator_age_ms),
            (1, 2, 30)
        );
        let total = stream_totals("orders", &[m.clone(), m.clone()]);
        assert_eq!(total.incoming_records, 4);
        assert_eq!(total.iterator_age_ms, 30);
        let text = render_openmetrics(&[m]);
        assert!(text.contains("# TYPE tidelog_incoming_bytes counter\n"));
        assert!(text.contains(
            "tidelog_incoming_bytes_total{stream=\"orders\",shard=\"shardId-000000000001\"} 15\n"
        ));
        assert!(text.contains("tidelog_iterator_age_milliseconds{stream=\"orders\",shard=\"shardId-000000000001\"} 30\n"));
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(text.matches("# TYPE").count(), 8);
    }
}
