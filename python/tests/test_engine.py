"""The Pythonic API: every operation of tidelog.Engine against real engines."""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import tidelog
from tidelog.testing import ManualClock

from conftest import only_shard

HASH_MAX = 2**128 - 1


def test_open_close_and_context_manager(data_dir: Path) -> None:
    engine = tidelog.open(data_dir, cores=1, durability="os")
    assert not engine.closed
    assert engine.path == str(data_dir)
    assert engine.cores == 1
    assert engine.durability == "os"
    assert engine.limits == tidelog.Limits.kinesis()
    assert engine.record_bytes_max == 10 << 20  # the ceiling; each stream starts at 1 MiB
    engine.create_stream("s", 1)
    engine.close()
    engine.close()  # idempotent
    assert engine.closed
    with pytest.raises(tidelog.ClosedError):
        engine.list_streams()
    with tidelog.open(data_dir, cores=1) as again:
        assert again.list_streams() == ["s"]  # the catalog survived the reopen
        assert again.durability == "sync"
    assert again.closed


def test_engine_options(data_dir: Path) -> None:
    limits = dataclasses.replace(tidelog.Limits.kinesis(), write_records_per_sec=7, read_calls_per_sec=None)
    with tidelog.open(
        data_dir,
        cores=1,
        limits=limits,
        retention_hours_min=1,
        retention_hours_default=2,
        max_shards=3,
        record_bytes_max=2048,
        sync_driver="blocking",
        pin_cores=False,
    ) as engine:
        assert engine.limits == limits
        assert engine.record_bytes_max == 2048
        engine.create_stream("s", 3)
        assert engine.describe_stream("s").retention_hours == 2
        with pytest.raises(tidelog.LimitExceededError, match="open shards"):
            engine.create_stream("t", 1)
    with tidelog.open(data_dir / "u", cores=1, limits="unlimited") as engine:
        assert engine.limits == tidelog.Limits.unlimited()
        assert engine.limits.write_bytes_per_sec is None


def test_limits_round_trip() -> None:
    kinesis = tidelog.Limits.kinesis()
    assert kinesis.write_bytes_per_sec == 1 << 20 and kinesis.read_calls_per_sec == 5
    assert tidelog.Limits.from_dict(kinesis.to_dict()) == kinesis


def test_streams_create_list_describe_delete(engine: tidelog.Engine) -> None:
    engine.create_stream("b-stream", 3)
    engine.create_stream("a.stream", 1)
    assert engine.list_streams() == ["a.stream", "b-stream"]
    d = engine.describe_stream("b-stream")
    assert isinstance(d, tidelog.StreamDescription)
    assert (d.name, d.status, d.retention_hours, d.tags) == ("b-stream", "ACTIVE", 24, {})
    assert d.created.tzinfo is not None
    assert abs(datetime.now(timezone.utc) - d.created) < timedelta(minutes=5)
    assert [s.shard_id for s in d.shards] == [f"shardId-{i:012}" for i in range(3)]
    # An even split of [0, 2^128 - 1].
    assert d.shards[0].starting_hash_key == 0
    assert d.shards[-1].ending_hash_key == HASH_MAX
    for left, right in zip(d.shards, d.shards[1:]):
        assert left.ending_hash_key + 1 == right.starting_hash_key
    for s in d.shards:
        assert s.is_open and s.state == "OPEN" and s.ending_sequence_number is None
        assert s.parent_shard_id is None and s.adjacent_parent_shard_id is None
        assert re.fullmatch(r"\d+", s.starting_sequence_number)
    assert d.open_shards == d.shards
    summary = engine.describe_stream_summary("b-stream")
    assert (summary.name, summary.open_shard_count, summary.consumer_count) == ("b-stream", 3, 0)
    assert summary.stream_id == d.stream_id and summary.created == d.created
    engine.delete_stream("b-stream")
    assert engine.list_streams() == ["a.stream"]
    with pytest.raises(tidelog.ResourceNotFoundError):
        engine.describe_stream("b-stream")


def test_list_shards_filters(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 2)
    engine.split_shard("s", "shardId-000000000000", 2**126)
    all_ids = [s.shard_id for s in engine.list_shards("s")]
    assert all_ids == [f"shardId-{i:012}" for i in range(4)]
    assert [s.shard_id for s in engine.list_shards("s", filter="at_trim_horizon")] == all_ids
    assert [s.shard_id for s in engine.list_shards("s", filter="from_trim_horizon")] == all_ids
    latest = [s.shard_id for s in engine.list_shards("s", filter="at_latest")]
    assert latest == ["shardId-000000000001", "shardId-000000000002", "shardId-000000000003"]
    after = engine.list_shards("s", filter="after_shard_id", after_shard_id="shardId-000000000001")
    assert [s.shard_id for s in after] == ["shardId-000000000002", "shardId-000000000003"]
    now = engine.list_shards("s", filter="at_timestamp", timestamp=datetime.now(timezone.utc) + timedelta(hours=1))
    assert [s.shard_id for s in now] == latest
    with pytest.raises(ValueError, match="unknown shard filter"):
        engine.list_shards("s", filter="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timestamp"):
        engine.list_shards("s", filter="at_timestamp")
    with pytest.raises(tidelog.ValidationError, match="not a shard id"):
        engine.list_shards("s", filter="after_shard_id", after_shard_id="shard-1")


def test_split_merge_and_lineage(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    before = engine.put_record("s", "k", b"before the split")
    engine.split_shard("s", "shardId-000000000000", str(2**127))
    d = engine.describe_stream("s")
    parent, left, right = d.shards
    assert parent.state == "CLOSED" and parent.ending_sequence_number is not None
    assert int(parent.ending_sequence_number) >= int(before.sequence_number)
    assert (left.parent_shard_id, right.parent_shard_id) == (parent.shard_id, parent.shard_id)
    assert (left.starting_hash_key, left.ending_hash_key) == (0, 2**127 - 1)
    assert (right.starting_hash_key, right.ending_hash_key) == (2**127, HASH_MAX)
    # Reading the closed parent to its end reports the children.
    batch = engine.read("s", parent.shard_id)
    assert [bytes(r.data) for r in batch] == [b"before the split"]
    assert batch.next_iterator is None
    assert sorted(c["shard_id"] for c in batch.child_shards) == [left.shard_id, right.shard_id]
    assert all(c["parent_shards"] == [parent.shard_id] for c in batch.child_shards)
    engine.merge_shards("s", left.shard_id, right.shard_id)
    merged = engine.describe_stream("s").shards[-1]
    assert merged.parent_shard_id == left.shard_id
    assert merged.adjacent_parent_shard_id == right.shard_id
    assert (merged.starting_hash_key, merged.ending_hash_key) == (0, HASH_MAX)
    # A closed shard cannot be split again.
    with pytest.raises(tidelog.InvalidArgumentError, match="closed"):
        engine.split_shard("s", left.shard_id, 5)
    with pytest.raises(tidelog.InvalidArgumentError, match="not adjacent"):
        engine.create_stream("t", 3)
        engine.merge_shards("t", "shardId-000000000000", "shardId-000000000002")
    with pytest.raises(tidelog.InvalidArgumentError, match="outside the range"):
        engine.split_shard("t", "shardId-000000000000", HASH_MAX)


def test_update_shard_count(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 2)
    assert engine.update_shard_count("s", 4) == tidelog.ShardCountUpdate(2, 4)
    assert engine.describe_stream_summary("s").open_shard_count == 4
    assert engine.update_shard_count("s", 3) == tidelog.ShardCountUpdate(4, 3)
    assert len(engine.list_shards("s", filter="at_latest")) == 3
    with pytest.raises(tidelog.InvalidArgumentError, match="half to double"):
        engine.update_shard_count("s", 7)
    with pytest.raises(tidelog.ValidationError):
        engine.update_shard_count("s", 0)


def test_retention_increase_decrease_and_expiry(data_dir: Path, clock: ManualClock) -> None:
    with tidelog.open(data_dir, cores=1, durability="os", limits="unlimited", clock=clock,
                      retention_hours_min=1) as engine:
        engine.create_stream("s", 1)
        shard = only_shard(engine, "s")
        engine.put_record("s", "k", b"old")
        engine.increase_stream_retention_period("s", 48)
        assert engine.describe_stream("s").retention_hours == 48
        with pytest.raises(tidelog.InvalidArgumentError, match="increase"):
            engine.increase_stream_retention_period("s", 30)
        with pytest.raises(tidelog.InvalidArgumentError, match="maximum"):
            engine.increase_stream_retention_period("s", 8761)
        clock.advance_ms(2 * 3_600_000)
        engine.put_record("s", "k", b"new")
        assert [bytes(r.data) for r in engine.read("s", shard)] == [b"old", b"new"]
        engine.decrease_stream_retention_period("s", 1)
        # The old record is now past retention: unreadable at once.
        assert [bytes(r.data) for r in engine.read("s", shard)] == [b"new"]
        with pytest.raises(tidelog.InvalidArgumentError, match="decrease"):
            engine.decrease_stream_retention_period("s", 2)
        with pytest.raises(tidelog.InvalidArgumentError, match="minimum"):
            engine.decrease_stream_retention_period("s", 0)
        assert isinstance(engine.run_maintenance(), tidelog.MaintenanceReport)
        engine.flush()


def test_expire_closed_shards(data_dir: Path, clock: ManualClock) -> None:
    with tidelog.open(data_dir, cores=1, durability="os", limits="unlimited", clock=clock,
                      retention_hours_min=1, retention_hours_default=1) as engine:
        engine.create_stream("s", 1)
        engine.put_record("s", "k", b"x")
        engine.split_shard("s", "shardId-000000000000", 2**127)
        assert engine.expire_shards() == 0
        clock.advance_ms(2 * 3_600_000)
        assert engine.expire_shards() == 1
        assert [s.shard_id for s in engine.list_shards("s")] == ["shardId-000000000001", "shardId-000000000002"]


def test_tags(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    engine.add_tags_to_stream("s", {"team": "data", "env": "dev"})
    engine.add_tags_to_stream("s", {"env": "prod"})
    assert engine.list_tags_for_stream("s") == {"team": "data", "env": "prod"}
    assert engine.describe_stream("s").tags == {"team": "data", "env": "prod"}
    engine.remove_tags_from_stream("s", ["env", "absent"])
    assert engine.list_tags_for_stream("s") == {"team": "data"}
    with pytest.raises(tidelog.LimitExceededError, match="tags"):
        engine.add_tags_to_stream("s", {f"k{i}": "v" for i in range(50)})
    with pytest.raises(tidelog.ValidationError, match="1 to 128"):
        engine.add_tags_to_stream("s", {"": "v"})
    with pytest.raises(TypeError, match="single str"):
        engine.remove_tags_from_stream("s", "team")
    with pytest.raises(TypeError, match="tag value must be str"):
        engine.add_tags_to_stream("s", {"k": 1})  # type: ignore[dict-item]


def test_metrics(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 2)
    engine.create_stream("t", 1)
    engine.put_record("s", "k", b"12345", explicit_hash_key=0)
    engine.put_record("s", "k", b"123", explicit_hash_key=0)
    batch = engine.read("s", "shardId-000000000000")
    assert len(batch) == 2
    per_shard = {m.shard_id: m for m in engine.metrics("s")}
    m0 = per_shard["shardId-000000000000"]
    assert isinstance(m0, tidelog.ShardMetrics)
    assert (m0.incoming_records, m0.incoming_bytes) == (2, 10)
    assert (m0.outgoing_records, m0.outgoing_bytes, m0.get_records_calls) == (2, 10, 1)
    assert per_shard["shardId-000000000001"].incoming_records == 0
    assert {m.stream for m in engine.metrics()} == {"s", "t"}
    assert len(engine.metrics()) == 3
    total = engine.stream_metrics_total("s")
    assert (total.stream, total.shard_id, total.incoming_records, total.incoming_bytes) == ("s", "", 2, 10)
    text = engine.metrics_openmetrics()
    assert 'tidelog_stream_incoming_records_total{stream="s"} 2' in text
    assert text.rstrip().endswith("# EOF")
    assert dataclasses.asdict(total)["incoming_bytes"] == 10


def test_put_record_options(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 4)
    a = engine.put_record("s", "key", b"bytes")
    assert isinstance(a, tidelog.PutResult) and re.fullmatch(r"\d+", a.sequence_number)
    # The same key routes to the same shard (MD5), data may be any bytes-like or str.
    b = engine.put_record("s", "key", bytearray(b"bytearray"), durability="sync")
    c = engine.put_record("s", "key", memoryview(b"xmemoryview")[1:], durability="os")
    d = engine.put_record("s", "key", "text é", sequence_number_for_ordering=c.sequence_number)
    assert a.shard_id == b.shard_id == c.shard_id == d.shard_id
    seqs = [int(r.sequence_number) for r in (a, b, c, d)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    got = [bytes(r.data) for r in engine.read("s", a.shard_id)]
    assert got == [b"bytes", b"bytearray", b"memoryview", "text é".encode()]
    # Explicit hash keys (int or decimal str) pick the shard by range.
    assert engine.put_record("s", "k", b"x", explicit_hash_key=HASH_MAX).shard_id == "shardId-000000000003"
    assert engine.put_record("s", "k", b"x", explicit_hash_key="0").shard_id == "shardId-000000000000"
    with pytest.raises(tidelog.ValidationError, match="hash key"):
        engine.put_record("s", "k", b"x", explicit_hash_key=2**128)
    with pytest.raises(tidelog.InvalidArgumentError, match="SequenceNumberForOrdering"):
        engine.put_record("s", "key", b"x", sequence_number_for_ordering=str(10**30))
    with pytest.raises(ValueError, match="durability"):
        engine.put_record("s", "k", b"x", durability="fast")  # type: ignore[arg-type]


def test_put_records_per_entry_results(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 2)
    results = engine.put_records("s", [("a", b"1"), ("b", "2"), ("c", b"3", 0), ("d", b"4", None)])
    assert all(isinstance(r, tidelog.PutResult) for r in results)
    assert results[2].shard_id == "shardId-000000000000"  # type: ignore[union-attr]
    # Built natively, they are the same frozen dataclass put_record returns.
    first = results[0]
    assert isinstance(first, tidelog.PutResult)
    assert dataclasses.asdict(first) == {
        "shard_id": first.shard_id, "sequence_number": first.sequence_number, "encrypted": False,
    }
    assert first == tidelog.PutResult(first.shard_id, first.sequence_number, False)
    assert hash(first) == hash(tidelog.PutResult(first.shard_id, first.sequence_number, False))
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.shard_id = "shardId-000000000001"  # type: ignore[misc]
    assert len({int(r.sequence_number) for r in results if isinstance(r, tidelog.PutResult)}) == 4
    single = engine.put_record("s", "e", b"5")
    assert type(single) is type(first) and int(single.sequence_number) > max(
        (int(r.sequence_number) for r in results
         if isinstance(r, tidelog.PutResult) and r.shard_id == single.shard_id),
        default=-1,
    )
    with pytest.raises(tidelog.ValidationError, match="1 to 500"):
        engine.put_records("s", [])
    with pytest.raises(tidelog.ValidationError, match="1 to 500"):
        engine.put_records("s", [("k", b"x")] * 501)
    with pytest.raises(TypeError, match=r"records\[1\]"):
        engine.put_records("s", [("k", b"x"), "not a tuple"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"records\[0\] data"):
        engine.put_records("s", [("k", 5)])  # type: ignore[list-item]


def test_put_records_failed_entries_do_not_fail_others(data_dir: Path, clock: ManualClock) -> None:
    limits = dataclasses.replace(tidelog.Limits.kinesis(), write_records_per_sec=3)
    with tidelog.open(data_dir, cores=1, durability="os", limits=limits, clock=clock) as engine:
        engine.create_stream("s", 2)
        entries = [(f"k{i}", b"x", 0) for i in range(5)] + [("other", b"y", HASH_MAX)]
        results = engine.put_records("s", entries)
        ok = [r for r in results if isinstance(r, tidelog.PutResult)]
        failed = [r for r in results if isinstance(r, tidelog.Error)]
        # Shard 0 takes 3 records this second; the other shard's entry is unaffected.
        assert len(ok) == 4 and len(failed) == 2
        assert all(isinstance(f, tidelog.ProvisionedThroughputExceededError) for f in failed)
        assert isinstance(results[5], tidelog.PutResult) and results[5].shard_id == "shardId-000000000001"
        assert sum(m.write_throttled for m in engine.metrics("s")) == 2


def test_iterator_types(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    shard = only_shard(engine, "s")
    puts = [engine.put_record("s", "k", f"r{i}") for i in range(5)]

    def read(kind: str, **kw: object) -> list[str]:
        it = engine.get_shard_iterator("s", shard, kind, **kw)  # type: ignore[arg-type]
        return [bytes(r.data).decode() for r in engine.get_records(it)]

    assert read("trim_horizon") == ["r0", "r1", "r2", "r3", "r4"]
    assert read("TRIM_HORIZON") == ["r0", "r1", "r2", "r3", "r4"]
    assert read("latest") == []
    assert read("at_sequence_number", sequence_number=puts[2].sequence_number) == ["r2", "r3", "r4"]
    assert read("after_sequence_number", sequence_number=int(puts[2].sequence_number)) == ["r3", "r4"]
    batch = engine.read("s", shard)
    first_ts = batch[0].arrival_time
    assert read("at_timestamp", timestamp=first_ts) == ["r0", "r1", "r2", "r3", "r4"]
    assert read("at_timestamp", timestamp=first_ts.timestamp() + 3600) == []
    latest = engine.get_shard_iterator("s", shard, "latest")
    engine.put_record("s", "k", "r5")
    assert [bytes(r.data) for r in engine.get_records(latest)] == [b"r5"]
    with pytest.raises(ValueError, match="unknown iterator type"):
        read("middle")
    with pytest.raises(ValueError, match="needs a sequence_number"):
        read("at_sequence_number")
    with pytest.raises(ValueError, match="only used with AT_TIMESTAMP"):
        read("latest", timestamp=first_ts)
    with pytest.raises(ValueError, match="timezone-aware"):
        read("at_timestamp", timestamp=datetime(2024, 1, 1))
    with pytest.raises(tidelog.ValidationError, match="not a decimal sequence number"):
        read("at_sequence_number", sequence_number="12ab")
    with pytest.raises(tidelog.InvalidArgumentError, match="does not belong"):
        engine.create_stream("t", 2)
        other = engine.put_record("t", "k", b"x", explicit_hash_key=HASH_MAX)
        engine.get_shard_iterator("t", "shardId-000000000000", "at_sequence_number",
                                  sequence_number=other.sequence_number)


def test_get_records_paging_and_batch(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    shard = only_shard(engine, "s")
    engine.put_records("s", [("k", f"r{i}") for i in range(10)])
    it = engine.get_shard_iterator("s", shard)
    first = engine.get_records(it, limit=4)
    assert isinstance(first, tidelog.RecordBatch)
    assert len(first) == 4 and first.shard_id == shard
    assert first.millis_behind_latest >= 0
    assert first.payload_bytes == sum(len(r.key) + len(r.data) for r in first)
    assert [bytes(r.data) for r in first[1:3]] == [b"r1", b"r2"]
    assert bytes(first[-1].data) == b"r3"
    with pytest.raises(IndexError, match="out of range"):
        first[4]
    with pytest.raises(TypeError, match="integers or slices"):
        first["0"]  # type: ignore[call-overload]
    assert first.next_iterator is not None
    rest = engine.get_records(first.next_iterator)
    assert [bytes(r.data) for r in rest] == [f"r{i}".encode() for i in range(4, 10)]
    assert rest.millis_behind_latest == 0 and rest.child_shards == []
    empty = engine.get_records(rest.next_iterator)  # type: ignore[arg-type]
    assert len(empty) == 0 and list(empty) == []
    record = rest[0]
    assert record.partition_key == "k" and bytes(record.key) == b"k"
    assert record.shard_id == shard
    assert record.arrival_time.tzinfo == timezone.utc
    assert record.arrival_ms == int(record.arrival_time.timestamp() * 1000)
    assert bytes(record) == b"r4"
    assert "r4" not in repr(record) and "sequence_number" in repr(record)
    with pytest.raises(tidelog.ValidationError, match="limit"):
        engine.get_records(it, limit=0)
    with pytest.raises(tidelog.ValidationError, match="limit"):
        engine.get_records(it, limit=10_001)


def test_one_engine_shared_by_threads(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 2)
    results: list[tidelog.PutResult] = []
    lock = threading.Lock()

    def put(worker: int) -> None:
        for i in range(250):
            r = engine.put_record("s", f"w{worker}", f"{worker}:{i}")
            with lock:
                results.append(r)

    threads = [threading.Thread(target=put, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len({(r.shard_id, r.sequence_number) for r in results}) == 1000
    read = [bytes(r.data).decode() for shard in ("shardId-000000000000", "shardId-000000000001")
            for r in engine.read("s", shard)]
    assert sorted(read) == sorted(f"{w}:{i}" for w in range(4) for i in range(250))
    # Per partition key (one writer each), the records are in put order.
    for w in range(4):
        mine = [x for x in read if x.startswith(f"{w}:")]
        assert mine == [f"{w}:{i}" for i in range(250)]


def test_machine_chooses_the_default_core_count(tmp_path):
    cpus = len(os.sched_getaffinity(0))
    # Shared (the default): a CPU is left to the callers (fewer still under a cgroup
    # CPU quota), at least one core.
    with tidelog.open(tmp_path / "shared", durability="os") as engine:
        assert 1 <= engine.cores <= max(1, cpus - 1)
        engine.create_stream("s", shard_count=2)
        for i in range(200):
            engine.put_record("s", str(i), b"x")
    with tidelog.open(tmp_path / "dedicated", durability="os", machine="dedicated") as engine:
        assert engine.cores == cpus
    with pytest.raises(ValueError, match="machine must be"):
        tidelog.open(tmp_path / "bad", machine="tuned")
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_the_build_profile_is_stated():
    import warnings

    assert tidelog.BUILD_PROFILE in ("debug", "release")
    # The warning comes with a debug build only (the test command's .venv has one).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import importlib

        importlib.reload(tidelog)
    debug_warnings = [w for w in caught if w.category.__name__ == "DebugBuildWarning"]
    assert bool(debug_warnings) == (tidelog.BUILD_PROFILE == "debug")
