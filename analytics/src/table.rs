//! A stream as a SQL table: the DataFusion `TableProvider` over a tidelog stream, and
//! its error table.
//!
//! [`StreamTable`] plans one partition per shard (every shard retention still shows:
//! open ones and closed parents of a reshard alike), so DataFusion reads shards in
//! parallel on its own threads. Pushdown: the projection decides which columns are
//! decoded (a record's other members are skipped unread), conjuncts on
//! `approximate_arrival_time`, `sequence_number` and `shard_id` are answered exactly
//! (`pushdown.rs`: whole segments outside them are never read), and LIMIT stops each
//! partition early. Records that do not decode are counted and sampled in the scan's
//! [`ScanReport`]; [`ErrorsTable`] (`<table>_errors`) lists every one with its reason.
//!
//! Invariants: a query reads a snapshot: each shard up to its last record at planning
//! time; a row comes from exactly one record and a record gives its rows or a
//! rejection, never both; a scan never uses the engine's GetRecords limits (see
//! `Engine::scan_shard`).
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{
    ArrayRef, BinaryBuilder, Decimal128Array, RecordBatch, RecordBatchOptions, StringArray,
    StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use tidelog::Engine;

use crate::parse::RowDecoder;
use crate::pushdown::{self, ScanRange};
use crate::schema::{
    InputSchema, META_ARRIVAL_TIME, META_DATA, META_PARTITION_KEY, META_SEQUENCE_NUMBER,
    META_SHARD_ID, METADATA_COLUMNS, UTC, metadata_type, seq_decimal,
};

/// Rejected records a report keeps in full (the count covers all of them).
pub const REJECTED_SAMPLES_MAX: usize = 100;

/// Records per read from a shard.
const READ_RECORDS: usize = 8192;
/// Bytes per read from a shard (so a batch's text stays far below Arrow's 2 GiB).
const READ_BYTES: usize = 16 << 20;

/// A record that did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its shard.
    pub shard_id: String,
    /// Its sequence number.
    pub sequence_number: u128,
    /// Why.
    pub reason: String,
}

/// What one scan of a stream table did: the proof of pushdown, and the rejections.
#[derive(Debug, Default)]
pub struct ScanStats {
    shards_total: AtomicU64,
    shards_scanned: AtomicU64,
    segments_total: AtomicU64,
    segments_skipped: AtomicU64,
    records_read: AtomicU64,
    rows: AtomicU64,
    rejected: AtomicU64,
    samples: Mutex<Vec<Rejected>>,
}

/// A snapshot of [`ScanStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// The table scanned.
    pub table: String,
    /// The stream behind it.
    pub stream: String,
    /// What the pushed-down filters left to read.
    pub range: String,
    /// Shards of the stream / shards read (the others were pruned by `shard_id`).
    pub shards_total: u64,
    /// See `shards_total`.
    pub shards_scanned: u64,
    /// Segments of the shards read / segments skipped whole by time or sequence range.
    pub segments_total: u64,
    /// See `segments_total`.
    pub segments_skipped: u64,
    /// Records read from the log.
    pub records_read: u64,
    /// Rows produced.
    pub rows: u64,
    /// Records that did not decode (never silently dropped: counted here, the first
    /// [`REJECTED_SAMPLES_MAX`] in `rejected_samples`, every one in `<table>_errors`).
    pub rejected: u64,
    /// The first rejected records, with their reasons.
    pub rejected_samples: Vec<Rejected>,
}

impl ScanStats {
    fn reject(&self, r: Rejected) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() < REJECTED_SAMPLES_MAX {
            samples.push(r);
        }
    }
}

/// What a table scans: a stream and its input schema.
#[derive(Debug, Clone)]
pub struct StreamSource {
    pub(crate) engine: Engine,
    pub(crate) table: String,
    pub(crate) stream: String,
    pub(crate) schema: Arc<InputSchema>,
}

/// A tidelog stream as a SQL table (see the module doc).
#[derive(Debug)]
pub struct StreamTable {
    source: StreamSource,
    arrow_schema: SchemaRef,
}

impl StreamTable {
    /// The table `table` over `stream` with `schema`.
    pub fn new(engine: Engine, table: &str, stream: &str, schema: InputSchema) -> Self {
        let arrow_schema = schema.arrow_schema();
        Self {
            source: StreamSource {
                engine,
                table: table.to_string(),
                stream: stream.to_string(),
                schema: Arc::new(schema),
            },
            arrow_schema,
        }
    }

    /// The input schema.
    pub fn input_schema(&self) -> &InputSchema {
        &self.source.schema
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.source.stream
    }
}

/// The error table of a stream table: one row per record that does not decode under
/// the input schema (every column checked), with the metadata columns and `error`.
#[derive(Debug)]
pub struct ErrorsTable {
    source: StreamSource,
    arrow_schema: SchemaRef,
}

impl ErrorsTable {
    /// The error table of `table` over `stream`.
    pub fn new(engine: Engine, table: &str, stream: &str, schema: InputSchema) -> Self {
        Self {
            source: StreamSource {
                engine,
                table: table.to_string(),
                stream: stream.to_string(),
                schema: Arc::new(schema),
            },
            arrow_schema: errors_schema(),
        }
    }
}

/// The schema of an error table (and of an application's error stream): the metadata
/// columns, then `error` (the reason).
pub fn errors_schema() -> SchemaRef {
    let mut fields: Vec<Field> = METADATA_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, n)| Field::new(*n, metadata_type(i), false))
        .collect();
    fields.push(Field::new("error", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

fn pushdown_of(filters: &[&Expr]) -> Vec<TableProviderFilterPushDown> {
    filters
        .iter()
        .map(|f| {
            if pushdown::supported(f) {
                TableProviderFilterPushDown::Exact
            } else {
                TableProviderFilterPushDown::Unsupported
            }
        })
        .collect()
}

fn range_of(filters: &[Expr]) -> ScanRange {
    let mut range = ScanRange::default();
    for f in filters {
        range.apply(f);
    }
    range
}

#[async_trait]
impl TableProvider for StreamTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.arrow_schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(pushdown_of(filters))
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let projection = projection
            .cloned()
            .unwrap_or_else(|| (0..self.arrow_schema.fields().len()).collect());
        let plan = StreamScanExec::plan(
            self.source.clone(),
            ScanMode::Rows,
            &self.arrow_schema,
            projection,
            range_of(filters),
            limit,
        )
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Arc::new(plan))
    }
}

#[async_trait]
impl TableProvider for ErrorsTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.arrow_schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(pushdown_of(filters))
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let projection = projection
            .cloned()
            .unwrap_or_else(|| (0..self.arrow_schema.fields().len()).collect());
        let plan = StreamScanExec::plan(
            self.source.clone(),
            ScanMode::Errors,
            &self.arrow_schema,
            projection,
            range_of(filters),
            limit,
        )
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Arc::new(plan))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanMode {
    /// Decoded rows.
    Rows,
    /// The records that do not decode, with the reason.
    Errors,
}

/// The sequence windows to read in one shard (merged runs of segments that may hold
/// matching records), in order.
#[derive(Debug, Clone)]
struct ShardPlan {
    shard_id: String,
    windows: Vec<(u128, u128)>,
}

/// The physical scan of a stream table: one partition per shard.
#[derive(Debug)]
pub struct StreamScanExec {
    source: StreamSource,
    mode: ScanMode,
    projected: SchemaRef,
    projection: Vec<usize>,
    range: Arc<ScanRange>,
    limit: Option<usize>,
    shards: Vec<ShardPlan>,
    stats: Arc<ScanStats>,
    properties: Arc<PlanProperties>,
}

impl StreamScanExec {
    fn plan(
        source: StreamSource,
        mode: ScanMode,
        table_schema: &SchemaRef,
        projection: Vec<usize>,
        range: ScanRange,
        limit: Option<usize>,
    ) -> crate::Result<Self> {
        let projected = Arc::new(table_schema.project(&projection)?);
        let stats = Arc::new(ScanStats::default());
        let description = source.engine.describe_stream(&source.stream)?;
        stats
            .shards_total
            .store(description.shards.len() as u64, Ordering::Relaxed);
        let mut shards = Vec::new();
        let (t0, t1) = range.time_bounds();
        let (s0, s1) = range.seq_bounds();
        if !range.is_empty() {
            for shard in &description.shards {
                if !range.wants_shard(&shard.shard_id) {
                    continue;
                }
                let info = match source.engine.scan_segments(&source.stream, &shard.shard_id) {
                    Ok(info) => info,
                    // Expired between describe and now: nothing to read.
                    Err(e) if e.kind() == tidelog::ErrorKind::ResourceNotFound => continue,
                    Err(e) => return Err(e.into()),
                };
                let mut windows: Vec<(u128, u128)> = Vec::new();
                let mut total = 0u64;
                let mut skipped = 0u64;
                // Consecutive segments hold consecutive records: a run of segments
                // that are not skipped is one window.
                let mut previous_read = false;
                for seg in &info.segments {
                    let Some((first, last)) = seg.seqs else {
                        continue;
                    };
                    if last < info.readable_from {
                        continue; // past retention: not part of the table
                    }
                    total += 1;
                    let first = first.max(info.readable_from);
                    let time_misses =
                        (seg.max_timestamp_ms as i64) < t0 || (seg.first_timestamp_ms as i64) > t1;
                    let seq_misses = last < s0 || first > s1;
                    if time_misses || seq_misses {
                        skipped += 1;
                        previous_read = false;
                        continue;
                    }
                    let window = (first.max(s0), last.min(s1));
                    match windows.last_mut() {
                        Some(prev) if previous_read => prev.1 = window.1,
                        _ => windows.push(window),
                    }
                    previous_read = true;
                }
                stats.segments_total.fetch_add(total, Ordering::Relaxed);
                stats.segments_skipped.fetch_add(skipped, Ordering::Relaxed);
                if !windows.is_empty() {
                    shards.push(ShardPlan {
                        shard_id: shard.shard_id.clone(),
                        windows,
                    });
                }
            }
        }
        stats
            .shards_scanned
            .store(shards.len() as u64, Ordering::Relaxed);
        let partitions = shards.len().max(1);
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&projected)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self {
            source,
            mode,
            projected,
            projection,
            range: Arc::new(range),
            limit,
            shards,
            stats,
            properties,
        })
    }

    /// What the scan did so far (complete once the query finished).
    pub fn report(&self) -> ScanReport {
        let s = &self.stats;
        ScanReport {
            table: match self.mode {
                ScanMode::Rows => self.source.table.clone(),
                ScanMode::Errors => format!("{}_errors", self.source.table),
            },
            stream: self.source.stream.clone(),
            range: self.range.to_string(),
            shards_total: s.shards_total.load(Ordering::Relaxed),
            shards_scanned: s.shards_scanned.load(Ordering::Relaxed),
            segments_total: s.segments_total.load(Ordering::Relaxed),
            segments_skipped: s.segments_skipped.load(Ordering::Relaxed),
            records_read: s.records_read.load(Ordering::Relaxed),
            rows: s.rows.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            rejected_samples: s.samples.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

impl DisplayAs for StreamScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                let columns: Vec<&str> = self
                    .projected
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                write!(
                    f,
                    "StreamScanExec: table={}{}, stream={}, shards={}, range=[{}], columns=[{}]",
                    self.source.table,
                    if self.mode == ScanMode::Errors {
                        "_errors"
                    } else {
                        ""
                    },
                    self.source.stream,
                    self.shards.len(),
                    self.range,
                    columns.join(", ")
                )?;
                if let Some(limit) = self.limit {
                    write!(f, ", limit={limit}")?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => write!(f, "stream={}", self.source.stream),
        }
    }
}

impl ExecutionPlan for StreamScanExec {
    fn name(&self) -> &str {
        "StreamScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let schema = Arc::clone(&self.projected);
        let Some(plan) = self.shards.get(partition).cloned() else {
            // No shard to read (all pruned): the one empty partition.
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::empty(),
            )));
        };
        let reader = ShardReader::new(self, plan);
        let stream = futures::stream::unfold(reader, |mut reader| async move {
            let next = reader.next_batch();
            next.map(|batch| (batch, reader))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// Which column of the output each projected field is.
#[derive(Debug, Clone, Copy)]
enum Out {
    /// The i-th decoded column.
    Decoded(usize),
    /// A metadata column.
    Meta(usize),
    /// The error table's `error`.
    Error,
}

struct ShardReader {
    source: StreamSource,
    mode: ScanMode,
    schema: SchemaRef,
    plan: ShardPlan,
    window: usize,
    next_seq: u128,
    range: Arc<ScanRange>,
    decoder: RowDecoder,
    outputs: Vec<Out>,
    want_meta: [bool; 5],
    limit: Option<usize>,
    produced: usize,
    stats: Arc<ScanStats>,
    done: bool,
}

impl ShardReader {
    fn new(exec: &StreamScanExec, plan: ShardPlan) -> Self {
        let columns = exec.source.schema.columns().len();
        let mut wanted = Vec::new();
        let mut outputs = Vec::new();
        let mut want_meta = [false; 5];
        for &i in &exec.projection {
            match exec.mode {
                ScanMode::Rows if i < columns => {
                    outputs.push(Out::Decoded(wanted.len()));
                    wanted.push(i);
                }
                ScanMode::Rows => {
                    want_meta[i - columns] = true;
                    outputs.push(Out::Meta(i - columns));
                }
                ScanMode::Errors if i < METADATA_COLUMNS.len() => {
                    want_meta[i] = true;
                    outputs.push(Out::Meta(i));
                }
                ScanMode::Errors => outputs.push(Out::Error),
            }
        }
        if exec.mode == ScanMode::Errors {
            // Strict: a record is in the error table if any column fails.
            wanted = (0..columns).collect();
        }
        let decoder = RowDecoder::new(&exec.source.schema, &wanted);
        let next_seq = plan.windows[0].0;
        Self {
            source: exec.source.clone(),
            mode: exec.mode,
            schema: Arc::clone(&exec.projected),
            plan,
            window: 0,
            next_seq,
            range: Arc::clone(&exec.range),
            decoder,
            outputs,
            want_meta,
            limit: exec.limit,
            produced: 0,
            stats: Arc::clone(&exec.stats),
            done: false,
        }
    }

    fn next_batch(&mut self) -> Option<DfResult<RecordBatch>> {
        match self.read() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(DataFusionError::External(Box::new(e))))
            }
        }
    }

    fn read(&mut self) -> crate::Result<Option<RecordBatch>> {
        let mut meta = MetaColumns {
            want_shard: self.want_meta[META_SHARD_ID],
            ..MetaColumns::default()
        };
        let mut errors: Vec<String> = Vec::new();
        let mut rows = 0usize;
        let room = |produced: usize, rows: usize, limit: Option<usize>| {
            limit.is_none_or(|l| produced + rows < l)
        };
        while !self.done && rows < READ_RECORDS && room(self.produced, rows, self.limit) {
            let Some(&(_, window_end)) = self.plan.windows.get(self.window) else {
                self.done = true;
                break;
            };
            let want = (window_end - self.next_seq).min(READ_RECORDS as u128 - 1) as usize + 1;
            let batch = self.source.engine.scan_shard(
                &self.source.stream,
                &self.plan.shard_id,
                self.next_seq,
                want.min(READ_RECORDS),
                READ_BYTES,
            )?;
            if batch.is_empty() {
                // Nothing more in this shard (retention may have removed the rest).
                self.done = true;
                break;
            }
            let mut advanced_window = false;
            for record in batch.iter() {
                if record.seq > window_end {
                    self.window += 1;
                    match self.plan.windows.get(self.window) {
                        Some(&(start, _)) => self.next_seq = start,
                        None => self.done = true,
                    }
                    advanced_window = true;
                    break;
                }
                self.next_seq = record.seq + 1;
                self.stats.records_read.fetch_add(1, Ordering::Relaxed);
                let time = record.timestamp_ms as i64;
                if !self.range.matches(record.seq, time) {
                    continue;
                }
                match self.mode {
                    ScanMode::Rows => {
                        let mut added = 0;
                        match self.decoder.decode(record.data, &mut added) {
                            Ok(()) => {
                                for _ in 0..added {
                                    meta.push(&self.want_meta, &record)?;
                                }
                                rows += added;
                            }
                            Err(reason) => self.stats.reject(Rejected {
                                shard_id: self.plan.shard_id.clone(),
                                sequence_number: record.seq,
                                reason,
                            }),
                        }
                    }
                    ScanMode::Errors => {
                        if let Some(reason) = self.decoder.check(record.data) {
                            meta.push(&self.want_meta, &record)?;
                            errors.push(reason);
                            rows += 1;
                        }
                    }
                }
                if !room(self.produced, rows, self.limit) {
                    self.done = true;
                    break;
                }
            }
            if !advanced_window && self.next_seq > window_end {
                self.window += 1;
                match self.plan.windows.get(self.window) {
                    Some(&(start, _)) => self.next_seq = start,
                    None => self.done = true,
                }
            }
        }
        if let Some(limit) = self.limit
            && self.produced + rows >= limit
        {
            self.done = true;
        }
        if rows == 0 {
            return Ok(None);
        }
        self.produced += rows;
        self.stats.rows.fetch_add(rows as u64, Ordering::Relaxed);
        let decoded = self.decoder.finish();
        let mut meta_arrays = meta.finish(&self.plan.shard_id)?;
        let error_array: Option<ArrayRef> = (self.mode == ScanMode::Errors)
            .then(|| Arc::new(StringArray::from(std::mem::take(&mut errors))) as ArrayRef);
        let columns: Vec<ArrayRef> = self
            .outputs
            .iter()
            .map(|o| match o {
                Out::Decoded(i) => Arc::clone(&decoded[*i]),
                Out::Meta(m) => meta_arrays[*m]
                    .take()
                    .expect("each metadata column is projected once"),
                Out::Error => Arc::clone(error_array.as_ref().expect("errors mode")),
            })
            .collect();
        let batch = RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        Ok(Some(batch))
    }
}

/// The metadata columns of a batch being built (only the projected ones are filled).
#[derive(Default)]
struct MetaColumns {
    want_shard: bool,
    rows: usize,
    seqs: Vec<i128>,
    keys: Option<StringBuilder>,
    times: Vec<i64>,
    data: Option<BinaryBuilder>,
}

impl MetaColumns {
    fn push(&mut self, want: &[bool; 5], record: &tidelog::Record<'_>) -> crate::Result<()> {
        self.rows += 1;
        if want[META_SEQUENCE_NUMBER] {
            let seq = seq_decimal(record.seq).ok_or_else(|| {
                crate::Error::Invalid(format!(
                    "sequence number {} does not fit DECIMAL(38,0)",
                    record.seq
                ))
            })?;
            self.seqs.push(seq);
        }
        if want[META_PARTITION_KEY] {
            self.keys
                .get_or_insert_with(StringBuilder::new)
                .append_value(record.key_str());
        }
        if want[META_ARRIVAL_TIME] {
            self.times.push(record.timestamp_ms as i64);
        }
        if want[META_DATA] {
            self.data
                .get_or_insert_with(BinaryBuilder::new)
                .append_value(record.data);
        }
        Ok(())
    }

    /// The columns, indexed like [`METADATA_COLUMNS`] (unprojected ones are empty
    /// and never used).
    fn finish(&mut self, shard_id: &str) -> crate::Result<Vec<Option<ArrayRef>>> {
        let rows = std::mem::take(&mut self.rows);
        let mut out: Vec<Option<ArrayRef>> = vec![None; METADATA_COLUMNS.len()];
        if self.want_shard {
            out[META_SHARD_ID] = Some(Arc::new(StringArray::from(vec![shard_id; rows])));
        }
        out[META_SEQUENCE_NUMBER] = Some(Arc::new(
            Decimal128Array::from(std::mem::take(&mut self.seqs))
                .with_precision_and_scale(38, 0)?,
        ));
        out[META_PARTITION_KEY] = Some(Arc::new(
            self.keys
                .take()
                .map_or_else(|| StringArray::from(Vec::<&str>::new()), |mut b| b.finish()),
        ));
        out[META_ARRIVAL_TIME] = Some(Arc::new(
            TimestampMillisecondArray::from(std::mem::take(&mut self.times)).with_timezone(UTC),
        ));
        out[META_DATA] = Some(Arc::new(self.data.take().map_or_else(
            || arrow::array::BinaryArray::from(Vec::<&[u8]>::new()),
            |mut b| b.finish(),
        )));
        Ok(out)
    }
}
