//! Kinesis queues on the native `Engine` (a third `#[pymethods]` block): CreateQueue,
//! DeleteQueue, DescribeQueue, ListQueues, UpdateQueue, receiving records and dead
//! letters, and the receipt-handle batch calls (acknowledge, visibility, restore).
//!
//! Invariants: as `engine.rs` (every engine call runs with the GIL released; results
//! are plain dicts whose keys are the dataclass fields in `tidelog/_types.py`);
//! arguments of the wrong type raise `TypeError`, refused values `ValueError`, before
//! the engine runs. A long-poll wait holds no GIL; it ends when a record becomes
//! visible or the wait runs out (at most 20 s), not on a signal.
#![forbid(unsafe_code)]

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use tidelog::engine::{
    CreateQueueOptions, DeadLetterConfig, QueueAttributes, QueueBatchOutput, QueueDescription,
    QueueRecord, QueueStreamFilter, ReceiveOptions, VisibilityEntry,
};
use tidelog::queue::QueueStart;

use crate::convert::{self, datetime_from_ms, opt_uint, text};
use crate::engine::Engine;
use crate::errors::OrRaise;
use crate::kinesis::tags_arg;

fn description_dict<'py>(py: Python<'py>, d: &QueueDescription) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("name", &d.name)?;
    out.set_item("arn", &d.arn)?;
    out.set_item("status", d.status.name())?;
    out.set_item("created", datetime_from_ms(py, d.created_ms)?)?;
    out.set_item("stream", &d.stream)?;
    out.set_item("stream_arn", &d.stream_arn)?;
    out.set_item("stream_created", datetime_from_ms(py, d.stream_created_ms)?)?;
    out.set_item("starting_position", d.start.type_name())?;
    let ts = d
        .start_timestamp_ms
        .map(|ms| datetime_from_ms(py, ms))
        .transpose()?;
    out.set_item("starting_timestamp", ts)?;
    out.set_item("visibility_timeout", d.visibility_timeout_s)?;
    match d.dead_letter {
        DeadLetterConfig::BuiltIn { max_receive_count } => {
            out.set_item("dead_letter", "BUILT_IN")?;
            out.set_item("max_receive_count", max_receive_count)?;
        }
        DeadLetterConfig::Disabled => {
            out.set_item("dead_letter", "NONE")?;
            out.set_item("max_receive_count", py.None())?;
        }
    }
    Ok(out)
}

fn record_dict<'py>(py: Python<'py>, r: &QueueRecord) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("receipt_handle", &r.receipt_handle)?;
    out.set_item("record_id", &r.record_id)?;
    out.set_item("shard_id", &r.shard_id)?;
    out.set_item("sequence_number", r.sequence_number.to_string())?;
    out.set_item("partition_key", &r.partition_key)?;
    out.set_item("data", PyBytes::new(py, &r.data))?;
    out.set_item("arrival_time", datetime_from_ms(py, r.arrival_ms)?)?;
    out.set_item(
        "first_receive_time",
        datetime_from_ms(py, r.first_receive_ms)?,
    )?;
    out.set_item("receive_count", r.receive_count)?;
    Ok(out)
}

/// `(dead_letter, max_receive_count)` as the engine's configuration (`None`: default
/// or unchanged).
fn dead_letter(kind: Option<&str>, max: Option<u32>) -> PyResult<Option<DeadLetterConfig>> {
    Ok(match (kind, max) {
        (None, None) => None,
        (None | Some("BUILT_IN"), Some(max_receive_count)) => {
            Some(DeadLetterConfig::BuiltIn { max_receive_count })
        }
        (Some("BUILT_IN"), None) => {
            return Err(PyValueError::new_err(
                "dead_letter BUILT_IN needs max_receive_count",
            ));
        }
        (Some("NONE"), None) => Some(DeadLetterConfig::Disabled),
        (Some("NONE"), Some(_)) => {
            return Err(PyValueError::new_err(
                "max_receive_count goes with dead_letter BUILT_IN, not NONE",
            ));
        }
        (Some(other), _) => {
            return Err(PyValueError::new_err(format!(
                "dead_letter must be 'BUILT_IN' or 'NONE', not {other:?}"
            )));
        }
    })
}

fn batch_tuple(out: QueueBatchOutput) -> (Vec<String>, Vec<(String, &'static str, String)>) {
    let failed = out
        .failed
        .into_iter()
        .map(|f| (f.receipt_handle, f.kind.kinesis_name(), f.message))
        .collect();
    (out.successful, failed)
}

#[pymethods]
impl Engine {
    /// CreateQueue on the stream of `stream_arn`; the queue as a dict (status CREATING).
    #[pyo3(signature = (name, stream_arn, starting_position="LATEST", timestamp_ms=None,
                        visibility_timeout=None, dead_letter=None, max_receive_count=None,
                        tags=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_queue<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        stream_arn: &str,
        starting_position: &str,
        timestamp_ms: Option<u64>,
        visibility_timeout: Option<&Bound<'_, PyAny>>,
        dead_letter: Option<&str>,
        max_receive_count: Option<&Bound<'_, PyAny>>,
        tags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let start = match (starting_position, timestamp_ms) {
            ("LATEST", None) => QueueStart::Latest,
            ("TRIM_HORIZON", None) => QueueStart::TrimHorizon,
            ("AT_TIMESTAMP", Some(ts)) => QueueStart::AtTimestamp(ts),
            ("AT_TIMESTAMP", None) => {
                return Err(PyValueError::new_err("AT_TIMESTAMP needs a timestamp"));
            }
            ("LATEST" | "TRIM_HORIZON", Some(_)) => {
                return Err(PyValueError::new_err(
                    "a timestamp goes with AT_TIMESTAMP only",
                ));
            }
            (other, _) => {
                return Err(PyValueError::new_err(format!(
                    "starting_position must be LATEST, TRIM_HORIZON or AT_TIMESTAMP, not {other:?}"
                )));
            }
        };
        let options = CreateQueueOptions {
            stream_arn: stream_arn.to_string(),
            start,
            attributes: QueueAttributes {
                visibility_timeout_s: opt_uint(visibility_timeout, "visibility_timeout")?,
                dead_letter: self::dead_letter(
                    dead_letter,
                    opt_uint(max_receive_count, "max_receive_count")?,
                )?,
            },
            tags: tags_arg(tags)?,
        };
        let d = py
            .detach(|| self.engine.create_queue(name, options))
            .or_raise()?;
        description_dict(py, &d)
    }

    /// DeleteQueue.
    fn delete_queue(&self, py: Python<'_>, arn: &str) -> PyResult<()> {
        py.detach(|| self.engine.delete_queue(arn)).or_raise()
    }

    /// DescribeQueue: the queue as a dict.
    fn describe_queue<'py>(&self, py: Python<'py>, arn: &str) -> PyResult<Bound<'py, PyDict>> {
        let d = py.detach(|| self.engine.describe_queue(arn)).or_raise()?;
        description_dict(py, &d)
    }

    /// ListQueues: `(queues, has_more)` in name order, after `exclusive_start_name`,
    /// only on the streams of `stream_filters` (a list of `(stream_arn,
    /// created_ms or None)`) if given.
    #[pyo3(signature = (limit=None, exclusive_start_name=None, stream_filters=None))]
    fn list_queues<'py>(
        &self,
        py: Python<'py>,
        limit: Option<&Bound<'_, PyAny>>,
        exclusive_start_name: Option<&str>,
        stream_filters: Option<Vec<(String, Option<u64>)>>,
    ) -> PyResult<(Vec<Bound<'py, PyDict>>, bool)> {
        let limit = opt_uint(limit, "limit")?;
        let filters: Vec<QueueStreamFilter> = stream_filters
            .unwrap_or_default()
            .into_iter()
            .map(|(stream_arn, stream_created_ms)| QueueStreamFilter {
                stream_arn,
                stream_created_ms,
            })
            .collect();
        let out = py
            .detach(|| {
                self.engine
                    .list_queues(limit, exclusive_start_name, &filters)
            })
            .or_raise()?;
        let queues = out
            .queues
            .iter()
            .map(|q| description_dict(py, q))
            .collect::<PyResult<Vec<_>>>()?;
        Ok((queues, out.has_more))
    }

    /// UpdateQueue: a new visibility timeout and/or dead-letter handling; the queue as
    /// a dict.
    #[pyo3(signature = (arn, visibility_timeout=None, dead_letter=None, max_receive_count=None))]
    fn update_queue<'py>(
        &self,
        py: Python<'py>,
        arn: &str,
        visibility_timeout: Option<&Bound<'_, PyAny>>,
        dead_letter: Option<&str>,
        max_receive_count: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let attributes = QueueAttributes {
            visibility_timeout_s: opt_uint(visibility_timeout, "visibility_timeout")?,
            dead_letter: self::dead_letter(
                dead_letter,
                opt_uint(max_receive_count, "max_receive_count")?,
            )?,
        };
        let d = py
            .detach(|| self.engine.update_queue(arn, attributes))
            .or_raise()?;
        description_dict(py, &d)
    }

    /// ReceiveQueueRecords (or, with `dead_letter`, ReceiveDeadLetterQueueRecords):
    /// up to `limit` records as dicts, waiting up to `wait_seconds` for one.
    #[pyo3(signature = (arn, limit=None, wait_seconds=0.0, visibility_timeout=None, dead_letter=false))]
    fn receive_queue_records<'py>(
        &self,
        py: Python<'py>,
        arn: &str,
        limit: Option<&Bound<'_, PyAny>>,
        wait_seconds: f64,
        visibility_timeout: Option<&Bound<'_, PyAny>>,
        dead_letter: bool,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        if !wait_seconds.is_finite() || !(0.0..=20.0).contains(&wait_seconds) {
            return Err(PyValueError::new_err(format!(
                "wait_seconds must be 0 to 20, not {wait_seconds}"
            )));
        }
        let options = ReceiveOptions {
            limit: opt_uint(limit, "limit")?,
            wait: Duration::from_secs_f64(wait_seconds),
            visibility_timeout_s: opt_uint(visibility_timeout, "visibility_timeout")?,
        };
        let records = py
            .detach(|| {
                if dead_letter {
                    self.engine.receive_dead_letter_queue_records(arn, options)
                } else {
                    self.engine.receive_queue_records(arn, options)
                }
            })
            .or_raise()?;
        records.iter().map(|r| record_dict(py, r)).collect()
    }

    /// The receipt-handle calls: `action` "acknowledge", "visibility" (with
    /// `timeouts`, one per handle) or "restore" (dead letters only); `dead_letter`
    /// picks the dead-letter call. `(successful handles, [(handle, error code,
    /// message)])`.
    #[pyo3(signature = (arn, action, handles, timeouts=None, dead_letter=false))]
    #[allow(clippy::type_complexity)]
    fn queue_entries(
        &self,
        py: Python<'_>,
        arn: &str,
        action: &str,
        handles: &Bound<'_, PyAny>,
        timeouts: Option<Vec<u32>>,
        dead_letter: bool,
    ) -> PyResult<(Vec<String>, Vec<(String, &'static str, String)>)> {
        if handles.cast::<pyo3::types::PyString>().is_ok() {
            return Err(PyTypeError::new_err(
                "handles must be a list of str, not a str",
            ));
        }
        let mut list = Vec::new();
        for item in handles.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "handles must be a list of str, not {}",
                convert::type_name(handles)
            ))
        })? {
            list.push(text(&item?, "a receipt handle")?.to_owned());
        }
        let out = match (action, timeouts, dead_letter) {
            ("acknowledge", None, false) => py
                .detach(|| self.engine.acknowledge_queue_records(arn, &list))
                .or_raise()?,
            ("acknowledge", None, true) => py
                .detach(|| {
                    self.engine
                        .acknowledge_dead_letter_queue_records(arn, &list)
                })
                .or_raise()?,
            ("restore", None, true) => py
                .detach(|| self.engine.restore_dead_letter_queue_records(arn, &list))
                .or_raise()?,
            ("visibility", Some(timeouts), dead) => {
                if timeouts.len() != list.len() {
                    return Err(PyValueError::new_err(
                        "one visibility timeout per receipt handle",
                    ));
                }
                let entries: Vec<VisibilityEntry> = list
                    .into_iter()
                    .zip(timeouts)
                    .map(|(receipt_handle, visibility_timeout_s)| VisibilityEntry {
                        receipt_handle,
                        visibility_timeout_s,
                    })
                    .collect();
                py.detach(|| {
                    if dead {
                        self.engine
                            .update_dead_letter_queue_records_visibility(arn, &entries)
                    } else {
                        self.engine.update_queue_records_visibility(arn, &entries)
                    }
                })
                .or_raise()?
            }
            _ => {
                return Err(PyValueError::new_err(format!(
                    "no queue call {action:?} (dead_letter={dead_letter}) with these arguments"
                )));
            }
        };
        Ok(batch_tuple(out))
    }
}
