"""Shared fixtures: engines on temporary data directories (one core, page-cache
durability and no rate limits unless a test asks for others); and, for every test, a
check that each error the boto3-compatible client answers is one botocore's Kinesis
model lists for the operation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import botocore.session
import pytest

import tidelog
import tidelog.kinesis
from tidelog.testing import ManualClock

_MODEL = botocore.session.get_session().get_service_model("kinesis")
# Errors any AWS service may answer to any operation (the model does not list them).
_COMMON_ERRORS = {"ValidationException", "InternalFailureException", "AccessDeniedException"}


@pytest.fixture(autouse=True)
def errors_are_the_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client error's code is in the model's error list of its operation."""
    made = tidelog.kinesis._client_error

    def checked(code: str, message: str, operation: str) -> tidelog.ClientError:
        if operation in _MODEL.operation_names:
            listed = {s.name for s in _MODEL.operation_model(operation).error_shapes}
            assert code in listed | _COMMON_ERRORS, (
                f"{operation} answered {code}; the model lists {sorted(listed)}")
        return made(code, message, operation)

    monkeypatch.setattr(tidelog.kinesis, "_client_error", checked)


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
