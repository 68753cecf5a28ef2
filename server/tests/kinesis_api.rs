//! The Kinesis operations the engine gained (consumers, tags and policies by ARN,
//! limits, monitoring, encryption, modes, record size, warm throughput, account
//! settings) through the wire, with this crate's client in JSON and CBOR, against a
//! real server on 127.0.0.1; and the dispatch table against docs/kinesis-api.md.

mod common;

use serde_json::{Value as Json, json};
use tidelog_server::api::kinesis::OPERATIONS;
use tidelog_server::client::Client;
use tidelog_server::wire::{Encoding, Service};

use common::*;

async fn call(c: &Client, op: &str, input: Json) -> Json {
    c.call_json(Service::Kinesis, op, input)
        .await
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

async fn fails(c: &Client, op: &str, input: Json) -> String {
    c.call_json(Service::Kinesis, op, input)
        .await
        .map(|v| panic!("{op} answered {v}"))
        .unwrap_err()
        .code()
        .unwrap_or("transport")
        .to_string()
}

#[test]
fn every_documented_operation_has_a_dispatch_entry() {
    let doc = include_str!("../../docs/kinesis-api.md");
    let table = doc.split("## The operations").nth(1).unwrap();
    let documented: Vec<&str> = table
        .lines()
        .take_while(|l| !l.starts_with("Beside them"))
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .filter(|n| n.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .collect();
    assert_eq!(documented.len(), 57, "{documented:?}");
    let served: Vec<&str> = OPERATIONS.iter().map(|o| o.name).collect();
    assert_eq!(served, documented, "the table is the docs' list, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_tags_and_policies_by_arn() {
    let s = start().await;
    let c = s.client(Encoding::Json);
    call(
        &c,
        "CreateStream",
        json!({"StreamName": "fan", "ShardCount": 1}),
    )
    .await;
    let arn = s.api.engine.stream_arn("fan");
    assert_eq!(arn, "arn:aws:kinesis:us-east-1:000000000000:stream/fan");
    let mut arns = Vec::new();
    for name in ["app-b", "app-a", "app-c"] {
        let out = call(
            &c,
            "RegisterStreamConsumer",
            json!({"StreamARN": arn, "ConsumerName": name, "Tags": {"team": "x"}}),
        )
        .await;
        let consumer = &out["Consumer"];
        assert_eq!(consumer["ConsumerName"], name);
        assert!(consumer["ConsumerCreationTimestamp"].is_number());
        let carn = consumer["ConsumerARN"].as_str().unwrap().to_string();
        assert!(
            carn.starts_with(&format!("{arn}/consumer/{name}:")),
            "{carn}"
        );
        arns.push(carn);
    }
    assert_eq!(
        fails(
            &c,
            "RegisterStreamConsumer",
            json!({"StreamARN": arn, "ConsumerName": "app-a"})
        )
        .await,
        "ResourceInUseException"
    );
    // Describe by ARN and by stream + name; the answer carries the stream's ARN.
    let by_arn = call(
        &c,
        "DescribeStreamConsumer",
        json!({"ConsumerARN": arns[0]}),
    )
    .await;
    let by_name = call(
        &c,
        "DescribeStreamConsumer",
        json!({"StreamARN": arn, "ConsumerName": "app-b"}),
    )
    .await;
    assert_eq!(by_arn, by_name);
    assert_eq!(by_arn["ConsumerDescription"]["StreamARN"], arn.as_str());
    assert_eq!(by_arn["ConsumerDescription"]["ConsumerStatus"], "ACTIVE");
    assert_eq!(
        fails(
            &c,
            "DescribeStreamConsumer",
            json!({"ConsumerName": "app-b"})
        )
        .await,
        "InvalidArgumentException"
    );
    // Pages of one, in name order.
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"StreamARN": arn, "MaxResults": 1});
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let page = call(&c, "ListStreamConsumers", input).await;
        let consumers = page["Consumers"].as_array().unwrap();
        assert!(consumers.len() <= 1);
        names.extend(consumers.iter().map(|c| c["ConsumerName"].clone()));
        match page["NextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(names, [json!("app-a"), json!("app-b"), json!("app-c")]);
    let summary = call(&c, "DescribeStreamSummary", json!({"StreamName": "fan"})).await;
    assert_eq!(summary["StreamDescriptionSummary"]["ConsumerCount"], 3);

    // Tags on a consumer's ARN and on the stream's ARN are separate.
    call(
        &c,
        "TagResource",
        json!({"ResourceARN": arns[0], "Tags": {"env": "test", "owner": "me"}}),
    )
    .await;
    call(
        &c,
        "TagResource",
        json!({"ResourceARN": arn, "Tags": {"stream-tag": "1"}}),
    )
    .await;
    let tags = call(&c, "ListTagsForResource", json!({"ResourceARN": arns[0]})).await;
    assert_eq!(
        tags["Tags"],
        json!([{"Key": "env", "Value": "test"}, {"Key": "owner", "Value": "me"},
               {"Key": "team", "Value": "x"}])
    );
    call(
        &c,
        "UntagResource",
        json!({"ResourceARN": arns[0], "TagKeys": ["owner", "team"]}),
    )
    .await;
    let tags = call(&c, "ListTagsForResource", json!({"ResourceARN": arns[0]})).await;
    assert_eq!(tags["Tags"], json!([{"Key": "env", "Value": "test"}]));
    let stream_tags = call(&c, "ListTagsForStream", json!({"StreamName": "fan"})).await;
    assert_eq!(
        stream_tags["Tags"],
        json!([{"Key": "stream-tag", "Value": "1"}])
    );
    assert_eq!(
        fails(
            &c,
            "TagResource",
            json!({"ResourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/nope", "Tags": {"a": "b"}})
        )
        .await,
        "ResourceNotFoundException"
    );
    assert_eq!(
        fails(
            &c,
            "ListTagsForResource",
            json!({"ResourceARN": "not an arn"})
        )
        .await,
        "ValidationException"
    );

    // Resource policies: validated, stored, "{}" once deleted.
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "kinesis:GetRecords",
        "Resource": arn}]})
    .to_string();
    call(
        &c,
        "PutResourcePolicy",
        json!({"ResourceARN": arn, "Policy": policy}),
    )
    .await;
    let got = call(&c, "GetResourcePolicy", json!({"ResourceARN": arn})).await;
    assert_eq!(
        serde_json::from_str::<Json>(got["Policy"].as_str().unwrap()).unwrap(),
        serde_json::from_str::<Json>(&policy).unwrap()
    );
    assert_eq!(
        fails(
            &c,
            "PutResourcePolicy",
            json!({"ResourceARN": arn, "Policy": "{not json"})
        )
        .await,
        "InvalidArgumentException"
    );
    call(&c, "DeleteResourcePolicy", json!({"ResourceARN": arn})).await;
    let got = call(&c, "GetResourcePolicy", json!({"ResourceARN": arn})).await;
    assert_eq!(got["Policy"], "{}");

    // Deregistering: DELETING, then a subscription is refused.
    call(
        &c,
        "DeregisterStreamConsumer",
        json!({"ConsumerARN": arns[2]}),
    )
    .await;
    let code = c
        .subscribe_to_shard(
            &tidelog_server::wire::Map::new()
                .with("ConsumerARN", arns[2].as_str())
                .with("ShardId", "shardId-000000000000")
                .with(
                    "StartingPosition",
                    tidelog_server::wire::Map::new().with("Type", "LATEST"),
                )
                .into(),
        )
        .await
        .err()
        .and_then(|e| e.code().map(str::to_string));
    assert!(
        matches!(
            code.as_deref(),
            Some("ResourceNotFoundException" | "ResourceInUseException")
        ),
        "{code:?}"
    );
    // A stream with consumers is deleted only with EnforceConsumerDeletion.
    assert_eq!(
        fails(&c, "DeleteStream", json!({"StreamName": "fan"})).await,
        "ResourceInUseException"
    );
    call(
        &c,
        "DeleteStream",
        json!({"StreamName": "fan", "EnforceConsumerDeletion": true}),
    )
    .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modes_encryption_monitoring_limits_and_account() {
    let s = start().await;
    let c = s.client(Encoding::Json);
    let cbor = s.client(Encoding::Cbor);
    call(
        &c,
        "CreateStream",
        json!({"StreamName": "od", "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
               "MaxRecordSizeInKiB": 2048}),
    )
    .await;
    let summary = call(&c, "DescribeStreamSummary", json!({"StreamName": "od"})).await;
    let summary = &summary["StreamDescriptionSummary"];
    assert_eq!(summary["StreamModeDetails"]["StreamMode"], "ON_DEMAND");
    assert_eq!(summary["OpenShardCount"], 4);
    assert_eq!(summary["MaxRecordSizeInKiB"], 2048);
    assert_eq!(summary["EncryptionType"], "NONE");
    let listed = call(&c, "ListStreams", json!({})).await;
    assert_eq!(
        listed["StreamSummaries"][0]["StreamModeDetails"]["StreamMode"],
        "ON_DEMAND"
    );
    assert_eq!(
        fails(
            &c,
            "CreateStream",
            json!({"StreamName": "bad", "StreamModeDetails": {"StreamMode": "FAST"}})
        )
        .await,
        "ValidationException"
    );
    assert_eq!(
        fails(&c, "CreateStream", json!({"StreamName": "bad"})).await,
        "ValidationException"
    );
    let limits = call(&c, "DescribeLimits", json!({})).await;
    assert_eq!(limits["OpenShardCount"], 4);
    assert_eq!(limits["OnDemandStreamCount"], 1);
    assert!(limits["ShardLimit"].as_u64().unwrap() >= 4);
    assert!(limits["OnDemandStreamCountLimit"].as_u64().unwrap() >= 1);

    // Warm throughput wants the account's billing commitment.
    let arn = s.api.engine.stream_arn("od");
    assert_eq!(
        call(&c, "DescribeAccountSettings", json!({})).await["MinimumThroughputBillingCommitment"]
            ["Status"],
        "DISABLED"
    );
    let on = call(
        &c,
        "UpdateAccountSettings",
        json!({"MinimumThroughputBillingCommitment": {"Status": "ENABLED"}}),
    )
    .await;
    let commitment = &on["MinimumThroughputBillingCommitment"];
    assert_eq!(commitment["Status"], "ENABLED");
    assert!(commitment["StartedAt"].is_number());
    assert!(commitment["EarliestAllowedEndAt"].is_number());
    let warm = call(
        &c,
        "UpdateStreamWarmThroughput",
        json!({"StreamARN": arn, "WarmThroughputMiBps": 6}),
    )
    .await;
    assert_eq!(warm["StreamName"], "od");
    assert_eq!(warm["WarmThroughput"]["TargetMiBps"], 6);
    assert!(warm["WarmThroughput"]["CurrentMiBps"].as_u64().unwrap() >= 6);

    // Back to PROVISIONED, then record size.
    call(
        &c,
        "UpdateStreamMode",
        json!({"StreamARN": arn, "StreamModeDetails": {"StreamMode": "PROVISIONED"}}),
    )
    .await;
    call(
        &c,
        "UpdateMaxRecordSize",
        json!({"StreamARN": arn, "MaxRecordSizeInKiB": 4096}),
    )
    .await;
    let summary = call(&c, "DescribeStreamSummary", json!({"StreamARN": arn})).await;
    assert_eq!(
        summary["StreamDescriptionSummary"]["StreamModeDetails"]["StreamMode"],
        "PROVISIONED"
    );
    assert_eq!(
        summary["StreamDescriptionSummary"]["MaxRecordSizeInKiB"],
        4096
    );
    assert_eq!(
        fails(
            &c,
            "UpdateMaxRecordSize",
            json!({"StreamARN": arn, "MaxRecordSizeInKiB": 100})
        )
        .await,
        "ValidationException"
    );

    // Monitoring: current and desired metric sets.
    let on = call(
        &c,
        "EnableEnhancedMonitoring",
        json!({"StreamName": "od", "ShardLevelMetrics": ["IncomingBytes", "IncomingRecords"]}),
    )
    .await;
    assert_eq!(on["CurrentShardLevelMetrics"], json!([]));
    assert_eq!(
        on["DesiredShardLevelMetrics"],
        json!(["IncomingBytes", "IncomingRecords"])
    );
    let off = call(
        &c,
        "DisableEnhancedMonitoring",
        json!({"StreamARN": arn, "ShardLevelMetrics": ["IncomingBytes"]}),
    )
    .await;
    assert_eq!(off["DesiredShardLevelMetrics"], json!(["IncomingRecords"]));
    let d = call(&c, "DescribeStream", json!({"StreamName": "od"})).await;
    assert_eq!(
        d["StreamDescription"]["EnhancedMonitoring"][0]["ShardLevelMetrics"],
        json!(["IncomingRecords"])
    );
    assert_eq!(
        fails(
            &c,
            "EnableEnhancedMonitoring",
            json!({"StreamName": "od", "ShardLevelMetrics": ["Nonsense"]})
        )
        .await,
        "ValidationException"
    );

    // Encryption: records put while it is on are KMS, reads decrypt, the stream shows
    // the key; stopping needs the same key.
    let plain = call(
        &c,
        "PutRecord",
        json!({"StreamName": "od", "PartitionKey": "k", "Data": "cGxhaW4="}),
    )
    .await;
    assert_eq!(plain["EncryptionType"], "NONE");
    call(
        &c,
        "StartStreamEncryption",
        json!({"StreamName": "od", "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}),
    )
    .await;
    let d = call(&c, "DescribeStream", json!({"StreamName": "od"})).await;
    assert_eq!(d["StreamDescription"]["EncryptionType"], "KMS");
    assert_eq!(d["StreamDescription"]["KeyId"], "alias/aws/kinesis");
    let secret = call(
        &cbor,
        "PutRecord",
        json!({"StreamName": "od", "PartitionKey": "k", "Data": "c2VjcmV0"}),
    )
    .await;
    assert_eq!(secret["EncryptionType"], "KMS");
    let batch = call(
        &c,
        "PutRecords",
        json!({"StreamName": "od", "Records": [{"PartitionKey": "k", "Data": "Yg=="}]}),
    )
    .await;
    assert_eq!(batch["EncryptionType"], "KMS");
    let shard = plain["ShardId"].as_str().unwrap();
    let it = call(
        &c,
        "GetShardIterator",
        json!({"StreamName": "od", "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
    )
    .await;
    let got = call(
        &c,
        "GetRecords",
        json!({"ShardIterator": it["ShardIterator"]}),
    )
    .await;
    let records: Vec<(Json, Json)> = got["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["Data"].clone(), r["EncryptionType"].clone()))
        .collect();
    assert_eq!(
        records,
        [
            (json!("cGxhaW4="), json!("NONE")),
            (json!("c2VjcmV0"), json!("KMS")),
            (json!("Yg=="), json!("KMS"))
        ]
    );
    assert_eq!(
        fails(
            &c,
            "StartStreamEncryption",
            json!({"StreamName": "od", "EncryptionType": "NONE", "KeyId": "alias/aws/kinesis"})
        )
        .await,
        "InvalidArgumentException"
    );
    assert_ne!(
        fails(
            &c,
            "StopStreamEncryption",
            json!({"StreamName": "od", "EncryptionType": "KMS", "KeyId": "alias/other"})
        )
        .await,
        "transport"
    );
    call(
        &c,
        "StopStreamEncryption",
        json!({"StreamName": "od", "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}),
    )
    .await;
    let summary = call(&c, "DescribeStreamSummary", json!({"StreamName": "od"})).await;
    assert_eq!(
        summary["StreamDescriptionSummary"]["EncryptionType"],
        "NONE"
    );
    assert!(summary["StreamDescriptionSummary"].get("KeyId").is_none());

    // ListShards' FROM_TIMESTAMP filter.
    let shards = call(
        &c,
        "ListShards",
        json!({"StreamName": "od", "ShardFilter": {"Type": "FROM_TIMESTAMP", "Timestamp": 0}}),
    )
    .await;
    assert!(!shards["Shards"].as_array().unwrap().is_empty());
    assert_eq!(
        fails(
            &c,
            "ListShards",
            json!({"StreamName": "od", "ShardFilter": {"Type": "FROM_TIMESTAMP"}})
        )
        .await,
        "InvalidArgumentException"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_distribution_strategies_in_json_and_cbor() {
    let s = start().await;
    for (i, encoding) in [Encoding::Json, Encoding::Cbor].into_iter().enumerate() {
        let c = s.client(encoding);
        let name = format!("auto-{i}");
        call(
            &c,
            "CreateStream",
            json!({"StreamName": name, "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
                   "RecordDistributionStrategy": "AUTO"}),
        )
        .await;
        let arn = s.api.engine.stream_arn(&name);
        let summary = call(&c, "DescribeStreamSummary", json!({"StreamARN": arn})).await;
        assert_eq!(
            summary["StreamDescriptionSummary"]["RecordDistributionStrategy"],
            "AUTO"
        );
        // One partition key, eight records: two on each of the four shards.
        let mut shards = std::collections::BTreeMap::<String, usize>::new();
        for _ in 0..8 {
            let out = call(
                &c,
                "PutRecord",
                json!({"StreamName": name, "PartitionKey": "same", "Data": "eA=="}),
            )
            .await;
            *shards
                .entry(out["ShardId"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        assert_eq!(shards.len(), 4, "{shards:?}");
        assert!(shards.values().all(|&n| n == 2), "{shards:?}");
        call(
            &c,
            "UpdateStreamRecordDistributionStrategy",
            json!({"StreamARN": arn, "RecordDistributionStrategy": "USER_PARTITION_KEY"}),
        )
        .await;
        let mut keyed = std::collections::BTreeSet::new();
        for _ in 0..4 {
            let out = call(
                &c,
                "PutRecord",
                json!({"StreamName": name, "PartitionKey": "same", "Data": "eA=="}),
            )
            .await;
            keyed.insert(out["ShardId"].as_str().unwrap().to_string());
        }
        assert_eq!(keyed.len(), 1, "{keyed:?}");
        // The ARN is required; bad values and PROVISIONED streams are refused.
        for (input, want) in [
            (
                json!({"StreamName": name, "RecordDistributionStrategy": "AUTO"}),
                "ValidationException",
            ),
            (
                json!({"StreamARN": arn, "RecordDistributionStrategy": "RANDOM"}),
                "ValidationException",
            ),
            (json!({"StreamARN": arn}), "ValidationException"),
        ] {
            assert_eq!(
                fails(&c, "UpdateStreamRecordDistributionStrategy", input).await,
                want
            );
        }
        let p = format!("prov-{i}");
        assert_eq!(
            fails(
                &c,
                "CreateStream",
                json!({"StreamName": p, "ShardCount": 1, "RecordDistributionStrategy": "AUTO"}),
            )
            .await,
            "InvalidArgumentException"
        );
        call(
            &c,
            "CreateStream",
            json!({"StreamName": p, "ShardCount": 1}),
        )
        .await;
        let parn = s.api.engine.stream_arn(&p);
        assert_eq!(
            fails(
                &c,
                "UpdateStreamRecordDistributionStrategy",
                json!({"StreamARN": parn, "RecordDistributionStrategy": "AUTO"}),
            )
            .await,
            "InvalidArgumentException"
        );
        let summary = call(&c, "DescribeStreamSummary", json!({"StreamARN": parn})).await;
        assert!(
            summary["StreamDescriptionSummary"]
                .get("RecordDistributionStrategy")
                .is_none(),
            "{summary}"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_in_cbor_with_firehose_and_refused_without() {
    let s = start_with_firehose().await;
    let cbor = s.client(Encoding::Cbor);
    call(
        &cbor,
        "CreateStream",
        json!({"StreamName": "cs", "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}),
    )
    .await;
    let arn = s.api.engine.stream_arn("cs");
    let created = call(
        &cbor,
        "CreateChannel",
        json!({"ChannelName": "cb", "ServiceExecutionRoleARN": "arn:aws:iam::000000000000:role/r",
               "StreamConfigurationList": [{"StreamARN": arn,
                   "RecordConfiguration": {"RecordFormatType": "STRING"}}],
               "S3DestinationConfiguration": {"StorageConfiguration": {
                   "BucketARN": "arn:aws:s3:::cbor-bkt", "ExpectedBucketOwner": "000000000000",
                   "CompressionType": "NONE"}}}),
    )
    .await;
    let channel_arn = created["ChannelDescription"]["ChannelARN"]
        .as_str()
        .unwrap()
        .to_string();
    // The raw CBOR answer: timestamps are CBOR timestamps, as Kinesis sends them.
    let raw = cbor
        .call(
            Service::Kinesis,
            "DescribeChannel",
            &tidelog_server::wire::Map::new()
                .with("ChannelARN", channel_arn.as_str())
                .into(),
        )
        .await
        .unwrap();
    let d = raw
        .get("ChannelDescription")
        .and_then(|v| v.as_map())
        .unwrap();
    assert!(
        matches!(
            d.get("ChannelCreationTimestamp"),
            Some(tidelog_server::wire::Value::Timestamp(_))
        ),
        "{d:?}"
    );
    assert!(matches!(
        d.get("ChannelStatus"),
        Some(tidelog_server::wire::Value::Str(s)) if s == "ACTIVE"
    ));
    let summary = call(&cbor, "DescribeStreamSummary", json!({"StreamARN": arn})).await;
    assert_eq!(summary["StreamDescriptionSummary"]["ChannelCount"], 1);
    assert_eq!(
        fails(&cbor, "DeleteStream", json!({"StreamARN": arn})).await,
        "ResourceInUseException"
    );
    call(&cbor, "DeleteChannel", json!({"ChannelARN": channel_arn})).await;
    call(&cbor, "DeleteStream", json!({"StreamARN": arn})).await;
    s.stop().await;

    // Without Firehose: refused, saying why.
    let s = start().await;
    let c = s.client(Encoding::Json);
    let e = c
        .call_json(Service::Kinesis, "ListChannels", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidArgumentException"));
    assert!(e.to_string().contains("--no-firehose"), "{e}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_operations_refuse_bad_members_and_change_nothing() {
    let s = start().await;
    let c = s.client(Encoding::Json);
    call(
        &c,
        "CreateStream",
        json!({"StreamName": "h", "ShardCount": 1}),
    )
    .await;
    let arn = s.api.engine.stream_arn("h");
    for (op, input, want) in [
        (
            "TagResource",
            json!({"ResourceARN": arn, "Tags": ["a"]}),
            "SerializationException",
        ),
        (
            "TagResource",
            json!({"ResourceARN": arn, "Tags": {"a": 1}}),
            "SerializationException",
        ),
        (
            "TagResource",
            json!({"ResourceARN": arn, "Tags": {"aws:x": "1"}}),
            "ValidationException",
        ),
        (
            "TagResource",
            json!({"Tags": {"a": "b"}}),
            "ValidationException",
        ),
        (
            "UntagResource",
            json!({"ResourceARN": arn, "TagKeys": "a"}),
            "SerializationException",
        ),
        (
            "RegisterStreamConsumer",
            json!({"StreamARN": arn, "ConsumerName": "bad name!"}),
            "ValidationException",
        ),
        (
            "RegisterStreamConsumer",
            json!({"StreamARN": "arn:aws:kinesis:eu-west-1:000000000000:stream/h", "ConsumerName": "c"}),
            "ResourceNotFoundException",
        ),
        (
            "RegisterStreamConsumer",
            json!({"ConsumerName": "c"}),
            "ValidationException",
        ),
        (
            "ListStreamConsumers",
            json!({"StreamARN": arn, "NextToken": "garbage"}),
            "InvalidArgumentException",
        ),
        (
            "ListStreamConsumers",
            json!({"StreamARN": arn, "MaxResults": 0}),
            "ValidationException",
        ),
        (
            "EnableEnhancedMonitoring",
            json!({"StreamName": "h", "ShardLevelMetrics": "ALL"}),
            "SerializationException",
        ),
        (
            "EnableEnhancedMonitoring",
            json!({"StreamName": "h", "ShardLevelMetrics": []}),
            "ValidationException",
        ),
        (
            "UpdateStreamMode",
            json!({"StreamARN": arn, "StreamModeDetails": "ON_DEMAND"}),
            "SerializationException",
        ),
        (
            "UpdateStreamMode",
            json!({"StreamARN": arn}),
            "ValidationException",
        ),
        (
            "UpdateMaxRecordSize",
            json!({"StreamARN": arn, "MaxRecordSizeInKiB": 1e9}),
            "ValidationException",
        ),
        (
            "StartStreamEncryption",
            json!({"StreamName": "h", "EncryptionType": "KMS", "KeyId": ""}),
            "ValidationException",
        ),
        (
            "UpdateAccountSettings",
            json!({"MinimumThroughputBillingCommitment": {"Status": "MAYBE"}}),
            "ValidationException",
        ),
        (
            "PutResourcePolicy",
            json!({"ResourceARN": arn, "Policy": 7}),
            "SerializationException",
        ),
        (
            "SubscribeToShard",
            json!({"ConsumerARN": arn, "ShardId": "shardId-000000000000", "StartingPosition": {"Type": "LATEST"}}),
            "ValidationException",
        ),
    ] {
        assert_eq!(fails(&c, op, input.clone()).await, want, "{op} {input}");
    }
    // Nothing changed: no tags, no consumers, no policy, mode and encryption as created.
    let tags = call(&c, "ListTagsForResource", json!({"ResourceARN": arn})).await;
    assert_eq!(tags["Tags"], json!([]));
    let consumers = call(&c, "ListStreamConsumers", json!({"StreamARN": arn})).await;
    assert_eq!(consumers["Consumers"], json!([]));
    let summary = call(&c, "DescribeStreamSummary", json!({"StreamName": "h"})).await;
    let summary = &summary["StreamDescriptionSummary"];
    assert_eq!(summary["StreamModeDetails"]["StreamMode"], "PROVISIONED");
    assert_eq!(summary["EncryptionType"], "NONE");
    assert_eq!(summary["MaxRecordSizeInKiB"], 1024);
    assert_eq!(
        summary["EnhancedMonitoring"][0]["ShardLevelMetrics"],
        json!([])
    );
    s.stop().await;
}
