//! Input schemas: how a stream's records become SQL rows.
//!
//! An [`InputSchema`] is a record format (JSON or CSV) and a list of columns, each a
//! name, an SQL type and a mapping (a JSON path such as `$.order.total`, or a CSV
//! field position). Every row also carries the metadata columns of
//! [`METADATA_COLUMNS`]. The JSON form of a schema is Kinesis Data Analytics' own
//! (`RecordFormat` + `RecordColumns`), so an application's existing input schema can
//! be pasted in unchanged; [`infer_json_schema`] proposes one from sample records.
//!
//! Invariants: a schema is validated when it is built ([`InputSchema::new`],
//! [`InputSchema::from_json`]): column names are non-empty, at most 128 characters,
//! unique (ignoring case, and never a metadata column's name), types are known,
//! JSON paths parse, CSV positions are distinct; nothing downstream re-checks.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// The time zone of every timestamp column (arrival times and TIMESTAMP columns).
pub const UTC: &str = "UTC";

/// The metadata columns every row has, in this order after the schema's own columns:
/// `shard_id`, `sequence_number` (DECIMAL(38,0)), `partition_key`,
/// `approximate_arrival_time` (TIMESTAMP, UTC, ms) and `data` (the raw record bytes).
pub const METADATA_COLUMNS: [&str; 5] = [
    "shard_id",
    "sequence_number",
    "partition_key",
    "approximate_arrival_time",
    "data",
];

/// Index of `shard_id` among the metadata columns.
pub const META_SHARD_ID: usize = 0;
/// Index of `sequence_number`.
pub const META_SEQUENCE_NUMBER: usize = 1;
/// Index of `partition_key`.
pub const META_PARTITION_KEY: usize = 2;
/// Index of `approximate_arrival_time`.
pub const META_ARRIVAL_TIME: usize = 3;
/// Index of `data`.
pub const META_DATA: usize = 4;

const NAME_CHARS_MAX: usize = 128;
const COLUMNS_MAX: usize = 1000;
const PATH_DEPTH_MAX: usize = 32;

/// The Arrow type of the metadata column `index` (see [`METADATA_COLUMNS`]).
pub fn metadata_type(index: usize) -> DataType {
    match index {
        META_SEQUENCE_NUMBER => DataType::Decimal128(38, 0),
        META_ARRIVAL_TIME => timestamp_type(),
        META_DATA => DataType::Binary,
        _ => DataType::Utf8,
    }
}

/// The largest sequence number a DECIMAL(38,0) holds (10^38 - 1). tidelog's numbers
/// stay below it while the engine's epoch (its open count) is under 1,262,177,448.
pub const SEQ_DECIMAL_MAX: u128 = 99_999_999_999_999_999_999_999_999_999_999_999_999;

/// A sequence number as a DECIMAL(38,0) value (`None` past [`SEQ_DECIMAL_MAX`]).
pub fn seq_decimal(seq: u128) -> Option<i128> {
    (seq <= SEQ_DECIMAL_MAX).then_some(seq as i128)
}

/// Timestamps: milliseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into()))
}

/// An SQL column type of an input schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    /// `VARCHAR(n)` / `CHAR(n)` (at most n characters) or `VARCHAR` (no limit).
    Varchar(Option<u32>),
    /// `BOOLEAN`.
    Boolean,
    /// `TINYINT` (8 bits).
    TinyInt,
    /// `SMALLINT` (16 bits).
    SmallInt,
    /// `INTEGER` (32 bits).
    Integer,
    /// `BIGINT` (64 bits).
    BigInt,
    /// `REAL` (32-bit float).
    Real,
    /// `DOUBLE` / `FLOAT` (64-bit float).
    Double,
    /// `DECIMAL(p, s)`.
    Decimal(u8, i8),
    /// `TIMESTAMP` (ms, UTC): from an ISO 8601 text or epoch milliseconds.
    Timestamp,
    /// `DATE`: from `YYYY-MM-DD`.
    Date,
}

impl SqlType {
    /// Parses `VARCHAR(4)`, `BIGINT`, `DECIMAL(10,2)`, `DOUBLE PRECISION`... (any case).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::Schema(format!(
                "unknown SQL type {text:?} (known: VARCHAR(n), CHAR(n), BOOLEAN, TINYINT, SMALLINT, INTEGER, BIGINT, REAL, DOUBLE, FLOAT, DECIMAL(p,s), TIMESTAMP, DATE)"
            ))
        };
        let upper = text.trim().to_ascii_uppercase();
        let (name, args) = match upper.find('(') {
            Some(open) => {
                let close = upper.rfind(')').filter(|c| *c > open).ok_or_else(bad)?;
                if !upper[close + 1..].trim().is_empty() {
                    return Err(bad());
                }
                let args: Vec<&str> = upper[open + 1..close].split(',').map(str::trim).collect();
                (upper[..open].trim().to_string(), Some(args))
            }
            None => (upper.split_whitespace().collect::<Vec<_>>().join(" "), None),
        };
        let number = |s: &str| -> Result<u32> {
            s.parse::<u32>()
                .map_err(|_| Error::Schema(format!("bad size {s:?} in SQL type {text:?}")))
        };
        let no_args = |t: SqlType| match &args {
            None => Ok(t),
            Some(_) => Err(bad()),
        };
        match name.as_str() {
            "VARCHAR" | "CHAR" | "CHARACTER" | "CHARACTER VARYING" | "STRING" | "TEXT" => {
                match &args {
                    None => Ok(Self::Varchar(None)),
                    Some(a) if a.len() == 1 => {
                        let n = number(a[0])?;
                        if n == 0 {
                            return Err(Error::Schema(format!("{text:?}: a length of 0")));
                        }
                        Ok(Self::Varchar(Some(n)))
                    }
                    Some(_) => Err(bad()),
                }
            }
            "BOOLEAN" | "BOOL" => no_args(Self::Boolean),
            "TINYINT" => no_args(Self::TinyInt),
            "SMALLINT" => no_args(Self::SmallInt),
            "INTEGER" | "INT" => no_args(Self::Integer),
            "BIGINT" => no_args(Self::BigInt),
            "REAL" => no_args(Self::Real),
            "DOUBLE" | "DOUBLE PRECISION" | "FLOAT" => no_args(Self::Double),
            "TIMESTAMP" => no_args(Self::Timestamp),
            "DATE" => no_args(Self::Date),
            "DECIMAL" | "NUMERIC" => {
                let (p, s) = match &args {
                    None => (38, 0),
                    Some(a) if a.len() == 1 => (number(a[0])?, 0),
                    Some(a) if a.len() == 2 => (number(a[0])?, number(a[1])?),
                    Some(_) => return Err(bad()),
                };
                if p == 0 || p > 38 || s > p {
                    return Err(Error::Schema(format!(
                        "{text:?}: precision must be 1 to 38 and scale at most the precision"
                    )));
                }
                Ok(Self::Decimal(p as u8, s as i8))
            }
            _ => Err(bad()),
        }
    }

    /// The Arrow type of a column of this SQL type.
    pub fn arrow_type(self) -> DataType {
        match self {
            Self::Varchar(_) => DataType::Utf8,
            Self::Boolean => DataType::Boolean,
            Self::TinyInt => DataType::Int8,
            Self::SmallInt => DataType::Int16,
            Self::Integer => DataType::Int32,
            Self::BigInt => DataType::Int64,
            Self::Real => DataType::Float32,
            Self::Double => DataType::Float64,
            Self::Decimal(p, s) => DataType::Decimal128(p, s),
            Self::Timestamp => timestamp_type(),
            Self::Date => DataType::Date32,
        }
    }
}

impl std::fmt::Display for SqlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Varchar(Some(n)) => write!(f, "VARCHAR({n})"),
            Self::Varchar(None) => f.write_str("VARCHAR"),
            Self::Boolean => f.write_str("BOOLEAN"),
            Self::TinyInt => f.write_str("TINYINT"),
            Self::SmallInt => f.write_str("SMALLINT"),
            Self::Integer => f.write_str("INTEGER"),
            Self::BigInt => f.write_str("BIGINT"),
            Self::Real => f.write_str("REAL"),
            Self::Double => f.write_str("DOUBLE"),
            Self::Decimal(p, s) => write!(f, "DECIMAL({p},{s})"),
            Self::Timestamp => f.write_str("TIMESTAMP"),
            Self::Date => f.write_str("DATE"),
        }
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathStep {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// A JSON path: `$`, then `.name`, `['any name']` or `[3]` steps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JsonPath(pub Vec<PathStep>);

impl JsonPath {
    /// Parses `$.order.lines[0]['unit price']`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::Schema(format!("JSON path {text:?}: {why}"));
        let rest = text
            .trim()
            .strip_prefix('$')
            .ok_or_else(|| bad("must start with '$'"))?;
        let bytes = rest.as_bytes();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len() && bytes[end] != b'.' && bytes[end] != b'[' {
                        end += 1;
                    }
                    if end == start {
                        return Err(bad("empty member name"));
                    }
                    steps.push(PathStep::Key(rest[start..end].to_string()));
                    i = end;
                }
                b'[' => {
                    let close = rest[i..]
                        .find(']')
                        .map(|c| c + i)
                        .ok_or_else(|| bad("'[' without ']'"))?;
                    let inner = rest[i + 1..close].trim();
                    if let Some(q) = inner.chars().next().filter(|c| *c == '\'' || *c == '"') {
                        let name = inner
                            .strip_prefix(q)
                            .and_then(|s| s.strip_suffix(q))
                            .ok_or_else(|| bad("unterminated quoted name"))?;
                        steps.push(PathStep::Key(name.to_string()));
                    } else {
                        let n = inner
                            .parse::<usize>()
                            .map_err(|_| bad("an index must be a number or a quoted name"))?;
                        steps.push(PathStep::Index(n));
                    }
                    i = close + 1;
                }
                _ => return Err(bad("expected '.' or '['")),
            }
        }
        if steps.is_empty() {
            return Err(bad(
                "names no member (a column maps to a value inside the record)",
            ));
        }
        if steps.len() > PATH_DEPTH_MAX {
            return Err(bad("is deeper than 32 steps"));
        }
        Ok(Self(steps))
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("$")?;
        for step in &self.0 {
            match step {
                PathStep::Key(k)
                    if !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '-') =>
                {
                    write!(f, ".{k}")?
                }
                PathStep::Key(k) => write!(f, "['{k}']")?,
                PathStep::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// A JSON path in a JSON record.
    Json(JsonPath),
    /// A field of a CSV row (0-based).
    Csv(usize),
}

/// One column of an input schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    /// The SQL name (as written: quote it in SQL if it is not lower case).
    pub name: String,
    /// The SQL type.
    pub sql_type: SqlType,
    /// Where the value comes from.
    pub mapping: Mapping,
}

/// How records are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFormat {
    /// One JSON object per record.
    Json,
    /// Delimited text: each record holds one or more rows.
    Csv {
        /// Between rows (default `\n`).
        row_delimiter: String,
        /// Between fields (default `,`).
        column_delimiter: String,
    },
}

impl RecordFormat {
    /// CSV with `\n` between rows and `,` between fields.
    pub fn csv() -> Self {
        Self::Csv {
            row_delimiter: "\n".into(),
            column_delimiter: ",".into(),
        }
    }
}

/// A stream's input schema: format, columns and their mappings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSchema {
    format: RecordFormat,
    columns: Vec<ColumnDef>,
}

impl InputSchema {
    /// A validated schema.
    pub fn new(format: RecordFormat, columns: Vec<ColumnDef>) -> Result<Self> {
        if columns.len() > COLUMNS_MAX {
            return Err(Error::Schema(format!(
                "{} columns (at most {COLUMNS_MAX})",
                columns.len()
            )));
        }
        if let RecordFormat::Csv {
            row_delimiter,
            column_delimiter,
        } = &format
        {
            if column_delimiter.is_empty() || row_delimiter.is_empty() {
                return Err(Error::Schema("CSV delimiters must not be empty".into()));
            }
            if row_delimiter == column_delimiter {
                return Err(Error::Schema(
                    "the CSV row and column delimiters must differ".into(),
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut positions = std::collections::HashSet::new();
        for c in &columns {
            validate_column_name(&c.name)?;
            if !seen.insert(c.name.to_lowercase()) {
                return Err(Error::Schema(format!(
                    "column {:?} appears twice (names are compared ignoring case)",
                    c.name
                )));
            }
            match (&format, &c.mapping) {
                (RecordFormat::Json, Mapping::Json(_)) => {}
                (RecordFormat::Csv { .. }, Mapping::Csv(p)) => {
                    if !positions.insert(*p) {
                        return Err(Error::Schema(format!(
                            "CSV field {p} is mapped to two columns"
                        )));
                    }
                }
                (RecordFormat::Json, Mapping::Csv(_)) => {
                    return Err(Error::Schema(format!(
                        "column {:?} has a CSV mapping in a JSON schema",
                        c.name
                    )));
                }
                (RecordFormat::Csv { .. }, Mapping::Json(_)) => {
                    return Err(Error::Schema(format!(
                        "column {:?} has a JSON path in a CSV schema",
                        c.name
                    )));
                }
            }
        }
        Ok(Self { format, columns })
    }

    /// A JSON schema from `(name, SQL type, JSON path)` triples.
    pub fn json(columns: &[(&str, &str, &str)]) -> Result<Self> {
        let columns = columns
            .iter()
            .map(|(name, ty, path)| {
                Ok(ColumnDef {
                    name: (*name).to_string(),
                    sql_type: SqlType::parse(ty)?,
                    mapping: Mapping::Json(JsonPath::parse(path)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Self::new(RecordFormat::Json, columns)
    }

    /// A CSV schema (`,` between fields, `\n` between rows) from `(name, SQL type)`
    /// pairs, in field order.
    pub fn csv(columns: &[(&str, &str)]) -> Result<Self> {
        let columns = columns
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| {
                Ok(ColumnDef {
                    name: (*name).to_string(),
                    sql_type: SqlType::parse(ty)?,
                    mapping: Mapping::Csv(i),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Self::new(RecordFormat::csv(), columns)
    }

    /// The record format.
    pub fn format(&self) -> &RecordFormat {
        &self.format
    }

    /// The columns (metadata columns not included).
    pub fn columns(&self) -> &[ColumnDef] {
        &self.columns
    }

    /// The table's Arrow schema: the columns, then [`METADATA_COLUMNS`].
    pub fn arrow_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(&c.name, c.sql_type.arrow_type(), true))
            .collect();
        for (i, name) in METADATA_COLUMNS.iter().enumerate() {
            fields.push(Field::new(*name, metadata_type(i), false));
        }
        Arc::new(Schema::new(fields))
    }

    /// Kinesis Data Analytics' JSON form: `{"RecordFormat": {...}, "RecordColumns":
    /// [{"Name", "SqlType", "Mapping"}]}`.
    pub fn to_json(&self) -> String {
        let format = match &self.format {
            RecordFormat::Json => json!({
                "RecordFormatType": "JSON",
                "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}
            }),
            RecordFormat::Csv {
                row_delimiter,
                column_delimiter,
            } => json!({
                "RecordFormatType": "CSV",
                "MappingParameters": {"CSVMappingParameters": {
                    "RecordRowDelimiter": row_delimiter,
                    "RecordColumnDelimiter": column_delimiter
                }}
            }),
        };
        let columns: Vec<Value> = self
            .columns
            .iter()
            .map(|c| {
                let mut m = Map::new();
                m.insert("Name".into(), c.name.clone().into());
                m.insert("SqlType".into(), c.sql_type.to_string().into());
                match &c.mapping {
                    Mapping::Json(p) => m.insert("Mapping".into(), p.to_string().into()),
                    Mapping::Csv(i) => m.insert("Mapping".into(), i.to_string().into()),
                };
                Value::Object(m)
            })
            .collect();
        json!({"RecordFormat": format, "RecordColumns": columns}).to_string()
    }

    /// Parses Kinesis Data Analytics' JSON form (see [`to_json`](Self::to_json)). A
    /// CSV column's `Mapping` is its 0-based field number; without one, columns take
    /// the fields in order.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| Error::Schema(format!("not JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| Error::Schema("must be a JSON object".into()))?;
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "RecordFormat" | "RecordColumns" | "RecordEncoding"
            ) {
                return Err(Error::Schema(format!(
                    "unknown member {key:?} (expected RecordFormat, RecordColumns, RecordEncoding)"
                )));
            }
        }
        if let Some(enc) = obj.get("RecordEncoding")
            && enc
                .as_str()
                .is_none_or(|e| !e.eq_ignore_ascii_case("UTF-8"))
        {
            return Err(Error::Schema("RecordEncoding must be \"UTF-8\"".into()));
        }
        let format_obj = obj
            .get("RecordFormat")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Schema("RecordFormat (an object) is required".into()))?;
        let kind = format_obj
            .get("RecordFormatType")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Schema("RecordFormat.RecordFormatType is required".into()))?;
        let params = format_obj.get("MappingParameters");
        let format = match kind.to_ascii_uppercase().as_str() {
            "JSON" => {
                if let Some(path) = params
                    .and_then(|p| p.get("JSONMappingParameters"))
                    .and_then(|p| p.get("RecordRowPath"))
                    && path.as_str() != Some("$")
                {
                    return Err(Error::Schema(format!(
                        "RecordRowPath {path}: only \"$\" (one row per record) is supported"
                    )));
                }
                RecordFormat::Json
            }
            "CSV" => {
                let csv = params.and_then(|p| p.get("CSVMappingParameters"));
                let get = |key: &str, default: &str| -> Result<String> {
                    match csv.and_then(|c| c.get(key)) {
                        None => Ok(default.to_string()),
                        Some(Value::String(s)) => Ok(s.clone()),
                        Some(other) => Err(Error::Schema(format!(
                            "{key} must be a string, not {other}"
                        ))),
                    }
                };
                RecordFormat::Csv {
                    row_delimiter: get("RecordRowDelimiter", "\n")?,
                    column_delimiter: get("RecordColumnDelimiter", ",")?,
                }
            }
            other => {
                return Err(Error::Schema(format!(
                    "RecordFormatType {other:?}: expected JSON or CSV"
                )));
            }
        };
        let columns_json = obj
            .get("RecordColumns")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Schema("RecordColumns (an array) is required".into()))?;
        let mut columns = Vec::with_capacity(columns_json.len());
        for (i, c) in columns_json.iter().enumerate() {
            let at = |what: &str| Error::Schema(format!("RecordColumns[{i}]: {what}"));
            let c = c.as_object().ok_or_else(|| at("must be an object"))?;
            let name = c
                .get("Name")
                .and_then(Value::as_str)
                .ok_or_else(|| at("Name (a string) is required"))?;
            let ty = c
                .get("SqlType")
                .and_then(Value::as_str)
                .ok_or_else(|| at("SqlType (a string) is required"))?;
            let sql_type = SqlType::parse(ty).map_err(|e| at(&e.to_string()))?;
            let mapping = match (&format, c.get("Mapping")) {
                (RecordFormat::Json, Some(Value::String(p))) => {
                    Mapping::Json(JsonPath::parse(p).map_err(|e| at(&e.to_string()))?)
                }
                (RecordFormat::Json, None) => {
                    Mapping::Json(JsonPath(vec![PathStep::Key(name.to_string())]))
                }
                (RecordFormat::Csv { .. }, None) => Mapping::Csv(i),
                (RecordFormat::Csv { .. }, Some(Value::Number(n))) => Mapping::Csv(
                    n.as_u64()
                        .filter(|n| *n < 100_000)
                        .ok_or_else(|| at("a CSV Mapping is a field number"))?
                        as usize,
                ),
                (RecordFormat::Csv { .. }, Some(Value::String(s))) => Mapping::Csv(
                    s.trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n < 100_000)
                        .ok_or_else(|| at("a CSV Mapping is a field number"))?,
                ),
                (_, Some(other)) => return Err(at(&format!("bad Mapping {other}"))),
            };
            columns.push(ColumnDef {
                name: name.to_string(),
                sql_type,
                mapping,
            });
        }
        Self::new(format, columns)
    }

    /// The schema as an SQL-like listing, one column a line with its mapping: what
    /// inference shows a user before they accept or edit it.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "format: {}",
            match &self.format {
                RecordFormat::Json => "JSON".to_string(),
                RecordFormat::Csv {
                    row_delimiter,
                    column_delimiter,
                } => format!("CSV (rows {row_delimiter:?}, fields {column_delimiter:?})"),
            }
        );
        let width = self.columns.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &self.columns {
            let mapping = match &c.mapping {
                Mapping::Json(p) => p.to_string(),
                Mapping::Csv(i) => format!("field {i}"),
            };
            let _ = writeln!(
                out,
                "  {:width$}  {:14}  {}",
                c.name,
                c.sql_type.to_string(),
                mapping
            );
        }
        let _ = write!(
            out,
            "  + metadata: shard_id, sequence_number, partition_key, approximate_arrival_time, data"
        );
        out
    }
}

fn validate_column_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > NAME_CHARS_MAX {
        return Err(Error::Schema(format!(
            "column name {name:?}: 1 to {NAME_CHARS_MAX} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::Schema(format!(
            "column name {name:?}: no control characters"
        )));
    }
    if METADATA_COLUMNS
        .iter()
        .any(|m| m.eq_ignore_ascii_case(name))
    {
        return Err(Error::Schema(format!(
            "column name {name:?} is a metadata column's name"
        )));
    }
    Ok(())
}

/// What [`infer_json_schema`] found.
#[derive(Debug, Clone)]
pub struct Inference {
    /// The proposed schema (edit it, or build another, before registering).
    pub schema: InputSchema,
    /// Records looked at.
    pub sampled: usize,
    /// Records that were not JSON objects (and so told nothing).
    pub unparsable: usize,
}

#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    bool_: bool,
    int: bool,
    float: bool,
    string: bool,
    timestamp_strings: bool,
    non_timestamp_strings: bool,
    nested: bool,
}

/// Proposes a JSON input schema from sample records: one column per leaf member
/// (nested objects flattened to `parent_child` names, arrays kept whole as VARCHAR
/// JSON text), typed BOOLEAN, BIGINT, DOUBLE (integers mixed with fractions),
/// TIMESTAMP (every text value parses as one) or VARCHAR (text, or mixed kinds), in
/// the order first seen.
pub fn infer_json_schema<'a>(records: impl IntoIterator<Item = &'a [u8]>) -> Result<Inference> {
    let mut order: Vec<Vec<PathStep>> = Vec::new();
    let mut seen: BTreeMap<Vec<PathStep>, Seen> = BTreeMap::new();
    let mut sampled = 0;
    let mut unparsable = 0;
    for data in records {
        sampled += 1;
        match serde_json::from_slice::<Ordered>(data) {
            Ok(Ordered::Object(obj)) => walk(&obj, &mut Vec::new(), &mut order, &mut seen),
            _ => unparsable += 1,
        }
    }
    if sampled == 0 {
        return Err(Error::Invalid(
            "no records to infer a schema from (the stream is empty)".into(),
        ));
    }
    let mut names = std::collections::HashSet::new();
    let mut columns = Vec::new();
    for path in order {
        let s = seen[&path];
        let sql_type = if s.nested || s.string && (s.int || s.float || s.bool_) {
            SqlType::Varchar(None)
        } else if s.string {
            if s.timestamp_strings && !s.non_timestamp_strings {
                SqlType::Timestamp
            } else {
                SqlType::Varchar(None)
            }
        } else if s.bool_ && (s.int || s.float) {
            SqlType::Varchar(None)
        } else if s.bool_ {
            SqlType::Boolean
        } else if s.float {
            SqlType::Double
        } else if s.int {
            SqlType::BigInt
        } else {
            SqlType::Varchar(None)
        };
        let base: String = path
            .iter()
            .map(|p| match p {
                PathStep::Key(k) => k
                    .chars()
                    .map(|c| {
                        if c.is_alphanumeric() {
                            c.to_ascii_lowercase()
                        } else {
                            '_'
                        }
                    })
                    .collect::<String>(),
                PathStep::Index(i) => i.to_string(),
            })
            .collect::<Vec<_>>()
            .join("_");
        let base = if base.is_empty() || base.chars().count() > NAME_CHARS_MAX {
            format!("column_{}", columns.len() + 1)
        } else if METADATA_COLUMNS.contains(&base.as_str()) {
            format!("{base}_value")
        } else {
            base
        };
        let mut name = base.clone();
        let mut n = 2;
        while !names.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        columns.push(ColumnDef {
            name,
            sql_type,
            mapping: Mapping::Json(JsonPath(path)),
        });
        if columns.len() == COLUMNS_MAX {
            break;
        }
    }
    Ok(Inference {
        schema: InputSchema::new(RecordFormat::Json, columns)?,
        sampled,
        unparsable,
    })
}

/// A JSON value that keeps members in document order (serde_json's `Value` sorts
/// them), so inferred columns come in the order records list them.
#[derive(Debug)]
enum Ordered {
    Null,
    Bool,
    Int,
    Float,
    Str(String),
    Array,
    Object(Vec<(String, Ordered)>),
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Null)
            }
            fn visit_none<E>(self) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Null)
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Bool)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Int)
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Ordered, E> {
                Ok(if i64::try_from(v).is_ok() {
                    Ordered::Int
                } else {
                    Ordered::Float
                })
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Float)
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Ordered, E> {
                Ok(Ordered::Str(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Ordered, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Ordered::Array)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Ordered, A::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Ordered>()? {
                    members.push((k, v));
                }
                Ok(Ordered::Object(members))
            }
        }
        d.deserialize_any(V)
    }
}

fn walk(
    obj: &[(String, Ordered)],
    prefix: &mut Vec<PathStep>,
    order: &mut Vec<Vec<PathStep>>,
    seen: &mut BTreeMap<Vec<PathStep>, Seen>,
) {
    for (key, value) in obj {
        prefix.push(PathStep::Key(key.clone()));
        if let Ordered::Object(inner) = value
            && !inner.is_empty()
            && prefix.len() < PATH_DEPTH_MAX
        {
            walk(inner, prefix, order, seen);
        } else {
            let entry = seen.entry(prefix.clone()).or_insert_with(|| {
                order.push(prefix.clone());
                Seen::default()
            });
            match value {
                Ordered::Null => {}
                Ordered::Bool => entry.bool_ = true,
                Ordered::Int => entry.int = true,
                Ordered::Float => entry.float = true,
                Ordered::Str(s) => {
                    entry.string = true;
                    if crate::parse::parse_timestamp_ms(s).is_some() {
                        entry.timestamp_strings = true;
                    } else {
                        entry.non_timestamp_strings = true;
                    }
                }
                Ordered::Array | Ordered::Object(_) => entry.nested = true,
            }
        }
        prefix.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_types_parse_and_print() {
        for (text, ty) in [
            ("varchar(4)", SqlType::Varchar(Some(4))),
            ("VARCHAR", SqlType::Varchar(None)),
            ("CHAR(1)", SqlType::Varchar(Some(1))),
            ("bigint", SqlType::BigInt),
            ("INTEGER", SqlType::Integer),
            ("double precision", SqlType::Double),
            ("DECIMAL(10, 2)", SqlType::Decimal(10, 2)),
            ("TIMESTAMP", SqlType::Timestamp),
        ] {
            assert_eq!(SqlType::parse(text).unwrap(), ty, "{text}");
            assert_eq!(SqlType::parse(&ty.to_string()).unwrap(), ty);
        }
        for bad in [
            "",
            "VARCHAR(0)",
            "DECIMAL(40,1)",
            "DECIMAL(5,6)",
            "BLOB",
            "INT(3)",
            "VARCHAR(x)",
        ] {
            assert!(SqlType::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_paths_parse_and_print() {
        let p = JsonPath::parse("$.order.lines[2]['unit price']").unwrap();
        assert_eq!(
            p.0,
            vec![
                PathStep::Key("order".into()),
                PathStep::Key("lines".into()),
                PathStep::Index(2),
                PathStep::Key("unit price".into())
            ]
        );
        assert_eq!(JsonPath::parse(&p.to_string()).unwrap(), p);
        for bad in ["", "$", "order", "$..a", "$[x]", "$['a", "$.a[1"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schemas_are_validated() {
        assert!(InputSchema::json(&[("a", "BIGINT", "$.a"), ("A", "BIGINT", "$.b")]).is_err());
        assert!(InputSchema::json(&[("shard_id", "BIGINT", "$.a")]).is_err());
        assert!(InputSchema::json(&[("", "BIGINT", "$.a")]).is_err());
        let ok =
            InputSchema::json(&[("a", "BIGINT", "$.a"), ("b", "VARCHAR(3)", "$.x.y")]).unwrap();
        assert_eq!(ok.arrow_schema().fields().len(), 2 + METADATA_COLUMNS.len());
        let round = InputSchema::from_json(&ok.to_json()).unwrap();
        assert_eq!(round, ok);
        let csv = InputSchema::csv(&[("a", "INTEGER"), ("b", "VARCHAR")]).unwrap();
        assert_eq!(InputSchema::from_json(&csv.to_json()).unwrap(), csv);
    }

    #[test]
    fn kda_schema_json_is_accepted() {
        let text = r#"{"RecordFormat": {"RecordFormatType": "JSON",
            "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
            "RecordEncoding": "UTF-8",
            "RecordColumns": [
              {"Name": "TICKER_SYMBOL", "SqlType": "VARCHAR(4)", "Mapping": "$.TICKER_SYMBOL"},
              {"Name": "PRICE", "SqlType": "REAL", "Mapping": "$.PRICE"}]}"#;
        let s = InputSchema::from_json(text).unwrap();
        assert_eq!(s.columns().len(), 2);
        assert_eq!(s.columns()[1].sql_type, SqlType::Real);
        let err = InputSchema::from_json(
            r#"{"RecordFormat": {"RecordFormatType": "XML"}, "RecordColumns": []}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("XML"), "{err}");
    }

    #[test]
    fn inference_types_and_names() {
        let recs: Vec<&[u8]> = vec![
            br#"{"id": 1, "price": 2, "who": {"name": "a"}, "ts": "2024-05-01T10:00:00Z", "ok": true, "tags": [1]}"#,
            br#"{"id": 2, "price": 2.5, "who": {"name": "bb"}, "ts": "2024-05-01T10:00:01Z", "ok": false, "extra": null}"#,
            b"not json",
        ];
        let inf = infer_json_schema(recs).unwrap();
        assert_eq!(inf.sampled, 3);
        assert_eq!(inf.unparsable, 1);
        let cols: Vec<(String, SqlType)> = inf
            .schema
            .columns()
            .iter()
            .map(|c| (c.name.clone(), c.sql_type))
            .collect();
        assert_eq!(
            cols,
            vec![
                ("id".into(), SqlType::BigInt),
                ("price".into(), SqlType::Double),
                ("who_name".into(), SqlType::Varchar(None)),
                ("ts".into(), SqlType::Timestamp),
                ("ok".into(), SqlType::Boolean),
                ("tags".into(), SqlType::Varchar(None)),
                ("extra".into(), SqlType::Varchar(None)),
            ]
        );
        assert!(inf.schema.describe().contains("$.who.name"));
    }
}
