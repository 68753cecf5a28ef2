"""The baseline peer of the firehose workload: moto's Firehose (in-process, through
boto3), what Python users reach for locally. Puts PutRecordBatch calls of 500 x 1 KiB
records for the given number of seconds and prints {"records": n, "seconds": s}."""

import json
import os
import sys
import time

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="bench")
        firehose = boto3.client("firehose")
        firehose.create_delivery_stream(
            DeliveryStreamName="bench",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/bench",
                "BucketARN": "arn:aws:s3:::bench",
                "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900},
            },
        )
        batch = [{"Data": b"a" * 1024} for _ in range(500)]
        firehose.put_record_batch(DeliveryStreamName="bench", Records=batch)  # warm-up
        records = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            out = firehose.put_record_batch(DeliveryStreamName="bench", Records=batch)
            records += 500 - out["FailedPutCount"]
        elapsed = time.perf_counter() - start
    print(json.dumps({"records": records, "seconds": elapsed}))


if __name__ == "__main__":
    main()
