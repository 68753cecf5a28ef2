"""The server workload's boto3 client (run by tidelog-bench inside the workload's
network namespace): PutRecord and GetRecords latency, and PutRecords throughput from
one thread, against the endpoint given. Prints one JSON document on stdout.

Usage: server_boto3.py ENDPOINT SECONDS WARMUP_SECONDS RECORD_BYTES
"""

import json
import sys
import time

import boto3
from botocore.config import Config


def timed(fn, seconds, warmup):
    """Calls fn for `warmup` s, then for `seconds` s timing each call; returns the
    latencies, the measured seconds and the sum of what the measured calls returned."""
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        fn()
    samples, moved = [], 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter_ns()
        result = fn()
        moved += result if isinstance(result, int) else 0
        samples.append(time.perf_counter_ns() - t)
    return samples, time.perf_counter() - start, moved


def main():
    endpoint, seconds, warmup, size = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    client = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="AKIDBENCH", aws_secret_access_key="bench-secret",
                          config=Config(retries={"max_attempts": 1}))
    data = b"b" * size
    put, put_s, _ = timed(lambda: client.put_record(StreamName="bench", PartitionKey="k", Data=data,
                                                 ExplicitHashKey="0"), seconds, warmup)
    it = client.get_shard_iterator(StreamName="bench", ShardId="shardId-000000000000",
                                   ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    get, get_s, _ = timed(lambda: client.get_records(ShardIterator=it, Limit=100), seconds, warmup)
    records = [{"PartitionKey": str(i), "Data": data} for i in range(500)]

    def batch():
        out = client.put_records(StreamName="bench", Records=records)
        return len(records) - out["FailedRecordCount"]

    batches, batch_s, moved = timed(batch, seconds, warmup)
    print(json.dumps({
        "put_record": {"samples_ns": put, "seconds": put_s},
        "get_records": {"samples_ns": get, "seconds": get_s},
        "put_records": {"samples_ns": batches, "seconds": batch_s,
                        "records": moved},
    }))


if __name__ == "__main__":
    main()
