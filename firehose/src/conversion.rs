//! Record format conversion: JSON records to Parquet objects, with the schema given in
//! the delivery stream's configuration (AWS takes it from Glue; tidelog takes
//! `SchemaConfiguration.Columns`, Glue/Hive type names) and the OpenX / Hive JSON
//! deserializer options that matter.
//!
//! Each record holds one or more JSON objects (concatenated); each object is one row.
//! A record is checked and normalized when it is routed (keys matched to columns,
//! values converted to the column types); a record that does not fit goes to the error
//! output as `format-conversion-failed` then, so building the Parquet object of a batch
//! cannot fail on data. Types: `string`, `varchar(n)`, `char(n)`, `boolean`,
//! `tinyint`, `smallint`, `int`/`integer`, `bigint`, `float`, `double`,
//! `decimal(p,s)`, `date`, `timestamp` (every column nullable; a missing key or a null
//! is a null).
//!
//! Keys: `ColumnToJsonKeyMappings` names the JSON key of a column; otherwise the key is
//! the column's name, compared case-insensitively unless `CaseInsensitive` is false;
//! `ConvertDotsInJsonKeysToUnderscores` turns `a.b` keys into `a_b` first.
//! Timestamps: ISO-8601 text (`2018-08-27T10:30:05.123Z`, a space instead of `T`, an
//! offset or none for UTC), numbers as epoch seconds (below 10^11) or milliseconds,
//! and the HiveJsonSerDe `TimestampFormats`: `millis` or Java DateTimeFormatter
//! patterns of `y M d H m s S` (with literals and an `X`/`Z` offset).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int8Builder,
    Int16Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use serde_json::Value;

use crate::timefmt::days_from_civil;

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Text.
    String,
    /// true/false.
    Boolean,
    /// 8-bit.
    TinyInt,
    /// 16-bit.
    SmallInt,
    /// 32-bit.
    Int,
    /// 64-bit.
    BigInt,
    /// 32-bit float.
    Float,
    /// 64-bit float.
    Double,
    /// Fixed point.
    Decimal(u8, i8),
    /// Days.
    Date,
    /// Milliseconds, UTC.
    Timestamp,
}

impl ColumnType {
    /// Parses a Glue/Hive type name.
    pub fn parse(name: &str) -> Result<Self, String> {
        let t = name.trim().to_ascii_lowercase();
        if t.starts_with("varchar(") || t.starts_with("char(") {
            return Ok(Self::String);
        }
        if let Some(args) = t.strip_prefix("decimal(").and_then(|r| r.strip_suffix(')')) {
            let (p, s) = args
                .split_once(',')
                .ok_or_else(|| format!("{name:?}: decimal(precision,scale)"))?;
            let p: u8 = p
                .trim()
                .parse()
                .map_err(|_| format!("{name:?}: bad precision"))?;
            let s: i8 = s
                .trim()
                .parse()
                .map_err(|_| format!("{name:?}: bad scale"))?;
            if !(1..=38).contains(&p) || s < 0 || s as u8 > p {
                return Err(format!("{name:?}: precision 1 to 38, scale 0 to precision"));
            }
            return Ok(Self::Decimal(p, s));
        }
        Ok(match t.as_str() {
            "string" => Self::String,
            "boolean" => Self::Boolean,
            "tinyint" => Self::TinyInt,
            "smallint" => Self::SmallInt,
            "int" | "integer" => Self::Int,
            "bigint" => Self::BigInt,
            "float" => Self::Float,
            "double" => Self::Double,
            "date" => Self::Date,
            "timestamp" => Self::Timestamp,
            _ => {
                return Err(format!(
                    "{name:?} is not a supported type (string, varchar(n), char(n), boolean, tinyint, smallint, int, bigint, float, double, decimal(p,s), date, timestamp)"
                ));
            }
        })
    }

    fn arrow(self) -> DataType {
        match self {
            Self::String => DataType::Utf8,
            Self::Boolean => DataType::Boolean,
            Self::TinyInt => DataType::Int8,
            Self::SmallInt => DataType::Int16,
            Self::Int => DataType::Int32,
            Self::BigInt => DataType::Int64,
            Self::Float => DataType::Float32,
            Self::Double => DataType::Float64,
            Self::Decimal(p, s) => DataType::Decimal128(p, s),
            Self::Date => DataType::Date32,
            Self::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
        }
    }
}

/// Parquet's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetCompression {
    /// SNAPPY (the default).
    Snappy,
    /// GZIP.
    Gzip,
    /// UNCOMPRESSED.
    Uncompressed,
}

/// A validated conversion.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversionPlan {
    /// Columns in order.
    pub columns: Vec<(String, ColumnType)>,
    /// Column → JSON key.
    pub mappings: BTreeMap<String, String>,
    /// Match keys case-insensitively (OpenX default: true).
    pub case_insensitive: bool,
    /// `a.b` keys become `a_b`.
    pub dots_to_underscores: bool,
    /// Timestamp formats (parsed patterns; `None` stands for `millis`).
    pub timestamp_formats: Vec<Option<crate::timefmt::TimeFormat>>,
    /// The codec.
    pub compression: ParquetCompression,
    /// Dictionary encoding.
    pub dictionary: bool,
    /// Data page size, bytes.
    pub page_size_bytes: Option<usize>,
    /// Parquet format 2 (V2) or 1 (V1, the default).
    pub writer_v2: bool,
    /// The JSON key (as compared: lower-cased when case-insensitive) of each column.
    pub lookup: std::collections::HashMap<String, usize>,
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

impl ConversionPlan {
    /// Validates a DataFormatConversionConfiguration (`None` when it is disabled).
    pub fn from_config(config: &Value) -> Result<Option<Self>, (String, String)> {
        let bad = |f: &str, m: String| (f.to_string(), m);
        let obj = config
            .as_object()
            .ok_or_else(|| bad("", "must be an object".to_string()))?;
        for k in obj.keys() {
            if ![
                "SchemaConfiguration",
                "InputFormatConfiguration",
                "OutputFormatConfiguration",
                "Enabled",
            ]
            .contains(&k.as_str())
            {
                return Err(bad(k, "unknown member".to_string()));
            }
        }
        if obj.get("Enabled").and_then(Value::as_bool) == Some(false) {
            return Ok(None);
        }
        let columns_v = get(config, &["SchemaConfiguration", "Columns"]).ok_or_else(|| {
            bad(
                "SchemaConfiguration.Columns",
                "tidelog takes the schema here: [{\"Name\": ..., \"Type\": ...}] (no Glue in-process)".to_string(),
            )
        })?;
        let mut columns = Vec::new();
        for (i, c) in columns_v
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let name = c
                .get("Name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty());
            let ty = c.get("Type").and_then(Value::as_str);
            let (Some(name), Some(ty)) = (name, ty) else {
                return Err(bad(
                    &format!("SchemaConfiguration.Columns[{i}]"),
                    "needs Name and Type".to_string(),
                ));
            };
            let ty = ColumnType::parse(ty)
                .map_err(|e| bad(&format!("SchemaConfiguration.Columns[{i}].Type"), e))?;
            if columns
                .iter()
                .any(|(n, _): &(String, ColumnType)| n.eq_ignore_ascii_case(name))
            {
                return Err(bad(
                    &format!("SchemaConfiguration.Columns[{i}].Name"),
                    format!("{name:?} appears twice"),
                ));
            }
            columns.push((name.to_string(), ty));
        }
        if columns.is_empty() {
            return Err(bad(
                "SchemaConfiguration.Columns",
                "needs at least one column".to_string(),
            ));
        }
        let deserializer = get(config, &["InputFormatConfiguration", "Deserializer"]);
        let openx = deserializer.and_then(|d| d.get("OpenXJsonSerDe"));
        let hive = deserializer.and_then(|d| d.get("HiveJsonSerDe"));
        if openx.is_some() && hive.is_some() {
            return Err(bad(
                "InputFormatConfiguration.Deserializer",
                "give one of OpenXJsonSerDe and HiveJsonSerDe".to_string(),
            ));
        }
        let mut mappings = BTreeMap::new();
        if let Some(m) = openx.and_then(|o| o.get("ColumnToJsonKeyMappings")) {
            for (k, v) in m
                .as_object()
                .ok_or_else(|| bad("ColumnToJsonKeyMappings", "must be an object".to_string()))?
            {
                let v = v.as_str().ok_or_else(|| {
                    bad(
                        "ColumnToJsonKeyMappings",
                        "values are JSON keys".to_string(),
                    )
                })?;
                mappings.insert(k.to_ascii_lowercase(), v.to_string());
            }
        }
        let case_insensitive = openx
            .and_then(|o| o.get("CaseInsensitive"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let dots = openx
            .and_then(|o| o.get("ConvertDotsInJsonKeysToUnderscores"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut timestamp_formats = Vec::new();
        for (i, f) in hive
            .and_then(|h| h.get("TimestampFormats"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let f = f
                .as_str()
                .ok_or_else(|| bad("HiveJsonSerDe.TimestampFormats", "strings".to_string()))?;
            timestamp_formats.push(if f == "millis" {
                None
            } else {
                Some(
                    crate::timefmt::TimeFormat::parse(f)
                        .map_err(|e| bad(&format!("HiveJsonSerDe.TimestampFormats[{i}]"), e))?,
                )
            });
        }
        let serializer = get(config, &["OutputFormatConfiguration", "Serializer"]);
        if serializer.and_then(|s| s.get("OrcSerDe")).is_some() {
            return Err(bad(
                "OutputFormatConfiguration.Serializer.OrcSerDe",
                "ORC is not supported by tidelog (Parquet is)".to_string(),
            ));
        }
        let parquet = serializer.and_then(|s| s.get("ParquetSerDe"));
        let compression = match parquet
            .and_then(|p| p.get("Compression"))
            .and_then(Value::as_str)
        {
            None | Some("SNAPPY") => ParquetCompression::Snappy,
            Some("GZIP") => ParquetCompression::Gzip,
            Some("UNCOMPRESSED") => ParquetCompression::Uncompressed,
            Some(other) => {
                return Err(bad(
                    "ParquetSerDe.Compression",
                    format!("{other:?} is not SNAPPY, GZIP or UNCOMPRESSED"),
                ));
            }
        };
        let page_size_bytes =
            match parquet.and_then(|p| p.get("PageSizeBytes")) {
                None => None,
                Some(v) => Some(v.as_u64().filter(|n| *n >= 65_536).ok_or_else(|| {
                    bad("ParquetSerDe.PageSizeBytes", "at least 65,536".to_string())
                })? as usize),
            };
        let writer_v2 = match parquet
            .and_then(|p| p.get("WriterVersion"))
            .and_then(Value::as_str)
        {
            None | Some("V1") => false,
            Some("V2") => true,
            Some(other) => {
                return Err(bad(
                    "ParquetSerDe.WriterVersion",
                    format!("{other:?} is not V1 or V2"),
                ));
            }
        };
        let lookup = columns
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let lower = name.to_ascii_lowercase();
                let key = match mappings.get(&lower) {
                    Some(k) => {
                        let k = if dots { k.replace('.', "_") } else { k.clone() };
                        if case_insensitive {
                            k.to_lowercase()
                        } else {
                            k
                        }
                    }
                    None if case_insensitive => lower,
                    None => name.clone(),
                };
                (key, i)
            })
            .collect();
        Ok(Some(Self {
            lookup,
            columns,
            mappings,
            case_insensitive,
            dots_to_underscores: dots,
            timestamp_formats,
            compression,
            dictionary: parquet
                .and_then(|p| p.get("EnableDictionaryCompression"))
                .and_then(Value::as_bool)
                .unwrap_or(true),
            page_size_bytes,
            writer_v2,
        }))
    }

    /// Checks and normalizes one record: the rows it holds in the compact binary form
    /// [`to_parquet`](Self::to_parquet) reads (per row, per column: a tag byte, then the
    /// value), or why it does not fit.
    pub fn normalize(&self, record: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(record.len());
        let mut rows = 0usize;
        for (i, doc) in serde_json::Deserializer::from_slice(record)
            .into_iter::<Value>()
            .enumerate()
        {
            let doc = doc.map_err(|e| format!("document {i} is not JSON: {e}"))?;
            let Value::Object(map) = &doc else {
                return Err(format!("document {i} is not a JSON object"));
            };
            let mut cells: Vec<Option<&Value>> = vec![None; self.columns.len()];
            for (k, v) in map {
                let dotted;
                let k = if self.dots_to_underscores && k.contains('.') {
                    dotted = k.replace('.', "_");
                    dotted.as_str()
                } else {
                    k.as_str()
                };
                let lowered;
                let k = if self.case_insensitive
                    && (!k.is_ascii() || k.bytes().any(|b| b.is_ascii_uppercase()))
                {
                    lowered = k.to_lowercase();
                    lowered.as_str()
                } else {
                    k
                };
                if let Some(&col) = self.lookup.get(k) {
                    cells[col] = Some(v);
                }
            }
            for ((name, ty), cell) in self.columns.iter().zip(&cells) {
                let value = cell.unwrap_or(&Value::Null);
                let converted = self
                    .convert(value, *ty)
                    .map_err(|e| format!("column {name:?}: {e}"))?;
                encode_cell(&mut out, &converted, *ty);
            }
            rows += 1;
        }
        if rows == 0 {
            return Err("the record holds no JSON object".to_string());
        }
        Ok(out)
    }

    fn convert(&self, v: &Value, ty: ColumnType) -> Result<Value, String> {
        if v.is_null() {
            return Ok(Value::Null);
        }
        let int = |lo: i64, hi: i64| -> Result<Value, String> {
            let n = match v {
                Value::Number(n) => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| format!("{v} is not an integer"))?;
            if n < lo || n > hi {
                return Err(format!("{n} is out of range"));
            }
            Ok(Value::from(n))
        };
        match ty {
            ColumnType::String => Ok(Value::String(match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })),
            ColumnType::Boolean => match v {
                Value::Bool(b) => Ok(Value::Bool(*b)),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
                _ => Err(format!("{v} is not a boolean")),
            },
            ColumnType::TinyInt => int(i64::from(i8::MIN), i64::from(i8::MAX)),
            ColumnType::SmallInt => int(i64::from(i16::MIN), i64::from(i16::MAX)),
            ColumnType::Int => int(i64::from(i32::MIN), i64::from(i32::MAX)),
            ColumnType::BigInt => int(i64::MIN, i64::MAX),
            ColumnType::Float | ColumnType::Double => {
                let f = match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                }
                .filter(|f| f.is_finite())
                .ok_or_else(|| format!("{v} is not a number"))?;
                Ok(serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null))
            }
            ColumnType::Decimal(p, s) => {
                let text = match v {
                    Value::Number(n) => n.to_string(),
                    Value::String(t) => t.trim().to_string(),
                    _ => return Err(format!("{v} is not a decimal")),
                };
                let scaled =
                    parse_decimal(&text, s).ok_or_else(|| format!("{text:?} is not a decimal"))?;
                if scaled.unsigned_abs() >= 10u128.pow(u32::from(p)) {
                    return Err(format!("{text} does not fit decimal({p},{s})"));
                }
                Ok(Value::String(scaled.to_string()))
            }
            ColumnType::Date => match v {
                Value::String(t) => {
                    let d = parse_date(t.trim())
                        .ok_or_else(|| format!("{t:?} is not a date (yyyy-MM-dd)"))?;
                    Ok(Value::from(d))
                }
                Value::Number(n) => n
                    .as_i64()
                    .map(Value::from)
                    .ok_or_else(|| format!("{v} is not a day number")),
                _ => Err(format!("{v} is not a date")),
            },
            ColumnType::Timestamp => self.timestamp(v).map(Value::from),
        }
    }

    fn timestamp(&self, v: &Value) -> Result<i64, String> {
        match v {
            Value::Number(n) => {
                let f = n.as_f64().ok_or("not a number")?;
                if self.timestamp_formats.iter().any(Option::is_none) || f.abs() >= 1e11 {
                    Ok(f as i64)
                } else {
                    Ok((f * 1000.0) as i64)
                }
            }
            Value::String(t) => {
                let t = t.trim();
                for f in &self.timestamp_formats {
                    match f {
                        None => {
                            if let Ok(ms) = t.parse::<i64>() {
                                return Ok(ms);
                            }
                        }
                        Some(pattern) => {
                            if let Some(ms) = parse_with_pattern(pattern, t) {
                                return Ok(ms);
                            }
                        }
                    }
                }
                parse_iso(t).ok_or_else(|| format!("{t:?} is not a timestamp"))
            }
            _ => Err(format!("{v} is not a timestamp")),
        }
    }

    /// The Arrow schema.
    pub fn schema(&self) -> Arc<Schema> {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|(n, t)| Field::new(n, t.arrow(), true))
                .collect::<Vec<_>>(),
        ))
    }

    /// Writes normalized records (from [`normalize`](Self::normalize)) as one Parquet
    /// file.
    pub fn to_parquet<'a>(
        &self,
        records: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Vec<u8>, String> {
        let n = self.columns.len();
        let mut columns: Vec<Vec<Cell>> = vec![Vec::new(); n];
        for record in records {
            let mut at = 0;
            while at < record.len() {
                for col in columns.iter_mut() {
                    col.push(decode_cell(record, &mut at).ok_or("a damaged normalized record")?);
                }
            }
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(n);
        for ((_, ty), cells) in self.columns.iter().zip(&columns) {
            macro_rules! build {
                ($builder:expr, $get:expr) => {{
                    let mut b = $builder;
                    for c in cells {
                        b.append_option($get(c));
                    }
                    Arc::new(b.finish()) as ArrayRef
                }};
            }
            let int = |c: &Cell| match c {
                Cell::Int(v) => Some(*v),
                _ => None,
            };
            arrays.push(match ty {
                ColumnType::String => build!(StringBuilder::new(), |c: &Cell| match c {
                    Cell::Str(s) => Some(s.clone()),
                    _ => None,
                }),
                ColumnType::Boolean => build!(BooleanBuilder::new(), |c: &Cell| match c {
                    Cell::Bool(b) => Some(*b),
                    _ => None,
                }),
                ColumnType::TinyInt => {
                    build!(Int8Builder::new(), |c: &Cell| int(c).map(|v| v as i8))
                }
                ColumnType::SmallInt => {
                    build!(Int16Builder::new(), |c: &Cell| int(c).map(|v| v as i16))
                }
                ColumnType::Int => build!(Int32Builder::new(), |c: &Cell| int(c).map(|v| v as i32)),
                ColumnType::BigInt => build!(Int64Builder::new(), int),
                ColumnType::Float => build!(Float32Builder::new(), |c: &Cell| match c {
                    Cell::Float(f) => Some(*f as f32),
                    _ => None,
                }),
                ColumnType::Double => build!(Float64Builder::new(), |c: &Cell| match c {
                    Cell::Float(f) => Some(*f),
                    _ => None,
                }),
                ColumnType::Decimal(p, s) => {
                    let b = Decimal128Builder::new()
                        .with_precision_and_scale(*p, *s)
                        .map_err(|e| e.to_string())?;
                    build!(b, |c: &Cell| match c {
                        Cell::Dec(v) => Some(*v),
                        _ => None,
                    })
                }
                ColumnType::Date => {
                    build!(Date32Builder::new(), |c: &Cell| int(c).map(|v| v as i32))
                }
                ColumnType::Timestamp => build!(TimestampMillisecondBuilder::new(), int),
            });
        }
        let batch = RecordBatch::try_new(self.schema(), arrays).map_err(|e| e.to_string())?;
        let mut props = parquet::file::properties::WriterProperties::builder()
            .set_compression(match self.compression {
                ParquetCompression::Snappy => parquet::basic::Compression::SNAPPY,
                ParquetCompression::Gzip => parquet::basic::Compression::GZIP(Default::default()),
                ParquetCompression::Uncompressed => parquet::basic::Compression::UNCOMPRESSED,
            })
            .set_dictionary_enabled(self.dictionary)
            .set_writer_version(if self.writer_v2 {
                parquet::file::properties::WriterVersion::PARQUET_2_0
            } else {
                parquet::file::properties::WriterVersion::PARQUET_1_0
            })
            .set_created_by("tidelog-firehose".to_string());
        if let Some(p) = self.page_size_bytes {
            props = props.set_data_page_size_limit(p);
        }
        let mut out = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut out, self.schema(), Some(props.build()))
                .map_err(|e| e.to_string())?;
        writer.write(&batch).map_err(|e| e.to_string())?;
        writer.close().map_err(|e| e.to_string())?;
        Ok(out)
    }
}

/// A converted value, as the normalized form carries it.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Str(String),
    Bool(bool),
    Int(i64),
    Float(f64),
    Dec(i128),
}

/// Appends a converted value (as `convert` gives it) in the normalized form: a tag byte
/// (0 null, 1 text, 2 boolean, 3 integer, 4 float, 5 decimal) and the value
/// (little-endian; text as a u32 length and UTF-8).
fn encode_cell(out: &mut Vec<u8>, v: &Value, ty: ColumnType) {
    match v {
        Value::Null => out.push(0),
        Value::String(s) if matches!(ty, ColumnType::Decimal(..)) => {
            out.push(5);
            out.extend_from_slice(&s.parse::<i128>().unwrap_or(0).to_le_bytes());
        }
        Value::String(s) => {
            out.push(1);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bool(b) => out.extend_from_slice(&[2, u8::from(*b)]),
        Value::Number(n) => match n.as_i64() {
            Some(i) => {
                out.push(3);
                out.extend_from_slice(&i.to_le_bytes());
            }
            None => {
                out.push(4);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        },
        _ => out.push(0),
    }
}

fn decode_cell(b: &[u8], at: &mut usize) -> Option<Cell> {
    let tag = *b.get(*at)?;
    *at += 1;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = b.get(*at..*at + n)?;
        *at += n;
        Some(s)
    };
    Some(match tag {
        0 => Cell::Null,
        1 => {
            let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
            Cell::Str(String::from_utf8(take(len)?.to_vec()).ok()?)
        }
        2 => Cell::Bool(take(1)?[0] != 0),
        3 => Cell::Int(i64::from_le_bytes(take(8)?.try_into().ok()?)),
        4 => Cell::Float(f64::from_le_bytes(take(8)?.try_into().ok()?)),
        5 => Cell::Dec(i128::from_le_bytes(take(16)?.try_into().ok()?)),
        _ => return None,
    })
}

fn parse_decimal(text: &str, scale: i8) -> Option<i128> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let scale = scale as usize;
    if frac.len() > scale && frac[scale..].bytes().any(|b| b != b'0') {
        return None; // would lose digits
    }
    let mut padded = frac.chars().take(scale).collect::<String>();
    while padded.len() < scale {
        padded.push('0');
    }
    let n: i128 = format!("{}{padded}", if int.is_empty() { "0" } else { int })
        .parse()
        .ok()?;
    Some(if neg { -n } else { n })
}

fn parse_date(t: &str) -> Option<i64> {
    let mut parts = t.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.get(..2)?.parse().ok()?;
    valid_ymd(y, m, d).then(|| days_from_civil(y, m, d))
}

fn valid_ymd(y: i64, m: u32, d: u32) -> bool {
    (1..=12).contains(&m) && d >= 1 && {
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        i64::from(d) <= days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)
    }
}

/// `yyyy-MM-dd[T ]HH:mm[:ss[.fff…]][Z|±HH[:]mm]` → ms (no offset: UTC).
fn parse_iso(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 16 || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let days = parse_date(&t[..10])?;
    let num = |s: &str| s.parse::<i64>().ok();
    let h = num(&t[11..13])?;
    if b[13] != b':' {
        return None;
    }
    let mi = num(&t[14..16])?;
    let mut rest = &t[16..];
    let mut s = 0;
    let mut ms = 0;
    if let Some(r) = rest.strip_prefix(':') {
        s = num(r.get(..2)?)?;
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix('.') {
            let digits: String = r.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                return None;
            }
            let three: String = digits.chars().chain("000".chars()).take(3).collect();
            ms = num(&three)?;
            rest = &r[digits.len()..];
        }
    }
    let offset_s = parse_offset(rest)?;
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some((days * 86_400 + h * 3600 + mi * 60 + s - offset_s) * 1000 + ms)
}

fn parse_offset(rest: &str) -> Option<i64> {
    match rest {
        "" | "Z" | "z" => Some(0),
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if !(digits.len() == 2 || digits.len() == 4)
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let h: i64 = digits[..2].parse().ok()?;
            let m: i64 = if digits.len() == 4 {
                digits[2..].parse().ok()?
            } else {
                0
            };
            Some(sign * (h * 3600 + m * 60))
        }
    }
}

/// Parses `text` with a DateTimeFormatter pattern of numeric fields.
fn parse_with_pattern(pattern: &crate::timefmt::TimeFormat, text: &str) -> Option<i64> {
    let mut y = 1970i64;
    let (mut mo, mut d, mut h, mut mi, mut s, mut ms, mut offset) =
        (1u32, 1u32, 0i64, 0i64, 0i64, 0i64, 0i64);
    let mut at = 0usize;
    for item in pattern.items() {
        match item {
            crate::timefmt::PatternItem::Literal(l) => {
                if !text[at..].starts_with(l.as_str()) {
                    return None;
                }
                at += l.len();
            }
            crate::timefmt::PatternItem::Field(c, n) => {
                if matches!(c, 'X' | 'Z' | 'x') {
                    let rest = &text[at..];
                    let len = rest
                        .find(|ch: char| !(ch.is_ascii_digit() || "+-:Zz".contains(ch)))
                        .unwrap_or(rest.len());
                    offset = parse_offset(&rest[..len])?;
                    at += len;
                    continue;
                }
                let width = if matches!(c, 'y' | 'u') && *n != 2 {
                    text[at..].chars().take_while(char::is_ascii_digit).count()
                } else {
                    *n
                };
                let digits = text.get(at..at + width)?;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let v: i64 = digits.parse().ok()?;
                at += width;
                match c {
                    'y' | 'u' => y = if *n == 2 { 2000 + v } else { v },
                    'M' => mo = v as u32,
                    'd' => d = v as u32,
                    'H' => h = v,
                    'm' => mi = v,
                    's' => s = v,
                    'S' => ms = format!("{digits:0<3}")[..3].parse().ok()?,
                    _ => return None,
                }
            }
        }
    }
    if at != text.len() || !valid_ymd(y, mo, d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some((days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset) * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(p: &ConversionPlan, bytes: &[u8]) -> Vec<Vec<Cell>> {
        let mut at = 0;
        let mut out = Vec::new();
        while at < bytes.len() {
            out.push(
                (0..p.columns.len())
                    .map(|_| decode_cell(bytes, &mut at).unwrap())
                    .collect(),
            );
        }
        out
    }

    fn plan(extra: Value) -> ConversionPlan {
        let mut config = json!({
            "SchemaConfiguration": {"DatabaseName": "db", "TableName": "t", "Columns": [
                {"Name": "id", "Type": "bigint"}, {"Name": "name", "Type": "string"},
                {"Name": "price", "Type": "decimal(10,2)"}, {"Name": "ok", "Type": "boolean"},
                {"Name": "ts", "Type": "timestamp"}, {"Name": "day", "Type": "date"},
                {"Name": "score", "Type": "double"}]},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}},
        });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        ConversionPlan::from_config(&config).unwrap().unwrap()
    }

    #[test]
    fn normalizes_keys_and_values() {
        let p = plan(
            json!({"InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {
            "ColumnToJsonKeyMappings": {"name": "Full.Name"}, "ConvertDotsInJsonKeysToUnderscores": true}}}}),
        );
        let out = p
            .normalize(br#"{"ID": "12", "full.name": "Ann", "Price": 3.5, "ok": "TRUE", "ts": "2018-08-27T10:30:05.123+01:00", "day": "2018-08-27", "score": 1}{"id": 13}"#)
            .unwrap();
        let got = rows(&p, &out);
        assert_eq!(got[0][0], Cell::Int(12));
        assert_eq!(got[0][1], Cell::Str("Ann".into()));
        assert_eq!(got[0][2], Cell::Dec(350));
        assert_eq!(got[0][3], Cell::Bool(true));
        assert_eq!(got[0][4], Cell::Int(1_535_365_805_123 - 3_600_000));
        assert_eq!(got[0][5], Cell::Int(17770));
        assert_eq!(got[0][6], Cell::Float(1.0));
        assert_eq!(got[1][1], Cell::Null);
        for bad in [
            &br#"{"id": "x"}"#[..],
            br#"{"price": 1.234}"#,
            br#"[1]"#,
            br#"{"ts": "yesterday"}"#,
            b"nope",
            b"",
        ] {
            assert!(
                p.normalize(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let strict = plan(
            json!({"InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {"CaseInsensitive": false}}}}),
        );
        assert_eq!(
            rows(&strict, &strict.normalize(br#"{"ID": 1}"#).unwrap())[0][0],
            Cell::Null
        );
    }

    #[test]
    fn hive_timestamp_formats() {
        let p = plan(
            json!({"InputFormatConfiguration": {"Deserializer": {"HiveJsonSerDe": {
            "TimestampFormats": ["dd/MM/yyyy HH:mm:ss", "millis"]}}}}),
        );
        let r = rows(
            &p,
            &p.normalize(br#"{"ts": "27/08/2018 10:30:05"}{"ts": 1535365805123}"#)
                .unwrap(),
        );
        assert_eq!(r[0][4], Cell::Int(1_535_365_805_000));
        assert_eq!(r[1][4], Cell::Int(1_535_365_805_123));
    }

    #[test]
    fn writes_parquet_with_the_schema() {
        let p = plan(json!({}));
        let a = p.normalize(br#"{"id": 1, "name": "a", "price": "9.99", "ok": true, "ts": 1535365805, "day": 17770, "score": 0.5}"#).unwrap();
        let b = p.normalize(br#"{"id": 2}"#).unwrap();
        let bytes = p.to_parquet([a.as_slice(), b.as_slice()]).unwrap();
        assert_eq!(&bytes[..4], b"PAR1");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            bytes::Bytes::from(bytes),
        )
        .unwrap()
        .build()
        .unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        assert_eq!(batches[0].num_rows(), 2);
        assert_eq!(
            batches[0].schema().field(2).data_type(),
            &DataType::Decimal128(10, 2)
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        for bad in [
            json!({"SchemaConfiguration": {}}),
            json!({"SchemaConfiguration": {"Columns": [{"Name": "a", "Type": "map<string,int>"}]}}),
            json!({"SchemaConfiguration": {"Columns": [{"Name": "a", "Type": "int"}, {"Name": "A", "Type": "int"}]}}),
            json!({"SchemaConfiguration": {"Columns": [{"Name": "a", "Type": "int"}]}, "OutputFormatConfiguration": {"Serializer": {"OrcSerDe": {}}}}),
            json!({"SchemaConfiguration": {"Columns": [{"Name": "a", "Type": "decimal(40,2)"}]}}),
            json!({"Nope": 1}),
        ] {
            assert!(ConversionPlan::from_config(&bad).is_err(), "{bad}");
        }
        assert!(
            ConversionPlan::from_config(&json!({"Enabled": false}))
                .unwrap()
                .is_none()
        );
    }
}
