"""CBOR 1.1 (what the Java SDKs and so the KCL send by default): the same calls in CBOR
and in JSON give the same answers; blobs are byte strings, timestamps tag 1 over epoch
milliseconds; errors come back in CBOR with AWS's names."""

from __future__ import annotations

import time

import cbor2

from conftest import Server
from wire import CBOR, Ms, call, call_cbor, call_json, cbor_loads, cbor_to_json_form


def test_read_calls_answer_alike(server: Server, kinesis, stream):
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"\x00\x01 json-put", ExplicitHashKey="0")
    status, _ = call_cbor(server.endpoint, "PutRecord",
                          {"StreamName": stream, "PartitionKey": "k", "Data": b"\xff\xfe cbor-put",
                           "ExplicitHashKey": "0"})
    assert status == 200
    kinesis.add_tags_to_stream(StreamName=stream, Tags={"a": "b"})
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="cbor")["Consumer"]["ConsumerARN"]
    for op, payload in [
        ("DescribeStreamConsumer", {"ConsumerARN": consumer}),
        ("ListStreamConsumers", {"StreamARN": arn}),
        ("ListTagsForResource", {"ResourceARN": arn}),
        ("DescribeLimits", {}),
        ("DescribeAccountSettings", {}),
        ("DescribeStreamSummary", {"StreamName": stream}),
        ("DescribeStream", {"StreamName": stream, "Limit": 1}),
        ("ListShards", {"StreamName": stream}),
        ("ListTagsForStream", {"StreamName": stream}),
        ("ListStreams", {"Limit": 5}),
    ]:
        s1, as_json = call_json(server.endpoint, op, payload)
        s2, as_cbor = call_cbor(server.endpoint, op, payload)
        assert s1 == s2 == 200
        if op == "ListStreams":
            as_json.pop("NextToken", None)
            as_cbor.pop("NextToken", None)
        assert cbor_to_json_form(as_cbor) == as_json, op

    _, it = call_json(server.endpoint, "GetShardIterator",
                      {"StreamName": stream, "ShardId": "shardId-000000000000",
                       "ShardIteratorType": "TRIM_HORIZON"})
    _, from_json = call_json(server.endpoint, "GetRecords", {"ShardIterator": it["ShardIterator"]})
    _, from_cbor = call_cbor(server.endpoint, "GetRecords", {"ShardIterator": it["ShardIterator"]})
    for answer in (from_json, from_cbor):
        answer.pop("NextShardIterator")
        answer.pop("MillisBehindLatest")
    assert cbor_to_json_form(from_cbor) == from_json
    records = from_cbor["Records"]
    assert [r["Data"] for r in records] == [b"\x00\x01 json-put", b"\xff\xfe cbor-put"]
    stamp = records[0]["ApproximateArrivalTimestamp"]
    assert isinstance(stamp, Ms) and abs(stamp / 1000 - time.time()) < 120


def test_timestamps_in_requests_are_milliseconds(server: Server, kinesis, stream):
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"x", ExplicitHashKey="0")
    past = cbor2.CBORTag(1, int((time.time() - 600) * 1000))
    future = int((time.time() + 600) * 1000)  # untagged integers work too
    for stamp, expected in ((past, 1), (future, 0)):
        _, it = call_cbor(server.endpoint, "GetShardIterator",
                          {"StreamName": stream, "ShardId": "shardId-000000000000",
                           "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": stamp})
        _, out = call_cbor(server.endpoint, "GetRecords", {"ShardIterator": it["ShardIterator"]})
        assert len(out["Records"]) == expected


def test_errors_alike(server: Server, stream):
    for op, payload in [
        ("DescribeStream", {"StreamName": "missing-stream"}),
        ("CreateStream", {"StreamName": "bad name!", "ShardCount": 1}),
        ("CreateStream", {"StreamName": "x", "ShardCount": "three"}),
        ("PutRecord", {"StreamName": stream, "PartitionKey": "k"}),
        ("GetShardIterator", {"StreamName": stream, "ShardId": "shardId-000000000000",
                              "ShardIteratorType": "SIDEWAYS"}),
    ]:
        s1, as_json = call_json(server.endpoint, op, payload)
        s2, as_cbor = call_cbor(server.endpoint, op, payload)
        assert s1 == s2 == 400, (op, as_json)
        assert as_json == as_cbor, op
    _, body = call_json(server.endpoint, "CreateStream", {"StreamName": "x", "ShardCount": "three"})
    assert body["__type"] == "SerializationException" and "Message" in body


def test_malformed_cbor_is_a_serialization_error(server: Server, stream):
    whole = cbor2.dumps({"StreamName": stream, "PartitionKey": "k", "Data": b"x" * 100})
    for cut in (1, 5, len(whole) // 2, len(whole) - 1):
        r = call(server.endpoint, "PutRecord", whole[:cut], CBOR)
        assert r.status_code == 400
        body = cbor_loads(r.content)
        assert body["__type"] == "SerializationException", cut
    # Nesting deeper than the limit, and a list where a map must be.
    r = call(server.endpoint, "ListStreams", b"\x81" * 1000 + b"\x01", CBOR)
    assert cbor_loads(r.content)["__type"] == "SerializationException"
    r = call(server.endpoint, "ListStreams", cbor2.dumps([1, 2]), CBOR)
    assert cbor_loads(r.content)["__type"] == "SerializationException"
