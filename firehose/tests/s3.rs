//! Delivery to a real S3-compatible server: moto's, started by the test on 127.0.0.1
//! (tests/services/setup.sh installs it; TIDELOG_MOTO_SERVER names the binary). Without
//! moto the tests say so and pass, unless TIDELOG_REQUIRE_SERVICES is set (the test
//! command sets it).
#![forbid(unsafe_code)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use object_store::{ObjectStore as _, ObjectStoreExt as _};
use serde_json::json;
use tidelog_firehose::{BucketStore, S3Connection};

struct Moto {
    child: Option<Child>,
    port: u16,
    binary: PathBuf,
}

impl Moto {
    fn binary() -> Option<PathBuf> {
        let from_env = std::env::var_os("TIDELOG_MOTO_SERVER").map(PathBuf::from);
        let in_venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
        let found = from_env
            .filter(|p| p.exists())
            .or_else(|| in_venv.exists().then_some(in_venv));
        if found.is_none() {
            assert!(
                std::env::var_os("TIDELOG_REQUIRE_SERVICES").is_none(),
                "moto_server is required (run tests/services/setup.sh)"
            );
            eprintln!("moto_server not found: skipping (run tests/services/setup.sh)");
        }
        found
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn start(binary: PathBuf, port: u16) -> Self {
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child: Some(child),
            port,
            binary,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.stop();
        *self = Self::start(self.binary.clone(), self.port);
    }

    fn create_bucket(&self, bucket: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(s, "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", self.port).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

fn connection(endpoint: &str) -> S3Connection {
    let mut c = S3Connection::local(endpoint, "testing", "testing");
    c.multipart_threshold_bytes = 6 << 20;
    c.multipart_part_bytes = 5 << 20;
    c
}

/// Every object of `bucket`, (key, bytes), sorted.
fn list(endpoint: &str, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use futures::TryStreamExt;
        let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
        let mut out = Vec::new();
        for m in metas {
            let bytes = store.get(&m.location).await.unwrap().bytes().await.unwrap();
            out.push((m.location.to_string(), bytes.to_vec()));
        }
        out.sort();
        out
    })
}

#[test]
fn delivers_gzip_and_multipart_objects_to_s3() {
    let Some(binary) = Moto::binary() else { return };
    let moto = Moto::start(binary, Moto::free_port());
    moto.create_bucket("lake");
    let endpoint = moto.endpoint();
    let env = Env::with(
        |_| {},
        |c| {
            c.buckets
                .insert("lake".into(), BucketStore::S3(connection(&endpoint)));
        },
    );
    create(
        &env,
        "gz",
        s3_config(
            "lake",
            json!({"Prefix": "gz/", "CompressionFormat": "GZIP"}),
        ),
    );
    create(
        &env,
        "big",
        s3_config(
            "lake",
            json!({"Prefix": "big/", "BufferingHints": {"SizeInMBs": 16, "IntervalInSeconds": 900}}),
        ),
    );
    let lines: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("{{\"n\":{i}}}\n").into_bytes())
        .collect();
    put_batch(&env, "gz", &lines);
    let chunk = vec![b'z'; 1_000_000];
    for _ in 0..3 {
        put_batch(&env, "big", &vec![chunk.clone(); 4]);
    }
    env.firehose.flush("gz", Duration::from_secs(60)).unwrap();
    env.firehose.flush("big", Duration::from_secs(60)).unwrap();
    let objs = list(&endpoint, "lake");
    assert_eq!(
        objs.len(),
        2,
        "{:?}",
        objs.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    let gz = objs.iter().find(|o| o.0.starts_with("gz/")).unwrap();
    assert!(
        gz.0.starts_with("gz/2018/08/27/10/gz-1-2018-08-27-10-30-05-") && gz.0.ends_with(".gz"),
        "{}",
        gz.0
    );
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz.1[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, lines.concat());
    let big = objs.iter().find(|o| o.0.starts_with("big/")).unwrap();
    assert_eq!(
        big.1.len(),
        12_000_000,
        "a 12 MB object through a multipart upload"
    );
    assert!(big.1.iter().all(|b| *b == b'z'));
}

#[test]
fn an_unreachable_endpoint_is_retried_until_it_returns() {
    let Some(binary) = Moto::binary() else { return };
    let mut moto = Moto::start(binary, Moto::free_port());
    let endpoint = moto.endpoint();
    moto.stop();
    let env = Env::with(
        |_| {},
        |c| {
            c.buckets
                .insert("late".into(), BucketStore::S3(connection(&endpoint)));
        },
    );
    create(
        &env,
        "r",
        s3_config(
            "late",
            json!({"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}),
        ),
    );
    put_batch(&env, "r", &[b"one;".to_vec(), b"two;".to_vec()]);
    assert!(env.firehose.flush("r", Duration::from_secs(30)).is_err());
    env.clock.advance_ms(10_000);
    wait_for("data freshness to grow", || {
        (env.firehose
            .metrics("r")
            .unwrap()
            .delivery_to_s3_data_freshness_ms
            >= 10_000)
            .then_some(())
    });
    moto.restart();
    moto.create_bucket("late");
    env.clock.advance_ms(200_000);
    // The worker may have read the batch's two records in two turns (a reader sees each
    // record as it is published, as in Kinesis), so they may arrive as one object or two;
    // wait for both and check each is delivered exactly once.
    let objs = wait_for("delivery once S3 is back", || {
        let o = list(&endpoint, "late");
        (o.iter().map(|(_, body)| body.len()).sum::<usize>() >= 8).then_some(o)
    });
    assert!(objs.len() <= 2, "{} objects", objs.len());
    let mut records: Vec<&[u8]> = objs
        .iter()
        .flat_map(|(_, body)| body.split_inclusive(|b| *b == b';'))
        .collect();
    records.sort();
    assert_eq!(records, [&b"one;"[..], &b"two;"[..]]);
}
