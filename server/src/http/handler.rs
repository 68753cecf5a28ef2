//! One request, start to answer: the non-API paths (`/health`, `/metrics`), then for
//! API calls, in order: method (POST), body size (Content-Length, then while reading,
//! within the body timeout), Content-Type (JSON 1.1 or CBOR 1.1), `X-Amz-Target`
//! (service and operation), SigV4, decoding, the operation. Every refusal is AWS's
//! error shape in the request's encoding with an `x-amzn-RequestId`; nothing is run for
//! a request refused before the operation.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};

use super::body::ResponseBody;
use super::metrics::ServerMetrics;
use crate::api::{Api, ApiError, Reply};
use crate::auth::{RequestParts, Verifier};
use crate::wire::{Encoding, Service};

/// What every request handler shares.
pub struct Shared {
    /// The operations.
    pub api: Arc<Api>,
    /// Signature checks.
    pub verifier: Verifier,
    /// Counters.
    pub metrics: Arc<ServerMetrics>,
    /// Largest request body, bytes.
    pub body_bytes_max: usize,
    /// Longest a request body may take to arrive.
    pub body_timeout: Duration,
    /// Serve `/metrics` without a signature.
    pub metrics_public: bool,
    request_ids: RequestIds,
}

impl Shared {
    /// Handler state.
    pub fn new(
        api: Arc<Api>,
        verifier: Verifier,
        metrics: Arc<ServerMetrics>,
        body_bytes_max: usize,
        body_timeout: Duration,
        metrics_public: bool,
    ) -> Self {
        Self {
            api,
            verifier,
            metrics,
            body_bytes_max,
            body_timeout,
            metrics_public,
            request_ids: RequestIds::new(),
        }
    }
}

/// Request ids in the UUID form AWS uses: a random start, then a counter mixed by
/// splitmix64 (unique within a run, unpredictable enough to not leak counts).
struct RequestIds {
    seed: u64,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        let mut seed = [0u8; 8];
        let _ = rustix::rand::getrandom(&mut seed, rustix::rand::GetRandomFlags::empty());
        Self {
            seed: u64::from_le_bytes(seed),
            next: AtomicU64::new(0),
        }
    }

    fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mix = |mut z: u64| {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let a = mix(self.seed.wrapping_add(n.wrapping_mul(2)));
        let b = mix(self.seed.wrapping_add(n.wrapping_mul(2) + 1));
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

fn respond(
    status: u16,
    request_id: &str,
    content_type: &str,
    body: ResponseBody,
) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}

fn error_response(
    e: &ApiError,
    encoding: Encoding,
    request_id: &str,
    metrics: &ServerMetrics,
) -> Response<ResponseBody> {
    let body = encoding.encode(&e.body());
    metrics
        .bytes_out
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    let mut r = respond(
        e.status,
        request_id,
        encoding.content_type(),
        ResponseBody::full(body),
    );
    if let Ok(v) = HeaderValue::from_str(e.code) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Answers one request.
pub async fn handle<B>(shared: Arc<Shared>, request: Request<B>) -> Response<ResponseBody>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let request_id = shared.request_ids.next();
    let metrics = Arc::clone(&shared.metrics);
    let (parts, body) = request.into_parts();

    // Plain HTTP paths: health and metrics.
    if parts.method == Method::GET || parts.method == Method::HEAD {
        return match parts.uri.path() {
            "/health" | "/healthz" => {
                let ok = !shared.api.engine.is_closed() && !shared.api.is_stopping();
                let (status, text) = if ok {
                    (200, "{\"status\":\"ok\"}")
                } else {
                    (503, "{\"status\":\"stopping\"}")
                };
                respond(
                    status,
                    &request_id,
                    "application/json",
                    ResponseBody::full(text),
                )
            }
            "/metrics" if shared.metrics_public => {
                let mut text = shared.metrics.render(shared.api.subscriptions.len());
                match shared.api.engine.metrics_openmetrics() {
                    Ok(engine) => text.push_str(&engine),
                    Err(_) => text.push_str("# EOF\n"),
                }
                respond(
                    200,
                    &request_id,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ResponseBody::full(text),
                )
            }
            _ => {
                let e = ApiError {
                    code: "AccessDeniedException",
                    message: "Unable to determine service/operation name to be authorized"
                        .to_string(),
                    status: 403,
                };
                error_response(&e, Encoding::Json, &request_id, &metrics)
            }
        };
    }

    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let encoding_given = Encoding::from_content_type(content_type);
    let encoding = encoding_given.unwrap_or(Encoding::Json);
    let finish = |service: &str, op: &str, r: Result<Response<ResponseBody>, ApiError>| {
        let (outcome, response) = match r {
            Ok(resp) => ("ok", resp),
            Err(e) => (e.code, error_response(&e, encoding, &request_id, &metrics)),
        };
        metrics.request(service, op, outcome, started.elapsed());
        response
    };

    if parts.method != Method::POST {
        let e = ApiError {
            code: "AccessDeniedException",
            message: "Unable to determine service/operation name to be authorized".to_string(),
            status: 403,
        };
        return finish("-", "-", Err(e));
    }

    // The body, bounded in size and time.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || ApiError {
        code: "ValidationException",
        message: format!(
            "the request body exceeds this server's limit of {} bytes",
            shared.body_bytes_max
        ),
        status: 413,
    };
    if declared.is_some_and(|n| n > shared.body_bytes_max as u64) {
        return finish("-", "-", Err(too_large()));
    }
    let collected = tokio::time::timeout(
        shared.body_timeout,
        Limited::new(body, shared.body_bytes_max).collect(),
    )
    .await;
    let body: Bytes = match collected {
        Err(_) => {
            let e = ApiError {
                code: "RequestTimeoutException",
                message: format!(
                    "the request body did not arrive within {} s",
                    shared.body_timeout.as_secs()
                ),
                status: 408,
            };
            return finish("-", "-", Err(e));
        }
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return finish("-", "-", Err(too_large()));
        }
        Ok(Err(e)) => {
            let e = ApiError::serialization(format!("the request body could not be read: {e}"));
            return finish("-", "-", Err(e));
        }
        Ok(Ok(c)) => c.to_bytes(),
    };
    metrics
        .bytes_in
        .fetch_add(body.len() as u64, Ordering::Relaxed);

    if encoding_given.is_none() {
        let e = ApiError {
            code: "UnknownOperationException",
            message: format!(
                "Content-Type {content_type:?} is not one this service accepts \
                 (application/x-amz-json-1.1, application/x-amz-cbor-1.1)"
            ),
            status: 404,
        };
        return finish("-", "-", Err(e));
    }

    // Service and operation.
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (prefix, op_name) = target.split_once('.').unwrap_or((target, ""));
    let Some(service) = Service::from_prefix(prefix) else {
        let e = ApiError::unknown_operation(format!("unknown X-Amz-Target {target:?}"));
        return finish("-", "-", Err(e));
    };
    let service_label = service.signing_name();
    let Some(operation) = shared.api.operation(service, op_name) else {
        let e = ApiError::unknown_operation(format!(
            "{op_name:?} is not an operation of {prefix} this server answers"
        ));
        return finish(service_label, "-", Err(e));
    };
    let op_label = operation.name;

    // Who is asking.
    let request_parts = RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        authority: parts.uri.authority().map(|a| a.as_str()),
        body: &body,
        http2: parts.version == http::Version::HTTP_2,
    };
    if let Err(e) = shared
        .verifier
        .verify(&request_parts, service.signing_name(), now_secs())
    {
        return finish(service_label, op_label, Err(e));
    }
    if shared.api.is_stopping() {
        let e = ApiError::unavailable("the server is shutting down");
        return finish(service_label, op_label, Err(e));
    }

    let input = match encoding.decode(service, &body) {
        Ok(m) => m,
        Err(problem) => {
            return finish(
                service_label,
                op_label,
                Err(ApiError::serialization(problem)),
            );
        }
    };
    drop(body);
    let result = shared
        .api
        .call(operation, input, encoding)
        .await
        .map(|reply| match reply {
            Reply::Body(value) => {
                let bytes = encoding.encode(&value);
                metrics
                    .bytes_out
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                respond(
                    200,
                    &request_id,
                    encoding.content_type(),
                    ResponseBody::full(bytes),
                )
            }
            Reply::Events(rx) => respond(
                200,
                &request_id,
                "application/vnd.amazon.eventstream",
                ResponseBody::Events {
                    rx,
                    metrics: Arc::clone(&metrics),
                },
            ),
        });
    finish(service_label, op_label, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_uuids() {
        let ids = RequestIds::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = ids.next();
            assert_eq!(id.len(), 36, "{id}");
            assert_eq!(&id[14..15], "4");
            assert!(seen.insert(id));
        }
    }
}
