"""The Python examples in README.md run as written (in a temporary directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    text = README.read_text()
    section = text[text.index("## From Python") : text.index("## The log, from Rust")]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_python_examples_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks()
    assert len(blocks) == 2
    namespace: dict[str, object] = {}
    for block in blocks:
        code = block.replace("/tmp/tidelog-demo", str(tmp_path / "demo"))
        exec(compile(code, str(README), "exec"), namespace)  # the pythonic block, then the client
    client = namespace["kinesis"]
    client.close()  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    assert "customer-42" in out and "ResourceNotFoundException" in out


def test_readme_sql_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = README.read_text()
    start = text.index("## SQL over streams")
    section = text[start : text.index("\n## ", start)]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    code = block.replace("/tmp/tidelog-sql-demo", str(tmp_path / "sql-demo"))
    exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "c6" in out and "revenue" in out and " 0" in out
