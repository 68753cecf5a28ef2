//! Records to columns: the JSON and CSV decoders of input schemas.
//!
//! The JSON decoder does not build a document: it walks each record once, compares
//! member names against a tree of the paths the query asked for, and notes where each
//! wanted value lies (skipping every other value by scanning for its end), then
//! converts only those values. When every wanted top-level value is found it stops
//! reading the record. The CSV decoder splits a record into rows and fields (`"`
//! quotes, `""` inside quotes) and converts the wanted fields.
//!
//! Invariants:
//! - A record either adds all its rows, with every wanted column, or adds nothing and
//!   returns the reason (the columns are rolled back to their length before it): a bad
//!   record is never half in a batch, and never silently dropped.
//! - Conversions are strict: an integer column refuses `2.5` and out-of-range values, a
//!   `VARCHAR(n)` refuses a longer text, a TIMESTAMP refuses a text that is not one.
//!   A missing member or JSON `null` is SQL NULL.
//! - Of members that appear twice, the first counts (the decoder may stop before the
//!   second).
#![forbid(unsafe_code)]

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int8Array,
    Int16Array, Int32Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::kernels::cast_utils::{Parser, parse_decimal, string_to_timestamp_nanos};
use arrow::datatypes::{Date32Type, Decimal128Type};

use crate::schema::{InputSchema, Mapping, PathStep, RecordFormat, SqlType, UTC};

/// Parses a timestamp text (ISO 8601 / RFC 3339, `T` or space, optional fraction and
/// offset; no offset means UTC) to epoch milliseconds.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let t = text.trim();
    // A bare number is not a timestamp text (arrow would read it as seconds).
    if t.len() < 10 || !t.as_bytes()[..4].iter().all(u8::is_ascii_digit) || t.as_bytes()[4] != b'-'
    {
        return None;
    }
    string_to_timestamp_nanos(t)
        .ok()
        .map(|ns| ns.div_euclid(1_000_000))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A JSON string (span without the quotes); `escaped` if it holds a backslash.
    Str {
        escaped: bool,
    },
    /// A JSON number's text.
    Num,
    True,
    False,
    Null,
    /// An object or array, as JSON text.
    Raw,
    /// An unquoted CSV field.
    Field,
    /// A quoted CSV field (span without the outer quotes); `escaped` if it holds `""`.
    Quoted {
        escaped: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Span {
    kind: Kind,
    start: usize,
    end: usize,
}

/// One typed output column, rolled back by truncation.
#[derive(Debug)]
enum Data {
    Utf8 {
        offsets: Vec<i32>,
        values: Vec<u8>,
        max_chars: Option<u32>,
    },
    Bool(Vec<bool>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Dec(Vec<i128>, u8, i8),
    Ts(Vec<i64>),
    Date(Vec<i32>),
}

#[derive(Debug)]
struct Column {
    data: Data,
    valid: Vec<bool>,
    nulls: usize,
}

impl Column {
    fn new(sql_type: SqlType) -> Self {
        let data = match sql_type {
            SqlType::Varchar(max_chars) => Data::Utf8 {
                offsets: vec![0],
                values: Vec::new(),
                max_chars,
            },
            SqlType::Boolean => Data::Bool(Vec::new()),
            SqlType::TinyInt => Data::I8(Vec::new()),
            SqlType::SmallInt => Data::I16(Vec::new()),
            SqlType::Integer => Data::I32(Vec::new()),
            SqlType::BigInt => Data::I64(Vec::new()),
            SqlType::Real => Data::F32(Vec::new()),
            SqlType::Double => Data::F64(Vec::new()),
            SqlType::Decimal(p, s) => Data::Dec(Vec::new(), p, s),
            SqlType::Timestamp => Data::Ts(Vec::new()),
            SqlType::Date => Data::Date(Vec::new()),
        };
        Self {
            data,
            valid: Vec::new(),
            nulls: 0,
        }
    }

    fn len(&self) -> usize {
        self.valid.len()
    }

    fn truncate(&mut self, len: usize) {
        if self.valid.len() <= len {
            return;
        }
        self.nulls -= self.valid[len..].iter().filter(|v| !**v).count();
        self.valid.truncate(len);
        match &mut self.data {
            Data::Utf8 {
                offsets, values, ..
            } => {
                offsets.truncate(len + 1);
                values.truncate(offsets[len] as usize);
            }
            Data::Bool(v) => v.truncate(len),
            Data::I8(v) => v.truncate(len),
            Data::I16(v) => v.truncate(len),
            Data::I32(v) => v.truncate(len),
            Data::I64(v) => v.truncate(len),
            Data::F32(v) => v.truncate(len),
            Data::F64(v) => v.truncate(len),
            Data::Dec(v, ..) => v.truncate(len),
            Data::Ts(v) => v.truncate(len),
            Data::Date(v) => v.truncate(len),
        }
    }

    fn push_null(&mut self) {
        self.valid.push(false);
        self.nulls += 1;
        match &mut self.data {
            Data::Utf8 {
                offsets, values, ..
            } => offsets.push(values.len() as i32),
            Data::Bool(v) => v.push(false),
            Data::I8(v) => v.push(0),
            Data::I16(v) => v.push(0),
            Data::I32(v) => v.push(0),
            Data::I64(v) => v.push(0),
            Data::F32(v) => v.push(0.0),
            Data::F64(v) => v.push(0.0),
            Data::Dec(v, ..) => v.push(0),
            Data::Ts(v) => v.push(0),
            Data::Date(v) => v.push(0),
        }
    }

    /// Converts and appends one value; on error appends nothing.
    fn push(&mut self, record: &[u8], span: Span) -> Result<(), String> {
        let raw = &record[span.start..span.end];
        if span.kind == Kind::Null {
            self.push_null();
            return Ok(());
        }
        // The value as text (strings unescaped), for every type but booleans.
        let text = || -> Result<std::borrow::Cow<'_, str>, String> {
            match span.kind {
                Kind::Str { escaped: true } => {
                    let quoted = &record[span.start - 1..span.end + 1];
                    serde_json::from_slice::<String>(quoted)
                        .map(std::borrow::Cow::Owned)
                        .map_err(|e| format!("bad string escape: {e}"))
                }
                Kind::Quoted { escaped: true } => std::str::from_utf8(raw)
                    .map(|s| std::borrow::Cow::Owned(s.replace("\"\"", "\"")))
                    .map_err(|_| "a field is not valid UTF-8".to_string()),
                _ => std::str::from_utf8(raw)
                    .map(std::borrow::Cow::Borrowed)
                    .map_err(|_| "a value is not valid UTF-8".to_string()),
            }
        };
        let is_text = matches!(
            span.kind,
            Kind::Str { .. } | Kind::Field | Kind::Quoted { .. }
        );
        let csv_empty = matches!(span.kind, Kind::Field) && raw.is_empty();
        if csv_empty && !matches!(self.data, Data::Utf8 { .. }) {
            self.push_null();
            return Ok(());
        }
        let kind_name = match span.kind {
            Kind::Raw => "an object or array",
            Kind::True | Kind::False => "a boolean",
            Kind::Num => "a number",
            _ => "a text",
        };
        macro_rules! int {
            ($v:expr, $t:ty, $name:literal) => {{
                let text = match span.kind {
                    Kind::Num => text()?,
                    _ if is_text => text()?,
                    _ => return Err(format!("{} where {} was expected", kind_name, $name)),
                };
                let value = parse_int(text.trim())
                    .ok_or_else(|| format!("{:?} is not an integer", text))?;
                let value = <$t>::try_from(value)
                    .map_err(|_| format!("{} is out of range for {}", value, $name))?;
                $v.push(value);
            }};
        }
        match &mut self.data {
            Data::Utf8 {
                offsets,
                values,
                max_chars,
            } => {
                let text = text()?;
                if let Some(max) = max_chars {
                    let chars = text.chars().count();
                    if chars > *max as usize {
                        return Err(format!(
                            "a text of {chars} characters is longer than VARCHAR({max})"
                        ));
                    }
                }
                values.extend_from_slice(text.as_bytes());
                if values.len() > i32::MAX as usize {
                    values.truncate(*offsets.last().unwrap_or(&0) as usize);
                    return Err("the batch's text exceeds 2 GiB".into());
                }
                offsets.push(values.len() as i32);
            }
            Data::Bool(v) => {
                let b = match span.kind {
                    Kind::True => true,
                    Kind::False => false,
                    _ if is_text => match text()?.trim().to_ascii_lowercase().as_str() {
                        "true" | "t" | "1" => true,
                        "false" | "f" | "0" => false,
                        other => return Err(format!("{other:?} is not a boolean")),
                    },
                    _ => return Err(format!("{kind_name} where BOOLEAN was expected")),
                };
                v.push(b);
            }
            Data::I8(v) => int!(v, i8, "TINYINT"),
            Data::I16(v) => int!(v, i16, "SMALLINT"),
            Data::I32(v) => int!(v, i32, "INTEGER"),
            Data::I64(v) => int!(v, i64, "BIGINT"),
            Data::F32(v) => {
                if span.kind != Kind::Num && !is_text {
                    return Err(format!("{kind_name} where REAL was expected"));
                }
                let text = text()?;
                let f = text
                    .trim()
                    .parse::<f32>()
                    .map_err(|_| format!("{text:?} is not a number"))?;
                v.push(f);
            }
            Data::F64(v) => {
                if span.kind != Kind::Num && !is_text {
                    return Err(format!("{kind_name} where DOUBLE was expected"));
                }
                let text = text()?;
                let f = text
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("{text:?} is not a number"))?;
                v.push(f);
            }
            Data::Dec(v, p, s) => {
                if span.kind != Kind::Num && !is_text {
                    return Err(format!("{kind_name} where DECIMAL was expected"));
                }
                let text = text()?;
                let d = parse_decimal::<Decimal128Type>(text.trim(), *p, *s)
                    .map_err(|_| format!("{text:?} does not fit DECIMAL({p},{s})"))?;
                v.push(d);
            }
            Data::Ts(v) => {
                let ms = match span.kind {
                    Kind::Num => {
                        let text = text()?;
                        parse_int(&text)
                            .ok_or_else(|| format!("{text:?} is not epoch milliseconds"))?
                    }
                    _ if is_text => {
                        let text = text()?;
                        match parse_int(text.trim()) {
                            Some(ms) => ms,
                            None => parse_timestamp_ms(&text)
                                .ok_or_else(|| format!("{text:?} is not a timestamp"))?,
                        }
                    }
                    _ => return Err(format!("{kind_name} where TIMESTAMP was expected")),
                };
                v.push(ms);
            }
            Data::Date(v) => {
                if !is_text {
                    return Err(format!("{kind_name} where DATE was expected"));
                }
                let text = text()?;
                let d = Date32Type::parse(text.trim())
                    .ok_or_else(|| format!("{text:?} is not a date"))?;
                v.push(d);
            }
        }
        self.valid.push(true);
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        let valid = std::mem::take(&mut self.valid);
        let nulls = if self.nulls == 0 {
            None
        } else {
            Some(NullBuffer::from(valid))
        };
        self.nulls = 0;
        let data = std::mem::replace(&mut self.data, Data::Bool(Vec::new()));
        let (array, fresh): (ArrayRef, Data) = match data {
            Data::Utf8 {
                offsets,
                values,
                max_chars,
            } => (
                Arc::new(StringArray::new(
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    values.into(),
                    nulls,
                )),
                Data::Utf8 {
                    offsets: vec![0],
                    values: Vec::new(),
                    max_chars,
                },
            ),
            Data::Bool(v) => (
                Arc::new(BooleanArray::new(v.into_iter().collect(), nulls)),
                Data::Bool(Vec::new()),
            ),
            Data::I8(v) => (
                Arc::new(Int8Array::new(v.into(), nulls)),
                Data::I8(Vec::new()),
            ),
            Data::I16(v) => (
                Arc::new(Int16Array::new(v.into(), nulls)),
                Data::I16(Vec::new()),
            ),
            Data::I32(v) => (
                Arc::new(Int32Array::new(v.into(), nulls)),
                Data::I32(Vec::new()),
            ),
            Data::I64(v) => (
                Arc::new(Int64Array::new(v.into(), nulls)),
                Data::I64(Vec::new()),
            ),
            Data::F32(v) => (
                Arc::new(Float32Array::new(v.into(), nulls)),
                Data::F32(Vec::new()),
            ),
            Data::F64(v) => (
                Arc::new(Float64Array::new(v.into(), nulls)),
                Data::F64(Vec::new()),
            ),
            Data::Dec(v, p, s) => (
                Arc::new(
                    Decimal128Array::new(v.into(), nulls)
                        .with_precision_and_scale(p, s)
                        .expect("precision and scale were validated with the schema"),
                ),
                Data::Dec(Vec::new(), p, s),
            ),
            Data::Ts(v) => (
                Arc::new(TimestampMillisecondArray::new(v.into(), nulls).with_timezone(UTC)),
                Data::Ts(Vec::new()),
            ),
            Data::Date(v) => (
                Arc::new(Date32Array::new(v.into(), nulls)),
                Data::Date(Vec::new()),
            ),
        };
        self.data = fresh;
        array
    }
}

/// An integer from a decimal text; an integral float text (`3.0`, `1e3`) is accepted.
fn parse_int(text: &str) -> Option<i64> {
    if let Ok(v) = text.parse::<i64>() {
        return Some(v);
    }
    let f = text.parse::<f64>().ok()?;
    (f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f))
        .then_some(f as i64)
}

/// The wanted paths of a JSON schema as a tree of member names and array indexes.
#[derive(Debug, Default)]
struct Tree {
    members: Vec<(Vec<u8>, Node)>,
    elements: Vec<(usize, Node)>,
}

#[derive(Debug, Default)]
struct Node {
    slot: Option<usize>,
    children: Tree,
}

impl Tree {
    fn insert(&mut self, path: &[PathStep], slot: usize) {
        let (first, rest) = path.split_first().expect("paths are never empty");
        let node = match first {
            PathStep::Key(k) => {
                let k = k.as_bytes();
                match self.members.iter().position(|(m, _)| m == k) {
                    Some(i) => &mut self.members[i].1,
                    None => {
                        self.members.push((k.to_vec(), Node::default()));
                        &mut self.members.last_mut().expect("just pushed").1
                    }
                }
            }
            PathStep::Index(n) => match self.elements.iter().position(|(m, _)| m == n) {
                Some(i) => &mut self.elements[i].1,
                None => {
                    self.elements.push((*n, Node::default()));
                    &mut self.elements.last_mut().expect("just pushed").1
                }
            },
        };
        if rest.is_empty() {
            node.slot.get_or_insert(slot);
        } else {
            node.children.insert(rest, slot);
        }
    }

    fn member(&self, key: &[u8]) -> Option<&Node> {
        self.members.iter().find(|(m, _)| m == key).map(|(_, n)| n)
    }
}

/// A record that did not decode, and why.
pub type Reason = String;

/// Decodes records of one input schema into the columns a query asked for.
#[derive(Debug)]
pub struct RowDecoder {
    format: RecordFormat,
    /// For each wanted column: its position in the schema.
    wanted: Vec<usize>,
    tree: Tree,
    /// CSV: field number → slot.
    csv_slots: Vec<Option<usize>>,
    columns: Vec<Column>,
    names: Vec<String>,
    spans: Vec<Option<Span>>,
    found: usize,
}

impl RowDecoder {
    /// A decoder producing the schema's columns at positions `wanted` (in that order).
    pub fn new(schema: &InputSchema, wanted: &[usize]) -> Self {
        let mut tree = Tree::default();
        let mut csv_slots = Vec::new();
        let mut columns = Vec::with_capacity(wanted.len());
        for (slot, &i) in wanted.iter().enumerate() {
            let c = &schema.columns()[i];
            columns.push(Column::new(c.sql_type));
            match &c.mapping {
                Mapping::Json(path) => tree.insert(&path.0, slot),
                Mapping::Csv(field) => {
                    if csv_slots.len() <= *field {
                        csv_slots.resize(field + 1, None);
                    }
                    csv_slots[*field] = Some(slot);
                }
            }
        }
        Self {
            format: schema.format().clone(),
            wanted: wanted.to_vec(),
            tree,
            csv_slots,
            columns,
            names: wanted
                .iter()
                .map(|&i| schema.columns()[i].name.clone())
                .collect(),
            spans: vec![None; wanted.len()],
            found: 0,
        }
    }

    /// Rows decoded so far (since the last [`finish`](Self::finish)).
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    /// Decodes one record, adding its rows (JSON: one; CSV: one per non-empty row).
    /// Returns how many rows it added, or the reason it added none.
    pub fn decode(&mut self, record: &[u8], rows_added: &mut usize) -> Result<(), Reason> {
        *rows_added = 0;
        let before = self.rows();
        let result = match self.format {
            RecordFormat::Json => self.decode_json(record).map(|()| 1),
            RecordFormat::Csv { .. } => self.decode_csv(record),
        };
        match result {
            Ok(rows) => {
                *rows_added = rows;
                Ok(())
            }
            Err(reason) => {
                for c in &mut self.columns {
                    c.truncate(before);
                }
                Err(reason)
            }
        }
    }

    /// Checks a record without keeping its rows (for error outputs): the reason it
    /// fails, or `None` if it decodes.
    pub fn check(&mut self, record: &[u8]) -> Option<Reason> {
        let before = self.rows();
        let mut rows = 0;
        let result = self.decode(record, &mut rows).err();
        for c in &mut self.columns {
            c.truncate(before);
        }
        result
    }

    /// The decoded columns (in `wanted` order); the decoder starts over empty.
    pub fn finish(&mut self) -> Vec<ArrayRef> {
        self.columns.iter_mut().map(Column::finish).collect()
    }

    /// Number of wanted columns.
    pub fn width(&self) -> usize {
        self.wanted.len()
    }

    fn decode_json(&mut self, record: &[u8]) -> Result<(), Reason> {
        self.spans.iter_mut().for_each(|s| *s = None);
        self.found = 0;
        if self.wanted.is_empty() {
            // Nothing to extract, but the record must still be a JSON object.
            let mut cur = Cursor { b: record, i: 0 };
            cur.ws();
            if cur.peek() != Some(b'{') {
                return Err(not_object(record));
            }
            cur.skip_value().map_err(|e| e.to_string())?;
            return trailing(&mut cur);
        }
        let mut cur = Cursor { b: record, i: 0 };
        cur.ws();
        if cur.peek() != Some(b'{') {
            return Err(not_object(record));
        }
        let total = self.wanted.len();
        let complete = walk_object(
            &mut cur,
            &self.tree,
            &mut self.spans,
            &mut self.found,
            Some(total),
        )
        .map_err(|e| format!("not valid JSON: {e} at byte {}", cur.i))?;
        if !complete {
            cur.ws();
            trailing(&mut cur)?;
        }
        for (slot, column) in self.columns.iter_mut().enumerate() {
            match self.spans[slot] {
                None => column.push_null(),
                Some(span) => column
                    .push(record, span)
                    .map_err(|e| format!("column {}: {e}", self.names[slot]))?,
            }
        }
        Ok(())
    }

    fn decode_csv(&mut self, record: &[u8]) -> Result<usize, Reason> {
        let RecordFormat::Csv {
            row_delimiter,
            column_delimiter,
        } = &self.format
        else {
            unreachable!("decode_csv is only called for CSV schemas")
        };
        let row_delim = row_delimiter.as_bytes().to_vec();
        let col_delim = column_delimiter.as_bytes().to_vec();
        let mut rows = 0;
        let mut pos = 0;
        let mut row_number = 0;
        while pos < record.len() {
            row_number += 1;
            self.spans.iter_mut().for_each(|s| *s = None);
            let mut field = 0;
            let mut end_of_row = false;
            let row_start = pos;
            while !end_of_row {
                let (span, next, row_ends) = csv_field(record, pos, &col_delim, &row_delim)
                    .map_err(|e| format!("row {row_number}: {e}"))?;
                if let Some(Some(slot)) = self.csv_slots.get(field) {
                    self.spans[*slot] = Some(span);
                }
                field += 1;
                pos = next;
                end_of_row = row_ends;
            }
            // A row delimiter at the very end, or an empty line, is not a row.
            let empty_row = field == 1
                && self.spans.iter().flatten().all(|s| s.start == s.end)
                && matches!(record.get(row_start..pos), Some(r) if r.iter().all(|b| row_delim.contains(b)));
            if empty_row {
                continue;
            }
            // Columns past the row's last field stay NULL (like a missing JSON member).
            for (slot, column) in self.columns.iter_mut().enumerate() {
                match self.spans[slot] {
                    None => column.push_null(),
                    Some(span) => column.push(record, span).map_err(|e| {
                        format!("row {row_number}, column {}: {e}", self.names[slot])
                    })?,
                }
            }
            rows += 1;
        }
        if rows == 0 {
            return Err("no rows (the record is empty)".into());
        }
        Ok(rows)
    }
}

fn not_object(record: &[u8]) -> Reason {
    if record.iter().all(u8::is_ascii_whitespace) {
        "the record is empty".into()
    } else {
        "not a JSON object".into()
    }
}

fn trailing(cur: &mut Cursor<'_>) -> Result<(), Reason> {
    cur.ws();
    if cur.i < cur.b.len() {
        Err(format!(
            "not valid JSON: unexpected bytes after the object at byte {}",
            cur.i
        ))
    } else {
        Ok(())
    }
}

/// One CSV field starting at `pos`: its span, where the next field starts, and whether
/// it ended its row.
fn csv_field(
    record: &[u8],
    pos: usize,
    col_delim: &[u8],
    row_delim: &[u8],
) -> Result<(Span, usize, bool), Reason> {
    let at_delim = |i: usize, d: &[u8]| record.get(i..i + d.len()) == Some(d);
    if record.get(pos) == Some(&b'"') {
        let start = pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            match memchr::memchr(b'"', &record[i.min(record.len())..]) {
                None => return Err(format!("a quoted field opened at byte {pos} never closes")),
                Some(q) => {
                    let q = i + q;
                    if record.get(q + 1) == Some(&b'"') {
                        escaped = true;
                        i = q + 2;
                        continue;
                    }
                    let span = Span {
                        kind: Kind::Quoted { escaped },
                        start,
                        end: q,
                    };
                    let after = q + 1;
                    if after >= record.len() {
                        return Ok((span, after, true));
                    }
                    if at_delim(after, col_delim) {
                        return Ok((span, after + col_delim.len(), false));
                    }
                    if at_delim(after, row_delim) {
                        return Ok((span, after + row_delim.len(), true));
                    }
                    if record[after] == b'\r' && at_delim(after + 1, row_delim) {
                        return Ok((span, after + 1 + row_delim.len(), true));
                    }
                    return Err(format!(
                        "unexpected byte after a quoted field at byte {after}"
                    ));
                }
            }
        }
    }
    let mut i = pos;
    while i < record.len() {
        if at_delim(i, col_delim) {
            return Ok((field_span(record, pos, i), i + col_delim.len(), false));
        }
        if at_delim(i, row_delim) {
            return Ok((field_span(record, pos, i), i + row_delim.len(), true));
        }
        i += 1;
    }
    Ok((field_span(record, pos, record.len()), record.len(), true))
}

fn field_span(record: &[u8], start: usize, mut end: usize) -> Span {
    // A CRLF row ending leaves a '\r' on the last field.
    if end > start && record[end - 1] == b'\r' {
        end -= 1;
    }
    Span {
        kind: Kind::Field,
        start,
        end,
    }
}

/// Walks the object at the cursor, noting wanted values. With `stop_after`, returns
/// `true` as soon as that many values were found (the rest of the object unread).
fn walk_object(
    cur: &mut Cursor<'_>,
    tree: &Tree,
    spans: &mut [Option<Span>],
    found: &mut usize,
    stop_after: Option<usize>,
) -> Result<bool, &'static str> {
    cur.expect(b'{')?;
    cur.ws();
    if cur.peek() == Some(b'}') {
        cur.i += 1;
        return Ok(false);
    }
    loop {
        cur.ws();
        let (ks, ke, kescaped) = cur.string()?;
        cur.ws();
        cur.expect(b':')?;
        cur.ws();
        let node = if kescaped {
            let quoted = &cur.b[ks - 1..ke + 1];
            match serde_json::from_slice::<String>(quoted) {
                Ok(k) => tree.member(k.as_bytes()),
                Err(_) => return Err("a bad escape in a member name"),
            }
        } else {
            tree.member(&cur.b[ks..ke])
        };
        match node {
            None => {
                cur.skip_value()?;
            }
            Some(node) => value(cur, node, spans, found)?,
        }
        if let Some(total) = stop_after
            && *found >= total
        {
            return Ok(true);
        }
        cur.ws();
        match cur.next() {
            Some(b',') => continue,
            Some(b'}') => return Ok(false),
            _ => return Err("expected ',' or '}'"),
        }
    }
}

fn walk_array(
    cur: &mut Cursor<'_>,
    tree: &Tree,
    spans: &mut [Option<Span>],
    found: &mut usize,
) -> Result<(), &'static str> {
    cur.expect(b'[')?;
    cur.ws();
    if cur.peek() == Some(b']') {
        cur.i += 1;
        return Ok(());
    }
    let mut index = 0;
    loop {
        cur.ws();
        match tree.elements.iter().find(|(n, _)| *n == index) {
            None => {
                cur.skip_value()?;
            }
            Some((_, node)) => value(cur, node, spans, found)?,
        }
        index += 1;
        cur.ws();
        match cur.next() {
            Some(b',') => continue,
            Some(b']') => return Ok(()),
            _ => return Err("expected ',' or ']'"),
        }
    }
}

/// A value whose path is wanted (itself, or something inside it).
fn value(
    cur: &mut Cursor<'_>,
    node: &Node,
    spans: &mut [Option<Span>],
    found: &mut usize,
) -> Result<(), &'static str> {
    let start = cur.i;
    let kind = match cur.peek() {
        Some(b'{') if !node.children.members.is_empty() => {
            walk_object(cur, &node.children, spans, found, None)?;
            Kind::Raw
        }
        Some(b'[') if !node.children.elements.is_empty() => {
            walk_array(cur, &node.children, spans, found)?;
            Kind::Raw
        }
        _ => cur.skip_value()?,
    };
    if let Some(slot) = node.slot
        && spans[slot].is_none()
    {
        let span = match kind {
            Kind::Str { escaped } => Span {
                kind: Kind::Str { escaped },
                start: start + 1,
                end: cur.i - 1,
            },
            _ => Span {
                kind,
                start,
                end: cur.i,
            },
        };
        spans[slot] = Some(span);
        *found += 1;
    }
    Ok(())
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Result<(), &'static str> {
        if self.next() == Some(c) {
            Ok(())
        } else {
            Err(match c {
                b'{' => "expected '{'",
                b'[' => "expected '['",
                b':' => "expected ':'",
                _ => "unexpected character",
            })
        }
    }

    /// A string at the cursor: (start, end) without quotes, and whether it has escapes.
    #[inline]
    fn string(&mut self) -> Result<(usize, usize, bool), &'static str> {
        if self.next() != Some(b'"') {
            return Err("expected a string");
        }
        let start = self.i;
        let mut escaped = false;
        loop {
            match memchr::memchr2(b'"', b'\\', &self.b[self.i..]) {
                None => return Err("an unterminated string"),
                Some(off) => {
                    let at = self.i + off;
                    if self.b[at] == b'\\' {
                        escaped = true;
                        self.i = at + 2;
                        if self.i > self.b.len() {
                            return Err("an unterminated string");
                        }
                    } else {
                        self.i = at + 1;
                        return Ok((start, at, escaped));
                    }
                }
            }
        }
    }

    /// Skips any value, returning its kind.
    fn skip_value(&mut self) -> Result<Kind, &'static str> {
        match self.peek() {
            Some(b'"') => {
                let (_, _, escaped) = self.string()?;
                Ok(Kind::Str { escaped })
            }
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.peek() {
                        None => return Err("an unterminated object or array"),
                        Some(b'"') => {
                            self.string()?;
                        }
                        Some(b'{' | b'[') => {
                            depth += 1;
                            if depth > 512 {
                                return Err("nesting deeper than 512");
                            }
                            self.i += 1;
                        }
                        Some(b'}' | b']') => {
                            depth -= 1;
                            self.i += 1;
                            if depth == 0 {
                                return Ok(Kind::Raw);
                            }
                        }
                        Some(_) => self.i += 1,
                    }
                }
            }
            Some(b't') => self.literal(b"true", Kind::True),
            Some(b'f') => self.literal(b"false", Kind::False),
            Some(b'n') => self.literal(b"null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
                    self.i += 1;
                }
                let text = &self.b[start..self.i];
                if text == b"-" || text.last().is_some_and(|c| !c.is_ascii_digit()) {
                    return Err("a malformed number");
                }
                Ok(Kind::Num)
            }
            Some(_) => Err("unexpected character"),
            None => Err("unexpected end"),
        }
    }

    fn literal(&mut self, word: &[u8], kind: Kind) -> Result<Kind, &'static str> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(kind)
        } else {
            Err("unexpected character")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    fn decode_all(schema: &InputSchema, records: &[&[u8]]) -> (Vec<ArrayRef>, Vec<Option<String>>) {
        let wanted: Vec<usize> = (0..schema.columns().len()).collect();
        let mut d = RowDecoder::new(schema, &wanted);
        let mut errors = Vec::new();
        for r in records {
            let mut n = 0;
            errors.push(d.decode(r, &mut n).err());
        }
        (d.finish(), errors)
    }

    #[test]
    fn json_values_convert_strictly() {
        let schema = InputSchema::json(&[
            ("id", "BIGINT", "$.id"),
            ("name", "VARCHAR(5)", "$.who.name"),
            ("price", "DOUBLE", "$.price"),
            ("ok", "BOOLEAN", "$.ok"),
            ("ts", "TIMESTAMP", "$.ts"),
            ("first", "INTEGER", "$.items[0]"),
            ("amount", "DECIMAL(6,2)", "$.amount"),
        ])
        .unwrap();
        let records: Vec<&[u8]> = vec![
            br#"{"id": 1, "who": {"name": "ann", "x": [1, {"y": "}"}]}, "price": 2.5, "ok": true, "ts": "2024-05-01T00:00:00Z", "items": [7, 8], "amount": "12.34"}"#,
            br#"{"id": "2", "price": 3, "ok": false, "ts": 1714521600000, "skip": {"a": [1,2,{"b":"]"}]}}"#,
            br#"{"id": 2.5}"#,
            br#"{"id": 1, "who": {"name": "toolong"}}"#,
            br#"not json"#,
            br#"{"id": 1, "price": {"x": 1}}"#,
            br#"{"id": 99999999999999999999}"#,
            br#"{"id": 4, "who": {"name": "b\"c"}} trailing"#,
            br#"{"id": 5, "who": {"name": "\u00e9t\u00e9"}}"#,
        ];
        let (cols, errors) = decode_all(&schema, &records);
        assert_eq!(errors[0], None);
        assert_eq!(errors[1], None);
        assert!(
            errors[2].as_ref().unwrap().contains("not an integer"),
            "{:?}",
            errors[2]
        );
        assert!(
            errors[3].as_ref().unwrap().contains("VARCHAR(5)"),
            "{:?}",
            errors[3]
        );
        assert!(errors[4].as_ref().unwrap().contains("not a JSON object"));
        assert!(
            errors[5].as_ref().unwrap().contains("DOUBLE"),
            "{:?}",
            errors[5]
        );
        assert!(errors[6].is_some());
        // All seven columns found before the junk: the decoder stops early, so this
        // one only fails because a member is missing and it reads to the end.
        assert!(
            errors[7].as_ref().unwrap().contains("after the object"),
            "{:?}",
            errors[7]
        );
        assert_eq!(errors[8], None);
        let ids = cols[0].as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(ids.len(), 3);
        assert_eq!(ids.values().to_vec(), vec![1, 2, 5]);
        let names = cols[1].as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(names.value(0), "ann");
        assert!(names.is_null(1));
        assert_eq!(names.value(2), "été");
        let ts = cols[4]
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(ts.value(0), 1_714_521_600_000);
        assert_eq!(ts.value(1), 1_714_521_600_000);
        let first = cols[5].as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(first.value(0), 7);
        assert!(first.is_null(1));
        let amount = cols[6].as_any().downcast_ref::<Decimal128Array>().unwrap();
        assert_eq!(amount.value(0), 1234);
    }

    #[test]
    fn csv_rows_and_quotes() {
        let schema =
            InputSchema::csv(&[("a", "INTEGER"), ("b", "VARCHAR"), ("c", "DOUBLE")]).unwrap();
        let records: Vec<&[u8]> = vec![
            b"1,x,2.5\n2,\"y, \"\"z\"\"\",3\n",
            b"3,,\r\n",
            b"4,w,notanumber",
            b"5,\"open",
            b"",
        ];
        let (cols, errors) = decode_all(&schema, &records);
        assert_eq!(errors[0], None);
        assert_eq!(errors[1], None);
        assert!(errors[2].as_ref().unwrap().contains("not a number"));
        assert!(errors[3].as_ref().unwrap().contains("never closes"));
        assert!(errors[4].is_some());
        let b = cols[1].as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b.value(1), "y, \"z\"");
        assert_eq!(b.value(2), "");
        let c = cols[2].as_any().downcast_ref::<Float64Array>().unwrap();
        assert!(c.is_null(2));
    }

    #[test]
    fn a_failed_record_leaves_nothing_behind() {
        let schema = InputSchema::json(&[("a", "BIGINT", "$.a"), ("b", "BIGINT", "$.b")]).unwrap();
        let mut d = RowDecoder::new(&schema, &[0, 1]);
        let mut n = 0;
        d.decode(br#"{"a": 1, "b": 2}"#, &mut n).unwrap();
        assert!(d.decode(br#"{"a": 3, "b": "x"}"#, &mut n).is_err());
        d.decode(br#"{"a": 5}"#, &mut n).unwrap();
        let cols = d.finish();
        let a = cols[0].as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(a.values().to_vec(), vec![1, 5]);
        let b = cols[1].as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(b.len(), 2);
        assert!(b.is_null(1));
    }

    #[test]
    fn timestamps_parse() {
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_timestamp_ms("1970-01-01 00:00:01.5"), Some(1500));
        assert_eq!(parse_timestamp_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_timestamp_ms("12345"), None);
        assert_eq!(parse_timestamp_ms("hello world"), None);
    }
}
