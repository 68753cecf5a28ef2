"""Shared fixtures: engines on temporary data directories (one core, page-cache
durability and no rate limits unless a test asks for others)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import tidelog
from tidelog.testing import ManualClock


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def engine(data_dir: Path) -> Iterator[tidelog.Engine]:
    with tidelog.open(data_dir, cores=1, durability="os", limits="unlimited") as e:
        yield e


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000_000)


@pytest.fixture
def client(data_dir: Path) -> Iterator[tidelog.KinesisClient]:
    c = tidelog.client(data_dir, cores=1, durability="os", limits="unlimited")
    yield c
    c.close()


def only_shard(engine: tidelog.Engine, stream: str) -> str:
    """The id of a one-shard stream's shard."""
    (shard,) = engine.describe_stream(stream).shards
    return shard.shard_id
