//! Encryption at rest: start and stop mid-stream, per-record encryption type, reads
//! that decrypt (GetRecords and both kinds of subscription), reopen, key rotation, a
//! wrong, disabled or missing key (KMS-named errors), argument errors, and a scan of
//! the data directory proving no plaintext of an encrypted record is on disk.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tidelog::crypto::{AWS_MANAGED_KEY_ALIAS, FileKeyProvider};
use tidelog::engine::{EncryptionType, FanoutEvent};
use tidelog::{
    Engine, Error, ErrorKind, ManualClock, PutOptions, PutRecordsEntry, StartingPosition,
};

const T0: u64 = 1_700_000_000_000;
const SHARD: &str = "shardId-000000000000";

fn open(dir: &Path, keys: &Path, clock: &Arc<ManualClock>) -> Engine {
    let mut config = engine_config(dir, Some(clock.clone()));
    config.limits = tidelog::Limits::unlimited();
    config.key_provider = Some(Arc::new(FileKeyProvider::new(keys)));
    Engine::open(config).unwrap()
}

/// (data, encrypted) of every record of the shard, by GetRecords.
fn read_all(engine: &Engine, stream: &str) -> Result<Vec<(Vec<u8>, String, bool)>, Error> {
    let mut it = engine.get_shard_iterator(stream, SHARD, StartingPosition::TrimHorizon)?;
    let mut out = Vec::new();
    loop {
        let got = engine.get_records(&it, None)?;
        if got.records.is_empty() {
            return Ok(out);
        }
        out.extend(
            got.records
                .iter()
                .map(|r| (r.data.to_vec(), r.key_str().to_string(), r.is_encrypted())),
        );
        it = got.next_shard_iterator.unwrap();
    }
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn start_and_stop_mid_stream_and_no_plaintext_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let keys = tmp.path().join("keys");
    let clock = ManualClock::new(T0);
    let engine = open(&data_dir, &keys, &clock);
    engine.create_stream("s", 1).unwrap();
    let put = |key: &str, data: &str| {
        engine
            .put_record("s", key, data.as_bytes(), PutOptions::default())
            .unwrap()
    };
    assert!(!put("plain-key-0001", "PLAINTEXT-MARKER-before").encrypted);
    engine
        .start_stream_encryption("s", "KMS", AWS_MANAGED_KEY_ALIAS)
        .unwrap();
    let d = engine.describe_stream("s").unwrap();
    assert_eq!(d.encryption_type, EncryptionType::Kms);
    assert_eq!(d.key_id.as_deref(), Some(AWS_MANAGED_KEY_ALIAS));
    for i in 0..50 {
        let out = put(
            &format!("secret-key-{i:04}"),
            &format!("SECRET-PAYLOAD-{i:04}-xyzzy"),
        );
        assert!(out.encrypted);
    }
    let entries: Vec<(String, String)> = (0..20)
        .map(|i| (format!("batch-key-{i:04}"), format!("BATCH-SECRET-{i:04}")))
        .collect();
    let batch: Vec<PutRecordsEntry<'_>> = entries
        .iter()
        .map(|(k, d)| PutRecordsEntry {
            partition_key: k,
            data: d.as_bytes(),
            explicit_hash_key: None,
        })
        .collect();
    let out = engine.put_records("s", &batch, None).unwrap();
    assert!(out.records.iter().all(|r| r.as_ref().unwrap().encrypted));
    engine
        .stop_stream_encryption("s", "KMS", AWS_MANAGED_KEY_ALIAS)
        .unwrap();
    assert!(!put("plain-key-0002", "PLAINTEXT-MARKER-after").encrypted);
    assert_eq!(
        engine.describe_stream_summary("s").unwrap().encryption_type,
        EncryptionType::None
    );

    let check = |engine: &Engine| {
        let all = read_all(engine, "s").unwrap();
        assert_eq!(all.len(), 72);
        assert_eq!(
            all[0],
            (
                b"PLAINTEXT-MARKER-before".to_vec(),
                "plain-key-0001".into(),
                false
            )
        );
        for (i, row) in all[1..51].iter().enumerate() {
            assert_eq!(row.0, format!("SECRET-PAYLOAD-{i:04}-xyzzy").into_bytes());
            assert_eq!(row.1, format!("secret-key-{i:04}"));
            assert!(row.2, "record {i} is marked encrypted");
        }
        assert!(
            all[51..71]
                .iter()
                .all(|r| r.2 && r.0.starts_with(b"BATCH-SECRET-"))
        );
        assert_eq!(
            all[71],
            (
                b"PLAINTEXT-MARKER-after".to_vec(),
                "plain-key-0002".into(),
                false
            )
        );
    };
    check(&engine);
    // Subscriptions decrypt too.
    let mut sub = engine
        .subscribe("s", SHARD, StartingPosition::TrimHorizon, false)
        .unwrap();
    let mut seen = 0;
    while let tidelog::SubscriptionEvent::Records { batch, .. } =
        sub.next(Duration::from_millis(200)).unwrap()
    {
        for r in batch.iter() {
            assert!(!r.data.windows(7).any(|w| w == b"\0\0\0\0\0\0\0"));
            assert!(
                r.data.starts_with(b"PLAINTEXT")
                    || r.data.starts_with(b"SECRET")
                    || r.data.starts_with(b"BATCH")
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 72);
    let arn = engine
        .register_stream_consumer("s", "c", &BTreeMap::new())
        .unwrap()
        .arn;
    let mut fan = engine
        .subscribe_to_shard(&arn, SHARD, StartingPosition::TrimHorizon)
        .unwrap();
    let FanoutEvent::Event(e) = fan.next(Duration::from_secs(1)).unwrap() else {
        panic!()
    };
    assert_eq!(e.records.get(1).unwrap().data, b"SECRET-PAYLOAD-0000-xyzzy");
    drop((sub, fan));

    engine.close().unwrap();
    // The scan: no plaintext key or data of an encrypted record anywhere in the data
    // directory; the plain ones are found (so the scan does look).
    for marker in [
        "SECRET-PAYLOAD-",
        "secret-key-",
        "BATCH-SECRET-",
        "batch-key-",
        "xyzzy",
    ] {
        assert_eq!(
            files_containing(&data_dir, marker.as_bytes()),
            Vec::<std::path::PathBuf>::new(),
            "{marker}"
        );
    }
    assert!(!files_containing(&data_dir, b"PLAINTEXT-MARKER-before").is_empty());
    assert!(!files_containing(&data_dir, b"plain-key-0002").is_empty());

    // Reopen: everything reads back, decrypted.
    let engine = open(&data_dir, &keys, &clock);
    check(&engine);
}

#[test]
fn key_rotation_and_missing_wrong_or_disabled_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let keys = tmp.path().join("keys");
    let provider = FileKeyProvider::new(&keys);
    provider.create_key("alias/a").unwrap();
    provider.create_key("alias/b").unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(&data_dir, &keys, &clock);
    engine.create_stream("s", 1).unwrap();
    let put = |engine: &Engine, d: &str| {
        engine
            .put_record("s", "k", d.as_bytes(), PutOptions::default())
            .unwrap()
            .sequence_number
    };
    engine
        .start_stream_encryption("s", "KMS", "alias/a")
        .unwrap();
    put(&engine, "under-a");
    engine
        .start_stream_encryption("s", "KMS", "alias/a")
        .unwrap(); // same key: no change
    engine
        .start_stream_encryption("s", "KMS", "alias/b")
        .unwrap(); // rotation
    let last_a = put(&engine, "under-b-1") - 1;
    put(&engine, "under-b-2");
    assert_eq!(
        engine.describe_stream("s").unwrap().key_id.as_deref(),
        Some("alias/b")
    );
    engine.close().unwrap();

    let data = |rows: Vec<(Vec<u8>, String, bool)>| {
        rows.into_iter()
            .map(|r| String::from_utf8(r.0).unwrap())
            .collect::<Vec<_>>()
    };
    let engine = open(&data_dir, &keys, &clock);
    assert_eq!(
        data(read_all(&engine, "s").unwrap()),
        ["under-a", "under-b-1", "under-b-2"]
    );
    engine.close().unwrap();

    // Key a deleted: its records fail with KMSNotFoundException, b's still read.
    provider.delete_key("alias/a").unwrap();
    let engine = open(&data_dir, &keys, &clock);
    let err = read_all(&engine, "s").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KmsNotFound, "{err}");
    assert_eq!(err.kinesis_name(), "KMSNotFoundException");
    let it = engine
        .get_shard_iterator("s", SHARD, StartingPosition::AfterSequenceNumber(last_a))
        .unwrap();
    let got = engine.get_records(&it, None).unwrap();
    assert_eq!(got.records.len(), 2);
    // New puts use b and work.
    put(&engine, "under-b-3");
    engine.close().unwrap();

    // A different key under the same id: KMSAccessDeniedException (the data key does
    // not unwrap), and puts fail the same way, writing nothing.
    provider.create_key("alias/a").unwrap();
    provider.delete_key("alias/b").unwrap();
    provider.create_key("alias/b").unwrap();
    let engine = open(&data_dir, &keys, &clock);
    let err = engine
        .put_record("s", "k", b"x", PutOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KmsAccessDenied, "{err}");
    assert_eq!(err.kinesis_name(), "KMSAccessDeniedException");
    assert_eq!(
        engine
            .get_records(
                &engine
                    .get_shard_iterator("s", SHARD, StartingPosition::AfterSequenceNumber(last_a))
                    .unwrap(),
                None
            )
            .unwrap_err()
            .kind(),
        ErrorKind::KmsAccessDenied
    );
    engine.close().unwrap();

    // A disabled key: KMSDisabledException when starting with it.
    provider.create_key("alias/c").unwrap();
    provider.set_enabled("alias/c", false).unwrap();
    let engine = open(&data_dir, &keys, &clock);
    let err = engine
        .start_stream_encryption("s", "KMS", "alias/c")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KmsDisabled, "{err}");
    assert_eq!(
        engine.describe_stream("s").unwrap().key_id.as_deref(),
        Some("alias/b"),
        "a refused start changes nothing"
    );
    assert_eq!(
        engine
            .start_stream_encryption("s", "KMS", "alias/none")
            .unwrap_err()
            .kind(),
        ErrorKind::KmsNotFound
    );
}

#[test]
fn encryption_argument_errors_and_rate_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let clock = ManualClock::new(T0);
    let engine = open(&tmp.path().join("data"), &keys, &clock);
    engine.create_stream("s", 1).unwrap();
    let key = AWS_MANAGED_KEY_ALIAS;
    assert_eq!(
        engine
            .start_stream_encryption("s", "NONE", key)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        engine
            .start_stream_encryption("s", "AES", key)
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
    for bad in [String::new(), "k".repeat(2049)] {
        assert_eq!(
            engine
                .start_stream_encryption("s", "KMS", &bad)
                .unwrap_err()
                .kind(),
            ErrorKind::Validation
        );
    }
    assert_eq!(
        engine
            .start_stream_encryption("nope", "KMS", key)
            .unwrap_err()
            .kind(),
        ErrorKind::ResourceNotFound
    );
    assert_eq!(
        engine
            .stop_stream_encryption("s", "KMS", key)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument,
        "not encrypted"
    );
    engine.start_stream_encryption("s", "KMS", key).unwrap();
    assert_eq!(
        engine
            .stop_stream_encryption("s", "KMS", "alias/other")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument,
        "not the stream's key"
    );
    // 25 starts and 25 stops in a rolling 24 hours.
    let provider = FileKeyProvider::new(&keys);
    for i in 0..24 {
        provider.create_key(&format!("k{i}")).unwrap();
        engine
            .start_stream_encryption("s", "KMS", &format!("k{i}"))
            .unwrap();
    }
    provider.create_key("k24").unwrap();
    assert!(matches!(
        engine
            .start_stream_encryption("s", "KMS", "k24")
            .unwrap_err(),
        Error::LimitExceeded { .. }
    ));
    clock.advance_ms(86_400_000);
    engine.start_stream_encryption("s", "KMS", "k24").unwrap();
    engine.stop_stream_encryption("s", "KMS", "k24").unwrap();
}
