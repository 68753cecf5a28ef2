"""boto3's `firehose` client against `tidelog serve`: DirectPut delivery streams that
deliver to a directory bucket (the default store under the data directory) and to S3
(moto's S3 server from PyPI, started here on a free port)."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import boto3
import pytest

from conftest import Server, start_server

ROLE = "arn:aws:iam::000000000000:role/firehose"


def wait_active(firehose, name: str) -> dict:
    deadline = time.time() + 30
    while True:
        d = firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
        if d["DeliveryStreamStatus"] == "ACTIVE":
            return d
        assert time.time() < deadline, d
        time.sleep(0.05)


def create(firehose, name: str, bucket: str) -> None:
    arn = firehose.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", "Prefix": f"{name}/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})["DeliveryStreamARN"]
    assert arn == f"arn:aws:firehose:us-east-1:000000000000:deliverystream/{name}"


def test_direct_put_to_a_directory_bucket(server: Server):
    firehose = server.client("firehose")
    create(firehose, "py-clicks", "pylake")
    with pytest.raises(firehose.exceptions.ResourceInUseException):
        create(firehose, "py-clicks", "pylake")
    d = wait_active(firehose, "py-clicks")
    assert d["DeliveryStreamType"] == "DirectPut" and d["CreateTimestamp"].tzinfo is not None
    assert d["Destinations"][0]["ExtendedS3DestinationDescription"]["BucketARN"] == "arn:aws:s3:::pylake"
    out = firehose.put_record_batch(DeliveryStreamName="py-clicks",
                                    Records=[{"Data": f"row {i}\n".encode()} for i in range(5)])
    assert out["FailedPutCount"] == 0 and len(out["RequestResponses"]) == 5
    assert all(r["RecordId"] for r in out["RequestResponses"])
    firehose.put_record(DeliveryStreamName="py-clicks", Record={"Data": b"row 5\n"})
    assert "py-clicks" in firehose.list_delivery_streams()["DeliveryStreamNames"]
    with pytest.raises(firehose.exceptions.ResourceNotFoundException):
        firehose.put_record(DeliveryStreamName="missing", Record={"Data": b"x"})
    root = Path(server.data_dir) / "firehose" / "buckets" / "pylake" / "py-clicks"
    deadline, text = time.time() + 60, ""
    while time.time() < deadline:
        text = "".join(p.read_text() for p in sorted(root.rglob("*"))
                       if p.is_file() and not p.name.startswith(".tidelog-tmp-"))
        if text.count("\n") >= 6:
            break
        time.sleep(0.1)
    assert sorted(text.splitlines()) == [f"row {i}" for i in range(6)]  # each record once
    firehose.delete_delivery_stream(DeliveryStreamName="py-clicks")
    deadline = time.time() + 30
    while "py-clicks" in firehose.list_delivery_streams()["DeliveryStreamNames"]:
        assert time.time() < deadline
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def moto_s3():
    exe = Path(os.sys.executable).parent / "moto_server"
    if not exe.exists():
        pytest.fail("moto_server is not installed (server/tests/python/requirements.txt)")
    port = free_port()
    process = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.time() < deadline, "moto did not start"
            time.sleep(0.1)
    try:
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_direct_put_to_s3(moto_s3: str):
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="s3lake")
    with tempfile.TemporaryDirectory(prefix="tidelog-fh-") as data_dir:
        server = start_server(data_dir, "--firehose-s3-endpoint", moto_s3,
                              env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
        try:
            firehose = server.client("firehose")
            create(firehose, "to-s3", "s3lake")
            wait_active(firehose, "to-s3")
            out = firehose.put_record_batch(DeliveryStreamName="to-s3",
                                            Records=[{"Data": f"s3 {i}\n".encode()} for i in range(3)])
            assert out["FailedPutCount"] == 0
            # The worker may read the batch in two turns and write two objects; keys made
            # in the same second sort by their random-looking suffix, not by time. So:
            # each object a run of the records in put order, all of them once.
            put_order = [b"s3 0", b"s3 1", b"s3 2"]
            deadline, bodies = time.time() + 60, []
            while time.time() < deadline:
                keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="s3lake").get("Contents", []))
                bodies = [s3.get_object(Bucket="s3lake", Key=k)["Body"].read() for k in keys]
                if sum(b.count(b"\n") for b in bodies) >= 3:
                    break
                time.sleep(0.2)
            assert all(b.endswith(b"\n") for b in bodies), bodies
            objects = sorted((b.splitlines() for b in bodies),
                             key=lambda o: put_order.index(o[0]) if o and o[0] in put_order else -1)
            for o in objects:
                first = put_order.index(o[0]) if o[0] in put_order else -1
                assert first >= 0 and o == put_order[first:first + len(o)], objects
            assert [line for o in objects for line in o] == put_order, objects
            assert all(k.startswith("to-s3/") for k in keys)
            firehose.delete_delivery_stream(DeliveryStreamName="to-s3")
        finally:
            assert server.stop() == 0
