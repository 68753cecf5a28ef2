"""The hand-kept stub (tidelog/_tidelog.pyi) matches the native module, checked by
mypy's stubtest; and the package type-checks (mypy --strict) against it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import tidelog

PACKAGE = Path(tidelog.__file__).parent


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def test_stub_matches_the_native_module() -> None:
    out = run(["mypy.stubtest", "tidelog._tidelog"])
    assert out.returncode == 0, out.stdout + out.stderr


def test_stubtest_catches_a_stub_that_drifts(tmp_path: Path) -> None:
    # The same check on a copy of the package whose stub renames one parameter must
    # fail, naming it: the check above is not vacuous.
    drifted = tmp_path / "tidelog"
    drifted.mkdir()
    for source in PACKAGE.glob("*.py"):
        shutil.copy(source, drifted / source.name)
    stub = (PACKAGE / "_tidelog.pyi").read_text()
    original = "def advance_ms(self, ms: int)"
    assert original in stub
    (drifted / "_tidelog.pyi").write_text(stub.replace(original, "def advance_ms(self, milliseconds: int)"))
    out = run(["mypy.stubtest", "tidelog._tidelog"], MYPYPATH=str(tmp_path))
    assert out.returncode != 0
    assert 'stub parameter "milliseconds" differs from runtime parameter "ms"' in out.stdout, out.stdout


def test_package_type_checks_strictly() -> None:
    out = run(["mypy", "--strict", str(PACKAGE)])
    assert out.returncode == 0, out.stdout + out.stderr
