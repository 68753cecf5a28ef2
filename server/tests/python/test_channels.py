"""boto3's `kinesis` client against `tidelog serve`: channels (CreateChannel,
DescribeChannel, ListChannels, UpdateChannel, DeleteChannel) delivering an ON_DEMAND
stream's records to a directory bucket (the default store under the data directory) and
to S3 (moto's S3 server from PyPI), checked by the delivered objects' bytes."""

from __future__ import annotations

import base64
import gzip
import json
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from conftest import Server, start_server
from test_firehose import moto_s3  # noqa: F401  (the fixture)

ROLE = "arn:aws:iam::000000000000:role/channel"
OWNER = "000000000000"


def stream(kinesis, name: str) -> str:
    kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def create_channel(kinesis, name: str, stream_arn: str, bucket: str, **storage) -> dict:
    return kinesis.create_channel(
        ChannelName=name, ServiceExecutionRoleARN=ROLE,
        StreamConfigurationList=[{"StreamARN": stream_arn,
                                  "RecordConfiguration": {"RecordFormatType": "JSON"}}],
        S3DestinationConfiguration={
            "DataFreshnessInSeconds": 0,
            "StorageConfiguration": {"BucketARN": f"arn:aws:s3:::{bucket}", "ExpectedBucketOwner": OWNER,
                                     "CompressionType": "GZIP", **storage}},
    )["ChannelDescription"]


def wait_for(what: str, probe):
    deadline = time.time() + 60
    while True:
        value = probe()
        if value:
            return value
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".tidelog-tmp-")}


def lines_of(objects: dict[str, bytes]) -> list[dict]:
    return [json.loads(line) for body in objects.values() for line in gzip.decompress(body).splitlines()]


@pytest.fixture()
def own() -> Iterator[Server]:
    """A server of this test's own (the session's is shared; one test here restarts it)."""
    with tempfile.TemporaryDirectory(prefix="tidelog-ch-") as data_dir:
        s = start_server(data_dir)
        try:
            yield s
        finally:
            assert s.stop() == 0


def test_channel_to_a_directory_bucket(own: Server):
    server = own
    kinesis = server.client()
    arn = stream(kinesis, "clicks")
    d = create_channel(kinesis, "clicks-lake", arn, "chlake",
                       OutputKeyTemplate="!{stream-name}/!{yyyy}/!{MM}/!{dd}/part!{extension}")
    assert d["ChannelStatus"] == "CREATING" and d["ChannelCreationTimestamp"].tzinfo is not None
    channel_arn = d["ChannelARN"]
    assert channel_arn == "arn:aws:kinesis:us-east-1:000000000000:channel/clicks-lake"
    described = kinesis.describe_channel(ChannelARN=channel_arn)["ChannelDescription"]
    assert described["ChannelStatus"] == "ACTIVE"
    assert described["StreamConfigurationList"][0]["StreamARN"] == arn
    dlq = described["S3DestinationConfiguration"]["DeadLetterQueueS3Configuration"]
    assert dlq == {"BucketARN": "arn:aws:s3:::chlake", "ExpectedBucketOwner": OWNER,
                   "ErrorOutputPrefix": "kinesis-channel-errors/"}
    with pytest.raises(kinesis.exceptions.ResourceInUseException):
        create_channel(kinesis, "clicks-lake", arn, "chlake")

    records = [{"n": i, "user": f"u{i % 3}"} for i in range(12)]
    out = kinesis.put_records(StreamName="clicks", Records=[
        {"Data": json.dumps(r).encode(), "PartitionKey": r["user"]} for r in records])
    assert out["FailedRecordCount"] == 0
    kinesis.put_record(StreamName="clicks", Data=b"{broken", PartitionKey="u0")

    root = Path(server.data_dir) / "firehose" / "buckets" / "chlake"
    data = wait_for("the records' objects", lambda: (
        o if len(lines_of(o := files(root / "clicks"))) >= 12 else None))
    got = lines_of(data)
    for user in ("u0", "u1", "u2"):  # each once, in put order per key
        assert [r for r in got if r["user"] == user] == [r for r in records if r["user"] == user]
    assert len(got) == 12
    uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    for key in data:
        assert re.fullmatch(rf"\d{{4}}/\d{{2}}/\d{{2}}/part-{uuid}\.gz", key), key
    dead = wait_for("the dead-letter object", lambda: files(root / "kinesis-channel-errors"))
    docs = [json.loads(line) for body in dead.values() for line in body.splitlines()]
    assert [base64.b64decode(d["rawData"]) for d in docs] == [b"{broken"]
    assert docs[0]["errorCode"] == "Channel.InvalidJSONRecord"
    assert all(k.startswith(f"clicks-lake/{d['ChannelId']}/") for k in dead), dead

    summary = kinesis.describe_stream_summary(StreamName="clicks")["StreamDescriptionSummary"]
    assert summary["ChannelCount"] == 1
    with pytest.raises(kinesis.exceptions.ResourceInUseException, match="channels"):
        kinesis.delete_stream(StreamName="clicks")
    listed = kinesis.list_channels(StreamFilter=[{"StreamARN": arn}])["ChannelSummaries"]
    assert [(c["ChannelName"], c["ChannelDestinationType"], c["Streams"][0]["StreamARN"])
            for c in listed] == [("clicks-lake", "S3", arn)]
    updated = kinesis.update_channel(ChannelARN=channel_arn,
                                     S3DestinationConfiguration={"DataFreshnessInSeconds": 600})
    assert updated["ChannelDescription"]["ChannelStatus"] == "UPDATING"
    described = kinesis.describe_channel(ChannelARN=channel_arn)["ChannelDescription"]
    assert described["S3DestinationConfiguration"]["DataFreshnessInSeconds"] == 600

    with pytest.raises(kinesis.exceptions.InvalidArgumentException, match="Iceberg"):
        kinesis.create_channel(
            ChannelName="tables", ServiceExecutionRoleARN=ROLE,
            StreamConfigurationList=[{"StreamARN": arn, "RecordConfiguration": {
                "RecordFormatType": "JSON",
                "GSRSchemaARN": "arn:aws:glue:us-east-1:000000000000:schema/r/s"}}],
            S3TablesDestinationConfiguration={
                "DeadLetterQueueS3Configuration": {"BucketARN": "arn:aws:s3:::dlq", "ExpectedBucketOwner": OWNER},
                "S3TablesConfigurationList": [{
                    "TableBucketARN": "arn:aws:s3tables:us-east-1:000000000000:bucket/tb",
                    "Namespace": "ns", "TableName": "clicks", "CompressionType": "ZSTD"}]})
    kinesis.create_stream(StreamName="prov", ShardCount=1)
    prov = kinesis.describe_stream_summary(StreamName="prov")["StreamDescriptionSummary"]["StreamARN"]
    with pytest.raises(kinesis.exceptions.InvalidArgumentException, match="ON_DEMAND"):
        create_channel(kinesis, "p", prov, "chlake")

    kinesis.delete_channel(ChannelARN=channel_arn)
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.describe_channel(ChannelARN=channel_arn)
    assert kinesis.list_channels()["ChannelSummaries"] == []
    kinesis.delete_stream(StreamName="clicks")
    assert len(lines_of(files(root / "clicks"))) == 12, "delivered objects stay"


def test_channels_survive_a_restart_and_page(own: Server):
    server = own
    kinesis = server.client()
    arn = stream(kinesis, "s")
    for i in range(5):
        create_channel(kinesis, f"ch-{i}", arn, "pages")
    first = kinesis.list_channels(MaxResults=2)
    assert [c["ChannelName"] for c in first["ChannelSummaries"]] == ["ch-0", "ch-1"]
    names = [c["ChannelName"] for page in kinesis.get_paginator("list_channels").paginate(
        PaginationConfig={"PageSize": 2}) for c in page["ChannelSummaries"]]
    assert names == [f"ch-{i}" for i in range(5)]
    data_dir = server.data_dir
    assert server.stop() == 0
    again = start_server(data_dir)
    try:
        kinesis = again.client()
        listed = kinesis.list_channels()["ChannelSummaries"]
        assert [(c["ChannelName"], c["ChannelStatus"]) for c in listed] == [
            (f"ch-{i}", "ACTIVE") for i in range(5)]
        kinesis.put_record(StreamName="s", Data=b'{"after": "restart"}', PartitionKey="k")
        root = Path(data_dir) / "firehose" / "buckets" / "pages" / "kinesis-channel"
        # Each of the five channels delivers the record once, under its own prefix.
        objects = wait_for("five objects", lambda: (o if len(o := files(root)) >= 5 else None))
        assert sorted(k.split("/")[0] for k in objects) == [f"ch-{i}" for i in range(5)]
        assert all(lines_of({k: v}) == [{"after": "restart"}] for k, v in objects.items())
    finally:
        assert again.stop() == 0


def test_channel_to_s3(moto_s3: str):  # noqa: F811
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="chs3")
    with tempfile.TemporaryDirectory(prefix="tidelog-ch-") as data_dir:
        server = start_server(data_dir, "--firehose-s3-endpoint", moto_s3,
                              env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
        try:
            kinesis = server.client()
            arn = stream(kinesis, "to-s3")
            d = create_channel(kinesis, "s3ch", arn, "chs3")
            kinesis.put_records(StreamName="to-s3", Records=[
                {"Data": json.dumps({"i": i}).encode(), "PartitionKey": "k"} for i in range(4)])

            def bodies():
                keys = [o["Key"] for o in s3.list_objects_v2(Bucket="chs3").get("Contents", [])]
                got = {k: s3.get_object(Bucket="chs3", Key=k)["Body"].read() for k in keys}
                return got if len(lines_of(got)) >= 4 else None

            objects = wait_for("the objects in S3", bodies)
            # One key, one shard: each object a run of the records in put order.
            runs = sorted((lines_of({k: v}) for k, v in objects.items()), key=lambda run: run[0]["i"])
            assert [r for run in runs for r in run] == [{"i": i} for i in range(4)], runs
            prefix = f"kinesis-channel/s3ch/{d['ChannelId']}/"
            assert all(k.startswith(prefix) and k.endswith(".gz") for k in objects), objects
            kinesis.delete_channel(ChannelARN=d["ChannelARN"])
        finally:
            assert server.stop() == 0
