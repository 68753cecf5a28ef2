"""Kinesis queues from Python: the boto3-compatible client's 12 queue operations (every
answer checked against botocore's model, as test_kinesis_api.py does) and the Pythonic
API (dataclasses, restart). Visibility timeouts run on a manual clock: nothing sleeps
for them. Expectations are computed from what each test put and did."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import botocore
import pytest

import tidelog
from tidelog.kinesis import ParamValidationError
from tidelog.testing import ManualClock

from test_kinesis_api import MODEL, call

T0 = 1_700_000_000_000
QUEUE_OPERATIONS = [
    "AcknowledgeDeadLetterQueueRecords", "AcknowledgeQueueRecords", "CreateQueue", "DeleteQueue",
    "DescribeQueue", "ListQueues", "ReceiveDeadLetterQueueRecords", "ReceiveQueueRecords",
    "RestoreDeadLetterQueueRecords", "UpdateDeadLetterQueueRecordsVisibility", "UpdateQueue",
    "UpdateQueueRecordsVisibility",
]


def open_client(data_dir: Path, clock: ManualClock, **options: Any) -> tidelog.KinesisClient:
    return tidelog.client(data_dir, cores=1, durability="os", limits="unlimited", clock=clock, **options)


def on_demand(client: tidelog.KinesisClient, name: str) -> str:
    call(client, "CreateStream", StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    return str(call(client, "DescribeStreamSummary", StreamName=name)["StreamDescriptionSummary"]["StreamARN"])


def new_queue(client: tidelog.KinesisClient, name: str, stream_arn: str, **attributes: Any) -> str:
    out = call(client, "CreateQueue", QueueName=name,
               StreamConfigurationList=[{"StreamARN": stream_arn, "StartingPosition": {"Type": "TRIM_HORIZON"}}],
               QueueAttributes=attributes or {"VisibilityTimeoutSeconds": 30})
    return str(out["QueueDescription"]["QueueARN"])


def test_the_model_queue_operations_are_all_there(client: tidelog.KinesisClient) -> None:
    in_model = sorted(op for op in MODEL.operation_names if "Queue" in op)
    assert in_model == QUEUE_OPERATIONS
    assert all(callable(getattr(client, botocore.xform_name(op), None)) for op in QUEUE_OPERATIONS)
    assert client.can_paginate("list_queues")


def test_lifecycle_listing_tags_and_errors(data_dir: Path, clock: ManualClock) -> None:
    client = open_client(data_dir, clock, consumer_transition=2.0)
    ex = client.exceptions
    arn = on_demand(client, "s")
    created = call(client, "CreateQueue", QueueName="b",
                   StreamConfigurationList=[{"StreamARN": arn}], Tags={"team": "q"})["QueueDescription"]
    assert created["QueueStatus"] == "CREATING"
    assert created["StreamConfigurationList"] == [{"StreamARN": arn, "StartingPosition": {"Type": "LATEST"}}]
    assert created["QueueAttributes"] == {"VisibilityTimeoutSeconds": 30,
                                          "DeadLetterConfiguration": {"TargetType": "BUILT_IN", "MaxReceiveCount": 6}}
    b = created["QueueARN"]
    assert b.startswith("arn:aws:kinesis:local:000000000000:queue/")
    with pytest.raises(ex.InvalidArgumentException, match="CREATING"):
        client.receive_queue_records(QueueARN=b, WaitTimeSeconds=1)
    clock.advance_ms(2_000)
    described = call(client, "DescribeQueue", QueueARN=b)["QueueDescription"]
    assert described["QueueStatus"] == "ACTIVE"
    assert described["StreamConfigurationList"][0]["StartingPosition"]["Timestamp"] == datetime.fromtimestamp(
        T0 / 1000, tz=described["QueueCreationTimestamp"].tzinfo)
    for name in ("c", "a"):
        new_queue(client, name, arn)
    clock.advance_ms(2_000)
    page = call(client, "ListQueues", MaxResults=2)
    assert [q["QueueName"] for q in page["QueueSummaries"]] == ["a", "b"] and "NextToken" in page
    rest = call(client, "ListQueues", MaxResults=2, NextToken=page["NextToken"])
    assert [q["QueueName"] for q in rest["QueueSummaries"]] == ["c"] and "NextToken" not in rest
    summary = call(client, "DescribeStreamSummary", StreamName="s")["StreamDescriptionSummary"]
    assert (summary["QueueCount"], summary["ConsumerCount"]) == (3, 0)
    paged = [q["QueueName"] for p in client.get_paginator("list_queues").paginate(PaginationConfig={"PageSize": 1})
             for q in p["QueueSummaries"]]
    assert paged == ["a", "b", "c"]
    summary = rest["QueueSummaries"][0]
    assert summary["Streams"][0]["StreamARN"] == arn
    created_at = summary["Streams"][0]["StreamCreationTimestamp"]
    assert len(call(client, "ListQueues", StreamFilter=[{"StreamARN": arn, "StreamCreationTimestamp": created_at}])
               ["QueueSummaries"]) == 3
    assert call(client, "ListQueues", StreamFilter=[{"StreamARN": arn, "StreamCreationTimestamp": 1}]
                )["QueueSummaries"] == []

    updated = call(client, "UpdateQueue", QueueARN=b, QueueAttributes={
        "VisibilityTimeoutSeconds": 5, "DeadLetterConfiguration": {"TargetType": "NONE"}})["QueueDescription"]
    assert updated["QueueStatus"] == "UPDATING"
    assert updated["QueueAttributes"] == {"VisibilityTimeoutSeconds": 5, "DeadLetterConfiguration": {"TargetType": "NONE"}}
    with pytest.raises(ex.ResourceInUseException):
        client.update_queue(QueueARN=b, QueueAttributes={"VisibilityTimeoutSeconds": 6})
    assert call(client, "ListTagsForResource", ResourceARN=b)["Tags"] == [{"Key": "team", "Value": "q"}]

    # Stream rules and bad input.
    with pytest.raises(ex.ResourceInUseException):
        client.create_queue(QueueName="a", StreamConfigurationList=[{"StreamARN": arn}])
    with pytest.raises(ex.ResourceInUseException, match="queues"):
        client.delete_stream(StreamName="s", EnforceConsumerDeletion=True)
    call(client, "CreateStream", StreamName="p", ShardCount=1)
    with pytest.raises(ex.ValidationException, match="ON_DEMAND"):
        client.create_queue(QueueName="p", StreamConfigurationList=[{"StreamARN": arn.replace("/s", "/p")}])
    with pytest.raises(ex.ValidationException, match="exactly one"):
        client.create_queue(QueueName="x", StreamConfigurationList=[{"StreamARN": arn}, {"StreamARN": arn}])
    with pytest.raises(ex.ValidationException, match="MaxReceiveCount"):
        client.create_queue(QueueName="x", StreamConfigurationList=[{"StreamARN": arn}],
                            QueueAttributes={"DeadLetterConfiguration": {"TargetType": "BUILT_IN"}})
    with pytest.raises(ex.ValidationException):
        client.receive_queue_records(QueueARN=b, Limit=11)
    with pytest.raises(ex.ValidationException, match="not a queue ARN"):
        client.describe_queue(QueueARN=arn)
    with pytest.raises(ParamValidationError, match="WaitTimeSeconds"):
        client.receive_queue_records(QueueARN=b, WaitTimeSeconds=0)
    with pytest.raises(ParamValidationError, match="Entries"):
        client.acknowledge_queue_records(QueueARN=b, Entries=[])
    with pytest.raises(ParamValidationError, match="Missing required parameter"):
        client.describe_queue()

    call(client, "DeleteQueue", QueueARN=b)
    with pytest.raises(ex.ResourceNotFoundException):
        client.describe_queue(QueueARN=b)
    client.close()


def test_delivery_acknowledgement_and_dead_letters(data_dir: Path, clock: ManualClock) -> None:
    client = open_client(data_dir, clock)
    arn = on_demand(client, "s")
    q = new_queue(client, "q", arn, VisibilityTimeoutSeconds=10,
                  DeadLetterConfiguration={"TargetType": "BUILT_IN", "MaxReceiveCount": 2})
    sent = {f"r{i}".encode() for i in range(6)}
    call(client, "PutRecords", StreamName="s", Records=[{"Data": d, "PartitionKey": d.decode()} for d in sent])
    got = call(client, "ReceiveQueueRecords", QueueARN=q, Limit=4)["QueueRecords"]
    got += call(client, "ReceiveQueueRecords", QueueARN=q)["QueueRecords"]
    assert {r["Data"] for r in got} == sent
    assert all(r["ReceiveCount"] == 1 for r in got)
    acked = got[:2]
    out = call(client, "AcknowledgeQueueRecords", QueueARN=q,
               Entries=[{"ReceiptHandle": r["ReceiptHandle"]} for r in acked] + [{"ReceiptHandle": "junk"}])
    assert [e["ReceiptHandle"] for e in out["Successful"]] == [r["ReceiptHandle"] for r in acked]
    assert [(e["ReceiptHandle"], e["ErrorCode"]) for e in out["Failed"]] == [("junk", "InvalidArgumentException")]
    clock.advance_ms(10_000)
    again = call(client, "ReceiveQueueRecords", QueueARN=q)["QueueRecords"]
    remaining = sent - {r["Data"] for r in acked}
    assert {r["Data"] for r in again} == remaining
    assert all(r["ReceiveCount"] == 2 for r in again)
    # Extend one record's visibility; the rest become dead letters at their timeout.
    keep = again[0]
    call(client, "UpdateQueueRecordsVisibility", QueueARN=q,
         Entries=[{"ReceiptHandle": keep["ReceiptHandle"], "VisibilityTimeoutSeconds": 100}])
    clock.advance_ms(10_000)
    dead = call(client, "ReceiveDeadLetterQueueRecords", QueueARN=q)["QueueRecords"]
    assert {r["Data"] for r in dead} == remaining - {keep["Data"]}
    out = call(client, "RestoreDeadLetterQueueRecords", QueueARN=q, Entries=[{"ReceiptHandle": dead[0]["ReceiptHandle"]}])
    assert len(out["Successful"]) == 1
    out = call(client, "AcknowledgeDeadLetterQueueRecords", QueueARN=q,
               Entries=[{"ReceiptHandle": r["ReceiptHandle"]} for r in dead[1:]])
    assert len(out["Successful"]) == len(dead) - 1
    out = call(client, "UpdateDeadLetterQueueRecordsVisibility", QueueARN=q,
               Entries=[{"ReceiptHandle": dead[1]["ReceiptHandle"], "VisibilityTimeoutSeconds": 0}])
    assert out["Failed"][0]["ErrorCode"] == "ResourceNotFoundException"
    restored = call(client, "ReceiveQueueRecords", QueueARN=q)["QueueRecords"]
    assert [(r["Data"], r["ReceiveCount"]) for r in restored] == [(dead[0]["Data"], 1)]
    client.close()


def test_pythonic_api_and_restart(data_dir: Path, clock: ManualClock) -> None:
    with tidelog.open(data_dir, cores=1, durability="os", limits="unlimited", clock=clock) as engine:
        engine.create_stream("s", mode="ON_DEMAND")
        arn = engine.stream_arn("s")
        q = engine.create_queue("q", arn, starting_position="TRIM_HORIZON", visibility_timeout=20,
                                max_receive_count=3, tags={"a": "b"})
        assert isinstance(q, tidelog.QueueDescription)
        assert (q.status, q.visibility_timeout, q.dead_letter, q.max_receive_count) == ("CREATING", 20, "BUILT_IN", 3)
        for i in range(4):
            engine.put_record("s", f"k{i}", f"v{i}".encode())
        got = engine.receive_queue_records(q.arn, limit=10)
        assert sorted(r.data for r in got) == [b"v0", b"v1", b"v2", b"v3"]
        assert all(isinstance(r, tidelog.QueueRecord) and r.receive_count == 1 for r in got)
        result = engine.acknowledge_queue_records(q.arn, [got[0].receipt_handle, "bogus"])
        assert result.successful == [got[0].receipt_handle]
        assert [(f.receipt_handle, f.code) for f in result.failed] == [("bogus", "InvalidArgumentException")]
        vis = engine.update_queue_records_visibility(q.arn, {got[1].receipt_handle: 0})
        assert vis.successful == [got[1].receipt_handle]
        assert [r.data for r in engine.receive_queue_records(q.arn)] == [got[1].data]
        assert [d.name for d in engine.list_queues(arn)] == ["q"]
        with pytest.raises(tidelog.ValidationError):
            engine.receive_queue_records(q.arn, limit=0)
        with pytest.raises(ValueError):
            engine.create_queue("z", arn, dead_letter=False, max_receive_count=2)
        updated = engine.update_queue(q.arn, dead_letter=False)
        assert (updated.dead_letter, updated.max_receive_count) == ("NONE", None)
    with tidelog.open(data_dir, cores=1, durability="os", limits="unlimited", clock=clock) as engine:
        assert engine.describe_queue(q.arn).dead_letter == "NONE"
        assert engine.receive_queue_records(q.arn) == []
        clock.advance_ms(20_000)
        back = engine.receive_queue_records(q.arn)
        # The acknowledged record never comes back; the others do, counted.
        assert sorted(r.data for r in back) == sorted(r.data for r in got[1:])
        engine.delete_queue(q.arn)
        assert engine.list_queues() == []
        engine.delete_stream("s")
