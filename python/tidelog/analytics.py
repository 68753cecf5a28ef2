"""SQL over streams: ``tidelog.Analytics`` (tidelog-analytics, on Apache DataFusion).

A stream becomes a table once it has an input schema (columns mapped from JSON paths
or CSV fields, plus the metadata columns every row has: ``shard_id``,
``sequence_number``, ``partition_key``, ``approximate_arrival_time``, ``data``).
Results are Arrow: any consumer of the Arrow PyCapsule interface takes them without
copying (``pyarrow.table(r)``, ``polars.from_arrow(r)``, DuckDB), and ``r.to_pandas()``
goes through pyarrow. Records that do not decode are counted in ``r.scans`` and listed
with their reasons by the table ``<table>_errors``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._engine import Engine
from ._tidelog import Analytics as _NativeAnalytics
from ._tidelog import SqlResult

__all__ = ["Analytics", "InferredSchema", "SqlResult", "TableInfo", "schema_json"]

Column = tuple[str, str, str] | tuple[str, str]


@dataclass(frozen=True)
class InferredSchema:
    """A schema proposed from sample records: look at it (``print(s)``), edit
    ``schema`` (Kinesis Data Analytics' JSON form, as a dict) if needed, then register.

    Attributes:
        schema: the input schema, Kinesis Data Analytics' JSON form as a dict.
        description: the columns, types and JSON paths, for people.
        sampled: records looked at.
        unparsable: records that were not JSON objects.
    """

    schema: dict[str, Any]
    description: str
    sampled: int
    unparsable: int

    def __str__(self) -> str:
        return (
            f"{self.description}\n(from {self.sampled} records"
            f"{f', {self.unparsable} not JSON objects' if self.unparsable else ''})"
        )


@dataclass(frozen=True)
class TableInfo:
    """A registered table.

    Attributes:
        name: the table's name (its error table is ``<name>_errors``).
        stream: the stream it reads.
        schema: its input schema, Kinesis Data Analytics' JSON form as a dict.
    """

    name: str
    stream: str
    schema: dict[str, Any]


def schema_json(schema: str | Mapping[str, Any] | Sequence[Column] | InferredSchema, *, format: str = "json") -> str:
    """An input schema as Kinesis Data Analytics' JSON text, from any accepted form:

    * that JSON text, or the same as a dict (``RecordFormat``, ``RecordColumns``);
    * a list of ``(name, sql_type, json_path)`` (``format="json"``) or
      ``(name, sql_type)`` in field order (``format="csv"``);
    * an :class:`InferredSchema`.
    """
    if isinstance(schema, InferredSchema):
        return json.dumps(schema.schema)
    if isinstance(schema, str):
        return schema
    if isinstance(schema, Mapping):
        return json.dumps(dict(schema))
    if format not in ("json", "csv"):
        raise ValueError(f"format must be 'json' or 'csv', not {format!r}")
    columns: list[dict[str, Any]] = []
    for i, column in enumerate(schema):
        if not isinstance(column, tuple) or len(column) not in (2, 3):
            raise TypeError(f"column {i}: expected (name, sql_type[, mapping]), got {column!r}")
        entry: dict[str, Any] = {"Name": column[0], "SqlType": column[1]}
        if len(column) == 3:
            entry["Mapping"] = column[2]
        columns.append(entry)
    record_format: dict[str, Any]
    if format == "json":
        record_format = {
            "RecordFormatType": "JSON",
            "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}},
        }
    else:
        record_format = {
            "RecordFormatType": "CSV",
            "MappingParameters": {
                "CSVMappingParameters": {"RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}
            },
        }
    return json.dumps({"RecordFormat": record_format, "RecordColumns": columns})


class Analytics:
    """SQL over an engine's streams. Queries run on the session's own threads, with
    the GIL released; any thread may use the session."""

    __slots__ = ("_native", "_engine")

    def __init__(self, engine: Engine, *, threads: int | None = None) -> None:
        if not isinstance(engine, Engine):
            raise TypeError(f"engine must be a tidelog.Engine, not {type(engine).__name__}")
        self._engine = engine
        self._native = _NativeAnalytics(engine.native, threads)

    def register_stream(
        self,
        table: str,
        stream: str | None = None,
        schema: str | Mapping[str, Any] | Sequence[Column] | InferredSchema | None = None,
        *,
        format: str = "json",
        replace: bool = False,
    ) -> None:
        """Makes ``stream`` (default: a stream named like the table) the table ``table``
        (and ``<table>_errors``). Without a schema, one is inferred from up to 1,000
        records (JSON streams only)."""
        stream = table if stream is None else stream
        if schema is None:
            schema = self.infer_schema(stream)
        self._native.register_stream(table, stream, schema_json(schema, format=format), replace)

    def deregister(self, table: str) -> None:
        """Removes a table and its error table."""
        self._native.deregister(table)

    def tables(self) -> list[TableInfo]:
        """The registered tables."""
        return [
            TableInfo(name=t["name"], stream=t["stream"], schema=json.loads(t["schema"]))
            for t in self._native.tables()
        ]

    def infer_schema(self, stream: str, sample: int = 1000) -> InferredSchema:
        """Proposes a JSON input schema from up to ``sample`` records of ``stream``."""
        out = self._native.infer_schema(stream, sample)
        return InferredSchema(
            schema=json.loads(out["schema"]),
            description=out["description"],
            sampled=out["sampled"],
            unparsable=out["unparsable"],
        )

    def sql(self, query: str) -> SqlResult:
        """Runs ``query`` (DataFusion's SQL dialect) and returns its result."""
        return self._native.sql(query)

    def __repr__(self) -> str:
        return f"Analytics(tables={[t.name for t in self.tables()]})"
