//! SubscribeToShard over HTTP/2 from hyper's client (h2c with prior knowledge, and h2
//! over TLS chosen by ALPN with a rustls client), over HTTP/1.1 from this crate's
//! client, and presigned requests on the wire.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tidelog_server::auth::sigv4;
use tidelog_server::wire::{Encoding, Map, Service, Value, eventstream, json};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use common::*;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn subscribe_body(consumer_arn: &str) -> Vec<u8> {
    json::encode(
        &Map::new()
            .with("ConsumerARN", consumer_arn)
            .with("ShardId", "shardId-000000000000")
            .with("StartingPosition", Map::new().with("Type", "TRIM_HORIZON"))
            .into(),
    )
}

fn signed_request(uri: &str, authority: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    let mut headers = HeaderMap::new();
    headers.insert("host", authority.parse().unwrap());
    headers.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    headers.insert(
        "x-amz-target",
        "Kinesis_20131202.SubscribeToShard".parse().unwrap(),
    );
    let (date, auth) = sigv4::sign(
        "POST",
        "/",
        "",
        &headers,
        &body,
        KEY,
        SECRET,
        "us-east-1",
        "kinesis",
        now(),
    );
    headers.insert("x-amz-date", date.parse().unwrap());
    headers.insert("authorization", auth.parse().unwrap());
    // HTTP/2 carries the authority in :authority (from the URI), not in Host.
    headers.remove("host");
    let mut request = Request::new(Full::new(Bytes::from(body)));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri.parse().unwrap();
    *request.headers_mut() = headers;
    request
}

async fn put(s: &TestServer, stream: &str, data: &str) {
    s.client(Encoding::Json)
        .call(
            Service::Kinesis,
            "PutRecord",
            &Map::new()
                .with("StreamName", stream)
                .with("PartitionKey", "p")
                .with("ExplicitHashKey", "0")
                .with("Data", Value::Bytes(data.as_bytes().to_vec().into()))
                .into(),
        )
        .await
        .unwrap();
}

/// Reads events until `n` records arrived; checks the first is initial-response.
async fn read_records<B>(mut body: B, n: usize) -> Vec<String>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut buffer = Vec::new();
    let mut records = Vec::new();
    let mut first = true;
    while records.len() < n {
        let frame = tokio::time::timeout(Duration::from_secs(20), body.frame())
            .await
            .expect("an event within 20 s")
            .expect("the stream goes on")
            .unwrap();
        buffer.extend_from_slice(&frame.into_data().unwrap());
        while let Some((message, used)) = eventstream::decode(&buffer).unwrap() {
            buffer.drain(..used);
            assert_eq!(message.header(":message-type"), Some("event"));
            if first {
                assert_eq!(message.header(":event-type"), Some("initial-response"));
                first = false;
                continue;
            }
            assert_eq!(message.header(":event-type"), Some("SubscribeToShardEvent"));
            let event = json::decode(Service::Kinesis, &message.payload).unwrap();
            let Some(Value::List(list)) = event.get("Records") else {
                panic!()
            };
            for r in list {
                let Some(Value::Bytes(b)) = r.as_map().unwrap().get("Data") else {
                    panic!()
                };
                records.push(String::from_utf8(b.to_vec()).unwrap());
            }
        }
    }
    records
}

async fn create(s: &TestServer, stream: &str) {
    s.client(Encoding::Json)
        .call(
            Service::Kinesis,
            "CreateStream",
            &Map::new()
                .with("StreamName", stream)
                .with("ShardCount", 1u32)
                .into(),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_subscribe() {
    let s = start().await;
    create(&s, "h2c").await;
    let consumer = register_consumer(&s, "h2c", "c").await;
    put(&s, "h2c", "before").await;
    let tcp = TcpStream::connect(s.addr()).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let authority = s.addr().to_string();
    let response = sender
        .send_request(signed_request(
            &format!("http://{authority}/"),
            &authority,
            subscribe_body(&consumer),
        ))
        .await
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let body = response.into_body();
    let reader = tokio::spawn(read_records(body, 3));
    tokio::time::sleep(Duration::from_millis(200)).await;
    put(&s, "h2c", "after 1").await;
    put(&s, "h2c", "after 2").await;
    assert_eq!(reader.await.unwrap(), ["before", "after 1", "after 2"]);
    s.stop().await;
}

fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .output()
        .expect("openssl (the test makes its certificate with it)");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_over_tls_by_alpn() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(certs.path());
    let s = start_with(|c, _| c.tls = Some((cert.clone(), key.clone()))).await;
    // Streams are created over TLS too: a client of our own would need TLS, so use the
    // API directly for the setup.
    let api = Arc::clone(&s.api);
    api.call_json(
        Service::Kinesis,
        "CreateStream",
        serde_json::json!({"StreamName": "tls", "ShardCount": 1}),
    )
    .await
    .unwrap();
    api.call_json(
        Service::Kinesis,
        "PutRecord",
        serde_json::json!({"StreamName": "tls", "PartitionKey": "p", "Data": "dGxz"}),
    )
    .await
    .unwrap();
    let consumer = register_consumer(&s, "tls", "c").await;

    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(s.addr()).await.unwrap();
    let tls = connector
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let authority = s.addr().to_string();
    let response = sender
        .send_request(signed_request(
            &format!("https://{authority}/"),
            &authority,
            subscribe_body(&consumer),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(read_records(response.into_body(), 1).await, ["tls"]);
    // A client that does not trust the certificate gets nowhere.
    let bad = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let tcp = TcpStream::connect(s.addr()).await.unwrap();
    assert!(
        tokio_rustls::TlsConnector::from(Arc::new(bad))
            .connect(
                rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
                tcp
            )
            .await
            .is_err()
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_subscribe_with_our_client_and_lifetime_end() {
    let s = start_with(|_, api| {
        api.subscription_lifetime = Duration::from_secs(2);
        api.heartbeat_interval = Duration::from_millis(300);
    })
    .await;
    create(&s, "h1").await;
    let consumer = register_consumer(&s, "h1", "c").await;
    put(&s, "h1", "one").await;
    let client = s.client(Encoding::Cbor);
    let input = Map::new()
        .with("ConsumerARN", consumer.as_str())
        .with("ShardId", "shardId-000000000000")
        .with("StartingPosition", Map::new().with("Type", "TRIM_HORIZON"))
        .into();
    // Timed from before the call: the server's lifetime starts after the request
    // arrives, so the stream cannot end sooner than the lifetime after this instant.
    let started = std::time::Instant::now();
    let mut events = client.subscribe_to_shard(&input).await.unwrap();
    // Within 5 s of the last SubscribeToShard, another for the same consumer and shard
    // is refused (AWS's rule). Checked at once, not after the 2 s stream: on a loaded
    // machine that can end more than 5 s after the call.
    let err = client.subscribe_to_shard(&input).await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceInUseException"));
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(first.header(":event-type"), Some("initial-response"));
    assert_eq!(
        first.header(":content-type"),
        Some("application/x-amz-cbor-1.1")
    );
    let (mut records, mut heartbeats) = (0, 0);
    while let Some(m) = events.next().await.unwrap() {
        let body = tidelog_server::wire::cbor::decode(Service::Kinesis, &m.payload).unwrap();
        match body.get("Records") {
            Some(Value::List(l)) if l.is_empty() => heartbeats += 1,
            Some(Value::List(l)) => records += l.len(),
            other => panic!("{other:?}"),
        }
    }
    // The stream ended by itself at its lifetime (2 s; the default is 300 s), after
    // heartbeats.
    let lasted = started.elapsed();
    assert!(
        lasted >= Duration::from_millis(1900) && lasted < Duration::from_secs(60),
        "{lasted:?}"
    );
    assert_eq!(records, 1);
    assert!(heartbeats >= 3, "{heartbeats}");
    // An unknown consumer of an existing stream is not found.
    let unknown = Map::new()
        .with(
            "ConsumerARN",
            format!("{}/consumer/nobody:1", s.api.engine.stream_arn("h1")),
        )
        .with("ShardId", "shardId-000000000000")
        .with("StartingPosition", Map::new().with("Type", "LATEST"))
        .into();
    let err = client.subscribe_to_shard(&unknown).await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_requests_on_the_wire() {
    let s = start().await;
    let authority = s.addr().to_string();
    let send = |query: String, body: &'static [u8]| {
        let authority = authority.clone();
        async move {
            let tcp = TcpStream::connect(&authority).await.unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .unwrap();
            tokio::spawn(conn);
            let request = Request::builder()
                .method("POST")
                .uri(format!("/?{query}"))
                .header("host", &authority)
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amz-target", "Kinesis_20131202.ListStreams")
                .body(Full::new(Bytes::from_static(body)))
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            let status = response.status().as_u16();
            let text = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&text).into_owned())
        }
    };
    let presign = |host: &str, service: &str, at: i64, body: &[u8]| {
        let mut headers = HeaderMap::new();
        headers.insert("host", host.parse().unwrap());
        headers.insert(
            "x-amz-target",
            "Kinesis_20131202.ListStreams".parse().unwrap(),
        );
        sigv4::presign(
            "POST",
            "/",
            &headers,
            body,
            KEY,
            SECRET,
            "us-east-1",
            service,
            at,
            300,
        )
    };
    let (status, body) = send(presign(&authority, "kinesis", now(), b"{}"), b"{}").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(
        presign(&authority, "kinesis", now(), b"{}"),
        b"{\"Limit\":1}",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("InvalidSignatureException"), "{body}");
    let (status, body) = send(presign(&authority, "kinesis", now() - 400, b"{}"), b"{}").await;
    assert_eq!(status, 400);
    assert!(
        body.contains("InvalidSignatureException") && body.contains("expired"),
        "{body}"
    );
    let (_, body) = send(presign("elsewhere:1", "kinesis", now(), b"{}"), b"{}").await;
    assert!(body.contains("InvalidSignatureException"), "{body}");
    let (_, body) = send(presign(&authority, "firehose", now(), b"{}"), b"{}").await;
    assert!(
        body.contains("Credential should be scoped to correct service"),
        "{body}"
    );
    s.stop().await;
}
