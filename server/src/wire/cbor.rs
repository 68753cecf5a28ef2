//! AWS CBOR 1.1 (`application/x-amz-cbor-1.1`, the Java SDKs' default) bodies to and
//! from [`Value`].
//!
//! Decoding goes through ciborium with a nesting limit of 128 levels (as JSON's); a
//! truncated, malformed or too deep body is an error, never a panic. Blobs are byte
//! strings (a text string in a blob member is taken as base64, as in JSON);
//! timestamps are epoch milliseconds, tagged 1 or not. Encoding is this module's own
//! writer: definite lengths, blobs as byte strings, timestamps as tag 1 over an integer
//! of milliseconds, integers in their shortest form, other numbers as 64-bit floats.
#![forbid(unsafe_code)]

use bytes::Bytes;
use ciborium::value::Value as Cbor;

use super::shapes::{MemberKind, Service, member_kind};
use super::value::{Map, Value};

/// Deepest nesting a body may have.
pub const NESTING_MAX: usize = 128;

/// Decodes a CBOR request body; the top level must be a map.
pub fn decode(service: Service, body: &[u8]) -> Result<Map, String> {
    if body.is_empty() {
        return Err("empty CBOR body".to_string());
    }
    let mut reader = body;
    let value: Cbor = ciborium::de::from_reader_with_recursion_limit(&mut reader, NESTING_MAX)
        .map_err(|e| format!("malformed CBOR: {e}"))?;
    if !reader.is_empty() {
        return Err(format!(
            "{} bytes after the end of the CBOR value",
            reader.len()
        ));
    }
    match convert(service, MemberKind::Plain, value)? {
        Value::Map(m) => Ok(m),
        other => Err(format!(
            "the request body must be a CBOR map, not {}",
            other.type_name()
        )),
    }
}

fn number_to_ms_integer(n: i128) -> Result<i64, String> {
    i64::try_from(n).map_err(|_| "timestamp out of range".to_string())
}

fn convert(service: Service, kind: MemberKind, value: Cbor) -> Result<Value, String> {
    Ok(match (kind, value) {
        (_, Cbor::Null) => Value::Null,
        (_, Cbor::Bool(b)) => Value::Bool(b),
        (MemberKind::Timestamp, Cbor::Integer(n)) => {
            Value::Timestamp(number_to_ms_integer(i128::from(n))?)
        }
        (MemberKind::Timestamp, Cbor::Float(f)) => {
            if !f.is_finite() || f.abs() >= 9.0e15 {
                return Err("timestamp out of range".to_string());
            }
            Value::Timestamp(f.round() as i64)
        }
        (MemberKind::Timestamp, Cbor::Tag(1, inner)) => {
            convert(service, MemberKind::Timestamp, *inner)?
        }
        (_, Cbor::Integer(n)) => {
            let n = i128::from(n);
            i64::try_from(n).map_or(Value::Float(n as f64), Value::Int)
        }
        (_, Cbor::Float(f)) => Value::Float(f),
        (MemberKind::Blob, Cbor::Text(t)) => Value::Bytes(super::json::decode_blob(&t)?),
        (_, Cbor::Text(t)) => Value::Str(t),
        (_, Cbor::Bytes(b)) => Value::Bytes(Bytes::from(b)),
        (_, Cbor::Tag(_, inner)) => convert(service, kind, *inner)?,
        (_, Cbor::Array(items)) => Value::List(
            items
                .into_iter()
                .map(|v| convert(service, kind, v))
                .collect::<Result<_, _>>()?,
        ),
        (_, Cbor::Map(entries)) => {
            let mut map = Map::with_capacity(entries.len());
            for (k, v) in entries {
                let Cbor::Text(key) = k else {
                    return Err("a CBOR map key is not a text string".to_string());
                };
                let kind = member_kind(service, &key);
                map.insert(key, convert(service, kind, v)?);
            }
            Value::Map(map)
        }
        (_, other) => return Err(format!("unsupported CBOR item {other:?}")),
    })
}

/// Encodes an answer (or error) body.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write(&mut out, value);
    out
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= u64::from(u8::MAX) {
        out.extend_from_slice(&[m | 24, n as u8]);
    } else if n <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        head(out, 0, n as u64);
    } else {
        head(out, 1, !(n as u64)); // -1 - n
    }
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0xf6),
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Int(n) => int(out, *n),
        Value::Float(f) => {
            out.push(0xfb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => {
            head(out, 3, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            head(out, 2, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::Timestamp(ms) => {
            head(out, 6, 1);
            int(out, *ms);
        }
        Value::List(items) => {
            head(out, 4, items.len() as u64);
            for item in items {
                write(out, item);
            }
        }
        Value::Map(m) => {
            head(out, 5, m.len() as u64);
            for (k, v) in m.iter() {
                head(out, 3, k.len() as u64);
                out.extend_from_slice(k.as_bytes());
                write(out, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        Map::new()
            .with("StreamName", "s")
            .with("Data", Value::Bytes(Bytes::from_static(b"\x00\xffbytes")))
            .with(
                "ApproximateArrivalTimestamp",
                Value::Timestamp(1_700_000_000_123),
            )
            .with("Negative", Value::Int(-300))
            .with("Big", Value::Int(1 << 40))
            .with("Ratio", Value::Float(0.25))
            .with("Flag", true)
            .with("Nothing", Value::Null)
            .with("List", Value::List(vec![Value::Int(1), Map::new().into()]))
            .into()
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&sample());
        let back = decode(Service::Kinesis, &bytes).unwrap();
        assert_eq!(Value::Map(back), sample());
        // Our writer agrees with ciborium's reading of it.
        let parsed: Cbor = ciborium::de::from_reader(&bytes[..]).unwrap();
        let Cbor::Map(entries) = parsed else { panic!() };
        assert!(entries.iter().any(|(k, v)| k == &Cbor::Text("ApproximateArrivalTimestamp".into())
            && matches!(v, Cbor::Tag(1, inner) if **inner == Cbor::Integer(1_700_000_000_123u64.into()))));
    }

    #[test]
    fn truncated_and_hostile_bodies_are_errors() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert!(
                decode(Service::Kinesis, &bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut deep = vec![0x81u8; 10_000];
        deep.push(0x01);
        assert!(decode(Service::Kinesis, &deep).is_err());
        // A huge declared length with no bytes behind it.
        assert!(
            decode(
                Service::Kinesis,
                &[
                    0xa1, 0x64, b'D', b'a', b't', b'a', 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0xff
                ]
            )
            .is_err()
        );
        // Invalid UTF-8 in a text string.
        assert!(decode(Service::Kinesis, &[0xa1, 0x61, b'a', 0x62, 0xff, 0xfe]).is_err());
        assert!(decode(Service::Kinesis, &[0x01]).is_err());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode(Service::Kinesis, &trailing).is_err());
    }
}
