//! Resources by ARN (tags, policies), DescribeLimits, enhanced monitoring, ListShards'
//! FROM_TIMESTAMP, large records (MaxRecordSizeInKiB, UpdateMaxRecordSize, the write
//! burst), account settings and stream modes' bookkeeping, each with its errors and a
//! reopen.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use tidelog::engine::{CreateStreamOptions, ShardFilter};
use tidelog::stream::catalog::{CommitmentStatus, StreamMode};
use tidelog::{Engine, Error, ErrorKind, ManualClock, PutOptions, StartingPosition};

const T0: u64 = 1_700_000_000_000;

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>, limits: tidelog::Limits) -> Engine {
    let mut config = engine_config(dir, Some(clock.clone()));
    config.limits = limits;
    Engine::open(config).unwrap()
}

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kinesis:GetRecords",
  "Resource":"*"}]}"#;

#[test]
fn tags_and_policies_by_arn_for_streams_and_consumers() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(tmp.path(), &clock, tidelog::Limits::unlimited());
    engine.create_stream("s", 1).unwrap();
    let stream_arn = engine.stream_arn("s");
    assert_eq!(engine.resolve_stream_arn(&stream_arn).unwrap(), "s");
    let consumer_arn = engine
        .register_stream_consumer("s", "c", &BTreeMap::new())
        .unwrap()
        .arn;
    let tags = BTreeMap::from([
        ("env".to_string(), "test".to_string()),
        ("owner".to_string(), String::new()),
    ]);
    for arn in [&stream_arn, &consumer_arn] {
        engine.tag_resource(arn, &tags).unwrap();
        assert_eq!(engine.list_tags_for_resource(arn).unwrap(), tags);
        engine
            .untag_resource(arn, &["owner".to_string(), "absent".to_string()])
            .unwrap();
        assert_eq!(engine.list_tags_for_resource(arn).unwrap().len(), 1);
        assert_eq!(engine.get_resource_policy(arn).unwrap(), None);
        engine.put_resource_policy(arn, POLICY).unwrap();
        assert_eq!(
            engine.get_resource_policy(arn).unwrap().as_deref(),
            Some(POLICY)
        );
    }
    // Stream tags by ARN are the stream's tags.
    assert_eq!(engine.list_tags_for_stream("s").unwrap().len(), 1);
    // Errors.
    let too_many: BTreeMap<String, String> =
        (0..50).map(|i| (format!("k{i}"), String::new())).collect();
    assert!(matches!(
        engine.tag_resource(&stream_arn, &too_many).unwrap_err(),
        Error::LimitExceeded { .. }
    ));
    assert_eq!(
        engine.list_tags_for_resource(&stream_arn).unwrap().len(),
        1,
        "unchanged"
    );
    for (arn, kind) in [
        ("", ErrorKind::Validation),
        (
            "arn:aws:kinesis:local:000000000000:widget/q",
            ErrorKind::Validation,
        ),
        (
            // Well formed: a queue ARN, naming no queue.
            "arn:aws:kinesis:local:000000000000:queue/q",
            ErrorKind::ResourceNotFound,
        ),
        (
            "arn:aws:kinesis:local:000000000000:stream/nope",
            ErrorKind::ResourceNotFound,
        ),
        (
            "arn:aws:kinesis:eu-west-1:000000000000:stream/s",
            ErrorKind::ResourceNotFound,
        ),
    ] {
        assert_eq!(
            engine.tag_resource(arn, &tags).unwrap_err().kind(),
            kind,
            "{arn:?}"
        );
        assert_eq!(
            engine.get_resource_policy(arn).unwrap_err().kind(),
            kind,
            "{arn:?}"
        );
    }
    assert_eq!(
        engine
            .tag_resource(&stream_arn, &BTreeMap::new())
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
    assert_eq!(
        engine.untag_resource(&stream_arn, &[]).unwrap_err().kind(),
        ErrorKind::Validation
    );
    let reserved = BTreeMap::from([("aws:x".to_string(), "v".to_string())]);
    assert_eq!(
        engine
            .tag_resource(&stream_arn, &reserved)
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
    for bad in [
        "",
        "{",
        "[]",
        r#"{"Statement":[]}"#,
        r#"{"Statement":{"Effect":"Allow"}}"#,
    ] {
        assert_eq!(
            engine
                .put_resource_policy(&stream_arn, bad)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument,
            "{bad:?}"
        );
    }
    assert_eq!(
        engine.get_resource_policy(&stream_arn).unwrap().as_deref(),
        Some(POLICY)
    );
    // Durable across a reopen.
    engine.close().unwrap();
    let engine = open(tmp.path(), &clock, tidelog::Limits::unlimited());
    for arn in [&stream_arn, &consumer_arn] {
        assert_eq!(engine.list_tags_for_resource(arn).unwrap().len(), 1);
        assert_eq!(
            engine.get_resource_policy(arn).unwrap().as_deref(),
            Some(POLICY)
        );
        engine.delete_resource_policy(arn).unwrap();
        assert_eq!(
            engine.delete_resource_policy(arn).unwrap_err().kind(),
            ErrorKind::ResourceNotFound
        );
    }
}

#[test]
fn limits_monitoring_and_from_timestamp() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut config = engine_config(tmp.path(), Some(clock.clone()));
    config.limits = tidelog::Limits::unlimited();
    config.max_shards = 64;
    config.on_demand_stream_count_max = 2;
    let engine = Engine::open(config).unwrap();
    engine.create_stream("p", 3).unwrap();
    engine
        .create_stream_with("d", CreateStreamOptions::on_demand())
        .unwrap();
    let limits = engine.describe_limits().unwrap();
    assert_eq!(
        (
            limits.shard_limit,
            limits.open_shard_count,
            limits.on_demand_stream_count,
            limits.on_demand_stream_count_limit
        ),
        (64, 7, 1, 2)
    );
    engine
        .create_stream_with("d2", CreateStreamOptions::on_demand())
        .unwrap();
    assert!(matches!(
        engine
            .create_stream_with("d3", CreateStreamOptions::on_demand())
            .unwrap_err(),
        Error::LimitExceeded { .. }
    ));

    // Enhanced monitoring: enable, ALL, disable, errors; durable.
    let out = engine
        .enable_enhanced_monitoring("p", &["IncomingBytes", "OutgoingRecords"])
        .unwrap();
    assert_eq!(out.current, Vec::<&str>::new());
    assert_eq!(out.desired, vec!["IncomingBytes", "OutgoingRecords"]);
    let out = engine.enable_enhanced_monitoring("p", &["ALL"]).unwrap();
    assert_eq!(out.desired.len(), 7);
    let out = engine
        .disable_enhanced_monitoring("p", &["IncomingBytes"])
        .unwrap();
    assert_eq!(out.current.len(), 7);
    assert_eq!(out.desired.len(), 6);
    assert!(!out.desired.contains(&"IncomingBytes"));
    assert_eq!(
        engine
            .describe_stream_summary("p")
            .unwrap()
            .shard_level_metrics,
        out.desired
    );
    assert_eq!(
        engine
            .enable_enhanced_monitoring("p", &["Bogus"])
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
    assert_eq!(
        engine
            .enable_enhanced_monitoring::<&str>("p", &[])
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
    assert_eq!(
        engine
            .enable_enhanced_monitoring("nope", &["ALL"])
            .unwrap_err()
            .kind(),
        ErrorKind::ResourceNotFound
    );

    // ListShards FROM_TIMESTAMP: the open shards and those closed at or after it.
    clock.advance_ms(10_000);
    let t_split = clock_now(&clock);
    let parent = engine.describe_stream("p").unwrap().shards[0].clone();
    let key = parent.hash_range.start + 1000;
    engine
        .split_shard("p", &parent.shard_id, &key.to_string())
        .unwrap();
    clock.advance_ms(10_000);
    let ids = |filter| -> Vec<String> {
        engine
            .list_shards("p", filter)
            .unwrap()
            .into_iter()
            .map(|s| s.shard_id)
            .collect()
    };
    let all = ids(ShardFilter::All);
    assert_eq!(all.len(), 5);
    assert_eq!(
        ids(ShardFilter::FromTimestamp(t_split)).len(),
        5,
        "closed at t_split"
    );
    assert_eq!(
        ids(ShardFilter::FromTimestamp(t_split + 1)).len(),
        4,
        "only open"
    );
    assert_eq!(
        ids(ShardFilter::FromTimestamp(0)).len(),
        5,
        "before the trim horizon: from the trim horizon"
    );
    // Past retention the closed parent is no longer listed from the trim horizon.
    clock.advance_ms(25 * 3_600_000);
    assert_eq!(ids(ShardFilter::FromTimestamp(0)).len(), 4);
    engine.close().unwrap();
    let engine = open(tmp.path(), &clock, tidelog::Limits::unlimited());
    assert_eq!(
        engine
            .describe_stream("p")
            .unwrap()
            .shard_level_metrics
            .len(),
        6
    );
}

fn clock_now(clock: &Arc<ManualClock>) -> u64 {
    use tidelog::Clock;
    clock.now_ms()
}

#[test]
fn large_records_through_every_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(tmp.path(), &clock, tidelog::Limits::kinesis());
    engine
        .create_stream_with(
            "big",
            CreateStreamOptions {
                max_record_size_kib: Some(10 * 1024),
                ..CreateStreamOptions::provisioned(1)
            },
        )
        .unwrap();
    engine.create_stream("small", 1).unwrap();
    assert_eq!(
        engine.describe_stream("big").unwrap().max_record_size_kib,
        10240
    );
    assert_eq!(
        engine.describe_stream("small").unwrap().max_record_size_kib,
        1024
    );
    let ten = vec![0xA5u8; (10 << 20) - 1];
    // 10 MiB - 1 of data + a 1-byte key: exactly the limit; it bursts past 1 MiB/s.
    let out = engine
        .put_record("big", "k", &ten, PutOptions::default())
        .unwrap();
    let err = engine
        .put_record("big", "k", &[0u8; 2], PutOptions::default())
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::ProvisionedThroughputExceeded,
        "the burst is spent"
    );
    clock.advance_ms(1_000);
    engine
        .put_record("big", "k", &[1u8; 100], PutOptions::default())
        .unwrap();
    let err = engine
        .put_record("big", "k", &vec![0u8; 10 << 20], PutOptions::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Validation(tidelog::error::Validation::RecordTooLarge { .. })
        ),
        "{err}"
    );
    let err = engine
        .put_record("small", "k", &vec![0u8; 1 << 20], PutOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    // Read back whole (a 10 MiB record comes alone).
    let it = engine
        .get_shard_iterator("big", &out.shard_id, StartingPosition::TrimHorizon)
        .unwrap();
    let got = engine.get_records(&it, None).unwrap();
    assert_eq!(got.records.len(), 1);
    assert_eq!(got.records.get(0).unwrap().data, &ten[..]);
    // UpdateMaxRecordSize: errors, then the change, durable.
    for (kib, kind) in [
        (1023, ErrorKind::Validation),
        (10241, ErrorKind::Validation),
    ] {
        assert_eq!(
            engine
                .update_max_record_size("small", kib)
                .unwrap_err()
                .kind(),
            kind
        );
    }
    assert_eq!(
        engine
            .update_max_record_size("nope", 2048)
            .unwrap_err()
            .kind(),
        ErrorKind::ResourceNotFound
    );
    engine.update_max_record_size("small", 2048).unwrap();
    clock.advance_ms(2_000);
    engine
        .put_record(
            "small",
            "k",
            &vec![3u8; (2 << 20) - 1],
            PutOptions::default(),
        )
        .unwrap();
    engine.close().unwrap();
    let engine = open(tmp.path(), &clock, tidelog::Limits::kinesis());
    assert_eq!(
        engine
            .describe_stream_summary("small")
            .unwrap()
            .max_record_size_kib,
        2048
    );
    let it = engine
        .get_shard_iterator("big", &out.shard_id, StartingPosition::TrimHorizon)
        .unwrap();
    let got = engine.get_records(&it, None).unwrap();
    assert_eq!(
        got.records.get(0).unwrap().data,
        &ten[..],
        "the large record after a reopen"
    );
    // A 10 MiB read starts Kinesis's 5 s penalty.
    let err = engine
        .get_records(got.next_shard_iterator.as_ref().unwrap(), None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProvisionedThroughputExceeded);
    // A lower engine ceiling caps every stream, and refuses larger settings.
    engine.close().unwrap();
    let mut config = engine_config(tmp.path(), Some(clock.clone()));
    config.log.record_bytes_max = 1 << 20;
    let engine = Engine::open(config).unwrap();
    assert_eq!(
        engine
            .update_max_record_size("small", 4096)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    clock.advance_ms(10_000);
    assert_eq!(
        engine
            .put_record("big", "k", &vec![0u8; 2 << 20], PutOptions::default())
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
}

#[test]
fn modes_warm_throughput_and_account_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = open(tmp.path(), &clock, tidelog::Limits::kinesis());
    // CreateStream's mode rules.
    assert_eq!(
        engine
            .create_stream_with("x", CreateStreamOptions::default())
            .unwrap_err()
            .kind(),
        ErrorKind::Validation,
        "PROVISIONED needs a shard count"
    );
    assert_eq!(
        engine
            .create_stream_with(
                "x",
                CreateStreamOptions {
                    shard_count: Some(2),
                    ..CreateStreamOptions::on_demand()
                }
            )
            .unwrap_err()
            .kind(),
        ErrorKind::Validation,
        "ON_DEMAND takes no shard count"
    );
    assert!(engine.list_streams(None, None).unwrap().names.is_empty());
    engine
        .create_stream_with("d", CreateStreamOptions::on_demand())
        .unwrap();
    let d = engine.describe_stream("d").unwrap();
    assert_eq!((d.mode, d.shards.len()), (StreamMode::OnDemand, 4));
    assert_eq!(d.warm_throughput, None, "no commitment: no warm throughput");
    // Users do not reshard on-demand streams.
    let shard = d.shards[0].shard_id.clone();
    for err in [
        engine.split_shard("d", &shard, "1").unwrap_err(),
        engine
            .merge_shards("d", &shard, &d.shards[1].shard_id)
            .unwrap_err(),
        engine
            .update_shard_count("d", 8, "UNIFORM_SCALING")
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
    // Warm throughput needs the account's commitment.
    assert_eq!(
        engine
            .update_stream_warm_throughput("d", 8)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    let a = engine.describe_account_settings().unwrap();
    assert_eq!((a.status, a.started_ms), (CommitmentStatus::Disabled, None));
    let a = engine.update_account_settings(true).unwrap();
    assert_eq!(a.status, CommitmentStatus::Enabled);
    assert_eq!(a.started_ms, Some(T0));
    assert_eq!(a.earliest_allowed_end_ms, Some(T0 + 86_400_000));
    let out = engine.update_stream_warm_throughput("d", 8).unwrap();
    assert_eq!(
        (
            out.warm_throughput.target_mibps,
            out.warm_throughput.current_mibps
        ),
        (8, 8)
    );
    assert_eq!(
        engine
            .describe_stream_summary("d")
            .unwrap()
            .open_shard_count,
        8
    );
    engine.create_stream("p", 1).unwrap();
    assert_eq!(
        engine
            .update_stream_warm_throughput("p", 8)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument,
        "provisioned streams have no warm throughput"
    );
    assert!(matches!(
        engine
            .update_stream_warm_throughput("d", 20_000)
            .unwrap_err(),
        Error::LimitExceeded { .. }
    ));
    // Disabling early keeps it on until the earliest end.
    clock.advance_ms(3_600_000);
    let a = engine.update_account_settings(false).unwrap();
    assert_eq!(a.status, CommitmentStatus::EnabledUntilEarliestAllowedEnd);
    assert_eq!(a.ended_ms, Some(T0 + 86_400_000));
    let a = engine.update_account_settings(true).unwrap();
    assert_eq!(
        (a.status, a.ended_ms),
        (CommitmentStatus::Enabled, None),
        "cancelled"
    );
    engine.update_account_settings(false).unwrap();
    clock.advance_ms(86_400_000);
    assert_eq!(
        engine.describe_account_settings().unwrap().status,
        CommitmentStatus::Disabled
    );
    // Mode switches: both ways, at most twice a day.
    engine
        .update_stream_mode("p", StreamMode::OnDemand, None)
        .unwrap();
    let p = engine.describe_stream_summary("p").unwrap();
    assert_eq!(
        (p.mode, p.open_shard_count),
        (StreamMode::OnDemand, 4),
        "at least 4 at once"
    );
    assert_eq!(
        engine
            .update_stream_mode("p", StreamMode::OnDemand, None)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    engine
        .update_stream_mode("p", StreamMode::Provisioned, None)
        .unwrap();
    assert!(matches!(
        engine
            .update_stream_mode("p", StreamMode::OnDemand, None)
            .unwrap_err(),
        Error::LimitExceeded { .. }
    ));
    clock.advance_ms(86_400_000);
    engine
        .update_stream_mode("p", StreamMode::OnDemand, None)
        .unwrap();
    engine.close().unwrap();
    let engine = open(tmp.path(), &clock, tidelog::Limits::kinesis());
    assert_eq!(
        engine.describe_stream("p").unwrap().mode,
        StreamMode::OnDemand
    );
    assert_eq!(
        engine
            .describe_stream_summary("d")
            .unwrap()
            .open_shard_count,
        8
    );
}
