//! The `tidelog` command as scripts use it: help, exit codes, streams/put/tail/shards/
//! stats on a data directory, dump and verify (clean, then with a damaged frame), and
//! `firehose` on a data directory and against a running server.

mod common;

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::process::{Command, Output, Stdio};

fn tidelog(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidelog"))
        .args(args)
        .env_remove("TIDELOG_ENDPOINT")
        .env_remove("TIDELOG_ACCESS_KEYS")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn help_and_usage_errors() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["tail", "--help"],
        &["verify", "--help"],
    ] {
        let o = tidelog(args, None);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(stdout(&o).contains("Usage"), "{args:?}");
    }
    assert_eq!(tidelog(&["explode"], None).status.code(), Some(2));
    assert_eq!(tidelog(&["put"], None).status.code(), Some(2));
    let o = tidelog(&["serve", "--data-dir", "/tmp/never-used"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no access keys"));
    // Firehose settings are checked before anything opens.
    let o = tidelog(
        &[
            "serve",
            "--data-dir",
            "/tmp/never-used",
            "--firehose-s3-endpoint",
            "ftp://127.0.0.1:1",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("must be an http:// or https:// URL"));
    let o = tidelog(
        &[
            "serve",
            "--data-dir",
            "/tmp/never-used",
            "--firehose-s3-endpoint",
            "http://127.0.0.1:1",
            "--firehose-buckets-dir",
            "/tmp/b",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        "data_dir = \"/tmp/never-used\"\n[firehose.buckets.lake]\ndir = \"/tmp/a\"\n\
         s3_endpoint = \"http://127.0.0.1:1\"\n",
    )
    .unwrap();
    let o = tidelog(
        &["serve", "--config", config.path().to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("buckets.lake"));
    let o = tidelog(&["streams", "--endpoint", "http://127.0.0.1:1"], None);
    assert_eq!(o.status.code(), Some(3));
    let o = tidelog(&["verify", "/nonexistent/dir"], None);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn a_data_directory_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = tidelog(
        &[
            "streams",
            "--data-dir",
            d,
            "create",
            "events",
            "--shards",
            "2",
        ],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: String = (0..200)
        .map(|i| format!("user-{}\tline {i}\n", i % 7))
        .collect();
    let o = tidelog(
        &["put", "events", "--data-dir", d, "-K", "\t"],
        Some(lines.as_bytes()),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("put 200 records"));

    let o = tidelog(
        &[
            "tail",
            "events",
            "--data-dir",
            d,
            "--from",
            "trim-horizon",
            "-e",
            "--format",
            "raw",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    let mut got: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    let mut want: Vec<String> = (0..200).map(|i| format!("line {i}")).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let o = tidelog(
        &[
            "tail",
            "events",
            "--data-dir",
            d,
            "--from",
            "trim-horizon",
            "-n",
            "3",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(stdout(&o).lines().count(), 3);
    assert!(
        stdout(&o)
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );

    let o = tidelog(&["streams", "--data-dir", d], None);
    assert!(stdout(&o).contains("events") && stdout(&o).contains("ACTIVE"));
    let o = tidelog(&["shards", "events", "--data-dir", d], None);
    assert_eq!(stdout(&o).matches("shardId-").count(), 2);
    let o = tidelog(&["stats", "--data-dir", d], None);
    assert!(stdout(&o).contains("events"), "{}", stdout(&o));
    let o = tidelog(&["streams", "--data-dir", d, "describe", "missing"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ResourceNotFoundException"));

    // Offline: dump shows every record, verify finds nothing wrong.
    let o = tidelog(&["dump", d, "--records"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o).matches("line ").count(), 200);
    let o = tidelog(&["verify", d], None);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("200 records checked: 0 corrupt"));

    // A flipped byte inside a durable record: verify says where and exits 1.
    let segment = walk(dir.path())
        .into_iter()
        .find(|p| {
            p.extension().is_some_and(|e| e == "seg")
                && std::fs::metadata(p).unwrap().len() > 0
                && std::fs::read(p).unwrap()[256..300].iter().any(|b| *b != 0)
        })
        .expect("a segment with records");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&segment)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, 256 + 45).unwrap();
    file.write_all_at(&[byte[0] ^ 0x40], 256 + 45).unwrap();
    let o = tidelog(&["verify", d], None);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("corruption in") && stdout(&o).contains("checksum"),
        "{}",
        stdout(&o)
    );
}

/// Every object under `root`, read whole, in key order.
fn objects(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    if !root.exists() {
        return Vec::new();
    }
    let mut found: Vec<(String, Vec<u8>)> = walk(root)
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    found.sort();
    found
}

/// The lines of every object, sorted (objects written in the same second may sort
/// either way by key, so order is checked per object, not across them).
fn sorted_lines(objects: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut lines: Vec<String> = objects
        .iter()
        .flat_map(|(_, b)| {
            assert!(b.ends_with(b"\n"), "an object ends inside a record");
            String::from_utf8(b.clone())
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn firehose_on_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let fh = |args: &[&str], stdin: Option<&[u8]>| {
        let mut all = vec!["firehose", "--data-dir", d];
        all.extend_from_slice(args);
        tidelog(&all, stdin)
    };
    let o = fh(
        &[
            "create",
            "to-lake",
            "--bucket",
            "lake",
            "--prefix",
            "clicks/",
            "--buffer-seconds",
            "900",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("arn:aws:firehose:us-east-1:000000000000:deliverystream/to-lake"));
    // The same name again is Firehose's own error, exit 1.
    let o = fh(&["create", "to-lake", "--bucket", "lake"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("ResourceInUseException"),
        "{}",
        stderr(&o)
    );

    let lines: String = (0..1200).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    let o = fh(
        &["put", "to-lake", "--batch", "250"],
        Some(lines.as_bytes()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("put 1200 records"), "{}", stderr(&o));
    // Buffered (900 s interval), durable, not delivered yet.
    let lake = dir.path().join("firehose/buckets/lake");
    assert!(objects(&lake).is_empty());

    let o = fh(&[], None);
    assert_eq!(o.status.code(), Some(0));
    let table = stdout(&o);
    assert!(
        table.contains("to-lake")
            && table.contains("ACTIVE")
            && table.contains("DirectPut")
            && table.contains("s3://lake/clicks/")
            && table.contains("5 MiB / 900 s"),
        "{table}"
    );
    let o = fh(&["describe", "to-lake"], None);
    let described: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s3 = &described["Destinations"][0]["ExtendedS3DestinationDescription"];
    assert_eq!(s3["BucketARN"], "arn:aws:s3:::lake");
    assert_eq!(s3["BufferingHints"]["IntervalInSeconds"], 900);
    assert_eq!(s3["BufferingHints"]["SizeInMBs"], 5);

    // Flush delivers every line once, in order, under the prefix.
    let o = fh(&["flush", "to-lake"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let delivered = objects(&lake);
    assert!(!delivered.is_empty());
    assert!(delivered.iter().all(|(k, _)| k.starts_with("clicks/")));
    let mut want: Vec<String> = lines.lines().map(str::to_string).collect();
    want.sort();
    assert_eq!(sorted_lines(&delivered), want);
    // Within an object, records keep the order they were put in.
    for (_, body) in &delivered {
        let ns: Vec<u64> = String::from_utf8_lossy(body)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "{ns:?}");
    }
    let objects_before = delivered.len();

    // --no-newline sends lines bare; an over-long line is skipped with a reason, exit 1.
    let long = format!("ok\n{}\n", "x".repeat(1_000 * 1024 + 1));
    let o = fh(&["put", "to-lake", "--no-newline"], Some(long.as_bytes()));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("line 2:") && stderr(&o).contains("1,000 KiB"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("put 1 records"), "{}", stderr(&o));
    let o = fh(&["flush", "to-lake"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let delivered = objects(&lake);
    assert_eq!(delivered.len(), objects_before + 1);
    assert_eq!(delivered.iter().filter(|(_, b)| b == b"ok").count(), 1);

    // A whole request as JSON; a data stream as the source.
    let o = tidelog(&["streams", "--data-dir", d, "create", "events"], None);
    assert_eq!(o.status.code(), Some(0));
    let request = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        request.path(),
        r#"{"DeliveryStreamName": "replaced",
            "ExtendedS3DestinationConfiguration": {
              "RoleARN": "arn:aws:iam::000000000000:role/r",
              "BucketARN": "arn:aws:s3:::other", "CompressionFormat": "GZIP"}}"#,
    )
    .unwrap();
    let o = fh(
        &[
            "create",
            "from-json",
            "--input-json",
            request.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = fh(
        &[
            "create",
            "from-events",
            "--bucket",
            "lake",
            "--from-stream",
            "events",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = fh(&["describe", "from-events"], None);
    let described: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(described["DeliveryStreamType"], "KinesisStreamAsSource");
    assert_eq!(
        described["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"],
        "arn:aws:kinesis:us-east-1:000000000000:stream/events"
    );
    let o = fh(&["describe", "from-json"], None);
    let described: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        described["Destinations"][0]["ExtendedS3DestinationDescription"]["CompressionFormat"],
        "GZIP"
    );
    let o = fh(&[], None);
    assert!(
        stdout(&o)
            .lines()
            .any(|l| l.starts_with("from-events") && l.contains("  events  ")),
        "{}",
        stdout(&o)
    );

    // Bad input: clear errors, nothing created.
    let o = fh(&["create", "bad name!", "--bucket", "lake"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("InvalidArgumentException")
            || stderr(&o).contains("ValidationException"),
        "{}",
        stderr(&o)
    );
    let o = fh(
        &["create", "x", "--bucket", "lake", "--buffer-mb", "129"],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("SizeInMBs"), "{}", stderr(&o));
    let o = fh(&["create", "x"], None);
    assert_eq!(o.status.code(), Some(2));
    let o = fh(&["create", "x", "--input-json", "/nonexistent.json"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent.json"));
    let o = fh(&["create", "x", "--input-json", "-"], Some(b"[1, 2]"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("must be a JSON object"),
        "{}",
        stderr(&o)
    );
    let o = fh(&["put", "missing"], Some(b"a\n"));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("ResourceNotFoundException"),
        "{}",
        stderr(&o)
    );
    let o = fh(&["flush", "missing"], None);
    assert_eq!(o.status.code(), Some(1));
    let o = tidelog(&["firehose", "flush", "to-lake"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("needs --data-dir"));
    let o = fh(&[], None);
    assert!(!stdout(&o).contains(" x "), "{}", stdout(&o));

    let o = fh(&["delete", "to-lake"], None);
    assert_eq!(o.status.code(), Some(0));
    let o = fh(&["describe", "to-lake"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("ResourceNotFoundException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firehose_against_a_server() {
    let server = common::start_with_firehose().await;
    let endpoint = server.endpoint();
    let run = |args: Vec<String>, stdin: Option<Vec<u8>>| {
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || {
            let mut all: Vec<&str> = vec![
                "firehose",
                "--endpoint",
                &endpoint,
                "--access-key",
                common::KEY,
                "--secret-key",
                common::SECRET,
            ];
            all.extend(args.iter().map(String::as_str));
            tidelog(&all, stdin.as_deref())
        })
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let o = run(
        args(&["create", "remote", "--bucket", "lake", "--prefix", "r/"]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: String = (0..700).map(|i| format!("line {i}\n")).collect();
    let o = run(args(&["put", "remote"]), Some(lines.clone().into_bytes()))
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("put 700 records"), "{}", stderr(&o));
    let o = run(args(&[]), None).await.unwrap();
    assert!(stdout(&o).contains("remote") && stdout(&o).contains("s3://lake/r/"));
    let o = run(args(&["flush", "remote"]), None).await.unwrap();
    assert_eq!(o.status.code(), Some(2));

    // The server's Firehose delivers what the command put, each line once.
    let firehose = server.firehose.clone().unwrap();
    tokio::task::spawn_blocking(move || {
        firehose
            .flush("remote", std::time::Duration::from_secs(60))
            .unwrap()
    })
    .await
    .unwrap();
    let lake = server.dir.path().join("firehose/buckets/lake");
    let delivered = objects(&lake);
    assert!(delivered.iter().all(|(k, _)| k.starts_with("r/")));
    let mut want: Vec<String> = lines.lines().map(str::to_string).collect();
    want.sort();
    assert_eq!(sorted_lines(&delivered), want);

    // Without keys the server refuses, and the command says so (exit 1).
    let o = tokio::task::spawn_blocking({
        let endpoint = server.endpoint();
        move || tidelog(&["firehose", "--endpoint", &endpoint], None)
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = run(args(&["delete", "remote"]), None).await.unwrap();
    assert_eq!(o.status.code(), Some(0));
    server.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
