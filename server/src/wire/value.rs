//! The protocol-neutral value every operation reads and answers: JSON 1.1 and CBOR
//! both decode into it and encode from it, so a handler is written once.
//!
//! Invariants:
//! - Blobs are [`Value::Bytes`] and timestamps [`Value::Timestamp`] (milliseconds since
//!   the epoch) whatever the wire form (base64 and epoch seconds in JSON, byte strings
//!   and epoch milliseconds in CBOR); `shapes.rs` says which members are which.
//! - A [`Map`] never holds a key twice (the last one given wins, as in JSON parsers).
#![forbid(unsafe_code)]

use std::borrow::Cow;

use bytes::Bytes;

/// A map key: static for the names handlers write, owned for what clients send.
pub type Key = Cow<'static, str>;

/// A decoded request member or an answer member.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON null (CBOR null or undefined).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer that fits in 64 signed bits.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string.
    Str(String),
    /// A blob.
    Bytes(Bytes),
    /// A timestamp, milliseconds since the Unix epoch.
    Timestamp(i64),
    /// A list.
    List(Vec<Value>),
    /// A structure or map.
    Map(Map),
}

/// An insertion-ordered map with unique keys (small maps: lookups scan).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map(Vec<(Key, Value)>);

impl Map {
    /// An empty map.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` (replacing an earlier value of the same key).
    pub fn insert(&mut self, key: impl Into<Key>, value: Value) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Appends `key` known not to be present yet (the answers handlers build).
    pub fn push(&mut self, key: &'static str, value: Value) {
        debug_assert!(self.get(key).is_none(), "duplicate key {key}");
        self.0.push((Cow::Borrowed(key), value));
    }

    /// Builder form of [`push`](Self::push).
    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.push(key, value.into());
        self
    }

    /// Builder form that skips `None`.
    pub fn with_opt(mut self, key: &'static str, value: Option<impl Into<Value>>) -> Self {
        if let Some(v) = value {
            self.push(key, v.into());
        }
        self
    }

    /// Entries in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Map(m)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}
impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Int(i64::from(n))
    }
}
impl From<u64> for Value {
    fn from(n: u64) -> Self {
        i64::try_from(n).map_or(Value::Float(n as f64), Value::Int)
    }
}
impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Value::from(n as u64)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::List(v)
    }
}

impl Value {
    /// The wire protocol's name of this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Bytes(_) => "a blob",
            Value::Timestamp(_) => "a timestamp",
            Value::List(_) => "a list",
            Value::Map(_) => "a structure",
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
}
