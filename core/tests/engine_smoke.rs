use std::time::Duration;
use tidelog::{Durability, Engine, EngineConfig, PutOptions, StartingPosition};

#[test]
fn smoke() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(tmp.path());
    config.cores = Some(2);
    let engine = Engine::open(config.clone()).unwrap();
    engine.create_stream("orders", 4).unwrap();
    let out = engine
        .put_record("orders", "customer-1", b"hello", PutOptions::default())
        .unwrap();
    let os = engine
        .put_record(
            "orders",
            "customer-1",
            b"world",
            PutOptions {
                durability: Some(Durability::Os),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out.shard_id, os.shard_id);
    assert!(os.sequence_number > out.sequence_number);
    let it = engine
        .get_shard_iterator("orders", &out.shard_id, StartingPosition::TrimHorizon)
        .unwrap();
    let got = engine.get_records(&it, None).unwrap();
    let data: Vec<&[u8]> = got.records.iter().map(|r| r.data).collect();
    assert_eq!(data, vec![&b"hello"[..], &b"world"[..]]);
    let mut sub = engine
        .subscribe("orders", &out.shard_id, StartingPosition::Latest, false)
        .unwrap();
    let e2 = engine.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        e2.put_record("orders", "customer-1", b"pushed", PutOptions::default())
            .unwrap();
    });
    match sub.next(Duration::from_secs(5)).unwrap() {
        tidelog::SubscriptionEvent::Records { batch, .. } => {
            assert_eq!(batch.get(0).unwrap().data, b"pushed")
        }
        other => panic!("{other:?}"),
    }
    t.join().unwrap();
    engine.close().unwrap();
    let engine = Engine::open(config).unwrap();
    let it = engine
        .get_shard_iterator("orders", &out.shard_id, StartingPosition::TrimHorizon)
        .unwrap();
    let got = engine.get_records(&it, None).unwrap();
    assert_eq!(got.records.len(), 3);
    let next = engine
        .put_record("orders", "customer-1", b"again", PutOptions::default())
        .unwrap();
    assert!(next.sequence_number > got.records.get(2).unwrap().seq);
    engine.close().unwrap();
}
