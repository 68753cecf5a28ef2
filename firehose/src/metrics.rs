//! Metrics of each delivery stream, with Firehose's CloudWatch names, as snapshots and
//! in the OpenMetrics text format (beside the engine's own families).
//!
//! Invariant: counters are atomics written by the put path and the delivery worker and
//! read without locks; a snapshot never blocks either.
#![forbid(unsafe_code)]

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The live counters of one delivery stream.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) incoming_bytes: AtomicU64,
    pub(crate) incoming_records: AtomicU64,
    pub(crate) incoming_put_requests: AtomicU64,
    pub(crate) throttled_records: AtomicU64,
    pub(crate) put_record_requests: AtomicU64,
    pub(crate) put_record_bytes: AtomicU64,
    pub(crate) put_record_batch_requests: AtomicU64,
    pub(crate) put_record_batch_records: AtomicU64,
    pub(crate) put_record_batch_bytes: AtomicU64,
    pub(crate) delivery_bytes: AtomicU64,
    pub(crate) delivery_records: AtomicU64,
    pub(crate) delivery_objects: AtomicU64,
    pub(crate) delivery_attempts: AtomicU64,
    pub(crate) delivery_failures: AtomicU64,
    pub(crate) data_freshness_ms: AtomicU64,
    pub(crate) backup_bytes: AtomicU64,
    pub(crate) backup_records: AtomicU64,
    pub(crate) backup_attempts: AtomicU64,
    pub(crate) backup_failures: AtomicU64,
    pub(crate) backup_freshness_ms: AtomicU64,
    pub(crate) error_records: AtomicU64,
    pub(crate) processing_invocations: AtomicU64,
    pub(crate) processing_failed_invocations: AtomicU64,
    pub(crate) processing_duration_ms: AtomicU64,
    pub(crate) processing_ok_records: AtomicU64,
    pub(crate) processing_ok_bytes: AtomicU64,
    pub(crate) processing_dropped_records: AtomicU64,
    pub(crate) processing_failed_records: AtomicU64,
    pub(crate) kinesis_read_bytes: AtomicU64,
    pub(crate) kinesis_read_records: AtomicU64,
    pub(crate) kinesis_millis_behind: AtomicU64,
    pub(crate) partition_count: AtomicU64,
    pub(crate) partition_count_exceeded: AtomicU64,
    pub(crate) http_records: AtomicU64,
    pub(crate) http_bytes: AtomicU64,
    pub(crate) http_attempts: AtomicU64,
    pub(crate) http_failures: AtomicU64,
    pub(crate) http_given_up_records: AtomicU64,
    pub(crate) redshift_records: AtomicU64,
    pub(crate) redshift_rows: AtomicU64,
    pub(crate) redshift_bytes: AtomicU64,
    pub(crate) redshift_attempts: AtomicU64,
    pub(crate) redshift_failures: AtomicU64,
    pub(crate) redshift_skipped_batches: AtomicU64,
}

/// Adds to a counter.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Sets a gauge.
pub(crate) fn set(c: &AtomicU64, n: u64) {
    c.store(n, Ordering::Relaxed);
}

/// A snapshot of one delivery stream's metrics. Names follow Firehose's CloudWatch
/// metrics (`DeliveryToS3.Records` is `delivery_to_s3_records`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// The delivery stream.
    pub delivery_stream: String,
    /// IncomingBytes.
    pub incoming_bytes: u64,
    /// IncomingRecords.
    pub incoming_records: u64,
    /// IncomingPutRequests.
    pub incoming_put_requests: u64,
    /// ThrottledRecords.
    pub throttled_records: u64,
    /// PutRecord.Requests.
    pub put_record_requests: u64,
    /// PutRecord.Bytes.
    pub put_record_bytes: u64,
    /// PutRecordBatch.Requests.
    pub put_record_batch_requests: u64,
    /// PutRecordBatch.Records.
    pub put_record_batch_records: u64,
    /// PutRecordBatch.Bytes.
    pub put_record_batch_bytes: u64,
    /// DeliveryToS3.Bytes.
    pub delivery_to_s3_bytes: u64,
    /// DeliveryToS3.Records.
    pub delivery_to_s3_records: u64,
    /// DeliveryToS3.ObjectCount.
    pub delivery_to_s3_object_count: u64,
    /// DeliveryToS3.Success: successful object writes over all attempts (1.0 when none).
    pub delivery_to_s3_success: f64,
    /// Object writes attempted (the denominator of Success).
    pub delivery_to_s3_attempts: u64,
    /// DeliveryToS3.DataFreshness: age of the oldest record not yet delivered, ms.
    pub delivery_to_s3_data_freshness_ms: u64,
    /// BackupToS3.Bytes.
    pub backup_to_s3_bytes: u64,
    /// BackupToS3.Records.
    pub backup_to_s3_records: u64,
    /// BackupToS3.Success.
    pub backup_to_s3_success: f64,
    /// BackupToS3.DataFreshness, ms.
    pub backup_to_s3_data_freshness_ms: u64,
    /// Records written to the error output.
    pub error_output_records: u64,
    /// ExecuteProcessing.Duration: total time in transforms, ms.
    pub execute_processing_duration_ms: u64,
    /// ExecuteProcessing.Success: successful invocations over all invocations.
    pub execute_processing_success: f64,
    /// Transform invocations.
    pub execute_processing_invocations: u64,
    /// SucceedProcessing.Records.
    pub succeed_processing_records: u64,
    /// SucceedProcessing.Bytes.
    pub succeed_processing_bytes: u64,
    /// Records a transform dropped.
    pub dropped_processing_records: u64,
    /// Records that failed processing (to the error output).
    pub failed_processing_records: u64,
    /// DataReadFromKinesisStream.Bytes.
    pub data_read_from_kinesis_stream_bytes: u64,
    /// DataReadFromKinesisStream.Records.
    pub data_read_from_kinesis_stream_records: u64,
    /// KinesisMillisBehindLatest.
    pub kinesis_millis_behind_latest: u64,
    /// PartitionCount: active partitions now.
    pub partition_count: u64,
    /// PartitionCountExceeded: records sent to the error output because the cap of
    /// active partitions was reached.
    pub partition_count_exceeded: u64,
    /// DeliveryToHttpEndpoint.Records.
    pub delivery_to_http_endpoint_records: u64,
    /// DeliveryToHttpEndpoint.Bytes.
    pub delivery_to_http_endpoint_bytes: u64,
    /// DeliveryToHttpEndpoint.Success: accepted requests over all requests.
    pub delivery_to_http_endpoint_success: f64,
    /// Records given up after the retry duration (or a 413), written to S3.
    pub delivery_to_http_endpoint_failed_records: u64,
    /// DeliveryToRedshift.Records.
    pub delivery_to_redshift_records: u64,
    /// Rows COPY loaded.
    pub delivery_to_redshift_rows: u64,
    /// DeliveryToRedshift.Bytes.
    pub delivery_to_redshift_bytes: u64,
    /// DeliveryToRedshift.Success: successful COPYs over all COPYs.
    pub delivery_to_redshift_success: f64,
    /// Batches skipped after the retry duration (listed under errors/).
    pub delivery_to_redshift_skipped_batches: u64,
}

fn ratio(ok: u64, all: u64) -> f64 {
    if all == 0 {
        1.0
    } else {
        ok as f64 / all as f64
    }
}

impl Counters {
    /// A snapshot.
    pub fn snapshot(&self, name: &str) -> Metrics {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let attempts = l(&self.delivery_attempts);
        let backup_attempts = l(&self.backup_attempts);
        let invocations = l(&self.processing_invocations);
        Metrics {
            delivery_stream: name.to_string(),
            incoming_bytes: l(&self.incoming_bytes),
            incoming_records: l(&self.incoming_records),
            incoming_put_requests: l(&self.incoming_put_requests),
            throttled_records: l(&self.throttled_records),
            put_record_requests: l(&self.put_record_requests),
            put_record_bytes: l(&self.put_record_bytes),
            put_record_batch_requests: l(&self.put_record_batch_requests),
            put_record_batch_records: l(&self.put_record_batch_records),
            put_record_batch_bytes: l(&self.put_record_batch_bytes),
            delivery_to_s3_bytes: l(&self.delivery_bytes),
            delivery_to_s3_records: l(&self.delivery_records),
            delivery_to_s3_object_count: l(&self.delivery_objects),
            delivery_to_s3_success: ratio(
                attempts - l(&self.delivery_failures).min(attempts),
                attempts,
            ),
            delivery_to_s3_attempts: attempts,
            delivery_to_s3_data_freshness_ms: l(&self.data_freshness_ms),
            backup_to_s3_bytes: l(&self.backup_bytes),
            backup_to_s3_records: l(&self.backup_records),
            backup_to_s3_success: ratio(
                backup_attempts - l(&self.backup_failures).min(backup_attempts),
                backup_attempts,
            ),
            backup_to_s3_data_freshness_ms: l(&self.backup_freshness_ms),
            error_output_records: l(&self.error_records),
            execute_processing_duration_ms: l(&self.processing_duration_ms),
            execute_processing_success: ratio(
                invocations - l(&self.processing_failed_invocations).min(invocations),
                invocations,
            ),
            execute_processing_invocations: invocations,
            succeed_processing_records: l(&self.processing_ok_records),
            succeed_processing_bytes: l(&self.processing_ok_bytes),
            dropped_processing_records: l(&self.processing_dropped_records),
            failed_processing_records: l(&self.processing_failed_records),
            data_read_from_kinesis_stream_bytes: l(&self.kinesis_read_bytes),
            data_read_from_kinesis_stream_records: l(&self.kinesis_read_records),
            kinesis_millis_behind_latest: l(&self.kinesis_millis_behind),
            partition_count: l(&self.partition_count),
            partition_count_exceeded: l(&self.partition_count_exceeded),
            delivery_to_http_endpoint_records: l(&self.http_records),
            delivery_to_http_endpoint_bytes: l(&self.http_bytes),
            delivery_to_http_endpoint_success: ratio(
                l(&self.http_attempts) - l(&self.http_failures).min(l(&self.http_attempts)),
                l(&self.http_attempts),
            ),
            delivery_to_http_endpoint_failed_records: l(&self.http_given_up_records),
            delivery_to_redshift_records: l(&self.redshift_records),
            delivery_to_redshift_rows: l(&self.redshift_rows),
            delivery_to_redshift_bytes: l(&self.redshift_bytes),
            delivery_to_redshift_success: ratio(
                l(&self.redshift_attempts)
                    - l(&self.redshift_failures).min(l(&self.redshift_attempts)),
                l(&self.redshift_attempts),
            ),
            delivery_to_redshift_skipped_batches: l(&self.redshift_skipped_batches),
        }
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The OpenMetrics families of `metrics` (without the `# EOF` line, so they can follow
/// the engine's families in one exposition).
pub fn render_openmetrics(metrics: &[Metrics]) -> String {
    type Get = fn(&Metrics) -> f64;
    let families: &[(&str, &str, &str, Get)] = &[
        ("incoming_bytes", "counter", "IncomingBytes", |m| {
            m.incoming_bytes as f64
        }),
        ("incoming_records", "counter", "IncomingRecords", |m| {
            m.incoming_records as f64
        }),
        (
            "incoming_put_requests",
            "counter",
            "IncomingPutRequests",
            |m| m.incoming_put_requests as f64,
        ),
        ("throttled_records", "counter", "ThrottledRecords", |m| {
            m.throttled_records as f64
        }),
        (
            "delivery_to_s3_bytes",
            "counter",
            "DeliveryToS3.Bytes",
            |m| m.delivery_to_s3_bytes as f64,
        ),
        (
            "delivery_to_s3_records",
            "counter",
            "DeliveryToS3.Records",
            |m| m.delivery_to_s3_records as f64,
        ),
        (
            "delivery_to_s3_object_count",
            "counter",
            "DeliveryToS3.ObjectCount",
            |m| m.delivery_to_s3_object_count as f64,
        ),
        (
            "delivery_to_s3_success_ratio",
            "gauge",
            "DeliveryToS3.Success",
            |m| m.delivery_to_s3_success,
        ),
        (
            "delivery_to_s3_data_freshness_seconds",
            "gauge",
            "DeliveryToS3.DataFreshness",
            |m| m.delivery_to_s3_data_freshness_ms as f64 / 1000.0,
        ),
        ("backup_to_s3_bytes", "counter", "BackupToS3.Bytes", |m| {
            m.backup_to_s3_bytes as f64
        }),
        (
            "backup_to_s3_records",
            "counter",
            "BackupToS3.Records",
            |m| m.backup_to_s3_records as f64,
        ),
        (
            "backup_to_s3_success_ratio",
            "gauge",
            "BackupToS3.Success",
            |m| m.backup_to_s3_success,
        ),
        (
            "error_output_records",
            "counter",
            "records written to the error output",
            |m| m.error_output_records as f64,
        ),
        (
            "execute_processing_duration_seconds",
            "counter",
            "ExecuteProcessing.Duration",
            |m| m.execute_processing_duration_ms as f64 / 1000.0,
        ),
        (
            "execute_processing_success_ratio",
            "gauge",
            "ExecuteProcessing.Success",
            |m| m.execute_processing_success,
        ),
        (
            "succeed_processing_records",
            "counter",
            "SucceedProcessing.Records",
            |m| m.succeed_processing_records as f64,
        ),
        (
            "succeed_processing_bytes",
            "counter",
            "SucceedProcessing.Bytes",
            |m| m.succeed_processing_bytes as f64,
        ),
        (
            "data_read_from_kinesis_stream_bytes",
            "counter",
            "DataReadFromKinesisStream.Bytes",
            |m| m.data_read_from_kinesis_stream_bytes as f64,
        ),
        (
            "data_read_from_kinesis_stream_records",
            "counter",
            "DataReadFromKinesisStream.Records",
            |m| m.data_read_from_kinesis_stream_records as f64,
        ),
        (
            "kinesis_millis_behind_latest",
            "gauge",
            "KinesisMillisBehindLatest",
            |m| m.kinesis_millis_behind_latest as f64,
        ),
        ("partition_count", "gauge", "PartitionCount", |m| {
            m.partition_count as f64
        }),
        (
            "partition_count_exceeded",
            "counter",
            "PartitionCountExceeded",
            |m| m.partition_count_exceeded as f64,
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, get) in families {
        let full = format!("tidelog_firehose_{name}");
        let _ = writeln!(out, "# TYPE {full} {kind}");
        let _ = writeln!(out, "# HELP {full} Firehose {help}.");
        for m in metrics {
            let suffix = if *kind == "counter" { "_total" } else { "" };
            let _ = writeln!(
                out,
                "{full}{suffix}{{delivery_stream=\"{}\"}} {}",
                escape(&m.delivery_stream),
                get(m)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_and_text() {
        let c = Counters::default();
        add(&c.incoming_records, 3);
        add(&c.delivery_attempts, 4);
        add(&c.delivery_failures, 1);
        let m = c.snapshot("ds\"1");
        assert_eq!(m.incoming_records, 3);
        assert_eq!(m.delivery_to_s3_success, 0.75);
        assert_eq!(m.execute_processing_success, 1.0);
        let text = render_openmetrics(&[m]);
        assert!(
            text.contains("tidelog_firehose_incoming_records_total{delivery_stream=\"ds\\\"1\"} 3")
        );
        assert!(text.contains("# TYPE tidelog_firehose_delivery_to_s3_success_ratio gauge"));
    }
}
