"""boto3 through the Kinesis operations the engine gained: enhanced fan-out consumers
(and SubscribeToShard through them), tags and policies by ARN, encryption at rest,
stream modes, record sizes, monitoring, limits and account settings."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError


def code(e: ClientError) -> str:
    return e.response["Error"]["Code"]


def stream_arn(kinesis, stream: str) -> str:
    return kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]


def test_consumers_page_tag_and_subscribe(kinesis, stream):
    arn = stream_arn(kinesis, stream)
    consumers = [kinesis.register_stream_consumer(StreamARN=arn, ConsumerName=f"app-{i}",
                                                  Tags={"n": str(i)})["Consumer"] for i in range(3)]
    assert all(c["ConsumerARN"].startswith(f"{arn}/consumer/app-") for c in consumers)
    assert all(c["ConsumerStatus"] in ("CREATING", "ACTIVE") for c in consumers)
    with pytest.raises(kinesis.exceptions.ResourceInUseException):
        kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="app-0")
    described = kinesis.describe_stream_consumer(ConsumerARN=consumers[1]["ConsumerARN"])["ConsumerDescription"]
    assert described["ConsumerName"] == "app-1" and described["StreamARN"] == arn
    assert described["ConsumerStatus"] == "ACTIVE"
    assert described["ConsumerCreationTimestamp"].tzinfo is not None
    paged = [c["ConsumerName"] for page in kinesis.get_paginator("list_stream_consumers").paginate(
        StreamARN=arn, PaginationConfig={"PageSize": 2}) for c in page["Consumers"]]
    assert paged == ["app-0", "app-1", "app-2"]
    # Tags by ARN: the consumer's own, beside the stream's.
    kinesis.tag_resource(ResourceARN=consumers[0]["ConsumerARN"], Tags={"env": "ci"})
    assert kinesis.list_tags_for_resource(ResourceARN=consumers[0]["ConsumerARN"])["Tags"] == [
        {"Key": "env", "Value": "ci"}, {"Key": "n", "Value": "0"}]
    kinesis.untag_resource(ResourceARN=consumers[0]["ConsumerARN"], TagKeys=["n"])
    kinesis.tag_resource(ResourceARN=arn, Tags={"stream": "yes"})
    assert kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "stream", "Value": "yes"}]
    # SubscribeToShard through a registered consumer: records as they commit.
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"fan-out", ExplicitHashKey="0")
    events = kinesis.subscribe_to_shard(ConsumerARN=consumers[2]["ConsumerARN"], ShardId="shardId-000000000000",
                                        StartingPosition={"Type": "TRIM_HORIZON"})["EventStream"]
    for event in events:
        records = event["SubscribeToShardEvent"]["Records"]
        if records:
            assert [r["Data"] for r in records] == [b"fan-out"]
            assert records[0]["EncryptionType"] == "NONE"
            break
    # Deregistering ends its subscriptions: the open stream ends with an error.
    kinesis.deregister_stream_consumer(StreamARN=arn, ConsumerName="app-2")
    with pytest.raises(Exception) as ended:
        for _ in events:
            pass
    assert "ResourceNotFoundException" in str(ended.value) or "ResourceInUse" in str(ended.value)
    with pytest.raises(kinesis.exceptions.ResourceInUseException):
        kinesis.delete_stream(StreamName=stream)
    kinesis.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)


def test_encryption_start_and_stop(kinesis, stream):
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"plain", ExplicitHashKey="0")
    kinesis.start_stream_encryption(StreamName=stream, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert summary["EncryptionType"] == "KMS" and summary["KeyId"] == "alias/aws/kinesis"
    put = kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"secret", ExplicitHashKey="0")
    assert put["EncryptionType"] == "KMS"
    kinesis.stop_stream_encryption(StreamName=stream, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    assert kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"plain again",
                              ExplicitHashKey="0")["EncryptionType"] == "NONE"
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000000",
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = kinesis.get_records(ShardIterator=it)["Records"]
    assert [(r["Data"], r["EncryptionType"]) for r in records] == [
        (b"plain", "NONE"), (b"secret", "KMS"), (b"plain again", "NONE")]
    with pytest.raises(ClientError) as e:
        kinesis.start_stream_encryption(StreamName=stream, EncryptionType="NONE", KeyId="alias/aws/kinesis")
    assert code(e.value) == "InvalidArgumentException"


def test_modes_limits_monitoring_and_policies(kinesis):
    name = f"od-{int(time.time() * 1000) % 10**8}"
    kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert summary["OpenShardCount"] == 4 and summary["MaxRecordSizeInKiB"] == 1024
    limits = kinesis.describe_limits()
    assert limits["OnDemandStreamCount"] >= 1 and limits["OpenShardCount"] >= 4
    arn = summary["StreamARN"]
    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "PROVISIONED"})
    described = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert described["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    kinesis.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=2048)
    assert kinesis.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]["MaxRecordSizeInKiB"] == 2048
    out = kinesis.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["ALL"])
    assert out["CurrentShardLevelMetrics"] == [] and "IncomingBytes" in out["DesiredShardLevelMetrics"]
    out = kinesis.disable_enhanced_monitoring(StreamARN=arn, ShardLevelMetrics=["ALL"])
    assert out["DesiredShardLevelMetrics"] == []
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
        "Action": "kinesis:DescribeStreamSummary", "Resource": arn}]})
    kinesis.put_resource_policy(ResourceARN=arn, Policy=policy)
    assert json.loads(kinesis.get_resource_policy(ResourceARN=arn)["Policy"]) == json.loads(policy)
    kinesis.delete_resource_policy(ResourceARN=arn)
    assert kinesis.get_resource_policy(ResourceARN=arn)["Policy"] == "{}"
    settings = kinesis.describe_account_settings()["MinimumThroughputBillingCommitment"]
    assert settings["Status"] in ("DISABLED", "ENABLED", "ENABLED_UNTIL_EARLIEST_ALLOWED_END")
    with pytest.raises(ClientError) as e:
        kinesis.create_stream(StreamName=name + "-x")  # PROVISIONED needs a ShardCount
    assert code(e.value) == "ValidationException"
    kinesis.delete_stream(StreamName=name)
