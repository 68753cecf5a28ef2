//! The listener: accepts TCP connections (TLS with rustls when configured, ALPN `h2`
//! and `http/1.1`), serves HTTP/1.1, h2 over TLS and cleartext h2c (prior knowledge) on
//! the same port, and stops gracefully.
//!
//! Limits: at most `connections_max` connections (more are closed at once and
//! counted); a connection must send its first request within `header_read_timeout`
//! (this covers a client that stalls before the HTTP version can be told), and each
//! HTTP/1.1 request's headers within it (slowloris); a TLS handshake within it too;
//! bodies are bounded in `handler.rs`. HTTP/2 connections are pinged every 20 s and
//! closed if a ping goes unanswered for 20 s.
//!
//! Shutdown ([`RunningServer::shutdown`]): stop accepting, tell subscriptions to end,
//! let requests in flight finish (up to the grace period: every answer sent is for
//! work the engine did), close idle connections; the caller then closes the engine.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use super::handler::{Shared, handle};
use super::metrics::ServerMetrics;
use crate::api::Api;
use crate::auth::Verifier;

/// How the server listens and what it allows.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (default 127.0.0.1:4567).
    pub listen: SocketAddr,
    /// Certificate chain and private key (PEM files) to serve TLS; cleartext if `None`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Largest request body, bytes.
    pub body_bytes_max: usize,
    /// Longest a request body may take to arrive.
    pub body_timeout: Duration,
    /// Most connections open at once.
    pub connections_max: usize,
    /// Longest a client may take to send a request's headers (and its first request,
    /// and a TLS handshake).
    pub header_read_timeout: Duration,
    /// Most concurrent HTTP/2 streams per connection.
    pub h2_streams_max: u32,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Serve `/metrics` (unauthenticated).
    pub metrics_public: bool,
    /// Signature checks.
    pub verifier: Verifier,
}

impl ServerConfig {
    /// Defaults around a verifier.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4567)),
            tls: None,
            body_bytes_max: 12 << 20,
            body_timeout: Duration::from_secs(30),
            connections_max: 1024,
            header_read_timeout: Duration::from_secs(10),
            h2_streams_max: 256,
            shutdown_grace: Duration::from_secs(30),
            metrics_public: true,
            verifier,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding the address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
}

/// A server that is running.
pub struct RunningServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: JoinHandle<GracefulShutdown>,
    api: Arc<Api>,
    grace: Duration,
    /// The server's counters.
    pub metrics: Arc<ServerMetrics>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish()
    }
}

fn load_tls(cert: &PathBuf, key: &PathBuf) -> Result<TlsAcceptor, StartError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| StartError::Tls(format!("{}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| StartError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(StartError::Tls(format!(
            "{}: no certificate in the file",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| StartError::Tls(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl RunningServer {
    /// Binds and starts serving `api` (call from inside a tokio runtime).
    pub async fn start(api: Arc<Api>, config: ServerConfig) -> Result<Self, StartError> {
        let tls = match &config.tls {
            Some((cert, key)) => Some(load_tls(cert, key)?),
            None => None,
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let metrics = Arc::new(ServerMetrics::default());
        let shared = Arc::new(Shared::new(
            Arc::clone(&api),
            config.verifier.clone(),
            Arc::clone(&metrics),
            config.body_bytes_max,
            config.body_timeout,
            config.metrics_public,
        ));
        let (stop, stop_rx) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(listener, tls, shared, config.clone(), stop_rx));
        Ok(Self {
            addr,
            stop,
            accept,
            api,
            grace: config.shutdown_grace,
            metrics,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, ends subscriptions, waits (up to the grace period) for
    /// requests in flight. Returns whether every connection finished in time.
    pub async fn shutdown(self) -> bool {
        let _ = self.stop.send(true);
        self.api.stop();
        match self.accept.await {
            Ok(graceful) => tokio::time::timeout(self.grace, graceful.shutdown())
                .await
                .is_ok(),
            Err(_) => false,
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    config: ServerConfig,
    mut stop: watch::Receiver<bool>,
) -> GracefulShutdown {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(config.connections_max));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true)
        .max_buf_size(256 << 10);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(config.h2_streams_max)
        .keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_header_list_size(64 << 10);
    let builder = Arc::new(builder);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.changed() => return graceful,
            accepted = listener.accept() => accepted,
        };
        let (stream, _peer) = match accepted {
            Ok(s) => s,
            Err(_) => {
                // Out of file descriptors and the like: back off a little.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let metrics = &shared.metrics;
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        metrics.connections_accepted.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let builder = Arc::clone(&builder);
        let tls = tls.clone();
        let watcher = graceful.watcher();
        let first_request_within = config.header_read_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let metrics = Arc::clone(&shared.metrics);
            metrics.connections_open.fetch_add(1, Ordering::Relaxed);
            let started = Arc::new(AtomicBool::new(false));
            let seen = Arc::clone(&started);
            let service = service_fn(move |request| {
                seen.store(true, Ordering::Relaxed);
                let shared = Arc::clone(&shared);
                async move { Ok::<_, std::convert::Infallible>(handle(shared, request).await) }
            });
            let serve = async {
                match tls {
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(first_request_within, acceptor.accept(stream))
                                .await;
                        let Ok(Ok(stream)) = handshake else {
                            metrics.tls_failures.fetch_add(1, Ordering::Relaxed);
                            return;
                        };
                        let conn = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .into_owned();
                        let _ = watcher.watch(conn).await;
                    }
                    None => {
                        let conn = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .into_owned();
                        let _ = watcher.watch(conn).await;
                    }
                }
            };
            // A connection that has not started a request within the header timeout
            // (stalled before its HTTP version could be told, or mid-handshake) is
            // dropped; after that, hyper's own timeouts apply.
            let deadline = async {
                tokio::time::sleep(first_request_within).await;
                if started.load(Ordering::Relaxed) {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = deadline => {}
            }
            metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}
