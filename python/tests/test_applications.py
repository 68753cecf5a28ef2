"""Continuous SQL applications from Python: a tumbling window's results, delivered into
a stream and given to a callback as Arrow, checked against a reference computed here
in plain Python; the output stream queried back with SQL; management and its errors."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pytest

import tidelog
from tidelog.testing import ManualClock

T0 = 1_700_000_000_000

CODE = """
CREATE OR REPLACE STREAM "DEST" (ticker VARCHAR(8), n BIGINT, total DOUBLE, window_start BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
  SELECT STREAM ticker, COUNT(*) AS n, SUM(price) AS total,
         STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE) AS window_start
  FROM "SOURCE_SQL_STREAM_001"
  GROUP BY ticker, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE);
"""

SCHEMA = [("ticker", "VARCHAR(8)", "$.ticker"), ("price", "DOUBLE", "$.price")]


def test_application_results_match_a_reference(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    with tidelog.open(tmp_path / "data", cores=1, durability="os", limits="unlimited", pin_cores=False, clock=clock) as engine:
        engine.create_stream("ticks", shard_count=2)
        engine.create_stream("counts", shard_count=1)
        apps = tidelog.Applications(engine)
        apps.create("counter", CODE, "ticks", SCHEMA, outputs=[("DEST", "counts")], watermark_delay_ms=100)
        seen: list[pa.Table] = []
        apps.add_callback("counter", "DEST", lambda stream, epoch, rows: seen.append(pa.table(rows)))
        assert apps.list() == [("counter", "READY")]
        apps.start("counter", "TRIM_HORIZON")
        reference: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0, 0.0])
        for i in range(400):
            ticker = ["AMZN", "MSFT", "ACME"][i * i % 3]
            price = round(i * 0.25, 2)
            now = T0 + i * 2000
            entry = reference[(ticker, now - now % 60_000)]
            entry[0] += 1
            entry[1] += price
            engine.put_record("ticks", f"k{i}", json.dumps({"ticker": ticker, "price": price}))
            clock.advance_ms(2000)
        clock.advance_ms(61_000)
        apps.wait_idle("counter", 60)
        d = apps.describe("counter")
        assert d.status == "RUNNING"
        assert d.records_in == 400 and d.errors == 0
        assert d.records_out == len(reference)
        assert set(d.input_positions) == {"shardId-000000000000", "shardId-000000000001"}
        assert d.definition["Input"]["Stream"] == "ticks"
        # The results are a stream: query it back with SQL.
        sql = tidelog.Analytics(engine)
        sql.register_stream(
            "counts", "counts",
            schema=[("ticker", "VARCHAR(8)", "$.ticker"), ("n", "BIGINT", "$.n"),
                    ("total", "DOUBLE", "$.total"), ("window_start", "BIGINT", "$.window_start")])
        rows = sql.sql("SELECT ticker, n, total, window_start FROM counts").to_arrow().to_pylist()
        got = {(r["ticker"], r["window_start"]): (r["n"], r["total"]) for r in rows}
        assert len(rows) == len(reference)
        assert got.keys() == reference.keys()
        for key, (n, total) in reference.items():
            assert got[key][0] == n
            assert got[key][1] == pytest.approx(total)
        # The callback saw the same rows, as Arrow (with ROWTIME).
        from_callback = pa.concat_tables(seen).to_pylist()
        assert len(from_callback) == len(reference)
        assert {(r["ticker"], r["window_start"]) for r in from_callback} == reference.keys()
        assert "ROWTIME" in seen[0].column_names
        apps.stop("counter")
        assert apps.describe("counter").status == "READY"
        apps.delete("counter")
        assert apps.list() == []
        apps.close()


def test_application_errors_are_clear(engine: tidelog.Engine) -> None:
    engine.create_stream("ticks", shard_count=1)
    apps = tidelog.Applications(engine)
    with pytest.raises(tidelog.SqlError, match="Line: 2"):
        apps.create("bad", "CREATE STREAM s (a BIGINT);\nCREATE PUMP p AS INSERT INTO s SELEC a FROM x", "ticks", SCHEMA)
    with pytest.raises(tidelog.ResourceNotFoundError, match="nope"):
        apps.create("bad", CODE, "nope", SCHEMA)
    with pytest.raises(ValueError, match="application name"):
        apps.create("bad name", CODE, "ticks", SCHEMA)
    with pytest.raises(ValueError, match="output from"):
        apps.create("bad", CODE, "ticks", SCHEMA, outputs=[("NOPE", "ticks")])
    apps.create("ok", CODE, "ticks", SCHEMA)
    with pytest.raises(tidelog.ResourceInUseError):
        apps.create("ok", CODE, "ticks", SCHEMA)
    with pytest.raises(tidelog.ResourceNotFoundError):
        apps.start("missing")
    with pytest.raises(ValueError, match="starting position"):
        apps.start("ok", "yesterday")
    apps.start("ok", "NOW")
    with pytest.raises(tidelog.InvalidArgumentError, match="already running"):
        apps.start("ok")
    apps.close()


def test_application_output_into_a_delivery_stream(tmp_path: Path) -> None:
    """Windows delivered through a Firehose delivery stream: the objects in the bucket
    directory hold each window once (JSON lines), equal to a reference."""
    clock = ManualClock(T0)
    with tidelog.open(tmp_path / "data", cores=1, durability="os", limits="unlimited", pin_cores=False, clock=clock) as engine:
        engine.create_stream("ticks", shard_count=2)
        firehose = engine.firehose(ingest_limits="unlimited", tick_ms=5)
        firehose.create_delivery_stream("counts-ds", bucket="out", prefix="counts/", size_mb=1, interval_s=900)
        with pytest.raises(ValueError, match="open_with_firehose"):
            tidelog.Applications(engine).create(
                "counter", CODE, "ticks", SCHEMA, delivery_outputs=[("DEST", "counts-ds")])
        apps = tidelog.Applications(engine, firehose)
        with pytest.raises(tidelog.ResourceNotFoundError, match="nope-ds"):
            apps.create("counter", CODE, "ticks", SCHEMA, delivery_outputs=[("DEST", "nope-ds")])
        apps.create("counter", CODE, "ticks", SCHEMA, delivery_outputs=[("DEST", "counts-ds", "json")],
                    watermark_delay_ms=100)
        assert apps.describe("counter").definition["Outputs"] == [
            {"InAppStream": "DEST", "DeliveryStream": "counts-ds", "Format": "JSON"}]
        reference: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0, 0.0])
        for i in range(300):
            ticker = ["AMZN", "MSFT", "ACME"][i % 3]
            price = i * 0.5
            now = T0 + i * 1000
            entry = reference[(ticker, now - now % 60_000)]
            entry[0] += 1
            entry[1] += price
            engine.put_record("ticks", f"k{i}", json.dumps({"ticker": ticker, "price": price}))
            clock.advance_ms(1000)
        apps.start("counter", "TRIM_HORIZON")
        clock.advance_ms(61_000)
        apps.wait_idle("counter", 60)
        apps.stop("counter")
        firehose.flush("counts-ds")
        root = Path(firehose.bucket_directory("out")) / "counts"
        lines = [line for f in sorted(root.rglob("*")) if f.is_file() and not f.name.startswith(".tidelog-tmp")
                 for line in f.read_text().splitlines()]
        got: dict[tuple[str, int], tuple[int, float]] = {}
        for line in lines:
            row = json.loads(line)
            key = (row["ticker"], row["window_start"])
            assert key not in got, f"window {key} delivered twice"
            got[key] = (row["n"], row["total"])
        assert got.keys() == reference.keys()
        for key, (n, total) in reference.items():
            assert got[key][0] == n
            assert got[key][1] == pytest.approx(total)
        # The delivery stream as an input: a second application reads the windows back
        # from its buffer and keeps the busy ones.
        engine.create_stream("busy", shard_count=1)
        apps.create(
            "busy", '''
            CREATE OR REPLACE STREAM "B" (ticker VARCHAR(8), n BIGINT, window_start BIGINT);
            CREATE OR REPLACE PUMP "Q" AS INSERT INTO "B"
              SELECT STREAM ticker, n, window_start FROM "SOURCE_SQL_STREAM_001" WHERE n >= 20;''',
            "counts-ds", [("ticker", "VARCHAR(8)", "$.ticker"), ("n", "BIGINT", "$.n"),
                          ("window_start", "BIGINT", "$.window_start")],
            input_kind="delivery_stream", outputs=[("B", "busy")], watermark_delay_ms=100)
        assert apps.describe("busy").definition["Input"]["DeliveryStream"] == "counts-ds"
        with pytest.raises(ValueError, match="input_kind"):
            apps.create("bad", CODE, "counts-ds", SCHEMA, input_kind="lake")
        apps.start("busy", "TRIM_HORIZON")
        apps.wait_idle("busy", 60)
        assert apps.describe("busy").records_in == len(reference)
        busy = [json.loads(bytes(r.data)) for r in engine.read("busy", "shardId-000000000000", "trim_horizon")]
        assert sorted((r["ticker"], r["window_start"], r["n"]) for r in busy) == sorted(
            (t, w, n) for (t, w), (n, _) in reference.items() if n >= 20)
        apps.close()


def test_callbacks_can_be_cleared(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    with tidelog.open(tmp_path / "data", cores=1, durability="os", limits="unlimited", pin_cores=False, clock=clock) as engine:
        engine.create_stream("ticks", shard_count=1)
        apps = tidelog.Applications(engine)
        apps.create("counter", CODE, "ticks", SCHEMA, watermark_delay_ms=100)
        first: list[pa.Table] = []
        second: list[pa.Table] = []
        apps.add_callback("counter", "DEST", lambda stream, epoch, rows: first.append(pa.table(rows)))
        apps.start("counter", "TRIM_HORIZON")
        with pytest.raises(tidelog.InvalidArgumentError, match="running"):
            apps.clear_callbacks("counter")

        def minute(m: int) -> None:
            # Three ticks in minute m, then the clock past its end: its window closes.
            for i in range(3):
                engine.put_record("ticks", f"k{m}-{i}", json.dumps({"ticker": "ACME", "price": 1.0}))
                clock.advance_ms(1000)
            clock.advance_ms(60_000)
            apps.wait_idle("counter", 60)

        minute(0)
        seen_first = sum(t.num_rows for t in first)
        assert seen_first >= 1
        apps.stop("counter")
        apps.clear_callbacks("counter")
        apps.add_callback("counter", "DEST", lambda stream, epoch, rows: second.append(pa.table(rows)))
        apps.start("counter")
        minute(1)
        minute(2)
        apps.stop("counter")
        # The cleared callback was not called again; the new one saw the later windows.
        assert sum(t.num_rows for t in first) == seen_first
        windows = {r["window_start"] for t in second for r in t.to_pylist()}
        assert len(windows) >= 2
        assert all(r["n"] == 3 for t in second for r in t.to_pylist())
        with pytest.raises(tidelog.ResourceNotFoundError):
            apps.clear_callbacks("missing")
        apps.close()
