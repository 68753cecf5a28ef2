//! Which members are blobs and which are timestamps, by member name, for each service.
//!
//! In botocore's service models (`kinesis/2013-12-02` and `firehose/2015-08-04`
//! `service-2.json`) every member of these names has that type and no member of another
//! name has it, so the name alone decides: a blob is base64 in JSON and a byte string in
//! CBOR; a timestamp is epoch seconds in JSON and epoch milliseconds in CBOR. The Python
//! test `server/tests/python/test_shapes.py` checks these lists against the installed
//! botocore's models, so a new blob or timestamp member cannot slip by.
#![forbid(unsafe_code)]

/// The services this server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Kinesis Data Streams (`Kinesis_20131202`).
    Kinesis,
    /// Data Firehose (`Firehose_20150804`).
    Firehose,
}

impl Service {
    /// The `X-Amz-Target` prefix.
    pub fn target_prefix(self) -> &'static str {
        match self {
            Service::Kinesis => "Kinesis_20131202",
            Service::Firehose => "Firehose_20150804",
        }
    }

    /// The SigV4 signing name (the credential scope's service).
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Kinesis => "kinesis",
            Service::Firehose => "firehose",
        }
    }

    /// The service of an `X-Amz-Target` prefix.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        match prefix {
            "Kinesis_20131202" => Some(Service::Kinesis),
            "Firehose_20150804" => Some(Service::Firehose),
            _ => None,
        }
    }
}

// BEGIN MEMBER TABLES (read by server/tests/python/test_shapes.py)
/// Kinesis members of blob type.
pub const KINESIS_BLOBS: &[&str] = &["Data"];
/// Kinesis members of timestamp type.
pub const KINESIS_TIMESTAMPS: &[&str] = &[
    "ApproximateArrivalTimestamp",
    "ChannelCreationTimestamp",
    "ConsumerCreationTimestamp",
    "EarliestAllowedEndAt",
    "EndedAt",
    "FirstReceiveTimestamp",
    "QueueCreationTimestamp",
    "StartedAt",
    "StreamCreationTimestamp",
    "Timestamp",
];
/// Firehose members of blob type.
pub const FIREHOSE_BLOBS: &[&str] = &["Data"];
/// Firehose members of timestamp type.
pub const FIREHOSE_TIMESTAMPS: &[&str] = &[
    "CreateTimestamp",
    "DeliveryStartTimestamp",
    "LastUpdateTimestamp",
    "ReadFromTimestamp",
    "RequestTimestamp",
];
// END MEMBER TABLES

/// What a member holds, as far as encoding goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// Base64 in JSON, a byte string in CBOR.
    Blob,
    /// Epoch seconds in JSON, epoch milliseconds in CBOR.
    Timestamp,
    /// Anything else: the same in both.
    Plain,
}

/// The kind of member `name` in `service`.
pub fn member_kind(service: Service, name: &str) -> MemberKind {
    let (blobs, timestamps) = match service {
        Service::Kinesis => (KINESIS_BLOBS, KINESIS_TIMESTAMPS),
        Service::Firehose => (FIREHOSE_BLOBS, FIREHOSE_TIMESTAMPS),
    };
    if blobs.contains(&name) {
        MemberKind::Blob
    } else if timestamps.contains(&name) {
        MemberKind::Timestamp
    } else {
        MemberKind::Plain
    }
}
