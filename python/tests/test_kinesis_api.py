"""The rest of the Kinesis Data Streams API through the boto3-compatible client and the
Pythonic API: consumers and SubscribeToShard (an EventStream), resources by ARN, limits,
enhanced monitoring, encryption (with a Python key provider), on-demand streams, warm
throughput, account settings, large records, DryRun. Every response is validated
against botocore's own Kinesis model (its output shapes), so the shapes are AWS's."""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator

import tidelog
from tidelog.kinesis import EventStreamError, ParamValidationError
from tidelog.testing import ManualClock

T0 = 1_700_000_000_000
SHARD0 = "shardId-000000000000"
MODEL: ServiceModel = botocore.session.get_session().get_service_model("kinesis")
# Operations of the model that are not Data Streams' 40 (queues, channels and dead-letter
# queues came after them; the 12 queue operations are tested in test_queues.py, the 5
# channel operations through Firehose.call in test_firehose.py).
NOT_DATA_STREAMS = re.compile(r"Queue|Channel|DeadLetter")


def validate(shape: Shape, value: dict[str, Any]) -> None:
    report = ParamValidator().validate(value, shape)
    # Two minimums of the model that AWS's own answers break (they are for requests):
    # a stream without enhanced monitoring is described with "EnhancedMonitoring":
    # [{"ShardLevelMetrics": []}], and PutRecords answers "FailedRecordCount": 0.
    errors = [e for e in report._errors
              if not (e[0] == "invalid length" and e[1].endswith("ShardLevelMetrics"))
              and not (e[0] == "invalid range" and e[1].endswith("FailedRecordCount"))]
    assert not errors, report.generate_report()


def check(op: str, response: dict[str, Any]) -> dict[str, Any]:
    """The response without its metadata, after checking it against the model."""
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    output = MODEL.operation_model(op).output_shape
    if output is None:
        assert body == {}, f"{op} answers nothing, not {body}"
    elif op != "SubscribeToShard":
        validate(output, body)
    return body


def call(client: tidelog.KinesisClient, op: str, **params: Any) -> dict[str, Any]:
    """Calls `op` with params botocore accepts, and checks the answer's shape."""
    model: OperationModel = MODEL.operation_model(op)
    if model.input_shape is not None:
        validate(model.input_shape, params)
    method = getattr(client, botocore.xform_name(op))
    return check(op, method(**params))


def test_every_data_streams_operation_is_there(client: tidelog.KinesisClient) -> None:
    ops = [op for op in MODEL.operation_names if not NOT_DATA_STREAMS.search(op)]
    assert len(ops) == 40
    missing = [op for op in ops if not callable(getattr(client, botocore.xform_name(op), None))]
    assert missing == []


@pytest.fixture
def manual(data_dir: Path, clock: ManualClock) -> Any:
    c = tidelog.client(data_dir, cores=1, durability="os", limits="unlimited", clock=clock)
    yield c
    c.close()


def test_consumers_lifecycle_paging_errors_reopen(data_dir: Path, clock: ManualClock) -> None:
    client = tidelog.client(data_dir, cores=1, durability="os", limits="unlimited", clock=clock,
                            consumer_transition=2.0)
    ex = client.exceptions
    call(client, "CreateStream", StreamName="s", ShardCount=1)
    stream_arn = call(client, "DescribeStreamSummary", StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
    c = call(client, "RegisterStreamConsumer", StreamARN=stream_arn, ConsumerName="app",
             Tags={"team": "data"})["Consumer"]
    assert c["ConsumerStatus"] == "CREATING"
    assert c["ConsumerARN"] == f"{stream_arn}/consumer/app:{T0 // 1000}"
    assert isinstance(c["ConsumerCreationTimestamp"], datetime)
    d = call(client, "DescribeStreamConsumer", ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]
    assert (d["ConsumerStatus"], d["StreamARN"]) == ("CREATING", stream_arn)
    clock.advance_ms(2_000)
    d = call(client, "DescribeStreamConsumer", StreamARN=stream_arn, ConsumerName="app")["ConsumerDescription"]
    assert d["ConsumerStatus"] == "ACTIVE"
    assert call(client, "DescribeStreamSummary", StreamName="s")["StreamDescriptionSummary"]["ConsumerCount"] == 1
    tags = call(client, "ListTagsForResource", ResourceARN=c["ConsumerARN"])["Tags"]
    assert tags == [{"Key": "team", "Value": "data"}]
    with pytest.raises(ex.ResourceInUseException):
        client.register_stream_consumer(StreamARN=stream_arn, ConsumerName="app")
    with pytest.raises(ex.ResourceNotFoundException):
        client.describe_stream_consumer(StreamARN=stream_arn, ConsumerName="nobody")
    with pytest.raises(ex.ResourceNotFoundException):
        client.register_stream_consumer(StreamARN=stream_arn.replace("stream/s", "stream/none"), ConsumerName="x")
    with pytest.raises(ex.ValidationException, match="consumer name"):
        client.register_stream_consumer(StreamARN=stream_arn, ConsumerName="bad name")
    with pytest.raises(ex.ValidationException, match="not a Kinesis ARN"):
        client.describe_stream_consumer(ConsumerARN="arn:aws:sqs:x")
    with pytest.raises(ex.InvalidArgumentException, match="ConsumerARN, or by StreamARN and ConsumerName"):
        client.describe_stream_consumer(StreamARN=stream_arn)
    with pytest.raises(ParamValidationError, match="ConsumerName"):
        client.register_stream_consumer(StreamARN=stream_arn, ConsumerName="")
    with pytest.raises(ParamValidationError, match="Missing required parameter"):
        client.register_stream_consumer(ConsumerName="x")
    # Up to 20 per stream (at most 5 CREATING at once).
    for i in range(19):
        if i % 5 == 4:
            clock.advance_ms(2_000)
        client.register_stream_consumer(StreamARN=stream_arn, ConsumerName=f"c{i:02}")
    with pytest.raises(ex.LimitExceededException):
        client.register_stream_consumer(StreamARN=stream_arn, ConsumerName="too-many")
    clock.advance_ms(2_000)
    # Paging, by hand and with the paginator.
    first = call(client, "ListStreamConsumers", StreamARN=stream_arn, MaxResults=8)
    assert len(first["Consumers"]) == 8 and "NextToken" in first
    second = call(client, "ListStreamConsumers", StreamARN=stream_arn, MaxResults=8, NextToken=first["NextToken"])
    assert second["Consumers"][0]["ConsumerName"] > first["Consumers"][-1]["ConsumerName"]
    pages = list(client.get_paginator("list_stream_consumers").paginate(StreamARN=stream_arn,
                                                                        PaginationConfig={"PageSize": 8}))
    names = [c["ConsumerName"] for p in pages for c in p["Consumers"]]
    assert len(names) == 20 and names == sorted(names)
    with pytest.raises(ex.InvalidArgumentException, match="NextToken"):
        client.list_stream_consumers(StreamARN=stream_arn, NextToken="bogus")
    with pytest.raises(ex.ResourceNotFoundException):
        client.list_stream_consumers(StreamARN=stream_arn, StreamCreationTimestamp=datetime(2001, 1, 1))
    client.close()
    # Reopen: consumers stay; deregister makes one DELETING, then gone.
    client = tidelog.client(data_dir, cores=1, durability="os", limits="unlimited", clock=clock,
                            consumer_transition=2.0)
    assert len(client.list_stream_consumers(StreamARN=stream_arn)["Consumers"]) == 20
    call(client, "DeregisterStreamConsumer", ConsumerARN=c["ConsumerARN"])
    d = call(client, "DescribeStreamConsumer", ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]
    assert d["ConsumerStatus"] == "DELETING"
    clock.advance_ms(2_000)
    with pytest.raises(ex.ResourceNotFoundException):
        client.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])
    with pytest.raises(ex.ResourceInUseException, match="EnforceConsumerDeletion"):
        client.delete_stream(StreamName="s")
    call(client, "DeleteStream", StreamName="s", EnforceConsumerDeletion=True)
    client.close()


def events(stream: Any, n: int) -> list[dict[str, Any]]:
    """The first `n` events, each checked against the model's SubscribeToShardEvent."""
    out = []
    shape = MODEL.shape_for("SubscribeToShardEvent")
    for item in stream:
        assert set(item) == {"SubscribeToShardEvent"}
        event = item["SubscribeToShardEvent"]
        required = set(shape.required_members) - ({"ContinuationSequenceNumber"} if "ChildShards" in event else set())
        assert required <= set(event)
        validate(shape, {**event, "ContinuationSequenceNumber": event.get("ContinuationSequenceNumber", "0")})
        out.append(event)
        if len(out) == n:
            return out
    return out


def test_subscribe_to_shard_event_stream(manual: tidelog.KinesisClient, clock: ManualClock) -> None:
    client = manual
    ex = client.exceptions
    call(client, "CreateStream", StreamName="s", ShardCount=1)
    stream_arn = client.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
    arn = client.register_stream_consumer(StreamARN=stream_arn, ConsumerName="app")["Consumer"]["ConsumerARN"]
    first = call(client, "PutRecord", StreamName="s", PartitionKey="k", Data=b"one")
    response = call(client, "SubscribeToShard", ConsumerARN=arn, ShardId=SHARD0,
                    StartingPosition={"Type": "TRIM_HORIZON"})
    stream = response["EventStream"]
    assert isinstance(stream, tidelog.kinesis.EventStream)
    (event,) = events(stream, 1)
    assert [r["Data"] for r in event["Records"]] == [b"one"]
    assert event["Records"][0]["EncryptionType"] == "NONE"
    assert event["ContinuationSequenceNumber"] == first["SequenceNumber"]
    assert event["MillisBehindLatest"] == 0
    # A second subscription within 5 s: ResourceInUseException.
    with pytest.raises(ex.ResourceInUseException):
        client.subscribe_to_shard(ConsumerARN=arn, ShardId=SHARD0, StartingPosition={"Type": "LATEST"})
    # A heartbeat after 5 quiet seconds, then a takeover ends the first stream.
    clock.advance_ms(5_000)
    (beat,) = events(stream, 1)
    assert beat["Records"] == [] and beat["ContinuationSequenceNumber"] == first["SequenceNumber"]
    newer = client.subscribe_to_shard(ConsumerARN=arn, ShardId=SHARD0, StartingPosition={
        "Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": first["SequenceNumber"]})["EventStream"]
    with pytest.raises(EventStreamError) as caught:
        events(stream, 1)
    assert caught.value.response["Error"]["Code"] == "ResourceInUseException"
    # Across a split: the parent's last event names the children, then the stream ends.
    call(client, "PutRecord", StreamName="s", PartitionKey="k", Data=b"two")
    client.split_shard(StreamName="s", ShardToSplit=SHARD0, NewStartingHashKey=str(2**127))
    got = events(newer, 2)
    assert [r["Data"] for r in got[0]["Records"]] == [b"two"]
    assert "ContinuationSequenceNumber" not in got[1]
    assert [c["ShardId"] for c in got[1]["ChildShards"]] == ["shardId-000000000001", "shardId-000000000002"]
    assert list(newer) == [], "then the stream ends"
    # The 5-minute lifetime ends a stream too.
    clock.advance_ms(5_000)
    child = client.subscribe_to_shard(ConsumerARN=arn, ShardId="shardId-000000000001",
                                      StartingPosition={"Type": "AT_TIMESTAMP", "Timestamp": datetime.now()})
    clock.advance_ms(300_000)
    with child["EventStream"] as s:
        assert list(s) == []
    # Parameter errors.
    with pytest.raises(ex.ValidationException, match="startingPosition.type"):
        client.subscribe_to_shard(ConsumerARN=arn, ShardId=SHARD0, StartingPosition={"Type": "NOW"})
    with pytest.raises(ex.InvalidArgumentException, match="needs a SequenceNumber"):
        client.subscribe_to_shard(ConsumerARN=arn, ShardId=SHARD0, StartingPosition={"Type": "AT_SEQUENCE_NUMBER"})
    with pytest.raises(ParamValidationError, match="StartingPosition"):
        client.subscribe_to_shard(ConsumerARN=arn, ShardId=SHARD0)
    with pytest.raises(ex.DryRunOperationException):
        client.subscribe_to_shard(ConsumerARN=arn, ShardId=SHARD0, StartingPosition={"Type": "LATEST"}, DryRun=True)


def test_pythonic_shard_subscription(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    c = engine.register_stream_consumer("s", "py")
    assert isinstance(c, tidelog.ConsumerDescription) and c.status == "CREATING"
    assert engine.describe_stream_consumer(arn=c.arn).status == "ACTIVE"
    assert [x.name for x in engine.list_stream_consumers("s")] == ["py"]
    put = engine.put_record("s", "k", b"hello")
    with engine.subscribe_to_shard(c.arn, SHARD0, "trim_horizon") as sub:
        event = sub.next_event(timeout=5)
        assert isinstance(event, tidelog.ShardEvent)
        assert [bytes(r.data) for r in event.records] == [b"hello"]
        assert event.continuation_sequence_number == put.sequence_number
        assert sub.shard_id == SHARD0 and sub.consumer_arn == c.arn and not sub.ended
        assert sub.next_event(timeout=0.05) is None
    with pytest.raises(tidelog.ClosedError):
        sub.next_event(timeout=0)
    engine.deregister_stream_consumer("s", "py")
    with pytest.raises(tidelog.ResourceNotFoundError):
        engine.describe_stream_consumer("s", "py")


def test_tags_and_policies_by_arn(client: tidelog.KinesisClient) -> None:
    ex = client.exceptions
    client.create_stream(StreamName="s", ShardCount=1)
    stream_arn = client.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
    consumer_arn = client.register_stream_consumer(StreamARN=stream_arn, ConsumerName="c")["Consumer"]["ConsumerARN"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": ["kinesis:GetRecords", "kinesis:SubscribeToShard"], "Resource": stream_arn}]})
    for arn in (stream_arn, consumer_arn):
        call(client, "TagResource", ResourceARN=arn, Tags={"b": "2", "a": "1"})
        assert call(client, "ListTagsForResource", ResourceARN=arn)["Tags"] == [
            {"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
        call(client, "UntagResource", ResourceARN=arn, TagKeys=["a"])
        assert call(client, "ListTagsForResource", ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
        assert call(client, "GetResourcePolicy", ResourceARN=arn) == {"Policy": "{}"}
        call(client, "PutResourcePolicy", ResourceARN=arn, Policy=policy)
        assert call(client, "GetResourcePolicy", ResourceARN=arn) == {"Policy": policy}
        call(client, "DeleteResourcePolicy", ResourceARN=arn)
        with pytest.raises(ex.ResourceNotFoundException):
            client.delete_resource_policy(ResourceARN=arn)
    assert client.list_tags_for_stream(StreamName="s")["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ex.InvalidArgumentException, match="policy"):
        client.put_resource_policy(ResourceARN=stream_arn, Policy='{"Statement": "nope"}')
    with pytest.raises(ex.InvalidArgumentException, match="not JSON"):
        client.put_resource_policy(ResourceARN=stream_arn, Policy="{")
    with pytest.raises(ex.ResourceNotFoundException):
        client.tag_resource(ResourceARN=stream_arn.replace("stream/s", "stream/gone"), Tags={"k": "v"})
    with pytest.raises(ex.ResourceNotFoundException, match="another account"):
        client.list_tags_for_resource(ResourceARN=stream_arn.replace("000000000000", "123456789012"))
    with pytest.raises(ex.ValidationException):
        client.list_tags_for_resource(ResourceARN="arn:aws:kinesis:local:000000000000:widget/q")
    # A queue ARN is well formed; this one names no queue.
    with pytest.raises(ex.ResourceNotFoundException, match="queue"):
        client.list_tags_for_resource(ResourceARN="arn:aws:kinesis:local:000000000000:queue/q")
    with pytest.raises(ex.LimitExceededException):
        client.tag_resource(ResourceARN=stream_arn, Tags={f"k{i}": "v" for i in range(50)})
    with pytest.raises(ParamValidationError, match="TagKeys"):
        client.untag_resource(ResourceARN=stream_arn, TagKeys=[])


def test_limits_monitoring_and_openmetrics(client: tidelog.KinesisClient) -> None:
    client.create_stream(StreamName="p", ShardCount=3)
    client.create_stream(StreamName="d", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert call(client, "DescribeLimits") == {"ShardLimit": 10_000, "OpenShardCount": 7,
                                              "OnDemandStreamCount": 1, "OnDemandStreamCountLimit": 50}
    out = call(client, "EnableEnhancedMonitoring", StreamName="p", ShardLevelMetrics=["IncomingRecords"])
    assert (out["CurrentShardLevelMetrics"], out["DesiredShardLevelMetrics"]) == ([], ["IncomingRecords"])
    desc = call(client, "DescribeStream", StreamName="p")["StreamDescription"]
    assert desc["EnhancedMonitoring"] == [{"ShardLevelMetrics": ["IncomingRecords"]}]
    client.put_record(StreamName="p", PartitionKey="k", Data=b"x")
    text = client.engine.metrics_openmetrics()
    assert 'tidelog_incoming_records_total{stream="p",shard="shardId-000000000000"}' in text
    assert 'tidelog_incoming_bytes_total{stream="p",shard=' not in text
    out = call(client, "DisableEnhancedMonitoring", StreamName="p", ShardLevelMetrics=["ALL"])
    assert out["DesiredShardLevelMetrics"] == []
    with pytest.raises(client.exceptions.ValidationException, match="unknown shard-level metric"):
        client.enable_enhanced_monitoring(StreamName="p", ShardLevelMetrics=["Sometimes"])
    with pytest.raises(ParamValidationError):
        client.enable_enhanced_monitoring(StreamName="p", ShardLevelMetrics=[])


def test_encryption_with_a_python_key_provider(data_dir: Path) -> None:
    keys = {"alias/app": os.urandom(32)}
    calls: list[str] = []

    def provider(key_id: str) -> bytes:
        calls.append(key_id)
        if key_id not in keys:
            raise tidelog.KMSNotFoundError(f"no key {key_id}")
        return keys[key_id]

    client = tidelog.client(data_dir, cores=1, durability="os", limits="unlimited", key_provider=provider)
    ex = client.exceptions
    client.create_stream(StreamName="s", ShardCount=1)
    with pytest.raises(ex.KMSNotFoundException):
        client.start_stream_encryption(StreamName="s", EncryptionType="KMS", KeyId="alias/none")
    with pytest.raises(ex.InvalidArgumentException):
        client.start_stream_encryption(StreamName="s", EncryptionType="NONE", KeyId="alias/app")
    call(client, "StartStreamEncryption", StreamName="s", EncryptionType="KMS", KeyId="alias/app")
    desc = call(client, "DescribeStream", StreamName="s")["StreamDescription"]
    assert (desc["EncryptionType"], desc["KeyId"]) == ("KMS", "alias/app")
    put = call(client, "PutRecord", StreamName="s", PartitionKey="secret-key", Data=b"TOP-SECRET-PAYLOAD")
    assert put["EncryptionType"] == "KMS"
    many = call(client, "PutRecords", StreamName="s", Records=[{"PartitionKey": "k", "Data": b"TOP-SECRET-2"}])
    assert many["EncryptionType"] == "KMS"
    it = client.get_shard_iterator(StreamName="s", ShardId=SHARD0, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = call(client, "GetRecords", ShardIterator=it)
    assert [(r["Data"], r["EncryptionType"]) for r in got["Records"]] == [
        (b"TOP-SECRET-PAYLOAD", "KMS"), (b"TOP-SECRET-2", "KMS")]
    record = client.engine.read("s", SHARD0)[0]
    assert record.encrypted and record.partition_key == "secret-key"
    call(client, "StopStreamEncryption", StreamName="s", EncryptionType="KMS", KeyId="alias/app")
    assert client.put_record(StreamName="s", PartitionKey="k", Data=b"plain")["EncryptionType"] == "NONE"
    client.close()
    for root, _, files in os.walk(data_dir):
        for name in files:
            content = Path(root, name).read_bytes()
            assert b"TOP-SECRET" not in content and b"secret-key" not in content, name
    # A different key under the same id: KMSAccessDeniedException on reads.
    keys["alias/app"] = os.urandom(32)
    client = tidelog.client(data_dir, cores=1, durability="os", limits="unlimited", key_provider=provider)
    it = client.get_shard_iterator(StreamName="s", ShardId=SHARD0, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    with pytest.raises(client.exceptions.KMSAccessDeniedException):
        client.get_records(ShardIterator=it)
    client.close()

    # A provider that returns something else than 32 bytes: KMSInvalidStateException.
    def broken(key_id: str) -> Any:
        return "not bytes"

    with tidelog.open(data_dir / "other", cores=1, durability="os", key_provider=broken) as engine:
        engine.create_stream("s", 1)
        with pytest.raises(tidelog.KMSInvalidStateError, match="not 32 bytes"):
            engine.start_stream_encryption("s", "k")
    with pytest.raises(TypeError, match="callable"):
        tidelog.open(data_dir / "third", key_provider="not callable")  # type: ignore[arg-type]


def test_on_demand_modes_warm_throughput_and_account_settings(manual: tidelog.KinesisClient,
                                                              clock: ManualClock) -> None:
    client = manual
    ex = client.exceptions
    call(client, "CreateStream", StreamName="d", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    summary = call(client, "DescribeStreamSummary", StreamName="d")["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"} and summary["OpenShardCount"] == 4
    assert "WarmThroughput" not in summary
    arn = summary["StreamARN"]
    with pytest.raises(ex.InvalidArgumentException, match="ON_DEMAND"):
        client.update_shard_count(StreamName="d", TargetShardCount=8, ScalingType="UNIFORM_SCALING")
    with pytest.raises(ex.InvalidArgumentException, match="MinimumThroughputBillingCommitment"):
        client.update_stream_warm_throughput(StreamName="d", WarmThroughputMiBps=8)
    settings = call(client, "DescribeAccountSettings")
    assert settings == {"MinimumThroughputBillingCommitment": {"Status": "DISABLED"}}
    on = call(client, "UpdateAccountSettings", MinimumThroughputBillingCommitment={"Status": "ENABLED"})
    commitment = on["MinimumThroughputBillingCommitment"]
    assert commitment["Status"] == "ENABLED"
    assert (commitment["EarliestAllowedEndAt"] - commitment["StartedAt"]).total_seconds() == 86_400
    warm = call(client, "UpdateStreamWarmThroughput", StreamARN=arn, WarmThroughputMiBps=8)
    assert warm["WarmThroughput"] == {"TargetMiBps": 8, "CurrentMiBps": 8}
    summary = call(client, "DescribeStreamSummary", StreamName="d")["StreamDescriptionSummary"]
    assert summary["WarmThroughput"] == {"TargetMiBps": 8, "CurrentMiBps": 8} and summary["OpenShardCount"] == 8
    off = call(client, "UpdateAccountSettings", MinimumThroughputBillingCommitment={"Status": "DISABLED"})
    assert off["MinimumThroughputBillingCommitment"]["Status"] == "ENABLED_UNTIL_EARLIEST_ALLOWED_END"
    with pytest.raises(ex.ValidationException, match="status"):
        client.update_account_settings(MinimumThroughputBillingCommitment={"Status": "MAYBE"})
    # Mode switches, both ways, twice a day at most.
    client.create_stream(StreamName="p", ShardCount=1)
    parn = client.describe_stream_summary(StreamName="p")["StreamDescriptionSummary"]["StreamARN"]
    call(client, "UpdateStreamMode", StreamARN=parn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert client.describe_stream_summary(StreamName="p")["StreamDescriptionSummary"]["OpenShardCount"] == 4
    call(client, "UpdateStreamMode", StreamARN=parn, StreamModeDetails={"StreamMode": "PROVISIONED"})
    with pytest.raises(ex.LimitExceededException):
        client.update_stream_mode(StreamARN=parn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    with pytest.raises(ex.ValidationException, match="streamModeDetails"):
        client.update_stream_mode(StreamARN=parn, StreamModeDetails={"StreamMode": "FAST"})
    # A ramp on the manual clock: the stream grows past twice its peak.
    engine = client.engine
    for _ in range(6):
        for _ in range(10):
            engine.put_records("d", [(f"key-{i}", b"x" * 1000) for i in range(500)])
            engine.put_records("d", [(f"key-{i}", b"x" * 1000) for i in range(500, 1000)])
            clock.advance_ms(1_000)
        engine.scale_on_demand_streams()
    # 1,000 records/s of 1 KiB: twice that peak needs 2 MiB/s, 2,000 records/s: the
    # warm throughput (8 shards) already covers it.
    assert client.describe_stream_summary(StreamName="d")["StreamDescriptionSummary"]["OpenShardCount"] >= 8


def test_record_distribution_strategy(manual: tidelog.KinesisClient) -> None:
    client = manual
    ex = client.exceptions
    call(client, "CreateStream", StreamName="auto", StreamModeDetails={"StreamMode": "ON_DEMAND"},
         RecordDistributionStrategy="AUTO")
    summary = call(client, "DescribeStreamSummary", StreamName="auto")["StreamDescriptionSummary"]
    assert summary["RecordDistributionStrategy"] == "AUTO"
    arn = summary["StreamARN"]
    # One key (and an explicit hash key pointing at the first shard) on every shard, evenly.
    shards = [call(client, "PutRecord", StreamName="auto", PartitionKey="k", Data=b"x",
                   ExplicitHashKey="0")["ShardId"] for _ in range(8)]
    counts = {s: shards.count(s) for s in set(shards)}
    assert len(counts) == 4 and set(counts.values()) == {2}, counts
    # Back to keys: every record of "k" on the shard owning MD5("k").
    call(client, "UpdateStreamRecordDistributionStrategy", StreamARN=arn,
         RecordDistributionStrategy="USER_PARTITION_KEY")
    assert client.describe_stream_summary(StreamName="auto")["StreamDescriptionSummary"][
        "RecordDistributionStrategy"] == "USER_PARTITION_KEY"
    digest = int.from_bytes(hashlib.md5(b"k").digest(), "big")
    home = [s["ShardId"] for s in client.list_shards(StreamName="auto")["Shards"]
            if "EndingSequenceNumber" not in s["SequenceNumberRange"]
            and int(s["HashKeyRange"]["StartingHashKey"]) <= digest <= int(s["HashKeyRange"]["EndingHashKey"])]
    keyed = {client.put_record(StreamName="auto", PartitionKey="k", Data=b"y")["ShardId"] for _ in range(5)}
    assert keyed == set(home)
    # PROVISIONED streams: no AUTO, and no strategy shown.
    with pytest.raises(ex.InvalidArgumentException, match="ON_DEMAND"):
        client.create_stream(StreamName="p", ShardCount=1, RecordDistributionStrategy="AUTO")
    client.create_stream(StreamName="p", ShardCount=1)
    parn = client.describe_stream_summary(StreamName="p")["StreamDescriptionSummary"]["StreamARN"]
    assert "RecordDistributionStrategy" not in client.describe_stream_summary(StreamName="p")[
        "StreamDescriptionSummary"]
    with pytest.raises(ex.InvalidArgumentException, match="ON_DEMAND"):
        client.update_stream_record_distribution_strategy(StreamARN=parn, RecordDistributionStrategy="AUTO")
    with pytest.raises(ex.ValidationException, match="AUTO, USER_PARTITION_KEY"):
        client.update_stream_record_distribution_strategy(StreamARN=arn, RecordDistributionStrategy="RANDOM")
    # The Pythonic API.
    engine = client.engine
    engine.update_stream_record_distribution("auto", "AUTO")
    assert engine.describe_stream_summary("auto").record_distribution == "AUTO"


def test_large_records_and_dry_run(client: tidelog.KinesisClient) -> None:
    ex = client.exceptions
    call(client, "CreateStream", StreamName="big", ShardCount=1, MaxRecordSizeInKiB=4096)
    call(client, "CreateStream", StreamName="small", ShardCount=1)
    assert call(client, "DescribeStreamSummary", StreamName="big")["StreamDescriptionSummary"][
        "MaxRecordSizeInKiB"] == 4096
    blob = os.urandom((4 << 20) - 1)
    call(client, "PutRecord", StreamName="big", PartitionKey="k", Data=blob)
    with pytest.raises(ex.ValidationException, match="limit"):
        client.put_record(StreamName="small", PartitionKey="k", Data=blob)
    arn = client.describe_stream_summary(StreamName="small")["StreamDescriptionSummary"]["StreamARN"]
    call(client, "UpdateMaxRecordSize", StreamARN=arn, MaxRecordSizeInKiB=10240)
    client.put_record(StreamName="small", PartitionKey="k", Data=blob)
    with pytest.raises(ParamValidationError, match="MaxRecordSizeInKiB"):
        client.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=1000)
    with pytest.raises(ex.ValidationException, match="MaxRecordSizeInKiB"):
        client.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=10241)
    it = client.get_shard_iterator(StreamName="big", ShardId=SHARD0, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert client.get_records(ShardIterator=it)["Records"][0]["Data"] == blob
    # DryRun: the checks, then DryRunOperationException; nothing written.
    with pytest.raises(ex.DryRunOperationException):
        client.put_record(StreamName="small", PartitionKey="k", Data=b"x", DryRun=True)
    with pytest.raises(ex.ResourceNotFoundException):
        client.put_record(StreamName="none", PartitionKey="k", Data=b"x", DryRun=True)
    with pytest.raises(ex.DryRunOperationException):
        client.get_shard_iterator(StreamName="small", ShardId=SHARD0, ShardIteratorType="LATEST", DryRun=True)
    assert len(client.engine.read("small", SHARD0)) == 1


def test_hostile_input_to_the_new_entry_points(client: tidelog.KinesisClient) -> None:
    engine = client.engine
    engine.create_stream("s", 1)
    for bad in (None, 5, b"bytes", ["list"]):
        with pytest.raises(TypeError):
            engine.native.register_stream_consumer("s", bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            engine.native.tag_resource(bad, {})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.native.untag_resource(engine.stream_arn("s"), "a-str")
    with pytest.raises(TypeError):
        engine.native.update_max_record_size("s", "big")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        engine.native.update_max_record_size("s", -1)
    with pytest.raises(ValueError, match="mode"):
        engine.native.update_stream_mode("s", "sideways")
    with pytest.raises(tidelog.ValidationError):
        engine.native.describe_stream_consumer(None, None, "arn:" + "x" * 5000)
    with pytest.raises(tidelog.ValidationError):
        engine.native.start_stream_encryption("s", "KMS", "k" * 3000)
    with pytest.raises(tidelog.InvalidArgumentError):
        engine.put_resource_policy(engine.stream_arn("s"), "x" * 30_000)
    with pytest.raises(tidelog.ValidationError):
        engine.native.subscribe_to_shard("\x00", SHARD0, "LATEST")
    with pytest.raises(ValueError):
        engine.native.subscribe_to_shard(engine.stream_arn("s") + "/consumer/c:1", SHARD0, "sometime")
    ex = client.exceptions
    for arn in ("", "arn", "arn:aws:kinesis:local:000000000000:stream/" + "x" * 3000, "🦀" * 10):
        with pytest.raises((ex.ValidationException, ParamValidationError)):
            client.list_tags_for_resource(ResourceARN=arn)
    with pytest.raises(tidelog.kinesis.ParamTypeError):
        client.tag_resource(ResourceARN="arn", Tags=["k"])
    assert engine.list_tags_for_resource(engine.stream_arn("s")) == {}
