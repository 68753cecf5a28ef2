"""boto3 through the Kinesis queue operations: CreateQueue, DescribeQueue, ListQueues
(paging, StreamFilter), UpdateQueue, DeleteQueue, ReceiveQueueRecords (long polling),
AcknowledgeQueueRecords, UpdateQueueRecordsVisibility and the dead-letter calls; the
stream rules (ON_DEMAND only, no DeleteStream while queues exist); CBOR answers alike.
The server runs on the real clock, so nothing here waits for a visibility timeout:
timeouts of 0 make records visible at once."""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

from conftest import Server
from wire import call_cbor, call_json, cbor_to_json_form

_names = iter(range(1_000_000))


def code(e: ClientError) -> str:
    return e.response["Error"]["Code"]


def on_demand_stream(kinesis) -> tuple[str, str]:
    name = f"queued-{next(_names)}"
    kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return name, arn


def create_queue(kinesis, name: str, stream_arn: str, start: str = "TRIM_HORIZON", **attributes) -> str:
    out = kinesis.create_queue(
        QueueName=name,
        StreamConfigurationList=[{"StreamARN": stream_arn, "StartingPosition": {"Type": start}}],
        QueueAttributes=attributes or {"VisibilityTimeoutSeconds": 30},
    )["QueueDescription"]
    assert out["QueueName"] == name and out["QueueStatus"] in ("CREATING", "ACTIVE")
    return out["QueueARN"]


def drop(kinesis, stream: str, *queues: str) -> None:
    for q in queues:
        kinesis.delete_queue(QueueARN=q)
    kinesis.delete_stream(StreamName=stream)


def test_receive_acknowledge_and_redeliver(kinesis):
    stream, arn = on_demand_stream(kinesis)
    q = create_queue(kinesis, f"work-{next(_names)}", arn)
    described = kinesis.describe_queue(QueueARN=q)["QueueDescription"]
    assert described["QueueStatus"] == "ACTIVE"
    assert described["StreamConfigurationList"][0]["StreamARN"] == arn
    assert described["StreamConfigurationList"][0]["StartingPosition"]["Type"] == "TRIM_HORIZON"
    assert described["QueueAttributes"] == {
        "VisibilityTimeoutSeconds": 30,
        "DeadLetterConfiguration": {"TargetType": "BUILT_IN", "MaxReceiveCount": 6},
    }
    sent = {f"record-{i}".encode() for i in range(14)}
    kinesis.put_records(StreamName=stream, Records=[{"Data": d, "PartitionKey": d.decode()} for d in sent])

    got = kinesis.receive_queue_records(QueueARN=q, Limit=10, WaitTimeSeconds=1)["QueueRecords"]
    assert len(got) == 10
    got += kinesis.receive_queue_records(QueueARN=q, Limit=10, WaitTimeSeconds=1)["QueueRecords"]
    assert {r["Data"] for r in got} == sent
    assert all(r["ReceiveCount"] == 1 and r["PartitionKey"] == r["Data"].decode() for r in got)
    assert len({r["RecordId"] for r in got}) == 14
    # All in flight now.
    assert kinesis.receive_queue_records(QueueARN=q, WaitTimeSeconds=1)["QueueRecords"] == []

    acked, rest = got[:10], got[10:]
    out = kinesis.acknowledge_queue_records(QueueARN=q, Entries=[{"ReceiptHandle": r["ReceiptHandle"]} for r in acked])
    assert [e["ReceiptHandle"] for e in out["Successful"]] == [r["ReceiptHandle"] for r in acked]
    assert out["Failed"] == []
    # The rest made visible at once, redelivered with a count of 2; acknowledged ones never.
    out = kinesis.update_queue_records_visibility(
        QueueARN=q, Entries=[{"ReceiptHandle": r["ReceiptHandle"], "VisibilityTimeoutSeconds": 0} for r in rest])
    assert len(out["Successful"]) == len(rest)
    again = kinesis.receive_queue_records(QueueARN=q, WaitTimeSeconds=1)["QueueRecords"]
    assert {r["Data"] for r in again} == {r["Data"] for r in rest}
    assert all(r["ReceiveCount"] == 2 for r in again)
    assert {r["RecordId"] for r in again} == {r["RecordId"] for r in rest}

    # Per-entry failures: a stale handle (redelivered since), a tampered one, garbage.
    stale = rest[0]["ReceiptHandle"]
    tampered = again[0]["ReceiptHandle"][:-1] + ("0" if again[0]["ReceiptHandle"][-1] != "0" else "1")
    out = kinesis.acknowledge_queue_records(
        QueueARN=q, Entries=[{"ReceiptHandle": h} for h in (stale, tampered, "nonsense", again[1]["ReceiptHandle"])])
    assert [e["ReceiptHandle"] for e in out["Successful"]] == [again[1]["ReceiptHandle"]]
    assert [(e["ReceiptHandle"], e["ErrorCode"]) for e in out["Failed"]] == [
        (stale, "InvalidArgumentException"), (tampered, "InvalidArgumentException"),
        ("nonsense", "InvalidArgumentException")]
    assert all(e["ErrorMessage"] for e in out["Failed"])

    # A stream with queues is not deleted; DeleteQueue makes its handles unusable.
    with pytest.raises(ClientError) as refused:
        kinesis.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)
    assert code(refused.value) == "ResourceInUseException"
    kinesis.delete_queue(QueueARN=q)
    for call in (lambda: kinesis.describe_queue(QueueARN=q),
                 lambda: kinesis.acknowledge_queue_records(QueueARN=q, Entries=[{"ReceiptHandle": stale}])):
        with pytest.raises(ClientError) as gone:
            call()
        assert code(gone.value) == "ResourceNotFoundException"
    kinesis.delete_stream(StreamName=stream)


def test_dead_letters_restore_and_acknowledge(kinesis):
    stream, arn = on_demand_stream(kinesis)
    q = create_queue(kinesis, f"dlq-{next(_names)}", arn, VisibilityTimeoutSeconds=0,
                     DeadLetterConfiguration={"TargetType": "BUILT_IN", "MaxReceiveCount": 1})
    kinesis.put_records(StreamName=stream, Records=[{"Data": b"poison", "PartitionKey": "a"},
                                                    {"Data": b"also", "PartitionKey": "b"}])
    first = kinesis.receive_queue_records(QueueARN=q, WaitTimeSeconds=1)["QueueRecords"]
    assert sorted(r["Data"] for r in first) == [b"also", b"poison"]
    # Received once (the maximum) and visible again at once: dead letters now.
    assert kinesis.receive_queue_records(QueueARN=q, WaitTimeSeconds=1)["QueueRecords"] == []
    dead = kinesis.receive_dead_letter_queue_records(QueueARN=q, WaitTimeSeconds=1,
                                                     VisibilityTimeoutSeconds=600)["QueueRecords"]
    assert sorted(r["Data"] for r in dead) == [b"also", b"poison"]
    assert all(r["ReceiveCount"] == 2 for r in dead)
    by_data = {r["Data"]: r for r in dead}
    # A normal handle is refused by the dead-letter calls.
    out = kinesis.acknowledge_dead_letter_queue_records(QueueARN=q, Entries=[{"ReceiptHandle": first[0]["ReceiptHandle"]}])
    assert out["Failed"][0]["ErrorCode"] == "InvalidArgumentException"
    out = kinesis.acknowledge_dead_letter_queue_records(
        QueueARN=q, Entries=[{"ReceiptHandle": by_data[b"poison"]["ReceiptHandle"]}])
    assert len(out["Successful"]) == 1
    out = kinesis.update_dead_letter_queue_records_visibility(
        QueueARN=q, Entries=[{"ReceiptHandle": by_data[b"also"]["ReceiptHandle"], "VisibilityTimeoutSeconds": 0}])
    assert len(out["Successful"]) == 1
    again = kinesis.receive_dead_letter_queue_records(QueueARN=q, WaitTimeSeconds=1)["QueueRecords"]
    assert [r["Data"] for r in again] == [b"also"]
    out = kinesis.restore_dead_letter_queue_records(QueueARN=q, Entries=[{"ReceiptHandle": again[0]["ReceiptHandle"]}])
    assert len(out["Successful"]) == 1
    back = kinesis.receive_queue_records(QueueARN=q, WaitTimeSeconds=1, VisibilityTimeoutSeconds=600)["QueueRecords"]
    assert [(r["Data"], r["ReceiveCount"]) for r in back] == [(b"also", 1)]
    kinesis.acknowledge_queue_records(QueueARN=q, Entries=[{"ReceiptHandle": back[0]["ReceiptHandle"]}])
    drop(kinesis, stream, q)


def test_long_poll_returns_a_record_put_while_waiting(kinesis, server: Server):
    stream, arn = on_demand_stream(kinesis)
    q = create_queue(kinesis, f"poll-{next(_names)}", arn, start="LATEST")
    answer: list[list[dict]] = []
    waiter_client = server.client(read_timeout=60)
    waiter = threading.Thread(target=lambda: answer.append(
        waiter_client.receive_queue_records(QueueARN=q, WaitTimeSeconds=20)["QueueRecords"]))
    waiter.start()
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"wake up")
    waiter.join()
    assert [r["Data"] for r in answer[0]] == [b"wake up"]
    drop(kinesis, stream, q)


def test_list_update_tags_and_rules(kinesis):
    stream, arn = on_demand_stream(kinesis)
    other, other_arn = on_demand_stream(kinesis)
    prefix = f"list-{next(_names)}"
    queues = {create_queue(kinesis, f"{prefix}-{i}", arn if i % 2 == 0 else other_arn) for i in range(5)}
    paged = [s for page in kinesis.get_paginator("list_queues").paginate(PaginationConfig={"PageSize": 2})
             for s in page["QueueSummaries"]] if kinesis.can_paginate("list_queues") else None
    if paged is None:
        paged, token = [], None
        while True:
            kwargs = {"MaxResults": 2} | ({"NextToken": token} if token else {})
            page = kinesis.list_queues(**kwargs)
            assert len(page["QueueSummaries"]) <= 2
            paged += page["QueueSummaries"]
            token = page.get("NextToken")
            if not token:
                break
    mine = [s for s in paged if s["QueueName"].startswith(prefix)]
    assert [s["QueueName"] for s in mine] == [f"{prefix}-{i}" for i in range(5)]
    assert {s["QueueARN"] for s in mine} == queues
    assert all(s["Streams"][0]["StreamARN"] in (arn, other_arn) for s in mine)
    summary = kinesis.describe_stream_summary(StreamName=other)["StreamDescriptionSummary"]
    assert (summary["QueueCount"], summary["ConsumerCount"]) == (2, 0)
    filtered = kinesis.list_queues(StreamFilter=[{"StreamARN": other_arn}])["QueueSummaries"]
    assert sorted(s["QueueName"] for s in filtered) == [f"{prefix}-1", f"{prefix}-3"]
    created = filtered[0]["Streams"][0]["StreamCreationTimestamp"]
    again = kinesis.list_queues(StreamFilter=[{"StreamARN": other_arn, "StreamCreationTimestamp": created}])
    assert len(again["QueueSummaries"]) == 2

    one = filtered[0]["QueueARN"]
    updated = kinesis.update_queue(QueueARN=one, QueueAttributes={
        "VisibilityTimeoutSeconds": 5, "DeadLetterConfiguration": {"TargetType": "NONE"}})["QueueDescription"]
    assert updated["QueueAttributes"] == {"VisibilityTimeoutSeconds": 5,
                                          "DeadLetterConfiguration": {"TargetType": "NONE"}}
    kinesis.tag_resource(ResourceARN=one, Tags={"team": "q"})
    assert kinesis.list_tags_for_resource(ResourceARN=one)["Tags"] == [{"Key": "team", "Value": "q"}]

    # Errors with AWS's names.
    provisioned = f"prov-{next(_names)}"
    kinesis.create_stream(StreamName=provisioned, ShardCount=1)
    prov_arn = kinesis.describe_stream_summary(StreamName=provisioned)["StreamDescriptionSummary"]["StreamARN"]
    cases = [
        (lambda: create_queue(kinesis, "p", prov_arn), "ValidationException"),
        (lambda: create_queue(kinesis, f"{prefix}-0", arn), "ResourceInUseException"),
        (lambda: kinesis.describe_queue(QueueARN=one[:-16] + "0" * 16), "ResourceNotFoundException"),
        (lambda: kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "PROVISIONED"}),
         "ResourceInUseException"),
    ]
    for run, expected in cases:
        with pytest.raises(ClientError) as e:
            run()
        assert code(e.value) == expected
    kinesis.delete_stream(StreamName=provisioned)
    for q in queues:
        kinesis.delete_queue(QueueARN=q)
    kinesis.delete_stream(StreamName=stream)
    kinesis.delete_stream(StreamName=other)


def test_cbor_answers_like_json(server: Server, kinesis):
    stream, arn = on_demand_stream(kinesis)
    q = create_queue(kinesis, f"cbor-{next(_names)}", arn)
    for op, payload in [("DescribeQueue", {"QueueARN": q}),
                        ("ListQueues", {"StreamFilter": [{"StreamARN": arn}]})]:
        s1, as_json = call_json(server.endpoint, op, payload)
        s2, as_cbor = call_cbor(server.endpoint, op, payload)
        assert s1 == s2 == 200
        assert cbor_to_json_form(as_cbor) == as_json, op
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"\x00\xffbinary")
    status, got = call_cbor(server.endpoint, "ReceiveQueueRecords", {"QueueARN": q, "WaitTimeSeconds": 1})
    assert status == 200
    [record] = got["QueueRecords"]
    assert record["Data"] == b"\x00\xffbinary"
    status, out = call_cbor(server.endpoint, "AcknowledgeQueueRecords",
                            {"QueueARN": q, "Entries": [{"ReceiptHandle": record["ReceiptHandle"]}, {"ReceiptHandle": "x"}]})
    assert status == 200
    assert [e["ReceiptHandle"] for e in out["Successful"]] == [record["ReceiptHandle"]]
    assert out["Failed"][0]["ErrorCode"] == "InvalidArgumentException"
    status, err = call_cbor(server.endpoint, "ReceiveQueueRecords", {"QueueARN": q, "Limit": 11})
    assert status == 400 and "ValidationException" in str(err)
    drop(kinesis, stream, q)
