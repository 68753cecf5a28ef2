//! A small client of the server's wire protocol (AWS JSON 1.1 or CBOR 1.1 over HTTP/1.1,
//! SigV4-signed when given keys): the command-line tool's remote mode, the tests and
//! the benchmarks use it. Connections are pooled and kept alive.
#![forbid(unsafe_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::auth::sigv4;
use crate::wire::{Encoding, Map, Service, Value, eventstream};

/// An access key and its secret.
#[derive(Clone)]
pub struct Credentials {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// An error answer of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// AWS's error name.
    pub code: String,
    /// The message.
    pub message: String,
    /// HTTP status.
    pub status: u16,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("{}: {}", .0.code, .0.message)]
    Api(RemoteError),
    /// The request could not be sent or the answer not read.
    #[error("cannot reach the server: {0}")]
    Transport(String),
}

impl ClientError {
    /// The AWS error name, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api(e) => Some(&e.code),
            ClientError::Transport(_) => None,
        }
    }
}

/// A client of one server.
#[derive(Clone, Debug)]
pub struct Client {
    endpoint: Uri,
    authority: String,
    http: HttpClient<HttpConnector, Full<Bytes>>,
    credentials: Option<Credentials>,
    region: String,
    encoding: Encoding,
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Client {
    /// A client of `endpoint` (`http://127.0.0.1:4567`), signing with `credentials`
    /// when given, for `region`, in `encoding`.
    pub fn new(
        endpoint: &str,
        credentials: Option<Credentials>,
        region: &str,
        encoding: Encoding,
    ) -> Result<Self, ClientError> {
        let endpoint: Uri = endpoint
            .parse()
            .map_err(|e| ClientError::Transport(format!("bad endpoint {endpoint:?}: {e}")))?;
        if endpoint.scheme_str() != Some("http") {
            return Err(ClientError::Transport(format!(
                "endpoint {endpoint} is not http:// (this client speaks cleartext HTTP/1.1)"
            )));
        }
        let authority = endpoint
            .authority()
            .ok_or_else(|| ClientError::Transport(format!("endpoint {endpoint} has no host")))?
            .to_string();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(Self {
            endpoint,
            authority,
            http,
            credentials,
            region: region.to_string(),
            encoding,
        })
    }

    /// The encoding requests are sent in.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    fn request(&self, service: Service, operation: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&self.authority) {
            headers.insert(header::HOST, v);
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.encoding.content_type()),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("{}.{operation}", service.target_prefix())) {
            headers.insert("x-amz-target", v);
        }
        if let Some(c) = &self.credentials {
            let (date, authorization) = sigv4::sign(
                "POST",
                "/",
                "",
                &headers,
                &body,
                &c.access_key,
                &c.secret,
                &self.region,
                service.signing_name(),
                now_secs(),
            );
            if let (Ok(d), Ok(a)) = (
                HeaderValue::from_str(&date),
                HeaderValue::from_str(&authorization),
            ) {
                headers.insert("x-amz-date", d);
                headers.insert(header::AUTHORIZATION, a);
            }
        }
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.endpoint.clone();
        *request.headers_mut() = headers;
        request
    }

    async fn send(
        &self,
        service: Service,
        operation: &str,
        input: &Value,
    ) -> Result<http::Response<Incoming>, ClientError> {
        let body = self.encoding.encode(input);
        self.http
            .request(self.request(service, operation, body))
            .await
            .map_err(|e| ClientError::Transport(format!("{}: {}", self.endpoint, chain(&e))))
    }

    fn error_of(&self, status: u16, body: &[u8], service: Service) -> ClientError {
        let map = self.encoding.decode(service, body).unwrap_or_default();
        let text = |k: &str| match map.get(k) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        };
        ClientError::Api(RemoteError {
            code: text("__type").unwrap_or_else(|| format!("HTTP{status}")),
            message: text("message")
                .or_else(|| text("Message"))
                .unwrap_or_default(),
            status,
        })
    }

    /// Calls `operation` and returns its answer.
    pub async fn call(
        &self,
        service: Service,
        operation: &str,
        input: &Value,
    ) -> Result<Map, ClientError> {
        let response = self.send(service, operation, input).await?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?
            .to_bytes();
        if status != 200 {
            return Err(self.error_of(status, &body, service));
        }
        if body.is_empty() {
            return Ok(Map::new()); // some servers answer output-less operations so
        }
        self.encoding
            .decode(service, &body)
            .map_err(|e| ClientError::Transport(format!("undecodable answer: {e}")))
    }

    /// Calls `operation` with a JSON-form input (blobs as base64, timestamps as epoch
    /// seconds) and returns the JSON-form answer.
    pub async fn call_json(
        &self,
        service: Service,
        operation: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let bytes =
            serde_json::to_vec(&input).map_err(|e| ClientError::Transport(e.to_string()))?;
        let map = crate::wire::json::decode(service, &bytes)
            .map_err(|e| ClientError::Transport(format!("bad input: {e}")))?;
        let out = self.call(service, operation, &Value::Map(map)).await?;
        serde_json::from_slice(&crate::wire::json::encode(&Value::Map(out)))
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    /// Starts SubscribeToShard and returns its event stream.
    pub async fn subscribe_to_shard(&self, input: &Value) -> Result<EventStream, ClientError> {
        let response = self
            .send(Service::Kinesis, "SubscribeToShard", input)
            .await?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?
                .to_bytes();
            return Err(self.error_of(status, &body, Service::Kinesis));
        }
        Ok(EventStream {
            body: response.into_body(),
            buffer: Vec::new(),
        })
    }

    /// GET of a plain path (`/metrics`, `/health`): status and body text.
    pub async fn get(&self, path: &str) -> Result<(u16, String), ClientError> {
        let uri: Uri = format!("http://{}{path}", self.authority)
            .parse()
            .map_err(|e| ClientError::Transport(format!("{e}")))?;
        let response = self
            .http
            .get(uri)
            .await
            .map_err(|e| ClientError::Transport(format!("{}: {}", self.endpoint, chain(&e))))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// The messages of an event stream answer, decoded as they arrive.
#[derive(Debug)]
pub struct EventStream {
    body: Incoming,
    buffer: Vec<u8>,
}

impl EventStream {
    /// The next message; `None` once the stream ended.
    pub async fn next(&mut self) -> Result<Option<eventstream::Message>, ClientError> {
        loop {
            match eventstream::decode(&self.buffer)
                .map_err(|e| ClientError::Transport(format!("bad event stream: {e}")))?
            {
                Some((message, used)) => {
                    self.buffer.drain(..used);
                    return Ok(Some(message));
                }
                None => match self.body.frame().await {
                    None => {
                        return if self.buffer.is_empty() {
                            Ok(None)
                        } else {
                            Err(ClientError::Transport(
                                "the event stream ended inside a message".to_string(),
                            ))
                        };
                    }
                    Some(Err(e)) => return Err(ClientError::Transport(e.to_string())),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            self.buffer.extend_from_slice(&data);
                        }
                    }
                },
            }
        }
    }
}
