//! Bad input to the log: typed errors, and the log unchanged afterwards.

mod common;

use std::path::Path;

use common::*;
use tidelog::limits;
use tidelog::log::{KeyError, Log, LogConfig, LogError};

fn snapshot(log: &Log) -> (Vec<Row>, Option<u128>, u64) {
    (read_all(log), log.last_seq(), log.reader().record_count())
}

#[test]
fn refused_appends_change_nothing() {
    let (_mem, storage) = mem();
    let dir = Path::new("/log");
    let (mut log, _) = open(&storage, dir, &LogConfig::default());
    log.append(10, 0, "k", b"one").unwrap();
    let before = snapshot(&log);

    let err = log.append(11, 0, "", b"x").unwrap_err();
    assert!(
        matches!(err, LogError::InvalidKey(KeyError::Empty)),
        "{err}"
    );
    let long_key = "x".repeat(257);
    let err = log.append(11, 0, &long_key, b"x").unwrap_err();
    assert!(
        matches!(err, LogError::InvalidKey(KeyError::TooLong { chars: 257 })),
        "{err}"
    );
    // 256 four-byte characters are fine (1024 bytes); 257 are not.
    log.check_record(None, &"🌊".repeat(256), b"").unwrap();
    let err = log.check_record(None, &"🌊".repeat(257), b"").unwrap_err();
    assert!(matches!(
        err,
        LogError::InvalidKey(KeyError::TooLong { chars: 257 })
    ));

    let max = limits::RECORD_BYTES_MAX_DEFAULT as usize;
    let err = log.append(11, 0, "k", &vec![0; max]).unwrap_err();
    assert!(
        matches!(err, LogError::RecordTooLarge { bytes, max_bytes } if bytes == max + 1 && max_bytes as usize == max),
        "{err}"
    );
    let err = log.append(10, 0, "k", b"dup").unwrap_err();
    assert!(
        matches!(err, LogError::SequenceNotIncreasing { seq: 10, last: 10 }),
        "{err}"
    );
    let err = log.append(3, 0, "k", b"old").unwrap_err();
    assert!(matches!(
        err,
        LogError::SequenceNotIncreasing { seq: 3, last: 10 }
    ));
    assert_eq!(snapshot(&log), before);

    // Exactly at the limit is accepted.
    log.append(11, 0, "k", &vec![0; max - 1]).unwrap();
    assert_eq!(log.last_seq(), Some(11));
    let message = LogError::RecordTooLarge {
        bytes: 5,
        max_bytes: 4,
    }
    .to_string();
    assert!(
        message.contains("5 bytes") && message.contains("4-byte limit"),
        "{message}"
    );
}

#[test]
fn reads_outside_the_log_are_typed_errors() {
    let (_mem, storage) = mem();
    let dir = Path::new("/log");
    let (mut log, _) = open(&storage, dir, &small_config());
    let reader = log.reader();
    assert!(
        reader.read(0, 10, 100).unwrap().is_empty(),
        "an empty log reads empty"
    );
    for seq in 100..200u128 {
        log.append(seq, 0, "k", b"data").unwrap();
    }
    let before = snapshot(&log);
    let err = reader.read(99, 10, usize::MAX).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::Trimmed {
                requested: 99,
                first_available: 100
            }
        ),
        "{err}"
    );
    let err = reader.read(201, 10, usize::MAX).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::BeyondEnd {
                requested: 201,
                next: 200
            }
        ),
        "{err}"
    );
    let err = reader.read(u128::MAX, 10, usize::MAX).unwrap_err();
    assert!(matches!(err, LogError::BeyondEnd { .. }));
    assert!(
        reader.read(200, 10, usize::MAX).unwrap().is_empty(),
        "one past the end is the tip"
    );
    assert!(
        reader.read(150, 0, usize::MAX).unwrap().is_empty(),
        "zero records asked, zero given"
    );
    assert_eq!(snapshot(&log), before);
}

#[test]
fn invalid_configurations_are_refused() {
    let (_mem, storage) = mem();
    let dir = Path::new("/log");
    let bad = [
        LogConfig {
            segment_bytes_initial: 1024,
            ..LogConfig::default()
        },
        LogConfig {
            segment_bytes_max: 8 << 10,
            segment_bytes_initial: 16 << 10,
            ..LogConfig::default()
        },
        LogConfig {
            segment_bytes_max: 2 << 30,
            ..LogConfig::default()
        },
        LogConfig {
            record_bytes_max: 0,
            ..LogConfig::default()
        },
        LogConfig {
            record_bytes_max: limits::FRAME_PAYLOAD_BYTES_CEILING + 1,
            ..LogConfig::default()
        },
    ];
    for config in bad {
        let err = Log::open(storage.clone(), dir, ID, config.clone()).unwrap_err();
        assert!(
            matches!(err, LogError::InvalidConfig(_)),
            "{config:?}: {err}"
        );
    }
    assert!(!storage.exists(dir).unwrap(), "nothing was created");
}

#[test]
fn records_up_to_the_raised_ceiling() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = fs();
    let config = LogConfig {
        record_bytes_max: limits::RECORD_BYTES_MAX_CEILING,
        ..small_config()
    };
    let (mut log, _) = open(&storage, tmp.path(), &config);
    let big = payload(1, limits::RECORD_BYTES_MAX_CEILING as usize - 1);
    log.append(1, 0, "k", &big).unwrap();
    log.append(2, 0, "k", b"small after big").unwrap();
    let records = read_all(&log);
    assert_eq!(records[0].3, big);
    assert_eq!(records[1].3, b"small after big");
    let err = log.append(3, 0, "kk", &big).unwrap_err();
    assert!(matches!(err, LogError::RecordTooLarge { .. }));
}
