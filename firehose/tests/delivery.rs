//! End-to-end delivery to the directory store: buffering by size and interval on a
//! manual clock, flush, object keys, compression, restarts.
#![forbid(unsafe_code)]

mod common;

use std::io::Read;
use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn interval_buffering_delivers_one_object_in_order_with_aws_keys() {
    let env = Env::new();
    create(
        &env,
        "clicks",
        s3_config(
            "bkt",
            json!({"Prefix": "raw/", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}}),
        ),
    );
    let records: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("{{\"i\":{i}}}\n").into_bytes())
        .collect();
    for chunk in records.chunks(250) {
        let out = put_batch(&env, "clicks", chunk);
        assert_eq!(out["FailedPutCount"], 0);
        assert_eq!(
            out["RequestResponses"].as_array().unwrap().len(),
            chunk.len()
        );
    }
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        objects(&env.bucket("bkt")).is_empty(),
        "nothing before the interval"
    );
    env.clock.advance_ms(60_000);
    let objs = wait_for("the object", || {
        let o = objects(&env.bucket("bkt"));
        (!o.is_empty()).then_some(o)
    });
    assert_eq!(objs.len(), 1);
    let (key, body) = &objs[0];
    assert!(
        key.starts_with("raw/2018/08/27/10/clicks-1-2018-08-27-10-30-05-"),
        "{key}"
    );
    assert_eq!(
        key.len(),
        "raw/2018/08/27/10/clicks-1-2018-08-27-10-30-05-".len() + 36
    );
    assert_eq!(*body, records.concat());
    let m = env.firehose.metrics("clicks").unwrap();
    assert_eq!(m.incoming_records, 1000);
    wait_for("delivery metrics", || {
        let m = env.firehose.metrics("clicks").unwrap();
        (m.delivery_to_s3_records == 1000).then_some(())
    });
}

#[test]
fn size_threshold_cuts_objects_and_flush_delivers_the_rest() {
    let env = Env::new();
    create(
        &env,
        "big",
        s3_config(
            "bkt",
            json!({"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900}}),
        ),
    );
    let record = vec![b'x'; 100_000];
    for _ in 0..3 {
        put_batch(&env, "big", &vec![record.clone(); 10]);
    }
    // 3 MB written, 1 MiB buffers: two full objects appear without any time passing.
    wait_for("two size-triggered objects", || {
        (objects(&env.bucket("bkt")).len() >= 2).then_some(())
    });
    env.firehose.flush("big", Duration::from_secs(60)).unwrap();
    let objs = objects(&env.bucket("bkt"));
    let total: usize = objs.iter().map(|(_, b)| b.len()).sum();
    assert_eq!(total, 3_000_000);
    assert!(objs.len() >= 3);
    // Keys sort by the second an object was cut and then by a random suffix, so the
    // flushed remainder is not necessarily last: every object but one (the remainder)
    // was cut by size and holds at least SizeInMBs.
    let small = objs.iter().filter(|(_, b)| b.len() < 1 << 20).count();
    assert!(
        small <= 1,
        "a size-triggered object holds at least SizeInMBs: {:?}",
        objs.iter().map(|(_, b)| b.len()).collect::<Vec<_>>()
    );
}

#[test]
fn gzip_objects_decompress_to_the_records() {
    let env = Env::new();
    create(
        &env,
        "gz",
        s3_config("bkt", json!({"CompressionFormat": "GZIP", "Prefix": "p/"})),
    );
    let records: Vec<Vec<u8>> = (0..500)
        .map(|i| format!("line {i}\n").into_bytes())
        .collect();
    put_batch(&env, "gz", &records);
    env.firehose.flush("gz", Duration::from_secs(60)).unwrap();
    let objs = objects(&env.bucket("bkt"));
    assert_eq!(objs.len(), 1);
    assert!(objs[0].0.ends_with(".gz"));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&objs[0].1[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, records.concat());
}

#[test]
fn records_survive_a_restart_and_are_delivered_once() {
    let env = Env::new();
    create(
        &env,
        "keep",
        s3_config(
            "bkt",
            json!({"BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300}}),
        ),
    );
    let records: Vec<Vec<u8>> = (0..100).map(|i| format!("r{i};").into_bytes()).collect();
    put_batch(&env, "keep", &records);
    let env = env.reopen();
    assert!(objects(&env.bucket("bkt")).is_empty());
    // The interval counts from when the worker buffers the records again.
    wait_for("the records buffered again", || {
        (env.firehose.metrics("keep").unwrap().partition_count == 1).then_some(())
    });
    env.clock.advance_ms(300_000);
    let objs = wait_for("delivery after the restart", || {
        let o = objects(&env.bucket("bkt"));
        (!o.is_empty()).then_some(o)
    });
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0].1, records.concat());
    // Another restart delivers nothing again.
    let env = env.reopen();
    env.firehose.flush("keep", Duration::from_secs(60)).unwrap();
    assert_eq!(objects(&env.bucket("bkt")).len(), 1);
}

#[test]
fn describe_list_update_and_errors_follow_aws() {
    let env = Env::new();
    let arn = create(&env, "d1", s3_config("bkt", json!({})))["DeliveryStreamARN"].clone();
    assert_eq!(arn, "arn:aws:firehose:local:000000000000:deliverystream/d1");
    let d = env.ok(
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "d1"}),
    )["DeliveryStreamDescription"]
        .clone();
    assert_eq!(d["DeliveryStreamStatus"], "ACTIVE");
    assert_eq!(d["VersionId"], "1");
    assert_eq!(d["DeliveryStreamType"], "DirectPut");
    let dest = &d["Destinations"][0];
    assert_eq!(dest["DestinationId"], "destinationId-000000000001");
    assert_eq!(
        dest["ExtendedS3DestinationDescription"]["BufferingHints"],
        json!({"SizeInMBs": 5, "IntervalInSeconds": 300})
    );
    assert_eq!(
        dest["ExtendedS3DestinationDescription"]["CompressionFormat"],
        "UNCOMPRESSED"
    );
    assert_eq!(
        dest["S3DestinationDescription"]["BucketARN"],
        "arn:aws:s3:::bkt"
    );

    let e = env.call("CreateDeliveryStream", json!({"DeliveryStreamName": "d1", "ExtendedS3DestinationConfiguration": s3_config("bkt", json!({}))})).unwrap_err();
    assert_eq!(e.code, "ResourceInUseException");
    for n in ["d2", "d0", "d3"] {
        create(&env, n, s3_config("bkt", json!({})));
    }
    let page = env.ok("ListDeliveryStreams", json!({"Limit": 2}));
    assert_eq!(page["DeliveryStreamNames"], json!(["d0", "d1"]));
    assert_eq!(page["HasMoreDeliveryStreams"], true);
    let page = env.ok(
        "ListDeliveryStreams",
        json!({"Limit": 2, "ExclusiveStartDeliveryStreamName": "d1"}),
    );
    assert_eq!(page["DeliveryStreamNames"], json!(["d2", "d3"]));
    assert_eq!(page["HasMoreDeliveryStreams"], false);

    let stale = env
        .call(
            "UpdateDestination",
            json!({
        "DeliveryStreamName": "d1", "CurrentDeliveryStreamVersionId": "7",
        "DestinationId": "destinationId-000000000001",
        "ExtendedS3DestinationUpdate": {"CompressionFormat": "GZIP"}}),
        )
        .unwrap_err();
    assert_eq!(stale.code, "ConcurrentModificationException");
    env.ok(
        "UpdateDestination",
        json!({
        "DeliveryStreamName": "d1", "CurrentDeliveryStreamVersionId": "1",
        "DestinationId": "destinationId-000000000001",
        "ExtendedS3DestinationUpdate": {"CompressionFormat": "GZIP", "Prefix": "v2/"}}),
    );
    let d = env.ok(
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "d1"}),
    )["DeliveryStreamDescription"]
        .clone();
    assert_eq!(d["VersionId"], "2");
    assert_eq!(
        d["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"],
        "v2/"
    );
    assert_eq!(
        d["Destinations"][0]["ExtendedS3DestinationDescription"]["BucketARN"],
        "arn:aws:s3:::bkt"
    );
    put_batch(&env, "d1", &[b"after".to_vec()]);
    env.firehose.flush("d1", Duration::from_secs(60)).unwrap();
    let objs = objects(&env.bucket("bkt"));
    assert!(
        objs.iter()
            .any(|(k, _)| k.starts_with("v2/2018/08/27/10/d1-2-") && k.ends_with(".gz")),
        "{objs:?}"
    );

    env.ok("TagDeliveryStream", json!({"DeliveryStreamName": "d1", "Tags": [{"Key": "team", "Value": "data"}, {"Key": "x"}]}));
    let tags = env.ok(
        "ListTagsForDeliveryStream",
        json!({"DeliveryStreamName": "d1", "Limit": 1}),
    );
    assert_eq!(
        tags,
        json!({"Tags": [{"Key": "team", "Value": "data"}], "HasMoreTags": true})
    );
    env.ok(
        "UntagDeliveryStream",
        json!({"DeliveryStreamName": "d1", "TagKeys": ["team"]}),
    );
    let tags = env.ok(
        "ListTagsForDeliveryStream",
        json!({"DeliveryStreamName": "d1"}),
    );
    assert_eq!(tags, json!({"Tags": [{"Key": "x"}], "HasMoreTags": false}));

    env.ok("DeleteDeliveryStream", json!({"DeliveryStreamName": "d1"}));
    let e = env
        .call(
            "DescribeDeliveryStream",
            json!({"DeliveryStreamName": "d1"}),
        )
        .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
    let e = env
        .call(
            "PutRecord",
            json!({"DeliveryStreamName": "d1", "Record": {"Data": "eA=="}}),
        )
        .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
    // The catalog survives a restart.
    let env = env.reopen();
    let page = env.ok("ListDeliveryStreams", json!({}));
    assert_eq!(page["DeliveryStreamNames"], json!(["d0", "d2", "d3"]));
}
