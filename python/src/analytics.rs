//! SQL from Python: the native half of `tidelog.Analytics` (tidelog-analytics on
//! DataFusion) and its results.
//!
//! Invariants:
//! - every query and registration runs with the GIL released (`py.detach`); queries
//!   execute on the session's own threads;
//! - results leave as Arrow through the PyCapsule interface (`__arrow_c_stream__`,
//!   `arrow_export.rs`): no copy of the result's buffers; `to_pandas`/`to_polars` go
//!   through pyarrow/polars, imported only when called;
//! - analytics errors map to `tidelog.SqlError` (SQL text), `tidelog.SchemaError`
//!   (input schemas), `ValueError` (arguments) or the engine's own exception classes.
#![forbid(unsafe_code)]

use std::sync::Arc;

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict, PyList};
use tidelog_analytics::arrow::array::RecordBatch as ArrowBatch;
use tidelog_analytics::arrow::datatypes::SchemaRef;
use tidelog_analytics::{AnalyticsOptions, Error as AError, InputSchema, QueryResult, ScanReport};

use crate::arrow_export::{schema_capsule, stream_capsule};
use crate::errors::{
    ClosedError, Error as TidelogError, FileSystemError, InvalidArgumentError, ResourceInUseError,
    ResourceNotFoundError, to_py,
};

create_exception!(
    tidelog,
    SqlError,
    TidelogError,
    "The SQL text did not parse, plan or run; the message is DataFusion's (a syntax \
     error names its line and column)."
);
create_exception!(
    tidelog,
    SchemaError,
    TidelogError,
    "An input schema is not valid (an unknown type, a bad JSON path, a repeated name)."
);

/// The Python exception for an analytics error.
pub(crate) fn analytics_err(err: AError) -> PyErr {
    let message = err.to_string();
    match err {
        AError::Sql(_) => SqlError::new_err(message),
        AError::Schema(_) => SchemaError::new_err(message),
        AError::Invalid(_) => PyValueError::new_err(message),
        AError::NotFound(_) => ResourceNotFoundError::new_err(message),
        AError::Exists(_) => ResourceInUseError::new_err(message),
        AError::State(_) => InvalidArgumentError::new_err(message),
        AError::Engine(e) => to_py(e),
        AError::Io { .. } => FileSystemError::new_err(message),
        AError::Closed => ClosedError::new_err(message),
    }
}

trait OrRaise<T> {
    fn or_raise(self) -> PyResult<T>;
}

impl<T> OrRaise<T> for tidelog_analytics::Result<T> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(analytics_err)
    }
}

/// A SQL session over an engine's streams (the native half of `tidelog.Analytics`).
#[pyclass(frozen, module = "tidelog._tidelog")]
pub struct Analytics {
    inner: tidelog_analytics::Analytics,
}

#[pymethods]
impl Analytics {
    /// A session over `engine` (a `tidelog._tidelog.Engine`); `threads`: worker
    /// threads of its query runtime (default: one per CPU).
    #[new]
    #[pyo3(signature = (engine, threads=None))]
    fn new(
        py: Python<'_>,
        engine: &crate::engine::Engine,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        let engine = engine.inner().clone();
        let inner = py
            .detach(|| {
                tidelog_analytics::Analytics::with_options(
                    &engine,
                    AnalyticsOptions {
                        threads,
                        ..Default::default()
                    },
                )
            })
            .or_raise()?;
        Ok(Self { inner })
    }

    /// Registers `stream` as table `table` (and `<table>_errors`); `schema` is the
    /// input schema in Kinesis Data Analytics' JSON form (`RecordFormat`,
    /// `RecordColumns`). With `replace`, an existing table of that name is replaced.
    #[pyo3(signature = (table, stream, schema_json, replace=false))]
    fn register_stream(
        &self,
        py: Python<'_>,
        table: &str,
        stream: &str,
        schema_json: &str,
        replace: bool,
    ) -> PyResult<()> {
        let schema = InputSchema::from_json(schema_json).or_raise()?;
        py.detach(|| {
            if replace {
                self.inner.replace_stream(table, stream, schema)
            } else {
                self.inner.register_stream(table, stream, schema)
            }
        })
        .or_raise()
    }

    /// Removes a table and its error table.
    fn deregister(&self, table: &str) -> PyResult<()> {
        self.inner.deregister(table).or_raise()
    }

    /// The registered tables: dicts with `name`, `stream`, `schema` (JSON text).
    fn tables<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for t in self.inner.tables() {
            let d = PyDict::new(py);
            d.set_item("name", &t.name)?;
            d.set_item("stream", &t.stream)?;
            d.set_item("schema", t.schema.to_json())?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// Proposes an input schema from up to `sample` records of `stream`: a dict with
    /// `schema` (JSON text), `description` (for people), `sampled`, `unparsable`.
    #[pyo3(signature = (stream, sample=1000))]
    fn infer_schema<'py>(
        &self,
        py: Python<'py>,
        stream: &str,
        sample: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let inference = py
            .detach(|| self.inner.infer_schema(stream, sample))
            .or_raise()?;
        let d = PyDict::new(py);
        d.set_item("schema", inference.schema.to_json())?;
        d.set_item("description", inference.schema.describe())?;
        d.set_item("sampled", inference.sampled)?;
        d.set_item("unparsable", inference.unparsable)?;
        Ok(d)
    }

    /// Runs `query` and returns its result (GIL released while it runs).
    fn sql(&self, py: Python<'_>, query: &str) -> PyResult<SqlResult> {
        let result = py.detach(|| self.inner.sql(query)).or_raise()?;
        Ok(SqlResult {
            result: Arc::new(result),
        })
    }
}

fn scan_dict<'py>(py: Python<'py>, s: &ScanReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("table", &s.table)?;
    d.set_item("stream", &s.stream)?;
    d.set_item("range", &s.range)?;
    d.set_item("shards_total", s.shards_total)?;
    d.set_item("shards_scanned", s.shards_scanned)?;
    d.set_item("segments_total", s.segments_total)?;
    d.set_item("segments_skipped", s.segments_skipped)?;
    d.set_item("records_read", s.records_read)?;
    d.set_item("rows", s.rows)?;
    d.set_item("rejected", s.rejected)?;
    let samples = PyList::empty(py);
    for r in &s.rejected_samples {
        let rd = PyDict::new(py);
        rd.set_item("shard_id", &r.shard_id)?;
        rd.set_item("sequence_number", r.sequence_number.to_string())?;
        rd.set_item("reason", &r.reason)?;
        samples.append(rd)?;
    }
    d.set_item("rejected_samples", samples)?;
    Ok(d)
}

/// A finished query's rows (Arrow) and what its scans did. Any Arrow consumer takes
/// it without copies: `pyarrow.table(r)`, `polars.DataFrame(r)`, `duckdb.sql("SELECT
/// * FROM r")`; `r.to_pandas()` goes through pyarrow.
#[pyclass(frozen, module = "tidelog._tidelog")]
pub struct SqlResult {
    result: Arc<QueryResult>,
}

/// A result object for rows computed elsewhere (an application's callback).
pub(crate) fn sql_result(result: QueryResult) -> SqlResult {
    SqlResult {
        result: Arc::new(result),
    }
}

/// Exports `batches` (of `schema`) as an Arrow C stream capsule.
pub(crate) fn export_batches<'py>(
    py: Python<'py>,
    schema: SchemaRef,
    batches: Vec<ArrowBatch>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let reader = tidelog_analytics::arrow::record_batch::RecordBatchIterator::new(
        batches.into_iter().map(Ok),
        schema,
    );
    stream_capsule(py, Box::new(reader))
}

#[pymethods]
impl SqlResult {
    /// The Arrow PyCapsule stream interface (`requested_schema` is ignored, as the
    /// interface allows: the result keeps its own schema).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        export_batches(
            py,
            Arc::clone(&self.result.schema),
            self.result.batches.clone(),
        )
    }

    /// The Arrow PyCapsule schema interface.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.result.schema)
    }

    /// Rows in the result.
    #[getter]
    fn num_rows(&self) -> usize {
        self.result.num_rows()
    }

    fn __len__(&self) -> usize {
        self.result.num_rows()
    }

    /// The columns' names.
    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.result
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Records that did not decode, over all scans (see `scans`).
    #[getter]
    fn rejected(&self) -> u64 {
        self.result.rejected()
    }

    /// One dict per stream scan: shards and segments read and skipped (the proof of
    /// pushdown), records read, rows, rejected records with reasons.
    #[getter]
    fn scans<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for s in &self.result.scans {
            list.append(scan_dict(py, s)?)?;
        }
        Ok(list)
    }

    /// The result as a `pyarrow.Table` (needs pyarrow).
    fn to_arrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let pa = slf.py().import("pyarrow")?;
        pa.call_method1("table", (slf,))
    }

    /// The result as a pandas `DataFrame` (needs pyarrow and pandas).
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::to_arrow(slf)?.call_method0("to_pandas")
    }

    /// The result as a polars `DataFrame` (needs polars; built from the Arrow stream).
    fn to_polars<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("polars")?.call_method1("DataFrame", (slf,))
    }

    /// The result as a text table.
    fn __str__(&self) -> PyResult<String> {
        self.result.pretty().or_raise()
    }

    fn __repr__(&self) -> String {
        format!(
            "SqlResult(rows={}, columns={:?}, rejected={})",
            self.result.num_rows(),
            self.column_names(),
            self.result.rejected()
        )
    }
}

/// Registers the classes and exceptions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Analytics>()?;
    m.add_class::<SqlResult>()?;
    for (name, class) in [
        ("SqlError", py.get_type::<SqlError>()),
        ("SchemaError", py.get_type::<SchemaError>()),
    ] {
        class.setattr("kind", name.trim_end_matches("Error"))?;
        class.setattr("kinesis_name", "InvalidArgumentException")?;
        m.add(name, class)?;
    }
    Ok(())
}
