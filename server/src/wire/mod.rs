//! The wire formats: the protocol-neutral [`Value`], AWS JSON 1.1 and CBOR 1.1 codecs,
//! the member types that differ between them (`shapes`), and the event stream framing
//! of SubscribeToShard.
#![forbid(unsafe_code)]

pub mod cbor;
pub mod eventstream;
pub mod json;
pub mod shapes;
pub mod value;

pub use shapes::Service;
pub use value::{Map, Value};

/// The encoding of a request and so of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-amz-json-1.1` (also answered for `application/x-amz-json-1.0`).
    Json,
    /// `application/x-amz-cbor-1.1`.
    Cbor,
}

impl Encoding {
    /// The encoding a Content-Type names (parameters after `;` ignored), if any.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/x-amz-json-1.1")
            || essence.eq_ignore_ascii_case("application/x-amz-json-1.0")
        {
            Some(Encoding::Json)
        } else if essence.eq_ignore_ascii_case("application/x-amz-cbor-1.1") {
            Some(Encoding::Cbor)
        } else {
            None
        }
    }

    /// The Content-Type of answers in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => "application/x-amz-json-1.1",
            Encoding::Cbor => "application/x-amz-cbor-1.1",
        }
    }

    /// Decodes a request body.
    pub fn decode(self, service: Service, body: &[u8]) -> Result<Map, String> {
        match self {
            Encoding::Json if body.is_empty() => Err("empty request body".to_string()),
            Encoding::Json => json::decode(service, body),
            Encoding::Cbor => cbor::decode(service, body),
        }
    }

    /// Encodes an answer body.
    pub fn encode(self, value: &Value) -> Vec<u8> {
        match self {
            Encoding::Json => json::encode(value),
            Encoding::Cbor => cbor::encode(value),
        }
    }
}
