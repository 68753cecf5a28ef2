"""The boto3-compatible client: every operation, its response shape checked key by key
against the Kinesis API's documented shapes, and every error as boto3 raises it."""

from __future__ import annotations

import io
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import tidelog
from tidelog.kinesis import ClientError, ParamTypeError, ParamValidationError, WaiterError
from tidelog.testing import ManualClock

HASH_MAX = 2**128 - 1
ARN = re.compile(r"arn:aws:kinesis:local:000000000000:stream/[A-Za-z0-9_.-]+")


def check_metadata(response: dict[str, Any]) -> None:
    meta = response["ResponseMetadata"]
    assert set(meta) == {"RequestId", "HTTPStatusCode", "HTTPHeaders", "RetryAttempts"}
    assert meta["HTTPStatusCode"] == 200 and meta["RetryAttempts"] == 0
    uuid.UUID(meta["RequestId"])


def body(response: dict[str, Any]) -> dict[str, Any]:
    check_metadata(response)
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def check_shard(shard: dict[str, Any]) -> None:
    """The Shard shape: ShardId, optional parents, HashKeyRange, SequenceNumberRange."""
    assert set(shard) - {"ParentShardId", "AdjacentParentShardId"} == {
        "ShardId", "HashKeyRange", "SequenceNumberRange"}
    assert re.fullmatch(r"shardId-\d{12}", shard["ShardId"])
    assert set(shard["HashKeyRange"]) == {"StartingHashKey", "EndingHashKey"}
    start, end = (int(shard["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
    assert 0 <= start <= end <= HASH_MAX
    assert all(isinstance(v, str) for v in shard["HashKeyRange"].values())
    seq = shard["SequenceNumberRange"]
    assert set(seq) - {"EndingSequenceNumber"} == {"StartingSequenceNumber"}
    assert all(isinstance(v, str) and v.isdigit() for v in seq.values())


def test_stream_lifecycle_shapes(client: tidelog.KinesisClient) -> None:
    assert body(client.create_stream(StreamName="orders", ShardCount=2)) == {}
    d = body(client.describe_stream(StreamName="orders"))
    assert set(d) == {"StreamDescription"}
    sd = d["StreamDescription"]
    assert set(sd) == {"StreamName", "StreamARN", "StreamStatus", "StreamModeDetails", "Shards", "HasMoreShards",
                       "RetentionPeriodHours", "StreamCreationTimestamp", "EnhancedMonitoring", "EncryptionType"}
    assert sd["StreamName"] == "orders" and ARN.fullmatch(sd["StreamARN"])
    assert sd["StreamStatus"] == "ACTIVE" and sd["HasMoreShards"] is False
    assert sd["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert sd["RetentionPeriodHours"] == 24 and sd["EncryptionType"] == "NONE"
    assert sd["EnhancedMonitoring"] == [{"ShardLevelMetrics": []}]
    assert isinstance(sd["StreamCreationTimestamp"], datetime) and sd["StreamCreationTimestamp"].tzinfo
    assert [s["ShardId"] for s in sd["Shards"]] == ["shardId-000000000000", "shardId-000000000001"]
    for shard in sd["Shards"]:
        check_shard(shard)
        assert "ParentShardId" not in shard and "EndingSequenceNumber" not in shard["SequenceNumberRange"]
    assert sd["Shards"][0]["HashKeyRange"]["StartingHashKey"] == "0"
    assert sd["Shards"][1]["HashKeyRange"]["EndingHashKey"] == str(HASH_MAX)

    summary = body(client.describe_stream_summary(StreamName="orders"))
    assert set(summary) == {"StreamDescriptionSummary"}
    sds = summary["StreamDescriptionSummary"]
    assert set(sds) == {"StreamName", "StreamARN", "StreamStatus", "StreamModeDetails", "RetentionPeriodHours",
                        "StreamCreationTimestamp", "EnhancedMonitoring", "EncryptionType", "OpenShardCount",
                        "ConsumerCount", "MaxRecordSizeInKiB"}
    assert (sds["OpenShardCount"], sds["ConsumerCount"], sds["StreamStatus"]) == (2, 0, "ACTIVE")
    assert sds["StreamCreationTimestamp"] == sd["StreamCreationTimestamp"]

    # StreamARN works wherever StreamName does.
    by_arn = body(client.describe_stream_summary(StreamARN=sd["StreamARN"]))
    assert by_arn["StreamDescriptionSummary"]["StreamName"] == "orders"
    assert body(client.delete_stream(StreamName="orders")) == {}
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_stream(StreamName="orders")


def test_list_streams_paging(client: tidelog.KinesisClient) -> None:
    for name in ["c", "a", "b"]:
        client.create_stream(StreamName=name, ShardCount=1)
    page = body(client.list_streams(Limit=2))
    assert set(page) == {"StreamNames", "HasMoreStreams", "StreamSummaries", "NextToken"}
    assert page["StreamNames"] == ["a", "b"] and page["HasMoreStreams"] is True
    for summary in page["StreamSummaries"]:
        assert set(summary) == {"StreamName", "StreamARN", "StreamStatus", "StreamModeDetails",
                                "StreamCreationTimestamp"}
    assert [s["StreamName"] for s in page["StreamSummaries"]] == ["a", "b"]
    last = body(client.list_streams(NextToken=page["NextToken"]))
    assert last["StreamNames"] == ["c"] and last["HasMoreStreams"] is False and "NextToken" not in last
    assert body(client.list_streams(ExclusiveStartStreamName="a"))["StreamNames"] == ["b", "c"]
    assert body(client.list_streams())["StreamNames"] == ["a", "b", "c"]
    pages = list(client.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 1}))
    assert [p["StreamNames"] for p in pages] == [["a"], ["b"], ["c"]]
    assert client.can_paginate("list_streams") and not client.can_paginate("put_record")
    with pytest.raises(client.exceptions.InvalidArgumentException, match="NextToken"):
        client.list_streams(NextToken="garbage!")


def test_list_shards_filters_and_paging(client: tidelog.KinesisClient) -> None:
    client.create_stream(StreamName="s", ShardCount=3)
    out = body(client.list_shards(StreamName="s"))
    assert set(out) == {"Shards"}
    for shard in out["Shards"]:
        check_shard(shard)
    first = body(client.list_shards(StreamName="s", MaxResults=2))
    assert set(first) == {"Shards", "NextToken"} and len(first["Shards"]) == 2
    second = body(client.list_shards(NextToken=first["NextToken"], MaxResults=2))
    assert [s["ShardId"] for s in second["Shards"]] == ["shardId-000000000002"] and "NextToken" not in second
    after = body(client.list_shards(StreamName="s", ExclusiveStartShardId="shardId-000000000000"))
    assert [s["ShardId"] for s in after["Shards"]] == ["shardId-000000000001", "shardId-000000000002"]
    client.split_shard(StreamName="s", ShardToSplit="shardId-000000000000", NewStartingHashKey="1000")
    latest = body(client.list_shards(StreamName="s", ShardFilter={"Type": "AT_LATEST"}))
    assert [s["ShardId"] for s in latest["Shards"]] == [f"shardId-{i:012}" for i in (1, 2, 3, 4)]
    horizon = body(client.list_shards(StreamName="s", ShardFilter={"Type": "AT_TRIM_HORIZON"}))
    assert len(horizon["Shards"]) == 5
    by_id = body(client.list_shards(StreamName="s", ShardFilter={"Type": "AFTER_SHARD_ID",
                                                                  "ShardId": "shardId-000000000002"}))
    assert [s["ShardId"] for s in by_id["Shards"]] == ["shardId-000000000003", "shardId-000000000004"]
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    at = body(client.list_shards(StreamName="s", ShardFilter={"Type": "AT_TIMESTAMP", "Timestamp": later}))
    assert [s["ShardId"] for s in at["Shards"]] == [s["ShardId"] for s in latest["Shards"]]
    pages = list(client.get_paginator("list_shards").paginate(StreamName="s", PaginationConfig={"PageSize": 2}))
    assert [len(p["Shards"]) for p in pages] == [2, 2, 1]
    capped = list(client.get_paginator("list_shards").paginate(StreamName="s", PaginationConfig={"MaxItems": 3,
                                                                                                   "PageSize": 2}))
    assert sum(len(p["Shards"]) for p in capped) == 3
    with pytest.raises(client.exceptions.InvalidArgumentException, match="cannot be combined"):
        client.list_shards(StreamName="s", NextToken=first["NextToken"])
    # FROM_TIMESTAMP: the open shards, and the closed ones closed at or after the time.
    since = body(client.list_shards(StreamName="s", ShardFilter={"Type": "FROM_TIMESTAMP", "Timestamp": later}))
    assert [s["ShardId"] for s in since["Shards"]] == [s["ShardId"] for s in latest["Shards"]]
    earlier = datetime.now(timezone.utc) - timedelta(hours=1)
    since = body(client.list_shards(StreamName="s", ShardFilter={"Type": "FROM_TIMESTAMP", "Timestamp": earlier}))
    assert len(since["Shards"]) == 5
    with pytest.raises(client.exceptions.InvalidArgumentException, match="FROM_TIMESTAMP needs a Timestamp"):
        client.list_shards(StreamName="s", ShardFilter={"Type": "FROM_TIMESTAMP"})
    with pytest.raises(client.exceptions.ValidationException, match="ShardFilter Type"):
        client.list_shards(StreamName="s", ShardFilter={"Type": "SOMETIMES"})
    with pytest.raises(client.exceptions.ValidationException, match="not a shard id"):
        client.list_shards(StreamName="s", ExclusiveStartShardId="shard-1")


def test_describe_stream_paging(client: tidelog.KinesisClient) -> None:
    client.create_stream(StreamName="s", ShardCount=5)
    first = client.describe_stream(StreamName="s", Limit=2)["StreamDescription"]
    assert len(first["Shards"]) == 2 and first["HasMoreShards"] is True
    rest = client.describe_stream(StreamName="s", ExclusiveStartShardId=first["Shards"][-1]["ShardId"])
    assert len(rest["StreamDescription"]["Shards"]) == 3 and rest["StreamDescription"]["HasMoreShards"] is False
    pages = list(client.get_paginator("describe_stream").paginate(StreamName="s", PaginationConfig={"PageSize": 2}))
    assert [len(p["StreamDescription"]["Shards"]) for p in pages] == [2, 2, 1]


def test_put_and_get_records_shapes(client: tidelog.KinesisClient) -> None:
    client.create_stream(StreamName="s", ShardCount=1)
    put = body(client.put_record(StreamName="s", PartitionKey="pk", Data=b"\x00\x01binary"))
    assert set(put) == {"ShardId", "SequenceNumber", "EncryptionType"}
    assert put["ShardId"] == "shardId-000000000000" and put["SequenceNumber"].isdigit()
    assert put["EncryptionType"] == "NONE"
    client.put_record(StreamName="s", PartitionKey="pk", Data="text data",
                      SequenceNumberForOrdering=put["SequenceNumber"])
    client.put_record(StreamName="s", PartitionKey="pk", Data=io.BytesIO(b"from a file"))
    many = body(client.put_records(StreamName="s", Records=[
        {"Data": b"m0", "PartitionKey": "a"},
        {"Data": "m1", "PartitionKey": "b", "ExplicitHashKey": "12345"},
    ]))
    assert set(many) == {"FailedRecordCount", "Records", "EncryptionType"}
    assert many["FailedRecordCount"] == 0
    for entry in many["Records"]:
        assert set(entry) == {"SequenceNumber", "ShardId"}
    it = body(client.get_shard_iterator(StreamName="s", ShardId="shardId-000000000000",
                                        ShardIteratorType="TRIM_HORIZON"))
    assert set(it) == {"ShardIterator"}
    got = body(client.get_records(ShardIterator=it["ShardIterator"], Limit=3))
    assert set(got) == {"Records", "NextShardIterator", "MillisBehindLatest"}
    assert got["MillisBehindLatest"] >= 0
    for record in got["Records"]:
        assert set(record) == {"SequenceNumber", "ApproximateArrivalTimestamp", "Data", "PartitionKey",
                               "EncryptionType"}
        assert record["EncryptionType"] == "NONE"
        assert isinstance(record["Data"], bytes) and type(record["Data"]) is bytes
        assert isinstance(record["ApproximateArrivalTimestamp"], datetime)
        assert record["ApproximateArrivalTimestamp"].tzinfo is not None
    assert [r["Data"] for r in got["Records"]] == [b"\x00\x01binary", b"text data", b"from a file"]
    assert got["Records"][0]["SequenceNumber"] == put["SequenceNumber"]
    rest = body(client.get_records(ShardIterator=got["NextShardIterator"]))
    assert [r["Data"] for r in rest["Records"]] == [b"m0", b"m1"]
    assert [r["PartitionKey"] for r in rest["Records"]] == ["a", "b"]
    assert rest["MillisBehindLatest"] == 0


def test_iterator_types_and_timestamps(client: tidelog.KinesisClient) -> None:
    client.create_stream(StreamName="s", ShardCount=1)
    seqs = [client.put_record(StreamName="s", PartitionKey="k", Data=f"r{i}")["SequenceNumber"] for i in range(3)]

    def read(**kw: Any) -> list[bytes]:
        it = client.get_shard_iterator(StreamName="s", ShardId="shardId-000000000000", **kw)["ShardIterator"]
        return [r["Data"] for r in client.get_records(ShardIterator=it)["Records"]]

    assert read(ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[1]) == [b"r1", b"r2"]
    assert read(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[1]) == [b"r2"]
    assert read(ShardIteratorType="LATEST") == []
    all_three = [b"r0", b"r1", b"r2"]
    assert read(ShardIteratorType="TRIM_HORIZON") == all_three
    past = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert read(ShardIteratorType="AT_TIMESTAMP", Timestamp=past) == all_three
    assert read(ShardIteratorType="AT_TIMESTAMP", Timestamp=past.timestamp()) == all_three
    assert read(ShardIteratorType="AT_TIMESTAMP", Timestamp=int(past.timestamp())) == all_three
    assert read(ShardIteratorType="AT_TIMESTAMP", Timestamp=past.isoformat()) == all_three
    naive_utc = past.astimezone(timezone.utc).replace(tzinfo=None)  # botocore: naive means UTC
    assert read(ShardIteratorType="AT_TIMESTAMP", Timestamp=naive_utc) == all_three
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert read(ShardIteratorType="AT_TIMESTAMP", Timestamp=future) == []
    with pytest.raises(client.exceptions.ValidationException, match="enum value set"):
        read(ShardIteratorType="trim_horizon")
    with pytest.raises(client.exceptions.InvalidArgumentException, match="StartingSequenceNumber"):
        read(ShardIteratorType="AT_SEQUENCE_NUMBER")
    with pytest.raises(client.exceptions.InvalidArgumentException, match="Timestamp"):
        read(ShardIteratorType="AT_TIMESTAMP")
    with pytest.raises(client.exceptions.ValidationException, match="sequence number"):
        read(ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber="x1")
    with pytest.raises(ParamValidationError, match="Invalid timestamp"):
        read(ShardIteratorType="AT_TIMESTAMP", Timestamp="yesterday-ish")


def test_resharding_shapes_and_child_shards(client: tidelog.KinesisClient) -> None:
    client.create_stream(StreamName="s", ShardCount=1)
    client.put_record(StreamName="s", PartitionKey="k", Data=b"x")
    it = client.get_shard_iterator(StreamName="s", ShardId="shardId-000000000000",
                                   ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert body(client.split_shard(StreamName="s", ShardToSplit="shardId-000000000000",
                                   NewStartingHashKey=str(2**127))) == {}
    shards = client.describe_stream(StreamName="s")["StreamDescription"]["Shards"]
    parent, left, right = shards
    assert parent["SequenceNumberRange"]["EndingSequenceNumber"].isdigit()
    assert left["ParentShardId"] == right["ParentShardId"] == "shardId-000000000000"
    assert "AdjacentParentShardId" not in left
    end = body(client.get_records(ShardIterator=it))
    # At the end of a closed shard: no NextShardIterator (AWS sends null), ChildShards.
    assert set(end) == {"Records", "MillisBehindLatest", "ChildShards"}
    assert [r["Data"] for r in end["Records"]] == [b"x"]
    for child in end["ChildShards"]:
        assert set(child) == {"ShardId", "ParentShards", "HashKeyRange"}
        assert child["ParentShards"] == ["shardId-000000000000"]
        assert set(child["HashKeyRange"]) == {"StartingHashKey", "EndingHashKey"}
    assert sorted(c["ShardId"] for c in end["ChildShards"]) == [left["ShardId"], right["ShardId"]]
    assert body(client.merge_shards(StreamName="s", ShardToMerge=left["ShardId"],
                                    AdjacentShardToMerge=right["ShardId"])) == {}
    merged = client.describe_stream(StreamName="s")["StreamDescription"]["Shards"][-1]
    assert (merged["ParentShardId"], merged["AdjacentParentShardId"]) == (left["ShardId"], right["ShardId"])
    scaled = body(client.update_shard_count(StreamName="s", TargetShardCount=2, ScalingType="UNIFORM_SCALING"))
    assert set(scaled) == {"StreamName", "CurrentShardCount", "TargetShardCount", "StreamARN"}
    assert (scaled["StreamName"], scaled["CurrentShardCount"], scaled["TargetShardCount"]) == ("s", 1, 2)
    assert ARN.fullmatch(scaled["StreamARN"])
    with pytest.raises(client.exceptions.InvalidArgumentException, match="closed"):
        client.split_shard(StreamName="s", ShardToSplit=left["ShardId"], NewStartingHashKey="5")
    with pytest.raises(client.exceptions.InvalidArgumentException, match="half to double"):
        client.update_shard_count(StreamName="s", TargetShardCount=9, ScalingType="UNIFORM_SCALING")
    with pytest.raises(client.exceptions.InvalidArgumentException, match="UNIFORM_SCALING"):
        client.update_shard_count(StreamName="s", TargetShardCount=3, ScalingType="RANDOM")


def test_retention_and_tags(client: tidelog.KinesisClient) -> None:
    client.create_stream(StreamName="s", ShardCount=1, Tags={"team": "data"})
    assert body(client.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=72)) == {}
    assert client.describe_stream(StreamName="s")["StreamDescription"]["RetentionPeriodHours"] == 72
    assert body(client.decrease_stream_retention_period(StreamName="s", RetentionPeriodHours=48)) == {}
    assert client.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["RetentionPeriodHours"] == 48
    with pytest.raises(client.exceptions.InvalidArgumentException, match="retention"):
        client.decrease_stream_retention_period(StreamName="s", RetentionPeriodHours=12)
    assert body(client.add_tags_to_stream(StreamName="s", Tags={"env": "dev", "owner": "me"})) == {}
    tags = body(client.list_tags_for_stream(StreamName="s"))
    assert set(tags) == {"Tags", "HasMoreTags"}
    assert tags["Tags"] == [{"Key": "env", "Value": "dev"}, {"Key": "owner", "Value": "me"},
                            {"Key": "team", "Value": "data"}]
    assert tags["HasMoreTags"] is False
    page = body(client.list_tags_for_stream(StreamName="s", Limit=1, ExclusiveStartTagKey="env"))
    assert page == {"Tags": [{"Key": "owner", "Value": "me"}], "HasMoreTags": True}
    assert body(client.remove_tags_from_stream(StreamName="s", TagKeys=["env", "team"])) == {}
    assert client.list_tags_for_stream(StreamName="s")["Tags"] == [{"Key": "owner", "Value": "me"}]
    with pytest.raises(client.exceptions.LimitExceededException):
        client.add_tags_to_stream(StreamName="s", Tags={f"k{i}": "v" for i in range(50)})


def test_errors_are_client_errors_with_codes(client: tidelog.KinesisClient) -> None:
    ex = client.exceptions
    with pytest.raises(ex.ResourceNotFoundException) as caught:
        client.put_record(StreamName="missing", PartitionKey="k", Data=b"x")
    err = caught.value
    assert isinstance(err, ClientError) and isinstance(err, ex.ClientError)
    assert err.response["Error"] == {"Code": "ResourceNotFoundException", "Message": 'stream "missing" not found'}
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.operation_name == "PutRecord"
    assert str(err) == ("An error occurred (ResourceNotFoundException) when calling the PutRecord operation: "
                        'stream "missing" not found')
    assert isinstance(err.__cause__, tidelog.ResourceNotFoundError)
    client.create_stream(StreamName="s", ShardCount=1)
    with pytest.raises(ex.ResourceInUseException):
        client.create_stream(StreamName="s", ShardCount=1)
    with pytest.raises(ex.ValidationException, match="exceeds the 1048576-byte limit"):
        client.put_record(StreamName="s", PartitionKey="k", Data=b"x" * (1 << 20))
    with pytest.raises(ex.ValidationException, match="stream name"):
        client.create_stream(StreamName="bad/name", ShardCount=1)
    with pytest.raises(ParamValidationError, match="ShardCount, value: 0, valid min value: 1"):
        client.create_stream(StreamName="zero", ShardCount=0)  # botocore checks minimums
    with pytest.raises(ex.InvalidArgumentException, match="malformed"):
        client.get_records(ShardIterator="nonsense")
    with pytest.raises(ex.ValidationException, match="StreamName or StreamARN"):
        client.describe_stream()
    with pytest.raises(ex.ValidationException, match="not a Kinesis ARN"):
        client.describe_stream(StreamARN="arn:aws:s3:::bucket")
    with pytest.raises(ex.InvalidArgumentException, match="differ"):
        client.describe_stream(StreamName="s", StreamARN="arn:aws:kinesis:local:000000000000:stream/t")
    with pytest.raises(ex.ValidationException, match="ShardCount is not expected"):
        client.create_stream(StreamName="od", ShardCount=2, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    with pytest.raises(ex.ValidationException, match="ShardCount"):
        client.create_stream(StreamName="od")
    # Existing `except ClientError` clauses that look at the code keep working.
    try:
        client.delete_stream(StreamName="missing")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ResourceNotFoundException"
    assert ex.from_code("ExpiredIteratorException") is ex.ExpiredIteratorException
    assert ex.from_code("SomethingElse") is ClientError


def test_throttling_and_expiry_errors(tmp_path: Path) -> None:
    clock = ManualClock()
    c = tidelog.client(tmp_path / "d", cores=1, durability="os", clock=clock)  # Kinesis limits
    try:
        c.create_stream(StreamName="s", ShardCount=1)
        it = c.get_shard_iterator(StreamName="s", ShardId="shardId-000000000000",
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for _ in range(5):
            c.get_records(ShardIterator=it)
        with pytest.raises(c.exceptions.ProvisionedThroughputExceededException) as caught:
            c.get_records(ShardIterator=it)
        assert caught.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        records = [{"Data": b"x", "PartitionKey": "k"}] * 500
        assert c.put_records(StreamName="s", Records=records)["FailedRecordCount"] == 0
        out = c.put_records(StreamName="s", Records=records)
        assert out["FailedRecordCount"] == 0
        out = c.put_records(StreamName="s", Records=records[:3])
        assert out["FailedRecordCount"] == 3
        for entry in out["Records"]:
            assert set(entry) == {"ErrorCode", "ErrorMessage"}
            assert entry["ErrorCode"] == "ProvisionedThroughputExceededException"
            assert "provisioned throughput exceeded" in entry["ErrorMessage"]
        clock.advance_ms(5 * 60 * 1000 + 1)
        with pytest.raises(c.exceptions.ExpiredIteratorException, match="expired"):
            c.get_records(ShardIterator=it)
    finally:
        c.close()


def test_param_validation(client: tidelog.KinesisClient) -> None:
    with pytest.raises(ParamValidationError, match='Missing required parameter in input: "StreamName"'):
        client.create_stream(ShardCount=1)
    with pytest.raises(ParamValidationError, match='Unknown parameter in input: "Shards", must be one of'):
        client.create_stream(StreamName="s", Shards=1)
    with pytest.raises(ParamTypeError, match="Invalid type for parameter ShardCount"):
        client.create_stream(StreamName="s", ShardCount="1")
    with pytest.raises(TypeError, match="Invalid type for parameter ShardCount"):
        client.create_stream(StreamName="s", ShardCount=True)
    with pytest.raises(ValueError, match="Invalid type for parameter Data"):
        client.put_record(StreamName="s", PartitionKey="k", Data=5)
    with pytest.raises(ParamTypeError, match=r"Records\[1\]"):
        client.put_records(StreamName="s", Records=[{"Data": b"x", "PartitionKey": "k"}, "nope"])
    with pytest.raises(ParamValidationError, match='Missing required parameter in input: "PartitionKey"'):
        client.put_records(StreamName="s", Records=[{"Data": b"x"}])
    assert issubclass(ParamValidationError, ValueError) and issubclass(ParamTypeError, TypeError)


def test_waiters(client: tidelog.KinesisClient) -> None:
    client.create_stream(StreamName="s", ShardCount=1)
    client.get_waiter("stream_exists").wait(StreamName="s")
    with pytest.raises(WaiterError, match="Max attempts exceeded"):
        client.get_waiter("stream_exists").wait(StreamName="gone", WaiterConfig={"Delay": 0, "MaxAttempts": 2})
    client.delete_stream(StreamName="s")
    client.get_waiter("stream_not_exists").wait(StreamName="s", WaiterConfig={"Delay": 0, "MaxAttempts": 1})
    assert client.waiter_names == ["stream_exists", "stream_not_exists"]
    with pytest.raises(ValueError, match="Waiter does not exist"):
        client.get_waiter("stream_sleeps")


def test_client_shares_an_engine_and_close(data_dir: Path) -> None:
    with tidelog.open(data_dir, cores=1, durability="os") as engine:
        c = tidelog.client(engine)
        c.create_stream(StreamName="s", ShardCount=1)
        assert engine.list_streams() == ["s"]
        assert c.engine is engine and c.region_name == "local"
        c.close()
        assert not engine.closed  # the client did not open it, so it does not close it
        with pytest.raises(TypeError, match="engine options"):
            tidelog.client(engine, cores=1)
    own = tidelog.client(data_dir, cores=1, region_name="eu-west-1", account_id="123456789012")
    arn = own.describe_stream(StreamName="s")["StreamDescription"]["StreamARN"]
    assert arn == "arn:aws:kinesis:eu-west-1:123456789012:stream/s"
    own.close()
    own.close()
    assert own.engine.closed
    with pytest.raises(own.exceptions.InternalFailureException, match="closed") as caught:
        own.list_streams()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
