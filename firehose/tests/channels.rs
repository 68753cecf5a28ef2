//! Kinesis channels on Firehose's machinery, through the JSON entry point with Kinesis's
//! shapes: delivery of an ON_DEMAND stream's records to a directory bucket under the
//! channel's key template (gzip and zstd objects, JSON lines and raw bytes), records the
//! format cannot deliver in the dead-letter bucket, exactly once across a restart, the
//! stream kept from deletion, UpdateChannel, ListChannels with a filter and paging, the
//! refusals (PROVISIONED streams, S3 Tables, GSR_JSON, bad templates), and a channel
//! whose stream went away while Firehose was closed reported FAILED with the reason.
#![forbid(unsafe_code)]

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use tidelog::engine::CreateStreamOptions;
use tidelog::{ErrorKind, PutOptions};

const FLUSH: Duration = Duration::from_secs(60);

fn on_demand(env: &Env, name: &str) -> String {
    env.engine
        .create_stream_with(name, CreateStreamOptions::on_demand())
        .unwrap();
    env.engine.stream_arn(name)
}

fn channel_input(
    name: &str,
    stream_arn: &str,
    format: &str,
    storage: Value,
    extra: Value,
) -> Value {
    let mut input = json!({
        "ChannelName": name,
        "ServiceExecutionRoleARN": "arn:aws:iam::123456789012:role/channel",
        "StreamConfigurationList": [{"StreamARN": stream_arn,
                                     "RecordConfiguration": {"RecordFormatType": format}}],
        "S3DestinationConfiguration": {"StorageConfiguration": storage},
    });
    for (k, v) in extra.as_object().unwrap() {
        if k == "DataFreshnessInSeconds" || k == "DeadLetterQueueS3Configuration" {
            input["S3DestinationConfiguration"][k] = v.clone();
        } else {
            input[k] = v.clone();
        }
    }
    input
}

fn storage(bucket: &str, compression: &str, template: Option<&str>) -> Value {
    let mut s = json!({"BucketARN": format!("arn:aws:s3:::{bucket}"),
                       "ExpectedBucketOwner": "123456789012",
                       "CompressionType": compression});
    if let Some(t) = template {
        s["OutputKeyTemplate"] = json!(t);
    }
    s
}

fn put(env: &Env, stream: &str, key: &str, data: &[u8]) {
    env.engine
        .put_record(stream, key, data, PutOptions::default())
        .unwrap();
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// True if `s` is a lowercase UUID (8-4-4-4-12 hex digits).
fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

fn code(env: &Env, op: &str, input: Value) -> (String, String) {
    let e = env
        .call(op, input)
        .map(|v| panic!("{op} answered {v}"))
        .unwrap_err();
    (e.code.to_string(), e.message)
}

#[test]
fn json_records_reach_the_template_keys_exactly_once_and_bad_ones_the_dead_letter_bucket() {
    let env = Env::new();
    let arn = on_demand(&env, "orders");
    put(&env, "orders", "k", br#"{"before": true}"#);
    env.clock.advance_ms(1_000);
    let out = env.ok(
        "CreateChannel",
        channel_input(
            "c1",
            &arn,
            "JSON",
            storage(
                "lake",
                "GZIP",
                Some("!{stream-name}/!{channel-name}/!{yyyy}-!{MM}-!{dd}/part!{extension}"),
            ),
            json!({"DataFreshnessInSeconds": 900,
                   "DeadLetterQueueS3Configuration": {"BucketARN": "arn:aws:s3:::dlq",
                       "ExpectedBucketOwner": "123456789012", "ErrorOutputPrefix": "bad/"},
                   "Tags": {"team": "data"}}),
        ),
    );
    let d = &out["ChannelDescription"];
    assert_eq!(
        d["ChannelStatus"], "CREATING",
        "CreateChannel answers as of the request"
    );
    let channel_arn = d["ChannelARN"].as_str().unwrap().to_string();
    assert!(channel_arn.ends_with(":channel/c1"), "{channel_arn}");
    let id = d["ChannelId"].as_str().unwrap().to_string();
    assert!(is_uuid(&id), "{id}");
    assert_eq!(d["StreamConfigurationList"][0]["StreamARN"], arn, "{d}");
    let described = env.ok("DescribeChannel", json!({"ChannelARN": channel_arn}));
    assert_eq!(described["ChannelDescription"]["ChannelStatus"], "ACTIVE");
    assert_eq!(
        described["ChannelDescription"]["S3DestinationConfiguration"]["DataFreshnessInSeconds"],
        900
    );

    // 20 JSON records over 5 keys, and two that are not JSON.
    let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..20 {
        let key = format!("key-{}", i % 5);
        let doc = format!(r#"{{"n": {i}, "key": "{key}"}}"#);
        put(&env, "orders", &key, doc.as_bytes());
        want.entry(key).or_default().push(doc);
        if i == 7 || i == 13 {
            put(&env, "orders", "bad", format!("not json {i}").as_bytes());
        }
    }
    env.firehose.flush_channel("c1", FLUSH).unwrap();
    let check = |env: &Env, want: &BTreeMap<String, Vec<String>>| {
        let mut objs = objects(&env.bucket("lake"));
        // Objects in delivery order (each holds later records than the one before).
        objs.sort_by_key(|(_, body)| {
            let text = String::from_utf8(gunzip(body)).unwrap();
            let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            first["n"].as_u64().unwrap()
        });
        let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, body) in &objs {
            let rest = key
                .strip_prefix("orders/c1/2018-08-27/part-")
                .unwrap_or_else(|| panic!("key {key}"));
            let uuid = rest
                .strip_suffix(".gz")
                .unwrap_or_else(|| panic!("key {key}"));
            assert!(is_uuid(uuid), "key {key}");
            let text = String::from_utf8(gunzip(body)).unwrap();
            assert!(text.ends_with('\n'));
            for line in text.lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                got.entry(v["key"].as_str().unwrap().to_string())
                    .or_default()
                    .push(line.to_string());
            }
        }
        // Each record once, in put order per key; nothing from before the channel.
        assert_eq!(&got, want);
        objs.len()
    };
    check(&env, &want);
    let dead = objects(&env.bucket("dlq"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    let (key, body) = &dead[0];
    let prefix = format!("bad/c1/{id}/2018/08/27/10/c1-{id}-2018-08-27-10-30-");
    assert!(
        key.starts_with(&prefix) && is_uuid(&key[prefix.len()..]),
        "{key}"
    );
    let docs: Vec<Value> = std::str::from_utf8(body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let raw: Vec<String> = docs
        .iter()
        .map(|d| {
            assert_eq!(d["errorCode"], "Channel.InvalidJSONRecord", "{d}");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(d["rawData"].as_str().unwrap())
                .unwrap();
            String::from_utf8(bytes).unwrap()
        })
        .collect();
    assert_eq!(raw, ["not json 7", "not json 13"]);

    // A restart: the channel resumes where it was; nothing is delivered twice.
    let env = env.reopen();
    for i in 20..25 {
        let key = format!("key-{}", i % 5);
        let doc = format!(r#"{{"n": {i}, "key": "{key}"}}"#);
        put(&env, "orders", &key, doc.as_bytes());
        want.entry(key).or_default().push(doc);
    }
    env.firehose.flush_channel("c1", FLUSH).unwrap();
    assert_eq!(check(&env, &want), 2, "one object per flush");
    assert_eq!(objects(&env.bucket("dlq")).len(), 1);
    let described = env.ok("DescribeChannel", json!({"ChannelARN": channel_arn}));
    assert_eq!(described["ChannelDescription"]["ChannelStatus"], "ACTIVE");

    // The stream is kept while it has the channel.
    let e = env.engine.delete_stream("orders").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceInUse, "{e}");
    assert!(e.to_string().contains("channels"), "{e}");
    env.ok("DeleteChannel", json!({"ChannelARN": channel_arn}));
    assert_eq!(
        code(&env, "DescribeChannel", json!({"ChannelARN": channel_arn})).0,
        "ResourceNotFoundException"
    );
    env.engine.delete_stream("orders").unwrap();
    // Delivered objects stay.
    assert_eq!(objects(&env.bucket("lake")).len(), 2);
}

#[test]
fn zstd_and_byte_arrays_update_and_list_with_paging() {
    let env = Env::new();
    let a = on_demand(&env, "a");
    let b = on_demand(&env, "b");
    let out = env.ok(
        "CreateChannel",
        channel_input(
            "raw",
            &a,
            "BYTE_ARRAY",
            storage("zst", "ZSTD", None),
            json!({"DataFreshnessInSeconds": 900}),
        ),
    );
    let arn = out["ChannelDescription"]["ChannelARN"]
        .as_str()
        .unwrap()
        .to_string();
    let id = out["ChannelDescription"]["ChannelId"]
        .as_str()
        .unwrap()
        .to_string();
    // Default key template and dead-letter settings.
    let d = &out["ChannelDescription"]["S3DestinationConfiguration"];
    assert_eq!(
        d["StorageConfiguration"]["OutputKeyTemplate"],
        tidelog_firehose::channel::DEFAULT_KEY_TEMPLATE
    );
    assert_eq!(
        d["DeadLetterQueueS3Configuration"]["BucketARN"],
        "arn:aws:s3:::zst"
    );
    put(&env, "a", "k", &[0xff, 0x00, 0x01]);
    put(&env, "a", "k", b"\n-two-");
    // With 900 s of freshness nothing is due within the next few seconds; after an
    // update to 0 s the records go out as soon as the source's next poll (1 s on the
    // engine's clock) reads them.
    let up = env.ok(
        "UpdateChannel",
        json!({"ChannelARN": arn, "S3DestinationConfiguration": {"DataFreshnessInSeconds": 0},
               "LoggingConfiguration": {"CloudWatchLogs": {"Enabled": true, "LogGroupName": "/g"}}}),
    );
    assert_eq!(up["ChannelDescription"]["ChannelStatus"], "UPDATING");
    assert_eq!(
        up["ChannelDescription"]["LoggingConfiguration"]["CloudWatchLogs"]["LogGroupName"],
        "/g"
    );
    env.clock.advance_ms(2_000);
    env.firehose.wake();
    let objs = wait_for("delivery after the update", || {
        let o = objects(&env.bucket("zst"));
        (!o.is_empty()).then_some(o)
    });
    assert_eq!(objs.len(), 1);
    let (key, body) = &objs[0];
    let prefix = format!("kinesis-channel/raw/{id}/2018/08/27/10/raw-{id}-2018-08-27-10-30-");
    let uuid = key
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(".zst"))
        .unwrap_or_else(|| panic!("{key}"));
    assert!(is_uuid(uuid), "{key}");
    assert_eq!(
        zstd::decode_all(&body[..]).unwrap(),
        b"\xff\x00\x01\n-two-",
        "byte arrays back to back"
    );
    let described = env.ok("DescribeChannel", json!({"ChannelARN": arn}));
    assert_eq!(described["ChannelDescription"]["ChannelStatus"], "ACTIVE");
    assert_eq!(
        described["ChannelDescription"]["S3DestinationConfiguration"]["DataFreshnessInSeconds"],
        0
    );
    // The new freshness holds for what comes next: a record 2 s later is delivered
    // (the old 900 s would keep it buffered for 15 minutes of the engine's clock).
    put(&env, "a", "k", b"three");
    env.clock.advance_ms(2_000);
    env.firehose.wake();
    let objs = wait_for("delivery at the new freshness", || {
        let o = objects(&env.bucket("zst"));
        (o.len() == 2).then_some(o)
    });
    let bodies: Vec<Vec<u8>> = objs
        .iter()
        .map(|(_, b)| zstd::decode_all(&b[..]).unwrap())
        .collect();
    assert!(bodies.contains(&b"three".to_vec()), "{bodies:?}");

    // Five more channels: three on a, two on b.
    for (name, stream) in [
        ("c-a1", &a),
        ("c-b1", &b),
        ("c-a2", &a),
        ("c-b2", &b),
        ("c-a3", &a),
    ] {
        env.ok(
            "CreateChannel",
            channel_input(
                name,
                stream,
                "STRING",
                storage("str", "NONE", None),
                json!({}),
            ),
        );
    }
    let names = |v: &Value| -> Vec<String> {
        v["ChannelSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["ChannelName"].as_str().unwrap().to_string())
            .collect()
    };
    let all = env.ok("ListChannels", json!({}));
    assert_eq!(names(&all), ["c-a1", "c-a2", "c-a3", "c-b1", "c-b2", "raw"]);
    assert!(all.get("NextToken").is_none());
    assert_eq!(all["ChannelSummaries"][0]["ChannelDestinationType"], "S3");
    let mut seen = Vec::new();
    let mut page = env.ok(
        "ListChannels",
        json!({"StreamFilter": [{"StreamARN": a}], "MaxResults": 2}),
    );
    loop {
        seen.extend(names(&page));
        let Some(token) = page.get("NextToken").and_then(Value::as_str) else {
            break;
        };
        page = env.ok(
            "ListChannels",
            json!({"StreamFilter": [{"StreamARN": a}], "MaxResults": 2, "NextToken": token}),
        );
    }
    assert_eq!(seen, ["c-a1", "c-a2", "c-a3", "raw"]);
    let created = env.engine.describe_stream_summary("b").unwrap().created_ms as f64 / 1000.0;
    let only_b = env.ok(
        "ListChannels",
        json!({"StreamFilter": [{"StreamARN": b, "StreamCreationTimestamp": created}]}),
    );
    assert_eq!(names(&only_b), ["c-b1", "c-b2"]);
    let none = env.ok(
        "ListChannels",
        json!({"StreamFilter": [{"StreamARN": b, "StreamCreationTimestamp": created + 5.0}]}),
    );
    assert_eq!(names(&none), Vec::<String>::new());
    assert_eq!(env.firehose.channel_count("a"), 4);
    assert_eq!(
        code(&env, "ListChannels", json!({"NextToken": "garbage"})).0,
        "InvalidArgumentException"
    );
}

#[test]
fn records_are_delivered_without_a_flush_when_the_freshness_passes() {
    let env = Env::new();
    let arn = on_demand(&env, "live");
    env.ok(
        "CreateChannel",
        channel_input(
            "c",
            &arn,
            "STRING",
            storage("live-bkt", "NONE", None),
            json!({"DataFreshnessInSeconds": 10}),
        ),
    );
    put(&env, "live", "k", b"one");
    put(&env, "live", "k", b"two");
    // No flush, no wake: the source's next poll (1 s of the engine's clock) reads them
    // (a channel's metrics are `channel:<name>`'s)...
    env.clock.advance_ms(1_000);
    let read = || {
        env.firehose
            .metrics_all()
            .iter()
            .find(|m| m.delivery_stream == "channel:c")
            .map_or(0, |m| m.data_read_from_kinesis_stream_records)
    };
    wait_for("the poll", || (read() == 2).then_some(()));
    // ... and the freshness (10 s from then) cuts the object.
    env.clock.advance_ms(10_000);
    let objs = wait_for("delivery at the freshness", || {
        let o = objects(&env.bucket("live-bkt"));
        (!o.is_empty()).then_some(o)
    });
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0].1, b"one\ntwo\n");
}

#[test]
fn refusals_are_specific_and_change_nothing() {
    let env = Env::new();
    let od = on_demand(&env, "od");
    env.engine.create_stream("prov", 1).unwrap();
    let prov = env.engine.stream_arn("prov");
    let good =
        |name: &str| channel_input(name, &od, "JSON", storage("bkt", "GZIP", None), json!({}));
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            channel_input("p", &prov, "JSON", storage("bkt", "GZIP", None), json!({})),
            "InvalidArgumentException",
            "ON_DEMAND",
        ),
        (
            {
                let mut i = good("t");
                i.as_object_mut()
                    .unwrap()
                    .remove("S3DestinationConfiguration");
                i["S3TablesDestinationConfiguration"] = json!({
                    "DeadLetterQueueS3Configuration": {"BucketARN": "arn:aws:s3:::ddd", "ExpectedBucketOwner": "123456789012"},
                    "S3TablesConfigurationList": [{"TableBucketARN": "arn:aws:s3tables:us-east-1:123456789012:bucket/tb",
                        "Namespace": "ns", "TableName": "t", "CompressionType": "ZSTD"}]});
                i
            },
            "InvalidArgumentException",
            "Iceberg",
        ),
        (
            {
                let mut i = good("t2");
                i["S3TablesDestinationConfiguration"] = json!({});
                i
            },
            "InvalidArgumentException",
            "exactly one",
        ),
        (
            channel_input(
                "g",
                &od,
                "GSR_JSON",
                storage("bkt", "GZIP", None),
                json!({}),
            ),
            "InvalidArgumentException",
            "GSR_JSON",
        ),
        (
            channel_input("x", &od, "XML", storage("bkt", "GZIP", None), json!({})),
            "ValidationException",
            "enum",
        ),
        (
            channel_input("x", &od, "JSON", storage("bkt", "BROTLI", None), json!({})),
            "ValidationException",
            "enum",
        ),
        (
            channel_input(
                "x",
                &od,
                "JSON",
                storage("bkt", "NONE", Some("a/!{hour}")),
                json!({}),
            ),
            "InvalidArgumentException",
            "unknown variable",
        ),
        (
            channel_input(
                "x",
                &od,
                "JSON",
                storage("bkt", "NONE", Some("/a/!{yyyy}")),
                json!({}),
            ),
            "InvalidArgumentException",
            "start or end",
        ),
        (
            channel_input(
                "x",
                &od,
                "JSON",
                storage("bkt", "NONE", None),
                json!({"DataFreshnessInSeconds": 901}),
            ),
            "InvalidArgumentException",
            "DataFreshnessInSeconds",
        ),
        (
            channel_input(
                "bad name!",
                &od,
                "JSON",
                storage("bkt", "NONE", None),
                json!({}),
            ),
            "ValidationException",
            "channelName",
        ),
        (
            channel_input(
                "x",
                &env.engine.stream_arn("missing"),
                "JSON",
                storage("bkt", "NONE", None),
                json!({}),
            ),
            "ResourceNotFoundException",
            "missing",
        ),
        (
            channel_input("x", &od, "JSON", storage("B!x", "NONE", None), json!({})),
            "ValidationException",
            "bucketARN",
        ),
        (
            {
                let mut i = good("x");
                i["Surprise"] = json!(1);
                i
            },
            "ValidationException",
            "Surprise",
        ),
    ];
    for (input, want, says) in cases {
        let (got, message) = code(&env, "CreateChannel", input.clone());
        assert_eq!(got, want, "{input}: {message}");
        assert!(message.contains(says), "{input}: {message}");
    }
    assert_eq!(
        env.ok("ListChannels", json!({}))["ChannelSummaries"],
        json!([]),
        "nothing was created"
    );
    env.ok("CreateChannel", good("dup"));
    assert_eq!(
        code(&env, "CreateChannel", good("dup")).0,
        "ResourceInUseException"
    );
    let arn = env.ok("ListChannels", json!({}))["ChannelSummaries"][0]["ChannelARN"]
        .as_str()
        .unwrap()
        .to_string();
    for (op, input, want) in [
        ("DescribeChannel", json!({}), "ValidationException"),
        (
            "DescribeChannel",
            json!({"ChannelARN": "nope"}),
            "ValidationException",
        ),
        (
            "DescribeChannel",
            json!({"ChannelARN": arn.replace("dup", "other")}),
            "ResourceNotFoundException",
        ),
        (
            "UpdateChannel",
            json!({"ChannelARN": arn}),
            "InvalidArgumentException",
        ),
        (
            "UpdateChannel",
            json!({"ChannelARN": arn, "S3DestinationConfiguration": {}}),
            "ValidationException",
        ),
        (
            "DeleteChannel",
            json!({"ChannelARN": arn.replace("dup", "other")}),
            "ResourceNotFoundException",
        ),
        (
            "ListChannels",
            json!({"MaxResults": 0}),
            "ValidationException",
        ),
    ] {
        assert_eq!(code(&env, op, input.clone()).0, want, "{op} {input}");
    }
    // Members of the wrong type: a specific error, never a panic, nothing created.
    let wrong_types: Vec<(&str, Value)> = vec![
        ("CreateChannel", json!([])),
        ("CreateChannel", json!({"ChannelName": 5})),
        ("CreateChannel", {
            let mut i = good("w");
            i["StreamConfigurationList"] = json!("x");
            i
        }),
        ("CreateChannel", {
            let mut i = good("w");
            i["StreamConfigurationList"] = json!([1]);
            i
        }),
        ("CreateChannel", {
            let mut i = good("w");
            i["StreamConfigurationList"] = json!([]);
            i
        }),
        ("CreateChannel", {
            let mut i = good("w");
            i["S3DestinationConfiguration"] = json!([]);
            i
        }),
        ("CreateChannel", {
            let mut i = good("w");
            i["S3DestinationConfiguration"]["DataFreshnessInSeconds"] = json!(-1);
            i
        }),
        ("CreateChannel", {
            let mut i = good("w");
            i["Tags"] = json!({"a": 1});
            i
        }),
        ("CreateChannel", {
            let mut i = good("w");
            i["Tags"] = json!({"aws:x": "1"});
            i
        }),
        ("CreateChannel", {
            let mut i = good("w");
            i["LoggingConfiguration"] = json!({"CloudWatchLogs": {"Enabled": "yes"}});
            i
        }),
        ("CreateChannel", {
            let mut i = good("w");
            i["EncryptionConfiguration"] =
                json!({"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"});
            i
        }),
        ("ListChannels", json!({"MaxResults": "x"})),
        ("ListChannels", json!({"StreamFilter": [{"StreamARN": 1}]})),
        ("ListChannels", json!({"StreamFilter": []})),
        ("UpdateChannel", json!({"ChannelARN": ["x"]})),
        ("DeleteChannel", json!(null)),
    ];
    for (op, input) in wrong_types {
        let (got, message) = code(&env, op, input.clone());
        assert!(
            ["ValidationException", "InvalidArgumentException"].contains(&got.as_str()),
            "{op} {input}: {got}: {message}"
        );
    }
    assert_eq!(
        env.ok("ListChannels", json!({}))["ChannelSummaries"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "only dup"
    );
    // Through the Kinesis target name too; not through Firehose's.
    assert!(env.call("Kinesis_20131202.ListChannels", json!({})).is_ok());
    assert_eq!(
        code(&env, "Kinesis_20131202.PutRecord", json!({})).0,
        "UnknownOperationException"
    );
}

#[test]
fn a_channel_whose_stream_went_away_while_closed_is_failed_with_the_reason() {
    let env = Env::new();
    let arn = on_demand(&env, "s");
    let out = env.ok(
        "CreateChannel",
        channel_input("c", &arn, "STRING", storage("bkt", "NONE", None), json!({})),
    );
    let channel_arn = out["ChannelDescription"]["ChannelARN"]
        .as_str()
        .unwrap()
        .to_string();
    // With Firehose closed nothing holds the stream: it is deleted and made again.
    env.firehose.close().unwrap();
    env.engine.delete_stream("s").unwrap();
    env.clock.advance_ms(5_000);
    env.engine
        .create_stream_with("s", CreateStreamOptions::on_demand())
        .unwrap();
    let env = env.reopen();
    let d = env.ok("DescribeChannel", json!({"ChannelARN": channel_arn}));
    let d = &d["ChannelDescription"];
    assert_eq!(d["ChannelStatus"], "FAILED", "{d}");
    assert!(
        d["ChannelStatusReason"]
            .as_str()
            .unwrap()
            .contains("was deleted"),
        "{d}"
    );
    let listed = env.ok("ListChannels", json!({}));
    assert_eq!(listed["ChannelSummaries"][0]["ChannelStatus"], "FAILED");
    // A FAILED channel neither holds its stream nor takes updates; it can be deleted.
    assert_eq!(
        code(
            &env,
            "UpdateChannel",
            json!({"ChannelARN": channel_arn, "S3DestinationConfiguration": {"DataFreshnessInSeconds": 5}})
        )
        .0,
        "ResourceInUseException"
    );
    env.engine.delete_stream("s").unwrap();
    env.ok("DeleteChannel", json!({"ChannelARN": channel_arn}));
    assert_eq!(
        env.ok("ListChannels", json!({}))["ChannelSummaries"],
        json!([])
    );
}
