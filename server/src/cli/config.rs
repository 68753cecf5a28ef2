//! `tidelog serve`'s settings: a TOML config file (`--config`), then flags over it,
//! then defaults. Unknown keys in the file are errors (a misspelt limit must not be
//! silently ignored). docs/server.md documents every key.
//!
//! ```toml
//! listen = "127.0.0.1:4567"
//! data_dir = "/var/lib/tidelog"
//! region = "us-east-1"
//! account_id = "000000000000"
//!
//! [engine]
//! cores = 1                    # glommio cores; default: half the CPUs
//! tokio_threads = 1            # default: the CPUs the cores leave
//! durability = "sync"          # or "os"
//! limits = "kinesis"           # or "unlimited"
//!
//! [auth]
//! access_keys_file = "/etc/tidelog/credentials"   # AWS shared-credentials form
//! allow_anonymous = false
//! clock_skew_seconds = 900
//! enforce_region = false       # refuse signatures scoped to another region
//!
//! [tls]
//! cert = "/etc/tidelog/cert.pem"
//! key = "/etc/tidelog/key.pem"
//!
//! [server]
//! body_bytes_max = 12582912
//! body_timeout_seconds = 30
//! connections_max = 1024
//! header_timeout_seconds = 10
//! h2_streams_max = 256
//! shutdown_grace_seconds = 30
//! metrics = true
//!
//! [subscribe]
//! lifetime_seconds = 300
//! heartbeat_seconds = 5
//!
//! [firehose]
//! enabled = true               # serve Firehose_20150804.* (delivery streams)
//! delivery_streams_max = 5000
//! ingest_limits = "aws"        # or "unlimited"
//! buffer_retention_hours = 24
//!
//! [firehose.store]             # where buckets live; default: <data_dir>/firehose/buckets
//! dir = "/var/lib/tidelog/buckets"
//!
//! [firehose.buckets.lake]      # one bucket elsewhere: an S3-compatible store
//! s3_endpoint = "http://127.0.0.1:9000"
//! s3_region = "us-east-1"
//! access_key_id = "minio"      # else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
//! secret_access_key = "minio123"
//! virtual_hosted_style = false
//! ```
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file's contents (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Listen address.
    pub listen: Option<SocketAddr>,
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// Region in ARNs.
    pub region: Option<String>,
    /// Account in ARNs.
    pub account_id: Option<String>,
    /// Engine settings.
    #[serde(default)]
    pub engine: EngineSection,
    /// Authentication.
    #[serde(default)]
    pub auth: AuthSection,
    /// TLS.
    pub tls: Option<TlsSection>,
    /// HTTP limits.
    #[serde(default)]
    pub server: ServerSection,
    /// SubscribeToShard.
    #[serde(default)]
    pub subscribe: SubscribeSection,
    /// Delivery streams.
    #[serde(default)]
    pub firehose: FirehoseSection,
}

/// `[firehose]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirehoseSection {
    /// Serve delivery streams (default true).
    pub enabled: Option<bool>,
    /// Most delivery streams.
    pub delivery_streams_max: Option<usize>,
    /// `aws` or `unlimited`.
    pub ingest_limits: Option<String>,
    /// Retention of the DirectPut buffers, hours.
    pub buffer_retention_hours: Option<u32>,
    /// The store of buckets not listed in `buckets`.
    pub store: Option<StoreSection>,
    /// Per-bucket stores.
    #[serde(default)]
    pub buckets: std::collections::BTreeMap<String, StoreSection>,
}

/// Where a bucket lives: a directory (`dir`) or an S3-compatible store
/// (`s3_endpoint`, or AWS's S3 with `s3_region` alone).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// A directory holding one directory per bucket.
    pub dir: Option<PathBuf>,
    /// An S3-compatible endpoint.
    pub s3_endpoint: Option<String>,
    /// The S3 region.
    pub s3_region: Option<String>,
    /// Access key id (else the environment's credentials).
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Virtual-hosted-style requests (default false: path-style).
    pub virtual_hosted_style: Option<bool>,
}

/// `[engine]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// glommio cores.
    pub cores: Option<usize>,
    /// tokio worker threads.
    pub tokio_threads: Option<usize>,
    /// `sync` or `os`.
    pub durability: Option<String>,
    /// `kinesis` or `unlimited`.
    pub limits: Option<String>,
}

/// `[auth]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// A shared-credentials file.
    pub access_keys_file: Option<PathBuf>,
    /// Accept unsigned requests.
    pub allow_anonymous: Option<bool>,
    /// Skew window, seconds.
    pub clock_skew_seconds: Option<u64>,
    /// Refuse scopes of other regions.
    pub enforce_region: Option<bool>,
}

/// `[tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Largest request body.
    pub body_bytes_max: Option<usize>,
    /// Body timeout.
    pub body_timeout_seconds: Option<u64>,
    /// Connection limit.
    pub connections_max: Option<usize>,
    /// Header timeout.
    pub header_timeout_seconds: Option<u64>,
    /// HTTP/2 streams per connection.
    pub h2_streams_max: Option<u32>,
    /// Shutdown grace.
    pub shutdown_grace_seconds: Option<u64>,
    /// Serve /metrics.
    pub metrics: Option<bool>,
}

/// `[subscribe]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeSection {
    /// One subscription's lifetime.
    pub lifetime_seconds: Option<u64>,
    /// Heartbeat interval.
    pub heartbeat_seconds: Option<u64>,
}

/// Reads and parses a config file.
pub fn load(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses_and_typos_do_not() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: FileConfig = toml::from_str(&example).unwrap();
        assert_eq!(parsed.engine.cores, Some(1));
        assert_eq!(parsed.server.connections_max, Some(1024));
        assert_eq!(parsed.firehose.buckets.len(), 1);
        assert!(parsed.firehose.store.unwrap().dir.is_some());
        assert!(toml::from_str::<FileConfig>("[server]\nconections_max = 3\n").is_err());
        assert!(toml::from_str::<FileConfig>("listen = \"nope\"\n").is_err());
    }
}
