"""boto3 against `tidelog serve`: every operation the server answers, their response
shapes, errors and pagination, and SubscribeToShard's event stream."""

from __future__ import annotations

import datetime as dt
import threading
import time

import botocore
import pytest
from botocore.exceptions import ClientError

from conftest import Server


def code(e: ClientError) -> str:
    return e.response["Error"]["Code"]


def shard_ids(kinesis, stream: str) -> list[str]:
    return [s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"]]


def read_all(kinesis, stream: str, shard: str) -> list[dict]:
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out = []
    while it:
        page = kinesis.get_records(ShardIterator=it, Limit=1000)
        out.extend(page["Records"])
        if not page["Records"] and page["MillisBehindLatest"] == 0:
            break
        it = page.get("NextShardIterator")
    return out


def test_stream_lifecycle_and_descriptions(kinesis, stream):
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1})
    d = kinesis.describe_stream(StreamName=stream)["StreamDescription"]
    assert d["StreamName"] == stream
    assert d["StreamARN"] == f"arn:aws:kinesis:us-east-1:000000000000:stream/{stream}"
    assert d["StreamStatus"] == "ACTIVE"
    assert d["RetentionPeriodHours"] == 24
    assert d["HasMoreShards"] is False
    assert isinstance(d["StreamCreationTimestamp"], dt.datetime)
    assert abs(d["StreamCreationTimestamp"].timestamp() - time.time()) < 60
    assert [s["ShardId"] for s in d["Shards"]] == ["shardId-000000000000", "shardId-000000000001"]
    first = d["Shards"][0]
    assert first["HashKeyRange"] == {"StartingHashKey": "0",
                                     "EndingHashKey": str(2**127 - 1)}
    assert "EndingSequenceNumber" not in first["SequenceNumberRange"]
    assert "ParentShardId" not in first
    page = kinesis.describe_stream(StreamName=stream, Limit=1)["StreamDescription"]
    assert page["HasMoreShards"] is True and len(page["Shards"]) == 1
    page = kinesis.describe_stream(StreamName=stream, Limit=1,
                                   ExclusiveStartShardId="shardId-000000000000")["StreamDescription"]
    assert [s["ShardId"] for s in page["Shards"]] == ["shardId-000000000001"]
    by_arn = kinesis.describe_stream_summary(StreamARN=d["StreamARN"])["StreamDescriptionSummary"]
    assert by_arn["OpenShardCount"] == 2 and by_arn["StreamName"] == stream
    assert by_arn["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}


def test_list_streams_pages(kinesis, stream):
    names = []
    for page in kinesis.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 1}):
        names.extend(page["StreamNames"])
        assert len(page["StreamNames"]) <= 1
    assert stream in names
    assert names == sorted(names)
    listed = kinesis.list_streams()
    assert {s["StreamName"] for s in listed["StreamSummaries"]} == set(listed["StreamNames"])


def test_put_and_get_records_round_trip(kinesis, stream):
    payloads = [bytes([i % 256]) * (i + 1) for i in range(50)] + [b"\x00\xff binary \n"]
    puts = [kinesis.put_record(StreamName=stream, PartitionKey=f"key-{i}", Data=p)
            for i, p in enumerate(payloads)]
    assert all(p["EncryptionType"] == "NONE" for p in puts)
    batch = kinesis.put_records(StreamName=stream, Records=[
        {"PartitionKey": f"batch-{i}", "Data": f"record {i}".encode()} for i in range(100)
    ] + [{"PartitionKey": "explicit", "Data": b"low", "ExplicitHashKey": "0"}])
    assert batch["FailedRecordCount"] == 0 and len(batch["Records"]) == 101
    assert batch["Records"][-1]["ShardId"] == "shardId-000000000000"
    seen = {}
    for shard in shard_ids(kinesis, stream):
        for r in read_all(kinesis, stream, shard):
            seen[r["SequenceNumber"]] = r
            assert isinstance(r["ApproximateArrivalTimestamp"], dt.datetime)
    for p, put in zip(payloads, puts):
        record = seen[put["SequenceNumber"]]
        assert record["Data"] == p
    assert len(seen) == len(payloads) + 101


def test_iterator_types_and_ordering(kinesis, stream):
    first = kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"one")
    second = kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"two",
                                SequenceNumberForOrdering=first["SequenceNumber"])
    assert int(second["SequenceNumber"]) > int(first["SequenceNumber"])
    shard = first["ShardId"]

    def data(**kw):
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, **kw)["ShardIterator"]
        return [r["Data"] for r in kinesis.get_records(ShardIterator=it)["Records"]]

    assert data(ShardIteratorType="TRIM_HORIZON") == [b"one", b"two"]
    assert data(ShardIteratorType="AT_SEQUENCE_NUMBER",
                StartingSequenceNumber=second["SequenceNumber"]) == [b"two"]
    assert data(ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                StartingSequenceNumber=first["SequenceNumber"]) == [b"two"]
    assert data(ShardIteratorType="LATEST") == []
    assert data(ShardIteratorType="AT_TIMESTAMP",
                Timestamp=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)) == [b"one", b"two"]
    assert data(ShardIteratorType="AT_TIMESTAMP", Timestamp=time.time() + 3600) == []


def test_list_shards_pages_and_filters(kinesis, stream):
    page = kinesis.list_shards(StreamName=stream, MaxResults=1)
    assert len(page["Shards"]) == 1 and "NextToken" in page
    rest = kinesis.list_shards(NextToken=page["NextToken"])
    assert [s["ShardId"] for s in rest["Shards"]] == ["shardId-000000000001"]
    assert "NextToken" not in rest
    after = kinesis.list_shards(StreamName=stream,
                                ShardFilter={"Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000000"})
    assert [s["ShardId"] for s in after["Shards"]] == ["shardId-000000000001"]
    with pytest.raises(ClientError) as e:
        kinesis.list_shards(NextToken=page["NextToken"], StreamName=stream)
    assert code(e.value) == "InvalidArgumentException"


def test_resharding(kinesis, stream):
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]
    middle = (int(shard["HashKeyRange"]["StartingHashKey"]) + int(shard["HashKeyRange"]["EndingHashKey"])) // 2
    kinesis.put_record(StreamName=stream, PartitionKey="x", Data=b"before", ExplicitHashKey="1")
    kinesis.split_shard(StreamName=stream, ShardToSplit=shard["ShardId"], NewStartingHashKey=str(middle))
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    closed = [s for s in shards if "EndingSequenceNumber" in s["SequenceNumberRange"]]
    assert [s["ShardId"] for s in closed] == [shard["ShardId"]]
    children = [s for s in shards if s.get("ParentShardId") == shard["ShardId"]]
    assert len(children) == 2
    # Reading the closed parent to its end names its children.
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out = kinesis.get_records(ShardIterator=it)
    assert [r["Data"] for r in out["Records"]] == [b"before"]
    while "NextShardIterator" in out:
        out = kinesis.get_records(ShardIterator=out["NextShardIterator"])
    assert sorted(c["ShardId"] for c in out["ChildShards"]) == sorted(c["ShardId"] for c in children)
    kinesis.merge_shards(StreamName=stream, ShardToMerge=children[0]["ShardId"],
                         AdjacentShardToMerge=children[1]["ShardId"])
    with pytest.raises(ClientError) as e:
        kinesis.split_shard(StreamName=stream, ShardToSplit=shard["ShardId"], NewStartingHashKey="5")
    assert code(e.value) in ("InvalidArgumentException", "ResourceInUseException")
    out = kinesis.update_shard_count(StreamName=stream, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    assert out["CurrentShardCount"] == 2 and out["TargetShardCount"] == 4
    assert kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["OpenShardCount"] == 4


def test_retention_and_tags(kinesis, stream):
    kinesis.increase_stream_retention_period(StreamName=stream, RetentionPeriodHours=48)
    assert kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["RetentionPeriodHours"] == 48
    kinesis.decrease_stream_retention_period(StreamName=stream, RetentionPeriodHours=24)
    with pytest.raises(ClientError) as e:
        kinesis.increase_stream_retention_period(StreamName=stream, RetentionPeriodHours=12)
    assert code(e.value) == "InvalidArgumentException"
    kinesis.add_tags_to_stream(StreamName=stream, Tags={"team": "data", "env": "test", "a": "1"})
    tags = kinesis.list_tags_for_stream(StreamName=stream)
    assert tags["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "env", "Value": "test"},
                            {"Key": "team", "Value": "data"}]
    assert tags["HasMoreTags"] is False
    page = kinesis.list_tags_for_stream(StreamName=stream, Limit=1, ExclusiveStartTagKey="a")
    assert page["Tags"] == [{"Key": "env", "Value": "test"}] and page["HasMoreTags"] is True
    kinesis.remove_tags_from_stream(StreamName=stream, TagKeys=["env"])
    assert [t["Key"] for t in kinesis.list_tags_for_stream(StreamName=stream)["Tags"]] == ["a", "team"]


def test_create_with_tags_and_delete(kinesis):
    kinesis.create_stream(StreamName="tagged-at-birth", ShardCount=1, Tags={"k": "v"})
    assert kinesis.list_tags_for_stream(StreamName="tagged-at-birth")["Tags"] == [{"Key": "k", "Value": "v"}]
    with pytest.raises(ClientError) as e:
        kinesis.create_stream(StreamName="tagged-at-birth", ShardCount=1)
    assert code(e.value) == "ResourceInUseException"
    kinesis.delete_stream(StreamName="tagged-at-birth")
    kinesis.get_waiter("stream_not_exists").wait(StreamName="tagged-at-birth", WaiterConfig={"Delay": 1})


def test_errors_have_aws_shapes(kinesis, stream):
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException) as e:
        kinesis.describe_stream(StreamName="no-such-stream")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert e.value.response["ResponseMetadata"]["RequestId"]
    assert "no-such-stream" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        kinesis.create_stream(StreamName="bad/name", ShardCount=1)
    assert code(e.value) == "ValidationException"
    with pytest.raises(ClientError) as e:
        kinesis.get_records(ShardIterator="AAAA" * 20)
    assert code(e.value) == "InvalidArgumentException"
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000009",
                                   ShardIteratorType="LATEST")
    assert code(e.value) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"x" * (1024 * 1024 + 1))
    assert code(e.value) == "ValidationException"
    with pytest.raises(ClientError) as e:
        kinesis.create_stream(StreamName="bad-mode", StreamModeDetails={"StreamMode": "FAST"})
    assert code(e.value) == "ValidationException"


def test_signatures_are_checked(server: Server, stream):
    import boto3
    wrong_secret = boto3.client("kinesis", endpoint_url=server.endpoint, region_name="us-east-1",
                                aws_access_key_id="AKIDTIDELOGTEST", aws_secret_access_key="wrong",
                                config=botocore.config.Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        wrong_secret.list_streams()
    assert code(e.value) == "InvalidSignatureException"
    unknown = boto3.client("kinesis", endpoint_url=server.endpoint, region_name="us-east-1",
                           aws_access_key_id="AKIDNOBODY", aws_secret_access_key="x",
                           config=botocore.config.Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        unknown.list_streams()
    assert code(e.value) == "UnrecognizedClientException"
    unsigned = boto3.client("kinesis", endpoint_url=server.endpoint, region_name="us-east-1",
                            config=botocore.config.Config(signature_version=botocore.UNSIGNED,
                                                          retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        unsigned.list_streams()
    assert code(e.value) == "MissingAuthenticationTokenException"
    # The other configured key works.
    other = boto3.client("kinesis", endpoint_url=server.endpoint, region_name="eu-west-1",
                         aws_access_key_id="AKIDOTHER", aws_secret_access_key="other-secret")
    assert stream in other.list_streams()["StreamNames"]


def consumer_arn(kinesis, stream: str) -> str:
    """The ARN of the stream's consumer test-app, registered on first use."""
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    try:
        return kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="test-app")["Consumer"]["ConsumerARN"]
    except ClientError as e:
        assert code(e) == "ResourceInUseException"
        return kinesis.describe_stream_consumer(StreamARN=arn, ConsumerName="test-app")[
            "ConsumerDescription"]["ConsumerARN"]


def test_subscribe_to_shard_pushes_records(kinesis, stream):
    shard = "shardId-000000000000"
    before = kinesis.put_record(StreamName=stream, PartitionKey="a", Data=b"before", ExplicitHashKey="0")
    response = kinesis.subscribe_to_shard(
        ConsumerARN=consumer_arn(kinesis, stream), ShardId=shard,
        StartingPosition={"Type": "TRIM_HORIZON"})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    # Within 5 s of the last SubscribeToShard of this consumer and shard, another is
    # refused (AWS's rule). Checked at once: reading the events below can take more than
    # 5 s on a loaded machine.
    with pytest.raises(ClientError) as refused:
        kinesis.subscribe_to_shard(ConsumerARN=consumer_arn(kinesis, stream), ShardId=shard,
                                   StartingPosition={"Type": "LATEST"})
    assert code(refused.value) == "ResourceInUseException"

    def later():
        time.sleep(0.3)
        for i in range(5):
            kinesis.put_record(StreamName=stream, PartitionKey="a", Data=f"live {i}".encode(),
                               ExplicitHashKey="0")

    threading.Thread(target=later, daemon=True).start()
    got, heartbeats, continuation = [], 0, None
    deadline = time.time() + 20
    for event in response["EventStream"]:
        body = event["SubscribeToShardEvent"]
        assert body["MillisBehindLatest"] >= 0
        if body["Records"]:
            got.extend(r["Data"] for r in body["Records"])
            continuation = body["ContinuationSequenceNumber"]
            assert continuation == body["Records"][-1]["SequenceNumber"]
        else:
            heartbeats += 1
        if len(got) == 6 or time.time() > deadline:
            break
    response["EventStream"].close()
    assert got == [b"before"] + [f"live {i}".encode() for i in range(5)]
    assert int(continuation) > int(before["SequenceNumber"])
    # Resuming after the continuation gets only what came later (once the 5 s are over).
    kinesis.put_record(StreamName=stream, PartitionKey="a", Data=b"after", ExplicitHashKey="0")
    for attempt in range(80):
        try:
            again = kinesis.subscribe_to_shard(
                ConsumerARN=consumer_arn(kinesis, stream), ShardId=shard,
                StartingPosition={"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": continuation})
            break
        except ClientError as e:
            assert code(e) == "ResourceInUseException"
            time.sleep(0.1)
    for event in again["EventStream"]:
        records = event["SubscribeToShardEvent"]["Records"]
        if records:
            assert [r["Data"] for r in records] == [b"after"]
            break
    again["EventStream"].close()


def test_subscribe_heartbeats_and_errors(kinesis, stream):
    response = kinesis.subscribe_to_shard(
        ConsumerARN=consumer_arn(kinesis, stream), ShardId="shardId-000000000001",
        StartingPosition={"Type": "LATEST"})
    start = time.time()
    event = next(iter(response["EventStream"]))["SubscribeToShardEvent"]
    assert event["Records"] == [] and time.time() - start < 10  # heartbeat (1 s here)
    response["EventStream"].close()
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    for unknown in (f"{arn}/consumer/never-registered:1700000000",
                    arn.replace(stream, "nope") + "/consumer/test-app:1700000000"):
        with pytest.raises(ClientError) as e:
            kinesis.subscribe_to_shard(ConsumerARN=unknown, ShardId="shardId-000000000000",
                                       StartingPosition={"Type": "LATEST"})
        assert code(e.value) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        kinesis.subscribe_to_shard(ConsumerARN="arn:aws:kinesis:us-east-1:000000000000:stream/x",
                                   ShardId="shardId-000000000000", StartingPosition={"Type": "LATEST"})
    assert code(e.value) == "ValidationException"


def test_closed_shard_subscription_ends_with_children(kinesis, stream):
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][1]
    kinesis.put_record(StreamName=stream, PartitionKey="z", Data=b"last words",
                       ExplicitHashKey=shard["HashKeyRange"]["EndingHashKey"])
    kinesis.merge_shards(StreamName=stream, ShardToMerge="shardId-000000000000",
                         AdjacentShardToMerge="shardId-000000000001")
    response = kinesis.subscribe_to_shard(ConsumerARN=consumer_arn(kinesis, stream),
                                          ShardId="shardId-000000000001",
                                          StartingPosition={"Type": "TRIM_HORIZON"})
    events = [e["SubscribeToShardEvent"] for e in response["EventStream"]]
    assert [r["Data"] for e in events for r in e["Records"]] == [b"last words"]
    assert [c["ShardId"] for c in events[-1]["ChildShards"]] == ["shardId-000000000002"]
