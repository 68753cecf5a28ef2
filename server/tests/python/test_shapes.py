"""The server's member tables (server/src/wire/shapes.rs: which members are blobs and
which are timestamps) against the installed botocore's service models: every blob and
timestamp member is listed, each name means one type only, and no name is listed that
the models do not have."""

from __future__ import annotations

import gzip
import json
import os
import re
from collections import defaultdict
from pathlib import Path

import botocore

SHAPES_RS = Path(__file__).resolve().parents[2] / "src" / "wire" / "shapes.rs"


def model(service: str, version: str) -> dict:
    base = Path(os.path.dirname(botocore.__file__)) / "data" / service / version
    for name, opener in (("service-2.json.gz", gzip.open), ("service-2.json", open)):
        if (base / name).exists():
            with opener(base / name, "rt") as f:  # type: ignore[operator]
                return json.load(f)
    raise FileNotFoundError(base)


def member_types(m: dict) -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = defaultdict(set)
    for shape in m["shapes"].values():
        if shape["type"] == "structure":
            for member, ref in shape["members"].items():
                kinds[member].add(m["shapes"][ref["shape"]]["type"])
    return kinds


def table(name: str) -> set[str]:
    text = SHAPES_RS.read_text()
    body = re.search(rf"pub const {name}: &\[&str\] = &\[(.*?)\];", text, re.S)
    assert body, name
    return set(re.findall(r'"([A-Za-z]+)"', body.group(1)))


def test_tables_match_botocore():
    for service, version, prefix in (("kinesis", "2013-12-02", "KINESIS"),
                                     ("firehose", "2015-08-04", "FIREHOSE")):
        kinds = member_types(model(service, version))
        for kind, suffix in (("blob", "BLOBS"), ("timestamp", "TIMESTAMPS")):
            expected = {name for name, types in kinds.items() if kind in types}
            assert table(f"{prefix}_{suffix}") == expected, (service, kind)
            for name in expected:
                assert kinds[name] == {kind}, f"{service}.{name} is {kinds[name]}: a name-based rule breaks"
