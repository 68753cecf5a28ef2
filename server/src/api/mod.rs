//! The operations: one dispatch table per service, each entry a name and how it runs.
//! Adding an operation is one entry in its service's table (`kinesis/mod.rs`,
//! `firehose.rs`) and its handler.
//!
//! How an operation runs decides which thread waits (never a glommio core, never a
//! tokio worker on a blocking engine call):
//! - [`Run::Inline`]: reads that do not wait on a core (GetRecords and the iterator
//!   calls read the mapped log from the calling thread; describe and list calls read
//!   the catalog), run on the tokio worker;
//! - [`Run::Blocking`]: calls that wait for a core or a catalog fsync (create, delete,
//!   reshard, PutRecords, tags, retention), run on tokio's blocking pool;
//! - [`Run::Async`]: calls the engine offers as futures (PutRecord), awaited;
//! - [`Run::Stream`]: SubscribeToShard, answered with an event stream.
#![forbid(unsafe_code)]

pub mod error;
pub mod firehose;
pub mod input;
pub mod kinesis;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use error::ApiError;
use tidelog::Engine;

use crate::wire::{Encoding, Map, Service, Value};

/// A boxed future of an operation's answer.
pub type Answer = Pin<Box<dyn Future<Output = Result<Value, ApiError>> + Send>>;

/// The body of a streaming answer: event stream messages, already framed.
pub type EventReceiver = tokio::sync::mpsc::Receiver<bytes::Bytes>;

/// How an operation runs (see the module doc).
#[derive(Clone, Copy)]
pub enum Run {
    /// On the tokio worker (does not wait on a core).
    Inline(fn(&Api, &Map) -> Result<Value, ApiError>),
    /// On tokio's blocking pool (waits on a core or an fsync).
    Blocking(fn(&Api, &Map) -> Result<Value, ApiError>),
    /// As a future.
    Async(fn(Arc<Api>, Map) -> Answer),
    /// As an event stream.
    Stream(fn(Arc<Api>, Map, Encoding) -> Result<EventReceiver, ApiError>),
    /// Forwarded to the Firehose backend at the JSON level, on the blocking pool.
    Forward,
}

/// One entry of a dispatch table.
#[derive(Clone, Copy)]
pub struct Operation {
    /// The name after the target prefix (`PutRecord`).
    pub name: &'static str,
    /// How it runs.
    pub run: Run,
}

/// Settings the operations need besides the engine. ARNs come from the engine's
/// `arn_scope` (`tidelog serve` sets it from `--region` and `--account-id`).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How long one SubscribeToShard lasts at most (AWS: 5 minutes, which is also the
    /// engine's limit; a shorter one ends the stream earlier).
    pub subscription_lifetime: Duration,
    /// How often a subscription with nothing new sends an empty event (the engine
    /// sends one at least every 5 s; a shorter interval adds more).
    pub heartbeat_interval: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            subscription_lifetime: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(5),
        }
    }
}

/// A Firehose implementation the server forwards `Firehose_20150804.*` calls to, at the
/// JSON level (blobs as base64, timestamps as epoch seconds), as the `tidelog-firehose`
/// crate exposes it.
pub trait FirehoseBackend: Send + Sync + 'static {
    /// Runs `operation` (`PutRecordBatch`) on `input`; may block (it runs on the
    /// blocking pool).
    fn call(
        &self,
        operation: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, ApiError>;
    /// The operations it serves.
    fn operations(&self) -> &'static [&'static str];
    /// How many channels read `stream` (DescribeStreamSummary's ChannelCount), if the
    /// backend runs channels.
    fn channel_count(&self, _stream: &str) -> Option<usize> {
        None
    }
}

/// What every operation runs against.
pub struct Api {
    /// The engine.
    pub engine: Engine,
    /// Settings.
    pub config: ApiConfig,
    /// Delivery streams, when built in.
    pub firehose: Option<Arc<dyn FirehoseBackend>>,
    /// SubscribeToShard calls streaming now (for `/metrics`; the engine keeps the
    /// one-per-consumer-and-shard rule).
    pub subscriptions: kinesis::subscribe::SubscriptionCount,
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("engine", &self.engine)
            .field("config", &self.config)
            .field("firehose", &self.firehose.is_some())
            .finish()
    }
}

/// What an operation answered: a body or an event stream.
pub enum Reply {
    /// A single body.
    Body(Value),
    /// An event stream (SubscribeToShard).
    Events(EventReceiver),
}

impl Api {
    /// An API over `engine` (Kinesis only; see [`with_firehose`](Self::with_firehose)).
    pub fn new(engine: Engine, config: ApiConfig) -> Self {
        Self {
            engine,
            config,
            firehose: None,
            subscriptions: Default::default(),
            stop: tokio::sync::watch::channel(false).0,
        }
    }

    /// This API with delivery streams served by `backend` (`Firehose_20150804.*`).
    pub fn with_firehose(mut self, backend: Arc<dyn FirehoseBackend>) -> Self {
        self.firehose = Some(backend);
        self
    }

    /// Tells long-running answers (subscriptions) to end: the server is stopping.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// True once [`stop`](Self::stop) ran.
    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// A receiver that changes when the server starts stopping.
    pub fn stop_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// The operation `name` of `service`, if this server has it.
    pub fn operation(&self, service: Service, name: &str) -> Option<Operation> {
        match service {
            Service::Kinesis => kinesis::OPERATIONS.iter().find(|o| o.name == name).copied(),
            Service::Firehose => {
                let backend = self.firehose.as_ref()?;
                backend.operations().contains(&name).then_some(Operation {
                    name: firehose::intern(name)?,
                    run: Run::Forward,
                })
            }
        }
    }

    /// Runs an operation on its input.
    pub async fn call(
        self: &Arc<Self>,
        operation: Operation,
        input: Map,
        encoding: Encoding,
    ) -> Result<Reply, ApiError> {
        match operation.run {
            Run::Inline(f) => f(self, &input).map(Reply::Body),
            Run::Blocking(f) => {
                let api = Arc::clone(self);
                tokio::task::spawn_blocking(move || f(&api, &input))
                    .await
                    .map_err(|e| ApiError::internal(format!("operation failed: {e}")))?
                    .map(Reply::Body)
            }
            Run::Async(f) => f(Arc::clone(self), input).await.map(Reply::Body),
            Run::Stream(f) => f(Arc::clone(self), input, encoding).map(Reply::Events),
            Run::Forward => {
                let backend = self.firehose.clone().ok_or_else(|| {
                    ApiError::unknown_operation("Firehose is not built into this server")
                })?;
                let name = operation.name;
                tokio::task::spawn_blocking(move || {
                    firehose::forward(backend.as_ref(), name, &input)
                })
                .await
                .map_err(|e| ApiError::internal(format!("operation failed: {e}")))?
                .map(Reply::Body)
            }
        }
    }

    /// Runs `name` with a JSON-level input: for the command-line tool and tests.
    pub async fn call_json(
        self: &Arc<Self>,
        service: Service,
        name: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        let operation = self
            .operation(service, name)
            .ok_or_else(|| ApiError::unknown_operation(format!("unknown operation {name}")))?;
        let body = serde_json::to_vec(&input).map_err(|e| ApiError::internal(e.to_string()))?;
        let map = Encoding::Json
            .decode(service, &body)
            .map_err(ApiError::serialization)?;
        match self.call(operation, map, Encoding::Json).await? {
            Reply::Body(v) => serde_json::from_slice(&Encoding::Json.encode(&v))
                .map_err(|e| ApiError::internal(e.to_string())),
            Reply::Events(_) => Err(ApiError::invalid_argument(format!(
                "{name} answers with an event stream"
            ))),
        }
    }
}
