//! AWS JSON 1.1 bodies to and from [`Value`].
//!
//! Decoding streams through serde_json (no intermediate tree) with the member table of
//! `shapes.rs`: a blob member's string is base64-decoded, a timestamp member's number
//! (epoch seconds, fractions allowed) becomes milliseconds. serde_json refuses nesting
//! deeper than 128 levels, invalid UTF-8 and trailing bytes; each is a
//! SerializationException for the caller, never a panic.
//!
//! The per-record members of a batch cost no allocation for their names (the common
//! member names are interned), and a blob is decoded (SIMD base64) into a buffer of
//! exactly its length, which `Bytes` then owns as is.
#![forbid(unsafe_code)]

use std::fmt;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::shapes::{MemberKind, Service, member_kind};
use super::value::{Key, Map, Value};

/// Decodes a JSON 1.1 request body (an empty body is `{}`). The top level must be an
/// object.
pub fn decode(service: Service, body: &[u8]) -> Result<Map, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Seed {
        service,
        kind: MemberKind::Plain,
    }
    .deserialize(&mut de)
    .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    match value {
        Value::Map(m) => Ok(m),
        other => Err(format!(
            "the request body must be a JSON object, not {}",
            other.type_name()
        )),
    }
}

/// Encodes an answer (or error) body.
pub fn encode(value: &Value) -> Vec<u8> {
    // Serializing a Value cannot fail: every map key is a string and floats that are
    // not finite are written as null.
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

/// Seconds (as JSON gives them) to milliseconds, rounded to the nearest.
fn seconds_to_ms(seconds: f64) -> Option<i64> {
    let ms = (seconds * 1000.0).round();
    (ms.is_finite() && ms.abs() < 9.0e15).then_some(ms as i64)
}

/// Member names a request repeats per record, or that nearly every request has: kept
/// as static names instead of an allocation each.
const COMMON_MEMBERS: &[&str] = &[
    "Data",
    "PartitionKey",
    "ExplicitHashKey",
    "Records",
    "StreamName",
    "StreamARN",
    "DeliveryStreamName",
    "ShardIterator",
    "Limit",
    "ShardId",
];

/// A map key: a common member name as its static string, any other owned.
struct MemberName;

impl<'de> DeserializeSeed<'de> for MemberName {
    type Value = Key;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for MemberName {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    // serde_json hands keys over as `&str` (borrowed, or unescaped into its scratch);
    // `visit_string`'s default forwards here.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match COMMON_MEMBERS.iter().find(|&&m| m == v) {
            Some(&name) => Key::Borrowed(name),
            None => Key::Owned(v.to_owned()),
        })
    }
}

/// A blob member's base64 text (standard alphabet, padded) as its bytes, for the JSON
/// and CBOR decoders both: SIMD decoding into a buffer of exactly the decoded length
/// (which `Bytes` owns as is). A bad blob is described by the scalar decoder, which
/// names the offending byte and offset; only the error path pays for it.
pub(super) fn decode_blob(text: &str) -> Result<Bytes, String> {
    match base64_simd::STANDARD.decode_to_vec(text) {
        Ok(bytes) => Ok(Bytes::from(bytes)),
        Err(_) => {
            use base64::Engine as _;
            let why = match base64::engine::general_purpose::STANDARD.decode(text) {
                Err(e) => e.to_string(),
                Ok(_) => "not padded to a multiple of 4 characters".to_string(),
            };
            Err(format!("a blob member is not valid base64: {why}"))
        }
    }
}

#[derive(Clone, Copy)]
struct Seed {
    service: Service,
    kind: MemberKind,
}

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        match self.kind {
            MemberKind::Timestamp => v
                .checked_mul(1000)
                .map(Value::Timestamp)
                .ok_or_else(|| E::custom("timestamp out of range")),
            _ => Ok(Value::Int(v)),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => self.visit_f64(v as f64),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        match self.kind {
            MemberKind::Timestamp => seconds_to_ms(v)
                .map(Value::Timestamp)
                .ok_or_else(|| E::custom("timestamp out of range")),
            _ => Ok(Value::Float(v)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        match self.kind {
            MemberKind::Blob => decode_blob(v).map(Value::Bytes).map_err(E::custom),
            _ => Ok(Value::Str(v.to_string())),
        }
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        match self.kind {
            MemberKind::Blob => self.visit_str(&v),
            _ => Ok(Value::Str(v)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        // List members carry the list's kind (no list of blobs exists today; a list of
        // structures resets it per key).
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::List(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::with_capacity(access.size_hint().unwrap_or(0).min(64));
        while let Some(key) = access.next_key_seed(MemberName)? {
            let kind = member_kind(self.service, &key);
            let value = access.next_value_seed(Seed {
                service: self.service,
                kind,
            })?;
            map.insert(key, value);
        }
        Ok(Value::Map(map))
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(n) => s.serialize_i64(*n),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::Str(v) => s.serialize_str(v),
            Value::Bytes(b) => s.serialize_str(&base64_simd::STANDARD.encode_to_string(b)),
            Value::Timestamp(ms) => {
                if ms % 1000 == 0 {
                    s.serialize_i64(ms / 1000)
                } else {
                    s.serialize_f64(*ms as f64 / 1000.0)
                }
            }
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m.iter() {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_and_timestamps_by_member_name() {
        let body = br#"{"StreamName":"s","Data":"aGVsbG8=","Timestamp":1700000000.5,
            "Records":[{"Data":"AA==","PartitionKey":"k"}],"Limit":3}"#;
        let m = decode(Service::Kinesis, body).unwrap();
        assert_eq!(
            m.get("Data"),
            Some(&Value::Bytes(Bytes::from_static(b"hello")))
        );
        assert_eq!(
            m.get("Timestamp"),
            Some(&Value::Timestamp(1_700_000_000_500))
        );
        assert_eq!(m.get("Limit"), Some(&Value::Int(3)));
        let Some(Value::List(records)) = m.get("Records") else {
            panic!("records")
        };
        assert_eq!(
            records[0].as_map().unwrap().get("Data"),
            Some(&Value::Bytes(Bytes::from_static(&[0])))
        );
        let out = encode(&Value::Map(m));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""Data":"aGVsbG8=""#), "{text}");
        assert!(text.contains(r#""Timestamp":1700000000.5"#), "{text}");
    }

    #[test]
    fn hostile_bodies_are_errors() {
        let deep = "[".repeat(100_000);
        assert!(decode(Service::Kinesis, deep.as_bytes()).is_err());
        assert!(decode(Service::Kinesis, b"{\"a\":\"\xff\"}").is_err());
        assert!(decode(Service::Kinesis, b"{\"Data\":\"not base64!\"}").is_err());
        assert!(decode(Service::Kinesis, b"[1]").is_err());
        assert!(decode(Service::Kinesis, b"{} x").is_err());
        assert!(decode(Service::Kinesis, b"{\"Timestamp\":1e300}").is_err());
        assert_eq!(decode(Service::Kinesis, b"  ").unwrap(), Map::new());
    }

    #[test]
    fn member_names_are_kept_whether_common_escaped_or_unknown() {
        // "\u0044ata" is "Data" written with an escape: still the blob member.
        let body = br#"{"Records":[{"\u0044ata":"aGk=","PartitionKey":"k","Odd":"x"}]}"#;
        let m = decode(Service::Kinesis, body).unwrap();
        let Some(Value::List(records)) = m.get("Records") else {
            panic!("records")
        };
        let record = records[0].as_map().unwrap();
        assert_eq!(
            record.get("Data"),
            Some(&Value::Bytes(Bytes::from_static(b"hi")))
        );
        assert_eq!(record.get("PartitionKey"), Some(&Value::Str("k".into())));
        assert_eq!(record.get("Odd"), Some(&Value::Str("x".into())));
        // Padding is required and a blob of every length decodes to exactly its bytes.
        assert!(decode(Service::Kinesis, br#"{"Data":"aGk"}"#).is_err());
        let bad = decode(Service::Kinesis, br#"{"Data":"aG!="}"#).unwrap_err();
        assert!(
            bad.contains("not valid base64") && bad.contains("offset 2"),
            "{bad}"
        );
        for len in 0..8usize {
            let data: Vec<u8> = (0..len as u8).collect();
            let text = base64_simd::STANDARD.encode_to_string(&data);
            let m = decode(
                Service::Kinesis,
                format!(r#"{{"Data":"{text}"}}"#).as_bytes(),
            )
            .unwrap();
            assert_eq!(m.get("Data"), Some(&Value::Bytes(Bytes::from(data))));
        }
    }

    #[test]
    fn duplicate_keys_keep_the_last() {
        let m = decode(Service::Kinesis, br#"{"A":1,"A":2}"#).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m.get("A"), Some(&Value::Int(2)));
    }
}
