"""Starts a real `tidelog serve` for the tests (the binary from TIDELOG_BIN, else
target/release/tidelog, else target/debug/tidelog) on a free port of 127.0.0.1, with two
access keys, and stops it with SIGTERM at the end (checking it exits 0)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[3]
KEY_ID, SECRET = "AKIDTIDELOGTEST", "tidelog/test+secret"
OTHER_KEY_ID, OTHER_SECRET = "AKIDOTHER", "other-secret"


def binary() -> str:
    explicit = os.environ.get("TIDELOG_BIN")
    if explicit:
        return explicit
    for profile in ("release", "debug"):
        candidate = ROOT / "target" / profile / "tidelog"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("build the tidelog binary first (cargo build -p tidelog-server)")


@dataclass
class Server:
    """A running server: its process, address and data directory."""

    process: subprocess.Popen[str]
    endpoint: str
    data_dir: str
    port: int
    extra: dict[str, str] = field(default_factory=dict)

    def client(self, service: str = "kinesis", **kwargs: object):
        config = Config(retries={"max_attempts": 1}, **kwargs)  # type: ignore[arg-type]
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            config=config,
        )

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def start_server(data_dir: str, *args: str, env: dict[str, str] | None = None) -> Server:
    environment = dict(os.environ)
    environment["TIDELOG_ACCESS_KEYS"] = f"{KEY_ID}:{SECRET},{OTHER_KEY_ID}:{OTHER_SECRET}"
    environment.update(env or {})
    process = subprocess.Popen(
        [binary(), "serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0",
         "--cores", "1", "--limits", "unlimited", *args],
        stdout=subprocess.PIPE, text=True, env=environment,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise RuntimeError(f"tidelog serve did not start: {line!r}")
    address = line.split("listening on ", 1)[1].split(" ", 1)[0]
    port = int(address.rsplit(":", 1)[1])
    return Server(process, address, data_dir, port)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="tidelog-serve-") as data_dir:
        s = start_server(data_dir, "--heartbeat-seconds", "1")
        try:
            yield s
        finally:
            assert s.stop() == 0


@pytest.fixture()
def kinesis(server: Server):
    return server.client()


_counter = [0]


@pytest.fixture()
def stream(kinesis) -> Iterator[str]:
    """A fresh two-shard stream, deleted afterwards."""
    _counter[0] += 1
    name = f"test-{os.getpid()}-{_counter[0]}-{int(time.time() * 1000) % 100000}"
    kinesis.create_stream(StreamName=name, ShardCount=2)
    yield name
    try:
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    except kinesis.exceptions.ResourceNotFoundException:
        pass
