//! Starting a real server in-process for the integration tests: an engine on a fresh
//! data directory (one core, unpinned), the HTTP server on a free port of 127.0.0.1.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tidelog::{Durability, Engine, EngineConfig, Limits};
use tidelog_server::api::{Api, ApiConfig};
use tidelog_server::auth::Verifier;
use tidelog_server::client::{Client, Credentials};
use tidelog_server::http::{RunningServer, ServerConfig};
use tidelog_server::wire::Encoding;

pub const KEY: &str = "AKIDRUSTTEST";
pub const SECRET: &str = "rust-test-secret";

pub struct TestServer {
    pub server: RunningServer,
    pub api: Arc<Api>,
    pub dir: tempfile::TempDir,
    pub firehose: Option<tidelog_firehose::Firehose>,
}

impl TestServer {
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn client(&self, encoding: Encoding) -> Client {
        Client::new(
            &self.endpoint(),
            Some(Credentials {
                access_key: KEY.into(),
                secret: SECRET.into(),
            }),
            "us-east-1",
            encoding,
        )
        .unwrap()
    }

    pub async fn stop(self) {
        assert!(
            self.server.shutdown().await,
            "shutdown within the grace period"
        );
        if let Some(f) = &self.firehose {
            f.close().unwrap();
        }
        self.api.engine.close().unwrap();
    }
}

pub fn verifier() -> Verifier {
    Verifier {
        keys: HashMap::from([(KEY.to_string(), SECRET.to_string())]),
        allow_anonymous: false,
        skew: Duration::from_secs(900),
        region: None,
    }
}

pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig, &mut ApiConfig)) -> TestServer {
    start_full(false, adjust).await
}

/// A server with Firehose opened beside the engine (buckets as directories under
/// `<data dir>/firehose/buckets`).
pub async fn start_with_firehose() -> TestServer {
    start_full(true, |_, _| {}).await
}

pub async fn start_full(
    with_firehose: bool,
    adjust: impl FnOnce(&mut ServerConfig, &mut ApiConfig),
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = EngineConfig::new(dir.path());
    engine.cores = Some(1);
    engine.pin_cores = false;
    engine.limits = Limits::unlimited();
    engine.durability = Durability::Os;
    engine.arn_scope.region = "us-east-1".to_string();
    let engine = tokio::task::spawn_blocking(move || Engine::open(engine).unwrap())
        .await
        .unwrap();
    let mut config = ServerConfig::new(verifier());
    config.listen = "127.0.0.1:0".parse().unwrap();
    let mut api_config = ApiConfig::default();
    adjust(&mut config, &mut api_config);
    let firehose = if with_firehose {
        let engine = engine.clone();
        Some(
            tokio::task::spawn_blocking(move || {
                let mut c = tidelog_firehose::FirehoseConfig::new();
                c.region = "us-east-1".to_string();
                tidelog_firehose::Firehose::open(&engine, c).unwrap()
            })
            .await
            .unwrap(),
        )
    } else {
        None
    };
    let mut api = Api::new(engine, api_config);
    if let Some(f) = &firehose {
        api = api.with_firehose(Arc::new(tidelog_server::api::firehose::FirehoseService(
            f.clone(),
        )));
    }
    let api = Arc::new(api);
    let server = RunningServer::start(Arc::clone(&api), config)
        .await
        .unwrap();
    TestServer {
        server,
        api,
        dir,
        firehose,
    }
}

/// Registers consumer `name` on `stream` (ACTIVE at once with the default
/// transition) and returns its ARN.
pub async fn register_consumer(s: &TestServer, stream: &str, name: &str) -> String {
    let engine = s.api.engine.clone();
    let (stream, name) = (stream.to_string(), name.to_string());
    tokio::task::spawn_blocking(move || {
        engine
            .register_stream_consumer(&stream, &name, &Default::default())
            .unwrap()
            .arn
    })
    .await
    .unwrap()
}

pub async fn start() -> TestServer {
    start_with(|_, _| {}).await
}
