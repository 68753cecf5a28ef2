//! The `tidelog` command as scripts use it: help, exit codes, streams/put/tail/shards/
//! stats on a data directory, dump and verify (clean, then with a damaged frame).

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
