//! Continuous SQL applications from Python: the native half of
//! `tidelog.Applications` (tidelog-analytics' `Applications`).
//!
//! Invariants: every call that may wait (create plans SQL, start opens a checkpoint,
//! stop joins a thread) runs with the GIL released; a Python callback runs on the
//! application's thread holding the GIL only while it runs, receives the rows as an
//! Arrow object (`__arrow_c_stream__`), and an exception it raises is reported through
//! `sys.unraisablehook` without stopping the application.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tidelog_analytics::app::{
    AppDefinition, AppOptions, InputKind, OutputConfig, OutputFormat, OutputKind, ReferenceTable,
    StartFrom,
};
use tidelog_analytics::{InputSchema, QueryResult};

use crate::analytics::{analytics_err, sql_result};

/// (in-application stream, stream or delivery stream, format, "stream" | "delivery_stream").
type OutputSpec = (String, String, String, String);
type ReferenceSpec = (String, String, String);

/// The applications of an engine (the native half of `tidelog.Applications`).
#[pyclass(frozen, module = "tidelog._tidelog")]
pub struct Applications {
    inner: tidelog_analytics::Applications,
}

fn start_from(position: &Bound<'_, PyAny>) -> PyResult<StartFrom> {
    if let Ok(ms) = position.extract::<u64>() {
        return Ok(StartFrom::AtTimestamp(ms));
    }
    let text: String = position.extract().map_err(|_| {
        PyValueError::new_err(
            "position: 'LAST_STOPPED_POINT', 'TRIM_HORIZON', 'NOW' or a time in ms since the epoch",
        )
    })?;
    StartFrom::parse(&text).map_err(analytics_err)
}

#[pymethods]
impl Applications {
    /// The applications stored with `engine`; those that were running resume.
    /// `firehose`: the Firehose whose delivery streams outputs may name.
    #[new]
    #[pyo3(signature = (engine, firehose=None))]
    fn new(
        py: Python<'_>,
        engine: &crate::engine::Engine,
        firehose: Option<&crate::firehose::Firehose>,
    ) -> PyResult<Self> {
        let engine = engine.inner().clone();
        let firehose = firehose.map(|f| f.inner().clone());
        let inner = py
            .detach(|| match &firehose {
                Some(f) => tidelog_analytics::Applications::open_with_firehose(&engine, f),
                None => tidelog_analytics::Applications::open(&engine),
            })
            .map_err(analytics_err)?;
        Ok(Self { inner })
    }

    /// Creates an application (checked completely first: names, streams, SQL).
    #[pyo3(signature = (name, code, input_stream, schema_json, outputs, reference_tables, name_prefix, allowed_lateness_ms, watermark_delay_ms, max_records_per_shard, input_kind="stream"))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        &self,
        py: Python<'_>,
        name: &str,
        code: &str,
        input_stream: &str,
        schema_json: &str,
        outputs: Vec<OutputSpec>,
        reference_tables: Vec<ReferenceSpec>,
        name_prefix: &str,
        allowed_lateness_ms: i64,
        watermark_delay_ms: i64,
        max_records_per_shard: usize,
        input_kind: &str,
    ) -> PyResult<()> {
        let schema = InputSchema::from_json(schema_json).map_err(analytics_err)?;
        let mut def = AppDefinition::new(name, code, input_stream, schema);
        def.input_kind = match input_kind {
            "stream" => InputKind::Stream,
            "delivery_stream" => InputKind::DeliveryStream,
            other => {
                return Err(PyValueError::new_err(format!(
                    "input_kind {other:?}: 'stream' or 'delivery_stream'"
                )));
            }
        };
        def.name_prefix = name_prefix.to_string();
        for (in_app_stream, stream, format, kind) in outputs {
            let kind = match kind.as_str() {
                "stream" => OutputKind::Stream,
                "delivery_stream" => OutputKind::DeliveryStream,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "output kind {other:?}: 'stream' or 'delivery_stream'"
                    )));
                }
            };
            def.outputs.push(OutputConfig {
                in_app_stream,
                stream,
                format: OutputFormat::parse(&format).map_err(analytics_err)?,
                kind,
            });
        }
        for (table, path, schema) in reference_tables {
            def.reference_tables.push(ReferenceTable {
                name: table,
                path,
                schema: InputSchema::from_json(&schema).map_err(analytics_err)?,
            });
        }
        def.options = AppOptions {
            allowed_lateness_ms,
            watermark_delay_ms,
            max_records_per_shard,
        };
        py.detach(|| self.inner.create(def)).map_err(analytics_err)
    }

    /// Starts an application from `position`.
    fn start(&self, py: Python<'_>, name: &str, position: &Bound<'_, PyAny>) -> PyResult<()> {
        let from = start_from(position)?;
        py.detach(|| self.inner.start(name, from))
            .map_err(analytics_err)
    }

    /// Stops an application.
    fn stop(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        py.detach(|| self.inner.stop(name)).map_err(analytics_err)
    }

    /// Deletes an application (stopped first).
    fn delete(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        py.detach(|| self.inner.delete(name)).map_err(analytics_err)
    }

    /// (name, status) of every application.
    fn list(&self) -> Vec<(String, String)> {
        self.inner
            .list()
            .into_iter()
            .map(|(n, s)| (n, s.name().to_string()))
            .collect()
    }

    /// An application's status, positions, lag and counters, as a dict.
    fn describe<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyDict>> {
        let d = self.inner.describe(name).map_err(analytics_err)?;
        let out = PyDict::new(py);
        out.set_item("name", &d.definition.name)?;
        out.set_item("status", d.status.name())?;
        out.set_item("code", &d.definition.code)?;
        out.set_item("input_stream", &d.definition.input_stream)?;
        out.set_item("definition", d.definition.to_json())?;
        out.set_item("epoch", d.epoch)?;
        out.set_item("watermark_ms", d.watermark_ms)?;
        out.set_item("lag_ms", d.lag_ms)?;
        let positions = PyDict::new(py);
        for (shard, seq) in &d.input_positions {
            positions.set_item(shard, seq.to_string())?;
        }
        out.set_item("input_positions", positions)?;
        out.set_item("records_in", d.counters.records_in)?;
        out.set_item("records_out", d.counters.records_out)?;
        out.set_item("errors", d.counters.errors)?;
        out.set_item("epochs", d.counters.epochs)?;
        out.set_item("caught_up", d.caught_up)?;
        out.set_item("last_error", d.last_error)?;
        Ok(out)
    }

    /// Waits until a running application has nothing left to do (seconds).
    fn wait_idle(&self, py: Python<'_>, name: &str, timeout: f64) -> PyResult<()> {
        if !(timeout.is_finite() && timeout >= 0.0) {
            return Err(PyValueError::new_err(
                "timeout must be a non-negative number of seconds",
            ));
        }
        py.detach(|| self.inner.wait_idle(name, Duration::from_secs_f64(timeout)))
            .map_err(analytics_err)
    }

    /// Reloads a reference table from its file.
    fn reload_reference(&self, py: Python<'_>, name: &str, table: &str) -> PyResult<()> {
        py.detach(|| self.inner.reload_reference(name, table))
            .map_err(analytics_err)
    }

    /// Calls `callback(stream, epoch, rows)` with each epoch's rows of
    /// `in_app_stream` (rows: an Arrow object; at least once across crashes).
    fn add_callback(&self, name: &str, in_app_stream: &str, callback: Py<PyAny>) -> PyResult<()> {
        let callback = Arc::new(callback);
        let f: tidelog_analytics::app::Callback = Arc::new(move |stream, epoch, batch| {
            Python::attach(|py| {
                let rows = sql_result(QueryResult {
                    schema: batch.schema(),
                    batches: vec![batch.clone()],
                    scans: Vec::new(),
                });
                let result =
                    Py::new(py, rows).and_then(|rows| callback.call1(py, (stream, epoch, rows)));
                if let Err(e) = result {
                    e.write_unraisable(py, None);
                }
            });
        });
        self.inner
            .add_callback(name, in_app_stream, f)
            .map_err(analytics_err)
    }

    /// Removes every callback of a stopped application.
    fn clear_callbacks(&self, name: &str) -> PyResult<()> {
        self.inner.clear_callbacks(name).map_err(analytics_err)
    }

    /// Stops every application's thread (running ones resume at the next open).
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    fn __repr__(&self) -> String {
        format!(
            "Applications({:?})",
            self.inner
                .list()
                .iter()
                .map(|(n, s)| format!("{n}: {}", s.name()))
                .collect::<Vec<_>>()
        )
    }
}

/// Registers the class.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Applications>()
}
