//! The SQL session: DataFusion over an engine's streams, on threads of its own.
//!
//! [`Analytics`] owns a DataFusion `SessionContext` and a tokio runtime whose worker
//! threads (`tidelog-sql-N`) run every query: a caller's thread only waits for the
//! answer, so a query never runs on a glommio core (nor on a caller's own tokio
//! runtime). Streams are registered as tables with an input schema; each also gets an
//! error table `<table>_errors`.
//!
//! Invariants: a table name is registered at most once (registering again is an
//! error, `replace_stream` replaces); [`QueryResult`] carries every stream scan's
//! report, so rejected records are visible with the result that skipped them; the
//! session is `Send + Sync` and may be shared by threads.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatchReader;
use datafusion::execution::context::SessionContext;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanVisitor, accept};
use datafusion::prelude::SessionConfig;
use futures::StreamExt;
use tidelog::Engine;

use crate::error::{Error, Result};
use crate::schema::{Inference, InputSchema, infer_json_schema};
use crate::table::{ErrorsTable, ScanReport, StreamScanExec, StreamTable};

/// How to build an [`Analytics`] session.
#[derive(Debug, Clone)]
pub struct AnalyticsOptions {
    /// Worker threads of the session's runtime (and DataFusion's target partitions);
    /// `None`: one per CPU.
    pub threads: Option<usize>,
    /// Rows per batch DataFusion's operators aim for.
    pub batch_size: usize,
}

impl Default for AnalyticsOptions {
    fn default() -> Self {
        Self {
            threads: None,
            batch_size: 8192,
        }
    }
}

/// A registered table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// The table's name (its error table is `<name>_errors`).
    pub name: String,
    /// The stream it reads.
    pub stream: String,
    /// Its input schema.
    pub schema: InputSchema,
}

struct Inner {
    engine: Engine,
    runtime: tokio::runtime::Runtime,
    ctx: SessionContext,
    tables: Mutex<BTreeMap<String, TableInfo>>,
}

/// SQL over an engine's streams (see the module doc). Cheap to clone.
#[derive(Clone)]
pub struct Analytics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Analytics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analytics")
            .field("tables", &self.tables())
            .finish_non_exhaustive()
    }
}

/// A finished query: its schema, batches, and what each stream scan did.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The result's schema.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// One report per stream table scanned.
    pub scans: Vec<ScanReport>,
}

impl QueryResult {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Records that did not decode, over all scans.
    pub fn rejected(&self) -> u64 {
        self.scans.iter().map(|s| s.rejected).sum()
    }

    /// The result as one batch.
    pub fn concat(&self) -> Result<RecordBatch> {
        Ok(arrow::compute::concat_batches(&self.schema, &self.batches)?)
    }

    /// The result as a text table (for people).
    pub fn pretty(&self) -> Result<String> {
        Ok(arrow::util::pretty::pretty_format_batches(&self.batches)?.to_string())
    }

    /// The result as a `RecordBatchReader` (for the Arrow C Stream Interface).
    pub fn into_reader(self) -> QueryReader {
        QueryReader {
            schema: self.schema,
            batches: self.batches.into_iter(),
        }
    }
}

/// A finished result read batch by batch (implements `RecordBatchReader`).
#[derive(Debug)]
pub struct QueryReader {
    schema: SchemaRef,
    batches: std::vec::IntoIter<RecordBatch>,
}

impl Iterator for QueryReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.batches.next().map(Ok)
    }
}

impl RecordBatchReader for QueryReader {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// A running query's results as they come (implements `RecordBatchReader`); the
/// query runs on the session's threads, at most two batches ahead of the reader.
pub struct QueryStream {
    schema: SchemaRef,
    receiver: tokio::sync::mpsc::Receiver<std::result::Result<RecordBatch, ArrowError>>,
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Iterator for QueryStream {
    type Item = std::result::Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.receiver.blocking_recv()
    }
}

impl RecordBatchReader for QueryStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

struct ScanCollector(Vec<ScanReport>);

impl ExecutionPlanVisitor for ScanCollector {
    type Error = std::convert::Infallible;
    fn pre_visit(&mut self, plan: &dyn ExecutionPlan) -> std::result::Result<bool, Self::Error> {
        if let Some(scan) = (plan as &dyn std::any::Any).downcast_ref::<StreamScanExec>() {
            self.0.push(scan.report());
        }
        Ok(true)
    }
}

fn validate_table_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "table name {name:?}: 1 to 128 characters of A-Z, a-z, 0-9, '_', '-', '.'"
        )))
    }
}

impl Analytics {
    /// A session over `engine` with default options.
    pub fn new(engine: &Engine) -> Result<Self> {
        Self::with_options(engine, AnalyticsOptions::default())
    }

    /// A session over `engine`.
    pub fn with_options(engine: &Engine, options: AnalyticsOptions) -> Result<Self> {
        let threads = match options.threads {
            Some(0) => return Err(Error::Invalid("threads must be at least 1".into())),
            Some(n) if n > 1024 => {
                return Err(Error::Invalid("threads must be at most 1024".into()));
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if options.batch_size == 0 || options.batch_size > 1 << 20 {
            return Err(Error::Invalid("batch_size must be 1 to 1,048,576".into()));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("tidelog-sql")
            .enable_time()
            .build()
            .map_err(|e| Error::Io {
                path: "(tokio runtime)".into(),
                source: e,
            })?;
        let mut config = SessionConfig::new()
            .with_target_partitions(threads)
            .with_batch_size(options.batch_size)
            .with_information_schema(true);
        // Numeric literals are exact (SQL's rule): a sequence number's 29+ digits stay a
        // DECIMAL instead of becoming a float, and 0.1 + 0.2 is 0.3.
        config.options_mut().sql_parser.parse_float_as_decimal = true;
        let ctx = SessionContext::new_with_config(config);
        Ok(Self {
            inner: Arc::new(Inner {
                engine: engine.clone(),
                runtime,
                ctx,
                tables: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// The engine the session reads.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The DataFusion context (to register functions or other tables). Run queries
    /// through [`sql`](Self::sql) so they stay on the session's threads.
    pub fn context(&self) -> &SessionContext {
        &self.inner.ctx
    }

    fn tables_lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TableInfo>> {
        self.inner.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `stream` as the table `table` (and `<table>_errors`), with `schema`.
    pub fn register_stream(&self, table: &str, stream: &str, schema: InputSchema) -> Result<()> {
        self.register(table, stream, schema, false)
    }

    /// Like [`register_stream`](Self::register_stream), replacing a table of that name.
    pub fn replace_stream(&self, table: &str, stream: &str, schema: InputSchema) -> Result<()> {
        self.register(table, stream, schema, true)
    }

    fn register(
        &self,
        table: &str,
        stream: &str,
        schema: InputSchema,
        replace: bool,
    ) -> Result<()> {
        validate_table_name(table)?;
        // The stream must exist now (it may be deleted later; queries then fail).
        self.inner.engine.describe_stream_summary(stream)?;
        let mut tables = self.tables_lock();
        let errors_name = format!("{table}_errors");
        if !replace {
            if tables.contains_key(table) {
                return Err(Error::Exists(format!("table {table:?}")));
            }
            if self.inner.ctx.table_exist(table)?
                || self.inner.ctx.table_exist(errors_name.as_str())?
            {
                return Err(Error::Exists(format!(
                    "a table named {table:?} or {errors_name:?}"
                )));
            }
        }
        let engine = self.inner.engine.clone();
        self.inner.ctx.deregister_table(table)?;
        self.inner.ctx.deregister_table(errors_name.as_str())?;
        self.inner.ctx.register_table(
            table,
            Arc::new(StreamTable::new(
                engine.clone(),
                table,
                stream,
                schema.clone(),
            )),
        )?;
        self.inner.ctx.register_table(
            errors_name.as_str(),
            Arc::new(ErrorsTable::new(engine, table, stream, schema.clone())),
        )?;
        tables.insert(
            table.to_string(),
            TableInfo {
                name: table.to_string(),
                stream: stream.to_string(),
                schema,
            },
        );
        Ok(())
    }

    /// Removes a table (and its error table).
    pub fn deregister(&self, table: &str) -> Result<()> {
        let mut tables = self.tables_lock();
        if tables.remove(table).is_none() {
            return Err(Error::NotFound(format!("table {table:?}")));
        }
        self.inner.ctx.deregister_table(table)?;
        self.inner
            .ctx
            .deregister_table(format!("{table}_errors").as_str())?;
        Ok(())
    }

    /// The registered tables, by name.
    pub fn tables(&self) -> Vec<TableInfo> {
        self.tables_lock().values().cloned().collect()
    }

    /// Proposes a JSON input schema for `stream` from up to `sample` records, taken
    /// from the oldest retained records of each shard in turn.
    pub fn infer_schema(&self, stream: &str, sample: usize) -> Result<Inference> {
        if sample == 0 || sample > 100_000 {
            return Err(Error::Invalid("sample must be 1 to 100,000 records".into()));
        }
        let engine = &self.inner.engine;
        let shards = engine.describe_stream(stream)?.shards;
        let per_shard = sample.div_ceil(shards.len().max(1));
        let mut batches = Vec::new();
        for shard in &shards {
            let info = engine.scan_segments(stream, &shard.shard_id)?;
            let batch = engine.scan_shard(
                stream,
                &shard.shard_id,
                info.readable_from,
                per_shard,
                16 << 20,
            )?;
            batches.push(batch);
        }
        let records = batches
            .iter()
            .flat_map(|b| b.iter().map(|r| r.data))
            .take(sample);
        infer_json_schema(records)
    }

    /// Runs `query` to completion on the session's threads.
    pub fn sql(&self, query: &str) -> Result<QueryResult> {
        let ctx = self.inner.ctx.clone();
        let query = query.to_string();
        self.run(async move {
            let df = ctx.sql(&query).await?;
            let plan = df.create_physical_plan().await?;
            let schema = plan.schema();
            let task_ctx = ctx.task_ctx();
            let batches = datafusion::physical_plan::collect(Arc::clone(&plan), task_ctx).await?;
            let mut collector = ScanCollector(Vec::new());
            let _ = accept(plan.as_ref(), &mut collector);
            Ok(QueryResult {
                schema,
                batches,
                scans: collector.0,
            })
        })
    }

    /// Plans `query` and streams its results as they are computed.
    pub fn sql_stream(&self, query: &str) -> Result<QueryStream> {
        let ctx = self.inner.ctx.clone();
        let query = query.to_string();
        let stream = self.run(async move {
            let df = ctx.sql(&query).await?;
            Ok(df.execute_stream().await?)
        })?;
        let schema = stream.schema();
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        self.inner.runtime.spawn(async move {
            let mut stream = stream;
            while let Some(item) = stream.next().await {
                let item = item.map_err(|e| ArrowError::ExternalError(Box::new(e)));
                let failed = item.is_err();
                if sender.send(item).await.is_err() || failed {
                    break; // the reader went away, or the query failed
                }
            }
        });
        Ok(QueryStream { schema, receiver })
    }

    /// Runs a future on the session's threads and waits for it on this one.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        future: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.inner.runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(Error::Sql(
                "the query's task ended without an answer (panicked)".into(),
            ))
        })
    }
}
