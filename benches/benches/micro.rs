//! Micro-benchmarks of tidelog's hot pieces (criterion): record frame encode and
//! decode with CRC, encryption at rest's record envelope (AES-256-GCM seal and open),
//! MD5 routing, the token bucket, and the mailbox hop from a foreign thread to a core
//! and back.
//!
//! `cargo bench -p tidelog-bench` runs them all; add a filter (e.g. `-- mailbox`) to
//! run some.
#![forbid(unsafe_code)]
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tidelog::Limits;
use tidelog::crypto::{DataKey, RecordCipher};
use tidelog::log::format::align_up;
use tidelog::log::record::{Decoded, decode, encode_header};
use tidelog::runtime::mailbox::{Polled, mailbox};
use tidelog::runtime::reply;
use tidelog::stream::hashkey::{Routing, even_split, hash_key};
use tidelog::stream::throttle::{TokenBucket, WriteLimiter};
use zerocopy::IntoBytes;

/// A whole frame (header, key, data, padding) as the log writes it.
fn frame(seq: u128, key: &[u8], data: &[u8]) -> Vec<u8> {
    let header = encode_header(seq, 1_700_000_000_000, key, data);
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(data);
    bytes.resize(align_up(bytes.len()), 0);
    bytes
}

fn record_frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("record");
    for size in [100usize, 1024, 64 << 10] {
        let data = vec![0xABu8; size];
        let key = b"partition-key";
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("encode_header_crc", size),
            &data,
            |b, data| {
                b.iter(|| encode_header(black_box(42), 1_700_000_000_000, key, black_box(data)))
            },
        );
        let bytes = frame(42, key, &data);
        group.bench_with_input(
            BenchmarkId::new("decode_verify_crc", size),
            &bytes,
            |b, bytes| {
                b.iter(|| match decode(black_box(bytes), 256, true) {
                    Decoded::Frame(info) => info.frame_bytes,
                    _ => unreachable!("a well-formed frame"),
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("decode_header_only", size),
            &bytes,
            |b, bytes| {
                b.iter(|| match decode(black_box(bytes), 256, false) {
                    Decoded::Frame(info) => info.frame_bytes,
                    _ => unreachable!("a well-formed frame"),
                })
            },
        );
    }
    group.finish();
}

/// The record envelope alone: what encryption adds to a put (seal) and to a read
/// (open, into a copy), without the engine around it.
fn record_envelope(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope");
    let cipher = RecordCipher::new(1, 0, DataKey::generate().expect("random bytes"));
    let key = b"partition-key";
    for size in [100usize, 1024, 64 << 10] {
        let data = vec![0xABu8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal", size), &data, |b, data| {
            b.iter(|| {
                cipher
                    .seal(black_box(42), key, black_box(data))
                    .expect("seal")
            })
        });
        let sealed = cipher.seal(42, key, &data).expect("seal");
        group.bench_with_input(BenchmarkId::new("open", size), &sealed, |b, sealed| {
            b.iter(|| {
                cipher
                    .open(black_box(42), &sealed.key, black_box(&sealed.data))
                    .expect("open")
            })
        });
    }
    group.finish();
}

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing");
    let keys: Vec<String> = (0..1024).map(|i| format!("customer-{i:08}")).collect();
    let mut i = 0usize;
    group.bench_function("md5_hash_key", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            hash_key(black_box(&keys[i]))
        })
    });
    for shards in [1u32, 16, 1000, 10_000] {
        let table = Routing::new(
            even_split(shards)
                .into_iter()
                .enumerate()
                .map(|(i, r)| (r, i as u32))
                .collect(),
        )
        .unwrap_or_else(|_| unreachable!("an even split covers the space"));
        group.bench_with_input(BenchmarkId::new("md5_and_route", shards), &table, |b, t| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                t.route(hash_key(black_box(&keys[i])))
            })
        });
    }
    group.finish();
}

fn token_bucket(c: &mut Criterion) {
    let mut group = c.benchmark_group("throttle");
    let mut bucket = TokenBucket::new(1 << 20, 0);
    let mut now = 0u64;
    group.bench_function("token_bucket_try_take", |b| {
        b.iter(|| {
            now += 1000;
            bucket.try_take(black_box(1024), now)
        })
    });
    let mut limiter = WriteLimiter::new(&Limits::kinesis(), 0);
    group.bench_function("write_limiter_admit", |b| {
        b.iter(|| {
            now += 1000;
            limiter.admit(black_box(1024), now)
        })
    });
    group.finish();
}

/// A request to the echo thread: a number and where to answer.
struct Ping {
    value: u64,
    reply: reply::Reply<u64>,
}

fn mailbox_hop(c: &mut Criterion) {
    let mut group = c.benchmark_group("mailbox");
    // The receiving "core": polls its mailbox without parking (as a busy core does) and
    // answers through a reply slot. Two threads spinning: fine on two or more CPUs.
    let (tx, rx) = mailbox::<Ping>();
    let stop = Arc::new(AtomicBool::new(false));
    let echo = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match rx.poll_now() {
                    Polled::Item(ping) => ping.reply.send(Ok(ping.value + 1)),
                    Polled::Empty => std::hint::spin_loop(),
                    Polled::Closed => return,
                }
            }
        })
    };
    group.bench_function("send_receive_reply_round_trip", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let (reply, pending) = reply::channel();
                if tx.send(Ping { value: i, reply }).is_err() {
                    break;
                }
                let answer = pending.wait(Duration::from_millis(10));
                black_box(answer.ok());
            }
            start.elapsed()
        })
    });
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
    group.finish();
}

criterion_group! {
    name = micro;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = record_frames, record_envelope, routing, token_bucket, mailbox_hop
}
criterion_main!(micro);
