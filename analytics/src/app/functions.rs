//! The table functions of Kinesis Data Analytics' SQL, as operators between a pump's
//! CURSOR query and its outer SELECT: rows of the CURSOR in (with
//! [`CURSOR_ROWTIME`] first), the function's rows out, which the outer SELECT reads as
//! [`TABLE_FUNCTION`](super::dialect::TABLE_FUNCTION).
//!
//! - `TOP_K_ITEMS_TUMBLING` / `COUNT_DISTINCT_ITEMS_TUMBLING`: tumbling windows on
//!   ROWTIME (the CURSOR rows' `(ROWTIME, item)` kept by a [`FixedWindows`] until the
//!   window closes on the watermark), then **exact** counts: per window, the `k` items
//!   of highest count (ties: smaller value first) as `(ROWTIME, ITEM, ITEM_COUNT)`, or
//!   the number of distinct items as `(ROWTIME, NUMBER_OF_DISTINCT_ITEMS)`; ROWTIME is
//!   the window's start; NULL items are not counted.
//! - `RANDOM_CUT_FOREST`: each row, in order, scored and learnt by a [`Forest`]
//!   (`rcf.rs`) over its numeric columns: `(ROWTIME, the CURSOR's columns...,
//!   ANOMALY_SCORE)`; a row with a NULL or non-finite numeric value gets a NULL score
//!   and is not learnt. `RANDOM_CUT_FOREST_WITH_EXPLANATION` adds
//!   `ANOMALY_EXPLANATION`, JSON text: per numeric column its `ATTRIBUTION_SCORE` (and
//!   `DIRECTION`, HIGH or LOW, when asked).
//! - `HOTSPOTS`: each row joins the last `windowSize` rows' points; the dense regions
//!   among them (density-connected clusters: a point with at least `min_points` points
//!   within `scanRadius`, itself included, is a core point; core points within
//!   `scanRadius` of each other, and the points near them, form a hotspot) are given as
//!   `HOTSPOTS_RESULT`, JSON text: `{"hotspots": [{"density", "minValues",
//!   "maxValues"}, ...]}`, densest first.
//!
//! Invariants: every result depends only on the rows given, in their order, and on the
//! state ([`FunctionOp::snapshot`] / [`FunctionOp::restore`]), so an epoch computed
//! again after a crash gives the same rows; distances are Euclidean over the numeric
//! columns as given (normalise them in the CURSOR if their scales differ).
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt64Array,
};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde_json::json;

use super::dialect::{CURSOR_ROWTIME, FunctionKind, TimeColumn};
use super::rcf::Forest;
use super::window::{FixedWindows, LateRow, ROWTIME, WINDOW_START, row_keys};
use crate::error::{Error, Result};
use crate::schema::{UTC, timestamp_type};

/// A table function's operator and its state.
#[derive(Debug)]
pub enum FunctionOp {
    /// TOP_K_ITEMS_TUMBLING (`k` set) or COUNT_DISTINCT_ITEMS_TUMBLING.
    Tumbling {
        /// The windows of `(ROWTIME, item)` rows.
        windows: FixedWindows,
        /// The item column's index in the CURSOR's rows.
        column: usize,
        /// Items per window (top-k), or `None` (count distinct).
        k: Option<usize>,
        /// The rows given out.
        out: SchemaRef,
    },
    /// RANDOM_CUT_FOREST (and WITH_EXPLANATION).
    Forest {
        /// The model.
        forest: Box<Forest>,
        /// WITH_EXPLANATION: `Some(withDirectionality)`.
        explain: Option<bool>,
        /// The numeric columns' names (the explanation's keys).
        numeric_names: Vec<String>,
        /// The numeric columns' indexes in the CURSOR's rows.
        numeric: Vec<usize>,
        /// The CURSOR's columns passed through (all but its two ROWTIMEs).
        passthrough: Vec<usize>,
        /// The rows given out.
        out: SchemaRef,
    },
    /// HOTSPOTS.
    Hotspots {
        /// The window of points.
        spots: Hotspots,
        /// The numeric columns' indexes in the CURSOR's rows.
        numeric: Vec<usize>,
        /// The CURSOR's columns passed through.
        passthrough: Vec<usize>,
        /// The rows given out.
        out: SchemaRef,
    },
}

fn is_numeric(t: &DataType) -> bool {
    t.is_integer() || t.is_floating()
}

fn nullable(f: &Field) -> Field {
    f.clone().with_nullable(true)
}

impl FunctionOp {
    /// The operator of `kind` over CURSOR rows of `cursor` (checked: the column exists,
    /// there are numeric columns); `seed` seeds the forest.
    pub fn new(kind: &FunctionKind, cursor: &SchemaRef, seed: u64) -> Result<Self> {
        let fname = kind.name();
        let names: Vec<&str> = cursor
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .filter(|n| *n != CURSOR_ROWTIME)
            .collect();
        if cursor.index_of(CURSOR_ROWTIME).ok() != Some(0) {
            return Err(Error::State(format!(
                "{fname}: the CURSOR's rows do not start with their ROWTIME"
            )));
        }
        let find = |column: &str| -> Result<usize> {
            if let Ok(i) = cursor.index_of(column)
                && i > 0
            {
                return Ok(i);
            }
            let matches: Vec<usize> = (1..cursor.fields().len())
                .filter(|&i| cursor.field(i).name().eq_ignore_ascii_case(column))
                .collect();
            match matches.as_slice() {
                [i] => Ok(*i),
                _ => Err(Error::Sql(format!(
                    "{fname}: argument 2 (columnName) names {column:?}, which the CURSOR's SELECT does not give (it gives {})",
                    names.join(", ")
                ))),
            }
        };
        let rowtime = Field::new(ROWTIME, timestamp_type(), false);
        let passthrough: Vec<usize> = (1..cursor.fields().len())
            .filter(|&i| cursor.field(i).name() != ROWTIME)
            .collect();
        let numeric: Vec<usize> = passthrough
            .iter()
            .copied()
            .filter(|&i| is_numeric(cursor.field(i).data_type()))
            .collect();
        let with_passthrough = |extra: Field| -> SchemaRef {
            let mut fields = vec![rowtime.clone()];
            fields.extend(passthrough.iter().map(|&i| nullable(cursor.field(i))));
            fields.push(extra);
            Arc::new(Schema::new(fields))
        };
        let need_numeric = || -> Result<()> {
            if numeric.is_empty() {
                return Err(Error::Sql(format!(
                    "{fname}: the CURSOR's SELECT gives no numeric column (TINYINT, SMALLINT, INTEGER, BIGINT, REAL, DOUBLE; DECIMAL is not accepted: CAST it AS DOUBLE); it gives {}",
                    names.join(", ")
                )));
            }
            Ok(())
        };
        Ok(match kind {
            FunctionKind::TopK {
                column,
                k,
                window_ms,
            } => {
                let c = find(column)?;
                FunctionOp::Tumbling {
                    windows: FixedWindows::new(*window_ms, *window_ms, TimeColumn::Rowtime, 0),
                    column: c,
                    k: Some(*k),
                    out: Arc::new(Schema::new(vec![
                        rowtime,
                        Field::new("ITEM", cursor.field(c).data_type().clone(), true),
                        Field::new("ITEM_COUNT", DataType::Int64, false),
                    ])),
                }
            }
            FunctionKind::CountDistinct { column, window_ms } => {
                let c = find(column)?;
                FunctionOp::Tumbling {
                    windows: FixedWindows::new(*window_ms, *window_ms, TimeColumn::Rowtime, 0),
                    column: c,
                    k: None,
                    out: Arc::new(Schema::new(vec![
                        rowtime,
                        Field::new("NUMBER_OF_DISTINCT_ITEMS", DataType::Int64, false),
                    ])),
                }
            }
            FunctionKind::RandomCutForest {
                trees,
                sample,
                decay,
                shingle,
                explain,
            } => {
                need_numeric()?;
                let mut fields = vec![rowtime.clone()];
                fields.extend(passthrough.iter().map(|&i| nullable(cursor.field(i))));
                fields.push(Field::new("ANOMALY_SCORE", DataType::Float64, true));
                if explain.is_some() {
                    fields.push(Field::new("ANOMALY_EXPLANATION", DataType::Utf8, true));
                }
                FunctionOp::Forest {
                    explain: *explain,
                    numeric_names: numeric
                        .iter()
                        .map(|&i| cursor.field(i).name().clone())
                        .collect(),
                    forest: Box::new(Forest::new(
                        *trees,
                        *sample,
                        *decay,
                        *shingle,
                        numeric.len(),
                        seed,
                    )),
                    out: Arc::new(Schema::new(fields)),
                    numeric,
                    passthrough,
                }
            }
            FunctionKind::Hotspots {
                window,
                radius,
                min_points,
            } => {
                need_numeric()?;
                FunctionOp::Hotspots {
                    spots: Hotspots::new(*window, *radius, *min_points, numeric.len()),
                    out: with_passthrough(Field::new("HOTSPOTS_RESULT", DataType::Utf8, true)),
                    numeric,
                    passthrough,
                }
            }
        })
    }

    /// The rows the function gives (the outer SELECT's table).
    pub fn output_schema(&self) -> SchemaRef {
        match self {
            FunctionOp::Tumbling { out, .. }
            | FunctionOp::Forest { out, .. }
            | FunctionOp::Hotspots { out, .. } => Arc::clone(out),
        }
    }

    /// The end of the oldest open window (tumbling functions), if any.
    pub fn next_end(&self) -> Option<i64> {
        match self {
            FunctionOp::Tumbling { windows, .. } => windows.next_end(),
            _ => None,
        }
    }

    /// Feeds the epoch's CURSOR rows (if any) and the watermark `m`: the function's
    /// rows, and the rows that came late (tumbling windows already closed).
    pub fn process(
        &mut self,
        rows: Option<&RecordBatch>,
        m: i64,
    ) -> Result<(Option<RecordBatch>, Vec<LateRow>)> {
        let rows = rows.filter(|b| b.num_rows() > 0);
        match self {
            FunctionOp::Tumbling {
                windows,
                column,
                k,
                out,
            } => {
                let mut late = Vec::new();
                if let Some(b) = rows {
                    let item = b.column(*column);
                    let small = RecordBatch::try_new(
                        Arc::new(Schema::new(vec![
                            Field::new(ROWTIME, timestamp_type(), true),
                            Field::new("item", item.data_type().clone(), true),
                        ])),
                        vec![cast(b.column(0), &timestamp_type())?, Arc::clone(item)],
                    )?;
                    late = windows.add(&small)?;
                }
                windows.advance_rowtime(m);
                let Some(closed) = windows.close()? else {
                    return Ok((None, late));
                };
                Ok((Some(count_windows(&closed, *k, out)?), late))
            }
            FunctionOp::Forest {
                forest,
                explain,
                numeric_names,
                numeric,
                passthrough,
                out,
            } => {
                let Some(b) = rows else {
                    return Ok((None, Vec::new()));
                };
                let values = numeric_values(b, numeric)?;
                let mut scores = Vec::with_capacity(values.len());
                let mut explanations = Vec::with_capacity(values.len());
                for v in &values {
                    match (v, *explain) {
                        (None, _) => {
                            scores.push(None);
                            explanations.push(None);
                        }
                        (Some(v), None) => scores.push(Some(forest.update(v))),
                        (Some(v), Some(directions)) => {
                            let (score, (attr, signed)) = forest.update_explained(v);
                            scores.push(Some(score));
                            let mut e = serde_json::Map::new();
                            for (c, name) in numeric_names.iter().enumerate() {
                                let mut entry = serde_json::Map::new();
                                entry.insert("ATTRIBUTION_SCORE".into(), json!(attr[c]));
                                if directions {
                                    let high = signed[c] >= 0.0;
                                    entry.insert(
                                        "DIRECTION".into(),
                                        json!(if high { "HIGH" } else { "LOW" }),
                                    );
                                }
                                e.insert(name.clone(), serde_json::Value::Object(entry));
                            }
                            explanations.push(Some(serde_json::Value::Object(e).to_string()));
                        }
                    }
                }
                let scores: ArrayRef = Arc::new(Float64Array::from(scores));
                let batch = if explain.is_some() {
                    let with_scores = passed_through(
                        b,
                        passthrough,
                        &Arc::new(out.project(&(0..out.fields().len() - 1).collect::<Vec<_>>())?),
                        scores,
                    )?;
                    let mut columns = with_scores.columns().to_vec();
                    columns.push(Arc::new(StringArray::from(explanations)));
                    RecordBatch::try_new(Arc::clone(out), columns)?
                } else {
                    passed_through(b, passthrough, out, scores)?
                };
                Ok((Some(batch), Vec::new()))
            }
            FunctionOp::Hotspots {
                spots,
                numeric,
                passthrough,
                out,
            } => {
                let Some(b) = rows else {
                    return Ok((None, Vec::new()));
                };
                let values = numeric_values(b, numeric)?;
                let results: StringArray = values
                    .into_iter()
                    .map(|v| v.map(|v| spots.update(v)))
                    .collect();
                let batch = passed_through(b, passthrough, out, Arc::new(results))?;
                Ok((Some(batch), Vec::new()))
            }
        }
    }

    /// The state for a checkpoint: (watermark, largest event time, open windows' rows,
    /// model bytes).
    pub fn snapshot(&self) -> Result<(i64, i64, Option<RecordBatch>, Vec<u8>)> {
        match self {
            FunctionOp::Tumbling { windows, .. } => {
                let (a, b, rows) = windows.snapshot()?;
                Ok((a, b, rows, Vec::new()))
            }
            FunctionOp::Forest { forest, .. } => Ok((i64::MIN, i64::MIN, None, forest.to_bytes())),
            FunctionOp::Hotspots { spots, .. } => Ok((i64::MIN, i64::MIN, None, spots.to_bytes())),
        }
    }

    /// Restores a [`snapshot`](Self::snapshot) (empty model bytes: a fresh model).
    pub fn restore(
        &mut self,
        a: i64,
        b: i64,
        rows: Option<RecordBatch>,
        state: &[u8],
    ) -> Result<()> {
        match self {
            FunctionOp::Tumbling { windows, .. } => windows.restore(a, b, rows),
            FunctionOp::Forest { forest, .. } if !state.is_empty() => forest.restore(state),
            FunctionOp::Hotspots { spots, .. } if !state.is_empty() => spots.restore(state),
            _ => Ok(()),
        }
    }
}

/// Per row: the numeric columns' values as f64, or `None` if one is NULL or not finite.
fn numeric_values(b: &RecordBatch, numeric: &[usize]) -> Result<Vec<Option<Vec<f64>>>> {
    let columns = numeric
        .iter()
        .map(|&i| cast(b.column(i), &DataType::Float64))
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
    let columns: Vec<&Float64Array> = columns
        .iter()
        .map(|c| {
            c.as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| Error::State("a numeric column did not cast to DOUBLE".into()))
        })
        .collect::<Result<_>>()?;
    Ok((0..b.num_rows())
        .map(|r| {
            columns
                .iter()
                .map(|c| (c.is_valid(r) && c.value(r).is_finite()).then(|| c.value(r)))
                .collect()
        })
        .collect())
}

/// The function's rows: ROWTIME (the CURSOR's), the passed-through columns, `extra`.
fn passed_through(
    b: &RecordBatch,
    passthrough: &[usize],
    out: &SchemaRef,
    extra: ArrayRef,
) -> Result<RecordBatch> {
    let mut columns = vec![cast(b.column(0), &timestamp_type())?];
    for (&i, field) in passthrough.iter().zip(out.fields().iter().skip(1)) {
        columns.push(cast(b.column(i), field.data_type())?);
    }
    columns.push(extra);
    Ok(RecordBatch::try_new(Arc::clone(out), columns)?)
}

/// Exact counts of the closed windows' items (`ROWTIME`, item, `"__window_start"`).
fn count_windows(closed: &RecordBatch, k: Option<usize>, out: &SchemaRef) -> Result<RecordBatch> {
    let starts = closed
        .column_by_name(WINDOW_START)
        .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
        .ok_or_else(|| Error::State("closed windows without their start".into()))?;
    let item = closed.column(1);
    let keys = row_keys(std::slice::from_ref(item))?;
    // window start → item key → (count, first row).
    let mut windows: BTreeMap<i64, BTreeMap<&[u8], (i64, usize)>> = BTreeMap::new();
    for (i, key) in keys.iter().enumerate() {
        let items = windows.entry(starts.value(i)).or_default();
        if item.is_valid(i) {
            items.entry(key.as_slice()).or_insert((0, i)).0 += 1;
        }
    }
    let mut times = Vec::new();
    match k {
        Some(k) => {
            let mut rows = Vec::new();
            let mut counts = Vec::new();
            for (start, items) in &windows {
                let mut ranked: Vec<(&&[u8], &(i64, usize))> = items.iter().collect();
                // Highest count first; ties by the item's value (the key's order).
                ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
                for (_, &(count, row)) in ranked.into_iter().take(k) {
                    times.push(*start);
                    rows.push(row as u64);
                    counts.push(count);
                }
            }
            let items = take(item.as_ref(), &UInt64Array::from(rows), None)?;
            Ok(RecordBatch::try_new(
                Arc::clone(out),
                vec![
                    Arc::new(TimestampMillisecondArray::from(times).with_timezone(UTC)),
                    cast(&items, out.field(1).data_type())?,
                    Arc::new(Int64Array::from(counts)),
                ],
            )?)
        }
        None => {
            let mut counts = Vec::new();
            for (start, items) in &windows {
                times.push(*start);
                counts.push(items.len() as i64);
            }
            Ok(RecordBatch::try_new(
                Arc::clone(out),
                vec![
                    Arc::new(TimestampMillisecondArray::from(times).with_timezone(UTC)),
                    Arc::new(Int64Array::from(counts)),
                ],
            )?)
        }
    }
}

/// HOTSPOTS' window of points (see the module doc).
#[derive(Debug, Clone)]
pub struct Hotspots {
    window: usize,
    radius: f64,
    min_points: usize,
    dims: usize,
    points: VecDeque<Vec<f64>>,
}

/// A hotspot found: its points' count and bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Hotspot {
    /// How many times denser than the window as a whole.
    pub density: f64,
    /// Smallest value per dimension.
    pub min: Vec<f64>,
    /// Largest value per dimension.
    pub max: Vec<f64>,
    /// Points in it.
    pub count: usize,
}

impl Hotspots {
    /// The last `window` points of `dims` values; hotspots of at least `min_points`
    /// points within `radius` of each other.
    pub fn new(window: usize, radius: f64, min_points: usize, dims: usize) -> Self {
        Hotspots {
            window,
            radius,
            min_points,
            dims,
            points: VecDeque::new(),
        }
    }

    /// Adds a point (the oldest leaves once there are `window`); the hotspots now, as
    /// JSON text.
    pub fn update(&mut self, point: Vec<f64>) -> String {
        self.points.push_back(point);
        while self.points.len() > self.window {
            self.points.pop_front();
        }
        let spots = self.find();
        json!({
            "hotspots": spots.iter().map(|h| json!({
                "density": h.density,
                "minValues": h.min,
                "maxValues": h.max,
            })).collect::<Vec<_>>()
        })
        .to_string()
    }

    /// The hotspots among the current points, densest first.
    pub fn find(&self) -> Vec<Hotspot> {
        let n = self.points.len();
        if n == 0 {
            return Vec::new();
        }
        let r = self.radius;
        // A grid of cells of side r over (at most) the first three dimensions: the
        // neighbours of a point are in its cell or the adjacent ones.
        let g = self.dims.min(3);
        let cell =
            |p: &[f64]| -> Vec<i64> { p[..g].iter().map(|x| (x / r).floor() as i64).collect() };
        let mut grid: HashMap<Vec<i64>, Vec<usize>> = HashMap::new();
        for (i, p) in self.points.iter().enumerate() {
            grid.entry(cell(p)).or_default().push(i);
        }
        let offsets: Vec<Vec<i64>> = (0..3usize.pow(g as u32))
            .map(|mut c| {
                (0..g)
                    .map(|_| {
                        let o = (c % 3) as i64 - 1;
                        c /= 3;
                        o
                    })
                    .collect()
            })
            .collect();
        let r2 = r * r;
        let neighbours = |i: usize| -> Vec<usize> {
            let p = &self.points[i];
            let base = cell(p);
            let mut out = Vec::new();
            for o in &offsets {
                let c: Vec<i64> = base.iter().zip(o).map(|(a, b)| a + b).collect();
                if let Some(list) = grid.get(&c) {
                    for &j in list {
                        let q = &self.points[j];
                        let d2: f64 = p.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
                        if d2 <= r2 {
                            out.push(j);
                        }
                    }
                }
            }
            out.sort_unstable();
            out
        };
        let near: Vec<Vec<usize>> = (0..n).map(neighbours).collect();
        let core: Vec<bool> = near.iter().map(|v| v.len() >= self.min_points).collect();
        let mut cluster = vec![usize::MAX; n];
        let mut clusters: Vec<Vec<usize>> = Vec::new();
        for start in 0..n {
            if !core[start] || cluster[start] != usize::MAX {
                continue;
            }
            let id = clusters.len();
            let mut members = vec![start];
            cluster[start] = id;
            let mut queue = vec![start];
            while let Some(i) = queue.pop() {
                for &j in &near[i] {
                    if cluster[j] == usize::MAX {
                        cluster[j] = id;
                        members.push(j);
                        if core[j] {
                            queue.push(j);
                        }
                    }
                }
            }
            clusters.push(members);
        }
        let extent_log = |lo: &[f64], hi: &[f64]| -> f64 {
            lo.iter().zip(hi).map(|(a, b)| (b - a + r).ln()).sum()
        };
        let bounds = |members: &mut dyn Iterator<Item = usize>| -> (Vec<f64>, Vec<f64>) {
            let mut lo = vec![f64::INFINITY; self.dims];
            let mut hi = vec![f64::NEG_INFINITY; self.dims];
            for i in members {
                for (d, v) in self.points[i].iter().enumerate() {
                    lo[d] = lo[d].min(*v);
                    hi[d] = hi[d].max(*v);
                }
            }
            (lo, hi)
        };
        let (wlo, whi) = bounds(&mut (0..n));
        let window_log = (n as f64).ln() - extent_log(&wlo, &whi);
        let mut out: Vec<Hotspot> = clusters
            .into_iter()
            .filter(|m| m.len() >= self.min_points)
            .map(|m| {
                let (lo, hi) = bounds(&mut m.iter().copied());
                let density = ((m.len() as f64).ln() - extent_log(&lo, &hi) - window_log).exp();
                Hotspot {
                    density,
                    min: lo,
                    max: hi,
                    count: m.len(),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.density.total_cmp(&a.density).then_with(|| {
                a.min
                    .iter()
                    .zip(&b.min)
                    .fold(std::cmp::Ordering::Equal, |o, (x, y)| {
                        o.then(x.total_cmp(y))
                    })
            })
        });
        out
    }

    /// The window's points as bytes: u64 LE count, then each value's bits (u64 LE).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(8 + self.points.len() * self.dims * 8);
        w.extend_from_slice(&(self.points.len() as u64).to_le_bytes());
        for p in &self.points {
            for v in p {
                w.extend_from_slice(&v.to_bits().to_le_bytes());
            }
        }
        w
    }

    /// Restores [`to_bytes`](Self::to_bytes).
    pub fn restore(&mut self, bytes: &[u8]) -> Result<()> {
        let bad = || Error::State("the checkpoint's HOTSPOTS window is damaged".into());
        let count = u64::from_le_bytes(
            bytes
                .get(..8)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        );
        let need = (count as usize)
            .checked_mul(self.dims * 8)
            .and_then(|x| x.checked_add(8))
            .ok_or_else(bad)?;
        if bytes.len() != need || count as usize > self.window {
            return Err(bad());
        }
        let values: Vec<f64> = bytes[8..]
            .chunks_exact(8)
            .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8 bytes"))))
            .collect();
        self.points = values.chunks(self.dims).map(<[f64]>::to_vec).collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dense_region_is_found_with_its_bounds() {
        let mut h = Hotspots::new(200, 0.5, 5, 2);
        // Sparse points on a wide grid, then a tight cluster.
        for i in 0..100 {
            h.update(vec![(i % 10) as f64 * 10.0, (i / 10) as f64 * 10.0]);
        }
        for i in 0..20 {
            h.update(vec![
                50.0 + (i % 5) as f64 * 0.1,
                50.0 + (i / 5) as f64 * 0.1,
            ]);
        }
        let spots = h.find();
        assert_eq!(spots.len(), 1, "{spots:?}");
        // The cluster and the one grid point at (50, 50) it touches.
        assert_eq!(spots[0].count, 21);
        assert_eq!(spots[0].min, vec![50.0, 50.0]);
        assert!((spots[0].max[0] - 50.4).abs() < 1e-9 && (spots[0].max[1] - 50.3).abs() < 1e-9);
        assert!(spots[0].density > 100.0);
        let mut again = Hotspots::new(200, 0.5, 5, 2);
        again.restore(&h.to_bytes()).unwrap();
        assert_eq!(again.find(), spots);
        assert!(again.restore(&[1, 2, 3]).is_err());
    }
}
