"""Times given by callers, as the milliseconds since the Unix epoch the engine takes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def to_ms(value: object, what: str, *, naive_is_utc: bool = False) -> int:
    """Milliseconds since the epoch of a ``datetime`` or of a number of seconds.

    A naive ``datetime`` is refused (``ValueError``) unless ``naive_is_utc`` (botocore's
    rule, used by the boto3-compatible client); other types raise ``TypeError``.
    """
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a datetime or a number of seconds, not bool")
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            if not naive_is_utc:
                raise ValueError(
                    f"{what} must be timezone-aware (e.g. datetime.now(timezone.utc)), "
                    f"not the naive {value!r}"
                )
            value = value.replace(tzinfo=timezone.utc)
        ms = (value - _EPOCH) // _MS
    elif isinstance(value, int):
        ms = value * 1000
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{what} must be a finite number of seconds, not {value}")
        ms = int(value * 1000)
    else:
        raise TypeError(
            f"{what} must be a datetime or a number of seconds since the epoch, "
            f"not {type(value).__name__}"
        )
    if ms < 0:
        raise ValueError(f"{what} is before 1970-01-01 (the Unix epoch)")
    return ms
