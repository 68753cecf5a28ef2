//! Window operators of continuous queries: rows in (Arrow batches with a `ROWTIME`
//! column and, for event-time windows, the event-time column), closed windows out.
//!
//! DataFusion computes every result: the operator decides which rows belong to which
//! window and when a window is complete, then runs the pump's rewritten SELECT over
//! the rows of the windows that closed (with `"__window_start"` set), as one query.
//!
//! Invariants:
//! - A window closes once the watermark (ROWTIME: the input's merged arrival-time
//!   watermark; event time: the largest event time seen minus the allowed lateness)
//!   reaches its end; it is evaluated exactly once, and its rows are then dropped.
//! - A row whose every window has already closed is late: it is returned to the caller
//!   (for the error stream) with the reason, never silently dropped.
//! - Results are deterministic for a given input order: windows close in order of
//!   their end, and each evaluation sorts by window start.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, TimestampMillisecondArray, UInt64Array};
use arrow::compute::{concat_batches, filter_record_batch, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};

use super::dialect::{TimeColumn, WindowSpec};
use crate::error::{Error, Result};
use crate::schema::{UTC, timestamp_type};

/// The column every in-application row carries: when it entered its stream (ms, UTC).
pub const ROWTIME: &str = "ROWTIME";
/// The column a window's start is given in.
pub const WINDOW_START: &str = "__window_start";

/// The start of the tumbling window of `size` holding `t`.
pub fn tumble_start(t: i64, size: i64) -> i64 {
    t - t.rem_euclid(size)
}

/// The starts of the hopping windows (`slide` apart, `size` wide) holding `t`, oldest
/// first.
pub fn hop_starts(t: i64, slide: i64, size: i64) -> Vec<i64> {
    let last = tumble_start(t, slide);
    let mut starts = Vec::new();
    let mut s = last - size + slide;
    while s <= last {
        if s + size > t {
            starts.push(s);
        }
        s += slide;
    }
    starts
}

/// A row that arrived after its windows closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRow {
    /// Its time (ROWTIME or event time), ms.
    pub time_ms: i64,
    /// The watermark it missed, ms.
    pub watermark_ms: i64,
    /// Its index in the batch it came in.
    pub index: usize,
}

/// Tumbling and hopping windows (fixed starts), keyed by start.
#[derive(Debug)]
pub struct FixedWindows {
    size: i64,
    slide: i64,
    time: TimeColumn,
    lateness: i64,
    schema: Option<SchemaRef>,
    /// Window start → its rows, as the chunks they came in: (chunk id, rows). A chunk
    /// never changes once added, so a checkpoint writes each one once (its id names it
    /// in the state log).
    open: BTreeMap<i64, Vec<(u64, RecordBatch)>>,
    next_chunk: u64,
    watermark: i64,
    max_time: i64,
}

impl FixedWindows {
    /// Tumbling (`slide == size`) or hopping windows on `time`; `lateness`: how far an
    /// event time may be behind the largest one seen before its row is late.
    pub fn new(size: i64, slide: i64, time: TimeColumn, lateness: i64) -> Self {
        Self {
            size,
            slide,
            time,
            lateness,
            schema: None,
            open: BTreeMap::new(),
            next_chunk: 0,
            watermark: i64::MIN,
            max_time: i64::MIN,
        }
    }

    /// From a window spec (`None` if it is not tumbling or hopping).
    pub fn from_spec(spec: &WindowSpec, lateness: i64) -> Option<Self> {
        match spec {
            WindowSpec::Tumbling { size_ms, time } => {
                Some(Self::new(*size_ms, *size_ms, time.clone(), lateness))
            }
            WindowSpec::Hopping {
                slide_ms,
                size_ms,
                time,
            } => Some(Self::new(*size_ms, *slide_ms, time.clone(), lateness)),
            _ => None,
        }
    }

    /// The current watermark.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Windows still open.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }

    /// Adds rows; returns the late ones (not added).
    pub fn add(&mut self, batch: &RecordBatch) -> Result<Vec<LateRow>> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let times = time_values(batch, &self.time)?;
        if self.schema.is_none() {
            self.schema = Some(batch.schema());
        }
        let mut late = Vec::new();
        let mut by_start: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
        for (i, t) in times.iter().enumerate() {
            let Some(t) = *t else {
                late.push(LateRow {
                    time_ms: i64::MIN,
                    watermark_ms: self.watermark,
                    index: i,
                });
                continue;
            };
            let starts = if self.slide == self.size {
                vec![tumble_start(t, self.size)]
            } else {
                hop_starts(t, self.slide, self.size)
            };
            let live: Vec<i64> = starts
                .into_iter()
                .filter(|s| s + self.size > self.watermark)
                .collect();
            if live.is_empty() {
                late.push(LateRow {
                    time_ms: t,
                    watermark_ms: self.watermark,
                    index: i,
                });
                continue;
            }
            for s in live {
                by_start.entry(s).or_default().push(i as u64);
            }
            if self.time != TimeColumn::Rowtime {
                self.max_time = self.max_time.max(t);
            }
        }
        for (start, rows) in by_start {
            let picked = take_rows(batch, &rows)?;
            let id = self.next_chunk;
            self.next_chunk += 1;
            let chunks = self.open.entry(start).or_default();
            chunks.push((id, picked));
            // Merge the newest chunks like a binary counter (while the one before is
            // no larger): a window of E epochs keeps O(log E) chunks, and each row is
            // written to the state log O(log E) times, not once per epoch.
            while let [.., (_, a), (_, b)] = chunks.as_slice() {
                if a.num_rows() > b.num_rows() {
                    break;
                }
                let merged = concat_batches(&a.schema(), [a, b])?;
                chunks.truncate(chunks.len() - 2);
                chunks.push((self.next_chunk, merged));
                self.next_chunk += 1;
            }
        }
        if self.time != TimeColumn::Rowtime && self.max_time != i64::MIN {
            self.watermark = self
                .watermark
                .max(self.max_time.saturating_sub(self.lateness));
        }
        Ok(late)
    }

    /// Moves the ROWTIME watermark (event-time windows move their own from the rows).
    pub fn advance_rowtime(&mut self, watermark: i64) {
        if self.time == TimeColumn::Rowtime {
            self.watermark = self.watermark.max(watermark);
        }
    }

    /// The rows of every window whose end the watermark reached, with
    /// `"__window_start"`, oldest window first; the windows are forgotten.
    pub fn close(&mut self) -> Result<Option<RecordBatch>> {
        let mut closed = Vec::new();
        while let Some((&start, _)) = self.open.iter().next() {
            if start + self.size > self.watermark {
                break;
            }
            let batches = self.open.remove(&start).unwrap_or_default();
            for (_, b) in batches {
                closed.push(with_window_start(&b, start)?);
            }
        }
        concat_or_none(closed)
    }
}

impl FixedWindows {
    /// The end of the oldest open window (the next to close), if any.
    pub fn next_end(&self) -> Option<i64> {
        self.open.keys().next().map(|s| s + self.size)
    }

    /// True if the windows are on ROWTIME (closed by the input's watermark).
    pub fn on_rowtime(&self) -> bool {
        self.time == TimeColumn::Rowtime
    }

    /// The state for a checkpoint: (watermark, largest event time, the open windows'
    /// rows with `"__window_start"`, oldest window first).
    pub fn snapshot(&self) -> Result<(i64, i64, Option<RecordBatch>)> {
        let mut rows = Vec::new();
        for (start, batches) in &self.open {
            for (_, b) in batches {
                rows.push(with_window_start(b, *start)?);
            }
        }
        Ok((self.watermark, self.max_time, concat_or_none(rows)?))
    }

    /// The watermark and the largest event time (the scalars of a checkpoint).
    pub fn marks(&self) -> (i64, i64) {
        (self.watermark, self.max_time)
    }

    /// The open windows' chunks, oldest window first: (chunk id, window start, rows).
    pub fn chunks(&self) -> impl Iterator<Item = (u64, i64, &RecordBatch)> {
        self.open
            .iter()
            .flat_map(|(start, batches)| batches.iter().map(move |(id, b)| (*id, *start, b)))
    }

    /// Restores the state from chunks written as `with_window_start(rows, start)` (one
    /// start per chunk), in the order [`chunks`](Self::chunks) gave them: the ids
    /// they get, in the same order.
    pub fn restore_chunks(
        &mut self,
        watermark: i64,
        max_time: i64,
        chunks: Vec<RecordBatch>,
    ) -> Result<Vec<u64>> {
        self.watermark = watermark;
        self.max_time = max_time;
        self.open.clear();
        let mut ids = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            let (rows, starts) = split_window_start(&chunk)?;
            let Some(&start) = starts.first() else {
                return Err(Error::State("an empty window-state chunk".into()));
            };
            if starts.iter().any(|&s| s != start) {
                return Err(Error::State(
                    "a window-state chunk spans more than one window".into(),
                ));
            }
            self.schema = Some(rows.schema());
            let id = self.next_chunk;
            self.next_chunk += 1;
            self.open.entry(start).or_default().push((id, rows));
            ids.push(id);
        }
        Ok(ids)
    }

    /// Writes a chunk as [`restore_chunks`](Self::restore_chunks) reads it.
    pub fn chunk_rows(rows: &RecordBatch, start: i64) -> Result<RecordBatch> {
        with_window_start(rows, start)
    }

    /// Restores a [`snapshot`](Self::snapshot).
    pub fn restore(
        &mut self,
        watermark: i64,
        max_time: i64,
        rows: Option<RecordBatch>,
    ) -> Result<()> {
        self.watermark = watermark;
        self.max_time = max_time;
        self.open.clear();
        if let Some(rows) = rows {
            let (rows, starts) = split_window_start(&rows)?;
            self.schema = Some(rows.schema());
            for (start, from, len) in runs(&starts) {
                let id = self.next_chunk;
                self.next_chunk += 1;
                self.open
                    .entry(start)
                    .or_default()
                    .push((id, rows.slice(from, len)));
            }
        }
        Ok(())
    }
}

/// Splits off the `"__window_start"` column: (the other columns, the starts).
fn split_window_start(batch: &RecordBatch) -> Result<(RecordBatch, Vec<i64>)> {
    let schema = batch.schema();
    let at = schema
        .index_of(WINDOW_START)
        .map_err(|_| Error::State("window state without its window starts".into()))?;
    let starts = batch
        .column(at)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .ok_or_else(|| Error::State("window starts are not timestamps".into()))?
        .values()
        .to_vec();
    let keep: Vec<usize> = (0..batch.num_columns()).filter(|&i| i != at).collect();
    Ok((batch.project(&keep)?, starts))
}

/// Runs of equal values: (value, first index, length).
fn runs<T: PartialEq + Clone>(values: &[T]) -> Vec<(T, usize, usize)> {
    let mut out: Vec<(T, usize, usize)> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match out.last_mut() {
            Some((last, _, len)) if last == v => *len += 1,
            _ => out.push((v.clone(), i, 1)),
        }
    }
    out
}

/// Windows per key: sessions (a key's window closes `gap` after its last row) or
/// stagger windows (a key's window opens with its first row and closes `size` later).
#[derive(Debug)]
pub struct KeyedWindows {
    kind: KeyedKind,
    time: TimeColumn,
    open: BTreeMap<Vec<u8>, KeyWindow>,
    /// Windows a later row of their key ended early (a new one opened): closed with
    /// the others at the next `close`.
    pending: Vec<(Vec<u8>, KeyWindow)>,
    watermark: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyedKind {
    Session { gap: i64 },
    Stagger { size: i64 },
}

#[derive(Debug)]
struct KeyWindow {
    start: i64,
    last: i64,
    rows: Vec<RecordBatch>,
}

impl KeyedWindows {
    /// Session windows with `gap`.
    pub fn session(gap: i64, time: TimeColumn) -> Self {
        Self {
            kind: KeyedKind::Session { gap },
            time,
            open: BTreeMap::new(),
            pending: Vec::new(),
            watermark: i64::MIN,
        }
    }

    /// Stagger windows of `size` (on ROWTIME).
    pub fn stagger(size: i64) -> Self {
        Self {
            kind: KeyedKind::Stagger { size },
            time: TimeColumn::Rowtime,
            open: BTreeMap::new(),
            pending: Vec::new(),
            watermark: i64::MIN,
        }
    }

    fn end(&self, w: &KeyWindow) -> i64 {
        match self.kind {
            KeyedKind::Session { gap } => w.last + gap,
            KeyedKind::Stagger { size } => w.start + size,
        }
    }

    /// Adds rows whose keys are `keys` (one per row, the GROUP BY values encoded as
    /// comparable bytes); returns late rows (before the watermark) without adding them.
    pub fn add(&mut self, batch: &RecordBatch, keys: &[Vec<u8>]) -> Result<Vec<LateRow>> {
        let times = time_values(batch, &self.time)?;
        let mut late = Vec::new();
        let mut per_key: BTreeMap<&[u8], Vec<(usize, i64)>> = BTreeMap::new();
        for (i, t) in times.iter().enumerate() {
            match *t {
                Some(t) if t >= self.watermark => {
                    per_key.entry(keys[i].as_slice()).or_default().push((i, t))
                }
                t => late.push(LateRow {
                    time_ms: t.unwrap_or(i64::MIN),
                    watermark_ms: self.watermark,
                    index: i,
                }),
            }
        }
        // Rows of a key in time order; a row past its key's window end starts a new
        // window (the old one is closed first, by `close` below, so finish it here).
        let mut finished: Vec<(Vec<u8>, KeyWindow)> = Vec::new();
        for (key, mut rows) in per_key {
            rows.sort_by_key(|&(i, t)| (t, i));
            let mut current: Vec<u64> = Vec::new();
            for (i, t) in rows {
                let fits = self.open.get(key).is_some_and(|w| t < self.end(w));
                if !fits {
                    if let Some(mut w) = self.open.remove(key) {
                        if !current.is_empty() {
                            w.rows.push(take_rows(batch, &current)?);
                            current.clear();
                        }
                        finished.push((key.to_vec(), w));
                    }
                    self.open.insert(
                        key.to_vec(),
                        KeyWindow {
                            start: t,
                            last: t,
                            rows: Vec::new(),
                        },
                    );
                }
                let w = self.open.get_mut(key).expect("just ensured");
                w.last = w.last.max(t);
                current.push(i as u64);
            }
            if !current.is_empty() {
                let rows = take_rows(batch, &current)?;
                self.open.get_mut(key).expect("open").rows.push(rows);
            }
        }
        self.pending.extend(finished);
        Ok(late)
    }

    /// Moves the watermark.
    pub fn advance(&mut self, watermark: i64) {
        self.watermark = self.watermark.max(watermark);
    }

    /// Rows of the windows that closed (with `"__window_start"`), ordered by window
    /// end then key.
    pub fn close(&mut self) -> Result<Option<RecordBatch>> {
        let mut done: Vec<(i64, Vec<u8>, KeyWindow)> = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(k, w)| (self.end(&w), k, w))
            .collect();
        let ended: Vec<Vec<u8>> = self
            .open
            .iter()
            .filter(|(_, w)| self.end(w) <= self.watermark)
            .map(|(k, _)| k.clone())
            .collect();
        for k in ended {
            if let Some(w) = self.open.remove(&k) {
                done.push((self.end(&w), k, w));
            }
        }
        done.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut out = Vec::new();
        for (_, _, w) in done {
            for b in w.rows {
                out.push(with_window_start(&b, w.start)?);
            }
        }
        concat_or_none(out)
    }
}

impl KeyedWindows {
    /// The time the windows are on.
    pub fn time(&self) -> &TimeColumn {
        &self.time
    }

    /// The earliest end of an open window, if any (pending windows count as ended).
    pub fn next_end(&self) -> Option<i64> {
        if !self.pending.is_empty() {
            return Some(i64::MIN);
        }
        self.open.values().map(|w| self.end(w)).min()
    }

    /// The state for a checkpoint: the watermark and every window's rows with
    /// `"__window_start"`, `"__key"` (binary), `"__last"` (ms) and `"__pending"`.
    pub fn snapshot(&self) -> Result<(i64, Option<RecordBatch>)> {
        let mut out = Vec::new();
        let windows = self
            .open
            .iter()
            .map(|(k, w)| (false, k, w))
            .chain(self.pending.iter().map(|(k, w)| (true, k, w)));
        for (pending, key, w) in windows {
            for b in &w.rows {
                let b = with_window_start(b, w.start)?;
                let n = b.num_rows();
                let mut fields: Vec<Field> = b
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect();
                let mut columns = b.columns().to_vec();
                fields.push(Field::new("__key", DataType::Binary, false));
                columns.push(Arc::new(arrow::array::BinaryArray::from(vec![
                    key.as_slice(
                    );
                    n
                ])));
                fields.push(Field::new("__last", DataType::Int64, false));
                columns.push(Arc::new(arrow::array::Int64Array::from(vec![w.last; n])));
                fields.push(Field::new("__pending", DataType::Boolean, false));
                columns.push(Arc::new(arrow::array::BooleanArray::from(vec![pending; n])));
                out.push(RecordBatch::try_new(
                    Arc::new(Schema::new(fields)),
                    columns,
                )?);
            }
        }
        Ok((self.watermark, concat_or_none(out)?))
    }

    /// Restores a [`snapshot`](Self::snapshot).
    pub fn restore(&mut self, watermark: i64, rows: Option<RecordBatch>) -> Result<()> {
        self.watermark = watermark;
        self.open.clear();
        self.pending.clear();
        let Some(rows) = rows else {
            return Ok(());
        };
        let schema = rows.schema();
        let col = |name: &str| {
            schema
                .index_of(name)
                .map_err(|_| Error::State(format!("window state without {name}")))
        };
        let (key_at, last_at, pending_at) = (col("__key")?, col("__last")?, col("__pending")?);
        let keys = rows
            .column(key_at)
            .as_any()
            .downcast_ref::<arrow::array::BinaryArray>()
            .ok_or_else(|| Error::State("bad __key".into()))?;
        let lasts = rows
            .column(last_at)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .ok_or_else(|| Error::State("bad __last".into()))?;
        let pendings = rows
            .column(pending_at)
            .as_any()
            .downcast_ref::<arrow::array::BooleanArray>()
            .ok_or_else(|| Error::State("bad __pending".into()))?;
        let keep: Vec<usize> = (0..rows.num_columns())
            .filter(|&i| i != key_at && i != last_at && i != pending_at)
            .collect();
        let (data, starts) = split_window_start(&rows.project(&keep)?)?;
        let ids: Vec<(bool, Vec<u8>, i64, i64)> = (0..rows.num_rows())
            .map(|i| {
                (
                    pendings.value(i),
                    keys.value(i).to_vec(),
                    starts[i],
                    lasts.value(i),
                )
            })
            .collect();
        for ((pending, key, start, last), from, len) in runs(&ids) {
            let w = KeyWindow {
                start,
                last,
                rows: vec![data.slice(from, len)],
            };
            if pending {
                self.pending.push((key, w));
            } else {
                self.open.insert(key, w);
            }
        }
        Ok(())
    }
}

fn time_values(batch: &RecordBatch, time: &TimeColumn) -> Result<Vec<Option<i64>>> {
    let name = match time {
        TimeColumn::Rowtime => ROWTIME,
        TimeColumn::Column(c) => c.as_str(),
    };
    let column = batch.column_by_name(name).ok_or_else(|| {
        Error::Sql(format!(
            "the window's time column {name:?} is not in the stream"
        ))
    })?;
    let ts = arrow::compute::cast(column, &timestamp_type())?;
    let ts = ts
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .ok_or_else(|| Error::Sql(format!("{name:?} is not a timestamp")))?;
    Ok((0..ts.len())
        .map(|i| ts.is_valid(i).then(|| ts.value(i)))
        .collect())
}

fn take_rows(batch: &RecordBatch, rows: &[u64]) -> Result<RecordBatch> {
    let indices = UInt64Array::from(rows.to_vec());
    let columns = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), &indices, None))
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

fn with_window_start(batch: &RecordBatch, start: i64) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns = batch.columns().to_vec();
    fields.push(Field::new(
        WINDOW_START,
        DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, Some(UTC.into())),
        false,
    ));
    columns.push(Arc::new(
        TimestampMillisecondArray::from(vec![start; batch.num_rows()]).with_timezone(UTC),
    ));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn concat_or_none(batches: Vec<RecordBatch>) -> Result<Option<RecordBatch>> {
    match batches.first() {
        None => Ok(None),
        Some(first) => Ok(Some(concat_batches(&first.schema(), &batches)?)),
    }
}

/// Encodes the values of `columns` row by row as comparable bytes (group keys).
pub fn row_keys(columns: &[ArrayRef]) -> Result<Vec<Vec<u8>>> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let fields = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)?;
    let rows = converter.convert_columns(columns)?;
    Ok((0..rows.num_rows())
        .map(|i| rows.row(i).as_ref().to_vec())
        .collect())
}

/// Keeps the rows of `batch` where `mask` is true.
pub fn keep(batch: &RecordBatch, mask: &arrow::array::BooleanArray) -> Result<RecordBatch> {
    Ok(filter_record_batch(batch, mask)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn batch(rows: &[(i64, &str, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(ROWTIME, timestamp_type(), false),
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(
                    TimestampMillisecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())
                        .with_timezone(UTC),
                ),
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    fn starts(b: &RecordBatch) -> Vec<i64> {
        let c = b.column_by_name(WINDOW_START).unwrap();
        let c = c
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        c.values().to_vec()
    }

    #[test]
    fn window_arithmetic() {
        assert_eq!(tumble_start(125, 60), 120);
        assert_eq!(tumble_start(-1, 60), -60);
        assert_eq!(hop_starts(125, 20, 60), vec![80, 100, 120]);
        assert_eq!(hop_starts(120, 20, 60), vec![80, 100, 120]);
    }

    #[test]
    fn tumbling_windows_close_on_the_watermark() {
        let mut w = FixedWindows::new(60, 60, TimeColumn::Rowtime, 0);
        assert!(
            w.add(&batch(&[(1, "a", 1), (59, "b", 2), (60, "a", 3)]))
                .unwrap()
                .is_empty()
        );
        w.advance_rowtime(59);
        assert!(w.close().unwrap().is_none());
        w.advance_rowtime(60);
        let closed = w.close().unwrap().unwrap();
        assert_eq!(closed.num_rows(), 2);
        assert_eq!(starts(&closed), vec![0, 0]);
        // A row for the closed window is late.
        let late = w.add(&batch(&[(30, "a", 9), (61, "a", 4)])).unwrap();
        assert_eq!(
            late,
            vec![LateRow {
                time_ms: 30,
                watermark_ms: 60,
                index: 0
            }]
        );
        w.advance_rowtime(120);
        assert_eq!(w.close().unwrap().unwrap().num_rows(), 2);
        assert_eq!(w.open_windows(), 0);
    }

    #[test]
    fn event_time_lateness() {
        let schema_batch = |rows: &[i64]| {
            let schema = Arc::new(Schema::new(vec![Field::new("et", timestamp_type(), false)]));
            RecordBatch::try_new(
                schema,
                vec![Arc::new(
                    TimestampMillisecondArray::from(rows.to_vec()).with_timezone(UTC),
                )],
            )
            .unwrap()
        };
        let mut w = FixedWindows::new(10, 10, TimeColumn::Column("et".into()), 5);
        assert!(w.add(&schema_batch(&[1, 12, 3])).unwrap().is_empty()); // 3 is within lateness
        assert_eq!(w.watermark(), 7);
        assert!(w.close().unwrap().is_none());
        assert!(w.add(&schema_batch(&[16])).unwrap().is_empty());
        let closed = w.close().unwrap().unwrap();
        assert_eq!(closed.num_rows(), 2); // 1 and 3
        let late = w.add(&schema_batch(&[8])).unwrap();
        assert_eq!(late.len(), 1);
    }

    #[test]
    fn sessions_and_staggers_per_key() {
        let b = batch(&[(0, "a", 1), (5, "b", 1), (8, "a", 1), (30, "a", 1)]);
        let keys = row_keys(&[b.column(1).clone()]).unwrap();
        let mut s = KeyedWindows::session(10, TimeColumn::Rowtime);
        assert!(s.add(&b, &keys).unwrap().is_empty());
        s.advance(20);
        let closed = s.close().unwrap().unwrap();
        // a's session [0, 8] (the row at 30 opened a new one), b's [5].
        assert_eq!(closed.num_rows(), 3);
        assert_eq!(starts(&closed), vec![5, 0, 0]);
        let mut st = KeyedWindows::stagger(10);
        assert!(st.add(&b, &keys).unwrap().is_empty());
        st.advance(100);
        let closed = st.close().unwrap().unwrap();
        assert_eq!(starts(&closed), vec![0, 0, 5, 30]);
    }
}
