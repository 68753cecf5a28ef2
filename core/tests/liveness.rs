//! Liveness under an oversubscribed host: a core thread descheduled at any moment still
//! serves every request. glommio 0.9 can park an executor that has runnable tasks when
//! its thread is descheduled between arming the preemption timer and running its task
//! queues (`core/src/runtime/core.rs`, the watchdog). With the core loop's watchdog
//! timer removed, the puts stop for good within seconds: this test failed 2 of 3 runs,
//! and a 20 s release-mode version of it hung in 3 of 3 (after 1.3, 8.0 and 8.5 s). It
//! asserts progress, not speed: some put must complete in every 30 s window. Its own
//! binary, because it keeps every CPU busy with spinning threads.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tidelog::{Durability, Engine, EngineConfig, Limits, PutOptions};

/// How long the puts run; `TIDELOG_LIVENESS_SECONDS` for longer runs.
fn seconds() -> u64 {
    std::env::var("TIDELOG_LIVENESS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8)
}

#[test]
fn puts_keep_completing_while_the_cpus_are_oversubscribed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(tmp.path().join("data"));
    config.cores = Some(1);
    config.durability = Durability::Os;
    config.limits = Limits::unlimited();
    // The shortest timer widens the window glommio's caveat needs.
    config.preempt_timer = Duration::from_micros(100);
    let engine = Engine::open(config).unwrap();
    engine.create_stream("s", 1).unwrap();

    // More runnable threads than CPUs, so the core thread is descheduled often.
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let stop = Arc::new(AtomicBool::new(false));
    let spinners: Vec<_> = (0..cpus + 1)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                }
            })
        })
        .collect();

    let (progress, progressed) = mpsc::channel::<u64>();
    let run_for = Duration::from_secs(seconds());
    let writer = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            let data = vec![7u8; 1024];
            let start = Instant::now();
            let mut puts = 0u64;
            while start.elapsed() < run_for {
                engine
                    .put_record("s", "k", &data, PutOptions::default())
                    .unwrap();
                puts += 1;
                if puts % 256 == 0 && progress.send(puts).is_err() {
                    break;
                }
            }
            puts
        })
    };
    let mut last = 0;
    loop {
        match progressed.recv_timeout(Duration::from_secs(30)) {
            Ok(puts) => last = puts,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                stop.store(true, Ordering::Relaxed);
                panic!(
                    "no put completed for 30 s after {last} puts: a core is asleep with work to do"
                );
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for spinner in spinners {
        spinner.join().unwrap();
    }
    let puts = writer.join().unwrap();
    assert!(puts > 0);
    // Every acknowledged put is there.
    let records = common::read_shard(&engine, "s", "shardId-000000000000");
    assert_eq!(records.len() as u64, puts);
    engine.close().unwrap();
}
