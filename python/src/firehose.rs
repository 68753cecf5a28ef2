//! Firehose from Python: the native half of `tidelog.firehose` (the Pythonic
//! `Firehose` and the boto3-compatible client), a thin wrapper of
//! `tidelog_firehose::Firehose`.
//!
//! Invariants:
//! - every call that reaches Firehose runs with the GIL released (`py.detach`);
//! - operations go through `tidelog_firehose::api` (AWS's JSON shapes), except the put
//!   fast paths, which take bytes without base64;
//! - a Python transform runs on Firehose's transform thread, which takes the GIL for
//!   the call; an exception it raises, or an answer that is not a string, fails the
//!   invocation (records go to the error output), never the engine.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;
use tidelog_firehose::api::{self, ApiError};
use tidelog_firehose::{BucketStore, FirehoseConfig, IngestLimits, S3Connection, transform};

use crate::convert::payload;
use crate::engine::Engine;

create_exception!(
    tidelog,
    FirehoseError,
    crate::errors::Error,
    "A Firehose operation failed. `code` is Firehose's exception name \
     (InvalidArgumentException, ResourceNotFoundException, ...), `status` the HTTP status \
     the service would answer with."
);

fn api_error(py: Python<'_>, e: ApiError) -> PyErr {
    let err = FirehoseError::new_err(e.message.clone());
    let value = err.value(py);
    let _ = value.setattr("code", e.code);
    let _ = value.setattr("status", e.status);
    err
}

fn firehose_error(py: Python<'_>, e: tidelog_firehose::Error) -> PyErr {
    api_error(py, ApiError::from(e))
}

/// Reads a store description: `{"type": "directory", "root": path}` or
/// `{"type": "s3", "endpoint": ..., "region": ..., "access_key_id": ...,
/// "secret_access_key": ..., "session_token": ..., "virtual_hosted_style": bool,
/// "multipart_threshold_bytes": int, "multipart_part_bytes": int}`.
fn store(value: &Value, what: &str) -> PyResult<BucketStore> {
    let obj = value
        .as_object()
        .ok_or_else(|| PyTypeError::new_err(format!("{what} must be a dict")))?;
    let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    match obj.get("type").and_then(Value::as_str) {
        Some("directory") => Ok(BucketStore::Directory {
            root: PathBuf::from(s("root").ok_or_else(|| {
                PyValueError::new_err(format!("{what}: a directory store needs a root"))
            })?),
        }),
        Some("s3") => {
            let mut c = S3Connection::local("", "", "");
            c.endpoint = s("endpoint");
            c.region = s("region").unwrap_or_else(|| "us-east-1".to_string());
            c.access_key_id = s("access_key_id");
            c.secret_access_key = s("secret_access_key");
            c.session_token = s("session_token");
            c.virtual_hosted_style = obj
                .get("virtual_hosted_style")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            c.allow_http = c
                .endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"));
            if let Some(n) = obj.get("multipart_threshold_bytes").and_then(Value::as_u64) {
                c.multipart_threshold_bytes = n as usize;
            }
            if let Some(n) = obj.get("multipart_part_bytes").and_then(Value::as_u64) {
                c.multipart_part_bytes = n as usize;
            }
            Ok(BucketStore::S3(c))
        }
        other => Err(PyValueError::new_err(format!(
            "{what}: type must be 'directory' or 's3', not {other:?}"
        ))),
    }
}

/// Firehose on an engine (the native half of `tidelog.Firehose`).
#[pyclass(frozen, module = "tidelog._tidelog")]
pub struct Firehose {
    firehose: tidelog_firehose::Firehose,
}

impl Firehose {
    /// The Firehose itself (for applications that output into delivery streams).
    pub(crate) fn inner(&self) -> &tidelog_firehose::Firehose {
        &self.firehose
    }
}

#[pymethods]
impl Firehose {
    /// Opens Firehose on `engine`. `stores` is JSON: `{"buckets": {name: store},
    /// "default": store}` (see the Python layer).
    #[staticmethod]
    #[pyo3(signature = (
        engine, *, region=None, account_id=None, stores=None, ingest_limits="aws",
        tick_ms=None, kinesis_poll_interval_ms=None, delivery_streams_max=None,
        active_partitions_max=None, buffered_bytes_max=None, buffer_retention_hours=None
    ))]
    #[allow(clippy::too_many_arguments)] // mirrors FirehoseConfig's options
    fn open(
        py: Python<'_>,
        engine: &Engine,
        region: Option<String>,
        account_id: Option<String>,
        stores: Option<&str>,
        ingest_limits: &str,
        tick_ms: Option<u64>,
        kinesis_poll_interval_ms: Option<u64>,
        delivery_streams_max: Option<usize>,
        active_partitions_max: Option<usize>,
        buffered_bytes_max: Option<u64>,
        buffer_retention_hours: Option<u32>,
    ) -> PyResult<Self> {
        let mut config = FirehoseConfig::new();
        if let Some(r) = region {
            config.region = r;
        }
        if let Some(a) = account_id {
            config.account_id = a;
        }
        config.ingest_limits = match ingest_limits {
            "aws" => IngestLimits::aws(),
            "unlimited" => IngestLimits::unlimited(),
            other => {
                return Err(PyValueError::new_err(format!(
                    "ingest_limits must be 'aws' or 'unlimited', not {other:?}"
                )));
            }
        };
        if let Some(t) = tick_ms {
            config.tick = Duration::from_millis(t);
        }
        if let Some(t) = kinesis_poll_interval_ms {
            config.kinesis_poll_interval = Duration::from_millis(t);
        }
        if let Some(n) = delivery_streams_max {
            config.delivery_streams_max = n;
        }
        if let Some(n) = active_partitions_max {
            config.active_partitions_max = n;
        }
        if let Some(n) = buffered_bytes_max {
            config.buffered_bytes_max = n;
        }
        if let Some(n) = buffer_retention_hours {
            config.buffer_retention_hours = n;
        }
        if let Some(text) = stores {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| PyValueError::new_err(format!("stores is not JSON: {e}")))?;
            if let Some(buckets) = v.get("buckets").and_then(Value::as_object) {
                let mut map = BTreeMap::new();
                for (name, s) in buckets {
                    map.insert(
                        name.clone(),
                        store(s, &format!("stores.buckets[{name:?}]"))?,
                    );
                }
                config.buckets = map;
            }
            if let Some(d) = v.get("default").filter(|d| !d.is_null()) {
                config.default_store = Some(store(d, "stores.default")?);
            }
        }
        let engine = engine.inner().clone();
        let firehose = py
            .detach(|| tidelog_firehose::Firehose::open(&engine, config))
            .map_err(|e| firehose_error(py, e))?;
        Ok(Self { firehose })
    }

    /// Runs a Firehose operation on a JSON request; returns the JSON response.
    fn call(&self, py: Python<'_>, operation: &str, request: &str) -> PyResult<String> {
        let f = &self.firehose;
        let (operation, request) = (operation.to_string(), request.to_string());
        py.detach(|| api::call_json(f, &operation, &request))
            .map_err(|e| api_error(py, e))
    }

    /// PutRecord with bytes: (record id, encrypted).
    fn put_record(
        &self,
        py: Python<'_>,
        name: &str,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<(String, bool)> {
        let data = payload(data, "data")?;
        let f = &self.firehose;
        let name = name.to_string();
        let data = data.into_owned();
        let out = py
            .detach(|| f.put_record(&name, &data))
            .map_err(|e| firehose_error(py, e))?;
        Ok((out.record_id, out.encrypted))
    }

    /// PutRecordBatch with bytes: (failed count, encrypted, [(record id, error code,
    /// error message)]).
    #[allow(clippy::type_complexity)] // the tuple is the Python-side shape
    fn put_record_batch(
        &self,
        py: Python<'_>,
        name: &str,
        records: &Bound<'_, PyAny>,
    ) -> PyResult<(
        usize,
        bool,
        Vec<(Option<String>, Option<String>, Option<String>)>,
    )> {
        let list = records
            .cast::<PyList>()
            .map_err(|_| PyTypeError::new_err("records must be a list"))?;
        let mut blobs: Vec<Vec<u8>> = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            blobs.push(payload(&item, &format!("records[{i}]"))?.into_owned());
        }
        let f = &self.firehose;
        let name = name.to_string();
        let out = py
            .detach(|| {
                let slices: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
                f.put_record_batch(&name, &slices)
            })
            .map_err(|e| firehose_error(py, e))?;
        let entries = out
            .responses
            .into_iter()
            .map(|r| match r {
                Ok(id) => (Some(id), None, None),
                Err((code, message)) => (None, Some(code), Some(message)),
            })
            .collect();
        Ok((out.failed_put_count, out.encrypted, entries))
    }

    /// Registers a transform under a Lambda function name. `handler(event_json: str)
    /// -> str` gets AWS's Lambda event for Firehose and answers the Lambda response.
    fn register_transform(
        &self,
        function: &str,
        handler: Py<PyAny>,
        timeout_s: f64,
    ) -> PyResult<()> {
        if !(timeout_s.is_finite() && timeout_s > 0.0) {
            return Err(PyValueError::new_err(
                "timeout must be a positive number of seconds",
            ));
        }
        let handler = Arc::new(handler);
        let t = transform::from_json_fn(move |event: &str| {
            Python::attach(|py| {
                let answer = handler.call1(py, (event,)).map_err(|e| {
                    format!(
                        "the transform raised {}",
                        e.value(py)
                            .repr()
                            .map(|r| r.to_string())
                            .unwrap_or_default()
                    )
                })?;
                answer
                    .extract::<String>(py)
                    .map_err(|_| "the transform did not answer a JSON string".to_string())
            })
        });
        self.firehose
            .register_transform(
                function,
                Arc::new(t),
                Duration::from_secs_f64(timeout_s.min(1e6)),
            )
            .map_err(|e| Python::attach(|py| firehose_error(py, e)))
    }

    /// Removes a registered transform; True if there was one.
    fn unregister_transform(&self, function: &str) -> bool {
        self.firehose.unregister_transform(function)
    }

    /// Delivers what a delivery stream (or every one, for None) holds, now; waits up to
    /// `timeout_s`.
    #[pyo3(signature = (name=None, timeout_s=60.0))]
    fn flush(&self, py: Python<'_>, name: Option<&str>, timeout_s: f64) -> PyResult<()> {
        if !(timeout_s.is_finite() && timeout_s >= 0.0) {
            return Err(PyValueError::new_err(
                "timeout must be a non-negative number of seconds",
            ));
        }
        let f = &self.firehose;
        let timeout = Duration::from_secs_f64(timeout_s.min(1e6));
        let name = name.map(str::to_string);
        py.detach(|| match &name {
            Some(n) => f.flush(n, timeout),
            None => f.flush_all(timeout),
        })
        .map_err(|e| firehose_error(py, e))
    }

    /// Wakes every delivery worker (after moving a manual clock).
    fn wake(&self) {
        self.firehose.wake();
    }

    /// A delivery stream's metrics, by Firehose's metric names in snake case.
    fn metrics<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyDict>> {
        let m = self
            .firehose
            .metrics(name)
            .map_err(|e| firehose_error(py, e))?;
        let d = PyDict::new(py);
        d.set_item("delivery_stream", &m.delivery_stream)?;
        for (k, v) in [
            ("incoming_bytes", m.incoming_bytes),
            ("incoming_records", m.incoming_records),
            ("incoming_put_requests", m.incoming_put_requests),
            ("throttled_records", m.throttled_records),
            ("put_record_requests", m.put_record_requests),
            ("put_record_bytes", m.put_record_bytes),
            ("put_record_batch_requests", m.put_record_batch_requests),
            ("put_record_batch_records", m.put_record_batch_records),
            ("put_record_batch_bytes", m.put_record_batch_bytes),
            ("delivery_to_s3_bytes", m.delivery_to_s3_bytes),
            ("delivery_to_s3_records", m.delivery_to_s3_records),
            ("delivery_to_s3_object_count", m.delivery_to_s3_object_count),
            ("delivery_to_s3_attempts", m.delivery_to_s3_attempts),
            (
                "delivery_to_s3_data_freshness_ms",
                m.delivery_to_s3_data_freshness_ms,
            ),
            ("backup_to_s3_bytes", m.backup_to_s3_bytes),
            ("backup_to_s3_records", m.backup_to_s3_records),
            (
                "backup_to_s3_data_freshness_ms",
                m.backup_to_s3_data_freshness_ms,
            ),
            ("error_output_records", m.error_output_records),
            (
                "execute_processing_duration_ms",
                m.execute_processing_duration_ms,
            ),
            (
                "execute_processing_invocations",
                m.execute_processing_invocations,
            ),
            ("succeed_processing_records", m.succeed_processing_records),
            ("succeed_processing_bytes", m.succeed_processing_bytes),
            ("dropped_processing_records", m.dropped_processing_records),
            ("failed_processing_records", m.failed_processing_records),
            (
                "data_read_from_kinesis_stream_bytes",
                m.data_read_from_kinesis_stream_bytes,
            ),
            (
                "data_read_from_kinesis_stream_records",
                m.data_read_from_kinesis_stream_records,
            ),
            (
                "kinesis_millis_behind_latest",
                m.kinesis_millis_behind_latest,
            ),
            ("partition_count", m.partition_count),
            ("partition_count_exceeded", m.partition_count_exceeded),
        ] {
            d.set_item(k, v)?;
        }
        d.set_item("delivery_to_s3_success", m.delivery_to_s3_success)?;
        d.set_item("backup_to_s3_success", m.backup_to_s3_success)?;
        d.set_item("execute_processing_success", m.execute_processing_success)?;
        Ok(d)
    }

    /// The engine's OpenMetrics text with Firehose's families.
    fn metrics_openmetrics(&self, py: Python<'_>) -> PyResult<String> {
        let f = &self.firehose;
        py.detach(|| f.metrics_openmetrics())
            .map_err(|e| firehose_error(py, e))
    }

    /// The last delivery or processing error of a delivery stream, if its latest
    /// attempts failed.
    fn last_error(&self, py: Python<'_>, name: &str) -> PyResult<Option<String>> {
        self.firehose
            .last_error(name)
            .map_err(|e| firehose_error(py, e))
    }

    /// The directory of a bucket in the directory store (None for S3 buckets).
    fn bucket_directory(&self, bucket: &str) -> Option<PathBuf> {
        self.firehose.bucket_directory(bucket)
    }

    /// Stops delivery (checkpoints saved) and closes the buffers; idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let f = &self.firehose;
        py.detach(|| f.close()).map_err(|e| firehose_error(py, e))
    }

    /// True once closed.
    #[getter]
    fn closed(&self) -> bool {
        self.firehose.is_closed()
    }
}

/// Adds the class and its exception to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Firehose>()?;
    m.add("FirehoseError", m.py().get_type::<FirehoseError>())?;
    let class = m.py().get_type::<FirehoseError>();
    class.setattr("kind", "Firehose")?;
    class.setattr("kinesis_name", "InternalFailureException")?;
    Ok(())
}
