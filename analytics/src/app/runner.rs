//! The application runner: reads the input stream's shards, decodes records into
//! `SOURCE_SQL_STREAM_001` rows, runs every pump (with its window operator) in epochs,
//! and delivers the in-application streams connected to outputs into tidelog streams,
//! exactly once across crashes.
//!
//! One epoch:
//! 1. read up to `max_records_per_shard` new records of each shard (zero-copy) and
//!    compute the watermark `M` (ROWTIME windows): the minimum over shards of the last
//!    arrival time read, where a shard with nothing more to read counts as
//!    `now - watermark_delay_ms` and a closed shard read to its end does not count;
//! 2. write the **intent** (epoch number, the exact sequence range read from each
//!    shard, `M`) durably;
//! 3. decode, run the pumps in declaration order (each pump's output rows get
//!    `ROWTIME = M`), collect late and undecodable rows into `error_stream`;
//! 4. put each output's rows into its stream, each record's partition key being its
//!    identity `<application>:<epoch>:<output>:<row>` (into a Firehose delivery
//!    stream: `put_record_batch_with_ids`, the identity kept beside the record in the
//!    delivery stream's durable buffer); call the callbacks;
//! 5. write the **checkpoint** (epoch, input positions after the ranges read, `M`, each
//!    window operator's state as Arrow IPC, each table function's model as bytes, each
//!    output stream's shard positions and each delivery stream's buffer position).
//!
//! Restart: the checkpoint is loaded; if the intent names the next epoch, that epoch is
//! computed again from the same ranges, the same `M` and the same state, so it yields
//! the same rows in the same order; the output streams (and delivery streams' buffers)
//! are scanned from the positions the checkpoint recorded, and rows whose identity is
//! already there are not put again.
//! Hence every output row is delivered once, whatever instant the process died at.
//!
//! Invariants: an epoch's result depends only on (checkpointed state, intent), never on
//! the wall clock or on thread timing (DataFusion runs each pump with one partition);
//! ROWTIME is the record's arrival time (stamped by the engine, so a replay gives the
//! same ROWTIME); nothing is dropped silently (late rows and records that do not decode
//! are rows of `error_stream`).
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Decimal128Array, RecordBatch, StringArray,
    TimestampMillisecondArray, new_null_array,
};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde_json::{Value, json};
use tidelog::engine::ShardFilter;
use tidelog::{Engine, PutRecordsEntry};

use super::config::{
    AppDefinition, ERROR_STREAM, InputKind, OutputConfig, OutputFormat, OutputKind, StartFrom,
};
use super::dialect::{
    Pump, Statement, TABLE_FUNCTION, WindowSpec, group_by_items, parse_application,
};
use super::functions::FunctionOp;
use super::pump::PumpQuery;
use super::store::{self, MAGIC_CHECKPOINT, MAGIC_INTENT};
use super::window::{FixedWindows, KeyedWindows, LateRow, ROWTIME, WINDOW_START, row_keys};
use crate::error::{Error, Result};
use crate::parse::RowDecoder;
use crate::schema::{InputSchema, UTC, seq_decimal, timestamp_type};

/// A function called with each epoch's rows of an in-application stream:
/// (stream, epoch, rows). Called before the epoch commits, so after a crash an epoch
/// may be given again (with the same epoch number and rows): at least once.
pub type Callback = Arc<dyn Fn(&str, u64, &RecordBatch) + Send + Sync>;

/// The input's metadata columns after the schema's: arrival time, partition key,
/// shard, sequence number.
pub const SOURCE_META: [&str; 4] = [
    "APPROXIMATE_ARRIVAL_TIME",
    "PARTITION_KEY",
    "SHARD_ID",
    "SEQUENCE_NUMBER",
];

const NEW: &str = "__new";

/// Counters of a running application.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Epochs committed.
    pub epochs: u64,
    /// Input records read.
    pub records_in: u64,
    /// Records put into output streams.
    pub records_out: u64,
    /// Rows of `error_stream` (late rows and records that did not decode).
    pub errors: u64,
}

/// What one [`AppRunner::step`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Nothing to do (no epoch ran).
    pub idle: bool,
    /// Input records read.
    pub records: usize,
    /// Records put into output streams.
    pub delivered: usize,
    /// Every shard was read to its end.
    pub caught_up: bool,
}

/// A row of `error_stream` in the making.
struct ErrorRow {
    name: &'static str,
    message: String,
    shard: Option<String>,
    seq: Option<u128>,
    data: String,
}

enum Operator {
    Plain,
    Fixed(FixedWindows),
    Keyed {
        windows: KeyedWindows,
        keys: Vec<String>,
        max_event: i64,
        lateness: i64,
    },
    Sliding {
        range_ms: Option<i64>,
        rows: Option<(u64, Vec<String>)>,
        history: Option<RecordBatch>,
        sql: String,
    },
    /// A table function: the CURSOR's query, then the function.
    Function {
        cursor: Box<PumpQuery>,
        function: Box<FunctionOp>,
    },
}

struct CompiledPump {
    query: PumpQuery,
    op: Operator,
    source_schema: SchemaRef,
    target_schema: SchemaRef,
    /// For each declared column of the target: the result column feeding it.
    mapping: Vec<Option<usize>>,
    result_width: usize,
    /// Fixed windows: the source columns their rows keep (what the SELECT reads, and
    /// the window's time column), by index; `None`: all of them.
    window_columns: Option<Vec<usize>>,
}

/// An application's SQL compiled against its input schema: in-application streams and
/// pumps, checked by DataFusion's planner.
pub struct Compiled {
    streams: BTreeMap<String, SchemaRef>,
    pumps: Vec<CompiledPump>,
    references: BTreeMap<String, RecordBatch>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("streams", &self.streams.keys().collect::<Vec<_>>())
            .field(
                "pumps",
                &self
                    .pumps
                    .iter()
                    .map(|p| &p.query.pump().name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Compiled {
    /// The in-application streams and their columns (ROWTIME first).
    pub fn streams(&self) -> &BTreeMap<String, SchemaRef> {
        &self.streams
    }

    /// The pumps, in order.
    pub fn pumps(&self) -> Vec<&Pump> {
        self.pumps.iter().map(|p| p.query.pump()).collect()
    }
}

/// The rows of `SOURCE_SQL_STREAM_001`: ROWTIME, the schema's columns, then
/// [`SOURCE_META`].
pub fn source_schema(schema: &InputSchema) -> SchemaRef {
    let mut fields = vec![Field::new(ROWTIME, timestamp_type(), false)];
    for c in schema.columns() {
        fields.push(Field::new(&c.name, c.sql_type.arrow_type(), true));
    }
    fields.push(Field::new(SOURCE_META[0], timestamp_type(), false));
    fields.push(Field::new(SOURCE_META[1], DataType::Utf8, false));
    fields.push(Field::new(SOURCE_META[2], DataType::Utf8, false));
    fields.push(Field::new(
        SOURCE_META[3],
        DataType::Decimal128(38, 0),
        false,
    ));
    Arc::new(Schema::new(fields))
}

/// The rows of `error_stream`.
pub fn error_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(ROWTIME, timestamp_type(), false),
        Field::new("ERROR_NAME", DataType::Utf8, false),
        Field::new("MESSAGE", DataType::Utf8, false),
        Field::new("SHARD_ID", DataType::Utf8, true),
        Field::new("SEQUENCE_NUMBER", DataType::Utf8, true),
        Field::new("DATA_ROW", DataType::Utf8, false),
    ]))
}

fn with_column(batch: &RecordBatch, name: &str, column: ArrayRef) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(name, column.data_type().clone(), true));
    let mut columns = batch.columns().to_vec();
    columns.push(column);
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn window_schema(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(WINDOW_START, timestamp_type(), false));
    Arc::new(Schema::new(fields))
}

/// Loads a reference table's file: each line a record (CSV: the whole file is split
/// by the schema's row delimiter).
pub fn load_reference(path: &Path, schema: &InputSchema) -> Result<RecordBatch> {
    let text = std::fs::read(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let all: Vec<usize> = (0..schema.columns().len()).collect();
    let mut decoder = RowDecoder::new(schema, &all);
    let records: Vec<&[u8]> = match schema.format() {
        crate::schema::RecordFormat::Json => text
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .collect(),
        crate::schema::RecordFormat::Csv { .. } => vec![&text[..]],
    };
    for (n, record) in records.iter().enumerate() {
        let mut added = 0;
        decoder.decode(record, &mut added).map_err(|reason| {
            Error::Invalid(format!(
                "reference file {}: record {}: {reason}",
                path.display(),
                n + 1
            ))
        })?;
    }
    let columns = decoder.finish();
    let fields: Vec<Field> = schema
        .columns()
        .iter()
        .map(|c| Field::new(&c.name, c.sql_type.arrow_type(), true))
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Compiles an application's code: every statement parsed, every pump planned by
/// DataFusion against its source's columns (errors name the pump and the position).
pub fn compile(def: &AppDefinition, rt: &tokio::runtime::Runtime) -> Result<Compiled> {
    let statements = parse_application(&def.code)?;
    let source = def.source_stream();
    let mut streams: BTreeMap<String, SchemaRef> = BTreeMap::new();
    streams.insert(source.clone(), source_schema(&def.input_schema));
    streams.insert(ERROR_STREAM.to_string(), error_schema());
    let mut declared: Vec<(String, Vec<(String, crate::schema::SqlType)>)> = Vec::new();
    let mut references = BTreeMap::new();
    for r in &def.reference_tables {
        references.insert(
            r.name.clone(),
            load_reference(Path::new(&r.path), &r.schema)?,
        );
    }
    let mut pumps: Vec<CompiledPump> = Vec::new();
    let mut fed: BTreeSet<String> = BTreeSet::new();
    for statement in statements {
        match statement {
            Statement::CreateStream { name, columns } => {
                if name == source || name == ERROR_STREAM {
                    return Err(Error::Sql(format!(
                        "CREATE STREAM {name:?}: that name is the input's or the error stream's"
                    )));
                }
                if references.contains_key(&name) {
                    return Err(Error::Sql(format!(
                        "CREATE STREAM {name:?}: a reference table has that name"
                    )));
                }
                if fed.contains(&name) || pumps.iter().any(|p| p.query.pump().source == name) {
                    return Err(Error::Sql(format!(
                        "CREATE OR REPLACE STREAM {name:?}: a pump already uses it; replace it before its pumps"
                    )));
                }
                let mut fields = vec![Field::new(ROWTIME, timestamp_type(), false)];
                let mut seen = BTreeSet::new();
                for (c, t) in &columns {
                    if c == ROWTIME || !seen.insert(c.clone()) {
                        return Err(Error::Sql(format!(
                            "stream {name:?}: column {c:?} is declared twice (or is ROWTIME)"
                        )));
                    }
                    fields.push(Field::new(c, t.arrow_type(), true));
                }
                streams.insert(name.clone(), Arc::new(Schema::new(fields)));
                declared.retain(|(n, _)| n != &name);
                declared.push((name, columns));
            }
            Statement::CreatePump(pump) => {
                let what = format!("pump {:?}", pump.name);
                if pumps.iter().any(|p| p.query.pump().name == pump.name) {
                    return Err(Error::Sql(format!("{what} is declared twice")));
                }
                let Some(source_schema) = streams.get(&pump.source).cloned() else {
                    return Err(Error::Sql(format!(
                        "{what} reads {:?}, which is not an in-application stream (the input is {source:?}; declare streams with CREATE STREAM before the pumps that use them)",
                        pump.source
                    )));
                };
                if pump.source == ERROR_STREAM && pump.target == ERROR_STREAM {
                    return Err(Error::Sql(format!("{what} reads and writes error_stream")));
                }
                let Some((_, columns)) = declared.iter().find(|(n, _)| n == &pump.target) else {
                    return Err(Error::Sql(format!(
                        "{what} inserts into {:?}, which no CREATE STREAM before it declares",
                        pump.target
                    )));
                };
                if pump.target == pump.source {
                    return Err(Error::Sql(format!(
                        "{what} reads and writes the same stream"
                    )));
                }
                if pumps.iter().any(|p| p.query.pump().source == pump.target) {
                    return Err(Error::Sql(format!(
                        "{what} inserts into {:?}, which an earlier pump reads: declare pumps in the order rows flow",
                        pump.target
                    )));
                }
                let target_schema = Arc::clone(&streams[&pump.target]);
                let mapping: Vec<Option<usize>> = if pump.target_columns.is_empty() {
                    (0..columns.len()).map(Some).collect()
                } else {
                    for c in &pump.target_columns {
                        if !columns.iter().any(|(n, _)| n == c) {
                            return Err(Error::Sql(format!(
                                "{what}: stream {:?} has no column {c:?}",
                                pump.target
                            )));
                        }
                    }
                    columns
                        .iter()
                        .map(|(n, _)| pump.target_columns.iter().position(|c| c == n))
                        .collect()
                };
                let result_width = mapping.iter().flatten().count();
                let lateness = def.options.allowed_lateness_ms;
                let (op, plan_schema) = match &pump.window {
                    _ if pump.function.is_some() => {
                        let f = pump.function.as_ref().expect("checked");
                        let cursor = PumpQuery::new(Pump {
                            select: f.cursor.clone(),
                            function: None,
                            ..pump.clone()
                        });
                        for (name, rows) in &references {
                            cursor.set_table(name, rows.clone())?;
                        }
                        let cursor_schema = rt
                            .block_on(cursor.plan_schema(
                                RecordBatch::new_empty(Arc::clone(&source_schema)),
                                &f.cursor,
                            ))
                            .map_err(|e| Error::Sql(format!("{what}: CURSOR: {e}")))?;
                        let function = FunctionOp::new(&f.kind, &cursor_schema, seed(&pump.name))
                            .map_err(|e| Error::Sql(format!("{what}: {e}")))?;
                        let schema = function.output_schema();
                        (
                            Operator::Function {
                                cursor: Box::new(cursor),
                                function: Box::new(function),
                            },
                            schema,
                        )
                    }
                    WindowSpec::None => (Operator::Plain, Arc::clone(&source_schema)),
                    WindowSpec::Tumbling { .. } | WindowSpec::Hopping { .. } => (
                        Operator::Fixed(
                            FixedWindows::from_spec(&pump.window, lateness)
                                .expect("tumbling or hopping"),
                        ),
                        window_schema(&source_schema),
                    ),
                    WindowSpec::Session { gap_ms, time } => (
                        Operator::Keyed {
                            windows: KeyedWindows::session(*gap_ms, time.clone()),
                            keys: group_by_items(&pump.select)?,
                            max_event: i64::MIN,
                            lateness,
                        },
                        window_schema(&source_schema),
                    ),
                    WindowSpec::Stagger {
                        size_ms,
                        partition_by,
                    } => (
                        Operator::Keyed {
                            windows: KeyedWindows::stagger(*size_ms),
                            keys: partition_by.clone(),
                            max_event: i64::MIN,
                            lateness,
                        },
                        window_schema(&source_schema),
                    ),
                    WindowSpec::SlidingRange { range_ms } => (
                        Operator::Sliding {
                            range_ms: Some(*range_ms),
                            rows: None,
                            history: None,
                            sql: sliding_sql(&pump.select)?,
                        },
                        Arc::clone(&source_schema),
                    ),
                    WindowSpec::SlidingRows { rows, partition_by } => (
                        Operator::Sliding {
                            range_ms: None,
                            rows: Some((*rows, partition_by.clone())),
                            history: None,
                            sql: sliding_sql(&pump.select)?,
                        },
                        Arc::clone(&source_schema),
                    ),
                };
                let query = if pump.function.is_some() {
                    PumpQuery::with_table(pump.clone(), TABLE_FUNCTION)
                } else {
                    PumpQuery::new(pump.clone())
                };
                for (name, rows) in &references {
                    query.set_table(name, rows.clone())?;
                }
                let empty = RecordBatch::new_empty(Arc::clone(&plan_schema));
                let (sql, probe) = match &op {
                    Operator::Sliding { sql, .. } => (
                        sql.clone(),
                        with_column(
                            &empty,
                            NEW,
                            Arc::new(BooleanArray::from(Vec::<bool>::new())),
                        )?,
                    ),
                    _ => (pump.select.clone(), empty.clone()),
                };
                let width = rt
                    .block_on(query.plan_sql(probe, &sql))
                    .map_err(|e| Error::Sql(format!("{what}: {e}")))?;
                if width != result_width {
                    return Err(Error::Sql(format!(
                        "{what}: its SELECT gives {width} columns; {:?} takes {result_width}",
                        pump.target
                    )));
                }
                if let Operator::Keyed { keys, .. } = &op {
                    if keys.is_empty() && matches!(pump.window, WindowSpec::Stagger { .. }) {
                        return Err(Error::Sql(format!("{what}: STAGGER needs PARTITION BY")));
                    }
                    if !keys.is_empty() {
                        rt.block_on(query.plan_sql(empty.clone(), &keys_sql(keys, &pump.source)))
                            .map_err(|e| Error::Sql(format!("{what}: window keys: {e}")))?;
                    }
                }
                if let Operator::Sliding {
                    rows: Some((_, keys)),
                    ..
                } = &op
                    && !keys.is_empty()
                {
                    rt.block_on(query.plan_sql(empty.clone(), &keys_sql(keys, &pump.source)))
                        .map_err(|e| Error::Sql(format!("{what}: PARTITION BY: {e}")))?;
                }
                // A window keeps only the columns its SELECT reads (and its time
                // column): its rows are held, checkpointed and evaluated with no more.
                let window_columns = match &pump.window {
                    WindowSpec::Tumbling { time, .. } | WindowSpec::Hopping { time, .. }
                        if pump.function.is_none() =>
                    {
                        let scanned = rt
                            .block_on(query.scanned_columns(empty.clone(), &sql))
                            .map_err(|e| Error::Sql(format!("{what}: {e}")))?;
                        scanned.and_then(|names| {
                            let time = match time {
                                super::dialect::TimeColumn::Rowtime => ROWTIME,
                                super::dialect::TimeColumn::Column(c) => c.as_str(),
                            };
                            let keep: Vec<usize> = source_schema
                                .fields()
                                .iter()
                                .enumerate()
                                .filter(|(_, f)| {
                                    f.name() == ROWTIME
                                        || f.name() == time
                                        || names.iter().any(|n| n == f.name())
                                })
                                .map(|(i, _)| i)
                                .collect();
                            (keep.len() < source_schema.fields().len()).then_some(keep)
                        })
                    }
                    _ => None,
                };
                fed.insert(pump.target.clone());
                pumps.push(CompiledPump {
                    query,
                    op,
                    source_schema,
                    target_schema,
                    mapping,
                    result_width,
                    window_columns,
                });
            }
        }
    }
    if pumps.is_empty() {
        return Err(Error::Sql(
            "the application has no pump (CREATE OR REPLACE PUMP ... AS INSERT INTO ... SELECT ...)"
                .into(),
        ));
    }
    for o in &def.outputs {
        if !streams.contains_key(&o.in_app_stream) || o.in_app_stream == source {
            return Err(Error::Invalid(format!(
                "output from {:?}: not an in-application stream of the application (declared: {})",
                o.in_app_stream,
                declared
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .chain([ERROR_STREAM])
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(Compiled {
        streams,
        pumps,
        references,
    })
}

/// The forest seed of a pump: FNV-1a of its name (the same at every start).
fn seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A sliding pump's query over history and new rows, keeping only the new rows'
/// results: `SELECT * EXCLUDE ("__new") FROM (SELECT "__new", ...) WHERE "__new"`.
fn sliding_sql(select: &str) -> Result<String> {
    let trimmed = select.trim_start();
    if trimmed.len() < 6 || !trimmed[..6].eq_ignore_ascii_case("SELECT") {
        return Err(Error::Sql("a pump's query must start with SELECT".into()));
    }
    Ok(format!(
        "SELECT * EXCLUDE (\"{NEW}\") FROM (SELECT \"{NEW}\", {}) AS \"__q\" WHERE \"{NEW}\"",
        &trimmed[6..]
    ))
}

fn keys_sql(keys: &[String], source: &str) -> String {
    format!(
        "SELECT {}",
        keys.iter()
            .enumerate()
            .map(|(i, k)| format!("{k} AS \"__k{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    ) + &format!(" FROM \"{}\"", source.replace('"', "\"\""))
}

/// Input state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunState {
    /// The last committed epoch.
    pub epoch: u64,
    /// The ROWTIME watermark, ms.
    pub watermark: i64,
    /// Next sequence number to read, per input shard.
    pub positions: BTreeMap<String, u128>,
    /// Output stream → shard → last sequence number when the epoch committed.
    pub outputs: BTreeMap<String, BTreeMap<String, u128>>,
    /// Output delivery stream → its buffer's last sequence number when the epoch
    /// committed (absent: the buffer held nothing).
    pub deliveries: BTreeMap<String, u128>,
    /// Counters.
    pub counters: Counters,
}

/// One epoch's input: the exact ranges read and the watermark.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Intent {
    epoch: u64,
    watermark: i64,
    /// shard → (from, to), inclusive.
    reads: BTreeMap<String, (u128, u128)>,
}

impl Intent {
    fn to_json(&self) -> Vec<u8> {
        let reads: Vec<Value> = self
            .reads
            .iter()
            .map(|(s, (a, b))| json!({"Shard": s, "From": a.to_string(), "To": b.to_string()}))
            .collect();
        json!({"Epoch": self.epoch, "Watermark": self.watermark, "Reads": reads})
            .to_string()
            .into_bytes()
    }

    fn from_json(bytes: &[u8]) -> Result<Self> {
        let bad = || Error::State("the application's intent file is not valid".into());
        let v: Value = serde_json::from_slice(bytes).map_err(|_| bad())?;
        let mut reads = BTreeMap::new();
        for r in v["Reads"].as_array().ok_or_else(bad)? {
            let seq = |k: &str| -> Result<u128> {
                r[k].as_str().and_then(|s| s.parse().ok()).ok_or_else(bad)
            };
            reads.insert(
                r["Shard"].as_str().ok_or_else(bad)?.to_string(),
                (seq("From")?, seq("To")?),
            );
        }
        Ok(Self {
            epoch: v["Epoch"].as_u64().ok_or_else(bad)?,
            watermark: v["Watermark"].as_i64().ok_or_else(bad)?,
            reads,
        })
    }
}

fn seq_map_json(m: &BTreeMap<String, u128>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.to_string())))
            .collect(),
    )
}

fn seq_map_from(v: &Value) -> Option<BTreeMap<String, u128>> {
    let mut out = BTreeMap::new();
    for (k, v) in v.as_object()? {
        out.insert(k.clone(), v.as_str()?.parse().ok()?);
    }
    Some(out)
}

/// `rows` (window state: source columns and `"__window_start"`) cut to the columns a
/// fixed window keeps (`keep`: indices into `source`), by name; as they are if `keep`
/// is `None` or they are already cut.
fn keep_window_columns(
    rows: RecordBatch,
    source: &SchemaRef,
    keep: &Option<Vec<usize>>,
) -> Result<RecordBatch> {
    let Some(keep) = keep else {
        return Ok(rows);
    };
    let schema = rows.schema();
    let mut indices = Vec::with_capacity(keep.len() + 1);
    for name in keep
        .iter()
        .map(|&i| source.field(i).name().as_str())
        .chain([WINDOW_START])
    {
        let i = schema.index_of(name).map_err(|_| {
            Error::State(format!(
                "the checkpoint's window rows have no column {name:?}"
            ))
        })?;
        indices.push(i);
    }
    if indices.len() == schema.fields().len() {
        return Ok(rows);
    }
    Ok(rows.project(&indices)?)
}

fn ipc_bytes(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &batch.schema())?;
    w.write(batch)?;
    w.finish()?;
    Ok(w.into_inner()?)
}

fn ipc_batch(bytes: &[u8]) -> Result<Option<RecordBatch>> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    let schema = reader.schema();
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Some(concat_batches(&schema, &batches)?))
}

/// Runs one application (see the module doc). Not thread-safe: one thread steps it.
pub struct AppRunner {
    engine: Engine,
    /// The engine holding the input (the engine, or a delivery stream's buffer engine)
    /// and the input's stream there.
    input: Engine,
    input_stream: String,
    firehose: Option<tidelog_firehose::Firehose>,
    def: AppDefinition,
    dir: PathBuf,
    rt: tokio::runtime::Runtime,
    app: Compiled,
    decoder: RowDecoder,
    state: RunState,
    callbacks: Vec<(String, Callback)>,
    last_caught_up: bool,
    crash: Option<CrashPoint>,
    /// The state log, once opened or first written.
    log: Option<store::StateLog>,
    /// (pump, window chunk id) → where the chunk is in the log (offset, length).
    persisted: BTreeMap<(usize, u64), (u64, u64)>,
    /// The next checkpoint rewrites the log whole.
    compact: bool,
    /// Intents and checkpoints are synced (the engine's durability is `Sync`): the
    /// application's state is as durable as the records it reads and writes.
    sync_state: bool,
}

/// A chunk named by a checkpoint: its (offset, length) in the state log, and its bytes.
type Placed<'a> = ((u64, u64), &'a [u8]);

/// The state log is rewritten when it is over this size and ...
const COMPACT_MIN_BYTES: u64 = 64 << 20;
/// ... this many times the bytes its last checkpoint uses.
const COMPACT_RATIO: u64 = 4;

/// Where a test makes the next epoch fail as if the process died there.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// After the intent is written, before anything is delivered.
    AfterIntent,
    /// After this many output records are put.
    MidDelivery(usize),
    /// After every output record is put, before the checkpoint.
    BeforeCheckpoint,
}

impl std::fmt::Debug for AppRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRunner")
            .field("name", &self.def.name)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| Error::Io {
            path: "(tokio runtime)".into(),
            source: e,
        })
}

/// Compiles `def` on a runtime of its own (to check an application before it is
/// created).
pub fn check(def: &AppDefinition) -> Result<Compiled> {
    def.validate()?;
    compile(def, &runtime()?)
}

impl AppRunner {
    /// Opens the runner of `def` whose files are in `dir`: loads its checkpoint,
    /// finishes an interrupted epoch (see the module doc), then applies `start`.
    pub fn open(engine: &Engine, def: AppDefinition, dir: &Path, start: StartFrom) -> Result<Self> {
        Self::open_with(engine, def, dir, start, Vec::new())
    }

    /// [`open`](Self::open) with callbacks (in-application stream, function), which
    /// also see an interrupted epoch computed again.
    pub fn open_with(
        engine: &Engine,
        def: AppDefinition,
        dir: &Path,
        start: StartFrom,
        callbacks: Vec<(String, Callback)>,
    ) -> Result<Self> {
        Self::open_with_firehose(engine, None, def, dir, start, callbacks)
    }

    /// [`open_with`](Self::open_with) and the Firehose that outputs into delivery
    /// streams use (needed when the definition has such outputs).
    pub fn open_with_firehose(
        engine: &Engine,
        firehose: Option<tidelog_firehose::Firehose>,
        def: AppDefinition,
        dir: &Path,
        start: StartFrom,
        callbacks: Vec<(String, Callback)>,
    ) -> Result<Self> {
        def.validate()?;
        if firehose.is_none()
            && let Some(o) = def
                .outputs
                .iter()
                .find(|o| o.kind == OutputKind::DeliveryStream)
        {
            return Err(Error::Invalid(format!(
                "application {:?} outputs into delivery stream {:?}: run it with a Firehose (Applications::open_with_firehose)",
                def.name, o.stream
            )));
        }
        let (input, input_stream) = match def.input_kind {
            InputKind::Stream => (engine.clone(), def.input_stream.clone()),
            InputKind::DeliveryStream => {
                let Some(firehose) = &firehose else {
                    return Err(Error::Invalid(format!(
                        "application {:?} reads delivery stream {:?}: run it with a Firehose (Applications::open_with_firehose)",
                        def.name, def.input_stream
                    )));
                };
                firehose
                    .buffer_stream(&def.input_stream)
                    .map_err(|e| firehose_error(&def.input_stream, e))?
            }
        };
        let rt = runtime()?;
        let app = compile(&def, &rt)?;
        let all: Vec<usize> = (0..def.input_schema.columns().len()).collect();
        let decoder = RowDecoder::new(&def.input_schema, &all);
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        let mut runner = Self {
            engine: engine.clone(),
            input,
            input_stream,
            firehose,
            def,
            dir: dir.to_path_buf(),
            rt,
            app,
            decoder,
            state: RunState {
                watermark: i64::MIN,
                ..RunState::default()
            },
            callbacks: Vec::new(),
            last_caught_up: false,
            crash: None,
            log: None,
            persisted: BTreeMap::new(),
            compact: false,
            sync_state: engine.config().durability == tidelog::Durability::Sync,
        };
        for (stream, f) in callbacks {
            runner.add_callback(&stream, f)?;
        }
        let resumed = runner.load_checkpoint()?;
        if let Some(bytes) = store::read_intent(&runner.dir.join("intent"))? {
            let intent = Intent::from_json(&bytes)?;
            if intent.epoch == runner.state.epoch + 1 {
                runner.redo(&intent)?;
            }
        }
        if start != StartFrom::LastStoppedPoint || !resumed {
            runner.reset(start)?;
        }
        Ok(runner)
    }

    /// Makes the next epoch stop at `point` with an error, leaving its files as a
    /// crash there would (for crash tests).
    #[doc(hidden)]
    pub fn crash_at(&mut self, point: CrashPoint) {
        self.crash = Some(point);
    }

    /// The application's definition.
    pub fn definition(&self) -> &AppDefinition {
        &self.def
    }

    /// The engine holding the input and the input's stream name there (for a delivery
    /// stream: its buffer engine and buffer stream).
    pub fn input(&self) -> (&Engine, &str) {
        (&self.input, &self.input_stream)
    }

    /// The committed state (positions, watermark, counters).
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// True if the last step read every shard to its end.
    pub fn caught_up(&self) -> bool {
        self.last_caught_up
    }

    /// Adds a callback for `in_app_stream` (see [`Callback`]).
    pub fn add_callback(&mut self, in_app_stream: &str, f: Callback) -> Result<()> {
        if !self.app.streams.contains_key(in_app_stream) {
            return Err(Error::NotFound(format!(
                "in-application stream {in_app_stream:?}"
            )));
        }
        self.callbacks.push((in_app_stream.to_string(), f));
        Ok(())
    }

    /// Reloads reference table `name` from its file (used from the next epoch on).
    pub fn reload_reference(&mut self, name: &str) -> Result<()> {
        let r = self
            .def
            .reference_tables
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| Error::NotFound(format!("reference table {name:?}")))?;
        let rows = load_reference(Path::new(&r.path), &r.schema)?;
        for p in &self.app.pumps {
            p.query.set_table(name, rows.clone())?;
        }
        self.app.references.insert(name.to_string(), rows);
        Ok(())
    }

    fn now(&self) -> i64 {
        self.engine.config().clock.now_ms() as i64
    }

    /// Input positions for a fresh start; window state is discarded; a checkpoint is
    /// written so the start position survives a crash.
    fn reset(&mut self, start: StartFrom) -> Result<()> {
        self.app = compile(&self.def, &self.rt)?;
        // New operators number their chunks from zero again: the log starts over.
        self.persisted.clear();
        self.compact = true;
        self.state.positions.clear();
        self.state.watermark = i64::MIN;
        let stream = self.input_stream.clone();
        for shard in self.input.list_shards(&stream, ShardFilter::All)? {
            let info = self.input.scan_segments(&stream, &shard.shard_id)?;
            let last = info.segments.iter().rev().find_map(|s| s.seqs.map(|x| x.1));
            let from = match start {
                StartFrom::LastStoppedPoint | StartFrom::TrimHorizon => continue,
                StartFrom::Latest => last.map_or(info.readable_from, |l| l + 1),
                StartFrom::AtTimestamp(t) => {
                    let mut from = info.readable_from;
                    for s in &info.segments {
                        if s.max_timestamp_ms < t && s.finished {
                            if let Some((_, hi)) = s.seqs {
                                from = from.max(hi + 1);
                            }
                        }
                    }
                    loop {
                        let batch =
                            self.input
                                .scan_shard(&stream, &shard.shard_id, from, 4096, 8 << 20)?;
                        if batch.is_empty() {
                            break from;
                        }
                        let mut found = None;
                        let mut next = from;
                        for r in batch.iter() {
                            if r.timestamp_ms >= t {
                                found = Some(r.seq);
                                break;
                            }
                            next = r.seq + 1;
                        }
                        if let Some(seq) = found {
                            break seq;
                        }
                        from = next;
                    }
                }
            };
            self.state.positions.insert(shard.shard_id.clone(), from);
        }
        // Output positions too: a redo of the first epoch after this start looks for
        // its identities only after them (not among an earlier application's records
        // of the same name).
        self.record_output_positions()?;
        self.write_checkpoint()
    }

    /// Loads the last checkpoint: from the state log, or from the `checkpoint` file of
    /// an older version (whose state the next checkpoint moves into a new log).
    fn load_checkpoint(&mut self) -> Result<bool> {
        let bad = |why: &str| Error::State(format!("checkpoint of {:?}: {why}", self.def.name));
        let (meta, legacy, log_bytes): (Value, Option<Vec<u8>>, Option<Vec<u8>>) =
            if let Some(loaded) = store::StateLog::open(&self.dir.join("state"))? {
                let meta = serde_json::from_slice(&loaded.bytes[loaded.checkpoint.clone()])
                    .map_err(|_| bad("metadata is not JSON"))?;
                self.log = Some(loaded.log);
                (meta, None, Some(loaded.bytes))
            } else if let Some(body) =
                store::read_framed(&self.dir.join("checkpoint"), MAGIC_CHECKPOINT)?
            {
                if body.len() < 4 {
                    return Err(bad("too short"));
                }
                let m = u32::from_le_bytes(body[..4].try_into().expect("4 bytes")) as usize;
                let meta: Value = serde_json::from_slice(
                    body.get(4..4 + m).ok_or_else(|| bad("short metadata"))?,
                )
                .map_err(|_| bad("metadata is not JSON"))?;
                self.log = None;
                (meta, Some(body[4 + m..].to_vec()), None)
            } else {
                return Ok(false);
            };
        self.persisted.clear();
        self.compact = false;
        let mut blobs: &[u8] = legacy.as_deref().unwrap_or(&[]);
        self.state.epoch = meta["Epoch"].as_u64().ok_or_else(|| bad("no epoch"))?;
        self.state.watermark = meta["Watermark"]
            .as_i64()
            .ok_or_else(|| bad("no watermark"))?;
        self.state.positions = seq_map_from(&meta["Positions"]).ok_or_else(|| bad("positions"))?;
        self.state.outputs = meta["Outputs"]
            .as_object()
            .ok_or_else(|| bad("outputs"))?
            .iter()
            .map(|(k, v)| Ok((k.clone(), seq_map_from(v).ok_or_else(|| bad("outputs"))?)))
            .collect::<Result<_>>()?;
        // Absent in checkpoints written before delivery-stream outputs existed.
        self.state.deliveries = match meta.get("Deliveries") {
            Some(v) => seq_map_from(v).ok_or_else(|| bad("deliveries"))?,
            None => BTreeMap::new(),
        };
        let c = &meta["Counters"];
        self.state.counters = Counters {
            epochs: c["Epochs"].as_u64().unwrap_or(0),
            records_in: c["RecordsIn"].as_u64().unwrap_or(0),
            records_out: c["RecordsOut"].as_u64().unwrap_or(0),
            errors: c["Errors"].as_u64().unwrap_or(0),
        };
        let pumps = meta["Pumps"].as_array().ok_or_else(|| bad("pumps"))?;
        if pumps.len() != self.app.pumps.len() {
            return Err(bad("its pumps are not the application's"));
        }
        for (i, (p, v)) in self.app.pumps.iter_mut().zip(pumps).enumerate() {
            if v["Name"].as_str() != Some(p.query.pump().name.as_str()) {
                return Err(bad("its pumps are not the application's"));
            }
            let a = v["A"].as_i64().unwrap_or(i64::MIN);
            let b = v["B"].as_i64().unwrap_or(i64::MIN);
            let (rows, state): (Option<RecordBatch>, &[u8]) = if let Some(bytes) = &log_bytes {
                // A reference [offset, length] into the log (absent: none).
                let at = |r: &Value| -> Result<Option<Placed<'_>>> {
                    if r.is_null() {
                        return Ok(None);
                    }
                    let (Some(o), Some(l)) = (r[0].as_u64(), r[1].as_u64()) else {
                        return Err(bad("a state reference is not [offset, length]"));
                    };
                    let slice = usize::try_from(o)
                        .ok()
                        .zip(usize::try_from(l).ok())
                        .and_then(|(o, l)| bytes.get(o..o.checked_add(l)?))
                        .ok_or_else(|| bad("a state reference lies outside the state log"))?;
                    Ok(Some(((o, l), slice)))
                };
                if let Operator::Fixed(w) = &mut p.op {
                    let refs = v["Chunks"].as_array().ok_or_else(|| bad("window chunks"))?;
                    let mut chunks = Vec::with_capacity(refs.len());
                    let mut places = Vec::with_capacity(refs.len());
                    for r in refs {
                        let (place, slice) = at(r)?.ok_or_else(|| bad("window chunks"))?;
                        let rows = ipc_batch(slice)?.ok_or_else(|| bad("an empty chunk"))?;
                        chunks.push(keep_window_columns(
                            rows,
                            &p.source_schema,
                            &p.window_columns,
                        )?);
                        places.push(place);
                    }
                    let ids = w.restore_chunks(a, b, chunks)?;
                    for (id, place) in ids.into_iter().zip(places) {
                        self.persisted.insert((i, id), place);
                    }
                    continue;
                }
                let rows = match at(&v["Blob"])? {
                    Some((_, slice)) => ipc_batch(slice)?,
                    None => None,
                };
                let state = at(&v["State"])?.map_or(&[][..], |(_, s)| s);
                (rows, state)
            } else {
                let len = v["Blob"].as_u64().ok_or_else(|| bad("blob length"))? as usize;
                if len > blobs.len() {
                    return Err(bad("a window state is cut short"));
                }
                let rows = ipc_batch(&blobs[..len])?;
                blobs = &blobs[len..];
                // A table function's model ("State": absent in older checkpoints).
                let state_len = v.get("State").and_then(Value::as_u64).unwrap_or(0) as usize;
                if state_len > blobs.len() {
                    return Err(bad("a function state is cut short"));
                }
                let state = &blobs[..state_len];
                blobs = &blobs[state_len..];
                (rows, state)
            };
            match &mut p.op {
                Operator::Plain => {}
                Operator::Fixed(w) => {
                    // Rows of an older version kept every source column.
                    let rows = rows
                        .map(|r| keep_window_columns(r, &p.source_schema, &p.window_columns))
                        .transpose()?;
                    w.restore(a, b, rows)?
                }
                Operator::Keyed {
                    windows, max_event, ..
                } => {
                    windows.restore(a, rows)?;
                    *max_event = b;
                }
                Operator::Sliding { history, .. } => *history = rows,
                Operator::Function { function, .. } => function.restore(a, b, rows, state)?,
            }
        }
        Ok(true)
    }

    /// Commits the state after an epoch (see [`store::StateLog`]): the window chunks
    /// not yet in the log, every other operator's state whole, then the checkpoint
    /// naming them, with one `fdatasync`. The log is rewritten whole (live chunks only)
    /// when it was not opened from disk or when dead chunks outweigh live ones.
    fn write_checkpoint(&mut self) -> Result<()> {
        let path = self.dir.join("state");
        let fresh = self.log.is_none() || self.compact;
        if fresh {
            self.log = Some(store::StateLog::fresh(&path));
            self.persisted.clear();
        }
        let log = self.log.as_mut().expect("just ensured");
        let result = (|| -> Result<(Value, u64)> {
            let mut persisted = BTreeMap::new();
            let mut live = 0u64;
            let mut pumps = Vec::new();
            for (i, p) in self.app.pumps.iter().enumerate() {
                let name = p.query.pump().name.clone();
                if let Operator::Fixed(w) = &p.op {
                    let mut refs = Vec::new();
                    for (id, start, rows) in w.chunks() {
                        let at = match self.persisted.get(&(i, id)) {
                            Some(at) => *at,
                            None => {
                                let bytes = ipc_bytes(&FixedWindows::chunk_rows(rows, start)?)?;
                                log.append(store::FRAME_CHUNK, &bytes)?
                            }
                        };
                        persisted.insert((i, id), at);
                        live += at.1;
                        refs.push(json!([at.0, at.1]));
                    }
                    let (a, b) = w.marks();
                    pumps.push(json!({"Name": name, "A": a, "B": b, "Chunks": refs}));
                    continue;
                }
                let mut state = Vec::new();
                let (a, b, rows) = match &p.op {
                    Operator::Plain | Operator::Fixed(_) => (i64::MIN, i64::MIN, None),
                    Operator::Keyed {
                        windows, max_event, ..
                    } => {
                        let (wm, rows) = windows.snapshot()?;
                        (wm, *max_event, rows)
                    }
                    Operator::Sliding { history, .. } => (i64::MIN, i64::MIN, history.clone()),
                    Operator::Function { function, .. } => {
                        let (a, b, rows, model) = function.snapshot()?;
                        state = model;
                        (a, b, rows)
                    }
                };
                let mut entry = json!({"Name": name, "A": a, "B": b});
                if let Some(rows) = rows {
                    let at = log.append(store::FRAME_CHUNK, &ipc_bytes(&rows)?)?;
                    live += at.1;
                    entry["Blob"] = json!([at.0, at.1]);
                }
                if !state.is_empty() {
                    let at = log.append(store::FRAME_CHUNK, &state)?;
                    live += at.1;
                    entry["State"] = json!([at.0, at.1]);
                }
                pumps.push(entry);
            }
            self.persisted = persisted;
            let c = self.state.counters;
            let meta = json!({
                "Epoch": self.state.epoch,
                "Watermark": self.state.watermark,
                "Positions": seq_map_json(&self.state.positions),
                "Outputs": Value::Object(self.state.outputs.iter().map(|(k, v)| (k.clone(), seq_map_json(v))).collect()),
                "Deliveries": seq_map_json(&self.state.deliveries),
                "Counters": {"Epochs": c.epochs, "RecordsIn": c.records_in, "RecordsOut": c.records_out, "Errors": c.errors},
                "Pumps": pumps,
            });
            Ok((meta, live))
        })();
        let (meta, live) = match result {
            Ok(v) => v,
            Err(e) => {
                // Nothing of this checkpoint may reach the log; the next one starts over.
                self.log = None;
                self.persisted.clear();
                return Err(e);
            }
        };
        if let Err(e) = log.commit(meta.to_string().as_bytes(), self.sync_state) {
            self.log = None;
            self.persisted.clear();
            return Err(e);
        }
        self.compact = log.len() > COMPACT_MIN_BYTES && log.len() > COMPACT_RATIO * live.max(1);
        if fresh {
            // A checkpoint file of an older version is superseded by the log.
            match std::fs::remove_file(self.dir.join("checkpoint")) {
                Ok(()) => store::sync_dir(&self.dir)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Io {
                        path: self.dir.join("checkpoint").display().to_string(),
                        source: e,
                    });
                }
            }
        }
        Ok(())
    }

    /// Runs one epoch if there is anything to do (new records, or windows the clock
    /// closes).
    pub fn step(&mut self) -> Result<StepReport> {
        let now = self.now();
        let delay = self.def.options.watermark_delay_ms;
        let cap = self.def.options.max_records_per_shard;
        let stream = self.input_stream.clone();
        let mut shards = self.input.list_shards(&stream, ShardFilter::All)?;
        shards.sort_by(|a, b| a.shard_id.cmp(&b.shard_id));
        let mut reads = BTreeMap::new();
        let mut marks: Vec<i64> = Vec::new();
        let mut caught_up = true;
        let mut records = 0usize;
        // Records are decoded as they are read (one pass over the log): the epoch's
        // ranges are known once they have been read.
        let mut source_rows = Vec::new();
        let mut errors = Vec::new();
        for shard in &shards {
            let id = &shard.shard_id;
            let info = self.input.scan_segments(&stream, id)?;
            let from = self
                .state
                .positions
                .get(id)
                .copied()
                .unwrap_or(info.readable_from)
                .max(info.readable_from);
            let (rows, count, last) = self.decode_range(id, from, None, cap, &mut errors)?;
            if let Some(rows) = rows {
                source_rows.push(rows);
            }
            records += count;
            let done = count < cap;
            caught_up &= done;
            if let Some((to, arrival)) = last {
                reads.insert(id.clone(), (from, to));
                if done {
                    if info.ending_seq.is_none() {
                        marks.push(now - delay);
                    }
                } else {
                    marks.push(arrival as i64);
                }
            } else if info.ending_seq.is_none_or(|e| from <= e) {
                marks.push(now - delay);
            }
        }
        let watermark = self
            .state
            .watermark
            .max(marks.into_iter().min().unwrap_or(now - delay));
        self.last_caught_up = caught_up;
        if reads.is_empty() && !self.would_close(watermark) {
            return Ok(StepReport {
                idle: true,
                caught_up,
                ..StepReport::default()
            });
        }
        let intent = Intent {
            epoch: self.state.epoch + 1,
            watermark,
            reads,
        };
        let delivered = self.run_epoch(&intent, Some((source_rows, records, errors)))?;
        Ok(StepReport {
            idle: false,
            records,
            delivered,
            caught_up,
        })
    }

    /// When (engine clock, ms) the next ROWTIME window closes if no record comes:
    /// its end plus the watermark delay.
    pub fn next_close_ms(&self) -> Option<i64> {
        self.app
            .pumps
            .iter()
            .filter_map(|p| match &p.op {
                Operator::Fixed(w) if w.on_rowtime() => w.next_end(),
                Operator::Function { function, .. } => function.next_end(),
                Operator::Keyed { windows, .. }
                    if *windows.time() == super::dialect::TimeColumn::Rowtime =>
                {
                    windows.next_end()
                }
                _ => None,
            })
            .min()
            .map(|end| end.saturating_add(self.def.options.watermark_delay_ms))
    }

    fn would_close(&self, watermark: i64) -> bool {
        self.app.pumps.iter().any(|p| match &p.op {
            Operator::Fixed(w) => w.on_rowtime() && w.next_end().is_some_and(|e| e <= watermark),
            Operator::Function { function, .. } => {
                function.next_end().is_some_and(|e| e <= watermark)
            }
            Operator::Keyed { windows, .. } => {
                *windows.time() == super::dialect::TimeColumn::Rowtime
                    && windows.next_end().is_some_and(|e| e <= watermark)
            }
            _ => false,
        })
    }

    /// Decodes the records of `shard` from `from` into source rows: those up to `to`
    /// (inclusive), or the next `cap` if `to` is `None`. (rows, records read, the last
    /// record's sequence number and arrival time).
    #[allow(clippy::type_complexity)]
    fn decode_range(
        &mut self,
        shard: &str,
        from: u128,
        to: Option<u128>,
        cap: usize,
        errors: &mut Vec<ErrorRow>,
    ) -> Result<(Option<RecordBatch>, usize, Option<(u128, u64)>)> {
        let mut next = from;
        let mut times: Vec<i64> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut seqs: Vec<i128> = Vec::new();
        let mut count = 0usize;
        let mut last = None;
        'read: while count < cap {
            let batch = self.input.scan_shard(
                &self.input_stream,
                shard,
                next,
                (cap - count).min(10_000),
                8 << 20,
            )?;
            if batch.is_empty() {
                break;
            }
            for r in batch.iter() {
                if to.is_some_and(|t| r.seq > t) {
                    break 'read;
                }
                next = r.seq + 1;
                count += 1;
                last = Some((r.seq, r.timestamp_ms));
                let mut added = 0;
                match self.decoder.decode(r.data, &mut added) {
                    Ok(()) => {
                        let seq = seq_decimal(r.seq).ok_or_else(|| {
                            Error::Invalid(format!(
                                "sequence number {} does not fit DECIMAL(38,0)",
                                r.seq
                            ))
                        })?;
                        for _ in 0..added {
                            times.push(r.timestamp_ms as i64);
                            keys.push(r.key_str().to_string());
                            seqs.push(seq);
                        }
                    }
                    Err(reason) => errors.push(ErrorRow {
                        name: "Parse_Error",
                        message: reason,
                        shard: Some(shard.to_string()),
                        seq: Some(r.seq),
                        data: String::from_utf8_lossy(r.data).into_owned(),
                    }),
                }
            }
            if to.is_some_and(|t| next > t) {
                break;
            }
        }
        let decoded = self.decoder.finish();
        let rows = times.len();
        if rows == 0 {
            return Ok((None, count, last));
        }
        let schema = Arc::clone(&self.app.streams[&self.def.source_stream()]);
        let mut columns: Vec<ArrayRef> = vec![Arc::new(
            TimestampMillisecondArray::from(times.clone()).with_timezone(UTC),
        )];
        columns.extend(decoded);
        columns.push(Arc::new(
            TimestampMillisecondArray::from(times).with_timezone(UTC),
        ));
        columns.push(Arc::new(StringArray::from(keys)));
        columns.push(Arc::new(StringArray::from(vec![shard; rows])));
        columns.push(Arc::new(
            Decimal128Array::from(seqs).with_precision_and_scale(38, 0)?,
        ));
        Ok((Some(RecordBatch::try_new(schema, columns)?), count, last))
    }

    /// Computes, delivers and commits the epoch of `intent`: from its records already
    /// decoded (`read`: rows, record count, decoding errors, in the intent's shard
    /// order), or, for a redo (`None`: it may have been partly delivered before a
    /// crash), decoded again from the intent's ranges.
    fn run_epoch(
        &mut self,
        intent: &Intent,
        read: Option<(Vec<RecordBatch>, usize, Vec<ErrorRow>)>,
    ) -> Result<usize> {
        let m = intent.watermark;
        let redo = read.is_none();
        let (source_rows, records, mut errors) = match read {
            Some(read) => read,
            None => {
                let mut errors: Vec<ErrorRow> = Vec::new();
                let mut source_rows = Vec::new();
                let mut records = 0usize;
                for (shard, &(from, to)) in &intent.reads {
                    let (rows, count, _) =
                        self.decode_range(shard, from, Some(to), usize::MAX, &mut errors)?;
                    records += count;
                    if let Some(rows) = rows {
                        source_rows.push(rows);
                    }
                }
                (source_rows, records, errors)
            }
        };
        let source = self.def.source_stream();
        let mut rows: BTreeMap<String, Vec<RecordBatch>> = BTreeMap::new();
        rows.insert(source.clone(), source_rows);
        let rt = &self.rt;
        for p in &mut self.app.pumps {
            let input = match rows.get(&p.query.pump().source) {
                Some(b) if !b.is_empty() => Some(concat_batches(&p.source_schema, b)?),
                _ => None,
            };
            let out = rt.block_on(p.process(input.as_ref(), m, &mut errors))?;
            let target = p.query.pump().target.clone();
            let entry = rows.entry(target).or_default();
            for b in out {
                entry.push(p.conform(&b, m)?);
            }
        }
        if !errors.is_empty() {
            let e = error_batch(&errors, m)?;
            rows.entry(ERROR_STREAM.to_string()).or_default().push(e);
        }
        // The intent is durable before the epoch's first delivery (an epoch that
        // delivers nothing needs none: a crash before its checkpoint loses nothing).
        let delivers = self.def.outputs.iter().any(|o| {
            rows.get(&o.in_app_stream)
                .is_some_and(|b| b.iter().any(|b| b.num_rows() > 0))
        });
        if delivers && !redo {
            store::overwrite_framed(
                &self.dir.join("intent"),
                MAGIC_INTENT,
                &intent.to_json(),
                self.sync_state,
            )?;
        }
        let injected = || Error::State("injected crash".into());
        let crash = self.crash.take();
        if crash == Some(CrashPoint::AfterIntent) {
            return Err(injected());
        }
        let limit = match crash {
            Some(CrashPoint::MidDelivery(n)) => Some(n),
            _ => None,
        };
        let delivered = self.deliver(intent.epoch, &rows, redo, limit)?;
        if crash.is_some() {
            return Err(injected());
        }
        for (stream, f) in &self.callbacks {
            if let Some(batches) = rows.get(stream) {
                for b in batches.iter().filter(|b| b.num_rows() > 0) {
                    f(stream, intent.epoch, b);
                }
            }
        }
        for (shard, &(_, to)) in &intent.reads {
            self.state.positions.insert(shard.clone(), to + 1);
        }
        self.state.watermark = m;
        self.state.epoch = intent.epoch;
        self.state.counters.epochs += 1;
        self.state.counters.records_in += records as u64;
        self.state.counters.records_out += delivered as u64;
        self.state.counters.errors += errors.len() as u64;
        self.record_output_positions()?;
        self.write_checkpoint()?;
        Ok(delivered)
    }

    fn redo(&mut self, intent: &Intent) -> Result<()> {
        self.run_epoch(intent, None).map(|_| ())
    }

    fn record_output_positions(&mut self) -> Result<()> {
        let deliveries: BTreeSet<String> = self
            .def
            .outputs
            .iter()
            .filter(|o| o.kind == OutputKind::DeliveryStream)
            .map(|o| o.stream.clone())
            .collect();
        for d in deliveries {
            let firehose = self.firehose()?;
            match firehose
                .buffer_position(&d)
                .map_err(|e| firehose_error(&d, e))?
            {
                Some(last) => self.state.deliveries.insert(d, last),
                None => self.state.deliveries.remove(&d),
            };
        }
        let streams: BTreeSet<String> = self
            .def
            .outputs
            .iter()
            .filter(|o| o.kind == OutputKind::Stream)
            .map(|o| o.stream.clone())
            .collect();
        for s in streams {
            let mut m = BTreeMap::new();
            for shard in self.engine.list_shards(&s, ShardFilter::All)? {
                let info = self.engine.scan_segments(&s, &shard.shard_id)?;
                if let Some(last) = info.segments.iter().rev().find_map(|x| x.seqs.map(|y| y.1)) {
                    m.insert(shard.shard_id.clone(), last);
                }
            }
            self.state.outputs.insert(s, m);
        }
        Ok(())
    }

    /// Identities already in `stream` for `epoch` (records after the positions of the
    /// last commit).
    fn delivered_ids(&self, stream: &str, epoch: u64) -> Result<BTreeSet<String>> {
        let prefix = format!("{}:{epoch}:", self.def.name);
        let mut out = BTreeSet::new();
        let known = self.state.outputs.get(stream);
        for shard in self.engine.list_shards(stream, ShardFilter::All)? {
            let info = self.engine.scan_segments(stream, &shard.shard_id)?;
            let mut next = known
                .and_then(|k| k.get(&shard.shard_id))
                .map_or(info.readable_from, |l| l + 1);
            loop {
                let batch =
                    self.engine
                        .scan_shard(stream, &shard.shard_id, next, 10_000, 8 << 20)?;
                if batch.is_empty() {
                    break;
                }
                for r in batch.iter() {
                    next = r.seq + 1;
                    let key = r.key_str();
                    if key.starts_with(&prefix) {
                        out.insert(key.to_string());
                    }
                }
            }
        }
        Ok(out)
    }

    fn deliver(
        &self,
        epoch: u64,
        rows: &BTreeMap<String, Vec<RecordBatch>>,
        redo: bool,
        limit: Option<usize>,
    ) -> Result<usize> {
        let mut delivered = 0usize;
        let mut already: BTreeMap<(OutputKind, String), BTreeSet<String>> = BTreeMap::new();
        for (i, out) in self.def.outputs.iter().enumerate() {
            let Some(batches) = rows.get(&out.in_app_stream) else {
                continue;
            };
            let mut records: Vec<Vec<u8>> = Vec::new();
            for b in batches {
                let b = if out.in_app_stream == ERROR_STREAM {
                    b.clone()
                } else {
                    let keep: Vec<usize> = (1..b.num_columns()).collect();
                    b.project(&keep)?
                };
                encode_rows(&b, out.format, &mut records)?;
            }
            if records.is_empty() {
                continue;
            }
            let target = (out.kind, out.stream.clone());
            if redo && !already.contains_key(&target) {
                let ids = match out.kind {
                    OutputKind::Stream => self.delivered_ids(&out.stream, epoch)?,
                    OutputKind::DeliveryStream => {
                        let prefix = format!("{}:{epoch}:", self.def.name);
                        self.firehose()?
                            .buffered_ids(
                                &out.stream,
                                self.state.deliveries.get(&out.stream).copied(),
                                &prefix,
                            )
                            .map_err(|e| firehose_error(&out.stream, e))?
                    }
                };
                already.insert(target.clone(), ids);
            }
            let skip = already.get(&target);
            let keys: Vec<String> = (0..records.len())
                .map(|n| format!("{}:{epoch}:{i}:{n}", self.def.name))
                .collect();
            let mut pending: Vec<usize> = (0..records.len())
                .filter(|&n| skip.is_none_or(|s| !s.contains(&keys[n])))
                .collect();
            if let Some(limit) = limit {
                pending.truncate(limit.saturating_sub(delivered));
            }
            if out.kind == OutputKind::DeliveryStream {
                for r in &mut records {
                    r.push(b'\n');
                }
            }
            delivered += self.put_pending(out, &keys, &records, pending)?;
        }
        Ok(delivered)
    }

    fn firehose(&self) -> Result<&tidelog_firehose::Firehose> {
        self.firehose.as_ref().ok_or_else(|| {
            Error::Invalid(format!(
                "application {:?} outputs into a delivery stream: run it with a Firehose",
                self.def.name
            ))
        })
    }

    /// Puts records `pending` of one output (retrying those refused for throughput,
    /// for up to 60 s); returns how many were put.
    fn put_pending(
        &self,
        out: &OutputConfig,
        keys: &[String],
        records: &[Vec<u8>],
        mut pending: Vec<usize>,
    ) -> Result<usize> {
        let mut delivered = 0usize;
        let mut attempts = 0u32;
        while !pending.is_empty() {
            let mut failed = Vec::new();
            for chunk in chunks(&pending, records) {
                match out.kind {
                    OutputKind::Stream => {
                        let entries: Vec<PutRecordsEntry<'_>> = chunk
                            .iter()
                            .map(|&n| PutRecordsEntry {
                                partition_key: &keys[n],
                                data: &records[n],
                                explicit_hash_key: None,
                            })
                            .collect();
                        let result = self.engine.put_records(&out.stream, &entries, None)?;
                        for (&n, r) in chunk.iter().zip(result.records) {
                            match r {
                                Ok(_) => delivered += 1,
                                Err(e)
                                    if e.kind()
                                        == tidelog::ErrorKind::ProvisionedThroughputExceeded =>
                                {
                                    failed.push(n)
                                }
                                Err(e) => return Err(e.into()),
                            }
                        }
                    }
                    OutputKind::DeliveryStream => {
                        let data: Vec<&[u8]> = chunk.iter().map(|&n| &records[n][..]).collect();
                        let ids: Vec<&str> = chunk.iter().map(|&n| keys[n].as_str()).collect();
                        match self
                            .firehose()?
                            .put_record_batch_with_ids(&out.stream, &data, &ids)
                        {
                            Ok(result) => {
                                for (&n, r) in chunk.iter().zip(result.responses) {
                                    match r {
                                        Ok(_) => delivered += 1,
                                        Err((code, _)) if code == "ServiceUnavailableException" => {
                                            failed.push(n)
                                        }
                                        Err((code, message)) => {
                                            return Err(Error::State(format!(
                                                "delivery stream {:?}: {code}: {message}",
                                                out.stream
                                            )));
                                        }
                                    }
                                }
                            }
                            Err(e)
                                if e.kind() == tidelog_firehose::ErrorKind::ServiceUnavailable =>
                            {
                                failed.extend_from_slice(&chunk)
                            }
                            Err(e) => return Err(firehose_error(&out.stream, e)),
                        }
                    }
                }
            }
            pending = failed;
            if !pending.is_empty() {
                attempts += 1;
                if attempts > 6000 {
                    return Err(Error::State(format!(
                        "output {:?} refused records for 60 s (throughput exceeded)",
                        out.stream
                    )));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(delivered)
    }
}

/// A Firehose error of delivery stream `name` as this crate's.
pub(crate) fn firehose_error(name: &str, e: tidelog_firehose::Error) -> Error {
    let message = format!("delivery stream {name:?}: {e}");
    match e.kind() {
        tidelog_firehose::ErrorKind::ResourceNotFound => Error::NotFound(message),
        tidelog_firehose::ErrorKind::InvalidArgument => Error::Invalid(message),
        _ => Error::State(message),
    }
}

/// Groups record indexes into PutRecords calls (500 records, 4 MiB at most).
fn chunks(pending: &[usize], records: &[Vec<u8>]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0usize;
    for &n in pending {
        let size = records[n].len() + 64;
        match out.last_mut() {
            Some(c) if c.len() < 500 && bytes + size <= 4 << 20 => {
                c.push(n);
                bytes += size;
            }
            _ => {
                out.push(vec![n]);
                bytes = size;
            }
        }
    }
    out
}

/// Encodes each row of `batch` as one record.
fn encode_rows(batch: &RecordBatch, format: OutputFormat, out: &mut Vec<Vec<u8>>) -> Result<()> {
    match format {
        OutputFormat::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
            w.write_batches(&[batch])?;
            w.finish()?;
            let bytes = w.into_inner();
            out.extend(
                bytes
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec),
            );
        }
        OutputFormat::Csv => {
            for i in 0..batch.num_rows() {
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(false)
                    .build(Vec::new());
                w.write(&batch.slice(i, 1))?;
                let mut bytes = w.into_inner();
                while bytes.last() == Some(&b'\n') {
                    bytes.pop();
                }
                out.push(bytes);
            }
        }
    }
    Ok(())
}

fn row_json(batch: &RecordBatch, index: usize) -> String {
    let mut out = Vec::new();
    if encode_rows(&batch.slice(index, 1), OutputFormat::Json, &mut out).is_ok()
        && let Some(line) = out.pop()
    {
        return String::from_utf8_lossy(&line).into_owned();
    }
    String::new()
}

fn error_batch(errors: &[ErrorRow], m: i64) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        error_schema(),
        vec![
            Arc::new(TimestampMillisecondArray::from(vec![m; errors.len()]).with_timezone(UTC)),
            Arc::new(StringArray::from_iter_values(errors.iter().map(|e| e.name))),
            Arc::new(StringArray::from_iter_values(
                errors.iter().map(|e| e.message.as_str()),
            )),
            Arc::new(StringArray::from_iter(
                errors.iter().map(|e| e.shard.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                errors.iter().map(|e| e.seq.map(|s| s.to_string())),
            )),
            Arc::new(StringArray::from_iter_values(
                errors.iter().map(|e| e.data.as_str()),
            )),
        ],
    )?)
}

fn late_rows(batch: &RecordBatch, late: Vec<LateRow>, pump: &str, errors: &mut Vec<ErrorRow>) {
    for l in late {
        let (shard, seq) = (
            batch.column_by_name("SHARD_ID").and_then(|c| {
                c.as_any()
                    .downcast_ref::<StringArray>()
                    .map(|a| a.value(l.index).to_string())
            }),
            batch.column_by_name("SEQUENCE_NUMBER").and_then(|c| {
                c.as_any()
                    .downcast_ref::<Decimal128Array>()
                    .map(|a| a.value(l.index) as u128)
            }),
        );
        let message = if l.time_ms == i64::MIN {
            format!("pump {pump}: the row has no window time (NULL)")
        } else {
            format!(
                "pump {pump}: late row: its time {} ms is at or behind the watermark {} ms; its windows have closed",
                l.time_ms, l.watermark_ms
            )
        };
        errors.push(ErrorRow {
            name: "Late_Row",
            message,
            shard,
            seq,
            data: row_json(batch, l.index),
        });
    }
}

impl CompiledPump {
    /// The values of `keys` (GROUP BY / PARTITION BY items) over `batch`, as columns:
    /// a key that names a column of the batch is that column; otherwise DataFusion
    /// evaluates them all.
    async fn key_columns(&self, batch: &RecordBatch, keys: &[String]) -> Result<Vec<ArrayRef>> {
        let direct: Option<Vec<ArrayRef>> = keys
            .iter()
            .map(|k| {
                let k = k.trim();
                let name = k
                    .strip_prefix('"')
                    .and_then(|k| k.strip_suffix('"'))
                    .filter(|k| !k.contains('"'))
                    .unwrap_or(k);
                batch.column_by_name(name).cloned()
            })
            .collect();
        if let Some(columns) = direct {
            return Ok(columns);
        }
        let sql = keys_sql(keys, &self.query.pump().source);
        let out = self.query.run_sql(batch.clone(), &sql).await?;
        let schema = out
            .first()
            .map(RecordBatch::schema)
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        let all = concat_batches(&schema, &out)?;
        if all.num_rows() != batch.num_rows() {
            return Err(Error::State("window keys: row count changed".into()));
        }
        Ok(all.columns().to_vec())
    }

    async fn eval_keys(&self, batch: &RecordBatch, keys: &[String]) -> Result<Vec<Vec<u8>>> {
        if keys.is_empty() {
            return Ok(vec![Vec::new(); batch.num_rows()]);
        }
        let sql = keys_sql(keys, &self.query.pump().source);
        let out = self.query.run_sql(batch.clone(), &sql).await?;
        let schema = out
            .first()
            .map(RecordBatch::schema)
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        let all = concat_batches(&schema, &out)?;
        if all.num_rows() != batch.num_rows() {
            return Err(Error::State("window keys: row count changed".into()));
        }
        row_keys(all.columns())
    }

    /// Feeds the epoch's rows; returns the result rows (the pump's SELECT's columns).
    async fn process(
        &mut self,
        input: Option<&RecordBatch>,
        m: i64,
        errors: &mut Vec<ErrorRow>,
    ) -> Result<Vec<RecordBatch>> {
        let name = self.query.pump().name.clone();
        match &mut self.op {
            Operator::Plain => match input {
                Some(b) if b.num_rows() > 0 => self.query.run(b.clone()).await,
                _ => Ok(Vec::new()),
            },
            Operator::Function { cursor, function } => {
                let rows = match input {
                    Some(b) if b.num_rows() > 0 => {
                        let out = cursor.run(b.clone()).await?;
                        match out.first() {
                            Some(first) => Some(concat_batches(&first.schema(), &out)?),
                            None => None,
                        }
                    }
                    _ => None,
                };
                let (produced, late) = function.process(rows.as_ref(), m)?;
                if let Some(r) = &rows {
                    late_rows(r, late, &name, errors);
                }
                match produced {
                    Some(b) if b.num_rows() > 0 => self.query.run(b).await,
                    _ => Ok(Vec::new()),
                }
            }
            Operator::Fixed(w) => {
                if let Some(b) = input {
                    let late = match &self.window_columns {
                        Some(keep) => w.add(&b.project(keep)?)?,
                        None => w.add(b)?,
                    };
                    late_rows(b, late, &name, errors);
                }
                w.advance_rowtime(m);
                match w.close()? {
                    Some(closed) => self.query.run(closed).await,
                    None => Ok(Vec::new()),
                }
            }
            Operator::Keyed { .. } => {
                if let Some(b) = input {
                    let keys = match &self.op {
                        Operator::Keyed { keys, .. } => keys.clone(),
                        _ => unreachable!(),
                    };
                    let k = self.eval_keys(b, &keys).await?;
                    let Operator::Keyed {
                        windows, max_event, ..
                    } = &mut self.op
                    else {
                        unreachable!()
                    };
                    if let super::dialect::TimeColumn::Column(c) = windows.time().clone() {
                        let col = b
                            .column_by_name(&c)
                            .ok_or_else(|| Error::Sql(format!("pump {name}: no column {c:?}")))?;
                        let ts = cast(col, &timestamp_type())?;
                        let ts = ts
                            .as_any()
                            .downcast_ref::<TimestampMillisecondArray>()
                            .ok_or_else(|| Error::Sql(format!("{c:?} is not a timestamp")))?;
                        for i in 0..ts.len() {
                            if ts.is_valid(i) {
                                *max_event = (*max_event).max(ts.value(i));
                            }
                        }
                    }
                    let late = windows.add(b, &k)?;
                    late_rows(b, late, &name, errors);
                }
                let Operator::Keyed {
                    windows,
                    max_event,
                    lateness,
                    ..
                } = &mut self.op
                else {
                    unreachable!()
                };
                let wm = match windows.time() {
                    super::dialect::TimeColumn::Rowtime => m,
                    super::dialect::TimeColumn::Column(_) => max_event.saturating_sub(*lateness),
                };
                windows.advance(wm);
                match windows.close()? {
                    Some(closed) => self.query.run(closed).await,
                    None => Ok(Vec::new()),
                }
            }
            Operator::Sliding { .. } => {
                let Some(b) = input.filter(|b| b.num_rows() > 0) else {
                    return Ok(Vec::new());
                };
                let (history, sql, range_ms, rows) = match &self.op {
                    Operator::Sliding {
                        history,
                        sql,
                        range_ms,
                        rows,
                    } => (history.clone(), sql.clone(), *range_ms, rows.clone()),
                    _ => unreachable!(),
                };
                let fresh = with_column(
                    b,
                    NEW,
                    Arc::new(BooleanArray::from(vec![true; b.num_rows()])),
                )?;
                let combined = match &history {
                    Some(h) if h.num_rows() > 0 => {
                        let old = with_column(
                            h,
                            NEW,
                            Arc::new(BooleanArray::from(vec![false; h.num_rows()])),
                        )?;
                        concat_batches(&fresh.schema(), &[old, fresh])?
                    }
                    _ => fresh,
                };
                let out = self.query.run_sql(combined.clone(), &sql).await?;
                // The new history: the rows a later row's window can still reach.
                let all_keep: Vec<usize> = (0..combined.num_columns() - 1).collect();
                let plain = combined.project(&all_keep)?;
                let kept = if let Some(range) = range_ms {
                    let t = plain
                        .column_by_name(ROWTIME)
                        .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
                        .ok_or_else(|| Error::State("no ROWTIME".into()))?;
                    let newest = t.values().iter().copied().max().unwrap_or(i64::MIN);
                    let mask = BooleanArray::from(
                        t.values()
                            .iter()
                            .map(|&v| v >= newest - range)
                            .collect::<Vec<_>>(),
                    );
                    arrow::compute::filter_record_batch(&plain, &mask)?
                } else if let Some((n, keys)) = rows {
                    // The newest `n` rows of each key, found from the end; keys compared
                    // in Arrow's row format, without a copy per row.
                    let columns = self.key_columns(&plain, &keys).await?;
                    let mut mask = vec![false; plain.num_rows()];
                    if columns.is_empty() {
                        let from = plain.num_rows().saturating_sub(n as usize);
                        mask[from..].iter_mut().for_each(|m| *m = true);
                    } else {
                        let converter = arrow::row::RowConverter::new(
                            columns
                                .iter()
                                .map(|c| arrow::row::SortField::new(c.data_type().clone()))
                                .collect(),
                        )?;
                        let k = converter.convert_columns(&columns)?;
                        let mut seen: std::collections::HashMap<arrow::row::Row<'_>, u64> =
                            std::collections::HashMap::new();
                        for i in (0..plain.num_rows()).rev() {
                            let c = seen.entry(k.row(i)).or_insert(0);
                            if *c < n {
                                mask[i] = true;
                                *c += 1;
                            }
                        }
                    }
                    arrow::compute::filter_record_batch(&plain, &BooleanArray::from(mask))?
                } else {
                    plain
                };
                if let Operator::Sliding { history, .. } = &mut self.op {
                    *history = Some(kept);
                }
                Ok(out)
            }
        }
    }

    /// A result batch as rows of the target stream (ROWTIME = `m`, declared types).
    fn conform(&self, batch: &RecordBatch, m: i64) -> Result<RecordBatch> {
        if batch.num_columns() != self.result_width {
            return Err(Error::Sql(format!(
                "pump {:?}: {} result columns for {} target columns",
                self.query.pump().name,
                batch.num_columns(),
                self.result_width
            )));
        }
        let n = batch.num_rows();
        let mut columns: Vec<ArrayRef> = vec![Arc::new(
            TimestampMillisecondArray::from(vec![m; n]).with_timezone(UTC),
        )];
        for (field, src) in self
            .target_schema
            .fields()
            .iter()
            .skip(1)
            .zip(&self.mapping)
        {
            columns.push(match src {
                Some(i) => cast(batch.column(*i), field.data_type()).map_err(|e| {
                    Error::Sql(format!(
                        "pump {:?}: column {:?}: {e}",
                        self.query.pump().name,
                        field.name()
                    ))
                })?,
                None => new_null_array(field.data_type(), n),
            });
        }
        Ok(RecordBatch::try_new(
            Arc::clone(&self.target_schema),
            columns,
        )?)
    }
}
