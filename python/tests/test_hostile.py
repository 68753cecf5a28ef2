"""Hostile input from Python, through both the Pythonic API and the boto3-style client:
names that try to leave the data directory, NUL bytes and strings that are not valid
UTF-8, forged and oversized iterators, endless iterables and huge counts. Every call
must raise a clear, typed error, and the data directory must be left byte for byte as
it was (spare segments, prepared in the background, aside)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tidelog
from tidelog.kinesis import ParamValidationError

BAD_NAMES = [
    "",
    ".",
    "..",
    "../escape",
    "a/../../b",
    "/etc/passwd",
    "a\x00b",
    "line\nbreak",
    "ünïcode",
    "x" * 129,
    " s",
]
NOT_UTF8 = ["\udcff", "a\ud800b"]  # lone surrogates: no UTF-8 encoding exists
SHARD = "shardId-000000000000"


def snapshot(root: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_dir():
            out[rel] = None
        elif path.suffix != ".spare":
            out[rel] = path.read_bytes()
    return out


def assert_unchanged(before: dict[str, bytes | None], root: Path) -> None:
    after = snapshot(root)
    assert set(after) == set(before), f"added {set(after) - set(before)}, removed {set(before) - set(after)}"
    changed = [k for k in before if before[k] != after[k]]
    assert not changed, f"changed: {changed}"


@pytest.fixture
def seeded(engine: tidelog.Engine, data_dir: Path) -> tuple[tidelog.Engine, Path]:
    engine.create_stream("s", 2)
    for i in range(20):
        engine.put_record("s", f"key-{i}", f"value-{i}".encode())
    engine.flush()
    return engine, data_dir


def name_calls(engine: tidelog.Engine, name: Any) -> list[tuple[str, Callable[[], object]]]:
    return [
        ("create_stream", lambda: engine.create_stream(name, 1)),
        ("delete_stream", lambda: engine.delete_stream(name)),
        ("describe_stream", lambda: engine.describe_stream(name)),
        ("describe_stream_summary", lambda: engine.describe_stream_summary(name)),
        ("list_shards", lambda: engine.list_shards(name)),
        ("put_record", lambda: engine.put_record(name, "k", b"x")),
        ("put_records", lambda: engine.put_records(name, [("k", b"x")])),
        ("get_shard_iterator", lambda: engine.get_shard_iterator(name, SHARD)),
        ("read", lambda: engine.read(name, SHARD)),
        ("subscribe", lambda: engine.subscribe(name, SHARD)),
        ("split_shard", lambda: engine.split_shard(name, SHARD, 1)),
        ("merge_shards", lambda: engine.merge_shards(name, SHARD, "shardId-000000000001")),
        ("update_shard_count", lambda: engine.update_shard_count(name, 2)),
        ("add_tags_to_stream", lambda: engine.add_tags_to_stream(name, {"k": "v"})),
        ("remove_tags_from_stream", lambda: engine.remove_tags_from_stream(name, ["k"])),
        ("list_tags_for_stream", lambda: engine.list_tags_for_stream(name)),
        ("increase_stream_retention_period", lambda: engine.increase_stream_retention_period(name, 48)),
        ("decrease_stream_retention_period", lambda: engine.decrease_stream_retention_period(name, 24)),
        ("metrics", lambda: engine.metrics(name)),
        ("stream_metrics_total", lambda: engine.stream_metrics_total(name)),
    ]


def test_hostile_names_everywhere(seeded: tuple[tidelog.Engine, Path]) -> None:
    engine, data_dir = seeded
    before = snapshot(data_dir)
    for name in BAD_NAMES:
        for call_name, call in name_calls(engine, name):
            with pytest.raises(tidelog.ValidationError, match="stream name") as info:
                call()
            assert info.value.kinesis_name == "ValidationException", (call_name, name)
    for name in NOT_UTF8:
        for call_name, call in name_calls(engine, name):
            with pytest.raises(UnicodeEncodeError):
                call()
    for name in [b"s", None, 5, ["s"]]:
        for call_name, call in name_calls(engine, name):
            if name is None and call_name == "metrics":
                continue  # metrics(None) means every stream
            with pytest.raises(TypeError):
                call()
    assert_unchanged(before, data_dir)
    assert engine.list_streams() == ["s"]
    assert sorted(p.name for p in data_dir.parent.iterdir()) == ["data"]


def test_hostile_shard_ids_keys_and_iterators(seeded: tidelog.Engine | Any) -> None:
    engine, data_dir = seeded
    before = snapshot(data_dir)
    for shard in ["", "shard-0", "shardId-0", "../shardId-000000000000", "shardId-000000000000\x00", "ＳhardId-000000000000"]:
        for call in (
            lambda: engine.get_shard_iterator("s", shard),
            lambda: engine.subscribe("s", shard),
            lambda: engine.split_shard("s", shard, 1),
            lambda: engine.merge_shards("s", shard, "shardId-000000000001"),
        ):
            with pytest.raises(tidelog.ValidationError, match="not a shard id"):
                call()
    with pytest.raises(tidelog.ResourceNotFoundError, match="shardId-999999999999"):
        engine.get_shard_iterator("s", "shardId-999999999999")
    for key in ["", "k" * 257]:
        with pytest.raises(tidelog.ValidationError, match="partition key"):
            engine.put_record("s", key, b"x")
    with pytest.raises(UnicodeEncodeError):
        engine.put_record("s", "\udcff", b"x")
    for hash_key in ["-1", "0x10", "1e3", str(2**128), "１"]:
        with pytest.raises(tidelog.ValidationError, match="hash key"):
            engine.put_record("s", "k", b"x", explicit_hash_key=hash_key)
    with pytest.raises(tidelog.ValidationError, match="hash key"):
        engine.put_record("s", "k", b"x", explicit_hash_key=2**128)
    iterator = engine.get_shard_iterator("s", SHARD)
    forged = [
        "",
        "x",
        iterator[:-2],
        iterator + "0",
        iterator[:10] + ("0" if iterator[10] != "0" else "1") + iterator[11:],
        iterator.upper(),
        "0" * len(iterator),
        "A" * (10 << 20),
    ]
    for token in forged:
        with pytest.raises(tidelog.InvalidArgumentError, match="shard iterator"):
            engine.get_records(token)
    with pytest.raises(UnicodeEncodeError):
        engine.get_records(iterator[:-1] + "\udcff")
    for limit in [0, 10_001]:
        with pytest.raises(tidelog.ValidationError, match="limit"):
            engine.get_records(iterator, limit=limit)
    for limit in [-1, 2**64]:
        with pytest.raises(ValueError, match="limit"):
            engine.get_records(iterator, limit=limit)
    assert len(engine.get_records(iterator)) > 0  # the real one still works
    assert_unchanged(before, data_dir)


def test_huge_counts_and_endless_iterables(seeded: tidelog.Engine | Any) -> None:
    engine, data_dir = seeded
    before = snapshot(data_dir)
    # Refused after 501 entries, not drained (this generator never ends).
    endless = itertools.repeat(("k", b"x"))
    with pytest.raises(tidelog.ValidationError, match="more than 500"):
        engine.put_records("s", endless)
    with pytest.raises(tidelog.ValidationError, match="PutRecords"):
        engine.put_records("s", [])
    with pytest.raises(tidelog.ValidationError, match="at most 50 keys"):
        engine.remove_tags_from_stream("s", (f"k{i}" for i in itertools.count()))
    for count in [2**32, 2**100]:
        with pytest.raises(ValueError, match="shard_count"):
            engine.create_stream("t", count)
    with pytest.raises(tidelog.ValidationError, match="shard count"):
        engine.create_stream("t", 10_001)
    for hours in [0, 23, 8761]:
        with pytest.raises(tidelog.InvalidArgumentError, match="retention"):
            engine.increase_stream_retention_period("s", hours)
    with pytest.raises(ValueError):
        engine.increase_stream_retention_period("s", 2**40)
    with pytest.raises(tidelog.ValidationError, match="tag"):
        engine.add_tags_to_stream("s", {"aws:owner": "me"})
    with pytest.raises(tidelog.LimitExceededError, match="tags"):
        engine.add_tags_to_stream("s", {f"k{i}": "" for i in range(51)})
    with pytest.raises(tidelog.ValidationError, match="1048576-byte limit"):
        engine.put_record("s", "k", memoryview(bytearray(1 << 20)))
    assert_unchanged(before, data_dir)


def test_hostile_input_through_the_client(data_dir: Path) -> None:
    client = tidelog.client(data_dir, cores=1, durability="os", limits="unlimited")
    try:
        client.create_stream(StreamName="s", ShardCount=1)
        client.put_record(StreamName="s", PartitionKey="k", Data=b"x")
        before = snapshot(data_dir)
        for name in ["..", "../escape", "a\x00b", "/etc/passwd", "a/b"]:
            for call in (
                lambda: client.create_stream(StreamName=name, ShardCount=1),
                lambda: client.delete_stream(StreamName=name),
                lambda: client.describe_stream(StreamName=name),
                lambda: client.put_record(StreamName=name, PartitionKey="k", Data=b"x"),
                lambda: client.get_shard_iterator(StreamName=name, ShardId=SHARD, ShardIteratorType="LATEST"),
            ):
                with pytest.raises((client.exceptions.ClientError, ParamValidationError)) as info:
                    call()
                if isinstance(info.value, client.exceptions.ClientError):
                    assert info.value.response["Error"]["Code"] == "ValidationException"
        with pytest.raises(client.exceptions.ClientError) as err:
            client.get_records(ShardIterator="AAAA" * 100)
        assert err.value.response["Error"]["Code"] == "InvalidArgumentException"
        with pytest.raises(client.exceptions.ClientError) as err:
            client.put_records(StreamName="s", Records=[{"PartitionKey": "k", "Data": b"x"}] * 501)
        assert err.value.response["Error"]["Code"] == "ValidationException"
        with pytest.raises(ParamValidationError, match="valid min value: 1"):
            client.create_stream(StreamName="t", ShardCount=-1)
        with pytest.raises(ParamValidationError, match="valid min length: 1"):
            client.describe_stream(StreamName="")
        with pytest.raises(client.exceptions.ClientError) as err:
            client.create_stream(StreamName="t", ShardCount=2**40)
        assert err.value.response["Error"]["Code"] == "ValidationException"
        with pytest.raises(UnicodeEncodeError):
            client.describe_stream(StreamName="\udcff")
        assert_unchanged(before, data_dir)
    finally:
        client.close()
