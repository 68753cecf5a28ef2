"""SQL over streams from Python, checked against references computed here: plain
Python over the same records, and DuckDB's own JSON reader over the same records
written to a file. Results are consumed as Arrow by pyarrow, polars, DuckDB and pandas."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import tidelog
from tidelog.testing import ManualClock

from test_zero_copy import mapping_of

T0 = 1_700_000_000_000


def order(i: int) -> dict[str, object]:
    rng = random.Random(i)
    return {
        "id": i,
        "customer": {"name": f"c{i % 23}", "tier": rng.choice(["gold", "silver", "bronze"])},
        "region": ["eu", "us", "apac"][i % 3],
        "total": round(rng.uniform(1, 500), 2),
        "items": rng.randint(1, 9),
        "at": f"2024-05-01T10:{i % 60:02d}:00Z",
    }


SCHEMA = [
    ("id", "BIGINT", "$.id"),
    ("customer", "VARCHAR(8)", "$.customer.name"),
    ("tier", "VARCHAR(8)", "$.customer.tier"),
    ("region", "VARCHAR(4)", "$.region"),
    ("total", "DOUBLE", "$.total"),
    ("items", "INTEGER", "$.items"),
    ("at", "TIMESTAMP", "$.at"),
]


def put_orders(engine: tidelog.Engine, stream: str, orders: list[dict[str, object]]) -> None:
    for start in range(0, len(orders), 500):
        chunk = orders[start : start + 500]
        results = engine.put_records(stream, [(str(o["customer"]["name"]), json.dumps(o)) for o in chunk])  # type: ignore[index]
        assert not any(isinstance(r, tidelog.Error) for r in results)


@pytest.fixture
def orders_engine(engine: tidelog.Engine) -> tuple[tidelog.Engine, list[dict[str, object]]]:
    engine.create_stream("orders", shard_count=3)
    orders = [order(i) for i in range(4000)]
    put_orders(engine, "orders", orders)
    return engine, orders


def test_filter_group_by_matches_python_and_duckdb(
    orders_engine: tuple[tidelog.Engine, list[dict[str, object]]], tmp_path: Path
) -> None:
    engine, orders = orders_engine
    sql = tidelog.Analytics(engine, threads=2)
    sql.register_stream("orders", schema=SCHEMA)
    query = (
        "SELECT region, tier, COUNT(*) AS n, SUM(total) AS revenue, AVG(items) AS avg_items "
        "FROM orders WHERE total > 100 AND region <> 'us' GROUP BY region, tier ORDER BY region, tier"
    )
    result = sql.sql(query)
    got = pa.table(result).to_pylist()

    # Reference 1: plain Python.
    groups: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    for o in orders:
        if o["total"] > 100 and o["region"] != "us":  # type: ignore[operator]
            groups[(str(o["region"]), str(o["customer"]["tier"]))].append(o)  # type: ignore[index]
    expected = [
        {
            "region": r,
            "tier": t,
            "n": len(rows),
            "revenue": sum(float(x["total"]) for x in rows),  # type: ignore[arg-type]
            "avg_items": sum(int(x["items"]) for x in rows) / len(rows),  # type: ignore[call-overload]
        }
        for (r, t), rows in sorted(groups.items())
    ]
    assert [(g["region"], g["tier"], g["n"]) for g in got] == [(e["region"], e["tier"], e["n"]) for e in expected]
    for g, e in zip(got, expected):
        assert g["revenue"] == pytest.approx(e["revenue"])
        assert g["avg_items"] == pytest.approx(e["avg_items"])

    # Reference 2: DuckDB's read_ndjson over the same records.
    path = tmp_path / "orders.ndjson"
    path.write_text("\n".join(json.dumps(o) for o in orders))
    reference = duckdb.sql(
        f"SELECT region, customer.tier AS tier, COUNT(*) AS n, SUM(total) AS revenue "
        f"FROM read_ndjson('{path}') WHERE total > 100 AND region <> 'us' "
        f"GROUP BY ALL ORDER BY region, tier"
    ).fetchall()
    assert [(r, t, n) for r, t, n, _ in reference] == [(g["region"], g["tier"], g["n"]) for g in got]
    for (_, _, _, revenue), g in zip(reference, got):
        assert g["revenue"] == pytest.approx(revenue)
    assert result.rejected == 0
    (scan,) = result.scans
    assert scan["records_read"] == 4000 and scan["shards_scanned"] == 3


def test_arrow_consumers_take_results_without_copies(
    orders_engine: tuple[tidelog.Engine, list[dict[str, object]]],
) -> None:
    engine, orders = orders_engine
    sql = tidelog.Analytics(engine)
    sql.register_stream("orders", schema=SCHEMA)
    result = sql.sql("SELECT id, customer, total, at, approximate_arrival_time, sequence_number FROM orders ORDER BY id")
    assert result.num_rows == len(result) == 4000
    assert result.column_names == ["id", "customer", "total", "at", "approximate_arrival_time", "sequence_number"]

    table = pa.table(result)
    assert table.column("id").to_pylist() == list(range(4000))
    assert table.schema.field("at").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("sequence_number").type == pa.decimal128(38, 0)

    # polars: a DataFrame straight from the capsule; from_arrow gives a struct Series.
    frame = pl.DataFrame(result)
    assert frame.columns == result.column_names
    assert pl.from_arrow(result).struct.unnest().equals(frame)  # type: ignore[union-attr]
    assert frame["total"].sum() == pytest.approx(sum(float(o["total"]) for o in orders))  # type: ignore[arg-type]

    # DuckDB scans the Python object through its Arrow stream.
    arrow_result = result
    ((count, biggest),) = duckdb.sql("SELECT COUNT(*), MAX(total) FROM arrow_result").fetchall()
    assert count == 4000
    assert biggest == max(float(o["total"]) for o in orders)  # type: ignore[arg-type]

    frame_pd = result.to_pandas()
    assert isinstance(frame_pd, pd.DataFrame)
    assert list(frame_pd["customer"][:3]) == ["c0", "c1", "c2"]
    assert str(frame_pd["at"].dtype).startswith("datetime64[ms, UTC]")
    assert result.to_polars().height == 4000
    assert "id" in str(result)


def test_time_filters_are_pushed_down_and_skip_segments(data_dir: Path) -> None:
    clock = ManualClock(T0)
    with tidelog.open(data_dir, cores=1, durability="os", limits="unlimited", clock=clock) as engine:
        engine.create_stream("events", shard_count=1)
        all_orders: list[tuple[int, dict[str, object]]] = []
        for minute in range(6):
            batch = [order(minute * 2000 + i) for i in range(2000)]
            put_orders(engine, "events", batch)
            all_orders += [(T0 + minute * 60_000, o) for o in batch]
            clock.advance_ms(60_000)
        sql = tidelog.Analytics(engine)
        sql.register_stream("events", schema=SCHEMA)
        since = T0 + 4 * 60_000
        result = sql.sql(
            f"SELECT COUNT(*) AS n, SUM(items) AS items FROM events "
            f"WHERE approximate_arrival_time >= to_timestamp_millis({since})"
        )
        rows = [o for t, o in all_orders if t >= since]
        assert pa.table(result).to_pylist() == [{"n": len(rows), "items": sum(int(o["items"]) for o in rows)}]  # type: ignore[call-overload]
        (scan,) = result.scans
        assert scan["segments_total"] >= 3, scan
        assert scan["segments_skipped"] >= 1, scan
        assert scan["records_read"] < len(all_orders), scan
        explain = str(sql.sql(f"EXPLAIN SELECT id FROM events WHERE approximate_arrival_time >= to_timestamp_millis({since})"))
        assert "approximate_arrival_time in [" in explain


def test_joins_reshards_and_inference(engine: tidelog.Engine) -> None:
    engine.create_stream("orders", shard_count=2)
    engine.create_stream("customers", shard_count=1)
    orders = [order(i) for i in range(1500)]
    put_orders(engine, "orders", orders)
    for c in range(23):
        engine.put_record("customers", f"c{c}", json.dumps({"name": f"c{c}", "country": "FR" if c % 3 else "DE"}))
    sql = tidelog.Analytics(engine)
    sql.register_stream("orders", schema=SCHEMA)
    inferred = sql.infer_schema("customers")
    assert inferred.sampled == 23 and inferred.unparsable == 0
    assert "$.country" in str(inferred)
    sql.register_stream("customers", schema=inferred)
    query = (
        "SELECT c.country, COUNT(*) AS n FROM orders o JOIN customers c ON o.customer = c.name "
        "GROUP BY c.country ORDER BY c.country"
    )
    de = sum(1 for o in orders if int(str(o["customer"]["name"])[1:]) % 3 == 0)  # type: ignore[index]
    assert pa.table(sql.sql(query)).to_pylist() == [{"country": "DE", "n": de}, {"country": "FR", "n": 1500 - de}]

    shard = engine.describe_stream("orders").shards[0]
    engine.split_shard("orders", shard.shard_id, (shard.starting_hash_key + shard.ending_hash_key) // 2 + 1)
    more = [order(i) for i in range(1500, 2000)]
    put_orders(engine, "orders", more)
    result = pa.table(sql.sql("SELECT COUNT(*) AS n, SUM(id) AS ids FROM orders")).to_pylist()
    assert result == [{"n": 2000, "ids": sum(range(2000))}]
    assert [t.name for t in sql.tables()] == ["customers", "orders"]


def test_bad_sql_and_bad_records(engine: tidelog.Engine) -> None:
    engine.create_stream("mixed", shard_count=1)
    for body in [b'{"id": 1, "region": "eu"}', b"garbage", b'{"id": "x"}', b'{"id": 2}']:
        engine.put_record("mixed", "k", body)
    sql = tidelog.Analytics(engine)
    sql.register_stream("mixed", schema=[("id", "BIGINT", "$.id"), ("region", "VARCHAR(4)", "$.region")])
    with pytest.raises(tidelog.SqlError, match=r"Line: 1, Column: 1"):
        sql.sql("SELEKT id FROM mixed")
    with pytest.raises(tidelog.SqlError, match="nope"):
        sql.sql("SELECT nope FROM mixed")
    with pytest.raises(tidelog.SchemaError, match="BLOB"):
        sql.register_stream("other", "mixed", schema=[("id", "BLOB", "$.id")])
    with pytest.raises(tidelog.ResourceNotFoundError):
        sql.register_stream("other", "no-such-stream", schema=[("id", "BIGINT", "$.id")])
    with pytest.raises(tidelog.ResourceInUseError):
        sql.register_stream("mixed", schema=[("id", "BIGINT", "$.id")])
    with pytest.raises(TypeError):
        tidelog.Analytics("not an engine")  # type: ignore[arg-type]
    result = sql.sql("SELECT id FROM mixed ORDER BY id")
    assert pa.table(result).column("id").to_pylist() == [1, 2]
    assert result.rejected == 2
    reasons = [r["reason"] for r in result.scans[0]["rejected_samples"]]
    assert "not a JSON object" in reasons[0] and "not an integer" in reasons[1]
    errors = pa.table(sql.sql("SELECT data, error FROM mixed_errors ORDER BY sequence_number")).to_pylist()
    assert [e["data"] for e in errors] == [b"garbage", b'{"id": "x"}']


def test_record_batches_become_arrow_over_the_mapped_log(engine: tidelog.Engine) -> None:
    engine.create_stream("raw", shard_count=1)
    bodies = [f"payload number {i} ".encode() * (1 + i % 4) for i in range(10_000)]
    for start in range(0, len(bodies), 500):
        engine.put_records("raw", [("k", b) for b in bodies[start : start + 500]])
    shard = engine.describe_stream("raw").shards[0].shard_id
    batch = engine.read("raw", shard, "trim_horizon", limit=10_000)
    assert len(batch) == 10_000
    table = batch.to_arrow()
    assert table.num_rows == 10_000
    assert table.schema.field("data").type == pa.binary_view()
    assert table.column("data").to_pylist() == bodies
    # The Arrow buffers are the segment files' own mapped bytes.
    data = table.column("data").chunk(0)
    for buffer in data.buffers()[2:]:
        assert mapping_of(buffer.address).endswith(".seg") or "/streams/" in mapping_of(buffer.address)
    assert pl.DataFrame(batch).height == 10_000
    records = batch
    ((n, size),) = duckdb.sql("SELECT COUNT(*), SUM(octet_length(data)) FROM records").fetchall()
    assert (n, size) == (10_000, sum(len(b) for b in bodies))
    del batch
    assert table.column("data")[9999].as_py() == bodies[9999]
