"""The Pythonic API: ``tidelog.open`` and the ``Engine`` and ``Subscription`` it hands out.

The work is done by the native module (``tidelog._tidelog``), which releases the GIL
around every blocking call; this layer shapes arguments and results (dataclasses,
datetimes, iterators, context managers). Reads return the native ``RecordBatch`` and
``Record`` objects as they are, so record data stays zero-copy.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from . import _tidelog
from ._time import to_ms
from ._tidelog import Error, Record, RecordBatch
from ._types import (
    AccountLimits,
    AccountSettings,
    ConsumerDescription,
    EndedShard,
    EnhancedMonitoring,
    Limits,
    MaintenanceReport,
    PutResult,
    QueueBatchResult,
    QueueDescription,
    QueueEntryFailure,
    QueueRecord,
    ScalingReport,
    ShardCountUpdate,
    ShardDescription,
    ShardEvent,
    ShardMetrics,
    StreamDescription,
    StreamSummary,
    WarmThroughput,
)

if TYPE_CHECKING:
    from .firehose import Firehose

_PUT_RECORDS_MAX = 500  # entries per PutRecords call (Kinesis)
_TAGS_MAX = 50  # tags per stream, and tag keys per removal call

__all__ = ["Engine", "ShardSubscription", "Subscription", "open"]

AWS_MANAGED_KEY = "alias/aws/kinesis"

_Durability: TypeAlias = Literal["sync", "os"]
_IteratorType: TypeAlias = Literal[
    "trim_horizon", "latest", "at_sequence_number", "after_sequence_number", "at_timestamp"
]
_ShardFilter: TypeAlias = Literal[
    "all", "at_trim_horizon", "from_trim_horizon", "at_latest", "at_timestamp", "from_timestamp", "after_shard_id"
]
_Mode: TypeAlias = Literal["PROVISIONED", "ON_DEMAND", "provisioned", "on_demand"]
_Distribution: TypeAlias = Literal["USER_PARTITION_KEY", "AUTO", "user_partition_key", "auto"]
_Data: TypeAlias = bytes | bytearray | memoryview | str
_Timestamp: TypeAlias = datetime | int | float

# How long one wait of an async iteration may run in its worker thread: bounds how long
# a cancelled `async for` keeps that thread busy.
_ASYNC_SLICE_SECONDS = 0.2


def open(
    path: str | os.PathLike[str],
    *,
    cores: int | None = None,
    durability: _Durability = "sync",
    limits: Literal["kinesis", "unlimited"] | Limits = "kinesis",
    pin_cores: bool = True,
    retention_hours_default: int | None = None,
    retention_hours_min: int | None = None,
    max_shards: int | None = None,
    record_bytes_max: int | None = None,
    sync_driver: Literal["io_uring", "blocking"] = "io_uring",
    clock: _tidelog.ManualClock | None = None,
    region: str | None = None,
    account_id: str | None = None,
    key_provider: Callable[[str], bytes] | None = None,
    key_dir: str | os.PathLike[str] | None = None,
    consumer_transition: float | None = None,
    consumers_per_stream_max: int | None = None,
    on_demand_stream_count_max: int | None = None,
    on_demand_evaluation_interval: float | None = None,
    on_demand_max_shards: int | None = None,
    machine: Literal["shared", "dedicated"] = "shared",
) -> Engine:
    """Opens (or creates) a tidelog engine in the data directory ``path``.

    Args:
        path: the data directory (created if missing). One engine at a time may have it
            open (a second open raises ``ResourceInUseError``).
        cores: how many cores (executors) to run; ``None``: chosen by ``machine``
            (shared: one per usable CPU but one, at least one; dedicated: one per CPU).
        durability: default durability of puts: ``"sync"`` acknowledges after an
            fdatasync covering the record (survives power loss); ``"os"`` once it is in
            the page cache (survives a crash of the process). A put may ask for another.
        limits: ``"kinesis"`` (per shard: writes 1 MiB/s and 1,000 records/s, reads
            2 MiB/s and 5 calls/s), ``"unlimited"``, or a ``tidelog.Limits``.
        pin_cores: pin each core to its own CPU.
        retention_hours_default: retention of new streams (default 24).
        retention_hours_min: shortest retention allowed (Kinesis: 24; down to 1).
        max_shards: most open shards across all streams (default 10,000).
        record_bytes_max: the largest record any stream may take, data plus partition
            key (default and most: 10 MiB; each stream starts at 1 MiB and is raised
            with ``update_max_record_size``).
        sync_driver: ``"io_uring"`` (default) or ``"blocking"`` fdatasyncs.
        clock: a ``tidelog.testing.ManualClock``, for tests only.
        region: the region in ARNs (default ``"local"``).
        account_id: the 12-digit account in ARNs (default ``"000000000000"``).
        key_provider: where encryption keys come from: ``provider(key_id) -> bytes``
            (32 bytes), raising ``tidelog.KMSNotFoundError`` (or another KMS error) to
            refuse. Default: key files in ``key_dir``.
        key_dir: the built-in key provider's directory (default ``<path>/kms``; it
            makes ``alias/aws/kinesis`` on first use).
        consumer_transition: seconds a consumer stays CREATING (and DELETING) on the
            engine's clock (default 0).
        consumers_per_stream_max: most consumers per stream (default 20).
        on_demand_stream_count_max: most ON_DEMAND streams (default 50).
        on_demand_evaluation_interval: seconds between on-demand scaling decisions
            (engine clock; default 60).
        on_demand_max_shards: most shards an on-demand stream grows to (default 200).
        machine: ``"shared"`` (default): the engine shares the CPUs with its callers
            (this notebook, a thread pool...): a CPU is left to callers, and neither
            cores nor callers spin where they could take the CPU the other needs.
            ``"dedicated"``: a machine set up for tidelog, callers kept off the cores'
            CPUs by the user; one core per CPU and unconditional spinning (the
            benchmark's tuned figures).

    Returns:
        The engine; use it as a context manager or call ``close()``.
    """
    native_limits: str | dict[str, int | None]
    if isinstance(limits, Limits):
        native_limits = limits.to_dict()
    else:
        native_limits = limits
    native = _tidelog.Engine.open(
        path,
        cores=cores,
        machine=machine,
        pin_cores=pin_cores,
        durability=durability,
        limits=native_limits,
        retention_hours_default=retention_hours_default,
        retention_hours_min=retention_hours_min,
        max_shards=max_shards,
        record_bytes_max=record_bytes_max,
        sync_driver=sync_driver,
        clock=clock,
        region=region,
        account_id=account_id,
        key_provider=key_provider,
        key_dir=key_dir,
        consumer_transition=consumer_transition,
        consumers_per_stream_max=consumers_per_stream_max,
        on_demand_stream_count_max=on_demand_stream_count_max,
        on_demand_evaluation_interval=on_demand_evaluation_interval,
        on_demand_max_shards=on_demand_max_shards,
    )
    return Engine(native)


def _iterator_args(
    iterator_type: str,
    sequence_number: str | int | None,
    timestamp: _Timestamp | None,
) -> tuple[str, str | int | None, int | None]:
    if not isinstance(iterator_type, str):
        raise TypeError(f"iterator_type must be str, not {type(iterator_type).__name__}")
    ts_ms = None if timestamp is None else to_ms(timestamp, "timestamp")
    return iterator_type, sequence_number, ts_ms


class Engine:
    """A running tidelog engine: streams of shards in one data directory.

    Made by ``tidelog.open``. Thread-safe: share one engine between threads. Close it
    (or use ``with``) to sync and release the data directory; records already read
    stay valid after that.
    """

    __slots__ = ("_native", "_firehose", "_firehose_lock")

    def __init__(self, native: _tidelog.Engine) -> None:
        """Wraps a native engine (use ``tidelog.open`` to make one)."""
        if not isinstance(native, _tidelog.Engine):
            raise TypeError("use tidelog.open(path) to open an engine")
        self._native = native
        self._firehose: Any = None
        self._firehose_lock = threading.Lock()

    @property
    def native(self) -> _tidelog.Engine:
        """The native engine handle (``tidelog._tidelog.Engine``)."""
        return self._native

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._native)

    def close(self) -> None:
        """Syncs and closes every log and stops the cores. Idempotent; afterwards every
        call raises ``tidelog.ClosedError``. Closes the engine's Firehose first."""
        if self._firehose is not None:
            self._firehose.close()
        self._native.close()

    def firehose(self, **options: Any) -> Firehose:
        """The engine's Firehose delivery streams (``tidelog.firehose.Firehose``), opened
        on the first call with ``options`` (``stores``, ``default_store``, ``lambdas``,
        ``ingest_limits``...: see ``tidelog.firehose.open_firehose``); later calls return
        the same object and take no options."""
        with self._firehose_lock:
            if self._firehose is None:
                from .firehose import open_firehose

                self._firehose = open_firehose(self, **options)
            elif options and any(v is not None for v in options.values()):
                raise ValueError("Firehose is already open on this engine; options go with the first call")
            firehose: Firehose = self._firehose
            return firehose

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran."""
        return self._native.closed

    @property
    def path(self) -> str:
        """The data directory."""
        return os.fspath(self._native.path)

    @property
    def cores(self) -> int:
        """Number of cores (executors) running."""
        return self._native.cores

    @property
    def durability(self) -> _Durability:
        """The default durability of puts."""
        return self._native.durability

    @property
    def limits(self) -> Limits:
        """The per-shard limits the engine enforces."""
        return Limits.from_dict(self._native.limits)

    @property
    def record_bytes_max(self) -> int:
        """Largest record accepted (data plus partition key), bytes."""
        return self._native.record_bytes_max

    def flush(self) -> None:
        """Makes every record put so far durable (an fdatasync on every core)."""
        self._native.flush()

    def run_maintenance(self) -> MaintenanceReport:
        """Runs retention now (it also runs every second on its own)."""
        return MaintenanceReport(**self._native.run_maintenance())

    def expire_shards(self) -> int:
        """Expires closed shards whose data is all past retention; returns how many."""
        return self._native.expire_shards()

    # -- streams -----------------------------------------------------------------------

    def create_stream(
        self,
        name: str,
        shard_count: int | None = None,
        *,
        mode: _Mode = "PROVISIONED",
        max_record_size_kib: int | None = None,
        tags: Mapping[str, str] | None = None,
        warm_throughput_mibps: int | None = None,
        record_distribution: _Distribution = "USER_PARTITION_KEY",
    ) -> None:
        """Creates a stream: PROVISIONED with ``shard_count`` shards (default 1)
        splitting the hash key space evenly, or ON_DEMAND (no shard count: 4 shards to
        start, then the engine scales it). ``max_record_size_kib``: 1,024 to 10,240.
        ``record_distribution="AUTO"`` (ON_DEMAND only) deals records evenly to the open
        shards, ignoring their keys.

        Raises ``ResourceInUseError`` if it exists, ``ValidationError`` for a bad name or
        count, ``LimitExceededError`` past ``max_shards``.
        """
        if shard_count is None and mode.upper() == "PROVISIONED":
            shard_count = 1
        self._native.create_stream(
            name,
            shard_count,
            mode=mode,
            max_record_size_kib=max_record_size_kib,
            tags=None if tags is None else dict(tags),
            warm_throughput_mibps=warm_throughput_mibps,
            record_distribution=record_distribution,
        )

    def delete_stream(self, name: str, *, enforce_consumer_deletion: bool = False) -> None:
        """Deletes a stream and all its data (records already read stay valid). A stream
        with registered consumers needs ``enforce_consumer_deletion=True``."""
        self._native.delete_stream(name, enforce_consumer_deletion)

    def stream_arn(self, name: str) -> str:
        """The ARN of stream ``name``."""
        return self._native.stream_arn(name)

    def list_streams(self) -> list[str]:
        """Every stream's name, in order."""
        names: list[str] = []
        start: str | None = None
        while True:
            page, has_more = self._native.list_streams(10_000, start)
            names.extend(page)
            if not has_more or not page:
                return names
            start = page[-1]

    def describe_stream(self, name: str) -> StreamDescription:
        """Status, shards (with hash key ranges and lineage), retention, tags."""
        return StreamDescription.from_dict(self._native.describe_stream(name))

    def describe_stream_summary(self, name: str) -> StreamSummary:
        """Status, open shard count, retention, without the shard list."""
        return StreamSummary.from_dict(self._native.describe_stream_summary(name))

    def list_shards(
        self,
        name: str,
        *,
        filter: _ShardFilter = "all",
        timestamp: _Timestamp | None = None,
        after_shard_id: str | None = None,
    ) -> list[ShardDescription]:
        """The stream's shards (expired ones are never listed).

        ``filter``: ``"all"`` / ``"at_trim_horizon"`` / ``"from_trim_horizon"`` (every
        shard not expired), ``"at_latest"`` (open shards), ``"at_timestamp"`` (shards
        open at ``timestamp``), ``"from_timestamp"`` (open shards and those closed at or
        after ``timestamp``), ``"after_shard_id"`` (shards after ``after_shard_id``).
        """
        ts_ms = None if timestamp is None else to_ms(timestamp, "timestamp")
        shards = self._native.list_shards(name, filter, ts_ms, after_shard_id)
        return [ShardDescription(**s) for s in shards]

    def split_shard(self, name: str, shard_id: str, new_starting_hash_key: int | str) -> None:
        """Closes ``shard_id`` and creates two children; the second starts at
        ``new_starting_hash_key`` (inside the parent's range, above its first key)."""
        self._native.split_shard(name, shard_id, new_starting_hash_key)

    def merge_shards(self, name: str, shard_id: str, adjacent_shard_id: str) -> None:
        """Closes two adjacent open shards and creates one child covering both."""
        self._native.merge_shards(name, shard_id, adjacent_shard_id)

    def update_shard_count(self, name: str, target_shard_count: int) -> ShardCountUpdate:
        """Uniform scaling to ``target_shard_count`` open shards (half to double the
        current count per call), through splits and merges."""
        current, target = self._native.update_shard_count(name, target_shard_count)
        return ShardCountUpdate(current, target)

    def increase_stream_retention_period(self, name: str, hours: int) -> None:
        """Raises retention to ``hours`` (up to 8,760); expired data does not come back."""
        self._native.increase_stream_retention_period(name, hours)

    def decrease_stream_retention_period(self, name: str, hours: int) -> None:
        """Lowers retention to ``hours``; older records become unreadable at once."""
        self._native.decrease_stream_retention_period(name, hours)

    def add_tags_to_stream(self, name: str, tags: Mapping[str, str]) -> None:
        """Adds or overwrites tags (at most 50 per stream)."""
        if not isinstance(tags, Mapping):
            raise TypeError(f"tags must be a dict of str to str, not {type(tags).__name__}")
        self._native.add_tags_to_stream(name, dict(tags))

    def remove_tags_from_stream(self, name: str, keys: Iterable[str]) -> None:
        """Removes tags by key (absent keys are ignored)."""
        if isinstance(keys, str):
            raise TypeError("keys must be an iterable of str, not a single str")
        # One past the limit is enough for the engine to refuse an oversized call.
        self._native.remove_tags_from_stream(name, list(itertools.islice(keys, _TAGS_MAX + 1)))

    def list_tags_for_stream(self, name: str) -> dict[str, str]:
        """The stream's tags."""
        return self._native.list_tags_for_stream(name)

    # -- metrics -----------------------------------------------------------------------

    def metrics(self, stream: str | None = None) -> list[ShardMetrics]:
        """A snapshot of every live shard's counters (of one stream, or of all)."""
        return [ShardMetrics(**m) for m in self._native.metrics(stream)]

    def stream_metrics_total(self, stream: str) -> ShardMetrics:
        """A stream's counters summed over its live shards (``shard_id`` is empty)."""
        return ShardMetrics(**self._native.stream_metrics_total(stream))

    def metrics_openmetrics(self) -> str:
        """Every stream's totals, and the shard-level counters its enhanced monitoring
        enables, as OpenMetrics text (for Prometheus and friends)."""
        return self._native.metrics_openmetrics()

    def enable_enhanced_monitoring(self, stream: str, metrics: Iterable[str]) -> EnhancedMonitoring:
        """Turns on shard-level metrics (Kinesis names such as ``"IncomingBytes"``, or
        ``"ALL"``): they are exported per shard by ``metrics_openmetrics``."""
        return EnhancedMonitoring(**self._native.enable_enhanced_monitoring(stream, list(metrics)))

    def disable_enhanced_monitoring(self, stream: str, metrics: Iterable[str]) -> EnhancedMonitoring:
        """Turns shard-level metrics off."""
        return EnhancedMonitoring(**self._native.disable_enhanced_monitoring(stream, list(metrics)))

    def describe_limits(self) -> AccountLimits:
        """The shard limit and open shards; the ON_DEMAND stream count and limit."""
        return AccountLimits(**self._native.describe_limits())

    # -- consumers and SubscribeToShard -------------------------------------------------

    def register_stream_consumer(
        self, stream: str, name: str, *, tags: Mapping[str, str] | None = None
    ) -> ConsumerDescription:
        """Registers an enhanced fan-out consumer (at most 20 per stream); it is CREATING,
        then ACTIVE (at once unless ``consumer_transition`` was set)."""
        return ConsumerDescription(**self._native.register_stream_consumer(
            stream, name, None if tags is None else dict(tags)))

    def deregister_stream_consumer(
        self, stream: str | None = None, name: str | None = None, *, arn: str | None = None
    ) -> None:
        """Deregisters a consumer (by ``arn``, or by ``stream`` and ``name``); its
        subscriptions end."""
        self._native.deregister_stream_consumer(stream, name, arn)

    def describe_stream_consumer(
        self, stream: str | None = None, name: str | None = None, *, arn: str | None = None
    ) -> ConsumerDescription:
        """A consumer (by ``arn``, or by ``stream`` and ``name``)."""
        return ConsumerDescription(**self._native.describe_stream_consumer(stream, name, arn))

    def list_stream_consumers(self, stream: str) -> list[ConsumerDescription]:
        """Every consumer of a stream, in name order."""
        out: list[ConsumerDescription] = []
        start: str | None = None
        while True:
            page, has_more = self._native.list_stream_consumers(stream, 10_000, start)
            out.extend(ConsumerDescription(**c) for c in page)
            if not has_more or not page:
                return out
            start = page[-1]["name"]

    # -- queues -------------------------------------------------------------------------

    def create_queue(
        self,
        name: str,
        stream_arn: str,
        *,
        starting_position: Literal["LATEST", "TRIM_HORIZON", "AT_TIMESTAMP"] = "LATEST",
        timestamp: _Timestamp | None = None,
        visibility_timeout: int | None = None,
        max_receive_count: int | None = None,
        dead_letter: bool = True,
        tags: Mapping[str, str] | None = None,
    ) -> QueueDescription:
        """Creates a queue on an ON_DEMAND stream (by ARN), delivering from
        ``starting_position`` (``timestamp`` with AT_TIMESTAMP). ``visibility_timeout``
        defaults to 30 s; a record received ``max_receive_count`` times (default 6)
        without an acknowledgement becomes a dead letter, unless ``dead_letter`` is
        False. It is CREATING, then ACTIVE (at once unless ``consumer_transition``)."""
        if not dead_letter and max_receive_count is not None:
            raise ValueError("max_receive_count goes with dead_letter=True")
        ts_ms = None if timestamp is None else to_ms(timestamp, "timestamp")
        kind = None if dead_letter else "NONE"
        return QueueDescription(**self._native.create_queue(
            name, stream_arn, starting_position, ts_ms, visibility_timeout, kind, max_receive_count,
            None if tags is None else dict(tags)))

    def delete_queue(self, arn: str) -> None:
        """Deletes a queue: it delivers nothing more and its receipt handles stop working."""
        self._native.delete_queue(arn)

    def describe_queue(self, arn: str) -> QueueDescription:
        """A queue, by ARN."""
        return QueueDescription(**self._native.describe_queue(arn))

    def list_queues(self, stream_arn: str | None = None) -> list[QueueDescription]:
        """Every queue (of the stream of ``stream_arn`` if given), in name order."""
        filters = None if stream_arn is None else [(stream_arn, None)]
        out: list[QueueDescription] = []
        start: str | None = None
        while True:
            page, has_more = self._native.list_queues(10_000, start, filters)
            out.extend(QueueDescription(**q) for q in page)
            if not has_more or not page:
                return out
            start = page[-1]["name"]

    def update_queue(
        self,
        arn: str,
        *,
        visibility_timeout: int | None = None,
        max_receive_count: int | None = None,
        dead_letter: bool | None = None,
    ) -> QueueDescription:
        """Changes a queue's visibility timeout and/or dead-letter handling
        (``dead_letter=False`` turns it off; ``max_receive_count`` turns it on with that
        count); records in flight keep their timeouts."""
        if dead_letter is False and max_receive_count is not None:
            raise ValueError("max_receive_count goes with dead_letter=True")
        if dead_letter is True and max_receive_count is None:
            raise ValueError("dead_letter=True needs max_receive_count")
        kind = "NONE" if dead_letter is False else None
        return QueueDescription(**self._native.update_queue(arn, visibility_timeout, kind, max_receive_count))

    def receive_queue_records(
        self, arn: str, *, limit: int = 10, wait: float = 0.0, visibility_timeout: int | None = None
    ) -> list[QueueRecord]:
        """Up to ``limit`` (1 to 10) visible records, each in flight for
        ``visibility_timeout`` seconds (default: the queue's); with none visible, waits
        up to ``wait`` seconds (at most 20) for one."""
        return [QueueRecord(**r) for r in self._native.receive_queue_records(
            arn, limit, float(wait), visibility_timeout, False)]

    def receive_dead_letter_queue_records(
        self, arn: str, *, limit: int = 10, wait: float = 0.0, visibility_timeout: int | None = None
    ) -> list[QueueRecord]:
        """As ``receive_queue_records``, for the queue's dead letters."""
        return [QueueRecord(**r) for r in self._native.receive_queue_records(
            arn, limit, float(wait), visibility_timeout, True)]

    @staticmethod
    def _batch(out: tuple[list[str], list[tuple[str, str, str]]]) -> QueueBatchResult:
        successful, failed = out
        return QueueBatchResult(successful, [QueueEntryFailure(*f) for f in failed])

    def acknowledge_queue_records(self, arn: str, receipt_handles: Iterable[str]) -> QueueBatchResult:
        """Acknowledges up to 10 records (never delivered again); each entry succeeds or
        fails on its own."""
        return self._batch(self._native.queue_entries(arn, "acknowledge", list(receipt_handles)))

    def update_queue_records_visibility(
        self, arn: str, entries: Mapping[str, int] | Iterable[tuple[str, int]]
    ) -> QueueBatchResult:
        """Sets each record's visibility timeout from now (``{handle: seconds}``; 0:
        visible at once)."""
        pairs = list(entries.items() if isinstance(entries, Mapping) else entries)
        return self._batch(self._native.queue_entries(
            arn, "visibility", [h for h, _ in pairs], [t for _, t in pairs], False))

    def acknowledge_dead_letter_queue_records(self, arn: str, receipt_handles: Iterable[str]) -> QueueBatchResult:
        """Discards up to 10 dead letters."""
        return self._batch(self._native.queue_entries(arn, "acknowledge", list(receipt_handles), None, True))

    def update_dead_letter_queue_records_visibility(
        self, arn: str, entries: Mapping[str, int] | Iterable[tuple[str, int]]
    ) -> QueueBatchResult:
        """As ``update_queue_records_visibility``, for dead letters."""
        pairs = list(entries.items() if isinstance(entries, Mapping) else entries)
        return self._batch(self._native.queue_entries(
            arn, "visibility", [h for h, _ in pairs], [t for _, t in pairs], True))

    def restore_dead_letter_queue_records(self, arn: str, receipt_handles: Iterable[str]) -> QueueBatchResult:
        """Returns up to 10 dead letters to the queue, visible at once, their receive
        counts reset."""
        return self._batch(self._native.queue_entries(arn, "restore", list(receipt_handles), None, True))

    def subscribe_to_shard(
        self,
        consumer_arn: str,
        shard_id: str,
        iterator_type: _IteratorType = "latest",
        *,
        sequence_number: str | int | None = None,
        timestamp: _Timestamp | None = None,
    ) -> ShardSubscription:
        """SubscribeToShard: events of the shard for the consumer (records as they
        commit, a heartbeat at least every 5 s, at most 5 minutes; see
        ``ShardSubscription``). One subscription per consumer and shard: a second one
        within 5 s raises ``ResourceInUseError``, later it takes over."""
        kind, seq, ts_ms = _iterator_args(iterator_type, sequence_number, timestamp)
        return ShardSubscription(self._native.subscribe_to_shard(consumer_arn, shard_id, kind, seq, ts_ms))

    # -- resources by ARN ------------------------------------------------------------------

    def tag_resource(self, arn: str, tags: Mapping[str, str]) -> None:
        """Adds or overwrites tags of a stream or consumer (by ARN; at most 50)."""
        if not isinstance(tags, Mapping):
            raise TypeError(f"tags must be a dict of str to str, not {type(tags).__name__}")
        self._native.tag_resource(arn, dict(tags))

    def untag_resource(self, arn: str, keys: Iterable[str]) -> None:
        """Removes tags of a stream or consumer by key."""
        if isinstance(keys, str):
            raise TypeError("keys must be an iterable of str, not a single str")
        self._native.untag_resource(arn, list(itertools.islice(keys, _TAGS_MAX + 1)))

    def list_tags_for_resource(self, arn: str) -> dict[str, str]:
        """The tags of a stream or consumer (by ARN)."""
        return self._native.list_tags_for_resource(arn)

    def put_resource_policy(self, arn: str, policy: str | Mapping[str, object]) -> None:
        """Attaches a resource policy (a JSON document, or a dict) to a stream or
        consumer. It is validated and kept durably, not enforced: an embedded engine
        has no principals to check it against."""
        text = policy if isinstance(policy, str) else json.dumps(policy)
        self._native.put_resource_policy(arn, text)

    def get_resource_policy(self, arn: str) -> str | None:
        """The resource policy of a stream or consumer, or ``None``."""
        return self._native.get_resource_policy(arn)

    def delete_resource_policy(self, arn: str) -> None:
        """Removes the resource policy (``ResourceNotFoundError`` if none)."""
        self._native.delete_resource_policy(arn)

    # -- encryption and capacity -----------------------------------------------------------

    def start_stream_encryption(self, stream: str, key_id: str = AWS_MANAGED_KEY) -> None:
        """Encrypts records put from now on with a data key wrapped by the key
        provider's ``key_id`` (a new key id changes the key; older records keep theirs)."""
        self._native.start_stream_encryption(stream, "KMS", key_id)

    def stop_stream_encryption(self, stream: str, key_id: str = AWS_MANAGED_KEY) -> None:
        """Stores records put from now on plain (``key_id``: the current key)."""
        self._native.stop_stream_encryption(stream, "KMS", key_id)

    def update_max_record_size(self, stream: str, max_record_size_kib: int) -> None:
        """The largest record of the stream: 1,024 to 10,240 KiB."""
        self._native.update_max_record_size(stream, max_record_size_kib)

    def update_stream_record_distribution(self, stream: str, strategy: _Distribution) -> None:
        """UpdateStreamRecordDistributionStrategy: ``"AUTO"`` (ON_DEMAND streams only:
        new records are dealt evenly to the open shards, keys ignored) or
        ``"USER_PARTITION_KEY"`` (by key)."""
        self._native.update_stream_record_distribution(stream, strategy)

    def update_stream_mode(self, stream: str, mode: _Mode, *, warm_throughput_mibps: int | None = None) -> None:
        """Switches PROVISIONED / ON_DEMAND (twice a day at most)."""
        self._native.update_stream_mode(stream, mode, warm_throughput_mibps)

    def update_stream_warm_throughput(self, stream: str, mibps: int) -> WarmThroughput:
        """Scales an ON_DEMAND stream to take ``mibps`` MiB/s at once (the account's
        billing commitment must be on)."""
        out = self._native.update_stream_warm_throughput(stream, mibps)
        return WarmThroughput(**out["warm_throughput"])

    def describe_account_settings(self) -> AccountSettings:
        """The account's minimum throughput billing commitment."""
        return AccountSettings(**self._native.describe_account_settings())

    def update_account_settings(self, *, commitment_enabled: bool) -> AccountSettings:
        """Turns the billing commitment on or off (it lasts at least 24 hours)."""
        return AccountSettings(**self._native.update_account_settings(commitment_enabled))

    def scale_on_demand_streams(self) -> list[ScalingReport]:
        """Runs on-demand scaling now for the streams whose evaluation is due on the
        engine's clock (it also runs on its own)."""
        return [ScalingReport(**r) for r in self._native.scale_on_demand_streams()]

    # -- writes ------------------------------------------------------------------------

    def put_record(
        self,
        stream: str,
        partition_key: str,
        data: _Data,
        *,
        explicit_hash_key: int | str | None = None,
        sequence_number_for_ordering: str | int | None = None,
        durability: _Durability | None = None,
    ) -> PutResult:
        """Appends one record to the shard its partition key (MD5) or explicit hash key
        routes to; returns once it is as durable as ``durability`` (default: the
        engine's) asks.

        ``data``: bytes-like or ``str`` (UTF-8). Raises ``ValidationError`` (key or size),
        ``ProvisionedThroughputExceededError`` (nothing was written), ...
        """
        shard_id, seq, encrypted = self._native.put_record(
            stream,
            partition_key,
            data,
            explicit_hash_key,
            sequence_number_for_ordering,
            durability,
        )
        return PutResult(shard_id, seq, encrypted)

    def put_records(
        self,
        stream: str,
        records: Iterable[tuple[str, _Data] | tuple[str, _Data, int | str | None]],
        *,
        durability: _Durability | None = None,
    ) -> list[PutResult | Error]:
        """Appends up to 500 records (5 MiB) in one call: ``(partition_key, data)`` or
        ``(partition_key, data, explicit_hash_key)`` tuples.

        Returns one item per record, in order: its ``PutResult``, or the ``tidelog.Error``
        that record failed with (a throttled record does not fail the others). A
        malformed request (a bad key, a record too large) raises before anything is
        written.
        """
        if isinstance(records, (str, bytes)) or not hasattr(records, "__iter__"):
            raise TypeError(
                "records must be an iterable of (partition_key, data[, explicit_hash_key]) "
                f"tuples, not {type(records).__name__}"
            )
        # Never more than one past the limit: an endless iterable is refused, not drained.
        batch = list(itertools.islice(records, _PUT_RECORDS_MAX + 1))
        if len(batch) > _PUT_RECORDS_MAX:
            raise _tidelog.ValidationError(
                f"PutRecords takes 1 to {_PUT_RECORDS_MAX} records; more than "
                f"{_PUT_RECORDS_MAX} given"
            )
        # The native call builds the PutResults itself (no Python __init__ per record).
        return self._native.put_records(stream, batch, durability)

    # -- reads -------------------------------------------------------------------------

    def get_shard_iterator(
        self,
        stream: str,
        shard_id: str,
        iterator_type: _IteratorType = "trim_horizon",
        *,
        sequence_number: str | int | None = None,
        timestamp: _Timestamp | None = None,
    ) -> str:
        """A shard iterator, valid for five minutes.

        ``iterator_type`` (any case): ``trim_horizon`` (oldest record kept), ``latest``
        (records put from now on), ``at_sequence_number`` / ``after_sequence_number``
        (with ``sequence_number``), ``at_timestamp`` (with ``timestamp``: an aware
        ``datetime`` or seconds since the epoch).
        """
        kind, seq, ts_ms = _iterator_args(iterator_type, sequence_number, timestamp)
        return self._native.get_shard_iterator(stream, shard_id, kind, seq, ts_ms)

    def get_records(self, iterator: str, limit: int | None = None) -> RecordBatch:
        """Up to ``limit`` (default and maximum 10,000) records from the iterator's
        position: a ``RecordBatch`` of zero-copy records, with ``next_iterator``,
        ``millis_behind_latest`` and, at the end of a closed shard, ``child_shards``."""
        return self._native.get_records(iterator, limit)

    def read(
        self,
        stream: str,
        shard_id: str,
        iterator_type: _IteratorType = "trim_horizon",
        *,
        sequence_number: str | int | None = None,
        timestamp: _Timestamp | None = None,
        limit: int | None = None,
    ) -> RecordBatch:
        """``get_shard_iterator`` and ``get_records`` in one call (one read call against
        the shard's 5 calls/s)."""
        iterator = self.get_shard_iterator(
            stream, shard_id, iterator_type, sequence_number=sequence_number, timestamp=timestamp
        )
        return self._native.get_records(iterator, limit)

    def subscribe(
        self,
        stream: str,
        shard_id: str,
        iterator_type: _IteratorType = "latest",
        *,
        sequence_number: str | int | None = None,
        timestamp: _Timestamp | None = None,
        follow_lineage: bool = False,
        timeout: float | None = None,
    ) -> Subscription:
        """Tails a shard: records arrive as they commit (like enhanced fan-out, with its
        own 2 MiB/s budget instead of the shard's GetRecords limits).

        With ``follow_lineage``, the subscription goes on to the shard's children after
        a split or merge, parents before children, so each partition key stays in order.
        ``timeout`` (seconds, ``None``: no end) is how long iteration waits for the next
        record before it stops; see ``Subscription``.
        """
        kind, seq, ts_ms = _iterator_args(iterator_type, sequence_number, timestamp)
        native = self._native.subscribe(stream, shard_id, kind, seq, ts_ms, follow_lineage)
        return Subscription(native, timeout)


class Subscription:
    """Records of a shard (and, on request, its descendants) as they commit.

    Iterate it (``for record in sub``, or ``async for``): each step waits up to
    ``timeout`` seconds for the next record, and the loop ends when none came in time or
    the subscription is finished (every shard it reads was closed and read to its end).
    Iterating again resumes where it stopped. ``next_record`` and ``next_batch`` wait
    once with their own timeout. Thread-safe; waits release the GIL and can be
    interrupted (Ctrl-C). Close it (or use ``with``) to let go of its shards.

    Attributes:
        timeout: Seconds each iteration step waits for the next record (``None``: no end).
    """

    __slots__ = ("_native", "timeout")

    def __init__(self, native: _tidelog.Subscription, timeout: float | None = None) -> None:
        """Wraps a native subscription (use ``Engine.subscribe`` to make one)."""
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
            raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"timeout must be >= 0 seconds, not {timeout}")
        self._native = native
        self.timeout: float | None = timeout

    def __iter__(self) -> Iterator[Record]:
        return self

    def __next__(self) -> Record:
        record = self._native.next_record(self.timeout)
        if record is None:
            raise StopIteration
        return record

    def __aiter__(self) -> AsyncIterator[Record]:
        return self

    async def __anext__(self) -> Record:
        loop = asyncio.get_running_loop()
        deadline = None if self.timeout is None else loop.time() + self.timeout
        while True:
            wait = _ASYNC_SLICE_SECONDS
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - loop.time()))
            record = await loop.run_in_executor(None, self._native.next_record, wait)
            if record is not None:
                return record
            if self._native.finished or (deadline is not None and loop.time() >= deadline):
                raise StopAsyncIteration

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def next_record(self, timeout: float | None = None) -> Record | None:
        """The next record, waiting up to ``timeout`` seconds (``None``: no end);
        ``None`` if nothing came in time or the subscription is finished."""
        return self._native.next_record(timeout)

    def next_batch(self, timeout: float | None = None) -> RecordBatch | None:
        """The next batch of records (one shard's, in order), waiting up to ``timeout``
        seconds; ``None`` if nothing came in time or the subscription is finished."""
        return self._native.next_batch(timeout)

    @property
    def shard_ids(self) -> list[str]:
        """The shards being read now."""
        return self._native.shard_ids

    @property
    def ended_shards(self) -> list[EndedShard]:
        """Shards read to their end (closed by a reshard), with their children."""
        return self._native.ended_shards

    @property
    def finished(self) -> bool:
        """True once every shard it reads has ended: nothing more will come."""
        return self._native.finished

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran."""
        return self._native.closed

    def close(self) -> None:
        """Stops the subscription (records already handed out stay valid). Idempotent."""
        self._native.close()


class ShardSubscription:
    """A SubscribeToShard subscription: events of one shard for one consumer.

    Iterate it (``for event in sub``, or ``async for``): each item is a ``ShardEvent``
    (records as they commit; an empty one at least every 5 s). Iteration ends when the
    subscription does: after 5 minutes (subscribe again, continuing AFTER the last
    ``continuation_sequence_number``), or after the event that carries a closed shard's
    ``child_shards``. ``next_event`` waits once with its own timeout. Close it (or use
    ``with``) to end it early.
    """

    __slots__ = ("_native",)

    def __init__(self, native: _tidelog.ShardSubscription) -> None:
        """Wraps a native subscription (use ``Engine.subscribe_to_shard``)."""
        self._native = native

    @staticmethod
    def _event(raw: dict[str, object] | None) -> ShardEvent | None:
        return None if raw is None else ShardEvent(**raw)  # type: ignore[arg-type]

    def next_event(self, timeout: float | None = None) -> ShardEvent | None:
        """The next event, waiting up to ``timeout`` seconds (``None``: until one
        comes); ``None`` on timeout or once the subscription ended (see ``ended``)."""
        return self._event(self._native.next_event(timeout))

    def __iter__(self) -> Iterator[ShardEvent]:
        return self

    def __next__(self) -> ShardEvent:
        while True:
            event = self._event(self._native.next_event(1.0))
            if event is not None:
                return event
            if self._native.ended:
                raise StopIteration

    def __aiter__(self) -> AsyncIterator[ShardEvent]:
        return self

    async def __anext__(self) -> ShardEvent:
        loop = asyncio.get_running_loop()
        while True:
            raw = await loop.run_in_executor(None, self._native.next_event, _ASYNC_SLICE_SECONDS)
            event = self._event(raw)
            if event is not None:
                return event
            if self._native.ended:
                raise StopAsyncIteration

    def __enter__(self) -> ShardSubscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def ended(self) -> bool:
        """True once the subscription is over."""
        return self._native.ended

    @property
    def consumer_arn(self) -> str:
        """The consumer's ARN."""
        return self._native.consumer_arn

    @property
    def shard_id(self) -> str:
        """The shard."""
        return self._native.shard_id

    @property
    def expires_at(self) -> datetime:
        """When the subscription ends (UTC)."""
        return self._native.expires_at

    def close(self) -> None:
        """Ends the subscription (events already handed out stay valid). Idempotent."""
        self._native.close()
