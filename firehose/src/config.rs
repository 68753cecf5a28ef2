//! How Firehose runs: where buckets live (a local directory, the embedded default, or
//! any S3-compatible store), its ARNs' region and account, quotas, and the few timings
//! that are not AWS configuration.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Connection to an S3-compatible store (used through the `object_store` crate).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Connection {
    /// The endpoint (`http://127.0.0.1:9000`); `None`: AWS's endpoint of `region`.
    pub endpoint: Option<String>,
    /// The region.
    pub region: String,
    /// Access key id (`None`: the environment's credentials).
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token.
    pub session_token: Option<String>,
    /// Virtual-hosted-style requests (`bucket.host`); false: path-style (`host/bucket`),
    /// what most S3-compatible servers want.
    pub virtual_hosted_style: bool,
    /// Allow `http://` endpoints.
    pub allow_http: bool,
    /// Objects larger than this are uploaded in parts (S3 multipart upload).
    pub multipart_threshold_bytes: usize,
    /// Size of each part (at least 5 MiB, S3's minimum).
    pub multipart_part_bytes: usize,
}

impl std::fmt::Debug for S3Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Connection")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .field("allow_http", &self.allow_http)
            .field("multipart_threshold_bytes", &self.multipart_threshold_bytes)
            .finish_non_exhaustive()
    }
}

/// Smallest S3 multipart part (except the last).
pub const MULTIPART_PART_BYTES_MIN: usize = 5 << 20;

impl S3Connection {
    /// A connection to `endpoint` with static credentials, path-style, plain HTTP allowed
    /// (the shape of a local S3-compatible server).
    pub fn local(endpoint: &str, access_key_id: &str, secret_access_key: &str) -> Self {
        Self {
            endpoint: Some(endpoint.to_string()),
            region: "us-east-1".to_string(),
            access_key_id: Some(access_key_id.to_string()),
            secret_access_key: Some(secret_access_key.to_string()),
            session_token: None,
            virtual_hosted_style: false,
            allow_http: endpoint.starts_with("http://"),
            multipart_threshold_bytes: 16 << 20,
            multipart_part_bytes: 8 << 20,
        }
    }
}

/// Where a bucket's objects go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketStore {
    /// Files under `root/<bucket>/<key>` (objects appear atomically).
    Directory {
        /// The directory holding one directory per bucket.
        root: PathBuf,
    },
    /// An S3-compatible store.
    S3(S3Connection),
}

/// Firehose's ingest quota per delivery stream (AWS's, raised together). A request or
/// record beyond it fails with ServiceUnavailableException and counts as throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// Records per second.
    pub records_per_sec: u64,
    /// Bytes per second.
    pub bytes_per_sec: u64,
    /// PutRecord and PutRecordBatch calls per second.
    pub requests_per_sec: u64,
}

impl IngestLimits {
    /// AWS's quota in its largest regions: 500,000 records/s, 5 MiB/s, 2,000 requests/s.
    pub const fn aws() -> Self {
        Self {
            records_per_sec: 500_000,
            bytes_per_sec: 5 << 20,
            requests_per_sec: 2000,
        }
    }

    /// No quota.
    pub const fn unlimited() -> Self {
        Self {
            records_per_sec: u64::MAX,
            bytes_per_sec: u64::MAX,
            requests_per_sec: u64::MAX,
        }
    }
}

/// How Firehose runs. [`FirehoseConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct FirehoseConfig {
    /// Region shown in ARNs (default `local`).
    pub region: String,
    /// Account shown in ARNs (default `000000000000`).
    pub account_id: String,
    /// Per-bucket stores; buckets not listed use `default_store`.
    pub buckets: BTreeMap<String, BucketStore>,
    /// The store of unlisted buckets; `None`: the directory `<data_dir>/firehose/buckets`.
    pub default_store: Option<BucketStore>,
    /// Most delivery streams (AWS's default quota is 50; raised on request up to 5,000).
    pub delivery_streams_max: usize,
    /// Most active partitions per delivery stream (AWS: 500); records beyond go to the
    /// error output.
    pub active_partitions_max: usize,
    /// Ingest quota per delivery stream.
    pub ingest_limits: IngestLimits,
    /// How often an idle worker looks at the clock (the engine's clock may be a manual
    /// one that moves without waking anyone). Timers themselves run on the engine's
    /// clock; this only bounds how late a worker notices them.
    pub tick: Duration,
    /// How often a Kinesis source's shards are read (engine clock), when idle.
    pub kinesis_poll_interval: Duration,
    /// Most bytes a worker holds read but undelivered before it stops reading (the rest
    /// waits, durable, in the source).
    pub buffered_bytes_max: u64,
    /// Threads of Firehose's own tokio runtime (S3 I/O).
    pub io_threads: usize,
    /// Retention of DirectPut buffers, hours (AWS keeps undelivered data 24 h).
    pub buffer_retention_hours: u32,
    /// How long one HTTP endpoint request may take (real time; a request that takes
    /// longer fails and is retried).
    pub http_request_timeout: Duration,
}

impl FirehoseConfig {
    /// The defaults: ARNs in `local`/`000000000000`, buckets as directories under the
    /// data directory, AWS's quotas.
    pub fn new() -> Self {
        Self {
            region: "local".to_string(),
            account_id: "000000000000".to_string(),
            buckets: BTreeMap::new(),
            default_store: None,
            delivery_streams_max: 5000,
            active_partitions_max: 500,
            ingest_limits: IngestLimits::aws(),
            tick: Duration::from_millis(50),
            kinesis_poll_interval: Duration::from_millis(1000),
            buffered_bytes_max: 512 << 20,
            io_threads: 2,
            buffer_retention_hours: 24,
            http_request_timeout: Duration::from_secs(60),
        }
    }

    pub(crate) fn validate(&self) -> crate::Result<()> {
        let bad =
            |f: &str, why: &str| Err(crate::Error::invalid(format!("FirehoseConfig.{f}"), why));
        if self.delivery_streams_max == 0 {
            return bad("delivery_streams_max", "must be at least 1");
        }
        if !(1..=100_000).contains(&self.active_partitions_max) {
            return bad("active_partitions_max", "must be 1 to 100,000");
        }
        if self.tick < Duration::from_millis(1) || self.tick > Duration::from_secs(10) {
            return bad("tick", "must be 1 ms to 10 s");
        }
        if !(1..=64).contains(&self.io_threads) {
            return bad("io_threads", "must be 1 to 64");
        }
        if !(1..=8760).contains(&self.buffer_retention_hours) {
            return bad("buffer_retention_hours", "must be 1 to 8760");
        }
        if self.buffered_bytes_max < 1 << 20 {
            return bad("buffered_bytes_max", "must be at least 1 MiB");
        }
        for store in self.buckets.values().chain(self.default_store.iter()) {
            if let BucketStore::S3(c) = store
                && (c.multipart_part_bytes < MULTIPART_PART_BYTES_MIN
                    || c.multipart_threshold_bytes < c.multipart_part_bytes)
            {
                return bad(
                    "S3Connection.multipart_part_bytes",
                    "parts are at least 5 MiB and the threshold at least one part",
                );
            }
        }
        Ok(())
    }
}

impl Default for FirehoseConfig {
    fn default() -> Self {
        Self::new()
    }
}
