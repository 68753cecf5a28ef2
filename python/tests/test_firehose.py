"""Firehose from Python: the boto3-compatible client (a boto3 program, one line
swapped), delivery to moto's real S3 server checked with boto3, the Pythonic API,
Lambda-style and per-record transforms, every compression read back with the standard
tools, the manual clock, and hostile input."""

from __future__ import annotations

import base64
import gzip
import io
import json
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import cramjam
import pytest

import tidelog
from tidelog.firehose import S3Store
from tidelog.kinesis import ParamValidationError
from tidelog.testing import ManualClock

from services import moto_server

ROLE = "arn:aws:iam::123456789012:role/firehose"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def files(root: str | Path) -> dict[str, bytes]:
    base = Path(root)
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file() and not p.name.startswith(".tidelog-tmp")}


# -- a boto3 program ---------------------------------------------------------------------------


def boto3_program(firehose: Any, s3: Any, bucket: str) -> list[bytes]:
    """Code written for boto3's Firehose client, unchanged."""
    firehose.create_delivery_stream(
        DeliveryStreamName="events",
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "events/!{timestamp:yyyy}/",
            "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
            "CompressionFormat": "GZIP",
        },
    )
    firehose.put_record(DeliveryStreamName="events", Record={"Data": b'{"n": 0}\n'})
    out = firehose.put_record_batch(
        DeliveryStreamName="events",
        Records=[{"Data": json.dumps({"n": i}).encode() + b"\n"} for i in range(1, 100)],
    )
    assert out["FailedPutCount"] == 0
    assert len(out["RequestResponses"]) == 99
    assert all("RecordId" in r for r in out["RequestResponses"])
    return [json.dumps({"n": i}).encode() + b"\n" if i else b'{"n": 0}\n' for i in range(100)]


def test_a_boto3_program_runs_unchanged_and_objects_land_in_s3(tmp_path: Path, s3_endpoint: str) -> None:
    s3 = s3_client(s3_endpoint)
    s3.create_bucket(Bucket="lake")
    client = tidelog.firehose_client(
        tmp_path / "data", cores=1, durability="os", limits="unlimited",
        stores={"lake": S3Store(endpoint=s3_endpoint, access_key_id="testing", secret_access_key="testing")},
    )  # was: boto3.client("firehose")
    try:
        expected = boto3_program(client, s3, "lake")
        client.firehose.flush("events")
        listing = s3.list_objects_v2(Bucket="lake")["Contents"]
        assert len(listing) == 1
        key = listing[0]["Key"]
        assert key.startswith("events/20") and key.endswith(".gz")
        assert "/events-1-" in key
        body = s3.get_object(Bucket="lake", Key=key)["Body"].read()
        assert gzip.decompress(body) == b"".join(expected)

        d = client.describe_delivery_stream(DeliveryStreamName="events")
        desc = d["DeliveryStreamDescription"]
        assert d["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert desc["DeliveryStreamStatus"] == "ACTIVE"
        assert desc["DeliveryStreamARN"] == "arn:aws:firehose:local:000000000000:deliverystream/events"
        assert desc["VersionId"] == "1"
        assert desc["CreateTimestamp"].tzinfo is not None
        ext = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
        assert ext["CompressionFormat"] == "GZIP"
        assert ext["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 60}
        assert client.list_delivery_streams()["DeliveryStreamNames"] == ["events"]

        with pytest.raises(client.exceptions.ResourceNotFoundException) as missing:
            client.describe_delivery_stream(DeliveryStreamName="nope")
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
        with pytest.raises(client.exceptions.ConcurrentModificationException):
            client.update_destination(DeliveryStreamName="events", CurrentDeliveryStreamVersionId="9",
                                      DestinationId="destinationId-000000000001",
                                      ExtendedS3DestinationUpdate={"Prefix": "x/"})
        with pytest.raises(client.exceptions.InvalidArgumentException):
            client.create_delivery_stream(DeliveryStreamName="bad", ExtendedS3DestinationConfiguration={
                "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::lake", "Prefix": "a/!{"})
        with pytest.raises(ParamValidationError):
            client.put_record(DeliveryStreamName="events")
        with pytest.raises(ParamValidationError):
            client.put_record_batch(DeliveryStreamName="events", Records=[{"Data": b"x", "Other": 1}])
        with pytest.raises(client.exceptions.InvalidArgumentException):
            client.put_record_batch(DeliveryStreamName="events", Records=[{"Data": b"x"}] * 501)
        client.tag_delivery_stream(DeliveryStreamName="events", Tags=[{"Key": "team", "Value": "data"}])
        tags = client.list_tags_for_delivery_stream(DeliveryStreamName="events")
        assert tags["Tags"] == [{"Key": "team", "Value": "data"}] and tags["HasMoreTags"] is False
        client.delete_delivery_stream(DeliveryStreamName="events")
        assert client.list_delivery_streams()["DeliveryStreamNames"] == []
    finally:
        client.close()


# -- the Pythonic API ----------------------------------------------------------------------------


def test_pythonic_api_with_manual_clock_and_per_record_transform(tmp_path: Path) -> None:
    clock = ManualClock(1_535_365_805_123)
    with tidelog.open(tmp_path / "data", cores=1, durability="sync", limits="unlimited", clock=clock) as engine:
        fh = engine.firehose(ingest_limits="unlimited", tick_ms=5)
        assert engine.firehose() is fh

        def shout(data: bytes) -> bytes | None:
            if data.startswith(b"drop"):
                return None
            if data.startswith(b"bad"):
                raise ValueError("cannot")
            return data.upper() + b"\n"

        arn = fh.create_delivery_stream("words", bucket="out", prefix="w/", size_mb=1, interval_s=120,
                                        transform=shout, error_output_prefix="e/!{firehose:error-output-type}/")
        assert arn.endswith(":deliverystream/words")
        assert fh.list_delivery_streams() == ["words"]
        results = fh.put_record_batch("words", [b"hello", "world", b"drop this", b"bad one"])
        assert all(isinstance(r, str) for r in results)
        fh.put_record("words", memoryview(b"again"))
        time.sleep(0.05)
        root = fh.bucket_directory("out")
        assert root is not None
        assert files(root) == {}
        clock.advance_ms(120_000)
        fh.wake()
        objs = wait_for("the interval's object", lambda: {k: v for k, v in files(root).items() if k.startswith("w/")})
        (key, body), = objs.items()
        assert key.startswith("w/2018/08/27/10/words-1-2018-08-27-10-30-05-")
        assert body == b"HELLO\nWORLD\nAGAIN\n"
        errors = wait_for("the error object", lambda: [v for k, v in files(root).items() if k.startswith("e/")])
        doc = json.loads(errors[0])
        assert doc["errorCode"] == "Lambda.ProcessingFailed"
        assert base64.b64decode(doc["rawData"]) == b"bad one"
        m = fh.metrics("words")
        assert m["incoming_records"] == 5
        assert m["dropped_processing_records"] == 1
        text = fh.metrics_openmetrics()
        assert 'tidelog_firehose_incoming_records_total{delivery_stream="words"} 5' in text
        assert text.endswith("# EOF\n")
        desc = fh.describe_delivery_stream("words")
        assert desc["DeliveryStreamStatus"] == "ACTIVE"
        assert fh.update_destination("words", compression="GZIP") == "2"
        fh.delete_delivery_stream("words")
        assert fh.list_delivery_streams() == []


def test_lambda_handlers_and_failures(tmp_path: Path) -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert context.function_name == "enrich"
        assert context.get_remaining_time_in_millis() > 0
        out = []
        for r in event["records"]:
            data = json.loads(base64.b64decode(r["data"]))
            data["seen"] = True
            out.append({"recordId": r["recordId"], "result": "Ok",
                        "data": base64.b64encode(json.dumps(data).encode() + b"\n").decode(),
                        "metadata": {"partitionKeys": {"kind": data["kind"]}}})
        return {"records": out}

    def broken(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("handler exploded")

    with tidelog.open(tmp_path / "data", cores=1, durability="os", limits="unlimited") as engine:
        fh = engine.firehose(ingest_limits="unlimited", lambdas={"enrich": handler, "broken": broken})
        fh.create_delivery_stream(
            "p", bucket="out", prefix="k=!{partitionKeyFromLambda:kind}/", error_output_prefix="err/",
            size_mb=64, interval_s=60,
            destination={"DynamicPartitioningConfiguration": {"Enabled": True},
                         "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": [
                             {"ParameterName": "LambdaArn",
                              "ParameterValue": "arn:aws:lambda:us-east-1:123456789012:function:enrich"}]}]}})
        fh.create_delivery_stream(
            "q", bucket="out", prefix="q/", error_output_prefix="qerr/",
            destination={"ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": [
                {"ParameterName": "LambdaArn", "ParameterValue": "arn:aws:lambda:us-east-1:123456789012:function:broken"},
                {"ParameterName": "NumberOfRetries", "ParameterValue": "0"}]}]}})
        fh.put_record_batch("p", [json.dumps({"kind": k, "i": i}).encode() for i, k in enumerate("abab")])
        fh.put_record("q", b"lost?")
        fh.flush()
        root = fh.bucket_directory("out")
        assert root is not None
        objs = files(root)
        a = [v for k, v in objs.items() if k.startswith("k=a/")]
        assert [json.loads(line) for line in a[0].splitlines()] == [
            {"kind": "a", "i": 0, "seen": True}, {"kind": "a", "i": 2, "seen": True}]
        assert any(k.startswith("k=b/") for k in objs)
        (err,) = [v for k, v in objs.items() if k.startswith("qerr/")]
        doc = json.loads(err)
        assert doc["errorCode"] == "Lambda.FunctionError"
        assert "handler exploded" in doc["errorMessage"]
        assert base64.b64decode(doc["rawData"]) == b"lost?"


@pytest.mark.parametrize("compression", ["GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY", "UNCOMPRESSED"])
def test_every_compression_reads_back_with_the_standard_tools(tmp_path: Path, compression: str) -> None:
    records = [f"record {i} {'x' * (i % 50)}\n".encode() for i in range(2000)]
    with tidelog.open(tmp_path / "data", cores=1, durability="os", limits="unlimited") as engine:
        fh = engine.firehose(ingest_limits="unlimited")
        fh.create_delivery_stream("c", bucket="out", compression=compression)  # type: ignore[arg-type]
        for i in range(0, len(records), 500):
            fh.put_record_batch("c", records[i:i + 500])
        fh.flush("c")
        root = fh.bucket_directory("c".replace("c", "out"))
        assert root is not None
        (key, body), = files(root).items()
        path = Path(root) / key
        want = b"".join(records)
        if compression == "GZIP":
            assert key.endswith(".gz")
            assert subprocess.run(["gzip", "-dc", str(path)], capture_output=True, check=True).stdout == want
        elif compression == "ZIP":
            assert key.endswith(".zip")
            assert subprocess.run(["unzip", "-p", str(path)], capture_output=True, check=True).stdout == want
            with zipfile.ZipFile(io.BytesIO(body)) as z:
                (name,) = z.namelist()
                assert z.read(name) == want
        elif compression == "Snappy":
            assert key.endswith(".snappy")
            assert bytes(cramjam.snappy.decompress(body)) == want
        elif compression == "HADOOP_SNAPPY":
            assert key.endswith(".hsnappy")
            out, at = b"", 0
            while at < len(body):
                raw_len = int.from_bytes(body[at:at + 4], "big")
                c_len = int.from_bytes(body[at + 4:at + 8], "big")
                block = bytes(cramjam.snappy.decompress_raw(body[at + 8:at + 8 + c_len]))
                assert len(block) == raw_len
                out += block
                at += 8 + c_len
            assert out == want
        else:
            assert body == want


def test_hostile_input_is_refused_clearly(tmp_path: Path) -> None:
    with tidelog.open(tmp_path / "data", cores=1, durability="os", limits="unlimited") as engine:
        fh = engine.firehose(ingest_limits="unlimited")
        cases: list[tuple[dict[str, Any], str]] = [
            ({"DeliveryStreamName": "a/b"}, "DeliveryStreamName"),
            ({"DeliveryStreamName": "x" * 65}, "DeliveryStreamName"),
            ({"DeliveryStreamName": "ok", "ExtendedS3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bkt", "Prefix": "!{nope:x}/"}}, "unknown namespace"),
            ({"DeliveryStreamName": "ok", "ExtendedS3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bkt", "Prefix": "!{firehose:error-output-type}/", "ErrorOutputPrefix": "e/"}}, "only in ErrorOutputPrefix"),
            ({"DeliveryStreamName": "ok", "ExtendedS3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bkt", "BufferingHints": {"SizeInMBs": 129, "IntervalInSeconds": 60}}}, "SizeInMBs"),
            ({"DeliveryStreamName": "ok", "ExtendedS3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bkt", "BufferingHints": {"SizeInMBs": 5}}}, "both"),
            ({"DeliveryStreamName": "ok", "ExtendedS3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::../etc"}}, "bucket names"),
            ({"DeliveryStreamName": "ok", "ExtendedS3DestinationConfiguration": {"RoleARN": "nope", "BucketARN": "arn:aws:s3:::bkt"}}, "role ARN"),
            ({"DeliveryStreamName": "ok", "ExtendedS3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bkt", "Typo": 1}}, "unknown field"),
            ({"DeliveryStreamName": "ok", "SplunkDestinationConfiguration": {}}, "not supported"),
        ]
        for request, needle in cases:
            with pytest.raises(tidelog.FirehoseError) as e:
                fh.call("CreateDeliveryStream", request)
            assert e.value.code == "InvalidArgumentException", request
            assert needle in str(e.value), (needle, str(e.value))
        assert fh.list_delivery_streams() == []
        fh.create_delivery_stream("ok", bucket="bkt")
        with pytest.raises(tidelog.FirehoseError):
            fh.put_record("ok", b"x" * 1_024_001)
        with pytest.raises(tidelog.FirehoseError):
            fh.put_record_batch("ok", [])
        with pytest.raises(TypeError):
            fh.put_record("ok", 12)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            fh.put_record_batch("ok", b"one record")
        with pytest.raises(tidelog.FirehoseError) as e:
            fh.call("NoSuchOperation", {})
        assert e.value.code == "UnknownOperationException"


def test_json_to_parquet_opens_in_pyarrow_duckdb_and_polars(tmp_path: Path) -> None:
    import duckdb
    import polars
    import pyarrow.parquet as pq

    conversion = {
        "Enabled": True,
        "SchemaConfiguration": {"DatabaseName": "shop", "TableName": "orders", "Columns": [
            {"Name": "order_id", "Type": "bigint"}, {"Name": "customer", "Type": "string"},
            {"Name": "total", "Type": "decimal(10,2)"}, {"Name": "paid", "Type": "boolean"},
            {"Name": "placed_at", "Type": "timestamp"}]},
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {
            "ColumnToJsonKeyMappings": {"customer": "Customer.Name"},
            "ConvertDotsInJsonKeysToUnderscores": True}}},
        "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "GZIP"}}},
    }
    with tidelog.open(tmp_path / "data", cores=1, durability="os", limits="unlimited") as engine:
        fh = engine.firehose(ingest_limits="unlimited")
        fh.create_delivery_stream("orders", bucket="lake", prefix="orders/", size_mb=64, interval_s=60,
                                  error_output_prefix="errors/!{firehose:error-output-type}/",
                                  destination={"DataFormatConversionConfiguration": conversion})
        records = [json.dumps({"ORDER_ID": i, "customer.name": f"c{i % 3}", "Total": f"{i}.50",
                               "paid": i % 2 == 0, "placed_at": f"2024-05-0{1 + i % 5}T10:00:00Z"}).encode()
                   for i in range(50)]
        records.append(b'{"order_id": "not a number"}')
        fh.put_record_batch("orders", records)
        fh.flush("orders")
        root = fh.bucket_directory("lake")
        assert root is not None
        objs = files(root)
        (key,) = [k for k in objs if k.startswith("orders/")]
        assert key.endswith(".parquet")
        path = str(Path(root) / key)
        table = pq.read_table(path)
        assert table.num_rows == 50
        assert table.column_names == ["order_id", "customer", "total", "paid", "placed_at"]
        assert table.column("order_id").to_pylist() == list(range(50))
        assert str(table.schema.field("total").type) == "decimal128(10, 2)"
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "GZIP"
        con = duckdb.connect()
        total, paid = con.execute(f"SELECT sum(total), count(*) FILTER (WHERE paid) FROM '{path}'").fetchone()
        assert str(total) == "1250.00"
        assert paid == 25
        frame = polars.read_parquet(path)
        assert frame.height == 50
        assert frame["customer"].to_list()[:4] == ["c0", "c1", "c2", "c0"]
        assert str(frame["placed_at"][0]) == "2024-05-01 10:00:00"
        (err,) = [v for k, v in objs.items() if k.startswith("errors/format-conversion-failed/")]
        doc = json.loads(err)
        assert doc["errorCode"] == "DataFormatConversion.MalformedData"
        assert base64.b64decode(doc["rawData"]) == b'{"order_id": "not a number"}'


def test_kinesis_channels_through_the_json_entry_point(tmp_path: Path) -> None:
    """Channels (Kinesis operations on Firehose's machinery) by Firehose.call with
    Kinesis's shapes: gzip objects of JSON lines under the key template."""
    clock = ManualClock(1_535_365_805_123)
    with tidelog.open(tmp_path / "data", cores=1, durability="sync", limits="unlimited", clock=clock) as engine:
        fh = engine.firehose(ingest_limits="unlimited", tick_ms=5)
        engine.create_stream("events", mode="ON_DEMAND")
        arn = engine.describe_stream_summary("events").arn
        out = fh.call("CreateChannel", {
            "ChannelName": "py", "ServiceExecutionRoleARN": "arn:aws:iam::000000000000:role/r",
            "StreamConfigurationList": [{"StreamARN": arn, "RecordConfiguration": {"RecordFormatType": "JSON"}}],
            "S3DestinationConfiguration": {"DataFreshnessInSeconds": 60, "StorageConfiguration": {
                "BucketARN": "arn:aws:s3:::pych", "ExpectedBucketOwner": "000000000000",
                "CompressionType": "GZIP", "OutputKeyTemplate": "!{stream-name}/!{yyyy}/x!{extension}"}}})
        channel = out["ChannelDescription"]
        assert channel["ChannelStatus"] == "CREATING"
        for i in range(3):
            engine.put_record("events", "k", json.dumps({"i": i}).encode())
        fh.flush()  # every worker, channels included
        root = Path(fh.bucket_directory("pych"))
        (key, body), = files(root).items()
        assert key.startswith("events/2018/x-") and key.endswith(".gz"), key
        assert gzip.decompress(body) == b'{"i": 0}\n{"i": 1}\n{"i": 2}\n'
        listed = fh.call("ListChannels", {"StreamFilter": [{"StreamARN": arn}]})["ChannelSummaries"]
        assert [c["ChannelName"] for c in listed] == ["py"]
        with pytest.raises(tidelog.Error):
            engine.delete_stream("events")  # kept while it has the channel
        fh.call("DeleteChannel", {"ChannelARN": channel["ChannelARN"]})
        engine.delete_stream("events")
