"""Plain data the Pythonic API returns: frozen dataclasses built from the native
module's dicts (whose keys are these field names), and the typed dicts of child shards.

Everything here is a snapshot: it does not change when the engine does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict

__all__ = [
    "AccountLimits",
    "AccountSettings",
    "ChildShard",
    "ConsumerDescription",
    "EndedShard",
    "EnhancedMonitoring",
    "Limits",
    "MaintenanceReport",
    "PutResult",
    "QueueBatchResult",
    "QueueDescription",
    "QueueEntryFailure",
    "QueueRecord",
    "ScalingReport",
    "ShardCountUpdate",
    "ShardDescription",
    "ShardEvent",
    "ShardMetrics",
    "StreamDescription",
    "StreamSummary",
    "WarmThroughput",
]

_Status = Literal["CREATING", "ACTIVE", "UPDATING", "DELETING"]
_Mode = Literal["PROVISIONED", "ON_DEMAND"]
_Distribution = Literal["USER_PARTITION_KEY", "AUTO"]
_Encryption = Literal["NONE", "KMS"]


@dataclass(frozen=True, slots=True)
class WarmThroughput:
    """A stream's warm throughput (on-demand streams of an account with the billing
    commitment enabled).

    Attributes:
        target_mibps: What was asked for, MiB/s of writes.
        current_mibps: What the open shards take now, MiB/s.
    """

    target_mibps: int
    current_mibps: int


def _warm(value: dict[str, int] | None) -> WarmThroughput | None:
    return None if value is None else WarmThroughput(**value)


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-shard limits and per-call caps of an engine.

    The defaults are the Kinesis provisioned-mode figures (``Limits.kinesis()``);
    ``None`` for a rate means no limit. Pass an instance as ``limits=`` to
    ``tidelog.open``; use ``dataclasses.replace(Limits.kinesis(), ...)`` to change a few.

    Attributes:
        write_bytes_per_sec: Bytes of data plus partition keys written per second per shard.
        write_records_per_sec: Records written per second per shard.
        read_bytes_per_sec: Bytes returned by GetRecords per second per shard.
        read_calls_per_sec: GetRecords calls per second per shard.
        read_records_per_call_max: Most records one GetRecords returns.
        read_bytes_per_call_max: Most bytes one GetRecords returns.
        read_penalty_after_max_call_ms: After a GetRecords that returns the maximum bytes, the shard refuses reads this long.
        subscribe_bytes_per_sec: Bytes per second each subscription may receive (enhanced fan-out: 2 MiB/s).
        put_records_entries_max: Most entries in one PutRecords.
        put_records_bytes_max: Most bytes (data plus keys) in one PutRecords.
    """

    write_bytes_per_sec: int | None = 1 << 20
    write_records_per_sec: int | None = 1000
    read_bytes_per_sec: int | None = 2 << 20
    read_calls_per_sec: int | None = 5
    read_records_per_call_max: int = 10_000
    read_bytes_per_call_max: int = 10 << 20
    read_penalty_after_max_call_ms: int = 5000
    subscribe_bytes_per_sec: int | None = 2 << 20
    put_records_entries_max: int = 500
    put_records_bytes_max: int = 5 << 20

    @classmethod
    def kinesis(cls) -> Limits:
        """The Kinesis provisioned-mode figures (the default)."""
        return cls()

    @classmethod
    def unlimited(cls) -> Limits:
        """No rate limits (for benchmarks and bulk loads); per-call caps stay at Kinesis values."""
        return cls(
            write_bytes_per_sec=None,
            write_records_per_sec=None,
            read_bytes_per_sec=None,
            read_calls_per_sec=None,
            read_penalty_after_max_call_ms=0,
            subscribe_bytes_per_sec=None,
        )

    def to_dict(self) -> dict[str, int | None]:
        """The limits as a dict of field name to value."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Limits:
        """Limits from a dict of field name to value (as ``Engine.limits`` has them)."""
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ShardDescription:
    """A shard as DescribeStream and ListShards show it.

    Attributes:
        shard_id: ``shardId-000000000000``.
        parent_shard_id: The shard it was split from, or the first parent of a merge.
        adjacent_parent_shard_id: The other parent of a merge.
        starting_hash_key: Lowest hash key the shard owns (0 .. 2**128 - 1).
        ending_hash_key: Highest hash key the shard owns.
        starting_sequence_number: Lower bound of the shard's sequence numbers (decimal).
        ending_sequence_number: Its last sequence number, once the shard is closed.
        state: OPEN (accepting writes) or CLOSED (split or merged away, readable until expiry).
        core: The engine core that owns the shard.
    """

    shard_id: str
    parent_shard_id: str | None
    adjacent_parent_shard_id: str | None
    starting_hash_key: int
    ending_hash_key: int
    starting_sequence_number: str
    ending_sequence_number: str | None
    state: Literal["OPEN", "CLOSED"]
    core: int

    @property
    def is_open(self) -> bool:
        """True if the shard accepts writes."""
        return self.state == "OPEN"


@dataclass(frozen=True, slots=True)
class StreamDescription:
    """A stream as DescribeStream shows it.

    Attributes:
        name: The stream's name.
        stream_id: Its numeric id in the data directory.
        status: Kinesis StreamStatus.
        created: Creation time (UTC).
        retention_hours: Retention period, hours.
        tags: Tags.
        shards: Every shard not yet expired, in shard-id order.
        arn: The stream's ARN.
        mode: Capacity mode.
        encryption_type: NONE or KMS (records put from now on).
        key_id: The KMS key id new records are encrypted with.
        shard_level_metrics: Enabled shard-level metrics (enhanced monitoring).
        max_record_size_kib: The largest record, KiB.
        warm_throughput: On-demand warm throughput (with the account's commitment).
        consumer_count: Registered enhanced fan-out consumers.
    """

    name: str
    stream_id: int
    status: _Status
    created: datetime
    retention_hours: int
    tags: dict[str, str]
    shards: list[ShardDescription] = field(default_factory=list)
    arn: str = ""
    mode: _Mode = "PROVISIONED"
    encryption_type: _Encryption = "NONE"
    key_id: str | None = None
    shard_level_metrics: list[str] = field(default_factory=list)
    max_record_size_kib: int = 1024
    warm_throughput: WarmThroughput | None = None
    consumer_count: int = 0

    @property
    def open_shards(self) -> list[ShardDescription]:
        """The shards that accept writes."""
        return [s for s in self.shards if s.is_open]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StreamDescription:
        """Builds the description from the native module's dict."""
        shards = [ShardDescription(**s) for s in values["shards"]]
        return cls(**{**values, "shards": shards, "warm_throughput": _warm(values.get("warm_throughput"))})


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """A stream as DescribeStreamSummary shows it.

    Attributes:
        name: The stream's name.
        stream_id: Its numeric id in the data directory.
        status: Kinesis StreamStatus.
        created: Creation time (UTC).
        retention_hours: Retention period, hours.
        open_shard_count: Shards accepting writes.
        consumer_count: Registered enhanced fan-out consumers.
        arn: The stream's ARN.
        mode: Capacity mode.
        encryption_type: NONE or KMS (records put from now on).
        key_id: The KMS key id new records are encrypted with.
        shard_level_metrics: Enabled shard-level metrics (enhanced monitoring).
        max_record_size_kib: The largest record, KiB.
        warm_throughput: On-demand warm throughput (with the account's commitment).
        queue_count: Queues on the stream (not counted in ``consumer_count``).
        record_distribution: USER_PARTITION_KEY (by key) or AUTO (evenly, keys ignored).
    """

    name: str
    stream_id: int
    status: _Status
    created: datetime
    retention_hours: int
    open_shard_count: int
    consumer_count: int
    arn: str = ""
    mode: _Mode = "PROVISIONED"
    encryption_type: _Encryption = "NONE"
    key_id: str | None = None
    shard_level_metrics: list[str] = field(default_factory=list)
    max_record_size_kib: int = 1024
    warm_throughput: WarmThroughput | None = None
    queue_count: int = 0
    record_distribution: _Distribution = "USER_PARTITION_KEY"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StreamSummary:
        """Builds the summary from the native module's dict."""
        return cls(**{**values, "warm_throughput": _warm(values.get("warm_throughput"))})


@dataclass(frozen=True, slots=True)
class ShardMetrics:
    """A point-in-time copy of one shard's counters (Kinesis metric names in the docs).

    Attributes:
        stream: Stream name.
        shard_id: Shard id (empty for stream totals).
        incoming_bytes: IncomingBytes: data plus key bytes of records accepted.
        incoming_records: IncomingRecords: records accepted.
        outgoing_bytes: OutgoingBytes: data plus key bytes returned to readers and subscribers.
        outgoing_records: OutgoingRecords: records returned to readers and subscribers.
        get_records_calls: GetRecords calls answered (throttled ones not counted).
        write_throttled: WriteProvisionedThroughputExceeded: records refused by the write limits.
        read_throttled: ReadProvisionedThroughputExceeded: reads refused by the read limits.
        iterator_age_ms: IteratorAgeMilliseconds: age of the last record returned by the latest read.
    """

    stream: str
    shard_id: str
    incoming_bytes: int
    incoming_records: int
    outgoing_bytes: int
    outgoing_records: int
    get_records_calls: int
    write_throttled: int
    read_throttled: int
    iterator_age_ms: int


@dataclass(frozen=True, slots=True)
class PutResult:
    """Where a put record went.

    Attributes:
        shard_id: The shard it was appended to.
        sequence_number: Its sequence number (decimal).
        encrypted: True if it was stored encrypted (Kinesis's EncryptionType KMS).
    """

    shard_id: str
    sequence_number: str
    encrypted: bool = False


@dataclass(frozen=True, slots=True)
class ShardCountUpdate:
    """UpdateShardCount's answer.

    Attributes:
        current_shard_count: Open shards before the call.
        target_shard_count: Open shards after it.
    """

    current_shard_count: int
    target_shard_count: int


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What a retention pass reclaimed.

    Attributes:
        segments_deleted: Segment files deleted.
        bytes_freed: Disk bytes freed.
    """

    segments_deleted: int
    bytes_freed: int


class ChildShard(TypedDict):
    """A child of a closed shard (GetRecords and subscriptions report them).

    Keys:
        shard_id: The child's id.
        parent_shards: Its parents (one for a split, two for a merge).
        starting_hash_key: Lowest hash key it owns.
        ending_hash_key: Highest hash key it owns.
    """

    shard_id: str
    parent_shards: list[str]
    starting_hash_key: int
    ending_hash_key: int


class EndedShard(TypedDict):
    """A shard a subscription read to its end, with its children.

    Keys:
        shard_id: The shard that ended.
        child_shards: Its children.
    """

    shard_id: str
    child_shards: list[ChildShard]


@dataclass(frozen=True, slots=True)
class ConsumerDescription:
    """An enhanced fan-out consumer.

    Attributes:
        name: Its name.
        arn: Its ARN (``<stream ARN>/consumer/<name>:<creation time, s>``).
        status: CREATING, ACTIVE or DELETING.
        created: When it was registered (UTC).
        stream: The stream's name.
        stream_arn: The stream's ARN.
    """

    name: str
    arn: str
    status: Literal["CREATING", "ACTIVE", "DELETING"]
    created: datetime
    stream: str
    stream_arn: str


@dataclass(frozen=True, slots=True)
class QueueDescription:
    """A Kinesis queue.

    Attributes:
        name: Its name.
        arn: Its ARN (``arn:aws:kinesis:<region>:<account>:queue/<16 hex digits>``).
        status: CREATING, ACTIVE, UPDATING or DELETING.
        created: When it was created (UTC).
        stream: The stream's name.
        stream_arn: The stream's ARN.
        stream_created: When the stream was created (UTC).
        starting_position: LATEST, TRIM_HORIZON or AT_TIMESTAMP.
        starting_timestamp: The starting position's time (the given timestamp while
            CREATING, none for LATEST and TRIM_HORIZON then; the effective start once
            ACTIVE).
        visibility_timeout: Seconds a received record stays in flight.
        dead_letter: BUILT_IN or NONE.
        max_receive_count: Receives without an acknowledgement before a record becomes
            a dead letter (None with NONE).
    """

    name: str
    arn: str
    status: _Status
    created: datetime
    stream: str
    stream_arn: str
    stream_created: datetime
    starting_position: Literal["LATEST", "TRIM_HORIZON", "AT_TIMESTAMP"]
    starting_timestamp: datetime | None
    visibility_timeout: int
    dead_letter: Literal["BUILT_IN", "NONE"]
    max_receive_count: int | None


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """A record delivered by a queue (its data is a copy: ``bytes``).

    Attributes:
        receipt_handle: What acknowledges it, changes its visibility or restores it.
        record_id: Its id, the same in every delivery and queue (its sequence number).
        shard_id: The shard it is in.
        sequence_number: Its sequence number (decimal).
        partition_key: Its partition key.
        data: Its data.
        arrival_time: When it arrived in the stream (UTC).
        first_receive_time: When the queue first delivered it (UTC).
        receive_count: Receives since it was first delivered or last restored.
    """

    receipt_handle: str
    record_id: str
    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival_time: datetime
    first_receive_time: datetime
    receive_count: int


@dataclass(frozen=True, slots=True)
class QueueEntryFailure:
    """An entry of a queue batch call that did not take effect.

    Attributes:
        receipt_handle: The handle given.
        code: The Kinesis error name (InvalidArgumentException,
            ResourceNotFoundException...).
        message: Why.
    """

    receipt_handle: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class QueueBatchResult:
    """The answer of a queue batch call (acknowledge, visibility, restore).

    Attributes:
        successful: Handles of the entries that took effect, in order.
        failed: The entries that did not, in order.
    """

    successful: list[str]
    failed: list[QueueEntryFailure]


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """DescribeLimits: shard and on-demand stream counts and limits.

    Attributes:
        shard_limit: Most open shards (the engine's ``max_shards``).
        open_shard_count: Open shards now, across every stream.
        on_demand_stream_count: ON_DEMAND streams now.
        on_demand_stream_count_limit: Most ON_DEMAND streams.
    """

    shard_limit: int
    open_shard_count: int
    on_demand_stream_count: int
    on_demand_stream_count_limit: int


@dataclass(frozen=True, slots=True)
class EnhancedMonitoring:
    """Enable/DisableEnhancedMonitoring's answer.

    Attributes:
        stream: The stream.
        stream_arn: Its ARN.
        current: Shard-level metrics enabled before the call.
        desired: Shard-level metrics enabled after it.
    """

    stream: str
    stream_arn: str
    current: list[str]
    desired: list[str]


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """The account's minimum throughput billing commitment (it gates warm throughput).

    Attributes:
        status: ENABLED, DISABLED or ENABLED_UNTIL_EARLIEST_ALLOWED_END.
        started: When it started (UTC), if ever.
        ended: When it ended or will end (UTC), if so.
        earliest_allowed_end: The earliest it may end (UTC).
    """

    status: Literal["ENABLED", "DISABLED", "ENABLED_UNTIL_EARLIEST_ALLOWED_END"]
    started: datetime | None
    ended: datetime | None
    earliest_allowed_end: datetime | None


@dataclass(frozen=True, slots=True)
class ScalingReport:
    """What one on-demand evaluation did to a stream.

    Attributes:
        stream: The stream.
        from_shards: Open shards before.
        to_shards: Open shards after.
        demand_bytes_per_sec: Write demand measured (accepted plus refused), bytes/s.
        demand_records_per_sec: Write demand measured, records/s.
        peak_bytes_per_sec: The peak of the window the stream is sized for, bytes/s.
        peak_records_per_sec: That peak, records/s.
    """

    stream: str
    from_shards: int
    to_shards: int
    demand_bytes_per_sec: int
    demand_records_per_sec: int
    peak_bytes_per_sec: int
    peak_records_per_sec: int


@dataclass(frozen=True, slots=True)
class ShardEvent:
    """One SubscribeToShard event.

    Attributes:
        records: The records (a ``RecordBatch``; empty for a heartbeat).
        continuation_sequence_number: Subscribe AFTER this to continue; ``None`` on the
            last event of a closed shard.
        millis_behind_latest: How far behind the shard's newest record, ms.
        child_shards: The shard's children, on the last event of a closed shard.
    """

    records: Any
    continuation_sequence_number: str | None
    millis_behind_latest: int
    child_shards: list[ChildShard]
