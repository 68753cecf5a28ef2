//! Firehose_20150804.* through the wire: a `tidelog_firehose::Firehose` opened beside
//! the engine, driven with this crate's client in JSON and CBOR; a DirectPut delivery
//! stream delivers to a directory bucket and the objects appear on disk.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use tidelog_server::client::Client;
use tidelog_server::wire::{Encoding, Map, Service, Value};

use common::*;

async fn call(c: &Client, op: &str, input: Json) -> Json {
    c.call_json(Service::Firehose, op, input)
        .await
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

async fn fails(c: &Client, op: &str, input: Json) -> String {
    c.call_json(Service::Firehose, op, input)
        .await
        .map(|v| panic!("{op} answered {v}"))
        .unwrap_err()
        .code()
        .unwrap_or("transport")
        .to_string()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let temporary = e.file_name().to_string_lossy().starts_with(".tidelog-tmp-");
        if path.is_dir() {
            files_under(&path, out);
        } else if !temporary {
            out.push(path); // an object under its final name is whole
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_put_delivers_objects_to_a_directory_bucket() {
    let s = start_with_firehose().await;
    let c = s.client(Encoding::Json);
    let cbor = s.client(Encoding::Cbor);
    let out = call(
        &c,
        "CreateDeliveryStream",
        json!({
            "DeliveryStreamName": "clicks",
            "DeliveryStreamType": "DirectPut",
            "ExtendedS3DestinationConfiguration": {
                "RoleARN": "arn:aws:iam::000000000000:role/firehose",
                "BucketARN": "arn:aws:s3:::lake",
                "Prefix": "clicks/",
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
            },
        }),
    )
    .await;
    assert_eq!(
        out["DeliveryStreamARN"],
        "arn:aws:firehose:us-east-1:000000000000:deliverystream/clicks"
    );
    assert_eq!(
        fails(
            &c,
            "CreateDeliveryStream",
            json!({"DeliveryStreamName": "clicks", "ExtendedS3DestinationConfiguration": {
                "RoleARN": "arn:aws:iam::000000000000:role/firehose",
                "BucketARN": "arn:aws:s3:::lake"}}),
        )
        .await,
        "ResourceInUseException"
    );
    assert_eq!(
        fails(
            &c,
            "CreateDeliveryStream",
            json!({"DeliveryStreamName": "bad", "NoSuchMember": 1}),
        )
        .await,
        "InvalidArgumentException"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = call(
            &c,
            "DescribeDeliveryStream",
            json!({"DeliveryStreamName": "clicks"}),
        )
        .await;
        let d = &d["DeliveryStreamDescription"];
        if d["DeliveryStreamStatus"] == "ACTIVE" {
            assert_eq!(d["DeliveryStreamType"], "DirectPut");
            assert!(d["CreateTimestamp"].is_number());
            break;
        }
        assert!(Instant::now() < deadline, "never ACTIVE: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // CBOR: blobs as byte strings, timestamps typed; the same shapes as JSON.
    let described = cbor
        .call(
            Service::Firehose,
            "DescribeDeliveryStream",
            &Map::new().with("DeliveryStreamName", "clicks").into(),
        )
        .await
        .unwrap();
    let Some(Value::Map(d)) = described.get("DeliveryStreamDescription") else {
        panic!("{described:?}");
    };
    assert!(matches!(
        d.get("CreateTimestamp"),
        Some(Value::Timestamp(_))
    ));
    let records: Vec<Value> = ["one\n", "two\n", "three\n"]
        .iter()
        .map(|r| {
            Map::new()
                .with(
                    "Data",
                    Value::Bytes(bytes::Bytes::from_static(r.as_bytes())),
                )
                .into()
        })
        .collect();
    let batch = cbor
        .call(
            Service::Firehose,
            "PutRecordBatch",
            &Map::new()
                .with("DeliveryStreamName", "clicks")
                .with("Records", Value::List(records))
                .into(),
        )
        .await
        .unwrap();
    assert_eq!(batch.get("FailedPutCount"), Some(&Value::Int(0)));
    let Some(Value::List(responses)) = batch.get("RequestResponses") else {
        panic!("{batch:?}");
    };
    assert_eq!(responses.len(), 3);
    let one = call(
        &c,
        "PutRecord",
        json!({"DeliveryStreamName": "clicks", "Record": {"Data": "Zm91cgo="}}),
    )
    .await;
    assert!(one["RecordId"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(
        fails(
            &c,
            "PutRecord",
            json!({"DeliveryStreamName": "nope", "Record": {"Data": "eA=="}}),
        )
        .await,
        "ResourceNotFoundException"
    );
    // Bad members: refused before anything is buffered.
    for (input, want) in [
        (
            json!({"DeliveryStreamName": "clicks", "Records": {"Data": "eA=="}}),
            "InvalidArgumentException",
        ),
        (
            json!({"DeliveryStreamName": "clicks", "Records": [{"Data": 5}]}),
            "SerializationException",
        ),
        (
            json!({"DeliveryStreamName": "clicks", "Records": []}),
            "InvalidArgumentException",
        ),
    ] {
        assert_eq!(
            fails(&c, "PutRecordBatch", input.clone()).await,
            want,
            "{input}"
        );
    }
    // The objects appear under the bucket's directory, every record once, in order. The
    // worker may cut the records into several objects (it reads each put as it comes,
    // and a batch possibly in two turns), and keys made in the same second sort by their
    // random-looking suffix, not by time: so each object must hold a run of the records
    // in put order, and the objects, ordered by their first record, all of them once.
    let bucket = s.dir.path().join("firehose/buckets/lake");
    let deadline = Instant::now() + Duration::from_secs(60);
    let put_order = ["one", "two", "three", "four"];
    let mut objects: Vec<Vec<String>> = loop {
        let mut files = Vec::new();
        files_under(&bucket.join("clicks"), &mut files);
        let objects: Vec<Vec<String>> = files
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .collect();
        if objects.iter().map(Vec::len).sum::<usize>() >= 4 || Instant::now() > deadline {
            break objects;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let position = |line: &String| put_order.iter().position(|r| r == line);
    objects.sort_by_key(|o| o.first().map(position));
    for o in &objects {
        let at: Vec<Option<usize>> = o.iter().map(position).collect();
        assert!(
            at.windows(2)
                .all(|w| w[0].is_some() && w[1] == w[0].map(|p| p + 1)),
            "an object's records are a run in put order: {objects:?}"
        );
    }
    assert_eq!(
        objects.concat(),
        put_order,
        "every record once: {objects:?}"
    );

    let listed = call(&c, "ListDeliveryStreams", json!({})).await;
    assert_eq!(listed["DeliveryStreamNames"], json!(["clicks"]));
    assert_eq!(listed["HasMoreDeliveryStreams"], false);
    call(
        &c,
        "TagDeliveryStream",
        json!({"DeliveryStreamName": "clicks", "Tags": [{"Key": "team", "Value": "web"}]}),
    )
    .await;
    let tags = call(
        &c,
        "ListTagsForDeliveryStream",
        json!({"DeliveryStreamName": "clicks"}),
    )
    .await;
    assert_eq!(tags["Tags"], json!([{"Key": "team", "Value": "web"}]));
    call(
        &c,
        "DeleteDeliveryStream",
        json!({"DeliveryStreamName": "clicks"}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while call(&c, "ListDeliveryStreams", json!({})).await["DeliveryStreamNames"] != json!([]) {
        assert!(Instant::now() < deadline, "never deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_firehose_its_operations_are_unknown() {
    let s = start().await;
    let c = s.client(Encoding::Json);
    assert_eq!(
        fails(&c, "ListDeliveryStreams", json!({})).await,
        "UnknownOperationException"
    );
    s.stop().await;
}
