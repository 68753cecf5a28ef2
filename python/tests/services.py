"""Real services the tests start themselves on 127.0.0.1: moto's S3-compatible server
(from PyPI, installed into .venv by tests/run_all.sh)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def moto_binary() -> str | None:
    candidates = [os.environ.get("TIDELOG_MOTO_SERVER"), str(Path(sys.executable).parent / "moto_server"),
                  shutil.which("moto_server")]
    for c in candidates:
        if c and Path(c).exists():
            return c
    return None


@contextmanager
def moto_server() -> Iterator[str]:
    """Starts moto's server on a free loopback port; yields its endpoint; stops it."""
    binary = moto_binary()
    if binary is None:
        raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
