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

What differs from AWS: streams are PROVISIONED (``ON_DEMAND`` is refused); ARNs are
``arn:aws:kinesis:<region_name>:<account_id>:stream/<name>`` with the client's
``region_name`` (default ``local``) and ``account_id`` (default ``000000000000``);
``ListShards``' ``FROM_TIMESTAMP`` filter is not supported.
"""

from __future__ import annotations

import base64
import binascii
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

    def from_code(self, code: str) -> type[_ClientError]:
        """The class of an error code (``ClientError`` for unknown codes), as botocore."""
        return _ERROR_CLASSES.get(code, ClientError)


def _metadata(status: int = 200) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
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
}
_BLOB = (bytes, bytearray, memoryview, str)
_TIME = (datetime, int, float, str)
_DICT = (dict,)
_LIST = (list, tuple)
_STREAM = {"StreamName": _STR, "StreamARN": _STR}


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
        if isinstance(value, str) and len(value) < minimum:
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

    def __init__(self, engine: Engine, *, owns_engine: bool, region_name: str = "local",
                 account_id: str = "000000000000") -> None:
        """Wraps an engine (``tidelog.client`` makes clients)."""
        self._engine = engine
        self._native = engine.native
        self._owns_engine = owns_engine
        self._region = region_name
        self._account = account_id
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
        return f"arn:aws:kinesis:{self._region}:{self._account}:stream/{name}"

    def _stream(self, kwargs: Mapping[str, Any], operation: str) -> str:
        """The stream a call names, by StreamName or StreamARN (or both, if they agree)."""
        name = kwargs.get("StreamName")
        arn = kwargs.get("StreamARN")
        from_arn = None
        if arn is not None:
            parts = arn.split(":", 5)
            if len(parts) != 6 or parts[0] != "arn" or parts[2] != "kinesis" or not parts[5].startswith("stream/"):
                raise _client_error("ValidationException", f"{arn!r} is not a Kinesis stream ARN", operation)
            from_arn = parts[5][len("stream/"):]
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

    # -- streams ----------------------------------------------------------------------

    def create_stream(self, **kwargs: Any) -> Response:
        """CreateStream(StreamName, ShardCount, StreamModeDetails=None, Tags=None)."""
        op = "CreateStream"
        _check(kwargs, {"StreamName": _STR}, {"ShardCount": _INT, "StreamModeDetails": _DICT, "Tags": _DICT})
        mode = kwargs.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
        if mode != "PROVISIONED":
            raise _client_error("InvalidArgumentException",
                                f"StreamMode {mode} is not supported (tidelog streams are PROVISIONED)", op)
        if "ShardCount" not in kwargs:
            raise _client_error("ValidationException", "ShardCount is required for a PROVISIONED stream", op)
        name = kwargs["StreamName"]
        self._call(op, lambda: self._native.create_stream(name, kwargs["ShardCount"]))
        if kwargs.get("Tags"):
            self._call(op, lambda: self._native.add_tags_to_stream(name, kwargs["Tags"]))
        return self._ok()

    def delete_stream(self, **kwargs: Any) -> Response:
        """DeleteStream(StreamName | StreamARN, EnforceConsumerDeletion=None)."""
        op = "DeleteStream"
        _check(kwargs, {}, {**_STREAM, "EnforceConsumerDeletion": (bool,)})
        name = self._stream(kwargs, op)
        self._call(op, lambda: self._native.delete_stream(name))
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
        return self._ok({
            "StreamDescription": {
                "StreamName": d["name"],
                "StreamARN": self._arn(d["name"]),
                "StreamStatus": d["status"],
                "StreamModeDetails": {"StreamMode": "PROVISIONED"},
                "Shards": [self._shard(s) for s in page],
                "HasMoreShards": len(shards) > limit,
                "RetentionPeriodHours": d["retention_hours"],
                "StreamCreationTimestamp": d["created"],
                "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
                "EncryptionType": "NONE",
            }
        })

    def describe_stream_summary(self, **kwargs: Any) -> Response:
        """DescribeStreamSummary(StreamName | StreamARN)."""
        op = "DescribeStreamSummary"
        _check(kwargs, {}, _STREAM)
        name = self._stream(kwargs, op)
        s = self._call(op, lambda: self._native.describe_stream_summary(name))
        return self._ok({
            "StreamDescriptionSummary": {
                "StreamName": s["name"],
                "StreamARN": self._arn(s["name"]),
                "StreamStatus": s["status"],
                "StreamModeDetails": {"StreamMode": "PROVISIONED"},
                "RetentionPeriodHours": s["retention_hours"],
                "StreamCreationTimestamp": s["created"],
                "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
                "EncryptionType": "NONE",
                "OpenShardCount": s["open_shard_count"],
                "ConsumerCount": s["consumer_count"],
            }
        })

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
                "StreamARN": self._arn(name),
                "StreamStatus": s["status"],
                "StreamModeDetails": {"StreamMode": "PROVISIONED"},
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
        elif kind == "FROM_TIMESTAMP":
            raise _client_error("InvalidArgumentException", "ShardFilter FROM_TIMESTAMP is not supported by tidelog", op)
        elif kind == "AT_TIMESTAMP":
            if "Timestamp" not in shard_filter:
                raise _client_error("InvalidArgumentException", "AT_TIMESTAMP needs a Timestamp", op)
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
               {**_STREAM, "ExplicitHashKey": _STR, "SequenceNumberForOrdering": _STR})
        name = self._stream(kwargs, op)
        data = _blob(kwargs["Data"])
        shard_id, seq = self._call(op, lambda: self._native.put_record(
            name, kwargs["PartitionKey"], data, kwargs.get("ExplicitHashKey"),
            kwargs.get("SequenceNumberForOrdering"), None))
        return self._ok({"ShardId": shard_id, "SequenceNumber": seq, "EncryptionType": "NONE"})

    def put_records(self, **kwargs: Any) -> Response:
        """PutRecords(StreamName | StreamARN, Records=[{Data, PartitionKey,
        ExplicitHashKey}]): each entry succeeds or fails on its own."""
        op = "PutRecords"
        _check(kwargs, {"Records": _LIST}, _STREAM)
        name = self._stream(kwargs, op)
        entries = []
        for i, entry in enumerate(kwargs["Records"]):
            if not isinstance(entry, dict):
                raise ParamTypeError(
                    f"Parameter validation failed:\nInvalid type for parameter Records[{i}], "
                    f"value: {entry!r}, type: {type(entry)}, valid types: <class 'dict'>")
            _check(entry, {"Data": _BLOB, "PartitionKey": _STR}, {"ExplicitHashKey": _STR})
            entries.append((entry["PartitionKey"], _blob(entry["Data"]), entry.get("ExplicitHashKey")))
        results = self._call(op, lambda: self._native.put_records(name, entries, None))
        records = []
        for result in results:
            if isinstance(result, Error):
                records.append({"ErrorCode": type(result).kinesis_name, "ErrorMessage": str(result)})
            else:
                records.append({"SequenceNumber": result[1], "ShardId": result[0]})
        failed = sum(1 for r in records if "ErrorCode" in r)
        return self._ok({"FailedRecordCount": failed, "Records": records, "EncryptionType": "NONE"})

    # -- reads ------------------------------------------------------------------------

    _ITERATOR_TYPES = ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")

    def get_shard_iterator(self, **kwargs: Any) -> Response:
        """GetShardIterator(StreamName | StreamARN, ShardId, ShardIteratorType,
        StartingSequenceNumber=None, Timestamp=None)."""
        op = "GetShardIterator"
        _check(kwargs, {"ShardId": _STR, "ShardIteratorType": _STR},
               {**_STREAM, "StartingSequenceNumber": _STR, "Timestamp": _TIME})
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
        return self._ok({"ShardIterator": iterator})

    def get_records(self, **kwargs: Any) -> Response:
        """GetRecords(ShardIterator, Limit=None): Records (Data as bytes),
        NextShardIterator, MillisBehindLatest, and ChildShards at the end of a closed
        shard."""
        op = "GetRecords"
        _check(kwargs, {"ShardIterator": _STR}, {"Limit": _INT, "StreamARN": _STR})
        batch = self._call(op, lambda: self._native.get_records(kwargs["ShardIterator"], kwargs.get("Limit")))
        records = [
            {
                "SequenceNumber": r.sequence_number,
                "ApproximateArrivalTimestamp": r.arrival_time,
                "Data": bytes(r.data),
                "PartitionKey": r.partition_key,
            }
            for r in batch
        ]
        body: Response = {"Records": records}
        if batch.next_iterator is not None:
            body["NextShardIterator"] = batch.next_iterator
        body["MillisBehindLatest"] = batch.millis_behind_latest
        if batch.next_iterator is None:
            body["ChildShards"] = [self._child(c) for c in batch.child_shards]
        return self._ok(body)

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
        "describe_stream": ("Limit", "ExclusiveStartShardId", "StreamDescription.Shards"),
    }

    def can_paginate(self, operation_name: str) -> bool:
        """True for list_streams, list_shards and describe_stream."""
        return operation_name in self._PAGINATED

    def get_paginator(self, operation_name: str) -> Paginator:
        """A paginator for list_streams, list_shards or describe_stream."""
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


def client(
    path: str | os.PathLike[str] | Engine,
    *,
    region_name: str = "local",
    account_id: str = "000000000000",
    **engine_options: Any,
) -> KinesisClient:
    """A boto3-compatible Kinesis client on a tidelog engine.

    Args:
        path: the data directory to open (with ``engine_options``, as ``tidelog.open``
            takes them), or an open ``tidelog.Engine`` to share (the client then leaves
            closing it to you).
        region_name: the region shown in ARNs.
        account_id: the account shown in ARNs.
        **engine_options: ``cores``, ``durability``, ``limits``, ... of ``tidelog.open``.
    """
    if isinstance(path, Engine):
        if engine_options:
            raise TypeError("engine options go with a path, not with an open engine")
        return KinesisClient(path, owns_engine=False, region_name=region_name, account_id=account_id)
    engine = _open_engine(path, **engine_options)
    return KinesisClient(engine, owns_engine=True, region_name=region_name, account_id=account_id)
