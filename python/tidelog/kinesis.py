"""A drop-in for boto3's Kinesis client, running in-process on a tidelog engine.

``tidelog.client(path)`` returns a :class:`KinesisClient` with boto3's method names,
keyword arguments and response dicts, so code written for
``boto3.client("kinesis")`` runs unchanged, and moves to AWS by swapping the client::

    kinesis = tidelog.client("/data/streams")        # or boto3.client("kinesis")
    kinesis.create_stream(StreamName="orders", ShardCount=2)
    kinesis.put_record(StreamName="orders", PartitionKey="c-42", Data=b"{...}")

Errors are raised as ``client.exceptions.<Kinesis name>`` (``ResourceNotFoundException``
...), subclasses of :class:`ClientError` carrying ``.response["Error"]["Code"]`` and
``["Message"]`` like botocore's (the engine's ``tidelog.Error`` is their ``__cause__``).
Bad parameters (missing, unknown, of the wrong type) raise :class:`ParamValidationError`
before anything runs, as botocore does. Fields that AWS leaves out of a response, this
client leaves out too: ``NextShardIterator`` once a closed shard is read to its end
(``ChildShards`` appears then), ``ParentShardId`` of a shard without parents,
``EndingSequenceNumber`` of an open shard, ``NextToken`` of a last page.

All 40 Data Streams operations and the 12 queue operations are here
(docs/kinesis-api.md has the table), with ``subscribe_to_shard`` answering an
:class:`EventStream` to iterate, as boto3 does.
ARNs are ``arn:aws:kinesis:<region_name>:<account_id>:stream/<name>`` with the engine's
region (default ``local``) and account (default ``000000000000``); resource policies
are validated and stored but not enforced (there are no principals in-process); the
account's billing commitment only gates warm throughput (nothing is billed).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

from . import _tidelog
from ._engine import Engine, open as _open_engine
from ._time import to_ms
from ._tidelog import Error

__all__ = [
    "ClientError",
    "EventStream",
    "EventStreamError",
    "KinesisClient",
    "KinesisExceptions",
    "ParamTypeError",
    "ParamValidationError",
    "Paginator",
    "Waiter",
    "WaiterError",
    "client",
]

Response = dict[str, Any]
_T = TypeVar("_T")


# -- errors ------------------------------------------------------------------------------


class ClientError(Exception):
    """An error answer of a Kinesis operation, shaped like botocore's ``ClientError``.

    ``response`` is ``{"Error": {"Code": ..., "Message": ...}, "ResponseMetadata":
    {...}}`` and ``operation_name`` the Kinesis operation (``"PutRecord"``).
    """

    def __init__(self, error_response: Mapping[str, Any], operation_name: str) -> None:
        """Builds the error from a response dict, as botocore does."""
        self.response: dict[str, Any] = dict(error_response)
        self.operation_name = operation_name
        error = self.response.get("Error", {})
        super().__init__(
            f"An error occurred ({error.get('Code', 'Unknown')}) when calling the "
            f"{operation_name} operation: {error.get('Message', 'Unknown')}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.response, self.operation_name))


class ParamValidationError(ValueError):
    """Parameters that botocore would refuse before sending: missing, unknown, or out of
    shape. Nothing ran."""


class ParamTypeError(ParamValidationError, TypeError):
    """A parameter of the wrong Python type (also a ``TypeError``). Nothing ran."""


class WaiterError(Exception):
    """A waiter gave up (like ``botocore.exceptions.WaiterError``)."""

    def __init__(self, name: str, reason: str, last_response: Response | None) -> None:
        """The waiter's name, why it stopped, and the last response it saw."""
        self.name = name
        self.reason = reason
        self.last_response = last_response
        super().__init__(f"Waiter {name} failed: {reason}")


class ResourceNotFoundException(ClientError):
    """Kinesis ResourceNotFoundException: The stream or shard does not exist."""


class ResourceInUseException(ClientError):
    """Kinesis ResourceInUseException: The stream exists already, or is busy with another change."""


class InvalidArgumentException(ClientError):
    """Kinesis InvalidArgumentException: A parameter is not valid for the current state (closed shard, bad iterator, retention out of range)."""


class LimitExceededException(ClientError):
    """Kinesis LimitExceededException: A limit (open shards, tags) would be exceeded."""


class ProvisionedThroughputExceededException(ClientError):
    """Kinesis ProvisionedThroughputExceededException: A per-shard rate limit refused the call; nothing changed, retry later."""


class ExpiredIteratorException(ClientError):
    """Kinesis ExpiredIteratorException: The shard iterator is older than five minutes."""


class ExpiredNextTokenException(ClientError):
    """Kinesis ExpiredNextTokenException: The pagination token has expired."""


class ValidationException(ClientError):
    """Kinesis ValidationException: A parameter is out of its bounds (name, size, count)."""


class InternalFailureException(ClientError):
    """Kinesis InternalFailureException: The engine failed (I/O, corruption, closed engine)."""


class AccessDeniedException(ClientError):
    """Kinesis AccessDeniedException: Access was denied (never raised in-process; here for code that catches it)."""


class DryRunOperationException(ClientError):
    """Kinesis DryRunOperationException: The call would have succeeded (DryRun=True); nothing was done."""


class KMSDisabledException(ClientError):
    """Kinesis KMSDisabledException: The encryption key is disabled."""


class KMSInvalidStateException(ClientError):
    """Kinesis KMSInvalidStateException: The encryption key cannot be used now."""


class KMSAccessDeniedException(ClientError):
    """Kinesis KMSAccessDeniedException: The key provider refused the key, or it is the wrong key."""


class KMSNotFoundException(ClientError):
    """Kinesis KMSNotFoundException: The key provider has no key of this id."""


class KMSOptInRequired(ClientError):
    """Kinesis KMSOptInRequired: The key service needs a subscription first."""


class KMSThrottlingException(ClientError):
    """Kinesis KMSThrottlingException: The key service refused for now; retry later."""


class EventStreamError(ClientError):
    """An error event of SubscribeToShard's event stream (like botocore's
    ``EventStreamError``): ``response["Error"]["Code"]`` names it
    (``ResourceInUseException`` when another subscription took over...)."""


_ERROR_CLASSES: dict[str, type[ClientError]] = {
    cls.__name__: cls
    for cls in (
        ResourceNotFoundException,
        ResourceInUseException,
        InvalidArgumentException,
        LimitExceededException,
        ProvisionedThroughputExceededException,
        ExpiredIteratorException,
        ExpiredNextTokenException,
        ValidationException,
        InternalFailureException,
        AccessDeniedException,
        DryRunOperationException,
        KMSDisabledException,
        KMSInvalidStateException,
        KMSAccessDeniedException,
        KMSNotFoundException,
        KMSOptInRequired,
        KMSThrottlingException,
    )
}


_ClientError = ClientError


class KinesisExceptions:
    """``client.exceptions``: the error classes by their Kinesis names, and ClientError."""

    ClientError = ClientError
    ResourceNotFoundException = ResourceNotFoundException
    ResourceInUseException = ResourceInUseException
    InvalidArgumentException = InvalidArgumentException
    LimitExceededException = LimitExceededException
    ProvisionedThroughputExceededException = ProvisionedThroughputExceededException
    ExpiredIteratorException = ExpiredIteratorException
    ExpiredNextTokenException = ExpiredNextTokenException
    ValidationException = ValidationException
    InternalFailureException = InternalFailureException
    AccessDeniedException = AccessDeniedException
    DryRunOperationException = DryRunOperationException
    KMSDisabledException = KMSDisabledException
    KMSInvalidStateException = KMSInvalidStateException
    KMSAccessDeniedException = KMSAccessDeniedException
    KMSNotFoundException = KMSNotFoundException
    KMSOptInRequired = KMSOptInRequired
    KMSThrottlingException = KMSThrottlingException

    def from_code(self, code: str) -> type[_ClientError]:
        """The class of an error code (``ClientError`` for unknown codes), as botocore."""
        return _ERROR_CLASSES.get(code, ClientError)


def _new_request_ids() -> None:
    global _REQUEST_PREFIX, _REQUEST_COUNTER
    # A random UUID's first 24 characters (version 4, variant bits set) and a counter:
    # ids shaped like uuid4's, unique in this process, ~15x cheaper than uuid.uuid4()
    # (which reads the OS's random source every call).
    _REQUEST_PREFIX = str(uuid.uuid4())[:24]
    _REQUEST_COUNTER = itertools.count()


_REQUEST_PREFIX = ""
_REQUEST_COUNTER = itertools.count()
_new_request_ids()
os.register_at_fork(after_in_child=_new_request_ids)


def _request_id() -> str:
    """A request id as AWS answers one (a UUID's shape), never repeated in a process."""
    return f"{_REQUEST_PREFIX}{next(_REQUEST_COUNTER) & 0xFFFF_FFFF_FFFF:012x}"


def _metadata(status: int = 200) -> dict[str, Any]:
    request_id = _request_id()
    return {
        "RequestId": request_id,
        "HTTPStatusCode": status,
        "HTTPHeaders": {"x-amzn-requestid": request_id},
        "RetryAttempts": 0,
    }


def _client_error(code: str, message: str, operation: str) -> ClientError:
    status = 500 if code == "InternalFailureException" else 400
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": _metadata(status)}
    return _ERROR_CLASSES.get(code, ClientError)(response, operation)


# -- parameters --------------------------------------------------------------------------

_STR = (str,)
_INT = (int,)
# The Kinesis model's minimums that botocore checks before sending (integers: the
# value; strings: the length).
_MIN = {
    "ShardCount": 1,
    "TargetShardCount": 1,
    "RetentionPeriodHours": 1,
    "Limit": 1,
    "MaxResults": 1,
    "StreamName": 1,
    "ShardId": 1,
    "ShardIterator": 1,
    "PartitionKey": 1,
    "ConsumerName": 1,
    "ConsumerARN": 1,
    "ResourceARN": 1,
    "KeyId": 1,
    "MaxRecordSizeInKiB": 1024,
    "WarmThroughputMiBps": 0,
    "ShardLevelMetrics": 1,
    "TagKeys": 1,
    "Records": 1,
    "QueueName": 1,
    "QueueARN": 1,
    "StreamConfigurationList": 1,
    "WaitTimeSeconds": 1,
    "MaxReceiveCount": 1,
    "VisibilityTimeoutSeconds": 0,
    "Entries": 1,
    "ReceiptHandle": 1,
    "StreamFilter": 1,
}
_BLOB = (bytes, bytearray, memoryview, str)
_TIME = (datetime, int, float, str)
_DICT = (dict,)
_LIST = (list, tuple)
_BOOL = (bool,)
# StreamId is in botocore's model of every stream call ("reserved for future use"):
# accepted and ignored, as the service does.
_STREAM = {"StreamName": _STR, "StreamARN": _STR, "StreamId": _STR}


def _check(kwargs: Mapping[str, Any], required: Mapping[str, tuple[type, ...]],
           optional: Mapping[str, tuple[type, ...]]) -> None:
    """botocore's client-side checks: required, unknown and wrongly typed parameters."""
    missing = [name for name in required if name not in kwargs]
    if missing:
        raise ParamValidationError(
            "Parameter validation failed:\n"
            + "\n".join(f'Missing required parameter in input: "{name}"' for name in missing)
        )
    allowed = {**required, **optional}
    unknown = [name for name in kwargs if name not in allowed]
    if unknown:
        valid = ", ".join(allowed)
        raise ParamValidationError(
            "Parameter validation failed:\n"
            + "\n".join(f'Unknown parameter in input: "{n}", must be one of: {valid}' for n in unknown)
        )
    for name, value in kwargs.items():
        types = allowed[name]
        if _is_file_like_ok(value, types):
            continue
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            names = ", ".join(str(t) for t in types)
            raise ParamTypeError(
                f"Parameter validation failed:\nInvalid type for parameter {name}, value: "
                f"{value!r}, type: {type(value)}, valid types: {names}"
            )
        minimum = _MIN.get(name)
        if minimum is None:
            continue
        if isinstance(value, int) and value < minimum:
            raise ParamValidationError(
                f"Parameter validation failed:\nInvalid value for parameter {name}, value: "
                f"{value}, valid min value: {minimum}"
            )
        if isinstance(value, (str, list, tuple, dict)) and len(value) < minimum:
            raise ParamValidationError(
                f"Parameter validation failed:\nInvalid length for parameter {name}, value: "
                f"{len(value)}, valid min length: {minimum}"
            )


def _is_file_like_ok(value: object, types: tuple[type, ...]) -> bool:
    return types is _BLOB and not isinstance(value, _BLOB) and callable(getattr(value, "read", None))


def _blob(value: Any) -> bytes | bytearray | memoryview | str:
    if isinstance(value, _BLOB):
        return value
    data = value.read()
    if not isinstance(data, (bytes, bytearray, str)):
        raise ParamTypeError(f"Data's read() returned {type(data).__name__}, not bytes")
    return data


def _timestamp_ms(value: Any, name: str) -> int:
    """botocore's timestamp rules: datetime (naive = UTC), epoch seconds, or ISO 8601."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ParamValidationError(
                    f"Parameter validation failed:\nInvalid timestamp for parameter {name}: {value!r}"
                ) from None
    return to_ms(value, name, naive_is_utc=True)


def _check_shard_id(shard_id: str, name: str, operation: str) -> None:
    digits = shard_id.removeprefix("shardId-")
    if len(shard_id) != 20 or len(digits) != 12 or not digits.isascii() or not digits.isdigit():
        raise _client_error("ValidationException",
                            f"{name} {shard_id!r} is not a shard id (shardId- and 12 digits)", operation)


def _encode_token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _decode_token(token: str, operation: str) -> dict[str, Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        raise _client_error("InvalidArgumentException", f"Invalid NextToken {token!r}", operation)
    return payload


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc)


# -- the client --------------------------------------------------------------------------


class KinesisClient:
    """boto3's Kinesis client, in-process: same method names, keyword arguments and
    response shapes. Made by ``tidelog.client``. Thread-safe.

    Attributes:
        exceptions: The error classes by Kinesis name
            (``client.exceptions.ResourceNotFoundException``), as in boto3.
    """

    def __init__(self, engine: Engine, *, owns_engine: bool) -> None:
        """Wraps an engine (``tidelog.client`` makes clients); ARNs are the engine's."""
        self._engine = engine
        self._native = engine.native
        self._owns_engine = owns_engine
        _, self._region, self._account = self._native.arn_scope
        self.exceptions = KinesisExceptions()

    @property
    def engine(self) -> Engine:
        """The engine the client runs on (use it for the Pythonic API on the same data)."""
        return self._engine

    @property
    def region_name(self) -> str:
        """The region shown in ARNs."""
        return self._region

    def close(self) -> None:
        """Closes the engine if the client opened it (as boto3's ``close``, idempotent)."""
        if self._owns_engine:
            self._engine.close()

    # -- plumbing ---------------------------------------------------------------------

    def _arn(self, name: str) -> str:
        return self._native.stream_arn(name)

    def _stream(self, kwargs: Mapping[str, Any], operation: str) -> str:
        """The stream a call names, by StreamName or StreamARN (or both, if they agree)."""
        name = kwargs.get("StreamName")
        arn = kwargs.get("StreamARN")
        from_arn = None
        if arn is not None:
            from_arn = self._call(operation, lambda: self._native.resolve_stream_arn(arn))
        if name is None and from_arn is None:
            raise _client_error("ValidationException", "Either StreamName or StreamARN must be provided", operation)
        if name is not None and from_arn is not None and name != from_arn:
            raise _client_error("InvalidArgumentException", f"StreamName {name!r} and StreamARN {arn!r} differ", operation)
        return name if name is not None else str(from_arn)

    def _call(self, operation: str, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except Error as e:
            raise _client_error(type(e).kinesis_name, str(e), operation) from e
        except UnicodeError:
            raise  # a str with no UTF-8 form: botocore fails the same way, before sending
        except ValueError as e:
            # A number past what the engine's types hold (the service answers those
            # with a ValidationException too).
            raise _client_error("ValidationException", str(e), operation) from e

    def _ok(self, body: Response | None = None) -> Response:
        out: Response = dict(body or {})
        out["ResponseMetadata"] = _metadata()
        return out

    def _shard(self, s: Mapping[str, Any]) -> dict[str, Any]:
        shard: dict[str, Any] = {"ShardId": s["shard_id"]}
        if s["parent_shard_id"] is not None:
            shard["ParentShardId"] = s["parent_shard_id"]
        if s["adjacent_parent_shard_id"] is not None:
            shard["AdjacentParentShardId"] = s["adjacent_parent_shard_id"]
        shard["HashKeyRange"] = {
            "StartingHashKey": str(s["starting_hash_key"]),
            "EndingHashKey": str(s["ending_hash_key"]),
        }
        seq_range = {"StartingSequenceNumber": s["starting_sequence_number"]}
        if s["ending_sequence_number"] is not None:
            seq_range["EndingSequenceNumber"] = s["ending_sequence_number"]
        shard["SequenceNumberRange"] = seq_range
        return shard

    @staticmethod
    def _child(c: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "ShardId": c["shard_id"],
            "ParentShards": list(c["parent_shards"]),
            "HashKeyRange": {
                "StartingHashKey": str(c["starting_hash_key"]),
                "EndingHashKey": str(c["ending_hash_key"]),
            },
        }

    @staticmethod
    def _mode(details: Any, op: str) -> str:
        """The StreamMode of a StreamModeDetails dict (botocore's checks)."""
        if not isinstance(details, dict):
            raise ParamTypeError(f"Parameter validation failed:\nInvalid type for parameter "
                                 f"StreamModeDetails, value: {details!r}, type: {type(details)}")
        if "StreamMode" not in details:
            raise ParamValidationError(
                'Parameter validation failed:\nMissing required parameter in input: "StreamModeDetails.StreamMode"')
        _check(details, {"StreamMode": _STR}, {})
        mode = details["StreamMode"]
        if mode not in ("PROVISIONED", "ON_DEMAND"):
            raise _client_error("ValidationException",
                                f"Value {mode!r} at 'streamModeDetails.streamMode' failed to satisfy constraint: "
                                "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]", op)
        return str(mode)

    @staticmethod
    def _dry_run(kwargs: Mapping[str, Any], op: str) -> None:
        """DryRun=True: the checks ran and passed; nothing is done (the service answers
        DryRunOperationException)."""
        if kwargs.get("DryRun"):
            raise _client_error("DryRunOperationException",
                                f"Request would have succeeded, but DryRun flag is set ({op})", op)

    @staticmethod
    def _warm(w: Mapping[str, int] | None) -> dict[str, int] | None:
        return None if w is None else {"TargetMiBps": w["target_mibps"], "CurrentMiBps": w["current_mibps"]}

    def _consumer(self, c: Mapping[str, Any], *, with_stream: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ConsumerName": c["name"],
            "ConsumerARN": c["arn"],
            "ConsumerStatus": c["status"],
            "ConsumerCreationTimestamp": c["created"],
        }
        if with_stream:
            out["StreamARN"] = c["stream_arn"]
        return out

    @staticmethod
    def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]

    def _consumer_args(self, kwargs: Mapping[str, Any], op: str) -> tuple[str | None, str | None, str | None]:
        """(stream, consumer name, consumer ARN) of Describe/DeregisterStreamConsumer."""
        arn = kwargs.get("ConsumerARN")
        name = kwargs.get("ConsumerName")
        stream = self._stream(kwargs, op) if ("StreamARN" in kwargs or "StreamName" in kwargs) else None
        if arn is None and (stream is None or name is None):
            raise _client_error("InvalidArgumentException",
                                "name the consumer by ConsumerARN, or by StreamARN and ConsumerName", op)
        return stream, name, arn

    # -- streams ----------------------------------------------------------------------

    def create_stream(self, **kwargs: Any) -> Response:
        """CreateStream(StreamName, ShardCount=None, StreamModeDetails=None, Tags=None,
        WarmThroughputMiBps=None, MaxRecordSizeInKiB=None, RecordDistributionStrategy=None).

        ON_DEMAND streams take no ShardCount (they start at 4 shards and scale);
        RecordDistributionStrategy AUTO (records dealt evenly to the open shards,
        partition keys ignored) is for ON_DEMAND streams only.
        """
        op = "CreateStream"
        _check(kwargs, {"StreamName": _STR}, {
            "ShardCount": _INT, "StreamModeDetails": _DICT, "Tags": _DICT, "WarmThroughputMiBps": _INT,
            "MaxRecordSizeInKiB": _INT, "RecordDistributionStrategy": _STR})
        mode = self._mode(kwargs["StreamModeDetails"], op) if "StreamModeDetails" in kwargs else "PROVISIONED"
        strategy = self._strategy(kwargs.get("RecordDistributionStrategy", "USER_PARTITION_KEY"), op)
        name = kwargs["StreamName"]
        tags = kwargs.get("Tags") or None
        self._call(op, lambda: self._native.create_stream(
            name, kwargs.get("ShardCount"), mode=mode, max_record_size_kib=kwargs.get("MaxRecordSizeInKiB"),
            tags=tags, warm_throughput_mibps=kwargs.get("WarmThroughputMiBps"),
            record_distribution=strategy))
        return self._ok()

    @staticmethod
    def _strategy(strategy: str, op: str) -> str:
        if strategy not in ("AUTO", "USER_PARTITION_KEY"):
            raise _client_error("ValidationException",
                                f"1 validation error detected: Value {strategy!r} at 'recordDistributionStrategy' "
                                "failed to satisfy constraint: Member must satisfy enum value set: "
                                "[AUTO, USER_PARTITION_KEY]", op)
        return strategy

    def delete_stream(self, **kwargs: Any) -> Response:
        """DeleteStream(StreamName | StreamARN, EnforceConsumerDeletion=None): a stream
        with registered consumers needs EnforceConsumerDeletion=True."""
        op = "DeleteStream"
        _check(kwargs, {}, {**_STREAM, "EnforceConsumerDeletion": _BOOL})
        name = self._stream(kwargs, op)
        enforce = bool(kwargs.get("EnforceConsumerDeletion", False))
        self._call(op, lambda: self._native.delete_stream(name, enforce))
        return self._ok()

    def _description(self, name: str, op: str) -> dict[str, Any]:
        return self._call(op, lambda: self._native.describe_stream(name))

    def describe_stream(self, **kwargs: Any) -> Response:
        """DescribeStream(StreamName | StreamARN, Limit=None, ExclusiveStartShardId=None)."""
        op = "DescribeStream"
        _check(kwargs, {}, {**_STREAM, "Limit": _INT, "ExclusiveStartShardId": _STR})
        name = self._stream(kwargs, op)
        limit = kwargs.get("Limit", 100)
        if not 1 <= limit <= 10_000:
            raise _client_error("ValidationException", f"Limit {limit} is outside [1, 10000]", op)
        d = self._description(name, op)
        shards = d["shards"]
        start = kwargs.get("ExclusiveStartShardId")
        if start is not None:
            _check_shard_id(start, "ExclusiveStartShardId", op)
            shards = [s for s in shards if s["shard_id"] > start]
        page = shards[:limit]
        description: dict[str, Any] = {
            "StreamName": d["name"],
            "StreamARN": d["arn"],
            "StreamStatus": d["status"],
            "StreamModeDetails": {"StreamMode": d["mode"]},
            "Shards": [self._shard(s) for s in page],
            "HasMoreShards": len(shards) > limit,
            "RetentionPeriodHours": d["retention_hours"],
            "StreamCreationTimestamp": d["created"],
            "EnhancedMonitoring": [{"ShardLevelMetrics": list(d["shard_level_metrics"])}],
            "EncryptionType": d["encryption_type"],
        }
        if d["key_id"] is not None:
            description["KeyId"] = d["key_id"]
        return self._ok({"StreamDescription": description})

    def describe_stream_summary(self, **kwargs: Any) -> Response:
        """DescribeStreamSummary(StreamName | StreamARN)."""
        op = "DescribeStreamSummary"
        _check(kwargs, {}, _STREAM)
        name = self._stream(kwargs, op)
        s = self._call(op, lambda: self._native.describe_stream_summary(name))
        summary: dict[str, Any] = {
            "StreamName": s["name"],
            "StreamARN": s["arn"],
            "StreamStatus": s["status"],
            "StreamModeDetails": {"StreamMode": s["mode"]},
            "RetentionPeriodHours": s["retention_hours"],
            "StreamCreationTimestamp": s["created"],
            "EnhancedMonitoring": [{"ShardLevelMetrics": list(s["shard_level_metrics"])}],
            "EncryptionType": s["encryption_type"],
            "OpenShardCount": s["open_shard_count"],
            "ConsumerCount": s["consumer_count"],
            "MaxRecordSizeInKiB": s["max_record_size_kib"],
        }
        if s["mode"] == "ON_DEMAND":
            summary["QueueCount"] = s["queue_count"]
        if s["key_id"] is not None:
            summary["KeyId"] = s["key_id"]
        warm = self._warm(s["warm_throughput"])
        if warm is not None:
            summary["WarmThroughput"] = warm
        if s["mode"] == "ON_DEMAND":  # AWS shows the strategy for ON_DEMAND streams only
            summary["RecordDistributionStrategy"] = s["record_distribution"]
        return self._ok({"StreamDescriptionSummary": summary})

    def list_streams(self, **kwargs: Any) -> Response:
        """ListStreams(Limit=None, ExclusiveStartStreamName=None, NextToken=None)."""
        op = "ListStreams"
        _check(kwargs, {}, {"Limit": _INT, "ExclusiveStartStreamName": _STR, "NextToken": _STR})
        limit = kwargs.get("Limit", 100)
        if not 1 <= limit <= 10_000:
            raise _client_error("ValidationException", f"Limit {limit} is outside [1, 10000]", op)
        start = kwargs.get("ExclusiveStartStreamName")
        if "NextToken" in kwargs:
            token = _decode_token(kwargs["NextToken"], op)
            if not isinstance(token.get("after"), str):
                raise _client_error("InvalidArgumentException", "Invalid NextToken", op)
            start = token["after"]
        names, has_more = self._call(op, lambda: self._native.list_streams(limit, start))
        summaries = []
        for name in names:
            try:
                s = self._native.describe_stream_summary(name)
            except _tidelog.ResourceNotFoundError:
                continue  # deleted meanwhile
            summaries.append({
                "StreamName": name,
                "StreamARN": s["arn"],
                "StreamStatus": s["status"],
                "StreamModeDetails": {"StreamMode": s["mode"]},
                "StreamCreationTimestamp": s["created"],
            })
        body: Response = {"StreamNames": names, "HasMoreStreams": has_more, "StreamSummaries": summaries}
        if has_more and names:
            body["NextToken"] = _encode_token({"after": names[-1]})
        return self._ok(body)

    _SHARD_FILTERS = ("AFTER_SHARD_ID", "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON", "AT_LATEST",
                      "AT_TIMESTAMP", "FROM_TIMESTAMP")

    def list_shards(self, **kwargs: Any) -> Response:
        """ListShards(StreamName | StreamARN | NextToken, ExclusiveStartShardId=None,
        MaxResults=None, StreamCreationTimestamp=None, ShardFilter=None).

        ``StreamCreationTimestamp`` is accepted and not needed: a name names one stream.
        """
        op = "ListShards"
        _check(kwargs, {}, {**_STREAM, "NextToken": _STR, "ExclusiveStartShardId": _STR,
                                "MaxResults": _INT, "StreamCreationTimestamp": _TIME, "ShardFilter": _DICT})
        limit = kwargs.get("MaxResults", 1000)
        if not 1 <= limit <= 10_000:
            raise _client_error("ValidationException", f"MaxResults {limit} is outside [1, 10000]", op)
        filter_args: dict[str, Any] = {"filter": "all", "timestamp_ms": None, "after_shard_id": None}
        if "NextToken" in kwargs:
            if "StreamName" in kwargs or "StreamARN" in kwargs or "ExclusiveStartShardId" in kwargs:
                raise _client_error("InvalidArgumentException",
                                    "NextToken cannot be combined with StreamName, StreamARN or ExclusiveStartShardId", op)
            token = _decode_token(kwargs["NextToken"], op)
            name, after = token.get("stream"), token.get("after")
            if not isinstance(name, str) or not isinstance(after, str):
                raise _client_error("InvalidArgumentException", "Invalid NextToken", op)
            token_filter = token.get("filter", filter_args)
            if not isinstance(token_filter, dict) or set(token_filter) != set(filter_args):
                raise _client_error("InvalidArgumentException", "Invalid NextToken", op)
            filter_args = token_filter
        else:
            name = self._stream(kwargs, op)
            after = kwargs.get("ExclusiveStartShardId")
            if after is not None:
                _check_shard_id(after, "ExclusiveStartShardId", op)
            shard_filter = kwargs.get("ShardFilter")
            if shard_filter is not None:
                filter_args = self._shard_filter(shard_filter, op)
        shards = self._call(op, lambda: self._native.list_shards(name, **filter_args))
        if after is not None:
            shards = [s for s in shards if s["shard_id"] > after]
        page = shards[:limit]
        body: Response = {"Shards": [self._shard(s) for s in page]}
        if len(shards) > limit:
            body["NextToken"] = _encode_token({"stream": name, "after": page[-1]["shard_id"], "filter": filter_args})
        return self._ok(body)

    def _shard_filter(self, shard_filter: Mapping[str, Any], op: str) -> dict[str, Any]:
        kind = shard_filter.get("Type")
        if kind not in self._SHARD_FILTERS:
            raise _client_error("ValidationException",
                                f"ShardFilter Type {kind!r} is not one of {', '.join(self._SHARD_FILTERS)}", op)
        args: dict[str, Any] = {"filter": kind, "timestamp_ms": None, "after_shard_id": None}
        if kind == "AFTER_SHARD_ID":
            if not isinstance(shard_filter.get("ShardId"), str):
                raise _client_error("InvalidArgumentException", "AFTER_SHARD_ID needs a ShardId", op)
            args["after_shard_id"] = shard_filter["ShardId"]
        elif kind in ("AT_TIMESTAMP", "FROM_TIMESTAMP"):
            if "Timestamp" not in shard_filter:
                raise _client_error("InvalidArgumentException", f"{kind} needs a Timestamp", op)
            args["timestamp_ms"] = _timestamp_ms(shard_filter["Timestamp"], "ShardFilter.Timestamp")
        return args

    # -- resharding, retention, tags ---------------------------------------------------

    def split_shard(self, **kwargs: Any) -> Response:
        """SplitShard(StreamName | StreamARN, ShardToSplit, NewStartingHashKey)."""
        op = "SplitShard"
        _check(kwargs, {"ShardToSplit": _STR, "NewStartingHashKey": _STR}, _STREAM)
        name = self._stream(kwargs, op)
        self._call(op, lambda: self._native.split_shard(name, kwargs["ShardToSplit"], kwargs["NewStartingHashKey"]))
        return self._ok()

    def merge_shards(self, **kwargs: Any) -> Response:
        """MergeShards(StreamName | StreamARN, ShardToMerge, AdjacentShardToMerge)."""
        op = "MergeShards"
        _check(kwargs, {"ShardToMerge": _STR, "AdjacentShardToMerge": _STR}, _STREAM)
        name = self._stream(kwargs, op)
        self._call(op, lambda: self._native.merge_shards(name, kwargs["ShardToMerge"], kwargs["AdjacentShardToMerge"]))
        return self._ok()

    def update_shard_count(self, **kwargs: Any) -> Response:
        """UpdateShardCount(StreamName | StreamARN, TargetShardCount, ScalingType)."""
        op = "UpdateShardCount"
        _check(kwargs, {"TargetShardCount": _INT, "ScalingType": _STR}, _STREAM)
        name = self._stream(kwargs, op)
        current, target = self._call(
            op, lambda: self._native.update_shard_count(name, kwargs["TargetShardCount"], kwargs["ScalingType"]))
        return self._ok({
            "StreamName": name,
            "CurrentShardCount": current,
            "TargetShardCount": target,
            "StreamARN": self._arn(name),
        })

    def increase_stream_retention_period(self, **kwargs: Any) -> Response:
        """IncreaseStreamRetentionPeriod(StreamName | StreamARN, RetentionPeriodHours)."""
        op = "IncreaseStreamRetentionPeriod"
        _check(kwargs, {"RetentionPeriodHours": _INT}, _STREAM)
        name = self._stream(kwargs, op)
        self._call(op, lambda: self._native.increase_stream_retention_period(name, kwargs["RetentionPeriodHours"]))
        return self._ok()

    def decrease_stream_retention_period(self, **kwargs: Any) -> Response:
        """DecreaseStreamRetentionPeriod(StreamName | StreamARN, RetentionPeriodHours)."""
        op = "DecreaseStreamRetentionPeriod"
        _check(kwargs, {"RetentionPeriodHours": _INT}, _STREAM)
        name = self._stream(kwargs, op)
        self._call(op, lambda: self._native.decrease_stream_retention_period(name, kwargs["RetentionPeriodHours"]))
        return self._ok()

    def add_tags_to_stream(self, **kwargs: Any) -> Response:
        """AddTagsToStream(StreamName | StreamARN, Tags={key: value})."""
        op = "AddTagsToStream"
        _check(kwargs, {"Tags": _DICT}, _STREAM)
        name = self._stream(kwargs, op)
        self._call(op, lambda: self._native.add_tags_to_stream(name, kwargs["Tags"]))
        return self._ok()

    def remove_tags_from_stream(self, **kwargs: Any) -> Response:
        """RemoveTagsFromStream(StreamName | StreamARN, TagKeys=[key, ...])."""
        op = "RemoveTagsFromStream"
        _check(kwargs, {"TagKeys": _LIST}, _STREAM)
        name = self._stream(kwargs, op)
        self._call(op, lambda: self._native.remove_tags_from_stream(name, list(kwargs["TagKeys"])))
        return self._ok()

    def list_tags_for_stream(self, **kwargs: Any) -> Response:
        """ListTagsForStream(StreamName | StreamARN, ExclusiveStartTagKey=None, Limit=None)."""
        op = "ListTagsForStream"
        _check(kwargs, {}, {**_STREAM, "ExclusiveStartTagKey": _STR, "Limit": _INT})
        name = self._stream(kwargs, op)
        limit = kwargs.get("Limit", 50)
        if not 1 <= limit <= 50:
            raise _client_error("ValidationException", f"Limit {limit} is outside [1, 50]", op)
        tags = sorted(self._call(op, lambda: self._native.list_tags_for_stream(name)).items())
        start = kwargs.get("ExclusiveStartTagKey")
        if start is not None:
            tags = [(k, v) for k, v in tags if k > start]
        return self._ok({
            "Tags": [{"Key": k, "Value": v} for k, v in tags[:limit]],
            "HasMoreTags": len(tags) > limit,
        })

    # -- writes -----------------------------------------------------------------------

    def put_record(self, **kwargs: Any) -> Response:
        """PutRecord(StreamName | StreamARN, Data, PartitionKey, ExplicitHashKey=None,
        SequenceNumberForOrdering=None)."""
        op = "PutRecord"
        _check(kwargs, {"Data": _BLOB, "PartitionKey": _STR},
               {**_STREAM, "ExplicitHashKey": _STR, "SequenceNumberForOrdering": _STR, "DryRun": _BOOL})
        name = self._stream(kwargs, op)
        data = _blob(kwargs["Data"])
        if kwargs.get("DryRun"):
            self._call(op, lambda: self._native.describe_stream_summary(name))
            self._dry_run(kwargs, op)
        shard_id, seq, encrypted = self._call(op, lambda: self._native.put_record(
            name, kwargs["PartitionKey"], data, kwargs.get("ExplicitHashKey"),
            kwargs.get("SequenceNumberForOrdering"), None))
        return self._ok({"ShardId": shard_id, "SequenceNumber": seq,
                         "EncryptionType": "KMS" if encrypted else "NONE"})

    def put_records(self, **kwargs: Any) -> Response:
        """PutRecords(StreamName | StreamARN, Records=[{Data, PartitionKey,
        ExplicitHashKey}]): each entry succeeds or fails on its own."""
        op = "PutRecords"
        _check(kwargs, {"Records": _LIST}, {**_STREAM, "DryRun": _BOOL})
        name = self._stream(kwargs, op)
        entries = []
        for i, entry in enumerate(kwargs["Records"]):
            if not isinstance(entry, dict):
                raise ParamTypeError(
                    f"Parameter validation failed:\nInvalid type for parameter Records[{i}], "
                    f"value: {entry!r}, type: {type(entry)}, valid types: <class 'dict'>")
            _check(entry, {"Data": _BLOB, "PartitionKey": _STR}, {"ExplicitHashKey": _STR})
            entries.append((entry["PartitionKey"], _blob(entry["Data"]), entry.get("ExplicitHashKey")))
        if kwargs.get("DryRun"):
            self._call(op, lambda: self._native.describe_stream_summary(name))
            self._dry_run(kwargs, op)
        results = self._call(op, lambda: self._native.put_records(name, entries, None))
        records = []
        encrypted = False
        for result in results:
            if isinstance(result, Error):
                records.append({"ErrorCode": type(result).kinesis_name, "ErrorMessage": str(result)})
            else:
                records.append({"SequenceNumber": result.sequence_number, "ShardId": result.shard_id})
                encrypted = encrypted or result.encrypted
        failed = sum(1 for r in records if "ErrorCode" in r)
        return self._ok({"FailedRecordCount": failed, "Records": records,
                         "EncryptionType": "KMS" if encrypted else "NONE"})

    # -- reads ------------------------------------------------------------------------

    _ITERATOR_TYPES = ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")

    def get_shard_iterator(self, **kwargs: Any) -> Response:
        """GetShardIterator(StreamName | StreamARN, ShardId, ShardIteratorType,
        StartingSequenceNumber=None, Timestamp=None)."""
        op = "GetShardIterator"
        _check(kwargs, {"ShardId": _STR, "ShardIteratorType": _STR},
               {**_STREAM, "StartingSequenceNumber": _STR, "Timestamp": _TIME, "DryRun": _BOOL})
        name = self._stream(kwargs, op)
        kind = kwargs["ShardIteratorType"]
        if kind not in self._ITERATOR_TYPES:
            raise _client_error("ValidationException",
                                f"Value {kind!r} at 'shardIteratorType' failed to satisfy constraint: "
                                f"Member must satisfy enum value set: [{', '.join(self._ITERATOR_TYPES)}]", op)
        seq = kwargs.get("StartingSequenceNumber")
        needs_seq = kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
        if needs_seq and seq is None:
            raise _client_error("InvalidArgumentException", f"{kind} needs a StartingSequenceNumber", op)
        ts = kwargs.get("Timestamp")
        if kind == "AT_TIMESTAMP" and ts is None:
            raise _client_error("InvalidArgumentException", "AT_TIMESTAMP needs a Timestamp", op)
        ts_ms = _timestamp_ms(ts, "Timestamp") if kind == "AT_TIMESTAMP" else None
        iterator = self._call(op, lambda: self._native.get_shard_iterator(
            name, kwargs["ShardId"], kind, seq if needs_seq else None, ts_ms))
        self._dry_run(kwargs, op)
        return self._ok({"ShardIterator": iterator})

    def get_records(self, **kwargs: Any) -> Response:
        """GetRecords(ShardIterator, Limit=None): Records (Data as bytes),
        NextShardIterator, MillisBehindLatest, and ChildShards at the end of a closed
        shard."""
        op = "GetRecords"
        _check(kwargs, {"ShardIterator": _STR}, {"Limit": _INT, "StreamARN": _STR, "StreamId": _STR,
                                                 "DryRun": _BOOL})
        if kwargs.get("DryRun"):
            # The checks of a real call (the iterator, the stream), without reading.
            self._call(op, lambda: self._native.get_records(kwargs["ShardIterator"], kwargs.get("Limit")) and None)
            self._dry_run(kwargs, op)
        batch = self._call(op, lambda: self._native.get_records(kwargs["ShardIterator"], kwargs.get("Limit")))
        records = batch._boto3_records()
        body: Response = {"Records": records}
        if batch.next_iterator is not None:
            body["NextShardIterator"] = batch.next_iterator
        body["MillisBehindLatest"] = batch.millis_behind_latest
        if batch.next_iterator is None:
            body["ChildShards"] = [self._child(c) for c in batch.child_shards]
        return self._ok(body)

    @staticmethod
    def _record(r: Any) -> dict[str, Any]:
        return {
            "SequenceNumber": r.sequence_number,
            "ApproximateArrivalTimestamp": r.arrival_time,
            "Data": bytes(r.data),
            "PartitionKey": r.partition_key,
            "EncryptionType": "KMS" if r.encrypted else "NONE",
        }

    # -- enhanced fan-out -------------------------------------------------------------

    def register_stream_consumer(self, **kwargs: Any) -> Response:
        """RegisterStreamConsumer(StreamARN, ConsumerName, Tags=None): the Consumer
        (CREATING, as Kinesis answers; DescribeStreamConsumer shows it ACTIVE)."""
        op = "RegisterStreamConsumer"
        _check(kwargs, {"StreamARN": _STR, "ConsumerName": _STR}, {"Tags": _DICT, "StreamId": _STR})
        stream = self._stream(kwargs, op)
        c = self._call(op, lambda: self._native.register_stream_consumer(
            stream, kwargs["ConsumerName"], kwargs.get("Tags")))
        return self._ok({"Consumer": self._consumer(c)})

    def deregister_stream_consumer(self, **kwargs: Any) -> Response:
        """DeregisterStreamConsumer(ConsumerARN | StreamARN + ConsumerName)."""
        op = "DeregisterStreamConsumer"
        _check(kwargs, {}, {"StreamARN": _STR, "ConsumerName": _STR, "ConsumerARN": _STR, "StreamId": _STR})
        stream, name, arn = self._consumer_args(kwargs, op)
        self._call(op, lambda: self._native.deregister_stream_consumer(stream, name, arn))
        return self._ok()

    def describe_stream_consumer(self, **kwargs: Any) -> Response:
        """DescribeStreamConsumer(ConsumerARN | StreamARN + ConsumerName)."""
        op = "DescribeStreamConsumer"
        _check(kwargs, {}, {"StreamARN": _STR, "ConsumerName": _STR, "ConsumerARN": _STR, "StreamId": _STR})
        stream, name, arn = self._consumer_args(kwargs, op)
        c = self._call(op, lambda: self._native.describe_stream_consumer(stream, name, arn))
        return self._ok({"ConsumerDescription": self._consumer(c, with_stream=True)})

    def list_stream_consumers(self, **kwargs: Any) -> Response:
        """ListStreamConsumers(StreamARN, NextToken=None, MaxResults=None,
        StreamCreationTimestamp=None): Consumers in name order, NextToken while more
        follow."""
        op = "ListStreamConsumers"
        _check(kwargs, {"StreamARN": _STR}, {"NextToken": _STR, "MaxResults": _INT,
                                             "StreamCreationTimestamp": _TIME, "StreamId": _STR})
        stream = self._stream(kwargs, op)
        limit = kwargs.get("MaxResults", 100)
        if not 1 <= limit <= 10_000:
            raise _client_error("ValidationException", f"MaxResults {limit} is outside [1, 10000]", op)
        if "StreamCreationTimestamp" in kwargs:
            created = self._call(op, lambda: self._native.describe_stream_summary(stream))["created"]
            given = _timestamp_ms(kwargs["StreamCreationTimestamp"], "StreamCreationTimestamp")
            if given // 1000 != int(created.timestamp()):
                raise _client_error("ResourceNotFoundException",
                                    f"stream {stream!r} was not created at that time", op)
        after = None
        if "NextToken" in kwargs:
            token = _decode_token(kwargs["NextToken"], op)
            if token.get("stream") != stream or not isinstance(token.get("after"), str):
                raise _client_error("InvalidArgumentException", "Invalid NextToken", op)
            after = token["after"]
        consumers, has_more = self._call(op, lambda: self._native.list_stream_consumers(stream, limit, after))
        body: Response = {"Consumers": [self._consumer(c) for c in consumers]}
        if has_more and consumers:
            body["NextToken"] = _encode_token({"stream": stream, "after": consumers[-1]["name"]})
        return self._ok(body)

    def subscribe_to_shard(self, **kwargs: Any) -> Response:
        """SubscribeToShard(ConsumerARN, ShardId, StartingPosition={Type,
        SequenceNumber, Timestamp}): ``EventStream``, an iterable of
        ``{"SubscribeToShardEvent": {...}}`` for up to 5 minutes (see
        :class:`EventStream`)."""
        op = "SubscribeToShard"
        _check(kwargs, {"ConsumerARN": _STR, "ShardId": _STR, "StartingPosition": _DICT},
               {"StreamId": _STR, "DryRun": _BOOL})
        position = kwargs["StartingPosition"]
        _check(position, {"Type": _STR}, {"SequenceNumber": _STR, "Timestamp": _TIME})
        kind = position["Type"]
        if kind not in self._ITERATOR_TYPES:
            raise _client_error("ValidationException",
                                f"Value {kind!r} at 'startingPosition.type' failed to satisfy constraint: "
                                f"Member must satisfy enum value set: [{', '.join(self._ITERATOR_TYPES)}]", op)
        needs_seq = kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
        seq = position.get("SequenceNumber")
        if needs_seq and seq is None:
            raise _client_error("InvalidArgumentException", f"{kind} needs a SequenceNumber", op)
        if kind == "AT_TIMESTAMP" and position.get("Timestamp") is None:
            raise _client_error("InvalidArgumentException", "AT_TIMESTAMP needs a Timestamp", op)
        ts_ms = _timestamp_ms(position["Timestamp"], "StartingPosition.Timestamp") if kind == "AT_TIMESTAMP" else None
        if kwargs.get("DryRun"):
            self._call(op, lambda: self._native.describe_stream_consumer(None, None, kwargs["ConsumerARN"]))
            self._dry_run(kwargs, op)
        native = self._call(op, lambda: self._native.subscribe_to_shard(
            kwargs["ConsumerARN"], kwargs["ShardId"], kind, seq if needs_seq else None, ts_ms))
        return self._ok({"EventStream": EventStream(native, self)})

    # -- queues -----------------------------------------------------------------------

    _QUEUE_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")

    @staticmethod
    def _queue_description(q: Mapping[str, Any]) -> dict[str, Any]:
        position: dict[str, Any] = {"Type": q["starting_position"]}
        if q["starting_timestamp"] is not None:
            position["Timestamp"] = q["starting_timestamp"]
        dead: dict[str, Any] = {"TargetType": q["dead_letter"]}
        if q["max_receive_count"] is not None:
            dead["MaxReceiveCount"] = q["max_receive_count"]
        return {
            "QueueName": q["name"],
            "QueueARN": q["arn"],
            "QueueStatus": q["status"],
            "QueueCreationTimestamp": q["created"],
            "StreamConfigurationList": [{"StreamARN": q["stream_arn"], "StartingPosition": position}],
            "QueueAttributes": {"VisibilityTimeoutSeconds": q["visibility_timeout"],
                                "DeadLetterConfiguration": dead},
        }

    @staticmethod
    def _queue_attributes(attributes: Mapping[str, Any], op: str) -> tuple[int | None, str | None, int | None]:
        """(visibility timeout, dead-letter target, MaxReceiveCount) of QueueAttributes."""
        _check(attributes, {}, {"VisibilityTimeoutSeconds": _INT, "DeadLetterConfiguration": _DICT})
        visibility = attributes.get("VisibilityTimeoutSeconds")
        if visibility is not None and visibility > 43_200:
            raise _client_error("ValidationException",
                                f"VisibilityTimeoutSeconds {visibility} is outside [0, 43200]", op)
        target = max_count = None
        dead = attributes.get("DeadLetterConfiguration")
        if dead is not None:
            _check(dead, {"TargetType": _STR}, {"MaxReceiveCount": _INT})
            target, max_count = dead["TargetType"], dead.get("MaxReceiveCount")
            if target not in ("BUILT_IN", "NONE"):
                raise _client_error("ValidationException", f"Value {target!r} at 'targetType' failed to satisfy "
                                    "constraint: Member must satisfy enum value set: [BUILT_IN, NONE]", op)
            if target == "BUILT_IN" and max_count is None:
                raise _client_error("ValidationException",
                                    "DeadLetterConfiguration with TargetType BUILT_IN requires MaxReceiveCount", op)
            if target == "NONE" and max_count is not None:
                raise _client_error("ValidationException",
                                    "MaxReceiveCount is only valid with TargetType BUILT_IN", op)
        return visibility, target, max_count

    def create_queue(self, **kwargs: Any) -> Response:
        """CreateQueue(QueueName, StreamConfigurationList=[{StreamARN,
        StartingPosition={Type, Timestamp}}], QueueAttributes=None, Tags=None): the
        QueueDescription (CREATING, as Kinesis answers)."""
        op = "CreateQueue"
        _check(kwargs, {"QueueName": _STR, "StreamConfigurationList": _LIST},
               {"QueueAttributes": _DICT, "Tags": _DICT})
        configs = kwargs["StreamConfigurationList"]
        for config in configs:
            if not isinstance(config, dict):
                raise ParamTypeError(f"Parameter validation failed:\nInvalid type for parameter "
                                     f"StreamConfigurationList, value: {config!r}, valid types: <class 'dict'>")
            _check(config, {"StreamARN": _STR}, {"StartingPosition": _DICT})
        if len(configs) != 1:
            raise _client_error("ValidationException",
                                f"StreamConfigurationList must contain exactly one entry; {len(configs)} given", op)
        position = configs[0].get("StartingPosition", {"Type": "LATEST"})
        _check(position, {"Type": _STR}, {"Timestamp": _TIME})
        kind = position["Type"]
        if kind not in self._QUEUE_POSITIONS:
            raise _client_error("ValidationException", f"Value {kind!r} at 'startingPosition.type' failed to "
                                "satisfy constraint: Member must satisfy enum value set: "
                                f"[{', '.join(self._QUEUE_POSITIONS)}]", op)
        if (kind == "AT_TIMESTAMP") != ("Timestamp" in position):
            raise _client_error("ValidationException",
                                "StartingPosition.Timestamp is required with AT_TIMESTAMP and only valid with it", op)
        ts_ms = _timestamp_ms(position["Timestamp"], "StartingPosition.Timestamp") if kind == "AT_TIMESTAMP" else None
        visibility, target, max_count = self._queue_attributes(kwargs.get("QueueAttributes") or {}, op)
        q = self._call(op, lambda: self._native.create_queue(
            kwargs["QueueName"], configs[0]["StreamARN"], kind, ts_ms, visibility, target, max_count,
            kwargs.get("Tags")))
        return self._ok({"QueueDescription": self._queue_description(q)})

    def delete_queue(self, **kwargs: Any) -> Response:
        """DeleteQueue(QueueARN)."""
        op = "DeleteQueue"
        _check(kwargs, {"QueueARN": _STR}, {})
        self._call(op, lambda: self._native.delete_queue(kwargs["QueueARN"]))
        return self._ok()

    def describe_queue(self, **kwargs: Any) -> Response:
        """DescribeQueue(QueueARN): the QueueDescription."""
        op = "DescribeQueue"
        _check(kwargs, {"QueueARN": _STR}, {})
        q = self._call(op, lambda: self._native.describe_queue(kwargs["QueueARN"]))
        return self._ok({"QueueDescription": self._queue_description(q)})

    def update_queue(self, **kwargs: Any) -> Response:
        """UpdateQueue(QueueARN, QueueAttributes): the QueueDescription."""
        op = "UpdateQueue"
        _check(kwargs, {"QueueARN": _STR, "QueueAttributes": _DICT}, {})
        visibility, target, max_count = self._queue_attributes(kwargs["QueueAttributes"], op)
        q = self._call(op, lambda: self._native.update_queue(kwargs["QueueARN"], visibility, target, max_count))
        return self._ok({"QueueDescription": self._queue_description(q)})

    def list_queues(self, **kwargs: Any) -> Response:
        """ListQueues(MaxResults=None, NextToken=None, StreamFilter=None):
        QueueSummaries in name order, NextToken while more follow."""
        op = "ListQueues"
        _check(kwargs, {}, {"MaxResults": _INT, "NextToken": _STR, "StreamFilter": _LIST})
        limit = kwargs.get("MaxResults", 100)
        if not 1 <= limit <= 10_000:
            raise _client_error("ValidationException", f"MaxResults {limit} is outside [1, 10000]", op)
        filters = None
        if "StreamFilter" in kwargs:
            filters = []
            for f in kwargs["StreamFilter"]:
                if not isinstance(f, dict):
                    raise ParamTypeError(f"Parameter validation failed:\nInvalid type for parameter "
                                         f"StreamFilter, value: {f!r}, valid types: <class 'dict'>")
                _check(f, {"StreamARN": _STR}, {"StreamCreationTimestamp": _TIME})
                created = f.get("StreamCreationTimestamp")
                filters.append((f["StreamARN"], None if created is None
                                else _timestamp_ms(created, "StreamCreationTimestamp")))
        after = None
        if "NextToken" in kwargs:
            token = _decode_token(kwargs["NextToken"], op)
            if not isinstance(token.get("after_queue"), str):
                raise _client_error("InvalidArgumentException", "Invalid NextToken", op)
            after = token["after_queue"]
        queues, has_more = self._call(op, lambda: self._native.list_queues(limit, after, filters))
        body: Response = {"QueueSummaries": [{
            "QueueName": q["name"],
            "QueueARN": q["arn"],
            "QueueStatus": q["status"],
            "QueueCreationTimestamp": q["created"],
            "Streams": [{"StreamARN": q["stream_arn"], "StreamCreationTimestamp": q["stream_created"]}],
        } for q in queues]}
        if has_more and queues:
            body["NextToken"] = _encode_token({"after_queue": queues[-1]["name"]})
        return self._ok(body)

    def _receive(self, op: str, kwargs: Mapping[str, Any], dead: bool) -> Response:
        _check(kwargs, {"QueueARN": _STR}, {"Limit": _INT, "WaitTimeSeconds": _INT, "VisibilityTimeoutSeconds": _INT})
        limit = kwargs.get("Limit", 10)
        wait = kwargs.get("WaitTimeSeconds", 9)
        visibility = kwargs.get("VisibilityTimeoutSeconds")
        for name, value, top in (("Limit", limit, 10), ("WaitTimeSeconds", wait, 20),
                                 ("VisibilityTimeoutSeconds", visibility, 43_200)):
            if value is not None and value > top:
                raise _client_error("ValidationException", f"{name} {value} is above {top}", op)
        records = self._call(op, lambda: self._native.receive_queue_records(
            kwargs["QueueARN"], limit, float(wait), visibility, dead))
        return self._ok({"QueueRecords": [{
            "ReceiptHandle": r["receipt_handle"],
            "RecordId": r["record_id"],
            "PartitionKey": r["partition_key"],
            "Data": r["data"],
            "ApproximateArrivalTimestamp": r["arrival_time"],
            "FirstReceiveTimestamp": r["first_receive_time"],
            "ReceiveCount": r["receive_count"],
        } for r in records]})

    def receive_queue_records(self, **kwargs: Any) -> Response:
        """ReceiveQueueRecords(QueueARN, Limit=10, WaitTimeSeconds=9,
        VisibilityTimeoutSeconds=None): up to Limit QueueRecords, each in flight with a
        new ReceiptHandle; waits up to WaitTimeSeconds for one when none is visible."""
        return self._receive("ReceiveQueueRecords", kwargs, False)

    def receive_dead_letter_queue_records(self, **kwargs: Any) -> Response:
        """ReceiveDeadLetterQueueRecords: as receive_queue_records, for dead letters."""
        return self._receive("ReceiveDeadLetterQueueRecords", kwargs, True)

    def _entries(self, op: str, kwargs: Mapping[str, Any], action: str, dead: bool, *,
                 timeouts: bool = False) -> Response:
        _check(kwargs, {"QueueARN": _STR, "Entries": _LIST}, {})
        entries = kwargs["Entries"]
        handles: list[str] = []
        seconds: list[int] = []
        for e in entries:
            if not isinstance(e, dict):
                raise ParamTypeError(f"Parameter validation failed:\nInvalid type for parameter Entries, "
                                     f"value: {e!r}, valid types: <class 'dict'>")
            if timeouts:
                _check(e, {"ReceiptHandle": _STR, "VisibilityTimeoutSeconds": _INT}, {})
                if e["VisibilityTimeoutSeconds"] > 43_200:
                    raise _client_error("ValidationException",
                                        f"VisibilityTimeoutSeconds {e['VisibilityTimeoutSeconds']} is above 43200", op)
                seconds.append(e["VisibilityTimeoutSeconds"])
            else:
                _check(e, {"ReceiptHandle": _STR}, {})
            handles.append(e["ReceiptHandle"])
        if len(entries) > 10:
            raise _client_error("ValidationException", f"Entries takes 1 to 10 entries; {len(entries)} given", op)
        successful, failed = self._call(op, lambda: self._native.queue_entries(
            kwargs["QueueARN"], action, handles, seconds if timeouts else None, dead))
        return self._ok({
            "Successful": [{"ReceiptHandle": h} for h in successful],
            "Failed": [{"ReceiptHandle": h, "ErrorCode": code, "ErrorMessage": message}
                       for h, code, message in failed],
        })

    def acknowledge_queue_records(self, **kwargs: Any) -> Response:
        """AcknowledgeQueueRecords(QueueARN, Entries=[{ReceiptHandle}]): Successful and
        Failed entries."""
        return self._entries("AcknowledgeQueueRecords", kwargs, "acknowledge", False)

    def update_queue_records_visibility(self, **kwargs: Any) -> Response:
        """UpdateQueueRecordsVisibility(QueueARN, Entries=[{ReceiptHandle,
        VisibilityTimeoutSeconds}])."""
        return self._entries("UpdateQueueRecordsVisibility", kwargs, "visibility", False, timeouts=True)

    def acknowledge_dead_letter_queue_records(self, **kwargs: Any) -> Response:
        """AcknowledgeDeadLetterQueueRecords(QueueARN, Entries=[{ReceiptHandle}])."""
        return self._entries("AcknowledgeDeadLetterQueueRecords", kwargs, "acknowledge", True)

    def update_dead_letter_queue_records_visibility(self, **kwargs: Any) -> Response:
        """UpdateDeadLetterQueueRecordsVisibility(QueueARN, Entries=[{ReceiptHandle,
        VisibilityTimeoutSeconds}])."""
        return self._entries("UpdateDeadLetterQueueRecordsVisibility", kwargs, "visibility", True, timeouts=True)

    def restore_dead_letter_queue_records(self, **kwargs: Any) -> Response:
        """RestoreDeadLetterQueueRecords(QueueARN, Entries=[{ReceiptHandle}])."""
        return self._entries("RestoreDeadLetterQueueRecords", kwargs, "restore", True)

    # -- resources by ARN -------------------------------------------------------------

    def tag_resource(self, **kwargs: Any) -> Response:
        """TagResource(ResourceARN, Tags): a stream or consumer ARN."""
        op = "TagResource"
        _check(kwargs, {"ResourceARN": _STR, "Tags": _DICT}, {"StreamId": _STR})
        self._call(op, lambda: self._native.tag_resource(kwargs["ResourceARN"], kwargs["Tags"]))
        return self._ok()

    def untag_resource(self, **kwargs: Any) -> Response:
        """UntagResource(ResourceARN, TagKeys)."""
        op = "UntagResource"
        _check(kwargs, {"ResourceARN": _STR, "TagKeys": _LIST}, {"StreamId": _STR})
        self._call(op, lambda: self._native.untag_resource(kwargs["ResourceARN"], list(kwargs["TagKeys"])))
        return self._ok()

    def list_tags_for_resource(self, **kwargs: Any) -> Response:
        """ListTagsForResource(ResourceARN): Tags as a list of {Key, Value}."""
        op = "ListTagsForResource"
        _check(kwargs, {"ResourceARN": _STR}, {"StreamId": _STR})
        tags = self._call(op, lambda: self._native.list_tags_for_resource(kwargs["ResourceARN"]))
        return self._ok({"Tags": self._tag_list(tags)})

    def put_resource_policy(self, **kwargs: Any) -> Response:
        """PutResourcePolicy(ResourceARN, Policy): validated and stored durably, not
        enforced (an embedded engine has no principals)."""
        op = "PutResourcePolicy"
        _check(kwargs, {"ResourceARN": _STR, "Policy": _STR}, {"StreamId": _STR})
        self._call(op, lambda: self._native.put_resource_policy(kwargs["ResourceARN"], kwargs["Policy"]))
        return self._ok()

    def get_resource_policy(self, **kwargs: Any) -> Response:
        """GetResourcePolicy(ResourceARN): the Policy ("{}" when none is attached)."""
        op = "GetResourcePolicy"
        _check(kwargs, {"ResourceARN": _STR}, {"StreamId": _STR})
        policy = self._call(op, lambda: self._native.get_resource_policy(kwargs["ResourceARN"]))
        return self._ok({"Policy": "{}" if policy is None else policy})

    def delete_resource_policy(self, **kwargs: Any) -> Response:
        """DeleteResourcePolicy(ResourceARN)."""
        op = "DeleteResourcePolicy"
        _check(kwargs, {"ResourceARN": _STR}, {"StreamId": _STR})
        self._call(op, lambda: self._native.delete_resource_policy(kwargs["ResourceARN"]))
        return self._ok()

    # -- limits, monitoring, encryption, capacity -------------------------------------

    def describe_limits(self, **kwargs: Any) -> Response:
        """DescribeLimits(): ShardLimit, OpenShardCount, OnDemandStreamCount,
        OnDemandStreamCountLimit."""
        op = "DescribeLimits"
        _check(kwargs, {}, {})
        limits = self._call(op, self._native.describe_limits)
        return self._ok({
            "ShardLimit": limits["shard_limit"],
            "OpenShardCount": limits["open_shard_count"],
            "OnDemandStreamCount": limits["on_demand_stream_count"],
            "OnDemandStreamCountLimit": limits["on_demand_stream_count_limit"],
        })

    def _monitoring(self, op: str, kwargs: Mapping[str, Any], enable: bool) -> Response:
        _check(kwargs, {"ShardLevelMetrics": _LIST}, _STREAM)
        name = self._stream(kwargs, op)
        metrics = list(kwargs["ShardLevelMetrics"])
        fn = self._native.enable_enhanced_monitoring if enable else self._native.disable_enhanced_monitoring
        out = self._call(op, lambda: fn(name, metrics))
        return self._ok({
            "StreamName": out["stream"],
            "CurrentShardLevelMetrics": list(out["current"]),
            "DesiredShardLevelMetrics": list(out["desired"]),
            "StreamARN": out["stream_arn"],
        })

    def enable_enhanced_monitoring(self, **kwargs: Any) -> Response:
        """EnableEnhancedMonitoring(StreamName | StreamARN, ShardLevelMetrics)."""
        return self._monitoring("EnableEnhancedMonitoring", kwargs, True)

    def disable_enhanced_monitoring(self, **kwargs: Any) -> Response:
        """DisableEnhancedMonitoring(StreamName | StreamARN, ShardLevelMetrics)."""
        return self._monitoring("DisableEnhancedMonitoring", kwargs, False)

    def start_stream_encryption(self, **kwargs: Any) -> Response:
        """StartStreamEncryption(StreamName | StreamARN, EncryptionType="KMS", KeyId):
        the key comes from the engine's key provider (``alias/aws/kinesis`` is made on
        first use by the built-in one)."""
        op = "StartStreamEncryption"
        _check(kwargs, {"EncryptionType": _STR, "KeyId": _STR}, _STREAM)
        name = self._stream(kwargs, op)
        self._call(op, lambda: self._native.start_stream_encryption(name, kwargs["EncryptionType"], kwargs["KeyId"]))
        return self._ok()

    def stop_stream_encryption(self, **kwargs: Any) -> Response:
        """StopStreamEncryption(StreamName | StreamARN, EncryptionType="KMS", KeyId)."""
        op = "StopStreamEncryption"
        _check(kwargs, {"EncryptionType": _STR, "KeyId": _STR}, _STREAM)
        name = self._stream(kwargs, op)
        self._call(op, lambda: self._native.stop_stream_encryption(name, kwargs["EncryptionType"], kwargs["KeyId"]))
        return self._ok()

    def update_max_record_size(self, **kwargs: Any) -> Response:
        """UpdateMaxRecordSize(StreamARN, MaxRecordSizeInKiB): 1,024 to 10,240."""
        op = "UpdateMaxRecordSize"
        _check(kwargs, {"MaxRecordSizeInKiB": _INT}, {"StreamARN": _STR, "StreamId": _STR})
        name = self._stream(kwargs, op)
        self._call(op, lambda: self._native.update_max_record_size(name, kwargs["MaxRecordSizeInKiB"]))
        return self._ok()

    def update_stream_record_distribution_strategy(self, **kwargs: Any) -> Response:
        """UpdateStreamRecordDistributionStrategy(StreamARN, RecordDistributionStrategy):
        AUTO (ON_DEMAND streams only) or USER_PARTITION_KEY, for the next records."""
        op = "UpdateStreamRecordDistributionStrategy"
        _check(kwargs, {"StreamARN": _STR, "RecordDistributionStrategy": _STR}, {"StreamId": _STR})
        name = self._stream(kwargs, op)
        strategy = self._strategy(kwargs["RecordDistributionStrategy"], op)
        self._call(op, lambda: self._native.update_stream_record_distribution(name, strategy))
        return self._ok()

    def update_stream_mode(self, **kwargs: Any) -> Response:
        """UpdateStreamMode(StreamARN, StreamModeDetails, WarmThroughputMiBps=None)."""
        op = "UpdateStreamMode"
        _check(kwargs, {"StreamARN": _STR, "StreamModeDetails": _DICT},
               {"WarmThroughputMiBps": _INT, "StreamId": _STR})
        name = self._stream(kwargs, op)
        mode = self._mode(kwargs["StreamModeDetails"], op)
        self._call(op, lambda: self._native.update_stream_mode(name, mode, kwargs.get("WarmThroughputMiBps")))
        return self._ok()

    def update_stream_warm_throughput(self, **kwargs: Any) -> Response:
        """UpdateStreamWarmThroughput(StreamName | StreamARN, WarmThroughputMiBps): an
        ON_DEMAND stream of an account with the billing commitment on."""
        op = "UpdateStreamWarmThroughput"
        _check(kwargs, {"WarmThroughputMiBps": _INT}, _STREAM)
        name = self._stream(kwargs, op)
        out = self._call(op, lambda: self._native.update_stream_warm_throughput(name, kwargs["WarmThroughputMiBps"]))
        return self._ok({
            "StreamARN": out["stream_arn"],
            "StreamName": out["stream"],
            "WarmThroughput": self._warm(out["warm_throughput"]),
        })

    @staticmethod
    def _commitment(a: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"Status": a["status"]}
        for key, field in (("StartedAt", "started"), ("EndedAt", "ended"),
                           ("EarliestAllowedEndAt", "earliest_allowed_end")):
            if a[field] is not None:
                out[key] = a[field]
        return out

    def describe_account_settings(self, **kwargs: Any) -> Response:
        """DescribeAccountSettings(): MinimumThroughputBillingCommitment."""
        op = "DescribeAccountSettings"
        _check(kwargs, {}, {})
        a = self._call(op, self._native.describe_account_settings)
        return self._ok({"MinimumThroughputBillingCommitment": self._commitment(a)})

    def update_account_settings(self, **kwargs: Any) -> Response:
        """UpdateAccountSettings(MinimumThroughputBillingCommitment={"Status": "ENABLED" |
        "DISABLED"}): at least 24 hours once enabled."""
        op = "UpdateAccountSettings"
        _check(kwargs, {"MinimumThroughputBillingCommitment": _DICT}, {})
        commitment = kwargs["MinimumThroughputBillingCommitment"]
        _check(commitment, {"Status": _STR}, {})
        status = commitment["Status"]
        if status not in ("ENABLED", "DISABLED"):
            raise _client_error("ValidationException",
                                f"Value {status!r} at 'minimumThroughputBillingCommitment.status' failed to "
                                "satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]", op)
        a = self._call(op, lambda: self._native.update_account_settings(status == "ENABLED"))
        return self._ok({"MinimumThroughputBillingCommitment": self._commitment(a)})

    # -- waiters and paginators -------------------------------------------------------

    def get_waiter(self, waiter_name: str) -> Waiter:
        """``stream_exists`` or ``stream_not_exists``, as boto3's waiters."""
        if waiter_name not in ("stream_exists", "stream_not_exists"):
            raise ValueError(f"Waiter does not exist: {waiter_name}")
        return Waiter(self, waiter_name)

    @property
    def waiter_names(self) -> list[str]:
        """The waiters this client has."""
        return ["stream_exists", "stream_not_exists"]

    _PAGINATED = {
        "list_streams": ("Limit", "NextToken", "StreamNames"),
        "list_shards": ("MaxResults", "NextToken", "Shards"),
        "list_stream_consumers": ("MaxResults", "NextToken", "Consumers"),
        "list_queues": ("MaxResults", "NextToken", "QueueSummaries"),
        "describe_stream": ("Limit", "ExclusiveStartShardId", "StreamDescription.Shards"),
    }

    def can_paginate(self, operation_name: str) -> bool:
        """True for list_streams, list_shards, list_stream_consumers, list_queues and
        describe_stream."""
        return operation_name in self._PAGINATED

    def get_paginator(self, operation_name: str) -> Paginator:
        """A paginator for list_streams, list_shards, list_stream_consumers, list_queues
        or describe_stream."""
        if operation_name not in self._PAGINATED:
            raise ValueError(f"Operation cannot be paginated: {operation_name}")
        return Paginator(self, operation_name)


class Waiter:
    """Polls until a stream exists or is gone (``client.get_waiter(name)``)."""

    def __init__(self, client: KinesisClient, name: str) -> None:
        """Made by ``KinesisClient.get_waiter``."""
        self._client = client
        self.name = name

    def wait(self, **kwargs: Any) -> None:
        """Waits with boto3's arguments (``StreamName``, ``WaiterConfig={"Delay",
        "MaxAttempts"}``); raises ``WaiterError`` when the attempts run out."""
        config = dict(kwargs.pop("WaiterConfig", {}) or {})
        delay = float(config.get("Delay", 10))
        attempts = int(config.get("MaxAttempts", 18))
        last: Response | None = None
        for attempt in range(max(attempts, 1)):
            try:
                last = self._client.describe_stream(**kwargs)
                if self.name == "stream_exists" and last["StreamDescription"]["StreamStatus"] == "ACTIVE":
                    return
            except ResourceNotFoundException as e:
                last = e.response
                if self.name == "stream_not_exists":
                    return
            if attempt + 1 < attempts:
                time.sleep(delay)
        raise WaiterError(self.name, "Max attempts exceeded", last)


class Paginator:
    """Iterates the pages of a paginated operation (``client.get_paginator(name)``)."""

    def __init__(self, client: KinesisClient, operation_name: str) -> None:
        """Made by ``KinesisClient.get_paginator``."""
        self._client = client
        self._operation = operation_name

    def paginate(self, **kwargs: Any) -> Iterator[Response]:
        """Yields each page (a full response); ``PaginationConfig={"PageSize",
        "MaxItems", "StartingToken"}`` as in boto3."""
        config = dict(kwargs.pop("PaginationConfig", {}) or {})
        size_key, token_key, items_key = KinesisClient._PAGINATED[self._operation]
        if "PageSize" in config:
            kwargs[size_key] = config["PageSize"]
        if config.get("StartingToken") is not None:
            kwargs[token_key] = config["StartingToken"]
        max_items = config.get("MaxItems")
        method = getattr(self._client, self._operation)
        seen = 0
        while True:
            page = method(**kwargs)
            container, _, leaf = items_key.rpartition(".")
            holder = page[container] if container else page
            items = holder[leaf]
            if max_items is not None and seen + len(items) > max_items:
                holder[leaf] = items[: max_items - seen]
            seen += len(holder[leaf])
            yield page
            if max_items is not None and seen >= max_items:
                return
            if self._operation == "describe_stream":
                if not page["StreamDescription"]["HasMoreShards"] or not items:
                    return
                kwargs["ExclusiveStartShardId"] = items[-1]["ShardId"]
            else:
                token = page.get("NextToken")
                if token is None:
                    return
                if self._operation == "list_shards":
                    kwargs = {k: v for k, v in kwargs.items() if k in (size_key,)}
                kwargs[token_key] = token


class EventStream:
    """SubscribeToShard's event stream, as botocore's ``EventStream``: iterate it to
    receive ``{"SubscribeToShardEvent": {"Records": [...], "ContinuationSequenceNumber":
    ..., "MillisBehindLatest": ..., "ChildShards": [...]}}`` as records commit, with an
    event at least every 5 seconds. The iteration ends when the subscription does
    (after 5 minutes, or after a closed shard's last event, which has ChildShards and no
    ContinuationSequenceNumber); subscribe again to go on. An error (another
    SubscribeToShard took over, the consumer was deregistered, a key was refused)
    raises :class:`EventStreamError`. ``close()`` ends it early.
    """

    def __init__(self, native: _tidelog.ShardSubscription, client: KinesisClient) -> None:
        """Made by ``KinesisClient.subscribe_to_shard``."""
        self._native = native
        self._client = client

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            try:
                raw = self._native.next_event(1.0)
            except Error as e:
                raise EventStreamError(
                    {"Error": {"Code": type(e).kinesis_name, "Message": str(e)}}, "SubscribeToShard") from e
            if raw is None:
                if self._native.ended:
                    return
                continue
            event: dict[str, Any] = {
                "Records": [self._client._record(r) for r in raw["records"]],
                "MillisBehindLatest": raw["millis_behind_latest"],
            }
            if raw["continuation_sequence_number"] is not None:
                event["ContinuationSequenceNumber"] = raw["continuation_sequence_number"]
            if raw["child_shards"]:
                event["ChildShards"] = [self._client._child(c) for c in raw["child_shards"]]
            yield {"SubscribeToShardEvent": event}

    def close(self) -> None:
        """Ends the subscription (as closing botocore's stream closes the connection)."""
        self._native.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def client(
    path: str | os.PathLike[str] | Engine,
    *,
    region_name: str | None = None,
    account_id: str | None = None,
    **engine_options: Any,
) -> KinesisClient:
    """A boto3-compatible Kinesis client on a tidelog engine.

    Args:
        path: the data directory to open (with ``engine_options``, as ``tidelog.open``
            takes them), or an open ``tidelog.Engine`` to share (the client then leaves
            closing it to you).
        region_name: the region in ARNs (default ``local``); with an open engine it must
            be the engine's.
        account_id: the account in ARNs (default ``000000000000``); with an open engine
            it must be the engine's.
        **engine_options: ``cores``, ``durability``, ``limits``, ... of ``tidelog.open``.
    """
    if isinstance(path, Engine):
        if engine_options:
            raise TypeError("engine options go with a path, not with an open engine")
        _, region, account = path.native.arn_scope
        for given, engines, what in ((region_name, region, "region_name"), (account_id, account, "account_id")):
            if given is not None and given != engines:
                raise ValueError(f"{what} {given!r} differs from the engine's {engines!r} (set it in tidelog.open)")
        return KinesisClient(path, owns_engine=False)
    engine = _open_engine(path, region=region_name, account_id=account_id, **engine_options)
    return KinesisClient(engine, owns_engine=True)
