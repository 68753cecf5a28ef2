//! The server's own counters (requests by operation and outcome, latency histograms,
//! connections, bytes, subscriptions) and the `/metrics` page: these followed by the
//! engine's per-shard counters, as one OpenMetrics text ending in `# EOF`.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS_SECONDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Latency {
    buckets: [u64; BUCKETS_SECONDS.len()],
    count: u64,
    sum_seconds: f64,
}

/// Counters of one server.
#[derive(Default)]
pub struct ServerMetrics {
    requests: Mutex<BTreeMap<(String, String, String), u64>>,
    latency: Mutex<BTreeMap<(String, String), Latency>>,
    /// Connections accepted since start.
    pub connections_accepted: AtomicU64,
    /// Connections refused at the connection limit.
    pub connections_refused: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// TLS handshakes that failed.
    pub tls_failures: AtomicU64,
    /// Request body bytes read.
    pub bytes_in: AtomicU64,
    /// Response body bytes written (event streams included).
    pub bytes_out: AtomicU64,
}

impl ServerMetrics {
    /// Counts a request: its service (`kinesis`, `firehose`, `-` when unknown), its
    /// operation, the outcome (`ok` or the error name) and how long it took.
    pub fn request(&self, service: &str, operation: &str, outcome: &str, took: Duration) {
        let key = (
            service.to_string(),
            operation.to_string(),
            outcome.to_string(),
        );
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
        let seconds = took.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let l = latency
            .entry((service.to_string(), operation.to_string()))
            .or_default();
        l.count += 1;
        l.sum_seconds += seconds;
        for (i, bound) in BUCKETS_SECONDS.iter().enumerate() {
            if seconds <= *bound {
                l.buckets[i] += 1;
            }
        }
    }

    /// Requests counted so far with this outcome (for tests and `stats`).
    pub fn requests_with(&self, outcome: &str) -> u64 {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((_, _, o), _)| o == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    /// The OpenMetrics text of the server's families (without `# EOF`).
    pub fn render(&self, subscriptions: usize) -> String {
        let mut out = String::new();
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(out, "# TYPE tidelog_server_requests counter");
        let _ = writeln!(
            out,
            "# HELP tidelog_server_requests Requests answered, by operation and outcome"
        );
        for ((service, op, outcome), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "tidelog_server_requests_total{{service=\"{}\",operation=\"{}\",outcome=\"{}\"}} {n}",
                esc(service),
                esc(op),
                esc(outcome)
            );
        }
        let _ = writeln!(out, "# TYPE tidelog_server_request_seconds histogram");
        let _ = writeln!(
            out,
            "# HELP tidelog_server_request_seconds Time from a request's headers to its answer"
        );
        for ((service, op), l) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let labels = format!("service=\"{}\",operation=\"{}\"", esc(service), esc(op));
            for (bound, n) in BUCKETS_SECONDS.iter().zip(l.buckets) {
                let _ = writeln!(
                    out,
                    "tidelog_server_request_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "tidelog_server_request_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                l.count
            );
            let _ = writeln!(
                out,
                "tidelog_server_request_seconds_count{{{labels}}} {}",
                l.count
            );
            let _ = writeln!(
                out,
                "tidelog_server_request_seconds_sum{{{labels}}} {}",
                l.sum_seconds
            );
        }
        let gauges: [(&str, &str, &str, u64); 7] = [
            (
                "tidelog_server_connections_accepted",
                "counter",
                "Connections accepted",
                self.connections_accepted.load(Ordering::Relaxed),
            ),
            (
                "tidelog_server_connections_refused",
                "counter",
                "Connections refused at the connection limit",
                self.connections_refused.load(Ordering::Relaxed),
            ),
            (
                "tidelog_server_tls_handshake_failures",
                "counter",
                "TLS handshakes that failed",
                self.tls_failures.load(Ordering::Relaxed),
            ),
            (
                "tidelog_server_request_bytes",
                "counter",
                "Request body bytes read",
                self.bytes_in.load(Ordering::Relaxed),
            ),
            (
                "tidelog_server_response_bytes",
                "counter",
                "Response body bytes written",
                self.bytes_out.load(Ordering::Relaxed),
            ),
            (
                "tidelog_server_connections_open",
                "gauge",
                "Connections open now",
                self.connections_open.load(Ordering::Relaxed),
            ),
            (
                "tidelog_server_subscriptions",
                "gauge",
                "SubscribeToShard streams open now",
                subscriptions as u64,
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "# HELP {name} {help}");
            let suffix = if kind == "counter" { "_total" } else { "" };
            let _ = writeln!(out, "{name}{suffix} {value}");
        }
        out
    }
}
