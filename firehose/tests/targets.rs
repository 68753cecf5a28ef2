//! The HTTP endpoint and Redshift (PostgreSQL) destinations against real servers the
//! test starts on 127.0.0.1: an HTTP receiver in this file that checks every header and
//! field and answers errors, slow responses and dropped connections on demand; and a
//! PostgreSQL server (tests/services/postgres.sh: Debian's package, initdb in a
//! temporary directory, run as an unprivileged user). Without PostgreSQL the database
//! tests say so and pass, unless TIDELOG_REQUIRE_SERVICES is set.
#![forbid(unsafe_code)]

mod common;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};

// -- the HTTP receiver --------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Answer {
    Ok,
    Status(u16),
    Slow(Duration),
    Drop,
    WrongId,
}

#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Receiver {
    script: Mutex<VecDeque<Answer>>,
    default: Mutex<Option<Answer>>,
    seen: Mutex<Vec<Request>>,
}

fn serve(listener: TcpListener, receiver: Arc<Receiver>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { return };
        let receiver = Arc::clone(&receiver);
        std::thread::spawn(move || {
            let _ = connection(stream, &receiver);
        });
    }
}

fn connection(stream: TcpStream, receiver: &Receiver) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        assert!(line.starts_with("POST "), "{line}");
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .expect("a Content-Length");
        let mut raw = vec![0; len];
        reader.read_exact(&mut raw)?;
        let gzip = headers
            .iter()
            .any(|(k, v)| k == "content-encoding" && v == "gzip");
        let raw = if gzip {
            let mut d = Vec::new();
            flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut d)?;
            d
        } else {
            raw
        };
        let body: Value = serde_json::from_slice(&raw).expect("a JSON body");
        let answer = receiver
            .script
            .lock()
            .unwrap()
            .pop_front()
            .or_else(|| receiver.default.lock().unwrap().clone())
            .unwrap_or(Answer::Ok);
        receiver.seen.lock().unwrap().push(Request {
            path,
            headers,
            body: body.clone(),
        });
        let id = body["requestId"].as_str().unwrap_or("").to_string();
        let respond = |out: &mut TcpStream, status: u16, text: String| {
            write!(
                out,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            )
        };
        match answer {
            Answer::Ok => respond(
                &mut out,
                200,
                json!({"requestId": id, "timestamp": 1}).to_string(),
            )?,
            Answer::WrongId => respond(
                &mut out,
                200,
                json!({"requestId": "someone-else", "timestamp": 1}).to_string(),
            )?,
            Answer::Status(s) => respond(&mut out, s, "{\"error\": \"no\"}".to_string())?,
            Answer::Slow(d) => {
                std::thread::sleep(d);
                respond(
                    &mut out,
                    200,
                    json!({"requestId": id, "timestamp": 1}).to_string(),
                )?;
            }
            Answer::Drop => return Ok(()),
        }
    }
}

fn receiver() -> (Arc<Receiver>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/ingest",
        listener.local_addr().unwrap().port()
    );
    let r = Arc::new(Receiver::default());
    let served = Arc::clone(&r);
    std::thread::spawn(move || serve(listener, served));
    (r, url)
}

fn http_stream(env: &Env, name: &str, url: &str, extra: Value) -> Value {
    let mut config = json!({
        "EndpointConfiguration": {"Url": url, "Name": "receiver", "AccessKey": "secret-key"},
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
        "RequestConfiguration": {"ContentEncoding": "GZIP",
                                 "CommonAttributes": [{"AttributeName": "team", "AttributeValue": "data"}]},
        "RetryOptions": {"DurationInSeconds": 60},
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::failed", "ErrorOutputPrefix": "err/!{firehose:error-output-type}/"},
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    env.ok(
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": name, "HttpEndpointDestinationConfiguration": config}),
    )
}

fn records_of(request: &Request) -> Vec<Vec<u8>> {
    request.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            base64::engine::general_purpose::STANDARD
                .decode(r["data"].as_str().unwrap())
                .unwrap()
        })
        .collect()
}

#[test]
fn http_requests_carry_every_header_and_field() {
    let env = Env::new();
    let (rx, url) = receiver();
    http_stream(&env, "web", &url, json!({}));
    let recs: Vec<Vec<u8>> = vec![b"one".to_vec(), b"two".to_vec(), b"{\"three\":3}".to_vec()];
    put_batch(&env, "web", &recs);
    env.firehose.flush("web", Duration::from_secs(60)).unwrap();
    let seen = rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.path, "/ingest");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("x-amz-firehose-protocol-version"), Some("1.0"));
    assert_eq!(r.header("x-amz-firehose-access-key"), Some("secret-key"));
    assert_eq!(
        r.header("x-amz-firehose-source-arn"),
        Some("arn:aws:firehose:local:000000000000:deliverystream/web")
    );
    let attrs: Value =
        serde_json::from_str(r.header("x-amz-firehose-common-attributes").unwrap()).unwrap();
    assert_eq!(attrs, json!({"commonAttributes": {"team": "data"}}));
    let id = r.body["requestId"].as_str().unwrap();
    assert_eq!(r.header("x-amz-firehose-request-id"), Some(id));
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(r.body["timestamp"], json!(START_MS));
    assert_eq!(records_of(r), recs);
    let m = env.firehose.metrics("web").unwrap();
    assert_eq!(m.delivery_to_http_endpoint_records, 3);
    assert_eq!(m.delivery_to_http_endpoint_success, 1.0);
    let d = env.ok(
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "web"}),
    );
    let desc =
        &d["DeliveryStreamDescription"]["Destinations"][0]["HttpEndpointDestinationDescription"];
    assert_eq!(desc["EndpointConfiguration"]["Url"], json!(url));
    assert!(
        desc["EndpointConfiguration"].get("AccessKey").is_none(),
        "the key is never described"
    );
    assert_eq!(
        desc["S3DestinationDescription"]["BucketARN"],
        "arn:aws:s3:::failed"
    );
}

#[test]
fn http_failures_are_retried_with_the_same_request_id_and_backoff_on_the_clock() {
    let env = Env::with(
        |_| {},
        // Long enough that no quick answer times out on a loaded machine (a timed-out
        // Ok would be one more failure and no delivery); the slow answer outlasts it.
        |c| c.http_request_timeout = Duration::from_secs(5),
    );
    let (rx, url) = receiver();
    rx.script.lock().unwrap().extend([
        Answer::Status(500),
        Answer::Drop,
        Answer::Slow(Duration::from_secs(60)),
        Answer::WrongId,
        Answer::Status(503),
        Answer::Ok,
    ]);
    http_stream(
        &env,
        "flaky",
        &url,
        json!({"RetryOptions": {"DurationInSeconds": 7200}}),
    );
    put_batch(&env, "flaky", &[b"payload".to_vec()]);
    assert!(
        env.firehose
            .flush("flaky", Duration::from_secs(20))
            .is_err()
    );
    for _ in 0..5 {
        let before = rx.seen.lock().unwrap().len();
        // Backoff: 1 s, 2 s, 4 s, 8 s ... (±15%): 999 ms never triggers a retry.
        env.clock.advance_ms(100);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            rx.seen.lock().unwrap().len(),
            before,
            "no retry before the backoff"
        );
        env.clock.advance_ms(20_000);
        env.firehose.wake();
        wait_for("the next attempt", || {
            (rx.seen.lock().unwrap().len() > before).then_some(())
        });
    }
    wait_for("delivery", || {
        (env.firehose
            .metrics("flaky")
            .unwrap()
            .delivery_to_http_endpoint_records
            == 1)
            .then_some(())
    });
    let seen = rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 6);
    let ids: Vec<&str> = seen
        .iter()
        .map(|r| r.body["requestId"].as_str().unwrap())
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one request id across retries: {ids:?}"
    );
    assert!(
        env.firehose
            .metrics("flaky")
            .unwrap()
            .delivery_to_http_endpoint_success
            < 1.0
    );
    assert!(objects(&env.bucket("failed")).is_empty());
}

#[test]
fn http_413_and_an_expired_retry_duration_send_records_to_s3() {
    let env = Env::new();
    let (rx, url) = receiver();
    rx.script.lock().unwrap().push_back(Answer::Status(413));
    http_stream(
        &env,
        "big",
        &url,
        json!({"S3BackupMode": "AllData",
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::failed", "Prefix": "all/",
                            "ErrorOutputPrefix": "err/!{firehose:error-output-type}/"}}),
    );
    put_batch(&env, "big", &[b"too big".to_vec()]);
    env.firehose.flush("big", Duration::from_secs(60)).unwrap();
    assert_eq!(rx.seen.lock().unwrap().len(), 1, "413 is not retried");
    let objs = objects(&env.bucket("failed"));
    let errors: Vec<_> = objs
        .iter()
        .filter(|(k, _)| k.starts_with("err/http-endpoint-failed/"))
        .collect();
    assert_eq!(errors.len(), 1, "{objs:?}");
    let doc: Value = serde_json::from_slice(&errors[0].1).unwrap();
    assert_eq!(doc["errorCode"], "HttpEndpoint.PayloadTooLarge");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(doc["rawData"].as_str().unwrap())
            .unwrap(),
        b"too big"
    );
    assert!(
        objs.iter()
            .any(|(k, v)| k.starts_with("all/") && v == b"too big"),
        "AllData backs up every record"
    );

    // An endpoint that always fails: retried until the retry duration, then to S3.
    *rx.default.lock().unwrap() = Some(Answer::Status(503));
    http_stream(
        &env,
        "down",
        &url,
        json!({"RetryOptions": {"DurationInSeconds": 30}}),
    );
    put_batch(&env, "down", &[b"lost cause".to_vec()]);
    assert!(env.firehose.flush("down", Duration::from_secs(20)).is_err());
    for _ in 0..10 {
        env.clock.advance_ms(5_000);
        env.firehose.wake();
        std::thread::sleep(Duration::from_millis(30));
    }
    wait_for("the error object", || {
        objects(&env.bucket("failed")).into_iter().find(|(k, v)| {
            k.starts_with("err/http-endpoint-failed/")
                && String::from_utf8_lossy(v).contains("DestinationException")
        })
    });
    // The worker counts the records given up after it wrote their error object: wait.
    wait_for("the given-up records counted", || {
        (env.firehose
            .metrics("down")
            .unwrap()
            .delivery_to_http_endpoint_failed_records
            >= 1)
            .then_some(())
    });
}

// -- PostgreSQL ---------------------------------------------------------------------------------

struct Postgres {
    dir: String,
    url: String,
}

impl Postgres {
    fn start() -> Option<Self> {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/services/postgres.sh");
        let dir = format!("/tmp/tidelog-pg-{}-{}", std::process::id(), rand_suffix());
        let out = std::process::Command::new(&script)
            .args(["start", &dir])
            .output()
            .unwrap();
        if !out.status.success() {
            assert!(
                std::env::var_os("TIDELOG_REQUIRE_SERVICES").is_none(),
                "PostgreSQL is required: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!(
                "PostgreSQL could not start: skipping ({})",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Some(Self { dir, url })
    }

    fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut rows = Vec::new();
            for m in client.simple_query(sql).await.unwrap() {
                if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                    rows.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
                }
            }
            rows
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/services/postgres.sh");
        let _ = std::process::Command::new(script)
            .args(["stop", &self.dir])
            .output();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007
}

fn redshift(url: &str, table: &str, columns: &str, options: &str, extra: Value) -> Value {
    let mut config = json!({
        "RoleARN": ROLE,
        "ClusterJDBCURL": format!("jdbc:{url}"),
        "CopyCommand": {"DataTableName": table, "DataTableColumns": columns, "CopyOptions": options},
        "Username": "postgres",
        "RetryOptions": {"DurationInSeconds": 60},
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::staging", "Prefix": format!("{table}/"),
                            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}},
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

fn create_redshift(env: &Env, name: &str, config: Value) {
    env.ok(
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": name, "RedshiftDestinationConfiguration": config}),
    );
}

#[test]
fn postgres_copy_csv_json_and_documents() {
    let Some(pg) = Postgres::start() else { return };
    pg.query(
        "CREATE TABLE events (id int, name text, ts timestamptz); \
         CREATE TABLE people (id int, name text, city text); \
         CREATE TABLE docs (doc jsonb);",
    );
    let env = Env::new();
    create_redshift(
        &env,
        "csv",
        redshift(&pg.url, "events", "id,name", "CSV DELIMITER ','", json!({})),
    );
    create_redshift(
        &env,
        "auto",
        redshift(
            &pg.url,
            "people",
            "id,name,city",
            "JSON 'auto ignorecase'",
            json!({}),
        ),
    );
    create_redshift(
        &env,
        "noshred",
        redshift(&pg.url, "public.docs", "doc", "JSON 'noshred'", json!({})),
    );
    put_batch(
        &env,
        "csv",
        &[b"1,alpha\n".to_vec(), b"2,\"b,eta\"\n".to_vec()],
    );
    put_batch(
        &env,
        "auto",
        &[
            b"{\"ID\": 7, \"Name\": \"Ann\", \"city\": \"Oslo\", \"extra\": 1}".to_vec(),
            b"{\"id\": 8, \"name\": \"Bo\"}".to_vec(),
        ],
    );
    put_batch(
        &env,
        "noshred",
        &[
            b"{\"a\": {\"b\": [1, 2]}}\n".to_vec(),
            b"{\"c\": \"\\u0001 and \\\\ and ,\"}".to_vec(),
        ],
    );
    env.firehose.flush_all(Duration::from_secs(60)).unwrap();
    assert_eq!(
        pg.query("SELECT id, name FROM events ORDER BY id"),
        vec![
            vec![Some("1".into()), Some("alpha".into())],
            vec![Some("2".into()), Some("b,eta".into())]
        ]
    );
    assert_eq!(
        pg.query("SELECT id, name, city FROM people ORDER BY id"),
        vec![
            vec![Some("7".into()), Some("Ann".into()), Some("Oslo".into())],
            vec![Some("8".into()), Some("Bo".into()), None]
        ]
    );
    assert_eq!(
        pg.query("SELECT doc::text FROM docs ORDER BY doc::text"),
        vec![
            vec![Some("{\"a\": {\"b\": [1, 2]}}".into())],
            vec![Some("{\"c\": \"\\u0001 and \\\\ and ,\"}".into())]
        ]
    );
    // Every batch was staged as an object first, and recorded as loaded.
    let staged = objects(&env.bucket("staging"));
    assert!(
        staged
            .iter()
            .any(|(k, v)| k.starts_with("events/") && v == b"1,alpha\n2,\"b,eta\"\n"),
        "{staged:?}"
    );
    assert_eq!(
        pg.query("SELECT count(*) FROM tidelog_firehose_loads"),
        vec![vec![Some("3".into())]]
    );
    let m = env.firehose.metrics("csv").unwrap();
    assert_eq!(m.delivery_to_redshift_records, 2);
    assert_eq!(m.delivery_to_redshift_rows, 2);
    let d = env.ok(
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "csv"}),
    );
    let desc = &d["DeliveryStreamDescription"]["Destinations"][0]["RedshiftDestinationDescription"];
    assert_eq!(desc["CopyCommand"]["DataTableName"], "events");
    assert!(desc.get("Password").is_none());
    // Bad configurations are refused with the option named.
    let e = env
        .call("CreateDeliveryStream", json!({"DeliveryStreamName": "bad",
            "RedshiftDestinationConfiguration": redshift(&pg.url, "events", "id", "MAXERROR 5", json!({}))}))
        .unwrap_err();
    assert!(e.message.contains("MAXERROR"), "{}", e.message);
    let e = env
        .call("CreateDeliveryStream", json!({"DeliveryStreamName": "bad",
            "RedshiftDestinationConfiguration": redshift(&pg.url, "events; drop table x", "id", "CSV", json!({}))}))
        .unwrap_err();
    assert!(e.message.contains("DataTableName"), "{}", e.message);
}

#[test]
fn postgres_loads_once_across_a_crash_between_copy_and_checkpoint() {
    let Some(pg) = Postgres::start() else { return };
    pg.query("CREATE TABLE once (n int)");
    let dir = tempfile::tempdir().unwrap();
    let clock = tidelog::ManualClock::new(START_MS);
    let faulty = Arc::new(tidelog::io::FaultyStorage::new(Arc::new(
        tidelog::io::FsStorage::new(),
    )));
    let mut ec = engine_config(dir.path(), &clock);
    ec.storage = faulty.clone();
    let engine = tidelog::Engine::open(ec).unwrap();
    let firehose = tidelog_firehose::Firehose::open(&engine, firehose_config()).unwrap();
    tidelog_firehose::api::call(
        &firehose,
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": "once", "RedshiftDestinationConfiguration": redshift(&pg.url, "once", "n", "CSV", json!({}))}),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // The next checkpoint (the batch in flight) is written; the one after (the batch
    // done) fails: the COPY committed, the checkpoint does not know it.
    faulty.inject(tidelog::io::Fault::once_after(
        tidelog::io::FaultOp::Rename,
        "firehose/streams",
        1,
        std::io::ErrorKind::Other,
    ));
    let recs: Vec<&[u8]> = vec![b"1\n", b"2\n", b"3\n"];
    firehose.put_record_batch("once", &recs).unwrap();
    let _ = firehose.flush("once", Duration::from_secs(30));
    assert_eq!(
        pg.query("SELECT count(*) FROM once"),
        vec![vec![Some("3".into())]]
    );
    assert_eq!(faulty.fired(), 1, "the checkpoint after the COPY failed");
    firehose.crash_for_testing();
    engine.crash_for_testing();
    // Reopen: the batch is replayed (it was in flight), and not loaded again.
    let engine = tidelog::Engine::open(engine_config(dir.path(), &clock)).unwrap();
    let firehose = tidelog_firehose::Firehose::open(&engine, firehose_config()).unwrap();
    firehose.flush("once", Duration::from_secs(60)).unwrap();
    wait_for("the replay", || {
        (firehose
            .metrics("once")
            .unwrap()
            .delivery_to_redshift_records
            == 3)
            .then_some(())
    });
    assert_eq!(
        pg.query("SELECT count(*), sum(n) FROM once"),
        vec![vec![Some("3".into()), Some("6".into())]]
    );
    assert_eq!(
        firehose.metrics("once").unwrap().delivery_to_redshift_rows,
        0,
        "the replay loaded nothing"
    );
    firehose.close().unwrap();
    engine.close().unwrap();
}

#[test]
fn postgres_down_past_the_retry_duration_skips_the_batch_into_a_manifest() {
    let Some(pg) = Postgres::start() else { return };
    let env = Env::new();
    // A table that does not exist: every COPY fails.
    create_redshift(
        &env,
        "skip",
        redshift(
            &pg.url,
            "missing_table",
            "n",
            "CSV",
            json!({"RetryOptions": {"DurationInSeconds": 10}}),
        ),
    );
    put_batch(&env, "skip", &[b"1\n".to_vec()]);
    assert!(env.firehose.flush("skip", Duration::from_secs(30)).is_err());
    for _ in 0..8 {
        env.clock.advance_ms(5_000);
        env.firehose.wake();
        std::thread::sleep(Duration::from_millis(30));
    }
    let manifest = wait_for("the manifest", || {
        objects(&env.bucket("staging"))
            .into_iter()
            .find(|(k, _)| k.starts_with("errors/manifests/"))
    });
    let v: Value = serde_json::from_slice(&manifest.1).unwrap();
    let url = v["entries"][0]["url"].as_str().unwrap();
    assert!(url.starts_with("s3://staging/missing_table/"), "{url}");
    assert_eq!(v["entries"][0]["mandatory"], true);
    // The worker counts the skipped batch after it wrote the manifest: wait for it.
    let skipped = wait_for("the skipped batch counted", || {
        let n = env
            .firehose
            .metrics("skip")
            .unwrap()
            .delivery_to_redshift_skipped_batches;
        (n >= 1).then_some(n)
    });
    assert_eq!(skipped, 1);
}
