//! An application's definition: its SQL code, its input (a tidelog stream with an input
//! schema, mapped to `SOURCE_SQL_STREAM_001`), its outputs (in-application streams
//! delivered to tidelog streams or Firehose delivery streams as JSON or CSV rows), its
//! reference tables and its
//! timing options; and the definition's JSON form (the body of the file
//! `application`, docs/format.md).
//!
//! Invariants: a definition that [`AppDefinition::validate`] accepts has a valid name,
//! a valid input schema and options in range; the JSON form round-trips exactly.
#![forbid(unsafe_code)]

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::schema::InputSchema;

/// The in-application error stream's name (Kinesis Data Analytics' `error_stream`).
pub const ERROR_STREAM: &str = "error_stream";

/// Where an application's input starts when it is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// Where it stopped (its checkpoint); the oldest retained record if it never ran.
    LastStoppedPoint,
    /// The oldest retained record (window state is discarded).
    TrimHorizon,
    /// Records put from now on (window state is discarded).
    Latest,
    /// The first record that arrived at or after this time, ms (window state is
    /// discarded).
    AtTimestamp(u64),
}

impl StartFrom {
    /// Parses `LAST_STOPPED_POINT`, `TRIM_HORIZON`, `NOW` / `LATEST`, or a timestamp
    /// in ms since the epoch.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_uppercase().as_str() {
            "LAST_STOPPED_POINT" => Ok(Self::LastStoppedPoint),
            "TRIM_HORIZON" => Ok(Self::TrimHorizon),
            "NOW" | "LATEST" => Ok(Self::Latest),
            other => other.parse::<u64>().map(Self::AtTimestamp).map_err(|_| {
                Error::Invalid(format!(
                    "starting position {text:?}: LAST_STOPPED_POINT, TRIM_HORIZON, NOW (LATEST) or a time in ms"
                ))
            }),
        }
    }
}

/// How output rows are written into a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per record (`{"column": value, ...}`; NULLs omitted).
    Json,
    /// One CSV line per record (the stream's columns in order, no header).
    Csv,
}

impl OutputFormat {
    fn name(self) -> &'static str {
        match self {
            Self::Json => "JSON",
            Self::Csv => "CSV",
        }
    }

    /// Parses `JSON` or `CSV` (any case).
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_uppercase().as_str() {
            "JSON" => Ok(Self::Json),
            "CSV" => Ok(Self::Csv),
            _ => Err(Error::Invalid(format!(
                "output format {text:?}: JSON or CSV"
            ))),
        }
    }
}

/// What an application reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputKind {
    /// A tidelog stream (every shard, reshards followed).
    #[default]
    Stream,
    /// A Firehose delivery stream (DirectPut): the records its durable buffer holds
    /// (delivered or not, for its `buffer_retention_hours`), in put order.
    DeliveryStream,
}

/// What an output delivers into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum OutputKind {
    /// A tidelog stream: one record per row, its partition key the row's identity.
    #[default]
    Stream,
    /// A Firehose delivery stream (DirectPut): one record per row, each ending with a
    /// newline, so the delivered objects are JSON lines or CSV.
    DeliveryStream,
}

/// An output: an in-application stream delivered to a tidelog stream or a Firehose
/// delivery stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// The in-application stream (declared by `CREATE STREAM`, or `error_stream`).
    pub in_app_stream: String,
    /// The tidelog stream (or, for [`OutputKind::DeliveryStream`], the delivery
    /// stream) its rows are put into.
    pub stream: String,
    /// How rows are encoded.
    pub format: OutputFormat,
    /// What `stream` names.
    pub kind: OutputKind,
}

/// A reference table: a file of JSON lines or CSV rows, loaded as an in-application
/// table pumps can join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceTable {
    /// The table's name in SQL.
    pub name: String,
    /// The file.
    pub path: String,
    /// Its columns and format (each line of the file is a record).
    pub schema: InputSchema,
}

/// An application's timing and batching options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppOptions {
    /// Event-time windows: how far behind the largest event time seen a row may be
    /// before it is late (ms).
    pub allowed_lateness_ms: i64,
    /// ROWTIME windows: how long after the clock a shard with nothing more to read is
    /// taken to have no earlier record coming (ms).
    pub watermark_delay_ms: i64,
    /// Records read from one shard per epoch, at most.
    pub max_records_per_shard: usize,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            allowed_lateness_ms: 0,
            watermark_delay_ms: 1000,
            max_records_per_shard: 100_000,
        }
    }
}

/// An application: code, input, outputs, reference tables, options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDefinition {
    /// The application's name (1 to 128 of A-Z a-z 0-9 _ . -).
    pub name: String,
    /// Its SQL (CREATE STREAM and CREATE PUMP statements).
    pub code: String,
    /// The tidelog stream (or, for [`InputKind::DeliveryStream`], the delivery
    /// stream) it reads.
    pub input_stream: String,
    /// What `input_stream` names.
    pub input_kind: InputKind,
    /// The input's in-application name prefix (`SOURCE_SQL_STREAM`: the stream is
    /// `SOURCE_SQL_STREAM_001`).
    pub name_prefix: String,
    /// The input schema.
    pub input_schema: InputSchema,
    /// Outputs.
    pub outputs: Vec<OutputConfig>,
    /// Reference tables.
    pub reference_tables: Vec<ReferenceTable>,
    /// Options.
    pub options: AppOptions,
}

/// Checks an application (or in-application object) name.
pub fn validate_app_name(what: &str, name: &str) -> Result<()> {
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
            "{what} {name:?}: 1 to 128 characters of A-Z, a-z, 0-9, '_', '-', '.' (not starting with '.')"
        )))
    }
}

impl AppDefinition {
    /// A definition with default options, no outputs and no reference tables.
    pub fn new(name: &str, code: &str, input_stream: &str, input_schema: InputSchema) -> Self {
        Self {
            name: name.into(),
            code: code.into(),
            input_stream: input_stream.into(),
            input_kind: InputKind::Stream,
            name_prefix: "SOURCE_SQL_STREAM".into(),
            input_schema,
            outputs: Vec::new(),
            reference_tables: Vec::new(),
            options: AppOptions::default(),
        }
    }

    /// Adds an output (builder style).
    pub fn with_output(mut self, in_app_stream: &str, stream: &str, format: OutputFormat) -> Self {
        self.outputs.push(OutputConfig {
            in_app_stream: in_app_stream.into(),
            stream: stream.into(),
            format,
            kind: OutputKind::Stream,
        });
        self
    }

    /// Adds an output into a Firehose delivery stream (builder style); the
    /// application must run under [`Applications`](super::Applications) opened with
    /// that Firehose.
    pub fn with_delivery_stream_output(
        mut self,
        in_app_stream: &str,
        delivery_stream: &str,
        format: OutputFormat,
    ) -> Self {
        self.outputs.push(OutputConfig {
            in_app_stream: in_app_stream.into(),
            stream: delivery_stream.into(),
            format,
            kind: OutputKind::DeliveryStream,
        });
        self
    }

    /// Reads the Firehose delivery stream named `input_stream` (its durable buffer)
    /// instead of a tidelog stream (builder style); the application must run under
    /// [`Applications`](super::Applications) opened with that Firehose.
    pub fn reading_delivery_stream(mut self) -> Self {
        self.input_kind = InputKind::DeliveryStream;
        self
    }

    /// Adds a reference table (builder style).
    pub fn with_reference(mut self, name: &str, path: &str, schema: InputSchema) -> Self {
        self.reference_tables.push(ReferenceTable {
            name: name.into(),
            path: path.into(),
            schema,
        });
        self
    }

    /// The input's in-application stream (`<prefix>_001`).
    pub fn source_stream(&self) -> String {
        format!("{}_001", self.name_prefix)
    }

    /// Checks names and options (the SQL is checked when compiled).
    pub fn validate(&self) -> Result<()> {
        validate_app_name("application name", &self.name)?;
        validate_app_name("name prefix", &self.name_prefix)?;
        match self.input_kind {
            InputKind::Stream => tidelog::stream::names::validate_stream_name(&self.input_stream)
                .map_err(|e| Error::Invalid(e.describe("input stream name")))?,
            InputKind::DeliveryStream => {
                tidelog_firehose::names::validate_name(&self.input_stream, "DeliveryStreamName")
                    .map_err(|e| Error::Invalid(format!("input delivery stream: {e}")))?
            }
        }
        if self.code.len() > 100_000 {
            return Err(Error::Invalid(
                "application code: at most 100,000 bytes".into(),
            ));
        }
        for o in &self.outputs {
            match o.kind {
                OutputKind::Stream => tidelog::stream::names::validate_stream_name(&o.stream)
                    .map_err(|e| Error::Invalid(e.describe("output stream name")))?,
                OutputKind::DeliveryStream => {
                    tidelog_firehose::names::validate_name(&o.stream, "DeliveryStreamName")
                        .map_err(|e| Error::Invalid(format!("output delivery stream: {e}")))?
                }
            }
        }
        for r in &self.reference_tables {
            validate_app_name("reference table name", &r.name)?;
            if r.path.is_empty() {
                return Err(Error::Invalid(format!(
                    "reference table {:?}: empty path",
                    r.name
                )));
            }
        }
        let o = &self.options;
        if !(0..=86_400_000).contains(&o.allowed_lateness_ms) {
            return Err(Error::Invalid(
                "allowed_lateness_ms: 0 to 86,400,000".into(),
            ));
        }
        if !(0..=3_600_000).contains(&o.watermark_delay_ms) {
            return Err(Error::Invalid("watermark_delay_ms: 0 to 3,600,000".into()));
        }
        if !(1..=10_000_000).contains(&o.max_records_per_shard) {
            return Err(Error::Invalid(
                "max_records_per_shard: 1 to 10,000,000".into(),
            ));
        }
        Ok(())
    }

    /// The JSON form (in the file `application`).
    pub fn to_json(&self) -> String {
        let schema: Value =
            serde_json::from_str(&self.input_schema.to_json()).unwrap_or(Value::Null);
        let outputs: Vec<Value> = self
            .outputs
            .iter()
            .map(|o| match o.kind {
                OutputKind::Stream => {
                    json!({"InAppStream": o.in_app_stream, "Stream": o.stream, "Format": o.format.name()})
                }
                OutputKind::DeliveryStream => {
                    json!({"InAppStream": o.in_app_stream, "DeliveryStream": o.stream, "Format": o.format.name()})
                }
            })
            .collect();
        let references: Vec<Value> = self
            .reference_tables
            .iter()
            .map(|r| {
                let schema: Value =
                    serde_json::from_str(&r.schema.to_json()).unwrap_or(Value::Null);
                json!({"Name": r.name, "Path": r.path, "Schema": schema})
            })
            .collect();
        json!({
            "Name": self.name,
            "Code": self.code,
            "Input": match self.input_kind {
                InputKind::Stream => json!({"Stream": self.input_stream, "NamePrefix": self.name_prefix, "Schema": schema}),
                InputKind::DeliveryStream => json!({"DeliveryStream": self.input_stream, "NamePrefix": self.name_prefix, "Schema": schema}),
            },
            "Outputs": outputs,
            "ReferenceTables": references,
            "Options": {
                "AllowedLatenessMs": self.options.allowed_lateness_ms,
                "WatermarkDelayMs": self.options.watermark_delay_ms,
                "MaxRecordsPerShard": self.options.max_records_per_shard,
            },
        })
        .to_string()
    }

    /// Reads the JSON form.
    pub fn from_json(text: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::Invalid(format!("application definition: {e}")))?;
        let bad = |what: &str| Error::Invalid(format!("application definition: {what}"));
        let s = |v: &Value, k: &str| -> Result<String> {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| bad(&format!("{k} is missing or not a text")))
        };
        let input = v.get("Input").ok_or_else(|| bad("Input is missing"))?;
        let schema = InputSchema::from_json(
            &input
                .get("Schema")
                .ok_or_else(|| bad("Input.Schema is missing"))?
                .to_string(),
        )?;
        let (input_stream, input_kind) = match (input.get("Stream"), input.get("DeliveryStream")) {
            (Some(_), None) => (s(input, "Stream")?, InputKind::Stream),
            (None, Some(_)) => (s(input, "DeliveryStream")?, InputKind::DeliveryStream),
            _ => {
                return Err(bad("Input names exactly one of Stream and DeliveryStream"));
            }
        };
        let mut def = Self::new(&s(&v, "Name")?, &s(&v, "Code")?, &input_stream, schema);
        def.input_kind = input_kind;
        if let Some(prefix) = input.get("NamePrefix") {
            def.name_prefix = prefix
                .as_str()
                .ok_or_else(|| bad("Input.NamePrefix is not a text"))?
                .to_string();
        }
        for o in v
            .get("Outputs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (stream, kind) = match (o.get("Stream"), o.get("DeliveryStream")) {
                (Some(_), None) => (s(o, "Stream")?, OutputKind::Stream),
                (None, Some(_)) => (s(o, "DeliveryStream")?, OutputKind::DeliveryStream),
                _ => {
                    return Err(bad(
                        "an output names exactly one of Stream and DeliveryStream",
                    ));
                }
            };
            def.outputs.push(OutputConfig {
                in_app_stream: s(o, "InAppStream")?,
                stream,
                format: OutputFormat::parse(&s(o, "Format")?)?,
                kind,
            });
        }
        for r in v
            .get("ReferenceTables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            def.reference_tables.push(ReferenceTable {
                name: s(r, "Name")?,
                path: s(r, "Path")?,
                schema: InputSchema::from_json(
                    &r.get("Schema")
                        .ok_or_else(|| bad("Schema is missing"))?
                        .to_string(),
                )?,
            });
        }
        if let Some(o) = v.get("Options") {
            let n = |k: &str, d: i64| o.get(k).and_then(Value::as_i64).unwrap_or(d);
            let d = AppOptions::default();
            def.options = AppOptions {
                allowed_lateness_ms: n("AllowedLatenessMs", d.allowed_lateness_ms),
                watermark_delay_ms: n("WatermarkDelayMs", d.watermark_delay_ms),
                max_records_per_shard: n("MaxRecordsPerShard", d.max_records_per_shard as i64)
                    .max(0) as usize,
            };
        }
        def.validate()?;
        Ok(def)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_validation() {
        let schema =
            InputSchema::json(&[("k", "VARCHAR(8)", "$.k"), ("v", "BIGINT", "$.v")]).unwrap();
        let mut def = AppDefinition::new("app-1", "CREATE STREAM s (a INT);", "in", schema.clone())
            .with_output("s", "out", OutputFormat::Csv)
            .with_delivery_stream_output("s", "to-s3", OutputFormat::Json)
            .with_reference("ref", "/tmp/x.json", schema);
        def.options.allowed_lateness_ms = 5000;
        let back = AppDefinition::from_json(&def.to_json()).unwrap();
        assert_eq!(back, def);
        let from_ds = def.clone().reading_delivery_stream();
        assert_eq!(
            AppDefinition::from_json(&from_ds.to_json()).unwrap(),
            from_ds
        );
        assert!(from_ds.to_json().contains(r#""DeliveryStream":"in""#));
        def.name = "bad name".into();
        assert!(def.validate().unwrap_err().to_string().contains("bad name"));
        def.name = "ok".into();
        def.options.max_records_per_shard = 0;
        assert!(def.validate().is_err());
        assert_eq!(StartFrom::parse("now").unwrap(), StartFrom::Latest);
        assert_eq!(StartFrom::parse("12").unwrap(), StartFrom::AtTimestamp(12));
        assert!(StartFrom::parse("yesterday").is_err());
        let both = r#"{"Name": "a", "Code": "", "Input": {"Stream": "in", "Schema": {"RecordFormat": {"RecordFormatType": "JSON"}, "RecordColumns": [{"Name": "k", "SqlType": "BIGINT", "Mapping": "$.k"}]}}, "Outputs": [{"InAppStream": "s", "Stream": "x", "DeliveryStream": "y", "Format": "JSON"}]}"#;
        let e = AppDefinition::from_json(both).unwrap_err().to_string();
        assert!(
            e.contains("exactly one of Stream and DeliveryStream"),
            "{e}"
        );
        let bad_name = both
            .replace(r#""Stream": "x", "#, "")
            .replace(r#""y""#, r#""no/slash""#);
        let e = AppDefinition::from_json(&bad_name).unwrap_err().to_string();
        assert!(e.contains("output delivery stream"), "{e}");
    }
}
