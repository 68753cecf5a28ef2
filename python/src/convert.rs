//! Conversions between Python values and the engine's argument and result types.
//!
//! Invariants: a value of the wrong Python type raises `TypeError` naming the argument
//! and the types it accepts; a value of the right type the binding itself can tell is
//! wrong (an unknown durability or iterator type, a negative timeout) raises
//! `ValueError`; everything the engine checks (names, sizes, hash keys, sequence
//! numbers) is left to the engine, so its error classes and messages are the same from
//! Rust, C and Python. Payloads are borrowed from immutable `bytes`/`str` objects (no
//! copy before the engine's own) and copied from mutable buffers, which another thread
//! could change while the GIL is released.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::time::Duration;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyInt, PyString};
use tidelog::error::Validation;
use tidelog::stream::sequence::parse_sequence_number;
use tidelog::{Durability, Limits, StartingPosition};

use crate::errors::to_py;

/// The bytes of a record's data: `bytes` and `str` are borrowed, other buffers copied.
pub(crate) fn payload<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    payload_named(obj, || what.to_string())
}

/// [`payload`], naming the argument only when it is wrong (a batch's entries would
/// otherwise format a name per record for nothing).
pub(crate) fn payload_named<'a>(
    obj: &'a Bound<'_, PyAny>,
    what: impl FnOnce() -> String,
) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(bytes.as_bytes()));
    }
    if let Ok(text) = obj.cast::<PyString>() {
        return Ok(Cow::Borrowed(text.to_str()?.as_bytes()));
    }
    match PyBuffer::<u8>::get(obj) {
        Ok(buffer) => Ok(Cow::Owned(buffer.to_vec(obj.py())?)),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{} must be bytes, bytearray, memoryview (of bytes) or str, not {}",
            what(),
            type_name(obj)
        ))),
    }
}

/// A `str` argument, or a `TypeError` naming it.
pub(crate) fn text<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<&'a str> {
    text_named(obj, || what.to_string())
}

/// [`text`], naming the argument only when it is wrong.
pub(crate) fn text_named<'a>(
    obj: &'a Bound<'_, PyAny>,
    what: impl FnOnce() -> String,
) -> PyResult<&'a str> {
    match obj.cast::<PyString>() {
        Ok(s) => s.to_str(),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{} must be str, not {}",
            what(),
            type_name(obj)
        ))),
    }
}

/// A decimal number given as `str` or `int` (hash keys, sequence numbers), as text for
/// the engine to check.
pub(crate) fn decimal_text(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    if obj.is_instance_of::<PyInt>() && !is_bool(obj) {
        return Ok(obj.str()?.to_str()?.to_owned());
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be a decimal str or an int, not {}",
        type_name(obj)
    )))
}

/// A sequence number (decimal `str` or `int`), checked like the engine checks it.
pub(crate) fn sequence_number(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u128> {
    let text = decimal_text(obj, what)?;
    parse_sequence_number(&text).ok_or_else(|| to_py(Validation::SequenceNumber(text).into()))
}

fn is_bool(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<pyo3::types::PyBool>()
}

/// The Python type name of `obj`, for messages.
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// `"sync"` or `"os"`.
pub(crate) fn durability(text: &str) -> PyResult<Durability> {
    match text {
        "sync" => Ok(Durability::Sync),
        "os" => Ok(Durability::Os),
        other => Err(PyValueError::new_err(format!(
            "durability must be 'sync' or 'os', not {other:?}"
        ))),
    }
}

/// The name of a durability mode.
pub(crate) fn durability_name(durability: Durability) -> &'static str {
    match durability {
        Durability::Sync => "sync",
        Durability::Os => "os",
    }
}

/// An iterator type (any case, `trim_horizon` or `TRIM_HORIZON`) with the extra value
/// its type needs, as a starting position.
pub(crate) fn position(
    iterator_type: &str,
    sequence_number: Option<&Bound<'_, PyAny>>,
    timestamp_ms: Option<u64>,
) -> PyResult<StartingPosition> {
    let kind = iterator_type.to_ascii_uppercase();
    let needs_seq = matches!(
        kind.as_str(),
        "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER"
    );
    let needs_ts = kind == "AT_TIMESTAMP";
    if needs_seq != sequence_number.is_some() {
        return Err(PyValueError::new_err(if needs_seq {
            format!("iterator type {iterator_type} needs a sequence_number")
        } else {
            format!(
                "a sequence_number is only used with AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER, not {iterator_type}"
            )
        }));
    }
    if needs_ts != timestamp_ms.is_some() {
        return Err(PyValueError::new_err(if needs_ts {
            "iterator type AT_TIMESTAMP needs a timestamp".to_string()
        } else {
            format!("a timestamp is only used with AT_TIMESTAMP, not {iterator_type}")
        }));
    }
    let seq = |obj: Option<&Bound<'_, PyAny>>| match obj {
        Some(obj) => self::sequence_number(obj, "sequence_number"),
        None => Err(PyValueError::new_err("missing sequence_number")),
    };
    Ok(match kind.as_str() {
        "TRIM_HORIZON" => StartingPosition::TrimHorizon,
        "LATEST" => StartingPosition::Latest,
        "AT_SEQUENCE_NUMBER" => StartingPosition::AtSequenceNumber(seq(sequence_number)?),
        "AFTER_SEQUENCE_NUMBER" => StartingPosition::AfterSequenceNumber(seq(sequence_number)?),
        "AT_TIMESTAMP" => StartingPosition::AtTimestamp(timestamp_ms.unwrap_or(0)),
        _ => {
            return Err(PyValueError::new_err(format!(
                "unknown iterator type {iterator_type:?}: expected trim_horizon, latest, \
                 at_sequence_number, after_sequence_number or at_timestamp"
            )));
        }
    })
}

/// A timeout in seconds (`None`: wait without end).
pub(crate) fn timeout(seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) => Duration::try_from_secs_f64(s).map(Some).map_err(|_| {
            PyValueError::new_err(format!(
                "timeout must be a finite number of seconds >= 0 (or None), not {s}"
            ))
        }),
    }
}

/// `datetime(1970, 1, 1, tzinfo=timezone.utc)`.
fn epoch(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static EPOCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    EPOCH
        .get_or_try_init(py, || {
            let datetime = py.import("datetime")?;
            let utc = datetime.getattr("timezone")?.getattr("utc")?;
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item("tzinfo", utc)?;
            Ok::<_, PyErr>(
                datetime
                    .getattr("datetime")?
                    .call((1970, 1, 1), Some(&kwargs))?
                    .unbind(),
            )
        })
        .map(|e| e.bind(py))
}

/// Milliseconds since the Unix epoch as a timezone-aware UTC `datetime` (exact: no
/// floating point on the way).
pub(crate) fn datetime_from_ms(py: Python<'_>, ms: u64) -> PyResult<Bound<'_, PyAny>> {
    static TIMEDELTA: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let timedelta = TIMEDELTA
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("datetime")?.getattr("timedelta")?.unbind())
        })?
        .bind(py);
    let days = ms / 86_400_000;
    let seconds = (ms % 86_400_000) / 1000;
    let micros = (ms % 1000) * 1000;
    let delta = timedelta.call1((days, seconds, micros))?;
    epoch(py)?.add(delta)
}

/// Per-shard limits: `"kinesis"`, `"unlimited"`, or a dict of every `tidelog::Limits`
/// field (`None` for a rate means no limit).
pub(crate) fn limits(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Limits> {
    let Some(obj) = obj else {
        return Ok(Limits::kinesis());
    };
    if let Ok(name) = obj.cast::<PyString>() {
        return match name.to_str()? {
            "kinesis" => Ok(Limits::kinesis()),
            "unlimited" => Ok(Limits::unlimited()),
            other => Err(PyValueError::new_err(format!(
                "limits must be 'kinesis', 'unlimited' or tidelog.Limits(...), not {other:?}"
            ))),
        };
    }
    let Ok(dict) = obj.cast::<pyo3::types::PyDict>() else {
        return Err(PyTypeError::new_err(format!(
            "limits must be 'kinesis', 'unlimited' or tidelog.Limits(...), not {}",
            type_name(obj)
        )));
    };
    let rate = |key: &str| -> PyResult<u64> {
        match dict.get_item(key)? {
            None => Err(PyValueError::new_err(format!("limits: missing {key}"))),
            Some(v) if v.is_none() => Ok(u64::MAX),
            Some(v) => positive(&v, key),
        }
    };
    let cap = |key: &str| -> PyResult<usize> {
        match dict.get_item(key)? {
            None => Err(PyValueError::new_err(format!("limits: missing {key}"))),
            Some(v) => Ok(usize::try_from(positive(&v, key)?).unwrap_or(usize::MAX)),
        }
    };
    let known = [
        "write_bytes_per_sec",
        "write_records_per_sec",
        "read_bytes_per_sec",
        "read_calls_per_sec",
        "read_records_per_call_max",
        "read_bytes_per_call_max",
        "read_penalty_after_max_call_ms",
        "subscribe_bytes_per_sec",
        "put_records_entries_max",
        "put_records_bytes_max",
    ];
    for key in dict.keys() {
        let key = text(&key, "limits key")?;
        if !known.contains(&key) {
            return Err(PyValueError::new_err(format!(
                "limits: unknown field {key:?}"
            )));
        }
    }
    let penalty = match dict.get_item("read_penalty_after_max_call_ms")? {
        None => {
            return Err(PyValueError::new_err(
                "limits: missing read_penalty_after_max_call_ms",
            ));
        }
        Some(v) if v.is_none() => 0,
        Some(v) => non_negative(&v, "read_penalty_after_max_call_ms")?,
    };
    Ok(Limits {
        write_bytes_per_sec: rate("write_bytes_per_sec")?,
        write_records_per_sec: rate("write_records_per_sec")?,
        read_bytes_per_sec: rate("read_bytes_per_sec")?,
        read_calls_per_sec: rate("read_calls_per_sec")?,
        read_records_per_call_max: cap("read_records_per_call_max")?,
        read_bytes_per_call_max: cap("read_bytes_per_call_max")?,
        read_penalty_after_max_call_ms: penalty,
        subscribe_bytes_per_sec: rate("subscribe_bytes_per_sec")?,
        put_records_entries_max: cap("put_records_entries_max")?,
        put_records_bytes_max: cap("put_records_bytes_max")?,
    })
}

/// The dict form of `limits` (the inverse of [`limits`]).
pub(crate) fn limits_dict<'py>(
    py: Python<'py>,
    limits: &Limits,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let dict = pyo3::types::PyDict::new(py);
    let rate = |v: u64| if v == u64::MAX { None } else { Some(v) };
    dict.set_item("write_bytes_per_sec", rate(limits.write_bytes_per_sec))?;
    dict.set_item("write_records_per_sec", rate(limits.write_records_per_sec))?;
    dict.set_item("read_bytes_per_sec", rate(limits.read_bytes_per_sec))?;
    dict.set_item("read_calls_per_sec", rate(limits.read_calls_per_sec))?;
    dict.set_item(
        "read_records_per_call_max",
        limits.read_records_per_call_max,
    )?;
    dict.set_item("read_bytes_per_call_max", limits.read_bytes_per_call_max)?;
    dict.set_item(
        "read_penalty_after_max_call_ms",
        limits.read_penalty_after_max_call_ms,
    )?;
    dict.set_item(
        "subscribe_bytes_per_sec",
        rate(limits.subscribe_bytes_per_sec),
    )?;
    dict.set_item("put_records_entries_max", limits.put_records_entries_max)?;
    dict.set_item("put_records_bytes_max", limits.put_records_bytes_max)?;
    Ok(dict)
}

fn non_negative(v: &Bound<'_, PyAny>, key: &str) -> PyResult<u64> {
    if !v.is_instance_of::<PyInt>() || is_bool(v) {
        return Err(PyTypeError::new_err(format!(
            "limits: {key} must be an int, not {}",
            type_name(v)
        )));
    }
    v.extract::<u64>()
        .map_err(|_| PyValueError::new_err(format!("limits: {key} must be >= 0, not {v}")))
}

fn positive(v: &Bound<'_, PyAny>, key: &str) -> PyResult<u64> {
    match non_negative(v, key)? {
        0 => Err(PyValueError::new_err(format!(
            "limits: {key} must be at least 1"
        ))),
        n => Ok(n),
    }
}

/// A non-negative `int` argument that fits `T`: `TypeError` for other types (and for
/// `bool`), `ValueError` for a negative or too large value.
pub(crate) fn uint<T: TryFrom<u64>>(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<T> {
    if !obj.is_instance_of::<PyInt>() || is_bool(obj) {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, not {}",
            type_name(obj)
        )));
    }
    obj.extract::<u64>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "{what} must be an int from 0 to {}, not {obj}",
                max_of::<T>()
            ))
        })
}

/// An optional [`uint`].
pub(crate) fn opt_uint<T: TryFrom<u64>>(
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Option<T>> {
    match obj {
        Some(obj) if !obj.is_none() => uint(obj, what).map(Some),
        _ => Ok(None),
    }
}

/// The largest `u64` that converts into `T` (for messages).
fn max_of<T: TryFrom<u64>>() -> u64 {
    let (mut low, mut high) = (0u64, u64::MAX);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        if T::try_from(mid).is_ok() {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}
