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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._engine import Engine
from ._tidelog import Analytics as _NativeAnalytics
from ._tidelog import Applications as _NativeApplications
from ._tidelog import SqlResult

if TYPE_CHECKING:
    from .firehose import Firehose

__all__ = [
    "Analytics",
    "ApplicationDescription",
    "Applications",
    "InferredSchema",
    "SqlResult",
    "TableInfo",
    "schema_json",
]

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


Output = tuple[str, str] | tuple[str, str, str]
Reference = tuple[str, str, "str | Mapping[str, Any] | Sequence[Column] | InferredSchema"]


@dataclass(frozen=True)
class ApplicationDescription:
    """What :meth:`Applications.describe` shows.

    Attributes:
        name: the application's name.
        status: ``READY``, ``RUNNING`` or ``FAILED``.
        code: its SQL.
        input_stream: the stream it reads.
        definition: its whole definition (the JSON form, as a dict).
        epoch: the last committed epoch.
        watermark_ms: the ROWTIME watermark (ms since the epoch), ``None`` before the
            first epoch.
        lag_ms: how far the watermark is behind the engine's clock.
        input_positions: the next sequence number to read, per input shard.
        records_in: input records read.
        records_out: records put into output streams.
        errors: rows of ``error_stream`` (late rows, records that did not decode).
        epochs: epochs committed.
        caught_up: whether its last epoch read every shard to its end.
        last_error: the error that stopped it, if it failed.
    """

    name: str
    status: str
    code: str
    input_stream: str
    definition: dict[str, Any]
    epoch: int
    watermark_ms: int | None
    lag_ms: int
    input_positions: dict[str, str]
    records_in: int
    records_out: int
    errors: int
    epochs: int
    caught_up: bool
    last_error: str | None


class Applications:
    """Continuous SQL applications (Kinesis Data Analytics' model) over an engine's
    streams: pumps, windows, results delivered into streams exactly once across
    crashes. Definitions and checkpoints live in the engine's data directory, and the
    applications that were running resume when ``Applications(engine)`` is created
    again."""

    __slots__ = ("_native", "_engine")

    def __init__(self, engine: Engine, firehose: Firehose | None = None) -> None:
        """``firehose`` (``engine.firehose()``): needed by applications whose outputs
        name delivery streams (``delivery_outputs``); close these applications before
        it."""
        if not isinstance(engine, Engine):
            raise TypeError(f"engine must be a tidelog.Engine, not {type(engine).__name__}")
        self._engine = engine
        self._native = _NativeApplications(engine.native, None if firehose is None else firehose.native)

    def create(
        self,
        name: str,
        code: str,
        input_stream: str,
        schema: str | Mapping[str, Any] | Sequence[Column] | InferredSchema,
        *,
        outputs: Sequence[Output] = (),
        delivery_outputs: Sequence[Output] = (),
        reference_tables: Sequence[Reference] = (),
        format: str = "json",
        name_prefix: str = "SOURCE_SQL_STREAM",
        allowed_lateness_ms: int = 0,
        watermark_delay_ms: int = 1000,
        max_records_per_shard: int = 100_000,
        input_kind: str = "stream",
    ) -> None:
        """Creates an application from its SQL ``code`` reading ``input_stream``
        (``schema``: its input schema, as for :meth:`Analytics.register_stream`).
        ``outputs``: ``(in_app_stream, stream[, "json" | "csv"])`` each;
        ``delivery_outputs``: ``(in_app_stream, delivery_stream[, "json" | "csv"])``
        each, into Firehose delivery streams (DirectPut; one row per record, each
        ending with a newline; needs ``Applications(engine, firehose)``);
        ``reference_tables``: ``(name, path, schema)`` each (JSON lines or CSV).
        ``input_kind="delivery_stream"``: ``input_stream`` names a Firehose delivery
        stream (DirectPut), read from its durable buffer (needs
        ``Applications(engine, firehose)``)."""
        outs: list[tuple[str, str, str, str]] = []
        for kind, specs in (("stream", outputs), ("delivery_stream", delivery_outputs)):
            for o in specs:
                if not isinstance(o, tuple) or len(o) not in (2, 3):
                    raise TypeError(f"output: expected (in_app_stream, stream[, format]), got {o!r}")
                outs.append((o[0], o[1], o[2] if len(o) == 3 else "json", kind))
        refs = [(r[0], r[1], schema_json(r[2])) for r in reference_tables]
        self._native.create(
            name,
            code,
            input_stream,
            schema_json(schema, format=format),
            outs,
            refs,
            name_prefix,
            allowed_lateness_ms,
            watermark_delay_ms,
            max_records_per_shard,
            input_kind,
        )

    def start(self, name: str, position: str | int = "LAST_STOPPED_POINT") -> None:
        """Starts an application: ``LAST_STOPPED_POINT`` (its checkpoint; the oldest
        record if it never ran), ``TRIM_HORIZON``, ``NOW``, or a time in ms since the
        epoch (the last three discard its window state)."""
        self._native.start(name, position)

    def stop(self, name: str) -> None:
        """Stops an application (its current epoch commits first)."""
        self._native.stop(name)

    def delete(self, name: str) -> None:
        """Deletes an application (stopped first); the streams it wrote stay."""
        self._native.delete(name)

    def list(self) -> list[tuple[str, str]]:
        """``(name, status)`` of every application."""
        return self._native.list()

    def describe(self, name: str) -> ApplicationDescription:
        """Status, input positions, lag and counters."""
        d = dict(self._native.describe(name))
        d["definition"] = json.loads(d["definition"])
        return ApplicationDescription(**d)

    def wait_idle(self, name: str, timeout: float = 30.0) -> None:
        """Waits until a running application has read everything and has nothing
        left to do at the engine clock's current time."""
        self._native.wait_idle(name, timeout)

    def reload_reference(self, name: str, table: str) -> None:
        """Reloads reference table ``table`` of application ``name`` from its file."""
        self._native.reload_reference(name, table)

    def add_callback(self, name: str, in_app_stream: str, callback: Callable[[str, int, SqlResult], None]) -> None:
        """Calls ``callback(stream, epoch, rows)`` with each epoch's rows of
        ``in_app_stream`` (``rows`` is Arrow: ``pyarrow.table(rows)``), on the
        application's thread; at least once across crashes (the same epoch number
        and rows again). Add callbacks while the application is stopped."""
        self._native.add_callback(name, in_app_stream, callback)

    def clear_callbacks(self, name: str) -> None:
        """Removes every callback of application ``name`` (stop it first; callbacks
        live in this process only, so a new ``Applications(engine)`` starts with
        none)."""
        self._native.clear_callbacks(name)

    def close(self) -> None:
        """Stops every application's thread; running ones resume at the next
        ``Applications(engine)``."""
        self._native.close()

    def __repr__(self) -> str:
        return f"Applications({self.list()})"
