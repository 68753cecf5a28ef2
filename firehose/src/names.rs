//! Delivery stream names and ARNs.
//!
//! Invariant: a name is validated (1 to 64 of `[a-zA-Z0-9_.-]`) before it is used
//! anywhere; names never become paths (directories are named by numeric id).
#![forbid(unsafe_code)]

use crate::error::{Error, Result};

/// Longest delivery stream name.
pub const NAME_CHARS_MAX: usize = 64;

/// Checks a delivery stream name; `field` names the parameter in the error.
pub fn validate_name(name: &str, field: &str) -> Result<()> {
    if name.is_empty() || name.len() > NAME_CHARS_MAX {
        return Err(Error::invalid(
            field,
            format!(
                "{:?} must be 1 to {NAME_CHARS_MAX} characters",
                name.chars().take(80).collect::<String>()
            ),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(Error::invalid(
            field,
            format!("{name:?} contains {bad:?}; names use only a-z, A-Z, 0-9, _ . -"),
        ));
    }
    Ok(())
}

/// The ARN of a delivery stream.
pub fn delivery_stream_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:firehose:{region}:{account}:deliverystream/{name}")
}

/// The name of a delivery stream given by name or by ARN.
pub fn name_from_arn_or_name(value: &str) -> &str {
    match value.rsplit_once(":deliverystream/") {
        Some((_, name)) if value.starts_with("arn:") => name,
        _ => value,
    }
}

/// The stream name of `arn:<partition>:kinesis:<region>:<account>:stream/<name>`.
pub fn kinesis_stream_name(arn: &str, field: &str) -> Result<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = arn.len() <= 512
        && parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "kinesis"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit());
    let name = parts
        .get(5)
        .and_then(|p| p.strip_prefix("stream/"))
        .filter(|n| {
            ok && !n.is_empty()
                && n.len() <= 128
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        });
    name.map(str::to_string).ok_or_else(|| {
        Error::invalid(
            field,
            format!("{arn:?} is not a Kinesis stream ARN (arn:aws:kinesis:<region>:<12 digits>:stream/<name>)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "orders.v1-raw_2", &"x".repeat(64)] {
            validate_name(ok, "DeliveryStreamName").unwrap();
        }
        for bad in ["", "a/b", "a b", "é", &"x".repeat(65), "../x"] {
            assert!(validate_name(bad, "DeliveryStreamName").is_err(), "{bad}");
        }
    }

    #[test]
    fn arns() {
        assert_eq!(
            delivery_stream_arn("local", "000000000000", "ds"),
            "arn:aws:firehose:local:000000000000:deliverystream/ds"
        );
        assert_eq!(
            name_from_arn_or_name("arn:aws:firehose:local:000000000000:deliverystream/ds"),
            "ds"
        );
        assert_eq!(name_from_arn_or_name("ds"), "ds");
        assert_eq!(
            kinesis_stream_name("arn:aws:kinesis:us-east-1:123456789012:stream/orders", "f")
                .unwrap(),
            "orders"
        );
        for bad in [
            "orders",
            "arn:aws:kinesis:us-east-1:1234:stream/orders",
            "arn:aws:kinesis:us-east-1:123456789012:stream/",
            "arn:aws:s3:us-east-1:123456789012:stream/x",
            "arn:aws:kinesis:us-east-1:123456789012:stream/a/b",
        ] {
            assert!(kinesis_stream_name(bad, "f").is_err(), "{bad}");
        }
    }
}
