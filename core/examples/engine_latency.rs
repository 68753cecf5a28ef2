//! Quick engine latency probe (the benchmark suite in benches/ is the full version).

use std::time::{Duration, Instant};

use tidelog::{
    Durability, Engine, EngineConfig, Limits, PutOptions, StartingPosition, SubscriptionEvent,
};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p) as usize]
}

fn raw_baseline(dir: &std::path::Path) -> (Duration, Duration) {
    use std::os::unix::fs::FileExt;
    let path = dir.join("raw.bin");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    f.write_all_at(&vec![0u8; 1 << 20], 0).unwrap();
    f.sync_all().unwrap();
    let mut lat = Vec::new();
    for i in 0..2000u64 {
        let t = Instant::now();
        f.write_all_at(&[1u8; 1024], (i % 256) * 4096).unwrap();
        f.sync_data().unwrap();
        if i >= 200 {
            lat.push(t.elapsed());
        }
    }
    let _ = std::fs::remove_file(&path);
    (pct(&mut lat, 0.5), pct(&mut lat, 0.99))
}

fn main() {
    let dir = std::env::temp_dir().join(format!("tidelog-latency-{}", std::process::id()));
    let cores: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let blocking = std::env::args().nth(2).is_some_and(|a| a == "blocking");
    let mut config = EngineConfig::new(&dir);
    if blocking {
        config.sync_driver = tidelog::SyncDriver::Blocking;
    }
    config.cores = Some(cores);
    config.limits = Limits::unlimited();
    let engine = Engine::open(config).unwrap();
    let (p50, p99) = raw_baseline(&dir);
    println!("raw pwrite 1 KiB + fdatasync: p50 {p50:?} p99 {p99:?}");
    engine.create_stream("s", 1).unwrap();
    let data = vec![7u8; 1024];
    for durability in [Durability::Os, Durability::Sync] {
        let options = PutOptions {
            durability: Some(durability),
            ..Default::default()
        };
        for _ in 0..2000 {
            engine.put_record("s", "k", &data, options).unwrap();
        }
        let n = if durability == Durability::Os {
            200_000
        } else {
            3000
        };
        let mut lat = Vec::with_capacity(n);
        let start = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            engine.put_record("s", "k", &data, options).unwrap();
            lat.push(t.elapsed());
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "put 1 KiB {durability:?}: p50 {:?} p99 {:?} p99.9 {:?} max {:?}  ({:.0}/s)",
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99),
            pct(&mut lat, 0.999),
            pct(&mut lat, 1.0),
            n as f64 / secs
        );
    }
    // 64 producers, sync.
    for producers in [1usize, 8, 64] {
        let per = 6000 / producers.min(8);
        let start = Instant::now();
        let threads: Vec<_> = (0..producers)
            .map(|p| {
                let engine = engine.clone();
                let data = data.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        engine
                            .put_record(
                                "s",
                                &format!("p{p}-{i}"),
                                &data,
                                PutOptions {
                                    durability: Some(Durability::Sync),
                                    ..Default::default()
                                },
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let total = per * producers;
        println!(
            "sync puts, {producers} producers: {:.0} records/s",
            total as f64 / start.elapsed().as_secs_f64()
        );
    }
    // put -> subscriber
    let mut sub = engine
        .subscribe("s", "shardId-000000000000", StartingPosition::Latest, false)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Instant>();
    let consumer = std::thread::spawn(move || {
        let mut lat = Vec::new();
        while lat.len() < 20_000 {
            if let SubscriptionEvent::Records { batch, .. } =
                sub.next(Duration::from_secs(5)).unwrap()
            {
                let now = Instant::now();
                for _ in 0..batch.len() {
                    let sent = rx.recv().unwrap();
                    lat.push(now - sent);
                }
            }
        }
        lat
    });
    for _ in 0..20_000 {
        tx.send(Instant::now()).unwrap();
        engine
            .put_record(
                "s",
                "k",
                &data,
                PutOptions {
                    durability: Some(Durability::Os),
                    ..Default::default()
                },
            )
            .unwrap();
        // Sleep between puts: a busy-waiting producer would take the CPU the
        // subscriber spins on (this machine has two).
        std::thread::sleep(Duration::from_micros(50));
    }
    let mut lat = consumer.join().unwrap();
    println!(
        "put -> subscriber (os): p50 {:?} p99 {:?} p99.9 {:?}",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99),
        pct(&mut lat, 0.999)
    );
    let (p50, p99) = raw_baseline(&dir);
    println!("raw pwrite 1 KiB + fdatasync: p50 {p50:?} p99 {p99:?}");
    engine.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
