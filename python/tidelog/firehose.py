"""Firehose delivery streams on a tidelog engine, from Python.

Two ways in, as for streams:

* the Pythonic API: ``engine.firehose()`` returns a :class:`Firehose` whose methods
  take keyword arguments (``bucket=``, ``prefix=``, ``compression=``, ``transform=`` a
  per-record Python function...) and return plain values;
* a drop-in for boto3's Firehose client: ``tidelog.firehose_client(path)`` has boto3's
  method names, keyword arguments, response dicts and ``client.exceptions``, so code
  written for ``boto3.client("firehose")`` runs in-process unchanged.

Objects land in a directory per bucket under the data directory by default
(``<path>/firehose/buckets/<bucket>/``), or in S3 / any S3-compatible store given with
``stores={"bucket": S3Store(endpoint=...)}``. Transforms are AWS Lambda handlers
(``handler(event, context)``) registered under their function name
(``register_lambda``), or, in the Pythonic API, a function of one record.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Literal

from . import _tidelog
from ._engine import Engine, open as _open_engine
from ._tidelog import FirehoseError
from .kinesis import ClientError, ParamTypeError, ParamValidationError, _request_id

__all__ = [
    "DirectoryStore",
    "Firehose",
    "FirehoseClient",
    "FirehoseError",
    "FirehoseExceptions",
    "LambdaContext",
    "S3Store",
    "firehose_client",
]

Response = dict[str, Any]
_Data = bytes | bytearray | memoryview | str
_FLUSH_TIMEOUT = 60.0


# -- stores --------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryStore:
    """Objects as files under ``root/<bucket>/<key>`` (each appears atomically).

    Attributes:
        root: the directory holding one directory per bucket.
    """

    root: str | os.PathLike[str]

    def _json(self) -> dict[str, Any]:
        return {"type": "directory", "root": os.fspath(self.root)}


@dataclass(frozen=True)
class S3Store:
    """An S3-compatible store (``endpoint=None``: AWS's endpoint of ``region``).

    ``virtual_hosted_style=False`` sends path-style requests (``host/bucket``), what
    local S3-compatible servers want. Objects larger than
    ``multipart_threshold_bytes`` are uploaded in parts of ``multipart_part_bytes``.

    Attributes:
        endpoint: the store's URL (``http://127.0.0.1:9000``), or None for AWS.
        region: the region requests are signed for.
        access_key_id: the access key (None: the environment's credentials).
        secret_access_key: the secret key.
        session_token: a session token, if any.
        virtual_hosted_style: ``bucket.host`` requests instead of ``host/bucket``.
        multipart_threshold_bytes: objects above this size are uploaded in parts.
        multipart_part_bytes: the size of each part (at least 5 MiB).
    """

    endpoint: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    virtual_hosted_style: bool = False
    multipart_threshold_bytes: int = 16 << 20
    multipart_part_bytes: int = 8 << 20

    def _json(self) -> dict[str, Any]:
        return {
            "type": "s3",
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "session_token": self.session_token,
            "virtual_hosted_style": self.virtual_hosted_style,
            "multipart_threshold_bytes": self.multipart_threshold_bytes,
            "multipart_part_bytes": self.multipart_part_bytes,
        }


_Store = DirectoryStore | S3Store


def _stores_json(stores: Mapping[str, _Store] | None, default_store: _Store | None) -> str | None:
    if stores is None and default_store is None:
        return None
    buckets: dict[str, Any] = {}
    for name, store in (stores or {}).items():
        if not isinstance(store, (DirectoryStore, S3Store)):
            raise TypeError(f"stores[{name!r}] must be a DirectoryStore or S3Store, not {type(store).__name__}")
        buckets[name] = store._json()
    if default_store is not None and not isinstance(default_store, (DirectoryStore, S3Store)):
        raise TypeError("default_store must be a DirectoryStore or S3Store")
    return json.dumps({"buckets": buckets, "default": default_store._json() if default_store else None})


# -- transforms ------------------------------------------------------------------------


class LambdaContext:
    """The ``context`` a Lambda handler gets (the fields Firehose handlers use)."""

    def __init__(self, function_name: str, request_id: str, timeout: float) -> None:
        """Made for each invocation."""
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.memory_limit_in_mb = 0
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = request_id
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation times out."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _lambda_adapter(function: str, handler: Callable[..., Any], timeout: float) -> Callable[[str], str]:
    """Wraps a Lambda handler (``handler(event)`` or ``handler(event, context)``) as the
    native JSON callback."""
    try:
        takes_context = len(inspect.signature(handler).parameters) >= 2
    except (TypeError, ValueError):
        takes_context = True

    def call(event_json: str) -> str:
        event = json.loads(event_json)
        if takes_context:
            answer = handler(event, LambdaContext(function, event.get("invocationId", ""), timeout))
        else:
            answer = handler(event)
        return json.dumps(answer)

    return call


def _record_adapter(fn: Callable[[bytes], bytes | str | None]) -> Callable[[Any], Any]:
    """A Lambda handler from a function of one record's data: its bytes (or str) become
    the record (Ok), None drops it, an exception marks it ProcessingFailed."""

    def handler(event: Mapping[str, Any]) -> dict[str, Any]:
        out = []
        for r in event["records"]:
            entry: dict[str, Any] = {"recordId": r["recordId"]}
            try:
                data = fn(base64.b64decode(r["data"]))
            except Exception:  # noqa: BLE001 - the record fails, not the engine
                entry["result"] = "ProcessingFailed"
            else:
                if data is None:
                    entry["result"] = "Dropped"
                else:
                    raw = data.encode() if isinstance(data, str) else bytes(data)
                    entry["result"] = "Ok"
                    entry["data"] = base64.b64encode(raw).decode()
            out.append(entry)
        return {"records": out}

    return handler


# -- the Pythonic API ---------------------------------------------------------------------


def _ms_to_datetime(value: Any) -> Any:
    return datetime.fromtimestamp(float(value), tz=timezone.utc)


def _describe_times(description: dict[str, Any]) -> dict[str, Any]:
    for key in ("CreateTimestamp", "LastUpdateTimestamp"):
        if key in description:
            description[key] = _ms_to_datetime(description[key])
    source = description.get("Source", {}).get("KinesisStreamSourceDescription")
    if source and "DeliveryStartTimestamp" in source:
        source["DeliveryStartTimestamp"] = _ms_to_datetime(source["DeliveryStartTimestamp"])
    return description


class Firehose:
    """Firehose delivery streams on an engine. Made by ``engine.firehose()``.

    Thread-safe. Closing it stops delivery (what is buffered stays in the durable
    buffers and is delivered after the next open); closing the engine closes it too.
    """

    def __init__(self, native: _tidelog.Firehose, engine: Engine) -> None:
        """Wraps the native Firehose (use ``engine.firehose()``)."""
        self._native = native
        self._engine = engine
        self._lock = threading.Lock()
        self._auto_transforms: set[str] = set()

    @property
    def native(self) -> _tidelog.Firehose:
        """The native handle."""
        return self._native

    @property
    def engine(self) -> Engine:
        """The engine it runs on."""
        return self._engine

    def __enter__(self) -> Firehose:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stops delivery (checkpoints are saved); idempotent."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._native.closed

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """Runs a Firehose operation with AWS's request shape (JSON types: blobs in
        base64) and returns AWS's response shape."""
        result: dict[str, Any] = json.loads(self._native.call(operation, json.dumps(request)))
        return result

    # -- transforms ------------------------------------------------------------------

    def register_lambda(self, function: str, handler: Callable[..., Any], *, timeout: float = 60.0) -> None:
        """Registers an AWS Lambda handler (``handler(event, context)`` or
        ``handler(event)``) under its function name: delivery streams whose Lambda
        processor's ``LambdaArn`` names ``function`` call it. ``timeout`` in seconds
        (on the engine's clock)."""
        if not callable(handler):
            raise TypeError("handler must be callable")
        self._native.register_transform(function, _lambda_adapter(function, handler, timeout), timeout)

    def unregister_lambda(self, function: str) -> bool:
        """Removes a registered handler; True if there was one."""
        return self._native.unregister_transform(function)

    # -- delivery streams -------------------------------------------------------------

    def _destination(
        self,
        *,
        bucket: str | None,
        prefix: str | None,
        error_output_prefix: str | None,
        size_mb: int | None,
        interval_s: int | None,
        compression: str | None,
        file_extension: str | None,
        append_newline: bool,
        transform_function: str | None,
        transform_retries: int | None,
        partition_query: str | None,
        backup_bucket: str | None,
        backup_prefix: str | None,
        extra: Mapping[str, Any] | None,
        role_arn: str,
        require_bucket: bool,
    ) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if bucket is not None or require_bucket:
            if not isinstance(bucket, str):
                raise TypeError("bucket must be a str")
            d["BucketARN"] = f"arn:aws:s3:::{bucket}"
            d["RoleARN"] = role_arn
        if prefix is not None:
            d["Prefix"] = prefix
        if error_output_prefix is not None:
            d["ErrorOutputPrefix"] = error_output_prefix
        if size_mb is not None or interval_s is not None:
            d["BufferingHints"] = {"SizeInMBs": 5 if size_mb is None else size_mb,
                                   "IntervalInSeconds": 300 if interval_s is None else interval_s}
        if compression is not None:
            d["CompressionFormat"] = compression
        if file_extension is not None:
            d["FileExtension"] = file_extension
        processors: list[dict[str, Any]] = []
        if transform_function is not None:
            params = [{"ParameterName": "LambdaArn",
                       "ParameterValue": f"arn:aws:lambda:local:000000000000:function:{transform_function}"}]
            if transform_retries is not None:
                params.append({"ParameterName": "NumberOfRetries", "ParameterValue": str(transform_retries)})
            processors.append({"Type": "Lambda", "Parameters": params})
        if partition_query is not None:
            processors.append({"Type": "MetadataExtraction", "Parameters": [
                {"ParameterName": "MetadataExtractionQuery", "ParameterValue": partition_query},
                {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]})
            d["DynamicPartitioningConfiguration"] = {"Enabled": True}
        if append_newline:
            processors.append({"Type": "AppendDelimiterToRecord"})
        if processors:
            d["ProcessingConfiguration"] = {"Enabled": True, "Processors": processors}
        if backup_bucket is not None:
            d["S3BackupMode"] = "Enabled"
            backup: dict[str, Any] = {"RoleARN": role_arn, "BucketARN": f"arn:aws:s3:::{backup_bucket}"}
            if backup_prefix is not None:
                backup["Prefix"] = backup_prefix
            d["S3BackupConfiguration"] = backup
        for key, value in (extra or {}).items():
            d[key] = value
        return d

    def _transform_name(self, name: str, transform: Callable[[bytes], bytes | str | None] | None,
                        timeout: float) -> str | None:
        if transform is None:
            return None
        if not callable(transform):
            raise TypeError("transform must be a function of one record's bytes")
        function = f"tidelog-{name.replace('.', '-')}"
        self._native.register_transform(function, _lambda_adapter(function, _record_adapter(transform), timeout), timeout)
        with self._lock:
            self._auto_transforms.add(function)
        return function

    def create_delivery_stream(
        self,
        name: str,
        *,
        bucket: str,
        prefix: str | None = None,
        error_output_prefix: str | None = None,
        size_mb: int | None = None,
        interval_s: int | None = None,
        compression: Literal["UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY"] | None = None,
        file_extension: str | None = None,
        append_newline: bool = False,
        transform: Callable[[bytes], bytes | str | None] | None = None,
        transform_timeout: float = 60.0,
        transform_retries: int | None = None,
        partition_query: str | None = None,
        backup_bucket: str | None = None,
        backup_prefix: str | None = None,
        source_stream: str | None = None,
        starting_position: Literal["latest", "trim_horizon"] = "latest",
        tags: Mapping[str, str] | None = None,
        destination: Mapping[str, Any] | None = None,
    ) -> str:
        """Creates a delivery stream to S3 bucket ``bucket`` and returns its ARN.

        Args:
            name: 1 to 64 of ``a-z A-Z 0-9 _ . -``.
            bucket: the bucket (a directory, or an S3 bucket given in ``stores``).
            prefix / error_output_prefix: key prefixes, with ``!{...}`` expressions.
            size_mb / interval_s: buffering hints (defaults 5 MB / 300 s).
            compression: UNCOMPRESSED (default), GZIP, ZIP, Snappy, HADOOP_SNAPPY.
            append_newline: AppendDelimiterToRecord (records end with a newline).
            transform: a function of one record's bytes returning its new bytes (or
                str), None to drop it, or raising to mark it ProcessingFailed.
            partition_query: dynamic partitioning's jq query (``{key: .path}``), its
                keys used in ``prefix`` as ``!{partitionKeyFromQuery:key}``.
            backup_bucket / backup_prefix: also write the source records there.
            source_stream: read this tidelog stream instead of taking puts.
            starting_position: where a source stream is read from.
            tags: tags.
            destination: more ExtendedS3DestinationConfiguration fields, as AWS names
                them (they win over the keyword arguments).
        """
        region = "local"
        role = "arn:aws:iam::000000000000:role/tidelog"
        function = self._transform_name(name, transform, transform_timeout)
        dest = self._destination(
            bucket=bucket, prefix=prefix, error_output_prefix=error_output_prefix, size_mb=size_mb,
            interval_s=interval_s, compression=compression, file_extension=file_extension,
            append_newline=append_newline, transform_function=function, transform_retries=transform_retries,
            partition_query=partition_query, backup_bucket=backup_bucket, backup_prefix=backup_prefix,
            extra=destination, role_arn=role, require_bucket=True,
        )
        request: dict[str, Any] = {"DeliveryStreamName": name, "ExtendedS3DestinationConfiguration": dest}
        if source_stream is not None:
            if starting_position not in ("latest", "trim_horizon"):
                raise ValueError("starting_position must be 'latest' or 'trim_horizon'")
            request["DeliveryStreamType"] = "KinesisStreamAsSource"
            request["KinesisStreamSourceConfiguration"] = {
                "KinesisStreamARN": f"arn:aws:kinesis:{region}:000000000000:stream/{source_stream}",
                "RoleARN": role,
                "StartingPosition": starting_position.upper(),
            }
        if tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        arn: str = self.call("CreateDeliveryStream", request)["DeliveryStreamARN"]
        return arn

    def update_destination(
        self,
        name: str,
        *,
        bucket: str | None = None,
        prefix: str | None = None,
        error_output_prefix: str | None = None,
        size_mb: int | None = None,
        interval_s: int | None = None,
        compression: Literal["UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY"] | None = None,
        file_extension: str | None = None,
        destination: Mapping[str, Any] | None = None,
    ) -> str:
        """Changes the destination (only what is given) and returns the new VersionId.
        Records buffered before are delivered under the old configuration."""
        version = self.describe_delivery_stream(name)["VersionId"]
        dest = self._destination(
            bucket=bucket, prefix=prefix, error_output_prefix=error_output_prefix, size_mb=size_mb,
            interval_s=interval_s, compression=compression, file_extension=file_extension,
            append_newline=False, transform_function=None, transform_retries=None, partition_query=None,
            backup_bucket=None, backup_prefix=None, extra=destination,
            role_arn="arn:aws:iam::000000000000:role/tidelog", require_bucket=False,
        )
        self.call("UpdateDestination", {
            "DeliveryStreamName": name, "CurrentDeliveryStreamVersionId": version,
            "DestinationId": "destinationId-000000000001", "ExtendedS3DestinationUpdate": dest})
        new_version: str = self.describe_delivery_stream(name)["VersionId"]
        return new_version

    def delete_delivery_stream(self, name: str) -> None:
        """Deletes a delivery stream (undelivered records are discarded, as AWS does)."""
        self.call("DeleteDeliveryStream", {"DeliveryStreamName": name})
        function = f"tidelog-{name.replace('.', '-')}"
        with self._lock:
            if function in self._auto_transforms:
                self._auto_transforms.discard(function)
                self._native.unregister_transform(function)

    def describe_delivery_stream(self, name: str) -> dict[str, Any]:
        """AWS's DeliveryStreamDescription (timestamps as UTC datetimes)."""
        out = self.call("DescribeDeliveryStream", {"DeliveryStreamName": name})
        return _describe_times(out["DeliveryStreamDescription"])

    def list_delivery_streams(self) -> list[str]:
        """Every delivery stream's name, in order."""
        names: list[str] = []
        start: str | None = None
        while True:
            request: dict[str, Any] = {"Limit": 10000}
            if start is not None:
                request["ExclusiveStartDeliveryStreamName"] = start
            page = self.call("ListDeliveryStreams", request)
            names.extend(page["DeliveryStreamNames"])
            if not page["HasMoreDeliveryStreams"] or not page["DeliveryStreamNames"]:
                return names
            start = names[-1]

    def put_record(self, name: str, data: _Data) -> str:
        """Puts one record (durable when this returns); returns its record id."""
        record_id, _ = self._native.put_record(name, data)
        return record_id

    def put_record_batch(self, name: str, records: Iterable[_Data]) -> list[str | FirehoseError]:
        """Puts 1 to 500 records (4 MiB in all). Returns one item per record, in order:
        its record id, or the ``FirehoseError`` it failed with (beyond the ingest
        quota a record fails alone)."""
        if isinstance(records, (str, bytes)):
            raise TypeError("records must be an iterable of bytes or str, not a single record")
        batch = list(records)
        _, _, entries = self._native.put_record_batch(name, batch)
        out: list[str | FirehoseError] = []
        for record_id, code, message in entries:
            if record_id is not None:
                out.append(record_id)
            else:
                err = FirehoseError(message)
                err.code = code or "InternalFailureException"
                err.status = 503 if code == "ServiceUnavailableException" else 500
                out.append(err)
        return out

    def flush(self, name: str | None = None, *, timeout: float = _FLUSH_TIMEOUT) -> None:
        """Delivers what a delivery stream (every one, for None) holds now, whatever the
        buffering hints; waits up to ``timeout`` seconds. Raises ``FirehoseError`` if a
        write failed (delivery keeps retrying)."""
        self._native.flush(name, timeout)

    def wake(self) -> None:
        """Wakes every delivery worker (after moving a ``tidelog.testing.ManualClock``)."""
        self._native.wake()

    def metrics(self, name: str) -> dict[str, Any]:
        """A delivery stream's metrics, Firehose's names in snake case
        (``delivery_to_s3_records``, ``delivery_to_s3_data_freshness_ms``...)."""
        return dict(self._native.metrics(name))

    def metrics_openmetrics(self) -> str:
        """The engine's OpenMetrics text with Firehose's families."""
        return self._native.metrics_openmetrics()

    def bucket_directory(self, bucket: str) -> str | None:
        """Where a bucket of the directory store lives (None for S3 buckets)."""
        path = self._native.bucket_directory(bucket)
        return None if path is None else os.fspath(path)


def open_firehose(
    engine: Engine,
    *,
    stores: Mapping[str, _Store] | None = None,
    default_store: _Store | None = None,
    region: str | None = None,
    account_id: str | None = None,
    ingest_limits: Literal["aws", "unlimited"] = "aws",
    tick_ms: int | None = None,
    kinesis_poll_interval_ms: int | None = None,
    lambdas: Mapping[str, Callable[..., Any]] | None = None,
    lambda_timeout: float = 60.0,
) -> Firehose:
    """Opens Firehose on an engine (``engine.firehose()`` calls this once per engine)."""
    native = _tidelog.Firehose.open(
        engine.native,
        region=region,
        account_id=account_id,
        stores=_stores_json(stores, default_store),
        ingest_limits=ingest_limits,
        tick_ms=tick_ms,
        kinesis_poll_interval_ms=kinesis_poll_interval_ms,
    )
    firehose = Firehose(native, engine)
    for function, handler in (lambdas or {}).items():
        firehose.register_lambda(function, handler, timeout=lambda_timeout)
    return firehose


# -- the boto3-compatible client ----------------------------------------------------------


class ResourceNotFoundException(ClientError):
    """Firehose ResourceNotFoundException: no delivery stream of that name."""


class ResourceInUseException(ClientError):
    """Firehose ResourceInUseException: the delivery stream exists, or is busy."""


class InvalidArgumentException(ClientError):
    """Firehose InvalidArgumentException: a parameter is not valid."""


class LimitExceededException(ClientError):
    """Firehose LimitExceededException: a quota would be exceeded."""


class ConcurrentModificationException(ClientError):
    """Firehose ConcurrentModificationException: the version given is not the current one."""


class InvalidKMSResourceException(ClientError):
    """Firehose InvalidKMSResourceException: the KMS key cannot be used."""


class InvalidSourceException(ClientError):
    """Firehose InvalidSourceException: the source cannot be read."""


class ServiceUnavailableException(ClientError):
    """Firehose ServiceUnavailableException: the ingest quota was reached; retry."""


class InternalFailureException(ClientError):
    """The engine failed (I/O, a closed engine)."""


_ERROR_CLASSES: dict[str, type[ClientError]] = {
    cls.__name__: cls
    for cls in (
        ResourceNotFoundException,
        ResourceInUseException,
        InvalidArgumentException,
        LimitExceededException,
        ConcurrentModificationException,
        InvalidKMSResourceException,
        InvalidSourceException,
        ServiceUnavailableException,
        InternalFailureException,
    )
}

_ClientError = ClientError


class FirehoseExceptions:
    """``client.exceptions``: the error classes by their Firehose names."""

    ClientError = ClientError
    ResourceNotFoundException = ResourceNotFoundException
    ResourceInUseException = ResourceInUseException
    InvalidArgumentException = InvalidArgumentException
    LimitExceededException = LimitExceededException
    ConcurrentModificationException = ConcurrentModificationException
    InvalidKMSResourceException = InvalidKMSResourceException
    InvalidSourceException = InvalidSourceException
    ServiceUnavailableException = ServiceUnavailableException
    InternalFailureException = InternalFailureException

    def from_code(self, code: str) -> type[_ClientError]:
        """The class of an error code (``ClientError`` for unknown codes)."""
        return _ERROR_CLASSES.get(code, ClientError)


def _metadata(status: int = 200) -> dict[str, Any]:
    request_id = _request_id()
    return {
        "RequestId": request_id,
        "HTTPStatusCode": status,
        "HTTPHeaders": {"x-amzn-requestid": request_id},
        "RetryAttempts": 0,
    }


def _client_error(code: str, message: str, status: int, operation: str) -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": _metadata(status)}
    return _ERROR_CLASSES.get(code, ClientError)(response, operation)


_STR = (str,)
_INT = (int,)
_BOOL = (bool,)
_DICT = (dict,)
_LIST = (list, tuple)

# Top-level parameters of each operation: (required, optional), with their types.
_PARAMS: dict[str, tuple[dict[str, tuple[type, ...]], dict[str, tuple[type, ...]]]] = {
    "CreateDeliveryStream": ({"DeliveryStreamName": _STR}, {
        "DeliveryStreamType": _STR, "DirectPutSourceConfiguration": _DICT,
        "KinesisStreamSourceConfiguration": _DICT, "DeliveryStreamEncryptionConfigurationInput": _DICT,
        "S3DestinationConfiguration": _DICT, "ExtendedS3DestinationConfiguration": _DICT,
        "RedshiftDestinationConfiguration": _DICT, "ElasticsearchDestinationConfiguration": _DICT,
        "AmazonopensearchserviceDestinationConfiguration": _DICT, "SplunkDestinationConfiguration": _DICT,
        "HttpEndpointDestinationConfiguration": _DICT, "Tags": _LIST,
        "AmazonOpenSearchServerlessDestinationConfiguration": _DICT, "MSKSourceConfiguration": _DICT,
        "SnowflakeDestinationConfiguration": _DICT, "IcebergDestinationConfiguration": _DICT,
        "DatabaseSourceConfiguration": _DICT}),
    "DeleteDeliveryStream": ({"DeliveryStreamName": _STR}, {"AllowForceDelete": _BOOL}),
    "DescribeDeliveryStream": ({"DeliveryStreamName": _STR}, {"Limit": _INT, "ExclusiveStartDestinationId": _STR}),
    "ListDeliveryStreams": ({}, {"Limit": _INT, "DeliveryStreamType": _STR, "ExclusiveStartDeliveryStreamName": _STR}),
    "PutRecord": ({"DeliveryStreamName": _STR, "Record": _DICT}, {}),
    "PutRecordBatch": ({"DeliveryStreamName": _STR, "Records": _LIST}, {}),
    "UpdateDestination": ({"DeliveryStreamName": _STR, "CurrentDeliveryStreamVersionId": _STR, "DestinationId": _STR}, {
        "S3DestinationUpdate": _DICT, "ExtendedS3DestinationUpdate": _DICT, "RedshiftDestinationUpdate": _DICT,
        "ElasticsearchDestinationUpdate": _DICT, "AmazonopensearchserviceDestinationUpdate": _DICT,
        "SplunkDestinationUpdate": _DICT, "HttpEndpointDestinationUpdate": _DICT,
        "AmazonOpenSearchServerlessDestinationUpdate": _DICT, "SnowflakeDestinationUpdate": _DICT,
        "IcebergDestinationUpdate": _DICT}),
    "TagDeliveryStream": ({"DeliveryStreamName": _STR, "Tags": _LIST}, {}),
    "UntagDeliveryStream": ({"DeliveryStreamName": _STR, "TagKeys": _LIST}, {}),
    "ListTagsForDeliveryStream": ({"DeliveryStreamName": _STR}, {"ExclusiveStartTagKey": _STR, "Limit": _INT}),
    "StartDeliveryStreamEncryption": ({"DeliveryStreamName": _STR}, {"DeliveryStreamEncryptionConfigurationInput": _DICT}),
    "StopDeliveryStreamEncryption": ({"DeliveryStreamName": _STR}, {}),
}

# The model's minimums botocore checks before sending.
_MIN = {"DeliveryStreamName": 1, "Limit": 1, "CurrentDeliveryStreamVersionId": 1, "DestinationId": 1,
        "Records": 1, "Tags": 1, "TagKeys": 1, "ExclusiveStartDeliveryStreamName": 1}


def _check(operation: str, kwargs: Mapping[str, Any]) -> None:
    required, optional = _PARAMS[operation]
    missing = [n for n in required if n not in kwargs]
    if missing:
        raise ParamValidationError(
            "Parameter validation failed:\n"
            + "\n".join(f'Missing required parameter in input: "{n}"' for n in missing))
    allowed = {**required, **optional}
    unknown = [n for n in kwargs if n not in allowed]
    if unknown:
        valid = ", ".join(allowed)
        raise ParamValidationError(
            "Parameter validation failed:\n"
            + "\n".join(f'Unknown parameter in input: "{n}", must be one of: {valid}' for n in unknown))
    for name, value in kwargs.items():
        types = allowed[name]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ParamTypeError(
                f"Parameter validation failed:\nInvalid type for parameter {name}, value: {value!r}, "
                f"type: {type(value)}, valid types: {', '.join(str(t) for t in types)}")
        minimum = _MIN.get(name)
        if minimum is None:
            continue
        size = value if isinstance(value, int) else len(value) if isinstance(value, (str, list, tuple)) else minimum
        if size < minimum:
            kind = "value" if isinstance(value, int) else "length"
            raise ParamValidationError(
                f"Parameter validation failed:\nInvalid {kind} for parameter {name}, value: {size}, "
                f"valid min {kind}: {minimum}")


def _blob(value: Any, name: str) -> bytes | bytearray | memoryview | str:
    if isinstance(value, (bytes, bytearray, memoryview, str)):
        return value
    read = getattr(value, "read", None)
    if callable(read):
        data = read()
        if isinstance(data, (bytes, bytearray, str)):
            return data
    raise ParamTypeError(
        f"Parameter validation failed:\nInvalid type for parameter {name}, value: {value!r}, "
        f"type: {type(value)}, valid types: <class 'bytes'>, <class 'bytearray'>, file-like object")


def _record_data(record: Any, name: str) -> bytes | bytearray | memoryview | str:
    if not isinstance(record, dict):
        raise ParamTypeError(f"Parameter validation failed:\nInvalid type for parameter {name}, value: {record!r}")
    unknown = [k for k in record if k != "Data"]
    if unknown:
        raise ParamValidationError(
            f'Parameter validation failed:\nUnknown parameter in {name}: "{unknown[0]}", must be one of: Data')
    if "Data" not in record:
        raise ParamValidationError(f'Parameter validation failed:\nMissing required parameter in {name}: "Data"')
    return _blob(record["Data"], f"{name}.Data")


class FirehoseClient:
    """boto3's Firehose client, in-process: same method names, keyword arguments and
    response shapes. Made by ``tidelog.firehose_client``. Thread-safe.

    Attributes:
        exceptions: the error classes by Firehose name, as in boto3.
    """

    def __init__(self, firehose: Firehose, *, owns_engine: bool) -> None:
        """Wraps a Firehose (``tidelog.firehose_client`` makes clients)."""
        self._firehose = firehose
        self._owns_engine = owns_engine
        self.exceptions = FirehoseExceptions()

    @property
    def firehose(self) -> Firehose:
        """The Pythonic Firehose underneath (for ``flush``, ``register_lambda``...)."""
        return self._firehose

    @property
    def engine(self) -> Engine:
        """The engine it runs on."""
        return self._firehose.engine

    def close(self) -> None:
        """Closes the engine if the client opened it (idempotent)."""
        if self._owns_engine:
            self._firehose.engine.close()

    def can_paginate(self, operation_name: str) -> bool:
        """Firehose has no paginators (callers page with the HasMore flags)."""
        return False

    def _ok(self, body: Mapping[str, Any] | None = None) -> Response:
        out: Response = dict(body or {})
        out["ResponseMetadata"] = _metadata()
        return out

    def _run(self, operation: str, kwargs: Mapping[str, Any]) -> Response:
        _check(operation, kwargs)
        try:
            result = self._firehose.call(operation, kwargs)
        except FirehoseError as e:
            raise _client_error(getattr(e, "code", "InternalFailureException"), str(e),
                                getattr(e, "status", 500), operation) from e
        return self._ok(result)

    def create_delivery_stream(self, **kwargs: Any) -> Response:
        """CreateDeliveryStream."""
        return self._run("CreateDeliveryStream", kwargs)

    def delete_delivery_stream(self, **kwargs: Any) -> Response:
        """DeleteDeliveryStream."""
        return self._run("DeleteDeliveryStream", kwargs)

    def describe_delivery_stream(self, **kwargs: Any) -> Response:
        """DescribeDeliveryStream (timestamps as UTC datetimes, as botocore parses them)."""
        out = self._run("DescribeDeliveryStream", kwargs)
        _describe_times(out["DeliveryStreamDescription"])
        return out

    def list_delivery_streams(self, **kwargs: Any) -> Response:
        """ListDeliveryStreams."""
        return self._run("ListDeliveryStreams", kwargs)

    def update_destination(self, **kwargs: Any) -> Response:
        """UpdateDestination."""
        return self._run("UpdateDestination", kwargs)

    def tag_delivery_stream(self, **kwargs: Any) -> Response:
        """TagDeliveryStream."""
        return self._run("TagDeliveryStream", kwargs)

    def untag_delivery_stream(self, **kwargs: Any) -> Response:
        """UntagDeliveryStream."""
        return self._run("UntagDeliveryStream", kwargs)

    def list_tags_for_delivery_stream(self, **kwargs: Any) -> Response:
        """ListTagsForDeliveryStream."""
        return self._run("ListTagsForDeliveryStream", kwargs)

    def start_delivery_stream_encryption(self, **kwargs: Any) -> Response:
        """StartDeliveryStreamEncryption."""
        return self._run("StartDeliveryStreamEncryption", kwargs)

    def stop_delivery_stream_encryption(self, **kwargs: Any) -> Response:
        """StopDeliveryStreamEncryption."""
        return self._run("StopDeliveryStreamEncryption", kwargs)

    def put_record(self, **kwargs: Any) -> Response:
        """PutRecord: ``Record={"Data": bytes}``."""
        _check("PutRecord", kwargs)
        data = _record_data(kwargs["Record"], "Record")
        try:
            record_id, encrypted = self._firehose.native.put_record(kwargs["DeliveryStreamName"], data)
        except FirehoseError as e:
            raise _client_error(getattr(e, "code", "InternalFailureException"), str(e),
                                getattr(e, "status", 500), "PutRecord") from e
        return self._ok({"RecordId": record_id, "Encrypted": encrypted})

    def put_record_batch(self, **kwargs: Any) -> Response:
        """PutRecordBatch: ``Records=[{"Data": bytes}, ...]``; per-record results in
        request order, and FailedPutCount."""
        _check("PutRecordBatch", kwargs)
        blobs = [_record_data(r, f"Records[{i}]") for i, r in enumerate(kwargs["Records"])]
        try:
            failed, encrypted, entries = self._firehose.native.put_record_batch(kwargs["DeliveryStreamName"], blobs)
        except FirehoseError as e:
            raise _client_error(getattr(e, "code", "InternalFailureException"), str(e),
                                getattr(e, "status", 500), "PutRecordBatch") from e
        responses = [
            {"RecordId": rid} if rid is not None else {"ErrorCode": code, "ErrorMessage": message}
            for rid, code, message in entries
        ]
        return self._ok({"FailedPutCount": failed, "Encrypted": encrypted, "RequestResponses": responses})


def firehose_client(
    path: str | os.PathLike[str] | Engine,
    *,
    stores: Mapping[str, _Store] | None = None,
    default_store: _Store | None = None,
    lambdas: Mapping[str, Callable[..., Any]] | None = None,
    region_name: str = "local",
    account_id: str = "000000000000",
    **engine_options: Any,
) -> FirehoseClient:
    """A boto3-compatible Firehose client on a tidelog engine (was:
    ``boto3.client("firehose")``).

    Args:
        path: the data directory to open (with ``engine_options`` as ``tidelog.open``
            takes them), or an open ``tidelog.Engine`` to share.
        stores: where buckets live: ``{"bucket": S3Store(endpoint=...)}``; others are
            directories under the data directory (``default_store`` changes that).
        lambdas: Lambda handlers by function name, for Lambda processors.
        region_name / account_id: shown in ARNs.
    """
    if isinstance(path, Engine):
        if engine_options:
            raise TypeError("engine options go with a path, not with an open engine")
        engine, owns = path, False
    else:
        engine, owns = _open_engine(path, **engine_options), True
    firehose = engine.firehose(stores=stores, default_store=default_store, region=region_name,
                               account_id=account_id)
    for function, handler in (lambdas or {}).items():
        firehose.register_lambda(function, handler)
    return FirehoseClient(firehose, owns_engine=owns)

