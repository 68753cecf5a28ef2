//! Injected faults through the storage seam: EIO on fsync, write and read; a full disk
//! at segment roll; short writes. Every failure is a clear error; no put is
//! acknowledged after a failed fsync; data stays consistent and readable.

mod common;

use std::io;
use std::sync::Arc;

use common::*;
use tidelog::io::{Fault, FaultOp, FaultyStorage, FsStorage};
use tidelog::log::{LogConfig, LogError};
use tidelog::{
    Durability, Engine, EngineConfig, Error, ErrorKind, Limits, PutOptions, StartingPosition,
};

const SHARD: &str = "shardId-000000000000";

fn faulty_engine(dir: &std::path::Path) -> (FaultyStorage, EngineConfig, Engine) {
    let faulty = FaultyStorage::new(Arc::new(FsStorage::new()));
    let mut config = engine_config(dir, None);
    config.storage = Arc::new(faulty.clone());
    config.limits = Limits::unlimited();
    config.log = LogConfig {
        segment_bytes_initial: 16 << 10,
        segment_bytes_max: 16 << 10,
        ..LogConfig::default()
    };
    let engine = Engine::open(config.clone()).unwrap();
    engine.create_stream("s", 1).unwrap();
    (faulty, config, engine)
}

fn sync() -> PutOptions<'static> {
    PutOptions {
        durability: Some(Durability::Sync),
        ..Default::default()
    }
}

fn os() -> PutOptions<'static> {
    PutOptions {
        durability: Some(Durability::Os),
        ..Default::default()
    }
}

#[test]
fn a_failed_fsync_is_never_acknowledged_and_the_shard_refuses_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let (faulty, config, engine) = faulty_engine(tmp.path());
    let before = engine.put_record("s", "k", b"before", sync()).unwrap();
    faulty.inject(Fault::once_after(
        FaultOp::SyncData,
        "streams",
        0,
        io::ErrorKind::Other,
    ));
    let err = engine.put_record("s", "k", b"during", sync()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains("injected"), "{err}");
    // From now on the shard refuses writes, in either mode, with a clear reason.
    for options in [os(), sync()] {
        let err = engine.put_record("s", "k", b"after", options).unwrap_err();
        assert!(
            matches!(err, Error::Storage(LogError::Failed { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("reopen"), "{err}");
    }
    // Reads still work.
    assert_eq!(
        read_shard(&engine, "s", SHARD).first().map(|r| r.0),
        Some(before.sequence_number)
    );
    let _ = engine.close(); // its final sync fails too: the log is failed
    faulty.clear();
    // Reopening re-verifies what is on disk and accepts writes again.
    let engine = Engine::open(config).unwrap();
    let records = read_shard(&engine, "s", SHARD);
    assert!(records.iter().any(|r| r.0 == before.sequence_number));
    engine.put_record("s", "k", b"recovered", sync()).unwrap();
}

#[test]
fn a_failed_write_changes_nothing_and_the_next_write_works() {
    let tmp = tempfile::tempdir().unwrap();
    let (faulty, _config, engine) = faulty_engine(tmp.path());
    engine.put_record("s", "k", b"one", sync()).unwrap();
    faulty.inject(Fault::once_after(
        FaultOp::WriteAt,
        "streams",
        0,
        io::ErrorKind::Other,
    ));
    let err = engine.put_record("s", "k", b"two", sync()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    engine.put_record("s", "k", b"three", sync()).unwrap();
    let data: Vec<Vec<u8>> = read_shard(&engine, "s", SHARD)
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(data, vec![b"one".to_vec(), b"three".to_vec()]);
}

#[test]
fn a_failed_batch_write_acknowledges_none_of_the_batch() {
    // A batch's records are staged and written with one pwritev when the batch ends.
    // If that write fails, no record of the batch is acknowledged, none is readable,
    // and the shard refuses writes until reopened (like after a failed fsync).
    use tidelog::PutRecordsEntry;
    let tmp = tempfile::tempdir().unwrap();
    let (faulty, config, engine) = faulty_engine(tmp.path());
    let before = engine.put_record("s", "k", b"before", os()).unwrap();
    let data: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 100]).collect();
    let entries: Vec<PutRecordsEntry<'_>> = data
        .iter()
        .map(|d| PutRecordsEntry {
            partition_key: "k",
            data: d,
            explicit_hash_key: None,
        })
        .collect();
    let mut fault = Fault::once_after(FaultOp::WriteAt, "streams", 0, io::ErrorKind::Other);
    fault.short_write_bytes = Some(150);
    faulty.inject(fault);
    let out = engine
        .put_records("s", &entries, Some(Durability::Os))
        .unwrap();
    assert_eq!(out.failed_record_count, 5);
    for r in &out.records {
        let err = r.as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    }
    let seen: Vec<u128> = read_shard(&engine, "s", SHARD)
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(seen, vec![before.sequence_number]);
    let err = engine.put_record("s", "k", b"after", os()).unwrap_err();
    assert!(
        matches!(err, Error::Storage(LogError::Failed { .. })),
        "{err}"
    );
    let _ = engine.close();
    faulty.clear();
    // Reopened: the part of the batch that landed was zeroed again, so nothing of it
    // comes back; the shard takes batches again.
    let engine = Engine::open(config).unwrap();
    let seen: Vec<u128> = read_shard(&engine, "s", SHARD)
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(seen, vec![before.sequence_number]);
    let out = engine
        .put_records("s", &entries, Some(Durability::Sync))
        .unwrap();
    assert_eq!(out.failed_record_count, 0);
    let read: Vec<Vec<u8>> = read_shard(&engine, "s", SHARD)
        .into_iter()
        .skip(1)
        .map(|r| r.1)
        .collect();
    assert_eq!(read, data);
}

#[test]
fn a_short_write_leaves_no_garbage_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let (faulty, config, engine) = faulty_engine(tmp.path());
    engine.put_record("s", "k", b"first", sync()).unwrap();
    let mut fault = Fault::once_after(FaultOp::WriteAt, "streams", 0, io::ErrorKind::Interrupted);
    fault.short_write_bytes = Some(57);
    faulty.inject(fault);
    let big = vec![0xEEu8; 3000];
    assert!(engine.put_record("s", "k", &big, sync()).is_err());
    engine.put_record("s", "k", b"second", sync()).unwrap();
    engine.close().unwrap();
    let engine = Engine::open(config).unwrap();
    let data: Vec<Vec<u8>> = read_shard(&engine, "s", SHARD)
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(data, vec![b"first".to_vec(), b"second".to_vec()]);
    assert!(
        engine.recovery_reports().unwrap().is_empty(),
        "the short write left nothing to repair"
    );
}

#[test]
fn a_full_disk_at_roll_is_a_clear_error_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let (faulty, _config, engine) = faulty_engine(tmp.path());
    faulty.inject(Fault::always(
        FaultOp::CreateSegment,
        "streams",
        io::ErrorKind::StorageFull,
    ));
    let blob = vec![1u8; 4000];
    // The first segment cannot be created: the put fails, clearly.
    let err = engine.put_record("s", "k", &blob, os()).unwrap_err();
    assert!(
        matches!(err, Error::Storage(LogError::StorageFull { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("storage full"), "{err}");
    faulty.clear();
    let mut acked = 0;
    for _ in 0..3 {
        engine.put_record("s", "k", &blob, os()).unwrap();
        acked += 1;
    }
    // The next roll finds the disk full again: refused, and nothing already written is hurt.
    faulty.inject(Fault::always(
        FaultOp::CreateSegment,
        "streams",
        io::ErrorKind::StorageFull,
    ));
    let mut refused = 0;
    for _ in 0..10 {
        match engine.put_record("s", "k", &blob, os()) {
            Ok(_) => acked += 1,
            Err(e) => {
                assert!(
                    matches!(e, Error::Storage(LogError::StorageFull { .. })),
                    "{e}"
                );
                refused += 1;
            }
        }
    }
    assert!(
        refused > 0,
        "the 16 KiB segment filled up and a roll was needed"
    );
    assert_eq!(read_shard(&engine, "s", SHARD).len(), acked);
    faulty.clear();
    engine.put_record("s", "k", &blob, os()).unwrap();
}

#[test]
fn a_failed_catalog_read_at_open_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (_faulty, config, engine) = faulty_engine(tmp.path());
    engine.close().unwrap();
    std::fs::write(tmp.path().join("catalog"), b"definitely not a catalog").unwrap();
    let err = Engine::open(config).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corruption, "{err}");
    assert!(err.to_string().contains("catalog"), "{err}");
}

#[test]
fn a_damaged_record_is_reported_with_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let (_faulty, config, engine) = faulty_engine(tmp.path());
    for i in 0..40u32 {
        engine.put_record("s", "k", &[i as u8; 1000], os()).unwrap();
    }
    engine.close().unwrap();
    // Flip a byte in the data of the first record of the first (sealed) segment.
    let stream_dir = std::fs::read_dir(tmp.path().join("streams"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let shard_dir = stream_dir.join("000000000000");
    let first = segment_files(&shard_dir)[0].clone();
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[256 + 40 + 1 + 10] ^= 0xFF;
    std::fs::write(&first, &bytes).unwrap();
    let engine = Engine::open(config).unwrap();
    let it = engine
        .get_shard_iterator("s", SHARD, StartingPosition::TrimHorizon)
        .unwrap();
    let err = engine.get_records(&it, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corruption, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&first.display().to_string())
            && text.contains("offset 256")
            && text.contains("checksum mismatch"),
        "{text}"
    );
}

#[test]
fn failed_spare_creation_is_retried_later() {
    let tmp = tempfile::tempdir().unwrap();
    let (faulty, _config, engine) = faulty_engine(tmp.path());
    // One segment creation fails: a spare made in the background (the next roll then
    // allocates on the spot, and later spares are tried again) or, if no spare was being
    // made, the roll itself (that one put fails, clearly). Either way nothing else fails.
    faulty.inject(Fault::once_after(
        FaultOp::CreateSegment,
        ".spare",
        0,
        io::ErrorKind::Other,
    ));
    let mut acked = 0;
    let mut failed = 0;
    for i in 0..200u32 {
        match engine.put_record("s", "k", &i.to_le_bytes().repeat(100), os()) {
            Ok(_) => acked += 1,
            Err(e) => {
                assert!(e.to_string().contains("injected CreateSegment"), "{e}");
                failed += 1;
            }
        }
    }
    assert!(failed <= 1, "{failed} puts failed for one injected fault");
    assert_eq!(read_shard(&engine, "s", SHARD).len(), acked);
    assert_eq!(faulty.fired(), 1);
}
