//! Reading request members: each accessor names the member in its error. A member of
//! the wrong type is a SerializationException (as AWS answers it); a missing required
//! member or one out of its bounds is a ValidationException in AWS's words
//! ("1 validation error detected: Value ... at '...' failed to satisfy constraint").
#![forbid(unsafe_code)]

use bytes::Bytes;

use super::ApiError;
use crate::wire::{Map, Value};

fn wrong_type(name: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::serialization(format!(
        "member {name} must be {expected}, not {}",
        got.type_name()
    ))
}

/// AWS's text for a missing required member (`name` as the API spells it; the
/// message uses the lower-camel form AWS shows).
pub fn missing(name: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: \
         Member must not be null",
        lower_first(name)
    ))
}

/// AWS's text for a member outside its constraint.
pub fn constraint(name: &str, value: impl std::fmt::Display, rule: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value '{value}' at '{}' failed to satisfy \
         constraint: {rule}",
        lower_first(name)
    ))
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn present<'a>(m: &'a Map, name: &str) -> Option<&'a Value> {
    m.get(name).filter(|v| !matches!(v, Value::Null))
}

/// An optional string member.
pub fn opt_str<'a>(m: &'a Map, name: &str) -> Result<Option<&'a str>, ApiError> {
    match present(m, name) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(v) => Err(wrong_type(name, "a string", v)),
    }
}

/// A required string member.
pub fn req_str<'a>(m: &'a Map, name: &str) -> Result<&'a str, ApiError> {
    opt_str(m, name)?.ok_or_else(|| missing(name))
}

/// An optional integer member (a number with a fraction is refused).
pub fn opt_int(m: &Map, name: &str) -> Result<Option<i64>, ApiError> {
    match present(m, name) {
        None => Ok(None),
        Some(Value::Int(n)) => Ok(Some(*n)),
        Some(Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(*f as i64)),
        Some(v) => Err(wrong_type(name, "an integer", v)),
    }
}

/// An optional integer member within `[min, max]`.
pub fn opt_int_in(m: &Map, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
    match opt_int(m, name)? {
        Some(n) if n < min => Err(constraint(
            name,
            n,
            &format!("Member must have value greater than or equal to {min}"),
        )),
        Some(n) if n > max => Err(constraint(
            name,
            n,
            &format!("Member must have value less than or equal to {max}"),
        )),
        other => Ok(other),
    }
}

/// A required integer member within `[min, max]`.
pub fn req_int_in(m: &Map, name: &str, min: i64, max: i64) -> Result<i64, ApiError> {
    opt_int_in(m, name, min, max)?.ok_or_else(|| missing(name))
}

/// An optional boolean member.
pub fn opt_bool(m: &Map, name: &str) -> Result<Option<bool>, ApiError> {
    match present(m, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(wrong_type(name, "a boolean", v)),
    }
}

/// An optional structure or map member.
pub fn opt_map<'a>(m: &'a Map, name: &str) -> Result<Option<&'a Map>, ApiError> {
    match present(m, name) {
        None => Ok(None),
        Some(Value::Map(inner)) => Ok(Some(inner)),
        Some(v) => Err(wrong_type(name, "a structure", v)),
    }
}

/// An optional list member.
pub fn opt_list<'a>(m: &'a Map, name: &str) -> Result<Option<&'a [Value]>, ApiError> {
    match present(m, name) {
        None => Ok(None),
        Some(Value::List(items)) => Ok(Some(items)),
        Some(v) => Err(wrong_type(name, "a list", v)),
    }
}

/// A required list member.
pub fn req_list<'a>(m: &'a Map, name: &str) -> Result<&'a [Value], ApiError> {
    opt_list(m, name)?.ok_or_else(|| missing(name))
}

/// A required blob member.
pub fn req_blob<'a>(m: &'a Map, name: &str) -> Result<&'a Bytes, ApiError> {
    match present(m, name) {
        None => Err(missing(name)),
        Some(Value::Bytes(b)) => Ok(b),
        Some(v) => Err(wrong_type(name, "a blob", v)),
    }
}

/// An optional timestamp member, as milliseconds since the epoch (never negative).
pub fn opt_timestamp_ms(m: &Map, name: &str) -> Result<Option<u64>, ApiError> {
    match present(m, name) {
        None => Ok(None),
        Some(Value::Timestamp(ms)) => u64::try_from(*ms)
            .map(Some)
            .map_err(|_| constraint(name, ms, "Member must not be before 1970")),
        Some(v) => Err(wrong_type(name, "a timestamp", v)),
    }
}

/// A value that must be a structure (a list element such as `Records[3]`), named
/// `name` in the error.
pub fn structure<'a>(v: &'a Value, name: &str) -> Result<&'a Map, ApiError> {
    match v {
        Value::Map(m) => Ok(m),
        other => Err(wrong_type(name, "a structure", other)),
    }
}
