"""tidelog: an embedded storage engine for Kinesis-style data streams, from Python.

Two ways in:

* the Pythonic API: ``tidelog.open(path)`` returns an :class:`Engine` (a context
  manager) with streams, puts, zero-copy reads (record data and keys are read-only
  ``memoryview``s over the memory-mapped log) and subscriptions (iterators, sync and
  async, that yield records as they commit);
* a drop-in for boto3's Kinesis client: ``tidelog.client(path)`` has boto3's method
  names, keyword arguments, response dicts and exceptions, so code written for Kinesis
  runs in-process unchanged;
* Firehose delivery streams: ``engine.firehose()`` (Pythonic) or
  ``tidelog.firehose_client(path)`` (boto3's Firehose client), delivering to
  directories or S3.

Errors the engine raises form one tree rooted at :class:`Error`, one class per family
of the Rust engine's errors; wrong Python types raise ``TypeError`` and values the
binding refuses itself raise ``ValueError``.
"""

import warnings as _warnings

from . import _tidelog as _native
from . import testing
from ._engine import AWS_MANAGED_KEY, Engine, ShardSubscription, Subscription, open
from .analytics import Analytics, ApplicationDescription, Applications, InferredSchema, SqlResult, TableInfo
from ._tidelog import (
    ClosedError,
    CorruptionError,
    EnvironmentCheckError,
    Error,
    ExpiredIteratorError,
    FileSystemError,
    InternalError,
    InvalidArgumentError,
    KMSAccessDeniedError,
    KMSDisabledError,
    KMSError,
    KMSInvalidStateError,
    KMSNotFoundError,
    KMSOptInRequiredError,
    KMSThrottlingError,
    LimitExceededError,
    ProvisionedThroughputExceededError,
    Record,
    RecordBatch,
    RecordBytes,
    ResourceInUseError,
    ResourceNotFoundError,
    SchemaError,
    SqlError,
    ValidationError,
    __version__,
)
from ._types import (
    AccountLimits,
    AccountSettings,
    ChildShard,
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
from .kinesis import ClientError, KinesisClient, client
from .firehose import Firehose, FirehoseClient, FirehoseError, firehose_client



class DebugBuildWarning(UserWarning):
    """Issued at import when the native module is a debug build (``maturin develop``
    without ``--release``, as ``make test``'s ``.venv`` has): every call is ~20x slower
    than in a release build (``pip install ./python`` or ``maturin develop --release``)."""


#: ``"release"`` or ``"debug"``: how the native module was built.
BUILD_PROFILE: str = _native.BUILD_PROFILE

if BUILD_PROFILE == "debug":
    _warnings.warn(
        "tidelog's native module is a debug build: calls are ~20x slower than a release "
        "build; for real work install it with `pip install ./python` or "
        "`cd python && maturin develop --release`",
        DebugBuildWarning,
        stacklevel=2,
    )

__all__ = [
    "BUILD_PROFILE",
    "DebugBuildWarning",
    "AWS_MANAGED_KEY",
    "AccountLimits",
    "AccountSettings",
    "Analytics",
    "ApplicationDescription",
    "Applications",
    "InferredSchema",
    "SchemaError",
    "SqlError",
    "SqlResult",
    "TableInfo",
    "ChildShard",
    "ConsumerDescription",
    "QueueBatchResult",
    "QueueDescription",
    "QueueEntryFailure",
    "QueueRecord",
    "EnhancedMonitoring",
    "KMSAccessDeniedError",
    "KMSDisabledError",
    "KMSError",
    "KMSInvalidStateError",
    "KMSNotFoundError",
    "KMSOptInRequiredError",
    "KMSThrottlingError",
    "ScalingReport",
    "ShardEvent",
    "ShardSubscription",
    "WarmThroughput",
    "ClientError",
    "ClosedError",
    "CorruptionError",
    "EndedShard",
    "Engine",
    "EnvironmentCheckError",
    "Firehose",
    "FirehoseClient",
    "FirehoseError",
    "Error",
    "ExpiredIteratorError",
    "FileSystemError",
    "InternalError",
    "InvalidArgumentError",
    "KinesisClient",
    "LimitExceededError",
    "Limits",
    "MaintenanceReport",
    "ProvisionedThroughputExceededError",
    "PutResult",
    "Record",
    "RecordBatch",
    "RecordBytes",
    "ResourceInUseError",
    "ResourceNotFoundError",
    "ShardCountUpdate",
    "ShardDescription",
    "ShardMetrics",
    "StreamDescription",
    "StreamSummary",
    "Subscription",
    "ValidationError",
    "__version__",
    "client",
    "firehose_client",
    "open",
    "testing",
]
