"""The exception tree and bad input: every engine error family raised by a real
condition, and wrong Python types and values refused with clear messages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import tidelog
from tidelog.testing import ManualClock

from conftest import only_shard

FAMILIES = {
    tidelog.ValidationError: ("Validation", "ValidationException"),
    tidelog.InvalidArgumentError: ("InvalidArgument", "InvalidArgumentException"),
    tidelog.ResourceNotFoundError: ("ResourceNotFound", "ResourceNotFoundException"),
    tidelog.ResourceInUseError: ("ResourceInUse", "ResourceInUseException"),
    tidelog.LimitExceededError: ("LimitExceeded", "LimitExceededException"),
    tidelog.ProvisionedThroughputExceededError: (
        "ProvisionedThroughputExceeded",
        "ProvisionedThroughputExceededException",
    ),
    tidelog.ExpiredIteratorError: ("ExpiredIterator", "ExpiredIteratorException"),
    tidelog.FileSystemError: ("Io", "InternalFailureException"),
    tidelog.CorruptionError: ("Corruption", "InternalFailureException"),
    tidelog.EnvironmentCheckError: ("Environment", "InternalFailureException"),
    tidelog.ClosedError: ("Closed", "InternalFailureException"),
    tidelog.InternalError: ("Internal", "InternalFailureException"),
}


def test_the_tree_mirrors_the_rust_families() -> None:
    assert issubclass(tidelog.Error, Exception)
    assert (tidelog.Error.kind, tidelog.Error.kinesis_name) == ("Error", "InternalFailureException")
    for cls, (kind, kinesis) in FAMILIES.items():
        assert issubclass(cls, tidelog.Error) and cls is not tidelog.Error
        assert (cls.kind, cls.kinesis_name) == (kind, kinesis)
        assert cls.__module__ == "tidelog" and cls.__doc__
        assert getattr(tidelog, cls.__name__) is cls
    assert len({cls.kind for cls in FAMILIES}) == len(FAMILIES)


def test_validation_errors(engine: tidelog.Engine) -> None:
    for bad in ["", "a/b", "..", ".", "x" * 129, "sp ace", "é"]:
        with pytest.raises(tidelog.ValidationError, match="stream name|name"):
            engine.create_stream(bad, 1)
    with pytest.raises(tidelog.ValidationError, match="shard count"):
        engine.create_stream("s", 0)
    engine.create_stream("s", 1)
    with pytest.raises(tidelog.ValidationError, match="partition key is empty"):
        engine.put_record("s", "", b"x")
    with pytest.raises(tidelog.ValidationError, match="257 characters"):
        engine.put_record("s", "k" * 257, b"x")
    with pytest.raises(tidelog.ValidationError, match=r"1048577 bytes .* exceeds the 1048576-byte limit"):
        engine.put_record("s", "k", b"x" * (1 << 20))
    engine.put_record("s", "k", b"x" * ((1 << 20) - 1))  # exactly at the limit
    with pytest.raises(tidelog.ValidationError, match="not a shard id"):
        engine.get_shard_iterator("s", "shard-0")
    with pytest.raises(tidelog.ValidationError, match="PutRecords request"):
        engine.put_records("s", [("k", b"x" * 1_000_000)] * 6)


def test_oversized_record_with_a_custom_limit(data_dir: Path) -> None:
    with tidelog.open(data_dir, cores=1, durability="os", record_bytes_max=100) as engine:
        engine.create_stream("s", 1)
        engine.put_record("s", "k", b"x" * 99)
        with pytest.raises(tidelog.ValidationError, match="101 bytes"):
            engine.put_record("s", "kk", b"x" * 99)


def test_not_found_and_in_use(engine: tidelog.Engine, data_dir: Path) -> None:
    with pytest.raises(tidelog.ResourceNotFoundError, match='stream "nope" not found'):
        engine.put_record("nope", "k", b"x")
    with pytest.raises(tidelog.ResourceNotFoundError):
        engine.delete_stream("nope")
    engine.create_stream("s", 1)
    with pytest.raises(tidelog.ResourceNotFoundError, match="shardId-000000000009"):
        engine.get_shard_iterator("s", "shardId-000000000009")
    with pytest.raises(tidelog.ResourceInUseError, match="already exists"):
        engine.create_stream("s", 1)
    with pytest.raises(tidelog.ResourceInUseError, match="already open elsewhere"):
        tidelog.open(data_dir, cores=1)
    it = engine.get_shard_iterator("s", only_shard(engine, "s"))
    engine.delete_stream("s")
    with pytest.raises(tidelog.ResourceNotFoundError, match="deleted"):
        engine.get_records(it)


def test_invalid_iterators(engine: tidelog.Engine, tmp_path: Path) -> None:
    engine.create_stream("s", 1)
    it = engine.get_shard_iterator("s", only_shard(engine, "s"))
    with pytest.raises(tidelog.InvalidArgumentError, match="malformed"):
        engine.get_records("not-a-token")
    forged = it[:-1] + ("0" if it[-1] != "0" else "1")
    with pytest.raises(tidelog.InvalidArgumentError, match="altered or comes from another"):
        engine.get_records(forged)
    with tidelog.open(tmp_path / "other", cores=1) as other:
        other.create_stream("s", 1)
        with pytest.raises(tidelog.InvalidArgumentError, match="another data directory"):
            other.get_records(it)


def test_expired_iterator_with_a_manual_clock(data_dir: Path, clock: ManualClock) -> None:
    with tidelog.open(data_dir, cores=1, durability="os", limits="unlimited", clock=clock) as engine:
        engine.create_stream("s", 1)
        shard = only_shard(engine, "s")
        engine.put_record("s", "k", b"x")
        it = engine.get_shard_iterator("s", shard)
        clock.advance_ms(5 * 60 * 1000)
        assert len(engine.get_records(it)) == 1  # still valid at exactly five minutes
        clock.advance_ms(1)
        with pytest.raises(tidelog.ExpiredIteratorError, match="iterators live 5 minutes"):
            engine.get_records(it)
        assert clock.now_ms == 1_700_000_000_000 + 5 * 60 * 1000 + 1
        assert "ManualClock" in repr(clock)


def test_throttling(data_dir: Path, clock: ManualClock) -> None:
    with tidelog.open(data_dir, cores=1, durability="os", clock=clock) as engine:  # Kinesis limits
        engine.create_stream("s", 1)
        shard = only_shard(engine, "s")
        it = engine.get_shard_iterator("s", shard)
        for _ in range(5):
            engine.get_records(it)
        with pytest.raises(tidelog.ProvisionedThroughputExceededError, match="ReadCalls"):
            engine.get_records(it)
        clock.advance_ms(1000)
        engine.get_records(it)  # refilled
        results = engine.put_records("s", [("k", b"x")] * 500)
        results += engine.put_records("s", [("k", b"x")] * 500)
        assert all(isinstance(r, tidelog.PutResult) for r in results)
        with pytest.raises(tidelog.ProvisionedThroughputExceededError, match="Write"):
            engine.put_record("s", "k", b"one too many")
        assert engine.metrics("s")[0].write_throttled == 1
        assert engine.metrics("s")[0].read_throttled == 1


def test_limit_exceeded(data_dir: Path) -> None:
    with tidelog.open(data_dir, cores=1, max_shards=2) as engine:
        engine.create_stream("s", 2)
        with pytest.raises(tidelog.LimitExceededError, match="would be 3, the limit is 2"):
            engine.create_stream("t", 1)


def test_file_system_and_corruption_errors(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    with pytest.raises(tidelog.FileSystemError, match="create data directory"):
        tidelog.open(not_a_dir / "data", cores=1)
    data = tmp_path / "data"
    tidelog.open(data, cores=1).close()
    (data / "catalog").write_bytes(b"this is not a catalog" * 10)
    with pytest.raises(tidelog.CorruptionError, match="catalog"):
        tidelog.open(data, cores=1)


def test_closed(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    engine.close()
    for call in (
        lambda: engine.put_record("s", "k", b"x"),
        lambda: engine.get_shard_iterator("s", "shardId-000000000000"),
        lambda: engine.describe_stream("s"),
        lambda: engine.metrics(),
        engine.flush,
    ):
        with pytest.raises(tidelog.ClosedError, match="closed"):
            call()


def test_wrong_types_raise_type_error(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    cases = [
        (lambda: engine.create_stream("t", "1"), "shard_count must be an int, not str"),
        (lambda: engine.create_stream("t", True), "shard_count must be an int, not bool"),
        (lambda: engine.create_stream(5, 1), "'str'"),
        (lambda: engine.put_record("s", "k", 5), "data must be bytes, bytearray, memoryview"),
        (lambda: engine.put_record("s", "k", None), "data must be bytes"),
        (lambda: engine.put_record("s", b"k", b"x"), "partition_key must be str, not bytes"),
        (lambda: engine.put_record("s", "k", b"x", explicit_hash_key=1.5), "explicit_hash_key must be a decimal str or an int"),
        (lambda: engine.put_records("s", 5), "records must be an iterable"),
        (lambda: engine.get_records(5), "shard iterator must be str"),
        (lambda: engine.get_records("x", limit="10"), "limit must be an int"),
        (lambda: engine.get_shard_iterator("s", "shardId-000000000000", 3), "iterator_type must be str"),
        (lambda: engine.get_shard_iterator("s", "shardId-000000000000", "at_timestamp", timestamp="now"),
         "timestamp must be a datetime or a number"),
        (lambda: engine.add_tags_to_stream("s", [("k", "v")]), "tags must be a dict"),
        (lambda: engine.increase_stream_retention_period("s", 48.0), "retention_hours must be an int"),
        (lambda: tidelog.open(5), "expected str, bytes or os.PathLike"),
        (lambda: tidelog.open("/tmp/x", limits=5), "limits must be 'kinesis', 'unlimited' or tidelog.Limits"),
        (lambda: tidelog.Engine("not native"), "tidelog.open"),
    ]
    for call, message in cases:
        with pytest.raises(TypeError, match=message):
            call()  # type: ignore[no-untyped-call]


def test_wrong_values_raise_value_error(data_dir: Path, engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    cases = [
        (lambda: engine.create_stream("t", -1), "shard_count must be an int from 0 to 4294967295, not -1"),
        (lambda: engine.create_stream("t", 2**40), "shard_count must be an int from 0 to 4294967295"),
        (lambda: engine.put_record("s", "k", b"x", durability="maybe"), "durability must be 'sync' or 'os'"),
        (lambda: tidelog.open(data_dir / "x", durability="never"), "durability must be 'sync' or 'os'"),
        (lambda: tidelog.open(data_dir / "x", limits="fast"), "limits must be 'kinesis', 'unlimited'"),
        (lambda: tidelog.open(data_dir / "x", sync_driver="magic"), "sync_driver must be 'io_uring' or 'blocking'"),
        (lambda: tidelog.open(data_dir / "x", limits=dataclasses.replace(tidelog.Limits(), read_calls_per_sec=0)),
         "read_calls_per_sec must be at least 1"),
        (lambda: tidelog.open(data_dir / "x", cores=-2), "cores must be an int from 0"),
        (lambda: engine.read("s", "shardId-000000000000", "at_timestamp", timestamp=-5.0), "before 1970"),
        (lambda: engine.read("s", "shardId-000000000000", "at_timestamp", timestamp=float("nan")), "finite"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()  # type: ignore[no-untyped-call]
    # A configuration the engine refuses is a ValidationError with the rule broken.
    with pytest.raises(tidelog.ValidationError, match="cores"):
        tidelog.open(data_dir / "y", cores=0)
    with pytest.raises(tidelog.ValidationError, match="retention_hours_default"):
        tidelog.open(data_dir / "y", retention_hours_default=10)
