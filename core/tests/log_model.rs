//! Property test: random appends, reads by sequence number and timestamp, rolls, syncs,
//! closes, crashes and retention, checked against a plain in-memory model.

mod common;

use std::path::Path;

use common::*;
use proptest::prelude::*;
use tidelog::log::{LogConfig, LogError, RetentionPolicy};

#[derive(Debug, Clone)]
enum Op {
    Append { gap: u8, len: u16, ts_step: i16 },
    Read { from_index: u16, max: u8 },
    SeekTimestamp { ts_offset: u32 },
    Sync,
    Close,
    Crash,
    Retain { age_ms: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0u8..3, 0u16..3000, -50i16..200).prop_map(|(gap, len, ts_step)| Op::Append { gap, len, ts_step }),
        4 => (any::<u16>(), 1u8..50).prop_map(|(from_index, max)| Op::Read { from_index, max }),
        2 => any::<u32>().prop_map(|ts_offset| Op::SeekTimestamp { ts_offset: ts_offset % 100_000 }),
        1 => Just(Op::Sync),
        1 => Just(Op::Close),
        1 => Just(Op::Crash),
        1 => (0u32..50_000).prop_map(|age_ms| Op::Retain { age_ms }),
    ]
}

#[derive(Debug, Clone, PartialEq)]
struct ModelRecord {
    seq: u128,
    ts: u64,
    data: Vec<u8>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
        let (_mem, storage) = mem();
        let dir = Path::new("/log");
        let config = LogConfig { segment_bytes_initial: 16 << 10, segment_bytes_max: 32 << 10, ..LogConfig::default() };
        let (mut log, _) = open(&storage, dir, &config);
        let mut model: Vec<ModelRecord> = Vec::new();
        let mut next_seq = 1u128;
        let mut ts = 1_000_000u64;
        let mut now = ts;
        for op in ops {
            match op {
                Op::Append { gap, len, ts_step } => {
                    next_seq += gap as u128;
                    ts = ts.saturating_add_signed(ts_step as i64);
                    now = now.max(ts);
                    let data = payload(next_seq as u64, len as usize);
                    log.append(next_seq, ts, "key", &data).unwrap();
                    model.push(ModelRecord { seq: next_seq, ts, data });
                    next_seq += 1;
                }
                Op::Read { from_index, max } => {
                    let reader = log.reader();
                    if model.is_empty() {
                        continue;
                    }
                    let start = reader.start_seq().unwrap();
                    let kept: Vec<&ModelRecord> = model.iter().filter(|r| r.seq >= start).collect();
                    let from = if kept.is_empty() { start } else { kept[from_index as usize % kept.len()].seq };
                    let batch = reader.read(from, max as usize, usize::MAX).unwrap();
                    let got: Vec<ModelRecord> = batch.iter().map(|r| ModelRecord { seq: r.seq, ts: r.timestamp_ms, data: r.data.to_vec() }).collect();
                    let want: Vec<ModelRecord> = kept.iter().filter(|r| r.seq >= from).take(max as usize).map(|r| (*r).clone()).collect();
                    prop_assert_eq!(got, want);
                }
                Op::SeekTimestamp { ts_offset } => {
                    let reader = log.reader();
                    let target = 1_000_000 + ts_offset as u64;
                    let start = reader.start_seq().unwrap_or(0);
                    let want = model.iter().filter(|r| r.seq >= start).find(|r| r.ts >= target).map(|r| r.seq);
                    prop_assert_eq!(reader.seek_timestamp(target), want);
                }
                Op::Sync => log.sync().unwrap(),
                Op::Close => {
                    log.close().unwrap();
                    let (reopened, report) = open(&storage, dir, &config);
                    prop_assert!(report.tail.is_none());
                    log = reopened;
                }
                Op::Crash => {
                    drop(log);
                    let (reopened, report) = open(&storage, dir, &config);
                    prop_assert!(report.tail.is_none(), "a process crash keeps the page cache: {:?}", report);
                    log = reopened;
                }
                Op::Retain { age_ms } => {
                    let report = log.enforce_retention(now, &RetentionPolicy { max_age_ms: Some(age_ms as u64), max_total_bytes: None }).unwrap();
                    if let Some(start) = report.start_seq {
                        // Everything deleted was below the new start and old enough.
                        let deleted: Vec<&ModelRecord> = model.iter().filter(|r| r.seq < start).collect();
                        prop_assert_eq!(deleted.len() as u64, report.records_deleted);
                        prop_assert!(deleted.iter().all(|r| r.ts + (age_ms as u64) < now));
                        model.retain(|r| r.seq >= start);
                    }
                }
            }
            // After every step the whole log equals the model.
            let all: Vec<ModelRecord> = read_all(&log).into_iter().map(|(seq, ts, _, data)| ModelRecord { seq, ts, data }).collect();
            prop_assert_eq!(&all, &model);
            if let Some(last) = model.last() {
                prop_assert_eq!(log.last_seq(), Some(last.seq));
            }
        }
        // Reading before the start is refused once anything was deleted.
        if let Some(start) = log.reader().start_seq()
            && start > 0
        {
            let err = log.reader().read(start - 1, 1, usize::MAX).unwrap_err();
            prop_assert!(matches!(err, LogError::Trimmed { .. }), "{}", err);
        }
    }
}
