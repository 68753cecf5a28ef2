//! Transforms, dynamic partitioning, error output, backup, retries, Kinesis sources.
#![forbid(unsafe_code)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use tidelog_firehose::{TransformInput, TransformResult, TransformedRecord};

const FLUSH: Duration = Duration::from_secs(60);

fn lambda(name: &str) -> Value {
    json!({"Type": "Lambda", "Parameters": [
        {"ParameterName": "LambdaArn", "ParameterValue": format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")},
        {"ParameterName": "NumberOfRetries", "ParameterValue": "2"}]})
}

fn error_docs(objs: &[(String, Vec<u8>)], prefix: &str) -> Vec<Value> {
    objs.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .flat_map(|(_, b)| {
            String::from_utf8(b.clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn raw(doc: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(doc["rawData"].as_str().unwrap())
        .unwrap()
}

#[test]
fn transform_results_are_honoured_record_by_record() {
    let env = Env::new();
    env.firehose
        .register_transform(
            "upper",
            Arc::new(|input: &TransformInput| {
                Ok(input
                    .records
                    .iter()
                    .map(|r| {
                        let text = String::from_utf8_lossy(&r.data).to_string();
                        let result = if text.starts_with("drop") {
                            TransformResult::Dropped
                        } else if text.starts_with("fail") {
                            TransformResult::ProcessingFailed
                        } else {
                            TransformResult::Ok
                        };
                        TransformedRecord {
                            record_id: r.record_id.clone(),
                            result,
                            data: text.to_uppercase().into_bytes(),
                            partition_keys: BTreeMap::new(),
                        }
                    })
                    .collect())
            }),
            Duration::from_secs(60),
        )
        .unwrap();
    create(
        &env,
        "t",
        s3_config(
            "bkt",
            json!({"Prefix": "ok/", "ErrorOutputPrefix": "err/!{firehose:error-output-type}/",
                   "ProcessingConfiguration": {"Enabled": true, "Processors": [
                       lambda("upper"), {"Type": "AppendDelimiterToRecord"}]}}),
        ),
    );
    put_batch(
        &env,
        "t",
        &[
            b"a1".to_vec(),
            b"drop me".to_vec(),
            b"fail me".to_vec(),
            b"b2".to_vec(),
        ],
    );
    env.firehose.flush("t", FLUSH).unwrap();
    let objs = objects(&env.bucket("bkt"));
    let ok: Vec<_> = objs.iter().filter(|(k, _)| k.starts_with("ok/")).collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].1, b"A1\nB2\n");
    let docs = error_docs(&objs, "err/processing-failed/");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["errorCode"], "Lambda.ProcessingFailed");
    assert_eq!(raw(&docs[0]), b"fail me");
    assert_eq!(docs[0]["attemptsMade"], 1);
    assert_eq!(docs[0]["arrivalTimestamp"], START_MS);
    assert_eq!(
        docs[0]["lambdaArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:upper"
    );
    for field in ["errorMessage", "attemptEndingTimestamp"] {
        assert!(docs[0].get(field).is_some(), "{field}");
    }
    let m = env.firehose.metrics("t").unwrap();
    assert_eq!(m.succeed_processing_records, 2);
    assert_eq!(m.dropped_processing_records, 1);
    assert_eq!(m.failed_processing_records, 1);
}

#[test]
fn a_transform_that_panics_or_answers_garbage_sends_records_to_the_error_output() {
    let env = Env::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    env.firehose
        .register_transform(
            "bad",
            Arc::new(move |input: &TransformInput| {
                seen.fetch_add(1, Ordering::SeqCst);
                if input.records.len() > 1 {
                    panic!("too many");
                }
                Ok(vec![TransformedRecord {
                    record_id: "not-an-id".into(),
                    result: TransformResult::Ok,
                    data: vec![],
                    partition_keys: BTreeMap::new(),
                }])
            }),
            Duration::from_secs(60),
        )
        .unwrap();
    create(
        &env,
        "g",
        s3_config(
            "bkt",
            json!({"ProcessingConfiguration": {"Enabled": true, "Processors": [lambda("bad")]}}),
        ),
    );
    put_batch(&env, "g", &[b"x".to_vec(), b"y".to_vec()]);
    env.firehose.flush("g", FLUSH).unwrap();
    put_batch(&env, "g", &[b"z".to_vec()]);
    env.firehose.flush("g", FLUSH).unwrap();
    // Each invocation ran 1 + NumberOfRetries (2) times.
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    let objs = objects(&env.bucket("bkt"));
    let docs = error_docs(&objs, "processing-failed/");
    let mut codes: Vec<_> = docs
        .iter()
        .map(|d| d["errorCode"].as_str().unwrap().to_string())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            "Lambda.FunctionError",
            "Lambda.FunctionError",
            "Lambda.MissingRecordId"
        ]
    );
    let panicked = docs
        .iter()
        .find(|d| d["errorCode"] == "Lambda.FunctionError")
        .unwrap();
    assert!(
        panicked["errorMessage"]
            .as_str()
            .unwrap()
            .contains("too many")
    );
    assert!(docs.iter().all(|d| d["attemptsMade"] == 3));
    let mut raws: Vec<Vec<u8>> = docs.iter().map(raw).collect();
    raws.sort();
    assert_eq!(raws, [b"x".to_vec(), b"y".to_vec(), b"z".to_vec()]);
    assert!(
        objs.iter()
            .all(|(k, _)| k.starts_with("processing-failed/")),
        "{objs:?}"
    );
}

#[test]
fn dynamic_partitioning_by_query_and_lambda_keys() {
    let env = Env::with(|_| {}, |c| c.active_partitions_max = 3);
    env.firehose
        .register_transform(
            "tagger",
            Arc::new(|input: &TransformInput| {
                Ok(input
                    .records
                    .iter()
                    .map(|r| {
                        let mut keys = BTreeMap::new();
                        keys.insert("src".to_string(), "app".to_string());
                        TransformedRecord {
                            record_id: r.record_id.clone(),
                            result: TransformResult::Ok,
                            data: r.data.to_vec(),
                            partition_keys: keys,
                        }
                    })
                    .collect())
            }),
            Duration::from_secs(60),
        )
        .unwrap();
    create(
        &env,
        "dp",
        s3_config(
            "bkt",
            json!({
                "Prefix": "c=!{partitionKeyFromQuery:customer}/s=!{partitionKeyFromLambda:src}/!{timestamp:yyyy}/",
                "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
                "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
                "DynamicPartitioningConfiguration": {"Enabled": true},
                "ProcessingConfiguration": {"Enabled": true, "Processors": [
                    lambda("tagger"),
                    {"Type": "MetadataExtraction", "Parameters": [
                        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{customer: .customer.id}"},
                        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
                    {"Type": "AppendDelimiterToRecord"}]}}),
        ),
    );
    let mut records = Vec::new();
    for i in 0..40 {
        records.push(format!("{{\"customer\":{{\"id\":\"c{}\"}},\"n\":{i}}}", i % 5).into_bytes());
    }
    records.push(b"not json".to_vec());
    records.push(b"{\"customer\":{}}".to_vec());
    put_batch(&env, "dp", &records);
    env.firehose.flush("dp", FLUSH).unwrap();
    let objs = objects(&env.bucket("bkt"));
    let data: Vec<_> = objs.iter().filter(|(k, _)| k.starts_with("c=")).collect();
    // At most 3 active partitions: c0, c1, c2; records of c3 and c4 overflow.
    let mut prefixes: Vec<_> = data
        .iter()
        .map(|(k, _)| k.split("/dp-").next().unwrap().to_string())
        .collect();
    prefixes.sort();
    assert_eq!(
        prefixes,
        ["c=c0/s=app/2018", "c=c1/s=app/2018", "c=c2/s=app/2018"]
    );
    for (k, body) in &data {
        let c = &k[2..4];
        let lines: Vec<_> = String::from_utf8(body.clone())
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(lines.len(), 8);
        let ns: Vec<i64> = lines
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["customer"]["id"], c);
                v["n"].as_i64().unwrap()
            })
            .collect();
        let mut sorted = ns.clone();
        sorted.sort();
        assert_eq!(ns, sorted, "records of a partition keep their order");
    }
    let docs = error_docs(&objs, "errors/processing-failed/");
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for d in &docs {
        *codes
            .entry(d["errorCode"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(
        codes["DynamicPartitioning.ActivePartitionsLimitExceeded"],
        16
    );
    assert_eq!(codes["DynamicPartitioning.MetadataExtractionFailed"], 2);
    assert_eq!(
        env.firehose.metrics("dp").unwrap().partition_count_exceeded,
        16
    );
}

#[test]
fn backup_gets_the_untransformed_source_records() {
    let env = Env::new();
    env.firehose
        .register_transform(
            "rev",
            Arc::new(|input: &TransformInput| {
                Ok(input
                    .records
                    .iter()
                    .map(|r| TransformedRecord {
                        record_id: r.record_id.clone(),
                        result: TransformResult::Ok,
                        data: r.data.iter().rev().copied().collect(),
                        partition_keys: BTreeMap::new(),
                    })
                    .collect())
            }),
            Duration::from_secs(60),
        )
        .unwrap();
    create(
        &env,
        "bk",
        s3_config(
            "bkt",
            json!({"Prefix": "main/", "S3BackupMode": "Enabled",
                   "S3BackupConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup", "Prefix": "src/", "CompressionFormat": "GZIP"},
                   "ProcessingConfiguration": {"Enabled": true, "Processors": [lambda("rev")]}}),
        ),
    );
    put_batch(&env, "bk", &[b"abc".to_vec(), b"def".to_vec()]);
    env.firehose.flush("bk", FLUSH).unwrap();
    let main = objects(&env.bucket("bkt"));
    assert_eq!(main.len(), 1);
    assert_eq!(main[0].1, b"cbafed");
    let backup = objects(&env.bucket("backup"));
    assert_eq!(backup.len(), 1);
    assert!(backup[0].0.starts_with("src/2018/08/27/10/bk-1-") && backup[0].0.ends_with(".gz"));
    let mut out = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&backup[0].1[..]),
        &mut out,
    )
    .unwrap();
    assert_eq!(out, b"abcdef");
    let m = env.firehose.metrics("bk").unwrap();
    assert_eq!(m.backup_to_s3_records, 2);
}

#[test]
fn a_failing_directory_is_retried_with_backoff_on_the_clock() {
    let env = Env::new();
    create(
        &env,
        "r",
        s3_config(
            "blocked",
            json!({"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}),
        ),
    );
    // A file where the bucket's directory must be: every write fails.
    let dir = env.bucket("blocked");
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    std::fs::write(&dir, b"in the way").unwrap();
    put_batch(&env, "r", &[b"kept".to_vec()]);
    let e = env.firehose.flush("r", FLUSH).unwrap_err();
    assert!(e.to_string().contains("blocked"), "{e}");
    env.clock.advance_ms(5000);
    wait_for("freshness to grow", || {
        (env.firehose
            .metrics("r")
            .unwrap()
            .delivery_to_s3_data_freshness_ms
            >= 5000)
            .then_some(())
    });
    let attempts = env.firehose.metrics("r").unwrap().delivery_to_s3_attempts;
    // No time passes: no new attempt.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        env.firehose.metrics("r").unwrap().delivery_to_s3_attempts,
        attempts
    );
    std::fs::remove_file(&dir).unwrap();
    env.clock.advance_ms(130_000);
    wait_for("delivery after the destination returns", || {
        let o = objects(&env.bucket("blocked"));
        (o.len() == 1).then_some(())
    });
    assert_eq!(objects(&env.bucket("blocked"))[0].1, b"kept");
    let m = env.firehose.metrics("r").unwrap();
    assert!(m.delivery_to_s3_success < 1.0);
    wait_for("freshness back to 0", || {
        (env.firehose
            .metrics("r")
            .unwrap()
            .delivery_to_s3_data_freshness_ms
            == 0)
            .then_some(())
    });
}

#[test]
fn kinesis_source_follows_splits_and_merges_in_order() {
    let env = Env::new();
    env.engine.create_stream("src", 2).unwrap();
    let put = |key: &str, data: &str| {
        env.engine
            .put_record("src", key, data.as_bytes(), tidelog::PutOptions::default())
            .unwrap();
    };
    put("k1", "before-create\n");
    env.ok(
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": "ks", "DeliveryStreamType": "KinesisStreamAsSource",
               "KinesisStreamSourceConfiguration": {"KinesisStreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/src",
                                                    "RoleARN": ROLE, "StartingPosition": "TRIM_HORIZON"},
               "ExtendedS3DestinationConfiguration": s3_config("bkt", json!({"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900}}))}),
    );
    for i in 0..10 {
        put("k1", &format!("k1-{i}\n"));
    }
    let shards = env.engine.describe_stream("src").unwrap().shards;
    let s0 = &shards[0];
    let mid = s0.hash_range.start + (s0.hash_range.end - s0.hash_range.start) / 2;
    env.engine
        .split_shard("src", &s0.shard_id, &mid.to_string())
        .unwrap();
    for i in 10..20 {
        put("k1", &format!("k1-{i}\n"));
    }
    let open: Vec<_> = env
        .engine
        .describe_stream("src")
        .unwrap()
        .shards
        .into_iter()
        .filter(|s| {
            s.ending_sequence_number.is_none()
                && s.parent_shard_id.as_deref() == Some(s0.shard_id.as_str())
        })
        .collect();
    assert_eq!(open.len(), 2);
    env.engine
        .merge_shards("src", &open[0].shard_id, &open[1].shard_id)
        .unwrap();
    for i in 20..30 {
        put("k1", &format!("k1-{i}\n"));
    }
    env.firehose.flush("ks", FLUSH).unwrap();
    let objs = objects(&env.bucket("bkt"));
    let all: String = objs
        .iter()
        .map(|(_, b)| String::from_utf8(b.clone()).unwrap())
        .collect();
    let lines: Vec<&str> = all.lines().filter(|l| l.starts_with("k1-")).collect();
    let want: Vec<String> = (0..30).map(|i| format!("k1-{i}")).collect();
    assert_eq!(
        lines, want,
        "one key's records in put order across a split and a merge"
    );
    assert!(
        all.contains("before-create"),
        "TRIM_HORIZON reads what was there before"
    );
    let e = env
        .call(
            "PutRecord",
            json!({"DeliveryStreamName": "ks", "Record": {"Data": "eA=="}}),
        )
        .unwrap_err();
    assert_eq!(e.code, "InvalidArgumentException");
    let m = env.firehose.metrics("ks").unwrap();
    assert_eq!(m.data_read_from_kinesis_stream_records, 31);
}

#[test]
fn kinesis_source_at_latest_skips_older_records_and_resumes_after_restart() {
    let env = Env::new();
    env.engine.create_stream("src", 1).unwrap();
    env.engine
        .put_record("src", "k", b"old;", tidelog::PutOptions::default())
        .unwrap();
    env.clock.advance_ms(1000);
    env.ok(
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": "kl", "DeliveryStreamType": "KinesisStreamAsSource",
               "KinesisStreamSourceConfiguration": {"KinesisStreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/src", "RoleARN": ROLE},
               "ExtendedS3DestinationConfiguration": s3_config("bkt", json!({}))}),
    );
    env.engine
        .put_record("src", "k", b"new1;", tidelog::PutOptions::default())
        .unwrap();
    env.firehose.flush("kl", FLUSH).unwrap();
    let env = env.reopen();
    env.engine
        .put_record("src", "k", b"new2;", tidelog::PutOptions::default())
        .unwrap();
    env.firehose.flush("kl", FLUSH).unwrap();
    let mut all: Vec<Vec<u8>> = objects(&env.bucket("bkt"))
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    all.sort();
    assert_eq!(all, [b"new1;".to_vec(), b"new2;".to_vec()]);
    let d = env.ok(
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "kl"}),
    )["DeliveryStreamDescription"]
        .clone();
    assert_eq!(d["DeliveryStreamType"], "KinesisStreamAsSource");
    assert_eq!(
        d["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"],
        "arn:aws:kinesis:us-east-1:123456789012:stream/src"
    );
}

#[test]
fn a_kinesis_source_transform_sees_each_records_partition_key() {
    let env = Env::new();
    env.engine.create_stream("src", 2).unwrap();
    env.firehose
        .register_transform(
            "keyed",
            Arc::new(|input: &TransformInput| {
                Ok(input
                    .records
                    .iter()
                    .map(|r| {
                        let key = r.kinesis.as_ref().map_or("<none>", |k| &k.partition_key);
                        TransformedRecord {
                            record_id: r.record_id.clone(),
                            result: TransformResult::Ok,
                            data: format!("{key}={}", String::from_utf8_lossy(&r.data))
                                .into_bytes(),
                            partition_keys: BTreeMap::new(),
                        }
                    })
                    .collect())
            }),
            Duration::from_secs(60),
        )
        .unwrap();
    for (name, processors) in [
        (
            "keyed",
            json!([lambda("keyed"), {"Type": "AppendDelimiterToRecord"}]),
        ),
        ("plain", json!([{"Type": "AppendDelimiterToRecord"}])),
    ] {
        env.ok(
            "CreateDeliveryStream",
            json!({"DeliveryStreamName": name, "DeliveryStreamType": "KinesisStreamAsSource",
                   "KinesisStreamSourceConfiguration": {"KinesisStreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/src", "RoleARN": ROLE},
                   "ExtendedS3DestinationConfiguration": s3_config(&format!("b-{name}"), json!({
                       "ProcessingConfiguration": {"Enabled": true, "Processors": processors}}))}),
        );
    }
    let keys = ["alpha", "beta", "gamma", "delta", "épsilon"];
    for (i, key) in keys.iter().enumerate() {
        env.engine
            .put_record(
                "src",
                key,
                format!("r{i}").as_bytes(),
                tidelog::PutOptions::default(),
            )
            .unwrap();
    }
    for name in ["keyed", "plain"] {
        env.firehose.flush(name, FLUSH).unwrap();
    }
    let lines = |bucket: &str| -> Vec<String> {
        let mut lines: Vec<String> = objects(&env.bucket(bucket))
            .iter()
            .flat_map(|(_, b)| {
                String::from_utf8(b.clone())
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.sort();
        lines
    };
    let mut want: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k}=r{i}"))
        .collect();
    want.sort();
    assert_eq!(lines("b-keyed"), want, "every record's own partition key");
    let mut plain: Vec<String> = (0..keys.len()).map(|i| format!("r{i}")).collect();
    plain.sort();
    assert_eq!(lines("b-plain"), plain);
}
