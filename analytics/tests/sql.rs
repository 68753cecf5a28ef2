//! SQL over streams, checked against references computed here independently (plain
//! Rust over the same records, parsed with serde_json).

use std::collections::BTreeMap;
use std::sync::Arc;

use tidelog::{Durability, Engine, EngineConfig, ManualClock, PutOptions, PutRecordsEntry};
use tidelog_analytics::arrow::array::{
    Array, AsArray, BinaryViewArray, Decimal128Array, Float64Array, Int64Array, RecordBatch,
    StringArray,
};
use tidelog_analytics::arrow::datatypes::Int64Type;
use tidelog_analytics::{Analytics, AnalyticsOptions, InputSchema, QueryResult};

const T0: u64 = 1_700_000_000_000;

fn open(dir: &std::path::Path, clock: Option<Arc<ManualClock>>) -> Engine {
    let mut config = EngineConfig::new(dir);
    config.cores = Some(1);
    config.pin_cores = false;
    config.limits = tidelog::Limits::unlimited();
    config.durability = Durability::Os;
    config.log.segment_bytes_initial = 16 << 10;
    config.log.segment_bytes_max = 64 << 10;
    if let Some(clock) = clock {
        config.clock = clock;
    }
    Engine::open(config).expect("open engine")
}

fn session(engine: &Engine) -> Analytics {
    Analytics::with_options(
        engine,
        AnalyticsOptions {
            threads: Some(2),
            ..Default::default()
        },
    )
    .unwrap()
}

/// An order event, as JSON, and its fields for the reference.
#[derive(Debug, Clone)]
struct Order {
    id: i64,
    customer: String,
    region: String,
    total: f64,
    items: i64,
}

impl Order {
    fn new(i: i64) -> Self {
        let regions = ["eu", "us", "apac"];
        Self {
            id: i,
            customer: format!("c{}", i % 17),
            region: regions[(i % 3) as usize].to_string(),
            total: ((i * 37) % 1000) as f64 / 4.0,
            items: i % 5 + 1,
        }
    }

    fn json(&self) -> String {
        format!(
            r#"{{"id": {}, "customer": {{"name": "{}", "tier": "gold"}}, "region": "{}", "total": {}, "items": {}, "note": "x{{y}}\"z"}}"#,
            self.id, self.customer, self.region, self.total, self.items
        )
    }
}

fn orders_schema() -> InputSchema {
    InputSchema::json(&[
        ("id", "BIGINT", "$.id"),
        ("customer", "VARCHAR(16)", "$.customer.name"),
        ("region", "VARCHAR(4)", "$.region"),
        ("total", "DOUBLE", "$.total"),
        ("items", "INTEGER", "$.items"),
    ])
    .unwrap()
}

fn put_orders(engine: &Engine, stream: &str, orders: &[Order]) {
    for chunk in orders.chunks(500) {
        let bodies: Vec<String> = chunk.iter().map(Order::json).collect();
        let keys: Vec<String> = chunk.iter().map(|o| o.customer.clone()).collect();
        let entries: Vec<PutRecordsEntry<'_>> = bodies
            .iter()
            .zip(&keys)
            .map(|(b, k)| PutRecordsEntry {
                partition_key: k,
                data: b.as_bytes(),
                explicit_hash_key: None,
            })
            .collect();
        let out = engine.put_records(stream, &entries, None).unwrap();
        assert_eq!(out.failed_record_count, 0);
    }
}

fn column_i64(result: &QueryResult, name: &str) -> Vec<i64> {
    let batch = result.concat().unwrap();
    let col = batch.column_by_name(name).unwrap();
    col.as_primitive::<Int64Type>().values().to_vec()
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<String> {
    let col = batch.column_by_name(name).unwrap();
    let col = col.as_any().downcast_ref::<StringArray>().unwrap();
    (0..col.len()).map(|i| col.value(i).to_string()).collect()
}

#[test]
fn projection_filter_and_aggregate_match_a_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = open(tmp.path(), None);
    engine.create_stream("orders", 3).unwrap();
    let orders: Vec<Order> = (0..3000).map(Order::new).collect();
    put_orders(&engine, "orders", &orders);
    let sql = session(&engine);
    sql.register_stream("orders", "orders", orders_schema())
        .unwrap();

    // Filter + group-by + order.
    let result = sql
        .sql(
            "SELECT region, COUNT(*) AS n, SUM(total) AS revenue, MAX(items) AS most \
             FROM orders WHERE total > 100 AND customer <> 'c3' GROUP BY region ORDER BY region",
        )
        .unwrap();
    let mut reference: BTreeMap<String, (i64, f64, i64)> = BTreeMap::new();
    for o in orders
        .iter()
        .filter(|o| o.total > 100.0 && o.customer != "c3")
    {
        let e = reference.entry(o.region.clone()).or_insert((0, 0.0, 0));
        e.0 += 1;
        e.1 += o.total;
        e.2 = e.2.max(o.items);
    }
    let batch = result.concat().unwrap();
    assert_eq!(
        strings(&batch, "region"),
        reference.keys().cloned().collect::<Vec<_>>()
    );
    assert_eq!(
        column_i64(&result, "n"),
        reference.values().map(|v| v.0).collect::<Vec<_>>()
    );
    let revenue = batch.column_by_name("revenue").unwrap();
    let revenue = revenue.as_any().downcast_ref::<Float64Array>().unwrap();
    for (i, v) in reference.values().enumerate() {
        assert!((revenue.value(i) - v.1).abs() < 1e-6);
    }
    assert_eq!(result.rejected(), 0);
    assert_eq!(result.scans.len(), 1);
    assert_eq!(result.scans[0].records_read, 3000);
    assert_eq!(result.scans[0].shards_scanned, 3);

    // Projection of metadata: every record once, with its key.
    let meta = sql
        .sql("SELECT partition_key, id, shard_id, sequence_number, approximate_arrival_time, data FROM orders")
        .unwrap();
    assert_eq!(meta.num_rows(), 3000);
    let batch = meta.concat().unwrap();
    let ids = batch
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let keys = strings(&batch, "partition_key");
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(key, &format!("c{}", ids.value(i) % 17));
    }
    let data = batch.column_by_name("data").unwrap().as_binary::<i32>();
    for i in 0..batch.num_rows() {
        assert_eq!(
            data.value(i),
            orders[ids.value(i) as usize].json().as_bytes()
        );
    }

    // LIMIT stops the scan early.
    let limited = sql.sql("SELECT id FROM orders LIMIT 10").unwrap();
    assert_eq!(limited.num_rows(), 10);
    assert!(
        limited.scans[0].records_read < 3000,
        "{:?}",
        limited.scans[0]
    );

    // COUNT(*) reads no column at all and still counts every row.
    let count = sql.sql("SELECT COUNT(*) AS n FROM orders").unwrap();
    assert_eq!(column_i64(&count, "n"), vec![3000]);
    engine.close().unwrap();
}

#[test]
fn time_filters_skip_whole_segments_and_stay_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(tmp.path(), Some(Arc::clone(&clock)));
    engine.create_stream("events", 2).unwrap();
    // Ten minutes of orders, 400 a minute: many 16-64 KiB segments per shard.
    let mut orders = Vec::new();
    let mut arrival = Vec::new();
    for minute in 0..10 {
        let batch: Vec<Order> = (0..400).map(|i| Order::new(minute * 400 + i)).collect();
        put_orders(&engine, "events", &batch);
        arrival.extend(batch.iter().map(|_| T0 + minute as u64 * 60_000));
        orders.extend(batch);
        clock.advance_ms(60_000);
    }
    let sql = session(&engine);
    sql.register_stream("events", "events", orders_schema())
        .unwrap();
    let from = "2023-11-14 22:20:20"; // T0 + 7 minutes, as UTC text
    assert_eq!(
        tidelog_analytics::parse::parse_timestamp_ms(from),
        Some((T0 + 420_000) as i64)
    );
    let query = format!(
        "SELECT COUNT(*) AS n, SUM(items) AS items FROM events \
         WHERE approximate_arrival_time >= TIMESTAMP '{from}' AND region = 'eu'"
    );
    let result = sql.sql(&query).unwrap();
    let expected: Vec<&Order> = orders
        .iter()
        .zip(&arrival)
        .filter(|(o, t)| **t >= T0 + 420_000 && o.region == "eu")
        .map(|(o, _)| o)
        .collect();
    assert_eq!(column_i64(&result, "n"), vec![expected.len() as i64]);
    assert_eq!(
        column_i64(&result, "items"),
        vec![expected.iter().map(|o| o.items).sum::<i64>()]
    );
    let scan = &result.scans[0];
    assert!(scan.segments_total > 6, "{scan:?}");
    assert!(scan.segments_skipped > 0, "{scan:?}");
    assert!(scan.records_read < 4000, "{scan:?}");
    // The plan shows the pushed range; DataFusion kept no filter on the time.
    let explain = sql
        .sql(&format!("EXPLAIN {query}"))
        .unwrap()
        .pretty()
        .unwrap();
    assert!(
        explain.contains("approximate_arrival_time in ["),
        "{explain}"
    );

    // A closed range, BETWEEN, and sequence numbers.
    let result = sql
        .sql(&format!(
            "SELECT COUNT(*) AS n FROM events WHERE approximate_arrival_time BETWEEN \
             to_timestamp_millis({}) AND to_timestamp_millis({})",
            T0 + 120_000,
            T0 + 180_000
        ))
        .unwrap();
    assert_eq!(column_i64(&result, "n"), vec![800]);
    let all = sql
        .sql("SELECT shard_id, sequence_number FROM events ORDER BY sequence_number")
        .unwrap()
        .concat()
        .unwrap();
    let seqs = all.column_by_name("sequence_number").unwrap();
    let seqs = seqs.as_any().downcast_ref::<Decimal128Array>().unwrap();
    let shard0: Vec<i128> = (0..seqs.len())
        .filter(|i| strings(&all, "shard_id")[*i] == "shardId-000000000000")
        .map(|i| seqs.value(i))
        .collect();
    let mid = shard0[shard0.len() / 2];
    let result = sql
        .sql(&format!(
            "SELECT COUNT(*) AS n FROM events WHERE shard_id = 'shardId-000000000000' \
             AND sequence_number >= {mid}"
        ))
        .unwrap();
    assert_eq!(
        column_i64(&result, "n"),
        vec![shard0.iter().filter(|s| **s >= mid).count() as i64]
    );
    assert_eq!(result.scans[0].shards_scanned, 1);
    assert!(
        result.scans[0].segments_skipped > 0,
        "{:?}",
        result.scans[0]
    );
    engine.close().unwrap();
}

#[test]
fn joins_of_two_streams_and_a_reshard_between_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = open(tmp.path(), None);
    engine.create_stream("orders", 2).unwrap();
    engine.create_stream("customers", 1).unwrap();
    let orders: Vec<Order> = (0..1000).map(Order::new).collect();
    put_orders(&engine, "orders", &orders);
    for c in 0..17 {
        let body = format!(
            r#"{{"name": "c{c}", "country": "{}"}}"#,
            if c % 2 == 0 { "FR" } else { "US" }
        );
        engine
            .put_record(
                "customers",
                &format!("c{c}"),
                body.as_bytes(),
                PutOptions::default(),
            )
            .unwrap();
    }
    let sql = session(&engine);
    sql.register_stream("orders", "orders", orders_schema())
        .unwrap();
    sql.register_stream(
        "customers",
        "customers",
        InputSchema::json(&[
            ("name", "VARCHAR", "$.name"),
            ("country", "VARCHAR(2)", "$.country"),
        ])
        .unwrap(),
    )
    .unwrap();
    let q = "SELECT c.country, COUNT(*) AS n FROM orders o JOIN customers c ON o.customer = c.name \
             GROUP BY c.country ORDER BY c.country";
    let result = sql.sql(q).unwrap();
    let fr = orders
        .iter()
        .filter(|o| o.customer[1..].parse::<i64>().unwrap() % 2 == 0)
        .count() as i64;
    assert_eq!(column_i64(&result, "n"), vec![fr, 1000 - fr]);
    assert_eq!(result.scans.len(), 2);

    // Split a shard, write more: the parents' records and the children's both count.
    let shard = engine.describe_stream("orders").unwrap().shards[0].clone();
    let middle = shard.hash_range.start / 2 + shard.hash_range.end / 2;
    engine
        .split_shard("orders", &shard.shard_id, &middle.to_string())
        .unwrap();
    let more: Vec<Order> = (1000..1600).map(Order::new).collect();
    put_orders(&engine, "orders", &more);
    let result = sql
        .sql("SELECT COUNT(*) AS n, SUM(id) AS ids FROM orders")
        .unwrap();
    assert_eq!(column_i64(&result, "n"), vec![1600]);
    assert_eq!(column_i64(&result, "ids"), vec![(0..1600).sum::<i64>()]);
    assert_eq!(result.scans[0].shards_total, 4);
    engine.close().unwrap();
}

#[test]
fn bad_records_are_rejected_with_reasons_and_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = open(tmp.path(), None);
    engine.create_stream("mixed", 1).unwrap();
    let records: Vec<&[u8]> = vec![
        br#"{"id": 1, "region": "eu"}"#,
        b"this is not json",
        br#"{"id": "seven", "region": "us"}"#,
        br#"{"id": 3, "region": "toolong"}"#,
        br#"{"id": 4}"#,
    ];
    for r in &records {
        engine
            .put_record("mixed", "k", r, PutOptions::default())
            .unwrap();
    }
    let sql = session(&engine);
    sql.register_stream(
        "mixed",
        "mixed",
        InputSchema::json(&[
            ("id", "BIGINT", "$.id"),
            ("region", "VARCHAR(4)", "$.region"),
        ])
        .unwrap(),
    )
    .unwrap();
    let result = sql.sql("SELECT id, region FROM mixed ORDER BY id").unwrap();
    assert_eq!(column_i64(&result, "id"), vec![1, 4]);
    assert_eq!(result.rejected(), 3);
    let reasons: Vec<String> = result.scans[0]
        .rejected_samples
        .iter()
        .map(|r| r.reason.clone())
        .collect();
    assert!(reasons[0].contains("not a JSON object"), "{reasons:?}");
    assert!(
        reasons[1].contains("column id") && reasons[1].contains("not an integer"),
        "{reasons:?}"
    );
    assert!(reasons[2].contains("VARCHAR(4)"), "{reasons:?}");
    // The error table lists each bad record with its data and reason.
    let errors = sql
        .sql("SELECT sequence_number, data, error FROM mixed_errors ORDER BY sequence_number")
        .unwrap()
        .concat()
        .unwrap();
    assert_eq!(errors.num_rows(), 3);
    let data = errors.column_by_name("data").unwrap().as_binary::<i32>();
    assert_eq!(data.value(0), b"this is not json");
    assert!(strings(&errors, "error")[2].contains("VARCHAR(4)"));
    engine.close().unwrap();
}

#[test]
fn csv_streams_and_schema_inference() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = open(tmp.path(), None);
    engine.create_stream("csv", 1).unwrap();
    engine
        .put_record(
            "csv",
            "k",
            b"AMZN,12.5,2024-05-01T10:00:00Z\nMSFT,3,2024-05-01T10:00:01Z\n",
            PutOptions::default(),
        )
        .unwrap();
    engine
        .put_record(
            "csv",
            "k",
            b"\"ACME, Inc\",1.25,2024-05-01T10:00:02Z",
            PutOptions::default(),
        )
        .unwrap();
    let sql = session(&engine);
    sql.register_stream(
        "ticks",
        "csv",
        InputSchema::csv(&[
            ("ticker", "VARCHAR"),
            ("price", "DOUBLE"),
            ("at", "TIMESTAMP"),
        ])
        .unwrap(),
    )
    .unwrap();
    let result = sql
        .sql("SELECT ticker, price, at FROM ticks ORDER BY at")
        .unwrap()
        .concat()
        .unwrap();
    assert_eq!(
        strings(&result, "ticker"),
        vec!["AMZN", "MSFT", "ACME, Inc"]
    );

    engine.create_stream("json", 2).unwrap();
    put_orders(
        &engine,
        "json",
        &(0..50).map(Order::new).collect::<Vec<_>>(),
    );
    let inferred = sql.infer_schema("json", 20).unwrap();
    assert_eq!(inferred.sampled, 20);
    let names: Vec<&str> = inferred
        .schema
        .columns()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "id",
            "customer_name",
            "customer_tier",
            "region",
            "total",
            "items",
            "note"
        ]
    );
    sql.register_stream("inferred", "json", inferred.schema.clone())
        .unwrap();
    let n = sql
        .sql("SELECT COUNT(*) AS n, SUM(items) AS s FROM inferred")
        .unwrap();
    assert_eq!(column_i64(&n, "n"), vec![50]);
    assert_eq!(n.rejected(), 0);
    engine.close().unwrap();
}

#[test]
fn bad_sql_and_bad_registrations_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = open(tmp.path(), None);
    engine.create_stream("s", 1).unwrap();
    let sql = session(&engine);
    sql.register_stream("s", "s", orders_schema()).unwrap();
    let err = sql.sql("SELEC id FROM s").unwrap_err().to_string();
    assert!(
        err.contains("SELEC") && err.contains("Line: 1, Column: 1"),
        "{err}"
    );
    let err = sql.sql("SELECT id FROM s WHERE").unwrap_err().to_string();
    assert!(err.contains("found: EOF"), "{err}");
    let err = sql
        .sql("SELECT id FROM s\nWHERE id = 1 oops")
        .unwrap_err()
        .to_string();
    assert!(err.contains("Line: 2"), "{err}");
    let err = sql.sql("SELECT nope FROM s").unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
    let err = sql.sql("SELECT * FROM missing").unwrap_err().to_string();
    assert!(err.contains("missing"), "{err}");
    assert!(sql.register_stream("s", "s", orders_schema()).is_err());
    assert!(
        sql.register_stream("bad name", "s", orders_schema())
            .is_err()
    );
    let err = sql
        .register_stream("t", "no-such-stream", orders_schema())
        .unwrap_err();
    assert!(matches!(err, tidelog_analytics::Error::Engine(_)), "{err}");
    sql.deregister("s").unwrap();
    assert!(sql.sql("SELECT * FROM s").is_err());
    assert!(sql.deregister("s").is_err());
    engine.close().unwrap();
}

#[test]
fn engine_reads_become_arrow_without_copying_payloads() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = open(tmp.path(), None);
    engine.create_stream("raw", 1).unwrap();
    let bodies: Vec<Vec<u8>> = (0..2000u32)
        .map(|i| format!("record {i} {}", "x".repeat((i % 40) as usize)).into_bytes())
        .collect();
    for b in &bodies {
        engine
            .put_record("raw", "key", b, PutOptions::default())
            .unwrap();
    }
    let it = engine
        .get_shard_iterator(
            "raw",
            "shardId-000000000000",
            tidelog::StartingPosition::TrimHorizon,
        )
        .unwrap();
    let out = engine.get_records(&it, Some(2000)).unwrap();
    assert_eq!(out.records.len(), 2000);
    let batch = tidelog_analytics::records_to_arrow(&out.records, &out.shard_id).unwrap();
    assert_eq!(batch.num_rows(), 2000);
    let data = batch.column_by_name("data").unwrap();
    let data = data.as_any().downcast_ref::<BinaryViewArray>().unwrap();
    assert!(
        data.data_buffers().len() > 1,
        "several segments, one buffer each"
    );
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(data.value(i), b.as_slice());
        let record = out.records.get(i).unwrap();
        if b.len() > 12 {
            // The Arrow value is the log's own bytes.
            assert_eq!(data.value(i).as_ptr(), record.data.as_ptr());
        }
    }
    drop(out);
    engine.close().unwrap();
    // The buffers keep the mappings alive after the batch and the engine are gone.
    assert_eq!(data.value(1999), bodies[1999].as_slice());
    let seq = batch.column_by_name("sequence_number").unwrap();
    assert!(!seq.is_empty());
    let _ = Int64Array::from(vec![0i64]);
}

#[test]
fn results_stream_batch_by_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = open(tmp.path(), None);
    engine.create_stream("s", 2).unwrap();
    put_orders(&engine, "s", &(0..5000).map(Order::new).collect::<Vec<_>>());
    let sql = session(&engine);
    sql.register_stream("s", "s", orders_schema()).unwrap();
    let stream = sql
        .sql_stream("SELECT id, total FROM s WHERE items > 2")
        .unwrap();
    use tidelog_analytics::arrow::record_batch::RecordBatchReader;
    assert_eq!(stream.schema().fields().len(), 2);
    let mut rows = 0;
    let mut ids = 0i64;
    for batch in stream {
        let batch = batch.unwrap();
        rows += batch.num_rows();
        ids += batch
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .sum::<i64>();
    }
    let expected: Vec<Order> = (0..5000).map(Order::new).filter(|o| o.items > 2).collect();
    assert_eq!(rows, expected.len());
    assert_eq!(ids, expected.iter().map(|o| o.id).sum::<i64>());
    // A failing query fails when planned, before any batch.
    assert!(sql.sql_stream("SELECT nope FROM s").is_err());
    engine.close().unwrap();
}
