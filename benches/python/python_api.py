"""The Python API's own costs, for the `python` workload of tidelog-bench: the engine as
`tidelog.open(path)` opens it (limits off, durability os), called from this thread.

Cases (each a closed loop for the given seconds after a warm-up; latency per call):
- put: one 1 KiB record (`engine.put_record`);
- put_records: 500 x 1 KiB per call (records/s);
- get_records: 100 x 1 KiB per call, the Pythonic API (zero-copy records, one byte of
  each touched);
- boto3_get_records: the same through the boto3-compatible client (`tidelog.client`),
  which builds boto3's dicts (bytes copies, datetimes).

Prints one JSON document: {"build": ..., "cases": {name: {"calls", "records",
"seconds", "latency_ns": [...]}}}. The latencies are every call's, so the caller computes
its own quantiles.
"""

import json
import sys
import tempfile
import time

import tidelog

RECORD = b"p" * 1024
PREFILL = 20_000


def timed(seconds: float, warmup: float, call) -> dict:
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        call()
    latencies = []
    records = 0
    start = time.perf_counter()
    end = start + seconds
    now = start
    while now < end:
        t = time.perf_counter_ns()
        records += call()
        latencies.append(time.perf_counter_ns() - t)
        now = time.perf_counter()
    return {
        "calls": len(latencies),
        "records": records,
        "seconds": now - start,
        "latency_ns": latencies,
    }


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    warmup = min(0.5, seconds / 2)
    cases = {}
    with tempfile.TemporaryDirectory(prefix="tidelog-bench-python-") as root:
        engine = tidelog.open(root + "/put", durability="os", limits="unlimited")
        engine.create_stream("s", 1)

        def put() -> int:
            engine.put_record("s", "k", RECORD)
            return 1

        cases["put"] = timed(seconds, warmup, put)
        batch = [("k", RECORD)] * 500

        def put_records() -> int:
            engine.put_records("s", batch)
            return 500

        cases["put_records"] = timed(seconds, warmup, put_records)
        engine.close()

        engine = tidelog.open(root + "/get", durability="os", limits="unlimited")
        engine.create_stream("s", 1)
        for _ in range(PREFILL // 500):
            engine.put_records("s", batch)
        shard = engine.describe_stream("s").shards[0].shard_id
        state = {"it": engine.get_shard_iterator("s", shard, "trim_horizon"), "left": PREFILL}

        def get_records() -> int:
            if state["left"] == 0:
                state["it"] = engine.get_shard_iterator("s", shard, "trim_horizon")
                state["left"] = PREFILL
            batch_ = engine.get_records(state["it"], 100)
            touched = 0
            for r in batch_:
                touched += r.data[512]
            state["it"] = batch_.next_iterator
            state["left"] -= len(batch_)
            return len(batch_)

        cases["get_records"] = timed(seconds, warmup, get_records)

        client = tidelog.client(engine)
        boto = {"it": None, "left": 0}

        def boto3_get_records() -> int:
            if boto["left"] == 0:
                boto["it"] = client.get_shard_iterator(
                    StreamName="s", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                boto["left"] = PREFILL
            out = client.get_records(ShardIterator=boto["it"], Limit=100)
            touched = 0
            for r in out["Records"]:
                touched += r["Data"][512]
            boto["it"] = out["NextShardIterator"]
            boto["left"] -= len(out["Records"])
            return len(out["Records"])

        cases["boto3_get_records"] = timed(seconds, warmup, boto3_get_records)
        engine.close()
    print(json.dumps({"build": tidelog.BUILD_PROFILE, "cases": cases}))


if __name__ == "__main__":
    main()
