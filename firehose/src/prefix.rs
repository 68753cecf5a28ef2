//! S3 key prefixes: Firehose's expression language (`!{namespace:value}`) parsed once at
//! CreateDeliveryStream/UpdateDestination and evaluated per delivered object, and the
//! object key format `<evaluated prefix><name>-<version>-<yyyy-MM-dd-HH-mm-ss>-<id><ext>`.
//!
//! Namespaces: `timestamp:<DateTimeFormatter pattern>` (every occurrence evaluates the
//! same instant: the arrival time of the oldest record in the object),
//! `firehose:random-string` (11 characters), `firehose:error-output-type` (only in
//! ErrorOutputPrefix), `partitionKeyFromQuery:<key>` and `partitionKeyFromLambda:<key>`
//! (only in Prefix, with dynamic partitioning). `!{` that does not open a complete
//! expression is an error, so is any unknown namespace or value. A Prefix without a
//! timestamp or partition key expression gets `!{timestamp:yyyy/MM/dd/HH/}` appended
//! (AWS's default layout); an evaluated prefix longer than 512 characters fails the
//! object, never truncates it.
//!
//! Invariant: identifiers (`random-string`, the object id) come from a seed derived from
//! the batch's source positions, never from a random source, so a redelivered batch
//! gets the same key.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use crate::timefmt::TimeFormat;

/// The longest prefix after evaluation (AWS: 512).
pub const EVALUATED_PREFIX_CHARS_MAX: usize = 512;
/// The length of `!{firehose:random-string}`.
pub const RANDOM_STRING_CHARS: usize = 11;

/// Which field a prefix is for (the rules differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixKind {
    /// `Prefix`.
    Data,
    /// `ErrorOutputPrefix`.
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Timestamp(TimeFormat),
    RandomString,
    ErrorOutputType,
    Query(String),
    Lambda(String),
}

/// A parsed prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    parts: Vec<Part>,
    source: String,
}

/// What an evaluation needs besides the prefix.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext<'a> {
    /// Arrival time of the oldest record of the object, ms since the epoch.
    pub timestamp_ms: u64,
    /// Offset of the configured time zone at that instant, seconds east of UTC.
    pub offset_seconds: i32,
    /// Seed of `random-string` (from the batch's positions).
    pub seed: [u8; 32],
    /// The error type, for ErrorOutputPrefix.
    pub error_output_type: Option<&'a str>,
    /// Partition keys from the query.
    pub query_keys: &'a BTreeMap<String, String>,
    /// Partition keys from the transform's metadata.
    pub lambda_keys: &'a BTreeMap<String, String>,
}

impl Prefix {
    /// Parses `source` as a prefix of `kind`; `dynamic_partitioning` allows the
    /// partition key namespaces.
    pub fn parse(
        source: &str,
        kind: PrefixKind,
        dynamic_partitioning: bool,
    ) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        while let Some(at) = rest.find("!{") {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!(
                    "\"!{{\" at character {} does not open a complete expression !{{namespace:value}}",
                    source.len() - rest.len() + at
                ));
            };
            let body = &after[..end];
            if body.contains("!{") {
                return Err(format!("expressions cannot be nested: !{{{body}}}"));
            }
            let Some((namespace, value)) = body.split_once(':') else {
                return Err(format!("!{{{body}}} has no namespace (namespace:value)"));
            };
            let part = match namespace {
                "timestamp" => Part::Timestamp(
                    TimeFormat::parse(value).map_err(|e| format!("!{{timestamp:{value}}}: {e}"))?,
                ),
                "firehose" => match value {
                    "random-string" => Part::RandomString,
                    "error-output-type" if kind == PrefixKind::Error => Part::ErrorOutputType,
                    "error-output-type" => {
                        return Err(
                            "!{firehose:error-output-type} is allowed only in ErrorOutputPrefix"
                                .to_string(),
                        );
                    }
                    other => {
                        return Err(format!(
                            "unknown firehose value {other:?} (random-string, error-output-type)"
                        ));
                    }
                },
                "partitionKeyFromQuery" | "partitionKeyFromLambda" => {
                    if kind == PrefixKind::Error {
                        return Err(format!(
                            "!{{{namespace}:...}} is not allowed in ErrorOutputPrefix"
                        ));
                    }
                    if !dynamic_partitioning {
                        return Err(format!(
                            "!{{{namespace}:...}} needs dynamic partitioning enabled"
                        ));
                    }
                    if value.is_empty() {
                        return Err(format!("!{{{namespace}:}} names no key"));
                    }
                    if namespace == "partitionKeyFromQuery" {
                        Part::Query(value.to_string())
                    } else {
                        Part::Lambda(value.to_string())
                    }
                }
                other => {
                    return Err(format!(
                        "unknown namespace {other:?} (timestamp, firehose, partitionKeyFromQuery, partitionKeyFromLambda)"
                    ));
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self {
            parts,
            source: source.to_string(),
        })
    }

    /// The prefix as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True if the prefix has any expression.
    pub fn has_expressions(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Literal(_)))
    }

    /// True if the prefix has a timestamp expression.
    pub fn has_timestamp(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Timestamp(_)))
    }

    /// True if it uses partition keys.
    pub fn has_partition_keys(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Query(_) | Part::Lambda(_)))
    }

    /// True if it uses `!{firehose:error-output-type}`.
    pub fn has_error_output_type(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::ErrorOutputType))
    }

    /// Keys named by `partitionKeyFromQuery` expressions.
    pub fn query_keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Query(k) => Some(k.as_str()),
            _ => None,
        })
    }

    /// Keys named by `partitionKeyFromLambda` expressions.
    pub fn lambda_keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Lambda(k) => Some(k.as_str()),
            _ => None,
        })
    }

    /// This prefix with AWS's default time layout appended when it has neither a
    /// timestamp nor a partition key expression.
    pub fn with_default_time(mut self) -> Self {
        if !self.has_timestamp() && !self.has_partition_keys() {
            if let Ok(format) = TimeFormat::parse("yyyy/MM/dd/HH/") {
                self.parts.push(Part::Timestamp(format));
            }
        }
        self
    }

    /// Evaluates the prefix. Fails (with the reason) when a partition key is missing or
    /// the result is longer than [`EVALUATED_PREFIX_CHARS_MAX`].
    pub fn evaluate(&self, ctx: &EvalContext<'_>) -> Result<String, String> {
        let mut out = String::new();
        let mut random_index = 0u8;
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Timestamp(f) => {
                    out.push_str(&f.format(ctx.timestamp_ms as i64, ctx.offset_seconds))
                }
                Part::RandomString => {
                    out.push_str(&random_string(&ctx.seed, random_index));
                    random_index = random_index.wrapping_add(1);
                }
                Part::ErrorOutputType => {
                    out.push_str(ctx.error_output_type.unwrap_or("processing-failed"))
                }
                Part::Query(k) => match ctx.query_keys.get(k) {
                    Some(v) => out.push_str(v),
                    None => return Err(format!("partition key {k:?} from the query is missing")),
                },
                Part::Lambda(k) => match ctx.lambda_keys.get(k) {
                    Some(v) => out.push_str(v),
                    None => {
                        return Err(format!("partition key {k:?} from the transform is missing"));
                    }
                },
            }
        }
        let chars = out.chars().count();
        if chars > EVALUATED_PREFIX_CHARS_MAX {
            return Err(format!(
                "the evaluated prefix has {chars} characters, more than {EVALUATED_PREFIX_CHARS_MAX}"
            ));
        }
        Ok(out)
    }
}

/// The `random-string` value number `index` of a seed: 11 lowercase letters and digits.
pub fn random_string(seed: &[u8; 32], index: u8) -> String {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut hasher = blake3::Hasher::new_keyed(seed);
    hasher.update(b"random-string");
    hasher.update(&[index]);
    let bytes = hasher.finalize();
    bytes.as_bytes()[..RANDOM_STRING_CHARS]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// The object id of a seed, in UUID form (version 8, "custom", RFC 9562).
pub fn object_id(seed: &[u8; 32]) -> String {
    let mut hasher = blake3::Hasher::new_keyed(seed);
    hasher.update(b"object-id");
    let mut b = [0u8; 16];
    b.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The object key: `<prefix><name>-<version>-<yyyy-MM-dd-HH-mm-ss>-<id><extension>`,
/// the time being the arrival of the oldest record, in the configured zone.
pub fn object_key(
    evaluated_prefix: &str,
    delivery_stream: &str,
    version: u64,
    timestamp_ms: u64,
    offset_seconds: i32,
    seed: &[u8; 32],
    extension: &str,
) -> String {
    let t = crate::timefmt::Civil::at(timestamp_ms as i64, offset_seconds);
    format!(
        "{evaluated_prefix}{delivery_stream}-{version}-{:04}-{:02}-{:02}-{:02}-{:02}-{:02}-{}{extension}",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        object_id(seed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(
        query: &'a BTreeMap<String, String>,
        lambda: &'a BTreeMap<String, String>,
    ) -> EvalContext<'a> {
        EvalContext {
            timestamp_ms: 1_535_365_805_123,
            offset_seconds: 0,
            seed: [7; 32],
            error_output_type: Some("processing-failed"),
            query_keys: query,
            lambda_keys: lambda,
        }
    }

    #[test]
    fn evaluates_every_namespace() {
        let mut q = BTreeMap::new();
        q.insert("customer".to_string(), "c42".to_string());
        let mut l = BTreeMap::new();
        l.insert("region".to_string(), "eu".to_string());
        let p = Prefix::parse(
            "data/c=!{partitionKeyFromQuery:customer}/r=!{partitionKeyFromLambda:region}/!{timestamp:yyyy}/!{timestamp:MM}/!{firehose:random-string}/",
            PrefixKind::Data,
            true,
        )
        .unwrap();
        let out = p.evaluate(&ctx(&q, &l)).unwrap();
        assert!(out.starts_with("data/c=c42/r=eu/2018/08/"), "{out}");
        assert_eq!(out.len(), "data/c=c42/r=eu/2018/08/".len() + 11 + 1);
        let e = Prefix::parse(
            "err/!{firehose:error-output-type}/",
            PrefixKind::Error,
            false,
        )
        .unwrap();
        assert_eq!(e.evaluate(&ctx(&q, &l)).unwrap(), "err/processing-failed/");
    }

    #[test]
    fn default_time_is_appended_only_without_expressions_of_time_or_keys() {
        let empty = BTreeMap::new();
        let p = Prefix::parse("logs/", PrefixKind::Data, false)
            .unwrap()
            .with_default_time();
        assert_eq!(
            p.evaluate(&ctx(&empty, &empty)).unwrap(),
            "logs/2018/08/27/10/"
        );
        let p = Prefix::parse("", PrefixKind::Data, false)
            .unwrap()
            .with_default_time();
        assert_eq!(p.evaluate(&ctx(&empty, &empty)).unwrap(), "2018/08/27/10/");
        let p = Prefix::parse("x/!{timestamp:yyyy}/", PrefixKind::Data, false)
            .unwrap()
            .with_default_time();
        assert_eq!(p.evaluate(&ctx(&empty, &empty)).unwrap(), "x/2018/");
    }

    #[test]
    fn hostile_prefixes_are_refused_with_reasons() {
        let cases = [
            ("a/!{", PrefixKind::Data, false, "complete expression"),
            ("!{timestamp}", PrefixKind::Data, false, "no namespace"),
            ("!{nope:x}", PrefixKind::Data, false, "unknown namespace"),
            (
                "!{firehose:error-output-type}",
                PrefixKind::Data,
                false,
                "only in ErrorOutputPrefix",
            ),
            (
                "!{firehose:uuid}",
                PrefixKind::Data,
                false,
                "unknown firehose value",
            ),
            (
                "!{partitionKeyFromQuery:a}",
                PrefixKind::Data,
                false,
                "dynamic partitioning",
            ),
            (
                "!{partitionKeyFromQuery:a}",
                PrefixKind::Error,
                true,
                "not allowed",
            ),
            (
                "!{timestamp:yyyy-q}",
                PrefixKind::Data,
                false,
                "not supported",
            ),
            (
                "!{partitionKeyFromLambda:}",
                PrefixKind::Data,
                true,
                "names no key",
            ),
        ];
        for (source, kind, dp, needle) in cases {
            let err = Prefix::parse(source, kind, dp).unwrap_err();
            assert!(err.contains(needle), "{source}: {err}");
        }
    }

    #[test]
    fn long_evaluations_and_missing_keys_fail() {
        let mut q = BTreeMap::new();
        q.insert("k".to_string(), "x".repeat(600));
        let empty = BTreeMap::new();
        let p = Prefix::parse("!{partitionKeyFromQuery:k}/", PrefixKind::Data, true).unwrap();
        assert!(p.evaluate(&ctx(&q, &empty)).unwrap_err().contains("512"));
        let p = Prefix::parse("!{partitionKeyFromQuery:other}/", PrefixKind::Data, true).unwrap();
        assert!(
            p.evaluate(&ctx(&q, &empty))
                .unwrap_err()
                .contains("missing")
        );
    }

    #[test]
    fn keys_are_deterministic_per_seed() {
        let a = object_key("p/", "ds", 1, 1_535_365_805_123, 0, &[1; 32], ".gz");
        let b = object_key("p/", "ds", 1, 1_535_365_805_123, 0, &[1; 32], ".gz");
        let c = object_key("p/", "ds", 1, 1_535_365_805_123, 0, &[2; 32], ".gz");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("p/ds-1-2018-08-27-10-30-05-"), "{a}");
        assert!(a.ends_with(".gz"));
        assert_eq!(a.len(), "p/ds-1-2018-08-27-10-30-05-".len() + 36 + 3);
        assert_eq!(random_string(&[1; 32], 0).len(), 11);
        assert_ne!(random_string(&[1; 32], 0), random_string(&[1; 32], 1));
    }
}
