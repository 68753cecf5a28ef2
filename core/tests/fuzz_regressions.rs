//! Replays every saved fuzz finding (`fuzz/regressions/<target>/<name>`) through the
//! fuzz entry points, plus a batch of seeded random and mutated inputs: the short fuzz
//! run of every test run. Each saved finding is a named regression test input.

mod common;

use std::path::PathBuf;

use tidelog::fuzzing;
use tidelog::io::sim::SimRng;

fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_file() && path.file_name().is_some_and(|n| n != ".gitkeep") {
            out.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

/// Random inputs: fresh bytes, and mutations (bit flips, truncations, splices) of seeds.
fn inputs(seeds: &[Vec<u8>], count: usize, max_len: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = SimRng::new(seed);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let mut bytes = if seeds.is_empty() || i % 3 == 0 {
            (0..rng.below(max_len as u64 + 1))
                .map(|_| rng.next_u64() as u8)
                .collect()
        } else {
            seeds[rng.below(seeds.len() as u64) as usize].clone()
        };
        for _ in 0..rng.below(4) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.below(bytes.len() as u64) as usize;
            match rng.below(4) {
                0 => bytes[at] ^= 1 << rng.below(8),
                1 => bytes.truncate(at),
                2 => bytes[at] = rng.next_u64() as u8,
                _ => {
                    let extra: Vec<u8> = (0..rng.below(16)).map(|_| rng.next_u64() as u8).collect();
                    bytes.splice(at..at, extra);
                }
            }
        }
        out.push(bytes);
    }
    out
}

fn valid_frame() -> Vec<u8> {
    use zerocopy::IntoBytes;
    let header = tidelog::log::record::encode_header(7, 9, b"key", b"some data");
    let mut frame = header.as_bytes().to_vec();
    frame.extend_from_slice(b"keysome data");
    frame
}

#[test]
fn record_decode() {
    for (name, bytes) in regressions("record_decode") {
        eprintln!("replaying record_decode/{name}");
        fuzzing::record_decode(&bytes);
    }
    for input in inputs(&[valid_frame()], 20_000, 200, 1) {
        fuzzing::record_decode(&input);
    }
}

#[test]
fn segment_recovery() {
    for (name, bytes) in regressions("segment_recovery") {
        eprintln!("replaying segment_recovery/{name}");
        fuzzing::segment_recovery(&bytes);
    }
    let mut seeds = Vec::new();
    for mode in 0..3u8 {
        let mut seed = vec![mode];
        for _ in 0..3 {
            seed.extend_from_slice(&valid_frame());
            seed.extend_from_slice(&[0u8; 4]); // pad frames to 8 bytes (61 + 3)
        }
        seeds.push(seed);
    }
    for input in inputs(&seeds, 600, 400, 2) {
        fuzzing::segment_recovery(&input);
    }
}

#[test]
fn iterator_token() {
    for (name, bytes) in regressions("iterator_token") {
        eprintln!("replaying iterator_token/{name}");
        fuzzing::iterator_token(&bytes);
    }
    let token = tidelog::stream::iterator::IteratorToken {
        stream_id: 3,
        shard_index: 1,
        next_seq: 99,
        issued_ms: 5,
    }
    .encode(&[7u8; 32]);
    for input in inputs(&[token.into_bytes()], 20_000, 120, 3) {
        fuzzing::iterator_token(&input);
    }
}

#[test]
fn catalog_decode() {
    for (name, bytes) in regressions("catalog_decode") {
        eprintln!("replaying catalog_decode/{name}");
        fuzzing::catalog_decode(&bytes);
    }
    let mut data = tidelog::stream::catalog::CatalogData {
        epoch: 4,
        next_stream_id: 3,
        secret: [1; 32],
        streams: vec![],
        account: Default::default(),
    };
    let empty = tidelog::stream::catalog::encode(&data);
    data.streams.push(tidelog::stream::catalog::StreamRecord {
        id: 2,
        name: "s".to_string(),
        status: tidelog::stream::catalog::StreamStatus::Active,
        created_ms: 1,
        retention_hours: 24,
        retention_floor_ms: 0,
        next_shard_index: 1,
        tags: Default::default(),
        shards: vec![tidelog::stream::catalog::ShardRecord {
            index: 0,
            hash_range: tidelog::stream::hashkey::HashRange::ALL,
            state: tidelog::stream::catalog::ShardState::Open,
            parent: None,
            adjacent_parent: None,
            starting_seq: 1,
            ending_seq: None,
            core: 0,
            created_ms: 1,
            closed_ms: 0,
        }],
        settings: tidelog::stream::catalog::StreamSettings {
            mode: tidelog::stream::catalog::StreamMode::OnDemand,
            encryption_slot: Some(1),
            key_slots: vec![tidelog::stream::catalog::KeySlot {
                slot: 1,
                key_id: "alias/aws/kinesis".to_string(),
                wrapped_key: vec![1; 64],
                created_ms: 1,
            }],
            consumers: vec![tidelog::stream::catalog::ConsumerRecord {
                name: "c".to_string(),
                created_ms: 1,
                active_ms: 1,
                gone_ms: None,
                tags: Default::default(),
                policy: Some("{}".to_string()),
            }],
            ..Default::default()
        },
    });
    let full = tidelog::stream::catalog::encode(&data);
    // Odd first byte: the rest is a body that gets a valid header.
    let mut body_only = vec![1u8];
    body_only.extend_from_slice(&full[64..]);
    for input in inputs(&[empty, full, body_only], 20_000, 300, 4) {
        fuzzing::catalog_decode(&input);
    }
}

#[test]
fn queue_files() {
    use tidelog::queue::format;
    use tidelog::queue::{Delivery, Entry, QueueDefinition, QueueStart};
    for (name, bytes) in regressions("queue_files") {
        eprintln!("replaying queue_files/{name}");
        fuzzing::queue_files(&bytes);
    }
    let q = QueueDefinition {
        id: 7,
        name: "q".to_string(),
        stream_id: 2,
        stream: "s".to_string(),
        stream_created_ms: 1,
        start: QueueStart::AtTimestamp(3),
        effective_start_ms: 3,
        created_ms: 4,
        active_ms: 4,
        updating_until_ms: 0,
        gone_ms: Some(9),
        visibility_timeout_s: 30,
        max_receive_count: Some(6),
        tags: [("k".to_string(), "v".to_string())].into(),
        policy: Some("{}".to_string()),
    };
    let mut catalog_seed = vec![1u8];
    catalog_seed.extend_from_slice(&format::encode_catalog(&[q])[20..]);
    let mut journal_seed = vec![0u8];
    format::encode_entries(
        &[
            Entry::Receipts { next: 3 },
            Entry::Frontier { shard: 1, next: 40 },
            Entry::Deliver {
                seq: 39,
                delivery: Delivery {
                    receipt: 2,
                    receive_count: 1,
                    visible_at_ms: 10,
                    first_receive_ms: 5,
                    dead: false,
                },
            },
            Entry::Forget { seq: 39 },
        ],
        &mut journal_seed,
    );
    for input in inputs(&[catalog_seed, journal_seed], 20_000, 300, 5) {
        fuzzing::queue_files(&input);
    }
}
